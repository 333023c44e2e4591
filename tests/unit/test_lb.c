// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The load balancer mode, end to end: the XDP program netprobe attached to
 * a veth runs on crafted frames (BPF_PROG_RUN, with the veth as the frame's
 * ingress device, so that the program's route lookups are the kernel's for
 * a frame arriving there) while services and backends are driven through the
 * public API. Output frames are checked byte by byte against the input,
 * backends against the neighbour entries and routes the test installed,
 * the connection table and the Maglev table against the pinned maps, and
 * statistics against the frames sent. The test moves itself into a network
 * namespace of its own:
 *
 *   nplb0 ==== nplb1 [lb]        10.77.0.1/24 fd77::1/64   clients; XDP_TX host .50
 *              nplb2 ==== nplb3  10.78.0.1/24 fd78::1/64   backends .11-.14 (static neighbours)
 *              nplb4 ==== nplb5                            a backend's link [monitor, decap]
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include "netns_fixture.h"
#include <errno.h>
#include <sched.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <netprobe/netprobe.h>
#include "../lib/pktbuild.h"
/* The datapath's flow hash: the Maglev position and the IPv6 flow label come from it. */
#include "../../bpf/hash.h"
#include "programs/programs.h"

#define IF_PEER "nplb0"
#define IF_DUT	"nplb1" /* netprobe lb is attached here */
#define IF_BE	"nplb2" /* the load balancer's link to the backends */
#define IF_BEP	"nplb3"
#define IF_DEC	"nplb4" /* a backend's link: netprobe monitor with decap */
#define IF_DECP "nplb5"

#define LB_SRC4	  "10.78.0.1" /* the load balancer's address towards the backends */
#define LB_SRC6	  "fd78::1"
#define VIP4	  "10.99.0.1"
#define VIP6	  "fd99::1"
#define SVC4	  "10.99.0.1:80/tcp"
#define SVC6	  "[fd99::1]:80/tcp"
#define NO_NEIGH4 "10.78.0.99" /* routed, but no neighbour entry */
#define NO_NEIGH6 "fd78::99"

static const uint8_t mac_dut[6] = {0x02, 0, 0, 0x77, 0, 0x01};
static const uint8_t mac_peer[6] = {0x02, 0, 0, 0x77, 0, 0x02};
static const uint8_t mac_be[6] = {0x02, 0, 0, 0x78, 0, 0x01};

/* The backends, with the static neighbour entries that make the route lookups succeed. */
static const struct host {
	const char *v4, *v6, *dev;
	uint8_t mac[6];
} hosts[] = {
	{"10.78.0.11", "fd78::11", IF_BE, {0x02, 0, 0, 0xbe, 0, 0x01}},
	{"10.78.0.12", "fd78::12", IF_BE, {0x02, 0, 0, 0xbe, 0, 0x02}},
	{"10.78.0.13", "fd78::13", IF_BE, {0x02, 0, 0, 0xbe, 0, 0x03}},
	{"10.78.0.14", "fd78::14", IF_BE, {0x02, 0, 0, 0xbe, 0, 0x04}},
	/* On the clients' segment: frames to it leave where they came in (XDP_TX). */
	{"10.77.0.50", "fd77::50", IF_DUT, {0x02, 0, 0, 0xbe, 0, 0x05}},
};
#define NHOSTS	(int)(sizeof(hosts) / sizeof(hosts[0]))
#define TX_HOST 4

#define SYN 0x02
#define RST 0x04
#define FIN 0x01
#define PSH 0x08
#define ACK 0x10

static char pin_path[128];
/* Globals, so that the teardown of a failed test finds what to clean up. */
static struct netprobe_manager *g_m;
static int g_prog = -1; /* the XDP program behind the interface's pinned link */
static const char *g_ifname = IF_DUT;
static unsigned int g_ifindex; /* the frames' ingress device */

/* ---- Setup ---------------------------------------------------------------- */

static const char *mac_str(const uint8_t *mac, char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}

/* A command whose failure does not matter (cleaning up what may not be there). */
static void quiet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void quiet(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(cmd + len, sizeof(cmd) - len, " >/dev/null 2>&1");
	if (system(cmd) < 0)
		fprintf(stderr, "cannot run %s\n", cmd);
}

static void set_sysctl(const char *path, const char *value)
{
	char file[256];

	snprintf(file, sizeof(file), "/proc/sys/net/%s", path);
	write_file(file, value);
}

/* The static neighbours, MTU and forwarding every test starts with. */
static void reset_topology(void)
{
	char mac[18];

	quiet("ip link set %s mtu 1500", IF_BE);
	for (int k = 0; k < NHOSTS; k++) {
		mac_str(hosts[k].mac, mac);
		quiet("ip neigh replace %s lladdr %s dev %s nud permanent", hosts[k].v4, mac,
		      hosts[k].dev);
		quiet("ip -6 neigh replace %s lladdr %s dev %s nud permanent", hosts[k].v6, mac,
		      hosts[k].dev);
	}
	quiet("ip neigh del %s dev %s", NO_NEIGH4, IF_BE);
	quiet("ip -6 neigh del %s dev %s", NO_NEIGH6, IF_BE);
	set_sysctl("ipv4/conf/" IF_DUT "/forwarding", "1");
}

static int group_setup(void **state)
{
	char a[18], b[18];

	(void)state;
	if (enter_private_netns())
		return -1;
	run("ip link set lo up");
	run("ip link add %s address %s type veth peer name %s address %s", IF_PEER,
	    mac_str(mac_peer, a), IF_DUT, mac_str(mac_dut, b));
	run("ip link add %s address %s type veth peer name %s", IF_BE, mac_str(mac_be, a), IF_BEP);
	run("ip link add %s type veth peer name %s", IF_DEC, IF_DECP);
	/* IPv6 only where the load balancer routes; the clients' side sends nothing. */
	set_sysctl("ipv6/conf/" IF_DUT "/disable_ipv6", "0");
	set_sysctl("ipv6/conf/" IF_BE "/disable_ipv6", "0");
	run("ip addr add 10.77.0.1/24 dev %s && ip addr add fd77::1/64 dev %s nodad", IF_DUT,
	    IF_DUT);
	run("ip addr add %s/24 dev %s && ip addr add %s/64 dev %s nodad", LB_SRC4, IF_BE, LB_SRC6,
	    IF_BE);
	run("ip link set %s up && ip link set %s up && ip link set %s up && ip link set %s up && "
	    "ip link set %s up && ip link set %s up",
	    IF_PEER, IF_DUT, IF_BE, IF_BEP, IF_DEC, IF_DECP);
	/* bpf_fib_lookup answers only for a device that forwards. */
	set_sysctl("ipv4/ip_forward", "1");
	set_sysctl("ipv6/conf/all/forwarding", "1");
	reset_topology();
	snprintf(pin_path, sizeof(pin_path), "/sys/fs/bpf/np-test-lb-%d", getpid());
	return 0;
}

static void base_config(struct netprobe_config *cfg)
{
	netprobe_config_default(cfg);
	snprintf(cfg->pin_path, sizeof(cfg->pin_path), "%s", pin_path);
	cfg->xdp_mode = NETPROBE_XDP_LB;
	cfg->stats_report_interval_ms = 0;
	cfg->flow_idle_timeout_ms = 0;
}

static __u32 prog_id_of_link(void)
{
	struct netprobe_config cfg;
	struct netprobe_iface it;

	assert_int_equal(netprobe_manager_iface(g_m, g_ifname, &it), 0);
	assert_int_equal(netprobe_manager_get_config(g_m, &cfg), 0);
	assert_int_equal(it.xdp_mode, cfg.xdp_mode);
	return attached_prog_id(g_m, pin_path, g_ifname);
}

static void start(const struct netprobe_config *cfg, const char *ifname)
{
	g_m = netprobe_manager_new(cfg);
	assert_non_null(g_m);
	assert_int_equal(netprobe_manager_load(g_m), 0);
	assert_int_equal(netprobe_manager_attach(g_m, ifname), 0);
	g_ifname = ifname;
	g_ifindex = if_nametoindex(ifname);
	assert_int_not_equal(g_ifindex, 0);
	g_prog = bpf_prog_get_fd_by_id(prog_id_of_link());
	assert_true(g_prog >= 0);
}

static void start_lb(void)
{
	struct netprobe_config cfg;

	base_config(&cfg);
	start(&cfg, IF_DUT);
}

struct texts {
	char t[16][64];
	int n;
};

static int collect_text(const struct netprobe_lb_service_info *s, void *ctx)
{
	struct texts *ts = ctx;

	if (ts->n < 16)
		memcpy(ts->t[ts->n++], s->text, sizeof(s->text));
	return 0;
}

/* After each test, whatever it left (a failed assert skips its own cleanup): no pin dir stays. */
static int teardown(void **state)
{
	struct netprobe_manager *m = g_m;
	struct netprobe_config cfg;
	struct texts ts = {};

	(void)state;
	if (g_prog >= 0)
		close(g_prog);
	g_prog = -1;
	if (!m) {
		base_config(&cfg);
		m = netprobe_manager_new(&cfg);
	}
	if (m && netprobe_manager_load(m) == 0) {
		netprobe_manager_lb_stats(m, collect_text, &ts);
		for (int i = 0; i < ts.n; i++)
			netprobe_lb_service_del(m, ts.t[i]);
		netprobe_manager_detach(m, NULL);
	}
	netprobe_manager_free(m);
	g_m = NULL;
	g_ifname = IF_DUT;
	reset_topology();
	if (access(pin_path, F_OK) == 0) {
		fprintf(stderr, "%s is left behind\n", pin_path);
		return -1;
	}
	return 0;
}

/* ---- Frames ---------------------------------------------------------------- */

#define FRAME_MAX 2048

struct frame {
	size_t len;
	uint8_t b[FRAME_MAX];
};

/* What the program made of a frame. */
struct out {
	int verdict;
	uint32_t len;
	uint8_t b[FRAME_MAX];
};

static int family_of(const char *addr)
{
	return strchr(addr, ':') ? 6 : 4;
}

static struct pkt_spec tcp(const char *src, const char *dst, uint16_t sport, uint16_t dport,
			   uint8_t flags)
{
	return (struct pkt_spec){.family = family_of(src),
				 .src = src,
				 .dst = dst,
				 .proto = IPPROTO_TCP,
				 .sport = sport,
				 .dport = dport,
				 .tcp_flags = flags};
}

static struct pkt_spec udp(const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
	return (struct pkt_spec){.family = family_of(src),
				 .src = src,
				 .dst = dst,
				 .proto = IPPROTO_UDP,
				 .sport = sport,
				 .dport = dport,
				 .payload = 24};
}

static void addr_bytes(const char *text, uint8_t *out)
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(family_of(text) == 6 ? AF_INET6 : AF_INET, text, out), 1);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static struct frame build(const struct pkt_spec *s)
{
	struct frame f;

	f.len = pkt_build(s, f.b, sizeof(f.b));
	if (!f.len)
		fail_msg("cannot build a frame from %s to %s", s->src, s->dst);
	return f;
}

static void ipv4_fix_csum(uint8_t *ip)
{
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = pkt_csum_fold(pkt_csum_add(0, ip, (ip[0] & 0xf) * 4));
	memcpy(ip + 10, &c, 2);
}

/* Runs the attached program on one frame arriving at g_ifindex. */
/*
 * The reply to a packet too big for the way to its backend: an ICMP (v4:
 * fragmentation needed) or ICMPv6 (packet too big) message from the
 * packet's destination to its source, back to the MAC it came from,
 * quoting its IP header and 8 more bytes, checksums right.
 */
static void assert_too_big(const struct frame *in, const struct out *o, unsigned int mtu)
{
	bool v4 = rd16(in->b + 12) == 0x0800;
	size_t hdr = v4 ? 20 : 40, quote = hdr + 8;
	const uint8_t *ip = o->b + 14, *icmp = ip + hdr, *orig = in->b + 14;
	uint32_t sum;

	assert_int_equal(o->verdict, XDP_TX);
	assert_int_equal(o->len, 14 + hdr + 8 + quote);
	assert_memory_equal(o->b, in->b + 6, 6);
	assert_memory_equal(o->b + 6, in->b, 6);
	assert_memory_equal(o->b + 12, in->b + 12, 2);
	assert_memory_equal(icmp + 8, orig, quote);
	if (v4) {
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(rd16(ip + 2), 20 + 8 + quote);
		assert_int_equal(ip[9], IPPROTO_ICMP);
		assert_memory_equal(ip + 12, orig + 16, 4);
		assert_memory_equal(ip + 16, orig + 12, 4);
		assert_int_equal(pkt_csum_fold(pkt_csum_add(0, ip, 20)), 0);
		assert_int_equal(icmp[0], 3);
		assert_int_equal(icmp[1], 4);
		assert_int_equal(rd16(icmp + 6), mtu);
		sum = pkt_csum_add(0, icmp, 8 + quote);
	} else {
		uint8_t pseudo[40] = {};

		assert_int_equal(ip[0] >> 4, 6);
		assert_int_equal(rd16(ip + 4), 8 + quote);
		assert_int_equal(ip[6], IPPROTO_ICMPV6);
		assert_memory_equal(ip + 8, orig + 24, 16);
		assert_memory_equal(ip + 24, orig + 8, 16);
		assert_int_equal(icmp[0], 2);
		assert_int_equal(icmp[1], 0);
		assert_int_equal(rd16(icmp + 6), mtu);
		memcpy(pseudo, ip + 8, 32);
		pseudo[35] = 8 + quote;
		pseudo[39] = IPPROTO_ICMPV6;
		sum = pkt_csum_add(pkt_csum_add(0, pseudo, 40), icmp, 8 + quote);
	}
	assert_int_equal(pkt_csum_fold(sum), 0);
}

/*
 * The hand-off to TC when the next hop is unresolved (bpf/lb.h, struct
 * lb_handoff): magic, egress ifindex, family, next hop; BPF_PROG_RUN
 * returns the frame's metadata in front of it.
 */
#define HANDOFF 28

static void assert_handoff(const uint8_t *meta, int family, const char *nexthop)
{
	uint32_t word[3];
	uint8_t addr[16] = {};

	memcpy(word, meta, sizeof(word));
	assert_int_equal(word[0], 0x6e706c62);
	assert_int_equal(word[1], if_nametoindex(IF_BE));
	assert_int_equal(word[2], family == 4 ? AF_INET : AF_INET6);
	addr_bytes(nexthop, addr);
	assert_memory_equal(meta + 12, addr, family == 4 ? 4 : 16);
}

