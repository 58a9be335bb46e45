using Recur.Tests.Cli;
using Recur.Training;
using Recur.Tuning;

namespace Recur.Tests.Tuning;

public sealed class SearchSpaceTests
{
    private static TuneConfig Parse(string search, string rest = "\"data\": \"x.csv\", \"epochs\": 2") =>
        TuneConfig.Parse($"{{{rest}, \"search\": {search}}}", "tune.json");

    [Fact]
    public void ReadsEveryKindOfParameter()
    {
        var config = Parse("""
            {"hidden": {"type": "int", "low": 16, "high": 256, "log": true},
             "layers": {"type": "int", "low": 1, "high": 3},
             "batch_size": {"type": "int", "low": 16, "high": 64, "step": 16},
             "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": true},
             "dropout": {"type": "float", "low": 0, "high": 0.5, "step": 0.1},
             "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
             "clip": {"type": "float", "low": 0.5, "high": 5, "when": {"optimizer": "sgd"}},
             "cell": "gru",
             "patience": {"type": "fixed", "value": 3}}
            """);
        var space = config.Space;
        Assert.Equal(9, space.Parameters.Count);
        Assert.Equal(ParameterKind.Int, space["hidden"].Kind);
        Assert.True(space["hidden"].Log);
        Assert.Equal(16, space["batch_size"].Step);
        Assert.Equal(ParameterKind.Fixed, space["cell"].Kind);
        // a condition comes after what it names
        var names = space.Parameters.Select(p => p.Name).ToList();
        Assert.True(names.IndexOf("clip") > names.IndexOf("optimizer"));

        var values = new RandomSampler(1).Sample(space, [], 0);
        var trial = space.Apply(config.Base, values);
        Assert.Equal("gru", trial.Cell);
        Assert.Equal(3, trial.Patience);
        Assert.Equal(2, trial.Epochs);
        Assert.InRange(trial.Lr!.Value, 1e-4, 1e-2);
        Assert.Contains(trial.BatchSize!.Value, new[] { 16, 32, 48, 64 });
        Assert.Equal(trial.Optimizer == "sgd", values.ContainsKey("clip"));
        Assert.Equal(0, Math.Round(trial.Dropout!.Value * 10) - trial.Dropout.Value * 10, 9);
    }

    [Theory]
    [InlineData("""{"lr": {"type": "float", "low": 0.1, "high": 0.01}}""", "low (0.1) is greater than high (0.01)")]
    [InlineData("""{"lr": {"type": "float", "low": 0, "high": 0.01, "log": true}}""", "a log range needs positive bounds")]
    [InlineData("""{"lr": {"type": "float", "low": -1, "high": 0.01, "log": true}}""", "a log range needs positive bounds")]
    [InlineData("""{"learning_rate": {"type": "float", "low": 0.001, "high": 0.01}}""", "search.learning_rate: unknown parameter")]
    [InlineData("""{"lr": {"type": "uniform", "low": 0.001, "high": 0.01}}""", "type: expected \"float\", \"int\", \"categorical\" or \"fixed\"; found \"uniform\"")]
    [InlineData("""{"lr": {"low": 0.001, "high": 0.01}}""", "expected \"type\"")]
    [InlineData("""{"hidden": {"type": "float", "low": 8, "high": 64}}""", "search.hidden: the float values do not fit the option")]
    [InlineData("""{"cell": {"type": "categorical", "choices": []}}""", "needs \"choices\"")]
    [InlineData("""{"hidden": {"type": "int", "low": 8, "high": 60, "step": 16}}""", "not a whole number of steps")]
    [InlineData("""{"hidden": {"type": "int", "low": 8.5, "high": 60}}""", "whole-number")]
    [InlineData("""{"lr": {"type": "float", "low": 0.001, "high": "big"}}""", "high: expected a number")]
    [InlineData("""{"clip": {"type": "float", "low": 1, "high": 2, "when": {"optimizer": "sgd"}}}""", "'optimizer' is not a search parameter")]
    [InlineData("""{"optimizer": {"type": "categorical", "choices": ["adam"]}, "clip": {"type": "float", "low": 1, "high": 2, "when": {"optimizer": "sdg"}}}""", "\"sdg\" is not one of the choices")]
    [InlineData("""{"lr": {"type": "float", "low": 0.001, "high": 0.01, "lg": true}}""", "unknown key 'lg'")]
    [InlineData("""{}""", "the \"search\" object is empty")]
    public void BadSearchSpacesAreOneClearError(string search, string expected)
    {
        var e = Assert.Throws<InvalidInputException>(() => Parse(search));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("tune.json", e.Message);
    }

    [Fact]
    public void ConditionCyclesAreRefused()
    {
        var e = Assert.Throws<InvalidInputException>(() => Parse("""
            {"optimizer": {"type": "categorical", "choices": ["adam", "sgd"], "when": {"cell": "gru"}},
             "cell": {"type": "categorical", "choices": ["lstm", "gru"], "when": {"optimizer": "sgd"}}}
            """));
        Assert.Contains("cycle", e.Message);
    }

