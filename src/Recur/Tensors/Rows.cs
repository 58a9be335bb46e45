using System.Numerics;
using System.Numerics.Tensors;

namespace Recur.Tensors;

/// <summary>Row-wise helpers on row-major [R, W] matrices, vectorised for every number type.</summary>
public static class Rows
{
    /// <summary>matrix[r, :] += bias for every row r of a [R, bias.Length] matrix.</summary>
    public static void AddBias<T>(Span<T> matrix, ReadOnlySpan<T> bias) where T : INumberBase<T>
    {
        int width = bias.Length;
        for (int start = 0; start < matrix.Length; start += width)
        {
            var row = matrix.Slice(start, width);
            TensorPrimitives.Add(row, bias, row);
        }
    }

    /// <summary>
    /// into = a + (b + bias) elementwise, (b + bias) rounded first; into = a + b when bias is empty. a, b, into: [n]
    /// (into may be a). The cells' pre-activation (x·W + b_ih) + (h·W + b_hh).
    /// </summary>
    public static void AddBiased<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> bias, Span<T> into) where T : INumberBase<T>
    {
        if (bias.IsEmpty)
        {
            TensorPrimitives.Add(a, b, into);
            return;
        }
        for (int k = 0; k < into.Length; k++) into[k] = a[k] + (b[k] + bias[k]);
    }

    /// <summary>sums[j] += Σ_r matrix[r, j] for a [R, sums.Length] matrix, rows added in order.</summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> matrix, Span<T> sums) where T : INumberBase<T>
    {
        int width = sums.Length;
        for (int start = 0; start < matrix.Length; start += width)
            TensorPrimitives.Add(sums, matrix.Slice(start, width), sums);
    }
}
