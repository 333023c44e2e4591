#!/usr/bin/env bash
# Runs netprobe's tests on another kernel: a stock Debian kernel package,
# booted under qemu with this machine's build inside it.
#
#   scripts/kernel-test.sh 6.1              the unit suite (CI's short form)
#   NETPROBE_KERNEL_TESTS=full scripts/kernel-test.sh 6.1   and the integration tests tagged kernel
#   NETPROBE_KERNEL_TESTS=all scripts/kernel-test.sh 6.1    every test
#   NETPROBE_KERNEL_DEBS="image.deb modules.deb" scripts/kernel-test.sh 5.15
#                                           packages of one's own, not Debian's
#
# The package comes from Debian's archive through apt with a configuration
# of its own (APT_CONFIG: none of the machine's sources, hooks, pins or
# state), cached in $NETPROBE_KERNEL_CACHE. The guest gets no network
# device; it sees this machine's /usr and /etc, the package's modules and
# the project read-only over 9p, and one fresh directory read-write for its
# result, so the tools the tests use are the host's and only the kernel is
# the package's. The last line is the suite's: "N passed, N failed[, N skipped]".
set -euo pipefail

version=${1:?usage: kernel-test.sh VERSION (6.1, 6.12, 5.10)}
project=$(cd "$(dirname "$0")/.." && pwd)
cache=${NETPROBE_KERNEL_CACHE:-/var/cache/netprobe/kernels}
tests=${NETPROBE_KERNEL_TESTS:-kernel}
timeout_s=${NETPROBE_KERNEL_TIMEOUT:-3000}
lists_max_age_min=$((24 * 60))

