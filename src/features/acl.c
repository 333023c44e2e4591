// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The allow and deny lists: rules in a pinned table, and the lookup
 * structures XDP reads (layout in abi.h), kept here. Every change rewrites
 * the words of the address regions it touches, so that each names the rule
 * that decides there: allow beats deny, a longer prefix beats a shorter
 * one. The tables are memory-mapped, and words are replaced with
 * compare-and-swap, because XDP sets bits in them too (mitigation blocks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "features/features.h"
#include "netprobe.skel.h"

_Static_assert(sizeof(struct netprobe_acl_rule) == 64, "rule layout");
_Static_assert(sizeof(struct netprobe_acl_meta) == 64, "meta layout");
_Static_assert(sizeof(struct netprobe_acl_tbl24) == 64, "tbl24 element");

#define ID_TOMBSTONE 0xffffffffu

struct np_acl {
	struct netprobe_acl_meta *meta;
	__u32 *tbl24;			/* 2^24 words */
	struct netprobe_acl_tbl8 *tbl8; /* meta->tbl8_groups groups */
	struct netprobe_acl_rule *rules;
	size_t tbl24_len, tbl8_len, rules_len;
	__u32 max_rules, block_first, groups;
	int v4_exact_fd, v6_exact_fd, trie_fd, v4_agg_fd;
	/* An index of the rules by (family, length, address), built from the table. */
	__u32 *slots;
	__u32 nslots, filled_slots; /* filled: live ids and tombstones */
	__u32 id_hint;		    /* where the search for a free rule id starts */
	__u64 generation;	    /* of the table the index was built from */
	__u64 next_expiry;	    /* CLOCK_MONOTONIC ns of the first rule to expire; 0 = none */
	__u32 ttl_prefixes; /* prefix entries (not /32, /128) with a TTL: they have fallbacks */
	/* Free tbl8 groups, oldest first: a freed group is reused late, after readers left it. */
	__u32 *free_groups;
	__u32 free_head, free_count;
	bool groups_known;
	/* While a batch applies: the table-wide recomputes it does once, at its end. */
	struct np_deferred *defer;
	unsigned int refresh_failed; /* entries of the change whose words the kernel refused */
	/* List calls are thread-safe: housekeeping may sweep on another thread. */
	pthread_mutex_t lock;
};

/*
 * What adding entries leaves to do over the whole table, done once for a
 * batch instead of once an entry: the /24s that got /25-/31 entries (their
 * groups recomputed), the allow prefixes added (the exact and trie words
 * under them), and whether fallbacks of prefixes with a TTL may change.
 */
struct np_deferred {
	struct np_slot_set {
		__u32 *v;
		size_t n, cap;
	} slots,	    /* /24s whose group is recomputed */
		exact_gone, /* /24s that lost a /32 entry: is their EXACT flag still needed? */
		replaced;   /* blocks the batch's entries replace: claimed, retired at its end */
	__u8 *new_allow;    /* a bit per rule id */
	bool below;	    /* entries under the new allow prefixes */
	bool below_all;	    /* every exact and trie entry: an allow prefix went */
	bool repaint;	    /* IPv4 deny prefixes take back what a removed allow prefix held */
	bool fallbacks;
};

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static __u64 real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* A rule that is in the table and has not expired. */
static bool rule_live(const struct netprobe_acl_rule *r, __u64 now)
{
	return r->in_use == NETPROBE_RULE_LIVE && (!r->expires_ns || r->expires_ns > now);
}

static int addr_len(int family)
{
	return family == NETPROBE_FAMILY_IPV4 ? 4 : 16;
}

/* Whether rule id is a mitigation block, which XDP may rewrite whenever it is not busy. */
static bool is_block(const struct np_acl *a, __u32 id)
{
	return id >= a->block_first;
}

/*
 * Whether rule id keeps a fallback (what decides its regions once it has
 * expired): a hand-made prefix entry with a TTL. An expired block gives
 * way to whatever the lookup finds next.
 */
static bool has_fallback(const struct np_acl *a, __u32 id)
{
	const struct netprobe_acl_rule *r = &a->rules[id];

	return !is_block(a, id) && r->expires_ns && r->prefix_len < addr_len(r->family) * 8;
}

/* Zeroes the bits of addr past len. */
static void mask_addr(__u8 *addr, int family, int len)
{
	for (int i = 0; i < addr_len(family); i++) {
		int keep = len - i * 8;

		if (keep <= 0)
			addr[i] = 0;
		else if (keep < 8)
			addr[i] &= (__u8)(0xff << (8 - keep));
	}
}

/* ---- The index --------------------------------------------------------- */

static __u32 key_hash(int family, int len, const __u8 *addr)
{
	__u32 h = 2166136261u ^ (__u32)(family * 131 + len);

	for (int i = 0; i < addr_len(family); i++)
		h = (h ^ addr[i]) * 16777619u;
	return h;
}

static bool rule_is(const struct netprobe_acl_rule *r, int family, int len, const __u8 *addr)
{
	return r->family == family && r->prefix_len == len &&
	       memcmp(r->addr, addr, addr_len(family)) == 0;
}

/* The rule for this exact prefix (addr already masked), 0 if none. */
static __u32 index_find(const struct np_acl *a, int family, int len, const __u8 *addr)
{
	__u32 mask = a->nslots - 1, i = key_hash(family, len, addr) & mask;

	for (;; i = (i + 1) & mask) {
		__u32 id = a->slots[i];

		if (id == 0)
			return 0;
		if (id != ID_TOMBSTONE && rule_is(&a->rules[id], family, len, addr))
			return id;
	}
}

static void index_insert(struct np_acl *a, __u32 id)
{
	const struct netprobe_acl_rule *r = &a->rules[id];
	__u32 mask = a->nslots - 1, i = key_hash(r->family, r->prefix_len, r->addr) & mask;

	while (a->slots[i] != 0 && a->slots[i] != ID_TOMBSTONE)
		i = (i + 1) & mask;
	if (a->slots[i] == 0)
		a->filled_slots++;
	a->slots[i] = id;
}

static void index_remove(struct np_acl *a, __u32 id)
{
	const struct netprobe_acl_rule *r = &a->rules[id];
	__u32 mask = a->nslots - 1, i = key_hash(r->family, r->prefix_len, r->addr) & mask;

	for (; a->slots[i] != 0; i = (i + 1) & mask) {
		if (a->slots[i] == id) {
			a->slots[i] = ID_TOMBSTONE;
			return;
		}
	}
}

/* Rebuilds the index from the table: at open, and after another process (or XDP) changed it. */
static void index_rebuild(struct np_acl *a)
{
	memset(a->slots, 0, a->nslots * sizeof(*a->slots));
	a->filled_slots = 0;
	a->ttl_prefixes = 0;
	a->next_expiry = 0;
	a->generation = __atomic_load_n(&a->meta->generation, __ATOMIC_ACQUIRE);
	for (__u32 id = 1; id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];

		if (__atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE) != NETPROBE_RULE_LIVE)
			continue;
		index_insert(a, id);
		if (r->expires_ns && (!a->next_expiry || r->expires_ns < a->next_expiry))
			a->next_expiry = r->expires_ns;
		if (has_fallback(a, id))
			a->ttl_prefixes++;
	}
}

/* ---- Words ------------------------------------------------------------- */

static __u32 word_of(const struct np_acl *a, __u32 id)
{
	const struct netprobe_acl_rule *r = &a->rules[id];
	__u32 w = id;

	if (!id)
		return 0;
	if (r->action == NETPROBE_ACL_ALLOW)
		w |= NETPROBE_ACL_W_ALLOW;
	if (r->expires_ns)
		w |= NETPROBE_ACL_W_TTL;
	if (r->origin != NETPROBE_ORIGIN_MANUAL)
		w |= NETPROBE_ACL_W_BLOCK;
	return w;
}

/*
 * The rule deciding addr among prefixes of at most max_len bits: the
 * longest allow, else the longest deny; entries expiring at or before
 * outlived_by (when not 0) do not count.
 */
static __u32 best_rule_between(const struct np_acl *a, int family, const __u8 *addr, int max_len,
			       int min_len, __u64 outlived_by)
{
	__u8 masked[16];
	__u32 deny = 0;

	for (int len = max_len; len >= min_len; len--) {
		memcpy(masked, addr, 16);
		mask_addr(masked, family, len);
		__u32 id = index_find(a, family, len, masked);
		const struct netprobe_acl_rule *r = &a->rules[id];

		/*
		 * A block decides its own entry alone: it never stands in for an
		 * expired entry, nor is a prefix block painted into the regions
		 * (XDP may reuse its id any time).
		 */
		if (!id ||
		    (is_block(a, id) && (outlived_by || r->prefix_len < addr_len(family) * 8)) ||
		    (outlived_by && r->expires_ns && r->expires_ns <= outlived_by))
			continue;
		if (r->action == NETPROBE_ACL_ALLOW)
			return id;
		if (!deny)
			deny = id;
	}
	return deny;
}

static __u32 best_rule_outliving(const struct np_acl *a, int family, const __u8 *addr, int max_len,
				 __u64 outlived_by)
{
	return best_rule_between(a, family, addr, max_len, 0, outlived_by);
}

static __u32 best_rule(const struct np_acl *a, int family, const __u8 *addr, int max_len)
{
	return best_rule_outliving(a, family, addr, max_len, 0);
}

static __u32 best_word(const struct np_acl *a, int family, const __u8 *addr, int max_len)
{
	return word_of(a, best_rule(a, family, addr, max_len));
}

static void v4_bytes(__u32 host, __u8 *out)
{
	__u32 be = htonl(host);

	memset(out, 0, 16);
	memcpy(out, &be, 4);
}

/* The flags of a tbl24 word that XDP sets: where its blocks of that /24 are. */
#define TBL24_XDP_FLAGS (NETPROBE_ACL_W_EXACT | NETPROBE_ACL_W_AGGREGATE)

