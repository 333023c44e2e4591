#!/usr/bin/env bats
# netprobe daemon: the shipped config, reloads that change only what
# changed, restarts that lose nothing, refusals that change nothing, the
# systemd protocol (through a notify socket of our own), alerts and
# housekeeping in the log.

load helpers

setup() {
	lab_setup
	daemon_lab
	# The shipped example, on this lab's interface, with this test's pid file.
	sed -e "s/^  eth1:/  $LAB_VB:/" -e "s|^pid_file: .*|pid_file: $PIDFILE|" \
		"$ROOT/deploy/netprobe.yaml" >"$CONF"
}

teardown() {
	daemon_teardown
}

daemon_stop() {
	kill -"${1:-TERM}" "$DPID"
	wait "$DPID" || true
	DPID=
}
# set_line START LINE: replaces the line of $CONF that starts with START by LINE.
set_line() { sed -i "s|^$1.*|$2|" "$CONF"; }
reload() { np_b daemon --reload --config "$CONF"; }
# The id of the XDP link netprobe pinned for the (one) interface: a switch keeps it.
bpf_xdp_link_of() { bpftool link show pinned "$NETPROBE_PIN_PATH"/links/slot*_xdp -j | jq .id; }

@test "daemon: the shipped config runs; status names the daemon; check-config agrees" {
	run np_b daemon --check-config --config "$CONF"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok: 1 interface, 1 deny and 1 allow entries"* ]]
	daemon_start
	# The interface, in the mode the file says, with its lists.
	run np_b status --json
	[ "$(jq -r '.interfaces[0].name' <<<"$output")" = "$LAB_VB" ]
	[ "$(jq -r '.interfaces[0].mode' <<<"$output")" = filter ]
	[ "$(jq '.daemon.pid' <<<"$output")" -eq "$DPID" ]
	[ "$(jq -r '.daemon.config' <<<"$output")" = "$CONF" ]
	[ "$(jq '.daemon.last_reload.count' <<<"$output")" -eq 0 ]
	run np_b status
	[[ "$output" == *"daemon: pid $DPID, config $CONF"* ]]
	[ "$(np_b blacklist list --json | jq -r '.entries[0].cidr')" = 203.0.113.0/24 ]
	[ "$(np_b allowlist list --json | jq -r '.entries[0].cidr')" = 192.0.2.0/24 ]
	# It counts: what B's kernel received meanwhile, netprobe saw.
	ping_counted_exactly
	# It keeps running until told: SIGTERM stops it, and the datapath stays.
	daemon_stop TERM
	grep -q "SIGTERM: stopping" "$LOG"
	grep -q "the datapath stays attached" "$LOG"
	xdp_attached "$LAB_VB"
	# Its status goes; the pid file stays, unlocked (a new start takes it over).
	[ ! -e "/run/netprobe/$DID.status.json" ]
	run np_b daemon --reload --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no netprobe daemon runs with $PIDFILE (it is not locked)"* ]]
	run np_b status
	[[ "$output" != *"daemon:"* ]]
}

