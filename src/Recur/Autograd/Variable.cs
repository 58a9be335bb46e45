using Recur.Tensors;

namespace Recur.Autograd;

/// <summary>
/// A value in a define-by-run computation. If <see cref="RequiresGrad"/> is set, <see cref="Grad"/> holds
/// dLoss/dValue after <see cref="Tape.Backward(Variable)"/>; it is allocated on first use and accumulated into.
/// </summary>
public class Variable
{
    private Tensor? _grad;

    public Tensor Value { get; }
    public bool RequiresGrad { get; }

    public Variable(Tensor value, bool requiresGrad = false)
    {
        Value = value;
        RequiresGrad = requiresGrad;
    }

    public int[] Shape => Value.Shape;

    /// <summary>The gradient buffer (same shape as <see cref="Value"/>), created zeroed on first access.</summary>
    public Tensor Grad => _grad ??= new Tensor(Value.Shape);

    public bool HasGrad => _grad is not null;

    public void ZeroGrad() => _grad?.Clear();

    /// <summary>
    /// Returns the gradient buffer to the <see cref="Workspace"/> pool; a later <see cref="Grad"/> starts a new zeroed
    /// one. For the result of an operation, once the backward pass has consumed its gradient
    /// (<see cref="Tape.AfterBackward"/>).
    /// </summary>
    internal void ReleaseGrad()
    {
        if (_grad is null) return;
        Workspace.Release(_grad.Data);
        _grad = null;
    }
}
