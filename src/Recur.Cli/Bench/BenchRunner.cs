using System.Globalization;

namespace Recur.Cli.Bench;

/// <summary>Settings of one <c>recur bench</c> run.</summary>
internal sealed record BenchSettings
{
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int Repeats { get; init; } = 10;
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

/// <summary>Runs the cases: Recur in this process first, then each peer as a child process, then the GEMM ceilings.</summary>
internal static class BenchRunner
{
    public const int DefaultGemmSize = 2048, StreamCalls = 20000, StreamWarmup = 2000;

    public static BenchReport Run(BenchSettings s, IReadOnlyList<string> only)
    {
        var report = new BenchReport
        {
            Threads = s.Threads, Repeats = s.Repeats, PeerThreads = s.NoPeer ? [] : s.PeerThreads, Command = s.Command, Note = s.Note,
            GemmSize = s.GemmSize, Started = DateTime.UtcNow, LoadAtStart = BenchReport.LoadAverage(),
        };
        var train = BenchConfig.Training.Where(c => only.Contains(c.Name)).ToList();
        var infer = BenchConfig.Inference.Where(only.Contains).Select(BenchConfig.ByName).ToList();
        bool stream = only.Contains("stream");

        foreach (var c in train)
        {
            int warmup = c.Name == "d" ? 2 : 3;
            s.Log($"recur: {c.Name} training ({c.Describe()}), {s.Threads} thread(s) …");
            double? roundTrip = CoreRoundTrip.Nanoseconds();
            var t = RecurTimer.Train(c, s.Threads, s.Repeats, warmup);
            s.Log($"recur: {c.Name} training {BenchReport.Ms(t.MedianMs)} ms");
            report.Rows.Add(new BenchRow(c, "train", t, s.Threads) { CoreRoundTripNs = roundTrip });
        }
        foreach (var c in infer)
        {
            s.Log($"recur: {c.Name} inference …");
            double? roundTrip = CoreRoundTrip.Nanoseconds();
            var t = RecurTimer.Infer(c, s.Threads, s.Repeats, 3);
            s.Log($"recur: {c.Name} inference {BenchReport.Ms(t.MedianMs)} ms");
            report.Rows.Add(new BenchRow(c, "infer", t, s.Threads) { CoreRoundTripNs = roundTrip });
        }
        if (stream)
        {
            s.Log("recur: batch-1 streaming …");
            double? roundTrip = CoreRoundTrip.Nanoseconds();
            var t = RecurTimer.Stream(BenchConfig.Streaming, s.Threads, StreamCalls, StreamWarmup);
            s.Log($"recur: streaming {t.MedianMs * 1000:F1} µs per step");
            report.Rows.Add(new BenchRow(BenchConfig.Streaming, "stream", t, s.Threads) { CoreRoundTripNs = roundTrip });
        }
        if (!s.NoScaling)
        {
            foreach (var row in report.Rows.Where(r => r.Mode == "train" && BenchConfig.ThreadScaling.Contains(r.Config.Name)).ToList())
            {
                var c = row.Config;
                int warmup = c.Name == "d" ? 2 : 3;
                s.Log($"recur: {c.Name} training at 1 and 2 threads, alternating …");
                double? roundTrip = CoreRoundTrip.Nanoseconds();
                var medians = RecurTimer.TrainAlternating(c, [1, 2], s.Repeats, warmup);
                report.Scaling.Add(new ThreadScaling(c.Name, medians[0], medians[1], roundTrip));
            }
        }
        s.Log($"recur: GEMM n={s.GemmSize} …");
        report.RecurGemmGflops = RecurTimer.GemmGflops(s.GemmSize, s.Threads);
        s.Log($"recur: GEMM {report.RecurGemmGflops:F1} GFLOP/s");

        if (!s.NoPeer) RunPeers(s, report, train, infer, stream);
        report.LoadAtEnd = BenchReport.LoadAverage();
        report.CoreRoundTripAtEndNs = CoreRoundTrip.Nanoseconds();
        return report;
    }

    private static void RunPeers(BenchSettings s, BenchReport report, List<BenchConfig> train, List<BenchConfig> infer, bool stream)
    {
        string? dir = Peers.FindPeersDirectory(s.PeersDirectory);
        if (dir is null)
        {
            string why = s.PeersDirectory is null
                ? "bench/peers not found from the working directory upwards: run from the repository root or pass --peers-dir"
                : $"--peers-dir {s.PeersDirectory} does not exist";
            foreach (var (name, install) in new[] { ("libtorch", Peers.TorchSharpInstall), ("pytorch", Peers.PythonInstall) })
                report.Peers.Add(new PeerResult(name, name) { Status = "missing", Detail = why, Install = install });
            report.OpenBlasNote = why;
            AttachPeers(report);
            return;
        }
        var plan = new PeerPlan(dir, s.Python, train.Select(c => c.Name).ToList(), infer.Select(c => c.Name).ToList(), stream,
            s.PeerThreads, s.Repeats, s.PeerTimeout, s.BuildPeers, s.Threads, s.Log);
        double? roundTrip = CoreRoundTrip.Nanoseconds();
        report.Peers.Add(Report(s, Peers.LibTorch(plan), roundTrip));
        roundTrip = CoreRoundTrip.Nanoseconds();
        report.Peers.Add(Report(s, Peers.PyTorch(plan), roundTrip));
        var (gflops, problem) = Peers.OpenBlasGemm(plan, s.GemmSize);
        report.OpenBlasGemmGflops = gflops;
        report.OpenBlasNote = problem;
        if (gflops is not null) s.Log($"openblas: GEMM {gflops.Value.ToString("F1", CultureInfo.InvariantCulture)} GFLOP/s");
        AttachPeers(report);
    }

    private static PeerResult Report(BenchSettings s, PeerResult peer, double? roundTrip)
    {
        peer.CoreRoundTripNs = roundTrip;
        s.Log(peer.Status == "ok" ? $"{peer.Name}: done ({peer.Timings.Count} cases)"
            : $"{peer.Name}: {peer.Status.ToUpperInvariant()} — {peer.Detail}; install: {peer.Install}");
        return peer;
    }

    private static void AttachPeers(BenchReport report)
    {
        foreach (var row in report.Rows)
            foreach (var peer in report.Peers)
                row.Peers[peer.Name] = peer.Get(row.Config.Name, row.Mode);
    }
}
