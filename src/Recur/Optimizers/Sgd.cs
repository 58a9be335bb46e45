using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>
/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight decay
/// (torch.optim.SGD). For t = 1, 2, …:
/// <code>
/// g ← ∇θ + λ·θ                                  (λ = weightDecay)
/// if μ ≠ 0:                                      (μ = momentum, τ = dampening)
///     b ← g                     if t = 1
///     b ← μ·b + (1 − τ)·g       otherwise
///     g ← g + μ·b  if nesterov,  else  g ← b
/// θ ← θ − γ·g
/// </code>
/// Slot: <c>momentum_buffer</c> (only when μ ≠ 0).
/// </summary>
public sealed class Sgd : Optimizer
{
    private readonly float[][]? _momentumBuffer;

    public double Momentum { get; }
    public double Dampening { get; }
    public bool Nesterov { get; }
    public double WeightDecay { get; }

    /// <param name="parameters">Parameters to update; names must be unique.</param>
    /// <param name="learningRate">γ ≥ 0.</param>
    /// <param name="momentum">μ ≥ 0; 0 disables the momentum buffer.</param>
    /// <param name="dampening">τ in [0, 1]; not applied at the first momentum step.</param>
    /// <param name="nesterov">Nesterov momentum; needs μ &gt; 0 and τ = 0.</param>
    /// <param name="weightDecay">λ ≥ 0, added to the gradient as λ·θ (L2).</param>
    public Sgd(IReadOnlyList<Parameter> parameters, double learningRate, double momentum = 0, double dampening = 0,
        bool nesterov = false, double weightDecay = 0)
        : base(parameters, learningRate)
    {
        Momentum = HyperParameter.NonNegative(momentum, nameof(momentum));
        Dampening = HyperParameter.Fraction(dampening, nameof(dampening), allowOne: true);
        WeightDecay = HyperParameter.NonNegative(weightDecay, nameof(weightDecay));
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new ArgumentException(
                $"Argument 'nesterov' requires momentum > 0 and dampening = 0; found momentum = {momentum}, " +
                $"dampening = {dampening}.", nameof(nesterov));
        Nesterov = nesterov;
        if (momentum != 0) _momentumBuffer = AddSlot("momentum_buffer");
    }

    protected override void Update(int index, Span<float> value, ReadOnlySpan<float> grad)
    {
        float lr = (float)LearningRate, wd = (float)WeightDecay;
        float mu = (float)Momentum, oneMinusTau = (float)(1 - Dampening);
        float[]? buf = _momentumBuffer?[index];
        bool first = StepCount == 1;
        for (int i = 0; i < value.Length; i++)
        {
            float g = grad[i] + wd * value[i];
            if (buf is not null)
            {
                buf[i] = first ? g : mu * buf[i] + oneMinusTau * g;
                g = Nesterov ? g + mu * buf[i] : buf[i];
            }
            value[i] -= lr * g;
        }
    }

    public override string ToString() =>
        $"Sgd(lr={LearningRate}, momentum={Momentum}, dampening={Dampening}, nesterov={Nesterov}, weightDecay={WeightDecay})";
}
