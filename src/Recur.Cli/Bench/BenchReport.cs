using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Recur.Cli.Bench;

/// <summary>Recur's median in one round of a case, and the cross-core round trip just before it.</summary>
internal sealed record RoundTiming(double MedianMs, double? CoreRoundTripNs);

/// <summary>One timed case: a configuration in one mode ("train", "infer" or "stream"), Recur's timing and the peers'.</summary>
internal sealed class BenchRow(BenchConfig config, string mode, Timing recur, int threads)
{
    public BenchConfig Config { get; } = config;
    public string Mode { get; } = mode;
    public Timing Recur { get; } = recur;
    public int Threads { get; } = threads;
    public Dictionary<string, PeerTiming?> Peers { get; } = [];

    /// <summary>The cache-line round trip between two cores just before Recur's timing (see <see cref="CoreRoundTrip"/>).</summary>
    public double? CoreRoundTripNs { get; init; }

    /// <summary>Recur's median and round trip in each round (<c>--rounds</c>); <see cref="Recur"/> holds the median of the medians.</summary>
    public IReadOnlyList<RoundTiming> Rounds { get; init; } = [];

    public string Key => Mode switch { "train" => Config.Name, "infer" => Config.Name + " infer", _ => "stream" };

    public string Description => Mode switch
    {
        "train" => Config.Describe() + ", training step",
        "infer" => Config.Describe() + ", inference",
        _ => $"LSTM I{Config.Input} H{Config.Hidden}, batch 1, one step per call",
    };

    /// <summary>FLOPs of one call by DESIGN's count: training 3× forward, inference and streaming 1× forward.</summary>
    public double Flops => Mode == "train" ? Config.TrainingFlops : Config.ForwardFlops;

    /// <summary>GFLOP/s = flops / ms / 1e6.</summary>
    public double Gflops => Flops / Recur.MedianMs / 1e6;

    public double SequencesPerSecond => Config.Batch * 1000.0 / Recur.MedianMs;

    /// <summary>The fastest peer that ran this case, or null.</summary>
    public (string Name, PeerTiming Timing)? BestPeer =>
        Peers.Where(p => p.Value is not null).Select(p => (p.Key, p.Value!)).OrderBy(p => p.Item2.Ms).Cast<(string, PeerTiming)?>().FirstOrDefault();

    /// <summary>peer_ms / recur_ms: above 1 means Recur is faster.</summary>
    public double? Ratio(PeerTiming? peer) => peer is null ? null : peer.Ms / Recur.MedianMs;
}

/// <summary>
/// Measured 1→2-thread speed-up of Recur on one training configuration, and the core round trip before it; with
/// several rounds, each time the median of the rounds' (<see cref="Rounds"/>) and the first round's round trip.
/// </summary>
internal sealed record ThreadScaling(string Config, double OneThreadMs, double TwoThreadMs, double? CoreRoundTripNs = null)
{
    public double Speedup => OneThreadMs / TwoThreadMs;

    /// <summary>Each round's own measurement, in order (empty for a single round).</summary>
    public IReadOnlyList<ThreadScaling> Rounds { get; init; } = [];

    /// <summary>The figure over rounds: each time the median of the rounds' (the mean of the middle two for an even count).</summary>
    public static ThreadScaling OverRounds(IReadOnlyList<ThreadScaling> rounds) => rounds.Count == 1 ? rounds[0] : new ThreadScaling(rounds[0].Config,
        RecurTimer.Median(rounds.Select(r => r.OneThreadMs).Order().ToArray()), RecurTimer.Median(rounds.Select(r => r.TwoThreadMs).Order().ToArray()),
        rounds[0].CoreRoundTripNs) { Rounds = rounds };
}

/// <summary>Everything one <c>recur bench</c> run measured; prints the table, the JSON and the markdown page.</summary>
internal sealed class BenchReport
{
    public const string AllocationNote =
        "managed bytes allocated per call: GC.GetTotalAllocatedBytes(precise) delta over the timed calls (all threads) / calls; " +
        "not a workspace high-water mark";

    public static readonly string RoundTripNote =
        "one cache line passed back and forth between two threads pinned to different processors, " + CoreRoundTrip.Protocol + ": " +
        "what a cross-core hand-off costs at that moment (on a shared virtual machine it moves with where the host places its processors)";

