using Recur.Optimizers;
using Xunit;
using static Recur.Tests.Optimizers.OptimizerTestKit;

namespace Recur.Tests.Optimizers;

public class AdamTests
{
    // Non-default betas so that bias corrections and AMSGrad's maximum change the result within three steps.
    private const double Lr = 0.1, Beta1 = 0.8, Beta2 = 0.9, Eps = 1e-8;

    /// <summary>
    /// torch.optim.Adam / AdamW (PyTorch 2.x), written out in double. AMSGrad keeps the maximum of the raw v and
    /// bias-corrects it with the current step's (1 − β₂ᵗ), as PyTorch's implementation and 2.x docs do.
    /// </summary>
    private static double[][] Reference(double lambda, bool decoupled, bool amsgrad)
    {
        double[] theta = Theta0;
        double[] m = new double[3], v = new double[3], vMax = new double[3];
        var trajectory = new double[3][];
        for (int t = 1; t <= 3; t++)
        {
            for (int i = 0; i < 3; i++)
            {
                double g = Gradients[t - 1][i];
                if (decoupled) theta[i] -= Lr * lambda * theta[i];    // AdamW: θ ← θ − γ·λ·θ
                else g += lambda * theta[i];                          // Adam:  g ← g + λ·θ
                m[i] = Beta1 * m[i] + (1 - Beta1) * g;                // m_t ← β₁·m_{t−1} + (1 − β₁)·g_t
                v[i] = Beta2 * v[i] + (1 - Beta2) * g * g;            // v_t ← β₂·v_{t−1} + (1 − β₂)·g_t²
                double mHat = m[i] / (1 - Math.Pow(Beta1, t));        // m̂_t ← m_t / (1 − β₁ᵗ)
                vMax[i] = Math.Max(vMax[i], v[i]);                    // v_t^max ← max(v_{t−1}^max, v_t)
                double vHat = (amsgrad ? vMax[i] : v[i]) / (1 - Math.Pow(Beta2, t)); // v̂_t ← v / (1 − β₂ᵗ)
                theta[i] -= Lr * mHat / (Math.Sqrt(vHat) + Eps);      // θ_t ← θ_{t−1} − γ·m̂_t / (√v̂_t + ε)
            }
            trajectory[t - 1] = (double[])theta.Clone();
        }
        return trajectory;
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(0.1, false)]
    [InlineData(0.0, true)]
    [InlineData(0.1, true)]
    public void AdamFirstThreeStepsFollowTheDocumentedRule(double lambda, bool amsgrad)
    {
        double[][] expected = Reference(lambda, decoupled: false, amsgrad);
        if (lambda != 0 || amsgrad) AssertDiffer(expected, Reference(0, false, false));
        AssertTrajectory(p => new Adam([p], Lr, Beta1, Beta2, Eps, lambda, amsgrad), expected);
    }

    [Theory]
    [InlineData(0.01, false)]
    [InlineData(0.5, false)]
    [InlineData(0.5, true)]
    public void AdamWFirstThreeStepsFollowTheDocumentedRule(double lambda, bool amsgrad)
    {
        double[][] expected = Reference(lambda, decoupled: true, amsgrad);
        AssertDiffer(expected, Reference(lambda, decoupled: false, amsgrad));
        AssertTrajectory(p => new AdamW([p], Lr, Beta1, Beta2, Eps, lambda, amsgrad), expected);
    }

    [Fact]
    public void AdamFirstStepMovesEachValueByMinusLearningRateTimesSign()
    {
        // t = 1: m̂ = g, v̂ = g², so Δθ = −γ·g/(|g| + ε) = −γ·sign(g) up to ε/|g| (here ≤ 2e-8 relative).
        var p = NewParameter("w", Theta0);
        var adam = new Adam([p], learningRate: 0.1);
        SetGrad(p, Gradients[0]);
        adam.Step();
        for (int i = 0; i < 3; i++)
            Assert.Equal(Theta0[i] - 0.1 * Math.Sign(Gradients[0][i]), p.Value.Data[i], 1e-6);
    }

    [Fact]
    public void AdamWWithZeroGradientOnlyDecays()
    {
        // g = 0 → m = v = 0 and the Adam term is 0/ε = 0: θ_1 = θ_0·(1 − γ·λ) = θ_0·(1 − 0.1·0.5).
        var p = NewParameter("w", Theta0);
        var adamW = new AdamW([p], learningRate: 0.1, weightDecay: 0.5);
        SetGrad(p, [0.0, 0.0, 0.0]);
        adamW.Step();
        for (int i = 0; i < 3; i++) Assert.Equal(Theta0[i] * 0.95, p.Value.Data[i], 1e-7);
    }

    [Fact]
    public void DefaultsArePyTorchs()
    {
        var p = NewParameter("w", 1.0);
        var adam = new Adam([p]);
        Assert.Equal((1e-3, 0.9, 0.999, 1e-8, 0.0, false),
            (adam.LearningRate, adam.Beta1, adam.Beta2, adam.Epsilon, adam.WeightDecay, adam.Amsgrad));
        var adamW = new AdamW([p]);
        Assert.Equal((1e-3, 0.9, 0.999, 1e-8, 1e-2), (adamW.LearningRate, adamW.Beta1, adamW.Beta2, adamW.Epsilon, adamW.WeightDecay));
        var nadam = new Nadam([p]);
        Assert.Equal((2e-3, 0.9, 0.999, 1e-8, 0.0, 4e-3),
            (nadam.LearningRate, nadam.Beta1, nadam.Beta2, nadam.Epsilon, nadam.WeightDecay, nadam.MomentumDecay));
        var rms = new RmsProp([p]);
        Assert.Equal((1e-2, 0.99, 1e-8, 0.0, 0.0, false),
            (rms.LearningRate, rms.Alpha, rms.Epsilon, rms.WeightDecay, rms.Momentum, rms.Centered));
    }
}
