using System.Text.Json;
using System.Text.Json.Serialization;
using Recur.Layers;
using Recur.Training.Checkpoints;

namespace Recur.Training.Callbacks;

/// <summary>One epoch of gradient flow, averaged over its applied steps.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="GroupNames">Parameter groups: embedding, each recurrent layer, head.</param>
/// <param name="GradientNorms">Mean gradient norm per group (before clipping).</param>
/// <param name="UpdateRatios">Mean ‖Δθ‖ / ‖θ‖ per group for one step.</param>
/// <param name="StepGradientNorms">Mean ‖dL/dh_t‖ per recurrent layer and step: [L][T].</param>
/// <param name="SaturatedFraction">Mean fraction of saturated gates per recurrent layer: [L].</param>
/// <param name="ClippedFraction">Share of steps whose gradient norm exceeded the clip limit.</param>
public sealed record GradientFlowEpoch(int Epoch, string[] GroupNames, double[] GradientNorms, double[] UpdateRatios,
    double[][] StepGradientNorms, double[] SaturatedFraction, double ClippedFraction)
{
    /// <summary>‖dL/dh_1‖ / ‖dL/dh_T‖ per layer: how much of the gradient survives the trip back through time.</summary>
    public double[] TimeRatios => StepGradientNorms.Select(n => n.Length > 1 && n[^1] > 0 ? n[0] / n[^1] : 1).ToArray();
}

/// <summary>
/// Watches gradients while training and explains what goes wrong: per parameter group the gradient norm and the
/// update/weight ratio each step; per recurrent layer ‖dL/dh_t‖ for every step t and the fraction of saturated
/// gates. Raises each alarm once, with advice: gradients vanishing through time, gradient norms exploding
/// (spikes, or clipping active on most steps).
/// </summary>
public sealed class GradientFlowMonitor : TrainingCallback, ICheckpointable
{
    private readonly GradientFlowProbe _probe = new();
    private const int RecentSteps = 200;
    private const double ClippedNormFactor = 10;
    private const int SpikeBaselineSteps = 3;
    private readonly List<double> _norms = []; // the last RecentSteps gradient norms, for spike detection
    private IReadOnlyList<(string Group, IReadOnlyList<Autograd.Parameter> Parameters)> _groups = [];
    private float[][][] _before = [];
    private double[] _gradSum = [], _ratioSum = [], _saturationSum = [];
    private double[][] _stepSum = [];
    private int[] _stepCount = []; // batches that reached each step (variable-length batches differ)
    private int _steps, _clipped;
    private bool _vanishingRaised, _explodingRaised;

    /// <param name="vanishingRatio">Alarm when ‖dL/dh_1‖ / ‖dL/dh_T‖ falls below this in an epoch after the first.</param>
    /// <param name="spikeFactor">Alarm when a step's gradient norm exceeds this multiple of the median so far.</param>
    /// <param name="clippedShare">Alarm when more than this share of an epoch's steps were clipped, at a median norm over 10× the limit, after the first epoch.</param>
    public GradientFlowMonitor(double vanishingRatio = 1e-4, double spikeFactor = 50, double clippedShare = 0.5)
    {
        (VanishingRatio, SpikeFactor, ClippedShare) = (vanishingRatio, spikeFactor, clippedShare);
    }

    public double VanishingRatio { get; }
    public double SpikeFactor { get; }
    public double ClippedShare { get; }

    public List<GradientFlowEpoch> Epochs { get; } = [];

    /// <summary>Every alarm raised, in order (each kind at most once).</summary>
    public List<string> Alarms { get; } = [];

    public override void OnTrainBegin(TrainingContext context)
    {
        context.Model.Encoder.Probe = _probe;
        _groups = context.Model.ParameterGroups();
        _before = _groups.Select(g => g.Parameters.Select(p => new float[p.Value.Length]).ToArray()).ToArray();
    }

