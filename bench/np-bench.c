// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * np-bench: netprobe's benchmarks, and the frame sender the tests use.
 *
 *   np-bench send IFACE [options]   send crafted frames (AF_PACKET, or live frames)
 *   np-bench run [--quick] [NAME...] measure (all, or the benchmarks named), print a
 *                                    Markdown report
 *
 * Every figure is a ratio to a baseline measured in the same run, because
 * absolute timings on a shared 2-core VM are noise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netprobe/netprobe.h>
#include "netprobe.skel.h"
#include "baselines.skel.h"
#include "../tests/lib/pktbuild.h"
#include "base/maglev.h"
#include "../daemon/daemon.h"

static int die(const char *fmt, const char *arg)
{
	fprintf(stderr, "np-bench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

/* ---- send ---------------------------------------------------------------- */

/* Sends count copies of frame out of ifindex on the AF_PACKET socket fd. */
static int send_on(int fd, unsigned int ifindex, const uint8_t *frame, size_t len, long count)
{
	struct sockaddr_ll addr = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
	long sent = 0;

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
	return sent == count ? 0 : -EIO;
}

static int send_packet_socket(unsigned int ifindex, const uint8_t *frame, size_t len, long count)
{
	int fd = socket(AF_PACKET, SOCK_RAW, 0), err;

	if (fd < 0)
		return -errno;
	err = send_on(fd, ifindex, frame, len, count);
	close(fd);
	return err;
}

#define MAX_FLAG_SETS 4

/*
 * --flows N: frames to N flows, one flow after the other, each from a
 * source of its own (s->src plus i, in its last 32 bits), as a flood of
 * spoofed flows comes: count frames with each of the nflags TCP flag sets
 * in turn (a SYN, then an ACK) a flow. s->payload is already set.
 */
static int send_flows(unsigned int ifindex, struct pkt_spec *s, const uint8_t *flags, int nflags,
		      long flows, long count)
{
	int af = s->family == 6 ? AF_INET6 : AF_INET, fd, err = 0;
	size_t alen = s->family == 6 ? 16 : 4, len;
	const char *base = s->src;
	uint8_t addr[16], frame[PKT_MAX];
	char text[INET6_ADDRSTRLEN];
	uint32_t low;

	if (inet_pton(af, base, addr) != 1)
		return -EINVAL;
	memcpy(&low, addr + alen - 4, 4);
	low = ntohl(low);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		return -errno;
	s->src = text;
	for (long i = 0; i < flows && !err; i++) {
		uint32_t a = htonl(low + (uint32_t)i);

		memcpy(addr + alen - 4, &a, 4);
		inet_ntop(af, addr, text, sizeof(text));
		for (int f = 0; f < nflags && !err; f++) {
			s->tcp_flags = flags[f];
			len = pkt_build(s, frame, sizeof(frame));
			err = len ? send_on(fd, ifindex, frame, len, count) : -EINVAL;
		}
	}
	s->src = base;
	close(fd);
	return err;
}

/* "F[,F...]": TCP flag sets (0x02 SYN, 0x10 ACK, ...); the number of them, or 0 if malformed. */
static int parse_flag_sets(const char *arg, uint8_t *sets)
{
	int n = 0;
	char *end;

	do {
		long f = strtol(arg, &end, 0);

		if (end == arg || f < 0 || f > 0xff || n == MAX_FLAG_SETS)
			return 0;
		sets[n++] = f;
		arg = end + 1;
	} while (*end == ',');
	return *end ? 0 : n;
}

/* The error of the last live-frames run the kernel refused: what a row says instead of a rate. */
static int live_refused;

/* Runs gen_tx in live-frames mode: the kernel transmits each frame out of ifindex. */
static int send_live(struct baselines_bpf *b, unsigned int ifindex, const uint8_t *frame,
		     size_t len, long count)
{
	struct xdp_md ctx = {.data_end = len, .ingress_ifindex = ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = count,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);

	if (!bpf_prog_test_run_opts(bpf_program__fd(b->progs.gen_tx), &opts))
		return 0;
	live_refused = errno;
	return -live_refused;
}

/*
 * The send command's frames: live frames, or where the kernel refuses them
 * (locked down: EPERM) the same frames through a packet
 * socket, said once. The receiver's XDP sees them alike; the sender's TC
 * egress sees the packet socket's, not live frames.
 */
static int send_frames(struct baselines_bpf *b, unsigned int ifindex, const uint8_t *frame,
		       size_t len, long count)
{
	static bool refused;
	int err = refused ? -EPERM : send_live(b, ifindex, frame, len, count);

	if (err == -EPERM || err == -EOPNOTSUPP) {
		if (!refused)
			fprintf(stderr,
				"np-bench: this kernel refuses live frames (%s): sending through "
				"a packet socket\n",
				strerror(-err));
		refused = true;
		err = send_packet_socket(ifindex, frame, len, count);
	}
	return err;
}

/*
 * Frames at pps a second: a tenth of a second's worth at each tick of
 * an absolute schedule (a late tick does not slow the ones after), until
 * count are sent. *seconds: from the first frame to the last tick.
 */
static int send_paced(struct baselines_bpf *b, unsigned int ifindex, const uint8_t *frame,
		      size_t len, long count, long pps, double *seconds)
{
	long chunk = pps / 10 > 0 ? pps / 10 : 1, sent = 0;
	struct timespec start, tick, end;
	int err = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	tick = start;
	while (!err && sent < count) {
		long n = count - sent < chunk ? count - sent : chunk;

		err = send_frames(b, ifindex, frame, len, n);
		sent += n;
		tick.tv_nsec += 100000000L * n / chunk;
		while (tick.tv_nsec >= 1000000000L) {
			tick.tv_nsec -= 1000000000L;
			tick.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	*seconds = end.tv_sec - start.tv_sec + (end.tv_nsec - start.tv_nsec) / 1e9;
	return err;
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
		{"flows", required_argument, NULL, 'F'},
		{"pps", required_argument, NULL, 'P'},
		{},
	};
	struct pkt_spec s = {.family = 4, .proto = IPPROTO_UDP, .sport = 10000, .dport = 9};
	long count = 1, size = 0, truncate = 0, flows = 0, pps = 0;
	uint8_t flag_sets[MAX_FLAG_SETS] = {};
	int nflags = 1;
	bool live = false;
	uint8_t frame[PKT_MAX];
	unsigned int ifindex;
	double seconds = 0;
	size_t len;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "c:s:f:p:V:S:D:a:b:lt:T:F:P:", opts, NULL)) != -1) {
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
			nflags = parse_flag_sets(optarg, flag_sets);
			if (!nflags)
				return die("--tcp-flags %s: F[,F...], up to four sets", optarg);
			s.tcp_flags = flag_sets[0];
			break;
		case 'T':
			truncate = atol(optarg);
			break;
		case 'F':
			flows = atol(optarg);
			break;
		case 'P':
			pps = atol(optarg);
			break;
		default:
			return die("%s",
				   "usage: np-bench send IFACE [--count N] [--size FRAME_BYTES] "
				   "[--family 4|6] [--proto udp|tcp|icmp] [--vlan ID]... "
				   "[--src A --dst B] [--sport P --dport P] [--tcp-flags F[,F...]] "
				   "[--truncate FRAME_BYTES] [--live [--pps N] | --flows N]");
		}
	}
	if (optind != argc - 1 || count <= 0)
		return die("%s", "send: name one interface and a positive --count");
	if (pps < 0 || (pps && !live))
		return die("%s", "send: --pps N (N > 0) paces --live");
	if (flows < 0 || (flows && (live || truncate)) || (nflags > 1 && !flows))
		return die("%s", "send: --flows N (N > 0) goes without --live and --truncate; "
				 "several --tcp-flags sets need --flows");
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

	if (flows) {
		err = send_flows(ifindex, &s, flag_sets, nflags, flows, count);
		count *= flows * nflags;
	} else if (live) {
		struct baselines_bpf *b = open_baselines();

		if (!b)
			return 1;
		err = pps ? send_paced(b, ifindex, frame, len, count, pps, &seconds)
			  : send_frames(b, ifindex, frame, len, count);
		baselines_bpf__destroy(b);
	} else {
		err = send_packet_socket(ifindex, frame, len, count);
	}
	if (err)
		return die("send failed: %s", strerror(-err));
	if (seconds > 0)
		printf("sent=%ld frame_len=%zu seconds=%.3f pps=%.0f\n", count, len, seconds,
		       count / seconds);
	else
		printf("sent=%ld frame_len=%zu\n", count, len);
	return 0;
}

/* ---- run ----------------------------------------------------------------- */

/*
 * Pins under /sys/fs/bpf outlive us: on SIGINT, SIGTERM or SIGHUP the
 * benchmark under way stops at its next check and cleans up, and no later
 * one starts.
 */
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

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
	char lines[64][800];
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

