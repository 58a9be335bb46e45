#!/usr/bin/env bash
# Bounded load on `recur serve`: trains two tiny models (a sunspot forecaster and a word-level sentiment classifier,
# 1 epoch, hidden 8) unless given, serves them, and sends 10,000 requests from 8 concurrent clients to each:
#   forecast: the last 30 years of sunspots (9 windows per request); classify: 4 sentences per request.
# Usage: bench/serve_load.sh [REQUESTS=10000] [CLIENTS=8]      (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-10000}
CLIENTS=${2:-8}
PORT=${PORT:-5199}
WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

dotnet build src/Recur.Cli -c Release -v q -nologo >/dev/null
dotnet build bench/ServeLoad -c Release -v q -nologo >/dev/null
RECUR=src/Recur.Cli/bin/Release/net10.0/recur
LOAD=bench/ServeLoad/bin/Release/net10.0/ServeLoad

$RECUR train --data data/sunspots-yearly.csv --epochs 1 --hidden 8 --out "$WORK/sun" --quiet >/dev/null 2>&1
head -n 300 data/sentiment-labelled-sentences.tsv > "$WORK/sentences.tsv"
$RECUR train --task classify --data "$WORK/sentences.tsv" --no-header --text-column 2 --label-column 1 --tokenizer word \
  --epochs 1 --hidden 8 --out "$WORK/text" --quiet >/dev/null 2>&1

python3 - "$WORK" <<'PY'
import csv, json, sys
work = sys.argv[1]
rows = [{"SUNACTIVITY": float(r["SUNACTIVITY"])} for r in csv.DictReader(open("data/sunspots-yearly.csv"))]
json.dump({"rows": rows[-30:]}, open(f"{work}/forecast.json", "w"))
json.dump({"texts": ["Great phone, works well.", "Broke after a day.", "The battery lasts and lasts.", "Not worth the money."]},
          open(f"{work}/texts.json", "w"))
PY

$RECUR serve --model sun="$WORK/sun/model.safetensors" --model text="$WORK/text/model.safetensors" \
  --urls "http://127.0.0.1:$PORT" 2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

echo "machine: $(nproc) logical processors, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo -n "forecast  (30 rows → 9 windows): "; $LOAD "http://127.0.0.1:$PORT/predict/sun" "$WORK/forecast.json" "$REQUESTS" "$CLIENTS"
echo -n "classify  (4 sentences):          "; $LOAD "http://127.0.0.1:$PORT/predict/text" "$WORK/texts.json" "$REQUESTS" "$CLIENTS"
for m in sun text; do
  curl -s "http://127.0.0.1:$PORT/model/$m" | python3 -c "import json,sys; b=json.load(sys.stdin)['batching']; print(f'$m: {b[\"requests\"]} requests in {b[\"batches\"]} batches (mean {b[\"requests\"]/max(1,b[\"batches\"]):.2f} per batch)')"
done
kill -TERM $SERVER; wait $SERVER
