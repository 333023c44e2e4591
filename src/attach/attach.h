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
/*
 * The attach opts a registry slot records (its info and settings), over
 * base (the library's defaults when NULL): -ENODATA when an older netprobe
 * kept no settings there, -EUCLEAN when they are not valid ones (a left
 * as it was, in both cases).
 */
int np_opts_in_force(const struct netprobe_iface_info *info,
		     const struct netprobe_iface_settings *settings,
		     const struct netprobe_attach_opts *base, struct netprobe_attach_opts *a);

#define NP_TC_HANDLE 0x4e50

/* tc.c: how many filters a clsact hook holds (netlink dump), or -errno */
#define NP_TC_PARENT_INGRESS 0xfffffff2u /* TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS) */
#define NP_TC_PARENT_EGRESS  0xfffffff3u
int np_tc_filter_count(unsigned int ifindex, __u32 parent);

#endif /* NP_ATTACH_H */
