#!/usr/bin/env bats
# Every libFuzzer target over its committed corpus (tests/fuzz/corpus/TARGET),
# each input once, under ASan and UBSan: what make fuzz found, crashes it
# found and were fixed included, stays found. make fuzz does the fuzzing.

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

corpus_run() {
	local target=$1 bin="$ROOT/.output/fuzz/$1" corpus="$ROOT/tests/fuzz/corpus/$1"
	[ -x "$bin" ] || { echo "no $bin: make unit-tests builds it" >&2; return 1; }
	[ -n "$(ls -A "$corpus")" ] || { echo "$corpus is empty" >&2; return 1; }
	# -runs=0: the corpus is run, nothing new is tried; stdout is the targets' chatter.
	run "$bin" -runs=0 -timeout=10 "$corpus"
	[ "$status" -eq 0 ] || { echo "$output" | tail -40; return 1; }
	[[ "$output" == *"INITED"* ]]
}

@test "fuzz corpus: addresses, prefixes and services" { corpus_run fuzz_addresses; }
@test "fuzz corpus: every command line value" { corpus_run fuzz_cli; }
@test "fuzz corpus: the daemon's YAML config" { corpus_run fuzz_config; }
@test "fuzz corpus: blocklist files" { corpus_run fuzz_lists; }
@test "fuzz corpus: event records from the ring buffer, as events prints them" { corpus_run fuzz_events; }
@test "fuzz corpus: label values of the Prometheus exposition" { corpus_run fuzz_metrics; }
@test "fuzz corpus: IPFIX messages of arbitrary flow records, decoded again by fixbuf" { corpus_run fuzz_ipfix; }
@test "fuzz corpus: the daemon's record of what it applied, and its status file" { corpus_run fuzz_pins; }
@test "fuzz corpus: an interface's record and settings read back from the pinned maps" { corpus_run fuzz_pinned; }

@test "fuzz corpus: every target has a test here" {
	local src name
	for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
		name=$(basename "$src" .c)
		grep -q "corpus_run $name;" "$BATS_TEST_FILENAME" || { echo "no test runs $name" >&2; return 1; }
	done
}
