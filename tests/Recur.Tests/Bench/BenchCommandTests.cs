using System.Runtime.Versioning;
using System.Text.Json;
using System.Text.Json.Nodes;
using Recur.Cli.Bench;
using Recur.Tests.Cli;

namespace Recur.Tests.Bench;

/// <summary>
/// <c>recur bench</c>: the JSON shape DESIGN promises and its FLOP arithmetic, with tiny repeats and no peers. No timing
/// assertions. Joins the engine-threads collection because the harness sets <see cref="Recur.Tensors.Engine.Threads"/>.
/// </summary>
[Collection(EngineThreadsCollection.Name)]
public class BenchCommandTests
{
    [Fact]
    public void JsonHasDesignsShapeAndConsistentFlopArithmetic()
    {
        var json = CliRunner.Json("bench", "--only", "a", "--no-peer", "--repeats", "2", "--min-time", "0", "--gemm-size", "128", "--threads", "1", "--json");

        var results = json["results"]!.AsArray();
        var a = Assert.Single(results)!.AsObject();
        Assert.Equal("a", a["config"]!.GetValue<string>());
        Assert.True(a.ContainsKey("peer_ms") && a["peer_ms"] is null, "peer_ms is null without peers");
        Assert.True(a.ContainsKey("ratio") && a["ratio"] is null, "ratio is null without peers");
        double ms = a["recur_ms"]!.GetValue<double>();
        double gflops = a["gflops"]!.GetValue<double>();
        double flops = a["flops"]!.GetValue<double>();
        Assert.True(ms > 0);
        Assert.Equal(2, a["repeats"]!.GetValue<int>());

        // DESIGN: forward = 2·gates·H·(I+H) per step, sequence and layer; training = 3× forward. a: LSTM I8 H64 ×1, T50 B32.
        Assert.Equal(3.0 * 2 * 4 * 64 * (8 + 64) * 50 * 32, flops);
        Assert.Equal(flops / ms / 1e6, gflops, 9);
        Assert.Equal(32 * 1000.0 / ms, a["seq_per_s"]!.GetValue<double>(), 6);

        double ceiling = json["gemm_ceiling_gflops"]!.GetValue<double>();
        Assert.True(ceiling > 0);
        Assert.Equal(gflops / ceiling, a["ceiling_share"]!.GetValue<double>(), 9);
        Assert.Equal(128, json["gemm"]!["n"]!.GetValue<int>());
        Assert.Null(json["gemm"]!["openblas_gflops"]);
        Assert.True(a["allocated_bytes_per_call"]!.GetValue<long>() >= 0);
        if (Environment.ProcessorCount >= 2)
        {
            Assert.True(a["core_round_trip_ns"]!.GetValue<double>() > 0);
            Assert.True(json["machine"]!["core_round_trip_end_ns"]!.GetValue<double>() > 0);
        }
        Assert.Contains(json["machine"]!["core_round_trip_shifted"]!.GetValueKind(), new[] { JsonValueKind.True, JsonValueKind.False });
        Assert.Equal(1, json["threads"]!["recur"]!.GetValue<int>());
        Assert.Empty(json["inference"]!.AsArray());
        Assert.Null(json["streaming"]);
        Assert.Empty(json["peers"]!.AsObject());
    }

    [Fact]
    public void FlopCountsFollowDesign()
    {
        var b = BenchConfig.ByName("b");
        Assert.Equal(2.0 * 4 * 256 * (32 + 256) * 100 * 64 + 2.0 * 4 * 256 * (256 + 256) * 100 * 64, b.ForwardFlops);
        var c = BenchConfig.ByName("c");
        Assert.Equal(0.75 * b.ForwardFlops, c.ForwardFlops);
        var d = BenchConfig.ByName("d");
        Assert.Equal(3 * 2.0 * 4 * 1024 * 2048 * 25 * 128, d.TrainingFlops);
    }

