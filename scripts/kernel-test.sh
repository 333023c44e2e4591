#!/usr/bin/env bash
# Runs netprobe's tests on another kernel: a stock Debian kernel package,
# booted under qemu with this machine's build inside it.
#
#   scripts/kernel-test.sh 6.1              the kernel subset (CI's form)
#   NETPROBE_KERNEL_TESTS=all scripts/kernel-test.sh 6.1    every test
#
# The package comes from Debian's archive through apt with a private source
# list and state (the machine's own apt configuration is left alone), cached
# in $NETPROBE_KERNEL_CACHE. The guest gets no network device; it sees this
# machine's /usr and /etc read-only and the project directory read-write
# over 9p, so the tools the tests use are the host's, and only the kernel
# (with its own modules: veth, clsact, cls_bpf...) is the package's.
# The last line is the suite's: "N passed, N failed[, N skipped]".
set -euo pipefail

version=${1:?usage: kernel-test.sh VERSION (6.1, 6.12, 5.10)}
project=$(cd "$(dirname "$0")/.." && pwd)
cache=${NETPROBE_KERNEL_CACHE:-/var/cache/netprobe/kernels}
tests=${NETPROBE_KERNEL_TESTS:-kernel}
timeout_s=${NETPROBE_KERNEL_TIMEOUT:-3000}

fail() {
	echo "kernel-test: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root (the guest runs the tests as root over a 9p share)"
[[ $version =~ ^[0-9]+\.[0-9]+$ ]] || fail "KERNEL must be MAJOR.MINOR, as 6.1 (got '$version')"
for tool in qemu-system-x86_64 busybox depmod modprobe cpio dpkg apt-get; do
	command -v "$tool" >/dev/null || fail "$tool is missing (make deps installs it)"
done

# Which Debian release carries which kernel line: bookworm has 6.1 and 6.12,
# bullseye 5.10. Ubuntu's kernels (5.15) are not in Debian's archive.
case $version in
5.10) suite=bullseye ;;
6.1 | 6.12) suite=bookworm ;;
*) fail "no Debian release carries Linux $version (known: 5.10, 6.1, 6.12)" ;;
esac

apt_dir=$cache/apt-$suite
mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,etc} "$cache/debs"
cat >"$apt_dir/etc/sources.list" <<EOF
deb http://deb.debian.org/debian $suite main
deb http://deb.debian.org/debian $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Architecture=amd64
	-o Debug::NoLocking=1 -o APT::Sandbox::User=root)

# The newest plain amd64 image of that line (not -cloud, -rt, -dbg).
pick_package() {
	apt-cache "${apt_opts[@]}" search --names-only "^linux-image-${version//./\\.}[.-]" 2>/dev/null |
		awk '{print $1}' | grep -E -- '-amd64$' | grep -vE -- '-(cloud|rt)-amd64$' |
		grep -E -- "^linux-image-${version//./\\.}[.-][0-9]" | sort -V | tail -1
}
package=$(pick_package || true)
if [ -z "$package" ]; then
	echo "kernel-test: reading Debian $suite's package lists" >&2
	apt-get "${apt_opts[@]}" -qq update || fail "cannot read Debian's archive for $suite"
	package=$(pick_package || true)
fi
[ -n "$package" ] || fail "Debian $suite has no linux-image-$version package"
kver=${package#linux-image-}

deb=$(ls "$cache/debs/${package}"_*.deb 2>/dev/null | tail -1 || true)
if [ -z "$deb" ]; then
	echo "kernel-test: downloading $package from Debian's archive" >&2
	# Lists read earlier may name a package the archive has since dropped.
	(cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download "$package") ||
		{ apt-get "${apt_opts[@]}" -qq update && package=$(pick_package) &&
			(cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download "$package"); } ||
		fail "cannot download $package"
	kver=${package#linux-image-}
	deb=$(ls "$cache/debs/${package}"_*.deb | tail -1)
fi

root=$cache/$kver
if [ ! -e "$root/.unpacked" ]; then
	rm -rf "$root" && mkdir -p "$root"
	dpkg -x "$deb" "$root"
	depmod -b "$root" "$kver"
	touch "$root/.unpacked"
fi
[ -e "$root/boot/vmlinuz-$kver" ] || fail "$deb has no kernel image"

# The initramfs: busybox, the modules 9p needs, and the init that builds
# the test root from the shares (tests/kernel/guest-init).
initramfs=$root/initramfs.gz
if [ ! -e "$initramfs" ] || [ "$project/tests/kernel/guest-init" -nt "$initramfs" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$work"/{bin,modules,proc,sys,dev,host,newroot}
	cp "$(command -v busybox)" "$work/bin/busybox"
	cp "$project/tests/kernel/guest-init" "$work/init"
	for module in virtio_pci 9pnet_virtio 9p; do
		modprobe -d "$root" -S "$kver" --show-depends "$module" | awk '$1 == "insmod" {print $2}'
	done | awk '!seen[$0]++' | while read -r ko; do
		cp "$ko" "$work/modules/"
		basename "$ko" >>"$work/modules/order"
	done
	(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) >"$initramfs.tmp"
	mv "$initramfs.tmp" "$initramfs"
	rm -rf "$work"
	trap - EXIT
fi

# TCG by default: /dev/kvm may exist and still fail (nested, seen here).
accel=(-accel tcg,thread=multi)
[ "${NETPROBE_KERNEL_ACCEL:-tcg}" = kvm ] && accel=(-accel kvm -cpu host)
log=$project/.output/kernel-$version.log
mkdir -p "$project/.output"
echo "kernel-test: booting $kver ($package) under qemu, tests: $tests" >&2

# -nic none: the guest has no way out; panic=-1 and -no-reboot end qemu if
# the guest's init dies.
set +e
timeout --foreground "$timeout_s" qemu-system-x86_64 "${accel[@]}" -m 3072 -smp 2 \
	-kernel "$root/boot/vmlinuz-$kver" -initrd "$initramfs" \
	-append "console=ttyS0 panic=-1 quiet np.project=$project np.modules=$root/lib/modules np.tests=$tests" \
	-nographic -no-reboot -nic none -monitor none -serial stdio \
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on" \
	-virtfs "local,path=$project,mount_tag=project,security_model=none" 2>&1 |
	tr -d '\r' | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 || true)
if [ -z "$summary" ]; then
	[ "$status" -eq 124 ] && fail "the guest did not finish in ${timeout_s} s (log: $log)"
	fail "the guest ended without a summary, qemu status $status (log: $log)"
fi
echo "kernel-test: Linux $kver from $package; log: $log" >&2
# The guest printed the summary already; repeat it as the last line.
echo "$summary"
[[ $summary =~ ^[0-9]+\ passed,\ 0\ failed ]]
