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

@test "attacks: --decap filters the tunnel first and unwraps only configured tunnels" {
	# 198.18.0.1 is the trusted tunnel source (a load balancer); .66 is denied, .77 allowed.
	run np_b attach "$LAB_VB" --mode filter --decap-from 198.18.0.1 --decap-from fd00:98::1
	[ "$status" -eq 0 ]
	run np_b blacklist add 198.18.0.66 fd00:98::66
	[ "$status" -eq 0 ]
	run np_b allowlist add 198.18.0.77
	[ "$status" -eq 0 ]
	local udp="UDP(sport=40000, dport=5353)/b'hi'"
	# The oracle: a trusted tunnel is unwrapped and what it carries is delivered.
	udp_count_b 5353 2
	craft_a 3 "IP(src='198.18.0.1', dst='198.18.0.2')/IP(src='198.18.0.77', dst='198.18.0.2')/$udp"
	craft_a 2 "IPv6(src='fd00:98::1', dst='fd00:98::2')/IP(src='198.18.0.77', dst='198.18.0.2')/$udp"
	counted 5
	# A denied sender's tunnels (IP-in-IP, IPv4-in-IPv6, IPv6-in-IPv6) carrying an
	# allowed source, a trusted tunnel carrying a denied source, and tunnels from
	# senders nobody configured: nothing reaches the socket.
	udp_count_b 5353 3
	craft_a 3 "IP(src='198.18.0.66', dst='198.18.0.2')/IP(src='198.18.0.77', dst='198.18.0.2')/$udp"
	craft_a 3 "IPv6(src='fd00:98::66', dst='fd00:98::2')/IP(src='198.18.0.77', dst='198.18.0.2')/$udp"
	craft_a 3 "IPv6(src='fd00:98::66', dst='fd00:98::2')/IPv6(src='fd00:98::77', dst='fd00:98::2')/$udp"
	craft_a 3 "IP(src='198.18.0.1', dst='198.18.0.2')/IP(src='198.18.0.66', dst='198.18.0.2')/$udp"
	craft_a 4 "IP(src='198.18.0.55', dst='198.18.0.2')/IP(src='198.18.0.77', dst='198.18.0.2')/$udp"
	counted 0
	run np_b stats "$LAB_VB" --json
	[ "$status" -eq 0 ]
	[ "$(jq '.interfaces[0].counters.filter_deny_drops' <<<"$output")" -eq 12 ]
	[ "$(jq '.interfaces[0].counters.lb_decapsulated' <<<"$output")" -eq 8 ]
	# Refused: every tunnel from a sender not configured, the denied one's (9) too.
	[ "$(jq '.interfaces[0].counters.lb_decap_refused' <<<"$output")" -eq 13 ]
	# decap without a tunnel source to trust is refused, whole.
	run np_b attach "$LAB_VB" --mode filter --decap
	[ "$status" -ne 0 ]
	[[ "$output" == *"decap needs the tunnel sources"* ]]
}
