/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layer 4, programs: copies of the BPF object sharing the manager's maps,
 * specialised per interface and mode, or holding one program to run with
 * BPF_PROG_RUN. Calls config, state.
 */
#ifndef NP_PROGRAMS_H
#define NP_PROGRAMS_H

#include "iface/iface.h"

/* Another copy of the object whose maps are the manager's, every autoload off; NULL, errno. */
struct netprobe_bpf *np_open_sharing_maps(const struct netprobe_manager *m);
/* A copy of the object with only program prog_name loaded, for BPF_PROG_RUN; NULL, errno. */
struct netprobe_bpf *np_load_runner(const struct netprobe_manager *m, const char *prog_name);
/*
 * The programs for the interface at slot, specialised for its mode and
 * settings a and loaded; NULL with errno (NETPROBE_ERR_PROG_REFUSED: the
 * verifier's no).
 */
struct netprobe_bpf *np_load_programs(struct netprobe_manager *m, unsigned int slot,
				      unsigned int ifindex, const struct netprobe_attach_opts *a);

/* kernel.c: what the programs need of the kernel beyond loading, probed once. */
enum np_kernel_feature {
	NP_KF_ATOMIC_FETCH,
	NP_KF_COARSE_CLOCK,
	NP_KF_PERCPU_LOOKUP,
	NP_KF_FIB_LOOKUP,
	NP_KF_REDIRECT_NEIGH,
	NP_KF_LOOP,
	NP_KF_XDP_META,
	NP_KF_MAX,
};

struct np_kernel_feature_info {
	const char *name;      /* as netprobe check lists it */
	const char *what;      /* the helper or instruction */
	const char *since;     /* the Linux version that brought it */
	const char *needed_by; /* what of netprobe needs it */
};

const struct np_kernel_feature_info *np_kernel_feature(enum np_kernel_feature f);
bool np_kernel_has(enum np_kernel_feature f);
/* For tests: has 1 or 0 stands for the probe's answer, -1 asks the kernel again. */
void np_kernel_assume(enum np_kernel_feature f, int has);
/* The first feature that settings a need and the kernel lacks, or -1. */
int np_kernel_missing_for(const struct netprobe_attach_opts *a);

/*
 * protect.c: adds this host's addresses, gateways and resolvers to
 * np_protected; IPv6 ones with v6_prefix, the prefix IPv6 sources are
 * counted and blocked by.
 */
int np_protect_refresh(struct netprobe_manager *m, unsigned int v6_prefix);

#endif /* NP_PROGRAMS_H */
