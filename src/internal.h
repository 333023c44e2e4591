/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the library's source files share; nothing here is public. */
#ifndef NETPROBE_INTERNAL_H
#define NETPROBE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <netprobe/netprobe.h>
#include "maglev.h"

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
	__u64 next_expiry_ns, next_report_ns; /* CLOCK_MONOTONIC */
	__u64 report_ns;		      /* when prev was read */
	struct netprobe_global_stats prev;
};

struct netprobe_manager {
	struct netprobe_config cfg;
	/* The maps-only copy of the object: owns the map fds every attach reuses. */
	struct netprobe_bpf *maps;
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
	struct np_housekeeping hk;
	unsigned long long flows_expired; /* by this manager (housekeeping, expire_flows) */
	/* userspace event counts of pipelines that have stopped */
	struct netprobe_event_stats events_final;
};

/*
 * Opts structs with sz, as libbpf's OPTS_VALID: NULL, an older caller's
 * smaller struct, or a newer caller's larger one whose unknown tail is
 * zero. A field past the caller's sz reads as its default.
 */
bool np_opts_valid_sz(const void *opts, size_t user_sz, size_t known_sz, const char *type);
#define np_opts_valid(opts, known_sz)                                                              \
	(!(opts) || np_opts_valid_sz((opts), (opts)->sz, (known_sz), #opts))
#define NP_OPTS_HAS(opts, field)                                                                   \
	((opts) && (opts)->sz >= offsetof(typeof(*(opts)), field) + sizeof((opts)->field))
#define NP_OPTS_GET(opts, field, fallback) (NP_OPTS_HAS(opts, field) ? (opts)->field : (fallback))

/* log.c */
void np_log(enum netprobe_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define np_err(...)   np_log(NETPROBE_LOG_ERROR, __VA_ARGS__)
#define np_warn(...)  np_log(NETPROBE_LOG_WARN, __VA_ARGS__)
#define np_info(...)  np_log(NETPROBE_LOG_INFO, __VA_ARGS__)
#define np_debug(...) np_log(NETPROBE_LOG_DEBUG, __VA_ARGS__)
void np_log_install_libbpf(void);

/* manager.c */
int np_validate_config(const struct netprobe_config *cfg);
/* Maps a BPF_F_MMAPABLE array map into memory; *len is set to its size. NULL on error. */
void *np_map_mmap(const struct bpf_map *map, size_t *len);
int np_pin_state(struct netprobe_manager *m);
void np_unpin_state(struct netprobe_manager *m);
/*
 * The pin path's lock (PIN/lock, made with the pin directory if missing):
 * its fd, -EWOULDBLOCK when another process held it for lock_timeout_ms
 * (the holder logged), -NETPROBE_ERR_PIN_UNTRUSTED when the pin path is not trusted.
 */
int np_lock(const struct netprobe_manager *m);
int np_lock_within(const struct netprobe_manager *m, unsigned int timeout_ms, bool quiet);
/* Releases the lock; a pin directory left holding nothing but it goes first. */
void np_unlock(const struct netprobe_manager *m, int lock_fd);
unsigned long long np_current_netns(void);
int np_consumer_lock(const struct netprobe_manager *m);
bool np_events_consumer_elsewhere(const struct netprobe_manager *m);
bool np_state_unused(const struct netprobe_manager *m);
/*
 * np_lock for a change to the pinned state (lists, services): -ESTALE when
 * another netprobe replaced the state since this manager loaded it (the
 * change would reach no datapath); with pin, the state is pinned again if
 * the last detach removed it. Returns the lock's fd.
 */
int np_state_lock(struct netprobe_manager *m, bool pin);
/* Whether map name is not pinned, or pinned as this manager's own (not replaced since). */
bool np_pinned_here(const struct netprobe_manager *m, const char *name);

/* acl.c */
int np_acl_open(struct netprobe_manager *m);
void np_acl_close(struct netprobe_manager *m);
bool np_acl_has_rules(const struct netprobe_manager *m);
__u32 np_acl_hash_seed(struct netprobe_manager *m);
__u32 np_acl_v6_prefix(struct netprobe_manager *m, __u32 want);
void np_acl_counts(struct netprobe_manager *m, unsigned long long *deny, unsigned long long *blocks,
		   unsigned long long *allow, unsigned long long *capacity,
		   unsigned long long *sweep_waiting);

/* lb.c */
#define NP_LB_MAX_TABLE_SIZE  (1u << 20)
#define NP_LB_MAX_TABLE_BYTES (1u << 30) /* every service's Maglev tables together */
/* Tables a service has in np_lb_ring: the current one and the previous one (abi.h). */
#define NP_LB_TABLES 2
static inline __u32 np_lb_table_chunks(__u32 table_size)
{
	return (table_size + NETPROBE_LB_RING_WORDS - 1) / NETPROBE_LB_RING_WORDS;
}

/*
 * Room a table has in np_lb_ring, in chunks (a service has NP_LB_TABLES of
 * them): for lb_table_size entries, and never less than the default's, so
 * that a first service made with a small table does not cap the ones after
 * it.
 */
static inline __u32 np_lb_ring_chunks(__u32 table_size)
{
	return np_lb_table_chunks(table_size > NP_MAGLEV_DEFAULT_SIZE ? table_size
								      : NP_MAGLEV_DEFAULT_SIZE);
}
int np_lb_open(struct netprobe_manager *m);
void np_lb_close(struct netprobe_manager *m);
bool np_lb_has_services(const struct netprobe_manager *m);
bool np_lb_has_family(const struct netprobe_manager *m, unsigned char family);

/* attach.c */
struct netprobe_bpf *np_open_sharing_maps(const struct netprobe_manager *m);
/* A copy of the object with only program prog_name loaded, for BPF_PROG_RUN; NULL, errno. */
struct netprobe_bpf *np_load_runner(const struct netprobe_manager *m, const char *prog_name);
int np_read_iface(const struct netprobe_manager *m, unsigned int slot,
		  struct netprobe_iface_info *info);
bool np_anything_attached(const struct netprobe_manager *m);
int np_find_iface(const struct netprobe_manager *m, const char *ifname, unsigned int *slot,
		  struct netprobe_iface_info *info);

/* protect.c: adds this host's addresses, gateways and resolvers to np_protected */
int np_protect_refresh(struct netprobe_manager *m);

/* clock.c */
int np_now_jiffies(struct netprobe_manager *m, __u64 *jiffies);
double np_ns_per_jiffy(struct netprobe_manager *m);

/* tc.c: how many filters a clsact hook holds (netlink dump), or -errno */
#define NP_TC_PARENT_INGRESS 0xfffffff2u /* TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS) */
#define NP_TC_PARENT_EGRESS  0xfffffff3u
int np_tc_filter_count(unsigned int ifindex, __u32 parent);

/* stats.c */
int np_read_percpu_sum(const struct netprobe_manager *m, const struct bpf_map *map, __u32 key,
		       void *sum, size_t size);
int np_zero_percpu(const struct netprobe_manager *m, const struct bpf_map *map, __u32 key,
		   size_t size);
int np_read_slot_counters(const struct netprobe_manager *m, unsigned int slot,
			  struct netprobe_counters *sum);
int np_zero_slot_counters(const struct netprobe_manager *m, unsigned int slot);

#endif /* NETPROBE_INTERNAL_H */
