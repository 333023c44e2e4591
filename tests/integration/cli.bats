#!/usr/bin/env bats
# The netprobe command, good input and bad: exit codes (0 done, 1 failed,
# 2 usage), one clear message, and nothing half-attached left behind.

load helpers

setup() {
	lab_setup
}

teardown() {
	# The namespaces a test made beyond the lab's.
	for ns in ${EXTRA_NS:-}; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	# The capabilities test's own bpffs, whatever it left in it.
	if [ -n "${CAPS_TOP:-}" ]; then
		umount "$CAPS_TOP/bpf" 2>/dev/null || true
		rm -rf "$CAPS_TOP"
	fi
	lab_teardown
}


@test "help for every command, usage errors exit 2" {
	run "$NP" --help
	[ "$status" -eq 0 ]
	for c in check attach detach status stats flows monitor events daemon demo blacklist allowlist lb; do
		run "$NP" "$c" --help
		[ "$status" -eq 0 ]
		[[ "$output" == *"usage: netprobe $c"* ]]
	done
	run "$NP"
	[ "$status" -eq 2 ]
	run "$NP" frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown command 'frobnicate'"* ]]
	run "$NP" stats --bogus
	[ "$status" -eq 2 ]
	run "$NP" --pin-path relative stats
	[ "$status" -eq 2 ]
	run np_b attach
	[ "$status" -eq 2 ]
	[[ "$output" == *"name at least one interface"* ]]
	run np_b attach "$LAB_VB" --mode router
	[ "$status" -eq 2 ]
	run np_b attach "$LAB_VB" --xdp-mode turbo
	[ "$status" -eq 2 ]
	run np_b attach "$LAB_VB" --tc-mode none
	[ "$status" -eq 2 ]
	run np_b attach "$LAB_VB" --flow-table 5
	[ "$status" -eq 2 ]
	run np_b attach "$LAB_VB" --lb-conn-table 1023
	[ "$status" -eq 2 ]
	[[ "$output" == *"--lb-conn-table is 1024.."* ]]
	for len in 31 129 -1 64x ''; do
		run np_b attach "$LAB_VB" --mode filter --ipv6-prefix "$len"
		[ "$status" -eq 2 ]
		[[ "$output" == *"--ipv6-prefix is 32..128"* ]]
	done
	run np_b attach "$LAB_VB" --ipv6-prefix 64
	[ "$status" -eq 2 ]
	[[ "$output" == *"--ipv6-prefix and --no-alerts go with --mode filter"* ]]
	run np_b detach
	[ "$status" -eq 2 ]
	run np_b detach "$LAB_VB" --all
	[ "$status" -eq 2 ]
	run np_b flows --top 0
	[ "$status" -eq 2 ]
	run np_b flows --sort age
	[ "$status" -eq 2 ]
	run np_b monitor --interval 0
	[ "$status" -eq 2 ]
	run np_b monitor --duration -1
	[ "$status" -eq 2 ]
	run np_b stats a b
	[ "$status" -eq 2 ]
	# Usage errors touch nothing.
	run ! xdp_attached "$LAB_VB"
	[ ! -e "$NETPROBE_PIN_PATH" ]
}

@test "options come from one table: every option --help lists is parsed, range-checked and named in its error" {
	local c line opt arg n=0
	for c in check attach detach status stats flows monitor events daemon demo blacklist allowlist lb; do
		while read -r opt arg; do
			n=$((n + 1))
			case "$arg" in
			"" ) # A switch: twice is a usage error that names it.
				run np_b "$c" "$opt" "$opt"
				[ "$status" -eq 2 ]
				[[ "$output" == *"$opt is given twice"* ]] ;;
			FILE) ;; # any text is a file name
			*) # A value no option takes: refused by name, before anything happens.
				run np_b "$c" "$opt" 'x!'
				[ "$status" -eq 2 ]
				[[ "$output" == *"$opt is "*"not 'x!'"* ]]
				run np_b "$c" "$opt"
				[ "$status" -eq 2 ]
				[[ "$output" == *"$opt needs a value"* ]] ;;
			esac
		done < <("$NP" "$c" --help | sed -n '/^options:/,/^$/p' | grep -oE '^  --[a-z0-9-]+( [A-Z=]+)?')
	done
	[ "$n" -gt 40 ]
	# Ranges are the library's: the help says them, the parser holds them.
	run "$NP" attach --help
	[[ "$output" == *"--flow-table N"*"(1024..67108864"*"entries, default 65536)"* ]]
	run np_b attach "$LAB_VB" --flow-table 1023
	[ "$status" -eq 2 ]
	[[ "$output" == *"--flow-table is 1024..67108864 entries, not '1023'"* ]]
	run np_b attach nosuch0 --flow-table 67108864 --mode filter --block-ttl 315360000 --ipv6-prefix 128
	[ "$status" -eq 1 ]
	[[ "$output" == *"no interface named nosuch0"* ]]
	run np_b attach "$LAB_VB" --mode filter --detect syn_flood=1000000001
	[ "$status" -eq 2 ]
	run np_b attach "$LAB_VB" --mode filter --detect syn_flood=100/9
	[ "$status" -eq 2 ]
	run np_b attach "$LAB_VB" --mode filter --detect synflood=100
	[ "$status" -eq 2 ]
	[[ "$output" == *"the detections are syn_flood, udp_flood"* ]]
	# Short options are only the common ones.
	run np_b stats -j
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown option '-j'"* ]]
	run ! xdp_attached "$LAB_VB"
	[ ! -e "$NETPROBE_PIN_PATH" ]
}

