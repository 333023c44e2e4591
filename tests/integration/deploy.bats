#!/usr/bin/env bats
# What deploy/ ships, checked by the tools that consume it: systemd's own
# checker for the unit, and its security analysis, whose score the README
# states.

load helpers

teardown() {
	[ -z "${DPID:-}" ] || kill -TERM "$DPID" 2>/dev/null || true
	[ -z "${DPID:-}" ] || wait "$DPID" 2>/dev/null || true
	lab_teardown
	[ -z "${PRIV_WORK:-}" ] || rm -rf "$PRIV_WORK"
}

# The unit as make install writes it, ExecStart on this tree's binary.
unit_here() {
	UNIT="$BATS_TEST_TMPDIR/netprobe.service"
	sed -e "s|@BINDIR@|$ROOT|g" -e 's|@SYSCONFDIR@|/etc|g' -e "s|@PKGLIBDIR@|$ROOT/deploy/systemd|g" \
		"$ROOT/deploy/systemd/netprobe.service" >"$UNIT"
}

@test "systemd unit: systemd-analyze verify finds nothing wrong" {
	unit_here
	# Documentation=man:netprobe(8): verify runs man, which finds the page built here.
	mkdir -p "$BATS_TEST_TMPDIR/man/man8"
	cp "$ROOT/.output/netprobe.8" "$BATS_TEST_TMPDIR/man/man8/"
	MANPATH="$BATS_TEST_TMPDIR/man" run systemd-analyze verify "$UNIT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -qx 'Type=notify' "$UNIT"
	grep -qx 'NoNewPrivileges=yes' "$UNIT"
	# Its own user, with only what the daemon needs, as the least-privilege test
	# below runs it (docs/DAEMON.md, Privileges).
	grep -qx 'User=netprobe' "$UNIT"
	grep -qx 'CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON' "$UNIT"
	grep -qx 'AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON' "$UNIT"
	# The pin directory it makes, binds and writes is the command's default.
	local pin
	pin=$("$NP" --help | sed -n 's/.*default \(\/sys\/fs\/bpf\/[a-z]*\).*/\1/p' | head -1)
	[ "$pin" = /sys/fs/bpf/netprobe ]
	grep -qx "ExecStartPre=+$ROOT/deploy/systemd/netprobe-pin-dir netprobe $pin" "$UNIT"
	grep -qx "BindPaths=$pin" "$UNIT"
	grep -qx "ReadWritePaths=$pin /run/netprobe" "$UNIT"
}

@test "systemd unit: the exposure score of systemd-analyze security is the README's" {
	unit_here
	local score
	score=$(systemd-analyze security --offline=yes "$UNIT" 2>/dev/null |
		sed -n 's/.*Overall exposure level for netprobe.service: \([0-9.]*\).*/\1/p')
	echo "exposure: $score"
	[ -n "$score" ]
	tr -s "\n " "  " <"$ROOT/README.md" | grep -q "exposure level of $score"
}

@test "sysusers: the daemon's user, as systemd-sysusers makes it" {
	mkdir -p "$BATS_TEST_TMPDIR/root/etc"
	run systemd-sysusers --root="$BATS_TEST_TMPDIR/root" "$ROOT/deploy/systemd/netprobe.sysusers"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^netprobe:x:[0-9]*:[0-9]*:netprobe daemon:/nonexistent:/usr/sbin/nologin$' \
		"$BATS_TEST_TMPDIR/root/etc/passwd"
	grep -q '^netprobe:x:[0-9]*:$' "$BATS_TEST_TMPDIR/root/etc/group"
}

