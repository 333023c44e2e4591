/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Builds test frames byte by byte: Ethernet, VLAN tags, IPv4 (with options and
 * fragment fields) or IPv6 (with extension headers), TCP/UDP/ICMP/ICMPv6 and a
 * payload, with correct lengths and checksums. Unit tests, the frame sender
 * and the benchmarks all use it, so a frame means the same thing everywhere.
 * Tests make malformed frames by building a good one and breaking it.
 */
#ifndef NETPROBE_PKTBUILD_H
#define NETPROBE_PKTBUILD_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>

#define PKT_MAX 9216

struct pkt_spec {
	int vlan_tags;	       /* 0..3 (3 is one too many for netprobe) */
	uint16_t vlan_tpid[3]; /* 0: 0x8100 */
	uint16_t vlan_id[3];
	uint16_t ethertype;    /* 0: from family */
	int family;	       /* 4 or 6; 0 with ethertype: no IP header */
	const char *src, *dst; /* addresses as text */
	uint8_t proto;	       /* IPPROTO_* */
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint32_t tcp_seq, tcp_ack; /* host order; seq 0: 0x01000000 */
	uint8_t icmp_type, icmp_code;
	size_t payload;	       /* bytes after the L4 header */
	int ipv4_option_words; /* 32-bit words of IPv4 options (NOPs) */
	uint16_t ipv4_frag;    /* host order: 0x2000 MF | offset in 8-byte units */
	int ipv6_ext_count;    /* extension headers before L4 */
	uint8_t ipv6_ext[8];   /* IPPROTO_HOPOPTS, _ROUTING, _DSTOPTS, _FRAGMENT */
	uint16_t ipv6_frag;    /* fragment header: host order offset<<3 | M */
	uint8_t ttl;	       /* 0: 64 */
};

static inline uint32_t pkt_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static inline uint16_t pkt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static inline size_t pkt_l4_len(const struct pkt_spec *s)
{
	switch (s->proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
		return 8;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 8; /* type, code, checksum, id, sequence */
	default:
		return 0;
	}
}

/* Writes the frame into out; returns its length, or 0 if the spec is bad. */
static inline size_t pkt_build(const struct pkt_spec *s, uint8_t *out, size_t cap)
{
	static const uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02}, smac[6] = {0x02, 0, 0, 0, 0, 0x01};
	uint8_t src[16] = {}, dst[16] = {}, *p = out, *ip, *l4;
	uint16_t ethertype = s->ethertype;
	size_t l4_len = pkt_l4_len(s), ext_len = 0, opt_len = s->ipv4_option_words * 4;
	size_t ip_len, total;

	if (!ethertype)
		ethertype = s->family == 6 ? 0x86dd : 0x0800;
	if (s->family == 6)
		ext_len = s->ipv6_ext_count * 8;
	ip_len = s->family == 4 ? 20 + opt_len : s->family == 6 ? 40 + ext_len : 0;
	total = 14 + 4 * s->vlan_tags + ip_len + l4_len + s->payload;
	if (total > cap || s->vlan_tags > 3 || s->ipv4_option_words > 10 || s->ipv6_ext_count > 8)
		return 0;
	if (s->family && (inet_pton(s->family == 4 ? AF_INET : AF_INET6, s->src, src) != 1 ||
			  inet_pton(s->family == 4 ? AF_INET : AF_INET6, s->dst, dst) != 1))
		return 0;
	memset(out, 0, total);

	memcpy(p, dmac, 6);
	memcpy(p + 6, smac, 6);
	p += 12;
	for (int i = 0; i < s->vlan_tags; i++) {
		uint16_t tpid = htons(s->vlan_tpid[i] ? s->vlan_tpid[i] : 0x8100);
		uint16_t tci = htons(s->vlan_id[i] & 0xfff);

		memcpy(p, &tpid, 2);
		memcpy(p + 2, &tci, 2);
		p += 4;
	}
	uint16_t et = htons(ethertype);

	memcpy(p, &et, 2);
	p += 2;
	ip = p;
	if (!s->family) {
		/* Not IP: fill the rest with a recognisable pattern. */
		for (size_t i = 0; i < s->payload; i++)
			p[i] = (uint8_t)i;
		return total;
	}
	l4 = ip + ip_len;
	for (size_t i = 0; i < s->payload; i++)
		l4[l4_len + i] = (uint8_t)(i * 7);

	if (s->family == 4) {
		uint16_t tot = htons(ip_len + l4_len + s->payload), frag = htons(s->ipv4_frag);

		ip[0] = 0x40 | (uint8_t)(ip_len / 4);
		memcpy(ip + 2, &tot, 2);
		ip[4] = 0x12;
		ip[5] = 0x34;
		memcpy(ip + 6, &frag, 2);
		ip[8] = s->ttl ? s->ttl : 64;
		ip[9] = s->proto;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		memset(ip + 20, 1, opt_len); /* NOP options */
		uint16_t c = pkt_csum_fold(pkt_csum_add(0, ip, ip_len));

		memcpy(ip + 10, &c, 2);
	} else {
		uint16_t plen = htons(ext_len + l4_len + s->payload);
		uint8_t *ext = ip + 40;

		ip[0] = 0x60;
		memcpy(ip + 4, &plen, 2);
		ip[7] = s->ttl ? s->ttl : 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		ip[6] = s->ipv6_ext_count ? s->ipv6_ext[0] : s->proto;
		for (int i = 0; i < s->ipv6_ext_count; i++, ext += 8) {
			ext[0] = i + 1 < s->ipv6_ext_count ? s->ipv6_ext[i + 1] : s->proto;
			if (s->ipv6_ext[i] == IPPROTO_FRAGMENT) {
				uint16_t f = htons(s->ipv6_frag);

				memcpy(ext + 2, &f, 2);
				ext[4] = 0xab; /* identification */
			} else {
				ext[1] = 0; /* length: 8 bytes */
				ext[2] = 1; /* PadN option filling the rest */
				ext[3] = 4;
			}
		}
	}

	uint16_t sport = htons(s->sport), dport = htons(s->dport);
	size_t seg_len = l4_len + s->payload;

	switch (s->proto) {
	case IPPROTO_TCP:
		memcpy(l4, &sport, 2);
		memcpy(l4 + 2, &dport, 2);
		if (s->tcp_seq) {
			uint32_t seq = htonl(s->tcp_seq);

			memcpy(l4 + 4, &seq, 4);
		} else {
			l4[4] = 0x01; /* sequence number */
		}
		if (s->tcp_ack) {
			uint32_t ack = htonl(s->tcp_ack);

			memcpy(l4 + 8, &ack, 4);
		}
		l4[12] = 5 << 4;
		l4[13] = s->tcp_flags;
		l4[14] = 0xff; /* window */
		break;
	case IPPROTO_UDP: {
		uint16_t ulen = htons(seg_len);

		memcpy(l4, &sport, 2);
		memcpy(l4 + 2, &dport, 2);
		memcpy(l4 + 4, &ulen, 2);
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		l4[0] = s->icmp_type;
		l4[1] = s->icmp_code;
		l4[5] = 1; /* identifier */
		l4[7] = 1; /* sequence */
		break;
	}
	if (l4_len) {
		/* Checksums over the pseudo-header, except ICMPv4 which has none. */
		uint32_t sum = 0;
		int csum_off = s->proto == IPPROTO_TCP ? 16 : s->proto == IPPROTO_UDP ? 6 : 2;

		if (s->proto != IPPROTO_ICMP) {
			uint8_t pseudo[40] = {};
			size_t alen = s->family == 4 ? 4 : 16;

			memcpy(pseudo, src, alen);
			memcpy(pseudo + alen, dst, alen);
			sum = pkt_csum_add(0, pseudo, 2 * alen);
			sum += s->proto + (uint32_t)seg_len;
		}
		sum = pkt_csum_add(sum, l4, seg_len);
		uint16_t c = pkt_csum_fold(sum);

		if (s->proto == IPPROTO_UDP && c == 0)
			c = 0xffff;
		memcpy(l4 + csum_off, &c, 2);
	}
	return total;
}

