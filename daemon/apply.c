// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Makes the pinned state what a config says, changing only what differs:
 * an interface whose settings changed is switched live through its links
 * (no detach: counters and flows stay), list entries and services are
 * added and removed as sets. What the daemon made is its own (struct
 * daemon_owned, kept in a record file beside the pid file): a reload or a
 * restart removes what the config no longer names, and never what an
 * operator or mitigation made. The record lives in /run, as the pinned
 * state lives in bpffs: both go at a reboot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "daemon.h"

/* ---- Sets of names, sorted ---- */

static int text_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dc_cidr *)a)->text, ((const struct dc_cidr *)b)->text);
}

/* Sorts a list and drops the entries given twice (files may share entries). */
static void set_normalize(struct dc_cidrs *l)
{
	size_t out = 0;

	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), text_cmp);
	for (size_t i = 0; i < l->n; i++)
		if (!out || strcmp(l->v[out - 1].text, l->v[i].text))
			l->v[out++] = l->v[i];
	l->n = out;
}

static bool set_has(const struct dc_cidrs *l, const char *text)
{
	struct dc_cidr key;

	snprintf(key.text, sizeof(key.text), "%s", text);
	return l->n && bsearch(&key, l->v, l->n, sizeof(*l->v), text_cmp);
}

bool dc_cidrs_has(const struct dc_cidrs *sorted, const char *text)
{
	return set_has(sorted, text);
}

static int set_add(struct dc_cidrs *l, const char *text)
{
	return dc_cidrs_add(l, text);
}

static void set_free(struct dc_cidrs *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- The lists a config wants: its own entries and its files' ---- */

int daemon_lists_read(const struct daemon_config *cfg, struct daemon_lists *out,
		      struct dc_errors *errs)
{
	int err = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < cfg->deny.n && !err; i++)
		err = set_add(&out->deny, cfg->deny.v[i].text);
	for (size_t i = 0; i < cfg->allow.n && !err; i++)
		err = set_add(&out->allow, cfg->allow.v[i].text);
	for (size_t i = 0; i < cfg->nfiles && !err; i++)
		err = dc_list_file_read(&cfg->files[i], cfg->path,
					cfg->files[i].allow ? &out->allow : &out->deny, errs);
	if (err) {
		daemon_lists_free(out);
		return err;
	}
	set_normalize(&out->deny);
	set_normalize(&out->allow);
	/* The lists share acl_max_rules with mitigation's blocks, which keep their share. */
	if (out->deny.n + out->allow.n + cfg->state.mitigation_max_blocks >
	    cfg->state.acl_max_rules) {
		dc_error(errs, cfg->path, (struct dc_pos){0, 0},
			 "lists: %zu entries (files included), more than tables.acl_max_rules (%u) "
			 "holds beside mitigation_max_blocks (%u)",
			 out->deny.n + out->allow.n, cfg->state.acl_max_rules,
			 cfg->state.mitigation_max_blocks);
		err = -ENOSPC;
	}
	/* A file may name what the other list has: the lists would refuse it half-applied. */
	for (size_t i = 0; i < out->allow.n; i++) {
		if (set_has(&out->deny, out->allow.v[i].text)) {
			dc_error(
				errs, cfg->path, (struct dc_pos){0, 0},
				"%s is on both lists (the config's entries and its files together)",
				out->allow.v[i].text);
			err = -EINVAL;
		}
	}
	if (err)
		daemon_lists_free(out);
	return err;
}

void daemon_lists_free(struct daemon_lists *l)
{
	set_free(&l->deny);
	set_free(&l->allow);
}

bool daemon_lists_equal(const struct daemon_lists *a, const struct daemon_lists *b)
{
	const struct dc_cidrs *x[2] = {&a->deny, &a->allow}, *y[2] = {&b->deny, &b->allow};

	for (int k = 0; k < 2; k++) {
		if (x[k]->n != y[k]->n)
			return false;
		for (size_t i = 0; i < x[k]->n; i++)
			if (strcmp(x[k]->v[i].text, y[k]->v[i].text))
				return false;
	}
	return true;
}

/* ---- What the daemon owns, and its record ---- */

