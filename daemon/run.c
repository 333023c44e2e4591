// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon as a service: one pid file held with a lock (a second daemon
 * is refused), the config applied, then a loop on one thread that waits in
 * poll() for a signal (signalfd: SIGHUP reloads, SIGTERM and SIGINT stop)
 * or for the next periodic job: housekeeping (flow expiry, list sweeps, the
 * report), the list files' refresh, blocks and their hooks (hooks.c), the
 * config's interfaces deleted and made again, a retry of what could not be
 * applied, and systemd's watchdog. Security alerts come from the event
 * workers and go to the log, one line each; /metrics has its own thread
 * (metrics.c).
 *
 * Beside the pid file: NAME.status.json (what `netprobe status` and
 * `netprobe daemon --reload` read: the last reload's outcome) and
 * NAME.owned.json (what the daemon made, for the next reload or restart).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <systemd/sd-daemon.h>
#include "daemon.h"

struct daemon {
	const struct daemon_args *args;
	struct daemon_config cfg;
	struct daemon_lists lists;
	struct daemon_owned owned;
	struct netprobe_manager *m;
	char status_file[PATH_MAX], owned_file[PATH_MAX];
	int pid_fd;
	bool pid_created; /* the pid file is this start's */
	bool ran;	  /* got as far as running */
	unsigned long long started_ns;
	/* The last reload: its outcome, for status and --reload. */
	unsigned int reloads;
	bool last_ok;
	char last_error[512];
	unsigned long long last_reload_ns;
	unsigned int last_changes;
	double next_refresh;
	bool in_sync;		 /* the last apply went through whole */
	char lists_error[512];	 /* the list files refused at the last refresh ("": none) */
	struct dc_cidrs awaited; /* the config's interfaces deleted: attached when they come back */
	unsigned long long last_success_ns; /* when the config was last applied whole */
	struct metrics *metrics;	    /* NULL: not served */
	struct ipfix *ipfix;		    /* NULL: no flow export */
	struct ipfix_stats ipfix_before;    /* of exporters a reload replaced */
	struct bgp *bgp;		    /* NULL: no upstream mitigation */
	struct bgp_stats bgp_before;	    /* of the BGP modules a reload replaced */
	double retry_at;	 /* when to apply again after one that did not; 0: none due */
	struct stat config_seen; /* the config file as last read (--reload-on-change) */
	uint64_t watchdog_usec;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long long realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* FILE.pid -> FILE.SUFFIX, beside it. */
void daemon_side_file(const char *pid_file, const char *suffix, char *out, size_t len)
{
	size_t n = strlen(pid_file);

	if (n > 4 && !strcmp(pid_file + n - 4, ".pid"))
		n -= 4;
	snprintf(out, len, "%.*s.%s", (int)n, pid_file, suffix);
}

static void print_errors(const struct dc_errors *e)
{
	for (unsigned int i = 0; i < e->count && i < DC_MAX_ERRORS; i++)
		dlog(NETPROBE_LOG_ERROR, "%s", e->msg[i] ?: "(out of memory)");
	if (e->count > DC_MAX_ERRORS)
		dlog(NETPROBE_LOG_ERROR, "... and %u more", e->count - DC_MAX_ERRORS);
}

/* root, on the state the config's pin path gives a service user: becomes that user (privileges.c). */
static int act_as_state_owner(const char *config, const char *default_pin_path)
{
	char pin_path[NETPROBE_PIN_PATH_MAX];
	uid_t owner;
	int err;

	daemon_config_pin_path(config, default_pin_path, pin_path, sizeof(pin_path));
	err = daemon_act_as_state_owner(pin_path, &owner);
	if (err)
		dlog(NETPROBE_LOG_ERROR, "%s: cannot act as its owner: %s", pin_path,
		     strerror(-err));
	else if (owner)
		dlog(NETPROBE_LOG_DEBUG, "%s belongs to uid %u: working as that user", pin_path,
		     (unsigned int)owner);
	return err;
}

/*
 * A root start on state given to a service user (the systemd unit's) is
 * refused: root's files in it would be the user's to replace, and the
 * service would find pins it cannot open.
 */
static int root_on_service_state(const char *config, const char *default_pin_path)
{
	char pin_path[NETPROBE_PIN_PATH_MAX];
	uid_t uid;
	gid_t gid;

	daemon_config_pin_path(config, default_pin_path, pin_path, sizeof(pin_path));
	if (geteuid() != 0 || daemon_state_owner(pin_path, &uid, &gid) != 1)
		return 0;
	dlog(NETPROBE_LOG_ERROR,
	     "%s belongs to uid %u, the service's user: the daemon runs as that user "
	     "(systemctl start netprobe), not as root",
	     pin_path, (unsigned int)uid);
	return -EPERM;
}

/* ---- --check-config ---- */

int daemon_check(const char *path, const char *default_pin_path)
{
	struct daemon_config cfg;
	struct daemon_lists lists;
	struct dc_errors errs;
	int err;

	if (act_as_state_owner(path, default_pin_path))
		return 1;
	err = daemon_config_read(path, default_pin_path, 0, &cfg, &errs);
	if (!err) {
		err = daemon_lists_read(&cfg, &lists, &errs);
		if (!err) {
			printf("%s: ok: %zu interface%s, %zu deny and %zu allow entries (files "
			       "included), %zu service%s\n",
			       path, cfg.nifaces, cfg.nifaces == 1 ? "" : "s", lists.deny.n,
			       lists.allow.n, cfg.nservices, cfg.nservices == 1 ? "" : "s");
			daemon_lists_free(&lists);
		}
		daemon_config_free(&cfg);
	}
	print_errors(&errs);
	dc_errors_free(&errs);
	return err ? 1 : 0;
}

/* ---- The status file ---- */

/* An exporter that goes (its last records sent first): its counts stay in the totals /metrics shows. */
static void ipfix_replace(struct daemon *d)
{
	struct ipfix_stats final;

	ipfix_stop(d->ipfix, true, &final);
	ipfix_stats_add(&d->ipfix_before, &final);
	d->ipfix = NULL;
}

/*
 * Whether two BGP settings announce the same routes through the same
 * speaker: the next module then finds the last one's routes its own.
 */
static bool bgp_same_routes(const struct daemon_bgp_opts *a, const struct daemon_bgp_opts *b)
{
	return a->enabled == b->enabled && a->speaker == b->speaker && a->action == b->action &&
	       !strcmp(a->api, b->api) && !strcmp(a->pipe, b->pipe) &&
	       !strcmp(a->command, b->command) && !strcmp(a->next_hop_v4, b->next_hop_v4) &&
	       !strcmp(a->next_hop_v6, b->next_hop_v6) && a->ncommunities == b->ncommunities &&
	       !memcmp(a->communities, b->communities, a->ncommunities * sizeof(a->communities[0]));
}

/*
 * The BGP module that goes, its counts kept in the totals. Its routes are
 * withdrawn unless the next module takes them as its own: a speaker, an
 * action or communities that change would otherwise strand them.
 */
static void bgp_replace(struct daemon *d, const struct daemon_bgp_opts *next)
{
	struct bgp_stats final;

	bgp_stats(d->bgp, &final);
	d->bgp_before.announcements += final.announcements;
	d->bgp_before.withdrawals += final.withdrawals;
	d->bgp_before.failures += final.failures;
	bgp_stop(d->bgp, !bgp_same_routes(&d->cfg.bgp, next));
	d->bgp = NULL;
}

/* What /metrics shows of the daemon itself. */
static void publish(struct daemon *d)
{
	struct metrics_snapshot snap = {.reloads = d->reloads,
					.last_ok = d->last_ok,
					.in_sync = d->in_sync,
					.last_success_ns = d->last_success_ns,
					.ipfix = d->ipfix != NULL,
					.bgp = d->bgp != NULL};

	ipfix_stats(d->ipfix, &snap.ipfix_stats);
	ipfix_stats_add(&snap.ipfix_stats, &d->ipfix_before);
	bgp_stats(d->bgp, &snap.bgp_stats);
	snap.bgp_stats.announcements += d->bgp_before.announcements;
	snap.bgp_stats.withdrawals += d->bgp_before.withdrawals;
	snap.bgp_stats.failures += d->bgp_before.failures;
	metrics_snapshot_set(d->metrics, &snap);
}

static void write_status(struct daemon *d)
{
	publish(d);
	struct json_object *root = json_object_new_object(), *r = json_object_new_object();
	char tmp[PATH_MAX + 8];

	json_object_object_add(root, "pid", json_object_new_int(getpid()));
	json_object_object_add(root, "config", json_object_new_string(d->cfg.path));
	json_object_object_add(root, "pid_file", json_object_new_string(d->cfg.pid_file));
	json_object_object_add(root, "pin_path", json_object_new_string(d->cfg.state.pin_path));
	json_object_object_add(root, "started_ns", json_object_new_uint64(d->started_ns));
	json_object_object_add(root, "interfaces", json_object_new_int(d->owned.ifaces.n));
	json_object_object_add(root, "services", json_object_new_int(d->owned.services.n));
	json_object_object_add(root, "deny_entries", json_object_new_int(d->owned.deny.n));
	json_object_object_add(root, "allow_entries", json_object_new_int(d->owned.allow.n));
	json_object_object_add(root, "in_sync", json_object_new_boolean(d->in_sync));
	if (d->lists_error[0])
		json_object_object_add(root, "list_files_error",
				       json_object_new_string(d->lists_error));
	json_object_object_add(r, "count", json_object_new_int(d->reloads));
	json_object_object_add(r, "ok", json_object_new_boolean(d->last_ok));
	json_object_object_add(r, "time_ns", json_object_new_uint64(d->last_reload_ns));
	json_object_object_add(r, "changes", json_object_new_int(d->last_changes));
	if (!d->last_ok)
		json_object_object_add(r, "error", json_object_new_string(d->last_error));
	json_object_object_add(root, "last_reload", r);
	snprintf(tmp, sizeof(tmp), "%s.new", d->status_file);
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PLAIN) ||
	    rename(tmp, d->status_file))
		dlog(NETPROBE_LOG_WARN, "cannot write %s: %s", d->status_file, strerror(errno));
	json_object_put(root);
}

