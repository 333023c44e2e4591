// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The filter mode, end to end: the XDP program netprobe attached to a veth
 * runs on crafted frames (BPF_PROG_RUN) while the lists, detections and
 * mitigation are driven through the public API. Verdicts are checked against
 * a reference model of the lists, counters against the packets sent, and
 * security events against what each traffic pattern must (and must not)
 * raise. The test moves itself into a network namespace of its own, so
 * nothing is ever attached outside it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include "netns_fixture.h"
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <netprobe/netprobe.h>
#include "../lib/pktbuild.h"

#define IF_PEER "npf0"
#define IF_DUT	"npf1" /* netprobe is attached here */

static char pin_path[128];
/* Globals, so that the teardown of a failed test finds what to clean up. */
static struct netprobe_manager *g_m;
static int g_prog = -1;	  /* the XDP program behind the interface's pinned link */
static int g_egress = -1; /* the TC egress program: what this host sends */

/* ---- Security events, collected by a handler on the worker threads ---- */

#define MAX_EVENTS 256

static struct {
	pthread_mutex_t lock;
	struct netprobe_security_event ev[MAX_EVENTS];
	size_t n;
	size_t other; /* events of another type, or of a wrong size */
} g_ev = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_security(const struct netprobe_event_batch *b, void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&g_ev.lock);
	for (size_t i = 0; i < b->count; i++) {
		const struct netprobe_event_hdr *h = b->events[i];

		if (h->type != NETPROBE_EVENT_SECURITY ||
		    h->size != sizeof(struct netprobe_security_event) || g_ev.n == MAX_EVENTS)
			g_ev.other++;
		else
			memcpy(&g_ev.ev[g_ev.n++], h, sizeof(g_ev.ev[0]));
	}
	pthread_mutex_unlock(&g_ev.lock);
}

/* Copies out what arrived (never assert under the lock: the workers need it). */
static size_t events_copy(struct netprobe_security_event *out, size_t *other)
{
	size_t n;

	pthread_mutex_lock(&g_ev.lock);
	n = g_ev.n;
	memcpy(out, g_ev.ev, n * sizeof(*out));
	*other = g_ev.other;
	pthread_mutex_unlock(&g_ev.lock);
	return n;
}

static void events_start(void)
{
	assert_int_equal(netprobe_manager_on_event(g_m,
						   NETPROBE_EVENT_MASK(NETPROBE_EVENT_SECURITY),
						   on_security, NULL),
			 0);
	assert_int_equal(netprobe_manager_events_start(g_m), 0);
}

/* Everything the kernel committed so far reaches the handler: stop (which drains), restart. */
static void events_flush(void)
{
	netprobe_manager_events_stop(g_m);
	assert_int_equal(netprobe_manager_events_start(g_m), 0);
}

/* ---- Setup ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	if (enter_private_netns())
		return -1;
	run("ip link add %s type veth peer name %s && ip link set %s up && ip link set %s up",
	    IF_PEER, IF_DUT, IF_PEER, IF_DUT);
	snprintf(pin_path, sizeof(pin_path), "/sys/fs/bpf/np-test-filter-%d", getpid());
	return 0;
}

static void base_config(struct netprobe_config *cfg)
{
	netprobe_config_default(cfg);
	snprintf(cfg->pin_path, sizeof(cfg->pin_path), "%s", pin_path);
	cfg->xdp_mode = NETPROBE_XDP_FILTER;
	cfg->stats_report_interval_ms = 0;
	cfg->flow_idle_timeout_ms = 0;
	cfg->batch_timeout_ms = 10;
	cfg->event_workers = 1;
}

/*
 * Mitigation that blocks on any evidence: the crafted frames of these tests
 * complete no handshake, so they could give no proof (test_mitigation_needs_proof
 * covers the default).
 */
static void mitigate_unproven(struct netprobe_config *cfg, unsigned int ttl_s)
{
	cfg->mitigation = true;
	cfg->mitigation_unproven = true;
	cfg->mitigation_ttl_s = ttl_s;
}

static void detections_off(struct netprobe_config *cfg)
{
	struct netprobe_detection *all[] = {
		&cfg->tcp_flood,  &cfg->other_flood,   &cfg->syn_flood,	    &cfg->udp_flood,
		&cfg->icmp_flood, &cfg->syn_flood_dst, &cfg->udp_flood_dst, &cfg->icmp_flood_dst,
		&cfg->port_scan,  &cfg->rate_anomaly,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		all[i]->enabled = false;
}

/* Takes the program the link runs now; returns its id. */
static __u32 refresh_prog(void)
{
	__u32 id = attached_prog_id(g_m, pin_path, IF_DUT);

	if (g_prog >= 0)
		close(g_prog);
	g_prog = bpf_prog_get_fd_by_id(id);
	assert_true(g_prog >= 0);
	if (g_egress >= 0)
		close(g_egress);
	g_egress = bpf_prog_get_fd_by_id(attached_tc_prog_id(g_m, pin_path, IF_DUT, true));
	assert_true(g_egress >= 0);
	return id;
}

static void start_filter(const struct netprobe_config *cfg)
{
	g_m = netprobe_manager_new(cfg);
	assert_non_null(g_m);
	assert_int_equal(netprobe_manager_load(g_m), 0);
	assert_int_equal(netprobe_manager_attach(g_m, IF_DUT), 0);
	refresh_prog();
}

/* The filter with its lists and no detection: verdicts by the lists alone. */
static void start_lists_only(void)
{
	struct netprobe_config cfg;

	base_config(&cfg);
	detections_off(&cfg);
	start_filter(&cfg);
}

/* A config change swaps the program behind the link: run the new one from now on. */
static void update_config(const struct netprobe_config *cfg)
{
	__u32 before = attached_prog_id(g_m, pin_path, IF_DUT);

	assert_int_equal(netprobe_manager_update_config(g_m, cfg), 0);
	assert_int_not_equal(refresh_prog(), before);
}

struct texts {
	char (*t)[64];
	enum netprobe_acl_action *action;
	size_t n, cap;
};

static int collect_text(const struct netprobe_acl_entry *e, void *ctx)
{
	struct texts *ts = ctx;

	if (ts->n == ts->cap) {
		ts->cap = ts->cap ? ts->cap * 2 : 64;
		ts->t = realloc(ts->t, ts->cap * sizeof(*ts->t));
		ts->action = realloc(ts->action, ts->cap * sizeof(*ts->action));
		if (!ts->t || !ts->action)
			return -ENOMEM;
	}
	memcpy(ts->t[ts->n], e->text, sizeof(e->text));
	ts->action[ts->n++] = e->action;
	return 0;
}

/* After each test, whatever it left (a failed assert skips its own cleanup): no pin dir stays. */
static int teardown(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_manager *m = g_m;
	struct texts ts = {};

	(void)state;
	if (g_prog >= 0)
		close(g_prog);
	g_prog = -1;
	if (g_egress >= 0)
		close(g_egress);
	g_egress = -1;
	netprobe_manager_events_stop(m);
	if (!m) {
		base_config(&cfg);
		m = netprobe_manager_new(&cfg);
	}
	if (m && netprobe_manager_load(m) == 0) {
		netprobe_manager_detach(m, NULL);
		netprobe_blacklist_list(m, collect_text, &ts);
		netprobe_allowlist_list(m, collect_text, &ts);
		for (size_t i = 0; i < ts.n; i++) {
			if (ts.action[i] == NETPROBE_ACL_ALLOW)
				netprobe_allowlist_del(m, ts.t[i]);
			else
				netprobe_blacklist_del(m, ts.t[i]);
		}
	}
	netprobe_manager_free(m);
	g_m = NULL;
	free(ts.t);
	free(ts.action);
	pthread_mutex_lock(&g_ev.lock);
	g_ev.n = g_ev.other = 0;
	pthread_mutex_unlock(&g_ev.lock);
	if (access(pin_path, F_OK) == 0) {
		fprintf(stderr, "%s is left behind\n", pin_path);
		return -1;
	}
	return 0;
}

/* ---- Frames ---------------------------------------------------------------- */

static int family_of(const char *addr)
{
	return strchr(addr, ':') ? 6 : 4;
}

static struct pkt_spec udp(const char *src, const char *dst, uint16_t sport, uint16_t dport)
{
	return (struct pkt_spec){.family = family_of(src),
				 .src = src,
				 .dst = dst,
				 .proto = IPPROTO_UDP,
				 .sport = sport,
				 .dport = dport,
				 .payload = 18};
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

static struct pkt_spec icmp(const char *src, const char *dst, uint8_t type)
{
	return (struct pkt_spec){.family = family_of(src),
				 .src = src,
				 .dst = dst,
				 .proto = family_of(src) == 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP,
				 .icmp_type = type,
				 .payload = 16};
}

static void addr_bytes(const char *text, uint8_t *out)
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(family_of(text) == 6 ? AF_INET6 : AF_INET, text, out), 1);
}

#define FIN	0x01
#define SYN	0x02
#define RST	0x04
#define ACK	0x10
#define SYN_ACK (SYN | ACK)

/* Runs program prog repeat times on the frame of s; returns the (last) verdict. */
static int run_spec(int prog, const struct pkt_spec *s, unsigned int repeat)
{
	uint8_t frame[256];
	size_t len = pkt_build(s, frame, sizeof(frame));
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .repeat = repeat);

	if (!len)
		fail_msg("cannot build a frame from %s to %s", s->src, s->dst);
	if (bpf_prog_test_run_opts(prog, &opts))
		fail_msg("BPF_PROG_RUN: %s", strerror(errno));
	return opts.retval;
}

/* The XDP program: a frame that arrives. */
static int send_spec(const struct pkt_spec *s, unsigned int repeat)
{
	return run_spec(g_prog, s, repeat);
}

/* The TC egress program: a frame this host sends. */
static void send_out(const struct pkt_spec *s, unsigned int repeat)
{
	run_spec(g_egress, s, repeat);
}

/*
 * This host's ICMP destination unreachable (code) to prober, quoting its
 * probe to port of host (proto TCP or UDP; 0: an echo request).
 */
static void send_unreachable(const char *host, const char *prober, uint8_t proto, uint16_t port,
			     uint8_t code)
{
	bool v6 = family_of(host) == 6;
	struct pkt_spec probe =
		proto ? udp(prober, host, 40000, port) : icmp(prober, host, v6 ? 128 : 8);
	struct pkt_spec err = icmp(host, prober, v6 ? 1 : 3);
	uint8_t quote[256], frame[512];
	size_t qlen, ip_len = v6 ? 40 : 20, len;
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	probe.proto = proto ? proto : probe.proto;
	qlen = pkt_build(&probe, quote, sizeof(quote));
	assert_true(qlen > 14 + ip_len + 8);
	err.icmp_code = code;
	err.payload =
		ip_len + 8; /* after the 8-byte ICMP header: the probe's IP header and 8 bytes */
	len = pkt_build(&err, frame, sizeof(frame));
	assert_true(len >= 14 + ip_len + 8 + err.payload);
	memcpy(frame + 14 + ip_len + 8, quote + 14, err.payload);
	opts.data_in = frame;
	opts.data_size_in = len;
	if (bpf_prog_test_run_opts(g_egress, &opts))
		fail_msg("BPF_PROG_RUN (egress): %s", strerror(errno));
}

/* This host resets probes of ports first..last of host from prober: a closed port's answer. */
static void refuse_ports(const char *host, const char *prober, int first, int last)
{
	for (int port = first; port <= last; port++) {
		struct pkt_spec rst = tcp(host, prober, port, 40000, RST | ACK);

		send_out(&rst, 1);
	}
}

/* The verdict for a UDP datagram from src (the lists look at sources only). */
static int verdict(const char *src, unsigned int repeat)
{
	struct pkt_spec s =
		udp(src, family_of(src) == 6 ? "2001:db8:ffff::1" : "203.0.113.250", 40000, 5000);

	return send_spec(&s, repeat);
}

static struct netprobe_global_stats stats(void)
{
	return iface_stats(g_m, IF_DUT);
}

static struct netprobe_security_stats sec_stats(void)
{
	struct netprobe_security_stats st;

	assert_int_equal(netprobe_manager_security_stats(g_m, &st), 0);
	return st;
}

/* ---- Listings ---------------------------------------------------------------- */

#define MAX_ENTRIES 256

struct entries {
	struct netprobe_acl_entry e[MAX_ENTRIES];
	int n;
};

static int collect_entry(const struct netprobe_acl_entry *e, void *ctx)
{
	struct entries *es = ctx;

	if (es->n == MAX_ENTRIES)
		return -E2BIG;
	es->e[es->n++] = *e;
	return 0;
}

static struct entries listing(enum netprobe_acl_action action)
{
	struct entries es = {};

	if (action == NETPROBE_ACL_ALLOW)
		assert_int_equal(netprobe_allowlist_list(g_m, collect_entry, &es), 0);
	else
		assert_int_equal(netprobe_blacklist_list(g_m, collect_entry, &es), 0);
	return es;
}

static const struct netprobe_acl_entry *find_entry(const struct entries *es, const char *text)
{
	for (int i = 0; i < es->n; i++)
		if (!strcmp(es->e[i].text, text))
			return &es->e[i];
	return NULL;
}

/* The hits of the entry listed as text; fails if it is not listed. */
static unsigned long long hits_of(enum netprobe_acl_action action, const char *text)
{
	struct entries es = listing(action);
	const struct netprobe_acl_entry *e = find_entry(&es, text);

	if (!e)
		fail_msg("%s is not on the %s list", text,
			 action == NETPROBE_ACL_ALLOW ? "allow" : "deny");
	return e->hits;
}

/* ---- 1. Longest prefix, against a reference model ----------------------------- */

static uint64_t rng;

static uint32_t rnd(uint32_t below)
{
	/* xorshift64*: the same sequence on every machine */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 2685821657736338717ull) >> 32) % below;
}

struct rule {
	int family, len;
	uint8_t addr[16];
	bool allow, live;
};

static void mask_bits(uint8_t *a, int bytes, int len)
{
	for (int i = 0; i < bytes; i++) {
		int keep = len - i * 8;

		if (keep <= 0)
			a[i] = 0;
		else if (keep < 8)
			a[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

static bool rule_covers(const struct rule *r, const uint8_t *a)
{
	uint8_t masked[16];

	memcpy(masked, a, 16);
	mask_bits(masked, r->family == 4 ? 4 : 16, r->len);
	return memcmp(masked, r->addr, r->family == 4 ? 4 : 16) == 0;
}

/*
 * The documented semantics: the longest allow entry covering the source
 * decides it (passes), else the longest deny entry (drops), else nothing
 * does (passes). Returns the deciding rule, -1 for none.
 */
static int model(const struct rule *rules, int n, const uint8_t *a)
{
	int allow = -1, deny = -1;

	for (int i = 0; i < n; i++) {
		int *best = rules[i].allow ? &allow : &deny;

		if (rules[i].live && rule_covers(&rules[i], a) &&
		    (*best < 0 || rules[i].len > rules[*best].len))
			*best = i;
	}
	return allow >= 0 ? allow : deny;
}

static int model_verdict(const struct rule *rules, int decider)
{
	return decider >= 0 && !rules[decider].allow ? XDP_DROP : XDP_PASS;
}

/* Which lookup structure holds the deciding rule: 0 none, 1 exact, 2 tbl8 (IPv4 /25-/31), 3 other. */
static int lookup_kind(const struct rule *r)
{
	if (!r)
		return 0;
	if (r->len == (r->family == 4 ? 32 : 128))
		return 1;
	return r->family == 4 && r->len > 24 ? 2 : 3;
}

static const char *addr_str(int family, const uint8_t *a, char *buf)
{
	inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, INET6_ADDRSTRLEN);
	return buf;
}

static const char *rule_str(const struct rule *r, char *buf)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, 64, "%s/%d", addr_str(r->family, r->addr, a), r->len);
	return buf;
}

static bool have_prefix(const struct rule *rules, int n, const struct rule *r)
{
	for (int i = 0; i < n; i++)
		if (rules[i].family == r->family && rules[i].len == r->len &&
		    !memcmp(rules[i].addr, r->addr, 16))
			return true;
	return false;
}

static int acl_add(const struct rule *r)
{
	char text[64];

	rule_str(r, text);
	return r->allow ? netprobe_allowlist_add(g_m, text, 0)
			: netprobe_blacklist_add(g_m, text, 0);
}

static int acl_del(const struct rule *r)
{
	char text[64];

	rule_str(r, text);
	return r->allow ? netprobe_allowlist_del(g_m, text) : netprobe_blacklist_del(g_m, text);
}

/* IPv4: 64 /24s of 10.0.0.0/12 (10.0-15.0-3.x), so prefixes nest and groups fill. */
static void v4_region_addr(uint8_t *a)
{
	uint32_t host = 0x0a000000u | rnd(16) << 16 | rnd(4) << 8 | rnd(256);

	memset(a, 0, 16);
	host = htonl(host);
	memcpy(a, &host, 4);
}

/* IPv6: a few seeds in 2001:db8::/32, each rule a seed with a few bits flipped. */
static uint8_t v6_seeds[6][16];

static void v6_region_addr(uint8_t *a)
{
	memcpy(a, v6_seeds[rnd(6)], 16);
	for (int flips = rnd(4); flips > 0; flips--) {
		int bit = 32 + rnd(96);

		a[bit / 8] ^= 0x80 >> (bit % 8);
	}
}

#define ALLOW_ONE_IN 8

static void make_rules(struct rule *rules, int n, int family)
{
	for (int i = 0; i < n; i++) {
		struct rule *r = &rules[i];

		do {
			memset(r, 0, sizeof(*r));
			r->family = family;
			if (family == 4) {
				v4_region_addr(r->addr);
				/* /0-/3 rewrite 2^21 to 2^24 tbl24 words each: a few. */
				r->len = rnd(6) ? (rnd(8) ? 4 + rnd(28) : rnd(32)) : 32;
			} else {
				v6_region_addr(r->addr);
				r->len = rnd(4) ? rnd(128) : 128;
			}
			mask_bits(r->addr, family == 4 ? 4 : 16, r->len);
		} while (have_prefix(rules, i, r));
		/*
		 * Allow entries get rarer the shorter they are, or an address
		 * would nearly always lie under one (and pass): the probes
		 * must see both verdicts, at every depth of nesting.
		 */
		if (r->len <= (family == 4 ? 12 : 32))
			r->allow = false;
		else if (r->len <= (family == 4 ? 24 : 96))
			r->allow = rnd(ALLOW_ONE_IN) == 0;
		else
			r->allow = rnd(2);
		r->live = true;
	}
}

/*
 * An address to probe: a rule's first or last address, one inside a rule,
 * one near the rules, or any address at all.
 */
static void probe_addr(const struct rule *rules, int n, int family, uint8_t *a)
{
	int bytes = family == 4 ? 4 : 16, kind = rnd(10);

	memset(a, 0, 16);
	if (kind == 0) {
		for (int i = 0; i < bytes; i++)
			a[i] = rnd(256);
	} else if (kind <= 5) {
		const struct rule *r = &rules[rnd(n)];

		memcpy(a, r->addr, 16);
		for (int bit = r->len; bit < bytes * 8 && kind > 1; bit++)
			if (kind == 2 || rnd(2))
				a[bit / 8] |= 0x80 >> (bit % 8);
	} else if (family == 4) {
		v4_region_addr(a);
	} else {
		v6_region_addr(a);
	}
}

/* Kills decide which batches stay: the mix of verdicts drifts, and is not asserted. */
static bool g_model_mix_free;

static void check_model(const struct rule *rules, int n, int family, int probes, const char *phase)
{
	int wrong = 0, live = 0, drops = 0, kinds[4] = {};
	char first[512] = "";

	for (int p = 0; p < probes; p++) {
		char text[INET6_ADDRSTRLEN];
		uint8_t a[16];
		int decider, want, got;

		probe_addr(rules, n, family, a);
		addr_str(family, a, text);
		decider = model(rules, n, a);
		want = model_verdict(rules, decider);
		kinds[lookup_kind(decider >= 0 ? &rules[decider] : NULL)]++;
		got = verdict(text, 1);
		drops += want == XDP_DROP;
		if (got == want)
			continue;
		if (!wrong++) {
			int len =
				snprintf(first, sizeof(first), "%s: %s got %d, want %d; covered by",
					 phase, text, got, want);

			for (int i = 0; i < n && len < (int)sizeof(first) - 64; i++) {
				char r[64];

				if (rules[i].live && rule_covers(&rules[i], a))
					len += snprintf(first + len, sizeof(first) - len, " %s %s",
							rules[i].allow ? "allow" : "deny",
							rule_str(&rules[i], r));
			}
		}
	}
	if (wrong)
		fail_msg("%d of %d verdicts differ from the model; the first: %s", wrong, probes,
			 first);
	for (int i = 0; i < n; i++)
		live += rules[i].live;
	struct netprobe_security_stats st = sec_stats();

	assert_int_equal(st.deny_entries + st.allow_entries, live);
	print_message("# %s, IPv%d: %d rules, %d of %d probes dropped; decided by none %d, exact "
		      "%d, tbl8 %d, other %d\n",
		      phase, family, live, drops, probes, kinds[0], kinds[1], kinds[2], kinds[3]);
	/* The probes must see both verdicts and every lookup path, or they test little. */
	if (!live) {
		assert_int_equal(drops, 0);
	} else if (!g_model_mix_free) {
		assert_true(drops > probes / 10 && drops < probes * 9 / 10);
		assert_true(kinds[1] > probes / 100 && kinds[3] > probes / 100);
		assert_true(family == 6 || kinds[2] > probes / 100);
	}
}

#define MAX_RULES 300

static void run_lpm(int family, int nrules, int probes)
{
	static struct rule rules[MAX_RULES];
	bool gone[MAX_RULES] = {};
	char text[64];

	assert_true(nrules <= MAX_RULES);
	make_rules(rules, nrules, family);
	for (int i = 0; i < nrules; i++)
		if (acl_add(&rules[i]))
			fail_msg("adding %s failed", rule_str(&rules[i], text));
	check_model(rules, nrules, family, probes, "all rules");

	/* Half of them go: slots fall back, groups collapse, /24s lose their exact flag. */
	for (int i = 0; i < nrules; i++) {
		if (rnd(2))
			continue;
		assert_int_equal(acl_del(&rules[i]), 0);
		rules[i].live = false;
		gone[i] = true;
	}
	check_model(rules, nrules, family, probes, "half deleted");

	/* And come back, into freed ids, index slots and groups. */
	for (int i = 0; i < nrules; i++) {
		if (!gone[i])
			continue;
		if (acl_add(&rules[i]))
			fail_msg("adding %s again failed", rule_str(&rules[i], text));
		rules[i].live = true;
	}
	check_model(rules, nrules, family, probes / 2, "re-added");

	for (int i = 0; i < nrules; i++) {
		assert_int_equal(acl_del(&rules[i]), 0);
		rules[i].live = false;
	}
	check_model(rules, nrules, family, probes / 4, "all deleted");
}

