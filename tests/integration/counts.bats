#!/usr/bin/env bats
# Counts are exact: real traffic of known shape over a veth pair, checked
# against independent oracles — the kernel's interface counters for packets,
# tcpdump's capture on the receiving interface for L2 bytes and per-flow counts.

load helpers

setup() {
	lab_setup
	run np_b attach "$LAB_VB"
	[ "$status" -eq 0 ]
}

teardown() {
	lab_teardown
}

# Starts captures of what LAB_VB receives and sends.
start_capture() {
	CAP_DIR=$(mktemp -d)
	# Started without a function in between, so that $! is tcpdump itself (nsenter
	# execs it); fd 3 closed, because bats waits for whoever holds it.
	nsenter --net="/run/netns/$LAB_B" tcpdump --immediate-mode -U -Z root -p -n -i "$LAB_VB" -Q in -w "$CAP_DIR/rx.pcap" -B 65536 \
		2>"$CAP_DIR/rx.log" 3>&- &
	CAP_RX=$!
	nsenter --net="/run/netns/$LAB_B" tcpdump --immediate-mode -U -Z root -p -n -i "$LAB_VB" -Q out -w "$CAP_DIR/tx.pcap" -B 65536 \
		2>"$CAP_DIR/tx.log" 3>&- &
	CAP_TX=$!
	wait_for 50 grep -q listening "$CAP_DIR/rx.log"
	wait_for 50 grep -q listening "$CAP_DIR/tx.log"
}

stop_capture() {
	sleep 0.5
	kill -TERM "$CAP_RX" "$CAP_TX"
	wait "$CAP_RX" "$CAP_TX" || true
	cat "$CAP_DIR/rx.log" "$CAP_DIR/tx.log"
	grep -q '^0 packets dropped by kernel' "$CAP_DIR/rx.log"
	grep -q '^0 packets dropped by kernel' "$CAP_DIR/tx.log"
}

flow_field() { # flow_field JQ_FILTER FIELD: sum of FIELD over matching flows
	np_b flows --json | jq "[.flows[] | select($1) | .$2] | add // 0"
}

