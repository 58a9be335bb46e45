using Recur.Autograd;
using Recur.Optimizers;
using Xunit;
using static Recur.Tests.Optimizers.OptimizerTestKit;

namespace Recur.Tests.Optimizers;

public class GradientClippingTests
{
    /// <summary>Two parameters with gradients [3, 4] and [12]: global norm √(9 + 16 + 144) = 13.</summary>
    private static Parameter[] TwoParameters()
    {
        Parameter a = NewParameter("a", 0.0, 0.0), b = NewParameter("b", 0.0);
        SetGrad(a, [3.0, 4.0]);
        SetGrad(b, [12.0]);
        return [a, b];
    }

    private static float[] AllGrads(Parameter[] ps) => ps.SelectMany(p => p.Grad.Data).ToArray();

    [Fact]
    public void GlobalNormClipReturnsPreClipNormAndScalesToMaxNorm()
    {
        Parameter[] ps = TwoParameters();
        double norm = GradientClipping.ClipByGlobalNorm(ps, maxNorm: 6.5);
        Assert.Equal(13.0, norm, 1e-12);
        double after = GradientClipping.GlobalNorm(ps);
        Assert.True(Math.Abs(after - 6.5) / 6.5 <= 1e-5, $"clipped norm {after}, expected 6.5");
        // Direction kept: every gradient scaled by 6.5/(13 + 1e-6).
        double scale = 6.5 / (13 + 1e-6);
        Assert.Equal([(float)(3 * scale), (float)(4 * scale), (float)(12 * scale)], AllGrads(ps));
    }

    [Fact]
    public void GlobalNormClipLeavesGradientsUnderTheLimitUntouched()
    {
        Parameter[] ps = TwoParameters();
        Assert.Equal(13.0, GradientClipping.ClipByGlobalNorm(ps, maxNorm: 20), 1e-12);
        Assert.Equal([3f, 4f, 12f], AllGrads(ps));
        Assert.Equal(13.0, GradientClipping.ClipByGlobalNorm(ps, maxNorm: 13), 1e-12);
        Assert.Equal([3f, 4f, 12f], AllGrads(ps));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void GlobalNormClipReturnsNonFiniteNormWithoutTouchingGradients(float bad)
    {
        Parameter[] ps = TwoParameters();
        ps[1].Grad.Data[0] = bad;
        double norm = GradientClipping.ClipByGlobalNorm(ps, maxNorm: 1);
        Assert.False(double.IsFinite(norm));
        Assert.Equal([3f, 4f], ps[0].Grad.Data);
        Assert.Equal(bad, ps[1].Grad.Data[0]);
    }

    [Fact]
    public void GlobalNormAccumulatesInDouble()
    {
        // 1e6 gradients of x = 1e-3f: a float running sum of x² stalls once it dwarfs each term (off by ~1e-3
        // relative); a double one stays within ~1e-10.
        var p = new Parameter("big", new Recur.Tensors.Tensor(1_000_000));
        float x = 1e-3f;
        Array.Fill(p.Grad.Data, x);
        double exact = 1000.0 * x;
        Assert.True(Math.Abs(GradientClipping.GlobalNorm([p]) - exact) / exact < 1e-9);
    }

    [Fact]
    public void ClipByValueClampsAndReturnsPreClipNorm()
    {
        Parameter a = NewParameter("a", 0.0, 0.0, 0.0);
        SetGrad(a, [3.0, -4.0, 0.5]);
        double norm = GradientClipping.ClipByValue([a], clipValue: 1);
        Assert.Equal(Math.Sqrt(9 + 16 + 0.25), norm, 1e-12);
        Assert.Equal([1f, -1f, 0.5f], a.Grad.Data);
    }

    [Fact]
    public void ParametersWithoutGradientsAreIgnoredAndNotAllocated()
    {
        Parameter unused = NewParameter("unused", 1.0);
        Assert.Equal(13.0, GradientClipping.ClipByGlobalNorm([.. TwoParameters(), unused], maxNorm: 1), 1e-12);
        Assert.Equal(13.0, GradientClipping.ClipByValue([.. TwoParameters(), unused], clipValue: 1), 1e-12);
        Assert.False(unused.HasGrad);
    }

    [Fact]
    public void NegativeLimitsThrowNamingTheArgument()
    {
        Parameter[] ps = TwoParameters();
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipByGlobalNorm(ps, -1));
        Assert.Equal("maxNorm", e1.ParamName);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipByValue(ps, double.NaN));
        Assert.Equal("clipValue", e2.ParamName);
    }
}
