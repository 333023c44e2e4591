#!/usr/bin/env bats
# Filter mode against real tools: nmap and hping3 are caught and, with
# mitigation, dropped in XDP (checked against the sender's and the
# receiver's own counters); ordinary traffic raises nothing; the lists drop
# and pass real traffic; the mode switches live without losing a packet.

load helpers

setup() {
	lab_setup
	EV="$BATS_TEST_TMPDIR/events"
}

teardown() {
	lab_teardown
}

# An nftables counter on B's ingress hook: what XDP let through, as the kernel counts it.
# (The second counter: packets from 198.51.100.7, a source the switch test denies.)
ingress_counter_b() {
	ip netns exec "$LAB_B" nft -f - <<-NFT
		table netdev np_oracle {
			chain in {
				type filter hook ingress device "$LAB_VB" priority 0;
				counter
				ip saddr 198.51.100.7 counter
			}
		}
	NFT
}
# ingress_packets_b [N]: the Nth counter (0: every packet).
ingress_packets_b() {
	ip netns exec "$LAB_B" nft -j list table netdev np_oracle |
		jq "[.nftables[] | select(.rule) | .rule.expr[] | select(.counter) | .counter.packets][${1:-0}]"
}

stat_b() { np_b stats --json | jq ".interfaces[0].$1"; }

# Whether a TCP socket of B listens on port $1 (ss exits 0 with or without one).
listening_b() { in_b ss -Hltn | grep -q ":$1 "; }

# prove_a ADDR: A completes a TCP handshake with B at ADDR, as a real client
# would: netprobe then knows A is where it says (not spoofed), and --mitigate
# may block it for the next 10 s.
prove_a() {
	in_b python3 "$BATS_TEST_DIRNAME/peers.py" tcp-accept "$1" 7777 1 3>&- &
	local pid=$!
	wait_for 30 listening_b 7777
	in_a python3 "$BATS_TEST_DIRNAME/peers.py" tcp-connect "$1" 7777 1
	wait $pid
}

@test "filter: nmap -sS raises port_scan for the scanner within a second; a proven source is blocked" {
	run np_b attach "$LAB_VB" --mode filter --mitigate --block-ttl 60
	[ "$status" -eq 0 ]
	prove_a 198.18.0.2
	quiesce "$LAB_B" "$LAB_VB"
	events_b
	local t0
	t0=$(date +%s%N)
	timeout 4 nsenter --net="/run/netns/$LAB_A" nmap -sS -n -Pn -T4 -p 1-1000 198.18.0.2 \
		>/dev/null 2>&1 || true
	events_end
	cat "$EV"
	[ "$(count_of port_scan)" -eq 1 ]
	local ev
	ev=$(events_of port_scan | jq '.[0]')
	[ "$(jq -r .src <<<"$ev")" = 198.18.0.1 ]
	[ "$(jq -r .dst <<<"$ev")" = 198.18.0.2 ]
	[ "$(jq -r .scope <<<"$ev")" = source ]
	[ "$(jq .rate <<<"$ev")" -ge "$(jq .threshold <<<"$ev")" ]
	[ "$(jq .threshold <<<"$ev")" -eq 50 ]
	[ "$(jq .blocked <<<"$ev")" = true ]
	# Within one second of the scan's start (event times are within a tick).
	local took
	took=$(($(jq -e .time_ns <<<"$ev") - t0))
	[ "$took" -ge 0 ] && [ "$took" -lt 1000000000 ]
	# The block: listed with its origin, dropping the scanner's packets.
	run np_b blacklist list --json
	[ "$(jq -r '.entries[0].cidr' <<<"$output")" = 198.18.0.1/32 ]
	[ "$(jq -r '.entries[0].origin' <<<"$output")" = port_scan ]
	[ "$(jq '.entries[0].ttl' <<<"$output")" -le 60 ]
	[ "$(jq '.entries[0].hits' <<<"$output")" -gt 0 ]
	[ "$(stat_b xdp_drop)" -eq "$(jq '.entries[0].hits' <<<"$output")" ]
	[ "$(np_b stats --json | jq .security.detections.port_scan)" -eq 1 ]
	# The operator removes it: the scanner reaches the host again.
	run np_b blacklist del 198.18.0.1/32
	[ "$status" -eq 0 ]
	in_a ping -c 1 -W 2 198.18.0.2
}