/* The lists alone, and the model's generator from seed: the same rules and probes every run. */
static void model_start(uint64_t seed)
{
	rng = seed;
	start_lists_only();
	for (int s = 0; s < 6; s++) {
		memcpy(v6_seeds[s], "\x20\x01\x0d\xb8", 4);
		for (int i = 4; i < 16; i++)
			v6_seeds[s][i] = rnd(256);
	}
}

static void test_lpm_matches_model(void **state)
{
	(void)state;
	model_start(0x9e3779b97f4a7c15ull);
	run_lpm(4, 300, 3000);
	run_lpm(6, 150, 2000);
}

/*
 * Applies (or, with del, removes) the rules for which pick says so, in two
 * batches, one a list; the allow batch first or last as allow_first says.
 */
static void batch_rules(const struct rule *rules, int n, const bool *pick, bool del,
			bool allow_first)
{
	static char text[MAX_RULES][64];
	const char *deny[MAX_RULES], *allow[MAX_RULES];
	struct netprobe_acl_batch_result res;
	size_t nd = 0, na = 0;

	for (int i = 0; i < n; i++) {
		if (!pick[i])
			continue;
		rule_str(&rules[i], text[i]);
		if (rules[i].allow)
			allow[na++] = text[i];
		else
			deny[nd++] = text[i];
	}
	for (int pass = 0; pass < 2; pass++) {
		bool allow_list = (pass == 0) == allow_first;
		const char *const *v = allow_list ? allow : deny;
		size_t count = allow_list ? na : nd;
		int err =
			del ? (allow_list ? netprobe_allowlist_del_many
					  : netprobe_blacklist_del_many)(g_m, v, count, &res)
			    : (allow_list ? netprobe_allowlist_add_many
					  : netprobe_blacklist_add_many)(g_m, v, count, NULL, &res);

		assert_int_equal(err, 0);
		assert_int_equal(res.done, count);
		assert_int_equal(res.skipped + res.renewed, 0);
		assert_int_equal(res.failed, count);
	}
}

/* The same model, the lists changed in batches (each table-wide recompute once a batch). */
static void run_lpm_batched(int family, int nrules, int probes)
{
	static struct rule rules[MAX_RULES];
	bool all[MAX_RULES], half[MAX_RULES];

	make_rules(rules, nrules, family);
	for (int i = 0; i < nrules; i++) {
		all[i] = true;
		half[i] = rnd(2);
	}
	batch_rules(rules, nrules, all, false, family == 4);
	check_model(rules, nrules, family, probes, "batch added");
	batch_rules(rules, nrules, half, true, family == 6);
	for (int i = 0; i < nrules; i++)
		rules[i].live = !half[i];
	check_model(rules, nrules, family, probes, "batch half deleted");
	batch_rules(rules, nrules, half, false, family == 6);
	for (int i = 0; i < nrules; i++)
		rules[i].live = true;
	check_model(rules, nrules, family, probes / 2, "batch re-added");
	batch_rules(rules, nrules, all, true, family == 4);
	for (int i = 0; i < nrules; i++)
		rules[i].live = false;
	check_model(rules, nrules, family, probes / 4, "batch all deleted");
}

static void test_lpm_batches_match_model(void **state)
{
	(void)state;
	model_start(0x2545f4914f6cdd1dull);
	run_lpm_batched(4, 300, 3000);
	run_lpm_batched(6, 150, 2000);
}

/*
 * A batch is all or none: a bad entry, or one on the other list, fails it
 * before anything changes, naming its index; repeats and entries listed
 * already are skipped, and with a TTL, listed entries with a TTL renewed.
 */
static void test_batch_all_or_none(void **state)
{
	const char *bad[] = {"10.1.0.0/16", "10.2.0.0/33", "10.3.0.0/16"};
	const char *other[] = {"10.1.0.0/16", "10.9.0.0/16", "10.3.0.0/16"};
	const char *again[] = {"10.1.0.0/16", "10.1.0.0/16", "10.3.0.0/16", "10.4.0.1"};
	struct netprobe_acl_batch_opts opts = {.sz = sizeof(opts), .ttl_s = 600};
	struct netprobe_acl_batch_result res;
	const struct netprobe_acl_entry *e;
	struct entries es;

	(void)state;
	start_lists_only();
	assert_int_equal(netprobe_allowlist_add(g_m, "10.9.0.0/16", 0), 0);
	assert_int_equal(netprobe_blacklist_add_many(g_m, bad, 3, NULL, &res), -EINVAL);
	assert_int_equal(res.failed, 1);
	assert_int_equal(netprobe_blacklist_add_many(g_m, other, 3, NULL, &res),
			 -NETPROBE_ERR_OTHER_LIST);
	assert_int_equal(res.failed, 1);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
	assert_int_equal(verdict("10.1.0.1", 1), XDP_PASS);

	assert_int_equal(netprobe_blacklist_add(g_m, "10.1.0.0/16", 300), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.3.0.0/16", 0), 0);
	assert_int_equal(netprobe_blacklist_add_many(g_m, again, 4, &opts, &res), 0);
	assert_int_equal(res.done, 1);	  /* 10.4.0.1 */
	assert_int_equal(res.renewed, 1); /* 10.1.0.0/16 had a TTL: now 600 s */
	assert_int_equal(res.skipped, 2); /* its repeat, and 10.3.0.0/16 (no TTL: stays so) */
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 3);
	assert_non_null(e = find_entry(&es, "10.1.0.0/16"));
	assert_true(e->ttl_left_ms > 590000);
	assert_non_null(e = find_entry(&es, "10.3.0.0/16"));
	assert_int_equal(e->ttl_left_ms, 0);
	assert_non_null(e = find_entry(&es, "10.4.0.1/32"));
	assert_true(e->ttl_left_ms > 590000);
	assert_int_equal(verdict("10.4.0.1", 1), XDP_DROP);

	/* del: on the other list fails it whole; on no list is skipped. */
	assert_int_equal(netprobe_blacklist_del_many(g_m, other, 3, &res),
			 -NETPROBE_ERR_OTHER_LIST);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 3);
	assert_int_equal(netprobe_blacklist_del_many(g_m, again, 4, &res), 0);
	assert_int_equal(res.done, 3);
	assert_int_equal(res.skipped, 1);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
	assert_int_equal(verdict("10.4.0.1", 1), XDP_PASS);

	/* Bad arguments; an opts of a newer library with a field set past ours. */
	assert_int_equal(netprobe_blacklist_add_many(NULL, again, 4, NULL, NULL), -EINVAL);
	assert_int_equal(netprobe_blacklist_add_many(g_m, NULL, 4, NULL, NULL), -EINVAL);
	assert_int_equal(netprobe_blacklist_add_many(g_m, NULL, 0, NULL, NULL), 0);
	struct {
		struct netprobe_acl_batch_opts o;
		unsigned int newer;
	} big;

	memset(&big, 0, sizeof(big)); /* the padding too: a newer caller's struct is all zero */
	big.o.sz = sizeof(big);
	big.newer = 1;
	assert_int_equal(netprobe_blacklist_add_many(g_m, again, 4, &big.o, NULL), -EINVAL);
	big.newer = 0;
	assert_int_equal(netprobe_blacklist_add_many(g_m, again, 4, &big.o, NULL), 0);
	opts.ttl_s = NETPROBE_ACL_MAX_TTL_S + 1;
	assert_int_equal(netprobe_blacklist_add_many(g_m, again, 4, &opts, NULL), -EINVAL);
}

/*
 * Entries on the list already: the batch fails whole when asked
 * (NETPROBE_ACL_LISTED_FAIL, the command line's add), or they take the
 * batch's TTL exactly (NETPROBE_ACL_LISTED_UPDATE): shortened, given one,
 * or made permanent; never silently.
 */
static void test_batch_listed(void **state)
{
	const char *two[] = {"10.7.0.1", "10.6.0.0/16"};
	const char *three[] = {"10.5.0.0/16", "10.6.0.0/16", "10.7.0.1"};
	struct netprobe_acl_batch_opts opts = {.sz = sizeof(opts),
					       .listed = NETPROBE_ACL_LISTED_FAIL};
	struct netprobe_acl_batch_result res;
	const struct netprobe_acl_entry *e;
	struct entries es;

	(void)state;
	start_lists_only();
	assert_int_equal(netprobe_blacklist_add(g_m, "10.5.0.0/16", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.6.0.0/16", 300), 0);
	assert_int_equal(netprobe_blacklist_add_many(g_m, two, 2, &opts, &res), -EEXIST);
	assert_int_equal(res.failed, 1);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 2);
	assert_int_equal(verdict("10.7.0.1", 1), XDP_PASS);

	opts.listed = NETPROBE_ACL_LISTED_UPDATE;
	opts.ttl_s = 100;
	assert_int_equal(netprobe_blacklist_add_many(g_m, three, 3, &opts, &res), 0);
	assert_int_equal(res.done, 1);
	assert_int_equal(res.renewed, 2);
	es = listing(NETPROBE_ACL_DENY);
	assert_non_null(e = find_entry(&es, "10.5.0.0/16")); /* was permanent */
	assert_true(e->ttl_left_ms > 95000 && e->ttl_left_ms <= 100000);
	assert_non_null(e = find_entry(&es, "10.6.0.0/16")); /* was 300 s: shortened */
	assert_true(e->ttl_left_ms > 95000 && e->ttl_left_ms <= 100000);
	assert_int_equal(verdict("10.5.0.1", 1), XDP_DROP);
	assert_int_equal(verdict("10.7.0.1", 1), XDP_DROP);

	/* TTL 0: permanent again. The default keeps a permanent entry permanent. */
	opts.ttl_s = 0;
	assert_int_equal(netprobe_blacklist_add_many(g_m, three, 2, &opts, &res), 0);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(find_entry(&es, "10.5.0.0/16")->ttl_left_ms, 0);
	assert_int_equal(find_entry(&es, "10.6.0.0/16")->ttl_left_ms, 0);
	opts.listed = NETPROBE_ACL_LISTED_SKIP;
	opts.ttl_s = 50;
	assert_int_equal(netprobe_blacklist_add_many(g_m, three, 1, &opts, &res), 0);
	assert_int_equal(res.skipped, 1);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(find_entry(&es, "10.5.0.0/16")->ttl_left_ms, 0);
	opts.listed = 7;
	assert_int_equal(netprobe_blacklist_add_many(g_m, three, 3, &opts, &res), -EINVAL);
}

/*
 * Allow prefixes coming and going in batches over deny entries inside them:
 * the entries' words are recomputed once a batch, whatever the order.
 */
static void test_batch_allow_prefixes(void **state)
{
	const char *deny[] = {"10.50.1.0/24", "10.50.2.0/25", "10.50.3.3", "2001:db8:50::1",
			      "2001:db8:50:1::/64"};
	const char *allow[] = {"10.50.0.0/16", "2001:db8:50::/48"};
	const char *inside[] = {"10.50.1.1", "10.50.2.1", "10.50.3.3", "2001:db8:50::1",
				"2001:db8:50:1::9"};

	(void)state;
	start_lists_only();
	assert_int_equal(netprobe_blacklist_add_many(g_m, deny, 5, NULL, NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(verdict(inside[i], 1), XDP_DROP);
	assert_int_equal(netprobe_allowlist_add_many(g_m, allow, 2, NULL, NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(verdict(inside[i], 1), XDP_PASS);
	assert_int_equal(netprobe_allowlist_del_many(g_m, allow, 2, NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(verdict(inside[i], 1), XDP_DROP);
	assert_int_equal(verdict("10.50.9.9", 1), XDP_PASS);
}

/*
 * Map updates of the library, through the linker (-Wl,--wrap): after
 * g_update_fail_in more successful ones, one fails with ENOMEM, as a full
 * or memory-starved map would.
 */
static int g_update_fail_in = -1;
static bool g_refuse_rewrites; /* every BPF_EXIST update fails with ENOMEM while set */

/*
 * And a process that dies part way through a change: in a forked child,
 * at its g_die_in-th map write (update or delete) from now, or (with
 * g_die_from_failure) from the failure g_update_fail_in injects, it
 * SIGKILLs itself.
 */
static int g_die_in = -1;
static bool g_die_from_failure;

static void write_point(void)
{
	if (g_die_in >= 0 && !g_die_from_failure && g_die_in-- == 0)
		raise(SIGKILL);
}

int __real_bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags);
int __wrap_bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags)
{
	write_point();
	if (g_refuse_rewrites && flags == BPF_EXIST) {
		errno = ENOMEM;
		return -ENOMEM;
	}
	if (g_update_fail_in >= 0 && g_update_fail_in-- == 0) {
		g_die_from_failure = false;
		errno = ENOMEM;
		return -ENOMEM;
	}
	return __real_bpf_map_update_elem(fd, key, value, flags);
}

int __real_bpf_map_delete_elem(int fd, const void *key);
int __wrap_bpf_map_delete_elem(int fd, const void *key)
{
	write_point();
	return __real_bpf_map_delete_elem(fd, key);
}

/* And between the library's stores to the mapped tables (np_fault_point). */
void __wrap_np_fault_point(void);
void __wrap_np_fault_point(void)
{
	write_point();
}

/* A pinned map of the state, mapped read-only; its length in *len. */
static void *map_pinned(const char *name, size_t *len)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	char path[256];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_path, name);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &info_len), 0);
	*len = (size_t)info.value_size * info.max_entries;
	p = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(p != MAP_FAILED);
	return p;
}

static unsigned int count_keys(const char *name, size_t key_size)
{
	unsigned char key[64], next[64];
	char path[256];
	unsigned int n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_path, name);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0 && key_size <= sizeof(key));
	for (void *k = NULL; !bpf_map_get_next_key(fd, k, next); k = key, n++)
		memcpy(key, next, key_size);
	close(fd);
	return n;
}

/* The change a dead process left, as the pinned meta says before anyone recovers it. */
static unsigned int pinned_change_state(void)
{
	size_t len;
	const struct netprobe_acl_meta *meta = map_pinned("np_acl_meta", &len);
	unsigned int state = meta->change_state;

	munmap((void *)meta, len);
	return state;
}

/*
 * After a recovery, the pinned lists hold no trace of a change: no change
 * in progress, no entry PENDING, no rule BUSY (no packet runs meanwhile),
 * and the counts that let XDP skip the IPv6 tables at least their keys.
 */
static void check_lists_whole(const char *phase)
{
	size_t rules_len, meta_len;
	const struct netprobe_acl_rule *rules = map_pinned("np_acl_rules", &rules_len);
	const struct netprobe_acl_meta *meta = map_pinned("np_acl_meta", &meta_len);
	unsigned int v6_exact = count_keys("np_acl_v6_exact", 16);
	unsigned int v6_trie = count_keys("np_acl_v6_trie", sizeof(struct netprobe_acl_v6_prefix));
	unsigned int v4_agg = count_keys("np_acl_v4_agg", 4);
	static const char *const state[] = {"FREE", "LIVE", "BUSY", "PENDING", "CLAIMED"};

	if (meta->change_state != NETPROBE_CHANGE_IDLE)
		fail_msg("%s: a change is left in state %u", phase, meta->change_state);
	for (size_t id = 1; id < rules_len / sizeof(*rules); id++)
		if (rules[id].in_use > NETPROBE_RULE_LIVE)
			fail_msg("%s: rule %zu is left %s", phase, id,
				 rules[id].in_use <= NETPROBE_RULE_CLAIMED ? state[rules[id].in_use]
									   : "?");
	if (meta->v6_exact < v6_exact || meta->v6_prefixes < v6_trie ||
	    meta->v4_aggregates < v4_agg)
		fail_msg("%s: counts %u, %u and %u for %u, %u and %u keys (IPv6 exact, IPv6 "
			 "prefixes, IPv4 aggregates)",
			 phase, meta->v6_exact, meta->v6_prefixes, meta->v4_aggregates, v6_exact,
			 v6_trie, v4_agg);
	munmap((void *)rules, rules_len);
	munmap((void *)meta, meta_len);
}

/*
 * Runs op(arg) in a child that kills itself at its die_at-th map write or
 * fault point, after fail_at updates fail one (-1: none; die_at then
 * counts from the failure). Returns how it ended: 0 done, 1 failed (op
 * returned an error), -1 killed.
 */
static int op_in_child(int (*op)(const void *), const void *arg, int fail_at, int die_at)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		g_update_fail_in = fail_at;
		g_die_from_failure = fail_at >= 0;
		g_die_in = die_at;
		_exit(op(arg) ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status)) {
		assert_int_equal(WTERMSIG(status), SIGKILL);
		return -1;
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
	return WEXITSTATUS(status);
}

struct batch_op {
	const char *const *v;
	size_t count;
	bool del, allow;
};

static int run_batch(const void *arg)
{
	const struct batch_op *b = arg;

	return b->del ? (b->allow ? netprobe_allowlist_del_many
				  : netprobe_blacklist_del_many)(g_m, b->v, b->count, NULL)
		      : (b->allow ? netprobe_allowlist_add_many
				  : netprobe_blacklist_add_many)(g_m, b->v, b->count, NULL, NULL);
}

/* One batch of the rules pick says (del: removes them) of one list, in op_in_child. */
static int batch_in_child(const struct rule *rules, int n, const bool *pick, bool del, bool allow,
			  int fail_at, int die_at)
{
	static char text[MAX_RULES][64];
	const char *v[MAX_RULES];
	struct batch_op b = {.v = v, .del = del, .allow = allow};

	for (int i = 0; i < n; i++)
		if (pick[i] && rules[i].allow == allow)
			v[b.count++] = rule_str(&rules[i], text[i]);
	return op_in_child(run_batch, &b, fail_at, die_at);
}

/*
 * Every kill point, or (NETPROBE_KILL_STRIDE=N: the slow guest kernels'
 * short form) every Nth, and as many rounds fewer.
 */
static int kill_stride(void)
{
	const char *v = getenv("NETPROBE_KILL_STRIDE");
	int n = v ? atoi(v) : 1;

	return n >= 1 && n <= 4 ? n : 1;
}

static int list_deny(const void *arg)
{
	(void)arg;
	listing(NETPROBE_ACL_DENY); /* what a dead process left is recovered, then the sweep runs */
	return 0;
}

/*
 * Batches killed at every kind of point: while applying (committed: the
 * next process finishes it), or while undoing a failure (undone). Every
 * batch is then in, or out, whole, and the verdicts are the model's.
 */
static void run_killed_batches(int family, int nrules, int rounds, int probes)
{
	static struct rule rules[MAX_RULES];
	bool all[MAX_RULES], pick[MAX_RULES];
	int finished = 0, staged = 0, undone = 0, done = 0, failed = 0, recoveries_killed = 0;

	make_rules(rules, nrules, family);
	for (int i = 0; i < nrules; i++)
		all[i] = true;
	batch_rules(rules, nrules, all, false, true);
	g_model_mix_free = true;
	for (int round = 0; round < rounds; round++) {
		/* Pairs of rounds: half of a list goes, then comes back; one add in three fails. */
		bool allow = round / 2 % 2, del = round % 2 == 0,
		     failing = !del && round / 2 % 3 == 1;
		int picked = 0, ended, in = 0;
		unsigned int left;
		bool before;
		char phase[64];
		struct entries es;

		/* Half of one list's entries go, or half of those gone come back. */
		for (int i = 0; i < nrules; i++) {
			pick[i] = rules[i].allow == allow && rules[i].live == del && rnd(2);
			picked += pick[i];
		}
		if (!picked)
			continue;
		/* A change stages with a fault point an entry: one round in three dies staging. */
		ended = batch_in_child(rules, nrules, pick, del, allow,
				       failing ? (int)rnd(picked) : -1,
				       (int)rnd(failing		 ? picked * 2
						: round % 3 == 1 ? picked
								 : picked * 6 + 8));
		left = ended < 0 ? pinned_change_state() : NETPROBE_CHANGE_IDLE;
		/* One recovery in three is killed too: the next one finishes the same. */
		if (ended < 0 && round % 3 == 0)
			recoveries_killed += op_in_child(list_deny, NULL, -1, (int)rnd(picked)) < 0;
		es = listing(allow ? NETPROBE_ACL_ALLOW : NETPROBE_ACL_DENY);
		for (int i = 0; i < nrules; i++) {
			char text[64];

			if (pick[i])
				in += find_entry(&es, rule_str(&rules[i], text)) != NULL;
		}
		if (in != 0 && in != picked)
			fail_msg("round %d: %d of the batch's %d entries are listed", round, in,
				 picked);
		/*
		 * Killed while staging: undone; while applying: finished; while
		 * undoing a failure: undone.
		 */
		before = (in != 0) == del;
		/*
		 * What the meta said when the child died decides: committed is
		 * finished, staging or undoing undone; idle, it had not begun, or
		 * had ended.
		 */
		if ((ended >= 0 || left != NETPROBE_CHANGE_IDLE) &&
		    before != (ended == 1 || left == NETPROBE_CHANGE_STAGING ||
			       left == NETPROBE_CHANGE_UNDOING))
			fail_msg("round %d: %s, left %u: %s", round,
				 ended ? "killed or failed" : "done", left,
				 before ? "undone" : "finished");
		done += ended == 0;
		failed += ended == 1;
		finished += ended < 0 && !before;
		staged += ended < 0 && before && !failing;
		undone += ended < 0 && before && failing;
		for (int i = 0; i < nrules; i++)
			if (pick[i])
				rules[i].live = in != 0;
		snprintf(phase, sizeof(phase), "round %d (%s %s, %s)", round, del ? "del" : "add",
			 allow ? "allow" : "deny",
			 ended == 0   ? "done"
			 : ended == 1 ? "failed"
			 : before     ? "killed, undone"
				      : "killed, finished");
		check_lists_whole(phase);
		check_model(rules, nrules, family, probes, phase);
		/* An add undone is made again, whole, or the lists would thin out round by round. */
		if (!del && !in) {
			batch_rules(rules, nrules, pick, false, allow);
			for (int i = 0; i < nrules; i++)
				rules[i].live |= pick[i];
		}
	}
	print_message(
		"# IPv%d: killed and finished %d, killed staging and undone %d, killed undoing "
		"a failure and undone %d, done %d, failed %d; recoveries killed %d\n",
		family, finished, staged, undone, done, failed, recoveries_killed);
	g_model_mix_free = false;
	/* Every kind of recovery ran, and one was killed, or this tested little. */
	assert_true(finished > 0 && staged > 0 && undone > 0 && recoveries_killed > 0);
	for (int i = 0; i < nrules; i++)
		pick[i] = rules[i].live;
	batch_rules(rules, nrules, pick, true, false);
}

