// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Counters: per-CPU values summed here, by interface, in total, and by name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "features/features.h"
#include "netprobe.skel.h"

static const char *const hook_counter_names[] = {
#define X(id, name) [NETPROBE_HC_##id] = name,
	NETPROBE_HOOK_COUNTERS(X)
#undef X
};

static const char *const malformed_names[] = {[NETPROBE_OK] = "ok",
#define X(id, name) [NETPROBE_MALFORMED_##id] = name,
					      NETPROBE_MALFORMED_REASONS(X)
#undef X
};

static const char *const filter_counter_names[] = {
#define X(id, name) [NETPROBE_FC_##id] = name,
	NETPROBE_FILTER_COUNTERS(X)
#undef X
};

static const char *const lb_counter_names[] = {
#define X(id, name) [NETPROBE_LBC_##id] = name,
	NETPROBE_LB_COUNTERS(X)
#undef X
};

static const char *const hook_names[] = {"xdp", "tc_ingress", "tc_egress"};
static const char *const xdp_action_names[] = {"aborted", "drop", "pass", "tx", "redirect"};
const char *netprobe_hook_counter_name(enum netprobe_hook_counter c)
{
	return (unsigned int)c < NETPROBE_HC_MAX ? hook_counter_names[c] : NULL;
}

const char *netprobe_malformed_name(enum netprobe_malformed reason)
{
	return (unsigned int)reason < NETPROBE_MALFORMED_MAX ? malformed_names[reason] : NULL;
}

const char *netprobe_filter_counter_name(enum netprobe_filter_counter c)
{
	return (unsigned int)c < NETPROBE_FC_MAX ? filter_counter_names[c] : NULL;
}

const char *netprobe_lb_counter_name(enum netprobe_lb_counter c)
{
	return (unsigned int)c < NETPROBE_LBC_MAX ? lb_counter_names[c] : NULL;
}

static void add_counters(struct netprobe_counters *to, const struct netprobe_counters *from)
{
	__u64 *t = (__u64 *)to;
	const __u64 *f = (const __u64 *)from;

	for (size_t i = 0; i < sizeof(*to) / sizeof(__u64); i++)
		t[i] += f[i];
}

/* Fills the seed's summary fields from the raw counters. */
static void summarise(struct netprobe_global_stats *s)
{
	const struct netprobe_counters *c = &s->counters;
	struct timespec now;

	s->rx_packets = c->hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_PACKETS];
	s->rx_bytes = c->hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_BYTES];
	s->tx_packets = c->hook[NETPROBE_HOOK_TC_EGRESS].v[NETPROBE_HC_PACKETS];
	s->tx_bytes = c->hook[NETPROBE_HOOK_TC_EGRESS].v[NETPROBE_HC_BYTES];
	s->xdp_aborted = c->xdp_action[0];
	s->xdp_drop = c->xdp_action[1];
	s->xdp_pass = c->xdp_action[2];
	s->xdp_tx = c->xdp_action[3];
	s->xdp_redirect = c->xdp_action[4];
	s->malformed = c->hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_MALFORMED];
	clock_gettime(CLOCK_REALTIME, &now);
	s->timestamp_ns = now.tv_sec * 1000000000ull + now.tv_nsec;
}

