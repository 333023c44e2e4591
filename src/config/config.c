// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Configuration: the defaults, the detections by name, and validation. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include "config/config.h"

void netprobe_config_default(struct netprobe_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sz = sizeof(*cfg);
	cfg->xdp_mode = NETPROBE_XDP_MONITOR;
	cfg->xdp_attach_mode = NETPROBE_XDP_ATTACH_AUTO;
	cfg->tc_attach_mode = NETPROBE_TC_ATTACH_AUTO;
	cfg->enable_xdp_events = true;
	cfg->enable_tc_events = true;
	cfg->enable_security_alerts = true;
	cfg->detailed_events_per_sec = 10000;
	cfg->batch_size = 64;
	cfg->batch_timeout_ms = 100;
	cfg->event_workers = 2;
	cfg->event_queue_batches = 256;
	cfg->ring_buffer_size = 1u << 22;
	cfg->stats_report_interval_ms = 10000;
	cfg->flow_idle_timeout_ms = 60000;
	cfg->flow_table_size = NETPROBE_DEFAULT_FLOW_ENTRIES;
	strcpy(cfg->pin_path, NETPROBE_DEFAULT_PIN_PATH);
	cfg->lock_timeout_ms = 10000;
	/*
	 * Far above what one ordinary host sends one other: a busy client opens
	 * tens of connections a second, a resolver answers hundreds of queries.
	 */
	cfg->syn_flood = (struct netprobe_detection){true, 2000, 1000};
	cfg->udp_flood = (struct netprobe_detection){true, 20000, 1000};
	cfg->icmp_flood = (struct netprobe_detection){true, 1000, 1000};
	/* A client resets a connection now and then; nothing real sends thousands a second. */
	cfg->tcp_flood = (struct netprobe_detection){true, 2000, 1000};
	cfg->other_flood = (struct netprobe_detection){true, 10000, 1000};
	cfg->syn_flood_dst = (struct netprobe_detection){true, 20000, 1000};
	cfg->udp_flood_dst = (struct netprobe_detection){true, 200000, 1000};
	cfg->icmp_flood_dst = (struct netprobe_detection){true, 5000, 1000};
	cfg->port_scan = (struct netprobe_detection){true, 50, 5000};
	cfg->port_scan_hosts = 100; /* (at most 128: see validate_filter) */
	/*
	 * Off by default: against a learned baseline, a backup or a deploy
	 * starting on a quiet link is as anomalous as a flood. Turn it on where
	 * traffic is steady, with a floor above the link's normal peaks.
	 */
	cfg->rate_anomaly = (struct netprobe_detection){false, 1000, 1000};
	cfg->rate_anomaly_floor_pps = 100000;
	cfg->rate_anomaly_learn_windows = 10;
	cfg->mitigation = false;
	cfg->mitigation_ttl_s = 300;
	cfg->mitigation_max_blocks = 4096;
	cfg->ipv6_source_prefix = 64;
	cfg->security_alerts_per_sec = 1000;
	cfg->acl_max_rules = NETPROBE_DEFAULT_ACL_RULES;
	cfg->acl_v4_groups = 4096;
	cfg->lb_max_services = 32;
	cfg->lb_max_backends = 4096;
	cfg->lb_table_size = NP_MAGLEV_DEFAULT_SIZE;
	cfg->lb_conn_table_size = 131072;
	cfg->lb_route_cache_ms = 1000;
}

static int validate_detection(const char *name, const struct netprobe_detection *d, bool rate)
{
	if (d->enabled && (d->threshold == 0 || d->window_ms < 10 || d->window_ms > 3600000)) {
		np_err("config: %s needs a threshold > 0 and a window of 10 ms to 1 hour", name);
		return -EINVAL;
	}
	/* A rate that comes to one packet a window would make every packet a flood. */
	if (d->enabled && rate && (unsigned long long)d->threshold * d->window_ms < 2000) {
		np_err("config: %s: %u a second over %u ms is under 2 packets a window; "
		       "use a longer window",
		       name, d->threshold, d->window_ms);
		return -EINVAL;
	}
	return 0;
}

