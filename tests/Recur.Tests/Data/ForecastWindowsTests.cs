using Recur.Data;
using Recur.Tests.Cli;

namespace Recur.Tests.Data;

/// <summary>Window positions, the time-ordered split and its gaps, with and without stride.</summary>
public class ForecastWindowsTests
{
    private static double[] Rows(int n) => Enumerable.Range(0, n).Select(i => (double)i).ToArray();

    [Fact]
    public void WindowsSplitInTimeOrderWithAGapOfHorizonMinusOne()
    {
        var w = new ForecastWindows(Rows(110), lookback: 8, horizon: 3, "s");
        Assert.Equal(100, w.Count);
        Assert.Equal((20, 10, 2), (w.TestCount, w.ValidationCount, w.Gap));
        Assert.Equal(66, w.TrainCount);
        Assert.Equal(68, w.ValidationStart);
        Assert.Equal(80, w.TestStart);
        // The last training target row comes before the first validation target row, and so on.
        double lastTrainTarget = w.Targets(w.TrainCount - 1)[^1], firstValidationTarget = w.Targets(w.ValidationStart)[0];
        Assert.True(lastTrainTarget < firstValidationTarget);
        Assert.True(w.Targets(w.ValidationStart + w.ValidationCount - 1)[^1] < w.Targets(w.TestStart)[0]);
        Assert.Equal(w.TrainCount - 1 + 8 + 3, w.TrainingRows.Length);
    }

    [Fact]
    public void StrideSpacesTheWindows()
    {
        var w = new ForecastWindows(Rows(110), lookback: 8, horizon: 3, "s", stride: 4);
        Assert.Equal((110 - 11) / 4 + 1, w.Count);
        Assert.Equal(12.0, w.Inputs(3)[0]);
        Assert.Equal(20.0, w.Targets(3)[0]);
        Assert.Equal(1, w.Gap);
        Assert.True(w.Targets(w.TrainCount - 1)[^1] < w.Targets(w.ValidationStart)[0]);
        Assert.Equal(w.FirstRow(w.TrainCount - 1) + 11, w.TrainingRows.Length);
        Assert.Contains("every 4 rows", Assert.Throws<InvalidInputException>(() => new ForecastWindows(Rows(40), 8, 3, "s", stride: 4)).Message);
    }

    [Fact]
    public void StrideRoundTripsThroughTheModelFile()
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile("sunspots-yearly.csv");
        var report = CliRunner.Json("train", "--data", data, "--season", "11", "--stride", "2", "--epochs", "5", "--normalize", "relative",
            "--out", dir.File("run"), "--quiet", "--json");
        // 309 rows, lookback 22, horizon 1, stride 2: (309 − 23) / 2 + 1 = 144 windows, round(0.2 · 144) = 29 in test.
        Assert.Equal(29, report["test_size"]!.GetValue<int>());
        var evaluated = CliRunner.Json("evaluate", "--model", Path.Combine(dir.File("run"), "model.safetensors"), "--data", data, "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
    }
}
