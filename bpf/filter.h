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
	bool aggregate;
	struct netprobe_acl_tbl24 *t24;
	struct netprobe_acl_tbl8 *t8;

	t24 = bpf_map_lookup_elem(&np_acl_v4_tbl24, &elem);
	if (!t24)
		return 0;
	word = t24->w[(host >> 8) & (NETPROBE_ACL_TBL24_WORDS_PER_ELEM - 1)];
	aggregate = word & NETPROBE_ACL_W_AGGREGATE;
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
	word = acl_live(expired, word & ~(NETPROBE_ACL_W_EXACT | NETPROBE_ACL_W_GROUP |
					  NETPROBE_ACL_W_AGGREGATE));
	/* A block of the whole /24 decides what nothing else does (an entry inside it wins). */
	if (!word && aggregate) {
		__u32 net = be & bpf_htonl(0xffffff00);
		struct netprobe_acl_value *v = bpf_map_lookup_elem(&np_acl_v4_agg, &net);

		word = v ? acl_live(expired, v->own) : 0;
	}
	return word;
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

	src->prefix_len = 0;
	src->pad = 0;
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
 * Who the detections count and mitigation blocks: an IPv6 source is its
 * prefix (v6_prefix, a /64 by default), since a host picks any address of
 * its /64 at will and a scanner rotating through them is one scanner. In
 * place, once the lists have seen the address itself.
 */
static __always_inline void source_scope(struct netprobe_addr_key *src)
{
	__u32 *w = (__u32 *)src->addr;

	if (src->family != NETPROBE_FAMILY_IPV6 || np_filter.v6_prefix >= 128)
		return;
	w[0] &= np_filter.v6_mask[0];
	w[1] &= np_filter.v6_mask[1];
	w[2] &= np_filter.v6_mask[2];
	w[3] &= np_filter.v6_mask[3];
	src->prefix_len = np_filter.v6_prefix;
}

/* Whether an allow entry vouches for src (nothing counted: a lookup on the way out). */
static __always_inline bool allowed(const struct netprobe_addr_key *src)
{
	bool expired = false;
	__u32 word = src->family == NETPROBE_FAMILY_IPV4 ? acl_lookup_v4(&expired, src->addr)
							 : acl_lookup_v6(&expired, src->addr);

	return word & NETPROBE_ACL_W_ALLOW;
}

/*
 * The word of the live rule that decides this source, 0 when none does;
 * counts its hit, and the packet as an expired match if it met one. A
 * mapped source that no IPv4 deny entry decides is still an IPv6 packet:
 * the IPv6 entries covering its address (::/0, say) decide it then.
 */
