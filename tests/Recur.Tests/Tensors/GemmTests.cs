using Recur.Randomness;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Tensors;

/// <summary>The SIMD float32 GEMM held to the double reference, on every instruction set this CPU runs.</summary>
public sealed class GemmTests
{
    /// <summary>(M, N, K): unit, single rows (one and several column chunks, K off the vector width), sizes off every vector and block multiple, K = 0, N past one NC block, narrow C (N ≤ NR/2, computed as Cᵀ).</summary>
    private static readonly (int M, int N, int K)[] Shapes =
    [
        (1, 1, 1), (1, 37, 19), (1, 300, 64), (1, 130, 29), (1, 2100, 1000), (1, 33, 8), (1, 17, 15), (1, 16, 16), (1, 40, 17), (2, 3, 1), (7, 13, 5), (17, 33, 19), (31, 1, 65), (6, 32, 256),
        (12, 64, 257), (65, 47, 300), (96, 600, 300), (97, 70, 40), (129, 257, 513), (40, 4100, 9), (5, 9, 0), (0, 4, 3), (4, 0, 3),
        (200, 8, 300), (70, 2, 7), (100, 16, 33), (65, 5, 600),
    ];

    /// <summary>Names of the instruction sets this CPU supports (internal enum values as strings for xunit).</summary>
    public static TheoryData<string> SupportedIsas()
    {
        var data = new TheoryData<string>();
        foreach (GemmIsa isa in Enum.GetValues<GemmIsa>())
            if (GemmSimd.IsSupported(isa)) data.Add(isa.ToString());
        return data;
    }

