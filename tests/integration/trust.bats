#!/usr/bin/env bats
# The pin path and the lock are netprobe's owner's alone (SPEC 4b, issue 10):
# another local user cannot remove the filter through the pins, nor stall
# every change through the lock.
#
# A bpffs of the test's own, world-writable like /sys/fs/bpf on many systems,
# stands in for the host's: the host's bpffs is never chmod'ed.

load helpers

setup() {
	lab_setup
	TRUST_DIR=$(mktemp -d)
	chmod 755 "$TRUST_DIR" # nobody must reach the bpffs below
	mkdir "$TRUST_DIR/bpf"
	mount -t bpf bpf "$TRUST_DIR/bpf"
	chmod 1777 "$TRUST_DIR/bpf"
	HOST_PIN_PATH=$NETPROBE_PIN_PATH # lab_setup's, on the host's bpffs
	export NETPROBE_PIN_PATH="$TRUST_DIR/bpf/np"
	NOBODY=$(id -u nobody)
}

# Ends the flock(1) a test started (HOLDER) and its sleep.
release_holder() {
	[ -n "${HOLDER:-}" ] || return 0
	pkill -P "$HOLDER" sleep 2>/dev/null || true
	kill "$HOLDER" 2>/dev/null || true
	wait "$HOLDER" 2>/dev/null || true
	HOLDER=
}

teardown() {
	release_holder
	lab_teardown
	umount "$TRUST_DIR/bpf" 2>/dev/null || true
	rm -rf "$TRUST_DIR"
}

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

@test "a pin directory another user made is refused, and nothing is attached" {
	as_nobody sh -c 'umask 0; mkdir -m 0777 "$1" "$1/links"' sh "$NETPROBE_PIN_PATH"
	run np_b attach "$LAB_VB" --mode filter
	[ "$status" -eq 1 ]
	[[ "$output" == *"$NETPROBE_PIN_PATH belongs to another user (owner uid $NOBODY, mode 0777)"* ]]
	[[ "$output" == *"rm -r $NETPROBE_PIN_PATH"* ]]
	run ! xdp_attached "$LAB_VB"
	# Nothing of netprobe's went into it.
	[ -z "$(ls "$NETPROBE_PIN_PATH/links")" ]
	[ "$(ls "$NETPROBE_PIN_PATH")" = links ]
	run np_b blacklist add 192.0.2.1
	[ "$status" -eq 1 ]
	[[ "$output" == *"belongs to another user"* ]]
}

@test "links/ or a pin that others may write is refused; so is a parent without the sticky bit" {
	# root's pin directory, but open to everyone: links/ would be theirs to empty
	mkdir -m 0777 "$NETPROBE_PIN_PATH"
	chmod 0777 "$NETPROBE_PIN_PATH"
	run np_b attach "$LAB_VB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$NETPROBE_PIN_PATH is writable by group or others (owner uid 0, mode 0777)"* ]]
	run ! xdp_attached "$LAB_VB"
	chmod 0700 "$NETPROBE_PIN_PATH"
	mkdir -m 0700 "$NETPROBE_PIN_PATH/links"
	chown nobody "$NETPROBE_PIN_PATH/links"
	run np_b attach "$LAB_VB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$NETPROBE_PIN_PATH/links belongs to another user (owner uid $NOBODY"* ]]
	run ! xdp_attached "$LAB_VB"
	rmdir "$NETPROBE_PIN_PATH/links"
	# A pin that another user owns (they could unlink it if they owned the directory).
	run np_b attach "$LAB_VB"
	[ "$status" -eq 0 ]
	chown nobody "$NETPROBE_PIN_PATH/np_flows"
	run np_b blacklist add 192.0.2.1
	[ "$status" -eq 1 ]
	[[ "$output" == *"$NETPROBE_PIN_PATH/np_flows belongs to another user"* ]]
	chown root "$NETPROBE_PIN_PATH/np_flows"
	np_b detach --all
	# A parent others may write to, without the sticky bit: they could rename the pin directory.
	chmod 0777 "$TRUST_DIR/bpf"
	run np_b attach "$LAB_VB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$TRUST_DIR/bpf is writable by group or others and not sticky"* ]]
	run ! xdp_attached "$LAB_VB"
	[ ! -e "$NETPROBE_PIN_PATH" ]
}

