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

/* What the filter mode detects (SecurityStats, security events, block origins). */
#define NETPROBE_DETECTIONS(X)                                                                     \
	X(SYN_FLOOD, "syn_flood")                                                                  \
	X(UDP_FLOOD, "udp_flood")                                                                  \
	X(ICMP_FLOOD, "icmp_flood")                                                                \
	X(PORT_SCAN, "port_scan")                                                                  \
	X(RATE_ANOMALY, "rate_anomaly")                                                            \
	X(TCP_FLOOD, "tcp_flood")                                                                  \
	X(OTHER_FLOOD, "other_flood")

enum netprobe_detection_type {
#define X(id, name) NETPROBE_DETECT_##id,
	NETPROBE_DETECTIONS(X)
#undef X
		NETPROBE_DETECT_MAX,
};

/* Filter-mode counters, per interface, counted in XDP. */
#define NETPROBE_FILTER_COUNTERS(X)                                                                \
	X(DENY_DROPS, "deny_drops")	      /* dropped: the source is on the deny list */        \
	X(BLOCK_DROPS, "block_drops")	      /* dropped: the source was blocked by a detection */ \
	X(ALLOW_PASSES, "allow_passes")	      /* passed: the source is on the allow list */        \
	X(EXPIRED_MATCHES, "expired_matches") /* packets that met an entry past its TTL */         \
	X(BLOCKS_ADDED, "blocks_added")	      /* mitigation blocked a source */                    \
	X(BLOCKS_REFUSED, "blocks_refused")   /* no block: the pool full of stronger evidence */   \
	X(BLOCKS_EVICTED, "blocks_evicted")   /* a live block gave way to stronger evidence */     \
	X(STATE_EVICTIONS, "state_evictions") /* an address took over another's state slot */      \
	X(MALFORMED_DROPS, "malformed_drops") /* IP, but its ports hidden (tiny fragment, ...) */  \
	X(BLOCKS_PROTECTED, "blocks_protected") /* not blocked: an address this host relies on */  \
	X(BLOCKS_UNPROVEN,                                                                         \
	  "blocks_unproven") /* not blocked: no proof the source is not spoofed */                 \
	X(HANDSHAKES, "handshakes_completed") /* clients that acknowledged this host's SYN-ACK */  \
	X(BLOCKS_AGGREGATED,                                                                       \
	  "blocks_aggregated") /* an IPv4 /24 blocked whole: many of its addresses were */

enum netprobe_filter_counter {
#define X(id, name) NETPROBE_FC_##id,
	NETPROBE_FILTER_COUNTERS(X)
#undef X
		NETPROBE_FC_MAX,
};

/* Load balancer counters, per interface, counted in XDP. */
#define NETPROBE_LB_COUNTERS(X)                                                                    \
	X(VIP_PACKETS, "vip_packets")	     /* packets for a virtual service */                   \
	X(FORWARDED, "forwarded")	     /* sent to a backend (XDP_TX or redirect) */          \
	X(NEW_CONNS, "new_conns")	     /* flows given a backend by the Maglev table */       \
	X(NO_BACKEND, "no_backend_drops")    /* the service had no backend with weight */          \
	X(UNSUPPORTED, "unsupported_passes") /* fragments and VLAN-tagged frames: to the kernel */ \
	X(NEIGH_MISS, "neigh_misses")	  /* next hop unresolved: sent by TC, which resolves it */ \
	X(FIB_DROPS, "fib_drops")	  /* no route to the backend, or forwarding is off */      \
	X(TOO_BIG_DROPS, "too_big_drops") /* too big to encapsulate: ICMP too-big sent back */     \
	X(CONN_FAILED, "conn_table_failed") /* a new flow could not be stored */                   \
	X(ICMP_FORWARDED, "icmp_forwarded") /* ICMP errors about a flow, sent to its backend */    \
	X(DECAPSULATED, "decapsulated")	    /* tunnelled packets unwrapped (decap) */              \
	X(DECAP_REFUSED, "decap_refused") /* tunnels from or to an address not configured: kept */ \
	X(DRAIN_KEPT, "drain_kept")	  /* entry lost, kept on its draining backend (TCP) */