static void save_owned(struct daemon *d)
{
	int err = daemon_owned_save(d->owned_file, d->cfg.state.pin_path, &d->owned);

	if (err)
		dlog(NETPROBE_LOG_WARN,
		     "cannot write %s: %s (a restart may not remove what "
		     "this config no longer names)",
		     d->owned_file, strerror(-err));
}

/* ---- Security alerts: one log line each ---- */

static void addr_text(int family, const unsigned char *a, char *buf, size_t len)
{
	inet_ntop(family == NETPROBE_FAMILY_IPV6 ? AF_INET6 : AF_INET, a, buf, len);
}

/*
 * Alert lines a second, at most: spoofed sources make as many alerts as the
 * datapath's own limit allows, and a flooded journal drops the lines that
 * matter. The rest are counted, and said once a second.
 */
#define ALERT_LINES_PER_SEC 50

static bool alert_line_allowed(void)
{
	static _Atomic unsigned long long second, lines, held;
	unsigned long long now = time(NULL), was = second;

	if (now != was && atomic_compare_exchange_strong(&second, &was, now)) {
		unsigned long long missed = atomic_exchange(&held, 0);

		atomic_store(&lines, 0);
		if (missed)
			dlog(NETPROBE_LOG_WARN,
			     "alerts: %llu more in the second before, not logged "
			     "(netprobe stats counts them all)",
			     missed);
	}
	if (atomic_fetch_add(&lines, 1) < ALERT_LINES_PER_SEC)
		return true;
	atomic_fetch_add(&held, 1);
	return false;
}

