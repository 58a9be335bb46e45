using System.Diagnostics;
using Recur.Autograd;
using Recur.Layers;
using Recur.Losses;
using Recur.Optimizers;
using Recur.Randomness;
using Recur.Tensors;

// Training step (forward, linear head on the last state, MSE, backward, Adam) and forward-only timing of the
// issue's configurations, median of `reps` after warm-up, with the managed bytes allocated per step (a GC counter
// delta), the collections per step by generation and the engine's workspace peak (its own count of the activation
// bytes it holds). Usage: [threads=2] [configs=abcd] [reps=10]; configs s, g, p, l, w, o and r time single kernels
// (streaming, GEMM, per-step packed products, the LSTM cell, weight-gradient shapes, Adam steps over config d's, a's
// and b's parameters, single-row products;
// z: a parallel product called after the caller slept, so the workers must be woken)
// and k, e and j (config a's layer, config b's second layer and config d's layer alone: forward, backward and their
// products, at one thread and at `threads`); v times config b's and d's weight-gradient products (and b's at the
// widths dW_ih and dW_hh would have as one product: 512, 288) at one thread and at `threads`; x runs config a's layer
// at one thread alone and on two threads of this process at once (each its own weights), with the workspace pool on
// and off; y splits config a's forward pass and config b's second layer four ways (one half alone, two independent
// halves on the worker team and on two new threads, the real batch split) to show where two threads' share goes.
// Each training config also prints the medians of its step's phases (forward, loss, backward, optimiser; cumulative).
// Config n is b with layer norm, recurrent dropout 0.25 and zoneout 0.1 (masks drawn each training step), so the
// options' overhead over b is visible. RECUR_TIMING_LAYOUT_AB=1 first alternates each config's steps between the
// batch split's part-major and (forced) time-major layouts and prints both medians.
int threads = args.Length > 0 ? int.Parse(args[0]) : 2;
string configs = args.Length > 1 ? args[1] : "abcd";
int reps = args.Length > 2 ? int.Parse(args[2]) : 10;
Engine.Threads = threads;
var all = new Dictionary<char, (string Cell, int I, int H, int L, int T, int B, bool Regularised)>
{
    ['a'] = ("LSTM", 8, 64, 1, 50, 32, false),
    ['b'] = ("LSTM", 32, 256, 2, 100, 64, false),
    ['c'] = ("GRU", 32, 256, 2, 100, 64, false),
    ['d'] = ("LSTM", 1024, 1024, 1, 25, 128, false),
    ['n'] = ("LSTM", 32, 256, 2, 100, 64, true),
};
Console.WriteLine($"threads {threads}, reps {reps}");
if (configs.Contains('s'))
{
    // Batch-1 streaming (LSTM I8 H128), one step per call with the state carried: through a StreamingSession (the
    // streaming API: state and scratch held by the session, outputs into the caller's buffer), then through
    // SequenceModel.Continue (one call per step, returning new outputs and state, as before the session existed).
    var model = new Recur.Models.SequenceModel(new Recur.Models.SequenceModelSpec { Cell = Recur.Layers.CellKind.Lstm, InputSize = 8, HiddenSize = 128, OutputSize = 1 }, new RecurRandom(1));
    float[] features = Enumerable.Range(0, 8).Select(i => (float)Math.Sin(i)).ToArray();
    var session = model.StartStreaming();
    var output = new float[1];
    TimeStreaming("session", () => session.Step(features, output));
    var batch = new Recur.Models.SequenceBatch(1, 1, new Tensor(features, 1, 1, 8), null);
    Recur.Models.RecurrentState? state = null;
    TimeStreaming("Continue", () => state = model.Continue(batch, state).State);
}

