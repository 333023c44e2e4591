// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Configuration: the defaults, the detections by name, and validation. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "config/config.h"

/* The fields each part shares with netprobe_config, which holds them all (the seed's). */
#define STATE_FIELDS(X)                                                                            \
	X(flow_table_size)                                                                         \
	X(ring_buffer_size)                                                                        \
	X(acl_max_rules)                                                                           \
	X(acl_v4_groups)                                                                           \
	X(mitigation_max_blocks)                                                                   \
	X(lb_max_services)                                                                         \
	X(lb_max_backends)                                                                         \
	X(lb_table_size)                                                                           \
	X(lb_conn_table_size)                                                                      \
	X(lock_timeout_ms)
#define ATTACH_FIELDS(X)                                                                           \
	X(xdp_mode)                                                                                \
	X(xdp_attach_mode)                                                                         \
	X(tc_attach_mode)                                                                          \
	X(enable_xdp_events)                                                                       \
	X(enable_tc_events)                                                                        \
	X(enable_detailed_events)                                                                  \
	X(enable_security_alerts)                                                                  \
	X(detailed_events_per_sec)                                                                 \
	X(security_alerts_per_sec)                                                                 \
	X(syn_flood)                                                                               \
	X(udp_flood)                                                                               \
	X(icmp_flood)                                                                              \
	X(tcp_flood)                                                                               \
	X(other_flood)                                                                             \
	X(syn_flood_dst)                                                                           \
	X(udp_flood_dst)                                                                           \
	X(icmp_flood_dst)                                                                          \
	X(port_scan)                                                                               \
	X(port_scan_hosts)                                                                         \
	X(rate_anomaly)                                                                            \
	X(rate_anomaly_floor_pps)                                                                  \
	X(rate_anomaly_learn_windows)                                                              \
	X(mitigation)                                                                              \
	X(mitigation_unproven)                                                                     \
	X(mitigation_ttl_s)                                                                        \
	X(ipv6_source_prefix)                                                                      \
	X(decap)                                                                                   \
	X(decap_from_count)                                                                        \
	X(decap_to_count)                                                                          \
	X(lb_route_cache_ms)
#define EVENTS_FIELDS(X)                                                                           \
	X(batch_size)                                                                              \
	X(batch_timeout_ms)                                                                        \
	X(event_workers)                                                                           \
	X(event_queue_batches)
#define HOUSEKEEPING_FIELDS(X)                                                                     \
	X(flow_idle_timeout_ms)                                                                    \
	X(stats_report_interval_ms)

static void state_defaults(struct netprobe_state_opts *s)
{
	memset(s, 0, sizeof(*s));
	s->sz = sizeof(*s);
	strcpy(s->pin_path, NETPROBE_DEFAULT_PIN_PATH);
	s->flow_table_size = NETPROBE_DEFAULT_FLOW_ENTRIES;
	s->ring_buffer_size = 1u << 22;
	s->acl_max_rules = NETPROBE_DEFAULT_ACL_RULES;
	s->acl_v4_groups = 4096;
	s->mitigation_max_blocks = 4096;
	s->lb_max_services = 32;
	s->lb_max_backends = 4096;
	s->lb_table_size = NP_MAGLEV_DEFAULT_SIZE;
	s->lb_conn_table_size = 131072;
	s->lock_timeout_ms = 10000;
}

