/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel/user boundary of netprobe: every map key, map value and counter
 * index that both bpf/ and src/ see. Fixed-width types and explicit padding
 * only, because the same bytes are read by a BPF program and by userspace,
 * and by a later netprobe that finds these maps pinned.
 */
#ifndef NETPROBE_ABI_H
#define NETPROBE_ABI_H

#include <linux/types.h>

/* How many interfaces one netprobe instance (one pin path) can watch. */
#define NETPROBE_MAX_IFACES 64
#define NETPROBE_IFNAMSIZ   16

/* The seed's XDPBasicMonitor / XDPAdvancedFilter / XDPLoadBalancer. */
enum netprobe_xdp_program {
	NETPROBE_XDP_MONITOR = 0,
	NETPROBE_XDP_FILTER = 1,
	NETPROBE_XDP_LB = 2,
};

/* The seed's TCDeviceKey direction: 0 = ingress, 1 = egress. */
enum netprobe_direction {
	NETPROBE_DIR_INGRESS = 0,
	NETPROBE_DIR_EGRESS = 1,
};

/* Where a packet was counted. XDP sees RX only; TX is visible only in TC. */
enum netprobe_hook {
	NETPROBE_HOOK_XDP = 0,
	NETPROBE_HOOK_TC_INGRESS = 1,
	NETPROBE_HOOK_TC_EGRESS = 2,
	NETPROBE_HOOK_MAX,
};

/* Why a packet was counted as malformed; 0 means it parsed. */
#define NETPROBE_MALFORMED_REASONS(X)                                                              \
	X(L2_TRUNCATED, "l2_truncated")                                                            \
	X(VLAN_TOO_DEEP, "vlan_too_deep")                                                          \
	X(L3_TRUNCATED, "l3_truncated")                                                            \
	X(IP_BAD_HEADER, "ip_bad_header")                                                          \
	X(IPV6_EXT_CHAIN, "ipv6_ext_chain")                                                        \
	X(L4_TRUNCATED, "l4_truncated")                                                            \
	X(TCP_BAD_HEADER, "tcp_bad_header")

enum netprobe_malformed {
	NETPROBE_OK = 0,
#define X(id, name) NETPROBE_MALFORMED_##id,
	NETPROBE_MALFORMED_REASONS(X)
#undef X
		NETPROBE_MALFORMED_MAX,
};

/*
 * Counters kept per hook. Bytes are L2 frame lengths without FCS. Family and
 * L4 counters count packets whose header parsed; "fragments" counts IPv4 and
 * IPv6 fragments (first and later ones).
 */
#define NETPROBE_HOOK_COUNTERS(X)                                                                  \
	X(PACKETS, "packets")                                                                      \
	X(BYTES, "bytes")                                                                          \
	X(IPV4_PACKETS, "ipv4_packets")                                                            \
	X(IPV4_BYTES, "ipv4_bytes")                                                                \
	X(IPV6_PACKETS, "ipv6_packets")                                                            \
	X(IPV6_BYTES, "ipv6_bytes")                                                                \
	X(OTHER_L3_PACKETS, "other_l3_packets")                                                    \
	X(OTHER_L3_BYTES, "other_l3_bytes")                                                        \
	X(TCP_PACKETS, "tcp_packets")                                                              \
	X(TCP_BYTES, "tcp_bytes")                                                                  \
	X(UDP_PACKETS, "udp_packets")                                                              \
	X(UDP_BYTES, "udp_bytes")                                                                  \
	X(ICMP_PACKETS, "icmp_packets")                                                            \
	X(ICMP_BYTES, "icmp_bytes")                                                                \
	X(ICMPV6_PACKETS, "icmpv6_packets")                                                        \
	X(ICMPV6_BYTES, "icmpv6_bytes")                                                            \
	X(OTHER_L4_PACKETS, "other_l4_packets")                                                    \
	X(OTHER_L4_BYTES, "other_l4_bytes")                                                        \
	X(VLAN_PACKETS, "vlan_packets")                                                            \
	X(FRAGMENTS, "fragments")                                                                  \
	X(MALFORMED, "malformed")                                                                  \
	X(FLOW_UPDATE_FAILED, "flow_update_failed")

enum netprobe_hook_counter {
#define X(id, name) NETPROBE_HC_##id,
	NETPROBE_HOOK_COUNTERS(X)
#undef X
		NETPROBE_HC_MAX,
};

struct netprobe_hook_counters {
	__u64 v[NETPROBE_HC_MAX];
	/* Indexed by enum netprobe_malformed - 1. */
	__u64 malformed[NETPROBE_MALFORMED_MAX - 1];
};

/* XDP verdicts, indexed by the XDP_* action value (XDP_ABORTED .. XDP_REDIRECT). */
#define NETPROBE_XDP_ACTIONS 5

/* One value of the per-CPU counter array; one array slot per attached interface. */
struct netprobe_counters {
	struct netprobe_hook_counters hook[NETPROBE_HOOK_MAX];
	__u64 xdp_action[NETPROBE_XDP_ACTIONS];
};

enum netprobe_family {
	NETPROBE_FAMILY_IPV4 = 4,
	NETPROBE_FAMILY_IPV6 = 6,
};

