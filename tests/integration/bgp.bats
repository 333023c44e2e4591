#!/usr/bin/env bats
# Upstream mitigation through BGP, proven by a real router: gobgpd in ns B is
# the speaker netprobe drives (AS 65001; ExaBGP in one test), a second
# gobgpd in ns R is the upstream router (AS 65000), peered over a veth of
# their own. What R's RIB
# holds is the oracle: the blackhole route with its community (or the
# FlowSpec rule), and when it goes.
#
#   ns A (attacker) ==lab veth== ns B (netprobe + gobgpd 10.99.0.1) ==== ns R (gobgpd 10.99.0.2)

load helpers

BLACKHOLE=4294902426 # 65535:666, as gobgp's JSON writes a community

setup() {
	lab_setup
	daemon_lab
	LAB_R="np-r-$(printf '%x%x' "$$" "${BATS_TEST_NUMBER:-0}")"
	ip netns add "$LAB_R"
	ip link add "${LAB_VB}r" type veth peer name "${LAB_VB}u"
	ip link set "${LAB_VB}r" netns "$LAB_B"
	ip link set "${LAB_VB}u" netns "$LAB_R"
	ip -n "$LAB_B" addr add 10.99.0.1/30 dev "${LAB_VB}r"
	ip -n "$LAB_R" addr add 10.99.0.2/30 dev "${LAB_VB}u"
	ip -n "$LAB_B" link set "${LAB_VB}r" up
	ip -n "$LAB_R" link set "${LAB_VB}u" up
	ip -n "$LAB_R" link set lo up
	speaker_config B 65001 10.99.0.1 65000 10.99.0.2 >"$BATS_TEST_TMPDIR/gobgp-b.toml"
	speaker_config R 65000 10.99.0.2 65001 10.99.0.1 >"$BATS_TEST_TMPDIR/gobgp-r.toml"
	gobgpd_start R
	gobgpd_start B
	wait_for 300 established
}

teardown() {
	daemon_teardown
	[ -z "${PIPE:-}" ] || rm -f "/run/exabgp/$PIPE.in" "/run/exabgp/$PIPE.out"
	if [ -n "${LAB_R:-}" ]; then
		local pids
		pids=$(ip netns pids "$LAB_R" 2>/dev/null)
		[ -z "$pids" ] || kill $pids 2>/dev/null || true
		ip netns del "$LAB_R" 2>/dev/null || true
	fi
}

