// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Blocks and unblocks, as the operator sees them: every second the daemon's
 * loop compares mitigation's blocks on the deny list with the previous look
 * (the list, not the events: an event may be lost, a block is not). Each new
 * block and each one gone is a log line, and runs the configured command,
 * as FastNetMon's notify script: ACTION ADDRESS DETECTION RATE TTL as
 * arguments, the same as JSON on stdin. Commands run in their own process
 * group, at most HOOK_MAX_RUNNING at once, the rest queued (HOOK_MAX_QUEUED,
 * past that counted and dropped), killed past the timeout; their failures
 * are logged. Nothing here waits: the loop reaps and times them out.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "daemon.h"

#define HOOK_MAX_RUNNING 16
#define HOOK_MAX_QUEUED	 1024
/* Alerts remembered for their rate, which the list does not keep. */
#define RECENT_ALERTS 256

struct block {
	char cidr[64];
	char detection[32];
	unsigned long long ttl_left_ms;
};

struct hook_call {
	bool block; /* else unblock */
	struct block b;
	unsigned long long rate, threshold; /* 0: no alert seen for it */
	const char *reason;		    /* unblocks: "expired" or "removed" */
};

struct running {
	pid_t pid;
	double deadline;
	char what[96];
};

struct recent_alert {
	char src[64];
	unsigned long long rate, threshold;
};

static struct {
	struct block *known;
	size_t nknown;
	bool primed;
	struct hook_call *queue;
	size_t queued;
	unsigned long long dropped;
	struct running running[HOOK_MAX_RUNNING];
	unsigned int nrunning;
	pthread_mutex_t lock; /* the recent alerts: written by the event workers */
	struct recent_alert recent[RECENT_ALERTS];
	unsigned int recent_next;
} h = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void hooks_note_alert(const char *src, unsigned long long rate, unsigned long long threshold)
{
	struct recent_alert *r;

	pthread_mutex_lock(&h.lock);
	r = &h.recent[h.recent_next++ % RECENT_ALERTS];
	snprintf(r->src, sizeof(r->src), "%s", src);
	r->rate = rate;
	r->threshold = threshold;
	pthread_mutex_unlock(&h.lock);
}

/* The latest alert about cidr's source (its address alone, or its prefix). */
static void alert_of(const char *cidr, unsigned long long *rate, unsigned long long *threshold)
{
	size_t addr_len = strcspn(cidr, "/");
	bool host = !strcmp(cidr + addr_len, "/32") || !strcmp(cidr + addr_len, "/128");

	*rate = *threshold = 0;
	pthread_mutex_lock(&h.lock);
	for (unsigned int i = 0; i < RECENT_ALERTS; i++) {
		const struct recent_alert *r =
			&h.recent[(h.recent_next + RECENT_ALERTS - 1 - i) % RECENT_ALERTS];

		if (!r->src[0])
			break;
		if (!strcmp(r->src, cidr) ||
		    (host && strlen(r->src) == addr_len && !strncmp(r->src, cidr, addr_len))) {
			*rate = r->rate;
			*threshold = r->threshold;
			break;
		}
	}
	pthread_mutex_unlock(&h.lock);
}

/* ---- Running a command ---- */