@test "netprobe-pin-dir: the pin directory made the user's, with what is in it; never through a symlink or in a directory others write" {
	local d="/run/np-pindir-$$" uid=$((61000 + RANDOM % 3000))
	PRIV_WORK=$d
	install -d -m 0755 "$d"
	# Made, and what root had made in it before given over too.
	"$ROOT/deploy/systemd/netprobe-pin-dir" "$uid" "$d/pins"
	[ "$(stat -c '%u %g %a' "$d/pins")" = "$uid $uid 700" ]
	mkdir -m 0755 "$d/pins/links"
	touch "$d/pins/links/x"
	"$ROOT/deploy/systemd/netprobe-pin-dir" "$uid" "$d/pins"
	[ -z "$(find "$d/pins" ! -user "$uid")" ]
	[ "$(stat -c %a "$d/pins")" = 700 ]
	# A symlink in its place: refused, and where it points is left alone.
	install -d -m 0755 "$d/target"
	ln -s "$d/target" "$d/link"
	run "$ROOT/deploy/systemd/netprobe-pin-dir" "$uid" "$d/link"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is no directory (a symbolic link?): refused"* ]]
	[ "$(stat -c '%u %a' "$d/target")" = "0 755" ]
	# A parent others may write to (a bpffs mounted 1777): refused.
	install -d -m 1777 "$d/open"
	run "$ROOT/deploy/systemd/netprobe-pin-dir" "$uid" "$d/open/pins"
	[ "$status" -eq 1 ]
	[[ "$output" == *"must belong to root and be writable by nobody else"* ]]
	[ ! -e "$d/open/pins" ]
}

