using System.Text.Json.Nodes;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --checkpoint-time [K]</c>: gradient checkpointing of the recurrent time loop.</summary>
public class CheckpointTimeCommandTests
{
    private static string Series(TempDirectory dir)
    {
        File.WriteAllText(dir.File("s.csv"), "t,value\n" + string.Concat(Enumerable.Range(0, 160).Select(i => $"{i},{Math.Sin(0.3 * i):F5}\n")));
        return dir.File("s.csv");
    }

    [Fact]
    public void CheckpointedTrainingMatchesTheStoredTrainingAndIsRecordedInTheConfigOnly()
    {
        using var dir = new TempDirectory();
        string data = Series(dir);
        JsonNode Train(string run, params string[] extra) => CliRunner.Json(["train", "--data", data, "--epochs", "2", "--hidden", "4", "--layers", "2",
            "--lookback", "40", "--zoneout", "0.1", "--recurrent-dropout", "0.2", "--out", dir.File(run), "--quiet", "--json", .. extra]);
        var checkpointed = Train("ckpt", "--checkpoint-time", "16");
        var stored = Train("stored");
        double Metric(JsonNode report) => report["metrics"]!.AsObject().First().Value!.GetValue<double>();
        Assert.Equal(Metric(stored), Metric(checkpointed), 3);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("ckpt"), "config.json")))!;
        Assert.Equal(16, config["checkpoint_time"]!.GetValue<int>());
        string model = Path.Combine(dir.File("ckpt"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(checkpointed["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        Assert.Null(Recur.Serialization.ModelFile.Load(model).Model.Spec.CheckpointTime);
    }

    [Fact]
    public void WithoutAValueTheSegmentIsTheSquareRoot()
    {
        using var dir = new TempDirectory();
        string data = Series(dir);
        CliRunner.Json("train", "--data", data, "--epochs", "1", "--hidden", "4", "--lookback", "30", "--out", dir.File("run"), "--quiet", "--json", "--checkpoint-time");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "config.json")))!;
        Assert.Equal(0, config["checkpoint_time"]!.GetValue<int>());
    }

    /// <summary>The deep stacks train with checkpointing too, to the stored run's result.</summary>
    [Theory]
    [InlineData("--bidirectional")]
    [InlineData("--residual")]
    [InlineData("--layer-dropout", "0.2")]
    public void DeepStacksTrainWithCheckpointingAsWithout(params string[] option)
    {
        using var dir = new TempDirectory();
        string data = Series(dir);
        JsonNode Train(string run, params string[] extra) => CliRunner.Json(["train", "--data", data, "--epochs", "2", "--hidden", "4", "--layers", "2",
            "--lookback", "24", .. option, "--out", dir.File(run), "--quiet", "--json", .. extra]);
        var checkpointed = Train("ckpt", "--checkpoint-time", "7");
        var stored = Train("stored");
        double Metric(JsonNode report) => report["metrics"]!.AsObject().First().Value!.GetValue<double>();
        Assert.Equal(Metric(stored), Metric(checkpointed), 3);
    }

    [Fact]
    public void ANegativeSegmentExitsWithTwo()
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = CliRunner.Run("train", "--data", Series(dir), "--epochs", "1", "--checkpoint-time", "-3", "--out", dir.File("run"), "--quiet");
        Assert.True(exit == 2, $"expected exit 2, got {exit}; stderr: {stderr}");
        Assert.Contains("checkpoint-time", stderr);
    }
}
