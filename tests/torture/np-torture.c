// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * np-torture: runs netprobe's real programs, attached by the library as an
 * operator would attach them, on random and mutated frames (gen.h) with
 * BPF_PROG_RUN, in every mode: monitor, filter (lists, every detection and
 * mitigation on), lb (services with routed and unrouted backends) and decap
 * (the filter again, unwrapping tunnels). Each frame goes through the XDP
 * program and both TC programs.
 *
 * What must hold, checked at the end of each mode:
 *  - no run fails, and no program returns XDP_ABORTED or a verdict it has
 *    no name for;
 *  - every frame is counted once: packets and bytes are what was sent, and
 *    IPv4 + IPv6 + other L3 + malformed = frames, the malformed reasons sum
 *    to malformed, and the L4 counters sum to IPv4 + IPv6 (each hook);
 *  - the XDP verdict counters are the verdicts the runs returned;
 *  - mode identities: the filter's drops are its deny, block and malformed
 *    drops; every forwarded lb frame left by XDP_TX or a redirect.
 *
 * With --diff N, the first N frames of monitor mode are also read back one
 * by one (the counter that moved, the flow the frame made) and written to a
 * pcap, and Wireshark's dissector (tshark) reads them: for every frame
 * netprobe parsed as IP, family, protocol, addresses and ports must agree.
 *
 * Runs in a network namespace of its own, which goes with it; its pin path
 * is removed at the end. Prints one TSV line per mode; exits 1 if anything
 * did not hold.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netprobe/netprobe.h>
#include "attach/attach.h" /* NP_TC_HANDLE: how netprobe names its clsact filters */
#include "gen.h"

#define IF_DUT	       "npt0"
#define IF_PEER	       "npt1"
#define TC_ACT_UNSPEC_ (-1)

static char pin_path[128];
static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("np-torture: FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	failures++;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) { // NOLINT(cert-env33-c): the lab is built with ip(8)
		fprintf(stderr, "np-torture: command failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static void on_log(enum netprobe_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= NETPROBE_LOG_WARN || getenv("NP_TORTURE_DEBUG"))
		fprintf(stderr, "netprobe: %s\n", msg);
}

/* ---- The lab ------------------------------------------------------------- */

/*
 * Addresses of the lab. The DUT is 10.9.0.1 and fd00:9::1 on its veth; the
 * backends sit on that segment, some with a neighbour entry (the frame is
 * sent by XDP) and some without (handed to TC).
 */
static const char *const deny_list[] = {"198.51.100.0/24", "203.0.113.7", "2001:db8:bad::/48",
					"100.64.9.0/28"};
static const char *const allow_list[] = {"192.0.2.0/28", "2001:db8:900d::/48"};
static const char *const services[] = {"10.200.0.1:80/tcp", "10.200.0.1:53/udp",
				       "[fd00:200::1]:80/tcp", "[fd00:200::1]:53/udp"};
static const struct {
	const char *addr;
	int family;
	enum netprobe_lb_forward forward;
	bool neigh;
} backends[] = {
	{"10.9.0.2", 4, NETPROBE_LB_FORWARD_IPIP, true},
	{"10.9.0.3", 4, NETPROBE_LB_FORWARD_IPIP, false},
	{"10.9.0.4", 4, NETPROBE_LB_FORWARD_L2, true},
	{"fd00:9::2", 6, NETPROBE_LB_FORWARD_IPIP, true},
	{"fd00:9::3", 6, NETPROBE_LB_FORWARD_L2, false},
};

static const char *const sources4[] = {
	"198.51.100.9", "203.0.113.7", "100.64.9.3", "192.0.2.5",	"100.64.0.1",  "100.64.0.2",
	"100.64.0.3",	"100.64.0.4",  "10.250.0.1", "10.250.0.2",	"10.9.0.1",    "10.9.0.2",
	"0.0.0.0",	"127.0.0.1",   "224.0.0.1",  "255.255.255.255", "169.254.1.1", "10.9.0.77",
};
static const char *const sources6[] = {
	"2001:db8:bad::1",
	"2001:db8:900d::1",
	"2001:db8:a77::1",
	"2001:db8:a77::2",
	"2001:db8:a78::1",
	"fd00:250::1",
	"fd00:9::1",
	"::",
	"::1",
	"fe80::1",
	"ff02::1",
	"::ffff:198.51.100.9",
	"::ffff:10.9.0.2",
	"2001:db8:c0::5",
};
static const char *const dests4[] = {"10.200.0.1", "10.9.0.1", "10.9.0.2", "198.51.100.1",
				     "10.0.0.1"};
static const char *const dests6[] = {"fd00:200::1", "fd00:9::1", "fd00:9::2", "2001:db8::1"};
/*
 * lb: mostly the services, which also stand as sources (what an ICMP error
 * quotes is the service's answer); decap: mostly tunnels between the load
 * balancers and this host.
 */
static const char *const lb_sources4[] = {"10.200.0.1", "10.200.0.1", "100.64.0.1", "100.64.0.2",
					  "192.0.2.5",	"10.9.0.2",   "127.0.0.1",  "224.0.0.1"};
static const char *const lb_sources6[] = {"fd00:200::1",    "fd00:200::1", "2001:db8:a77::1",
					  "2001:db8:c0::5", "fd00:9::2",   "::1"};
static const char *const lb_dests4[] = {"10.200.0.1", "10.200.0.1", "10.200.0.1", "10.9.0.1",
					"100.64.0.1"};
static const char *const lb_dests6[] = {"fd00:200::1", "fd00:200::1", "fd00:200::1", "fd00:9::1",
					"2001:db8:a77::1"};
static const char *const decap_sources4[] = {"10.250.0.1",   "10.250.0.2", "10.250.0.1",
					     "198.51.100.9", "100.64.0.1", "192.0.2.5"};
static const char *const decap_sources6[] = {"fd00:250::1", "fd00:250::2", "fd00:250::1",
					     "2001:db8:bad::1", "2001:db8:a77::1"};
static const char *const decap_dests4[] = {"10.9.0.1", "10.9.0.1", "10.9.0.5", "10.0.0.1"};
static const char *const decap_dests6[] = {"fd00:9::1", "fd00:9::1", "fd00:9::5", "2001:db8::1"};

#define POOL(v4, v6)                                                                               \
	{                                                                                          \
		v4, sizeof(v4) / sizeof(v4[0]), v6, sizeof(v6) / sizeof(v6[0])                     \
	}
static const uint16_t ports[] = {80, 53, 443, 22, 123, 33434};

static int lab_up(void)
{
	if (unshare(CLONE_NEWNET)) {
		perror("np-torture: unshare(CLONE_NEWNET)");
		return -1;
	}
	if (sh("ip link set lo up && ip link add %s address 02:00:00:00:09:01 type veth peer name "
	       "%s "
	       "address 02:00:00:00:09:ff",
	       IF_DUT, IF_PEER) ||
	    sh("ip addr add 10.9.0.1/24 dev %s && ip addr add fd00:9::1/64 dev %s nodad", IF_DUT,
	       IF_DUT) ||
	    /* The peer sends nothing of its own (IPv6 solicitations, MLD) into the counts. */
	    sh("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", IF_PEER) ||
	    sh("ip link set %s up && ip link set %s up", IF_DUT, IF_PEER) ||
	    sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"))
		return -1;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i].neigh &&
		    sh("ip %s neigh replace %s lladdr 02:00:00:00:09:%02zx dev %s nud permanent",
		       backends[i].family == 6 ? "-6" : "", backends[i].addr, i + 2, IF_DUT))
			return -1;
	snprintf(pin_path, sizeof(pin_path), "/sys/fs/bpf/np-torture-%d", getpid());
	return 0;
}

