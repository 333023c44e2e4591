// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The running daemon's status, as its status file beside the pid file says
 * it: for `netprobe status` (which daemon keeps a pin path, and how its last
 * reload went) and for `netprobe daemon --reload` (whether the reload it
 * asked for is done). Written by run.c, whole and renamed into place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "daemon.h"

static void copy_string(struct json_object *o, const char *key, char *out, size_t len)
{
	struct json_object *v;

	out[0] = '\0';
	if (json_object_object_get_ex(o, key, &v))
		snprintf(out, len, "%s", json_object_get_string(v));
}

static unsigned long long get_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

pid_t daemon_lock_holder(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	if (fcntl(fd, F_GETLK, &fl) || fl.l_type == F_UNLCK)
		return 0;
	return fl.l_pid;
}

/*
 * The status file's JSON, read as what another user could have put there
 * (the service user owns /run/netprobe under systemd): a regular file,
 * opened without following a symlink or waiting on a FIFO, of a bounded size.
 */
static struct json_object *read_status_json(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	struct json_object *root = NULL;
	char buf[16384];
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (off_t)sizeof(buf)) {
		n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			root = json_tokener_parse(buf);
		}
	}
	close(fd);
	if (root && !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		root = NULL;
	}
	return root;
}

int daemon_status_read(const char *file, struct daemon_status *out)
{
	struct json_object *root = read_status_json(file), *r;

	memset(out, 0, sizeof(*out));
	if (!root)
		return -ENOENT;
	snprintf(out->file, sizeof(out->file), "%s", file);
	out->pid = get_u64(root, "pid");
	out->started_ns = get_u64(root, "started_ns");
	copy_string(root, "config", out->config, sizeof(out->config));
	copy_string(root, "pin_path", out->pin_path, sizeof(out->pin_path));
	copy_string(root, "pid_file", out->pid_file, sizeof(out->pid_file));
	copy_string(root, "list_files_error", out->list_files_error, sizeof(out->list_files_error));
	out->last_ok = true;
	out->in_sync = true;
	{
		struct json_object *v;

		if (json_object_object_get_ex(root, "in_sync", &v))
			out->in_sync = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(root, "last_reload", &r)) {
		struct json_object *ok;

		out->reloads = get_u64(r, "count");
		out->last_reload_ns = get_u64(r, "time_ns");
		out->last_changes = get_u64(r, "changes");
		if (json_object_object_get_ex(r, "ok", &ok))
			out->last_ok = json_object_get_boolean(ok);
		copy_string(r, "error", out->last_error, sizeof(out->last_error));
	}
	json_object_put(root);
	return 0;
}

/*
 * Whether the status file's daemon runs: its pid file's lock is held by that
 * pid (a status file outlives a daemon killed with -9; a pid is reused).
 */
static bool running(const struct daemon_status *st)
{
	int fd = open(st->pid_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	struct stat sb;
	bool held;

	if (fd < 0)
		return false;
	/* A pid file, not a device or a FIFO the status file names. */
	held = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && st->pid > 1 &&
	       daemon_lock_holder(fd) == st->pid;
	close(fd);
	return held;
}

int daemon_status_find(const char *pin_path, struct daemon_status *out)
{
	DIR *d = opendir(DAEMON_RUN_DIR);
	struct dirent *e;
	int found = -ENOENT;

	if (!d)
		return -ENOENT;
	while (found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char file[PATH_MAX];

		if (n < 12 || strcmp(e->d_name + n - 12, ".status.json"))
			continue;
		snprintf(file, sizeof(file), "%s/%s", DAEMON_RUN_DIR, e->d_name);
		if (daemon_status_read(file, out) == 0 && !strcmp(out->pin_path, pin_path) &&
		    running(out))
			found = 0;
	}
	closedir(d);
	return found;
}
