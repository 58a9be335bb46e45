// LSTM/GRU training micro-benchmark for TorchSharp-cpu 0.107.0 (libtorch 2.10 CPU).
// Copied from the project's shared peer (../shared/peer/torchsharp/Program.cs) so the repository is self-contained;
// additions for `recur bench`: --infer-configs (inference for a subset), --stream (batch-1 streaming step) and
// --min-seconds (training and inference keep timing steps past --steps until that much time is timed).
// Usage: dotnet run -c Release -- [--threads N] [--warmup 5] [--steps 30] [--min-seconds 0] [--configs a,b,c,d]
//        [--infer] [--infer-configs b,d] [--stream] [--gemm]
// Each training step: opt.zero_grad(); rnn forward over the whole sequence (batch_first);
// linear head on the last timestep's top-layer hidden state; MSE loss; backward; Adam step.
using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

int threads = 2, warmup = 5, steps = 30;
double minSeconds = 0;
string configs = "a,b,c";
bool infer = false, gemm = false, stream = false;
string? inferConfigs = null;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--threads": threads = int.Parse(args[++i]); break;
        case "--warmup": warmup = int.Parse(args[++i]); break;
        case "--steps": steps = int.Parse(args[++i]); break;
        case "--min-seconds": minSeconds = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--configs": configs = args[++i]; break;
        case "--infer": infer = true; break;
        case "--gemm": gemm = true; break;
        case "--infer-configs": inferConfigs = args[++i]; break;
        case "--stream": stream = true; break;
        default: Console.Error.WriteLine($"unknown arg {args[i]}"); return 2;
    }
}

var startup = Stopwatch.StartNew();
torch.set_num_threads(threads);
torch.manual_seed(0);
using (var warm = torch.ones(1)) { } // force native library load
Console.WriteLine($"# torch.get_num_threads()={torch.get_num_threads()} interop={torch.get_num_interop_threads()} " +
                  $"native-load+init={startup.ElapsedMilliseconds} ms, warmup={warmup}, steps={steps}");

var all = new Dictionary<string, Cfg>
{
    ["a"] = new("a", "LSTM", 8, 64, 1, 50, 32),
    ["b"] = new("b", "LSTM", 32, 256, 2, 100, 64),
    ["c"] = new("c", "GRU", 32, 256, 2, 100, 64),
    ["d"] = new("d", "LSTM", 1024, 1024, 1, 25, 128),
};

Console.WriteLine("config | cell | I | H | L | T | B | mode | threads | median ms/step | min | max | seq/s | fwd GFLOP | step GFLOP | GFLOP/s | loss first->last");
foreach (var name in configs.Split(',', StringSplitOptions.RemoveEmptyEntries))
{
    var c = all[name];
    RunTrain(c, threads, warmup, steps, minSeconds);
    if (infer) RunInfer(c, threads, warmup, steps, minSeconds);
}
if (inferConfigs is not null)
    foreach (var name in inferConfigs.Split(',', StringSplitOptions.RemoveEmptyEntries)) RunInfer(all[name], threads, warmup, steps, minSeconds);
if (stream) RunStream(threads);
if (gemm) RunGemm(threads);
Console.WriteLine($"# peak working set: {Process.GetCurrentProcess().PeakWorkingSet64 / (1024 * 1024)} MiB");
return 0;

static double FwdFlops(Cfg c)
{
    // 2 FLOPs per multiply-add; gates G = 4 (LSTM) or 3 (GRU); layer 0 input = I, layers >0 input = H.
    int g = c.Cell == "LSTM" ? 4 : 3;
    double perStepPerSeq = 0;
    for (int l = 0; l < c.L; l++)
    {
        int inp = l == 0 ? c.I : c.H;
        perStepPerSeq += 2.0 * g * c.H * (inp + c.H);
    }
    return perStepPerSeq * c.T * c.B;
}

static (nn.Module rnn, Func<Tensor, Tensor> last) MakeRnn(Cfg c)
{
    if (c.Cell == "LSTM")
    {
        var m = nn.LSTM(c.I, c.H, numLayers: c.L, batchFirst: true);
        return (m, x => { var (o, h, cc) = m.forward(x); return o.select(1, -1); });
    }
    else
    {
        var m = nn.GRU(c.I, c.H, numLayers: c.L, batchFirst: true);
        return (m, x => { var (o, h) = m.forward(x); return o.select(1, -1); });
    }
}

