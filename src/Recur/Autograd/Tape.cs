namespace Recur.Autograd;

/// <summary>
/// A define-by-run tape of coarse operations. Each operation computes its forward result eagerly and records an
/// explicit backward step; <see cref="Backward"/> runs them newest first. Backward steps add into gradients and
/// never zero them: the caller zeroes parameter gradients once per training step.
/// </summary>
public sealed class Tape
{
    private readonly List<Action> _backwardSteps = [];

    /// <summary>Whether operations record backward steps. Inference sets this false to skip saving activations.</summary>
    public bool IsRecording { get; }

    public Tape(bool isRecording = true)
    {
        IsRecording = isRecording;
    }

    /// <summary>A tape that records nothing, for inference.</summary>
    public static Tape Inference => new(isRecording: false);

    public int Count => _backwardSteps.Count;

    /// <summary>Registers the backward step of an operation just run forward.</summary>
    public void Record(Action backward)
    {
        if (IsRecording) _backwardSteps.Add(backward);
    }

    /// <summary>Whether an operation with these inputs needs a backward step at all.</summary>
    public bool NeedsGrad(params ReadOnlySpan<Variable?> inputs)
    {
        if (!IsRecording) return false;
        foreach (var v in inputs)
            if (v is { RequiresGrad: true }) return true;
        return false;
    }

    /// <summary>
    /// Seeds dLoss/dLoss = 1 on a scalar <paramref name="loss"/> and runs every recorded backward step in reverse.
    /// The tape is cleared afterwards.
    /// </summary>
    public void Backward(Variable loss)
    {
        if (!IsRecording) throw new InvalidOperationException("Backward was called on an inference tape, which records nothing.");
        if (loss.Value.Length != 1)
            throw new ArgumentException($"Backward expects a scalar loss; found shape {loss.Value.ShapeText}.", nameof(loss));
        if (!loss.RequiresGrad)
            throw new ArgumentException("The loss does not depend on any parameter, so it has no gradient.", nameof(loss));
        loss.Grad.Data[0] += 1f;
        for (int i = _backwardSteps.Count - 1; i >= 0; i--) _backwardSteps[i]();
        _backwardSteps.Clear();
    }
}
