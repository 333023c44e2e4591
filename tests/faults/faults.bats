#!/usr/bin/env bats
# Injected faults: netprobe killed with SIGKILL at random points of its
# changes, bpffs missing or unmounted underneath, two processes changing the
# same lists and services at once, a full disk for the pid file, a scraper
# that goes away mid-scrape. In every case: a clear message, a whole state
# (nothing half-made), and the next command works. The random points come
# from a seed each test prints, so a failure can be made again.
# (Other faults have their tests where their feature is: docs/RELIABILITY.md
# lists them all.)

load ../integration/helpers

setup() {
	lab_setup
	SEED=${NETPROBE_FAULT_SEED:-$RANDOM}
	RANDOM=$SEED
	echo "# seed $SEED (NETPROBE_FAULT_SEED makes these points again)" >&3
}

teardown() {
	[ -z "${DPID:-}" ] || daemon_teardown
	[ -z "${MNT:-}" ] || umount -l "$MNT" 2>/dev/null || true
	lab_teardown
}

# kill_at MS CMD...: runs netprobe CMD in ns B and kills it with SIGKILL after MS milliseconds.
kill_at() {
	local ms=$1
	shift
	nsenter --net="/run/netns/$LAB_B" "$NP" "$@" >/dev/null 2>&1 &
	local pid=$!
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# What is attached to the lab's interface, by the kernel's own account and netprobe's:
# "netprobe's record, XDP, TC ingress, TC egress, a clsact qdisc", each 0 or 1.
attach_state() {
	local listed xdp=0 tci=0 tce=0 qdisc=0
	listed=$(np_b status --json | jq --arg i "$LAB_VB" '[.interfaces[] | select(.name == $i)] | length')
	xdp_attached "$LAB_VB" && xdp=1
	tc -n "$LAB_B" filter show dev "$LAB_VB" ingress 2>/dev/null | grep -q netprobe && tci=1
	tc -n "$LAB_B" filter show dev "$LAB_VB" egress 2>/dev/null | grep -q netprobe && tce=1
	tc -n "$LAB_B" qdisc show dev "$LAB_VB" | grep -q clsact && qdisc=1
	echo "$listed$xdp$tci$tce$qdisc"
}

@test "faults: SIGKILL at random points of attach and detach leaves the interface attached whole or not at all; the next command works" {
	local i ms state
	for i in $(seq 1 10); do
		ms=$((RANDOM % 320))
		kill_at "$ms" attach "$LAB_VB" --mode filter --tc-mode clsact
		state=$(attach_state)
		echo "attach killed after $ms ms: $state"
		[ "$state" = 11111 ] || [ "$state" = 00000 ]
		ms=$((RANDOM % 40))
		kill_at "$ms" detach "$LAB_VB"
		state=$(attach_state)
		echo "detach killed after $ms ms: $state"
		[ "$state" = 11111 ] || [ "$state" = 00000 ]
	done
	# The next commands work, and a detach leaves nothing.
	run np_b attach "$LAB_VB" --mode filter --tc-mode clsact
	[ "$status" -eq 0 ]
	[ "$(attach_state)" = 11111 ]
	in_a ping -c 2 -i 0.05 198.18.0.2 >/dev/null
	run np_b detach --all
	[ "$status" -eq 0 ]
	[ "$(attach_state)" = 00000 ]
	[ ! -e "$NETPROBE_PIN_PATH" ]
}

@test "faults: SIGKILL while a list loads or services change: every entry is in or out, whole, and the next command works" {
	local list="$BATS_TEST_TMPDIR/deny" i ms n
	np_b attach "$LAB_VB" --mode filter
	for i in $(seq 0 19999); do echo "10.$((i / 256 + 100)).$((i % 256)).0/24"; done >"$list"
	local drops=0 whole=0 none=0 recovered=0 start load_ms
	# The kill points are spread over one whole load, timed here.
	start=$(date +%s%N)
	np_b blacklist add --file "$list" >/dev/null
	load_ms=$((($(date +%s%N) - start) / 1000000))
	for i in $(seq 1 8); do
		np_b blacklist del --all >/dev/null
		ms=$((RANDOM % (load_ms + 1)))
		kill_at "$ms" blacklist add --file "$list"
		# The next command finishes, or undoes, a load killed part way, and says so.
		n=$(np_b blacklist list --json 2>"$BATS_TEST_TMPDIR/err" | jq '.entries | length')
		echo "list load killed after $ms ms: $n entries; $(cat "$BATS_TEST_TMPDIR/err")"
		grep -q "was finished\|was undone" "$BATS_TEST_TMPDIR/err" && recovered=$((recovered + 1))
		# What is listed is what the kernel's tables hold (their own count), all of the
		# file or none of it (a load is one batch), and nothing that is not in the file.
		[ "$(np_b stats --json | jq '.security.lists.deny')" -eq "$n" ]
		[ "$n" -eq 0 ] || [ "$n" -eq 20000 ]
		np_b blacklist list --json | jq -r '.entries[].cidr' | sort | comm -23 - <(sort "$list") >"$BATS_TEST_TMPDIR/extra"
		[ ! -s "$BATS_TEST_TMPDIR/extra" ]
		# And the datapath does what the list says: a source of the file dropped, or not.
		in_a "$NPBENCH" send "$LAB_VA" --src 10.100.0.9 --count 3 >/dev/null
		[ "$n" -eq 0 ] || drops=$((drops + 3))
		[ "$(np_b stats --json | jq '.interfaces[0].counters.filter_deny_drops')" -eq "$drops" ]
		[ "$n" -eq 0 ] && none=$((none + 1)) || whole=$((whole + 1))
	done
	echo "# list loads of $load_ms ms killed: $whole whole, $none none, $recovered of them finished or undone by the next command" >&3
	run np_b blacklist add --file "$list" --update
	[ "$status" -eq 0 ]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 20000 ]
	# The lists still decide: a listed source is dropped, an unlisted one passes.
	in_a "$NPBENCH" send "$LAB_VA" --src 10.100.0.9 --count 10 >/dev/null
	in_a "$NPBENCH" send "$LAB_VA" --src 10.99.0.9 --count 10 >/dev/null
	[ "$(np_b stats --json | jq '.interfaces[0].counters.filter_deny_drops')" -eq $((drops + 10)) ]

	np_b detach --all
	np_b attach "$LAB_VB" --mode lb
	for i in $(seq 1 8); do
		ms=$((RANDOM % 150))
		(
			nsenter --net="/run/netns/$LAB_B" "$NP" lb vip add "10.79.$i.1:80/tcp" &&
				nsenter --net="/run/netns/$LAB_B" "$NP" lb backend add "10.79.$i.1:80/tcp" 198.18.0.1
		) >/dev/null 2>&1 &
		local pid=$!
		sleep "0.$(printf '%03d' "$ms")"
		pkill -KILL -P "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		run np_b lb stats --json
		echo "lb change killed after $ms ms: $status"
		[ "$status" -eq 0 ]
	done
	# Every service is there or not, and can be made whole by the next command.
	for i in $(seq 1 8); do
		np_b lb vip add "10.79.$i.1:80/tcp" >/dev/null 2>&1 || true
		run np_b lb backend add "10.79.$i.1:80/tcp" 198.18.0.1
		[ "$status" -eq 0 ] || [[ "$output" == *"already"* ]]
	done
	[ "$(np_b lb stats --json | jq '[.vips[] | select(.backends | length == 1)] | length')" -eq 8 ]
}

