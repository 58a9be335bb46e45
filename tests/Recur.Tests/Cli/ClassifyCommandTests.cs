namespace Recur.Tests.Cli;

/// <summary><c>recur train --task classify</c>: character-level names → language.</summary>
public class ClassifyCommandTests
{
    [Fact]
    public void LastNamesByLanguageBeatTheMajorityClassTwice()
    {
        using var dir = new TempDirectory();
        // Merge locales by language: de_AT, de_CH, de → de.
        var merged = File.ReadLines(CliRunner.DataFile("lastnames-by-locale.tsv"))
            .Select(line => line.Split('\t'))
            .Select(f => $"{f[0]}\t{f[1].Split('_')[0]}");
        File.WriteAllLines(dir.File("names.tsv"), merged);

        var report = CliRunner.Json("train", "--task", "classify", "--data", dir.File("names.tsv"), "--no-header",
            "--text-column", "0", "--label-column", "1", "--epochs", "3", "--out", dir.File("run"), "--quiet", "--json");
        double accuracy = report["metrics"]!["accuracy"]!.GetValue<double>();
        double majority = report["baselines"]!["majority"]!["accuracy"]!.GetValue<double>();
        Assert.True(accuracy >= 2 * majority, $"accuracy {accuracy:F3} vs majority {majority:F3}");
        Assert.InRange(report["metrics"]!["macro_f1"]!.GetValue<double>(), 0.2, 1.0);
        Assert.Equal("de", report["majority_class"]!.GetValue<string>());

        var predictions = CliRunner.Json("predict", "--model", System.IO.Path.Combine(dir.File("run"), "model.safetensors"),
            "--data", dir.File("names.tsv"), "--json")["predictions"]!.AsArray();
        Assert.Equal(File.ReadLines(dir.File("names.tsv")).Count(), predictions.Count);
    }

    [Fact]
    public void NumericSequencesPerRowAreClassified()
    {
        using var dir = new TempDirectory();
        // Rising versus falling sequences of 8 readings with noise.
        var random = new Randomness.RecurRandom(4);
        var lines = new List<string> { string.Join(",", Enumerable.Range(0, 8).Select(i => $"x{i}")) + ",label" };
        for (int n = 0; n < 300; n++)
        {
            bool rising = random.NextInt(2) == 0;
            double start = random.Uniform(-1, 1);
            var values = Enumerable.Range(0, 8).Select(t => start + (rising ? 0.2 : -0.2) * t + 0.1 * random.Normal());
            lines.Add(string.Join(",", values.Select(v => v.ToString("F4", System.Globalization.CultureInfo.InvariantCulture))) + (rising ? ",up" : ",down"));
        }
        File.WriteAllLines(dir.File("seq.csv"), lines);
        var report = CliRunner.Json("train", "--task", "classify", "--data", dir.File("seq.csv"), "--label-column", "label",
            "--epochs", "15", "--out", dir.File("run"), "--quiet", "--json");
        Assert.True(report["metrics"]!["accuracy"]!.GetValue<double>() >= 0.9, report.ToJsonString());
    }

    [Theory]
    [InlineData("word")]
    [InlineData("bpe")]
    public void SentencesClassifiedWithWordAndBpeTokensFromTheModelFileAlone(string tokenizer)
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile("sentiment-labelled-sentences.tsv");
        var report = CliRunner.Json("train", "--task", "classify", "--data", data, "--no-header", "--text-column", "2", "--label-column", "1",
            "--tokenizer", tokenizer, "--epochs", "4", "--out", dir.File("run"), "--quiet", "--json");
        double accuracy = report["metrics"]!["accuracy"]!.GetValue<double>();
        Assert.True(accuracy >= 0.62, $"{tokenizer}: accuracy {accuracy:F3} on balanced sentiment (majority 0.5)");
        var evaluated = CliRunner.Json("evaluate", "--model", System.IO.Path.Combine(dir.File("run"), "model.safetensors"), "--data", data, "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
    }
}
