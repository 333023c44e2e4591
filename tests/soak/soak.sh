#!/usr/bin/env bash
# The soak: netprobe's daemon in filter mode on the lab's veth for DURATION
# seconds, under the fastest traffic this machine sends (np-bench, three
# senders at once: a clean source, a deny-listed one, a SYN flood that the
# detection sets off and mitigation blocks), while the deny list churns
# (a prefix added and an older one removed every second, none of them the
# traffic's), the config is changed and reloaded every 10 s and /metrics
# scraped every second. Each minute: the daemon's RSS and open files, the
# rate, the scrapes. At the end, exact counts against the sender's and the
# receiver's kernel counters and what each sender says it sent, and every
# event the kernel made accounted for.
#   tests/soak/soak.sh DURATION [--doc]
# --doc (make soak): writes docs/RELIABILITY.md's soak table.
set -u
cd "$(dirname "$0")/../.."
duration=${1:?duration in seconds}
doc=${2:-}
[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 20 ] || {
	echo "soak: DURATION is seconds, 20 or more" >&2
	exit 2
}

# The integration tests' lab and daemon helpers, outside bats.
bats_require_minimum_version() { :; }
BATS_TEST_DIRNAME=$PWD/tests/integration
BATS_TEST_TMPDIR=$(mktemp -d /tmp/netprobe-soak.XXXXXX)
BATS_TEST_NUMBER=0
# shellcheck source=../integration/helpers.bash
. tests/integration/helpers.bash