@test "filter: nmap -sU from source port 0 is a port scan, though the kernel rate-limits its unreachables" {
	run np_b attach "$LAB_VB" --mode filter
	[ "$status" -eq 0 ]
	local icmp0
	icmp0=$(ip netns exec "$LAB_B" nstat -az IcmpOutDestUnreachs | awk '/IcmpOutDestUnreachs/ {print $2}')
	events_b
	timeout 4 nsenter --net="/run/netns/$LAB_A" nmap -sU -n -Pn -g 0 --max-retries 0 \
		--min-rate 2000 -p 1-300 198.18.0.2 >/dev/null 2>&1 || true
	events_end
	cat "$EV"
	[ "$(count_of port_scan)" -eq 1 ]
	[ "$(events_of port_scan | jq -r '.[0].src')" = 198.18.0.1 ]
	# What B answered: far fewer unreachables than ports (the kernel's rate limit).
	local icmp
	icmp=$(ip netns exec "$LAB_B" nstat -az IcmpOutDestUnreachs | awk '/IcmpOutDestUnreachs/ {print $2}')
	echo "unreachables sent: $((icmp - icmp0))"
	[ $((icmp - icmp0)) -lt 50 ]
}

@test "filter: a SYN scan from a source that proved nothing is alerted, not blocked (it may be spoofed)" {
	run np_b attach "$LAB_VB" --mode filter --mitigate
	[ "$status" -eq 0 ]
	events_b
	timeout 4 nsenter --net="/run/netns/$LAB_A" nmap -sS -n -Pn -T4 -p 1-1000 198.18.0.2 \
		>/dev/null 2>&1 || true
	events_end
	cat "$EV"
	[ "$(count_of port_scan)" -eq 1 ]
	[ "$(events_of port_scan | jq '.[0].blocked')" = false ]
	[ "$(events_of port_scan | jq -r '.[0].not_blocked')" = unproven ]
	[ "$(np_b stats --json | jq .security.blocks_unproven)" -eq 1 ]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 0 ]
	[ "$(stat_b xdp_drop)" -eq 0 ]
}

# bats test_tags=kernel
@test "filter: hping3 SYN flood is caught and dropped in XDP; the counters agree" {
	run np_b attach "$LAB_VB" --mode filter --mitigate
	[ "$status" -eq 0 ]
	prove_a 198.18.0.2
	quiesce "$LAB_B" "$LAB_VB"
	ingress_counter_b
	events_b
	local sent0 rx0
	sent0=$(kstat "$LAB_A" "$LAB_VA" tx_packets)
	rx0=$(stat_b rx_packets)
	timeout -s INT 2 nsenter --net="/run/netns/$LAB_A" hping3 -S -p 80 --flood 198.18.0.2 \
		>/dev/null 2>&1 || true
	events_end
	local sent passed dropped
	sent=$(($(kstat "$LAB_A" "$LAB_VA" tx_packets) - sent0))
	passed=$(ingress_packets_b)
	dropped=$(stat_b xdp_drop)
	echo "sent $sent, passed $passed, dropped $dropped"
	[ "$(count_of syn_flood)" -eq 1 ]
	[ "$(events_of syn_flood | jq -r '.[0].src')" = 198.18.0.1 ]
	[ "$(events_of syn_flood | jq '.[0].blocked')" = true ]
	[ "$sent" -gt 10000 ]
	# Every packet the sender sent was seen by XDP, and either passed or dropped.
	[ $(($(stat_b rx_packets) - rx0)) -eq "$sent" ]
	[ "$dropped" -gt 0 ]
	[ $((passed + dropped)) -eq "$sent" ]
	[ "$(np_b stats --json | jq .security.block_drops)" -eq "$dropped" ]
	# The threshold's worth passed before the block: 2000 SYNs in the window.
	[ "$passed" -le 2100 ]
}

# flood_a_until_blocked ORIGIN HPING3-ARGS...: floods B from A with hping3 until B
# blocks A for ORIGIN (at most 30 s: a slow machine floods slower), then stops it.
flood_a_until_blocked() {
	local origin=$1 blocked=0
	shift
	nsenter --net="/run/netns/$LAB_A" hping3 "$@" --flood 198.18.0.2 >/dev/null 2>&1 3>&- &
	local pid=$!
	wait_for 300 blocked_for "$origin" || blocked=1
	kill -INT "$pid"
	wait "$pid" || true
	return $blocked
}
blocked_for() { [ "$(np_b blacklist list --json | jq -r '.entries[0].origin')" = "$1" ]; }

