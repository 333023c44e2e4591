# Shared by the bats integration tests: a lab of two network namespaces joined
# by a veth pair, with names unique to this run so parallel runs never collide,
# and removed in teardown whatever the test did.
#
#   ns A (LAB_A) -- veth LAB_VA ========= veth LAB_VB -- ns B (LAB_B)
#   198.18.0.1/24, fd00:98::1/64            198.18.0.2/24, fd00:98::2/64
#
# netprobe runs inside ns B with `nsenter --net`, which keeps the host's bpffs
# (ip netns exec would remount /sys and hide it); each test has its own pin path.

# `run !` (a command that must fail) needs bats 1.5.
bats_require_minimum_version 1.5.0

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
NP="$ROOT/netprobe"
NPBENCH="$ROOT/.output/bench/np-bench"

lab_setup() {
	local id
	id=$(printf '%x%x' "$$" "${BATS_TEST_NUMBER:-0}")
	LAB_A="np-a-$id"
	LAB_B="np-b-$id"
	LAB_VA="npa$id"
	LAB_VB="npb$id"
	export NETPROBE_PIN_PATH="/sys/fs/bpf/np-test-$id"
	ip netns add "$LAB_A"
	ip netns add "$LAB_B"
	ip link add "$LAB_VA" type veth peer name "$LAB_VB"
	ip link set "$LAB_VA" netns "$LAB_A"
	ip link set "$LAB_VB" netns "$LAB_B"
	local ns v peer n
	for n in 1 2; do
		if [ $n = 1 ]; then ns=$LAB_A v=$LAB_VA peer=2; else ns=$LAB_B v=$LAB_VB peer=1; fi
		# No IPv6 autoconfiguration, router solicitation or DAD: a quiet link,
		# so that the kernel's counters move only for traffic the test sends.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
			net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.dad_transmits=0 \
			net.ipv6.conf.default.dad_transmits=0 \
			net.ipv6.conf.default.mldv2_unsolicited_report_interval=10
		ip -n "$ns" link set "$v" addrgenmode none
		# No GRO: the capture on the receiver must see each frame as it came.
		ip netns exec "$ns" ethtool -K "$v" gro off
		ip -n "$ns" link set lo up
		ip -n "$ns" link set "$v" up
		ip -n "$ns" addr add "198.18.0.$n/24" dev "$v"
		ip -n "$ns" addr add "fd00:98::$n/64" dev "$v" nodad
	done
	# The kernel's own multicast chatter (MLD reports, router solicitations)
	# may come at any time; it stays inside each namespace.
	for ns in "$LAB_A" "$LAB_B"; do
		ip netns exec "$ns" nft -f - <<-'NFT'
			table inet np_lab {
				chain out {
					type filter hook output priority 0;
					icmpv6 type { mld-listener-report, mld-listener-done, mld2-listener-report, nd-router-solicit } drop
				}
			}
		NFT
	done
	# Static neighbours: no ARP or neighbour discovery during a measurement.
	local mac_a mac_b
	mac_a=$(ip -n "$LAB_A" -j link show "$LAB_VA" | jq -r '.[0].address')
	mac_b=$(ip -n "$LAB_B" -j link show "$LAB_VB" | jq -r '.[0].address')
	ip -n "$LAB_A" neigh replace 198.18.0.2 lladdr "$mac_b" dev "$LAB_VA" nud permanent
	ip -n "$LAB_A" neigh replace fd00:98::2 lladdr "$mac_b" dev "$LAB_VA" nud permanent
	ip -n "$LAB_B" neigh replace 198.18.0.1 lladdr "$mac_a" dev "$LAB_VB" nud permanent
	ip -n "$LAB_B" neigh replace fd00:98::1 lladdr "$mac_a" dev "$LAB_VB" nud permanent
}

lab_teardown() {
	[ -n "${LAB_B:-}" ] || return 0
	# Children of the test (tcpdump, iperf3) first, then what netprobe pinned.
	local pids
	pids="$(ip netns pids "$LAB_A" 2>/dev/null) $(ip netns pids "$LAB_B" 2>/dev/null)"
	[ -z "${pids// /}" ] || kill $pids 2>/dev/null || true
	in_b "$NP" detach --all >/dev/null 2>&1 || true
	in_a "$NP" detach --all >/dev/null 2>&1 || true
	ip netns del "$LAB_A" 2>/dev/null || true
	ip netns del "$LAB_B" 2>/dev/null || true
	rm -rf "$NETPROBE_PIN_PATH"
}

# Whether interface $1 of ns B has an XDP program.
xdp_attached() { ip -n "$LAB_B" -d link show "$1" | grep -q 'prog/xdp'; }

in_a() { nsenter --net="/run/netns/$LAB_A" "$@"; }
in_b() { nsenter --net="/run/netns/$LAB_B" "$@"; }
np_b() { in_b "$NP" "$@"; }

# Whether the running kernel is MAJOR.MINOR or newer: the oracle for what it has.
kernel_at_least() {
	local major minor
	IFS=. read -r major minor _ <<<"$(uname -r)"
	[ "$major" -gt "$1" ] || { [ "$major" -eq "$1" ] && [ "${minor%%[!0-9]*}" -ge "$2" ]; }
}

