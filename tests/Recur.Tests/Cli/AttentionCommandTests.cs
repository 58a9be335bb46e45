using System.Text.Json.Nodes;
using Recur.Layers;
using Recur.Serialization;
using Recur.Training;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --attention</c> end to end: training, evaluation, the weights from predict, ONNX export (the attention decoder's refused).</summary>
public class AttentionCommandTests
{
    [Fact]
    public void AdditiveAttentionSentimentClassifierBeatsTheMajorityAndShowsItsWeights()
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile("sentiment-labelled-sentences.tsv");
        var report = CliRunner.Json("train", "--task", "classify", "--data", data, "--no-header", "--text-column", "2", "--label-column", "1",
            "--tokenizer", "word", "--attention", "additive", "--hidden", "32", "--epochs", "4", "--out", dir.File("run"), "--quiet", "--json");
        double accuracy = report["metrics"]!["accuracy"]!.GetValue<double>();
        double majority = report["baselines"]!["majority"]!["accuracy"]!.GetValue<double>();
        Assert.True(accuracy > majority + 0.05, $"accuracy {accuracy:F3} vs majority {majority:F3}");

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());

        var file = ModelFile.Load(model);
        Assert.Equal(AttentionKind.Additive, file.Model.Spec.Attention);
        Assert.Contains(file.Model.Parameters, p => p.Name == "attention.v");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "config.json")))!;
        Assert.Equal("additive", config["attention"]!.GetValue<string>());

        // The weights of every sentence: as many as its (kept) word tokens, summing to 1.
        var predicted = CliRunner.Json("predict", "--model", model, "--data", data, "--json");
        var predictions = predicted["predictions"]!.AsArray();
        var attention = predicted["attention"]!.AsArray();
        Assert.Equal(3000, predictions.Count);
        Assert.Equal(predictions.Count, attention.Count);
        var state = System.Text.Json.JsonSerializer.Deserialize<ClassifyState>(file.DataState)!;
        var texts = File.ReadAllLines(data).Select(line => line.Split('\t')[2]).ToArray();
        var lengths = state.CreateTokenizer().Encode(texts).Lengths;
        for (int i = 0; i < attention.Count; i++)
        {
            var weights = attention[i]!.AsArray().Select(w => w!.GetValue<double>()).ToArray();
            Assert.Equal(lengths[i], weights.Length);
            Assert.Equal(1.0, weights.Sum(), 4);
            Assert.All(weights, w => Assert.InRange(w, 0, 1));
        }

        // ONNX export writes the attention pooling into the graph.
        var (exit, _, stderr) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", dir.File("m.onnx"));
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        Assert.True(File.Exists(dir.File("m.onnx")));
    }

    [Fact]
    public void DotAttentionForecasterTrainsAndAPlainModelPredictsWithoutWeights()
    {
        using var dir = new TempDirectory();
        var report = CliRunner.Json("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--season", "11", "--attention", "dot",
            "--hidden", "16", "--epochs", "2", "--out", dir.File("run"), "--quiet", "--json");
        Assert.True(double.IsFinite(report["metrics"]!["rmse"]!.GetValue<double>()));
        Assert.Equal(AttentionKind.Dot, ModelFile.Load(Path.Combine(dir.File("run"), "model.safetensors")).Model.Spec.Attention);
    }

    [Fact]
    public void EncoderDecoderForecasterTrainsEvaluatesTheSameAndPredictsTheHorizon()
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile("sunspots-yearly.csv");
        var report = CliRunner.Json("train", "--data", data, "--season", "11", "--horizon", "3", "--decoder", "attention", "--attention", "additive",
            "--teacher-forcing", "0.9", "--normalize", "relative", "--hidden", "16", "--epochs", "2", "--out", dir.File("run"), "--quiet", "--json");
        Assert.True(double.IsFinite(report["metrics"]!["rmse"]!.GetValue<double>()));
        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        var spec = ModelFile.Load(model).Model.Spec;
        Assert.Equal(AttentionKind.Additive, spec.DecoderAttention);
        Assert.Equal(AttentionKind.None, spec.Attention);
        var predictions = CliRunner.Json("predict", "--model", model, "--data", data, "--json")["predictions"]!.AsArray();
        Assert.NotEmpty(predictions);
        Assert.All(predictions, p => Assert.Equal(3, p!["forecast"]!.AsArray().Count));

        // The attention decoder is not written to an ONNX graph: export refuses it rather than writing something else.
        var (exit, _, stderr) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", dir.File("m.onnx"));
        Assert.True(exit == 2, $"exit {exit}: {stderr}");
        Assert.Contains("DecoderAttention = Additive", stderr);
        Assert.Contains("ONNX export does not support", stderr);
        Assert.False(File.Exists(dir.File("m.onnx")));
    }

    [Theory]
    [InlineData("--decoder", "sideways", "--decoder: expected none or attention; found 'sideways'")]
    [InlineData("--teacher-forcing", "1.5", "--teacher-forcing: expected a probability in [0, 1]; found 1.5")]
    public void BadDecoderOptionsAreRefused(string flag, string value, string message)
    {
        using var dir = new TempDirectory();
        string[] decoder = flag == "--decoder" ? [] : ["--decoder", "attention"];
        var (exit, _, stderr) = CliRunner.Run(["train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), .. decoder, flag, value, "--out", dir.File("run")]);
        Assert.True(exit == 2, stderr);
        Assert.Contains(message, stderr);
        Assert.False(Directory.Exists(dir.File("run")));
    }

    [Fact]
    public void DecoderNeedsOneForecastTarget()
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = CliRunner.Run("train", "--data", CliRunner.DataFile("seattle-weather.csv"), "--target", "temp_max,temp_min",
            "--decoder", "attention", "--epochs", "1", "--out", dir.File("run"));
        Assert.True(exit == 2, stderr);
        Assert.Contains("--decoder attention forecasts one target column", stderr);
        (exit, _, stderr) = CliRunner.Run("train", "--task", "classify", "--data", CliRunner.DataFile("sentiment-labelled-sentences.tsv"), "--no-header",
            "--text-column", "2", "--label-column", "1", "--decoder", "attention", "--out", dir.File("run2"));
        Assert.True(exit == 2, stderr);
        Assert.Contains("use it with --task forecast", stderr);
    }

    [Theory]
    [InlineData("classify", "sideways", "--attention: expected none, additive or dot; found 'sideways'")]
    [InlineData("lm", "dot", "--attention: attention pooling summarises a sequence")]
    public void BadAttentionIsRefused(string task, string value, string message)
    {
        using var dir = new TempDirectory();
        string data = CliRunner.DataFile(task == "lm" ? "moby-dick.txt" : "sentiment-labelled-sentences.tsv");
        var (exit, _, stderr) = CliRunner.Run("train", "--task", task, "--data", data, "--no-header", "--text-column", "2", "--label-column", "1",
            "--attention", value, "--out", dir.File("run"));
        Assert.True(exit == 2, stderr);
        Assert.Contains(message, stderr);
        Assert.False(Directory.Exists(dir.File("run")));
    }
}
