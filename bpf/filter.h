/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The filter mode: allow and deny lists looked up by source address, then
 * flood, scan and rate-anomaly detection on what the lists let through, and
 * mitigation (a detection blocks its source). Compiled into every program
 * copy; removed by the verifier unless np_mode is NETPROBE_XDP_FILTER.
 */
#ifndef NETPROBE_FILTER_H
#define NETPROBE_FILTER_H

#include "maps.h"
#include "events.h"
#include "parse.h"
#include "hash.h"

static __always_inline struct netprobe_acl_meta *acl_meta(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&np_acl_meta, &key);
}

/*
 * The word that decides, with an expired entry replaced by its fallback
 * (what covers it and outlives it); 0 when nothing live decides. Only words
 * with NETPROBE_ACL_W_TTL read the rule and the clock. Each fallback
 * outlives the entry before it, so a chain is as long as the nesting of
 * entries that have all expired: NP_FALLBACK_DEPTH of them, then a sweep
 * is needed (the chain ends on no match). *expired notes that one was met.
 */
#define NP_FALLBACK_DEPTH 8

static __always_inline __u32 acl_live(bool *expired, __u32 word)
{
	for (int depth = 0; depth <= NP_FALLBACK_DEPTH; depth++) {
		__u32 id = word & NETPROBE_ACL_W_ID;
		struct netprobe_acl_rule *rule;

		if (!(word & NETPROBE_ACL_W_TTL))
			return word;
		rule = bpf_map_lookup_elem(&np_acl_rules, &id);
		if (!rule)
			return 0;
		/* The coarse clock is CLOCK_MONOTONIC at tick resolution, and a fraction of the cost. */
		if (!rule->expires_ns || bpf_ktime_get_coarse_ns() < rule->expires_ns)
			return word;
		*expired = true;
		word = depth < NP_FALLBACK_DEPTH ? rule->fallback : 0;
	}
	return word;
}

/*
 * An exact or trie entry's live word. word decides; when it differs from
 * own, it is an allow entry covering this (deny) entry. If that has
 * expired, what covers it decides if it is a live allow entry; else the
 * entry's own rule does, being longer than any deny entry covering it. 0
 * when that has expired too: the lookup goes on to shorter prefixes.
 */
static __always_inline __u32 entry_word(bool *expired, const struct netprobe_acl_value *v)
{
	__u32 live = acl_live(expired, v->word);

	if (v->word == v->own || (live & NETPROBE_ACL_W_ALLOW))
		return live;
	return acl_live(expired, v->own);
}

static __always_inline __u32 acl_lookup_v4(bool *expired, const __u8 *addr)
{
	__u32 be = *(const __u32 *)addr, host = bpf_ntohl(be);
	__u32 elem = host >> 12, word;
	struct netprobe_acl_tbl24 *t24;
	struct netprobe_acl_tbl8 *t8;

	t24 = bpf_map_lookup_elem(&np_acl_v4_tbl24, &elem);
	if (!t24)
		return 0;
	word = t24->w[(host >> 8) & (NETPROBE_ACL_TBL24_WORDS_PER_ELEM - 1)];
	if (word & NETPROBE_ACL_W_EXACT) {
		struct netprobe_acl_value *exact = bpf_map_lookup_elem(&np_acl_v4_exact, &be);
		__u32 live = exact ? entry_word(expired, exact) : 0;

		if (live)
			return live; /* an expired /32 gives way to the prefixes */
	}
	if (word & NETPROBE_ACL_W_GROUP) {
		__u32 group = word & NETPROBE_ACL_W_ID;

		t8 = bpf_map_lookup_elem(&np_acl_v4_tbl8, &group);
		if (!t8)
			return 0;
		word = t8->w[host & 0xff];
	}
	return acl_live(expired, word & ~(NETPROBE_ACL_W_EXACT | NETPROBE_ACL_W_GROUP));
}

/*
 * IPv6: the exact table, then the trie. A trie entry whose words have all
 * expired hands over to the next shorter entry in the trie (looked up
 * again one bit shorter), which holds the entries between it and its
 * expired covering ones.
 */