if (configs.Contains('g'))
{
    // GEMM rate on square n×n products (the bench's ceiling is n = 2048) and on the inference-shaped input
    // projection of config d ([B·T, I]·[I, 4H]).
    foreach (var (m, n, k) in new[] { (2048, 2048, 2048), (1024, 1024, 1024), (3200, 4096, 1024), (6400, 1024, 256) })
    {
        var rng = new Random(3);
        var a = RandomFloats(rng, m * k);
        var b = RandomFloats(rng, k * n);
        var c = new float[m * n];
        foreach (bool transposeB in new[] { false, true })
        {
            GemmSimd.Multiply(false, transposeB, m, n, k, a, k, b, transposeB ? k : n, c, n, false);
            var times = Enumerable.Range(0, reps).Select(_ =>
            {
                var sw = Stopwatch.StartNew();
                GemmSimd.Multiply(false, transposeB, m, n, k, a, k, b, transposeB ? k : n, c, n, false);
                return sw.Elapsed.TotalMilliseconds;
            }).OrderBy(v => v).ToArray();
            double median = times[times.Length / 2];
            Console.WriteLine($"g gemm {m}x{n}x{k}{(transposeB ? " Bt" : "   ")}: median {median,8:F2} ms  {2.0 * m * n * k / median / 1e6,6:F1} GFLOP/s");
        }
    }
}

if (configs.Contains('v'))
{
    // Config b's weight-gradient products, dW += dGatesᵀ·h: [G·H, T·B]·[T·B, H] with A stored [T·B, G·H] (transposed),
    // at one thread and at `threads`, alternating: how the large products after the time loop scale; the widths of
    // dW_ih and dW_hh as one product (layer 2: 256 + 256, layer 1: 32 + 256); then config d's dW [4·1024, 3200]·[3200, 1024].
    foreach (var (m, n, k, transposeA) in new[] { (1024, 256, 6400, true), (1024, 512, 6400, true), (1024, 288, 6400, true), (1024, 32, 6400, true), (6400, 256, 1024, false), (4096, 1024, 3200, true) })
    {
        var rng = new Random(3);
        var a = RandomFloats(rng, m * k);
        var b = RandomFloats(rng, k * n);
        var c = new float[m * n];
        foreach (int t in new[] { 1, threads, 1, threads })
        {
            Engine.Threads = t;
            for (int i = 0; i < 3; i++) GemmSimd.Multiply(transposeA, false, m, n, k, a, transposeA ? m : k, b, n, c, n, true);
            var times = Enumerable.Range(0, reps).Select(_ =>
            {
                var sw = Stopwatch.StartNew();
                GemmSimd.Multiply(transposeA, false, m, n, k, a, transposeA ? m : k, b, n, c, n, true);
                return sw.Elapsed.TotalMilliseconds;
            }).OrderBy(v => v).ToArray();
            double median = times[times.Length / 2];
            Console.WriteLine($"v gemm {m}x{n}x{k}{(transposeA ? " At" : "   ")}, {t} thread(s): median {median,8:F2} ms  {2.0 * m * n * k / median / 1e6,6:F1} GFLOP/s");
        }
    }
    Engine.Threads = threads;
}

if (configs.Contains('p'))
{
    // Per-step recurrent product shapes on one thread: config a whole and split ([32 or 16, 64]·[64, 256]), config b's
    // batch split [32, 256]·[256, 1024] vs a hidden split [64, 256]·[256, 512], larger ones, and config d's whole
    // [128, 1024]·[1024, 4096] (W_hh packed, 16 MiB, read from L3 each step).
    foreach (var (m, n, k) in new[] { (32, 256, 64), (16, 256, 64), (32, 1024, 256), (64, 512, 256), (64, 1024, 256), (32, 2048, 512), (64, 1024, 512), (128, 4096, 1024) })
    {
        var rng = new Random(3);
        var a = RandomFloats(rng, m * k);
        var b = RandomFloats(rng, k * n);
        var c = new float[m * n];
        var packed = GemmSimd.PackB(false, k, n, b, n);
        // Warm-up by time: tiered compilation replaces the first code only after 100 ms, so a count of calls short
        // of that timed a shape partly on it ([16,64]·[64,256] read 10 µs instead of 3).
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 300) GemmSimd.MultiplyPacked(m, a, k, packed, c, n, true);
        var sw = Stopwatch.StartNew();
        int calls = 5000;
        for (int i = 0; i < calls; i++) GemmSimd.MultiplyPacked(m, a, k, packed, c, n, true);
        double us = sw.Elapsed.TotalMicroseconds / calls;
        Console.WriteLine($"p packed [{m},{k}]·[{k},{n}]: {us:F2} µs  {2.0 * m * n * k / us / 1e3:F1} GFLOP/s");
    }
}

