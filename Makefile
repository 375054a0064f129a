# bastion — the documented way in. `make help` lists the targets.
#
#   make demo   build everything and run the demo (embedded memory store)
#   make test   every check CI runs: formatting, lints, Rust, Python and Node suites
#   make bench  release builds, then the side-by-side benchmarks against the peers

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-installed
NODE_DEPS := node/node_modules/.package-lock.json

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create .venv with the Python tools and peer libraries

# `npm ci` refuses this lockfile: @napi-rs/cli's optional per-platform binaries
# for other systems are not served by the registry, so they cannot be recorded.
# `npm install --no-save` against the committed lockfile installs the same tree
# and never rewrites the lockfile.
$(NODE_DEPS): node/package.json node/package-lock.json
	cd node && npm install --no-save --no-audit --no-fund
	touch $(NODE_DEPS)

.PHONY: node-deps
node-deps: $(NODE_DEPS) ## Install the npm dev dependencies from the committed lockfile

# The Redis suites start their own servers on free loopback ports (a
# standalone server and a three-master cluster per test binary or session);
# this only makes sure the programs are there. Without them the Redis tests
# skip, except with CI=true, where they fail.
.PHONY: redis
redis: ## Ensure redis-server and redis-cli are on PATH (apt-get installs them when run as root)
	@if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "redis-server or redis-cli not found: installing Debian's redis-server"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null \
			&& command -v redis-server >/dev/null && command -v redis-cli >/dev/null; \
	else \
		echo "redis-server or redis-cli not found on PATH, and this is not root with apt-get to install them:"; \
		echo "  install Redis (Debian: sudo apt-get install redis-server); without it the Redis tests are skipped"; \
		case "$$CI" in true|TRUE|True|1) echo "CI=true: the Redis tests must run"; exit 1;; esac; \
	fi

.PHONY: build-python
build-python: $(STAMP) ## Build the extension into .venv (debug) with maturin develop
	$(VENV)/bin/maturin develop --quiet

.PHONY: build-node
build-node: $(NODE_DEPS) ## Build the Node addon (debug); regenerates node/index.js and node/index.d.ts
	cd node && npm run --silent build:debug

.PHONY: build
build: build-python build-node ## Build the Python extension and the Node addon (debug)

.PHONY: check-generated
check-generated: build-node ## Fail if the generated node/index.js or node/index.d.ts differ from the committed ones
	git diff --exit-code -- node/index.js node/index.d.ts

.PHONY: lint
lint: $(STAMP) ## cargo fmt --check, clippy -D warnings, ruff
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: test-rust
test-rust: redis ## The Rust suites (core)
	cargo test --quiet

.PHONY: test-python
test-python: build-python build-node redis ## pytest (its cross-language tests start Node processes), and the .pyi stub checked against the binary
	$(PY) -m mypy.stubtest bastion._native
	$(PY) -m pytest -q

.PHONY: test-node
test-node: check-generated redis ## node --test
	cd node && npm test

.PHONY: test
test: lint test-rust test-python test-node ## Everything CI runs

# Fuzzing (not part of `make test`: it runs for minutes). Each target of
# core/fuzz runs for FUZZ_SECONDS under libFuzzer with AddressSanitizer,
# starting from the committed corpus core/fuzz/corpus/<target>/ (read, never
# written: new inputs go to a scratch directory). A crash fails the run and
# leaves its input in core/fuzz/artifacts/<target>/; copied to
# core/tests/fuzz_regressions/<target>/, `cargo test` replays it for good.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= jwt jwks rate password forwarded

.PHONY: fuzz
fuzz: ## Fuzz every parser for FUZZ_SECONDS each (default 60; nightly + cargo-fuzz, installed when missing)
	@command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	cd core/fuzz && cargo +nightly fuzz build
	@set -o pipefail; scratch=$$(mktemp -d); summary="$$scratch/summary"; \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p "$$scratch/$$t" "core/fuzz/artifacts/$$t"; \
		echo "fuzz $$t: $(FUZZ_SECONDS) s from core/fuzz/corpus/$$t"; \
		if ! (cd core/fuzz && cargo +nightly fuzz run $$t "$$scratch/$$t" "corpus/$$t" -- \
				-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
				-artifact_prefix="$$PWD/artifacts/$$t/") > "$$scratch/$$t.log" 2>&1; then \
			tail -n 60 "$$scratch/$$t.log"; \
			echo "fuzz $$t FAILED: the input is in core/fuzz/artifacts/$$t/;" \
				"add it to core/tests/fuzz_regressions/$$t/ once fixed"; \
			exit 1; \
		fi; \
		execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' "$$scratch/$$t.log"); \
		rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' "$$scratch/$$t.log"); \
		cov=$$(grep -Eo 'cov: [0-9]+' "$$scratch/$$t.log" | tail -n 1); \
		printf '  %-10s %12s execs %9s execs/s  %s\n' "$$t" "$$execs" "$$rate" "$$cov" | tee -a "$$summary"; \
	done; \
	echo "fuzz: no crash in $(FUZZ_SECONDS) s per target"; cat "$$summary"; rm -rf "$$scratch"

.PHONY: demo
demo: build ## Build everything and run the demo (embedded memory store; BASTION_REDIS_URL: on Redis)
	$(PY) examples/demo.py
	node examples/demo.mjs
	$(PY) examples/demo_services.py

.PHONY: bench
bench: $(STAMP) $(NODE_DEPS) redis ## Release builds, then benchmarks side by side with the peers
	$(VENV)/bin/maturin develop --release --quiet
	cd node && npm run --silent build
	mkdir -p bench/results
	cd bench/crypto-backend && cargo run --release --quiet > ../results/crypto_backend.md
	$(PY) bench/python_bench.py
	$(PY) bench/store_bench.py
	$(PY) bench/ratelimit_bench.py
	$(PY) bench/django_bench.py
	node bench/node_bench.mjs
	node bench/ratelimit_bench.mjs
	$(PY) bench/breaker_bench.py
	node bench/breaker_bench.mjs
	$(PY) bench/lock_bench.py
	$(PY) bench/report.py

# The long versions of the fault and scale tests (docs/reliability.md): ten
# million distinct keys through the memory store in a release build, and the
# Redis fault, failover and clock-skew runs with 5-second phases.
.PHONY: scale
scale: build-python build-node redis ## The long fault and scale runs: a 10-million-key flood (release), 5 s Redis faults
	BASTION_FLOOD_KEYS=10000000 cargo test --release --quiet -p bastion-core --test faults -- --nocapture
	BASTION_FAULT_SECONDS=5 $(PY) -m pytest -q -s tests/python/test_faults.py

.PHONY: fmt
fmt: $(STAMP) ## Format Rust and Python sources
	cargo fmt --all
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: clean
clean: ## Remove build outputs (keeps .venv and node_modules)
	cargo clean
	rm -f node/*.node python/bastion/*.so