@test "the manual and bash completion come from the command's own tables" {
	local man="$BATS_TEST_TMPDIR/netprobe.8" c opt
	"$NP" --man >"$man"
	# roff that renders without a warning, and names every command and every option.
	run groff -man -Tutf8 -ww -z "$man"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	local text
	text=$(groff -man -Tascii -P -c "$man" | col -b)
	for c in check attach detach status stats flows monitor events daemon demo blacklist allowlist lb; do
		[[ "$text" == *"netprobe $c"* ]]
		for opt in $("$NP" "$c" --help | sed -n '/^options:/,/^$/p' | grep -oE '^  --[a-z0-9-]+'); do
			grep -qe "$opt" <<<"$text" || { echo "man lacks $c $opt"; false; }
		done
	done
	[[ "$text" == *"CAP_PERFMON"* ]]
	# Completion: commands, options, the choices --help gives.
	complete_words() {
		PATH="$(dirname "$NP"):$PATH" bash -c '
			source "$1"; shift
			COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _netprobe
			echo "${COMPREPLY[*]}"' _ "$ROOT/scripts/netprobe.bash-completion" "$@"
	}
	[ "$(complete_words netprobe at)" = attach ]
	[ "$(complete_words netprobe attach --mit)" = "--mitigate --mitigate-unproven" ]
	[ "$(complete_words netprobe attach eth0 --mode '')" = "monitor filter lb" ]
	[ "$(complete_words netprobe flows --sort '')" = "bytes packets" ]
	[ "$(complete_words netprobe lb backend add 192.0.2.1:80 10.0.0.1 --forward '')" = "ipip l2" ]
	# make install puts both where man and bash look.
	local dest="$BATS_TEST_TMPDIR/inst"
	make -C "$ROOT" -s install DESTDIR="$dest" PREFIX=/usr >/dev/null
	[ -s "$dest/usr/share/man/man8/netprobe.8" ]
	[ -s "$dest/usr/share/bash-completion/completions/netprobe" ]
	[ -x "$dest/usr/sbin/netprobe" ]
	# The systemd unit, with the install's paths in it.
	grep -qx 'ExecStart=/usr/sbin/netprobe daemon --config /etc/netprobe/netprobe.yaml' \
		"$dest/usr/lib/systemd/system/netprobe.service"
}

# bats test_tags=kernel
@test "check reports each requirement and fails for a missing interface" {
	run np_b check "$LAB_VB"
	[ "$status" -eq 0 ]
	[[ "$output" == *"xdp_native"* ]]
	run np_b check --json "$LAB_VB"
	[ "$status" -eq 0 ]
	[ "$(jq '.supported' <<<"$output")" = true ]
	# veth runs XDP natively; the kernel says so from 6.3 (netdev netlink).
	native=false
	kernel_at_least 6 3 && native=true
	[ "$(jq '[.checks[] | select(.name == "xdp_native") | .ok][0]' <<<"$output")" = "$native" ]
	# Each mode's own needs: every kernel from 6.1 has them all.
	[ "$(jq '[.checks[] | select(.name == "filter" or .name == "lb") | .ok]' <<<"$output" | jq -c .)" = '[true,true]' ]
	run np_b check nosuch0
	[ "$status" -eq 1 ]
	[[ "$output" == *"no interface named nosuch0"* ]]
}

