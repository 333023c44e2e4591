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

/* Live-frames generator: BPF_PROG_RUN sends every frame out of the ctx's interface. */
SEC("xdp")
int gen_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