# bats test_tags=kernel
@test "rx/tx packets equal the kernel's counters, bytes equal the captured frames, flows equal what was sent" {
	# Quiet link first; then netprobe's baseline and the kernel's, compared as deltas.
	local rx0 tx0 base
	quiesce "$LAB_B" "$LAB_VB"
	base=$(np_b stats --json)
	rx0=$(kstat "$LAB_B" "$LAB_VB" rx_packets)
	tx0=$(kstat "$LAB_B" "$LAB_VB" tx_packets)
	# delta JQ_PATH: how much a counter of netprobe moved during the test.
	delta() { echo $(($(jq "$1" <<<"$stats") - $(jq "$1" <<<"$base"))); }
	start_capture

	# UDP of three sizes (frames of 60, 500 and 1472 bytes), fixed source port.
	# hping3 exits 1 when nothing answers (B's unreachables are rate-limited, and late on
	# a slow machine): its status says nothing of what it sent; the counters below do.
	for d in 18 458 1430; do
		in_a hping3 --udp -q -c 50 -i u2000 -d "$d" -s $((40000 + d)) -k -p 7 198.18.0.2 \
			>/dev/null 2>&1 || true
	done
	# ICMP and ICMPv6 echo.
	in_a ping -q -c 20 -i 0.01 198.18.0.2 >/dev/null
	in_a ping -6 -q -c 20 -i 0.01 fd00:98::2 >/dev/null
	# A real TCP connection: iperf3 for one second.
	in_b iperf3 -s -1 -p 5201 >/dev/null 2>&1 3>&- &
	wait_for 50 in_b bash -c "ss -ltn | grep -q :5201"
	# Paced, so that the capture (the oracle) keeps up with every frame.
	in_a iperf3 -c 198.18.0.2 -p 5201 -t 1 -b 50M >/dev/null
	# VLAN-tagged frames (802.1Q and Q-in-Q) and IPv6 UDP, sent raw.
	in_a "$NPBENCH" send "$LAB_VA" --vlan 100 --count 30 --size 100 --sport 3001 >/dev/null
	in_a "$NPBENCH" send "$LAB_VA" --vlan 100 --vlan 200 --count 20 --size 300 --sport 3002 \
		>/dev/null
	in_a "$NPBENCH" send "$LAB_VA" --family 6 --count 40 --size 200 --sport 3003 >/dev/null
	# Frames from the live-frames generator (XDP_TX on the sending veth).
	in_a "$NPBENCH" send "$LAB_VA" --live --count 1000 --size 64 --sport 3004 >/dev/null
	# Frames cut short (the IP length says more): counted, passed, reported as malformed.
	in_a "$NPBENCH" send "$LAB_VA" --proto tcp --count 10 --size 80 --truncate 44 >/dev/null
	quiesce "$LAB_B" "$LAB_VB"
	stop_capture

	# Read ours between two equal reads of the kernel's, so that a late packet
	# (a retransmission, an MLD report) cannot fall between the two readings.
	local stats rx1 tx1 before tries=30
	while :; do
		before="$(kstat "$LAB_B" "$LAB_VB" rx_packets) $(kstat "$LAB_B" "$LAB_VB" tx_packets)"
		stats=$(np_b stats --json)
		rx1=$(kstat "$LAB_B" "$LAB_VB" rx_packets)
		tx1=$(kstat "$LAB_B" "$LAB_VB" tx_packets)
		[ "$before" != "$rx1 $tx1" ] || break
		tries=$((tries - 1))
		[ $tries -gt 0 ]
		sleep 0.2
	done
	echo "kernel rx $((rx1 - rx0)) tx $((tx1 - tx0)); netprobe: $(jq -c "del(.interfaces[].counters, .total)" <<<"$stats")"

	# Packets: the kernel's own counters of the interface.
	[ "$(delta '.interfaces[0].rx_packets')" -eq $((rx1 - rx0)) ]
	[ "$(delta '.interfaces[0].tx_packets')" -eq $((tx1 - tx0)) ]
	[ $((rx1 - rx0)) -gt 1300 ]
	# Bytes: L2 frame lengths of what tcpdump captured on the interface.
	echo "captured rx $(pcap_frames "$CAP_DIR/rx.pcap") frames $(pcap_bytes "$CAP_DIR/rx.pcap") B," \
		"tx $(pcap_frames "$CAP_DIR/tx.pcap") frames $(pcap_bytes "$CAP_DIR/tx.pcap") B"
	[ "$(delta '.interfaces[0].rx_bytes')" -eq "$(pcap_bytes "$CAP_DIR/rx.pcap")" ]
	[ "$(delta '.interfaces[0].tx_bytes')" -eq "$(pcap_bytes "$CAP_DIR/tx.pcap")" ]
	[ "$(pcap_frames "$CAP_DIR/rx.pcap")" -eq $((rx1 - rx0)) ]
	# Nothing dropped by the monitor; the truncated frames were noticed.
	[ "$(delta '.interfaces[0].xdp_pass')" -eq $((rx1 - rx0)) ]
	[ "$(delta '.interfaces[0].malformed')" -eq 10 ]
	[ "$(delta '.interfaces[0].counters.xdp_malformed_l3_truncated')" -eq 10 ]
	[ "$(delta '.interfaces[0].counters.xdp_vlan_packets')" -eq 50 ]
	[ "$(delta '.total.rx_packets')" -eq $((rx1 - rx0)) ]

	# Flows: each sender's flow holds exactly what it sent.
	for d in 18 458 1430; do
		[ "$(flow_field ".sport == $((40000 + d)) and .direction == \"ingress\"" packets)" -eq 50 ]
		[ "$(flow_field ".sport == $((40000 + d))" bytes)" -eq $((50 * (42 + d))) ]
	done
	[ "$(flow_field '.sport == 3001' packets)" -eq 30 ]
	[ "$(flow_field '.sport == 3001' bytes)" -eq 3000 ]
	[ "$(flow_field '.sport == 3002' packets)" -eq 20 ]
	[ "$(flow_field '.sport == 3003 and .family == "ipv6"' packets)" -eq 40 ]
	# The live frames go through veth's XDP ring, which drops what overflows it
	# on a slow machine (the 6.1 guest under TCG did): the capture says how
	# many arrived, and that is what the flow must hold.
	local live
	live=$(pcap_frames "$CAP_DIR/rx.pcap" -Y 'udp.srcport == 3004')
	echo "live frames: 1000 sent, $live arrived; the flow: $(flow_field '.sport == 3004' packets)"
	[ "$live" -ge 500 ]
	[ "$(flow_field '.sport == 3004' packets)" -eq "$live" ]
	[ "$(flow_field '.sport == 3004' bytes)" -eq $((live * 64)) ]
	# Echo requests by type: the kernel may send MLD reports (ICMPv6 143) of its own.
	[ "$(flow_field '.proto == "icmp" and .icmp_type == 8 and .direction == "ingress"' packets)" -eq 20 ]
	[ "$(flow_field '.proto == "icmpv6" and .icmp_type == 128 and .direction == "ingress"' packets)" -eq 20 ]
	[ "$(flow_field '.proto == "icmp" and .icmp_type == 0 and .direction == "egress"' packets)" -eq 20 ]
	# The TCP connection, both directions, against the capture.
	[ "$(flow_field '.dport == 5201 and .direction == "ingress"' packets)" -eq \
		"$(pcap_frames "$CAP_DIR/rx.pcap" -Y 'tcp.dstport == 5201')" ]
	[ "$(flow_field '.sport == 5201 and .direction == "egress"' bytes)" -eq \
		"$(pcap_bytes "$CAP_DIR/tx.pcap" -Y 'tcp.srcport == 5201')" ]
	[ "$(np_b flows --json | jq '[.flows[] | select(.dport == 5201 and .direction == "ingress") | .tcp_flags] | any(test("S"))')" = true ]
	rm -rf "$CAP_DIR"
}

