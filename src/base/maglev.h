/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016), with weights: the
 * lookup table the load balancer's datapath indexes by flow hash. Built in
 * userspace; the datapath only reads it.
 */
#ifndef NETPROBE_MAGLEV_H
#define NETPROBE_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <netprobe/netprobe.h>

#define NP_MAGLEV_DEFAULT_SIZE 65537 /* prime, as the paper's tables are */
#define NP_MAGLEV_MAX_WEIGHT   NETPROBE_LB_MAX_WEIGHT

/* A backend as Maglev sees it: an identity that stays stable, and a weight. */
struct np_maglev_backend {
	__u8 id[20];  /* e.g. address (16) and port (2), zero-padded */
	__u32 weight; /* 0: drained, gets no entry */
};

bool np_is_prime(__u32 n);

/*
 * Fills table[size] with backend indexes. size must be a prime > the number of
 * backends with weight; each backend gets entries in proportion to its
 * weight. Returns 0, -EINVAL (bad size or weight), or -ENOENT (no backend
 * with weight: the table is filled with UINT32_MAX).
 */
int np_maglev_build(const struct np_maglev_backend *backends, size_t n, __u32 *table, __u32 size);

#endif /* NETPROBE_MAGLEV_H */
