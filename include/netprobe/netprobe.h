/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libnetprobe: eBPF network monitoring for programs that embed netprobe.
 *
 * Conventions (those of libbpf):
 *  - handles are opaque; functions that return int return 0 or a negative
 *    errno; constructors return NULL and set errno;
 *  - the library never prints: set a log callback with netprobe_set_log();
 *  - destructors accept NULL;
 *  - a manager is used by one thread at a time (callers serialise), except
 *    where a function says otherwise.
 *
 * A minimal program (the seed's quick start):
 *
 *	struct netprobe_manager *m = netprobe_manager_new(NULL);
 *	if (!m || netprobe_manager_load(m) || netprobe_manager_attach(m, "eth0"))
 *		goto fail;
 *	sleep(30);
 *	struct netprobe_global_stats st;
 *	char line[256];
 *	netprobe_manager_global_stats(m, &st);
 *	netprobe_global_stats_format(&st, line, sizeof(line));
 *	netprobe_manager_free(m);	// the datapath stays attached (pinned)
 *
 * Attachments outlive the process that made them: their links and maps are
 * pinned under the config's pin path, and every manager opened on the same
 * pin path sees and controls them (this is how the netprobe command works).
 * Changes to that state (attach, detach, update_config, list and service
 * changes, sweeps) take the pin path's lock, PIN/lock, which only the owner
 * can open; each of them returns -EWOULDBLOCK when another process held it
 * for the config's lock_timeout_ms (the holder's pid is logged).
 */
#ifndef NETPROBE_NETPROBE_H
#define NETPROBE_NETPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <netprobe/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NETPROBE_API __attribute__((visibility("default")))

#define NETPROBE_DEFAULT_PIN_PATH     "/sys/fs/bpf/netprobe"
#define NETPROBE_PIN_PATH_MAX	      200
#define NETPROBE_DEFAULT_FLOW_ENTRIES 65536
#define NETPROBE_DEFAULT_ACL_RULES    131072

/* ---- Logging --------------------------------------------------------- */

enum netprobe_log_level {
	NETPROBE_LOG_ERROR = 0,
	NETPROBE_LOG_WARN,
	NETPROBE_LOG_INFO,
	NETPROBE_LOG_DEBUG, /* includes libbpf's own messages */
};

typedef void (*netprobe_log_fn)(enum netprobe_log_level level, const char *msg, void *ctx);

/*
 * Sets the process-wide log callback (NULL: log nothing, the default) and the
 * most verbose level passed to it. Call it before anything else; later, with
 * the same fn and ctx, only to change the level (safe while other threads log).
 */
NETPROBE_API void netprobe_set_log(netprobe_log_fn fn, enum netprobe_log_level max_level,
				   void *ctx);

/* ---- Errors ------------------------------------------------------------ */

/*
 * netprobe's own errors, returned negated like errno values, for failures
 * a caller must tell apart from another that would share an errno. Every
 * function documents which it returns.
 */
enum netprobe_error {
	NETPROBE_ERR_BASE = 6000,
	/* The prefix is on the other list (add: remove it there first). */
	NETPROBE_ERR_OTHER_LIST = NETPROBE_ERR_BASE,
	/* The kernel refused the programs: its verifier's log is logged at debug level. */
	NETPROBE_ERR_PROG_REFUSED,
	/* The pin path, or something under it, could be changed by another user. */
	NETPROBE_ERR_PIN_UNTRUSTED,
	/* The pin path's bpffs goes with this process's own mount namespace. */
	NETPROBE_ERR_PIN_PRIVATE,
	NETPROBE_ERR_END,
};

/* What err (an errno or a netprobe_error, negated or not) means; never NULL. Thread-safe. */
NETPROBE_API const char *netprobe_strerror(int err);

/* ---- Configuration (the seed's ManagerConfig) -------------------------- */

/* An address or prefix (netprobe_cidr_parse). */
struct netprobe_cidr {
	unsigned char family; /* enum netprobe_family */
	unsigned char prefix_len;
	unsigned char addr[16]; /* network order; IPv4 in the first four bytes */
};

enum netprobe_xdp_attach_mode {
	NETPROBE_XDP_ATTACH_AUTO = 0, /* native where the driver has it, else generic */
	NETPROBE_XDP_ATTACH_NATIVE,
	NETPROBE_XDP_ATTACH_GENERIC,
};

enum netprobe_tc_attach_mode {
	NETPROBE_TC_ATTACH_AUTO = 0, /* tcx where the kernel has it, else clsact */
	NETPROBE_TC_ATTACH_TCX,
	NETPROBE_TC_ATTACH_CLSACT,
};

/*
 * One detection of the filter mode. threshold is packets a second for the
 * floods, distinct destination ports within the window for port_scan, and
 * the percentage of the learned baseline for rate_anomaly (1000 = 10x).
 * Each raises at most one event per source (or destination) per window.
 */
struct netprobe_detection {
	bool enabled;
	unsigned int threshold;
	unsigned int window_ms;
};

struct netprobe_config {
	size_t sz; /* sizeof(struct netprobe_config); set by netprobe_config_default() */
	enum netprobe_xdp_program xdp_mode; /* the seed's XDPMode */
	enum netprobe_xdp_attach_mode xdp_attach_mode;
	enum netprobe_tc_attach_mode tc_attach_mode;
	/*
	 * Events (the seed's switches). Flow-start events need
	 * enable_detailed_events and the switch of the hook that sees the flow
	 * (XDP: ingress, TC: egress). Set at attach: re-attach to change them.
	 */
	bool enable_xdp_events;
	bool enable_tc_events;
	bool enable_detailed_events;
	bool enable_security_alerts;	      /* for the filter mode */
	unsigned int detailed_events_per_sec; /* flow starts a second per CPU, at most */
	unsigned int batch_size;	      /* events handed to a handler at once, at most */
	unsigned int batch_timeout_ms;	      /* a batch that is not full goes out after this */
	unsigned int event_workers;	      /* threads that run the handlers */
	unsigned int event_queue_batches; /* batches waiting for workers before events are lost */
	unsigned int ring_buffer_size;	  /* bytes, a power of two, 4 KiB..2 GiB */
	unsigned int stats_report_interval_ms; /* 0: no periodic report */
	unsigned int flow_idle_timeout_ms;     /* 0: flows leave only when the table is full */
	/* Flow table capacity; an existing pinned table keeps its own size. */
	unsigned int flow_table_size;
	/* bpffs directory for maps and links; must be on a bpf filesystem. */
	char pin_path[NETPROBE_PIN_PATH_MAX];