@test "per-interface and total counters across two interfaces in two namespaces" {
	run in_a "$NP" attach "$LAB_VA"
	[ "$status" -eq 0 ]
	in_a ping -q -c 10 -i 0.01 198.18.0.2 >/dev/null
	local a b
	a=$(in_a "$NP" stats --json)
	b=$(np_b stats --json)
	# Both sides see the same 10 requests and 10 replies, from opposite ends.
	# (ICMP counters: the kernel may add an MLD report of its own.)
	local va='.interfaces[] | select(.name == "'"$LAB_VA"'") | .counters'
	local vb='.interfaces[] | select(.name == "'"$LAB_VB"'") | .counters'
	[ "$(jq "$va.tc_egress_icmp_packets" <<<"$a")" -eq 10 ]
	[ "$(jq "$va.xdp_icmp_packets" <<<"$a")" -eq 10 ]
	[ "$(jq "$vb.xdp_icmp_packets" <<<"$b")" -eq 10 ]
	[ "$(jq "$vb.tc_egress_icmp_packets" <<<"$b")" -eq 10 ]
	[ "$(jq '.total.counters.xdp_icmp_packets' <<<"$b")" -eq 20 ]
	[ "$(jq '.interfaces | length' <<<"$b")" -eq 2 ]
	# Detach one, the other keeps counting; re-attach starts from zero.
	run in_a "$NP" detach "$LAB_VA"
	[ "$status" -eq 0 ]
	[ "$(np_b stats --json | jq '.interfaces | length')" -eq 1 ]
	run in_a "$NP" attach "$LAB_VA"
	[ "$status" -eq 0 ]
	in_a ping -q -c 3 -i 0.01 198.18.0.2 >/dev/null
	[ "$(in_a "$NP" stats "$LAB_VA" --json | jq '.interfaces[0].counters.xdp_icmp_packets')" -eq 3 ]
	[ "$(np_b stats "$LAB_VB" --json | jq '.interfaces[0].counters.xdp_icmp_packets')" -eq 13 ]
}
