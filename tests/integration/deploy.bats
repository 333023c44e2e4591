#!/usr/bin/env bats
# What deploy/ ships, checked by the tools that consume it: systemd's own
# checker for the unit, and its security analysis, whose score the README
# states.

load helpers

# The unit as make install writes it, ExecStart on this tree's binary.
unit_here() {
	UNIT="$BATS_TEST_TMPDIR/netprobe.service"
	sed -e "s|@BINDIR@|$ROOT|g" -e 's|@SYSCONFDIR@|/etc|g' \
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
	# Capabilities: only what the daemon needs, checked by running it with this
	# bounding set (docs/DAEMON.md, systemd).
	grep -qx 'CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_SYS_RESOURCE' "$UNIT"
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
