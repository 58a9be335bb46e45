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