    public static TheoryData<string, bool, bool, bool> IsaTransposeAccumulate()
    {
        var data = new TheoryData<string, bool, bool, bool>();
        foreach (GemmIsa isa in Enum.GetValues<GemmIsa>())
        {
            if (!GemmSimd.IsSupported(isa)) continue;
            foreach (bool transposeA in new[] { false, true })
                foreach (bool transposeB in new[] { false, true })
                    foreach (bool accumulate in new[] { false, true })
                        data.Add(isa.ToString(), transposeA, transposeB, accumulate);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(IsaTransposeAccumulate))]
    public void MatchesDoubleReference(string isaName, bool transposeA, bool transposeB, bool accumulate)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        var random = new RecurRandom(20240611);
        foreach (var (m, n, k) in Shapes)
        {
            foreach (int pad in new[] { 0, 5 })
            {
                var label = $"{isa} tA={transposeA} tB={transposeB} acc={accumulate} m={m} n={n} k={k} pad={pad}";
                int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
                int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
                int lda = aCols + pad, ldb = bCols + pad, ldc = n + pad;
                float[] a = RandomMatrix(random, aRows, lda);
                float[] b = RandomMatrix(random, bRows, ldb);
                float[] c = RandomMatrix(random, m, ldc);
                float[] cBefore = (float[])c.Clone();

                GemmSimd.Multiply(isa, transposeA, transposeB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);

                double[] expected = Array.ConvertAll(cBefore, v => (double)v);
                GemmReference.Multiply(transposeA, transposeB, m, n, k,
                    Array.ConvertAll(a, v => (double)v), lda, Array.ConvertAll(b, v => (double)v), ldb,
                    expected, ldc, accumulate);

                double diff = 0, norm = 0;
                for (int i = 0; i < m; i++)
                {
                    for (int j = 0; j < ldc; j++)
                    {
                        int at = i * ldc + j;
                        if (j >= n)
                        {
                            // Padding past column N is never written.
                            Assert.True(BitConverter.SingleToInt32Bits(c[at]) == BitConverter.SingleToInt32Bits(cBefore[at]),
                                $"{label}: padding C[{i}, {j}] changed from {cBefore[at]} to {c[at]}.");
                            continue;
                        }
                        double d = c[at] - expected[at];
                        diff += d * d;
                        norm += expected[at] * expected[at];
                    }
                }
                double relative = norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
                Assert.True(relative <= 1e-6, $"{label}: relative error {relative:E3} exceeds 1e-6.");
            }
        }
    }

    [Theory]
    [InlineData("Avx512")]
    [InlineData("Avx2")]
    public void OneRowGivesTheBitsOfItsRowInALargerProduct(string isaName)
    {
        // A sequence predicted alone must give the bits it gets in a batch: the single-row product (B as stored,
        // or transposed with N ≤ ExactRowColumns, a model's head) takes the micro-kernel's operations, K blocks
        // included (K = 600 spans three). The portable vector's multiply-add need not fuse, so only FMA ISAs.
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!GemmSimd.IsSupported(isa)) return;
        var random = new RecurRandom(8);
        foreach (var (n, k, transposeB) in new[] { (1, 8, true), (3, 64, true), (64, 600, true), (1, 8, false), (37, 19, false), (300, 600, false) })
        {
            foreach (bool accumulate in new[] { false, true })
            {
                const int m = 13;
                float[] a = RandomMatrix(random, m, k), b = RandomMatrix(random, transposeB ? n : k, transposeB ? k : n);
                float[] c = RandomMatrix(random, m, n), batched = (float[])c.Clone();
                GemmSimd.Multiply(isa, false, transposeB, m, n, k, a, k, b, transposeB ? k : n, batched, n, accumulate);
                for (int i = 0; i < m; i++)
                {
                    float[] alone = c.AsSpan(i * n, n).ToArray();
                    GemmSimd.Multiply(isa, false, transposeB, 1, n, k, a.AsSpan(i * k, k), k, b, transposeB ? k : n, alone, n, accumulate);
                    Assert.True(batched.AsSpan(i * n, n).SequenceEqual(alone), $"{isa} n={n} k={k} tB={transposeB} acc={accumulate}: row {i} alone differs from the batch");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(SupportedIsas))]
    public void NarrowProductsGiveTheBitsOfEachRowAlone(string isaName)
    {
        // A narrow C (N ≤ NR/2 with many rows) is computed as its transpose; each row must still get the bits the
        // micro-kernel's own order gives it, which the single-row product reproduces (see the test above), for
        // every layout of A and B, accumulating or not, K over several blocks, and C with a leading dimension past N.
        var isa = Enum.Parse<GemmIsa>(isaName);
        if (!GemmSimd.IsSupported(isa) || isa == GemmIsa.Portable) return;
        var random = new RecurRandom(9);
        foreach (var (m, n, k) in new[] { (100, 8, 600), (64, 2, 7), (130, 16, 300), (70, 5, 19) })
            foreach (bool transposeA in new[] { false, true })
                foreach (bool transposeB in new[] { false, true })
                    foreach (bool accumulate in new[] { false, true })
                    {
                        int ldc = n + 3;
                        float[] a = RandomMatrix(random, transposeA ? k : m, transposeA ? m : k);
                        float[] b = RandomMatrix(random, transposeB ? n : k, transposeB ? k : n);
                        float[] c = RandomMatrix(random, m, ldc), batched = (float[])c.Clone();
                        GemmSimd.Multiply(isa, transposeA, transposeB, m, n, k, a, transposeA ? m : k, b, transposeB ? k : n, batched, ldc, accumulate);
                        for (int i = 0; i < m; i++)
                        {
                            float[] row = Enumerable.Range(0, k).Select(p => transposeA ? a[p * m + i] : a[i * k + p]).ToArray();
                            float[] alone = c.AsSpan(i * ldc, n).ToArray();
                            GemmSimd.Multiply(isa, false, transposeB, 1, n, k, row, k, b, transposeB ? k : n, alone, n, accumulate);
                            Assert.True(batched.AsSpan(i * ldc, n).SequenceEqual(alone),
                                $"{isa} m={m} n={n} k={k} tA={transposeA} tB={transposeB} acc={accumulate}: row {i} differs from the row alone");
                            Assert.True(batched.AsSpan(i * ldc + n, ldc - n).SequenceEqual(c.AsSpan(i * ldc + n, ldc - n)), "C past column N changed");
                        }
                    }
    }

    [Theory]
    [MemberData(nameof(SupportedIsas))]
    public void SingleRowSumsDependOnlyOnTheirOwnColumn(string isaName)
    {
        // c[j] = a·B[j, :] must not depend on where column j falls in the kernel's groups of rows (the AVX-512 path
        // reduces sixteen at a time, the AVX2 path eight, leftovers one by one): the product over columns [s, N) must
        // give the same bits as columns [s, N) of the product over [0, N). N stays above ExactRowColumns, where the
        // weights of a streaming step take these kernels.
        var isa = Enum.Parse<GemmIsa>(isaName);
        var random = new RecurRandom(5);
        foreach (int k in new[] { 3, 8, 16, 29, 128 })
        {
            const int n = GemmDriver<Float256>.ExactRowColumns + 53;
            float[] a = RandomMatrix(random, 1, k), b = RandomMatrix(random, n, k), whole = new float[n];
            GemmSimd.Multiply(isa, false, true, 1, n, k, a, k, b, k, whole, n, accumulate: false);
            for (int start = 1; start <= 17; start++)
            {
                var part = new float[n - start];
                GemmSimd.Multiply(isa, false, true, 1, n - start, k, a, k, b.AsSpan(start * k), k, part, n - start, accumulate: false);
                Assert.True(whole.AsSpan(start).SequenceEqual(part), $"{isa} k={k}: columns from {start} differ from the whole product's");
            }
        }
    }

    [Theory]
    [MemberData(nameof(SupportedIsas))]
    public void ZeroDepthWritesZerosOrKeepsC(string isaName)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        float[] c = [1f, 2f, 3f, 4f, 5f, 6f];
        GemmSimd.Multiply(isa, false, false, 2, 2, 0, [], 0, [], 2, c, 3, accumulate: true);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], c);
        GemmSimd.Multiply(isa, false, false, 2, 2, 0, [], 0, [], 2, c, 3, accumulate: false);
        Assert.Equal([0f, 0f, 3f, 0f, 0f, 6f], c);
    }

    [Fact]
    public void PublicEntryPointsAgree()
    {
        var random = new RecurRandom(7);
        const int m = 33, n = 70, k = 41;
        float[] a = RandomMatrix(random, m, k), b = RandomMatrix(random, k, n);
        float[] viaGemm = new float[m * n], viaSimd = new float[m * n];
        Gemm.Multiply<float>(false, false, m, n, k, a, b, viaGemm, accumulate: false);
        GemmSimd.Multiply(false, false, m, n, k, a, k, b, n, viaSimd, n, accumulate: false);
        Assert.Equal(viaSimd, viaGemm);
    }

    [Theory]
    [InlineData(2 * 3 - 1, 3 * 4, 2 * 4)] // A too short
    [InlineData(2 * 3, 3 * 4 - 1, 2 * 4)] // B too short
    [InlineData(2 * 3, 3 * 4, 2 * 4 - 1)] // C too short
    public void ShortBuffersThrow(int aLength, int bLength, int cLength)
    {
        Assert.Throws<ArgumentException>(() => GemmSimd.Multiply(false, false, 2, 4, 3,
            new float[aLength], 3, new float[bLength], 4, new float[cLength], 4, accumulate: false));
    }

    [Fact]
    public void BadSizesAndLeadingDimensionsThrow()
    {
        Assert.Throws<ArgumentException>(() => GemmSimd.Multiply(false, false, -1, 4, 3,
            new float[12], 3, new float[12], 4, new float[16], 4, accumulate: false));
        Assert.Throws<ArgumentException>(() => GemmSimd.Multiply(false, false, 2, 4, 3,
            new float[12], 2, new float[12], 4, new float[16], 4, accumulate: false));
        Assert.Throws<ArgumentException>(() => GemmSimd.Multiply(true, true, 2, 4, 3,
            new float[12], 2, new float[12], 3, new float[16], 3, accumulate: false));
    }

    internal static float[] RandomMatrix(RecurRandom random, int rows, int ld)
    {
        var values = new float[rows * ld];
        for (int i = 0; i < values.Length; i++) values[i] = (float)random.Uniform(-1, 1);
        return values;
    }
}