/*
 * The loop's wake-up (an eventfd): a block just made is looked at now, not
 * at the next second, so that a BGP announcement leaves within the second.
 */
static int wake_fd = -1;

static void wake_loop(void)
{
	if (wake_fd >= 0)
		eventfd_write(wake_fd, 1);
}

static void on_security(const struct netprobe_event_batch *b, void *ctx)
{
	static const char *const scopes[] = {"source", "destination", "interface"};

	(void)ctx;
	for (size_t i = 0; i < b->count; i++) {
		const struct netprobe_security_event *e = (const void *)b->events[i];
		const char *why = netprobe_unblocked_name(e->not_blocked);
		char src[INET6_ADDRSTRLEN + 4], dst[INET6_ADDRSTRLEN], ifname[IF_NAMESIZE] = "?";

		if (e->hdr.type != NETPROBE_EVENT_SECURITY || e->hdr.size < sizeof(*e))
			continue;
		addr_text(e->family, e->src, src, sizeof(src));
		if (e->src_prefix_len)
			snprintf(src + strlen(src), sizeof(src) - strlen(src), "/%u",
				 e->src_prefix_len);
		addr_text(e->family, e->dst, dst, sizeof(dst));
		if_indextoname(e->hdr.ifindex, ifname);
		if (e->blocked) {
			hooks_note_alert(src, e->rate, e->threshold);
			wake_loop();
		}
		if (!alert_line_allowed())
			continue;
		dlog(NETPROBE_LOG_WARN,
		     "alert type=%s scope=%s src=%s dst=%s interface=%s rate=%llu threshold=%llu "
		     "window_ms=%u blocked=%s%s%s",
		     netprobe_detection_name(e->detection) ?: "unknown",
		     e->scope < 3 ? scopes[e->scope] : "unknown", src, dst, ifname,
		     (unsigned long long)e->rate, (unsigned long long)e->threshold, e->window_ms,
		     e->blocked ? "true" : "false", why ? " not_blocked=" : "", why ?: "");
	}
}

static void on_report(const struct netprobe_global_stats *now,
		      const struct netprobe_global_stats *before, double secs, void *ctx)
{
	(void)ctx;
	/* An interface detached meanwhile takes its counts out of the totals: no rate then. */
	double rx = now->rx_packets >= before->rx_packets
			    ? (now->rx_packets - before->rx_packets) / secs
			    : 0,
	       tx = now->tx_packets >= before->tx_packets
			    ? (now->tx_packets - before->tx_packets) / secs
			    : 0;

	dlog(NETPROBE_LOG_INFO,
	     "report rx_pps=%.0f tx_pps=%.0f rx_packets=%llu tx_packets=%llu xdp_drop=%llu "
	     "malformed=%llu",
	     rx, tx, now->rx_packets, now->tx_packets, now->xdp_drop, now->malformed);
}

/* ---- Start ---- */

