// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: IPFIX messages of arbitrary flow records (ipfix_enc_record): decoded by fixbuf's own reader, every field as it went in; RFC 7011 headers and sequence numbers
/*
 * IPFIX encoding of arbitrary flow records: the input's first byte picks
 * UDP or TCP sizes, the rest is records (struct ipfix_flow_record, raw).
 * Every message is decoded again by libfixbuf's collection side, with
 * templates written here from the IANA element names (not the encoder's),
 * and each record must come back field for field; each message's header
 * must say version 10, its own length, the domain, and as sequence number
 * the count of data records sent before it (RFC 7011, 3.1).
 */
#include <arpa/inet.h>
#include <fixbuf/public.h>
#include "daemon.h"
#include "fuzz.h"

#define DOMAIN	    4242
#define MAX_RECORDS 256

/*
 * The records' elements written out by their IANA names, one family at a
 * time: the reader's own statement of the format, not the encoder's macro.
 */
static fbInfoElementSpec_t read4[] = {
	{"flowStartMilliseconds", 8, 0},
	{"flowEndMilliseconds", 8, 0},
	{"octetDeltaCount", 8, 0},
	{"packetDeltaCount", 8, 0},
	{"sourceIPv4Address", 4, 0},
	{"destinationIPv4Address", 4, 0},
	{"ingressInterface", 4, 0},
	{"egressInterface", 4, 0},
	{"sourceTransportPort", 2, 0},
	{"destinationTransportPort", 2, 0},
	{"icmpTypeCodeIPv4", 2, 0},
	{"tcpControlBits", 2, 0},
	{"protocolIdentifier", 1, 0},
	{"flowDirection", 1, 0},
	{"flowEndReason", 1, 0},
	{"paddingOctets", 5, 0},
	FB_IESPEC_NULL,
};
static fbInfoElementSpec_t read6[] = {
	{"flowStartMilliseconds", 8, 0},
	{"flowEndMilliseconds", 8, 0},
	{"octetDeltaCount", 8, 0},
	{"packetDeltaCount", 8, 0},
	{"sourceIPv6Address", 16, 0},
	{"destinationIPv6Address", 16, 0},
	{"ingressInterface", 4, 0},
	{"egressInterface", 4, 0},
	{"sourceTransportPort", 2, 0},
	{"destinationTransportPort", 2, 0},
	{"icmpTypeCodeIPv6", 2, 0},
	{"tcpControlBits", 2, 0},
	{"protocolIdentifier", 1, 0},
	{"flowDirection", 1, 0},
	{"flowEndReason", 1, 0},
	{"paddingOctets", 5, 0},
	FB_IESPEC_NULL,
};

struct run {
	bool tcp;
	struct ipfix_flow_record in[MAX_RECORDS];
	size_t n_in, n_out;
	unsigned long long data_records; /* sent before the message now arriving */
	fbInfoModel_t *model;
	fBuf_t *reader;
};

static void add_template(fbInfoModel_t *model, fbSession_t *s, fbInfoElementSpec_t *spec,
			 uint16_t tid)
{
	fbTemplate_t *t = fbTemplateAlloc(model);
	GError *err = NULL;

	if (!fbTemplateAppendSpecArray(t, spec, UINT32_MAX, &err) ||
	    !fbSessionAddTemplate(s, TRUE, tid, t, &err)) {
		fprintf(stderr, "template %u: %s\n", tid, err ? err->message : "?");
		abort();
	}
}

static void check_record(const struct ipfix_flow_record *f, const struct ipfix_rec4 *r4,
			 const struct ipfix_rec6 *r6)
{
	const struct netprobe_flow_key *k = &f->key;
	const struct ipfix_rec_tail *t = r4 ? &r4->t : &r6->t;
	bool icmp = k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6;
	bool in = k->direction == NETPROBE_DIR_INGRESS;
	uint64_t start = r4 ? r4->start_ms : r6->start_ms, end = r4 ? r4->end_ms : r6->end_ms;
	uint64_t octets = r4 ? r4->octets : r6->octets, packets = r4 ? r4->packets : r6->packets;

	FUZZ_CHECK(start == f->start_ms && end == f->end_ms,
		   "times %llu..%llu came back %llu..%llu", f->start_ms, f->end_ms,
		   (unsigned long long)start, (unsigned long long)end);
	FUZZ_CHECK(octets == f->bytes && packets == f->packets, "counts came back other");
	if (r4) {
		uint32_t src, dst;

		memcpy(&src, k->src_addr, 4);
		memcpy(&dst, k->dst_addr, 4);
		FUZZ_CHECK(r4->src == ntohl(src) && r4->dst == ntohl(dst), "IPv4 addresses");
	} else {
		FUZZ_CHECK(!memcmp(r6->src, k->src_addr, 16) && !memcmp(r6->dst, k->dst_addr, 16),
			   "IPv6 addresses");
	}
	FUZZ_CHECK(t->ingress == (in ? k->ifindex : 0) && t->egress == (in ? 0 : k->ifindex),
		   "interfaces");
	FUZZ_CHECK(t->sport == (icmp ? 0 : ntohs(k->src_port)) &&
			   t->dport == (icmp ? 0 : ntohs(k->dst_port)),
		   "ports");
	FUZZ_CHECK(t->icmp_type_code == (icmp ? ntohs(k->dst_port) : 0), "ICMP type and code");
	FUZZ_CHECK(t->tcp_flags == (uint16_t)f->tcp_flags && t->proto == k->proto &&
			   t->direction == (in ? 0 : 1) && t->end_reason == (uint8_t)f->end_reason,
		   "flags, protocol, direction or end reason");
}