/* bpf/maps.h's struct lb_handoff_key and lb_handoff_slot, as the test reads them. */
struct handoff_key {
	uint8_t family, proto;
	uint16_t sport, dport;
	uint8_t head[8]; /* the IP header's first 8 bytes */
	uint8_t saddr[16], daddr[16];
};

struct handoff_slot {
	uint32_t ifindex, family;
	uint8_t nexthop[16];
	uint64_t expires_ns;
	int64_t pending;
};

/* The map the attached program shares with its TC program, by name. */
static int prog_map(int prog, const char *name)
{
	uint32_t ids[64];
	struct bpf_prog_info info = {.nr_map_ids = 64, .map_ids = (uintptr_t)ids};
	uint32_t len = sizeof(info);

	assert_int_equal(bpf_obj_get_info_by_fd(prog, &info, &len), 0);
	for (uint32_t i = 0; i < info.nr_map_ids && i < 64; i++) {
		struct bpf_map_info mi = {};
		uint32_t mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &mi, &mlen) == 0 &&
		    !strcmp(mi.name, name))
			return fd;
		if (fd >= 0)
			close(fd);
	}
	fail_msg("the program has no map %s", name);
	return -1;
}

/*
 * The hand-off XDP left for TC in o: in the frame's metadata, which is
 * checked and taken off o; or, where the kernel refuses XDP metadata, in
 * np_lb_handoffs under the frame's addresses, protocol, IP header's first
 * 8 bytes and TCP/UDP ports
 * (read here from the frame itself), one frame pending.
 */
static void take_handoff(struct out *o, int family, const char *nexthop)
{
	struct handoff_key k = {};
	struct handoff_slot v;
	uint8_t addr[16] = {};
	const uint8_t *ip = o->b + 14;
	bool v4 = rd16(o->b + 12) == 0x0800;
	int fd;

	if (np_kernel_has(NP_KF_XDP_META)) {
		assert_true(o->len > HANDOFF);
		assert_handoff(o->b, family, nexthop);
		memmove(o->b, o->b + HANDOFF, o->len - HANDOFF);
		o->len -= HANDOFF;
		return;
	}
	k.family = v4 ? AF_INET : AF_INET6;
	k.proto = v4 ? ip[9] : ip[6];
	memcpy(k.head, ip, 8);
	memcpy(k.saddr, v4 ? ip + 12 : ip + 8, v4 ? 4 : 16);
	memcpy(k.daddr, v4 ? ip + 16 : ip + 24, v4 ? 4 : 16);
	if ((k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP) && (!v4 || ip[0] == 0x45)) {
		memcpy(&k.sport, ip + (v4 ? 20 : 40), 2);
		memcpy(&k.dport, ip + (v4 ? 22 : 42), 2);
	}
	fd = prog_map(g_prog, "np_lb_handoffs");
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	/*
	 * An encapsulated frame's outer ID (flow label) is XDP's nonce: a frame
	 * forged with the same addresses and another one finds no slot.
	 */
	if (k.proto == IPPROTO_IPIP || k.proto == IPPROTO_IPV6) {
		struct handoff_slot none;

		k.head[v4 ? 5 : 3] ^= 1;
		assert_int_not_equal(bpf_map_lookup_elem(fd, &k, &none), 0);
		k.head[v4 ? 5 : 3] ^= 1;
	}
	close(fd);
	assert_int_equal(v.ifindex, if_nametoindex(IF_BE));
	assert_int_equal(v.family, family == 4 ? AF_INET : AF_INET6);
	assert_true(v.pending >= 1);
	addr_bytes(nexthop, addr);
	assert_memory_equal(v.nexthop, addr, family == 4 ? 4 : 16);
}

static int xdp_run(const uint8_t *frame, size_t len, struct out *o)
{
	struct xdp_md ctx = {.data_end = len, .ingress_ifindex = g_ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .data_out = o->b, .data_size_out = sizeof(o->b), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(g_prog, &opts))
		fail_msg("BPF_PROG_RUN: %s", strerror(errno));
	o->verdict = opts.retval;
	o->len = opts.data_size_out;
	return o->verdict;
}

static int send_spec(const struct pkt_spec *s, struct out *o)
{
	struct frame f = build(s);

	return xdp_run(f.b, f.len, o);
}

/* The input came out as it went in. */
static void assert_unchanged(const struct frame *f, const struct out *o)
{
	assert_int_equal(o->len, f->len);
	assert_memory_equal(o->b, f->b, f->len);
}

/*
 * The host an output frame is sent to, by its destination MAC (the
 * neighbour entry of the route's next hop); -1 when it is not sent. With
 * tunnel, the frame must be IP-in-IP or IPv6-in-IPv6 to that host's
 * address; without, the frame as it was (not encapsulated).
 */
static int sent_to(const struct out *o, bool tunnel)
{
	bool v4 = rd16(o->b + 12) == 0x0800;
	uint8_t addr[16], next = o->b[14 + (v4 ? 9 : 6)];

	if (o->verdict != XDP_TX && o->verdict != XDP_REDIRECT)
		return -1;
	for (int k = 0; k < NHOSTS; k++) {
		if (memcmp(o->b, hosts[k].mac, 6))
			continue;
		if (!tunnel) {
			assert_true(next != IPPROTO_IPIP && next != IPPROTO_IPV6);
			return k;
		}
		assert_int_equal(next, v4 ? IPPROTO_IPIP : IPPROTO_IPV6);
		addr_bytes(v4 ? hosts[k].v4 : hosts[k].v6, addr);
		assert_memory_equal(o->b + 14 + (v4 ? 16 : 24), addr, v4 ? 4 : 16);
		return k;
	}
	fail_msg("a frame sent (verdict %d) to an unknown MAC", o->verdict);
	return -1;
}

/* The backend an IP-in-IP backend's frame went to (see sent_to). */
static int dest_of(const struct out *o)
{
	return sent_to(o, true);
}

static int send_dest(const struct pkt_spec *s)
{
	struct out o;

	send_spec(s, &o);
	return dest_of(&o);
}

/* The i-th of a set of distinct client flows (sets do not overlap). */
struct flow {
	char src[INET6_ADDRSTRLEN];
	uint16_t sport;
};

static struct flow client(int family, int set, int i)
{
	struct flow f;

	if (family == 4)
		snprintf(f.src, sizeof(f.src), "198.%d.%d.%d", 18 + set, i / 200, i % 200 + 1);
	else
		snprintf(f.src, sizeof(f.src), "2001:db8:%x::%x", set + 1, i + 1);
	f.sport = 1024 + (i * 37) % 60000;
	return f;
}

static struct pkt_spec flow_tcp(const struct flow *f, const char *vip, uint8_t flags)
{
	return tcp(f->src, vip, f->sport, 80, flags);
}

/* ---- Statistics and the pinned maps ---------------------------------------- */

static struct netprobe_global_stats stats(void)
{
	return iface_stats(g_m, g_ifname);
}

#define MAX_SVC 8
#define MAX_BE	8

struct svc_view {
	struct netprobe_lb_service_info info;
	struct netprobe_lb_backend_info be[MAX_BE];
};

static struct {
	struct svc_view s[MAX_SVC];
	int n, calls;
	int stop_at; /* return 7 from that call (0: never) */
} g_view;

static int collect_service(const struct netprobe_lb_service_info *s, void *ctx)
{
	(void)ctx;
	g_view.calls++;
	if (g_view.n < MAX_SVC) {
		struct svc_view *v = &g_view.s[g_view.n++];

		v->info = *s;
		if (s->nbackends > MAX_BE)
			return -E2BIG;
		memcpy(v->be, s->backends, s->nbackends * sizeof(v->be[0]));
		v->info.backends = v->be;
	}
	return g_view.calls == g_view.stop_at ? 7 : 0;
}

static void lb_refresh(void)
{
	memset(&g_view, 0, sizeof(g_view));
	assert_int_equal(netprobe_manager_lb_stats(g_m, collect_service, NULL), 0);
}

/* The service listed as text, read now; NULL when it is not listed. */
static const struct svc_view *find_service(const char *text)
{
	lb_refresh();
	for (int i = 0; i < g_view.n; i++)
		if (!strcmp(g_view.s[i].info.text, text))
			return &g_view.s[i];
	return NULL;
}

static const struct svc_view *service(const char *text)
{
	const struct svc_view *v = find_service(text);

	if (!v)
		fail_msg("service %s is not listed", text);
	return v;
}

static const struct netprobe_lb_backend_info *backend_in(const struct svc_view *v, const char *addr)
{
	for (size_t i = 0; i < v->info.nbackends; i++)
		if (!strcmp(v->be[i].text, addr))
			return &v->be[i];
	fail_msg("%s is not a backend of %s", addr, v->info.text);
	return NULL;
}

static void assert_counters(const struct netprobe_lb_counters *c, unsigned long long packets,
			    unsigned long long bytes, unsigned long long new_conns,
			    unsigned long long drops)
{
	assert_int_equal(c->packets, packets);
	assert_int_equal(c->bytes, bytes);
	assert_int_equal(c->new_conns, new_conns);
	assert_int_equal(c->drops, drops);
}

static void add_backends(const char *svc, int family, int n, const unsigned int *weights,
			 enum netprobe_lb_forward forward)
{
	for (int k = 0; k < n; k++) {
		struct netprobe_lb_backend_opts o = {
			.sz = sizeof(o), .weight = weights ? weights[k] : 1, .forward = forward};

		assert_int_equal(netprobe_lb_backend_add(
					 g_m, svc, family == 6 ? hosts[k].v6 : hosts[k].v4, &o),
				 0);
	}
}

static int pinned_map(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_path, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	return fd;
}

/* A frame's key in the connection table: its flow key without ifindex, direction, slot. */
static struct netprobe_flow_key conn_key(const struct pkt_spec *s)
{
	struct netprobe_flow_key key = {};

	addr_bytes(s->src, key.src_addr);
	addr_bytes(s->dst, key.dst_addr);
	key.src_port = htons(s->sport);
	key.dst_port = htons(s->dport);
	key.proto = s->proto;
	key.family = s->family == 6 ? NETPROBE_FAMILY_IPV6 : NETPROBE_FAMILY_IPV4;
	return key;
}

static bool conn_of(const struct pkt_spec *s, struct netprobe_lb_conn *conn)
{
	struct netprobe_flow_key key = conn_key(s);
	int fd = pinned_map("np_lb_conns");
	bool found = bpf_map_lookup_elem(fd, &key, conn) == 0;

	close(fd);
	return found;
}

/* The slot of the backend with address addr (in use); fails if there is none. */
static __u32 slot_of(const char *addr, struct netprobe_lb_backend *out)
{
	struct netprobe_lb_backend be;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	uint8_t a[16];
	int fd = pinned_map("np_lb_backends");

	addr_bytes(addr, a);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	for (__u32 i = 0; i < info.max_entries; i++) {
		if (bpf_map_lookup_elem(fd, &i, &be) == 0 && (be.flags & NETPROBE_LB_BE_IN_USE) &&
		    !memcmp(be.addr, a, 16)) {
			close(fd);
			if (out)
				*out = be;
			return i;
		}
	}
	close(fd);
	fail_msg("no backend slot holds %s", addr);
	return 0;
}

/* The backend slot the service's Maglev table holds at the frame's flow hash. */
static __u32 maglev_slot(const struct pkt_spec *s)
{
	struct netprobe_flow_key key = conn_key(s);
	struct netprobe_lb_vip_key vk = {};
	struct netprobe_lb_ring_chunk chunk;
	struct netprobe_lb_vip vip;
	int vips = pinned_map("np_lb_vips"), ring = pinned_map("np_lb_ring");
	__u32 pos, index;

	memcpy(vk.addr, key.dst_addr, 16);
	vk.port = key.dst_port;
	vk.proto = key.proto;
	vk.family = key.family;
	assert_int_equal(bpf_map_lookup_elem(vips, &vk, &vip), 0);
	pos = flow_hash(&key) % vip.ring_size;
	index = vip.ring_base + pos / NETPROBE_LB_RING_WORDS;
	assert_int_equal(bpf_map_lookup_elem(ring, &index, &chunk), 0);
	close(vips);
	close(ring);
	return chunk.backend[pos % NETPROBE_LB_RING_WORDS];
}

struct flow_find {
	struct netprobe_flow_key want;
	struct netprobe_flow_stats st;
	int matches, total;
};

static int match_flow(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *st,
		      void *ctx)
{
	struct flow_find *ff = ctx;

	/* Ingress only: TC egress records what the host sends (IPv6 MLD reports, ...). */
	if (k->direction != NETPROBE_DIR_INGRESS)
		return 0;
	ff->total++;
	if (!memcmp(k, &ff->want, sizeof(*k))) {
		ff->matches++;
		ff->st = *st;
	}
	return 0;
}

/* Whether the monitor's flow table holds the frame's flow (as the interface's ingress). */
static bool flow_recorded(const struct pkt_spec *s, struct netprobe_flow_stats *st, int *total)
{
	struct flow_find ff = {.want = conn_key(s)};
	struct netprobe_iface it;

	assert_int_equal(netprobe_manager_iface(g_m, g_ifname, &it), 0);
	ff.want.ifindex = g_ifindex;
	ff.want.slot = it.slot;
	ff.want.direction = NETPROBE_DIR_INGRESS;
	if (s->proto == IPPROTO_ICMP || s->proto == IPPROTO_ICMPV6) {
		ff.want.src_port = 0;
		ff.want.dst_port = htons(s->icmp_type << 8 | s->icmp_code);
	} else if (s->proto != IPPROTO_TCP && s->proto != IPPROTO_UDP) {
		ff.want.src_port = ff.want.dst_port = 0;
	}
	assert_int_equal(netprobe_manager_foreach_flow(g_m, match_flow, &ff), 0);
	if (st)
		*st = ff.st;
	if (total)
		*total = ff.total;
	return ff.matches == 1;
}

static int flow_count(void)
{
	struct flow_find ff = {};

	assert_int_equal(netprobe_manager_foreach_flow(g_m, match_flow, &ff), 0);
	return ff.total;
}

static double share(int part, int whole)
{
	return whole ? (double)part / whole : 0;
}

static bool near(double x, double want, double tolerance)
{
	return x >= want - tolerance && x <= want + tolerance;
}

/*
 * A service whose backend is on the segment the frames come from: its
 * first SYN leaves encapsulated where it came in (XDP_TX), from src (this
 * host's address there), to that backend's MAC, from the device's own.
 */
