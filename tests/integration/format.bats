#!/usr/bin/env bats
# STYLE.md: kernel-based clang-format, checked with every test run.

load helpers

@test "every C source is clang-formatted (make format-check)" {
	run make -C "$ROOT" -s format-check
	echo "$output" | head -20
	[ "$status" -eq 0 ]
}

@test "clang-tidy finds nothing with the checks in .clang-tidy (make lint)" {
	run make -C "$ROOT" -s lint
	echo "$output" | tail -40
	[ "$status" -eq 0 ]
	[[ "$output" != *"warning:"* && "$output" != *"error:"* ]]
}

@test "the library's layers only use the layers below them (scripts/check-layers.sh)" {
	run "$ROOT/scripts/check-layers.sh"
	echo "$output" | head -20
	[ "$status" -eq 0 ]
	# On a copy: a base file calling a feature, a config header including
	# the features' header, are both caught.
	local t="$BATS_TEST_TMPDIR/tree"
	mkdir -p "$t/scripts" "$t/.output"
	cp -r "$ROOT/src" "$t/"
	cp -r "$ROOT/.output/lib" "$t/.output/"
	cp "$ROOT/scripts/check-layers.sh" "$t/scripts/"
	printf 'int np_acl_open(void *m);\nint np_evil(void) { return np_acl_open(0); }\n' \
		>"$t/src/base/evil.c"
	cc -c -o "$t/.output/lib/base/evil.o" "$t/src/base/evil.c"
	printf '#include "features/features.h"\n' >"$t/src/config/evil.h"
	printf '#  include "../attach/attach.h"\n' >"$t/src/iface/evil.h"
	printf '#include <housekeeping/x.h>\n' >"$t/src/state/evil.h"
	run "$t/scripts/check-layers.sh"
	[ "$status" -eq 1 ]
	[[ "$output" == *"src/base/evil.c (base) uses np_acl_open of layer features"* ]]
	[[ "$output" == *"src/config/evil.h includes features/features.h"* ]]
	[[ "$output" == *"src/iface/evil.h includes attach/attach.h"* ]]
	[[ "$output" == *"src/state/evil.h includes housekeeping/x.h"* ]]
	# An object older than its source is no evidence: build first.
	touch "$t/src/features/acl.c"
	run "$t/scripts/check-layers.sh"
	[ "$status" -eq 1 ]
	[[ "$output" == *"older than its source: build first"* ]]
}

@test "every exported function is in docs/API.md" {
	# Every NETPROBE_API declaration of the header, also those that span
	# lines (NETPROBE_API struct netprobe_detection *\nnetprobe_config_detection(...)).
	local h="$ROOT/include/netprobe/netprobe.h" fns f n decls missing=()
	fns=$(perl -0777 -ne 'print "$1\n" while /^NETPROBE_API\b[^;(]*?\b(netprobe_\w+)\s*\(/mg' "$h")
	n=$(printf '%s\n' "$fns" | grep -c .)
	decls=$(grep -c '^NETPROBE_API' "$h")
	echo "$n exported functions found, $decls NETPROBE_API declarations"
	# Not an extraction that found nothing, nor one that missed a declaration.
	[ "$n" -ge 80 ]
	[ "$n" -eq "$decls" ]
	for f in $fns; do
		grep -qF "\`$f\`" "$ROOT/docs/API.md" || missing+=("$f")
	done
	[ ${#missing[@]} -eq 0 ] || printf 'not in docs/API.md as `%s`\n' "${missing[@]}"
	[ ${#missing[@]} -eq 0 ]
}

@test "every metric family the daemon serves is in README.md and docs/DAEMON.md, and no other" {
	# The code's names: every family is a string literal of daemon/metrics.c.
	local code readme daemon
	code=$(grep -o '"netprobe_[a-z_]*"' "$ROOT/daemon/metrics.c" | tr -d '"' | sort -u)
	[ "$(wc -l <<<"$code")" -ge 50 ]
	readme=$(sed -n '/^<!-- metrics -->$/,/^<!-- \/metrics -->$/p' "$ROOT/README.md" |
		grep -o '`netprobe_[a-z_]*`' | tr -d '`' | sort -u)
	diff <(echo "$code") <(echo "$readme")
	# DAEMON.md's table writes `_name` for netprobe_name and {a,b} for alternatives.
	daemon=$(sed -n '/^## Prometheus metrics$/,/^## /p' "$ROOT/docs/DAEMON.md" | grep '^| `' |
		cut -d'|' -f2 | grep -o '`[a-z_{},]*`' | tr -d '`' | sed 's/^_/netprobe_/' |
		while read -r n; do eval "printf '%s\n' $n"; done | sort -u)
	diff <(echo "$code") <(echo "$daemon")
}