static void RunTrain(Cfg c, int threads, int warmup, int steps, double minSeconds)
{
    torch.manual_seed(42);
    var (rnn, last) = MakeRnn(c);
    var head = nn.Linear(c.H, 1);
    var prms = rnn.parameters().Concat(head.parameters()).ToList();
    var opt = optim.Adam(prms, lr: 1e-3);
    using var x = torch.randn(c.B, c.T, c.I);
    using var y = torch.randn(c.B, 1);
    var times = new List<double>();
    float firstLoss = float.NaN, lastLoss = float.NaN;
    for (int s = 0; s < warmup + steps || times.Sum() < 1000 * minSeconds; s++)
    {
        var sw = Stopwatch.StartNew();
        float lv;
        using (var scope = torch.NewDisposeScope())
        {
            opt.zero_grad();
            var pred = head.forward(last(x));
            var loss = nn.functional.mse_loss(pred, y);
            loss.backward();
            opt.step();
            lv = loss.item<float>();
        }
        sw.Stop();
        if (s == 0) firstLoss = lv;
        lastLoss = lv;
        if (s >= warmup) times.Add(sw.Elapsed.TotalMilliseconds);
    }
    Report(c, "train", threads, times, 3.0 * FwdFlops(c), $"{firstLoss:F4}->{lastLoss:F4}");
    opt.Dispose(); head.Dispose(); rnn.Dispose();
}

static void RunInfer(Cfg c, int threads, int warmup, int steps, double minSeconds)
{
    torch.manual_seed(42);
    var (rnn, last) = MakeRnn(c);
    var head = nn.Linear(c.H, 1);
    rnn.eval(); head.eval();
    using var x = torch.randn(c.B, c.T, c.I);
    var times = new List<double>();
    for (int s = 0; s < warmup + steps || times.Sum() < 1000 * minSeconds; s++)
    {
        var sw = Stopwatch.StartNew();
        using (torch.no_grad())
        using (var scope = torch.NewDisposeScope())
        {
            var pred = head.forward(last(x));
            _ = pred.sum().item<float>();
        }
        sw.Stop();
        if (s >= warmup) times.Add(sw.Elapsed.TotalMilliseconds);
    }
    Report(c, "infer(no_grad)", threads, times, FwdFlops(c), "-");
    head.Dispose(); rnn.Dispose();
}

static void RunStream(int threads)
{
    // Batch-1 streaming: LSTM I8 H128, one time step per call, carrying (h, c); linear head on the output; no_grad.
    torch.manual_seed(42);
    var m = nn.LSTM(8, 128, numLayers: 1, batchFirst: true);
    var head = nn.Linear(128, 1);
    m.eval(); head.eval();
    using var x = torch.randn(1, 1, 8);
    var h = torch.zeros(1, 1, 128);
    var cs = torch.zeros(1, 1, 128);
    var times = new List<double>();
    const int warm = 200, calls = 2000;
    for (int s = 0; s < warm + calls; s++)
    {
        var sw = Stopwatch.StartNew();
        using (torch.no_grad())
        {
            var (o, h2, c2) = m.forward(x, (h, cs));
            using var y = head.forward(o.select(1, -1));
            _ = y.item<float>();
            o.Dispose(); h.Dispose(); cs.Dispose();
            h = h2; cs = c2;
        }
        sw.Stop();
        if (s >= warm) times.Add(sw.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    Console.WriteLine($"stream | LSTM | 8 | 128 | 1 | 1 | 1 | stream | {threads} | {times[times.Count / 2]:F4} | {times[0]:F4} | {times[^1]:F4} | - | - | - | - | -");
    h.Dispose(); cs.Dispose(); head.Dispose(); m.Dispose();
}

static void Report(Cfg c, string mode, int threads, List<double> times, double stepFlops, string loss)
{
    var sorted = times.OrderBy(t => t).ToList();
    double med = sorted.Count % 2 == 1 ? sorted[sorted.Count / 2]
        : 0.5 * (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]);
    double seqps = c.B / (med / 1000.0);
    double gflops = stepFlops / (med / 1000.0) / 1e9;
    Console.WriteLine($"{c.Name} | {c.Cell} | {c.I} | {c.H} | {c.L} | {c.T} | {c.B} | {mode} | {threads} | {med:F2} | {sorted[0]:F2} | {sorted[^1]:F2} | {seqps:F0} | {FwdFlops(c) / 1e9:F4} | {stepFlops / 1e9:F4} | {gflops:F1} | {loss}");
}

static void RunGemm(int threads)
{
    // Reference: achieved fp32 GEMM throughput (2*M*N*K FLOPs) for a large square GEMM and for
    // the recurrent-GEMM shape of config (b) ([B,H] x [H,4H]).
    foreach (var (m, k, n) in new[] { (2048, 2048, 2048), (64, 256, 1024), (6400, 32, 1024) })
    {
        using var a = torch.randn(m, k);
        using var b = torch.randn(k, n);
        int reps = Math.Max(20, (int)(4e10 / (2.0 * m * n * k)));
        var times = new List<double>();
        for (int r = 0; r < reps + 3; r++)
        {
            var sw = Stopwatch.StartNew();
            using (var cm = torch.mm(a, b)) { }
            sw.Stop();
            if (r >= 3) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        double med = times[times.Count / 2];
        Console.WriteLine($"# sgemm {m}x{k} * {k}x{n}: median {med:F3} ms, {2.0 * m * n * k / (med / 1000) / 1e9:F1} GFLOP/s (threads={threads}, reps={reps})");
    }
}

record Cfg(string Name, string Cell, int I, int H, int L, int T, int B);
