// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's privileges (daemon/privileges.c): what a running daemon
 * keeps of its capabilities, and when root acts as the owner of a service
 * user's state, and when it must not (a directory another user could have
 * put there). Each case runs in a child: credentials are the process's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../../daemon/daemon.h"

#define OTHER_UID 65534

/* Under /run: every directory above is root's and writable by nobody else. */
static char dir[] = "/run/np-priv-XXXXXX";

/* Runs fn in a child; its exit status (0: every check in it held). */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static bool has(cap_flag_t flag, cap_value_t cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	cap_get_flag(caps, cap, flag, &v);
	cap_free(caps);
	return v == CAP_SET;
}

/* Every capability this process holds in flag, as a mask. */
static unsigned long long mask_of(cap_flag_t flag)
{
	unsigned long long m = 0;

	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
		if (CAP_IS_SUPPORTED(c) && has(flag, c))
			m |= 1ull << c;
	return m;
}

#define BIT(c) (1ull << (c))

static int drop_from_root(void)
{
	char kept[128];

	if (daemon_drop_privileges(kept, sizeof(kept)))
		return 1;
	if (strcmp(kept, "CAP_NET_ADMIN CAP_BPF CAP_PERFMON"))
		return 2;
	if (mask_of(CAP_EFFECTIVE) != (BIT(CAP_NET_ADMIN) | BIT(CAP_BPF) | BIT(CAP_PERFMON)) ||
	    mask_of(CAP_PERMITTED) != mask_of(CAP_EFFECTIVE) || mask_of(CAP_INHERITABLE))
		return 3;
	/* The bounding set too: nothing it runs can gain more. */
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
		if (CAP_IS_SUPPORTED(c) && cap_get_bound(c) == 1 &&
		    !(BIT(c) & (BIT(CAP_NET_ADMIN) | BIT(CAP_BPF) | BIT(CAP_PERFMON))))
			return 4;
	/* And it cannot take back what it dropped. */
	cap_t caps = cap_get_proc();
	cap_value_t admin = CAP_SYS_ADMIN;

	cap_set_flag(caps, CAP_EFFECTIVE, 1, &admin, CAP_SET);
	if (cap_set_proc(caps) == 0)
		return 5;
	cap_free(caps);
	/* What it runs (a hook), root's uid and all, starts with no capabilities. */
	return system("grep -q '^CapPrm:[[:space:]]*0000000000000000$' /proc/self/status && "
		      "grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/self/status") == 0
		       ? 0
		       : 6;
}

/* root's start: every capability but the three goes, for good. */
static void test_drop_keeps_three(void **state)
{
	(void)state;
	assert_int_equal(in_child(drop_from_root), 0);
}

static int drop_without_bpf(void)
{
	char kept[128];
	cap_value_t bpf[] = {CAP_BPF, CAP_PERFMON};
	cap_t caps = cap_get_proc();

	/* As on a kernel before 5.8, or a unit that gave CAP_SYS_ADMIN instead. */
	cap_set_flag(caps, CAP_EFFECTIVE, 2, bpf, CAP_CLEAR);
	cap_set_flag(caps, CAP_PERMITTED, 2, bpf, CAP_CLEAR);
	if (cap_set_proc(caps))
		return 1;
	cap_free(caps);
	if (daemon_drop_privileges(kept, sizeof(kept)))
		return 2;
	if (strcmp(kept, "CAP_NET_ADMIN CAP_SYS_ADMIN"))
		return 3;
	return mask_of(CAP_EFFECTIVE) == (BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_ADMIN)) ? 0 : 4;
}

/* CAP_SYS_ADMIN is kept only where it stands in for a missing CAP_BPF. */
static void test_drop_keeps_sys_admin_without_bpf(void **state)
{
	(void)state;
	assert_int_equal(in_child(drop_without_bpf), 0);
}

static int drop_with_nothing(void)
{
	char kept[128] = "x";
	cap_t none = cap_init();

	if (cap_set_proc(none))
		return 1;
	cap_free(none);
	if (daemon_drop_privileges(kept, sizeof(kept)))
		return 2;
	return kept[0] == '\0' && mask_of(CAP_PERMITTED) == 0 ? 0 : 3;
}

/* Nothing to keep: it says so rather than failing. */
static void test_drop_with_nothing(void **state)
{
	(void)state;
	assert_int_equal(in_child(drop_with_nothing), 0);
}

static char pin[128];

