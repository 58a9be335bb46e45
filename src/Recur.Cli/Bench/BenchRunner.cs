using System.Globalization;

namespace Recur.Cli.Bench;

/// <summary>Settings of one <c>recur bench</c> run.</summary>
internal sealed record BenchSettings
{
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int Repeats { get; init; } = 10;

    /// <summary>
    /// Times the whole list of cases (Recur's and the peers', configuration by configuration) this many times over; each
    /// figure is the median of its rounds' medians, so on a machine that changes state every system's figure samples
    /// the states of the whole run rather than of one minute.
    /// </summary>
    public int Rounds { get; init; } = 1;

    /// <summary>
    /// Least time a case's timed calls take together: a case times at least <see cref="Repeats"/> calls and keeps on
    /// until this much is timed (config a's 3 ms step: about 330 calls, not 10, so its median is not one moment of a
    /// shared machine). The peers are given the same rule.
    /// </summary>
    public double MinTimedSeconds { get; init; } = 1;
    public int GemmSize { get; init; } = BenchRunner.DefaultGemmSize;
    public bool NoPeer { get; init; }
    public bool NoScaling { get; init; }
    public IReadOnlyList<int> PeerThreads { get; init; } = [Environment.ProcessorCount];
    public TimeSpan PeerTimeout { get; init; } = TimeSpan.FromMinutes(30);
    public bool BuildPeers { get; init; }
    public string Python { get; init; } = "/usr/bin/python3";
    public string? PeersDirectory { get; init; }
    public string? Note { get; init; }
    public string Command { get; init; } = "recur bench";
    public Action<string> Log { get; init; } = _ => { };
}

/// <summary>
/// Runs the cases configuration by configuration: Recur's timings of a configuration (training, then inference) in
/// this process, then each peer's of the same configuration as a child process, so the figures a ratio compares are
/// taken within a minute or so of each other, not minutes apart (on a shared machine that changes state, the state
/// between them changes less), then Recur's thread scaling; with several rounds, all of it again each round. Then the
/// GEMM ceilings.
/// </summary>
internal static class BenchRunner
{
    public const int DefaultGemmSize = 2048, StreamCalls = 20000, StreamWarmup = 2000;

    public static BenchReport Run(BenchSettings s, IReadOnlyList<string> only)
    {
        var report = new BenchReport
        {
            Threads = s.Threads, Repeats = s.Repeats, Rounds = s.Rounds, MinTimedSeconds = s.MinTimedSeconds, PeerThreads = s.NoPeer ? [] : s.PeerThreads, Command = s.Command, Note = s.Note,
            GemmSize = s.GemmSize, Started = DateTime.UtcNow, LoadAtStart = BenchReport.LoadAverage(),
        };
        var peers = s.NoPeer ? null : new PeerRunner(s, report);
        // Each case's timing and the round trip before it, one per round, in the order the cases first ran.
        var cases = new List<(BenchConfig Config, string Mode, List<(Timing Timing, double? RoundTrip)> Rounds)>();
        void Add(BenchConfig c, string mode, (Timing, double?) timed)
        {
            int at = cases.FindIndex(e => e.Config == c && e.Mode == mode);
            if (at < 0)
            {
                at = cases.Count;
                cases.Add((c, mode, []));
            }
            cases[at].Rounds.Add(timed);
        }
        var scalingRounds = new List<ThreadScaling>();
        for (int round = 1; round <= s.Rounds; round++)
        {
            if (s.Rounds > 1) s.Log($"round {round} of {s.Rounds}");
            foreach (string name in BenchConfig.AllNames.Where(only.Contains))
            {
                bool stream = name == "stream";
                bool train = !stream, infer = BenchConfig.Inference.Contains(name);
                if (stream) Add(BenchConfig.Streaming, "stream", TimeStream(s));
                else
                {
                    var c = BenchConfig.ByName(name);
                    Add(c, "train", TimeTraining(s, c));
                    if (infer) Add(c, "infer", TimeInference(s, c));
                }
                peers?.Run(name, train, infer, stream, round);
            }
            // Recur's thread scaling once per round too, so its figure samples the run's machine states as the others do.
            if (!s.NoScaling)
                foreach (string name in BenchConfig.ThreadScaling.Where(only.Contains))
                    scalingRounds.Add(MeasureScaling(s, BenchConfig.ByName(name)));
        }
        foreach (var (c, mode, rounds) in cases)
            report.Rows.Add(new BenchRow(c, mode, Timing.OverRounds(rounds.Select(r => r.Timing).ToList()), s.Threads)
            {
                CoreRoundTripNs = rounds[0].RoundTrip, Rounds = rounds.Select(r => new RoundTiming(r.Timing.MedianMs, r.RoundTrip)).ToList(),
            });
        foreach (var config in scalingRounds.GroupBy(r => r.Config))
            report.Scaling.Add(ThreadScaling.OverRounds(config.ToList()));
        s.Log($"recur: GEMM n={s.GemmSize} …");
        report.RecurGemmGflops = RecurTimer.GemmGflops(s.GemmSize, s.Threads);
        s.Log($"recur: GEMM {report.RecurGemmGflops:F1} GFLOP/s");

        peers?.Finish();
        report.LoadAtEnd = BenchReport.LoadAverage();
        report.CoreRoundTripAtEndNs = CoreRoundTrip.Nanoseconds();
        return report;
    }