    [Fact]
    public void PeerOutputsParseRobustly()
    {
        var libtorch = new PeerResult("libtorch", "test");
        Peers.ParseTorchSharp("""
            # torch.get_num_threads()=2 interop=1
            config | cell | I | H | L | T | B | mode | threads | median ms/step | min | max | seq/s
            a | LSTM | 8 | 64 | 1 | 50 | 32 | train | 2 | 3.62 | 3.5 | 4 | 8840 | 0.0590 | 0.1769 | 48.9 | 1.2->1.1
            b | LSTM | 32 | 256 | 2 | 100 | 64 | infer(no_grad) | 2 | 61.00 | 60 | 70 | 1049 | x | x | x | -
            stream | LSTM | 8 | 128 | 1 | 1 | 1 | stream | 2 | 0.0700 | 0.05 | 1 | - | - | - | - | -
            garbage | line
            """, libtorch, 2);
        Peers.ParseTorchSharp("a | LSTM | 8 | 64 | 1 | 50 | 32 | train | 1 | 5.00 | 4 | 6 | 1 | 1 | 1 | 1 | -", libtorch, 1);
        Assert.Equal(3.62, libtorch.Get("a", "train")!.Ms);
        Assert.Equal("2 threads", libtorch.Get("a", "train")!.Threads);
        Assert.Equal(61.0, libtorch.Get("b", "infer")!.Ms);
        Assert.Equal(0.07, libtorch.Get("stream", "stream")!.Ms);
        Assert.Null(libtorch.Get("c", "train"));

        var pytorch = new PeerResult("pytorch", "test");
        Peers.ParsePythonBest("""
              variant torch1-blas2: a-lstm-h64 train_ms=9.00 infer_ms=2.00
            a-lstm-h64 best train_ms_median=9.00 GFLOPs=19.7 variant=torch1-blas2 best infer_ms_median=2.00
            b-lstm-h256x2 best train_ms_median=444.00 GFLOPs=30.1 variant=torch2-blas1 best infer_ms_median=118.00
            Traceback (most recent call last): nonsense
            """, pytorch, ["a", "b"], ["b"]);
        Assert.Equal(9.0, pytorch.Get("a", "train")!.Ms);
        Assert.Null(pytorch.Get("a", "infer"));
        Assert.Equal(118.0, pytorch.Get("b", "infer")!.Ms);
        Assert.Equal("torch2-blas1", pytorch.Get("b", "train")!.Threads);

        // A `best` run stopped as hung still gives the fastest variant it finished.
        var partial = new PeerResult("pytorch", "test");
        Peers.ParsePythonBest("""
              variant torch1-blas2: d-lstm-h1024 train_ms=1500.00 infer_ms=400.00
              variant torch2-blas1: d-lstm-h1024 train_ms=1100.00 infer_ms=450.00
            """, partial, ["d"], ["d"]);
        Assert.Equal(1100.0, partial.Get("d", "train")!.Ms);
        Assert.Equal("torch2-blas1", partial.Get("d", "train")!.Threads);
        Assert.Equal(400.0, partial.Get("d", "infer")!.Ms);
    }

    [Fact]
    public void APeersRunsOfEachConfigurationAreGatheredIntoOneResult()
    {
        var peer = new PeerResult("libtorch", "");
        var a = new PeerResult("libtorch", "best of threads 1,2") { Version = "libtorch 2.10" };
        a.Offer("a", "train", 7.0, "1 thread");
        peer.Absorb(a, "a", 120);
        var b = new PeerResult("libtorch", "best of threads 1,2") { Version = "libtorch 2.10", Status = "timed out", Detail = "threads 2: timed out" };
        peer.Absorb(b, "b", 410);
        var d = new PeerResult("libtorch", "best of threads 1,2") { Version = "libtorch 2.10" };
        d.Offer("d", "train", 1700, "2 threads");
        d.Offer("d", "infer", 500, "2 threads");
        peer.Absorb(d, "d", 130);
        peer.Absorb(new PeerResult("libtorch", "best of threads 1,2") { Status = "timed out", Detail = "threads 2: timed out" }, "c", 140);

        Assert.Equal("ok", peer.Status);
        Assert.Equal("best of threads 1,2", peer.Description);
        Assert.Equal("libtorch 2.10", peer.Version);
        Assert.Equal(7.0, peer.Get("a", "train")!.Ms);
        Assert.Equal(500, peer.Get("d", "infer")!.Ms);
        Assert.Null(peer.Get("b", "train"));
        Assert.Equal("threads 2: timed out", peer.Detail); // once, though two configurations timed out
        Assert.Equal(new Dictionary<string, double?> { ["a"] = 120, ["b"] = 410, ["d"] = 130, ["c"] = 140 }, peer.RoundTrips);

        var never = new PeerResult("pytorch", "");
        never.Absorb(new PeerResult("pytorch", "fastest variant") { Status = "failed", Detail = "exited 1" }, "a", null);
        Assert.Equal("failed", never.Status);
    }

