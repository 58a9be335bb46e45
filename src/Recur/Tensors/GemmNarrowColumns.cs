using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recur.Tensors;

/// <summary>
/// C [M, N] (+)= Aᵀ·B for at most <see cref="MaxColumns"/> columns, with A stored [K, M] and B [K, N], both row-major:
/// the weight gradient of a layer with few inputs (dW_ih = dGᵀ·x: an LSTM's [4H, T·B]·[T·B, I] for I ≤ 8, I = 1
/// for a univariate series). Neither operand is packed: at step p, row p of B is one 256-bit vector (its N values,
/// masked) and C's rows i … i+11 take A[p, i … i+11], contiguous in A, as broadcasts, so twelve rows of C stay in
/// registers over a K block. The blocked product packed all of A ([K, M], the large operand) into panels for each
/// call (through its transposed form, <c>ExecuteNarrow</c>) and filled at most half of a micro-tile. One thread,
/// before → after: config a's dW_ih, [256, 800]ᵀ·[800, 8], 0.11 → 0.07 ms; b-sized [1024, 6400]ᵀ·[6400, 8]
/// 10.1 → 5.1 ms and [1024, 6400]ᵀ·[6400, 1] 10.0 → 6.8 ms; config a's training step 5% faster at one and at two
/// threads (in one process, alternating).
/// </summary>
/// <remarks>
/// Every element is the blocked product's chain: fused multiply-adds over k from zero within each K block of
/// <see cref="GemmSimd.KC"/>, each block's sum added to C in K order (stored over C for the first block when not
/// accumulating), so the bits are the same (GemmChainTests).
/// </remarks>
internal static unsafe class GemmNarrowColumns
{
    public const int MaxColumns = 8;

    /// <summary>Rows of C per register block.</summary>
    internal const int BlockRows = 12;

    /// <summary>Whether this machine runs the kernel (AVX2 with fused multiply-add).</summary>
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Rows [i0, i1) of C; a: A[0, 0] (stride lda), b: B[0, 0] (stride ldb), c: C[0, 0] (stride ldc). K block by K
    /// block, all the rows' blocks of twelve within each, so each block of A's rows is read whole (contiguous, one
    /// page of 4 KB for b's [6400, 1024]) while its lines are in cache: a range of 96 rows at a time over all of K
    /// read a piece of every row of a large A each time, at 5 GFLOP/s. The blocks of twelve prefetch the line two
    /// ahead in each row of A: rows a page apart defeat the hardware's prefetcher (that shape: 14.5 → 5.1 ms).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows(int i0, int i1, int n, int k, float* a, nint lda, float* b, nint ldb, float* c, nint ldc, bool accumulate)
    {
        var mask = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(n)).AsSingle();
        for (int pc = 0; pc < k; pc += GemmSimd.KC)
        {
            int kc = Math.Min(GemmSimd.KC, k - pc);
            bool add = accumulate || pc > 0;
            float* ap = a + pc * lda, bp = b + pc * ldb;
            int i = i0;
            for (; i + BlockRows <= i1; i += BlockRows) Twelve(kc, ap + i, lda, bp, ldb, c + i * ldc, ldc, add, mask);
            for (; i + 4 <= i1; i += 4) Four(kc, ap + i, lda, bp, ldb, c + i * ldc, ldc, add, mask);
            for (; i < i1; i++) One(kc, ap + i, lda, bp, ldb, c + i * ldc, add, mask);
        }
    }

    /// <summary>
    /// One K block of <paramref name="kc"/> steps for twelve rows of C: twelve accumulators from zero, then stored over
    /// C's rows or, when <paramref name="add"/>, added to them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Twelve(int kc, float* ap, nint lda, float* bp, nint ldb, float* c, nint ldc, bool add, Vector256<float> mask)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector256<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        for (int p = 0; p < kc; p++, ap += lda, bp += ldb)
        {
            Sse.Prefetch0(ap + 32);
            var bv = Avx.MaskLoad(bp, mask);
            c0 = Fma.MultiplyAdd(Vector256.Create(ap[0]), bv, c0);
            c1 = Fma.MultiplyAdd(Vector256.Create(ap[1]), bv, c1);
            c2 = Fma.MultiplyAdd(Vector256.Create(ap[2]), bv, c2);
            c3 = Fma.MultiplyAdd(Vector256.Create(ap[3]), bv, c3);
            c4 = Fma.MultiplyAdd(Vector256.Create(ap[4]), bv, c4);
            c5 = Fma.MultiplyAdd(Vector256.Create(ap[5]), bv, c5);
            c6 = Fma.MultiplyAdd(Vector256.Create(ap[6]), bv, c6);
            c7 = Fma.MultiplyAdd(Vector256.Create(ap[7]), bv, c7);
            c8 = Fma.MultiplyAdd(Vector256.Create(ap[8]), bv, c8);
            c9 = Fma.MultiplyAdd(Vector256.Create(ap[9]), bv, c9);
            c10 = Fma.MultiplyAdd(Vector256.Create(ap[10]), bv, c10);
            c11 = Fma.MultiplyAdd(Vector256.Create(ap[11]), bv, c11);
        }
        AddRow(c, c0, add, mask);
        AddRow(c + ldc, c1, add, mask);
        AddRow(c + 2 * ldc, c2, add, mask);
        AddRow(c + 3 * ldc, c3, add, mask);
        AddRow(c + 4 * ldc, c4, add, mask);
        AddRow(c + 5 * ldc, c5, add, mask);
        AddRow(c + 6 * ldc, c6, add, mask);
        AddRow(c + 7 * ldc, c7, add, mask);
        AddRow(c + 8 * ldc, c8, add, mask);
        AddRow(c + 9 * ldc, c9, add, mask);
        AddRow(c + 10 * ldc, c10, add, mask);
        AddRow(c + 11 * ldc, c11, add, mask);
    }

    /// <summary>Four rows of C (past the last block of twelve), one K block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Four(int kc, float* ap, nint lda, float* bp, nint ldb, float* c, nint ldc, bool add, Vector256<float> mask)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int p = 0; p < kc; p++, ap += lda, bp += ldb)
        {
            var bv = Avx.MaskLoad(bp, mask);
            c0 = Fma.MultiplyAdd(Vector256.Create(ap[0]), bv, c0);
            c1 = Fma.MultiplyAdd(Vector256.Create(ap[1]), bv, c1);
            c2 = Fma.MultiplyAdd(Vector256.Create(ap[2]), bv, c2);
            c3 = Fma.MultiplyAdd(Vector256.Create(ap[3]), bv, c3);
        }
        AddRow(c, c0, add, mask);
        AddRow(c + ldc, c1, add, mask);
        AddRow(c + 2 * ldc, c2, add, mask);
        AddRow(c + 3 * ldc, c3, add, mask);
    }

    /// <summary>One row of C (past the last block of four), one K block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void One(int kc, float* ap, nint lda, float* bp, nint ldb, float* c, bool add, Vector256<float> mask)
    {
        Vector256<float> sum = default;
        for (int p = 0; p < kc; p++, ap += lda, bp += ldb) sum = Fma.MultiplyAdd(Vector256.Create(ap[0]), Avx.MaskLoad(bp, mask), sum);
        AddRow(c, sum, add, mask);
    }

    /// <summary>C's row (its first n values, the mask's lanes) = sum, or += sum when <paramref name="add"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRow(float* c, Vector256<float> sum, bool add, Vector256<float> mask) =>
        Avx.MaskStore(c, mask, add ? Avx.MaskLoad(c, mask) + sum : sum);
}