# priv_caps: the unit's capabilities, as setpriv writes them (+bpf,+net_admin,...).
priv_caps() {
	sed -n 's/^AmbientCapabilities=//p' "$ROOT/deploy/systemd/netprobe.service" |
		tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g'
}
# Hex capability mask of a setpriv list: what /proc/PID/status shows.
caps_mask() {
	local c mask=0
	for c in ${1//,/ }; do
		mask=$((mask | 1 << $(capsh --explain="cap_${c#+}" | sed -n '1s/^[a-z_]* (\([0-9]*\)).*/\1/p')))
	done
	printf '%016x' "$mask"
}

@test "least privilege: the daemon as its own user with the unit's capabilities and mount layout: start, traffic, reload, block, metrics, stop" {
	lab_setup
	daemon_lab
	local caps uid pin=$NETPROBE_PIN_PATH work
	caps=$(priv_caps)
	[ "$caps" = "+bpf,+net_admin,+perfmon" ]
	# A user of no one's: a free uid, like the one sysusers makes.
	uid=$((61000 + RANDOM % 3000))
	while getent passwd "$uid" >/dev/null; do uid=$((uid + 1)); done
	# What the unit's ExecStartPre does: the pin directory, the user's.
	"$ROOT/deploy/systemd/netprobe-pin-dir" "$uid" "$pin"
	[ "$(stat -c '%u %a' "$pin")" = "$uid 700" ]
	# Its files, where that user can read them (the config root's, as in /etc).
	work="/run/np-priv-$DID"
	PRIV_WORK=$work
	install -d -m 0755 "$work"
	install -d -o "$uid" -g "$uid" -m 0755 "$work/state"
	printf '#!/bin/sh\n{ echo "$*"; grep -E "^Cap(Eff|Prm|Amb)" /proc/self/status; } >>%s/state/hook.out\n' \
		"$work" >"$work/hook"
	chmod 0755 "$work/hook"
	cat >"$work/netprobe.yaml" <<-EOF
		pid_file: $work/state/netprobe.pid
		pin_path: $pin
		interfaces:
		  $LAB_VB:
		    mode: filter
		    mitigation: unproven
		    detect: {syn_flood: 200}
		lists:
		  deny: [203.0.113.0/24]
		hooks:
		  on_block: $work/hook
		metrics: {listen: 127.0.0.1:9479}
	EOF
	chmod 0644 "$work/netprobe.yaml"
	LOG=$work/daemon.log
	# The unit's mount layout: an empty /sys/fs/bpf with the host's pin
	# directory bound in, then the user with exactly the unit's capabilities.
	unshare --mount --propagation slave bash -c "
		mkdir -p '$work/hold' && mount --bind '$pin' '$work/hold' &&
		mount -t tmpfs -o mode=0755 tmpfs /sys/fs/bpf && mkdir '$pin' &&
		mount --move '$work/hold' '$pin' &&
		exec nsenter --net=/run/netns/$LAB_B setpriv --reuid $uid --regid $uid --clear-groups \
			--inh-caps=-all,$caps --ambient-caps=$caps --bounding-set=-all,$caps \
			--no-new-privs '$NP' daemon --config '$work/netprobe.yaml'" >"$LOG" 2>&1 3>&- &
	DPID=$!
	wait_for 300 grep -q "running: " "$LOG" || { cat "$LOG"; false; }
	cat "$LOG"
	# After the load it kept the three, for every thread, and passes none on.
	grep -q "capabilities: kept CAP_NET_ADMIN CAP_BPF CAP_PERFMON, dropped the rest" "$LOG"
	local mask t
	mask=$(caps_mask "$caps")
	for t in /proc/"$DPID"/task/*; do
		grep -qx "Uid:	$uid	$uid	$uid	$uid" "$t/status"
		grep -qx "CapEff:	$mask" "$t/status"
		grep -qx "CapPrm:	$mask" "$t/status"
		grep -qx "CapInh:	0000000000000000" "$t/status"
		grep -qx "CapAmb:	0000000000000000" "$t/status"
	done
	# Its pins: the user's, 0600, in 0700 directories; nothing else there.
	[ -z "$(find "$pin" ! -user "$uid")" ]
	[ -z "$(find "$pin" -type f ! -perm 0600)" ]
	[ -z "$(find "$pin" -type d ! -perm 0700)" ]
	[ "$(find "$pin" -type f | wc -l)" -gt 20 ]
	# Traffic: root's command reads the user's state, and counts what the kernel did.
	ping_counted_exactly
	# Metrics, from its own listener: the count the command read.
	in_b curl -sf http://127.0.0.1:9479/metrics |
		grep -qx "netprobe_rx_packets_total{interface=\"$LAB_VB\"} $(np_b stats --json | jq '.interfaces[0].rx_packets')"
	# A block it makes itself, and the hook it runs has no capabilities at all.
	nsenter --net="/run/netns/$LAB_A" hping3 -S -p 80 --flood 198.18.0.2 >/dev/null 2>&1 3>&- &
	local flood=$!
	wait_for 300 eval '[ "$(np_b blacklist list --json | jq "[.entries[] | select(.origin == \"syn_flood\")] | length")" -eq 1 ]' ||
		{ kill -INT "$flood"; false; }
	kill -INT "$flood"
	wait "$flood" || true
	wait_for 50 grep -q "^block 198.18.0.1/32 syn_flood" "$work/state/hook.out"
	cat "$work/state/hook.out"
	[ "$(grep -c '^Cap.*:	0000000000000000$' "$work/state/hook.out")" -eq 3 ]
	# Root's command changes the state: what it makes there is the user's.
	ip -n "$LAB_B" link add npp0 type veth peer name npp1
	ip -n "$LAB_B" link set npp0 up
	np_b attach npp0 --mode monitor
	np_b blacklist add 198.51.100.7 >/dev/null
	[ -z "$(find "$pin" ! -user "$uid")" ]
	# A reload that loads programs (filter -> monitor, a new attachment) and changes a list.
	sed -i "s|^    mode: filter|    mode: monitor|; /^    mitigation:/d; /^    detect:/d; s|203.0.113.0/24|203.0.113.0/25|" \
		"$work/netprobe.yaml"
	run np_b daemon --reload --config "$work/netprobe.yaml"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(np_b status --json | jq -r --arg i "$LAB_VB" '.interfaces[] | select(.name == $i) | .mode')" = monitor ]
	np_b blacklist list --json | jq -e '[.entries[].cidr] | index("203.0.113.0/25") != null and index("203.0.113.0/24") == null'
	[ -z "$(find "$pin" ! -user "$uid")" ]
	# Stop: it exits cleanly, the datapath stays.
	kill -TERM "$DPID"
	wait "$DPID"
	DPID=
	grep -q "the datapath stays attached" "$LOG"
	xdp_attached "$LAB_VB"
	# root starting the daemon on the user's state is refused: root's files there
	# would be the user's to replace, and the service could not open them.
	run np_b daemon --config "$work/netprobe.yaml"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$pin belongs to uid $uid, the service's user: the daemon runs as that user"* ]]
	[ -z "$(find "$pin" ! -user "$uid")" ]
}

# The packages an apt-get install of the Containerfile's stage N installs (1: build, 2: image).
containerfile_packages() {
	awk -v want="$1" '/^FROM /{stage++} stage == want' "$ROOT/deploy/kubernetes/Containerfile" |
		sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
		sed -n 's/.*--no-install-recommends\(.*\)&& rm.*/\1/p' | tr -s ' ' '\n' | grep . | sort
}

@test "Containerfile: the image installs the packages of the libraries netprobe links, the build the project's" {
	local needed lib path pkg
	# Each library the binary names (NEEDED), by the Debian package that has it; libc is in the base.
	needed=$(readelf -d "$NP" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r lib; do
		path=$(ldd "$NP" | awk -v l="$lib" '$1 == l {print $3}')
		[ -n "$path" ] || continue
		pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "/lib/x86_64-linux-gnu/$lib" 2>/dev/null ||
			dpkg -S "/usr/lib/x86_64-linux-gnu/$lib")
		echo "${pkg%%:*}"
	done | grep -vx libc6 | sort -u)
	echo "needed: $needed"
	[ -n "$needed" ]
	[ "$(containerfile_packages 2)" = "$needed" ]
	# The build stage: the build packages of scripts/install-deps.sh, but the formatter.
	local build
	build=$(sed -n '/# build$/,/# tests/p' "$ROOT/scripts/install-deps.sh" | grep -v '#' |
		tr -s ' \t' '\n' | grep . | grep -vx clang-format | sort)
	[ "$(containerfile_packages 1)" = "$build" ]
	# The image runs the daemon on the shipped config; the DaemonSet gives its own.
	grep -qx 'COPY --from=build /src/netprobe /usr/sbin/netprobe' "$ROOT/deploy/kubernetes/Containerfile"
}

