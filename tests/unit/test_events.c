// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The event pipeline: events produced at a known count through the kernel's
 * ring buffer arrive exactly once; batches respect batch_size and
 * batch_timeout_ms; a slow handler loses events countably, never silently;
 * the config switches emission; idle flows expire with an event.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netprobe/netprobe.h>
#include "../lib/pktbuild.h"

static char pin_path[128];
/* Globals, so that a failed test's threads can never write to a dead stack. */
static struct netprobe_manager *g_m;
/* A second manager on the same pin path: the reader of a test that has another do the rest. */
static struct netprobe_manager *g_reader;

struct collector {
	pthread_mutex_t lock;
	unsigned long long *ids; /* cpu << 48 | seq of test events, or flow ports */
	size_t n, cap;
	size_t max_batch, calls;
	unsigned int sleep_us; /* a deliberately slow handler */
	double first_at;
	unsigned int types_seen;
	struct netprobe_flow_event last_flow;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void collect(const struct netprobe_event_batch *b, void *ctx)
{
	struct collector *c = ctx;

	pthread_mutex_lock(&c->lock);
	if (!c->first_at)
		c->first_at = now_s();
	c->calls++;
	if (b->count > c->max_batch)
		c->max_batch = b->count;
	for (size_t i = 0; i < b->count; i++) {
		const struct netprobe_event_hdr *h = b->events[i];

		c->types_seen |= NETPROBE_EVENT_MASK(h->type);
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 4096;
			c->ids = realloc(c->ids, c->cap * sizeof(*c->ids));
		}
		if (h->type == NETPROBE_EVENT_TEST) {
			const struct netprobe_test_event *t = (const void *)h;

			c->ids[c->n++] = t->cpu << 48 | t->seq;
		} else {
			const struct netprobe_flow_event *f = (const void *)h;

			c->ids[c->n++] = ntohs(f->key.src_port);
			c->last_flow = *f;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (c->sleep_us)
		usleep(c->sleep_us);
}

static struct collector c;

/*
 * Waits until the collector holds at least want events, at most 10 s:
 * a slow machine (the emulated older kernels) may take far longer than a
 * fixed pause to hand them over, and an events_stop does not drain the ring.
 */
static void wait_collected(struct collector *c, size_t want)
{
	for (int i = 0; i < 1000; i++) {
		size_t n;

		pthread_mutex_lock(&c->lock);
		n = c->n;
		pthread_mutex_unlock(&c->lock);
		if (n >= want)
			break;
		usleep(10000);
	}
	usleep(50000); /* anything beyond want would show up in the count */
}

static void collector_reset(struct collector *c)
{
	free(c->ids);
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static void tune_deep_queue(struct netprobe_config *cfg)
{
	/* Room for a whole burst in the ring and in the queue: nothing may be lost. */
	cfg->event_queue_batches = 8192;
	cfg->ring_buffer_size = 1u << 25;
}

static struct netprobe_manager *manager(void (*tune)(struct netprobe_config *))
{
	struct netprobe_config cfg;
	struct netprobe_manager *m;

	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	cfg.stats_report_interval_ms = 0;
	cfg.flow_idle_timeout_ms = 0;
	if (tune)
		tune(&cfg);
	m = netprobe_manager_new(&cfg);
	assert_non_null(m);
	g_m = m;
	assert_int_equal(netprobe_manager_load(m), 0);
	return m;
}

static void finish(struct netprobe_manager *m)
{
	netprobe_manager_free(m);
	g_m = NULL;
}

/* After a failed assert: stop the pipeline, detach, free. */
static int teardown(void **state)
{
	(void)state;
	netprobe_manager_free(g_reader);
	g_reader = NULL;
	if (g_m) {
		netprobe_manager_events_stop(g_m);
		if (netprobe_manager_load(g_m) == 0)
			netprobe_manager_detach(g_m, NULL);
	}
	finish(g_m);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	if (unshare(CLONE_NEWNET))
		return -1;
	snprintf(pin_path, sizeof(pin_path), "/sys/fs/bpf/np-unit-ev-%d", getpid());
	return system("echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; "
		      "ip link add eva type veth peer name evb && ip link set eva up && "
		      "ip link set evb up");
}

static void test_exactly_once(void **state)
{
	struct netprobe_manager *m = manager(tune_deep_queue);
	struct netprobe_event_stats st;
	const unsigned int n = 200000;

	(void)state;
	collector_reset(&c);
	assert_int_equal(netprobe_manager_on_event(m, NETPROBE_EVENT_ALL, collect, &c), 0);
	assert_int_equal(netprobe_manager_events_start(m), 0);
	/* Two bursts, so both sides of the ring run concurrently for a while. */
	assert_int_equal(netprobe_manager_emit_test_events(m, n / 2), n / 2);
	assert_int_equal(netprobe_manager_emit_test_events(m, n / 2), n / 2);
	wait_collected(&c, n);
	netprobe_manager_events_stop(m);

	assert_int_equal(netprobe_manager_event_stats(m, &st), 0);
	assert_int_equal(st.kernel_produced, n);
	assert_int_equal(st.kernel_lost, 0);
	assert_int_equal(st.received, n);
	assert_int_equal(st.delivered, n);
	assert_int_equal(st.queue_lost, 0);
	assert_int_equal(c.n, n);
	/* Each (cpu, sequence) once: nothing duplicated, so with the count nothing missing. */
	qsort(c.ids, c.n, sizeof(*c.ids), cmp_u64);
	for (size_t i = 1; i < c.n; i++)
		assert_true(c.ids[i] != c.ids[i - 1]);
	assert_true(c.max_batch <= 64);
	finish(m);
	collector_reset(&c);
}

static void tune_big_batches(struct netprobe_config *cfg)
{
	cfg->batch_size = 1024;
	cfg->batch_timeout_ms = 50;
}

static void test_batches_and_trickle(void **state)
{
	struct netprobe_manager *m = manager(tune_big_batches);
	double sent;

	(void)state;
	collector_reset(&c);
	assert_int_equal(netprobe_manager_on_event(m, NETPROBE_EVENT_ALL, collect, &c), 0);
	assert_int_equal(netprobe_manager_events_start(m), 0);
	/* A burst fills batches of exactly batch_size. */
	assert_int_equal(netprobe_manager_emit_test_events(m, 10240), 10240);
	wait_collected(&c, 10240);
	assert_int_equal(c.n, 10240);
	assert_int_equal(c.max_batch, 1024);
	/* A trickle of 3 goes out once batch_timeout_ms has passed (with margin). */
	collector_reset(&c);
	sent = now_s();
	assert_int_equal(netprobe_manager_emit_test_events(m, 3), 3);
	for (int i = 0; i < 100 && c.n < 3; i++)
		usleep(10000);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.calls, 1);
	print_message("  trickle delivered after %.0f ms (timeout 50 ms)\n",
		      (c.first_at - sent) * 1000);
	assert_true(c.first_at - sent < 0.05 + 0.15);
	finish(m);
	collector_reset(&c);
}

static void tune_slow(struct netprobe_config *cfg)
{
	cfg->batch_size = 16;
	cfg->event_queue_batches = 4;
	cfg->event_workers = 1;
}

/* A handler slower than the producer: losses are counted, never silent. */
static void test_slow_handler_accounts_for_everything(void **state)
{
	struct netprobe_manager *m = manager(tune_slow);
	struct netprobe_event_stats st;
	const unsigned int n = 50000;
	long produced;

	(void)state;
	collector_reset(&c);
	c.sleep_us = 1000;
	assert_int_equal(netprobe_manager_on_event(m, NETPROBE_EVENT_ALL, collect, &c), 0);
	assert_int_equal(netprobe_manager_events_start(m), 0);
	produced = netprobe_manager_emit_test_events(m, n);
	usleep(100000);
	netprobe_manager_events_stop(m);
	assert_int_equal(netprobe_manager_event_stats(m, &st), 0);
	print_message("  produced %ld, kernel lost %llu, received %llu, delivered %llu, queue lost "
		      "%llu\n",
		      produced, st.kernel_lost, st.received, st.delivered, st.queue_lost);
	assert_int_equal(st.kernel_produced + st.kernel_lost, n);
	assert_int_equal(st.received, st.kernel_produced);
	assert_int_equal(st.delivered + st.queue_lost, st.received);
	assert_int_equal(c.n, st.delivered);
	assert_true(st.queue_lost > 0); /* the handler really was too slow */
	finish(m);
	collector_reset(&c);
}

static void test_bad_arguments(void **state)
{
	struct netprobe_manager *m = manager(NULL);
	struct netprobe_event_stats st;

	(void)state;
	collector_reset(&c);
	assert_int_equal(netprobe_manager_on_event(NULL, 1, collect, &c), -EINVAL);
	assert_int_equal(netprobe_manager_on_event(m, 1, NULL, &c), -EINVAL);
	assert_int_equal(netprobe_manager_on_event(m, 0, collect, &c), -EINVAL);
	assert_int_equal(netprobe_manager_event_stats(m, NULL), -EINVAL);
	/*
	 * A record's time may be anything: a century ahead at most, never
	 * before the epoch, never a signed overflow (this test runs under UBSan).
	 */
	unsigned long long now_ns = (unsigned long long)time(NULL) * 1000000000ull;

	assert_true(netprobe_manager_flow_time_ns(m, ~0ull / 2) > now_ns);
	assert_true(netprobe_manager_flow_time_ns(m, ~0ull / 2) < now_ns + 101 * 31622400e9);
	assert_int_equal(netprobe_manager_flow_time_ns(m, 3ull << 62), 0);
	assert_int_equal(netprobe_manager_emit_test_events(m, 0), -EINVAL);
	assert_int_equal(netprobe_manager_expire_flows(m, 0), -EINVAL);
	assert_int_equal(netprobe_manager_events_start(NULL), -EINVAL);
	assert_int_equal(netprobe_manager_events_start(m), 0);
	assert_int_equal(netprobe_manager_events_start(m), -EALREADY);
	/* A second consumer of the same ring buffer, as another process would be. */
	struct netprobe_config cfg;
	struct netprobe_manager *other;

	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	other = netprobe_manager_new(&cfg);
	assert_non_null(other);
	assert_int_equal(netprobe_manager_load(other), 0);
	assert_int_equal(netprobe_manager_events_start(other), -EBUSY);
	netprobe_manager_free(other);
	/* Nothing is attached, but a consumer still reads: the state stays pinned. */
	char ring[160];

	snprintf(ring, sizeof(ring), "%s/np_events", pin_path);
	assert_int_equal(access(ring, F_OK), 0);
	assert_int_equal(netprobe_manager_on_event(m, 1, collect, &c), -EBUSY);
	assert_int_equal(netprobe_manager_event_stats(m, &st), 0);
	netprobe_manager_events_stop(m);
	netprobe_manager_events_stop(m);
	netprobe_manager_events_stop(NULL);
	assert_string_equal(netprobe_event_type_name(NETPROBE_EVENT_FLOW_START), "flow_start");
	assert_null(netprobe_event_type_name(99));
	finish(m);
	collector_reset(&c);
}

/* The XDP program attached to ifname, to run it with BPF_PROG_RUN. */
static int attached_prog_fd(const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(if_nametoindex(ifname), 0, &q) || !q.prog_id)
		return -1;
	return bpf_prog_get_fd_by_id(q.prog_id);
}

/* count new UDP flows (source ports base..base+count-1) through the attached program */
static void run_new_flows(int prog_fd, int base, int count)
{
	struct pkt_spec s = {.family = 4,
			     .src = "192.0.2.1",
			     .dst = "192.0.2.2",
			     .proto = IPPROTO_UDP,
			     .dport = 53,
			     .payload = 20};
	uint8_t frame[PKT_MAX];

	for (int i = 0; i < count; i++) {
		s.sport = base + i;
		size_t len = pkt_build(&s, frame, sizeof(frame));
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
			    .repeat = 1);

		assert_int_equal(bpf_prog_test_run_opts(prog_fd, &opts), 0);
	}
}

