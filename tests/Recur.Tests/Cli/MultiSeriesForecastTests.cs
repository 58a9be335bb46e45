using System.Globalization;
using System.Text.Json.Nodes;
using Recur.Randomness;
using Recur.Serialization;

namespace Recur.Tests.Cli;

/// <summary>recur train/evaluate/predict with several targets, several series in one file, and the bundled weather data.</summary>
public class MultiSeriesForecastTests
{
    private static double Rmse(JsonNode scores, string? baseline = null) =>
        (baseline is null ? scores["metrics"]!["rmse"] : scores["baselines"]![baseline]!["rmse"])!.GetValue<double>();

    [Fact]
    public void TwoTargetsAreTrainedScoredAndPredictedTogether()
    {
        using var dir = new TempDirectory();
        var random = new RecurRandom(7);
        var lines = new List<string> { "t,level,rate,noise" };
        for (int t = 0; t < 160; t++)
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{t},{200 + 50 * Math.Sin(2 * Math.PI * t / 8) + random.Normal():F3},{0.5 * Math.Cos(2 * Math.PI * t / 8) + 0.05 * random.Normal():F4},{random.Normal():F3}"));
        File.WriteAllLines(dir.File("two.csv"), lines);
        var report = CliRunner.Json("train", "--data", dir.File("two.csv"), "--target", "level", "--target", "rate", "--features", "noise",
            "--horizon", "2", "--season", "8", "--epochs", "2", "--hidden", "8", "--normalize", "relative", "--out", dir.File("run"), "--quiet", "--json");

        // DESIGN's shape, pooled over the targets; per-target scores under "targets"
        Assert.Equal(["rmse", "mae", "mape", "mase"], report["metrics"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(["naive", "seasonal_naive"], report["baselines"]!.AsObject().Select(kv => kv.Key));
        var targets = report["targets"]!.AsObject();
        Assert.Equal(["level", "rate"], targets.Select(kv => kv.Key));
        Assert.Contains("mean of the per-target mase", report["pooling"]!.GetValue<string>());
        double meanMase = targets.Average(kv => kv.Value!["metrics"]!["mase"]!.GetValue<double>());
        Assert.Equal(meanMase, report["metrics"]!["mase"]!.GetValue<double>(), 12);
        // a period-8 season: seasonal naive is far better than naive for level; each target is scored in its own units
        Assert.True(Rmse(targets["level"]!, "seasonal_naive") < 0.2 * Rmse(targets["level"]!, "naive"), targets.ToJsonString());
        Assert.True(Rmse(targets["level"]!, "naive") > 10 * Rmse(targets["rate"]!, "naive"), "each target is scored in its own units");

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var spec = ModelFile.Load(model).Model.Spec;
        Assert.Equal((3, 4), (spec.InputSize, spec.OutputSize)); // level, rate, noise in; 2 targets × horizon 2 out

        var csv = File.ReadAllLines(Path.Combine(dir.File("run"), "test_predictions.csv"));
        Assert.Equal("target,window,row,step,actual,predicted,naive,seasonal_naive", csv[0]);
        Assert.Equal(report["test_size"]!.GetValue<int>() * 2 * 2, csv.Length - 1);
        Assert.StartsWith("level,", csv[1]);
        Assert.StartsWith("rate,", csv[3]);

        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", dir.File("two.csv"), "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        Assert.Equal(report["targets"]!.ToJsonString(), evaluated["targets"]!.ToJsonString());

        var predictions = CliRunner.Json("predict", "--model", model, "--data", dir.File("two.csv"), "--json")["predictions"]!.AsArray();
        Assert.Equal(160, predictions[^1]!["end_row"]!.GetValue<int>());
        var last = predictions[^1]!["forecast"]!.AsObject();
        Assert.Equal(["level", "rate"], last.Select(kv => kv.Key));
        Assert.All(last, kv => Assert.Equal(2, kv.Value!.AsArray().Count));
        Assert.InRange(last["level"]![0]!.GetValue<double>(), 100, 300);
        Assert.InRange(last["rate"]![0]!.GetValue<double>(), -2, 2);
        var (exit, text, _) = CliRunner.Run("predict", "--model", model, "--data", dir.File("two.csv"));
        Assert.Equal(0, exit);
        Assert.Matches(@"^160\tlevel=[-0-9.E]+,[-0-9.E]+\trate=", text.Split('\n')[^2]);
    }

    [Fact]
    public void SeveralSeriesByIdTrainOneModelScoredPerSeries()
    {
        using var dir = new TempDirectory();
        var random = new RecurRandom(5);
        var lines = new List<string> { "store,day,sales" };
        // Store "north" trends up with a weekly cycle, "south" is level at a much larger size; rows interleaved.
        for (int t = 0; t < 120; t++)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"north,{t},{20 + 0.2 * t + 5 * Math.Sin(2 * Math.PI * t / 7) + 0.3 * random.Normal():F3}"));
            if (t < 100) lines.Add(string.Create(CultureInfo.InvariantCulture, $"south,{t},{500 + 40 * Math.Sin(2 * Math.PI * t / 7) + 2 * random.Normal():F3}"));
        }
        File.WriteAllLines(dir.File("stores.csv"), lines);
        var report = CliRunner.Json("train", "--data", dir.File("stores.csv"), "--id-column", "store", "--target", "sales", "--season", "7",
            "--lookback", "14", "--epochs", "2", "--hidden", "8", "--normalize", "instance", "--out", dir.File("run"), "--quiet", "--json");
        var series = report["series"]!.AsObject();
        Assert.Equal(["north", "south"], series.Select(kv => kv.Key));
        // (120 − 15 + 1) = 106 windows → 21 test; (100 − 15 + 1) = 86 → 17 test
        Assert.Equal(21, series["north"]!["test_size"]!.GetValue<int>());
        Assert.Equal(17, series["south"]!["test_size"]!.GetValue<int>());
        Assert.Equal(38, report["test_size"]!.GetValue<int>());
        // pooled RMSE over both stores lies between the per-store ones
        Assert.InRange(Rmse(report), Rmse(series["north"]!), Rmse(series["south"]!));

