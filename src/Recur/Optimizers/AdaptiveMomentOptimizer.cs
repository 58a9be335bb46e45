using System.Numerics;
using Recur.Autograd;
using Recur.Tensors;

namespace Recur.Optimizers;

/// <summary>
/// The shared core of <see cref="Adam"/>, <see cref="AdamW"/> and <see cref="Nadam"/>: one update loop whose
/// variants are settings. For t = 1, 2, …:
/// <code>
/// θ ← θ·(1 − γ·λ)                                if decoupled      (AdamW)
/// g ← ∇θ + λ·θ                                  if not decoupled  (L2)
/// m ← β₁·m + (1 − β₁)·g
/// v ← β₂·v + (1 − β₂)·g²
/// v ← v_max ← max(v_max, v)                      if amsgrad (v itself keeps the running average)
/// d ← √v / √(1 − β₂ᵗ) + ε                        (= √v̂ + ε)
/// θ ← θ − a_t·m/d − c_t·g/d
/// </code>
/// with the per-step coefficients (a_t, c_t) from <see cref="StepCoefficients"/>: Adam's a_t = γ/(1 − β₁ᵗ),
/// c_t = 0; Nadam adds a term in the current gradient. Coefficients are computed in double and cast once per step.
/// Slots: <c>exp_avg</c> (m), <c>exp_avg_sq</c> (v), and <c>max_exp_avg_sq</c> (v_max) with amsgrad.
/// </summary>
public abstract class AdaptiveMomentOptimizer : Optimizer
{
    private readonly float[][] _expAvg;
    private readonly float[][] _expAvgSq;
    private readonly float[][]? _maxExpAvgSq;
    private readonly bool _decoupledWeightDecay;

    // Per-step float32 constants, set in BeginStep.
    private float _decayFactor, _l2, _momentCoefficient, _gradCoefficient, _sqrtBiasCorrection2;

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    public bool Amsgrad { get; }

    private protected AdaptiveMomentOptimizer(IReadOnlyList<Parameter> parameters, double learningRate,
        double beta1, double beta2, double epsilon, double weightDecay, bool decoupledWeightDecay, bool amsgrad)
        : base(parameters, learningRate)
    {
        Beta1 = HyperParameter.Fraction(beta1, nameof(beta1));
        Beta2 = HyperParameter.Fraction(beta2, nameof(beta2));
        Epsilon = HyperParameter.NonNegative(epsilon, nameof(epsilon));
        WeightDecay = HyperParameter.NonNegative(weightDecay, nameof(weightDecay));
        Amsgrad = amsgrad;
        _decoupledWeightDecay = decoupledWeightDecay;
        _expAvg = AddSlot("exp_avg");
        _expAvgSq = AddSlot("exp_avg_sq");
        if (amsgrad) _maxExpAvgSq = AddSlot("max_exp_avg_sq");
        _updatePart = UpdatePart;
    }

    /// <summary>
    /// The step's coefficients of m/d and g/d for t = <see cref="Optimizer.StepCount"/>; called exactly once per
    /// step, so a variant may advance scalar state here.
    /// </summary>
    private protected virtual (double Moment, double Gradient) StepCoefficients(long t) =>
        (LearningRate / (1 - Math.Pow(Beta1, t)), 0);

    protected sealed override void BeginStep()
    {
        long t = StepCount;
        (double moment, double gradient) = StepCoefficients(t);
        _momentCoefficient = (float)moment;
        _gradCoefficient = (float)gradient;
        _sqrtBiasCorrection2 = (float)Math.Sqrt(1 - Math.Pow(Beta2, t));
        _decayFactor = _decoupledWeightDecay ? (float)(1 - LearningRate * WeightDecay) : 1f;
        _l2 = _decoupledWeightDecay ? 0f : (float)WeightDecay;
    }

    /// <summary>
    /// Fewest values of one parameter whose update is split over the threads by element ranges: the update is a
    /// memory-bound pass (config d's 8.4M parameters took 6.5 ms per step on one thread), and each element's
    /// arithmetic does not depend on the split, so the bits do not either.
    /// </summary>
    internal const int MinValuesToSplit = 1 << 18;