failed=0
fail() {
	echo "soak: FAIL: $*"
	failed=1
}
work=$BATS_TEST_TMPDIR
senders=()
cleanup() {
	local p
	for p in "${senders[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	daemon_teardown
	# A failed soak keeps its files (the daemon's log, the scrapes) for a look.
	if [ "$failed" -eq 0 ]; then rm -rf "$work"; else echo "soak: its files are in $work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

lab_setup
daemon_lab
write_config() { # write_config N: the config of the Nth reload (one deny prefix moves)
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		log_level: info
		housekeeping: {flow_idle_timeout_ms: 0, stats_report_interval_ms: 10000}
		interfaces:
		  $LAB_VB:
		    mode: filter
		    detect: {syn_flood: 2000/1000, udp_flood: off, icmp_flood: off, tcp_flood: off,
		             other_flood: off, port_scan: off, rate_anomaly: off}
		    mitigation: unproven
		    mitigation_ttl_s: 20
		    security_alerts: true
		lists:
		  deny: [198.51.100.0/24, 10.202.$(($1 % 250)).0/24]
		metrics: {listen: 127.0.0.1:9479}
	EOF
}
write_config 0
daemon_start || exit 1
in_b "$NP" check >/dev/null 2>&1 || true
# A scrape may wait on two saturated CPUs; 10 s is Prometheus' own default timeout.
scrape() { in_b curl -sf -m 10 http://127.0.0.1:9479/metrics; }
metric() { # metric SAMPLE: its value in the scrape file $S (SAMPLE with its labels, if any)
	awk -v n="$1" '$1 == n { print $2; found = 1; exit } END { if (!found) print -1 }' "$S"
}
kcount() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status"; }
fds() { ls "/proc/$DPID/fd" | wc -l; }
stats_json() { np_b stats --json; }

# What netprobe and the kernels counted before the traffic.
S=$work/before.prom
scrape >"$S" || fail "the first scrape failed"
stats_json >"$work/before.json"
k_rx0=$(kcount "$LAB_B" "$LAB_VB" rx_packets)
k_tx0=$(kcount "$LAB_A" "$LAB_VA" tx_packets)

# send CLASS ARGS...: one sender, in batches until the deadline; what it sent, in $work/CLASS.
deadline=$(($(date +%s) + duration))
send() {
	local class=$1 out
	shift
	: >"$work/$class"
	while [ "$(date +%s)" -lt "$deadline" ]; do
		out=$(in_a "$NPBENCH" send "$LAB_VA" --count 20000 --size 64 "$@") || {
			echo "soak: sender $class failed: $out" >&2
			echo fail >>"$work/$class"
			return 1
		}
		sed -n 's/^sent=\([0-9]*\).*/\1/p' <<<"$out" >>"$work/$class"
	done
}
sent() { awk '$1 == "fail" { bad = 1 } { s += $1 } END { print bad ? -1 : s + 0 }' "$work/$1"; }

send clean --src 198.18.0.1 --dst 198.18.0.2 --proto udp --sport 5000 --dport 9 &
senders+=($!)
send denied --src 198.51.100.7 --dst 198.18.0.2 --proto udp --sport 5001 --dport 9 &
senders+=($!)
send flood --src 10.77.0.1 --dst 198.18.0.2 --proto tcp --tcp-flags 0x02 --sport 5002 --dport 80 &
senders+=($!)

# minute_row NAME NOW: the daemon's RSS and open files, the rate since the last row, the scrapes.
minute_row() {
	local rx
	rx=$(kcount "$LAB_B" "$LAB_VB" rx_packets)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(rss_kb)" "$(fds)" \
		$(((rx - last_rx) / ($2 - last_t > 0 ? $2 - last_t : 1))) "$scrapes" \
		"$scrape_fails" "$reloads" | tee -a "$work/minutes.tsv"
	last_rx=$rx last_t=$2
}
echo "soak: ${duration}s; each minute: the daemon's RSS and open files, packets a second, scrapes"
printf 'minute\trss_kb\tfds\tpps\tscrapes\tscrape_failures\treloads\n' | tee "$work/minutes.tsv"
rss0=$(rss_kb) fds0=$(fds)
start=$(date +%s) scrapes=0 scrape_fails=0 reloads=0 churn=0 minute=0
last_rx=$(kcount "$LAB_B" "$LAB_VB" rx_packets) last_t=$start
while [ "$(date +%s)" -lt "$deadline" ]; do
	now=$(date +%s)
	S=$work/last.prom
	if scrape >"$S.new"; then
		mv "$S.new" "$S"
		scrapes=$((scrapes + 1))
	else
		scrape_fails=$((scrape_fails + 1))
	fi
	# The deny list churns: a prefix in, the one of five seconds ago out.
	np_b blacklist add "10.201.$((churn % 250)).0/24" >/dev/null || fail "blacklist add failed"
	[ "$churn" -lt 5 ] || np_b blacklist del "10.201.$(((churn - 5) % 250)).0/24" >/dev/null ||
		fail "blacklist del failed"
	churn=$((churn + 1))
	if [ $(((now - start) % 10)) -eq 9 ]; then
		reloads=$((reloads + 1))
		write_config "$reloads"
		kill -HUP "$DPID"
	fi
	if [ $((now - start)) -ge $(((minute + 1) * 60)) ]; then
		minute=$((minute + 1))
		minute_row "$minute" "$now"
	fi
	kill -0 "$DPID" 2>/dev/null || {
		fail "the daemon died"
		break
	}
	# To the next second's tick: the loop's own work does not stretch the cadence.
	sleep "0.$(printf '%09d' $((1000000000 - 10#$(date +%N))))"
done
# The last row, at the end, whatever the loop's last second was.
[ $(($(date +%s) - start)) -lt $((minute * 60 + 5)) ] || minute_row end "$(date +%s)"
wait "${senders[@]}"
senders=()
sleep 1 # the last frames through, the last events read

# ---- The end: exact counts ----
S=$work/after.prom
scrape >"$S" || fail "the last scrape failed"
stats_json >"$work/after.json"
k_rx=$(($(kcount "$LAB_B" "$LAB_VB" rx_packets) - k_rx0))
k_tx=$(($(kcount "$LAB_A" "$LAB_VA" tx_packets) - k_tx0))
clean=$(sent clean) denied=$(sent denied) flood=$(sent flood)
total=$((clean + denied + flood))
d() { # d FIELD: its growth in netprobe stats --json (the lab interface)
	jq -n --slurpfile a "$work/after.json" --slurpfile b "$work/before.json" \
		"\$a[0].interfaces[0].$1 - \$b[0].interfaces[0].$1"
}
np_rx=$(d rx_packets) pass=$(d xdp_pass) drop=$(d xdp_drop)
deny=$(d counters.filter_deny_drops) block=$(d counters.filter_block_drops)
malformed_drop=$(d counters.filter_malformed_drops) tc_in=$(d counters.tc_ingress_packets)
[ "$clean" -ge 0 ] && [ "$denied" -ge 0 ] && [ "$flood" -ge 0 ] || fail "a sender failed"
[ "$k_tx" -eq "$total" ] || fail "the sender's kernel sent $k_tx, np-bench says $total"
[ "$k_rx" -eq "$total" ] || fail "the receiver's kernel got $k_rx of $total"
[ "$np_rx" -eq "$k_rx" ] || fail "netprobe counted $np_rx received, the kernel $k_rx"
[ $((pass + drop)) -eq "$np_rx" ] || fail "pass $pass + drop $drop is not $np_rx"
[ "$deny" -eq "$denied" ] || fail "deny drops $deny, the denied source sent $denied"
[ $((deny + block + malformed_drop)) -eq "$drop" ] ||
	fail "deny $deny + block $block + malformed $malformed_drop is not drop $drop"
[ "$tc_in" -eq "$pass" ] || fail "TC ingress saw $tc_in, XDP passed $pass"
# The clean flow passed whole: no block ever met it.
clean_flow=$(np_b flows --json | jq '[.flows[] | select(.sport == 5000 and .proto == "udp" and
	.direction == "ingress")] | map(.packets) | add // 0')
[ "$clean_flow" -eq "$clean" ] || fail "the clean flow counted $clean_flow of $clean"
[ "$block" -gt 0 ] || fail "the flood was never blocked"
# Events: every one the kernel made was delivered, or its loss counted where it happened.
events_settled() {
	scrape >"$S" || return 1
	produced=$(metric netprobe_events_produced_total)
	delivered=$(metric netprobe_events_delivered_total)
	lost_queue=$(metric 'netprobe_events_lost_total{where="queue"}')
	lost_malformed=$(metric 'netprobe_events_lost_total{where="malformed"}')
	lost_kernel=$(metric 'netprobe_events_lost_total{where="kernel"}')
	[ "$produced" -eq $((delivered + lost_queue + lost_malformed)) ]
}
wait_for 50 events_settled ||
	fail "events: produced $produced, delivered $delivered, lost in the queue $lost_queue, malformed $lost_malformed"
[ "$produced" -gt 0 ] || fail "no event was produced (the flood's detection makes them)"
# Every reload asked was made, the last one too.
[ "$(metric netprobe_config_reloads_total)" -eq "$reloads" ] ||
	fail "the daemon counted $(metric netprobe_config_reloads_total) reloads of $reloads"
[ "$(metric netprobe_config_last_reload_successful)" = 1 ] || fail "the last reload failed"
# Flat: the last minute's RSS within 10 % (and 2 MB) of the first minute's (of the
# start's, in a one-minute soak), and as many open files.
rss_end=$(tail -1 "$work/minutes.tsv" | cut -f2) fds_end=$(tail -1 "$work/minutes.tsv" | cut -f3)
rss_first=$rss0 fds_first=$fds0
if [ "$(wc -l <"$work/minutes.tsv")" -gt 2 ]; then
	rss_first=$(sed -n 2p "$work/minutes.tsv" | cut -f2) fds_first=$(sed -n 2p "$work/minutes.tsv" | cut -f3)
fi
[ "$rss_end" -le $((rss_first + rss_first / 10 + 2048)) ] || fail "RSS grew: $rss_first kB to $rss_end kB"
# The daemon opens a few files as it starts serving (a scrape's connection): at most 2 more.
[ "$fds_end" -le $((fds_first + 2)) ] || fail "open files: $fds_first, then $fds_end"
[ "$scrape_fails" -eq 0 ] || fail "$scrape_fails scrapes failed"
promtool check metrics <"$S" >/dev/null 2>&1 || fail "promtool refused the last scrape"
rate=$((total / duration))
echo "soak: sent $total ($clean clean, $denied denied, $flood flood), $rate a second;" \
	"received $k_rx; netprobe: pass $pass, deny $deny, block $block; $reloads reloads," \
	"$churn list changes, $scrapes scrapes; RSS $rss0 -> $rss_end kB, open files $fds0 -> $fds_end"
echo "soak: events: $produced produced, $delivered delivered, lost: $lost_kernel in the kernel," \
	"$lost_queue in the queue, $lost_malformed malformed"
outcome=held
[ "$failed" -eq 0 ] || outcome=FAILED
echo "soak: $outcome"

# make soak: docs/RELIABILITY.md's table, from this run.
if [ "$doc" = --doc ]; then
	section=$work/section.md
	{
		echo "<!-- soak: written by make soak -->"
		echo "\`make soak DURATION=$duration\` on $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r):" \
			"$total frames sent ($clean clean, $denied from a deny-listed source, $flood of a SYN" \
			"flood), $rate a second through one veth; $reloads reloads, $churn deny-list changes," \
			"$scrapes scrapes. At the end: the receiver's kernel counted $k_rx, netprobe $np_rx" \
			"(pass $pass, deny drops $deny, block drops $block); the clean flow $clean_flow of" \
			"$clean; events $produced produced, $delivered delivered, $lost_kernel lost in the" \
			"kernel and $lost_queue in the queue, counted. Outcome: **$outcome**."
		echo
		echo "| minute | daemon RSS (kB) | open files | packets a second | scrapes | failed | reloads |"
		echo "|---|---|---|---|---|---|---|"
		tail -n +2 "$work/minutes.tsv" | while IFS=$'\t' read -r m r f p sc sf rl; do
			echo "| $m | $r | $f | $p | $sc | $sf | $rl |"
		done
		echo "<!-- /soak -->"
	} >"$section"
	scripts/doc-section.sh soak "$section" docs/RELIABILITY.md
	echo "soak: docs/RELIABILITY.md rewritten"
fi
exit "$failed"
