using System.Globalization;
using System.Text.Json.Nodes;
using Recur.Inference;
using Recur.Randomness;
using Recur.Serialization;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --task forecast --stateful</c> and what follows it: evaluate, predict, serve, export, and the flag combinations it refuses.</summary>
public class StatefulForecastCommandTests
{
    /// <summary>Two stores of 160 and 120 days, rows interleaved.</summary>
    private static string Stores(TempDirectory dir)
    {
        var random = new RecurRandom(3);
        var lines = new List<string> { "store,day,sales" };
        for (int t = 0; t < 160; t++)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"north,{t},{20 + 5 * Math.Sin(2 * Math.PI * t / 7) + 0.3 * random.Normal():F3}"));
            if (t < 120) lines.Add(string.Create(CultureInfo.InvariantCulture, $"south,{t},{50 + 8 * Math.Sin(2 * Math.PI * t / 7) + 0.5 * random.Normal():F3}"));
        }
        File.WriteAllLines(dir.File("stores.csv"), lines);
        return dir.File("stores.csv");
    }

    [Fact]
    public void AStatefulRunOverSeveralSeriesIsEvaluatedPredictedAndServedButNotExported()
    {
        using var dir = new TempDirectory();
        string data = Stores(dir);
        var report = CliRunner.Json("train", "--data", data, "--id-column", "store", "--target", "sales", "--season", "7", "--lookback", "14", "--horizon", "2",
            "--stateful", "--bptt", "10", "--epochs", "2", "--hidden", "8", "--out", dir.File("run"), "--quiet", "--json");
        // The windowed forecaster's report: the same test windows, metrics and baselines, per series as well.
        Assert.Equal(["rmse", "mae", "mape", "mase"], report["metrics"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(["naive", "seasonal_naive"], report["baselines"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(["north", "south"], report["series"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal("global", report["normalize"]!.GetValue<string>());
        Assert.Equal(10, report["stateful"]!["bptt"]!.GetValue<int>());
        // Lookback 14, horizon 2: 145 and 105 windows, 29 and 21 of them test.
        Assert.Equal(29 + 21, report["test_size"]!.GetValue<int>());
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "config.json")))!;
        Assert.True(config["stateful"]!.GetValue<bool>());
        Assert.Equal(10, config["bptt"]!.GetValue<int>());

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        Assert.True(ModelFile.Load(model).Model.Spec.Stateful);
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        Assert.Equal(report["series"]!.ToJsonString(), evaluated["series"]!.ToJsonString());

        // One forecast per series, after its last row.
        var predictions = CliRunner.Json("predict", "--model", model, "--data", data, "--json")["predictions"]!.AsArray();
        Assert.Equal(["north", "south"], predictions.Select(p => p!["id"]!.GetValue<string>()));
        Assert.Equal(280, predictions[0]!["end_row"]!.GetValue<int>()); // north's last row is the file's last data row
        Assert.Equal(240, predictions[1]!["end_row"]!.GetValue<int>());
        Assert.All(predictions, p => Assert.Equal(2, p!["forecast"]!.AsArray().Count));

        // Served: a request holding any history (here three rows of one store) gets the forecast after it.
        var predictor = Predictor.Load(model);
        Assert.True(predictor.Schema.Stateful);
        Assert.Equal(1, predictor.Schema.ToJson()["min_rows_per_series"]!.GetValue<int>());
        var rows = new JsonArray(Enumerable.Range(0, 3).Select(i => (JsonNode?)new JsonObject { ["store"] = "north", ["sales"] = 20.0 + i }).ToArray());
        var served = predictor.PredictJson(new JsonObject { ["rows"] = rows });
        Assert.Single(served);
        Assert.Equal(3, served[0]!["end_row"]!.GetValue<int>());

        var (exit, stdout, stderr) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", dir.File("model.onnx"));
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Contains("stateful forecaster", stderr);
        Assert.Contains("no state inputs or outputs", stderr);
        Assert.False(File.Exists(dir.File("model.onnx")));
    }

    [Theory]
    [InlineData("--normalize relative", "--normalize relative", "global scaling")]
    [InlineData("--normalize instance", "--normalize instance", "no window")]
    [InlineData("--bidirectional", "--bidirectional", "would read the rows it predicts")]
    [InlineData("--attention additive", "--attention", "carried state")]
    [InlineData("--decoder attention", "--decoder attention", "drop --decoder or --stateful")]
    [InlineData("--curriculum length", "--curriculum", "in order")]
    public void ConflictingOptionsAreRefusedBeforeAnythingIsWritten(string flags, string named, string reason) =>
        AssertRejected(["--stateful", .. flags.Split(' ')], named, reason);

    [Fact]
    public void BpttWithoutStatefulIsRefused() => AssertRejected(["--bptt", "20"], "--bptt 20", "add --stateful");

    [Fact]
    public void StatefulClassificationIsRefused() => AssertRejected(["--task", "classify", "--stateful"], "--stateful", "lm and forecast");

    [Fact]
    public void AZeroWindowIsRefused() => AssertRejected(["--stateful", "--bptt", "0"], "--bptt", "at least 1");

    private static void AssertRejected(string[] flags, params string[] fragments)
    {
        using var dir = new TempDirectory();
        string data = Stores(dir);
        var (exit, stdout, stderr) = CliRunner.Run(["train", "--data", data, "--id-column", "store", "--target", "sales", "--epochs", "1", "--out", dir.File("run"), .. flags]);
        Assert.True(exit == 2, $"expected exit 2, got {exit}; stderr: {stderr}");
        Assert.Equal("", stdout);
        foreach (var fragment in fragments) Assert.Contains(fragment, stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(dir.File("run")), "a refused run must not leave a run directory");
    }
}
