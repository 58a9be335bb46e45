namespace Recur.Tensors;

/// <summary>
/// A dense, contiguous, row-major float32 tensor. The storage array is exposed so kernels can work on spans
/// without copies; its length always equals the product of <see cref="Shape"/>.
/// </summary>
public sealed class Tensor
{
    /// <summary>Row-major values; length = product of <see cref="Shape"/>.</summary>
    public float[] Data { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public int[] Shape { get; }

    public int Length => Data.Length;
    public int Rank => Shape.Length;
    public Span<float> Span => Data;

    /// <summary>
    /// A zeroed tensor whose storage comes from the engine workspace (<see cref="Workspace.Allocate{T}"/>: pooled,
    /// and counted while a meter is active).
    /// </summary>
    public Tensor(params int[] shape) : this(Workspace.Allocate<float>(Product(shape)), shape) { }

    public Tensor(float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        long count = Product(shape);
        if (count != data.Length)
            throw new ArgumentException(
                $"Tensor data has {data.Length} values but shape [{string.Join(", ", shape)}] needs {count}.", nameof(data));
        Data = data;
        Shape = (int[])shape.Clone();
    }

    /// <summary>Size of dimension <paramref name="axis"/>; negative axes count from the end.</summary>
    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];

    public Tensor Clone() => new((float[])Data.Clone(), Shape);

    public void Clear() => Array.Clear(Data);

    /// <summary>Same storage viewed with another shape of equal element count.</summary>
    public Tensor Reshape(params int[] shape) => new(Data, shape);

    public bool SameShape(Tensor other) => Shape.AsSpan().SequenceEqual(other.Shape);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public override string ToString() => $"Tensor{ShapeText}";

    internal static int Product(ReadOnlySpan<int> shape)
    {
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Tensor dimensions must be non-negative; found {d}.", nameof(shape));
            count *= d;
        }
        if (count > Array.MaxLength) throw new ArgumentException($"Tensor of {count} elements is too large.", nameof(shape));
        return (int)count;
    }
}
