#!/usr/bin/env bash
# Installs what the end-to-end suite drives the server with: the official
# `openai` and `mcp` Python clients (in the repo's .venv) and playwright-core
# for the browser test (in tests/web/node_modules). Idempotent and quick when
# everything is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${TINGWEN_VENV:-$root/.venv}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.tests-requirements.sha256"
want="$(sha256sum "$root/tests/python/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/pip" install -q -r "$root/tests/python/requirements.txt"
  echo "$want" > "$stamp"
fi

if [ ! -d "$root/tests/web/node_modules/playwright-core" ]; then
  (cd "$root/tests/web" && npm ci --no-audit --no-fund --loglevel=error)
fi
