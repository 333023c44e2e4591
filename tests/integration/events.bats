#!/usr/bin/env bats
# netprobe events: real traffic's flow starts, test events through the kernel
# path, and bad input.

load helpers

setup() {
	lab_setup
}

teardown() {
	lab_teardown
}

@test "events: one flow_start per new flow of real traffic, as JSON lines" {
	run np_b attach "$LAB_VB" --detailed-events
	[ "$status" -eq 0 ]
	nsenter --net="/run/netns/$LAB_B" "$NP" events --json --duration 3 \
		>"$BATS_TEST_TMPDIR/ev" 2>"$BATS_TEST_TMPDIR/ev.err" 3>&- &
	local pid=$!
	sleep 0.5
	for p in 5001 5002 5003; do
		in_a "$NPBENCH" send "$LAB_VA" --count 4 --sport $p --dport 53 >/dev/null
	done
	wait $pid
	cat "$BATS_TEST_TMPDIR/ev"
	# Every line is a JSON object with type, src and time.
	jq -e 'has("type") and has("src") and has("time")' "$BATS_TEST_TMPDIR/ev" >/dev/null
	for p in 5001 5002 5003; do
		[ "$(jq -s "[.[] | select(.type == \"flow_start\" and .sport == $p)] | length" \
			"$BATS_TEST_TMPDIR/ev")" -eq 1 ]
	done
}

@test "events: without --detailed-events nothing is emitted; --test goes through the kernel" {
	bats_require_minimum_version 1.5.0
	run np_b attach "$LAB_VB"
	[ "$status" -eq 0 ]
	run --separate-stderr np_b events --json --summary --duration 1.5 --test 1000
	[ "$status" -eq 0 ]
	[ "$(jq -s '[.[] | select(.type == "test")] | length' <<<"$output")" -eq 1000 ]
	[ "$(jq -s '[.[] | select(.type == "flow_start")] | length' <<<"$output")" -eq 0 ]
	# The run's accounting: a last JSON object with --summary, and on stderr always.
	[ "$(tail -1 <<<"$output" | jq -c '.summary | [.received, .delivered, .queue_lost, .malformed]')" = '[1000,1000,0,0]' ]
	[[ "$stderr" == *"1000 received, 1000 delivered, 0 lost in the queue"* ]]
	run np_b events --summary --duration 0.1
	[ "$status" -eq 2 ]
	[[ "$output" == *"--summary goes with --json"* ]]
	run np_b events --duration 0.5 --test 10
	[ "$status" -eq 0 ]
	[[ "$output" == *"10 received, 10 delivered, 0 lost in the queue, 0 malformed, 0 lost in the kernel"* ]]
	# The kernel's side of the count is in stats, for any process to see.
	[ "$(np_b stats --json | jq '.events.produced')" -eq 1010 ]
	[ "$(np_b stats --json | jq '.events.lost')" -eq 0 ]
}

@test "events: bad input" {
	run np_b events
	[ "$status" -eq 1 ]
	[[ "$output" == *"not attached anywhere"* ]]
	run np_b events --test 0
	[ "$status" -eq 2 ]
	run np_b events --duration x
	[ "$status" -eq 2 ]
	run np_b attach "$LAB_VB" --events-rate 0
	[ "$status" -eq 2 ]
}