@test "daemon: a reload switches the mode live through the same link and applies lists as sets" {
	daemon_start
	local link0 rx0
	link0=$(bpf_xdp_link_of)
	[ -n "$link0" ] && [ "$link0" != null ]
	# Entries that are not the config's: one by hand, and a block it did not make.
	np_b blacklist add 198.51.100.9
	# A stream through the switch: counters and flows carry on.
	in_a ping -c 20 -i 0.05 198.18.0.2 >/dev/null
	rx0=$(np_b stats --json | jq '.interfaces[0].rx_packets')
	[ "$(np_b flows --json | jq '.flows | length')" -gt 0 ]
	# filter -> monitor, one deny entry swapped for another, the allow entry gone.
	set_line "    mode:" "    mode: monitor"
	sed -i '/^    detect:/,/^      rate_anomaly:/d; /^    mitigation/d; /^    ipv6_source_prefix/d; /^    security_alerts/d' "$CONF"
	sed -i 's|^    - 203.0.113.0/24|    - 203.0.113.128/25|; /^  allow:/,/^    - 192.0.2.0\/24/d' "$CONF"
	run reload
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"reloaded $CONF, 4 changes"* ]]
	run np_b status --json
	[ "$(jq -r '.interfaces[0].mode' <<<"$output")" = monitor ]
	[ "$(jq '.daemon.last_reload.ok' <<<"$output")" = true ]
	[ "$(jq '.daemon.last_reload.changes' <<<"$output")" -eq 4 ]
	# Same link, counters not reset, flows kept.
	[ "$(bpf_xdp_link_of)" = "$link0" ]
	[ "$(np_b stats --json | jq '.interfaces[0].rx_packets')" -ge "$rx0" ]
	[ "$(np_b flows --json | jq '.flows | length')" -gt 0 ]
	# The lists: the config's as it says now, the hand-made entry untouched.
	[ "$(np_b blacklist list --json | jq -r '[.entries[].cidr] | sort | join(",")')" = \
		"198.51.100.9/32,203.0.113.128/25" ]
	[ "$(np_b allowlist list --json | jq '.entries | length')" -eq 0 ]
	# Which is which, as listed: the config's, and the one by hand.
	[ "$(np_b blacklist list --json | jq -c '[.entries[] | [.cidr, .daemon_config]] | sort')" = \
		'[["198.51.100.9/32",false],["203.0.113.128/25",true]]' ]
	run np_b blacklist list
	[[ "$output" == *"203.0.113.128/25"*"config"* ]]
	[[ "$output" == *"198.51.100.9/32"*"manual"* ]]
	run np_b blacklist del 203.0.113.128/25
	[ "$status" -eq 0 ]
	[[ "$output" == *"note: 203.0.113.128/25 is the daemon's config's: it comes back at its next reload"* ]]
	np_b blacklist add 203.0.113.128/25 >/dev/null
	# A reload of an unchanged file changes nothing.
	run reload
	[ "$status" -eq 0 ]
	[[ "$output" == *", 0 changes"* ]]
	# SIGHUP is the same reload.
	set_line "    mode:" "    mode: filter"
	kill -HUP "$DPID"
	wait_for 100 eval '[ "$(np_b status --json | jq -r ".interfaces[0].mode")" = filter ]'
	[ "$(bpf_xdp_link_of)" = "$link0" ]
}

@test "daemon: a bad new config is refused whole; the running one stays, and status says so" {
	daemon_start
	cp "$CONF" "$BATS_TEST_TMPDIR/good.yaml"
	# Caught by --reload itself, before the daemon is asked.
	set_line "    mode:" "    mode: filtr"
	run reload
	[ "$status" -eq 1 ]
	[[ "$output" == *"$CONF:47:11: mode: 'filtr' is none of monitor, filter, lb"* ]]
	[[ "$output" == *"the daemon was not asked to reload"* ]]
	[ "$(np_b status --json | jq '.daemon.last_reload.count')" -eq 0 ]
	# Caught by the daemon (an interface only it could look for): refused there.
	cp "$BATS_TEST_TMPDIR/good.yaml" "$CONF"
	set_line "    - 203.0.113.0/24" "    - 198.51.100.0/24"
	sed -i "/^interfaces:/a\\  npnosuch0:\\n    mode: monitor" "$CONF"
	run reload
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"reload failed: $CONF:"*"no interface 'npnosuch0' here"* ]]
	grep -q "reload refused: the running config stays" "$LOG"
	# Nothing of it applied: the old deny entry, not the new one.
	[ "$(np_b blacklist list --json | jq -r '[.entries[].cidr] | join(",")')" = 203.0.113.0/24 ]
	run np_b status
	[[ "$output" == *"last reload"*"FAILED: $CONF:"*"npnosuch0"* ]]
	[ "$(np_b status --json | jq '.daemon.last_reload.ok')" = false ]
	# Others could write it: refused too.
	cp "$BATS_TEST_TMPDIR/good.yaml" "$CONF"
	chmod 0666 "$CONF"
	run reload
	[ "$status" -eq 1 ]
	[[ "$output" == *"writable by every user: refused (chmod go-w"* ]]
	chmod 0644 "$CONF"
	# Another file than the daemon's: it would reload its own, so --reload says no.
	cp "$BATS_TEST_TMPDIR/good.yaml" "$BATS_TEST_TMPDIR/other.yaml"
	run np_b daemon --reload --config "$BATS_TEST_TMPDIR/other.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"runs with $CONF, not $BATS_TEST_TMPDIR/other.yaml: it would reload its own; refused"* ]]
	# The daemon still runs, and a good file goes through.
	run reload
	[ "$status" -eq 0 ]
	[ "$(np_b status --json | jq '.daemon.in_sync')" = true ]
	[ "$(np_b status --json | jq '.daemon.last_reload.ok')" = true ]
	kill -0 "$DPID"
}