static int mkdir_parents(const char *file)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", file);
	for (char *s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

/*
 * Takes the pid file: a POSIX lock held for our life, so that another
 * process learns the holder's pid from the kernel (F_GETLK), never from
 * the file's text. Its directory must be root's (or ours) and writable by
 * nobody else, and an existing file a pid file of ours: else anyone could
 * pre-make it, or name another file for us to truncate.
 */
static int take_pid_file(struct daemon *d)
{
	const char *path = d->cfg.pid_file;
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char buf[32], dir_why[PATH_MAX + 128];
	struct stat st;
	ssize_t n;
	int fd, err;

	err = mkdir_parents(path);
	if (err) {
		dlog(NETPROBE_LOG_ERROR, "cannot make the directory of %s: %s", path,
		     strerror(-err));
		return err;
	}
	if (dc_trusted_dirs(path, DC_STICKY_ABOVE, dir_why, sizeof(dir_why))) {
		dlog(NETPROBE_LOG_ERROR, "pid file %s: %s: refused", path, dir_why);
		return -EPERM;
	}
	/* Made by this start, or there before: one made and never run on goes again. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	d->pid_created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		dlog(NETPROBE_LOG_ERROR, "cannot open the pid file %s: %s", path, strerror(errno));
		return err;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_size >= (off_t)sizeof(buf) ||
	    buf[strspn(buf, "0123456789\n")]) {
		dlog(NETPROBE_LOG_ERROR,
		     "%s is no pid file of ours (a regular file of our user, a pid in it): refused",
		     path);
		close(fd);
		return -EPERM;
	}
	if (fcntl(fd, F_SETLK, &fl)) {
		pid_t holder = daemon_lock_holder(fd);

		err = errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
		if (holder)
			dlog(NETPROBE_LOG_ERROR,
			     "another netprobe daemon (pid %d) runs with %s: one at a time", holder,
			     path);
		else
			dlog(NETPROBE_LOG_ERROR,
			     "another netprobe daemon runs with %s: one at a time", path);
		close(fd);
		return err;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", getpid());
	if (ftruncate(fd, 0) || pwrite(fd, buf, n, 0) != n) {
		err = -errno;
		dlog(NETPROBE_LOG_ERROR, "cannot write the pid file %s: %s", path, strerror(errno));
		close(fd);
		return err;
	}
	d->pid_fd = fd;
	return 0;
}

static int start_events(struct daemon *d)
{
	int err = netprobe_manager_on_event(d->m, NETPROBE_EVENT_MASK(NETPROBE_EVENT_SECURITY),
					    on_security, d);
	char why[256];

	/* The library's reason is taken, and ours said instead: it names who else reads. */
	dlog_capture_begin(why, sizeof(why));
	err = err ?: netprobe_manager_events_start_opts(d->m, &d->cfg.events);
	dlog_capture_end();
	if (err == -EBUSY)
		dlog(NETPROBE_LOG_ERROR,
		     "another process reads the events of %s (another netprobe daemon, or "
		     "netprobe events): one at a time",
		     d->cfg.state.pin_path);
	else if (err)
		dlog(NETPROBE_LOG_ERROR, "events: %s", why[0] ? why : netprobe_strerror(err));
	return err;
}

/* Where /metrics is served: --metrics, else the config's; NULL: not served. */
static const char *metrics_listen(const struct daemon *d, const struct daemon_config *cfg)
{
	if (d->args->metrics)
		return d->args->metrics;
	return cfg->metrics.enabled ? cfg->metrics.listen : NULL;
}

/* A new address: the new server first (the old stays if it cannot start), then the old goes. */
static int metrics_move(struct daemon *d, const struct daemon_config *next)
{
	const char *want = metrics_listen(d, next);
	struct metrics *fresh;

	if (!want && d->metrics) {
		metrics_stop(d->metrics);
		d->metrics = NULL;
		dlog(NETPROBE_LOG_INFO, "metrics: no longer served");
		return 0;
	}
	if (!want || (d->metrics && !strcmp(metrics_listening(d->metrics), want)))
		return 0;
	fresh = metrics_start(want, &next->state, d->m);
	if (!fresh)
		return -EADDRNOTAVAIL;
	metrics_stop(d->metrics);
	d->metrics = fresh;
	return 0;
}

/*
 * A record of another pin path: the daemon ran there and its datapath may
 * still run; a start here would forget it. Refused before anything is made.
 */
static bool other_pin_path(struct daemon *d)
{
	struct json_object *root = json_object_from_file(d->owned_file), *pin;
	const char *was;
	bool other = false;

	if (!root)
		return false;
	if (json_object_object_get_ex(root, "pin_path", &pin)) {
		static const char *const sets[] = {"interfaces", "deny", "allow", "services"};
		size_t held = 0;

		/* An empty record (--detach-on-exit) holds nothing to forget. */
		for (size_t i = 0; i < 4; i++) {
			struct json_object *a;

			if (json_object_object_get_ex(root, sets[i], &a) &&
			    json_object_is_type(a, json_type_array))
				held += json_object_array_length(a);
		}
		was = json_object_get_string(pin);
		other = held && was && strcmp(was, d->cfg.state.pin_path);
		if (other)
			dlog(NETPROBE_LOG_ERROR,
			     "%s: the daemon last ran with pin path %s, and what it made may run "
			     "there still: remove it first (netprobe daemon --detach-on-exit, or "
			     "netprobe -P %s detach --all and its lists and services), then remove "
			     "%s",
			     d->owned_file, was, was, d->owned_file);
	}
	json_object_put(root);
	return other;
}

/* ---- Reload ---- */

/* Settings a running daemon cannot take: the place of its state and of its pid file. */
static bool reload_possible(struct daemon *d, const struct daemon_config *next)
{
	if (strcmp(next->state.pin_path, d->cfg.state.pin_path)) {
		snprintf(d->last_error, sizeof(d->last_error),
			 "pin_path changed (%.200s to %.200s): that takes a restart",
			 d->cfg.state.pin_path, next->state.pin_path);
		return false;
	}
	if (strcmp(next->pid_file, d->cfg.pid_file)) {
		snprintf(d->last_error, sizeof(d->last_error),
			 "pid_file changed (%.200s to %.200s): that takes a restart",
			 d->cfg.pid_file, next->pid_file);
		return false;
	}
	return true;
}

/*
 * After an apply that failed in part (a lock held too long, a table full),
 * the same config is applied again every RETRY_S until it goes through:
 * only the differences, so what did go through is not done twice.
 */
#define RETRY_S 10

static void applied(struct daemon *d, int err)
{
	d->in_sync = !err;
	d->retry_at = err ? now_s() + RETRY_S : 0;
	if (!err)
		d->last_success_ns = realtime_ns();
}

static void reload(struct daemon *d)
{
	struct daemon_config next;
	struct daemon_lists lists;
	struct daemon_apply_result res = {};
	struct dc_errors errs;
	int err;

	sd_notify(0, "RELOADING=1\nSTATUS=reloading the config");
	dlog(NETPROBE_LOG_INFO, "reload: reading %s", d->cfg.path);
	stat(d->cfg.path, &d->config_seen);
	d->reloads++;
	d->last_reload_ns = realtime_ns();
	d->last_changes = 0;
	d->last_error[0] = '\0';
	err = daemon_config_read(d->cfg.path, d->args->default_pin_path, 0, &next, &errs);
	if (!err) {
		err = daemon_lists_read(&next, &lists, &errs);
		if (err)
			daemon_config_free(&next);
	}
	if (err) {
		print_errors(&errs);
		snprintf(d->last_error, sizeof(d->last_error), "%s",
			 errs.count && errs.msg[0] ? errs.msg[0] : "the config cannot be read");
		dc_errors_free(&errs);
		goto refused;
	}
	if (!reload_possible(d, &next)) {
		daemon_config_free(&next);
		daemon_lists_free(&lists);
		dlog(NETPROBE_LOG_ERROR, "reload: %s", d->last_error);
		goto refused;
	}
	if (memcmp(&next.state, &d->cfg.state, sizeof(next.state)))
		dlog(NETPROBE_LOG_WARN, "reload: tables: sizes are taken when the pinned state is "
					"made; the running state keeps its own");
	/*
	 * The pipeline keeps its settings: stopping it would let go of the ring
	 * buffer's one consumer lock, which another reader could take meanwhile.
	 */
	if (memcmp(&next.events, &d->cfg.events, sizeof(next.events))) {
		dlog(NETPROBE_LOG_WARN, "reload: events: new settings take a restart; the pipeline "
					"keeps its own");
		next.events = d->cfg.events;
	}
	if (netprobe_manager_set_housekeeping(d->m, &next.housekeeping))
		dlog(NETPROBE_LOG_ERROR, "reload: housekeeping: the new settings are refused");
	if (!d->args->log_level_given)
		dlog_set_level(next.log_level);
	/*
	 * Another collector or domain: what is new of every flow goes to the old
	 * one first, before the apply detaches anything; new timers change in
	 * place.
	 */
	bool new_exporter = next.ipfix.enabled != d->cfg.ipfix.enabled ||
			    strcmp(next.ipfix.collector, d->cfg.ipfix.collector) ||
			    next.ipfix.tcp != d->cfg.ipfix.tcp ||
			    next.ipfix.observation_domain != d->cfg.ipfix.observation_domain;

	if (new_exporter) {
		ipfix_replace(d);
	} else {
		ipfix_retime(d->ipfix, &next.ipfix);
	}
	/* Both read into a config that starts zeroed, padding too: the bytes are the settings. */
	// NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c)
	bool new_bgp = memcmp(&next.bgp, &d->cfg.bgp, sizeof(next.bgp)) != 0;

	if (new_bgp)
		bgp_replace(d, &next.bgp);
	err = daemon_apply(d->m, &next, &lists, &d->owned, &res);
	if (metrics_move(d, &next) && !err)
		err = -EADDRNOTAVAIL; /* the old address is still served */
	if (new_bgp && next.bgp.enabled) {
		d->bgp = bgp_start(&next.bgp);
		if (!d->bgp && !err)
			err = -errno;
		if (d->bgp)
			bgp_update(d->bgp, d->m);
	}
	if (new_exporter && next.ipfix.enabled) {
		d->ipfix = ipfix_start(&next.ipfix, d->m);
		if (!d->ipfix && !err)
			err = -EHOSTUNREACH;
	}
	save_owned(d);
	daemon_config_free(&d->cfg);
	daemon_lists_free(&d->lists);
	d->cfg = next;
	d->lists = lists;
	d->lists_error[0] = '\0'; /* the files were read whole */
	d->last_changes = res.changes;
	d->next_refresh = now_s() + d->cfg.list_refresh_s;
	applied(d, err);
	if (err) {
		snprintf(d->last_error, sizeof(d->last_error),
			 "applied in part: %s (the log says what; tried again every %d s)",
			 netprobe_strerror(err), RETRY_S);
		dlog(NETPROBE_LOG_ERROR, "reload: %s", d->last_error);
		d->last_ok = false;
	} else {
		dlog(NETPROBE_LOG_INFO, "reload: done, %u changes", res.changes);
		d->last_ok = true;
	}
	write_status(d);
	sd_notifyf(0, "READY=1\nSTATUS=running; last reload %s", d->last_ok ? "ok" : "failed");
	return;
refused:
	dlog(NETPROBE_LOG_ERROR, "reload refused: the running config stays");
	d->last_ok = false;
	write_status(d);
	sd_notify(0, "READY=1\nSTATUS=running; last reload refused (the old config stays)");
}

/* The config applied again, after a failure: the differences that are left. */
static void retry(struct daemon *d)
{
	struct daemon_apply_result res;
	int err = daemon_apply(d->m, &d->cfg, &d->lists, &d->owned, &res);

	if (d->cfg.ipfix.enabled && !d->ipfix) {
		d->ipfix = ipfix_start(&d->cfg.ipfix, d->m);
		err = err ?: d->ipfix ? 0 : -EHOSTUNREACH;
	}
	if (d->cfg.bgp.enabled && !d->bgp) {
		d->bgp = bgp_start(&d->cfg.bgp);
		err = err ?: d->bgp ? 0 : -errno;
		if (d->bgp)
			bgp_update(d->bgp, d->m);
	}

	save_owned(d);
	applied(d, err);
	if (err)
		dlog(NETPROBE_LOG_ERROR, "retry: still not applied whole: %s; again in %d s",
		     netprobe_strerror(err), RETRY_S);
	else
		dlog(NETPROBE_LOG_INFO, "retry: applied, %u changes", res.changes);
	write_status(d);
}

/*
 * The list files read again; applied when what they say changed. The lists
 * are taken as the running ones even when their apply failed in part: the
 * retry goes on from them.
 */
static void refresh_lists(struct daemon *d)
{
	struct daemon_lists lists;
	struct daemon_apply_result res = {};
	struct dc_errors errs;
	int err;

	if (!d->cfg.nfiles)
		return;
	err = daemon_lists_read(&d->cfg, &lists, &errs);
	if (err) {
		const char *first = errs.count && errs.msg[0] ? errs.msg[0] : "cannot be read";

		/* Said once, not at every refresh; status says it until the files parse. */
		if (strcmp(first, d->lists_error)) {
			print_errors(&errs);
			dlog(NETPROBE_LOG_ERROR,
			     "lists: a list file is refused; the lists stay as they are");
			snprintf(d->lists_error, sizeof(d->lists_error), "%s", first);
			write_status(d);
		}
		dc_errors_free(&errs);
		return;
	}
	if (d->lists_error[0]) {
		dlog(NETPROBE_LOG_INFO, "lists: the list files parse again");
		d->lists_error[0] = '\0';
		write_status(d);
	}
	if (daemon_lists_equal(&lists, &d->lists)) {
		daemon_lists_free(&lists);
		return;
	}
	err = daemon_apply_lists(d->m, &lists, &d->owned, &res);
	save_owned(d);
	dlog(err ? NETPROBE_LOG_ERROR : NETPROBE_LOG_INFO, "lists: files read again, %u changes%s",
	     res.changes, err ? ", some refused (tried again)" : "");
	daemon_lists_free(&d->lists);
	d->lists = lists;
	if (err)
		applied(d, err);
	write_status(d);
}

/* ---- Interfaces deleted and made again ---- */

struct gone_ctx {
	struct daemon *d;
	char names[NETPROBE_MAX_IFACES][NETPROBE_IFNAMSIZ];
	unsigned int n;
};

static int find_gone(const struct netprobe_iface *it, void *ctx)
{
	struct gone_ctx *g = ctx;

	if (it->gone && it->in_current_netns && g->n < NETPROBE_MAX_IFACES)
		snprintf(g->names[g->n++], NETPROBE_IFNAMSIZ, "%s", it->name);
	return 0;
}

static bool in_config(const struct daemon_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nifaces; i++)
		if (!strcmp(cfg->ifaces[i].name, name))
			return true;
	return false;
}