static bool detailed, xdp_events;
static unsigned int per_sec = 10000, idle_ms;

static void tune_flags(struct netprobe_config *cfg)
{
	cfg->enable_detailed_events = detailed;
	cfg->enable_xdp_events = xdp_events;
	cfg->detailed_events_per_sec = per_sec;
	cfg->batch_timeout_ms = 10;
	cfg->flow_idle_timeout_ms = idle_ms;
}

/* Runs 200 new flows with the given switches; returns the flow starts handled. */
static size_t flow_starts(bool want_detailed, bool want_xdp, unsigned int rate,
			  struct netprobe_event_stats *st)
{
	struct netprobe_manager *m;
	size_t n;
	int fd;

	detailed = want_detailed;
	xdp_events = want_xdp;
	per_sec = rate;
	idle_ms = 0;
	m = manager(tune_flags);
	collector_reset(&c);
	assert_int_equal(netprobe_manager_on_event(
				 m, NETPROBE_EVENT_MASK(NETPROBE_EVENT_FLOW_START), collect, &c),
			 0);
	assert_int_equal(netprobe_manager_attach(m, "evb"), 0);
	assert_int_equal(netprobe_manager_events_start(m), 0);
	fd = attached_prog_fd("evb");
	assert_true(fd >= 0);
	run_new_flows(fd, 20000, 200);
	close(fd);
	usleep(100000);
	netprobe_manager_events_stop(m);
	assert_int_equal(netprobe_manager_event_stats(m, st), 0);
	n = c.n;
	if (n) {
		/* The event carries the flow it announces. */
		assert_int_equal(c.last_flow.key.dst_port, htons(53));
		assert_int_equal(c.last_flow.stats.packets, 1);
		assert_int_equal(c.last_flow.hdr.ifindex, if_nametoindex("evb"));
	}
	assert_int_equal(netprobe_manager_detach(m, NULL), 0);
	finish(m);
	collector_reset(&c);
	return n;
}