@test "filter: UDP and ICMP floods from hping3 are caught and blocked" {
	# UDP at 2000 a second, not the default 20000: hping3 in an emulated guest
	# (tests/kernel) sends fewer; the default is met by the IPv6 test's generator.
	run np_b attach "$LAB_VB" --mode filter --mitigate --detect udp_flood=2000
	[ "$status" -eq 0 ]
	prove_a 198.18.0.2
	events_b
	flood_a_until_blocked udp_flood --udp -p 53
	run np_b blacklist del 198.18.0.1
	[ "$status" -eq 0 ]
	flood_a_until_blocked icmp_flood --icmp
	events_end
	cat "$EV"
	[ "$(count_of udp_flood)" -ge 1 ]
	[ "$(events_of udp_flood | jq -r '.[0].src')" = 198.18.0.1 ]
	[ "$(count_of icmp_flood)" -ge 1 ]
	[ "$(events_of icmp_flood | jq -r '.[0].src')" = 198.18.0.1 ]
	[ "$(events_of icmp_flood | jq '.[0].blocked')" = true ]
	[ "$(np_b blacklist list --json | jq -r '.entries[0].origin')" = icmp_flood ]
	[ "$(np_b stats --json | jq .security.block_drops)" -gt 0 ]
}

@test "filter: an IPv6 source is caught: nmap -6 scan, then a UDP flood" {
	run np_b attach "$LAB_VB" --mode filter --mitigate
	[ "$status" -eq 0 ]
	prove_a fd00:98::2
	events_b
	timeout 3 nsenter --net="/run/netns/$LAB_A" nmap -6 -sS -n -Pn -T4 -p 1-200 fd00:98::2 \
		>/dev/null 2>&1 || true
	[ "$(np_b blacklist list --json | jq -r '.entries[0].cidr')" = fd00:98::1/128 ]
	run np_b blacklist del fd00:98::1/128
	[ "$status" -eq 0 ]
	in_a "$NPBENCH" send "$LAB_VA" --family 6 --src fd00:98::1 --dst fd00:98::2 \
		--sport 40000 --dport 53 --count 100000 --live >/dev/null
	events_end
	cat "$EV"
	[ "$(count_of port_scan)" -eq 1 ]
	[ "$(events_of port_scan | jq -r '.[0].src')" = fd00:98::1 ]
	[ "$(count_of udp_flood)" -eq 1 ]
	[ "$(events_of udp_flood | jq -r '.[0].src')" = fd00:98::1 ]
	# 100000 sent, a window's threshold (20000) passed, the rest dropped.
	[ "$(stat_b xdp_drop)" -ge 70000 ]
	[ "$(np_b blacklist list --json | jq -r '.entries[0].origin')" = udp_flood ]
}

@test "filter: ordinary traffic raises no event and blocks nobody (default thresholds)" {
	# Filter and mitigation on both ends: each sees requests one way, replies the other.
	run np_b attach "$LAB_VB" --mode filter --mitigate
	[ "$status" -eq 0 ]
	run in_a "$NP" attach "$LAB_VA" --mode filter --mitigate
	[ "$status" -eq 0 ]
	events_b
	in_b iperf3 -s -1 -D -p 5201
	in_b python3 "$BATS_TEST_DIRNAME/peers.py" udp-echo 198.18.0.2 9999 1000 3>&- &
	in_b python3 "$BATS_TEST_DIRNAME/peers.py" tcp-accept 198.18.0.2 8080 300 3>&- &
	sleep 0.5
	# A bulk TCP transfer for 10 s.
	in_a iperf3 -c 198.18.0.2 -p 5201 -t 10 >/dev/null
	# 1000 small UDP request/response exchanges, each from a new port.
	run in_a python3 "$BATS_TEST_DIRNAME/peers.py" udp-ask 198.18.0.2 9999 1000
	[ "$status" -eq 0 ]
	[ "$output" = "1000 answered" ]
	# Pings, both families.
	in_a ping -c 20 -i 0.05 198.18.0.2 >/dev/null
	in_a ping -6 -c 20 -i 0.05 fd00:98::2 >/dev/null
	# Traceroutes (UDP probes to closed ports, each answered "port unreachable"), twice each.
	for i in 1 2; do
		in_a traceroute -n -q 3 -m 30 198.18.0.2 >/dev/null
		in_a traceroute -6 -n -q 3 -m 30 fd00:98::2 >/dev/null
	done
	# Many short TCP connections.
	run in_a python3 "$BATS_TEST_DIRNAME/peers.py" tcp-connect 198.18.0.2 8080 300
	[ "$status" -eq 0 ]
	[ "$output" = "300 connected" ]
	events_end
	cat "$EV"
	[ "$(jq -s '[.[] | select(.scope)] | length' "$EV")" -eq 0 ]
	run np_b stats --json
	[ "$(jq '.security.detections | add' <<<"$output")" -eq 0 ]
	[ "$(jq '.security.lists.blocks' <<<"$output")" -eq 0 ]
	[ "$(jq '.total.xdp_drop' <<<"$output")" -eq 0 ]
	# Both interfaces share the pin path: B's stats cover A too.
	[ "$(jq '.interfaces | length' <<<"$output")" -eq 2 ]
	[ "$(jq '.total.rx_packets' <<<"$output")" -gt 100000 ]
}