/*
 * Every second: an interface of the config that was deleted has its slot
 * freed at once (the name then means the new one, not the dead one), and
 * is attached again when an interface of that name comes back. One
 * detached by hand is left as it is until the next reload.
 */
static void watch_ifaces(struct daemon *d)
{
	struct gone_ctx g = {.d = d};

	netprobe_manager_foreach_iface(d->m, find_gone, &g);
	for (unsigned int i = 0; i < g.n; i++) {
		if (!in_config(&d->cfg, g.names[i]))
			continue;
		dlog(NETPROBE_LOG_WARN,
		     "%s: the interface was deleted: its slot is freed; it is "
		     "attached again when it comes back",
		     g.names[i]);
		netprobe_manager_detach(d->m, g.names[i]);
		dc_cidrs_add(&d->awaited, g.names[i]);
	}
	for (size_t i = 0; i < d->awaited.n; i++) {
		const char *name = d->awaited.v[i].text;

		if (!in_config(&d->cfg, name) || if_nametoindex(name)) {
			if (in_config(&d->cfg, name)) {
				dlog(NETPROBE_LOG_INFO, "%s: back: attached again", name);
				d->retry_at = now_s(); /* the apply attaches it */
			}
			d->awaited.v[i] = d->awaited.v[--d->awaited.n];
			i--;
		}
	}
}

