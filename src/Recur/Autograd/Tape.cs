using Recur.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Recur.Autograd;

/// <summary>
/// A define-by-run tape of coarse operations. Each operation computes its forward result eagerly and records an
/// explicit backward step; <see cref="Backward(Variable)"/> runs them newest first. Backward steps add into gradients and
/// never zero them: the caller zeroes parameter gradients once per training step. What only the backward pass reads
/// (a recurrent layer's caches, the gradients of intermediate values) goes back to the <see cref="Workspace"/> pool
/// once every step has run (<see cref="AfterBackward"/>). A caller done with every value the operations returned
/// (e.g. at the end of a training step) disposes the tape, which returns those values to the pool too
/// (<see cref="ReleaseOnDispose"/>); without that they are left to the garbage collector.
/// </summary>
public sealed class Tape : IDisposable
{
    private readonly List<Action> _backwardSteps = [];
    private readonly List<Action> _afterBackward = [];
    private readonly List<Tensor> _results = [];
    private readonly List<Variable> _gradResults = [];
    private bool _disposed;

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

    /// <summary>
    /// Registers <paramref name="release"/> (typically returning buffers to the <see cref="Workspace"/>) to run once
    /// <see cref="Backward(Variable)"/> has run every recorded step, in registration order. On a tape that records
    /// nothing there will be no backward pass, so it runs at once.
    /// </summary>
    public void AfterBackward(Action release)
    {
        if (IsRecording) _afterBackward.Add(release);
        else release();
    }

    /// <summary>
    /// Registers the value of an operation's result, allocated from the <see cref="Workspace"/>, to be released when
    /// the tape is disposed (never before: the caller reads results after the backward pass).
    /// </summary>
    public void ReleaseOnDispose(Tensor value)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _results.Add(value);
    }

    /// <summary>
    /// Registers a result whose gradient its caller may read after the backward pass (a recurrent stack's final
    /// states) to have that gradient given back to the <see cref="Workspace"/> when the tape is disposed, with the
    /// result itself: a head reading the final state gives it a gradient at every training step.
    /// </summary>
    public void ReleaseGradOnDispose(Variable result)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _gradResults.Add(result);
    }

    /// <summary>
    /// Ends the tape: what only a backward pass would have read is released (if <see cref="Backward(Variable)"/> did
    /// not run) and so are the values of the operations' results (<see cref="ReleaseOnDispose"/>). Nothing those
    /// operations returned may be read afterwards; copy what must outlive the tape (as a detached state does).
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _backwardSteps.Clear();
        RunAfterBackward();
        foreach (var value in _results) Workspace.Release(value.Data);
        _results.Clear();
        foreach (var result in _gradResults) result.ReleaseGrad();
        _gradResults.Clear();
    }

    private void RunAfterBackward()
    {
        foreach (var release in _afterBackward) release();
        _afterBackward.Clear();
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
    /// The tape is cleared afterwards, and what only the backward pass read is released (<see cref="AfterBackward"/>).
    /// </summary>
    public void Backward(Variable loss)
    {
        if (loss.Value.Length != 1)
            throw new ArgumentException($"Backward expects a scalar loss; found shape {loss.Value.ShapeText}.", nameof(loss));
        Backward([(loss, new Tensor([1f], 1))]);
    }

    /// <summary>
    /// Vector–Jacobian product, as <c>torch.autograd.backward(outputs, grad_outputs)</c>: adds each given
    /// gradient to its output's gradient, then runs every recorded backward step in reverse and clears the tape.
    /// </summary>
    public void Backward(IReadOnlyList<(Variable Output, Tensor Gradient)> seeds)
    {
        if (!IsRecording) throw new InvalidOperationException("Backward was called on an inference tape, which records nothing.");
        ObjectDisposedException.ThrowIf(_disposed, this);
        foreach (var (output, gradient) in seeds)
        {
            if (!output.RequiresGrad)
                throw new ArgumentException("An output given to Backward does not depend on any parameter, so it has no gradient.", nameof(seeds));
            if (!gradient.SameShape(output.Value))
                throw new ArgumentException($"Gradient shape {gradient.ShapeText} does not match its output's shape {output.Value.ShapeText}.", nameof(seeds));
            TensorPrimitives.Add(output.Grad.Data, gradient.Data, output.Grad.Data);
        }
        for (int i = _backwardSteps.Count - 1; i >= 0; i--) _backwardSteps[i]();
        _backwardSteps.Clear();
        RunAfterBackward();
    }
}
