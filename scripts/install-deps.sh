#!/usr/bin/env bash
# Installs the Debian packages netprobe needs to build, test and benchmark,
# only those that are missing, so a machine that has them all stays offline.
set -euo pipefail

packages=(
	# build
	make gcc clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libmnl-dev libjson-c-dev
	pkg-config clang-format libcap-dev libyaml-dev libsystemd-dev
	libmicrohttpd-dev libfixbuf-dev
	# tests and demo: test framework, namespaces, real traffic tools, oracles
	libcmocka-dev bats perl iproute2 iputils-ping iperf3 hping3 nmap tcpdump tshark ethtool
	procps netcat-openbsd jq util-linux nftables python3 python3-scapy traceroute
	# benchmarks: peers measured in the same run
	xdp-tools
	# exporters checked by their real consumers
	prometheus curl bc nfdump libfixbuf-tools
	# the systemd unit checked by systemd's own tools
	systemd
	# tests on other kernels: Debian's kernel packages booted under qemu
	qemu-system-x86 busybox-static kmod cpio debian-archive-keyring
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "netprobe: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "netprobe: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