/* A live-frames row that could not run: why, in its place. False if it ran. */
static bool live_row_refused(struct report *r, const char *what, double rate)
{
	if (!isnan(rate))
		return false;
	row(r,
	    "| %s | not run: this kernel refuses live frames (BPF_F_TEST_XDP_LIVE_FRAMES: %s) | |",
	    what, strerror(live_refused));
	return true;
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
 * A veth pair of this process (names carry its pid), both ends up. It lives
 * in the private namespace of np-bench run, so it goes away with us.
 */
struct veth {
	char gen[IFNAMSIZ], sink[IFNAMSIZ];
	unsigned int gen_ifindex, sink_ifindex;
};

static int veth_add(struct veth *v, const char *tag)
{
	char cmd[256];

	snprintf(v->gen, sizeof(v->gen), "np%sg%d", tag, getpid());
	snprintf(v->sink, sizeof(v->sink), "np%ss%d", tag, getpid());
	snprintf(cmd, sizeof(cmd),
		 "ip link add %s type veth peer name %s && ip link set %s up && ip link set %s up",
		 v->gen, v->sink, v->gen, v->sink);
	if (system(cmd))
		return -1;
	v->gen_ifindex = if_nametoindex(v->gen);
	v->sink_ifindex = if_nametoindex(v->sink);
	return v->gen_ifindex && v->sink_ifindex ? 0 : -1;
}

static void veth_del(const struct veth *v)
{
	char cmd[64];

	if (!v->gen[0])
		return;
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", v->gen);
	system(cmd);
}

/*
 * Throughput on a veth pair: the live-frames generator sends from the gen
 * end, the program under test runs on the sink end; received frames per
 * second, as counted by the kernel on the sink.
 */
static double live_pps(struct baselines_bpf *b, const struct veth *v, const uint8_t *frame,
		       size_t len, long count)
{
	unsigned long long before = rx_packets(v->sink);
	double t0 = now_s();

	if (send_live(b, v->gen_ifindex, frame, len, count))
		return NAN;
	double t1 = now_s();

	usleep(20000);
	return (rx_packets(v->sink) - before) / (t1 - t0);
}

static void bench_live(struct report *r, bool quick)
{
	const struct pkt_spec s = bench_frame;
	struct baselines_bpf *b = NULL;
	struct netprobe_manager *m = NULL;
	struct netprobe_config cfg;
	struct veth v = {};
	long count = quick ? 200000 : 2000000;
	int rounds = quick ? 3 : 7;
	double bare[7], mon[7];
	uint8_t frame[PKT_MAX];
	size_t len = pkt_build(&s, frame, sizeof(frame));

	if (veth_add(&v, "l")) {
		row(r, "| veth throughput | could not create veth pair | |");
		veth_del(&v);
		return;
	}
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
		if (bpf_xdp_attach(v.sink_ifindex, bpf_program__fd(b->progs.bare_pass),
				   XDP_FLAGS_DRV_MODE, NULL))
			goto fail;
		bare[i] = live_pps(b, &v, frame, len, count);
		bpf_xdp_detach(v.sink_ifindex, XDP_FLAGS_DRV_MODE, NULL);
		if (netprobe_manager_attach(m, v.sink))
			goto fail;
		mon[i] = live_pps(b, &v, frame, len, count);
		netprobe_manager_detach(m, v.sink);
	}
	double mb = median(bare, rounds), mm = median(mon, rounds);

	if (live_row_refused(r, "veth throughput, live-frames generator -> XDP_PASS", mb + mm))
		goto out;
	row(r,
	    "| veth throughput, live-frames generator -> XDP_PASS (%d x %ld frames, median) | "
	    "bare XDP_PASS %.2f Mpps, netprobe monitor %.2f Mpps | "
	    "monitor / bare = **%.2f** |",
	    rounds, count, mb / 1e6, mm / 1e6, mm / mb);
	goto out;
fail:
	row(r, "| veth throughput | attach failed | |");
	bpf_xdp_detach(v.sink_ifindex, 0, NULL);
out:
	if (m)
		netprobe_manager_detach(m, NULL);
	netprobe_manager_free(m);
	baselines_bpf__destroy(b);
	veth_del(&v);
}

/* ---- filter mode ----------------------------------------------------------- */

#define FLT_PREFIXES 100000
#define XF_PIN	     "/sys/fs/bpf/xdp-filter"

/* An IPv4 prefix, host order. */
struct prefix {
	__u32 addr;
	__u8 len;
};

/* The key of baselines.bpf.c's ref_deny_trie. */
struct lpm_v4_key {
	__u32 prefix_len;
	__u8 addr[4];
};

/*
 * The entries whose sources are measured, first on the list so that every
 * list size has them. They lie in 198.18.0.0/15 (benchmarking addresses),
 * which the random prefixes never touch: each source is decided by the
 * entry named here, and bench_frame's source by none.
 */
static const struct {
	const char *cidr, *src;
} flt_fixed[] = {
	{"198.19.1.1/32", "198.19.1.1"},   /* the exact hash */
	{"198.19.2.0/24", "198.19.2.1"},   /* one tbl24 word, as for any /0-/24 */
	{"198.19.3.16/28", "198.19.3.17"}, /* a tbl8 group */
};

static __u64 splitmix64(__u64 *state)
{
	__u64 z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static __u32 prefix_mask(int len)
{
	return len ? ~0u << (32 - len) : 0;
}

static const char *prefix_str(const struct prefix *p, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u/%u", p->addr >> 24, (p->addr >> 16) & 0xff,
		 (p->addr >> 8) & 0xff, p->addr & 0xff, p->len);
	return buf;
}

static int prefix_parse(const char *cidr, struct prefix *p)
{
	unsigned int a, b, c, d, len;

	if (sscanf(cidr, "%u.%u.%u.%u/%u", &a, &b, &c, &d, &len) != 5)
		return -EINVAL;
	p->addr = a << 24 | b << 16 | c << 8 | d;
	p->len = len;
	return 0;
}

/*
 * n prefixes shaped like a blocklist: per thousand, 638 /32, 280 /24, 60
 * /16-/23, 2 /8-/15 and 20 /25-/31, at addresses in 1.0.0.0-223.255.255.255
 * from a fixed seed (the same list every run), distinct, clear of
 * 198.18.0.0/15. Nested prefixes are allowed, as in real lists.
 */
static int gen_prefixes(struct prefix *p, int n)
{
	const __u32 bench_net = 0xc6120000; /* 198.18.0.0/15 */
	__u64 *seen, state = 0x6e7062656e6368ull;
	__u32 nslots = 1u << 18, shift = 46;
	int have = 0;

	/* An open-addressed set at most a quarter full. */
	while (nslots < 4u * (__u32)n) {
		nslots <<= 1;
		shift--;
	}
	seen = calloc(nslots, sizeof(*seen));

	if (!seen)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(flt_fixed) / sizeof(flt_fixed[0]); i++)
		prefix_parse(flt_fixed[i].cidr, &p[have++]);
	while (have < n) {
		__u64 r = splitmix64(&state), key;
		unsigned int shape = r % 1000, len, first;
		__u32 addr, slot;

		len = shape < 638   ? 32
		      : shape < 918 ? 24
		      : shape < 978 ? 16 + (r >> 10) % 8
		      : shape < 980 ? 8 + (r >> 10) % 8
				    : 25 + (r >> 10) % 7;
		addr = (__u32)(r >> 32);
		first = addr >> 24;
		if (first == 0 || first == 127 || first >= 224)
			continue;
		addr &= prefix_mask(len);
		/* Overlaps the bench's /15 when equal on their common bits. */
		if (((addr ^ bench_net) & prefix_mask(len < 15 ? len : 15)) == 0)
			continue;
		key = (__u64)addr << 8 | len | 1ull << 40;
		for (slot = (__u32)(key * 0x9e3779b97f4a7c15ull >> shift);
		     seen[slot] && seen[slot] != key; slot = (slot + 1) & (nslots - 1))
			;
		if (seen[slot])
			continue;
		seen[slot] = key;
		p[have].addr = addr;
		p[have++].len = len;
	}
	free(seen);
	return 0;
}

/* Everything the filter benchmarks share; teardown undoes whatever setup got to. */
struct flt {
	struct prefix *p;
	int loaded; /* prefixes on every list so far */
	int ncpus;
	struct veth np_veth, drop_veth, xf_veth;
	struct netprobe_manager *m;
	char pin[NETPROBE_PIN_PATH_MAX];
	int np_fd;	 /* netprobe's XDP program, from its pinned link */
	int np_lists_fd; /* the same with every detection off: the lists alone */
	struct baselines_bpf *b;
	double fill_np_s, fill_trie_s, fill_xf_s;
	/* xdp-filter: its program and IPv4 map, or why it is not measured. */
	char xf_skip[200];
	bool xf_pin_ours; /* XF_PIN did not exist before: we may remove it */
	bool xf_loaded;
	int xf_prog, xf_map;
	char xf_name[BPF_OBJ_NAME_LEN];
	unsigned int xf_cap, xf_addrs;
	__u64 *xf_val;
};

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

/* Removes a directory of pins (bpffs allows unlink and rmdir), deepest first. */
static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The program behind a pinned bpf_link. */
static int link_prog_fd(const char *path)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path), err;

	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	close(fd);
	if (err)
		return err;
	fd = bpf_prog_get_fd_by_id(info.prog_id);
	return fd < 0 ? -errno : fd;
}

/* The XDP program netprobe's pinned link on ifname runs now, or -errno. */
static int attached_prog_fd(struct netprobe_manager *m, const char *pin, const char *ifname)
{
	char link[NETPROBE_PIN_PATH_MAX + 32];
	struct netprobe_iface iface;

	if (netprobe_manager_iface(m, ifname, &iface))
		return -ENOENT;
	snprintf(link, sizeof(link), "%s/links/slot%u_xdp", pin, iface.slot);
	return link_prog_fd(link);
}

/*
 * netprobe in mode on ifname, through the library, its state under a pin
 * path of this run (tag): the manager, that pin path, and the XDP program
 * its pinned link runs. Returns NULL, or what went wrong.
 */
static const char *attach_netprobe(struct netprobe_config *cfg, enum netprobe_xdp_program mode,
				   const char *tag, const char *ifname, struct netprobe_manager **m,
				   char *pin, size_t pin_len, int *prog_fd)
{
	netprobe_config_default(cfg);
	cfg->xdp_mode = mode;
	snprintf(cfg->pin_path, sizeof(cfg->pin_path), "/sys/fs/bpf/np-bench-%s-%d", tag, getpid());
	snprintf(pin, pin_len, "%s", cfg->pin_path);
	*m = netprobe_manager_new(cfg);
	if (!*m || netprobe_manager_load(*m))
		return "could not load netprobe";
	if (netprobe_manager_attach(*m, ifname))
		return "could not attach netprobe";
	*prog_fd = attached_prog_fd(*m, pin, ifname);
	if (*prog_fd < 0)
		return "cannot find netprobe's XDP program through its pinned link";
	return NULL;
}

/*
 * xdp-filter from xdp-tools, as its users run it: loaded by its command on
 * an interface of ours. It keeps one state for the machine in XF_PIN, so an
 * xdp-filter already in use is left alone.
 */
