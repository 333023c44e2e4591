#!/usr/bin/env bats
# CI's short form of make soak: a minute of the same (tests/soak/soak.sh).

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

@test "soak: a minute of filter mode at full rate with list churn, reloads and scrapes: counts exact, RSS and files flat, events accounted" {
	run "$ROOT/tests/soak/soak.sh" 60
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "soak: held" ]
}

@test "soak: a duration that is no number of seconds, or too short, is refused" {
	run "$ROOT/tests/soak/soak.sh" 1m
	[ "$status" -eq 2 ]
	run "$ROOT/tests/soak/soak.sh" 5
	[ "$status" -eq 2 ]
}
