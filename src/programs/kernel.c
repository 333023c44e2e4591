// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What netprobe's programs need of the kernel's BPF beyond loading at all,
 * probed once (libbpf's helper probes, and a tiny program for the
 * instructions): so that attach and check name the missing feature and the
 * version that brought it, instead of handing the operator a verifier log.
 */
#include <errno.h>
#include <stddef.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "programs/programs.h"

static const struct np_kernel_feature_info features[NP_KF_MAX] = {
	[NP_KF_ATOMIC_FETCH] = {"atomic_fetch", "atomic instructions that return the old value",
				"5.12", "every mode (flow flags, the mitigation pool)"},
	[NP_KF_COARSE_CLOCK] = {"coarse_clock", "bpf_ktime_get_coarse_ns", "5.11",
				"filter mode (list entries' TTLs)"},
	[NP_KF_PERCPU_LOOKUP] = {"percpu_lookup", "bpf_map_lookup_percpu_elem", "5.19",
				 "mitigation and rate_anomaly (they read other CPUs' counters)"},
	[NP_KF_FIB_LOOKUP] = {"fib_lookup", "bpf_fib_lookup in XDP", "4.18",
			      "lb mode (the route to a backend)"},
	[NP_KF_REDIRECT_NEIGH] =
		{"redirect_neigh", "bpf_redirect_neigh in TC", "5.10",
		 "lb mode (a next hop XDP could not resolve; the route lookup's MTU "
		 "result, 5.12, comes with the atomics)"},
	[NP_KF_LOOP] = {"loop", "bpf_loop", "5.17", "events --test (the test event producer)"},
	[NP_KF_XDP_META] = {"xdp_meta", "bpf_xdp_adjust_meta in XDP", "4.15",
			    "lb mode's hand-over to TC through the frame's metadata (without it, "
			    "through a map)"},
};

const struct np_kernel_feature_info *np_kernel_feature(enum np_kernel_feature f)
{
	return f >= 0 && f < NP_KF_MAX ? &features[f] : NULL;
}

/*
 * Whether an XDP program of insns loads. 1: the kernel has it, 0: it lacks
 * it (the verifier's refusal is EINVAL), -errno: the probe could not tell
 * (EPERM and ENOMEM say nothing).
 */
static int xdp_loads(const struct bpf_insn *insns, size_t n)
{
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, NULL, "GPL", insns, n, NULL);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EINVAL ? 0 : -errno;
}

/*
 * Loads r0 = 0; *(u64 *)(r10 - 8) = r0; r1 = 1; r1 = atomic_fetch_add((u64
 * *)(r10 - 8), r1); exit: kernels before 5.12 know only the add that
 * returns nothing.
 */
static int probe_atomic_fetch(void)
{
	const struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
		{.code = BPF_STX | BPF_MEM | BPF_DW,
		 .dst_reg = BPF_REG_10,
		 .src_reg = BPF_REG_0,
		 .off = -8},
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1},
		{.code = BPF_STX | BPF_ATOMIC | BPF_DW,
		 .dst_reg = BPF_REG_10,
		 .src_reg = BPF_REG_1,
		 .off = -8,
		 .imm = BPF_ADD | BPF_FETCH},
		{.code = BPF_JMP | BPF_EXIT},
	};

	return xdp_loads(insns, sizeof(insns) / sizeof(insns[0]));
}

/*
 * Loads r1 = ctx (as it is); r2 = 0; call bpf_xdp_adjust_meta; r0 = XDP_PASS;
 * exit. libbpf's helper probe takes any refusal but "unknown func" for a
 * yes, and some kernels refuse this helper to XDP with another message.
 */
static int probe_xdp_meta(void)
{
	const struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = 0},
		{.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_xdp_adjust_meta},
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
		{.code = BPF_JMP | BPF_EXIT},
	};

	return xdp_loads(insns, sizeof(insns) / sizeof(insns[0]));
}

static int probe(enum np_kernel_feature f)
{
	switch (f) {
	case NP_KF_ATOMIC_FETCH:
		return probe_atomic_fetch();
	case NP_KF_COARSE_CLOCK:
		return libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_ktime_get_coarse_ns,
					       NULL);
	case NP_KF_PERCPU_LOOKUP:
		return libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_map_lookup_percpu_elem,
					       NULL);
	case NP_KF_FIB_LOOKUP:
		return libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_fib_lookup, NULL);
	case NP_KF_REDIRECT_NEIGH:
		return libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_redirect_neigh,
					       NULL);
	case NP_KF_LOOP:
		return libbpf_probe_bpf_helper(BPF_PROG_TYPE_XDP, BPF_FUNC_loop, NULL);
	case NP_KF_XDP_META:
		return probe_xdp_meta();
	default:
		return -EINVAL;
	}
}

/* Per feature: 0 not known yet, 1 has it, 2 lacks it (probed, or assumed by a test). */
static _Atomic int known[NP_KF_MAX];

bool np_kernel_has(enum np_kernel_feature f)
{
	int has;

	if (f < 0 || f >= NP_KF_MAX)
		return false;
	if (known[f])
		return known[f] == 1;
	has = probe(f);
	/*
	 * A probe that could not tell (not privileged, no memory) counts as
	 * present and is asked again next time: loading will say what is wrong.
	 */
	if (has < 0)
		return true;
	known[f] = has ? 1 : 2;
	return has;
}

void np_kernel_assume(enum np_kernel_feature f, int has)
{
	if (f >= 0 && f < NP_KF_MAX)
		known[f] = has < 0 ? 0 : has ? 1 : 2;
}

int np_kernel_missing_for(const struct netprobe_attach_opts *a)
{
	enum np_kernel_feature need[NP_KF_MAX];
	int n = 0;

	need[n++] = NP_KF_ATOMIC_FETCH;
	if (a->xdp_mode == NETPROBE_XDP_FILTER) {
		need[n++] = NP_KF_COARSE_CLOCK;
		if (a->mitigation || a->rate_anomaly.enabled)
			need[n++] = NP_KF_PERCPU_LOOKUP;
	}
	if (a->xdp_mode == NETPROBE_XDP_LB) {
		need[n++] = NP_KF_FIB_LOOKUP;
		need[n++] = NP_KF_REDIRECT_NEIGH;
	}
	for (int i = 0; i < n; i++)
		if (!np_kernel_has(need[i]))
			return need[i];
	return -1;
}
