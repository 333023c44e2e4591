// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * IPFIX (RFC 7011) flow records, encoded by ipfix_encode.c (libfixbuf, into
 * memory, one message at a time) and sent by ipfix_conn.c over UDP or TCP
 * (fixbuf's own sockets block, and the daemon's loop must not). Flows are read from
 * the flow table in batches, never from per-packet events: export costs
 * the datapath nothing. Two ways a record goes out:
 *  - a flow that housekeeping expires (idle past flow_idle_timeout_ms) goes
 *    with its last count (netprobe_manager_on_flow_end): flowEndReason 1;
 *  - a flow that lives on is exported every active_timeout_s, its counts as
 *    deltas since its last record: flowEndReason 2.
 * What was exported of each flow is kept here, by flow key; the sum of a
 * flow's records is its count. Flows the table evicted while full leave no
 * final record (counted in ipfix_flows_evicted). At a stop, what is left
 * goes as forced ends (4); at a start, what the table holds counts as
 * exported: after a clean stop, the time the daemon was not running is
 * what is missing; after a crash, each flow's traffic since its last
 * record too. Timers change in place (ipfix_retime).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <glib.h>
#include "daemon.h"

enum end_reason { END_IDLE = 1, END_ACTIVE = 2, END_FORCED = 4 };

/* What was exported of one flow. */
struct exported {
	struct netprobe_flow_key key;
	unsigned long long first_seen; /* of the flow it was: a key may come back as another */
	unsigned long long packets, bytes;
	unsigned long long last_ms; /* end of its last record: where the next starts */
	double next_s;		    /* when its next active record is due */
	unsigned int seen;	    /* the scan that last saw it */
};

struct ipfix {
	struct netprobe_manager *m;
	struct daemon_ipfix_opts opts;
	struct ipfix_enc *enc;
	struct ipfix_conn *conn;
	struct pollfd pfd; /* what the conn waits for */
	GHashTable *flows; /* struct netprobe_flow_key -> struct exported */
	double next_templates;
	unsigned int scan;
	unsigned int seen; /* flows the scan has seen: all that are known, none gone */
	bool walking;	   /* housekeeping's walk under way */
	double walk_now;   /* when it began */
	unsigned long long walk_real_ms; /* the same, wall time: what idle flows are measured by */
	struct ipfix_stats stats;	 /* evicted; the encoder and the conn count the rest */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Eight bytes a step (a walk hashes every flow of the table): multiply, fold. */
static guint key_hash(gconstpointer p)
{
	const unsigned char *b = p;
	uint64_t h = 0x9e3779b97f4a7c15ull, w;
	size_t i;

	_Static_assert(sizeof(struct netprobe_flow_key) % 4 == 0, "whole words");
	for (i = 0; i + 8 <= sizeof(struct netprobe_flow_key); i += 8) {
		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 29;
	}
	if (i < sizeof(struct netprobe_flow_key)) {
		uint32_t tail;

		memcpy(&tail, b + i, 4);
		h = (h ^ tail) * 0xff51afd7ed558ccdull;
	}
	return (guint)(h ^ h >> 32);
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
	return !memcmp(a, b, sizeof(struct netprobe_flow_key));
}

/* The encoder's messages go to the collector's connection. */
static void to_conn(void *ctx, const void *msg, size_t len, unsigned int records, bool templates)
{
	struct ipfix *x = ctx;

	ipfix_conn_send(x->conn, msg, len, records, templates);
}

/* ---- Records ---- */

static unsigned long long flow_ms(struct ipfix *x, unsigned long long jiffies)
{
	return netprobe_manager_flow_time_ns(x->m, jiffies) / 1000000ull;
}

/*
 * Appends one record: the counts from (pkts, bytes) on, from start_ms to
 * end_ms, the flow's last packet. False when the record could not be added.
 */
static bool append(struct ipfix *x, const struct netprobe_flow_key *k,
		   const struct netprobe_flow_stats *s, unsigned long long packets,
		   unsigned long long bytes, unsigned long long start_ms, unsigned long long end_ms,
		   enum end_reason reason)
{
	struct ipfix_flow_record r = {.key = *k,
				      .tcp_flags = s->tcp_flags,
				      .packets = packets,
				      .bytes = bytes,
				      .start_ms = start_ms,
				      .end_ms = end_ms,
				      .end_reason = reason};

	return ipfix_enc_record(x->enc, &r);
}

/*
 * Whether e is the record of the flow s is, not of an earlier flow of the
 * same key that left the table (evicted, or removed by another process) and
 * came back: that one's tail is lost, counted; this one starts from zero.
 */
static bool same_flow(struct ipfix *x, struct exported *e, const struct netprobe_flow_stats *s)
{
	if (e->first_seen == s->first_seen && s->packets >= e->packets)
		return true;
	x->stats.evicted++;
	e->first_seen = s->first_seen;
	e->packets = e->bytes = e->last_ms = 0;
	return false;
}

/* What is new of a flow since its last record goes out now. */
static void export_delta(struct ipfix *x, const struct netprobe_flow_key *k,
			 const struct netprobe_flow_stats *s, struct exported *e,
			 enum end_reason reason)
{
	unsigned long long packets, bytes, start, end;

