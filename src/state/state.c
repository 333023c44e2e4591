// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The pinned state, the bottom of the library: the bpffs and the pin
 * directory (checked: nobody but its owner may change them), the maps
 * (created, or found pinned), pinning and unpinning, the pin path's lock,
 * and the facts every layer reads from the state's meta.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "state/state.h"
#include "netprobe.skel.h"

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/* The directory a pin path lives in ("/" for "/x"). */
static void parent_dir(const char *path, char *out, size_t len)
{
	char *slash;

	snprintf(out, len, "%s", path);
	slash = strrchr(out, '/');
	slash[slash == out] = '\0';
}

/*
 * Whether PID 1's mount namespace (the host's) has a mount of ID mnt_id, or
 * (dev != 0) a bpffs of device dev: 1 yes, 0 no, negative when we cannot
 * tell. From /proc/1/mountinfo, which anyone may read; /proc/1/ns/mnt and
 * /proc/1/root need ptrace access to PID 1, which a hardened init denies
 * even to root.
 */
static int init_has_mount(unsigned long long mnt_id, dev_t dev)
{
	FILE *f = fopen("/proc/1/mountinfo", "re");
	unsigned int major, minor;
	unsigned long long id;
	char *line = NULL, *fstype;
	size_t len = 0;
	int found = 0;

	if (!f)
		return -errno;
	/* "45 23 0:40 / /sys/fs/bpf rw,relatime shared:9 - bpf bpf rw" */
	while (!found && getline(&line, &len, f) > 0) {
		if (sscanf(line, "%llu %*u %u:%u", &id, &major, &minor) != 3)
			continue;
		fstype = strstr(line, " - ");
		found = dev ? fstype && !strncmp(fstype, " - bpf ", 7) &&
					makedev(major, minor) == dev
			    : id == mnt_id;
	}
	free(line);
	fclose(f);
	return found;
}

/*
 * Whether we run in PID 1's mount namespace: the mount "/" is on is one of
 * its mounts. Another namespace's mounts are copies with IDs of their own
 * (ip netns exec, unshare -m, a service with ProtectSystem, a container).
 * Negative when we cannot tell (no statx mount ID, no /proc).
 */
static int in_host_mount_ns(void)
{
	struct statx stx;

	if (statx(AT_FDCWD, "/", 0, STATX_MNT_ID, &stx))
		return -errno;
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP; /* before 5.8 */
	return init_has_mount(stx.stx_mnt_id, 0);
}

#define NP_NETNS_HINT                                                                              \
	"to work in network namespace NS, run nsenter --net=/run/netns/NS netprobe ..., which "    \
	"keeps the host's mounts, or give --pin-path a directory on a bpffs the host shares"

bool np_bpffs_private(const char *dir)
{
	struct stat st;

	if (in_host_mount_ns() != 0)
		return false; /* the host's (or it cannot be told: as load, let it be) */
	if (!is_bpffs(dir))
		return true; /* one mounted here would go with this namespace */
	return stat(dir, &st) != 0 || init_has_mount(0, st.st_dev) == 0;
}

/*
 * The pin path must live on bpffs, and on one that outlives us: mount the
 * standard one if nobody has. In a mount namespace of its own (ip netns
 * exec makes one and mounts a fresh sysfs on /sys, hiding the host's
 * /sys/fs/bpf), a bpffs we mounted, or one mounted only there, goes with
 * the namespace, and the pinned links, the filter, with it: "attached",
 * and nothing is. Such a pin path is refused (NETPROBE_ERR_PIN_PRIVATE). A bpffs the host
 * has mounted too (a service with ProtectSystem, a container given the
 * host's /sys/fs/bpf) is the same superblock, the same device, and is fine.
 */
