using System.CommandLine;
using System.Globalization;
using Recur.Cli.Bench;

namespace Recur.Cli;

/// <summary>
/// <c>recur bench [--only a,b,c,d,stream] [--no-peer] [--threads N] [--repeats N] [--rounds N] [--min-time S] [--json] [--out DIR]</c>: times, in
/// one run, Recur and its two CPU peers (libtorch 2.10 through TorchSharp, Debian's PyTorch 1.13; each a child process
/// at its best thread count) on the performance issue's configurations, with GFLOP/s by DESIGN's count, the share of
/// the measured GEMM ceiling, Recur's 1→2-thread speed-up and its allocations. <c>--time-to-accuracy</c> runs the
/// character-LSTM wall-clock experiment instead. Progress goes to standard error; the table (or the JSON) to
/// standard output, last.
/// </summary>
internal static class BenchCommand
{
    private static readonly Option<string?> Only = new("--only") { Description = "comma-separated cases: a, b, c, d (training; b and d also time inference), stream (batch-1 streaming). Default: all" };
    private static readonly Option<bool> NoPeer = new("--no-peer") { Description = "time Recur only (no libtorch, no PyTorch, no OpenBLAS GEMM)" };
    private static readonly Option<int?> Threads = new("--threads") { Description = "Recur's threads (default: logical processors)" };
    private static readonly Option<int?> Repeats = new("--repeats") { Description = "least timed calls per case after warm-up (more until --min-time is timed); the median is reported (default 10; a step slower than 3 s gets at most 5)" };
    private static readonly Option<double?> MinTime = new("--min-time") { Description = "least seconds of timed calls per case: calls past --repeats are timed until this much is timed, at most 4000 (default 1; the peers get the same)" };
    private static readonly Option<int?> Rounds = new("--rounds") { Description = "times the whole list of cases (Recur's and the peers', and Recur's 1→2-thread speed-up) this many times over; each figure is the median of its rounds' (default 1)" };
    private static readonly Option<bool> Json = new("--json") { Description = "print one JSON object instead of the table" };
    private static readonly Option<string?> Out = new("--out") { Description = "directory to write bench.json and performance.md into" };
    private static readonly Option<string?> PeerThreads = new("--peer-threads") { Description = "thread counts tried for libtorch, the best kept per case (default: 1 and the logical processors)" };
    private static readonly Option<double?> PeerTimeout = new("--peer-timeout") { Description = "seconds before a peer process is stopped as hung (default 1800)" };
    private static readonly Option<bool> BuildPeers = new("--build-peers") { Description = "build the libtorch peer first (dotnet build -c Release bench/peers/torchsharp)" };
    private static readonly Option<string?> Python = new("--python") { Description = "Python with torch for the PyTorch peer (default /usr/bin/python3)" };
    private static readonly Option<string?> PeersDir = new("--peers-dir") { Description = "the bench/peers directory (default: found from the working directory upwards)" };
    private static readonly Option<bool> NoScaling = new("--no-scaling") { Description = "skip Recur's 1→2-thread speed-up on b and d" };
    private static readonly Option<int?> GemmSize = new("--gemm-size") { Description = "n of the n×n GEMM ceiling measurement (default 2048, as the issue asks)" };
    private static readonly Option<string?> Note = new("--note") { Description = "a line quoted at the top of performance.md (e.g. the machine's load)" };
    private static readonly Option<string?> Device = new("--device") { Description = "cpu (the only backend so far)" };
    private static readonly Option<bool> TimeToAccuracy = new("--time-to-accuracy") { Description = "run the character-LSTM time-to-accuracy experiment (Recur vs PyTorch, validation bits/char at fixed wall times) instead" };
    private static readonly Option<string?> Seconds = new("--seconds") { Description = "--time-to-accuracy: wall-clock checkpoints in seconds (default 30,60,180)" };
    private static readonly Option<string?> Data = new("--data") { Description = "--time-to-accuracy: the text (default data/moby-dick.txt of the repository)" };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("bench", "Time Recur against libtorch (TorchSharp) and PyTorch on the CPU: training steps, inference and batch-1 streaming, in one run.")
        {
            Only, NoPeer, Threads, Repeats, Rounds, MinTime, Json, Out, PeerThreads, PeerTimeout, BuildPeers, Python, PeersDir, NoScaling, GemmSize, Note, Device,
            TimeToAccuracy, Seconds, Data,
        };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () =>
        {
            if (parsed.GetValue(Device) is { } device && !device.Equals("cpu", StringComparison.OrdinalIgnoreCase))
                throw new InvalidInputException($"--device: only 'cpu' can be benchmarked so far; found '{device}'.");
            int threads = parsed.GetValue(Threads) ?? Environment.ProcessorCount;
            if (threads < 1) throw new InvalidInputException($"--threads: expected a positive number; found {threads}.");
            int repeats = parsed.GetValue(Repeats) ?? 10;
            if (repeats < 1) throw new InvalidInputException($"--repeats: expected a positive number; found {repeats}.");
            int rounds = parsed.GetValue(Rounds) ?? 1;
            if (rounds < 1) throw new InvalidInputException($"--rounds: expected a positive number; found {rounds}.");
            double minTime = parsed.GetValue(MinTime) ?? 1;
            if (!(minTime >= 0) || double.IsInfinity(minTime)) throw new InvalidInputException($"--min-time: expected a number of seconds, 0 or more; found {minTime}.");
            double timeout = parsed.GetValue(PeerTimeout) ?? 1800;
            if (!(timeout > 0)) throw new InvalidInputException($"--peer-timeout: expected a positive number of seconds; found {timeout}.");
            int gemmSize = parsed.GetValue(GemmSize) ?? BenchRunner.DefaultGemmSize;
            if (gemmSize < 1) throw new InvalidInputException($"--gemm-size: expected a positive number; found {gemmSize}.");
            var settings = new BenchSettings
            {
                GemmSize = gemmSize,
                Threads = threads, Repeats = repeats, Rounds = rounds, MinTimedSeconds = minTime, NoPeer = parsed.GetValue(NoPeer), NoScaling = parsed.GetValue(NoScaling),
                PeerThreads = ParseInts(parsed.GetValue(PeerThreads), "--peer-threads") ?? [.. new[] { 1, Environment.ProcessorCount }.Distinct()],
                PeerTimeout = TimeSpan.FromSeconds(timeout), BuildPeers = parsed.GetValue(BuildPeers),
                Python = parsed.GetValue(Python) ?? "/usr/bin/python3", PeersDirectory = parsed.GetValue(PeersDir),
                Note = parsed.GetValue(Note), Command = "recur " + string.Join(" ", parsed.Tokens.Select(t => t.Value)),
                Log = line => stderr.WriteLine(line),
            };
            string? outDir = parsed.GetValue(Out);
            bool json = parsed.GetValue(Json);
            if (parsed.GetValue(TimeToAccuracy))
            {
                var checkpoints = ParseInts(parsed.GetValue(Seconds), "--seconds") ?? [30, 60, 180];
                var tta = Bench.TimeToAccuracy.Run(settings, checkpoints, parsed.GetValue(Data));
                if (outDir is not null)
                {
                    Directory.CreateDirectory(outDir);
                    File.WriteAllText(Path.Combine(outDir, "time-to-accuracy.json"), tta.ToJson().ToJsonString(ReportPrinter.JsonOptions) + "\n");
                    File.WriteAllText(Path.Combine(outDir, "time-to-accuracy.md"), tta.MarkdownPage());
                }
                stdout.WriteLine(json ? tta.ToJson().ToJsonString(ReportPrinter.JsonOptions) : tta.Table());
                return RecurCommand.Success;
            }

            var only = ParseOnly(parsed.GetValue(Only));
            var report = BenchRunner.Run(settings, only);
            if (outDir is not null)
            {
                Directory.CreateDirectory(outDir);
                File.WriteAllText(Path.Combine(outDir, "bench.json"), report.ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
                File.WriteAllText(Path.Combine(outDir, "performance.md"), report.MarkdownPage());
                stderr.WriteLine($"wrote {Path.Combine(outDir, "bench.json")} and {Path.Combine(outDir, "performance.md")}");
            }
            if (json) stdout.WriteLine(report.ToJson().ToJsonString(ReportPrinter.JsonOptions));
            else
            {
                stdout.WriteLine(report.Summary());
                stdout.WriteLine();
                stdout.WriteLine(report.Table());
            }
            return RecurCommand.Success;
        }));
        return command;
    }

    private static IReadOnlyList<string> ParseOnly(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return BenchConfig.AllNames;
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(n => n.ToLowerInvariant()).ToList();
        var unknown = names.Where(n => !BenchConfig.AllNames.Contains(n)).ToList();
        if (unknown.Count > 0 || names.Count == 0)
            throw new InvalidInputException($"--only: expected names from {string.Join(", ", BenchConfig.AllNames)}; found '{text}'.");
        return names.Distinct().ToList();
    }

    private static int[]? ParseInts(string? text, string option)
    {
        if (text is null) return null;
        var values = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 1)
                throw new InvalidInputException($"{option}: expected comma-separated positive whole numbers; found '{text}'.");
            values.Add(v);
        }
        if (values.Count == 0) throw new InvalidInputException($"{option}: expected at least one number; found '{text}'.");
        return [.. values];
    }
}