/* ---- The loop ---- */

/*
 * --reload-on-change: whether the config file is another than the one last
 * read. stat follows symlinks: a Kubernetes ConfigMap's file is one, and an
 * update swaps what it points to (another inode); an editor's save changes
 * the inode, the time or the size. A change half written is refused as any
 * bad config is, and the rest of the write is another change.
 */
static bool config_changed(const struct daemon *d)
{
	struct stat st;
	const struct stat *seen = &d->config_seen;

	if (stat(d->cfg.path, &st))
		return false; /* gone for a moment (being replaced): the next look sees */
	return st.st_dev != seen->st_dev || st.st_ino != seen->st_ino ||
	       st.st_size != seen->st_size || st.st_mtim.tv_sec != seen->st_mtim.tv_sec ||
	       st.st_mtim.tv_nsec != seen->st_mtim.tv_nsec;
}

static int signal_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked before any thread starts: the event workers inherit the mask. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int loop(struct daemon *d, int sfd)
{
	double next_watchdog = 0, next_blocks = 0, last_blocks = 0;

	for (;;) {
		unsigned int next_ms = 1000;
		struct signalfd_siginfo si;
		struct pollfd pfd[3] = {{sfd, POLLIN, 0}, {-1, 0, 0}, {wake_fd, POLLIN, 0}};
		double now = now_s(), wait;
		eventfd_t woken;

		netprobe_manager_housekeeping(d->m, &next_ms);
		/*
		 * Blocks made and ended, every second, and at once after an alert
		 * that blocked (at most ten times a second: a spoofer's many
		 * sources make one look, not many): log lines, hooks, BGP.
		 */
		if (now >= next_blocks) {
			bool changed = hooks_check_blocks(d->m, &d->cfg);

			if (d->bgp && (changed || bgp_due(d->bgp)))
				bgp_update(d->bgp, d->m);
			if (d->bgp)
				publish(d); /* the BGP worker's counts, for /metrics */
			watch_ifaces(d);
			last_blocks = now;
			next_blocks = now + 1;
			if (d->args->reload_on_change && config_changed(d)) {
				dlog(NETPROBE_LOG_INFO, "%s changed", d->cfg.path);
				reload(d);
			}
		}
		hooks_tick(&d->cfg);
		if (d->cfg.list_refresh_s && now >= d->next_refresh) {
			refresh_lists(d);
			d->next_refresh = now + d->cfg.list_refresh_s;
		}
		if (d->retry_at && now >= d->retry_at)
			retry(d);
		if (d->watchdog_usec && now >= next_watchdog) {
			sd_notify(0, "WATCHDOG=1");
			next_watchdog = now + d->watchdog_usec / 2e6;
		}
		wait = next_ms / 1e3;
		if (d->cfg.list_refresh_s && d->next_refresh - now < wait)
			wait = d->next_refresh - now;
		if (d->watchdog_usec && next_watchdog - now < wait)
			wait = next_watchdog - now;
		if (next_blocks - now < wait)
			wait = next_blocks - now;
		if (d->retry_at && d->retry_at - now < wait)
			wait = d->retry_at - now;
		if (d->ipfix) {
			double due = ipfix_tick(d->ipfix);

			if (due < wait)
				wait = due;
			publish(d); /* the exporter's counts, for /metrics */
		}
		if (hooks_busy() && wait > 0.05)
			wait = 0.05; /* reaped and timed out without delay */
		if (wait < 0.001)
			wait = 0.001;
		ipfix_pollfd(d->ipfix, &pfd[1]); /* the collector's socket, when it waits on it */
		if (poll(pfd, 3, (int)(wait * 1000)) < 0 && errno != EINTR)
			return -errno;
		if (wake_fd >= 0 && eventfd_read(wake_fd, &woken) == 0 &&
		    next_blocks > last_blocks + 0.1)
			next_blocks = last_blocks + 0.1;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				reload(d);
			} else {
				dlog(NETPROBE_LOG_INFO, "%s: stopping",
				     si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
				return 0;
			}
		}
	}
}

static int drop_privileges(void)
{
	char kept[128];
	int err = daemon_drop_privileges(kept, sizeof(kept));

	if (err)
		dlog(NETPROBE_LOG_ERROR, "cannot drop capabilities: %s", strerror(-err));
	else
		dlog(NETPROBE_LOG_INFO, "capabilities: kept %s, dropped the rest",
		     kept[0] ? kept : "none");
	return err;
}