static __always_inline __u32 acl_lookup_v6(bool *expired, const __u8 *addr)
{
	struct netprobe_acl_meta *meta = acl_meta();
	struct netprobe_acl_v6_prefix key = {.prefix_len = 128};
	struct netprobe_acl_value *v;
	__u32 live;

	if (!meta)
		return 0;
	if (meta->v6_exact) {
		v = bpf_map_lookup_elem(&np_acl_v6_exact, addr);
		live = v ? entry_word(expired, v) : 0;
		if (live)
			return live;
	}
	if (!meta->v6_prefixes)
		return 0;
	__builtin_memcpy(key.addr, addr, 16);
	for (int i = 0; i < NP_FALLBACK_DEPTH; i++) {
		__u32 own_id;
		struct netprobe_acl_rule *own;

		v = bpf_map_lookup_elem(&np_acl_v6_trie, &key);
		if (!v)
			return 0;
		live = entry_word(expired, v);
		if (live)
			return live;
		/* Expired: the next trie entry up, shorter than this one's prefix. */
		own_id = v->own & NETPROBE_ACL_W_ID;
		own = bpf_map_lookup_elem(&np_acl_rules, &own_id);
		if (!own || own->prefix_len == 0)
			return 0;
		key.prefix_len = own->prefix_len - 1;
	}
	return 0;
}

/*
 * Who the filter holds a packet's source to be. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) reaches a dual-stack socket as a.b.c.d, so it is that
 * IPv4 address to the lists, the detections and mitigation: a denied
 * 10.0.0.2 gets nowhere as ::ffff:10.0.0.2.
 */
static __always_inline bool v4_mapped(const __u8 *addr)
{
	const __u32 *w = (const __u32 *)addr;

	return w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff);
}

static __always_inline void filter_source(const struct packet_info *pi,
					  struct netprobe_addr_key *src)
{
	const __u32 *a = (const __u32 *)pi->key.src_addr;
	__u32 *out = (__u32 *)src->addr;

	if (pi->key.family == NETPROBE_FAMILY_IPV6 && v4_mapped(pi->key.src_addr)) {
		out[0] = a[3];
		out[1] = out[2] = out[3] = 0;
		src->family = NETPROBE_FAMILY_IPV4;
		return;
	}
	__builtin_memcpy(src->addr, pi->key.src_addr, 16);
	src->family = pi->key.family;
}

/*
 * The word of the live rule that decides this source, 0 when none does;
 * counts its hit, and the packet as an expired match if it met one. A
 * mapped source that no IPv4 entry decides is still an IPv6 packet: the
 * IPv6 entries covering its address (::/0, say) decide it then.
 */
static __always_inline __u32 acl_match(struct netprobe_counters *cnt, const struct packet_info *pi,
				       const struct netprobe_addr_key *src)
{
	bool expired = false;
	__u32 word = 0, id;
	__u64 *hits;

	if (src->family == NETPROBE_FAMILY_IPV4)
		word = acl_lookup_v4(&expired, src->addr);
	if (!word && pi->key.family == NETPROBE_FAMILY_IPV6)
		word = acl_lookup_v6(&expired, pi->key.src_addr);
	if (expired)
		cnt->filter[NETPROBE_FC_EXPIRED_MATCHES]++;
	if (!word)
		return 0;
	id = word & NETPROBE_ACL_W_ID;
	hits = bpf_map_lookup_elem(&np_acl_hits, &id);
	if (hits)
		(*hits)++;
	return word;
}

/* A pool rule's hits start again from zero for its next block. */
static __always_inline void zero_hits(__u32 id)
{
	for (__u32 cpu = 0; cpu < np_filter.ncpus && cpu < 1024; cpu++) {
		__u64 *hits = bpf_map_lookup_percpu_elem(&np_acl_hits, &id, cpu);

		if (hits)
			*hits = 0;
	}
}