/* ---- A mode -------------------------------------------------------------- */

enum mode { MODE_MONITOR, MODE_FILTER, MODE_LB, MODE_DECAP, MODE_MAX };
static const char *const mode_names[] = {"monitor", "filter", "lb", "decap"};

static void mode_config(enum mode mode, struct netprobe_config *cfg)
{
	netprobe_config_default(cfg);
	snprintf(cfg->pin_path, sizeof(cfg->pin_path), "%s", pin_path);
	cfg->stats_report_interval_ms = 0;
	cfg->flow_idle_timeout_ms = 0;
	cfg->tc_attach_mode = NETPROBE_TC_ATTACH_AUTO;
	/* Events on, and nobody reading them: the ring buffer fills, and losses are counted. */
	cfg->enable_xdp_events = cfg->enable_tc_events = cfg->enable_detailed_events = true;
	cfg->enable_security_alerts = true;
	cfg->ring_buffer_size = 64 * 1024;
	cfg->xdp_mode = mode == MODE_LB	       ? NETPROBE_XDP_LB
			: mode == MODE_MONITOR ? NETPROBE_XDP_MONITOR
					       : NETPROBE_XDP_FILTER;
	if (mode == MODE_FILTER || mode == MODE_DECAP) {
		/* Every detection, at thresholds the frame mix passes, and mitigation on any evidence. */
		for (unsigned int i = 0; netprobe_config_detection_name(i); i++) {
			const char *name = netprobe_config_detection_name(i);
			struct netprobe_detection *d =
				netprobe_config_detection(cfg, name, strlen(name));

			d->enabled = true;
			/* The rate anomaly's threshold is a percentage of the rate it learned. */
			d->threshold = !strcmp(name, "port_scan")      ? 8
				       : !strcmp(name, "rate_anomaly") ? 200
								       : 40;
			d->window_ms = 1000;
		}
		cfg->port_scan_hosts = 8;
		cfg->rate_anomaly_floor_pps = 100;
		cfg->rate_anomaly_learn_windows = 1;
		cfg->mitigation = true;
		cfg->mitigation_unproven = true;
		cfg->mitigation_ttl_s = 3600;
		cfg->mitigation_max_blocks = 16; /* small: the pool fills, blocks give way */
		cfg->security_alerts_per_sec = 50;
	}
	if (mode == MODE_DECAP) {
		cfg->decap = true;
		netprobe_cidr_parse("10.250.0.0/24", &cfg->decap_from[0]);
		netprobe_cidr_parse("fd00:250::/64", &cfg->decap_from[1]);
		cfg->decap_from_count = 2;
		netprobe_cidr_parse("10.9.0.0/24", &cfg->decap_to[0]);
		netprobe_cidr_parse("fd00:9::/64", &cfg->decap_to[1]);
		cfg->decap_to_count = 2;
	}
	if (mode == MODE_LB)
		cfg->lb_conn_table_size = 4096; /* small: the LRU turns over */
}

/* Lists in filter modes, services in lb: what the operator would have set. */
static int mode_state(enum mode mode, struct netprobe_manager *m)
{
	int err = 0;

	if (mode == MODE_FILTER || mode == MODE_DECAP) {
		for (size_t i = 0; !err && i < sizeof(deny_list) / sizeof(deny_list[0]); i++)
			err = netprobe_blacklist_add(m, deny_list[i], 0);
		for (size_t i = 0; !err && i < sizeof(allow_list) / sizeof(allow_list[0]); i++)
			err = netprobe_allowlist_add(m, allow_list[i], 0);
	}
	if (mode != MODE_LB)
		return err;
	for (size_t s = 0; !err && s < sizeof(services) / sizeof(services[0]); s++) {
		int family = strchr(services[s], '[') ? 6 : 4;

		err = netprobe_lb_service_add(m, services[s]);
		for (size_t b = 0; !err && b < sizeof(backends) / sizeof(backends[0]); b++) {
			struct netprobe_lb_backend_opts o = {
				.sz = sizeof(o), .weight = 1 + b, .forward = backends[b].forward};

			if (backends[b].family == family)
				err = netprobe_lb_backend_add(m, services[s], backends[b].addr, &o);
		}
	}
	return err;
}

