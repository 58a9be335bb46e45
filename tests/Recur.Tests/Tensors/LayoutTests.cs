using Recur.Tensors;
using Xunit;

namespace Recur.Tests.Tensors;

/// <summary>
/// Layout.SwapLeadingAxes against the definition dst[j, i, :] = src[i, j, :], on one thread and split over two and
/// three (from <c>MinValuesToSplit</c> values; odd leading sizes, so the parts are unequal, and a leading axis of 1,
/// which cannot split), in float and double.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class LayoutTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 3, 5, 2 },          // small: always on the calling thread
        { 32, 50, 8 },        // config a's input, 12 800 values
        { 33, 41, 7 },        // odd sizes, 9 471 values
        { 1, 2000, 9 },       // one sequence: nothing to split
        { 257, 3, 13 },       // many short sequences
    };

    [Theory, MemberData(nameof(Shapes))]
    public void SwapMatchesItsDefinitionAtEveryThreadCount(int d0, int d1, int features)
    {
        var random = new Random(d0 * 1000 + d1);
        float[] single = Enumerable.Range(0, d0 * d1 * features).Select(_ => (float)random.NextDouble()).ToArray();
        double[] wide = single.Select(v => (double)v + 1e-12).ToArray();
        int saved = Engine.Threads;
        try
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                Engine.Threads = threads;
                AssertSwapped(single, Layout.SwapLeadingAxes<float>(single, d0, d1, features), d0, d1, features);
                AssertSwapped(wide, Layout.SwapLeadingAxes<double>(wide, d0, d1, features), d0, d1, features);
                // and back
                Assert.Equal(single, Layout.SwapLeadingAxes<float>(Layout.SwapLeadingAxes<float>(single, d0, d1, features), d1, d0, features));
            }
        }
        finally
        {
            Engine.Threads = saved;
        }
    }

    [Fact]
    public void ASwapOfTheWrongSizeNamesBothLengths()
    {
        var error = Assert.Throws<ArgumentException>(() => Layout.SwapLeadingAxes<float>(new float[10], 2, 3, 2, new float[12]));
        Assert.Contains("[2, 3, 2] needs 12 values; found source 10, destination 12", error.Message);
    }

    private static void AssertSwapped<T>(T[] src, T[] dst, int d0, int d1, int features)
    {
        for (int i = 0; i < d0; i++)
            for (int j = 0; j < d1; j++)
                for (int f = 0; f < features; f++)
                    Assert.Equal(src[(i * d1 + j) * features + f], dst[(j * d0 + i) * features + f]);
    }
}
