// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Prometheus /metrics, served by libmicrohttpd on its own thread, in the
 * text exposition format 0.0.4. A scrape reads the pinned maps through a
 * manager of its own (never the loop's, never the event pipeline's) and the
 * daemon's own figures (events, reloads) through a snapshot under a mutex:
 * it waits for nothing the datapath or the events do. Names follow
 * Prometheus' conventions: netprobe_ prefix, base units, _total on
 * counters, one HELP and TYPE a family, labels of bounded cardinality only
 * (interface, hook, family, protocol, reason, action, type, vip, backend).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>
#include "daemon.h"

struct metrics {
	struct MHD_Daemon *httpd;
	struct netprobe_manager *m;	   /* the scrapes' own, on the daemon's pin path */
	struct netprobe_manager *events_m; /* the daemon's: event statistics are thread-safe */
	pthread_mutex_t lock;
	struct metrics_snapshot snap;
	char listen[80];
	unsigned long long flows_counted; /* the flow table's entries, at flows_counted_at */
	time_t flows_counted_at;
};

/* ---- Writing the exposition ---- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong form, no surrogate), or 0. */
static size_t utf8_sequence(const unsigned char *s)
{
	size_t n = s[0] < 0x80			  ? 1
		   : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
		   : (s[0] & 0xf0) == 0xe0	  ? 3
		   : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
						  : 0;
	unsigned int cp;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (n == 3) {
		cp = (s[0] & 0x0f) << 12 | (s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
	} else if (n == 4) {
		cp = (s[0] & 0x07) << 18 | (s[1] & 0x3f) << 12 | (s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		if (cp < 0x10000 || cp > 0x10ffff)
			return 0;
	}
	return n;
}

/*
 * A label value as the format wants it: backslash, quote and newline
 * escaped, and UTF-8 (a byte that is not, as an interface's name may hold,
 * becomes U+FFFD: one bad name must not make Prometheus drop the scrape).
 */
void metrics_label_value(FILE *f, const char *v)
{
	for (const unsigned char *c = (const unsigned char *)v; *c;) {
		size_t n = utf8_sequence(c);

		if (!n) {
			fputs("\xef\xbf\xbd", f);
			c++;
			continue;
		}
		if (*c == '\\' || *c == '"')
			fputc('\\', f);
		if (*c == '\n')
			fputs("\\n", f);
		else
			fwrite(c, 1, n, f);
		c += n;
	}
}

/* name{k1="v1",k2="v2"} value: labels as a NULL-ended list of key, value pairs. */
static void sample(FILE *f, const char *name, unsigned long long value, ...)
{
	va_list ap;
	const char *k;
	bool first = true;

	fputs(name, f);
	va_start(ap, value);
	while ((k = va_arg(ap, const char *))) {
		fprintf(f, "%s%s=\"", first ? "{" : ",", k);
		metrics_label_value(f, va_arg(ap, const char *));
		fputc('"', f);
		first = false;
	}
	va_end(ap);
	fprintf(f, "%s %llu\n", first ? "" : "}", value);
}

static void sample_double(FILE *f, const char *name, double value, const char *k, const char *v)
{
	fputs(name, f);
	if (k) {
		fprintf(f, "{%s=\"", k);
		metrics_label_value(f, v);
		fputs("\"}", f);
	}
	fprintf(f, " %.6g\n", value);
}

/* ---- Interfaces ---- */

struct iface_stats {
	char name[NETPROBE_IFNAMSIZ];
	struct netprobe_global_stats s;
};

struct ifaces {
	struct netprobe_manager *m;
	struct iface_stats v[NETPROBE_MAX_IFACES];
	unsigned int n;
};

static int read_iface(const struct netprobe_iface *it, void *ctx)
{
	struct ifaces *l = ctx;

	/* The daemon's namespace only: a name is one interface there. */
	if (!it->in_current_netns || it->gone || l->n == NETPROBE_MAX_IFACES)
		return 0;
	if (netprobe_manager_iface_stats_of(l->m, it, &l->v[l->n].s))
		return 0;
	snprintf(l->v[l->n].name, sizeof(l->v[0].name), "%s", it->name);
	l->n++;
	return 0;
}

static const char *const hook_names[] = {"xdp", "tc_ingress", "tc_egress"};

/* A per-hook counter pair by family or protocol: label value, packets index, bytes index. */
struct split {
	const char *value;
	unsigned int packets, bytes;
};

static const struct split families[] = {
	{"ipv4", NETPROBE_HC_IPV4_PACKETS, NETPROBE_HC_IPV4_BYTES},
	{"ipv6", NETPROBE_HC_IPV6_PACKETS, NETPROBE_HC_IPV6_BYTES},
	{"other", NETPROBE_HC_OTHER_L3_PACKETS, NETPROBE_HC_OTHER_L3_BYTES},
};

static const struct split protocols[] = {
	{"tcp", NETPROBE_HC_TCP_PACKETS, NETPROBE_HC_TCP_BYTES},
	{"udp", NETPROBE_HC_UDP_PACKETS, NETPROBE_HC_UDP_BYTES},
	{"icmp", NETPROBE_HC_ICMP_PACKETS, NETPROBE_HC_ICMP_BYTES},
	{"icmpv6", NETPROBE_HC_ICMPV6_PACKETS, NETPROBE_HC_ICMPV6_BYTES},
	{"other", NETPROBE_HC_OTHER_L4_PACKETS, NETPROBE_HC_OTHER_L4_BYTES},
};

static void split_family(FILE *f, const struct ifaces *l, const char *name, const char *help,
			 const char *label, const struct split *sp, size_t nsp, bool bytes)
{
	family(f, name, "counter", help);
	for (unsigned int i = 0; i < l->n; i++)
		for (unsigned int h = 0; h < NETPROBE_HOOK_MAX; h++)
			for (size_t k = 0; k < nsp; k++)
				sample(f, name,
				       l->v[i].s.counters.hook[h]
					       .v[bytes ? sp[k].bytes : sp[k].packets],
				       "interface", l->v[i].name, "hook", hook_names[h], label,
				       sp[k].value, NULL);
}

static void hook_family(FILE *f, const struct ifaces *l, const char *name, const char *help,
			unsigned int counter)
{
	family(f, name, "counter", help);
	for (unsigned int i = 0; i < l->n; i++)
		for (unsigned int h = 0; h < NETPROBE_HOOK_MAX; h++)
			sample(f, name, l->v[i].s.counters.hook[h].v[counter], "interface",
			       l->v[i].name, "hook", hook_names[h], NULL);
}

static void iface_metrics(FILE *f, const struct ifaces *l)
{
	static const char *const actions[] = {"aborted", "drop", "pass", "tx", "redirect"};
	static const struct {
		const char *name, *help;
		size_t offset;
	} totals[] = {
		{"netprobe_rx_packets_total", "Frames received (seen by XDP).",
		 offsetof(struct netprobe_global_stats, rx_packets)},
		{"netprobe_rx_bytes_total", "Bytes of frames received, L2, without FCS.",
		 offsetof(struct netprobe_global_stats, rx_bytes)},
		{"netprobe_tx_packets_total", "Frames sent (seen by TC egress).",
		 offsetof(struct netprobe_global_stats, tx_packets)},
		{"netprobe_tx_bytes_total", "Bytes of frames sent, L2.",
		 offsetof(struct netprobe_global_stats, tx_bytes)},
	};

	for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
		family(f, totals[t].name, "counter", totals[t].help);
		for (unsigned int i = 0; i < l->n; i++)
			sample(f, totals[t].name,
			       *(const unsigned long long *)((const char *)&l->v[i].s +
							     totals[t].offset),
			       "interface", l->v[i].name, NULL);
	}
	split_family(f, l, "netprobe_family_packets_total", "Packets by hook and address family.",
		     "family", families, 3, false);
	split_family(f, l, "netprobe_family_bytes_total", "Bytes by hook and address family.",
		     "family", families, 3, true);
	split_family(f, l, "netprobe_protocol_packets_total", "Packets by hook and L4 protocol.",
		     "protocol", protocols, 5, false);
	split_family(f, l, "netprobe_protocol_bytes_total", "Bytes by hook and L4 protocol.",
		     "protocol", protocols, 5, true);
	hook_family(f, l, "netprobe_vlan_packets_total", "VLAN-tagged frames by hook.",
		    NETPROBE_HC_VLAN_PACKETS);
	hook_family(f, l, "netprobe_fragments_total", "IP fragments by hook.",
		    NETPROBE_HC_FRAGMENTS);
	hook_family(f, l, "netprobe_flow_update_failures_total",
		    "Packets whose flow could not be recorded (the table refused it).",
		    NETPROBE_HC_FLOW_UPDATE_FAILED);
	family(f, "netprobe_malformed_packets_total", "counter",
	       "Packets that failed to parse, by hook and reason.");
	for (unsigned int i = 0; i < l->n; i++)
		for (unsigned int h = 0; h < NETPROBE_HOOK_MAX; h++)
			for (unsigned int r = 1; r < NETPROBE_MALFORMED_MAX; r++)
				sample(f, "netprobe_malformed_packets_total",
				       l->v[i].s.counters.hook[h].malformed[r - 1], "interface",
				       l->v[i].name, "hook", hook_names[h], "reason",
				       netprobe_malformed_name(r), NULL);
	family(f, "netprobe_xdp_actions_total", "counter", "XDP verdicts, by action.");
	for (unsigned int i = 0; i < l->n; i++)
		for (unsigned int a = 0; a < NETPROBE_XDP_ACTIONS; a++)
			sample(f, "netprobe_xdp_actions_total", l->v[i].s.counters.xdp_action[a],
			       "interface", l->v[i].name, "action", actions[a], NULL);
}

/* The filter's counters, each where Prometheus would look for it. */
static void filter_metrics(FILE *f, const struct ifaces *l)
{
	static const struct {
		unsigned int counter;
		const char *label;
	} drops[] = {{NETPROBE_FC_DENY_DROPS, "deny"},
		     {NETPROBE_FC_BLOCK_DROPS, "block"},
		     {NETPROBE_FC_MALFORMED_DROPS, "malformed"}},
	  blocks[] = {{NETPROBE_FC_BLOCKS_ADDED, "added"},
		      {NETPROBE_FC_BLOCKS_REFUSED, "refused_pool_full"},
		      {NETPROBE_FC_BLOCKS_EVICTED, "evicted"},
		      {NETPROBE_FC_BLOCKS_PROTECTED, "not_blocked_protected"},
		      {NETPROBE_FC_BLOCKS_UNPROVEN, "not_blocked_unproven"},
		      {NETPROBE_FC_BLOCKS_AGGREGATED, "aggregated"}};

	family(f, "netprobe_filter_drops_total", "counter",
	       "Packets the filter dropped, by reason.");
	for (unsigned int i = 0; i < l->n; i++)
		for (size_t k = 0; k < sizeof(drops) / sizeof(drops[0]); k++)
			sample(f, "netprobe_filter_drops_total",
			       l->v[i].s.counters.filter[drops[k].counter], "interface",
			       l->v[i].name, "reason", drops[k].label, NULL);
	family(f, "netprobe_filter_allow_passes_total", "counter",
	       "Packets passed because their source is on the allow list.");
	for (unsigned int i = 0; i < l->n; i++)
		sample(f, "netprobe_filter_allow_passes_total",
		       l->v[i].s.counters.filter[NETPROBE_FC_ALLOW_PASSES], "interface",
		       l->v[i].name, NULL);
	family(f, "netprobe_mitigation_decisions_total", "counter",
	       "What mitigation did with a detection's source, by outcome.");
	for (unsigned int i = 0; i < l->n; i++)
		for (size_t k = 0; k < sizeof(blocks) / sizeof(blocks[0]); k++)
			sample(f, "netprobe_mitigation_decisions_total",
			       l->v[i].s.counters.filter[blocks[k].counter], "interface",
			       l->v[i].name, "outcome", blocks[k].label, NULL);
	family(f, "netprobe_handshakes_completed_total", "counter",
	       "Clients that completed a TCP handshake with this host (proven sources).");
	for (unsigned int i = 0; i < l->n; i++)
		sample(f, "netprobe_handshakes_completed_total",
		       l->v[i].s.counters.filter[NETPROBE_FC_HANDSHAKES], "interface", l->v[i].name,
		       NULL);
	family(f, "netprobe_security_detections_total", "counter",
	       "Detections raised, by type and scope (one source, or one destination).");
	for (unsigned int i = 0; i < l->n; i++) {
		for (unsigned int t = 0; t < NETPROBE_DETECT_MAX; t++) {
			sample(f, "netprobe_security_detections_total",
			       l->v[i].s.counters.detections[t], "interface", l->v[i].name, "type",
			       netprobe_detection_name(t), "scope", "source", NULL);
			sample(f, "netprobe_security_detections_total",
			       l->v[i].s.counters.detections_dst[t], "interface", l->v[i].name,
			       "type", netprobe_detection_name(t), "scope", "destination", NULL);
		}
	}
	family(f, "netprobe_lb_interface_packets_total", "counter",
	       "The load balancer's packets on an interface, by what became of them.");
	for (unsigned int i = 0; i < l->n; i++)
		for (unsigned int c = 0; c < NETPROBE_LBC_MAX; c++)
			sample(f, "netprobe_lb_interface_packets_total", l->v[i].s.counters.lb[c],
			       "interface", l->v[i].name, "counter", netprobe_lb_counter_name(c),
			       NULL);
}

/* ---- Lists, services, tables ---- */

struct list_sums {
	unsigned long long hits[3]; /* deny, allow, block */
};

static int sum_deny(const struct netprobe_acl_entry *e, void *ctx)
{
	struct list_sums *s = ctx;

	s->hits[e->origin == NETPROBE_ORIGIN_MANUAL ? 0 : 2] += e->hits;
	return 0;
}

static int sum_allow(const struct netprobe_acl_entry *e, void *ctx)
{
	((struct list_sums *)ctx)->hits[1] += e->hits;
	return 0;
}

static void list_metrics(FILE *f, struct netprobe_manager *m, unsigned long long *entries,
			 unsigned long long *capacity)
{
	struct netprobe_security_stats sec;
	struct list_sums sums = {};
	static const char *const lists[] = {"deny", "allow", "block"};

	if (netprobe_manager_security_stats(m, &sec))
		return;
	netprobe_blacklist_list(m, sum_deny, &sums);
	netprobe_allowlist_list(m, sum_allow, &sums);
	unsigned long long n[3] = {sec.deny_entries, sec.allow_entries, sec.block_entries};

	family(f, "netprobe_list_entries", "gauge",
	       "Entries on the lists: deny (by hand or config), allow, block (mitigation).");
	for (int k = 0; k < 3; k++)
		sample(f, "netprobe_list_entries", n[k], "list", lists[k], NULL);
	/* A gauge: an entry that expires takes its hits with it. */
	family(f, "netprobe_list_hits", "gauge",
	       "Packets the entries listed now have decided, by list.");
	for (int k = 0; k < 3; k++)
		sample(f, "netprobe_list_hits", sums.hits[k], "list", lists[k], NULL);
	family(f, "netprobe_list_capacity_entries", "gauge", "Entries the lists can hold in all.");
	sample(f, "netprobe_list_capacity_entries", sec.capacity, NULL);
	*entries = n[0] + n[1] + n[2];
	*capacity = sec.capacity;
}

/* The services as one read found them: each family is written from the copy. */
struct lb_copy {
	struct netprobe_lb_service_info *v;
	size_t n;
};

static int lb_copy_one(const struct netprobe_lb_service_info *s, void *ctx)
{
	struct lb_copy *c = ctx;
	struct netprobe_lb_service_info *grown = realloc(c->v, (c->n + 1) * sizeof(*grown));
	struct netprobe_lb_backend_info *b;

	if (!grown)
		return -ENOMEM;
	c->v = grown;
	b = malloc((s->nbackends ? s->nbackends : 1) * sizeof(*b));
	if (!b)
		return -ENOMEM;
	memcpy(b, s->backends, s->nbackends * sizeof(*b));
	c->v[c->n] = *s;
	c->v[c->n++].backends = b;
	return 0;
}

static void lb_metrics(FILE *f, struct netprobe_manager *m, unsigned long long *services,
		       unsigned long long *backends)
{
	static const struct {
		const char *name, *help;
		size_t offset;
	} vip[] =
		{
			{"netprobe_lb_vip_packets_total", "Packets for the virtual service.",
			 offsetof(struct netprobe_lb_counters, packets)},
			{"netprobe_lb_vip_bytes_total",
			 "Bytes of frames for the virtual service, as received.",
			 offsetof(struct netprobe_lb_counters, bytes)},
			{"netprobe_lb_vip_new_connections_total",
			 "Flows given a backend by the Maglev table.",
			 offsetof(struct netprobe_lb_counters, new_conns)},
			{"netprobe_lb_vip_drops_total",
			 "Packets dropped: the service had no backend.",
			 offsetof(struct netprobe_lb_counters, drops)},
		},
	  be[] = {
		  {"netprobe_lb_backend_packets_total", "Packets sent to the backend.",
		   offsetof(struct netprobe_lb_counters, packets)},
		  {"netprobe_lb_backend_bytes_total", "Bytes sent to the backend, as received.",
		   offsetof(struct netprobe_lb_counters, bytes)},
		  {"netprobe_lb_backend_new_connections_total", "Flows given to the backend.",
		   offsetof(struct netprobe_lb_counters, new_conns)},
		  {"netprobe_lb_backend_drops_total",
		   "Packets that could not be sent to the backend.",
		   offsetof(struct netprobe_lb_counters, drops)},
	  };
	struct lb_copy c = {};

	netprobe_manager_lb_stats(m, lb_copy_one, &c);
	for (size_t k = 0; k < 4; k++) {
		family(f, vip[k].name, "counter", vip[k].help);
		for (size_t i = 0; i < c.n; i++)
			sample(f, vip[k].name,
			       *(const unsigned long long *)((const char *)&c.v[i].counters +
							     vip[k].offset),
			       "vip", c.v[i].text, NULL);
	}
	for (size_t k = 0; k < 4; k++) {
		family(f, be[k].name, "counter", be[k].help);
		for (size_t i = 0; i < c.n; i++)
			for (size_t j = 0; j < c.v[i].nbackends; j++)
				sample(f, be[k].name,
				       *(const unsigned long long
						 *)((const char *)&c.v[i].backends[j].counters +
						    be[k].offset),
				       "vip", c.v[i].text, "backend", c.v[i].backends[j].text,
				       NULL);
	}
	family(f, "netprobe_lb_backend_table_share_ratio", "gauge",
	       "The backend's share of its service's Maglev table.");
	for (size_t i = 0; i < c.n; i++) {
		for (size_t j = 0; j < c.v[i].nbackends; j++) {
			fprintf(f, "netprobe_lb_backend_table_share_ratio{vip=\"");
			metrics_label_value(f, c.v[i].text);
			fprintf(f, "\",backend=\"");
			metrics_label_value(f, c.v[i].backends[j].text);
			fprintf(f, "\"} %.6g\n",
				c.v[i].table_size ? (double)c.v[i].backends[j].table_entries /
							    c.v[i].table_size
						  : 0);
		}
	}
	family(f, "netprobe_lb_backend_weight", "gauge", "The backend's weight.");
	for (size_t i = 0; i < c.n; i++)
		for (size_t j = 0; j < c.v[i].nbackends; j++)
			sample(f, "netprobe_lb_backend_weight", c.v[i].backends[j].weight, "vip",
			       c.v[i].text, "backend", c.v[i].backends[j].text, NULL);
	*services = c.n;
	*backends = 0;
	for (size_t i = 0; i < c.n; i++) {
		*backends += c.v[i].nbackends;
		free((void *)c.v[i].backends);
	}
	free(c.v);
}

static int count_flow(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *s,
		      void *ctx)
{
	(void)k;
	(void)s;
	(*(unsigned long long *)ctx)++;
	return 0;
}

static void table_metrics(FILE *f, struct metrics *x, unsigned long long acl_entries,
			  unsigned long long acl_capacity, unsigned long long services,
			  unsigned long long backends)
{
	struct netprobe_config cfg;
	unsigned long long flows;
	time_t now = time(NULL);

	/*
	 * The count of the daemon's last housekeeping walk costs nothing (it
	 * walks at its start, then every tenth of the idle timeout, 1 to 10 s);
	 * only at 0 (an empty table, or no walk yet) is the table walked here,
	 * at most every 5 s, whoever scrapes how often.
	 */
	if (!netprobe_manager_flows_walked(x->events_m, &flows) && flows) {
		x->flows_counted = flows;
	} else if (now - x->flows_counted_at >= 5) {
		x->flows_counted = 0;
		netprobe_manager_foreach_flow(x->m, count_flow, &x->flows_counted);
		x->flows_counted_at = now;
	}
	flows = x->flows_counted;
	if (netprobe_manager_get_config(x->m, &cfg))
		return;
	family(f, "netprobe_flow_table_entries", "gauge", "Flows in the flow table.");
	sample(f, "netprobe_flow_table_entries", flows, NULL);
	family(f, "netprobe_flow_table_capacity_entries", "gauge", "Flows the flow table holds.");
	sample(f, "netprobe_flow_table_capacity_entries", cfg.flow_table_size, NULL);
	family(f, "netprobe_table_fill_ratio", "gauge",
	       "How full each bounded table is (flows and lb connections are LRU: full is "
	       "normal).");
	sample_double(f, "netprobe_table_fill_ratio",
		      cfg.flow_table_size ? (double)flows / cfg.flow_table_size : 0, "table",
		      "flows");
	sample_double(f, "netprobe_table_fill_ratio",
		      acl_capacity ? (double)acl_entries / acl_capacity : 0, "table", "lists");
	sample_double(f, "netprobe_table_fill_ratio",
		      cfg.lb_max_services ? (double)services / cfg.lb_max_services : 0, "table",
		      "lb_services");
	sample_double(f, "netprobe_table_fill_ratio",
		      cfg.lb_max_backends ? (double)backends / cfg.lb_max_backends : 0, "table",
		      "lb_backends");
}

/* ---- The daemon's own figures ---- */

void metrics_snapshot_set(struct metrics *x, const struct metrics_snapshot *s)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	x->snap = *s;
	pthread_mutex_unlock(&x->lock);
}