/* The program behind one of netprobe's pinned links, or behind its clsact filter. */
static int link_prog(unsigned int slot, const char *link)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[256];
	int fd, prog;

	snprintf(path, sizeof(path), "%s/links/slot%u_%s", pin_path, slot, link);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	prog = bpf_obj_get_info_by_fd(fd, &info, &len) ? -1 : bpf_prog_get_fd_by_id(info.prog_id);
	close(fd);
	return prog;
}

static int tc_prog(const struct netprobe_iface *it, bool egress)
{
	if (it->tc_attach == NETPROBE_TC_TCX)
		return link_prog(it->slot, egress ? "tcx_egress" : "tcx_ingress");
	/* clsact (before 6.6): netprobe's filter, at the priority the kernel gave it. */
	for (__u32 prio = 0xc000; prio > 0xc000 - 64; prio--) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = it->ifindex,
			    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NP_TC_HANDLE, .priority = prio);

		if (bpf_tc_query(&hook, &opts) == 0)
			return bpf_prog_get_fd_by_id(opts.prog_id);
	}
	return -1;
}

struct tally {
	unsigned long long frames, bytes, run_errors;
	unsigned long long xdp[NETPROBE_XDP_ACTIONS], xdp_other;
	unsigned long long tc_bad; /* a TC verdict other than UNSPEC, OK, SHOT, REDIRECT */
	unsigned long long tc_frames, tc_bytes; /* what the TC programs ran on */
	/* What the kernel itself sent and received on the interface meanwhile (IPv6 MLD, ...). */
	unsigned long long own_rx, own_rx_bytes, own_tx, own_tx_bytes;
	unsigned long long diff_frames, diff_ip, diff_mismatch, diff_disturbed;
	unsigned long long diff_refused;	  /* malformed to netprobe, read whole by tshark */
	unsigned long long diff_refusals_checked; /* malformed frames tshark read to their L4 */
	double seconds;
	char reached[512]; /* what the mode's features did with the frames */
};

static int run_xdp(int prog, int ifindex, const uint8_t *f, size_t len, struct tally *t)
{
	static uint8_t out[GEN_FRAME_MAX + 256];
	struct xdp_md ctx = {.data_end = (__u32)len, .ingress_ifindex = (__u32)ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(prog, &opts)) {
		if (t->run_errors++ < 5)
			fail("XDP run of a %zu-byte frame: %s", len, strerror(errno));
		return -1;
	}
	if (opts.retval < NETPROBE_XDP_ACTIONS)
		t->xdp[opts.retval]++;
	else
		t->xdp_other++;
	return (int)opts.retval;
}

/*
 * BPF_PROG_RUN refuses an skb whose ethertype is IPv4 or IPv6 and that is
 * shorter than that header (it pulls the header in). On an interface such a
 * frame reaches TC all the same; here it goes to XDP alone.
 */
static bool tc_runnable(const uint8_t *f, size_t len)
{
	uint16_t type = (uint16_t)(f[12] << 8 | f[13]);

	if (type == 0x0800)
		return len >= 14 + 20;
	if (type == 0x86dd)
		return len >= 14 + 40;
	return true;
}

static void run_tc(int prog, const uint8_t *f, size_t len, struct tally *t)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f, .data_size_in = (__u32)len, .repeat = 1);
	int rc;

	if (bpf_prog_test_run_opts(prog, &opts)) {
		if (t->run_errors++ < 5)
			fail("TC run of a %zu-byte frame (ethertype %02x%02x): %s", len, f[12],
			     f[13], strerror(errno));
		return;
	}
	rc = (int)opts.retval;
	if (rc != TC_ACT_UNSPEC_ && rc != TC_ACT_OK && rc != TC_ACT_SHOT && rc != TC_ACT_REDIRECT)
		t->tc_bad++;
}

/* Each hook counted each frame once, by family or as malformed with a reason. */
static void check_hook(const char *mode, const char *hook, const struct netprobe_hook_counters *h,
		       unsigned long long frames, unsigned long long bytes)
{
	const __u64 *v = h->v;
	unsigned long long reasons = 0;
	unsigned long long l3 = v[NETPROBE_HC_IPV4_PACKETS] + v[NETPROBE_HC_IPV6_PACKETS];
	unsigned long long l4 = v[NETPROBE_HC_TCP_PACKETS] + v[NETPROBE_HC_UDP_PACKETS] +
				v[NETPROBE_HC_ICMP_PACKETS] + v[NETPROBE_HC_ICMPV6_PACKETS] +
				v[NETPROBE_HC_OTHER_L4_PACKETS];

	for (int r = 0; r < NETPROBE_MALFORMED_MAX - 1; r++)
		reasons += h->malformed[r];
	if (v[NETPROBE_HC_PACKETS] != frames)
		fail("%s %s: %llu packets counted, %llu frames sent", mode, hook,
		     (unsigned long long)v[NETPROBE_HC_PACKETS], frames);
	if (v[NETPROBE_HC_BYTES] != bytes)
		fail("%s %s: %llu bytes counted, %llu sent", mode, hook,
		     (unsigned long long)v[NETPROBE_HC_BYTES], bytes);
	if (l3 + v[NETPROBE_HC_OTHER_L3_PACKETS] + v[NETPROBE_HC_MALFORMED] != frames)
		fail("%s %s: IPv4 + IPv6 + other + malformed = %llu, frames %llu", mode, hook,
		     l3 + v[NETPROBE_HC_OTHER_L3_PACKETS] + v[NETPROBE_HC_MALFORMED], frames);
	if (reasons != v[NETPROBE_HC_MALFORMED])
		fail("%s %s: malformed reasons sum to %llu, malformed %llu", mode, hook, reasons,
		     (unsigned long long)v[NETPROBE_HC_MALFORMED]);
	if (l4 != l3)
		fail("%s %s: L4 counters sum to %llu, IPv4 + IPv6 %llu", mode, hook, l4, l3);
}

