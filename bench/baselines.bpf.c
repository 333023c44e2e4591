// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Baselines that netprobe is measured against in the same run, and the
 * live-frames traffic generator. Not part of the product.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "netprobe/abi.h"
#include "../bpf/parse.h"

/* The floor: an XDP program that does nothing. */
SEC("xdp")
int bare_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drop_count SEC(".maps");

/* A counting drop: the cheapest program that drops and still tells how many. */
SEC("xdp")
int bare_drop(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&drop_count, &key);

	if (n)
		(*n)++;
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct netprobe_flow_key);
	__type(value, __u64);
} ref_flows SEC(".maps");

/*
 * The cheapest program that does the monitor's work: the same parse and
 * one per-CPU hash update per packet, no global counters, no timestamps.
 */
SEC("xdp")
int reference_monitor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct packet_info pi = {};
	__u64 one = 1, *v;

	if (parse_packet(data, end, end - data, &pi) || pi.l3 == NP_L3_NONE)
		return XDP_PASS;
	v = bpf_map_lookup_elem(&ref_flows, &pi.key);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&ref_flows, &pi.key, &one, BPF_ANY);
	return XDP_PASS;
}

struct lpm_v4_key {
	__u32 prefix_len;
	__u8 addr[4]; /* network order */
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 131072);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} ref_deny_trie SEC(".maps");

/*
 * A deny list as the kernel's LPM trie: netprobe's parser and one trie
 * lookup of the IPv4 source, drop on a match. What netprobe's DIR-24-8
 * tables are measured against: a trie walk grows with the prefixes in it.
 */
SEC("xdp")
int reference_lpm(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct packet_info pi = {};
	struct lpm_v4_key key = {.prefix_len = 32};

	if (parse_packet(data, end, end - data, &pi) || pi.l3 != NP_L3_IPV4)
		return XDP_PASS;
	__builtin_memcpy(key.addr, pi.key.src_addr, 4);
	return bpf_map_lookup_elem(&ref_deny_trie, &key) ? XDP_DROP : XDP_PASS;
}

/*
 * Live-frames generator: BPF_PROG_RUN sends every frame out of the ctx's
 * interface. Also the bare XDP_TX the load balancer is measured against.
 */
SEC("xdp")
int gen_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/* A checksum over a 16-bit word that changed from old to new (RFC 1624, eq. 3). */
static __always_inline void csum_replace16(__u16 *check, __u16 old, __u16 new)
{
	*check = csum_fold((__u16) ~*check + (__u16)~old + new);
}

/*
 * The least an IP-in-IP load balancer does for a packet: an outer IPv4
 * header with its checksum in front (bpf_xdp_adjust_head), new MAC
 * addresses, out of the device it came in by. No lookups: what netprobe's lb
 * adds to this is the service, connection and Maglev lookups, the route
 * lookup (bpf_fib_lookup) and its counters.
 */
SEC("xdp")
int encap_tx(struct xdp_md *ctx)
{
	static const __u8 dmac[ETH_ALEN] = {0x02, 0, 0, 0, 1, 1},
			  smac[ETH_ALEN] = {0x02, 0, 0, 0, 0, 1};
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr eth;
	struct iphdr *ip, *inner;
	__u32 sum = 0;

	if (data + sizeof(eth) + sizeof(*inner) > end)
		return XDP_ABORTED;
	__builtin_memcpy(&eth, data, sizeof(eth));
	inner = data + sizeof(eth);
	__u16 inner_len = bpf_ntohs(inner->tot_len);

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(*ip)))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ip = data + sizeof(eth);
	if ((void *)(ip + 1) > end)
		return XDP_ABORTED;
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(inner_len + sizeof(*ip));
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_IPIP;
	ip->check = 0;
	ip->saddr = bpf_htonl(0xc6130001); /* 198.19.0.1 -> 198.19.1.1 */
	ip->daddr = bpf_htonl(0xc6130101);
#pragma unroll
	for (int i = 0; i < (int)sizeof(*ip) / 2; i++)
		sum += ((__u16 *)ip)[i];
	ip->check = csum_fold(sum);
	__builtin_memcpy(eth.h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth.h_source, smac, ETH_ALEN);
	__builtin_memcpy(data, &eth, sizeof(eth));
	return XDP_TX;
}

/*
 * The kernel's route lookup alone, as netprobe's lb makes it for a backend
 * (198.19.1.1, from the device the frame came in by): XDP_TX if it found
 * the route and the next hop's MAC address.
 */
SEC("xdp")
int fib_tx(struct xdp_md *ctx)
{
	struct bpf_fib_lookup fib = {};

	fib.ifindex = ctx->ingress_ifindex;
	fib.family = 2; /* AF_INET */
	fib.ipv4_src = bpf_htonl(0xc6130001);
	fib.ipv4_dst = bpf_htonl(0xc6130101);
	fib.tot_len = 70;
	return bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_SUCCESS ? XDP_TX
										     : XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} rerun_targets SEC(".maps");

__u32 rerun_target;  /* the program under test: rerun_targets[rerun_target] */
bool rerun_new_flow; /* make each run's TCP frame a flow of its own */
__u32 rerun_flows;   /* flows made so far */

/*
 * BPF_PROG_RUN in repeat mode hands each run the frame the last one left,
 * and an encapsulating program grows it by an outer IPv4 header every time.
 * lb_rerun gives the program under test the frame the test sent: it takes
 * an outer IP-in-IP header off (as the backend would); with rerun_new_flow,
 * it gives the TCP frame the next source port, and every 65,536 runs the
 * next source address (198.18.1.0 up), checksums kept right. Then it
 * tail-calls the program. Every program compared on VIP traffic runs
 * through it.
 */
SEC("xdp")
int lb_rerun(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data, copy;
	struct iphdr *ip = data + sizeof(*eth);
	struct tcphdr *tcp;

	if ((void *)(ip + 1) > end)
		return XDP_ABORTED;
	if (ip->protocol == IPPROTO_IPIP) {
		__builtin_memcpy(&copy, eth, sizeof(copy));
		if (bpf_xdp_adjust_head(ctx, sizeof(*ip)))
			return XDP_ABORTED;
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		eth = data;
		ip = data + sizeof(*eth);
		if ((void *)(ip + 1) > end)
			return XDP_ABORTED;
		__builtin_memcpy(eth, &copy, sizeof(copy));
	}
	if (rerun_new_flow) {
		__u32 n = rerun_flows++;
		__u16 *src_lo = (__u16 *)&ip->saddr + 1, lo = bpf_htons(0x100 + (n >> 16));
		__u16 port = bpf_htons(n & 0xffff);

		tcp = (void *)(ip + 1);
		if (ip->ihl != 5 || ip->protocol != IPPROTO_TCP || (void *)(tcp + 1) > end)
			return XDP_ABORTED;
		/* The address is in the IP header's checksum and TCP's pseudo-header. */
		csum_replace16(&ip->check, *src_lo, lo);
		csum_replace16(&tcp->check, *src_lo, lo);
		csum_replace16(&tcp->check, tcp->source, port);
		*src_lo = lo;
		tcp->source = port;
	}
	bpf_tail_call(ctx, &rerun_targets, rerun_target);
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
