using Recur.Autograd;
using Recur.Optimizers;
using Xunit;
using static Recur.Tests.Optimizers.OptimizerTestKit;

namespace Recur.Tests.Optimizers;

public class OptimizerStateTests
{
    private static readonly Dictionary<string, Func<IReadOnlyList<Parameter>, Optimizer>> Factories = new()
    {
        ["sgd"] = ps => new Sgd(ps, 0.1),
        ["sgd-nesterov"] = ps => new Sgd(ps, 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01),
        ["sgd-dampening"] = ps => new Sgd(ps, 0.1, momentum: 0.9, dampening: 0.3),
        ["rmsprop-centered-momentum"] = ps => new RmsProp(ps, 0.01, momentum: 0.9, centered: true),
        ["adam"] = ps => new Adam(ps, 0.01),
        ["adam-amsgrad-l2"] = ps => new Adam(ps, 0.01, weightDecay: 0.1, amsgrad: true),
        ["adamw"] = ps => new AdamW(ps, 0.01),
        ["nadam"] = ps => new Nadam(ps, 0.01, weightDecay: 0.01),
    };

    public static TheoryData<string> Names => new(Factories.Keys);

    private static Parameter[] Model() => [NewParameter("enc.weight", Theta0), NewParameter("enc.bias", 0.3, -0.7)];

    private static void SetGrads(Parameter[] ps, int step)
    {
        SetGrad(ps[0], Gradients[step % 3].Select(g => g * (1 + 0.1 * step)).ToArray());
        SetGrad(ps[1], [0.2 - 0.05 * step, -0.4 + 0.1 * step]);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void ExportedStateResumesBitIdentically(string name)
    {
        Parameter[] original = Model();
        Optimizer uninterrupted = Factories[name](original);
        for (int step = 0; step < 3; step++)
        {
            SetGrads(original, step);
            uninterrupted.Step();
        }
        uninterrupted.LearningRate *= 0.5; // as a schedule would
        OptimizerState state = uninterrupted.ExportState();

        // A fresh process: parameters restored from the checkpoint, a new optimizer, then the state.
        Parameter[] resumed = original.Select(p => new Parameter(p.Name, p.Value.Clone())).ToArray();
        Optimizer restored = Factories[name](resumed);
        restored.ImportState(state);
        Assert.Equal(uninterrupted.StepCount, restored.StepCount);
        Assert.Equal(uninterrupted.LearningRate, restored.LearningRate);

        for (int step = 3; step < 5; step++)
        {
            SetGrads(original, step);
            SetGrads(resumed, step);
            uninterrupted.Step();
            restored.Step();
            for (int i = 0; i < original.Length; i++)
                Assert.Equal(original[i].Value.Data, resumed[i].Value.Data);
        }
    }

    [Fact]
    public void StateNamesBuffersByParameterAndSlotAndIsACopy()
    {
        Parameter[] ps = Model();
        var nadam = new Nadam(ps);
        SetGrads(ps, 0);
        nadam.Step();
        OptimizerState state = nadam.ExportState();
        Assert.Equal("Nadam", state.Algorithm);
        Assert.Equal(1, state.StepCount);
        Assert.Equal(["enc.bias.exp_avg", "enc.bias.exp_avg_sq", "enc.weight.exp_avg", "enc.weight.exp_avg_sq"],
            state.Buffers.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["lr", "mu_product"], state.Scalars.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(0.9 * (1 - 0.5 * Math.Pow(0.96, 4e-3)), state.Scalars["mu_product"], 1e-15);
        // m_1 = (1 − β₁)·g_1.
        Assert.Equal((float)(0.1 * 0.5), state.Buffers["enc.weight.exp_avg"][0], 1e-8f);

        float[] before = (float[])state.Buffers["enc.weight.exp_avg"].Clone();
        nadam.Step();
        Assert.Equal(before, state.Buffers["enc.weight.exp_avg"]);
    }

    [Fact]
    public void ImportRejectsAnotherAlgorithm()
    {
        OptimizerState state = new Adam(Model()).ExportState();
        var e = Assert.Throws<ArgumentException>(() => new AdamW(Model()).ImportState(state));
        Assert.Contains("'Adam'", e.Message);
        Assert.Contains("'AdamW'", e.Message);
    }

    [Fact]
    public void ImportRejectsAnotherVariantOrOtherParametersAndChangesNothing()
    {
        OptimizerState amsgrad = new Adam(Model(), amsgrad: true).ExportState();
        var plain = new Adam(Model());
        var e = Assert.Throws<ArgumentException>(() => plain.ImportState(amsgrad));
        Assert.Contains("max_exp_avg_sq", e.Message);

        Parameter[] renamed = [NewParameter("dec.weight", Theta0), NewParameter("enc.bias", 0.3, -0.7)];
        OptimizerState other = new Adam(renamed).ExportState();
        e = Assert.Throws<ArgumentException>(() => plain.ImportState(other));
        Assert.Contains("enc.weight.exp_avg", e.Message);
        Assert.Contains("dec.weight.exp_avg", e.Message);

        Parameter[] resized = [NewParameter("enc.weight", 1.0), NewParameter("enc.bias", 0.3, -0.7)];
        var resizedState = new Adam(resized, learningRate: 0.5).ExportState();
        e = Assert.Throws<ArgumentException>(() => plain.ImportState(resizedState));
        Assert.Contains("enc.weight", e.Message);
        Assert.Equal(1e-3, plain.LearningRate);
        Assert.Equal(0, plain.StepCount);
    }
}