	/* ---- Filter mode (the seed's XDPAdvancedFilter); applied at attach ---- */
	struct netprobe_detection syn_flood, udp_flood, icmp_flood; /* from one source */
	/*
	 * Also from one source: TCP segments of no connection (resets, and
	 * what this host answered with a reset: ACK, SYN-ACK, FIN floods), and
	 * packets of other IP protocols (GRE, ESP, ...) this host did not ask.
	 */
	struct netprobe_detection tcp_flood, other_flood;
	struct netprobe_detection syn_flood_dst, udp_flood_dst, icmp_flood_dst; /* to one host */
	struct netprobe_detection port_scan;
	unsigned int port_scan_hosts; /* distinct hosts probed within the window: also a scan */
	struct netprobe_detection rate_anomaly;
	unsigned int rate_anomaly_floor_pps;	 /* no anomaly below this many packets a second */
	unsigned int rate_anomaly_learn_windows; /* windows learned before the first alert */
	/*
	 * Mitigation: a per-source detection blocks its source for
	 * mitigation_ttl_s, if the source completed a handshake with this host
	 * in the last 10 s (it receives what this host sends there: its
	 * address is not spoofed). With mitigation_unproven, also
	 * sources that proved nothing, on evidence anyone can spoof: for
	 * networks whose sources cannot be spoofed (BCP 38 upstream, a lab).
	 * Special addresses, this host's, its gateways, resolvers and peers,
	 * and the allow list are never blocked.
	 */
	bool mitigation;
	bool mitigation_unproven;
	unsigned int mitigation_ttl_s;
	unsigned int mitigation_max_blocks; /* blocks live at once (part of acl_max_rules) */
	/*
	 * IPv6 sources are counted and blocked by this prefix, 32..128 (64:
	 * a host picks any address of its /64 at will, and rotating through
	 * them must not reset its counts). A prefix that holds an address
	 * mitigation never blocks is not blocked.
	 */
	unsigned int ipv6_source_prefix;
	unsigned int security_alerts_per_sec; /* per CPU, at most; more are counted, not sent */
	/* List capacity (both lists and blocks); an existing pinned table keeps its own. */
	unsigned int acl_max_rules;
	unsigned int acl_v4_groups; /* IPv4 /24s that may hold /25-/31 entries */

	/* ---- Load balancer mode (the seed's XDPLoadBalancer) ---- */
	/*
	 * Unwrap IP-in-IP and IPv6-in-IPv6 packets on arrival, in any mode: for
	 * the backends of a netprobe load balancer. Only tunnels whose outer
	 * source is in decap_from (at least one prefix: the load balancers) and
	 * whose outer destination is in decap_to (none: any) are unwrapped, and
	 * in filter mode only after the outer packet passed the lists; the inner
	 * packet meets the lists and the detections. Applied at attach.
	 */
	bool decap;
	struct netprobe_cidr decap_from[NETPROBE_DECAP_MAX];
	unsigned int decap_from_count;
	struct netprobe_cidr decap_to[NETPROBE_DECAP_MAX];
	unsigned int decap_to_count;
	/* Capacity; an existing pinned table keeps its own (as for the lists). */
	unsigned int lb_max_services; /* virtual services */
	unsigned int lb_max_backends; /* backends of every service together */
	/*
	 * Maglev table entries of a new service, a prime. The pinned state has
	 * room for the larger of this and 65537 a service, fixed when it is
	 * made; a service keeps the size it was made with. A service has two
	 * tables (the current one, and the previous one for its draining
	 * backends): lb_max_services x 2 x that x 4 bytes, 1 GiB at most.
	 */
	unsigned int lb_table_size;
	unsigned int lb_conn_table_size; /* flows remembered (LRU) */
	/*
	 * How long each CPU reuses the route to a backend (egress, MAC
	 * addresses) before it looks it up again; 0: on every packet. A route
	 * or neighbour change reaches a backend's packets after at most this.
	 * Applied at attach.
	 */
	unsigned int lb_route_cache_ms;

	/* ---- The pinned state ---- */
	/*
	 * How long a change (attach, detach, list and service changes, sweeps)
	 * waits for another process's change of the same pin path to end; then
	 * it fails with -EWOULDBLOCK and the holder is logged. 0: one try.
	 */
	unsigned int lock_timeout_ms;
};

/* Fills cfg with the defaults (the seed's DefaultManagerConfig). */
NETPROBE_API void netprobe_config_default(struct netprobe_config *cfg);

/*
 * The detection of cfg called name (the first name_len bytes): one of the
 * NETPROBE_CONFIG_DETECTIONS names netprobe_config_detection_name gives
 * (syn_flood, udp_flood, icmp_flood, tcp_flood, other_flood, syn_flood_dst,
 * udp_flood_dst, icmp_flood_dst, port_scan, rate_anomaly). NULL for any
 * other name.
 */
NETPROBE_API struct netprobe_detection *
netprobe_config_detection(struct netprobe_config *cfg, const char *name, size_t name_len);

/* The name of the config's i-th detection (its order in netprobe_iface_settings); NULL past them. */
NETPROBE_API const char *netprobe_config_detection_name(unsigned int i);

/*
 * A numeric setting's range, for programs that take settings from their
 * users (a command line, a config file) and say what is allowed before
 * they call in: name is a netprobe_config field (the same in the opts
 * below), or "detection_threshold" and "detection_window_ms" for a struct
 * netprobe_detection's. Validation uses this same table; conditions beyond
 * a range (a prime, a power of two, a relation to another setting) are
 * checked by the calls that take the setting. NULL for any other name.
 */
struct netprobe_setting_range {
	const char *name;
	unsigned long long min, max;
	const char *unit; /* "ms", "s", "entries", "bytes", "a second", ... */
};
NETPROBE_API const struct netprobe_setting_range *netprobe_config_range(const char *name);

/* ---- Settings by lifetime (libbpf's opts) -------------------------------- */

/*
 * struct netprobe_config holds every setting in one struct, as the seed's
 * ManagerConfig did. The library keeps them by how long they live, in the
 * opts below, and a program that runs long (a daemon with interfaces in
 * different modes) uses these directly:
 *  - netprobe_state_opts: where the pinned state lives and the sizes it is
 *    made with; fixed for a manager (netprobe_manager_new_opts);
 *  - netprobe_attach_opts: one interface's mode and settings, kept in the
 *    pinned state while it is attached (netprobe_manager_attach_opts,
 *    netprobe_manager_iface_opts);
 *  - netprobe_events_opts: the event pipeline's, copied when it starts
 *    (netprobe_manager_events_start_opts);
 *  - netprobe_housekeeping_opts: the periodic work's
 *    (netprobe_manager_set_housekeeping);
 *  - netprobe_lb_service_opts: one service's (netprobe_lb_service_add_opts).
 * Each starts with sz, as libbpf's opts do. Fill one with its _default()
 * function, passing sizeof your struct, then change what you need: a
 * program built against an older, smaller struct gets the defaults for the
 * fields it does not know, and a newer, larger struct is accepted when the
 * fields this library does not know hold zero (-EINVAL otherwise).
 */

/* The pinned state: its place, and the sizes of the tables it is made with. */
struct netprobe_state_opts {
	size_t sz;
	/* bpffs directory for maps and links; must be on a bpf filesystem. */
	char pin_path[NETPROBE_PIN_PATH_MAX];
	/* Capacities, used when the state is made; an existing pinned state keeps its own. */
	unsigned int flow_table_size;
	unsigned int ring_buffer_size;	    /* bytes, a power of two, 4 KiB..2 GiB */
	unsigned int acl_max_rules;	    /* both lists and the blocks */
	unsigned int acl_v4_groups;	    /* IPv4 /24s that may hold /25-/31 entries */
	unsigned int mitigation_max_blocks; /* blocks live at once (part of acl_max_rules) */
	unsigned int lb_max_services;
	unsigned int lb_max_backends; /* of every service together */
	unsigned int lb_table_size;   /* a new service's Maglev table, a prime */
	unsigned int lb_conn_table_size;
	/* How long a change waits for another process's change to end; 0: one try. */
	unsigned int lock_timeout_ms;
	size_t : 0;
};