@test "a symlink at the pin path is refused and not followed" {
	mkdir -m 0700 "$TRUST_DIR/bpf/elsewhere"
	as_nobody ln -s "$TRUST_DIR/bpf/elsewhere" "$NETPROBE_PIN_PATH"
	run np_b attach "$LAB_VB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$NETPROBE_PIN_PATH is a symbolic link"* ]]
	run ! xdp_attached "$LAB_VB"
	[ -z "$(ls "$TRUST_DIR/bpf/elsewhere")" ]
	# Even root's own symlink: the path netprobe checks must be the path it uses.
	rm "$NETPROBE_PIN_PATH"
	ln -s "$TRUST_DIR/bpf/elsewhere" "$NETPROBE_PIN_PATH"
	run np_b attach "$LAB_VB"
	[ "$status" -eq 1 ]
	[ -z "$(ls "$TRUST_DIR/bpf/elsewhere")" ]
	# A symlink above the pin path is refused too.
	rm "$NETPROBE_PIN_PATH"
	ln -s "$TRUST_DIR/bpf" "$TRUST_DIR/link"
	run np_b --pin-path "$TRUST_DIR/link/np" attach "$LAB_VB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$TRUST_DIR/link is a symbolic link"* ]]
	run ! xdp_attached "$LAB_VB"
}

@test "a proper pin directory under a world-writable sticky bpffs works, made 0700" {
	run np_b attach "$LAB_VB" --mode filter
	[ "$status" -eq 0 ]
	xdp_attached "$LAB_VB"
	[ "$(stat -c '%a %u' "$NETPROBE_PIN_PATH")" = "700 0" ]
	[ "$(stat -c '%a %u' "$NETPROBE_PIN_PATH/links")" = "700 0" ]
	run np_b blacklist add 192.0.2.1
	[ "$status" -eq 0 ]
	# Another user cannot reach the pins.
	run as_nobody ls "$NETPROBE_PIN_PATH/links"
	[ "$status" -ne 0 ]
	run np_b detach --all
	[ "$status" -eq 0 ]
	run ! xdp_attached "$LAB_VB"
}

@test "a pin directory root made beforehand, not writable by others, is used" {
	mkdir -m 0755 "$NETPROBE_PIN_PATH"
	run np_b attach "$LAB_VB"
	[ "$status" -eq 0 ]
	xdp_attached "$LAB_VB"
	[ -e "$NETPROBE_PIN_PATH/links/slot0_xdp" ]
}

