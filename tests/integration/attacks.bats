#!/usr/bin/env bats
# The filter against an attacker who crafts and spoofs packets (scapy): no
# address form, encapsulation or crafted file gets a denied source through.

load helpers

CRAFT="$BATS_TEST_DIRNAME/craft.py"

setup() {
	lab_setup
	MAC_B=$(ip -n "$LAB_B" -j link show "$LAB_VB" | jq -r '.[0].address')
}

teardown() {
	lab_teardown
}

# craft_a COUNT EXPR: frames built by a scapy expression, sent from ns A to B's MAC.
craft_a() { in_a /usr/bin/python3 "$CRAFT" send "$LAB_VA" "$1" "Ether(dst='$MAC_B')/$2"; }

# udp_count_b PORT SECS: starts a dual-stack UDP socket in B counting datagrams into $BATS_TEST_TMPDIR/count.
udp_count_b() {
	in_b /usr/bin/python3 "$CRAFT" udp-count :: "$1" "$2" >"$BATS_TEST_TMPDIR/count" &
	COUNT_PID=$!
	local tries=50
	until in_b ss -Hlun | grep -q ":$1 "; do
		tries=$((tries - 1))
		[ $tries -gt 0 ] || return 1
		sleep 0.1
	done
}
# counted N: waits for the counter (not in a subshell: only this shell can wait for it), checks it.
counted() {
	wait "$COUNT_PID"
	[ "$(cat "$BATS_TEST_TMPDIR/count")" -eq "$1" ]
}

stat_b() { np_b stats --json | jq ".interfaces[0].$1"; }

@test "attacks: a denied IPv4 source gets nothing through as an IPv4-mapped IPv6 source" {
	run np_b attach "$LAB_VB" --mode filter
	[ "$status" -eq 0 ]
	run np_b blacklist add 198.18.0.1
	[ "$status" -eq 0 ]
	# The oracle first: the kernel delivers a mapped source to a dual-stack socket.
	udp_count_b 5353 2
	craft_a 3 "IPv6(src='::ffff:198.18.0.10', dst='fd00:98::2')/UDP(sport=40000, dport=5353)/b'hi'"
	counted 3
	# The denied address, mapped: dropped in XDP, counted as the IPv4 entry's hits.
	udp_count_b 5353 2
	craft_a 5 "IPv6(src='::ffff:198.18.0.1', dst='fd00:98::2')/UDP(sport=40000, dport=5353)/b'hi'"
	counted 0
	[ "$(np_b stats --json | jq .security.deny_drops)" -eq 5 ]
	[ "$(np_b blacklist list --json | jq '.entries[0].hits')" -eq 5 ]
	# The mapped form of an entry is the IPv4 entry.
	run np_b blacklist add ::ffff:198.18.0.1
	[ "$status" -ne 0 ]
	run np_b blacklist del ::ffff:198.18.0.1
	[ "$status" -eq 0 ]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 0 ]
}
