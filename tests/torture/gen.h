/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The torture generator: random and mutated Ethernet frames from a seed.
 * The same seed gives the same frames, so a failing frame is found again
 * by its seed and number. Frames are built whole (VLAN stacks of 0-4 tags
 * with odd TPIDs, IPv4 with options and fragments, IPv6 with extension
 * chains, TCP, UDP, ICMP and ICMPv6 with quoted packets, IP-in-IP inside
 * IP-in-IP, other protocols and other ethertypes), then some are broken:
 * cut at a random offset, one base frame cut at every offset in turn, header
 * bytes overwritten, lengths and header sizes set wrong.
 *
 * Addresses come from pools the lab configures (the lists, the services,
 * the tunnel sources, the attackers that set off the detections, special
 * addresses) as often as from anywhere, so frames reach every branch.
 */
#ifndef NETPROBE_TORTURE_GEN_H
#define NETPROBE_TORTURE_GEN_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

#define GEN_FRAME_MAX 1518 /* an untagged 1500-byte MTU frame, and 4 tags */
#define GEN_FRAME_MIN 14   /* BPF_PROG_RUN takes no frame shorter than its Ethernet header */
#define GEN_DEPTH_MAX 3	   /* packets inside packets: tunnels, ICMP quotes */

/* Where a frame's pieces went, for the mutations that aim at a header. */
struct gen_layout {
	size_t l3_off, l4_off;
	int family; /* 4, 6 or 0: the outermost IP header's */
	uint8_t proto;
};

struct gen_pool {
	const char *const *v4;
	size_t v4_count;
	const char *const *v6;
	size_t v6_count;
};

struct gen {
	uint64_t state;
	/* The frame cut at every offset in turn, and the next offset. */
	uint8_t sweep[GEN_FRAME_MAX];
	size_t sweep_len, sweep_at;
	/* Addresses often used: sources, destinations (text, parsed once). */
	uint8_t src4[32][4], src6[32][16], dst4[16][4], dst6[16][16];
	size_t n_src4, n_src6, n_dst4, n_dst6;
	uint16_t ports[8];
	size_t n_ports;
};

