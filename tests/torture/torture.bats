#!/usr/bin/env bats
# Packet torture (np-torture): random and mutated frames through every mode's
# programs, attached by the library, with BPF_PROG_RUN. make torture runs the
# same with its own numbers and writes docs/RELIABILITY.md.

bats_require_minimum_version 1.5.0

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BIN=$ROOT/.output/tests/np-torture

# A run that crashed or was killed leaves its pin path (its namespace goes with it):
# every np-torture-PID whose process is gone is removed.
teardown() {
	local d
	for d in /sys/fs/bpf/np-torture-*; do
		[ -e "$d" ] || continue
		kill -0 "${d##*-}" 2>/dev/null || rm -rf "$d"
	done
}

torture() {
	[ -x "$BIN" ] || { echo "no $BIN: make unit-tests builds it" >&2; return 1; }
	run --separate-stderr "$BIN" "$@"
	echo "$output"
	echo "$stderr"
	[ "$status" -eq 0 ]
	# A line per mode asked, each held.
	[ "$(grep -c $'\theld\t' <<<"$output")" -eq "$(($(wc -l <<<"$output") - 1))" ]
}
# column MODE N: the Nth field of MODE's row.
column() { awk -F'\t' -v m="$1" -v n="$2" '$1 == m { print $n }' <<<"$output"; }

# bats test_tags=kernel
@test "torture: every mode takes ${NETPROBE_TORTURE_FRAMES:-1000000} tortured frames, none aborted, every frame counted once" {
	torture --frames "${NETPROBE_TORTURE_FRAMES:-1000000}" --seed 1
	[ "$(grep -c $'\theld\t' <<<"$output")" -eq 4 ]
}

@test "torture: for every frame netprobe parses as IP, tshark reads the same family, protocol, addresses and ports" {
	command -v tshark >/dev/null || { echo "no tshark: make deps installs it" >&2; return 1; }
	torture --mode monitor --frames 50000 --diff 50000 --seed 2 --keep "$BATS_TEST_TMPDIR"
	# The comparison covered most frames netprobe parsed as IP (a quarter of them at least).
	[ "$(column monitor 12)" -gt 12500 ]
}

@test "torture: bad arguments are refused" {
	run "$BIN" --frames -1
	[ "$status" -eq 2 ]
	run "$BIN" --mode nonesuch
	[ "$status" -eq 2 ]
	run "$BIN" --frames 10 --diff 11
	[ "$status" -eq 2 ]
	run "$BIN" extra
	[ "$status" -eq 2 ]
}