/* Each message as a collector gets it, decoded at once. */
static void receive(void *ctx, const void *msg, size_t len, unsigned int records, bool templates)
{
	struct run *r = ctx;
	const uint8_t *m = msg;
	uint8_t *copy = malloc(len);
	uint32_t seq, domain;
	uint16_t tid;

	FUZZ_CHECK(copy, "no memory");
	FUZZ_CHECK(len >= 16 && len <= (r->tcp ? 65000u : 1420u), "a message of %zu bytes", len);
	FUZZ_CHECK(m[0] == 0 && m[1] == 10 && (size_t)(m[2] << 8 | m[3]) == len,
		   "the header's version or length is wrong");
	memcpy(&seq, m + 8, 4);
	memcpy(&domain, m + 12, 4);
	FUZZ_CHECK(ntohl(domain) == DOMAIN, "domain %u", ntohl(domain));
	FUZZ_CHECK(ntohl(seq) == (uint32_t)r->data_records, "sequence %u after %llu records",
		   ntohl(seq), r->data_records);
	FUZZ_CHECK(!templates || records == 0, "templates with records");
	r->data_records += records;
	memcpy(copy, msg, len);
	fBufSetBuffer(r->reader, copy, len);
	for (;;) {
		union {
			struct ipfix_rec4 v4;
			struct ipfix_rec6 v6;
		} rec;
		size_t size = sizeof(rec);
		GError *err = NULL;
		fbTemplate_t *t = fBufNextCollectionTemplate(r->reader, &tid, &err);

		if (!t) {
			g_clear_error(&err);
			break;
		}
		FUZZ_CHECK(tid == IPFIX_TID_V4 || tid == IPFIX_TID_V6, "template %u", tid);
		if (!fBufSetInternalTemplate(r->reader, tid, &err) ||
		    !fBufNext(r->reader, (uint8_t *)&rec, &size, &err)) {
			g_clear_error(&err);
			break;
		}
		FUZZ_CHECK(r->n_out < r->n_in, "more records than went in");
		check_record(&r->in[r->n_out], tid == IPFIX_TID_V4 ? &rec.v4 : NULL,
			     tid == IPFIX_TID_V6 ? &rec.v6 : NULL);
		FUZZ_CHECK((tid == IPFIX_TID_V4) ==
				   (r->in[r->n_out].key.family == NETPROBE_FAMILY_IPV4),
			   "record %zu in the other family's template", r->n_out);
		r->n_out++;
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run *r = calloc(1, sizeof(*r));
	fbSession_t *rs;
	struct ipfix_enc *e;

	if (!r)
		abort();
	if (size < 1)
		goto out;
	r->tcp = data[0] & 1;
	for (size_t at = 1; at + sizeof(r->in[0]) <= size && r->n_in < MAX_RECORDS;
	     at += sizeof(r->in[0]))
		memcpy(&r->in[r->n_in++], data + at, sizeof(r->in[0]));
	r->model = fbInfoModelAlloc();
	rs = fbSessionAlloc(r->model);
	add_template(r->model, rs, read4, IPFIX_TID_V4);
	add_template(r->model, rs, read6, IPFIX_TID_V6);
	r->reader = fBufAllocForCollection(rs, NULL);
	fBufSetAutomaticMode(r->reader, FALSE);
	e = ipfix_enc_new(DOMAIN, r->tcp, receive, r);
	FUZZ_CHECK(e, "no encoder");
	FUZZ_CHECK(ipfix_enc_templates(e), "no templates");
	for (size_t i = 0; i < r->n_in; i++)
		FUZZ_CHECK(ipfix_enc_record(e, &r->in[i]), "record %zu refused", i);
	ipfix_enc_flush(e);
	FUZZ_CHECK(r->n_out == r->n_in, "%zu records in, %zu out", r->n_in, r->n_out);
	ipfix_enc_free(e);
	fBufFree(r->reader);
	fbInfoModelFree(r->model);
out:
	free(r);
	return 0;
}