static void check_mode(enum mode mode, const struct netprobe_counters *c, const struct tally *t,
		       bool tc)
{
	const char *name = mode_names[mode];
	unsigned long long verdicts = 0;

	if (t->xdp[XDP_ABORTED])
		fail("%s: %llu frames got XDP_ABORTED", name, t->xdp[XDP_ABORTED]);
	if (t->xdp_other)
		fail("%s: %llu verdicts past XDP_REDIRECT", name, t->xdp_other);
	if (t->tc_bad)
		fail("%s: %llu TC verdicts not UNSPEC, OK, SHOT or REDIRECT", name, t->tc_bad);
	/*
	 * The interface's own frames went through the programs too: a frame the
	 * kernel received passed XDP and TC ingress (netprobe passes what the
	 * lab sends: no list or service matches it), one it sent, TC egress.
	 */
	check_hook(name, "xdp", &c->hook[NETPROBE_HOOK_XDP], t->frames + t->own_rx,
		   t->bytes + t->own_rx_bytes);
	if (tc) {
		check_hook(name, "tc ingress", &c->hook[NETPROBE_HOOK_TC_INGRESS],
			   t->tc_frames + t->own_rx, t->tc_bytes + t->own_rx_bytes);
		check_hook(name, "tc egress", &c->hook[NETPROBE_HOOK_TC_EGRESS],
			   t->tc_frames + t->own_tx, t->tc_bytes + t->own_tx_bytes);
	}
	for (int a = 0; a < NETPROBE_XDP_ACTIONS; a++) {
		unsigned long long want = t->xdp[a] + (a == XDP_PASS ? t->own_rx : 0);

		verdicts += c->xdp_action[a];
		if (c->xdp_action[a] != want)
			fail("%s: xdp_action[%d] counted %llu, returned %llu", name, a,
			     (unsigned long long)c->xdp_action[a], want);
	}
	if (verdicts != t->frames + t->own_rx)
		fail("%s: verdict counters sum to %llu, frames %llu", name, verdicts,
		     t->frames + t->own_rx);
	if (mode == MODE_FILTER || mode == MODE_DECAP) {
		unsigned long long drops = c->filter[NETPROBE_FC_DENY_DROPS] +
					   c->filter[NETPROBE_FC_BLOCK_DROPS] +
					   c->filter[NETPROBE_FC_MALFORMED_DROPS];

		if (drops != c->xdp_action[XDP_DROP])
			fail("%s: deny + block + malformed drops = %llu, XDP_DROP %llu", name,
			     drops, (unsigned long long)c->xdp_action[XDP_DROP]);
	}
	if (mode == MODE_LB &&
	    c->lb[NETPROBE_LBC_FORWARDED] > c->xdp_action[XDP_TX] + c->xdp_action[XDP_REDIRECT])
		fail("lb: %llu forwarded, but %llu left by XDP_TX or a redirect",
		     (unsigned long long)c->lb[NETPROBE_LBC_FORWARDED],
		     (unsigned long long)(c->xdp_action[XDP_TX] + c->xdp_action[XDP_REDIRECT]));
}

/* ---- The differential: netprobe against tshark --------------------------- */

/* What netprobe made of one frame: the counter that moved, and its flow. */
struct parsed {
	int family; /* 4, 6; 0: not IP; -1: malformed */
	int reason;
	struct netprobe_flow_key key;
	bool have_key;
	bool disturbed;	  /* another frame came in meanwhile (the kernel's own): not compared */
	bool zero_ip_len; /* its IP length field is 0 (tshark takes that for TSO's) */
	int vlan_tags;	  /* 802.1Q and 802.1ad tags in front (tshark's layers may join two) */
};

static int vlan_tags(const uint8_t *f, size_t len)
{
	int tags = 0;

	for (size_t off = 12; off + 4 <= len; off += 4, tags++) {
		uint16_t type = (uint16_t)(f[off] << 8 | f[off + 1]);

		if (type != 0x8100 && type != 0x88a8)
			break;
	}
	return tags;
}

/* Whether the frame's outermost IP length field is 0. */
static bool ip_len_is_zero(const uint8_t *f, size_t len)
{
	size_t off = 12;

	for (int tags = 0; tags < 4 && off + 4 <= len; tags++) {
		uint16_t type = (uint16_t)(f[off] << 8 | f[off + 1]);

		if (type != 0x8100 && type != 0x88a8)
			break;
		off += 4;
	}
	if (off + 2 > len)
		return false;
	if (f[off] == 0x08 && f[off + 1] == 0x00)
		return off + 6 <= len && !f[off + 4] && !f[off + 5];
	if (f[off] == 0x86 && f[off + 1] == 0xdd)
		return off + 8 <= len && !f[off + 6] && !f[off + 7];
	return false;
}

static void pcap_header(FILE *f)
{
	const uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 /* Ethernet */};

	fwrite(hdr, sizeof(hdr), 1, f);
}

static void pcap_frame(FILE *f, const uint8_t *p, size_t len, unsigned long long n)
{
	const uint32_t rec[4] = {(uint32_t)(n / 1000000), (uint32_t)(n % 1000000), (uint32_t)len,
				 (uint32_t)len};

	fwrite(rec, sizeof(rec), 1, f);
	fwrite(p, len, 1, f);
}

static void empty_flows(int flows)
{
	struct netprobe_flow_key k;

	while (bpf_map_get_next_key(flows, NULL, &k) == 0)
		bpf_map_delete_elem(flows, &k);
}

static struct parsed parse_of(const struct netprobe_hook_counters *before,
			      const struct netprobe_hook_counters *after, int flows)
{
	struct parsed p = {};
	struct netprobe_flow_key next;

	if (after->v[NETPROBE_HC_PACKETS] != before->v[NETPROBE_HC_PACKETS] + 1) {
		p.disturbed = true;
		return p;
	}
	if (after->v[NETPROBE_HC_MALFORMED] != before->v[NETPROBE_HC_MALFORMED]) {
		p.family = -1;
		for (int r = 0; r < NETPROBE_MALFORMED_MAX - 1; r++)
			if (after->malformed[r] != before->malformed[r])
				p.reason = r + 1;
		return p;
	}
	if (after->v[NETPROBE_HC_IPV4_PACKETS] != before->v[NETPROBE_HC_IPV4_PACKETS])
		p.family = 4;
	else if (after->v[NETPROBE_HC_IPV6_PACKETS] != before->v[NETPROBE_HC_IPV6_PACKETS])
		p.family = 6;
	if (p.family) {
		p.have_key = bpf_map_get_next_key(flows, NULL, &p.key) == 0;
		/* The frame's flow is the table's only one. */
		if (p.have_key && bpf_map_get_next_key(flows, &p.key, &next) == 0)
			p.disturbed = true;
	}
	return p;
}