    public List<BenchRow> Rows { get; } = [];
    public List<ThreadScaling> Scaling { get; } = [];
    public List<PeerResult> Peers { get; } = [];
    public int GemmSize { get; init; } = 2048;
    public double? RecurGemmGflops { get; set; }
    public double? OpenBlasGemmGflops { get; set; }
    public string? OpenBlasNote { get; set; }
    public int Threads { get; init; }
    public int Repeats { get; init; }
    public int Rounds { get; init; } = 1;
    public double MinTimedSeconds { get; init; }
    public IReadOnlyList<int> PeerThreads { get; init; } = [];
    public string Command { get; init; } = "recur bench";
    public string? Note { get; init; }
    public DateTime Started { get; init; } = DateTime.UtcNow;
    public string LoadAtStart { get; init; } = LoadAverage();
    public string LoadAtEnd { get; set; } = "";

    /// <summary>The cross-core round trip after everything ran (see <see cref="CoreRoundTrip"/>).</summary>
    public double? CoreRoundTripAtEndNs { get; set; }

    /// <summary>Every round trip this run measured, labelled: before each of Recur's cases, before each peer, at the end.</summary>
    private List<(string Label, double Ns)> RoundTrips() =>
        Rows.SelectMany(r => r.Rounds.Count > 1
                ? r.Rounds.Select((t, i) => (InRound(r.Key, i + 1), t.CoreRoundTripNs))
                : [(r.Key, r.CoreRoundTripNs)])
            .Concat(Scaling.SelectMany(s => s.Rounds.Count > 1
                ? s.Rounds.Select((r, i) => (InRound($"1→2 threads on {s.Config}", i + 1), r.CoreRoundTripNs))
                : [($"1→2 threads on {s.Config}", s.CoreRoundTripNs)]))
            .Concat(Peers.SelectMany(p => p.RoundTrips.Select(t => ($"{p.Name} {t.Key}", t.Value))))
            .Append(("end", CoreRoundTripAtEndNs))
            .Where(m => m.Item2 is not null).Select(m => (m.Item1, m.Item2!.Value)).ToList();

    /// <summary>The label of a measurement in round <paramref name="round"/>: the case's own in the first, "key rN" after.</summary>
    public static string InRound(string key, int round) => round == 1 ? key : $"{key} r{round}";

    /// <summary>
    /// A machine whose round trip more than doubled or halved within the run switched state in between (on the bench's
    /// shared 2-core machine that doubled config a's time): its timings, and the ratios between them, mix states.
    /// </summary>
    public bool RoundTripShifted => RoundTrips() is { Count: > 0 } all && all.Max(m => m.Ns) > 2 * all.Min(m => m.Ns);

    /// <summary>The practical ceiling: the faster of Recur's GEMM and OpenBLAS's at n = <see cref="GemmSize"/>.</summary>
    public double? Ceiling => new[] { RecurGemmGflops, OpenBlasGemmGflops }.Where(v => v is not null).Max();

