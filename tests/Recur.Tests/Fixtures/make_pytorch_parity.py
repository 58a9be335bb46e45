"""Generate the PyTorch parity fixtures ``pytorch_parity.json`` and ``pytorch_parity_masked.json``.

Run with Debian's python3-torch (PyTorch 1.13):

    /usr/bin/python3 tests/Recur.Tests/Fixtures/make_pytorch_parity.py [unmasked|masked|bidirectional]

(every file without an argument). Another BLAS can change the last bit of the
float64 results, so regenerate only the file whose cases changed.

This script is NOT run by CI; its output ``pytorch_parity.json`` (written
beside this file) is committed and consumed by the C# tests through
``PyTorchFixture``.

For every case, all inputs, initial states, weights and upstream gradients are
sampled in float32 (so they are exactly representable as both float32 and
float64), then the module and tensors are converted to float64 and the forward
and backward passes are computed in float64, giving an exact reference.

The scalar loss is

    L = sum(output * G_out) + sum(h_n * G_h) [+ sum(c_n * G_c) for LSTM]

with random upstream gradients G_*, so every output element receives a
distinct gradient. Gradients w.r.t. the input, h0, c0 and every named
parameter are recorded under ``grad.<name>``.

Tensor layout (all ``data`` arrays are flattened row-major):
    input            [B, T, I]   (batch_first=True)
    h0, c0           [L, B, H]   (c0 only for lstm)
    weight_ih_l{k}   [G*H, I or H], weight_hh_l{k} [G*H, H],
    bias_ih_l{k}, bias_hh_l{k} [G*H]   (PyTorch names and gate order)
    output           [B, T, H];  h_n, c_n [L, B, H]
    grad_output, grad_h_n, grad_c_n    the upstream G_* used in the loss
    grad.input, grad.h0, grad.c0, grad.<param>

``pytorch_parity_masked.json`` holds right-padded batches: each case has an
extra ``lengths`` [B] and the module runs on
``pack_padded_sequence(input, lengths, batch_first=True, enforce_sorted=False)``;
``output`` is ``pad_packed_sequence(..., total_length=T)`` (zero at padded
steps) and h_n, c_n are each sequence's states at its last real step. It is
sampled from its own seed after the unmasked cases, so the unmasked fixture
stays byte-identical.

``pytorch_parity_bidirectional.json`` holds 2-layer ``bidirectional=True``
modules on right-padded batches (pack_padded_sequence as above, from its own
seed). There D = 2: layer k > 0 reads 2H features, the parameters
``weight_ih_l{k}_reverse`` etc. follow each layer's forward ones, output is
[B, T, 2H] (per step concat(forward, backward)), h0, c0, h_n, c_n are
[2L, B, H] in PyTorch's order (l0 forward, l0 backward, l1 forward, ...), and
each case carries ``"bidirectional": true``.
"""

import json
import os
import sys

import torch

SEED = 20240611
MASKED_SEED = 20240612
BIDIRECTIONAL_SEED = 20240613

CASES = [
    # name, cell, input_size, hidden_size, num_layers, seq_len, batch
    ("lstm_2layer", "lstm", 3, 5, 2, 7, 4),
    ("gru_2layer", "gru", 3, 5, 2, 7, 4),
    ("rnn_tanh_1layer", "rnn", 3, 5, 1, 7, 4),
    ("lstm_2layer_i4_h8_b1", "lstm", 4, 8, 2, 6, 1),
]

MASKED_CASES = [
    # name, cell, input_size, hidden_size, num_layers, seq_len, batch, lengths
    ("lstm_2layer_packed", "lstm", 3, 5, 2, 7, 4, [7, 3, 5, 1]),
    ("gru_2layer_packed", "gru", 3, 5, 2, 7, 4, [2, 7, 1, 6]),
    ("rnn_tanh_2layer_packed", "rnn", 3, 5, 2, 6, 3, [4, 6, 1]),
]

BIDIRECTIONAL_CASES = [
    # name, cell, input_size, hidden_size, num_layers, seq_len, batch, lengths
    ("lstm_2layer_bidirectional_packed", "lstm", 3, 5, 2, 7, 4, [7, 3, 5, 1]),
    ("gru_2layer_bidirectional_packed", "gru", 3, 5, 2, 7, 4, [2, 7, 1, 6]),
    ("rnn_tanh_2layer_bidirectional_packed", "rnn", 3, 4, 2, 6, 3, [4, 6, 2]),
]


def uniform32(*shape):
    """float32 samples from U(-1, 1); rand*2-1 is evaluated in float32."""
    return (torch.rand(*shape, dtype=torch.float32) * 2.0 - 1.0).to(torch.float32)


def randn_half32(*shape):
    """float32 samples of randn * 0.5 (exact scaling in float32)."""
    return torch.randn(*shape, dtype=torch.float32) * 0.5


def to_entry(t):
    t = t.detach().to(torch.float64).contiguous()
    return {
        "shape": list(t.shape),
        "data": [float(x) for x in t.reshape(-1).tolist()],
    }


