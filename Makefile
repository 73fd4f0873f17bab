# Development tasks. `make` alone lists the targets.
#
# Targets that need a database use scripts/dev-db.sh, which starts a
# project-local PostgreSQL cluster (in .data/) unless DATABASE_URL is set.

CARGO ?= cargo
DEV_DB := scripts/dev-db.sh

.DEFAULT_GOAL := help

.PHONY: help run test fuzz bench lint fmt build db-start db-stop db-status psql

help:
	@echo "Usage: make <target>"
	@echo ""
	@echo "  run        Start the chat server (release build) against the dev database"
	@echo "  test       Run all tests (browser tests in headless Chromium too), then doc tests"
	@echo "  fuzz       schemathesis against /openapi.json as each principal (target/fuzz/)"
	@echo "  bench      Benchmarks beside their references (target/bench/report.md, .json);"
	@echo "             BENCH_ARGS=--quick for a smoke run, BENCH_ARGS='--only latency,claims'"
	@echo "  lint       Check formatting (rustfmt) and run clippy with warnings denied"
	@echo "  fmt        Format all crates"
	@echo "  build      Build the workspace (installs libpq-dev first if missing)"
	@echo "  db-start   Start the local PostgreSQL cluster"
	@echo "  db-stop    Stop the local PostgreSQL cluster"
	@echo "  db-status  Show whether the local PostgreSQL cluster is running"
	@echo "  psql       Open psql on the local chat database"
	@echo "  help       Show this help"
	@echo ""
	@echo "Set DATABASE_URL to use an existing database instead of the local cluster."

run:
	$(DEV_DB) exec $(CARGO) run --release -p chat-server -- serve --demo

test:
	$(DEV_DB) browser
	$(DEV_DB) s3
	$(DEV_DB) exec $(CARGO) test --workspace --all-targets
	$(DEV_DB) exec $(CARGO) test --workspace --doc

# The release server on its own database (chat_fuzz), fuzzed by a pinned schemathesis in a
# project-local virtualenv; fails on any finding not in tests/fuzz/baseline.json.
fuzz:
	$(DEV_DB) deps
	$(DEV_DB) exec scripts/fuzz.sh

# The service on its own database (chat_bench), driven over loopback from a separate process;
# see docs/benchmarks.md.
bench:
	$(DEV_DB) deps
	$(CARGO) build --release -p chat-server -p chat-bench
	$(DEV_DB) exec ./target/release/chat-bench $(BENCH_ARGS)

lint:
	$(DEV_DB) deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

build:
	$(DEV_DB) deps
	$(CARGO) build --workspace

db-start:
	$(DEV_DB) start

db-stop:
	$(DEV_DB) stop

db-status:
	$(DEV_DB) status

psql:
	$(DEV_DB) psql
