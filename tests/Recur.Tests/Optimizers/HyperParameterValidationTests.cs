using Recur.Autograd;
using Recur.Optimizers;
using Xunit;
using static Recur.Tests.Optimizers.OptimizerTestKit;

namespace Recur.Tests.Optimizers;

public class HyperParameterValidationTests
{
    private static readonly Parameter[] Ps = [NewParameter("w", 1.0)];

    public static TheoryData<string, string, Func<object>> OutOfRange => new()
    {
        { "learningRate", "-0.1", () => new Sgd(Ps, -0.1) },
        { "learningRate", "NaN", () => new Adam(Ps, learningRate: double.NaN) },
        { "momentum", "-0.5", () => new Sgd(Ps, 0.1, momentum: -0.5) },
        { "dampening", "1.5", () => new Sgd(Ps, 0.1, momentum: 0.9, dampening: 1.5) },
        { "weightDecay", "-1", () => new Sgd(Ps, 0.1, weightDecay: -1) },
        { "beta1", "1", () => new Adam(Ps, beta1: 1.0) },
        { "beta2", "1.5", () => new AdamW(Ps, beta2: 1.5) },
        { "beta1", "-0.1", () => new Nadam(Ps, beta1: -0.1) },
        { "epsilon", "-1E-08", () => new Adam(Ps, epsilon: -1e-8) },
        { "weightDecay", "-0.01", () => new AdamW(Ps, weightDecay: -0.01) },
        { "momentumDecay", "-1", () => new Nadam(Ps, momentumDecay: -1) },
        { "alpha", "1", () => new RmsProp(Ps, alpha: 1.0) },
        { "momentum", "Infinity", () => new RmsProp(Ps, momentum: double.PositiveInfinity) },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void BadHyperparameterThrowsNamingTheArgumentRangeAndValue(string argument, string found, Func<object> create)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(create);
        Assert.Equal(argument, e.ParamName);
        Assert.Contains($"'{argument}'", e.Message);
        Assert.Contains("[0, ", e.Message);
        Assert.Contains($"found {found}", e.Message);
    }

    [Fact]
    public void NegativeLearningRateFromASchedulerThrows()
    {
        var adam = new Adam(Ps);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => adam.LearningRate = -1e-3);
        Assert.Equal(nameof(Optimizer.LearningRate), e.ParamName);
        Assert.Equal(1e-3, adam.LearningRate);
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.9, 0.1)]
    public void NesterovNeedsMomentumAndNoDampening(double momentum, double dampening)
    {
        var e = Assert.Throws<ArgumentException>(() => new Sgd(Ps, 0.1, momentum, dampening, nesterov: true));
        Assert.Equal("nesterov", e.ParamName);
    }

    [Fact]
    public void DuplicateParameterNamesThrow()
    {
        var e = Assert.Throws<ArgumentException>(() => new Adam([NewParameter("w", 1.0), NewParameter("w", 2.0)]));
        Assert.Equal("parameters", e.ParamName);
        Assert.Contains("'w' twice", e.Message);
    }
}