if (configs.Contains('l'))
{
    // The LSTM cell of one step, B32 H256 (a part of config b's batch split), and config a's B16/B32 H64.
    foreach (var (B, H) in new[] { (32, 256), (16, 64), (32, 64) })
    {
        var rng = new Random(3);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        float[] xg = Rand(B * 4 * H), hg = Rand(B * 4 * H), bias = Rand(4 * H), hp = Rand(B * H), cp = Rand(B * H);
        float[] saved = new float[B * 5 * H], h = new float[B * H], c = new float[B * H];
        for (int i = 0; i < 20000; i++) Recur.Layers.Recurrent.LstmCell.Forward<float>(B, H, xg, bias, hg, hp, cp, saved, h, c);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 20000; i++) Recur.Layers.Recurrent.LstmCell.Forward<float>(B, H, xg, bias, hg, hp, cp, saved, h, c);
        Console.WriteLine($"l lstm cell B{B} H{H}: {sw.Elapsed.TotalMicroseconds / 20000:F2} µs");
    }
}

if (configs.Contains('w'))
{
    // Weight-gradient shapes of config a: dW_ih = dGatesᵀ·X [256, 1600]·[1600, 8] (N = 8) and as its transpose
    // dW_ihᵀ = Xᵀ·dGates [8, 1600]·[1600, 256]; dW_hh = dGatesᵀ·H [256, 1600]·[1600, 64].
    foreach (var (m, n, k) in new[] { (256, 8, 1600), (8, 256, 1600), (256, 64, 1600), (256, 16, 1600) })
    {
        var rng = new Random(3);
        var a = RandomFloats(rng, m * k);
        var b = RandomFloats(rng, k * n);
        var c = new float[m * n];
        for (int i = 0; i < 2000; i++) GemmSimd.Multiply(true, false, m, n, k, a, m, b, n, c, n, true);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 5000; i++) GemmSimd.Multiply(true, false, m, n, k, a, m, b, n, c, n, true);
        double us = sw.Elapsed.TotalMicroseconds / 5000;
        Console.WriteLine($"w [{m},{k}]·[{k},{n}] (A transposed): {us:F2} µs  {2.0 * m * n * k / us / 1e3:F1} GFLOP/s");
    }
}