/* The config's detections by name: the one table validation and callers share. */
static const struct {
	const char *name;
	size_t offset;
	bool rate; /* a rate a second (the floods), else a count */
} detection_fields[] = {
	{"syn_flood", offsetof(struct netprobe_config, syn_flood), true},
	{"udp_flood", offsetof(struct netprobe_config, udp_flood), true},
	{"icmp_flood", offsetof(struct netprobe_config, icmp_flood), true},
	{"tcp_flood", offsetof(struct netprobe_config, tcp_flood), true},
	{"other_flood", offsetof(struct netprobe_config, other_flood), true},
	{"syn_flood_dst", offsetof(struct netprobe_config, syn_flood_dst), true},
	{"udp_flood_dst", offsetof(struct netprobe_config, udp_flood_dst), true},
	{"icmp_flood_dst", offsetof(struct netprobe_config, icmp_flood_dst), true},
	{"port_scan", offsetof(struct netprobe_config, port_scan), false},
	{"rate_anomaly", offsetof(struct netprobe_config, rate_anomaly), false},
};

_Static_assert(sizeof(detection_fields) / sizeof(detection_fields[0]) == NETPROBE_CONFIG_DETECTIONS,
	       "every detection of the config has its place in the interface settings");

const char *netprobe_config_detection_name(unsigned int i)
{
	return i < NETPROBE_CONFIG_DETECTIONS ? detection_fields[i].name : NULL;
}

static struct netprobe_detection *detection_at(struct netprobe_config *cfg, unsigned int i)
{
	return (struct netprobe_detection *)((char *)cfg + detection_fields[i].offset);
}

static void prefix_setting(struct netprobe_prefix_setting *to, const struct netprobe_cidr *from)
{
	memset(to, 0, sizeof(*to));
	to->family = from->family;
	to->prefix_len = from->prefix_len;
	memcpy(to->addr, from->addr, 16);
}

static void prefix_config(struct netprobe_cidr *to, const struct netprobe_prefix_setting *from)
{
	to->family = from->family;
	to->prefix_len = from->prefix_len;
	memcpy(to->addr, from->addr, 16);
}