void daemon_owned_free(struct daemon_owned *o)
{
	set_free(&o->ifaces);
	set_free(&o->deny);
	set_free(&o->allow);
	set_free(&o->services);
}

/* out = a - b, each set (sorted) of a daemon_owned. */
static int set_minus(const struct dc_cidrs *a, const struct dc_cidrs *b, struct dc_cidrs *out)
{
	for (size_t i = 0; i < a->n; i++)
		if (!set_has(b, a->v[i].text) && set_add(out, a->v[i].text))
			return -ENOMEM;
	set_normalize(out);
	return 0;
}

int daemon_owned_minus(const struct daemon_owned *a, const struct daemon_owned *b,
		       struct daemon_owned *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	err = set_minus(&a->ifaces, &b->ifaces, &out->ifaces) ?:
		set_minus(&a->deny, &b->deny, &out->deny) ?:
		set_minus(&a->allow, &b->allow, &out->allow) ?:
		set_minus(&a->services, &b->services, &out->services);
	if (err)
		daemon_owned_free(out);
	return err;
}

static int json_to_set(struct json_object *root, const char *key, struct dc_cidrs *out)
{
	struct json_object *arr;

	if (!json_object_object_get_ex(root, key, &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(arr, i));

		if (s && strlen(s) < sizeof(out->v[0].text) && set_add(out, s))
			return -ENOMEM;
	}
	set_normalize(out);
	return 0;
}

int daemon_owned_load(const char *record, const char *pin_path, struct daemon_owned *out)
{
	struct json_object *root = NULL, *pin;
	char why[PATH_MAX + 256];
	int err, fd;

	memset(out, 0, sizeof(*out));
	fd = open(record, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	/* It says what the daemon may remove: only what root (or we) wrote counts. */
	err = dc_trusted_file(fd, record, why, sizeof(why));
	if (!err) {
		root = json_object_from_fd(fd);
		err = root ? 0 : -EBADMSG;
	}
	close(fd);
	if (err)
		return err;
	/* Another pin path's record says nothing about this one. */
	if (!json_object_object_get_ex(root, "pin_path", &pin) ||
	    strcmp(json_object_get_string(pin) ?: "", pin_path)) {
		json_object_put(root);
		return -ENOENT;
	}
	err = json_to_set(root, "interfaces", &out->ifaces) ?: json_to_set(root, "deny", &out->deny)
		?: json_to_set(root, "allow", &out->allow)
		?: json_to_set(root, "services", &out->services);
	json_object_put(root);
	if (err)
		daemon_owned_free(out);
	return err;
}

static struct json_object *set_to_json(const struct dc_cidrs *l)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < l->n; i++)
		json_object_array_add(arr, json_object_new_string(l->v[i].text));
	return arr;
}

int daemon_owned_save(const char *record, const char *pin_path, const struct daemon_owned *o)
{
	struct json_object *root = json_object_new_object();
	char tmp[PATH_MAX + 8];
	int err = 0;

	json_object_object_add(root, "pin_path", json_object_new_string(pin_path));
	json_object_object_add(root, "interfaces", set_to_json(&o->ifaces));
	json_object_object_add(root, "deny", set_to_json(&o->deny));
	json_object_object_add(root, "allow", set_to_json(&o->allow));
	json_object_object_add(root, "services", set_to_json(&o->services));
	snprintf(tmp, sizeof(tmp), "%s.new", record);
	/* Written whole, then renamed over: a crash leaves the old record or the new. */
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PLAIN) || rename(tmp, record)) {
		err = -errno ?: -EIO;
		unlink(tmp);
	}
	json_object_put(root);
	return err;
}

/* ---- Interfaces ---- */

static int apply_ifaces(struct netprobe_manager *m, const struct daemon_config *cfg,
			struct daemon_owned *owned, struct daemon_apply_result *res)
{
	struct dc_cidrs now = {};
	int first = 0;

