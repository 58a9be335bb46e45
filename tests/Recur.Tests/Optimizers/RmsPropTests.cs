using Recur.Optimizers;
using Xunit;
using static Recur.Tests.Optimizers.OptimizerTestKit;

namespace Recur.Tests.Optimizers;

public class RmsPropTests
{
    private const double Lr = 0.05, Alpha = 0.9, Eps = 1e-8;

    /// <summary>torch.optim.RMSprop's documented rule, written out in double.</summary>
    private static double[][] Reference(double lambda, double mu, bool centered)
    {
        double[] theta = Theta0;
        double[] v = new double[3], gAvg = new double[3], b = new double[3];
        var trajectory = new double[3][];
        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < 3; i++)
            {
                double g = Gradients[t - 1][i] + lambda * theta[i];   // g_t ← ∇ + λ·θ_{t−1}
                v[i] = Alpha * v[i] + (1 - Alpha) * g * g;            // v_t ← α·v_{t−1} + (1 − α)·g_t²
                double vTilde = v[i];                                 // ṽ_t ← v_t
                if (centered)
                {
                    gAvg[i] = Alpha * gAvg[i] + (1 - Alpha) * g;      // g^ave_t ← α·g^ave_{t−1} + (1 − α)·g_t
                    vTilde -= gAvg[i] * gAvg[i];                      // ṽ_t ← ṽ_t − (g^ave_t)²
                }
                if (mu > 0)
                {
                    b[i] = mu * b[i] + g / (Math.Sqrt(vTilde) + Eps); // b_t ← μ·b_{t−1} + g_t/(√ṽ_t + ε)
                    theta[i] -= Lr * b[i];                            // θ_t ← θ_{t−1} − γ·b_t
                }
                else
                {
                    theta[i] -= Lr * g / (Math.Sqrt(vTilde) + Eps);   // θ_t ← θ_{t−1} − γ·g_t/(√ṽ_t + ε)
                }
            }
            trajectory[t - 1] = (double[])theta.Clone();
        }
        return trajectory;
    }

    [Theory]
    [InlineData(0.0, 0.0, false)]  // plain
    [InlineData(0.0, 0.0, true)]   // centered
    [InlineData(0.0, 0.9, false)]  // momentum
    [InlineData(0.0, 0.9, true)]   // centered + momentum
    [InlineData(0.1, 0.0, false)]  // weight decay
    public void FirstThreeStepsFollowTheDocumentedRule(double lambda, double mu, bool centered)
    {
        double[][] expected = Reference(lambda, mu, centered);
        if (lambda != 0 || mu != 0 || centered) AssertDiffer(expected, Reference(0, 0, false));
        AssertTrajectory(p => new RmsProp([p], Lr, Alpha, Eps, lambda, mu, centered), expected);
    }

    [Fact]
    public void FirstStepGolden()
    {
        // t = 1, plain: v = (1 − α)·g², so Δθ = −γ·g/(√(1 − α)·|g|) = −γ·sign(g)/√(1 − α) = −0.05/√0.1·sign(g).
        var p = NewParameter("w", Theta0);
        var rms = new RmsProp([p], learningRate: 0.05, alpha: 0.9);
        SetGrad(p, Gradients[0]);
        rms.Step();
        for (int i = 0; i < 3; i++)
            Assert.Equal(Theta0[i] - 0.15811388300841897 * Math.Sign(Gradients[0][i]), p.Value.Data[i], 1e-6);
    }
}