/* Replaces the id and rule bits of a tbl24 word, keeping the flags XDP may set meanwhile. */
static void tbl24_set(struct np_acl *a, __u32 slot, __u32 keep_mask, __u32 bits)
{
	__u32 old = __atomic_load_n(&a->tbl24[slot], __ATOMIC_RELAXED), new;

	do
		new = (old & keep_mask) | bits;
	while (!__atomic_compare_exchange_n(&a->tbl24[slot], &old, new, false, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
}

/* ---- IPv4 tbl8 groups -------------------------------------------------- */

static void find_free_groups(struct np_acl *a)
{
	bool *used = calloc(a->groups, 1);

	a->free_head = a->free_count = 0;
	for (__u32 s = 0; used && s < (1u << 24); s++) {
		__u32 w = a->tbl24[s];

		if ((w & NETPROBE_ACL_W_GROUP) && (w & NETPROBE_ACL_W_ID) < a->groups)
			used[w & NETPROBE_ACL_W_ID] = true;
	}
	for (__u32 g = 0; used && g < a->groups; g++)
		if (!used[g])
			a->free_groups[a->free_count++] = g;
	free(used);
	a->groups_known = true;
}

static int group_alloc(struct np_acl *a, __u32 *group)
{
	if (!a->groups_known)
		find_free_groups(a);
	if (!a->free_count)
		return -ENOSPC;
	*group = a->free_groups[a->free_head];
	a->free_head = (a->free_head + 1) % a->groups;
	a->free_count--;
	return 0;
}

static void group_free(struct np_acl *a, __u32 group)
{
	if (!a->groups_known)
		return; /* found again by the scan when next needed */
	a->free_groups[(a->free_head + a->free_count) % a->groups] = group;
	a->free_count++;
}

/* Whether a rule of 25-31 bits lies in the /24 at slot. */
static bool has_long_prefixes(const struct np_acl *a, __u32 slot)
{
	__u8 addr[16];

	for (int len = 25; len <= 31; len++) {
		for (__u32 sub = 0; sub < (1u << (len - 24)); sub++) {
			v4_bytes(slot << 8 | sub << (32 - len), addr);
			if (index_find(a, NETPROBE_FAMILY_IPV4, len, addr))
				return true;
		}
	}
	return false;
}

/* The word of a /24 without a group: the best rule of /24 or shorter. */
static __u32 v4_slot_word(const struct np_acl *a, __u32 slot)
{
	__u8 addr[16];

	v4_bytes(slot << 8, addr);
	return best_word(a, NETPROBE_FAMILY_IPV4, addr, 24);
}

/*
 * Recomputes the words of one /24: its tbl24 word, or each word of its
 * group; a group no /25-/31 entry needs any more goes back (reused last).
 */
static void v4_refresh_slot(struct np_acl *a, __u32 slot)
{
	__u32 w = a->tbl24[slot], above;
	struct netprobe_acl_tbl8 *g;
	__u8 addr[16];

	if (!(w & NETPROBE_ACL_W_GROUP) || !has_long_prefixes(a, slot)) {
		tbl24_set(a, slot, TBL24_XDP_FLAGS, v4_slot_word(a, slot));
		if (w & NETPROBE_ACL_W_GROUP)
			group_free(a, w & NETPROBE_ACL_W_ID);
		return;
	}
	/*
	 * The /24 and what covers it decide alike for its 256 words: found
	 * once. Per word only /25-/31 are looked at: an allow among them wins,
	 * then an allow above, then the longest deny.
	 */
	v4_bytes(slot << 8, addr);
	above = best_rule(a, NETPROBE_FAMILY_IPV4, addr, 24);
	g = &a->tbl8[w & NETPROBE_ACL_W_ID];
	for (__u32 i = 0; i < NETPROBE_ACL_TBL8_WORDS; i++) {
		__u32 own, best;

		v4_bytes(slot << 8 | i, addr);
		own = best_rule_between(a, NETPROBE_FAMILY_IPV4, addr, 31, 25, 0);
		if (own && a->rules[own].action == NETPROBE_ACL_ALLOW)
			best = own;
		else if (above && a->rules[above].action == NETPROBE_ACL_ALLOW)
			best = above;
		else
			best = own ? own : above;
		__atomic_store_n(&g->w[i], word_of(a, best), __ATOMIC_RELEASE);
	}
}

/* Gives the /24 at slot a group, filled with its current word, before longer prefixes go in. */
static int v4_split_slot(struct np_acl *a, __u32 slot)
{
	__u32 w = a->tbl24[slot], group;
	int err;

	if (w & NETPROBE_ACL_W_GROUP)
		return 0;
	err = group_alloc(a, &group);
	if (err)
		return err;
	for (__u32 i = 0; i < NETPROBE_ACL_TBL8_WORDS; i++)
		a->tbl8[group].w[i] = w & ~TBL24_XDP_FLAGS;
	tbl24_set(a, slot, TBL24_XDP_FLAGS, NETPROBE_ACL_W_GROUP | group);
	return 0;
}

static bool covers(const struct netprobe_acl_rule *p, const struct netprobe_acl_rule *r)
{
	__u8 masked[16];

	if (p->family != r->family || r->prefix_len < p->prefix_len)
		return false;
	memcpy(masked, r->addr, 16);
	mask_addr(masked, p->family, p->prefix_len);
	return memcmp(masked, p->addr, 16) == 0;
}

static struct netprobe_acl_value entry_value(const struct np_acl *a,
					     const struct netprobe_acl_rule *r)
{
	return (struct netprobe_acl_value){
		.word = best_word(a, r->family, r->addr, r->prefix_len),
		.own = word_of(a, r - a->rules),
	};
}

static int exact_fd(const struct np_acl *a, int family)
{
	return family == NETPROBE_FAMILY_IPV4 ? a->v4_exact_fd : a->v6_exact_fd;
}

/* flags: BPF_ANY when the entry is new, BPF_EXIST to recompute one (XDP may retire it). */
static int publish_exact(struct np_acl *a, const struct netprobe_acl_rule *r, __u64 flags)
{
	struct netprobe_acl_value v = entry_value(a, r);

	return bpf_map_update_elem(exact_fd(a, r->family), r->addr, &v, flags) ? -errno : 0;
}

static int publish_trie(struct np_acl *a, const struct netprobe_acl_rule *r)
{
	struct netprobe_acl_v6_prefix key = {.prefix_len = r->prefix_len};
	struct netprobe_acl_value v = entry_value(a, r);

	memcpy(key.addr, r->addr, 16);
	return bpf_map_update_elem(a->trie_fd, &key, &v, BPF_ANY) ? -errno : 0;
}

/*
 * Writes an exact or trie entry and counts it in count (the meta's; NULL:
 * not counted). Every entry written counts once, a block's entry taken
 * over too (retire_rule takes the block's count back): a lookup cannot
 * tell whether the key is there (a trie answers for a covering prefix,
 * and XDP may drop a block's entry in between). Counted before it is
 * written, so that a process killed in between over-counts, which costs
 * XDP a lookup; an under-count would let it skip a table that holds
 * entries.
 */
static int publish_counted(int fd, const void *key, const struct netprobe_acl_value *v,
			   __u32 *count)
{
	int err;

	if (count)
		__atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST);
	if (!bpf_map_update_elem(fd, key, v, BPF_ANY))
		return 0;
	err = -errno;
	if (count)
		__atomic_fetch_sub(count, 1, __ATOMIC_SEQ_CST);
	return err;
}

/*
 * publish_counted, but an entry rule id has published already (a recovery
 * applying an entry again) is rewritten in place, not counted again: a
 * change left open would otherwise count its entries once a recovery,
 * every second, until the count wrapped.
 */
static int publish_own(int fd, const void *key, const struct netprobe_acl_value *v, __u32 id,
		       __u32 *count)
{
	struct netprobe_acl_value old;

	if (!bpf_map_lookup_elem(fd, key, &old) && (old.own & NETPROBE_ACL_W_ID) == id) {
		if (!bpf_map_update_elem(fd, key, v, BPF_EXIST))
			return 0;
		if (errno != ENOENT)
			return -errno;
	}
	return publish_counted(fd, key, v, count);
}

/* Deletes rule id's exact entry, unless a newer block of XDP's owns the address now. */
static bool unpublish_exact(struct np_acl *a, const struct netprobe_acl_rule *r, __u32 id)
{
	int fd = exact_fd(a, r->family);
	struct netprobe_acl_value v;

	if (bpf_map_lookup_elem(fd, r->addr, &v) || (v.own & NETPROBE_ACL_W_ID) != id)
		return false;
	return bpf_map_delete_elem(fd, r->addr) == 0;
}

/*
 * Deletes block id's IPv4 /24 aggregate, if it still owns it, and clears
 * the /24's AGGREGATE flag unless XDP has made another there meanwhile
 * (it writes the entry before the flag).
 */
static void unpublish_aggregate(struct np_acl *a, const struct netprobe_acl_rule *r, __u32 id)
{
	__u32 net = *(const __u32 *)r->addr, slot = ntohl(net) >> 8;
	struct netprobe_acl_value v;

	if (bpf_map_lookup_elem(a->v4_agg_fd, &net, &v) || (v.own & NETPROBE_ACL_W_ID) != id ||
	    bpf_map_delete_elem(a->v4_agg_fd, &net))
		return;
	__atomic_fetch_sub(&a->meta->v4_aggregates, 1, __ATOMIC_RELEASE);
	__atomic_fetch_and(&a->tbl24[slot], ~NETPROBE_ACL_W_AGGREGATE, __ATOMIC_SEQ_CST);
	if (bpf_map_lookup_elem(a->v4_agg_fd, &net, &v) == 0)
		__atomic_fetch_or(&a->tbl24[slot], NETPROBE_ACL_W_AGGREGATE, __ATOMIC_SEQ_CST);
}

/*
 * Deletes rule id's trie entry, unless another rule owns the prefix now (a
 * block XDP made there after an expired entry of the same prefix). The
 * trie answers a lookup with the longest entry covering the key: the key's
 * own entry exactly when its owner is id.
 */
static bool unpublish_trie(struct np_acl *a, const struct netprobe_acl_rule *r, __u32 id)
{
	struct netprobe_acl_v6_prefix key = {.prefix_len = r->prefix_len};
	struct netprobe_acl_value v;

	memcpy(key.addr, r->addr, 16);
	if (bpf_map_lookup_elem(a->trie_fd, &key, &v) || (v.own & NETPROBE_ACL_W_ID) != id)
		return false;
	return bpf_map_delete_elem(a->trie_fd, &key) == 0;
}

/*
 * An allow entry decides the longer entries below it: recompute their exact
 * and trie words (IPv4 regions are recomputed by range already). A block is
 * claimed (live -> busy) while its entry is rewritten, so that XDP cannot
 * reuse its id in between, and only an entry it still owns is rewritten.
 */
static void refresh_entry(struct np_acl *a, __u32 id)
{
	struct netprobe_acl_rule *r = &a->rules[id];
	struct netprobe_acl_v6_prefix key = {.prefix_len = r->prefix_len};
	struct netprobe_acl_value v;
	__u32 live = NETPROBE_RULE_LIVE;
	int err = 0;

	if (is_block(a, id) &&
	    !__atomic_compare_exchange_n(&r->in_use, &live, NETPROBE_RULE_CLAIMED, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	if (r->prefix_len == addr_len(r->family) * 8) {
		err = publish_exact(a, r, BPF_EXIST);
	} else if (r->family == NETPROBE_FAMILY_IPV6) {
		memcpy(key.addr, r->addr, 16);
		if (!bpf_map_lookup_elem(a->trie_fd, &key, &v) && (v.own & NETPROBE_ACL_W_ID) == id)
			err = publish_trie(a, r);
	}
	if (is_block(a, id))
		__atomic_store_n(&r->in_use, NETPROBE_RULE_LIVE, __ATOMIC_RELEASE);
	/* Gone (XDP retired a block's entry) is no failure; a word left as it was is. */
	a->refresh_failed += err && err != -ENOENT;
}

static void refresh_below(struct np_acl *a, const struct netprobe_acl_rule *p)
{
	for (__u32 id = 1; id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];

		if (r->in_use == NETPROBE_RULE_LIVE && r != p && covers(p, r))
			refresh_entry(a, id);
	}
}

static void v4_paint_range(struct np_acl *a, const struct netprobe_acl_rule *r, bool added);

/* Whether rule r decides a region over the rule of word (both cover it): allow, then longer. */
static bool beats(const struct np_acl *a, const struct netprobe_acl_rule *r, __u32 word)
{
	const struct netprobe_acl_rule *o = &a->rules[word & NETPROBE_ACL_W_ID];

	if (!(word & NETPROBE_ACL_W_ID))
		return true;
	if (o->action != r->action)
		return r->action == NETPROBE_ACL_ALLOW;
	return r->prefix_len > o->prefix_len;
}

/* A /25-/31 entry takes the words of its /24's group that it beats. */
static void v4_paint_group(struct np_acl *a, const struct netprobe_acl_rule *r)
{
	__u32 host = ntohl(*(const __u32 *)r->addr), w = a->tbl24[host >> 8];
	__u32 word = word_of(a, r - a->rules), lo = host & 0xff;
	struct netprobe_acl_tbl8 *g;

	if (!(w & NETPROBE_ACL_W_GROUP))
		return; /* cannot be: a /24 with such an entry has a group */
	g = &a->tbl8[w & NETPROBE_ACL_W_ID];
	for (__u32 i = lo; i < lo + (1u << (32 - r->prefix_len)); i++)
		if (beats(a, r, g->w[i]))
			__atomic_store_n(&g->w[i], word, __ATOMIC_RELEASE);
}

/*
 * The word of what decides rule r's regions once r is gone: the best rule
 * covering r's whole prefix. Exact for a deny entry (no entry inside its
 * prefix loses to it); for an allow entry, deny entries inside it win back
 * their own regions only at the next recompute (the sweep).
 */
static __u32 fallback_word(const struct np_acl *a, const struct netprobe_acl_rule *r)
{
	/* Skipping covering entries that expire first: one step is enough when r has. */
	return r->prefix_len ? word_of(a, best_rule_outliving(a, r->family, r->addr,
							      r->prefix_len - 1, r->expires_ns))
			     : 0;
}

/* Prefix entries with a TTL below p fall back to what covers them, which p changes. */
static void refresh_fallbacks(struct np_acl *a, const struct netprobe_acl_rule *p)
{
	if (p->prefix_len == addr_len(p->family) * 8)
		return; /* an exact entry covers no prefix */
	for (__u32 id = 1; a->ttl_prefixes && id < a->max_rules; id++) {
		struct netprobe_acl_rule *r = &a->rules[id];

		if (r->in_use == NETPROBE_RULE_LIVE && has_fallback(a, id) && r != p &&
		    r->prefix_len > p->prefix_len && covers(p, r))
			__atomic_store_n(&r->fallback, fallback_word(a, r), __ATOMIC_RELEASE);
	}
}

/*
 * IPv4 /0-/24 in place, one word at a time: an added rule takes the words it
 * beats; a removed rule hands its words to its fallback (the best entry
 * covering it). What a removed allow entry beat comes back with
 * v4_repaint_inside.
 */
static void v4_paint_range(struct np_acl *a, const struct netprobe_acl_rule *r, bool added)
{
	__u32 id = r - a->rules, word = word_of(a, id);
	__u32 first = ntohl(*(const __u32 *)r->addr) >> 8, count = 1u << (24 - r->prefix_len);
	/* What covers r now, expiring or not: r is going, not expiring. */
	__u32 fallback =
		added || !r->prefix_len ? 0 : best_word(a, r->family, r->addr, r->prefix_len - 1);

	for (__u32 s = first; s < first + count; s++) {
		__u32 w = a->tbl24[s];

		if ((s - first) % 4096 == 64)
			np_fault_point(); /* a prefix of /17 or shorter dies half painted */

		if (w & NETPROBE_ACL_W_GROUP) {
			struct netprobe_acl_tbl8 *g = &a->tbl8[w & NETPROBE_ACL_W_ID];

			for (__u32 i = 0; i < NETPROBE_ACL_TBL8_WORDS; i++) {
				__u32 e = g->w[i];

				if (added ? beats(a, r, e) : (e & NETPROBE_ACL_W_ID) == id)
					__atomic_store_n(&g->w[i], added ? word : fallback,
							 __ATOMIC_RELEASE);
			}
		} else if (added ? beats(a, r, w) : (w & NETPROBE_ACL_W_ID) == id) {
			tbl24_set(a, s, TBL24_XDP_FLAGS, added ? word : fallback);
		}
	}
}

/*
 * A removed allow prefix (r; NULL: any) may have beaten deny entries inside
 * it: those are painted again over their ranges, each taking back the
 * words it beats, which leaves every word the best of what remains.
 */
static void v4_repaint_inside(struct np_acl *a, const struct netprobe_acl_rule *r)
{
	for (__u32 d = 1; d < a->max_rules; d++) {
		const struct netprobe_acl_rule *in = &a->rules[d];

		/* A block's own entry decides it: a /24 aggregate is never painted. */
		if (in->in_use != NETPROBE_RULE_LIVE || in == r || is_block(a, d) ||
		    in->family != NETPROBE_FAMILY_IPV4 || in->action != NETPROBE_ACL_DENY ||
		    in->prefix_len >= 32 ||
		    (r && (in->prefix_len <= r->prefix_len || !covers(r, in))))
			continue;
		if (in->prefix_len <= 24)
			v4_paint_range(a, in, true);
		else
			v4_paint_group(a, in);
	}
}

/* Notes slot for the batch's end; false when memory ran out. */
static bool defer_slot(struct np_slot_set *set, __u32 slot)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 1024;
		__u32 *v = realloc(set->v, cap * sizeof(*v));

		if (!v)
			return false;
		set->v = v;
		set->cap = cap;
	}
	set->v[set->n++] = slot;
	return true;
}

