using Recur.Tensors;

namespace Recur.Tests.Tensors;

/// <summary>The engine's worker team: every part once, failures surfaced, one owner at a time, no nesting.</summary>
public class WorkerTeamTests
{
    [Theory]
    [InlineData(2, 2)]
    [InlineData(7, 3)]
    [InlineData(3, 4)]
    public void RunsEveryPartExactlyOnceOverManyPhases(int parts, int threads)
    {
        var team = new WorkerTeam();
        var counts = new int[parts];
        for (int phase = 0; phase < 2000; phase++)
        {
            Assert.True(team.TryRun(parts, threads, p => Interlocked.Increment(ref counts[p])));
        }
        Assert.All(counts, c => Assert.Equal(2000, c));
    }

    [Fact]
    public void WorkersThatFellAsleepWakeForTheNextPhase()
    {
        var team = new WorkerTeam();
        for (int phase = 0; phase < 3; phase++)
        {
            Thread.Sleep(TimeSpan.FromMicroseconds(WorkerTeam.SpinMicroseconds * 20)); // long past the spin
            var seen = new int[2];
            Assert.True(team.TryRun(2, 2, p => seen[p] = Environment.CurrentManagedThreadId));
            Assert.NotEqual(seen[0], seen[1]);
        }
    }

    [Fact]
    public void APartsExceptionReachesTheCallerAndTheTeamStillWorks()
    {
        var team = new WorkerTeam();
        var error = Assert.Throws<InvalidOperationException>(() => team.TryRun(4, 2, p =>
        {
            if (p == 3) throw new InvalidOperationException("part 3 failed");
        }));
        Assert.Equal("part 3 failed", error.Message);
        int sum = 0;
        Assert.True(team.TryRun(4, 2, p => Interlocked.Add(ref sum, p)));
        Assert.Equal(6, sum);
    }

    [Fact]
    public void ANestedOrConcurrentCallerIsRefusedAndCanRunElsewhere()
    {
        var team = new WorkerTeam();
        bool? nested = null, concurrent = null;
        Assert.True(team.TryRun(2, 2, p =>
        {
            if (p != 0) return;
            nested = team.TryRun(2, 2, _ => { });
            var other = new Thread(() => concurrent = team.TryRun(2, 2, _ => { }));
            other.Start();
            other.Join();
        }));
        Assert.False(nested);
        Assert.False(concurrent);
    }

    [Fact]
    public void EngineRunFallsBackWhenTheSharedTeamIsBusy()
    {
        // Two callers at once through Engine.Run: one gets the team, the other the thread pool; both complete.
        var totals = new long[2];
        Parallel.For(0, 2, caller =>
        {
            for (int phase = 0; phase < 500; phase++)
                Engine.Run(3, p => Interlocked.Add(ref totals[caller], p + 1));
        });
        Assert.Equal([3000L, 3000L], totals);
    }
}
