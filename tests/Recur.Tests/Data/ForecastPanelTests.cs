using System.Globalization;
using System.Text.Json;
using Recur.Data;
using Recur.Training;

namespace Recur.Tests.Data;

/// <summary>Several targets per window; several series per file (by id): windows, per-series split, leakage.</summary>
public class ForecastPanelTests
{
    private static readonly ForecastScaling Identity = new("global", "standard", 0, 1, 1);

    [Fact]
    public void EveryTargetIsAnInputAndAnOutputLaidOutTargetMajor()
    {
        // a = 0, 1, 2, …; b = 100, 102, 104, …; covariate c = −row.
        double[] a = Enumerable.Range(0, 30).Select(i => (double)i).ToArray();
        double[] b = a.Select(v => 100 + 2 * v).ToArray();
        double[] c = a.Select(v => -v).ToArray();
        var w = new ForecastWindows([a, b], lookback: 3, horizon: 2, "s", covariates: [c]);
        Assert.Equal((2, 3, 4), (w.TargetCount, w.Features, w.Outputs));
        Assert.Equal(26, w.Count);
        var data = w.Dataset([Identity, Identity], 5, 2);
        Assert.Equal((2, 3, 3, 4), (data.Count, data.Steps, data.Features, data.Outputs));
        // window 5 reads rows 5, 6, 7: step t holds (a, b, c) of row 5 + t
        Assert.Equal([5f, 110f, -5f, 6f, 112f, -6f, 7f, 114f, -7f], data.Values!.AsSpan(0, 9).ToArray());
        // and predicts rows 8, 9 of a, then rows 8, 9 of b
        Assert.Equal([8f, 9f, 116f, 118f], data.Targets!.AsSpan(0, 4).ToArray());
        Assert.Equal([8.0, 9, 116, 118, 9, 10, 118, 120], w.Actual(5, 2));
        Assert.Equal([7.0, 7, 114, 114], w.Naive(5, 1));
        Assert.Equal([6.0, 7, 112, 114], w.SeasonalNaive(5, 1, 2));
        Assert.Equal(w.Actual(5, 2), w.Restore([Identity, Identity], 5, data.Targets));
    }

    [Fact]
    public void EachTargetIsNormalisedByItsOwnWindow()
    {
        double[] small = Enumerable.Range(0, 40).Select(i => Math.Sin(i)).ToArray();
        double[] large = small.Select(v => 5000 + 1000 * v).ToArray();
        var w = new ForecastWindows([small, large], lookback: 6, horizon: 1, "s");
        var scalings = new[] { ForecastScaling.Fit("instance", small), ForecastScaling.Fit("instance", large) };
        var data = w.Dataset(scalings, 0, w.Count);
        // Same shape, different units: after instance normalisation the two inputs coincide.
        for (int i = 0; i < data.Values!.Length; i += 2) Assert.Equal(data.Values[i], data.Values[i + 1], 3);
        Assert.Equal(w.Actual(0, w.Count), w.Restore(scalings, 0, data.Targets), new ToleranceComparer(1e-3));
    }

