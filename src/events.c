// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The event pipeline: one reader thread drains the BPF ring buffer into
 * batches (batch_size events, or fewer once batch_timeout_ms has passed) and
 * hands them to worker threads that run the handlers. The reader never waits
 * for a handler: batches wait in a bounded queue, and a batch that finds the
 * queue full is dropped and counted. So received + generated equals
 * delivered + queue_lost, and the kernel counts what it could not commit.
 */
#include <errno.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "internal.h"
#include "netprobe.skel.h"

struct np_batch {
	size_t n;
	size_t used; /* events are packed at 8-byte alignment: 32-byte events take 32 */
	const struct netprobe_event_hdr **ptrs;
	__u8 *data; /* room for batch_size events of NETPROBE_EVENT_MAX_SIZE */
};

struct np_events {
	struct netprobe_manager *m;
	struct ring_buffer *rb;
	pthread_t reader;
	pthread_t workers[64];
	unsigned int nworkers;
	atomic_bool stop;

	pthread_mutex_t lock; /* guards the queue and the free list */
	pthread_cond_t ready_cv;
	struct np_batch *pool;
	unsigned int npool;
	unsigned int *ready, ready_head, ready_count, ready_cap;
	unsigned int *free_list, nfree;
	bool reader_done;

	unsigned int current; /* the batch the reader fills; the reader's alone */
	double current_started;