    public override void OnEpochBegin(TrainingContext context)
    {
        _gradSum = new double[_groups.Count];
        _ratioSum = new double[_groups.Count];
        _saturationSum = new double[context.Model.Encoder.NumLayers];
        (_stepSum, _stepCount) = ([], []);
        (_steps, _clipped) = (0, 0);
    }

    public override void OnAfterBackward(TrainingContext context, double loss)
    {
        for (int g = 0; g < _groups.Count; g++)
            for (int i = 0; i < _groups[g].Parameters.Count; i++)
                _groups[g].Parameters[i].Value.Data.CopyTo(_before[g][i], 0);
    }

    public override void OnBatchEnd(TrainingContext context, BatchRecord batch)
    {
        if (batch.Skipped || !double.IsFinite(batch.GradientNorm))
        {
            Raise(ref _explodingRaised, context, $"exploding gradients: a step produced a non-finite loss or gradient (norm {batch.GradientNorm}). " +
                "Lower --lr (try a tenth), keep --clip on (e.g. --clip 1), and use lstm or gru rather than rnn.");
            return;
        }
        _steps++;
        if (context.Options.Clip > 0 && batch.GradientNorm > context.Options.Clip) _clipped++;
        // Three steps are enough of a baseline: a too-high rate blows up within the first few steps, and waiting
        // for ten missed such runs (norm 2 → 500 → 9e4 by step 8, then settling).
        if (_norms.Count >= SpikeBaselineSteps)
        {
            double median = Median(_norms);
            if (batch.GradientNorm > SpikeFactor * median)
                Raise(ref _explodingRaised, context, $"exploding gradients: the gradient norm jumped to {batch.GradientNorm:G3}, {batch.GradientNorm / median:F0}× the median {median:G3} of recent steps. " +
                    $"Lower --lr (now {context.Optimizer.LearningRate:G3}; try a tenth) or {(context.Options.Clip > 0 ? "lower" : "set")} --clip (clipping by global norm, e.g. 1).");
        }
        _norms.Add(batch.GradientNorm);
        if (_norms.Count > RecentSteps) _norms.RemoveAt(0);

        for (int g = 0; g < _groups.Count; g++)
        {
            double grad = 0, delta = 0, weight = 0;
            for (int i = 0; i < _groups[g].Parameters.Count; i++)
            {
                var p = _groups[g].Parameters[i];
                var before = _before[g][i];
                for (int k = 0; k < before.Length; k++)
                {
                    double d = p.Value.Data[k] - before[k];
                    delta += d * d;
                    weight += (double)before[k] * before[k];
                    grad += (double)p.Grad.Data[k] * p.Grad.Data[k];
                }
            }
            _gradSum[g] += Math.Sqrt(grad);
            _ratioSum[g] += weight > 0 ? Math.Sqrt(delta / weight) : 0;
        }
        var stepNorms = _probe.StepGradientNorms;
        int steps = stepNorms.FirstOrDefault()?.Length ?? 0;
        if (_stepSum.Length != stepNorms.Length) (_stepSum, _stepCount) = (stepNorms.Select(_ => Array.Empty<double>()).ToArray(), []);
        if (_stepCount.Length < steps)
        {
            Array.Resize(ref _stepCount, steps);
            for (int l = 0; l < _stepSum.Length; l++) Array.Resize(ref _stepSum[l], steps);
        }
        for (int t = 0; t < steps; t++) _stepCount[t]++;
        for (int l = 0; l < stepNorms.Length; l++)
            for (int t = 0; t < stepNorms[l].Length; t++) _stepSum[l][t] += stepNorms[l][t];
        for (int l = 0; l < _probe.SaturatedFraction.Length; l++) _saturationSum[l] += _probe.SaturatedFraction[l];
    }