static void test_config_switches_emission(void **state)
{
	struct netprobe_event_stats st;

	(void)state;
	/* Off by default: nothing is emitted per packet unless asked. */
	assert_int_equal(flow_starts(false, true, 10000, &st), 0);
	assert_int_equal(st.kernel_produced, 0);
	/* Detailed on, but XDP events off: the ingress flows stay silent. */
	assert_int_equal(flow_starts(true, false, 10000, &st), 0);
	/* Both on: one event per new flow, each distinct. */
	assert_int_equal(flow_starts(true, true, 10000, &st), 200);
	assert_int_equal(st.kernel_produced, 200);
	/* A rate limit of 50 a second: a burst of 200 new flows gives about 50. */
	size_t n = flow_starts(true, true, 50, &st);

	print_message("  rate 50/s: %zu emitted, %llu sampled out\n", n, st.sampled_out);
	assert_true(n >= 50 && n <= 60);
	assert_int_equal(n + st.sampled_out, 200);
}

static int count_flow(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *st,
		      void *ctx)
{
	(void)k;
	(void)st;
	(*(int *)ctx)++;
	return 0;
}

/* What netprobe_manager_on_flow_end handed over. */
struct ended {
	unsigned int n;
	unsigned long long packets;
};

/* What netprobe_manager_on_flow_walk showed: flows, and walks ended. */
struct walked {
	unsigned int flows, ends;
};

