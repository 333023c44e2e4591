// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * IPFIX (RFC 7011) flow records, encoded with libfixbuf into memory, one
 * message at a time, and sent by ipfix_conn.c over UDP or TCP (fixbuf's
 * own sockets block, and the daemon's loop must not). Flows are read from
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
#include <fixbuf/public.h>
#include "daemon.h"

#define TID_V4 256
#define TID_V6 257

/* A message's most: a UDP datagram that needs no fragmenting; over TCP, fewer sends. */
#define MSG_MAX_UDP 1420
#define MSG_MAX_TCP 65000

enum end_reason { END_IDLE = 1, END_ACTIVE = 2, END_FORCED = 4 };

/*
 * Records as their templates lay them out: largest fields first, padded to
 * 8. Every size is written out: fixbuf takes none by default for a record
 * in memory (a model's default changing would shift the struct).
 */
/* What both families' records end with. */
struct rec_tail {
	uint32_t ingress, egress;
	uint16_t sport, dport, icmp_type_code, tcp_flags;
	uint8_t proto, direction, end_reason, pad[5];
};

struct rec4 {
	uint64_t start_ms, end_ms, octets, packets;
	uint32_t src, dst; /* host order, as fixbuf wants IPv4 addresses */
	struct rec_tail t;
};

struct rec6 {
	uint64_t start_ms, end_ms, octets, packets;
	uint8_t src[16], dst[16];
	struct rec_tail t;
};

/* Both templates, in their records' order; the families differ in addresses and ICMP. */
#define FLOW_SPEC(FAMILY, ADDR_LEN)                                                                \
	{                                                                                          \
		{"flowStartMilliseconds", 8, 0}, {"flowEndMilliseconds", 8, 0},                    \
			{"octetDeltaCount", 8, 0}, {"packetDeltaCount", 8, 0},                     \
			{"source" FAMILY "Address", ADDR_LEN, 0},                                  \
			{"destination" FAMILY "Address", ADDR_LEN, 0}, {"ingressInterface", 4, 0}, \
			{"egressInterface", 4, 0}, {"sourceTransportPort", 2, 0},                  \
			{"destinationTransportPort", 2, 0}, {"icmpTypeCode" FAMILY, 2, 0},         \
			{"tcpControlBits", 2, 0}, {"protocolIdentifier", 1, 0},                    \
			{"flowDirection", 1, 0}, {"flowEndReason", 1, 0}, {"paddingOctets", 5, 0}, \
			FB_IESPEC_NULL                                                             \
	}

static fbInfoElementSpec_t spec4[] = FLOW_SPEC("IPv4", 4);
static fbInfoElementSpec_t spec6[] = FLOW_SPEC("IPv6", 16);

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
	fbInfoModel_t *model;
	fbSession_t *session;
	fbExporter_t *exporter;
	fBuf_t *buf;
	struct ipfix_conn *conn;
	struct pollfd pfd;	  /* what the conn waits for */
	unsigned int msg_records; /* in the message being built */
	uint8_t msg[MSG_MAX_TCP]; /* where fixbuf writes each message */
	GHashTable *flows;	  /* struct netprobe_flow_key -> struct exported */
	double next_templates;
	unsigned int scan;
	bool walking;	 /* housekeeping's walk under way */
	double walk_now; /* when it began */
	struct ipfix_stats stats;
	bool dirty; /* records appended, not yet emitted */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static guint key_hash(gconstpointer p)
{
	const unsigned char *b = p;
	guint h = 2166136261u;

	for (size_t i = 0; i < sizeof(struct netprobe_flow_key); i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
	return !memcmp(a, b, sizeof(struct netprobe_flow_key));
}

static void say(const char *what, GError *err)
{
	dlog(NETPROBE_LOG_ERROR, "ipfix: %s: %s", what, err ? err->message : "failed");
	g_clear_error(&err);
}

/* ---- Messages ---- */

/*
 * The message fixbuf built goes to the conn. fixbuf writes it into x->msg
 * (its buffer exporter); the version field, zeroed first, says whether it
 * wrote one, and the header's length how long it is.
 */
static void emit_message(struct ipfix *x, bool templates)
{
	GError *err = NULL;
	uint16_t len;

	x->msg[0] = x->msg[1] = 0;
	if (!fBufEmit(x->buf, &err)) {
		x->stats.failed += x->msg_records; /* encoded, and failed after all */
		x->stats.records -= x->msg_records;
		say("a message", err);
	} else if (x->msg[0] == 0 && x->msg[1] == 10) {
		memcpy(&len, x->msg + 2, 2);
		ipfix_conn_send(x->conn, x->msg, ntohs(len), x->msg_records, templates);
	}
	x->msg_records = 0;
	x->dirty = false;
}

static void emit(struct ipfix *x)
{
	if (x->dirty)
		emit_message(x, false);
}

/* The templates, in a message of their own (data waiting goes first); false if they failed. */
static bool emit_templates(struct ipfix *x)
{
	GError *err = NULL;

	emit(x);
	/* After data, fixbuf wants a message of their own: the first try ends the last one. */
	if (!fbSessionExportTemplates(x->session, &err) &&
	    g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOM)) {
		g_clear_error(&err);
		emit_message(x, false);
		fbSessionExportTemplates(x->session, &err);
	}
	if (err) {
		say("templates", err);
		return false;
	}
	emit_message(x, true);
	return true;
}

/* One record of template tid; a full message goes out and the record starts the next. */
static bool put_record(struct ipfix *x, uint16_t tid, const void *rec, size_t size)
{
	for (int try = 0; try < 2; try++) {
		GError *err = NULL;

		if (fBufSetInternalTemplate(x->buf, tid, &err) &&
		    fBufSetExportTemplate(x->buf, tid, &err) &&
		    fBufAppend(x->buf, (uint8_t *)rec, size, &err)) {
			x->msg_records++;
			x->dirty = true;
			return true;
		}
		if (try || !g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOM)) {
			say("a record", err);
			return false;
		}
		g_clear_error(&err);
		emit_message(x, false);
	}
	return false;
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
	bool icmp = k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6;
	bool in = k->direction == NETPROBE_DIR_INGRESS;
	struct rec_tail t = {.ingress = in ? k->ifindex : 0,
			     .egress = in ? 0 : k->ifindex,
			     .sport = icmp ? 0 : ntohs(k->src_port),
			     .dport = icmp ? 0 : ntohs(k->dst_port),
			     .icmp_type_code = icmp ? ntohs(k->dst_port) : 0,
			     .tcp_flags = s->tcp_flags,
			     .proto = k->proto,
			     .direction = in ? 0 : 1,
			     .end_reason = reason};
	bool ok;

	if (k->family == NETPROBE_FAMILY_IPV4) {
		struct rec4 r = {start_ms, end_ms, bytes, packets, 0, 0, t};

		memcpy(&r.src, k->src_addr, 4);
		memcpy(&r.dst, k->dst_addr, 4);
		r.src = ntohl(r.src);
		r.dst = ntohl(r.dst);
		ok = put_record(x, TID_V4, &r, sizeof(r));
	} else {
		struct rec6 r = {start_ms, end_ms, bytes, packets, {0}, {0}, t};

		memcpy(r.src, k->src_addr, 16);
		memcpy(r.dst, k->dst_addr, 16);
		ok = put_record(x, TID_V6, &r, sizeof(r));
	}
	if (!ok) {
		x->stats.failed++;
		return false;
	}
	x->stats.records++;
	return true;
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
	struct timespec ts;
	unsigned long long now_ms;

	if (!x->opts.flow_idle_timeout_ms)
		return false;
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
	return now_ms >= flow_ms(x, s->last_seen) + x->opts.flow_idle_timeout_ms;
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
	e->seen = x->scan;
	if (c->mode == SCAN_FORCED) {
		export_delta(x, k, s, e, END_FORCED);
	} else if (c->mode == SCAN_ACTIVE && c->now >= e->next_s && !idle(x, s)) {
		export_delta(x, k, s, e, END_ACTIVE);
		e->next_s = c->now + x->opts.active_timeout_s;
	}
	return 0;
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
			x->scan++; /* an empty table: every flow known left */
		/* Flows this walk did not see left without expiry: evicted. */
		g_hash_table_foreach_remove(x->flows, gone, x);
		x->walking = false;
		emit(x);
		return 0;
	}
	if (!x->walking) {
		x->walking = true;
		x->scan++;
		x->walk_now = now_s();
	}
	c.now = x->walk_now;
	return scan_flow(k, s, &c);
}