static void test_batch_killed_is_whole(void **state)
{
	(void)state;
	model_start(0x41c64e6d3039ull);
	run_killed_batches(4, 200, 24 / kill_stride(), 1000);
	run_killed_batches(6, 120, 24 / kill_stride(), 1000);
}

/* A batch the lists have no room for is refused whole. */
static void test_batch_too_big(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_acl_batch_result res;
	static char text[64][32];
	const char *v[64];

	(void)state;
	base_config(&cfg);
	detections_off(&cfg);
	cfg.acl_max_rules = 64;
	cfg.mitigation_max_blocks = 16;
	start_filter(&cfg);
	for (int i = 0; i < 64; i++) {
		snprintf(text[i], sizeof(text[i]), "10.%d.0.0/16", i);
		v[i] = text[i];
	}
	assert_int_equal(netprobe_blacklist_add_many(g_m, v, 64, NULL, &res), -ENOSPC);
	assert_int_equal(res.failed, 64);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
	assert_int_equal(netprobe_blacklist_add_many(g_m, v, 40, NULL, &res), 0);
	assert_int_equal(res.done, 40);
	assert_int_equal(verdict("10.39.1.1", 1), XDP_DROP);
}

/* ---- 2. Hits and drop counters ------------------------------------------------ */

struct flow_query {
	uint8_t src[16];
	unsigned long long packets;
};

static int sum_flow(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *st,
		    void *ctx)
{
	struct flow_query *q = ctx;

	if (k->direction == NETPROBE_DIR_INGRESS && !memcmp(k->src_addr, q->src, 16))
		q->packets += st->packets;
	return 0;
}

/* Packets the flow table holds from src. */
static unsigned long long flow_packets(const char *src)
{
	struct flow_query q = {};

	addr_bytes(src, q.src);
	assert_int_equal(netprobe_manager_foreach_flow(g_m, sum_flow, &q), 0);
	return q.packets;
}

/*
 * A list entry made after the last detach removed the pinned state goes
 * into pinned maps again, where every other netprobe finds it.
 */
static void test_list_add_pins_state_again(void **state)
{
	struct netprobe_manager *other;
	struct netprobe_config cfg;
	struct entries *es = calloc(1, sizeof(*es));

	(void)state;
	assert_non_null(es);
	start_lists_only();
	assert_int_equal(netprobe_manager_detach(g_m, NULL), 0);
	assert_int_equal(access(pin_path, F_OK), -1);
	assert_int_equal(netprobe_blacklist_add(g_m, "192.0.2.0/24", 0), 0);
	base_config(&cfg);
	other = netprobe_manager_new(&cfg);
	assert_non_null(other);
	assert_int_equal(netprobe_manager_load(other), 0);
	assert_int_equal(netprobe_blacklist_list(other, collect_entry, es), 0);
	assert_int_equal(es->n, 1);
	assert_string_equal(es->e[0].text, "192.0.2.0/24");
	netprobe_manager_free(other);
	free(es);
}

static void test_hits_count_decided_packets(void **state)
{
	struct netprobe_global_stats st;
	struct netprobe_security_stats sec;

	(void)state;
	start_lists_only();
	assert_int_equal(netprobe_blacklist_add(g_m, "10.1.0.0/16", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.1.2.0/24", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.1.2.3", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.1.7.0/28", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db8:1::/48", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8:1:2::/64", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db8:1:3::9", 0), 0);

	assert_int_equal(verdict("10.1.5.5", 7), XDP_DROP);  /* the /16 */
	assert_int_equal(verdict("10.1.2.9", 5), XDP_PASS);  /* the allowed /24 */
	assert_int_equal(verdict("10.1.2.3", 3), XDP_PASS);  /* the /24: allow wins over a /32 */
	assert_int_equal(verdict("10.1.7.14", 2), XDP_DROP); /* the /28 */
	assert_int_equal(verdict("2001:db8:1:5::1", 4), XDP_DROP); /* the /48 */
	assert_int_equal(verdict("2001:db8:1:2::9", 6), XDP_PASS); /* the allowed /64 */
	assert_int_equal(verdict("2001:db8:1:3::9", 8), XDP_DROP); /* the /128 */
	assert_int_equal(verdict("10.2.0.1", 9), XDP_PASS);	   /* nobody's */

	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.1.0.0/16"), 7);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "10.1.2.0/24"), 8);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.1.2.3/32"), 0);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.1.7.0/28"), 2);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "2001:db8:1::/48"), 4);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "2001:db8:1:2::/64"), 6);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "2001:db8:1:3::9/128"), 8);

	st = stats();
	assert_int_equal(st.rx_packets, 7 + 5 + 3 + 2 + 4 + 6 + 8 + 9);
	assert_int_equal(st.counters.filter[NETPROBE_FC_DENY_DROPS], 7 + 2 + 4 + 8);
	assert_int_equal(st.counters.xdp_action[XDP_DROP], 7 + 2 + 4 + 8);
	assert_int_equal(st.counters.filter[NETPROBE_FC_ALLOW_PASSES], 5 + 3 + 6);
	assert_int_equal(st.counters.xdp_action[XDP_PASS], 5 + 3 + 6 + 9);
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCK_DROPS], 0);
	/* Dropped packets stay out of the flow table (a flood would flush it). */
	assert_int_equal(flow_packets("10.1.5.5"), 0);
	assert_int_equal(flow_packets("2001:db8:1:3::9"), 0);
	assert_int_equal(flow_packets("10.1.2.3"), 3);
	assert_int_equal(flow_packets("10.2.0.1"), 9);
	sec = sec_stats();
	assert_int_equal(sec.filter[NETPROBE_FC_DENY_DROPS], 7 + 2 + 4 + 8);
	assert_int_equal(sec.filter[NETPROBE_FC_ALLOW_PASSES], 5 + 3 + 6);
	assert_int_equal(sec.deny_entries, 5);
	assert_int_equal(sec.allow_entries, 2);
	assert_int_equal(sec.block_entries, 0);

	/* A removed entry decides nothing more; a new one counts from zero. */
	assert_int_equal(netprobe_blacklist_del(g_m, "10.1.0.0/16"), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.3.0.0/16", 0), 0);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.3.0.0/16"), 0);
	assert_int_equal(verdict("10.1.5.5", 1), XDP_PASS);
	assert_int_equal(verdict("10.3.0.1", 1), XDP_DROP);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.3.0.0/16"), 1);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "10.1.2.0/24"), 8);
}

/* ---- 3. TTL ---------------------------------------------------------------------- */

static void test_ttl_expiry(void **state)
{
	static const char *const expiring[] = {"192.0.2.7", "198.51.100.0/24", "203.0.113.16/28",
					       "2001:db8:7::/64", "2001:db8:8::7"};
	static const char *const sources[] = {"192.0.2.7", "198.51.100.99", "203.0.113.20",
					      "2001:db8:7::1234", "2001:db8:8::7"};
	struct netprobe_security_stats sec;
	struct entries es;
	int n = sizeof(sources) / sizeof(sources[0]);

	(void)state;
	start_lists_only();
	/* One of each lookup path: exact /32, tbl24, tbl8, the IPv6 trie, exact /128. */
	for (int i = 0; i < n; i++)
		assert_int_equal(netprobe_blacklist_add(g_m, expiring[i], 1), 0);
	/* Expiring entries inside a permanent one, which decides once they are gone. */
	assert_int_equal(netprobe_blacklist_add(g_m, "10.20.0.0/16", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.20.30.0/28", 1), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.20.40.0/24", 1), 0);
	/* Deny entries under an expiring allow: an exact one, an IPv6 trie one. */
	assert_int_equal(netprobe_blacklist_add(g_m, "10.30.0.7", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db8:30::/64", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.30.0.0/24", 1), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8:30::/48", 1), 0);
	assert_int_equal(verdict("10.30.0.7", 1), XDP_PASS);
	assert_int_equal(verdict("2001:db8:30::9", 1), XDP_PASS);
	/* Four nested expiring entries inside a permanent one. */
	assert_int_equal(netprobe_blacklist_add(g_m, "10.128.0.0/9", 0), 0);
	for (int len = 12; len <= 24; len += 4) {
		char p[32];

		snprintf(p, sizeof(p), "10.128.0.0/%d", len);
		assert_int_equal(netprobe_blacklist_add(g_m, p, 1), 0);
	}
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, n + 9);
	for (int i = 0; i < es.n; i++) {
		if (!strcmp(es.e[i].text, "10.20.0.0/16") ||
		    !strcmp(es.e[i].text, "10.30.0.7/32") ||
		    !strcmp(es.e[i].text, "2001:db8:30::/64") ||
		    !strcmp(es.e[i].text, "10.128.0.0/9"))
			assert_int_equal(es.e[i].ttl_left_ms, 0);
		else
			assert_true(es.e[i].ttl_left_ms > 0 && es.e[i].ttl_left_ms <= 1000);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(verdict(sources[i], 1), XDP_DROP);
	assert_int_equal(verdict("10.20.30.5", 1), XDP_DROP);
	assert_int_equal(verdict("10.20.40.5", 1), XDP_PASS);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.20.30.0/28"), 1);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "10.20.40.0/24"), 1);
	assert_int_equal(sec_stats().deny_entries, n + 9);

	usleep(1200000);
	/* Nothing has swept yet: expired entries stop matching by themselves... */
	for (int i = 0; i < n; i++)
		assert_int_equal(verdict(sources[i], 1), XDP_PASS);
	/* ...and the entry covering an expired one decides its region at once. */
	assert_int_equal(verdict("10.20.30.5", 1), XDP_DROP);
	assert_int_equal(verdict("10.20.40.5", 1), XDP_DROP);
	/* The deny entries the expired allow entries overruled are back at once. */
	assert_int_equal(verdict("10.30.0.7", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:30::9", 1), XDP_DROP);
	/* The innermost of the nested ones falls back past the others in one step. */
	assert_int_equal(verdict("10.128.0.5", 1), XDP_DROP);
	/* Each of those n + 5 packets met an expired entry, and is counted once. */
	assert_int_equal(stats().counters.filter[NETPROBE_FC_EXPIRED_MATCHES], n + 5);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.20.0.0/16"), 2);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.128.0.0/9"), 1);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.30.0.7/32"), 1);
	sec = sec_stats();
	assert_int_equal(sec.deny_entries, 4);
	assert_int_equal(sec.allow_entries, 0);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 4);
	assert_non_null(find_entry(&es, "10.20.0.0/16"));
	assert_non_null(find_entry(&es, "10.128.0.0/9"));
	assert_int_equal(listing(NETPROBE_ACL_ALLOW).n, 0);
	/* Swept: still passing, and the /16 decides what its expired entries did. */
	for (int i = 0; i < n; i++)
		assert_int_equal(verdict(sources[i], 1), XDP_PASS);
	assert_int_equal(verdict("10.20.30.5", 1), XDP_DROP);
	assert_int_equal(verdict("10.20.40.5", 1), XDP_DROP);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.20.0.0/16"), 4);
}

/*
 * Expiry in nested entries, before anything sweeps: the answer is always the
 * longest live allow entry covering the source, else the longest live deny.
 */
static void test_expiry_nesting(void **state)
{

	(void)state;
	start_lists_only();
	/* Deny entries nested four deep, the inner ones expiring first, one by one. */
	assert_int_equal(netprobe_blacklist_add(g_m, "10.0.0.0/8", 100), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.0.0.0/12", 3), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.0.0.0/16", 2), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.0.0.0/20", 1), 0);
	/* IPv6: an expiring allow inside a deny inside a wider expiring allow. */
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8::/32", 2), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db8:1::/48", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8:1:2::/64", 1), 0);
	/* An expiring allow under a wider permanent allow, over deny entries. */
	assert_int_equal(netprobe_allowlist_add(g_m, "10.64.0.0/10", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.65.0.0/16", 1), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.65.2.3", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db9::/32", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db9:1::/48", 1), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db9:1:2::/64", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db9:1:3::7", 0), 0);

	assert_int_equal(verdict("10.0.0.1", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:1:2::5", 1), XDP_PASS);
	assert_int_equal(verdict("2001:db8:1:3::5", 1), XDP_PASS);
	assert_int_equal(verdict("10.65.2.3", 1), XDP_PASS);
	usleep(3300000);
	/* No listing in between: listings sweep, and this is about the datapath alone. */
	assert_int_equal(verdict("10.0.0.1", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:1:2::5", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:1:3::5", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:2::5", 1), XDP_PASS);
	assert_int_equal(verdict("10.65.2.3", 1), XDP_PASS);
	assert_int_equal(verdict("2001:db9:1:2::5", 1), XDP_PASS);
	assert_int_equal(verdict("2001:db9:1:3::7", 1), XDP_PASS);
	/* And the same after the sweep. */
	assert_int_equal(netprobe_manager_acl_sweep(g_m), 0);
	assert_int_equal(verdict("10.0.0.1", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:1:2::5", 1), XDP_DROP);
	assert_int_equal(verdict("10.65.2.3", 1), XDP_PASS);
	assert_int_equal(verdict("2001:db9:1:3::7", 1), XDP_PASS);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "10.0.0.0/8"), 2);
}

/* ---- 4. Bad input, full tables ------------------------------------------------- */

static void test_bad_input(void **state)
{
	static const char *const bad[] = {
		"",
		"abc",
		"10.0.0/8",
		"10.0.0.0/33",
		"10.0.0.0/-1",
		"1.2.3.4/",
		"1.2.3.4/8x",
		"10.0.0.1/8",
		"::1/129",
		"2001:db8::1/32",
		"10.0.0.0/+8",
		"10.0.0.0/ 8",
		"10.0.0.0/8/8",
		"1.2.3.4 ",
		"fe80::1%lo/128",
		"10.0.0.0//8",
		"/8",
		"1.2.3.4/4294967304",
	};
	struct netprobe_config cfg;
	struct netprobe_manager *unloaded;
	struct netprobe_security_stats sec;
	struct netprobe_cidr c;
	struct entries es;
	char buf[64];

	(void)state;
	base_config(&cfg);
	detections_off(&cfg);
	start_filter(&cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (netprobe_cidr_parse(bad[i], &c) != -EINVAL)
			fail_msg("netprobe_cidr_parse accepted '%s'", bad[i]);
		if (netprobe_blacklist_add(g_m, bad[i], 0) != -EINVAL ||
		    netprobe_allowlist_add(g_m, bad[i], 0) != -EINVAL ||
		    netprobe_blacklist_del(g_m, bad[i]) != -EINVAL ||
		    netprobe_allowlist_del(g_m, bad[i]) != -EINVAL)
			fail_msg("a list call accepted '%s'", bad[i]);
	}
	assert_int_equal(netprobe_cidr_parse(NULL, &c), -EINVAL);
	assert_int_equal(netprobe_cidr_parse("10.0.0.0/8", NULL), -EINVAL);
	assert_int_equal(netprobe_blacklist_add(g_m, NULL, 0), -EINVAL);
	assert_int_equal(netprobe_allowlist_add(g_m, NULL, 0), -EINVAL);
	assert_int_equal(netprobe_blacklist_del(g_m, NULL), -EINVAL);
	assert_int_equal(netprobe_allowlist_del(g_m, NULL), -EINVAL);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n + listing(NETPROBE_ACL_ALLOW).n, 0);

	/* What is accepted, and how it reads back. */
	assert_int_equal(netprobe_cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.family, NETPROBE_FAMILY_IPV4);
	assert_int_equal(c.prefix_len, 8);
	assert_memory_equal(c.addr, "\x0a\0\0\0", 4);
	assert_string_equal(netprobe_cidr_str(&c, buf, sizeof(buf)), "10.0.0.0/8");
	assert_int_equal(netprobe_cidr_parse("192.0.2.1", &c), 0);
	assert_int_equal(c.prefix_len, 32);
	assert_int_equal(netprobe_cidr_parse("2001:0DB8:0:0::/32", &c), 0);
	assert_int_equal(c.family, NETPROBE_FAMILY_IPV6);
	assert_string_equal(netprobe_cidr_str(&c, buf, sizeof(buf)), "2001:db8::/32");
	assert_int_equal(netprobe_cidr_parse("::/0", &c), 0);
	assert_int_equal(c.prefix_len, 0);
	assert_int_equal(netprobe_cidr_parse("2001:db8::1", &c), 0);
	assert_int_equal(c.prefix_len, 128);

	/* Duplicates, however spelled; on the other list, an error of its own. */
	assert_int_equal(netprobe_blacklist_add(g_m, "10.0.0.0/8", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.0.0.0/8", 0), -EEXIST);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.0.0.0/8", 30), -NETPROBE_ERR_OTHER_LIST);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8::/32", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:0db8:0::/32", 0), -EEXIST);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:DB8::/32", 0), -NETPROBE_ERR_OTHER_LIST);
	assert_string_equal(netprobe_strerror(-NETPROBE_ERR_OTHER_LIST), "on the other list");
	assert_int_equal(netprobe_blacklist_add(g_m, "192.0.2.1", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "192.0.2.1/32", 0), -EEXIST);
	/* The same address with another length is another entry. */
	assert_int_equal(netprobe_blacklist_add(g_m, "10.0.0.0/9", 0), 0);

	/* Removing what is not there, or from the other list. */
	assert_int_equal(netprobe_blacklist_del(g_m, "10.9.0.0/16"), -ENOENT);
	assert_int_equal(netprobe_blacklist_del(g_m, "10.0.0.0/7"), -ENOENT);
	assert_int_equal(netprobe_allowlist_del(g_m, "10.0.0.0/8"), -NETPROBE_ERR_OTHER_LIST);
	assert_int_equal(netprobe_blacklist_del(g_m, "2001:db8::/32"), -NETPROBE_ERR_OTHER_LIST);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 3);
	assert_non_null(find_entry(&es, "10.0.0.0/8"));
	assert_int_equal(verdict("10.200.0.1", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8::5", 1), XDP_PASS);
	assert_int_equal(listing(NETPROBE_ACL_ALLOW).n, 1);

	/* TTLs: up to NETPROBE_ACL_MAX_TTL_S. */
	assert_int_equal(netprobe_blacklist_add(g_m, "10.9.0.0/16", NETPROBE_ACL_MAX_TTL_S + 1),
			 -EINVAL);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.9.0.0/16", ~0u), -EINVAL);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.9.0.0/16", NETPROBE_ACL_MAX_TTL_S), 0);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 4);
	assert_true(find_entry(&es, "10.9.0.0/16")->ttl_left_ms >
		    (NETPROBE_ACL_MAX_TTL_S - 60) * 1000ull);

	/* No manager, or one that is not loaded. */
	unloaded = netprobe_manager_new(&cfg);
	assert_non_null(unloaded);
	for (int i = 0; i < 2; i++) {
		struct netprobe_manager *m = i ? unloaded : NULL;

		assert_int_equal(netprobe_blacklist_add(m, "10.9.9.0/24", 0), -EINVAL);
		assert_int_equal(netprobe_allowlist_add(m, "10.9.9.0/24", 0), -EINVAL);
		assert_int_equal(netprobe_blacklist_del(m, "10.0.0.0/8"), -EINVAL);
		assert_int_equal(netprobe_allowlist_del(m, "2001:db8::/32"), -EINVAL);
		assert_int_equal(netprobe_blacklist_list(m, collect_entry, &es), -EINVAL);
		assert_int_equal(netprobe_allowlist_list(m, collect_entry, &es), -EINVAL);
		assert_int_equal(netprobe_manager_acl_sweep(m), -EINVAL);
		assert_int_equal(netprobe_manager_security_stats(m, &sec), -EINVAL);
	}
	/* A manager not loaded yet takes any valid config; a bad one is refused. */
	assert_int_equal(netprobe_manager_update_config(unloaded, &cfg), 0);
	netprobe_manager_free(unloaded);
	assert_int_equal(netprobe_manager_update_config(NULL, &cfg), -EINVAL);
	assert_int_equal(netprobe_manager_update_config(g_m, NULL), -EINVAL);
	{
		struct netprobe_config bad = cfg, now;

		bad.syn_flood = (struct netprobe_detection){true, 0, 1000};
		assert_int_equal(netprobe_manager_update_config(g_m, &bad), -EINVAL);
		bad = cfg;
		bad.flow_table_size *= 2; /* fixed once loaded */
		assert_int_equal(netprobe_manager_update_config(g_m, &bad), -EINVAL);
		bad = cfg;
		bad.lb_table_size = 65521; /* fixed once loaded */
		assert_int_equal(netprobe_manager_update_config(g_m, &bad), -EINVAL);
		/* Refused changes change nothing: the filter still drops. */
		assert_int_equal(netprobe_manager_get_config(g_m, &now), 0);
		assert_int_equal(now.xdp_mode, NETPROBE_XDP_FILTER);
		assert_int_equal(now.flow_table_size, cfg.flow_table_size);
		assert_int_equal(verdict("10.1.2.3", 1), XDP_DROP);
	}
	assert_int_equal(netprobe_blacklist_list(g_m, NULL, NULL), -EINVAL);
	assert_int_equal(netprobe_manager_security_stats(g_m, NULL), -EINVAL);
	/* The entries are untouched by all of that. */
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 4);
}

static void fill_groups(const char *fmt, int first, int count, int want)
{
	char text[64];

	for (int i = first; i < first + count; i++) {
		snprintf(text, sizeof(text), fmt, i);
		if (netprobe_blacklist_add(g_m, text, 0) != want)
			fail_msg("adding %s did not return %d", text, want);
	}
}