/*
 * One interface's settings: netprobe_config's fields of the same names
 * (documented there), without the sizes, events pipeline and housekeeping.
 */
struct netprobe_attach_opts {
	size_t sz;
	enum netprobe_xdp_program xdp_mode;
	enum netprobe_xdp_attach_mode xdp_attach_mode;
	enum netprobe_tc_attach_mode tc_attach_mode;
	bool enable_xdp_events;
	bool enable_tc_events;
	bool enable_detailed_events;
	bool enable_security_alerts;
	unsigned int detailed_events_per_sec;
	unsigned int security_alerts_per_sec;
	struct netprobe_detection syn_flood, udp_flood, icmp_flood, tcp_flood, other_flood;
	struct netprobe_detection syn_flood_dst, udp_flood_dst, icmp_flood_dst;
	struct netprobe_detection port_scan;
	unsigned int port_scan_hosts;
	struct netprobe_detection rate_anomaly;
	unsigned int rate_anomaly_floor_pps;
	unsigned int rate_anomaly_learn_windows;
	bool mitigation;
	bool mitigation_unproven;
	unsigned int mitigation_ttl_s;
	unsigned int ipv6_source_prefix;
	bool decap;
	struct netprobe_cidr decap_from[NETPROBE_DECAP_MAX];
	unsigned int decap_from_count;
	struct netprobe_cidr decap_to[NETPROBE_DECAP_MAX];
	unsigned int decap_to_count;
	unsigned int lb_route_cache_ms;
	size_t : 0;
};

/* The event pipeline's: netprobe_config's fields of the same names. */
struct netprobe_events_opts {
	size_t sz;
	unsigned int batch_size;
	unsigned int batch_timeout_ms;
	unsigned int event_workers;
	unsigned int event_queue_batches;
	size_t : 0;
};

/* Housekeeping's: netprobe_config's fields of the same names. */
struct netprobe_housekeeping_opts {
	size_t sz;
	unsigned int flow_idle_timeout_ms;     /* 0: flows leave only when the table is full */
	unsigned int stats_report_interval_ms; /* 0: no periodic report */
	size_t : 0;
};

/*
 * Fill the first sz bytes of opts (sz: sizeof your struct) with the
 * defaults, netprobe_config_default's, and set opts->sz to sz.
 */
NETPROBE_API void netprobe_state_opts_default(struct netprobe_state_opts *opts, size_t sz);
NETPROBE_API void netprobe_attach_opts_default(struct netprobe_attach_opts *opts, size_t sz);
NETPROBE_API void netprobe_events_opts_default(struct netprobe_events_opts *opts, size_t sz);
NETPROBE_API void netprobe_housekeeping_opts_default(struct netprobe_housekeeping_opts *opts,
						     size_t sz);

/*
 * Whether opts would be accepted, checked as attach does before it touches
 * anything (the reason logged): for a caller that validates a whole
 * configuration first. 0 or -EINVAL.
 */
NETPROBE_API int netprobe_attach_opts_validate(const struct netprobe_attach_opts *opts);

/* The detection of opts called name (as netprobe_config_detection). */
NETPROBE_API struct netprobe_detection *
netprobe_attach_opts_detection(struct netprobe_attach_opts *opts, const char *name,
			       size_t name_len);

/* ---- Manager ----------------------------------------------------------- */

struct netprobe_manager;
struct netprobe_iface; /* below, with the interfaces */

/* cfg NULL means the defaults. Touches no kernel state. */
NETPROBE_API struct netprobe_manager *netprobe_manager_new(const struct netprobe_config *cfg);

/*
 * A manager on the pinned state opts describes (NULL: the defaults); what
 * it attaches with netprobe_manager_attach, its event pipeline and its
 * housekeeping get their defaults. Touches no kernel state. NULL, errno
 * EINVAL, for opts that are not valid (the reason logged).
 */
NETPROBE_API struct netprobe_manager *
netprobe_manager_new_opts(const struct netprobe_state_opts *opts);

/*
 * The seed's LoadNetworkMonitor: mounts bpffs if needed, then creates the
 * pinned maps or opens those a previous netprobe left. Programs are loaded
 * and verified per interface, at attach, specialised for its slot and mode.
 * The pin directory and links/ are made 0700. Errors:
 * -NETPROBE_ERR_PIN_UNTRUSTED the pin path is not netprobe's owner's alone:
 * a directory above it belongs to another user than root and the caller's
 * euid or is writable by others without the sticky bit, or the pin
 * directory, links/ or a pin in them belongs to another user or is
 * writable by group or others, or a symlink is on the way (logged: which,
 * its owner and mode, and what to do); -EPERM not privileged; -ENOTDIR the
 * pin path is not on bpffs; -NETPROBE_ERR_PIN_PRIVATE we run in a mount
 * namespace of our own (ip netns exec makes one) and the pin path's bpffs
 * is not one the host has mounted, or there is none and the one we would
 * mount would go with the namespace, and the attachments with it; -EINVAL
 * the maps pinned there are another version's.
 */
NETPROBE_API int netprobe_manager_load(struct netprobe_manager *m);

/*
 * Attaches the XDP program (config xdp_mode) and the TC ingress and egress
 * programs to ifname, in the calling thread's network namespace. Callable for
 * several interfaces. On an interface netprobe already holds, it applies the
 * config live instead: new programs replace the old through the same links
 * (bpf_link_update), so a mode switch never leaves the hook empty and
 * counters, flows and lists carry on. Errors: -ENODEV no such interface,
 * -EBUSY another XDP program is there (or, on a held interface, the config
 * asks for the other XDP attach mode, or the other TC attach kind: detach
 * first), -ENOSPC all
 * NETPROBE_MAX_IFACES slots are taken, -EPERM not privileged, -ESTALE the
 * pinned state was replaced since load (open a new manager), -EXDEV the
 * interface is held from another network namespace,
 * -NETPROBE_ERR_PROG_REFUSED the kernel refused the programs (the
 * verifier's log at debug level), -NETPROBE_ERR_PIN_UNTRUSTED the pin path
 * is not the owner's alone (checked again; as for load), -EWOULDBLOCK the
 * pin path's lock stayed held for lock_timeout_ms. On error nothing is left
 * attached.
 */
NETPROBE_API int netprobe_manager_attach(struct netprobe_manager *m, const char *ifname);

/*
 * netprobe_manager_attach with ifname's own settings (NULL: the manager's
 * config): interfaces attached this way each keep theirs, one in filter
 * mode next to one in monitor mode. On an interface netprobe holds, opts
 * replace its settings live, whole. Errors as for attach, and -EINVAL for
 * opts that are not valid (the reason logged).
 */