# speaker_config NAME AS ADDRESS PEER_AS PEER_ADDRESS: a gobgpd config, every family netprobe uses.
speaker_config() {
	cat <<-EOF
		[global.config]
		  as = $2
		  router-id = "$3"
		  local-address-list = ["$3"]
		[[neighbors]]
		  [neighbors.config]
		    neighbor-address = "$5"
		    peer-as = $4
		  [neighbors.timers.config]
		    connect-retry = 1
		    hold-time = 9
		    keepalive-interval = 3
		    minimum-advertisement-interval = 0
	EOF
	for afi in ipv4-unicast ipv6-unicast ipv4-flowspec ipv6-flowspec; do
		printf '  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "%s"\n' "$afi"
	done
}
# gobgpd_start B|R: that namespace's gobgpd, its API on the namespace's own loopback.
gobgpd_start() {
	local ns=$LAB_B
	[ "$1" = R ] && ns=$LAB_R
	nsenter --net="/run/netns/$ns" gobgpd -f "$BATS_TEST_TMPDIR/gobgp-${1,,}.toml" \
		--api-hosts 127.0.0.1:50051 >>"$BATS_TEST_TMPDIR/gobgpd-${1,,}.log" 2>&1 3>&- &
	eval "GOBGPD_$1=$!"
}
in_r() { nsenter --net="/run/netns/$LAB_R" "$@"; }
established() { [ "$(in_b gobgp neighbor 10.99.0.2 -j | jq .state.session_state)" = 6 ]; }
# up_has FAMILY KEY: whether R's RIB has KEY (a prefix, or "[source: P]"), learned from B.
up_has() {
	in_r gobgp -j global rib -a "$1" | jq -e --arg k "$2" '.[$k] // [] | map(select(."neighbor-ip" == "10.99.0.1")) | length > 0' >/dev/null
}
# up_blackhole PREFIX: R has it with the BLACKHOLE community.
up_blackhole() {
	local afi=ipv4
	[[ "$1" == *:* ]] && afi=ipv6
	in_r gobgp -j global rib -a "$afi" | jq -e --arg k "$1" --argjson c "$BLACKHOLE" \
		'.[$k] // [] | map(select(."neighbor-ip" == "10.99.0.1") | .attrs[] | select(.type == 8) | .communities | index($c)) | map(select(. != null)) | length > 0' >/dev/null
}
metric() { in_b curl -sf http://127.0.0.1:9479/metrics | awk -v n="$1" '$1 == n {print $2}'; }

# to_flowspec: the running daemon's action switched by a reload; the
# config's routes become rules upstream and no blackhole route stays.
to_flowspec() {
	sed -i 's|^  action: rtbh|  action: flowspec|' "$CONF"
	run np_b daemon --reload --config "$CONF"
	[ "$status" -eq 0 ]
	wait_for 100 up_has ipv4-flowspec "[source: 198.51.100.9/32]"
	wait_for 100 up_has ipv6-flowspec "[source: 2001:db8:1::/64/0]"
	wait_for 100 eval '! up_has ipv4 198.51.100.9/32'
	wait_for 100 eval '! up_has ipv6 2001:db8:1::/64'
}

bgp_conf() {
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		interfaces:
		  $LAB_VB:
		    mode: filter
		    detect: {syn_flood: 200}
		    mitigation: unproven
		    mitigation_ttl_s: ${TTL:-4}
		lists:
		  deny: [198.51.100.9/32, 203.0.113.0/24, 192.0.2.7/32, 2001:db8:1::/64]
		  allow: [192.0.2.0/24]
		metrics: {listen: 127.0.0.1:9479}
		bgp:
		  speaker: gobgp
		  api: 127.0.0.1:50051
		  action: ${ACTION:-rtbh}
		  deny_list: true
		  resync_s: 2
		  allow_unproven: true
		  max_routes: ${MAX_ROUTES:-100}
	EOF
}

@test "bgp: a block goes upstream with BLACKHOLE within a second and is withdrawn when it ends; too wide or allow-listed never" {
	bgp_conf
	daemon_start
	# The deny list's own entries: the host route and the IPv6 /64 go out...
	wait_for 100 up_blackhole 198.51.100.9/32
	wait_for 100 up_blackhole 2001:db8:1::/64
	# ...the /24 is wider than /32, and 192.0.2.7 is on the allow list: never.
	grep -q "bgp: 203.0.113.0/24 is not announced: wider than /32 (bgp.widest_prefix_v4)" "$LOG"
	grep -q "bgp: 192.0.2.7/32 is not announced: it overlaps 192.0.2.0/24 on the allow list" "$LOG"
	run ! up_has ipv4 203.0.113.0/24
	run ! up_has ipv4 192.0.2.7/32
	[ "$(metric netprobe_bgp_refused_prefixes)" = 2 ]
	# A SYN flood: from the block made here to the route on the upstream router.
	nsenter --net="/run/netns/$LAB_A" hping3 -S -p 80 --flood 198.18.0.2 >/dev/null 2>&1 3>&- &
	local flood=$! t_block="" t_up="" i
	for i in $(seq 400); do
		if [ -z "$t_block" ] && np_b blacklist list --json |
			jq -e '.entries[] | select(.origin == "syn_flood")' >/dev/null; then
			t_block=$(date +%s.%N)
		fi
		if [ -n "$t_block" ] && up_blackhole 198.18.0.1/32; then
			t_up=$(date +%s.%N)
			break
		fi
		sleep 0.02
	done
	kill -INT "$flood"
	wait "$flood" || true
	echo "blocked at $t_block, on the upstream router at $t_up"
	[ -n "$t_block" ] && [ -n "$t_up" ]
	[ "$(echo "$t_up - $t_block <= 1.0" | bc)" -eq 1 ]
	grep -q "bgp: announced 198.18.0.1/32 (blackhole)" "$LOG"
	# Its TTL runs out: withdrawn upstream too; the deny list's stay.
	wait_for 100 eval '! up_has ipv4 198.18.0.1/32'
	grep -q "bgp: withdrew 198.18.0.1/32" "$LOG"
	up_blackhole 198.51.100.9/32
	sleep 1.5 # the counts reach /metrics each second
	[ "$(metric netprobe_bgp_speaker_up)" = 1 ]
	[ "$(metric netprobe_bgp_announcements_total)" -eq 3 ]
	[ "$(metric netprobe_bgp_withdrawals_total)" -eq 1 ]
	[ "$(metric netprobe_bgp_announced_routes)" -eq 2 ]
	[ "$(metric netprobe_bgp_failures_total)" -eq 0 ]
}

@test "bgp: after a restart of netprobe or of the speaker nothing stale stays announced and nothing live is missing" {
	bgp_conf
	daemon_start
	np_b blacklist add 198.51.100.20 >/dev/null
	wait_for 100 up_blackhole 198.51.100.20/32
	# netprobe dies; meanwhile one entry goes and another comes.
	kill -KILL "$DPID"
	wait "$DPID" || true
	np_b blacklist del 198.51.100.20 >/dev/null
	np_b blacklist add 198.51.100.21 >/dev/null
	# A route of ours a crash left in the speaker, and one of another tool (no BLACKHOLE).
	in_b gobgp global rib -a ipv4 add 198.51.100.99/32 nexthop 192.0.2.1 community 65535:666
	in_b gobgp global rib -a ipv4 add 10.10.0.0/24 nexthop 10.99.0.1
	wait_for 100 up_blackhole 198.51.100.99/32
	daemon_start
	wait_for 100 up_blackhole 198.51.100.21/32
	wait_for 100 eval '! up_has ipv4 198.51.100.20/32'
	wait_for 100 eval '! up_has ipv4 198.51.100.99/32'
	up_has ipv4 10.10.0.0/24
	up_blackhole 198.51.100.9/32
	# The speaker restarts, its routes gone: netprobe puts ours back.
	kill -TERM "$GOBGPD_B"
	wait "$GOBGPD_B" || true
	wait_for 100 eval '! up_has ipv4 198.51.100.21/32'
	# netprobe sees it gone (within its resync, 2 s here), and says so.
	wait_for 100 grep -q "bgp: cannot read the speaker's routes" "$LOG"
	wait_for 30 eval '[ "$(metric netprobe_bgp_speaker_up)" = 0 ]'
	gobgpd_start B
	wait_for 300 established
	wait_for 150 up_blackhole 198.51.100.21/32
	wait_for 50 up_blackhole 198.51.100.9/32
	wait_for 50 up_blackhole 2001:db8:1::/64
	run ! up_has ipv4 198.51.100.20/32
	wait_for 30 eval '[ "$(metric netprobe_bgp_speaker_up)" = 1 ]'
	grep -q "bgp: the speaker answers again" "$LOG"
}

@test "bgp: FlowSpec: a rule that discards the source's traffic, IPv4 and IPv6; a switch from RTBH leaves no blackhole behind" {
	bgp_conf
	daemon_start
	wait_for 100 up_blackhole 198.51.100.9/32
	# RTBH -> FlowSpec by a reload: the blackhole routes go, the rules come.
	to_flowspec
	# The rule's action: traffic-rate 0, which is discard.
	in_r gobgp -j global rib -a ipv4-flowspec | jq -e '."[source: 198.51.100.9/32]"[0].attrs[] | select(.type == 16) | .value[] | select(.type == 128 and .subtype == 6 and .rate == 0)'
	# The entry leaves the config: its rule leaves the upstream router.
	sed -i 's|198.51.100.9/32, ||' "$CONF"
	run np_b daemon --reload --config "$CONF"
	[ "$status" -eq 0 ]
	wait_for 100 eval '! up_has ipv4-flowspec "[source: 198.51.100.9/32]"'
	up_has ipv6-flowspec "[source: 2001:db8:1::/64/0]"
}

# exabgp_start: ExaBGP in ns B as the speaker instead of gobgpd, its pipes unique to the test.
exabgp_start() {
	cat >"$BATS_TEST_TMPDIR/exabgp.conf" <<-EOF
		neighbor 10.99.0.2 {
		  router-id 10.99.0.1;
		  local-address 10.99.0.1;
		  local-as 65001;
		  peer-as 65000;
		  family { ipv4 unicast; ipv6 unicast; ipv4 flow; ipv6 flow; }
		}
	EOF
	nsenter --net="/run/netns/$LAB_B" env exabgp.daemon.user=root exabgp.daemon.drop=false \
		exabgp.api.pipename="$PIPE" exabgp.log.destination=stdout \
		exabgp "$BATS_TEST_TMPDIR/exabgp.conf" >>"$BATS_TEST_TMPDIR/exabgp.log" 2>&1 3>&- &
	EXABGP=$!
	wait_for 300 eval '[ "$(in_r gobgp neighbor 10.99.0.1 -j | jq .state.session_state)" = 6 ]'
}

@test "bgp: ExaBGP as the speaker: blackhole routes and rules announced, withdrawn, and put back after ExaBGP restarts" {
	# gobgpd in B steps aside; ExaBGP speaks to the same upstream router.
	kill -TERM "$GOBGPD_B"
	wait "$GOBGPD_B" || true
	PIPE="np-$DID"
	mkdir -p /run/exabgp
	mkfifo -m 0600 "/run/exabgp/$PIPE.in" "/run/exabgp/$PIPE.out"
	exabgp_start
	bgp_conf
	sed -i "s|^  speaker: gobgp|  speaker: exabgp\n  pipe: $PIPE|; /^  api:/d" "$CONF"
	daemon_start
	wait_for 100 up_blackhole 198.51.100.9/32
	wait_for 100 up_blackhole 2001:db8:1::/64
	run ! up_has ipv4 203.0.113.0/24
	# A manual entry comes and goes.
	np_b blacklist add 198.51.100.30 >/dev/null
	wait_for 100 up_blackhole 198.51.100.30/32
	np_b blacklist del 198.51.100.30 >/dev/null
	wait_for 100 eval '! up_has ipv4 198.51.100.30/32'
	# ExaBGP restarts, empty: ours come back.
	kill -TERM "$EXABGP"
	wait "$EXABGP" || true
	wait_for 100 eval '! up_has ipv4 198.51.100.9/32'
	exabgp_start
	wait_for 150 up_blackhole 198.51.100.9/32
	wait_for 50 up_blackhole 2001:db8:1::/64
	# FlowSpec through ExaBGP, by a reload: the rules come, the blackholes go.
	to_flowspec
	[ "$(metric netprobe_bgp_failures_total)" -eq 0 ]
}

# ours_up: how many routes from B the upstream router holds, of both families.
ours_up() {
	local afi n=0
	for afi in ipv4 ipv6; do
		n=$((n + $(in_r gobgp -j global rib -a "$afi" | jq '[.[][] | select(."neighbor-ip" == "10.99.0.1")] | length')))
	done
	echo "$n"
}

@test "bgp: at most max_routes go out; unproven blocks only when allowed; a stop withdraws ours" {
	# Blocks anyone can spoof, announced upstream: refused unless the operator says so.
	bgp_conf
	sed -i '/^  allow_unproven:/d' "$CONF"
	run np_b daemon --check-config --config "$CONF"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"interfaces.$LAB_VB: mitigation: unproven blocks sources anyone can spoof, and bgp would announce them upstream"* ]]
	# Two routes at most: of the three the lists want, one stays home, said once.
	MAX_ROUTES=2 bgp_conf
	np_b blacklist add 198.51.100.40 >/dev/null
	daemon_start
	wait_for 100 eval '[ "$(ours_up)" -eq 2 ]'
	sleep 3 # two resyncs more: still two
	[ "$(ours_up)" -eq 2 ]
	[ "$(grep -c "bgp: 1 blocked prefixes beyond bgp.max_routes (2) are not announced" "$LOG")" -eq 1 ]
	[ "$(metric netprobe_bgp_refused_prefixes)" = 3 ]
	# SIGTERM: the datapath stays, our routes go (nobody would end them).
	kill -TERM "$DPID"
	wait "$DPID"
	DPID=
	[ "$(ours_up)" -eq 0 ]
	grep -q "the datapath stays attached" "$LOG"
	run ! grep -q "could not be withdrawn\|did not take back" "$LOG"
}