        // test rows of each store are its own last rows (file lines of that id)
        var csv = File.ReadAllLines(Path.Combine(dir.File("run"), "test_predictions.csv"));
        Assert.Equal("id,window,row,step,actual,predicted,naive,seasonal_naive", csv[0]);
        Assert.Equal(38, csv.Length - 1);
        Assert.All(csv.Skip(1), line =>
        {
            var cells = line.Split(',');
            int row = int.Parse(cells[2], CultureInfo.InvariantCulture);
            Assert.StartsWith(cells[0] + ",", lines[row]); // data row r is file line r + 1, lines[r] (lines[0] is the header)
        });

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", dir.File("stores.csv"), "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        Assert.Equal(report["series"]!.ToJsonString(), evaluated["series"]!.ToJsonString());

        var predictions = CliRunner.Json("predict", "--model", model, "--data", dir.File("stores.csv"), "--json")["predictions"]!.AsArray();
        Assert.Equal((120 - 14 + 1) + (100 - 14 + 1), predictions.Count);
        var lastSouth = predictions.Last(p => p!["id"]!.GetValue<string>() == "south")!;
        Assert.Equal(lines.FindLastIndex(l => l.StartsWith("south,", StringComparison.Ordinal)), lastSouth["end_row"]!.GetValue<int>());
        Assert.InRange(lastSouth["forecast"]![0]!.GetValue<double>(), 350, 650); // south's own level, not north's

        // a store too short for one window per part: named with its row count
        File.WriteAllLines(dir.File("short.csv"), lines.Append("east,0,3").Append("east,1,4"));
        var (exit, _, stderr) = CliRunner.Run("train", "--data", dir.File("short.csv"), "--id-column", "store", "--target", "sales", "--season", "7",
            "--lookback", "14", "--out", dir.File("short"));
        Assert.Equal(2, exit);
        Assert.Contains("short.csv, store 'east': 2 rows give 0 windows", stderr);
    }

    [Fact]
    public void SeattleWeatherForecasterBeatsBothBaselines()
    {
        using var dir = new TempDirectory();
        // The README's example with one normalisation and fewer epochs, to keep the test short.
        var report = CliRunner.Json("train", "--data", CliRunner.DataFile("seattle-weather.csv"), "--target", "temp_max",
            "--features", "temp_min,precipitation,wind", "--time-column", "date", "--calendar", "--season", "365", "--lookback", "28",
            "--normalize", "relative", "--epochs", "8", "--out", dir.File("run"), "--quiet", "--json");
        double rmse = Rmse(report), naive = Rmse(report, "naive"), seasonal = Rmse(report, "seasonal_naive");
        Assert.True(rmse < 0.75 * seasonal, $"RMSE {rmse} vs seasonal naive {seasonal}: expected at least 25% lower");
        Assert.True(rmse < 0.97 * naive, $"RMSE {rmse} vs naive {naive}: expected at least 3% lower");
    }
}
