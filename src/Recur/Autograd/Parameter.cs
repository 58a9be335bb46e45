using Recur.Tensors;

namespace Recur.Autograd;

/// <summary>
/// A trainable tensor with its gradient. Backward passes add into <see cref="Variable.Grad"/>; the training loop
/// zeroes it once per step (<see cref="Variable.ZeroGrad"/>).
/// </summary>
public sealed class Parameter : Variable
{
    /// <summary>Qualified name as stored in a model file, e.g. <c>encoder.weight_ih_l0</c>.</summary>
    public string Name { get; }

    public Parameter(string name, Tensor value) : base(value, requiresGrad: true)
    {
        Name = name;
    }

    public override string ToString() => $"{Name} {Value.ShapeText}";
}
