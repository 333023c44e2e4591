// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * np-bench: netprobe's benchmarks, and the frame sender the tests use.
 *
 *   np-bench send IFACE [options]   send crafted frames (AF_PACKET, or live frames)
 *   np-bench run [--quick]          measure, print a Markdown report
 *
 * Every figure is a ratio to a baseline measured in the same run, because
 * absolute timings on a shared 2-core VM are noise.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netprobe/netprobe.h>
#include "netprobe.skel.h"
#include "baselines.skel.h"
#include "../tests/lib/pktbuild.h"
#include "maglev.h"

static int die(const char *fmt, const char *arg)
{
	fprintf(stderr, "np-bench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

/* ---- send ---------------------------------------------------------------- */

static int send_packet_socket(unsigned int ifindex, const uint8_t *frame, size_t len, long count)
{
	struct sockaddr_ll addr = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	long sent = 0;

	if (fd < 0)
		return -errno;
	for (long i = 0; i < count; i++) {
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&addr, sizeof(addr)) !=
		    (ssize_t)len) {
			if (errno == ENOBUFS) { /* the queue is full: wait, do not drop */
				usleep(100);
				i--;
				continue;
			}
			break;
		}
		sent++;
	}
	close(fd);
	return sent == count ? 0 : -EIO;
}

/* Runs gen_tx in live-frames mode: the kernel transmits each frame out of ifindex. */
static int send_live(struct baselines_bpf *b, unsigned int ifindex, const uint8_t *frame,
		     size_t len, long count)
{
	struct xdp_md ctx = {.data_end = len, .ingress_ifindex = ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = count,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);

	return bpf_prog_test_run_opts(bpf_program__fd(b->progs.gen_tx), &opts) ? -errno : 0;
}

static struct baselines_bpf *open_baselines(void)
{
	struct baselines_bpf *b = baselines_bpf__open_and_load();

	if (!b)
		fprintf(stderr, "np-bench: cannot load the baseline programs: %s\n",
			strerror(errno));
	return b;
}

static int cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, 'c'},
		{"size", required_argument, NULL, 's'},
		{"family", required_argument, NULL, 'f'},
		{"proto", required_argument, NULL, 'p'},
		{"vlan", required_argument, NULL, 'V'},
		{"src", required_argument, NULL, 'S'},
		{"dst", required_argument, NULL, 'D'},
		{"sport", required_argument, NULL, 'a'},
		{"dport", required_argument, NULL, 'b'},
		{"live", no_argument, NULL, 'l'},
		{"tcp-flags", required_argument, NULL, 't'},
		{"truncate", required_argument, NULL, 'T'},
		{},
	};
	struct pkt_spec s = {.family = 4, .proto = IPPROTO_UDP, .sport = 10000, .dport = 9};
	long count = 1, size = 0, truncate = 0;
	bool live = false;
	uint8_t frame[PKT_MAX];
	unsigned int ifindex;
	size_t len;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "c:s:f:p:V:S:D:a:b:lt:T:", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			count = atol(optarg);
			break;
		case 's':
			size = atol(optarg);
			break;
		case 'f':
			s.family = atoi(optarg);
			break;
		case 'p':
			s.proto = !strcmp(optarg, "tcp") ? IPPROTO_TCP
				  : !strcmp(optarg, "icmp")
					  ? (s.family == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)
					  : IPPROTO_UDP;
			if (s.proto == IPPROTO_ICMP || s.proto == IPPROTO_ICMPV6)
				s.icmp_type = s.family == 6 ? 128 : 8;
			break;
		case 'V':
			if (s.vlan_tags == 3)
				return die("%s: at most three --vlan", optarg);
			s.vlan_tpid[s.vlan_tags] = s.vlan_tags == 0 ? 0x8100 : 0x8100;
			s.vlan_id[s.vlan_tags++] = atoi(optarg);
			break;
		case 'S':
			s.src = optarg;
			break;
		case 'D':
			s.dst = optarg;
			break;
		case 'a':
			s.sport = atoi(optarg);
			break;
		case 'b':
			s.dport = atoi(optarg);
			break;
		case 'l':
			live = true;
			break;
		case 't':
			s.tcp_flags = strtol(optarg, NULL, 0);
			break;
		case 'T':
			truncate = atol(optarg);
			break;
		default:
			return die("%s",
				   "usage: np-bench send IFACE [--count N] [--size FRAME_BYTES] "
				   "[--family 4|6] [--proto udp|tcp|icmp] [--vlan ID]... "
				   "[--src A --dst B] [--sport P --dport P] [--tcp-flags F] "
				   "[--truncate FRAME_BYTES] [--live]");
		}
	}
	if (optind != argc - 1 || count <= 0)
		return die("%s", "send: name one interface and a positive --count");
	ifindex = if_nametoindex(argv[optind]);
	if (!ifindex)
		return die("no interface %s", argv[optind]);
	if (!s.src)
		s.src = s.family == 6 ? "fd00:99::1" : "198.18.0.1";
	if (!s.dst)
		s.dst = s.family == 6 ? "fd00:99::2" : "198.18.0.2";
	if (s.proto == IPPROTO_ICMP && s.family == 6)
		s.proto = IPPROTO_ICMPV6;
	/* --size is the whole frame; the payload is what is left after the headers. */
	len = pkt_build(&s, frame, sizeof(frame));
	if (!len)
		return die("%s", "send: cannot build that frame");
	if (size > (long)len) {
		s.payload = size - len;
		len = pkt_build(&s, frame, sizeof(frame));
	}
	if (truncate > 0 && truncate < (long)len)
		len = truncate; /* a frame cut short, as a broken sender would send it */

	if (live) {
		struct baselines_bpf *b = open_baselines();

		if (!b)
			return 1;
		err = send_live(b, ifindex, frame, len, count);
		baselines_bpf__destroy(b);
	} else {
		err = send_packet_socket(ifindex, frame, len, count);
	}
	if (err)
		return die("send failed: %s", strerror(-err));
	printf("sent=%ld frame_len=%zu\n", count, len);
	return 0;
}

