#!/usr/bin/env python3
"""Recur model files <-> PyTorch, both directions (issue 9). Not run by CI.

    python3 scripts/pytorch_interchange.py --model RUN/model.safetensors [--text FILE] [--recur CMD] [--out FILE]

1. Reads the safetensors file with numpy and struct only (the ``safetensors`` package is used when present, but not
   needed): 8-byte little-endian header length, JSON header, raw little-endian float32 tensors; ``__metadata__``
   holds ``recur.model`` (the architecture), ``recur.data`` (the tokenizer) and the rest.
2. Builds ``torch.nn.Embedding`` (token models), ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` (``batch_first=True``) and
   ``torch.nn.Linear``, and loads each with ``load_state_dict(strict=True)`` after stripping the module prefix
   (``encoder.weight_ih_l0`` -> ``weight_ih_l0``): Recur's names and gate orders are PyTorch's.
3. For a character language model and ``--text``: scores the whole text in PyTorch (one pass, every token after the
   first predicted from all before it) and, with ``--recur``, compares the mean cross-entropy with
   ``recur evaluate --all --json`` on the same text (Recur scores it statefully, in windows with the state carried,
   which is the same computation).
4. With ``--out``: writes ``model.state_dict()`` back to a safetensors file with the original ``recur.*`` metadata;
   it is read back and compared tensor by tensor, and, with ``--recur``, Recur scores it again.

Residual stacks and layers PyTorch's modules lack (layer norm) are refused: they have no torch.nn equivalent.
"""
import argparse
import json
import math
import struct
import subprocess
import sys

import numpy as np
import torch
from torch import nn


def read_safetensors(path):
    """(tensors as float32 numpy arrays by name, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {entry['dtype']}; Recur writes F32")
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(raw[base + begin:base + end], dtype="<f4").reshape(entry["shape"]).copy()
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes float32 tensors (name -> numpy array) and string metadata, header padded to 8 bytes."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


class RecurModel(nn.Module):
    """SequenceModel in torch.nn: [embedding ->] recurrent stack -> linear head (per step, or at the last step)."""

    def __init__(self, spec):
        super().__init__()
        if spec.get("residual", "false") == "true":
            raise SystemExit("residual stacks have no torch.nn.LSTM/GRU equivalent; this script loads plain stacks only")
        self.vocabulary = int(spec["vocabulary_size"])
        self.per_step = spec["per_step"] == "true"
        bidirectional = spec.get("bidirectional", "false") == "true"
        hidden, layers = int(spec["hidden_size"]), int(spec["layers"])
        inputs = int(spec["embedding_size"]) if self.vocabulary > 0 else int(spec["input_size"])
        if self.vocabulary > 0:
            self.embedding = nn.Embedding(self.vocabulary, int(spec["embedding_size"]))
        cell = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[spec["cell"]]
        self.encoder = cell(inputs, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                            dropout=float(spec.get("layer_dropout", "0")) if layers > 1 else 0.0)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), int(spec["output_size"]))
        self.bidirectional = bidirectional

    def forward(self, x, state=None):
        if self.vocabulary > 0:
            x = self.embedding(x)
        out, state = self.encoder(x, state)
        if self.per_step:
            return self.head(out), state
        h = out.shape[-1] // 2
        last = torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1) if self.bidirectional else out[:, -1]
        return self.head(last), state


def load(path):
    tensors, metadata = read_safetensors(path)
    spec = json.loads(metadata["recur.model"])
    model = RecurModel(spec).eval()
    for module in ("embedding", "encoder", "head"):
        if not hasattr(model, module):
            continue
        prefix = module + "."
        own = {k[len(prefix):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith(prefix)}
        getattr(model, module).load_state_dict(own, strict=True)  # raises on a missing or unexpected tensor
    extra = [k for k in tensors if k.split(".")[0] not in ("embedding", "encoder", "head")]
    if extra:
        raise SystemExit(f"{path}: tensors {extra} belong to no torch.nn module of this script")
    return model, tensors, metadata


def char_ids(text, data):
    ids = {c: i + 2 for i, c in enumerate(data["characters"])}
    return [ids.get(c, 1) for c in text]


@torch.no_grad()
def torch_cross_entropy(model, ids):
    x = torch.tensor([ids[:-1]], dtype=torch.long)
    logits, _ = model(x)
    loss = nn.functional.cross_entropy(logits[0].double(), torch.tensor(ids[1:]), reduction="mean")
    return float(loss)


def recur_cross_entropy(recur, model_path, text_path):
    out = subprocess.run(recur.split() + ["evaluate", "--model", model_path, "--data", text_path, "--all", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["metrics"]["cross_entropy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a Recur model.safetensors")
    ap.add_argument("--text", help="character LM only: a text file to score in both")
    ap.add_argument("--recur", help="how to run recur, e.g. 'dotnet src/Recur.Cli/bin/Release/net10.0/Recur.Cli.dll'")
    ap.add_argument("--out", help="write the PyTorch state dict back here (safetensors, recur.* metadata kept)")
    args = ap.parse_args()

    model, tensors, metadata = load(args.model)
    print(f"loaded {len(tensors)} tensors into {model.encoder.__class__.__name__} "
          f"(+{' Embedding,' if model.vocabulary else ''} Linear) with load_state_dict(strict=True)")
    data = json.loads(metadata.get("recur.data", "{}"))
    ok = True
    lm_text = args.text and data.get("task") == "lm" and data.get("tokenizer") == "char"
    if args.text and not lm_text:
        print("--text: only character language models are scored here; skipping the output check")
    if lm_text:
        text = open(args.text, encoding="utf-8").read().replace("\r\n", "\n")
        ce = torch_cross_entropy(model, char_ids(text, data))
        print(f"PyTorch cross-entropy over {len(text) - 1} predicted characters: {ce:.6f} nats")
        if args.recur:
            ref = recur_cross_entropy(args.recur, args.model, args.text)
            rel = abs(ce - ref) / abs(ref)
            print(f"Recur   cross-entropy (recur evaluate --all): {ref:.6f} nats; relative difference {rel:.2e}")
            ok &= rel <= 1e-4

    if args.out:
        state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        write_safetensors(args.out, state, metadata)
        back, back_meta = read_safetensors(args.out)
        same = set(back) == set(tensors) and all(np.array_equal(back[k], tensors[k]) for k in tensors) and back_meta == metadata
        print(f"wrote the PyTorch state dict ({len(state)} tensors, recur.* metadata kept) to {args.out}; "
              f"identical to the original tensors: {same}")
        ok &= same
        if args.recur and lm_text:
            again = recur_cross_entropy(args.recur, args.out, args.text)
            print(f"Recur reads it back: cross-entropy {again:.6f} nats")
            ok &= abs(again - ce) / abs(ce) <= 1e-4
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