/* tshark's name for a protocol that follows an IP header, and its number. */
static int proto_by_name(const char *name)
{
	static const struct {
		const char *name;
		int proto;
	} names[] = {
		{"tcp", 6},    {"udp", 17},  {"icmp", 1},  {"icmpv6", 58},
		{"ip", 4},     {"ipv6", 41}, {"gre", 47},  {"esp", 50},
		{"sctp", 132}, {"igmp", 2},  {"ah", 51},   {"udplite", 136},
		{"dccp", 33},  {"ospf", 89}, {"pim", 103}, {"vrrp", 112},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i].name, name))
			return names[i].proto;
	return -1;
}

static bool is_ipv6_ext(const char *name)
{
	return !strcmp(name, "ipv6.hopopts") || !strcmp(name, "ipv6.routing") ||
	       !strcmp(name, "ipv6.fraghdr") || !strcmp(name, "ipv6.dstopts") ||
	       !strcmp(name, "ah");
}

/* The fields asked of tshark, in order. */
enum {
	TS_NUMBER,
	TS_PROTOCOLS,
	TS_IP_SRC,
	TS_IP_DST,
	TS_IP_PROTO,
	TS_IP6_SRC,
	TS_IP6_DST,
	TS_IP6_NXT,
	TS_TCP_SPORT,
	TS_TCP_DPORT,
	TS_UDP_SPORT,
	TS_UDP_DPORT,
	TS_ICMP_TYPE,
	TS_ICMP_CODE,
	TS_ICMP6_TYPE,
	TS_ICMP6_CODE,
	TS_SEVERITY,  /* every expert item's, with commas */
	TS_SRC_GROUP, /* the source MAC's group bit: tshark warns of it */
	TS_IP_MF,
	TS_IP_OFFSET,
	TS_FIELDS,
};