	if (e)
		same_flow(x, e, s);
	packets = s->packets - (e ? e->packets : 0);
	bytes = s->bytes - (e ? e->bytes : 0);
	/* Nothing new since its last record (quiet, or counted before a restart): none. */
	if (!packets)
		return;
	end = flow_ms(x, s->last_seen);
	start = e && e->last_ms ? e->last_ms + 1 : flow_ms(x, s->first_seen);
	/* New packets in the same tick as the last record's end: start is that end. */
	if (start > end)
		start = end;
	if (append(x, k, s, packets, bytes, start, end, reason) && e) {
		e->packets = s->packets;
		e->bytes = s->bytes;
		e->last_ms = end;
	}
}

/* Housekeeping removed a flow: its last record. */
static void on_flow_end(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *s,
			void *ctx)
{
	struct ipfix *x = ctx;
	struct exported *e = g_hash_table_lookup(x->flows, k);

	export_delta(x, k, s, e, END_IDLE);
	if (e)
		g_hash_table_remove(x->flows, k);
}

/* ---- The scan: active timeouts ---- */

/* Idle past the timeout: expiry removes it right after this walk, with its last record. */
static bool idle(struct ipfix *x, const struct netprobe_flow_stats *s)
{
	return x->opts.flow_idle_timeout_ms &&
	       x->walk_real_ms >= flow_ms(x, s->last_seen) + x->opts.flow_idle_timeout_ms;
}

enum scan_mode {
	SCAN_PRIME,  /* a start: what the table holds counts as exported */
	SCAN_ACTIVE, /* flows due get their active record */
	SCAN_FORCED, /* a stop: what is new of every flow goes */
};

struct scan_ctx {
	struct ipfix *x;
	double now;
	enum scan_mode mode;
};

static int scan_flow(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *s,
		     void *ctx)
{
	struct scan_ctx *c = ctx;
	struct ipfix *x = c->x;
	struct exported *e = g_hash_table_lookup(x->flows, k);

	if (!e) {
		e = g_new0(struct exported, 1);
		e->key = *k;
		e->first_seen = s->first_seen;
		e->next_s = c->now + x->opts.active_timeout_s;
		if (c->mode == SCAN_PRIME) {
			e->packets = s->packets;
			e->bytes = s->bytes;
			e->last_ms = flow_ms(x, s->last_seen);
		}
		g_hash_table_insert(x->flows, &e->key, e);
	}
	x->seen += e->seen != x->scan;
	e->seen = x->scan;
	if (c->mode == SCAN_FORCED) {
		export_delta(x, k, s, e, END_FORCED);
	} else if (c->mode == SCAN_ACTIVE && c->now >= e->next_s && !idle(x, s)) {
		export_delta(x, k, s, e, END_ACTIVE);
		e->next_s = c->now + x->opts.active_timeout_s;
	}
	return 0;
}

static void new_scan(struct ipfix *x)
{
	x->scan++;
	x->seen = 0;
}

/* Flows no scan saw again left the table without expiry: evicted, the table full. */
static gboolean gone(gpointer key, gpointer value, gpointer ctx)
{
	struct ipfix *x = ctx;
	const struct exported *e = value;

	(void)key;
	if (e->seen == x->scan)
		return FALSE;
	x->stats.evicted++;
	return TRUE;
}

/* After a scan: what it did not see is gone (a walk of every flow known, unless it saw them all). */
static void forget_gone(struct ipfix *x)
{
	if (x->seen < g_hash_table_size(x->flows))
		g_hash_table_foreach_remove(x->flows, gone, x);
}

/*
 * Housekeeping's walk of the table (netprobe_manager_on_flow_walk): every
 * flow, then NULL at its end. Active records ride on the read it makes
 * anyway: at most one walk late (a tenth of the idle timeout, 1 to 10 s).
 */
static int walk_flow(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *s,
		     void *ctx)
{
	struct ipfix *x = ctx;
	struct scan_ctx c = {.x = x, .mode = SCAN_ACTIVE};

	if (!k) {
		if (!x->walking)
			new_scan(x); /* an empty table: every flow known left */
		/* Flows this walk did not see left without expiry: evicted. */
		forget_gone(x);
		x->walking = false;
		ipfix_enc_flush(x->enc);
		return 0;
	}
	if (!x->walking) {
		struct timespec ts;

		x->walking = true;
		new_scan(x);
		x->walk_now = now_s();
		clock_gettime(CLOCK_REALTIME, &ts);
		x->walk_real_ms = ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
	}
	c.now = x->walk_now;
	return scan_flow(k, s, &c);
}

static void scan(struct ipfix *x, enum scan_mode mode)
{
	struct scan_ctx c = {.x = x, .now = now_s(), .mode = mode};

	new_scan(x);
	if (netprobe_manager_foreach_flow(x->m, scan_flow, &c))
		return;
	forget_gone(x);
}

double ipfix_tick(struct ipfix *x)
{
	double now = now_s(), wait, conn_wait;

	if (!x)
		return 3600;
	/* Over UDP the collector may have lost or never had them: sent again on a schedule. */
	if (!x->opts.tcp && now >= x->next_templates) {
		ipfix_enc_templates(x->enc);
		x->next_templates = now + x->opts.template_refresh_s;
	}
	/* A walk that failed half way never said its end: the next one starts afresh. */
	x->walking = false;
	ipfix_enc_flush(x->enc); /* with what housekeeping's walk and expiry appended since */
	conn_wait = ipfix_conn_tick(x->conn, &x->pfd);
	wait = x->opts.tcp ? 3600 : x->next_templates - now;
	return conn_wait < wait ? conn_wait : wait;
}

void ipfix_pollfd(const struct ipfix *x, struct pollfd *pfd)
{
	if (x)
		*pfd = x->pfd;
	else
		*pfd = (struct pollfd){.fd = -1};
}

void ipfix_retime(struct ipfix *x, const struct daemon_ipfix_opts *opts)
{
	if (!x)
		return;
	x->opts.active_timeout_s = opts->active_timeout_s;
	x->opts.template_refresh_s = opts->template_refresh_s;
	x->opts.flow_idle_timeout_ms = opts->flow_idle_timeout_ms;
}

void ipfix_stats_add(struct ipfix_stats *to, const struct ipfix_stats *from)
{
	to->records += from->records;
	to->failed += from->failed;
	to->evicted += from->evicted;
	to->conn.sent += from->conn.sent;
	to->conn.lost += from->conn.lost;
	to->conn.messages += from->conn.messages;
	to->conn.connects += from->conn.connects;
	to->conn.overflows += from->conn.overflows;
}

void ipfix_stats(const struct ipfix *x, struct ipfix_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!x)
		return;
	*out = x->stats;
	if (x->enc)
		ipfix_enc_counts(x->enc, &out->records, &out->failed);
	if (x->conn)
		ipfix_conn_stats(x->conn, &out->conn);
}

