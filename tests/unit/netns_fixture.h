/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A private network namespace for the tests that attach to real (veth)
 * interfaces, and the shell helper that builds them. Include after cmocka.
 */
#ifndef NETPROBE_NETNS_FIXTURE_H
#define NETPROBE_NETNS_FIXTURE_H

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif /* NETPROBE_NETNS_FIXTURE_H */