NETPROBE_API int netprobe_manager_attach_opts(struct netprobe_manager *m, const char *ifname,
					      const struct netprobe_attach_opts *opts);

/*
 * Changes the settings in force on ifname, an interface netprobe holds, under
 * the pin path's lock: fn gets them (as netprobe_manager_iface_opts gives
 * them, sz the library's) and changes what it means to; a non-zero return
 * aborts with that value, nothing changed. Then they are validated and
 * applied live as netprobe_manager_attach_opts does. Two processes that each
 * change one setting of the same interface at once both get theirs: none
 * reads what the other is about to replace. -ENOENT not attached here,
 * -ENODATA attached by a netprobe that kept no settings (attach it with
 * opts), fn's error, or attach's.
 */
typedef int (*netprobe_attach_edit_fn)(struct netprobe_attach_opts *opts, void *ctx);
NETPROBE_API int netprobe_manager_attach_edit(struct netprobe_manager *m, const char *ifname,
					      netprobe_attach_edit_fn fn, void *ctx);

/*
 * Detaches from ifname (NULL: every interface of this pin path, in any
 * namespace), removing exactly what attach added. An interface deleted
 * since is found by the name it had, in any namespace. -ENOENT when
 * netprobe is not attached there, -ENODEV no such interface (and none
 * netprobe held was deleted), -EXDEV an interface of another namespace
 * attached with clsact (its filters are reached from there only). The pinned state is removed when nothing uses it any
 * more: nothing attached, no list entry, no service, no event reader.
 */
NETPROBE_API int netprobe_manager_detach(struct netprobe_manager *m, const char *ifname);

/*
 * Detaches was->name only if it is as it was when the caller looked (was
 * from netprobe_manager_iface, settings from netprobe_manager_iface_opts):
 * attached at the same time, with the same settings. Looked at and detached
 * under the pin path's lock, so that an attach or a switch by another
 * process between the look and the detach is never undone: for a program
 * that attached for a while (monitor) and goes. -ECANCELED when it
 * changed (it stays attached); else as netprobe_manager_detach.
 */
NETPROBE_API int netprobe_manager_detach_unchanged(struct netprobe_manager *m,
						   const struct netprobe_iface *was,
						   const struct netprobe_attach_opts *settings);

/*
 * Frees the manager (the seed's Close). Attachments stay; pinned state that
 * nothing uses (as for detach) is removed. NULL-safe.
 */
NETPROBE_API void netprobe_manager_free(struct netprobe_manager *m);

NETPROBE_API int netprobe_manager_get_config(const struct netprobe_manager *m,
					     struct netprobe_config *out);

/*
 * The seed's UpdateConfig: takes cfg and applies it live to every interface
 * of this pin path in the caller's namespace, as netprobe_manager_attach
 * does for one. Sizes fixed at load (pin_path, flow_table_size,
 * ring_buffer_size, acl_max_rules, acl_v4_groups, lb_max_services,
 * lb_max_backends, lb_table_size, lb_conn_table_size) cannot change:
 * -EINVAL; load may have taken them from the pinned state, so start from
 * netprobe_manager_get_config. The event pipeline keeps the settings it
 * started with.
 */
NETPROBE_API int netprobe_manager_update_config(struct netprobe_manager *m,
						const struct netprobe_config *cfg);

/* ---- Interfaces -------------------------------------------------------- */

struct netprobe_iface {
	char name[NETPROBE_IFNAMSIZ];
	unsigned int ifindex;
	unsigned int slot;
	enum netprobe_xdp_program xdp_mode;
	bool xdp_generic; /* attached in generic (skb) mode */
	bool decap;	  /* unwraps IP-in-IP and IPv6-in-IPv6 (config decap) */
	enum netprobe_tc_attach tc_attach;
	unsigned long long attached_at_ns; /* CLOCK_REALTIME */
	bool in_current_netns;		   /* ifindex is valid in the caller's namespace */
	unsigned long long netns_ino; /* its network namespace (the inode of /proc/PID/ns/net) */
	bool gone;		      /* the interface was deleted; detach it to free its slot */
};

typedef int (*netprobe_iface_fn)(const struct netprobe_iface *iface, void *ctx);

/* Calls fn for each attached interface; a non-zero return stops and is returned. */
NETPROBE_API int netprobe_manager_foreach_iface(struct netprobe_manager *m, netprobe_iface_fn fn,
						void *ctx);

/*
 * The name `ip netns` gives the network namespace netns_ino (a struct
 * netprobe_iface's), the one under /run/netns, into buf; -ENOENT when it
 * has none there, buf then "net:[INODE]". -EINVAL no buffer.
 */
NETPROBE_API int netprobe_netns_name(unsigned long long netns_ino, char *buf, size_t len);

/* Fills out for ifname in the caller's namespace; -ENOENT if not attached. */
NETPROBE_API int netprobe_manager_iface(struct netprobe_manager *m, const char *ifname,
					struct netprobe_iface *out);

/*
 * The config an interface was attached with, as in force there (kept in the
 * pinned state: any process reads it): mode, events, detections with their
 * thresholds and windows, mitigation, decap, the XDP and TC attach modes
 * asked, the lb route cache; the rest of out is the manager's own config.
 * -ENOENT when iface is no longer attached, -ENODATA when it was attached
 * by an older netprobe that kept none (attach it again).
 */
NETPROBE_API int netprobe_manager_iface_config(struct netprobe_manager *m,
					       const struct netprobe_iface *iface,
					       struct netprobe_config *out);

/*
 * The same settings as attach opts: out->sz says how much of out to fill
 * (set it with netprobe_attach_opts_default). Errors as iface_config.
 */
NETPROBE_API int netprobe_manager_iface_opts(struct netprobe_manager *m,
					     const struct netprobe_iface *iface,
					     struct netprobe_attach_opts *out);

/* ---- Statistics (the seed's GlobalStats and GetNetworkStats) ------------ */

struct netprobe_global_stats {
	unsigned long long rx_packets; /* seen by XDP: every received frame */
	unsigned long long rx_bytes;   /* L2 frame bytes, without FCS */
	unsigned long long tx_packets; /* seen by TC egress */
	unsigned long long tx_bytes;
	unsigned long long xdp_aborted, xdp_drop, xdp_pass, xdp_tx, xdp_redirect;
	unsigned long long malformed;	   /* received frames that failed to parse */
	unsigned long long timestamp_ns;   /* CLOCK_REALTIME when read */
	struct netprobe_counters counters; /* every raw counter, summed over CPUs */
};

/* Sums every attached interface of this pin path. */
NETPROBE_API int netprobe_manager_global_stats(struct netprobe_manager *m,
					       struct netprobe_global_stats *out);

/* One interface (in the caller's namespace); -ENOENT if not attached. */
NETPROBE_API int netprobe_manager_iface_stats(struct netprobe_manager *m, const char *ifname,
					      struct netprobe_global_stats *out);

/* One interface as listed by netprobe_manager_foreach_iface, in any namespace. */
NETPROBE_API int netprobe_manager_iface_stats_of(struct netprobe_manager *m,
						 const struct netprobe_iface *iface,
						 struct netprobe_global_stats *out);