static __always_inline void *exact_map(__u8 family)
{
	return family == NETPROBE_FAMILY_IPV4 ? (void *)&np_acl_v4_exact : (void *)&np_acl_v6_exact;
}

/* Removes an exact entry, only if it is still rule id's (another may have replaced it). */
static __always_inline void drop_exact(struct netprobe_acl_meta *meta, const __u8 *addr,
				       __u8 family, __u32 id)
{
	void *map = exact_map(family);
	struct netprobe_acl_value *old = bpf_map_lookup_elem(map, addr);

	if (!old || (old->own & NETPROBE_ACL_W_ID) != id || bpf_map_delete_elem(map, addr))
		return;
	if (family == NETPROBE_FAMILY_IPV6)
		__sync_fetch_and_sub(&meta->v6_exact, 1);
}

/*
 * An exact entry of addr is in the way of a new block: if it has expired
 * (nothing swept it yet), it goes, so that a repeat offender is blocked
 * again. Returns the id of a live block already there, else 0.
 */
static __always_inline __u32 clear_expired_exact(struct netprobe_acl_meta *meta, const __u8 *addr,
						 __u8 family, __u64 now)
{
	struct netprobe_acl_value *v = bpf_map_lookup_elem(exact_map(family), addr);
	struct netprobe_acl_rule *old;
	__u32 id;

	if (!v)
		return 0;
	id = v->own & NETPROBE_ACL_W_ID;
	old = bpf_map_lookup_elem(&np_acl_rules, &id);
	if (!old)
		return 0;
	if (!old->expires_ns || now < old->expires_ns)
		return id;
	if (id < meta->max_rules - meta->block_pool) {
		/* A hand-made entry: the sweep frees its rule. */
		drop_exact(meta, addr, family, id);
		return 0;
	}
	/* An expired block: claimed like any pool rule, so that a sweep cannot race us. */
	if (__sync_val_compare_and_swap(&old->in_use, NETPROBE_RULE_LIVE, NETPROBE_RULE_BUSY) !=
	    NETPROBE_RULE_LIVE)
		return id;
	drop_exact(meta, addr, family, id);
	zero_hits(id);
	__sync_lock_test_and_set(&old->in_use, NETPROBE_RULE_FREE);
	__sync_fetch_and_add(&meta->generation, 1);
	return 0;
}

/*
 * Mitigation: a deny entry for the source with a TTL, from the last
 * block_pool rule ids, which only the datapath hands out (round robin; an
 * expired block nobody swept yet is replaced). Whoever rewrites or retires
 * a pool rule first takes it from LIVE to BUSY with a compare and swap
 * (userspace too), so a sweep never removes a block XDP has just made.
 * Returns the rule id, or 0.
 */
