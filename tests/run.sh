#!/usr/bin/env bash
# Runs every test under prove (TAP): the cmocka unit tests (BPF_PROG_RUN on
# crafted frames, the libnetprobe API) and the bats integration tests (network
# namespaces, veth pairs, real traffic). The last line is the summary CI reads.
set -u
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "tests need root (BPF, network namespaces)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
# bpffs as systemd mounts it: root's, mode 0700 (a bare mount is 1777, which
# netprobe's service setup rightly refuses: anyone could pin there).
if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf -o mode=0700 bpf /sys/fs/bpf
elif [ "$(stat -c %a /sys/fs/bpf)" = 1777 ]; then
	echo "tests: /sys/fs/bpf was mode 1777; made 0700, as systemd mounts it" >&2
	chmod 0700 /sys/fs/bpf
fi

export CMOCKA_MESSAGE_OUTPUT=TAP
log=$(mktemp)
# A build made with SANITIZE=1 (netprobe links libasan): every sanitizer
# report goes to a file here and fails the run, whether or not the test
# that started the process looked at its status. Leaks are not asked: the
# command and the daemon leave what exit frees (the fuzz targets, and the
# ASan units of a plain build, check for leaks).
san_dir=
if ldd ./netprobe 2>/dev/null | grep -q libasan; then
	san_dir=$(mktemp -d /tmp/netprobe-san.XXXXXX)
	chmod 0777 "$san_dir" # processes that dropped to a service user write here too
	export ASAN_OPTIONS="detect_leaks=0:log_path=$san_dir/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
	export UBSAN_OPTIONS="print_stacktrace=1:log_path=$san_dir/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
	echo "tests: a sanitized build; reports go to $san_dir"
fi
trap 'rm -f "$log"; [ -z "$san_dir" ] || rm -rf "$san_dir"' EXIT

tests=(.output/tests/test_* tests/integration/*.bats tests/fuzz/*.bats tests/torture/*.bats tests/soak/*.bats tests/faults/*.bats)
[ $# -gt 0 ] && tests=("$@")
prove --verbose --timer --exec tests/tap-exec "${tests[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Count the TAP results of every file (cmocka and bats both speak TAP).
passed=$(grep -cE '^ok [0-9]+' "$log" | head -1)
skipped=$(grep -ciE '^ok [0-9]+.*# skip' "$log" | head -1)
failed=$(grep -cE '^not ok [0-9]+' "$log" | head -1)
passed=$((passed - skipped))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
if [ -n "$san_dir" ] && [ -n "$(ls -A "$san_dir")" ]; then
	echo "tests: sanitizer reports:"
	head -50 "$san_dir"/*
	failed=$((failed + $(ls "$san_dir" | wc -l)))
	status=1
fi

# Then the kernel subset on each of $NETPROBE_TEST_KERNELS (make test: 6.1),
# booted under qemu (scripts/kernel-test.sh); its counts join these.
# Their lines go to stderr marked with the kernel, so that the last line that
# looks like a summary is this one, however the run ends.
for kernel in ${NETPROBE_TEST_KERNELS:-}; do
	echo "on $(uname -r): $passed passed, $failed failed, $skipped skipped"
	klog=$(mktemp)
	scripts/kernel-test.sh "$kernel" 2>&1 | tee "$klog" | sed -u "s/^/[$kernel] /" >&2
	summary=$(tail -1 "$klog")
	rm -f "$klog"
	if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
	else
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