@test "faults: the daemon killed with SIGKILL during reloads starts again and applies its config whole" {
	daemon_lab
	local i ms
	write_conf() {
		cat >"$CONF" <<-EOF
			pid_file: $PIDFILE
			interfaces:
			  $LAB_VB: {mode: filter}
			lists:
			  deny: [203.0.113.$1/32, 198.51.100.0/24]
		EOF
	}
	write_conf 1
	daemon_start
	for i in $(seq 2 4); do
		write_conf "$i"
		kill -HUP "$DPID"
		ms=$((RANDOM % 60))
		sleep "0.$(printf '%03d' "$ms")"
		kill -KILL "$DPID"
		wait "$DPID" 2>/dev/null || true
		echo "daemon killed $ms ms into reload $i"
		daemon_start
		# The config now, whole: its two entries, the older one gone.
		wait_for 50 sh -c "$(declare -f in_b); $(declare -f np_b); NP=$NP LAB_B=$LAB_B; \
			[ \"\$(np_b blacklist list --json | jq -c '[.entries[].cidr] | sort')\" = \
			'[\"198.51.100.0/24\",\"203.0.113.$i/32\"]' ]" ||
			{ np_b blacklist list; false; }
		xdp_attached "$LAB_VB"
	done
}

@test "faults: bpffs missing, or unmounted underneath: a clear message, nothing attached, then a new mount works" {
	# Not a bpf filesystem: refused before anything is made.
	mkdir -p "$BATS_TEST_TMPDIR/plain"
	run np_b --pin-path "$BATS_TEST_TMPDIR/plain/np" attach "$LAB_VB"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$BATS_TEST_TMPDIR/plain is not on a bpf filesystem"* ]]
	! xdp_attached "$LAB_VB"
	# A bpffs of its own, unmounted while netprobe is attached: the pins go, and with
	# them the links; the interface is left clean, and commands say what they find.
	MNT=$BATS_TEST_TMPDIR/bpffs
	mkdir -p "$MNT"
	mount -t bpf -o mode=0700 bpf "$MNT"
	np_b --pin-path "$MNT/np" attach "$LAB_VB" --mode filter
	xdp_attached "$LAB_VB"
	umount -l "$MNT"
	wait_for 50 sh -c "! ip -n $LAB_B -d link show $LAB_VB | grep -q prog/xdp"
	run np_b --pin-path "$MNT/np" status
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"not attached anywhere"* ]]
	mount -t bpf -o mode=0700 bpf "$MNT"
	run np_b --pin-path "$MNT/np" attach "$LAB_VB"
	[ "$status" -eq 0 ]
	xdp_attached "$LAB_VB"
	np_b --pin-path "$MNT/np" detach --all
}

