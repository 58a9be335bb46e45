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
        AllocationWarmUp.Run(_ => optimizer.Step());
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) optimizer.Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData("rmsprop")]
    [InlineData("adam")]
    [InlineData("adamw")]
    [InlineData("nadam")]
    public void VectorUpdatesGiveTheBitsOfTheScalarLoop(string name)
    {
        // One parameter of 37 values (whole vectors, then a scalar tail) against 37 parameters of one value each
        // (the scalar loop only): after three steps every value must have the same bits.
        const int n = 37;
        var random = new Recur.Randomness.RecurRandom(17);
        double[] theta = Enumerable.Range(0, n).Select(_ => random.Uniform(-2, 2)).ToArray();
        double[][] grads = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, n).Select(_ => random.Uniform(-1, 1)).ToArray()).ToArray();
        Parameter whole = NewParameter("whole", theta);
        Parameter[] singles = Enumerable.Range(0, n).Select(k => NewParameter($"w{k}", theta[k])).ToArray();
        Optimizer vectorised = Create(name, [whole]), scalar = Create(name, singles);
        foreach (double[] g in grads)
        {
            SetGrad(whole, g);
            for (int k = 0; k < n; k++) SetGrad(singles[k], [g[k]]);
            vectorised.Step();
            scalar.Step();
        }
        var wholeState = vectorised.ExportState().Buffers;
        var singleStates = scalar.ExportState().Buffers;
        for (int k = 0; k < n; k++)
        {
            Assert.Equal(BitConverter.SingleToInt32Bits(singles[k].Value.Data[0]), BitConverter.SingleToInt32Bits(whole.Value.Data[k]));
            foreach (var (key, buffer) in wholeState) // the moments (and AMSGrad's maximum) too
                Assert.Equal(BitConverter.SingleToInt32Bits(singleStates[$"w{k}" + key["whole".Length..]][0]), BitConverter.SingleToInt32Bits(buffer[k]));
        }
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