    public override void OnEpochEnd(TrainingContext context, EpochRecord epoch)
    {
        if (_steps == 0) return;
        var summary = new GradientFlowEpoch(epoch.Epoch, _groups.Select(g => g.Group).ToArray(),
            _gradSum.Select(v => v / _steps).ToArray(), _ratioSum.Select(v => v / _steps).ToArray(),
            _stepSum.Select(layer => layer.Select((v, t) => v / Math.Max(1, _stepCount[t])).ToArray()).ToArray(),
            _saturationSum.Select(v => v / _steps).ToArray(), (double)_clipped / _steps);
        Epochs.Add(summary);

        // Clipping now and then is its job; clipping nearly always, far above the limit and past the first epoch's
        // transients, means the rate is too high.
        double clip = context.Options.Clip, median = _norms.Count > 0 ? Median(_norms) : 0;
        bool pastFirstEpoch = epoch.Epoch >= Math.Min(2, context.Epochs);
        if (pastFirstEpoch && summary.ClippedFraction > ClippedShare && median > ClippedNormFactor * clip)
            Raise(ref _explodingRaised, context, $"exploding gradients: clipping was active on {summary.ClippedFraction:P0} of the steps of epoch {epoch.Epoch}, " +
                $"with a median gradient norm of {median:G3} against the limit {clip:G3}. The updates are mostly clipped: lower --lr (now {context.Optimizer.LearningRate:G3}) so clipping becomes the exception.");

        // The first epoch measures the initialisation; judge vanishing once training has had a chance to fix it.
        if (pastFirstEpoch)
        {
            var ratios = summary.TimeRatios;
            int worst = Array.IndexOf(ratios, ratios.Min());
            if (ratios[worst] < VanishingRatio)
            {
                int steps = summary.StepGradientNorms[worst].Length;
                string cell = context.Model.Spec.Cell == CellKind.Rnn ? "use --cell lstm or gru (gated cells keep gradients alive); " : "";
                Raise(ref _vanishingRaised, context, $"vanishing gradients through time: in recurrent layer {worst}, ‖dL/dh_1‖ is {ratios[worst]:E1} of ‖dL/dh_T‖ over {steps} steps, " +
                    $"so the first steps barely learn ({summary.SaturatedFraction[worst]:P0} of gates saturated). Try: {cell}a shorter --lookback or truncation; " +
                    "keep the orthogonal recurrent initialisation; layer normalisation.");
            }
        }
    }

    public override void OnTrainEnd(TrainingContext context) => context.Model.Encoder.Probe = null;

    /// <summary>Everything measured so far, so a resumed run reports the whole training and raises each alarm once.</summary>
    private sealed record State(List<GradientFlowEpoch> Epochs, List<string> Alarms, bool Vanishing, bool Exploding, List<double> Norms,
        double[] GradSum, double[] RatioSum, double[] SaturationSum, double[][] StepSum, int[] StepCount, int Steps, int Clipped);

    private static readonly JsonSerializerOptions StateJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public void SaveState(CheckpointData data, string prefix) =>
        data.Values[prefix + "gradient_flow"] = JsonSerializer.Serialize(new State(Epochs, Alarms, _vanishingRaised, _explodingRaised, _norms,
            _gradSum, _ratioSum, _saturationSum, _stepSum, _stepCount, _steps, _clipped), StateJson);

    public void LoadState(CheckpointData data, string prefix)
    {
        var s = JsonSerializer.Deserialize<State>(data.Value(prefix + "gradient_flow"), StateJson)!;
        Epochs.Clear();
        Alarms.Clear();
        _norms.Clear();
        Epochs.AddRange(s.Epochs);
        Alarms.AddRange(s.Alarms);
        _norms.AddRange(s.Norms);
        (_vanishingRaised, _explodingRaised) = (s.Vanishing, s.Exploding);
        (_gradSum, _ratioSum, _saturationSum, _stepSum, _stepCount, _steps, _clipped) = (s.GradSum, s.RatioSum, s.SaturationSum, s.StepSum, s.StepCount, s.Steps, s.Clipped);
    }

    private void Raise(ref bool raised, TrainingContext context, string message)
    {
        if (raised) return;
        raised = true;
        Alarms.Add(message);
        context.Log.WriteLine($"alarm: {message}");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }
}
