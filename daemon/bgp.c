// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Upstream mitigation through a BGP speaker the operator already runs
 * (docs/DAEMON.md, "BGP"): what the lists block here is announced to the
 * routers in front, as a blackhole route (RTBH: the prefix with the
 * BLACKHOLE community 65535:666, RFC 7999, to a discard next hop) or as a
 * FlowSpec rule (RFC 8955, 8956: traffic from the prefix, rate 0), and
 * withdrawn when the block ends.
 *
 * The speaker's routes are state of their own, which outlives netprobe and
 * is lost when the speaker restarts; so nothing here remembers what it
 * announced. A worker thread reads the speaker's routes back (those it
 * originates itself that look like ours: the configured communities, or a
 * FlowSpec rule on the source alone with a discard action), compares them
 * with the prefixes the lists want, and adds and removes the difference:
 * at once when the lists changed, and every resync_s besides, so a restart
 * of either side ends with nothing stale announced and nothing live missing.
 *
 * GoBGP is driven through its own command, gobgp, against gobgpd's API:
 * one command a route, JSON to read the table back. ExaBGP through its
 * exabgpcli and named pipes: one command a route, its adj-rib-out read
 * back. Commands run with a timeout, never on the daemon's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "daemon.h"

#define BGP_COMMAND_TIMEOUT_S 10
#define BGP_OUTPUT_MAX	      (64u << 20)
#define BGP_STOP_S	      10 /* a stop waits this long for the withdrawals */

extern char **environ;

/* A route: its prefix, and whether it is a blackhole route or a FlowSpec rule. */
struct prefix {
	enum dc_bgp_action kind;
	struct netprobe_cidr c;
	char text[64];
};

struct prefixes {
	struct prefix *v;
	size_t n, cap;
};

struct bgp {
	struct daemon_bgp_opts o;
	pthread_t worker;
	pthread_mutex_t lock;
	pthread_cond_t cv;	/* the worker's wake-up */
	pthread_cond_t done_cv; /* a sync ended (synced moved) */
	bool stop;
	atomic_bool abort;	   /* a command running is killed, no other starts */
	unsigned long long synced; /* the gen of the last sync that ended (lock) */
	bool said_down;		   /* the speaker's failure was logged (worker) */
	struct prefixes want;	   /* the lists' (lock) */
	unsigned long long gen;	   /* want's version (lock) */
	bool resync_due;	   /* the worker asks for a fresh look at the lists (lock) */
	struct bgp_stats stats;	   /* (lock) */
	/* The loop's own: what it last gave, what it refused, how many over max_routes. */
	struct prefixes given, refused;
	bool given_once;
	size_t over;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- Prefixes ---- */

static int prefix_cmp(const void *a, const void *b)
{
	const struct prefix *pa = a, *pb = b;
	const struct netprobe_cidr *x = &pa->c, *y = &pb->c;

	if (pa->kind != pb->kind)
		return pa->kind < pb->kind ? -1 : 1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->prefix_len != y->prefix_len)
		return x->prefix_len < y->prefix_len ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

static int prefixes_add(struct prefixes *l, const struct netprobe_cidr *c, enum dc_bgp_action kind)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct prefix *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].kind = kind;
	l->v[l->n].c = *c;
	netprobe_cidr_str(c, l->v[l->n].text, sizeof(l->v[0].text));
	l->n++;
	return 0;
}

static void prefixes_sort(struct prefixes *l)
{
	size_t out = 0;

	if (!l->n)
		return;
	qsort(l->v, l->n, sizeof(*l->v), prefix_cmp);
	for (size_t i = 0; i < l->n; i++)
		if (!out || prefix_cmp(&l->v[out - 1], &l->v[i]))
			l->v[out++] = l->v[i];
	l->n = out;
}

static bool prefixes_has(const struct prefixes *sorted, const struct prefix *p)
{
	return sorted->n && bsearch(p, sorted->v, sorted->n, sizeof(*p), prefix_cmp);
}

static bool prefixes_equal(const struct prefixes *a, const struct prefixes *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (prefix_cmp(&a->v[i], &b->v[i]))
			return false;
	return true;
}

/* Whether a and b share an address: one holds the other. */
static bool overlaps(const struct netprobe_cidr *a, const struct netprobe_cidr *b)
{
	unsigned int len = a->prefix_len < b->prefix_len ? a->prefix_len : b->prefix_len;

	if (a->family != b->family)
		return false;
	for (unsigned int i = 0; i < len / 8; i++)
		if (a->addr[i] != b->addr[i])
			return false;
	if (len % 8) {
		unsigned char mask = (unsigned char)(0xff << (8 - len % 8));

		return (a->addr[len / 8] & mask) == (b->addr[len / 8] & mask);
	}
	return true;
}

/* ---- The lists: what to announce (the loop's thread) ---- */

struct lists_look {
	struct prefixes *out;
	bool all; /* the deny list's own entries too */
	/* Each entry's rank for bgp.max_routes: the operator's first, then blocks by evidence. */
	unsigned long long *rank;
	size_t rank_cap;
};

