// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * IPFIX (RFC 7011) messages of flow records, encoded with libfixbuf into
 * memory, one message at a time, each handed to a sink (ipfix.c's: the
 * transport, ipfix_conn.c; the fuzz target's: fixbuf's own decoder). Two
 * templates, IPv4 and IPv6, whose records are the structs below.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <fixbuf/public.h>
#include "daemon.h"

/* A message's most: a UDP datagram that needs no fragmenting; over TCP, fewer sends. */
#define MSG_MAX_UDP 1420
#define MSG_MAX_TCP 65000

/*
 * Records as their templates lay them out: largest fields first, padded to
 * 8. Every size is written out: fixbuf takes none by default for a record
 * in memory (a model's default changing would shift the struct).
 */
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

struct ipfix_enc {
	fbInfoModel_t *model;
	fbSession_t *session;
	fbExporter_t *exporter; /* until the buffer owns it */
	fBuf_t *buf;
	ipfix_sink_fn sink;
	void *ctx;
	unsigned int msg_records; /* in the message being built */
	uint16_t tid;		  /* the template the buffer is set to; 0: set it again */
	bool dirty;		  /* records appended, not yet emitted */
	unsigned long long records, failed;
	uint8_t msg[MSG_MAX_TCP]; /* where fixbuf writes each message */
};

static void say(const char *what, GError *err)
{
	dlog(NETPROBE_LOG_ERROR, "ipfix: %s: %s", what, err ? err->message : "failed");
	g_clear_error(&err);
}

/*
 * The message fixbuf built goes to the sink. fixbuf writes it into e->msg
 * (its buffer exporter); the version field, zeroed first, says whether it
 * wrote one, and the header's length how long it is.
 */
static void emit_message(struct ipfix_enc *e, bool templates)
{
	GError *err = NULL;
	uint16_t len;

	e->msg[0] = e->msg[1] = 0;
	if (!fBufEmit(e->buf, &err)) {
		e->failed += e->msg_records; /* encoded, and failed after all */
		e->records -= e->msg_records;
		say("a message", err);
	} else if (e->msg[0] == 0 && e->msg[1] == 10) {
		memcpy(&len, e->msg + 2, 2);
		e->sink(e->ctx, e->msg, ntohs(len), e->msg_records, templates);
	}
	e->msg_records = 0;
	e->dirty = false;
	e->tid = 0;
}

void ipfix_enc_flush(struct ipfix_enc *e)
{
	if (e->dirty)
		emit_message(e, false);
}

bool ipfix_enc_templates(struct ipfix_enc *e)
{
	GError *err = NULL;

	ipfix_enc_flush(e);
	/* After data, fixbuf wants a message of their own: the first try ends the last one. */
	if (!fbSessionExportTemplates(e->session, &err) &&
	    g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOM)) {
		g_clear_error(&err);
		emit_message(e, false);
		fbSessionExportTemplates(e->session, &err);
	}
	if (err) {
		say("templates", err);
		return false;
	}
	emit_message(e, true);
	return true;
}

/* One record of template tid; a full message goes out and the record starts the next. */
static bool put_record(struct ipfix_enc *e, uint16_t tid, const void *rec, size_t size)
{
	for (int try = 0; try < 2; try++) {
		GError *err = NULL;

		/* Set once a run of one family, not per record: a lookup in the session each. */
		if ((e->tid == tid || (fBufSetInternalTemplate(e->buf, tid, &err) &&
				       fBufSetExportTemplate(e->buf, tid, &err))) &&
		    fBufAppend(e->buf, (uint8_t *)rec, size, &err)) {
			e->tid = tid;
			e->msg_records++;
			e->dirty = true;
			return true;
		}
		e->tid = 0;
		if (try || !g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOM)) {
			say("a record", err);
			return false;
		}
		g_clear_error(&err);
		emit_message(e, false);
	}
	return false;
}

