using Recur.Optimizers;
using Xunit;
using static Recur.Tests.Optimizers.OptimizerTestKit;

namespace Recur.Tests.Optimizers;

public class NadamTests
{
    private const double Lr = 0.1, Beta1 = 0.8, Beta2 = 0.9, Eps = 1e-8;

    /// <summary>torch.optim.NAdam's documented rule, written out in double.</summary>
    private static double[][] Reference(double lambda, double psi)
    {
        double[] theta = Theta0;
        double[] m = new double[3], v = new double[3];
        double muProduct = 1;
        var trajectory = new double[3][];
        for (int t = 1; t <= 3; t++)
        {
            double mu = Beta1 * (1 - 0.5 * Math.Pow(0.96, t * psi));            // μ_t
            double muNext = Beta1 * (1 - 0.5 * Math.Pow(0.96, (t + 1) * psi));  // μ_{t+1}
            muProduct *= mu;                                                     // Π_{i≤t} μ_i
            for (int i = 0; i < 3; i++)
            {
                double g = Gradients[t - 1][i] + lambda * theta[i];   // g_t ← ∇ + λ·θ_{t−1}
                m[i] = Beta1 * m[i] + (1 - Beta1) * g;                // m_t
                v[i] = Beta2 * v[i] + (1 - Beta2) * g * g;            // v_t
                double mHat = muNext * m[i] / (1 - muProduct * muNext)   // μ_{t+1}·m_t / (1 − Π_{i≤t+1} μ_i)
                    + (1 - mu) * g / (1 - muProduct);                    // + (1 − μ_t)·g_t / (1 − Π_{i≤t} μ_i)
                double vHat = v[i] / (1 - Math.Pow(Beta2, t));        // v̂_t ← v_t / (1 − β₂ᵗ)
                theta[i] -= Lr * mHat / (Math.Sqrt(vHat) + Eps);      // θ_t ← θ_{t−1} − γ·m̂_t / (√v̂_t + ε)
            }
            trajectory[t - 1] = (double[])theta.Clone();
        }
        return trajectory;
    }

    [Theory]
    [InlineData(0.0, 4e-3)]
    [InlineData(0.1, 4e-3)]
    [InlineData(0.0, 0.5)]
    public void FirstThreeStepsFollowTheDocumentedRule(double lambda, double psi)
    {
        double[][] expected = Reference(lambda, psi);
        AssertTrajectory(p => new Nadam([p], Lr, Beta1, Beta2, Eps, lambda, psi), expected);
    }

    [Fact]
    public void FirstStepGolden()
    {
        // Defaults (β₁ = 0.9, ψ = 4e-3), t = 1: m̂/√v̂ = sign(g)·(1 + (1 − β₁)·μ₂/(1 − μ₁μ₂)) with
        // μ₁ = 0.450073474, μ₂ = 0.450146935, i.e. Δθ = −γ·1.05645178·sign(g).
        var p = NewParameter("w", Theta0);
        var nadam = new Nadam([p], learningRate: 0.1);
        SetGrad(p, Gradients[0]);
        nadam.Step();
        for (int i = 0; i < 3; i++)
            Assert.Equal(Theta0[i] - 0.1 * 1.0564517783553882 * Math.Sign(Gradients[0][i]), p.Value.Data[i], 1e-6);
    }
}
