#!/usr/bin/env bats
# Load balancer mode in a lab of namespaces (lb_lab.bash): a client, netprobe
# in lb mode, four backends running real servers (lb_peers.py) behind
# IP-in-IP. What the client got and what the servers counted are the
# oracles for netprobe's own statistics.

load helpers
load lb_lab

VIP=10.99.0.1:80/tcp

setup() {
	LB_ID=$(printf '%x%x' "$$" "${BATS_TEST_NUMBER:-0}")
	# The flood test's load balancer remembers few flows: a small flood evicts them.
	case "$BATS_TEST_DESCRIPTION" in *"spoofed flows"*) LB_CONN_TABLE=1024 ;; esac
	lb_lab_setup
}

teardown() {
	lb_lab_teardown
}

np_lb() { lb_in lb "$NP" "$@"; }
client() { lb_in client python3 "$LB_PEERS" "$@"; }

# backend_json FIELD K: a field of backend 10.78.K.2 (or fd78:K::2) of VIP $VIP in lb stats --json.
backend_json() {
	np_lb lb stats --json |
		jq -r --arg v "$VIP" --arg b "$2" \
			".vips[] | select(.vip == \$v) | .backends[] | select(.address == \$b) | .$1"
}

# share NAME FILE: the fraction of connections a backend got, from a client's JSON.
share() { jq -r --arg n "$1" '(.backends[$n] // 0) / ([.backends[]] | add)' "$2"; }

# moved A B: the fraction of source ports whose backend differs between two rounds.
moved() {
	jq -s '.[0].by_sport as $a | .[1].by_sport as $b |
		([$a | keys[] | select($a[.] != $b[.])] | length) / ($a | length)' "$1" "$2"
}

# bats test_tags=kernel
@test "lb: 3000 TCP connections all succeed, split by weight; stats match the servers and the client's capture" {
	np_lb lb vip add "$VIP"
	np_lb lb backend add "$VIP" 10.78.1.2 --weight 1
	np_lb lb backend add "$VIP" 10.78.2.2 --weight 2
	np_lb lb backend add "$VIP" 10.78.3.2 --weight 3
	lb_serve 80
	# nsenter runs tcpdump in its own process: $! is tcpdump's.
	nsenter --net="/run/netns/$(lb_ns client)" tcpdump -i "c0$LB_ID" -B 65536 -w "$LB_STATE/c.pcap" \
		-U "dst host 10.99.0.1 and tcp dst port 80" 2>"$LB_STATE/tcpdump.err" 3>&- &
	local dump=$!
	sleep 1
	client connect 10.99.0.1 80 3000 >"$LB_STATE/round.json"
	# Full-size frames too: encapsulated, they need the backends' larger MTU.
	client connect 10.99.0.1 80 5 --upload 300000 >"$LB_STATE/upload.json"
	[ "$(jq .failed "$LB_STATE/upload.json")" -eq 0 ]
	sleep 1.5
	kill -INT $dump
	wait $dump || true

	[ "$(jq .failed "$LB_STATE/round.json")" -eq 0 ]
	[ "$(jq '[.backends[]] | add' "$LB_STATE/round.json")" -eq 3000 ]
	# Within 5 percentage points of the weights (1/6, 2/6, 3/6).
	for k in 1 2 3; do
		awk -v s="$(share "b$k" "$LB_STATE/round.json")" -v w="$k" \
			'BEGIN { exit !(s > w / 6 - 0.05 && s < w / 6 + 0.05) }'
		# The Maglev table itself is split by weight.
		awk -v e="$(backend_json table_entries "10.78.$k.2")" -v w="$k" \
			'BEGIN { exit !(e / 65537 > w / 6 - 0.01 && e / 65537 < w / 6 + 0.01) }'
	done
	# Each backend's new connections = what its server accepted = what the client saw there.
	for k in 1 2 3; do
		local accepted seen
		accepted=$(jq .accepted "$LB_STATE/b$k-80.json")
		seen=$(jq -s ".[0].backends.b$k + (.[1].backends.b$k // 0)" \
			"$LB_STATE/round.json" "$LB_STATE/upload.json")
		[ "$(backend_json new_conns "10.78.$k.2")" -eq "$accepted" ]
		[ "$accepted" -eq "$seen" ]
	done
	[ "$(np_lb lb stats --json | jq '[.vips[0].backends[].new_conns] | add')" -eq 3005 ]
	# Every packet the client sent to the VIP was counted, and went to a backend.
	local sent
	sent=$(pcap_frames "$LB_STATE/c.pcap")
	# The capture is complete: all the filter took was written, nothing dropped.
	cat "$LB_STATE/tcpdump.err"
	grep -q "^0 packets dropped by kernel" "$LB_STATE/tcpdump.err"
	[ "$(awk '/packets captured/ {print $1}' "$LB_STATE/tcpdump.err")" -eq \
		"$(awk '/received by filter/ {print $1}' "$LB_STATE/tcpdump.err")" ]
	echo "sent $sent, netprobe: $(np_lb lb stats --json | jq -c '[.vips[0].packets, .vips[0].backends[].packets]')"
	[ "$sent" -gt 15000 ]
	[ "$(np_lb lb stats --json | jq '.vips[0].packets')" -eq "$sent" ]
	[ "$(np_lb lb stats --json | jq '[.vips[0].backends[].packets] | add')" -eq "$sent" ]
	[ "$(np_lb lb stats --json | jq '.vips[0].drops')" -eq 0 ]
	# stats --json carries the same, and the interface's counters.
	np_lb stats --json | jq -e --arg l "l0$LB_ID" --argjson n "$sent" \
		'(.lb.vips[0].packets == $n) and
		 (.interfaces[] | select(.name == $l) | .counters.lb_forwarded == $n and
		  .counters.lb_new_conns == 3005)'
}