static void assert_tx_back(const char *svc, int family, const char *client, const char *vip,
			   const char *src)
{
	struct pkt_spec syn = tcp(client, vip, 40000, 80, SYN);
	size_t hdr = family == 4 ? 20 : 40;
	struct frame f = build(&syn);
	uint8_t addr[16];
	struct out o;

	assert_int_equal(netprobe_lb_service_add(g_m, svc), 0);
	assert_int_equal(
		netprobe_lb_backend_add(g_m, svc,
					family == 4 ? hosts[TX_HOST].v4 : hosts[TX_HOST].v6, NULL),
		0);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_TX);
	assert_int_equal(dest_of(&o), TX_HOST);
	assert_memory_equal(o.b + 6, mac_dut, 6);
	addr_bytes(src, addr);
	assert_memory_equal(o.b + 14 + (family == 4 ? 12 : 8), addr, family == 4 ? 4 : 16);
	assert_memory_equal(o.b + 14 + hdr, f.b + 14, f.len - 14);
}

/* ---- 1. IPv4 in IPv4 ------------------------------------------------------- */

static void test_ipv4_ipip(void **state)
{
	struct pkt_spec syn = tcp("192.0.2.10", VIP4, 40000, 80, SYN);
	struct netprobe_global_stats st;
	struct netprobe_lb_backend be;
	struct netprobe_lb_conn conn;
	const struct svc_view *v;
	__u32 slots[3];
	int k, used[3] = {};
	uint8_t addr[16];
	const uint8_t *ip;
	struct frame f;
	struct out o;

	(void)state;
	start_lb();
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	add_backends(SVC4, 4, 3, NULL, NETPROBE_LB_FORWARD_IPIP);

	/* DF and a DSCP on the inner header: the outer one takes both. */
	syn.ipv4_frag = 0x4000;
	f = build(&syn);
	f.b[15] = 0xb8;
	ipv4_fix_csum(f.b + 14);
	xdp_run(f.b, f.len, &o);
	assert_int_equal(o.verdict, XDP_REDIRECT); /* the route leaves by IF_BE */
	assert_int_equal(o.len, f.len + 20);
	k = dest_of(&o);
	assert_in_range(k, 0, 2);
	assert_memory_equal(o.b + 6, mac_be, 6);
	assert_int_equal(rd16(o.b + 12), 0x0800);
	ip = o.b + 14;
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(ip[1], 0xb8);
	assert_int_equal(rd16(ip + 2), rd16(f.b + 14 + 2) + 20);
	assert_int_equal(rd16(ip + 6), 0x4000);
	assert_int_equal(ip[8], 64);
	assert_int_equal(ip[9], IPPROTO_IPIP);
	addr_bytes(LB_SRC4, addr);
	assert_memory_equal(ip + 12, addr, 4);
	addr_bytes(hosts[k].v4, addr);
	assert_memory_equal(ip + 16, addr, 4);
	assert_int_equal(pkt_csum_fold(pkt_csum_add(0, ip, 20)), 0);
	assert_memory_equal(ip + 20, f.b + 14, f.len - 14);

	/* The flow is bound to that backend's slot and generation, as Maglev chose it. */
	assert_true(conn_of(&syn, &conn));
	assert_int_equal(conn.backend, slot_of(hosts[k].v4, &be));
	assert_int_equal(conn.gen, be.gen);
	assert_int_equal(conn.backend, maglev_slot(&syn));

	v = service(SVC4);
	assert_int_equal(v->info.nbackends, 3);
	assert_int_equal(v->info.table_size, 65537);
	assert_counters(&v->info.counters, 1, f.len, 1, 0);
	for (int j = 0; j < 3; j++) {
		const struct netprobe_lb_backend_info *b = backend_in(v, hosts[j].v4);

		assert_int_equal(b->weight, 1);
		assert_false(b->draining);
		assert_int_equal(b->forward, NETPROBE_LB_FORWARD_IPIP);
		if (j == k)
			assert_counters(&b->counters, 1, f.len, 1, 0);
		else
			assert_counters(&b->counters, 0, 0, 0, 0);
	}
	st = stats();
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.rx_bytes, f.len);
	assert_int_equal(st.counters.xdp_action[XDP_REDIRECT], 1);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_VIP_PACKETS], 1);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_FORWARDED], 1);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NEW_CONNS], 1);
	for (int c = NETPROBE_LBC_NO_BACKEND; c < NETPROBE_LBC_MAX; c++)
		assert_int_equal(st.counters.lb[c], 0);
	/* A service's flows are the connection table's, not the monitor's. */
	assert_int_equal(flow_count(), 0);

	/* No DF, no DSCP inside: none outside. */
	syn = tcp("192.0.2.11", VIP4, 40000, 80, SYN);
	f = build(&syn);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_REDIRECT);
	assert_int_equal(o.b[14 + 1], 0);
	assert_int_equal(rd16(o.b + 14 + 6), 0);
	assert_int_equal(pkt_csum_fold(pkt_csum_add(0, o.b + 14, 20)), 0);
	assert_memory_equal(o.b + 34, f.b + 14, f.len - 14);

	/* Every new flow takes the backend the Maglev table holds at its hash. */
	for (int j = 0; j < 3; j++)
		slots[j] = slot_of(hosts[j].v4, NULL);
	for (int i = 0; i < 300; i++) {
		struct flow fl = client(4, 0, i);
		struct pkt_spec s = flow_tcp(&fl, VIP4, SYN);
		int d = send_dest(&s);

		assert_in_range(d, 0, 2);
		assert_int_equal(slots[d], maglev_slot(&s));
		assert_true(conn_of(&s, &conn));
		assert_int_equal(conn.backend, slots[d]);
		used[d]++;
	}
	for (int j = 0; j < 3; j++)
		assert_true(used[j] > 50);

	/* A backend on the segment the frame came from: back out the same way. */
	assert_tx_back("10.99.0.5:80/tcp", 4, "192.0.2.10", "10.99.0.5", "10.77.0.1");
	st = stats();
	assert_int_equal(st.counters.xdp_action[XDP_TX], 1);
	assert_int_equal(st.counters.xdp_action[XDP_REDIRECT], 302);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_FORWARDED], 303);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NEW_CONNS], 303);
}

/* ---- 2. A flow stays on its backend ------------------------------------------ */

static void test_flow_sticks(void **state)
{
	struct pkt_spec syn = tcp("192.0.2.20", VIP4, 41000, 80, SYN);
	struct pkt_spec ack = syn, stray;
	static const uint8_t flags[] = {ACK, PSH | ACK, ACK, FIN | ACK, RST, SYN | ACK};
	unsigned long long bytes;
	struct netprobe_global_stats st;
	const struct svc_view *v;
	struct frame f;
	int dest;

	(void)state;
	start_lb();
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	add_backends(SVC4, 4, 3, NULL, NETPROBE_LB_FORWARD_IPIP);

	dest = send_dest(&syn);
	assert_in_range(dest, 0, 2);
	bytes = build(&syn).len;
	ack.payload = 100;
	for (int i = 1; i < 100; i++) {
		/* Anything but a bare SYN follows the connection table (an answer's SYN|ACK too). */
		ack.tcp_flags = flags[i % sizeof(flags)];
		f = build(&ack);
		assert_int_equal(send_dest(&ack), dest);
		bytes += f.len;
	}
	v = service(SVC4);
	assert_counters(&v->info.counters, 100, bytes, 1, 0);
	for (int j = 0; j < 3; j++)
		if (j == dest)
			assert_counters(&backend_in(v, hosts[j].v4)->counters, 100, bytes, 1, 0);
		else
			assert_counters(&backend_in(v, hosts[j].v4)->counters, 0, 0, 0, 0);
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_VIP_PACKETS], 100);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_FORWARDED], 100);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NEW_CONNS], 1);

	/* A flow met mid-way (no SYN seen: a restart) is a new one, placed by Maglev. */
	stray = tcp("192.0.2.21", VIP4, 41001, 80, ACK);
	assert_int_equal(slot_of(hosts[send_dest(&stray)].v4, NULL), maglev_slot(&stray));
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_NEW_CONNS], 2);
	assert_int_equal(service(SVC4)->info.counters.new_conns, 2);
}

/* ---- 3. Weights ------------------------------------------------------------- */

#define SPLIT_FLOWS 6000

static void test_weights_split(void **state)
{
	static const unsigned int w[3] = {1, 2, 3};
	int count[3] = {};
	unsigned int entries = 0;
	const struct svc_view *v;

	(void)state;
	start_lb();
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	add_backends(SVC4, 4, 3, w, NETPROBE_LB_FORWARD_IPIP);
	for (int i = 0; i < SPLIT_FLOWS; i++) {
		struct flow fl = client(4, i % 3, i);
		struct pkt_spec s = flow_tcp(&fl, VIP4, SYN);
		int d = send_dest(&s);

		assert_in_range(d, 0, 2);
		count[d]++;
	}
	v = service(SVC4);
	for (int k = 0; k < 3; k++) {
		const struct netprobe_lb_backend_info *b = backend_in(v, hosts[k].v4);
		double want = w[k] / 6.0;

		print_message("# weight %u: %d of %d flows (%.3f, want %.3f), %u table entries\n",
			      w[k], count[k], SPLIT_FLOWS, share(count[k], SPLIT_FLOWS), want,
			      b->table_entries);
		assert_true(near(share(count[k], SPLIT_FLOWS), want, 0.03));
		assert_true(near(share(b->table_entries, v->info.table_size), want, 0.005));
		assert_int_equal(b->weight, w[k]);
		assert_int_equal(b->counters.new_conns, count[k]);
		assert_int_equal(b->counters.packets, count[k]);
		entries += b->table_entries;
	}
	assert_int_equal(entries, v->info.table_size);
	assert_int_equal(v->info.counters.new_conns, SPLIT_FLOWS);

	/* A new weight moves the shares. */
	assert_int_equal(netprobe_lb_backend_set_weight(g_m, SVC4, hosts[0].v4, 6), 0);
	v = service(SVC4);
	assert_int_equal(backend_in(v, hosts[0].v4)->weight, 6);
	assert_true(near(share(backend_in(v, hosts[0].v4)->table_entries, v->info.table_size),
			 6 / 11.0, 0.005));
}

/* ---- 4. Backend changes: established flows stay, new flows move little ------ */

/*
 * The lab of the backend change tests: SVC4 over three backends of weight
 * 1, and n flows of client set 0 opened (a SYN each); dest[i] is where
 * flow i went.
 */
static void start_with_flows(struct flow *fl, int *dest, int n)
{
	start_lb();
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	add_backends(SVC4, 4, 3, NULL, NETPROBE_LB_FORWARD_IPIP);
	for (int i = 0; i < n; i++) {
		struct pkt_spec s;

		fl[i] = client(4, 0, i);
		s = flow_tcp(&fl[i], VIP4, SYN);
		dest[i] = send_dest(&s);
	}
}

#define CHURN_FLOWS 2000

static void test_backend_changes(void **state)
{
	static struct flow fl[CHURN_FLOWS];
	static int before[CHURN_FLOWS], after[CHURN_FLOWS];
	int moved = 0, to_new = 0, on_removed = 0, others_moved = 0;

	(void)state;
	start_with_flows(fl, before, CHURN_FLOWS);
	for (int i = 0; i < CHURN_FLOWS; i++)
		assert_in_range(before[i], 0, 2);

	/* A fourth backend: established flows stay where they are. */
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[3].v4, NULL), 0);
	for (int i = 0; i < CHURN_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, ACK);

		assert_int_equal(send_dest(&s), before[i]);
	}
	/* New connections on the same tuples: about a quarter move, to the new backend. */
	for (int i = 0; i < CHURN_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, SYN);

		after[i] = send_dest(&s);
		assert_in_range(after[i], 0, 3);
		moved += after[i] != before[i];
		to_new += after[i] == 3;
	}
	print_message("# adding a 4th backend: %d of %d new flows moved, %d to it\n", moved,
		      CHURN_FLOWS, to_new);
	assert_true(share(moved, CHURN_FLOWS) <= 0.25 + 0.02);
	assert_true(share(to_new, CHURN_FLOWS) >= 0.20);

	/* One of the four goes: only its flows choose again, established or new. */
	assert_int_equal(netprobe_lb_backend_del(g_m, SVC4, hosts[0].v4), 0);
	for (int i = 0; i < CHURN_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, ACK);
		int d = send_dest(&s);

		if (after[i] == 0)
			assert_in_range(d, 1, 3);
		else
			assert_int_equal(d, after[i]);
	}
	moved = 0;
	for (int i = 0; i < CHURN_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, SYN);
		int d = send_dest(&s);

		assert_in_range(d, 1, 3);
		moved += d != after[i];
		on_removed += after[i] == 0;
		others_moved += after[i] != 0 && d != after[i];
	}
	print_message("# removing one of 4: %d of %d new flows moved (%d had its backend)\n", moved,
		      CHURN_FLOWS, on_removed);
	assert_true(share(moved, CHURN_FLOWS) <= 0.25 + 0.02);
	assert_true(share(others_moved, CHURN_FLOWS) <= 0.02);
	assert_int_equal(service(SVC4)->info.nbackends, 3);
}

/* ---- 5. Drain ---------------------------------------------------------------- */

#define DRAIN_FLOWS 300

