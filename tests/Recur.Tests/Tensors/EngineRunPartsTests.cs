using System.Collections.Concurrent;
using Recur.Tensors;

namespace Recur.Tests.Tensors;

/// <summary>
/// <see cref="Engine.RunParts"/>: every part once, on at most <see cref="Engine.Threads"/> threads (a part-major batch
/// split can have more parts than threads), one thread inside each part, and a single part keeps the threads.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public sealed class EngineRunPartsTests
{
    [Theory]
    [InlineData(5, 2)]
    [InlineData(3, 1)]
    [InlineData(2, 3)]
    public void EveryPartRunsOnceOnAtMostThreadsThreadsWithOneThreadInside(int parts, int threads)
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = threads;
            var counts = new int[parts];
            var runners = new ConcurrentDictionary<int, bool>();
            var inside = new int[parts];
            var order = new ConcurrentQueue<int>();
            Engine.RunParts(parts, p =>
            {
                Interlocked.Increment(ref counts[p]);
                runners[Environment.CurrentManagedThreadId] = true;
                inside[p] = Engine.AvailableThreads;
                order.Enqueue(p);
            });
            Assert.All(counts, c => Assert.Equal(1, c));
            Assert.InRange(runners.Count, 1, Math.Min(parts, threads));
            Assert.All(inside, n => Assert.Equal(1, n));
            if (threads == 1) Assert.Equal(Enumerable.Range(0, parts), order); // one thread takes the parts in order
            Assert.Equal(threads, Engine.AvailableThreads); // restored after the parts
        }
        finally
        {
            Engine.Threads = saved;
        }
    }

    [Fact]
    public void ASinglePartKeepsTheThreadsForItsOwnKernels()
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = 3;
            int available = 0;
            Engine.RunParts(1, _ => available = Engine.AvailableThreads);
            Assert.Equal(3, available);
        }
        finally
        {
            Engine.Threads = saved;
        }
    }
}