@test "filter: a load generator's completed connections are no SYN flood, at many times the threshold" {
	# A SYN flood threshold of 50 a second, and one client making 2000 real
	# connections as fast as it can: each handshake completes, so none counts.
	run np_b attach "$LAB_VB" --mode filter --mitigate-unproven --detect syn_flood=50/1000 \
		--detect syn_flood_dst=50/1000
	[ "$status" -eq 0 ]
	in_b python3 "$BATS_TEST_DIRNAME/peers.py" tcp-accept 198.18.0.2 8080 2000 3>&- &
	wait_for 30 listening_b 8080
	local t0 t1
	t0=$(date +%s%N)
	run in_a python3 "$BATS_TEST_DIRNAME/peers.py" tcp-connect 198.18.0.2 8080 2000
	t1=$(date +%s%N)
	[ "$status" -eq 0 ]
	[ "$output" = "2000 connected" ]
	echo "connections a second: $((2000 * 1000000000 / (t1 - t0)))"
	# Fast enough that counting SYNs alone would have been a flood, five times over
	# (measured: 1100 to 3500 a second here, about 500 in an emulated 6.1 guest).
	[ $((2000 * 1000000000 / (t1 - t0))) -ge 250 ]
	run np_b stats --json
	[ "$(jq '.security.handshakes_completed' <<<"$output")" -ge 2000 ]
	[ "$(jq '.security.detections.syn_flood' <<<"$output")" -eq 0 ]
	[ "$(jq '.security.lists.blocks' <<<"$output")" -eq 0 ]
	[ "$(jq '.total.xdp_drop' <<<"$output")" -eq 0 ]
}

@test "filter: a fast UDP download this host asked for is no flood; a flood on a flow it asked once is" {
	run np_b attach "$LAB_VB" --mode filter --mitigate
	[ "$status" -eq 0 ]
	events_b
	# B downloads from A (a QUIC-like session on 443): B acknowledges as it
	# goes, 2000 datagrams for A's 100000 (five times the per-source UDP
	# threshold); TC egress records B's flow.
	in_b "$NPBENCH" send "$LAB_VB" --src 198.18.0.2 --dst 198.18.0.1 --sport 50123 \
		--dport 443 --count 2000 >/dev/null
	in_a "$NPBENCH" send "$LAB_VA" --src 198.18.0.1 --dst 198.18.0.2 --sport 443 \
		--dport 50123 --count 100000 --live >/dev/null
	sleep 0.5
	[ "$(count_of udp_flood)" -eq 0 ]
	[ "$(stat_b xdp_drop)" -eq 0 ]
	# One datagram asked excuses its answers, not 100000 on the same 5-tuple:
	# a flood, and not blocked, since B itself opened a flow to A (a peer).
	in_b "$NPBENCH" send "$LAB_VB" --src 198.18.0.2 --dst 198.18.0.1 --sport 50124 \
		--dport 443 --count 1 >/dev/null
	in_a "$NPBENCH" send "$LAB_VA" --src 198.18.0.1 --dst 198.18.0.2 --sport 443 \
		--dport 50124 --count 100000 --live >/dev/null
	events_end
	cat "$EV"
	local ev
	ev=$(jq -s '[.[] | select(.type == "udp_flood" and .scope == "source")]' "$EV")
	[ "$(jq length <<<"$ev")" -eq 1 ]
	[ "$(jq -r '.[0].src' <<<"$ev")" = 198.18.0.1 ]
	[ "$(jq '.[0].blocked' <<<"$ev")" = false ]
	[ "$(jq -r '.[0].not_blocked' <<<"$ev")" = peer ]
	[ "$(stat_b xdp_drop)" -eq 0 ]
}