# "OURS THEIRS": netprobe's RX count of the LB's interface IF, read between two
# equal reads of the kernel's, so that a frame of the link's own chatter (an
# MLD report) cannot fall between the two readings.
rx_pair() {
	local before after ours tries=30
	while [ $tries -gt 0 ]; do
		before=$(kstat "$(lb_ns lb)" "$1" rx_packets)
		ours=$(np_lb stats --json | jq --arg l "$1" '.interfaces[] | select(.name == $l) | .rx_packets')
		after=$(kstat "$(lb_ns lb)" "$1" rx_packets)
		[ "$before" = "$after" ] && { echo "$ours $after"; return 0; }
		tries=$((tries - 1))
		sleep 0.2
	done
	return 1
}

@test "lb: non-VIP traffic passes untouched and the monitor still counts every frame" {
	np_lb lb vip add "$VIP"
	np_lb lb backend add "$VIP" 10.78.1.2
	lb_serve 80
	local l0="l0$LB_ID" st mine0 theirs0 mine theirs
	# (The kernel counted the link's own chatter before netprobe was attached.)
	read -r mine0 theirs0 < <(rx_pair "$l0")
	# Not the VIP: the LB itself.
	lb_in client ping -c 20 -i 0.01 -q 10.77.0.1
	lb_in lb python3 "$ROOT/tests/integration/peers.py" tcp-accept 10.77.0.1 8000 20 3>&- &
	sleep 0.3
	run client connect 10.77.0.1 8000 20
	[ "$(echo "$output" | jq .failed)" -eq 0 ]
	run client connect 10.99.0.1 80 10
	[ "$(echo "$output" | jq .failed)" -eq 0 ]
	st=$(np_lb stats --json)
	echo "$st" | jq -e --arg l "$l0" '.interfaces[] | select(.name == $l) |
		.counters.lb_forwarded > 0 and .counters.lb_vip_packets == .counters.lb_forwarded'
	# Flows to the LB itself are in the monitor's table; forwarded ones are not
	# (the backends' netprobe records them, as what the tunnel carried).
	np_lb flows "$l0" --json | jq -e '[.flows[] | select(.dst == "10.77.0.1" and .dport == 8000)] | length == 20'
	np_lb flows "$l0" --json | jq -e '[.flows[] | select(.dst == "10.99.0.1")] | length == 0'
	lb_in b1 "$NP" flows "b1$LB_ID" --json | jq -e '[.flows[] | select(.dst == "10.99.0.1" and .dport == 80)] | length == 10'
	# status says which interfaces unwrap.
	lb_in b1 "$NP" status --json | jq -e --arg b "b1$LB_ID" --arg l "l0$LB_ID" \
		'[.interfaces[] | select(.name == $b) | .decap] == [true] and
		 [.interfaces[] | select(.name == $l) | .decap] == [false]'
	# The monitor's RX count is the kernel's (XDP sees every frame, forwarded or not).
	read -r mine theirs < <(rx_pair "$l0")
	echo "netprobe rx $mine - $mine0, kernel rx $theirs - $theirs0"
	[ $((mine - mine0)) -eq $((theirs - theirs0)) ]
	[ $((mine - mine0)) -gt 150 ]
}

