#!/usr/bin/env bash
# Scale benchmarks of tingwen-index (release). Prints the numbers quoted in
# crates/tingwen-index/README.md. Usage:
#   scripts/bench-index.sh recall   # graph vs exact recall@10, 100k random 384-d (N, M, EFC, EF, KEEP env)
#   scripts/bench-index.sh dense    # 1M random 384-d: build time, peak RSS, p50/p99 (N env)
#   scripts/bench-index.sh hybrid   # 100k corpus-sampled chunks: Collection search p50/p99 (N env)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-recall}"
cargo bench -p tingwen-index --bench index --no-run
bin=$(ls -t target/release/deps/index-* | grep -v '\.d$' | head -1)
TINGWEN_BENCH="$mode" /usr/bin/time -v "$bin" 2>&1 | grep -E "^(n=|dense|hybrid)|Maximum resident|Elapsed \(wall"