@test "bgp: a bad section is refused whole, saying where" {
	local bad
	for bad in "speaker: exabgpp" "communities: [65536:1]" "communities: []" \
		"communities: ['1:-0']" "communities: ['65535: 666']" "communities: ['+1:2']" \
		"next_hop_v4: 2001:db8::1" \
		"widest_prefix_v4: 0" "widest_prefix_v6: 129" "api: localhost" "resync_s: 0" \
		"command: relative/gobgp" "action: drop" "pipe: ../run/x" "max_routes: 0"; do
		local line=3
		if [[ "$bad" == speaker:* ]]; then
			printf 'bgp:\n  %s\n' "$bad" >"$CONF"
			line=2
		else
			printf 'bgp:\n  speaker: gobgp\n  %s\n' "$bad" >"$CONF"
		fi
		run "$NP" daemon --check-config --config "$CONF"
		echo "$bad -> $output"
		[ "$status" -eq 1 ]
		[[ "$output" == *"$CONF:$line:"* ]]
	done
	# Enabled without a speaker; a program others may change.
	printf 'bgp:\n  enabled: true\n' >"$CONF"
	run "$NP" daemon --check-config --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bgp: enabled, and no speaker (gobgp or exabgp)"* ]]
	cp "$(command -v gobgp)" "$BATS_TEST_TMPDIR/gobgp"
	chmod 0777 "$BATS_TEST_TMPDIR/gobgp"
	printf 'bgp:\n  speaker: gobgp\n  command: %s\n' "$BATS_TEST_TMPDIR/gobgp" >"$CONF"
	run "$NP" daemon --check-config --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"must belong to root (or us) and be writable by its owner alone"* ]]
}