/* ---- run ----------------------------------------------------------------- */

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ns per packet of prog on frame, by BPF_PROG_RUN in repeat mode. */
static double prog_run_ns(int prog_fd, const uint8_t *frame, size_t len, int repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return NAN;
	return opts.duration;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long rx_packets(const char *ifname)
{
	struct ifaddrs *ifa, *i;
	unsigned long long n = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_PACKET && i->ifa_data &&
		    !strcmp(i->ifa_name, ifname))
			n = ((struct rtnl_link_stats *)i->ifa_data)->rx_packets;
	freeifaddrs(ifa);
	return n;
}

struct report {
	char lines[64][400];
	int n;
};

static void row(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row(struct report *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n >= 64)
		return;
	va_start(ap, fmt);
	vsnprintf(r->lines[r->n++], sizeof(r->lines[0]), fmt, ap);
	va_end(ap);
	puts(r->lines[r->n - 1]);
	fflush(stdout);
}

/* Loads netprobe's XDP program unpinned, as attach would for slot 0. */
static struct netprobe_bpf *load_netprobe(void)
{
	struct netprobe_bpf *skel = netprobe_bpf__open();
	struct bpf_map *map;

	if (!skel)
		return NULL;
	bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, NULL);
	skel->rodata->np_ifindex = 1;
	if (netprobe_bpf__load(skel)) {
		netprobe_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

/* The frame every measurement uses: 64 bytes of IPv4 UDP, one flow. */
static const struct pkt_spec bench_frame = {
	.family = 4,
	.src = "198.18.0.1",
	.dst = "198.18.0.2",
	.proto = IPPROTO_UDP,
	.sport = 1000,
	.dport = 2000,
	.payload = 18,
};

static void bench_prog_run(struct report *r, bool quick)
{
	const struct pkt_spec s = bench_frame;
	struct baselines_bpf *b = open_baselines();
	struct netprobe_bpf *np = load_netprobe();
	int rounds = quick ? 5 : 15, repeat = quick ? 200000 : 1000000;
	double bare[15], ref[15], mon[15];
	uint8_t frame[PKT_MAX];
	size_t len = pkt_build(&s, frame, sizeof(frame));

	if (!b || !np) {
		row(r, "| monitor cost (BPF_PROG_RUN) | could not load programs | |");
		goto out;
	}
	if (getenv("NPB_ONLY")) {
		for (int i = 0; i < 20; i++)
			prog_run_ns(bpf_program__fd(getenv("NPB_REF") ? b->progs.reference_monitor
								      : np->progs.netprobe_xdp),
				    frame, len, 1000000);
		goto out;
	}
	/* Interleaved rounds, so that drift of the machine hits all three alike. */
	for (int i = 0; i < rounds; i++) {
		bare[i] = prog_run_ns(bpf_program__fd(b->progs.bare_pass), frame, len, repeat);
		ref[i] = prog_run_ns(bpf_program__fd(b->progs.reference_monitor), frame, len,
				     repeat);
		mon[i] = prog_run_ns(bpf_program__fd(np->progs.netprobe_xdp), frame, len, repeat);
	}
	double mb = median(bare, rounds), mr = median(ref, rounds), mm = median(mon, rounds);

	row(r,
	    "| XDP, 64-byte IPv4 UDP, one flow (BPF_PROG_RUN, %d x %d runs, median) | "
	    "bare XDP_PASS %.1f ns, reference (parse + per-CPU hash update) %.1f ns, "
	    "netprobe monitor %.1f ns | monitor / reference = **%.2f** (target <= 1.2); "
	    "monitor / bare = %.2f |",
	    rounds, repeat, mb, mr, mm, mm / mr, mm / mb);
out:
	baselines_bpf__destroy(b);
	netprobe_bpf__destroy(np);
}

/*
 * Throughput on a veth pair: the live-frames generator sends from gen0, the
 * program under test runs on sink0; received frames per second, as counted
 * by the kernel on sink0.
 */
static double live_pps(struct baselines_bpf *b, unsigned int gen, const uint8_t *frame, size_t len,
		       long count)
{
	unsigned long long before = rx_packets("sink0");
	double t0 = now_s();

	if (send_live(b, gen, frame, len, count))
		return NAN;
	double t1 = now_s();

	usleep(20000);
	return (rx_packets("sink0") - before) / (t1 - t0);
}

static void bench_live(struct report *r, bool quick)
{
	const struct pkt_spec s = bench_frame;
	struct baselines_bpf *b = NULL;
	struct netprobe_manager *m = NULL;
	struct netprobe_config cfg;
	unsigned int gen, sink;
	long count = quick ? 200000 : 2000000;
	int rounds = quick ? 3 : 7;
	double bare[7], mon[7];
	uint8_t frame[PKT_MAX];
	size_t len = pkt_build(&s, frame, sizeof(frame));

	if (system("ip link add gen0 type veth peer name sink0 && ip link set gen0 up && "
		   "ip link set sink0 up")) {
		row(r, "| veth throughput | could not create veth pair | |");
		return;
	}
	gen = if_nametoindex("gen0");
	sink = if_nametoindex("sink0");
	b = open_baselines();
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "/sys/fs/bpf/np-bench-%d", getpid());
	m = netprobe_manager_new(&cfg);
	if (!b || !m || netprobe_manager_load(m)) {
		row(r, "| veth throughput | could not load | |");
		goto out;
	}
	for (int i = 0; i < rounds; i++) {
		/* The same verdict (pass) in both: only the program differs. */
		if (bpf_xdp_attach(sink, bpf_program__fd(b->progs.bare_pass), XDP_FLAGS_DRV_MODE,
				   NULL))
			goto fail;
		bare[i] = live_pps(b, gen, frame, len, count);
		bpf_xdp_detach(sink, XDP_FLAGS_DRV_MODE, NULL);
		if (netprobe_manager_attach(m, "sink0"))
			goto fail;
		mon[i] = live_pps(b, gen, frame, len, count);
		netprobe_manager_detach(m, "sink0");
	}
	double mb = median(bare, rounds), mm = median(mon, rounds);

	row(r,
	    "| veth throughput, live-frames generator -> XDP_PASS (%d x %ld frames, median) | "
	    "bare XDP_PASS %.2f Mpps, netprobe monitor %.2f Mpps | "
	    "monitor / bare = **%.2f** |",
	    rounds, count, mb / 1e6, mm / 1e6, mm / mb);
	goto out;
fail:
	row(r, "| veth throughput | attach failed | |");
	bpf_xdp_detach(sink, 0, NULL);
out:
	if (m)
		netprobe_manager_detach(m, NULL);
	netprobe_manager_free(m);
	baselines_bpf__destroy(b);
	system("ip link del gen0 2>/dev/null");
}