static void daemon_metrics(FILE *f, struct metrics *x)
{
	struct netprobe_event_stats ev;
	struct metrics_snapshot s;

	pthread_mutex_lock(&x->lock);
	s = x->snap;
	pthread_mutex_unlock(&x->lock);
	if (netprobe_manager_event_stats(x->events_m, &ev) == 0) {
		family(f, "netprobe_events_produced_total", "counter",
		       "Events the kernel committed to the ring buffer.");
		sample(f, "netprobe_events_produced_total", ev.kernel_produced, NULL);
		family(f, "netprobe_events_lost_total", "counter",
		       "Events lost: the ring buffer full (kernel), every worker busy (queue), or "
		       "a "
		       "record shorter than its type (malformed).");
		sample(f, "netprobe_events_lost_total", ev.kernel_lost, "where", "kernel", NULL);
		sample(f, "netprobe_events_lost_total", ev.queue_lost, "where", "queue", NULL);
		sample(f, "netprobe_events_lost_total", ev.malformed, "where", "malformed", NULL);
		family(f, "netprobe_events_sampled_out_total", "counter",
		       "Flow starts over the rate limit: counted, not sent.");
		sample(f, "netprobe_events_sampled_out_total", ev.sampled_out, NULL);
		family(f, "netprobe_events_delivered_total", "counter",
		       "Events the daemon's handlers got.");
		sample(f, "netprobe_events_delivered_total", ev.delivered, NULL);
		family(f, "netprobe_flows_expired_total", "counter",
		       "Idle flows housekeeping removed.");
		sample(f, "netprobe_flows_expired_total", ev.flows_expired, NULL);
	}
	family(f, "netprobe_config_reloads_total", "counter", "Reloads asked since the start.");
	sample(f, "netprobe_config_reloads_total", s.reloads, NULL);
	family(f, "netprobe_config_last_reload_successful", "gauge",
	       "Whether the last reload went through (1 before any).");
	sample(f, "netprobe_config_last_reload_successful", s.last_ok, NULL);
	family(f, "netprobe_config_last_reload_success_timestamp_seconds", "gauge",
	       "When the config was last applied whole (the start, or a reload).");
	sample(f, "netprobe_config_last_reload_success_timestamp_seconds",
	       s.last_success_ns / 1000000000ull, NULL);
	family(f, "netprobe_config_in_sync", "gauge",
	       "Whether the last apply went through whole (else it is tried again).");
	sample(f, "netprobe_config_in_sync", s.in_sync, NULL);
	if (s.ipfix) {
		const struct ipfix_conn_stats *c = &s.ipfix_stats.conn;

		family(f, "netprobe_ipfix_records_total", "counter",
		       "IPFIX flow records encoded for the collector.");
		sample(f, "netprobe_ipfix_records_total", s.ipfix_stats.records, NULL);
		family(f, "netprobe_ipfix_records_sent_total", "counter",
		       "IPFIX records the socket took (sent, not acknowledged by the collector).");
		sample(f, "netprobe_ipfix_records_sent_total", c->sent, NULL);
		family(f, "netprobe_ipfix_records_lost_total", "counter",
		       "IPFIX records dropped: the queue full, a send error, unsent at a stop.");
		sample(f, "netprobe_ipfix_records_lost_total", c->lost, NULL);
		family(f, "netprobe_ipfix_failures_total", "counter",
		       "IPFIX records that could not be encoded.");
		sample(f, "netprobe_ipfix_failures_total", s.ipfix_stats.failed, NULL);
		family(f, "netprobe_ipfix_queue_bytes", "gauge",
		       "IPFIX messages waiting for the collector, in bytes.");
		sample(f, "netprobe_ipfix_queue_bytes", c->queued_bytes, NULL);
		family(f, "netprobe_ipfix_collector_up", "gauge",
		       "TCP: connected to the collector; UDP: no refusal or send error for 10 s.");
		sample(f, "netprobe_ipfix_collector_up", c->up, NULL);
		family(f, "netprobe_ipfix_connections_total", "counter",
		       "TCP connections made to the collector.");
		sample(f, "netprobe_ipfix_connections_total", c->connects, NULL);
		family(f, "netprobe_ipfix_flows_evicted_total", "counter",
		       "Flows the full table evicted before their final record.");
		sample(f, "netprobe_ipfix_flows_evicted_total", s.ipfix_stats.evicted, NULL);
	}
	if (s.bgp) {
		const struct bgp_stats *b = &s.bgp_stats;

		family(f, "netprobe_bgp_announced_routes", "gauge",
		       "Routes of ours the BGP speaker held at the last look.");
		sample(f, "netprobe_bgp_announced_routes", b->announced, NULL);
		family(f, "netprobe_bgp_announcements_total", "counter",
		       "Routes added to the BGP speaker (blocks announced upstream).");
		sample(f, "netprobe_bgp_announcements_total", b->announcements, NULL);
		family(f, "netprobe_bgp_withdrawals_total", "counter",
		       "Routes removed from the BGP speaker (blocks ended, or stale).");
		sample(f, "netprobe_bgp_withdrawals_total", b->withdrawals, NULL);
		family(f, "netprobe_bgp_failures_total", "counter",
		       "BGP speaker commands that failed (each is tried again).");
		sample(f, "netprobe_bgp_failures_total", b->failures, NULL);
		family(f, "netprobe_bgp_refused_prefixes", "gauge",
		       "Blocked prefixes not announced: wider than allowed, or on the allow list.");
		sample(f, "netprobe_bgp_refused_prefixes", b->refused, NULL);
		family(f, "netprobe_bgp_speaker_up", "gauge",
		       "Whether the last look at the BGP speaker's routes worked.");
		sample(f, "netprobe_bgp_speaker_up", b->up, NULL);
	}
	family(f, "netprobe_build_info", "gauge", "The netprobe that serves these metrics.");
	sample(f, "netprobe_build_info", 1, "version", NETPROBE_VERSION, NULL);
}