static int count_walked(const struct netprobe_flow_key *key, const struct netprobe_flow_stats *st,
			void *ctx)
{
	struct walked *w = ctx;

	if (!key && !st)
		w->ends++;
	else
		w->flows++;
	return 1; /* ignored: the walk goes on */
}

static void count_flow_end(const struct netprobe_flow_key *key,
			   const struct netprobe_flow_stats *stats, void *ctx)
{
	struct ended *e = ctx;

	(void)key;
	e->n++;
	e->packets += stats->packets;
}

static void test_idle_flows_expire_with_an_event(void **state)
{
	struct netprobe_manager *m;
	struct netprobe_event_stats st;
	struct ended ended = {};
	struct walked walked = {};
	unsigned long long walked_flows = 0;
	int fd, left;

	(void)state;
	detailed = true;
	xdp_events = true;
	per_sec = 10000;
	idle_ms = 0; /* expire by hand, to control the time */
	m = manager(tune_flags);
	collector_reset(&c);
	assert_int_equal(netprobe_manager_on_event(m, NETPROBE_EVENT_MASK(NETPROBE_EVENT_FLOW_END),
						   collect, &c),
			 0);
	assert_int_equal(netprobe_manager_attach(m, "evb"), 0);
	assert_int_equal(netprobe_manager_events_start(m), 0);
	fd = attached_prog_fd("evb");
	assert_int_equal(netprobe_manager_flows_walked(m, &walked_flows), -ENODATA);
	run_new_flows(fd, 30000, 50);
	/* No idle timeout: housekeeping's first call walks the table, and only counts it. */
	assert_int_equal(netprobe_manager_housekeeping(m, NULL), 0);
	assert_int_equal(netprobe_manager_flows_walked(m, &walked_flows), 0);
	assert_int_equal(walked_flows, 50);
	/* Not idle yet. */
	assert_int_equal(netprobe_manager_expire_flows(m, 300), 0);
	/*
	 * Idle is judged on the kernel's jiffies, which the library converts
	 * with a rate it measured: a wide margin over 300 ms, as an emulated
	 * machine (the 6.1 guest under TCG) measures it roughly.
	 */
	usleep(1000000);
	run_new_flows(fd, 30000, 5); /* these five are busy again */
	close(fd);
	assert_int_equal(netprobe_manager_on_flow_end(m, count_flow_end, &ended), 0);
	assert_int_equal(netprobe_manager_on_flow_walk(m, count_walked, &walked), 0);
	assert_int_equal(netprobe_manager_on_flow_walk(NULL, count_walked, &walked), -EINVAL);
	assert_int_equal(netprobe_manager_expire_flows(m, 300), 45);
	/* The walk showed every flow it read, the idle ones too, and said when it was over. */
	assert_int_equal(walked.flows, 50);
	assert_int_equal(walked.ends, 1);
	/* The flow-end callback got each, with its last count. */
	assert_int_equal(ended.n, 45);
	assert_int_equal(ended.packets, 45);
	wait_collected(&c, 45);
	netprobe_manager_events_stop(m);
	assert_int_equal(c.n, 45);
	assert_int_equal(c.types_seen, NETPROBE_EVENT_MASK(NETPROBE_EVENT_FLOW_END));
	assert_int_equal(c.last_flow.stats.packets, 1);
	assert_int_equal(netprobe_manager_event_stats(m, &st), 0);
	assert_int_equal(st.flows_expired, 45);
	assert_int_equal(netprobe_manager_flows_walked(m, &walked_flows), 0);
	assert_int_equal(walked_flows, 5); /* what the walk left */
	assert_int_equal(netprobe_manager_flows_walked(m, NULL), -EINVAL);
	left = 0;
	assert_int_equal(netprobe_manager_foreach_flow(m, count_flow, &left), 0);
	assert_int_equal(left, 5); /* the busy ones stay */
	assert_int_equal(netprobe_manager_detach(m, NULL), 0);
	finish(m);
	collector_reset(&c);
}

