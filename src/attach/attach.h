/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layer 5, attach and detach: links, clsact filters, live respecialisation.
 * Calls programs, iface, config, state.
 */
#ifndef NP_ATTACH_H
#define NP_ATTACH_H

#include "programs/programs.h"

/* Detaches ifname (NULL: every interface of the pin path), the pin path's lock held. */
int np_detach_locked(struct netprobe_manager *m, const char *ifname);

/* Our clsact filters' handle, so that we remove ours and nobody else's. */
#define NP_TC_HANDLE 0x4e50

/* tc.c: how many filters a clsact hook holds (netlink dump), or -errno */
#define NP_TC_PARENT_INGRESS 0xfffffff2u /* TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS) */
#define NP_TC_PARENT_EGRESS  0xfffffff3u
int np_tc_filter_count(unsigned int ifindex, __u32 parent);

#endif /* NP_ATTACH_H */