static void scan(struct ipfix *x, enum scan_mode mode)
{
	struct scan_ctx c = {.x = x, .now = now_s(), .mode = mode};

	x->scan++;
	if (netprobe_manager_foreach_flow(x->m, scan_flow, &c))
		return;
	g_hash_table_foreach_remove(x->flows, gone, x);
}

double ipfix_tick(struct ipfix *x)
{
	double now = now_s(), wait, conn_wait;

	if (!x)
		return 3600;
	/* Over UDP the collector may have lost or never had them: sent again on a schedule. */
	if (!x->opts.tcp && now >= x->next_templates) {
		emit_templates(x);
		x->next_templates = now + x->opts.template_refresh_s;
	}
	/* A walk that failed half way never said its end: the next one starts afresh. */
	x->walking = false;
	emit(x); /* with what housekeeping's walk and expiry appended since */
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
	if (x->conn)
		ipfix_conn_stats(x->conn, &out->conn);
}

/* ---- Start and stop ---- */

static fbTemplate_t *template(struct ipfix *x, fbInfoElementSpec_t *spec, uint16_t tid,
			      size_t record_size)
{
	fbTemplate_t *t = fbTemplateAlloc(x->model);
	GError *err = NULL;

	if (!fbTemplateAppendSpecArray(t, spec, UINT32_MAX, &err)) {
		say("a template", err);
		fbTemplateFreeUnused(t);
		return NULL;
	}
	/* The struct is the record: a field of another size in the model would shift the rest. */
	if (fbTemplateGetIELenOfMemBuffer(t) != record_size) {
		dlog(NETPROBE_LOG_ERROR, "ipfix: template %u is %u bytes, its record %zu", tid,
		     fbTemplateGetIELenOfMemBuffer(t), record_size);
		fbTemplateFreeUnused(t);
		return NULL;
	}
	if (!fbSessionAddTemplate(x->session, TRUE, tid, t, &err) ||
	    !fbSessionAddTemplate(x->session, FALSE, tid, t, &err)) {
		say("a template", err);
		return NULL;
	}
	return t;
}

