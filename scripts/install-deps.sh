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
	# fuzzing: libFuzzer's runtime; static analysis
	libclang-rt-14-dev clang-tidy cppcheck
	# benchmarks: peers measured in the same run
	xdp-tools
	# exporters checked by their real consumers
	prometheus curl bc nfdump libfixbuf-tools
	# the systemd unit checked by systemd's own tools
	systemd
	# BGP: the speakers netprobe drives, and the upstream router of the tests
	gobgpd exabgp
	# tests on other kernels: Debian's kernel packages booted under qemu
	qemu-system-x86 busybox-static kmod cpio debian-archive-keyring
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm for the Kubernetes manifests' schema check: Debian's,
# unless the machine has them already (from any package).
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "netprobe: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "netprobe: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Kubernetes API's schema (npm packages, pinned by tests/k8s/package-lock.json),
# installed here so that no test fetches anything.
k8s=$(cd "$(dirname "$0")/../tests/k8s" && pwd)
if [ ! -e "$k8s/node_modules/.package-lock.json" ] ||
	[ "$k8s/package-lock.json" -nt "$k8s/node_modules/.package-lock.json" ]; then
	echo "netprobe: installing tests/k8s's npm packages"
	npm ci --prefix "$k8s" --no-audit --no-fund --loglevel=error >/dev/null
fi