if (configs.Contains('o'))
{
    // One Adam step over config d's parameters (W_ih and W_hh 4M values each, two biases).
    var ps = new[] { 4096 * 1024, 4096 * 1024, 4096, 4096 }.Select((n, k) =>
    {
        var p = new Parameter($"p{k}", new Tensor(new float[n], n));
        p.Grad.Data.AsSpan().Fill(0.01f);
        return p;
    }).ToList();
    var adam = new Adam(ps, 1e-3);
    for (int i = 0; i < 3; i++) adam.Step();
    var times = Enumerable.Range(0, 10).Select(_ => { var sw = Stopwatch.StartNew(); adam.Step(); return sw.Elapsed.TotalMilliseconds; }).OrderBy(v => v).ToArray();
    Console.WriteLine($"o adam step over 8.4M parameters: median {times[5]:F2} ms  min {times[0]:F2}");
    // Config a's and config b's parameter shapes, in blocks of 500 steps alternating between `threads` (split) and one
    // thread (step by step, each split step would leave half the values in the other core's cache for the next).
    foreach (int[] lengths in new[] { new[] { 256 * 8, 256 * 64, 256, 256, 64, 1 }, new[] { 1024 * 32, 1024 * 256, 1024, 1024, 1024 * 256, 1024 * 256, 1024, 1024, 256, 1 } })
    {
        var parameters = lengths.Select((n, k) => { var p = new Parameter($"q{k}", new Tensor(new float[n], n)); p.Grad.Data.AsSpan().Fill(0.01f); return p; }).ToList();
        var optimizer = new Adam(parameters, 1e-3);
        var warm = Stopwatch.StartNew(); // a second of steps, so tiered compilation has replaced the first code
        while (warm.ElapsedMilliseconds < 1000) optimizer.Step();
        var byThreads = new[] { new List<double>(), new List<double>() };
        for (int i = 0; i < 4000; i++)
        {
            int block = i / 500 % 2;
            Engine.Threads = block == 0 ? threads : 1;
            var sw = Stopwatch.StartNew();
            optimizer.Step();
            if (i % 500 >= 50) byThreads[block].Add(sw.Elapsed.TotalMicroseconds);
        }
        Engine.Threads = threads;
        Console.WriteLine($"o adam step over {lengths.Sum()} values: {threads} threads {byThreads[0].Order().ElementAt(byThreads[0].Count / 2):F1} µs, one thread {byThreads[1].Order().ElementAt(byThreads[1].Count / 2):F1} µs (medians)");
    }
}

if (configs.Contains('r'))
{
    // The single-row products of a streaming step (LSTM I8 H128): x·W_ihᵀ [1,8]·[8,512] and h·W_hhᵀ [1,128]·[128,512].
    foreach (var (n, k) in new[] { (512, 8), (512, 128), (64, 128), (128, 128), (256, 128), (1024, 128), (2048, 128), (4096, 128) })
    {
        var rng = new Random(3);
        var a = RandomFloats(rng, k);
        var b = RandomFloats(rng, n * k);
        var c = new float[n];
        for (int i = 0; i < 20000; i++) GemmSimd.Multiply(false, true, 1, n, k, a, k, b, k, c, n, false);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 200000; i++) GemmSimd.Multiply(false, true, 1, n, k, a, k, b, k, c, n, false);
        Console.WriteLine($"r row product [1,{k}]·[{k},{n}] (B transposed): {sw.Elapsed.TotalMicroseconds / 200000:F3} µs  {2.0 * n * k / (sw.Elapsed.TotalMicroseconds / 200000) / 1e3:F1} GFLOP/s  {n * k * 4.0 / (sw.Elapsed.TotalMicroseconds / 200000) / 1e3:F1} GB/s");
    }
}

if (configs.Contains('z'))
{
    // Sparse calls: a 256³ product (one parallel phase) right after the last one and after the caller slept 1, 3 and
    // 5 ms, so the engine's workers have gone from spinning to blocked (WorkerTeam.SpinMicroseconds): what a call
    // costs when it has to wake them.
    const int n = 256;
    var rng = new Random(3);
    float[] a = RandomFloats(rng, n * n), b = RandomFloats(rng, n * n), c = new float[n * n];
    for (int i = 0; i < 100; i++) GemmSimd.Multiply(false, false, n, n, n, a, n, b, n, c, n, false);
    foreach (int sleepMs in new[] { 0, 1, 3, 5 })
    {
        var times = Enumerable.Range(0, 200).Select(_ =>
        {
            if (sleepMs > 0) Thread.Sleep(sleepMs);
            var sw = Stopwatch.StartNew();
            GemmSimd.Multiply(false, false, n, n, n, a, n, b, n, c, n, false);
            return sw.Elapsed.TotalMicroseconds;
        }).Order().ToArray();
        Console.WriteLine($"z gemm {n}³ after sleeping {sleepMs} ms: median {times[100]:F1} µs  p90 {times[180]:F1}");
    }
}