/// <summary>Thread count must not change a single bit of the product.</summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class GemmDeterminismTests
{
    /// <summary>
    /// Many rows (an equal share of row panels owned by each thread, 203 rows not a multiple of any panel; tiles claimed by threads when C is wider than 512 columns, narrowed
    /// and at three threads shortened, op(B) packed in two passes of K blocks when K = 8200), few rows (column chunks), one row (no packing), and a small model's weight
    /// gradients: dW_hh (rows owned by threads: one phase, under the shared partition's per-K-block threshold) and
    /// dW_ih (narrow: its transpose has few rows and one chunk's worth of columns, cut per thread).
    /// </summary>
    private static readonly (int M, int N, int K)[] Shapes =
        [(256, 512, 384), (203, 300, 500), (400, 1100, 600), (200, 520, 64), (100, 520, 8200), (64, 1000, 300), (1, 3000, 700), (256, 64, 1600), (256, 8, 1600)];

    [Theory]
    [MemberData(nameof(GemmTests.SupportedIsas), MemberType = typeof(GemmTests))]
    public void ResultsAreBitIdenticalForAnyThreadCount(string isaName)
    {
        var isa = Enum.Parse<GemmIsa>(isaName);
        var random = new RecurRandom(99);
        int saved = Engine.Threads;
        try
        {
            foreach (var (m, n, k) in Shapes)
            {
                foreach (var (transposeA, transposeB, accumulate) in new[] { (false, false, true), (false, true, false), (true, false, true), (true, true, false) })
                {
                    float[] a = GemmTests.RandomMatrix(random, m, k), b = GemmTests.RandomMatrix(random, k, n);
                    float[] c0 = GemmTests.RandomMatrix(random, m, n);
                    float[]? first = null;
                    foreach (int threads in new[] { 1, 2, 3 })
                    {
                        Engine.Threads = threads;
                        float[] c = (float[])c0.Clone();
                        GemmSimd.Multiply(isa, transposeA, transposeB, m, n, k,
                            a, transposeA ? m : k, b, transposeB ? k : n, c, n, accumulate);
                        if (first is null) first = c;
                        else Assert.True(first.AsSpan().SequenceEqual(c),
                            $"{isa} m={m} n={n} k={k} tA={transposeA} tB={transposeB} accumulate={accumulate}: {threads} threads differ from 1.");
                    }
                }
            }
        }
        finally
        {
            Engine.Threads = saved;
        }
    }
}