@test "lb: a 5-tuple keeps its backend; one backend more or less moves at most 1/N + 2% of new flows and breaks no connection; a drained backend gets no new ones" {
	np_lb lb vip add "$VIP"
	for k in 1 2 3; do np_lb lb backend add "$VIP" "10.78.$k.2"; done
	lb_serve 80
	# Connections held open and asked again and again while the backends change.
	lb_in client python3 "$LB_PEERS" hold 10.99.0.1 80 60 "$LB_STATE/stop" \
		>"$LB_STATE/hold" 2>&1 3>&- &
	local holder=$!
	wait_for 100 grep -q ready "$LB_STATE/hold"

	client connect 10.99.0.1 80 2000 --sport-base 20000 >"$LB_STATE/r1"
	client connect 10.99.0.1 80 2000 --sport-base 20000 >"$LB_STATE/r2"
	[ "$(jq .failed "$LB_STATE/r1")" -eq 0 ]
	# The same tuples, the same backends.
	[ "$(moved "$LB_STATE/r1" "$LB_STATE/r2")" = 0 ]

	np_lb lb backend add "$VIP" 10.78.4.2
	client connect 10.99.0.1 80 2000 --sport-base 20000 >"$LB_STATE/r3"
	[ "$(jq .failed "$LB_STATE/r3")" -eq 0 ]
	local m
	m=$(moved "$LB_STATE/r1" "$LB_STATE/r3")
	echo "added one of 3: $m moved" >&3
	# The ideal is the new backend's share, 1/4; the bound is its 1/N + 2 %.
	awk -v m="$m" 'BEGIN { exit !(m > 0.1 && m <= 1 / 4 + 0.02) }'
	# What moved, moved to the new backend, bar Maglev's small reshuffle.
	local to_new
	to_new=$(jq -s '.[0].by_sport as $a | .[1].by_sport as $b |
		[$a | keys[] | select($a[.] != $b[.]) | $b[.]] | (map(select(. == "b4")) | length) / length' \
		"$LB_STATE/r1" "$LB_STATE/r3")
	echo "of which to the new backend: $to_new" >&3
	awk -v t="$to_new" 'BEGIN { exit !(t >= 0.98) }'

	np_lb lb backend del "$VIP" 10.78.4.2
	client connect 10.99.0.1 80 2000 --sport-base 20000 >"$LB_STATE/r4"
	[ "$(jq .failed "$LB_STATE/r4")" -eq 0 ]
	m=$(moved "$LB_STATE/r3" "$LB_STATE/r4")
	echo "removed one of 4: $m moved" >&3
	awk -v m="$m" 'BEGIN { exit !(m > 0.1 && m <= 1 / 4 + 0.02) }'

	# Drained: no new connection, while the held ones on it keep working.
	local before
	before=$(backend_json new_conns 10.78.2.2)
	np_lb lb backend drain "$VIP" 10.78.2.2
	[ "$(backend_json state 10.78.2.2)" = draining ]
	[ "$(backend_json table_entries 10.78.2.2)" -eq 0 ]
	client connect 10.99.0.1 80 500 >"$LB_STATE/r5"
	[ "$(jq .failed "$LB_STATE/r5")" -eq 0 ]
	[ "$(jq '.backends.b2 // 0' "$LB_STATE/r5")" -eq 0 ]
	[ "$(backend_json new_conns 10.78.2.2)" -eq "$before" ]
	sleep 0.5

	touch "$LB_STATE/stop"
	wait $holder
	local held
	held=$(tail -1 "$LB_STATE/hold")
	echo "held: $held" >&3
	echo "$held" | jq -e '.failed == 0 and .switched == 0 and .asked > 600'
	# Some held connections were on the drained backend, and kept working.
	echo "$held" | jq -e '.backends.b2 > 0'

	# Undrained, it takes new flows again.
	np_lb lb backend set "$VIP" 10.78.2.2 --weight 1
	[ "$(backend_json state 10.78.2.2)" = active ]
	client connect 10.99.0.1 80 300 >"$LB_STATE/r6"
	[ "$(jq '.backends.b2 // 0' "$LB_STATE/r6")" -gt 50 ]
}

@test "lb: a connection idle on a drained backend survives spoofed flows that evict its entry" {
	np_lb lb vip add "$VIP"
	for k in 1 2 3; do np_lb lb backend add "$VIP" "10.78.$k.2"; done
	lb_serve 80
	[ "$(bpftool -j map show pinned "$NETPROBE_PIN_PATH/np_lb_conns" | jq .max_entries)" -eq 1024 ]
	lb_in client python3 "$LB_PEERS" idle 10.99.0.1 80 30 "$LB_STATE/go" \
		>"$LB_STATE/idle" 2>&1 3>&- &
	local idler=$!
	wait_for 100 grep -q ready "$LB_STATE/idle"
	np_lb lb backend drain "$VIP" 10.78.2.2
	local before
	before=$(backend_json new_conns 10.78.2.2)

	# Spoofed flows, a SYN then an ACK each, 10000 from each CPU (as a NIC's
	# queues spread a flood; the LRU keeps a CPU's newest entries on a list of
	# its own until that CPU adds more): ten times what the table holds, a
	# CPU. The backends' answers go nowhere (no route back to 100.64/10).
	local cpu
	for cpu in $(seq 0 $(($(nproc) - 1))); do
		lb_in client taskset -c "$cpu" "$NPBENCH" send "c0$LB_ID" --proto tcp \
			--src "100.$((64 + cpu)).0.1" --dst 10.99.0.1 --sport 40000 --dport 80 \
			--tcp-flags 0x02,0x10 --flows 10000
	done
	touch "$LB_STATE/go"
	wait $idler
	local held kept
	held=$(tail -1 "$LB_STATE/idle")
	kept=$(np_lb stats --json | jq --arg l "l0$LB_ID" \
		'.interfaces[] | select(.name == $l) | .counters.lb_drain_kept')
	echo "held: $held; lb_drain_kept $kept" >&3
	# The drained backend's connections lost their entries and still reached it.
	echo "$held" | jq -e '.backends.b2 > 0 and (.lost.b2 // 0) == 0'
	[ "$kept" -eq "$(echo "$held" | jq .backends.b2)" ]
	# The flood's flows were new ones: none went to the drained backend.
	[ "$(backend_json new_conns 10.78.2.2)" -eq "$before" ]
	np_lb lb stats --json | jq -e --arg v "$VIP" --argjson n $((10000 * $(nproc) + 30)) \
		'.vips[] | select(.vip == $v) | .new_conns >= $n'
}

@test "lb: IPv6 VIP, UDP VIPs, and L2 forwarding" {
	local v6=[fd99::1]:80/tcp
	np_lb lb vip add "$v6" 10.99.0.1:53/udp [fd99::1]:53/udp 10.99.0.1:8080/tcp
	for k in 1 2 3; do
		np_lb lb backend add "$v6" "fd78:$k::2"
		np_lb lb backend add 10.99.0.1:53/udp "10.78.$k.2"
		np_lb lb backend add [fd99::1]:53/udp "fd78:$k::2"
		np_lb lb backend add 10.99.0.1:8080/tcp "10.78.$k.2" --forward l2
	done
	lb_serve 80
	lb_serve 53
	lb_serve 8080
	# No neighbour known: first packets go out by TC (bpf_redirect_neigh) while
	# the kernel resolves the next hop; nothing is lost on the way.
	for k in 1 2 3; do
		lb_in lb ip neigh flush dev "lb$k$LB_ID"
		lb_in lb ip -6 neigh flush dev "lb$k$LB_ID"
	done

	run client connect fd99::1 80 300
	echo "$output"
	[ "$(echo "$output" | jq .failed)" -eq 0 ]
	[ "$(echo "$output" | jq '.backends | length')" -eq 3 ]
	run client connect fd99::1 80 3 --upload 300000
	[ "$(echo "$output" | jq .failed)" -eq 0 ]

	for vip in 10.99.0.1 fd99::1; do
		run client udp "$vip" 53 300
		echo "$output"
		[ "$(echo "$output" | jq .failed)" -eq 0 ]
		[ "$(echo "$output" | jq '.backends | length')" -eq 3 ]
		# One socket, one 5-tuple: one backend.
		run client udp "$vip" 53 100 --same-socket
		[ "$(echo "$output" | jq .failed)" -eq 0 ]
		[ "$(echo "$output" | jq '.backends | length')" -eq 1 ]
	done
	# UDP flows are counted per backend like TCP ones.
	local datagrams=0
	for k in 1 2 3; do
		datagrams=$((datagrams + $(jq .datagrams "$LB_STATE/b$k-53.json")))
	done
	[ "$datagrams" -eq 800 ]
	np_lb lb stats --json | jq -e '[.vips[] | select(.proto == "udp") | .packets] | add == 800'

	# L2: the frame unchanged but for its MAC addresses, to a backend on the segment.
	run client connect 10.99.0.1 8080 300
	[ "$(echo "$output" | jq .failed)" -eq 0 ]
	[ "$(echo "$output" | jq '.backends | length')" -eq 3 ]
	np_lb lb stats --json | jq -e '.vips[] | select(.vip == "10.99.0.1:8080/tcp") |
		(.backends | all(.forward == "l2")) and .packets > 900'
	np_lb stats --json | jq -e --arg l "l0$LB_ID" \
		'.interfaces[] | select(.name == $l) | .counters.lb_neigh_misses > 0'
}

@test "lb: a packet too big once encapsulated gets ICMP too-big; the client's path MTU drops and uploads succeed" {
	# Backend links no wider than the client's: a full-size frame cannot carry the outer header.
	lb_in lb ip link set "lb1$LB_ID" mtu 1500
	lb_in b1 ip link set "b1$LB_ID" mtu 1500
	np_lb lb vip add "$VIP" [fd99::1]:80/tcp
	np_lb lb backend add "$VIP" 10.78.1.2
	np_lb lb backend add [fd99::1]:80/tcp fd78:1::2
	lb_serve 80
	for vip in 10.99.0.1 fd99::1; do
		run client connect "$vip" 80 3 --upload 300000
		echo "$output"
		[ "$(echo "$output" | jq .failed)" -eq 0 ]
	done
	# The client learned the MTU the load balancer told it: 1500 less the outer header.
	lb_in client ip route get 10.99.0.1 | grep -q "mtu 1480"
	lb_in client ip -6 route get fd99::1 | grep -q "mtu 1460"
	lb_in client nstat -az IcmpInDestUnreachs Icmp6InPktTooBigs |
		awk '$2 > 0 { n++ } END { exit n != 2 }'
	np_lb stats --json | jq -e --arg l "l0$LB_ID" \
		'.interfaces[] | select(.name == $l) | .counters.lb_too_big_drops > 0'
}

@test "lb: bad input gets a clear error and changes nothing" {
	run np_lb lb vip add 10.99.0.1
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not a service"* ]]
	for bad in 10.99.0.1:0/tcp 10.99.0.1:70000/tcp 10.99.0.1:80/icmp fd99::1:80/tcp x:80/tcp; do
		run np_lb lb vip add "$bad"
		[ "$status" -eq 1 ]
		[[ "$output" == *"is not a service"* ]]
	done
	run np_lb lb backend add "$VIP" 10.78.1.2
	[ "$status" -eq 1 ]
	[[ "$output" == *"no service $VIP"* ]]
	np_lb lb vip add "$VIP"
	run np_lb lb vip add "$VIP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"exists already"* ]]
	np_lb lb backend add "$VIP" 10.78.1.2
	run np_lb lb backend add "$VIP" 10.78.1.2
	[ "$status" -eq 1 ]
	[[ "$output" == *"is a backend of $VIP already"* ]]
	run np_lb lb backend add "$VIP" 10.78.2.2 --weight 0
	[ "$status" -eq 2 ]
	[[ "$output" == *"--weight is 1..1000"* ]]
	run np_lb lb backend add "$VIP" 10.78.2.2 --weight 1001
	[ "$status" -eq 2 ]
	run np_lb lb backend add "$VIP" fd78:2::2
	[ "$status" -eq 1 ]
	[[ "$output" == *"different families"* ]]
	run np_lb lb backend add "$VIP" 10.78.2.x
	[ "$status" -eq 1 ]
	[[ "$output" == *"not an IPv4 or IPv6 address"* ]]
	run np_lb lb backend add "$VIP" 203.0.113.9
	[ "$status" -eq 1 ]
	[[ "$output" == *"no route to backend"* ]]
	run np_lb lb backend del "$VIP" 10.78.3.2
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a backend of"* ]]
	run np_lb lb backend drain 10.99.0.2:80/tcp 10.78.1.2
	[ "$status" -eq 1 ]
	[[ "$output" == *"no service"* ]]
	run np_lb lb backend set "$VIP" 10.78.1.2
	[ "$status" -eq 2 ]
	[[ "$output" == *"needs --weight"* ]]
	run np_lb lb backend add "$VIP" 10.78.2.2 --forward gre
	[ "$status" -eq 2 ]
	run np_lb lb frob
	[ "$status" -eq 2 ]
	run np_lb lb vip list
	[ "$status" -eq 2 ]
	# A VIP's own Maglev table size: a prime, within the room the state was made with.
	np_lb lb vip add 10.99.3.1:80/tcp --table-size 1009
	np_lb lb stats --json | jq -e '.vips[] | select(.vip == "10.99.3.1:80/tcp") | .table_size == 1009'
	run np_lb lb vip add 10.99.3.2:80/tcp --table-size 1000
	[ "$status" -eq 1 ]
	[[ "$output" == *"must be a prime, not 1000"* ]]
	run np_lb lb vip add 10.99.3.2:80/tcp --table-size 70001
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not fit"* ]]
	run np_lb lb backend add "$VIP" 10.78.2.2 --table-size 1009
	[ "$status" -eq 2 ]
	np_lb lb vip del 10.99.3.1:80/tcp
	# The service table is full at lb_max_services (32): one command of 32 more fails at
	# the 32nd, and takes the 31 it added back out (all or none).
	local many=()
	for p in $(seq 1 32); do many+=("10.99.1.1:$p/tcp"); done
	run np_lb lb vip add "${many[@]}"
	[ "$status" -eq 1 ]
	[[ "$output" == *"service table is full"* ]]
	[[ "$output" == *"nothing added"* ]]
	[ "$(np_lb lb stats --json | jq '.vips | length')" -eq 1 ]
	# Removing: one that is not there, nothing removed.
	np_lb lb vip add 10.99.4.1:80/tcp
	run np_lb lb vip del 10.99.4.1:80/tcp 10.99.4.2:80/tcp
	[ "$status" -eq 1 ]
	[[ "$output" == *"no service 10.99.4.2:80/tcp: nothing removed"* ]]
	[ "$(np_lb lb stats --json | jq '.vips | length')" -eq 2 ]
	np_lb lb vip del 10.99.4.1:80/tcp
	# Nothing above changed the one real backend.
	np_lb lb stats --json | jq -e --arg v "$VIP" \
		'.vips[] | select(.vip == $v) | .backends | length == 1 and .[0].weight == 1'
	# Services outlive the attachments: detached everywhere, they stay. A
	# clsact interface (kernels before 6.6) is detached from its own
	# namespace only: there, each detach --all does its own and names the rest.
	for ns in client lb b1 b2 b3 b4; do
		lb_in "$ns" "$NP" detach --all || ! kernel_at_least 6 6
	done
	[ "$(np_lb status --json | jq '.interfaces | length')" -eq 0 ]
	[ -d "$NETPROBE_PIN_PATH" ]
	np_lb lb stats --json | jq -e --arg v "$VIP" '[.vips[] | select(.vip == $v)] | length == 1'
	np_lb attach "l0$LB_ID" --mode lb
	# Removing a VIP removes its backends; then it is unknown.
	np_lb lb vip del "$VIP"
	run np_lb lb backend del "$VIP" 10.78.1.2
	[ "$status" -eq 1 ]
	[[ "$output" == *"no service"* ]]
}