static void xf_setup(struct flt *f)
{
	struct bpf_prog_info pinfo = {};
	struct bpf_map_info minfo = {};
	__u32 id = 0, len;
	char cmd[128];

	if (system("command -v xdp-filter >/dev/null 2>&1")) {
		snprintf(f->xf_skip, sizeof(f->xf_skip),
			 "xdp-filter is not installed (Debian: apt install xdp-tools)");
		return;
	}
	if (access(XF_PIN, F_OK) == 0) {
		snprintf(f->xf_skip, sizeof(f->xf_skip),
			 "%s exists: xdp-filter is in use here (it keeps one state per machine)",
			 XF_PIN);
		return;
	}
	f->xf_pin_ours = true;
	if (veth_add(&f->xf_veth, "x")) {
		snprintf(f->xf_skip, sizeof(f->xf_skip), "could not create a veth pair");
		return;
	}
	f->xf_loaded = true;
	snprintf(cmd, sizeof(cmd), "xdp-filter load %s -f ipv4 -m native >/dev/null 2>&1",
		 f->xf_veth.sink);
	if (system(cmd)) {
		snprintf(f->xf_skip, sizeof(f->xf_skip), "'xdp-filter load %s -f ipv4' failed",
			 f->xf_veth.sink);
		return;
	}
	/* What runs on the interface: xdpfilt_*, or libxdp's dispatcher in front of it. */
	if (bpf_xdp_query_id(f->xf_veth.sink_ifindex, 0, &id) || !id ||
	    (f->xf_prog = bpf_prog_get_fd_by_id(id)) < 0) {
		snprintf(f->xf_skip, sizeof(f->xf_skip), "cannot find its XDP program");
		return;
	}
	len = sizeof(pinfo);
	if (!bpf_obj_get_info_by_fd(f->xf_prog, &pinfo, &len))
		snprintf(f->xf_name, sizeof(f->xf_name), "%s", pinfo.name);
	/* Its IPv4 list: address (network order) -> per-CPU flags, 1 = match the source. */
	f->xf_map = bpf_obj_get(XF_PIN "/filter_ipv4");
	len = sizeof(minfo);
	if (f->xf_map < 0 || bpf_obj_get_info_by_fd(f->xf_map, &minfo, &len) ||
	    minfo.type != BPF_MAP_TYPE_PERCPU_HASH || minfo.key_size != 4 ||
	    minfo.value_size != 8) {
		snprintf(f->xf_skip, sizeof(f->xf_skip),
			 "its map %s/filter_ipv4 is missing or not u32 -> per-CPU u64", XF_PIN);
		return;
	}
	f->xf_cap = minfo.max_entries;
	f->xf_val = calloc(f->ncpus, sizeof(*f->xf_val));
	if (!f->xf_val) {
		snprintf(f->xf_skip, sizeof(f->xf_skip), "out of memory");
		return;
	}
	for (int i = 0; i < f->ncpus; i++)
		f->xf_val[i] = 1; /* MAP_FLAG_SRC, as 'xdp-filter ip ADDR -m src' writes */
}

static const char *flt_setup(struct flt *f)
{
	struct netprobe_config cfg, off;
	const char *err;

	f->np_fd = f->np_lists_fd = f->xf_prog = f->xf_map = -1;
	f->ncpus = libbpf_num_possible_cpus();
	f->p = calloc(FLT_PREFIXES, sizeof(*f->p));
	if (!f->p || gen_prefixes(f->p, FLT_PREFIXES))
		return "out of memory";
	if (veth_add(&f->np_veth, "f") || veth_add(&f->drop_veth, "d"))
		return "could not create veth pairs";
	f->b = open_baselines();
	if (!f->b)
		return "could not load the baseline programs";
	err = attach_netprobe(&cfg, NETPROBE_XDP_FILTER, "flt", f->np_veth.sink, &f->m, f->pin,
			      sizeof(f->pin), &f->np_fd);
	if (err)
		return err;
	/* A live update swaps the program behind the link; the fd keeps the old one. */
	off = cfg;
	off.syn_flood.enabled = off.udp_flood.enabled = off.icmp_flood.enabled = false;
	off.syn_flood_dst.enabled = off.udp_flood_dst.enabled = off.icmp_flood_dst.enabled = false;
	off.port_scan.enabled = off.rate_anomaly.enabled = false;
	if (netprobe_manager_update_config(f->m, &off))
		return "could not switch netprobe's detections off";
	f->np_lists_fd = attached_prog_fd(f->m, f->pin, f->np_veth.sink);
	if (f->np_lists_fd < 0 || netprobe_manager_update_config(f->m, &cfg))
		return "could not switch netprobe's detections off and on again";
	xf_setup(f);
	return NULL;
}

static void flt_teardown(struct flt *f)
{
	char cmd[128];

	if (f->xf_map >= 0)
		close(f->xf_map);
	if (f->xf_prog >= 0)
		close(f->xf_prog);
	if (f->xf_loaded) {
		snprintf(cmd, sizeof(cmd), "xdp-filter unload %s >/dev/null 2>&1", f->xf_veth.sink);
		system(cmd);
	}
	veth_del(&f->xf_veth);
	/*
	 * xdp-filter removes its pins with its last interface; after a failure,
	 * we remove ours, and its maps if no other interface came to use them.
	 */
	if (f->xf_pin_ours && access(XF_PIN, F_OK) == 0) {
		snprintf(cmd, sizeof(cmd), "%s/programs/%s", XF_PIN, f->xf_veth.sink);
		rm_tree(cmd);
		if (rmdir(XF_PIN "/programs") == 0 || errno == ENOENT)
			rm_tree(XF_PIN);
	}
	free(f->xf_val);
	if (f->np_lists_fd >= 0)
		close(f->np_lists_fd);
	if (f->np_fd >= 0)
		close(f->np_fd);
	if (f->m)
		netprobe_manager_detach(f->m, NULL);
	netprobe_manager_free(f->m);
	/* The lists keep netprobe's pinned state after the last detach: remove it. */
	if (f->pin[0])
		rm_tree(f->pin);
	baselines_bpf__destroy(f->b);
	veth_del(&f->drop_veth);
	veth_del(&f->np_veth);
	free(f->p);
}

/* Puts prefixes [loaded, n) on every list: netprobe's through its API, the others' maps directly. */
static int flt_fill(struct flt *f, int n)
{
	int trie_fd = bpf_map__fd(f->b->maps.ref_deny_trie), err;
	__u32 one = 1;
	char text[32];
	double t0;

	t0 = now_s();
	for (int i = f->loaded; i < n; i++) {
		if (stopping)
			return -EINTR;
		err = netprobe_blacklist_add(f->m, prefix_str(&f->p[i], text, sizeof(text)), 0);
		if (err) {
			fprintf(stderr, "np-bench: netprobe_blacklist_add(%s): %s\n", text,
				strerror(-err));
			return err;
		}
	}
	f->fill_np_s += now_s() - t0;

	t0 = now_s();
	for (int i = f->loaded; i < n; i++) {
		struct lpm_v4_key key = {.prefix_len = f->p[i].len};
		__u32 be = htonl(f->p[i].addr);

		memcpy(key.addr, &be, 4);
		if (bpf_map_update_elem(trie_fd, &key, &one, BPF_ANY))
			return -errno;
	}
	f->fill_trie_s += now_s() - t0;

	/* xdp-filter matches whole addresses: it gets each prefix's network address. */
	t0 = now_s();
	for (int i = f->loaded; i < n && !f->xf_skip[0] && f->xf_addrs < f->xf_cap; i++) {
		__u32 be = htonl(f->p[i].addr);

		if (!bpf_map_update_elem(f->xf_map, &be, f->xf_val, BPF_NOEXIST))
			f->xf_addrs++;
		else if (errno != EEXIST)
			break;
	}
	f->fill_xf_s += now_s() - t0;
	f->loaded = n;
	return 0;
}

/* As prog_run_ns, but NAN unless the program gave verdict: a cost counts only on its path. */
static double prog_run_verdict(int prog_fd, const uint8_t *frame, size_t len, int repeat,
			       __u32 verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &opts) || opts.retval != verdict)
		return NAN;
	return opts.duration;
}

static const char *thousands(int n, char *buf, size_t len)
{
	if (n >= 1000)
		snprintf(buf, len, "%d,%03d", n / 1000, n % 1000);
	else
		snprintf(buf, len, "%d", n);
	return buf;
}

enum flt_case {
	FC_BARE_PASS,
	FC_BARE_DROP,
	FC_NP_CLEAN,
	FC_NP_LISTS_CLEAN,
	FC_NP_32,
	FC_NP_24,
	FC_NP_28,
	FC_TRIE_CLEAN,
	FC_TRIE_32,
	FC_TRIE_24,
	FC_TRIE_28,
	FC_XF_CLEAN, /* xdp-filter last: skipped when it is missing */
	FC_XF_32,
	FC_MAX,
};