enum netprobe_lb_counter {
#define X(id, name) NETPROBE_LBC_##id,
	NETPROBE_LB_COUNTERS(X)
#undef X
		NETPROBE_LBC_MAX,
};

/* One value of the per-CPU counter array; one array slot per attached interface. */
struct netprobe_counters {
	struct netprobe_hook_counters hook[NETPROBE_HOOK_MAX];
	__u64 xdp_action[NETPROBE_XDP_ACTIONS];
	__u64 filter[NETPROBE_FC_MAX];
	/* Security events raised, by type: about one source (or the interface's rate). */
	__u64 detections[NETPROBE_DETECT_MAX];
	/* About one destination (syn_flood_dst, ...): counted apart, never in both. */
	__u64 detections_dst[NETPROBE_DETECT_MAX];
	__u64 lb[NETPROBE_LBC_MAX];
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
	__u32 flags;	 /* NETPROBE_FLOW_F_* */
};

/* An egress flow this host opened (a SYN, a datagram before any came back, an echo request). */
#define NETPROBE_FLOW_F_INITIATED (1u << 0)

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
	NETPROBE_EVENT_SECURITY = 4,   /* a detection fired (filter mode) */
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

/* Flow-end events userspace hands the kernel in one BPF_PROG_RUN frame, at most. */
#define NETPROBE_FLOW_ENDS_PER_RUN 24

/* NETPROBE_EVENT_TEST: 32 bytes, the size the event benchmarks use. */
struct netprobe_test_event {
	struct netprobe_event_hdr hdr;
	__u64 seq;
	__u64 cpu;
};

/* Who or what a security event is about. */
enum netprobe_security_scope {
	NETPROBE_SCOPE_SOURCE = 0,	/* one source: src is set */
	NETPROBE_SCOPE_DESTINATION = 1, /* one destination, from any number of sources: dst */
	NETPROBE_SCOPE_INTERFACE = 2,	/* the whole interface (rate anomaly) */
};

/*
 * NETPROBE_EVENT_SECURITY. rate and threshold are packets a second for the
 * floods and the rate anomaly, and distinct ports (or hosts, when
 * scan_hosts is set) within the window for port scans.
 */
struct netprobe_security_event {
	struct netprobe_event_hdr hdr;
	__u8 src[16];
	__u8 dst[16];
	__u8 family;	/* enum netprobe_family */
	__u8 detection; /* enum netprobe_detection_type */
	__u8 scope;	/* enum netprobe_security_scope */
	__u8 blocked;	/* mitigation blocked src; rule_id names the entry */
	__u32 window_ms;
	__u64 rate;
	__u64 threshold;
	__u32 rule_id;
	__u8 scan_hosts;
	__u8 not_blocked; /* with mitigation on, why src was not blocked: enum netprobe_unblocked */
	__u8 src_prefix_len; /* 0: src is one address; else src/src_prefix_len (IPv6) */
	__u8 slot;	     /* the interface's slot: ifindex alone repeats across namespaces */
};