/* The seed's stats.String(): one line. Returns what snprintf returns. */
NETPROBE_API int netprobe_global_stats_format(const struct netprobe_global_stats *s, char *buf,
					      size_t len);

/*
 * Named counters, the seed's GetNetworkStats: fn is called once per counter
 * with iface NULL for totals over every interface, then for each interface.
 * Names are stable snake_case, e.g. rx_packets, xdp_tcp_bytes,
 * tc_egress_packets, xdp_malformed_l4_truncated, xdp_action_pass.
 */
typedef int (*netprobe_counter_fn)(const char *iface, const char *name, unsigned long long value,
				   void *ctx);
NETPROBE_API int netprobe_manager_foreach_counter(struct netprobe_manager *m,
						  netprobe_counter_fn fn, void *ctx);

/*
 * The same names and values, of stats already read (iface is NULL in the
 * calls): no map is read again.
 */
NETPROBE_API int netprobe_global_stats_foreach_counter(const struct netprobe_global_stats *s,
						       netprobe_counter_fn fn, void *ctx);

/* The name of a hook counter / malformed reason ("tcp_bytes", "l4_truncated"). */
NETPROBE_API const char *netprobe_hook_counter_name(enum netprobe_hook_counter c);
NETPROBE_API const char *netprobe_malformed_name(enum netprobe_malformed reason);
NETPROBE_API const char *netprobe_xdp_program_name(enum netprobe_xdp_program p);
/* Parses "monitor", "filter", "lb"; -EINVAL otherwise. */
NETPROBE_API int netprobe_xdp_program_parse(const char *s, enum netprobe_xdp_program *out);

/* The seed's TCDeviceKey: per-device, per-direction statistics from TC. */
enum netprobe_stat_type {
	NETPROBE_STAT_PACKETS = 0,
	NETPROBE_STAT_BYTES = 1,
};

struct netprobe_tc_dev_key {
	unsigned int ifindex;
	unsigned char direction; /* enum netprobe_direction */
	unsigned char stat_type; /* enum netprobe_stat_type */
};

/* Reads one TC device statistic for an interface of the caller's namespace. */
NETPROBE_API int netprobe_manager_tc_dev_stat(struct netprobe_manager *m,
					      const struct netprobe_tc_dev_key *key,
					      unsigned long long *value);

/* ---- Flows (the seed's FlowKey) ----------------------------------------- */

typedef int (*netprobe_flow_fn)(const struct netprobe_flow_key *key,
				const struct netprobe_flow_stats *stats, void *ctx);

/*
 * Calls fn for every flow in the table, read in batches. A flow changes while
 * it is read; each call sees one consistent copy of its entry. A non-zero
 * return from fn stops the walk and is returned.
 */
NETPROBE_API int netprobe_manager_foreach_flow(struct netprobe_manager *m, netprobe_flow_fn fn,
					       void *ctx);

/* Prints a flow address ("10.0.0.1", "fd00::1") into buf (>= 46 bytes). */
NETPROBE_API const char *netprobe_flow_addr_str(const struct netprobe_flow_key *key, bool src,
						char *buf, size_t len);

/*
 * A flow timestamp (first_seen, last_seen: kernel jiffies) as CLOCK_REALTIME
 * ns, within one tick. The first call calibrates jiffies against the kernel's
 * clock (up to two ticks, 20 ms at most). Returns 0 if that fails.
 */
NETPROBE_API unsigned long long netprobe_manager_flow_time_ns(struct netprobe_manager *m,
							      unsigned long long jiffies);

/* ---- Events (the seed's ringbuffer.go and event handlers) ---------------- */

/*
 * A batch of events for one handler: at most batch_size of them, only the
 * types the handler asked for, valid until the handler returns. Each event
 * starts with struct netprobe_event_hdr; hdr.type tells which struct it is.
 */
struct netprobe_event_batch {
	const struct netprobe_event_hdr *const *events;
	size_t count;
};

typedef void (*netprobe_event_fn)(const struct netprobe_event_batch *batch, void *ctx);

/*
 * Registers fn for the event types in type_mask (NETPROBE_EVENT_MASK(type)
 * or-ed, or NETPROBE_EVENT_ALL). Handlers run on the worker threads, several
 * at once when event_workers > 1; batches may reach them out of order. Call
 * before netprobe_manager_events_start. -ENOSPC past 32 handlers, -EBUSY
 * while the pipeline runs.
 */
NETPROBE_API int netprobe_manager_on_event(struct netprobe_manager *m, unsigned int type_mask,
					   netprobe_event_fn fn, void *ctx);

/*
 * Starts the reader (one thread, draining the ring buffer into batches of
 * batch_size, or fewer after batch_timeout_ms) and the event_workers
 * threads. The reader never waits for a handler: when event_queue_batches
 * batches are waiting, a new batch is dropped and counted as lost. The
 * reader only delivers; periodic work is netprobe_manager_housekeeping's.
 * The pipeline keeps the settings and handlers it started with. -EALREADY
 * if running, -EBUSY if another manager (another process) already reads
 * this pin path's ring buffer: a ring buffer has a single consumer.
 */
NETPROBE_API int netprobe_manager_events_start(struct netprobe_manager *m);

/* The same with the pipeline's settings from opts (NULL: the manager's config). */
NETPROBE_API int netprobe_manager_events_start_opts(struct netprobe_manager *m,
						    const struct netprobe_events_opts *opts);

/* Stops the reader, delivers what it had read, joins the workers. NULL-safe. */
NETPROBE_API void netprobe_manager_events_stop(struct netprobe_manager *m);

struct netprobe_event_stats {
	unsigned long long kernel_produced; /* committed to the ring buffer */
	unsigned long long kernel_lost;	    /* ring buffer full */
	unsigned long long sampled_out;	    /* flow starts over the rate limit */
	unsigned long long received;	    /* read from the ring buffer by this manager */
	unsigned long long delivered;	    /* handed to the handlers */
	unsigned long long queue_lost;	    /* dropped: every worker busy, the queue full */
	unsigned long long batches;	    /* batches delivered */
	unsigned long long flows_expired;   /* idle flows this manager removed */
	/* read, and dropped: shorter than its type's struct, or of no known type */
	unsigned long long malformed;
};

/*
 * Once the reader has stopped: received == delivered + queue_lost +
 * malformed, and for
 * events produced while it ran, kernel_produced == received. Thread-safe
 * while the pipeline runs.
 */
NETPROBE_API int netprobe_manager_event_stats(struct netprobe_manager *m,
					      struct netprobe_event_stats *out);

/*
 * The periodic report: called by netprobe_manager_housekeeping every
 * stats_report_interval_ms with the stats now, the stats at the previous
 * report and the seconds between them.
 */
typedef void (*netprobe_report_fn)(const struct netprobe_global_stats *now,
				   const struct netprobe_global_stats *before, double seconds,
				   void *ctx);
NETPROBE_API int netprobe_manager_on_report(struct netprobe_manager *m, netprobe_report_fn fn,
					    void *ctx);

/*
 * Removes flows idle for more than idle_ms, each with a flow-end event
 * through the ring buffer (to whichever process reads the events) when its
 * interface was attached with enable_detailed_events. Returns how many
 * were removed, or a negative errno. Housekeeping calls it every tenth of
 * the idle timeout, 1 to 10 s.
 */