/* The kernel's own accounting of a map, from /proc/self/fdinfo (memlock). */
static unsigned long long map_memlock(int fd)
{
	char path[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * The flow table's memory for 1M flows. Measured: the kernel's accounting
 * of a real 1M-entry map of our key and value (on this machine's CPUs).
 * Computed, for 2 and 64 CPUs: a preallocated hash element is a 48-byte
 * header plus key and value rounded up to 8; buckets are 16 bytes, one per
 * entry rounded up to a power of two. A per-CPU value would instead cost
 * nr_cpus x value per flow, shown for comparison.
 */
static void bench_flow_memory(struct report *r)
{
	const size_t key = sizeof(struct netprobe_flow_key),
		     val = sizeof(struct netprobe_flow_stats);
	const unsigned long long flows = 1000000, buckets = 1 << 20;
	unsigned long long shared =
		flows * (48 + ((key + 7) & ~7ul) + ((val + 7) & ~7ul)) + buckets * 16;
	int ncpus = libbpf_num_possible_cpus();
	int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "np_bench_flows", key, val, flows, NULL);

	for (int cpus = 2; cpus <= 64; cpus *= 32) {
		unsigned long long percpu = flows * (48 + ((key + 7) & ~7ul) + 8) + buckets * 16 +
					    flows * cpus * ((val + 7) & ~7ul);

		row(r,
		    "| flow table memory, 1M flows, %d CPUs (computed from key %zu B, value %zu B) "
		    "| shared LRU hash (netprobe) %.0f MB; a per-CPU LRU hash would need %.0f MB | "
		    "**%.0f MB** (target <= 256 MB at 64 CPUs) |",
		    cpus, key, val, shared / 1e6, percpu / 1e6, shared / 1e6);
	}
	if (fd >= 0) {
		row(r,
		    "| flow table memory, 1M flows, measured on this machine (%d CPUs, kernel's "
		    "memlock of a real map) | %.0f MB | |",
		    ncpus, map_memlock(fd) / 1e6);
		close(fd);
	}
}

static void count_events(const struct netprobe_event_batch *b, void *ctx)
{
	__atomic_fetch_add((unsigned long long *)ctx, b->count, __ATOMIC_RELAXED);
}

static struct netprobe_manager *events_manager(unsigned int batch, unsigned long long *handled)
{
	struct netprobe_config cfg;
	struct netprobe_manager *m;

	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "/sys/fs/bpf/np-bench-ev-%d", getpid());
	cfg.batch_size = batch;
	cfg.batch_timeout_ms = 10;
	cfg.event_workers = 1;
	/* Room for what the ring holds, so that the queue is not what is measured. */
	cfg.event_queue_batches = 65536;
	cfg.ring_buffer_size = 1u << 25; /* 32 MiB: ~700k events of 48 bytes with the header */
	cfg.stats_report_interval_ms = 0;
	cfg.flow_idle_timeout_ms = 0;
	m = netprobe_manager_new(&cfg);
	if (!m || netprobe_manager_load(m) ||
	    (handled && netprobe_manager_on_event(m, NETPROBE_EVENT_ALL, count_events, handled))) {
		netprobe_manager_free(m);
		return NULL;
	}
	return m;
}

/*
 * Events end to end: the kernel produces 32-byte test events (BPF_PROG_RUN),
 * the pipeline batches them and a handler counts them. The producer keeps
 * at most 300k events (less than half the 32 MiB ring, and half the queue)
 * ahead of the handler, so nothing is lost and the rate is what the
 * pipeline sustains.
 */
static void bench_events(struct report *r, bool quick)
{
	const unsigned long long total = quick ? 2000000 : 10000000, chunk = 10000;
	static const unsigned int batches[] = {1, 64, 1024};

	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		unsigned long long handled = 0, sent = 0;
		/* Ahead of the handler by at most half the ring and half the queue. */
		unsigned long long window = 65536ull * batches[i] / 2;
		struct netprobe_manager *m = events_manager(batches[i], &handled);
		struct netprobe_event_stats st = {};
		double t0, t1;

		if (!m || netprobe_manager_events_start(m)) {
			row(r, "| events, batch %u | could not start |", batches[i]);
			netprobe_manager_free(m);
			continue;
		}
		t0 = now_s();
		while (sent < total) {
			if (window > 300000)
				window = 300000;
			while (sent - __atomic_load_n(&handled, __ATOMIC_RELAXED) > window)
				usleep(50);
			long n = netprobe_manager_emit_test_events(m, chunk);

			if (n <= 0)
				break;
			sent += chunk;
		}
		while (__atomic_load_n(&handled, __ATOMIC_RELAXED) < sent && now_s() - t0 < 60)
			usleep(100);
		t1 = now_s();
		netprobe_manager_events_stop(m);
		netprobe_manager_event_stats(m, &st);
		row(r,
		    "| events end to end, 32 B, batch_size %u (%llu events) | %.2f M events/s "
		    "delivered; kernel lost %llu, queue lost %llu | %s |",
		    batches[i], sent, handled / (t1 - t0) / 1e6, st.kernel_lost, st.queue_lost,
		    batches[i] == 1 ? "" : "target >= 10 M/s, none lost");
		netprobe_manager_free(m);
	}

	/* The kernel side alone: no consumer, a ring with room for every event. */
	struct netprobe_manager *m = events_manager(64, NULL);
	struct baselines_bpf *b = open_baselines();
	uint8_t frame[64] = {};

	if (m && b) {
		/* The producer program loads on first use: load it before timing. */
		netprobe_manager_emit_test_events(m, 1);
		double t0 = now_s();
		long n = netprobe_manager_emit_test_events(m, 50000);
		double per_event = (now_s() - t0) / n * 1e9;
		double bare = prog_run_ns(bpf_program__fd(b->progs.bare_pass), frame, 64, 50000);

		row(r,
		    "| kernel cost per event (reserve + fill + commit, BPF_PROG_RUN) | %.1f ns an "
		    "event; a bare XDP_PASS run %.1f ns | event / bare = %.2f |",
		    per_event, bare, per_event / bare);
	}
	baselines_bpf__destroy(b);
	netprobe_manager_free(m);
}