	for (size_t i = 0; i < cfg->nifaces; i++) {
		const struct dc_iface *want = &cfg->ifaces[i];
		struct netprobe_attach_opts cur;
		struct netprobe_iface it;
		int err;

		netprobe_attach_opts_default(&cur, sizeof(cur));
		if (!netprobe_manager_iface(m, want->name, &it)) {
			/*
			 * Both began as netprobe_attach_opts_default's, which zeroes
			 * the whole struct, padding too: the bytes are the settings.
			 */
			if (!netprobe_manager_iface_opts(m, &it, &cur) &&
			    // NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c)
			    !memcmp(&cur, &want->opts, sizeof(cur))) {
				set_add(&now, want->name);
				continue;
			}
		}
		/* Attached, or its settings applied live: the library logs which. */
		err = netprobe_manager_attach_opts(m, want->name, &want->opts);
		res->changes += !err;
		if (err) {
			dlog(NETPROBE_LOG_ERROR, "%s: not applied: %s", want->name,
			     netprobe_strerror(err));
			first = first ?: err;
			/* Still ours if we held it: what is attached there is what we put. */
			if (set_has(&owned->ifaces, want->name))
				set_add(&now, want->name);
			continue;
		}
		set_add(&now, want->name);
	}
	set_normalize(&now);
	/* Ours and no longer named: detached. Others' are left as they are. */
	for (size_t i = 0; i < owned->ifaces.n; i++) {
		const char *name = owned->ifaces.v[i].text;
		int err;

		if (set_has(&now, name))
			continue;
		dlog(NETPROBE_LOG_INFO, "%s: no longer in the config", name);
		err = netprobe_manager_detach(m, name);
		if (!err || err == -ENOENT || err == -ENODEV) {
			res->changes += !err;
			continue;
		}
		dlog(NETPROBE_LOG_ERROR, "%s: not detached: %s", name, netprobe_strerror(err));
		first = first ?: err;
		set_add(&now, name);
	}
	set_normalize(&now);
	set_free(&owned->ifaces);
	owned->ifaces = now;
	return first;
}

/* ---- Lists ---- */

/* What one list holds now: entries made by hand (permanent or with a TTL), and blocks. */
struct listed {
	struct dc_cidrs permanent, timed, blocks;
};

static int collect_entry(const struct netprobe_acl_entry *e, void *ctx)
{
	struct listed *l = ctx;

	if (e->origin != NETPROBE_ORIGIN_MANUAL)
		return set_add(&l->blocks, e->text);
	return set_add(e->ttl_left_ms ? &l->timed : &l->permanent, e->text);
}

static void listed_free(struct listed *l)
{
	set_free(&l->permanent);
	set_free(&l->timed);
	set_free(&l->blocks);
}

static const char **texts(const struct dc_cidrs *l)
{
	const char **v = calloc(l->n ? l->n : 1, sizeof(*v));

	for (size_t i = 0; v && i < l->n; i++)
		v[i] = l->v[i].text;
	return v;
}

typedef int (*del_many_fn)(struct netprobe_manager *, const char *const *, size_t,
			   struct netprobe_acl_batch_result *);
typedef int (*add_many_fn)(struct netprobe_manager *, const char *const *, size_t,
			   const struct netprobe_acl_batch_opts *,
			   struct netprobe_acl_batch_result *);

struct list_ops {
	const char *name;
	int (*list)(struct netprobe_manager *, netprobe_acl_fn, void *);
	add_many_fn add;
	del_many_fn del;
};

static const struct list_ops deny_ops = {"deny", netprobe_blacklist_list,
					 netprobe_blacklist_add_many, netprobe_blacklist_del_many};
static const struct list_ops allow_ops = {"allow", netprobe_allowlist_list,
					  netprobe_allowlist_add_many, netprobe_allowlist_del_many};

/* One list as it stands, sorted; an error is logged and nothing of ours changes. */
static int read_list(struct netprobe_manager *m, const struct list_ops *ops, struct listed *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	err = ops->list(m, collect_entry, out);
	if (err) {
		dlog(NETPROBE_LOG_ERROR, "lists: cannot read the %s list: %s", ops->name,
		     netprobe_strerror(err));
		listed_free(out);
		return err;
	}
	set_normalize(&out->permanent);
	set_normalize(&out->timed);
	set_normalize(&out->blocks);
	return 0;
}

/*
 * Removes what we own and no longer want from one list, as it stands now.
 * owned changes only for what is certain: what was removed, what is gone.
 */