/* ---- HTTP ---- */

static char *exposition(struct metrics *x, size_t *len)
{
	struct ifaces *l = calloc(1, sizeof(*l));
	unsigned long long acl_entries = 0, acl_capacity = 0, services = 0, backends = 0;
	char *text = NULL;
	FILE *f;

	if (!l)
		return NULL;
	f = open_memstream(&text, len);
	if (!f) {
		free(l);
		return NULL;
	}
	l->m = x->m;
	netprobe_manager_foreach_iface(x->m, read_iface, l);
	iface_metrics(f, l);
	filter_metrics(f, l);
	list_metrics(f, x->m, &acl_entries, &acl_capacity);
	lb_metrics(f, x->m, &services, &backends);
	table_metrics(f, x, acl_entries, acl_capacity, services, backends);
	daemon_metrics(f, x);
	fclose(f);
	free(l);
	return text;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned int status, char *body, size_t len,
			      enum MHD_ResponseMemoryMode mode, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **req)
{
	struct metrics *x = cls;
	size_t len = 0;
	char *text;

	(void)version;
	(void)upload;
	(void)req;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n", 9,
			      MHD_RESPMEM_PERSISTENT, "text/plain");
	if (*upload_size)
		return MHD_NO;
	if (!strcmp(url, "/-/healthy"))
		return answer(c, MHD_HTTP_OK, "ok\n", 3, MHD_RESPMEM_PERSISTENT, "text/plain");
	if (strcmp(url, "/metrics"))
		return answer(c, MHD_HTTP_NOT_FOUND, "/metrics or /-/healthy\n", 23,
			      MHD_RESPMEM_PERSISTENT, "text/plain");
	text = exposition(x, &len);
	if (!text)
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", 14,
			      MHD_RESPMEM_PERSISTENT, "text/plain");
	return answer(c, MHD_HTTP_OK, text, len, MHD_RESPMEM_MUST_FREE,
		      "text/plain; version=0.0.4; charset=utf-8");
}

