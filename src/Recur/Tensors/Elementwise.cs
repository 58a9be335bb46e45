using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Recur.Tensors;

/// <summary>
/// Element-wise activation kernels. float32 runs the vectorised TensorPrimitives kernels; any other number type
/// runs the scalar <see cref="ElementwiseReference"/>, which tests hold the float path to.
/// </summary>
public static class Elementwise
{
    /// <summary>y = 1 / (1 + e^−x); x and y may be the same span.</summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            TensorPrimitives.Sigmoid(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else
            ElementwiseReference.Sigmoid(x, y);
    }

    /// <summary>y = tanh(x); x and y may be the same span.</summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : struct, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            TensorPrimitives.Tanh(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else
            ElementwiseReference.Tanh(x, y);
    }
}

/// <summary>Plain scalar twins of <see cref="Elementwise"/>, generic so they run in double.</summary>
public static class ElementwiseReference
{
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : IFloatingPointIeee754<T>
    {
        CheckLengths(x.Length, y.Length);
        for (int i = 0; i < x.Length; i++) y[i] = T.One / (T.One + T.Exp(-x[i]));
    }

    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : IFloatingPointIeee754<T>
    {
        CheckLengths(x.Length, y.Length);
        for (int i = 0; i < x.Length; i++) y[i] = T.Tanh(x[i]);
    }

    private static void CheckLengths(int x, int y)
    {
        if (x != y) throw new ArgumentException($"Element-wise kernel: input has {x} values but output has {y}.");
    }
}