/// <summary>
/// Weights packed once (<see cref="GemmSimd.PackB(bool, int, int, ReadOnlySpan{float}, int)"/>) and multiplied at
/// every step: the same bits as the unpacked product, at every thread count, with no allocation per call.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class PackedGemmTests
{
    public static TheoryData<int, int, int, bool> Shapes => new()
    {
        { 2, 1, 1, false }, { 32, 256, 64, true }, { 7, 33, 17, false }, { 64, 1024, 256, true }, { 64, 256, 1024, false },
        { 97, 70, 300, true }, { 130, 515, 513, false }, { 6, 32, 256, true },
        // A read in place (AVX2, at most 16 panels an item): last panels of 4 rows (config a's batch part), 5 rows and
        // 3 rows with a column tail.
        { 16, 64, 256, false }, { 11, 48, 40, true }, { 9, 20, 33, false },
    };

    [Theory, MemberData(nameof(Shapes))]
    public void PackedMatchesUnpackedBitForBit(int m, int n, int k, bool transposeB)
    {
        var rng = new Random(m * 31 + n * 7 + k);
        int lda = k + 3; // rows of A apart by more than K, as a part's rows of a wider buffer
        float[] a = Enumerable.Range(0, m * lda).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        float[] b = Enumerable.Range(0, n * k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        float[] c0 = Enumerable.Range(0, m * n).Select(_ => (float)rng.NextDouble()).ToArray();
        int ldb = transposeB ? k : n;
        int saved = Engine.Threads;
        try
        {
            foreach (var isa in new[] { GemmIsa.Avx512, GemmIsa.Avx2, GemmIsa.Portable }.Where(GemmSimd.IsSupported))
            {
                var packed = GemmSimd.PackB(isa, transposeB, k, n, b, ldb);
                foreach (bool accumulate in new[] { false, true })
                {
                    var expected = (float[])c0.Clone();
                    Engine.Threads = 1;
                    GemmSimd.Multiply(isa, false, transposeB, m, n, k, a, lda, b, ldb, expected, n, accumulate);
                    foreach (int threads in new[] { 1, 2, 3 })
                    {
                        Engine.Threads = threads;
                        var actual = (float[])c0.Clone();
                        GemmSimd.MultiplyPacked(m, a, lda, packed, actual, n, accumulate);
                        Assert.Equal(expected, actual);
                    }
                }
            }
        }
        finally { Engine.Threads = saved; }
    }

    [Fact]
    public unsafe void PackingIsTheSameAtAnyThreadCount()
    {
        // Large enough to be packed by panel ranges on several threads (GemmSimd.ParallelPackFloats).
        const int k = 600, n = 1000;
        var rng = new Random(7);
        float[] b = Enumerable.Range(0, k * n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        int saved = Engine.Threads;
        try
        {
            foreach (var isa in new[] { GemmIsa.Avx512, GemmIsa.Avx2, GemmIsa.Portable }.Where(GemmSimd.IsSupported))
                foreach (bool transposeB in new[] { false, true })
                {
                    float[]? first = null;
                    foreach (int threads in new[] { 1, 2, 3 })
                    {
                        Engine.Threads = threads;
                        var packed = GemmSimd.PackB(isa, transposeB, k, n, b, transposeB ? k : n);
                        Assert.True(packed.Length >= GemmSimd.ParallelPackFloats);
                        var copy = new ReadOnlySpan<float>(packed.Pointer, packed.Length).ToArray();
                        packed.Release();
                        if (first is null) first = copy;
                        else Assert.True(first.AsSpan().SequenceEqual(copy), $"{isa} transposeB={transposeB}: {threads} threads packed differently");
                    }
                }
        }
        finally { Engine.Threads = saved; }
    }

    [Fact]
    public void PackedProductAllocatesNothingPerCall()
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = 1;
            const int m = 32, n = 256, k = 64;
            float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
            var packed = GemmSimd.PackB(false, k, n, b, n);
            // The thread's buffers, then tiered compilation of both the storing and the accumulating path.
            AllocationWarmUp.Run(i => GemmSimd.MultiplyPacked(m, a, k, packed, c, n, accumulate: i % 2 == 1), minCalls: 2);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++) GemmSimd.MultiplyPacked(m, a, k, packed, c, n, accumulate: true);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        finally { Engine.Threads = saved; }
    }
}
