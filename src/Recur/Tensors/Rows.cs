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

    /// <summary>sums[j] += Σ_r matrix[r, j] for a [R, sums.Length] matrix, rows added in order.</summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> matrix, Span<T> sums) where T : INumberBase<T>
    {
        int width = sums.Length;
        for (int start = 0; start < matrix.Length; start += width)
            TensorPrimitives.Add(sums, matrix.Slice(start, width), sums);
    }
}
