/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Packet parsing shared by every netprobe program: Ethernet, up to two VLAN
 * tags, IPv4 (options skipped, fragments noticed), IPv6 (extension headers
 * skipped), then TCP, UDP, ICMP and ICMPv6. A header is read only after a
 * bounds check; a packet that fails one is reported as malformed with the
 * reason, and nothing past the failing header is trusted.
 */
#ifndef NETPROBE_PARSE_H
#define NETPROBE_PARSE_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
/* linux/icmp.h drags in libc headers; ICMP is read as raw bytes below. */

#include <bpf/bpf_endian.h>
#include "netprobe/abi.h"

#define NP_MAX_VLAN_TAGS     2
#define NP_MAX_IPV6_EXT_HDRS 6
#define NP_TCP_SYN	     0x02 /* in packet_info.tcp_flags */
#define NP_TCP_RST	     0x04
#define NP_TCP_ACK	     0x10
#define NP_IP_MF	     0x2000
#define NP_IP_OFFSET	     0x1fff

enum np_l3 {
	NP_L3_NONE = 0, /* not IP (ARP, LLDP, ...) */
	NP_L3_IPV4,
	NP_L3_IPV6,
};

/*
 * What the parser learns. The flow key is filled in place (addresses, ports,
 * protocol, family), so that recording the flow copies nothing.
 */
struct packet_info {
	struct netprobe_flow_key key;
	__u8 l3; /* enum np_l3 */
	__u8 vlan_tags;
	__u8 fragment;
	__u8 tcp_flags;
	__u8 lb_icmp; /* lb: an ICMP error about a service's flow; key is that flow's */
	__u16 l4_off; /* where the L4 header starts, from the frame's start */
};

struct hdr_cursor {
	void *start;
	void *pos;
	void *end;     /* the frame's end (what the verifier knows) */
	__u32 limit;   /* the datagram's end, from start: its IP length says where */
	__u32 l4_need; /* the L4 header's length, from pos */
};

/*
 * Whether n bytes at the cursor lie within the datagram. Bytes past the IP
 * length (Ethernet padding, or a lie) are not the packet's: the kernel cuts
 * them off before any protocol reads them, and so does netprobe.
 */
static __always_inline __u32 cursor_offset(const struct hdr_cursor *c)
{
	__u64 off = c->pos - c->start;

	/* A scalar from here on: else clang folds it into 32-bit pointer arithmetic, refused. */
	asm volatile("" : "+r"(off));
	return off;
}

/*
 * Whether the headers read lie within the datagram, checked once after the
 * parse (positions only grow): bytes past the IP length (Ethernet padding,
 * or a lie) are not the packet's. The kernel cuts them off before any
 * protocol reads them, and so does netprobe. A check per header made the
 * filter's verification pass the kernel's budget.
 */
static __always_inline int check_datagram(const struct hdr_cursor *c, struct packet_info *pi)
{
	__u32 off = cursor_offset(c);

	if (off > c->limit)
		return pi->l3 == NP_L3_IPV6 ? NETPROBE_MALFORMED_IPV6_EXT_CHAIN
					    : NETPROBE_MALFORMED_L4_TRUNCATED;
	if (off + c->l4_need > c->limit)
		return NETPROBE_MALFORMED_L4_TRUNCATED;
	return NETPROBE_OK;
}