@test "bad input to attach, detach, stats, flows: a clear message, exit 1, nothing left" {
	run np_b attach nosuch0
	[ "$status" -eq 1 ]
	[[ "$output" == *"no interface named nosuch0"* ]]
	[ ! -e "$NETPROBE_PIN_PATH" ]
	# A later interface that fails undoes the earlier ones of the same command.
	run np_b attach "$LAB_VB" nosuch0
	[ "$status" -eq 1 ]
	run ! xdp_attached "$LAB_VB"
	[ ! -e "$NETPROBE_PIN_PATH" ]
	run np_b attach "$LAB_VB" --mode balance
	[ "$status" -eq 2 ]
	[[ "$output" == *"--mode is monitor, filter or lb"* ]]
	[ ! -e "$NETPROBE_PIN_PATH" ]
	# Nothing attached.
	for c in "stats" "flows" "detach $LAB_VB" "detach --all"; do
		run np_b $c
		[ "$status" -eq 1 ]
		[[ "$output" == *"not attached anywhere"* ]]
	done
	run np_b status
	[ "$status" -eq 0 ]
	[[ "$output" == *"not attached anywhere"* ]]
	# Attached: twice applies the settings again; unknown interfaces are errors.
	run np_b attach "$LAB_VB"
	[ "$status" -eq 0 ]
	run np_b attach "$LAB_VB" --xdp-mode generic
	[ "$status" -eq 1 ]
	[[ "$output" == *"detach it to change that"* ]]
	run np_b attach "$LAB_VB"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$LAB_VB: monitor mode, settings applied live"* ]]
	run np_b detach nosuch0
	[ "$status" -eq 1 ]
	run np_b stats lo
	[ "$status" -eq 1 ]
	[[ "$output" == *"not attached to lo"* ]]
	run np_b flows lo
	[ "$status" -eq 1 ]
	xdp_attached "$LAB_VB"
}

@test "not privileged: refused with a message, nothing changed" {
	run np_b attach "$LAB_VB"
	[ "$status" -eq 0 ]
	for c in "attach $LAB_VB" "stats" "detach --all" "status"; do
		run in_b setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$NP" $c
		[ "$status" -eq 1 ]
		[[ "$output" == *"needs root"* ]]
	done
	run in_b setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$NP" check
	[ "$status" -eq 1 ]
	[[ "$output" == *"FAIL"*"capabilities"* ]]
	xdp_attached "$LAB_VB"
}

# as_caps CAPS CMD...: netprobe as nobody, holding exactly CAPS (setpriv), in namespace B.
as_caps() {
	local caps=$1
	shift
	in_b setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="$caps" \
		--ambient-caps="$caps" --bounding-set="$caps" "$NP" "$@"
}

@test "capabilities alone suffice: a service user with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN runs every command" {
	# The service's own pin path, on a bpffs the host mounted, in a directory it owns.
	bats_require_minimum_version 1.5.0
	local top
	top=$(mktemp -d /tmp/np-caps.XXXXXX)
	CAPS_TOP=$top
	chmod 0755 "$top"
	mkdir "$top/bpf"
	mount -t bpf bpf "$top/bpf"
	chmod 0755 "$top/bpf"
	mkdir "$top/bpf/st"
	chown 65534:65534 "$top/bpf/st"
	chmod 0700 "$top/bpf/st"
	local NETPROBE_PIN_PATH="$top/bpf/st" ok=-all,+bpf,+perfmon,+net_admin
	export NETPROBE_PIN_PATH
	run as_caps "$ok" check
	[ "$status" -eq 0 ]
	run as_caps "$ok" attach "$LAB_VB" --mode filter --mitigate
	[ "$status" -eq 0 ]
	xdp_attached "$LAB_VB"
	run as_caps "$ok" blacklist add 192.0.2.77 --ttl 60
	[ "$status" -eq 0 ]
	run as_caps "$ok" attach "$LAB_VB" --detect syn_flood=900
	[ "$status" -eq 0 ]
	run as_caps "$ok" status --json
	[ "$(jq '.interfaces[0].settings.detections.syn_flood.threshold' <<<"$output")" -eq 900 ]
	in_a ping -q -c 3 -i 0.01 198.18.0.2 >/dev/null
	run as_caps "$ok" stats --json
	[ "$(jq '.interfaces[0].counters.xdp_icmp_packets' <<<"$output")" -eq 3 ]
	run --separate-stderr as_caps "$ok" events --json --summary --duration 0.3 --test 5
	[ "$(tail -1 <<<"$output" | jq '.summary.delivered')" -eq 5 ]
	# Pins are the service user's, and nobody else's.
	[ "$(stat -c '%u %a' "$top/bpf/st/np_counters")" = "65534 600" ]
	# One capability short (CAP_PERFMON: the verifier would refuse): said before anything.
	run as_caps -all,+bpf,+net_admin attach "$LAB_VB" --mode monitor
	[ "$status" -eq 1 ]
	[[ "$output" == *"needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN"* ]]
	run as_caps -all,+bpf,+net_admin check
	[ "$status" -eq 1 ]
	[[ "$output" == *"CAP_PERFMON no"* ]]
	[ "$(as_caps "$ok" status --json | jq -r '.interfaces[0].mode')" = filter ]
	run as_caps "$ok" blacklist del --all
	[ "$status" -eq 0 ]
	run as_caps "$ok" detach --all
	[ "$status" -eq 0 ]
	run ! xdp_attached "$LAB_VB"
	[ -z "$(ls "$top/bpf/st")" ]
}