/* splitmix64: small, fast, and every seed gives a full-period sequence. */
static inline uint64_t gen_u64(struct gen *g)
{
	uint64_t z = (g->state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint32_t gen_below(struct gen *g, uint32_t n)
{
	return n ? (uint32_t)(gen_u64(g) % n) : 0;
}

static inline bool gen_chance(struct gen *g, unsigned int percent)
{
	return gen_below(g, 100) < percent;
}

static inline void gen_bytes(struct gen *g, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)gen_u64(g);
}

/* Parses up to cap addresses of family af (len bytes each) into out; returns how many. */
static inline size_t gen_parse_pool(int af, const char *const *text, size_t n, uint8_t *out,
				    size_t len, size_t cap)
{
	size_t got = 0;

	for (size_t i = 0; i < n && got < cap; i++)
		got += inet_pton(af, text[i], out + got * len) == 1;
	return got;
}

static inline void gen_init(struct gen *g, uint64_t seed, const struct gen_pool *src,
			    const struct gen_pool *dst, const uint16_t *ports, size_t n_ports)
{
	memset(g, 0, sizeof(*g));
	g->state = seed;
	g->n_src4 = gen_parse_pool(AF_INET, src->v4, src->v4_count, g->src4[0], 4, 32);
	g->n_src6 = gen_parse_pool(AF_INET6, src->v6, src->v6_count, g->src6[0], 16, 32);
	g->n_dst4 = gen_parse_pool(AF_INET, dst->v4, dst->v4_count, g->dst4[0], 4, 16);
	g->n_dst6 = gen_parse_pool(AF_INET6, dst->v6, dst->v6_count, g->dst6[0], 16, 16);
	for (size_t i = 0; i < n_ports && i < 8; i++)
		g->ports[g->n_ports++] = ports[i];
}

/*
 * An address: from the pool most of the time, with its last bits varied
 * now and then (a deny-listed prefix's other hosts, an IPv6 /64 rotated
 * through), else anything at all.
 */
static inline void gen_addr(struct gen *g, int family, bool source, uint8_t *out)
{
	size_t n =
		family == 4 ? (source ? g->n_src4 : g->n_dst4) : (source ? g->n_src6 : g->n_dst6);
	size_t len = family == 4 ? 4 : 16;

	if (n && gen_chance(g, 80)) {
		size_t i = gen_below(g, (uint32_t)n);
		const uint8_t *a = family == 4 ? (source ? g->src4[i] : g->dst4[i])
					       : (source ? g->src6[i] : g->dst6[i]);

		memcpy(out, a, len);
		if (gen_chance(g, 10))
			out[len - 1] = (uint8_t)gen_u64(g);
		if (family == 6 && gen_chance(g, 10))
			gen_bytes(g, out + 8, 8);
		return;
	}
	gen_bytes(g, out, len);
}

static inline uint16_t gen_port(struct gen *g)
{
	if (g->n_ports && gen_chance(g, 50))
		return g->ports[gen_below(g, (uint32_t)g->n_ports)];
	if (gen_chance(g, 20))
		return (uint16_t)gen_below(g, 1024);
	return (uint16_t)gen_u64(g);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

static inline uint16_t gen_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t gen_ip(struct gen *g, uint8_t *p, size_t cap, int family, int depth,
		     struct gen_layout *lay);

/* Bytes after a header: usually few, sometimes up to a full frame. */
static inline size_t gen_payload(struct gen *g, uint8_t *p, size_t cap)
{
	size_t n = gen_chance(g, 90) ? gen_below(g, 64) : gen_below(g, 1400);

	if (n > cap)
		n = cap;
	if (gen_chance(g, 50))
		memset(p, 0, n);
	else
		gen_bytes(g, p, n);
	return n;
}

static inline uint8_t gen_tcp_flags(struct gen *g)
{
	static const uint8_t common[] = {0x02, 0x12, 0x10, 0x04, 0x14, 0x11, 0x18, 0x01, 0x29};

	if (gen_chance(g, 85))
		return common[gen_below(g, sizeof(common))];
	return (uint8_t)gen_u64(g);
}

/*
 * The L4 part of a packet of protocol proto: a header and what follows
 * (a payload, a quoted packet, a tunnelled packet). Returns its length.
 */
static inline size_t gen_l4(struct gen *g, uint8_t *p, size_t cap, uint8_t proto, int family,
			    int depth)
{
	size_t n = 0;

	switch (proto) {
	case IPPROTO_TCP: {
		size_t doff = gen_chance(g, 85) ? 5 : 5 + gen_below(g, 11);

		if (cap < doff * 4)
			return 0;
		put16(p, gen_port(g));
		put16(p + 2, gen_port(g));
		gen_bytes(g, p + 4, 8);
		p[12] = (uint8_t)(doff << 4);
		p[13] = gen_tcp_flags(g);
		put16(p + 14, 65535);
		memset(p + 16, 0, 4);
		gen_bytes(g, p + 20, doff * 4 - 20);
		n = doff * 4;
		return n + gen_payload(g, p + n, cap - n);
	}
	case IPPROTO_UDP:
		if (cap < 8)
			return 0;
		put16(p, gen_port(g));
		put16(p + 2, gen_port(g));
		memset(p + 4, 0, 4);
		n = 8 + gen_payload(g, p + 8, cap - 8);
		put16(p + 4, (uint16_t)(gen_chance(g, 95) ? n : gen_u64(g)));
		return n;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		/* Errors quote a packet; the load balancer reads what they quote. */
		static const uint8_t v4_types[] = {0, 3, 3, 8, 11, 5, 12, 13, 4};
		static const uint8_t v6_types[] = {1, 2, 3, 4, 128, 129, 133, 135, 136};
		bool v4 = proto == IPPROTO_ICMP;
		uint8_t type = gen_chance(g, 85) ? (v4 ? v4_types : v6_types)[gen_below(g, 9)]
						 : (uint8_t)gen_u64(g);
		bool error = v4 ? (type == 3 || type == 11 || type == 12 || type == 5 || type == 4)
				: type < 128;

		if (cap < 8)
			return 0;
		p[0] = type;
		p[1] = gen_chance(g, 70) ? (uint8_t)gen_below(g, 5) : (uint8_t)gen_u64(g);
		memset(p + 2, 0, 6);
		n = 8;
		if (error && depth < GEN_DEPTH_MAX && gen_chance(g, 80)) {
			struct gen_layout inner = {};
			/* A quote of the other family now and then: nonsense a parser must survive. */
			int f = gen_chance(g, 90) ? family : 10 - family;
			size_t q = gen_ip(g, p + 8, cap - 8, f, depth + 1, &inner);

			/* Routers quote the first 8 bytes past the header, or more. */
			if (q && gen_chance(g, 50)) {
				size_t keep = inner.l4_off + 8 + gen_below(g, 16);

				q = keep < q ? keep : q;
			}
			n += q;
		} else {
			gen_bytes(g, p + 4, 4);
			n += gen_payload(g, p + 8, cap - 8);
		}
		put16(p + 2, gen_csum(p, n));
		return n;
	}
	case IPPROTO_IPIP:
	case IPPROTO_IPV6: {
		struct gen_layout inner = {};

		if (depth >= GEN_DEPTH_MAX)
			return gen_payload(g, p, cap);
		return gen_ip(g, p, cap, proto == IPPROTO_IPIP ? 4 : 6, depth + 1, &inner);
	}
	case IPPROTO_GRE: {
		struct gen_layout inner = {};

		if (cap < 4)
			return 0;
		p[0] = 0;
		p[1] = 0;
		put16(p + 2, gen_chance(g, 50) ? 0x0800 : 0x86dd);
		if (depth >= GEN_DEPTH_MAX)
			return 4;
		return 4 + gen_ip(g, p + 4, cap - 4, p[2] == 0x08 ? 4 : 6, depth + 1, &inner);
	}
	default:
		return gen_payload(g, p, cap);
	}
}

static inline uint8_t gen_proto(struct gen *g, int family)
{
	static const uint8_t other[] = {IPPROTO_GRE,
					IPPROTO_ESP,
					IPPROTO_AH,
					IPPROTO_SCTP,
					IPPROTO_IGMP,
					59 /* none */,
					253,
					255,
					0,
					43,
					60};
	uint32_t r = gen_below(g, 100);

	if (r < 33)
		return IPPROTO_TCP;
	if (r < 60)
		return IPPROTO_UDP;
	if (r < 75)
		return family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	if (r < 81)
		return IPPROTO_IPIP;
	if (r < 87)
		return IPPROTO_IPV6;
	if (r < 95)
		return other[gen_below(g, sizeof(other))];
	return (uint8_t)gen_u64(g);
}

static inline size_t gen_ipv4(struct gen *g, uint8_t *p, size_t cap, int depth,
			      struct gen_layout *lay)
{
	size_t ihl = gen_chance(g, 90) ? 5 : 6 + gen_below(g, 10), hl = ihl * 4, l4;
	uint8_t proto = gen_proto(g, 4);
	uint16_t frag = gen_chance(g, 50) ? 0x4000 : 0; /* DF */
	uint32_t kind = gen_below(g, 100);

	if (cap < hl)
		return 0;
	p[0] = (uint8_t)(0x40 | ihl);
	p[1] = (uint8_t)gen_u64(g);
	gen_bytes(g, p + 4, 2);
	p[8] = (uint8_t)(1 + gen_below(g, 255));
	p[9] = proto;
	memset(p + 10, 0, 2);
	gen_addr(g, 4, true, p + 12);
	gen_addr(g, 4, false, p + 16);
	/* Options: NOPs, an end, and anything (bad lengths included). */
	for (size_t i = 20; i < hl; i++)
		p[i] = gen_chance(g, 50) ? 1 : (uint8_t)gen_u64(g);
	lay->l3_off = 0;
	lay->l4_off = hl;
	lay->family = 4;
	lay->proto = proto;
	/* Fragments of every kind: first, middle, last, tiny first, offsets past the end. */
	if (kind < 4)
		frag = 0x2000;
	else if (kind < 7)
		frag = (uint16_t)(0x2000 | (1 + gen_below(g, 0x1fff)));
	else if (kind < 10)
		frag = (uint16_t)(1 + gen_below(g, 0x1fff));
	l4 = gen_l4(g, p + hl, cap - hl, proto, 4, depth);
	if (kind < 2 && l4 > 8)
		l4 = gen_below(g, 9); /* a tiny first fragment: the L4 header cut */
	put16(p + 6, frag | (gen_chance(g, 2) ? 0x8000 : 0)); /* the evil bit, now and then */
	put16(p + 2, (uint16_t)(hl + l4));
	put16(p + 10, gen_csum(p, hl));
	return hl + l4;
}

static inline size_t gen_ipv6(struct gen *g, uint8_t *p, size_t cap, int depth,
			      struct gen_layout *lay)
{
	static const uint8_t ext_types[] = {IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS,
					    IPPROTO_AH, IPPROTO_FRAGMENT};
	uint8_t proto = gen_proto(g, 6), *next = p + 6;
	size_t off = 40, chain = 0;

	if (cap < 40)
		return 0;
	p[0] = 0x60 | (uint8_t)gen_below(g, 16);
	gen_bytes(g, p + 1, 3);
	p[7] = (uint8_t)gen_u64(g);
	gen_addr(g, 6, true, p + 8);
	gen_addr(g, 6, false, p + 24);
	/* Extension chains: none mostly, else long, repeated (a loop's shape) or unknown. */
	if (gen_chance(g, 30)) {
		bool repeat = gen_chance(g, 20);
		uint8_t first = ext_types[gen_below(g, sizeof(ext_types))];

		chain = repeat ? 5 + gen_below(g, 6) : 1 + gen_below(g, 8);
		for (size_t i = 0; i < chain; i++) {
			uint8_t type = repeat ? first : ext_types[gen_below(g, sizeof(ext_types))];
			size_t len;

			if (type == IPPROTO_FRAGMENT)
				len = 8;
			else if (type == IPPROTO_AH)
				len = (2 + gen_below(g, 4)) * 4;
			else
				len = (1 + gen_below(g, 3)) * 8;
			if (off + len > cap)
				break;
			*next = type;
			next = p + off;
			gen_bytes(g, p + off + 1, len - 1);
			if (type == IPPROTO_FRAGMENT) {
				p[off + 1] = 0;
				/* Offset 0 with M (first), or not (atomic), or any offset. */
				if (gen_chance(g, 50)) {
					p[off + 2] = 0;
					p[off + 3] &= 0x07;
				}
			} else {
				p[off + 1] =
					(uint8_t)(type == IPPROTO_AH ? len / 4 - 2 : len / 8 - 1);
			}
			off += len;
		}
	}
	*next = gen_chance(g, 97) ? proto : (uint8_t)gen_u64(g);
	lay->l3_off = 0;
	lay->l4_off = off;
	lay->family = 6;
	lay->proto = *next;
	off += gen_l4(g, p + off, cap - off, *next, 6, depth);
	put16(p + 4, (uint16_t)(off - 40));
	return off;
}

static size_t gen_ip(struct gen *g, uint8_t *p, size_t cap, int family, int depth,
		     struct gen_layout *lay)
{
	return family == 4 ? gen_ipv4(g, p, cap, depth, lay) : gen_ipv6(g, p, cap, depth, lay);
}

/* A whole frame: Ethernet, a VLAN stack, then IPv4, IPv6 or something else. */
static inline size_t gen_frame(struct gen *g, uint8_t *f, struct gen_layout *lay)
{
	static const uint16_t tpids[] = {0x8100, 0x8100, 0x88a8, 0x88a8, 0x9100, 0x9200, 0x8100};
	static const uint16_t other[] = {0x0806, 0x88cc, 0x8847, 0x8864, 0x88e5, 0x0842, 0x22f0};
	size_t len = 12, tags = 0, l3;
	uint16_t type;
	uint32_t r;

	memset(lay, 0, sizeof(*lay));
	gen_bytes(g, f, 12);
	if (gen_chance(g, 10))
		memset(f, 0xff, 6);
	r = gen_below(g, 100);
	if (r >= 60)
		tags = r < 80 ? 1 : r < 90 ? 2 : r < 95 ? 3 : 4;
	for (size_t i = 0; i < tags; i++) {
		put16(f + len, tpids[gen_below(g, sizeof(tpids) / 2)]);
		put16(f + len + 2, (uint16_t)gen_u64(g));
		len += 4;
	}
	r = gen_below(g, 100);
	if (r < 45)
		type = 0x0800;
	else if (r < 88)
		type = 0x86dd;
	else if (r < 95)
		type = other[gen_below(g, sizeof(other) / 2)];
	else
		type = (uint16_t)gen_u64(g); /* 802.3 lengths among them */
	put16(f + len, type);
	len += 2;
	if (type == 0x0800 || type == 0x86dd) {
		l3 = gen_ip(g, f + len, GEN_FRAME_MAX - len, type == 0x0800 ? 4 : 6, 0, lay);
		lay->l3_off += len;
		lay->l4_off += len;
	} else {
		l3 = gen_payload(g, f + len, GEN_FRAME_MAX - len);
	}
	len += l3;
	/* Ethernet pads to 60 bytes; pad or not, as senders do. */
	if (len < 60 && gen_chance(g, 50)) {
		memset(f + len, 0, 60 - len);
		len = 60;
	}
	return len;
}

/* Breaks a header: one field set wrong (IHL, lengths, version, TCP data offset). */
static inline void gen_break_field(struct gen *g, uint8_t *f, size_t len,
				   const struct gen_layout *lay)
{
	size_t l3 = lay->l3_off, l4 = lay->l4_off;

	if (!lay->family || l3 + 8 > len)
		return;
	switch (gen_below(g, 5)) {
	case 0: /* IHL, or the version with it */
		f[l3] = gen_chance(g, 70) ? (uint8_t)((f[l3] & 0xf0) | gen_below(g, 16))
					  : (uint8_t)gen_u64(g);
		break;
	case 1: /* total length or payload length: 0, short, long, anything */
		put16(f + l3 + (lay->family == 4 ? 2 : 4),
		      (uint16_t)(gen_chance(g, 25)   ? 0
				 : gen_chance(g, 50) ? gen_below(g, 48)
						     : gen_u64(g)));
		break;
	case 2: /* the next protocol */
		f[l3 + (lay->family == 4 ? 9 : 6)] = (uint8_t)gen_u64(g);
		break;
	case 3: /* TCP's data offset */
		if (l4 + 13 < len)
			f[l4 + 12] = (uint8_t)(gen_below(g, 16) << 4);
		break;
	default: /* the fragment field */
		if (lay->family == 4)
			put16(f + l3 + 6, (uint16_t)gen_u64(g));
		break;
	}
}

/*
 * The next torture frame into f (GEN_FRAME_MAX bytes); returns its length.
 * A tenth of the frames walk one frame cut at every offset, in turn.
 */
static inline size_t gen_next(struct gen *g, uint8_t *f)
{
	struct gen_layout lay;
	size_t len;

	if (gen_chance(g, 10)) {
		if (g->sweep_at >= g->sweep_len) {
			g->sweep_len = gen_frame(g, g->sweep, &lay);
			g->sweep_at = GEN_FRAME_MIN;
		}
		len = g->sweep_at++;
		memcpy(f, g->sweep, len);
		return len;
	}
	len = gen_frame(g, f, &lay);
	if (gen_chance(g, 8))
		gen_break_field(g, f, len, &lay);
	if (gen_chance(g, 6)) {
		size_t hdr = len < 120 ? len : 120, n = 1 + gen_below(g, 3);

		for (size_t i = 0; i < n && hdr > 14; i++)
			f[14 + gen_below(g, (uint32_t)(hdr - 14))] = (uint8_t)gen_u64(g);
	}
	if (gen_chance(g, 8))
		len = GEN_FRAME_MIN + gen_below(g, (uint32_t)(len - GEN_FRAME_MIN + 1));
	if (gen_chance(g, 1)) { /* noise */
		len = GEN_FRAME_MIN + gen_below(g, 200);
		gen_bytes(g, f, len);
	}
	return len < GEN_FRAME_MIN ? GEN_FRAME_MIN : len;
}

#endif /* NETPROBE_TORTURE_GEN_H */
