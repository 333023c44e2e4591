/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layer 2, the pinned state: the manager every layer is handed, the maps,
 * pins, the pin path's one lock, and the state's meta. Calls config, base.
 *
 * Locking, in this order: a feature's own mutex (the lists', the load
 * balancer's), then the pin path's lock (PIN/lock, an flock), which
 * attach, detach, update_config, list and service changes and sweeps take
 * (np_lock; np_state_lock for a change that must reach this state's
 * datapath). No code holds two features' mutexes. The clock's mutex and the
 * event pipeline's queue lock are leaves: nothing is taken under them.
 */
#ifndef NP_STATE_H
#define NP_STATE_H

#include <pthread.h>
#include "config/config.h"

struct netprobe_bpf;
struct bpf_map;
struct np_events;
struct np_acl;
struct np_lb;

#define NP_MAX_HANDLERS 32

struct np_handler {
	unsigned int mask;
	netprobe_event_fn fn;
	void *ctx;
};

/* What housekeeping (housekeeping.c) keeps between its runs. */
struct np_housekeeping {
	bool started;
	__u64 next_expiry_ns, next_sweep_ns, next_report_ns; /* CLOCK_MONOTONIC */
	__u64 report_ns;				     /* when prev was read */
	struct netprobe_global_stats prev;
};

/* The manager: every layer is handed it, each keeping its own part. */
struct netprobe_manager {
	/*
	 * Settings by lifetime (config.h): the state's, whose sizes and pin
	 * path are fixed once loaded (load may take the sizes from the pinned
	 * state); what attach, events_start and housekeeping use when not
	 * handed their own. update_config replaces them all, refusing a
	 * change to a fixed size or the pin path.
	 */
	struct np_config_parts opts;
	/* The maps-only copy of the object: owns the map fds every attach reuses. */
	struct netprobe_bpf *maps;
	/* the pinned state's meta (np_acl_meta), mapped into memory (state.c) */
	struct netprobe_acl_meta *meta;
	size_t meta_len;
	/* netprobe_emit_test, loaded on first use: it needs bpf_loop (5.17+) */
	struct netprobe_bpf *test_emitter;
	/* netprobe_emit_flow_ends, loaded when housekeeping first expires a flow */
	struct netprobe_bpf *flow_end_emitter;
	int ncpus;
	/* jiffies -> CLOCK_MONOTONIC, measured on first use (clock.c); the event
	 * threads convert too, so sampling is serialised */
	pthread_mutex_t clock_lock;
	bool clock_ready;
	double ns_per_jiffy;
	__u64 ref_jiffies, ref_mono_ns;
	long long real_offset; /* CLOCK_REALTIME - CLOCK_MONOTONIC, ns */
	__u64 real_offset_at;  /* CLOCK_MONOTONIC_COARSE when it was read; 0: never */
	/* the lists' tables, mapped into memory (acl.c) */
	struct np_acl *acl;
	/* the load balancer's tables, mapped into memory (lb.c) */
	struct np_lb *lb;
	/* the event pipeline (events.c), NULL until started */
	struct np_events *events;
	struct np_handler handlers[NP_MAX_HANDLERS];
	int nhandlers;
	netprobe_report_fn report_fn;
	void *report_ctx;
	netprobe_flow_end_fn flow_end_fn; /* each flow expiry removes (an exporter's last count) */
	void *flow_end_ctx;
	netprobe_flow_fn
		flow_walk_fn; /* each flow housekeeping's walk reads (an exporter's timers) */
	void *flow_walk_ctx;
	struct np_housekeeping hk;
	unsigned long long flows_expired; /* by this manager (housekeeping, expire_flows) */
	unsigned long long
		flows_walked; /* in the table after its last walk, plus 1 (0: none yet) */
	/* userspace event counts of pipelines that have stopped */
	struct netprobe_event_stats events_final;
};

/* state.c */
/* Opens the pinned state (bpffs, pin directories, maps, meta); np_state_close undoes it. */
int np_state_open(struct netprobe_manager *m);
void np_state_close(struct netprobe_manager *m);
/* np_state_close after a failed load: empty pin directories go too. */
void np_state_abandon(struct netprobe_manager *m);
/* Maps a BPF_F_MMAPABLE array map into memory; *len is set to its size. NULL on error. */
void *np_map_mmap(const struct bpf_map *map, size_t *len);
int np_pin_state(struct netprobe_manager *m);
void np_unpin_state(struct netprobe_manager *m);
/*
 * The pin path's lock (PIN/lock, made with the pin directory if missing):
 * its fd, -EWOULDBLOCK when another process held it for lock_timeout_ms
 * (the holder logged), -NETPROBE_ERR_PIN_UNTRUSTED when the pin path is
 * not trusted.
 */
int np_lock(const struct netprobe_manager *m);
int np_lock_within(const struct netprobe_manager *m, unsigned int timeout_ms, bool quiet);
/* Releases the lock; a pin directory left holding nothing but it goes first. */
void np_unlock(const struct netprobe_manager *m, int lock_fd);
/*
 * np_lock for a change to the pinned state (lists, services): -ESTALE when
 * another netprobe replaced the state since this manager loaded it (the
 * change would reach no datapath); with pin, the state is pinned again if
 * the last detach removed it. Returns the lock's fd.
 */
int np_state_lock(struct netprobe_manager *m, bool pin);
/* np_state_lock waiting at most timeout_ms (0: one try), quiet: not logging a busy lock. */
int np_state_lock_within(struct netprobe_manager *m, bool pin, unsigned int timeout_ms, bool quiet);
/* Whether map name is not pinned, or pinned as this manager's own (not replaced since). */
bool np_pinned_here(const struct netprobe_manager *m, const char *name);
unsigned long long np_current_netns(void);
/*
 * Whether a bpffs at dir (or the one netprobe would mount there) belongs to
 * this process's own mount namespace, not the host's (ip netns exec): pins
 * there go with the namespace. load refuses such a pin path.
 */
bool np_bpffs_private(const char *dir);
/* The ring buffer's single consumer: a lock on the pin directory. */
int np_consumer_lock(const struct netprobe_manager *m);
bool np_events_consumer_elsewhere(const struct netprobe_manager *m);
/* Facts kept in the meta, set once for the pinned state: the hash seed, the IPv6 prefix. */
__u32 np_state_hash_seed(struct netprobe_manager *m);
__u32 np_state_v6_prefix(struct netprobe_manager *m, __u32 want);

/* maps.c: per-CPU values summed and zeroed, the per-interface counters */
int np_read_percpu_sum(const struct netprobe_manager *m, const struct bpf_map *map, __u32 key,
		       void *sum, size_t size);
int np_zero_percpu(const struct netprobe_manager *m, const struct bpf_map *map, __u32 key,
		   size_t size);
int np_read_slot_counters(const struct netprobe_manager *m, unsigned int slot,
			  struct netprobe_counters *sum);
int np_zero_slot_counters(const struct netprobe_manager *m, unsigned int slot);

/* clock.c: jiffies (the datapath's clock) against CLOCK_MONOTONIC */
int np_now_jiffies(struct netprobe_manager *m, __u64 *jiffies);
double np_ns_per_jiffy(struct netprobe_manager *m);

#endif /* NP_STATE_H */