static int remove_unwanted(struct netprobe_manager *m, const struct list_ops *ops,
			   const struct dc_cidrs *want, struct dc_cidrs *owned,
			   struct daemon_apply_result *res)
{
	struct listed cur;
	struct dc_cidrs gone = {}, kept = {};
	struct netprobe_acl_batch_result r = {};
	const char **v;
	int err;

	err = read_list(m, ops, &cur);
	if (err)
		return err;
	for (size_t i = 0; !err && i < owned->n; i++) {
		const char *t = owned->v[i].text;

		if (set_has(want, t))
			err = set_add(&kept, t);
		else if (set_has(&cur.permanent, t) || set_has(&cur.timed, t))
			err = set_add(&gone, t);
	}
	if (!err && gone.n) {
		v = texts(&gone);
		err = v ? ops->del(m, v, gone.n, &r) : -ENOMEM;
		free(v);
		if (!err) {
			dlog(NETPROBE_LOG_INFO,
			     "lists: %zu removed from the %s list (no longer in the config)",
			     r.done, ops->name);
			res->changes += r.done;
		} else {
			dlog(NETPROBE_LOG_ERROR, "lists: removing %zu entries from the %s list: %s",
			     gone.n, ops->name, netprobe_strerror(err));
		}
	}
	listed_free(&cur);
	set_free(&gone);
	if (err) { /* still ours, all of it: tried again next time */
		set_free(&kept);
		return err;
	}
	set_normalize(&kept);
	set_free(owned);
	*owned = kept;
	return 0;
}

/*
 * Adds what we want and the list lacks, all at once (the library's batch);
 * an entry made by hand with a TTL becomes the config's, permanent. One on
 * the other list by hand is left there, said and skipped: it is not ours.
 */
static int add_wanted(struct netprobe_manager *m, const struct list_ops *ops,
		      const struct list_ops *other_ops, const struct dc_cidrs *want,
		      struct dc_cidrs *owned, struct daemon_apply_result *res)
{
	struct listed cur, other;
	struct dc_cidrs missing = {}, claimed = {};
	struct netprobe_acl_batch_result r = {};
	struct netprobe_acl_batch_opts opts = {.sz = sizeof(opts)};
	unsigned int skipped = 0;
	const char **v;
	int err;

	err = read_list(m, ops, &cur);
	if (err)
		return err;
	err = read_list(m, other_ops, &other);
	if (err) {
		listed_free(&cur);
		return err;
	}
	for (size_t i = 0; !err && i < want->n; i++) {
		const char *t = want->v[i].text;

		if (set_has(&other.permanent, t) || set_has(&other.timed, t)) {
			if (skipped++ < 5)
				dlog(NETPROBE_LOG_WARN,
				     "lists: %s is on the %s list by hand: left there, not added "
				     "to "
				     "the %s list",
				     t, other_ops->name, ops->name);
			continue;
		}
		err = set_add(&claimed, t);
		if (!err && !set_has(&cur.permanent, t))
			err = set_add(&missing, t);
	}
	if (skipped > 5)
		dlog(NETPROBE_LOG_WARN,
		     "lists: %u entries in all are on the %s list by hand: skipped", skipped,
		     other_ops->name);
	res->skipped += skipped;
	if (!err && missing.n) {
		v = texts(&missing);
		/* TTL 0, and taken by entries listed already: the config's are permanent. */
		opts.listed = NETPROBE_ACL_LISTED_UPDATE;
		err = v ? ops->add(m, v, missing.n, &opts, &r) : -ENOMEM;
		if (!err) {
			dlog(NETPROBE_LOG_INFO, "lists: %zu added to the %s list%s",
			     r.done + r.renewed, ops->name,
			     r.renewed ? " (some by hand with a TTL: now permanent)" : "");
			res->changes += r.done + r.renewed;
		} else if (r.failed < missing.n) {
			dlog(NETPROBE_LOG_ERROR, "lists: nothing added to the %s list: %s: %s",
			     ops->name, v[r.failed], netprobe_strerror(err));
		} else {
			dlog(NETPROBE_LOG_ERROR, "lists: nothing added to the %s list: %s",
			     ops->name, netprobe_strerror(err));
		}
		free(v);
	}
	/* What the list holds of what we want is ours (also what it had already). */
	for (size_t i = 0; !err && i < claimed.n; i++)
		if (!set_has(owned, claimed.v[i].text))
			set_add(owned, claimed.v[i].text);
	set_normalize(owned);
	listed_free(&cur);
	listed_free(&other);
	set_free(&missing);
	set_free(&claimed);
	return err;
}