/* 64 rules with one for mitigation, 16 tbl8 groups: both run out. */
static void test_full_tables(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_security_stats sec;
	struct entries before, after;
	char text[64];
	int added = 0, err;
	unsigned int reused;

	(void)state;
	base_config(&cfg);
	detections_off(&cfg);
	cfg.acl_max_rules = 64;
	cfg.mitigation_max_blocks = 1;
	cfg.acl_v4_groups = 16;
	start_filter(&cfg);

	/* A /25 takes a group for its /24: the 17th /24 finds none. */
	fill_groups("10.60.%d.0/25", 0, 16, 0);
	before = listing(NETPROBE_ACL_DENY);
	assert_int_equal(before.n, 16);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.60.16.0/25", 0), -ENOSPC);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.60.17.128/26", 0), -ENOSPC);
	/* Nothing of the failed adds is left: listings and verdicts are as before. */
	after = listing(NETPROBE_ACL_DENY);
	assert_int_equal(after.n, before.n);
	for (int i = 0; i < before.n; i++)
		assert_string_equal(after.e[i].text, before.e[i].text);
	for (int i = 0; i < 18; i++) {
		snprintf(text, sizeof(text), "10.60.%d.5", i);
		assert_int_equal(verdict(text, 1), i < 16 ? XDP_DROP : XDP_PASS);
		snprintf(text, sizeof(text), "10.60.%d.200", i);
		assert_int_equal(verdict(text, 1), XDP_PASS);
	}
	/* What needs no new group still goes in: a /26 in a grouped /24, a /32, a /24. */
	assert_int_equal(netprobe_blacklist_add(g_m, "10.60.3.128/26", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.60.16.7", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.60.17.0/24", 0), 0);
	assert_int_equal(verdict("10.60.3.150", 1), XDP_DROP);
	assert_int_equal(verdict("10.60.3.200", 1), XDP_PASS);
	assert_int_equal(verdict("10.60.16.7", 1), XDP_DROP);
	assert_int_equal(verdict("10.60.16.8", 1), XDP_PASS);
	assert_int_equal(verdict("10.60.17.1", 1), XDP_DROP);
	/* A /24 that no longer needs its group gives it back. */
	assert_int_equal(netprobe_blacklist_del(g_m, "10.60.0.0/25"), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.60.16.0/25", 0), 0);
	assert_int_equal(verdict("10.60.0.5", 1), XDP_PASS);
	assert_int_equal(verdict("10.60.16.5", 1), XDP_DROP);
	assert_int_equal(verdict("10.60.16.7", 1), XDP_DROP);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.60.18.0/25", 0), -ENOSPC);

	/* The rule table: capacity 64 - 1 for mitigation - id 0, which is never used. */
	sec = sec_stats();
	assert_int_equal(sec.capacity, 64 - 1 - 1);
	added = sec.deny_entries;
	assert_int_equal(added, 19);
	for (int i = 0; added < (int)sec.capacity + 5; i++) {
		snprintf(text, sizeof(text), "10.70.%d.0/24", i);
		err = netprobe_blacklist_add(g_m, text, 0);
		if (err == -ENOSPC)
			break;
		assert_int_equal(err, 0);
		added++;
	}
	assert_int_equal(added, sec.capacity);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8::/64", 0), -ENOSPC);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db8::1", 0), -ENOSPC);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.60.1.9", 0), -ENOSPC);
	assert_int_equal(verdict("10.60.1.9", 1), XDP_DROP);
	assert_int_equal(sec_stats().deny_entries, sec.capacity);
	/* One out, one in: on the freed id, counting its hits from zero. */
	assert_int_equal(verdict("10.70.0.1", 3), XDP_DROP);
	before = listing(NETPROBE_ACL_DENY);
	reused = find_entry(&before, "10.70.0.0/24")->id;
	assert_int_equal(find_entry(&before, "10.70.0.0/24")->hits, 3);
	assert_int_equal(netprobe_blacklist_del(g_m, "10.70.0.0/24"), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.60.1.9", 0), 0);
	after = listing(NETPROBE_ACL_ALLOW);
	assert_int_equal(after.n, 1);
	assert_int_equal(after.e[0].id, reused);
	assert_int_equal(after.e[0].hits, 0);
	assert_int_equal(verdict("10.60.1.9", 1), XDP_PASS);
	assert_int_equal(verdict("10.70.0.1", 1), XDP_PASS);
	assert_int_equal(verdict("10.70.1.1", 1), XDP_DROP);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "10.60.1.9/32"), 1);
}

/* ---- 5. Detections and their events -------------------------------------------- */

struct expect {
	unsigned char detection, scope, scan_hosts, blocked;
	/* The source ("2001:db8::/64": an IPv6 source's prefix), or the destination. */
	const char *addr;
	unsigned long long threshold;
	unsigned int window_ms;
};

static bool event_is(const struct netprobe_security_event *ev, const struct expect *x)
{
	char text[INET6_ADDRSTRLEN + 4], *slash;
	unsigned int prefix_len = 0;
	uint8_t a[16];

	if (ev->detection != x->detection || ev->scope != x->scope)
		return false;
	if (x->scope == NETPROBE_SCOPE_INTERFACE)
		return true;
	snprintf(text, sizeof(text), "%s", x->addr);
	slash = strchr(text, '/');
	if (slash) {
		*slash = '\0';
		prefix_len = atoi(slash + 1);
	}
	addr_bytes(text, a);
	if (x->scope == NETPROBE_SCOPE_SOURCE && ev->src_prefix_len != prefix_len)
		return false;
	return !memcmp(x->scope == NETPROBE_SCOPE_SOURCE ? ev->src : ev->dst, a, 16);
}

/*
 * Everything raised so far has reached the handler: each expected event
 * exactly once, nothing else, and the counters say the same. Returns the
 * event of expectation `want` (for its rule id).
 */
static struct netprobe_security_event check_events(const struct expect *x, size_t n, size_t want)
{
	static struct netprobe_security_event got[MAX_EVENTS];
	unsigned long long per_type[NETPROBE_DETECT_MAX] = {},
			   per_type_dst[NETPROBE_DETECT_MAX] = {};
	bool used[MAX_EVENTS] = {};
	struct netprobe_global_stats st;
	struct netprobe_security_stats sec;
	size_t ngot, other, match = 0;
	unsigned int ifindex = if_nametoindex(IF_DUT);

	events_flush();
	ngot = events_copy(got, &other);
	assert_int_equal(other, 0);
	for (size_t i = 0; i < n; i++) {
		const char *name = netprobe_detection_name(x[i].detection);
		size_t j;

		for (j = 0; j < ngot && (used[j] || !event_is(&got[j], &x[i])); j++)
			;
		if (j == ngot)
			fail_msg("no %s event (scope %d) for %s", name, x[i].scope,
				 x[i].addr ? x[i].addr : "the interface");
		used[j] = true;
		if (i == want)
			match = j;
		if (x[i].scope == NETPROBE_SCOPE_DESTINATION)
			per_type_dst[x[i].detection]++;
		else
			per_type[x[i].detection]++;
		assert_int_equal(got[j].hdr.ifindex, ifindex);
		assert_int_equal(got[j].scan_hosts, x[i].scan_hosts);
		assert_int_equal(got[j].blocked, x[i].blocked);
		assert_int_equal(got[j].window_ms, x[i].window_ms);
		if (x[i].scope == NETPROBE_SCOPE_INTERFACE) {
			assert_int_equal(got[j].family, 0);
		} else {
			assert_int_equal(got[j].family, family_of(x[i].addr));
			assert_int_equal(got[j].threshold, x[i].threshold);
		}
		if (got[j].rate < got[j].threshold)
			fail_msg("%s for %s: rate %llu under the threshold %llu", name,
				 x[i].addr ? x[i].addr : "the interface",
				 (unsigned long long)got[j].rate,
				 (unsigned long long)got[j].threshold);
	}
	for (size_t j = 0; j < ngot; j++) {
		char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

		if (used[j])
			continue;
		addr_str(got[j].family, got[j].src, src);
		addr_str(got[j].family, got[j].dst, dst);
		fail_msg("unexpected %s event (scope %d) src %s dst %s rate %llu",
			 netprobe_detection_name(got[j].detection), got[j].scope, src, dst,
			 (unsigned long long)got[j].rate);
	}
	st = stats();
	sec = sec_stats();
	for (int d = 0; d < NETPROBE_DETECT_MAX; d++) {
		assert_int_equal(st.counters.detections[d], per_type[d]);
		assert_int_equal(sec.detections[d], per_type[d]);
		assert_int_equal(st.counters.detections_dst[d], per_type_dst[d]);
		assert_int_equal(sec.detections_dst[d], per_type_dst[d]);
	}
	return got[match];
}

static unsigned long long detections(int d)
{
	return stats().counters.detections[d];
}

static void send_syns(const char *src, const char *dst, uint16_t dport, unsigned int n)
{
	struct pkt_spec s = tcp(src, dst, 40000, dport, SYN);

	assert_int_equal(send_spec(&s, n), XDP_PASS);
}

/* n SYNs from src, whatever becomes of them (a block may start dropping them). */
static void syn_burst(const char *src, const char *dst, unsigned int n)
{
	struct pkt_spec s = tcp(src, dst, 40000, 80, SYN);

	send_spec(&s, n);
}

/* SYNs from src to ports first..last of dst, one frame each; returns the last verdict. */
static int scan_ports(const char *src, const char *dst, uint8_t proto, int first, int last)
{
	int v = XDP_PASS;

	for (int port = first; port <= last; port++) {
		struct pkt_spec s = proto == IPPROTO_TCP ? tcp(src, dst, 40000, port, SYN)
							 : udp(src, dst, 40000, port);

		v = send_spec(&s, 1);
	}
	return v;
}

/* ICMP echo requests (or replies) from src to hosts first..last of the /24 (or /64) net. */
static void sweep_hosts(const char *src, const char *net, int first, int last, bool request)
{
	char dst[INET6_ADDRSTRLEN];

	for (int h = first; h <= last; h++) {
		snprintf(dst, sizeof(dst), family_of(src) == 6 ? "%s%x" : "%s%d", net, h);
		struct pkt_spec s = icmp(src, dst,
					 request ? (family_of(src) == 6 ? 128 : 8)
						 : (family_of(src) == 6 ? 129 : 0));

		assert_int_equal(send_spec(&s, 1), XDP_PASS);
	}
}

#define EXPECT_SRC(det, src, thr, win)                                                             \
	(struct expect)                                                                            \
	{                                                                                          \
		.detection = NETPROBE_DETECT_##det, .scope = NETPROBE_SCOPE_SOURCE, .addr = src,   \
		.threshold = thr, .window_ms = win                                                 \
	}

static void flood_config(struct netprobe_config *cfg)
{
	base_config(cfg);
	detections_off(cfg);
	cfg->syn_flood = (struct netprobe_detection){true, 100, 1000};
	cfg->udp_flood = (struct netprobe_detection){true, 100, 100}; /* 10 a window */
	cfg->icmp_flood = (struct netprobe_detection){true, 100, 1000};
	cfg->syn_flood_dst = (struct netprobe_detection){true, 200, 1000};
	cfg->udp_flood_dst = (struct netprobe_detection){true, 200, 1000};
	cfg->icmp_flood_dst = (struct netprobe_detection){true, 200, 1000};
}

/* SYN floods alone, 100 a second from one source. */
static void syn_flood_config(struct netprobe_config *cfg)
{
	base_config(cfg);
	detections_off(cfg);
	cfg->syn_flood = (struct netprobe_detection){true, 100, 1000};
}

static void test_floods(void **state)
{
	static const uint8_t not_syn[] = {SYN_ACK, ACK, FIN, RST, 0 /* NULL */};
	struct expect x[16];
	struct netprobe_config cfg;
	struct pkt_spec s;
	size_t n = 0;
	char src[32];

	(void)state;
	flood_config(&cfg);
	start_filter(&cfg);
	events_start();

	/* A SYN flood, IPv4 and IPv6: one event a source and a window, however long it goes on. */
	send_syns("192.0.2.1", "198.51.100.1", 80, 190);
	send_syns("192.0.2.1", "198.51.100.1", 80, 9);
	x[n++] = EXPECT_SRC(SYN_FLOOD, "192.0.2.1", 100, 1000);
	send_syns("2001:db8:a::1", "2001:db8:b::1", 443, 190);
	x[n++] = EXPECT_SRC(SYN_FLOOD, "2001:db8:a::/64", 100, 1000);
	assert_int_equal(detections(NETPROBE_DETECT_SYN_FLOOD), 2);

	/* Other segments are no SYN flood: 99 SYNs among 5000 of them stay under 100. */
	send_syns("192.0.2.2", "198.51.100.2", 80, 99);
	for (size_t i = 0; i < sizeof(not_syn) / sizeof(not_syn[0]); i++) {
		s = tcp("192.0.2.2", "198.51.100.2", 40000, 80, not_syn[i]);
		assert_int_equal(send_spec(&s, 1000), XDP_PASS);
	}
	assert_int_equal(detections(NETPROBE_DETECT_SYN_FLOOD), 2);
	send_syns("192.0.2.2", "198.51.100.2", 80, 1); /* the 100th SYN */
	x[n++] = EXPECT_SRC(SYN_FLOOD, "192.0.2.2", 100, 1000);
	assert_int_equal(detections(NETPROBE_DETECT_SYN_FLOOD), 3);

	/* A UDP flood, in 100 ms windows: again after the window, not before. */
	s = udp("192.0.2.3", "198.51.100.3", 40000, 53);
	assert_int_equal(send_spec(&s, 50), XDP_PASS);
	assert_int_equal(send_spec(&s, 50), XDP_PASS);
	x[n++] = EXPECT_SRC(UDP_FLOOD, "192.0.2.3", 100, 100);
	assert_int_equal(detections(NETPROBE_DETECT_UDP_FLOOD), 1);
	/*
	 * The estimate weighs the window before by what is left of it: 50 more
	 * just after the window make 100. The windows are the kernel's clock's,
	 * which on a loaded or emulated machine may not have moved by the time
	 * the sleep ends: 50 again a while apart, until it fires (never 100 at
	 * once: the destination's own flood counts every one of them).
	 */
	usleep(150000);
	for (int i = 0; i < 20 && detections(NETPROBE_DETECT_UDP_FLOOD) < 2; i++) {
		if (i)
			usleep(100000);
		assert_int_equal(send_spec(&s, 50), XDP_PASS);
	}
	x[n++] = EXPECT_SRC(UDP_FLOOD, "192.0.2.3", 100, 100);
	assert_int_equal(detections(NETPROBE_DETECT_UDP_FLOOD), 2);

	/* An ICMP flood. */
	s = icmp("192.0.2.4", "198.51.100.4", 8);
	assert_int_equal(send_spec(&s, 190), XDP_PASS);
	x[n++] = EXPECT_SRC(ICMP_FLOOD, "192.0.2.4", 100, 1000);

	/* Floods towards one host from 50 sources, each under its own threshold. */
	for (int i = 1; i <= 50; i++) {
		snprintf(src, sizeof(src), "10.50.0.%d", i);
		send_syns(src, "198.51.100.5", 80, 5);
		s = icmp(src, "198.51.100.6", 8);
		assert_int_equal(send_spec(&s, 5), XDP_PASS);
	}
	x[n++] = (struct expect){.detection = NETPROBE_DETECT_SYN_FLOOD,
				 .scope = NETPROBE_SCOPE_DESTINATION,
				 .addr = "198.51.100.5",
				 .threshold = 200,
				 .window_ms = 1000};
	x[n++] = (struct expect){.detection = NETPROBE_DETECT_ICMP_FLOOD,
				 .scope = NETPROBE_SCOPE_DESTINATION,
				 .addr = "198.51.100.6",
				 .threshold = 200,
				 .window_ms = 1000};
	check_events(x, n, 0);
	/* Counted apart from the per-source ones: syn_flood_dst, icmp_flood_dst. */
	assert_int_equal(stats().counters.detections_dst[NETPROBE_DETECT_SYN_FLOOD], 1);
	assert_int_equal(stats().counters.detections_dst[NETPROBE_DETECT_ICMP_FLOOD], 1);
	assert_int_equal(stats().counters.detections_dst[NETPROBE_DETECT_UDP_FLOOD], 0);
	assert_int_equal(detections(NETPROBE_DETECT_ICMP_FLOOD), 1); /* the source one alone */

	/* Switched off, the SYN flood detection raises nothing; the others carry on. */
	cfg.syn_flood.enabled = false;
	update_config(&cfg);
	send_syns("192.0.2.7", "198.51.100.7", 80, 190);
	s = udp("192.0.2.8", "198.51.100.8", 40000, 53);
	assert_int_equal(send_spec(&s, 20), XDP_PASS);
	x[n++] = EXPECT_SRC(UDP_FLOOD, "192.0.2.8", 100, 100);
	check_events(x, n, 0);
	cfg.syn_flood.enabled = true;
	update_config(&cfg);
	send_syns("192.0.2.9", "198.51.100.9", 80, 190);
	x[n++] = EXPECT_SRC(SYN_FLOOD, "192.0.2.9", 100, 1000);
	check_events(x, n, 0);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_ADDED], 0);
}

/*
 * A port scan is counted in the probes that failed: those this host answered
 * with a reset or an ICMP unreachable (TC egress), as Zeek and sfPortscan
 * count failed attempts. Connections that succeed count for nothing, however
 * many ports they reach.
 */
static void test_scans(void **state)
{
	struct expect x[8];
	struct netprobe_config cfg;
	size_t n = 0;

	(void)state;
	base_config(&cfg); /* the default thresholds: 50 ports, 100 hosts in 5 s */
	/* An address of this host's, which UDP probes must reach to count (read at attach). */
	run("ip addr add 198.51.100.21/32 dev %s", IF_DUT);
	start_filter(&cfg);
	events_start();

	/*
	 * Resets to distinct ports make a scan, once. The set counts hashed
	 * bits, which distinct ports share by chance: 40 ports are always
	 * short of the 48 bits 50 ports set on average, 70 always past them.
	 */
	refuse_ports("198.51.100.10", "192.0.2.10", 1, 40);
	assert_int_equal(detections(NETPROBE_DETECT_PORT_SCAN), 0);
	refuse_ports("198.51.100.10", "192.0.2.10", 41, 70);
	assert_int_equal(detections(NETPROBE_DETECT_PORT_SCAN), 1);
	refuse_ports("198.51.100.10", "192.0.2.10", 71, 90);
	x[n++] = EXPECT_SRC(PORT_SCAN, "192.0.2.10", 50, 5000);
	/* UDP probes answered "port unreachable" (whatever their source port), and IPv6. */
	for (int port = 1; port <= 70; port++)
		send_unreachable("198.51.100.11", "192.0.2.11", IPPROTO_UDP, port, 3);
	x[n++] = EXPECT_SRC(PORT_SCAN, "192.0.2.11", 50, 5000);
	refuse_ports("2001:db8:b::10", "2001:db8:a::10", 1000, 1069);
	x[n++] = EXPECT_SRC(PORT_SCAN, "2001:db8:a::/64", 50, 5000);
	for (int port = 1; port <= 70; port++)
		send_unreachable("2001:db8:b::11", "2001:db8:c::11", IPPROTO_UDP, port, 4);
	x[n++] = EXPECT_SRC(PORT_SCAN, "2001:db8:c::/64", 50, 5000);
	assert_int_equal(detections(NETPROBE_DETECT_PORT_SCAN), 4);

	/* Probes of 100 distinct hosts that failed (a gateway's "host unreachable"): a sweep. */
	for (int h = 1; h <= 140; h++) {
		char host[32];

		snprintf(host, sizeof(host), "10.200.0.%d", h);
		send_unreachable(host, "192.0.2.12", 0, 0, 1);
	}
	x[n] = EXPECT_SRC(PORT_SCAN, "192.0.2.12", 100, 5000);
	x[n++].scan_hosts = 1;
	check_events(x, n, 0);

	/*
	 * A UDP scan from source port 0 (nmap -sU -g 0 style): its datagrams to
	 * ports nothing listens on are failed probes as they arrive, whatever
	 * the kernel's rate limit on the "port unreachable" answers.
	 */
	for (int port = 1; port <= 70; port++) {
		struct pkt_spec u = udp("192.0.2.21", "198.51.100.21", 0, port);

		assert_int_equal(send_spec(&u, 1), XDP_PASS);
	}
	x[n++] = EXPECT_SRC(PORT_SCAN, "192.0.2.21", 50, 5000);
	check_events(x, n, 0);
	/*
	 * Answers on flows this host sent on, reaching sockets it has closed,
	 * and its own "port unreachable" for them: no probes either.
	 */
	for (int port = 41000; port < 41070; port++) {
		struct pkt_spec out = udp("198.51.100.21", "192.0.2.26", port, 40000);
		struct pkt_spec late = udp("192.0.2.26", "198.51.100.21", 40000, port);

		send_out(&out, 1);
		assert_int_equal(send_spec(&late, 1), XDP_PASS);
		send_unreachable("198.51.100.21", "192.0.2.26", IPPROTO_UDP, port, 3);
	}
	check_events(x, n, 0);
	/* Datagrams to an address that is not this host's (a router passes them on): no probes. */
	for (int port = 1; port <= 200; port++) {
		struct pkt_spec u = udp("192.0.2.25", "198.51.100.99", 0, port);

		assert_int_equal(send_spec(&u, 1), XDP_PASS);
	}

	/*
	 * What fails to count: SYNs to 1000 distinct ports that this host did
	 * not refuse (passive FTP, a test runner), datagrams from 200 clients
	 * to a port a socket listens on, echo requests to 200 hosts, answers of
	 * any kind, and "fragmentation needed", which is no failure.
	 */
	scan_ports("192.0.2.20", "198.51.100.20", IPPROTO_TCP, 1, 1000);
	{
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(5353)};

		assert_true(fd >= 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&any, sizeof(any)), 0);
		for (int c = 0; c < 200; c++) {
			char client[32];
			struct pkt_spec u;

			snprintf(client, sizeof(client), "10.55.0.%d", c + 1);
			u = udp(client, "198.51.100.21", 40000 + c, 5353);
			assert_int_equal(send_spec(&u, 1), XDP_PASS);
		}
		close(fd);
	}
	sweep_hosts("192.0.2.22", "10.201.0.", 1, 200, true);
	for (int port = 20000; port < 21000; port++) {
		struct pkt_spec sa = tcp("192.0.2.23", "198.51.100.23", 443, port, SYN_ACK);

		assert_int_equal(send_spec(&sa, 1), XDP_PASS);
	}
	for (int port = 1; port <= 60; port++)
		send_unreachable("198.51.100.24", "192.0.2.24", IPPROTO_UDP, port, 4);
	check_events(x, n, 0);

	/* Switched off, a scan raises nothing; switched on again, it does. */
	cfg.port_scan.enabled = false;
	update_config(&cfg);
	refuse_ports("198.51.100.30", "192.0.2.30", 1, 60);
	check_events(x, n, 0);
	cfg.port_scan.enabled = true;
	update_config(&cfg);
	refuse_ports("198.51.100.31", "192.0.2.31", 1, 70);
	x[n++] = EXPECT_SRC(PORT_SCAN, "192.0.2.31", 50, 5000);
	check_events(x, n, 0);
	run("ip addr flush dev %s", IF_DUT);
}

