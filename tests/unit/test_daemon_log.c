// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's log (daemon/log.c): under systemd (stderr is the journal
 * stream) each line reaches journald's socket through libsystemd with its
 * priority; else stderr. journald here is a datagram socket of our own at
 * the path libsystemd writes to, in a mount namespace of this test's own:
 * what arrives is what the journal would store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "../../daemon/daemon.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static int journal = -1;
static char stderr_file[] = "/tmp/np-dlog-XXXXXX";

/* The next datagram journald would get (native protocol: KEY=value lines). */
static bool next_entry(char *buf, size_t len)
{
	ssize_t n = recv(journal, buf, len - 1, MSG_DONTWAIT);

	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

static void test_journal_with_priorities(void **state)
{
	char entry[4096], env[64];
	struct stat st;

	(void)state;
	/* This stderr is the journal stream systemd would have given: JOURNAL_STREAM names it. */
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	dlog_setup(NETPROBE_LOG_INFO);
	assert_true(dlog_to_journal());
	dlog(NETPROBE_LOG_WARN, "alert type=syn_flood src=%s", "198.18.0.1");
	assert_true(next_entry(entry, sizeof(entry)));
	assert_non_null(strstr(entry, "MESSAGE=alert type=syn_flood src=198.18.0.1\n"));
	assert_non_null(strstr(entry, "PRIORITY=4\n"));
	assert_non_null(strstr(entry, "SYSLOG_IDENTIFIER=netprobe\n"));
	dlog(NETPROBE_LOG_ERROR, "broken");
	assert_true(next_entry(entry, sizeof(entry)));
	assert_non_null(strstr(entry, "PRIORITY=3\n"));
	dlog(NETPROBE_LOG_INFO, "report");
	assert_true(next_entry(entry, sizeof(entry)));
	assert_non_null(strstr(entry, "PRIORITY=6\n"));
	/* Past the level: nothing. */
	dlog(NETPROBE_LOG_DEBUG, "noise");
	assert_false(next_entry(entry, sizeof(entry)));
	/* A capture takes the thread's errors and warnings instead (the config check). */
	char why[128];

	dlog_capture_begin(why, sizeof(why));
	dlog(NETPROBE_LOG_ERROR, "first");
	dlog(NETPROBE_LOG_WARN, "second");
	dlog_capture_end();
	assert_string_equal(why, "first; second");
	assert_false(next_entry(entry, sizeof(entry)));
}

/* Not the journal's stream (run by hand, or another stderr): lines on stderr. */
static void test_stderr_otherwise(void **state)
{
	char entry[4096], text[256] = "";
	FILE *f;

	(void)state;
	int fd = mkstemp(stderr_file), saved = dup(STDERR_FILENO);

	/* stderr to a file of ours for the while, then back (cmocka reports there). */
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
	setenv("JOURNAL_STREAM", "1:2", 1);
	dlog_setup(NETPROBE_LOG_INFO);
	assert_false(dlog_to_journal());
	dlog(NETPROBE_LOG_WARN, "to stderr");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_false(next_entry(entry, sizeof(entry)));
	f = fopen(stderr_file, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "netprobe: warning: to stderr\n");
	unsetenv("JOURNAL_STREAM");
}

static int setup(void **state)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	(void)state;
	/* Our own /run/systemd, seen by this process alone. */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -1;
	mkdir("/run/systemd", 0755);
	if (mount("tmpfs", "/run/systemd", "tmpfs", 0, "mode=0755"))
		return -1;
	mkdir("/run/systemd/journal", 0755);
	journal = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(a.sun_path, JOURNAL_SOCKET);
	if (journal < 0 || bind(journal, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(journal);
	unlink(stderr_file);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_with_priorities),
		cmocka_unit_test(test_stderr_otherwise),
	};

	return cmocka_run_group_tests_name("daemon_log", tests, setup, teardown);
}