static void attach_defaults(struct netprobe_attach_opts *a)
{
	memset(a, 0, sizeof(*a));
	a->sz = sizeof(*a);
	a->xdp_mode = NETPROBE_XDP_MONITOR;
	a->xdp_attach_mode = NETPROBE_XDP_ATTACH_AUTO;
	a->tc_attach_mode = NETPROBE_TC_ATTACH_AUTO;
	a->enable_xdp_events = true;
	a->enable_tc_events = true;
	a->enable_security_alerts = true;
	a->detailed_events_per_sec = 10000;
	/*
	 * Far above what one ordinary host sends one other: a busy client opens
	 * tens of connections a second, a resolver answers hundreds of queries.
	 */
	a->syn_flood = (struct netprobe_detection){true, 2000, 1000};
	a->udp_flood = (struct netprobe_detection){true, 20000, 1000};
	a->icmp_flood = (struct netprobe_detection){true, 1000, 1000};
	/* A client resets a connection now and then; nothing real sends thousands a second. */
	a->tcp_flood = (struct netprobe_detection){true, 2000, 1000};
	a->other_flood = (struct netprobe_detection){true, 10000, 1000};
	a->syn_flood_dst = (struct netprobe_detection){true, 20000, 1000};
	a->udp_flood_dst = (struct netprobe_detection){true, 200000, 1000};
	a->icmp_flood_dst = (struct netprobe_detection){true, 5000, 1000};
	a->port_scan = (struct netprobe_detection){true, 50, 5000};
	a->port_scan_hosts = 100; /* (at most 128: see validate_filter) */
	/*
	 * Off by default: against a learned baseline, a backup or a deploy
	 * starting on a quiet link is as anomalous as a flood. Turn it on where
	 * traffic is steady, with a floor above the link's normal peaks.
	 */
	a->rate_anomaly = (struct netprobe_detection){false, 1000, 1000};
	a->rate_anomaly_floor_pps = 100000;
	a->rate_anomaly_learn_windows = 10;
	a->mitigation = false;
	a->mitigation_ttl_s = 300;
	a->ipv6_source_prefix = 64;
	a->security_alerts_per_sec = 1000;
	a->lb_route_cache_ms = 1000;
}

static void events_defaults(struct netprobe_events_opts *e)
{
	memset(e, 0, sizeof(*e));
	e->sz = sizeof(*e);
	e->batch_size = 64;
	e->batch_timeout_ms = 100;
	e->event_workers = 2;
	e->event_queue_batches = 256;
}

static void housekeeping_defaults(struct netprobe_housekeeping_opts *h)
{
	memset(h, 0, sizeof(*h));
	h->sz = sizeof(*h);
	h->flow_idle_timeout_ms = 60000;
	h->stats_report_interval_ms = 10000;
}

void np_config_defaults(struct np_config_parts *p)
{
	state_defaults(&p->state);
	attach_defaults(&p->attach);
	events_defaults(&p->events);
	housekeeping_defaults(&p->housekeeping);
}

void np_config_split(const struct netprobe_config *cfg, struct np_config_parts *p)
{
	np_config_defaults(p); /* sz and padding */
#define X(f) p->state.f = cfg->f;
	STATE_FIELDS(X)
#undef X
#define X(f) p->attach.f = cfg->f;
	ATTACH_FIELDS(X)
#undef X
#define X(f) p->events.f = cfg->f;
	EVENTS_FIELDS(X)
#undef X
#define X(f) p->housekeeping.f = cfg->f;
	HOUSEKEEPING_FIELDS(X)
#undef X
	memcpy(p->state.pin_path, cfg->pin_path, sizeof(p->state.pin_path));
	memcpy(p->attach.decap_from, cfg->decap_from, sizeof(p->attach.decap_from));
	memcpy(p->attach.decap_to, cfg->decap_to, sizeof(p->attach.decap_to));
}

void np_config_join(struct netprobe_config *cfg, const struct np_config_parts *p)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sz = sizeof(*cfg);
#define X(f) cfg->f = p->state.f;
	STATE_FIELDS(X)
#undef X
#define X(f) cfg->f = p->attach.f;
	ATTACH_FIELDS(X)
#undef X
#define X(f) cfg->f = p->events.f;
	EVENTS_FIELDS(X)
#undef X
#define X(f) cfg->f = p->housekeeping.f;
	HOUSEKEEPING_FIELDS(X)
#undef X
	memcpy(cfg->pin_path, p->state.pin_path, sizeof(cfg->pin_path));
	memcpy(cfg->decap_from, p->attach.decap_from, sizeof(cfg->decap_from));
	memcpy(cfg->decap_to, p->attach.decap_to, sizeof(cfg->decap_to));
}

void netprobe_config_default(struct netprobe_config *cfg)
{
	struct np_config_parts p;

	np_config_defaults(&p);
	np_config_join(cfg, &p);
}