/*
 * The sets of failed ports are indexed by a keyed hash: ports chosen to
 * share buckets under an unkeyed hash (49 buckets of the old one's 512)
 * spread over the keyed sets like any other, and the scan shows.
 */
static void test_scan_hash_keyed(void **state)
{
	struct netprobe_config cfg;
	struct expect x[1];
	int sent = 0;

	(void)state;
	base_config(&cfg);
	start_filter(&cfg);
	events_start();
	/* Ports whose old, unkeyed bucket ((port * 2654435761) >> 23) is one of the first 49. */
	for (uint32_t port = 1; port < 65536 && sent < 400; port++) {
		if (((port * 2654435761u) >> 23) >= 49)
			continue;
		refuse_ports("198.51.100.40", "192.0.2.40", port, port);
		sent++;
	}
	assert_int_equal(sent, 400);
	x[0] = EXPECT_SRC(PORT_SCAN, "192.0.2.40", 50, 5000);
	check_events(x, 1, 0);
}

/* Trusted sources pass and are never counted towards a detection, nor blocked. */
static void test_allowlisted_source_raises_nothing(void **state)
{
	static const char *const trusted[] = {"192.0.2.40", "2001:db8:a::40"};
	struct netprobe_config cfg;
	struct netprobe_global_stats st;
	struct netprobe_security_event ev;
	struct expect x[1] = {};
	unsigned long long sent = 0;

	(void)state;
	flood_config(&cfg);
	cfg.port_scan.enabled = true;
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	events_start();
	assert_int_equal(netprobe_allowlist_add(g_m, "192.0.2.0/24", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8:a::40", 0), 0);
	for (int t = 0; t < 2; t++) {
		const char *src = trusted[t], *dst = t ? "2001:db8:b::40" : "198.51.100.40";
		struct pkt_spec s = tcp(src, dst, 40000, 80, SYN);

		assert_int_equal(send_spec(&s, 300), XDP_PASS);
		s = udp(src, dst, 40000, 53);
		assert_int_equal(send_spec(&s, 300), XDP_PASS);
		s = icmp(src, dst, t ? 128 : 8);
		assert_int_equal(send_spec(&s, 300), XDP_PASS);
		assert_int_equal(scan_ports(src, dst, IPPROTO_TCP, 1, 60), XDP_PASS);
		sweep_hosts(src, t ? "2001:db8:201::" : "10.203.0.", 1, 120, true);
		sent += 900 + 60 + 120;
	}
	st = stats();
	assert_int_equal(st.counters.filter[NETPROBE_FC_ALLOW_PASSES], sent);
	assert_int_equal(st.counters.xdp_action[XDP_PASS], sent);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "192.0.2.0/24"), sent / 2);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "2001:db8:a::40/128"), sent / 2);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
	check_events(x, 0, 0);

	/* The same flood from a source nobody trusts is caught, and blocked. */
	send_syns("192.0.3.40", "198.51.100.40", 80, 100);
	x[0] = EXPECT_SRC(SYN_FLOOD, "192.0.3.40", 100, 1000);
	x[0].blocked = 1;
	ev = check_events(x, 1, 0);
	assert_int_not_equal(ev.rule_id, 0);
	assert_int_equal(sec_stats().block_entries, 1);
}

/*
 * An IPv4-mapped IPv6 source (::ffff:a.b.c.d) reaches a dual-stack socket as
 * a.b.c.d: the lists, the detections and mitigation see it as that IPv4
 * address, and the mapped form given to a list is folded into it.
 */
static void test_mapped_source_is_ipv4(void **state)
{
	struct netprobe_config cfg;
	struct expect x[3] = {};
	struct entries es;

	(void)state;
	flood_config(&cfg);
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	events_start();

	/* A denied IPv4 source gets nowhere as its mapped IPv6 form. */
	assert_int_equal(verdict("::ffff:198.51.100.20", 1), XDP_PASS);
	assert_int_equal(netprobe_blacklist_add(g_m, "198.51.100.20", 0), 0);
	assert_int_equal(verdict("198.51.100.20", 1), XDP_DROP);
	assert_int_equal(verdict("::ffff:198.51.100.20", 1), XDP_DROP);
	assert_int_equal(verdict("::ffff:198.51.100.21", 1), XDP_PASS);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "198.51.100.20/32"), 2);

	/* The bogon lists' ::ffff:0:0/96 is no IPv4 0.0.0.0/0: anything wider than an IPv4 /8 is refused. */
	assert_int_equal(netprobe_blacklist_add(g_m, "::ffff:0:0/96", 0), -EINVAL);
	assert_int_equal(netprobe_allowlist_add(g_m, "::ffff:0.0.0.0/100", 0), -EINVAL);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 1);

	/* The mapped form of an entry is the IPv4 entry: listed, refused twice, removed as one. */
	assert_int_equal(netprobe_blacklist_add(g_m, "::ffff:198.51.100.20", 0), -EEXIST);
	assert_int_equal(netprobe_blacklist_add(g_m, "::ffff:203.0.113.0/120", 0), 0);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 2);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "203.0.113.0/24"), 0);
	assert_int_equal(verdict("::ffff:203.0.113.77", 1), XDP_DROP);
	assert_int_equal(netprobe_blacklist_del(g_m, "203.0.113.0/24"), 0);
	assert_int_equal(netprobe_blacklist_del(g_m, "::ffff:198.51.100.20"), 0);
	assert_int_equal(verdict("::ffff:198.51.100.20", 1), XDP_PASS);

	/* An IPv6 entry covering the mapped range still decides what no IPv4 entry does. */
	assert_int_equal(netprobe_blacklist_add(g_m, "::/0", 0), 0);
	assert_int_equal(verdict("::ffff:198.51.100.30", 1), XDP_DROP);
	/* IPv4 allow entries deny nothing, and trust no mapped form (no host sends one). */
	assert_int_equal(netprobe_allowlist_add(g_m, "198.51.100.30", 0), 0);
	assert_int_equal(verdict("198.51.100.30", 1), XDP_PASS);
	assert_int_equal(verdict("::ffff:198.51.100.30", 1), XDP_DROP);
	assert_int_equal(netprobe_allowlist_del(g_m, "198.51.100.30"), 0);
	assert_int_equal(netprobe_blacklist_del(g_m, "::/0"), 0);

	/* So an allowed IPv4 source's mapped form is counted like any other: 300 SYNs, a flood. */
	assert_int_equal(netprobe_allowlist_add(g_m, "192.0.2.40", 0), 0);
	send_syns("192.0.2.40", "198.51.100.40", 80, 300);
	check_events(x, 0, 0);
	assert_int_equal(send_spec(&(struct pkt_spec){.family = 6,
						      .src = "::ffff:192.0.2.40",
						      .dst = "2001:db8:b::40",
						      .proto = IPPROTO_TCP,
						      .sport = 40000,
						      .dport = 80,
						      .tcp_flags = SYN},
				   300),
			 XDP_PASS);
	/* Detected; never blocked: the allow list vouches for the address. */
	x[0] = EXPECT_SRC(SYN_FLOOD, "192.0.2.40", 100, 1000);
	x[1] = (struct expect){.detection = NETPROBE_DETECT_SYN_FLOOD,
			       .scope = NETPROBE_SCOPE_DESTINATION,
			       .addr = "2001:db8:b::40",
			       .threshold = 200,
			       .window_ms = 1000};
	assert_int_equal(check_events(x, 2, 0).not_blocked, NETPROBE_UNBLOCKED_ALLOWED);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
	assert_int_equal(netprobe_allowlist_del(g_m, "192.0.2.40"), 0);

	/*
	 * A flood from the mapped form and from the IPv4 form is one source's:
	 * 60 + 40 SYNs cross the threshold of 100, and the block is the IPv4
	 * address's, so the plain IPv4 form is dropped as well.
	 */
	send_syns("::ffff:198.51.100.22", "2001:db8:b::40", 80, 60);
	send_syns("198.51.100.22", "192.0.2.99", 80, 40);
	x[2] = EXPECT_SRC(SYN_FLOOD, "198.51.100.22", 100, 1000);
	x[2].blocked = 1;
	check_events(x, 3, 2);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(es.e[0].text, "198.51.100.22/32");
	assert_int_equal(verdict("198.51.100.22", 1), XDP_DROP);
	assert_int_equal(verdict("::ffff:198.51.100.22", 1), XDP_DROP);
}

/*
 * The one case that waits for a sweep: an IPv4 deny prefix inside an IPv4
 * allow prefix that expires. Nothing sweeps on its own yet, so the state
 * says how many such entries there are (status shows it).
 */
static void test_sweep_dependent_counted(void **state)
{
	(void)state;
	start_lists_only();
	assert_int_equal(sec_stats().sweep_dependent, 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.0.0.0/8", 600), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.1.0.0/16", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.2.3.4", 0),
			 0); /* exact: falls back at once */
	assert_int_equal(netprobe_blacklist_add(g_m, "192.0.2.0/24", 0), 0); /* under no allow */
	assert_int_equal(sec_stats().sweep_dependent, 1);
	assert_int_equal(netprobe_allowlist_del(g_m, "10.0.0.0/8"), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "10.0.0.0/8", 0),
			 0); /* no TTL: never expires */
	assert_int_equal(sec_stats().sweep_dependent, 0);
}

/* ---- 6. Mitigation ------------------------------------------------------------------ */

static void test_mitigation_blocks_source(void **state)
{
	/*
	 * An IPv6 source is blocked by its /64 (the default ipv6_source_prefix):
	 * a sibling of the same /64 is dropped too, a neighbour outside passes.
	 */
	static const struct {
		const char *src, *dst, *entry, *sibling, *neighbour;
	} cases[] = {
		{"198.51.100.7", "192.0.2.99", "198.51.100.7/32", NULL, "198.51.100.8"},
		{"2001:db8:bad::7", "2001:db8:b::99", "2001:db8:bad::/64", "2001:db8:bad::ffff:8",
		 "2001:db8:bad:1::7"},
	};
	struct netprobe_config cfg;
	struct netprobe_security_event ev;
	struct netprobe_global_stats st;
	struct expect x[4];
	struct entries es;
	size_t n = 0;

	(void)state;
	syn_flood_config(&cfg);
	cfg.port_scan.enabled = true;
	mitigate_unproven(&cfg, 30);
	start_filter(&cfg);
	events_start();

	for (int c = 0; c < 2; c++) {
		struct pkt_spec s = udp(cases[c].src, cases[c].dst, 40000, 5000);
		unsigned long long drops = stats().counters.filter[NETPROBE_FC_BLOCK_DROPS];

		/* The 100th SYN is detected (and passes); everything after it from there drops. */
		send_syns(cases[c].src, cases[c].dst, 80, 100);
		assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_ADDED], c + 1);
		x[n] = EXPECT_SRC(SYN_FLOOD, c ? cases[c].entry : cases[c].src, 100, 1000);
		x[n++].blocked = 1;
		ev = check_events(x, n, n - 1);
		assert_int_equal(verdict(cases[c].src, 1), XDP_DROP);
		assert_int_equal(send_spec(&s, 9), XDP_DROP);
		if (cases[c].sibling)
			assert_int_equal(verdict(cases[c].sibling, 1), XDP_DROP);
		assert_int_equal(verdict(cases[c].neighbour, 1), XDP_PASS);
		st = stats();
		assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCK_DROPS],
				 drops + 10 + !!cases[c].sibling);
		assert_int_equal(st.counters.filter[NETPROBE_FC_DENY_DROPS], 0);
		assert_int_equal(st.counters.xdp_action[XDP_DROP], 10 * (c + 1) + c);

		es = listing(NETPROBE_ACL_DENY);
		assert_int_equal(es.n, 1);
		assert_string_equal(es.e[0].text, cases[c].entry);
		assert_int_equal(es.e[0].action, NETPROBE_ACL_DENY);
		assert_int_equal(es.e[0].origin,
				 NETPROBE_ORIGIN_MANUAL + 1 + NETPROBE_DETECT_SYN_FLOOD);
		assert_string_equal(netprobe_acl_origin_name(es.e[0].origin), "syn_flood");
		assert_true(es.e[0].ttl_left_ms > 25000 && es.e[0].ttl_left_ms <= 30000);
		assert_int_equal(es.e[0].hits, 10 + !!cases[c].sibling);
		assert_int_equal(es.e[0].id, ev.rule_id);
		assert_int_equal(sec_stats().block_entries, 1);
		assert_int_equal(sec_stats().deny_entries, 0);

		/* Removed by hand, like a deny entry: the source passes again. */
		assert_int_equal(netprobe_allowlist_del(g_m, cases[c].entry),
				 -NETPROBE_ERR_OTHER_LIST);
		assert_int_equal(netprobe_blacklist_del(g_m, cases[c].entry), 0);
		assert_int_equal(verdict(cases[c].src, 1), XDP_PASS);
		assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
		assert_int_equal(sec_stats().block_entries, 0);
	}

	/* A scan blocks its source too, and says so. */
	refuse_ports("192.0.2.98", "198.51.100.9", 1, 70);
	assert_int_equal(scan_ports("198.51.100.9", "192.0.2.98", IPPROTO_TCP, 71, 71), XDP_DROP);
	x[n] = EXPECT_SRC(PORT_SCAN, "198.51.100.9", 50, 5000);
	x[n++].blocked = 1;
	ev = check_events(x, n, n - 1);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(es.e[0].text, "198.51.100.9/32");
	assert_string_equal(netprobe_acl_origin_name(es.e[0].origin), "port_scan");
	assert_int_equal(es.e[0].id, ev.rule_id);
	assert_int_equal(es.e[0].hits, 1);
	assert_int_equal(netprobe_blacklist_del(g_m, "198.51.100.9/32"), 0);
	assert_int_equal(verdict("198.51.100.9", 1), XDP_PASS);
}

/*
 * A pool full of blocks made on the least evidence (spoofed scans, just
 * over the threshold each) refuses a new block of no more evidence, and
 * counts it; a real scanner that goes on doubles its evidence, and the
 * weakest block gives way to it.
 */
static void test_pool_pressure(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_global_stats st;
	struct entries es;
	int blocked = 0;

	(void)state;
	base_config(&cfg);
	detections_off(&cfg);
	cfg.port_scan = (struct netprobe_detection){true, 50, 5000};
	mitigate_unproven(&cfg, 300);
	cfg.mitigation_max_blocks = 8;
	start_filter(&cfg);

	/* Eight framed addresses, each probed just past the threshold. */
	for (int i = 1; i <= 8; i++) {
		char src[32];

		snprintf(src, sizeof(src), "203.0.113.%d", i);
		for (int port = 1; port <= 400; port++) {
			refuse_ports("198.51.100.70", src, port, port);
			if (verdict(src, 1) == XDP_DROP)
				break;
		}
	}
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 8);
	for (int i = 0; i < es.n; i++)
		assert_true(es.e[i].evidence >= 16 && es.e[i].evidence < 24);
	/* The real scanner, as weak at first: refused, counted; then it goes on. */
	for (int port = 1; port <= 1000 && !blocked; port++) {
		refuse_ports("198.51.100.70", "192.0.2.77", port, port);
		blocked = verdict("192.0.2.77", 1) == XDP_DROP;
	}
	assert_true(blocked);
	st = stats();
	assert_true(st.counters.filter[NETPROBE_FC_BLOCKS_REFUSED] >= 1);
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_EVICTED], 1);
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_ADDED], 9);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 8);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "192.0.2.77/32"), 1);
	for (int i = 0; i < es.n; i++)
		if (!strcmp(es.e[i].text, "192.0.2.77/32"))
			assert_true(es.e[i].evidence >= 32);
}

/* A client's handshake with this host: its SYN, this host's SYN-ACK (seq), its ACK (ack). */
static void handshake(const char *client, const char *server, uint16_t port, uint32_t seq,
		      uint32_t ack)
{
	struct pkt_spec syn = tcp(client, server, port, 80, SYN);
	struct pkt_spec synack = tcp(server, client, 80, port, SYN_ACK);
	struct pkt_spec ackp = tcp(client, server, port, 80, ACK);

	synack.tcp_seq = seq;
	ackp.tcp_ack = ack;
	assert_int_equal(send_spec(&syn, 1), XDP_PASS);
	send_out(&synack, 1);
	assert_int_equal(send_spec(&ackp, 1), XDP_PASS);
}

/*
 * By default mitigation blocks only a source that completed a handshake in
 * the last 10 s, acknowledging this host's SYN-ACK sequence: it is where it
 * says. Spoofed evidence (anyone's SYNs, resets this host sent) is alerted,
 * not acted on.
 */
static void test_mitigation_needs_proof(void **state)
{
	struct netprobe_config cfg;
	struct expect x[3];
	struct netprobe_security_event ev;

	(void)state;
	flood_config(&cfg);
	cfg.syn_flood_dst.enabled = false;
	cfg.mitigation = true;
	cfg.mitigation_ttl_s = 60;
	start_filter(&cfg);
	events_start();

	send_syns("192.0.2.80", "198.51.100.80", 80, 150);
	x[0] = EXPECT_SRC(SYN_FLOOD, "192.0.2.80", 100, 1000);
	ev = check_events(x, 1, 0);
	assert_int_equal(ev.blocked, 0);
	assert_int_equal(ev.not_blocked, NETPROBE_UNBLOCKED_UNPROVEN);
	assert_string_equal(netprobe_unblocked_name(ev.not_blocked), "unproven");
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_UNPROVEN], 1);
	assert_int_equal(verdict("192.0.2.80", 1), XDP_PASS);

	/* A handshake acknowledging something else proves nothing. */
	handshake("192.0.2.81", "198.51.100.80", 30000, 1000, 77);
	send_syns("192.0.2.81", "198.51.100.80", 80, 150);
	x[1] = EXPECT_SRC(SYN_FLOOD, "192.0.2.81", 100, 1000);
	ev = check_events(x, 2, 1);
	assert_int_equal(ev.not_blocked, NETPROBE_UNBLOCKED_UNPROVEN);

	/* One that completed: blocked. */
	handshake("192.0.2.82", "198.51.100.80", 30001, 5000, 5001);
	syn_burst("192.0.2.82", "198.51.100.80", 150);
	x[2] = EXPECT_SRC(SYN_FLOOD, "192.0.2.82", 100, 1000);
	x[2].blocked = 1;
	check_events(x, 3, 2);
	assert_int_equal(verdict("192.0.2.82", 1), XDP_DROP);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 1);
}

/*
 * What this host sends is evidence only about strangers: resets and
 * unreachables to a source the allow list vouches for, or on a connection
 * this host opened, count for nothing (a spoofer cannot aim them at a
 * trusted client, this host's own aborts never make a server a scanner).
 */
static void test_egress_evidence_spares(void **state)
{
	struct netprobe_config cfg;
	struct expect x[1] = {};

	(void)state;
	base_config(&cfg);
	cfg.tcp_flood = (struct netprobe_detection){true, 100, 1000};
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	events_start();
	assert_int_equal(netprobe_allowlist_add(g_m, "192.0.2.0/24", 0), 0);
	/* Spoofed bare ACKs and SYNs "from" a trusted client, all reset by this host. */
	for (int port = 1; port <= 150; port++) {
		struct pkt_spec rst = tcp("198.51.100.10", "192.0.2.10", port, 40000, RST);
		struct pkt_spec rstack = tcp("198.51.100.10", "192.0.2.10", port, 40000, RST | ACK);

		send_out(&rst, 1);
		send_out(&rstack, 1);
		send_unreachable("198.51.100.10", "192.0.2.10", IPPROTO_UDP, port, 3);
	}
	/* This host's own connections to a server, aborted. */
	for (int i = 0; i < 150; i++) {
		struct pkt_spec syn = tcp("198.51.100.70", "203.0.113.80", 41000 + i, 443, SYN);
		struct pkt_spec rst =
			tcp("198.51.100.70", "203.0.113.80", 41000 + i, 443, RST | ACK);
		struct pkt_spec rst2 = tcp("198.51.100.70", "203.0.113.80", 41000 + i, 443, RST);

		send_out(&syn, 1);
		send_out(&rst, 1);
		send_out(&rst2, 1);
	}
	check_events(x, 0, 0);
	assert_int_equal(verdict("192.0.2.10", 1), XDP_PASS);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
}

/*
 * Only a flow this host opens makes a peer: a service's answer never does,
 * even when its question left the flow table (a flood flushed it) or came
 * to another of its addresses.
 */
static void test_no_peer_by_answer(void **state)
{
	struct netprobe_config cfg;
	struct expect x[1];
	struct pkt_spec a = udp("198.51.100.1", "203.0.113.66", 53, 5353);

	(void)state;
	flood_config(&cfg);
	cfg.syn_flood_dst.enabled = false;
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	events_start();
	/* The answer goes out with no question in the table. */
	send_out(&a, 1);
	syn_burst("203.0.113.66", "198.51.100.1", 150);
	x[0] = EXPECT_SRC(SYN_FLOOD, "203.0.113.66", 100, 1000);
	x[0].blocked = 1;
	check_events(x, 1, 0);
	assert_int_equal(verdict("203.0.113.66", 1), XDP_DROP);
}

/*
 * A completed handshake takes back its SYN only in the window its SYN-ACK
 * left in: ACKs held back over earlier windows excuse nothing later.
 */
static void test_credit_not_banked(void **state)
{
	struct netprobe_config cfg;
	int banked = 0;

	(void)state;
	base_config(&cfg);
	detections_off(&cfg);
	cfg.syn_flood = (struct netprobe_detection){true, 500, 200}; /* 100 SYNs in 200 ms */
	start_filter(&cfg);
	/* Three windows: 90 handshakes each answered by this host, the ACKs held back. */
	for (int w = 0; w < 3; w++) {
		for (int i = 0; i < 90; i++, banked++) {
			struct pkt_spec syn =
				tcp("192.0.2.90", "198.51.100.90", 20000 + banked, 80, SYN);
			struct pkt_spec synack =
				tcp("198.51.100.90", "192.0.2.90", 80, 20000 + banked, SYN_ACK);

			synack.tcp_seq = 3000u * banked + 1;
			assert_int_equal(send_spec(&syn, 1), XDP_PASS);
			send_out(&synack, 1);
		}
		usleep(260000);
	}
	/* One window: 270 new SYNs, each followed by one held-back ACK; and 99 more SYNs. */
	for (int i = 0; i < banked; i++) {
		struct pkt_spec syn = tcp("192.0.2.90", "198.51.100.90", 50000 + i, 80, SYN);
		struct pkt_spec ack = tcp("192.0.2.90", "198.51.100.90", 20000 + i, 80, ACK);

		ack.tcp_ack = 3000u * i + 2;
		send_spec(&syn, 1);
		send_spec(&ack, 1);
	}
	send_syns("192.0.2.90", "198.51.100.90", 80, 99);
	/*
	 * Detected: the old handshakes earned no credit for the new SYNs. Once,
	 * or twice when the burst straddled a window's end on a slow run (each
	 * half still over 100): the windows are the clock's, not the burst's.
	 */
	assert_in_range(detections(NETPROBE_DETECT_SYN_FLOOD), 1, 2);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_HANDSHAKES], banked);
}