/*
 * Makes the datapath see the rules as the index now has them, for the
 * regions of rule r; in a batch (a->defer), the table-wide parts wait for
 * its end (flush_deferred).
 */
static int refresh_regions(struct np_acl *a, const struct netprobe_acl_rule *r, bool added)
{
	int full = addr_len(r->family) * 8, err = 0;
	bool allow = r->action == NETPROBE_ACL_ALLOW;
	struct np_deferred *d = a->defer;

	if (r->family == NETPROBE_FAMILY_IPV4 && r->prefix_len < full) {
		__u32 slot = ntohl(*(const __u32 *)r->addr) >> 8;

		if (r->prefix_len <= 24) {
			v4_paint_range(a, r, added);
			if (!added && allow && d)
				d->repaint = true;
			else if (!added && allow)
				v4_repaint_inside(a, r);
		} else {
			if (added)
				err = v4_split_slot(a, slot);
			/* In a batch, once at its end (if memory runs out, at once). */
			if (!err && !(d && defer_slot(&d->slots, slot)))
				v4_refresh_slot(a, slot);
		}
	}
	if (allow && r->prefix_len < full) {
		if (!d) {
			refresh_below(a, r);
		} else if (added && d->new_allow) {
			d->below = true;
			d->new_allow[(r - a->rules) / 8] |= 1u << ((r - a->rules) % 8);
		} else {
			d->below_all = true;
		}
	}
	if (d)
		d->fallbacks |= r->prefix_len < full && a->ttl_prefixes;
	else
		refresh_fallbacks(a, r);
	return err;
}

static int cmp_u32(const void *x, const void *y)
{
	__u32 a = *(const __u32 *)x, b = *(const __u32 *)y;

	return a < b ? -1 : a > b;
}

/* Whether an allow prefix added by the batch covers rule r. */
static bool under_new_allow(const struct np_acl *a, const struct np_deferred *d,
			    const struct netprobe_acl_rule *r)
{
	__u8 masked[16];

	for (int len = r->prefix_len - 1; len >= 0; len--) {
		__u32 id;

		memcpy(masked, r->addr, 16);
		mask_addr(masked, r->family, len);
		id = index_find(a, r->family, len, masked);
		if (id && d->new_allow[id / 8] & (1u << (id % 8)))
			return true;
	}
	return false;
}

static bool slot_in(const struct np_slot_set *set, __u32 slot)
{
	return set->n && bsearch(&slot, set->v, set->n, sizeof(*set->v), cmp_u32) != NULL;
}

/*
 * v4_exact_flag_release for the /24s a batch took /32 entries from, at
 * once: the /24s that still hold one are found in one walk of the rules.
 * As there, a block XDP makes meanwhile writes its rule before its entry
 * and flag: the blocks are looked at again after the clears.
 */
static void release_exact_flags(struct np_acl *a, struct np_slot_set *gone)
{
	struct np_slot_set held = {};

	if (!gone->n)
		return;
	qsort(gone->v, gone->n, sizeof(*gone->v), cmp_u32);
	for (__u32 id = 1; id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];
		__u32 slot = ntohl(*(const __u32 *)r->addr) >> 8;

		if (__atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE) &&
		    r->family == NETPROBE_FAMILY_IPV4 && r->prefix_len == 32 &&
		    slot_in(gone, slot) && !defer_slot(&held, slot)) {
			free(held.v);
			return; /* out of memory: the flags stay, which costs a lookup, not a miss */
		}
	}
	if (held.n)
		qsort(held.v, held.n, sizeof(*held.v), cmp_u32);
	for (size_t i = 0; i < gone->n; i++)
		if ((!i || gone->v[i] != gone->v[i - 1]) && !slot_in(&held, gone->v[i]))
			__atomic_fetch_and(&a->tbl24[gone->v[i]], ~NETPROBE_ACL_W_EXACT,
					   __ATOMIC_SEQ_CST);
	for (__u32 id = a->block_first; id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];
		__u32 slot = ntohl(*(const __u32 *)r->addr) >> 8;

		if (__atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE) &&
		    r->family == NETPROBE_FAMILY_IPV4 && r->prefix_len == 32 && slot_in(gone, slot))
			__atomic_fetch_or(&a->tbl24[slot], NETPROBE_ACL_W_EXACT, __ATOMIC_SEQ_CST);
	}
	free(held.v);
}

/* The batch's table-wide recomputes, each once. */
static void flush_deferred(struct np_acl *a, struct np_deferred *d)
{
	if (d->slots.n)
		qsort(d->slots.v, d->slots.n, sizeof(*d->slots.v), cmp_u32);
	for (size_t i = 0; i < d->slots.n; i++)
		if (!i || d->slots.v[i] != d->slots.v[i - 1])
			v4_refresh_slot(a, d->slots.v[i]);
	release_exact_flags(a, &d->exact_gone);
	if (d->repaint)
		v4_repaint_inside(a, NULL);
	for (__u32 id = 1; id < a->max_rules && (d->below || d->below_all || d->fallbacks); id++) {
		struct netprobe_acl_rule *r = &a->rules[id];

		if (r->in_use != NETPROBE_RULE_LIVE)
			continue;
		if (d->fallbacks && has_fallback(a, id))
			__atomic_store_n(&r->fallback, fallback_word(a, r), __ATOMIC_RELEASE);
		if ((r->prefix_len == addr_len(r->family) * 8 ||
		     r->family == NETPROBE_FAMILY_IPV6) &&
		    (d->below_all || (d->below && under_new_allow(a, d, r))))
			refresh_entry(a, id);
	}
}

static void deferred_free(struct np_deferred *d)
{
	free(d->slots.v);
	free(d->exact_gone.v);
	free(d->replaced.v);
	free(d->new_allow);
}

/* ---- Open, sync, close ------------------------------------------------- */

void np_acl_close(struct netprobe_manager *m)
{
	struct np_acl *a = m->acl;

	if (!a)
		return;
	if (a->tbl24)
		munmap(a->tbl24, a->tbl24_len);
	if (a->tbl8)
		munmap(a->tbl8, a->tbl8_len);
	if (a->rules)
		munmap(a->rules, a->rules_len);
	free(a->slots);
	free(a->free_groups);
	pthread_mutex_destroy(&a->lock);
	free(a);
	m->acl = NULL;
}

