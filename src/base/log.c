// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The library never prints: messages go to the caller's callback, or nowhere. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "base/base.h"

static netprobe_log_fn log_fn;
static void *log_ctx;
static enum netprobe_log_level log_max = NETPROBE_LOG_INFO;

const char *netprobe_strerror(int err)
{
	static const char *const own[] = {
		[NETPROBE_ERR_OTHER_LIST - NETPROBE_ERR_BASE] = "on the other list",
		[NETPROBE_ERR_PROG_REFUSED - NETPROBE_ERR_BASE] =
			"the kernel refused the programs (run with -v for the verifier's log)",
		[NETPROBE_ERR_PIN_UNTRUSTED - NETPROBE_ERR_BASE] =
			"the pin path could be changed by another user",
		[NETPROBE_ERR_PIN_PRIVATE - NETPROBE_ERR_BASE] =
			"the pin path's bpffs goes with this mount namespace",
	};
	const char *s;

	if (err == INT_MIN)
		return "unknown error";
	err = err < 0 ? -err : err;
	if (err >= NETPROBE_ERR_BASE && err < NETPROBE_ERR_END)
		return own[err - NETPROBE_ERR_BASE];
	/* strerror's buffer may be another thread's; the descriptions are constants. */
	s = strerrordesc_np(err);
	return s ? s : "unknown error";
}

void netprobe_set_log(netprobe_log_fn fn, enum netprobe_log_level max_level, void *ctx)
{
	log_fn = fn;
	log_ctx = ctx;
	/* The level alone may change while other threads log (a daemon's reload). */
	__atomic_store_n(&log_max, max_level, __ATOMIC_RELAXED);
}

static void vlog(enum netprobe_log_level level, const char *fmt, va_list ap)
{
	char small[1024], *msg = small;
	va_list again;
	int n;

	if (!log_fn || level > __atomic_load_n(&log_max, __ATOMIC_RELAXED))
		return;
	va_copy(again, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0)
		small[0] = '\0';
	/* A verifier log runs to megabytes: all of it, or it says nothing. */
	if (n >= (int)sizeof(small)) {
		msg = malloc(n + 1);
		if (msg)
			vsnprintf(msg, n + 1, fmt, again);
		else
			msg = small;
	}
	va_end(again);
	/* libbpf ends its lines with '\n'; callbacks get bare messages. */
	n = strlen(msg);
	if (n > 0 && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_fn(level, msg, log_ctx);
	if (msg != small)
		free(msg);
}

void np_log(enum netprobe_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/*
	 * libbpf's warnings (a verifier log, a probe that failed) explain our own
	 * errors to whoever asked for detail; its debug chatter goes nowhere.
	 */
	if (level != LIBBPF_DEBUG)
		vlog(NETPROBE_LOG_DEBUG, fmt, ap);
	return 0;
}

void np_log_install_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

/* Out of line, in its own object's reach: a test's --wrap sees every call. */
__attribute__((noinline)) void np_fault_point(void)
{
	__asm__ volatile("" ::: "memory");
}
