using System.Globalization;
using System.Text.RegularExpressions;

namespace Recur.Cli.Bench;

/// <summary>
/// A peer's median time for one configuration and mode ("train", "infer", "stream"), at the threading it ran best with;
/// run in several rounds (<c>--rounds</c>), the median of the rounds' figures, each round's in <paramref name="RoundMs"/>.
/// </summary>
internal sealed record PeerTiming(double Ms, string Threads, IReadOnlyList<double>? RoundMs = null)
{
    /// <summary>The median of one case's timings from successive rounds (for an even count, the mean of the middle two).</summary>
    public static PeerTiming OverRounds(IReadOnlyList<PeerTiming> rounds)
    {
        if (rounds.Count == 1) return rounds[0];
        var sorted = rounds.OrderBy(t => t.Ms).ToList();
        var middle = sorted.Count % 2 == 1 ? [sorted[sorted.Count / 2]] : sorted.GetRange(sorted.Count / 2 - 1, 2);
        return new PeerTiming(RecurTimer.Median(sorted.Select(t => t.Ms).ToArray()), string.Join(" / ", middle.Select(t => t.Threads).Distinct()),
            rounds.Select(t => t.Ms).ToList());
    }
}

/// <summary>What one peer gave: "ok", or "missing"/"failed"/"timed out"/"skipped" with why and how to install it.</summary>
internal sealed class PeerResult(string name, string description)
{
    public string Name { get; } = name;
    public string Description { get; private set; } = description;
    public string Status { get; set; } = "ok";
    public string? Detail { get; set; }
    public string? Install { get; set; }
    public string? Version { get; set; }
    public Dictionary<(string Config, string Mode), PeerTiming> Timings { get; } = [];

    /// <summary>
    /// The cross-core round trip just before this peer ran each configuration (see <see cref="CoreRoundTrip"/>): keyed by
    /// the configuration, and in rounds after the first by "config rN".
    /// </summary>
    public Dictionary<string, double?> RoundTrips { get; } = [];

    private readonly Dictionary<(string Config, string Mode), List<PeerTiming>> _rounds = [];

    /// <summary>
    /// Adds this peer's run of one configuration in round <paramref name="round"/> (1 for a single round): its timings
    /// (over several rounds, each case's timing becomes the median of its rounds'), version and description, why it
    /// failed (once per distinct reason) and the round trip just before it. The peer is "ok" once any configuration
    /// gave a timing.
    /// </summary>
    public void Absorb(PeerResult part, string config, double? roundTrip, int round = 1)
    {
        foreach (var (key, timing) in part.Timings)
        {
            if (!_rounds.TryGetValue(key, out var rounds)) _rounds[key] = rounds = [];
            rounds.Add(timing);
            Timings[key] = PeerTiming.OverRounds(rounds);
        }
        Version ??= part.Version;
        if (part.Description.Length > 0) Description = part.Description;
        if (part.Detail is not null && Detail?.Contains(part.Detail, StringComparison.Ordinal) != true)
            Detail = Detail is null ? part.Detail : $"{Detail}; {part.Detail}";
        Install ??= part.Install;
        RoundTrips[BenchReport.InRound(config, round)] = roundTrip;
        Status = Timings.Count > 0 ? "ok" : part.Status;
    }

    /// <summary>Keeps the faster of two timings of the same configuration (the thread-count search).</summary>
    public void Offer(string config, string mode, double ms, string threads)
    {
        if (!double.IsFinite(ms) || ms <= 0) return;
        if (!Timings.TryGetValue((config, mode), out var old) || ms < old.Ms) Timings[(config, mode)] = new PeerTiming(ms, threads);
    }

    public PeerTiming? Get(string config, string mode) => Timings.TryGetValue((config, mode), out var t) ? t : null;
}

/// <summary>What to run the peers on, and how.</summary>
internal sealed record PeerPlan(string PeersDirectory, string Python, IReadOnlyList<string> Train, IReadOnlyList<string> Infer, bool Stream,
    IReadOnlyList<int> TorchSharpThreads, int Repeats, double MinTimedSeconds, TimeSpan Timeout, bool BuildTorchSharp, int GemmThreads, Action<string> Log);