/* Compares one frame; returns a description of the difference, or NULL. */
static const char *compare(const struct parsed *np, char **ts, char *why, size_t len)
{
	const struct netprobe_flow_key *k = &np->key;
	char *save = NULL, *tok, protos[512], addr[INET6_ADDRSTRLEN];
	int ts_family = 0, ts_proto = -1, l4_named = 0, ext_seen = 0;
	const char *src, *dst;
	bool after_ip = false;

	snprintf(protos, sizeof(protos), "%s", ts[TS_PROTOCOLS]);
	for (tok = strtok_r(protos, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		if (!ts_family && (!strcmp(tok, "ip") || !strcmp(tok, "ipv6"))) {
			ts_family = tok[2] ? 6 : 4;
			after_ip = true;
			continue;
		}
		if (!after_ip)
			continue;
		if (ts_family == 6 && is_ipv6_ext(tok)) {
			ext_seen = 1;
			continue;
		}
		ts_proto = proto_by_name(tok);
		l4_named = ts_proto >= 0;
		break;
	}
	if (ts_family != np->family) {
		snprintf(why, len, "family: netprobe %d, tshark %d", np->family, ts_family);
		return why;
	}
	if (!np->have_key) {
		snprintf(why, len, "netprobe counted it as IP but recorded no flow");
		return why;
	}
	src = ts_family == 4 ? ts[TS_IP_SRC] : ts[TS_IP6_SRC];
	dst = ts_family == 4 ? ts[TS_IP_DST] : ts[TS_IP6_DST];
	inet_ntop(ts_family == 4 ? AF_INET : AF_INET6, k->src_addr, addr, sizeof(addr));
	if (strcmp(addr, src)) {
		snprintf(why, len, "source: netprobe %s, tshark %s", addr, src);
		return why;
	}
	inet_ntop(ts_family == 4 ? AF_INET : AF_INET6, k->dst_addr, addr, sizeof(addr));
	if (strcmp(addr, dst)) {
		snprintf(why, len, "destination: netprobe %s, tshark %s", addr, dst);
		return why;
	}
	/* The protocol: IPv4's field; IPv6's past its extension headers, by the layer tshark named. */
	if (ts_family == 4)
		ts_proto = atoi(ts[TS_IP_PROTO]);
	else if (!l4_named && !ext_seen)
		ts_proto = atoi(ts[TS_IP6_NXT]);
	if (ts_proto >= 0 && ts_proto != k->proto) {
		snprintf(why, len, "protocol: netprobe %u, tshark %d", k->proto, ts_proto);
		return why;
	}
	/* Ports where tshark read the header netprobe did (the first one past IP). */
	if (l4_named && (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP)) {
		const char *sp = ts[k->proto == IPPROTO_TCP ? TS_TCP_SPORT : TS_UDP_SPORT];
		const char *dp = ts[k->proto == IPPROTO_TCP ? TS_TCP_DPORT : TS_UDP_DPORT];

		if (atoi(sp) != ntohs(k->src_port) || atoi(dp) != ntohs(k->dst_port)) {
			snprintf(why, len, "ports: netprobe %u > %u, tshark %s > %s",
				 ntohs(k->src_port), ntohs(k->dst_port), sp, dp);
			return why;
		}
	}
	if (l4_named && (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6)) {
		bool v4 = k->proto == IPPROTO_ICMP;
		const char *type = ts[v4 ? TS_ICMP_TYPE : TS_ICMP6_TYPE];
		const char *code = ts[v4 ? TS_ICMP_CODE : TS_ICMP6_CODE];

		if (atoi(type) != ntohs(k->dst_port) >> 8 ||
		    atoi(code) != (ntohs(k->dst_port) & 0xff)) {
			snprintf(why, len, "ICMP: netprobe %u/%u, tshark %s/%s",
				 ntohs(k->dst_port) >> 8, ntohs(k->dst_port) & 0xff, type, code);
			return why;
		}
	}
	return NULL;
}

/*
 * Whether tshark read a frame netprobe called malformed to its L4 header
 * (TCP, UDP, ICMP, ICMPv6) and found nothing wrong with it: a frame
 * netprobe refused for nothing. tshark reads on where the kernel stops
 * (a length past the frame is its warning, not an error), so any warning
 * or error of its counts, except about the random MAC addresses. Not asked
 * of what netprobe refuses by design, which tshark reads: more than two
 * VLAN tags, more than six IPv6 extension headers, a fragment too short
 * for its L4 header (RFC 1858), a zero IP length (tshark's TSO).
 */
static bool accepted_whole(const struct parsed *np, char **ts, struct tally *t)
{
	char protos[512], sev[1024], *save = NULL, *tok;
	int bad = 0, exts = 0;
	bool l4 = false;

	if (np->zero_ip_len || atoi(ts[TS_IP_MF]) || atoi(ts[TS_IP_OFFSET]) ||
	    strstr(ts[TS_PROTOCOLS], "fraghdr"))
		return false;
	snprintf(protos, sizeof(protos), "%s", ts[TS_PROTOCOLS]);
	for (tok = strtok_r(protos, ":", &save); tok && !l4; tok = strtok_r(NULL, ":", &save)) {
		l4 = !strcmp(tok, "tcp") || !strcmp(tok, "udp") || !strcmp(tok, "icmp") ||
		     !strcmp(tok, "icmpv6");
		exts += is_ipv6_ext(tok);
	}
	/* What netprobe refuses by design, and tshark reads. */
	if (!l4 || (np->reason == NETPROBE_MALFORMED_VLAN_TOO_DEEP && np->vlan_tags > 2) ||
	    (np->reason == NETPROBE_MALFORMED_IPV6_EXT_CHAIN && exts > 6))
		return false;
	t->diff_refusals_checked++;
	/* Expert items: severity 0x00600000 is a warning, 0x00800000 an error. */
	snprintf(sev, sizeof(sev), "%s", ts[TS_SEVERITY]);
	save = NULL;
	for (tok = strtok_r(sev, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		bad += strtoul(tok, NULL, 0) >= 0x00600000;
	return bad <= atoi(ts[TS_SRC_GROUP]); /* one warning for a group source MAC */
}

static void differential(const char *pcap, const struct parsed *np, size_t n, struct tally *t,
			 const char *keep_dir)
{
	char cmd[1024], why[256], *line = NULL;
	size_t frame = 0, cap = 0;
	FILE *ts;

	snprintf(cmd, sizeof(cmd),
		 "tshark -n -r %s -o ip.defragment:FALSE -o ipv6.defragment:FALSE "
		 "-o ip.check_checksum:FALSE -T fields -E separator=/t -E occurrence=a "
		 "-E aggregator=, -e frame.number -e frame.protocols -e ip.src -e ip.dst -e "
		 "ip.proto "
		 "-e ipv6.src -e ipv6.dst -e ipv6.nxt -e tcp.srcport -e tcp.dstport -e udp.srcport "
		 "-e udp.dstport -e icmp.type -e icmp.code -e icmpv6.type -e icmpv6.code "
		 "-e _ws.expert.severity -e eth.src.ig -e ip.flags.mf -e ip.frag_offset "
		 "2>/dev/null",
		 pcap);
	ts = popen(cmd, "r");
	if (!ts) {
		fail("tshark: %s", strerror(errno));
		return;
	}
	/* getline: a frame's expert items can make a line of any length. */
	while (getline(&line, &cap, ts) > 0) {
		char *fields[TS_FIELDS] = {}, *p = line;
		const char *diff;

		line[strcspn(line, "\n")] = 0;
		for (int i = 0; i < TS_FIELDS; i++) {
			fields[i] = p ? p : (char *)"";
			p = p ? strchr(p, '\t') : NULL;
			if (p)
				*p++ = 0;
		}
		/* Each field's first occurrence (the outermost header's); every severity. */
		for (int i = 0; i < TS_FIELDS; i++)
			if (i != TS_SEVERITY && *fields[i])
				fields[i][strcspn(fields[i], ",")] = 0;
		frame = strtoul(fields[TS_NUMBER], NULL, 10);
		if (frame < 1 || frame > n)
			continue;
		if (np[frame - 1].disturbed) {
			t->diff_disturbed++;
			continue;
		}
		if (np[frame - 1].family < 0 && accepted_whole(&np[frame - 1], fields, t)) {
			/* netprobe refused what tshark read to its L4 header without an error. */
			if (t->diff_refused++ < 10)
				fail("frame %zu: netprobe: malformed (%s), tshark: %s with no "
				     "error",
				     frame, netprobe_malformed_name(np[frame - 1].reason),
				     fields[TS_PROTOCOLS]);
			continue;
		}
		if (np[frame - 1].family <= 0)
			continue; /* netprobe did not parse it as IP: nothing to compare */
		t->diff_ip++;
		diff = compare(&np[frame - 1], fields, why, sizeof(why));
		if (diff && t->diff_mismatch++ < 10)
			fail("frame %zu: %s (tshark: %s)", frame, diff, fields[TS_PROTOCOLS]);
	}
	free(line);
	if (pclose(ts) != 0 || frame != n)
		fail("tshark read %zu of %zu frames", frame, n);
	/* A few frames of the kernel's own may come in; more would hollow the comparison. */
	if (t->diff_disturbed * 100 > n)
		fail("differential: %llu of %zu frames disturbed by other traffic",
		     t->diff_disturbed, n);
	if ((t->diff_mismatch || t->diff_refused) && keep_dir)
		fprintf(stderr, "np-torture: the frames are in %s\n", pcap);
}

/* ---- Running a mode ------------------------------------------------------ */

/*
 * Adds sign x the interface's kernel counters to what it sent and received
 * itself. /proc/net/dev, not sysfs: /proc follows the process's namespace.
 */
static int iface_counts(struct tally *t, int sign)
{
	unsigned long long rx, rx_bytes, tx, tx_bytes, skip;
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/net/dev", "r");

	while (f && !found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		if (!p || strncmp(line + strspn(line, " "), IF_DUT ":", strlen(IF_DUT) + 1))
			continue;
		/* bytes packets errs drop fifo frame compressed multicast, then the same for TX. */
		found = sscanf(p + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			       &rx_bytes, &rx, &skip, &skip, &skip, &skip, &skip, &skip, &tx_bytes,
			       &tx) == 10;
	}
	if (f)
		fclose(f);
	if (!found) {
		fail("/proc/net/dev: no counters of %s", IF_DUT);
		return -1;
	}
	t->own_rx += sign * rx;
	/* veth counts a received frame after its Ethernet header is taken off. */
	t->own_rx_bytes += sign * (rx_bytes + 14 * rx);
	t->own_tx += sign * tx;
	t->own_tx_bytes += sign * tx_bytes;
	return 0;
}

/*
 * What the frames reached, by netprobe's own counters: reported, and each
 * must be above zero, or the torture proved nothing of that feature.
 */
static void reached(enum mode mode, const struct netprobe_counters *c, struct tally *t)
{
	const struct netprobe_hook_counters *x = &c->hook[NETPROBE_HOOK_XDP];
	bool filter = mode == MODE_FILTER || mode == MODE_DECAP;
	unsigned long long detections = 0;
	size_t n = 0;

	for (int d = 0; d < NETPROBE_DETECT_MAX; d++)
		detections += c->detections[d] + c->detections_dst[d];
	const struct {
		const char *what;
		unsigned long long n;
		bool asked;
	} seen[] = {
		{"ipv4", x->v[NETPROBE_HC_IPV4_PACKETS], true},
		{"ipv6", x->v[NETPROBE_HC_IPV6_PACKETS], true},
		{"other", x->v[NETPROBE_HC_OTHER_L3_PACKETS], true},
		{"malformed", x->v[NETPROBE_HC_MALFORMED], true},
		{"fragments", x->v[NETPROBE_HC_FRAGMENTS], true},
		{"vlan", x->v[NETPROBE_HC_VLAN_PACKETS], true},
		{"deny drops", c->filter[NETPROBE_FC_DENY_DROPS], filter},
		{"allow passes", c->filter[NETPROBE_FC_ALLOW_PASSES], filter},
		{"detections", detections, filter},
		{"blocks", c->filter[NETPROBE_FC_BLOCKS_ADDED], filter},
		{"block drops", c->filter[NETPROBE_FC_BLOCK_DROPS], filter},
		{"decapsulated", c->lb[NETPROBE_LBC_DECAPSULATED], mode == MODE_DECAP},
		{"refused", c->lb[NETPROBE_LBC_DECAP_REFUSED], mode == MODE_DECAP},
		{"service packets", c->lb[NETPROBE_LBC_VIP_PACKETS], mode == MODE_LB},
		{"forwarded", c->lb[NETPROBE_LBC_FORWARDED], mode == MODE_LB},
		{"new flows", c->lb[NETPROBE_LBC_NEW_CONNS], mode == MODE_LB},
		{"to TC", c->lb[NETPROBE_LBC_NEIGH_MISS], mode == MODE_LB},
		{"ICMP errors forwarded", c->lb[NETPROBE_LBC_ICMP_FORWARDED], mode == MODE_LB},
		{"malformed frames tshark read to L4, checked for errors", t->diff_refusals_checked,
		 t->diff_frames > 0},
	};

	for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
		if (!seen[i].asked)
			continue;
		if (!seen[i].n)
			fail("%s: no frame reached %s", mode_names[mode], seen[i].what);
		if (n < sizeof(t->reached))
			n += snprintf(t->reached + n, sizeof(t->reached) - n, "%s%s %llu",
				      n ? ", " : "", seen[i].what, seen[i].n);
	}
}

struct run_opts {
	unsigned long long frames, seed, diff;
	bool tc;
	const char *keep_dir; /* where the differential's pcap stays when it failed */
};

static int run_mode(enum mode mode, const struct run_opts *o, struct tally *t)
{
	static uint8_t frame[GEN_FRAME_MAX];
	const struct gen_pool srcs[MODE_MAX] = {POOL(sources4, sources6), POOL(sources4, sources6),
						POOL(lb_sources4, lb_sources6),
						POOL(decap_sources4, decap_sources6)};
	const struct gen_pool dsts[MODE_MAX] = {POOL(dests4, dests6), POOL(dests4, dests6),
						POOL(lb_dests4, lb_dests6),
						POOL(decap_dests4, decap_dests6)};
	struct netprobe_global_stats before, after;
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	struct netprobe_iface it;
	int xdp = -1, tci = -1, tce = -1, flows = -1, err = -1;
	unsigned long long diff = mode == MODE_MONITOR ? o->diff : 0;
	struct parsed *np = NULL;
	char pcap[256] = "", path[256];
	struct timespec a, b;
	FILE *pf = NULL;
	struct gen g;

	memset(t, 0, sizeof(*t));
	snprintf(t->reached, sizeof(t->reached), "-");
	mode_config(mode, &cfg);
	m = netprobe_manager_new(&cfg);
	if (!m || netprobe_manager_load(m) || netprobe_manager_attach(m, IF_DUT) ||
	    netprobe_manager_iface(m, IF_DUT, &it)) {
		fail("%s: the programs did not load or attach", mode_names[mode]);
		goto out;
	}
	if (mode_state(mode, m)) {
		fail("%s: lists or services could not be set", mode_names[mode]);
		goto out;
	}
	xdp = link_prog(it.slot, "xdp");
	if (o->tc) {
		tci = tc_prog(&it, false);
		tce = tc_prog(&it, true);
	}
	snprintf(path, sizeof(path), "%s/np_flows", pin_path);
	flows = bpf_obj_get(path);
	if (xdp < 0 || flows < 0 || (o->tc && (tci < 0 || tce < 0))) {
		fail("%s: attached programs not found", mode_names[mode]);
		goto out;
	}
	if (diff) {
		np = calloc(diff, sizeof(*np));
		snprintf(pcap, sizeof(pcap), "%s/np-torture-%d.pcap", o->keep_dir ?: "/tmp",
			 getpid());
		pf = fopen(pcap, "w");
		if (!np || !pf) {
			fail("differential: %s: %s", pcap, strerror(errno));
			goto out;
		}
		pcap_header(pf);
	}
	if (netprobe_manager_iface_stats(m, IF_DUT, &before) || iface_counts(t, -1))
		goto out;
	gen_init(&g, o->seed * MODE_MAX + mode, &srcs[mode], &dsts[mode], ports,
		 sizeof(ports) / sizeof(ports[0]));
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned long long i = 0; i < o->frames; i++) {
		size_t len = gen_next(&g, frame);
		struct netprobe_global_stats s0, s1;

		if (i < diff) {
			empty_flows(flows);
			netprobe_manager_iface_stats(m, IF_DUT, &s0);
		}
		t->frames++;
		t->bytes += len;
		run_xdp(xdp, (int)it.ifindex, frame, len, t);
		if (i < diff) {
			netprobe_manager_iface_stats(m, IF_DUT, &s1);
			np[i] = parse_of(&s0.counters.hook[NETPROBE_HOOK_XDP],
					 &s1.counters.hook[NETPROBE_HOOK_XDP], flows);
			np[i].zero_ip_len = ip_len_is_zero(frame, len);
			np[i].vlan_tags = vlan_tags(frame, len);
			pcap_frame(pf, frame, len, i);
		}
		if (o->tc && tc_runnable(frame, len)) {
			t->tc_frames++;
			t->tc_bytes += len;
			run_tc(tci, frame, len, t);
			run_tc(tce, frame, len, t);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	t->seconds = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	if (netprobe_manager_iface_stats(m, IF_DUT, &after) || iface_counts(t, 1))
		goto out;
	/* The counters of this run alone. */
	for (size_t w = 0; w < sizeof(after.counters) / 8; w++)
		((__u64 *)&after.counters)[w] -= ((__u64 *)&before.counters)[w];
	check_mode(mode, &after.counters, t, o->tc);
	if (diff) {
		fclose(pf);
		pf = NULL;
		t->diff_frames = diff;
		differential(pcap, np, diff, t, o->keep_dir);
		if (!t->diff_mismatch && !t->diff_refused)
			unlink(pcap);
		/* The check both ways was made of frames enough. */
		if (t->diff_refusals_checked * 100 < diff)
			fail("differential: %llu refused frames of %llu read by tshark to L4",
			     t->diff_refusals_checked, diff);
	}
	reached(mode, &after.counters, t);
	err = 0;
out:
	if (pf)
		fclose(pf);
	free(np);
	if (xdp >= 0)
		close(xdp);
	if (tci >= 0)
		close(tci);
	if (tce >= 0)
		close(tce);
	if (flows >= 0)
		close(flows);
	if (m) {
		netprobe_manager_detach(m, NULL);
		netprobe_manager_free(m);
	}
	sh("rm -rf %s", pin_path);
	return err;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: np-torture [--mode monitor|filter|lb|decap|all] [--frames N] [--seed S]\n"
		"                  [--diff N] [--no-tc] [--keep DIR]\n"
		"  --frames N  frames per mode (default 1000000)\n"
		"  --seed S    the generator's seed (default 1): the same seed, the same frames\n"
		"  --diff N    compare the first N frames of monitor mode with tshark (default 0)\n"
		"  --no-tc     the XDP program alone, not the TC programs too\n"
		"  --keep DIR  where the differential's pcap is written, and kept if it differs\n");
}

int main(int argc, char **argv)
{
	static const struct option long_opts[] = {
		{"mode", required_argument, NULL, 'm'}, {"frames", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'}, {"diff", required_argument, NULL, 'd'},
		{"no-tc", no_argument, NULL, 't'},	{"keep", required_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},	{},
	};
	struct run_opts o = {.frames = 1000000, .seed = 1, .tc = true};
	bool want[MODE_MAX] = {true, true, true, true};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "all")) {
				int k = 0;

				while (k < MODE_MAX && strcmp(optarg, mode_names[k]))
					k++;
				if (k == MODE_MAX) {
					fprintf(stderr, "np-torture: no mode %s\n", optarg);
					return 2;
				}
				memset(want, 0, sizeof(want));
				want[k] = true;
			}
			break;
		case 'n':
		case 's':
		case 'd': {
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' ||
			    (c != 's' && v > 100000000ull)) {
				fprintf(stderr, "np-torture: bad number %s\n", optarg);
				return 2;
			}
			*(c == 'n' ? &o.frames : c == 's' ? &o.seed : &o.diff) = v;
			break;
		}
		case 't':
			o.tc = false;
			break;
		case 'k':
			o.keep_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || o.diff > o.frames) {
		usage(stderr);
		return 2;
	}
	netprobe_set_log(on_log,
			 getenv("NP_TORTURE_DEBUG") ? NETPROBE_LOG_DEBUG : NETPROBE_LOG_WARN, NULL);
	if (lab_up())
		return 1;
	printf("mode\tframes\tseed\tseconds\tpass\tdrop\ttx\tredirect\taborted\trun_errors\t"
	       "diff_frames\tdiff_ip\tdiff_mismatch\toutcome\treached\n");
	for (int k = 0; k < MODE_MAX; k++) {
		struct tally t;
		int before = failures;

		if (!want[k])
			continue;
		if (run_mode(k, &o, &t))
			failures++;
		printf("%s\t%llu\t%llu\t%.1f\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%llu\t%"
		       "llu\t%s\t%s\n",
		       mode_names[k], t.frames, o.seed, t.seconds, t.xdp[XDP_PASS], t.xdp[XDP_DROP],
		       t.xdp[XDP_TX], t.xdp[XDP_REDIRECT], t.xdp[XDP_ABORTED], t.run_errors,
		       t.diff_frames, t.diff_ip, t.diff_mismatch + t.diff_refused,
		       failures == before ? "held" : "FAILED", t.reached);
		fflush(stdout);
	}
	return failures ? 1 : 0;
}
