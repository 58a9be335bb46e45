namespace Recur.Tests.Cli;

/// <summary><c>recur train --bidirectional --layers 2</c> end to end, and the options' bad values.</summary>
public class BidirectionalCommandTests
{
    [Fact]
    public void BidirectionalTwoLayerSentimentClassifierBeatsTheMajorityAndEvaluatesTheSame()
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile("sentiment-labelled-sentences.tsv");
        var report = CliRunner.Json("train", "--task", "classify", "--data", data, "--no-header", "--text-column", "2", "--label-column", "1",
            "--tokenizer", "word", "--bidirectional", "--layers", "2", "--layer-dropout", "0.1", "--residual", "--hidden", "32",
            "--epochs", "4", "--out", dir.File("run"), "--quiet", "--json");
        double accuracy = report["metrics"]!["accuracy"]!.GetValue<double>();
        double majority = report["baselines"]!["majority"]!["accuracy"]!.GetValue<double>();
        Assert.True(accuracy > majority + 0.05, $"accuracy {accuracy:F3} vs majority {majority:F3}");

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());

        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "config.json")))!;
        Assert.True(config["bidirectional"]!.GetValue<bool>());
        Assert.Equal(0.1, config["layer_dropout"]!.GetValue<double>());
        Assert.True(config["residual"]!.GetValue<bool>());
        var loaded = Recur.Serialization.ModelFile.Load(model).Model;
        Assert.True(loaded.Spec.Bidirectional);
        Assert.Contains(loaded.Parameters, p => p.Name == "encoder.weight_hh_l1_reverse");
        // The gradient-flow monitor reports each layer (both directions in one group).
        var flow = File.ReadAllText(Path.Combine(dir.File("run"), "gradient_flow.csv"));
        Assert.Contains(",encoder layer 1,", flow);
    }

    [Theory]
    [InlineData("--layer-dropout", "1", "--layer-dropout: expected a probability in [0, 1); found 1")]
    [InlineData("--layer-dropout", "-0.5", "--layer-dropout: expected a probability in [0, 1); found -0.5")]
    public void BadLayerDropoutIsRefused(string flag, string value, string message)
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = CliRunner.Run("train", "--task", "classify", "--data", CliRunner.DataFile("sentiment-labelled-sentences.tsv"),
            "--no-header", "--text-column", "2", "--label-column", "1", flag, value, "--out", dir.File("run"));
        Assert.True(exit == 2, stderr);
        Assert.Contains(message, stderr);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void BidirectionalLanguageModelIsRefused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("text.txt"), string.Concat(Enumerable.Repeat("the quick brown fox jumps over the lazy dog. ", 50)));
        var (exit, _, stderr) = CliRunner.Run("train", "--task", "lm", "--data", dir.File("text.txt"), "--bidirectional", "--out", dir.File("run"));
        Assert.True(exit == 2, stderr);
        Assert.Contains("--bidirectional: a language model predicts each next token", stderr);
        Assert.False(Directory.Exists(dir.File("run")));

        File.WriteAllText(dir.File("config.json"), """{"task": "lm", "bidirectional": true}""");
        (exit, _, stderr) = CliRunner.Run("train", dir.File("config.json"), "--data", dir.File("text.txt"), "--out", dir.File("run"));
        Assert.True(exit == 2, stderr);
        Assert.Contains("without --bidirectional", stderr);
    }
}