void np_settings_of(const struct netprobe_config *cfg, struct netprobe_iface_settings *s)
{
	struct netprobe_config c = *cfg;

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

void np_settings_apply(struct netprobe_config *cfg, const struct netprobe_iface_settings *s)
{
	cfg->xdp_attach_mode = s->xdp_attach_mode;
	cfg->tc_attach_mode = s->tc_attach_mode;
	cfg->enable_xdp_events = s->xdp_events;
	cfg->enable_tc_events = s->tc_events;
	cfg->enable_detailed_events = s->detailed_events;
	cfg->enable_security_alerts = s->security_alerts;
	cfg->detailed_events_per_sec = s->detailed_events_per_sec;
	cfg->security_alerts_per_sec = s->security_alerts_per_sec;
	for (unsigned int i = 0; i < NETPROBE_CONFIG_DETECTIONS; i++)
		*detection_at(cfg, i) = (struct netprobe_detection){s->detections[i].enabled != 0,
								    s->detections[i].threshold,
								    s->detections[i].window_ms};
	cfg->port_scan_hosts = s->port_scan_hosts;
	cfg->rate_anomaly_floor_pps = s->rate_anomaly_floor_pps;
	cfg->rate_anomaly_learn_windows = s->rate_anomaly_learn_windows;
	cfg->mitigation = s->mitigation;
	cfg->mitigation_unproven = s->mitigation_unproven;
	cfg->mitigation_ttl_s = s->mitigation_ttl_s;
	cfg->ipv6_source_prefix = s->ipv6_source_prefix;
	cfg->lb_route_cache_ms = s->lb_route_cache_ms;
	cfg->decap = s->decap;
	cfg->decap_from_count = s->decap_from_count;
	cfg->decap_to_count = s->decap_to_count;
	for (unsigned int i = 0; i < NETPROBE_DECAP_MAX; i++) {
		prefix_config(&cfg->decap_from[i], &s->decap_from[i]);
		prefix_config(&cfg->decap_to[i], &s->decap_to[i]);
	}
}

struct netprobe_detection *netprobe_config_detection(struct netprobe_config *cfg, const char *name,
						     size_t name_len)
{
	for (size_t i = 0;
	     cfg && name && i < sizeof(detection_fields) / sizeof(detection_fields[0]); i++)
		if (strlen(detection_fields[i].name) == name_len &&
		    !strncmp(detection_fields[i].name, name, name_len))
			return (struct netprobe_detection *)((char *)cfg +
							     detection_fields[i].offset);
	return NULL;
}

static int validate_filter(const struct netprobe_config *cfg)
{
	for (size_t i = 0; i < sizeof(detection_fields) / sizeof(detection_fields[0]); i++)
		if (validate_detection(
			    detection_fields[i].name,
			    (const void *)((const char *)cfg + detection_fields[i].offset),
			    detection_fields[i].rate))
			return -EINVAL;
	/*
	 * Ports and hosts go into 512- and 256-bit sets by hash: past half of
	 * a set, collisions make the count too slow to trust.
	 */
	if (cfg->port_scan.enabled && cfg->port_scan.threshold > 256) {
		np_err("config: port_scan counts at most 256 distinct ports a window");
		return -EINVAL;
	}
	if (cfg->port_scan.enabled && (cfg->port_scan_hosts == 0 || cfg->port_scan_hosts > 128)) {
		np_err("config: port_scan_hosts must be 1..128");
		return -EINVAL;
	}
	if (cfg->rate_anomaly.enabled && cfg->rate_anomaly.threshold <= 100) {
		np_err("config: rate_anomaly threshold is a percentage of the baseline, above 100");
		return -EINVAL;
	}
	if (cfg->mitigation_unproven && !cfg->mitigation) {
		np_err("config: mitigation_unproven widens mitigation, which is off");
		return -EINVAL;
	}
	if (cfg->ipv6_source_prefix < 32 || cfg->ipv6_source_prefix > 128) {
		np_err("config: ipv6_source_prefix must be 32..128");
		return -EINVAL;
	}
	if (cfg->mitigation &&
	    (cfg->mitigation_ttl_s == 0 || cfg->mitigation_ttl_s > NETPROBE_ACL_MAX_TTL_S)) {
		np_err("config: mitigation_ttl_s must be 1..%u", NETPROBE_ACL_MAX_TTL_S);
		return -EINVAL;
	}
	if (cfg->acl_max_rules < 64 || cfg->acl_max_rules > (1u << 24) ||
	    cfg->mitigation_max_blocks == 0 ||
	    cfg->mitigation_max_blocks >= cfg->acl_max_rules / 2 || cfg->acl_v4_groups < 16 ||
	    cfg->acl_v4_groups > (1u << 20) || cfg->security_alerts_per_sec == 0) {
		np_err("config: acl_max_rules 64..%u, mitigation_max_blocks 1..acl_max_rules/2, "
		       "acl_v4_groups 16..%u, security_alerts_per_sec > 0",
		       1u << 24, 1u << 20);
		return -EINVAL;
	}
	return 0;
}

/* Tunnels are unwrapped only from the sources named, to the addresses named. */
static int validate_decap(const struct netprobe_config *cfg)
{
	const struct netprobe_cidr *sets[2] = {cfg->decap_from, cfg->decap_to};
	unsigned int counts[2] = {cfg->decap_from_count, cfg->decap_to_count};

	if (counts[0] > NETPROBE_DECAP_MAX || counts[1] > NETPROBE_DECAP_MAX) {
		np_err("config: decap_from and decap_to hold %d prefixes each at most",
		       NETPROBE_DECAP_MAX);
		return -EINVAL;
	}
	if (cfg->decap && !counts[0]) {
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

int np_validate_config(const struct netprobe_config *cfg)
{
	if (cfg->sz != sizeof(*cfg)) {
		np_err("config: sz is %zu, expected %zu (start from netprobe_config_default())",
		       cfg->sz, sizeof(*cfg));
		return -EINVAL;
	}
	if (cfg->xdp_mode > NETPROBE_XDP_LB) {
		np_err("config: unknown xdp_mode %d", cfg->xdp_mode);
		return -EINVAL;
	}
	if (cfg->xdp_attach_mode > NETPROBE_XDP_ATTACH_GENERIC ||
	    cfg->tc_attach_mode > NETPROBE_TC_ATTACH_CLSACT) {
		np_err("config: unknown xdp_attach_mode or tc_attach_mode");
		return -EINVAL;
	}
	if (cfg->flow_table_size < 1024 || cfg->flow_table_size > (1u << 26)) {
		np_err("config: flow_table_size %u is outside 1024..%u", cfg->flow_table_size,
		       1u << 26);
		return -EINVAL;
	}
	if (cfg->batch_size == 0 || cfg->batch_size > 65536 || cfg->batch_timeout_ms == 0 ||
	    cfg->event_workers == 0 || cfg->event_workers > 64 || cfg->event_queue_batches < 2 ||
	    cfg->event_queue_batches > 65536) {
		np_err("config: batch_size 1..65536, batch_timeout_ms > 0, event_workers 1..64, "
		       "event_queue_batches 2..65536");
		return -EINVAL;
	}
	if (cfg->ring_buffer_size < 4096 || (cfg->ring_buffer_size & (cfg->ring_buffer_size - 1))) {
		np_err("config: ring_buffer_size %u is not a power of two >= 4096",
		       cfg->ring_buffer_size);
		return -EINVAL;
	}
	if (validate_filter(cfg) || validate_decap(cfg))
		return -EINVAL;
	if (cfg->lb_max_services == 0 || cfg->lb_max_services > 4096 || cfg->lb_max_backends == 0 ||
	    cfg->lb_max_backends > (1u << 20) || !np_is_prime(cfg->lb_table_size) ||
	    cfg->lb_table_size < 101 || cfg->lb_table_size > NP_LB_MAX_TABLE_SIZE ||
	    cfg->lb_conn_table_size < 1024 || cfg->lb_conn_table_size > (1u << 26) ||
	    cfg->lb_route_cache_ms > 60000 ||
	    (unsigned long long)cfg->lb_max_services * NP_LB_TABLES *
			    np_lb_ring_chunks(cfg->lb_table_size) *
			    sizeof(struct netprobe_lb_ring_chunk) >
		    NP_LB_MAX_TABLE_BYTES) {
		np_err("config: lb_max_services 1..4096, lb_max_backends 1..%u, lb_table_size a "
		       "prime in 101..%u, lb_conn_table_size 1024..%u, lb_route_cache_ms 0..60000; "
		       "the Maglev tables (lb_max_services x %d x lb_table_size x 4 bytes: each "
		       "service's current and previous table) %u MiB at most",
		       1u << 20, NP_LB_MAX_TABLE_SIZE, 1u << 26, NP_LB_TABLES,
		       NP_LB_MAX_TABLE_BYTES >> 20);
		return -EINVAL;
	}
	size_t len = strnlen(cfg->pin_path, sizeof(cfg->pin_path));

	if (cfg->pin_path[0] != '/' || len == sizeof(cfg->pin_path) || len < 2 ||
	    cfg->pin_path[len - 1] == '/') {
		np_err("config: pin_path must be an absolute path of a directory below /, "
		       "without a trailing '/', shorter than %d bytes",
		       NETPROBE_PIN_PATH_MAX);
		return -EINVAL;
	}
	if (cfg->lock_timeout_ms > 3600000) {
		np_err("config: lock_timeout_ms is at most 3600000 (an hour)");
		return -EINVAL;
	}
	return 0;
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
