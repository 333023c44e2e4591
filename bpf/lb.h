/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The load balancer mode: a packet for a virtual service (address, port,
 * protocol) goes to one of the service's backends, the same one for every
 * packet of a flow. An established flow finds its backend in the connection
 * table; a new flow (a TCP SYN, or a flow the table does not know) takes the
 * entry of the service's Maglev table its hash points to (but a TCP flow
 * of a draining backend that lost its entry: see lb_draining). The packet
 * leaves by the route to the backend, as the kernel would route it
 * (bpf_fib_lookup: egress interface and MAC addresses), encapsulated in
 * IP-in-IP or IPv6-in-IPv6 (direct server return: the backend answers the
 * client itself, as with Katran), or as it is for a backend on the same
 * segment.
 * Path MTU discovery works through the tunnel both ways: a packet too big
 * for it is answered with ICMP "too big" from the service, and an ICMP
 * error sent to a service about a backend's reply goes to that backend.
 *
 * Also here: decapsulation for the backends (np_decap), since a kernel
 * without ipip/ip6tnl devices cannot unwrap what the load balancer sends.
 */
#ifndef NETPROBE_LB_H
#define NETPROBE_LB_H

#include "maps.h"
#include "parse.h"
#include "hash.h"

#define NP_AF_INET	       2
#define NP_AF_INET6	       10
#define NP_IPV4_HLEN	       20
#define NP_IPV6_HLEN	       40
#define NP_ENCAP_TTL	       64
#define NP_ICMP_HLEN	       8
#define NP_ICMP_QUOTE	       8 /* payload bytes a too-big reply quotes after the IP header */
#define NP_ICMP_DEST_UNREACH   3
#define NP_ICMP_FRAG_NEEDED    4
#define NP_ICMPV6_PKT_TOOBIG   2
#define NP_ICMP_TIME_EXCEEDED  11
#define NP_ICMPV6_DEST_UNREACH 1
#define NP_ICMPV6_PARAM_PROB   4
#define NP_IP_DF	       0x4000

/*
 * What XDP hands the TC ingress program, in the frame's metadata (or, where
 * the kernel refuses XDP metadata, in np_lb_handoffs), when the
 * next hop's MAC address is not known yet: TC sends the frame with
 * bpf_redirect_neigh, which resolves it (XDP cannot; and the kernel's own
 * routing would drop an encapsulated packet whose source is this host).
 */
#define NP_LB_HANDOFF_MAGIC 0x6e706c62 /* "nplb" */

struct lb_handoff {
	__u32 magic;
	__u32 ifindex; /* egress */
	__u32 family;  /* of the next hop: NP_AF_INET or NP_AF_INET6 */
	__u8 nexthop[16];
};

static __always_inline struct netprobe_lb_stats *lb_stats(void *map, __u32 index)
{
	return bpf_map_lookup_elem(map, &index);
}

/*
 * Backend slot of service vip_id, if it is in use; *gen is the slot's
 * generation, read before the flags: userspace frees a slot (flags) before
 * it bumps the generation, so a flow stored with *gen re-chooses if the
 * slot was freed meanwhile.
 */
static __always_inline const struct netprobe_lb_backend *lb_backend(__u32 slot, __u32 vip_id,
								    __u32 *gen)
{
	const struct netprobe_lb_backend *be = bpf_map_lookup_elem(&np_lb_backends, &slot);

	if (!be)
		return NULL;
	*gen = *(volatile const __u32 *)&be->gen;
	if (!(*(volatile const __u8 *)&be->flags & NETPROBE_LB_BE_IN_USE) || be->vip_id != vip_id)
		return NULL;
	return be;
}

/* The backend an established flow of vip was given, if it still holds that slot. */
static __always_inline const struct netprobe_lb_backend *
lb_established(const struct netprobe_lb_vip *vip, const struct netprobe_flow_key *key, __u32 *slot,
	       __u32 *gen)
{
	struct netprobe_lb_conn *conn = bpf_map_lookup_elem(&np_lb_conns, key);
	const struct netprobe_lb_backend *be;

	if (!conn)
		return NULL;
	*slot = conn->backend;
	be = lb_backend(*slot, vip->id, gen);
	return be && *gen == conn->gen ? be : NULL;
}

/* The entry at hash of vip's table that starts at chunk base: a slot, or NETPROBE_LB_NO_BACKEND. */
static __always_inline __u32 lb_table_entry(const struct netprobe_lb_vip *vip, __u32 base,
					    __u32 hash)
{
	struct netprobe_lb_ring_chunk *chunk;
	__u32 pos, index;

	if (!vip->ring_size)
		return NETPROBE_LB_NO_BACKEND;
	pos = hash % vip->ring_size;
	index = base + pos / NETPROBE_LB_RING_WORDS;
	chunk = bpf_map_lookup_elem(&np_lb_ring, &index);
	if (!chunk)
		return NETPROBE_LB_NO_BACKEND;
	return chunk->backend[pos & (NETPROBE_LB_RING_WORDS - 1)];
}