	atomic_ullong received, generated, delivered, queue_lost, batches, flows_expired;
	int consumer_lock; /* flock on the pin directory: one consumer per ring buffer */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *netprobe_event_type_name(unsigned int type)
{
	switch (type) {
	case NETPROBE_EVENT_FLOW_START:
		return "flow_start";
	case NETPROBE_EVENT_FLOW_END:
		return "flow_end";
	case NETPROBE_EVENT_TEST:
		return "test";
	case NETPROBE_EVENT_SECURITY:
		return "security";
	default:
		return NULL;
	}
}

int netprobe_manager_on_event(struct netprobe_manager *m, unsigned int type_mask,
			      netprobe_event_fn fn, void *ctx)
{
	if (!m || !fn || !type_mask)
		return -EINVAL;
	if (m->events)
		return -EBUSY;
	if (m->nhandlers == (int)(sizeof(m->handlers) / sizeof(m->handlers[0])))
		return -ENOSPC;
	m->handlers[m->nhandlers++] = (struct np_handler){type_mask, fn, ctx};
	return 0;
}

int netprobe_manager_on_report(struct netprobe_manager *m, netprobe_report_fn fn, void *ctx)
{
	if (!m)
		return -EINVAL;
	if (m->events)
		return -EBUSY;
	m->report_fn = fn;
	m->report_ctx = ctx;
	return 0;
}

/* Queues a full batch for the workers, or drops it if the queue is full. Under lock. */
static void enqueue_locked(struct np_events *ev, unsigned int b)
{
	struct np_batch *batch = &ev->pool[b];

	if (ev->ready_count == ev->ready_cap) {
		atomic_fetch_add(&ev->queue_lost, batch->n);
		batch->n = batch->used = 0;
		ev->free_list[ev->nfree++] = b;
		return;
	}
	ev->ready[(ev->ready_head + ev->ready_count++) % ev->ready_cap] = b;
	pthread_cond_signal(&ev->ready_cv);
}

/* Hands the reader's batch over and takes a fresh one. */
static void flush_current(struct np_events *ev)
{
	if (ev->pool[ev->current].n == 0)
		return;
	pthread_mutex_lock(&ev->lock);
	if (ev->ready_count == ev->ready_cap || ev->nfree == 0) {
		/* Every worker is behind: drop this batch and keep filling it. */
		atomic_fetch_add(&ev->queue_lost, ev->pool[ev->current].n);
		ev->pool[ev->current].n = ev->pool[ev->current].used = 0;
	} else {
		unsigned int full = ev->current;

		ev->current = ev->free_list[--ev->nfree];
		enqueue_locked(ev, full);
	}
	pthread_mutex_unlock(&ev->lock);
}

static void append(struct np_batch *b, const void *data, size_t size)
{
	__u8 *slot = b->data + b->used;

	memcpy(slot, data, size);
	b->used += (size + 7) & ~(size_t)7;
	b->ptrs[b->n++] = (const struct netprobe_event_hdr *)slot;
}

/* libbpf calls this for each record the reader drains. */
static int on_record(void *ctx, void *data, size_t size)
{
	struct np_events *ev = ctx;
	struct np_batch *b = &ev->pool[ev->current];

	if (size < sizeof(struct netprobe_event_hdr) || size > NETPROBE_EVENT_MAX_SIZE)
		return 0; /* not ours; never produced by netprobe's programs */
	atomic_fetch_add_explicit(&ev->received, 1, memory_order_relaxed);
	if (b->n == 0)
		ev->current_started = now_s();
	append(b, data, size);
	if (b->n == ev->m->cfg.batch_size)
		flush_current(ev);
	return 0;
}

/* Events made in userspace (flow ends) go to the queue in batches of their own. */
static void push_generated(struct np_events *ev, const struct netprobe_flow_event *evs, size_t n)
{
	size_t done = 0;

	atomic_fetch_add(&ev->generated, n);
	while (done < n) {
		pthread_mutex_lock(&ev->lock);
		if (ev->nfree == 0) {
			atomic_fetch_add(&ev->queue_lost, n - done);
			pthread_mutex_unlock(&ev->lock);
			return;
		}
		unsigned int b = ev->free_list[--ev->nfree];

		pthread_mutex_unlock(&ev->lock);
		while (done < n && ev->pool[b].n < ev->m->cfg.batch_size) {
			append(&ev->pool[b], &evs[done], sizeof(evs[done]));
			done++;
		}
		pthread_mutex_lock(&ev->lock);
		enqueue_locked(ev, b);
		pthread_mutex_unlock(&ev->lock);
	}
}

static void dispatch(struct np_events *ev, struct np_batch *b,
		     const struct netprobe_event_hdr **scratch)
{
	const struct netprobe_manager *m = ev->m;

	for (int h = 0; h < m->nhandlers; h++) {
		struct netprobe_event_batch out = {.events = scratch};
		size_t n = 0;

		for (size_t i = 0; i < b->n; i++)
			if (m->handlers[h].mask & NETPROBE_EVENT_MASK(b->ptrs[i]->type & 31))
				scratch[n++] = b->ptrs[i];
		if (!n)
			continue;
		out.count = n;
		m->handlers[h].fn(&out, m->handlers[h].ctx);
	}
	atomic_fetch_add(&ev->delivered, b->n);
	atomic_fetch_add(&ev->batches, 1);
}

static void *worker_main(void *arg)
{
	struct np_events *ev = arg;
	const struct netprobe_event_hdr **scratch = calloc(ev->m->cfg.batch_size, sizeof(*scratch));

	if (!scratch)
		return NULL;
	pthread_mutex_lock(&ev->lock);
	for (;;) {
		while (ev->ready_count == 0 && !ev->reader_done)
			pthread_cond_wait(&ev->ready_cv, &ev->lock);
		if (ev->ready_count == 0)
			break;
		unsigned int b = ev->ready[ev->ready_head];

		ev->ready_head = (ev->ready_head + 1) % ev->ready_cap;
		ev->ready_count--;
		pthread_mutex_unlock(&ev->lock);
		dispatch(ev, &ev->pool[b], scratch);
		ev->pool[b].n = ev->pool[b].used = 0;
		pthread_mutex_lock(&ev->lock);
		ev->free_list[ev->nfree++] = b;
	}
	pthread_mutex_unlock(&ev->lock);
	free(scratch);
	return NULL;
}

static void report(struct np_events *ev, struct netprobe_global_stats *prev, double *prev_t)
{
	struct netprobe_manager *m = ev->m;
	struct netprobe_global_stats cur;
	double t = now_s();

	if (netprobe_manager_global_stats(m, &cur))
		return;
	if (m->report_fn)
		m->report_fn(&cur, prev, t - *prev_t, m->report_ctx);
	*prev = cur;
	*prev_t = t;
}

static void *reader_main(void *arg)
{
	struct np_events *ev = arg;
	struct netprobe_manager *m = ev->m;
	double batch_timeout = m->cfg.batch_timeout_ms / 1000.0, next_expire = now_s() + 1;
	double report_every = m->cfg.stats_report_interval_ms / 1000.0;
	double next_report = now_s() + report_every, prev_t = now_s();
	struct netprobe_global_stats prev;

	netprobe_manager_global_stats(m, &prev);
	while (!atomic_load(&ev->stop)) {
		/* Sleep in epoll until data, the batch deadline or 100 ms: never spin. */
		double wait = 0.1, t;

		if (ev->pool[ev->current].n)
			wait = ev->current_started + batch_timeout - now_s();
		/* At most 100 ms, so that stop, expiry and reports are never late. */
		if (wait < 0)
			wait = 0;
		else if (wait > 0.1)
			wait = 0.1;
		int err = ring_buffer__poll(ev->rb, (int)(wait * 1000 + 0.999));

		if (err < 0 && err != -EINTR)
			np_warn("events: reading the ring buffer failed: %s", strerror(-err));
		t = now_s();
		if (ev->pool[ev->current].n && t - ev->current_started >= batch_timeout)
			flush_current(ev);
		if (t >= next_expire) {
			if (m->cfg.flow_idle_timeout_ms)
				netprobe_manager_expire_flows(m, m->cfg.flow_idle_timeout_ms);
			/* Expired list entries leave, and the prefixes they covered fall back. */
			netprobe_manager_acl_sweep(m);
			next_expire = t + 1;
		}
		if (report_every > 0 && t >= next_report) {
			report(ev, &prev, &prev_t);
			next_report = t + report_every;
		}
	}
	/* What the kernel committed before the stop is delivered, not dropped. */
	ring_buffer__consume(ev->rb);
	flush_current(ev);
	pthread_mutex_lock(&ev->lock);
	ev->reader_done = true;
	pthread_cond_broadcast(&ev->ready_cv);
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

static void events_free(struct np_events *ev)
{
	if (!ev)
		return;
	ring_buffer__free(ev->rb);
	for (unsigned int i = 0; ev->pool && i < ev->npool; i++) {
		free(ev->pool[i].ptrs);
		free(ev->pool[i].data);
	}
	free(ev->pool);
	free(ev->ready);
	free(ev->free_list);
	pthread_mutex_destroy(&ev->lock);
	pthread_cond_destroy(&ev->ready_cv);
	free(ev);
}

int netprobe_manager_events_start(struct netprobe_manager *m)
{
	struct np_events *ev;
	const struct netprobe_config *cfg;
	int err = -ENOMEM;

	if (!m || !m->maps)
		return -EINVAL;
	if (m->events)
		return -EALREADY;
	cfg = &m->cfg;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->m = m;
	/* A ring buffer has one consumer position: a second reader would steal records. */
	ev->consumer_lock = np_consumer_lock(m);
	if (ev->consumer_lock < 0) {
		err = ev->consumer_lock;
		if (err == -EBUSY)
			np_err("events: another process already reads the events of %s",
			       m->cfg.pin_path);
		free(ev);
		return err;
	}
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->ready_cv, NULL);
	/* Queue capacity, plus one batch per worker in hand, plus the reader's. */
	ev->ready_cap = cfg->event_queue_batches;
	ev->npool = cfg->event_queue_batches + cfg->event_workers + 1;
	ev->pool = calloc(ev->npool, sizeof(*ev->pool));
	ev->ready = calloc(ev->ready_cap, sizeof(*ev->ready));
	ev->free_list = calloc(ev->npool, sizeof(*ev->free_list));
	if (!ev->pool || !ev->ready || !ev->free_list)
		goto fail;
	for (unsigned int i = 0; i < ev->npool; i++) {
		ev->pool[i].ptrs = calloc(cfg->batch_size, sizeof(*ev->pool[i].ptrs));
		ev->pool[i].data = malloc((size_t)cfg->batch_size * NETPROBE_EVENT_MAX_SIZE);
		if (!ev->pool[i].ptrs || !ev->pool[i].data)
			goto fail;
		if (i)
			ev->free_list[ev->nfree++] = i;
	}
	ev->current = 0;
	ev->rb = ring_buffer__new(bpf_map__fd(m->maps->maps.np_events), on_record, ev, NULL);
	if (!ev->rb) {
		err = -errno;
		np_err("events: cannot open the ring buffer: %s", strerror(-err));
		goto fail;
	}
	m->events = ev;
	for (ev->nworkers = 0; ev->nworkers < cfg->event_workers; ev->nworkers++) {
		err = -pthread_create(&ev->workers[ev->nworkers], NULL, worker_main, ev);
		if (err)
			goto fail_threads;
	}
	err = -pthread_create(&ev->reader, NULL, reader_main, ev);
	if (err)
		goto fail_threads;
	return 0;

fail_threads:
	pthread_mutex_lock(&ev->lock);
	ev->reader_done = true;
	pthread_cond_broadcast(&ev->ready_cv);
	pthread_mutex_unlock(&ev->lock);
	for (unsigned int i = 0; i < ev->nworkers; i++)
		pthread_join(ev->workers[i], NULL);
	m->events = NULL;
fail:
	close(ev->consumer_lock);
	events_free(ev);
	return err;
}

void netprobe_manager_events_stop(struct netprobe_manager *m)
{
	struct np_events *ev = m ? m->events : NULL;

	if (!ev)
		return;
	atomic_store(&ev->stop, true);
	pthread_join(ev->reader, NULL);
	for (unsigned int i = 0; i < ev->nworkers; i++)
		pthread_join(ev->workers[i], NULL);
	/* Keep the final counts readable after the stop. */
	/* Totals over every run of the pipeline, like the kernel's counters. */
	m->events_final.received += ev->received;
	m->events_final.generated += ev->generated;
	m->events_final.delivered += ev->delivered;
	m->events_final.queue_lost += ev->queue_lost;
	m->events_final.batches += ev->batches;
	m->events_final.flows_expired += ev->flows_expired;
	close(ev->consumer_lock);
	m->events = NULL;
	events_free(ev);
}

int netprobe_manager_event_stats(struct netprobe_manager *m, struct netprobe_event_stats *out)
{
	struct netprobe_event_counters *percpu;
	__u32 key = 0;

	if (!m || !m->maps || !out)
		return -EINVAL;
	percpu = calloc(m->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(m->maps->maps.np_evstats), &key, percpu)) {
		int err = -errno;

		free(percpu);
		return err;
	}
	*out = m->events_final;
	out->kernel_produced = out->kernel_lost = out->sampled_out = 0;
	for (int cpu = 0; cpu < m->ncpus; cpu++) {
		out->kernel_produced += percpu[cpu].produced;
		out->kernel_lost += percpu[cpu].lost;
		out->sampled_out += percpu[cpu].sampled_out;
	}
	free(percpu);
	if (m->events) {
		struct np_events *ev = m->events;

		out->received += ev->received;
		out->generated += ev->generated;
		out->delivered += ev->delivered;
		out->queue_lost += ev->queue_lost;
		out->batches += ev->batches;
		out->flows_expired += ev->flows_expired;
	}
	return 0;
}