/* Public defaults: the first sz bytes of the full default struct (see np_opts_give). */
#define OPTS_DEFAULT(kind)                                                                         \
	void netprobe_##kind##_opts_default(struct netprobe_##kind##_opts *opts, size_t sz)        \
	{                                                                                          \
		struct netprobe_##kind##_opts full;                                                \
                                                                                                   \
		if (!opts || sz < sizeof(size_t))                                                  \
			return;                                                                    \
		kind##_defaults(&full);                                                            \
		opts->sz = sz;                                                                     \
		np_opts_give(opts, &full, sizeof(full));                                           \
	}
OPTS_DEFAULT(state)
OPTS_DEFAULT(attach)
OPTS_DEFAULT(events)
OPTS_DEFAULT(housekeeping)

/* Every numeric setting's range: validation here, and the command's options, read it. */
static const struct netprobe_setting_range ranges[] = {
	{"flow_table_size", 1024, 1u << 26, "entries"},
	{"ring_buffer_size", 4096, 1u << 31, "bytes"},
	{"acl_max_rules", 64, 1u << 24, "entries"},
	{"acl_v4_groups", 16, 1u << 20, "groups"},
	{"mitigation_max_blocks", 1, 1u << 23, "blocks"},
	{"lb_max_services", 1, 4096, "services"},
	{"lb_max_backends", 1, 1u << 20, "backends"},
	{"lb_table_size", 101, NP_LB_MAX_TABLE_SIZE, "entries"},
	{"lb_conn_table_size", 1024, 1u << 26, "flows"},
	{"lock_timeout_ms", 0, 3600000, "ms"},
	{"detailed_events_per_sec", 1, 100000000, "a second"},
	{"security_alerts_per_sec", 1, 100000000, "a second"},
	{"detection_threshold", 1, 1000000000, ""},
	{"detection_window_ms", 10, 3600000, "ms"},
	{"port_scan_hosts", 1, 128, "hosts"},
	{"rate_anomaly_floor_pps", 0, 1000000000, "a second"},
	{"rate_anomaly_learn_windows", 1, 100000, "windows"},
	{"mitigation_ttl_s", 1, NETPROBE_ACL_MAX_TTL_S, "s"},
	{"ipv6_source_prefix", 32, 128, "bits"},
	{"lb_route_cache_ms", 0, 60000, "ms"},
	{"batch_size", 1, 65536, "events"},
	{"batch_timeout_ms", 1, 86400000, "ms"},
	{"event_workers", 1, 64, "threads"},
	{"event_queue_batches", 2, 65536, "batches"},
	/* Housekeeping: any interval is one (0 switches the job off). */
	{"flow_idle_timeout_ms", 0, UINT32_MAX, "ms"},
	{"stats_report_interval_ms", 0, UINT32_MAX, "ms"},
};