    /// <summary>Recur's step on <paramref name="c"/> at one thread and at two, the steps alternating, and the round trip before.</summary>
    private static ThreadScaling MeasureScaling(BenchSettings s, BenchConfig c)
    {
        s.Log($"recur: {c.Name} training at 1 and 2 threads, alternating …");
        double? roundTrip = CoreRoundTrip.Nanoseconds();
        var medians = RecurTimer.TrainAlternating(c, [1, 2], s.Repeats, TrainingWarmupSteps(c), s.MinTimedSeconds);
        var scaling = new ThreadScaling(c.Name, medians[0], medians[1], roundTrip);
        s.Log($"recur: {c.Name} {BenchReport.Ms(scaling.OneThreadMs)} → {BenchReport.Ms(scaling.TwoThreadMs)} ms, speed-up {scaling.Speedup:F2}×");
        return scaling;
    }

    /// <summary>Least warm-up steps before timing training on <paramref name="c"/> (config d's step takes about a second).</summary>
    private static int TrainingWarmupSteps(BenchConfig c) => c.Name == "d" ? 2 : 3;

    private static (Timing, double?) TimeTraining(BenchSettings s, BenchConfig c)
    {
        s.Log($"recur: {c.Name} training ({c.Describe()}), {s.Threads} thread(s) …");
        double? roundTrip = CoreRoundTrip.Nanoseconds();
        var t = RecurTimer.Train(c, s.Threads, s.Repeats, TrainingWarmupSteps(c), s.MinTimedSeconds);
        s.Log($"recur: {c.Name} training {BenchReport.Ms(t.MedianMs)} ms");
        return (t, roundTrip);
    }

    private static (Timing, double?) TimeInference(BenchSettings s, BenchConfig c)
    {
        s.Log($"recur: {c.Name} inference …");
        double? roundTrip = CoreRoundTrip.Nanoseconds();
        var t = RecurTimer.Infer(c, s.Threads, s.Repeats, 3, s.MinTimedSeconds);
        s.Log($"recur: {c.Name} inference {BenchReport.Ms(t.MedianMs)} ms");
        return (t, roundTrip);
    }

    private static (Timing, double?) TimeStream(BenchSettings s)
    {
        s.Log("recur: batch-1 streaming …");
        double? roundTrip = CoreRoundTrip.Nanoseconds();
        var t = RecurTimer.Stream(BenchConfig.Streaming, s.Threads, StreamCalls, StreamWarmup);
        s.Log($"recur: streaming {t.MedianMs * 1000:F1} µs per step");
        return (t, roundTrip);
    }

    /// <summary>
    /// Runs the two peers one configuration at a time and gathers each peer's timings into one result. A peer found
    /// missing (not built, no Python with torch) is not tried again for the later configurations.
    /// </summary>
    private sealed class PeerRunner
    {
        private readonly BenchSettings _s;
        private readonly BenchReport _report;
        private readonly string? _dir;
        private readonly PeerResult _libTorch = new("libtorch", ""), _pyTorch = new("pytorch", "");
        private bool _buildTorchSharp;

        public PeerRunner(BenchSettings s, BenchReport report)
        {
            (_s, _report, _buildTorchSharp) = (s, report, s.BuildPeers);
            _dir = Peers.FindPeersDirectory(s.PeersDirectory);
        }

        public void Run(string config, bool train, bool infer, bool stream, int round)
        {
            if (_dir is null) return;
            var plan = new PeerPlan(_dir, _s.Python, train ? [config] : [], infer ? [config] : [], stream,
                _s.PeerThreads, _s.Repeats, _s.MinTimedSeconds, _s.PeerTimeout, _buildTorchSharp, _s.Threads, _s.Log);
            _buildTorchSharp = false;
            if (_libTorch.Status != "missing") Take(_libTorch, config, round, () => Peers.LibTorch(plan));
            if (_pyTorch.Status != "missing") Take(_pyTorch, config, round, () => Peers.PyTorch(plan));
        }

        private void Take(PeerResult into, string config, int round, Func<PeerResult> run)
        {
            double? roundTrip = CoreRoundTrip.Nanoseconds();
            var part = run();
            into.Absorb(part, config, roundTrip, round);
            _s.Log(part.Status == "ok" ? $"{part.Name}: {config} done ({part.Timings.Count} cases)"
                : $"{part.Name}: {config} {part.Status.ToUpperInvariant()} — {part.Detail}; install: {part.Install}");
        }

        /// <summary>Adds the peers (or why they are missing) and OpenBLAS's GEMM rate to the report.</summary>
        public void Finish()
        {
            if (_dir is null)
            {
                string why = _s.PeersDirectory is null
                    ? "bench/peers not found from the working directory upwards: run from the repository root or pass --peers-dir"
                    : $"--peers-dir {_s.PeersDirectory} does not exist";
                foreach (var (name, install) in new[] { ("libtorch", Peers.TorchSharpInstall), ("pytorch", Peers.PythonInstall) })
                    _report.Peers.Add(new PeerResult(name, name) { Status = "missing", Detail = why, Install = install });
                _report.OpenBlasNote = why;
            }
            else
            {
                _report.Peers.Add(_libTorch);
                _report.Peers.Add(_pyTorch);
                var plan = new PeerPlan(_dir, _s.Python, [], [], false, _s.PeerThreads, _s.Repeats, _s.MinTimedSeconds, _s.PeerTimeout, false, _s.Threads, _s.Log);
                var (gflops, problem) = Peers.OpenBlasGemm(plan, _s.GemmSize);
                _report.OpenBlasGemmGflops = gflops;
                _report.OpenBlasNote = problem;
                if (gflops is not null) _s.Log($"openblas: GEMM {gflops.Value.ToString("F1", CultureInfo.InvariantCulture)} GFLOP/s");
            }
            foreach (var row in _report.Rows)
                foreach (var peer in _report.Peers)
                    row.Peers[peer.Name] = peer.Get(row.Config.Name, row.Mode);
        }
    }
}
