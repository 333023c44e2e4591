// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Maglev table population. Each backend walks its own permutation of the
 * table (offset + j * skip, both from hashes of its identity) and claims the
 * first free slot; a backend of weight w takes w turns per round, which gives
 * it table entries in proportion to w. Because a backend's permutation
 * depends only on its own identity, removing one of N backends moves little
 * more than its own 1/N of the entries.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/maglev.h"

bool np_is_prime(__u32 n)
{
	if (n < 2)
		return false;
	for (__u32 d = 2; (__u64)d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

/* FNV-1a, then a 64-bit finaliser: cheap, and well spread for short ids. */
static __u64 hash_id(const __u8 *id, size_t len, __u64 seed)
{
	__u64 h = 0xcbf29ce484222325ull ^ seed;

	for (size_t i = 0; i < len; i++)
		h = (h ^ id[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

int np_maglev_build(const struct np_maglev_backend *backends, size_t n, __u32 *table, __u32 size)
{
	__u32 *offset = NULL, *skip = NULL, *next = NULL;
	size_t live = 0, filled = 0;
	int err = 0;

	if (!table || (n && !backends) || !np_is_prime(size))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (backends[i].weight > NP_MAGLEV_MAX_WEIGHT)
			return -EINVAL;
		live += backends[i].weight > 0;
	}
	for (__u32 i = 0; i < size; i++)
		table[i] = UINT32_MAX;
	if (!live)
		return -ENOENT;
	if (live >= size)
		return -EINVAL;
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	if (!offset || !skip || !next) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		offset[i] = hash_id(backends[i].id, sizeof(backends[i].id), 0x6d61676c) % size;
		skip[i] = hash_id(backends[i].id, sizeof(backends[i].id), 0x65762121) % (size - 1) +
			  1;
	}
	while (filled < size) {
		for (size_t i = 0; i < n && filled < size; i++) {
			for (__u32 turn = 0; turn < backends[i].weight && filled < size; turn++) {
				__u32 c;

				/* skip < size and size is prime: the walk visits every slot. */
				do {
					c = (__u32)(((__u64)offset[i] + (__u64)next[i] * skip[i]) %
						    size);
					next[i]++;
				} while (table[c] != UINT32_MAX);
				table[c] = i;
				filled++;
			}
		}
	}
out:
	free(offset);
	free(skip);
	free(next);
	return err;
}
