/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A private network namespace for the tests that attach to real (veth)
 * interfaces, the shell helper that builds them, and netprobe's attached
 * program and counters. Include after cmocka.
 */
#ifndef NETPROBE_NETNS_FIXTURE_H
#define NETPROBE_NETNS_FIXTURE_H

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach/attach.h"
#include <netprobe/netprobe.h>

/* Runs a shell command; the test fails if it does. */
static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static inline void write_file(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(value, f);
		fclose(f);
	}
}

/*
 * Moves the process into a network namespace of its own, without IPv6
 * autoconfiguration: nothing but the test's own frames reaches the counters,
 * and everything made there goes with the process. -1 on failure.
 */
static inline int enter_private_netns(void)
{
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	return 0;
}

/* Whether the running kernel is major.minor or newer: the oracle for what it has. */
static inline bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int a = 0, b = 0;

	uname(&u);
	sscanf(u.release, "%d.%d", &a, &b);
	return a > major || (a == major && b >= minor);
}

/* The program behind an interface's pinned link: "xdp", "tcx_ingress" or "tcx_egress". */
static inline __u32 attached_link_prog_id(struct netprobe_manager *m, const char *pin_path,
					  const char *ifname, const char *link)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	struct netprobe_iface it;
	char path[256];
	int fd;

	assert_int_equal(netprobe_manager_iface(m, ifname, &it), 0);
	snprintf(path, sizeof(path), "%s/links/slot%u_%s", pin_path, it.slot, link);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	assert_int_not_equal(info.prog_id, 0);
	return info.prog_id;
}

/*
 * The id of the TC program netprobe runs on ifname's ingress or egress:
 * its tcx link's, or its clsact filter's (kernels before 6.6), which the
 * kernel numbers down from 49152 as filters are added.
 */
static inline __u32 attached_tc_prog_id(struct netprobe_manager *m, const char *pin_path,
					const char *ifname, bool egress)
{
	struct netprobe_iface it;

	assert_int_equal(netprobe_manager_iface(m, ifname, &it), 0);
	if (it.tc_attach == NETPROBE_TC_TCX)
		return attached_link_prog_id(m, pin_path, ifname,
					     egress ? "tcx_egress" : "tcx_ingress");
	for (__u32 prio = 0xc000; prio > 0xc000 - 64; prio--) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = it.ifindex,
			    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NP_TC_HANDLE, .priority = prio);

		if (bpf_tc_query(&hook, &opts) == 0)
			return opts.prog_id;
	}
	fail_msg("%s: no netprobe clsact filter on %s", ifname, egress ? "egress" : "ingress");
	return 0;
}

/* The id of the XDP program that netprobe's pinned link on ifname runs now. */
static inline __u32 attached_prog_id(struct netprobe_manager *m, const char *pin_path,
				     const char *ifname)
{
	return attached_link_prog_id(m, pin_path, ifname, "xdp");
}

static inline struct netprobe_global_stats iface_stats(struct netprobe_manager *m,
						       const char *ifname)
{
	struct netprobe_global_stats st;

	assert_int_equal(netprobe_manager_iface_stats(m, ifname, &st), 0);
	return st;
}

#endif /* NETPROBE_NETNS_FIXTURE_H */
