using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Recur.Tensors;

/// <summary>
/// The single-row product with B transposed on AVX2 with FMA (<see cref="Float256"/>'s instruction sets),
/// sums[j] = Σ_p a[p]·B[j, p] (streaming inference: x·W_ihᵀ and h·W_hhᵀ with the weights as stored): eight rows of B
/// at a time, each with its own vector of partial sums over p ≡ lane (mod 8), eight independent multiply-add chains
/// that cover the FMA latency, then one network of horizontal adds that reduces the eight vectors to the eight sums in
/// one vector, instead of eight separate horizontal sums (config stream's step: 6.5 → 4.9 µs on Zen 3). A K that is
/// not a multiple of 8 ends with a masked load, so no element past a row is read.
/// </summary>
/// <remarks>
/// Every sum goes through the same operations whatever its position in its group of eight (lanes paired, the pairs
/// paired, then the two halves added: ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))), and rows left over after
/// the last full group use the same network one at a time, so sums[j] depends only on a, row j of B and K: never on
/// the column range a thread computes.
/// </remarks>
internal static unsafe class RowDotProducts256
{
    /// <summary>
    /// sums[j] = Σ_p a[p]·b[j·ldb + p] for j in [0, width): a [K], b [width, K] with row stride ldb ≥ K,
    /// sums [width].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Compute(float* a, int k, float* b, nint ldb, float* sums, int width)
    {
        int full = k & ~7, tail = k - full;
        var tailMask = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(tail)).AsSingle();
        var aTail = Avx.MaskLoad(a + full, tailMask);
        int j = 0;
        for (; j + 8 <= width; j += 8, b += 8 * ldb)
            Eight(a, b, ldb, full, tail, tailMask, aTail).Store(sums + j);
        for (; j < width; j++, b += ldb)
        {
            var c = Vector256<float>.Zero;
            for (int p = 0; p < full; p += 8) c = Fma.MultiplyAdd(Vector256.Load(a + p), Vector256.Load(b + p), c);
            if (tail != 0) c = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + full, tailMask), c);
            var z = Vector256<float>.Zero;
            sums[j] = Reduce(c, z, z, z, z, z, z, z).ToScalar();
        }
    }

    /// <summary>The sums of rows 0…7 of b, in lane order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Eight(float* a, float* b, nint ldb, int full, int tail, Vector256<float> tailMask, Vector256<float> aTail)
    {
        Vector256<float> c0 = default;
        Vector256<float> c1 = default;
        Vector256<float> c2 = default;
        Vector256<float> c3 = default;
        Vector256<float> c4 = default;
        Vector256<float> c5 = default;
        Vector256<float> c6 = default;
        Vector256<float> c7 = default;
        for (int p = 0; p < full; p += 8)
        {
            var av = Vector256.Load(a + p);
            c0 = Fma.MultiplyAdd(av, Vector256.Load(b + 0 * ldb + p), c0);
            c1 = Fma.MultiplyAdd(av, Vector256.Load(b + 1 * ldb + p), c1);
            c2 = Fma.MultiplyAdd(av, Vector256.Load(b + 2 * ldb + p), c2);
            c3 = Fma.MultiplyAdd(av, Vector256.Load(b + 3 * ldb + p), c3);
            c4 = Fma.MultiplyAdd(av, Vector256.Load(b + 4 * ldb + p), c4);
            c5 = Fma.MultiplyAdd(av, Vector256.Load(b + 5 * ldb + p), c5);
            c6 = Fma.MultiplyAdd(av, Vector256.Load(b + 6 * ldb + p), c6);
            c7 = Fma.MultiplyAdd(av, Vector256.Load(b + 7 * ldb + p), c7);
        }
        if (tail != 0)
        {
            c0 = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + 0 * ldb + full, tailMask), c0);
            c1 = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + 1 * ldb + full, tailMask), c1);
            c2 = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + 2 * ldb + full, tailMask), c2);
            c3 = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + 3 * ldb + full, tailMask), c3);
            c4 = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + 4 * ldb + full, tailMask), c4);
            c5 = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + 5 * ldb + full, tailMask), c5);
            c6 = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + 6 * ldb + full, tailMask), c6);
            c7 = Fma.MultiplyAdd(aTail, Avx.MaskLoad(b + 7 * ldb + full, tailMask), c7);
        }
        return Reduce(c0, c1, c2, c3, c4, c5, c6, c7);
    }

    /// <summary>Eight vectors to the vector of their lane sums: lane i of the result is the sum of the lanes of ci.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reduce(Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3, Vector256<float> c4, Vector256<float> c5, Vector256<float> c6, Vector256<float> c7)
    {
        // Pairs: per 128-bit half, [ci l0+l1, ci l2+l3, ci+1 l0+l1, ci+1 l2+l3] (upper half: lanes 4–7).
        Vector256<float> p01 = Avx.HorizontalAdd(c0, c1), p23 = Avx.HorizontalAdd(c2, c3);
        Vector256<float> p45 = Avx.HorizontalAdd(c4, c5), p67 = Avx.HorizontalAdd(c6, c7);
        // Quads: lower half [r0, r1, r2, r3] of lanes 0–3, upper half the same rows' lanes 4–7.
        Vector256<float> q0123 = Avx.HorizontalAdd(p01, p23), q4567 = Avx.HorizontalAdd(p45, p67);
        // Row r's lanes 0–3 plus its lanes 4–7, row r in lane r.
        return Avx.Add(Avx.Permute2x128(q0123, q4567, 0x20), Avx.Permute2x128(q0123, q4567, 0x31));
    }
}
