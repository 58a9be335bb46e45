using Recur.Randomness;
using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Tensors;

/// <summary>
/// A single-row product (a streaming step's) runs on several threads only when that cannot cost a wake-up at every
/// call, and wherever it runs it gives the bits of one thread.
/// </summary>
public sealed class SingleRowThreadsTests
{
    private static readonly long Dense = GemmDriver<Float256>.DenseRowTicks;

    [Fact]
    public void SplitsOnlyLargeEnoughProductsOfADenseStreamOrWithTheWorkersAwake()
    {
        const double streamingStep = 2.0 * 512 * 128, small = 2.0 * 512 * 8, large = 2 * GemmSimd.SinglePhaseParallelFlops;
        // A streaming step's h·W_hhᵀ: split while the calls come densely or the workers spin, not after a pause.
        Assert.True(GemmDriver<Float256>.RowInParallel(streamingStep, 2, workersSpinning: false, ticksSincePrevious: Dense / 2));
        Assert.True(GemmDriver<Float256>.RowInParallel(streamingStep, 2, workersSpinning: true, ticksSincePrevious: 100 * Dense));
        Assert.False(GemmDriver<Float256>.RowInParallel(streamingStep, 2, workersSpinning: false, ticksSincePrevious: 2 * Dense));
        // x·W_ihᵀ of eight features is never worth a hand-off; one thread never splits.
        Assert.False(GemmDriver<Float256>.RowInParallel(small, 2, workersSpinning: true, ticksSincePrevious: 0));
        Assert.False(GemmDriver<Float256>.RowInParallel(streamingStep, 1, workersSpinning: true, ticksSincePrevious: 0));
        // A product worth waking the workers for (a language model's vocabulary head) splits after any pause.
        Assert.True(GemmDriver<Float256>.RowInParallel(large, 2, workersSpinning: false, ticksSincePrevious: 100 * Dense));
    }

    [Theory]
    [MemberData(nameof(GemmTests.SupportedIsas), MemberType = typeof(GemmTests))]
    public void BackToBackCallsOnSeveralThreadsGiveTheBitsOfOne(string isaName)
    {
        // Calls back to back are the dense stream the split is for: each must equal the one-thread product, for the
        // lane-parallel dot products (B transposed, N > 64), the exact chains (N ≤ 64) and B as stored, with shares that
        // cut the groups of sixteen rows and more items than threads (N = 2100 in chunks of at most 1024).
        var isa = Enum.Parse<GemmIsa>(isaName);
        var random = new RecurRandom(17);
        int saved = Engine.Threads;
        try
        {
            foreach (var (n, k, transposeB) in new[] { (512, 128, true), (700, 150, true), (64, 2048, true), (1000, 300, false), (2100, 1000, true) })
            foreach (bool accumulate in new[] { false, true })
            {
                float[] a = GemmTests.RandomMatrix(random, 1, k), b = GemmTests.RandomMatrix(random, k, n), c0 = GemmTests.RandomMatrix(random, 1, n);
                float[] Product()
                {
                    float[] c = (float[])c0.Clone();
                    GemmSimd.Multiply(isa, false, transposeB, 1, n, k, a, k, b, transposeB ? k : n, c, n, accumulate);
                    return c;
                }
                Engine.Threads = 1;
                float[] expected = Product();
                foreach (int threads in new[] { 2, 3 })
                {
                    Engine.Threads = threads;
                    for (int call = 0; call < 20; call++)
                        Assert.True(expected.AsSpan().SequenceEqual(Product()),
                            $"{isa} n={n} k={k} tB={transposeB} accumulate={accumulate}: call {call} on {threads} threads differs from one thread.");
                }
            }
        }
        finally
        {
            Engine.Threads = saved;
        }
    }
}
