// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Least privilege (docs/DAEMON.md, "Privileges"): once the daemon has loaded,
 * it keeps only the capabilities a running daemon still uses; root's command
 * on state that belongs to a service user becomes that user.
 *
 * What a running daemon still does: a reload or a returning interface loads
 * programs (each attachment's are specialised at load: CAP_BPF, and
 * CAP_PERFMON for the verifier to accept them) and attaches them
 * (CAP_NET_ADMIN, which loading XDP and TC programs needs too); before 6.5,
 * with unprivileged BPF off, every bpf() call needs CAP_BPF. What it never
 * needs again: CAP_SYS_RESOURCE (the locked-memory limit is raised at the
 * first load, and only kernels before 5.11 count maps against it), and
 * whatever else a root start brought (CAP_SYS_ADMIN, CAP_DAC_OVERRIDE,
 * CAP_SETUID ...).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <grp.h>
#include <sys/prctl.h>
#include <linux/securebits.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon.h"

/* The capabilities a running daemon keeps, of those it has (permitted). */
static int kept_caps(cap_t have, cap_value_t *keep)
{
	cap_flag_value_t v;
	int n = 0;

	/* CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON only where they are missing. */
	static const cap_value_t wanted[] = {CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON};
	bool has_bpf = false;

	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		if (!CAP_IS_SUPPORTED(wanted[i]))
			continue;
		if (cap_get_flag(have, wanted[i], CAP_PERMITTED, &v) == 0 && v == CAP_SET) {
			keep[n++] = wanted[i];
			has_bpf |= wanted[i] == CAP_BPF;
		}
	}
	if (!has_bpf && cap_get_flag(have, CAP_SYS_ADMIN, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
		keep[n++] = CAP_SYS_ADMIN;
	return n;
}

int daemon_drop_privileges(char *kept, size_t len)
{
	cap_value_t keep[4];
	cap_t have = cap_get_proc(), want = NULL;
	cap_flag_value_t setpcap = CAP_CLEAR;
	int n, err = 0;
	size_t off = 0;

	if (!have)
		return -errno;
	n = kept_caps(have, keep);
	cap_get_flag(have, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	/*
	 * The bounding set first, while CAP_SETPCAP is still ours (a root start):
	 * what a hook the daemon runs may ever gain is cut too. Without it (a
	 * service user) the bounding set is systemd's, already cut.
	 */
	if (setpcap == CAP_SET) {
		for (cap_value_t c = 0; c < (cap_value_t)cap_max_bits() && !err; c++) {
			bool kept_c = false;

			for (int i = 0; i < n; i++)
				kept_c |= keep[i] == c;
			if (!kept_c && CAP_IS_SUPPORTED(c) && cap_get_bound(c) == 1 &&
			    cap_drop_bound(c))
				err = -errno;
		}
	}
	/*
	 * A root start: exec gives root no capabilities either (a hook), for good.
	 * Under the unit the daemon is its user, and NoNewPrivileges does it.
	 */
	if (!err && setpcap == CAP_SET &&
	    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED))
		err = -errno;
	/* Nothing passed on at exec (ambient, inheritable); effective = permitted = kept. */
	if (!err && cap_reset_ambient() && errno != EINVAL)
		err = -errno;
	want = cap_init();
	if (!err && !want)
		err = -errno;
	if (!err && n &&
	    (cap_set_flag(want, CAP_PERMITTED, n, keep, CAP_SET) ||
	     cap_set_flag(want, CAP_EFFECTIVE, n, keep, CAP_SET)))
		err = -errno;
	if (!err && cap_set_proc(want))
		err = -errno;
	cap_free(want);
	cap_free(have);
	if (len)
		kept[0] = '\0';
	for (int i = 0; i < n && !err; i++) {
		char *name = cap_to_name(keep[i]);

		if (name) {
			for (char *p = name; *p; p++)
				*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
			off += snprintf(kept + off, off < len ? len - off : 0, "%s%s", i ? " " : "",
					name);
			cap_free(name);
		}
	}
	return err;
}

/*
 * Whether path and every directory above it are real directories (no
 * symlink) of root's that nobody else may write to: what is at path, only
 * root put there.
 */
static bool only_root_made(const char *path)
{
	char prefix[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);

	if (path[0] != '/' || len >= sizeof(prefix))
		return false;
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(i ? i : 1), path);
		if (lstat(prefix, &st) || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    (st.st_mode & (S_IWGRP | S_IWOTH)))
			return false;
	}
	return lstat("/", &st) == 0 && st.st_uid == 0 && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

int daemon_state_owner(const char *pin_path, uid_t *uid, gid_t *gid)
{
	char parent[PATH_MAX];
	struct stat dir;
	char *slash;

	*uid = 0;
	*gid = 0;
	if (lstat(pin_path, &dir) || !S_ISDIR(dir.st_mode) || dir.st_uid == 0)
		return 0;
	snprintf(parent, sizeof(parent), "%s", pin_path);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return 0;
	*slash = '\0';
	if (!only_root_made(parent))
		return 0; /* another user's, wherever: the library refuses it, saying why */
	*uid = dir.st_uid;
	*gid = dir.st_gid;
	return 1;
}

/*
 * root's command on a pin path given to a service user (the systemd unit's
 * ExecStartPre made it the daemon's): it becomes that user, as the daemon
 * is, with the daemon's three capabilities and CAP_DAC_READ_SEARCH to pass
 * /sys/fs/bpf (root's, 0700), and nothing else. So what it makes there is
 * the user's, the library's trust check knows the user as us, and what the
 * user could plant in its own directory (a symlink to another program's
 * pins) leads root nowhere the user could not go: opening a pin needs write
 * permission, which only the user's own have. Before any thread.
 */
int daemon_act_as_state_owner(const char *pin_path, uid_t *owner)
{
	static const cap_value_t keep[] = {CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON,
					   CAP_DAC_READ_SEARCH};
	cap_value_t have[4];
	int n = 0, err = 0;
	uid_t uid;
	gid_t gid;
	cap_t caps;

	*owner = 0;
	if (geteuid() != 0 || daemon_state_owner(pin_path, &uid, &gid) != 1)
		return 0;
	caps = cap_get_proc();
	if (!caps)
		return -errno;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		cap_flag_value_t v = CAP_CLEAR;

		if (CAP_IS_SUPPORTED(keep[i]) &&
		    cap_get_flag(caps, keep[i], CAP_PERMITTED, &v) == 0 && v == CAP_SET)
			have[n++] = keep[i];
	}
	cap_free(caps);
	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return -errno;
	prctl(PR_SET_KEEPCAPS, 0);
	caps = cap_init();
	if (!caps)
		return -errno;
	if (n && (cap_set_flag(caps, CAP_PERMITTED, n, have, CAP_SET) ||
		  cap_set_flag(caps, CAP_EFFECTIVE, n, have, CAP_SET)))
		err = -errno;
	if (!err && cap_set_proc(caps))
		err = -errno;
	cap_free(caps);
	if (!err)
		*owner = uid;
	return err;
}
