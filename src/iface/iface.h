/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layer 3, the interface registry: the pinned slots that say what is
 * attached where. Calls state.
 */
#ifndef NP_IFACE_H
#define NP_IFACE_H

#include "state/state.h"

int np_read_iface(const struct netprobe_manager *m, unsigned int slot,
		  struct netprobe_iface_info *info);
int np_write_iface(const struct netprobe_manager *m, unsigned int slot,
		   const struct netprobe_iface_info *info);
/* What the interface of slot was attached with; version 0: none kept. */
int np_read_iface_settings(const struct netprobe_manager *m, unsigned int slot,
			   struct netprobe_iface_settings *s);
int np_write_iface_settings(const struct netprobe_manager *m, unsigned int slot,
			    const struct netprobe_iface_settings *s);
/* ifname's index in the caller's namespace: -EINVAL a bad name, -ENODEV none (logged). */
int np_resolve_ifindex(const char *ifname, unsigned int *ifindex);
/* The slot holding ifname of the caller's namespace; -ENOENT if none. */
int np_find_iface(const struct netprobe_manager *m, const char *ifname, unsigned int *slot,
		  struct netprobe_iface_info *info);
/* A free slot; -ENOSPC (logged) when all NETPROBE_MAX_IFACES are taken. */
int np_free_slot(const struct netprobe_manager *m, unsigned int *slot);
bool np_anything_attached(const struct netprobe_manager *m);
/* The registry slot of an interface as listed (netprobe_iface); -ENOENT once it is gone. */
int np_iface_info_of(const struct netprobe_manager *m, const struct netprobe_iface *iface,
		     struct netprobe_iface_info *info);

#endif /* NP_IFACE_H */