def make_module(cell, input_size, hidden_size, num_layers, bidirectional=False):
    kwargs = dict(
        input_size=input_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bias=True,
        batch_first=True,
        bidirectional=bidirectional,
    )
    if cell == "lstm":
        return torch.nn.LSTM(**kwargs)
    if cell == "gru":
        return torch.nn.GRU(**kwargs)
    if cell == "rnn":
        return torch.nn.RNN(nonlinearity="tanh", **kwargs)
    raise ValueError(cell)


def run_case(name, cell, input_size, hidden_size, num_layers, seq_len, batch, lengths=None, bidirectional=False):
    module = make_module(cell, input_size, hidden_size, num_layers, bidirectional)
    directions = 2 if bidirectional else 1
    states = directions * num_layers

    # Sample every parameter in float32 and assign it.
    with torch.no_grad():
        for _, p in module.named_parameters():
            p.copy_(randn_half32(*p.shape))

    x32 = uniform32(batch, seq_len, input_size)
    h032 = uniform32(states, batch, hidden_size)
    c032 = uniform32(states, batch, hidden_size) if cell == "lstm" else None
    g_out32 = uniform32(batch, seq_len, directions * hidden_size)
    g_h32 = uniform32(states, batch, hidden_size)
    g_c32 = uniform32(states, batch, hidden_size) if cell == "lstm" else None

    # Keep the float32-sampled parameter values (exact in float64 too).
    params32 = [(n, p.detach().clone()) for n, p in module.named_parameters()]

    # Everything below is float64.
    module = module.double()
    for (n, p32), (n2, p) in zip(params32, module.named_parameters()):
        assert n == n2
        assert torch.equal(p.detach().float(), p32)
        assert torch.equal(p.detach(), p32.double())

    x = x32.double().requires_grad_(True)
    h0 = h032.double().requires_grad_(True)
    c0 = c032.double().requires_grad_(True) if c032 is not None else None
    g_out = g_out32.double()
    g_h = g_h32.double()
    g_c = g_c32.double() if g_c32 is not None else None

    sequence = x
    if lengths is not None:
        sequence = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(lengths, dtype=torch.int64), batch_first=True, enforce_sorted=False)
    if cell == "lstm":
        output, (h_n, c_n) = module(sequence, (h0, c0))
    else:
        output, h_n = module(sequence, h0)
        c_n = None
    if lengths is not None:
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=seq_len)

    loss = (output * g_out).sum() + (h_n * g_h).sum()
    if cell == "lstm":
        loss = loss + (c_n * g_c).sum()
    loss.backward()

    assert list(output.shape) == [batch, seq_len, directions * hidden_size]
    assert list(h_n.shape) == [states, batch, hidden_size]

    tensors = {}
    tensors["input"] = to_entry(x32)
    tensors["h0"] = to_entry(h032)
    if cell == "lstm":
        tensors["c0"] = to_entry(c032)
    for n, p32 in params32:
        tensors[n] = to_entry(p32)
    tensors["output"] = to_entry(output)
    tensors["h_n"] = to_entry(h_n)
    if cell == "lstm":
        tensors["c_n"] = to_entry(c_n)
    tensors["grad_output"] = to_entry(g_out32)
    tensors["grad_h_n"] = to_entry(g_h32)
    if cell == "lstm":
        tensors["grad_c_n"] = to_entry(g_c32)
    tensors["grad.input"] = to_entry(x.grad)
    tensors["grad.h0"] = to_entry(h0.grad)
    if cell == "lstm":
        tensors["grad.c0"] = to_entry(c0.grad)
    for n, p in module.named_parameters():
        tensors["grad." + n] = to_entry(p.grad)

    case = {
        "name": name,
        "cell": cell,
        "input_size": input_size,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "seq_len": seq_len,
        "batch": batch,
        "loss": float(loss.item()),
        "tensors": tensors,
    }
    if lengths is not None:
        case["lengths"] = list(lengths)
    if bidirectional:
        case["bidirectional"] = True
    return case


def write(file_name, cases):
    doc = {
        "generator": "make_pytorch_parity.py",
        "torch_version": torch.__version__,
        "cases": cases,
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), file_name)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d bytes)" % (out, os.path.getsize(out)))
    for c in cases:
        print("  %s: loss=%r tensors=%s" % (c["name"], c["loss"], ", ".join(c["tensors"])))


def main():
    which = sys.argv[1:] or ["unmasked", "masked", "bidirectional"]
    unknown = set(which) - {"unmasked", "masked", "bidirectional"}
    if unknown:
        sys.exit("unknown fixture(s) %s; expected unmasked, masked and/or bidirectional" % ", ".join(sorted(unknown)))
    torch.set_default_dtype(torch.float32)
    if "unmasked" in which:
        torch.manual_seed(SEED)
        write("pytorch_parity.json", [run_case(*c) for c in CASES])
    if "masked" in which:
        torch.manual_seed(MASKED_SEED)
        write("pytorch_parity_masked.json", [run_case(*c) for c in MASKED_CASES])
    if "bidirectional" in which:
        torch.manual_seed(BIDIRECTIONAL_SEED)
        write("pytorch_parity_bidirectional.json", [run_case(*c, bidirectional=True) for c in BIDIRECTIONAL_CASES])


if __name__ == "__main__":
    main()