    // The parameter being updated by parts (raw pointers, pinned by Update for the duration of the parallel call).
    private readonly Action<int> _updatePart;
    private unsafe float* _partValue, _partGrad;
    private int _partIndex, _partLength, _partSize;

    protected sealed override unsafe void Update(int index, Span<float> value, ReadOnlySpan<float> grad)
    {
        int parts = value.Length < MinValuesToSplit ? 1 : Engine.AvailableThreads;
        if (parts == 1)
        {
            UpdateRange(index, 0, value, grad);
            return;
        }
        fixed (float* pv = value, pg = grad)
        {
            _partValue = pv;
            _partGrad = pg;
            (_partIndex, _partLength) = (index, value.Length);
            _partSize = ((value.Length + parts - 1) / parts + 63) / 64 * 64; // whole cache lines (and vectors) per part
            Engine.Run(parts, _updatePart);
        }
    }

    /// <summary>Part <paramref name="part"/> of the parameter set up by <see cref="Update"/>.</summary>
    private unsafe void UpdatePart(int part)
    {
        int start = Math.Min(_partLength, part * _partSize), length = Math.Min(_partSize, _partLength - start);
        UpdateRange(_partIndex, start, new Span<float>(_partValue + start, length), new ReadOnlySpan<float>(_partGrad + start, length));
    }

    /// <summary>Updates values [offset, offset + value.Length) of parameter <paramref name="index"/>.</summary>
    private void UpdateRange(int index, int offset, Span<float> value, ReadOnlySpan<float> grad)
    {
        float beta1 = (float)Beta1, oneMinusBeta1 = (float)(1 - Beta1);
        float beta2 = (float)Beta2, oneMinusBeta2 = (float)(1 - Beta2);
        float eps = (float)Epsilon;
        var m = _expAvg[index].AsSpan(offset, value.Length);
        var v = _expAvgSq[index].AsSpan(offset, value.Length);
        var vMax = _maxExpAvgSq is null ? default : _maxExpAvgSq[index].AsSpan(offset, value.Length);
        bool amsgrad = _maxExpAvgSq is not null;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            // The scalar loop's operations, in its order, on whole vectors (no fused multiply-adds in either), so
            // every element gets the same bits; a large model's update is a pass over memory instead of a scalar
            // loop with a square root and two divisions per element.
            Vector<float> decay = new(_decayFactor), l2 = new(_l2), b1 = new(beta1), c1 = new(oneMinusBeta1);
            Vector<float> b2 = new(beta2), c2 = new(oneMinusBeta2), correction = new(_sqrtBiasCorrection2), epsilon = new(eps);
            Vector<float> momentCoefficient = new(_momentCoefficient), gradCoefficient = new(_gradCoefficient);
            for (int w = Vector<float>.Count; i + w <= value.Length; i += w)
            {
                var theta = new Vector<float>(value[i..]) * decay;
                var g = new Vector<float>(grad[i..]) + l2 * theta;
                var mi = b1 * new Vector<float>(m[i..]) + c1 * g;
                var vi = b2 * new Vector<float>(v[i..]) + c2 * g * g;
                mi.CopyTo(m[i..]);
                vi.CopyTo(v[i..]);
                var second = vi;
                if (amsgrad)
                {
                    second = Vector.Max(new Vector<float>(vMax[i..]), vi);
                    second.CopyTo(vMax[i..]);
                }
                var denom = Vector.SquareRoot(second) / correction + epsilon;
                (theta - momentCoefficient * (mi / denom) - gradCoefficient * (g / denom)).CopyTo(value[i..]);
            }
        }
        for (; i < value.Length; i++)
        {
            float theta = value[i] * _decayFactor;
            float g = grad[i] + _l2 * theta;
            m[i] = beta1 * m[i] + oneMinusBeta1 * g;
            v[i] = beta2 * v[i] + oneMinusBeta2 * g * g;
            float second = amsgrad ? vMax[i] = MathF.Max(vMax[i], v[i]) : v[i];
            float denom = MathF.Sqrt(second) / _sqrtBiasCorrection2 + eps;
            value[i] = theta - _momentCoefficient * (m[i] / denom) - _gradCoefficient * (g / denom);
        }
    }
}
