using System.Text.Json.Nodes;

namespace Recur.Tuning;

/// <summary>Decides, after each epoch, whether a trial is hopeless next to the study's other trials.</summary>
public interface IPruner
{
    /// <param name="valuesAt">(trial number, state, value) of every trial that reported a value at a step.</param>
    /// <param name="trial">The trial's number.</param>
    /// <param name="step">1-based epoch just reported.</param>
    /// <param name="history">The trial's values so far, by step (including <paramref name="step"/>).</param>
    bool ShouldPrune(Func<int, IReadOnlyList<(int Number, TrialState State, double Value)>> valuesAt, int trial, int step, IReadOnlyDictionary<int, double> history);
}

/// <summary>
/// Which pruner a study uses and its settings (flags <c>--pruner</c>, <c>--asha-min-epochs</c>,
/// <c>--asha-reduction</c>, <c>--asha-grace-trials</c>, <c>--pruner-warmup</c>, <c>--pruner-startup-trials</c>, or the
/// tuning config's <c>"pruner"</c> object). Null settings take their defaults, some of which depend on the epochs.
/// </summary>
public sealed record PrunerSettings
{
    /// <summary>none, median or asha.</summary>
    public string Name { get; init; } = "none";

    /// <summary>ASHA's minimum resource r, the first rung's epoch (default <see cref="DefaultMinEpochs"/>).</summary>
    public int? AshaMinEpochs { get; init; }

    /// <summary>ASHA's reduction factor η: rungs at r·η^k, the best 1/η go on (default 3).</summary>
    public int? AshaReduction { get; init; }

    /// <summary>ASHA prunes at a rung only once this many trials (the deciding one included) reached it (default η).</summary>
    public int? AshaGraceTrials { get; init; }

    /// <summary>Median pruner: epochs at the start of every trial during which it never prunes (default 0).</summary>
    public int? MedianWarmup { get; init; }

    /// <summary>Median pruner: complete trials needed at an epoch before it prunes there (default 5).</summary>
    public int? MedianStartupTrials { get; init; }

    public const int DefaultReduction = 3;

    /// <summary>
    /// The first rung by default: a quarter of the trial's epochs (at least 1), so that at η = 3 the rungs fall at a
    /// quarter and three quarters of the run. Early epochs mostly measure how fast a configuration starts (a small
    /// batch or a large learning rate), not where it ends: measured on the sunspots series (README), rungs from
    /// epoch 1 or 2 pruned the eventual best configurations and missed the unpruned best by 8–19%, from epoch 5
    /// (of 20) they matched it with about half the epochs.
    /// </summary>
    public static int DefaultMinEpochs(int? epochs) => Math.Max(1, (epochs ?? 0) / 4);

    public static PrunerSettings Parse(string name) => new PrunerSettings { Name = name }.Validated();

    /// <summary>Checks the settings (one message, <see cref="InvalidInputException"/>, for each mistake).</summary>
    public PrunerSettings Validated()
    {
        string name = Name.ToLowerInvariant();
        if (name is not ("none" or "median" or "asha")) throw new InvalidInputException($"--pruner: expected none, median or asha; found '{Name}'.");
        if (AshaMinEpochs is int r && r < 1) throw new InvalidInputException($"--asha-min-epochs: expected at least 1; found {r}.");
        if (AshaReduction is int eta && eta < 2) throw new InvalidInputException($"--asha-reduction: expected at least 2; found {eta}.");
        if (AshaGraceTrials is int g && g < 1) throw new InvalidInputException($"--asha-grace-trials: expected at least 1; found {g}.");
        if (MedianWarmup is int w && w < 0) throw new InvalidInputException($"--pruner-warmup: expected at least 0; found {w}.");
        if (MedianStartupTrials is int s && s < 1) throw new InvalidInputException($"--pruner-startup-trials: expected at least 1; found {s}.");
        if (name != "asha" && (AshaMinEpochs ?? AshaReduction ?? AshaGraceTrials) is not null)
            throw new InvalidInputException($"--asha-min-epochs, --asha-reduction and --asha-grace-trials apply to --pruner asha; the pruner is {name}.");
        if (name != "median" && (MedianWarmup ?? MedianStartupTrials) is not null)
            throw new InvalidInputException($"--pruner-warmup and --pruner-startup-trials apply to --pruner median; the pruner is {name}.");
        return this with { Name = name };
    }

