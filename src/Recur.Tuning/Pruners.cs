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

public static class Pruners
{
    public static IPruner? Create(string name) => name.ToLowerInvariant() switch
    {
        "none" => null,
        "median" => new MedianPruner(),
        "asha" => new AshaPruner(),
        _ => throw new InvalidInputException($"--pruner: expected none, median or asha; found '{name}'."),
    };
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
/// r·η^k (r = <see cref="MinResource"/>, η = <see cref="ReductionFactor"/>). On reaching a rung, a trial goes on
/// only if its value there is among the best 1/η of every trial's value at that rung (itself included; while
/// fewer than η trials reached it, only the best goes on).
/// </summary>
public sealed class AshaPruner : IPruner
{
    public int MinResource { get; init; } = 1;
    public int ReductionFactor { get; init; } = 3;

    public bool IsRung(int step)
    {
        for (long r = MinResource; r <= step; r *= ReductionFactor)
            if (r == step) return true;
        return false;
    }

    public bool ShouldPrune(Func<int, IReadOnlyList<(int Number, TrialState State, double Value)>> valuesAt, int trial, int step, IReadOnlyDictionary<int, double> history)
    {
        if (!IsRung(step)) return false;
        double value = history[step];
        var competing = valuesAt(step).Where(v => v.Number != trial).Select(v => v.Value).Append(value).Order().ToArray();
        int index = competing.Length / ReductionFactor - 1;
        if (index < 0) index = 0;
        return value > competing[index];
    }
}