    /// <summary>Two series interleaved row by row: A counts up from 1000, B down from −1000; x is a feature.</summary>
    private static string Interleaved(int rowsPerSeries, Func<string, int, double>? value = null)
    {
        value ??= (id, i) => id == "A" ? 1000 + i : -1000 - 3 * i;
        var lines = new List<string> { "id,x,v" };
        for (int i = 0; i < rowsPerSeries; i++)
            foreach (var id in new[] { "A", "B" })
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"{id},{Math.Cos(i) * (id == "A" ? 1 : 2)},{value(id, i)}"));
        return string.Join('\n', lines) + "\n";
    }

    private static ForecastState State(int lookback, int horizon) => new()
    {
        Target = "v", IdColumn = "id", Lookback = lookback, Horizon = horizon, Scaling = Identity,
    };

    [Fact]
    public void NoWindowCrossesSeriesAndEachSeriesIsSplitOnItsOwn()
    {
        var table = CsvTable.Parse(Interleaved(60), "two.csv");
        var panel = ForecastWorkflow.Windows(State(lookback: 4, horizon: 2), table);
        Assert.Equal(["A", "B"], panel.Ids);
        for (int s = 0; s < 2; s++)
        {
            var w = panel.Series[s];
            Assert.Equal(60, w.Rows);
            // file rows of series A are 0, 2, 4, …; of B 1, 3, 5, …
            Assert.Equal(Enumerable.Range(0, 60).Select(i => 2 * i + s), panel.Rows[s]);
            for (int n = 0; n < w.Count; n++)
            {
                var values = w.Inputs(n).ToArray().Concat(w.Targets(n).ToArray()).ToArray();
                Assert.All(values, v => Assert.True(s == 0 ? v >= 1000 : v <= -1000, $"series {panel.Ids[s]} window {n} reads {v}"));
                // consecutive rows of the same series: no row of the other one in between
                Assert.All(values.Zip(values.Skip(1)), p => Assert.Equal(s == 0 ? 1.0 : -3.0, p.Second - p.First));
            }
            // 55 windows each: the last round(0.2·55) = 11 test, 6 validation, a gap of 1 window between parts
            Assert.Equal((55, 11, 6, 1), (w.Count, w.TestCount, w.ValidationCount, w.Gap));
            Assert.Equal((44, 11), panel.Range(s, ForecastPart.Test));
            Assert.Equal((37, 6), panel.Range(s, ForecastPart.Validation));
            Assert.Equal((0, 36), panel.Range(s, ForecastPart.Training));
        }
        Assert.Equal(22, panel.Count(ForecastPart.Test));
        var test = panel.Actual(ForecastPart.Test);
        Assert.Equal(44, test.Length);
        Assert.Equal(1000 + 48, test[0]);       // A's first test window predicts its rows 48, 49
        Assert.Equal(-1000 - 3 * 48, test[22]); // then B's
        // The training rows of every series stop before its validation targets.
        var segments = panel.TrainingSegments(0);
        Assert.Equal([41, 41], segments.Select(r => r.Length));
        Assert.Equal(1000 + 40, segments[0][^1]);
    }

    [Fact]
    public void ASeriesTooShortForOneWindowPerPartIsNamed()
    {
        var text = Interleaved(60) + "C,0.5,1\nC,0.5,2\nC,0.5,3\nC,0.5,4\nC,0.5,5\n";
        var e = Assert.Throws<InvalidInputException>(() => ForecastWorkflow.Windows(State(4, 1), CsvTable.Parse(text, "three.csv")));
        Assert.Contains("three.csv, id 'C': 5 rows give 1 windows", e.Message);
        Assert.Contains("need at least 3", e.Message);
    }

    [Fact]
    public void ScalerStatisticsComeOnlyFromTrainingRowsOfEverySeries()
    {
        // Each series: 60 rows, lookback 4, horizon 1 → 56 windows, 39 training, so rows 0–42 are its training rows.
        static TrainedRun Train(string text) => ForecastWorkflow.Train(
            new TrainConfig { IdColumn = "id", Target = ["v"], Features = ["x"], Lookback = 4, Season = 1, Normalize = "global", Epochs = 1, Hidden = 4 },
            CsvTable.Parse(text, "p.csv"), TextWriter.Null);
        static ForecastState StateOf(TrainedRun run) => JsonSerializer.Deserialize<ForecastState>(run.DataState)!;
        double Wiggle(string id, int i) => (id == "A" ? 10 : 50) + Math.Sin(i) + 0.1 * i;

        var clean = StateOf(Train(Interleaved(60, Wiggle)));
        // The last 12 rows of each series (validation and test rows only) far out of range, in the target and then
        // also in the feature: nothing fitted may move.
        string far = Interleaved(60, (id, i) => i >= 48 ? 1e6 : Wiggle(id, i));
        var shifted = StateOf(Train(far));
        var lines = far.Split('\n');
        for (int r = 1 + 2 * 48; r < lines.Length - 1; r++)
        {
            var cells = lines[r].Split(',');
            lines[r] = $"{cells[0]},999,{cells[2]}";
        }
        var shiftedBoth = StateOf(Train(string.Join('\n', lines)));
        Assert.Equal(clean.Scaling, shifted.Scaling);
        Assert.Equal(clean.Scaling, shiftedBoth.Scaling);
        Assert.Equal(clean.Features, shiftedBoth.Features);
        // Both series' training rows count: the mean lies between the two series' levels, not at either.
        Assert.InRange(clean.Scaling.Center, 25, 40);

        // Control: a change in one training row of series B does move the statistics.
        var trained = StateOf(Train(Interleaved(60, (id, i) => id == "B" && i == 10 ? 500 : Wiggle(id, i))));
        Assert.NotEqual(clean.Scaling.Center, trained.Scaling.Center);
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance * Math.Max(1, Math.Abs(y));
        public int GetHashCode(double obj) => 0;
    }
}