static char *call_json(const struct hook_call *c)
{
	struct json_object *o = json_object_new_object();
	char *text;

	json_object_object_add(o, "action", json_object_new_string(c->block ? "block" : "unblock"));
	json_object_object_add(o, "address", json_object_new_string(c->b.cidr));
	json_object_object_add(o, "detection", json_object_new_string(c->b.detection));
	json_object_object_add(o, "rate", c->rate ? json_object_new_uint64(c->rate) : NULL);
	json_object_object_add(o, "threshold",
			       c->threshold ? json_object_new_uint64(c->threshold) : NULL);
	json_object_object_add(o, "ttl_s", json_object_new_uint64((c->b.ttl_left_ms + 999) / 1000));
	if (c->reason)
		json_object_object_add(o, "reason", json_object_new_string(c->reason));
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

static void start(const struct daemon_config *cfg, const struct hook_call *c)
{
	const char *cmd = c->block ? cfg->hooks.on_block : cfg->hooks.on_unblock;
	char rate[24], ttl[24], *json = call_json(c);
	struct running *r;
	int in[2];
	pid_t pid;

	if (!json || pipe2(in, O_CLOEXEC)) {
		dlog(NETPROBE_LOG_ERROR, "hook %s: cannot start: %s", cmd, strerror(errno));
		free(json);
		return;
	}
	snprintf(rate, sizeof(rate), "%llu", c->rate);
	snprintf(ttl, sizeof(ttl), "%llu", (c->b.ttl_left_ms + 999) / 1000);
	pid = fork();
	if (pid == 0) {
		char *const argv[] = {(char *)cmd,
				      c->block ? "block" : "unblock",
				      (char *)c->b.cidr,
				      (char *)c->b.detection,
				      rate,
				      ttl,
				      NULL};
		sigset_t none;

		/* Its own group, so that a timeout kills what it started too. */
		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL); /* the daemon ignores it; the command gets its own */
		dup2(in[0], STDIN_FILENO);
		execv(cmd, argv);
		_exit(127);
	}
	close(in[0]);
	if (pid < 0) {
		dlog(NETPROBE_LOG_ERROR, "hook %s: cannot start: %s", cmd, strerror(errno));
		close(in[1]);
		free(json);
		return;
	}
	/* Far less than a pipe holds: written at once, never waiting on the command. */
	if (write(in[1], json, strlen(json)) < 0 || write(in[1], "\n", 1) < 0)
		dlog(NETPROBE_LOG_WARN, "hook %s: its stdin: %s", cmd, strerror(errno));
	close(in[1]);
	free(json);
	r = &h.running[h.nrunning++];
	r->pid = pid;
	r->deadline = now_s() + cfg->hooks.timeout_s;
	snprintf(r->what, sizeof(r->what), "%s %s", c->block ? "on_block" : "on_unblock",
		 c->b.cidr);
}

static void enqueue(const struct daemon_config *cfg, const struct hook_call *c)
{
	const char *cmd = c->block ? cfg->hooks.on_block : cfg->hooks.on_unblock;

	if (!cmd[0])
		return;
	if (h.nrunning < HOOK_MAX_RUNNING && !h.queued) {
		start(cfg, c);
		return;
	}
	if (h.queued == HOOK_MAX_QUEUED) {
		if (!h.dropped++)
			dlog(NETPROBE_LOG_ERROR,
			     "hooks: %u waiting already: later ones are dropped "
			     "(and counted) until the queue drains",
			     HOOK_MAX_QUEUED);
		return;
	}
	if (!h.queue)
		h.queue = calloc(HOOK_MAX_QUEUED, sizeof(*h.queue));
	if (h.queue)
		h.queue[h.queued++] = *c;
}

/* Reaps what ended, kills what overran, starts what waits. Never blocks. */
void hooks_tick(const struct daemon_config *cfg)
{
	double now = now_s();

	for (unsigned int i = 0; i < h.nrunning;) {
		struct running *r = &h.running[i];
		int status;
		pid_t got = waitpid(r->pid, &status, WNOHANG);

		if (got == 0 && now < r->deadline) {
			i++;
			continue;
		}
		if (got == 0) {
			kill(-r->pid, SIGKILL);
			waitpid(r->pid, &status, 0);
			dlog(NETPROBE_LOG_ERROR, "hook %s: killed after %u s", r->what,
			     cfg->hooks.timeout_s);
		} else if (got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127) {
			dlog(NETPROBE_LOG_ERROR, "hook %s: could not be run", r->what);
		} else if (got > 0 && WIFEXITED(status) && WEXITSTATUS(status)) {
			dlog(NETPROBE_LOG_ERROR, "hook %s: exited with %d", r->what,
			     WEXITSTATUS(status));
		} else if (got > 0 && WIFSIGNALED(status)) {
			dlog(NETPROBE_LOG_ERROR, "hook %s: killed by signal %d", r->what,
			     WTERMSIG(status));
		}
		h.running[i] = h.running[--h.nrunning];
	}
	while (h.queued && h.nrunning < HOOK_MAX_RUNNING) {
		start(cfg, &h.queue[0]);
		memmove(h.queue, h.queue + 1, --h.queued * sizeof(*h.queue));
	}
	if (!h.queued && h.dropped) {
		dlog(NETPROBE_LOG_ERROR, "hooks: %llu dropped while the queue was full", h.dropped);
		h.dropped = 0;
	}
}