const struct netprobe_setting_range *netprobe_config_range(const char *name)
{
	for (size_t i = 0; name && i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (!strcmp(ranges[i].name, name))
			return &ranges[i];
	return NULL;
}

/* Whether value is in the named setting's range; the reason logged if not (as what). */
bool np_in_range(const char *name, const char *what, unsigned long long value)
{
	const struct netprobe_setting_range *r = netprobe_config_range(name);

	if (!r) { /* a name missing from the table: ours to fix, not the caller's */
		np_err("config: %s has no range", name);
		return false;
	}
	if (value >= r->min && value <= r->max)
		return true;
	np_err("config: %s is %llu, not in %llu..%llu%s%s", what ? what : name, value, r->min,
	       r->max, *r->unit ? " " : "", r->unit);
	return false;
}

/* The detections by name: the one table validation and callers share. */
static const struct {
	const char *name;
	size_t in_config, in_opts; /* offsets in netprobe_config, netprobe_attach_opts */
	bool rate;		   /* a rate a second (the floods), else a count */
} detection_fields[] = {
#define D(f, rate)                                                                                 \
	{                                                                                          \
#f, offsetof(struct netprobe_config, f), offsetof(struct netprobe_attach_opts, f), \
			rate                                                                       \
	}
	D(syn_flood, true),	D(udp_flood, true),	 D(icmp_flood, true),
	D(tcp_flood, true),	D(other_flood, true),	 D(syn_flood_dst, true),
	D(udp_flood_dst, true), D(icmp_flood_dst, true), D(port_scan, false),
	D(rate_anomaly, false),
#undef D
};

#define DETECTIONS (sizeof(detection_fields) / sizeof(detection_fields[0]))
_Static_assert(DETECTIONS == NETPROBE_CONFIG_DETECTIONS,
	       "every detection of the config has its place in the interface settings");

const char *netprobe_config_detection_name(unsigned int i)
{
	return i < NETPROBE_CONFIG_DETECTIONS ? detection_fields[i].name : NULL;
}

static struct netprobe_detection *detection_at(struct netprobe_attach_opts *a, unsigned int i)
{
	return (struct netprobe_detection *)((char *)a + detection_fields[i].in_opts);
}

static int detection_index(const char *name, size_t name_len)
{
	for (unsigned int i = 0; name && i < DETECTIONS; i++)
		if (strlen(detection_fields[i].name) == name_len &&
		    !strncmp(detection_fields[i].name, name, name_len))
			return (int)i;
	return -1;
}

struct netprobe_detection *netprobe_config_detection(struct netprobe_config *cfg, const char *name,
						     size_t name_len)
{
	int i = detection_index(name, name_len);

	return cfg && i >= 0
		       ? (struct netprobe_detection *)((char *)cfg + detection_fields[i].in_config)
		       : NULL;
}

struct netprobe_detection *netprobe_attach_opts_detection(struct netprobe_attach_opts *opts,
							  const char *name, size_t name_len)
{
	int i = detection_index(name, name_len);

	/* Only a detection the caller's struct has room for. */
	return opts && i >= 0 &&
			       opts->sz >= detection_fields[i].in_opts +
						   sizeof(struct netprobe_detection)
		       ? detection_at(opts, (unsigned int)i)
		       : NULL;
}

static void prefix_setting(struct netprobe_prefix_setting *to, const struct netprobe_cidr *from)
{
	memset(to, 0, sizeof(*to));
	to->family = from->family;
	to->prefix_len = from->prefix_len;
	memcpy(to->addr, from->addr, 16);
}

static void prefix_opts(struct netprobe_cidr *to, const struct netprobe_prefix_setting *from)
{
	to->family = from->family;
	to->prefix_len = from->prefix_len;
	memcpy(to->addr, from->addr, 16);
}

void np_settings_of(const struct netprobe_attach_opts *a, struct netprobe_iface_settings *s)
{
	struct netprobe_attach_opts c = *a;

	memset(s, 0, sizeof(*s));
	s->version = NETPROBE_SETTINGS_VERSION;
	s->xdp_attach_mode = c.xdp_attach_mode;
	s->tc_attach_mode = c.tc_attach_mode;
	s->xdp_events = c.enable_xdp_events;
	s->tc_events = c.enable_tc_events;
	s->detailed_events = c.enable_detailed_events;
	s->security_alerts = c.enable_security_alerts;
	s->detailed_events_per_sec = c.detailed_events_per_sec;
	s->security_alerts_per_sec = c.security_alerts_per_sec;
	for (unsigned int i = 0; i < NETPROBE_CONFIG_DETECTIONS; i++) {
		const struct netprobe_detection *d = detection_at(&c, i);

		s->detections[i] =
			(struct netprobe_detection_setting){d->enabled, d->threshold, d->window_ms};
	}
	s->port_scan_hosts = c.port_scan_hosts;
	s->rate_anomaly_floor_pps = c.rate_anomaly_floor_pps;
	s->rate_anomaly_learn_windows = c.rate_anomaly_learn_windows;
	s->mitigation = c.mitigation;
	s->mitigation_unproven = c.mitigation_unproven;
	s->mitigation_ttl_s = c.mitigation_ttl_s;
	s->ipv6_source_prefix = c.ipv6_source_prefix;
	s->lb_route_cache_ms = c.lb_route_cache_ms;
	s->decap = c.decap;
	s->decap_from_count = c.decap_from_count;
	s->decap_to_count = c.decap_to_count;
	for (unsigned int i = 0; i < c.decap_from_count && i < NETPROBE_DECAP_MAX; i++)
		prefix_setting(&s->decap_from[i], &c.decap_from[i]);
	for (unsigned int i = 0; i < c.decap_to_count && i < NETPROBE_DECAP_MAX; i++)
		prefix_setting(&s->decap_to[i], &c.decap_to[i]);
}

void np_settings_apply(struct netprobe_attach_opts *a, const struct netprobe_iface_settings *s)
{
	a->xdp_attach_mode = s->xdp_attach_mode;
	a->tc_attach_mode = s->tc_attach_mode;
	a->enable_xdp_events = s->xdp_events;
	a->enable_tc_events = s->tc_events;
	a->enable_detailed_events = s->detailed_events;
	a->enable_security_alerts = s->security_alerts;
	a->detailed_events_per_sec = s->detailed_events_per_sec;
	a->security_alerts_per_sec = s->security_alerts_per_sec;
	for (unsigned int i = 0; i < NETPROBE_CONFIG_DETECTIONS; i++)
		*detection_at(a, i) = (struct netprobe_detection){s->detections[i].enabled != 0,
								  s->detections[i].threshold,
								  s->detections[i].window_ms};
	a->port_scan_hosts = s->port_scan_hosts;
	a->rate_anomaly_floor_pps = s->rate_anomaly_floor_pps;
	a->rate_anomaly_learn_windows = s->rate_anomaly_learn_windows;
	a->mitigation = s->mitigation;
	a->mitigation_unproven = s->mitigation_unproven;
	a->mitigation_ttl_s = s->mitigation_ttl_s;
	a->ipv6_source_prefix = s->ipv6_source_prefix;
	a->lb_route_cache_ms = s->lb_route_cache_ms;
	a->decap = s->decap;
	a->decap_from_count = s->decap_from_count;
	a->decap_to_count = s->decap_to_count;
	/* Past its count a prefix means nothing: zero, as np_settings_of writes it. */
	for (unsigned int i = 0; i < NETPROBE_DECAP_MAX; i++) {
		static const struct netprobe_prefix_setting none;

		prefix_opts(&a->decap_from[i], i < s->decap_from_count ? &s->decap_from[i] : &none);
		prefix_opts(&a->decap_to[i], i < s->decap_to_count ? &s->decap_to[i] : &none);
	}
}

static int validate_detection(const char *name, const struct netprobe_detection *d, bool rate)
{
	char what[64];

	if (!d->enabled)
		return 0;
	snprintf(what, sizeof(what), "%s threshold", name);
	if (!np_in_range("detection_threshold", what, d->threshold))
		return -EINVAL;
	snprintf(what, sizeof(what), "%s window_ms", name);
	if (!np_in_range("detection_window_ms", what, d->window_ms))
		return -EINVAL;
	/* A rate that comes to one packet a window would make every packet a flood. */
	if (rate && (unsigned long long)d->threshold * d->window_ms < 2000) {
		np_err("config: %s: %u a second over %u ms is under 2 packets a window; "
		       "use a longer window",
		       name, d->threshold, d->window_ms);
		return -EINVAL;
	}
	return 0;
}

static int validate_filter(const struct netprobe_attach_opts *a)
{
	for (unsigned int i = 0; i < DETECTIONS; i++)
		if (validate_detection(detection_fields[i].name,
				       detection_at((struct netprobe_attach_opts *)a, i),
				       detection_fields[i].rate))
			return -EINVAL;
	/*
	 * Ports and hosts go into 512- and 256-bit sets by hash: past half of
	 * a set, collisions make the count too slow to trust.
	 */
	if (a->port_scan.enabled && a->port_scan.threshold > 256) {
		np_err("config: port_scan counts at most 256 distinct ports a window");
		return -EINVAL;
	}
	if (a->port_scan.enabled && !np_in_range("port_scan_hosts", NULL, a->port_scan_hosts))
		return -EINVAL;
	if (a->rate_anomaly.enabled && a->rate_anomaly.threshold <= 100) {
		np_err("config: rate_anomaly threshold is a percentage of the baseline, above 100");
		return -EINVAL;
	}
	if (a->rate_anomaly.enabled &&
	    (!np_in_range("rate_anomaly_floor_pps", NULL, a->rate_anomaly_floor_pps) ||
	     !np_in_range("rate_anomaly_learn_windows", NULL, a->rate_anomaly_learn_windows)))
		return -EINVAL;
	if (a->mitigation_unproven && !a->mitigation) {
		np_err("config: mitigation_unproven widens mitigation, which is off");
		return -EINVAL;
	}
	if (!np_in_range("ipv6_source_prefix", NULL, a->ipv6_source_prefix) ||
	    (a->mitigation && !np_in_range("mitigation_ttl_s", NULL, a->mitigation_ttl_s)) ||
	    !np_in_range("security_alerts_per_sec", NULL, a->security_alerts_per_sec) ||
	    (a->enable_detailed_events &&
	     !np_in_range("detailed_events_per_sec", NULL, a->detailed_events_per_sec)))
		return -EINVAL;
	return 0;
}

/* Tunnels are unwrapped only from the sources named, to the addresses named. */
static int validate_decap(const struct netprobe_attach_opts *a)
{
	const struct netprobe_cidr *sets[2] = {a->decap_from, a->decap_to};
	unsigned int counts[2] = {a->decap_from_count, a->decap_to_count};

	if (counts[0] > NETPROBE_DECAP_MAX || counts[1] > NETPROBE_DECAP_MAX) {
		np_err("config: decap_from and decap_to hold %d prefixes each at most",
		       NETPROBE_DECAP_MAX);
		return -EINVAL;
	}
	if (a->decap && !counts[0]) {
		np_err("config: decap needs the tunnel sources it may unwrap from (decap_from, "
		       "--decap-from CIDR: the load balancers' addresses); unwrapping any "
		       "sender's tunnel would let anyone pick the source the filter sees");
		return -EINVAL;
	}
	for (int s = 0; s < 2; s++) {
		for (unsigned int i = 0; i < counts[s]; i++) {
			const struct netprobe_cidr *c = &sets[s][i];

			if ((c->family != NETPROBE_FAMILY_IPV4 || c->prefix_len > 32) &&
			    (c->family != NETPROBE_FAMILY_IPV6 || c->prefix_len > 128)) {
				np_err("config: %s[%u] is not an IPv4 or IPv6 prefix",
				       s ? "decap_to" : "decap_from", i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int np_validate_attach(const struct netprobe_attach_opts *a)
{
	if (a->xdp_mode > NETPROBE_XDP_LB) {
		np_err("config: unknown xdp_mode %d", a->xdp_mode);
		return -EINVAL;
	}
	if (a->xdp_attach_mode > NETPROBE_XDP_ATTACH_GENERIC ||
	    a->tc_attach_mode > NETPROBE_TC_ATTACH_CLSACT) {
		np_err("config: unknown xdp_attach_mode or tc_attach_mode");
		return -EINVAL;
	}
	if (!np_in_range("lb_route_cache_ms", NULL, a->lb_route_cache_ms))
		return -EINVAL;
	return validate_filter(a) ?: validate_decap(a);
}

int netprobe_attach_opts_validate(const struct netprobe_attach_opts *opts)
{
	struct netprobe_attach_opts a;

	return opts ? np_take_attach(&a, opts) : -EINVAL;
}

int np_validate_events(const struct netprobe_events_opts *e)
{
	if (!np_in_range("batch_size", NULL, e->batch_size) ||
	    !np_in_range("batch_timeout_ms", NULL, e->batch_timeout_ms) ||
	    !np_in_range("event_workers", NULL, e->event_workers) ||
	    !np_in_range("event_queue_batches", NULL, e->event_queue_batches))
		return -EINVAL;
	return 0;
}

int np_validate_housekeeping(const struct netprobe_housekeeping_opts *h)
{
	(void)h; /* any interval is one: 0 switches the job off */
	return 0;
}

int np_validate_state(const struct netprobe_state_opts *s)
{
	size_t len = strnlen(s->pin_path, sizeof(s->pin_path));

	if (!np_in_range("flow_table_size", NULL, s->flow_table_size) ||
	    !np_in_range("ring_buffer_size", NULL, s->ring_buffer_size) ||
	    !np_in_range("acl_max_rules", NULL, s->acl_max_rules) ||
	    !np_in_range("acl_v4_groups", NULL, s->acl_v4_groups) ||
	    !np_in_range("mitigation_max_blocks", NULL, s->mitigation_max_blocks) ||
	    !np_in_range("lb_max_services", NULL, s->lb_max_services) ||
	    !np_in_range("lb_max_backends", NULL, s->lb_max_backends) ||
	    !np_in_range("lb_table_size", NULL, s->lb_table_size) ||
	    !np_in_range("lb_conn_table_size", NULL, s->lb_conn_table_size) ||
	    !np_in_range("lock_timeout_ms", NULL, s->lock_timeout_ms))
		return -EINVAL;
	if (s->ring_buffer_size & (s->ring_buffer_size - 1)) {
		np_err("config: ring_buffer_size %u is not a power of two", s->ring_buffer_size);
		return -EINVAL;
	}
	if (s->mitigation_max_blocks >= s->acl_max_rules / 2) {
		np_err("config: mitigation_max_blocks (%u) must stay under half of acl_max_rules "
		       "(%u): the blocks must leave the lists room",
		       s->mitigation_max_blocks, s->acl_max_rules);
		return -EINVAL;
	}
	if (!np_is_prime(s->lb_table_size)) {
		np_err("config: lb_table_size %u is not a prime (Maglev needs one)",
		       s->lb_table_size);
		return -EINVAL;
	}
	if ((unsigned long long)s->lb_max_services * NP_LB_TABLES *
		    np_lb_ring_chunks(s->lb_table_size) * sizeof(struct netprobe_lb_ring_chunk) >
	    NP_LB_MAX_TABLE_BYTES) {
		np_err("config: the Maglev tables (lb_max_services x %d x lb_table_size x 4 bytes: "
		       "each service's current and previous table) take %u MiB at most",
		       NP_LB_TABLES, NP_LB_MAX_TABLE_BYTES >> 20);
		return -EINVAL;
	}
	if (s->pin_path[0] != '/' || len == sizeof(s->pin_path) || len < 2 ||
	    s->pin_path[len - 1] == '/') {
		np_err("config: pin_path must be an absolute path of a directory below /, "
		       "without a trailing '/', shorter than %d bytes",
		       NETPROBE_PIN_PATH_MAX);
		return -EINVAL;
	}
	return 0;
}

/*
 * A caller's opts: the defaults, the caller's fields over them, validated.
 * Fields past the caller's struct take their defaults (never the manager's).
 */
#define TAKE(kind, last)                                                                           \
	int np_take_##kind(struct netprobe_##kind##_opts *out,                                     \
			   const struct netprobe_##kind##_opts *user)                              \
	{                                                                                          \
		kind##_defaults(out);                                                              \
		return np_opts_take(out, sizeof(*out),                                             \
				    NP_OFFSETOFEND(struct netprobe_##kind##_opts, last), user,     \
				    "netprobe_" #kind "_opts")                                     \
			       ?: np_validate_##kind(out);                                         \
	}
TAKE(state, lock_timeout_ms)
TAKE(attach, lb_route_cache_ms)
TAKE(events, event_queue_batches)
TAKE(housekeeping, stats_report_interval_ms)
#undef TAKE

int np_validate_config(const struct netprobe_config *cfg, struct np_config_parts *parts)
{
	if (cfg->sz != sizeof(*cfg)) {
		np_err("config: sz is %zu, expected %zu (start from netprobe_config_default())",
		       cfg->sz, sizeof(*cfg));
		return -EINVAL;
	}
	np_config_split(cfg, parts);
	return np_validate_attach(&parts->attach) ?: np_validate_state(&parts->state)
		?: np_validate_events(&parts->events) ?: np_validate_housekeeping(&parts->housekeeping);
}

static const char *const program_names[] = {"monitor", "filter", "lb"};

const char *netprobe_xdp_program_name(enum netprobe_xdp_program p)
{
	return (unsigned int)p <= NETPROBE_XDP_LB ? program_names[p] : "unknown";
}

int netprobe_xdp_program_parse(const char *s, enum netprobe_xdp_program *out)
{
	for (unsigned int p = 0; s && p <= NETPROBE_XDP_LB; p++) {
		if (strcmp(s, program_names[p]) == 0) {
			*out = p;
			return 0;
		}
	}
	return -EINVAL;
}

/* What each detection type is called (abi.h's order): events, counters, block origins. */
const char *const np_detection_names[] = {
#define X(id, name) [NETPROBE_DETECT_##id] = name,
	NETPROBE_DETECTIONS(X)
#undef X
};

const char *netprobe_detection_name(unsigned int detection)
{
	return detection < NETPROBE_DETECT_MAX ? np_detection_names[detection] : NULL;
}