static void test_drain(void **state)
{
	static struct flow old[DRAIN_FLOWS], fresh[DRAIN_FLOWS];
	int bound[DRAIN_FLOWS], on_drained = 0, back = 0;
	const struct svc_view *v;
	unsigned int entries = 0;
	struct out o;

	(void)state;
	start_with_flows(old, bound, DRAIN_FLOWS);
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		fresh[i] = client(4, 1, i);
		on_drained += bound[i] == 1;
	}
	assert_true(on_drained > 0);

	assert_int_equal(netprobe_lb_backend_drain(g_m, SVC4, hosts[1].v4), 0);
	v = service(SVC4);
	assert_int_equal(v->info.nbackends, 3);
	assert_true(backend_in(v, hosts[1].v4)->draining);
	assert_int_equal(backend_in(v, hosts[1].v4)->table_entries, 0);
	assert_int_equal(backend_in(v, hosts[1].v4)->weight, 1);
	for (int k = 0; k < 3; k++)
		entries += backend_in(v, hosts[k].v4)->table_entries;
	assert_int_equal(entries, v->info.table_size);
	/* No new flow for it; its established ones stay. */
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fresh[i], VIP4, SYN);
		int d = send_dest(&s);

		assert_true(d == 0 || d == 2);
	}
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&old[i], VIP4, PSH | ACK);

		assert_int_equal(send_dest(&s), bound[i]);
	}
	/* A new connection on a tuple of one of its flows goes elsewhere. */
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&old[i], VIP4, SYN);

		if (bound[i] == 1) {
			bound[i] = send_dest(&s);
			assert_true(bound[i] == 0 || bound[i] == 2);
		}
	}

	/* A weight undrains it. */
	assert_int_equal(netprobe_lb_backend_set_weight(g_m, SVC4, hosts[1].v4, 1), 0);
	v = service(SVC4);
	assert_false(backend_in(v, hosts[1].v4)->draining);
	assert_true(near(share(backend_in(v, hosts[1].v4)->table_entries, v->info.table_size),
			 1 / 3.0, 0.01));
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		struct flow fl = client(4, 2, i);
		struct pkt_spec s = flow_tcp(&fl, VIP4, SYN);

		back += send_dest(&s) == 1;
	}
	assert_true(share(back, DRAIN_FLOWS) >= 0.2);

	/* Every backend drained: new flows have nowhere to go, established ones still do. */
	for (int k = 0; k < 3; k++)
		assert_int_equal(netprobe_lb_backend_drain(g_m, SVC4, hosts[k].v4), 0);
	{
		struct flow fl = client(4, 3, 0);
		struct pkt_spec s = flow_tcp(&fl, VIP4, SYN);

		assert_int_equal(send_spec(&s, &o), XDP_DROP);
		assert_int_equal(stats().counters.lb[NETPROBE_LBC_NO_BACKEND], 1);
	}
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&old[i], VIP4, ACK);

		assert_int_equal(send_dest(&s), bound[i]);
	}
}

/* ---- 5b. Drain and eviction: a flow that lost its entry stays -------------- */

/* Deletes a flow's connection entry, as the LRU does to an idle flow when new ones crowd in. */
static void evict(const struct pkt_spec *s)
{
	struct netprobe_flow_key key = conn_key(s);
	int fd = pinned_map("np_lb_conns");

	assert_int_equal(bpf_map_delete_elem(fd, &key), 0);
	close(fd);
}

static unsigned long long lb_count(enum netprobe_lb_counter c)
{
	return stats().counters.lb[c];
}

/*
 * Every flow of fl loses its entry and sends an ACK: where each goes. A
 * flow of a draining backend (drained[k]) must stay there; any other
 * takes what the current table says.
 */
static void evict_all(const struct flow *fl, const int *bound, int n, const bool *drained,
		      int *dest)
{
	for (int i = 0; i < n; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, ACK);

		evict(&s);
		dest[i] = send_dest(&s);
		if (drained[bound[i]])
			assert_int_equal(dest[i], bound[i]);
		else
			assert_int_equal(slot_of(hosts[dest[i]].v4, NULL), maglev_slot(&s));
	}
}

static void test_drain_eviction(void **state)
{
	static struct flow fl[DRAIN_FLOWS];
	int bound[DRAIN_FLOWS], dest[DRAIN_FLOWS], on[4] = {}, first = -1, d, not_w = 0;
	bool drained[4] = {false, true, false, false}, w_pos[DRAIN_FLOWS];
	unsigned long long new_conns, kept;
	struct netprobe_lb_backend x, w;
	struct netprobe_lb_conn conn;
	struct flow uf;
	struct pkt_spec s, u;
	__u32 slot;

	(void)state;
	start_with_flows(fl, bound, DRAIN_FLOWS);
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		on[bound[i]]++;
		if (bound[i] == 1 && first < 0)
			first = i;
	}
	assert_true(on[0] > 10 && on[1] > 10 && on[2] > 10);
	new_conns = lb_count(NETPROBE_LBC_NEW_CONNS);
	assert_int_equal(new_conns, DRAIN_FLOWS);

	/*
	 * A flow of the drained backend loses its entry: its next ACK goes
	 * there still (the current table names another), and the entry is
	 * written again. Not a new connection: the backend's server has it.
	 */
	assert_int_equal(netprobe_lb_backend_drain(g_m, SVC4, hosts[1].v4), 0);
	slot = slot_of(hosts[1].v4, &x);
	s = flow_tcp(&fl[first], VIP4, ACK);
	evict(&s);
	assert_int_not_equal(maglev_slot(&s), slot);
	assert_int_equal(send_dest(&s), 1);
	assert_true(conn_of(&s, &conn));
	assert_int_equal(conn.backend, slot);
	assert_int_equal(conn.gen, x.gen);
	assert_int_equal(lb_count(NETPROBE_LBC_DRAIN_KEPT), 1);
	assert_int_equal(lb_count(NETPROBE_LBC_NEW_CONNS), new_conns);
	assert_int_equal(backend_in(service(SVC4), hosts[1].v4)->counters.new_conns, on[1]);
	s.tcp_flags = PSH | ACK;
	assert_int_equal(send_dest(&s), 1);
	assert_int_equal(lb_count(NETPROBE_LBC_DRAIN_KEPT), 1);

	/* Every flow loses its entry: the drained backend's stay, the others take the table's. */
	evict_all(fl, bound, DRAIN_FLOWS, drained, dest);
	assert_int_equal(lb_count(NETPROBE_LBC_DRAIN_KEPT), 1 + on[1]);

	/* A second backend drains: the flows of both stay, each on its own. */
	assert_int_equal(netprobe_lb_backend_drain(g_m, SVC4, hosts[0].v4), 0);
	drained[0] = true;
	evict_all(fl, bound, DRAIN_FLOWS, drained, dest);
	assert_int_equal(lb_count(NETPROBE_LBC_DRAIN_KEPT), 1 + 2 * on[1] + on[0]);

	/* Undrained, it is in the current table again; its flows follow that, the other's stay. */
	assert_int_equal(netprobe_lb_backend_set_weight(g_m, SVC4, hosts[0].v4, 1), 0);
	drained[0] = false;
	kept = lb_count(NETPROBE_LBC_DRAIN_KEPT);
	evict_all(fl, bound, DRAIN_FLOWS, drained, dest);
	assert_int_equal(lb_count(NETPROBE_LBC_DRAIN_KEPT), kept + on[1]);

	/*
	 * A SYN on a drained flow's tuple is a new connection: the table's
	 * choice, never the drained backend; its packets follow it. The price
	 * of the rule: should it lose its entry while the backend drains, it
	 * goes to the drained backend (nothing tells it from the old flow).
	 */
	s = flow_tcp(&fl[first], VIP4, SYN);
	d = send_dest(&s);
	assert_int_not_equal(d, 1);
	assert_int_equal(slot_of(hosts[d].v4, NULL), maglev_slot(&s));
	s.tcp_flags = ACK;
	assert_int_equal(send_dest(&s), d);
	evict(&s);
	assert_int_equal(send_dest(&s), 1);

	/* Removed, it keeps nothing: its flows take the current table. */
	assert_int_equal(netprobe_lb_backend_del(g_m, SVC4, hosts[1].v4), 0);
	drained[1] = false;
	kept = lb_count(NETPROBE_LBC_DRAIN_KEPT);
	evict_all(fl, bound, DRAIN_FLOWS, drained, dest);
	for (int i = 0; i < DRAIN_FLOWS; i++)
		assert_int_not_equal(dest[i], 1);
	assert_int_equal(lb_count(NETPROBE_LBC_DRAIN_KEPT), kept);

	/*
	 * A new backend takes the freed slot, then drains: the flows it holds
	 * in the table stay with it, but the removed backend's positions in
	 * the previous table must not send flows to the slot's new tenant.
	 */
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[3].v4, NULL), 0);
	assert_int_equal(slot_of(hosts[3].v4, &w), slot);
	assert_int_equal(w.gen, x.gen + 1);
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		s = flow_tcp(&fl[i], VIP4, ACK);
		w_pos[i] = maglev_slot(&s) == slot;
		not_w += bound[i] == 1 && !w_pos[i];
	}
	assert_true(not_w > 0);
	assert_int_equal(netprobe_lb_backend_drain(g_m, SVC4, hosts[3].v4), 0);
	for (int i = 0; i < DRAIN_FLOWS; i++) {
		s = flow_tcp(&fl[i], VIP4, ACK);
		evict(&s);
		d = send_dest(&s);
		assert_int_equal(d == 3, w_pos[i]);
		if (!w_pos[i])
			assert_int_equal(slot_of(hosts[d].v4, NULL), maglev_slot(&s));
	}
	print_message("# %d flows of the removed backend were on positions its slot's new tenant "
		      "did not take, and did not go to it\n",
		      not_w);

	/*
	 * UDP is not kept: a datagram of a flow the table does not know may
	 * as well start a new one, and a drained backend must take none.
	 */
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.2:53/udp"), 0);
	add_backends("10.99.0.2:53/udp", 4, 3, NULL, NETPROBE_LB_FORWARD_IPIP);
	d = -1;
	for (int i = 0; i < 200 && d != 1; i++) {
		uf = client(4, 5, i);
		u = udp(uf.src, "10.99.0.2", uf.sport, 53);
		d = send_dest(&u);
	}
	assert_int_equal(d, 1);
	assert_int_equal(netprobe_lb_backend_drain(g_m, "10.99.0.2:53/udp", hosts[1].v4), 0);
	assert_int_equal(send_dest(&u), 1);
	kept = lb_count(NETPROBE_LBC_DRAIN_KEPT);
	evict(&u);
	assert_int_not_equal(send_dest(&u), 1);
	assert_true(conn_of(&u, &conn));
	assert_int_equal(conn.backend, maglev_slot(&u));
	assert_int_equal(lb_count(NETPROBE_LBC_DRAIN_KEPT), kept);
}

/*
 * The same under a flood, as an attacker would evict the entries: spoofed
 * flows (a SYN, then an ACK, each from a source of its own) through the
 * service after the drain, a million of them (the number; some 5 s
 * here; NP_TEST_LB_FLOOD=N for another) against the connection table's
 * default 131072 entries. Every held flow of the drained backend must
 * still reach it.
 */
#define HELD_FLOWS  300
#define FLOOD_FLOWS 1000000

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Spoofed flows first..end-1 (a SYN, then an ACK): how many went to backend k. */
static long spoof(long first, long end, int k)
{
	long to_k = 0;
	char src[32];

	for (long n = first; n < end; n++) {
		struct pkt_spec s;
		int d;

		/* 100.64.0.0/10, one address a flow. */
		snprintf(src, sizeof(src), "100.%u.%u.%u", (unsigned int)(64 + (n >> 16)) & 0xff,
			 (unsigned int)(n >> 8) & 0xff, (unsigned int)n & 0xff);
		s = tcp(src, VIP4, 40000, 80, SYN);
		d = send_dest(&s);
		to_k += d == k;
		s.tcp_flags = ACK;
		assert_int_equal(send_dest(&s), d);
	}
	return to_k;
}

static void test_drain_flood(void **state)
{
	static struct flow fl[HELD_FLOWS];
	const char *env = getenv("NP_TEST_LB_FLOOD");
	long flood = env ? atol(env) : FLOOD_FLOWS, to_drained = 0;
	int bound[HELD_FLOWS], on_drained = 0, evicted = 0, evicted_drained = 0, moved = 0;
	int ncpus, k = 0;
	struct netprobe_lb_conn conn;
	cpu_set_t all, one;
	double t0, t;

	(void)state;
	start_with_flows(fl, bound, HELD_FLOWS);
	for (int i = 0; i < HELD_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, ACK);

		assert_int_equal(send_dest(&s), bound[i]);
		on_drained += bound[i] == 1;
	}
	assert_true(on_drained > 10);
	assert_int_equal(netprobe_lb_backend_drain(g_m, SVC4, hosts[1].v4), 0);

	/*
	 * From every CPU in turn, as a NIC's queues spread a flood: the LRU
	 * keeps a CPU's newest entries on a list of that CPU's until it adds
	 * more, so a flood from one CPU may never reach the held flows.
	 */
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	ncpus = CPU_COUNT(&all);
	t0 = seconds();
	for (int cpu = 0; cpu < CPU_SETSIZE && k < ncpus; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
		to_drained += spoof(flood * k / ncpus, flood * (k + 1) / ncpus, 1);
		k++;
	}
	t = seconds() - t0;
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(to_drained, 0);

	for (int i = 0; i < HELD_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, ACK);

		if (!conn_of(&s, &conn)) {
			evicted++;
			evicted_drained += bound[i] == 1;
		}
	}
	for (int i = 0; i < HELD_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, PSH | ACK);
		int d = send_dest(&s);

		if (bound[i] == 1)
			assert_int_equal(d, 1);
		moved += d != bound[i];
	}
	print_message("# %ld spoofed flows (SYN and ACK) in %.1f s (%.2f us a packet); %d of %d "
		      "held flows evicted, %d of them the drained backend's; %d held flows moved "
		      "(none of the drained backend's)\n",
		      flood, t, t * 1e6 / (2.0 * flood), evicted, HELD_FLOWS, evicted_drained,
		      moved);
	/* The flood did evict them: the drained backend's came back by the previous table. */
	assert_true(evicted_drained > 0);
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_DRAIN_KEPT], evicted_drained);
}

/* ---- 6. Removal -------------------------------------------------------------- */

#define REMOVE_FLOWS 300

/* A service's own Maglev table size (a prime), or the config's; anything else refused. */
static void test_service_table_size(void **state)
{
	struct netprobe_lb_service_opts so = {.sz = sizeof(so), .table_size = 251};

	(void)state;
	start_lb();
	assert_int_equal(netprobe_lb_service_add_opts(g_m, "10.99.0.20:80/tcp", &so), 0);
	assert_int_equal(service("10.99.0.20:80/tcp")->info.table_size, 251);
	assert_int_equal(netprobe_lb_service_add_opts(g_m, "10.99.0.21:80/tcp", NULL), 0);
	assert_int_equal(service("10.99.0.21:80/tcp")->info.table_size, 65537);
	so.table_size = 250; /* not a prime */
	assert_int_equal(netprobe_lb_service_add_opts(g_m, "10.99.0.22:80/tcp", &so), -EINVAL);
	so.table_size = 97; /* a prime, too small to spread over backends */
	assert_int_equal(netprobe_lb_service_add_opts(g_m, "10.99.0.22:80/tcp", &so), -EINVAL);
	so.table_size = 1048583; /* a prime past the largest */
	assert_int_equal(netprobe_lb_service_add_opts(g_m, "10.99.0.22:80/tcp", &so), -EINVAL);
	so.table_size = 251;
	so.sz = 2;
	assert_int_equal(netprobe_lb_service_add_opts(g_m, "10.99.0.22:80/tcp", &so), -EINVAL);
	assert_null(find_service("10.99.0.22:80/tcp"));
}