/* Cost per packet of each program on a clean and on blocked sources, with n prefixes listed. */
static void flt_measure(struct report *r, struct flt *f, int n, bool quick)
{
	int rounds = quick ? 5 : 15, repeat = quick ? 200000 : 1000000;
	int pass = bpf_program__fd(f->b->progs.bare_pass);
	int drop = bpf_program__fd(f->b->progs.bare_drop);
	int trie = bpf_program__fd(f->b->progs.reference_lpm);
	/* frame: 0 clean, 1 + the flt_fixed entry that blocks it. */
	const struct {
		const char *name;
		int fd, frame;
		__u32 verdict;
	} c[FC_MAX] = {
		[FC_BARE_PASS] = {"bare XDP_PASS", pass, 0, XDP_PASS},
		[FC_BARE_DROP] = {"bare_drop", drop, 0, XDP_DROP},
		[FC_NP_CLEAN] = {"netprobe, clean", f->np_fd, 0, XDP_PASS},
		[FC_NP_LISTS_CLEAN] = {"netprobe, detections off, clean", f->np_lists_fd, 0,
				       XDP_PASS},
		[FC_NP_32] = {"netprobe, /32", f->np_fd, 1, XDP_DROP},
		[FC_NP_24] = {"netprobe, /24", f->np_fd, 2, XDP_DROP},
		[FC_NP_28] = {"netprobe, /28", f->np_fd, 3, XDP_DROP},
		[FC_TRIE_CLEAN] = {"LPM trie, clean", trie, 0, XDP_PASS},
		[FC_TRIE_32] = {"LPM trie, /32", trie, 1, XDP_DROP},
		[FC_TRIE_24] = {"LPM trie, /24", trie, 2, XDP_DROP},
		[FC_TRIE_28] = {"LPM trie, /28", trie, 3, XDP_DROP},
		[FC_XF_CLEAN] = {"xdp-filter, clean", f->xf_prog, 0, XDP_PASS},
		[FC_XF_32] = {"xdp-filter, blocked", f->xf_prog, 1, XDP_DROP},
	};
	int ncases = f->xf_skip[0] ? FC_XF_CLEAN : FC_MAX;
	uint8_t frames[4][128];
	size_t len[4];
	double ns[FC_MAX][15], m[FC_MAX];
	char num[16], xf_clean[160], xf_clean_ratio[160], xf_blocked[80], xf_blocked_ratio[200];

	for (int i = 0; i < 4; i++) {
		struct pkt_spec s = bench_frame;

		if (i)
			s.src = flt_fixed[i - 1].src;
		len[i] = pkt_build(&s, frames[i], sizeof(frames[i]));
	}
	/* Interleaved rounds, so that drift of the machine hits every program alike. */
	for (int i = 0; i < rounds; i++) {
		if (stopping)
			return;
		for (int k = 0; k < ncases; k++)
			ns[k][i] = prog_run_verdict(c[k].fd, frames[c[k].frame], len[c[k].frame],
						    repeat, c[k].verdict);
	}
	for (int k = 0; k < ncases; k++) {
		m[k] = median(ns[k], rounds);
		if (isnan(m[k])) {
			row(r,
			    "| filter cost, %s deny prefixes | %s: wrong verdict, or the run "
			    "failed | |",
			    thousands(n, num, sizeof(num)), c[k].name);
			return;
		}
	}
	thousands(n, num, sizeof(num));
	/* xdp-filter's parts of the rows, empty when it was skipped (its own row says why). */
	if (f->xf_skip[0]) {
		snprintf(xf_clean, sizeof(xf_clean), " ");
		snprintf(xf_clean_ratio, sizeof(xf_clean_ratio), "xdp-filter skipped; ");
		snprintf(xf_blocked, sizeof(xf_blocked), " ");
		snprintf(xf_blocked_ratio, sizeof(xf_blocked_ratio), "xdp-filter skipped; ");
	} else {
		snprintf(xf_clean, sizeof(xf_clean), " xdp-filter %.1f ns (%s, %u addresses%s); ",
			 m[FC_XF_CLEAN], f->xf_name, f->xf_addrs,
			 f->xf_addrs < (unsigned int)n ? ": all its map holds" : "");
		snprintf(xf_clean_ratio, sizeof(xf_clean_ratio),
			 "netprobe / xdp-filter = **%.2f** (goal <= 2.0; detections off %.2f); "
			 "xdp-filter / bare = %.2f; ",
			 m[FC_NP_CLEAN] / m[FC_XF_CLEAN], m[FC_NP_LISTS_CLEAN] / m[FC_XF_CLEAN],
			 m[FC_XF_CLEAN] / m[FC_BARE_PASS]);
		snprintf(xf_blocked, sizeof(xf_blocked),
			 " xdp-filter %.1f ns (the /32's address); ", m[FC_XF_32]);
		snprintf(xf_blocked_ratio, sizeof(xf_blocked_ratio),
			 "netprobe / xdp-filter = **%.2f** (/32), **%.2f** (/24), **%.2f** (/28) "
			 "(goal <= 1.0); xdp-filter / bare_drop = %.2f; ",
			 m[FC_NP_32] / m[FC_XF_32], m[FC_NP_24] / m[FC_XF_32],
			 m[FC_NP_28] / m[FC_XF_32], m[FC_XF_32] / m[FC_BARE_DROP]);
	}
	row(r,
	    "| filter, clean source, %s deny prefixes (BPF_PROG_RUN, %d x %d runs, median) | "
	    "netprobe filter %.1f ns (detections off: %.1f ns);%sLPM trie %.1f ns; bare XDP_PASS "
	    "%.1f ns | %snetprobe / bare = %.2f; trie / bare = %.2f |",
	    num, rounds, repeat, m[FC_NP_CLEAN], m[FC_NP_LISTS_CLEAN], xf_clean, m[FC_TRIE_CLEAN],
	    m[FC_BARE_PASS], xf_clean_ratio, m[FC_NP_CLEAN] / m[FC_BARE_PASS],
	    m[FC_TRIE_CLEAN] / m[FC_BARE_PASS]);
	row(r,
	    "| filter, blocked source, %s deny prefixes (the same runs) | netprobe filter, source "
	    "under a /32 %.1f ns, a /24 %.1f ns, a /28 %.1f ns;%sLPM trie /32 %.1f ns, /24 %.1f "
	    "ns, "
	    "/28 %.1f ns; bare_drop %.1f ns | %snetprobe / bare_drop = %.2f, %.2f, %.2f; "
	    "trie / bare_drop = %.2f, %.2f, %.2f |",
	    num, m[FC_NP_32], m[FC_NP_24], m[FC_NP_28], xf_blocked, m[FC_TRIE_32], m[FC_TRIE_24],
	    m[FC_TRIE_28], m[FC_BARE_DROP], xf_blocked_ratio, m[FC_NP_32] / m[FC_BARE_DROP],
	    m[FC_NP_24] / m[FC_BARE_DROP], m[FC_NP_28] / m[FC_BARE_DROP],
	    m[FC_TRIE_32] / m[FC_BARE_DROP], m[FC_TRIE_24] / m[FC_BARE_DROP],
	    m[FC_TRIE_28] / m[FC_BARE_DROP]);
}

/*
 * The trie is a fair reference only if it decides as netprobe does: both
 * judge sources inside listed prefixes and anywhere else. Returns how many
 * of n sources they disagreed on, or -1 if a run failed.
 */
static int flt_disagreements(struct flt *f, int n, int *blocked)
{
	int trie = bpf_program__fd(f->b->progs.reference_lpm), bad = 0;
	__u64 state = 0x766572646963ull;

	*blocked = 0;
	for (int i = 0; i < n; i++) {
		if (stopping)
			return -1;
		__u64 r = splitmix64(&state);
		const struct prefix *p = &f->p[(r >> 32) % f->loaded];
		__u32 addr = i % 2 ? (__u32)r : p->addr | ((__u32)r & ~prefix_mask(p->len));
		struct in_addr in = {.s_addr = htonl(addr)};
		struct pkt_spec s = bench_frame;
		uint8_t frame[128];
		size_t len;
		LIBBPF_OPTS(bpf_test_run_opts, a);
		LIBBPF_OPTS(bpf_test_run_opts, b);
		char text[INET_ADDRSTRLEN];

		s.src = inet_ntop(AF_INET, &in, text, sizeof(text));
		len = pkt_build(&s, frame, sizeof(frame));
		a.data_in = b.data_in = frame;
		a.data_size_in = b.data_size_in = len;
		if (bpf_prog_test_run_opts(f->np_fd, &a) || bpf_prog_test_run_opts(trie, &b))
			return -1;
		if (a.retval != b.retval && bad++ < 5)
			fprintf(stderr, "np-bench: source %s: netprobe %u, LPM trie %u\n", text,
				a.retval, b.retval);
		*blocked += b.retval == XDP_DROP;
	}
	return bad;
}

/* Frames the program on v's sink dropped, by its own counter. */
static unsigned long long flt_drops(struct flt *f, const struct veth *v)
{
	struct netprobe_global_stats st;
	unsigned long long sum = 0;
	__u64 per_cpu[f->ncpus];
	__u32 key = 0;

	if (v == &f->np_veth)
		return netprobe_manager_iface_stats(f->m, v->sink, &st) ? 0 : st.xdp_drop;
	if (bpf_map__lookup_elem(f->b->maps.drop_count, &key, sizeof(key), per_cpu, sizeof(per_cpu),
				 0))
		return 0;
	for (int i = 0; i < f->ncpus; i++)
		sum += per_cpu[i];
	return sum;
}

static double live_drop_rate(struct flt *f, const struct veth *v, const uint8_t *frame, size_t len,
			     long count)
{
	unsigned long long before = flt_drops(f, v);
	double t0 = now_s();

	if (send_live(f->b, v->gen_ifindex, frame, len, count))
		return NAN;
	double t1 = now_s();

	usleep(20000);
	return (flt_drops(f, v) - before) / (t1 - t0);
}

/*
 * A flood dropped on a veth pair: the live-frames generator as in bench_live,
 * netprobe in filter mode with the flood's source on the deny list (among
 * every prefix already there) against the counting bare_drop.
 */
static void flt_live_drop(struct report *r, struct flt *f, bool quick)
{
	const struct pkt_spec s = bench_frame;
	long count = quick ? 200000 : 2000000;
	int rounds = quick ? 3 : 7;
	double bare[7], np[7];
	uint8_t frame[PKT_MAX];
	size_t len = pkt_build(&s, frame, sizeof(frame));
	char src[32], num[16];

	snprintf(src, sizeof(src), "%s/32", s.src);
	if (netprobe_blacklist_add(f->m, src, 0) ||
	    bpf_xdp_attach(f->drop_veth.sink_ifindex, bpf_program__fd(f->b->progs.bare_drop),
			   XDP_FLAGS_DRV_MODE, NULL)) {
		row(r, "| veth throughput, dropping a flood | could not set up | |");
		return;
	}
	for (int i = 0; i < rounds && !stopping; i++) {
		bare[i] = live_drop_rate(f, &f->drop_veth, frame, len, count);
		np[i] = live_drop_rate(f, &f->np_veth, frame, len, count);
	}
	bpf_xdp_detach(f->drop_veth.sink_ifindex, XDP_FLAGS_DRV_MODE, NULL);
	if (stopping)
		return;
	double mb = median(bare, rounds), mn = median(np, rounds);

	if (live_row_refused(r, "veth throughput, live-frames generator -> XDP_DROP", mb + mn))
		return;
	row(r,
	    "| veth throughput, live-frames generator -> XDP_DROP (%d x %ld frames, median) | "
	    "frames dropped a second: bare_drop %.2f M, netprobe filter (source under a /32 among "
	    "%s prefixes) %.2f M | netprobe / bare_drop = **%.2f** |",
	    rounds, count, mb / 1e6, thousands(f->loaded + 1, num, sizeof(num)), mn / 1e6, mn / mb);
}

static void bench_filter(struct report *r, bool quick)
{
	static const int sizes[] = {1000, FLT_PREFIXES};
	struct flt f = {};
	const char *why = flt_setup(&f);
	char num[16], xf[80] = "";

	if (why) {
		row(r, "| filter mode | %s | |", why);
		goto out;
	}
	if (f.xf_skip[0])
		row(r, "| xdp-filter (xdp-tools) | skipped: %s | |", f.xf_skip);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (flt_fill(&f, sizes[i])) {
			if (!stopping)
				row(r, "| filter mode | could not fill the lists | |");
			goto out;
		}
		flt_measure(r, &f, sizes[i], quick);
	}
	int blocked, bad = flt_disagreements(&f, 20000, &blocked);

	if (stopping)
		goto out;
	row(r,
	    "| filter verdicts, %s prefixes: netprobe against the LPM trie on 20,000 sources "
	    "(half inside listed prefixes) | %d disagree (the trie blocks %d) | |",
	    thousands(f.loaded, num, sizeof(num)), bad, blocked);
	if (f.xf_addrs)
		snprintf(xf, sizeof(xf),
			 "; xdp-filter's map, bpf_map_update_elem %.1f us an address",
			 f.fill_xf_s / f.xf_addrs * 1e6);
	row(r,
	    "| filling the deny lists, %s prefixes | netprobe_blacklist_add %.1f us a prefix "
	    "(%.1f s); LPM trie, bpf_map_update_elem %.1f us%s | |",
	    thousands(f.loaded, num, sizeof(num)), f.fill_np_s / f.loaded * 1e6, f.fill_np_s,
	    f.fill_trie_s / f.loaded * 1e6, xf);
	flt_live_drop(r, &f, quick);
out:
	flt_teardown(&f);
}

/*
 * Bulk list updates, all in one run: the per-entry figure on the first
 * 10,000 prefixes of a blocklist, then one batch (netprobe_blacklist_add_many)
 * of 100,000 and one of 500,000 (a FireHOL-level file), each removed again
 * with one batch; and a refresh: the 500,000 applied again, all listed.
 * No interface is needed: lists are filled before anything is attached.
 */
