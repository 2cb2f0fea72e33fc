#!/usr/bin/env bash
# Side-by-side speed of tingwen-llm and llama.cpp (llama-cpp-python) on the
# same GGUF with 2 threads: prompt processing tok/s on a ~1,500-token prompt,
# generation tok/s for 128 tokens, plus tingwen's time to first token on a
# RAG-style prompt and peak memory of both. Not part of `make test`.
#
# Usage: scripts/bench-llm.sh [model.gguf]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="${1:-$ROOT/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}"
PROMPT_TOKENS="${PROMPT_TOKENS:-1500}"
GEN_TOKENS="${GEN_TOKENS:-128}"
THREADS=2
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

[ -f "$MODEL" ] || { echo "model not found: $MODEL" >&2; exit 1; }
cd "$ROOT"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  echo "installing llama-cpp-python (compiles llama.cpp; a few minutes)..." >&2
  CMAKE_BUILD_PARALLEL_LEVEL=2 .venv/bin/pip install -q llama-cpp-python
fi

echo "building the tingwen bench (release, tingwen-llm only)..." >&2
cargo build -q --release -p tingwen-llm --example llm_bench
CANDLE_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS \
  "$ROOT/target/release/examples/llm_bench" "$MODEL" "$ROOT/data" "$PROMPT_TOKENS" "$GEN_TOKENS" "$OUT/tingwen.json"

.venv/bin/python - "$MODEL" "$OUT/tingwen.json" "$THREADS" "$GEN_TOKENS" <<'PY'
import json, resource, sys, time
import llama_cpp

model, tingwen_path, threads, gen_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tw = json.load(open(tingwen_path))
prompt, short = tw["prompt_ids"], tw["short_prompt_ids"]
llm = llama_cpp.Llama(model_path=model, n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                      n_batch=512, verbose=False)

def timed_generate(ids, n):
    """Greedy generation of n tokens (end-of-turn ignored): (ms to first token, total ms)."""
    start = time.perf_counter()
    first = None
    count = 0
    for _ in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
        count += 1
        if first is None:
            first = time.perf_counter()
        if count >= n:
            break
    end = time.perf_counter()
    return (first - start) * 1000, (end - start) * 1000

timed_generate(prompt[:64], 4)  # warm-up
llm.reset()
pp_first_ms, _ = timed_generate(prompt, 1)
llm.reset()
tg_first_ms, tg_total_ms = timed_generate(short, gen_tokens)
pp = len(prompt) / (pp_first_ms / 1000)
tg = (gen_tokens - 1) / ((tg_total_ms - tg_first_ms) / 1000)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

print(f"model: {model}  threads: {threads}")
print(f"{'':28}{'tingwen':>12}{'llama.cpp':>12}{'ratio':>8}")
print(f"{'prompt tok/s (' + str(len(prompt)) + ' tok)':28}{tw['prompt_tokens_per_s']:12.1f}{pp:12.1f}{tw['prompt_tokens_per_s'] / pp:8.2f}")
print(f"{'generation tok/s (' + str(gen_tokens) + ' tok)':28}{tw['gen_tokens_per_s']:12.1f}{tg:12.1f}{tw['gen_tokens_per_s'] / tg:8.2f}")
print(f"{'peak RSS MiB':28}{tw['peak_rss_mib']:12.0f}{peak:12.0f}")
print(f"tingwen: load {tw['load_ms']:.0f} ms; RAG prompt of {tw['rag_prompt_tokens']} tokens: "
      f"time to first token {tw['rag_time_to_first_token_ms']:.0f} ms")
PY