/* Offset of the IP header in a frame built from s. */
static inline size_t pkt_l3_offset(const struct pkt_spec *s)
{
	return 14 + 4 * s->vlan_tags;
}

/*
 * Wraps the IP packet of an untagged frame in an outer IPv4 (outer_family 4)
 * or IPv6 (6) header from src to dst, as an IP-in-IP, IPv6-in-IPv6 (or
 * mixed) tunnel carries it: protocol or next header 4 for an IPv4 packet,
 * 41 for an IPv6 one, TTL 64, no DF. The Ethernet addresses stay; the type
 * becomes the outer family's. out must not overlap frame. Returns the new
 * length, or 0.
 */
static inline size_t pkt_encap(const uint8_t *frame, size_t len, int outer_family, const char *src,
			       const char *dst, uint8_t *out, size_t cap)
{
	size_t outer = outer_family == 4 ? 20 : 40, inner_len = len - 14;
	uint16_t inner_type, et;
	uint8_t *ip = out + 14, proto;

	if (len < 15 || len + outer > cap || (outer_family != 4 && outer_family != 6))
		return 0;
	inner_type = (uint16_t)frame[12] << 8 | frame[13];
	if (inner_type == 0x0800)
		proto = IPPROTO_IPIP;
	else if (inner_type == 0x86dd)
		proto = IPPROTO_IPV6;
	else
		return 0;
	memcpy(out, frame, 12);
	et = htons(outer_family == 4 ? 0x0800 : 0x86dd);
	memcpy(out + 12, &et, 2);
	memset(ip, 0, outer);
	if (outer_family == 4) {
		uint16_t tot = htons(outer + inner_len), c;

		ip[0] = 0x45;
		memcpy(ip + 2, &tot, 2);
		ip[8] = 64;
		ip[9] = proto;
		if (inet_pton(AF_INET, src, ip + 12) != 1 || inet_pton(AF_INET, dst, ip + 16) != 1)
			return 0;
		c = pkt_csum_fold(pkt_csum_add(0, ip, 20));
		memcpy(ip + 10, &c, 2);
	} else {
		uint16_t plen = htons(inner_len);

		ip[0] = 0x60;
		memcpy(ip + 4, &plen, 2);
		ip[6] = proto;
		ip[7] = 64;
		if (inet_pton(AF_INET6, src, ip + 8) != 1 || inet_pton(AF_INET6, dst, ip + 24) != 1)
			return 0;
	}
	memcpy(ip + outer, frame + 14, inner_len);
	return len + outer;
}

#endif /* NETPROBE_PKTBUILD_H */
