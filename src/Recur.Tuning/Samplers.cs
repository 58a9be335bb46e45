namespace Recur.Tuning;

/// <summary>
/// Chooses the parameters of a new trial from the study so far. Storage calls it inside the transaction that
/// creates the trial, so the trials it sees include every running trial of every worker.
/// </summary>
public interface ISampler
{
    /// <summary>Values (internal form) for the active parameters of trial <paramref name="number"/>.</summary>
    Dictionary<string, double> Sample(SearchSpace space, IReadOnlyList<TrialRecord> trials, int number);
}

public static class Samplers
{
    public static ISampler Create(string name, ulong seed, bool multivariate = false, int startupTrials = 10) => name.ToLowerInvariant() switch
    {
        "tpe" => new TpeSampler(seed) { Multivariate = multivariate, StartupTrials = startupTrials },
        "random" => new RandomSampler(seed),
        "grid" => new GridSampler(seed),
        _ => throw new InvalidInputException($"--sampler: expected tpe, random or grid; found '{name}'."),
    };

    /// <summary>A uniform draw of one parameter (log-uniform for log ranges), in internal form.</summary>
    internal static double Uniform(SearchParameter p, Random rng)
    {
        switch (p.Kind)
        {
            case ParameterKind.Fixed: return 0;
            case ParameterKind.Categorical: return rng.Next(p.Choices.Count);
        }
        var (lo, hi) = Bounds(p);
        double t = lo + rng.NextDouble() * (hi - lo);
        return p.Snap(p.Log ? Math.Exp(t) : t);
    }

    /// <summary>
    /// A numeric parameter's range in the space samplers work in: log for log ranges, widened by half a step for
    /// integers and stepped ranges so that the end values are as likely as the others.
    /// </summary>
    internal static (double Low, double High) Bounds(SearchParameter p)
    {
        double half = p.Step is double s ? s / 2 : p.Kind == ParameterKind.Int ? 0.5 : 0;
        double lo = p.Low - half, hi = p.High + half;
        if (p.Log) (lo, hi) = (Math.Log(Math.Max(lo, p.Low * 0.5)), Math.Log(hi));
        return (lo, hi);
    }

    /// <summary>Internal value → the sampler's space (log for log ranges).</summary>
    internal static double ToSpace(SearchParameter p, double v) => p.Log ? Math.Log(v) : v;

    internal static double FromSpace(SearchParameter p, double x) => p.Kind is ParameterKind.Categorical or ParameterKind.Fixed ? x : p.Snap(p.Log ? Math.Exp(x) : x);
}

/// <summary>Independent uniform draws, seeded per trial number (so workers never repeat each other's draws).</summary>
public sealed class RandomSampler(ulong seed) : ISampler
{
    public Dictionary<string, double> Sample(SearchSpace space, IReadOnlyList<TrialRecord> trials, int number)
    {
        var rng = new Random(Seeds.ForTrial(seed, number));
        var chosen = new Dictionary<string, double>();
        foreach (var p in space.Parameters)
            if (space.IsActive(p, chosen)) chosen[p.Name] = Samplers.Uniform(p, rng);
        return chosen;
    }
}

/// <summary>
/// Every combination of the parameters' grid values (conditional parameters only where active), in a seeded
/// shuffled order; each new trial takes the first combination no trial of the study holds yet (failed retried
/// ones aside), and once all are taken the grid starts over.
/// </summary>
public sealed class GridSampler(ulong seed) : ISampler
{
    public static List<Dictionary<string, double>> Grid(SearchSpace space)
    {
        var grid = new List<Dictionary<string, double>>();
        void Walk(int index, Dictionary<string, double> chosen)
        {
            if (index == space.Parameters.Count)
            {
                grid.Add(new Dictionary<string, double>(chosen));
                return;
            }
            var p = space.Parameters[index];
            if (!space.IsActive(p, chosen))
            {
                Walk(index + 1, chosen);
                return;
            }
            foreach (var v in p.GridValues())
            {
                chosen[p.Name] = v;
                Walk(index + 1, chosen);
                chosen.Remove(p.Name);
            }
        }
        Walk(0, []);
        return grid;
    }

    public Dictionary<string, double> Sample(SearchSpace space, IReadOnlyList<TrialRecord> trials, int number)
    {
        var grid = Grid(space);
        var rng = new Random(Seeds.ForTrial(seed, 0, salt: 7));
        for (int i = grid.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (grid[i], grid[j]) = (grid[j], grid[i]);
        }
        var taken = trials.Where(t => t.State != TrialState.Failed).Select(t => Key(t.Params)).ToHashSet();
        foreach (var point in grid)
            if (!taken.Contains(Key(point))) return point;
        return grid[number % grid.Count];
    }

    private static string Key(IReadOnlyDictionary<string, double> values) =>
        string.Join(";", values.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value:R}"));
}
