# Switchyard's entry points. `make demo` runs the main job, `make test` every test; both install what
# they need on a fresh machine (rustup, cargo, make and python3 are assumed).

SHARED ?= ../shared
CARGO ?= cargo
BIN := $(or $(CARGO_TARGET_DIR),target)
WASM := $(abspath $(BIN))/wasm/wasm32-wasip2/release
FUZZ_SECONDS ?= 60

.PHONY: demo test lint bench bench-match bench-scale bench-transform bench-invoke bench-pipeline fuzz toolchain

toolchain:
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup first" >&2; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	@rustup target list --installed 2>/dev/null | grep -q '^wasm32-wasip2$$' || rustup target add wasm32-wasip2

# The pattern engine, the transforms and the Wasm host on sample data: the offline testers on
# EventBridge-style events, the example consumers built from source and run with `switchyard invoke`,
# then the CityLots benchmark on two categories. Later issues make this the full router.
demo: toolchain
	$(CARGO) build --release -p switchyard
	@echo "== switchyard pattern test < rules/demo/pattern-cases.jsonl"
	@$(BIN)/release/switchyard pattern test < rules/demo/pattern-cases.jsonl | paste -d ' ' rules/demo/pattern-cases.jsonl - | sed 's/^/  /'
	@echo "== switchyard pattern check rules/demo/broken-pattern.json (exit 1 expected)"
	@$(BIN)/release/switchyard pattern check rules/demo/broken-pattern.json || true
	@echo "== switchyard transform test < rules/demo/transform-cases.jsonl"
	@$(BIN)/release/switchyard transform test < rules/demo/transform-cases.jsonl | sed 's/^/  /'
	cd examples && $(CARGO) build --release --target wasm32-wasip2 --target-dir $(abspath $(BIN))/wasm
	@echo "== switchyard invoke: order-notification on its sample event (emits a follow-up event)"
	@$(BIN)/release/switchyard invoke --module $(WASM)/order_notification.wasm \
		--event examples/order-notification/event.json --config source=shop.notifications
	@echo "== switchyard invoke: inventory, the same event twice with a key-value file (the second is a duplicate)"
	@rm -f $(BIN)/demo-kv.json
	@for i in 1 2; do $(BIN)/release/switchyard invoke --module $(WASM)/inventory.wasm --event examples/inventory/event.json \
		--kv-file $(BIN)/demo-kv.json --target inventory; done
	@echo "== switchyard invoke: webhook-forwarder without its host on the allow-list (refused by the host)"
	@$(BIN)/release/switchyard invoke --module $(WASM)/webhook_forwarder.wasm \
		--event examples/webhook-forwarder/event.json --config url=https://hooks.example.com/payments
	@echo "== switchyard bench match (CityLots, 2 categories, 1 pass)"
	@$(BIN)/release/switchyard bench match --rules $(SHARED)/data/citylots-rules.json \
		--events $(SHARED)/data/citylots2-synth.jsonl.gz --category EXACT --category COMMON_COMBO --runs 1

# tests/build.rs builds the Wasm consumers (tests/consumers, examples) from source; the examples'
# own unit tests run natively with the SDK's test host.
test: toolchain
	$(CARGO) build -p switchyard
	$(CARGO) test --workspace
	cd examples && $(CARGO) test --target-dir $(abspath $(BIN))/examples-native
	$(MAKE) lint

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd examples && $(CARGO) fmt --all -- --check
	cd tests/consumers && $(CARGO) fmt --all -- --check
	cd examples && $(CARGO) clippy --all-targets --target-dir $(abspath $(BIN))/examples-native -- -D warnings

# Benchmarks print their figures beside a peer measured in the same run; docs/benchmarks.md keeps them.
bench: bench-match bench-scale bench-transform bench-invoke bench-pipeline

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

# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets the one stable toolchain use them.
fuzz: toolchain
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run pattern_parse -- -max_total_time=$(FUZZ_SECONDS)
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run event_match -- -max_total_time=$(FUZZ_SECONDS)