K8S="$ROOT/deploy/kubernetes"
# k8s_json FILE: its objects as a JSON array (js-yaml, as the schema check reads them).
k8s_json() {
	node -e 'const y = require(process.argv[1]);
		console.log(JSON.stringify(y.loadAll(require("fs").readFileSync(process.argv[2], "utf8"))))' \
		"$ROOT/tests/k8s/node_modules/js-yaml" "$1"
}

@test "kubernetes: every manifest passes the Kubernetes API's schema; a misspelt field or a wrong type does not" {
	local files=()
	mapfile -t files < <(k8s_json "$K8S/kustomization.yaml" | jq -r '.[0].resources[]')
	# kustomize applies them all: every manifest of the folder, each once.
	[ "$(printf '%s\n' "${files[@]}" | sort)" = \
		"$(cd "$K8S" && ls *.yaml | grep -vx kustomization.yaml | sort)" ]
	run node "$ROOT/tests/k8s/validate.mjs" "${files[@]/#/$K8S/}"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c ': ok' <<<"$output")" -eq 5 ]
	# The check can fail: a field the API has not, a wrong type, a CRD's wrong type.
	sed 's/^            privileged: false/            privilegd: false/' "$K8S/daemonset.yaml" >"$BATS_TEST_TMPDIR/a.yaml"
	sed 's/containerPort: 9479/containerPort: "9479x"/' "$K8S/daemonset.yaml" >"$BATS_TEST_TMPDIR/b.yaml"
	sed 's/^      interval: 15s/      interval: [15s]/' "$K8S/servicemonitor.yaml" >"$BATS_TEST_TMPDIR/d.yaml"
	for f in a b d; do
		run node "$ROOT/tests/k8s/validate.mjs" "$BATS_TEST_TMPDIR/$f.yaml"
		echo "$output"
		[ "$status" -eq 1 ]
	done
	[[ "$(node "$ROOT/tests/k8s/validate.mjs" "$BATS_TEST_TMPDIR/a.yaml")" == *"securityContext.privilegd: no such field in V1SecurityContext"* ]]
}

