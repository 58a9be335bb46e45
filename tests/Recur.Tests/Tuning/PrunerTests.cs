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
}