# Waits (bounded) until some process holds an flock on $1, found by its
# device and inode in /proc/locks as the kernel prints them.
wait_flocked() {
	local dev ino key tries=50
	dev=$(stat -c '%d' "$1")
	ino=$(stat -c '%i' "$1")
	key=$(printf '%02x:%02x:%s' $((dev >> 8 & 0xfff)) $((dev & 0xff | dev >> 12 & 0xfff00)) "$ino")
	while ! grep -q " FLOCK .* $key " /proc/locks; do
		tries=$((tries - 1))
		[ $tries -gt 0 ] || return 1
		sleep 0.1
	done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

@test "another user locking the pin path's parent no longer stalls changes" {
	run np_b attach "$LAB_VB" --mode filter
	[ "$status" -eq 0 ]
	# The parent is the world-writable bpffs: anyone can open and lock it.
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		flock -o "$TRUST_DIR/bpf" sleep 30 3>&- &
	HOLDER=$!
	wait_flocked "$TRUST_DIR/bpf"
	local t0
	t0=$(now_ms)
	run timeout 5 nsenter --net="/run/netns/$LAB_B" "$NP" blacklist add 192.0.2.7
	release_holder
	[ "$status" -eq 0 ]
	[ $(($(now_ms) - t0)) -lt 3000 ]
	[ "$(np_b blacklist list --json | jq -r '.entries[0].cidr')" = 192.0.2.7/32 ]
	# And the lock netprobe takes is out of that user's reach.
	[ -d "$NETPROBE_PIN_PATH/lock" ]
	[ "$(stat -c '%a %u' "$NETPROBE_PIN_PATH/lock")" = "700 0" ]
	run setpriv --reuid=nobody --regid=nogroup --clear-groups \
		flock -n "$NETPROBE_PIN_PATH/lock" true
	[ "$status" -ne 0 ]
}

@test "a change waits a bounded time for the lock, then fails naming the holder" {
	run np_b attach "$LAB_VB" --mode filter
	[ "$status" -eq 0 ]
	flock -o "$NETPROBE_PIN_PATH/lock" sleep 30 3>&- &
	HOLDER=$!
	wait_flocked "$NETPROBE_PIN_PATH/lock"
	local t0 took
	t0=$(now_ms)
	run in_b env NETPROBE_LOCK_TIMEOUT_MS=1000 "$NP" blacklist add 192.0.2.7
	took=$(($(now_ms) - t0))
	[ "$status" -eq 1 ]
	[[ "$output" == *"$NETPROBE_PIN_PATH/lock is still locked after "*" ms, by pid $HOLDER (flock)"* ]]
	# One wait, one message: the manager's cleanup does not wait again.
	[ "$(grep -c 'is still locked' <<<"$output")" -eq 1 ]
	[ "$took" -ge 1000 ]
	[ "$took" -lt 1900 ]
	run in_b env NETPROBE_LOCK_TIMEOUT_MS=0 "$NP" detach --all
	[ "$status" -eq 1 ]
	[[ "$output" == *"by pid $HOLDER (flock)"* ]]
	xdp_attached "$LAB_VB"
	run in_b env NETPROBE_LOCK_TIMEOUT_MS=soon "$NP" detach --all
	[ "$status" -eq 2 ]
	# Released: the change goes through at once.
	release_holder
	run np_b blacklist add 192.0.2.7
	[ "$status" -eq 0 ]
	[ "$(np_b blacklist list --json | jq '.entries | length')" -eq 1 ]
}

@test "ip netns exec: attach and blacklist add refuse (the bpffs would die with them), naming nsenter" {
	# The host's bpffs, as in every other test: ip netns exec hides it under a sysfs of its own.
	export NETPROBE_PIN_PATH=$HOST_PIN_PATH
	# check says so first: it must not promise what attach then refuses.
	run ip netns exec "$LAB_B" "$NP" check
	[ "$status" -eq 1 ]
	[[ "$output" == *"FAIL"*"bpffs"*"mount namespace of its own"*"nsenter --net=/run/netns/NS"* ]]
	run ip netns exec "$LAB_B" "$NP" attach "$LAB_VB" --mode filter
	[ "$status" -eq 1 ]
	[[ "$output" == *"not the host's (ip netns exec"* ]]
	[[ "$output" == *"nsenter --net=/run/netns/NS netprobe"* ]]
	[[ "$output" != *"attached"*"filter"* ]]
	run ! xdp_attached "$LAB_VB"
	[ -z "$(ip -n "$LAB_B" link show "$LAB_VB" | grep xdp)" ]
	run ip netns exec "$LAB_B" "$NP" blacklist add 192.0.2.9
	[ "$status" -eq 1 ]
	[[ "$output" == *"nsenter --net=/run/netns/NS netprobe"* ]]
	[ ! -e "$NETPROBE_PIN_PATH" ]
	# What the message says works.
	run np_b attach "$LAB_VB" --mode filter
	[ "$status" -eq 0 ]
	xdp_attached "$LAB_VB"
}

@test "ip netns exec with --pin-path on a bpffs the host shares works" {
	run ip netns exec "$LAB_B" "$NP" attach "$LAB_VB"
	[ "$status" -eq 0 ]
	xdp_attached "$LAB_VB"
	# The same state from the host's mount namespace: it outlived the command.
	[ "$(np_b status --json | jq -r '.interfaces[0].name')" = "$LAB_VB" ]
	# A bpffs mounted only in that namespace is refused, like the one netprobe would mount.
	run ip netns exec "$LAB_B" sh -c 'mount -t bpf bpf "$1" && "$2" --pin-path "$1/np" attach "$3"' \
		sh "$TRUST_DIR/bpf" "$NP" "$LAB_VB"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is this mount namespace's own, not the host's"* ]]
}
