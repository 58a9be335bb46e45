using System.Globalization;
using System.Text;
using Recur.Autograd;
using Recur.Data;
using Recur.Models;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Tensors;
using Recur.Training;
using Xunit.Abstractions;

namespace Recur.Tests.Training;

/// <summary>
/// Stateful forecasting (<c>--task forecast --stateful</c>): the stream layout and its no-leakage rule, scoring at
/// the windowed forecaster's origins, learning beyond the truncation window, bounded memory, determinism and the
/// model file.
/// </summary>
[Collection("Engine threads")]
public class StatefulForecastTests(ITestOutputHelper output)
{
    private static CsvTable Table(IEnumerable<double> values)
    {
        var text = new StringBuilder("value\n");
        foreach (var v in values) text.Append(v.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        return CsvTable.Parse(text.ToString(), "series.csv");
    }

    private static TrainConfig Config(int bptt, int epochs, int horizon = 1, int lookback = 12, int batchSize = 1, int hidden = 8, ulong seed = 3) => new()
    {
        Task = "forecast", Stateful = true, Bptt = bptt, Epochs = epochs, Horizon = horizon, Lookback = lookback, Season = 1,
        BatchSize = batchSize, Hidden = hidden, Seed = seed,
    };

    private static ForecastPanel Panel(double[] values, int lookback, int horizon) =>
        ForecastPanel.Single(new ForecastWindows(values, lookback, horizon, "series"));

    [Fact]
    public void TrainingStreamsPredictOnlyTrainingRowsAndCoverEveryStepOnce()
    {
        var values = Enumerable.Range(0, 400).Select(t => (double)t).ToArray(); // the value names its row
        var panel = Panel(values, lookback: 12, horizon: 3);
        var scaling = new ForecastScaling("global", "standard", Center: 0, Scale: 1, StepScale: 1);
        var data = ForecastStreams.Training(panel, [scaling], window: 10, streams: 32);
        int training = panel.Series[0].TrainingRowCount, steps = training - 3;
        // 277 steps, at most ⌊277 / (8·10)⌋ = 3 streams of 93, 92, 92 steps in windows of 10.
        Assert.Equal(3, data.Streams);
        Assert.Equal(10, data.WindowsPerStream);
        var inputs = new List<float>();
        for (int n = 0; n < data.Count; n++)
            for (int t = 0; t < data.Steps; t++)
            {
                int step = n * data.Steps + t;
                if (data.StepMask![step] == 0) continue;
                float row = data.Values![step];
                inputs.Add(row);
                // Targets: the next three rows, every one a training row.
                Assert.Equal([row + 1, row + 2, row + 3], data.StepTargets.AsSpan(step * 3, 3).ToArray());
                Assert.True(row + 3 < training, $"row {row} predicts beyond the training part ({training} rows)");
            }
        Assert.Equal(Enumerable.Range(0, steps).Select(r => (float)r), inputs.Order());
        // Stream 1 continues where stream 0 ends; its window 1 continues its window 0.
        Assert.Equal(93f, data.Values![1 * data.Steps]);
        Assert.Equal(103f, data.Values[(1 * 3 + 1) * data.Steps]);
    }

    /// <summary>Scoring at origins in windows with the state carried equals one forward over the whole series read at those rows.</summary>
    [Fact]
    public void ForecastsAtOriginsEqualOneForwardOverTheWholeHistory()
    {
        var random = new RecurRandom(4);
        var values = Enumerable.Range(0, 700).Select(t => Math.Sin(t / 5.0) + 0.1 * random.Normal()).ToArray();
        var panel = Panel(values, lookback: 12, horizon: 2);
        var scaling = ForecastScaling.Fit("global", panel.TrainingSegments(0));
        var model = new SequenceModel(new SequenceModelSpec { HiddenSize = 8, Layers = 2, OutputSize = 2, PerStep = true, Stateful = true }, new RecurRandom(9));
        var origins = ForecastStreams.Origins(panel, ForecastPart.Test);
        var forecasts = StatefulForecast.Forecast(model, panel.Series, [scaling], origins);

        int last = origins[0][^1];
        var whole = new Tensor(1, last + 1, 1);
        for (int t = 0; t <= last; t++) whole.Data[t] = (float)((values[t] - scaling.Center) / scaling.Scale);
        var outputs = model.Forward(Tape.Inference, new SequenceBatch(1, last + 1, whole, null), training: false, null).Value.Data;
        var expected = origins[0].SelectMany(r => new[] { outputs[r * 2], outputs[r * 2 + 1] }).Select(o => scaling.Center + scaling.Scale * o).ToArray();
        Assert.Equal(panel.Count(ForecastPart.Test) * 2, forecasts.Length);
        Assert.True(GradientCheck.RelativeError(forecasts, expected) < 1e-5, $"relative error {GradientCheck.RelativeError(forecasts, expected):E2}");
    }

    /// <summary>
    /// A square wave of period 3K (K = 10: 15 ones, then 15 minus ones), forecast 5 steps ahead. Inside a
    /// plateau the last K values are all alike, so no function of them can tell when the flip comes: the best such
    /// forecaster predicts, for each distinct K-window, the mean of what follows it. That floor is computed here over
    /// the test origins (the within-group spread of the targets, exact for noise-free data) and holds for every
    /// model that reads K steps, the windowed forecaster with lookback K included (it reaches 0.558 against a floor of
    /// 0.557 here). The stateful model, trained in K-step windows, carries the phase in its state and must go well
    /// below the floor.
    /// </summary>
    [Fact]
    public void StatefulTrainingLearnsAPeriodLongerThanItsWindowBeyondWhatAnyKStepModelCan()
    {
        const int K = 10, H = 5, rows = 3000;
        var values = Enumerable.Range(0, rows).Select(t => t % (3 * K) < 3 * K / 2 ? 1.0 : -1.0).ToArray();
        var run = ForecastWorkflow.Train(Config(K, epochs: 20, horizon: H, lookback: K, batchSize: 4, hidden: 16, seed: 1) with { Season = 3 * K },
            Table(values), TextWriter.Null);

        var windows = new ForecastWindows(values, K, H, "square wave");
        var groups = Enumerable.Range(windows.TestStart, windows.TestCount)
            .GroupBy(i => string.Join(",", windows.Inputs(i).ToArray()), i => windows.Targets(i).ToArray());
        double squares = 0;
        foreach (var group in groups)
            for (int h = 0; h < H; h++)
            {
                double mean = group.Average(t => t[h]);
                squares += group.Sum(t => (t[h] - mean) * (t[h] - mean));
            }
        double floor = Math.Sqrt(squares / (windows.TestCount * H));
        double rmse = run.Report.Metrics["rmse"];
        output.WriteLine($"square wave, period {3 * K}, horizon {H}: stateful test RMSE {rmse:F4}; floor of any {K}-step model {floor:F4}; naive {run.Report.Baselines["naive"]["rmse"]:F4}");
        Assert.Equal(windows.TestCount, run.Report.TestSize);
        Assert.True(floor > 0.5, $"floor {floor}"); // the wave really is ambiguous to a K-step reader
        Assert.True(rmse < 0.6 * floor, $"stateful RMSE {rmse} vs the {K}-step floor {floor}");
    }

    /// <summary>
    /// The issue's memory check: a 10,000-row series trained in windows of 50 holds no more activation memory than a
    /// series whose whole training part is 50 steps, while one untruncated window over it holds about 140 times as much.
    /// </summary>
    [Fact]
    public void WorkspacePeakIsBoundedByTheWindowNotTheSeries()
    {
        var random = new RecurRandom(2);
        double[] Series(int n) => Enumerable.Range(0, n).Select(t => Math.Sin(t / 7.0) + 0.1 * random.Normal()).ToArray();
        // 68 rows: 56 windows of lookback 12, 39 of them training → 51 training rows, 50 steps with a complete target.
        long Peak(double[] values, int bptt) => ForecastWorkflow.Train(Config(bptt, epochs: 1), Table(values), TextWriter.Null).History.WorkspacePeakBytes;
        long shortSeries = Peak(Series(68), 50);
        long longSeries = Peak(Series(10_000), 50);
        long untruncated = Peak(Series(10_000), 10_000);
        output.WriteLine($"workspace peak: 50-step training part {shortSeries} B; 10,000-row series in windows of 50: {longSeries} B; untruncated: {untruncated} B ({(double)untruncated / shortSeries:F0}x)");
        Assert.True(shortSeries > 0);
        Assert.True(longSeries <= shortSeries + 4096, $"{longSeries} vs {shortSeries}");
        Assert.InRange((double)untruncated / shortSeries, 100, 141);
    }

    [Fact]
    public void SameSeedGivesTheSameBitsAndAnotherSeedOthers()
    {
        var random = new RecurRandom(6);
        var table = Table(Enumerable.Range(0, 600).Select(t => Math.Sin(t / 6.0) + 0.2 * random.Normal()));
        TrainedRun Run(ulong seed) => ForecastWorkflow.Train(Config(20, epochs: 2, horizon: 3, batchSize: 4, seed: seed), table, TextWriter.Null);
        var first = Run(5);
        var second = Run(5);
        Assert.Equal(first.Model.Snapshot(), second.Model.Snapshot());
        Assert.Equal(first.History.Epochs.Select(e => e.TrainLoss), second.History.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(first.Report.Metrics["rmse"], second.Report.Metrics["rmse"]);
        Assert.NotEqual(first.Model.Snapshot(), Run(6).Model.Snapshot());
    }

    [Fact]
    public void TheModelFileKeepsTheStatefulModelAndScoresItTheSameWay()
    {
        var random = new RecurRandom(8);
        var table = Table(Enumerable.Range(0, 500).Select(t => 10 + Math.Sin(t / 4.0) + 0.1 * random.Normal()));
        var run = ForecastWorkflow.Train(Config(16, epochs: 2, horizon: 2, batchSize: 4), table, TextWriter.Null);
        string path = Path.Combine(Path.GetTempPath(), $"recur-stateful-{Guid.NewGuid():N}.safetensors");
        try
        {
            new ModelFile(run.Model, run.Config, run.DataState, "{}").Save(path);
            var loaded = ModelFile.Load(path);
            Assert.True(loaded.Model.Spec.Stateful);
            Assert.True(loaded.Model.Spec.PerStep);
            Assert.Contains("\"stateful\":\"true\"", ModelFile.ArchitectureJson(loaded.Model.Spec));
            Assert.Equal(run.Model.Snapshot(), loaded.Model.Snapshot());
            var evaluated = ForecastWorkflow.Evaluate(loaded, table, all: false).ToJson();
            Assert.Equal(run.Report.ToJson()["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
            Assert.Equal(run.Report.ToJson()["baselines"]!.ToJsonString(), evaluated["baselines"]!.ToJsonString());
            Assert.Equal(16, evaluated["stateful"]!["bptt"]!.GetValue<int>());
            // A windowed model's architecture has no such key: files older builds wrote are unchanged.
            Assert.DoesNotContain("stateful", ModelFile.ArchitectureJson(new SequenceModelSpec()));

            // Predict: one forecast per series, after its last row, from the whole history.
            var predictions = ForecastWorkflow.Predict(loaded, table);
            Assert.Single(predictions);
            Assert.Equal(500, predictions[0]!["end_row"]!.GetValue<int>());
            var forecast = predictions[0]!["forecast"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            Assert.Equal(2, forecast.Length);
            Assert.All(forecast, v => Assert.InRange(v, 8, 12));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
