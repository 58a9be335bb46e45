using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recur.Tensors;

/// <summary>
/// The single-row product with B transposed on AVX-512, sums[j] = Σ_p a[p]·B[j, p] (streaming inference: x·W_ihᵀ
/// and h·W_hhᵀ with the weights as stored): sixteen rows of B at a time, each with its own vector of partial sums
/// over p ≡ lane (mod 16), then one shuffle network that reduces the sixteen vectors to the sixteen sums in one
/// vector, instead of sixteen separate horizontal sums. A K that is not a multiple of 16 (K = 8 for a small input)
/// ends with a masked load, so no element past a row is read.
/// </summary>
/// <remarks>
/// Every sum goes through the same operations whatever its position in its group of sixteen (lane l then
/// l + 8, l + 4, l + 2, l + 1 folded in turn), and rows left over after the last full group use the same network
/// one at a time, so sums[j] depends only on a, row j of B and K: never on the column range a thread computes.
/// </remarks>
internal static unsafe class RowDotProducts512
{
    /// <summary>
    /// sums[j] = Σ_p a[p]·b[j·ldb + p] for j in [0, width): a [K], b [width, K] with row stride ldb ≥ K,
    /// sums [width].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Compute(float* a, int k, float* b, nint ldb, float* sums, int width)
    {
        int full = k & ~15, tail = k - full;
        var tailMask = Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(tail)).AsSingle();
        var aTail = Avx512F.MaskLoad(a + full, tailMask, Vector512<float>.Zero);
        int j = 0;
        for (; j + 16 <= width; j += 16, b += 16 * ldb)
            Sixteen(a, b, ldb, full, tail, tailMask, aTail).Store(sums + j);
        for (; j < width; j++, b += ldb)
        {
            var c = Vector512<float>.Zero;
            for (int p = 0; p < full; p += 16) c = Vector512.FusedMultiplyAdd(Vector512.Load(a + p), Vector512.Load(b + p), c);
            if (tail != 0) c = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + full, tailMask, Vector512<float>.Zero), c);
            var z = Vector512<float>.Zero;
            sums[j] = Reduce(c, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z).ToScalar();
        }
    }

    /// <summary>The sums of rows 0…15 of b, in lane order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sixteen(float* a, float* b, nint ldb, int full, int tail, Vector512<float> tailMask, Vector512<float> aTail)
    {
        Vector512<float> c0 = default;
        Vector512<float> c1 = default;
        Vector512<float> c2 = default;
        Vector512<float> c3 = default;
        Vector512<float> c4 = default;
        Vector512<float> c5 = default;
        Vector512<float> c6 = default;
        Vector512<float> c7 = default;
        Vector512<float> c8 = default;
        Vector512<float> c9 = default;
        Vector512<float> c10 = default;
        Vector512<float> c11 = default;
        Vector512<float> c12 = default;
        Vector512<float> c13 = default;
        Vector512<float> c14 = default;
        Vector512<float> c15 = default;
        for (int p = 0; p < full; p += 16)
        {
            var av = Vector512.Load(a + p);
            c0 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 0 * ldb + p), c0);
            c1 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 1 * ldb + p), c1);
            c2 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 2 * ldb + p), c2);
            c3 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 3 * ldb + p), c3);
            c4 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 4 * ldb + p), c4);
            c5 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 5 * ldb + p), c5);
            c6 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 6 * ldb + p), c6);
            c7 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 7 * ldb + p), c7);
            c8 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 8 * ldb + p), c8);
            c9 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 9 * ldb + p), c9);
            c10 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 10 * ldb + p), c10);
            c11 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 11 * ldb + p), c11);
            c12 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 12 * ldb + p), c12);
            c13 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 13 * ldb + p), c13);
            c14 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 14 * ldb + p), c14);
            c15 = Vector512.FusedMultiplyAdd(av, Vector512.Load(b + 15 * ldb + p), c15);
        }
        if (tail != 0)
        {
            c0 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 0 * ldb + full, tailMask, Vector512<float>.Zero), c0);
            c1 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 1 * ldb + full, tailMask, Vector512<float>.Zero), c1);
            c2 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 2 * ldb + full, tailMask, Vector512<float>.Zero), c2);
            c3 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 3 * ldb + full, tailMask, Vector512<float>.Zero), c3);
            c4 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 4 * ldb + full, tailMask, Vector512<float>.Zero), c4);
            c5 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 5 * ldb + full, tailMask, Vector512<float>.Zero), c5);
            c6 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 6 * ldb + full, tailMask, Vector512<float>.Zero), c6);
            c7 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 7 * ldb + full, tailMask, Vector512<float>.Zero), c7);
            c8 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 8 * ldb + full, tailMask, Vector512<float>.Zero), c8);
            c9 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 9 * ldb + full, tailMask, Vector512<float>.Zero), c9);
            c10 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 10 * ldb + full, tailMask, Vector512<float>.Zero), c10);
            c11 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 11 * ldb + full, tailMask, Vector512<float>.Zero), c11);
            c12 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 12 * ldb + full, tailMask, Vector512<float>.Zero), c12);
            c13 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 13 * ldb + full, tailMask, Vector512<float>.Zero), c13);
            c14 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 14 * ldb + full, tailMask, Vector512<float>.Zero), c14);
            c15 = Vector512.FusedMultiplyAdd(aTail, Avx512F.MaskLoad(b + 15 * ldb + full, tailMask, Vector512<float>.Zero), c15);
        }
        return Reduce(c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15);
    }

    /// <summary>
    /// Sixteen vectors to the vector of their lane sums: lane i of the result is the sum of the lanes of ci.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Reduce(Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3, Vector512<float> c4, Vector512<float> c5, Vector512<float> c6, Vector512<float> c7, Vector512<float> c8, Vector512<float> c9, Vector512<float> c10, Vector512<float> c11, Vector512<float> c12, Vector512<float> c13, Vector512<float> c14, Vector512<float> c15)
    {
        // Fold the 256-bit halves: v holds row 2i's 8 partial sums in lanes 0–7 and row 2i+1's in lanes 8–15.
        Vector512<float> v0 = Halves(c0, c1), v1 = Halves(c2, c3), v2 = Halves(c4, c5), v3 = Halves(c6, c7);
        Vector512<float> v4 = Halves(c8, c9), v5 = Halves(c10, c11), v6 = Halves(c12, c13), v7 = Halves(c14, c15);
        // Fold the 128-bit quarters: w's quarter q holds row 4m+q's 4 partial sums.
        Vector512<float> w0 = Quarters(v0, v1), w1 = Quarters(v2, v3), w2 = Quarters(v4, v5), w3 = Quarters(v6, v7);
        // Within each quarter q: pairs, then singles: x quarter q = [r(q), r(4+q), r(8+q), r(12+q)].
        var x0 = Avx512F.Add(Avx512F.Shuffle(w0, w1, 0b01_00_01_00), Avx512F.Shuffle(w0, w1, 0b11_10_11_10));
        var x1 = Avx512F.Add(Avx512F.Shuffle(w2, w3, 0b01_00_01_00), Avx512F.Shuffle(w2, w3, 0b11_10_11_10));
        var y = Avx512F.Add(Avx512F.Shuffle(x0, x1, 0b10_00_10_00), Avx512F.Shuffle(x0, x1, 0b11_01_11_01));
        // Lane 4q + i holds row 4i + q; put row j in lane j.
        return Avx512F.PermuteVar16x32(y, Vector512.Create(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    }

    /// <summary>[lanes 0–7 of l + lanes 8–15 of l, lanes 0–7 of r + lanes 8–15 of r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Halves(Vector512<float> l, Vector512<float> r)
        => Avx512F.Add(Avx512F.Shuffle4x128(l, r, 0b01_00_01_00), Avx512F.Shuffle4x128(l, r, 0b11_10_11_10));

    /// <summary>
    /// From two <see cref="Halves"/> results (rows 0, 1 in l; rows 2, 3 in r): quarter q of the result is row q's
    /// two quarters added.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Quarters(Vector512<float> l, Vector512<float> r)
        => Avx512F.Add(Avx512F.Shuffle4x128(l, r, 0b10_00_10_00), Avx512F.Shuffle4x128(l, r, 0b11_01_11_01));
}