/* Maps the list tables into memory; the first netprobe to create them writes their sizes. */
int np_acl_open(struct netprobe_manager *m)
{
	struct np_acl *a;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	m->acl = a;
	pthread_mutex_init(&a->lock, NULL);
	a->v4_exact_fd = bpf_map__fd(m->maps->maps.np_acl_v4_exact);
	a->v6_exact_fd = bpf_map__fd(m->maps->maps.np_acl_v6_exact);
	a->trie_fd = bpf_map__fd(m->maps->maps.np_acl_v6_trie);
	a->v4_agg_fd = bpf_map__fd(m->maps->maps.np_acl_v4_agg);
	a->meta = m->meta; /* the state's: mapped by np_state_open */
	a->tbl24 = np_map_mmap(m->maps->maps.np_acl_v4_tbl24, &a->tbl24_len);
	a->tbl8 = np_map_mmap(m->maps->maps.np_acl_v4_tbl8, &a->tbl8_len);
	a->rules = np_map_mmap(m->maps->maps.np_acl_rules, &a->rules_len);
	if (!a->meta || !a->tbl24 || !a->tbl8 || !a->rules) {
		int err = -errno;

		np_err("cannot map the list tables into memory: %s", strerror(errno));
		np_acl_close(m);
		return err;
	}
	a->max_rules = a->rules_len / sizeof(struct netprobe_acl_rule);
	a->groups = a->tbl8_len / sizeof(struct netprobe_acl_tbl8);
	if (!a->meta->max_rules) {
		__u32 pool = m->opts.state.mitigation_max_blocks;

		a->meta->max_rules = a->max_rules;
		a->meta->tbl8_groups = a->groups;
		a->meta->block_pool = pool < a->max_rules / 2 ? pool : a->max_rules / 2;
	}
	/*
	 * Read back from the pins, as whoever could write them left it: what
	 * would take an index past the tables is refused, not used.
	 */
	if (a->meta->max_rules != a->max_rules || a->meta->tbl8_groups != a->groups ||
	    a->meta->block_pool > a->max_rules / 2) {
		np_err("the pinned list state does not match its tables (%u rules, %u groups, a "
		       "block pool of %u, in tables of %u rules and %u groups): refused",
		       a->meta->max_rules, a->meta->tbl8_groups, a->meta->block_pool, a->max_rules,
		       a->groups);
		np_acl_close(m);
		return -EUCLEAN;
	}
	a->block_first = a->max_rules - a->meta->block_pool;
	for (a->nslots = 1024; a->nslots < 2 * a->max_rules;)
		a->nslots *= 2;
	a->slots = calloc(a->nslots, sizeof(*a->slots));
	a->free_groups = calloc(a->groups, sizeof(*a->free_groups));
	if (!a->slots || !a->free_groups) {
		np_acl_close(m);
		return -ENOMEM;
	}
	index_rebuild(a);
	return 0;
}

/* Whether a mitigation block of one address (XDP's, possibly newer than the index) lies in the /24 at slot. */
static bool block_in_slot(const struct np_acl *a, __u32 slot, __u32 leaving)
{
	for (__u32 id = a->block_first; id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];

		if (id != leaving && __atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE) &&
		    r->family == NETPROBE_FAMILY_IPV4 && r->prefix_len == 32 &&
		    ntohl(*(const __u32 *)r->addr) >> 8 == slot)
			return true;
	}
	return false;
}

/*
 * Clears the /24's EXACT flag once no /32 entry but leaving's is left in it. Entries made
 * here are in the index; a block XDP makes meanwhile writes its rule before
 * its hash entry and the flag, so looking at the rules after the clear
 * either sees it (and sets the flag back) or its flag comes after ours.
 */
static void v4_exact_flag_release(struct np_acl *a, __u32 slot, __u32 leaving)
{
	__u8 addr[16];

	for (__u32 i = 0; i < 256; i++) {
		v4_bytes(slot << 8 | i, addr);
		if (index_find(a, NETPROBE_FAMILY_IPV4, 32, addr))
			return;
	}
	__atomic_fetch_and(&a->tbl24[slot], ~NETPROBE_ACL_W_EXACT, __ATOMIC_SEQ_CST);
	if (block_in_slot(a, slot, leaving))
		__atomic_fetch_or(&a->tbl24[slot], NETPROBE_ACL_W_EXACT, __ATOMIC_SEQ_CST);
}

/*
 * Claims mitigation block id from XDP (live -> busy, as XDP does before it
 * reuses one), so that XDP neither reuses nor rewrites it meanwhile. With
 * only_expired, a block XDP has made anew under the same id in the
 * meantime is left alone, as is one no longer of prefix expect. Returns
 * whether it is claimed.
 */