    [Fact]
    public void AConfigWithoutSearchIsRefused()
    {
        var e = Assert.Throws<InvalidInputException>(() => TuneConfig.Parse("{\"epochs\": 3}", "t.json"));
        Assert.Contains("expected a \"search\" object", e.Message);
        e = Assert.Throws<InvalidInputException>(() => TuneConfig.Parse("{\"epochz\": 3, \"search\": {\"lr\": 0.1}}", "t.json"));
        Assert.Contains("unknown option", e.Message);
    }

    [Theory]
    [InlineData("""{"lr": {"type": "float", "low": 0.1, "high": 0.01}}""", "low (0.1) is greater than high (0.01)")]
    [InlineData("""{"lr": {"type": "float", "low": 0, "high": 0.01, "log": true}}""", "a log range needs positive bounds")]
    [InlineData("""{"learning_rate": {"type": "float", "low": 0.001, "high": 0.01}}""", "unknown parameter")]
    [InlineData("""{"lr": {"type": "normal", "low": 0.001, "high": 0.01}}""", "found \"normal\"")]
    public void TheCommandExitsWithCode2OnABadSearchSpace(string search, string expected)
    {
        using var dir = new TempDirectory();
        string config = dir.File("bad.json");
        File.WriteAllText(config, $$"""{"data": "{{CliRunner.DataFile("sunspots-yearly.csv")}}", "epochs": 1, "search": {{search}}}""");
        var (exit, _, stderr) = CliRunner.Run("tune", config, "--storage", $"sqlite:///{dir.File("s.db")}");
        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(dir.File("s.db")), "nothing is stored for a config that cannot run");
    }

    [Theory]
    [InlineData("postgresql://recur@127.0.0.1:1/nowhere", "cannot use the PostgreSQL server at recur@127.0.0.1:1/nowhere")]
    [InlineData("mysql://localhost/x", "expected sqlite:///path/study.db or postgresql://")]
    [InlineData("postgresql://localhost", "needs a host and a database")]
    public void AnUnusableStorageIsExitCode2(string url, string expected)
    {
        using var dir = new TempDirectory();
        string config = dir.File("ok.json");
        File.WriteAllText(config, "{\"data\": \"" + CliRunner.DataFile("sunspots-yearly.csv") + "\", \"epochs\": 1, \"search\": {\"lr\": {\"type\": \"float\", \"low\": 0.001, \"high\": 0.01}}}");
        var (exit, _, stderr) = CliRunner.Run("tune", config, "--storage", url);
        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("--sampler", "bayes", "--sampler: expected tpe, random or grid")]
    [InlineData("--pruner", "hyperband", "--pruner: expected none, median or asha")]
    [InlineData("--workers", "0", "--workers: expected at least 1")]
    [InlineData("--trials", "0", "--trials: expected at least 1")]
    public void BadFlagsAreExitCode2(string flag, string value, string expected)
    {
        using var dir = new TempDirectory();
        string config = dir.File("ok.json");
        File.WriteAllText(config, """{"data": "x.csv", "search": {"lr": {"type": "float", "low": 0.001, "high": 0.01}}}""");
        var (exit, _, stderr) = CliRunner.Run("tune", config, flag, value, "--storage", $"sqlite:///{dir.File("s.db")}");
        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr);
    }

    [Theory]
    [InlineData("--asha-min-epochs: expected at least 1", "--pruner", "asha", "--asha-min-epochs", "0")]
    [InlineData("--asha-reduction: expected at least 2", "--pruner", "asha", "--asha-reduction", "1")]
    [InlineData("--asha-grace-trials: expected at least 1", "--pruner", "asha", "--asha-grace-trials", "0")]
    [InlineData("--pruner-warmup: expected at least 0", "--pruner", "median", "--pruner-warmup", "-1")]
    [InlineData("--pruner-startup-trials: expected at least 1", "--pruner", "median", "--pruner-startup-trials", "0")]
    [InlineData("apply to --pruner asha; the pruner is none", "--asha-min-epochs", "2")]
    [InlineData("apply to --pruner median; the pruner is asha", "--pruner", "asha", "--pruner-warmup", "2")]
    public void BadPrunerSettingsAreExitCode2(string expected, params string[] flags)
    {
        using var dir = new TempDirectory();
        string config = dir.File("ok.json");
        File.WriteAllText(config, """{"data": "x.csv", "search": {"lr": {"type": "float", "low": 0.001, "high": 0.01}}}""");
        var (exit, _, stderr) = CliRunner.Run(["tune", config, .. flags, "--storage", $"sqlite:///{dir.File("s.db")}"]);
        Assert.Equal(2, exit);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(dir.File("s.db")), "nothing is stored for settings that cannot run");
    }
}