int metrics_listen_parse(const char *text, struct sockaddr_storage *out)
{
	char host[64];
	const char *colon;
	unsigned long port;
	char *end;

	memset(out, 0, sizeof(*out));
	if (!text || strlen(text) >= sizeof(host))
		return -EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(close - text - 1), text + 1);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon)
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port == 0 || port > 65535)
		return -EINVAL;
	if (text[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)out;

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

struct metrics *metrics_start(const char *listen, const struct netprobe_state_opts *state,
			      struct netprobe_manager *events_m)
{
	struct sockaddr_storage sa;
	struct metrics *x;
	int err;

	if (metrics_listen_parse(listen, &sa)) {
		dlog(NETPROBE_LOG_ERROR, "metrics: '%s' is no ADDRESS:PORT", listen);
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	pthread_mutex_init(&x->lock, NULL);
	x->snap.last_ok = x->snap.in_sync = true;
	x->events_m = events_m;
	snprintf(x->listen, sizeof(x->listen), "%s", listen);
	x->m = netprobe_manager_new_opts(state);
	err = x->m ? netprobe_manager_load(x->m) : -ENOMEM;
	if (err) {
		dlog(NETPROBE_LOG_ERROR, "metrics: %s", netprobe_strerror(err));
		metrics_stop(x);
		return NULL;
	}
	/* One thread of its own; a slow client cannot hold it past the timeout. */
	x->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
					    (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				    0, NULL, NULL, handle, x, MHD_OPTION_SOCK_ADDR,
				    (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
				    (unsigned int)16, MHD_OPTION_CONNECTION_TIMEOUT,
				    (unsigned int)10, MHD_OPTION_END);
	if (!x->httpd) {
		dlog(NETPROBE_LOG_ERROR,
		     "metrics: cannot listen on %s (in use, or no such address)", listen);
		metrics_stop(x);
		return NULL;
	}
	dlog(NETPROBE_LOG_INFO, "metrics: http://%s/metrics", listen);
	return x;
}

void metrics_stop(struct metrics *x)
{
	if (!x)
		return;
	if (x->httpd)
		MHD_stop_daemon(x->httpd);
	netprobe_manager_free(x->m);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

const char *metrics_listening(const struct metrics *x)
{
	return x ? x->listen : "";
}
