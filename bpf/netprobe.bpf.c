// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The netprobe datapath: one XDP program for RX and two TC programs for
 * ingress and egress. One copy is loaded per attached interface, specialised
 * through the read-only globals below, so what a mode does not use is removed
 * by the verifier's dead-code elimination. All copies share the pinned maps.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "netprobe/abi.h"
#include "parse.h"

/* Set by userspace between open and load. */
const volatile __u32 np_slot = 0;    /* this interface's slot in np_counters */
const volatile __u32 np_ifindex = 0; /* recorded in flow keys */
/* Events: which hooks emit flow starts, and at most how many a second per CPU. */
const volatile bool np_detailed_events = false;
const volatile bool np_xdp_events = false;
const volatile bool np_tc_events = false;
const volatile __u32 np_events_per_sec = 10000;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETPROBE_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct netprobe_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_counters SEC(".maps");

/* Resized by userspace to the configured flow table size before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct netprobe_flow_key);
	__type(value, struct netprobe_flow_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_flows SEC(".maps");

/* The interface registry; only userspace reads and writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NETPROBE_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct netprobe_iface_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_ifaces SEC(".maps");

/* Resized by userspace to the configured size before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netprobe_event_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_evstats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netprobe_event_rate);
} np_evrate SEC(".maps");

static __always_inline struct netprobe_event_counters *event_counters(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&np_evstats, &key);
}

/*
 * A token bucket per CPU, refilled at np_events_per_sec with a burst of one
 * second's worth: a flood of new flows cannot swamp the ring buffer. Only the
 * new-flow path calls it, so its clock read is not paid per packet.
 */
static __always_inline bool event_allowed(struct netprobe_event_counters *ec)
{
	__u32 key = 0;
	struct netprobe_event_rate *r = bpf_map_lookup_elem(&np_evrate, &key);
	__u64 now = bpf_ktime_get_ns(), cap = (__u64)np_events_per_sec * 1000;

	if (!r)
		return false;
	__u64 elapsed_us = (now - r->last_ns) / 1000;

	r->tokens_milli += elapsed_us * np_events_per_sec / 1000;
	if (r->tokens_milli > cap || r->last_ns == 0) {
		r->tokens_milli = cap;
		r->last_ns = now;
	} else {
		/* Credit whole microseconds only, so gaps under 1 us still add up. */
		r->last_ns += elapsed_us * 1000;
	}
	if (r->tokens_milli < 1000) {
		__sync_fetch_and_add(&ec->sampled_out, 1);
		return false;
	}
	r->tokens_milli -= 1000;
	return true;
}

static __always_inline void emit_flow_start(const struct packet_info *pi,
					    const struct netprobe_flow_stats *first)
{
	struct netprobe_event_counters *ec = event_counters();
	struct netprobe_flow_event *ev;

	if (!ec || !event_allowed(ec))
		return;
	ev = bpf_ringbuf_reserve(&np_events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&ec->lost, 1);
		return;
	}
	ev->hdr.type = NETPROBE_EVENT_FLOW_START;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ifindex = np_ifindex;
	ev->hdr.time = first->first_seen;
	ev->key = pi->key;
	ev->pad = 0;
	ev->stats = *first;
	bpf_ringbuf_submit(ev, 0);
	__sync_fetch_and_add(&ec->produced, 1);
}

static __always_inline struct netprobe_counters *slot_counters(void)
{
	__u32 key = np_slot;

	return bpf_map_lookup_elem(&np_counters, &key);
}