    /// <summary>
    /// Reads the tuning config's <c>"pruner"</c>: a name (<c>"asha"</c>) or an object
    /// <c>{"type": "asha", "min_epochs": 2, "reduction": 3, "grace_trials": 3}</c> /
    /// <c>{"type": "median", "warmup": 5, "startup_trials": 5}</c>.
    /// </summary>
    public static PrunerSettings FromJson(JsonNode? node, string source)
    {
        if (node is JsonValue v && v.TryGetValue(out string? text)) return new PrunerSettings { Name = text };
        if (node is not JsonObject o) throw new InvalidInputException($"{source}: \"pruner\": expected \"none\", \"median\", \"asha\" or an object such as {{\"type\": \"asha\", \"min_epochs\": 2}}.");
        string[] known = ["type", "min_epochs", "reduction", "grace_trials", "warmup", "startup_trials"];
        foreach (var (key, _) in o)
            if (!known.Contains(key)) throw new InvalidInputException($"{source}: \"pruner\": unknown key '{key}'; expected {string.Join(", ", known)}.");
        int? Int(string key)
        {
            if (o[key] is null) return null;
            if (o[key] is JsonValue n && n.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
            throw new InvalidInputException($"{source}: \"pruner\": \"{key}\": expected an integer; found {o[key]!.ToJsonString()}.");
        }
        string type = o["type"] is JsonValue t && t.TryGetValue(out string? s) ? s
            : throw new InvalidInputException($"{source}: \"pruner\": expected \"type\": \"none\", \"median\" or \"asha\".");
        return new PrunerSettings
        {
            Name = type, AshaMinEpochs = Int("min_epochs"), AshaReduction = Int("reduction"), AshaGraceTrials = Int("grace_trials"),
            MedianWarmup = Int("warmup"), MedianStartupTrials = Int("startup_trials"),
        };
    }

    /// <summary>Flag values (non-null) override the config's; a flag naming another pruner replaces the config's settings.</summary>
    public PrunerSettings Override(PrunerSettings flags, bool nameGiven) => nameGiven && !string.Equals(flags.Name, Name, StringComparison.OrdinalIgnoreCase) ? flags : new()
    {
        Name = nameGiven ? flags.Name : Name,
        AshaMinEpochs = flags.AshaMinEpochs ?? AshaMinEpochs, AshaReduction = flags.AshaReduction ?? AshaReduction,
        AshaGraceTrials = flags.AshaGraceTrials ?? AshaGraceTrials, MedianWarmup = flags.MedianWarmup ?? MedianWarmup,
        MedianStartupTrials = flags.MedianStartupTrials ?? MedianStartupTrials,
    };

    /// <summary>
    /// The pruner for trials of <paramref name="epochs"/> epochs (null when the study's trials differ in epochs or the
    /// config leaves them to the task's default: ASHA's first rung is then epoch 1 and its rungs are unbounded); null
    /// for none.
    /// </summary>
    public IPruner? Create(int? epochs)
    {
        var s = Validated();
        return s.Name switch
        {
            "median" => new MedianPruner { WarmupSteps = s.MedianWarmup ?? 0, StartupTrials = s.MedianStartupTrials ?? 5 },
            "asha" => new AshaPruner
            {
                MinResource = s.AshaMinEpochs ?? DefaultMinEpochs(epochs), ReductionFactor = s.AshaReduction ?? DefaultReduction,
                GraceTrials = s.AshaGraceTrials ?? s.AshaReduction ?? DefaultReduction, MaxResource = epochs,
            },
            _ => null,
        };
    }

    /// <summary>One line for the study's progress header: the pruner and its effective settings.</summary>
    public string Describe(int? epochs) => Create(epochs) switch
    {
        AshaPruner a => $"asha (rungs at epochs {string.Join(", ", a.Rungs())}, η {a.ReductionFactor}, grace {a.GraceTrials} trials)",
        MedianPruner m => $"median (warmup {m.WarmupSteps} epochs, {m.StartupTrials} startup trials)",
        _ => "none",
    };
}

public static class Pruners
{
    /// <summary>The pruner of that name at its defaults (the ASHA defaults for <paramref name="epochs"/>-epoch trials).</summary>
    public static IPruner? Create(string name, int? epochs = null) => PrunerSettings.Parse(name).Create(epochs);
}

/// <summary>
/// Median stopping rule (Optuna's MedianPruner): once <see cref="StartupTrials"/> complete trials reported a value
/// at this step, prune when the trial's best value so far is worse than the median of theirs at the step. No
/// pruning during the first <see cref="WarmupSteps"/> epochs.
/// </summary>
public sealed class MedianPruner : IPruner
{
    public int StartupTrials { get; init; } = 5;
    public int WarmupSteps { get; init; }

