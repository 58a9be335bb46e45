using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>
/// AdamW (torch.optim.AdamW): Adam with decoupled weight decay, θ ← θ − γ·λ·θ before the Adam update; the
/// gradient itself is not decayed. See <see cref="AdaptiveMomentOptimizer"/>.
/// </summary>
public sealed class AdamW : AdaptiveMomentOptimizer
{
    /// <param name="parameters">Parameters to update; names must be unique.</param>
    /// <param name="learningRate">γ ≥ 0.</param>
    /// <param name="beta1">First-moment decay β₁ in [0, 1).</param>
    /// <param name="beta2">Second-moment decay β₂ in [0, 1).</param>
    /// <param name="epsilon">ε ≥ 0, added to √v̂.</param>
    /// <param name="weightDecay">λ ≥ 0; each step multiplies θ by (1 − γ·λ).</param>
    /// <param name="amsgrad">Normalise by the running maximum of v.</param>
    public AdamW(IReadOnlyList<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 1e-2, bool amsgrad = false)
        : base(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupledWeightDecay: true, amsgrad)
    {
    }

    public override string ToString() =>
        $"AdamW(lr={LearningRate}, betas=({Beta1}, {Beta2}), eps={Epsilon}, weightDecay={WeightDecay}, amsgrad={Amsgrad})";
}