if (configs.Contains('k')) LayerPhases('k', 8, 64, 50, 32, 200);
if (configs.Contains('j')) LayerPhases('j', 1024, 1024, 25, 128, 10);
if (configs.Contains('e')) LayerPhases('e', 256, 256, 100, 64, 30);

if (configs.Contains('y'))
{
    // A forward pass split four ways, to show where the second thread's share goes: one half of the batch alone on one
    // thread; two independent halves (each its own weights and buffers) on the worker team and on two new threads;
    // and the real batch split, one layer whose halves share the layer's buffers. Config a's layer, then config b's
    // second layer (inference's per-layer work). On this 2-core VM config a's four took 200, 235–330, 250 and
    // 395–420 µs when the bench's core round trip read ≈410 ns, and 202, 208–214, 206–213 and 222 µs at ≈160 ns; b's
    // took 17.8–18.2, 21.5–21.9, 17.8–18.4 / 21.3–22.5 and 21.6–22.2 ms at ≈440 ns (there one core runs ~20% slower
    // even on independent work, and the split waits for it).
    SplitFourWays("a", 8, 64, 50, 32, 400);
    SplitFourWays("b layer 2", 256, 256, 100, 64, 40);
}

void SplitFourWays(string name, int I, int H, int T, int B, int samples)
{
    int half = B / 2;
    var halves = Enumerable.Range(0, 2).Select(i => LstmLayer(I, H, T, half, 3 + i)).ToArray();
    var whole = LstmLayer(I, H, T, B, 5);
    void Half(int i) => Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Forward(halves[i].W, halves[i].X, T, half, [], []).Release();
    double Median(Action run)
    {
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 500) run();
        var times = Enumerable.Range(0, samples).Select(_ => { var sw = Stopwatch.StartNew(); run(); return sw.Elapsed.TotalMicroseconds; }).OrderBy(v => v).ToArray();
        return times[samples / 2];
    }
    for (int rep = 0; rep < 3; rep++)
    {
        Engine.Threads = 1;
        double alone = Median(() => Half(0));
        Engine.Threads = 2;
        double team = Median(() => Engine.RunParts(2, Half));
        double split = Median(() => Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Forward(whole.W, whole.X, T, B, [], []).Release());
        Engine.Threads = 1;
        var own = new double[2];
        var start = new Barrier(2);
        var pair = Enumerable.Range(0, 2).Select(i => new Thread(() => { start.SignalAndWait(); own[i] = Median(() => Half(i)); })).ToList();
        pair.ForEach(t => t.Start());
        pair.ForEach(t => t.Join());
        Engine.Threads = threads;
        Console.WriteLine($"y {name} forward, {half} sequences alone {alone:F1} µs; two independent halves on the worker team {team:F1}, on two new threads {own[0]:F1} / {own[1]:F1}; batch split of {B} {split:F1}");
    }
}

if (configs.Contains('x'))
{
    // Cross-thread experiment: config a's layer forward+backward at Engine.Threads = 1, alone, then on two threads
    // of this process at once (each its own weights), with the workspace pool on and off.
    Engine.Threads = 1;
    const int T = 50, B = 32;
    Action MakeWork(int seed)
    {
        var (w, grads, x, dOut, _) = LstmLayer(8, 64, T, B, seed);
        return () =>
        {
            var cache = Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Forward(w, x, T, B, [], []);
            Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Backward(w, cache, dOut, [], [], grads, [], [], []);
            cache.Release();
        };
    }
    double[] RunOn(int threadCount)
    {
        var works = Enumerable.Range(0, threadCount).Select(i => MakeWork(3 + i)).ToArray();
        var medians = new double[threadCount];
        var start = new Barrier(threadCount);
        var ts = Enumerable.Range(0, threadCount).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            var warm = Stopwatch.StartNew();
            while (warm.ElapsedMilliseconds < 1000) works[i]();
            var times = Enumerable.Range(0, 300).Select(_ => { var sw = Stopwatch.StartNew(); works[i](); return sw.Elapsed.TotalMicroseconds; }).OrderBy(v => v).ToArray();
            medians[i] = times[150];
        })).ToList();
        ts.ForEach(t => t.Start());
        ts.ForEach(t => t.Join());
        return medians;
    }
    foreach (long capacity in new[] { 1L << 30, 0L, 1L << 30, 0L })
    {
        Workspace.PoolCapacityBytes = capacity;
        Console.WriteLine($"x pool {(capacity > 0 ? "on " : "off")}: alone {RunOn(1)[0]:F1} µs; two threads {string.Join(", ", RunOn(2).Select(v => v.ToString("F1")))} µs");
    }
    Workspace.PoolCapacityBytes = 1L << 30;
}

