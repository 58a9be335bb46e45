using System.Globalization;
using Recur.Data;
using Recur.Randomness;
using Recur.Tests.Cli;

namespace Recur.Tests.Data;

/// <summary>Seasonal period detection by autocorrelation, and the missing-value policies.</summary>
public class SeasonAndMissingTests
{
    private static double[] Column(string file, string column)
    {
        var table = CsvTable.Read(CliRunner.DataFile(file));
        return table.Numeric(table.ColumnIndex(column));
    }

    [Theory]
    [InlineData("sunspots-yearly.csv", "SUNACTIVITY", 11)]
    [InlineData("us-births-2000-2014.csv", "births", 7)]
    public void RealSeriesGiveTheirKnownPeriods(string file, string column, int period)
    {
        var series = Column(file, column);
        // As the forecaster does: detect on the part before validation and test.
        Assert.Equal(period, SeasonDetector.Detect(series.AsSpan(0, (int)(series.Length * 0.7))));
    }

    [Fact]
    public void ATrendDoesNotHideTheSeasonAndNoiseHasNone()
    {
        var random = new RecurRandom(3);
        var trend = Enumerable.Range(0, 300).Select(t => 0.5 * t + 10 * Math.Sin(2 * Math.PI * t / 12) + random.Normal()).ToArray();
        Assert.Equal(12, SeasonDetector.Detect(trend));
        var noise = Enumerable.Range(0, 300).Select(_ => random.Normal()).ToArray();
        Assert.Equal(1, SeasonDetector.Detect(noise));
    }

    [Fact]
    public void PoliciesFillOrDropMissingValues()
    {
        double[] series = [double.NaN, 1, double.NaN, double.NaN, 4, double.NaN];
        Assert.Equal([1, 1, 2, 3, 4, 4], MissingValues.Apply(series, "interpolate", "s"));
        Assert.Equal([1, 1, 1, 1, 4, 4], MissingValues.Apply(series, "ffill", "s"));
        Assert.Equal([1, 4], MissingValues.Apply(series, "drop", "s"));
        Assert.Throws<InvalidInputException>(() => MissingValues.Apply([double.NaN], "interpolate", "s"));
        Assert.Contains("--missing", Assert.Throws<InvalidInputException>(() => MissingValues.Check("mean")).Message);
    }

    [Fact]
    public void MissingCellsFailWithTheirLineUnlessAPolicyIsChosen()
    {
        using var dir = new TempDirectory();
        var lines = new List<string> { "t,value" };
        for (int t = 0; t < 150; t++) lines.Add(t % 17 == 5 ? $"{t},NA" : string.Create(CultureInfo.InvariantCulture, $"{t},{Math.Sin(t / 3.0):F4}"));
        File.WriteAllLines(dir.File("gaps.csv"), lines);
        var (exit, _, stderr) = CliRunner.Run("train", "--data", dir.File("gaps.csv"), "--out", dir.File("run"));
        Assert.Equal(2, exit);
        Assert.Contains("gaps.csv:7", stderr);
        Assert.Contains("--missing", stderr);

        var report = CliRunner.Json("train", "--data", dir.File("gaps.csv"), "--missing", "interpolate", "--epochs", "3", "--out", dir.File("run"), "--quiet", "--json");
        Assert.Equal("forecast", report["task"]!.GetValue<string>());
        // evaluate reads the file with the policy stored in the model
        var evaluated = CliRunner.Json("evaluate", "--model", Path.Combine(dir.File("run"), "model.safetensors"), "--data", dir.File("gaps.csv"), "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
    }

    [Fact]
    public void TrainingWithoutSeasonReportsTheDetectedOne()
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = CliRunner.Run("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--epochs", "2", "--out", dir.File("run"), "--quiet");
        Assert.True(exit == 0, stderr);
        Assert.Contains("season: 11 steps (detected", stderr);
    }
}
