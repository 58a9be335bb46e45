using Recur.Tuning;

namespace Recur.Tests.Tuning;

public sealed class PrunerTests
{
    private static Func<int, IReadOnlyList<(int, TrialState, double)>> Study(params (int Number, TrialState State, double[] Values)[] trials) =>
        step => trials.Where(t => t.Values.Length >= step).Select(t => (t.Number, t.State, t.Values[step - 1])).ToList();

    [Fact]
    public void MedianPrunesAboveTheMedianOfCompleteTrialsOnceFiveFinished()
    {
        var pruner = new MedianPruner();
        var four = Study(Enumerable.Range(0, 4).Select(i => (i, TrialState.Complete, new[] { 1.0 + i, 0.5 + i })).ToArray());
        Assert.False(pruner.ShouldPrune(four, 10, 1, new Dictionary<int, double> { [1] = 100 }));
        var five = Study(Enumerable.Range(0, 5).Select(i => (i, TrialState.Complete, new[] { 1.0 + i, 0.5 + i })).ToArray());
        // median at step 1 is 3
        Assert.True(pruner.ShouldPrune(five, 10, 1, new Dictionary<int, double> { [1] = 3.5 }));
        Assert.False(pruner.ShouldPrune(five, 10, 1, new Dictionary<int, double> { [1] = 2.5 }));
        // the trial's best so far counts, not its last value
        Assert.False(pruner.ShouldPrune(five, 10, 2, new Dictionary<int, double> { [1] = 2.0, [2] = 9 }));
        // running and pruned trials do not set the median
        var mixed = Study([.. Enumerable.Range(0, 5).Select(i => (i, TrialState.Complete, new[] { 10.0 })), (5, TrialState.Pruned, [0.1]), (6, TrialState.Running, [0.1])]);
        Assert.False(pruner.ShouldPrune(mixed, 10, 1, new Dictionary<int, double> { [1] = 9 }));
    }

    [Fact]
    public void AshaKeepsTheTopThirdAtEachRung()
    {
        var pruner = new AshaPruner();
        Assert.True(pruner.IsRung(1) && pruner.IsRung(3) && pruner.IsRung(9) && pruner.IsRung(27));
        Assert.False(pruner.IsRung(2) || pruner.IsRung(4) || pruner.IsRung(10));
        // no decision between rungs
        var study = Study(Enumerable.Range(0, 8).Select(i => (i, TrialState.Complete, Enumerable.Repeat((double)i, 9).ToArray())).ToArray());
        Assert.False(pruner.ShouldPrune(study, 20, 2, new Dictionary<int, double> { [1] = 0, [2] = 100 }));
        // 9 values at the rung (8 others + itself): the best 3 go on
        Assert.False(pruner.ShouldPrune(study, 20, 3, new Dictionary<int, double> { [3] = 1.5 }));
        Assert.True(pruner.ShouldPrune(study, 20, 3, new Dictionary<int, double> { [3] = 2.5 }));
        // alone at a rung: goes on; with one rival, only the better one
        var one = Study((0, TrialState.Running, [5.0]));
        Assert.False(pruner.ShouldPrune(Study(), 1, 1, new Dictionary<int, double> { [1] = 9 }));
        Assert.True(pruner.ShouldPrune(one, 1, 1, new Dictionary<int, double> { [1] = 9 }));
        Assert.False(pruner.ShouldPrune(one, 1, 1, new Dictionary<int, double> { [1] = 4 }));
    }

    [Fact]
    public void AshaRungsAreMinEpochsTimesPowersOfEtaBelowTheLastEpoch()
    {
        Assert.Equal([2, 6, 18], new AshaPruner { MinResource = 2, ReductionFactor = 3, MaxResource = 20 }.Rungs());
        Assert.Equal([4, 12], new AshaPruner { MinResource = 4, ReductionFactor = 3, MaxResource = 20 }.Rungs());
        Assert.Equal([5, 10], new AshaPruner { MinResource = 5, ReductionFactor = 2, MaxResource = 20 }.Rungs());
        // a rung at the last epoch would only turn a finished trial into a pruned one
        Assert.Equal([1, 3, 9], new AshaPruner { MinResource = 1, ReductionFactor = 3, MaxResource = 27 }.Rungs());
        Assert.Empty(new AshaPruner { MinResource = 20, MaxResource = 20 }.Rungs());
        var bounded = new AshaPruner { MinResource = 2, ReductionFactor = 3, MaxResource = 18 };
        Assert.True(bounded.IsRung(2) && bounded.IsRung(6));
        Assert.False(bounded.IsRung(18) || bounded.IsRung(1) || bounded.IsRung(4));
        Assert.Equal([1, 3, 9, 27, 81], new AshaPruner().Rungs(100));
        // ⌊n/η⌋ go on, at least one; all of them within the grace
        var asha = new AshaPruner { ReductionFactor = 3, GraceTrials = 4 };
        Assert.Equal([1, 2, 3, 1, 1, 2, 2, 2, 3], Enumerable.Range(1, 9).Select(asha.Promoted));
    }