    public static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
        catch (UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    public static string CpuName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown" : line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
        catch (UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    // ---- JSON ----

    public JsonObject ToJson()
    {
        var peers = new JsonObject();
        foreach (var p in Peers)
            peers[p.Name] = new JsonObject
            {
                ["status"] = p.Status, ["version"] = p.Version, ["description"] = p.Description, ["detail"] = p.Detail, ["install"] = p.Install,
                ["core_round_trip_ns"] = new JsonObject(p.RoundTrips.Select(t => KeyValuePair.Create(t.Key, (JsonNode?)t.Value))),
            };
        var stream = Rows.FirstOrDefault(r => r.Mode == "stream");
        return new JsonObject
        {
            ["results"] = new JsonArray(Rows.Where(r => r.Mode == "train").Select(RowJson).ToArray<JsonNode?>()),
            ["gemm_ceiling_gflops"] = Ceiling,
            ["inference"] = new JsonArray(Rows.Where(r => r.Mode == "infer").Select(RowJson).ToArray<JsonNode?>()),
            ["streaming"] = stream is null ? null : RowJson(stream),
            ["gemm"] = new JsonObject
            {
                ["n"] = GemmSize, ["threads"] = Threads, ["recur_gflops"] = RecurGemmGflops, ["openblas_gflops"] = OpenBlasGemmGflops,
                ["openblas_note"] = OpenBlasNote,
            },
            ["threads"] = new JsonObject
            {
                ["recur"] = Threads, ["peer_thread_search"] = new JsonArray(PeerThreads.Select(t => (JsonNode?)t).ToArray()),
            },
            ["thread_scaling"] = new JsonArray(Scaling.Select(s => (JsonNode?)new JsonObject
            {
                ["config"] = s.Config, ["ms_1_thread"] = s.OneThreadMs, ["ms_2_threads"] = s.TwoThreadMs, ["speedup"] = s.Speedup,
                ["core_round_trip_ns"] = s.CoreRoundTripNs,
                ["round_speedups"] = s.Rounds.Count > 1 ? new JsonArray(s.Rounds.Select(r => (JsonNode?)r.Speedup).ToArray()) : null,
            }).ToArray()),
            ["peers"] = peers,
            ["allocations"] = new JsonObject
            {
                ["what"] = AllocationNote,
                ["bytes_per_call"] = new JsonObject(Rows.Select(r => KeyValuePair.Create(r.Key, (JsonNode?)r.Recur.AllocatedBytesPerCall))),
                ["workspace_peak_bytes"] = new JsonObject(Rows.Select(r => KeyValuePair.Create(r.Key, (JsonNode?)r.Recur.WorkspacePeakBytes))),
                ["workspace_note"] = "the engine's own activation high-water mark over one call (Recur.Tensors.Workspace); null where this build has no such counter",
            },
            ["repeats"] = Repeats,
            ["rounds"] = Rounds,
            ["min_timed_seconds"] = MinTimedSeconds,
            ["machine"] = new JsonObject
            {
                ["processors"] = Environment.ProcessorCount, ["cpu"] = CpuName(), ["dotnet"] = Environment.Version.ToString(),
                ["load_average_start"] = LoadAtStart, ["load_average_end"] = LoadAtEnd,
                ["core_round_trip_note"] = RoundTripNote,
                ["core_round_trip_end_ns"] = CoreRoundTripAtEndNs,
                ["core_round_trip_shifted"] = RoundTripShifted,
            },
            ["started_utc"] = Started.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["command"] = Command,
            ["note"] = Note,
        };
    }

    private JsonObject RowJson(BenchRow r)
    {
        var best = r.BestPeer;
        var peers = new JsonObject();
        foreach (var (name, t) in r.Peers)
            peers[name] = t is null ? null : new JsonObject
            {
                ["ms"] = t.Ms, ["ratio"] = r.Ratio(t), ["threads"] = t.Threads, ["gflops"] = r.Flops / t.Ms / 1e6,
                ["round_ms"] = t.RoundMs is null ? null : new JsonArray(t.RoundMs.Select(v => (JsonNode?)v).ToArray()),
            };
        return new JsonObject
        {
            ["config"] = r.Config.Name,
            ["recur_ms"] = r.Recur.MedianMs,
            ["peer_ms"] = best?.Timing.Ms,
            ["ratio"] = r.Ratio(best?.Timing),
            ["gflops"] = r.Gflops,
            ["peer"] = best?.Name,
            ["mode"] = r.Mode,
            ["description"] = r.Description,
            ["flops"] = r.Flops,
            ["seq_per_s"] = r.SequencesPerSecond,
            ["recur_min_ms"] = r.Recur.MinMs,
            ["recur_max_ms"] = r.Recur.MaxMs,
            ["repeats"] = r.Recur.Repeats,
            ["warmup"] = r.Recur.Warmup,
            ["threads"] = r.Threads,
            ["ceiling_share"] = Share(r.Gflops, Ceiling),
            ["recur_gemm_share"] = Share(r.Gflops, RecurGemmGflops),
            ["openblas_gemm_share"] = Share(r.Gflops, OpenBlasGemmGflops),
            ["allocated_bytes_per_call"] = r.Recur.AllocatedBytesPerCall,
            ["workspace_peak_bytes"] = r.Recur.WorkspacePeakBytes,
            ["core_round_trip_ns"] = r.CoreRoundTripNs,
            ["round_ms"] = r.Rounds.Count > 1 ? new JsonArray(r.Rounds.Select(t => (JsonNode?)t.MedianMs).ToArray()) : null,
            ["peers"] = peers,
        };
    }

    private static double? Share(double gflops, double? ceiling) => ceiling is > 0 ? gflops / ceiling : null;

    // ---- tables ----

    private IReadOnlyList<string> PeerNames => Peers.Select(p => p.Name).ToList();

    /// <summary>The results table as markdown (aligned, so it reads as plain text too).</summary>
    public string Table()
    {
        var headers = new List<string> { "config", "Recur ms" };
        foreach (var p in PeerNames) headers.AddRange([$"{p} ms", $"× {p}"]);
        headers.AddRange(["seq/s", "GFLOP/s", "% Recur GEMM", "% OpenBLAS", "alloc/call"]);
        bool workspace = Rows.Any(r => r.Recur.WorkspacePeakBytes is not null);
        if (workspace) headers.Add("workspace peak");
        var rows = Rows.Select(r =>
        {
            var cells = new List<string> { r.Key, Ms(r.Recur.MedianMs) + (r.Recur.Repeats < Repeats ? $" (n={r.Recur.Repeats})" : "") };
            foreach (var p in PeerNames)
            {
                var t = r.Peers.GetValueOrDefault(p);
                cells.Add(t is null ? "—" : Ms(t.Ms));
                cells.Add(t is null ? "—" : $"{r.Ratio(t):F2}");
            }
            cells.Add(r.SequencesPerSecond.ToString("F0", CultureInfo.InvariantCulture));
            cells.Add(r.Gflops.ToString("F1", CultureInfo.InvariantCulture));
            cells.Add(Percent(Share(r.Gflops, RecurGemmGflops)));
            cells.Add(Percent(Share(r.Gflops, OpenBlasGemmGflops)));
            cells.Add(Bytes(r.Recur.AllocatedBytesPerCall));
            if (workspace) cells.Add(r.Recur.WorkspacePeakBytes is long w ? Bytes(w) : "—");
            return cells;
        }).ToList();
        return Markdown(headers, rows, rightFrom: 1);
    }

    public string Summary()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Recur threads: {Threads}; median of at least {Repeats} timed calls and at least {MinTimedSeconds.ToString(CultureInfo.InvariantCulture)} s of them " +
            $"(at most {RecurTimer.MaxTimedCalls} calls), after at least a second of warm-up (fewer where marked n=…; streaming: {BenchRunner.StreamCalls} calls); " +
            "the peers time their calls by the same rule; ratio = peer ms / Recur ms (> 1: Recur is faster).");
        if (Rounds > 1) sb.AppendLine(RoundsLine());
        string gemm = $"GEMM n={GemmSize} at {Threads} thread(s): Recur {Gf(RecurGemmGflops)} GFLOP/s, OpenBLAS (PyTorch) {Gf(OpenBlasGemmGflops)} GFLOP/s";
        sb.AppendLine(OpenBlasNote is null ? gemm : $"{gemm} ({OpenBlasNote})");
        foreach (var s in Scaling)
            sb.AppendLine($"Recur 1→2 threads on {s.Config} (steps at 1 and 2 threads alternating{(s.Rounds.Count > 1 ? $", once per round, each time the median of the rounds'" : "")}): " +
                $"{Ms(s.OneThreadMs)} → {Ms(s.TwoThreadMs)} ms, speed-up {s.Speedup:F2}×" +
                (s.Rounds.Count > 1 ? $" (rounds {string.Join(" / ", s.Rounds.Select(r => r.Speedup.ToString("F2", CultureInfo.InvariantCulture)))})" : ""));
        foreach (var p in Peers)
        {
            string what = p.Status == "ok" ? $"{p.Name}: {p.Version}, {p.Description}" : $"{p.Name}: {p.Status.ToUpperInvariant()}";
            if (p.Detail is not null) what += $" — {p.Detail}";
            if (p.Status != "ok" && p.Install is not null) what += $" — install: {p.Install}";
            sb.AppendLine(what);
        }
        var roundTrips = RoundTrips();
        if (roundTrips.Count > 0)
            sb.AppendLine($"core round trip (ns) before each case: {string.Join(", ", roundTrips.Select(m => $"{m.Label} {m.Ns:F0}"))}; {RoundTripNote}.");
        if (RoundTripShifted)
            sb.AppendLine("WARNING: the round trip changed more than twofold during this run, so the machine changed state between " +
                          "timings: a configuration's peers ran right after Recur's timing of it, but where the round trips before them differ " +
                          "twofold, Recur's and the peer's figures (and the ratio between them) come from different states.");
        sb.AppendLine($"alloc/call: {AllocationNote}.");
        sb.Append($"load average at start {LoadAtStart}, at end {LoadAtEnd} on {Environment.ProcessorCount} logical processors ({CpuName()}).");
        return sb.ToString();
    }