# bats test_tags=kernel
@test "filter: the lists drop and pass real traffic, count hits, expire, allow wins" {
	run np_b attach "$LAB_VB" --mode filter
	[ "$status" -eq 0 ]
	in_a ping -c 1 -W 2 198.18.0.2
	run np_b blacklist add 198.18.0.0/24
	[ "$status" -eq 0 ]
	run ! in_a ping -c 3 -i 0.2 -W 1 198.18.0.2
	[ "$(np_b blacklist list --json | jq '.entries[0].hits')" -eq 3 ]
	# Allow wins over deny, whatever the lengths.
	run np_b allowlist add 198.18.0.1
	[ "$status" -eq 0 ]
	in_a ping -c 2 -i 0.2 -W 2 198.18.0.2
	[ "$(np_b allowlist list --json | jq '.entries[0].hits')" -ge 2 ]
	run np_b allowlist del 198.18.0.1
	[ "$status" -eq 0 ]
	# IPv6 too, and a TTL: gone from the datapath and the listing when it runs out.
	in_a ping -6 -c 1 -W 2 fd00:98::2
	run np_b blacklist add fd00:98::/64 --ttl 5
	[ "$status" -eq 0 ]
	run ! in_a ping -6 -c 1 -W 1 fd00:98::2
	# One listing for both (a slow machine may take seconds between two).
	entry=$(np_b blacklist list --json | jq -c '[.entries[] | select(.cidr == "fd00:98::/64")][0]')
	[ "$(jq .ttl <<<"$entry")" -le 5 ]
	[ "$(jq .hits <<<"$entry")" -eq 1 ]
	# Its TTL runs out: gone from the listing (bounded wait), then from the datapath.
	local tries=100
	while np_b blacklist list --json | jq -e '.entries[] | select(.cidr == "fd00:98::/64")' \
		>/dev/null; do
		tries=$((tries - 1))
		[ $tries -gt 0 ]
		sleep 0.1
	done
	in_a ping -6 -c 1 -W 2 fd00:98::2
	[ "$(np_b blacklist list --json | jq '[.entries[] | select(.cidr == "fd00:98::/64")] | length')" -eq 0 ]
	# A blocklist file: comments after '#' or ';', blank lines. Applied again
	# (a daily refresh), what is listed already is skipped; a bad line stops it.
	printf '# a blocklist\n192.0.2.0/24 ; SBL1\n\n  203.0.113.9  # one host\n2001:db8::/48\n' \
		>"$BATS_TEST_TMPDIR/list"
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/list"
	[ "$status" -eq 0 ]
	[[ "$output" == *"added 3 entries from"*"0 already listed)"* ]]
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/list"
	[ "$status" -eq 0 ]
	[[ "$output" == *"added 0 entries from"*"3 already listed)"* ]]
	[[ "$output" != *"error"* ]]
	# With a TTL, a refreshed list renews what it lists with a TTL (never
	# shorter); entries without one keep none.
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/list" --ttl 3600
	[ "$status" -eq 0 ]
	[[ "$output" == *"(0 renewed, 3 already listed)"* ]]
	[ "$(np_b blacklist list --json | jq '[.entries[] | select(.ttl != null)] | length')" -eq 0 ]
	run np_b blacklist del --file "$BATS_TEST_TMPDIR/list"
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed 3 entries from"* ]]
	np_b blacklist add --file "$BATS_TEST_TMPDIR/list" --ttl 60
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/list" --ttl 3600
	[ "$status" -eq 0 ]
	[[ "$output" == *"(3 renewed, 0 already listed)"* ]]
	[ "$(np_b blacklist list --json | jq '[.entries[] | select(.ttl > 3000)] | length')" -eq 3 ]
	# Bad lines fail the whole file, each named with its line: nothing is added.
	printf '198.51.100.0/24\n198.51.100.1/24\n10.0.0.0/8\nbogus\n' >"$BATS_TEST_TMPDIR/bad"
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/bad"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad:2: '198.51.100.1/24' is no address or CIDR"* ]]
	[[ "$output" == *"host bits set"* ]]
	[[ "$output" == *"bad:4: 'bogus' is no address or CIDR"* ]]
	[[ "$output" == *"2 bad lines; nothing applied"* ]]
	[ "$(np_b blacklist list --json | jq '[.entries[] | select(.cidr == "198.51.100.0/24")] | length')" -eq 0 ]
	# So does an entry of the other list.
	np_b allowlist add 198.51.100.128/25
	printf '198.51.100.0/24\n198.51.100.128/25\n' >"$BATS_TEST_TMPDIR/other"
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/other"
	[ "$status" -eq 1 ]
	[[ "$output" == *"other:2: 198.51.100.128/25: on the other list; nothing added"* ]]
	[ "$(np_b blacklist list --json | jq '[.entries[] | select(.cidr == "198.51.100.0/24")] | length')" -eq 0 ]
	np_b allowlist del 198.51.100.128/25
	run np_b blacklist add --file /nonexistent
	[ "$status" -eq 1 ]
	# A comment of any length stays a comment: text past byte 511 of a long
	# line is no entry of its own (a crafted allow list once slipped in
	# 0.0.0.0/0 that way); an over-long entry is an error naming its line.
	{ printf '#%0510d' 0; printf '0.0.0.0/0\n'; } >"$BATS_TEST_TMPDIR/long"
	run np_b allowlist add --file "$BATS_TEST_TMPDIR/long"
	[ "$status" -eq 0 ]
	[[ "$output" == *"added 0 entries from"* ]]
	[[ "$output" == *"warning: "*"long holds no entries"* ]]
	[ "$(np_b allowlist list --json | jq '.entries | length')" -eq 0 ]
	{ printf '192.0.2.7\n'; printf '%0700d\n' 1; } >"$BATS_TEST_TMPDIR/huge"
	run np_b allowlist add --file "$BATS_TEST_TMPDIR/huge"
	[ "$status" -eq 1 ]
	[[ "$output" == *"huge:2: an entry of 700 characters is no address or CIDR"* ]]
	[ "$(np_b allowlist list --json | jq '.entries | length')" -eq 0 ]
	# One entry a line: "5.6.7.0 /24" or a DShield range must not quietly become a /32.
	printf '5.6.7.0 /24\n' >"$BATS_TEST_TMPDIR/split"
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/split"
	[ "$status" -eq 1 ]
	[[ "$output" == *"split:1: '/24' follows the entry 5.6.7.0"* ]]
	printf '1.2.3.0\t1.2.3.255\t24\n' >"$BATS_TEST_TMPDIR/dshield"
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/dshield"
	[ "$status" -eq 1 ]
	[[ "$output" == *"dshield:1: "*"follows the entry 1.2.3.0"* ]]
	[ "$(np_b blacklist list --json | jq '[.entries[] | select(.cidr == "5.6.7.0/32" or .cidr == "1.2.3.0/32")] | length')" -eq 0 ]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 4 ]
	# The lists outlive the attachment; the pinned state stays while they have entries.
	run np_b detach --all
	[ "$status" -eq 0 ]
	run ! xdp_attached "$LAB_VB"
	[ -e "$NETPROBE_PIN_PATH" ]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 4 ]
	run np_b blacklist del --all
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed 4 entries"* ]]
	[ ! -e "$NETPROBE_PIN_PATH" ]
}