bool hooks_busy(void)
{
	return h.nrunning || h.queued;
}

/* ---- Blocks, compared with the last look ---- */

struct look {
	struct block *v;
	size_t n, cap;
};

static int collect_block(const struct netprobe_acl_entry *e, void *ctx)
{
	struct look *l = ctx;

	if (e->origin == NETPROBE_ORIGIN_MANUAL)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct block *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n].cidr, sizeof(l->v[0].cidr), "%s", e->text);
	snprintf(l->v[l->n].detection, sizeof(l->v[0].detection), "%s",
		 netprobe_acl_origin_name(e->origin) ?: "unknown");
	l->v[l->n++].ttl_left_ms = e->ttl_left_ms;
	return 0;
}

static int block_cmp(const void *a, const void *b)
{
	return strcmp(((const struct block *)a)->cidr, ((const struct block *)b)->cidr);
}

static const struct block *find(const struct block *v, size_t n, const char *cidr)
{
	struct block key;

	snprintf(key.cidr, sizeof(key.cidr), "%s", cidr);
	return n ? bsearch(&key, v, n, sizeof(*v), block_cmp) : NULL;
}

bool hooks_check_blocks(struct netprobe_manager *m, const struct daemon_config *cfg)
{
	struct look now = {};
	bool changed;

	if (netprobe_blacklist_list(m, collect_block, &now)) {
		free(now.v);
		return false; /* tried again at the next tick */
	}
	changed = !h.primed || now.n != h.nknown;
	if (now.n)
		qsort(now.v, now.n, sizeof(*now.v), block_cmp);
	/* The first look is what was there before us: no line, no command for it. */
	if (!h.primed) {
		h.primed = true;
		if (now.n)
			dlog(NETPROBE_LOG_INFO, "%zu blocks of mitigation in force", now.n);
		goto keep;
	}
	for (size_t i = 0; i < now.n; i++) {
		struct hook_call c = {.block = true, .b = now.v[i]};

		if (find(h.known, h.nknown, now.v[i].cidr))
			continue;
		changed = true;
		alert_of(c.b.cidr, &c.rate, &c.threshold);
		dlog(NETPROBE_LOG_WARN,
		     "block address=%s detection=%s rate=%llu threshold=%llu ttl_s=%llu", c.b.cidr,
		     c.b.detection, c.rate, c.threshold, (c.b.ttl_left_ms + 999) / 1000);
		enqueue(cfg, &c);
	}
	for (size_t i = 0; i < h.nknown; i++) {
		struct hook_call c = {.block = false, .b = h.known[i]};

		if (find(now.v, now.n, h.known[i].cidr))
			continue;
		/* What had a second or less left ran out; the rest was lifted. */
		c.reason = h.known[i].ttl_left_ms <= 1500 ? "expired" : "removed";
		c.b.ttl_left_ms = 0;
		alert_of(c.b.cidr, &c.rate, &c.threshold);
		dlog(NETPROBE_LOG_INFO, "unblock address=%s detection=%s reason=%s", c.b.cidr,
		     c.b.detection, c.reason);
		enqueue(cfg, &c);
	}
keep:
	free(h.known);
	h.known = now.v;
	h.nknown = now.n;
	return changed;
}

/* On the way out: what still runs is waited for, up to its timeout. */
void hooks_finish(const struct daemon_config *cfg)
{
	h.queued = 0;
	while (h.nrunning) {
		hooks_tick(cfg);
		if (h.nrunning)
			usleep(20000);
	}
	free(h.known);
	free(h.queue);
	h.known = NULL;
	h.queue = NULL;
	h.nknown = 0;
}