/*
 * A new flow's backend: the Maglev table's entry at its hash (a backend
 * being removed leaves the table before its slot is freed).
 */
static __always_inline const struct netprobe_lb_backend *
lb_choose(const struct netprobe_lb_vip *vip, __u32 hash, __u32 *slot, __u32 *gen)
{
	*slot = lb_table_entry(vip, vip->ring_base, hash);
	return lb_backend(*slot, vip->id, gen);
}

/*
 * The backend a flow without a connection entry had, if it drains: the
 * previous table's entry at its hash (abi.h), while that slot is in use by
 * this service and draining. An entry the LRU evicted (a flood of new flows
 * does that to idle ones) then does not move the flow off its backend, as
 * the current table would: the drained backend is in it no more. The
 * price: a flow that started after the drain on the backend now at that
 * position, and lost its entry, goes to the drained backend.
 */
static __always_inline const struct netprobe_lb_backend *
lb_draining(const struct netprobe_lb_vip *vip, __u32 hash, __u32 *slot, __u32 *gen)
{
	const struct netprobe_lb_backend *be;

	*slot = lb_table_entry(vip, vip->prev_base, hash);
	be = lb_backend(*slot, vip->id, gen);
	if (!be || !(*(volatile const __u8 *)&be->flags & NETPROBE_LB_BE_DRAINING))
		return NULL;
	return be;
}

/* The Internet checksum of a 32-bit one's-complement sum. */
static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static __always_inline __u16 ipv4_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < NP_IPV4_HLEN / 2; i++)
		sum += w[i];
	return csum_fold(sum);
}

/*
 * Puts an outer header in front of the IP packet after the Ethernet header:
 * IPv4 (protocol 4) for an IPv4 packet, IPv6 (next header 41) for an IPv6
 * one. The Ethernet header moves to the new front, unchanged but for its
 * type. The inner packet is not touched, so its checksums stay right.
 */
static __always_inline int lb_encap(struct xdp_md *ctx, const struct netprobe_lb_backend *be,
				    __u32 inner_len, __u8 tos, __u16 df, __u32 hash)
{
	int outer = be->family == NETPROBE_FAMILY_IPV4 ? NP_IPV4_HLEN : NP_IPV6_HLEN;
	struct ethhdr eth, *new_eth;
	void *data, *end;

	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + sizeof(eth) > end)
		return -1;
	__builtin_memcpy(&eth, data, sizeof(eth));
	if (bpf_xdp_adjust_head(ctx, -outer))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	new_eth = data;
	if (be->family == NETPROBE_FAMILY_IPV4) {
		struct iphdr *ip = data + sizeof(eth);

		if ((void *)(ip + 1) > end)
			return -1;
		eth.h_proto = bpf_htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = NP_IPV4_HLEN / 4;
		ip->tos = tos;
		ip->tot_len = bpf_htons(inner_len + NP_IPV4_HLEN);
		/* Fragments of a datagram without DF need an ID of their own (RFC 6864). */
		ip->id = df ? 0 : (__u16)bpf_get_prandom_u32();
		ip->frag_off = bpf_htons(df);
		ip->ttl = NP_ENCAP_TTL;
		ip->protocol = IPPROTO_IPIP;
		ip->check = 0;
		__builtin_memcpy(&ip->saddr, be->encap_src, 4);
		__builtin_memcpy(&ip->daddr, be->addr, 4);
		ip->check = ipv4_csum(ip);
	} else {
		struct ipv6hdr *ip6 = data + sizeof(eth);

		if ((void *)(ip6 + 1) > end)
			return -1;
		eth.h_proto = bpf_htons(ETH_P_IPV6);
		/* Version, the inner traffic class, and a flow label from the flow's hash. */
		*(__be32 *)ip6 = bpf_htonl(6u << 28 | (__u32)tos << 20 | (hash & 0xfffff));
		ip6->payload_len = bpf_htons(inner_len);
		ip6->nexthdr = IPPROTO_IPV6;
		ip6->hop_limit = NP_ENCAP_TTL;
		__builtin_memcpy(&ip6->saddr, be->encap_src, 16);
		__builtin_memcpy(&ip6->daddr, be->addr, 16);
	}
	__builtin_memcpy(new_eth, &eth, sizeof(eth));
	return 0;
}

/* Whether the route's next hop (left in fib by the lookup) is the backend itself. */
static __always_inline bool lb_is_backend(const struct bpf_fib_lookup *fib,
					  const struct netprobe_lb_backend *be)
{
	const __u32 *a = (const __u32 *)be->addr;

	if (be->family == NETPROBE_FAMILY_IPV4)
		return fib->ipv4_dst == a[0];
	return fib->ipv6_dst[0] == a[0] && fib->ipv6_dst[1] == a[1] && fib->ipv6_dst[2] == a[2] &&
	       fib->ipv6_dst[3] == a[3];
}

/*
 * Whether this CPU's route r to a backend slot of generation gen was found
 * lately, from this interface (routes depend on where packets come in).
 */
static __always_inline bool lb_route_fresh(const struct netprobe_lb_route *r, __u32 gen, __u64 now)
{
	return r->gen == gen && r->iface == np_slot && now < r->expires;
}

