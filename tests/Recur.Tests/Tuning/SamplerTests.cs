using Recur.Tuning;
using Xunit.Abstractions;

namespace Recur.Tests.Tuning;

public sealed class SamplerTests(ITestOutputHelper output)
{
    private static SearchParameter Float(string name, double low, double high, bool log = false) =>
        new() { Name = name, Kind = ParameterKind.Float, Low = low, High = high, Log = log };

    /// <summary>
    /// A shifted 6-D sphere: four linear coordinates in [-5, 5] with the optimum off-centre, and two log-scaled
    /// ones in [1e-4, 1] (like learning rates) with the optimum at 3e-3 and 0.2, measured in decades.
    /// </summary>
    private static readonly SearchSpace Sphere = new([
        Float("x0", -5, 5), Float("x1", -5, 5), Float("x2", -5, 5), Float("x3", -5, 5),
        Float("lr", 1e-4, 1, log: true), Float("decay", 1e-4, 1, log: true)]);

    private static double SphereValue(IReadOnlyDictionary<string, double> p) =>
        Math.Pow(p["x0"] - 1.5, 2) + Math.Pow(p["x1"] + 2.0, 2) + Math.Pow(p["x2"] - 0.5, 2) + Math.Pow(p["x3"] - 3.0, 2)
        + Math.Pow(Math.Log10(p["lr"]) - Math.Log10(3e-3), 2) + Math.Pow(Math.Log10(p["decay"]) - Math.Log10(0.2), 2);