static __always_inline __u32 block_source(struct netprobe_counters *cnt,
					  const struct netprobe_addr_key *src, __u8 detection)
{
	struct netprobe_acl_meta *meta = acl_meta();
	struct netprobe_acl_rule *rule;
	struct netprobe_acl_value value;
	__u32 id, n, pool, state, live;
	__u64 now = bpf_ktime_get_coarse_ns();
	__u8 family = src->family;

	if (!meta || !meta->block_pool || meta->block_pool >= meta->max_rules)
		goto fail;
	pool = meta->block_pool;
	n = __sync_fetch_and_add(&meta->block_next, 1);
	id = meta->max_rules - pool + n % pool;
	rule = bpf_map_lookup_elem(&np_acl_rules, &id);
	if (!rule)
		goto fail;
	state = rule->in_use;
	if (state == NETPROBE_RULE_LIVE && rule->expires_ns && now >= rule->expires_ns &&
	    __sync_val_compare_and_swap(&rule->in_use, NETPROBE_RULE_LIVE, NETPROBE_RULE_BUSY) ==
		    NETPROBE_RULE_LIVE) {
		/* An expired block nobody swept: retire it and take its place. */
		drop_exact(meta, rule->addr, rule->family, id);
		zero_hits(id);
	} else if (state != NETPROBE_RULE_FREE ||
		   __sync_val_compare_and_swap(&rule->in_use, NETPROBE_RULE_FREE,
					       NETPROBE_RULE_BUSY) != NETPROBE_RULE_FREE) {
		goto fail; /* every block in the pool is live, or being changed */
	}
	live = clear_expired_exact(meta, src->addr, family, now);
	if (live) {
		/* Another CPU blocked it a moment ago; the rule we took is free again. */
		__sync_lock_test_and_set(&rule->in_use, NETPROBE_RULE_FREE);
		__sync_fetch_and_add(&meta->generation, 1);
		return live;
	}
	__builtin_memcpy(rule->addr, src->addr, 16);
	rule->family = family;
	rule->prefix_len = family == NETPROBE_FAMILY_IPV4 ? 32 : 128;
	rule->action = NETPROBE_ACL_DENY;
	rule->origin = detection + 1;
	rule->fallback = 0; /* an exact entry falls back to the prefix tables */
	rule->created_ns = now;
	rule->expires_ns = now + (__u64)np_filter.block_ttl_s * 1000000000ull;
	/* An exchange is a full barrier: the fields are written before the rule is live. */
	__sync_lock_test_and_set(&rule->in_use, NETPROBE_RULE_LIVE);

	value.word = value.own = id | NETPROBE_ACL_W_TTL | NETPROBE_ACL_W_BLOCK;
	if (family == NETPROBE_FAMILY_IPV4) {
		__u32 host = bpf_ntohl(*(const __u32 *)src->addr), elem = host >> 12;
		struct netprobe_acl_tbl24 *t24 = bpf_map_lookup_elem(&np_acl_v4_tbl24, &elem);

		if (!t24 || bpf_map_update_elem(&np_acl_v4_exact, src->addr, &value, BPF_NOEXIST))
			goto undo;
		__sync_fetch_and_or(&t24->w[(host >> 8) & (NETPROBE_ACL_TBL24_WORDS_PER_ELEM - 1)],
				    NETPROBE_ACL_W_EXACT);
	} else {
		if (bpf_map_update_elem(&np_acl_v6_exact, src->addr, &value, BPF_NOEXIST))
			goto undo;
		__sync_fetch_and_add(&meta->v6_exact, 1);
	}
	__sync_fetch_and_add(&meta->generation, 1);
	cnt->filter[NETPROBE_FC_BLOCKS_ADDED]++;
	return id;
undo:
	/* Another CPU's block went in between: ours goes, and userspace hears of it. */
	__sync_lock_test_and_set(&rule->in_use, NETPROBE_RULE_FREE);
	__sync_fetch_and_add(&meta->generation, 1);
	return 0;
fail:
	cnt->filter[NETPROBE_FC_BLOCKS_FAILED]++;
	return 0;
}

static __always_inline void raise_alert(struct netprobe_counters *cnt, const struct packet_info *pi,
					const struct netprobe_addr_key *src, __u8 detection,
					__u8 scope, __u64 rate, __u64 threshold, __u32 window_ms,
					__u32 rule_id, bool scan_hosts)
{
	struct netprobe_event_counters *ec;
	struct netprobe_security_event *ev;

	if (detection < NETPROBE_DETECT_MAX)
		cnt->detections[detection]++;
	if (!np_filter.alerts)
		return;
	ec = event_counters();
	if (!ec || !event_allowed(ec, NP_BUCKET_ALERTS, np_filter.alerts_per_sec))
		return;
	ev = event_reserve(ec, sizeof(*ev));
	if (!ev)
		return;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->hdr.type = NETPROBE_EVENT_SECURITY;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ifindex = np_ifindex;
	ev->hdr.time = bpf_jiffies64();
	if (scope == NETPROBE_SCOPE_SOURCE) {
		/* A mapped source's event is about its IPv4 address; its IPv6 destination is left out. */
		ev->family = src->family;
		__builtin_memcpy(ev->src, src->addr, 16);
		if (src->family == pi->key.family)
			__builtin_memcpy(ev->dst, pi->key.dst_addr, 16);
	} else if (scope == NETPROBE_SCOPE_DESTINATION) {
		ev->family = pi->key.family;
		__builtin_memcpy(ev->dst, pi->key.dst_addr, 16);
	}
	ev->detection = detection;
	ev->scope = scope;
	ev->blocked = rule_id != 0;
	ev->rule_id = rule_id;
	ev->window_ms = window_ms;
	ev->rate = rate;
	ev->threshold = threshold;
	ev->scan_hosts = scan_hosts;
	event_commit(ec, ev);
}