/*
 * Floods nothing else counts: resets, segments of no connection (which this
 * host answers with a reset that has no ACK), and other IP protocols. A
 * tunnel this host sends into too is no flood.
 */
static void test_stray_tcp_and_other_floods(void **state)
{
	struct netprobe_config cfg;
	struct expect x[4];
	struct pkt_spec p;
	size_t n = 0;

	(void)state;
	flood_config(&cfg);
	cfg.tcp_flood = (struct netprobe_detection){true, 100, 1000};
	cfg.other_flood = (struct netprobe_detection){true, 100, 1000};
	start_filter(&cfg);
	events_start();

	/* A RST flood. */
	p = tcp("192.0.2.60", "198.51.100.60", 40000, 80, RST);
	assert_int_equal(send_spec(&p, 150), XDP_PASS);
	x[n++] = EXPECT_SRC(TCP_FLOOD, "192.0.2.60", 100, 1000);
	/* An ACK flood: nothing counts the ACKs, but this host resets each one (no ACK flag). */
	p = tcp("192.0.2.61", "198.51.100.60", 40000, 80, ACK);
	assert_int_equal(send_spec(&p, 1000), XDP_PASS);
	check_events(x, n, 0);
	p = tcp("198.51.100.60", "192.0.2.61", 80, 40000, RST);
	send_out(&p, 150);
	x[n++] = EXPECT_SRC(TCP_FLOOD, "192.0.2.61", 100, 1000);
	/* Resets with ACK refuse probes: a port scan's evidence, never a TCP flood. */
	p = tcp("198.51.100.60", "192.0.2.62", 80, 40000, RST | ACK);
	send_out(&p, 150);
	check_events(x, n, 0);

	/* A GRE flood; and a GRE tunnel this host sends into as well, which is none. */
	p = (struct pkt_spec){.family = 4,
			      .src = "192.0.2.63",
			      .dst = "198.51.100.60",
			      .proto = 47,
			      .payload = 24};
	assert_int_equal(send_spec(&p, 150), XDP_PASS);
	x[n++] = EXPECT_SRC(OTHER_FLOOD, "192.0.2.63", 100, 1000);
	p.src = "198.51.100.60";
	p.dst = "192.0.2.64";
	send_out(&p, 100);
	p.src = "192.0.2.64";
	p.dst = "198.51.100.60";
	assert_int_equal(send_spec(&p, 500), XDP_PASS);
	check_events(x, n, 0);
	assert_int_equal(detections(NETPROBE_DETECT_TCP_FLOOD), 2);
	assert_int_equal(detections(NETPROBE_DETECT_OTHER_FLOOD), 1);
}

/*
 * Spoofing is free: whatever a detection's evidence, mitigation never
 * blocks a special address, this host's own, its gateway or resolver, or a
 * peer this host opened a flow to. Each is detected and left alone, and
 * the event says why.
 */
static void test_mitigation_spares(void **state)
{
	static const struct {
		const char *src;
		unsigned char why;
	} spared[] = {
		{"0.0.0.0", NETPROBE_UNBLOCKED_SPECIAL},
		{"127.0.0.9", NETPROBE_UNBLOCKED_SPECIAL},
		{"169.254.1.1", NETPROBE_UNBLOCKED_SPECIAL},
		{"224.0.0.251", NETPROBE_UNBLOCKED_SPECIAL},
		{"255.255.255.255", NETPROBE_UNBLOCKED_SPECIAL},
		{"::", NETPROBE_UNBLOCKED_SPECIAL},
		{"fe80::1", NETPROBE_UNBLOCKED_SPECIAL},
		{"ff02::fb", NETPROBE_UNBLOCKED_SPECIAL},
		{"198.18.7.1", NETPROBE_UNBLOCKED_PROTECTED},	/* the default gateway */
		{"198.18.7.2", NETPROBE_UNBLOCKED_PROTECTED},	/* this host */
		{"198.18.7.255", NETPROBE_UNBLOCKED_PROTECTED}, /* its network's broadcast */
		{"2001:db8:7::1", NETPROBE_UNBLOCKED_PROTECTED},
		{"203.0.113.53", NETPROBE_UNBLOCKED_PEER},    /* this host asked it (UDP) first */
		{"203.0.113.80", NETPROBE_UNBLOCKED_PEER},    /* this host connected to it */
		{"2001:db8:53::53", NETPROBE_UNBLOCKED_PEER}, /* this host pinged it */
	};
	struct netprobe_security_event got[MAX_EVENTS];
	struct netprobe_config cfg;
	struct pkt_spec out;
	size_t n, other;

	(void)state;
	/* The interface's network, its default routes: read at attach. */
	run("sysctl -qw net.ipv6.conf.%s.disable_ipv6=0 && ip addr add 198.18.7.2/24 dev %s && "
	    "ip -6 addr add 2001:db8:7::2/64 dev %s nodad && ip route add default via 198.18.7.1 "
	    "&& "
	    "ip -6 route add default via 2001:db8:7::1",
	    IF_DUT, IF_DUT, IF_DUT);
	flood_config(&cfg);
	cfg.syn_flood_dst.enabled = false; /* one event a source */
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	events_start();
	/* Flows this host opened; and what it merely answered, which makes nobody a peer. */
	out = udp("198.18.7.2", "203.0.113.53", 40000, 53);
	send_out(&out, 1);
	out = tcp("198.18.7.2", "203.0.113.80", 40001, 80, SYN);
	send_out(&out, 1);
	out = icmp("2001:db8:7::2", "2001:db8:53::53", 128);
	send_out(&out, 1);
	out = tcp("198.18.7.2", "203.0.113.81", 80, 40002, SYN_ACK);
	send_out(&out, 1);
	out = icmp("198.18.7.2", "203.0.113.82", 0);
	send_out(&out, 1);
	{
		struct pkt_spec asked = udp("203.0.113.83", "198.18.7.2", 5353, 40003);

		/* It spoke first: this host's datagram back is an answer. */
		assert_int_equal(send_spec(&asked, 1), XDP_PASS);
		out = udp("198.18.7.2", "203.0.113.83", 40003, 5353);
		send_out(&out, 1);
	}

	for (size_t i = 0; i < sizeof(spared) / sizeof(spared[0]); i++) {
		struct pkt_spec syn =
			tcp(spared[i].src,
			    family_of(spared[i].src) == 6 ? "2001:db8:7::2" : "198.18.7.2", 40000,
			    80, SYN);

		if (send_spec(&syn, 150) != XDP_PASS)
			fail_msg("%s was dropped", spared[i].src);
	}
	/* Those it only answered are blocked like anyone. */
	for (int i = 81; i <= 83; i++) {
		char src[32];
		struct pkt_spec syn;

		snprintf(src, sizeof(src), "203.0.113.%d", i);
		syn = tcp(src, "198.18.7.2", 40000, 80, SYN);
		assert_int_equal(send_spec(&syn, 150), XDP_DROP);
	}

	events_flush();
	n = events_copy(got, &other);
	assert_int_equal(other, 0);
	assert_int_equal(n, sizeof(spared) / sizeof(spared[0]) + 3);
	for (size_t i = 0; i < n; i++) {
		const struct netprobe_security_event *ev = &got[i];
		char text[INET6_ADDRSTRLEN];
		unsigned char why = 0xff;

		inet_ntop(ev->family == NETPROBE_FAMILY_IPV4 ? AF_INET : AF_INET6, ev->src, text,
			  sizeof(text));
		for (size_t k = 0; k < sizeof(spared) / sizeof(spared[0]); k++) {
			uint8_t a[16];

			/* An IPv6 source's event names its /64. */
			addr_bytes(spared[k].src, a);
			for (unsigned int bit = ev->src_prefix_len; ev->src_prefix_len && bit < 128;
			     bit++)
				a[bit / 8] &= ~(0x80 >> (bit % 8));
			if (!memcmp(a, ev->src, 16))
				why = spared[k].why;
		}
		assert_int_equal(ev->detection, NETPROBE_DETECT_SYN_FLOOD);
		if (why == 0xff) {
			/* 203.0.113.81-83 */
			if (!ev->blocked)
				fail_msg("%s was not blocked (%u)", text, ev->not_blocked);
			assert_int_equal(ev->not_blocked, NETPROBE_UNBLOCKED_NONE);
		} else {
			if (ev->blocked || ev->not_blocked != why)
				fail_msg("%s: blocked %u, not_blocked %u, want %u", text,
					 ev->blocked, ev->not_blocked, why);
		}
	}
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 3);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_PROTECTED],
			 sizeof(spared) / sizeof(spared[0]));
	assert_string_equal(netprobe_unblocked_name(NETPROBE_UNBLOCKED_PEER), "peer");
	assert_null(netprobe_unblocked_name(NETPROBE_UNBLOCKED_NONE));
	assert_null(netprobe_unblocked_name(99));
	run("ip addr flush dev %s && sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", IF_DUT, IF_DUT);
}

/*
 * Detections count what attacks do and clients do not. A SYN counts until
 * its handshake completes with the SYN-ACK's sequence acknowledged; echo
 * replies and datagrams this host asked for count only beyond what it asked.
 */
static void test_counts_failures_not_volume(void **state)
{
	struct netprobe_config cfg;
	struct expect x[8] = {};
	size_t n = 0;

	(void)state;
	flood_config(&cfg); /* SYN and ICMP floods: 100 in 1000 ms; UDP: 10 in 100 ms */
	start_filter(&cfg);
	events_start();

	/* 300 connections from one client, each completed: no SYN flood. */
	for (int i = 0; i < 300; i++) {
		uint16_t port = 20000 + i;
		struct pkt_spec syn = tcp("192.0.2.50", "198.51.100.50", port, 80, SYN);
		struct pkt_spec synack = tcp("198.51.100.50", "192.0.2.50", 80, port, SYN_ACK);
		struct pkt_spec ack = tcp("192.0.2.50", "198.51.100.50", port, 80, ACK);

		synack.tcp_seq = 1000u * i + 5;
		ack.tcp_ack = 1000u * i + 6;
		assert_int_equal(send_spec(&syn, 1), XDP_PASS);
		send_out(&synack, 1);
		assert_int_equal(send_spec(&ack, 1), XDP_PASS);
	}
	assert_int_equal(stats().counters.filter[NETPROBE_FC_HANDSHAKES], 300);
	check_events(x, n, 0);
	/* The same with ACKs that acknowledge something else (a blind spoofer): a flood. */
	for (int i = 0; i < 150; i++) {
		uint16_t port = 30000 + i;
		struct pkt_spec syn = tcp("192.0.2.51", "198.51.100.50", port, 80, SYN);
		struct pkt_spec synack = tcp("198.51.100.50", "192.0.2.51", 80, port, SYN_ACK);
		struct pkt_spec ack = tcp("192.0.2.51", "198.51.100.50", port, 80, ACK);

		synack.tcp_seq = 7777;
		ack.tcp_ack = 1;
		assert_int_equal(send_spec(&syn, 1), XDP_PASS);
		send_out(&synack, 1);
		assert_int_equal(send_spec(&ack, 1), XDP_PASS);
	}
	x[n++] = EXPECT_SRC(SYN_FLOOD, "192.0.2.51", 100, 1000);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_HANDSHAKES], 300);
	check_events(x, n, 0);

	/* This host's own ping -f: 300 replies to its 300 requests are no ICMP flood. */
	{
		struct pkt_spec req = icmp("198.51.100.50", "192.0.2.52", 8);
		struct pkt_spec rep = icmp("192.0.2.52", "198.51.100.50", 0);

		send_out(&req, 300);
		assert_int_equal(send_spec(&rep, 300), XDP_PASS);
		check_events(x, n, 0);
		/* Replies nobody asked for are. */
		rep.src = "192.0.2.53";
		rep.dst = "198.51.100.51";
		assert_int_equal(send_spec(&rep, 150), XDP_PASS);
		x[n++] = EXPECT_SRC(ICMP_FLOOD, "192.0.2.53", 100, 1000);
		check_events(x, n, 0);
	}

	/* One datagram asked excuses its answers, not a flood on the same 5-tuple. */
	{
		struct pkt_spec ask = udp("198.51.100.50", "192.0.2.54", 40000, 443);
		struct pkt_spec answer = udp("192.0.2.54", "198.51.100.50", 443, 40000);

		send_out(&ask, 1);
		assert_int_equal(send_spec(&answer, 9), XDP_PASS);
		check_events(x, n, 0);
		assert_int_equal(send_spec(&answer, 400), XDP_PASS);
		x[n++] = EXPECT_SRC(UDP_FLOOD, "192.0.2.54", 100, 100);
		x[n++] = (struct expect){.detection = NETPROBE_DETECT_UDP_FLOOD,
					 .scope = NETPROBE_SCOPE_DESTINATION,
					 .addr = "198.51.100.50",
					 .threshold = 200,
					 .window_ms = 1000};
		check_events(x, n, 0);
	}
}

/*
 * mitigation_max_blocks live blocks at most: past that a detection still
 * alerts but blocks nothing; an expired block's place is taken by the next
 * one, even before anything swept it (no event reader runs here).
 */
static void test_mitigation_pool(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_global_stats st;
	struct entries es;

	(void)state;
	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 1);
	cfg.mitigation_max_blocks = 1;
	start_filter(&cfg);

	send_syns("198.51.100.20", "192.0.2.97", 80, 100);
	send_syns("198.51.100.22", "192.0.2.97", 80, 100);
	st = stats();
	assert_int_equal(st.counters.detections[NETPROBE_DETECT_SYN_FLOOD], 2);
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_ADDED], 1);
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_REFUSED], 1);
	assert_int_equal(verdict("198.51.100.20", 5), XDP_DROP);
	assert_int_equal(verdict("198.51.100.22", 1), XDP_PASS);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "198.51.100.20/32"), 5);

	usleep(1200000);
	assert_int_equal(verdict("198.51.100.20", 1), XDP_PASS);
	send_syns("198.51.100.21", "192.0.2.97", 80, 100);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_ADDED], 2);
	assert_int_equal(verdict("198.51.100.21", 2), XDP_DROP);
	assert_int_equal(verdict("198.51.100.20", 1), XDP_PASS);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(es.e[0].text, "198.51.100.21/32");
	assert_true(es.e[0].ttl_left_ms > 0 && es.e[0].ttl_left_ms <= 1000);
	/* The new block counts its own drops, not those of the block it replaced. */
	assert_int_equal(es.e[0].hits, 2);
	assert_int_equal(sec_stats().block_entries, 1);
}

/*
 * Two IPv6 sources that shared a state slot for every seed under a linear
 * hash (the seed cancelled out): each is caught now.
 */
static void test_state_slots_keyed(void **state)
{
	struct pkt_spec a = udp("2001:db8:1:2::7", "2001:db8:ffff::1", 40000, 5000);
	struct pkt_spec b = udp("2001:db8:1:2:0:67:0:6", "2001:db8:ffff::1", 40000, 5000);
	struct netprobe_config cfg;
	struct netprobe_global_stats st;

	(void)state;
	base_config(&cfg);
	detections_off(&cfg);
	cfg.udp_flood = (struct netprobe_detection){true, 100, 1000};
	cfg.ipv6_source_prefix = 128; /* each address its own source: both are of one /64 */
	start_filter(&cfg);
	for (int i = 0; i < 150; i++) {
		assert_int_equal(send_spec(&a, 1), XDP_PASS);
		assert_int_equal(send_spec(&b, 1), XDP_PASS);
	}
	st = stats();
	assert_int_equal(st.counters.detections[NETPROBE_DETECT_UDP_FLOOD], 2);
	assert_true(st.counters.filter[NETPROBE_FC_STATE_EVICTIONS] < 10);
}

/* The address of the /64 prefix holding addr, with host part i (i > 0): a rotating source. */
static void in_prefix(char *out, size_t len, const char *prefix, unsigned int i)
{
	snprintf(out, len, "%s%x:%x:%x:%x", prefix, i * 7919 & 0xffff, i, i * 31 & 0xffff,
		 (i * 104729) & 0xffff);
}

/*
 * A host picks any address of its /64: sources rotating inside one are one
 * source to the detections, and mitigation blocks the prefix (point 11 of
 * the filter-trust issue). Each address below sends once or a few times.
 */
static void test_ipv6_prefix_rotation(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_global_stats st;
	struct netprobe_security_event ev;
	struct expect x[4];
	struct entries es;
	size_t n = 0;
	char src[64];
	int drops = 0;

	(void)state;
	syn_flood_config(&cfg);
	cfg.port_scan = (struct netprobe_detection){true, 50, 5000};
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	events_start();

	/* A SYN flood, every SYN from another address of 2001:db8:99:1::/64. */
	for (unsigned int i = 1; i <= 150; i++) {
		struct pkt_spec syn;

		in_prefix(src, sizeof(src), "2001:db8:99:1:", i);
		syn = tcp(src, "2001:db8:ffff::1", 40000, 80, SYN);
		drops += send_spec(&syn, 1) == XDP_DROP;
	}
	assert_int_equal(drops, 50); /* from the 101st on */
	x[n] = EXPECT_SRC(SYN_FLOOD, "2001:db8:99:1::/64", 100, 1000);
	x[n++].blocked = 1;
	ev = check_events(x, n, 0);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(es.e[0].text, "2001:db8:99:1::/64");
	assert_int_equal(es.e[0].id, ev.rule_id);
	assert_string_equal(netprobe_acl_origin_name(es.e[0].origin), "syn_flood");
	/* Any address of the /64 is dropped; the next /64 passes. */
	assert_int_equal(verdict("2001:db8:99:1:abcd::1", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:99:2::1", 1), XDP_PASS);
	/* An allow entry inside the blocked /64 wins there, and only there (longest match). */
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8:99:1::5", 0), 0);
	assert_int_equal(verdict("2001:db8:99:1::5", 1), XDP_PASS);
	assert_int_equal(verdict("2001:db8:99:1::6", 1), XDP_DROP);
	assert_int_equal(netprobe_allowlist_del(g_m, "2001:db8:99:1::5"), 0);
	assert_int_equal(verdict("2001:db8:99:1::5", 1), XDP_DROP);

	/* A scan whose every probe comes from another address of 2001:db8:98:1::/64. */
	for (unsigned int i = 1; i <= 70; i++) {
		in_prefix(src, sizeof(src), "2001:db8:98:1:", i);
		refuse_ports("2001:db8:ffff::1", src, 1000 + i, 1000 + i);
	}
	x[n] = EXPECT_SRC(PORT_SCAN, "2001:db8:98:1::/64", 50, 5000);
	x[n++].blocked = 1;
	check_events(x, n, 1);
	assert_int_equal(verdict("2001:db8:98:1::77", 1), XDP_DROP);
	st = stats();
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_ADDED], 2);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 2);

	/* Removed by hand like any entry: the /64 passes again. */
	assert_int_equal(netprobe_blacklist_del(g_m, "2001:db8:99:1::/64"), 0);
	assert_int_equal(verdict("2001:db8:99:1::9", 1), XDP_PASS);
	assert_int_equal(netprobe_blacklist_del(g_m, "2001:db8:98:1::/64"), 0);
	assert_int_equal(verdict("2001:db8:98:1::77", 1), XDP_PASS);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
}

/*
 * A /64 that holds an address this host depends on (its own: the link's
 * neighbours; a peer it opened a flow to) is never blocked whole: the
 * address that sent the packet that crossed the threshold is, alone.
 */
static void test_ipv6_prefix_spares(void **state)
{
	static const char *const prefixes[] = {"2001:db8:97:0:", "2001:db8:96:0:"};
	struct netprobe_config cfg;
	struct netprobe_security_event got[MAX_EVENTS];
	struct pkt_spec out;
	struct entries es;
	size_t n, other;
	char src[64], entry[80];

	(void)state;
	run("sysctl -qw net.ipv6.conf.%s.disable_ipv6=0 && "
	    "ip -6 addr add 2001:db8:97::2/64 dev %s nodad",
	    IF_DUT, IF_DUT);
	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	events_start();
	/* This host pings 2001:db8:96::53: it opened a flow to that peer. */
	out = icmp("2001:db8:97::2", "2001:db8:96::53", 128);
	send_out(&out, 1);

	for (unsigned int i = 1; i <= 150; i++) {
		for (int p = 0; p < 2; p++) {
			struct pkt_spec syn;

			in_prefix(src, sizeof(src), prefixes[p], i);
			syn = tcp(src, "2001:db8:97::2", 40000, 80, SYN);
			assert_int_equal(send_spec(&syn, 1), XDP_PASS);
		}
	}
	events_flush();
	n = events_copy(got, &other);
	assert_int_equal(other, 0);
	assert_int_equal(n, 2);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 2);
	for (int p = 0; p < 2; p++) {
		uint8_t a[16];
		size_t k;

		/* The 100th SYN's sender is blocked, and the event names it. */
		in_prefix(src, sizeof(src), prefixes[p], 100);
		addr_bytes(src, a);
		for (k = 0; k < n && memcmp(got[k].src, a, 16); k++)
			;
		if (k == n)
			fail_msg("no event names %s", src);
		assert_int_equal(got[k].src_prefix_len, 0);
		assert_true(got[k].blocked);
		{
			char text[INET6_ADDRSTRLEN];

			/* As the listing spells it. */
			inet_ntop(AF_INET6, a, text, sizeof(text));
			snprintf(entry, sizeof(entry), "%s/128", text);
		}
		assert_non_null(find_entry(&es, entry));
		assert_int_equal(verdict(src, 1), XDP_DROP);
		/* Its /64 is not blocked. */
		in_prefix(src, sizeof(src), prefixes[p], 99);
		assert_int_equal(verdict(src, 1), XDP_PASS);
	}
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_PROTECTED], 0);
	run("ip addr flush dev %s && sysctl -qw net.ipv6.conf.%s.disable_ipv6=1", IF_DUT, IF_DUT);
}