/* Why a detection with mitigation on did not block its source. */
enum netprobe_unblocked {
	NETPROBE_UNBLOCKED_NONE = 0,
	NETPROBE_UNBLOCKED_SPECIAL =
		1, /* unspecified, loopback, link-local, multicast, broadcast */
	NETPROBE_UNBLOCKED_PROTECTED = 2, /* this host's own, a gateway or a resolver */
	NETPROBE_UNBLOCKED_PEER = 3,	  /* a peer this host opened a flow to recently */
	NETPROBE_UNBLOCKED_POOL_FULL = 4, /* every mitigation block is taken */
	NETPROBE_UNBLOCKED_UNPROVEN = 5,  /* it proved no handshake this window: may be spoofed */
	NETPROBE_UNBLOCKED_ALLOWED = 6,	  /* the allow list vouches for it (a mapped form's IPv4) */
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
 * What an interface was attached with (the per-attach part of the config,
 * netprobe_config), kept by registry slot (np_iface_settings) so that any
 * later process reads what is in force. Detections in the config's order
 * (netprobe_config_detection_name).
 */
#define NETPROBE_CONFIG_DETECTIONS 10
#define NETPROBE_DECAP_MAX	   8 /* decap_from and decap_to prefixes, each */

struct netprobe_detection_setting {
	__u32 enabled;
	__u32 threshold;
	__u32 window_ms;
};

struct netprobe_prefix_setting {
	__u8 family; /* enum netprobe_family */
	__u8 prefix_len;
	__u8 addr[16];
	__u8 pad[2];
};

#define NETPROBE_SETTINGS_VERSION 1

struct netprobe_iface_settings {
	__u32 version;	       /* NETPROBE_SETTINGS_VERSION; 0: none kept (an older netprobe) */
	__u32 xdp_attach_mode; /* enum netprobe_xdp_attach_mode, as asked */
	__u32 tc_attach_mode;  /* enum netprobe_tc_attach_mode, as asked */
	__u8 xdp_events, tc_events, detailed_events, security_alerts;
	__u32 detailed_events_per_sec;
	__u32 security_alerts_per_sec;
	struct netprobe_detection_setting detections[NETPROBE_CONFIG_DETECTIONS];
	__u32 port_scan_hosts;
	__u32 rate_anomaly_floor_pps;
	__u32 rate_anomaly_learn_windows;
	__u8 mitigation, mitigation_unproven, decap, pad;
	__u32 mitigation_ttl_s;
	__u32 ipv6_source_prefix;
	__u32 lb_route_cache_ms;
	__u32 decap_from_count;
	__u32 decap_to_count;
	struct netprobe_prefix_setting decap_from[NETPROBE_DECAP_MAX];
	struct netprobe_prefix_setting decap_to[NETPROBE_DECAP_MAX];
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
	__u32 decap; /* unwraps tunnelled packets (config decap) */
	__u32 pad;
};

/* ---- Filter mode: allow and deny lists --------------------------------- */

/*
 * The lists are one table of rules (prefixes), indexed by rule id, and
 * lookup structures holding, for each address region, a word naming the
 * rule that decides it: allow beats deny, and a longer prefix beats a
 * shorter one. Userspace computes the words; XDP only reads one.
 *
 *  - IPv4 prefixes up to /31: DIR-24-8. np_acl_v4_tbl24 has a word per /24
 *    (64 MB, read with one inlined array access); a /24 holding longer
 *    prefixes points to a group of 256 words in np_acl_v4_tbl8.
 *  - IPv4 /32 entries: an exact hash, looked up only when the /24's word
 *    has NETPROBE_ACL_W_EXACT, so single addresses cost nothing elsewhere.
 *  - IPv6: an exact hash for /128 entries and an LPM trie for the rest,
 *    each skipped while empty.
 */
#define NETPROBE_ACL_TBL24_WORDS_PER_ELEM 16 /* 64-byte map values: array values round to 8 */
#define NETPROBE_ACL_TBL24_ELEMS	  ((1u << 24) / NETPROBE_ACL_TBL24_WORDS_PER_ELEM)
#define NETPROBE_ACL_TBL8_WORDS		  256

#define NETPROBE_ACL_W_ID    0x00ffffffu /* rule id; 0 = no rule. tbl24: group with W_GROUP */
#define NETPROBE_ACL_W_ALLOW (1u << 24)	 /* the rule is an allow entry */
#define NETPROBE_ACL_W_TTL   (1u << 25)	 /* the rule expires: check expires_ns */
#define NETPROBE_ACL_W_BLOCK (1u << 26)	 /* the rule is a mitigation block */
#define NETPROBE_ACL_W_AGGREGATE                                                                   \
	(1u << 29) /* tbl24: mitigation may have blocked this whole /24 (np_acl_v4_agg) */
#define NETPROBE_ACL_W_EXACT (1u << 30) /* tbl24: a /32 entry lies in this /24 */
#define NETPROBE_ACL_W_GROUP (1u << 31) /* tbl24: the id bits are a tbl8 group */

struct netprobe_acl_tbl24 {
	__u32 w[NETPROBE_ACL_TBL24_WORDS_PER_ELEM];
};

struct netprobe_acl_tbl8 {
	__u32 w[NETPROBE_ACL_TBL8_WORDS];
};

struct netprobe_acl_v6_prefix {
	__u32 prefix_len;
	__u8 addr[16];
};

/*
 * The value of an exact (/32, /128) or IPv6 trie entry: word decides, own
 * is the entry's own rule. When word names a covering allow entry that has
 * expired, own decides at once; own also tells whose entry this is.
 */
struct netprobe_acl_value {
	__u32 word;
	__u32 own;
};

enum netprobe_acl_action {
	NETPROBE_ACL_DENY = 0,
	NETPROBE_ACL_ALLOW = 1,
};

/* Where an entry came from: 0 = the operator, else 1 + the detection that made it. */
#define NETPROBE_ORIGIN_MANUAL 0

/*
 * A rule's in_use. A mitigation block is rewritten or retired only by
 * whoever first moves it from LIVE with a compare and swap: XDP to BUSY,
 * userspace to CLAIMED (which XDP treats as BUSY), so that a claim a dead
 * process left is told from XDP's hold of an instant. Its fields are
 * written before it goes LIVE.
 */
enum netprobe_rule_state {
	NETPROBE_RULE_FREE = 0,
	NETPROBE_RULE_LIVE = 1,
	NETPROBE_RULE_BUSY = 2,
	/* An operator entry written by a change not yet applied (change below): no word names it. */
	NETPROBE_RULE_PENDING = 3,
	/* A block userspace holds (rewrites or retires) under the pin path's lock. */
	NETPROBE_RULE_CLAIMED = 4,
};

/*
 * A list change is journalled in the rules it touches, so that one killed
 * part way is finished, or undone, whole by the next process to take the
 * lock (netprobe_acl_meta.change_state). Userspace only: XDP never reads
 * these, and a block carries one only while the change holds it CLAIMED.
 */
enum netprobe_rule_change {
	NETPROBE_CHANGE_NONE = 0,
	NETPROBE_CHANGE_ADD = 1,      /* a new entry (PENDING until applied) */
	NETPROBE_CHANGE_RENEW = 2,    /* a listed entry whose expiry becomes change_expires */
	NETPROBE_CHANGE_REMOVE = 3,   /* an entry removed by the change */
	NETPROBE_CHANGE_REPLACED = 4, /* a block an added entry of its prefix takes over */
};

/* netprobe_acl_meta.change_state */
enum netprobe_change_state {
	NETPROBE_CHANGE_IDLE = 0,
	NETPROBE_CHANGE_STAGING = 1,   /* its rules are being marked: undone if it dies */
	NETPROBE_CHANGE_COMMITTED = 2, /* marked whole: finished if it dies */
	NETPROBE_CHANGE_UNDOING = 3,   /* it failed part way and is being undone: undone */
};

/* One rule; np_acl_rules[id]. Written by userspace, and by XDP for mitigation blocks. */
struct netprobe_acl_rule {
	__u8 addr[16];	  /* network address, host bits zero */
	__u64 expires_ns; /* CLOCK_MONOTONIC; 0 = never */
	__u64 created_ns; /* CLOCK_MONOTONIC */
	__u32 in_use;	  /* enum netprobe_rule_state */
	__u8 family;	  /* enum netprobe_family */
	__u8 prefix_len;
	__u8 action; /* enum netprobe_acl_action */
	__u8 origin; /* NETPROBE_ORIGIN_MANUAL or 1 + enum netprobe_detection_type */
	/*
	 * Prefix entries: the word of what decides this entry's regions once it
	 * has expired (the best entry covering it), so that XDP falls back at
	 * once instead of waiting for the sweep. Exact entries fall back to the
	 * prefix tables.
	 */
	__u32 fallback;
	/*
	 * Mitigation blocks: what the detection saw, as 16 x the source's count
	 * in the window over the threshold's (16: just at it; at most 255),
	 * counts rather than rates, which a burst in one tick would make huge.
	 * Under pool pressure the
	 * weakest block gives way: framing an address costs a spoofer as many
	 * packets as the strongest block it must displace.
	 */
	__u8 evidence;
	__u8 change; /* enum netprobe_rule_change, of the change change_id */
	__u8 pad[2];
	__u32 change_id;
	__u32 pad2;
	__u64 change_expires; /* NETPROBE_CHANGE_RENEW: the expiry it gets */
};

/* np_acl_meta[0]: shared between userspace and XDP. */
struct netprobe_acl_meta {
	__u64 generation;    /* bumped by every change, by either side */
	__u32 v6_exact;	     /* entries in np_acl_v6_exact (XDP skips the lookup at 0) */
	__u32 v6_prefixes;   /* entries in np_acl_v6_trie */
	__u32 block_next;    /* mitigation's next rule id, modulo its pool */
	__u32 tbl8_groups;   /* groups in np_acl_v4_tbl8 */
	__u32 max_rules;     /* capacity of np_acl_rules; id 0 is never used */
	__u32 block_pool;    /* the last block_pool ids are mitigation's */
	__u32 hash_seed;     /* the detection state tables' hash seed, drawn once */
	__u32 v6_prefix;     /* IPv6 sources are counted and blocked by this prefix, set once */
	__u32 v4_aggregates; /* entries in np_acl_v4_agg (XDP skips the lookup at 0) */
	__u32 change_id;     /* the last list change's id: its rules carry it (userspace only) */
	__u64 pool_pressure; /* CLOCK_MONOTONIC ns a block last found no free rule */
	__u32 change_state;  /* enum netprobe_change_state of change change_id */
	__u32 pad;
};

/* ---- Filter mode: detection state --------------------------------------- */

/*
 * An address, or (prefix_len not 0) the IPv6 prefix a source stands for in
 * the detections: addr masked to prefix_len bits (filter_params.v6_prefix).
 */
struct netprobe_addr_key {
	__u8 addr[16];
	__u8 family; /* enum netprobe_family */
	__u8 prefix_len;
	__u16 pad;
};

/* A counting window: count events since start (jiffies); alerted once per window. */
struct netprobe_window {
	__u64 start;
	__u32 count;
	__u32 alerted;
};

/* A source's counting windows: the floods first (np_filter.src_flood[] in this order). */
enum netprobe_src_window {
	NETPROBE_SW_SYN = 0,
	NETPROBE_SW_UDP,
	NETPROBE_SW_ICMP,
	NETPROBE_SW_TCP,   /* resets, and segments this host reset: of no connection */
	NETPROBE_SW_OTHER, /* IP protocols but TCP, UDP, ICMP and ICMPv6 */
	NETPROBE_SW_FLOODS,
	NETPROBE_SW_SCAN = NETPROBE_SW_FLOODS,
	NETPROBE_SW_MAX,
};

/* Slots of the direct-mapped detection state tables (powers of two). */
#define NETPROBE_SRC_STATE_BITS 16
#define NETPROBE_DST_STATE_BITS 14

/*
 * Per source: the flood windows, and the distinct ports and hosts its
 * probes failed on (this host answered with a reset or an unreachable),
 * in sets indexed by a keyed hash.
 */
struct netprobe_src_state {
	struct netprobe_addr_key key; /* whose state this slot holds */
	__u32 pad0;
	struct netprobe_window w[NETPROBE_SW_MAX];
	__u64 ports[8]; /* 512-bit set of failed destination ports, this scan window */
	__u64 hosts[4]; /* 256-bit set of failed destination hosts */
	__u32 hosts_count;
	__u32 pad;
	/*
	 * Jiffies of the last handshake it completed with this host (its ACK
	 * acknowledged this host's SYN-ACK): proof that it receives, at that
	 * address, what this host sends. 0: none.
	 */
	__u64 proof;
};

/*
 * Addresses mitigation never blocks, besides the special ones it knows:
 * np_protected[address] = NETPROBE_PROTECT_* bits (userspace, at attach).
 */
#define NETPROBE_PROTECT_LOCAL	  (1u << 0) /* an address of this host (or a broadcast of its) */
#define NETPROBE_PROTECT_GATEWAY  (1u << 1) /* a next hop of a default route */
#define NETPROBE_PROTECT_RESOLVER (1u << 2) /* a name server of resolv.conf */

/* np_handshakes[client's flow key, ingress, ifindex/slot zero]: what its ACK must say. */
struct netprobe_handshake {
	__u32 ack; /* host order: this host's SYN-ACK sequence + 1 */
	__u32 pad;
	__u64 at; /* jiffies the SYN-ACK left */
};

/* Per destination: the flood windows, over every source. */
struct netprobe_dst_state {
	struct netprobe_addr_key key;
	__u32 pad0;
	struct netprobe_window w[3]; /* NETPROBE_SW_SYN .. NETPROBE_SW_ICMP */
};

/* Per interface slot: the packet-rate baseline of the rate anomaly detection. */
struct netprobe_rate_state {
	__u64 window_start;  /* jiffies */
	__u64 packets_start; /* XDP packets of the interface, summed over CPUs, then */
	__u64 baseline_pps;  /* moving average of normal windows */
	__u32 windows;	     /* windows learned */
	__u32 alerted;
};

/*
 * One detection's settings, as the datapath uses them (read-only globals of
 * each interface's program copy). threshold is a rate a second, or distinct
 * ports for the port scan, or the factor over the baseline (x100) for the
 * rate anomaly; count is threshold expressed over the window.
 */
struct netprobe_detect_param {
	__u32 enabled;
	__u32 threshold;
	__u32 window_ms;
	__u32 window_jiffies;
	__u32 count;
};

struct netprobe_filter_params {
	struct netprobe_detect_param src_flood[NETPROBE_SW_FLOODS]; /* syn .. other, one source */
	struct netprobe_detect_param dst_flood[3]; /* syn, udp, icmp to one destination */
	struct netprobe_detect_param port_scan;
	__u32 scan_hosts;      /* distinct hosts that also make a port scan */
	__u32 scan_hosts_bits; /* the bits of the hosts set scan_hosts set, expected */
	struct netprobe_detect_param rate_anomaly;
	__u32 rate_floor_pps; /* below this rate nothing is an anomaly */
	__u32 rate_learn_windows;
	__u32 mitigate;	      /* block sources of per-source detections */
	__u32 block_unproven; /* also sources that proved no handshake (spoofable evidence) */
	__u32 block_ttl_s;
	__u32 alerts;	      /* raise security events */
	__u32 alerts_per_sec; /* per CPU, at most */
	__u32 hz;	      /* kernel jiffies a second */
	__u32 ncpus;	      /* possible CPUs, for summing per-CPU counters */
	__u32 hash_seed;      /* random, drawn once per pin path: the state slots' hash */
	/*
	 * IPv6 sources are counted, and blocked, by this prefix (128: each
	 * address alone): a host picks any address of its /64 at will.
	 */
	__u32 v6_prefix;
	__be32 v6_mask[4]; /* v6_prefix as a mask, network order */
};

/* ---- Decapsulation (config decap) ---------------------------------------- */

/*
 * Which tunnels an interface unwraps: the outer source must match one of
 * from[], and the outer destination one of to[] (any when to_count is 0).
 * Addresses are stored masked, with their masks, in network order.
 */
struct netprobe_decap_prefix {
	__u32 addr[4];
	__u32 mask[4];
	__u32 family; /* enum netprobe_family */
};

struct netprobe_decap_params {
	struct netprobe_decap_prefix from[NETPROBE_DECAP_MAX];
	struct netprobe_decap_prefix to[NETPROBE_DECAP_MAX];
	__u32 from_count;
	__u32 to_count;
};

/* ---- Load balancer mode --------------------------------------------- */

/*
 * A virtual service is found by np_lb_vips[key]; its backend for a new flow
 * by the Maglev table (np_lb_ring from ring_base, ring_size entries, each a
 * backend slot); an established flow's backend by np_lb_conns. Userspace
 * writes everything but the flows; XDP writes only flows and statistics.
 *
 * The previous table (np_lb_ring from prev_base, as many entries) keeps, at
 * each position a drained backend held in the table, that backend's slot,
 * for as long as it drains (else NETPROBE_LB_NO_BACKEND): a TCP flow that
 * lost its connection entry (the LRU evicts idle flows when new ones
 * crowd in) is sent there rather than to the table's new choice, so that
 * eviction alone never moves a flow off a draining backend.
 */
struct netprobe_lb_vip_key {
	__u8 addr[16]; /* IPv4 in the first four bytes, the rest zero */
	__be16 port;
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* enum netprobe_family */
};

struct netprobe_lb_vip {
	__u32 id;	 /* index of the service's statistics */
	__u32 ring_size; /* entries of its Maglev table, a prime */
	__u32 ring_base; /* its first chunk in np_lb_ring */
	__u32 prev_base; /* its previous table's first chunk in np_lb_ring */
};

/* Maglev tables are stored 16 entries to a map value: array values round to 8 bytes. */
#define NETPROBE_LB_RING_WORDS 16
#define NETPROBE_LB_NO_BACKEND 0xffffffffu

struct netprobe_lb_ring_chunk {
	__u32 backend[NETPROBE_LB_RING_WORDS];
};

enum netprobe_lb_forward {
	NETPROBE_LB_FORWARD_IPIP = 0, /* IP-in-IP or IPv6-in-IPv6 to the backend (routed) */
	NETPROBE_LB_FORWARD_L2 = 1,   /* the frame as it is, to the backend's MAC (same segment) */
};

#define NETPROBE_LB_BE_IN_USE	(1u << 0)
#define NETPROBE_LB_BE_DRAINING (1u << 1) /* in the previous table only: no new flows */

/* np_lb_backends[slot]: one backend of one service. */
struct netprobe_lb_backend {
	__u8 addr[16];
	__u8 encap_src[16]; /* the outer source: this host's address towards the backend */
	__u32 vip_id;
	__u32 gen;    /* bumped when the slot is freed: flows bound to it choose again */
	__u32 weight; /* 1..1000 */
	__u8 family;
	__u8 forward; /* enum netprobe_lb_forward */
	__u8 flags;   /* NETPROBE_LB_BE_* */
	__u8 pad;
};

/* np_lb_conns[flow key, with ifindex, direction and slot zero]: a flow's backend. */
struct netprobe_lb_conn {
	__u32 backend; /* slot */
	__u32 gen;     /* the slot's gen when the flow chose it */
};

/*
 * np_lb_routes[slot], per CPU: the route to a backend as the last lookup
 * found it, trusted for lb_route_cache_ms (np_lb_route_ttl): a route lookup
 * is the largest cost of a forwarded packet.
 */
struct netprobe_lb_route {
	__u64 expires; /* jiffies */
	__u32 gen;     /* the backend slot's gen it was found for */
	__u32 ifindex; /* egress */
	__u16 max_len; /* the longest outgoing IP packet the lookup let through (MTU) */
	__u8 dmac[6];
	__u8 smac[6];
	__u8 iface; /* the interface slot whose lookup it was: routes depend on the ingress */
	__u8 pad;
};

/* Per-CPU, per service (np_lb_vip_stats) and per backend slot (np_lb_backend_stats). */
struct netprobe_lb_stats {
	__u64 packets;
	__u64 bytes; /* frames as received, before encapsulation */
	__u64 new_conns;
	__u64 drops; /* services: no backend; backends: could not be sent */
};

#endif /* NETPROBE_ABI_H */
