#!/usr/bin/env bats
# The daemon's Prometheus metrics, proven by their real consumers: promtool
# lints a scrape, and Debian's Prometheus server scrapes the daemon and
# answers PromQL with what the kernel and the sender counted.

load helpers

setup() {
	lab_setup
	daemon_lab
	# ns B's loopback is its own: the default port collides with nothing.
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		interfaces:
		  $LAB_VB: {mode: monitor}
		metrics: {listen: 127.0.0.1:9479}
	EOF
}

teardown() {
	[ -z "${PROM:-}" ] || kill "$PROM" 2>/dev/null || true
	daemon_teardown
}

scrape() { in_b curl -sf "http://127.0.0.1:9479${1:-/metrics}"; }

@test "metrics: promtool lints a scrape; one HELP and TYPE a family, bounded labels; /-/healthy" {
	daemon_start
	in_a ping -c 3 -i 0.05 198.18.0.2 >/dev/null
	local text="$BATS_TEST_TMPDIR/scrape"
	scrape >"$text"
	run promtool check metrics <"$text"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# Each family once; samples of a family together, after its TYPE.
	[ "$(grep -c '^# TYPE ' "$text")" -eq "$(grep '^# TYPE ' "$text" | awk '{print $3}' | sort -u | wc -l)" ]
	[ "$(grep -c '^# HELP ' "$text")" -eq "$(grep -c '^# TYPE ' "$text")" ]
	# Labels only of bounded sets: never an address or a port of a flow.
	[ -z "$(grep -v '^#' "$text" | grep -oE '[a-z_]+="' | sort -u | tr -d '="' |
		grep -vxE 'interface|hook|family|protocol|reason|action|type|scope|outcome|counter|list|vip|backend|table|where|version')" ]
	grep -q "^netprobe_rx_packets_total{interface=\"$LAB_VB\"} [1-9]" "$text"
	grep -q '^netprobe_build_info{version="' "$text"
	# Counters end in _total, in base units.
	[ -z "$(grep '^# TYPE .* counter$' "$text" | awk '{print $3}' | grep -v '_total$')" ]
	[ "$(scrape /-/healthy)" = ok ]
	run in_b curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9479/metrics
	[ "$output" = 405 ]
	run in_b curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9479/nothing
	[ "$output" = 404 ]
	# --metrics takes a listen address, and says so when it is none.
	run np_b daemon --config "$CONF" --metrics 127.0.0.1
	[ "$status" -eq 2 ]
	[[ "$output" == *"--metrics is ADDRESS:PORT"* ]]
}