/* Starts a new window when the current one is over; true when it did. */
static __always_inline bool window_roll(struct netprobe_window *w, __u32 window_jiffies, __u64 now)
{
	if (now - w->start < window_jiffies)
		return false;
	w->start = now;
	w->count = 0;
	w->alerted = 0;
	return true;
}

/* Counts one in w; true for the count that crosses the threshold, once a window. */
static __always_inline bool window_count(struct netprobe_window *w, __u32 window_jiffies,
					 __u32 threshold_count, __u64 now)
{
	window_roll(w, window_jiffies, now);
	w->count++;
	if (w->count < threshold_count || w->alerted)
		return false;
	w->alerted = 1;
	return true;
}

/* Events a second so far in this window; the window's first tick counts as a whole one. */
static __always_inline __u64 window_rate(const struct netprobe_window *w, __u64 now)
{
	return (__u64)w->count * np_filter.hz / (now - w->start + 1);
}

/*
 * Keyed by a random seed per pin path, each word mixed in non-linearly, so
 * that nobody can pick an address that shares a victim's slot.
 */
static __always_inline __u32 addr_hash(const __u8 *addr, __u8 family)
{
	const __u32 *a = (const __u32 *)addr;
	__u32 h = fmix32(np_filter.hash_seed ^ a[0]);

	if (family == NETPROBE_FAMILY_IPV6) {
		h = fmix32(h ^ a[1]);
		h = fmix32(h ^ a[2]);
		h = fmix32(h ^ a[3]);
	}
	return h;
}

/*
 * The state slot of addr in a direct-mapped table whose values start with
 * their address key: a slot holding another address is taken over, zeroed
 * (size is the value's, a constant once inlined).
 */
_Static_assert(__builtin_offsetof(struct netprobe_src_state, key) == 0 &&
		       __builtin_offsetof(struct netprobe_dst_state, key) == 0,
	       "state values start with their key");

static __always_inline void *state_slot(struct netprobe_counters *cnt, void *map, __u32 bits,
					const __u8 *addr, __u8 family, __u32 size)
{
	__u32 slot = addr_hash(addr, family) >> (32 - bits);
	struct netprobe_addr_key *k = bpf_map_lookup_elem(map, &slot);
	const __u64 *want = (const __u64 *)addr;
	__u64 *have;

	if (!k)
		return NULL;
	have = (__u64 *)k->addr;
	if (k->family == family && have[0] == want[0] && have[1] == want[1])
		return k;
	if (k->family)
		cnt->filter[NETPROBE_FC_STATE_EVICTIONS]++;
	__builtin_memset(k, 0, size);
	__builtin_memcpy(k->addr, addr, 16);
	k->family = family;
	return k;
}

static __always_inline bool flood_enabled(const volatile struct netprobe_detect_param *p)
{
	return p[0].enabled || p[1].enabled || p[2].enabled;
}

/*
 * One source probing for something: a TCP segment without ACK (SYN, FIN,
 * NULL and Xmas scans), a UDP datagram towards a lower port than its own
 * (replies come from the service's port to an ephemeral one), an echo request.
 */
static __always_inline bool is_probe(const struct packet_info *pi, int kind)
{
	if (pi->key.proto == IPPROTO_TCP)
		return !(pi->tcp_flags & NP_TCP_ACK);
	if (kind == NETPROBE_SW_UDP)
		return bpf_ntohs(pi->key.dst_port) < bpf_ntohs(pi->key.src_port);
	/* ICMP echo request: type 8, ICMPv6 128 (dst_port holds type << 8 | code) */
	return (bpf_ntohs(pi->key.dst_port) >> 8) == (pi->key.proto == IPPROTO_ICMP ? 8 : 128);
}

