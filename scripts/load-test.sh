#!/usr/bin/env bash
# Load test of a running tingwen server over loopback.
#
#   scripts/load-test.sh [URL] [SECONDS]        (defaults: $TINGWEN_URL or
#                                                http://127.0.0.1:8080, 60)
#
# Three runs, each SECONDS long, with Debian's `wrk` (closed loop: a fixed
# number of connections, each sending its next request when the last one
# answered, so "rps" is the sustained throughput at that concurrency):
#   1. POST /api/search       (eval questions as queries, k=5)
#   2. POST /api/ask           extractive mode
#   3. mixed: searches while documents are uploaded, replaced and deleted,
#      then every document is checked intact through the API.
# Set TINGWEN_API_KEY when the server requires a key; LOAD_CONNECTIONS
# (default 8), LOAD_ASK_CONNECTIONS (default 4, the server's default
# generation bound; more get 429s) and LOAD_THREADS (default 2) tune wrk. Prints RESULT lines.
set -euo pipefail

URL="${1:-${TINGWEN_URL:-http://127.0.0.1:8080}}"
SECONDS_PER_RUN="${2:-60}"
CONNECTIONS="${LOAD_CONNECTIONS:-8}"
# Answers past the server's generation bound (default 4) get 429, so the
# ask run stays within it.
ASK_CONNECTIONS="${LOAD_ASK_CONNECTIONS:-4}"
THREADS="${LOAD_THREADS:-2}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA_DIR="${TINGWEN_DATA:-$ROOT/data}"
PYTHON="$ROOT/.venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3

if ! command -v wrk >/dev/null; then
  echo "wrk is not installed: apt-get install -y wrk" >&2
  exit 2
fi
AUTH=()
[ -n "${TINGWEN_API_KEY:-}" ] && AUTH=(-H "Authorization: Bearer $TINGWEN_API_KEY")
if ! curl -fsS "${AUTH[@]}" "$URL/api/documents" >/dev/null; then
  echo "no tingwen server answering at $URL" >&2
  exit 2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" "$HERE/load/make_bodies.py" "$WORK"

run_wrk() { # path bodies connections
  LOAD_PATH="$1" LOAD_BODIES="$2" wrk -t"$THREADS" -c"$3" -d"${SECONDS_PER_RUN}s" \
    --latency -s "$HERE/load/post.lua" "$URL" | grep '^RESULT' || true
}

echo "# $(date -u +%FT%TZ) $URL, ${SECONDS_PER_RUN}s per run, $THREADS threads, $CONNECTIONS connections"
echo "## search"
run_wrk /api/search "$WORK/search.jsonl" "$CONNECTIONS"
echo "## ask (extractive), $ASK_CONNECTIONS connections"
run_wrk /api/ask "$WORK/ask.jsonl" "$ASK_CONNECTIONS"
echo "## mixed: search + uploads, then integrity check"
"$PYTHON" "$HERE/load/mixed.py" "$URL" "$DATA_DIR" "$SECONDS_PER_RUN" "$WORK/search.jsonl" "$HERE/load/post.lua"