/* IPv4 options and IPv6 extension headers are skipped with these bounds. */
static __always_inline int parse_l4(struct hdr_cursor *c, struct packet_info *pi)
{
	pi->l4_off = c->pos - c->start;
	switch (pi->key.proto) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = c->pos;

		if ((void *)(tcp + 1) > c->end)
			return NETPROBE_MALFORMED_L4_TRUNCATED;
		if (tcp->doff < 5)
			return NETPROBE_MALFORMED_TCP_BAD_HEADER;
		c->l4_need = tcp->doff * 4;
		if (c->pos + c->l4_need > c->end)
			return NETPROBE_MALFORMED_L4_TRUNCATED;
		pi->key.src_port = tcp->source;
		pi->key.dst_port = tcp->dest;
		/* Byte 13 of the TCP header: CWR ECE URG ACK PSH RST SYN FIN. */
		pi->tcp_flags = ((__u8 *)tcp)[13];
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = c->pos;

		if ((void *)(udp + 1) > c->end)
			return NETPROBE_MALFORMED_L4_TRUNCATED;
		c->l4_need = sizeof(*udp);
		pi->key.src_port = udp->source;
		pi->key.dst_port = udp->dest;
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		/*
		 * Type and code are all a flow needs, but the header is 8 bytes
		 * (RFC 792, RFC 4443), and the kernel drops a message shorter.
		 */
		__u8 *icmp = c->pos;

		if ((void *)(icmp + 8) > c->end)
			return NETPROBE_MALFORMED_L4_TRUNCATED;
		c->l4_need = 8;
		pi->key.dst_port = bpf_htons((__u16)icmp[0] << 8 | icmp[1]);
		break;
	}
	default:
		return NETPROBE_OK;
	}
	return NETPROBE_OK;
}

/*
 * The largest IP length field: a packet longer has a zero one (BIG TCP's
 * GRO and GSO packets, in generic XDP and TC; IPv6 jumbograms). On the wire
 * no packet is that long, so there a zero length is a lie.
 */
#define NP_IP_LEN_MAX 0xffff

/* l3_len is what the frame (or skb) holds from the IP header on. */
static __always_inline int parse_ipv4(struct hdr_cursor *c, struct packet_info *pi, __u32 l3_len)
{
	struct iphdr *ip = c->pos;
	__u32 hdr_len, tot_len;
	__u16 frag;

	if ((void *)(ip + 1) > c->end)
		return NETPROBE_MALFORMED_L3_TRUNCATED;
	if (ip->version != 4 || ip->ihl < 5)
		return NETPROBE_MALFORMED_IP_BAD_HEADER;
	hdr_len = ip->ihl * 4;
	tot_len = bpf_ntohs(ip->tot_len);
	if (!tot_len && l3_len > NP_IP_LEN_MAX)
		tot_len = l3_len;
	if (tot_len < hdr_len)
		return NETPROBE_MALFORMED_IP_BAD_HEADER;
	/* Ethernet padding may follow the datagram; a datagram cut short may not. */
	if (tot_len > l3_len || c->pos + hdr_len > c->end)
		return NETPROBE_MALFORMED_L3_TRUNCATED;
	c->limit = cursor_offset(c) + tot_len;

	pi->l3 = NP_L3_IPV4;
	pi->key.family = NETPROBE_FAMILY_IPV4;
	pi->key.proto = ip->protocol;
	__builtin_memcpy(pi->key.src_addr, &ip->saddr, 4);
	__builtin_memcpy(pi->key.dst_addr, &ip->daddr, 4);
	frag = bpf_ntohs(ip->frag_off);
	if (frag & (NP_IP_MF | NP_IP_OFFSET))
		pi->fragment = 1;
	c->pos += hdr_len;
	/* Only the first fragment carries the L4 header. */
	if (frag & NP_IP_OFFSET)
		return NETPROBE_OK;
	return parse_l4(c, pi);
}