static void test_removal(void **state)
{
	static struct flow fl[REMOVE_FLOWS];
	int bound[REMOVE_FLOWS], on_removed = 0, to_reuser = 0, rechosen = 0, late = 0;
	struct netprobe_lb_backend removed, reuser;
	unsigned long long new_conns;
	struct netprobe_lb_conn conn;
	__u32 slot, slots[4], gens[4];
	const struct svc_view *v;

	(void)state;
	start_with_flows(fl, bound, REMOVE_FLOWS);
	for (int i = 0; i < REMOVE_FLOWS; i++)
		on_removed += bound[i] == 1;
	assert_true(on_removed > 10);
	slot = slot_of(hosts[1].v4, &removed);
	new_conns = stats().counters.lb[NETPROBE_LBC_NEW_CONNS];
	assert_int_equal(new_conns, REMOVE_FLOWS);

	assert_int_equal(netprobe_lb_backend_del(g_m, SVC4, hosts[1].v4), 0);
	v = service(SVC4);
	assert_int_equal(v->info.nbackends, 2);
	assert_int_equal(backend_in(v, hosts[0].v4)->table_entries +
				 backend_in(v, hosts[2].v4)->table_entries,
			 v->info.table_size);
	/* Half of its flows send now: they choose again, and are new connections. */
	for (int i = 0; i < REMOVE_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, ACK);
		int d;

		if (bound[i] == 1 && i % 2)
			continue;
		d = send_dest(&s);
		if (bound[i] == 1) {
			assert_true(d == 0 || d == 2);
			bound[i] = d;
			rechosen++;
		} else {
			assert_int_equal(d, bound[i]);
		}
	}
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_NEW_CONNS], new_conns + rechosen);

	/*
	 * A new backend takes the freed slot, a generation later: the flows
	 * still bound to the old one (they have not sent since) must not
	 * follow the slot to it, but choose again as any new flow would.
	 */
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[3].v4, NULL), 0);
	assert_int_equal(slot_of(hosts[3].v4, &reuser), slot);
	assert_int_equal(reuser.gen, removed.gen + 1);
	for (int k = 0; k < 4; k++) {
		struct netprobe_lb_backend b = {};

		slots[k] = k == 1 ? (__u32)-1 : slot_of(hosts[k].v4, &b);
		gens[k] = b.gen;
	}
	for (int i = 0; i < REMOVE_FLOWS; i++) {
		struct pkt_spec s = flow_tcp(&fl[i], VIP4, ACK);
		int d = send_dest(&s);

		assert_in_range(d, 0, 3);
		assert_int_not_equal(d, 1);
		if (bound[i] != 1) {
			assert_int_equal(d, bound[i]);
			continue;
		}
		assert_int_equal(slots[d], maglev_slot(&s));
		assert_true(conn_of(&s, &conn));
		assert_int_equal(conn.backend, slots[d]);
		assert_int_equal(conn.gen, gens[d]);
		to_reuser += d == 3;
		late++;
	}
	print_message("# %d flows of the removed backend chose again after its slot was reused, "
		      "%d of them the new backend\n",
		      late, to_reuser);
	/*
	 * The new backend takes over much of the removed one's table, so many
	 * of them go to it anyway; a stale binding would send them all there.
	 * Some going elsewhere is what tells the two apart.
	 */
	assert_true(late > 5);
	assert_true(to_reuser < late);
	assert_int_equal(rechosen + late, on_removed);
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_NEW_CONNS], new_conns + on_removed);
}

/* ---- 7. IPv6 in IPv6; UDP services ------------------------------------------ */

static void test_ipv6_and_udp(void **state)
{
	struct pkt_spec syn = tcp("2001:db8:c::10", VIP6, 40000, 80, SYN), u;
	struct netprobe_flow_key key;
	struct netprobe_lb_conn conn;
	uint32_t first_word, label;
	uint8_t addr[16];
	const uint8_t *ip;
	struct frame f;
	struct out o;
	int k, d;

	(void)state;
	start_lb();
	assert_int_equal(netprobe_lb_service_add(g_m, SVC6), 0);
	add_backends(SVC6, 6, 2, NULL, NETPROBE_LB_FORWARD_IPIP);

	syn.payload = 32;
	f = build(&syn);
	/* Traffic class 0x2a and flow label 0x12345 inside (the pseudo-header has neither). */
	f.b[14] = 0x62;
	f.b[15] = 0xa1;
	f.b[16] = 0x23;
	f.b[17] = 0x45;
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_REDIRECT);
	assert_int_equal(o.len, f.len + 40);
	k = dest_of(&o);
	assert_in_range(k, 0, 1);
	assert_memory_equal(o.b + 6, mac_be, 6);
	assert_int_equal(rd16(o.b + 12), 0x86dd);
	ip = o.b + 14;
	first_word = (uint32_t)ip[0] << 24 | ip[1] << 16 | ip[2] << 8 | ip[3];
	assert_int_equal(first_word >> 28, 6);
	assert_int_equal((first_word >> 20) & 0xff, 0x2a);
	key = conn_key(&syn);
	label = flow_hash(&key) & 0xfffff;
	assert_int_equal(first_word & 0xfffff, label);
	assert_int_equal(rd16(ip + 4), f.len - 14);
	assert_int_equal(ip[6], IPPROTO_IPV6);
	assert_int_equal(ip[7], 64);
	addr_bytes(LB_SRC6, addr);
	assert_memory_equal(ip + 8, addr, 16);
	addr_bytes(hosts[k].v6, addr);
	assert_memory_equal(ip + 24, addr, 16);
	assert_memory_equal(ip + 40, f.b + 14, f.len - 14);
	assert_true(conn_of(&syn, &conn));
	assert_int_equal(conn.backend, slot_of(hosts[k].v6, NULL));
	assert_int_equal(conn.backend, maglev_slot(&syn));
	/* The same flow's packets carry the same label. */
	syn.tcp_flags = ACK;
	assert_int_equal(send_spec(&syn, &o), XDP_REDIRECT);
	assert_int_equal(dest_of(&o), k);
	assert_int_equal((o.b[15] & 0xf) << 16 | o.b[16] << 8 | o.b[17], label);
	assert_counters(&service(SVC6)->info.counters, 2, 2 * f.len, 1, 0);

	/* A backend on the clients' segment: back out where it came in, from that address. */
	assert_tx_back("[fd99::5]:80/tcp", 6, "2001:db8:c::10", "fd99::5", "fd77::1");

	/* UDP services, IPv4 and IPv6: a datagram flow sticks to its backend too. */
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.2:53/udp"), 0);
	add_backends("10.99.0.2:53/udp", 4, 3, NULL, NETPROBE_LB_FORWARD_IPIP);
	assert_int_equal(netprobe_lb_service_add(g_m, "[fd99::2]:53/udp"), 0);
	add_backends("[fd99::2]:53/udp", 6, 3, NULL, NETPROBE_LB_FORWARD_IPIP);
	u = udp("192.0.2.12", "10.99.0.2", 5353, 53);
	f = build(&u);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_REDIRECT);
	assert_int_equal(o.len, f.len + 20);
	assert_int_equal(o.b[14 + 9], IPPROTO_IPIP);
	assert_memory_equal(o.b + 34, f.b + 14, f.len - 14);
	d = dest_of(&o);
	assert_in_range(d, 0, 2);
	for (int i = 0; i < 5; i++)
		assert_int_equal(send_dest(&u), d);
	assert_counters(&service("10.99.0.2:53/udp")->info.counters, 6, 6 * f.len, 1, 0);
	u = udp("2001:db8:c::12", "fd99::2", 5353, 53);
	f = build(&u);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_REDIRECT);
	assert_int_equal(o.len, f.len + 40);
	assert_int_equal(o.b[14 + 6], IPPROTO_IPV6);
	assert_memory_equal(o.b + 54, f.b + 14, f.len - 14);
	d = dest_of(&o);
	assert_in_range(d, 0, 2);
	assert_int_equal(send_dest(&u), d);
	assert_counters(&service("[fd99::2]:53/udp")->info.counters, 2, 2 * f.len, 1, 0);

	/* The protocol is part of the service: TCP to the UDP service's port is not for it. */
	u = tcp("192.0.2.12", "10.99.0.2", 5353, 53, SYN);
	f = build(&u);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_PASS);
	assert_unchanged(&f, &o);
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_VIP_PACKETS], 2 + 1 + 6 + 2);
}

/* ---- 8. Layer 2 forwarding ---------------------------------------------------- */

static void test_l2_forwarding(void **state)
{
	const struct pkt_spec specs[] = {
		tcp("192.0.2.30", VIP4, 40000, 80, SYN),
		tcp("2001:db8:c::30", VIP6, 40000, 80, SYN),
		tcp("192.0.2.30", "10.99.0.5", 40000, 80, SYN),
	};
	const struct svc_view *v;
	struct frame f;
	struct out o;

	(void)state;
	start_lb();
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	add_backends(SVC4, 4, 3, NULL, NETPROBE_LB_FORWARD_L2);
	assert_int_equal(netprobe_lb_service_add(g_m, SVC6), 0);
	add_backends(SVC6, 6, 3, NULL, NETPROBE_LB_FORWARD_L2);
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.5:80/tcp"), 0);
	{
		struct netprobe_lb_backend_opts opts = {
			.sz = sizeof(opts), .weight = 5, .forward = NETPROBE_LB_FORWARD_L2};

		assert_int_equal(
			netprobe_lb_backend_add(g_m, "10.99.0.5:80/tcp", hosts[TX_HOST].v4, &opts),
			0);
	}
	v = service(SVC4);
	assert_int_equal(backend_in(v, hosts[0].v4)->forward, NETPROBE_LB_FORWARD_L2);

	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		int d;

		f = build(&specs[i]);
		xdp_run(f.b, f.len, &o);
		assert_int_equal(o.verdict, i == 2 ? XDP_TX : XDP_REDIRECT);
		/* The frame as it came, to the backend's MAC, from the egress device's. */
		assert_int_equal(o.len, f.len);
		d = sent_to(&o, false);
		assert_in_range(d, i == 2 ? TX_HOST : 0, i == 2 ? TX_HOST : 2);
		assert_memory_equal(o.b + 6, i == 2 ? mac_dut : mac_be, 6);
		assert_memory_equal(o.b + 12, f.b + 12, f.len - 12);
		assert_true(conn_of(&specs[i], &(struct netprobe_lb_conn){0}));
	}
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_FORWARDED], 3);
	assert_int_equal(stats().counters.xdp_action[XDP_TX], 1);
}

/* ---- 9. What is not for a service; no backend; fragments; malformed ---------- */

static void test_not_forwarded(void **state)
{
	struct pkt_spec other[] = {
		tcp("192.0.2.40", VIP4, 40000, 81, SYN),	/* another port */
		tcp("192.0.2.40", "10.99.0.9", 40000, 80, SYN), /* another address */
		udp("192.0.2.40", VIP4, 40000, 80),		/* another protocol, same port */
		{.family = 4,
		 .src = "192.0.2.40",
		 .dst = VIP4,
		 .proto = IPPROTO_ICMP,
		 .icmp_type = 8,
		 .payload = 16},
		{.family = 4, .src = "192.0.2.40", .dst = VIP4, .proto = 47, .payload = 16},
		tcp("2001:db8:c::40", VIP6, 40000, 81, SYN),
		{.family = 6,
		 .src = "2001:db8:c::40",
		 .dst = VIP6,
		 .proto = IPPROTO_ICMPV6,
		 .icmp_type = 128,
		 .payload = 16},
	};
	const int nother = sizeof(other) / sizeof(other[0]);
	struct pkt_spec s, first_frag, later_frag, frag6, tagged;
	struct netprobe_global_stats st;
	struct netprobe_flow_stats fs;
	const struct svc_view *v;
	unsigned long long vip_packets, malformed, passes;
	int total;
	struct frame f;
	struct out o;

	(void)state;
	start_lb();
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	add_backends(SVC4, 4, 3, NULL, NETPROBE_LB_FORWARD_IPIP);
	assert_int_equal(netprobe_lb_service_add(g_m, SVC6), 0);
	add_backends(SVC6, 6, 3, NULL, NETPROBE_LB_FORWARD_IPIP);

	/* Not for a service: passes as it is, and the monitor records its flow. */
	for (int i = 0; i < nother; i++) {
		f = build(&other[i]);
		assert_int_equal(xdp_run(f.b, f.len, &o), XDP_PASS);
		assert_unchanged(&f, &o);
		assert_true(flow_recorded(&other[i], &fs, NULL));
		assert_int_equal(fs.packets, 1);
		assert_int_equal(fs.bytes, f.len);
	}
	assert_int_equal(flow_count(), nother);
	st = stats();
	assert_int_equal(st.rx_packets, nother);
	assert_int_equal(st.counters.xdp_action[XDP_PASS], nother);
	for (int c = 0; c < NETPROBE_LBC_MAX; c++)
		assert_int_equal(st.counters.lb[c], 0);

	/* A service without backends drops, and says so. */
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.3:80/tcp"), 0);
	s = tcp("192.0.2.41", "10.99.0.3", 40000, 80, SYN);
	f = build(&s);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_DROP);
	s.tcp_flags = ACK;
	assert_int_equal(send_spec(&s, &o), XDP_DROP);
	v = service("10.99.0.3:80/tcp");
	assert_int_equal(v->info.nbackends, 0);
	assert_counters(&v->info.counters, 2, 2 * f.len, 0, 2);
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NO_BACKEND], 2);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_VIP_PACKETS], 2);
	assert_int_equal(st.counters.xdp_action[XDP_DROP], 2);
	/* Dropped, so not in the flow table (a flood would flush it). */
	assert_false(flow_recorded(&s, NULL, &total));
	assert_int_equal(total, nother);

	/* Fragments and VLAN-tagged frames for a service go to the kernel as they are. */
	first_frag = tcp("192.0.2.42", VIP4, 40000, 80, SYN);
	first_frag.ipv4_frag = 0x2000; /* MF, offset 0: the ports are there */
	later_frag = first_frag;
	later_frag.ipv4_frag = 0x0004; /* offset 32 bytes, last */
	frag6 = tcp("2001:db8:c::42", VIP6, 40000, 80, SYN);
	frag6.ipv6_ext_count = 1;
	frag6.ipv6_ext[0] = IPPROTO_FRAGMENT;
	frag6.ipv6_frag = 1; /* offset 0, M */
	tagged = tcp("192.0.2.42", VIP4, 40000, 80, SYN);
	tagged.vlan_tags = 1;
	tagged.vlan_id[0] = 100;
	vip_packets = stats().counters.lb[NETPROBE_LBC_VIP_PACKETS];
	passes = stats().counters.xdp_action[XDP_PASS];
	{
		const struct pkt_spec *unsupported[] = {&first_frag, &frag6, &tagged};

		for (int i = 0; i < 3; i++) {
			f = build(unsupported[i]);
			assert_int_equal(xdp_run(f.b, f.len, &o), XDP_PASS);
			assert_unchanged(&f, &o);
		}
	}
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_UNSUPPORTED], 3);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_VIP_PACKETS], vip_packets + 3);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_FORWARDED], 0);
	/* A later fragment has no ports: it passes too. */
	f = build(&later_frag);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_PASS);
	assert_unchanged(&f, &o);
	assert_int_equal(stats().counters.xdp_action[XDP_PASS], passes + 4);

	/* Malformed frames for a service: never forwarded, counted as malformed. */
	s = tcp("192.0.2.43", VIP4, 40000, 80, SYN);
	s.payload = 8;
	vip_packets = stats().counters.lb[NETPROBE_LBC_VIP_PACKETS];
	malformed = stats().malformed;
	{
		struct frame good = build(&s);
		struct frame bad[5];

		/* TCP header cut short (lengths consistent) */
		bad[0] = good;
		bad[0].len = 14 + 20 + 12;
		bad[0].b[14 + 3] = 32;
		ipv4_fix_csum(bad[0].b + 14);
		/* IPv4 header cut short */
		bad[1] = good;
		bad[1].len = 14 + 12;
		/* total length past the frame */
		bad[2] = good;
		bad[2].b[14 + 2] = 0x05;
		ipv4_fix_csum(bad[2].b + 14);
		/* TCP data offset under 5 */
		bad[3] = good;
		bad[3].b[14 + 20 + 12] = 0x30;
		/* Ethernet header only */
		bad[4] = good;
		bad[4].len = 14;
		for (int i = 0; i < 5; i++) {
			xdp_run(bad[i].b, bad[i].len, &o);
			assert_int_equal(o.verdict, XDP_PASS);
			assert_unchanged(&bad[i], &o);
		}
		/* and the same frame whole is forwarded */
		assert_int_equal(xdp_run(good.b, good.len, &o), XDP_REDIRECT);
	}
	st = stats();
	assert_int_equal(st.malformed, malformed + 5);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_VIP_PACKETS], vip_packets + 1);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_FORWARDED], 1);
}

