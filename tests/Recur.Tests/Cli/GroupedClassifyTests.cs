using System.Globalization;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --task classify --id-column</c>: numeric sequences of any length, one per id.</summary>
public class GroupedClassifyTests
{
    /// <summary>Rising or falling walks of 4–24 readings of two sensors, rows of different walks interleaved in pairs.</summary>
    private static string Walks(TempDirectory dir, int count = 240)
    {
        var random = new Randomness.RecurRandom(11);
        var walks = new List<List<string>>();
        for (int n = 0; n < count; n++)
        {
            bool rising = random.NextInt(2) == 0;
            int length = 4 + random.NextInt(21);
            double level = random.Uniform(-5, 5);
            var rows = new List<string>();
            for (int t = 0; t < length; t++)
            {
                level += (rising ? 0.3 : -0.3) + 0.2 * random.Normal();
                rows.Add(string.Create(CultureInfo.InvariantCulture, $"w{n},{level:F3},{random.Normal():F3},{(rising ? "up" : "down")}"));
            }
            walks.Add(rows);
        }
        var lines = new List<string> { "walk,position,noise,direction" };
        for (int n = 0; n < count; n += 2) // interleave pairs of walks row by row
        {
            var a = walks[n];
            var b = n + 1 < count ? walks[n + 1] : [];
            for (int t = 0; t < Math.Max(a.Count, b.Count); t++)
            {
                if (t < a.Count) lines.Add(a[t]);
                if (t < b.Count) lines.Add(b[t]);
            }
        }
        File.WriteAllLines(dir.File("walks.csv"), lines);
        return dir.File("walks.csv");
    }

    [Fact]
    public void VariableLengthSequencesByIdAreClassifiedAndPredictedPerId()
    {
        using var dir = new TempDirectory();
        string data = Walks(dir);
        var report = CliRunner.Json("train", "--task", "classify", "--data", data, "--id-column", "walk", "--label-column", "direction",
            "--epochs", "12", "--out", dir.File("run"), "--quiet", "--json");
        Assert.True(report["metrics"]!["accuracy"]!.GetValue<double>() >= 0.9, report.ToJsonString());
        Assert.Equal(24, report["test_size"]!.GetValue<int>()); // 10% of 240 sequences, not of their rows

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(report["metrics"]!["accuracy"]!.GetValue<double>(), evaluated["metrics"]!["accuracy"]!.GetValue<double>(), 12);
        var predictions = CliRunner.Json("predict", "--model", model, "--data", data, "--json")["predictions"]!.AsArray();
        Assert.Equal(240, predictions.Count);
        Assert.Equal("w0", predictions[0]!["id"]!.GetValue<string>());
        Assert.Equal("w1", predictions[1]!["id"]!.GetValue<string>());
        Assert.Contains(predictions[0]!["label"]!.GetValue<string>(), new[] { "up", "down" });
    }

    [Fact]
    public void ASequenceWithTwoLabelsOrOverTheMaximumIsOneClearError()
    {
        using var dir = new TempDirectory();
        File.WriteAllLines(dir.File("mixed.csv"), ["id,x,label", "a,1,up", "a,2,up", "b,1,down", "a,3,down", "b,0,down"]);
        var (exit, _, stderr) = CliRunner.Run("train", "--task", "classify", "--data", dir.File("mixed.csv"), "--id-column", "id", "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("mixed.csv:5, column 'label': label 'down' differs from 'up' on line 2", stderr);
        Assert.False(Directory.Exists(dir.File("run")));

        string data = Walks(dir, 60);
        (exit, _, stderr) = CliRunner.Run("train", "--task", "classify", "--data", data, "--id-column", "walk", "--label-column", "direction",
            "--max-length", "10", "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("rows; the configured maximum is 10 (raise --max-length)", stderr);
        Assert.False(Directory.Exists(dir.File("run")));
    }
}