bool ipfix_enc_record(struct ipfix_enc *e, const struct ipfix_flow_record *f)
{
	const struct netprobe_flow_key *k = &f->key;
	bool icmp = k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6;
	bool in = k->direction == NETPROBE_DIR_INGRESS;
	struct ipfix_rec_tail t = {.ingress = in ? k->ifindex : 0,
				   .egress = in ? 0 : k->ifindex,
				   .sport = icmp ? 0 : ntohs(k->src_port),
				   .dport = icmp ? 0 : ntohs(k->dst_port),
				   .icmp_type_code = icmp ? ntohs(k->dst_port) : 0,
				   .tcp_flags = f->tcp_flags,
				   .proto = k->proto,
				   .direction = in ? 0 : 1,
				   .end_reason = f->end_reason};
	bool ok;

	if (k->family == NETPROBE_FAMILY_IPV4) {
		struct ipfix_rec4 r = {f->start_ms, f->end_ms, f->bytes, f->packets, 0, 0, t};

		memcpy(&r.src, k->src_addr, 4);
		memcpy(&r.dst, k->dst_addr, 4);
		r.src = ntohl(r.src);
		r.dst = ntohl(r.dst);
		ok = put_record(e, IPFIX_TID_V4, &r, sizeof(r));
	} else {
		struct ipfix_rec6 r = {f->start_ms, f->end_ms, f->bytes, f->packets, {0}, {0}, t};

		memcpy(r.src, k->src_addr, 16);
		memcpy(r.dst, k->dst_addr, 16);
		ok = put_record(e, IPFIX_TID_V6, &r, sizeof(r));
	}
	if (ok)
		e->records++;
	else
		e->failed++;
	return ok;
}

void ipfix_enc_counts(const struct ipfix_enc *e, unsigned long long *records,
		      unsigned long long *failed)
{
	*records = e->records;
	*failed = e->failed;
}

static bool template(struct ipfix_enc *e, fbInfoElementSpec_t *spec, uint16_t tid,
		     size_t record_size)
{
	fbTemplate_t *t = fbTemplateAlloc(e->model);
	GError *err = NULL;

	if (!fbTemplateAppendSpecArray(t, spec, UINT32_MAX, &err)) {
		say("a template", err);
		fbTemplateFreeUnused(t);
		return false;
	}
	/* The struct is the record: a field of another size in the model would shift the rest. */
	if (fbTemplateGetIELenOfMemBuffer(t) != record_size) {
		dlog(NETPROBE_LOG_ERROR, "ipfix: template %u is %u bytes, its record %zu", tid,
		     fbTemplateGetIELenOfMemBuffer(t), record_size);
		fbTemplateFreeUnused(t);
		return false;
	}
	if (!fbSessionAddTemplate(e->session, TRUE, tid, t, &err) ||
	    !fbSessionAddTemplate(e->session, FALSE, tid, t, &err)) {
		say("a template", err);
		return false;
	}
	return true;
}

struct ipfix_enc *ipfix_enc_new(uint32_t domain, bool tcp, ipfix_sink_fn sink, void *ctx)
{
	struct ipfix_enc *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->sink = sink;
	e->ctx = ctx;
	e->model = fbInfoModelAlloc();
	e->session = fbSessionAlloc(e->model);
	fbSessionSetDomain(e->session, domain);
	if (!template(e, spec4, IPFIX_TID_V4, sizeof(struct ipfix_rec4)) ||
	    !template(e, spec6, IPFIX_TID_V6, sizeof(struct ipfix_rec6)))
		goto fail;
	e->exporter = fbExporterAllocBuffer(e->msg, tcp ? MSG_MAX_TCP : MSG_MAX_UDP);
	e->buf = fBufAllocForExport(e->session, e->exporter);
	if (!e->buf) {
		say("buffer", NULL);
		goto fail;
	}
	/* The buffer owns the session and the exporter from here. */
	e->exporter = NULL;
	/* A full message is ours to hand on (put_record), not fixbuf's to write over. */
	fBufSetAutomaticMode(e->buf, FALSE);
	return e;
fail:
	ipfix_enc_free(e);
	return NULL;
}

void ipfix_enc_free(struct ipfix_enc *e)
{
	if (!e)
		return;
	if (e->buf)
		fBufFree(e->buf); /* its session and exporter with it */
	else if (e->session)
		fbSessionFree(e->session);
	if (e->exporter)
		fbExporterClose(e->exporter);
	if (e->model)
		fbInfoModelFree(e->model);
	free(e);
}
