using Recur.Autograd;
using Recur.Optimizers;
using Recur.Tensors;
using Recur.Training;
using Xunit;

namespace Recur.Tests.Optimizers;

/// <summary>Weight decay as an L2 gradient term or decoupled, for any optimizer, and the max-norm constraint.</summary>
public class WeightRegularizationTests
{
    private const double Lambda = 0.1, Lr = 0.05;

    private static Parameter WithGrad(double[] theta, double[] grad)
    {
        var p = OptimizerTestKit.NewParameter("w", theta);
        for (int i = 0; i < grad.Length; i++) p.Grad.Data[i] = (float)grad[i];
        return p;
    }

    [Fact]
    public void SgdWithL2IsTheHandComputedUpdate()
    {
        double[] theta = OptimizerTestKit.Theta0, g = OptimizerTestKit.Gradients[0];
        var p = WithGrad(theta, g);
        var sgd = new Sgd([p], Lr);
        new WeightRegularization(Lambda, WeightDecayMode.L2).BeforeStep(sgd);
        sgd.Step();
        for (int i = 0; i < theta.Length; i++)
            Assert.Equal(theta[i] - Lr * (g[i] + Lambda * theta[i]), p.Value.Data[i], 6);

        // and bit for bit what SGD's own weight_decay does
        var q = WithGrad(theta, g);
        new Sgd([q], Lr, weightDecay: Lambda).Step();
        Assert.Equal(q.Value.Data, p.Value.Data);
    }

    [Fact]
    public void AdamWithL2IsTheHandComputedUpdate()
    {
        double[] theta = OptimizerTestKit.Theta0, g = OptimizerTestKit.Gradients[0];
        var p = WithGrad(theta, g);
        var adam = new Adam([p], Lr);
        new WeightRegularization(Lambda, WeightDecayMode.L2).BeforeStep(adam);
        adam.Step();
        for (int i = 0; i < theta.Length; i++)
        {
            // t = 1: m̂ = g', v̂ = g'², with g' = g + λθ
            double gi = g[i] + Lambda * theta[i];
            double m = 0.1 * gi / (1 - 0.9), v = 0.001 * gi * gi / (1 - 0.999);
            Assert.Equal(theta[i] - Lr * m / (Math.Sqrt(v) + 1e-8), p.Value.Data[i], 6);
        }
    }

    [Fact]
    public void DecoupledDecayOnAdamIsAdamWsRule()
    {
        var p = OptimizerTestKit.NewParameter("w", OptimizerTestKit.Theta0);
        var q = OptimizerTestKit.NewParameter("w", OptimizerTestKit.Theta0);
        var adam = new Adam([p], Lr);
        var adamW = new AdamW([q], Lr, weightDecay: Lambda);
        var decay = new WeightRegularization(Lambda, WeightDecayMode.Decoupled);
        foreach (var g in OptimizerTestKit.Gradients)
        {
            for (int i = 0; i < g.Length; i++) p.Grad.Data[i] = q.Grad.Data[i] = (float)g[i];
            decay.BeforeStep(adam);
            adam.Step();
            adamW.Step();
            Assert.Equal(q.Value.Data, p.Value.Data);
        }
    }

    [Fact]
    public void DecoupledDecayOnSgdShrinksThenSteps()
    {
        double[] theta = OptimizerTestKit.Theta0, g = OptimizerTestKit.Gradients[0];
        var p = WithGrad(theta, g);
        var sgd = new Sgd([p], Lr);
        new WeightRegularization(Lambda, WeightDecayMode.Decoupled).BeforeStep(sgd);
        sgd.Step();
        for (int i = 0; i < theta.Length; i++) Assert.Equal(theta[i] * (1 - Lr * Lambda) - Lr * g[i], p.Value.Data[i], 6);
    }

    [Fact]
    public void MaxNormCapsEveryWeightRowAndLeavesBiases()
    {
        var w = new Parameter("w", new Tensor([3f, 4f, 0.3f, 0.4f, -6f, 8f], 3, 2));
        var b = new Parameter("b", new Tensor([30f, 40f], 2));
        new WeightRegularization(0, WeightDecayMode.L2, maxNorm: 2).AfterStep([w, b]);
        Assert.Equal([1.2f, 1.6f], w.Value.Data[..2]);      // norm 5 → 2
        Assert.Equal([0.3f, 0.4f], w.Value.Data[2..4]);     // norm 0.5, untouched
        Assert.Equal(-1.2f, w.Value.Data[4], 6);
        Assert.Equal(1.6f, w.Value.Data[5], 6);
        for (int r = 0; r < 3; r++)
            Assert.True(Math.Sqrt(w.Value.Data[2 * r] * w.Value.Data[2 * r] + w.Value.Data[2 * r + 1] * w.Value.Data[2 * r + 1]) <= 2 * (1 + 1e-6));
        Assert.Equal([30f, 40f], b.Value.Data);
    }

    [Fact]
    public void DecayModeDefaultsToDecoupledForAdamWOnly()
    {
        Assert.Equal(WeightDecayMode.Decoupled, WeightRegularization.ParseMode(null, "adamw"));
        Assert.Equal(WeightDecayMode.L2, WeightRegularization.ParseMode(null, "adam"));
        Assert.Equal(WeightDecayMode.L2, WeightRegularization.ParseMode(null, "sgd"));
        Assert.Equal(WeightDecayMode.Decoupled, WeightRegularization.ParseMode("Decoupled", "sgd"));
        Assert.Throws<InvalidInputException>(() => WeightRegularization.ParseMode("l1", "adam"));
        var p = OptimizerTestKit.NewParameter("w", 1.0);
        Assert.Equal(0.01, ((AdamW)Trainer.CreateOptimizer("adamw", [p], 1e-3)).WeightDecay);
        Assert.Equal(0, ((AdamW)Trainer.CreateOptimizer("adamw", [p], 1e-3, externalWeightDecay: true)).WeightDecay);
    }
}