static bool claim_block(struct np_acl *a, __u32 id, bool only_expired,
			const struct netprobe_cidr *expect)
{
	struct netprobe_acl_rule *r = &a->rules[id];
	__u32 live = NETPROBE_RULE_LIVE;

	if (!__atomic_compare_exchange_n(&r->in_use, &live, NETPROBE_RULE_CLAIMED, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return false;
	/* XDP may have made a new block under this id since we looked. */
	if ((only_expired && !(r->expires_ns && r->expires_ns <= mono_ns())) ||
	    (expect && !rule_is(r, expect->family, expect->prefix_len, expect->addr))) {
		__atomic_store_n(&r->in_use, NETPROBE_RULE_LIVE, __ATOMIC_RELEASE);
		return false;
	}
	return true;
}

/*
 * Takes rule id (a block: claimed) out of the index, then out of the
 * datapath, then frees it. replaced: a new rule of the same prefix has
 * taken over its exact or trie entry (acl_add), which then stays.
 */
static void retire_rule(struct netprobe_manager *m, __u32 id, bool replaced)
{
	struct np_acl *a = m->acl;
	struct netprobe_acl_rule *r = &a->rules[id];
	int full = addr_len(r->family) * 8;

	if (!replaced)
		index_remove(a, id);
	if (has_fallback(a, id))
		a->ttl_prefixes--;
	if (r->prefix_len == full) {
		if ((unpublish_exact(a, r, id) || replaced) && r->family == NETPROBE_FAMILY_IPV6)
			__atomic_fetch_sub(&a->meta->v6_exact, 1, __ATOMIC_RELEASE);
		__u32 slot = ntohl(*(__u32 *)r->addr) >> 8;

		/* In a batch, each /24 once at its end (if memory runs out, at once). */
		if (r->family == NETPROBE_FAMILY_IPV4 &&
		    !(a->defer && defer_slot(&a->defer->exact_gone, slot)))
			v4_exact_flag_release(a, slot, id);
	} else if (r->family == NETPROBE_FAMILY_IPV6 && (unpublish_trie(a, r, id) || replaced)) {
		__atomic_fetch_sub(&a->meta->v6_prefixes, 1, __ATOMIC_RELEASE);
	} else if (r->family == NETPROBE_FAMILY_IPV4 && is_block(a, id)) {
		unpublish_aggregate(a, r, id);
	}
	np_fault_point();
	/* A block (a deny /32, /128 or IPv6 prefix) decides no region nor fallback but its own. */
	if (!is_block(a, id))
		refresh_regions(a, r, false);
	np_zero_percpu(m, m->maps->maps.np_acl_hits, id, sizeof(__u64));
	np_fault_point();
	/*
	 * XDP may reuse a block the moment it is free: it must carry no mark of
	 * ours by then. An entry of the operator's is free first, so that one
	 * killed here is not taken for live and unmarked (in force).
	 */
	if (is_block(a, id))
		r->change = NETPROBE_CHANGE_NONE;
	__atomic_store_n(&r->in_use, NETPROBE_RULE_FREE, __ATOMIC_RELEASE);
	r->change = NETPROBE_CHANGE_NONE;
}

/*
 * Takes the rule out of the index, then out of the datapath, then frees its
 * id; a mitigation block is claimed from XDP first (claim_block). Returns
 * whether it was removed.
 */
static bool remove_rule(struct netprobe_manager *m, __u32 id, bool only_expired,
			const struct netprobe_cidr *expect)
{
	if (is_block(m->acl, id) && !claim_block(m->acl, id, only_expired, expect))
		return false;
	retire_rule(m, id, false);
	return true;
}

/* Records a change: the index stays valid if nobody else changed the table meanwhile. */
static void bump_generation(struct np_acl *a)
{
	__u64 before = __atomic_fetch_add(&a->meta->generation, 1, __ATOMIC_ACQ_REL);

	if (before == a->generation)
		a->generation = before + 1;
}

static bool change_open(const struct np_acl *a)
{
	return __atomic_load_n(&a->meta->change_state, __ATOMIC_ACQUIRE) != NETPROBE_CHANGE_IDLE;
}

static void change_state(struct np_acl *a, enum netprobe_change_state state);
static void change_begin(struct np_acl *a);
static void change_end(struct netprobe_manager *m, struct np_deferred *d);

/* Removes expired entries, so that they leave listings and their regions fall back. */
static void sweep(struct netprobe_manager *m)
{
	struct np_acl *a = m->acl;
	__u64 now = mono_ns(), next = 0;

	if (!a->next_expiry || now < a->next_expiry)
		return;
	/*
	 * A change like any other, with nothing to mark: a sweep killed part
	 * way leaves its claimed blocks and half-recomputed words to the next
	 * lock holder's recovery, which finishes it.
	 */
	change_begin(a);
	change_state(a, NETPROBE_CHANGE_COMMITTED);
	for (__u32 id = 1; id < a->max_rules; id++) {
		struct netprobe_acl_rule *r = &a->rules[id];

		if (r->in_use != NETPROBE_RULE_LIVE || !r->expires_ns)
			continue;
		if (r->expires_ns <= now) {
			remove_rule(m, id, true, NULL);
		} else if (!next || r->expires_ns < next) {
			next = r->expires_ns;
		}
	}
	a->next_expiry = next;
	change_end(m, NULL);
}

static void recover_change(struct netprobe_manager *m);

/*
 * Brings the index up to date with the table and sweeps; first finishes or
 * undoes a change whose process died (the lock is ours: its holder is gone).
 * Returns false when a change stays open (its recovery could not rewrite a
 * word either): nothing may begin over it, not even the sweep, or its
 * marks and its missing words would be forgotten.
 */
static bool sync_acl(struct netprobe_manager *m)
{
	struct np_acl *a = m->acl;

	if (change_open(a))
		recover_change(m);
	if (change_open(a))
		return false;
	/* Another process (or XDP) changed the table, or deletions left too many tombstones. */
	if (__atomic_load_n(&a->meta->generation, __ATOMIC_ACQUIRE) != a->generation ||
	    a->filled_slots > a->nslots / 4 * 3) {
		index_rebuild(a);
		a->groups_known = false;
	}
	sweep(m);
	return true;
}

/*
 * Takes this manager's list lock and the state lock (np_state_lock: pin
 * for a change that makes entries), then brings the index up to date with
 * the table and sweeps. Returns the lock's fd for acl_unlock, or a
 * negative errno with nothing held.
 */
static void acl_unlock(struct netprobe_manager *m, int lock);

static int acl_lock_within(struct netprobe_manager *m, bool pin, unsigned int timeout_ms,
			   bool quiet)
{
	int lock;

	pthread_mutex_lock(&m->acl->lock);
	lock = np_state_lock_within(m, pin, timeout_ms, quiet);
	if (lock < 0) {
		pthread_mutex_unlock(&m->acl->lock);
		return lock;
	}
	if (!sync_acl(m)) {
		if (!quiet)
			np_err("a list change is still open: the kernel refused to rewrite a "
			       "lookup "
			       "word (out of memory?); nothing else changes until it is finished, "
			       "which the next list command tries again");
		acl_unlock(m, lock);
		return -EAGAIN;
	}
	return lock;
}

static int acl_lock(struct netprobe_manager *m, bool pin)
{
	return acl_lock_within(m, pin, m->opts.state.lock_timeout_ms, false);
}

static void acl_unlock(struct netprobe_manager *m, int lock)
{
	np_unlock(m, lock);
	pthread_mutex_unlock(&m->acl->lock);
}

/*
 * Whether a sweep has nothing to do: nobody changed the lists since the
 * index was built (XDP's blocks change the generation too), and nothing in
 * it has expired since.
 */
static bool nothing_expired(struct np_acl *a)
{
	bool quiet;

	pthread_mutex_lock(&a->lock);
	quiet = __atomic_load_n(&a->meta->generation, __ATOMIC_ACQUIRE) == a->generation &&
		__atomic_load_n(&a->meta->change_state, __ATOMIC_ACQUIRE) == NETPROBE_CHANGE_IDLE &&
		(!a->next_expiry || mono_ns() < a->next_expiry);
	pthread_mutex_unlock(&a->lock);
	return quiet;
}

static int sweep_within(struct netprobe_manager *m, unsigned int timeout_ms, bool quiet)
{
	int lock;

	if (!m || !m->acl)
		return -EINVAL;
	/* Housekeeping sweeps every second: the pin path's lock only when there is work. */
	if (nothing_expired(m->acl))
		return 0;
	lock = acl_lock_within(m, false, timeout_ms, quiet);
	if (lock < 0)
		return lock;
	acl_unlock(m, lock);
	return 0;
}

int netprobe_manager_acl_sweep(struct netprobe_manager *m)
{
	return sweep_within(m, m ? m->opts.state.lock_timeout_ms : 0, false);
}

/*
 * Housekeeping's sweep: one try at the lock. Busy (another change, or an
 * attack's stream of blocks keeping the lists changing) is no error: the
 * next second tries again, and the caller's loop never stalls.
 */
int np_acl_sweep_try(struct netprobe_manager *m)
{
	int err = sweep_within(m, 0, true);

	/* Busy, or a change still open (its recovery warned): the next second tries again. */
	return err == -EWOULDBLOCK || err == -EAGAIN ? 0 : err;
}

/* Live entries (expired ones do not keep the pinned state alive). */
bool np_acl_has_rules(const struct netprobe_manager *m)
{
	const struct np_acl *a = m->acl;
	__u64 now = mono_ns();

	/* A change a process left part way is the next list command's to finish: keep it. */
	if (a && __atomic_load_n(&a->meta->change_state, __ATOMIC_ACQUIRE) != NETPROBE_CHANGE_IDLE)
		return true;
	for (__u32 id = 1; a && id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];

		if (rule_live(r, now))
			return true;
	}
	return false;
}

/* ---- CIDRs ------------------------------------------------------------- */

int netprobe_cidr_parse(const char *cidr, struct netprobe_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long len;
	__u8 masked[16];
	int full;

	if (!cidr || !out || strlen(cidr) >= sizeof(buf)) {
		np_err("'%s' is not an address or prefix (e.g. 192.0.2.0/24, 2001:db8::/32)",
		       cidr ? cidr : "(null)");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	strcpy(buf, cidr);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = NETPROBE_FAMILY_IPV4;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = NETPROBE_FAMILY_IPV6;
	} else {
		np_err("'%s' is not an IPv4 or IPv6 address or prefix (e.g. 192.0.2.0/24, "
		       "2001:db8::/32)",
		       cidr);
		return -EINVAL;
	}
	full = addr_len(out->family) * 8;
	out->prefix_len = full;
	if (slash) {
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		/* Digits only: strtoul alone takes leading blanks and a sign. */
		if (slash[1] < '0' || slash[1] > '9' || *end || errno ||
		    len > (unsigned long)full) {
			np_err("'%s': the prefix length must be 0..%d", cidr, full);
			return -EINVAL;
		}
		out->prefix_len = len;
	}
	/*
	 * ::ffff:a.b.c.d reaches sockets as a.b.c.d, and the datapath matches
	 * it against the IPv4 entries: the mapped form is folded into the IPv4
	 * one, so that it is listed (and removed) once, as what it means.
	 */
	if (out->family == NETPROBE_FAMILY_IPV6 && out->prefix_len >= 96 &&
	    !memcmp(out->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		/*
		 * ::ffff:0:0/96 is IPv6 bogon lists' entry ("no mapped source on
		 * the wire"): folded, it would be 0.0.0.0/0, every IPv4 source.
		 */
		if (out->prefix_len < 104) {
			np_err("'%s' is the IPv4-mapped form of an IPv4 /%u: give the IPv4 prefix "
			       "itself (mapped sources are matched against IPv4 entries)",
			       cidr, out->prefix_len - 96);
			return -EINVAL;
		}
		memmove(out->addr, out->addr + 12, 4);
		memset(out->addr + 4, 0, 12);
		out->family = NETPROBE_FAMILY_IPV4;
		out->prefix_len -= 96;
	}
	memcpy(masked, out->addr, 16);
	mask_addr(masked, out->family, out->prefix_len);
	if (memcmp(masked, out->addr, 16)) {
		char net[INET6_ADDRSTRLEN];

		inet_ntop(out->family == NETPROBE_FAMILY_IPV4 ? AF_INET : AF_INET6, masked, net,
			  sizeof(net));
		np_err("'%s' has host bits set; the network is %s/%u", cidr, net, out->prefix_len);
		return -EINVAL;
	}
	return 0;
}

int netprobe_list_text_parse(const char *text, size_t len, netprobe_list_line_fn fn, void *ctx)
{
	const char *nul = text ? memchr(text, '\0', len) : NULL;
	unsigned long line = 1;
	char entry[128], why[256];
	bool bad = false;
	int ret;

	if (!text || !fn)
		return -EINVAL;
	if (nul) {
		for (const char *c = text; c < nul; c++)
			line += *c == '\n';
		ret = fn(line, NULL, "a NUL byte: no text file (half written? replace it whole)",
			 ctx);
		return ret ?: -EINVAL;
	}
	for (const char *s = text, *end = text + len; s < end; line++) {
		const char *eol = memchr(s, '\n', end - s) ?: end, *word, *after;
		size_t n;

		/* The line up to a comment, without the blanks around its word. */
		for (const char *c = s; c < eol; c++) {
			if (*c == '#' || *c == ';') {
				eol = c;
				break;
			}
		}
		while (s < eol && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		for (word = s; s < eol && *s != ' ' && *s != '\t' && *s != '\r';)
			s++;
		n = s - word;
		for (after = s; after < eol && (*after == ' ' || *after == '\t' || *after == '\r');)
			after++;
		s = memchr(s, '\n', end - s);
		s = s ? s + 1 : end;
		if (after < eol) {
			/* "10.0.0.0 /8" or a range must not become a /32. */
			const char *next = after;

			while (next < eol && *next != ' ' && *next != '\t' && *next != '\r')
				next++;
			snprintf(why, sizeof(why),
				 "'%.*s' follows the entry %.*s; one address or CIDR a line "
				 "(comments after # or ;)",
				 (int)(next - after > 64 ? 64 : next - after), after,
				 (int)(n > 64 ? 64 : n), word);
			bad = true;
			ret = fn(line, NULL, why, ctx);
		} else if (n >= sizeof(entry)) {
			snprintf(why, sizeof(why),
				 "an entry of %zu characters is no address or CIDR", n);
			bad = true;
			ret = fn(line, NULL, why, ctx);
		} else if (n) {
			memcpy(entry, word, n);
			entry[n] = '\0';
			ret = fn(line, entry, NULL, ctx);
		} else {
			continue;
		}
		if (ret)
			return ret;
	}
	return bad ? -EINVAL : 0;
}

const char *netprobe_cidr_str(const struct netprobe_cidr *c, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	inet_ntop(c->family == NETPROBE_FAMILY_IPV4 ? AF_INET : AF_INET6, c->addr, addr,
		  sizeof(addr));
	snprintf(buf, len, "%s/%u", addr, c->prefix_len);
	return buf;
}

const char *netprobe_acl_origin_name(unsigned int origin)
{
	if (origin == NETPROBE_ORIGIN_MANUAL)
		return "manual";
	return netprobe_detection_name(origin - 1);
}

const char *netprobe_unblocked_name(unsigned int reason)
{
	static const char *const names[] = {
		[NETPROBE_UNBLOCKED_SPECIAL] = "special_address",
		[NETPROBE_UNBLOCKED_PROTECTED] = "protected",
		[NETPROBE_UNBLOCKED_PEER] = "peer",
		[NETPROBE_UNBLOCKED_POOL_FULL] = "pool_full",
		[NETPROBE_UNBLOCKED_UNPROVEN] = "unproven",
		[NETPROBE_UNBLOCKED_ALLOWED] = "allowed",
	};

	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : NULL;
}

/* ---- The API ----------------------------------------------------------- */

static const char *list_name(enum netprobe_acl_action action)
{
	return action == NETPROBE_ACL_ALLOW ? "allow list" : "deny list";
}

/* A free rule id below mitigation's pool, searched from where the last one was found. */
static __u32 alloc_id(struct np_acl *a)
{
	__u32 span = a->block_first - 1;

	for (__u32 n = 0; n < span; n++) {
		__u32 id = 1 + (a->id_hint + n) % span;

		if (!a->rules[id].in_use) {
			a->id_hint = id % span;
			return id;
		}
	}
	return 0;
}

/* ---- The journal --------------------------------------------------------
 *
 * A change is staged first: its new entries written PENDING (no word names
 * them), the entries it renews or removes marked, the blocks it removes
 * claimed. Then it is committed (one store), then applied. Each rule it
 * touches carries its id, so that when a process dies part way (SIGKILL,
 * a crash) the next one to take the lock finds the change in the meta and
 * finishes it, or, staging or undoing, undoes it: all or none, and the
 * datapath's words made whole again (recover_change).
 */

static void change_state(struct np_acl *a, enum netprobe_change_state state)
{
	__atomic_store_n(&a->meta->change_state, state, __ATOMIC_SEQ_CST);
}

static void change_begin(struct np_acl *a)
{
	a->refresh_failed = 0;
	__u32 id = a->meta->change_id + 1;

	a->meta->change_id = id ? id : 1;
	np_fault_point();
	change_state(a, NETPROBE_CHANGE_STAGING);
}

/*
 * The kind first, the change's id last: a rule keeps the mark of its own
 * add, and one half marked must not read as marked by this change.
 */
static void mark_rule(struct np_acl *a, __u32 id, enum netprobe_rule_change what)
{
	__atomic_store_n(&a->rules[id].change, what, __ATOMIC_RELEASE);
	np_fault_point();
	__atomic_store_n(&a->rules[id].change_id, a->meta->change_id, __ATOMIC_RELEASE);
}

/* What the change in the meta did to rule id, NETPROBE_CHANGE_NONE if nothing. */
static enum netprobe_rule_change marked(const struct np_acl *a, __u32 id)
{
	const struct netprobe_acl_rule *r = &a->rules[id];

	return r->change_id == a->meta->change_id ? r->change : NETPROBE_CHANGE_NONE;
}

/* Writes entry c, PENDING, into a free rule id: 0 when there is none. */
static __u32 stage_add(struct np_acl *a, enum netprobe_acl_action action,
		       const struct netprobe_cidr *c, unsigned int ttl_s)
{
	__u32 id = alloc_id(a);
	struct netprobe_acl_rule *r = &a->rules[id];

	if (!id)
		return 0;
	memset(r, 0, sizeof(*r));
	memcpy(r->addr, c->addr, 16);
	r->family = c->family;
	r->prefix_len = c->prefix_len;
	r->action = action;
	r->origin = NETPROBE_ORIGIN_MANUAL;
	r->created_ns = mono_ns();
	r->expires_ns = ttl_s ? r->created_ns + ttl_s * 1000000000ull : 0;
	r->change_id = a->meta->change_id;
	r->change = NETPROBE_CHANGE_ADD;
	np_fault_point();
	__atomic_store_n(&r->in_use, NETPROBE_RULE_PENDING, __ATOMIC_RELEASE);
	return id;
}

static void stage_renew(struct np_acl *a, __u32 id, __u64 expires_ns)
{
	a->rules[id].change_expires = expires_ns;
	mark_rule(a, id, NETPROBE_CHANGE_RENEW);
}

/* Marks rule id to go; a block is claimed from XDP first. False: it went meanwhile. */
static bool stage_remove(struct np_acl *a, __u32 id, const struct netprobe_cidr *expect)
{
	if (is_block(a, id) && !claim_block(a, id, false, expect))
		return false;
	mark_rule(a, id, NETPROBE_CHANGE_REMOVE);
	return true;
}

/* Removes a rule stage_remove marked. */
static void apply_remove(struct netprobe_manager *m, __u32 id)
{
	if (__atomic_load_n(&m->acl->rules[id].in_use, __ATOMIC_ACQUIRE) != NETPROBE_RULE_FREE)
		retire_rule(m, id, false);
}

/*
 * Puts entry id (staged by stage_add) in force, the lock held: the caller
 * has checked it is on no list. In a batch (a->defer), the table-wide
 * recomputes wait for its end. On failure the entry stays as far as it got,
 * for the caller to undo with the rest of the change (undo_change).
 */
static int apply_add(struct netprobe_manager *m, __u32 id)
{
	struct np_acl *a = m->acl;
	struct netprobe_acl_rule *r = &a->rules[id];
	int full = addr_len(r->family) * 8, err = 0;
	__u32 existing, block = 0;
	char buf[64];
	struct netprobe_cidr c = {.family = r->family, .prefix_len = r->prefix_len};

	memcpy(c.addr, r->addr, 16);
	existing = index_find(a, c.family, c.prefix_len, c.addr);
	/*
	 * A mitigation block (an address, a /64, a /24 aggregate) gives way to
	 * the operator's own entry for the same prefix, allow or deny. It is
	 * claimed from XDP now, and retired only once the new entry is in
	 * force: never a moment with neither. One XDP holds busy for an
	 * instant is waited for; one XDP retired or reused meanwhile is gone.
	 */
	if (existing && existing != id && is_block(a, existing)) {
		block = existing;
		for (int tries = 0; !claim_block(a, block, false, &c); tries++) {
			if (__atomic_load_n(&a->rules[block].in_use, __ATOMIC_ACQUIRE) !=
				    NETPROBE_RULE_BUSY ||
			    tries == 1000) {
				block = 0;
				break;
			}
			sched_yield();
		}
		if (block) {
			mark_rule(a, block, NETPROBE_CHANGE_REPLACED);
			index_remove(a, block);
		}
	}
	if (r->in_use == NETPROBE_RULE_PENDING) {
		/* Its hits are zero: retire_rule zeroes them before an id is free again. */
		if (c.prefix_len < full) {
			r->fallback = fallback_word(a, r);
			a->ttl_prefixes += r->expires_ns != 0;
		}
		__atomic_store_n(&r->in_use, NETPROBE_RULE_LIVE, __ATOMIC_RELEASE);
		index_insert(a, id);
		np_fault_point();
	}
	if (c.prefix_len == full) {
		struct netprobe_acl_value v = entry_value(a, r);
		bool v6 = c.family == NETPROBE_FAMILY_IPV6;

		err = publish_own(exact_fd(a, c.family), r->addr, &v, id,
				  v6 ? &a->meta->v6_exact : NULL);
		if (!err && !v6)
			__atomic_fetch_or(&a->tbl24[ntohl(*(__u32 *)r->addr) >> 8],
					  NETPROBE_ACL_W_EXACT, __ATOMIC_RELEASE);
	} else if (c.family == NETPROBE_FAMILY_IPV6) {
		struct netprobe_acl_v6_prefix key = {.prefix_len = c.prefix_len};
		struct netprobe_acl_value v = entry_value(a, r);

		memcpy(key.addr, r->addr, 16);
		err = publish_own(a->trie_fd, &key, &v, id, &a->meta->v6_prefixes);
	}
	if (!err)
		err = refresh_regions(a, r, true);
	if (err) {
		netprobe_cidr_str(&c, buf, sizeof(buf));
		if (err == -ENOSPC || err == -E2BIG)
			np_err("no room for %s: the lookup tables are full", buf);
		else
			np_err("cannot add %s: %s", buf, strerror(-err));
		return err == -E2BIG ? -ENOSPC : err;
	}
	if (r->expires_ns && (!a->next_expiry || r->expires_ns < a->next_expiry))
		a->next_expiry = r->expires_ns;
	/* In a batch the block waits, claimed, for the batch to hold (end_batch) or undo. */
	if (block && !(a->defer && defer_slot(&a->defer->replaced, block)))
		retire_rule(m, block, true);
	return 0;
}

/*
 * Puts back a block an undone change had replaced (claimed, out of the
 * index): its entry as XDP writes it, and live again. Its count never
 * went: the entry that took its key over was counted, and went.
 */
static void restore_block(struct np_acl *a, __u32 id)
{
	struct netprobe_acl_rule *r = &a->rules[id];
	struct netprobe_acl_value v = {.word = word_of(a, id), .own = word_of(a, id)};
	struct netprobe_acl_v6_prefix key = {.prefix_len = r->prefix_len};

	if (r->prefix_len == addr_len(r->family) * 8) {
		if (!bpf_map_update_elem(exact_fd(a, r->family), r->addr, &v, BPF_ANY) &&
		    r->family == NETPROBE_FAMILY_IPV4)
			__atomic_fetch_or(&a->tbl24[ntohl(*(__u32 *)r->addr) >> 8],
					  NETPROBE_ACL_W_EXACT, __ATOMIC_SEQ_CST);
	} else if (r->family == NETPROBE_FAMILY_IPV6) {
		memcpy(key.addr, r->addr, 16);
		bpf_map_update_elem(a->trie_fd, &key, &v, BPF_ANY);
	} /* an IPv4 /24 aggregate's own entry was never touched */
	index_insert(a, id);
	/* Marked until its entry is back: a block unmarked and claimed without one is retired. */
	r->change = NETPROBE_CHANGE_NONE;
	__atomic_store_n(&r->in_use, NETPROBE_RULE_LIVE, __ATOMIC_RELEASE);
}

/*
 * Undoes the change in the meta, staged or part applied, from the marks it
 * left: its new entries go, the entries it was to remove stay, the blocks
 * it claimed come back. Renewals are applied last, after every entry went
 * in, so none is left to take back.
 */
static void undo_change(struct netprobe_manager *m)
{
	struct np_acl *a = m->acl;

	change_state(a, NETPROBE_CHANGE_UNDOING);
	for (__u32 id = 1; id < a->max_rules; id++) {
		struct netprobe_acl_rule *r = &a->rules[id];
		__u32 state = __atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE);

		switch (marked(a, id)) {
		case NETPROBE_CHANGE_ADD:
			np_fault_point();
			if (state == NETPROBE_RULE_LIVE)
				retire_rule(m, id, false);
			else if (state == NETPROBE_RULE_PENDING)
				__atomic_store_n(&r->in_use, NETPROBE_RULE_FREE, __ATOMIC_RELEASE);
			break;
		case NETPROBE_CHANGE_REPLACED:
			if (state == NETPROBE_RULE_CLAIMED)
				restore_block(a, id);
			break;
		case NETPROBE_CHANGE_REMOVE:
			r->change = NETPROBE_CHANGE_NONE;
			if (state == NETPROBE_RULE_CLAIMED) {
				if (!index_find(a, r->family, r->prefix_len, r->addr))
					index_insert(a, id);
				__atomic_store_n(&r->in_use, NETPROBE_RULE_LIVE, __ATOMIC_RELEASE);
			}
			break;
		default:
			break;
		}
	}
}

/*
 * Ends the change in the meta: in a batch (d), the blocks its entries
 * replaced retired (their entries are the new ones' now) and its deferred
 * recomputes done; then it is over, and recorded.
 */
static void change_end(struct netprobe_manager *m, struct np_deferred *d)
{
	struct np_acl *a = m->acl;
	unsigned int failed;

	if (d) {
		for (size_t i = 0; i < d->replaced.n; i++)
			retire_rule(m, d->replaced.v[i], true);
		a->defer = NULL;
		flush_deferred(a, d);
	}
	failed = a->refresh_failed;
	a->refresh_failed = 0;
	/*
	 * A word the kernel would not take (ENOMEM) would decide wrongly: the
	 * change stays open, for the next process to take the lock (a list
	 * command, the daemon's housekeeping within a second) to finish with
	 * every recompute.
	 */
	if (failed)
		np_warn("%u entries' lookup words could not be rewritten; the next list command "
			"finishes the change",
			failed);
	else
		change_state(a, NETPROBE_CHANGE_IDLE);
	bump_generation(a);
}

/* Whether block id's own entry (exact, trie or /24 aggregate) is still its own. */
static bool entry_owned(const struct np_acl *a, __u32 id)
{
	const struct netprobe_acl_rule *r = &a->rules[id];
	struct netprobe_acl_v6_prefix key = {.prefix_len = r->prefix_len};
	struct netprobe_acl_value v;
	int err;

	if (r->prefix_len == addr_len(r->family) * 8) {
		err = bpf_map_lookup_elem(exact_fd(a, r->family), r->addr, &v);
	} else if (r->family == NETPROBE_FAMILY_IPV6) {
		memcpy(key.addr, r->addr, 16);
		err = bpf_map_lookup_elem(a->trie_fd, &key,
					  &v); /* or a covering entry: not its own */
	} else {
		err = bpf_map_lookup_elem(a->v4_agg_fd, r->addr, &v);
	}
	return !err && (v.own & NETPROBE_ACL_W_ID) == id;
}

/*
 * A /24's EXACT and AGGREGATE flags are cleared, then set again if a block
 * is still there: one killed in between left a flag off, and XDP would
 * skip a live block. Set again wherever one is (one too many costs a
 * lookup).
 */
static void restore_xdp_flags(struct np_acl *a)
{
	__u32 net, next;
	void *key = NULL;

	for (__u32 id = 1; id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];

		if (__atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE) != NETPROBE_RULE_FREE &&
		    r->family == NETPROBE_FAMILY_IPV4 && r->prefix_len == 32)
			__atomic_fetch_or(&a->tbl24[ntohl(*(const __u32 *)r->addr) >> 8],
					  NETPROBE_ACL_W_EXACT, __ATOMIC_SEQ_CST);
	}
	for (; !bpf_map_get_next_key(a->v4_agg_fd, key, &next); key = &net) {
		net = next;
		__atomic_fetch_or(&a->tbl24[ntohl(net) >> 8], NETPROBE_ACL_W_AGGREGATE,
				  __ATOMIC_SEQ_CST);
	}
}

