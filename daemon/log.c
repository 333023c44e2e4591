// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's log: to the journal with priorities when systemd started us
 * with stderr connected to it (JOURNAL_STREAM names stderr), else to stderr
 * as "netprobe: LEVEL: message". The library's messages go the same way.
 * A thread can capture what is logged on it instead (dlog_capture_begin),
 * so that the config check can put a library's reason after FILE:LINE:COL.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <systemd/sd-journal.h>
#include "daemon.h"

static enum netprobe_log_level max_level = NETPROBE_LOG_INFO;
static bool to_journal;

struct capture {
	char *buf;
	size_t len;
};
static __thread struct capture *capture;

/* Whether stderr is the journal stream systemd gave us (as sd_journal_stream_fd's users check). */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

static void emit(enum netprobe_log_level level, const char *msg)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
	static const int priority[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

	if (capture && level <= NETPROBE_LOG_WARN) {
		size_t used = strlen(capture->buf);

		/* The first reason is the one that matters; later ones follow it. */
		snprintf(capture->buf + used, capture->len - used, "%s%s", used ? "; " : "", msg);
		return;
	}
	if (level > __atomic_load_n(&max_level, __ATOMIC_RELAXED))
		return;
	if (to_journal) {
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", priority[level],
				"SYSLOG_IDENTIFIER=netprobe", NULL);
		return;
	}
	fprintf(stderr, "netprobe: %s%s\n", prefix[level], msg);
}

static void from_library(enum netprobe_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	emit(level, msg);
}

void dlog_set_level(enum netprobe_log_level level)
{
	/* A reload's: the event workers log meanwhile. */
	__atomic_store_n(&max_level, level, __ATOMIC_RELAXED);
	/* The library's (and libbpf's, at debug) too; warnings always: a capture needs them. */
	netprobe_set_log(from_library, level > NETPROBE_LOG_WARN ? level : NETPROBE_LOG_WARN, NULL);
}

void dlog_setup(enum netprobe_log_level level)
{
	to_journal = stderr_is_journal();
	dlog_set_level(level);
}

bool dlog_to_journal(void)
{
	return to_journal;
}

void dlog(enum netprobe_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(level, msg);
}

void dlog_capture_begin(char *buf, size_t len)
{
	static __thread struct capture c;

	buf[0] = '\0';
	c.buf = buf;
	c.len = len;
	capture = &c;
}

void dlog_capture_end(void)
{
	capture = NULL;
}

static const char *const level_names[] = {"error", "warning", "info", "debug"};

const char *dlog_level_name(enum netprobe_log_level level)
{
	return (unsigned int)level <= NETPROBE_LOG_DEBUG ? level_names[level] : "unknown";
}

int dlog_level_parse(const char *s, enum netprobe_log_level *out)
{
	for (unsigned int i = 0; i <= NETPROBE_LOG_DEBUG; i++) {
		if (!strcmp(s, level_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -1;
}