/* The SYN flood detection alone, blocking sources that proved themselves, with events. */
static void start_proven_syn_mitigation(void)
{
	struct netprobe_config cfg;

	syn_flood_config(&cfg);
	cfg.mitigation = true;
	cfg.mitigation_ttl_s = 60;
	start_filter(&cfg);
	events_start();
}

/*
 * Proof is the prefix's too: a handshake completed from one address of a
 * /64 shows its owner is there, and the /64 may be blocked for what its
 * other addresses do; a /64 that proved nothing is only alerted on.
 */
static void test_ipv6_prefix_proof(void **state)
{
	struct expect x[2];
	char src[64];

	(void)state;
	start_proven_syn_mitigation();
	handshake("2001:db8:92::1", "2001:db8:ffff::1", 41000, 1000, 1001);
	for (unsigned int i = 1; i <= 120; i++) {
		in_prefix(src, sizeof(src), "2001:db8:92:0:", i);
		syn_burst(src, "2001:db8:ffff::1", 1);
		in_prefix(src, sizeof(src), "2001:db8:91:0:", i);
		syn_burst(src, "2001:db8:ffff::1", 1);
	}
	x[0] = EXPECT_SRC(SYN_FLOOD, "2001:db8:92::/64", 100, 1000);
	x[0].blocked = 1;
	x[1] = EXPECT_SRC(SYN_FLOOD, "2001:db8:91::/64", 100, 1000);
	assert_int_equal(check_events(x, 2, 1).not_blocked, NETPROBE_UNBLOCKED_UNPROVEN);
	assert_int_equal(verdict("2001:db8:92::77", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:91::77", 1), XDP_PASS);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_UNPROVEN], 1);
}

/*
 * An address blocked alone, because its prefix holds a peer, is blocked on
 * its own proof: the prefix's proof (another address's handshake) does not
 * let a spoofer in that prefix frame a neighbour.
 */
static void test_ipv6_sender_needs_own_proof(void **state)
{
	struct netprobe_security_event got[MAX_EVENTS];
	struct pkt_spec out;
	size_t n, other;
	char src[64];

	(void)state;
	start_proven_syn_mitigation();
	/* 2001:db8:89::/64 holds a peer of this host's; ::5 proves itself. */
	out = icmp("2001:db8:ffff::1", "2001:db8:89::53", 128);
	send_out(&out, 1);
	handshake("2001:db8:89::5", "2001:db8:ffff::1", 41000, 1000, 1001);
	/* Spoofed SYNs from the rest of the /64: its 100th sender proved nothing. */
	for (unsigned int i = 1; i <= 120; i++) {
		in_prefix(src, sizeof(src), "2001:db8:89:0:", i);
		syn_burst(src, "2001:db8:ffff::1", 1);
	}
	events_flush();
	n = events_copy(got, &other);
	assert_int_equal(n, 1);
	assert_false(got[0].blocked);
	assert_int_equal(got[0].not_blocked, NETPROBE_UNBLOCKED_UNPROVEN);
	assert_int_equal(got[0].src_prefix_len, 0);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
	/*
	 * Next window, the proven address floods itself: it alone is blocked
	 * (again after a while if the kernel's clock had not moved on yet).
	 */
	usleep(1100 * 1000);
	for (int i = 0; i < 20 && listing(NETPROBE_ACL_DENY).n == 0; i++) {
		if (i)
			usleep(200000);
		syn_burst("2001:db8:89::5", "2001:db8:ffff::1", 100);
	}
	assert_int_equal(verdict("2001:db8:89::5", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:89::6", 1), XDP_PASS);
	assert_string_equal(listing(NETPROBE_ACL_DENY).e[0].text, "2001:db8:89::5/128");
}

/*
 * A hand-made /64 entry that ran out, and a block XDP made on the same
 * prefix before any sweep: the sweep removes the old entry's rule, never
 * the block's trie entry.
 */
static void test_ipv6_block_survives_sweep(void **state)
{
	struct netprobe_config cfg;
	struct entries es;
	char src[64];

	(void)state;
	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db8:90::/64", 1), 0);
	assert_int_equal(verdict("2001:db8:90::1", 1), XDP_DROP);
	usleep(1200 * 1000);
	for (unsigned int i = 1; i <= 110; i++) {
		in_prefix(src, sizeof(src), "2001:db8:90:0:", i);
		syn_burst(src, "2001:db8:ffff::1", 1);
	}
	assert_int_equal(verdict("2001:db8:90::1", 1), XDP_DROP);
	/* Listing sweeps: the expired hand-made rule goes, the block stays. */
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(es.e[0].text, "2001:db8:90::/64");
	assert_string_equal(netprobe_acl_origin_name(es.e[0].origin), "syn_flood");
	assert_int_equal(verdict("2001:db8:90::1", 1), XDP_DROP);
	assert_int_equal(netprobe_blacklist_del(g_m, "2001:db8:90::/64"), 0);
	assert_int_equal(verdict("2001:db8:90::1", 1), XDP_PASS);
}

/* Interfaces of one pinned state count IPv6 sources by one prefix: another is refused. */
static void test_ipv6_prefix_shared(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_manager *other;

	(void)state;
	base_config(&cfg);
	start_filter(&cfg);
	cfg.ipv6_source_prefix = 56;
	other = netprobe_manager_new(&cfg);
	assert_non_null(other);
	assert_int_equal(netprobe_manager_load(other), 0);
	assert_int_equal(netprobe_manager_attach(other, IF_DUT), -EINVAL);
	netprobe_manager_free(other);
	/* Still attached, as it was. */
	assert_int_equal(verdict("2001:db8:88::1", 1), XDP_PASS);
}

/* SYN floods from n sources "prefix.first".."prefix.first+n-1", each reps SYNs. */
static void syn_sources(const char *prefix, int first, int n, unsigned int reps)
{
	char src[64];

	for (int i = first; i < first + n; i++) {
		snprintf(src, sizeof(src), "%s.%d", prefix, i);
		syn_burst(src, "192.0.2.250", reps);
	}
}

/*
 * Under pool pressure, an IPv4 /24 of which 8 addresses were blocked is
 * blocked whole (point 8 of the filter-trust issue): one rule for many,
 * and its addresses' blocks give way first. Without pressure, and for a
 * /24 that holds an address this host depends on, addresses stay single.
 */
static void test_ipv4_aggregate(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_security_event got[MAX_EVENTS];
	struct netprobe_global_stats st;
	struct entries es;
	size_t n, other;
	int agg = -1;

	(void)state;
	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 60);
	cfg.mitigation_max_blocks = 16;
	start_filter(&cfg);
	events_start();
	/* No pressure yet: 8 addresses of one /24 stay 8 blocks. */
	syn_sources("198.18.5", 1, 8, 100);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 8);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_AGGREGATED], 0);
	/* The pool fills up: 8 more, of 8 /24s. */
	for (int i = 1; i <= 8; i++) {
		char src[32];

		snprintf(src, sizeof(src), "198.18.%d.1", 10 + i);
		syn_burst(src, "192.0.2.250", 100);
	}
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 16);
	/* 8 addresses of 203.0.113.0/24, each twice over the threshold (evidence 32: they evict). */
	syn_sources("203.0.113", 1, 8, 200);
	st = stats();
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_AGGREGATED], 1);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 16);
	for (int i = 0; i < es.n; i++)
		if (!strcmp(es.e[i].text, "203.0.113.0/24"))
			agg = i;
	assert_true(agg >= 0);
	assert_string_equal(netprobe_acl_origin_name(es.e[agg].origin), "syn_flood");
	/* Any address of the /24 drops; the next /24 passes; an allow entry inside wins. */
	assert_int_equal(verdict("203.0.113.200", 1), XDP_DROP);
	assert_int_equal(verdict("203.0.114.1", 1), XDP_PASS);
	assert_int_equal(netprobe_allowlist_add(g_m, "203.0.113.201", 0), 0);
	assert_int_equal(verdict("203.0.113.201", 1), XDP_PASS);
	assert_int_equal(netprobe_allowlist_del(g_m, "203.0.113.201"), 0);
	assert_int_equal(verdict("203.0.113.201", 1), XDP_DROP);
	/* Each address's event told of the refused block (the retry that blocked it is silent). */
	events_flush();
	n = events_copy(got, &other);
	assert_int_equal(n, 24);
	assert_int_equal(got[n - 1].not_blocked, NETPROBE_UNBLOCKED_POOL_FULL);
	/* Lifted like any entry. */
	assert_int_equal(netprobe_blacklist_del(g_m, "203.0.113.0/24"), 0);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_PASS);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 15);
}

/* A /24 that holds this host's address is never blocked whole, pressure or not. */
static void test_ipv4_aggregate_spares(void **state)
{
	struct netprobe_config cfg;

	(void)state;
	run("ip addr add 198.18.9.2/32 dev %s", IF_DUT);
	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 60);
	cfg.mitigation_max_blocks = 16;
	start_filter(&cfg);
	syn_sources("198.18.20", 1, 16, 100); /* a full pool */
	syn_sources("198.18.9", 100, 10, 200);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_AGGREGATED], 0);
	assert_int_equal(verdict("198.18.9.150", 1), XDP_PASS);
	assert_int_equal(verdict("198.18.9.100", 1), XDP_DROP);
	run("ip addr flush dev %s", IF_DUT);
}

/* The filter with SYN flood mitigation (unproven sources too), src already blocked by it. */
static void start_with_block(const char *src)
{
	struct netprobe_config cfg;

	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 60);
	start_filter(&cfg);
	syn_burst(src, "192.0.2.250", 200);
}

/*
 * A batch that fails part way leaves the lists as they were: also the
 * mitigation block one of its entries was replacing, which is back in force.
 */
static void test_batch_undo_keeps_blocks(void **state)
{
	const char *allow[] = {"10.0.0.0/8", "198.18.11.1", "2001:db8::/48"};
	struct netprobe_acl_batch_result res;
	struct entries es;

	(void)state;
	start_with_block("198.18.11.1");
	assert_int_equal(verdict("198.18.11.1", 1), XDP_DROP);
	/* The /32's exact entry goes in, the IPv6 prefix's trie entry fails. */
	g_update_fail_in = 1;
	assert_int_equal(netprobe_allowlist_add_many(g_m, allow, 3, NULL, &res), -ENOMEM);
	g_update_fail_in = -1;
	assert_int_equal(res.failed, 2);
	assert_int_equal(listing(NETPROBE_ACL_ALLOW).n, 0);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(es.e[0].text, "198.18.11.1/32");
	assert_string_equal(netprobe_acl_origin_name(es.e[0].origin), "syn_flood");
	assert_int_equal(verdict("198.18.11.1", 1), XDP_DROP);
	assert_int_equal(verdict("10.1.1.1", 1), XDP_PASS);
	/* Still the pool's to retire; and the same batch, without the failure, replaces it. */
	assert_int_equal(netprobe_allowlist_add_many(g_m, allow, 3, NULL, &res), 0);
	assert_int_equal(res.done, 3);
	assert_int_equal(verdict("198.18.11.1", 1), XDP_PASS);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 0);
	assert_int_equal(netprobe_allowlist_del_many(g_m, allow, 3, NULL), 0);
	assert_int_equal(verdict("198.18.11.1", 1), XDP_PASS);
}

/*
 * A mitigation block is not "listed" for the command line's all-or-none
 * add (NETPROBE_ACL_LISTED_FAIL): an operator's entry for a blocked source
 * replaces the block, whatever a forged flood made of it, and is the
 * operator's (manual, with the operator's TTL) from then on.
 */
static void test_batch_listed_replaces_block(void **state)
{
	const char *blocked[] = {"198.18.11.1"};
	struct netprobe_acl_batch_opts opts = {
		.sz = sizeof(opts), .ttl_s = 0, .listed = NETPROBE_ACL_LISTED_FAIL};
	struct netprobe_acl_batch_result res;
	struct entries es;

	(void)state;
	start_with_block("198.18.11.1");
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(netprobe_acl_origin_name(es.e[0].origin), "syn_flood");
	assert_int_equal(netprobe_blacklist_add_many(g_m, blocked, 1, &opts, &res), 0);
	assert_int_equal(res.done, 1);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(netprobe_acl_origin_name(es.e[0].origin), "manual");
	assert_int_equal(es.e[0].ttl_left_ms, 0); /* the block's 60 s TTL is gone with it */
	assert_int_equal(verdict("198.18.11.1", 1), XDP_DROP);
	/* Now it is the operator's: the same add again fails whole. */
	assert_int_equal(netprobe_blacklist_add_many(g_m, blocked, 1, &opts, &res), -EEXIST);
}

static int allow_over_block(const void *arg)
{
	return netprobe_allowlist_add_many(g_m, (const char *const *)arg, 3, NULL, NULL);
}

static int del_block(const void *arg)
{
	return netprobe_blacklist_del(g_m, arg);
}

static int renew_update(const void *arg)
{
	struct netprobe_acl_batch_opts opts = {
		.sz = sizeof(opts), .ttl_s = 1000, .listed = NETPROBE_ACL_LISTED_UPDATE};

	return netprobe_blacklist_add_many(g_m, (const char *const *)arg, 5, &opts, NULL);
}

static const struct netprobe_acl_entry *listed(const struct entries *es, const char *addr)
{
	char text[64];

	snprintf(text, sizeof(text), "%s/%d", addr, strchr(addr, ':') ? 128 : 32);
	return find_entry(es, text);
}

/*
 * Killed at every point in turn, until one runs to its end: an allow batch
 * that takes a mitigation block's address over (the block replaced), one
 * entry removed that is a block, and a batch that renews TTLs (updated) and
 * adds entries. Each is then in force whole or not at all, the block in
 * force exactly when its replacement is not, and nothing is left claimed.
 */
static void test_change_killed_with_blocks(void **state)
{
	struct netprobe_acl_batch_opts short_ttl = {
		.sz = sizeof(short_ttl), .ttl_s = 100, .listed = NETPROBE_ACL_LISTED_UPDATE};
	const char *renew[] = {"10.7.0.0/16", "10.8.1.1", "2001:db8:7::/48", "10.9.0.0/16",
			       "2001:db8:9::1"};
	int outcomes[3][2] = {}; /* [allow over block, block removed, renewal][undone, finished] */
	char src[32], phase[96];
	struct entries es;
	int k, ended;

	(void)state;
	start_with_block("198.18.11.1");
	for (k = 0, ended = -1; ended != 0 && k < 300; k += kill_stride()) {
		const char *batch[] = {"10.0.0.0/8", src, "2001:db8::/48"};
		bool in;

		snprintf(src, sizeof(src), "198.18.%d.%d", 12 + k / 200, 1 + k % 200);
		syn_burst(src, "192.0.2.250", 200);
		assert_int_equal(verdict(src, 1), XDP_DROP);
		ended = op_in_child(allow_over_block, batch, -1, k);
		es = listing(NETPROBE_ACL_ALLOW);
		in = es.n != 0;
		snprintf(phase, sizeof(phase), "allow over a block, killed at %d", k);
		if (es.n != 0 && es.n != 3)
			fail_msg("%s: %d of 3 entries listed", phase, es.n);
		assert_int_equal(verdict(src, 1), in ? XDP_PASS : XDP_DROP);
		es = listing(NETPROBE_ACL_DENY);
		assert_true((listed(&es, src) != NULL) == !in);
		check_lists_whole(phase);
		outcomes[0][in]++;
		if (in)
			assert_int_equal(netprobe_allowlist_del_many(g_m, batch, 3, NULL), 0);
	}
	assert_int_equal(ended, 0);
	for (k = 0, ended = -1; ended != 0 && k < 300; k += kill_stride()) {
		bool in;

		snprintf(src, sizeof(src), "198.18.%d.%d", 14 + k / 200, 1 + k % 200);
		syn_burst(src, "192.0.2.250", 200);
		ended = op_in_child(del_block, src, -1, k);
		es = listing(NETPROBE_ACL_DENY);
		in = listed(&es, src) != NULL;
		snprintf(phase, sizeof(phase), "a block removed, killed at %d", k);
		assert_int_equal(verdict(src, 1), in ? XDP_DROP : XDP_PASS);
		check_lists_whole(phase);
		outcomes[1][!in]++;
	}
	assert_int_equal(ended, 0);
	assert_int_equal(netprobe_blacklist_add_many(g_m, renew, 3, &short_ttl, NULL), 0);
	for (k = 0, ended = -1; ended != 0 && k < 300; k += kill_stride()) {
		int added = 0, renewed = 0;

		ended = op_in_child(renew_update, renew, -1, k);
		es = listing(NETPROBE_ACL_DENY);
		for (int i = 0; i < es.n; i++) {
			added += !strcmp(es.e[i].text, "10.9.0.0/16") ||
				 !strcmp(es.e[i].text, "2001:db8:9::1/128");
			renewed += es.e[i].ttl_left_ms > 900000;
		}
		snprintf(phase, sizeof(phase), "renewed and added, killed at %d", k);
		if (!((added == 0 && renewed == 0) || (added == 2 && renewed == 5)))
			fail_msg("%s: %d of 2 added, %d of 5 with the new TTL", phase, added,
				 renewed);
		assert_int_equal(verdict("10.9.1.1", 1), added ? XDP_DROP : XDP_PASS);
		check_lists_whole(phase);
		outcomes[2][added != 0]++;
		if (added) {
			assert_int_equal(netprobe_blacklist_del_many(g_m, renew + 3, 2, NULL), 0);
			assert_int_equal(
				netprobe_blacklist_add_many(g_m, renew, 3, &short_ttl, NULL), 0);
		}
	}
	assert_int_equal(ended, 0);
	print_message(
		"# kill points: allow over a block %d undone, %d finished; a block removed %d "
		"undone, %d finished; renewals %d undone, %d finished\n",
		outcomes[0][0], outcomes[0][1], outcomes[1][0], outcomes[1][1], outcomes[2][0],
		outcomes[2][1]);
	for (int i = 0; i < 3; i++)
		assert_true(outcomes[i][0] > 0 && outcomes[i][1] > 1);
}

static int count_entry(const struct netprobe_acl_entry *e, void *ctx)
{
	(void)e;
	++*(int *)ctx;
	return 0;
}

/*
 * A word the kernel will not rewrite (ENOMEM) leaves the change open: the
 * next lock holder's recovery tries again, and while it fails nothing
 * begins over the change (not even the sweep of an expired entry, which
 * would have forgotten it): list calls fail with -EAGAIN. Once memory is
 * back, the next call finishes it and the verdicts are right.
 */
static void test_refused_word_keeps_change_open(void **state)
{
	int n = 0;

	(void)state;
	start_lists_only();
	assert_int_equal(netprobe_blacklist_add(g_m, "10.70.1.1", 0), 0);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.71.0.0/16", 1), 0);
	assert_int_equal(verdict("10.70.1.1", 1), XDP_DROP);
	g_refuse_rewrites = true;
	/* The allow prefix is in; the /32 under it could not be told. */
	assert_int_equal(netprobe_allowlist_add(g_m, "10.70.1.0/24", 0), 0);
	assert_int_equal(pinned_change_state(), NETPROBE_CHANGE_COMMITTED);
	usleep(1100000); /* 10.71.0.0/16 expires: a sweep would run */
	assert_int_equal(netprobe_blacklist_list(g_m, count_entry, &n), -EAGAIN);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.72.0.0/16", 0), -EAGAIN);
	assert_int_equal(pinned_change_state(), NETPROBE_CHANGE_COMMITTED);
	g_refuse_rewrites = false;
	assert_int_equal(netprobe_blacklist_list(g_m, count_entry, &n), 0);
	assert_int_equal(n, 1); /* 10.70.1.1; the expired /16 swept, 10.72 never added */
	assert_int_equal(pinned_change_state(), NETPROBE_CHANGE_IDLE);
	assert_int_equal(verdict("10.70.1.1", 1), XDP_PASS);
	assert_int_equal(verdict("10.71.1.1", 1), XDP_PASS);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.72.0.0/16", 0), 0);
	check_lists_whole("after the refused word");
}

/*
 * The sweep of expired entries killed at every point in turn: an allow
 * prefix over a deny prefix, IPv4 and IPv6 entries and a mitigation block
 * expire; the next process finishes the sweep, and nothing expired decides
 * anything any more.
 */
static void test_sweep_killed(void **state)
{
	const char *deny[] = {"10.61.1.1", "2001:db8:60::/48"};
	const char *allow[] = {"10.60.1.0/24"};
	struct netprobe_acl_batch_opts ttl1 = {.sz = sizeof(ttl1), .ttl_s = 1};
	struct netprobe_config cfg;
	char src[32], phase[64];
	int k, ended, killed = 0;

	(void)state;
	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 1);
	start_filter(&cfg);
	assert_int_equal(netprobe_blacklist_add(g_m, "10.60.0.0/16", 0), 0);
	for (k = 0, ended = -1; ended != 0 && k < 100; k += kill_stride()) {
		struct entries es;

		snprintf(src, sizeof(src), "198.18.20.%d", 1 + k);
		syn_burst(src, "192.0.2.250", 200);
		assert_int_equal(verdict(src, 1), XDP_DROP);
		assert_int_equal(netprobe_blacklist_add_many(g_m, deny, 2, &ttl1, NULL), 0);
		assert_int_equal(netprobe_allowlist_add_many(g_m, allow, 1, &ttl1, NULL), 0);
		assert_int_equal(verdict("10.60.1.5", 1), XDP_PASS);
		usleep(1100000);
		ended = op_in_child(list_deny, NULL, -1, k);
		killed += ended < 0;
		es = listing(NETPROBE_ACL_DENY);
		snprintf(phase, sizeof(phase), "a sweep killed at %d", k);
		assert_int_equal(es.n, 1); /* 10.60.0.0/16, which has no TTL */
		assert_int_equal(listing(NETPROBE_ACL_ALLOW).n, 0);
		assert_int_equal(verdict("10.60.1.5", 1), XDP_DROP);
		assert_int_equal(verdict("10.61.1.1", 1), XDP_PASS);
		assert_int_equal(verdict("2001:db8:60::1", 1), XDP_PASS);
		assert_int_equal(verdict(src, 1), XDP_PASS);
		check_lists_whole(phase);
	}
	assert_int_equal(ended, 0);
	print_message("# a sweep killed at %d points, then one ran to its end\n", killed);
	assert_true(killed > 3);
}

/*
 * A pool of 16 made full by 16 blocks of evidence 16 (each in a /24 of its
 * own), then 8 addresses of 203.0.113.0/24 twice as strong: the /24 is
 * blocked whole.
 */