/* SYN floods count SYNs only (a FIN or NULL scan is a probe, not a SYN). */
static __always_inline bool is_flood_packet(const struct packet_info *pi, int kind)
{
	return kind != NETPROBE_SW_SYN || (pi->tcp_flags & NP_TCP_SYN);
}

static __always_inline void detect_scan(struct netprobe_counters *cnt, const struct packet_info *pi,
					const struct netprobe_addr_key *src,
					struct netprobe_src_state *s, int kind, __u64 now)
{
	const volatile struct netprobe_detect_param *p = &np_filter.port_scan;
	struct netprobe_window *w = &s->w[NETPROBE_SW_SCAN];
	const __u32 *a = (const __u32 *)pi->key.dst_addr;
	__u32 bit, rule_id = 0;
	bool hosts;

	if (window_roll(w, p->window_jiffies, now)) {
		s->hosts_count = 0;
		__builtin_memset(s->ports, 0, sizeof(s->ports));
		__builtin_memset(s->hosts, 0, sizeof(s->hosts));
	}
	if (pi->key.proto == IPPROTO_TCP || pi->key.proto == IPPROTO_UDP) {
		bit = ((__u32)bpf_ntohs(pi->key.dst_port) * 2654435761u) >> 23; /* 9 bits */
		if (!(s->ports[(bit >> 6) & 7] & (1ull << (bit & 63)))) {
			s->ports[(bit >> 6) & 7] |= 1ull << (bit & 63);
			w->count++;
		}
	}
	bit = ((a[0] ^ a[1] ^ a[2] ^ a[3]) * 2654435761u) >> 24; /* 8 bits */
	if (!(s->hosts[(bit >> 6) & 3] & (1ull << (bit & 63)))) {
		s->hosts[(bit >> 6) & 3] |= 1ull << (bit & 63);
		s->hosts_count++;
	}
	if (w->alerted || (w->count < p->threshold && s->hosts_count < np_filter.scan_hosts))
		return;
	w->alerted = 1;
	hosts = w->count < p->threshold;
	if (np_filter.mitigate)
		rule_id = block_source(cnt, src, NETPROBE_DETECT_PORT_SCAN);
	raise_alert(cnt, pi, src, NETPROBE_DETECT_PORT_SCAN, NETPROBE_SCOPE_SOURCE,
		    hosts ? s->hosts_count : w->count, hosts ? np_filter.scan_hosts : p->threshold,
		    p->window_ms, rule_id, hosts);
}

/*
 * Whether this host asked for the packet: it sent the reversed 5-tuple
 * (TC egress recorded the flow) from a client's port, before the first
 * packet of this flow came in; as for a download or a QUIC session. Looked
 * up only when a threshold is crossed, so it costs nothing per packet.
 */
static __always_inline bool is_solicited(const struct packet_info *pi)
{
	struct netprobe_flow_key in = pi->key, out = {
						       .src_port = pi->key.dst_port,
						       .dst_port = pi->key.src_port,
						       .ifindex = np_ifindex,
						       .proto = pi->key.proto,
						       .family = pi->key.family,
						       .direction = NETPROBE_DIR_EGRESS,
						       .slot = np_slot,
					       };
	struct netprobe_flow_stats *asked, *answer;

	/* A client's port (Linux hands out 32768 and up); a service's never counts as asking. */
	if (pi->key.proto != IPPROTO_UDP || bpf_ntohs(pi->key.dst_port) < 32768)
		return false;
	__builtin_memcpy(out.src_addr, pi->key.dst_addr, 16);
	__builtin_memcpy(out.dst_addr, pi->key.src_addr, 16);
	asked = bpf_map_lookup_elem(&np_flows, &out);
	if (!asked)
		return false;
	/* And this host spoke first: a server's answers to a flood do not make it asked for. */
	in.ifindex = np_ifindex;
	in.slot = np_slot;
	in.direction = NETPROBE_DIR_INGRESS;
	answer = bpf_map_lookup_elem(&np_flows, &in);
	return !answer || asked->first_seen <= answer->first_seen;
}

