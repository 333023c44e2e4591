// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The netprobe datapath: one XDP program for RX and two TC programs for
 * ingress and egress. One copy is loaded per attached interface, specialised
 * through the read-only globals of maps.h, so what a mode does not use is removed
 * by the verifier's dead-code elimination. All copies share the pinned maps.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "netprobe/abi.h"
#include "maps.h"
#include "events.h"
#include "parse.h"
#include "filter.h"
#include "lb.h"

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

/*
 * A peer this host opened a flow to: mitigation never blocks it (filter.h,
 * unblockable), nor the prefix it would block it in: its IPv6 prefix, its
 * IPv4 /24.
 */
static __always_inline void note_peer(const struct netprobe_flow_key *key, __u64 now)
{
	struct netprobe_addr_key peer = {.family = key->family};

	__builtin_memcpy(peer.addr, key->dst_addr, 16);
	bpf_map_update_elem(&np_peers, &peer, &now, BPF_ANY);
	if (np_mode != NETPROBE_XDP_FILTER)
		return;
	if (key->family == NETPROBE_FAMILY_IPV4) {
		/* The /24 an aggregate would block (filter.h, aggregate_v4). */
		peer.addr[3] = 0;
		peer.prefix_len = 24;
	} else {
		source_scope(&peer);
	}
	if (peer.prefix_len)
		bpf_map_update_elem(&np_peers, &peer, &now, BPF_ANY);
}

/*
 * Whether this host opens the egress flow of key with this packet: a SYN,
 * an echo request, or any other first packet of a flow whose reverse this
 * host has not received (a datagram it sends first). Asked on a flow's
 * first packet only. A spoofer can make this host answer, never initiate.
 */
static __always_inline bool opens_flow(const struct packet_info *pi)
{
	const struct netprobe_flow_key *k = &pi->key;
	__u8 type = bpf_ntohs(k->dst_port) >> 8;

	if (k->proto == IPPROTO_TCP)
		return (pi->tcp_flags & (NP_TCP_SYN | NP_TCP_ACK)) == NP_TCP_SYN;
	if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6)
		return type == (k->proto == IPPROTO_ICMP ? 8 : 128);
	/*
	 * UDP: a client's datagram, from an ephemeral port (Linux's 32768 and
	 * up) to a service's. A service's answer never opens a flow, even when
	 * its query is no longer in the table (flushed by a flood) or came to
	 * another address.
	 */
	if (k->proto == IPPROTO_UDP &&
	    (bpf_ntohs(k->src_port) < 32768 || bpf_ntohs(k->dst_port) >= 32768))
		return false;
	return !flow_stats(k->dst_addr, k->src_addr, k->family, k->dst_port, k->src_port, k->proto,
			   NETPROBE_DIR_INGRESS);
}

/* account_flow: an ingress ACK that completes a handshake this host answered (see filter.h). */
#define NP_FLOW_HANDSHAKE_ACK 1
/* account_flow: an egress packet of a flow this host opened. */
#define NP_FLOW_OURS 2
/* account_flow: the flow's first packet. */
#define NP_FLOW_NEW 4
/* A flow this host opened refreshes its peer this often, in jiffies (a power of two). */
#define NP_PEER_REFRESH_SHIFT 10

/*
 * Adds one packet to its flow; returns 0 or NP_FLOW_HANDSHAKE_ACK, or -1
 * when the flow could not be stored.
 */
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

		if (direction == NETPROBE_DIR_EGRESS && opens_flow(pi)) {
			first.flags = NETPROBE_FLOW_F_INITIATED;
			note_peer(key, now);
		}
		if (bpf_map_update_elem(&np_flows, key, &first, BPF_NOEXIST) == 0) {
			if (np_detailed_events &&
			    (direction == NETPROBE_DIR_INGRESS ? np_xdp_events : np_tc_events))
				emit_flow_start(key, &first);
			return NP_FLOW_NEW |
			       (first.flags & NETPROBE_FLOW_F_INITIATED ? NP_FLOW_OURS : 0);
		}
		/* Another CPU created it between our lookup and update. */
		fs = bpf_map_lookup_elem(&np_flows, key);
		if (!fs)
			return -1;
	}
	__sync_fetch_and_add(&fs->packets, 1);
	__sync_fetch_and_add(&fs->bytes, len);
	/* A long-lived flow this host opened keeps its peer fresh, every few seconds. */
	if ((fs->flags & NETPROBE_FLOW_F_INITIATED) &&
	    (now ^ fs->last_seen) >> NP_PEER_REFRESH_SHIFT)
		note_peer(key, now);
	fs->last_seen = now;
	/* Flags settle after the handshake: skip the atomic once they are all in. */
	if ((fs->tcp_flags & pi->tcp_flags) != pi->tcp_flags) {
		__u32 before = __sync_fetch_and_or(&fs->tcp_flags, (__u32)pi->tcp_flags);

		/* The first ACK after a lone SYN: a client answering this host's SYN-ACK. */
		if (direction == NETPROBE_DIR_INGRESS &&
		    (before & (NP_TCP_SYN | NP_TCP_ACK | NP_TCP_RST)) == NP_TCP_SYN &&
		    (pi->tcp_flags & (NP_TCP_SYN | NP_TCP_ACK | NP_TCP_RST)) == NP_TCP_ACK)
			return NP_FLOW_HANDSHAKE_ACK;
	}
	return fs->flags & NETPROBE_FLOW_F_INITIATED ? NP_FLOW_OURS : 0;
}