    [Fact]
    [UnsupportedOSPlatform("windows")] // the stand-in Python is a shell script
    public void CasesTimeCallsUntilTheLeastTimedTimeAndThePeersAreGivenIt()
    {
        using var dir = new TempDirectory();
        // Records what the peer run was given.
        string python = StandInPython(dir, $$"""
            echo "$BENCH_MIN_SECONDS $2 $3" >> "{{dir.File("given")}}"
            echo "a-lstm-h64 best train_ms_median=5.00 GFLOPs=1.0 variant=torch1-blas2 best infer_ms_median=1.00"
            """);

        var json = CliRunner.Json("bench", "--only", "a", "--repeats", "2", "--min-time", "0.25", "--gemm-size", "64", "--threads", "1",
            "--no-scaling", "--peers-dir", dir.File("peers"), "--python", python, "--json");

        var a = Assert.Single(json["results"]!.AsArray())!;
        int calls = a["repeats"]!.GetValue<int>();
        // at least a quarter of a second of timed calls: more than the two asked for, each no longer than the slowest
        Assert.True(calls > 2, $"{calls} calls");
        Assert.True(calls * a["recur_max_ms"]!.GetValue<double>() >= 250, $"{calls} calls of at most {a["recur_max_ms"]} ms");
        Assert.Equal(0.25, json["min_timed_seconds"]!.GetValue<double>());
        Assert.Contains("0.25 best a-lstm-h64", File.ReadAllLines(dir.File("given")));
        Assert.Equal(5.0, a["peers"]!["pytorch"]!["ms"]!.GetValue<double>());
    }

