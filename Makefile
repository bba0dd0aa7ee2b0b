# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
LOCAL_PG_URL := postgres://postgres@127.0.0.1:5432/test

.PHONY: run test build check bench bench-instructions fmt

## Build and serve on the SQLite default (shiplog.db in this directory) at http://127.0.0.1:8080
run:
	cargo run --release -p shiplog -- serve

## The whole suite: SQLite always; PostgreSQL too when SHIPLOG_TEST_DATABASE_URL is set or a
## server answers on 127.0.0.1:5432.
test:
	@url="$${SHIPLOG_TEST_DATABASE_URL:-}"; \
	if [ -z "$$url" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then url="$(LOCAL_PG_URL)"; fi; \
	if [ -n "$$url" ]; then echo "make test: SQLite and PostgreSQL"; \
	else echo "make test: SQLite only (no PostgreSQL on 127.0.0.1:5432; set SHIPLOG_TEST_DATABASE_URL to include it)"; fi; \
	SHIPLOG_TEST_DATABASE_URL="$$url" cargo test --workspace --locked

build:
	cargo build --workspace --release --locked

## Criterion benchmarks (SQLite; set SHIPLOG_BENCH_DATABASE_URL=postgres://… for PostgreSQL).
## The first run seeds 100,000 releases and keeps the database under target/bench.
bench:
	cargo bench --workspace --locked

## Lints and formatting.
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

## Instructions per rule evaluation (callgrind; the figures repeat exactly, unlike wall clock):
## a run of N evaluations minus a run of none, divided by N, for each benchmark rule set.
bench-instructions:
	cargo bench -p shiplog-domain --bench evaluate_instructions --no-run --locked
	@bin=$$(ls -t target/release/deps/evaluate_instructions-* | grep -v '\.d$$' | head -n 1); \
	count() { EVALS=$$1 RULESET=$$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$$bin" 2>&1 \
		| sed -n 's/.*Collected : *//p'; }; \
	for set in firefox thousand; do \
		EVALS=1 RULESET=$$set "$$bin" || exit 1; \
		base=$$(count 0 $$set); total=$$(count 20000 $$set); \
		echo "$$set: $$(( (total - base) / 20000 )) instructions per evaluation"; \
	done