int daemon_run(const struct daemon_args *args)
{
	struct daemon d = {.args = args, .pid_fd = -1, .last_ok = true};
	struct dc_errors errs;
	struct daemon_apply_result res;
	int err, sfd, rc = 1;

	dlog_setup(args->log_level_given ? args->log_level : NETPROBE_LOG_INFO);
	if (root_on_service_state(args->config, args->default_pin_path))
		return 1;
	stat(args->config, &d.config_seen); /* before the read: a change meanwhile is seen */
	err = daemon_config_read(args->config, args->default_pin_path, 0, &d.cfg, &errs);
	if (!err) {
		err = daemon_lists_read(&d.cfg, &d.lists, &errs);
		if (err)
			daemon_config_free(&d.cfg);
	}
	if (err) {
		print_errors(&errs);
		dc_errors_free(&errs);
		dlog(NETPROBE_LOG_ERROR, "%s: refused, nothing changed", args->config);
		return 1;
	}
	if (!args->log_level_given)
		dlog_set_level(d.cfg.log_level);
	/* A hook that exits before reading its stdin must not take the daemon with it. */
	signal(SIGPIPE, SIG_IGN);
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	sfd = signal_fd();
	if (sfd < 0 || wake_fd < 0) {
		dlog(NETPROBE_LOG_ERROR, "signals: %s", strerror(errno));
		goto out;
	}
	if (take_pid_file(&d))
		goto out;
	daemon_side_file(d.cfg.pid_file, "status.json", d.status_file, sizeof(d.status_file));
	daemon_side_file(d.cfg.pid_file, "owned.json", d.owned_file, sizeof(d.owned_file));
	d.m = netprobe_manager_new_opts(&d.cfg.state);
	err = d.m ? netprobe_manager_load(d.m) : -errno;
	if (err) {
		dlog(NETPROBE_LOG_ERROR, "%s: %s", d.cfg.state.pin_path, netprobe_strerror(err));
		goto out;
	}
	/*
	 * Loaded (bpffs mounted, the locked-memory limit raised): from here on
	 * only what a reload needs, for every thread to come (the event
	 * workers, /metrics) as for this one.
	 */
	if (drop_privileges())
		goto out;
	/* The ring buffer's one consumer: a second daemon on this pin path stops here. */
	if (start_events(&d))
		goto out;
	netprobe_manager_on_report(d.m, on_report, &d);
	netprobe_manager_set_housekeeping(d.m, &d.cfg.housekeeping);
	if (other_pin_path(&d))
		goto out;
	err = daemon_owned_load(d.owned_file, d.cfg.state.pin_path, &d.owned);
	if (err && err != -ENOENT)
		dlog(NETPROBE_LOG_WARN,
		     "%s: %s: taken as none (what a previous run made and the "
		     "config no longer names stays)",
		     d.owned_file, strerror(-err));
	if (!err)
		dlog(NETPROBE_LOG_INFO,
		     "found what a previous run made: %zu interfaces, %zu "
		     "entries, %zu services",
		     d.owned.ifaces.n, d.owned.deny.n + d.owned.allow.n, d.owned.services.n);
	d.started_ns = realtime_ns();
	struct daemon_owned before = {}, made = {}, none = {};

	/* What was ours before: a start that fails takes back what it made, no more. */
	if (daemon_owned_minus(&d.owned, &none, &before)) {
		dlog(NETPROBE_LOG_ERROR, "out of memory");
		goto out;
	}
	err = daemon_apply(d.m, &d.cfg, &d.lists, &d.owned, &res);
	if (err) {
		int undo = daemon_owned_minus(&d.owned, &before, &made);

		/*
		 * The interfaces and services it made go; list entries stay the
		 * config's (some were there by hand before: taking them would
		 * take the operator's).
		 */
		daemon_owned_free(&(struct daemon_owned){.deny = made.deny, .allow = made.allow});
		made.deny = made.allow = (struct dc_cidrs){};
		dlog(NETPROBE_LOG_ERROR,
		     "%s: not applied whole (%s): what this start made is taken "
		     "back, and it stops",
		     d.cfg.path, netprobe_strerror(err));
		undo = undo ?: daemon_unapply(d.m, &made);
		if (undo)
			dlog(NETPROBE_LOG_ERROR,
			     "taking back: %s (the record keeps it, for the next "
			     "start)",
			     netprobe_strerror(undo));
		else {
			/* Ours now: what was before, and the entries. */
			daemon_owned_free(&before);
			daemon_owned_minus(&d.owned, &made, &before);
			daemon_owned_free(&d.owned);
			d.owned = before;
			before = (struct daemon_owned){};
		}
		daemon_owned_free(&made);
		daemon_owned_free(&before);
		save_owned(&d);
		goto out;
	}
	daemon_owned_free(&before);
	save_owned(&d);
	applied(&d, 0);
	d.next_refresh = now_s() + d.cfg.list_refresh_s;
	d.last_changes = res.changes;
	write_status(&d);
	if (sd_watchdog_enabled(0, &d.watchdog_usec) <= 0)
		d.watchdog_usec = 0;
	if (metrics_listen(&d, &d.cfg)) {
		d.metrics = metrics_start(metrics_listen(&d, &d.cfg), &d.cfg.state, d.m);
		if (!d.metrics)
			goto out;
	}
	if (d.cfg.ipfix.enabled) {
		d.ipfix = ipfix_start(&d.cfg.ipfix, d.m);
		if (!d.ipfix)
			goto out;
	}
	if (d.cfg.bgp.enabled) {
		d.bgp = bgp_start(&d.cfg.bgp);
		if (!d.bgp) {
			dlog(NETPROBE_LOG_ERROR, "bgp: %s", strerror(errno));
			goto out;
		}
		/* What the speaker has is made what the lists say: a restart's reconciliation. */
		bgp_update(d.bgp, d.m);
	}
	write_status(&d);
	dlog(NETPROBE_LOG_INFO, "running: %s, pin path %s, %zu interfaces, %u changes made",
	     d.cfg.path, d.cfg.state.pin_path, d.cfg.nifaces, res.changes);
	d.ran = true;
	sd_notifyf(0, "READY=1\nMAINPID=%d\nSTATUS=running: %zu interfaces", getpid(),
		   d.cfg.nifaces);
	rc = loop(&d, sfd) ? 1 : 0;
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	/* Our routes go: nobody would withdraw them when their blocks end. */
	bgp_stop(d.bgp, true);
	d.bgp = NULL;
	hooks_finish(&d.cfg);
	ipfix_stop(d.ipfix, true, NULL); /* what is new of every flow, as forced ends */
	d.ipfix = NULL;
	if (args->detach_on_exit) {
		err = daemon_unapply(d.m, &d.owned);
		save_owned(&d);
		dlog(err ? NETPROBE_LOG_ERROR : NETPROBE_LOG_INFO, "--detach-on-exit: %s",
		     err ? netprobe_strerror(err)
			 : "detached, and removed the entries and services of the config");
		rc = rc ?: !!err;
	} else {
		dlog(NETPROBE_LOG_INFO, "the datapath stays attached, its state pinned at %s",
		     d.cfg.state.pin_path);
	}
out:
	ipfix_stop(d.ipfix, false, NULL);
	bgp_stop(d.bgp, false); /* a start that failed: the next one reconciles */
	metrics_stop(d.metrics);
	netprobe_manager_events_stop(d.m);
	netprobe_manager_free(d.m);
	/*
	 * The status file goes; the pid file stays, unlocked: unlinking it would
	 * race a new daemon that opened it meanwhile (it would lock a file no
	 * one else can find). One this start made and never ran on goes: a
	 * daemon refused leaves nothing.
	 */
	if (d.pid_fd >= 0) {
		unlink(d.status_file);
		if (d.pid_created && !d.ran)
			unlink(d.cfg.pid_file);
		close(d.pid_fd);
	}
	if (sfd >= 0)
		close(sfd);
	if (wake_fd >= 0) {
		close(wake_fd);
		wake_fd = -1;
	}
	daemon_owned_free(&d.owned);
	free(d.awaited.v);
	daemon_lists_free(&d.lists);
	daemon_config_free(&d.cfg);
	return rc;
}

