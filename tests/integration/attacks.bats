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
# craft_each_a EXPR RANGE: one frame for each i in range(RANGE), from the scapy EXPR of i.
craft_each_a() {
	in_a /usr/bin/python3 "$CRAFT" send "$LAB_VA" 1 "[Ether(dst='$MAC_B')/$1 for i in range($2)]"
}

# udp_count_b PORT SECS: starts a dual-stack UDP socket in B counting datagrams into
# $BATS_TEST_TMPDIR/count, for at most SECS: counted stops it.
udp_count_b() {
	# nsenter execs python: $! is the counter itself, for counted to signal.
	nsenter --net="/run/netns/$LAB_B" /usr/bin/python3 "$CRAFT" udp-count :: "$1" "$2" \
		>"$BATS_TEST_TMPDIR/count" &
	COUNT_PID=$!
	local tries=300
	until in_b ss -Hlun | grep -q ":$1 "; do
		tries=$((tries - 1))
		[ $tries -gt 0 ] || return 1
		sleep 0.1
	done
}
# counted N: stops the counter once the sender is done and waits for it
# (not in a subshell: only this shell can wait for it), checks it.
counted() {
	kill -TERM "$COUNT_PID" 2>/dev/null || true
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
	udp_count_b 5353 60
	craft_a 3 "IPv6(src='::ffff:198.18.0.10', dst='fd00:98::2')/UDP(sport=40000, dport=5353)/b'hi'"
	counted 3
	# The denied address, mapped: dropped in XDP, counted as the IPv4 entry's hits.
	udp_count_b 5353 60
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
	udp_count_b 5353 60
	craft_a 3 "IP(src='198.18.0.1', dst='198.18.0.2')/IP(src='198.18.0.77', dst='198.18.0.2')/$udp"
	craft_a 2 "IPv6(src='fd00:98::1', dst='fd00:98::2')/IP(src='198.18.0.77', dst='198.18.0.2')/$udp"
	counted 5
	# A denied sender's tunnels (IP-in-IP, IPv4-in-IPv6, IPv6-in-IPv6) carrying an
	# allowed source, a trusted tunnel carrying a denied source, and tunnels from
	# senders nobody configured: nothing reaches the socket.
	udp_count_b 5353 60
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
	np_b detach "$LAB_VB"
	run np_b attach "$LAB_VB" --mode filter --decap
	[ "$status" -ne 0 ]
	[[ "$output" == *"decap needs the tunnel sources"* ]]
}

# rotate_a FIRST LAST: SYNs from fd00:99::FIRST..LAST of one /64, each to its own closed port of B.
rotate_a() {
	craft_each_a "IPv6(src='fd00:99::%x' % i, dst='fd00:98::2')/TCP(sport=40000, dport=2000 + i, flags='S')" "$1, $2 + 1"
}

@test "attacks: a scanner rotating through its IPv6 /64 is one scanner, and the /64 is blocked" {
	# B answers the rotating sources through A: its resets are the scan's failed probes.
	in_b ip -6 route add fd00:99::/64 via fd00:98::1
	in_b ip -6 route add fd00:97::/64 via fd00:98::1
	# Each address alone (--ipv6-prefix 128), 150 addresses with one port each raise nothing.
	run np_b attach "$LAB_VB" --mode filter --mitigate-unproven --ipv6-prefix 128
	[ "$status" -eq 0 ]
	events_b
	rotate_a 1 150
	events_end
	[ "$(count_of port_scan)" -eq 0 ]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 0 ]
	# The interfaces of one pinned state share one prefix: another is refused, loudly.
	run np_b attach "$LAB_VB" --mode filter --mitigate-unproven --ipv6-prefix 64
	[ "$status" -eq 1 ]
	[[ "$output" == *"counts IPv6 sources by /128"* ]]
	xdp_attached "$LAB_VB"
	run np_b detach "$LAB_VB"
	[ "$status" -eq 0 ]
	# By /64, the default: one scanner, detected and blocked whole.
	run np_b attach "$LAB_VB" --mode filter --mitigate-unproven
	[ "$status" -eq 0 ]
	events_b
	rotate_a 151 300
	events_end
	cat "$EV"
	[ "$(count_of port_scan)" -eq 1 ]
	[ "$(events_of port_scan | jq -r '.[0].src')" = fd00:99::/64 ]
	[ "$(events_of port_scan | jq -r '.[0].src_prefix_len')" = 64 ]
	[ "$(events_of port_scan | jq -r '.[0].blocked')" = true ]
	[ "$(np_b blacklist list --json | jq -r '.entries[0].cidr')" = fd00:99::/64 ]
	# The oracle: B's socket hears no address of the /64, fresh ones included, and hears another /64.
	udp_count_b 5353 60
	craft_each_a "IPv6(src='fd00:99::%x' % i, dst='fd00:98::2')/UDP(sport=40000, dport=5353)/b'hi'" "1000, 1005"
	craft_a 2 "IPv6(src='fd00:97::1', dst='fd00:98::2')/UDP(sport=40000, dport=5353)/b'hi'"
	counted 2
	[ "$(np_b blacklist list --json | jq '.entries[0].hits')" -ge 5 ]
	# The operator lifts it like any entry.
	run np_b blacklist del fd00:99::/64
	[ "$status" -eq 0 ]
	udp_count_b 5353 60
	craft_a 3 "IPv6(src='fd00:99::abcd', dst='fd00:98::2')/UDP(sport=40000, dport=5353)/b'hi'"
	counted 3
	# A SYN flood from 20000 addresses of the /64, one SYN each (2000 a second is the threshold).
	events_b
	in_a "$NPBENCH" send "$LAB_VA" --family 6 --src fd00:99::1:0 --dst fd00:98::2 --proto tcp \
		--tcp-flags 0x02 --dport 80 --flows 20000 >/dev/null
	events_end
	cat "$EV"
	[ "$(count_of syn_flood)" -eq 1 ]
	[ "$(events_of syn_flood | jq -r '.[0].src')" = fd00:99::/64 ]
	[ "$(np_b blacklist list --json | jq -r '.entries[0].origin')" = syn_flood ]
	# All but the threshold's worth were dropped in XDP.
	[ "$(stat_b xdp_drop)" -ge 17000 ]
}

@test "attacks: a flood from rotating addresses of this host's own /64 blocks the sender, not the link" {
	run np_b attach "$LAB_VB" --mode filter --mitigate-unproven --detect syn_flood=100
	[ "$status" -eq 0 ]
	events_b
	# fd00:98::/64 holds B itself (and its neighbour A): never blocked whole.
	craft_each_a "IPv6(src='fd00:98::%x' % i, dst='fd00:98::2')/TCP(sport=40000, dport=80, flags='S')" "0x100, 0x100 + 150"
	events_end
	cat "$EV"
	[ "$(count_of syn_flood)" -eq 1 ]
	# The 100th SYN's sender (fd00:98::163) alone is blocked, and the event names it.
	[ "$(events_of syn_flood | jq -r '.[0].src')" = fd00:98::163 ]
	[ "$(events_of syn_flood | jq -r '.[0].blocked')" = true ]
	[ "$(np_b blacklist list --json | jq -r '[.entries[].cidr] | join(",")')" = fd00:98::163/128 ]
	# A, on the same link, still reaches B.
	run in_a ping -c 1 -W 2 fd00:98::2
	[ "$status" -eq 0 ]
}
