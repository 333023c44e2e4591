// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Least privilege (docs/DAEMON.md, "Privileges"): once the daemon has loaded
 * and attached, it keeps only the capabilities a running daemon still uses,
 * and root working on state that belongs to a service user acts as that
 * user on its files.
 *
 * What a running daemon still does: a reload or a returning interface loads
 * programs (each attachment's are specialised at load: CAP_BPF, and
 * CAP_PERFMON for the verifier to accept them) and attaches them
 * (CAP_NET_ADMIN, which loading XDP and TC programs needs too). On kernels
 * before 5.11, without CAP_BPF, or bpf() calls of any kind on kernels before
 * 6.5 with unprivileged BPF off, need these all the time. What it never needs
 * again: CAP_SYS_RESOURCE (the locked-memory limit is raised at the first
 * load, before 5.11 only), and whatever else a root start brought
 * (CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_SETUID ...).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
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
		for (cap_value_t c = 0; c <= CAP_LAST_CAP && !err; c++) {
			bool kept_c = false;

			for (int i = 0; i < n; i++)
				kept_c |= keep[i] == c;
			if (!kept_c && CAP_IS_SUPPORTED(c) && cap_get_bound(c) == 1 &&
			    cap_drop_bound(c))
				err = -errno;
		}
	}
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
 * root on a pin path given to a service user (the systemd unit's
 * ExecStartPre made it the daemon's): what root makes there must stay
 * usable by that user, and what that user made there is not a stranger's.
 * So root acts as the owner on files (fsuid and fsgid: new pins, links and
 * the lock are the owner's; the library's trust check knows the owner as
 * us), keeping its capabilities. Only where nobody but root could have put
 * the directory: its parent is root's and writable by nobody else, sticky
 * or not (not /tmp). Before any thread: each thread has its own fsuid, and
 * new ones inherit it.
 */
int daemon_act_as_state_owner(const char *pin_path, uid_t *owner)
{
	char parent[PATH_MAX];
	struct stat dir, up;
	cap_t caps;
	char *slash;

	*owner = 0;
	if (geteuid() != 0 || lstat(pin_path, &dir) || !S_ISDIR(dir.st_mode) || dir.st_uid == 0)
		return 0;
	snprintf(parent, sizeof(parent), "%s", pin_path);
	slash = strrchr(parent, '/');
	if (!slash)
		return 0;
	slash[slash == parent] = '\0';
	if (lstat(parent, &up) || !S_ISDIR(up.st_mode) || up.st_uid != 0 ||
	    (up.st_mode & (S_IWGRP | S_IWOTH)))
		return 0; /* the library refuses it as another user's, saying why */
	setfsgid(dir.st_gid);
	setfsuid(dir.st_uid);
	if ((uid_t)setfsuid((uid_t)-1) != dir.st_uid)
		return -EPERM;
	/* Changing fsuid away from 0 cleared the file capabilities from the effective set. */
	caps = cap_get_proc();
	if (!caps)
		return -errno;
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		cap_flag_value_t v = CAP_CLEAR;

		if (CAP_IS_SUPPORTED(c) && cap_get_flag(caps, c, CAP_PERMITTED, &v) == 0 &&
		    v == CAP_SET)
			cap_set_flag(caps, CAP_EFFECTIVE, 1, &c, CAP_SET);
	}
	if (cap_set_proc(caps)) {
		int err = -errno;

		cap_free(caps);
		return err;
	}
	cap_free(caps);
	*owner = dir.st_uid;
	return 0;
}
