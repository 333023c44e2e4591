/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every map and read-only setting the netprobe programs share. Maps with
 * LIBBPF_PIN_BY_NAME are pinned under the pin path and shared by every
 * interface's copy of the programs; the settings are each copy's own, set by
 * userspace between open and load, so the verifier removes what a mode or a
 * switched-off feature does not use.
 */
#ifndef NETPROBE_MAPS_H
#define NETPROBE_MAPS_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "netprobe/abi.h"

const volatile __u32 np_slot = 0;    /* this interface's slot in np_counters */
const volatile __u32 np_ifindex = 0; /* recorded in flow keys */
const volatile __u32 np_mode = NETPROBE_XDP_MONITOR;
/* Events: which hooks emit flow starts, and at most how many a second per CPU. */
const volatile bool np_detailed_events = false;
const volatile bool np_xdp_events = false;
const volatile bool np_tc_events = false;
const volatile __u32 np_events_per_sec = 10000;
const volatile struct netprobe_filter_params np_filter = {};
/* Unwrap IP-in-IP and IPv6-in-IPv6 (load balancer backends), of these tunnels only. */
const volatile bool np_decap = false;
const volatile struct netprobe_decap_params np_decap_tunnels = {};
/* Jiffies each CPU reuses a route to a backend (lb_route_cache_ms); 0: look up every packet. */
const volatile __u32 np_lb_route_ttl = 0;
/* Whether XDP may call bpf_xdp_adjust_meta (some kernels refuse it): how lb hands frames to TC. */
const volatile bool np_xdp_meta = true;

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