static __always_inline void count_packet(struct netprobe_hook_counters *hc,
					 const struct packet_info *pi, int malformed, __u64 len)
{
	__u64 *v = hc->v;

	v[NETPROBE_HC_PACKETS]++;
	v[NETPROBE_HC_BYTES] += len;
	if (pi->vlan_tags)
		v[NETPROBE_HC_VLAN_PACKETS]++;
	if (malformed) {
		__u32 reason = malformed - 1;

		v[NETPROBE_HC_MALFORMED]++;
		if (reason < NETPROBE_MALFORMED_MAX - 1)
			hc->malformed[reason]++;
		return;
	}

	if (pi->l3 == NP_L3_IPV4) {
		v[NETPROBE_HC_IPV4_PACKETS]++;
		v[NETPROBE_HC_IPV4_BYTES] += len;
	} else if (pi->l3 == NP_L3_IPV6) {
		v[NETPROBE_HC_IPV6_PACKETS]++;
		v[NETPROBE_HC_IPV6_BYTES] += len;
	} else {
		v[NETPROBE_HC_OTHER_L3_PACKETS]++;
		v[NETPROBE_HC_OTHER_L3_BYTES] += len;
		return;
	}
	if (pi->fragment)
		v[NETPROBE_HC_FRAGMENTS]++;

	switch (pi->key.proto) {
	case IPPROTO_TCP:
		v[NETPROBE_HC_TCP_PACKETS]++;
		v[NETPROBE_HC_TCP_BYTES] += len;
		break;
	case IPPROTO_UDP:
		v[NETPROBE_HC_UDP_PACKETS]++;
		v[NETPROBE_HC_UDP_BYTES] += len;
		break;
	case IPPROTO_ICMP:
		v[NETPROBE_HC_ICMP_PACKETS]++;
		v[NETPROBE_HC_ICMP_BYTES] += len;
		break;
	case IPPROTO_ICMPV6:
		v[NETPROBE_HC_ICMPV6_PACKETS]++;
		v[NETPROBE_HC_ICMPV6_BYTES] += len;
		break;
	default:
		v[NETPROBE_HC_OTHER_L4_PACKETS]++;
		v[NETPROBE_HC_OTHER_L4_BYTES] += len;
	}
}

/* Adds one packet to its flow; returns 0, or -1 when the flow could not be stored. */
static __always_inline int account_flow(struct packet_info *pi, __u8 direction, __u64 len)
{
	struct netprobe_flow_key *key = &pi->key;
	struct netprobe_flow_stats *fs;
	/* jiffies: the verifier inlines it to one load; ktime helpers cost 20-35 ns here. */
	__u64 now = bpf_jiffies64();

	key->ifindex = np_ifindex;
	key->slot = np_slot;
	key->direction = direction;
	fs = bpf_map_lookup_elem(&np_flows, key);
	if (!fs) {
		struct netprobe_flow_stats first = {
			.packets = 1,
			.bytes = len,
			.first_seen = now,
			.last_seen = now,
			.tcp_flags = pi->tcp_flags,
		};

		if (bpf_map_update_elem(&np_flows, key, &first, BPF_NOEXIST) == 0) {
			if (np_detailed_events &&
			    (direction == NETPROBE_DIR_INGRESS ? np_xdp_events : np_tc_events))
				emit_flow_start(pi, &first);
			return 0;
		}
		/* Another CPU created it between our lookup and update. */
		fs = bpf_map_lookup_elem(&np_flows, key);
		if (!fs)
			return -1;
	}
	__sync_fetch_and_add(&fs->packets, 1);
	__sync_fetch_and_add(&fs->bytes, len);
	fs->last_seen = now;
	/* Flags settle after the handshake: skip the atomic once they are all in. */
	if ((fs->tcp_flags & pi->tcp_flags) != pi->tcp_flags)
		__sync_fetch_and_or(&fs->tcp_flags, (__u32)pi->tcp_flags);
	return 0;
}

/*
 * Parses and counts one packet. pkt_len is the length of [data, ...) as the
 * hook has it; outer_vlan is 1 when the outer VLAN tag was taken out of the
 * frame into metadata, which still makes the frame 4 bytes longer.
 */