/*
 * Blocks a dead process claimed and had not marked, or had half retired
 * (CLAIMED: only userspace claims so, under the lock, which is ours). One
 * whose entry is still its own goes back in force; the rest lost their
 * entry already, and are retired (their count, if it was not taken back,
 * stays: one too many).
 */
static void release_stuck_blocks(struct netprobe_manager *m)
{
	struct np_acl *a = m->acl;

	for (__u32 id = a->block_first; id < a->max_rules; id++) {
		struct netprobe_acl_rule *r = &a->rules[id];

		if (__atomic_load_n(&r->in_use, __ATOMIC_ACQUIRE) != NETPROBE_RULE_CLAIMED)
			continue;
		r->change = NETPROBE_CHANGE_NONE;
		if (entry_owned(a, id)) {
			if (!index_find(a, r->family, r->prefix_len, r->addr))
				index_insert(a, id);
			__atomic_store_n(&r->in_use, NETPROBE_RULE_LIVE, __ATOMIC_RELEASE);
		} else {
			retire_rule(m, id, false);
		}
	}
}

/*
 * Finishes or undoes the change a process that died left in the meta (the
 * lock held: its holder is gone). Committed, it is finished: its new
 * entries put in force, then its renewals, removals and replaced blocks;
 * staged or undoing, it is undone. What the dead process had deferred to
 * the change's end is not known, so every table-wide recompute is done.
 */
