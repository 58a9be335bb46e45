using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Recur.Cli.Bench;

/// <summary>
/// The round trip of one cache line between two threads on different processors: each waits for the other's write,
/// then writes back. It is what every cross-core hand-off costs (a fork, a join, a line one core writes and the other
/// reads next), and on a shared virtual machine it depends on where the host places the virtual processors: on the
/// bench's 2-core machine it read 90–190 ns in one state and 350–880 ns in another, minutes apart, and in the second
/// config a's training step took twice as long and b's inference 1.3× as long. So the bench measures it before each
/// of Recur's cases and prints it beside them.
/// </summary>
internal static partial class CoreRoundTrip
{
    private const int Batches = 5, RoundsPerBatch = 4000;
    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(2);

    /// <summary>The measurement's rounds, for the note the bench prints.</summary>
    public static string Protocol => $"median of {Batches} × {RoundsPerBatch} round trips";

    /// <summary>
    /// Median over a few batches of the mean round trip (ns), with the two threads pinned to the first two processors
    /// this process may use (Linux; elsewhere they run where the scheduler puts them). Null with fewer than two
    /// processors, or when no batch completes within two seconds (an oversubscribed machine, where every hand-off
    /// waits for a time slice); past that deadline only the batches completed count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // optimised from the first call: tier-0 code adds to each wait
    public static double? Nanoseconds()
    {
        var cpus = AllowedProcessors();
        if (Environment.ProcessorCount < 2 || cpus is { Count: < 2 }) return null;
        var line = new PaddedLine();
        var batchNs = new List<double>();
        long deadline = Stopwatch.GetTimestamp() + (long)(GiveUpAfter.TotalSeconds * Stopwatch.Frequency);
        var echo = new Thread(() =>
        {
            Pin(cpus, 1);
            for (long i = 0; i < (long)Batches * RoundsPerBatch; i++)
            {
                if (!WaitFor(line, 2 * i + 1, deadline)) return;
                Volatile.Write(ref line.Value, 2 * i + 2);
            }
        }) { IsBackground = true, Name = "core round trip" };
        // Sends round trip i as the odd value 2i + 1 and waits for the echo's 2i + 2; stops at the deadline.
        void Measure()
        {
            long sent = 0;
            for (int batch = 0; batch < Batches; batch++)
            {
                long start = Stopwatch.GetTimestamp();
                for (int r = 0; r < RoundsPerBatch; r++, sent++)
                {
                    Volatile.Write(ref line.Value, 2 * sent + 1);
                    if (!WaitFor(line, 2 * sent + 2, deadline)) return;
                }
                batchNs.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / RoundsPerBatch);
            }
        }
        var previous = CurrentAffinity();
        try
        {
            Pin(cpus, 0);
            echo.Start();
            Measure();
        }
        finally
        {
            Restore(previous);
        }
        if (batchNs.Count == 0) return null;
        batchNs.Sort();
        return batchNs[batchNs.Count / 2];
    }

    /// <summary>Spins until the line holds <paramref name="expected"/>; false once the clock passes <paramref name="deadline"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool WaitFor(PaddedLine line, long expected, long deadline)
    {
        for (int spins = 0; Volatile.Read(ref line.Value) != expected; spins++)
            if ((spins & 4095) == 4095 && Stopwatch.GetTimestamp() > deadline) return false;
        return true;
    }

    /// <summary>One value alone on its cache line (and the next), so nothing else the threads touch shares it.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private sealed class PaddedLine
    {
        [FieldOffset(128)] public long Value;
    }

    // ---- Linux affinity (sched_getaffinity / sched_setaffinity of the calling thread) ----

    private const int MaskWords = 16; // 1024 processors

    /// <summary>The processors this thread may run on, in order; null where that cannot be read (not Linux).</summary>
    private static List<int>? AllowedProcessors()
    {
        if (CurrentAffinity() is not { } mask) return null;
        var cpus = new List<int>();
        for (int word = 0; word < MaskWords; word++)
            for (int bit = 0; bit < 64; bit++)
                if ((mask[word] & (1UL << bit)) != 0) cpus.Add(word * 64 + bit);
        return cpus;
    }

    internal static ulong[]? CurrentAffinity()
    {
        if (!OperatingSystem.IsLinux()) return null;
        var mask = new ulong[MaskWords];
        try
        {
            return SchedGetAffinity(0, MaskWords * sizeof(ulong), mask) == 0 ? mask : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    private static void Pin(List<int>? cpus, int index)
    {
        if (cpus is null) return;
        var mask = new ulong[MaskWords];
        mask[cpus[index] / 64] = 1UL << (cpus[index] % 64);
        SchedSetAffinity(0, MaskWords * sizeof(ulong), mask);
    }

    private static void Restore(ulong[]? previous)
    {
        if (previous is not null) SchedSetAffinity(0, MaskWords * sizeof(ulong), previous);
    }

    [LibraryImport("libc", EntryPoint = "sched_getaffinity")]
    private static partial int SchedGetAffinity(int pid, nint size, [Out] ulong[] mask);

    [LibraryImport("libc", EntryPoint = "sched_setaffinity")]
    private static partial int SchedSetAffinity(int pid, nint size, ulong[] mask);
}
