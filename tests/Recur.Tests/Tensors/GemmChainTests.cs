using Recur.Randomness;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Tensors;

/// <summary>
/// The GEMM's arithmetic contract, bit for bit: every element of C is a chain of fused multiply-adds over k from
/// zero within each K block of <see cref="GemmSimd.KC"/>, each block's sum added to C in K order (stored over C for
/// the first block when not accumulating). Tiling, packing and the partial tiles of the last row panel must not
/// change a bit of it; the determinism and packed-equals-unpacked guarantees rest on it. The one documented
/// exception, a single row against a wide transposed B, is left out.
/// </summary>
public sealed class GemmChainTests
{
    public static TheoryData<string> VectorIsas()
    {
        var data = new TheoryData<string>();
        foreach (var isa in new[] { GemmIsa.Avx512, GemmIsa.Avx2 })
            if (GemmSimd.IsSupported(isa)) data.Add(isa.ToString());
        return data;
    }

    [Theory]
    [MemberData(nameof(VectorIsas))]
    public void EveryElementIsTheFusedChainOfEachKBlock(string isaName)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        var random = new RecurRandom(7);
        // Every height of the last row panel (MR is 6 or 8), full and partial column panels, one to three K blocks,
        // and C of at most eight columns (GemmNarrowColumns for transposed A; every row count past its blocks of 12 and 4).
        int[] rows = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 16, 20, 27, 32, 100, 111];
        foreach (int m in rows)
        foreach (var (n, k) in new[] { (16, 5), (40, 64), (259, GemmSimd.KC + 44), (1, GemmSimd.KC + 3), (3, 70), (8, 2 * GemmSimd.KC + 1) })
        foreach (bool transposeA in new[] { false, true })
        foreach (bool transposeB in new[] { false, true })
        foreach (bool accumulate in new[] { false, true })
        {
            // A single row against a wide transposed B (a streaming step's weights) takes an order of its own.
            if (m == 1 && transposeB && n > GemmDriver<Float256>.ExactRowColumns) continue;
            int lda = transposeA ? m : k, ldb = transposeB ? k : n;
            float[] a = GemmTests.RandomMatrix(random, m, k), b = GemmTests.RandomMatrix(random, k, n), c = GemmTests.RandomMatrix(random, m, n);
            float[] expected = (float[])c.Clone();
            Chain(transposeA, transposeB, m, n, k, a, lda, b, ldb, expected, accumulate);

            GemmSimd.Multiply(isa, transposeA, transposeB, m, n, k, a, lda, b, ldb, c, n, accumulate);

            for (int i = 0; i < m * n; i++)
                Assert.True(BitConverter.SingleToInt32Bits(c[i]) == BitConverter.SingleToInt32Bits(expected[i]),
                    $"{isa} m={m} n={n} k={k} tA={transposeA} tB={transposeB} acc={accumulate}: C[{i / n}, {i % n}] = {c[i]:R}, the chain gives {expected[i]:R}.");
        }
    }

    private static void Chain(bool transposeA, bool transposeB, int m, int n, int k, float[] a, int lda, float[] b, int ldb, float[] c, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                for (int pc = 0; pc < k; pc += GemmSimd.KC)
                {
                    float sum = 0f;
                    for (int p = pc; p < Math.Min(k, pc + GemmSimd.KC); p++)
                        sum = MathF.FusedMultiplyAdd(transposeA ? a[p * lda + i] : a[i * lda + p], transposeB ? b[j * ldb + p] : b[p * ldb + j], sum);
                    c[i * n + j] = pc == 0 && !accumulate ? sum : c[i * n + j] + sum;
                }
    }
}
