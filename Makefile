# Latch: the two commands that must work on a fresh machine are `make run`
# and `make test`. CI runs .ci/run, which calls `make test`.
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(HOME)/.cache/latch-target

.PHONY: run test lint fmt migrate build release bench

## run: latchd, all five services on 127.0.0.1:50051, SQLite + in-memory cache/bus (nothing else needed)
run:
	$(CARGO) run -p latchd -- serve

## test: the whole suite; set LATCH_TEST_DATABASE_URL / LATCH_TEST_REDIS_URL to also run on PostgreSQL + Redis
test:
	$(CARGO) test --workspace --no-fail-fast

## lint: formatting and clippy with warnings as errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## migrate: apply migrations to LATCH_DATABASE_URL and exit
migrate:
	$(CARGO) run -p latchd -- migrate

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --workspace --release

## bench: release latchd on PostgreSQL + Redis vs this machine's floors (README, "Benchmarks"); BENCH_ARGS="--scale" etc.
bench:
	$(CARGO) build --release -p latchd -p latch-bench
	$(CARGO_TARGET_DIR)/release/latch-bench run $(BENCH_ARGS)