static int reports;

static void on_report(const struct netprobe_global_stats *now,
		      const struct netprobe_global_stats *before, double seconds, void *ctx)
{
	(void)now;
	(void)before;
	(void)ctx;
	if (seconds > 0.05)
		reports++;
}

static void tune_report(struct netprobe_config *cfg)
{
	cfg->stats_report_interval_ms = 100;
}

static void tune_quick_lock(struct netprobe_config *cfg)
{
	cfg->lock_timeout_ms = 0;
}

/* Runs housekeeping for secs, as a long-running caller would: again when it says. */
static void housekeep_for(struct netprobe_manager *m, double secs)
{
	double until = now_s() + secs;

	while (now_s() < until) {
		unsigned int next_ms = 0;

		assert_int_equal(netprobe_manager_housekeeping(m, &next_ms), 0);
		assert_true(next_ms <= 1000);
		usleep((next_ms < 20 ? next_ms : 20) * 1000 + 1);
	}
}

/* The report comes from housekeeping, on the caller's thread, with no event reader. */
static void test_periodic_report(void **state)
{
	struct netprobe_manager *m = manager(tune_report);

	(void)state;
	reports = 0;
	assert_int_equal(netprobe_manager_on_report(m, on_report, NULL), 0);
	housekeep_for(m, 0.45);
	assert_true(reports >= 3 && reports <= 5);
	finish(m);
}

static void tune_small_batches(struct netprobe_config *cfg)
{
	cfg->batch_size = 4;
	tune_deep_queue(cfg);
}

/*
 * The pipeline keeps the batch size it started with: a config update to a
 * larger one while it runs neither overflows its buffers (this binary runs
 * under AddressSanitizer) nor hands a handler a larger batch.
 */
