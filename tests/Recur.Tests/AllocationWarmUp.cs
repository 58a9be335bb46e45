namespace Recur.Tests;

/// <summary>
/// Warm-up before a no-allocation check: by time, not by count. Tiered compilation replaces a method's first code
/// about 100 ms after it gets hot, and that promotion can allocate on the calling thread (a few KiB; the packed
/// product's check failed 2 runs in 5 after a single warm-up call), so the calls run for at least 300 ms and no tier
/// change falls inside the measured ones.
/// </summary>
internal static class AllocationWarmUp
{
    public const int Milliseconds = 300;

    /// <summary>Calls <paramref name="call"/>(i) for i = 0, 1, … until at least <paramref name="minCalls"/> ran and 300 ms passed.</summary>
    public static void Run(Action<int> call, int minCalls = 1)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < minCalls || clock.ElapsedMilliseconds < Milliseconds; i++) call(i);
    }
}
