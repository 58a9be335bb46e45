using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Recur.Tensors;

/// <summary>
/// The engine's own worker threads, which run the parts of one parallel phase at a time. A phase starts in well
/// under a microsecond when the workers are still spinning from the previous one (they spin for
/// <see cref="SpinMicroseconds"/> before they sleep), where a thread-pool <c>Parallel.For</c> costs 10–20 µs per
/// fork and join on a small virtual machine: that cost, paid some thirty times per training step of a small model
/// (one phase per K block of each weight-gradient product), made two threads slower than one.
/// </summary>
/// <remarks>
/// Part p runs on participant p mod P (the caller is participant 0), so a phase has no shared claim counter; every
/// worker acknowledges every phase, so none can miss one or run one twice. One caller owns the team at a time;
/// another caller meanwhile (a server thread, a concurrent tuning trial) gets <see langword="false"/> from
/// <see cref="TryRun"/> and runs its phase some other way. Parts write disjoint data, so who runs which part never
/// changes a result.
/// </remarks>
internal sealed class WorkerTeam
{
    /// <summary>
    /// How long an idle worker keeps spinning for the next phase before it blocks. A blocked worker takes tens of
    /// microseconds to wake on a virtual machine (the host must schedule its halted virtual CPU), and a training step
    /// of a small model has serial stretches between its phases (the head, the loss, the optimiser): config a's step
    /// took 1.79, 2.38 and 2.89 ms with 200 µs against 1.66, 1.78 and 1.68 ms with 2 ms (alternating runs), as the
    /// worker found the forward pass's batch split still spinning. As with OpenMP's spin-then-sleep wait policy, an
    /// idle worker burns at most this much processor time after a parallel call before it sleeps.
    /// </summary>
    internal const double SpinMicroseconds = 2000;

    /// <summary>
    /// Rounds of an idle worker's spin between two yields of its processor. A worker woken from its sleep may be
    /// placed on the processor of the thread that woke it; spinning without a yield, it then held that processor,
    /// and so kept the caller from ever seeing the phase end, for its whole spin: a 256³ product at two threads took
    /// 2.36–2.42 ms when called 5 ms after the last one (0.16 ms back to back, 0.36–0.42 ms on one thread;
    /// KernelTiming's config z). Yielding every few tens of microseconds lets such a caller run (0.40 ms); back-to-back
    /// steps did not change (config a 1.093 against 1.097 ms and 1.096 against 1.098, b 178.6 against 181.1 ms,
    /// alternating).
    /// </summary>
    private const int YieldEverySpins = 32;

    private static readonly long SpinTicks = (long)(SpinMicroseconds * Stopwatch.Frequency / 1e6);

    internal static WorkerTeam Shared { get; } = new();

    [ThreadStatic] private static bool t_inPhase;

    private readonly object _owner = new(), _gate = new();
    private Action<int>? _work;
    private int _workers, _parts, _participants, _pending, _sleepers;
    private long _phase;
    private Exception? _failure;

    /// <summary>
    /// Runs work(0) … work(parts − 1) on the caller and up to threads − 1 workers, and returns when all are done;
    /// false (nothing run) when another thread owns the team or the caller is itself inside a phase. The first
    /// exception a part throws is rethrown here.
    /// </summary>
    public bool TryRun(int parts, int threads, Action<int> work)
    {
        if (t_inPhase || !Monitor.TryEnter(_owner)) return false;
        t_inPhase = true;
        try
        {
            EnsureWorkers(threads - 1);
            _work = work;
            _parts = parts;
            _participants = Math.Min(parts, threads);
            _failure = null;
            Volatile.Write(ref _pending, _workers);
            Interlocked.Increment(ref _phase);
            if (Volatile.Read(ref _sleepers) > 0)
            {
                lock (_gate) Monitor.PulseAll(_gate);
            }
            RunShare(0);
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _work = null;
            if (_failure is { } failure) ExceptionDispatchInfo.Capture(failure).Throw();
            return true;
        }
        finally
        {
            t_inPhase = false;
            Monitor.Exit(_owner);
        }
    }

    private void RunShare(int participant)
    {
        if (participant >= _participants) return;
        try
        {
            for (int part = participant; part < _parts; part += _participants) _work!(part);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, e, null);
        }
    }

    /// <summary>Starts workers until there are <paramref name="count"/> (called by the owner only).</summary>
    private void EnsureWorkers(int count)
    {
        while (_workers < count)
        {
            int participant = _workers + 1;
            long seen = Volatile.Read(ref _phase);
            new Thread(() => WorkerLoop(participant, seen)) { IsBackground = true, Name = $"Recur worker {participant}" }.Start();
            Volatile.Write(ref _workers, participant);
        }
    }

    private void WorkerLoop(int participant, long seen)
    {
        t_inPhase = true;
        while (true)
        {
            seen = WaitForPhase(seen);
            RunShare(participant);
            Interlocked.Decrement(ref _pending);
        }
    }

    /// <summary>
    /// Spins (yielding now and then: see <see cref="YieldEverySpins"/>), then blocks, until a phase after
    /// <paramref name="seen"/> starts; returns its number. With more workers than processors (Engine.Threads set above
    /// the core count) it blocks at once: spinners would take the cores from the threads doing the work.
    /// </summary>
    private long WaitForPhase(long seen)
    {
        long deadline = Stopwatch.GetTimestamp() + (Volatile.Read(ref _workers) < Environment.ProcessorCount ? SpinTicks : 0);
        long phase;
        for (int spins = 1; (phase = Volatile.Read(ref _phase)) == seen; spins++)
        {
            if (spins % YieldEverySpins == 0) Thread.Yield();
            if (Stopwatch.GetTimestamp() > deadline)
            {
                lock (_gate)
                {
                    Interlocked.Increment(ref _sleepers);
                    while ((phase = Volatile.Read(ref _phase)) == seen) Monitor.Wait(_gate);
                    Interlocked.Decrement(ref _sleepers);
                }
                return phase;
            }
            Thread.SpinWait(20);
        }
        return phase;
    }
}
