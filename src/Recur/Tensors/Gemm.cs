using System.Numerics;
using System.Runtime.InteropServices;

namespace Recur.Tensors;

/// <summary>
/// General matrix product entry point used by every layer: float32 runs the SIMD kernel (<see cref="GemmSimd"/>),
/// any other number type (double in the reference checks) runs <see cref="GemmReference"/>.
/// </summary>
public static class Gemm
{
    /// <summary>
    /// C = op(A)·op(B) (+ C when <paramref name="accumulate"/>); layouts as <see cref="GemmReference.Multiply{T}"/>.
    /// </summary>
    public static void Multiply<T>(
        bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        Span<T> c, int ldc, bool accumulate)
        where T : struct, INumberBase<T>
    {
        if (typeof(T) == typeof(float))
        {
            GemmSimd.Multiply(transposeA, transposeB, m, n, k,
                MemoryMarshal.Cast<T, float>(a), lda, MemoryMarshal.Cast<T, float>(b), ldb,
                MemoryMarshal.Cast<T, float>(c), ldc, accumulate);
        }
        else
        {
            GemmReference.Multiply(transposeA, transposeB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        }
    }

    /// <summary>Contiguous operands: lda, ldb and ldc are the stored row lengths.</summary>
    public static void Multiply<T>(
        bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> c, bool accumulate)
        where T : struct, INumberBase<T>
        => Multiply(transposeA, transposeB, m, n, k, a, transposeA ? m : k, b, transposeB ? k : n, c, n, accumulate);

    /// <summary>
    /// As <see cref="Multiply{T}(bool, bool, int, int, int, ReadOnlySpan{T}, ReadOnlySpan{T}, Span{T}, bool)"/>, and
    /// rowSums[i] = Σ_k op(A)[i, k] (M values, overwritten), summed from zero in k order: the bias gradient that goes
    /// with a weight gradient dW = dGatesᵀ·X, computed by the float32 product as it packs op(A), so the gate
    /// gradients (26 MB per layer of config b) are read once for both instead of once more by a separate pass.
    /// Every sum is the same chain of additions whatever the partition or thread count.
    /// </summary>
    public static void MultiplySummingRows<T>(
        bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> c, bool accumulate, Span<T> rowSums)
        where T : struct, INumberBase<T>
    {
        int lda = transposeA ? m : k, ldb = transposeB ? k : n;
        if (rowSums.Length != m) throw new ArgumentException($"GEMM row sums must hold M = {m} values; found {rowSums.Length}.", nameof(rowSums));
        if (typeof(T) == typeof(float))
        {
            GemmSimd.Multiply(GemmIsa.Auto, transposeA, transposeB, m, n, k,
                MemoryMarshal.Cast<T, float>(a), lda, MemoryMarshal.Cast<T, float>(b), ldb,
                MemoryMarshal.Cast<T, float>(c), n, accumulate, MemoryMarshal.Cast<T, float>(rowSums));
            return;
        }
        CheckArguments(transposeA, transposeB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, n);
        GemmReference.Multiply(transposeA, transposeB, m, n, k, a, lda, b, ldb, c, n, accumulate);
        for (int i = 0; i < m; i++)
        {
            T sum = T.Zero;
            for (int p = 0; p < k; p++) sum += transposeA ? a[p * lda + i] : a[i * lda + p];
            rowSums[i] = sum;
        }
    }

    internal static void CheckArguments(
        bool transposeA, bool transposeB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"GEMM sizes must be non-negative; found m={m}, n={n}, k={k}.");
        int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
        int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
        CheckOperand("A", aRows, aCols, aLength, lda);
        CheckOperand("B", bRows, bCols, bLength, ldb);
        CheckOperand("C", m, n, cLength, ldc);
    }

    private static void CheckOperand(string name, int rows, int cols, int length, int ld)
    {
        if (ld < cols) throw new ArgumentException($"GEMM operand {name}: leading dimension {ld} is smaller than its {cols} columns.");
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException($"GEMM operand {name} [{rows}, {cols}] with leading dimension {ld} needs {needed} values; found {length}.");
    }
}