    [Fact]
    [UnsupportedOSPlatform("windows")] // the stand-in Python is a shell script
    public void RoundsRepeatTheWholeListAndEachFigureIsTheMedianOfItsRounds()
    {
        using var dir = new TempDirectory();
        // Its training step takes 5, 6 and then 10 ms in its three runs (median 6, mean 7, last 10).
        string python = StandInPython(dir, $$"""
            echo run >> "{{dir.File("runs")}}"
            case $(wc -l < "{{dir.File("runs")}}") in 1) ms=5.00;; 2) ms=6.00;; *) ms=10.00;; esac
            echo "a-lstm-h64 best train_ms_median=$ms GFLOPs=1.0 variant=torch1-blas2 best infer_ms_median=1.00"
            """);

        var json = CliRunner.Json("bench", "--only", "a", "--repeats", "2", "--min-time", "0", "--rounds", "3", "--gemm-size", "64", "--threads", "1",
            "--no-scaling", "--peers-dir", dir.File("peers"), "--python", python, "--json");

        Assert.Equal(3, json["rounds"]!.GetValue<int>());
        var a = Assert.Single(json["results"]!.AsArray())!;
        var rounds = a["round_ms"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        Assert.Equal(3, rounds.Length);
        Assert.Equal(rounds.Order().ElementAt(1), a["recur_ms"]!.GetValue<double>());
        Assert.Equal(6, a["repeats"]!.GetValue<int>()); // every round's timed calls
        var pytorch = a["peers"]!["pytorch"]!;
        Assert.Equal([5.0, 6.0, 10.0], pytorch["round_ms"]!.AsArray().Select(v => v!.GetValue<double>()));
        Assert.Equal(6.0, pytorch["ms"]!.GetValue<double>());
        Assert.Equal(6.0 / a["recur_ms"]!.GetValue<double>(), pytorch["ratio"]!.GetValue<double>(), 12);
        Assert.Equal(["a", "a r2", "a r3"], json["peers"]!["pytorch"]!["core_round_trip_ns"]!.AsObject().Select(t => t.Key));
    }

    [Fact]
    public void AnEvenNumberOfRoundsTakesTheMeanOfTheMiddleTwo()
    {
        var peer = new PeerResult("libtorch", "");
        foreach (var (ms, threads, round) in new[] { (4.0, "2 threads", 1), (8.0, "1 thread", 2), (1.0, "2 threads", 3), (6.0, "2 threads", 4) })
        {
            var part = new PeerResult("libtorch", "best of threads 1,2");
            part.Offer("a", "train", ms, threads);
            peer.Absorb(part, "a", null, round);
        }
        Assert.Equal(5.0, peer.Get("a", "train")!.Ms);
        Assert.Equal("2 threads", peer.Get("a", "train")!.Threads);
        Assert.Equal([4.0, 8.0, 1.0, 6.0], peer.Get("a", "train")!.RoundMs!);

        var recur = Timing.OverRounds([new Timing(2.0, 1.5, 3.0, 10, 3, 100, 5), new Timing(1.0, 0.9, 1.2, 20, 3, 120, 7)]);
        Assert.Equal(new Timing(1.5, 0.9, 3.0, 30, 3, 120, 7), recur);
    }

    [Fact]
    public void ThreadScalingOverRoundsTakesEachTimesMedianAndKeepsEveryRound()
    {
        var rounds = new[] { new ThreadScaling("b", 330, 200, 310), new ThreadScaling("b", 320, 170, 60), new ThreadScaling("b", 340, 180, 70) };
        var report = new BenchReport { Threads = 2, Rounds = 3 };
        report.Scaling.Add(ThreadScaling.OverRounds(rounds));
        var b = Assert.Single(report.Scaling);
        // the median of each time (not the median speed-up, not the last round's)
        Assert.Equal((330.0, 180.0), (b.OneThreadMs, b.TwoThreadMs));
        Assert.Equal(330.0 / 180.0, b.Speedup, 12);
        Assert.Equal(310, b.CoreRoundTripNs);
        Assert.Equal(rounds, b.Rounds);
        Assert.Contains("1→2 threads on b (steps at 1 and 2 threads alternating, once per round, each time the median of the rounds'): " +
                        "330 → 180 ms, speed-up 1.83× (rounds 1.65 / 1.88 / 1.89)", report.Summary());
        Assert.Contains("1→2 threads on b 310, 1→2 threads on b r2 60, 1→2 threads on b r3 70", report.Summary());
        var json = Assert.Single(report.ToJson()["thread_scaling"]!.AsArray())!;
        Assert.Equal(330.0 / 180.0, json["speedup"]!.GetValue<double>(), 12);
        Assert.Equal([1.65, 320.0 / 170, 340.0 / 180], json["round_speedups"]!.AsArray().Select(v => v!.GetValue<double>()));

        var even = ThreadScaling.OverRounds([new ThreadScaling("d", 1300, 700), new ThreadScaling("d", 1200, 650)]);
        Assert.Equal((1250.0, 675.0), (even.OneThreadMs, even.TwoThreadMs));
        Assert.Same(rounds[0], ThreadScaling.OverRounds([rounds[0]]));
    }

    [Theory]
    [InlineData("--rounds", "0")]
    [InlineData("--rounds", "two")]
    [InlineData("--min-time", "-1")]
    [InlineData("--min-time", "abc")]
    public void ABadCountOrTimeIsBadInput(string option, string value)
    {
        var (exit, stdout, stderr) = CliRunner.Run("bench", "--only", "a", "--no-peer", option, value);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Contains(option, stderr);
    }

    [Fact]
    public void UnknownCaseIsBadInput()
    {
        var (exit, stdout, stderr) = CliRunner.Run("bench", "--only", "a,zz", "--no-peer");
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Contains("--only", stderr);
    }

    [Fact]
    public void AMissingPeerIsReportedAndRecursFiguresStillPrint()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("peers"));
        File.WriteAllText(dir.File("peers/torch_lstm_bench.py"), "");
        var json = CliRunner.Json("bench", "--only", "a,stream", "--repeats", "1", "--min-time", "0", "--gemm-size", "64", "--threads", "1",
            "--peers-dir", dir.File("peers"), "--python", dir.File("no-such-python"), "--json");
        var a = Assert.Single(json["results"]!.AsArray())!;
        Assert.True(json["streaming"]!["recur_ms"]!.GetValue<double>() > 0);
        // Peers run configuration by configuration; one found missing at the first is not tried again.
        foreach (var peer in new[] { "libtorch", "pytorch" })
            Assert.Equal(["a"], json["peers"]![peer]!["core_round_trip_ns"]!.AsObject().Select(t => t.Key));
        Assert.True(a["recur_ms"]!.GetValue<double>() > 0);
        Assert.Null(a["peer_ms"]);
        Assert.Equal("missing", json["peers"]!["libtorch"]!["status"]!.GetValue<string>());
        Assert.Contains("build", json["peers"]!["libtorch"]!["install"]!.GetValue<string>());
        Assert.Equal("missing", json["peers"]!["pytorch"]!["status"]!.GetValue<string>());
        Assert.Contains("python3-torch", json["peers"]!["pytorch"]!["install"]!.GetValue<string>());
    }

    /// <summary>
    /// dir/peers with an empty torch_lstm_bench.py, and a stand-in Python (a shell script, returned) that answers the
    /// torch probe and otherwise runs <paramref name="peerRun"/>.
    /// </summary>
    [UnsupportedOSPlatform("windows")]
    private static string StandInPython(TempDirectory dir, string peerRun)
    {
        Directory.CreateDirectory(dir.File("peers"));
        File.WriteAllText(dir.File("peers/torch_lstm_bench.py"), "");
        string python = dir.File("python");
        File.WriteAllText(python, "#!/bin/sh\nif [ \"$1\" = \"-c\" ]; then echo 1.13.0; echo 1; exit 0; fi\n" + peerRun + "\n");
        File.SetUnixFileMode(python, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return python;
    }
}