# cm_update DIR VERSION: the file DIR/..VERSION/netprobe.yaml becomes the one
# DIR/netprobe.yaml is, as kubelet updates a ConfigMap's volume: ..data, a
# symlink, swapped at once for one to the new version's directory.
cm_update() {
	ln -sfn "..$2" "$1/..data.tmp"
	mv -T "$1/..data.tmp" "$1/..data"
}

@test "daemon: --reload-on-change reloads a ConfigMap's update, once; a bad one is refused and the config stays" {
	local cm="$BATS_TEST_TMPDIR/cm"
	mkdir -p "$cm/..v1" "$cm/..v2" "$cm/..v3"
	cp "$CONF" "$cm/..v1/netprobe.yaml"
	cm_update "$cm" v1
	ln -s ..data/netprobe.yaml "$cm/netprobe.yaml"
	CONF=$cm/netprobe.yaml
	daemon_start --reload-on-change
	[ "$(np_b status --json | jq -r '.interfaces[0].mode')" = filter ]
	# An update: filter -> monitor, within a few seconds, with no signal sent.
	sed -e 's/^    mode: filter/    mode: monitor/' "$cm/..v1/netprobe.yaml" >"$cm/..v2/netprobe.yaml"
	cm_update "$cm" v2
	wait_for 50 eval '[ "$(np_b status --json | jq -r ".interfaces[0].mode")" = monitor ]'
	grep -q "$CONF changed" "$LOG"
	# Reloaded once: the file did not change again.
	sleep 2.5
	[ "$(np_b status --json | jq '.daemon.last_reload.count')" -eq 1 ]
	# A bad update is refused, once, and the running config stays.
	sed -e 's/^    mode: monitor/    mode: monitr/' "$cm/..v2/netprobe.yaml" >"$cm/..v3/netprobe.yaml"
	cm_update "$cm" v3
	wait_for 50 eval '[ "$(np_b status --json | jq ".daemon.last_reload.ok")" = false ]'
	sleep 2.5
	[ "$(np_b status --json | jq '.daemon.last_reload.count')" -eq 2 ]
	[ "$(np_b status --json | jq -r '.interfaces[0].mode')" = monitor ]
	# Back to a good one.
	cm_update "$cm" v1
	wait_for 50 eval '[ "$(np_b status --json | jq -r ".interfaces[0].mode")" = filter ]'
	[ "$(np_b status --json | jq '.daemon.last_reload.ok')" = true ]
	# It is for the running daemon only.
	run np_b daemon --reload --reload-on-change --config "$CONF"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--reload-on-change is for the running daemon"* ]]
}

@test "daemon: a bad config at start is refused with FILE:LINE:COLUMN, and nothing is made" {
	printf 'interfaces:\n  %s:\n    mode: filter\n    detect:\n      syn_flod: 100\nlists:\n  deny: [10.0.0.1/8]\n' \
		"$LAB_VB" >"$CONF"
	run np_b daemon --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$CONF:5:7: detect: unknown detection 'syn_flod' (did you mean 'syn_flood'?)"* ]]
	[[ "$output" == *"$CONF:7:10: lists.deny: '10.0.0.1/8' is no CIDR"* ]]
	[[ "$output" == *"refused, nothing changed"* ]]
	[ ! -e "$NETPROBE_PIN_PATH" ]
	[ ! -e "$PIDFILE" ]
	! xdp_attached "$LAB_VB"
	# A file another user owns is refused, though it parses.
	printf 'log_level: info\n' >"$CONF"
	chown nobody "$CONF"
	run np_b daemon --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"belongs to user $(id -u nobody), neither root nor us: refused"* ]]
	run np_b daemon --config "$BATS_TEST_TMPDIR/none.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot read $BATS_TEST_TMPDIR/none.yaml: No such file or directory"* ]]
	# Bad command lines.
	run np_b daemon --config "$CONF" --check-config --reload
	[ "$status" -eq 2 ]
	run np_b daemon --config "$CONF" --pid-file /run/x.pid
	[ "$status" -eq 2 ]
	run np_b daemon --config "$CONF" --log-level loud
	[ "$status" -eq 2 ]
	run np_b daemon extra
	[ "$status" -eq 2 ]
	# --reload with no daemon running.
	rm "$CONF"
	printf 'pid_file: %s\n' "$PIDFILE" >"$CONF"
	run np_b daemon --reload --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no netprobe daemon runs with $PIDFILE"* ]]
}

