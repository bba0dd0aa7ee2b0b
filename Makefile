# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
LOCAL_PG_URL := postgres://postgres@127.0.0.1:5432/test

.PHONY: run release test build check bench bench-http bench-instructions fmt fuzz-api

## Build and serve on the SQLite default (shiplog.db in this directory) at http://127.0.0.1:8080.
## A debug build, the one `make test` uses, so the first answer comes in minutes and the tests
## reuse it: the storage crate's `testing` feature is on because the test suite turns it on, and
## a crate built with other features would be compiled again, with everything above it.
## `make release` serves an optimised build.
run:
	cargo run --locked -p shiplog --features shiplog-storage/testing -- serve

## The optimised server (thin LTO): longer to build, for benchmarks and production.
release:
	cargo run --release --locked -p shiplog -- serve

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

## A long schemathesis run against /openapi.json on both backends (`make test` runs a bounded
## one): every answer must match the description and none may be a 5xx. FUZZ_EXAMPLES per
## operation, FUZZ_SECONDS per backend; reports under target/fuzz/.
FUZZ_EXAMPLES ?= 1000
FUZZ_SECONDS ?= 1800
fuzz-api:
	@url="$${SHIPLOG_TEST_DATABASE_URL:-}"; \
	if [ -z "$$url" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then url="$(LOCAL_PG_URL)"; fi; \
	SHIPLOG_TEST_DATABASE_URL="$$url" SHIPLOG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SHIPLOG_FUZZ_SECONDS=$(FUZZ_SECONDS) \
	SHIPLOG_FUZZ_SEED=$${SHIPLOG_FUZZ_SEED:-$$RANDOM} SHIPLOG_FUZZ_STATEFUL=1 SHIPLOG_FUZZ_NUL=true \
	cargo test -p shiplog-tests --test e2e --locked -- openapi_fuzz --nocapture

## Criterion benchmarks (SQLite; set SHIPLOG_BENCH_DATABASE_URL=postgres://… for PostgreSQL).
## The first run seeds 100,000 releases and keeps the database under target/bench.
bench:
	cargo bench --workspace --locked

## Lints, formatting, and API docs without broken links.
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

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

## HTTP load table (docs/performance.md): a release-build shiplog on SQLite, then on PostgreSQL
## (SHIPLOG_BENCH_PG_URL, default $(LOCAL_PG_URL), in a throwaway schema; skipped when no server
## answers), 16 connections from a one-thread Rust load generator. Extra flags: BENCH_HTTP_ARGS,
## e.g. BENCH_HTTP_ARGS="--seconds 10 --backend sqlite".
bench-http:
	cargo build --release --locked -p shiplog -p shiplog-bench-http
	target/release/bench-http --shiplog target/release/shiplog $(BENCH_HTTP_ARGS)