/* Keeps what the route lookup found for a packet of out_len bytes. */
static __always_inline void lb_cache_route(struct netprobe_lb_route *r, __u32 gen,
					   const struct bpf_fib_lookup *fib, __u32 out_len,
					   __u64 now)
{
	/* A longer packet than before passed: the MTU allows at least that much. */
	if (!lb_route_fresh(r, gen, now) || out_len > r->max_len)
		r->max_len = out_len;
	r->gen = gen;
	r->iface = np_slot;
	r->expires = now + np_lb_route_ttl;
	r->ifindex = fib->ifindex;
	__builtin_memcpy(r->dmac, fib->dmac, ETH_ALEN);
	__builtin_memcpy(r->smac, fib->smac, ETH_ALEN);
}

#define LB_HANDOFF_TTL_NS      100000000ULL
#define LB_HANDOFF_MAX_PENDING 16

/*
 * The frame at data as TC will see it, for np_lb_handoffs: addresses,
 * protocol, the IP header's first 8 bytes and, for TCP and UDP, ports (an
 * encapsulated frame's outer header: its addresses name the backend, its
 * ID or flow label is XDP's nonce).
 */
static __always_inline bool lb_handoff_key(void *data, void *end, struct lb_handoff_key *k)
{
	struct ethhdr *eth = data;
	__be16 *ports = NULL;

	__builtin_memset(k, 0, sizeof(*k));
	if ((void *)(eth + 1) > end)
		return false;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return false;
		k->family = NP_AF_INET;
		k->proto = ip->protocol;
		__builtin_memcpy(k->head, ip, 8);
		__builtin_memcpy(k->saddr, &ip->saddr, 4);
		__builtin_memcpy(k->daddr, &ip->daddr, 4);
		if (ip->ihl == 5)
			ports = (void *)(ip + 1);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return false;
		k->family = NP_AF_INET6;
		k->proto = ip6->nexthdr;
		__builtin_memcpy(k->head, ip6, 8);
		__builtin_memcpy(k->saddr, &ip6->saddr, 16);
		__builtin_memcpy(k->daddr, &ip6->daddr, 16);
		ports = (void *)(ip6 + 1);
	} else {
		return false;
	}
	if (ports && (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP)) {
		if ((void *)(ports + 2) > end)
			return false;
		k->sport = ports[0];
		k->dport = ports[1];
	}
	return true;
}

/*
 * An encapsulated frame's outer ID (IPv4; the checksum follows) or flow
 * label (IPv6) becomes a random nonce, part of its hand-over key: only XDP
 * could have made a frame of that key. Nothing for a frame sent as it came.
 */
static __always_inline bool lb_handoff_nonce(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 nonce = bpf_get_prandom_u32();

	if ((void *)(eth + 1) > end)
		return false;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return false;
		if (ip->protocol == IPPROTO_IPIP) {
			ip->id = (__u16)nonce;
			ip->check = 0;
			ip->check = ipv4_csum(ip);
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return false;
		if (ip6->nexthdr == IPPROTO_IPV6) {
			ip6->flow_lbl[0] = (ip6->flow_lbl[0] & 0xf0) | ((nonce >> 16) & 0x0f);
			ip6->flow_lbl[1] = nonce >> 8;
			ip6->flow_lbl[2] = nonce;
		}
	}
	return true;
}

/*
 * Without XDP metadata (the kernel refuses the helper, or the driver has
 * no room for it): the next hop goes into np_lb_handoffs under the frame's
 * key, one more frame pending, and the frame is passed. TC sends a frame
 * only for a pending one of its key, and takes that one: a forged frame
 * must match a real one's key, nonce included, within its 100 ms, and then
 * only takes its turn (the real one goes to the stack, which drops it).
 */
static __always_inline int lb_handoff_by_map(struct xdp_md *ctx, const struct bpf_fib_lookup *fib)
{
	struct lb_handoff_scratch *sc;
	struct lb_handoff_slot *s;
	__u64 now = bpf_ktime_get_ns(), *recent;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&np_lb_handoff_scratch, &zero);
	recent = bpf_map_lookup_elem(&np_lb_handoff_recent, &zero);
	if (!sc || !recent || !lb_handoff_nonce(ctx) ||
	    !lb_handoff_key((void *)(long)ctx->data, (void *)(long)ctx->data_end, &sc->key))
		return XDP_DROP;
	*recent = now;
	__builtin_memset(&sc->slot, 0, sizeof(sc->slot));
	sc->slot.ifindex = fib->ifindex;
	sc->slot.family = fib->family;
	if (fib->family == NP_AF_INET)
		__builtin_memcpy(sc->slot.nexthop, &fib->ipv4_dst, 4);
	else
		__builtin_memcpy(sc->slot.nexthop, fib->ipv6_dst, 16);
	sc->slot.expires_ns = now + LB_HANDOFF_TTL_NS;
	sc->slot.pending = 1;
	s = bpf_map_lookup_elem(&np_lb_handoffs, &sc->key);
	if (!s || s->expires_ns < now) {
		/* Two CPUs making the same slot: the second adds to the first's. */
		if (!bpf_map_update_elem(&np_lb_handoffs, &sc->key, &sc->slot,
					 s ? BPF_EXIST : BPF_NOEXIST))
			return XDP_PASS;
		s = bpf_map_lookup_elem(&np_lb_handoffs, &sc->key);
		if (!s)
			return XDP_DROP;
	}
	s->expires_ns = sc->slot.expires_ns;
	if (__sync_fetch_and_add(&s->pending, 1) >= LB_HANDOFF_MAX_PENDING)
		__sync_fetch_and_add(&s->pending, -1);
	return XDP_PASS;
}

