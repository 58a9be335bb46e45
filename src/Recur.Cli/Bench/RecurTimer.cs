using System.Diagnostics;
using Recur.Autograd;
using Recur.Losses;
using Recur.Models;
using Recur.Optimizers;
using Recur.Randomness;
using Recur.Tensors;

namespace Recur.Cli.Bench;

/// <summary>Median time of one operation after warm-up, with the managed bytes allocated per call.</summary>
/// <param name="AllocatedBytesPerCall">
/// GC.GetTotalAllocatedBytes(precise) delta over the timed calls divided by their number: managed bytes allocated
/// (all threads) per call. Not a workspace high-water mark.
/// </param>
/// <param name="WorkspacePeakBytes">
/// The engine's own activation high-water mark over one extra call, when the library has the workspace counter
/// (<c>Recur.Tensors.Workspace</c>); null when it does not.
/// </param>
internal sealed record Timing(double MedianMs, double MinMs, double MaxMs, int Repeats, int Warmup, long AllocatedBytesPerCall,
    long? WorkspacePeakBytes = null)
{
    /// <summary>
    /// One timing of a case timed once per round (<c>--rounds</c>): the median of the rounds' medians, the least and
    /// most of all calls, every timed call counted, and the most allocated per call and workspace peak of any round.
    /// </summary>
    public static Timing OverRounds(IReadOnlyList<Timing> rounds) => rounds.Count == 1 ? rounds[0] : new Timing(
        RecurTimer.Median(rounds.Select(t => t.MedianMs).Order().ToArray()), rounds.Min(t => t.MinMs), rounds.Max(t => t.MaxMs),
        rounds.Sum(t => t.Repeats), rounds[0].Warmup, rounds.Max(t => t.AllocatedBytesPerCall), rounds.Max(t => t.WorkspacePeakBytes));
}

/// <summary>Times Recur itself: training steps, inference, batch-1 streaming and its own GEMM, in this process.</summary>
internal static class RecurTimer
{
    /// <summary>A step slower than this (after warm-up) gets fewer timed repeats (at most <see cref="SlowRepeats"/>).</summary>
    public const double SlowStepMs = 3000;
    public const int SlowRepeats = 5;

    /// <summary>
    /// One training step as the issue defines it: zero gradients, full-sequence forward, linear head on the last
    /// state, MSE, backward, Adam.
    /// </summary>
    public static Timing Train(BenchConfig c, int threads, int repeats, int warmup, double minTimedSeconds = 0) =>
        Time(TrainingStep(c), threads, repeats, warmup, minTimedSeconds);