int netprobe_manager_global_stats(struct netprobe_manager *m, struct netprobe_global_stats *out)
{
	struct netprobe_iface_info info;
	struct netprobe_counters slot;

	if (!m || !m->maps || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	for (unsigned int s = 0; s < NETPROBE_MAX_IFACES; s++) {
		if (np_read_iface(m, s, &info) || !info.in_use)
			continue;
		int err = np_read_slot_counters(m, s, &slot);

		if (err)
			return err;
		add_counters(&out->counters, &slot);
	}
	summarise(out);
	return 0;
}

int netprobe_manager_iface_stats_of(struct netprobe_manager *m, const struct netprobe_iface *iface,
				    struct netprobe_global_stats *out)
{
	struct netprobe_iface_info info;
	int err;

	if (!m || !m->maps || !out)
		return -EINVAL;
	err = np_iface_info_of(m, iface, &info);
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	err = np_read_slot_counters(m, iface->slot, &out->counters);
	if (err)
		return err;
	summarise(out);
	return 0;
}

int netprobe_manager_iface_stats(struct netprobe_manager *m, const char *ifname,
				 struct netprobe_global_stats *out)
{
	struct netprobe_iface iface;
	int err;

	if (!out)
		return -EINVAL;
	err = netprobe_manager_iface(m, ifname, &iface);
	return err ? err : netprobe_manager_iface_stats_of(m, &iface, out);
}

int netprobe_global_stats_format(const struct netprobe_global_stats *s, char *buf, size_t len)
{
	if (!s || !buf)
		return -EINVAL;
	return snprintf(buf, len,
			"rx %llu pkts %llu bytes, tx %llu pkts %llu bytes, xdp pass %llu drop %llu "
			"tx %llu redirect %llu aborted %llu, malformed %llu",
			s->rx_packets, s->rx_bytes, s->tx_packets, s->tx_bytes, s->xdp_pass,
			s->xdp_drop, s->xdp_tx, s->xdp_redirect, s->xdp_aborted, s->malformed);
}

/* Emits the counters values[0..n) as PREFIX_NAME, names[i] each. */
static int emit_group(const char *iface, const char *prefix, const char *const *names,
		      const __u64 *values, int n, netprobe_counter_fn fn, void *ctx)
{
	char name[64];
	int ret = 0;

	for (int i = 0; i < n && !ret; i++) {
		snprintf(name, sizeof(name), "%s_%s", prefix, names[i]);
		ret = fn(iface, name, values[i], ctx);
	}
	return ret;
}

/* Emits every counter of one interface (or of the total, iface NULL). */
static int emit_counters(const char *iface, const struct netprobe_global_stats *s,
			 netprobe_counter_fn fn, void *ctx)
{
	const struct {
		const char *name;
		unsigned long long v;
	} summary[] = {
		{"rx_packets", s->rx_packets},
		{"rx_bytes", s->rx_bytes},
		{"tx_packets", s->tx_packets},
		{"tx_bytes", s->tx_bytes},
	};
	char name[64];
	int ret;

	for (size_t i = 0; i < sizeof(summary) / sizeof(summary[0]); i++) {
		ret = fn(iface, summary[i].name, summary[i].v, ctx);
		if (ret)
			return ret;
	}
	for (int h = 0; h < NETPROBE_HOOK_MAX; h++) {
		const struct netprobe_hook_counters *hc = &s->counters.hook[h];

		snprintf(name, sizeof(name), "%s_malformed", hook_names[h]);
		ret = emit_group(iface, hook_names[h], hook_counter_names, hc->v, NETPROBE_HC_MAX,
				 fn, ctx);
		/* Reason 0 is "ok": not a counter. */
		if (!ret)
			ret = emit_group(iface, name, malformed_names + 1, hc->malformed,
					 NETPROBE_MALFORMED_MAX - 1, fn, ctx);
		if (ret)
			return ret;
	}
	ret = emit_group(iface, "xdp_action", xdp_action_names, s->counters.xdp_action,
			 NETPROBE_XDP_ACTIONS, fn, ctx);
	if (!ret)
		ret = emit_group(iface, "filter", filter_counter_names, s->counters.filter,
				 NETPROBE_FC_MAX, fn, ctx);
	if (!ret)
		ret = emit_group(iface, "detections", np_detection_names, s->counters.detections,
				 NETPROBE_DETECT_MAX, fn, ctx);
	if (!ret)
		ret = emit_group(iface, "detections_dst", np_detection_names,
				 s->counters.detections_dst, NETPROBE_DETECT_MAX, fn, ctx);
	if (!ret)
		ret = emit_group(iface, "lb", lb_counter_names, s->counters.lb, NETPROBE_LBC_MAX,
				 fn, ctx);
	return ret;
}

int netprobe_manager_security_stats(struct netprobe_manager *m, struct netprobe_security_stats *out)
{
	struct netprobe_global_stats total;
	int err;

	if (!m || !m->maps || !out)
		return -EINVAL;
	err = netprobe_manager_global_stats(m, &total);
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	memcpy(out->detections, total.counters.detections, sizeof(out->detections));
	memcpy(out->detections_dst, total.counters.detections_dst, sizeof(out->detections_dst));
	memcpy(out->filter, total.counters.filter, sizeof(out->filter));
	np_acl_counts(m, &out->deny_entries, &out->block_entries, &out->allow_entries,
		      &out->capacity, &out->sweep_dependent);
	return 0;
}

int netprobe_global_stats_foreach_counter(const struct netprobe_global_stats *s,
					  netprobe_counter_fn fn, void *ctx)
{
	if (!s || !fn)
		return -EINVAL;
	return emit_counters(NULL, s, fn, ctx);
}

int netprobe_manager_foreach_counter(struct netprobe_manager *m, netprobe_counter_fn fn, void *ctx)
{
	struct netprobe_global_stats total, one;
	struct netprobe_iface_info info;
	int ret;

	if (!m || !m->maps || !fn)
		return -EINVAL;
	ret = netprobe_manager_global_stats(m, &total);
	if (ret)
		return ret;
	ret = emit_counters(NULL, &total, fn, ctx);
	if (ret)
		return ret;
	for (unsigned int s = 0; s < NETPROBE_MAX_IFACES; s++) {
		if (np_read_iface(m, s, &info) || !info.in_use)
			continue;
		memset(&one, 0, sizeof(one));
		ret = np_read_slot_counters(m, s, &one.counters);
		if (ret)
			return ret;
		summarise(&one);
		ret = emit_counters(info.name, &one, fn, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

int netprobe_manager_tc_dev_stat(struct netprobe_manager *m, const struct netprobe_tc_dev_key *key,
				 unsigned long long *value)
{
	struct netprobe_iface_info info;
	struct netprobe_counters c;
	unsigned long long netns = np_current_netns();
	int hook, counter;

	if (!m || !m->maps || !key || !value || key->direction > NETPROBE_DIR_EGRESS ||
	    key->stat_type > NETPROBE_STAT_BYTES)
		return -EINVAL;
	hook = key->direction == NETPROBE_DIR_INGRESS ? NETPROBE_HOOK_TC_INGRESS
						      : NETPROBE_HOOK_TC_EGRESS;
	counter = key->stat_type == NETPROBE_STAT_PACKETS ? NETPROBE_HC_PACKETS : NETPROBE_HC_BYTES;
	for (unsigned int s = 0; s < NETPROBE_MAX_IFACES; s++) {
		if (np_read_iface(m, s, &info) || !info.in_use || info.ifindex != key->ifindex ||
		    info.netns_ino != netns)
			continue;
		int err = np_read_slot_counters(m, s, &c);

		if (err)
			return err;
		*value = c.hook[hook].v[counter];
		return 0;
	}
	return -ENOENT;
}