static int ensure_bpffs(const char *pin_path)
{
	char parent[NETPROBE_PIN_PATH_MAX];
	int host = in_host_mount_ns();
	struct stat st;

	if (host < 0)
		np_debug("cannot tell whether this is the host's mount namespace: %s",
			 strerror(-host));
	parent_dir(pin_path, parent, sizeof(parent));
	/*
	 * The pin directory may be a bpffs of its own on a parent that is not
	 * one: a bind mount of the host's, as the systemd unit gives a service
	 * user that could not pass /sys/fs/bpf (root's, 0700) otherwise.
	 */
	if (!is_bpffs(parent) && is_bpffs(pin_path) && stat(pin_path, &st) == 0) {
		if (init_has_mount(0, st.st_dev) != 0)
			return 0; /* the host's (or it cannot be told: let it be) */
		np_err("pin path %s: the bpffs it is on is this mount namespace's own, not the "
		       "host's: what netprobe pins there goes with the namespace; " NP_NETNS_HINT,
		       pin_path);
		return -NETPROBE_ERR_PIN_PRIVATE;
	}
	if (is_bpffs(parent)) {
		if (host != 0 || stat(parent, &st) || init_has_mount(0, st.st_dev) != 0)
			return 0;
		np_err("pin path %s: the bpffs at %s is this mount namespace's own, not the "
		       "host's: what netprobe pins there goes with the namespace, the filter "
		       "included; " NP_NETNS_HINT,
		       pin_path, parent);
		return -NETPROBE_ERR_PIN_PRIVATE;
	}
	if (strcmp(parent, "/sys/fs/bpf") == 0) {
		if (host == 0) {
			np_err("/sys/fs/bpf is not a bpf filesystem in this mount namespace, which "
			       "is not the host's (ip netns exec mounts a sysfs of its own): a "
			       "bpffs "
			       "netprobe mounted here would go when it exits, and everything "
			       "attached with it; " NP_NETNS_HINT);
			return -NETPROBE_ERR_PIN_PRIVATE;
		}
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
			return 0;
		np_err("bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s "
		       "(run: mount -t bpf bpf /sys/fs/bpf)",
		       strerror(errno));
		return -errno;
	}
	np_err("pin path %s: %s is not on a bpf filesystem", pin_path, parent);
	return -ENOTDIR;
}

/*
 * The pin path's trust. Whoever can write to the pin directory (or to
 * links/ under it) can unlink netprobe's pins, and an unpinned link is a
 * detached filter; whoever owns a directory above it can swap it for one of
 * their own. So, as OpenSSH's secure_path does: every directory from / down
 * to the pin path's parent belongs to root or to us and is writable by nobody
 * else unless sticky (like /tmp, or a bpffs mounted 1777, where others may
 * add names but not remove or rename ours); the pin directory, everything in
 * it and links/ belong to root or to us and are writable by nobody else; no
 * symlink anywhere. Directories are opened one component at a time without
 * following symlinks and checked with fstat on the fd, so what is checked is
 * what is there. Once this holds nobody else can change the path, so the
 * path-based calls that follow (libbpf's pinning) reach what was checked.
 */
static bool trusted_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/*
 * Refuses path, saying why and what to do: for the pin directory and what is
 * in it (own), remove it; for a directory above, change it or go elsewhere.
 * "Another user" is anyone but root and our euid (a netprobe run by a
 * service user with CAP_BPF trusts that user too, and so does root's
 * command, which becomes that user on its state: daemon/privileges.c).
 */
static int untrusted(const char *path, const struct stat *st, const char *what, bool own)
{
	if (S_ISLNK(st->st_mode))
		np_err("pin path: %s is a symbolic link; netprobe follows none there (another "
		       "user could point it elsewhere): %s",
		       path,
		       own ? "remove it, or give --pin-path a real directory"
			   : "give --pin-path without symbolic links");
	else
		np_err("pin path: %s %s (owner uid %u, mode %04o): another user could remove "
		       "netprobe's pins there, and with them the filter; %s%s%s",
		       path, what, (unsigned int)st->st_uid, (unsigned int)(st->st_mode & 07777),
		       own ? "remove it (rm -r " : "",
		       own ? path : "make it root's and not writable by others (or sticky)",
		       own ? "), or choose another --pin-path" : ", or choose another --pin-path");
	return -NETPROBE_ERR_PIN_UNTRUSTED;
}

/* A directory above the pin path: ours or root's, and only sticky if others may write. */
static int check_ancestor(const char *path, const struct stat *st)
{
	if (!trusted_owner(st->st_uid))
		return untrusted(path, st, "belongs to another user", false);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX))
		return untrusted(path, st, "is writable by group or others and not sticky", false);
	return 0;
}

/* The pin directory, links/, the lock and every pin: ours or root's, writable by us only. */
static int check_own(const char *path, const struct stat *st)
{
	if (S_ISLNK(st->st_mode))
		return untrusted(path, st, NULL, true);
	if (!trusted_owner(st->st_uid))
		return untrusted(path, st, "belongs to another user", true);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return untrusted(path, st, "is writable by group or others", true);
	return 0;
}