@test "kubernetes: the DaemonSet runs the daemon on the node's network and bpffs with three capabilities, its ConfigMap reloaded, its metrics scraped; sized from the bench" {
	local ds cm sm svc
	ds=$(k8s_json "$K8S/daemonset.yaml" | jq '.[0]')
	cm=$(k8s_json "$K8S/configmap.yaml" | jq '.[0]')
	sm=$(k8s_json "$K8S/servicemonitor.yaml" | jq '.[0]')
	svc=$(k8s_json "$K8S/service.yaml" | jq '.[0]')
	local pod='.spec.template.spec' c='.spec.template.spec.containers[0]'
	[ "$(jq -r "$pod.hostNetwork" <<<"$ds")" = true ]
	[ "$(jq -r "$pod.dnsPolicy" <<<"$ds")" = ClusterFirstWithHostNet ]
	# Capabilities instead of privileged: exactly the three, everything else dropped.
	[ "$(jq -r "$c.securityContext.privileged" <<<"$ds")" = false ]
	[ "$(jq -r "$c.securityContext.allowPrivilegeEscalation" <<<"$ds")" = false ]
	[ "$(jq -c "$c.securityContext.capabilities" <<<"$ds")" = '{"drop":["ALL"],"add":["BPF","NET_ADMIN","PERFMON"]}' ]
	# The node's bpffs, where the pins outlive the pod; /run/netprobe for the record.
	[ "$(jq -r "$pod.volumes[] | select(.name == \"bpffs\") | .hostPath.path" <<<"$ds")" = /sys/fs/bpf ]
	[ "$(jq -r "$c.volumeMounts[] | select(.name == \"bpffs\") | .mountPath" <<<"$ds")" = /sys/fs/bpf ]
	[ "$(jq -r "$pod.volumes[] | select(.name == \"run\") | .hostPath.path" <<<"$ds")" = /run/netprobe ]
	# The ConfigMap where --config reads, reloaded on change.
	local mount
	mount=$(jq -r "$c.volumeMounts[] | select(.name == \"config\") | .mountPath" <<<"$ds")
	[ "$(jq -r "$pod.volumes[] | select(.name == \"config\") | .configMap.name" <<<"$ds")" = \
		"$(jq -r .metadata.name <<<"$cm")" ]
	[ "$(jq -c "$c.args" <<<"$ds")" = "[\"daemon\",\"--config\",\"$mount/netprobe.yaml\",\"--reload-on-change\"]" ]
	# Its config is one the daemon takes, and serves metrics where the pod says.
	jq -r '.data["netprobe.yaml"]' <<<"$cm" >"$BATS_TEST_TMPDIR/netprobe.yaml"
	run "$NP" daemon --check-config --config "$BATS_TEST_TMPDIR/netprobe.yaml"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx '  listen: 0.0.0.0:9479' "$BATS_TEST_TMPDIR/netprobe.yaml"
	[ "$(jq -r "$c.ports[0].containerPort" <<<"$ds")" -eq 9479 ]
	[ "$(jq -r '.spec.template.metadata.annotations["prometheus.io/port"]' <<<"$ds")" = 9479 ]
	[ "$(jq -r '.spec.template.metadata.annotations["prometheus.io/scrape"]' <<<"$ds")" = true ]
	[ "$(jq -r "$c.livenessProbe.httpGet.path" <<<"$ds")" = /-/healthy ]
	# The ServiceMonitor finds the Service, the Service the pods, by the port's name.
	[ "$(jq -r '.spec.endpoints[0].port' <<<"$sm")" = "$(jq -r '.spec.ports[0].name' <<<"$svc")" ]
	[ "$(jq -r '.spec.ports[0].targetPort' <<<"$svc")" = "$(jq -r "$c.ports[0].name" <<<"$ds")" ]
	[ "$(jq -c '.spec.selector.matchLabels' <<<"$sm")" = "$(jq -c '.metadata.labels' <<<"$svc")" ]
	[ "$(jq -c '.spec.selector' <<<"$svc")" = "$(jq -c '.spec.template.metadata.labels' <<<"$ds")" ]
	# Memory: the limit holds what the bench measured with these table sizes, and then some.
	local measured limit
	measured=$(sed -n 's/^| daemon memory, .* | \*\*\([0-9.]*\) MB\*\* in all |$/\1/p' "$ROOT/docs/BENCHMARKS.md")
	[ -n "$measured" ]
	grep -qx '  flow_table_size: 262144' "$BATS_TEST_TMPDIR/netprobe.yaml"
	grep -q 'tables: {flow_table_size: 262144' "$ROOT/bench/np-bench.c"
	limit=$(jq -r "$c.resources.limits.memory" <<<"$ds")
	[[ "$limit" == *Mi ]]
	echo "measured $measured MB, limit $limit"
	[ "$(echo "${limit%Mi} * 1048576 >= 1.25 * $measured * 1000000" | bc)" -eq 1 ]
	[ "$(jq -r "$c.resources.requests.memory" <<<"$ds" | sed 's/Mi$//')" -ge "$(echo "$measured / 1.048576 / 1" | bc)" ]
}
