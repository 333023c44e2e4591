#!/usr/bin/env bats
# The daemon's IPFIX flow records, proven by a real collector: nfdump's
# nfcapd receives them, and nfdump reads back every flow with the packets
# and bytes that were sent; a long-lived flow arrives in active-timeout
# pieces that add up exactly.

load helpers

setup() {
	lab_setup
	daemon_lab
	NF="$BATS_TEST_TMPDIR/nf"
	mkdir -p "$NF"
	# Idle flows end after 2 s; live ones are exported every 2 s, housekeeping's walk each second.
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		housekeeping: {flow_idle_timeout_ms: 2000}
		interfaces:
		  $LAB_VB: {mode: monitor}
		metrics: {listen: 127.0.0.1:9479}
		ipfix: {collector: 127.0.0.1:4739, active_timeout_s: 2}
	EOF
}

teardown() {
	[ -z "${NFCAPD:-}" ] || kill "$NFCAPD" 2>/dev/null || true
	[ -z "${SINKPID:-}" ] || kill "$SINKPID" 2>/dev/null || true
	daemon_teardown
}

# The collector in ns B, on its loopback (where the daemon sends).
collector_start() {
	nsenter --net="/run/netns/$LAB_B" nfcapd -w "$NF" -p 4739 -b 127.0.0.1 \
		>"$BATS_TEST_TMPDIR/nfcapd.log" 2>&1 3>&- &
	NFCAPD=$!
	wait_for 50 in_b bash -c "ss -lun | grep -q 127.0.0.1:4739"
}
# collector_flows: what nfcapd received, as "PROTO-NUMBER SRC SPORT DST DPORT PACKETS BYTES", a record a line.
collector_flows() {
	kill -TERM "$NFCAPD"
	wait "$NFCAPD" || true
	NFCAPD=
	# nfcapd writes its file as it exits: none means it got nothing or failed; say which.
	if ! ls "$NF"/nfcapd.* >/dev/null 2>&1; then
		echo "nfcapd left no file in $NF:" >&2
		ls -la "$NF" >&2
		cat "$BATS_TEST_TMPDIR/nfcapd.log" >&2
	fi
	nfdump -R "$NF" -q -N -o 'fmt:%pr %sa %sp %da %dp %pkt %byt' | awk '{$1=$1; print}'
}
# sum_of FLOWS PROTO SRC SPORT DST DPORT: "records packets bytes" of one flow's records.
sum_of() {
	awk -v k="$2 $3 $4 $5 $6" '{ key = $1 " " $2 " " $3 " " $4 " " $5 }
		key == k { n++; p += $6; b += $7 } END { print n + 0, p + 0, b + 0 }' <<<"$1"
}