/*
 * Hands the packet to TC, which sends it to the next hop the route lookup
 * left in fib (the backend or a gateway) once the kernel has resolved it.
 */
static __always_inline int lb_handoff(struct xdp_md *ctx, const struct bpf_fib_lookup *fib)
{
	struct lb_handoff *h;

	/* A driver may have no room for metadata: then the map, as without the helper. */
	if (!np_xdp_meta || bpf_xdp_adjust_meta(ctx, -(int)sizeof(*h)))
		return lb_handoff_by_map(ctx, fib);
	h = (void *)(long)ctx->data_meta;
	if ((void *)(h + 1) > (void *)(long)ctx->data)
		return XDP_DROP;
	h->magic = NP_LB_HANDOFF_MAGIC;
	h->ifindex = fib->ifindex;
	h->family = fib->family;
	if (fib->family == NP_AF_INET)
		__builtin_memcpy(h->nexthop, &fib->ipv4_dst, 4);
	else
		__builtin_memcpy(h->nexthop, fib->ipv6_dst, 16);
	return XDP_PASS;
}

/*
 * Answers a packet too big for the path to its backend with what a router
 * would send (RFC 792 "fragmentation needed", RFC 4443 "packet too big"),
 * from the service's address, back out the way the packet came (XDP_TX):
 * the client lowers its path MTU to mtu and sends again. The reply quotes
 * the packet's IP header and the 8 bytes after it (the ports), all a host
 * needs to find the connection.
 */
static __always_inline int lb_too_big(struct xdp_md *ctx, __u8 family, __u32 mtu)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	bool v4 = family == NETPROBE_FAMILY_IPV4;
	__u32 hdr = v4 ? NP_IPV4_HLEN : NP_IPV6_HLEN, quote, len;
	struct ethhdr eth;
	__u8 *ip, *icmp;
	__s64 sum;

	if (data + sizeof(eth) + NP_IPV6_HLEN + NP_ICMP_QUOTE > end)
		return XDP_DROP;
	__builtin_memcpy(&eth, data, sizeof(eth));
	ip = data + sizeof(eth);
	/* A header of fixed size, so the checksum's length is a constant (no IPv4 options). */
	if (v4 && ip[0] != 0x45)
		return XDP_DROP;
	quote = hdr + NP_ICMP_QUOTE;
	len = end - data;
	/* A scalar from here on: left to itself, clang folds it into pointer arithmetic. */
	asm volatile("" : "+r"(len));
	if (bpf_xdp_adjust_tail(ctx, (int)(sizeof(eth) + quote) - (int)len) ||
	    bpf_xdp_adjust_head(ctx, -(int)(hdr + NP_ICMP_HLEN)))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = data + sizeof(eth);
	icmp = (__u8 *)ip + hdr;
	/* [Ethernet][IP][ICMP 8][the packet's IP header][8 bytes of payload] */
	if ((void *)(icmp + NP_ICMP_HLEN + quote) > end)
		return XDP_DROP;
	__builtin_memcpy(((struct ethhdr *)data)->h_dest, eth.h_source, ETH_ALEN);
	__builtin_memcpy(((struct ethhdr *)data)->h_source, eth.h_dest, ETH_ALEN);
	((struct ethhdr *)data)->h_proto = eth.h_proto;
	__builtin_memset(icmp, 0, NP_ICMP_HLEN);
	if (v4) {
		struct iphdr *out = (void *)ip, *in = (void *)(icmp + NP_ICMP_HLEN);

		icmp[0] = NP_ICMP_DEST_UNREACH;
		icmp[1] = NP_ICMP_FRAG_NEEDED;
		*(__be16 *)(icmp + 6) = bpf_htons(mtu);
		__builtin_memset(out, 0, NP_IPV4_HLEN);
		out->version = 4;
		out->ihl = NP_IPV4_HLEN / 4;
		out->tot_len = bpf_htons(NP_IPV4_HLEN + NP_ICMP_HLEN + quote);
		out->ttl = NP_ENCAP_TTL;
		out->protocol = IPPROTO_ICMP;
		out->saddr = in->daddr;
		out->daddr = in->saddr;
		out->check = ipv4_csum(out);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)icmp, NP_ICMP_HLEN + quote, 0);
	} else {
		struct ipv6hdr *out = (void *)ip, *in = (void *)(icmp + NP_ICMP_HLEN);
		/* The ICMPv6 checksum covers a pseudo-header: addresses, length, next header. */
		struct {
			struct in6_addr saddr, daddr;
			__be32 len, next;
		} pseudo;

		icmp[0] = NP_ICMPV6_PKT_TOOBIG;
		*(__be32 *)(icmp + 4) = bpf_htonl(mtu < 1280 ? 1280 : mtu);
		*(__be32 *)out = bpf_htonl(6u << 28);
		out->payload_len = bpf_htons(NP_ICMP_HLEN + quote);
		out->nexthdr = IPPROTO_ICMPV6;
		out->hop_limit = NP_ENCAP_TTL;
		out->saddr = in->daddr;
		out->daddr = in->saddr;
		pseudo.saddr = out->saddr;
		pseudo.daddr = out->daddr;
		pseudo.len = bpf_htonl(NP_ICMP_HLEN + quote);
		pseudo.next = bpf_htonl(IPPROTO_ICMPV6);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)&pseudo, sizeof(pseudo), 0);
		sum = bpf_csum_diff(NULL, 0, (__be32 *)icmp, NP_ICMP_HLEN + quote, sum);
	}
	if (sum < 0)
		return XDP_DROP;
	*(__u16 *)(icmp + 2) = csum_fold(sum);
	return XDP_TX;
}