fail() {
	echo "kernel-test: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail "needs root (the guest runs the tests as root)"
[[ $version =~ ^[0-9]+\.[0-9]+$ ]] || fail "KERNEL must be MAJOR.MINOR, as 6.1 (got '$version')"
# Both go on the kernel's command line and into qemu's options.
for path in "$project" "$cache"; do
	[[ $path =~ ^/[A-Za-z0-9/._-]+$ ]] || fail "'$path': only letters, digits and / . _ - work here"
done
[[ $tests =~ ^[A-Za-z0-9/._,-]+$ ]] || fail "NETPROBE_KERNEL_TESTS: '$tests' is no list of tests"
for tool in qemu-system-x86_64 busybox depmod modprobe cpio dpkg apt-get flock; do
	command -v "$tool" >/dev/null || fail "$tool is missing (make deps installs it)"
done

# Sets debs, package, kver and root from Debian's archive: the newest plain
# amd64 image of line $version, downloaded once.
from_debian() {
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -r "$keyring" ] || fail "$keyring is missing (package debian-archive-keyring)"

	# Which Debian release carries which kernel line: bookworm has 6.1 and 6.12,
	# bullseye 5.10. Ubuntu's kernels (5.15) are not in Debian's archive.
	case $version in
	5.10) suite=bullseye ;;
	6.1 | 6.12) suite=bookworm ;;
	*) fail "no Debian release carries Linux $version (known: 5.10, 6.1, 6.12)" ;;
	esac

	apt_dir=$cache/apt-$suite
	mkdir -p "$apt_dir"/{lists/partial,cache/archives/partial,etc/parts,etc/preferences.d} "$cache/debs"
	chown -R _apt "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" 2>/dev/null || true
	cat >"$apt_dir/etc/sources.list" <<-EOF
	deb [signed-by=$keyring] http://deb.debian.org/debian $suite main
	deb [signed-by=$keyring] http://deb.debian.org/debian $suite-updates main
	deb [signed-by=$keyring] http://deb.debian.org/debian-security $suite-security main
	EOF
	proxy=$(apt-config dump Acquire::http::Proxy --format '%v%n' 2>/dev/null | head -1 || true)
	cat >"$apt_dir/etc/apt.conf" <<-EOF
	Dir::Etc::Main "/dev/null";
	Dir::Etc::Parts "$apt_dir/etc/parts";
	Dir::Etc::SourceList "$apt_dir/etc/sources.list";
	Dir::Etc::SourceParts "$apt_dir/etc/parts";
	Dir::Etc::Preferences "/dev/null";
	Dir::Etc::PreferencesParts "$apt_dir/etc/preferences.d";
	Dir::State::Lists "$apt_dir/lists";
	Dir::State::status "/dev/null";
	Dir::Cache "$apt_dir/cache";
	APT::Architecture "amd64";
	APT::Update::Error-Mode "any";
	Debug::NoLocking "true";
	${proxy:+Acquire::http::Proxy \"$proxy\";}
	EOF
	export APT_CONFIG=$apt_dir/etc/apt.conf

	# The newest plain amd64 image of that line (not -cloud, -rt, -dbg).
	pick_package() {
		apt-cache search --names-only "^linux-image-${version//./\\.}[.-]" 2>/dev/null |
			awk '{print $1}' | grep -E -- "^linux-image-${version//./\\.}[.-][0-9].*-amd64$" |
			grep -vE -- '-(cloud|rt)-amd64$' | sort -V | tail -1
	}
	update_lists() {
		echo "kernel-test: reading Debian $suite's package lists" >&2
		apt-get -qq update || fail "cannot read Debian's archive for $suite"
		touch "$apt_dir/lists/.updated"
	}
	# Lists a day old are read again, so that every machine tests the current package.
	[ -n "$(find "$apt_dir/lists/.updated" -mmin "-$lists_max_age_min" 2>/dev/null)" ] || update_lists
	package=$(pick_package || true)
	[ -n "$package" ] || fail "Debian $suite has no linux-image-$version package"
	kver=${package#linux-image-}

	deb=$(ls "$cache/debs/${package}"_*.deb 2>/dev/null | tail -1 || true)
	if [ -z "$deb" ]; then
		echo "kernel-test: downloading $package from Debian's archive" >&2
		(cd "$cache/debs" && apt-get -qq download "$package") || fail "cannot download $package"
		deb=$(ls "$cache/debs/${package}"_*.deb | tail -1)
	fi
	debs=("$deb")
	root=$cache/$kver
}

mkdir -p "$cache"
# Preparing the cache is one run's at a time; booting holds it shared, so
# that nobody replaces a tree a guest is reading.
exec 9>"$cache/.lock"
flock 9

if [ -n "${NETPROBE_KERNEL_DEBS:-}" ]; then
	# Packages the operator has (another distribution's kernel, say: an
	# image package and its modules packages), unpacked together.
	read -r -a debs <<<"$NETPROBE_KERNEL_DEBS"
	for deb in "${debs[@]}"; do
		[ -r "$deb" ] || fail "NETPROBE_KERNEL_DEBS: cannot read $deb"
	done
	kver=$(for deb in "${debs[@]}"; do dpkg-deb -c "$deb"; done |
		sed -n 's|.* \./boot/vmlinuz-\(.*\)$|\1|p' | head -1)
	[ -n "$kver" ] || fail "NETPROBE_KERNEL_DEBS: none of them holds boot/vmlinuz-*"
	[[ $kver == "$version"[.-]* ]] || fail "NETPROBE_KERNEL_DEBS hold Linux $kver, not $version"
	package="${debs[*]##*/}"
	root=$cache/local-$kver
else
	from_debian
fi

# Unpacked once per set of packages; depmod writes what the guest's modprobe reads.
if [ "$(cat "$root/.unpacked" 2>/dev/null)" != "${debs[*]}" ]; then
	rm -rf "$root" && mkdir -p "$root"
	for deb in "${debs[@]}"; do dpkg -x "$deb" "$root"; done
	depmod -b "$root" "$kver"
	echo "${debs[*]}" >"$root/.unpacked"
fi
[ -e "$root/boot/vmlinuz-$kver" ] || fail "${debs[*]}: no kernel image"
flock -s 9

# This run's own: the initramfs (busybox, the modules 9p needs, the init
# that builds the test root: tests/kernel/guest-init), the result the guest
# writes, the console log.
run=$(mktemp -d /tmp/netprobe-kernel.XXXXXX)
trap 'rm -rf "$run"' EXIT
mkdir -p "$run"/initramfs/{bin,modules,proc,sys,dev,host,newroot} "$run/result"
cp "$(command -v busybox)" "$run/initramfs/bin/busybox"
cp "$project/tests/kernel/guest-init" "$run/initramfs/init"
for module in virtio_pci 9pnet_virtio 9p; do
	modprobe -d "$root" -S "$kver" --show-depends "$module" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
	cp "$ko" "$run/initramfs/modules/"
	basename "$ko" >>"$run/initramfs/modules/order"
done
(cd "$run/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$run/initramfs.gz"

# TCG by default: /dev/kvm may exist and still fail (nested, seen here).
accel=(-accel tcg,thread=multi)
[ "${NETPROBE_KERNEL_ACCEL:-tcg}" = kvm ] && accel=(-accel kvm -cpu host)
mkdir -p "$project/.output"
log=$project/.output/kernel-$version.log
rm -f "$log"
echo "kernel-test: booting $kver ($package) under qemu, tests: $tests" >&2

# -nic none: the guest has no way out; panic=-1 and -no-reboot end qemu if
# the guest's init dies.
share() { echo "local,path=$1,mount_tag=$2,security_model=none${3:+,readonly=on}"; }
set +e
timeout -k 30 --foreground "$timeout_s" qemu-system-x86_64 "${accel[@]}" -m 3072 -smp 2 \
	-kernel "$root/boot/vmlinuz-$kver" -initrd "$run/initramfs.gz" \
	-append "console=ttyS0 panic=-1 quiet np.project=$project np.tests=$tests" \
	-nographic -no-reboot -nic none -monitor none -serial stdio \
	-virtfs "$(share /usr usr ro)" -virtfs "$(share /etc etc ro)" \
	-virtfs "$(share "$root/lib/modules" modules ro)" \
	-virtfs "$(share "$project" project ro)" -virtfs "$(share "$run/result" result)" 2>&1 |
	sed -u 's/\r$//' | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The guest's own word: guest-init writes the suite's exit status and last line.
[ -s "$run/result/summary" ] || {
	[ "$status" -eq 124 ] && fail "the guest did not finish in ${timeout_s} s (log: $log)"
	fail "the guest ended without a result, qemu status $status (log: $log)"
}
summary=$(cat "$run/result/summary")
rc=$(cat "$run/result/status")
echo "kernel-test: Linux $kver from $package: guest status $rc; log: $log" >&2
[[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(.*)$ ]] || fail "the guest said '$summary'"
# A non-zero status with no failure counted (a kernel warning, a file that
# did not run) is one failure.
if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then
	summary="${BASH_REMATCH[1]} passed, 1 failed${BASH_REMATCH[3]}"
fi
echo "$summary"
[ "$rc" -eq 0 ]