/* ---- 10. Next hop unresolved; no route; too big ---------------------------------- */

static void test_neighbour_and_route(void **state)
{
	struct netprobe_lb_backend_opts l2 = {
		.sz = sizeof(l2), .weight = 1, .forward = NETPROBE_LB_FORWARD_L2};
	struct netprobe_global_stats st;
	const struct svc_view *v;
	struct pkt_spec s;
	uint8_t addr[16];
	struct frame f;
	struct out o;

	(void)state;
	/* Every packet looks its route up: the changes below must show at once. */
	struct netprobe_config cfg;

	base_config(&cfg);
	cfg.lb_route_cache_ms = 0;
	start(&cfg, IF_DUT);

	/*
	 * IP-in-IP: encapsulated, and handed to TC in the frame's metadata (which
	 * BPF_PROG_RUN returns in front of the frame; or in a map, where the
	 * kernel refuses XDP metadata) to send once the kernel has resolved
	 * the next hop.
	 */
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.7:80/tcp"), 0);
	assert_int_equal(netprobe_lb_backend_add(g_m, "10.99.0.7:80/tcp", NO_NEIGH4, NULL), 0);
	s = tcp("192.0.2.50", "10.99.0.7", 40000, 80, SYN);
	f = build(&s);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_PASS);
	take_handoff(&o, 4, NO_NEIGH4);
	assert_int_equal(o.len, f.len + 20);
	assert_memory_equal(o.b, f.b, 12); /* the MACs are the kernel's to fill in */
	assert_int_equal(rd16(o.b + 12), 0x0800);
	assert_int_equal(o.b[14], 0x45);
	assert_int_equal(o.b[14 + 9], IPPROTO_IPIP);
	addr_bytes(LB_SRC4, addr);
	assert_memory_equal(o.b + 14 + 12, addr, 4);
	addr_bytes(NO_NEIGH4, addr);
	assert_memory_equal(o.b + 14 + 16, addr, 4);
	assert_int_equal(pkt_csum_fold(pkt_csum_add(0, o.b + 14, 20)), 0);
	assert_memory_equal(o.b + 34, f.b + 14, f.len - 14);
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NEIGH_MISS], 1);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_FORWARDED], 0);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NEW_CONNS], 1);
	assert_int_equal(st.counters.xdp_action[XDP_PASS], 1);
	v = service("10.99.0.7:80/tcp");
	assert_counters(&backend_in(v, NO_NEIGH4)->counters, 1, f.len, 1, 0);

	/* The same for IPv6. */
	assert_int_equal(netprobe_lb_service_add(g_m, "[fd99::7]:80/tcp"), 0);
	assert_int_equal(netprobe_lb_backend_add(g_m, "[fd99::7]:80/tcp", NO_NEIGH6, NULL), 0);
	s = tcp("2001:db8:c::50", "fd99::7", 40000, 80, SYN);
	f = build(&s);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_PASS);
	take_handoff(&o, 6, NO_NEIGH6);
	assert_int_equal(o.len, f.len + 40);
	assert_memory_equal(o.b, f.b, 12);
	assert_int_equal(o.b[14 + 6], IPPROTO_IPV6);
	addr_bytes(NO_NEIGH6, addr);
	assert_memory_equal(o.b + 14 + 24, addr, 16);
	assert_memory_equal(o.b + 54, f.b + 14, f.len - 14);
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_NEIGH_MISS], 2);

	/* Layer 2: the frame as it is, handed over the same way. */
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.8:80/tcp"), 0);
	assert_int_equal(netprobe_lb_backend_add(g_m, "10.99.0.8:80/tcp", NO_NEIGH4, &l2), 0);
	s = tcp("192.0.2.50", "10.99.0.8", 40000, 80, SYN);
	f = build(&s);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_PASS);
	take_handoff(&o, 4, NO_NEIGH4);
	assert_int_equal(o.len, f.len);
	assert_memory_equal(o.b, f.b, f.len);
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NEIGH_MISS], 3);
	v = service("10.99.0.8:80/tcp");
	assert_counters(&backend_in(v, NO_NEIGH4)->counters, 1, f.len, 1, 0);
	assert_counters(&v->info.counters, 1, f.len, 1, 0);

	/* A neighbour that goes away under an established flow. */
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	add_backends(SVC4, 4, 1, NULL, NETPROBE_LB_FORWARD_IPIP);
	s = tcp("192.0.2.51", VIP4, 40000, 80, SYN);
	assert_int_equal(send_dest(&s), 0);
	run("ip neigh del %s dev %s", hosts[0].v4, IF_BE);
	s.tcp_flags = ACK;
	f = build(&s);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_PASS);
	take_handoff(&o, 4, hosts[0].v4);
	assert_int_equal(o.len, f.len + 20);
	addr_bytes(hosts[0].v4, addr);
	assert_memory_equal(o.b + 14 + 16, addr, 4);
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_NEIGH_MISS], 4);
	reset_topology();

	/* Forwarding off on the ingress device: the route lookup fails, the frame is dropped. */
	set_sysctl("ipv4/conf/" IF_DUT "/forwarding", "0");
	s = tcp("192.0.2.52", VIP4, 40000, 80, SYN);
	assert_int_equal(send_spec(&s, &o), XDP_DROP);
	set_sysctl("ipv4/conf/" IF_DUT "/forwarding", "1");
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_FIB_DROPS], 1);
	assert_int_equal(send_dest(&s), 0);

	/*
	 * Too big for the egress MTU once encapsulated (20 bytes more; l2 adds
	 * nothing): the client is told the MTU that fits (with DF: without, it
	 * is just dropped, as the packet could only be fragmented).
	 */
	run("ip link set %s mtu 1400", IF_BE);
	s = tcp("192.0.2.53", VIP4, 40000, 80, SYN);
	s.payload = 1381 - 40;
	assert_int_equal(send_spec(&s, &o), XDP_DROP);
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_TOO_BIG_DROPS], 1);
	s.ipv4_frag = 0x4000; /* DF */
	f = build(&s);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_TX);
	assert_too_big(&f, &o, 1380);
	s.payload = 1380 - 40;
	assert_int_equal(send_spec(&s, &o), XDP_REDIRECT);
	assert_int_equal(o.len, 14 + 1400);
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.9:80/tcp"), 0);
	assert_int_equal(netprobe_lb_backend_add(g_m, "10.99.0.9:80/tcp", hosts[1].v4, &l2), 0);
	s = tcp("192.0.2.53", "10.99.0.9", 40000, 80, SYN);
	s.ipv4_frag = 0x4000;
	s.payload = 1401 - 40;
	f = build(&s);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_TX);
	assert_too_big(&f, &o, 1400);
	s.payload = 1400 - 40;
	assert_int_equal(send_spec(&s, &o), XDP_REDIRECT);
	assert_int_equal(sent_to(&o, false), 1);
	/* IPv6 in IPv6: 40 bytes more; IPv6 is never fragmented on the way. */
	assert_int_equal(netprobe_lb_service_add(g_m, SVC6), 0);
	add_backends(SVC6, 6, 1, NULL, NETPROBE_LB_FORWARD_IPIP);
	s = tcp("2001:db8:c::53", VIP6, 40000, 80, SYN);
	s.payload = 1361 - 60;
	f = build(&s);
	assert_int_equal(xdp_run(f.b, f.len, &o), XDP_TX);
	assert_too_big(&f, &o, 1360);
	s.payload = 1360 - 60;
	assert_int_equal(send_spec(&s, &o), XDP_REDIRECT);
	assert_int_equal(o.len, 14 + 1400);
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_TOO_BIG_DROPS], 4);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_FIB_DROPS], 1);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NEIGH_MISS], 4);
	v = service(SVC4);
	assert_int_equal(backend_in(v, hosts[0].v4)->counters.drops, 3);
}

/* ---- 10b. What the kernel does with a frame left to it ------------------------ */

/* Sends a frame into the peer of the device it is for: XDP runs on it for real. */
static void inject(const uint8_t *frame, size_t len)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET, .sll_ifindex = if_nametoindex(IF_PEER), .sll_halen = 6};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sll.sll_addr, frame, 6);
	assert_int_equal(sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)),
			 (ssize_t)len);
	close(fd);
}

/* Whether the load balancer's side has a neighbour entry (in any state) for addr. */
static bool neighbour_exists(const char *addr)
{
	char cmd[128], line[256] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip neigh show %s dev %s 2>/dev/null", addr, IF_BE);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	pclose(p);
	return line[0] != '\0';
}

/*
 * A frame whose next hop is unresolved is handed to TC, which sends it with
 * bpf_redirect_neigh: the kernel starts resolving the next hop. Real frames,
 * through the veth: the programs run as attached.
 */
static void test_neighbour_miss_handed_to_tc(void **state)
{
	const struct {
		const char *svc, *client, *vip, *backend;
	} cases[] = {
		{"[fd99::7]:80/tcp", "2001:db8:c::80", "fd99::7", NO_NEIGH6},
		{"10.99.0.7:80/tcp", "192.0.2.80", "10.99.0.7", NO_NEIGH4},
	};

	(void)state;
	start_lb();
	for (int i = 0; i < 2; i++) {
		struct pkt_spec s = tcp(cases[i].client, cases[i].vip, 40000, 80, SYN);
		struct frame f = build(&s);
		unsigned long long misses, tc0;

		assert_int_equal(netprobe_lb_service_add(g_m, cases[i].svc), 0);
		assert_int_equal(netprobe_lb_backend_add(g_m, cases[i].svc, cases[i].backend, NULL),
				 0);
		/* Adding a backend pings it; this one never answers: start from no entry. */
		quiet("ip neigh del %s dev %s", cases[i].backend, IF_BE);
		assert_false(neighbour_exists(cases[i].backend));
		memcpy(f.b, mac_dut, 6);
		memcpy(f.b + 6, mac_peer, 6);
		misses = stats().counters.lb[NETPROBE_LBC_NEIGH_MISS];
		tc0 = stats().counters.hook[NETPROBE_HOOK_TC_INGRESS].v[NETPROBE_HC_PACKETS];
		inject(f.b, f.len);
		for (int waited = 0; waited < 100 && !neighbour_exists(cases[i].backend); waited++)
			usleep(10000);
		/*
		 * XDP took the unresolved-neighbour path, TC saw the frame, and
		 * resolution began: routed, the IPv4 frame would have been dropped
		 * as a martian (its outer source is this host), resolving nothing.
		 */
		assert_int_equal(stats().counters.lb[NETPROBE_LBC_NEIGH_MISS], misses + 1);
		assert_true(stats().counters.hook[NETPROBE_HOOK_TC_INGRESS].v[NETPROBE_HC_PACKETS] >
			    tc0);
		assert_true(neighbour_exists(cases[i].backend));
	}
}

/*
 * The same two where the kernel refuses XDP metadata, on any kernel: the
 * programs are loaded as for such a kernel, and hand over through a map.
 */
static void test_neighbour_and_route_by_map(void **state)
{
	np_kernel_assume(NP_KF_XDP_META, 0);
	test_neighbour_and_route(state);
}

static void test_neighbour_miss_by_map(void **state)
{
	np_kernel_assume(NP_KF_XDP_META, 0);
	test_neighbour_miss_handed_to_tc(state);
}

/* After those: the kernel is asked again. */
static int teardown_probe_again(void **state)
{
	np_kernel_assume(NP_KF_XDP_META, -1);
	return teardown(state);
}

/*
 * An ICMP error from a router (source rtr) to the service's address about a
 * backend's reply to client f: it quotes that reply's IP header and ports.
 */
