using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>
/// PyTorch's parameter groups: the parameters split into groups, each updated by its own inner optimizer (same
/// algorithm) at <see cref="Optimizer.LearningRate"/> × the group's factor, and each group switched on or off
/// (<see cref="SetActive"/>). An inactive group is frozen: its weights, its optimizer state and its step count stay
/// as they are — no update, no weight decay. Because every group counts its own steps, a group switched on late
/// starts its bias corrections from step 1, as PyTorch's per-parameter step counts do.
/// </summary>
/// <remarks>
/// The state (<see cref="ExportState"/>) holds every group's buffers under their usual keys, and each group's step
/// count and scalars as <c>group{k}.step</c>, <c>group{k}.&lt;scalar&gt;</c>; the active flags are not state: the
/// caller sets them from the epoch (see <c>Recur.Training.FineTuning</c>), so a resumed run sets them the same way.
/// </remarks>
public sealed class ParameterGroupOptimizer : Optimizer
{
    private readonly Optimizer[] _inner;
    private readonly double[] _factors;
    private readonly bool[] _active;

    /// <param name="groups">Disjoint parameter groups with their learning-rate factors (≥ 0).</param>
    /// <param name="create">Builds the inner optimizer of one group (its learning rate is overwritten at every step).</param>
    /// <param name="learningRate">The base learning rate.</param>
    public ParameterGroupOptimizer(IReadOnlyList<(IReadOnlyList<Parameter> Parameters, double Factor)> groups,
        Func<IReadOnlyList<Parameter>, double, Optimizer> create, double learningRate)
        : base(groups.SelectMany(g => g.Parameters).ToArray(), learningRate)
    {
        if (groups.Count == 0) throw new ArgumentException("At least one parameter group is needed.", nameof(groups));
        _inner = groups.Select(g => create(g.Parameters, learningRate * g.Factor)).ToArray();
        _factors = groups.Select(g => HyperParameter.NonNegative(g.Factor, "factor")).ToArray();
        _active = Enumerable.Repeat(true, groups.Count).ToArray();
    }

    public int GroupCount => _inner.Length;

    public IReadOnlyList<Parameter> GroupParameters(int group) => _inner[group].Parameters;

    public double Factor(int group) => _factors[group];

    public bool IsActive(int group) => _active[group];

    /// <summary>Switches group <paramref name="group"/> on (trained) or off (frozen).</summary>
    public void SetActive(int group, bool active) => _active[group] = active;

    public override void Step()
    {
        StepCount++;
        for (int k = 0; k < _inner.Length; k++)
        {
            if (!_active[k]) continue;
            _inner[k].LearningRate = LearningRate * _factors[k];
            _inner[k].Step();
        }
    }

    protected override void Update(int index, Span<float> value, ReadOnlySpan<float> grad) =>
        throw new InvalidOperationException("ParameterGroupOptimizer steps its groups' optimizers.");

    public override OptimizerState ExportState()
    {
        var scalars = new Dictionary<string, double>(StringComparer.Ordinal) { ["lr"] = LearningRate };
        var buffers = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int k = 0; k < _inner.Length; k++)
        {
            var state = _inner[k].ExportState();
            scalars[$"group{k}.step"] = state.StepCount;
            foreach (var (key, value) in state.Scalars) scalars[$"group{k}.{key}"] = value;
            foreach (var (key, value) in state.Buffers) buffers.Add(key, value);
        }
        return new OptimizerState(Algorithm, StepCount, scalars, buffers);
    }

    public override void ImportState(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Algorithm != Algorithm)
            throw new ArgumentException($"Optimizer state is for '{state.Algorithm}' but this optimizer is '{Algorithm}'.", nameof(state));
        var parts = new OptimizerState[_inner.Length];
        int bufferCount = 0;
        for (int k = 0; k < _inner.Length; k++)
        {
            string prefix = $"group{k}.";
            if (!state.Scalars.TryGetValue(prefix + "step", out double step))
                throw new ArgumentException($"Optimizer state has no step count for parameter group {k}; was it saved with other groups?", nameof(state));
            var template = _inner[k].ExportState();
            var scalars = state.Scalars.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal) && kv.Key != prefix + "step")
                .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
            var buffers = new Dictionary<string, float[]>(StringComparer.Ordinal);
            foreach (var key in template.Buffers.Keys)
                buffers[key] = state.Buffers.TryGetValue(key, out var b) ? b
                    : throw new ArgumentException($"Optimizer state lacks buffer '{key}' of parameter group {k}.", nameof(state));
            bufferCount += buffers.Count;
            parts[k] = new OptimizerState(template.Algorithm, (long)step, scalars, buffers);
        }
        if (bufferCount != state.Buffers.Count)
            throw new ArgumentException($"Optimizer state holds {state.Buffers.Count} buffers; these parameter groups have {bufferCount}.", nameof(state));
        double lr = state.Scalars.TryGetValue("lr", out var l) ? l : throw new ArgumentException("Optimizer state has no learning rate.", nameof(state));
        // Each inner import checks everything before changing anything; a failure part-way leaves earlier groups
        // imported, which the callers (checkpoint restore, rollback) treat as fatal anyway.
        for (int k = 0; k < _inner.Length; k++) _inner[k].ImportState(parts[k]);
        LearningRate = lr;
        StepCount = state.StepCount;
    }

    public override string ToString() =>
        $"ParameterGroupOptimizer({string.Join(", ", _inner.Select((o, k) => $"[{o.Parameters.Count} parameters, ×{_factors[k]}{(_active[k] ? "" : ", frozen")}]"))})";
}