# at_once N CMD_A CMD_B: `CMD_A i` and `CMD_B i` for i in 1..N, the two loops at once; fails if one did.
at_once() {
	local n=$1 a b
	(for i in $(seq 1 "$n"); do $2 "$i" >/dev/null || exit 1; done) &
	a=$!
	(for i in $(seq 1 "$n"); do $3 "$i" >/dev/null || exit 1; done) &
	b=$!
	wait "$a" && wait "$b"
}
deny_a() { np_b blacklist add "10.61.$1.0/24"; }
deny_b() { np_b blacklist add "10.62.$1.0/24"; }
undeny_a() { np_b blacklist del "10.61.$1.0/24"; }
allow_c() { np_b allowlist add "10.63.$1.0/24"; }
service_a() { np_b lb vip add "10.64.0.$1:80/tcp" && np_b lb backend add "10.64.0.$1:80/tcp" 198.18.0.1; }
service_b() { np_b lb vip add "10.65.0.$1:53/udp" && np_b lb backend add "10.65.0.$1:53/udp" 198.18.0.1; }

@test "faults: two processes changing the lists, or the services, at once: every change of both is made" {
	np_b attach "$LAB_VB" --mode filter
	at_once 100 deny_a deny_b
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 200 ]
	at_once 100 undeny_a allow_c
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 100 ]
	[ "$(np_b allowlist list --json | jq '.entries | length')" -eq 100 ]
	np_b detach --all
	np_b attach "$LAB_VB" --mode lb
	at_once 15 service_a service_b
	[ "$(np_b lb stats --json | jq '[.vips[] | select(.backends | length == 1)] | length')" -eq 30 ]
}