/// <summary>
/// The two speed peers (DESIGN, "Peers and references"), each a child process: libtorch 2.10 through TorchSharp
/// (bench/peers/torchsharp) and Debian's PyTorch 1.13 (bench/peers/torch_lstm_bench.py, its fastest threading variant),
/// plus OpenBLAS's GEMM rate through PyTorch (bench/peers/gemm_ceiling.py).
/// </summary>
internal static partial class Peers
{
    public const string PythonInstall = "apt-get install -y python3-torch libopenblas0-pthread (then run with /usr/bin/python3)";
    public const string TorchSharpInstall =
        "recur bench --build-peers (or: dotnet build -c Release bench/peers/torchsharp; restores TorchSharp-cpu 0.107.0 from NuGet, about 500 MB)";

    /// <summary>Finds bench/peers from the working directory or the tool's directory upwards.</summary>
    public static string? FindPeersDirectory(string? given)
    {
        if (given is not null) return Directory.Exists(given) ? Path.GetFullPath(given) : null;
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "bench", "peers");
                if (File.Exists(Path.Combine(candidate, "torch_lstm_bench.py"))) return candidate;
            }
        }
        return null;
    }

    // ---- libtorch 2.10 through TorchSharp ----

    public static PeerResult LibTorch(PeerPlan plan)
    {
        var peer = new PeerResult("libtorch", "best of threads " + string.Join(",", plan.TorchSharpThreads));
        string project = Path.Combine(plan.PeersDirectory, "torchsharp");
        string dll = Path.Combine(project, "bin", "Release", "net10.0", "linux-x64", "TorchSharpPeer.dll");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        if (plan.BuildTorchSharp)
        {
            plan.Log("libtorch: dotnet build -c Release " + project);
            var build = ChildProcess.Run(dotnet, ["build", "-c", "Release", "--nologo", "-v", "q"], TimeSpan.FromMinutes(30), project);
            if (!build.Ok) return Missing(peer, "failed", "build failed: " + build.Failure(), TorchSharpInstall);
        }
        if (!File.Exists(dll)) return Missing(peer, "missing", $"not built ({dll} is absent)", TorchSharpInstall);
        peer.Version = "libtorch 2.10 / TorchSharp 0.107.0";
        bool timedOut = false;
        foreach (int threads in plan.TorchSharpThreads)
        {
            var args = new List<string>
            {
                dll, "--threads", Invariant(threads), "--warmup", "3", "--steps", Invariant(plan.Repeats), "--min-seconds", Invariant(plan.MinTimedSeconds),
            };
            if (plan.Train.Count > 0) args.AddRange(["--configs", string.Join(",", plan.Train)]);
            else args.AddRange(["--configs", ""]);
            if (plan.Infer.Count > 0) args.AddRange(["--infer-configs", string.Join(",", plan.Infer)]);
            if (plan.Stream) args.Add("--stream");
            plan.Log($"libtorch: {threads} thread(s) …");
            var run = ChildProcess.Run(dotnet, args, plan.Timeout, project, onLine: line => plan.Log("  libtorch: " + line));
            ParseTorchSharp(run.Stdout, peer, threads);
            if (!run.Ok)
            {
                peer.Detail = Join(peer.Detail, $"threads {threads}: " + run.Failure());
                timedOut |= run.TimedOut;
            }
        }
        if (peer.Timings.Count == 0)
        {
            peer.Status = timedOut ? "timed out" : "failed";
            peer.Install = "it needs .NET 10 and the patched libLibTorchSharp.so (bench/peers/torchsharp/weaken_verneed.py runs after each build); " + TorchSharpInstall;
        }
        return peer;
    }

    /// <summary>Reads TorchSharpPeer's "a | LSTM | 8 | 64 | 1 | 50 | 32 | train | 2 | 3.62 | …" rows; returns how many it took.</summary>
    public static int ParseTorchSharp(string stdout, PeerResult peer, int threads)
    {
        int count = 0;
        foreach (var raw in stdout.Split('\n'))
        {
            var cells = raw.Split('|').Select(s => s.Trim()).ToArray();
            if (cells.Length < 10 || !TryNumber(cells[9], out double ms)) continue;
            string mode = cells[7].StartsWith("train", StringComparison.Ordinal) ? "train"
                : cells[7].StartsWith("infer", StringComparison.Ordinal) ? "infer"
                : cells[7].StartsWith("stream", StringComparison.Ordinal) ? "stream" : "";
            if (mode.Length == 0) continue;
            peer.Offer(cells[0], mode, ms, $"{threads} thread{(threads == 1 ? "" : "s")}");
            count++;
        }
        return count;
    }

    // ---- PyTorch 1.13 (Debian) ----

    private static readonly Dictionary<string, string> PythonNames = new()
    {
        ["a"] = "a-lstm-h64", ["b"] = "b-lstm-h256x2", ["c"] = "c-gru-h256x2", ["d"] = "d-lstm-h1024",
    };

    /// <summary>The Python interpreter with torch importable, or a "missing" result saying how to install it.</summary>
    public static (bool Ok, string? Version, string? Problem) ProbePython(string python, string? openBlasNote = null)
    {
        var probe = ChildProcess.Run(python, ["-c", "import torch, glob; print(torch.__version__); print(len(glob.glob('/usr/lib/*/openblas-pthread/libblas.so*')))"],
            TimeSpan.FromSeconds(120));
        if (!probe.Started) return (false, null, $"{python} not found");
        if (!probe.Ok) return (false, null, $"{python} cannot import torch ({probe.Failure()})");
        var lines = probe.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string version = lines.Length > 0 ? lines[0] : "?";
        bool openBlas = lines.Length > 1 && lines[1] != "0";
        return (true, version, openBlas ? null : openBlasNote ?? "libopenblas0-pthread not found: PyTorch falls back to the reference BLAS (about 6x slower)");
    }

    public static PeerResult PyTorch(PeerPlan plan)
    {
        var peer = new PeerResult("pytorch", "Debian python3-torch with OpenBLAS, fastest threading variant of torch_lstm_bench.py best");
        var (ok, version, problem) = ProbePython(plan.Python);
        if (!ok) return Missing(peer, "missing", problem!, PythonInstall);
        peer.Version = "PyTorch " + version;
        if (problem is not null) peer.Detail = problem;
        string script = Path.Combine(plan.PeersDirectory, "torch_lstm_bench.py");
        var configs = plan.Train.Concat(plan.Infer).Distinct().OrderBy(c => c, StringComparer.Ordinal).Select(c => PythonNames[c]).ToList();
        if (configs.Count > 0)
        {
            plan.Log("pytorch: torch_lstm_bench.py best " + string.Join(",", configs) + " …");
            var run = ChildProcess.Run(plan.Python, [script, "best", string.Join(",", configs)], plan.Timeout, plan.PeersDirectory,
                new Dictionary<string, string?> { ["BENCH_MIN_SECONDS"] = Invariant(plan.MinTimedSeconds) }, line => plan.Log("  pytorch: " + line));
            ParsePythonBest(run.Stdout, peer, plan.Train, plan.Infer);
            if (!run.Ok) peer.Detail = Join(peer.Detail, "best: " + run.Failure());
        }
        if (plan.Stream)
        {
            plan.Log("pytorch: torch_lstm_bench.py stream 1 (OPENBLAS_NUM_THREADS=1) …");
            var run = ChildProcess.Run(plan.Python, [script, "stream", "1"], plan.Timeout, plan.PeersDirectory,
                new Dictionary<string, string?> { ["OPENBLAS_NUM_THREADS"] = "1" }, line => plan.Log("  pytorch: " + line));
            var m = StreamLine().Match(run.Stdout);
            if (m.Success && TryNumber(m.Groups[2].Value, out double us)) peer.Offer("stream", "stream", us / 1000, $"torch {m.Groups[1].Value} thread(s), OpenBLAS 1");
            if (!run.Ok) peer.Detail = Join(peer.Detail, "stream: " + run.Failure());
        }
        if (peer.Timings.Count == 0) peer.Status = "failed";
        return peer;
    }

    /// <summary>
    /// Reads "NAME best train_ms_median=… GFLOPs=… variant=… best infer_ms_median=…" lines, and the per-variant
    /// "  variant V: NAME train_ms=… infer_ms=…" lines printed as each variant finishes, so a run stopped as hung
    /// still gives the fastest of the variants it completed.
    /// </summary>
    public static void ParsePythonBest(string stdout, PeerResult peer, IReadOnlyList<string> train, IReadOnlyList<string> infer)
    {
        foreach (Match m in VariantLine().Matches(stdout))
        {
            string config = m.Groups["name"].Value[..1];
            if (train.Contains(config) && TryNumber(m.Groups["train"].Value, out double ms)) peer.Offer(config, "train", ms, m.Groups["variant"].Value);
            if (infer.Contains(config) && TryNumber(m.Groups["infer"].Value, out double inf)) peer.Offer(config, "infer", inf, m.Groups["variant"].Value);
        }
        foreach (Match m in BestLine().Matches(stdout))
        {
            string config = m.Groups["name"].Value[..1];
            string variant = m.Groups["variant"].Value;
            if (train.Contains(config) && TryNumber(m.Groups["train"].Value, out double ms)) peer.Offer(config, "train", ms, variant);
            if (infer.Contains(config) && TryNumber(m.Groups["infer"].Value, out double inf)) peer.Offer(config, "infer", inf, "fastest variant");
        }
    }

    /// <summary>OpenBLAS's n×n GEMM rate through PyTorch (gemm_ceiling.py), or null with the reason.</summary>
    public static (double? Gflops, string? Problem) OpenBlasGemm(PeerPlan plan, int n)
    {
        var (ok, _, problem) = ProbePython(plan.Python);
        if (!ok) return (null, problem + "; install: " + PythonInstall);
        plan.Log($"openblas: gemm_ceiling.py {plan.GemmThreads} {n} …");
        var run = ChildProcess.Run(plan.Python, [Path.Combine(plan.PeersDirectory, "gemm_ceiling.py"), Invariant(plan.GemmThreads), Invariant(n)],
            plan.Timeout, plan.PeersDirectory);
        var m = GemmLine().Match(run.Stdout);
        if (m.Success && TryNumber(m.Groups[2].Value, out double g) && m.Groups[1].Value == Invariant(n)) return (g, problem);
        return (null, "gemm_ceiling.py " + run.Failure());
    }

    private static PeerResult Missing(PeerResult peer, string status, string detail, string install)
    {
        peer.Status = status;
        peer.Detail = detail;
        peer.Install = install;
        return peer;
    }

    private static string Join(string? a, string b) => a is null ? b : a + "; " + b;

    private static bool TryNumber(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
    private static string Invariant(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(?<name>[a-d]-\S+) best train_ms_median=(?<train>[\d.]+) GFLOPs=\S+ variant=(?<variant>\S+) best infer_ms_median=(?<infer>[\d.]+)", RegexOptions.Multiline)]
    private static partial Regex BestLine();

    [GeneratedRegex(@"^\s*variant (?<variant>\S+): (?<name>[a-d]-\S+) train_ms=(?<train>[\d.]+) infer_ms=(?<infer>[\d.]+)", RegexOptions.Multiline)]
    private static partial Regex VariantLine();

    [GeneratedRegex(@"^stream .*threads=(\d+) step_us_median=([\d.]+)", RegexOptions.Multiline)]
    private static partial Regex StreamLine();

    [GeneratedRegex(@"^sgemm n=(\d+) .*GFLOPs=([\d.]+)", RegexOptions.Multiline)]
    private static partial Regex GemmLine();
}