/*
 * What each registered interface was attached with, by slot; only userspace
 * reads and writes it. A map of its own, so that a state pinned by an older
 * netprobe (whose np_ifaces records are as they were) still loads.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NETPROBE_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct netprobe_iface_settings);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_iface_settings SEC(".maps");

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

/* Token buckets: [0] flow starts, [1] security events. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct netprobe_event_rate);
} np_evrate SEC(".maps");

/* ---- Filter mode: the lists (see abi.h for the layout) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netprobe_acl_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NETPROBE_ACL_TBL24_ELEMS);
	__type(key, __u32);
	__type(value, struct netprobe_acl_tbl24);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_v4_tbl24 SEC(".maps");

/* Resized by userspace (config acl_tbl8_groups) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct netprobe_acl_tbl8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_v4_tbl8 SEC(".maps");

/* The exact tables and the rules are resized to config acl_max_rules. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u32); /* network order */
	__type(value, struct netprobe_acl_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_v4_exact SEC(".maps");

/*
 * Mitigation's IPv4 /24 blocks (aggregates: a /24 many of whose addresses
 * were blocked while the pool was under pressure), by network address
 * (network order). Looked up when nothing else decides a source. Resized to
 * config mitigation_max_blocks.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct netprobe_acl_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_v4_agg SEC(".maps");

/*
 * Addresses blocked lately in each IPv4 /24: when enough distinct ones are,
 * the /24 is blocked whole. One bit per address, so that an address
 * blocked again (evicted and caught anew, or blocked by both hooks) counts
 * once.
 */
struct np_v4_members {
	__u64 since; /* CLOCK_MONOTONIC ns of the first block counted */
	__u32 count; /* bits set in members */
	__u32 pad;
	__u32 members[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct np_v4_members);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_v4_members SEC(".maps");

struct np_v6_addr {
	__u8 a[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, struct np_v6_addr);
	__type(value, struct netprobe_acl_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_v6_exact SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 131072);
	__type(key, struct netprobe_acl_v6_prefix);
	__type(value, struct netprobe_acl_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_v6_trie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, struct netprobe_acl_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_acl_hits SEC(".maps");

/* ---- Filter mode: detection state ---- */

/*
 * Direct-mapped tables indexed by a hash of the address, not LRU hashes: an
 * inlined array access instead of two hash lookups a packet (about 50 ns on
 * the clean path). Two addresses sharing a slot take it over from each
 * other (counted as state_evictions), which can delay a detection, never
 * invent one. Shared, not per-CPU: a source's packets spread over CPUs
 * (RSS), and a threshold is about all of them. Plain stores: a lost
 * increment under a cross-CPU race makes a detection a packet later, and
 * saves an atomic on every counted packet.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << NETPROBE_SRC_STATE_BITS);
	__type(key, __u32);
	__type(value, struct netprobe_src_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_src_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << NETPROBE_DST_STATE_BITS);
	__type(key, __u32);
	__type(value, struct netprobe_dst_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_dst_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NETPROBE_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct netprobe_rate_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_rate_state SEC(".maps");

/*
 * A security alert a detection found, waiting for settle_alerts (filter.h)
 * to block its source and send its event. Per CPU, one slot per scope
 * (enum netprobe_security_scope): one packet raises at most one of each.
 */
struct np_alert {
	struct netprobe_addr_key src; /* scope source: who (an IPv6 source's prefix) */
	/* The address that sent the packet that raised it, when src is a prefix. */
	struct netprobe_addr_key sender;
	struct netprobe_addr_key aggregate; /* a /24 of blocked sources to block whole */
	__u8 dst[16];			    /* the destination it concerns, if dst_family */
	__u8 dst_family;
	__u8 detection;
	__u8 scope;
	__u8 scan_hosts;
	__u8 not_blocked; /* enum netprobe_unblocked */
	__u8 raise;	  /* send the event (a retried block does not) */
	__u8 window;	  /* the source's NETPROBE_SW_* window, for a retry */
	__u8 pending;
	__u32 evidence; /* 16 x the window's count over the threshold's */
	__u32 window_ms;
	__u32 rule_id;
	__u32 state_slot; /* the source's slot in np_src_state */
	__u64 proof;	  /* the source's last completed handshake (jiffies), or 0 */
	__u64 rate;
	__u64 threshold;
};

/* Which address of the source alert mitigate_source blocks. */
enum np_whom {
	NP_WHOM_SOURCE,
	NP_WHOM_SENDER,
	NP_WHOM_AGGREGATE,
};

#define NP_ALERT_SLOTS 3

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NP_ALERT_SLOTS);
	__type(key, __u32);
	__type(value, struct np_alert);
} np_alerts SEC(".maps");

/*
 * What mitigation must never block. Peers: addresses this host opened a
 * flow to (TC egress, on the flow's first packet and every few seconds
 * after), with the jiffies it last did; a spoofer cannot make this host
 * open a flow. Protected: its own addresses, gateways and resolvers
 * (userspace, at attach).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct netprobe_addr_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct netprobe_addr_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_protected SEC(".maps");

/*
 * IPv6 addresses that completed a handshake (jiffies), when sources are
 * counted by prefix: the prefix's state holds the prefix's proof, and an
 * address blocked alone (its prefix may not be) needs its own.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct netprobe_addr_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_proven SEC(".maps");

/*
 * Handshakes this host answered with a SYN-ACK (TC egress): the client's
 * ACK completes one only if it acknowledges the SYN-ACK's sequence, which
 * an off-path spoofer never sees.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct netprobe_flow_key);
	__type(value, struct netprobe_handshake);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_handshakes SEC(".maps");

/* ---- Load balancer mode (see abi.h); all resized by userspace before load ---- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32);
	__type(key, struct netprobe_lb_vip_key);
	__type(value, struct netprobe_lb_vip);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_lb_vips SEC(".maps");

/* Every service's Maglev table, written by userspace through a memory mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 32 * 2 * 4097); /* current and previous tables */
	__type(key, __u32);
	__type(value, struct netprobe_lb_ring_chunk);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_lb_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct netprobe_lb_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_lb_backends SEC(".maps");

/*
 * One shared LRU, not per-CPU ones (Katran's choice): a flow whose packets
 * arrive on another CPU (veth, RPS, a migrating sender) must find its
 * backend there too, or a change of the backend set would break it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct netprobe_flow_key);
	__type(value, struct netprobe_lb_conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_lb_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, struct netprobe_lb_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_lb_vip_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct netprobe_lb_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_lb_backend_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct netprobe_lb_route);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} np_lb_routes SEC(".maps");

/*
 * lb's hand-over to TC where XDP has no metadata (np_xdp_meta false): the
 * next hop of frames XDP passed on a neighbour miss, keyed by the frame as
 * TC sees it, with how many such frames are on their way. This copy's own
 * (unpinned): XDP and TC of one interface share it.
 */
struct lb_handoff_key {
	__u8 family; /* NP_AF_INET or NP_AF_INET6 */
	__u8 proto;
	__be16 sport, dport; /* TCP and UDP; 0 for others */
	/*
	 * The IP header's first 8 bytes: lengths, IPv4's ID and fragment
	 * field, IPv6's flow label. An encapsulated frame's outer ID (flow
	 * label) is a random nonce XDP writes: a forged frame cannot name it.
	 */
	__u8 head[8];
	__u8 saddr[16], daddr[16];
};

struct lb_handoff_slot {
	__u32 ifindex; /* egress */
	__u32 family;  /* of the next hop */
	__u8 nexthop[16];
	__u64 expires_ns; /* 100 ms after its last frame: TC sees a frame within microseconds */
	__s64 pending; /* frames passed and not yet taken by TC, at most LB_HANDOFF_MAX_PENDING */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct lb_handoff_key);
	__type(value, struct lb_handoff_slot);
} np_lb_handoffs SEC(".maps");

/* When XDP last handed a frame over through the map: TC looks there only for 100 ms after. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} np_lb_handoff_recent SEC(".maps");

/* Where a key and a slot are built: lb's stack is near the 512 bytes already (6.1 counts it all). */
struct lb_handoff_scratch {
	struct lb_handoff_key key;
	struct lb_handoff_slot slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_handoff_scratch);
} np_lb_handoff_scratch SEC(".maps");

#endif /* NETPROBE_MAPS_H */
