using Xunit;

namespace Recur.Tests.Losses;

/// <summary>Checks every loss kernel's backward: finite differences in double, float against double, accumulation.</summary>
public class LossGradientTests
{
    public static TheoryData<string> Cases => LossCases.All;

    [Theory]
    [MemberData(nameof(Cases))]
    public void Backward_matches_finite_differences_in_double(string name)
    {
        LossCase<double> loss = LossCases.Build<double>(name);
        var analytic = new double[loss.Input.Length];
        loss.Backward(1.0, analytic);

        double[] numeric = GradientCheck.Numeric(loss.Forward, loss.Input);

        double error = GradientCheck.RelativeError(analytic, numeric);
        Assert.True(error <= 1e-7, $"{name}: relative error {error:E3} between analytic and numeric gradient.");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float_kernel_matches_double_kernel(string name)
    {
        LossCase<float> single = LossCases.Build<float>(name);
        LossCase<double> reference = LossCases.Build<double>(name);
        // Same seeded doubles, rounded to float: feed the double kernel exactly the float inputs.
        for (int i = 0; i < single.Input.Length; i++) reference.Input[i] = single.Input[i];

        double lossError = Math.Abs(single.Forward() - reference.Forward()) / Math.Abs(reference.Forward());
        var singleGradient = new float[single.Input.Length];
        var referenceGradient = new double[reference.Input.Length];
        single.Backward(1f, singleGradient);
        reference.Backward(1.0, referenceGradient);
        double gradientError = GradientCheck.RelativeError(singleGradient, referenceGradient);

        Assert.True(lossError <= 1e-6, $"{name}: loss relative error {lossError:E3}.");
        Assert.True(gradientError <= 1e-6, $"{name}: gradient relative error {gradientError:E3}.");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Backward_adds_dLoss_times_gradient_into_existing_values(string name)
    {
        LossCase<double> loss = LossCases.Build<double>(name);
        var unit = new double[loss.Input.Length];
        loss.Backward(1.0, unit);
        var accumulated = new double[loss.Input.Length];
        Array.Fill(accumulated, 0.25);

        loss.Backward(3.0, accumulated);

        var expected = new double[unit.Length];
        for (int i = 0; i < unit.Length; i++) expected[i] = 0.25 + 3.0 * unit[i];
        Assert.True(GradientCheck.RelativeError(accumulated, expected) <= 1e-14);
    }

    [Fact]
    public void Gradient_check_restores_the_parameter()
    {
        double[] x = [1.5, -2.0];
        double[] numeric = GradientCheck.Numeric(() => x[0] * x[0] + 3 * x[1], x);

        Assert.Equal([1.5, -2.0], x);
        Assert.True(GradientCheck.RelativeError(numeric, [3.0, 3.0]) <= 1e-8);
    }
}