    public bool ShouldPrune(Func<int, IReadOnlyList<(int Number, TrialState State, double Value)>> valuesAt, int trial, int step, IReadOnlyDictionary<int, double> history)
    {
        if (step <= WarmupSteps) return false;
        var others = valuesAt(step).Where(v => v.State == TrialState.Complete && v.Number != trial).Select(v => v.Value).Order().ToArray();
        if (others.Length < Math.Max(1, StartupTrials)) return false;
        double median = others.Length % 2 == 1 ? others[others.Length / 2] : 0.5 * (others[others.Length / 2 - 1] + others[others.Length / 2]);
        double best = history.Where(kv => kv.Key <= step).Min(kv => kv.Value);
        return best > median;
    }
}

/// <summary>
/// Asynchronous successive halving (Li et al. 2020; Optuna's SuccessiveHalvingPruner): rungs at epochs
/// r·η^k (r = <see cref="MinResource"/>, η = <see cref="ReductionFactor"/>) below <see cref="MaxResource"/> (a rung at
/// the last epoch would only turn a finished trial into a pruned one). On reaching a rung, a trial goes on only if
/// its value there is among the best ⌊n/η⌋ of the n values at that rung (itself included; at least the best one),
/// and never while fewer than <see cref="GraceTrials"/> trials reached the rung.
/// </summary>
public sealed class AshaPruner : IPruner
{
    public int MinResource { get; init; } = 1;
    public int ReductionFactor { get; init; } = 3;

    /// <summary>Trials (the deciding one included) that must have reached a rung before it prunes anyone (1: from the second).</summary>
    public int GraceTrials { get; init; } = 1;

    /// <summary>The trials' epochs; rungs lie strictly below it. Null: unbounded.</summary>
    public int? MaxResource { get; init; }

    /// <summary>The rungs' epochs, ascending (up to <paramref name="limit"/> when there is no <see cref="MaxResource"/>).</summary>
    public IReadOnlyList<int> Rungs(int limit = 1000)
    {
        var rungs = new List<int>();
        for (long r = MinResource; r < (MaxResource ?? limit + 1L); r *= ReductionFactor) rungs.Add((int)r);
        return rungs;
    }

    public bool IsRung(int step)
    {
        if (MaxResource is int max && step >= max) return false;
        for (long r = MinResource; r <= step; r *= ReductionFactor)
            if (r == step) return true;
        return false;
    }

    /// <summary>How many of <paramref name="reached"/> trials at a rung go on: ⌊n/η⌋, at least 1; all of them within the grace.</summary>
    public int Promoted(int reached) => reached < GraceTrials ? reached : Math.Max(1, reached / ReductionFactor);

    public bool ShouldPrune(Func<int, IReadOnlyList<(int Number, TrialState State, double Value)>> valuesAt, int trial, int step, IReadOnlyDictionary<int, double> history)
    {
        if (!IsRung(step)) return false;
        double value = history[step];
        var competing = valuesAt(step).Where(v => v.Number != trial).Select(v => v.Value).Append(value).Order().ToArray();
        if (competing.Length < GraceTrials) return false;
        return value > competing[Promoted(competing.Length) - 1];
    }
}