static int collect_deny(const struct netprobe_acl_entry *e, void *ctx)
{
	struct lists_look *l = ctx;
	size_t at = l->out->n;

	if (e->origin == NETPROBE_ORIGIN_MANUAL && !l->all)
		return 0;
	if (at == l->rank_cap) {
		size_t cap = l->rank_cap ? l->rank_cap * 2 : 64;
		unsigned long long *r = realloc(l->rank, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		l->rank = r;
		l->rank_cap = cap;
	}
	l->rank[at] = e->origin == NETPROBE_ORIGIN_MANUAL ? ~0ull : e->evidence;
	return prefixes_add(l->out, &e->cidr, DC_BGP_RTBH);
}

/* Indexes of the deny entries, the highest rank (ctx) first, then as listed. */
static int by_rank(const void *a, const void *b, void *ctx)
{
	const unsigned long long *rank = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (rank[x] != rank[y])
		return rank[x] > rank[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int collect_allow(const struct netprobe_acl_entry *e, void *ctx)
{
	return prefixes_add(((struct lists_look *)ctx)->out, &e->cidr, DC_BGP_RTBH);
}

int bgp_update(struct bgp *b, struct netprobe_manager *m)
{
	struct prefixes deny = {}, allow = {}, want = {}, refused = {};
	struct lists_look dl = {&deny, b->o.deny_list, NULL, 0}, al = {&allow, false, NULL, 0};
	size_t *order = NULL, over = 0;
	int err;

	err = netprobe_blacklist_list(m, collect_deny, &dl);
	err = err ?: netprobe_allowlist_list(m, collect_allow, &al);
	order = err ? NULL : calloc(deny.n ? deny.n : 1, sizeof(*order));
	if (!err && !order)
		err = -ENOMEM;
	if (err)
		goto out; /* tried again at the next look */
	/* Under bgp.max_routes, what the operator listed goes first, then the strongest blocks. */
	for (size_t i = 0; i < deny.n; i++)
		order[i] = i;
	qsort_r(order, deny.n, sizeof(*order), by_rank, dl.rank);
	for (size_t k = 0; k < deny.n && !err; k++) {
		const struct prefix *p = &deny.v[order[k]];
		unsigned int widest =
			p->c.family == NETPROBE_FAMILY_IPV4 ? b->o.widest_v4 : b->o.widest_v6;
		const struct prefix *allowed = NULL;
		bool fresh;

		for (size_t j = 0; j < allow.n && !allowed; j++)
			if (overlaps(&p->c, &allow.v[j].c))
				allowed = &allow.v[j];
		if (p->c.prefix_len >= widest && !allowed && want.n < b->o.max_routes) {
			err = prefixes_add(&want, &p->c, b->o.action);
			continue;
		}
		if (p->c.prefix_len >= widest && !allowed) {
			over++; /* said as a count, below: a flood of blocks is no flood of lines */
			err = prefixes_add(&refused, &p->c, DC_BGP_RTBH);
			continue;
		}
		err = prefixes_add(&refused, &p->c, DC_BGP_RTBH);
		/* Said once, when it is first refused, not at every look. */
		fresh = !prefixes_has(&b->refused, p);
		if (fresh && allowed)
			dlog(NETPROBE_LOG_WARN,
			     "bgp: %s is not announced: it overlaps %s on the allow list", p->text,
			     allowed->text);
		else if (fresh)
			dlog(NETPROBE_LOG_WARN,
			     "bgp: %s is not announced: wider than /%u (bgp.widest_prefix_v%d)",
			     p->text, widest, p->c.family == NETPROBE_FAMILY_IPV4 ? 4 : 6);
	}
	if (err)
		goto out;
	if (over && !b->over)
		dlog(NETPROBE_LOG_WARN,
		     "bgp: %zu blocked prefixes beyond bgp.max_routes (%u) are not announced", over,
		     b->o.max_routes);
	b->over = over;
	prefixes_sort(&want);
	prefixes_sort(&refused);
	pthread_mutex_lock(&b->lock);
	b->resync_due = false;
	b->stats.refused = refused.n;
	if (!b->given_once || !prefixes_equal(&want, &b->given)) {
		struct prefixes copy = {};

		for (size_t i = 0; i < want.n && !err; i++)
			err = prefixes_add(&copy, &want.v[i].c, want.v[i].kind);
		if (!err) {
			free(b->want.v);
			b->want = copy;
			b->gen++;
			pthread_cond_signal(&b->cv);
		} else {
			free(copy.v);
		}
	}
	pthread_mutex_unlock(&b->lock);
	if (!err) {
		free(b->given.v);
		b->given = want;
		b->given_once = true;
		want = (struct prefixes){};
		free(b->refused.v);
		b->refused = refused;
		refused = (struct prefixes){};
	}
out:
	free(order);
	free(dl.rank);
	free(deny.v);
	free(allow.v);
	free(want.v);
	free(refused.v);
	return err;
}

bool bgp_due(struct bgp *b)
{
	bool due;

	if (!b)
		return false;
	pthread_mutex_lock(&b->lock);
	due = b->resync_due || !b->given_once; /* a first look that failed is tried each second */
	pthread_mutex_unlock(&b->lock);
	return due;
}

/* ---- Running the speaker's command ---- */

struct output {
	char *buf;
	size_t len, cap;
	bool truncated; /* past BGP_OUTPUT_MAX, or out of memory: the answer is refused */
};

static void output_add(struct output *o, const char *data, size_t n)
{
	if (o->truncated)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *buf;

		while (cap < o->len + n + 1)
			cap *= 2;
		if (cap > BGP_OUTPUT_MAX) {
			o->truncated = true;
			return;
		}
		buf = realloc(o->buf, cap);
		if (!buf) {
			o->truncated = true;
			return;
		}
		o->buf = buf;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, data, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/*
 * Runs argv (no shell) with stdout into out (when given) and stderr into
 * err_text, killed past BGP_COMMAND_TIMEOUT_S. Its exit status, or -errno.
 */
static int run(struct bgp *b, char *const argv[], const char *extra_env, struct output *out,
	       char *err_text, size_t err_len)
{
	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, status = -1, rc;
	posix_spawn_file_actions_t fa;
	struct output err = {};
	double deadline = now_s() + BGP_COMMAND_TIMEOUT_S;
	pid_t pid;

	err_text[0] = '\0';
	if (pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
		rc = -errno;
		goto close;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
	/*
	 * The daemon's environment but systemd's words to it (a child must not
	 * speak for the daemon), and the speaker's own setting (ExaBGP's pipe).
	 */
	size_t nenv = 0, kept = 0;

	while (environ[nenv])
		nenv++;
	char **envp = calloc(nenv + 2, sizeof(*envp));

	if (!envp) {
		posix_spawn_file_actions_destroy(&fa);
		rc = -ENOMEM;
		goto close;
	}
	for (size_t i = 0; i < nenv; i++)
		if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) &&
		    strncmp(environ[i], "WATCHDOG_", 9) && strncmp(environ[i], "LISTEN_", 7))
			envp[kept++] = environ[i];
	envp[kept] = (char *)extra_env;
	/*
	 * Signals as a new program expects them: none blocked (the daemon's
	 * threads block those of its signalfd), none ignored (SIGPIPE); in a
	 * process group of its own, so that a timeout kills what it started too.
	 */
	posix_spawnattr_t attr;
	sigset_t none, defaults;

	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGHUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	free(envp);
	posix_spawn_file_actions_destroy(&fa);
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	if (rc) {
		rc = -rc;
		goto close;
	}
	/* poll passes over an end already closed (fd -1). */
	while (out_pipe[0] >= 0 || err_pipe[0] >= 0) {
		struct pollfd pfd[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
		double left = deadline - now_s();
		/* A tenth of a second at most: a stop does not wait for a slow speaker. */
		int ready = left > 0 ? poll(pfd, 2, left > 0.1 ? 100 : (int)(left * 1000) + 1) : 0;
		char chunk[65536];

		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0 && left > 0 && !atomic_load(&b->abort))
			continue;
		if (ready <= 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			if (atomic_load(&b->abort)) {
				snprintf(err_text, err_len, "stopped");
				rc = -ECANCELED;
			} else {
				snprintf(err_text, err_len, "no answer within %d s",
					 BGP_COMMAND_TIMEOUT_S);
				rc = -ETIMEDOUT;
			}
			goto close;
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &out_pipe[0] : &err_pipe[0];
			ssize_t n;

			if (*fd < 0 || !pfd[i].revents)
				continue;
			n = read(*fd, chunk, sizeof(chunk));
			if (n > 0 && (i == 1 || out))
				output_add(i == 0 ? out : &err, chunk, n);
			else if (n == 0 || (n < 0 && errno != EINTR)) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (err.len)
		snprintf(err_text, err_len, "%.*s", (int)strcspn(err.buf, "\n"), err.buf);
	else if (rc)
		snprintf(err_text, err_len, "%s exited with %d", argv[0], rc);
	if (!rc && out && out->truncated) {
		snprintf(err_text, err_len, "an answer larger than %u MiB", BGP_OUTPUT_MAX >> 20);
		rc = -E2BIG;
	}
close:
	for (int i = 0; i < 2; i++) {
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
		if (err_pipe[i] >= 0)
			close(err_pipe[i]);
	}
	free(err.buf);
	return rc;
}

/* ---- GoBGP ---- */

struct gobgp_cmd {
	char *argv[24];
	int n;
	char host[64], port[8];
};

/* gobgp -u HOST -p PORT [-j] global rib -a FAMILY */
static void gobgp_begin(const struct bgp *b, struct gobgp_cmd *c, bool json, const char *afi)
{
	const char *api = b->o.api, *colon = strrchr(api, ':');
	size_t host_len = colon ? (size_t)(colon - api) : strlen(api);

	if (host_len >= 2 && api[0] == '[') {
		api++;
		host_len -= 2;
	}
	snprintf(c->host, sizeof(c->host), "%.*s", (int)host_len, api);
	snprintf(c->port, sizeof(c->port), "%s", colon ? colon + 1 : "50051");
	c->n = 0;
	c->argv[c->n++] = (char *)b->o.command;
	c->argv[c->n++] = "-u";
	c->argv[c->n++] = c->host;
	c->argv[c->n++] = "-p";
	c->argv[c->n++] = c->port;
	if (json)
		c->argv[c->n++] = "-j";
	c->argv[c->n++] = "global";
	c->argv[c->n++] = "rib";
	c->argv[c->n++] = "-a";
	c->argv[c->n++] = (char *)afi;
}

static const char *gobgp_afi(enum dc_bgp_action kind, bool v4)
{
	if (kind == DC_BGP_FLOWSPEC)
		return v4 ? "ipv4-flowspec" : "ipv6-flowspec";
	return v4 ? "ipv4" : "ipv6";
}

/*
 * Whether a path of gobgp's JSON is one this speaker originates, not one a
 * neighbor sent (gobgp 3 names the neighbor neighbor-ip and source-id,
 * gobgp 4 peer-address and peer-id).
 */
static bool local_path(struct json_object *path)
{
	static const char *const keys[] = {"neighbor-ip", "source-id", "peer-address", "peer-id"};
	struct json_object *v;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_object_get_ex(path, keys[i], &v))
			return false;
	return true;
}

/* json-c asserts on an array call of anything else: each answer is checked first. */
static bool is_array(struct json_object *o)
{
	return o && json_object_is_type(o, json_type_array);
}

/* Whether a path carries every configured community (RTBH's). */
static bool has_communities(const struct bgp *b, struct json_object *path)
{
	struct json_object *attrs, *a, *type, *list;
	bool found[DC_BGP_MAX_COMMUNITIES] = {};

	if (!json_object_object_get_ex(path, "attrs", &attrs) || !is_array(attrs))
		return false;
	for (size_t i = 0; i < json_object_array_length(attrs); i++) {
		a = json_object_array_get_idx(attrs, i);
		if (!json_object_object_get_ex(a, "type", &type) ||
		    json_object_get_int(type) != 8 ||
		    !json_object_object_get_ex(a, "communities", &list) || !is_array(list))
			continue;
		for (size_t j = 0; j < json_object_array_length(list); j++) {
			unsigned int c = (unsigned int)json_object_get_int64(
				json_object_array_get_idx(list, j));

			for (unsigned int k = 0; k < b->o.ncommunities; k++)
				found[k] |= c == b->o.communities[k];
		}
	}
	for (unsigned int k = 0; k < b->o.ncommunities; k++)
		if (!found[k])
			return false;
	return true;
}

/*
 * A FlowSpec path of ours: its rule is a source prefix alone, its action
 * discard (traffic-rate 0). The prefix into out.
 */
static bool flowspec_ours(struct json_object *path, struct netprobe_cidr *out)
{
	struct json_object *nlri, *value, *rule, *type, *inner, *prefix, *attrs;
	bool discard = false;

	if (!json_object_object_get_ex(path, "nlri", &nlri) ||
	    !json_object_object_get_ex(nlri, "value", &value) || !is_array(value) ||
	    json_object_array_length(value) != 1)
		return false;
	rule = json_object_array_get_idx(value, 0);
	/* IPv6's source may start at a bit offset (RFC 8956): ours never does. */
	if (json_object_object_get_ex(rule, "offset", &inner) && json_object_get_int(inner) != 0)
		return false;
	if (!json_object_object_get_ex(rule, "type", &type) || json_object_get_int(type) != 2 ||
	    !json_object_object_get_ex(rule, "value", &inner) ||
	    !json_object_object_get_ex(inner, "prefix", &prefix) ||
	    netprobe_cidr_parse(json_object_get_string(prefix), out))
		return false;
	if (!json_object_object_get_ex(path, "attrs", &attrs) || !is_array(attrs))
		return false;
	for (size_t i = 0; i < json_object_array_length(attrs); i++) {
		struct json_object *a = json_object_array_get_idx(attrs, i), *ext;

		if (!json_object_object_get_ex(a, "type", &type) ||
		    json_object_get_int(type) != 16 ||
		    !json_object_object_get_ex(a, "value", &ext) || !is_array(ext))
			continue;
		for (size_t j = 0; j < json_object_array_length(ext); j++) {
			struct json_object *e = json_object_array_get_idx(ext, j), *t, *st, *rate;

			discard |= json_object_object_get_ex(e, "type", &t) &&
				   json_object_get_int(t) == 128 &&
				   json_object_object_get_ex(e, "subtype", &st) &&
				   json_object_get_int(st) == 6 &&
				   json_object_object_get_ex(e, "rate", &rate) &&
				   json_object_get_double(rate) == 0;
		}
	}
	return discard;
}

/* Ours at the speaker, of one family and kind, into out. 0 or an error (err_text says). */
static int gobgp_list(struct bgp *b, bool v4, enum dc_bgp_action kind, struct prefixes *out,
		      char *err_text, size_t len)
{
	struct gobgp_cmd c;
	struct output o = {};
	struct json_object *root;
	int rc;

	gobgp_begin(b, &c, true, gobgp_afi(kind, v4));
	c.argv[c.n] = NULL;
	rc = run(b, c.argv, NULL, &o, err_text, len);
	if (rc) {
		free(o.buf);
		return rc < 0 ? rc : -EIO;
	}
	root = o.buf ? json_tokener_parse(o.buf) : NULL;
	free(o.buf);
	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(err_text, len, "gobgp's answer is no JSON table");
		json_object_put(root);
		return -EPROTO;
	}
	json_object_object_foreach(root, key, paths)
	{
		struct netprobe_cidr cidr;

		if (!is_array(paths))
			continue;
		for (size_t i = 0; i < json_object_array_length(paths); i++) {
			struct json_object *path = json_object_array_get_idx(paths, i);
			bool ours;

			if (!local_path(path))
				continue;
			if (kind == DC_BGP_FLOWSPEC)
				ours = flowspec_ours(path, &cidr);
			else
				ours = !netprobe_cidr_parse(key, &cidr) && has_communities(b, path);
			if (ours && prefixes_add(out, &cidr, kind)) {
				json_object_put(root);
				return -ENOMEM;
			}
		}
	}
	json_object_put(root);
	return 0;
}

/* Announces (add) or withdraws one prefix. 0 or an error (err_text says). */
static int gobgp_change(struct bgp *b, const struct prefix *p, bool add, char *err_text, size_t len)
{
	bool v4 = p->c.family == NETPROBE_FAMILY_IPV4;
	char communities[DC_BGP_MAX_COMMUNITIES * 12] = "";
	struct gobgp_cmd c;
	size_t used = 0;
	int rc;

	gobgp_begin(b, &c, false, gobgp_afi(p->kind, v4));
	c.argv[c.n++] = add ? "add" : "del";
	if (p->kind == DC_BGP_FLOWSPEC) {
		c.argv[c.n++] = "match";
		c.argv[c.n++] = "source";
		c.argv[c.n++] = (char *)p->text;
		c.argv[c.n++] = "then";
		c.argv[c.n++] = "discard";
	} else {
		c.argv[c.n++] = (char *)p->text;
		if (add) {
			c.argv[c.n++] = "nexthop";
			c.argv[c.n++] = (char *)(v4 ? b->o.next_hop_v4 : b->o.next_hop_v6);
			for (unsigned int k = 0; k < b->o.ncommunities; k++)
				used += snprintf(communities + used, sizeof(communities) - used,
						 "%s%u:%u", k ? "," : "", b->o.communities[k] >> 16,
						 b->o.communities[k] & 0xffff);
			c.argv[c.n++] = "community";
			c.argv[c.n++] = communities;
		}
	}
	c.argv[c.n] = NULL;
	rc = run(b, c.argv, NULL, NULL, err_text, len);
	return rc < 0 ? rc : rc ? -EIO : 0;
}

/* ---- ExaBGP ---- */

/*
 * exabgpcli, with the pipe's name in its environment (exabgp_api_pipename).
 * It exits 0 when ExaBGP refused the command, saying so on stderr, and
 * writes its own failures to stdout: both are failures here.
 */
static int exabgp_run(struct bgp *b, char **words, int n, struct output *out, char *err_text,
		      size_t len)
{
	char env[160], *argv[32];
	struct output o = {};
	int rc;

	if (n + 2 > (int)(sizeof(argv) / sizeof(argv[0])))
		return -E2BIG;
	snprintf(env, sizeof(env), "exabgp_api_pipename=%s", b->o.pipe);
	argv[0] = b->o.command;
	memcpy(argv + 1, words, n * sizeof(*words));
	argv[n + 1] = NULL;
	rc = run(b, argv, env, out ?: &o, err_text, len);
	if (!rc && strstr(err_text, "returns an error"))
		rc = -EINVAL;
	if (!rc && !out && o.len) {
		/* An announcement answers nothing: what it printed is its complaint. */
		snprintf(err_text, len, "%.*s", (int)strcspn(o.buf, "\n"), o.buf);
		rc = -EIO;
	}
	free(o.buf);
	return rc < 0 ? rc : rc ? -EIO : 0;
}

/* A community as exabgp prints it: ASN:VALUE, or a well-known one's name. */
static bool exabgp_community(const char *word, unsigned int *out)
{
	static const struct {
		const char *name;
		unsigned int value;
	} names[] = {{"blackhole", 65535u << 16 | 666},
		     {"no-export", 65535u << 16 | 65281},
		     {"no-advertise", 65535u << 16 | 65282},
		     {"no-export-subconfed", 65535u << 16 | 65283},
		     {"nopeer", 65535u << 16 | 65284}};
	unsigned int asn, value;
	char end;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(word, names[i].name)) {
			*out = names[i].value;
			return true;
		}
	if (sscanf(word, "%u:%u%c", &asn, &value, &end) != 2 || asn > 65535 || value > 65535)
		return false;
	*out = asn << 16 | value;
	return true;
}

/*
 * One line of `show adj-rib out extensive`: whether it is a route of ours,
 * and its prefix.
 *   ... ipv4 unicast 198.51.100.9/32 next-hop 192.0.2.1 community [ 64512:1 blackhole ]
 *   ... ipv6 flow flow source-ipv6 2001:db8:1::/64/0 extended-community rate-limit:0
 */
static bool exabgp_ours(const struct bgp *b, char *line, struct netprobe_cidr *out,
			enum dc_bgp_action *kind)
{
	char *words[64], *save = NULL, *w;
	int n = 0, at = -1;
	bool flow = false;

	for (w = strtok_r(line, " \t\n", &save); w && n < 64; w = strtok_r(NULL, " \t\n", &save))
		words[n++] = w;
	for (int i = 0; i + 1 < n && at < 0; i++)
		if ((!strcmp(words[i], "ipv4") || !strcmp(words[i], "ipv6")) &&
		    (!strcmp(words[i + 1], "unicast") || !strcmp(words[i + 1], "flow"))) {
			flow = !strcmp(words[i + 1], "flow");
			at = i + 2;
		}
	if (at < 0 || at >= n)
		return false;
	if (flow) {
		char prefix[80];
		size_t len;
		bool discard = false;

		/* "flow flow source-ipvN PREFIX", nothing else matched, rate-limit:0. */
		if (at + 2 >= n || strcmp(words[at], "flow") ||
		    strncmp(words[at + 1], "source-ipv", 10))
			return false;
		snprintf(prefix, sizeof(prefix), "%s", words[at + 2]);
		len = strlen(prefix);
		if (len > 2 && !strcmp(prefix + len - 2, "/0") && strchr(prefix, ':'))
			prefix[len - 2] = '\0'; /* IPv6's offset, which ours is 0 */
		for (int i = at + 3; i < n; i++) {
			if (!strcmp(words[i], "extended-community") ||
			    !strcmp(words[i], "next-hop"))
				break;
			return false; /* another component: not a rule of ours */
		}
		for (int i = at + 3; i + 1 < n; i++)
			discard |= !strcmp(words[i], "extended-community") &&
				   !strcmp(words[i + 1], "rate-limit:0");
		*kind = DC_BGP_FLOWSPEC;
		return discard && !netprobe_cidr_parse(prefix, out);
	}
	*kind = DC_BGP_RTBH;
	if (netprobe_cidr_parse(words[at], out))
		return false;
	bool found[DC_BGP_MAX_COMMUNITIES] = {};

	for (int i = at + 1; i < n; i++) {
		unsigned int c;

		if (strcmp(words[i], "community"))
			continue;
		for (int j = i + 1; j < n; j++) {
			if (!strcmp(words[j], "["))
				continue;
			if (!strcmp(words[j], "]") || !exabgp_community(words[j], &c))
				break;
			for (unsigned int k = 0; k < b->o.ncommunities; k++)
				found[k] |= c == b->o.communities[k];
			if (strcmp(words[i + 1], "["))
				break; /* a single one, without brackets */
		}
	}
	for (unsigned int k = 0; k < b->o.ncommunities; k++)
		if (!found[k])
			return false;
	return true;
}

static int exabgp_list(struct bgp *b, struct prefixes *out, char *err_text, size_t len)
{
	char *words[] = {"show", "adj-rib", "out", "extensive"}, *line, *save = NULL;
	struct output o = {};
	int rc = exabgp_run(b, words, 4, &o, err_text, len);

	if (rc) {
		free(o.buf);
		return rc;
	}
	for (line = o.buf ? strtok_r(o.buf, "\n", &save) : NULL; line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		struct netprobe_cidr cidr;
		enum dc_bgp_action kind;

		if (!strncmp(line, "could not", 9) || strstr(line, "is not running")) {
			snprintf(err_text, len, "%s", line);
			rc = -EIO;
		} else if (exabgp_ours(b, line, &cidr, &kind)) {
			rc = prefixes_add(out, &cidr, kind);
		}
	}
	free(o.buf);
	return rc;
}

static int exabgp_change(struct bgp *b, const struct prefix *p, bool add, char *err_text,
			 size_t len)
{
	bool v4 = p->c.family == NETPROBE_FAMILY_IPV4;
	char *words[24], communities[DC_BGP_MAX_COMMUNITIES][16];
	int n = 0;

	words[n++] = add ? "announce" : "withdraw";
	if (p->kind == DC_BGP_FLOWSPEC) {
		words[n++] = "flow";
		words[n++] = "route";
		words[n++] = "source";
		words[n++] = (char *)p->text;
		words[n++] = "discard";
	} else {
		words[n++] = "route";
		words[n++] = (char *)p->text;
		if (add) {
			words[n++] = "next-hop";
			words[n++] = (char *)(v4 ? b->o.next_hop_v4 : b->o.next_hop_v6);
			words[n++] = "community";
			words[n++] = "[";
			for (unsigned int k = 0; k < b->o.ncommunities; k++) {
				snprintf(communities[k], sizeof(communities[k]), "%u:%u",
					 b->o.communities[k] >> 16, b->o.communities[k] & 0xffff);
				words[n++] = communities[k];
			}
			words[n++] = "]";
		}
	}
	return exabgp_run(b, words, n, NULL, err_text, len);
}

/* ---- Either speaker ---- */

/* What a look at the speaker read: its routes of ours, and which scopes it could read. */
#define SCOPES 4 /* IPv4 or IPv6, times blackhole route or FlowSpec rule */

static int scope_of(const struct prefix *p)
{
	return (p->c.family == NETPROBE_FAMILY_IPV4 ? 0 : 2) + (p->kind == DC_BGP_FLOWSPEC);
}

static const char *const scope_names[SCOPES] = {"ipv4", "ipv4-flowspec", "ipv6", "ipv6-flowspec"};

/*
 * Ours at the speaker, both families and both kinds, into out: what the
 * other action left (a reload that switched) is withdrawn as stale. A
 * scope that could not be read (a family the speaker was not given) is
 * left as it is, the others go on. The number of scopes not read.
 */
static int speaker_list(struct bgp *b, struct prefixes *out, bool ok[SCOPES], char *why, size_t len)
{
	int failed = 0;

	if (b->o.speaker == DC_BGP_EXABGP) {
		bool read = !exabgp_list(b, out, why, len);

		for (int i = 0; i < SCOPES; i++)
			ok[i] = read;
		return read ? 0 : SCOPES;
	}
	for (int i = 0; i < SCOPES; i++) {
		char one[256];

		ok[i] = !gobgp_list(b, i < 2, i % 2 ? DC_BGP_FLOWSPEC : DC_BGP_RTBH, out, one,
				    sizeof(one));
		if (!ok[i] && !failed++)
			snprintf(why, len, "%s: %s", scope_names[i], one);
	}
	return failed;
}

static int speaker_change(struct bgp *b, const struct prefix *p, bool add, char *why, size_t len)
{
	return b->o.speaker == DC_BGP_EXABGP ? exabgp_change(b, p, add, why, len)
					     : gobgp_change(b, p, add, why, len);
}

/* ---- The worker ---- */

/* A route's line, while a sync has said fewer than this: past it, a count. */
#define LINES_PER_SYNC 10

/* Makes the speaker's routes of ours the wanted ones. 0, or an error (logged). */
static int sync_speaker(struct bgp *b, const struct prefixes *want)
{
	struct prefixes have = {};
	bool ok[SCOPES];
	char why[512] = "";
	int unread, lines = 0;
	unsigned long long added = 0, removed = 0, failed = 0;
	size_t left = 0;

	unread = speaker_list(b, &have, ok, why, sizeof(why));
	/* Said once when the speaker stops answering, once when it is back. */
	if (unread && !b->said_down)
		dlog(NETPROBE_LOG_ERROR, "bgp: cannot read the speaker's routes (%s): %s",
		     b->o.command, why);
	else if (!unread && b->said_down)
		dlog(NETPROBE_LOG_INFO, "bgp: the speaker answers again");
	b->said_down = unread != 0;
	prefixes_sort(&have);
	/* Withdrawals first: what ended must not stay blackholed while the rest goes out. */
	for (size_t i = 0; i < have.n && !atomic_load(&b->abort); i++) {
		if (prefixes_has(want, &have.v[i]))
			continue;
		if (speaker_change(b, &have.v[i], false, why, sizeof(why))) {
			if (lines++ < LINES_PER_SYNC)
				dlog(NETPROBE_LOG_ERROR, "bgp: withdrawing %s failed: %s",
				     have.v[i].text, why);
			failed++;
			continue;
		}
		if (lines++ < LINES_PER_SYNC)
			dlog(NETPROBE_LOG_INFO, "bgp: withdrew %s (%s)", have.v[i].text,
			     have.v[i].kind == DC_BGP_FLOWSPEC ? "flowspec discard" : "blackhole");
		removed++;
	}
	for (size_t i = 0; i < want->n && !atomic_load(&b->abort); i++) {
		if (prefixes_has(&have, &want->v[i]))
			continue;
		if (!ok[scope_of(&want->v[i])]) {
			left++; /* its scope unread: whether it is there is not known */
			continue;
		}
		if (speaker_change(b, &want->v[i], true, why, sizeof(why))) {
			if (lines++ < LINES_PER_SYNC)
				dlog(NETPROBE_LOG_ERROR, "bgp: announcing %s failed: %s",
				     want->v[i].text, why);
			failed++;
			continue;
		}
		if (lines++ < LINES_PER_SYNC)
			dlog(NETPROBE_LOG_INFO, "bgp: announced %s (%s)", want->v[i].text,
			     want->v[i].kind == DC_BGP_FLOWSPEC ? "flowspec discard" : "blackhole");
		added++;
	}
	if (lines > LINES_PER_SYNC)
		dlog(NETPROBE_LOG_INFO,
		     "bgp: %llu announced, %llu withdrawn, %llu failed in this look (%d more lines "
		     "not written)",
		     added, removed, failed, lines - LINES_PER_SYNC);
	pthread_mutex_lock(&b->lock);
	b->stats.announcements += added;
	b->stats.withdrawals += removed;
	b->stats.failures += failed + (unread ? 1 : 0);
	b->stats.announced = have.n + added - removed;
	b->stats.up = !unread;
	pthread_mutex_unlock(&b->lock);
	free(have.v);
	return unread || failed || left ? -EIO : 0;
}

static void *worker(void *arg)
{
	struct bgp *b = arg;
	double next = 0;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		struct prefixes want = {};
		bool due = next && now_s() >= next;
		unsigned long long gen;
		int err = 0;

		/* Nothing before the lists were first looked at: an empty want is no verdict. */
		if (!b->gen || (b->synced == b->gen && !due)) {
			struct timespec until;

			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&b->cv, &b->lock, &until);
			continue;
		}
		/* The loop looks at the lists again too (the deny list's own changes). */
		if (due)
			b->resync_due = true;
		for (size_t i = 0; i < b->want.n && !err; i++)
			err = prefixes_add(&want, &b->want.v[i].c, b->want.v[i].kind);
		gen = b->gen;
		pthread_mutex_unlock(&b->lock);
		err = err ?: sync_speaker(b, &want);
		free(want.v);
		/* A speaker that failed is tried again within a second; else every resync_s. */
		next = now_s() + (err ? 1 : b->o.resync_s);
		pthread_mutex_lock(&b->lock);
		b->synced = gen;
		pthread_cond_broadcast(&b->done_cv);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

struct bgp *bgp_start(const struct daemon_bgp_opts *o)
{
	struct bgp *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;
	int err;

	if (!b)
		return NULL;
	b->o = *o;
	pthread_mutex_init(&b->lock, NULL);
	/* The worker's waits on the monotonic clock: a step of the wall clock stalls none. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_cond_init(&b->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&b->abort, false);
	err = pthread_create(&b->worker, NULL, worker, b);
	if (err) {
		pthread_cond_destroy(&b->cv);
		pthread_cond_destroy(&b->done_cv);
		pthread_mutex_destroy(&b->lock);
		free(b);
		errno = err;
		return NULL;
	}
	if (o->speaker == DC_BGP_EXABGP)
		dlog(NETPROBE_LOG_INFO, "bgp: %s through %s, ExaBGP's pipe %s",
		     o->action == DC_BGP_FLOWSPEC ? "flowspec" : "rtbh", o->command, o->pipe);
	else
		dlog(NETPROBE_LOG_INFO, "bgp: %s through %s at %s",
		     o->action == DC_BGP_FLOWSPEC ? "flowspec" : "rtbh", o->command, o->api);
	return b;
}

void bgp_stats(struct bgp *b, struct bgp_stats *out)
{
	if (!b) {
		*out = (struct bgp_stats){};
		return;
	}
	pthread_mutex_lock(&b->lock);
	*out = b->stats;
	pthread_mutex_unlock(&b->lock);
}

void bgp_stop(struct bgp *b, bool withdraw)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	/*
	 * Withdrawn first, within BGP_STOP_S: routes nobody will take back when
	 * their block ends must not stay. A speaker that does not answer in
	 * time keeps them (the next start reconciles).
	 */
	if (withdraw && b->gen) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += BGP_STOP_S;
		b->want.n = 0;
		b->gen++;
		pthread_cond_signal(&b->cv);
		while (b->synced != b->gen &&
		       pthread_cond_timedwait(&b->done_cv, &b->lock, &until) != ETIMEDOUT)
			;
		if (b->synced != b->gen)
			dlog(NETPROBE_LOG_ERROR,
			     "bgp: the speaker did not take back our routes within %d s: they stay "
			     "until the next start reconciles",
			     BGP_STOP_S);
		else if (b->stats.announced)
			dlog(NETPROBE_LOG_ERROR, "bgp: %zu routes could not be withdrawn",
			     b->stats.announced);
	}
	b->stop = true;
	atomic_store(&b->abort, true); /* a command still running is killed */
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->worker, NULL);
	free(b->want.v);
	free(b->given.v);
	free(b->refused.v);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cv);
	pthread_cond_destroy(&b->done_cv);
	free(b);
}
