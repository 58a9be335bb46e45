using System.Text.Json.Nodes;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --task seq2seq</c>: pairs of texts, an attention encoder–decoder, decoded and scored beside baselines.</summary>
// Runs `train --threads` in-process, which sets the engine's process-wide thread count while it runs.
[Collection(EngineThreadsCollection.Name)]
public class SequenceToSequenceCommandTests
{
    private static double Metric(JsonNode report, string key) => report["metrics"]![key]!.GetValue<double>();
    private static double Baseline(JsonNode report, string baseline, string key) => report["baselines"]![baseline]![key]!.GetValue<double>();

    [Fact]
    public void DateNormalisationBeatsBothBaselinesAndTheSavedModelEvaluatesPredictsAndRefusesExport()
    {
        using var dir = new TempDirectory();
        string data = dir.File("dates.tsv");
        File.WriteAllText(data, DatePairs.Tsv(1500, 7));
        // Seeded, one thread: about 20 s.
        var report = CliRunner.Json("train", "--task", "seq2seq", "--data", data, "--source-column", "written", "--target-column", "iso",
            "--epochs", "8", "--hidden", "64", "--embedding-size", "16", "--threads", "1", "--seed", "3", "--out", dir.File("run"), "--quiet", "--json");
        Assert.Equal(150, report["test_size"]!.GetValue<int>());
        string text = report.ToJsonString();
        // Neither baseline ever writes the right ISO date; the model must, for a good share, and be close on the rest.
        foreach (var baseline in new[] { "copy_source", "most_frequent_target" })
        {
            Assert.True(Metric(report, "exact_match") >= Baseline(report, baseline, "exact_match") + 0.4, text);
            Assert.True(Metric(report, "cer") <= Baseline(report, baseline, "cer") / 4, text);
            Assert.True(Metric(report, "bleu") >= Baseline(report, baseline, "bleu") + 0.5, text);
            Assert.True(Metric(report, "token_accuracy") >= Baseline(report, baseline, "token_accuracy") + 0.4, text);
        }

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        foreach (var key in new[] { "exact_match", "token_accuracy", "cer", "bleu" }) Assert.Equal(Metric(report, key), Metric(evaluated, key), 12);

        File.WriteAllText(dir.File("new.tsv"), "written\n17 June 1999\nDecember 2, 2031\n");
        var predicted = CliRunner.Json("predict", "--model", model, "--data", dir.File("new.tsv"), "--json");
        var predictions = predicted["predictions"]!.AsArray();
        Assert.Equal(2, predictions.Count);
        Assert.All(predictions, p => Assert.Matches(@"^\d{4}-\d\d-\d\d$", p!.GetValue<string>()));
        var attention = predicted["attention"]!.AsArray()[0]!;
        Assert.Equal(12, attention["source_tokens"]!.AsArray().Count);
        var steps = attention["weights"]!.AsArray();
        Assert.Equal(attention["output_tokens"]!.AsArray().Count, steps.Count);
        Assert.Equal("<end>", attention["output_tokens"]!.AsArray()[^1]!.GetValue<string>());
        foreach (var step in steps)
        {
            Assert.Equal(12, step!.AsArray().Count);
            Assert.Equal(1.0, step.AsArray().Sum(w => w!.GetValue<double>()), 4);
        }
        var (exit, stdout, _) = CliRunner.Run("predict", "--model", model, "--data", dir.File("new.tsv"));
        Assert.Equal(0, exit);
        Assert.Equal(predictions.Select(p => p!.GetValue<string>()), stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var (exportExit, _, exportError) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", dir.File("model.onnx"));
        Assert.Equal(2, exportExit);
        Assert.Contains("seq2seq model decodes token by token", exportError);
        Assert.False(File.Exists(dir.File("model.onnx")));
    }

    [Theory]
    [InlineData("written\tiso\n1 May 2001\t2001-05-01\n2 May 2001\t\n", null, "pairs.tsv:3", "missing value")]
    [InlineData("written\tiso\n1 May 2001\t2001-05-01\n2 May 2001\t2001-05-02-x\n", "--max-target-length=10", "pairs.tsv:3, column 'iso': the target has 12 tokens", "--max-target-length")]
    [InlineData("written\tiso\n1 May 2001\t2001-05-01\n", "--target-column=isodate", "isodate", "written, iso")]
    public void BadPairsAreOneClearErrorAndWriteNothing(string text, string? flag, string where, string what)
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("pairs.tsv"), text + string.Concat(Enumerable.Range(3, 20).Select(d => $"{d} May 2001\t2001-05-{d:00}\n")));
        string[] args = ["train", "--task", "seq2seq", "--data", dir.File("pairs.tsv"), "--source-column", "written", "--out", dir.File("run"), "--quiet", "--epochs", "1"];
        args = [.. args, flag ?? "--target-column=iso"];
        if (flag is not null && !flag.StartsWith("--target-column", StringComparison.Ordinal)) args = [.. args, "--target-column=iso"];
        var (exit, _, stderr) = CliRunner.Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(where, stderr);
        Assert.Contains(what, stderr);
        Assert.False(Directory.Exists(dir.File("run")), "nothing is written for bad input");
    }

    [Fact]
    public void SeqToSeqFlagsAreRefusedForOtherTasksAndABidirectionalEncoderIsRefused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("pairs.tsv"), DatePairs.Tsv(30, 1));
        var (exit, _, stderr) = CliRunner.Run("train", "--task", "classify", "--data", dir.File("pairs.tsv"), "--beam", "3", "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("--beam applies to --task seq2seq only", stderr);
        (exit, _, stderr) = CliRunner.Run("train", "--task", "seq2seq", "--data", dir.File("pairs.tsv"), "--source-column", "written", "--target-column", "iso",
            "--bidirectional", "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("--bidirectional", stderr);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void TheDataCommandProfilesPairs()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("pairs.tsv"), DatePairs.Tsv(200, 5));
        var profile = CliRunner.Json("data", "--data", dir.File("pairs.tsv"), "--task", "seq2seq", "--source-column", "written", "--target-column", "iso", "--json");
        Assert.Equal("seq2seq", profile["task"]!.GetValue<string>());
        Assert.Equal(10, profile["target_longest"]!.GetValue<int>());
        Assert.Equal(11, profile["target_vocabulary_size"]!.GetValue<int>()); // the digits and '-'
        Assert.Equal(200, profile["splits"]!["train"]!.GetValue<int>() + profile["splits"]!["validation"]!.GetValue<int>() + profile["splits"]!["test"]!.GetValue<int>());
    }

    [Fact]
    public void TheBundledDatesFileIsTheGeneratorsOutput()
    {
        Assert.Equal(DatePairs.Tsv(3000, 2024), File.ReadAllText(CliRunner.DataFile("dates.tsv")));
    }
}
