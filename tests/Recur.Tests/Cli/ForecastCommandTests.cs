using System.Globalization;
using System.Text.Json.Nodes;
using Recur.Data;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Training;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --task forecast</c> on real and synthetic series, against naive baselines.</summary>
// Runs `train --threads` in-process, which sets the engine's process-wide thread count while it runs.
[Collection(EngineThreadsCollection.Name)]
public class ForecastCommandTests
{
    private static double Metric(JsonObject report, string metric, string? baseline = null) =>
        (baseline is null ? report["metrics"]![metric] : report["baselines"]![baseline]![metric])!.GetValue<double>();

    [Fact]
    public void SunspotsForecasterBeatsNaiveAndSeasonalNaive()
    {
        using var dir = new TempDirectory();
        var report = CliRunner.Json("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--season", "11",
            "--epochs", "40", "--out", dir.File("run"), "--quiet", "--json");
        Assert.Equal("forecast", report["task"]!.GetValue<string>());
        double rmse = Metric(report, "rmse");
        Assert.True(rmse < Metric(report, "rmse", "naive"), $"model RMSE {rmse} vs naive {Metric(report, "rmse", "naive")}");
        Assert.True(rmse < Metric(report, "rmse", "seasonal_naive"), $"model RMSE {rmse} vs seasonal naive {Metric(report, "rmse", "seasonal_naive")}");
        foreach (var file in new[] { "model.safetensors", "metrics.csv", "config.json", "report.json" })
            Assert.True(File.Exists(Path.Combine(dir.File("run"), file)), $"run directory lacks {file}");
        var metricsCsv = File.ReadAllLines(Path.Combine(dir.File("run"), "metrics.csv"));
        Assert.Equal("epoch,train_loss,validation_loss,learning_rate,seconds,best,skipped_steps,sequence_length,samples,workspace_peak_bytes", metricsCsv[0]);
        Assert.Equal(41, metricsCsv.Length);

        // evaluate from the model file alone reproduces the training run's test scores exactly
        var evaluated = CliRunner.Json("evaluate", "--model", Path.Combine(dir.File("run"), "model.safetensors"),
            "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        Assert.Equal(report["baselines"]!.ToJsonString(), evaluated["baselines"]!.ToJsonString());
        Assert.Equal(report["test_size"]!.GetValue<int>(), evaluated["test_size"]!.GetValue<int>());
    }

    /// <summary>Linear trend + season + noise: test values lie above everything seen in training.</summary>
    private static string TrendingSeries(TempDirectory dir)
    {
        var random = new RecurRandom(3);
        var lines = new List<string> { "t,value" };
        for (int t = 0; t < 400; t++)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{t},{0.5 * t + 10 * Math.Sin(2 * Math.PI * t / 12) + random.Normal():F4}"));
        File.WriteAllLines(dir.File("trend.csv"), lines);
        return dir.File("trend.csv");
    }

    [Fact]
    public void DefaultForecasterBeatsNaiveOnATrendWhereGlobalScalingFails()
    {
        using var dir = new TempDirectory();
        string data = TrendingSeries(dir);
        var auto = CliRunner.Json("train", "--data", data, "--season", "12", "--epochs", "30", "--out", dir.File("auto"), "--quiet", "--json");
        Assert.True(Metric(auto, "rmse") < Metric(auto, "rmse", "naive"), $"default RMSE {Metric(auto, "rmse")} vs naive {Metric(auto, "rmse", "naive")}");
        Assert.NotEqual("global", auto["normalize"]!.GetValue<string>());

        var global = CliRunner.Json("train", "--data", data, "--season", "12", "--epochs", "30", "--normalize", "global", "--out", dir.File("global"), "--quiet", "--json");
        Assert.True(Metric(global, "rmse") > Metric(global, "rmse", "naive"),
            $"global scaling was expected to fail beyond the training range; RMSE {Metric(global, "rmse")} vs naive {Metric(global, "rmse", "naive")}");
    }

    [Fact]
    public void ReloadedModelPredictsBitForBitAsTheTrainedOne()
    {
        using var dir = new TempDirectory();
        var table = CsvTable.Read(TrendingSeries(dir));
        var config = new TrainConfig { Season = 12, Epochs = 3, Normalize = "relative", Cell = "gru", Hidden = 8 };
        var run = ForecastWorkflow.Train(config, table, TextWriter.Null);
        var path = dir.File("model.safetensors");
        new ModelFile(run.Model, run.Config, run.DataState, "{}").Save(path);
        var loaded = ModelFile.Load(path);

        var state = System.Text.Json.JsonSerializer.Deserialize<ForecastState>(run.DataState)!;
        var windows = new ForecastWindows(table.Numeric(1), state.Lookback, state.Horizon, "trend.csv");
        var original = ForecastWorkflow.Forecast(run.Model, windows, state.Scaling, 0, windows.Count);
        var reloaded = ForecastWorkflow.Forecast(loaded.Model, windows, state.Scaling, 0, windows.Count);
        Assert.Equal(original.Select(BitConverter.DoubleToInt64Bits), reloaded.Select(BitConverter.DoubleToInt64Bits));

        // predict: one forecast per complete window, the last one ending at the last row
        var predictions = CliRunner.Json("predict", "--model", path, "--data", dir.File("trend.csv"), "--json")["predictions"]!.AsArray();
        Assert.Equal(table.RowCount - state.Lookback + 1, predictions.Count);
        Assert.Equal(table.RowCount, predictions[^1]!["end_row"]!.GetValue<int>());
        Assert.Equal(original[0], predictions[0]!["forecast"]![0]!.GetValue<double>());
    }

    [Fact]
    public void SameSeedGivesTheSameModelFile()
    {
        using var dir = new TempDirectory();
        string data = TrendingSeries(dir);
        string[] Args(string name) => ["train", "--data", data, "--epochs", "2", "--normalize", "relative", "--seed", "5", "--threads", "2", "--out", dir.File(name), "--quiet"];
        Assert.Equal(0, CliRunner.Run(Args("a")).exit);
        Assert.Equal(0, CliRunner.Run(Args("b")).exit);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("a"), "model.safetensors")), File.ReadAllBytes(Path.Combine(dir.File("b"), "model.safetensors")));
    }

    [Fact]
    public void DefaultTargetIsTheLastNumericColumn()
    {
        using var dir = new TempDirectory();
        var lines = new List<string> { "date,level,weather" };
        for (int t = 0; t < 120; t++)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"2020-01-{t % 28 + 1:D2},{Math.Sin(t / 5.0) * 10 + t:F3},{(t % 3 == 0 ? "rain" : "sun")}"));
        File.WriteAllLines(dir.File("w.csv"), lines);
        var (exit, stdout, stderr) = CliRunner.Run("train", "--data", dir.File("w.csv"), "--epochs", "2", "--out", dir.File("run"), "--quiet");
        Assert.True(exit == 0, stderr);
        Assert.Contains("target: column 'level'", stderr);
        Assert.Contains("rmse", stdout);
    }

    [Fact]
    public void AFeatureThatLeadsTheTargetIsUsed()
    {
        using var dir = new TempDirectory();
        // y_t = 5·x_{t−1} + noise, x white noise: y is unpredictable from its own past, predictable from x.
        var random = new RecurRandom(11);
        var x = Enumerable.Range(0, 400).Select(_ => random.Normal()).ToArray();
        var lines = new List<string> { "t,x,y" };
        for (int t = 0; t < 400; t++)
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"{t},{x[t]:F5},{(t > 0 ? 5 * x[t - 1] : 0) + 0.1 * random.Normal():F5}"));
        File.WriteAllLines(dir.File("lead.csv"), lines);
        string[] Args(string outDir, params string[] extra) =>
            ["train", "--data", dir.File("lead.csv"), "--target", "y", "--season", "1", "--lookback", "8", "--epochs", "30", "--out", dir.File(outDir), "--quiet", "--json", .. extra];

        var alone = CliRunner.Json(Args("alone"));
        var withFeature = CliRunner.Json(Args("with", "--features", "x"));
        double naive = Metric(withFeature, "rmse", "naive");
        Assert.True(Metric(withFeature, "rmse") < 0.2 * naive, $"with x: RMSE {Metric(withFeature, "rmse")} vs naive {naive}");
        Assert.True(Metric(alone, "rmse") > 0.5 * naive, $"without x: RMSE {Metric(alone, "rmse")} vs naive {naive}");

        // The saved model reads the feature from the file by itself.
        string model = Path.Combine(dir.File("with"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", dir.File("lead.csv"), "--json");
        Assert.Equal(withFeature["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        Assert.Equal(2, ModelFile.Load(model).Model.Spec.InputSize); // the target and one feature
    }
}