static void recover_change(struct netprobe_manager *m)
{
	struct np_acl *a = m->acl;
	enum netprobe_change_state state =
		__atomic_load_n(&a->meta->change_state, __ATOMIC_ACQUIRE);
	struct np_deferred d = {.below_all = true, .repaint = true};
	bool finished = state == NETPROBE_CHANGE_COMMITTED;
	size_t entries = 0;
	int err = 0;

	index_rebuild(a);
	a->groups_known = false;
	for (__u32 id = 1; id < a->max_rules; id++)
		entries += marked(a, id) != NETPROBE_CHANGE_NONE;
	a->defer = &d;
	for (__u32 id = 1; finished && !err && id < a->block_first; id++)
		if (marked(a, id) == NETPROBE_CHANGE_ADD &&
		    a->rules[id].in_use != NETPROBE_RULE_FREE)
			err = apply_add(m, id);
	if (!finished || err) {
		finished = false;
		undo_change(m);
	}
	for (__u32 id = 1; finished && id < a->max_rules; id++) {
		struct netprobe_acl_rule *r = &a->rules[id];

		switch (marked(a, id)) {
		case NETPROBE_CHANGE_RENEW:
			r->expires_ns = r->change_expires;
			break;
		case NETPROBE_CHANGE_REMOVE:
			apply_remove(m, id);
			break;
		case NETPROBE_CHANGE_REPLACED:
			/*
			 * Not as replaced: the dead process may have taken its count
			 * back already. Its entry is the new rule's now, so it stays,
			 * and its count with it: one too many, never too few.
			 */
			if (r->in_use == NETPROBE_RULE_CLAIMED)
				retire_rule(m, id, false);
			break;
		default:
			break;
		}
	}
	d.replaced.n = 0; /* retired or put back above */
	release_stuck_blocks(m);
	restore_xdp_flags(a);
	d.fallbacks = a->ttl_prefixes != 0;
	for (__u32 slot = 0; slot < (1u << 24); slot++)
		if ((a->tbl24[slot] & NETPROBE_ACL_W_GROUP) && !defer_slot(&d.slots, slot))
			v4_refresh_slot(a, slot);
	change_end(m, &d);
	deferred_free(&d);
	index_rebuild(a); /* the renewals' expiries, and whatever XDP did meanwhile */
	np_warn("a list change left part way (%zu entries; its process died, or the kernel refused "
		"a lookup word) was %s",
		entries,
		change_open(a) ? "applied again, and stays open"
		: finished     ? "finished"
			       : "undone");
}

static int check_ttl(unsigned int ttl_s)
{
	if (ttl_s <= NETPROBE_ACL_MAX_TTL_S)
		return 0;
	np_err("TTL %u s is over the maximum of %u s (0 means no expiry)", ttl_s,
	       NETPROBE_ACL_MAX_TTL_S);
	return -EINVAL;
}

static int acl_add(struct netprobe_manager *m, enum netprobe_acl_action action, const char *cidr,
		   unsigned int ttl_s)
{
	struct netprobe_cidr c;
	struct np_acl *a;
	__u32 existing, id;
	char buf[64];
	int lock, err;

	if (!m || !m->acl)
		return -EINVAL;
	a = m->acl;
	err = netprobe_cidr_parse(cidr, &c);
	if (!err)
		err = check_ttl(ttl_s);
	if (err)
		return err;
	lock = acl_lock(m, true);
	if (lock < 0)
		return lock;
	existing = index_find(a, c.family, c.prefix_len, c.addr);
	if (existing && !is_block(a, existing)) {
		np_err("%s is already on the %s", netprobe_cidr_str(&c, buf, sizeof(buf)),
		       list_name(a->rules[existing].action));
		acl_unlock(m, lock);
		return a->rules[existing].action == action ? -EEXIST : -NETPROBE_ERR_OTHER_LIST;
	}
	change_begin(a);
	id = stage_add(a, action, &c, ttl_s);
	if (!id) {
		np_err("the lists are full (%u entries); remove some, or raise acl_max_rules "
		       "(takes effect once everything is detached)",
		       a->block_first - 1);
		err = -ENOSPC;
	} else {
		change_state(a, NETPROBE_CHANGE_COMMITTED);
		err = apply_add(m, id);
		if (err)
			undo_change(m);
	}
	change_end(m, NULL);
	acl_unlock(m, lock);
	return err;
}

static int acl_del(struct netprobe_manager *m, enum netprobe_acl_action action, const char *cidr)
{
	struct netprobe_cidr c;
	struct np_acl *a;
	__u32 id;
	int lock, err;

	if (!m || !m->acl)
		return -EINVAL;
	a = m->acl;
	err = netprobe_cidr_parse(cidr, &c);
	if (err)
		return err;
	lock = acl_lock(m, false);
	if (lock < 0)
		return lock;
	id = index_find(a, c.family, c.prefix_len, c.addr);
	if (!id || a->rules[id].action != action) {
		char buf[64];

		np_err("%s is not on the %s%s", netprobe_cidr_str(&c, buf, sizeof(buf)),
		       list_name(action),
		       id ? (action == NETPROBE_ACL_ALLOW ? " (it is on the deny list)"
							  : " (it is on the allow list)")
			  : "");
		acl_unlock(m, lock);
		return id ? -NETPROBE_ERR_OTHER_LIST : -ENOENT;
	}
	change_begin(a);
	if (stage_remove(a, id, &c)) {
		change_state(a, NETPROBE_CHANGE_COMMITTED);
		apply_remove(m, id);
	} else {
		np_err("%s expired and went while being removed", cidr);
		err = -ENOENT;
	}
	change_end(m, NULL);
	acl_unlock(m, lock);
	return err;
}

/* ---- Batches ------------------------------------------------------------ */

/* One entry of a batch, parsed, and where it came from. */
struct batch_item {
	struct netprobe_cidr c;
	size_t index; /* in the caller's array */
	enum { ITEM_NEW, ITEM_SKIP, ITEM_RENEW, ITEM_REMOVE } what;
	__u32 id; /* the rule it adds, renews or removes */
};

static int cmp_item(const void *x, const void *y)
{
	const struct batch_item *a = x, *b = y;
	int d = memcmp(&a->c, &b->c, sizeof(a->c));

	return d ? d : (a->index > b->index) - (a->index < b->index);
}

/* Parses every entry, then sorts them so that repeats sit together. */
static struct batch_item *parse_batch(const char *const *cidrs, size_t count,
				      struct netprobe_acl_batch_result *res, int *err)
{
	struct batch_item *items = calloc(count ? count : 1, sizeof(*items));

	*err = items ? 0 : -ENOMEM;
	for (size_t i = 0; items && i < count; i++) {
		items[i].index = i;
		*err = cidrs[i] ? netprobe_cidr_parse(cidrs[i], &items[i].c) : -EINVAL;
		if (*err) {
			res->failed = i;
			free(items);
			return NULL;
		}
	}
	if (items)
		qsort(items, count, sizeof(*items), cmp_item);
	return items;
}

static bool same_prefix(const struct batch_item *a, const struct batch_item *b)
{
	return memcmp(&a->c, &b->c, sizeof(a->c)) == 0;
}

static __u32 free_ids(const struct np_acl *a)
{
	__u32 n = 0;

	for (__u32 id = 1; id < a->block_first; id++)
		n += !a->rules[id].in_use;
	return n;
}

/* /24s with no group yet that the batch's /25-/31 entries need one for. */
static size_t groups_needed(struct np_acl *a, const struct batch_item *items, size_t count)
{
	__u32 *slots = calloc(count ? count : 1, sizeof(*slots));
	size_t n = 0, distinct = 0;

	if (!slots)
		return SIZE_MAX;
	for (size_t i = 0; i < count; i++) {
		const struct netprobe_cidr *c = &items[i].c;
		__u32 be, slot;

		memcpy(&be, c->addr, 4); /* addr sits at offset 2 of a netprobe_cidr */
		slot = ntohl(be) >> 8;

		if (items[i].what == ITEM_NEW && c->family == NETPROBE_FAMILY_IPV4 &&
		    c->prefix_len > 24 && c->prefix_len < 32 &&
		    !(a->tbl24[slot] & NETPROBE_ACL_W_GROUP))
			slots[n++] = slot;
	}
	if (n)
		qsort(slots, n, sizeof(*slots), cmp_u32);
	for (size_t i = 0; i < n; i++)
		distinct += !i || slots[i] != slots[i - 1];
	free(slots);
	return distinct;
}

static int batch_other_list(const struct batch_item *it, enum netprobe_acl_action action,
			    struct netprobe_acl_batch_result *res)
{
	char buf[64];

	np_err("%s is already on the %s: the batch is refused whole",
	       netprobe_cidr_str(&it->c, buf, sizeof(buf)),
	       list_name(action == NETPROBE_ACL_ALLOW ? NETPROBE_ACL_DENY : NETPROBE_ACL_ALLOW));
	res->failed = it->index;
	return -NETPROBE_ERR_OTHER_LIST;
}

/*
 * Sorts out what each entry of an add batch does, changing nothing: new,
 * listed already (as listed says: skipped, renewed, updated, or the batch
 * fails), or on the other list (the batch fails); then whether the new
 * ones fit.
 */
static int plan_adds(struct np_acl *a, enum netprobe_acl_action action, struct batch_item *items,
		     size_t count, unsigned int ttl_s, enum netprobe_acl_listed listed,
		     struct netprobe_acl_batch_result *res)
{
	const struct batch_item *other = NULL, *there = NULL;
	size_t fresh = 0, groups;
	__u32 room;

	for (size_t i = 0; i < count; i++) {
		struct batch_item *it = &items[i];
		__u32 id = index_find(a, it->c.family, it->c.prefix_len, it->c.addr);

		it->what = ITEM_NEW;
		if (i && same_prefix(it, it - 1)) {
			it->what = ITEM_SKIP;
		} else if (id && !is_block(a, id)) {
			/* The caller's first entry on the other list is the one named. */
			if (a->rules[id].action != action) {
				if (!other || it->index < other->index)
					other = it;
				continue;
			}
			it->id = id;
			if (listed == NETPROBE_ACL_LISTED_FAIL &&
			    (!there || it->index < there->index))
				there = it;
			it->what = listed == NETPROBE_ACL_LISTED_UPDATE ||
						   (ttl_s && a->rules[id].expires_ns)
					   ? ITEM_RENEW
					   : ITEM_SKIP;
		}
		fresh += it->what == ITEM_NEW;
	}
	if (other)
		return batch_other_list(other, action, res);
	if (there) {
		char buf[64];

		np_err("%s is already on the %s: the batch is refused whole",
		       netprobe_cidr_str(&there->c, buf, sizeof(buf)), list_name(action));
		res->failed = there->index;
		return -EEXIST;
	}
	room = free_ids(a);
	if (fresh > room) {
		np_err("the lists have room for %u more entries, the batch adds %zu; remove some, "
		       "or "
		       "raise acl_max_rules (takes effect once everything is detached)",
		       room, fresh);
		res->failed = count;
		return -ENOSPC;
	}
	if (!a->groups_known)
		find_free_groups(a);
	groups = groups_needed(a, items, count);
	if (groups > a->free_count) {
		np_err("the batch's /25-/31 entries need %zu more IPv4 /24 groups, %u are left "
		       "(acl_v4_groups)",
		       groups, a->free_count);
		res->failed = count;
		return groups == SIZE_MAX ? -ENOMEM : -ENOSPC;
	}
	return 0;
}

/*
 * Applies a planned add batch as one change: staged whole, committed, then
 * its new entries put in force, then its renewals (which cannot fail, so
 * that an undo never has one to take back). One that fails undoes it all.
 */
static int add_batch(struct netprobe_manager *m, enum netprobe_acl_action action,
		     struct batch_item *items, size_t count, unsigned int ttl_s,
		     enum netprobe_acl_listed listed, struct np_deferred *d,
		     struct netprobe_acl_batch_result *res)
{
	struct np_acl *a = m->acl;
	__u64 expires = mono_ns() + ttl_s * 1000000000ull;
	int err = 0;