#define LIST_SINGLE 10000
#define LIST_BATCH  100000
#define LIST_FILE   500000

static void bench_list_batches(struct report *r, bool quick)
{
	struct netprobe_acl_batch_result res;
	struct netprobe_manager *m = NULL;
	struct netprobe_config cfg;
	struct prefix *p = calloc(LIST_FILE, sizeof(*p));
	char(*text)[24] = calloc(LIST_FILE, sizeof(*text));
	const char **v = calloc(LIST_FILE, sizeof(*v));
	double t0, single = 0, add100k = 0, del100k = 0, add500k = 0, again500k = 0, del500k = 0;
	int nfile = quick ? LIST_BATCH : LIST_FILE, err = 0;

	if (!p || !text || !v || gen_prefixes(p, nfile)) {
		row(r, "| list batches | out of memory | |");
		goto out;
	}
	for (int i = 0; i < nfile; i++)
		v[i] = prefix_str(&p[i], text[i], sizeof(text[i]));
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "/sys/fs/bpf/np-bench-lists-%d", getpid());
	cfg.acl_max_rules = 1u << 20;
	cfg.acl_v4_groups = 1u << 15;
	m = netprobe_manager_new(&cfg);
	if (!m || netprobe_manager_load(m)) {
		row(r, "| list batches | cannot load netprobe's state | |");
		goto out;
	}
	t0 = now_s();
	for (int i = 0; i < LIST_SINGLE && !err && !stopping; i++)
		err = netprobe_blacklist_add(m, v[i], 0);
	single = (now_s() - t0) / LIST_SINGLE;
	err = err ?: netprobe_blacklist_del_many(m, v, LIST_SINGLE, NULL);

	t0 = now_s();
	err = err ?: netprobe_blacklist_add_many(m, v, LIST_BATCH, NULL, &res);
	add100k = now_s() - t0;
	t0 = now_s();
	err = err ?: netprobe_blacklist_del_many(m, v, LIST_BATCH, NULL);
	del100k = now_s() - t0;
	if (!quick) {
		t0 = now_s();
		err = err ?: netprobe_blacklist_add_many(m, v, nfile, NULL, &res);
		add500k = now_s() - t0;
		t0 = now_s();
		err = err ?: netprobe_blacklist_add_many(m, v, nfile, NULL, &res);
		again500k = now_s() - t0;
		err = err ?: (res.skipped == (size_t)nfile ? 0 : -EPROTO);
		t0 = now_s();
		err = err ?: netprobe_blacklist_del_many(m, v, nfile, NULL);
		del500k = now_s() - t0;
	}
	if (err || stopping) {
		row(r, "| list batches | failed: %s | |", strerror(-err));
		goto out;
	}
	row(r,
	    "| deny list, 100,000 prefixes in one batch (netprobe_blacklist_add_many) | %.2f s, "
	    "%.1f us a prefix; removed in one batch %.2f s; one at a time, %.1f us a prefix "
	    "(first 10,000, same run) | batch / one at a time = **%.3f** (goal: 0.5 s) |",
	    add100k, add100k / LIST_BATCH * 1e6, del100k, single * 1e6,
	    add100k / LIST_BATCH / single);
	if (!quick)
		row(r,
		    "| deny list, a 500,000-entry blocklist in one batch | %.2f s; applied again "
		    "(all listed, skipped) %.2f s; removed %.2f s | goal: 3 s |",
		    add500k, again500k, del500k);
out:
	if (m) {
		netprobe_manager_free(m);
		rm_tree(cfg.pin_path);
	}
	free(v);
	free(text);
	free(p);
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

/* ---- load balancer mode ---------------------------------------------------- */

#define LB_BACKENDS 100
#define LB_VIP	    "198.18.100.1"
#define LB_SERVICE  LB_VIP ":80/tcp"
#define LB_ENCAP    20 /* the outer IPv4 header */

/* lb_rerun's targets (baselines.bpf.c): the programs compared on VIP traffic. */
enum lb_target { LT_LB, LT_BARE_TX, LT_ENCAP_TX, LT_FIB_TX, LT_MAX };

/* Everything the load balancer benchmark sets up; teardown undoes whatever setup got to. */
struct lbb {
	struct veth v;
	struct netprobe_manager *m;
	char pin[NETPROBE_PIN_PATH_MAX];
	int lb_fd; /* netprobe's XDP program in lb mode, from its pinned link */
	struct baselines_bpf *b;
	struct netprobe_bpf *mon; /* netprobe in monitor mode, for the non-VIP row */
	int old_forward;	  /* net.ipv4.ip_forward before: -1 untouched */
};

/* Reads net.ipv4.ip_forward (value < 0) or writes it: the value read, 0 written, -1 on error. */
static int ip_forward(int value)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", value < 0 ? "r" : "w");
	int got = 0;

	if (!f)
		return -1;
	if (value < 0 ? fscanf(f, "%d", &got) != 1 : fprintf(f, "%d\n", value) < 0)
		got = -1;
	if (fclose(f))
		got = -1;
	return got;
}

/*
 * The backends 198.19.1.1-100 on the connected 198.19.0.0/16 of the veth
 * netprobe holds, each with a permanent neighbour entry, so that the
 * kernel's route to every one leaves by that veth with a known MAC address
 * (bpf_fib_lookup succeeds, the verdict is XDP_TX). One `ip -batch` for all.
 */
static int lb_neighbours(const struct lbb *l)
{
	FILE *ip = popen("ip -batch -", "w");

	if (!ip)
		return -1;
	fprintf(ip, "addr add 198.19.0.1/16 dev %s\n", l->v.sink);
	for (int k = 1; k <= LB_BACKENDS; k++)
		fprintf(ip,
			"neigh replace 198.19.1.%d lladdr 02:00:00:00:01:%02x dev %s nud "
			"permanent\n",
			k, k, l->v.sink);
	return pclose(ip) ? -1 : 0;
}

static const char *lb_setup(struct lbb *l)
{
	struct netprobe_lb_backend_opts o = {
		.sz = sizeof(o), .weight = 1, .forward = NETPROBE_LB_FORWARD_IPIP};
	struct netprobe_config cfg;
	const char *err;
	char be[32];

	l->lb_fd = -1;
	/* bpf_fib_lookup answers only on a device that forwards. */
	l->old_forward = ip_forward(-1);
	if (l->old_forward < 0 || ip_forward(1) < 0)
		return "could not enable net.ipv4.ip_forward in the namespace";
	if (veth_add(&l->v, "b"))
		return "could not create a veth pair";
	if (lb_neighbours(l))
		return "could not add the backends' address and neighbours";
	l->b = open_baselines();
	l->mon = load_netprobe();
	if (!l->b || !l->mon)
		return "could not load the baseline programs";
	err = attach_netprobe(&cfg, NETPROBE_XDP_LB, "lb", l->v.sink, &l->m, l->pin, sizeof(l->pin),
			      &l->lb_fd);
	if (err)
		return err;
	int progs[LT_MAX] = {[LT_LB] = l->lb_fd,
			     [LT_BARE_TX] = bpf_program__fd(l->b->progs.gen_tx),
			     [LT_ENCAP_TX] = bpf_program__fd(l->b->progs.encap_tx),
			     [LT_FIB_TX] = bpf_program__fd(l->b->progs.fib_tx)};

	for (__u32 k = 0; k < LT_MAX; k++)
		if (bpf_map__update_elem(l->b->maps.rerun_targets, &k, sizeof(k), &progs[k],
					 sizeof(progs[k]), BPF_ANY))
			return "cannot put the programs under test in lb_rerun's table";
	if (netprobe_lb_service_add(l->m, LB_SERVICE))
		return "netprobe_lb_service_add(" LB_SERVICE ") failed";
	for (int k = 1; k <= LB_BACKENDS; k++) {
		snprintf(be, sizeof(be), "198.19.1.%d", k);
		if (stopping)
			return "stopped";
		if (netprobe_lb_backend_add(l->m, LB_SERVICE, be, &o))
			return "netprobe_lb_backend_add failed";
	}
	return NULL;
}

static void lb_teardown(struct lbb *l)
{
	if (l->lb_fd >= 0)
		close(l->lb_fd);
	if (l->m)
		netprobe_manager_detach(l->m, NULL);
	netprobe_manager_free(l->m);
	/* Services keep netprobe's pinned state after the last detach: remove it. */
	if (l->pin[0])
		rm_tree(l->pin);
	netprobe_bpf__destroy(l->mon);
	baselines_bpf__destroy(l->b);
	veth_del(&l->v);
	if (l->old_forward >= 0)
		ip_forward(l->old_forward);
}

/*
 * BPF_PROG_RUN in repeat mode of the program under test through lb_rerun,
 * as if received on the veth (the device bpf_fib_lookup routes from): ns a
 * run, or NAN unless the last run's verdict is XDP_TX and its frame is the
 * one sent, grown by an outer IPv4 header (carrying IPv4) when encap.
 */
static double lb_run(struct lbb *l, enum lb_target target, bool new_flow, const uint8_t *frame,
		     size_t len, int repeat, bool encap)
{
	struct xdp_md ctx = {.data_end = len, .ingress_ifindex = l->v.sink_ifindex};
	size_t grow = encap ? LB_ENCAP : 0;
	uint8_t out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .repeat = repeat);

	l->b->bss->rerun_target = target;
	l->b->bss->rerun_new_flow = new_flow;
	if (bpf_prog_test_run_opts(bpf_program__fd(l->b->progs.lb_rerun), &opts) ||
	    opts.retval != XDP_TX || opts.data_size_out != len + grow)
		return NAN;
	/* IPv4 carrying IPv4, for the VIP. */
	if (encap && (out[12] != 0x08 || out[13] != 0x00 || out[14 + 9] != IPPROTO_IPIP ||
		      memcmp(out + 14 + LB_ENCAP + 16, frame + 14 + 16, 4)))
		return NAN;
	return opts.duration;
}

/* As prog_run_ns, from the veth, and NAN unless the verdict is XDP_PASS. */
static double lb_run_pass(struct lbb *l, int prog_fd, const uint8_t *frame, size_t len, int repeat)
{
	struct xdp_md ctx = {.data_end = len, .ingress_ifindex = l->v.sink_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog_fd, &opts) || opts.retval != XDP_PASS)
		return NAN;
	return opts.duration;
}

static int lb_backends_used(const struct netprobe_lb_service_info *s, void *ctx)
{
	for (size_t i = 0; i < s->nbackends; i++)
		*(unsigned int *)ctx += s->backends[i].counters.new_conns > 0;
	return 0;
}

