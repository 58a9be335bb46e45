using System.Text.Json.Nodes;

namespace Recur.Tests.Cli;

/// <summary><c>recur train</c> with recurrent dropout, layer norm, weight decay and friends.</summary>
public class RegularizationCommandTests
{
    private static string Series(TempDirectory dir)
    {
        File.WriteAllText(dir.File("s.csv"), "t,value\n" + string.Concat(Enumerable.Range(0, 120).Select(i => $"{i},{Math.Sin(0.3 * i):F5}\n")));
        return dir.File("s.csv");
    }

    [Fact]
    public void RegularizedLayerNormModelTrainsAndEvaluatesIdentically()
    {
        using var dir = new TempDirectory();
        string data = Series(dir);
        var report = CliRunner.Json("train", "--data", data, "--epochs", "2", "--hidden", "4", "--normalize", "relative",
            "--recurrent-dropout", "0.25", "--layer-norm", "--weight-decay", "1e-4", "--input-dropout", "0.1", "--zoneout", "0.05",
            "--max-norm", "3", "--out", dir.File("run"), "--quiet", "--json");
        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "config.json")))!;
        Assert.Equal(0.25, config["recurrent_dropout"]!.GetValue<double>());
        Assert.True(config["layer_norm"]!.GetValue<bool>());
        Assert.Equal(1e-4, config["weight_decay"]!.GetValue<double>());
        var header = System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(model));
        Assert.Contains("encoder.ln_c_weight_l0", header);
    }

    /// <summary>Both sides' options together: a bidirectional residual stack with layer norm and recurrent dropout.</summary>
    [Fact]
    public void BidirectionalResidualLayerNormModelTrainsAndEvaluatesIdentically()
    {
        using var dir = new TempDirectory();
        string data = Series(dir);
        var report = CliRunner.Json("train", "--data", data, "--epochs", "2", "--hidden", "4", "--layers", "2", "--normalize", "relative",
            "--bidirectional", "--residual", "--layer-dropout", "0.1", "--layer-norm", "--recurrent-dropout", "0.25", "--input-dropout", "0.1",
            "--zoneout", "0.05", "--out", dir.File("run"), "--quiet", "--json");
        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "config.json")))!;
        Assert.True(config["bidirectional"]!.GetValue<bool>());
        Assert.True(config["residual"]!.GetValue<bool>());
        Assert.True(config["layer_norm"]!.GetValue<bool>());
        Assert.Equal(0.25, config["recurrent_dropout"]!.GetValue<double>());
        var loaded = Recur.Serialization.ModelFile.Load(model).Model.Spec;
        Assert.True(loaded.Bidirectional && loaded.Residual && loaded.LayerNorm);
        Assert.Equal(0.1, loaded.LayerDropout);
        Assert.Equal(0.05, loaded.Zoneout);
        var header = System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(model));
        Assert.Contains("encoder.ln_c_weight_l1_reverse", header);
    }

    [Theory]
    [InlineData("--recurrent-dropout", "1", "recurrent-dropout")]
    [InlineData("--input-dropout", "-0.1", "input-dropout")]
    [InlineData("--zoneout", "1.5", "zoneout")]
    [InlineData("--weight-decay", "-1", "weight-decay")]
    [InlineData("--decay", "l1", "--decay")]
    [InlineData("--max-norm", "0", "max-norm")]
    public void BadValuesExitWithTwo(string flag, string value, string fragment)
    {
        using var dir = new TempDirectory();
        var (exit, stdout, stderr) = CliRunner.Run("train", "--data", Series(dir), "--epochs", "1", "--hidden", "4", flag, value,
            "--out", dir.File("run"), "--quiet");
        Assert.True(exit == 2, $"expected exit 2, got {exit}; stderr: {stderr}");
        Assert.Equal("", stdout);
        Assert.Contains(fragment, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