@test "ipfix: nfcapd gets every flow with the packets and bytes sent; a long flow in active pieces that add up" {
	collector_start
	daemon_start
	grep -q "ipfix: to 127.0.0.1:4739 over UDP" "$LOG"
	local mac_b
	mac_b=$(ip -n "$LAB_B" -j link show "$LAB_VB" | jq -r '.[0].address')
	# UDP of two sizes, on two flows, as raw frames (nothing answers them).
	in_a "$NPBENCH" send "$LAB_VA" --src 198.18.0.1 --dst 198.18.0.2 --sport 3001 --dport 53 \
		--count 30 --size 100 >/dev/null
	in_a "$NPBENCH" send "$LAB_VA" --src 198.18.0.1 --dst 198.18.0.2 --sport 3002 --dport 53 \
		--count 20 --size 700 >/dev/null
	# IPv6 UDP.
	in_a "$NPBENCH" send "$LAB_VA" --family 6 --src fd00:98::1 --dst fd00:98::2 --sport 3003 \
		--dport 53 --count 15 --size 200 >/dev/null
	# ICMP echo: ten requests of 98 bytes, ten replies (B's egress).
	in_a ping -q -c 10 -i 0.05 198.18.0.2 >/dev/null
	# A TCP transfer; its oracle is what a capture on B saw.
	nsenter --net="/run/netns/$LAB_B" tcpdump -i "$LAB_VB" -w "$BATS_TEST_TMPDIR/tcp.pcap" -U \
		-s 64 tcp 2>/dev/null 3>&- &
	local cap=$!
	wait_for 50 test -s "$BATS_TEST_TMPDIR/tcp.pcap"
	in_b iperf3 -s -1 -p 5201 >/dev/null 2>&1 3>&- &
	wait_for 50 in_b bash -c "ss -ltn | grep -q :5201"
	in_a iperf3 -c 198.18.0.2 -p 5201 -t 1 -b 20M --cport 40100 >/dev/null
	# A long flow: 7 s at 1000 a second, paced, one 5-tuple: active records every 2 s.
	in_a "$NPBENCH" send "$LAB_VA" --live --pps 1000 --count 7000 --src 198.18.0.1 \
		--dst 198.18.0.2 --sport 4000 --dport 4001 --size 80 >/dev/null
	# Idle 2 s, then expired by the daemon's housekeeping: each flow's last record.
	wait_for 100 eval '[ "$(np_b flows --json | jq ".flows | length")" -eq 0 ]'
	sleep 1.5 # the last records' emit, and the collector's write
	kill "$cap" 2>/dev/null || true
	wait "$cap" || true
	local flows
	flows=$(collector_flows)
	echo "$flows"
	# What the exporter says it did, in /metrics: every record the collector got, no failure.
	local scrape
	scrape=$(in_b curl -sf http://127.0.0.1:9479/metrics)
	grep "^netprobe_ipfix" <<<"$scrape"
	[ "$(awk '/^netprobe_ipfix_records_total / {print $2}' <<<"$scrape")" -eq "$(wc -l <<<"$flows")" ]
	[ "$(awk '/^netprobe_ipfix_failures_total / {print $2}' <<<"$scrape")" -eq 0 ]
	# Exactly what was sent, flow by flow (records, packets, bytes).
	[ "$(sum_of "$flows" 17 198.18.0.1 3001 198.18.0.2 53)" = "1 30 3000" ]
	[ "$(sum_of "$flows" 17 198.18.0.1 3002 198.18.0.2 53)" = "1 20 14000" ]
	[ "$(sum_of "$flows" 17 fd00:98::1 3003 fd00:98::2 53)" = "1 15 3000" ]
	[ "$(sum_of "$flows" 1 198.18.0.1 0 198.18.0.2 8.0 | cut -d' ' -f2-)" = "10 980" ] ||
		[ "$(sum_of "$flows" 1 198.18.0.1 0 198.18.0.2 2048 | cut -d' ' -f2-)" = "10 980" ]
	# The long flow: several records, adding up to every frame.
	local long
	long=$(sum_of "$flows" 17 198.18.0.1 4000 198.18.0.2 4001)
	echo "long flow: $long"
	[ "$(cut -d' ' -f1 <<<"$long")" -ge 3 ]
	[ "$(cut -d' ' -f2- <<<"$long")" = "7000 560000" ]
	# TCP: the client's direction, against the capture (frames and bytes on the wire).
	local tcp
	tcp=$(sum_of "$flows" 6 198.18.0.1 40100 198.18.0.2 5201)
	echo "tcp: $tcp; capture: $(pcap_frames "$BATS_TEST_TMPDIR/tcp.pcap" -Y 'tcp.srcport == 40100') frames"
	[ "$(cut -d' ' -f2 <<<"$tcp")" -eq "$(pcap_frames "$BATS_TEST_TMPDIR/tcp.pcap" -Y 'tcp.srcport == 40100')" ]
	[ "$(cut -d' ' -f3 <<<"$tcp")" -eq "$(pcap_bytes "$BATS_TEST_TMPDIR/tcp.pcap" -Y 'tcp.srcport == 40100')" ]
}

@test "ipfix: a bad collector is refused; a stop sends what is new as forced ends" {
	sed -i 's|collector: 127.0.0.1:4739|collector: nowhere:4739|' "$CONF"
	run np_b daemon --check-config --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"collector: 'nowhere:4739' is no ADDRESS:PORT"* ]]
	sed -i 's|collector: nowhere:4739|collector: 127.0.0.1:4739|; s|active_timeout_s: 2|active_timeout_s: 600|' "$CONF"
	sed -i 's|flow_idle_timeout_ms: 2000|flow_idle_timeout_ms: 600000|' "$CONF"
	collector_start
	daemon_start
	in_a "$NPBENCH" send "$LAB_VA" --src 198.18.0.1 --dst 198.18.0.2 --sport 3005 --dport 53 \
		--count 12 --size 100 >/dev/null
	quiesce "$LAB_B" "$LAB_VB"
	# No timeout due: nothing sent yet. SIGTERM: the flow goes, as a forced end.
	kill -TERM "$DPID"
	wait "$DPID" || true
	DPID=
	sleep 1
	local flows
	flows=$(collector_flows)
	[ "$(sum_of "$flows" 17 198.18.0.1 3005 198.18.0.2 53)" = "1 12 1200" ]
}

