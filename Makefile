# Switchyard's entry points. `make demo` runs the main job, `make test` every test; both install what
# they need on a fresh machine (rustup, cargo, make and python3 are assumed).

SHARED ?= ../shared
CARGO ?= cargo
BIN := $(or $(CARGO_TARGET_DIR),target)
WASM := $(abspath $(BIN))/wasm/wasm32-wasip2/release
VENV := $(abspath $(BIN))/venv
FUZZ_SECONDS ?= 60

.PHONY: demo test lint bench bench-match bench-scale bench-transform bench-invoke bench-pipeline bench-http fuzz toolchain pyenv

toolchain:
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup first" >&2; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup target list --installed 2>/dev/null | grep -q '^wasm32-wasip2$$' || rustup target add wasm32-wasip2

# The router on the rules of rules/: builds the router and the example consumers from source, starts
# `switchyard serve` with the embedded store, publishes sample events (PutEvents, plain JSON,
# CloudEvents; one that a consumer refuses), prints what was delivered, emitted and dead-lettered and
# a few metrics, and keeps the router running until Ctrl-C (DEMO_EXIT=1 stops it at once).
demo: toolchain
	$(CARGO) build --release -p switchyard
	cd examples && $(CARGO) build --release --target wasm32-wasip2 --target-dir $(abspath $(BIN))/wasm
	SWITCHYARD_BIN=$(abspath $(BIN))/release/switchyard SWITCHYARD_WASM=$(WASM) DEMO_DATA=$(abspath $(BIN))/demo-data \
		python3 rules/demo/demo.py

# tests/build.rs builds the Wasm consumers (tests/consumers, examples) from source; the examples'
# own unit tests run natively with the SDK's test host.
test: toolchain pyenv
	$(CARGO) build -p switchyard
	$(CARGO) test --workspace
	PYTHONDONTWRITEBYTECODE=1 SWITCHYARD_BIN=$(abspath $(BIN))/debug/switchyard \
		SWITCHYARD_WASM_DIR=$(abspath $(BIN))/wasm/wasm32-wasip2/release $(VENV)/bin/python -m pytest -q tests/e2e
	cd examples && $(CARGO) test --target-dir $(abspath $(BIN))/examples-native
	$(MAKE) lint

# The Python environment of the end-to-end tests (tests/e2e: boto3, pytest), outside the clone and kept
# between runs; pip runs again only when tests/e2e/requirements.txt changes. Where `python3 -m venv`
# fails for want of ensurepip (Debian without python3-venv), python3-venv is installed first.
pyenv:
	@$(VENV)/bin/python -m pip --version >/dev/null 2>&1 || python3 -m venv --clear $(VENV) || { \
		echo "python3 -m venv failed (ensurepip missing?): installing python3-venv" >&2; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -q && $$sudo apt-get install -y -q python3-venv && python3 -m venv --clear $(VENV); }
	@cmp -s tests/e2e/requirements.txt $(VENV)/requirements.txt || { \
		$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt && \
		cp tests/e2e/requirements.txt $(VENV)/requirements.txt; }

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd examples && $(CARGO) fmt --all -- --check
	cd tests/consumers && $(CARGO) fmt --all -- --check
	cd examples && $(CARGO) clippy --all-targets --target-dir $(abspath $(BIN))/examples-native -- -D warnings

# Benchmarks print their figures beside a peer measured in the same run; docs/benchmarks.md keeps them.
bench: bench-match bench-scale bench-transform bench-invoke bench-pipeline bench-http

bench-match: toolchain
	$(CARGO) build --release -p switchyard --features bench-peers
	$(BIN)/release/switchyard bench match --rules $(SHARED)/data/citylots-rules.json \
		--events $(SHARED)/data/citylots2-synth.jsonl.gz --runs 5

bench-scale: toolchain
	$(CARGO) build --release -p switchyard
	$(BIN)/release/switchyard bench scale --events $(SHARED)/data/citylots2-synth.jsonl.gz

bench-transform: toolchain
	$(CARGO) bench -p switchyard --bench transform -- --noplot

bench-invoke: toolchain
	$(CARGO) bench -p switchyard-tests --bench invoke -- --noplot

bench-pipeline: toolchain
	$(CARGO) bench -p switchyard-tests --bench pipeline

# The router's HTTP load test beside a bare hyper server; the consumers are tests/consumers' c-ok
# (trivial) and c-sleep (holds its delivery: the accept-only run).
bench-http: toolchain
	$(CARGO) build --release -p switchyard
	cd tests/consumers && $(CARGO) build --release --target wasm32-wasip2 --target-dir $(abspath $(BIN))/wasm -p c-ok -p c-sleep
	$(BIN)/release/switchyard bench http --module $(WASM)/c_ok.wasm --park-module $(WASM)/c_sleep.wasm

# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets the one stable toolchain use them.
fuzz: toolchain
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run pattern_parse -- -max_total_time=$(FUZZ_SECONDS)
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run event_match -- -max_total_time=$(FUZZ_SECONDS)