/* Where a packet goes: a backend, its slot and the slot's generation, and the flow. */
struct lb_target {
	const struct netprobe_lb_backend *be;
	__u32 slot;
	__u32 gen;
	__u32 hash;
	bool icmp_error; /* the packet is an ICMP error, which no ICMP error may answer */
};

/*
 * Sends the packet at ctx to its backend. Returns the XDP action, having
 * counted what went wrong; *to_backend says whether the packet went to the
 * backend (XDP_TX may also be a reply to the client).
 */
static __always_inline int lb_send(struct xdp_md *ctx, struct netprobe_counters *cnt,
				   const struct lb_target *t, bool *to_backend)
{
	const struct netprobe_lb_backend *be = t->be;
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	bool encap = be->forward == NETPROBE_LB_FORWARD_IPIP;
	struct netprobe_lb_route *route;
	struct bpf_fib_lookup fib = {};
	__u32 inner_len, out_len, ifindex;
	__u64 now = np_lb_route_ttl ? bpf_jiffies64() : 0;
	__u16 df = 0;
	__u8 tos;
	long rc;

	fib.ifindex = ctx->ingress_ifindex;
	if (be->family == NETPROBE_FAMILY_IPV4) {
		struct iphdr *ip = data + sizeof(struct ethhdr);

		if ((void *)(ip + 1) > end)
			return XDP_DROP;
		inner_len = bpf_ntohs(ip->tot_len);
		tos = ip->tos;
		df = bpf_ntohs(ip->frag_off) & NP_IP_DF;
		out_len = inner_len + (encap ? NP_IPV4_HLEN : 0);
		fib.family = NP_AF_INET;
		fib.tos = tos;
		fib.ipv4_src = encap ? *(__be32 *)be->encap_src : ip->saddr;
		fib.ipv4_dst = *(__be32 *)be->addr;
	} else {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		if ((void *)(ip6 + 1) > end)
			return XDP_DROP;
		inner_len = bpf_ntohs(ip6->payload_len) + NP_IPV6_HLEN;
		tos = ip6->priority << 4 | ip6->flow_lbl[0] >> 4;
		out_len = inner_len + (encap ? NP_IPV6_HLEN : 0);
		fib.family = NP_AF_INET6;
		/* Two copies, not one from either pointer: a map value and a packet are not alike. */
		if (encap)
			__builtin_memcpy(fib.ipv6_src, be->encap_src, 16);
		else
			__builtin_memcpy(fib.ipv6_src, &ip6->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, be->addr, 16);
	}
	/* Reused if fresh and the packet is no longer than one the lookup let through. */
	route = np_lb_route_ttl ? bpf_map_lookup_elem(&np_lb_routes, &t->slot) : NULL;
	if (route && lb_route_fresh(route, t->gen, now) && out_len <= route->max_len) {
		ifindex = route->ifindex;
		__builtin_memcpy(fib.dmac, route->dmac, ETH_ALEN);
		__builtin_memcpy(fib.smac, route->smac, ETH_ALEN);
	} else {
		fib.tot_len = out_len;
		rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
		if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
			cnt->lb[NETPROBE_LBC_TOO_BIG_DROPS]++;
			/* An IPv4 packet without DF may be fragmented: not here, but not refused either. */
			if ((be->family == NETPROBE_FAMILY_IPV4 && !df) || t->icmp_error)
				return XDP_DROP;
			return lb_too_big(ctx, be->family, fib.mtu_result - (out_len - inner_len));
		}
		if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
			cnt->lb[NETPROBE_LBC_FIB_DROPS]++;
			return XDP_DROP;
		}
		/*
		 * The frame as it is goes to the backend itself: through a gateway it
		 * would be routed back by its destination, the service's address.
		 */
		if (!encap && !lb_is_backend(&fib, be)) {
			cnt->lb[NETPROBE_LBC_FIB_DROPS]++;
			return XDP_DROP;
		}
		if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
			cnt->lb[NETPROBE_LBC_NEIGH_MISS]++;
			if (encap && lb_encap(ctx, be, inner_len, tos, df, t->hash))
				return XDP_DROP;
			*to_backend = true;
			return lb_handoff(ctx, &fib);
		}
		ifindex = fib.ifindex;
		if (route)
			lb_cache_route(route, t->gen, &fib, out_len, now);
	}
	if (encap && lb_encap(ctx, be, inner_len, tos, df, t->hash))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > end)
		return XDP_DROP;
	__builtin_memcpy(((struct ethhdr *)data)->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(((struct ethhdr *)data)->h_source, fib.smac, ETH_ALEN);
	cnt->lb[NETPROBE_LBC_FORWARDED]++;
	*to_backend = true;
	if (ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(ifindex, 0);
}

/*
 * The verdict on a packet for service vip. A function of its own, not
 * inlined: traffic to no service does not pay for its code, and the
 * verifier walks it as one piece.
 */
static __noinline int lb_service_packet(struct xdp_md *ctx, struct netprobe_counters *cnt,
					struct packet_info *pi, struct netprobe_lb_vip *vip,
					__u32 frame_len)
{
	struct netprobe_flow_key *key = &pi->key;
	const struct netprobe_lb_backend *be = NULL;
	struct netprobe_lb_stats *vs, *bs;
	__u32 slot = 0, gen = 0, hash;
	struct lb_target target;
	bool follows, kept = false, new_flow = false, to_backend = false;
	int action;

	cnt->lb[NETPROBE_LBC_VIP_PACKETS]++;
	vs = lb_stats(&np_lb_vip_stats, vip->id);
	if (!vs)
		return XDP_PASS;
	vs->packets++;
	vs->bytes += frame_len;
	/*
	 * A first fragment's flow could not be followed by its later ones (no
	 * ports: they never match a service, and pass as ordinary traffic); a
	 * tag would need the VLAN's own route.
	 */
	if (pi->fragment || pi->vlan_tags) {
		cnt->lb[NETPROBE_LBC_UNSUPPORTED]++;
		return XDP_PASS;
	}

	key->ifindex = 0;
	key->direction = 0;
	key->slot = 0;
	hash = flow_hash(key);
	/* A SYN starts a connection: it goes where the table says now, even on a reused tuple. */
	follows = (pi->tcp_flags & (NP_TCP_SYN | NP_TCP_ACK)) != NP_TCP_SYN;
	if (follows)
		be = lb_established(vip, key, &slot, &gen);
	if (!be) {
		struct netprobe_lb_conn conn;

		/*
		 * Not UDP: a datagram of a flow the table does not know may as
		 * well start a new one, and a draining backend must get none.
		 */
		if (follows && key->proto == IPPROTO_TCP) {
			be = lb_draining(vip, hash, &slot, &gen);
			kept = be;
		}
		if (!be)
			be = lb_choose(vip, hash, &slot, &gen);
		if (!be) {
			cnt->lb[NETPROBE_LBC_NO_BACKEND]++;
			vs->drops++;
			return XDP_DROP;
		}
		if (kept)
			cnt->lb[NETPROBE_LBC_DRAIN_KEPT]++;
		/* An ICMP error is not a flow: it only follows one. */
		if (!pi->lb_icmp) {
			conn.backend = slot;
			conn.gen = gen;
			if (bpf_map_update_elem(&np_lb_conns, key, &conn, BPF_ANY))
				cnt->lb[NETPROBE_LBC_CONN_FAILED]++;
			new_flow = !kept;
		}
	}
	if (pi->lb_icmp)
		cnt->lb[NETPROBE_LBC_ICMP_FORWARDED]++;
	bs = lb_stats(&np_lb_backend_stats, slot);
	if (!bs)
		return XDP_DROP;
	/* Counted when the flow gets its backend, whatever becomes of this packet. */
	if (new_flow) {
		cnt->lb[NETPROBE_LBC_NEW_CONNS]++;
		vs->new_conns++;
		bs->new_conns++;
	}
	target = (struct lb_target){
		.be = be, .slot = slot, .gen = gen, .hash = hash, .icmp_error = pi->lb_icmp};
	action = lb_send(ctx, cnt, &target, &to_backend);
	if (!to_backend) {
		bs->drops++;
		return action;
	}
	bs->packets++;
	bs->bytes += frame_len;
	return action;
}

/* ICMP errors, which quote the packet they are about: of such a packet, a flow's backend cares. */
static __always_inline bool lb_icmp_error(const struct packet_info *pi)
{
	__u8 type = bpf_ntohs(pi->key.dst_port) >> 8; /* the parser keeps type << 8 | code */

	if (pi->key.proto == IPPROTO_ICMP)
		return type == NP_ICMP_DEST_UNREACH || type == NP_ICMP_TIME_EXCEEDED;
	return pi->key.proto == IPPROTO_ICMPV6 && type >= NP_ICMPV6_DEST_UNREACH &&
	       type <= NP_ICMPV6_PARAM_PROB;
}

/*
 * An ICMP error about a packet a service sent (a backend's reply from the
 * service's address; most often "fragmentation needed" from a router on
 * the way to the client) is for the backend that holds the flow, whose
 * kernel adjusts the connection: pi's key becomes that flow's (client to
 * service), as its own packets have it. Returns the service, or NULL (pi
 * untouched) for anything else.
 */
static __always_inline struct netprobe_lb_vip *lb_icmp_flow(struct xdp_md *ctx,
							    struct packet_info *pi)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct netprobe_flow_key *key = &pi->key;
	struct netprobe_lb_vip *vip;
	struct netprobe_lb_vip_key vk = {};
	__u8 client[16] = {};
	__be16 *ports;
	__u8 proto;

	if (pi->vlan_tags || pi->fragment)
		return NULL;
	if (key->family == NETPROBE_FAMILY_IPV4) {
		struct iphdr *ip = data + sizeof(struct ethhdr), *in;

		if ((void *)(ip + 1) > end)
			return NULL;
		in = (void *)ip + ip->ihl * 4 + NP_ICMP_HLEN;
		ports = (void *)(in + 1);
		if ((void *)(ports + 2) > end || in->ihl != 5 || in->saddr != ip->daddr)
			return NULL;
		proto = in->protocol;
		__builtin_memcpy(client, &in->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr), *in6;
		const __u32 *a, *b;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_ICMPV6)
			return NULL;
		in6 = (void *)(ip6 + 1) + NP_ICMP_HLEN;
		ports = (void *)(in6 + 1);
		if ((void *)(ports + 2) > end)
			return NULL;
		a = (const __u32 *)&in6->saddr;
		b = (const __u32 *)&ip6->daddr;
		if (a[0] != b[0] || a[1] != b[1] || a[2] != b[2] || a[3] != b[3])
			return NULL;
		proto = in6->nexthdr;
		__builtin_memcpy(client, &in6->daddr, 16);
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return NULL;
	/* The service that sent the quoted packet: the error's destination, its source port. */
	__builtin_memcpy(vk.addr, key->dst_addr, 16);
	vk.port = ports[0];
	vk.proto = proto;
	vk.family = key->family;
	vip = bpf_map_lookup_elem(&np_lb_vips, &vk);
	if (!vip)
		return NULL;
	__builtin_memcpy(key->src_addr, client, 16);
	key->proto = proto;
	key->src_port = ports[1];
	key->dst_port = ports[0];
	pi->tcp_flags = 0;
	pi->lb_icmp = 1;
	return vip;
}

