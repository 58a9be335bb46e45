using Recur.Optimizers;
using Xunit;
using static Recur.Tests.Optimizers.OptimizerTestKit;

namespace Recur.Tests.Optimizers;

public class SgdTests
{
    private const double Lr = 0.1;

    /// <summary>torch.optim.SGD's documented rule, written out in double.</summary>
    private static double[][] Reference(double mu, double tau, bool nesterov, double lambda)
    {
        double[] theta = Theta0;
        double[] b = new double[theta.Length];
        var trajectory = new double[3][];
        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < theta.Length; i++)
            {
                double g = Gradients[t - 1][i] + lambda * theta[i];   // g_t ← ∇f(θ_{t−1}) + λ·θ_{t−1}
                if (mu != 0)
                {
                    b[i] = t == 1 ? g                                  // b_1 ← g_1 (no dampening)
                        : mu * b[i] + (1 - tau) * g;                    // b_t ← μ·b_{t−1} + (1 − τ)·g_t
                    g = nesterov ? g + mu * b[i] : b[i];               // g_t ← g_t + μ·b_t  or  b_t
                }
                theta[i] -= Lr * g;                                    // θ_t ← θ_{t−1} − γ·g_t
            }
            trajectory[t - 1] = (double[])theta.Clone();
        }
        return trajectory;
    }

    [Theory]
    [InlineData(0.0, 0.0, false, 0.0)]  // plain
    [InlineData(0.9, 0.0, false, 0.0)]  // momentum
    [InlineData(0.9, 0.0, true, 0.0)]   // Nesterov
    [InlineData(0.9, 0.5, false, 0.0)]  // dampening
    [InlineData(0.0, 0.0, false, 0.1)]  // weight decay
    [InlineData(0.8, 0.0, true, 0.05)]  // Nesterov + weight decay
    public void FirstThreeStepsFollowTheDocumentedRule(double mu, double tau, bool nesterov, double lambda)
    {
        double[][] expected = Reference(mu, tau, nesterov, lambda);
        if (mu != 0 || lambda != 0) AssertDiffer(expected, Reference(0, 0, false, 0));
        AssertTrajectory(p => new Sgd([p], Lr, mu, tau, nesterov, lambda), expected);
    }

    [Fact]
    public void DampeningIsNotAppliedAtTheFirstStep()
    {
        // b_1 = g = 1 (not (1 − τ)·g): θ_1 = 1 − 0.1·1; then b_2 = 0.9·1 + 0.5·1 = 1.4, θ_2 = 0.9 − 0.14.
        var p = NewParameter("w", 1.0);
        var sgd = new Sgd([p], 0.1, momentum: 0.9, dampening: 0.5);
        SetGrad(p, [1.0]);
        sgd.Step();
        Assert.Equal(0.9f, p.Value.Data[0], 1e-6f);
        sgd.Step();
        Assert.Equal(0.76f, p.Value.Data[0], 1e-6f);
    }

    [Fact]
    public void MomentumGoldenWithConstantGradient()
    {
        // γ = 0.1, μ = 0.9, g = 1: b = 1, 1.9, 2.71 → θ = 0.9, 0.71, 0.439.
        var p = NewParameter("w", 1.0, 1.0, 1.0);
        var sgd = new Sgd([p], 0.1, momentum: 0.9);
        float[] golden = [0.9f, 0.71f, 0.439f];
        foreach (float expected in golden)
        {
            SetGrad(p, [1.0, 1.0, 1.0]);
            sgd.Step();
            Assert.All(p.Value.Data, v => Assert.Equal(expected, v, 1e-6f));
        }
    }

    [Fact]
    public void NesterovGoldenWithConstantGradient()
    {
        // b = 1, 1.9, 2.71; step g + μ·b = 1.9, 2.71, 3.439 → θ = 0.81, 0.539, 0.1951.
        var p = NewParameter("w", 1.0);
        var sgd = new Sgd([p], 0.1, momentum: 0.9, nesterov: true);
        foreach (float expected in new[] { 0.81f, 0.539f, 0.1951f })
        {
            SetGrad(p, [1.0]);
            sgd.Step();
            Assert.Equal(expected, p.Value.Data[0], 1e-6f);
        }
    }
}