@test "flows, events and stats name the interface and its namespace: two dup0 in two namespaces" {
	bats_require_minimum_version 1.5.0
	local c="np-c-${LAB_B#np-b-}" d="np-d-${LAB_B#np-b-}"
	EXTRA_NS="$c $d"
	ip netns add "$c"
	ip netns add "$d"
	ip link add npdupc type veth peer name npdupd
	ip link set npdupc netns "$c" name dup0
	ip link set npdupd netns "$d" name dup0
	ip -n "$c" addr add 10.251.0.1/24 dev dup0
	ip -n "$d" addr add 10.251.0.2/24 dev dup0
	ip -n "$c" link set dup0 up
	ip -n "$d" link set dup0 up
	nsenter --net="/run/netns/$c" "$NP" attach dup0 --detailed-events
	nsenter --net="/run/netns/$d" "$NP" attach dup0
	# Events read from a third namespace: each flow start names its namespace.
	in_b "$NP" events --json --duration 2.5 >"$BATS_TEST_TMPDIR/ev" 2>/dev/null 3>&- &
	local ev=$!
	sleep 0.5
	ip netns exec "$c" ping -q -c 3 -i 0.05 10.251.0.2 >/dev/null
	wait $ev
	jq -e --arg c "$c" 'select(.type == "flow_start") | select(.interface == "dup0" and .netns == $c)' "$BATS_TEST_TMPDIR/ev" >/dev/null
	# flows from C: C's own without a netns, D's with D's name.
	run --separate-stderr nsenter --net="/run/netns/$c" "$NP" flows --json
	[ "$(jq '[.flows[] | select(.interface == "dup0" and (has("netns") | not))] | length' <<<"$output")" -ge 1 ]
	[ "$(jq --arg d "$d" '[.flows[] | select(.interface == "dup0" and .netns == $d)] | length' <<<"$output")" -ge 1 ]
	run nsenter --net="/run/netns/$c" "$NP" flows
	[[ "$output" == *"dup0@$d"* ]]
	# stats IF: the caller's own first, NAME@NETNS for another's, ambiguity said.
	run nsenter --net="/run/netns/$c" "$NP" stats dup0 --json
	[ "$status" -eq 0 ]
	[ "$(jq '.interfaces[0].in_current_netns' <<<"$output")" = true ]
	run nsenter --net="/run/netns/$c" "$NP" stats "dup0@$d" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.interfaces[0].netns' <<<"$output")" = "$d" ]
	[ "$(jq '.interfaces[0].rx_packets' <<<"$output")" -ge 3 ]
	run in_b "$NP" stats dup0
	[ "$status" -eq 1 ]
	[[ "$output" == *"attached in several namespaces"* ]]
	# status names the namespaces too, and attach refuses an interface named twice.
	[ "$(in_b "$NP" status --json | jq -r --arg c "$c" '[.interfaces[] | select(.netns == $c) | .name][0]')" = dup0 ]
	in_b "$NP" status | grep -q "(netns $d)"
	run nsenter --net="/run/netns/$c" "$NP" attach dup0 dup0
	[ "$status" -eq 2 ]
	[[ "$output" == *"dup0 is named twice"* ]]
	run in_b "$NP" stats nosuch0
	[ "$status" -eq 1 ]
	[[ "$output" == *"not attached to nosuch0"* ]]
	nsenter --net="/run/netns/$c" "$NP" detach dup0
	nsenter --net="/run/netns/$d" "$NP" detach dup0
}

