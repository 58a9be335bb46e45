using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>
/// NAdam (torch.optim.NAdam): Adam with Nesterov momentum and Dozat's momentum schedule. For t = 1, 2, …
/// (ψ = momentumDecay):
/// <code>
/// μ_t   = β₁·(1 − ½·0.96^(t·ψ))
/// μ_t+1 = β₁·(1 − ½·0.96^((t+1)·ψ))
/// Π_t   = μ_1·…·μ_t                                   (state: mu_product)
/// θ ← θ − γ·(1 − μ_t)/(1 − Π_t)·g/d − γ·μ_t+1/(1 − Π_t·μ_t+1)·m/d,   d = √v̂ + ε
/// </code>
/// with g, m, v and weight decay (L2) as in <see cref="AdaptiveMomentOptimizer"/>. Π is kept in double and
/// exported as the scalar <c>mu_product</c>.
/// </summary>
public sealed class Nadam : AdaptiveMomentOptimizer
{
    private const string MuProductKey = "mu_product";
    private double _muProduct = 1;

    public double MomentumDecay { get; }

    /// <param name="parameters">Parameters to update; names must be unique.</param>
    /// <param name="learningRate">γ ≥ 0.</param>
    /// <param name="beta1">First-moment decay β₁ in [0, 1).</param>
    /// <param name="beta2">Second-moment decay β₂ in [0, 1).</param>
    /// <param name="epsilon">ε ≥ 0, added to √v̂.</param>
    /// <param name="weightDecay">λ ≥ 0, added to the gradient as λ·θ (L2).</param>
    /// <param name="momentumDecay">ψ ≥ 0 in the momentum schedule μ_t.</param>
    public Nadam(IReadOnlyList<Parameter> parameters, double learningRate = 2e-3, double beta1 = 0.9,
        double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0, double momentumDecay = 4e-3)
        : base(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupledWeightDecay: false, amsgrad: false)
    {
        MomentumDecay = HyperParameter.NonNegative(momentumDecay, nameof(momentumDecay));
    }

    private protected override (double Moment, double Gradient) StepCoefficients(long t)
    {
        double mu = Beta1 * (1 - 0.5 * Math.Pow(0.96, t * MomentumDecay));
        double muNext = Beta1 * (1 - 0.5 * Math.Pow(0.96, (t + 1) * MomentumDecay));
        _muProduct *= mu;
        return (LearningRate * muNext / (1 - _muProduct * muNext), LearningRate * (1 - mu) / (1 - _muProduct));
    }

    protected override void ExportScalars(IDictionary<string, double> scalars) => scalars[MuProductKey] = _muProduct;

    protected override void ImportScalars(IReadOnlyDictionary<string, double> scalars) =>
        _muProduct = scalars[MuProductKey];

    public override string ToString() =>
        $"Nadam(lr={LearningRate}, betas=({Beta1}, {Beta2}), eps={Epsilon}, weightDecay={WeightDecay}, momentumDecay={MomentumDecay})";
}