// 2000 warm-up steps, then 20000 timed one by one: median, min, p90 and managed bytes allocated per step.
static void TimeStreaming(string path, Action step)
{
    for (int i = 0; i < 2000; i++) step();
    var stepTimes = new double[20000];
    long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
    for (int i = 0; i < stepTimes.Length; i++)
    {
        long start = Stopwatch.GetTimestamp();
        step();
        stepTimes[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
    }
    long allocatedPerStep = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / stepTimes.Length;
    Array.Sort(stepTimes);
    Console.WriteLine($"s stream LSTM I8 H128 B1 {path,-8}: median {stepTimes[stepTimes.Length / 2],8:F2} µs  min {stepTimes[0],8:F2}  p90 {stepTimes[stepTimes.Length * 9 / 10],8:F2}  allocated {allocatedPerStep} B/step");
}
foreach (char key in configs.Where(all.ContainsKey))
{
    var (cell, I, H, L, T, B, regularised) = all[key];
    var random = new RecurRandom(1);
    RecurrentModule<Recur.Layers.Recurrent.LstmCell>? lstm = cell == "LSTM" ? new Lstm("rnn", I, H, L, random: random, layerNorm: regularised) : null;
    RecurrentModule<Recur.Layers.Recurrent.GruCell>? gru = cell == "GRU" ? new Gru("rnn", I, H, L, random: random) : null;
    if (regularised) lstm!.Regularization = new RecurrentRegularization(RecurrentDropout: 0.25, Zoneout: 0.1);
    var maskRandom = new RecurRandom(7); // draws the training masks (inference uses zoneout's expectation)
    var head = new Dense("head", H, 1, random: random);
    var parameters = (lstm?.Parameters ?? gru!.Parameters).Concat(head.Parameters).ToList();
    var adam = new Adam(parameters, 1e-3);
    var x = new Tensor(B, T, I);
    var y = new Tensor(B, 1);
    var rng = new Random(5);
    for (int i = 0; i < x.Length; i++) x.Data[i] = (float)(rng.NextDouble() * 2 - 1);
    for (int i = 0; i < y.Length; i++) y.Data[i] = (float)(rng.NextDouble() * 2 - 1);

    var meter = new WorkspaceMeter();
    var phases = Enumerable.Range(0, 4).Select(_ => new List<double>()).ToArray();
    double Step(bool train)
    {
        meter.Reset();
        using var measuring = Workspace.Measure(meter);
        var sw = Stopwatch.StartNew();
        using var tape = new Tape(isRecording: train);
        var input = new Variable(x);
        var training = train && regularised ? maskRandom : null;
        var result = lstm is not null ? lstm.Forward(tape, input, training: training) : gru!.Forward(tape, input);
        // as SequenceModel (and so recur bench) reads it: the top layer's final state, so its gradient enters there
        var last = TimeSteps.LastFromFinalStates(tape, result.HiddenState, L - 1, T, null);
        var pred = head.Forward(tape, last);
        phases[0].Add(sw.Elapsed.TotalMicroseconds);
        if (train)
        {
            adam.ZeroGrad();
            var loss = Loss.MeanSquaredError(tape, pred, y);
            phases[1].Add(sw.Elapsed.TotalMicroseconds);
            tape.Backward(loss);
            phases[2].Add(sw.Elapsed.TotalMicroseconds);
            adam.Step();
            phases[3].Add(sw.Elapsed.TotalMicroseconds);
        }
        return sw.Elapsed.TotalMilliseconds;
    }
    double gflop = 2.0 * (cell == "LSTM" ? 4 : 3) * H * T * B * ((I + H) + (L - 1) * (2.0 * H)) / 1e9;
    // RECUR_TIMING_INFER_ONLY=1 skips training steps (to profile inference alone).
    bool inferOnly = Environment.GetEnvironmentVariable("RECUR_TIMING_INFER_ONLY") == "1";
    foreach (bool train in key is 'b' or 'd' or 'n' ? (inferOnly ? new[] { false } : new[] { true, false }) : new[] { true })
    {
        // At least five steps and one second, so tiered compilation has replaced the first code (as the bench does).
        var warmClock = Stopwatch.StartNew();
        for (int i = 0; i < 5 || warmClock.ElapsedMilliseconds < 1000; i++) Step(train);
        foreach (var phase in phases) phase.Clear();
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        int[] collectionsBefore = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        if (Environment.GetEnvironmentVariable("RECUR_TIMING_LAYOUT_AB") == "1")
        {
            // RECUR_TIMING_LAYOUT_AB=1: steps alternate between the batch split's part-major and time-major layouts.
            var byLayout = new[] { new List<double>(), new List<double>() };
            var forwardByLayout = new[] { new List<double>(), new List<double>() };
            for (int i = 0; i < 2 * reps; i++)
            {
                Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.PartMajorLayout = i % 2 == 0;
                Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.GruCell>.PartMajorLayout = i % 2 == 0;
                byLayout[i % 2].Add(Step(train));
                forwardByLayout[i % 2].Add(phases[0][^1]);
            }
            Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.PartMajorLayout = null;
            Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.GruCell>.PartMajorLayout = null;
            Console.WriteLine($"{key} {(train ? "train" : "infer")} layout A/B: part-major {byLayout[0].Order().ElementAt(reps / 2):F3} ms (forward {forwardByLayout[0].Order().ElementAt(reps / 2):F0} µs), time-major {byLayout[1].Order().ElementAt(reps / 2):F3} ms (forward {forwardByLayout[1].Order().ElementAt(reps / 2):F0} µs)");
        }
        var times = Enumerable.Range(0, reps).Select(_ => Step(train)).OrderBy(v => v).ToArray();
        double allocatedMiB = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (1024.0 * 1024.0) / reps;
        // Counts are cumulative over generations (a gen-2 collection also collects 0 and 1): per step, as counted.
        string collections = string.Join("/", Enumerable.Range(0, 3).Select(g => ((GC.CollectionCount(g) - collectionsBefore[g]) / (double)reps).ToString("F2")));
        double median = times[times.Length / 2];
        Console.WriteLine("phases (cumulative µs, medians): " + string.Join(" ", phases.Where(p => p.Count > 0).Select(p => p.Order().ElementAt(p.Count / 2).ToString("F0"))));
        double flops = (train ? 3 : 1) * gflop;
        Console.WriteLine($"{key} {(train ? "train" : "infer"),-5} {cell}{(regularised ? " LN rd0.25 zo0.1" : "")} I{I} H{H} x{L} T{T} B{B}: median {median,8:F2} ms  min {times[0],8:F2}  max {times[^1],8:F2}  {flops / (median / 1e3),6:F1} GFLOP/s" +
            $"  alloc {allocatedMiB,8:F2} MiB/step  GC0/1/2 {collections} per step  workspace peak {meter.Peak / (1024.0 * 1024.0):F1} MiB");
    }
}

// An LSTM layer (I, H; T steps of B sequences): random weights, zero gradients, input x [T, B, I], an output gradient
// [T, B, H] and gate gradients [T, B, G·H], all uniform in ±0.2.
static (Recur.Layers.Recurrent.RecurrentLayerWeights<float> W, Recur.Layers.Recurrent.RecurrentLayerWeights<float> Grads, float[] X, float[] DOut, float[] DGates) LstmLayer(int I, int H, int T, int B, int seed)
{
    const int G = 4;
    var rng = new Random(seed);
    float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 0.4 - 0.2)).ToArray();
    var w = new Recur.Layers.Recurrent.RecurrentLayerWeights<float>(G, I, H);
    Rand(G * H * I).CopyTo(w.InputWeights, 0);
    Rand(G * H * H).CopyTo(w.RecurrentWeights, 0);
    return (w, w.ZerosLike(), Rand(T * B * I), Rand(T * B * H), Rand(T * B * G * H));
}