static struct frame icmp_error_about(const struct flow *f, const char *vip, const char *rtr,
				     size_t more)
{
	bool v4 = !strchr(vip, ':');
	struct pkt_spec s = {.family = v4 ? 4 : 6,
			     .src = rtr,
			     .dst = vip,
			     .proto = v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
			     .icmp_type = v4 ? 3 : 2, /* fragmentation needed; packet too big */
			     .icmp_code = v4 ? 4 : 0,
			     .payload = (v4 ? 20 + 8 - 4 : 40 + 8 - 4) + more,
			     .ipv4_frag = 0x4000 /* DF */};
	struct frame fr = build(&s);
	uint8_t *in = fr.b + 14 + (v4 ? 20 : 40) + 8;
	uint16_t vport = htons(80), cport = htons(f->sport);

	/* The quoted reply: from the service to the client, TCP from port 80. */
	memset(in, 0, v4 ? 20 : 40);
	if (v4) {
		in[0] = 0x45;
		in[9] = IPPROTO_TCP;
		addr_bytes(vip, in + 12);
		addr_bytes(f->src, in + 16);
	} else {
		in[0] = 0x60;
		in[6] = IPPROTO_TCP;
		addr_bytes(vip, in + 8);
		addr_bytes(f->src, in + 24);
	}
	memcpy(in + (v4 ? 20 : 40), &vport, 2);
	memcpy(in + (v4 ? 22 : 42), &cport, 2);
	return fr;
}

/*
 * ICMP errors about a service's flow (a router could not pass a backend's
 * reply on) go to the backend holding that flow, which alone can act on
 * them; nothing else about ICMP changes.
 */
static void test_icmp_errors_follow_flows(void **state)
{
	static const char *const vips[] = {VIP4, VIP6};
	static const char *const svcs[] = {SVC4, SVC6};
	static const char *const rtrs[] = {"192.0.2.254", "2001:db8:ff::1"};
	struct netprobe_global_stats st;
	struct out o;

	(void)state;
	start_lb();
	for (int v = 0; v < 2; v++) {
		int family = v ? 6 : 4, seen[4] = {};

		assert_int_equal(netprobe_lb_service_add(g_m, svcs[v]), 0);
		add_backends(svcs[v], family, 3, NULL, NETPROBE_LB_FORWARD_IPIP);
		for (int i = 0; i < 60; i++) {
			struct flow f = client(family, 7, i);
			struct pkt_spec syn = flow_tcp(&f, vips[v], SYN);
			struct frame err = icmp_error_about(&f, vips[v], rtrs[v], 0);
			int k = send_dest(&syn);

			assert_true(k >= 0 && k < 3);
			seen[k]++;
			assert_int_equal(xdp_run(err.b, err.len, &o), XDP_REDIRECT);
			assert_int_equal(dest_of(&o), k);
			/* The ICMP message itself, in the tunnel. */
			assert_int_equal(o.len, err.len + (v ? 40 : 20));
			assert_memory_equal(o.b + 14 + (v ? 40 : 20), err.b + 14, err.len - 14);
		}
		for (int k = 0; k < 3; k++)
			assert_true(seen[k] > 5);
	}
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_ICMP_FORWARDED], 120);
	/* An error creates no flow of its own. */
	assert_int_equal(st.counters.lb[NETPROBE_LBC_NEW_CONNS], 120);

	/* About an unknown flow: where the flow's hash would go, and still no flow. */
	struct flow f = client(4, 8, 1);
	struct frame err = icmp_error_about(&f, VIP4, rtrs[0], 0);
	struct pkt_spec syn = flow_tcp(&f, VIP4, SYN);

	assert_int_equal(xdp_run(err.b, err.len, &o), XDP_REDIRECT);
	int k = dest_of(&o);

	assert_int_equal(stats().counters.lb[NETPROBE_LBC_NEW_CONNS], 120);
	assert_int_equal(send_dest(&syn), k);

	/* An error too big for the tunnel is dropped, never answered with another error. */
	run("ip link set %s mtu 1280", IF_BE);
	err = icmp_error_about(&f, VIP4, rtrs[0], 1300);
	assert_int_equal(xdp_run(err.b, err.len, &o), XDP_DROP);
	run("ip link set %s mtu 1500", IF_BE);

	/* Pings, and errors about what the service did not send, pass unchanged. */
	struct pkt_spec ping = {.family = 4,
				.src = "192.0.2.9",
				.dst = VIP4,
				.proto = IPPROTO_ICMP,
				.icmp_type = 8};
	struct frame pf = build(&ping);

	assert_int_equal(xdp_run(pf.b, pf.len, &o), XDP_PASS);
	assert_unchanged(&pf, &o);
	err = icmp_error_about(&f, VIP4, rtrs[0], 0);
	addr_bytes("10.99.0.200", err.b + 14 + 28 + 12); /* quoted source: not the service */
	assert_int_equal(xdp_run(err.b, err.len, &o), XDP_PASS);
	assert_unchanged(&err, &o);
	err = icmp_error_about(&f, "10.77.0.1", rtrs[0], 0); /* to this host, not a service */
	assert_int_equal(xdp_run(err.b, err.len, &o), XDP_PASS);
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_ICMP_FORWARDED], 122);
}

/*
 * Each CPU reuses a route for lb_route_cache_ms: a neighbour whose MAC
 * changes gets the backend's packets at its new MAC after that, and at
 * once without the cache. Pinned to one CPU: the cache is per CPU.
 */
static void test_route_cache(void **state)
{
	struct pkt_spec s = tcp("192.0.2.70", VIP4, 40000, 80, SYN);
	static const uint8_t moved[6] = {0x02, 0, 0, 0xbe, 0, 0x99};
	struct netprobe_config cfg;
	cpu_set_t one;
	struct out o;
	int k;

	(void)state;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	base_config(&cfg);
	cfg.lb_route_cache_ms = 300;
	start(&cfg, IF_DUT);
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	add_backends(SVC4, 4, 1, NULL, NETPROBE_LB_FORWARD_IPIP);
	k = send_dest(&s);
	assert_int_equal(k, 0);
	run("ip neigh replace %s lladdr 02:00:00:be:00:99 dev %s nud permanent", hosts[0].v4,
	    IF_BE);
	s.tcp_flags = 0x10;
	/* Within the cache's time: the MAC the route had. */
	assert_int_equal(send_dest(&s), 0);
	/*
	 * Not from another interface, whose own lookup would fail (forwarding
	 * off there): routes depend on where the packet came in.
	 */
	{
		int dut_prog = g_prog, dut_ifindex = g_ifindex;

		set_sysctl("ipv4/conf/" IF_PEER "/forwarding", "0");
		assert_int_equal(netprobe_manager_attach(g_m, IF_PEER), 0);
		g_prog = bpf_prog_get_fd_by_id(attached_prog_id(g_m, pin_path, IF_PEER));
		g_ifindex = if_nametoindex(IF_PEER);
		assert_int_equal(send_spec(&s, &o), XDP_DROP);
		assert_int_equal(iface_stats(g_m, IF_PEER).counters.lb[NETPROBE_LBC_FIB_DROPS], 1);
		close(g_prog);
		g_prog = dut_prog;
		g_ifindex = dut_ifindex;
		assert_int_equal(netprobe_manager_detach(g_m, IF_PEER), 0);
		set_sysctl("ipv4/conf/" IF_PEER "/forwarding", "1");
	}
	/*
	 * After it: the new one. The cache's time is in jiffies, which on a
	 * loaded or emulated machine may trail the sleep: looked at again a
	 * while apart, for up to 3 s.
	 */
	usleep(400 * 1000);
	for (int i = 0; i < 30; i++) {
		send_spec(&s, &o);
		if (o.verdict == XDP_REDIRECT && !memcmp(o.b, moved, 6))
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(o.verdict, XDP_REDIRECT);
	assert_memory_equal(o.b, moved, 6);
	/* Without the cache, a change shows on the next packet. */
	cfg.lb_route_cache_ms = 0;
	assert_int_equal(netprobe_manager_update_config(g_m, &cfg), 0);
	close(g_prog);
	g_prog = bpf_prog_get_fd_by_id(prog_id_of_link());
	run("ip neigh replace %s lladdr 02:00:00:be:00:01 dev %s nud permanent", hosts[0].v4,
	    IF_BE);
	assert_int_equal(send_dest(&s), 0);
	reset_topology();
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		CPU_SET(c, &one);
	sched_setaffinity(0, sizeof(one), &one);
}

/* ---- 11. Decapsulation on a backend ------------------------------------------- */

static void test_decap(void **state)
{
	struct pkt_spec in4 = tcp("192.0.2.60", VIP4, 42000, 80, SYN);
	struct pkt_spec in6 = udp("2001:db8:c::60", VIP6, 42001, 53);
	struct pkt_spec plain = udp("192.0.2.61", "10.78.0.11", 42002, 53);
	struct pkt_spec outer_flow = {
		.family = 4, .src = LB_SRC4, .dst = hosts[0].v4, .proto = IPPROTO_IPIP};
	struct netprobe_config cfg;
	struct netprobe_global_stats st;
	struct netprobe_flow_stats fs;
	struct frame f4, f6, fp, enc;
	unsigned long long bytes = 0;
	int total;
	struct out o;

	(void)state;
	base_config(&cfg);
	cfg.xdp_mode = NETPROBE_XDP_MONITOR;
	cfg.decap = true;
	/* Without a tunnel source to trust, decap is refused. */
	assert_null(netprobe_manager_new(&cfg));
	assert_int_equal(errno, EINVAL);
	cfg.decap_from_count = 2;
	assert_int_equal(netprobe_cidr_parse(LB_SRC4, &cfg.decap_from[0]), 0);
	assert_int_equal(netprobe_cidr_parse("fd78::/64", &cfg.decap_from[1]), 0);
	start(&cfg, IF_DEC);
	in4.payload = 10;
	f4 = build(&in4);
	f6 = build(&in6);
	fp = build(&plain);

	/* Each tunnel, either family in either: out comes the inner frame, Ethernet kept. */
	{
		const struct {
			const struct frame *inner;
			int outer;
		} cases[] = {{&f4, 4}, {&f6, 6}, {&f6, 4}, {&f4, 6}};

		for (int i = 0; i < 4; i++) {
			int outer = cases[i].outer;

			enc.len = pkt_encap(cases[i].inner->b, cases[i].inner->len, outer,
					    outer == 4 ? LB_SRC4 : LB_SRC6,
					    outer == 4 ? hosts[0].v4 : hosts[0].v6, enc.b,
					    sizeof(enc.b));
			assert_int_equal(enc.len, cases[i].inner->len + (outer == 4 ? 20 : 40));
			assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
			assert_unchanged(cases[i].inner, &o);
			bytes += enc.len;
		}
	}
	/* Not a tunnel: untouched. */
	assert_int_equal(xdp_run(fp.b, fp.len, &o), XDP_PASS);
	assert_unchanged(&fp, &o);
	bytes += fp.len;
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_DECAPSULATED], 4);
	assert_int_equal(st.rx_packets, 5);
	assert_int_equal(st.rx_bytes, bytes);
	assert_int_equal(st.counters.xdp_action[XDP_PASS], 5);
	/* The flows are what the tunnel carried; the tunnel's own is not one. */
	assert_true(flow_recorded(&in4, &fs, NULL));
	assert_int_equal(fs.packets, 2);
	assert_true(flow_recorded(&in6, &fs, NULL));
	assert_int_equal(fs.packets, 2);
	assert_true(flow_recorded(&plain, NULL, &total));
	assert_int_equal(total, 3);
	assert_false(flow_recorded(&outer_flow, NULL, NULL));

	/* An outer fragment, or a tunnel header with nothing inside, is left as it is. */
	enc.len = pkt_encap(f4.b, f4.len, 4, LB_SRC4, hosts[1].v4, enc.b, sizeof(enc.b));
	enc.b[14 + 6] = 0x20; /* MF */
	ipv4_fix_csum(enc.b + 14);
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_unchanged(&enc, &o);
	enc.len = pkt_encap(f4.b, f4.len, 4, LB_SRC4, hosts[1].v4, enc.b, sizeof(enc.b));
	enc.len = 14 + 20;
	enc.b[14 + 3] = 20;
	ipv4_fix_csum(enc.b + 14);
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_unchanged(&enc, &o);
	enc.len = pkt_encap(f6.b, f6.len, 6, LB_SRC6, hosts[1].v6, enc.b, sizeof(enc.b));
	enc.len = 14 + 40;
	enc.b[14 + 4] = enc.b[14 + 5] = 0;
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_unchanged(&enc, &o);
	assert_int_equal(stats().counters.lb[NETPROBE_LBC_DECAPSULATED], 4);

	/* A tunnel from anyone else is left as it is (the kernel has no tunnel for it). */
	enc.len = pkt_encap(f4.b, f4.len, 4, "10.78.0.2", hosts[0].v4, enc.b, sizeof(enc.b));
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_unchanged(&enc, &o);
	enc.len = pkt_encap(f6.b, f6.len, 6, "fd79::1", hosts[0].v6, enc.b, sizeof(enc.b));
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_unchanged(&enc, &o);
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_DECAPSULATED], 4);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_DECAP_REFUSED], 2);

	/* With tunnel addresses, a tunnel to another address is refused too. */
	cfg.decap_to_count = 1;
	assert_int_equal(netprobe_cidr_parse(hosts[1].v4, &cfg.decap_to[0]), 0);
	assert_int_equal(netprobe_manager_update_config(g_m, &cfg), 0);
	close(g_prog);
	g_prog = bpf_prog_get_fd_by_id(prog_id_of_link());
	enc.len = pkt_encap(f4.b, f4.len, 4, LB_SRC4, hosts[0].v4, enc.b, sizeof(enc.b));
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_unchanged(&enc, &o);
	enc.len = pkt_encap(f4.b, f4.len, 4, LB_SRC4, hosts[1].v4, enc.b, sizeof(enc.b));
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_unchanged(&f4, &o);
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_DECAPSULATED], 5);
	assert_int_equal(st.counters.lb[NETPROBE_LBC_DECAP_REFUSED], 3);
}

/*
 * Filter mode with decap: the outer packet meets the lists first (a denied
 * sender's tunnel is dropped whatever it carries, an allowed inner source
 * included), and what a trusted tunnel carries meets them again.
 */