/* An ICMP error: for the backend of the service flow it quotes, if any. Out of line, as lb_service_packet. */
static __noinline int lb_icmp_packet(struct xdp_md *ctx, struct netprobe_counters *cnt,
				     struct packet_info *pi, __u32 frame_len, bool *handled)
{
	struct netprobe_lb_vip *vip = lb_icmp_flow(ctx, pi);

	if (!vip)
		return XDP_PASS;
	*handled = true;
	return lb_service_packet(ctx, cnt, pi, vip, frame_len);
}

/*
 * The load balancer's verdict on a parsed, well-formed IP packet. *handled
 * says whether it was for a service (its flow is in the connection table,
 * not the monitor's).
 */
static __always_inline int lb_packet(struct xdp_md *ctx, struct netprobe_counters *cnt,
				     struct packet_info *pi, __u32 frame_len, bool *handled)
{
	struct netprobe_flow_key *key = &pi->key;
	struct netprobe_lb_vip_key vk = {};
	struct netprobe_lb_vip *vip;

	if (key->proto != IPPROTO_TCP && key->proto != IPPROTO_UDP)
		return lb_icmp_error(pi) ? lb_icmp_packet(ctx, cnt, pi, frame_len, handled)
					 : XDP_PASS;
	vk.port = key->dst_port;
	vk.proto = key->proto;
	vk.family = key->family;
	__builtin_memcpy(vk.addr, key->dst_addr, 16);
	vip = bpf_map_lookup_elem(&np_lb_vips, &vk);
	if (!vip)
		return XDP_PASS;
	*handled = true;
	return lb_service_packet(ctx, cnt, pi, vip, frame_len);
}