/* errno of a failed open or stat, as the caller sees it: EACCES there means unprivileged. */
static int open_error(const char *path)
{
	int err = errno == EACCES ? EPERM : errno;

	np_err("cannot open %s: %s", path, strerror(errno));
	return -err;
}

/*
 * After an open with O_NOFOLLOW | O_DIRECTORY failed: whether name is a
 * symlink (st is then its own stat). errno is kept for the caller.
 */
static bool is_symlink(int dfd, const char *name, struct stat *st)
{
	int err = errno;
	bool link = (err == ENOTDIR || err == ELOOP) &&
		    fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st->st_mode);

	errno = err;
	return link;
}

/*
 * Opens the pin path's parent, checking it and each directory above it.
 * Returns an O_PATH fd, or -NETPROBE_ERR_PIN_UNTRUSTED for a directory that is not trusted.
 */
static int open_trusted_parent(const char *pin_path)
{
	char path[NETPROBE_PIN_PATH_MAX], *slash, *name = NULL;
	struct stat st;
	int fd, next;

	/* path: the parent, "" for "/" (a pin path "/x" is valid, if odd) */
	snprintf(path, sizeof(path), "%s", pin_path);
	*strrchr(path, '/') = '\0';
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st))
		goto fail;
	if (check_ancestor("/", &st))
		goto refused;
	for (name = path + 1; path[0]; name = slash + 1) {
		slash = strchr(name, '/');
		if (slash)
			*slash = '\0';
		next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && is_symlink(fd, name, &st)) {
			untrusted(path, &st, NULL, false);
			goto refused;
		}
		if (next < 0)
			goto fail;
		close(fd);
		fd = next;
		if (fstat(fd, &st))
			goto fail;
		if (check_ancestor(path, &st))
			goto refused;
		if (!slash)
			break;
		*slash = '/';
	}
	return fd;
fail:
	next = open_error(name ? path : "/");
	if (fd >= 0)
		close(fd);
	return next;
refused:
	close(fd);
	return -NETPROBE_ERR_PIN_UNTRUSTED;
}

/*
 * Opens directory name under dfd (path is its full name, for messages) and
 * checks it, making it first (0700) with create. -ENOENT when it does not
 * exist and create is false; with create, -EAGAIN when it (or dfd) was
 * removed as it was made: another netprobe removed the unused state.
 */