/*
 * Parses and counts one packet in TC. pkt_len is the length of [data, ...)
 * as the hook has it; outer_vlan is 1 when the outer VLAN tag was taken out
 * of the frame into metadata, which still makes the frame 4 bytes longer.
 * Returns the parser's verdict (0 or a malformed reason).
 */
static __always_inline int observe(struct netprobe_hook_counters *hc, struct packet_info *pi,
				   void *data, void *end, __u32 pkt_len, __u8 outer_vlan)
{
	int malformed = parse_packet(data, end, pkt_len, pi);

	pi->vlan_tags += outer_vlan;
	count_packet(hc, pi, malformed, pkt_len + outer_vlan * 4);
	return malformed;
}

/* Records the packet in its flow; returns what account_flow noticed (0 or NP_FLOW_*). */
static __always_inline int record_flow(struct netprobe_hook_counters *hc, struct packet_info *pi,
				       __u8 direction, __u64 frame_len)
{
	int ret = account_flow(pi, direction, frame_len);

	if (ret < 0) {
		hc->v[NETPROBE_HC_FLOW_UPDATE_FAILED]++;
		return 0;
	}
	return ret;
}

/* The filter's verdict on an incoming packet, its alerts settled. */
static __always_inline int filter_verdict(struct netprobe_counters *cnt, struct packet_info *pi,
					  int malformed, bool lists_only)
{
	int action = filter_packet(cnt, pi, malformed, lists_only);

	if (action & NP_ALERTS_PENDING)
		settle_alerts(cnt);
	return action & ~NP_ALERTS_PENDING;
}

/*
 * The XDP path. with_lb adds what only the lb mode and backends (decap)
 * need; netprobe_xdp makes two copies, so that the verifier walks the one
 * for the mode, and the filter's stays as short as it was without them.
 */
static __always_inline int xdp_path(struct xdp_md *ctx, const bool with_lb)
{
	struct netprobe_counters *cnt = slot_counters();
	struct netprobe_hook_counters *hc;
	struct packet_info pi = {};
	int action = XDP_PASS, malformed;
	__u32 taken_off = 0, frame_len;
	bool lb_flow = false, tunnel = false;
	void *data, *end;

	if (!cnt)
		return XDP_PASS;
	hc = &cnt->hook[NETPROBE_HOOK_XDP];
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	frame_len = end - data;
	malformed = parse_packet(data, end, frame_len, &pi);
	/*
	 * A tunnel is unwrapped only from a configured tunnel source, and only
	 * once its outer packet passed the lists: then it is counted, filtered
	 * (detections included) and balanced as what it carries.
	 */
	if (with_lb && np_decap && !malformed && pi.l3 != NP_L3_NONE)
		tunnel = decap_wanted(cnt, &pi);
	if (np_mode == NETPROBE_XDP_FILTER && (pi.l3 != NP_L3_NONE || malformed))
		action = filter_verdict(cnt, &pi, malformed, tunnel);
	if (tunnel && action == XDP_PASS && (taken_off = lb_decap(ctx, cnt))) {
		data = (void *)(long)ctx->data;
		end = (void *)(long)ctx->data_end;
		frame_len = end - data;
		__builtin_memset(&pi, 0, sizeof(pi));
		malformed = parse_packet(data, end, frame_len, &pi);
		if (np_mode == NETPROBE_XDP_FILTER && (pi.l3 != NP_L3_NONE || malformed))
			action = filter_verdict(cnt, &pi, malformed, false);
	}
	count_packet(hc, &pi, malformed, frame_len + taken_off);
	if (with_lb && np_mode == NETPROBE_XDP_LB && !malformed && pi.l3 != NP_L3_NONE)
		action = lb_packet(ctx, cnt, &pi, frame_len, &lb_flow);
	/* Dropped packets stay out of the flow table: a flood would flush it. */
	if (action == XDP_PASS && !malformed && pi.l3 != NP_L3_NONE && !lb_flow) {
		int flow = record_flow(hc, &pi, NETPROBE_DIR_INGRESS, frame_len + taken_off);

		if (np_mode == NETPROBE_XDP_FILTER && (flow & NP_FLOW_HANDSHAKE_ACK))
			handshake_ack(cnt, &pi, ctx);
		/*
		 * Not in the copy with lb and decap: its verification would pass
		 * the kernel's 1M-instruction budget (a backend's UDP probes count
		 * by its unreachables alone).
		 */
		if (!with_lb && np_mode == NETPROBE_XDP_FILTER && np_filter.port_scan.enabled &&
		    (flow & NP_FLOW_NEW) && pi.key.proto == IPPROTO_UDP && !pi.fragment &&
		    udp_probe(ctx, cnt, &pi))
			settle_alerts(cnt);
	}
	if (action >= 0 && action < NETPROBE_XDP_ACTIONS)
		cnt->xdp_action[action]++;
	return action;
}