static void test_pipeline_keeps_its_settings(void **state)
{
	struct netprobe_manager *m = manager(tune_small_batches);
	struct netprobe_config cfg;

	(void)state;
	collector_reset(&c);
	assert_int_equal(netprobe_manager_on_event(m, NETPROBE_EVENT_ALL, collect, &c), 0);
	assert_int_equal(netprobe_manager_events_start(m), 0);
	assert_int_equal(netprobe_manager_get_config(m, &cfg), 0);
	cfg.batch_size = 4096;
	assert_int_equal(netprobe_manager_update_config(m, &cfg), 0);
	assert_int_equal(netprobe_manager_emit_test_events(m, 2000), 2000);
	wait_collected(&c, 2000); /* the batch timeout it started with (100 ms) sends the last */
	netprobe_manager_events_stop(m);
	assert_int_equal(c.n, 2000);
	assert_true(c.max_batch <= 4);
	finish(m);
	collector_reset(&c);
}

/*
 * The pipeline's own opts: checked before anything starts, and a batch
 * size given there is the one the handlers get (this binary runs under
 * AddressSanitizer). Housekeeping's intervals are set on their own.
 */
static void test_events_and_housekeeping_opts(void **state)
{
	struct netprobe_manager *m = manager(tune_deep_queue);
	struct netprobe_housekeeping_opts hk;
	struct netprobe_events_opts eo;
	struct netprobe_config cfg;

	(void)state;
	collector_reset(&c);
	assert_int_equal(netprobe_manager_on_event(m, NETPROBE_EVENT_ALL, collect, &c), 0);
	netprobe_events_opts_default(&eo, sizeof(eo));
	eo.batch_size = 0;
	assert_int_equal(netprobe_manager_events_start_opts(m, &eo), -EINVAL);
	eo.batch_size = 3;
	eo.event_queue_batches = 4096;
	assert_int_equal(netprobe_manager_events_start_opts(m, &eo), 0);
	assert_int_equal(netprobe_manager_events_start_opts(m, &eo), -EALREADY);
	assert_int_equal(netprobe_manager_emit_test_events(m, 900), 900);
	wait_collected(&c, 900);
	netprobe_manager_events_stop(m);
	assert_int_equal(c.n, 900);
	assert_int_equal(c.max_batch, 3);

	netprobe_housekeeping_opts_default(&hk, sizeof(hk));
	assert_int_equal(hk.flow_idle_timeout_ms, 60000);
	hk.flow_idle_timeout_ms = 1234;
	hk.stats_report_interval_ms = 0;
	assert_int_equal(netprobe_manager_set_housekeeping(m, &hk), 0);
	assert_int_equal(netprobe_manager_get_config(m, &cfg), 0);
	assert_int_equal(cfg.flow_idle_timeout_ms, 1234);
	assert_int_equal(cfg.stats_report_interval_ms, 0);
	assert_int_equal(netprobe_manager_set_housekeeping(m, NULL), -EINVAL);
	hk.sz = 2;
	assert_int_equal(netprobe_manager_set_housekeeping(m, &hk), -EINVAL);
	finish(m);
	collector_reset(&c);
}

/* A manager attached to evb (flow events or not, flows idle after idle), and count new flows. */
static struct netprobe_manager *attached_with_flows(bool flow_events, unsigned int idle, int base,
						    int count)
{
	struct netprobe_manager *m;
	int fd;

	detailed = flow_events;
	xdp_events = true;
	per_sec = 10000;
	idle_ms = idle;
	m = manager(tune_flags);
	assert_int_equal(netprobe_manager_attach(m, "evb"), 0);
	fd = attached_prog_fd("evb");
	assert_true(fd >= 0);
	run_new_flows(fd, base, count);
	close(fd);
	return m;
}

/*
 * A flow end reaches whoever reads the events, whatever that reader's own
 * config says: it is the interface that was attached with flow events.
 */
static void test_flow_end_for_any_reader(void **state)
{
	struct netprobe_manager *m;
	struct netprobe_config cfg;

	(void)state;
	m = attached_with_flows(true, 0, 31000, 20);
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	g_reader = netprobe_manager_new(&cfg);
	assert_non_null(g_reader);
	assert_int_equal(netprobe_manager_load(g_reader), 0);
	collector_reset(&c);
	assert_int_equal(netprobe_manager_on_event(g_reader,
						   NETPROBE_EVENT_MASK(NETPROBE_EVENT_FLOW_END),
						   collect, &c),
			 0);
	assert_int_equal(netprobe_manager_events_start(g_reader), 0);
	usleep(1000000); /* idle by a wide margin (test_idle_flows_expire_with_an_event says why) */
	assert_int_equal(netprobe_manager_expire_flows(m, 300), 20);
	wait_collected(&c, 20);
	netprobe_manager_events_stop(g_reader);
	if (c.n != 20) {
		struct netprobe_event_stats st = {};

		netprobe_manager_event_stats(g_reader, &st);
		print_message("  reader: kernel produced %llu, lost %llu; received %llu, delivered "
			      "%llu\n",
			      st.kernel_produced, st.kernel_lost, st.received, st.delivered);
	}
	assert_int_equal(c.n, 20);
	assert_int_equal(c.last_flow.stats.packets, 1);
	netprobe_manager_free(g_reader);
	g_reader = NULL;
	assert_int_equal(netprobe_manager_detach(m, NULL), 0);
	finish(m);
	collector_reset(&c);
}

