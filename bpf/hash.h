/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Hashes of the datapath. */
#ifndef NETPROBE_HASH_H
#define NETPROBE_HASH_H

#include <linux/types.h>
#include "netprobe/abi.h"

/* MurmurHash3's finaliser: every input bit moves every output bit. */
static __always_inline __u32 fmix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/*
 * A flow's hash for the Maglev table. Not keyed, on purpose: every load
 * balancer in front of the same backends (ECMP spreads flows over them)
 * must send a flow to the same backend, so the hash is the same everywhere.
 */
static __always_inline __u32 flow_hash(const struct netprobe_flow_key *k)
{
	const __u32 *s = (const __u32 *)k->src_addr, *d = (const __u32 *)k->dst_addr;
	__u32 h = 0x6e657470u ^ k->proto;

	h = fmix32(h ^ s[0]) + s[1];
	h = fmix32(h ^ s[2]) + s[3];
	h = fmix32(h ^ d[0]) + d[1];
	h = fmix32(h ^ d[2]) + d[3];
	return fmix32(h ^ ((__u32)k->src_port << 16 | k->dst_port));
}

#endif /* NETPROBE_HASH_H */
