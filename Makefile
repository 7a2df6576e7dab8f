# PHD exchange — the two commands of the README (`make demo`, `make test`) and their helpers.
# Everything installs from package registries (npm ci + cargo); nothing downloads at run time.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(CURDIR)
BIN := $(ROOT)/node_modules/@foundry-rs
FORGE := $(BIN)/forge-linux-amd64/bin/forge
ANVIL := $(BIN)/anvil-linux-amd64/bin/anvil
CAST := $(BIN)/cast-linux-amd64/bin/cast
CARGO ?= cargo
export PHD_ANVIL_BIN := $(ANVIL)
# One target selection for `make test` and `make demo`, so the demo reuses what the tests built
# (same packages, same features): libraries, binaries and integration tests; examples, benches
# and doc tests (the docs hold no Rust examples) are built only by `make bench`.
CARGO_TEST_TARGETS := --workspace --locked --lib --bins --tests
# A clean CI clone gains nothing from incremental artifacts; they only cost disk and time.
ifdef CI
export CARGO_INCREMENTAL ?= 0
endif
export PHD_DATA_DIR ?= $(ROOT)/data/basic-motions

.PHONY: all deps test test-forge test-rust check-bindings bindings demo bench gas fuzz fmt lint clean

all: test

## Install the pinned toolchain (forge/anvil/cast/solc-js/OpenZeppelin/forge-std) and fetch crates.
deps: node_modules/.installed
	$(CARGO) fetch --locked >/dev/null

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Every test: forge (unit, fuzz, invariant), the bindings drift check, then cargo (unit, integration, end to end).
test: deps test-forge check-bindings test-rust

test-forge: node_modules/.installed
	cd contracts && $(FORGE) test

check-bindings: node_modules/.installed
	scripts/sync-bindings.sh --check

test-rust: deps
	scripts/ensure-chromium.sh
	$(CARGO) test $(CARGO_TEST_TARGETS)

## Regenerate the committed contract artifacts the Rust bindings are generated from.
bindings: node_modules/.installed
	scripts/sync-bindings.sh

## The whole product story on a local stack: anvil, contracts, embedded S3, five keepers, a validator.
## `make demo KEEP=1` then starts the web page (phd-web), prints its address and keeps running.
demo: deps
	CARGO_TEST_TARGETS="$(CARGO_TEST_TARGETS)" scripts/demo.sh

## Benchmarks: gas report, sealing vs zstd|openssl, storage, keeper, quality. Figures go to docs/PERFORMANCE.md.
bench: deps
	scripts/bench.sh

## The 10 GB case end to end (seal → upload → buy → download → verify → decrypt) with peak RSS;
## not part of CI (needs ≈ 35 GB of scratch disk and several minutes).
.PHONY: bench-big
bench-big: deps
	ONLY=e2e E2E_ARGS="$${E2E_ARGS:---sizes 10GB --runs 1}" scripts/bench.sh

## A week of 50 Hz six-channel data (≈ 30 M samples) through `phd-user stream` with 1 h segments on
## the local stack: throughput and peak RSS. Not part of CI (≈ 2.5 GB of scratch disk, minutes).
.PHONY: bench-series-week
bench-series-week: deps
	ONLY=series-week scripts/bench.sh

gas: node_modules/.installed
	scripts/gas.sh

## Fuzz the sealed-object parser for a fixed budget (not part of CI).
fuzz: deps
	scripts/fuzz.sh

fmt:
	$(CARGO) fmt --all
	cd contracts && $(FORGE) fmt

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
	rm -rf contracts/out contracts/cache .devnet

## Security audit of the contracts (Slither, Halmos, guard mutation, deep invariants; tools from
## PyPI into target/audit-venv). Not part of `make test`: it takes tens of minutes. docs/AUDIT.md.
.PHONY: audit
audit: node_modules/.installed
	scripts/audit.sh

## phd-storage against moto_server (PyPI, into target/s3-compat-venv): multipart, ranged GETs,
## presigned GET, a sealed object opened from ranges. Not part of `make test`. docs/STORAGE.md.
.PHONY: s3-compat
s3-compat:
	scripts/s3-compat.sh