/*
 * Nothing expires on its own; with housekeeping running and no event
 * reader anywhere, idle flows do (silently: no flow events were asked).
 */
static void test_housekeeping_without_a_reader(void **state)
{
	struct netprobe_manager *m;
	struct netprobe_event_stats st;
	int left = 0;

	(void)state;
	m = attached_with_flows(false, 300, 32000, 30);
	usleep(1200000);
	assert_int_equal(netprobe_manager_foreach_flow(m, count_flow, &left), 0);
	assert_int_equal(left, 30);
	housekeep_for(m, 1.2);
	left = 0;
	assert_int_equal(netprobe_manager_foreach_flow(m, count_flow, &left), 0);
	assert_int_equal(left, 0);
	assert_int_equal(netprobe_manager_event_stats(m, &st), 0);
	assert_int_equal(st.flows_expired, 30);
	assert_int_equal(st.kernel_produced, 0);
	assert_int_equal(netprobe_manager_detach(m, NULL), 0);
	finish(m);
}

/*
 * The list sweep housekeeping runs every second takes the pin path's lock
 * only when an entry expired: another process holding it stalls nothing.
 */
static void test_sweep_locks_only_for_work(void **state)
{
	struct netprobe_manager *m;
	char path[256];
	int fd;

	(void)state;
	m = manager(tune_quick_lock);
	assert_int_equal(netprobe_blacklist_add(m, "198.51.100.7", 1), 0);
	snprintf(path, sizeof(path), "%s/lock", pin_path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(netprobe_manager_acl_sweep(m), 0);
	usleep(1100000);
	/* Now there is work, and the lock is another's. */
	assert_int_equal(netprobe_manager_acl_sweep(m), -EWOULDBLOCK);
	/*
	 * Housekeeping tries once and goes on: a manager that would wait 10 s
	 * for the lock is back at once, and sweeps a second later.
	 */
	struct netprobe_config cfg;
	unsigned int next_ms;
	double t0;

	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	g_reader = netprobe_manager_new(&cfg);
	assert_non_null(g_reader);
	assert_int_equal(netprobe_manager_load(g_reader), 0);
	assert_int_equal(netprobe_manager_housekeeping(g_reader, &next_ms), 0);
	usleep(next_ms * 1000 + 50000);
	t0 = now_s();
	assert_int_equal(netprobe_manager_housekeeping(g_reader, &next_ms), 0);
	assert_true(now_s() - t0 < 1.0);
	netprobe_manager_free(g_reader);
	g_reader = NULL;
	close(fd);
	assert_int_equal(netprobe_manager_acl_sweep(m), 0);
	finish(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_exactly_once, teardown),
		cmocka_unit_test_teardown(test_batches_and_trickle, teardown),
		cmocka_unit_test_teardown(test_slow_handler_accounts_for_everything, teardown),
		cmocka_unit_test_teardown(test_bad_arguments, teardown),
		cmocka_unit_test_teardown(test_config_switches_emission, teardown),
		cmocka_unit_test_teardown(test_idle_flows_expire_with_an_event, teardown),
		cmocka_unit_test_teardown(test_periodic_report, teardown),
		cmocka_unit_test_teardown(test_pipeline_keeps_its_settings, teardown),
		cmocka_unit_test_teardown(test_events_and_housekeeping_opts, teardown),
		cmocka_unit_test_teardown(test_flow_end_for_any_reader, teardown),
		cmocka_unit_test_teardown(test_housekeeping_without_a_reader, teardown),
		cmocka_unit_test_teardown(test_sweep_locks_only_for_work, teardown),
	};

	return cmocka_run_group_tests_name("events", tests, group_setup, NULL);
}