SEC("xdp")
int netprobe_xdp(struct xdp_md *ctx)
{
	if (np_mode == NETPROBE_XDP_LB || np_decap)
		return xdp_path(ctx, true);
	return xdp_path(ctx, false);
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
	int flow;

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
	struct packet_info pi = {};
	struct netprobe_hook_counters *hc = &cnt->hook[hook];

	/* XDP already recorded the ingress flow; TC ingress only counts. */
	if (observe(hc, &pi, data, end, pkt_len, outer_vlan) != 0 || pi.l3 == NP_L3_NONE ||
	    direction != NETPROBE_DIR_EGRESS)
		return;
	flow = record_flow(hc, &pi, direction, pkt_len + outer_vlan * 4);
	/* What this host answers is the filter's evidence (handshakes, failed probes). */
	if (np_mode == NETPROBE_XDP_FILTER &&
	    egress_evidence(cnt, &pi, data, end, flow & NP_FLOW_OURS))
		settle_alerts(cnt);
}

SEC("tc")
int netprobe_tc_ingress(struct __sk_buff *skb)
{
	long handoff = -1;

	/* Before anything moves the frame: its metadata sits right in front of it. */
	if (np_mode == NETPROBE_XDP_LB)
		handoff = lb_tc_handoff(skb);
	observe_skb(skb, NETPROBE_HOOK_TC_INGRESS, NETPROBE_DIR_INGRESS);
	return handoff >= 0 ? handoff : TC_ACT_UNSPEC;
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

	ev = event_reserve(ec, sizeof(*ev));
	if (!ev)
		return 0;
	ev->hdr.type = NETPROBE_EVENT_TEST;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ifindex = 0;
	ev->hdr.time = bpf_jiffies64();
	ev->seq = ec->produced + ec->lost;
	ev->cpu = bpf_get_smp_processor_id();
	event_commit(ec, ev);
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

/*
 * Emits the flow-end events userspace made when it expired idle flows
 * (housekeeping), carried in the frame one after another, into the ring
 * buffer: whoever reads the events gets them, whichever process expired
 * the flows. Run with BPF_PROG_RUN only; never attached. A bounded loop,
 * not bpf_loop: kernels before 5.17 run it too.
 */
SEC("xdp")
int netprobe_emit_flow_ends(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct netprobe_event_counters *ec = event_counters();
	const __u32 size = sizeof(struct netprobe_flow_event);

	if (!ec)
		return XDP_ABORTED;
	for (int i = 0; i < NETPROBE_FLOW_ENDS_PER_RUN; i++) {
		struct netprobe_flow_event *ev;

		if (data + size > end)
			break;
		ev = event_reserve(ec, size);
		if (ev) {
			__builtin_memcpy(ev, data, size);
			ev->hdr.type = NETPROBE_EVENT_FLOW_END;
			ev->hdr.size = size;
			event_commit(ec, ev);
		}
		data += size;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
