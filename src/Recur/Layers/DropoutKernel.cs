using System.Numerics;
using System.Numerics.Tensors;
using Recur.Randomness;

namespace Recur.Layers;

/// <summary>Inverted dropout: y = x ⊙ m with m ∈ {0, 1/(1−p)}, so the expected value is unchanged.</summary>
public static class DropoutKernel<T> where T : struct, IFloatingPointIeee754<T>
{
    /// <summary>Draws a mask [N]: each element 0 with probability p, else 1/(1−p). One draw per element, in order.</summary>
    public static void Mask(double p, RecurRandom random, Span<T> mask)
    {
        T keep = T.CreateChecked(1.0 / (1.0 - p));
        for (int i = 0; i < mask.Length; i++) mask[i] = random.NextDouble() < p ? T.Zero : keep;
    }

    /// <summary>y = x ⊙ mask, all [N].</summary>
    public static void Forward(ReadOnlySpan<T> x, ReadOnlySpan<T> mask, Span<T> y) => TensorPrimitives.Multiply(x, mask, y);

    /// <summary>dx += dy ⊙ mask, all [N].</summary>
    public static void Backward(ReadOnlySpan<T> dy, ReadOnlySpan<T> mask, Span<T> dx) => TensorPrimitives.FusedMultiplyAdd(dy, mask, dx, dx);
}
