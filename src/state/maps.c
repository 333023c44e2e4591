// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Map access every layer shares: per-CPU values summed and zeroed, the per-interface counters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "state/state.h"
#include "netprobe.skel.h"

/*
 * Sums the per-CPU values of map[key], size bytes of __u64 counters each
 * (values are laid out at 8-byte strides, one per possible CPU).
 */
int np_read_percpu_sum(const struct netprobe_manager *m, const struct bpf_map *map, __u32 key,
		       void *sum, size_t size)
{
	size_t stride = (size + 7) & ~(size_t)7, words = size / sizeof(__u64);
	char *buf = calloc(m->ncpus, stride);
	__u64 *total = sum;

	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(bpf_map__fd(map), &key, buf)) {
		int err = -errno;

		free(buf);
		return err;
	}
	memset(sum, 0, size);
	for (int cpu = 0; cpu < m->ncpus; cpu++) {
		const __u64 *v = (const __u64 *)(buf + cpu * stride);

		for (size_t i = 0; i < words; i++)
			total[i] += v[i];
	}
	free(buf);
	return 0;
}

int np_zero_percpu(const struct netprobe_manager *m, const struct bpf_map *map, __u32 key,
		   size_t size)
{
	char *buf = calloc(m->ncpus, (size + 7) & ~(size_t)7);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	if (bpf_map_update_elem(bpf_map__fd(map), &key, buf, BPF_ANY))
		err = -errno;
	free(buf);
	return err;
}

int np_read_slot_counters(const struct netprobe_manager *m, unsigned int slot,
			  struct netprobe_counters *sum)
{
	return np_read_percpu_sum(m, m->maps->maps.np_counters, slot, sum, sizeof(*sum));
}

int np_zero_slot_counters(const struct netprobe_manager *m, unsigned int slot)
{
	return np_zero_percpu(m, m->maps->maps.np_counters, slot, sizeof(struct netprobe_counters));
}
