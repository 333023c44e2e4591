#!/usr/bin/env bash
# make bench: runs np-bench and rewrites docs/BENCHMARKS.md with its table,
# the command that made it and the machine it ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench needs root" >&2; exit 1; }
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

# np-bench removes the pins it makes under /sys/fs/bpf (its own and
# xdp-filter's), also when stopped by a signal; this removes them if it died
# without that chance. Every name it pins carries its pid.
out_tmp=$(mktemp)
pid=
# libxdp (xdp-filter's loader) makes /sys/fs/bpf/xdp for its lock; ours to remove if it was not there.
libxdp_dir_was_there=false
[ -d /sys/fs/bpf/xdp ] && libxdp_dir_was_there=true
cleanup() {
	if [ -n "$pid" ]; then
		wait "$pid" 2>/dev/null || true
		rm -rf /sys/fs/bpf/np-bench-"$pid" /sys/fs/bpf/np-bench-*-"$pid"
		if [ -d /sys/fs/bpf/xdp-filter/programs/npxs"$pid" ]; then
			rm -rf /sys/fs/bpf/xdp-filter/programs/npxs"$pid"
			# Its maps are shared by its programs: they go with the last one.
			rmdir /sys/fs/bpf/xdp-filter/programs 2>/dev/null &&
				rm -rf /sys/fs/bpf/xdp-filter
		fi
	fi
	$libxdp_dir_was_there || rmdir /sys/fs/bpf/xdp 2>/dev/null || true
	rm -f "$out_tmp"
}
trap cleanup EXIT
trap '[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null; exit 130' INT TERM HUP
.output/bench/np-bench run "$@" >"$out_tmp" &
pid=$!
wait "$pid"
table=$(cat "$out_tmp")
out=docs/BENCHMARKS.md
{
	cat <<HDR
# Benchmarks

Made by \`make bench\` (\`bench/run.sh\`, which runs \`.output/bench/np-bench run$([ $# -gt 0 ] && printf ' %s' "$@")\`)
on $(date -u +%Y-%m-%d), Linux $(uname -r), $(nproc) CPUs, $(clang --version | head -1).
Every figure is a ratio to a baseline measured in the same run: absolute times
on a shared VM are noise, ratios are what carries over.

HDR
	echo "$table"
	cat <<'EOF2'

## What is measured

- **Monitor cost per packet**: `BPF_PROG_RUN` in repeat mode on one 64-byte
  IPv4 UDP frame (so the established-flow path), interleaved rounds, median.
  Baselines: a bare `XDP_PASS` program, and the *reference* program: the same
  parser plus one per-CPU hash update per packet, the least any per-flow
  monitor must do. netprobe does more than the reference (per-interface
  counters by family and protocol, verdict counters, flow timestamps and TCP
  flags) and must stay within 1.2x of it.
- **veth throughput**: a veth pair in a private network namespace; the
  live-frames generator (`BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`,
  returning `XDP_TX`) sends from one end, the program under test runs on the
  other with the same verdict (pass). Frames received per second as the
  kernel counts them on the receiving veth. Generator and receiver share the
  CPU, so this ratio is diluted by the generator's own cost.
- **Filter cost per packet**: netprobe in filter mode, with the default
  config (every detection but the rate anomaly on), attached through the
  library to a veth in a private network namespace; its XDP program is taken
  from the pinned link (`links/slot0_xdp`) and run with `BPF_PROG_RUN` as
  above, all the programs of one list size in the same interleaved rounds;
  each run must return the expected verdict. The deny list holds 1,000,
  then 100,000 IPv4 prefixes added with `netprobe_blacklist_add`:
  pseudo-random from a fixed seed, shaped like blocklists (per thousand: 638
  /32, 280 /24, 60 /16-/23, 2 /8-/15, 20 /25-/31), nested ones allowed, none
  in 198.18.0.0/15. The clean source is in no prefix. The blocked sources sit
  under a /32 (found in the exact hash, looked up when its /24 holds a /32),
  a /24 (one tbl24 word, the same read for any prefix up to /24) and a /28
  (a tbl8 group). *Detections off* is the same program after
  `netprobe_manager_update_config` switched every detection off: the lists
  alone.
  - **xdp-filter** (xdp-tools, Debian's package) is loaded by its command
    (`xdp-filter load IFACE -f ipv4`, which picks `xdpfilt_alw_ip`) on a veth
    of ours, and its program run the same way. It matches whole addresses,
    so its `filter_ipv4` map gets each prefix's network address, written as
    `xdp-filter ip ADDR -m src` writes them; the map holds 10,000, so with
    100,000 prefixes it has the first 10,000 (a hash lookup costs the same
    at any fill). Its blocked source is the /32's address. Per packet it
    looks up the destination, then the source, and counts per verdict.
    Skipped, with the reason in its row, when it is missing or already in
    use on the machine (it keeps one state under `/sys/fs/bpf/xdp-filter`).
  - **LPM trie**: the reference for the lookup structure, netprobe's parser
    and one `BPF_MAP_TYPE_LPM_TRIE` lookup of the source, holding the same
    prefixes. The verdicts row checks that it and netprobe decide 20,000
    sources (half inside listed prefixes, half anywhere) alike.
  - One frame repeated keeps every table in the cache, and its source's
    detection state and flow entry exist after the first run. On real
    traffic a trie walk (about log2 of the prefix count in nodes, some 17
    at 100,000) misses the cache where DIR-24-8 reads one or two words; and
    a flood from random sources makes new detection and flow entries for
    each packet that passes, which this does not measure.
- **Filling the deny lists**: wall time of adding the 100,000 prefixes, one
  `netprobe_blacklist_add` each (which recomputes the tables the prefix
  covers, under the pin path's lock), against `bpf_map_update_elem` into the
  trie and into xdp-filter's map.
- **Deny lists in batches**: the same generator's blocklist shapes, into a
  state of its own (no interface: lists are filled before anything is
  attached) with room for 1M entries: the first 10,000 one
  `netprobe_blacklist_add` each, then 100,000 in one
  `netprobe_blacklist_add_many` and one `_del_many`, then 500,000 (a
  FireHOL-sized file) in one batch, applied again (all skipped, as an hourly
  refresh of an unchanged list), and removed. Wall time; the ratio is the
  batch's cost a prefix over the single add's, in the same run. A batch
  recomputes each /24's group and each EXACT flag once and the fallbacks
  and allow-covered entries in one pass; per-element map updates stayed:
  the kernel's share of a batch is about a tenth of its time (perf), the
  rest is the index lookups of the recomputes.
- **veth throughput while dropping a flood**: the veth setup above, the
  generator's frames from a source on the deny list (a /32 added to the
  100,000 prefixes), netprobe in filter mode against `bare_drop` (a counting
  `XDP_DROP`), each on its own veth pair in turn. Frames dropped per second,
  from each program's own count: netprobe's `xdp_drop`
  (`netprobe_manager_iface_stats`), `bare_drop`'s per-CPU counter.
- **Flow table memory for 1M flows**: computed from the map definitions (key
  and value sizes, the kernel's 48-byte hash element header, 16-byte buckets),
  for 2 and 64 CPUs, next to what a per-CPU value would need; and the kernel's
  own accounting (`memlock` in fdinfo) of a real 1M-entry map on this machine.

- **Events end to end**: `netprobe_manager_emit_test_events` has the kernel
  produce 32-byte test events (reserve, fill, commit; one `BPF_PROG_RUN`
  loops with `bpf_loop`), the library's reader batches them and one worker
  runs a handler that counts them. The producer stays at most 300k events
  (and half the queue) ahead of the handler, so nothing is lost and the rate
  is what the whole path sustains, producer, reader and worker sharing the
  machine's 2 CPUs. Batches of 64 cleared 10 M events/s in every run seen
  (12-23 M/s); batches of 1024 (32 KiB, which leave the L1 cache between
  reader and worker) varied from 8 to 12 M/s across runs.
- **Kernel cost per event**: wall time of producing 50k events with no
  consumer, per event.
- **Load balancer cost per packet**: netprobe in lb mode
  (`xdp_mode = NETPROBE_XDP_LB`) attached through the library to a veth in
  the private namespace, with `net.ipv4.ip_forward=1` there; one service,
  198.18.100.1:80/tcp, with 100 IP-in-IP backends of weight 1
  (198.19.1.1-100, on the veth's connected 198.19.0.0/16, each with a
  permanent neighbour entry), so that the route to any backend leaves by the
  veth the frame came in by (`XDP_TX`). Its XDP program is taken from the
  pinned link and run with `BPF_PROG_RUN` given an `xdp_md` whose
  `ingress_ifindex` is that veth (`bpf_fib_lookup` routes from the device
  the frame arrived on); 64-byte frames; every program of the three rows in
  the same interleaved rounds, median.
  - *What one VIP packet costs*: the parse and per-interface counters every
    mode pays; the service's hash lookup; for an established flow the
    connection table (a shared LRU hash) and the backend's array entry; for
    a new flow the Maglev table's entry at the flow's hash and a write of the
    connection table; per-CPU service and backend counters; the route to the
    backend (egress device and MAC addresses: `bpf_fib_lookup`, whose result
    each CPU reuses for `lb_route_cache_ms`, 1 s by default, so in these
    rounds it is the cached route); the encapsulation
    (`bpf_xdp_adjust_head`, an outer IPv4 header and its checksum, the MAC
    addresses). Katran does the same work but for the route: it sends
    every packet to one configured gateway MAC address. Two references put
    numbers on the parts: `encap_tx`, the least an IP-in-IP balancer does
    (the encapsulation alone, no lookup), and `fib_tx`, the route lookup
    alone, what every packet would pay without the cache.
  - *Repeat mode*: `BPF_PROG_RUN` hands each repeated run the frame the last
    run left (it does not restore it), and a frame once encapsulated is
    IP-in-IP, no longer for the VIP: every run after the first would have
    measured netprobe passing a tunnelled packet. So VIP traffic runs
    through `lb_rerun` (`bench/baselines.bpf.c`), which takes the outer
    header the last run put on off again (one `bpf_xdp_adjust_head`, a
    backend's work) and tail-calls the program under test; the bare
    `XDP_TX` and the references run through it as well. The bare `XDP_TX`
    through it costs some 13 ns more than a bare `XDP_PASS` alone: the
    wrapper dilutes the ratios a little.
  - *Established flow*: a TCP ACK of a flow whose SYN went through once
    before the rounds.
  - *New flow*: TCP SYNs, which always take the Maglev path and write the
    connection table. `lb_rerun` gives each run the next source port (and
    every 65,536 runs the next source address), checksums kept right, so
    every SYN is a flow the table has not seen; past its 131,072 entries
    (`lb_conn_table_size`'s default) each write evicts the least recently
    used flow, as under a flood of new connections. Of all the rows this
    one moves most from run to run (from about 520 to 700 ns in the runs
    seen while it was written, the same machine): the cost of an eviction
    varies. *One SYN repeated* (the same tuple, its entry rewritten each
    time) for comparison: a SYN of a known flow still costs the Maglev read
    and a table write.
  - *Non-VIP traffic*: the 64-byte UDP frame of the other rows (to
    198.18.0.2:2000), which passes to the kernel. Nothing changes it, so it
    runs in repeat mode directly, against a bare `XDP_PASS` and netprobe in
    monitor mode on the same frame: lb mode adds the service lookup to what
    the monitor does.
  - *Checks*: the last run of every `BPF_PROG_RUN` must return the expected
    verdict and frame (`XDP_TX` and 20 bytes longer, IPv4 carrying IPv4 to
    the VIP; `XDP_PASS` for the rest), and netprobe's own counters over all
    the runs must agree: `forwarded` and `XDP_TX` equal to the VIP runs,
    `new_conns` to the SYNs, no `conn_table_failed`, no drop; otherwise the
    row says so instead of a time. The last row also counts the backends
    the new flows reached.
- **Maglev table build**: userspace population of a service's 65,537-entry
  table (`np_maglev_build`, which `netprobe_lb_backend_add` and every other
  change of a service's backends runs), for 10, 100 and 1000 backends of
  weights 1 to 3; the three sizes in 15 interleaved rounds, median.
- **Exporters**: the daemon binary of this tree (`./netprobe daemon`) in
  the bench's private network namespace, on 64 veth pairs (monitor mode on
  one end of each), with 100 services of 10 backends each (198.18.100.x:80,
  backends on a connected 198.19.0.0/16), housekeeping's defaults (idle
  timeout 60 s) and a report every second. 100,000 flows are made by running
  the daemon's XDP program (from its pinned link) on 100,000 frames of
  distinct sources and ports with `BPF_PROG_RUN`, and kept live by running
  them again every 5 s (by the bench, so on the bench's CPU time, not the
  daemon's).
  - */metrics scrape*: one HTTP/1.0 GET on loopback, from connect to the
    last byte; 20 back to back and 3 more 5 s apart, against `/-/healthy`
    (the HTTP round trip alone). The scrape must show the 100,000 flows. The
    flow count is housekeeping's, from its last walk of the table: a scrape
    never walks 100,000 flows itself.
  - *Series*: the samples of one scrape, sorted by what they are of: those
    with one interface's label, those of one VIP without a backend, those of
    one backend; the rest are the host's own. A fleet's series follow from
    them (docs/FLEET.md).
  - *Daemon memory*: the daemon's own resident memory (the Rss of
    `/proc/PID/smaps` but the maps it has mapped, which are the maps' own
    pages) and the kernel memory of every pinned map (`memlock` of its fd),
    which the kernel charges to the cgroup that made the map (the
    Kubernetes DaemonSet's limit must hold both).
  - *Daemon CPU*: user + system time of the daemon's process
    (`/proc/PID/stat`) over 60 s, after 30 s to settle: first with IPFIX
    off, then after a reload that turns it on (UDP to a socket of the
    bench's, active timeout 60 s), so the window holds one active record of
    every flow. The reads of the flow table are the cost: one walk every
    6 s (a tenth of the idle timeout) serves expiry, the flow count and the
    exporter's active timeouts.
  - *IPFIX export*: in the bench's own process, the daemon's exporter
    (`daemon/ipfix.c`) on the state the daemon left; every flow given a
    packet, then one housekeeping walk (`netprobe_manager_expire_flows` with
    a timeout nothing reaches) hands each flow to it with an active timeout
    of 0, so every flow is due: read, encoded (libfixbuf) and sent (UDP,
    1420-byte datagrams, 64 a `sendmmsg`). Records a second, against the
    same walk with nothing on it; 7 rounds, median. The records must be one
    for each flow given a packet, none lost.

## Choices these numbers made

Where this section gives a time, it was measured when the choice was made;
the machine's own speed moves between runs (a bare `XDP_PASS` has cost 10
to 26 ns here), so compare within one table.

- IPv4 lists are DIR-24-8 tables (one array word per /24, a 256-word group
  for a /24 holding /25-/31 prefixes) plus an exact hash for /32 entries, not
  an LPM trie. A source blocked by a prefix of up to /31 costs netprobe the
  same over `bare_drop` whether 1,000 or 100,000 prefixes are listed (about
  10 ns when measured, 26-34 ns in the table above), and a
  clean source costs the same with either; the trie's lookup grew by 16-19 ns
  from 1,000 to 100,000 prefixes with the cache warm, and would grow more
  with it cold. A /32 entry costs one hash lookup more (about 30 ns), still
  under xdp-filter's two hash lookups; the hash keeps each /32 from taking a
  1 KiB group.
- Detection state (per source, per destination) lives in direct-mapped arrays
  indexed by a hash of the address, not LRU hashes: with two LRU hash lookups
  a UDP packet the clean source cost 136 ns (netprobe / xdp-filter 1.94-2.14,
  at the goal's edge); with the arrays, the detections add a few ns to the
  lists alone. Two addresses sharing a slot take it over in turn, which can
  delay a detection (counted as `state_evictions`).
- Flow timestamps use `bpf_jiffies64()`, which the verifier inlines; the ktime
  helpers measured 20 ns (`coarse`) and 35 ns (`ktime_get_ns`) a packet here.
- The flow table is one shared LRU hash with atomic adds, not a per-CPU hash:
  the atomics measured 2 ns a packet; a per-CPU value would cost 2.7 GB at
  64 CPUs for 1M flows.
- The IPv6 extension header walk is a bounded loop, not unrolled; the parser
  fills the flow key in place.
- A `BPF_PROG_RUN` costs ~750 ns here whatever the program does, so the test
  event producer loops in the kernel (one run, many events) instead of one
  run per event, which capped it at 1.2 M events/s.
- Events are packed in batches at 8-byte alignment rather than in 128-byte
  slots: a 32-byte event moves 32 bytes.
- Housekeeping reads the flow table every tenth of the idle timeout (1 to
  10 s), not every second, and the IPFIX exporter's active timeouts ride on
  that read: a walk of 100,000 flows in a 262,144-entry LRU hash took 30 to
  50 ms here; in a profile of the daemon the kernel's batch lookup and its
  copies were over half of all its samples. With a walk
  every second for expiry and another every 5 s for IPFIX, the daemon used
  4.9 % of a core with IPFIX off and 6.8 % with it on (active timeout 10 s,
  windows of 10 s); now the table is read once per 6 s for both. Before the count came from that walk, a
  scrape that walked the table itself took 62-66 ms.
- UDP datagrams of IPFIX go 64 a `sendmmsg`: one `send` each made the
  export 0.64-0.94 M records/s, half of it the system calls.
EOF2
} >"$out"
echo "wrote $out"