static void fill_pool_16(void)
{
	for (int i = 11; i <= 26; i++) {
		char net[32];

		snprintf(net, sizeof(net), "198.18.%d", i);
		syn_sources(net, 1, 1, 100);
	}
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 16);
}

static void aggregate_203(void)
{
	fill_pool_16();
	syn_sources("203.0.113", 1, 8, 200);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_AGGREGATED], 1);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_DROP);
}

static void start_aggregating(unsigned int ttl_s)
{
	struct netprobe_config cfg;

	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, ttl_s);
	cfg.mitigation_max_blocks = 16;
	start_filter(&cfg);
}

/*
 * An aggregate is decided by its own entry alone: an allow prefix over it
 * that comes and goes paints nothing of it into the regions, so once it is
 * lifted its /24 passes (fail closed would be: it drops on, unlisted).
 */
static void test_ipv4_aggregate_never_painted(void **state)
{
	struct entries es;

	(void)state;
	start_aggregating(60);
	aggregate_203();
	assert_int_equal(netprobe_allowlist_add(g_m, "203.0.0.0/16", 0), 0);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_PASS);
	assert_int_equal(netprobe_allowlist_del(g_m, "203.0.0.0/16"), 0);
	/* Nor does it wait for a sweep when an allow prefix over it runs out. */
	assert_int_equal(netprobe_allowlist_add(g_m, "203.0.0.0/16", 60), 0);
	assert_int_equal(sec_stats().sweep_dependent, 0);
	assert_int_equal(netprobe_allowlist_del(g_m, "203.0.0.0/16"), 0);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_DROP);
	assert_int_equal(netprobe_blacklist_del(g_m, "203.0.113.0/24"), 0);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_PASS);
	es = listing(NETPROBE_ACL_DENY);
	assert_null(find_entry(&es, "203.0.113.0/24"));
}

/*
 * The operator's own entry for a blocked prefix replaces the block: an
 * allow entry for the aggregate's /24, a deny entry (for good) for a
 * blocked address.
 */
static void test_operator_entry_replaces_block(void **state)
{
	const struct netprobe_acl_entry *e;
	struct entries es;
	char addr[64] = "", text[80];

	(void)state;
	start_aggregating(60);
	aggregate_203();
	assert_int_equal(netprobe_allowlist_add(g_m, "203.0.113.0/24", 0), 0);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_PASS);
	es = listing(NETPROBE_ACL_ALLOW);
	assert_non_null(find_entry(&es, "203.0.113.0/24"));
	es = listing(NETPROBE_ACL_DENY);
	assert_null(find_entry(&es, "203.0.113.0/24"));

	/* A blocked address of the full pool's (some were evicted) made a deny entry by hand. */
	for (int i = 0; i < es.n && !addr[0]; i++)
		if (!strncmp(es.e[i].text, "198.18.", 7)) {
			assert_int_not_equal(es.e[i].origin, NETPROBE_ORIGIN_MANUAL);
			snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(es.e[i].text, "/"),
				 es.e[i].text);
		}
	assert_true(addr[0]);
	assert_int_equal(netprobe_blacklist_add(g_m, addr, 0), 0);
	es = listing(NETPROBE_ACL_DENY);
	snprintf(text, sizeof(text), "%s/32", addr);
	assert_non_null(e = find_entry(&es, text));
	assert_int_equal(e->origin, NETPROBE_ORIGIN_MANUAL);
	assert_int_equal(e->ttl_left_ms, 0);
	assert_int_equal(verdict(addr, 1), XDP_DROP);
	/* One entry: the block is gone, not listed beside it. */
	for (int i = 0, n = 0; i < es.n; i++)
		assert_true((n += !strcmp(es.e[i].text, text)) <= 1);
	assert_int_equal(sec_stats().deny_entries, 1);
	/* Lifted by hand, the address passes: nothing of the block is left in force. */
	assert_int_equal(netprobe_blacklist_del(g_m, addr), 0);
	assert_int_equal(verdict(addr, 1), XDP_PASS);
}

/* Lists full: the operator's deny entry for a blocked address fails, and the block stays. */
static void test_operator_entry_full_keeps_block(void **state)
{
	struct netprobe_config cfg;
	struct entries es;
	char net[32];

	(void)state;
	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 60);
	cfg.acl_max_rules = 64;
	cfg.mitigation_max_blocks = 16;
	start_filter(&cfg);
	for (int i = 0;; i++) {
		snprintf(net, sizeof(net), "10.%d.0.0/16", i);
		if (netprobe_blacklist_add(g_m, net, 0) == -ENOSPC)
			break;
		assert_true(i < 64);
	}
	syn_burst("198.18.11.1", "192.0.2.250", 100);
	assert_int_equal(verdict("198.18.11.1", 1), XDP_DROP);
	assert_int_equal(netprobe_blacklist_add(g_m, "198.18.11.1", 0), -ENOSPC);
	assert_int_equal(verdict("198.18.11.1", 1), XDP_DROP);
	es = listing(NETPROBE_ACL_DENY);
	assert_non_null(find_entry(&es, "198.18.11.1/32"));
	/* And it is still the pool's to retire: lifting it works. */
	assert_int_equal(netprobe_blacklist_del(g_m, "198.18.11.1"), 0);
	assert_int_equal(verdict("198.18.11.1", 1), XDP_PASS);
}

/* An address blocked again (lifted, caught anew) is one member of its /24, not two. */
static void test_ipv4_aggregate_counts_addresses(void **state)
{
	(void)state;
	start_aggregating(60);
	fill_pool_16();
	syn_sources("203.0.113", 1, 7, 200);
	assert_int_equal(netprobe_blacklist_del(g_m, "203.0.113.1"), 0);
	usleep(1100 * 1000); /* the next window: .1 may be caught again */
	syn_burst("203.0.113.1", "192.0.2.250", 200);
	assert_int_equal(verdict("203.0.113.1", 1), XDP_DROP);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_AGGREGATED], 0);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_PASS);
	syn_sources("203.0.113", 8, 1, 200);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_AGGREGATED], 1);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_DROP);
}

/*
 * A pool whose blocks have all run out (nothing swept them) is not under
 * pressure: new blocks take their rules, and a /24 of 8 stays 8 blocks.
 */
static void test_ipv4_aggregate_needs_pressure(void **state)
{
	(void)state;
	start_aggregating(2);
	fill_pool_16();
	usleep(2200 * 1000);
	syn_sources("203.0.113", 1, 8, 200);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_AGGREGATED], 0);
	assert_int_equal(verdict("203.0.113.200", 1), XDP_PASS);
	assert_int_equal(verdict("203.0.113.8", 1), XDP_DROP);
}

/*
 * The prefix is the operator's: /56 joins the /64s of a site; /128 counts
 * each address alone (rotation then goes unseen, as before). A block that
 * ran out is made again at once, and a weaker prefix block gives way
 * under pool pressure like any other.
 */
static void test_ipv6_prefix_configurable(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_global_stats st;
	struct entries es;
	const char *kept;
	char src[64];
	int drops = 0;

	(void)state;
	syn_flood_config(&cfg);
	cfg.ipv6_source_prefix = 56;
	mitigate_unproven(&cfg, 3);
	cfg.mitigation_max_blocks = 2;
	start_filter(&cfg);
	/* Two /64s of one /56 take turns. */
	for (unsigned int i = 1; i <= 120; i++) {
		struct pkt_spec syn;

		in_prefix(src, sizeof(src), i & 1 ? "2001:db8:95:ab:" : "2001:db8:95:cd:", i);
		syn = tcp(src, "2001:db8:ffff::1", 40000, 80, SYN);
		drops += send_spec(&syn, 1) == XDP_DROP;
	}
	assert_int_equal(drops, 20);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 1);
	assert_string_equal(es.e[0].text, "2001:db8:95::/56");
	assert_int_equal(verdict("2001:db8:95:ff::1", 1), XDP_DROP);
	assert_int_equal(verdict("2001:db8:95:100::1", 1), XDP_PASS);

	/*
	 * A pool of two: a second prefix takes the other rule; a third, as
	 * weak, is refused, and once its count has doubled it evicts one.
	 */
	syn_burst("2001:db8:94::1", "2001:db8:ffff::1", 100);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 2);
	syn_burst("2001:db8:93::1", "2001:db8:ffff::1", 100);
	assert_int_equal(verdict("2001:db8:93::2", 1), XDP_PASS);
	st = stats();
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_REFUSED], 1);
	syn_burst("2001:db8:93::1", "2001:db8:ffff::1", 100);
	assert_int_equal(verdict("2001:db8:93::2", 1), XDP_DROP);
	st = stats();
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_EVICTED], 1);
	assert_int_equal(st.counters.filter[NETPROBE_FC_BLOCKS_ADDED], 3);
	es = listing(NETPROBE_ACL_DENY);
	assert_int_equal(es.n, 2);
	/* The evicted prefix passes again; the other stays blocked. */
	kept = find_entry(&es, "2001:db8:95::/56") ? "2001:db8:95::1" : "2001:db8:94::1";
	assert_int_equal(verdict(kept, 1), XDP_DROP);
	assert_int_equal(
		verdict(strcmp(kept, "2001:db8:95::1") ? "2001:db8:95::1" : "2001:db8:94::1", 1),
		XDP_PASS);

	/* Ran out (3 s), not swept: the prefix flooding again is blocked again at once. */
	usleep(3200 * 1000);
	assert_int_equal(verdict(kept, 1), XDP_PASS);
	syn_burst(kept, "2001:db8:ffff::1", 100);
	assert_int_equal(verdict(kept, 1), XDP_DROP);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_ADDED], 4);
}

/* A source blocked again after its block ran out, before anything swept it. */
static void test_repeat_offender_blocked_again(void **state)
{
	struct netprobe_config cfg;

	(void)state;
	syn_flood_config(&cfg);
	mitigate_unproven(&cfg, 1);
	start_filter(&cfg);
	send_syns("198.51.100.40", "192.0.2.97", 80, 100);
	assert_int_equal(verdict("198.51.100.40", 1), XDP_DROP);
	usleep(1200000);
	/* No listing, no sweep in between: the expired block is still in the table. */
	assert_int_equal(verdict("198.51.100.40", 1), XDP_PASS);
	/*
	 * The windows are the clock's: a burst can land where the rate seen is
	 * just under the threshold (a slow machine's sleep overshoots), or in
	 * the window already alerted (a loaded one's clock lags). More bursts,
	 * a while apart, until it is blocked again, once.
	 */
	for (int i = 0; i < 20 && stats().counters.filter[NETPROBE_FC_BLOCKS_ADDED] < 2; i++) {
		if (i)
			usleep(200000);
		syn_burst("198.51.100.40", "192.0.2.97", 100);
	}
	assert_int_equal(verdict("198.51.100.40", 3), XDP_DROP);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_ADDED], 2);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_BLOCKS_REFUSED], 0);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "198.51.100.40/32"), 3);
}

/*
 * A first fragment too short for its TCP header, or an IPv6 extension chain
 * too long to follow, hides its ports: the lists still apply to its source,
 * and the filter drops it unless an allow entry vouches for the source.
 */
static void test_malformed_with_known_source(void **state)
{
	struct pkt_spec deep = udp("2001:db8:50::1", "2001:db8:ffff::1", 40000, 53);
	struct pkt_spec syn = tcp("192.0.2.60", "198.51.100.60", 40000, 80, SYN);
	uint8_t frame[256];
	size_t len;
	struct netprobe_config cfg;

	(void)state;
	base_config(&cfg);
	start_filter(&cfg);
	/* A tiny first fragment: MF set, 8 bytes of the TCP header, total length to match. */
	syn.ipv4_frag = 0x2000;
	len = pkt_build(&syn, frame, sizeof(frame));
	assert_true(len > 14 + 20 + 8);
	len = 14 + 20 + 8;
	frame[14 + 2] = 0;
	frame[14 + 3] = 28;
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
			    .repeat = 1);

		assert_int_equal(bpf_prog_test_run_opts(g_prog, &opts), 0);
		assert_int_equal(opts.retval, XDP_DROP);
	}
	deep.ipv6_ext_count = 7;
	for (int i = 0; i < 7; i++)
		deep.ipv6_ext[i] = IPPROTO_DSTOPTS;
	assert_int_equal(send_spec(&deep, 1), XDP_DROP);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_MALFORMED_DROPS], 2);
	/* A denied source's hidden-port packets count as its deny entry's. */
	assert_int_equal(netprobe_blacklist_add(g_m, "2001:db8:50::/48", 0), 0);
	assert_int_equal(send_spec(&deep, 4), XDP_DROP);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "2001:db8:50::/48"), 4);
	/* An allowed source's pass; in monitor mode everything passes. */
	assert_int_equal(netprobe_allowlist_add(g_m, "2001:db8:50::1", 0), 0);
	assert_int_equal(send_spec(&deep, 1), XDP_PASS);
	assert_int_equal(netprobe_allowlist_del(g_m, "2001:db8:50::1"), 0);
	cfg.xdp_mode = NETPROBE_XDP_MONITOR;
	update_config(&cfg);
	assert_int_equal(send_spec(&deep, 1), XDP_PASS);
	assert_int_equal(stats().counters.filter[NETPROBE_FC_MALFORMED_DROPS], 2);
}

/* ---- 7. Rate anomaly ------------------------------------------------------------------ */

static void steady(int windows)
{
	struct pkt_spec s = udp("192.0.2.50", "198.51.100.50", 40000, 5000);

	/* About 300 packets a second, in 100 ms windows. */
	for (int i = 0; i < windows * 10; i++) {
		assert_int_equal(send_spec(&s, 3), XDP_PASS);
		usleep(10000);
	}
}

static void test_rate_anomaly(void **state)
{
	struct pkt_spec s = udp("192.0.2.51", "198.51.100.50", 40000, 5000);
	struct netprobe_config cfg;
	struct expect x[2] = {{.detection = NETPROBE_DETECT_RATE_ANOMALY,
			       .scope = NETPROBE_SCOPE_INTERFACE,
			       .window_ms = 100}};

	(void)state;
	base_config(&cfg);
	detections_off(&cfg);
	cfg.rate_anomaly = (struct netprobe_detection){true, 2000, 100}; /* 20x the baseline */
	cfg.rate_anomaly_learn_windows = 3;
	cfg.rate_anomaly_floor_pps = 10;
	start_filter(&cfg);
	events_start();

	/* Learned, then a steady rate: nothing. */
	steady(6);
	assert_int_equal(detections(NETPROBE_DETECT_RATE_ANOMALY), 0);
	/*
	 * Bursts, each alone in a window: a packet after a quiet spell closes
	 * the window before and opens the burst's; the next one, a window
	 * later, closes the burst's (and opens the next burst's). The second
	 * burst is as anomalous as the first: an anomaly teaches no baseline.
	 */
	usleep(120000);
	assert_int_equal(send_spec(&s, 1), XDP_PASS);
	for (int burst = 1; burst <= 2; burst++) {
		/* 100x the baseline: still 20x if a busy machine makes the quiet spell a second. */
		assert_int_equal(send_spec(&s, 30000), XDP_PASS);
		usleep(120000);
		assert_int_equal(send_spec(&s, 1), XDP_PASS);
		assert_int_equal(detections(NETPROBE_DETECT_RATE_ANOMALY), burst);
	}
	/* Steady again: nothing more. */
	steady(3);
	x[1] = x[0];
	check_events(x, 2, 0);
}

/* ---- 8. Live mode switch ---------------------------------------------------------------- */

static void test_mode_switch_keeps_state(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_global_stats st;
	struct netprobe_iface it;

	(void)state;
	base_config(&cfg);
	detections_off(&cfg);
	start_filter(&cfg);
	assert_int_equal(netprobe_blacklist_add(g_m, "192.0.2.0/24", 0), 0);
	assert_int_equal(netprobe_allowlist_add(g_m, "192.0.2.9", 0), 0);
	assert_int_equal(verdict("192.0.2.1", 4), XDP_DROP);
	assert_int_equal(verdict("192.0.2.9", 2), XDP_PASS);

	cfg.xdp_mode = NETPROBE_XDP_MONITOR;
	update_config(&cfg);
	assert_int_equal(netprobe_manager_iface(g_m, IF_DUT, &it), 0);
	assert_int_equal(it.xdp_mode, NETPROBE_XDP_MONITOR);
	/* Monitoring only: the denied source passes, and no entry counts it. */
	assert_int_equal(verdict("192.0.2.1", 3), XDP_PASS);
	st = stats();
	assert_int_equal(st.rx_packets, 9);
	assert_int_equal(st.counters.xdp_action[XDP_DROP], 4);
	assert_int_equal(st.counters.xdp_action[XDP_PASS], 5);
	assert_int_equal(st.counters.filter[NETPROBE_FC_DENY_DROPS], 4);
	assert_int_equal(st.counters.filter[NETPROBE_FC_ALLOW_PASSES], 2);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "192.0.2.0/24"), 4);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "192.0.2.9/32"), 2);

	cfg.xdp_mode = NETPROBE_XDP_FILTER;
	update_config(&cfg);
	assert_int_equal(netprobe_manager_iface(g_m, IF_DUT, &it), 0);
	assert_int_equal(it.xdp_mode, NETPROBE_XDP_FILTER);
	assert_int_equal(verdict("192.0.2.1", 5), XDP_DROP);
	assert_int_equal(verdict("192.0.2.9", 1), XDP_PASS);
	st = stats();
	assert_int_equal(st.rx_packets, 15);
	assert_int_equal(st.counters.filter[NETPROBE_FC_DENY_DROPS], 9);
	assert_int_equal(st.counters.filter[NETPROBE_FC_ALLOW_PASSES], 3);
	assert_int_equal(hits_of(NETPROBE_ACL_DENY, "192.0.2.0/24"), 9);
	assert_int_equal(hits_of(NETPROBE_ACL_ALLOW, "192.0.2.9/32"), 3);
	assert_int_equal(listing(NETPROBE_ACL_DENY).n, 1);
	assert_int_equal(listing(NETPROBE_ACL_ALLOW).n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_lpm_matches_model, teardown),
		cmocka_unit_test_teardown(test_lpm_batches_match_model, teardown),
		cmocka_unit_test_teardown(test_batch_all_or_none, teardown),
		cmocka_unit_test_teardown(test_batch_listed, teardown),
		cmocka_unit_test_teardown(test_batch_too_big, teardown),
		cmocka_unit_test_teardown(test_batch_allow_prefixes, teardown),
		cmocka_unit_test_teardown(test_batch_undo_keeps_blocks, teardown),
		cmocka_unit_test_teardown(test_batch_killed_is_whole, teardown),
		cmocka_unit_test_teardown(test_change_killed_with_blocks, teardown),
		cmocka_unit_test_teardown(test_sweep_killed, teardown),
		cmocka_unit_test_teardown(test_refused_word_keeps_change_open, teardown),
		cmocka_unit_test_teardown(test_batch_listed_replaces_block, teardown),
		cmocka_unit_test_teardown(test_list_add_pins_state_again, teardown),
		cmocka_unit_test_teardown(test_hits_count_decided_packets, teardown),
		cmocka_unit_test_teardown(test_ttl_expiry, teardown),
		cmocka_unit_test_teardown(test_expiry_nesting, teardown),
		cmocka_unit_test_teardown(test_bad_input, teardown),
		cmocka_unit_test_teardown(test_full_tables, teardown),
		cmocka_unit_test_teardown(test_floods, teardown),
		cmocka_unit_test_teardown(test_scans, teardown),
		cmocka_unit_test_teardown(test_scan_hash_keyed, teardown),
		cmocka_unit_test_teardown(test_allowlisted_source_raises_nothing, teardown),
		cmocka_unit_test_teardown(test_mapped_source_is_ipv4, teardown),
		cmocka_unit_test_teardown(test_sweep_dependent_counted, teardown),
		cmocka_unit_test_teardown(test_mitigation_blocks_source, teardown),
		cmocka_unit_test_teardown(test_mitigation_pool, teardown),
		cmocka_unit_test_teardown(test_mitigation_spares, teardown),
		cmocka_unit_test_teardown(test_mitigation_needs_proof, teardown),
		cmocka_unit_test_teardown(test_egress_evidence_spares, teardown),
		cmocka_unit_test_teardown(test_no_peer_by_answer, teardown),
		cmocka_unit_test_teardown(test_credit_not_banked, teardown),
		cmocka_unit_test_teardown(test_pool_pressure, teardown),
		cmocka_unit_test_teardown(test_stray_tcp_and_other_floods, teardown),
		cmocka_unit_test_teardown(test_counts_failures_not_volume, teardown),
		cmocka_unit_test_teardown(test_repeat_offender_blocked_again, teardown),
		cmocka_unit_test_teardown(test_state_slots_keyed, teardown),
		cmocka_unit_test_teardown(test_ipv6_prefix_rotation, teardown),
		cmocka_unit_test_teardown(test_ipv6_prefix_spares, teardown),
		cmocka_unit_test_teardown(test_ipv6_prefix_proof, teardown),
		cmocka_unit_test_teardown(test_ipv6_sender_needs_own_proof, teardown),
		cmocka_unit_test_teardown(test_ipv6_block_survives_sweep, teardown),
		cmocka_unit_test_teardown(test_ipv6_prefix_shared, teardown),
		cmocka_unit_test_teardown(test_ipv4_aggregate, teardown),
		cmocka_unit_test_teardown(test_ipv4_aggregate_spares, teardown),
		cmocka_unit_test_teardown(test_ipv4_aggregate_never_painted, teardown),
		cmocka_unit_test_teardown(test_operator_entry_replaces_block, teardown),
		cmocka_unit_test_teardown(test_operator_entry_full_keeps_block, teardown),
		cmocka_unit_test_teardown(test_ipv4_aggregate_counts_addresses, teardown),
		cmocka_unit_test_teardown(test_ipv4_aggregate_needs_pressure, teardown),
		cmocka_unit_test_teardown(test_ipv6_prefix_configurable, teardown),
		cmocka_unit_test_teardown(test_malformed_with_known_source, teardown),
		cmocka_unit_test_teardown(test_rate_anomaly, teardown),
		cmocka_unit_test_teardown(test_mode_switch_keeps_state, teardown),
	};

	/* NETPROBE_TEST_FILTER=pattern runs the tests whose names match (cmocka's wildcards). */
	if (getenv("NETPROBE_TEST_FILTER"))
		cmocka_set_test_filter(getenv("NETPROBE_TEST_FILTER"));
	return cmocka_run_group_tests_name("filter", tests, group_setup, NULL);
}
