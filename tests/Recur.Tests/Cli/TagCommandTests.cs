namespace Recur.Tests.Cli;

/// <summary><c>recur train --task tag</c>: one label per step, from word/TAG sentences or CSV rows grouped by id.</summary>
public class TagCommandTests
{
    [Fact]
    public void BrownFictionPartsOfSpeechReachEightyFivePercentOverRealSteps()
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile("brown-fiction-pos.txt");
        var report = CliRunner.Json("train", "--task", "tag", "--data", data, "--epochs", "4", "--lr", "0.01", "--batch-size", "16",
            "--out", dir.File("run"), "--quiet", "--json");
        double accuracy = report["metrics"]!["accuracy"]!.GetValue<double>();
        double majority = report["baselines"]!["majority"]!["accuracy"]!.GetValue<double>();
        Assert.True(accuracy >= 0.85, $"per-step accuracy {accuracy:F3} (majority tag {majority:F3})");
        Assert.Equal("nn", report["majority_class"]!.GetValue<string>());
        // test_size counts real steps: the tokens of the test sentences, not padded positions.
        int testTokens = report["test_size"]!.GetValue<int>();
        Assert.InRange(testTokens, 5000, 9000);

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(accuracy, evaluated["metrics"]!["accuracy"]!.GetValue<double>(), 12);
        Assert.Equal(testTokens, evaluated["test_size"]!.GetValue<int>());

        File.WriteAllLines(dir.File("plain.txt"), ["The old man walked home .", "She said nothing ."]);
        var predictions = CliRunner.Json("predict", "--model", model, "--data", dir.File("plain.txt"), "--json")["predictions"]!.AsArray();
        Assert.Equal(2, predictions.Count);
        Assert.Equal(6, predictions[0]!.AsArray().Count);
        Assert.Equal("at", predictions[0]![0]!.GetValue<string>());
        Assert.Equal(".", predictions[1]![3]!.GetValue<string>());
    }

    [Fact]
    public void SensorReadingsGroupedByMoteBeatTheMajorityOnMacroF1()
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile("sensor-single-hop.csv");
        var report = CliRunner.Json("train", "--task", "tag", "--data", data, "--id-column", "mote_id", "--label-column", "label",
            "--features", "humidity,temperature", "--class-weights", "balanced", "--epochs", "3", "--out", dir.File("run"), "--quiet", "--json");
        double f1 = report["metrics"]!["macro_f1"]!.GetValue<double>();
        double majority = report["baselines"]!["majority"]!["macro_f1"]!.GetValue<double>();
        Assert.True(f1 >= majority + 0.15, $"macro-F1 {f1:F3} vs majority {majority:F3}");
        Assert.True(report["per_class"]!["1"]!["recall"]!.GetValue<double>() > 0.3, report.ToJsonString());

        // predict: one label per row, in file order.
        var predictions = CliRunner.Json("predict", "--model", Path.Combine(dir.File("run"), "model.safetensors"), "--data", data, "--json")["predictions"]!.AsArray();
        Assert.Equal(File.ReadLines(data).Count() - 1, predictions.Count);
    }

    [Theory]
    [InlineData("The/at cat/nn sat/vbd ./.\nA/at dog/nn ran/vbd far/rb away/rb today/nr ./.\n", "--max-length=4", "long.txt:2: the sentence has 7 tokens", "configured maximum is 4")]
    [InlineData("The/at cat/nn\nA/at dog nn/\n", null, "bad.txt:2: token 2 'dog'", "expected word/TAG")]
    public void MalformedTaggedFilesAreOneClearError(string text, string? flag, string where, string what)
    {
        using var dir = new TempDirectory();
        string name = where.Split(':')[0];
        File.WriteAllText(dir.File(name), text);
        string[] args = ["train", "--task", "tag", "--data", dir.File(name), "--out", dir.File("run"), "--quiet"];
        if (flag is not null) args = [.. args, flag];
        var (exit, stdout, stderr) = CliRunner.Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(where, stderr);
        Assert.Contains(what, stderr);
        Assert.DoesNotContain("   at ", stderr); // no stack trace
        Assert.False(Directory.Exists(dir.File("run")));
        Assert.Equal("", stdout);
    }

    [Fact]
    public void NonUtf8TextIsRejectedWithItsLine()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("latin1.txt"), [.. "The/at cat/nn\n"u8, .. "caf"u8, 0xE9, .. "/nn\n"u8]);
        var (exit, _, stderr) = CliRunner.Run("train", "--task", "tag", "--data", dir.File("latin1.txt"), "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("latin1.txt:2: expected UTF-8 text; found byte 0xE9", stderr);
        Assert.False(Directory.Exists(dir.File("run")));
    }
}