static void test_decap_filtered(void **state)
{
	struct pkt_spec inner = udp("192.0.2.70", VIP4, 42010, 53);
	struct pkt_spec denied_inner = udp("192.0.2.71", VIP4, 42011, 53);
	struct netprobe_config cfg;
	struct netprobe_global_stats st;
	struct frame fi, fd, enc;
	struct out o;

	(void)state;
	base_config(&cfg);
	cfg.xdp_mode = NETPROBE_XDP_FILTER;
	cfg.other_flood = (struct netprobe_detection){true, 100, 1000};
	cfg.decap = true;
	cfg.decap_from_count = 1;
	assert_int_equal(netprobe_cidr_parse("10.78.0.0/24", &cfg.decap_from[0]), 0);
	start(&cfg, IF_DEC);
	fi = build(&inner);
	fd = build(&denied_inner);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.78.0.66", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "192.0.2.71", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "192.0.2.70", 0), 0);

	/* A trusted tunnel: unwrapped, and its allowed inner source passes. */
	enc.len = pkt_encap(fi.b, fi.len, 4, LB_SRC4, hosts[0].v4, enc.b, sizeof(enc.b));
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_unchanged(&fi, &o);
	/* A trusted tunnel carrying a denied source: dropped. */
	enc.len = pkt_encap(fd.b, fd.len, 4, LB_SRC4, hosts[0].v4, enc.b, sizeof(enc.b));
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_DROP);
	/* A denied sender's tunnel, in the trusted range, with an allowed inner source: dropped. */
	enc.len = pkt_encap(fi.b, fi.len, 4, "10.78.0.66", hosts[0].v4, enc.b, sizeof(enc.b));
	assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_DROP);
	st = stats();
	assert_int_equal(st.counters.lb[NETPROBE_LBC_DECAPSULATED], 2);
	assert_int_equal(st.counters.filter[NETPROBE_FC_DENY_DROPS], 2);
	assert_int_equal(st.counters.filter[NETPROBE_FC_ALLOW_PASSES], 1);
	assert_int_equal(st.counters.xdp_action[XDP_DROP], 2);
	/* The denied tunnel was counted as what arrived: an IPv4 packet, not the UDP inside. */
	assert_int_equal(st.counters.hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_UDP_PACKETS], 2);
	assert_int_equal(st.counters.hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_OTHER_L4_PACKETS], 1);
	/*
	 * The load balancer's tunnel is its forwarding, not a flood of "other
	 * protocol" packets: 150 trusted tunnels raise nothing; 150 from a
	 * sender nobody configured are other_flood.
	 */
	enc.len = pkt_encap(fi.b, fi.len, 4, LB_SRC4, hosts[0].v4, enc.b, sizeof(enc.b));
	for (int i = 0; i < 150; i++)
		assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_int_equal(stats().counters.detections[NETPROBE_DETECT_OTHER_FLOOD], 0);
	enc.len = pkt_encap(fi.b, fi.len, 4, "10.79.0.5", hosts[0].v4, enc.b, sizeof(enc.b));
	for (int i = 0; i < 150; i++)
		assert_int_equal(xdp_run(enc.b, enc.len, &o), XDP_PASS);
	assert_int_equal(stats().counters.detections[NETPROBE_DETECT_OTHER_FLOOD], 1);
	assert_int_equal(netprobe_blacklist_del(g_m, "10.78.0.66"), 0);
	assert_int_equal(netprobe_blacklist_del(g_m, "192.0.2.71"), 0);
	assert_int_equal(netprobe_allowlist_del(g_m, "192.0.2.70"), 0);
}

/* ---- 12. The API's answers to bad input ------------------------------------------ */

static void test_api_bad_input(void **state)
{
	static const char *const bad[] = {
		"10.0.0.1",
		"10.0.0.1:0/tcp",
		"10.0.0.1:70000",
		"10.0.0.1:80/icmp",
		"fd00::1:80/tcp",
		"",
		":80",
		"10.0.0.1:80/",
		"10.0.0.1:/tcp",
		"10.0.0.1:8a",
		"[fd00::1]80",
		"10.0.0.256:80",
		"example.com:80",
		"10.0.0.1:-1",
		"10.0.0.1: 80",
		"[fd00::1]:80/UDP",
		"10.0.0.1:80/tcp/",
		"[fd00::1:80/tcp",
		"[10.0.0.1]:80/tcp",
	};
	struct netprobe_lb_backend_opts opts = {.sz = sizeof(opts), .weight = 1};
	struct netprobe_lb_service s;
	struct netprobe_config cfg;
	struct netprobe_manager *unloaded;
	enum netprobe_lb_forward fwd;
	const struct svc_view *v;
	uint8_t addr[16];
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (netprobe_lb_service_parse(bad[i], &s) != -EINVAL)
			fail_msg("'%s' was taken for a service", bad[i]);
	assert_int_equal(netprobe_lb_service_parse("[fd00::1]:80/udp", &s), 0);
	assert_int_equal(s.family, NETPROBE_FAMILY_IPV6);
	assert_int_equal(s.proto, IPPROTO_UDP);
	assert_int_equal(s.port, 80);
	addr_bytes("fd00::1", addr);
	assert_memory_equal(s.addr, addr, 16);
	assert_string_equal(netprobe_lb_service_str(&s, buf, sizeof(buf)), "[fd00::1]:80/udp");
	assert_int_equal(netprobe_lb_service_parse("10.0.0.1:65535", &s), 0);
	assert_int_equal(s.family, NETPROBE_FAMILY_IPV4);
	assert_int_equal(s.proto, IPPROTO_TCP);
	assert_int_equal(s.port, 65535);
	assert_string_equal(netprobe_lb_service_str(&s, buf, sizeof(buf)), "10.0.0.1:65535/tcp");
	assert_int_equal(netprobe_lb_service_parse(NULL, &s), -EINVAL);
	assert_int_equal(netprobe_lb_service_parse("10.0.0.1:80", NULL), -EINVAL);
	assert_int_equal(netprobe_lb_forward_parse("l2", &fwd), 0);
	assert_int_equal(fwd, NETPROBE_LB_FORWARD_L2);
	assert_int_equal(netprobe_lb_forward_parse("gre", &fwd), -EINVAL);
	assert_null(netprobe_lb_forward_name(7));
	assert_string_equal(netprobe_lb_counter_name(NETPROBE_LBC_NEIGH_MISS), "neigh_misses");
	assert_null(netprobe_lb_counter_name(NETPROBE_LBC_MAX));

	base_config(&cfg);
	cfg.lb_max_services = 2;
	cfg.lb_max_backends = 3;
	/* Not loaded: nothing to add to. */
	unloaded = netprobe_manager_new(&cfg);
	assert_non_null(unloaded);
	assert_int_equal(netprobe_lb_service_add(unloaded, SVC4), -EINVAL);
	netprobe_manager_free(unloaded);
	start(&cfg, IF_DUT);

	assert_int_equal(netprobe_lb_service_add(NULL, SVC4), -EINVAL);
	assert_int_equal(netprobe_lb_service_add(g_m, NULL), -EINVAL);
	assert_int_equal(netprobe_lb_service_add(g_m, "10.0.0.1"), -EINVAL);
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), 0);
	assert_int_equal(netprobe_lb_service_add(g_m, SVC4), -EEXIST);
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.1:80"), -EEXIST);
	assert_int_equal(netprobe_lb_backend_add(g_m, "10.99.0.9:80/tcp", hosts[0].v4, NULL),
			 -ENOENT);
	assert_int_equal(netprobe_lb_backend_add(NULL, SVC4, hosts[0].v4, NULL), -EINVAL);
	assert_int_equal(netprobe_lb_backend_add(g_m, NULL, hosts[0].v4, NULL), -EINVAL);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, NULL, NULL), -EINVAL);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, "10.78.0", NULL), -EINVAL);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[0].v6, NULL), -EINVAL);
	opts.weight = 0;
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[0].v4, &opts), -EINVAL);
	opts.weight = 1001;
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[0].v4, &opts), -EINVAL);
	opts.weight = 1;
	opts.forward = 7;
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[0].v4, &opts), -EINVAL);
	opts.forward = NETPROBE_LB_FORWARD_IPIP;
	opts.sz = sizeof(opts) - 1;
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[0].v4, &opts), -EINVAL);
	opts.sz = sizeof(opts);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, "10.200.0.1", NULL), -ENETUNREACH);
	/* Nothing can be sent to these; and this host cannot be its own backend. */
	static const char *const unusable[] = {"0.0.0.0",	  "127.0.0.1", "224.0.0.1",
					       "255.255.255.255", LB_SRC4,     "[10.78.0.11]"};
	for (size_t i = 0; i < sizeof(unusable) / sizeof(unusable[0]); i++)
		assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, unusable[i], NULL), -EINVAL);
	/* Refused adds leave nothing behind. */
	assert_int_equal(service(SVC4)->info.nbackends, 0);
	opts.weight = 1000;
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[0].v4, &opts), 0);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[0].v4, NULL), -EEXIST);

	assert_int_equal(netprobe_lb_backend_set_weight(g_m, SVC4, hosts[0].v4, 0), -EINVAL);
	assert_int_equal(netprobe_lb_backend_set_weight(g_m, SVC4, hosts[0].v4, 1001), -EINVAL);
	assert_int_equal(netprobe_lb_backend_set_weight(g_m, SVC4, hosts[1].v4, 2), -ENOENT);
	assert_int_equal(netprobe_lb_backend_set_weight(NULL, SVC4, hosts[0].v4, 2), -EINVAL);
	assert_int_equal(netprobe_lb_backend_drain(g_m, SVC4, hosts[1].v4), -ENOENT);
	assert_int_equal(netprobe_lb_backend_drain(g_m, "10.99.0.9:80/tcp", hosts[0].v4), -ENOENT);
	assert_int_equal(netprobe_lb_backend_drain(NULL, SVC4, hosts[0].v4), -EINVAL);
	assert_int_equal(netprobe_lb_backend_del(g_m, SVC4, hosts[1].v4), -ENOENT);
	assert_int_equal(netprobe_lb_backend_del(g_m, SVC4, NULL), -EINVAL);
	assert_int_equal(netprobe_lb_backend_del(NULL, SVC4, hosts[0].v4), -EINVAL);
	assert_int_equal(netprobe_lb_backend_del(g_m, "bad", hosts[0].v4), -EINVAL);
	v = service(SVC4);
	assert_int_equal(backend_in(v, hosts[0].v4)->weight, 1000);
	assert_int_equal(backend_in(v, hosts[0].v4)->table_entries, v->info.table_size);

	/* The service table holds two. */
	assert_int_equal(netprobe_lb_service_add(g_m, SVC6), 0);
	assert_int_equal(netprobe_lb_service_add(g_m, "10.99.0.3:80/tcp"), -ENOSPC);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC6, hosts[0].v4, NULL), -EINVAL);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC6, "fd00:dead::1", NULL), -ENETUNREACH);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC6, "::1", NULL), -EINVAL);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC6, "ff02::1", NULL), -EINVAL);
	/* The backend table holds three, over every service. */
	add_backends(SVC6, 6, 2, NULL, NETPROBE_LB_FORWARD_IPIP);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[1].v4, NULL), -ENOSPC);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC6, hosts[2].v6, NULL), -ENOSPC);

	assert_int_equal(netprobe_manager_lb_stats(NULL, collect_service, NULL), -EINVAL);
	assert_int_equal(netprobe_manager_lb_stats(g_m, NULL, NULL), -EINVAL);
	/* The callback's return value stops the walk. */
	memset(&g_view, 0, sizeof(g_view));
	g_view.stop_at = 1;
	assert_int_equal(netprobe_manager_lb_stats(g_m, collect_service, NULL), 7);
	assert_int_equal(g_view.calls, 1);
	memset(&g_view, 0, sizeof(g_view));
	assert_int_equal(netprobe_manager_lb_stats(g_m, collect_service, NULL), 0);
	assert_int_equal(g_view.calls, 2);

	/* Deleting a service takes its backends: their slots are free again. */
	assert_int_equal(netprobe_lb_service_del(g_m, "10.99.0.9:80/tcp"), -ENOENT);
	assert_int_equal(netprobe_lb_service_del(g_m, "10.99.0.9"), -EINVAL);
	assert_int_equal(netprobe_lb_service_del(NULL, SVC6), -EINVAL);
	assert_int_equal(netprobe_lb_service_del(g_m, SVC6), 0);
	assert_null(find_service(SVC6));
	assert_int_equal(g_view.n, 1);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[1].v4, NULL), 0);
	assert_int_equal(netprobe_lb_backend_add(g_m, SVC4, hosts[2].v4, NULL), 0);
	assert_int_equal(service(SVC4)->info.nbackends, 3);
	assert_int_equal(netprobe_lb_service_add(g_m, SVC6), 0);
	assert_int_equal(service(SVC6)->info.nbackends, 0);
	assert_int_equal(netprobe_lb_backend_del(g_m, SVC6, hosts[0].v6), -ENOENT);
	/* A deleted service's frames are no longer its: they pass. */
	assert_int_equal(netprobe_lb_service_del(g_m, SVC4), 0);
	{
		struct pkt_spec syn = tcp("192.0.2.70", VIP4, 40000, 80, SYN);
		struct out o;

		assert_int_equal(send_spec(&syn, &o), XDP_PASS);
		assert_int_equal(stats().counters.lb[NETPROBE_LBC_VIP_PACKETS], 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_ipv4_ipip, teardown),
		cmocka_unit_test_teardown(test_flow_sticks, teardown),
		cmocka_unit_test_teardown(test_weights_split, teardown),
		cmocka_unit_test_teardown(test_backend_changes, teardown),
		cmocka_unit_test_teardown(test_drain, teardown),
		cmocka_unit_test_teardown(test_drain_eviction, teardown),
		cmocka_unit_test_teardown(test_drain_flood, teardown),
		cmocka_unit_test_teardown(test_removal, teardown),
		cmocka_unit_test_teardown(test_service_table_size, teardown),
		cmocka_unit_test_teardown(test_ipv6_and_udp, teardown),
		cmocka_unit_test_teardown(test_l2_forwarding, teardown),
		cmocka_unit_test_teardown(test_not_forwarded, teardown),
		cmocka_unit_test_teardown(test_neighbour_and_route, teardown),
		cmocka_unit_test_teardown(test_neighbour_miss_handed_to_tc, teardown),
		cmocka_unit_test_teardown(test_neighbour_and_route_by_map, teardown_probe_again),
		cmocka_unit_test_teardown(test_neighbour_miss_by_map, teardown_probe_again),
		cmocka_unit_test_teardown(test_decap, teardown),
		cmocka_unit_test_teardown(test_decap_filtered, teardown),
		cmocka_unit_test_teardown(test_icmp_errors_follow_flows, teardown),
		cmocka_unit_test_teardown(test_route_cache, teardown),
		cmocka_unit_test_teardown(test_api_bad_input, teardown),
	};

	return cmocka_run_group_tests_name("lb", tests, group_setup, NULL);
}
