namespace Recur.Tuning;

/// <summary>
/// Where a trial stands. <see cref="Waiting"/>: enqueued parameters (a retry of a trial whose worker died) that the
/// next free worker takes; <see cref="Running"/>: a worker trains it and beats its heart; <see cref="Complete"/> and
/// <see cref="Pruned"/> carry a value; <see cref="Failed"/>: training threw, or the worker stopped beating.
/// </summary>
public enum TrialState { Waiting, Running, Complete, Pruned, Failed }

/// <summary>One trial as the storage holds it. Parameters are in internal form (see <see cref="SearchParameter"/>).</summary>
public sealed record TrialRecord(long Id, int Number, TrialState State, double? Value, IReadOnlyDictionary<string, double> Params)
{
    /// <summary>Per-epoch validation values reported while training (step = 1-based epoch).</summary>
    public IReadOnlyDictionary<int, double> Intermediate { get; init; } = new Dictionary<int, double>();

    /// <summary>Trial number this one retries (its worker died), if any.</summary>
    public int? RetryOf { get; init; }
    public string? Worker { get; init; }
    public string? Message { get; init; }
    public string? ModelPath { get; init; }

    /// <summary>Seconds between start and finish (null while unfinished).</summary>
    public double? Seconds { get; init; }

    public bool IsFinished => State is TrialState.Complete or TrialState.Pruned;
    public int LastStep => Intermediate.Count == 0 ? 0 : Intermediate.Keys.Max();
}

internal static class Seeds
{
    /// <summary>A 31-bit seed for trial <paramref name="number"/> of a study seeded with <paramref name="seed"/> (SplitMix64).</summary>
    public static int ForTrial(ulong seed, int number, ulong salt = 0)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (ulong)(number + 1) + salt * 0xD1B54A32D192ED03UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }
}