# kstat NS IFACE rx_packets: the kernel's own counter, read inside the namespace.
kstat() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }

# Sum of frame lengths in a capture (tshark: frame.len, the bytes on the wire).
pcap_bytes() { tshark -r "$1" -T fields -e frame.len "${@:2}" 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
pcap_frames() { tshark -r "$1" -T fields -e frame.len "${@:2}" 2>/dev/null | wc -l; }

# Waits (bounded) until the kernel's counters of NS IFACE stop moving, so that
# what the kernel sends on its own (MLD reports after an address is added) is over.
quiesce() {
	local last="" now tries=20
	while [ $tries -gt 0 ]; do
		now="$(kstat "$1" "$2" rx_packets) $(kstat "$1" "$2" tx_packets)"
		[ "$now" = "$last" ] && return 0
		last=$now
		tries=$((tries - 1))
		sleep 0.5
	done
	return 1
}

# ping_counted_exactly: five pings from A; netprobe's rx count on B's interface
# grows by what B's kernel received, exactly.
ping_counted_exactly() {
	local k0 n0
	quiesce "$LAB_B" "$LAB_VB"
	k0=$(kstat "$LAB_B" "$LAB_VB" rx_packets)
	n0=$(np_b stats --json | jq '.interfaces[0].rx_packets')
	in_a ping -c 5 -i 0.05 198.18.0.2 >/dev/null
	quiesce "$LAB_B" "$LAB_VB"
	[ $(($(np_b stats --json | jq '.interfaces[0].rx_packets') - n0)) -eq \
		$(($(kstat "$LAB_B" "$LAB_VB" rx_packets) - k0)) ]
	[ $(($(kstat "$LAB_B" "$LAB_VB" rx_packets) - k0)) -ge 5 ]
}

# Waits (bounded) until a command succeeds.
wait_for() {
	local tries=$1
	shift
	while ! "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ $tries -gt 0 ] || return 1
		sleep 0.1
	done
}

# events_b: streams events of ns B as JSON lines into $EV in the background, from
# the moment it holds the ring buffer's consumer lock; events_end stops it. It ends
# when the traffic is over, not after a fixed time a slow machine would overrun
# (--duration 300 only bounds a test that never calls events_end).
events_b() {
	EV=${EV:-$BATS_TEST_TMPDIR/events}
	# nsenter execs netprobe: $! is the reader itself, for events_end to signal.
	nsenter --net="/run/netns/$LAB_B" "$NP" events --json --duration 300 >"$EV" 2>"$EV.err" 3>&- &
	EV_PID=$!
	wait_for 300 events_reading
}
# Whether the reader holds its flock on the pin directory (read in /proc/locks:
# taking the lock to test it could make the reader's own attempt fail).
events_reading() {
	local inode
	inode=$(stat -c %i "$NETPROBE_PIN_PATH") || return 1
	awk -v pid="$EV_PID" -v ino="$inode" \
		'$2 == "FLOCK" && $5 == pid && $6 ~ (":" ino "$") { found = 1 } END { exit !found }' \
		/proc/locks
}
# events_end: once B's counters stop moving (the kernel has handled every frame
# sent), stops the reader, which drains the ring buffer first, and waits for it.
events_end() {
	quiesce "$LAB_B" "$LAB_VB" || true
	kill -TERM "$EV_PID" 2>/dev/null || true
	wait "$EV_PID"
}

events_of() { jq -s "[.[] | select(.type == \"$1\")]" "$EV"; }
count_of() { events_of "$1" | jq length; }

# daemon_lab: the names a test of netprobe daemon uses: its pid file where
# `netprobe status` looks, named for the test; its config and log.
daemon_lab() {
	DID="np-test-$(printf '%x%x' "$$" "${BATS_TEST_NUMBER:-0}")"
	PIDFILE="/run/netprobe/$DID.pid"
	CONF="$BATS_TEST_TMPDIR/netprobe.yaml"
	LOG="$BATS_TEST_TMPDIR/daemon.log"
}
# daemon_start [ARGS]: runs the daemon in ns B on $CONF, logging to $LOG, until it says it runs.
daemon_start() {
	: >"$LOG"
	# nsenter execs netprobe: $! is the daemon itself, for the signals.
	nsenter --net="/run/netns/$LAB_B" "$NP" daemon --config "$CONF" "$@" >>"$LOG" 2>&1 3>&- &
	DPID=$!
	wait_for 300 grep -q "running: " "$LOG" || { cat "$LOG"; return 1; }
}
# daemon_teardown: the daemon stopped, the lab gone, the daemon's files with it.
daemon_teardown() {
	[ -z "${DPID:-}" ] || kill -TERM "$DPID" 2>/dev/null || true
	[ -z "${DPID:-}" ] || wait "$DPID" 2>/dev/null || true
	lab_teardown
	rm -f "/run/netprobe/$DID".* "/run/netprobe/$DID"-*
}