enum lb_case {
	LC_EST_BARE,
	LC_EST_ENCAP,
	LC_EST_FIB,
	LC_EST_LB,
	LC_NEW_BARE,
	LC_NEW_ENCAP,
	LC_NEW_LB,
	LC_AGAIN_LB,
	LC_OTHER_PASS,
	LC_OTHER_MON,
	LC_OTHER_LB,
	LC_MAX,
};

static const char *const lb_case_name[LC_MAX] = {
	[LC_EST_BARE] = "bare XDP_TX, ACK",	    [LC_EST_ENCAP] = "reference (encap only), ACK",
	[LC_EST_FIB] = "bpf_fib_lookup alone",	    [LC_EST_LB] = "netprobe lb, established flow",
	[LC_NEW_BARE] = "bare XDP_TX, SYNs",	    [LC_NEW_ENCAP] = "reference (encap only), SYNs",
	[LC_NEW_LB] = "netprobe lb, new flows",	    [LC_AGAIN_LB] = "netprobe lb, one SYN repeated",
	[LC_OTHER_PASS] = "bare XDP_PASS, non-VIP", [LC_OTHER_MON] = "netprobe monitor, non-VIP",
	[LC_OTHER_LB] = "netprobe lb, non-VIP",
};

/*
 * The load balancer's cost per packet, every program in the same
 * interleaved rounds, median. VIP traffic runs through lb_rerun (see
 * baselines.bpf.c), whose work every program compared shares but for taking
 * off the outer header the encapsulating ones put on (a backend's work,
 * about a bpf_xdp_adjust_head). That every run took the intended path is
 * checked on netprobe's own counters: each one forwarded (XDP_TX), new
 * connections only for the SYNs, none failed.
 */
static void lb_measure(struct report *r, struct lbb *l, bool quick)
{
	int rounds = quick ? 5 : 15, repeat = quick ? 200000 : 1000000;
	struct pkt_spec est = {.family = 4,
			       .src = "198.18.0.1",
			       .dst = LB_VIP,
			       .proto = IPPROTO_TCP,
			       .sport = 1000,
			       .dport = 80,
			       .tcp_flags = 0x10, /* ACK */
			       .payload = 10};	  /* 64 bytes, as every other row */
	struct pkt_spec syn = est, again, other = bench_frame;
	int mon = bpf_program__fd(l->mon->progs.netprobe_xdp);
	uint8_t f_est[128], f_syn[128], f_again[128], f_other[128];
	size_t len_est, len_syn, len_again, len_other;
	double ns[LC_MAX][15], m[LC_MAX];
	struct netprobe_global_stats st0, st1;
	unsigned long long vip_runs = 3ull * rounds * repeat, syn_runs = 2ull * rounds * repeat;
	unsigned int used = 0;

	syn.tcp_flags = 0x02;
	again = syn;
	again.sport = 1001; /* a flow of its own, so that its SYNs leave the ACK's entry alone */
	len_est = pkt_build(&est, f_est, sizeof(f_est));
	len_syn = pkt_build(&syn, f_syn, sizeof(f_syn));
	len_again = pkt_build(&again, f_again, sizeof(f_again));
	len_other = pkt_build(&other, f_other, sizeof(f_other));
	/* The established flow: its SYN puts it in the connection table. */
	if (isnan(lb_run(l, LT_LB, false, f_syn, len_syn, 1, true))) {
		row(r, "| load balancer, VIP hit | the first SYN did not go out encapsulated "
		       "(XDP_TX expected) | |");
		return;
	}
	if (netprobe_manager_iface_stats(l->m, l->v.sink, &st0)) {
		row(r, "| load balancer | cannot read netprobe's counters | |");
		return;
	}
	for (int i = 0; i < rounds; i++) {
		if (stopping)
			return;
		ns[LC_EST_BARE][i] = lb_run(l, LT_BARE_TX, false, f_est, len_est, repeat, false);
		ns[LC_EST_ENCAP][i] = lb_run(l, LT_ENCAP_TX, false, f_est, len_est, repeat, true);
		ns[LC_EST_FIB][i] = lb_run(l, LT_FIB_TX, false, f_est, len_est, repeat, false);
		ns[LC_EST_LB][i] = lb_run(l, LT_LB, false, f_est, len_est, repeat, true);
		ns[LC_NEW_BARE][i] = lb_run(l, LT_BARE_TX, true, f_syn, len_syn, repeat, false);
		ns[LC_NEW_ENCAP][i] = lb_run(l, LT_ENCAP_TX, true, f_syn, len_syn, repeat, true);
		ns[LC_NEW_LB][i] = lb_run(l, LT_LB, true, f_syn, len_syn, repeat, true);
		ns[LC_AGAIN_LB][i] = lb_run(l, LT_LB, false, f_again, len_again, repeat, true);
		ns[LC_OTHER_PASS][i] = lb_run_pass(l, bpf_program__fd(l->b->progs.bare_pass),
						   f_other, len_other, repeat);
		ns[LC_OTHER_MON][i] = lb_run_pass(l, mon, f_other, len_other, repeat);
		ns[LC_OTHER_LB][i] = lb_run_pass(l, l->lb_fd, f_other, len_other, repeat);
	}
	for (int k = 0; k < LC_MAX; k++) {
		m[k] = median(ns[k], rounds);
		if (isnan(m[k])) {
			row(r,
			    "| load balancer | %s: a run gave the wrong verdict or frame (XDP_TX "
			    "and IP-in-IP for VIP traffic, XDP_PASS for the rest) | |",
			    lb_case_name[k]);
			return;
		}
	}
	if (netprobe_manager_iface_stats(l->m, l->v.sink, &st1) ||
	    netprobe_manager_lb_stats(l->m, lb_backends_used, &used)) {
		row(r, "| load balancer | cannot read netprobe's counters | |");
		return;
	}
	/* The kernel's own frames on the veth (IPv6 neighbour discovery) pass as well. */
	unsigned long long fwd = st1.counters.lb[NETPROBE_LBC_FORWARDED] -
				 st0.counters.lb[NETPROBE_LBC_FORWARDED],
			   tx = st1.xdp_tx - st0.xdp_tx, pass = st1.xdp_pass - st0.xdp_pass,
			   others = st1.xdp_drop + st1.xdp_aborted + st1.xdp_redirect -
				    st0.xdp_drop - st0.xdp_aborted - st0.xdp_redirect,
			   conns = st1.counters.lb[NETPROBE_LBC_NEW_CONNS] -
				   st0.counters.lb[NETPROBE_LBC_NEW_CONNS],
			   failed = st1.counters.lb[NETPROBE_LBC_CONN_FAILED] -
				    st0.counters.lb[NETPROBE_LBC_CONN_FAILED],
			   other_runs = (unsigned long long)rounds * repeat;

	if (fwd != vip_runs || tx != vip_runs || conns != syn_runs || failed || others ||
	    pass < other_runs) {
		row(r,
		    "| load balancer | netprobe's counters disagree with the runs: forwarded %llu, "
		    "XDP_TX %llu (expected %llu), new connections %llu (expected %llu), "
		    "conn_table_failed %llu, XDP_PASS %llu (expected %llu), other verdicts "
		    "%llu | |",
		    fwd, tx, vip_runs, conns, syn_runs, failed, pass, other_runs, others);
		return;
	}
	row(r,
	    "| load balancer, VIP hit, established flow: 64-byte TCP ACK, %d backends, IP-in-IP "
	    "(BPF_PROG_RUN, %d x %d runs, median) | netprobe lb %.1f ns; reference (encap "
	    "only, no lookups) %.1f ns; bpf_fib_lookup alone %.1f ns; bare XDP_TX %.1f ns | "
	    "lb / bare_tx = **%.2f**; lb / reference = %.2f |",
	    LB_BACKENDS, rounds, repeat, m[LC_EST_LB], m[LC_EST_ENCAP], m[LC_EST_FIB],
	    m[LC_EST_BARE], m[LC_EST_LB] / m[LC_EST_BARE], m[LC_EST_LB] / m[LC_EST_ENCAP]);
	row(r,
	    "| load balancer, VIP hit, new flow: 64-byte TCP SYN (the same runs) | netprobe lb, "
	    "a new source port each run %.1f ns; one SYN repeated %.1f ns; reference %.1f ns; "
	    "bare XDP_TX %.1f ns | lb / bare_tx = **%.2f** (repeated SYN %.2f); lb / reference "
	    "= %.2f |",
	    m[LC_NEW_LB], m[LC_AGAIN_LB], m[LC_NEW_ENCAP], m[LC_NEW_BARE],
	    m[LC_NEW_LB] / m[LC_NEW_BARE], m[LC_AGAIN_LB] / m[LC_NEW_BARE],
	    m[LC_NEW_LB] / m[LC_NEW_ENCAP]);
	row(r,
	    "| load balancer, non-VIP traffic: 64-byte IPv4 UDP to another address (the same "
	    "runs) | netprobe lb %.1f ns; netprobe monitor %.1f ns; bare XDP_PASS %.1f ns | "
	    "lb / bare_pass = **%.2f**; lb / monitor = %.2f |",
	    m[LC_OTHER_LB], m[LC_OTHER_MON], m[LC_OTHER_PASS], m[LC_OTHER_LB] / m[LC_OTHER_PASS],
	    m[LC_OTHER_LB] / m[LC_OTHER_MON]);
	row(r,
	    "| load balancer, checked on netprobe's counters over those runs | %llu forwarded "
	    "(XDP_TX), as many as VIP runs; %llu new connections, as many as SYNs, none failed; "
	    "new flows reached %u of %d backends | |",
	    fwd, conns, used, LB_BACKENDS);
}

static void bench_lb(struct report *r, bool quick)
{
	struct lbb l = {.old_forward = -1};
	const char *why = lb_setup(&l);

	if (why)
		row(r, "| load balancer | %s | |", why);
	else
		lb_measure(r, &l, quick);
	lb_teardown(&l);
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
	/* Interleaved rounds: a burst of other work of a few ms hits every size alike. */
	double t[sizeof(counts) / sizeof(counts[0])][15];

	for (int k = 0; k < 15; k++)
		for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			double t0 = now_s();

			np_maglev_build(b, counts[c], table, NP_MAGLEV_DEFAULT_SIZE);
			t[c][k] = now_s() - t0;
		}
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
		row(r,
		    "| Maglev table build, %u backends (weights 1-3), %u entries (median of 15) | "
		    "%.2f ms | |",
		    counts[c], NP_MAGLEV_DEFAULT_SIZE, median(t[c], 15) * 1e3);
	free(b);
}

static void bench_flow_memory_q(struct report *r, bool quick)
{
	(void)quick;
	bench_flow_memory(r);
}

static void bench_maglev_q(struct report *r, bool quick)
{
	(void)quick;
	bench_maglev(r);
}

/* ---- Exporters: the daemon's /metrics and IPFIX at scale ---- */