@test "faults: no room for the pid file: the daemon says so and attaches nothing" {
	daemon_lab
	MNT=$BATS_TEST_TMPDIR/full
	mkdir -p "$MNT"
	mount -t tmpfs -o size=8k,mode=0755 tmpfs "$MNT"
	dd if=/dev/zero of="$MNT/filler" bs=1k count=64 2>/dev/null || true
	cat >"$CONF" <<-EOF
		pid_file: $MNT/netprobe.pid
		interfaces:
		  $LAB_VB: {mode: filter}
	EOF
	run timeout 20 nsenter --net="/run/netns/$LAB_B" "$NP" daemon --config "$CONF"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$MNT/netprobe.pid"* ]]
	[[ "$output" == *"No space left on device"* ]]
	! xdp_attached "$LAB_VB"
	[ ! -e "$NETPROBE_PIN_PATH" ] || [ "$(np_b status --json | jq '.interfaces | length')" -eq 0 ]
}

@test "faults: scrapers that go away mid-request leave /metrics serving and the datapath counting" {
	daemon_lab
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		interfaces:
		  $LAB_VB: {mode: monitor}
		metrics: {listen: 127.0.0.1:9479}
	EOF
	daemon_start
	local i
	for i in $(seq 1 200); do
		# A request, and the connection closed before the answer is read; a request cut short.
		in_b bash -c 'exec 3<>/dev/tcp/127.0.0.1/9479; printf "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" >&3; exec 3>&-' || true
		in_b bash -c 'exec 3<>/dev/tcp/127.0.0.1/9479; printf "GET /met" >&3; exec 3>&-' || true
	done
	in_a ping -c 3 -i 0.05 198.18.0.2 >/dev/null
	kill -0 "$DPID"
	run in_b curl -sf -m 5 http://127.0.0.1:9479/metrics
	[ "$status" -eq 0 ]
	grep -q "^netprobe_rx_packets_total{interface=\"$LAB_VB\"} [1-9]" <<<"$output"
}

@test "faults: a full flow table evicts, counted, and every packet is still counted; a collector that is not there costs nothing else" {
	daemon_lab
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		tables: {flow_table_size: 1024}
		housekeeping: {flow_idle_timeout_ms: 10000} # the table is walked each second
		interfaces:
		  $LAB_VB: {mode: monitor}
		metrics: {listen: 127.0.0.1:9479}
		ipfix: {collector: 127.0.0.1:4739, active_timeout_s: 1}
	EOF
	daemon_start
	local before
	before=$(np_b stats --json | jq '.interfaces[0].rx_packets')
	local k0
	k0=$(kstat "$LAB_B" "$LAB_VB" rx_packets)
	# Flows the exporter reads (each second), then more than the table holds, which evict them.
	in_a "$NPBENCH" send "$LAB_VA" --count 1 --flows 1000 --sport 7000 >/dev/null
	sleep 3
	in_a "$NPBENCH" send "$LAB_VA" --count 1 --flows 8000 --sport 9000 >/dev/null
	quiesce "$LAB_B" "$LAB_VB"
	[ $(($(kstat "$LAB_B" "$LAB_VB" rx_packets) - k0)) -eq 9000 ]
	[ $(($(np_b stats --json | jq '.interfaces[0].rx_packets') - before)) -eq 9000 ]
	scraped() {
		in_b curl -sf -m 5 http://127.0.0.1:9479/metrics >"$BATS_TEST_TMPDIR/m" &&
			awk '$1 == "netprobe_ipfix_flows_evicted_total" && $2 > 0 { ok = 1 } END { exit !ok }' \
				"$BATS_TEST_TMPDIR/m"
	}
	wait_for 50 scraped || { grep -E 'flow_table|ipfix' "$BATS_TEST_TMPDIR/m"; false; }
	local entries capacity
	entries=$(awk '$1 == "netprobe_flow_table_entries" { print $2 }' "$BATS_TEST_TMPDIR/m")
	capacity=$(awk '$1 == "netprobe_flow_table_capacity_entries" { print $2 }' "$BATS_TEST_TMPDIR/m")
	echo "flow table: $entries of $capacity"
	[ "$capacity" -eq 1024 ]
	kill -0 "$DPID"
}
