// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Housekeeping: the periodic work of a long-running user of the manager,
 * run on its caller's thread and clock (the daemon owns it; `netprobe
 * events` and `monitor` run it while they run), never as a side effect of
 * another thread: idle flows expire, each with a flow-end event when its
 * interface was attached with flow events (whoever reads the events gets
 * it); expired list entries are swept; the periodic report is made.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "features/features.h"
#include "netprobe.skel.h"

/*
 * Idle flows are looked for every tenth of the idle timeout, between 1 and
 * 10 s: a flow leaves at most 10 % past its timeout (and 1 s at short
 * ones), and the walk (the table's size in reads) is not paid every second
 * for a timeout of a minute. Without a timeout the walk only counts, every
 * 10 s. The first walk is at the first call.
 */
#define NP_EXPIRY_MIN_NS 1000000000ull
#define NP_SWEEP_NS	 1000000000ull /* lists: expired entries leave within a second */
#define NP_EXPIRY_MAX_NS 10000000000ull

static __u64 expiry_interval_ns(const struct netprobe_manager *m)
{
	__u64 ns = m->opts.housekeeping.flow_idle_timeout_ms * 100000ull; /* a tenth */

	if (!ns)
		return NP_EXPIRY_MAX_NS;
	return ns < NP_EXPIRY_MIN_NS   ? NP_EXPIRY_MIN_NS
	       : ns > NP_EXPIRY_MAX_NS ? NP_EXPIRY_MAX_NS
				       : ns;
}

/* An XDP test run's frame holds about 3.5 KB (a page less headroom and tail). */
_Static_assert(NETPROBE_FLOW_ENDS_PER_RUN * sizeof(struct netprobe_flow_event) <= 3000,
	       "flow ends of one run must fit one test-run frame");

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int netprobe_manager_on_flow_end(struct netprobe_manager *m, netprobe_flow_end_fn fn, void *ctx)
{
	if (!m)
		return -EINVAL;
	m->flow_end_fn = fn;
	m->flow_end_ctx = ctx;
	return 0;
}

int netprobe_manager_flows_walked(struct netprobe_manager *m, unsigned long long *flows)
{
	unsigned long long walked;

	if (!m || !flows)
		return -EINVAL;
	walked = __atomic_load_n(&m->flows_walked, __ATOMIC_RELAXED);
	if (!walked)
		return -ENODATA;
	*flows = walked - 1;
	return 0;
}

int netprobe_manager_on_flow_walk(struct netprobe_manager *m, netprobe_flow_fn fn, void *ctx)
{
	if (!m)
		return -EINVAL;
	m->flow_walk_fn = fn;
	m->flow_walk_ctx = ctx;
	return 0;
}

int netprobe_manager_on_report(struct netprobe_manager *m, netprobe_report_fn fn, void *ctx)
{
	if (!m)
		return -EINVAL;
	m->report_fn = fn;
	m->report_ctx = ctx;
	return 0;
}

/* Collects idle flows; the walk reads in batches like foreach_flow. */
struct expire_ctx {
	struct netprobe_manager *m;
	__u64 now, idle_jiffies;
	unsigned long long seen;
	struct netprobe_flow_event *evs;
	size_t n, cap;
	int err;
};

static int collect_idle(const struct netprobe_flow_key *key, const struct netprobe_flow_stats *st,
			void *arg)
{
	struct expire_ctx *c = arg;

	c->seen++;
	if (c->m->flow_walk_fn)
		c->m->flow_walk_fn(key, st, c->m->flow_walk_ctx);
	if (c->now - st->last_seen <= c->idle_jiffies || (__s64)(c->now - st->last_seen) < 0)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct netprobe_flow_event *evs = realloc(c->evs, cap * sizeof(*evs));

		if (!evs)
			return c->err = -ENOMEM;
		c->evs = evs;
		c->cap = cap;
	}
	c->evs[c->n++] = (struct netprobe_flow_event){
		.hdr = {.type = NETPROBE_EVENT_FLOW_END,
			.size = sizeof(struct netprobe_flow_event),
			.ifindex = key->ifindex,
			.time = c->now},
		.key = *key,
		.stats = *st,
	};
	return 0;
}

/*
 * Sends the flow ends of interfaces attached with flow events into the
 * ring buffer, NETPROBE_FLOW_ENDS_PER_RUN a test run. The kernel counts
 * them as produced, or lost when the ring is full.
 */
static void emit_flow_ends(struct netprobe_manager *m, const struct netprobe_flow_event *evs,
			   size_t n)
{
	struct netprobe_flow_event frame[NETPROBE_FLOW_ENDS_PER_RUN];
	/* The ifindex of each slot attached with flow events, 0 if none. */
	__u32 wanted[NETPROBE_MAX_IFACES] = {};
	struct netprobe_iface_settings settings;
	struct netprobe_iface_info info;
	size_t in_frame = 0;
	int fd;

	for (unsigned int slot = 0; slot < NETPROBE_MAX_IFACES; slot++)
		if (!np_read_iface(m, slot, &info) && info.in_use &&
		    !np_read_iface_settings(m, slot, &settings) && settings.detailed_events)
			wanted[slot] = info.ifindex;
	if (!m->flow_end_emitter) {
		m->flow_end_emitter = np_load_runner(m, "netprobe_emit_flow_ends");
		if (!m->flow_end_emitter) {
			np_warn("cannot load the flow-end event producer: %s; flows expire "
				"without their events",
				strerror(errno));
			return;
		}
	}
	fd = bpf_program__fd(m->flow_end_emitter->progs.netprobe_emit_flow_ends);
	for (size_t i = 0; i <= n; i++) {
		/* A flow of the slot's previous interface is not this one's to report. */
		if (i < n && evs[i].key.slot < NETPROBE_MAX_IFACES &&
		    wanted[evs[i].key.slot] == evs[i].key.ifindex && evs[i].key.ifindex)
			frame[in_frame++] = evs[i];
		if (in_frame && (in_frame == NETPROBE_FLOW_ENDS_PER_RUN || i == n)) {
			LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
				    .data_size_in = in_frame * sizeof(frame[0]), .repeat = 1);

			if (bpf_prog_test_run_opts(fd, &opts))
				np_warn("cannot emit %zu flow-end events: %s", in_frame,
					strerror(errno));
			in_frame = 0;
		}
	}
}

int netprobe_manager_expire_flows(struct netprobe_manager *m, unsigned int idle_ms)
{
	struct expire_ctx c = {.m = m};
	double ns_per_jiffy;
	int fd, removed = 0, err;

	if (!m || !m->maps || !idle_ms)
		return -EINVAL;
	ns_per_jiffy = np_ns_per_jiffy(m);
	if (ns_per_jiffy <= 0)
		return -EIO;
	err = np_now_jiffies(m, &c.now);
	if (err)
		return err;
	c.idle_jiffies = (__u64)(idle_ms * 1e6 / ns_per_jiffy);
	err = netprobe_manager_foreach_flow(m, collect_idle, &c);
	if (m->flow_walk_fn && !err && !c.err)
		m->flow_walk_fn(NULL, NULL, m->flow_walk_ctx);
	if (err || c.err) {
		free(c.evs);
		return err ? err : c.err;
	}
	fd = bpf_map__fd(m->maps->maps.np_flows);
	for (size_t i = 0; i < c.n; i++) {
		/* A flow that saw a packet since we read it stays. */
		struct netprobe_flow_stats now;

		if (bpf_map_lookup_elem(fd, &c.evs[i].key, &now) ||
		    now.last_seen != c.evs[i].stats.last_seen ||
		    bpf_map_delete_elem(fd, &c.evs[i].key))
			continue;
		c.evs[i].stats = now; /* its last count, as it left */
		c.evs[removed++] = c.evs[i];
	}
	/* What the walk saw, less what it removed (+1: a walk was made). */
	__atomic_store_n(&m->flows_walked, c.seen - removed + 1, __ATOMIC_RELAXED);
	for (int i = 0; m->flow_end_fn && i < removed; i++)
		m->flow_end_fn(&c.evs[i].key, &c.evs[i].stats, m->flow_end_ctx);
	if (removed)
		emit_flow_ends(m, c.evs, removed);
	/* Read by netprobe_manager_event_stats, which is thread-safe. */
	__atomic_fetch_add(&m->flows_expired, removed, __ATOMIC_RELAXED);
	free(c.evs);
	return removed;
}

static void report(struct netprobe_manager *m, __u64 now)
{
	struct netprobe_global_stats cur;

	if (netprobe_manager_global_stats(m, &cur))
		return;
	if (m->report_fn && m->hk.report_ns)
		m->report_fn(&cur, &m->hk.prev, (now - m->hk.report_ns) / 1e9, m->report_ctx);
	m->hk.prev = cur;
	m->hk.report_ns = now;
}

int netprobe_manager_housekeeping(struct netprobe_manager *m, unsigned int *next_ms)
{
	struct np_housekeeping *hk;
	__u64 now = mono_ns(), next;
	__u64 report_every;
	int err = 0;

	if (!m || !m->maps)
		return -EINVAL;
	hk = &m->hk;
	report_every = m->opts.housekeeping.stats_report_interval_ms * 1000000ull;
	if (!hk->started) {
		hk->started = true;
		hk->next_expiry_ns = now;
		hk->next_sweep_ns = now + NP_SWEEP_NS;
	}
	/* The first report needs stats to compare with: read them now, report later. */
	if (report_every && m->report_fn && !hk->next_report_ns) {
		report(m, now);
		hk->next_report_ns = now + report_every;
	}
	if (now >= hk->next_expiry_ns) {
		if (m->opts.housekeeping.flow_idle_timeout_ms) {
			int n = netprobe_manager_expire_flows(
				m, m->opts.housekeeping.flow_idle_timeout_ms);

			err = n < 0 ? n : 0;
		} else {
			/* No timeout: the same walk, which finds nothing idle and only counts. */
			struct expire_ctx c = {.m = m, .idle_jiffies = UINT64_MAX};

			err = netprobe_manager_foreach_flow(m, collect_idle, &c);
			if (m->flow_walk_fn && !err)
				m->flow_walk_fn(NULL, NULL, m->flow_walk_ctx);
			if (!err)
				__atomic_store_n(&m->flows_walked, c.seen + 1, __ATOMIC_RELAXED);
		}
		hk->next_expiry_ns = now + expiry_interval_ns(m);
	}
	if (now >= hk->next_sweep_ns) {
		/* Expired entries leave the lists, and the prefixes they covered fall back. */
		int swept = np_acl_sweep_try(m);

		err = err ?: swept;
		hk->next_sweep_ns = now + NP_SWEEP_NS;
	}
	if (report_every && m->report_fn && now >= hk->next_report_ns) {
		report(m, now);
		hk->next_report_ns = now + report_every;
	}
	next = hk->next_expiry_ns < hk->next_sweep_ns ? hk->next_expiry_ns : hk->next_sweep_ns;
	if (report_every && m->report_fn && hk->next_report_ns < next)
		next = hk->next_report_ns;
	if (next_ms) {
		now = mono_ns();
		*next_ms = next > now ? (unsigned int)((next - now + 999999) / 1000000) : 0;
	}
	return err;
}

int netprobe_manager_set_housekeeping(struct netprobe_manager *m,
				      const struct netprobe_housekeeping_opts *opts)
{
	struct netprobe_housekeeping_opts h;
	int err;

	if (!m || !opts)
		return -EINVAL;
	err = np_take_housekeeping(&h, opts);
	if (err)
		return err;
	/*
	 * A new report interval counts from now (the next report still covers
	 * everything since the last one); expiry keeps its time, and the next
	 * walk after it takes the new interval.
	 */
	if (h.stats_report_interval_ms != m->opts.housekeeping.stats_report_interval_ms &&
	    m->hk.next_report_ns)
		m->hk.next_report_ns = mono_ns() + h.stats_report_interval_ms * 1000000ull;
	m->opts.housekeeping = h;
	return 0;
}