static int open_trusted_dir(int dfd, const char *name, const char *path, bool create)
{
	struct stat st;
	int fd, err;

	if (create && mkdirat(dfd, name, 0700) && errno != EEXIST) {
		if (errno == ENOENT)
			return -EAGAIN;
		err = errno == EACCES ? -EPERM : -errno;
		np_err("cannot create %s: %s", path, strerror(errno));
		return err;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (is_symlink(dfd, name, &st))
			return untrusted(path, &st, NULL, true);
		if (errno == ENOENT)
			return create ? -EAGAIN : -ENOENT;
		return open_error(path);
	}
	if (fstat(fd, &st)) {
		err = open_error(path);
		close(fd);
		return err;
	}
	err = check_own(path, &st);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Checks every entry of the directory fd (named path): the pins in it, and links/. */
static int check_entries(int fd, const char *path)
{
	char full[NETPROBE_PIN_PATH_MAX + NAME_MAX + 2];
	struct dirent *e;
	struct stat st;
	int err = 0, dup_fd = dup(fd);
	DIR *dir = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;

	if (!dir) {
		if (dup_fd >= 0)
			close(dup_fd);
		return open_error(path);
	}
	while (!err && (e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue; /* gone since readdir: nothing left to trust */
		err = check_own(full, &st);
	}
	closedir(dir);
	return err;
}

/*
 * Opens the pin directory after checking the path to it (with create,
 * making it 0700 if missing). Returns its fd, -NETPROBE_ERR_PIN_UNTRUSTED when the path or the
 * directory is not trusted, -ENOENT when it is missing and create is false.
 */
static int open_pin_dir(const char *pin_path, bool create)
{
	int parent = open_trusted_parent(pin_path), fd;

	if (parent < 0)
		return parent;
	fd = open_trusted_dir(parent, strrchr(pin_path, '/') + 1, pin_path, create);
	close(parent);
	return fd;
}

/* Makes (0700) or checks the pin directory and links/, and checks everything in them. */
static int pin_dirs(const struct netprobe_manager *m)
{
	char links[NETPROBE_PIN_PATH_MAX + 8];
	int dir, links_fd, err, tries = 0;

	snprintf(links, sizeof(links), "%s/links", m->opts.state.pin_path);
again:
	dir = open_pin_dir(m->opts.state.pin_path, true);
	links_fd = dir < 0 ? dir : open_trusted_dir(dir, "links", links, true);
	if (links_fd == -EAGAIN && ++tries < 10) {
		if (dir >= 0)
			close(dir);
		goto again;
	}
	if (links_fd == -EAGAIN)
		np_err("%s keeps vanishing as it is made (another netprobe removes it)", links);
	if (links_fd < 0) {
		if (dir >= 0)
			close(dir);
		return links_fd == -EAGAIN ? -ESTALE : links_fd;
	}
	err = check_entries(dir, m->opts.state.pin_path);
	if (!err)
		err = check_entries(links_fd, links);
	close(links_fd);
	close(dir);
	return err;
}

/* The directories go when they are empty (np_unlock removes the lock and the directory). */
static void remove_empty_dirs(const struct netprobe_manager *m)
{
	char links[NETPROBE_PIN_PATH_MAX + 8];

	snprintf(links, sizeof(links), "%s/links", m->opts.state.pin_path);
	rmdir(links);
	rmdir(m->opts.state.pin_path);
}

/* A map pinned by an earlier netprobe keeps its size; ours must match it to reuse it. */
/* max_entries of the pinned map name, or 0 when there is none. */
static __u32 pinned_size(const struct netprobe_manager *m, const char *name)
{
	char path[NETPROBE_PIN_PATH_MAX + 16];
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", m->opts.state.pin_path, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

static void adopt_pinned_size(const struct netprobe_manager *m, const char *name,
			      unsigned int *size)
{
	__u32 pinned = pinned_size(m, name);

	if (pinned && pinned != *size) {
		np_info("%s is pinned with size %u (config asks %u); keeping %u until "
			"everything is detached",
			name, pinned, *size, pinned);
		*size = pinned;
	}
}

void *np_map_mmap(const struct bpf_map *map, size_t *len)
{
	int fd = bpf_map__fd(map);
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	void *p;

	*len = 0;
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return NULL;
	*len = (size_t)info.max_entries * info.value_size;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/*
 * Whether path is there, as this process sees it: not access(), which asks
 * as the real user without capabilities (a root command working as the
 * service user could not pass /sys/fs/bpf that way).
 */
static bool pin_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* Pins the maps again after the last detach (here or in another process) removed them. */
int np_pin_state(struct netprobe_manager *m)
{
	struct bpf_map *map;
	int err;

	err = pin_dirs(m);
	if (err)
		return err;
	bpf_object__for_each_map(map, m->maps->obj)
	{
		const char *path = bpf_map__pin_path(map);

		if (!path || pin_exists(path))
			continue;
		if (bpf_obj_pin(bpf_map__fd(map), path)) {
			np_err("cannot pin map %s at %s: %s", bpf_map__name(map), path,
			       strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static __u32 obj_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* Whether the object pinned at path is the map behind fd. */
static bool pinned_is(const char *path, int fd)
{
	int pinned = bpf_obj_get(path);
	bool same;

	if (pinned < 0)
		return false;
	same = obj_id(pinned) == obj_id(fd);
	close(pinned);
	return same;
}

int np_state_lock(struct netprobe_manager *m, bool pin)
{
	return np_state_lock_within(m, pin, m->opts.state.lock_timeout_ms, false);
}

int np_state_lock_within(struct netprobe_manager *m, bool pin, unsigned int timeout_ms, bool quiet)
{
	int lock = np_lock_within(m, timeout_ms, quiet), err;

	if (lock < 0)
		return lock;
	if (!np_pinned_here(m, "np_counters")) {
		np_err("the state under %s changed since this manager loaded it; open a new "
		       "manager (run the command again)",
		       m->opts.state.pin_path);
		np_unlock(m, lock);
		return -ESTALE;
	}
	err = pin ? np_pin_state(m) : 0;
	if (err) {
		np_unlock(m, lock);
		return err;
	}
	return lock;
}

bool np_pinned_here(const struct netprobe_manager *m, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(m->maps->obj, name);
	const char *path = map ? bpf_map__pin_path(map) : NULL;

	return !path || !pin_exists(path) || pinned_is(path, bpf_map__fd(map));
}

/* Removes the pinned maps and directories; the manager's own fds stay valid. */
/*
 * Maps an older netprobe pinned that this one replaced under another name
 * (a value that grew): a state it left loads without them, and they go
 * with the rest.
 */
static const char *const obsolete_pins[] = {"np_block24"};

void np_unpin_state(struct netprobe_manager *m)
{
	char path[NETPROBE_PIN_PATH_MAX + 32];
	struct bpf_map *map;

	bpf_object__for_each_map(map, m->maps->obj)
	{
		/* Only our own map: the pin may have been replaced by another netprobe since. */
		if (bpf_map__pin_path(map) && pinned_is(bpf_map__pin_path(map), bpf_map__fd(map)))
			unlink(bpf_map__pin_path(map));
	}
	for (size_t i = 0; i < sizeof(obsolete_pins) / sizeof(obsolete_pins[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", m->opts.state.pin_path, obsolete_pins[i]);
		unlink(path);
	}
	remove_empty_dirs(m);
}

/* The pid holding an flock on the inode st, from /proc/locks; 0 when none is seen. */
static int lock_holder(const struct stat *st)
{
	FILE *f = fopen("/proc/locks", "re");
	unsigned int major, minor;
	unsigned long long ino;
	char line[256], type[16];
	int pid, holder = 0;

	/* "1: FLOCK  ADVISORY  WRITE 1234 00:2a:5678 0 EOF"; waiters have "->" for a type */
	while (f && !holder && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%llu", type, &pid, &major, &minor,
			   &ino) == 5 &&
		    !strcmp(type, "FLOCK") && makedev(major, minor) == st->st_dev &&
		    ino == st->st_ino)
			holder = pid;
	if (f)
		fclose(f);
	return holder;
}

static void report_holder(const char *path, const struct stat *st, unsigned int waited_ms)
{
	char comm_path[32], comm[32] = "?";
	int pid = lock_holder(st);
	FILE *f;

	if (pid <= 0) {
		np_err("%s is still locked after %u ms, by a process not visible here (another "
		       "pid namespace?); try again later (lock_timeout_ms, or "
		       "NETPROBE_LOCK_TIMEOUT_MS for the command, waits longer)",
		       path, waited_ms);
		return;
	}
	snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", pid);
	f = fopen(comm_path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	np_err("%s is still locked after %u ms, by pid %d (%s): another netprobe is "
	       "changing this state, or is stuck; try again, or stop pid %d (lock_timeout_ms, "
	       "or NETPROBE_LOCK_TIMEOUT_MS for the command, waits longer)",
	       path, waited_ms, pid, comm, pid);
}

/* Opens <pin>/lock, making it and the pin directory (0700, checked) if missing. */
static int open_lock(const struct netprobe_manager *m, const char *path, struct stat *st)
{
	int dir = open_pin_dir(m->opts.state.pin_path, true), fd;

	if (dir < 0)
		return dir;
	fd = open_trusted_dir(dir, "lock", path, true);
	close(dir);
	if (fd >= 0 && fstat(fd, st)) {
		close(fd);
		return open_error(path);
	}
	return fd;
}

static unsigned int ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/*
 * Changes to the pinned state (attach, detach, list and service changes,
 * sweeps) are serialised across processes with an flock on <pin>/lock: a
 * directory (bpffs holds no regular files) made 0700 in the checked 0700 pin
 * directory, so only netprobe's owner can open it and nobody else can hold
 * it to stall every change (as anyone could the pin path's parent, locked
 * before). Not the pin directory itself: the events consumer locks that.
 * Removing the unused state removes the lock too (np_unlock), with it held,
 * never without: a process that meanwhile locked the removed inode finds
 * another (or none) at the path, and starts again. The wait is bounded, polling: after
 * lock_timeout_ms, -EWOULDBLOCK, and the holder named.
 */
int np_lock(const struct netprobe_manager *m)
{
	return np_lock_within(m, m->opts.state.lock_timeout_ms, false);
}

/* np_lock waiting timeout_ms at most; quiet: no message when it is held. */
int np_lock_within(const struct netprobe_manager *m, unsigned int timeout_ms, bool quiet)
{
	char path[NETPROBE_PIN_PATH_MAX + 8];
	unsigned int delay_us = 1000, waited;
	struct stat held = {}, at_path;
	struct timespec start;
	int fd;

	snprintf(path, sizeof(path), "%s/lock", m->opts.state.pin_path);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		bool again = false;

		fd = open_lock(m, path, &held);
		if (fd == -EAGAIN) {
			again = true; /* removed as we made it: make it again */
		} else if (fd < 0) {
			return fd;
		} else if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (lstat(path, &at_path) == 0 && at_path.st_dev == held.st_dev &&
			    at_path.st_ino == held.st_ino)
				return fd;
			again = true; /* the one we waited for was removed with the state */
		} else if (errno != EWOULDBLOCK) {
			int err = -errno;

			np_err("cannot lock %s: %s", path, strerror(-err));
			close(fd);
			return err;
		}
		if (fd >= 0)
			close(fd);
		waited = ms_since(&start);
		if (waited >= timeout_ms) {
			if (!quiet)
				report_holder(path, &held, waited);
			return -EWOULDBLOCK;
		}
		if (!again) {
			usleep(delay_us);
			delay_us = delay_us * 2 > 50000 ? 50000 : delay_us * 2;
		}
	}
}

/* Whether the pin directory holds the lock and nothing else. */
static bool only_the_lock(const char *pin_path)
{
	int fd = open(pin_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	bool lock = false, other = false;
	struct dirent *e;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (!other && (e = readdir(dir))) {
		if (!strcmp(e->d_name, "lock"))
			lock = true;
		else
			other = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	}
	closedir(dir);
	return lock && !other;
}

/*
 * np_lock makes the pin directory to hold the lock, also when there is no
 * state to lock (a manager whose state another removed, freeing itself):
 * a pin directory left with the lock alone goes, while we still hold it.
 */
void np_unlock(const struct netprobe_manager *m, int lock_fd)
{
	char path[NETPROBE_PIN_PATH_MAX + 8];

	if (lock_fd < 0)
		return;
	if (only_the_lock(m->opts.state.pin_path)) {
		snprintf(path, sizeof(path), "%s/lock", m->opts.state.pin_path);
		rmdir(path);
		rmdir(m->opts.state.pin_path);
	}
	close(lock_fd);
}

/*
 * The ring buffer's consumer holds an flock on the pin directory: a ring
 * buffer has one consumer position. Returns the locked fd, or -EBUSY while
 * another manager consumes.
 */
int np_consumer_lock(const struct netprobe_manager *m)
{
	int fd = open(m->opts.state.pin_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	err = errno == EWOULDBLOCK ? -EBUSY : -errno;
	close(fd);
	return err;
}

bool np_events_consumer_elsewhere(const struct netprobe_manager *m)
{
	int fd = np_consumer_lock(m);

	if (fd >= 0)
		close(fd);
	return fd == -EBUSY;
}

unsigned long long np_current_netns(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}

/*
 * Opens the pinned state: bpffs checked (mounted if missing), the pin
 * directories made and checked, the maps created or found pinned (their
 * sizes adopted), the meta mapped. Undone whole on error.
 */
int np_state_open(struct netprobe_manager *m)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = m ? m->opts.state.pin_path : NULL);
	struct netprobe_bpf *skel;
	struct bpf_program *prog;
	int err;

	err = ensure_bpffs(m->opts.state.pin_path);
	if (err)
		return err;
	err = pin_dirs(m);
	if (err)
		return err;
	adopt_pinned_size(m, "np_flows", &m->opts.state.flow_table_size);
	adopt_pinned_size(m, "np_events", &m->opts.state.ring_buffer_size);
	adopt_pinned_size(m, "np_acl_rules", &m->opts.state.acl_max_rules);
	adopt_pinned_size(m, "np_acl_v4_tbl8", &m->opts.state.acl_v4_groups);
	adopt_pinned_size(m, "np_lb_vip_stats", &m->opts.state.lb_max_services);
	adopt_pinned_size(m, "np_lb_backends", &m->opts.state.lb_max_backends);
	adopt_pinned_size(m, "np_lb_conns", &m->opts.state.lb_conn_table_size);

	skel = netprobe_bpf__open_opts(&opts);
	if (!skel) {
		err = -errno;
		np_err("cannot open the BPF object: %s", strerror(-err));
		goto fail;
	}
	/* This copy creates (or finds) the maps; the datapath loads per interface. */
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, prog == skel->progs.netprobe_clock);
	bpf_map__set_max_entries(skel->maps.np_flows, m->opts.state.flow_table_size);
	bpf_map__set_max_entries(skel->maps.np_events, m->opts.state.ring_buffer_size);
	bpf_map__set_max_entries(skel->maps.np_acl_v4_tbl8, m->opts.state.acl_v4_groups);
	bpf_map__set_max_entries(skel->maps.np_acl_rules, m->opts.state.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_acl_hits, m->opts.state.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_acl_v4_exact, m->opts.state.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_acl_v4_agg, m->opts.state.mitigation_max_blocks);
	bpf_map__set_max_entries(skel->maps.np_acl_v6_exact, m->opts.state.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_acl_v6_trie, m->opts.state.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_lb_vips, m->opts.state.lb_max_services);
	bpf_map__set_max_entries(skel->maps.np_lb_vip_stats, m->opts.state.lb_max_services);
	/* Pinned Maglev tables keep their room; a service too big for it is refused at add. */
	bpf_map__set_max_entries(skel->maps.np_lb_ring,
				 pinned_size(m, "np_lb_ring")
					 ?: m->opts.state.lb_max_services * NP_LB_TABLES *
						    np_lb_ring_chunks(m->opts.state.lb_table_size));
	bpf_map__set_max_entries(skel->maps.np_lb_backends, m->opts.state.lb_max_backends);
	bpf_map__set_max_entries(skel->maps.np_lb_backend_stats, m->opts.state.lb_max_backends);
	bpf_map__set_max_entries(skel->maps.np_lb_routes, m->opts.state.lb_max_backends);
	bpf_map__set_max_entries(skel->maps.np_lb_conns, m->opts.state.lb_conn_table_size);

	err = netprobe_bpf__load(skel);
	if (err) {
		if (err == -EPERM)
			np_err("loading BPF maps was refused: run as root, or with " NETPROBE_CAPS);
		else if (err == -EINVAL)
			np_err("the maps pinned at %s do not match this netprobe (left by "
			       "another version?); detach everything and remove that directory",
			       m->opts.state.pin_path);
		else
			np_err("cannot create the BPF maps: %s", strerror(-err));
		goto fail;
	}
	m->ncpus = libbpf_num_possible_cpus();
	if (m->ncpus < 0) {
		err = m->ncpus;
		goto fail;
	}
	m->meta = np_map_mmap(skel->maps.np_acl_meta, &m->meta_len);
	if (!m->meta) {
		err = -errno;
		np_err("cannot map the pinned state's meta into memory: %s", strerror(-err));
		goto fail;
	}
	m->maps = skel;
	return 0;
fail:
	/* libbpf unpins what it pinned; the directories go too, if they are empty. */
	netprobe_bpf__destroy(skel);
	remove_empty_dirs(m);
	return err;
}

/* Undoes np_state_open: the maps are closed (the pins stay), the meta unmapped. */
void np_state_close(struct netprobe_manager *m)
{
	if (m->meta)
		munmap(m->meta, m->meta_len);
	m->meta = NULL;
	netprobe_bpf__destroy(m->maps);
	m->maps = NULL;
}

/* np_state_close after a load that failed above the state: empty directories go too. */
void np_state_abandon(struct netprobe_manager *m)
{
	np_state_close(m);
	remove_empty_dirs(m);
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * One seed for every program copy of this pin path (they share the state
 * tables), drawn by the first attach and kept in the pinned meta.
 */
__u32 np_state_hash_seed(struct netprobe_manager *m)
{
	__u32 seed = __atomic_load_n(&m->meta->hash_seed, __ATOMIC_ACQUIRE), expected = 0;

	if (seed)
		return seed;
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (__u32)mono_ns(); /* no entropy source: the clock still varies per boot */
	if (!__atomic_compare_exchange_n(&m->meta->hash_seed, &expected, seed, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		seed = expected;
	return seed;
}

/*
 * The prefix IPv6 sources are counted and blocked by in this pinned state:
 * the first filter attach sets it (want), and every interface keeps to it,
 * as the blocks, peers and protected prefixes they share are of that length.
 */
__u32 np_state_v6_prefix(struct netprobe_manager *m, __u32 want)
{
	__u32 expected = 0;

	if (__atomic_compare_exchange_n(&m->meta->v6_prefix, &expected, want, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return want;
	return expected;
}
