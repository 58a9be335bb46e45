using System.Text.Json.Nodes;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --augment</c>: accepted for the data's kind, recorded in the resolved config, refused otherwise.</summary>
public class AugmentCommandTests
{
    private static string Series(TempDirectory dir)
    {
        File.WriteAllText(dir.File("s.csv"), "t,value\n" + string.Concat(Enumerable.Range(0, 120).Select(i => $"{i},{Math.Sin(0.3 * i):F5}\n")));
        return dir.File("s.csv");
    }

    [Fact]
    public void TrainAcceptsJitterOnAForecastAndRecordsIt()
    {
        using var dir = new TempDirectory();
        var report = CliRunner.Json("train", "--data", Series(dir), "--epochs", "2", "--hidden", "4", "--normalize", "relative",
            "--augment", "jitter=0.05", "--out", dir.File("run"), "--quiet", "--json");
        Assert.Equal("forecast", report["task"]!.GetValue<string>());
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("run"), "config.json")))!;
        Assert.Equal(0.05, config["augment"]!["jitter"]!.GetValue<double>());
    }

    [Theory]
    [InlineData("token_dropout=0.1", "token_dropout")]
    [InlineData("bogus=1", "bogus")]
    [InlineData("jitter=-1", "jitter")]
    public void TrainRefusesAugmentationsThatDoNotFit(string augment, string fragment)
    {
        using var dir = new TempDirectory();
        var (exit, stdout, stderr) = CliRunner.Run("train", "--data", Series(dir), "--epochs", "2", "--hidden", "4", "--normalize", "relative",
            "--augment", augment, "--out", dir.File("run"), "--quiet");
        Assert.True(exit == 2, $"expected exit 2, got {exit}; stderr: {stderr}");
        Assert.Equal("", stdout);
        Assert.Contains(fragment, stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(dir.File("run")), "a failed run must not leave a run directory");
    }

    [Fact]
    public void AConfigFileWithAnUnknownAugmentationIsRefused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("c.json"), """{"augment": {"jitter": 0.05, "noise": 1}}""");
        var (exit, _, stderr) = CliRunner.Run("train", dir.File("c.json"), "--data", Series(dir), "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("unknown augmentation 'noise'", stderr);
    }
}