/* ---- --reload: signal the running daemon, wait for its outcome ---- */

/* The same path, or two paths to the same file ("./", "..", a symlink). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	if (!strcmp(a, b))
		return true;
	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int daemon_signal_reload(const char *config, const char *pid_file_opt, const char *default_pin_path)
{
	struct daemon_config cfg;
	struct dc_errors errs;
	char pid_file[PATH_MAX], status[PATH_MAX], config_abs[PATH_MAX];
	struct daemon_status before, after;
	int fd, pidfd;
	pid_t pid;

	dlog_setup(NETPROBE_LOG_INFO);
	if (act_as_state_owner(config, default_pin_path))
		return 1;
	/*
	 * The new file is checked here first, a refusal said where it was asked
	 * (its interfaces by the daemon, in its own network namespace).
	 */
	if (daemon_config_read(config, default_pin_path, DC_READ_ANY_NETNS, &cfg, &errs)) {
		print_errors(&errs);
		dc_errors_free(&errs);
		dlog(NETPROBE_LOG_ERROR, "%s: refused; the daemon was not asked to reload", config);
		return 1;
	}
	snprintf(pid_file, sizeof(pid_file), "%s", pid_file_opt ?: cfg.pid_file);
	snprintf(config_abs, sizeof(config_abs), "%s", cfg.path);
	daemon_config_free(&cfg);
	/* Who runs is the lock's holder, as the kernel says it: not the file's text. */
	fd = open(pid_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	pid = fd >= 0 ? daemon_lock_holder(fd) : 0;
	if (!pid) {
		dlog(NETPROBE_LOG_ERROR, "no netprobe daemon runs with %s (%s)", pid_file,
		     fd < 0 ? strerror(errno) : "it is not locked");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	daemon_side_file(pid_file, "status.json", status, sizeof(status));
	if (daemon_status_read(status, &before) || before.pid != pid) {
		dlog(NETPROBE_LOG_ERROR, "%s does not name pid %d, which holds %s", status, pid,
		     pid_file);
		close(fd);
		return 1;
	}
	/* It reloads its own file: say so rather than check one file and reload another. */
	if (!same_file(before.config, config_abs)) {
		dlog(NETPROBE_LOG_ERROR,
		     "the daemon (pid %d) runs with %s, not %s: it would reload its own; refused",
		     pid, before.config, config_abs);
		close(fd);
		return 1;
	}
	/* Signalled through a pidfd taken while it holds the lock: never a reused pid. */
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 || daemon_lock_holder(fd) != pid ||
	    syscall(SYS_pidfd_send_signal, pidfd, SIGHUP, NULL, 0)) {
		dlog(NETPROBE_LOG_ERROR, "cannot signal pid %d: %s", pid, strerror(errno));
		if (pidfd >= 0)
			close(pidfd);
		close(fd);
		return 1;
	}
	close(pidfd);
	close(fd);
	/* The daemon reloads in its own time: its status file says when, and how it went. */
	for (int tries = 0; tries < 600; tries++) {
		usleep(100000);
		if (daemon_status_read(status, &after) == 0 && after.reloads != before.reloads) {
			if (after.last_ok) {
				printf("netprobe daemon (pid %d): reloaded %s, %u changes\n", pid,
				       after.config, after.last_changes);
				return 0;
			}
			dlog(NETPROBE_LOG_ERROR, "netprobe daemon (pid %d): reload failed: %s", pid,
			     after.last_error);
			return 1;
		}
	}
	dlog(NETPROBE_LOG_ERROR, "netprobe daemon (pid %d) said nothing of the reload within 60 s",
	     pid);
	return 1;
}