    [Fact]
    public void AshaDoesNotPruneAtARungWithinTheGrace()
    {
        var pruner = new AshaPruner { MinResource = 2, ReductionFactor = 3, GraceTrials = 3, MaxResource = 20 };
        var two = Study((0, TrialState.Complete, [1.0, 1.0]), (1, TrialState.Pruned, [2.0, 2.0]));
        // third trial at the rung: the grace is spent (3 reached it), only the best of 3 goes on
        Assert.True(pruner.ShouldPrune(two, 5, 2, new Dictionary<int, double> { [2] = 3 }));
        Assert.False(pruner.ShouldPrune(two, 5, 2, new Dictionary<int, double> { [2] = 0.5 }));
        var one = Study((0, TrialState.Complete, [1.0, 1.0]));
        Assert.False(pruner.ShouldPrune(one, 5, 2, new Dictionary<int, double> { [2] = 3 }));
        // epoch 1 is not a rung
        Assert.False(pruner.ShouldPrune(two, 5, 1, new Dictionary<int, double> { [1] = 3 }));
    }

    [Fact]
    public void PrunerSettingsTakeTheirDefaultsFromTheEpochs()
    {
        var asha = Assert.IsType<AshaPruner>(PrunerSettings.Parse("ASHA").Create(20));
        Assert.Equal((5, 3, 3, 20), (asha.MinResource, asha.ReductionFactor, asha.GraceTrials, asha.MaxResource));
        var small = Assert.IsType<AshaPruner>(PrunerSettings.Parse("asha").Create(7));
        Assert.Equal(1, small.MinResource);
        var open = Assert.IsType<AshaPruner>(PrunerSettings.Parse("asha").Create(null));
        Assert.Equal((1, (int?)null), (open.MinResource, open.MaxResource));
        var set = Assert.IsType<AshaPruner>(new PrunerSettings { Name = "asha", AshaMinEpochs = 4, AshaReduction = 2 }.Create(20));
        Assert.Equal((4, 2, 2), (set.MinResource, set.ReductionFactor, set.GraceTrials));
        var median = Assert.IsType<MedianPruner>(new PrunerSettings { Name = "median", MedianWarmup = 5, MedianStartupTrials = 3 }.Create(20));
        Assert.Equal((5, 3), (median.WarmupSteps, median.StartupTrials));
        Assert.Null(PrunerSettings.Parse("none").Create(20));
        Assert.Equal("asha (rungs at epochs 5, 15, η 3, grace 3 trials)", PrunerSettings.Parse("asha").Describe(20));
    }

    [Theory]
    [InlineData("hyperband", null, null, null, null, "--pruner")]
    [InlineData("asha", 0, null, null, null, "--asha-min-epochs")]
    [InlineData("asha", null, 1, null, null, "--asha-reduction")]
    [InlineData("asha", null, null, 0, null, "--asha-grace-trials")]
    [InlineData("median", null, null, null, -1, "--pruner-warmup")]
    [InlineData("median", 2, null, null, null, "apply to --pruner asha")]
    [InlineData("none", null, null, null, 3, "apply to --pruner median")]
    public void BadPrunerSettingsAreRefused(string name, int? minEpochs, int? reduction, int? grace, int? warmup, string message)
    {
        var settings = new PrunerSettings { Name = name, AshaMinEpochs = minEpochs, AshaReduction = reduction, AshaGraceTrials = grace, MedianWarmup = warmup };
        Assert.Contains(message, Assert.Throws<InvalidInputException>(() => settings.Validated()).Message);
    }

    [Fact]
    public void TheConfigNamesThePrunerAndFlagsOverrideIt()
    {
        const string search = "\"search\": {\"lr\": {\"type\": \"float\", \"low\": 1e-4, \"high\": 1e-2}}";
        var config = TuneConfig.Parse($"{{\"epochs\": 20, \"pruner\": {{\"type\": \"asha\", \"min_epochs\": 4, \"grace_trials\": 5}}, {search}}}", "t.json");
        Assert.Equal(new PrunerSettings { Name = "asha", AshaMinEpochs = 4, AshaGraceTrials = 5 }, config.Pruner);
        Assert.Equal(20, Tuner.PrunerEpochs(config));
        var merged = config.Pruner!.Override(new PrunerSettings { AshaReduction = 2, AshaMinEpochs = 3 }, nameGiven: false);
        Assert.Equal(new PrunerSettings { Name = "asha", AshaMinEpochs = 3, AshaReduction = 2, AshaGraceTrials = 5 }, merged);
        // a flag naming another pruner drops the config's settings
        Assert.Equal(new PrunerSettings { Name = "median" }, config.Pruner.Override(new PrunerSettings { Name = "median" }, nameGiven: true));
        Assert.Equal("median", TuneConfig.Parse($"{{\"pruner\": \"median\", {search}}}", "t.json").Pruner!.Name);
        Assert.Null(TuneConfig.Parse($"{{{search}}}", "t.json").Pruner);
        Assert.Null(Tuner.PrunerEpochs(TuneConfig.Parse($"{{{search}}}", "t.json")));
        Assert.Contains("unknown key 'eta'", Assert.Throws<InvalidInputException>(() => TuneConfig.Parse($"{{\"pruner\": {{\"type\": \"asha\", \"eta\": 3}}, {search}}}", "t.json")).Message);
        Assert.Contains("--asha-reduction", Assert.Throws<InvalidInputException>(() => TuneConfig.Parse($"{{\"pruner\": {{\"type\": \"asha\", \"reduction\": 1}}, {search}}}", "t.json")).Message);
        Assert.Contains("integer", Assert.Throws<InvalidInputException>(() => TuneConfig.Parse($"{{\"pruner\": {{\"type\": \"asha\", \"reduction\": 2.5}}, {search}}}", "t.json")).Message);
    }
}