@test "filter: live mode switch under a steady stream: sent = received + dropped" {
	run np_b attach "$LAB_VB" --mode monitor
	[ "$status" -eq 0 ]
	run np_b blacklist add 198.51.100.0/24
	[ "$status" -eq 0 ]
	quiesce "$LAB_B" "$LAB_VB"
	ingress_counter_b
	local link_id prog0 sent0
	link_id=$(bpftool -j link show pinned "$NETPROBE_PIN_PATH/links/slot0_xdp" | jq .id)
	prog0=$(bpftool -j link show pinned "$NETPROBE_PIN_PATH/links/slot0_xdp" | jq .prog_id)
	sent0=$(kstat "$LAB_A" "$LAB_VA" tx_packets)
	# Two streams: one from a denied source, one clean, while the mode flips 6 times.
	in_a "$NPBENCH" send "$LAB_VA" --src 198.51.100.7 --dst 198.18.0.2 --count 8000000 \
		--live >/dev/null 3>&- &
	local s1=$!
	in_a "$NPBENCH" send "$LAB_VA" --src 198.18.0.1 --dst 198.18.0.2 --count 8000000 \
		--live >/dev/null 3>&- &
	local s2=$!
	# Flip the mode for as long as the streams run (bounded by the streams).
	local mode=filter switches=0
	while kill -0 $s1 2>/dev/null || kill -0 $s2 2>/dev/null; do
		run np_b attach "$LAB_VB" --mode "$mode"
		[ "$status" -eq 0 ]
		switches=$((switches + 1))
		if [ $mode = filter ]; then mode=monitor; else mode=filter; fi
	done
	echo "$switches switches"
	[ "$switches" -ge 2 ]
	np_b attach "$LAB_VB" --mode monitor
	wait $s1 $s2
	sleep 0.2
	local sent received dropped denied_passed
	sent=$(($(kstat "$LAB_A" "$LAB_VA" tx_packets) - sent0))
	received=$(ingress_packets_b)
	denied_passed=$(ingress_packets_b 1)
	dropped=$(stat_b xdp_drop)
	echo "sent $sent received $received dropped $dropped denied-but-passed $denied_passed"
	# (The generator's frames that the veth ring could not take never count as sent.)
	[ "$sent" -gt 1000000 ]
	# The switches fell inside the stream: the denied source was dropped in
	# filter mode and passed in monitor mode.
	[ "$dropped" -gt 0 ]
	[ "$denied_passed" -gt 0 ]
	[ $((received + dropped)) -eq "$sent" ]
	[ "$(stat_b rx_packets)" -eq "$sent" ]
	# The same link all along, with a new program in it; the list survived.
	[ "$(bpftool -j link show pinned "$NETPROBE_PIN_PATH/links/slot0_xdp" | jq .id)" -eq "$link_id" ]
	[ "$(bpftool -j link show pinned "$NETPROBE_PIN_PATH/links/slot0_xdp" | jq .prog_id)" -ne "$prog0" ]
	[ "$(np_b blacklist list --json | jq '.entries[0].hits')" -eq "$dropped" ]
	[ "$(np_b status --json | jq -r '.interfaces[0].mode')" = monitor ]
}