static int acts_as_owner(void)
{
	char file[160];
	struct stat st;
	uid_t owner;
	int fd;

	if (daemon_act_as_state_owner(pin, &owner) || owner != OTHER_UID)
		return 1;
	/* That user for good, with the daemon's three and CAP_DAC_READ_SEARCH alone. */
	uid_t r, e, s;

	if (getresuid(&r, &e, &s) || r != OTHER_UID || e != OTHER_UID || s != OTHER_UID ||
	    getegid() != OTHER_UID)
		return 2;
	if (mask_of(CAP_EFFECTIVE) != (BIT(CAP_NET_ADMIN) | BIT(CAP_BPF) | BIT(CAP_PERFMON) |
				       BIT(CAP_DAC_READ_SEARCH)) ||
	    mask_of(CAP_PERMITTED) != mask_of(CAP_EFFECTIVE))
		return 3;
	/* What it makes there is the user's, and trusted as ours. */
	snprintf(file, sizeof(file), "%s/made", pin);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || fstat(fd, &st) || st.st_uid != OTHER_UID)
		return 4;
	close(fd);
	if (!dc_trusted_uid(OTHER_UID) || dc_trusted_uid(OTHER_UID - 1))
		return 5;
	/* It passes root's closed directories, but writes nothing of root's: no DAC override. */
	snprintf(file, sizeof(file), "%s/closed/x", dir);
	if (open(file, O_CREAT | O_WRONLY, 0600) >= 0 || errno != EACCES)
		return 6;
	snprintf(file, sizeof(file), "%s/closed/root", dir);
	if (open(file, O_WRONLY) >= 0 || errno != EACCES)
		return 7;
	fd = open(file, O_RDONLY);
	return fd >= 0 ? 0 : 8;
}

static int stays_root(void)
{
	uid_t owner = 1;

	if (daemon_act_as_state_owner(pin, &owner) || owner != 0)
		return 1;
	return geteuid() == 0 && has(CAP_EFFECTIVE, CAP_SYS_ADMIN) && !dc_trusted_uid(OTHER_UID)
		       ? 0
		       : 2;
}

static int not_root(void)
{
	uid_t owner = 1;

	if (setresuid(OTHER_UID - 1, OTHER_UID - 1, OTHER_UID - 1))
		return 1;
	return daemon_act_as_state_owner(pin, &owner) == 0 && owner == 0 ? 0 : 2;
}

/*
 * root acts as the owner of a user's pin directory only where nobody but
 * root could have put it: a parent of root's that nobody else may write.
 */
static void test_act_as_owner_only_where_root_put_it(void **state)
{
	char link[64];

	char closed[64], a_file[80];
	int fd;

	(void)state;
	snprintf(pin, sizeof(pin), "%s/state", dir);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(mkdir(pin, 0700), 0);
	assert_int_equal(chown(pin, OTHER_UID, OTHER_UID), 0);
	/* root's, closed (as /sys/fs/bpf), with a file of root's in it. */
	snprintf(closed, sizeof(closed), "%s/closed", dir);
	assert_int_equal(mkdir(closed, 0700), 0);
	snprintf(a_file, sizeof(a_file), "%s/root", closed);
	fd = open(a_file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(in_child(acts_as_owner), 0);
	/* A symlink on the way: whoever owns where it points could have made the directory. */
	char via[80];

	snprintf(via, sizeof(via), "%s/via", dir);
	assert_int_equal(symlink(dir, via), 0);
	snprintf(pin, sizeof(pin), "%s/state", via);
	assert_int_equal(in_child(stays_root), 0);
	snprintf(pin, sizeof(pin), "%s/state", dir);
	/* A parent others may write to, even sticky (/tmp): they could have made it. */
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(in_child(stays_root), 0);
	assert_int_equal(chmod(dir, 0775), 0);
	assert_int_equal(in_child(stays_root), 0);
	/* A parent of another user's. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chown(dir, OTHER_UID, OTHER_UID), 0);
	assert_int_equal(in_child(stays_root), 0);
	assert_int_equal(chown(dir, 0, 0), 0);
	/* Not root: nothing to do. */
	assert_int_equal(in_child(not_root), 0);
	/* root's own pin directory: nothing changes. */
	assert_int_equal(chown(pin, 0, 0), 0);
	assert_int_equal(in_child(stays_root), 0);
	/* A symlink to the user's directory is no pin directory of theirs. */
	assert_int_equal(chown(pin, OTHER_UID, OTHER_UID), 0);
	snprintf(link, sizeof(link), "%s/link", dir);
	assert_int_equal(symlink(pin, link), 0);
	snprintf(pin, sizeof(pin), "%s", link);
	assert_int_equal(in_child(stays_root), 0);
	/* Missing: nothing to act on (the library makes it root's). */
	snprintf(pin, sizeof(pin), "%s/none", dir);
	assert_int_equal(in_child(stays_root), 0);
}

static int teardown_dir(void **state)
{
	char cmd[sizeof(dir) + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_keeps_three),
		cmocka_unit_test(test_drop_keeps_sys_admin_without_bpf),
		cmocka_unit_test(test_drop_with_nothing),
		cmocka_unit_test(test_act_as_owner_only_where_root_put_it),
	};

	if (!mkdtemp(dir))
		return 1;
	return cmocka_run_group_tests(tests, NULL, teardown_dir);
}