# bats test_tags=kernel
@test "attach, status, stats, flows, detach: the whole life cycle, with --json" {
	run np_b attach "$LAB_VB"
	[ "$status" -eq 0 ]
	run np_b status --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.interfaces[0].name' <<<"$output")" = "$LAB_VB" ]
	[ "$(jq -r '.interfaces[0].mode' <<<"$output")" = monitor ]
	[ "$(jq -r '.interfaces[0].xdp_mode' <<<"$output")" = native ]
	# tcx links from 6.6; before, a clsact qdisc netprobe makes.
	tc=clsact
	kernel_at_least 6 6 && tc=tcx
	[ "$(jq -r '.interfaces[0].tc' <<<"$output")" = "$tc" ]
	in_a ping -q -c 5 -i 0.01 198.18.0.2 >/dev/null
	run np_b stats --json
	[ "$status" -eq 0 ]
	for k in name ifindex mode rx_packets rx_bytes tx_packets tx_bytes xdp_drop xdp_pass xdp_tx; do
		[ "$(jq ".interfaces[0] | has(\"$k\")" <<<"$output")" = true ]
	done
	[ "$(jq '.interfaces[0].counters.xdp_icmp_packets' <<<"$output")" -eq 5 ]
	run np_b stats "$LAB_VB"
	[ "$status" -eq 0 ]
	[[ "$output" == *"xdp_icmp_packets"*"5"* ]]
	run np_b flows --json --top 1 --sort packets
	[ "$status" -eq 0 ]
	[ "$(jq '.flows | length' <<<"$output")" -eq 1 ]
	for k in src dst sport dport proto packets bytes first_seen last_seen; do
		[ "$(jq ".flows[0] | has(\"$k\")" <<<"$output")" = true ]
	done
	# first_seen is a wall-clock time of today, not a raw kernel tick count.
	[[ "$(jq -r '.flows[0].first_seen' <<<"$output")" == "$(date -u +%Y-%m-%d)"T* ]]
	run np_b flows "$LAB_VB"
	[ "$status" -eq 0 ]
	[[ "$output" == *"198.18.0.1"*"198.18.0.2"* ]]
	run np_b detach "$LAB_VB"
	[ "$status" -eq 0 ]
	run ! xdp_attached "$LAB_VB"
	[ -z "$(ip netns exec "$LAB_B" bpftool net show dev "$LAB_VB" | grep -E 'tcx|netprobe')" ]
	[ ! -e "$NETPROBE_PIN_PATH" ]
}

@test "status shows the settings in force on each interface, in words and in JSON" {
	np_b attach "$LAB_VB" --mode filter --mitigate --block-ttl 77 --detect syn_flood=500/2000 \
		--detect port_scan=off --decap-from 10.0.0.0/8 --tc-mode clsact
	run np_b status
	[ "$status" -eq 0 ]
	[[ "$output" == *"detect: syn_flood 500/s over 2000 ms"* ]]
	[[ "$output" != *"port_scan"* ]]
	[[ "$output" == *"mitigate: proven sources, block TTL 77 s, IPv6 by /64"* ]]
	[[ "$output" == *"decap: from 10.0.0.0/8, to any"* ]]
	[[ "$output" == *"attach modes asked: XDP auto, TC clsact"* ]]
	while IFS= read -r line; do [ "${#line}" -lt 100 ]; done <<<"$output"
	run np_b status --json
	[ "$status" -eq 0 ]
	local s='.interfaces[0].settings'
	[ "$(jq "$s.detections.syn_flood.threshold" <<<"$output")" -eq 500 ]
	[ "$(jq "$s.detections.syn_flood.window_ms" <<<"$output")" -eq 2000 ]
	[ "$(jq "$s.detections.port_scan.enabled" <<<"$output")" = false ]
	[ "$(jq "$s.mitigation.block_ttl_s" <<<"$output")" -eq 77 ]
	[ "$(jq -r "$s.decap.from[0]" <<<"$output")" = 10.0.0.0/8 ]
	[ "$(jq -r "$s.tc_attach_mode" <<<"$output")" = clsact ]
	[ "$(jq "$s.events.security_alerts" <<<"$output")" = true ]
	# A live change is what status shows next.
	np_b attach "$LAB_VB" --mode filter --detect syn_flood=900 --tc-mode clsact
	run np_b status --json
	[ "$(jq ".interfaces[0].settings.detections.syn_flood.threshold" <<<"$output")" -eq 900 ]
	np_b detach --all
}

@test "attach again changes only what it is told: the firewall stays on, refusals say why" {
	local s='.interfaces[0].settings' st
	np_b attach "$LAB_VB" --mode filter --mitigate --block-ttl 77 --detect icmp_flood=50 \
		--decap-from 10.0.0.0/8
	# Events on: still filter mode, mitigation, decap and the detection as they were.
	run np_b attach "$LAB_VB" --detailed-events
	[ "$status" -eq 0 ]
	[[ "$output" == *"$LAB_VB: filter mode, settings applied live"* ]]
	st=$(np_b status --json)
	[ "$(jq -r '.interfaces[0].mode' <<<"$st")" = filter ]
	[ "$(jq "$s.mitigation.enabled" <<<"$st")" = true ]
	[ "$(jq "$s.mitigation.block_ttl_s" <<<"$st")" -eq 77 ]
	[ "$(jq "$s.detections.icmp_flood.threshold" <<<"$st")" -eq 50 ]
	[ "$(jq -r "$s.decap.from[0]" <<<"$st")" = 10.0.0.0/8 ]
	[ "$(jq "$s.events.detailed" <<<"$st")" = true ]
	# One detection changed: mitigation and decap kept.
	np_b attach "$LAB_VB" --mode filter --detect udp_flood=3000/2000
	st=$(np_b status --json)
	[ "$(jq "$s.detections.udp_flood.threshold" <<<"$st")" -eq 3000 ]
	[ "$(jq "$s.detections.icmp_flood.threshold" <<<"$st")" -eq 50 ]
	[ "$(jq "$s.mitigation.enabled" <<<"$st")" = true ]
	[ "$(jq "$s.decap.enabled" <<<"$st")" = true ]
	# Options that mean nothing with what it would run are refused, and change nothing.
	run np_b attach "$LAB_VB" --events-rate 5 --no-detailed-events
	[ "$status" -eq 2 ]
	[[ "$output" == *"--events-rate goes with --detailed-events"* ]]
	run np_b attach "$LAB_VB" --no-mitigate --block-ttl 9
	[ "$status" -eq 2 ]
	[[ "$output" == *"--block-ttl goes with --mitigate"* ]]
	run np_b attach "$LAB_VB" --flow-table 2048
	[ "$status" -eq 1 ]
	[[ "$output" == *"--flow-table: the state under"*"65536 entries, fixed"* ]]
	# The TC kind it does not have (tcx links from 6.6, clsact before).
	other=tcx
	kernel_at_least 6 6 && other=clsact
	run np_b attach "$LAB_VB" --tc-mode "$other"
	[ "$status" -eq 1 ]
	[[ "$output" == *"detach it to change that"* ]]
	st=$(np_b status --json)
	[ "$(jq "$s.events.detailed" <<<"$st")" = true ]
	[ "$(jq "$s.mitigation.block_ttl_s" <<<"$st")" -eq 77 ]
	# Switches off are said as such; --mode monitor leaves filter mode, keeping the rest.
	np_b attach "$LAB_VB" --no-mitigate --no-detailed-events --no-decap
	st=$(np_b status --json)
	[ "$(jq "$s.mitigation.enabled" <<<"$st")" = false ]
	[ "$(jq "$s.events.detailed" <<<"$st")" = false ]
	[ "$(jq "$s.decap.enabled" <<<"$st")" = false ]
	run np_b attach "$LAB_VB" --mode monitor
	[[ "$output" == *"monitor mode (was filter), switched live"* ]]
	run np_b attach "$LAB_VB" --detect syn_flood=off
	[ "$status" -eq 2 ]
	[[ "$output" == *"go with --mode filter (it keeps what it has"* ]]
	st=$(np_b status --json)
	[ "$(jq -r '.interfaces[0].mode' <<<"$st")" = monitor ]
	[ "$(jq "$s.detections.icmp_flood.threshold" <<<"$st")" -eq 50 ]
	np_b detach --all
}

@test "two attach commands at once both apply; contradictions refused; monitor leaves what others attached" {
	bats_require_minimum_version 1.5.0
	np_b attach "$LAB_VB" --mode filter
	# Each changes one setting; neither may undo the other's (read and written under the lock).
	for i in 1 2 3 4 5; do
		np_b attach "$LAB_VB" --no-mitigate --no-detailed-events >/dev/null
		np_b attach "$LAB_VB" --detailed-events >/dev/null &
		np_b attach "$LAB_VB" --mitigate >/dev/null &
		wait
		[ "$(np_b status --json | jq -c '.interfaces[0].settings | [.events.detailed, .mitigation.enabled]')" = '[true,true]' ]
	done
	for pair in "--detailed-events --no-detailed-events" "--mitigate --no-mitigate" "--alerts --no-alerts" "--decap --no-decap"; do
		run np_b attach "$LAB_VB" $pair
		[ "$status" -eq 2 ]
		[[ "$output" == *"one or the other"* ]]
	done
	np_b detach --all
	# monitor of an interface another command attaches while it runs: left attached.
	in_b "$NP" monitor "$LAB_VB" --interval 0.2 --duration 3 >/dev/null 2>"$BATS_TEST_TMPDIR/mon.err" 3>&- &
	local mon=$!
	wait_for 50 xdp_attached "$LAB_VB"
	np_b attach "$LAB_VB" --mode filter
	wait $mon
	xdp_attached "$LAB_VB"
	grep -q "left attached" "$BATS_TEST_TMPDIR/mon.err"
	[ "$(np_b status --json | jq -r '.interfaces[0].mode')" = filter ]
	run np_b monitor nosuch0 --duration 0.3
	[ "$status" -eq 1 ]
	# events says what it counted however it ends.
	nsenter --net="/run/netns/$LAB_B" "$NP" events --duration 10 >/dev/null \
		2>"$BATS_TEST_TMPDIR/ev.err" 3>&- &
	local ev=$!
	sleep 0.5
	kill -HUP $ev
	wait $ev
	grep -q "received" "$BATS_TEST_TMPDIR/ev.err"
	run np_b detach --all
	[[ "$output" == *"detached from $LAB_VB"*"detached from every interface"* ]]
}

# bats test_tags=kernel
@test "generic XDP and clsact, chosen on the command line, removed exactly" {
	ip netns exec "$LAB_B" tc qdisc add dev "$LAB_VB" clsact
	run np_b attach "$LAB_VB" --xdp-mode generic --tc-mode clsact
	[ "$status" -eq 0 ]
	ip -n "$LAB_B" -d link show "$LAB_VB" | grep -q 'xdpgeneric'
	ip netns exec "$LAB_B" tc filter show dev "$LAB_VB" ingress | grep -q 'handle 0x4e50'
	[ "$(np_b status --json | jq -r '.interfaces[0].xdp_mode')" = generic ]
	in_a ping -q -c 3 -i 0.01 198.18.0.2 >/dev/null
	[ "$(np_b stats --json | jq '.interfaces[0].counters.xdp_icmp_packets')" -eq 3 ]
	run np_b detach --all
	[ "$status" -eq 0 ]
	# Our filters and program are gone; the qdisc we did not make stays.
	[ -z "$(ip -n "$LAB_B" -d link show "$LAB_VB" | grep 'prog/xdp')" ]
	[ -z "$(ip netns exec "$LAB_B" tc filter show dev "$LAB_VB" ingress | grep 'handle 0x4e50')" ]
	ip netns exec "$LAB_B" tc qdisc show dev "$LAB_VB" | grep -q clsact
}

@test "another XDP program on the interface is not replaced" {
	ip -n "$LAB_B" link set dev "$LAB_VB" xdp obj "$ROOT/.output/baselines.bpf.o" sec xdp
	run np_b attach "$LAB_VB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"already has an XDP program"* ]]
	[ ! -e "$NETPROBE_PIN_PATH" ]
	ip -n "$LAB_B" -d link show "$LAB_VB" | grep -q 'prog/xdp'
	ip -n "$LAB_B" link set dev "$LAB_VB" xdp off
}

@test "monitor: attaches for its duration, prints JSON frames, detaches; stops on SIGTERM" {
	# Pings through the whole run, however long the attach takes: some frame sees them.
	in_a ping -q -c 100 -i 0.05 198.18.0.2 >/dev/null &
	local ping=$!
	run np_b monitor "$LAB_VB" --interval 0.5 --duration 1.6 --json
	kill $ping 2>/dev/null || true
	wait $ping || true
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -ge 3 ]
	[ "$(head -1 <<<"$output" | jq -r '.interfaces[0].name')" = "$LAB_VB" ]
	[ "$(jq -s '[.[].interfaces[0].rx_pps] | max > 0' <<<"$output")" = true ]
	run ! xdp_attached "$LAB_VB"
	[ ! -e "$NETPROBE_PIN_PATH" ]
	# Text view, stopped by a signal.
	nsenter --net="/run/netns/$LAB_B" "$NP" monitor "$LAB_VB" --interval 0.2 >"$BATS_TEST_TMPDIR/mon" 3>&- &
	local pid=$!
	# Stopped once it runs: its first frame is out (loading takes long on a slow machine).
	wait_for 300 grep -q 'INTERFACE' "$BATS_TEST_TMPDIR/mon"
	kill -TERM $pid
	wait $pid
	grep -q 'INTERFACE' "$BATS_TEST_TMPDIR/mon"
	grep -q "detached from $LAB_VB" "$BATS_TEST_TMPDIR/mon"
	run ! xdp_attached "$LAB_VB"
}

@test "monitor detaches what it attached when its reader goes (SIGPIPE) or its terminal closes (SIGHUP)" {
	# The reader of its output stops after one line: the next write gets SIGPIPE.
	# (--json: its first line is a frame, printed once the interface is attached.)
	local first
	first=$(timeout 20 bash -c "nsenter --net=/run/netns/$LAB_B $NP monitor $LAB_VB --json --interval 0.2 --duration 10 | head -1" 3>&-)
	[ "$(jq -r '.interfaces[0].name' <<<"$first")" = "$LAB_VB" ]
	run ! xdp_attached "$LAB_VB"
	[ ! -e "$NETPROBE_PIN_PATH" ]
	nsenter --net="/run/netns/$LAB_B" "$NP" monitor "$LAB_VB" --interval 0.2 >/dev/null 3>&- &
	local pid=$!
	wait_for 50 xdp_attached "$LAB_VB"
	kill -HUP $pid
	wait $pid
	run ! xdp_attached "$LAB_VB"
	[ ! -e "$NETPROBE_PIN_PATH" ]
}

@test "monitor of an attached interface leaves it attached" {
	run np_b attach "$LAB_VB"
	run np_b monitor "$LAB_VB" --interval 0.2 --duration 0.5
	[ "$status" -eq 0 ]
	[[ "$output" == *"$LAB_VB"* ]]
	xdp_attached "$LAB_VB"
}

@test "demo: real traffic through its own lab, then nothing of it left" {
	# 6 s: the scan starts at 1 s, the flood at 2 s; an emulated guest's nmap takes its time.
	run timeout 90 "$NP" demo --duration 6
	[ "$status" -eq 0 ]
	[[ "$output" == *"demo summary: rx "* ]]
	[[ "$output" == *"198.18.0.1"*"198.18.0.2"* ]]
	[[ "$output" == *"removed the namespaces, links and pins"* ]]
	# It counted real traffic.
	local rx
	rx=$(grep -o 'demo summary: rx [0-9]*' <<<"$output" | awk '{print $4}')
	[ "$rx" -gt 20 ]
	# The attacks were caught and blocked, the normal traffic (198.18.0.1) was not.
	[[ "$output" == *"syn_flood from 198.18.0.66"*"source blocked in XDP"* ]]
	[[ "$output" == *"port_scan from 198.18.0.67"* ]]
	[[ "$output" != *"from 198.18.0.1:"* ]]
	[[ "$output" == *"198.18.0.66/32       syn_flood"* ]]
	# Nothing of its lab is left: its names carry its pid (other tests may run at once).
	local pid
	pid=$(grep -oE 'lab npdc-[0-9]+' <<<"$output" | grep -oE '[0-9]+$')
	[ -n "$pid" ]
	[ -z "$(ip netns list | grep -E "^npd[a-z0-9]*-$pid( |$)")" ]
	[ -z "$(ip -o link show | grep -E ": npd[a-z]+[0-9]*$pid[@:]")" ]
	[ ! -e "/sys/fs/bpf/netprobe-demo-$pid" ]
	run "$NP" demo --duration 1
	[ "$status" -eq 2 ]
}

@test "an interface deleted while attached shows as gone and its slot is freed by its name alone" {
	# Two interfaces, one in clsact mode; the other one is deleted.
	ip -n "$LAB_B" link add npkeep0 type veth peer name npkeep1
	ip -n "$LAB_B" link set npkeep0 up
	run np_b attach "$LAB_VB" --tc-mode clsact
	[ "$status" -eq 0 ]
	np_b attach npkeep0
	[ "$(np_b status --json | jq '[.interfaces[] | select(.gone)] | length')" -eq 0 ]
	ip -n "$LAB_B" link del "$LAB_VB"
	[ "$(np_b status --json | jq --arg i "$LAB_VB" '.interfaces[] | select(.name == $i) | .gone')" = true ]
	[ "$(np_b stats --json | jq --arg i "$LAB_VB" '.interfaces[] | select(.name == $i) | .gone')" = true ]
	run np_b status
	[[ "$output" == *"interface deleted: netprobe detach $LAB_VB frees its slot"* ]]
	# By its name, from another namespace too; the healthy one stays.
	run "$NP" detach "$LAB_VB"
	[ "$status" -eq 0 ]
	[ "$(np_b status --json | jq '.interfaces | length')" -eq 1 ]
	xdp_attached npkeep0
	run np_b detach nosuch0
	[ "$status" -eq 1 ]
	[[ "$output" == *"no interface named nosuch0"*"none that netprobe held was deleted"* ]]
	run np_b detach --all
	[ "$status" -eq 0 ]
	[ ! -e "$NETPROBE_PIN_PATH" ]
}