/*
 * At a crossed threshold: if this host asked for the packet, the count
 * starts again instead of alerting, so that an unasked stream from the same
 * source still shows, at the cost of one flow lookup per threshold's worth.
 */
static __always_inline bool solicited_restart(struct netprobe_window *w,
					      const struct packet_info *pi)
{
	if (!is_solicited(pi))
		return false;
	w->count = 0;
	w->alerted = 0;
	return true;
}

/* Floods from one source, and scans; kind is a NETPROBE_SW_* flood window. */
static __always_inline void detect_source(struct netprobe_counters *cnt,
					  const struct packet_info *pi,
					  const struct netprobe_addr_key *src, int kind, __u64 now)
{
	const volatile struct netprobe_detect_param *p = &np_filter.src_flood[kind];
	struct netprobe_src_state *s = state_slot(cnt, &np_src_state, NETPROBE_SRC_STATE_BITS,
						  src->addr, src->family, sizeof(*s));
	__u32 rule_id = 0;

	if (!s)
		return;
	if (p->enabled && is_flood_packet(pi, kind) &&
	    window_count(&s->w[kind], p->window_jiffies, p->count, now) &&
	    !solicited_restart(&s->w[kind], pi)) {
		if (np_filter.mitigate)
			rule_id = block_source(cnt, src, kind);
		raise_alert(cnt, pi, src, kind, NETPROBE_SCOPE_SOURCE,
			    window_rate(&s->w[kind], now), p->threshold, p->window_ms, rule_id,
			    false);
	}
	if (np_filter.port_scan.enabled && is_probe(pi, kind))
		detect_scan(cnt, pi, src, s, kind, now);
}

/* Floods towards one destination, summed over its sources. */
static __always_inline void detect_destination(struct netprobe_counters *cnt,
					       const struct packet_info *pi, int kind, __u64 now)
{
	const volatile struct netprobe_detect_param *p = &np_filter.dst_flood[kind];
	struct netprobe_dst_state *d;

	if (!p->enabled || !is_flood_packet(pi, kind))
		return;
	d = state_slot(cnt, &np_dst_state, NETPROBE_DST_STATE_BITS, pi->key.dst_addr,
		       pi->key.family, sizeof(*d));
	if (!d)
		return;
	if (window_count(&d->w[kind], p->window_jiffies, p->count, now) &&
	    !solicited_restart(&d->w[kind], pi))
		raise_alert(cnt, pi, NULL, kind, NETPROBE_SCOPE_DESTINATION,
			    window_rate(&d->w[kind], now), p->threshold, p->window_ms, 0, false);
}

/*
 * The interface's packet rate over each window, against a moving average of
 * the windows before. The first CPU past a window's end closes it (compare
 * and swap on its start) and sums every CPU's packet counter.
 */
static __always_inline void detect_rate_anomaly(struct netprobe_counters *cnt,
						const struct packet_info *pi, __u64 now)
{
	const volatile struct netprobe_detect_param *p = &np_filter.rate_anomaly;
	__u32 slot = np_slot;
	struct netprobe_rate_state *rs = bpf_map_lookup_elem(&np_rate_state, &slot);
	__u64 start, total = 0, rate;

	if (!rs)
		return;
	start = rs->window_start;
	if (now - start < p->window_jiffies ||
	    __sync_val_compare_and_swap(&rs->window_start, start, now) != start)
		return;
	for (__u32 cpu = 0; cpu < np_filter.ncpus && cpu < 1024; cpu++) {
		struct netprobe_counters *c = bpf_map_lookup_percpu_elem(&np_counters, &slot, cpu);

		if (c)
			total += c->hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_PACKETS];
	}
	rate = (total - rs->packets_start) * np_filter.hz / (now - start);
	rs->packets_start = total;
	if (start == 0)
		return; /* the first window starts now */
	if (rs->windows >= np_filter.rate_learn_windows && rate >= np_filter.rate_floor_pps &&
	    rate * 100 >= rs->baseline_pps * p->threshold) {
		raise_alert(cnt, pi, NULL, NETPROBE_DETECT_RATE_ANOMALY, NETPROBE_SCOPE_INTERFACE,
			    rate, rs->baseline_pps * p->threshold / 100, p->window_ms, 0, false);
		return; /* an anomalous window does not teach the baseline */
	}
	rs->baseline_pps = rs->windows ? (rs->baseline_pps * 7 + rate) / 8 : rate;
	rs->windows++;
}