static __always_inline __u32 acl_match(struct netprobe_counters *cnt, const struct packet_info *pi,
				       const struct netprobe_addr_key *src)
{
	bool expired = false;
	__u32 word = 0, id;
	__u64 *hits;

	if (src->family == NETPROBE_FAMILY_IPV4)
		word = acl_lookup_v4(&expired, src->addr);
	/*
	 * A mapped source is denied by the IPv4 entries, never trusted by them:
	 * the IPv4 border that filters spoofed IPv4 sources does not see it,
	 * and no host sends one on the wire (RFC 4291, 2.5.5.2).
	 */
	if ((word & NETPROBE_ACL_W_ALLOW) && pi->key.family == NETPROBE_FAMILY_IPV6)
		word = 0;
	if (!word && pi->key.family == NETPROBE_FAMILY_IPV6) {
		/* A stack copy: kernels before 6.2 take no argument's memory as a map key. */
		__u8 addr[16];

		__builtin_memcpy(addr, pi->key.src_addr, 16);
		word = acl_lookup_v6(&expired, addr);
	}
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

/*
 * Where a block of family and prefix_len lives: the exact tables, or (an
 * IPv6 prefix: a source's /64) the trie, with the meta count of entries
 * that lets XDP skip an empty one.
 */
static __always_inline void *block_map(struct netprobe_acl_meta *meta, __u8 family, __u8 prefix_len,
				       __u32 **count)
{
	if (family == NETPROBE_FAMILY_IPV4 && prefix_len && prefix_len < 32) {
		*count = &meta->v4_aggregates;
		return &np_acl_v4_agg;
	}
	if (family == NETPROBE_FAMILY_IPV4) {
		*count = NULL;
		return &np_acl_v4_exact;
	}
	if (prefix_len && prefix_len < 128) {
		*count = &meta->v6_prefixes;
		return &np_acl_v6_trie;
	}
	*count = &meta->v6_exact;
	return &np_acl_v6_exact;
}

/*
 * The entry of key in map if rule id owns it (another may have replaced
 * it; the trie answers with the longest prefix covering key, which is
 * key's own entry exactly when its rule is id).
 */
static __always_inline bool owns(void *map, const void *key, __u32 id)
{
	struct netprobe_acl_value *old = bpf_map_lookup_elem(map, key);

	return old && (old->own & NETPROBE_ACL_W_ID) == id;
}

/* Removes rule id's entry of key, only if it is still rule id's. */
static __always_inline void drop_entry(void *map, const void *key, __u32 *count, __u32 id)
{
	if (!owns(map, key, id) || bpf_map_delete_elem(map, key))
		return;
	if (count)
		__sync_fetch_and_sub(count, 1);
}

/* Removes pool rule id's entry (the rule is BUSY: its fields hold still). */
static __always_inline void drop_block(struct netprobe_acl_meta *meta,
				       const struct netprobe_acl_rule *rule, __u32 id)
{
	struct netprobe_acl_v6_prefix key = {.prefix_len = rule->prefix_len};
	__u32 *count;
	void *map = block_map(meta, rule->family, rule->prefix_len, &count);

	if (map != &np_acl_v6_trie) {
		drop_entry(map, rule->addr, count, id);
		return;
	}
	__builtin_memcpy(key.addr, rule->addr, 16);
	drop_entry(map, &key, count, id);
}

/*
 * An entry of key (in map, of prefix_len bits) is in the way of a new
 * block: if it has expired (nothing swept it yet), it goes, so that a
 * repeat offender is blocked again. Returns the id of a live block already
 * there, else 0.
 */
static __always_inline __u32 clear_expired(struct netprobe_acl_meta *meta, void *map,
					   const void *key, __u32 *count, __u8 prefix_len,
					   __u64 now)
{
	struct netprobe_acl_value *v = bpf_map_lookup_elem(map, key);
	struct netprobe_acl_rule *old;
	__u32 id;

	if (!v)
		return 0;
	id = v->own & NETPROBE_ACL_W_ID;
	old = bpf_map_lookup_elem(&np_acl_rules, &id);
	/* The trie's answer may be a shorter prefix covering key: not in the way. */
	if (!old || old->prefix_len != prefix_len)
		return 0;
	if (!old->expires_ns || now < old->expires_ns)
		return id;
	if (id < meta->max_rules - meta->block_pool) {
		/* A hand-made entry: the sweep frees its rule. */
		drop_entry(map, key, count, id);
		return 0;
	}
	/* An expired block: claimed like any pool rule, so that a sweep cannot race us. */
	if (__sync_val_compare_and_swap(&old->in_use, NETPROBE_RULE_LIVE, NETPROBE_RULE_BUSY) !=
	    NETPROBE_RULE_LIVE)
		return id;
	drop_entry(map, key, count, id);
	zero_hits(id);
	__sync_lock_test_and_set(&old->in_use, NETPROBE_RULE_FREE);
	__sync_fetch_and_add(&meta->generation, 1);
	return 0;
}

/*
 * Whether rule is a block of one IPv4 address in a /24 blocked whole since:
 * it stops nothing the aggregate does not, and is the first to give way.
 */
static __always_inline bool aggregated(struct netprobe_acl_meta *meta,
				       const struct netprobe_acl_rule *rule, __u64 now)
{
	struct netprobe_acl_value *v;
	struct netprobe_acl_rule *agg;
	__u32 net, id;

	if (!meta->v4_aggregates || rule->family != NETPROBE_FAMILY_IPV4 || rule->prefix_len != 32)
		return false;
	net = *(const __u32 *)rule->addr & bpf_htonl(0xffffff00);
	v = bpf_map_lookup_elem(&np_acl_v4_agg, &net);
	if (!v)
		return false;
	/* Only an aggregate in force stands for the address: not an expired one. */
	id = v->own & NETPROBE_ACL_W_ID;
	agg = bpf_map_lookup_elem(&np_acl_rules, &id);
	return agg && agg->in_use == NETPROBE_RULE_LIVE && agg->prefix_len == 24 &&
	       *(const __u32 *)agg->addr == net && agg->expires_ns > now;
}

/*
 * Takes a rule of the mitigation pool for a new block: the first of a few
 * rules from the round-robin position that is free, expired, or holds a
 * block of weaker evidence (the oldest go first) or one a /24 block covers.
 * When the rule at the position is not free, the pool has come round
 * within a TTL: it is under pressure (pool_pressure). Whoever rewrites or
 * retires a pool rule first takes it from LIVE (or FREE) to BUSY with a
 * compare and swap, userspace too, so a sweep never removes a block XDP
 * has just made. Returns the id (BUSY, its old entry gone), or 0.
 */
#define NP_BLOCK_CANDIDATES 4

static __always_inline __u32 claim_pool_rule(struct netprobe_counters *cnt,
					     struct netprobe_acl_meta *meta, __u8 evidence,
					     __u64 now)
{
	__u32 pool = meta->block_pool, first = meta->max_rules - pool, claimed = 0;
	__u32 n = __sync_fetch_and_add(&meta->block_next, 1);
	struct netprobe_acl_rule *rule = NULL;
	bool evicted = false;

	/*
	 * The round robin has come back to a block still in force: the pool is
	 * under pressure (aggregate_v4). An expired one nobody swept is not.
	 */
	rule = bpf_map_lookup_elem(&np_acl_rules, &(__u32){first + n % pool});
	if (rule && rule->in_use != NETPROBE_RULE_FREE &&
	    !(rule->in_use == NETPROBE_RULE_LIVE && rule->expires_ns && now >= rule->expires_ns))
		meta->pool_pressure = now;

	for (int i = 0; i < NP_BLOCK_CANDIDATES; i++) {
		__u32 id = first + (n + i) % pool;
		bool expired;

		rule = bpf_map_lookup_elem(&np_acl_rules, &id);
		if (!rule)
			continue;
		if (rule->in_use == NETPROBE_RULE_FREE) {
			if (__sync_val_compare_and_swap(&rule->in_use, NETPROBE_RULE_FREE,
							NETPROBE_RULE_BUSY) == NETPROBE_RULE_FREE) {
				claimed = id;
				break;
			}
			continue;
		}
		if (rule->in_use != NETPROBE_RULE_LIVE)
			continue;
		expired = rule->expires_ns && now >= rule->expires_ns;
		if (!expired && rule->evidence >= evidence && !aggregated(meta, rule, now))
			continue;
		if (__sync_val_compare_and_swap(&rule->in_use, NETPROBE_RULE_LIVE,
						NETPROBE_RULE_BUSY) != NETPROBE_RULE_LIVE)
			continue;
		/* An expired block nobody swept, or a weaker one: retired, its place taken. */
		drop_block(meta, rule, id);
		evicted = !expired;
		claimed = id;
		break;
	}
	if (!claimed)
		return 0;
	zero_hits(claimed);
	if (evicted)
		cnt->filter[NETPROBE_FC_BLOCKS_EVICTED]++;
	return claimed;
}

/*
 * Mitigation: a deny entry for the source with a TTL, from the last
 * block_pool rule ids, which only the datapath hands out (round robin; an
 * expired block nobody swept yet is replaced, and under pressure the
 * weakest evidence gives way). Returns the rule id, or 0.
 */
static __always_inline __u32 block_source(struct netprobe_counters *cnt,
					  const struct netprobe_addr_key *src, __u8 detection,
					  __u8 evidence)
{
	struct netprobe_acl_meta *meta = acl_meta();
	struct netprobe_acl_v6_prefix prefix_key;
	struct netprobe_acl_rule *rule;
	struct netprobe_acl_value value;
	__u32 id, live, *count;
	__u64 now = bpf_ktime_get_coarse_ns();
	__u8 family = src->family, prefix_len;
	const void *key = src->addr;
	void *map;

	if (!meta || !meta->block_pool || meta->block_pool >= meta->max_rules)
		goto fail;
	prefix_len = src->prefix_len ?: (family == NETPROBE_FAMILY_IPV4 ? 32 : 128);
	map = block_map(meta, family, prefix_len, &count);
	if (map == &np_acl_v6_trie) {
		prefix_key.prefix_len = prefix_len;
		__builtin_memcpy(prefix_key.addr, src->addr, 16);
		key = &prefix_key;
	}
	/* Blocked already (another CPU, the other hook): no rule taken, nothing evicted. */
	live = clear_expired(meta, map, key, count, prefix_len, now);
	if (live)
		return live;
	id = claim_pool_rule(cnt, meta, evidence, now);
	rule = id ? bpf_map_lookup_elem(&np_acl_rules, &id) : NULL;
	if (!rule)
		goto fail; /* every block in reach is live with stronger evidence, or being changed */
	__builtin_memcpy(rule->addr, src->addr, 16);
	rule->family = family;
	rule->prefix_len = prefix_len;
	rule->action = NETPROBE_ACL_DENY;
	rule->origin = detection + 1;
	rule->evidence = evidence;
	/* An exact entry falls back to the prefix tables; a prefix block, to the trie's next entry up. */
	rule->fallback = 0;
	rule->created_ns = now;
	rule->expires_ns = now + (__u64)np_filter.block_ttl_s * 1000000000ull;

	value.word = value.own = id | NETPROBE_ACL_W_TTL | NETPROBE_ACL_W_BLOCK;
	/*
	 * Kernels before 6.13 ignore BPF_NOEXIST on an LPM trie and replace the
	 * entry; that two CPUs block one prefix at once is what take_alert
	 * prevents (one alert per window), not this. The entry and its count
	 * go in while the rule is still BUSY: userspace claims only a LIVE
	 * rule, so none can take it over between its entry and its count.
	 */
	if (bpf_map_update_elem(map, key, &value, BPF_NOEXIST))
		goto undo;
	if (count)
		__sync_fetch_and_add(count, 1);
	if (family == NETPROBE_FAMILY_IPV4) {
		__u32 host = bpf_ntohl(*(const __u32 *)src->addr), elem = host >> 12;
		struct netprobe_acl_tbl24 *t24 = bpf_map_lookup_elem(&np_acl_v4_tbl24, &elem);

		if (!t24) {
			drop_entry(map, key, count, id);
			goto undo;
		}
		/* The /24's word says where to look: its exact entries, or its aggregate. */
		__sync_fetch_and_or(&t24->w[(host >> 8) & (NETPROBE_ACL_TBL24_WORDS_PER_ELEM - 1)],
				    prefix_len == 32 ? NETPROBE_ACL_W_EXACT
						     : NETPROBE_ACL_W_AGGREGATE);
	}
	/* An exchange is a full barrier: the rule, its entry and its count are in before it is live. */
	__sync_lock_test_and_set(&rule->in_use, NETPROBE_RULE_LIVE);
	__sync_fetch_and_add(&meta->generation, 1);
	cnt->filter[NETPROBE_FC_BLOCKS_ADDED]++;
	return id;
undo:
	/* Another CPU's block went in between: ours goes, and userspace hears of it. */
	__sync_lock_test_and_set(&rule->in_use, NETPROBE_RULE_FREE);
	__sync_fetch_and_add(&meta->generation, 1);
	return 0;
fail:
	cnt->filter[NETPROBE_FC_BLOCKS_REFUSED]++;
	return 0;
}

static __always_inline void raise_alert(struct netprobe_counters *cnt, const struct np_alert *a)
{
	struct netprobe_event_counters *ec;
	struct netprobe_security_event *ev;

	if (a->detection < NETPROBE_DETECT_MAX) {
		if (a->scope == NETPROBE_SCOPE_DESTINATION)
			cnt->detections_dst[a->detection]++;
		else
			cnt->detections[a->detection]++;
	}
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
	ev->slot = np_slot;
	if (a->scope == NETPROBE_SCOPE_SOURCE) {
		/* A mapped source's event is about its IPv4 address; an IPv6 destination is left out. */
		ev->family = a->src.family;
		ev->src_prefix_len = a->src.prefix_len;
		__builtin_memcpy(ev->src, a->src.addr, 16);
		if (a->dst_family == a->src.family)
			__builtin_memcpy(ev->dst, a->dst, 16);
	} else if (a->scope == NETPROBE_SCOPE_DESTINATION) {
		ev->family = a->dst_family;
		__builtin_memcpy(ev->dst, a->dst, 16);
	}
	ev->detection = a->detection;
	ev->scope = a->scope;
	ev->blocked = a->rule_id != 0;
	ev->rule_id = a->rule_id;
	ev->window_ms = a->window_ms;
	ev->rate = a->rate;
	ev->threshold = a->threshold;
	ev->scan_hosts = a->scan_hosts;
	ev->not_blocked = a->not_blocked;
	event_commit(ec, ev);
}

/* ---- What mitigation never blocks ---------------------------------------- */

/* How long a peer this host opened a flow to stays one after its last packet. */
#define NP_PEER_TTL_S 600
/* How long a completed handshake proves its source is not spoofed. */
#define NP_PROOF_TTL_S 10

/*
 * Addresses no real source sends from, or that stand for many hosts:
 * blocking one would cut off DHCP, the link or a group, never an attacker.
 */
static __always_inline bool special_source(const struct netprobe_addr_key *src)
{
	const __u8 *a = src->addr;
	const __u32 *w = (const __u32 *)a;

	if (src->family == NETPROBE_FAMILY_IPV4)
		/* 0/8 this network, 127/8 loopback, 169.254/16 link-local, 224/4 multicast and up */
		return a[0] == 0 || a[0] == 127 || (a[0] == 169 && a[1] == 254) || a[0] >= 224;
	/* ::, ::1, fe80::/10 link-local, ff00::/8 multicast */
	if (!w[0] && !w[1] && !w[2] && (!w[3] || w[3] == bpf_htonl(1)))
		return true;
	return a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

/*
 * Why mitigation must leave src alone (enum netprobe_unblocked), or 0.
 * Spoofing is free, so a detection's evidence can name any address: the
 * addresses this host depends on (its own, its gateways and resolvers,
 * and every peer it opened a flow to lately) are never blocked for it.
 */
static __always_inline __u8 unblockable(const struct netprobe_addr_key *src)
{
	__u64 *seen;

	if (special_source(src))
		return NETPROBE_UNBLOCKED_SPECIAL;
	if (allowed(src))
		return NETPROBE_UNBLOCKED_ALLOWED;
	if (bpf_map_lookup_elem(&np_protected, src))
		return NETPROBE_UNBLOCKED_PROTECTED;
	seen = bpf_map_lookup_elem(&np_peers, src);
	if (seen && bpf_jiffies64() - *seen < (__u64)NP_PEER_TTL_S * np_filter.hz)
		return NETPROBE_UNBLOCKED_PEER;
	return NETPROBE_UNBLOCKED_NONE;
}

/*
 * Blocks src for a detection if it may be blocked; proof: its last
 * completed handshake (jiffies), or 0. A block's evidence is 16 x the
 * source's count in the window over the threshold's count (16 at the
 * crossing, 32 when it has doubled...), at most 255: counts, not rates, as
 * a threshold's worth sent within one tick would make any rate huge, and a
 * cheap block unbeatable. Returns the block's rule id, or minus why the
 * source was not blocked (enum netprobe_unblocked). A global function:
 * settling calls it for a source, its sender and its /24, and the verifier
 * checks it once. Which address (enum np_whom) it reads from this CPU's
 * source alert itself: a global function's pointer argument is no map key
 * for kernels before 6.2, a map value is.
 */
__noinline int mitigate_source(struct netprobe_counters *cnt, __u32 whom, __u32 detection,
			       __u32 evidence, __u64 proof)
{
	__u32 scope = NETPROBE_SCOPE_SOURCE, id;
	struct np_alert *a = bpf_map_lookup_elem(&np_alerts, &scope);
	const struct netprobe_addr_key *src;
	__u8 why;

	/*
	 * The verifier checks a global function whether or not it is called:
	 * without mitigation its body (and the helper it calls that kernels
	 * before 5.19 lack) is dead code to drop, not to check.
	 */
	if (!np_filter.mitigate || !cnt || !a)
		return -NETPROBE_UNBLOCKED_POOL_FULL;
	src = whom == NP_WHOM_SENDER	  ? &a->sender
	      : whom == NP_WHOM_AGGREGATE ? &a->aggregate
					  : &a->src;
	why = unblockable(src);
	if (why)
		return -why;
	/*
	 * Failures, counts and rates can all be spoofed: only a source that
	 * completed a handshake lately is known to be where it says (unless
	 * the operator vouches that nobody here can spoof).
	 */
	if (!np_filter.block_unproven &&
	    (!proof || bpf_jiffies64() - proof > (__u64)NP_PROOF_TTL_S * np_filter.hz))
		return -NETPROBE_UNBLOCKED_UNPROVEN;
	id = block_source(cnt, src, detection, evidence > 255 ? 255 : evidence < 1 ? 1 : evidence);
	return id ? (int)id : -NETPROBE_UNBLOCKED_POOL_FULL;
}

/*
 * After an alert whose block the pool refused, a source that goes on tries
 * again when its count has doubled (its evidence with it): its window's
 * alerted holds that count (1: alerted, nothing more to do).
 */
static __always_inline void retry_later(const struct np_alert *a)
{
	const __u64 *want = (const __u64 *)a->src.addr;
	__u32 slot = a->state_slot, window = a->window;
	struct netprobe_src_state *s;
	struct netprobe_window *w;

	if (a->not_blocked != NETPROBE_UNBLOCKED_POOL_FULL || window >= NETPROBE_SW_MAX)
		return;
	s = bpf_map_lookup_elem(&np_src_state, &slot);
	/* The slot may hold another source by now: then nothing to do. */
	if (!s || s->key.family != a->src.family || s->key.prefix_len != a->src.prefix_len ||
	    ((__u64 *)s->key.addr)[0] != want[0] || ((__u64 *)s->key.addr)[1] != want[1])
		return;
	w = &s->w[window];
	w->alerted = w->count * 2 > 2 ? w->count * 2 : 2;
}

static __always_inline bool retry_due(const struct netprobe_window *w)
{
	return w->alerted > 1 && w->count >= w->alerted;
}

/*
 * This CPU's alert slot of scope, emptied, for a detection to fill; the
 * program settles it (settle_alerts) once the detections are done.
 */
static __always_inline struct np_alert *alert_slot(__u32 scope)
{
	struct np_alert *a = bpf_map_lookup_elem(&np_alerts, &scope);

	if (a) {
		__builtin_memset(a, 0, sizeof(*a));
		a->scope = scope;
		a->pending = 1;
	}
	return a;
}

/*
 * Under pool pressure, an IPv4 /24 in which NP_AGGREGATE_MEMBERS addresses
 * were blocked within a TTL is blocked whole, and its addresses' blocks
 * give way first to new ones (claim_pool_rule): one rule stands for many.
 * Never a /24 that holds an address this host depends on, or that the
 * allow list covers. Each member was blocked on its own proof. Called
 * after a's source, an address, was blocked; a then tells of the /24.
 */
#define NP_AGGREGATE_MEMBERS  8
#define NP_AGGREGATE_EVIDENCE 128 /* 16 for each member */
#define NP_PRESSURE_NS	      (60ull * 1000000000ull)

static const struct np_v4_members np_v4_members_none;

static __always_inline void aggregate_v4(struct netprobe_counters *cnt, struct np_alert *a)
{
	struct netprobe_acl_meta *meta = acl_meta();
	__u64 now = bpf_ktime_get_coarse_ns(), ttl = (__u64)np_filter.block_ttl_s * 1000000000ull;
	__u32 net = *(const __u32 *)a->src.addr & bpf_htonl(0xffffff00);
	struct netprobe_addr_key key = {.family = NETPROBE_FAMILY_IPV4, .prefix_len = 24};
	__u32 host = a->src.addr[3], bit = 1u << (host & 31);
	struct np_v4_members *b = bpf_map_lookup_elem(&np_v4_members, &net);
	__u64 since;
	int r;

	if (!b) {
		/* From global data, not the stack, which the call chain has used up. */
		bpf_map_update_elem(&np_v4_members, &net, &np_v4_members_none, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&np_v4_members, &net);
		if (!b)
			return;
	}
	since = b->since;
	/* New, or its TTL is over: the CPU that moves since on starts the count afresh. */
	if ((!since || now - since > ttl) &&
	    __sync_val_compare_and_swap(&b->since, since, now) == since) {
		for (int i = 0; i < 8; i++)
			b->members[i] = 0;
		b->count = 0;
	}
	/* An address counts once: blocked again, or by the other hook, it is no new member. */
	if (__sync_fetch_and_or(&b->members[(host >> 5) & 7], bit) & bit)
		return;
	if (__sync_fetch_and_add(&b->count, 1) + 1 < NP_AGGREGATE_MEMBERS || !meta ||
	    !meta->pool_pressure || now - meta->pool_pressure > NP_PRESSURE_NS)
		return;
	__builtin_memcpy(key.addr, &net, 4);
	a->aggregate = key;
	r = mitigate_source(cnt, NP_WHOM_AGGREGATE, a->detection, NP_AGGREGATE_EVIDENCE,
			    bpf_jiffies64());
	if (r <= 0)
		return;
	bpf_map_delete_elem(&np_v4_members, &net); /* the next aggregate of it starts from none */
	cnt->filter[NETPROBE_FC_BLOCKS_AGGREGATED]++;
	a->src = key;
	a->rule_id = r;
}

/* Settles this CPU's alert of scope, if one is pending. */
static __always_inline void settle_alert(struct netprobe_counters *cnt, __u32 scope)
{
	struct np_alert *a = bpf_map_lookup_elem(&np_alerts, &scope);
	bool sender = false;
	int r;

	if (!a || !a->pending)
		return;
	a->pending = 0;
	if (scope == NETPROBE_SCOPE_SOURCE && np_filter.mitigate) {
		r = mitigate_source(cnt, NP_WHOM_SOURCE, a->detection, a->evidence, a->proof);
		/*
		 * A prefix that holds an address this host depends on (its own
		 * /64: the link's neighbours) is not blocked whole: the address
		 * that sent the packet is, on its own proof, and the event
		 * names it.
		 */
		if ((r == -NETPROBE_UNBLOCKED_PROTECTED || r == -NETPROBE_UNBLOCKED_PEER ||
		     r == -NETPROBE_UNBLOCKED_SPECIAL) &&
		    a->src.prefix_len && a->sender.family) {
			__u64 *proven = bpf_map_lookup_elem(&np_proven, &a->sender);

			r = mitigate_source(cnt, NP_WHOM_SENDER, a->detection, a->evidence,
					    proven ? *proven : 0);
			sender = true;
		}
		if (r > 0) {
			a->rule_id = r;
		} else {
			a->not_blocked = -r;
			if (r == -NETPROBE_UNBLOCKED_UNPROVEN)
				cnt->filter[NETPROBE_FC_BLOCKS_UNPROVEN]++;
			else if (r != -NETPROBE_UNBLOCKED_POOL_FULL)
				cnt->filter[NETPROBE_FC_BLOCKS_PROTECTED]++;
		}
		retry_later(a); /* the prefix's window waits for the retry */
		if (sender)
			a->src = a->sender;
		if (r > 0 && a->src.family == NETPROBE_FAMILY_IPV4 && !a->src.prefix_len)
			aggregate_v4(cnt, a);
	}
	if (a->raise)
		raise_alert(cnt, a);
}

/*
 * What the detections of one packet found, settled: a source alert's
 * block (mitigation), then each alert's event. Out of line and called by
 * the programs themselves once the detections are done, so that the
 * blocking is verified once, not at each detection, and its stack sits
 * at the top of the call chain instead of at the bottom of the filter's.
 * A BPF program runs to its end on its CPU, so the slots hold one
 * packet's alerts.
 */
__noinline int settle_alerts(struct netprobe_counters *cnt)
{
	if (!cnt)
		return 0;
	settle_alert(cnt, NETPROBE_SCOPE_SOURCE);
	settle_alert(cnt, NETPROBE_SCOPE_DESTINATION);
	settle_alert(cnt, NETPROBE_SCOPE_INTERFACE);
	return 0;
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
/*
 * Takes the window's alert (seen: 0), or its retry (seen: the count it
 * waited for), for this CPU alone: CPUs counting one source's packets may
 * cross the threshold together, and one block is to be made, not two.
 */
static __always_inline bool take_alert(struct netprobe_window *w, __u32 seen)
{
	return __sync_val_compare_and_swap(&w->alerted, seen, 1) == seen;
}

static __always_inline bool window_count(struct netprobe_window *w, __u32 window_jiffies,
					 __u32 threshold_count, __u64 now)
{
	window_roll(w, window_jiffies, now);
	w->count++;
	if (w->count < threshold_count || w->alerted)
		return false;
	return take_alert(w, 0);
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
/* Which slot of a direct-mapped state table of 2^bits slots addr's state takes. */
static __always_inline __u32 state_index(const __u8 *addr, __u8 family, __u32 bits)
{
	return addr_hash(addr, family) >> (32 - bits);
}

_Static_assert(__builtin_offsetof(struct netprobe_src_state, key) == 0 &&
		       __builtin_offsetof(struct netprobe_dst_state, key) == 0,
	       "state values start with their key");

static __always_inline void *state_slot(struct netprobe_counters *cnt, void *map, __u32 bits,
					const __u8 *addr, __u8 family, __u8 prefix_len, __u32 size)
{
	__u32 slot = state_index(addr, family, bits);
	struct netprobe_addr_key *k = bpf_map_lookup_elem(map, &slot);
	const __u64 *want = (const __u64 *)addr;
	__u64 *have;

	if (!k)
		return NULL;
	have = (__u64 *)k->addr;
	if (k->family == family && k->prefix_len == prefix_len && have[0] == want[0] &&
	    have[1] == want[1])
		return k;
	if (k->family)
		cnt->filter[NETPROBE_FC_STATE_EVICTIONS]++;
	__builtin_memset(k, 0, size);
	__builtin_memcpy(k->addr, addr, 16);
	k->family = family;
	k->prefix_len = prefix_len;
	return k;
}

static __always_inline bool flood_enabled(const volatile struct netprobe_detect_param *p)
{
	return p[0].enabled || p[1].enabled || p[2].enabled;
}

static __always_inline bool source_flood_enabled(void)
{
	return flood_enabled(np_filter.src_flood) || np_filter.src_flood[NETPROBE_SW_TCP].enabled ||
	       np_filter.src_flood[NETPROBE_SW_OTHER].enabled;
}

/* The detection a source's flood window raises. */
static __always_inline __u8 flood_detection(int kind)
{
	if (kind == NETPROBE_SW_TCP)
		return NETPROBE_DETECT_TCP_FLOOD;
	if (kind == NETPROBE_SW_OTHER)
		return NETPROBE_DETECT_OTHER_FLOOD;
	return kind; /* syn, udp and icmp: the same numbers */
}

/* ICMP echo reply (type 0) and ICMPv6 echo reply (129); dst_port holds type << 8 | code. */
static __always_inline bool is_echo_reply(const struct packet_info *pi)
{
	__u8 type = bpf_ntohs(pi->key.dst_port) >> 8;

	return pi->key.proto == IPPROTO_ICMP ? type == 0 : type == 129;
}

/* SYN floods count SYNs only (a FIN or NULL scan is a probe, not a SYN). */
static __always_inline bool is_flood_packet(const struct packet_info *pi, int kind)
{
	return kind != NETPROBE_SW_SYN || (pi->tcp_flags & NP_TCP_SYN);
}

/*
 * The statistics of this interface's flow src:sport -> dst:dport in that
 * direction, if the flow table holds it: whether this host sent on a flow,
 * or received on it, and how much.
 */
static __always_inline struct netprobe_flow_stats *flow_stats(const __u8 *src, const __u8 *dst,
							      __u8 family, __be16 sport,
							      __be16 dport, __u8 proto,
							      __u8 direction)
{
	struct netprobe_flow_key key = {
		.src_port = sport,
		.dst_port = dport,
		.ifindex = np_ifindex,
		.proto = proto,
		.family = family,
		.direction = direction,
		.slot = np_slot,
	};

	__builtin_memcpy(key.src_addr, src, 16);
	__builtin_memcpy(key.dst_addr, dst, 16);
	return bpf_map_lookup_elem(&np_flows, &key);
}

/*
 * Whether this host asked for the packet: it sent on the reversed flow
 * (TC egress recorded it) before the first packet of this flow came in,
 * from a client's port (a download, a QUIC session) or as an echo request
 * (its own ping), and what came back is in proportion to what it sent: a
 * request excuses its answers, never a flood on the same 5-tuple. Looked up
 * only when a threshold is crossed, so it costs nothing per packet.
 */
#define NP_UDP_ANSWERS_PER_REQUEST  64 /* a QUIC or streaming download acknowledges far more often */
#define NP_ECHO_ANSWERS_PER_REQUEST 2

#define NP_TUNNEL_ANSWERS_PER_REQUEST 64 /* other protocols: tunnels, both ways */

static __always_inline bool is_solicited(const struct packet_info *pi)
{
	const struct netprobe_flow_key *k = &pi->key;
	__be16 my_port = k->dst_port, its_port = k->src_port;
	struct netprobe_flow_stats *asked, *answer;
	__u64 per_request;

	if (k->proto == IPPROTO_UDP) {
		/* A client's port (Linux hands out 32768 and up); a service's never counts as asking. */
		if (bpf_ntohs(k->dst_port) < 32768)
			return false;
		per_request = NP_UDP_ANSWERS_PER_REQUEST;
	} else if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
		if (!is_echo_reply(pi))
			return false;
		/* The echo request's flow: type 8 (128) in the "port" */
		my_port = 0;
		its_port = bpf_htons(k->proto == IPPROTO_ICMP ? 8 << 8 : 128 << 8);
		per_request = NP_ECHO_ANSWERS_PER_REQUEST;
	} else if (k->proto != IPPROTO_TCP) {
		/* GRE, ESP, ...: a tunnel this host sends into too (no ports: 0 both ways). */
		per_request = NP_TUNNEL_ANSWERS_PER_REQUEST;
	} else {
		return false;
	}
	asked = flow_stats(k->dst_addr, k->src_addr, k->family, my_port, its_port, k->proto,
			   NETPROBE_DIR_EGRESS);
	if (!asked)
		return false;
	answer = flow_stats(k->src_addr, k->dst_addr, k->family, k->src_port, k->dst_port, k->proto,
			    NETPROBE_DIR_INGRESS);
	if (!answer)
		return true;
	/* This host spoke first (a server's answers to a flood do not make it asked for)... */
	if (asked->first_seen > answer->first_seen)
		return false;
	/* ...and the answers are in proportion to the requests. */
	return answer->packets <= asked->packets * per_request + per_request;
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

/*
 * The pending alert about source src's window (NETPROBE_SW_*) for
 * settle_alerts, which blocks src (if mitigation may) and, with raise,
 * sends the event; the caller fills in what the detection saw.
 */
static __always_inline struct np_alert *alert_source(const struct netprobe_addr_key *src,
						     const struct netprobe_src_state *s,
						     __u8 window, __u8 detection, bool raise)
{
	struct np_alert *a = alert_slot(NETPROBE_SCOPE_SOURCE);

	if (!a)
		return NULL;
	a->src = *src;
	a->state_slot = state_index(src->addr, src->family, NETPROBE_SRC_STATE_BITS);
	a->window = window;
	a->detection = detection;
	a->raise = raise;
	a->proof = s->proof;
	return a;
}

/*
 * Notes addr, the address that sent the packet, in a pending source alert
 * about a prefix (for settle_alerts, when the prefix may not be blocked
 * whole). Returns pending.
 */
static __always_inline bool alert_sender(bool pending, const __u8 *addr)
{
	__u32 scope = NETPROBE_SCOPE_SOURCE;
	struct np_alert *a;

	if (!pending)
		return false;
	a = bpf_map_lookup_elem(&np_alerts, &scope);
	if (a && a->src.prefix_len) {
		a->sender.family = a->src.family;
		__builtin_memcpy(a->sender.addr, addr, 16);
	}
	return true;
}

/*
 * Counts one towards src's flood of kind (a NETPROBE_SW_* flood window),
 * about dst; at the threshold, unless asked (ingress only: pi), alerts (and
 * mitigates). Returns whether an alert awaits settle_alerts.
 */
static __always_inline bool count_source(struct netprobe_counters *cnt,
					 const struct netprobe_addr_key *src, const __u8 *dst,
					 __u8 dst_family, const struct packet_info *asked, int kind,
					 __u64 now)
{
	const volatile struct netprobe_detect_param *p = &np_filter.src_flood[kind];
	struct netprobe_src_state *s;
	struct netprobe_window *w;
	struct np_alert *a;
	bool raise = true;

	s = state_slot(cnt, &np_src_state, NETPROBE_SRC_STATE_BITS, src->addr, src->family,
		       src->prefix_len, sizeof(*s));
	if (!s)
		return false;
	w = &s->w[kind];
	if (!window_count(w, p->window_jiffies, p->count, now)) {
		/* Refused a block by a full pool, and twice the flood since: try again. */
		if (!retry_due(w) || !take_alert(w, w->alerted))
			return false;
		raise = false;
	} else if (asked && solicited_restart(w, asked)) {
		return false;
	}
	a = alert_source(src, s, kind, flood_detection(kind), raise);
	if (!a)
		return false;
	__builtin_memcpy(a->dst, dst, 16);
	a->dst_family = dst_family;
	a->threshold = p->threshold;
	a->window_ms = p->window_ms;
	a->rate = window_rate(w, now);
	a->evidence = 16ull * w->count / (p->count ?: 1);
	return true;
}

/*
 * Floods from one source. A SYN counts until its handshake completes
 * (handshake_ack takes it back), so a client or a NAT whose connections
 * succeed is no SYN flood, however fast.
 */
static __always_inline bool detect_source(struct netprobe_counters *cnt,
					  const struct packet_info *pi,
					  const struct netprobe_addr_key *src, int kind, __u64 now)
{
	if (!np_filter.src_flood[kind].enabled || !is_flood_packet(pi, kind))
		return false;
	return alert_sender(count_source(cnt, src, pi->key.dst_addr, pi->key.family, pi, kind, now),
			    pi->key.src_addr);
}

/* Floods towards one destination, summed over its sources. */
static __always_inline bool detect_destination(struct netprobe_counters *cnt,
					       const struct packet_info *pi, int kind, __u64 now)
{
	const volatile struct netprobe_detect_param *p = &np_filter.dst_flood[kind];
	struct netprobe_dst_state *d;
	struct np_alert *a;

	if (!p->enabled || !is_flood_packet(pi, kind))
		return false;
	d = state_slot(cnt, &np_dst_state, NETPROBE_DST_STATE_BITS, pi->key.dst_addr,
		       pi->key.family, 0, sizeof(*d));
	if (!d || !window_count(&d->w[kind], p->window_jiffies, p->count, now) ||
	    solicited_restart(&d->w[kind], pi))
		return false;
	a = alert_slot(NETPROBE_SCOPE_DESTINATION);
	if (!a)
		return false;
	__builtin_memcpy(a->dst, pi->key.dst_addr, 16);
	a->dst_family = pi->key.family;
	a->detection = kind;
	a->raise = true;
	a->threshold = p->threshold;
	a->window_ms = p->window_ms;
	a->rate = window_rate(&d->w[kind], now);
	return true;
}

/*
 * The interface's packet rate over each window, against a moving average of
 * the windows before. The first CPU past a window's end closes it (compare
 * and swap on its start) and sums every CPU's packet counter.
 */
static __always_inline bool detect_rate_anomaly(struct netprobe_counters *cnt, __u64 now)
{
	const volatile struct netprobe_detect_param *p = &np_filter.rate_anomaly;
	__u32 slot = np_slot;
	struct netprobe_rate_state *rs = bpf_map_lookup_elem(&np_rate_state, &slot);
	__u64 start, total = 0, rate;
	struct np_alert *a;

	if (!rs)
		return false;
	start = rs->window_start;
	if (now - start < p->window_jiffies ||
	    __sync_val_compare_and_swap(&rs->window_start, start, now) != start)
		return false;
	for (__u32 cpu = 0; cpu < np_filter.ncpus && cpu < 1024; cpu++) {
		struct netprobe_counters *c = bpf_map_lookup_percpu_elem(&np_counters, &slot, cpu);

		if (c)
			total += c->hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_PACKETS];
	}
	rate = (total - rs->packets_start) * np_filter.hz / (now - start);
	rs->packets_start = total;
	if (start == 0)
		return false; /* the first window starts now */
	if (rs->windows >= np_filter.rate_learn_windows && rate >= np_filter.rate_floor_pps &&
	    rate * 100 >= rs->baseline_pps * p->threshold) {
		/* An anomalous window does not teach the baseline. */
		a = alert_slot(NETPROBE_SCOPE_INTERFACE);
		if (!a)
			return false;
		a->detection = NETPROBE_DETECT_RATE_ANOMALY;
		a->raise = true;
		a->window_ms = p->window_ms;
		a->rate = rate;
		a->threshold = rs->baseline_pps * p->threshold / 100;
		return true;
	}
	rs->baseline_pps = rs->windows ? (rs->baseline_pps * 7 + rate) / 8 : rate;
	rs->windows++;
	return false;
}

/* Runs the detections on an incoming packet; returns whether an alert awaits settle_alerts. */
static __always_inline bool detect(struct netprobe_counters *cnt, const struct packet_info *pi,
				   const struct netprobe_addr_key *src)
{
	__u64 now = bpf_jiffies64();
	bool alerts = false;
	int kind;

	if (np_filter.rate_anomaly.enabled)
		alerts = detect_rate_anomaly(cnt, now);
	switch (pi->key.proto) {
	case IPPROTO_TCP:
		/* A reset ends a connection; thousands a second end none (a RST flood). */
		if (pi->tcp_flags & NP_TCP_RST) {
			kind = NETPROBE_SW_TCP;
			break;
		}
		/* Established traffic (ACK set) is never a flood: skip the state. */
		if (pi->tcp_flags & NP_TCP_ACK)
			return alerts;
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
			return alerts;
		kind = NETPROBE_SW_ICMP;
		break;
	default:
		kind = NETPROBE_SW_OTHER;
	}
	if (source_flood_enabled() && detect_source(cnt, pi, src, kind, now))
		alerts = true;
	if (kind <= NETPROBE_SW_ICMP && flood_enabled(np_filter.dst_flood) &&
	    detect_destination(cnt, pi, kind, now))
		alerts = true;
	return alerts;
}

/* ---- Evidence from both directions (filter mode) --------------------------- */

/*
 * XDP: a client's ACK that completes a handshake this host answered with a
 * SYN-ACK (the first ACK of a flow that had only a SYN). It must
 * acknowledge the SYN-ACK's sequence, which a spoofer never saw; then its
 * SYN no longer counts towards a SYN flood.
 */
static __always_inline void handshake_ack(struct netprobe_counters *cnt,
					  const struct packet_info *pi, struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct netprobe_flow_key key = pi->key;
	struct netprobe_addr_key src;
	struct netprobe_src_state *s;
	struct netprobe_dst_state *d;
	struct netprobe_handshake *h;
	struct tcphdr *tcp;
	__u32 off = pi->l4_off;
	__u64 now = bpf_jiffies64(), h_at;
	bool fresh;

	if (off > 256)
		return;
	tcp = data + off;
	if ((void *)(tcp + 1) > end)
		return;
	key.ifindex = 0;
	key.direction = 0;
	key.slot = 0;
	h = bpf_map_lookup_elem(&np_handshakes, &key);
	if (!h || bpf_ntohl(tcp->ack_seq) != h->ack)
		return;
	h_at = h->at;
	bpf_map_delete_elem(&np_handshakes, &key);
	cnt->filter[NETPROBE_FC_HANDSHAKES]++;
	/*
	 * A SYN is taken back only in the window it was counted in (the
	 * SYN-ACK left in it, a few seconds ago at most): ACKs held back
	 * cannot be saved up to excuse a later flood.
	 */
	fresh = now - h_at < 3ull * np_filter.hz;
	filter_source(pi, &src);
	/* An address of a prefix source proves itself too (see settle_alert). */
	if (src.family == NETPROBE_FAMILY_IPV6 && np_filter.v6_prefix < 128)
		bpf_map_update_elem(&np_proven, &src, &now, BPF_ANY);
	source_scope(&src);
	s = state_slot(cnt, &np_src_state, NETPROBE_SRC_STATE_BITS, src.addr, src.family,
		       src.prefix_len, sizeof(*s));
	if (!s)
		return;
	s->proof = now;
	if (np_filter.src_flood[NETPROBE_SW_SYN].enabled && fresh &&
	    h_at >= s->w[NETPROBE_SW_SYN].start && s->w[NETPROBE_SW_SYN].count)
		s->w[NETPROBE_SW_SYN].count--;
	/* A server busy with clients whose handshakes complete is no SYN flood's target either. */
	if (np_filter.dst_flood[NETPROBE_SW_SYN].enabled && fresh) {
		d = state_slot(cnt, &np_dst_state, NETPROBE_DST_STATE_BITS, pi->key.dst_addr,
			       pi->key.family, 0, sizeof(*d));
		if (d && h_at >= d->w[NETPROBE_SW_SYN].start && d->w[NETPROBE_SW_SYN].count)
			d->w[NETPROBE_SW_SYN].count--;
	}
}

/* The probe of addr (of family) by prober failed at port; port 0: no port (a host). */
static __always_inline bool scan_failure(struct netprobe_counters *cnt,
					 const struct netprobe_addr_key *prober, const __u8 *addr,
					 __u8 family, __u16 port, bool has_port)
{
	const volatile struct netprobe_detect_param *p = &np_filter.port_scan;
	struct netprobe_src_state *s;
	struct netprobe_window *w;
	struct np_alert *a;
	__u64 now = bpf_jiffies64();
	bool retry, hosts;
	__u32 bit;

	s = state_slot(cnt, &np_src_state, NETPROBE_SRC_STATE_BITS, prober->addr, prober->family,
		       prober->prefix_len, sizeof(*s));
	if (!s)
		return false;
	w = &s->w[NETPROBE_SW_SCAN];
	if (window_roll(w, p->window_jiffies, now)) {
		s->hosts_count = 0;
		__builtin_memset(s->ports, 0, sizeof(s->ports));
		__builtin_memset(s->hosts, 0, sizeof(s->hosts));
	}
	/* Keyed: a scanner cannot pick ports (or hosts) that share a few bits of the sets. */
	if (has_port) {
		bit = fmix32(np_filter.hash_seed ^ 0x706f7274u ^ port) >> 23; /* 9 bits */
		if (!(s->ports[(bit >> 6) & 7] & (1ull << (bit & 63)))) {
			s->ports[(bit >> 6) & 7] |= 1ull << (bit & 63);
			w->count++;
		}
	}
	bit = fmix32(addr_hash(addr, family) ^ 0x686f7374u) >> 24; /* 8 bits */
	if (!(s->hosts[(bit >> 6) & 3] & (1ull << (bit & 63)))) {
		s->hosts[(bit >> 6) & 3] |= 1ull << (bit & 63);
		s->hosts_count++;
	}
	/*
	 * The sets count bits, and distinct ports share a bit by chance: the
	 * thresholds are the bits that many ports set, expected (linear
	 * counting), and the rate reported is scaled back to ports. A block
	 * the pool refused is tried again once the ports have doubled.
	 */
	retry = retry_due(w);
	if (!retry &&
	    (w->alerted || (w->count < p->count && s->hosts_count < np_filter.scan_hosts_bits)))
		return false;
	if (!take_alert(w, retry ? w->alerted : 0))
		return false;
	a = alert_source(prober, s, NETPROBE_SW_SCAN, NETPROBE_DETECT_PORT_SCAN, !retry);
	if (!a)
		return false;
	hosts = !retry && w->count < p->count;
	__builtin_memcpy(a->dst, addr, 16);
	a->dst_family = family;
	a->window_ms = p->window_ms;
	a->scan_hosts = hosts;
	a->rate = hosts ? (__u64)s->hosts_count * np_filter.scan_hosts /
				  (np_filter.scan_hosts_bits ?: 1)
			: (__u64)w->count * p->threshold / (p->count ?: 1);
	a->threshold = hosts ? np_filter.scan_hosts : p->threshold;
	a->evidence = hosts ? 16ull * s->hosts_count / (np_filter.scan_hosts_bits ?: 1)
			    : 16ull * w->count / (p->count ?: 1);
	return true;
}

/*
 * XDP: the first datagram of a flow, to a UDP port nothing listens on, is
 * a failed probe. Counted here, not only by the ICMP "port unreachable"
 * this host answers with, which the kernel rate-limits (about one a second
 * for each destination: a UDP scan would mostly go unseen at TC egress).
 * Asked for new flows alone, so a UDP service costs one socket lookup a
 * flow. Out of line (a global function): its stack is off the filter's
 * call chain, and the verifier checks it once.
 */
__noinline int udp_probe(struct xdp_md *ctx, struct netprobe_counters *cnt,
			 const struct packet_info *pi)
{
	struct bpf_sock_tuple t = {};
	struct netprobe_addr_key src = {};
	struct bpf_sock *sk;
	__u32 size, *local;

	if (!ctx || !cnt || !pi)
		return 0;
	if (pi->key.family == NETPROBE_FAMILY_IPV4) {
		__builtin_memcpy(&t.ipv4.saddr, pi->key.src_addr, 4);
		__builtin_memcpy(&t.ipv4.daddr, pi->key.dst_addr, 4);
		t.ipv4.sport = pi->key.src_port;
		t.ipv4.dport = pi->key.dst_port;
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, pi->key.src_addr, 16);
		__builtin_memcpy(t.ipv6.daddr, pi->key.dst_addr, 16);
		t.ipv6.sport = pi->key.src_port;
		t.ipv6.dport = pi->key.dst_port;
		size = sizeof(t.ipv6);
	}
	sk = bpf_sk_lookup_udp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (sk) {
		bpf_sk_release(sk);
		return 0;
	}
	/*
	 * Only datagrams for this host: a router's, or a node's that passes
	 * traffic on to pods, has no socket for what it forwards.
	 */
	src.family = pi->key.family;
	__builtin_memcpy(src.addr, pi->key.dst_addr, 16);
	local = bpf_map_lookup_elem(&np_protected, &src);
	if (!local || !(*local & NETPROBE_PROTECT_LOCAL))
		return 0;
	/* Nor an answer on a 5-tuple this host sent on (late, to a socket it closed). */
	if (flow_stats(pi->key.dst_addr, pi->key.src_addr, pi->key.family, pi->key.dst_port,
		       pi->key.src_port, IPPROTO_UDP, NETPROBE_DIR_EGRESS))
		return 0;
	filter_source(pi, &src);
	/* A source the allow list vouches for is never counted. */
	if (allowed(&src))
		return 0;
	source_scope(&src);
	return alert_sender(scan_failure(cnt, &src, pi->key.dst_addr, pi->key.family,
					 bpf_ntohs(pi->key.dst_port), true),
			    pi->key.src_addr);
}

/*
 * TC egress: what this host answers tells what incoming packets cannot.
 * A SYN-ACK opens a handshake for the client's ACK to complete. A reset,
 * or an ICMP destination unreachable (not "fragmentation needed"), is a
 * probe that failed: a port scan is counted in those, as Zeek and Snort's
 * sfPortscan count failed attempts, so that clients whose connections
 * succeed are never scanners. The prober is whom the answer goes to;
 * never a source the allow list vouches for, nor the peer of a flow this
 * host opened (ours: its own resets end its own connections).
 */
static __always_inline bool egress_evidence(struct netprobe_counters *cnt,
					    const struct packet_info *pi, void *data, void *end,
					    bool ours)
{
	struct netprobe_addr_key prober = {.family = pi->key.family};
	__u8 host[16] = {}, *l4, *ports, quoted_proto;
	__u32 off = pi->l4_off;
	bool has_port;
	__u16 port = 0;

	if (off > 256)
		return false;
	l4 = data + off;
	__builtin_memcpy(prober.addr, pi->key.dst_addr, 16);
	if (pi->key.proto == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)l4;

		if ((void *)(tcp + 1) > end)
			return false;
		if ((pi->tcp_flags & (NP_TCP_SYN | NP_TCP_ACK)) == (NP_TCP_SYN | NP_TCP_ACK)) {
			struct netprobe_handshake h = {.ack = bpf_ntohl(tcp->seq) + 1,
						       .at = bpf_jiffies64()};
			struct netprobe_flow_key key = {
				.src_port = pi->key.dst_port,
				.dst_port = pi->key.src_port,
				.proto = IPPROTO_TCP,
				.family = pi->key.family,
			};

			__builtin_memcpy(key.src_addr, pi->key.dst_addr, 16);
			__builtin_memcpy(key.dst_addr, pi->key.src_addr, 16);
			bpf_map_update_elem(&np_handshakes, &key, &h, BPF_ANY);
		} else if ((pi->tcp_flags & NP_TCP_RST) && !ours && !allowed(&prober)) {
			/*
			 * A reset answering a segment without ACK (it carries
			 * ACK itself) refuses a probe: a failed port. One
			 * answering a segment with ACK (it takes its sequence
			 * from that ACK, and has none) refuses a segment of no
			 * connection: an ACK, SYN-ACK or FIN flood.
			 */
			source_scope(&prober);
			if (pi->tcp_flags & NP_TCP_ACK) {
				if (np_filter.port_scan.enabled)
					return alert_sender(
						scan_failure(cnt, &prober, pi->key.src_addr,
							     pi->key.family,
							     bpf_ntohs(pi->key.src_port), true),
						pi->key.dst_addr);
			} else if (np_filter.src_flood[NETPROBE_SW_TCP].enabled) {
				return alert_sender(count_source(cnt, &prober, pi->key.src_addr,
								 pi->key.family, NULL,
								 NETPROBE_SW_TCP, bpf_jiffies64()),
						    pi->key.dst_addr);
			}
		}
		return false;
	}
	if (!np_filter.port_scan.enabled ||
	    (pi->key.proto != IPPROTO_ICMP && pi->key.proto != IPPROTO_ICMPV6) || allowed(&prober))
		return false;
	/* Destination unreachable: ICMP 3 (but code 4, fragmentation needed), ICMPv6 1. */
	if (pi->key.proto == IPPROTO_ICMP ? (l4 + 8 > (__u8 *)end || l4[0] != 3 || l4[1] == 4)
					  : (l4 + 8 > (__u8 *)end || l4[0] != 1))
		return false;
	/*
	 * The packet it quotes: the probe, whose destination and port failed
	 * (a probe with IP options, or of another protocol, counts for its
	 * host alone).
	 */
	if (pi->key.proto == IPPROTO_ICMP) {
		struct iphdr *q = (void *)(l4 + 8);

		if ((void *)(q + 1) > end || q->version != 4)
			return false;
		__builtin_memcpy(host, &q->daddr, 4);
		ports = (__u8 *)(q + 1);
		quoted_proto = q->protocol;
		has_port =
			q->ihl == 5 && (q->protocol == IPPROTO_TCP || q->protocol == IPPROTO_UDP);
	} else {
		struct ipv6hdr *q = (void *)(l4 + 8);

		if ((void *)(q + 1) > end)
			return false;
		__builtin_memcpy(host, &q->daddr, 16);
		ports = (__u8 *)(q + 1);
		quoted_proto = q->nexthdr;
		has_port = q->nexthdr == IPPROTO_TCP || q->nexthdr == IPPROTO_UDP;
	}
	if (has_port && ports + 4 <= (__u8 *)end) {
		port = (__u16)ports[2] << 8 | ports[3];
		/* Refusing an answer on a flow this host sent on (its socket gone) is no probe. */
		if (flow_stats(host, pi->key.dst_addr, pi->key.family, *(__be16 *)(ports + 2),
			       *(__be16 *)ports, quoted_proto, NETPROBE_DIR_EGRESS))
			return false;
	} else {
		has_port = false;
	}
	source_scope(&prober);
	return alert_sender(scan_failure(cnt, &prober, host, pi->key.family, port, has_port),
			    pi->key.dst_addr);
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
/* Or'ed into filter_packet's verdict: alerts await settle_alerts. */
#define NP_ALERTS_PENDING 0x100

__noinline int filter_packet(struct netprobe_counters *cnt, const struct packet_info *pi,
			     int malformed, int lists_only)
{
	if (!cnt || !pi)
		return XDP_PASS;

	struct netprobe_addr_key src;
	__u32 word;

	/* No IP header: no source to look up or count. */
	if (pi->l3 == NP_L3_NONE) {
		if (!malformed)
			return XDP_PASS;
		cnt->filter[NETPROBE_FC_MALFORMED_DROPS]++;
		return XDP_DROP;
	}
	filter_source(pi, &src);
	word = acl_match(cnt, pi, &src);
	source_scope(&src);

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
	/* A configured tunnel's packets are the load balancer's forwarding: what it carries is detected. */
	if (!lists_only && detect(cnt, pi, &src))
		return XDP_PASS | NP_ALERTS_PENDING;
	return XDP_PASS;
}

#endif /* NETPROBE_FILTER_H */