    /// <summary>What the rounds were and each case's figure in each round, Recur's and each peer's, with the ratio per round.</summary>
    private string RoundsLine()
    {
        string Series(IEnumerable<double> ms) => string.Join(" / ", ms.Select(Ms));
        var cases = Rows.Select(r =>
        {
            var parts = new List<string> { $"{r.Key}: Recur {Series(r.Rounds.Select(t => t.MedianMs))}" };
            foreach (var (name, t) in r.Peers)
                if (t?.RoundMs is { } peerMs)
                    parts.Add($"{name} {Series(peerMs)} (× {string.Join(" / ", peerMs.Zip(r.Rounds, (p, q) => (p / q.MedianMs).ToString("F2", CultureInfo.InvariantCulture)))})");
            return string.Join(", ", parts);
        });
        return $"{Rounds} rounds: the whole list of cases (Recur's timing of a configuration, then each peer's) ran {Rounds} times; each figure above is " +
               $"the median of its rounds' medians. Per round (ms; × = that round's ratio): {string.Join("; ", cases)}.";
    }

    public string MarkdownPage()
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Performance: Recur against libtorch and PyTorch on the CPU");
        sb.AppendLine();
        if (Note is not null) sb.AppendLine($"> {Note}").AppendLine();
        sb.AppendLine($"Generated by `{Command}` on {Started:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} logical processors ({CpuName()}), .NET {Environment.Version}; " +
                      $"load average {LoadAtStart} at the start and {LoadAtEnd} at the end. Regenerate with `recur bench{(Rounds > 1 ? $" --rounds {Rounds}" : "")} --out docs` " +
                      "(from the repository root, so the peers in bench/peers are found).");
        sb.AppendLine();
        sb.AppendLine("Training step = full-sequence forward, linear head on the last state, MSE, backward, Adam. FLOPs by DESIGN's count: " +
                      "forward = 2·gates·H·(I+H) per step, sequence and layer; training = 3× forward; GFLOP/s = flops / ms / 1e6. " +
                      "Ratio = peer ms / Recur ms: above 1 means Recur is faster. Each peer runs as a child process at its best thread count, " +
                      "configuration by configuration, right after Recur's timing of the same configuration" +
                      (Rounds > 1 ? $"; the whole list ran {Rounds} times (rounds) and each figure is the median of its rounds' medians." : "."));
        sb.AppendLine();
        sb.AppendLine("| config | what |");
        sb.AppendLine("|---|---|");
        foreach (var r in Rows) sb.AppendLine($"| {r.Key} | {r.Description} |");
        sb.AppendLine();
        sb.AppendLine(Table());
        sb.AppendLine();
        foreach (var line in Summary().Split('\n')) sb.AppendLine("- " + line.TrimEnd());
        sb.AppendLine();
        sb.AppendLine("Peer threading: " + string.Join("; ", Rows.SelectMany(r => r.Peers.Where(p => p.Value is not null)
            .Select(p => $"{r.Key} {p.Key}: {p.Value!.Threads}"))) + ".");
        return sb.ToString();
    }

    private static string Markdown(IReadOnlyList<string> headers, IReadOnlyList<List<string>> rows, int rightFrom)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var sb = new StringBuilder();
        string Line(IReadOnlyList<string> cells) =>
            "| " + string.Join(" | ", cells.Select((c, i) => i >= rightFrom ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))) + " |";
        sb.AppendLine(Line(headers));
        sb.AppendLine("|" + string.Join("|", widths.Select((w, i) => i >= rightFrom ? new string('-', w + 1) + ":" : new string('-', w + 2))) + "|");
        foreach (var r in rows) sb.AppendLine(Line(r));
        return sb.ToString().TrimEnd();
    }

    public static string Ms(double ms) => ms switch
    {
        < 1 => ms.ToString("F4", CultureInfo.InvariantCulture),
        < 100 => ms.ToString("F2", CultureInfo.InvariantCulture),
        _ => ms.ToString("F0", CultureInfo.InvariantCulture),
    };

    private static string Gf(double? g) => g is null ? "—" : g.Value.ToString("F1", CultureInfo.InvariantCulture);

    private static string Percent(double? share) => share is null ? "—" : (100 * share.Value).ToString("F1", CultureInfo.InvariantCulture) + "%";

    private static string Bytes(long b) => b switch
    {
        < 10_000 => $"{b} B",
        < 10_000_000 => $"{b / 1024.0:F0} KiB",
        _ => $"{b / (1024.0 * 1024):F1} MiB",
    };
}
