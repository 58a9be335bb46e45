using Recur.Tensors;
using Xunit.Abstractions;

namespace Recur.Tests.Tensors;

/// <summary><see cref="FastExp"/> against the double exponential, per instruction set, and its scalar form against the lanes.</summary>
public unsafe class FastExpTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Isas() =>
        new[] { GemmIsa.Avx512, GemmIsa.Avx2, GemmIsa.Portable }.Where(GemmSimd.IsSupported).Select(i => new object[] { i });

    private static float[] Lanes(GemmIsa isa, float[] x) => isa switch
    {
        GemmIsa.Avx512 => Lanes<Float512>(x),
        GemmIsa.Avx2 => Lanes<Float256>(x),
        _ => Lanes<FloatPortable>(x),
    };

    private static float[] Lanes<TV>(float[] x) where TV : struct, IFloatVector<TV>
    {
        int w = TV.Count;
        var padded = new float[(x.Length + w - 1) / w * w];
        x.CopyTo(padded, 0);
        var y = new float[padded.Length];
        fixed (float* px = padded, py = y)
        {
            for (int i = 0; i < padded.Length; i += w) TV.Store(FastExp.Exp(TV.Load(px + i)), py + i);
        }
        return y[..x.Length];
    }

    private static double Ulps(float got, double want)
    {
        float nearest = (float)want;
        return Math.Abs(got - want) / (MathF.BitIncrement(Math.Abs(nearest)) - Math.Abs(nearest));
    }

    [Theory, MemberData(nameof(Isas))]
    internal void WithinOneUlpOverTheNormalRange(GemmIsa isa)
    {
        // Dense grid over [−87, 88] plus points either side of every rounding boundary n·ln2 ± ln2/2.
        var x = new List<float>();
        for (int k = -870000; k <= 880000; k++) x.Add(k * 1e-4f);
        for (int n = -125; n <= 127; n++)
        {
            float boundary = (float)((n + 0.5) * Math.Log(2));
            x.AddRange([MathF.BitDecrement(boundary), boundary, MathF.BitIncrement(boundary)]);
        }
        x.AddRange([0f, -0f, 1e-30f, -1e-30f, float.Epsilon]);
        var xs = x.Where(v => v >= FastExp.Lowest && v <= FastExp.Highest).ToArray();
        var vector = Lanes(isa, xs);
        double worst = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            double ulps = Ulps(vector[i], Math.Exp(xs[i]));
            Assert.True(ulps <= 1.0, $"{isa}: e^{xs[i]:R} = {vector[i]:R}, {ulps:F2} ulp from {Math.Exp(xs[i]):R}");
            worst = Math.Max(worst, ulps);
        }
        output.WriteLine($"{isa}: max error {worst:F3} ulp over {xs.Length} points");
    }

    // The portable vector's multiply-add is an estimate that need not fuse, so only the x86 vectors are held to bits.
    public static IEnumerable<object[]> FusedIsas() => Isas().Where(i => (GemmIsa)i[0] != GemmIsa.Portable);

    [Theory, MemberData(nameof(FusedIsas))]
    internal void ScalarFormGivesTheLanesBits(GemmIsa isa)
    {
        var random = new Random(11);
        var xs = Enumerable.Range(0, 100_000).Select(_ => (float)(random.NextDouble() * 200 - 100)).ToArray();
        var vector = Lanes(isa, xs);
        for (int i = 0; i < xs.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(vector[i]) == BitConverter.SingleToInt32Bits(FastExp.Exp(xs[i])),
                $"{isa}: e^{xs[i]:R}: lane {vector[i]:R}, scalar {FastExp.Exp(xs[i]):R}");
    }

    [Theory, MemberData(nameof(Isas))]
    internal void ClampsOutsideTheNormalRangeAndKeepsNaN(GemmIsa isa)
    {
        float[] xs = [-1000f, float.NegativeInfinity, 1000f, float.PositiveInfinity, float.NaN];
        var vector = Lanes(isa, xs);
        float low = FastExp.Exp(FastExp.Lowest), high = FastExp.Exp(FastExp.Highest);
        Assert.True(float.IsNormal(low) && low < 1.3e-38f, $"e^lowest = {low:R}");
        Assert.True(float.IsFinite(high) && high > 2e38f, $"e^highest = {high:R}");
        Assert.Equal([low, low, high, high], vector[..4]);
        Assert.True(float.IsNaN(vector[4]));
        Assert.True(float.IsNaN(FastExp.Exp(float.NaN)));
    }
}