/* Whether addr (of family) lies in one of the first count prefixes of set. */
static __always_inline bool decap_match(const volatile struct netprobe_decap_prefix *set,
					__u32 count, const __u8 *addr, __u8 family)
{
	const __u32 *a = (const __u32 *)addr;

	for (__u32 i = 0; i < NETPROBE_DECAP_MAX; i++) {
		const volatile struct netprobe_decap_prefix *p = &set[i];

		if (i >= count)
			break;
		if (p->family == family && (a[0] & p->mask[0]) == p->addr[0] &&
		    (a[1] & p->mask[1]) == p->addr[1] && (a[2] & p->mask[2]) == p->addr[2] &&
		    (a[3] & p->mask[3]) == p->addr[3])
			return true;
	}
	return false;
}

/*
 * Whether a parsed packet is a tunnel decap may unwrap: IP-in-IP or
 * IPv6-in-IPv6, not a fragment, from a configured tunnel source to a
 * configured tunnel address. Anyone can send a tunnel packet, with any
 * inner source; only the load balancers' are trusted to choose it.
 */
static __always_inline bool decap_wanted(struct netprobe_counters *cnt,
					 const struct packet_info *pi)
{
	if ((pi->key.proto != IPPROTO_IPIP && pi->key.proto != IPPROTO_IPV6) || pi->fragment)
		return false;
	if (decap_match(np_decap_tunnels.from, np_decap_tunnels.from_count, pi->key.src_addr,
			pi->key.family) &&
	    (!np_decap_tunnels.to_count ||
	     decap_match(np_decap_tunnels.to, np_decap_tunnels.to_count, pi->key.dst_addr,
			 pi->key.family)))
		return true;
	cnt->lb[NETPROBE_LBC_DECAP_REFUSED]++;
	return false;
}