int daemon_apply_lists(struct netprobe_manager *m, const struct daemon_lists *want,
		       struct daemon_owned *owned, struct daemon_apply_result *res)
{
	int err, first;

	/* Removals first: an entry that moves from one list to the other leaves before it comes. */
	first = remove_unwanted(m, &deny_ops, &want->deny, &owned->deny, res);
	err = remove_unwanted(m, &allow_ops, &want->allow, &owned->allow, res);
	first = first ?: err;
	err = add_wanted(m, &allow_ops, &deny_ops, &want->allow, &owned->allow, res);
	first = first ?: err;
	err = add_wanted(m, &deny_ops, &allow_ops, &want->deny, &owned->deny, res);
	return first ?: err;
}

/* ---- Services ---- */

struct cur_backend {
	char addr[64];
	unsigned int weight;
	bool draining;
	enum netprobe_lb_forward forward;
};

struct cur_service {
	char vip[64];
	unsigned int table_size;
	struct cur_backend *b;
	size_t nb;
};

struct cur_services {
	struct cur_service *v;
	size_t n;
};

static int collect_service(const struct netprobe_lb_service_info *s, void *ctx)
{
	struct cur_services *c = ctx;
	struct cur_service *grown = realloc(c->v, (c->n + 1) * sizeof(*grown)), *cs;

	if (!grown)
		return -ENOMEM;
	c->v = grown;
	cs = &c->v[c->n++];
	memset(cs, 0, sizeof(*cs));
	snprintf(cs->vip, sizeof(cs->vip), "%s", s->text);
	cs->table_size = s->table_size;
	cs->b = calloc(s->nbackends ? s->nbackends : 1, sizeof(*cs->b));
	if (!cs->b)
		return -ENOMEM;
	for (size_t i = 0; i < s->nbackends; i++) {
		snprintf(cs->b[i].addr, sizeof(cs->b[i].addr), "%s", s->backends[i].text);
		cs->b[i].weight = s->backends[i].weight;
		cs->b[i].draining = s->backends[i].draining;
		cs->b[i].forward = s->backends[i].forward;
	}
	cs->nb = s->nbackends;
	return 0;
}

static void cur_services_free(struct cur_services *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].b);
	free(c->v);
}

static const struct cur_service *cur_find(const struct cur_services *c, const char *vip)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i].vip, vip))
			return &c->v[i];
	return NULL;
}

/* One service's backends made what the config says; 0 or the first error. */
static int apply_backends(struct netprobe_manager *m, const struct dc_service *want,
			  const struct cur_service *cur, struct daemon_apply_result *res)
{
	int first = 0, err;

	for (size_t i = 0; cur && i < cur->nb; i++) {
		const struct cur_backend *cb = &cur->b[i];
		bool wanted = false;

		for (size_t j = 0; j < want->nbackends && !wanted; j++)
			wanted = !strcmp(want->backends[j].addr, cb->addr) &&
				 want->backends[j].opts.forward == cb->forward;
		if (wanted)
			continue;
		err = netprobe_lb_backend_del(m, want->vip, cb->addr);
		if (!err) {
			dlog(NETPROBE_LOG_INFO, "services: %s: backend %s removed", want->vip,
			     cb->addr);
			res->changes++;
		} else {
			dlog(NETPROBE_LOG_ERROR, "services: %s: backend %s not removed: %s",
			     want->vip, cb->addr, netprobe_strerror(err));
			first = first ?: err;
		}
	}
	for (size_t j = 0; j < want->nbackends; j++) {
		const struct dc_backend *b = &want->backends[j];
		const struct cur_backend *cb = NULL;

		for (size_t i = 0; cur && i < cur->nb && !cb; i++)
			if (!strcmp(cur->b[i].addr, b->addr) &&
			    cur->b[i].forward == b->opts.forward)
				cb = &cur->b[i];
		/* Same weight: as it is, drained too (an operator's maintenance is not undone). */
		if (cb && cb->weight == b->opts.weight)
			continue;
		if (cb)
			err = netprobe_lb_backend_set_weight(m, want->vip, b->addr, b->opts.weight);
		else
			err = netprobe_lb_backend_add(m, want->vip, b->addr, &b->opts);
		if (!err) {
			dlog(NETPROBE_LOG_INFO, "services: %s: backend %s %s, weight %u", want->vip,
			     b->addr, cb ? "changed" : "added", b->opts.weight);
			res->changes++;
		} else {
			dlog(NETPROBE_LOG_ERROR, "services: %s: backend %s not %s: %s", want->vip,
			     b->addr, cb ? "changed" : "added", netprobe_strerror(err));
			first = first ?: err;
		}
	}
	return first;
}

