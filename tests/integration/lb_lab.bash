# A load balancer lab, shared by lb.bats (and usable by hand: source it, set
# LB_ID, call lb_lab_setup, lb_lab_teardown). Names carry LB_ID so parallel
# runs never collide; teardown removes every namespace, link and pin.
#
#   client ns --- c0 ======= l0 --- lb ns --- lbK ======= bK --- backend ns K (K = 1..4)
#   10.77.0.2/24             10.77.0.1        10.78.K.1     10.78.K.2/24
#   fd77::2/64               fd77::1          fd78:K::1     fd78:K::2/64
#
# The VIPs 10.99.0.1 and fd99::1 are on each backend's loopback (direct server
# return: backends answer the client themselves, through the lb ns's routing).
# netprobe runs in lb mode on l0 and with --decap on each bK, whose XDP
# program is also what lets frames redirected into lbK arrive at all (veth
# delivers XDP_TX and redirected frames only to a peer with XDP, or GRO, on).
# Backend links have MTU 1600 so that an encapsulated full-size frame fits.
# LB_CONN_TABLE, if set, is the size of the load balancer's connection table
# (the pinned state is made by the first attach, so every attach passes it).

LB_VIP4=10.99.0.1
LB_VIP6=fd99::1
LB_BACKENDS=4

lb_ns() { # client | lb | bK
	echo "nplb-$1-$LB_ID"
}

lb_in() { # ns-role command...
	local ns
	ns=$(lb_ns "$1")
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

lb_lab_setup() {
	: "${LB_ID:?}"
	local c l k b size=()
	[ -z "${LB_CONN_TABLE:-}" ] || size=(--lb-conn-table "$LB_CONN_TABLE")
	LB_PEERS="$(dirname "${BASH_SOURCE[0]}")/lb_peers.py"
	LB_STATE=$(mktemp -d)
	c=$(lb_ns client)
	l=$(lb_ns lb)
	export NETPROBE_PIN_PATH="/sys/fs/bpf/nplb-$LB_ID"
	ip netns add "$c"
	ip netns add "$l"
	for ns in "$c" "$l"; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
			net.ipv6.conf.default.accept_ra=0 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0
		ip -n "$ns" link set lo up
	done
	ip netns exec "$l" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip link add "c0$LB_ID" netns "$c" type veth peer name "l0$LB_ID" netns "$l"
	# Checksums complete on the wire, as a real NIC delivers them: veth would
	# pass the client's unfinished (offloaded) TCP/UDP checksums along, and
	# a frame XDP redirects leaves that note behind.
	ip netns exec "$c" ethtool -K "c0$LB_ID" tx off >/dev/null
	ip -n "$c" link set "c0$LB_ID" up
	ip -n "$l" link set "l0$LB_ID" up
	ip -n "$c" addr add 10.77.0.2/24 dev "c0$LB_ID"
	ip -n "$c" addr add fd77::2/64 dev "c0$LB_ID" nodad
	ip -n "$l" addr add 10.77.0.1/24 dev "l0$LB_ID"
	ip -n "$l" addr add fd77::1/64 dev "l0$LB_ID" nodad
	ip -n "$c" route add default via 10.77.0.1
	ip -n "$c" -6 route add default via fd77::1
	for k in $(seq 1 "$LB_BACKENDS"); do
		b=$(lb_ns "b$k")
		ip netns add "$b"
		ip netns exec "$b" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
			net.ipv6.conf.default.accept_ra=0 net.ipv4.conf.all.rp_filter=0 \
			net.ipv4.conf.default.rp_filter=0
		ip link add "lb$k$LB_ID" netns "$l" mtu 1600 type veth peer name "b$k$LB_ID" \
			netns "$b" mtu 1600
		ip -n "$l" link set "lb$k$LB_ID" up
		ip -n "$b" link set lo up
		ip -n "$b" link set "b$k$LB_ID" up
		ip -n "$l" addr add "10.78.$k.1/24" dev "lb$k$LB_ID"
		ip -n "$l" addr add "fd78:$k::1/64" dev "lb$k$LB_ID" nodad
		ip -n "$b" addr add "10.78.$k.2/24" dev "b$k$LB_ID"
		ip -n "$b" addr add "fd78:$k::2/64" dev "b$k$LB_ID" nodad
		ip -n "$b" addr add "$LB_VIP4/32" dev lo
		ip -n "$b" addr add "$LB_VIP6/128" dev lo
		ip -n "$b" route add default via "10.78.$k.1"
		ip -n "$b" -6 route add default via "fd78:$k::1"
		# Tunnels only from the load balancer's side of the link, to this backend.
		lb_in "b$k" "$NP" attach "b$k$LB_ID" --decap-from "10.78.$k.1" --decap-from "fd78:$k::1" \
			--decap-to "10.78.$k.2" --decap-to "fd78:$k::2" "${size[@]}" >/dev/null
	done
	lb_in lb "$NP" attach "l0$LB_ID" --mode lb "${size[@]}" >/dev/null
	# What the load balancer answers itself (ICMP "too big") leaves by XDP_TX,
	# which veth delivers only to a peer with an XDP program: netprobe, here.
	lb_in client "$NP" attach "c0$LB_ID" "${size[@]}" >/dev/null
}

# Starts lb_peers.py servers on PORT (TCP and UDP) in every backend; each
# keeps its counts in $LB_STATE/bK-PORT.json.
lb_serve() {
	local k
	for k in $(seq 1 "$LB_BACKENDS"); do
		lb_in "b$k" python3 "$LB_PEERS" serve "b$k" "$1" "$LB_STATE/b$k-$1.json" \
			</dev/null >/dev/null 2>&1 3>&- &
	done
	for k in $(seq 1 "$LB_BACKENDS"); do
		wait_for 50 test -s "$LB_STATE/b$k-$1.json" || return 1
	done
}

lb_lab_teardown() {
	[ -n "${LB_ID:-}" ] || return 0
	local ns pids
	for ns in $(ip netns list | awk '{print $1}' | grep -- "-$LB_ID\$"); do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -z "$pids" ] || kill $pids 2>/dev/null || true
	done
	for ns in $(ip netns list | awk '{print $1}' | grep -- "-$LB_ID\$"); do
		nsenter --net="/run/netns/$ns" "$NP" detach --all >/dev/null 2>&1 || true
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$NETPROBE_PIN_PATH" "${LB_STATE:-/nonexistent}"
}
