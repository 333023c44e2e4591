/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layer 1, configuration: the defaults, validation, and the fixed sizes
 * every layer uses (the pinned state's maps are made to them). Calls only
 * base.
 */
#ifndef NP_CONFIG_H
#define NP_CONFIG_H

#include "base/base.h"
#include "base/maglev.h"

/* A netprobe_config's settings by lifetime (it holds them all, as the seed's did). */
struct np_config_parts {
	struct netprobe_state_opts state;
	struct netprobe_attach_opts attach;
	struct netprobe_events_opts events;
	struct netprobe_housekeeping_opts housekeeping;
};

void np_config_defaults(struct np_config_parts *p);
void np_config_split(const struct netprobe_config *cfg, struct np_config_parts *p);
void np_config_join(struct netprobe_config *cfg, const struct np_config_parts *p);

/*
 * Whether value is in the range of the setting called name (the table
 * netprobe_config_range reads); logged as what (NULL: name) when not.
 */
bool np_in_range(const char *name, const char *what, unsigned long long value);
/* Validation of each part (the reason logged): 0 or -EINVAL. */
int np_validate_state(const struct netprobe_state_opts *s);
int np_validate_attach(const struct netprobe_attach_opts *a);
int np_validate_events(const struct netprobe_events_opts *e);
int np_validate_housekeeping(const struct netprobe_housekeeping_opts *h);
/*
 * A caller's opts (NULL: none) over the defaults, validated (as
 * np_opts_take, then np_validate_*): 0 or -EINVAL.
 */
int np_take_state(struct netprobe_state_opts *out, const struct netprobe_state_opts *user);
int np_take_attach(struct netprobe_attach_opts *out, const struct netprobe_attach_opts *user);
int np_take_events(struct netprobe_events_opts *out, const struct netprobe_events_opts *user);
int np_take_housekeeping(struct netprobe_housekeeping_opts *out,
			 const struct netprobe_housekeeping_opts *user);
/* cfg's sz, then each part, split into parts. */
int np_validate_config(const struct netprobe_config *cfg, struct np_config_parts *parts);

/* The detection types' names, NETPROBE_DETECT_MAX of them (netprobe_detection_name). */
extern const char *const np_detection_names[];
/* An interface's attach opts, as its registry slot keeps them; and back (xdp_mode aside). */
void np_settings_of(const struct netprobe_attach_opts *a, struct netprobe_iface_settings *s);
void np_settings_apply(struct netprobe_attach_opts *a, const struct netprobe_iface_settings *s);

/* The load balancer's Maglev tables: a service's room, and all of them together. */
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

#endif /* NP_CONFIG_H */