# bats test_tags=kernel
@test "filter: generic XDP and clsact: the switch replaces the clsact filters in place" {
	run np_b attach "$LAB_VB" --mode monitor --xdp-mode generic --tc-mode clsact
	[ "$status" -eq 0 ]
	local before
	before=$(ip netns exec "$LAB_B" tc -j filter show dev "$LAB_VB" ingress | jq '[.[] | select(.options.bpf_name)] | .[0].options.prog.id')
	run np_b blacklist add 198.18.0.1
	[ "$status" -eq 0 ]
	in_a ping -c 1 -W 2 198.18.0.2
	run np_b attach "$LAB_VB" --mode filter --xdp-mode generic
	[ "$status" -eq 0 ]
	run ! in_a ping -c 1 -W 1 198.18.0.2
	[ "$(stat_b xdp_drop)" -eq 1 ]
	[ "$(np_b stats --json | jq -r '.interfaces[0].xdp_attach')" = generic ]
	# One netprobe filter on each clsact hook, with a new program in it.
	[ "$(ip netns exec "$LAB_B" tc -j filter show dev "$LAB_VB" ingress | jq '[.[] | select(.options.bpf_name)] | length')" -eq 1 ]
	[ "$(ip netns exec "$LAB_B" tc -j filter show dev "$LAB_VB" ingress | jq '[.[] | select(.options.bpf_name)] | .[0].options.prog.id')" -ne "$before" ]
	run np_b detach --all
	[ "$status" -eq 0 ]
	[ -z "$(ip netns exec "$LAB_B" tc qdisc show dev "$LAB_VB" | grep clsact)" ]
	run np_b blacklist del 198.18.0.1
	[ "$status" -eq 0 ]
}

@test "filter: a command's CIDRs go all or none; --continue and --update are explicit; TTLs change only when asked" {
	run np_b blacklist list
	[ "$status" -eq 0 ]
	[ "$output" = "no entries" ]
	np_b blacklist add 192.0.2.2
	# One listed already: nothing of the command applies.
	run np_b blacklist add 192.0.2.1 192.0.2.2 192.0.2.3
	[ "$status" -eq 1 ]
	[[ "$output" == *"192.0.2.2/32 is already on the deny list"* ]]
	[[ "$output" == *"nothing added"* ]]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 1 ]
	# The same with --continue: the others go in, the one that failed is said.
	run np_b blacklist add 192.0.2.1 192.0.2.2 192.0.2.3 --continue
	[ "$status" -eq 1 ]
	[[ "$output" == *"added 192.0.2.1"*"added 192.0.2.3"* ]]
	[[ "$output" == *"1 of 3 not added"* ]]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 3 ]
	# del: one not listed, nothing removed.
	run np_b blacklist del 192.0.2.1 192.0.2.9
	[ "$status" -eq 1 ]
	[[ "$output" == *"nothing removed"* ]]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 3 ]
	run np_b blacklist del 192.0.2.1 192.0.2.3 192.0.2.1
	[ "$status" -eq 0 ]
	[ "$(grep -c removed <<<"$output")" -eq 2 ]
	# A TTL changes only with --update: given, changed, taken away (permanent).
	run np_b blacklist add 192.0.2.2 --ttl 200
	[ "$status" -eq 1 ]
	run np_b blacklist add 192.0.2.2 --ttl 200 --update
	[ "$status" -eq 0 ]
	[[ "$output" == *"added 0, updated 1"* ]]
	local ttl
	ttl=$(np_b blacklist list --json | jq '.entries[] | select(.cidr == "192.0.2.2/32") | .ttl')
	[ "$ttl" -gt 190 ] && [ "$ttl" -le 200 ]
	np_b blacklist add 192.0.2.2 --update
	[ "$(np_b blacklist list --json | jq '.entries[] | select(.cidr == "192.0.2.2/32") | .ttl')" = null ]
	# A file with a TTL leaves a permanent entry permanent, and its creation time as it was.
	local created
	# Its creation time, read again: kept (to the clock conversion's jitter, 5 ms at most:
	# a listing turns the kernel's monotonic time into wall time as it reads).
	created=$(np_b blacklist list --json | jq '.entries[] | select(.cidr == "192.0.2.2/32") | .created_ns')
	printf '192.0.2.2\n192.0.2.4\n' >"$BATS_TEST_TMPDIR/l"
	run np_b blacklist add --file "$BATS_TEST_TMPDIR/l" --ttl 100
	[ "$status" -eq 0 ]
	[[ "$output" == *"added 1 entry"*"1 already listed"* ]]
	[ "$(np_b blacklist list --json | jq '.entries[] | select(.cidr == "192.0.2.2/32") | .ttl')" = null ]
	np_b blacklist list --json | jq -e --argjson was "$created" \
		'.entries[] | select(.cidr == "192.0.2.2/32") | (.created_ns - $was) | fabs < 5e6'
	# Times for people are UTC ISO 8601.
	[[ "$(np_b blacklist list --json | jq -r '.entries[0].created')" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$ ]]
	run np_b blacklist add 192.0.2.5 --file "$BATS_TEST_TMPDIR/l"
	[ "$status" -eq 2 ]
	run np_b blacklist del 192.0.2.5 --update
	[ "$status" -eq 2 ]
	run np_b blacklist del --all
	[ "$status" -eq 0 ]
}