/* ---- Start and stop ---- */

struct ipfix *ipfix_start(const struct daemon_ipfix_opts *opts, struct netprobe_manager *m)
{
	struct ipfix *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->m = m;
	x->opts = *opts;
	x->pfd.fd = -1;
	x->conn = ipfix_conn_new(opts->collector, opts->tcp, IPFIX_QUEUE_MAX);
	if (!x->conn)
		goto fail;
	x->enc = ipfix_enc_new(opts->observation_domain, opts->tcp, to_conn, x);
	if (!x->enc)
		goto fail;
	x->flows = g_hash_table_new_full(key_hash, key_equal, NULL, g_free);
	/* Templates before any record: a collector drops data of a template it does not know. */
	if (!ipfix_enc_templates(x->enc))
		goto fail;
	x->next_templates = now_s() + opts->template_refresh_s;
	ipfix_conn_tick(x->conn, &x->pfd);
	/* What the table holds now was exported before (or is the past of a restart). */
	scan(x, SCAN_PRIME);
	netprobe_manager_on_flow_end(m, on_flow_end, x);
	netprobe_manager_on_flow_walk(m, walk_flow, x);
	if (opts->tcp)
		dlog(NETPROBE_LOG_INFO,
		     "ipfix: to %s over TCP, active timeout %u s, %u flows known", opts->collector,
		     opts->active_timeout_s, g_hash_table_size(x->flows));
	else
		dlog(NETPROBE_LOG_INFO,
		     "ipfix: to %s over UDP, active timeout %u s, templates every %u s, %u flows "
		     "known",
		     opts->collector, opts->active_timeout_s, opts->template_refresh_s,
		     g_hash_table_size(x->flows));
	return x;
fail:
	ipfix_stop(x, false, NULL);
	return NULL;
}

void ipfix_stop(struct ipfix *x, bool flush, struct ipfix_stats *final)
{
	if (final)
		memset(final, 0, sizeof(*final));
	if (!x)
		return;
	if (x->m) {
		netprobe_manager_on_flow_end(x->m, NULL, NULL);
		netprobe_manager_on_flow_walk(x->m, NULL, NULL);
	}
	if (flush && x->enc && x->flows && x->conn) {
		scan(x, SCAN_FORCED);
		ipfix_enc_flush(x->enc);
	}
	/* What waits gets a moment to go: a stop or a reload must not hang on a collector. */
	ipfix_conn_free(x->conn, flush ? 2.0 : 0, final ? &final->conn : NULL);
	if (final) {
		struct ipfix_conn_stats conn = final->conn;

		*final = x->stats;
		if (x->enc)
			ipfix_enc_counts(x->enc, &final->records, &final->failed);
		final->conn = conn;
	}
	ipfix_enc_free(x->enc);
	if (x->flows)
		g_hash_table_destroy(x->flows);
	free(x);
}