# The TCP collector: a sink in ns B that keeps each connection's bytes in
# $SINK/conn-N; libfixbuf's ipfixDump reads the records back.
sink_start() {
	nsenter --net="/run/netns/$LAB_B" /usr/bin/python3 "$BATS_TEST_DIRNAME/tcp_sink.py" \
		127.0.0.1 4739 "$SINK" 3>&- &
	SINKPID=$!
	wait_for 50 in_b bash -c "ss -ltn | grep -q 127.0.0.1:4739"
}
sink_stop() {
	kill "$SINKPID"
	wait "$SINKPID" || true
	SINKPID=
}
# ipfix_records FILE: its data records as "PROTO SRC SPORT DST DPORT PACKETS BYTES", a line each.
ipfix_records() {
	ipfixDump -d -i "$1" | awk -F' : ' '/ : / {
		n = $1; sub(/.*[ )]/, "", n); v[n] = $2 }
		/paddingOctets/ { s = v["sourceIPv4Address"] v["sourceIPv6Address"]
			d = v["destinationIPv4Address"] v["destinationIPv6Address"]
			print v["protocolIdentifier"], s, v["sourceTransportPort"], d,
				v["destinationTransportPort"], v["packetDeltaCount"], v["octetDeltaCount"]
			delete v }'
}
metric() { awk -v n="$1" '$1 == n {print $2}' <<<"$(in_b curl -sf http://127.0.0.1:9479/metrics)"; }
# until_expired: the flows idle past their timeout and removed, their records made.
until_expired() { wait_for 100 eval '[ "$(np_b flows --json | jq ".flows | length")" -eq 0 ]'; }