	change_begin(a);
	for (size_t i = 0; !err && i < count; i++) {
		struct batch_item *it = &items[i];
		__u64 old = a->rules[it->id].expires_ns;

		if (it->what == ITEM_NEW && !(it->id = stage_add(a, action, &it->c, ttl_s))) {
			err = -ENOSPC; /* plan_adds found room: cannot be */
			res->failed = it->index;
		} else if (it->what == ITEM_RENEW) {
			/* Updated: exactly ttl_s from now, or never. Renewed: never shortened. */
			stage_renew(a, it->id,
				    listed == NETPROBE_ACL_LISTED_UPDATE ? (ttl_s ? expires : 0)
				    : old < expires			 ? expires
									 : old);
		}
	}
	if (!err)
		change_state(a, NETPROBE_CHANGE_COMMITTED);
	a->defer = d;
	for (size_t i = 0; !err && i < count; i++) {
		if (items[i].what != ITEM_NEW)
			continue;
		err = apply_add(m, items[i].id);
		if (err)
			res->failed = items[i].index;
		else
			res->done++;
	}
	for (size_t i = 0; !err && i < count; i++) {
		struct netprobe_acl_rule *r = &a->rules[items[i].id];

		if (items[i].what == ITEM_SKIP) {
			res->skipped++;
		} else if (items[i].what == ITEM_RENEW) {
			r->expires_ns = r->change_expires;
			if (r->expires_ns && (!a->next_expiry || r->expires_ns < a->next_expiry))
				a->next_expiry = r->expires_ns;
			d->fallbacks |= r->prefix_len < addr_len(r->family) * 8;
			res->renewed++;
		}
	}
	if (err) {
		undo_change(m);
		d->replaced.n = 0; /* put back by the undo */
		res->done = res->renewed = res->skipped = 0;
	}
	/* Flushed for an undone batch too: its adds and their undoing left recomputes waiting. */
	change_end(m, d);
	return err;
}

static int acl_add_many(struct netprobe_manager *m, enum netprobe_acl_action action,
			const char *const *cidrs, size_t count,
			const struct netprobe_acl_batch_opts *opts,
			struct netprobe_acl_batch_result *result)
{
	struct netprobe_acl_batch_result res = {.failed = count};
	struct np_deferred d = {};
	struct batch_item *items;
	enum netprobe_acl_listed listed;
	unsigned int ttl_s;
	struct np_acl *a;
	int lock, err;

	if (result)
		*result = res;
	if (!m || !m->acl || (!cidrs && count) ||
	    !np_opts_valid(opts, NP_OFFSETOFEND(struct netprobe_acl_batch_opts, listed)))
		return -EINVAL;
	a = m->acl;
	ttl_s = NP_OPTS_GET(opts, ttl_s, 0);
	listed = NP_OPTS_GET(opts, listed, NETPROBE_ACL_LISTED_SKIP);
	if ((unsigned int)listed > NETPROBE_ACL_LISTED_UPDATE) {
		np_err("netprobe_acl_batch_opts: unknown listed %u", (unsigned int)listed);
		return -EINVAL;
	}
	err = check_ttl(ttl_s);
	items = err ? NULL : parse_batch(cidrs, count, &res, &err);
	if (!items)
		goto out;
	d.new_allow = calloc(a->max_rules / 8 + 1, 1);
	if (!d.new_allow) {
		err = -ENOMEM;
		goto out;
	}
	lock = acl_lock(m, true);
	if (lock < 0) {
		err = lock;
		goto out;
	}
	err = plan_adds(a, action, items, count, ttl_s, listed, &res);
	if (!err)
		err = add_batch(m, action, items, count, ttl_s, listed, &d, &res);
	acl_unlock(m, lock);
out:
	deferred_free(&d);
	free(items);
	if (result)
		*result = res;
	return err;
}

static int acl_del_many(struct netprobe_manager *m, enum netprobe_acl_action action,
			const char *const *cidrs, size_t count,
			struct netprobe_acl_batch_result *result)
{
	struct netprobe_acl_batch_result res = {.failed = count};
	const struct batch_item *other = NULL;
	struct np_deferred d = {};
	struct batch_item *items;
	struct np_acl *a;
	int lock, err;

	if (result)
		*result = res;
	if (!m || !m->acl || (!cidrs && count))
		return -EINVAL;
	a = m->acl;
	items = parse_batch(cidrs, count, &res, &err);
	if (!items)
		goto out;
	lock = acl_lock(m, false);
	if (lock < 0) {
		err = lock;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		struct batch_item *it = &items[i];

		it->id = index_find(a, it->c.family, it->c.prefix_len, it->c.addr);
		it->what = ITEM_REMOVE;
		if ((i && same_prefix(it, it - 1)) || !it->id)
			it->what = ITEM_SKIP;
		else if (a->rules[it->id].action != action && (!other || it->index < other->index))
			other = it;
	}
	if (other) {
		err = batch_other_list(other, action, &res);
	} else {
		/* One change: every entry marked (a block claimed) before any goes. */
		change_begin(a);
		for (size_t i = 0; i < count; i++)
			if (items[i].what == ITEM_REMOVE &&
			    !stage_remove(a, items[i].id, &items[i].c))
				items[i].what = ITEM_SKIP; /* a block that expired meanwhile */
		change_state(a, NETPROBE_CHANGE_COMMITTED);
		a->defer = &d;
		for (size_t i = 0; i < count; i++) {
			if (items[i].what == ITEM_REMOVE) {
				apply_remove(m, items[i].id);
				res.done++;
			} else {
				res.skipped++; /* on no list, or twice in the batch */
			}
		}
		change_end(m, &d);
	}
	acl_unlock(m, lock);
out:
	deferred_free(&d);
	free(items);
	if (result)
		*result = res;
	return err;
}

int netprobe_blacklist_add_many(struct netprobe_manager *m, const char *const *cidrs, size_t count,
				const struct netprobe_acl_batch_opts *opts,
				struct netprobe_acl_batch_result *result)
{
	return acl_add_many(m, NETPROBE_ACL_DENY, cidrs, count, opts, result);
}

int netprobe_allowlist_add_many(struct netprobe_manager *m, const char *const *cidrs, size_t count,
				const struct netprobe_acl_batch_opts *opts,
				struct netprobe_acl_batch_result *result)
{
	return acl_add_many(m, NETPROBE_ACL_ALLOW, cidrs, count, opts, result);
}

int netprobe_blacklist_del_many(struct netprobe_manager *m, const char *const *cidrs, size_t count,
				struct netprobe_acl_batch_result *result)
{
	return acl_del_many(m, NETPROBE_ACL_DENY, cidrs, count, result);
}

int netprobe_allowlist_del_many(struct netprobe_manager *m, const char *const *cidrs, size_t count,
				struct netprobe_acl_batch_result *result)
{
	return acl_del_many(m, NETPROBE_ACL_ALLOW, cidrs, count, result);
}

static int acl_list(struct netprobe_manager *m, enum netprobe_acl_action action, netprobe_acl_fn fn,
		    void *ctx)
{
	__u64 now = mono_ns(), real = real_ns();
	struct np_acl *a;
	int lock, ret = 0;

	if (!m || !m->acl || !fn)
		return -EINVAL;
	a = m->acl;
	lock = acl_lock(m, false);
	if (lock < 0)
		return lock;
	acl_unlock(m, lock);
	for (__u32 id = 1; id < a->max_rules && !ret; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];
		struct netprobe_acl_entry e = {};

		if (!rule_live(r, now) || r->action != action)
			continue;
		e.cidr.family = r->family;
		e.cidr.prefix_len = r->prefix_len;
		memcpy(e.cidr.addr, r->addr, 16);
		netprobe_cidr_str(&e.cidr, e.text, sizeof(e.text));
		e.id = id;
		e.action = r->action;
		e.origin = r->origin;
		e.evidence = r->origin == NETPROBE_ORIGIN_MANUAL ? 0 : r->evidence;
		np_read_percpu_sum(m, m->maps->maps.np_acl_hits, id, &e.hits,
				   sizeof(e.hits)); /* 0 if unread */
		e.ttl_left_ms = r->expires_ns ? (r->expires_ns - now + 999999) / 1000000 : 0;
		e.created_ns = real - (now - r->created_ns);
		ret = fn(&e, ctx);
	}
	return ret;
}

int netprobe_blacklist_add(struct netprobe_manager *m, const char *cidr, unsigned int ttl_s)
{
	return acl_add(m, NETPROBE_ACL_DENY, cidr, ttl_s);
}

int netprobe_blacklist_del(struct netprobe_manager *m, const char *cidr)
{
	return acl_del(m, NETPROBE_ACL_DENY, cidr);
}

int netprobe_blacklist_list(struct netprobe_manager *m, netprobe_acl_fn fn, void *ctx)
{
	return acl_list(m, NETPROBE_ACL_DENY, fn, ctx);
}

int netprobe_allowlist_add(struct netprobe_manager *m, const char *cidr, unsigned int ttl_s)
{
	return acl_add(m, NETPROBE_ACL_ALLOW, cidr, ttl_s);
}

int netprobe_allowlist_del(struct netprobe_manager *m, const char *cidr)
{
	return acl_del(m, NETPROBE_ACL_ALLOW, cidr);
}

int netprobe_allowlist_list(struct netprobe_manager *m, netprobe_acl_fn fn, void *ctx)
{
	return acl_list(m, NETPROBE_ACL_ALLOW, fn, ctx);
}

/*
 * IPv4 deny prefixes covered by a live IPv4 allow prefix with a TTL: when
 * that expires, they apply only after a sweep (SecurityStats sweep_dependent).
 */
static unsigned long long sweep_dependent(const struct np_acl *a, __u64 now)
{
	unsigned long long n = 0;
	__u8 masked[16];

	for (__u32 id = 1; id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];

		/* A block (a /24 aggregate) decides by its own entry, not by the regions. */
		if (!rule_live(r, now) || is_block(a, id) || r->family != NETPROBE_FAMILY_IPV4 ||
		    r->action != NETPROBE_ACL_DENY || r->prefix_len == 0 || r->prefix_len >= 32)
			continue;
		for (int len = r->prefix_len - 1; len >= 0; len--) {
			__u32 cover;

			memcpy(masked, r->addr, 16);
			mask_addr(masked, NETPROBE_FAMILY_IPV4, len);
			cover = index_find(a, NETPROBE_FAMILY_IPV4, len, masked);
			if (cover && rule_live(&a->rules[cover], now) &&
			    a->rules[cover].action == NETPROBE_ACL_ALLOW &&
			    a->rules[cover].expires_ns) {
				n++;
				break;
			}
		}
	}
	return n;
}

/* Entry counts for SecurityStats: deny entries made by hand, blocks, allow entries. */
void np_acl_counts(struct netprobe_manager *m, unsigned long long *deny, unsigned long long *blocks,
		   unsigned long long *allow, unsigned long long *capacity,
		   unsigned long long *sweep_waiting)
{
	struct np_acl *a = m->acl;
	__u64 now = mono_ns();

	*deny = *blocks = *allow = 0;
	*capacity = a ? a->block_first - 1 : 0;
	*sweep_waiting = 0;
	if (a) {
		/* The index is rebuilt by whichever thread sweeps (the event reader, say). */
		pthread_mutex_lock(&a->lock);
		*sweep_waiting = sweep_dependent(a, now);
		pthread_mutex_unlock(&a->lock);
	}
	for (__u32 id = 1; a && id < a->max_rules; id++) {
		const struct netprobe_acl_rule *r = &a->rules[id];

		if (!rule_live(r, now))
			continue;
		if (r->action == NETPROBE_ACL_ALLOW)
			(*allow)++;
		else if (r->origin == NETPROBE_ORIGIN_MANUAL)
			(*deny)++;
		else
			(*blocks)++;
	}
}