static __always_inline void detect(struct netprobe_counters *cnt, const struct packet_info *pi,
				   const struct netprobe_addr_key *src)
{
	__u64 now = bpf_jiffies64();
	int kind;

	if (np_filter.rate_anomaly.enabled)
		detect_rate_anomaly(cnt, pi, now);
	switch (pi->key.proto) {
	case IPPROTO_TCP:
		/* Established traffic (ACK set) is never a flood or a probe: skip the state. */
		if (pi->tcp_flags & NP_TCP_ACK)
			return;
		kind = NETPROBE_SW_SYN;
		break;
	case IPPROTO_UDP:
		kind = NETPROBE_SW_UDP;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* Neighbour discovery (ICMPv6 133-137) is the link's housekeeping. */
		if (pi->key.proto == IPPROTO_ICMPV6 && (bpf_ntohs(pi->key.dst_port) >> 8) >= 133 &&
		    (bpf_ntohs(pi->key.dst_port) >> 8) <= 137)
			return;
		kind = NETPROBE_SW_ICMP;
		break;
	default:
		return;
	}
	if (flood_enabled(np_filter.src_flood) || np_filter.port_scan.enabled)
		detect_source(cnt, pi, src, kind, now);
	if (flood_enabled(np_filter.dst_flood))
		detect_destination(cnt, pi, kind, now);
}

/*
 * The filter's verdict for an IP packet, or a malformed frame. When the IP
 * header parsed the addresses are known and the lists apply, also when the
 * rest is malformed: a first fragment too short for its TCP header, or an
 * extension header chain too long to follow, hides the ports. Unless an
 * allow entry vouches for its source, a malformed frame is dropped: that
 * is how scans and filters are evaded (RFC 1858), and so are frames with
 * more VLAN tags than netprobe follows.
 *
 * A global function: the verifier checks it once, on its own, however
 * often it is called (with decap it runs twice: the tunnel, then what it
 * carries; inlined twice, the program was past the verifier's limit), and
 * its stack stays off the load balancer's call chain, which is near the
 * 512 bytes BPF allows.
 */
__noinline int filter_packet(struct netprobe_counters *cnt, const struct packet_info *pi,
			     int malformed)
{
	if (!cnt || !pi)
		return XDP_PASS;

	struct netprobe_addr_key src;
	__u32 word = 0;

	if (pi->l3 != NP_L3_NONE) {
		filter_source(pi, &src);
		word = acl_match(cnt, pi, &src);
	}

	if (word & NETPROBE_ACL_W_ALLOW) {
		/* Trusted: passes, and is never counted towards a detection. */
		cnt->filter[NETPROBE_FC_ALLOW_PASSES]++;
		return XDP_PASS;
	}
	if (word) {
		cnt->filter[word & NETPROBE_ACL_W_BLOCK ? NETPROBE_FC_BLOCK_DROPS
							: NETPROBE_FC_DENY_DROPS]++;
		return XDP_DROP;
	}
	if (malformed) {
		cnt->filter[NETPROBE_FC_MALFORMED_DROPS]++;
		return XDP_DROP;
	}
	detect(cnt, pi, &src);
	return XDP_PASS;
}

#endif /* NETPROBE_FILTER_H */