@test "daemon: a restart, also after kill -9, goes on where it was; what left the config goes" {
	# A second interface, the config's, and a third attached by hand (veth pairs of B's own).
	in_b ip link add npdum0 type veth peer name npdum0p
	in_b ip link add npdum1 type veth peer name npdum1p
	for i in npdum0 npdum0p npdum1 npdum1p; do in_b ip link set "$i" up; done
	sed -i "/^interfaces:/a\\  npdum0:\\n    mode: monitor\\n    xdp_mode: generic" "$CONF"
	# And a service with two backends (its Maglev table is part of what must not move).
	printf 'services:\n  - vip: 198.51.100.1:80/tcp\n    backends: [198.18.0.1, {address: 198.18.0.3, weight: 2}]\n' >>"$CONF"
	daemon_start
	np_b attach npdum1 --xdp-mode generic >/dev/null
	np_b blacklist add 198.51.100.7 --ttl 600
	in_a ping -c 10 -i 0.05 198.18.0.2 >/dev/null
	local rx0 ttl0 flows0 lb0
	rx0=$(np_b stats --json | jq ".interfaces[] | select(.name == \"$LAB_VB\") | .rx_packets")
	ttl0=$(np_b blacklist list --json | jq '.entries[] | select(.cidr == "198.51.100.7/32") | .ttl')
	flows0=$(np_b flows --json | jq '.flows | length')
	lb0=$(np_b lb stats --json | jq -c '[.vips[] | {vip, backends: [.backends[] | {address, weight, table_entries}]}]')
	[ "$flows0" -gt 0 ]
	[[ "$lb0" == *'"weight":2'* ]]
	# SIGTERM and start again: nothing to change.
	daemon_stop TERM
	daemon_start
	grep -q "found what a previous run made: 2 interfaces, 2 entries, 1 services" "$LOG"
	grep -q "running: .*, 0 changes made" "$LOG"
	[ "$(np_b flows --json | jq '.flows | length')" -ge "$flows0" ]
	[ "$(np_b lb stats --json | jq -c '[.vips[] | {vip, backends: [.backends[] | {address, weight, table_entries}]}]')" = "$lb0" ]
	# kill -9, and the config loses npdum0: the next start detaches it, and only it.
	daemon_stop KILL
	[ -e "$PIDFILE" ]
	# Killed: status no longer names it (its status file outlives it; its lock does not).
	run np_b status
	[[ "$output" != *"daemon:"* ]]
	sed -i '/^  npdum0:/,/^    xdp_mode: generic/d' "$CONF"
	daemon_start
	grep -q "npdum0: no longer in the config" "$LOG"
	run np_b status --json
	[ "$(jq -r '[.interfaces[].name] | sort | join(",")' <<<"$output")" = \
		"$(printf '%s\n' "$LAB_VB" npdum1 | sort | paste -sd,)" ]
	# Counters carried on; the hand-made entry kept its TTL, counting down.
	[ "$(np_b stats --json | jq ".interfaces[] | select(.name == \"$LAB_VB\") | .rx_packets")" -ge "$rx0" ]
	local ttl1
	ttl1=$(np_b blacklist list --json | jq '.entries[] | select(.cidr == "198.51.100.7/32") | .ttl')
	[ "$ttl1" -le "$ttl0" ] && [ "$ttl1" -gt 500 ]
	[ "$(np_b blacklist list --json | jq '[.entries[] | select(.cidr == "203.0.113.0/24")] | length')" -eq 1 ]
	# --detach-on-exit removes what is the config's, and leaves the rest.
	daemon_stop TERM
	daemon_start --detach-on-exit
	daemon_stop INT
	grep -q -- "--detach-on-exit: detached" "$LOG"
	! xdp_attached "$LAB_VB"
	run np_b status --json
	[ "$(jq -r '[.interfaces[].name] | join(",")' <<<"$output")" = npdum1 ]
	[ "$(np_b blacklist list --json | jq -r '[.entries[].cidr] | join(",")')" = 198.51.100.7/32 ]
	[ "$(np_b lb stats --json | jq '.vips | length')" -eq 0 ]
}

@test "daemon: a second daemon, by pid file or by pin path, is refused and changes nothing" {
	daemon_start
	local other="$BATS_TEST_TMPDIR/other.yaml"
	printf 'lists:\n  deny: [198.51.100.0/24]\n' >"$other"
	# The same pid file.
	printf 'pid_file: %s\n' "$PIDFILE" >>"$other"
	run np_b daemon --config "$other"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another netprobe daemon (pid $DPID) runs with $PIDFILE: one at a time"* ]]
	# Another pid file, the same pin path.
	sed -i "s|^pid_file: .*|pid_file: /run/netprobe/$DID-2.pid|" "$other"
	run np_b daemon --config "$other"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another process reads the events of $NETPROBE_PIN_PATH"* ]]
	# Refused, it leaves nothing: neither status nor the pid file it made.
	[ ! -e "/run/netprobe/$DID-2.status.json" ]
	[ ! -e "/run/netprobe/$DID-2.pid" ]
	[ "$(np_b blacklist list --json | jq -r '[.entries[].cidr] | join(",")')" = 203.0.113.0/24 ]
	kill -0 "$DPID"
}

@test "daemon: systemd's protocol: READY, RELOADING, STOPPING and the watchdog, on a notify socket" {
	local sock="$BATS_TEST_TMPDIR/notify.sock" got="$BATS_TEST_TMPDIR/notify.log"
	/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
with open(sys.argv[2], "w", buffering=1) as out:
    while True:
        msg = s.recv(4096).decode()
        out.write(msg.replace("\n", " ") + "\n")
        if "STOPPING=1" in msg:
            break
' "$sock" "$got" 3>&- &
	local listener=$!
	wait_for 50 test -S "$sock"
	NOTIFY_SOCKET=$sock WATCHDOG_USEC=400000 daemon_start
	wait_for 50 grep -q "READY=1" "$got"
	kill -HUP "$DPID"
	wait_for 50 grep -q "RELOADING=1" "$got"
	sleep 1
	daemon_stop TERM
	wait "$listener"
	cat "$got"
	# In this order: ready, reloading, ready again, stopping.
	[ "$(grep -oE 'READY=1|RELOADING=1|STOPPING=1' "$got" | paste -sd,)" = \
		"READY=1,RELOADING=1,READY=1,STOPPING=1" ]
	grep -q "MAINPID=$DPID" "$got"
	# Pinged at half the watchdog's 400 ms: at least 4 in the second after the reload.
	[ "$(grep -c 'WATCHDOG=1' "$got")" -ge 4 ]
}

@test "daemon: alerts and the report are log lines; idle flows expire; list files are read again" {
	local deny="$BATS_TEST_TMPDIR/deny.netset"
	printf '# a blocklist\n198.51.100.0/24\n' >"$deny"
	chmod 0644 "$deny"
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		housekeeping: {flow_idle_timeout_ms: 1000, stats_report_interval_ms: 500}
		interfaces:
		  $LAB_VB:
		    mode: filter
		    mitigation: unproven
		    detect: {syn_flood: 200}
		lists:
		  deny_files: [$deny]
		  refresh_s: 1
	EOF
	daemon_start
	[ "$(np_b blacklist list --json | jq -r '.entries[0].cidr')" = 198.51.100.0/24 ]
	# A SYN flood, until the block: one alert line with what an operator greps for.
	nsenter --net="/run/netns/$LAB_A" hping3 -S -p 80 --flood 198.18.0.2 >/dev/null 2>&1 3>&- &
	local flood=$!
	wait_for 300 grep -q "alert type=syn_flood" "$LOG"
	kill -INT "$flood"
	wait "$flood" || true
	[ "$(np_b flows --json | jq '.flows | length')" -gt 0 ]
	grep "alert type=syn_flood" "$LOG"
	grep -q "alert type=syn_flood scope=source src=198.18.0.1 dst=198.18.0.2 interface=$LAB_VB rate=[0-9]* threshold=200 window_ms=1000 blocked=true" "$LOG"
	# The report every 500 ms.
	wait_for 30 eval '[ "$(grep -c "report rx_pps=" "$LOG")" -ge 2 ]'
	# Flows idle for a second leave the table: the daemon runs the expiry.
	wait_for 50 eval '[ "$(np_b flows --json | jq ".flows | length")" -eq 0 ]'
	# The list file changes: read again within its refresh, no reload.
	printf '198.51.100.0/24\n203.0.113.5\n' >"$deny"
	wait_for 50 eval '[ "$(np_b blacklist list --json | jq "[.entries[] | select(.origin == \"manual\")] | length")" -eq 2 ]'
	printf '203.0.113.5\n' >"$deny"
	wait_for 50 eval '[ "$(np_b blacklist list --json | jq "[.entries[] | select(.origin == \"manual\")] | length")" -eq 1 ]'
	# A file that stops parsing is refused; the entries stay as they were.
	printf '203.0.113.5\nnot-a-cidr\n' >"$deny"
	wait_for 50 grep -q "$deny:2:1: 'not-a-cidr' is no CIDR" "$LOG"
	grep -q "a list file is refused; the lists stay as they are" "$LOG"
	# Said once, not at each refresh; and status says it while it lasts.
	sleep 2.5
	[ "$(grep -c "'not-a-cidr' is no CIDR" "$LOG")" -eq 1 ]
	[[ "$(np_b status --json | jq -r .daemon.list_files_error)" == *"'not-a-cidr' is no CIDR"* ]]
	run np_b status
	[[ "$output" == *"LIST FILES REFUSED"* ]]
	[ "$(np_b blacklist list --json | jq -r '[.entries[] | select(.origin == "manual") | .cidr] | join(",")')" = 203.0.113.5/32 ]
	# The block mitigation made is not the daemon's to remove.
	[ "$(np_b blacklist list --json | jq -r '[.entries[] | select(.origin == "syn_flood") | .cidr] | join(",")')" = 198.18.0.1/32 ]
}

# flood_until_blocked: a SYN flood from A until B's deny list holds A's block.
flood_until_blocked() {
	nsenter --net="/run/netns/$LAB_A" hping3 -S -p 80 --flood 198.18.0.2 >/dev/null 2>&1 3>&- &
	local flood=$! ok=0
	wait_for 300 eval '[ "$(np_b blacklist list --json | jq -r "[.entries[] | select(.origin == \"syn_flood\")] | length")" -eq 1 ]' || ok=1
	kill -INT "$flood"
	wait "$flood" || true
	return $ok
}

@test "daemon: hooks run on block and unblock with arguments and JSON; slow or failing ones are logged" {
	local out="$BATS_TEST_TMPDIR/hook.out" hook="$BATS_TEST_TMPDIR/hook"
	printf '#!/bin/sh\n{ echo "args: $*"; cat; } >>%s\n' "$out" >"$hook"
	printf '#!/bin/sh\nsleep 30\n' >"$hook.slow"
	printf '#!/bin/sh\nexit 3\n' >"$hook.fail"
	chmod 0755 "$hook" "$hook.slow" "$hook.fail"
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		interfaces:
		  $LAB_VB:
		    mode: filter
		    mitigation: unproven
		    mitigation_ttl_s: 3
		    detect: {syn_flood: 200}
		hooks:
		  on_block: $hook
		  on_unblock: $hook
		  timeout_s: 1
	EOF
	daemon_start
	# A block, with its rate from the alert; then its TTL runs out.
	flood_until_blocked
	wait_for 50 grep -q "^args: block 198.18.0.1/32 syn_flood [0-9]* [0-9]*$" "$out"
	grep -A1 "^args: block" "$out" | tail -1 | jq -e '.action == "block" and
		.address == "198.18.0.1/32" and .detection == "syn_flood" and .rate >= 200 and
		.threshold == 200 and .ttl_s >= 1 and .ttl_s <= 3'
	grep -q "block address=198.18.0.1/32 detection=syn_flood rate=[0-9]* threshold=200 ttl_s=[0-9]" "$LOG"
	wait_for 80 grep -q "^args: unblock 198.18.0.1/32 syn_flood [0-9]* 0$" "$out"
	grep -A1 "^args: unblock" "$out" | tail -1 | jq -e '.action == "unblock" and .reason == "expired" and
		.rate >= 200 and .ttl_s == 0'
	grep -q "unblock address=198.18.0.1/32 detection=syn_flood reason=expired" "$LOG"
	# Lifted by hand (once the daemon saw it: it looks every second): removed, not expired.
	flood_until_blocked
	wait_for 50 eval '[ "$(grep -c "warning: block address=198.18.0.1/32" "$LOG")" -eq 2 ]'
	np_b blacklist del 198.18.0.1
	wait_for 50 grep -q "unblock address=198.18.0.1/32 detection=syn_flood reason=removed" "$LOG"
	# A hook that overruns its timeout is killed; one that fails is said; the daemon goes on.
	sed -i "s|on_block: .*|on_block: $hook.slow|; s|on_unblock: .*|on_unblock: $hook.fail|" "$CONF"
	run reload
	[ "$status" -eq 0 ]
	flood_until_blocked
	wait_for 50 grep -q "hook on_block 198.18.0.1/32: killed after 1 s" "$LOG"
	wait_for 50 eval '[ "$(grep -c "warning: block address=198.18.0.1/32" "$LOG")" -eq 3 ]'
	np_b blacklist del 198.18.0.1
	wait_for 50 grep -q "hook on_unblock 198.18.0.1/32: exited with 3" "$LOG"
	[ -z "$(pgrep -f "$hook.slow")" ]
	run reload
	[ "$status" -eq 0 ]
	# Hooks are checked as the config is: one anyone could change is refused.
	chmod 0757 "$hook.fail"
	run reload
	[ "$status" -eq 1 ]
	[[ "$output" == *"must belong to root (or us) and be writable by its owner alone"* ]]
}

@test "daemon: the config's entries meet hand-made ones: a TTL one becomes permanent, one on the other list stays there" {
	np_b blacklist add 198.51.100.0/24 --ttl 100 >/dev/null
	np_b allowlist add 203.0.113.0/24 >/dev/null
	printf 'pid_file: %s\nlists:\n  deny: [198.51.100.0/24, 203.0.113.0/24]\n' "$PIDFILE" >"$CONF"
	daemon_start
	grep -q "203.0.113.0/24 is on the allow list by hand: left there, not added to the deny list" "$LOG"
	run np_b blacklist list --json
	[ "$(jq -r '[.entries[].cidr] | join(",")' <<<"$output")" = 198.51.100.0/24 ]
	# Permanent now: the config's.
	[ "$(jq '.entries[0].ttl' <<<"$output")" = null ]
	[ "$(np_b allowlist list --json | jq -r '[.entries[].cidr] | join(",")')" = 203.0.113.0/24 ]
	# The operator lifts the allow entry; the next reload adds the config's deny entry.
	np_b allowlist del 203.0.113.0/24 >/dev/null
	run reload
	[ "$status" -eq 0 ]
	[[ "$output" == *", 1 changes"* ]]
	[ "$(np_b blacklist list --json | jq -r '[.entries[].cidr] | sort | join(",")')" = \
		198.51.100.0/24,203.0.113.0/24 ]
}

@test "daemon: an interface of the config deleted and made again is attached again; a new pin path is refused while the old holds ours" {
	in_b ip link add npdum0 type veth peer name npdum0p
	in_b ip link set npdum0 up
	printf 'pid_file: %s\ninterfaces:\n  npdum0: {xdp_mode: generic}\n' "$PIDFILE" >"$CONF"
	daemon_start
	[ "$(np_b status --json | jq -r '.interfaces[0].name')" = npdum0 ]
	in_b ip link del npdum0
	wait_for 50 grep -q "npdum0: the interface was deleted: its slot is freed" "$LOG"
	[ "$(np_b status --json | jq '.interfaces | length')" -eq 0 ]
	in_b ip link add npdum0 type veth peer name npdum0p
	in_b ip link set npdum0 up
	wait_for 50 eval '[ "$(np_b status --json | jq -r "[.interfaces[] | select(.gone | not) | .name] | join(\",\")")" = npdum0 ]'
	[ "$(np_b status --json | jq '.interfaces | length')" -eq 1 ]
	grep -q "npdum0: back: attached again" "$LOG"
	# Another pin path with what the daemon made still at the old one: refused, nothing made.
	daemon_stop TERM
	printf 'pin_path: %s-2\n' "$NETPROBE_PIN_PATH" >>"$CONF"
	run np_b daemon --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the daemon last ran with pin path $NETPROBE_PIN_PATH, and what it made may run there still"* ]]
	[ ! -e "$NETPROBE_PIN_PATH-2" ]
	# --check-config says what the daemon would of a pid file in a directory anyone writes.
	printf 'pid_file: /tmp/np-%s.pid\n' "$DID" >"$CONF"
	run np_b daemon --check-config --config "$CONF"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pid_file /tmp/np-$DID.pid: its directory /tmp is writable by every user"* ]]
}
