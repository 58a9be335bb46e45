using Recur.Autograd;

namespace Recur.Optimizers;

/// <summary>
/// Base of the first-order optimizers. Holds the parameters, the learning rate (which schedules set between steps),
/// the step count and the per-parameter state buffers ("slots"), which derived classes allocate once in their
/// constructor with <see cref="AddSlot"/>; <see cref="Step"/> allocates nothing.
/// </summary>
/// <remarks>
/// Update rules follow torch.optim (PyTorch 2.x). One difference: PyTorch counts steps per parameter, Recur counts
/// them per optimizer; the two agree whenever every parameter has a gradient at every step. Parameters whose
/// gradient was never created (<see cref="Variable.HasGrad"/> false) are skipped, as PyTorch skips a None grad.
/// </remarks>
public abstract class Optimizer
{
    private const string LearningRateKey = "lr";

    private readonly List<(string Slot, float[][] Buffers)> _slots = [];
    private double _learningRate;

    protected Optimizer(IReadOnlyList<Parameter> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < parameters.Count; i++)
        {
            Parameter p = parameters[i] ?? throw new ArgumentException(
                $"Parameter at index {i} is null; pass only the model's parameters.", nameof(parameters));
            if (!names.Add(p.Name))
                throw new ArgumentException(
                    $"Parameter names must be unique because optimizer state is keyed by name; found '{p.Name}' twice.",
                    nameof(parameters));
        }
        Parameters = parameters.ToArray();
        _learningRate = HyperParameter.NonNegative(learningRate, nameof(learningRate));
    }

    /// <summary>The parameters this optimizer updates, in the order given to the constructor.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Step size γ; finite and ≥ 0. Schedules set it before each <see cref="Step"/>.</summary>
    public double LearningRate
    {
        get => _learningRate;
        set => _learningRate = HyperParameter.NonNegative(value, nameof(LearningRate));
    }

    /// <summary>Number of completed <see cref="Step"/> calls (t in the update rules after the step).</summary>
    public long StepCount { get; protected set; }

    /// <summary>Name written into <see cref="OptimizerState.Algorithm"/>; a state only loads into the same algorithm.</summary>
    public string Algorithm => GetType().Name;

    /// <summary>Applies one update to every parameter that has a gradient, using t = <see cref="StepCount"/> + 1.</summary>
    public virtual void Step()
    {
        StepCount++;
        BeginStep();
        for (int i = 0; i < Parameters.Count; i++)
        {
            Parameter p = Parameters[i];
            if (!p.HasGrad) continue;
            Update(i, p.Value.Data, p.Grad.Data);
        }
    }

    /// <summary>Zeroes every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (Parameter p in Parameters) p.ZeroGrad();
    }

    /// <summary>Per-step scalar work (bias corrections, products), done once in double before the updates.</summary>
    protected virtual void BeginStep() { }

    /// <summary>Updates parameter <paramref name="index"/> in place from its gradient.</summary>
    /// <param name="index">Position in <see cref="Parameters"/>; indexes the slot arrays.</param>
    /// <param name="value">Parameter values θ, updated in place.</param>
    /// <param name="grad">Gradient ∇θ of the same length; not modified.</param>
    protected abstract void Update(int index, Span<float> value, ReadOnlySpan<float> grad);

    /// <summary>
    /// Allocates one zeroed buffer per parameter (same length) under PyTorch's slot name, registered for
    /// <see cref="ExportState"/>/<see cref="ImportState"/>. Call from constructors only.
    /// </summary>
    protected float[][] AddSlot(string slot)
    {
        var buffers = new float[Parameters.Count][];
        for (int i = 0; i < buffers.Length; i++) buffers[i] = new float[Parameters[i].Value.Length];
        _slots.Add((slot, buffers));
        return buffers;
    }

    /// <summary>Adds the algorithm's scalar state (beyond lr and the step count) to <paramref name="scalars"/>.</summary>
    protected virtual void ExportScalars(IDictionary<string, double> scalars) { }

    /// <summary>Restores the scalars written by <see cref="ExportScalars"/>; keys were checked to be present.</summary>
    protected virtual void ImportScalars(IReadOnlyDictionary<string, double> scalars) { }

    /// <summary>A deep copy of the full state; later steps do not change it.</summary>
    public virtual OptimizerState ExportState()
    {
        var scalars = new Dictionary<string, double>(StringComparer.Ordinal) { [LearningRateKey] = LearningRate };
        ExportScalars(scalars);
        var buffers = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach ((string slot, float[][] perParameter) in _slots)
            for (int i = 0; i < perParameter.Length; i++)
                buffers.Add(BufferKey(i, slot), (float[])perParameter[i].Clone());
        return new OptimizerState(Algorithm, StepCount, scalars, buffers);
    }

    /// <summary>
    /// Restores a state exported by an optimizer of the same algorithm and variant over parameters with the same
    /// names and sizes, so that the next <see cref="Step"/> is bit-identical to the uninterrupted run. Values are
    /// copied into the existing buffers. Throws, changing nothing, if anything is missing, extra or mis-sized.
    /// </summary>
    public virtual void ImportState(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Algorithm != Algorithm)
            throw new ArgumentException(
                $"Optimizer state is for '{state.Algorithm}' but this optimizer is '{Algorithm}'.", nameof(state));
        if (state.StepCount < 0)
            throw new ArgumentException($"Optimizer state has a negative step count ({state.StepCount}).", nameof(state));

        var expectedScalars = new Dictionary<string, double>(StringComparer.Ordinal) { [LearningRateKey] = 0 };
        ExportScalars(expectedScalars);
        RequireSameKeys("scalar", expectedScalars.Keys, state.Scalars.Keys);

        var expectedBuffers = new List<string>();
        foreach ((string slot, float[][] perParameter) in _slots)
            for (int i = 0; i < perParameter.Length; i++)
            {
                string key = BufferKey(i, slot);
                expectedBuffers.Add(key);
                if (state.Buffers.TryGetValue(key, out float[]? values) && values.Length != perParameter[i].Length)
                    throw new ArgumentException(
                        $"Optimizer state buffer '{key}' has {values.Length} values; parameter " +
                        $"'{Parameters[i].Name}' has {perParameter[i].Length}.", nameof(state));
            }
        RequireSameKeys("buffer", expectedBuffers, state.Buffers.Keys);
        double lr = state.Scalars[LearningRateKey];
        HyperParameter.NonNegative(lr, $"{nameof(state)}.{nameof(state.Scalars)}[\"{LearningRateKey}\"]");

        foreach ((string slot, float[][] perParameter) in _slots)
            for (int i = 0; i < perParameter.Length; i++)
                state.Buffers[BufferKey(i, slot)].AsSpan().CopyTo(perParameter[i]);
        LearningRate = lr;
        StepCount = state.StepCount;
        ImportScalars(state.Scalars);
    }

    private string BufferKey(int index, string slot) => $"{Parameters[index].Name}.{slot}";

    private static void RequireSameKeys(string kind, IEnumerable<string> expected, IEnumerable<string> found)
    {
        var want = new HashSet<string>(expected, StringComparer.Ordinal);
        var have = new HashSet<string>(found, StringComparer.Ordinal);
        var missing = want.Except(have).Order(StringComparer.Ordinal).ToList();
        var extra = have.Except(want).Order(StringComparer.Ordinal).ToList();
        if (missing.Count == 0 && extra.Count == 0) return;
        throw new ArgumentException(
            $"Optimizer state {kind}s do not match this optimizer: missing [{string.Join(", ", missing)}], " +
            $"unexpected [{string.Join(", ", extra)}]. Was it exported with other parameters or settings?", "state");
    }
}