NETPROBE_API int netprobe_manager_expire_flows(struct netprobe_manager *m, unsigned int idle_ms);

/*
 * Calls fn, on the thread that expires flows (netprobe_manager_expire_flows,
 * housekeeping) or detaches an interface (its flows go with it), for each
 * flow this manager removes, with its last statistics: for a flow
 * exporter's final record, whether or not flow-end events are on. Flows the
 * full table evicts, or another process removes, are not seen. NULL: none.
 * Set it before housekeeping runs.
 */
typedef void (*netprobe_flow_end_fn)(const struct netprobe_flow_key *key,
				     const struct netprobe_flow_stats *stats, void *ctx);
NETPROBE_API int netprobe_manager_on_flow_end(struct netprobe_manager *m, netprobe_flow_end_fn fn,
					      void *ctx);

/*
 * Calls fn, on the thread that walks (housekeeping's, or the caller of
 * netprobe_manager_expire_flows), for every flow its walk of the table
 * reads (netprobe_manager_expire_flows, and the counting walk without an
 * idle timeout), then once with key and stats NULL when the walk went
 * through whole (before the idle flows it found are removed, each through
 * netprobe_manager_on_flow_end): a flow exporter's active timeouts ride on
 * the read housekeeping makes anyway. fn's return value is ignored. NULL:
 * none. Set it before housekeeping runs.
 */
NETPROBE_API int netprobe_manager_on_flow_walk(struct netprobe_manager *m, netprobe_flow_fn fn,
					       void *ctx);

/*
 * *flows: the flows in the table after this manager's last housekeeping
 * walk, a count that costs nothing more, at most one walk interval old (10
 * s without an idle timeout, when the walk only counts). Thread-safe.
 * -ENODATA before the first walk, -EINVAL no manager or no flows.
 */
NETPROBE_API int netprobe_manager_flows_walked(struct netprobe_manager *m,
					       unsigned long long *flows);

/*
 * Housekeeping, the periodic work of whoever runs netprobe for long (the
 * daemon; `netprobe events` and `monitor` while they run), on the
 * caller's thread: flows idle for flow_idle_timeout_ms expire
 * (netprobe_manager_expire_flows), looked for every tenth of that
 * timeout, between 1 and 10 s (so at most 10 % late; the walk reads the
 * whole table, and counts it: netprobe_manager_flows_walked;
 * without a timeout it only counts, every 10 s; the first walk is at the
 * first call); every second, expired list entries are swept (as netprobe_manager_acl_sweep, which takes the pin path's lock
 * only when something expired or the lists changed; here with one try,
 * never waiting: a busy lock is tried again the next second); every
 * stats_report_interval_ms, the report (netprobe_manager_on_report). Runs
 * what is due and sets *next_ms (may be NULL) to the milliseconds until
 * more is: call it again by then. Nothing expires while nobody runs it.
 * Returns 0, or the first error of the work it ran (the rest still ran).
 */
NETPROBE_API int netprobe_manager_housekeeping(struct netprobe_manager *m, unsigned int *next_ms);

/*
 * Sets housekeeping's intervals (the manager's config's until then): the
 * next run uses them. -EINVAL for opts that are not valid.
 */
NETPROBE_API int netprobe_manager_set_housekeeping(struct netprobe_manager *m,
						   const struct netprobe_housekeeping_opts *opts);

/*
 * Produces count 32-byte NETPROBE_EVENT_TEST events through the kernel's
 * ring buffer path (BPF_PROG_RUN), to check or measure a handler pipeline.
 * Returns how many the kernel committed, or a negative errno.
 */
NETPROBE_API long netprobe_manager_emit_test_events(struct netprobe_manager *m, unsigned int count);

/* "flow_start", "flow_end", "test", "security"; NULL for others. */
NETPROBE_API const char *netprobe_event_type_name(unsigned int type);

/* ---- Allow and deny lists (filter mode) ----------------------------------- */

#define NETPROBE_ACL_MAX_TTL_S 315360000u /* ten years */

/*
 * Parses "192.0.2.0/24", "2001:db8::/32" or a single address (a /32 or
 * /128). An IPv4-mapped IPv6 prefix (::ffff:192.0.2.0/120) is folded into
 * the IPv4 one it means (192.0.2.0/24): the datapath matches mapped sources
 * against the IPv4 entries. -EINVAL, with the reason logged, for anything
 * else, a length past the address's, or host bits set.
 */
NETPROBE_API int netprobe_cidr_parse(const char *cidr, struct netprobe_cidr *out);
NETPROBE_API const char *netprobe_cidr_str(const struct netprobe_cidr *c, char *buf, size_t len);

/*
 * A blocklist file's text, as every netprobe reader takes it (blacklist
 * --file, the daemon's deny_files and allow_files): one address or prefix
 * a line; '#' or ';' starts a comment (Spamhaus DROP, FireHOL); spaces,
 * tabs and CRs around an entry. fn gets each entry (NUL-ended, not yet
 * parsed as a CIDR) with its line, or, for a line of more than one word,
 * entry NULL and why. Text holding a NUL byte is no text file: fn is told
 * at that line, and nothing before it counts (-EINVAL, before any entry).
 * fn returning nonzero stops the read with that value; else 0, or -EINVAL
 * when any line was bad.
 */
/* The most text a list file may hold: 64 MiB, millions of entries, more than any list holds. */
#define NETPROBE_LIST_TEXT_MAX (64u << 20)
typedef int (*netprobe_list_line_fn)(unsigned long line, const char *entry, const char *why,
				     void *ctx);
NETPROBE_API int netprobe_list_text_parse(const char *text, size_t len, netprobe_list_line_fn fn,
					  void *ctx);

struct netprobe_acl_entry {
	struct netprobe_cidr cidr;
	char text[64]; /* cidr as text */
	unsigned int id;
	enum netprobe_acl_action action;
	unsigned int origin;		/* NETPROBE_ORIGIN_MANUAL, or 1 + the detection */
	unsigned int evidence;		/* blocks: 16 x the window's count over the threshold's */
	unsigned long long hits;	/* packets this entry decided */
	unsigned long long ttl_left_ms; /* 0: no expiry */
	unsigned long long created_ns;	/* CLOCK_REALTIME */
};

typedef int (*netprobe_acl_fn)(const struct netprobe_acl_entry *e, void *ctx);

/*
 * The deny list (the seed's AddIPToBlacklist, RemoveIPFromBlacklist,
 * GetBlacklistedIPs) and the allow list. Sources are matched by longest
 * prefix; an allow entry wins over any deny entry. ttl_s 0: no expiry;
 * expiry is measured on CLOCK_MONOTONIC, and an expired entry stops
 * matching at once and leaves listings. Lists live in the pinned state,
 * shared by every interface in filter mode, kept while they have entries.
 * Errors: -EINVAL bad CIDR or TTL, -EEXIST already on this list,
 * -NETPROBE_ERR_OTHER_LIST on the other list (add and del), -ENOENT on no
 * list, -ENOSPC full, -ESTALE the pinned state was replaced since
 * load (open a new manager). Mitigation blocks are deny entries whose
 * origin names the detection; netprobe_blacklist_del removes them too,
 * and an entry added for a blocked prefix (either list) replaces the block.
 */
