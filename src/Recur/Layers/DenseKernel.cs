using System.Numerics;
using Recur.Tensors;

namespace Recur.Layers;

/// <summary>
/// Affine map y = x·Wᵀ + b, as PyTorch's <c>nn.Linear</c>. N rows, I input features, O outputs.
/// </summary>
public static class DenseKernel<T> where T : struct, IFloatingPointIeee754<T>
{
    /// <summary>x: [N, I], weight: [O, I], bias: [O] (empty for none) → y: [N, O].</summary>
    public static void Forward(int n, int inputs, int outputs, ReadOnlySpan<T> x, ReadOnlySpan<T> weight, ReadOnlySpan<T> bias, Span<T> y)
    {
        Gemm.Multiply<T>(false, true, n, outputs, inputs, x, weight, y, accumulate: false);
        if (!bias.IsEmpty) Rows.AddBias<T>(y[..(n * outputs)], bias);
    }

    /// <summary>
    /// dy: [N, O]. Adds dW += dyᵀ·x [O, I], db += Σ_rows dy [O] (when not empty) and dx += dy·W [N, I] (when not empty).
    /// </summary>
    public static void Backward(int n, int inputs, int outputs, ReadOnlySpan<T> x, ReadOnlySpan<T> weight, ReadOnlySpan<T> dy,
        Span<T> dx, Span<T> dWeight, Span<T> dBias)
    {
        Gemm.Multiply<T>(true, false, outputs, inputs, n, dy, x, dWeight, accumulate: true);
        if (!dBias.IsEmpty) Rows.AddColumnSums<T>(dy[..(n * outputs)], dBias);
        if (!dx.IsEmpty) Gemm.Multiply<T>(false, false, n, inputs, outputs, dy, weight, dx, accumulate: true);
    }
}