# q EXPR [TIME]: the first value Prometheus answers for an instant query.
q() {
	in_b curl -sf http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" \
		${2:+--data-urlencode "time=$2"} | jq -r '.data.result[0].value[1] // empty'
}
# Whether Prometheus' latest sample of rx_packets is what netprobe counts now.
prom_caught_up() {
	[ "$(q "netprobe_rx_packets_total{interface=\"$LAB_VB\"}")" = \
		"$(np_b stats --json | jq '.interfaces[0].rx_packets')" ]
}

# prom_start: Debian's Prometheus in ns B, scraping the daemon every second, until it has.
prom_start() {
	cat >"$BATS_TEST_TMPDIR/prometheus.yml" <<-EOF
		global: {scrape_interval: 1s, evaluation_interval: 1s}
		scrape_configs:
		  - job_name: netprobe
		    static_configs: [{targets: ['127.0.0.1:9479']}]
	EOF
	nsenter --net="/run/netns/$LAB_B" prometheus --config.file="$BATS_TEST_TMPDIR/prometheus.yml" \
		--storage.tsdb.path="$BATS_TEST_TMPDIR/tsdb" --web.listen-address=127.0.0.1:9090 \
		>"$BATS_TEST_TMPDIR/prometheus.log" 2>&1 3>&- &
	PROM=$!
	wait_for 300 in_b curl -sf http://127.0.0.1:9090/-/ready
	wait_for 100 eval '[ "$(q "up{job=\"netprobe\"}")" = 1 ]'
}

@test "metrics: a real Prometheus scrapes the daemon: the kernel's count, rate() of a stream, a detection" {
	daemon_start
	prom_start
	# 1. What B's kernel received, Prometheus has: the increase over 100 pings, exactly.
	quiesce "$LAB_B" "$LAB_VB"
	wait_for 100 prom_caught_up
	local p0 k0 p1 k1
	p0=$(q "netprobe_rx_packets_total{interface=\"$LAB_VB\"}")
	k0=$(kstat "$LAB_B" "$LAB_VB" rx_packets)
	in_a ping -c 100 -i 0.01 198.18.0.2 >/dev/null
	quiesce "$LAB_B" "$LAB_VB"
	wait_for 100 prom_caught_up
	p1=$(q "netprobe_rx_packets_total{interface=\"$LAB_VB\"}")
	k1=$(kstat "$LAB_B" "$LAB_VB" rx_packets)
	echo "prometheus +$((p1 - p0)), kernel +$((k1 - k0))"
	[ $((p1 - p0)) -eq $((k1 - k0)) ]
	[ $((k1 - k0)) -ge 100 ]
	# 2. rate() of a paced stream of live frames, against what the sender says it sent.
	local out pps end
	out=$(in_a "$NPBENCH" send "$LAB_VA" --live --pps 20000 --count 160000)
	end=$(date +%s.%N)
	pps=$(sed -n 's/.* pps=\([0-9]*\).*/\1/p' <<<"$out")
	echo "sender: $out"
	sleep 2 # the scrapes that close the window
	local rate
	rate=$(q "rate(netprobe_rx_packets_total{interface=\"$LAB_VB\"}[4s])" \
		"$(echo "$end - 2" | bc)")
	echo "rate() $rate against the sender's $pps a second"
	awk -v r="$rate" -v s="$pps" 'BEGIN { d = r - s; if (d < 0) d = -d; exit !(s > 0 && d <= 0.05 * s) }'
	# 3. A detection shows up as an increase of its counter (filter mode, by a reload).
	local det='netprobe_security_detections_total{interface="'"$LAB_VB"'",type="syn_flood",scope="source"}'
	sed -i "s|{mode: monitor}|{mode: filter, detect: {syn_flood: 200}}|" "$CONF"
	run np_b daemon --reload --config "$CONF"
	[ "$status" -eq 0 ]
	wait_for 100 eval '[ "$(q "$det")" = 0 ]'
	timeout -s INT 3 nsenter --net="/run/netns/$LAB_A" hping3 -S -p 80 --flood 198.18.0.2 \
		>/dev/null 2>&1 || true
	wait_for 100 eval '[ "$(q "$det")" -ge 1 ]'
	[ "$(q "increase(${det}[1m]) > 0")" != "" ]
	[ "$(q netprobe_config_last_reload_successful)" = 1 ]
	[ "$(q netprobe_config_reloads_total)" = 1 ]
}

@test "grafana: every panel's PromQL of deploy/grafana/netprobe.json parses in Prometheus and has data from the lab" {
	local dash="$ROOT/deploy/grafana/netprobe.json"
	# A lab with something for every panel: filter mode with a detection that
	# blocks, a service with a backend, IPFIX to a collector (none listens).
	cat >"$CONF" <<-EOF
		pid_file: $PIDFILE
		interfaces:
		  $LAB_VB: {mode: filter, detect: {syn_flood: 200}, mitigation: unproven}
		services:
		  - vip: 198.18.0.100:80/tcp
		    backends: [198.18.0.1]
		metrics: {listen: 127.0.0.1:9479}
		ipfix: {collector: 127.0.0.1:4739}
	EOF
	daemon_start
	prom_start
	in_a ping -c 20 -i 0.05 198.18.0.2 >/dev/null
	timeout -s INT 3 nsenter --net="/run/netns/$LAB_A" hping3 -S -p 80 --flood 198.18.0.2 \
		>/dev/null 2>&1 || true
	wait_for 100 eval '[ "$(q "sum(netprobe_security_detections_total)")" -ge 1 ]'
	# rate() over the dashboard's window needs two scrapes of each series since they came.
	sleep 3
	# Each panel's queries, as Grafana sends them: all hosts, a 1m rate window.
	local n=0 expr out
	while IFS= read -r expr; do
		expr=${expr//'$__rate_interval'/1m}
		expr=${expr//'$instance'/.*}
		out=$(in_b curl -s http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$expr")
		echo "$expr -> $(jq -c '[.status, (.data.result | length), .error]' <<<"$out")"
		[ "$(jq -r .status <<<"$out")" = success ]
		[ "$(jq '.data.result | length' <<<"$out")" -ge 1 ]
		n=$((n + 1))
	done < <(jq -r '.panels[] | select(.type != "row") | .targets[].expr' "$dash")
	[ "$n" -ge 20 ]
	# Every metric a panel names is one the daemon serves (a renamed one would only show no data).
	local names
	names=$(jq -r '.panels[].targets[]?.expr' "$dash" | grep -oE 'netprobe_[a-z0-9_]+' | sort -u)
	[ "$(wc -w <<<"$names")" -ge 20 ]
	for name in $names; do
		[ "$(q "count($name)")" -ge 1 ] || { echo "the daemon serves no $name"; false; }
	done
	# The dashboard as Grafana imports it: unique panel ids, a place for each, the
	# Prometheus data source and the host variable.
	[ "$(jq '[.panels[].id] | length' "$dash")" -eq "$(jq '[.panels[].id] | unique | length' "$dash")" ]
	[ "$(jq '[.panels[] | select(.gridPos.w == null or .gridPos.h == null)] | length' "$dash")" -eq 0 ]
	[ "$(jq -r '.templating.list[] | select(.name == "datasource") | .query' "$dash")" = prometheus ]
	[ "$(jq -r '.templating.list[] | select(.name == "instance") | .definition' "$dash")" = \
		'label_values(netprobe_build_info, instance)' ]
	[ "$(q 'count(netprobe_build_info)')" = 1 ]
}