@test "filter: bad input to blacklist, allowlist and attach --detect" {
	for bad in "" abc 10.0.0/8 10.0.0.0/33 10.0.0.0/-1 1.2.3.4/ 10.0.0.1/8 ::1/129 2001:db8::1/32; do
		run np_b blacklist add "$bad"
		[ "$status" -eq 1 ]
		[[ "$output" == *"error"* ]]
	done
	run np_b blacklist add 10.0.0.1/8
	[[ "$output" == *"host bits set; the network is 10.0.0.0/8"* ]]
	run np_b blacklist add 10.0.0.0/8
	[ "$status" -eq 0 ]
	run np_b blacklist add 10.0.0.0/8
	[ "$status" -eq 1 ]
	[[ "$output" == *"already on the deny list"* ]]
	run np_b allowlist add 10.0.0.0/8
	[ "$status" -eq 1 ]
	[[ "$output" == *"already on the deny list"* ]]
	run np_b allowlist del 10.0.0.0/8
	[ "$status" -eq 1 ]
	[[ "$output" == *"not on the allow list (it is on the deny list)"* ]]
	run np_b blacklist del 10.9.0.0/16
	[ "$status" -eq 1 ]
	run np_b blacklist add 10.1.0.0/16 --ttl x
	[ "$status" -eq 2 ]
	run np_b blacklist add 10.1.0.0/16 --ttl 999999999
	[ "$status" -eq 2 ]
	run np_b blacklist list 10.0.0.0/8
	[ "$status" -eq 2 ]
	run np_b blacklist frob
	[ "$status" -eq 2 ]
	run np_b blacklist add
	[ "$status" -eq 2 ]
	run np_b blacklist add --all
	[ "$status" -eq 2 ]
	run np_b blacklist del 10.0.0.0/8 --all
	[ "$status" -eq 2 ]
	run np_b blacklist list --file x
	[ "$status" -eq 2 ]
	run np_b allowlist
	[ "$status" -eq 2 ]
	for bad in syn_flood frob=1 syn_flood=0 syn_flood=x port_scan=10/5 "rate_anomaly=1/"; do
		run np_b attach "$LAB_VB" --mode filter --detect "$bad"
		[ "$status" -eq 2 ]
	done
	# Past what the library takes: refused before anything is attached, as a bad command line.
	run np_b attach "$LAB_VB" --mode filter --detect port_scan=300
	[ "$status" -eq 2 ]
	[[ "$output" == *"256 distinct ports"* ]]
	# Filter settings without the filter mode, and a typo among the names.
	run np_b attach "$LAB_VB" --mitigate
	[ "$status" -eq 2 ]
	run np_b attach "$LAB_VB" --mode filter nosuch0
	[ "$status" -eq 1 ]
	[ "$(grep -c 'no interface named nosuch0' <<<"$output")" -eq 1 ]
	run np_b attach "$LAB_VB" --mode filter --detect rate_anomaly=50
	[ "$status" -eq 2 ]
	run ! xdp_attached "$LAB_VB"
	run np_b blacklist del 10.0.0.0/8
	[ "$status" -eq 0 ]
	[ ! -e "$NETPROBE_PIN_PATH" ]
}