static __always_inline int parse_ipv6(struct hdr_cursor *c, struct packet_info *pi, __u32 l3_len)
{
	struct ipv6hdr *ip6 = c->pos;
	__u32 dgram_len;
	__u8 next;

	if ((void *)(ip6 + 1) > c->end)
		return NETPROBE_MALFORMED_L3_TRUNCATED;
	if (ip6->version != 6)
		return NETPROBE_MALFORMED_IP_BAD_HEADER;
	dgram_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	if (dgram_len > l3_len)
		return NETPROBE_MALFORMED_L3_TRUNCATED;
	/*
	 * A zero payload length: a jumbogram's or a BIG TCP packet's, when
	 * more than the field can say follows. Else it means no payload (the
	 * kernel reads it so), and so does netprobe.
	 */
	if (!ip6->payload_len && l3_len - sizeof(*ip6) > NP_IP_LEN_MAX)
		dgram_len = l3_len;
	c->limit = cursor_offset(c) + dgram_len;

	pi->l3 = NP_L3_IPV6;
	pi->key.family = NETPROBE_FAMILY_IPV6;
	__builtin_memcpy(pi->key.src_addr, &ip6->saddr, 16);
	__builtin_memcpy(pi->key.dst_addr, &ip6->daddr, 16);
	next = ip6->nexthdr;
	c->pos = ip6 + 1;

	/* A real loop (bounded, verified per iteration), not unrolled: smaller and faster. */
#pragma clang loop unroll(disable)
	for (int i = 0; i < NP_MAX_IPV6_EXT_HDRS; i++) {
		__u8 *ext = c->pos;
		__u32 len;

		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(ext + 2) > c->end)
				return NETPROBE_MALFORMED_IPV6_EXT_CHAIN;
			len = (ext[1] + 1) * 8;
			break;
		case IPPROTO_AH:
			if ((void *)(ext + 2) > c->end)
				return NETPROBE_MALFORMED_IPV6_EXT_CHAIN;
			len = (ext[1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			if ((void *)(ext + 8) > c->end)
				return NETPROBE_MALFORMED_IPV6_EXT_CHAIN;
			pi->fragment = 1;
			pi->key.proto = ext[0];
			/* Offset in 8-byte units in the top 13 bits of bytes 2-3. */
			if ((((__u16)ext[2] << 8 | ext[3]) & 0xfff8) != 0) {
				c->pos =
					ext + 8; /* the fragment header, too, within the datagram */
				return NETPROBE_OK;
			}
			len = 8;
			break;
		default:
			pi->key.proto = next;
			return parse_l4(c, pi);
		}
		if (c->pos + len > c->end)
			return NETPROBE_MALFORMED_IPV6_EXT_CHAIN;
		next = ext[0];
		c->pos += len;
	}
	/* More extension headers than any sane sender uses: do not guess. */
	switch (next) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_FRAGMENT:
		return NETPROBE_MALFORMED_IPV6_EXT_CHAIN;
	}
	pi->key.proto = next;
	return parse_l4(c, pi);
}

/*
 * Parses the frame at [data, end). pkt_len is the whole frame's length, which
 * in TC can exceed the linear part [data, end). Returns enum netprobe_malformed.
 */
static __always_inline int parse_packet(void *data, void *end, __u32 pkt_len,
					struct packet_info *pi)
{
	struct hdr_cursor c = {.start = data, .pos = data, .end = end};
	struct ethhdr *eth = data;
	__u16 proto;

	if ((void *)(eth + 1) > end)
		return NETPROBE_MALFORMED_L2_TRUNCATED;
	proto = eth->h_proto;
	c.pos = eth + 1;

#pragma unroll
	for (int i = 0; i < NP_MAX_VLAN_TAGS + 1; i++) {
		struct vlan_hdr {
			__be16 tci;
			__be16 proto;
		} *vlan = c.pos;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (i == NP_MAX_VLAN_TAGS)
			return NETPROBE_MALFORMED_VLAN_TOO_DEEP;
		if ((void *)(vlan + 1) > end)
			return NETPROBE_MALFORMED_L2_TRUNCATED;
		proto = vlan->proto;
		c.pos = vlan + 1;
		pi->vlan_tags++;
	}

	__u32 l2_len = c.pos - data;
	int ret;

	if (proto == bpf_htons(ETH_P_IP))
		ret = parse_ipv4(&c, pi, pkt_len - l2_len);
	else if (proto == bpf_htons(ETH_P_IPV6))
		ret = parse_ipv6(&c, pi, pkt_len - l2_len);
	else
		return NETPROBE_OK;
	return ret ? ret : check_datagram(&c, pi);
}

#endif /* NETPROBE_PARSE_H */
