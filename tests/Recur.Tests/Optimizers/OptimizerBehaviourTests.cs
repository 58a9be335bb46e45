using Recur.Autograd;
using Recur.Optimizers;
using Xunit;
using static Recur.Tests.Optimizers.OptimizerTestKit;

namespace Recur.Tests.Optimizers;

public class OptimizerBehaviourTests
{
    public static TheoryData<string> Names => new(["sgd", "rmsprop", "adam", "adamw", "nadam"]);

    private static Optimizer Create(string name, IReadOnlyList<Parameter> ps) => name switch
    {
        "sgd" => new Sgd(ps, 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1),
        "rmsprop" => new RmsProp(ps, momentum: 0.9, centered: true, weightDecay: 0.1),
        "adam" => new Adam(ps, weightDecay: 0.1, amsgrad: true),
        "adamw" => new AdamW(ps),
        "nadam" => new Nadam(ps, weightDecay: 0.1),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void StepAllocatesNothing(string name)
    {
        Parameter p = NewParameter("w", Theta0);
        Optimizer optimizer = Create(name, [p]);
        SetGrad(p, Gradients[0]);
        optimizer.Step(); // warm-up: JIT, first-touch
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) optimizer.Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ParametersWithoutGradientAreSkipped(string name)
    {
        Parameter used = NewParameter("used", Theta0), unused = NewParameter("unused", 1.0, 2.0);
        Optimizer optimizer = Create(name, [used, unused]);
        SetGrad(used, Gradients[0]);
        optimizer.Step();
        Assert.False(unused.HasGrad);
        Assert.Equal([1f, 2f], unused.Value.Data);
        Assert.NotEqual(Theta0.Select(v => (float)v).ToArray(), used.Value.Data);
    }

    [Fact]
    public void ZeroGradZeroesEveryGradient()
    {
        Parameter a = NewParameter("a", Theta0), b = NewParameter("b", 1.0);
        var sgd = new Sgd([a, b], 0.1);
        SetGrad(a, Gradients[0]);
        SetGrad(b, [3.0]);
        sgd.ZeroGrad();
        Assert.All(a.Grad.Data.Concat(b.Grad.Data), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void LearningRateSetByASchedulerIsUsedByTheNextStep()
    {
        Parameter p = NewParameter("w", 1.0);
        var sgd = new Sgd([p], 0.1);
        SetGrad(p, [1.0]);
        sgd.Step();
        sgd.LearningRate = 0.01;
        sgd.Step();
        Assert.Equal(1 - 0.1 - 0.01, p.Value.Data[0], 1e-6);
    }
}