static int apply_services(struct netprobe_manager *m, const struct daemon_config *cfg,
			  struct daemon_owned *owned, struct daemon_apply_result *res)
{
	struct cur_services cur = {};
	struct dc_cidrs now = {};
	int first, err;

	first = netprobe_manager_lb_stats(m, collect_service, &cur);
	if (first) {
		cur_services_free(&cur);
		dlog(NETPROBE_LOG_ERROR, "services: cannot read them: %s",
		     netprobe_strerror(first));
		return first;
	}
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct dc_service *want = &cfg->services[i];
		const struct cur_service *cs = cur_find(&cur, want->vip);

		if (cs && want->opts.table_size && cs->table_size != want->opts.table_size)
			dlog(NETPROBE_LOG_WARN,
			     "services: %s keeps its table of %u entries: table_size is taken "
			     "when a service is made (remove it from the config, reload, add it "
			     "back)",
			     want->vip, cs->table_size);
		if (!cs) {
			err = netprobe_lb_service_add_opts(m, want->vip, &want->opts);
			if (err) {
				dlog(NETPROBE_LOG_ERROR, "services: %s not added: %s", want->vip,
				     netprobe_strerror(err));
				first = first ?: err;
				continue;
			}
			dlog(NETPROBE_LOG_INFO, "services: %s added", want->vip);
			res->changes++;
		}
		set_add(&now, want->vip);
		err = apply_backends(m, want, cs, res);
		first = first ?: err;
	}
	set_normalize(&now);
	for (size_t i = 0; i < owned->services.n; i++) {
		const char *vip = owned->services.v[i].text;

		if (set_has(&now, vip))
			continue;
		err = netprobe_lb_service_del(m, vip);
		if (!err || err == -ENOENT) {
			if (!err) {
				dlog(NETPROBE_LOG_INFO,
				     "services: %s removed (no longer in the config)", vip);
				res->changes++;
			}
			continue;
		}
		dlog(NETPROBE_LOG_ERROR, "services: %s not removed: %s", vip,
		     netprobe_strerror(err));
		first = first ?: err;
		set_add(&now, vip);
	}
	set_normalize(&now);
	set_free(&owned->services);
	owned->services = now;
	cur_services_free(&cur);
	return first;
}

int daemon_apply(struct netprobe_manager *m, const struct daemon_config *cfg,
		 const struct daemon_lists *lists, struct daemon_owned *owned,
		 struct daemon_apply_result *res)
{
	int first, err;

	memset(res, 0, sizeof(*res));
	/* Lists before interfaces: a filter attached by this config starts with its lists. */
	first = daemon_apply_lists(m, lists, owned, res);
	err = apply_services(m, cfg, owned, res);
	first = first ?: err;
	err = apply_ifaces(m, cfg, owned, res);
	return first ?: err;
}

/* Removes everything the daemon owns: for --detach-on-exit. */
int daemon_unapply(struct netprobe_manager *m, struct daemon_owned *owned)
{
	struct daemon_config none = {};
	struct daemon_lists empty = {};
	struct daemon_apply_result res;

	return daemon_apply(m, &none, &empty, owned, &res);
}
