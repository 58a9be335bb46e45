#!/usr/bin/env bash
# Transfer-learning demonstration (issue 9): pretrain a character language model on the start of Moby-Dick,
# fine-tune it on the sentiment sentences, and compare with training from scratch on the same data and budget
# (same epochs, seed, sizes, split). Usage: bench/transfer/run.sh [OUT_DIR] [EPOCHS]
# Prints one line per run: test accuracy and macro-F1 (300 test sentences, stratified seeded split).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-runs/transfer-demo}
epochs=${2:-6}
mkdir -p "$out"
recur() { dotnet "$root/src/Recur.Cli/bin/Release/net10.0/Recur.Cli.dll" "$@"; }
[ -f "$root/src/Recur.Cli/bin/Release/net10.0/Recur.Cli.dll" ] || dotnet build "$root/src/Recur.Cli" -c Release
head -c 500000 "$root/data/moby-dick.txt" > "$out/moby500k.txt"
sizes=(--hidden 128 --embedding-size 32 --seed 1)
classify=(--task classify --data "$root/data/sentiment-labelled-sentences.tsv" --no-header --text-column 2 --label-column 1 --tokenizer char --epochs "$epochs" "${sizes[@]}")

[ -f "$out/lm/model.safetensors" ] || recur train --task lm --data "$out/moby500k.txt" --tokenizer char --epochs 5 "${sizes[@]}" --out "$out/lm" --quiet --json > "$out/lm.json"
recur train "${classify[@]}" --out "$out/scratch" --quiet --json > "$out/scratch.json" &
recur train "${classify[@]}" --init-from "$out/lm/model.safetensors" --out "$out/finetune" --quiet --json > "$out/finetune.json" &
recur train "${classify[@]}" --init-from "$out/lm/model.safetensors" --freeze all-but-head --unfreeze-every 1 --pretrained-lr-factor 0.5 --out "$out/ulmfit" --quiet --json > "$out/ulmfit.json" &
wait
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
lm = json.load(open(f"{out}/lm.json"))
print(f"pretrained char LM: test {lm['metrics']['bits_per_char']:.3f} bits/char (unigram {lm['baselines']['unigram']['bits_per_char']:.3f})")
for name in ["scratch", "finetune", "ulmfit"]:
    r = json.load(open(f"{out}/{name}.json"))
    print(f"{name:9s} accuracy {r['metrics']['accuracy']:.3f}  macro-F1 {r['metrics']['macro_f1']:.3f}  best epoch {r['best_epoch']}")
PY