NETPROBE_API int netprobe_blacklist_add(struct netprobe_manager *m, const char *cidr,
					unsigned int ttl_s);
NETPROBE_API int netprobe_blacklist_del(struct netprobe_manager *m, const char *cidr);
NETPROBE_API int netprobe_blacklist_list(struct netprobe_manager *m, netprobe_acl_fn fn, void *ctx);
NETPROBE_API int netprobe_allowlist_add(struct netprobe_manager *m, const char *cidr,
					unsigned int ttl_s);
NETPROBE_API int netprobe_allowlist_del(struct netprobe_manager *m, const char *cidr);
NETPROBE_API int netprobe_allowlist_list(struct netprobe_manager *m, netprobe_acl_fn fn, void *ctx);

/* What an add batch does with an entry that is on its list already. */
enum netprobe_acl_listed {
	/*
	 * Skipped; when both it and the batch have a TTL, renewed: it then
	 * lives at least ttl_s from now. A permanent entry stays permanent.
	 */
	NETPROBE_ACL_LISTED_SKIP = 0,
	/* The batch fails whole, -EEXIST, result->failed naming the first such entry. */
	NETPROBE_ACL_LISTED_FAIL,
	/* It takes the batch's TTL from now, whatever it had: 0 makes it permanent. */
	NETPROBE_ACL_LISTED_UPDATE,
};

/* A batch of list changes: netprobe_blacklist_add_many and the others. */
struct netprobe_acl_batch_opts {
	size_t sz;			 /* sizeof(struct netprobe_acl_batch_opts) */
	unsigned int ttl_s;		 /* TTL of the entries added (0: none) */
	enum netprobe_acl_listed listed; /* entries on the list already (add) */
	size_t : 0; /* as libbpf's opts: no tail padding a later field could fall into */
};

struct netprobe_acl_batch_result {
	size_t done;	/* entries added, or removed */
	size_t renewed; /* listed already: renewed, or updated (NETPROBE_ACL_LISTED_UPDATE) */
	size_t skipped; /* listed already (add), on no list (del), or twice in the batch */
	size_t failed;	/* the index in cidrs of the entry that failed the batch; count if none */
};

/*
 * count entries at once, all or none: every entry is parsed first, and one
 * that is no CIDR (-EINVAL) or is on the other list
 * (-NETPROBE_ERR_OTHER_LIST), or on this list with NETPROBE_ACL_LISTED_FAIL
 * (-EEXIST), fails the batch, its index in result->failed, before
 * anything changes; so does a batch the lists have no room for
 * (-ENOSPC, failed == count). Applied under one lock, each table-wide
 * recompute done once: for blocklists of hundreds of thousands of entries.
 * opts NULL: no TTL. result may be NULL. Other errors as for one entry.
 * A process that dies part way through a change (one entry or a batch)
 * leaves it to the next manager that takes the lock, which finishes it if
 * it had begun to apply, else undoes it (and warns). A change whose lookup
 * words the kernel would not rewrite (ENOMEM) stays open the same way;
 * while no recovery can finish it, list calls return -EAGAIN.
 */
NETPROBE_API int netprobe_blacklist_add_many(struct netprobe_manager *m, const char *const *cidrs,
					     size_t count,
					     const struct netprobe_acl_batch_opts *opts,
					     struct netprobe_acl_batch_result *result);
NETPROBE_API int netprobe_allowlist_add_many(struct netprobe_manager *m, const char *const *cidrs,
					     size_t count,
					     const struct netprobe_acl_batch_opts *opts,
					     struct netprobe_acl_batch_result *result);
NETPROBE_API int netprobe_blacklist_del_many(struct netprobe_manager *m, const char *const *cidrs,
					     size_t count,
					     struct netprobe_acl_batch_result *result);
NETPROBE_API int netprobe_allowlist_del_many(struct netprobe_manager *m, const char *const *cidrs,
					     size_t count,
					     struct netprobe_acl_batch_result *result);

/*
 * Removes expired entries now (listings and changes do it too, and
 * housekeeping every second). The list functions are thread-safe.
 */
NETPROBE_API int netprobe_manager_acl_sweep(struct netprobe_manager *m);

/* "manual", or the name of the detection that made the entry. */
NETPROBE_API const char *netprobe_acl_origin_name(unsigned int origin);
/*
 * Why a detection with mitigation on left its source alone (a security
 * event's not_blocked): "special_address" (unspecified, loopback,
 * link-local, multicast, broadcast), "allowed" (on the allow list),
 * "protected" (this host's own, a gateway, a resolver), "peer" (this host
 * opened a flow to it in the last 10 minutes), "unproven" (it completed no
 * handshake: its address may be spoofed), "pool_full"; NULL for
 * NETPROBE_UNBLOCKED_NONE and past the last.
 */
NETPROBE_API const char *netprobe_unblocked_name(unsigned int reason);
/* "syn_flood", "port_scan", ...; NULL past the last. */
NETPROBE_API const char *netprobe_detection_name(unsigned int detection);

/* The seed's SecurityStats: summed over every attached interface. */
struct netprobe_security_stats {
	/* Security events raised, by type: about one source (or the interface's rate). */
	unsigned long long detections[NETPROBE_DETECT_MAX];
	/* About one destination (syn_flood_dst, ...): counted apart, never in both. */
	unsigned long long detections_dst[NETPROBE_DETECT_MAX];
	unsigned long long filter[NETPROBE_FC_MAX]; /* drops by reason and the rest */
	unsigned long long deny_entries;	    /* made by hand */
	unsigned long long block_entries;	    /* made by mitigation */
	unsigned long long allow_entries;
	unsigned long long capacity; /* entries the lists can hold */
	/*
	 * IPv4 deny prefixes lying inside an IPv4 allow prefix that expires:
	 * when the allow entry runs out, XDP goes on passing their sources
	 * until a sweep (netprobe_manager_acl_sweep, any list call,
	 * housekeeping) paints the deny entries back. Nothing sweeps on its own
	 * without one of those.
	 */
	unsigned long long sweep_dependent;
};

NETPROBE_API int netprobe_manager_security_stats(struct netprobe_manager *m,
						 struct netprobe_security_stats *out);
/* "deny_drops", "block_drops", ... */
NETPROBE_API const char *netprobe_filter_counter_name(enum netprobe_filter_counter c);

/* ---- Load balancer (lb mode) --------------------------------------------- */

/* A virtual service: address, port and protocol. */
struct netprobe_lb_service {
	unsigned char family; /* enum netprobe_family */
	unsigned char proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	unsigned short port;  /* host order */
	unsigned char addr[16];
};

/*
 * Parses "192.0.2.1:80/tcp" or "[2001:db8::1]:53/udp" (the protocol part
 * is optional: tcp). -EINVAL, with the reason logged, for anything else.
 */
NETPROBE_API int netprobe_lb_service_parse(const char *text, struct netprobe_lb_service *out);
/* The canonical text of a service (>= 64 bytes). */
NETPROBE_API const char *netprobe_lb_service_str(const struct netprobe_lb_service *s, char *buf,
						 size_t len);

