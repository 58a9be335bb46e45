"""Peer benchmark: PyTorch (Debian python3-torch with OpenBLAS) LSTM/GRU training step on the CPU.
Step = full-sequence forward, linear head on the last hidden state, MSE, backward, Adam.
FLOPs counted as 3 x forward GEMM flops (2*gates*H*(I+H) per step, sequence and layer).

Copied from the project's shared peer (../shared/peer/torch_lstm_bench.py) so the repository is self-contained;
additions for `recur bench`: inference median of 10 (was 5), a `stream` mode (batch-1 streaming LSTM step), and
BENCH_MIN_SECONDS (environment, default 0): training and inference keep timing calls past their count until that
much time is timed, as `recur bench` times its own calls.

usage: torch_lstm_bench.py best [CONFIGS]   -> runs each threading variant in a fresh process and reports, per
                                               config, the fastest variant (the fair peer on this machine)
       torch_lstm_bench.py run TORCH_THREADS [CONFIGS]   -> one variant in this process
       torch_lstm_bench.py stream [TORCH_THREADS]   -> batch-1 streaming: LSTM I8 H128 + linear head, one step per
                                               call carrying (h, c), no_grad; run with OPENBLAS_NUM_THREADS=1
CONFIGS: comma-separated names (a-lstm-h64,b-lstm-h256x2,c-gru-h256x2,d-lstm-h1024); default all.
Threading matters: torch's intra-op threads and OpenBLAS's own threads multiply; on 2 cores torch threads=2 with
OpenBLAS threads=2 is ~3x slower than torch threads=1 (OpenBLAS still uses both cores)."""
import os, re, subprocess, sys, time
CFGS = [("a-lstm-h64", False, 8, 64, 1, 50, 32), ("b-lstm-h256x2", False, 32, 256, 2, 100, 64),
        ("c-gru-h256x2", True, 32, 256, 2, 100, 64), ("d-lstm-h1024", False, 1024, 1024, 1, 25, 128)]
VARIANTS = [("torch1-blas2", "1", None), ("torch2-blas1", "2", "1"), ("torch2-blas2", "2", None)]

def timed(call, n):
    """Sorted times (ms) of at least n calls and at least BENCH_MIN_SECONDS of them."""
    least_ms = 1000 * float(os.environ.get("BENCH_MIN_SECONDS", "0"))
    ts = []
    while len(ts) < n or sum(ts) < least_ms: ts.append(call())
    return sorted(ts)

def run(threads, only):
    import torch
    torch.set_num_threads(threads); torch.manual_seed(1)
    for name, gru, I, H, L, T, B in CFGS:
        if only and name not in only: continue
        rnn = (torch.nn.GRU if gru else torch.nn.LSTM)(I, H, L, batch_first=True)
        head = torch.nn.Linear(H, 1)
        opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), 1e-3)
        x = torch.randn(B, T, I); y = torch.randn(B, 1)
        def step():
            t0 = time.perf_counter(); opt.zero_grad()
            o, _ = rnn(x); loss = torch.nn.functional.mse_loss(head(o[:, -1, :]), y)
            loss.backward(); opt.step(); return (time.perf_counter() - t0) * 1000
        big = name.startswith("d"); warm, n = (2, 10) if big else (5, 30)
        for _ in range(warm): step()
        ts = timed(step, n); med = ts[len(ts) // 2]
        g = 3 if gru else 4
        flops = 3 * sum(2.0 * g * H * ((I if l == 0 else H) + H) * T * B for l in range(L))
        with torch.no_grad():
            for _ in range(2): rnn(x)
            def infer():
                t0 = time.perf_counter(); rnn(x); return (time.perf_counter() - t0) * 1000
            inf = timed(infer, 10)
        print(f"{name} torch={torch.__version__} threads={threads} train_ms_median={med:.2f} seq_per_s={B*1000/med:.0f} "
              f"GFLOPs={flops/med/1e6:.1f} infer_ms_median={inf[len(inf) // 2]:.2f}", flush=True)

def stream(threads):
    import torch
    torch.set_num_threads(threads); torch.manual_seed(1)
    rnn = torch.nn.LSTM(8, 128, 1, batch_first=True); head = torch.nn.Linear(128, 1)
    x = torch.randn(1, 1, 8); h = torch.zeros(1, 1, 128); c = torch.zeros(1, 1, 128); ts = []
    with torch.no_grad():
        for i in range(2200):
            t0 = time.perf_counter()
            o, (h, c) = rnn(x, (h, c)); head(o[:, -1, :]).item()
            if i >= 200: ts.append((time.perf_counter() - t0) * 1e6)
    ts.sort()
    print(f"stream torch={torch.__version__} threads={threads} step_us_median={ts[len(ts) // 2]:.2f} min_us={ts[0]:.2f}", flush=True)

if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "best"
    if mode == "stream":
        stream(int(sys.argv[2]) if len(sys.argv) > 2 else 1); sys.exit(0)
    if mode == "run":
        run(int(sys.argv[2]), sys.argv[3].split(",") if len(sys.argv) > 3 else None); sys.exit(0)
    only = sys.argv[2] if len(sys.argv) > 2 else ",".join(c[0] for c in CFGS)
    best = {}
    for vname, tt, blas in VARIANTS:
        env = dict(os.environ)
        if blas: env["OPENBLAS_NUM_THREADS"] = blas
        else: env.pop("OPENBLAS_NUM_THREADS", None)
        out = subprocess.run([sys.executable, __file__, "run", tt, only], env=env, capture_output=True, text=True).stdout
        for m in re.finditer(r"^(\S+) .*train_ms_median=([\d.]+) .*GFLOPs=([\d.]+) infer_ms_median=([\d.]+)", out, re.M):
            name, ms, gf, inf = m.group(1), float(m.group(2)), m.group(3), float(m.group(4))
            print(f"  variant {vname}: {name} train_ms={ms:.2f} infer_ms={inf:.2f}", flush=True)
            b = best.get(name)
            if b is None or ms < b[0]: best[name] = (ms, gf, vname, b[3] if b and b[3] < inf else inf)
            elif inf < b[3]: best[name] = (b[0], b[1], b[2], inf)
    for name in only.split(","):
        if name in best:
            ms, gf, vname, inf = best[name]
            print(f"{name} best train_ms_median={ms:.2f} GFLOPs={gf} variant={vname} best infer_ms_median={inf:.2f}")
