using System.Numerics;
using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>
/// RMSprop (torch.optim.RMSprop), optionally centered and with momentum. For t = 1, 2, …:
/// <code>
/// g ← ∇θ + λ·θ                                  (λ = weightDecay)
/// v ← α·v + (1 − α)·g²                           (α = alpha)
/// ṽ ← v
/// if centered:  ḡ ← α·ḡ + (1 − α)·g;   ṽ ← v − ḡ²
/// if μ &gt; 0:    b ← μ·b + g / (√ṽ + ε);   θ ← θ − γ·b
/// else          θ ← θ − γ·g / (√ṽ + ε)
/// </code>
/// Slots: <c>square_avg</c>; <c>momentum_buffer</c> when μ &gt; 0; <c>grad_avg</c> when centered.
/// </summary>
public sealed class RmsProp : Optimizer
{
    private readonly float[][] _squareAvg;
    private readonly float[][]? _momentumBuffer;
    private readonly float[][]? _gradAvg;

    public double Alpha { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    public double Momentum { get; }
    public bool Centered { get; }

    /// <param name="parameters">Parameters to update; names must be unique.</param>
    /// <param name="learningRate">γ ≥ 0.</param>
    /// <param name="alpha">Smoothing constant α in [0, 1).</param>
    /// <param name="epsilon">ε ≥ 0, added to √ṽ.</param>
    /// <param name="weightDecay">λ ≥ 0, added to the gradient as λ·θ (L2).</param>
    /// <param name="momentum">μ ≥ 0; 0 disables the momentum buffer.</param>
    /// <param name="centered">Normalise by an estimate of the gradient's variance instead of its second moment.</param>
    public RmsProp(IReadOnlyList<Parameter> parameters, double learningRate = 1e-2, double alpha = 0.99,
        double epsilon = 1e-8, double weightDecay = 0, double momentum = 0, bool centered = false)
        : base(parameters, learningRate)
    {
        Alpha = HyperParameter.Fraction(alpha, nameof(alpha));
        Epsilon = HyperParameter.NonNegative(epsilon, nameof(epsilon));
        WeightDecay = HyperParameter.NonNegative(weightDecay, nameof(weightDecay));
        Momentum = HyperParameter.NonNegative(momentum, nameof(momentum));
        Centered = centered;
        _squareAvg = AddSlot("square_avg");
        if (momentum > 0) _momentumBuffer = AddSlot("momentum_buffer");
        if (centered) _gradAvg = AddSlot("grad_avg");
    }

    protected override void Update(int index, Span<float> value, ReadOnlySpan<float> grad)
    {
        float lr = (float)LearningRate, wd = (float)WeightDecay, eps = (float)Epsilon;
        float alpha = (float)Alpha, oneMinusAlpha = (float)(1 - Alpha), mu = (float)Momentum;
        float[] v = _squareAvg[index];
        float[]? buf = _momentumBuffer?[index];
        float[]? gAvg = _gradAvg?[index];
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            // The scalar loop's operations, in its order, on whole vectors: the same bits (as Adam's update).
            Vector<float> rate = new(lr), decay = new(wd), epsilon = new(eps), a = new(alpha), c = new(oneMinusAlpha), momentum = new(mu);
            for (int w = Vector<float>.Count; i + w <= value.Length; i += w)
            {
                var theta = new Vector<float>(value[i..]);
                var g = new Vector<float>(grad[i..]) + decay * theta;
                var vi = a * new Vector<float>(v, i) + c * g * g;
                vi.CopyTo(v, i);
                var variance = vi;
                if (gAvg is not null)
                {
                    var mean = a * new Vector<float>(gAvg, i) + c * g;
                    mean.CopyTo(gAvg, i);
                    variance -= mean * mean;
                }
                var scaled = g / (Vector.SquareRoot(variance) + epsilon);
                if (buf is not null)
                {
                    scaled = momentum * new Vector<float>(buf, i) + scaled;
                    scaled.CopyTo(buf, i);
                }
                (theta - rate * scaled).CopyTo(value[i..]);
            }
        }
        for (; i < value.Length; i++)
        {
            float g = grad[i] + wd * value[i];
            v[i] = alpha * v[i] + oneMinusAlpha * g * g;
            float variance = v[i];
            if (gAvg is not null)
            {
                gAvg[i] = alpha * gAvg[i] + oneMinusAlpha * g;
                variance -= gAvg[i] * gAvg[i];
            }
            float scaled = g / (MathF.Sqrt(variance) + eps);
            if (buf is not null)
            {
                buf[i] = mu * buf[i] + scaled;
                scaled = buf[i];
            }
            value[i] -= lr * scaled;
        }
    }

    public override string ToString() =>
        $"RmsProp(lr={LearningRate}, alpha={Alpha}, eps={Epsilon}, weightDecay={WeightDecay}, momentum={Momentum}, centered={Centered})";
}