/*
 * Unwraps an IP-in-IP or IPv6-in-IPv6 packet (either inner family in either
 * outer one; not behind a VLAN tag or an outer IPv6 extension header, not a
 * fragment: the load balancer sends none of these), once decap_wanted
 * said it may, so that everything after sees what the tunnel carried. Returns the bytes taken off (0: the
 * packet is not one to unwrap), for the counters to count the frame as it
 * arrived. Not inlined, as lb_service_packet.
 */
static __noinline __u32 lb_decap(struct xdp_md *ctx, struct netprobe_counters *cnt)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data, copy;
	__u32 outer_len;
	__u8 inner;

	if ((void *)(eth + 1) > end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5 ||
		    (bpf_ntohs(ip->frag_off) & (NP_IP_MF | NP_IP_OFFSET)))
			return 0;
		inner = ip->protocol;
		outer_len = ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return 0;
		inner = ip6->nexthdr;
		outer_len = NP_IPV6_HLEN;
	} else {
		return 0;
	}
	if (inner != IPPROTO_IPIP && inner != IPPROTO_IPV6)
		return 0;
	/* The inner header's first byte must be there; the parser checks the rest. */
	if ((void *)(eth + 1) + outer_len + 1 > end)
		return 0;
	__builtin_memcpy(&copy, eth, sizeof(copy));
	copy.h_proto = bpf_htons(inner == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6);
	if (bpf_xdp_adjust_head(ctx, outer_len))
		return 0;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + sizeof(copy) > end)
		return outer_len;
	__builtin_memcpy(data, &copy, sizeof(copy));
	cnt->lb[NETPROBE_LBC_DECAPSULATED]++;
	return outer_len;
}

/*
 * TC's side of the map hand-over: a frame of a pending key is sent to that
 * key's next hop, and one pending frame taken. Tagged frames never are:
 * XDP's lb leaves them alone, and TC sees them with the tag taken off.
 * Only within 100 ms of XDP's last hand-over by map is the map looked at.
 */
static __always_inline long lb_tc_handoff_by_map(struct __sk_buff *skb)
{
	struct bpf_redir_neigh nh = {};
	struct lb_handoff_scratch *sc;
	struct lb_handoff_slot *s;
	__u64 now, *recent;
	__u32 zero = 0;

	recent = bpf_map_lookup_elem(&np_lb_handoff_recent, &zero);
	if (!recent || !*recent || skb->vlan_present)
		return -1;
	now = bpf_ktime_get_ns();
	if (now - *recent > LB_HANDOFF_TTL_NS)
		return -1;
	sc = bpf_map_lookup_elem(&np_lb_handoff_scratch, &zero);
	if (!sc || !lb_handoff_key((void *)(long)skb->data, (void *)(long)skb->data_end, &sc->key))
		return -1;
	s = bpf_map_lookup_elem(&np_lb_handoffs, &sc->key);
	if (!s || s->expires_ns < now)
		return -1;
	if (__sync_fetch_and_add(&s->pending, -1) <= 0) {
		__sync_fetch_and_add(&s->pending, 1);
		return -1;
	}
	nh.nh_family = s->family;
	__builtin_memcpy(nh.ipv6_nh, s->nexthop, 16);
	return bpf_redirect_neigh(s->ifindex, &nh, sizeof(nh), 0);
}

/*
 * TC ingress, lb mode: sends a frame XDP handed over (see struct
 * lb_handoff) to its next hop, which the kernel resolves. Returns -1 for
 * any other frame.
 */
static __always_inline long lb_tc_handoff(struct __sk_buff *skb)
{
	struct lb_handoff *h = (void *)(long)skb->data_meta;
	struct bpf_redir_neigh nh = {};

	if (np_xdp_meta && (void *)(h + 1) <= (void *)(long)skb->data &&
	    h->magic == NP_LB_HANDOFF_MAGIC) {
		nh.nh_family = h->family;
		__builtin_memcpy(nh.ipv6_nh, h->nexthop, 16);
		return bpf_redirect_neigh(h->ifindex, &nh, sizeof(nh), 0);
	}
	return lb_tc_handoff_by_map(skb);
}

#endif /* NETPROBE_LB_H */
