# The two commands: `make run` (demo) and `make test` (everything CI checks).
SHELL := /bin/bash
DATA_DIR ?= .tingwen
ADDR ?= 127.0.0.1:8080
TINGWEN := target/release/tingwen

.PHONY: run test models python-deps build-release lint unit

# Fetch/import the models (idempotent: verifies checksums, then does nothing).
models:
	bash scripts/fetch-models.sh

# Python packages the test suite drives the server with (openai, mcp clients).
python-deps:
	bash scripts/python-deps.sh

build-release:
	cargo build --release -p tingwen

# Demo: models → release build → ingest data/ → serve web UI + API.
run: models build-release
	$(TINGWEN) --data-dir $(DATA_DIR) ingest data/
	$(TINGWEN) --data-dir $(DATA_DIR) serve --addr $(ADDR)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Every test of the workspace: unit, real-model and end-to-end tiers.
test: models python-deps lint
	cargo test --workspace --no-fail-fast