long netprobe_manager_emit_test_events(struct netprobe_manager *m, unsigned int count)
{
	/* The program emits as many events as the frame's first four bytes say. */
	const unsigned int per_run = 1u << 20;
	struct netprobe_event_stats before, after;
	__u32 frame[16] = {};
	int err;

	if (!m || !m->maps || !count || count > (1u << 30))
		return -EINVAL;
	if (!m->test_emitter) {
		struct netprobe_bpf *skel = np_open_sharing_maps(m);

		if (!skel)
			return -errno;
		bpf_program__set_autoload(skel->progs.netprobe_emit_test, true);
		err = netprobe_bpf__load(skel);
		if (err) {
			np_err("cannot load the test event producer (it needs kernel 5.17+): %s",
			       strerror(-err));
			netprobe_bpf__destroy(skel);
			return err;
		}
		m->test_emitter = skel;
	}
	err = netprobe_manager_event_stats(m, &before);
	if (err)
		return err;
	for (unsigned int done = 0; done < count; done += frame[0]) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame,
			    .data_size_in = sizeof(frame), .repeat = 1);

		frame[0] = count - done < per_run ? count - done : per_run;
		if (bpf_prog_test_run_opts(
			    bpf_program__fd(m->test_emitter->progs.netprobe_emit_test), &opts))
			return -errno;
	}
	err = netprobe_manager_event_stats(m, &after);
	return err ? err : (long)(after.kernel_produced - before.kernel_produced);
}

/* Collects idle flows; the walk reads in batches like foreach_flow. */
struct expire_ctx {
	__u64 now, idle_jiffies;
	struct netprobe_flow_event *evs;
	size_t n, cap;
	int err;
};

static int collect_idle(const struct netprobe_flow_key *key, const struct netprobe_flow_stats *st,
			void *arg)
{
	struct expire_ctx *c = arg;

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

int netprobe_manager_expire_flows(struct netprobe_manager *m, unsigned int idle_ms)
{
	struct expire_ctx c = {};
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
		    bpf_map_delete_elem(fd, &c.evs[i].key)) {
			c.evs[i].hdr.type = 0;
			continue;
		}
		c.evs[removed++] = c.evs[i];
	}
	if (m->events) {
		atomic_fetch_add(&m->events->flows_expired, removed);
		if (m->cfg.enable_detailed_events && removed)
			push_generated(m->events, c.evs, removed);
	} else {
		m->events_final.flows_expired += removed;
	}
	free(c.evs);
	return removed;
}