@test "ipfix over TCP: records wait for a late collector and for one that went away; each connection starts with the templates" {
	SINK="$BATS_TEST_TMPDIR/sink"
	mkdir -p "$SINK"
	sed -i 's|active_timeout_s: 2}|active_timeout_s: 2, transport: tcp}|' "$CONF"
	# No collector yet: the daemon starts anyway, and keeps what it has.
	daemon_start
	grep -q "ipfix: to 127.0.0.1:4739 over TCP" "$LOG"
	wait_for 50 grep -q "ipfix: 127.0.0.1:4739: connect: Connection refused" "$LOG"
	in_a "$NPBENCH" send "$LAB_VA" --src 198.18.0.1 --dst 198.18.0.2 --sport 3001 --dport 53 \
		--count 30 --size 100 >/dev/null
	until_expired
	wait_for 30 eval '[ "$(metric netprobe_ipfix_queue_bytes)" -gt 0 ]'
	[ "$(metric netprobe_ipfix_collector_up)" -eq 0 ]
	[ "$(metric netprobe_ipfix_records_sent_total)" -eq 0 ]
	# The collector comes: the next try connects, the templates go first, then what waited.
	sink_start
	wait_for 400 eval '[ "$(metric netprobe_ipfix_collector_up)" -eq 1 ]'
	wait_for 50 eval '[ "$(metric netprobe_ipfix_queue_bytes)" -eq 0 ]'
	wait_for 50 eval 'ipfix_records "$SINK/conn-1" | grep -q " 3001 "'
	# It goes away; a flow ends meanwhile; it comes back: a new connection, templates first again.
	sink_stop
	wait_for 50 grep -q "ipfix: 127.0.0.1:4739: the collector closed the connection" "$LOG"
	in_a "$NPBENCH" send "$LAB_VA" --family 6 --src fd00:98::1 --dst fd00:98::2 --sport 3002 \
		--dport 53 --count 20 --size 700 >/dev/null
	until_expired
	[ "$(metric netprobe_ipfix_collector_up)" -eq 0 ]
	sink_start
	wait_for 400 test -s "$SINK/conn-2" || { cat "$LOG"; ls -l "$SINK"; false; }
	wait_for 50 eval '[ "$(metric netprobe_ipfix_queue_bytes)" -eq 0 ]'
	# A forced end at the stop goes too: a flow still in the table.
	in_a "$NPBENCH" send "$LAB_VA" --src 198.18.0.1 --dst 198.18.0.2 --sport 3003 --dport 53 \
		--count 7 --size 300 >/dev/null
	quiesce "$LAB_B" "$LAB_VB"
	local records sent lost connects
	records=$(metric netprobe_ipfix_records_total)
	connects=$(metric netprobe_ipfix_connections_total)
	kill -TERM "$DPID"
	wait "$DPID"
	DPID=
	grep -q "ipfix: connected to 127.0.0.1:4739 over TCP" "$LOG"
	sleep 0.5
	sink_stop
	ls -l "$SINK"
	local one two
	one=$(ipfix_records "$SINK/conn-1")
	two=$(ipfix_records "$SINK/conn-2")
	echo "conn-1: $one"
	echo "conn-2: $two"
	# Each connection's first message is the templates (ipfixDump reads no data without them).
	# Bytes 0-1: IPFIX version 10; 16-17: the first set's ID, 2 for a template set; both once.
	for c in 1 2; do
		[ "$(head -c 2 "$SINK/conn-$c" | od -An -tx1 | tr -d ' ')" = 000a ]
		[ "$(dd if="$SINK/conn-$c" bs=1 skip=16 count=2 2>/dev/null | od -An -tx1 | tr -d ' ')" = 0002 ]
		[ "$(ipfixDump -t -i "$SINK/conn-$c" | grep -c "tid:   25[67]")" -eq 2 ]
	done
	# Every record where it belongs, exactly as sent; nothing twice.
	[ "$(sum_of "$one" 17 198.18.0.1 3001 198.18.0.2 53)" = "1 30 3000" ]
	# (ipfixDump writes IPv6 addresses with every group's leading zeros.)
	[ "$(sum_of "$two" 17 fd00:0098::0001 3002 fd00:0098::0002 53)" = "1 20 14000" ]
	[ "$(sum_of "$two" 17 198.18.0.1 3003 198.18.0.2 53)" = "1 7 2100" ]
	[ "$(sum_of "$one" 17 fd00:0098::0001 3002 fd00:0098::0002 53)" = "0 0 0" ]
	[ "$connects" -eq 2 ]
	[ "$(($(wc -l <<<"$one") + $(wc -l <<<"$two")))" -eq $((records + 1)) ]
	[ "$(grep -c "records not sent at the stop" "$LOG")" -eq 0 ]
}