#define EXP_IFACES   64
#define EXP_VIPS     100
#define EXP_BACKENDS 10
#define EXP_FLOWS    100000
#define EXP_METRICS  9479
#define EXP_IPFIX    4739

struct exp {
	char dir[64]; /* the config, the log */
	char pin[96], conf[128], log[128], pid_file[96];
	pid_t daemon;
	int prog_fd;		    /* slot 0's XDP program, to make the flows */
	uint8_t (*frames)[PKT_MAX]; /* one frame a flow */
	size_t *lens;
	int sink_fd; /* the IPFIX collector: counts what comes */
	pthread_t sink;
	bool sink_running;
	_Atomic unsigned long long sink_msgs, sink_bytes;
};

static void *exp_sink(void *arg)
{
	struct exp *e = arg;
	static char buf[65536];

	for (;;) {
		ssize_t n = recv(e->sink_fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		e->sink_msgs++;
		e->sink_bytes += n;
	}
}

/* The daemon's config: EXP_IFACES interfaces, EXP_VIPS services of EXP_BACKENDS backends. */
static int exp_config(struct exp *e, bool ipfix, unsigned int active_timeout_s)
{
	FILE *f = fopen(e->conf, "w");

	if (!f)
		return -1;
	fprintf(f,
		"pid_file: %s\npin_path: %s\nlog_level: info\n"
		"tables: {flow_table_size: 262144, lb_max_services: 128, lb_max_backends: 2048, "
		"lb_table_size: 4099}\n"
		"housekeeping: {flow_idle_timeout_ms: 60000, stats_report_interval_ms: 1000}\n"
		"metrics: {listen: 127.0.0.1:%d}\ninterfaces:\n",
		e->pid_file, e->pin, EXP_METRICS);
	for (int i = 0; i < EXP_IFACES; i++)
		fprintf(f, "  ex%ds: {mode: monitor}\n", i);
	fprintf(f, "services:\n");
	for (int v = 0; v < EXP_VIPS; v++) {
		fprintf(f, "  - vip: 198.18.100.%d:80/tcp\n    backends:\n", v + 1);
		for (int b = 0; b < EXP_BACKENDS; b++)
			fprintf(f, "      - 198.19.%d.%d\n", v + 1, b + 1);
	}
	if (ipfix)
		fprintf(f, "ipfix: {collector: 127.0.0.1:%d, active_timeout_s: %u}\n", EXP_IPFIX,
			active_timeout_s);
	return fclose(f);
}

static bool exp_log_has(struct exp *e, const char *what)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(e->log, "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* The daemon binary of this tree, in the bench's network namespace, until it says it runs. */
static const char *exp_daemon_start(struct exp *e)
{
	e->daemon = fork();
	if (e->daemon < 0)
		return "fork failed";
	if (e->daemon == 0) {
		int fd = open(e->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("./netprobe", "netprobe", "daemon", "--config", e->conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1800 && !stopping; i++) {
		if (exp_log_has(e, "running: "))
			return NULL;
		if (waitpid(e->daemon, NULL, WNOHANG) == e->daemon) {
			e->daemon = 0;
			return "the daemon did not start (its log says why)";
		}
		usleep(100000);
	}
	return "the daemon did not say it runs within 3 min";
}

static void exp_daemon_stop(struct exp *e)
{
	if (e->daemon <= 0)
		return;
	kill(e->daemon, SIGTERM);
	waitpid(e->daemon, NULL, 0);
	e->daemon = 0;
}

/* Every flow gets one more packet: made the first time, kept live after. */
static int exp_flows_touch(struct exp *e)
{
	for (int i = 0; i < EXP_FLOWS; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = e->frames[i],
			    .data_size_in = e->lens[i], .repeat = 1);

		if (bpf_prog_test_run_opts(e->prog_fd, &o))
			return -errno;
	}
	return 0;
}

/* One HTTP GET on loopback: its time in ms, its body's size and lines (0 ms: failed). */
static double exp_get(const char *path, size_t *bytes, size_t *lines)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(EXP_METRICS),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static char buf[1 << 16];
	char req[128];
	double t0 = now_s();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	*bytes = *lines = 0;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		*bytes += n;
		for (ssize_t i = 0; i < n; i++)
			*lines += buf[i] == '\n';
	}
	close(fd);
	return (now_s() - t0) * 1e3;
}

/* The daemon's CPU time so far (user + system), in seconds. */
static double exp_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return NAN;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* After the command's name: state, then fields 4-13, then utime and stime. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			 &stime) != 2)
		return NAN;
	return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

/*
 * The daemon's CPU over window_s, after warm_s, with every flow given a
 * packet each 5 s (by this process: its cost is not the daemon's).
 */
static double exp_cpu_share(struct exp *e, double warm_s, double window_s)
{
	double start = now_s(), t0 = 0, cpu0 = 0, next_touch = 0;

	while (!stopping) {
		double now = now_s();

		if (now >= next_touch) {
			exp_flows_touch(e);
			next_touch = now + 5;
		}
		if (!t0 && now - start >= warm_s) {
			t0 = now;
			cpu0 = exp_cpu_s(e->daemon);
		}
		if (t0 && now - t0 >= window_s)
			return (exp_cpu_s(e->daemon) - cpu0) / (now - t0);
		usleep(100000);
	}
	return NAN;
}

static int exp_count_flow(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *s,
			  void *ctx)
{
	(void)k;
	(void)s;
	(*(unsigned long long *)ctx)++;
	return 0;
}

/*
 * IPFIX export in this process, as the daemon does it: housekeeping's walk
 * of the flow table (netprobe_manager_expire_flows, with a timeout nothing
 * reaches) hands each flow to the exporter, which encodes the due ones and
 * sends them; records a second. The baseline: the same walk, nothing on it.
 */
static void exp_export_rate(struct report *r, struct exp *e, bool quick)
{
	/* Active timeout 0: every flow with something new is due at each walk. */
	struct daemon_ipfix_opts opts = {
		.enabled = true, .template_refresh_s = 3600, .active_timeout_s = 0};
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	struct ipfix *x = NULL;
	struct ipfix_stats before, after;
	int rounds = quick ? 3 : 7;
	double read_s[7], export_s[7];
	unsigned long long msgs0 = e->sink_msgs, flows = 0, records = 0;

	snprintf(opts.collector, sizeof(opts.collector), "127.0.0.1:%d", EXP_IPFIX);
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", e->pin);
	m = netprobe_manager_new(&cfg);
	if (!m || netprobe_manager_load(m) || !(x = ipfix_start(&opts, m))) {
		row(r, "| IPFIX export | could not open the state or start the exporter | |");
		goto out;
	}
	for (int i = 0; i < rounds && !stopping; i++) {
		double t0;

		flows = 0;
		t0 = now_s();
		netprobe_manager_foreach_flow(m, exp_count_flow, &flows);
		read_s[i] = now_s() - t0;
		/* A packet more for each: every flow has a delta to send. */
		exp_flows_touch(e);
		ipfix_stats(x, &before);
		t0 = now_s();
		netprobe_manager_expire_flows(m, UINT_MAX);
		ipfix_tick(x); /* what the walk left in the queue */
		export_s[i] = now_s() - t0;
		ipfix_stats(x, &after);
		records = after.records - before.records;
		/* Every flow given a packet, once (the veths' own chatter made a few more). */
		if (records < EXP_FLOWS || records > flows || after.conn.lost) {
			row(r, "| IPFIX export | %llu records for %llu flows, %llu lost | |",
			    records, flows, after.conn.lost);
			goto out;
		}
	}
	usleep(200000);
	double ex = median(export_s, rounds), rd = median(read_s, rounds);

	row(r,
	    "| IPFIX export, %llu records from a table of %llu flows: read, encoded and sent over "
	    "UDP to a collector on loopback (median of %d) | %.2f M records/s (%.0f ms; the "
	    "collector got %llu datagrams); reading the flow table alone %.2f M flows/s | "
	    "**%.2f M/s** (target >= 1 M/s); export / read = %.2f |",
	    records, flows, rounds, records / ex / 1e6, ex * 1e3, e->sink_msgs - msgs0,
	    flows / rd / 1e6, records / ex / 1e6, ex / rd);
out:
	ipfix_stop(x, false, NULL);
	netprobe_manager_free(m);
}

/* The EXP_IFACES veth pairs, made or removed in one go. */
static int exp_veths(bool add)
{
	FILE *ip = popen("ip -batch - 2>/dev/null", "w");

	for (int i = 0; ip && i < EXP_IFACES; i++) {
		if (add)
			fprintf(ip,
				"link add ex%dg type veth peer name ex%ds\nlink set ex%dg up\n"
				"link set ex%ds up\n",
				i, i, i, i);
		else
			fprintf(ip, "link del ex%dg\n", i);
	}
	/* The backends' network, connected: a backend must have a route to be added. */
	if (ip && add)
		fprintf(ip, "addr add 198.19.0.1/16 dev ex0g\n");
	return ip && pclose(ip) == 0 ? 0 : -1;
}

/* What the daemon's /metrics says of the flow table (-1: nothing). */
static long exp_flows_scraped(void)
{
	char line[256];
	long flows = -1;
	FILE *p = popen("curl -sf http://127.0.0.1:9479/metrics", "r");

	while (p && fgets(line, sizeof(line), p))
		if (!strncmp(line, "netprobe_flow_table_entries ", 28))
			flows = atol(line + 28);
	if (p)
		pclose(p);
	return flows;
}

/*
 * The series of one scrape, by what they are of: those with the label of
 * one interface (ex0s), of one VIP alone, of one backend; the rest is the
 * host's own. What a fleet's Prometheus stores per host follows from them.
 */
struct exp_series {
	long all, per_iface, per_vip, per_backend;
};

static void exp_count_series(struct exp_series *out)
{
	char line[1024];
	FILE *p = popen("curl -sf http://127.0.0.1:9479/metrics", "r");

	*out = (struct exp_series){};
	while (p && fgets(line, sizeof(line), p)) {
		if (line[0] == '#')
			continue;
		out->all++;
		out->per_iface += strstr(line, "interface=\"ex0s\"") != NULL;
		if (strstr(line, "backend=\"198.19.1.1\""))
			out->per_backend++;
		else if (strstr(line, "vip=\"198.18.100.1:80/tcp\"") && !strstr(line, "backend="))
			out->per_vip++;
	}
	if (p)
		pclose(p);
}

/* Kernel memory of the maps pinned at pin (their memlock, as the kernel counts it), bytes. */
static unsigned long long exp_map_memory(const char *pin)
{
	char path[PATH_MAX], fdinfo[64], line[256];
	unsigned long long total = 0, memlock;
	struct dirent *de;
	DIR *d = opendir(pin);

	while (d && (de = readdir(d))) {
		int fd;
		FILE *f;

		if (strncmp(de->d_name, "np_", 3))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		snprintf(fdinfo, sizeof(fdinfo), "/proc/self/fdinfo/%d", fd);
		f = fopen(fdinfo, "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "memlock: %llu", &memlock) == 1)
				total += memlock;
		if (f)
			fclose(f);
		close(fd);
	}
	if (d)
		closedir(d);
	return total;
}

/*
 * The daemon's resident memory of its own, bytes: all of it (smaps' Rss) but
 * the maps it has mapped (anon_inode:bpf-map), which are the kernel's pages
 * of the maps, counted with them.
 */
static unsigned long long exp_rss(pid_t pid)
{
	char path[64], line[512];
	unsigned long long kb, total = 0;
	bool map = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		/* A mapping's first line starts with its range: "7f12a000-7f12e000 rw-s ..." */
		if (strcspn(line, "-") < strcspn(line, " :"))
			map = strstr(line, "anon_inode:bpf-map") != NULL;
		else if (!map && sscanf(line, "Rss: %llu kB", &kb) == 1)
			total += kb;
	}
	if (f)
		fclose(f);
	return total * 1024;
}

static void bench_exporters(struct report *r, bool quick)
{
	struct exp e = {.prog_fd = -1, .sink_fd = -1};
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(EXP_IPFIX),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const char *err = NULL;
	char cmd[256], link[160];
	double health[20], cached[20], walk[3], off, on;
	size_t bytes = 0, lines = 0, b2, l2;
	unsigned long long msgs0;
	int n = quick ? 5 : 20;

	snprintf(e.dir, sizeof(e.dir), "/tmp/np-bench-exp-%d", getpid());
	snprintf(e.pin, sizeof(e.pin), "/sys/fs/bpf/np-bench-exp-%d", getpid());
	snprintf(e.conf, sizeof(e.conf), "%s/netprobe.yaml", e.dir);
	snprintf(e.log, sizeof(e.log), "%s/daemon.log", e.dir);
	snprintf(e.pid_file, sizeof(e.pid_file), "/run/netprobe/np-bench-%d.pid", getpid());
	dlog_setup(NETPROBE_LOG_WARN);
	if (mkdir(e.dir, 0700) || access("./netprobe", X_OK)) {
		err = "no ./netprobe to run (make bench builds it) or no temporary directory";
		goto out;
	}
	if (exp_veths(true)) {
		err = "could not create the veth pairs";
		goto out;
	}
	/* The frames of the flows: 100,000 sources and ports. */
	e.frames = calloc(EXP_FLOWS, sizeof(*e.frames));
	e.lens = calloc(EXP_FLOWS, sizeof(*e.lens));
	for (int i = 0; e.frames && e.lens && i < EXP_FLOWS; i++) {
		char src[32];
		struct pkt_spec s = bench_frame;

		snprintf(src, sizeof(src), "10.%d.%d.%d", (i >> 16) & 0xff, (i >> 8) & 0xff,
			 i & 0xff);
		s.src = src;
		s.sport = 1024 + i % 50000;
		e.lens[i] = pkt_build(&s, e.frames[i], PKT_MAX);
	}
	if (!e.frames || !e.lens || exp_config(&e, false, 0)) {
		err = "out of memory, or the config could not be written";
		goto out;
	}
	err = exp_daemon_start(&e);
	if (err)
		goto out;
	snprintf(link, sizeof(link), "%s/links/slot0_xdp", e.pin);
	e.prog_fd = link_prog_fd(link);
	if (e.prog_fd < 0 || exp_flows_touch(&e)) {
		err = "could not run the daemon's XDP program to make the flows";
		goto out;
	}

	/* /metrics: back to back, then 3 more 5 s apart (past any cache of the scrape's own). */
	for (int i = 0; i < n; i++) {
		health[i] = exp_get("/-/healthy", &b2, &l2);
		cached[i] = exp_get("/metrics", &bytes, &lines);
	}
	for (int i = 0; i < 3 && !stopping; i++) {
		usleep(5200000);
		walk[i] = exp_get("/metrics", &b2, &l2);
	}
	/* The scrapes counted what was made (and what the veths' own IPv6 chatter made). */
	if (exp_flows_scraped() < EXP_FLOWS) {
		err = "the flow table does not hold the flows made";
		goto out;
	}
	double worst = fmax(fmax(walk[0], walk[1]), walk[2]);

	for (int i = 0; i < n; i++)
		worst = fmax(worst, cached[i]);

	row(r,
	    "| /metrics scrape, %d interfaces, %d VIPs x %d backends, %d flows (median of %d back "
	    "to back; 3 more, 5 s apart) | %.1f ms (%zu kB, %zu lines); the slowest of all "
	    "%.1f ms; /-/healthy %.2f ms | **%.1f ms** worst (target <= 50 ms); scrape / healthy "
	    "= %.0f |",
	    EXP_IFACES, EXP_VIPS, EXP_BACKENDS, EXP_FLOWS, n, median(cached, n), bytes / 1024,
	    lines, worst, median(health, n), worst, median(cached, n) / median(health, n));

	struct exp_series ser;

	exp_count_series(&ser);
	row(r,
	    "| series in one scrape, %d interfaces, %d VIPs x %d backends | %ld in all: %ld for "
	    "each interface, %ld for each VIP, %ld for each backend, %ld for the host | a host "
	    "with 2 interfaces and no services: **%ld** |",
	    EXP_IFACES, EXP_VIPS, EXP_BACKENDS, ser.all, ser.per_iface, ser.per_vip,
	    ser.per_backend,
	    ser.all - EXP_IFACES * ser.per_iface - EXP_VIPS * ser.per_vip -
		    EXP_VIPS * EXP_BACKENDS * ser.per_backend,
	    ser.all - (EXP_IFACES - 2) * ser.per_iface - EXP_VIPS * ser.per_vip -
		    EXP_VIPS * EXP_BACKENDS * ser.per_backend);
	unsigned long long rss = exp_rss(e.daemon), maps = exp_map_memory(e.pin);

	row(r,
	    "| daemon memory, %d flows in a table of 262144, %d interfaces, %d VIPs x %d "
	    "backends | the daemon's own resident memory %.1f MB; the pinned maps %.1f MB "
	    "(kernel memory, charged to the cgroup that made them; the daemon maps some of them, "
	    "counted here only) | **%.1f MB** in all |",
	    EXP_FLOWS, EXP_IFACES, EXP_VIPS, EXP_BACKENDS, rss / 1e6, maps / 1e6,
	    (rss + maps) / 1e6);

	/* CPU at steady state: without IPFIX, then with it (a reload starts the exporter). */
	e.sink_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (e.sink_fd < 0 || bind(e.sink_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    pthread_create(&e.sink, NULL, exp_sink, &e)) {
		err = "could not open the collector's socket";
		goto out;
	}
	e.sink_running = true;
	unsigned int timeout = quick ? 10 : 60;
	double warm = quick ? 5 : 30;

	off = exp_cpu_share(&e, 5, timeout);
	if (exp_config(&e, true, timeout) || kill(e.daemon, SIGHUP)) {
		err = "could not reload the daemon with IPFIX on";
		goto out;
	}
	msgs0 = e.sink_msgs;
	on = exp_cpu_share(&e, warm, timeout);
	row(r,
	    "| daemon CPU at steady state, %d live flows (a packet each every 5 s), IPFIX active "
	    "timeout %u s, a report every 1 s (%u s after %.0f s) | IPFIX on %.2f %% of a core "
	    "(the "
	    "collector got %llu datagrams, %.1f MB); IPFIX off %.2f %% | **%.2f %%** (target <= 2 "
	    "%%); on / off = %.1f |",
	    EXP_FLOWS, timeout, timeout, warm, on * 100, e.sink_msgs - msgs0,
	    e.sink_bytes / 1048576.0, off * 100, on * 100, on / off);
	exp_daemon_stop(&e);
	exp_export_rate(r, &e, quick);
out:
	if (err) {
		row(r, "| exporters | %s | |", err);
		snprintf(cmd, sizeof(cmd), "tail -5 %s >&2", e.log);
		system(cmd);
	}
	exp_daemon_stop(&e);
	if (e.sink_running) {
		shutdown(e.sink_fd, SHUT_RDWR);
		pthread_join(e.sink, NULL);
	}
	if (e.sink_fd >= 0)
		close(e.sink_fd);
	if (e.prog_fd >= 0)
		close(e.prog_fd);
	rm_tree(e.pin);
	exp_veths(false);
	snprintf(cmd, sizeof(cmd), "rm -rf %s /run/netprobe/np-bench-%d.*", e.dir, getpid());
	system(cmd);
	free(e.frames);
	free(e.lens);
}

/* In report order; `np-bench run NAME...` runs only those named (for work on one of them). */
static const struct {
	const char *name;
	void (*run)(struct report *r, bool quick);
} benches[] = {
	{"monitor", bench_prog_run},	{"live", bench_live},
	{"filter", bench_filter},	{"memory", bench_flow_memory_q},
	{"events", bench_events},	{"lb", bench_lb},
	{"maglev", bench_maglev_q},	{"lists", bench_list_batches},
	{"exporters", bench_exporters},
};

static bool bench_named(const char *name, int argc, char **argv)
{
	int named = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			continue;
		named++;
		if (!strcmp(argv[i], name))
			return true;
	}
	return !named;
}

static int cmd_run(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct report r = {};
	bool quick = false;

	for (int i = 1; i < argc; i++) {
		size_t k = 0;

		quick |= !strcmp(argv[i], "--quick");
		while (k < sizeof(benches) / sizeof(benches[0]) && strcmp(argv[i], benches[k].name))
			k++;
		if (strcmp(argv[i], "--quick") && k == sizeof(benches) / sizeof(benches[0]))
			return die(
				"run: unknown benchmark %s (monitor, live, filter, memory, events, "
				"lb, maglev, lists, exporters)",
				argv[i]);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed stdout must not skip the cleanup either */
	if (unshare(CLONE_NEWNET)) {
		perror("np-bench: unshare(CLONE_NEWNET)");
		return 1;
	}
	/* A private network namespace: the veth pair vanishes with us, whatever happens. */
	system("ip link set lo up");
	row(&r, "| benchmark | measured | ratio |");
	row(&r, "|---|---|---|");
	for (size_t k = 0; k < sizeof(benches) / sizeof(benches[0]) && !stopping; k++)
		if (bench_named(benches[k].name, argc, argv))
			benches[k].run(&r, quick);
	return stopping ? 1 : 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(NULL);
	if (argc >= 2 && !strcmp(argv[1], "send"))
		return cmd_send(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	fprintf(stderr,
		"usage: np-bench send IFACE [options] | np-bench run [--quick] [NAME...]\n");
	return 2;
}