/*
 * The seed's FlowKey, for IPv4 and IPv6 alike. IPv4 addresses take the first
 * four bytes of the address fields and the rest stay zero. For ICMP and
 * ICMPv6, src_port is 0 and dst_port is type << 8 | code (as in NetFlow).
 */
struct netprobe_flow_key {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__be16 src_port;
	__be16 dst_port;
	__u32 ifindex;
	__u8 proto;	/* IPPROTO_* */
	__u8 family;	/* enum netprobe_family */
	__u8 direction; /* enum netprobe_direction */
	__u8 slot;	/* the interface's slot: ifindex alone repeats across namespaces */
};

/*
 * One flow's statistics. The flow table is one shared LRU hash, not a per-CPU
 * one: a per-CPU value per flow would cost nr_cpus times the memory (1M flows
 * on 64 CPUs: 2.5 GB instead of about 150 MB). Packets and bytes are added
 * atomically; a flow normally stays on one CPU (RSS), so the add is uncontended.
 */
struct netprobe_flow_stats {
	__u64 packets;
	__u64 bytes;
	/*
	 * Kernel jiffies (bpf_jiffies64): the datapath's cheapest clock, a tick
	 * (1-10 ms) of resolution. netprobe_manager_flow_time_ns() converts.
	 */
	__u64 first_seen;
	__u64 last_seen;
	__u32 tcp_flags; /* OR of the TCP flags seen */
	__u32 pad;
};

/* Written by the clock-sampling program, read by userspace to convert jiffies. */
struct netprobe_clock_sample {
	__u64 jiffies;
	__u64 mono_ns;
};

/* ---- Events: one BPF ring buffer per netprobe instance ---------------- */

enum netprobe_event_type {
	NETPROBE_EVENT_FLOW_START = 1, /* a flow's first packet (detailed events) */
	NETPROBE_EVENT_FLOW_END = 2,   /* a flow left the table after idling (userspace) */
	NETPROBE_EVENT_TEST = 3,       /* from netprobe_emit_test, for tests and benchmarks */
	NETPROBE_EVENT_TYPE_MAX = 32,
};

#define NETPROBE_EVENT_MASK(type) (1u << (type))
#define NETPROBE_EVENT_ALL	  0xffffffffu

/* Every event starts with this. */
struct netprobe_event_hdr {
	__u16 type; /* enum netprobe_event_type */
	__u16 size; /* of the whole event, this header included */
	__u32 ifindex;
	__u64 time; /* jiffies, like flow timestamps */
};

/* NETPROBE_EVENT_FLOW_START and NETPROBE_EVENT_FLOW_END. */
struct netprobe_flow_event {
	struct netprobe_event_hdr hdr;
	struct netprobe_flow_key key;
	__u32 pad;
	struct netprobe_flow_stats stats; /* the first packet, or the final totals */
};

/* NETPROBE_EVENT_TEST: 32 bytes, the size the event benchmarks use. */
struct netprobe_test_event {
	struct netprobe_event_hdr hdr;
	__u64 seq;
	__u64 cpu;
};

/* The largest event; batches reserve this much per event. */
#define NETPROBE_EVENT_MAX_SIZE 128

/*
 * Per-CPU counters of the kernel side of the event path. Added atomically:
 * the test-event producer runs in process context and can be interrupted by
 * XDP on the same CPU; this path is rare, so the atomics cost nothing.
 */
struct netprobe_event_counters {
	__u64 produced;	   /* committed to the ring buffer */
	__u64 lost;	   /* the ring buffer was full: reserve failed */
	__u64 sampled_out; /* flow starts over the rate limit, not emitted on purpose */
};

/* Per-CPU token bucket limiting detailed events. */
struct netprobe_event_rate {
	__u64 tokens_milli; /* tokens x 1000 */
	__u64 last_ns;
};

/* How the TC programs of an interface are attached. */
enum netprobe_tc_attach {
	NETPROBE_TC_NONE = 0,
	NETPROBE_TC_TCX = 1,		/* bpf_link, kernel 6.6+ */
	NETPROBE_TC_CLSACT = 2,		/* filters on a clsact qdisc that existed before */
	NETPROBE_TC_CLSACT_CREATED = 3, /* filters on a clsact qdisc netprobe created */
};

/*
 * The interface registry: one entry per slot of the counter array, pinned so
 * that every netprobe command sees what is attached where. Written only by
 * userspace, under the pin directory's lock.
 */
struct netprobe_iface_info {
	char name[NETPROBE_IFNAMSIZ];
	__u64 netns_ino;      /* the network namespace the ifindex belongs to */
	__u64 attached_at_ns; /* CLOCK_REALTIME */
	__u32 ifindex;
	__u32 in_use;
	__u32 xdp_program;	/* enum netprobe_xdp_program */
	__u32 xdp_attach_flags; /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
	__u32 tc_attach;	/* enum netprobe_tc_attach */
	__u32 tc_handle;	/* clsact filter handle (clsact attach only) */
	__u32 tc_ingress_prio;	/* clsact filter priorities (clsact attach only) */
	__u32 tc_egress_prio;
};

#endif /* NETPROBE_ABI_H */
