using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>
/// Adam (torch.optim.Adam) with weight decay as an L2 term added to the gradient and optional AMSGrad:
/// m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), θ ← θ − γ·m̂/(√v̂ + ε). See <see cref="AdaptiveMomentOptimizer"/>.
/// </summary>
public sealed class Adam : AdaptiveMomentOptimizer
{
    /// <param name="parameters">Parameters to update; names must be unique.</param>
    /// <param name="learningRate">γ ≥ 0.</param>
    /// <param name="beta1">First-moment decay β₁ in [0, 1).</param>
    /// <param name="beta2">Second-moment decay β₂ in [0, 1).</param>
    /// <param name="epsilon">ε ≥ 0, added to √v̂.</param>
    /// <param name="weightDecay">λ ≥ 0, added to the gradient as λ·θ (L2; for decoupled decay use <see cref="AdamW"/>).</param>
    /// <param name="amsgrad">Normalise by the running maximum of v.</param>
    public Adam(IReadOnlyList<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9,
        double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0, bool amsgrad = false)
        : base(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupledWeightDecay: false, amsgrad)
    {
    }

    public override string ToString() =>
        $"Adam(lr={LearningRate}, betas=({Beta1}, {Beta2}), eps={Epsilon}, weightDecay={WeightDecay}, amsgrad={Amsgrad})";
}
