// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The event pipeline: one reader thread drains the BPF ring buffer into
 * batches (batch_size events, or fewer once batch_timeout_ms has passed) and
 * hands them to worker threads that run the handlers. The reader never waits
 * for a handler: batches wait in a bounded queue, and a batch that finds the
 * queue full is dropped and counted; so is a record no handler could read
 * as its type says (np_event_record_ok). So received equals delivered +
 * queue_lost + malformed, and the kernel counts what it could not commit. The pipeline
 * keeps the settings it started with, and only delivers: periodic work is
 * housekeeping's (housekeeping.c).
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
#include "features/features.h"
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

	/* Settings copied at start: the manager's config may change meanwhile. */
	unsigned int batch_size;
	double batch_timeout_s;
	struct np_handler handlers[NP_MAX_HANDLERS];
	int nhandlers;

	unsigned int current; /* the batch the reader fills; the reader's alone */
	double current_started;

	atomic_ullong received, delivered, queue_lost, batches, malformed;
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
	if (m->nhandlers == NP_MAX_HANDLERS)
		return -ENOSPC;
	m->handlers[m->nhandlers++] = (struct np_handler){type_mask, fn, ctx};
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

bool np_event_record_ok(const void *data, size_t size)
{
	const struct netprobe_event_hdr *h = data;
	size_t least;

	if (size < sizeof(*h) || size > NETPROBE_EVENT_MAX_SIZE || h->size > size)
		return false;
	switch (h->type) {
	case NETPROBE_EVENT_FLOW_START:
	case NETPROBE_EVENT_FLOW_END:
		least = sizeof(struct netprobe_flow_event);
		break;
	case NETPROBE_EVENT_TEST:
		least = sizeof(struct netprobe_test_event);
		break;
	case NETPROBE_EVENT_SECURITY:
		least = sizeof(struct netprobe_security_event);
		break;
	default:
		return false;
	}
	return h->size >= least;
}

/*
 * libbpf calls this for each record the reader drains. Handlers read a
 * record as the struct its type names: one shorter than that (programs of
 * another version sharing the pinned ring buffer) never reaches them.
 */
static int on_record(void *ctx, void *data, size_t size)
{
	struct np_events *ev = ctx;
	struct np_batch *b = &ev->pool[ev->current];

	atomic_fetch_add_explicit(&ev->received, 1, memory_order_relaxed);
	if (!np_event_record_ok(data, size)) {
		atomic_fetch_add_explicit(&ev->malformed, 1, memory_order_relaxed);
		return 0;
	}
	if (b->n == 0)
		ev->current_started = now_s();
	append(b, data, size);
	if (b->n == ev->batch_size)
		flush_current(ev);
	return 0;
}

static void dispatch(struct np_events *ev, struct np_batch *b,
		     const struct netprobe_event_hdr **scratch)
{
	for (int h = 0; h < ev->nhandlers; h++) {
		struct netprobe_event_batch out = {.events = scratch};
		size_t n = 0;

		for (size_t i = 0; i < b->n; i++)
			if (ev->handlers[h].mask & NETPROBE_EVENT_MASK(b->ptrs[i]->type & 31))
				scratch[n++] = b->ptrs[i];
		if (!n)
			continue;
		out.count = n;
		ev->handlers[h].fn(&out, ev->handlers[h].ctx);
	}
	atomic_fetch_add(&ev->delivered, b->n);
	atomic_fetch_add(&ev->batches, 1);
}

static void *worker_main(void *arg)
{
	struct np_events *ev = arg;
	const struct netprobe_event_hdr **scratch =
		calloc(ev->batch_size, sizeof(const struct netprobe_event_hdr *));

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

static void *reader_main(void *arg)
{
	struct np_events *ev = arg;

	while (!atomic_load(&ev->stop)) {
		/* Sleep in epoll until data, the batch deadline or 100 ms: never spin. */
		double wait = 0.1;

		if (ev->pool[ev->current].n)
			wait = ev->current_started + ev->batch_timeout_s - now_s();
		/* At most 100 ms, so that a stop is never late. */
		if (wait < 0)
			wait = 0;
		else if (wait > 0.1)
			wait = 0.1;
		int err = ring_buffer__poll(ev->rb, (int)(wait * 1000 + 0.999));

		if (err < 0 && err != -EINTR)
			np_warn("events: reading the ring buffer failed: %s", strerror(-err));
		if (ev->pool[ev->current].n && now_s() - ev->current_started >= ev->batch_timeout_s)
			flush_current(ev);
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
	return m ? netprobe_manager_events_start_opts(m, &m->opts.events) : -EINVAL;
}

int netprobe_manager_events_start_opts(struct netprobe_manager *m,
				       const struct netprobe_events_opts *opts)
{
	struct netprobe_events_opts settings, *cfg = &settings;
	struct np_events *ev;
	int err = -ENOMEM;

	if (!m || !m->maps)
		return -EINVAL;
	if (m->events)
		return -EALREADY;
	/* Copied: the pipeline sizes its buffers once and keeps what it started with. */
	settings = m->opts.events;
	if (opts) {
		err = np_take_events(&settings, opts);
		if (err)
			return err;
		err = -ENOMEM;
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->m = m;
	ev->batch_size = cfg->batch_size;
	ev->batch_timeout_s = cfg->batch_timeout_ms / 1000.0;
	memcpy(ev->handlers, m->handlers, sizeof(ev->handlers));
	ev->nhandlers = m->nhandlers;
	/* A ring buffer has one consumer position: a second reader would steal records. */
	ev->consumer_lock = np_consumer_lock(m);
	if (ev->consumer_lock < 0) {
		err = ev->consumer_lock;
		if (err == -EBUSY)
			np_err("events: another process already reads the events of %s",
			       m->opts.state.pin_path);
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
		ev->pool[i].ptrs =
			calloc(cfg->batch_size, sizeof(const struct netprobe_event_hdr *));
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
	/* Totals over every run of the pipeline, like the kernel's counters. */
	m->events_final.received += ev->received;
	m->events_final.delivered += ev->delivered;
	m->events_final.queue_lost += ev->queue_lost;
	m->events_final.batches += ev->batches;
	m->events_final.malformed += ev->malformed;
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
	out->flows_expired = __atomic_load_n(&m->flows_expired, __ATOMIC_RELAXED);
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
		out->delivered += ev->delivered;
		out->queue_lost += ev->queue_lost;
		out->batches += ev->batches;
		out->malformed += ev->malformed;
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
		if (!np_kernel_has(NP_KF_LOOP)) {
			np_err("this kernel lacks bpf_loop (Linux %s+), needed by the test event "
			       "producer",
			       np_kernel_feature(NP_KF_LOOP)->since);
			return -EOPNOTSUPP;
		}
		m->test_emitter = np_load_runner(m, "netprobe_emit_test");
		if (!m->test_emitter) {
			err = -errno;
			np_err("cannot load the test event producer (it needs kernel 5.17+): %s",
			       strerror(-err));
			return err;
		}
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
