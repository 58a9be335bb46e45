namespace Recur.Tensors;

/// <summary>
/// Process-wide engine settings. Work is split over threads by fixed partitions of independent outputs, so
/// results do not depend on scheduling; together with a seed they make runs bit-reproducible.
/// </summary>
public static class Engine
{
    private static int _threads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Threads the kernels may use (default: logical processors).</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "Threads must be at least 1.");
            _threads = value;
        }
    }

    /// <summary>
    /// Sets <see cref="Threads"/> until the returned scope is disposed, which puts back the value it replaced: for a
    /// run that takes its own thread count (a command's <c>--threads</c>, a tuning study) inside a longer-lived process.
    /// </summary>
    public static IDisposable UseThreads(int threads)
    {
        int before = Threads;
        Threads = threads;
        return new ThreadsScope(before);
    }

    private sealed class ThreadsScope(int before) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            Threads = before;
        }
    }

    [ThreadStatic] private static bool t_insideParts;

    /// <summary>
    /// Threads a kernel may start from the calling thread: <see cref="Threads"/>, or 1 inside a part run by
    /// <see cref="RunParts"/>, which already occupies every thread (nesting would oversubscribe the cores).
    /// </summary>
    internal static int AvailableThreads => t_insideParts ? 1 : _threads;

    /// <summary>
    /// Runs parts 0 … parts−1 of a kernel on up to <see cref="AvailableThreads"/> threads, each taking whole parts in
    /// turn; a part may not start threads of its own (<see cref="AvailableThreads"/> is 1 inside it). Parts write
    /// disjoint data, so who runs which does not change any result.
    /// </summary>
    internal static void RunParts(int parts, Action<int> part)
    {
        if (parts == 1)
        {
            part(0); // a single part keeps the threads for its own kernels
            return;
        }
        int threads = Math.Min(parts, AvailableThreads);
        Action<int> inside = p =>
        {
            bool outer = t_insideParts;
            t_insideParts = true;
            try { part(p); }
            finally { t_insideParts = outer; }
        };
        if (threads == 1)
            for (int p = 0; p < parts; p++) inside(p);
        else Run(parts, threads, inside);
    }

    /// <summary>
    /// Runs work(0) … work(parts − 1) of one parallel phase, one part per thread: on the engine's
    /// <see cref="WorkerTeam"/>, or on the thread pool when another thread is using the team.
    /// </summary>
    internal static void Run(int parts, Action<int> work) => Run(parts, parts, work);

    /// <summary>As <see cref="Run(int, Action{int})"/> on at most <paramref name="threads"/> threads, part p on participant p mod threads.</summary>
    private static void Run(int parts, int threads, Action<int> work)
    {
        if (parts == 1)
        {
            work(0);
            return;
        }
        if (!WorkerTeam.Shared.TryRun(parts, threads, work)) RunOnThreadPool(parts, threads, work);
    }

    /// <summary>
    /// <see cref="Run(int, int, Action{int})"/>'s fallback, a method of its own: its lambda captures the arguments, and
    /// in the caller the compiler allocated their closure (32 bytes) at every phase, the team's too.
    /// </summary>
    private static void RunOnThreadPool(int parts, int threads, Action<int> work) =>
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            for (int p = t; p < parts; p += threads) work(p);
        });
}