    /// <summary>
    /// Median training step at each of <paramref name="threadCounts"/>, timed in alternation (one step at each count
    /// per round, after warming up at each), so every count sees the same state of a shared machine: the 1→2-thread
    /// speed-up, whose two halves timed minutes apart moved by 20% with the machine's load.
    /// </summary>
    public static double[] TrainAlternating(BenchConfig c, int[] threadCounts, int repeats, int warmup, double minTimedSeconds = 0)
    {
        var step = TrainingStep(c);
        int saved = Engine.Threads;
        try
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            foreach (int threads in threadCounts)
            {
                Engine.Threads = threads;
                var warming = Stopwatch.StartNew();
                for (int i = 0; i < warmup || warming.Elapsed.TotalMilliseconds < MinWarmupMs; i++) step();
            }
            var times = threadCounts.Select(_ => new List<double>()).ToArray();
            var clock = new Stopwatch();
            for (double timed = 0; times[0].Count < repeats || (timed < 1000 * minTimedSeconds && times[0].Count < MaxTimedCalls);)
                for (int i = 0; i < threadCounts.Length; i++)
                {
                    Engine.Threads = threadCounts[i];
                    clock.Restart();
                    step();
                    times[i].Add(clock.Elapsed.TotalMilliseconds);
                    timed += times[i][^1];
                }
            return times.Select(t => Median(t.Order().ToArray())).ToArray();
        }
        finally
        {
            Engine.Threads = saved;
        }
    }

    private static Action TrainingStep(BenchConfig c)
    {
        var (model, batch) = Build(c);
        var y = RandomTensor(new RecurRandom(2), c.Batch, 1);
        var adam = new Adam(model.Parameters, learningRate: 1e-3);
        return () =>
        {
            adam.ZeroGrad();
            using var tape = new Tape(); // disposed as the trainer does: the next step reuses its buffers
            var prediction = model.Forward(tape, batch, training: true, random: null);
            var loss = Loss.MeanSquaredError(tape, prediction, y);
            tape.Backward(loss);
            adam.Step();
        };
    }

    /// <summary>Forward only (no tape recording): the stack over the whole sequence and the head.</summary>
    public static Timing Infer(BenchConfig c, int threads, int repeats, int warmup, double minTimedSeconds = 0)
    {
        var (model, batch) = Build(c);
        return Time(() =>
        {
            using var tape = Tape.Inference;
            model.Forward(tape, batch, training: false, random: null);
        }, threads, repeats, warmup, minTimedSeconds);
    }

    /// <summary>
    /// Batch-1 streaming: one time step per call, carrying (h, c) from call to call, through the library's streaming
    /// API (<see cref="StreamingSession"/>: the session holds the state, the outputs go into the caller's buffer).
    /// </summary>
    public static Timing Stream(BenchConfig c, int threads, int calls, int warmup)
    {
        var (model, batch) = Build(c);
        var session = model.StartStreaming();
        var features = batch.Values!.Data.AsMemory(0, c.Input);
        var output = new float[model.Spec.OutputSize];
        return Time(() => session.Step(features.Span, output), threads, calls, warmup, fixedCount: true);
    }

    /// <summary>GFLOP/s of Recur's own float32 GEMM on n×n·n×n (2n³ FLOPs), median of five after one warm-up.</summary>
    public static double GemmGflops(int n, int threads)
    {
        var random = new RecurRandom(3);
        var a = RandomTensor(random, n, n).Data;
        var b = RandomTensor(random, n, n).Data;
        var cm = new float[n * n];
        var t = Time(() => Gemm.Multiply(false, false, n, n, n, a, b, cm, accumulate: false), threads, repeats: 5, warmup: 1, fixedCount: true);
        return 2.0 * n * n * n / t.MedianMs / 1e6;
    }

    private static (SequenceModel Model, SequenceBatch Batch) Build(BenchConfig c)
    {
        var random = new RecurRandom(1);
        var model = new SequenceModel(new SequenceModelSpec
        {
            Cell = c.Cell, InputSize = c.Input, HiddenSize = c.Hidden, Layers = c.Layers, OutputSize = 1,
        }, random);
        return (model, new SequenceBatch(c.Batch, c.Steps, RandomTensor(random, c.Batch, c.Steps, c.Input), null));
    }

    private static Tensor RandomTensor(RecurRandom random, params int[] shape)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++) t.Data[i] = (float)random.Normal();
        return t;
    }

    /// <summary>
    /// Least warm-up time: the runtime compiles its optimised (tier-1) code in the background about 100 ms after a
    /// method gets hot, so a few warm-up calls of a small case (config a: 3 ms; a streaming step: 5 µs) would time
    /// part of the run on unoptimised code.
    /// </summary>
    private const double MinWarmupMs = 1000;

    /// <summary>Most timed calls a case makes to fill its least timed time (a step of 250 µs and under stops here).</summary>
    public const int MaxTimedCalls = 4000;

    /// <summary>
    /// Median of at least <paramref name="repeats"/> timed calls, continued until <paramref name="minTimedSeconds"/> are
    /// timed (at most <see cref="MaxTimedCalls"/>); a step slower than <see cref="SlowStepMs"/> gets at most
    /// <see cref="SlowRepeats"/>. <paramref name="fixedCount"/>: exactly <paramref name="repeats"/> calls.
    /// </summary>
    private static Timing Time(Action step, int threads, int repeats, int warmup, double minTimedSeconds = 0, bool fixedCount = false)
    {
        using (Engine.UseThreads(threads))
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var clock = new Stopwatch();
            var warming = Stopwatch.StartNew();
            double lastWarm = 0;
            for (int i = 0; i < warmup || warming.Elapsed.TotalMilliseconds < MinWarmupMs; i++)
            {
                clock.Restart();
                step();
                lastWarm = clock.Elapsed.TotalMilliseconds;
            }
            if (!fixedCount && lastWarm > SlowStepMs) repeats = Math.Min(repeats, SlowRepeats);
            double leastMs = fixedCount ? 0 : 1000 * minTimedSeconds;
            var times = new double[leastMs > 0 ? Math.Max(repeats, MaxTimedCalls) : repeats]; // allocated before the count starts
            int calls = 0;
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (double timed = 0; calls < repeats || (timed < leastMs && calls < times.Length); calls++)
            {
                clock.Restart();
                step();
                times[calls] = clock.Elapsed.TotalMilliseconds;
                timed += times[calls];
            }
            long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            times = times[..calls];
            Array.Sort(times);
            return new Timing(Median(times), times[0], times[^1], calls, warmup, allocated / calls, WorkspacePeak(step));
        }
    }

    /// <summary>Runs <paramref name="step"/> once inside the engine's workspace meter and returns its peak.</summary>
    private static long WorkspacePeak(Action step)
    {
        var meter = new WorkspaceMeter();
        using (Workspace.Measure(meter)) step();
        return meter.Peak;
    }

    /// <summary>Median of sorted values (mean of the middle two for an even count).</summary>
    public static double Median(double[] sorted) =>
        sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : 0.5 * (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]);
}