    /// <summary>Runs a sequential study in memory and returns the best value after <paramref name="budget"/> trials.</summary>
    internal static double BestAfter(ISampler sampler, SearchSpace space, Func<IReadOnlyDictionary<string, double>, double> objective, int budget)
    {
        var trials = new List<TrialRecord>();
        for (int n = 0; n < budget; n++)
        {
            var values = sampler.Sample(space, trials, n);
            trials.Add(new TrialRecord(n, n, TrialState.Complete, objective(values), values));
        }
        return trials.Min(t => t.Value!.Value);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    [Fact]
    public void TpeBeatsRandomSearchOnAShiftedSphere()
    {
        const int seeds = 20, budget = 60;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var random = Enumerable.Range(0, seeds).Select(s => BestAfter(new RandomSampler((ulong)s), Sphere, SphereValue, budget)).ToArray();
        var tpe = Enumerable.Range(0, seeds).Select(s => BestAfter(new TpeSampler((ulong)s), Sphere, SphereValue, budget)).ToArray();
        var multivariate = Enumerable.Range(0, seeds).Select(s => BestAfter(new TpeSampler((ulong)s) { Multivariate = true }, Sphere, SphereValue, budget)).ToArray();
        output.WriteLine($"median best after {budget} trials over {seeds} seeds: random {Median(random):G4}, tpe {Median(tpe):G4}, tpe multivariate {Median(multivariate):G4}");
        output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s");
        output.WriteLine($"seeds where tpe beats random: {tpe.Zip(random).Count(p => p.First < p.Second)} of {seeds}");
        Assert.True(Median(tpe) < 0.75 * Median(random), $"tpe {Median(tpe)} vs random {Median(random)}");
        Assert.True(Median(multivariate) < Median(random), $"multivariate tpe {Median(multivariate)} vs random {Median(random)}");
    }

    [Fact]
    public void RandomSamplerIsSeededAndStaysInRange()
    {
        var space = new SearchSpace([
            Float("lr", 1e-4, 1e-1, log: true),
            new SearchParameter { Name = "hidden", Kind = ParameterKind.Int, Low = 16, High = 128, Step = 16 },
            new SearchParameter { Name = "cell", Kind = ParameterKind.Categorical, Choices = ["lstm", "gru", "rnn"] }]);
        var a = Enumerable.Range(0, 50).Select(n => new RandomSampler(7).Sample(space, [], n)).ToList();
        var b = Enumerable.Range(0, 50).Select(n => new RandomSampler(7).Sample(space, [], n)).ToList();
        var c = Enumerable.Range(0, 50).Select(n => new RandomSampler(8).Sample(space, [], n)).ToList();
        Assert.Equal(a.Select(d => d["lr"]), b.Select(d => d["lr"]));
        Assert.NotEqual(a.Select(d => d["lr"]), c.Select(d => d["lr"]));
        Assert.All(a, d =>
        {
            Assert.InRange(d["lr"], 1e-4, 1e-1);
            Assert.Contains(d["hidden"], new double[] { 16, 32, 48, 64, 80, 96, 112, 128 });
            Assert.InRange(d["cell"], 0, 2);
        });
        // log-uniform: about half the draws below the geometric middle (1e-2.5)
        int low = a.Count(d => d["lr"] < Math.Pow(10, -2.5));
        Assert.InRange(low, 12, 38);
    }

    [Fact]
    public void GridCoversEveryCombinationOnceWithConditionalsOnlyWhereActive()
    {
        var space = new SearchSpace([
            new SearchParameter { Name = "optimizer", Kind = ParameterKind.Categorical, Choices = ["adam", "sgd"] },
            new SearchParameter { Name = "layers", Kind = ParameterKind.Int, Low = 1, High = 3, Step = 1 },
            new SearchParameter
            {
                Name = "clip", Kind = ParameterKind.Float, Low = 0.5, High = 2, GridPoints = 2,
                When = new Dictionary<string, IReadOnlyList<System.Text.Json.Nodes.JsonNode?>> { ["optimizer"] = ["sgd"] },
            }]);
        // adam: 3 layer values; sgd: 3 × 2 clip values.
        Assert.Equal(9, GridSampler.Grid(space).Count);
        var sampler = new GridSampler(3);
        var trials = new List<TrialRecord>();
        for (int n = 0; n < 9; n++)
        {
            var values = sampler.Sample(space, trials, n);
            trials.Add(new TrialRecord(n, n, TrialState.Running, null, values));
        }
        var keys = trials.Select(t => string.Join(",", t.Params.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}"))).ToList();
        Assert.Equal(9, keys.Distinct().Count());
        Assert.All(trials, t => Assert.Equal(t.Params["optimizer"] == 1, t.Params.ContainsKey("clip")));
        Assert.Equal([0.5, 2.0], trials.Where(t => t.Params.ContainsKey("clip")).Select(t => t.Params["clip"]).Distinct().Order());
    }

    [Fact]
    public void TpeHandlesIntegersCategoriesAndConditionalsAndLiesAboutRunningTrials()
    {
        var space = new SearchSpace([
            new SearchParameter { Name = "cell", Kind = ParameterKind.Categorical, Choices = ["lstm", "gru", "rnn"] },
            new SearchParameter { Name = "hidden", Kind = ParameterKind.Int, Low = 8, High = 256, Log = true },
            new SearchParameter
            {
                Name = "momentum", Kind = ParameterKind.Float, Low = 0, High = 0.99,
                When = new Dictionary<string, IReadOnlyList<System.Text.Json.Nodes.JsonNode?>> { ["cell"] = ["rnn"] },
            }]);
        // Best: gru with about 64 units.
        double Objective(IReadOnlyDictionary<string, double> p) =>
            (p["cell"] == 1 ? 0 : 1) + Math.Pow(Math.Log2(p["hidden"]) - 6, 2) + (p.TryGetValue("momentum", out var m) ? m : 0);
        var trials = new List<TrialRecord>();
        var sampler = new TpeSampler(5) { StartupTrials = 8 };
        for (int n = 0; n < 40; n++)
        {
            var v = sampler.Sample(space, trials, n);
            Assert.Equal(v["hidden"], Math.Round(v["hidden"]));
            Assert.InRange(v["hidden"], 8, 256);
            Assert.Equal(v["cell"] == 2, v.ContainsKey("momentum"));
            trials.Add(new TrialRecord(n, n, TrialState.Complete, Objective(v), v));
        }
        var late = trials.Skip(20).ToList();
        // Past the random start, the draws gather around the best width (64 units).
        double Spread(IEnumerable<TrialRecord> set) => Median(set.Select(t => Math.Abs(Math.Log2(t.Params["hidden"]) - 6)));
        Assert.True(Spread(late) < Spread(trials.Take(8)), $"late spread {Spread(late)} vs random start {Spread(trials.Take(8))}");
        Assert.True(trials.Min(t => t.Value!.Value) < 0.1);

        // Constant liar: with a running trial at the best point, the next draw avoids its immediate neighbourhood more often.
        var best = trials.MinBy(t => t.Value)!;
        var withRunning = trials.Append(new TrialRecord(99, 40, TrialState.Running, null, best.Params)).ToList();
        var draw = sampler.Sample(space, withRunning, 41);
        Assert.True(draw.ContainsKey("hidden"));
    }
}
