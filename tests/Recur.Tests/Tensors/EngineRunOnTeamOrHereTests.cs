using Recur.Tensors;

namespace Recur.Tests.Tensors;

/// <summary>
/// <see cref="Engine.RunOnTeamOrHere"/>: every part once, on the team when it is free and all on the caller while
/// another thread has it (never on the thread pool).
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class EngineRunOnTeamOrHereTests
{
    [Fact]
    public void RunsEveryPartOnceOnTheTeamWhenItIsFree()
    {
        var counts = new int[3];
        for (int phase = 0; phase < 500; phase++) Engine.RunOnTeamOrHere(3, p => Interlocked.Increment(ref counts[p]));
        Assert.All(counts, c => Assert.Equal(500, c));
    }

    [Fact]
    public void RunsEveryPartOnTheCallerWhileAnotherThreadHasTheTeam()
    {
        using var inside = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            // Take the team (another test may hold it for a moment) and keep it until released.
            while (!WorkerTeam.Shared.TryRun(2, 2, p => { if (p == 0) { inside.Set(); release.Wait(); } })) Thread.Sleep(1);
        });
        holder.Start();
        try
        {
            inside.Wait();
            var runners = new int[4];
            Action<int> work = p => runners[p] = Environment.CurrentManagedThreadId;
            // A thread-pool fork allocates (its options, closures, tasks) and may run parts on the caller too; running
            // them here allocates nothing.
            Engine.RunOnTeamOrHere(1, work); // the method's first call (type initialisation) before counting
            long before = GC.GetAllocatedBytesForCurrentThread();
            Engine.RunOnTeamOrHere(4, work);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.All(runners, id => Assert.Equal(Environment.CurrentManagedThreadId, id));
            Assert.Equal(0, allocated);
        }
        finally
        {
            release.Set();
            holder.Join();
        }
    }
}
