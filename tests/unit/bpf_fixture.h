/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Loads the real netprobe programs without pinning or attaching anything,
 * and runs them on crafted frames with BPF_PROG_RUN.
 */
#ifndef NETPROBE_BPF_FIXTURE_H
#define NETPROBE_BPF_FIXTURE_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "netprobe.skel.h"

#define FX_SLOT	   3
#define FX_IFINDEX 42

struct bpf_fixture {
	struct netprobe_bpf *skel;
	int ncpus;
};

static inline struct bpf_fixture *fx_load(void)
{
	struct bpf_fixture *fx = calloc(1, sizeof(*fx));
	struct bpf_map *map;

	if (!fx)
		return NULL;
	fx->skel = netprobe_bpf__open();
	if (!fx->skel)
		goto fail;
	bpf_object__for_each_map(map, fx->skel->obj) bpf_map__set_pin_path(map, NULL);
	fx->skel->rodata->np_slot = FX_SLOT;
	fx->skel->rodata->np_ifindex = FX_IFINDEX;
	if (netprobe_bpf__load(fx->skel))
		goto fail;
	fx->ncpus = libbpf_num_possible_cpus();
	return fx;
fail:
	netprobe_bpf__destroy(fx->skel);
	free(fx);
	return NULL;
}

static inline void fx_free(struct bpf_fixture *fx)
{
	if (!fx)
		return;
	netprobe_bpf__destroy(fx->skel);
	free(fx);
}

/* Counters of the fixture's slot, summed over CPUs. */
static inline int fx_counters(struct bpf_fixture *fx, struct netprobe_counters *sum)
{
	size_t stride = (sizeof(*sum) + 7) & ~7ul, words = sizeof(*sum) / 8;
	char *buf = calloc(fx->ncpus, stride);
	__u32 key = FX_SLOT;
	int err;

	if (!buf)
		return -ENOMEM;
	err = bpf_map_lookup_elem(bpf_map__fd(fx->skel->maps.np_counters), &key, buf);
	memset(sum, 0, sizeof(*sum));
	for (int cpu = 0; !err && cpu < fx->ncpus; cpu++)
		for (size_t i = 0; i < words; i++)
			((__u64 *)sum)[i] += ((__u64 *)(buf + cpu * stride))[i];
	free(buf);
	return err;
}

/* Zeroes the counters and empties the flow table between cases. */
static inline void fx_reset(struct bpf_fixture *fx)
{
	size_t stride = (sizeof(struct netprobe_counters) + 7) & ~7ul;
	char *zero = calloc(fx->ncpus, stride);
	int flows = bpf_map__fd(fx->skel->maps.np_flows);
	struct netprobe_flow_key key;
	__u32 slot = FX_SLOT;

	bpf_map_update_elem(bpf_map__fd(fx->skel->maps.np_counters), &slot, zero, BPF_ANY);
	free(zero);
	while (bpf_map_get_next_key(flows, NULL, &key) == 0)
		bpf_map_delete_elem(flows, &key);
}

/*
 * Runs prog on one frame; returns the program's verdict, or -errno. When out
 * is given it receives the frame as the program left it.
 */
static inline int fx_run(struct bpf_program *prog, const void *pkt, size_t len, void *out,
			 __u32 *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = len, .data_out = out,
		    .data_size_out = out_len ? *out_len : 0, .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);

	if (err)
		return -errno;
	if (out_len)
		*out_len = opts.data_size_out;
	return opts.retval;
}

/* Counts the flows in the table and returns the first one that matches proto. */
static inline int fx_flows(struct bpf_fixture *fx, struct netprobe_flow_key *k,
			   struct netprobe_flow_stats *st)
{
	int fd = bpf_map__fd(fx->skel->maps.np_flows), n = 0;
	struct netprobe_flow_key cur, next;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		cur = next;
		prev = &cur;
		if (n++ == 0 && k) {
			*k = cur;
			if (st)
				bpf_map_lookup_elem(fd, &cur, st);
		}
	}
	return n;
}

#endif /* NETPROBE_BPF_FIXTURE_H */
