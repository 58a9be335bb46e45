using Recur.Randomness;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Tensors;

/// <summary>
/// The product that also sums the rows of op(A) (a weight gradient with its bias gradient): the sums are the plain
/// sums in k order, bit for bit, on every partition, instruction set and thread count, and the product is the one
/// <see cref="GemmSimd.Multiply(bool, bool, int, int, int, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, bool)"/>
/// computes without them.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class GemmRowSumTests
{
    /// <summary>
    /// (M, N, K): a single row, few rows (M ≤ MC), narrow C (computed as Cᵀ), row blocks owned by threads and shared
    /// panels (config a's and b's weight gradients), tiles of a wide C (narrowed, and at three threads also shortened;
    /// op(B) packed in two passes of K blocks when K = 8200), N past one NC block, edge tiles, K = 0 and N = 0.
    /// </summary>
    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 37, 19), (40, 300, 70), (300, 8, 500), (256, 64, 1600), (1024, 48, 700), (400, 1100, 600), (200, 520, 64), (100, 520, 8200), (130, 4200, 300),
        (97, 70, 40), (5, 9, 0), (4, 0, 3),
    ];

    [Theory]
    [MemberData(nameof(GemmTests.SupportedIsas), MemberType = typeof(GemmTests))]
    public void RowSumsAreTheSumsInOrderAndTheProductIsUnchanged(string isaName)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        var random = new RecurRandom(77);
        int saved = Engine.Threads;
        try
        {
            foreach (var (m, n, k) in Shapes)
                foreach (var (transposeA, transposeB) in new[] { (false, false), (true, false), (true, true) })
                {
                    int lda = transposeA ? m : k, ldb = transposeB ? k : n;
                    float[] a = GemmTests.RandomMatrix(random, transposeA ? k : m, lda), b = GemmTests.RandomMatrix(random, transposeB ? n : k, ldb);
                    float[] c0 = GemmTests.RandomMatrix(random, m, n);
                    var expectedSums = new float[m];
                    for (int i = 0; i < m; i++)
                        for (int p = 0; p < k; p++) expectedSums[i] += transposeA ? a[p * lda + i] : a[i * lda + p];
                    foreach (int threads in new[] { 1, 2, 3 })
                    {
                        Engine.Threads = threads;
                        string label = $"{isa} m={m} n={n} k={k} tA={transposeA} tB={transposeB} threads={threads}";
                        float[] plain = (float[])c0.Clone(), summing = (float[])c0.Clone();
                        var sums = Enumerable.Repeat(float.NaN, m).ToArray(); // overwritten, not added to
                        GemmSimd.Multiply(isa, transposeA, transposeB, m, n, k, a, lda, b, ldb, plain, n, accumulate: true);
                        GemmSimd.Multiply(isa, transposeA, transposeB, m, n, k, a, lda, b, ldb, summing, n, accumulate: true, sums);
                        Assert.True(plain.AsSpan().SequenceEqual(summing), $"{label}: the product changed");
                        Assert.True(expectedSums.AsSpan().SequenceEqual(sums), $"{label}: row sums differ from the sums in k order");
                    }
                }
        }
        finally
        {
            Engine.Threads = saved;
        }
    }

    [Fact]
    public void ReferenceTypesSumRowsToo()
    {
        // op(A) = Aᵀ with A [K = 3, M = 2]: row sums of op(A) are A's column sums.
        double[] a = [1, 2, 3, 4, 5, 6], b = [1, 0, 0, 1, 1, 1], c = new double[4], sums = new double[2];
        Gemm.MultiplySummingRows<double>(true, false, 2, 2, 3, a, b, c, accumulate: false, sums);
        Assert.Equal([9.0, 12.0], sums);
        Assert.Equal([1 + 5.0, 3 + 5.0, 2 + 6.0, 4 + 6.0], c);
    }

    [Fact]
    public void RowSumsOfTheWrongLengthThrow()
    {
        float[] a = new float[6], b = new float[6], c = new float[4];
        var error = Assert.Throws<ArgumentException>(() => Gemm.MultiplySummingRows<float>(false, false, 2, 2, 3, a, b, c, accumulate: false, new float[3]));
        Assert.Contains("M = 2", error.Message);
        Assert.Throws<ArgumentException>(() => Gemm.MultiplySummingRows<float>(false, false, 2, 2, 3, a, b, c, accumulate: false, []));
        Assert.Throws<ArgumentException>(() => Gemm.MultiplySummingRows<double>(false, false, 2, 2, 3, new double[6], new double[6], new double[4], accumulate: false, new double[1]));
    }
}