struct ipfix *ipfix_start(const struct daemon_ipfix_opts *opts, struct netprobe_manager *m)
{
	struct ipfix *x = calloc(1, sizeof(*x));
	GError *err = NULL;

	if (!x)
		return NULL;
	x->m = m;
	x->opts = *opts;
	x->pfd.fd = -1;
	x->conn = ipfix_conn_new(opts->collector, opts->tcp, IPFIX_QUEUE_MAX);
	if (!x->conn)
		goto fail;
	x->model = fbInfoModelAlloc();
	x->session = fbSessionAlloc(x->model);
	fbSessionSetDomain(x->session, opts->observation_domain);
	if (!template(x, spec4, TID_V4, sizeof(struct rec4)) ||
	    !template(x, spec6, TID_V6, sizeof(struct rec6)))
		goto fail;
	x->exporter = fbExporterAllocBuffer(x->msg, opts->tcp ? MSG_MAX_TCP : MSG_MAX_UDP);
	x->buf = fBufAllocForExport(x->session, x->exporter);
	if (!x->buf) {
		say("buffer", err);
		goto fail;
	}
	/* The buffer owns the session and the exporter from here. */
	x->exporter = NULL;
	/* A full message is ours to hand on (put_record), not fixbuf's to write over. */
	fBufSetAutomaticMode(x->buf, FALSE);
	x->flows = g_hash_table_new_full(key_hash, key_equal, NULL, g_free);
	/* Templates before any record: a collector drops data of a template it does not know. */
	if (!emit_templates(x))
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
	if (flush && x->buf && x->flows && x->conn) {
		scan(x, SCAN_FORCED);
		emit(x);
	}
	/* What waits gets a moment to go: a stop or a reload must not hang on a collector. */
	ipfix_conn_free(x->conn, flush ? 2.0 : 0, final ? &final->conn : NULL);
	if (final) {
		struct ipfix_conn_stats conn = final->conn;

		*final = x->stats;
		final->conn = conn;
	}
	if (x->buf)
		fBufFree(x->buf); /* its session and exporter with it */
	else if (x->session)
		fbSessionFree(x->session);
	if (x->exporter)
		fbExporterClose(x->exporter);
	if (x->flows)
		g_hash_table_destroy(x->flows);
	if (x->model)
		fbInfoModelFree(x->model);
	free(x);
}
