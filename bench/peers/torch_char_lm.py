"""Time-to-accuracy peer for `recur bench --time-to-accuracy`: the same character LSTM and protocol in PyTorch.

Model: embedding 32 -> LSTM 1x128 -> linear head per step (softmax cross-entropy over the characters of the text).
Training: random windows of T=100 from the first 90% of the text, batch 32, Adam lr 2e-3, clip_grad_norm_ 5.0.
Validation: bits/char on the first 50,000 characters of the last 10% (non-overlapping windows of 100, zero state).
The clock counts training only (it stops while validating). Vocabulary: the text's distinct characters, sorted.

usage: torch_char_lm.py TEXT [SECONDS=30,60,180] [TORCH_THREADS=1]
prints: checkpoint seconds=S steps=N bits_per_char=X   (one line per checkpoint)"""
import math, random, sys, time
import torch

T, B, EMB, H, VALID, EVAL_B, LR, CLIP = 100, 32, 32, 128, 50_000, 100, 2e-3, 5.0

def main():
    path = sys.argv[1]
    seconds = [float(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "30,60,180").split(",")]
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    torch.manual_seed(0); rng = random.Random(0)
    text = open(path, encoding="utf-8").read()
    vocab = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = torch.tensor([vocab[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(ids)); train = ids[:split]; valid = ids[split:split + VALID + 1]
    V = len(vocab)

    class CharLm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(V, EMB)
            self.encoder = torch.nn.LSTM(EMB, H, 1, batch_first=True)
            self.head = torch.nn.Linear(H, V)
        def forward(self, x):
            o, _ = self.encoder(self.embedding(x)); return self.head(o)

    model = CharLm(); opt = torch.optim.Adam(model.parameters(), LR)
    lossf = torch.nn.CrossEntropyLoss()

    def evaluate():
        model.eval(); windows = (len(valid) - 1) // T; nats = 0.0
        with torch.no_grad():
            for w0 in range(0, windows, EVAL_B):
                n = min(EVAL_B, windows - w0)
                x = torch.stack([valid[(w0 + b) * T:(w0 + b) * T + T] for b in range(n)])
                y = torch.stack([valid[(w0 + b) * T + 1:(w0 + b) * T + T + 1] for b in range(n)])
                nats += lossf(model(x).reshape(-1, V), y.reshape(-1)).item() * n * T
        model.train(); return nats / (windows * T) / math.log(2)

    elapsed, step, nxt = 0.0, 0, 0
    while nxt < len(seconds):
        t0 = time.perf_counter()
        starts = [rng.randrange(len(train) - T - 1) for _ in range(B)]
        x = torch.stack([train[s:s + T] for s in starts]); y = torch.stack([train[s + 1:s + T + 1] for s in starts])
        opt.zero_grad()
        loss = lossf(model(x).reshape(-1, V), y.reshape(-1)); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP); opt.step(); step += 1
        elapsed += time.perf_counter() - t0
        if elapsed >= seconds[nxt]:
            print(f"checkpoint seconds={seconds[nxt]:g} steps={step} bits_per_char={evaluate():.4f}", flush=True); nxt += 1

if __name__ == "__main__":
    main()