/* Maglev table population (src/maglev.c), for the load balancer: build time. */
static void bench_maglev(struct report *r)
{
	static __u32 table[NP_MAGLEV_DEFAULT_SIZE];
	static const unsigned int counts[] = {10, 100, 1000};
	struct np_maglev_backend *b = calloc(1000, sizeof(*b));

	if (!b)
		return;
	for (unsigned int i = 0; i < 1000; i++) {
		b[i].id[0] = 10;
		b[i].id[2] = i >> 8;
		b[i].id[3] = i & 0xff;
		b[i].weight = 1 + i % 3;
	}
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		double t[5];

		for (int k = 0; k < 5; k++) {
			double t0 = now_s();

			np_maglev_build(b, counts[c], table, NP_MAGLEV_DEFAULT_SIZE);
			t[k] = now_s() - t0;
		}
		row(r,
		    "| Maglev table build, %u backends (weights 1-3), %u entries (median of 5) | "
		    "%.2f ms | |",
		    counts[c], NP_MAGLEV_DEFAULT_SIZE, median(t, 5) * 1e3);
	}
	free(b);
}

static int cmd_run(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	struct report r = {};

	if (unshare(CLONE_NEWNET)) {
		perror("np-bench: unshare(CLONE_NEWNET)");
		return 1;
	}
	/* A private network namespace: the veth pair vanishes with us, whatever happens. */
	system("ip link set lo up");
	row(&r, "| benchmark | measured | ratio |");
	row(&r, "|---|---|---|");
	bench_prog_run(&r, quick);
	bench_live(&r, quick);
	bench_flow_memory(&r);
	bench_events(&r, quick);
	bench_maglev(&r);
	return 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(NULL);
	if (argc >= 2 && !strcmp(argv[1], "send"))
		return cmd_send(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	fprintf(stderr, "usage: np-bench send IFACE [options] | np-bench run [--quick]\n");
	return 2;
}