#define NETPROBE_LB_MAX_WEIGHT 1000

struct netprobe_lb_backend_opts {
	size_t sz;	     /* sizeof(struct netprobe_lb_backend_opts) */
	unsigned int weight; /* 1..NETPROBE_LB_MAX_WEIGHT */
	enum netprobe_lb_forward forward;
};

/*
 * Services and their backends, shared by every interface in lb mode (and
 * kept in the pinned state while there are services). A backend is an
 * address of the service's family; packets reach it encapsulated
 * (NETPROBE_LB_FORWARD_IPIP: the backend unwraps them, e.g. with netprobe
 * attached with decap) or as they are (NETPROBE_LB_FORWARD_L2: a backend
 * on the same segment). Either way the backend must accept packets for the
 * service's address (on its loopback) and answers the client directly.
 * The outer source address is this host's address towards the backend, found
 * when the backend is added, in the caller's network namespace.
 *
 * Errors: -EINVAL bad text, a family mismatch, a weight of 0 or past 1000, or a
 * backend no packet can go to (unspecified, loopback, multicast, broadcast,
 * this host); -EEXIST a service or backend that is already there; -ENOENT
 * an unknown service or backend; -ENOSPC a full table; -ENETUNREACH no
 * route to the backend; -ESTALE the pinned state was replaced since load.
 * Changes rebuild the service's Maglev table (netprobe_config lb_table_size
 * entries; -ENOSPC for more than the pinned state has room for); flows keep
 * their backend unless it is removed.
 * Thread-safe.
 */
NETPROBE_API int netprobe_lb_service_add(struct netprobe_manager *m, const char *service);

/* A service's own settings; zero in a field: its default. */
struct netprobe_lb_service_opts {
	size_t sz;		 /* sizeof(struct netprobe_lb_service_opts) */
	unsigned int table_size; /* Maglev entries, a prime; 0: the config's lb_table_size */
	size_t : 0;
};
/* netprobe_lb_service_add with opts (NULL: the defaults). */
NETPROBE_API int netprobe_lb_service_add_opts(struct netprobe_manager *m, const char *service,
					      const struct netprobe_lb_service_opts *opts);
/* Removes the service and its backends. */
NETPROBE_API int netprobe_lb_service_del(struct netprobe_manager *m, const char *service);
/* opts NULL: weight 1, IP-in-IP. */
NETPROBE_API int netprobe_lb_backend_add(struct netprobe_manager *m, const char *service,
					 const char *backend,
					 const struct netprobe_lb_backend_opts *opts);
/* Removes a backend: its flows, established or not, go to the others. */
NETPROBE_API int netprobe_lb_backend_del(struct netprobe_manager *m, const char *service,
					 const char *backend);
/*
 * Drains a backend: no new flows; established ones stay until they end,
 * also when the connection table (an LRU of lb_conn_table_size flows) has
 * dropped them, as it drops idle flows when new ones crowd in: a TCP
 * packet other than a SYN without an entry goes to the backend that held
 * its position in the Maglev table before the drain while that backend
 * drains (each service keeps that previous table too; the counter
 * lb_drain_kept). The price: a TCP flow that started after the drain on
 * the backend now at such a position goes to the draining one if it loses
 * its entry. UDP flows are not kept so (a datagram of an unknown flow may
 * start a new one): one that loses its entry moves.
 */
NETPROBE_API int netprobe_lb_backend_drain(struct netprobe_manager *m, const char *service,
					   const char *backend);
/* A new weight (1..1000) for a backend; a drained backend takes new flows again. */
NETPROBE_API int netprobe_lb_backend_set_weight(struct netprobe_manager *m, const char *service,
						const char *backend, unsigned int weight);

struct netprobe_lb_counters {
	unsigned long long packets;
	unsigned long long bytes; /* frames as received */
	unsigned long long new_conns;
	unsigned long long drops; /* services: no backend; backends: could not be sent */
};

struct netprobe_lb_backend_info {
	char text[64]; /* the address */
	unsigned char family;
	unsigned char addr[16];
	unsigned int weight;
	bool draining;
	enum netprobe_lb_forward forward;
	unsigned int table_entries; /* its share of the service's Maglev table */
	struct netprobe_lb_counters counters;
};

struct netprobe_lb_service_info {
	struct netprobe_lb_service service;
	char text[64];
	unsigned int table_size;
	struct netprobe_lb_counters counters;
	size_t nbackends;
	const struct netprobe_lb_backend_info *backends; /* sorted by address */
};

typedef int (*netprobe_lb_fn)(const struct netprobe_lb_service_info *s, void *ctx);

/*
 * The seed's GetLoadBalancerStats: fn is called for each service with its
 * backends and their statistics (summed over CPUs). A non-zero return from
 * fn stops the walk and is returned. fn runs under the manager's load
 * balancer lock: it must not call the netprobe_lb_* functions.
 */
NETPROBE_API int netprobe_manager_lb_stats(struct netprobe_manager *m, netprobe_lb_fn fn,
					   void *ctx);
/* "vip_packets", "forwarded", ... (per-interface counters) */
NETPROBE_API const char *netprobe_lb_counter_name(enum netprobe_lb_counter c);
/* "ipip", "l2"; and back (-EINVAL). */
NETPROBE_API const char *netprobe_lb_forward_name(enum netprobe_lb_forward f);
NETPROBE_API int netprobe_lb_forward_parse(const char *s, enum netprobe_lb_forward *out);

/* ---- Support probe (the seed's IsSupported) ------------------------------ */

#define NETPROBE_PROBE_MAX 32

struct netprobe_probe_item {
	char name[32]; /* "kernel", "btf", "bpf_syscall", "cap_bpf", ... */
	bool ok;
	bool required;	  /* false: netprobe works without it, with less */
	char detail[200]; /* what was found, and what to do when it is missing */
};

struct netprobe_probe_report {
	int count;
	bool supported; /* every required item is ok */
	struct netprobe_probe_item items[NETPROBE_PROBE_MAX];
};

/*
 * Checks each requirement: kernel version, BTF, the bpf() syscall,
 * CAP_BPF/CAP_NET_ADMIN, bpffs, ring buffers, tcx or clsact, and, when ifname
 * is given, that the interface exists and whether its driver has native XDP.
 * Never attaches anything. Returns 0 when the report was made.
 */
NETPROBE_API int netprobe_probe(const char *ifname, struct netprobe_probe_report *out);

/* What netprobe needs when not root (CAP_SYS_ADMIN holds all three, as before Linux 5.8). */
#define NETPROBE_CAPS "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (or CAP_SYS_ADMIN and CAP_NET_ADMIN)"

/*
 * Whether this process holds what loading and attaching need, in its
 * effective set: CAP_NET_ADMIN, and CAP_BPF with CAP_PERFMON or
 * CAP_SYS_ADMIN (root holds them all). 0, or -EPERM. Thread-safe.
 */
NETPROBE_API int netprobe_check_privileges(void);

#ifdef __cplusplus
}
#endif

#endif /* NETPROBE_NETPROBE_H */
