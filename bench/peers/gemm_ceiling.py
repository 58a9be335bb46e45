"""Measured FP32 matrix-product ceiling of this machine through PyTorch+OpenBLAS (2 threads).
Copied from the project's shared peer (../shared/peer/gemm_ceiling.py); addition for `recur bench`: the sizes as a
second argument.
usage: gemm_ceiling.py [THREADS] [SIZES]   (SIZES comma-separated, default 1024,2048,4096)"""
import time, torch, sys
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
for n in (int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "1024,2048,4096").split(",")):
    a = torch.randn(n, n); b = torch.randn(n, n)
    for _ in range(2): a @ b
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
    t = sorted(ts)[2]
    print(f"sgemm n={n} median_s={t:.4f} GFLOPs={2*n**3/t/1e9:.1f}")
