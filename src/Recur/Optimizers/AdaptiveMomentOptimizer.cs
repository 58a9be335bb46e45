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
        _updated = new int[Parameters.Count];
        _updatedStart = new int[Parameters.Count];
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
    /// Fewest values, over all the parameters a step updates, for which the step is one parallel phase: the threads
    /// take equal element ranges of the parameters laid end to end, so a model of many mid-sized parameters is split
    /// too (it used to be split parameter by parameter, a phase each, only those of 2^18 values or more). Each
    /// element's arithmetic does not depend on the split, so the bits do not either. A split moves data between the
    /// cores: the other thread reads its share of the gradients and writes its share of the values, which the next
    /// step's forward pass reads on the caller. While the host makes cross-core hand-offs slow (<c>recur bench</c>
    /// measures a cache line's round trip at 300–350 ns at times, 60–75 at others), that costs more than it saves for
    /// a small model: config a's training step (19K values, 8.5 µs of update on one thread), in blocks of 100 steps
    /// alternating, took 1.400 against 1.313 ms and 1.475 against 1.399 ms with its update split (1.080 against 1.082
    /// ms while hand-offs were fast). Config b's 824K values take 196 µs split against 387 on one thread
    /// (KernelTiming o).
    /// </summary>
    internal const int MinValuesToSplit = 1 << 18;

    // This step's parameters with gradients and where each starts in the end-to-end order, for the parts.
    private readonly int[] _updated, _updatedStart;
    private int _updatedCount, _partSize;
    private readonly Action<int> _updatePart;

    /// <summary>
    /// One update of every parameter that has a gradient (t = <see cref="Optimizer.StepCount"/> + 1): on the calling
    /// thread, or split over the threads (<see cref="MinValuesToSplit"/>).
    /// </summary>
    public sealed override void Step()
    {
        StepCount++;
        BeginStep();
        int total = 0;
        _updatedCount = 0;
        for (int i = 0; i < Parameters.Count; i++)
        {
            if (!Parameters[i].HasGrad) continue;
            _updated[_updatedCount] = i;
            _updatedStart[_updatedCount++] = total;
            total += Parameters[i].Value.Length;
        }
        int parts = total < MinValuesToSplit ? 1 : Engine.AvailableThreads;
        _partSize = ((total + parts - 1) / parts + 63) / 64 * 64; // whole cache lines (and vectors) per part
        if (parts == 1) UpdatePart(0);
        else Engine.Run(parts, _updatePart);
    }

    /// <summary>One parameter's whole update (the base class's contract; <see cref="Step"/> splits the work itself).</summary>
    protected sealed override void Update(int index, Span<float> value, ReadOnlySpan<float> grad) => UpdateRange(index, 0, value, grad);

    /// <summary>Elements [part·size, (part + 1)·size) of this step's parameters laid end to end.</summary>
    private void UpdatePart(int part)
    {
        long start = (long)part * _partSize, end = start + _partSize;
        for (int k = 0; k < _updatedCount; k++)
        {
            var p = Parameters[_updated[k]];
            int first = _updatedStart[k], length = p.Value.Length;
            int from = (int)Math.Max(0, start - first), to = (int)Math.Min(length, end - first);
            if (from < to)
                UpdateRange(_updated[k], from, p.Value.Data.AsSpan(from, to - from), p.Grad.Data.AsSpan(from, to - from));
        }
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
        // Adam's and AdamW's c_t is 0: their update skips the term (a division per element) rather than subtract 0.
        bool gradientTerm = _gradCoefficient != 0;
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
                var updated = theta - momentCoefficient * (mi / denom);
                if (gradientTerm) updated -= gradCoefficient * (g / denom);
                updated.CopyTo(value[i..]);
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
            value[i] = theta - _momentCoefficient * (m[i] / denom);
            if (gradientTerm) value[i] -= _gradCoefficient * (g / denom);
        }
    }
}
