using Recur.Tests.Cli;
using Recur.Tuning;

namespace Recur.Tests.Tuning;

public sealed class StorageTests
{
    private static readonly TuneConfig Config = TuneConfig.Parse(
        """{"data": "x.csv", "search": {"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": true}, "cell": {"type": "categorical", "choices": ["lstm", "gru"]}}}""", "t.json");

    private static void Lifecycle(string url)
    {
        using var storage = StudyStorage.Open(url);
        string name = "life-" + Guid.NewGuid().ToString("N")[..8];
        var study = storage.CreateOrOpenStudy(name, Config.SearchJson, Config.Base.ToJson());
        Assert.Equal(study.Id, storage.CreateOrOpenStudy(name, Config.SearchJson, Config.Base.ToJson()).Id);
        var other = Assert.Throws<InvalidInputException>(() => storage.CreateOrOpenStudy(name, """{"lr": 0.1}""", Config.Base.ToJson()));
        Assert.Contains("another search space", other.Message);

        var sampler = new RandomSampler(1);
        Dictionary<string, double> Sample(IReadOnlyList<TrialRecord> trials, int n) => sampler.Sample(Config.Space, trials, n);
        var a = storage.ClaimTrial(study, 2, "a", 60, Config.Space, Sample).Trial!;
        var b = storage.ClaimTrial(study, 2, "b", 60, Config.Space, Sample).Trial!;
        Assert.Equal([0, 1], new[] { a.Number, b.Number });
        var none = storage.ClaimTrial(study, 2, "c", 60, Config.Space, Sample);
        Assert.Null(none.Trial);
        Assert.Equal(2, none.RunningElsewhere);

        storage.Report(a.Id, 1, 0.5);
        storage.Report(a.Id, 2, 0.4);
        Assert.True(storage.Finish(a.Id, "a", TrialState.Complete, 0.4));
        Assert.False(storage.Finish(a.Id, "a", TrialState.Complete, 0.4)); // finished once only
        Assert.Equal([(0, TrialState.Complete, 0.4)], storage.ValuesAt(study, 2));

        // b stops beating: after the grace period the next claim fails it and hands its parameters out again.
        Thread.Sleep(1500);
        var claim = storage.ClaimTrial(study, 2, "c", 1, Config.Space, Sample);
        var reaped = Assert.Single(claim.Reaped);
        Assert.Equal(b.Number, reaped.Number);
        Assert.Equal(2, claim.Trial!.Number);
        Assert.Equal(b.Number, claim.Trial.RetryOf);
        Assert.Equal(b.Params, claim.Trial.Params);
        Assert.False(storage.Finish(b.Id, "b", TrialState.Complete, 0.1), "a dead worker's late result is dropped");
        Assert.True(storage.Finish(claim.Trial.Id, "c", TrialState.Pruned, 0.9));
        var trials = storage.Trials(study);
        Assert.Equal([TrialState.Complete, TrialState.Failed, TrialState.Pruned], trials.Select(t => t.State));
        Assert.Equal(2, StudyStorage.CountsTowardBudget(trials));
        Assert.Null(storage.ClaimTrial(study, 2, "c", 1, Config.Space, Sample).Trial);
        Assert.Equal(3, storage.ClaimTrial(study, 3, "c", 1, Config.Space, Sample).Trial!.Number);
    }

    [Fact]
    public void SqliteTrialLifecycle()
    {
        using var dir = new TempDirectory();
        Lifecycle($"sqlite:///{dir.File("sub/study.db")}");
    }

    [PostgresFact]
    public void PostgresTrialLifecycle() => Lifecycle(Environment.GetEnvironmentVariable(StudyProcessTests.PostgresVariable)!);
}
