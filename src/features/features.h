/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layer 6, the features: lists (acl.c), the load balancer (lb.c), flows,
 * statistics, events. Each calls the layers below, and stats.c reads the
 * lists' counts; no feature calls one that calls it.
 */
#ifndef NP_FEATURES_H
#define NP_FEATURES_H

#include "attach/attach.h"

/* acl.c */
int np_acl_open(struct netprobe_manager *m);
void np_acl_close(struct netprobe_manager *m);
bool np_acl_has_rules(const struct netprobe_manager *m);
int np_acl_sweep_try(struct netprobe_manager *m);
void np_acl_counts(struct netprobe_manager *m, unsigned long long *deny, unsigned long long *blocks,
		   unsigned long long *allow, unsigned long long *capacity,
		   unsigned long long *sweep_waiting);

/* lb.c */
int np_lb_open(struct netprobe_manager *m);
void np_lb_close(struct netprobe_manager *m);
bool np_lb_has_services(const struct netprobe_manager *m);

/* events.c: whether a ring buffer record is one its handlers may read as its type's struct. */
bool np_event_record_ok(const void *data, size_t size);

#endif /* NP_FEATURES_H */