static __always_inline void observe(struct netprobe_hook_counters *hc, void *data, void *end,
				    __u32 pkt_len, __u8 outer_vlan, __u8 direction,
				    bool record_flow)
{
	struct packet_info pi = {};
	__u64 frame_len = pkt_len + outer_vlan * 4;
	int malformed;

	malformed = parse_packet(data, end, pkt_len, &pi);
	pi.vlan_tags += outer_vlan;
	count_packet(hc, &pi, malformed, frame_len);
	if (record_flow && !malformed && pi.l3 != NP_L3_NONE &&
	    account_flow(&pi, direction, frame_len))
		hc->v[NETPROBE_HC_FLOW_UPDATE_FAILED]++;
}

SEC("xdp")
int netprobe_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct netprobe_counters *cnt = slot_counters();
	int action = XDP_PASS;

	if (!cnt)
		return XDP_PASS;
	observe(&cnt->hook[NETPROBE_HOOK_XDP], data, end, end - data, 0, NETPROBE_DIR_INGRESS,
		true);
	cnt->xdp_action[action]++;
	return action;
}

/*
 * TC sees an skb: its linear part may end before the headers do, and the
 * outer VLAN tag may have been moved into skb metadata (it still counts as
 * 4 bytes of the frame).
 */
static __always_inline void observe_skb(struct __sk_buff *skb, int hook, __u8 direction)
{
	struct netprobe_counters *cnt = slot_counters();
	__u32 outer_vlan = skb->vlan_present ? 1 : 0;
	__u32 pkt_len = skb->len;
	void *data, *end;

	if (!cnt)
		return;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	/* Headers of a non-linear skb may sit in fragments: pull enough of them in. */
	if (end - data < 128 && pkt_len > end - data) {
		bpf_skb_pull_data(skb, pkt_len < 128 ? pkt_len : 128);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	/* XDP already recorded the ingress flow; TC ingress only counts. */
	observe(&cnt->hook[hook], data, end, pkt_len, outer_vlan, direction,
		hook == NETPROBE_HOOK_TC_EGRESS);
}

SEC("tc")
int netprobe_tc_ingress(struct __sk_buff *skb)
{
	observe_skb(skb, NETPROBE_HOOK_TC_INGRESS, NETPROBE_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int netprobe_tc_egress(struct __sk_buff *skb)
{
	observe_skb(skb, NETPROBE_HOOK_TC_EGRESS, NETPROBE_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

/*
 * Samples jiffies and CLOCK_MONOTONIC together, for userspace to convert flow
 * timestamps. Run with BPF_PROG_RUN only; never attached.
 */
struct netprobe_clock_sample np_clock;

SEC("xdp")
int netprobe_clock(struct xdp_md *ctx)
{
	np_clock.jiffies = bpf_jiffies64();
	np_clock.mono_ns = bpf_ktime_get_ns();
	return XDP_PASS;
}

/* bpf_loop's context must live on the stack. */
struct emit_ctx {
	struct netprobe_event_counters *ec;
};

static long emit_one_test_event(__u32 i, void *arg)
{
	struct netprobe_event_counters *ec = ((struct emit_ctx *)arg)->ec;
	struct netprobe_test_event *ev;

	ev = bpf_ringbuf_reserve(&np_events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&ec->lost, 1);
		return 0;
	}
	ev->hdr.type = NETPROBE_EVENT_TEST;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ifindex = 0;
	ev->hdr.time = bpf_jiffies64();
	ev->seq = ec->produced + ec->lost;
	ev->cpu = bpf_get_smp_processor_id();
	bpf_ringbuf_submit(ev, 0);
	__sync_fetch_and_add(&ec->produced, 1);
	return 0;
}

/*
 * Emits as many 32-byte test events as the frame's first four bytes say, in
 * one BPF_PROG_RUN (a test run's per-run overhead is far above an event's
 * cost), so tests and benchmarks can produce a known number. Never attached.
 */
SEC("xdp")
int netprobe_emit_test(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct emit_ctx ectx = {.ec = event_counters()};
	__u32 count;

	if (!ectx.ec || data + sizeof(count) > end)
		return XDP_ABORTED;
	count = *(__u32 *)data;
	bpf_loop(count, emit_one_test_event, &ectx, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