// An LSTM layer alone (k: config a's, e: config b's second, j: config d's): the forward pass, the backward pass, and
// the backward pass's weight-gradient products alone, at one thread and at `threads`, so a step's time can be split
// by phase.
void LayerPhases(char name, int I, int H, int T, int B, int samples)
{
    const int G = 4;
    var (w, grads, x, dOut, dXGates) = LstmLayer(I, H, T, B, 3);
    double Median(Action run)
    {
        var warmClock = Stopwatch.StartNew();
        while (warmClock.ElapsedMilliseconds < 1000) run();
        var times = Enumerable.Range(0, samples).Select(_ => { var sw = Stopwatch.StartNew(); run(); return sw.Elapsed.TotalMicroseconds; }).OrderBy(v => v).ToArray();
        return times[times.Length / 2];
    }
    foreach (int t in new[] { 1, threads, 1, threads })
    {
        Engine.Threads = t;
        double forward = Median(() => Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Forward(w, x, T, B, [], []).Release());
        var cache = Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Forward(w, x, T, B, [], []);
        double backward = Median(() => Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Backward(w, cache, dOut, [], [], grads, [], [], []));
        double recurrentGrads = Median(() => Gemm.Multiply<float>(true, false, G * H, H, T * B, dXGates, cache.Hs, grads.RecurrentWeights, accumulate: true));
        double inputGrads = Median(() => Gemm.Multiply<float>(true, false, G * H, I, T * B, dXGates, x, grads.InputWeights, accumulate: true));
        double inputProduct = Median(() => Gemm.Multiply<float>(false, true, T * B, G * H, I, x, w.InputWeights, dXGates, accumulate: false));
        cache.Release();
        // Forward and backward alternating, as in training (each pass finds the other's buffers in the pool).
        var fw = new List<double>();
        var bw = new List<double>();
        var loopClock = Stopwatch.StartNew();
        while (loopClock.ElapsedMilliseconds < 3000 || fw.Count < samples)
        {
            long t0 = Stopwatch.GetTimestamp();
            var c2 = Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Forward(w, x, T, B, [], []);
            long t1 = Stopwatch.GetTimestamp();
            Recur.Layers.Recurrent.RecurrentLayerKernel<float, Recur.Layers.Recurrent.LstmCell>.Backward(w, c2, dOut, [], [], grads, [], [], []);
            long t2 = Stopwatch.GetTimestamp();
            c2.Release();
            if (loopClock.ElapsedMilliseconds > 1000) { fw.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMicroseconds); bw.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMicroseconds); }
        }
        Console.WriteLine($"{name} alternating forward/backward, {t} thread(s): forward {fw.Order().ElementAt(fw.Count / 2):F1} µs  backward {bw.Order().ElementAt(bw.Count / 2):F1} µs");
        Console.WriteLine($"{name} layer LSTM I{I} H{H} T{T} B{B}, {t} thread(s): forward {forward:F1} µs (input product {inputProduct:F1})  backward {backward:F1} µs (dW_hh {recurrentGrads:F1}, dW_ih {inputGrads:F1})");
    }
}

static float[] RandomFloats(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
