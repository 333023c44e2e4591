// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's config file: YAML read with libyaml's document loader (every
 * node keeps its line and column), walked against tables of the keys each
 * section takes. Everything is checked before anything is used: unknown keys
 * (with the nearest known one suggested), wrong types, values out of the
 * library's own ranges (netprobe_config_range), interfaces that do not
 * exist, malformed CIDRs, VIPs and backends, duplicates, list files that do
 * not parse, and a file that someone other than root or us could change.
 * Each problem is one "FILE:LINE:COLUMN: what" message; all are reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>
#include "daemon.h"

/*
 * A config is small (long lists go in list files); past this it is no
 * config, and libyaml's time grows faster than its size on deep nesting.
 */
#define DC_MAX_CONFIG_SIZE (1u << 20)
#define DC_MAX_NESTING	   64
#define DC_MAX_KEYS	   1024
/* Lists of a few million entries; no more is loaded whole. */

struct parser {
	const char *file;
	unsigned int flags; /* DC_READ_* */
	yaml_document_t *doc;
	struct daemon_config *cfg;
	struct dc_errors *errs;
};

void dc_errors_free(struct dc_errors *e)
{
	for (unsigned int i = 0; i < e->count && i < DC_MAX_ERRORS; i++)
		free(e->msg[i]);
	memset(e, 0, sizeof(*e));
}

static void add_error(struct dc_errors *e, const char *file, struct dc_pos pos, const char *fmt,
		      va_list ap)
{
	char what[1024], *msg;

	vsnprintf(what, sizeof(what), fmt, ap);
	if (e->count < DC_MAX_ERRORS) {
		int made =
			pos.line ? asprintf(&msg, "%s:%u:%u: %s", file, pos.line, pos.column, what)
				 : asprintf(&msg, "%s: %s", file, what);

		if (made < 0)
			msg = NULL;
		e->msg[e->count] = msg;
	}
	e->count++;
}

void dc_error(struct dc_errors *e, const char *file, struct dc_pos pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_error(e, file, pos, fmt, ap);
	va_end(ap);
}

static struct dc_pos pos_of(const yaml_node_t *n)
{
	return (struct dc_pos){n->start_mark.line + 1, n->start_mark.column + 1};
}

static void error_at(struct parser *p, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void error_at(struct parser *p, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_error(p->errs, p->file, n ? pos_of(n) : (struct dc_pos){0, 0}, fmt, ap);
	va_end(ap);
}

unsigned int dc_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned int row[64], prev, tmp;

	if (lb >= sizeof(row) / sizeof(row[0]) || la >= 64)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned int best = prev + (a[i - 1] != b[j - 1]);

			tmp = row[j];
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* ---- Scalars ---- */

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a value";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* YAML's null: nothing, "~" or "null" unquoted ("key:" with all below it commented out). */
static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);

	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
		!strcmp(s, "NULL"));
}

/* A scalar that means something: not null. */
static const char *want_scalar(struct parser *p, const yaml_node_t *n, const char *key)
{
	const char *s = scalar(n);

	if (!s) {
		error_at(p, n, "%s: expected a value, found %s", key, node_kind(n));
		return NULL;
	}
	if (is_null(n)) {
		error_at(p, n, "%s: needs a value", key);
		return NULL;
	}
	return s;
}

static bool parse_bool_text(const char *s, bool *out)
{
	/* YAML 1.1's words in its three cases (y and n left out: too easily a slip). */
	static const char *const yes[] = {"true", "yes",  "on",	 "True", "Yes",
					  "On",	  "TRUE", "YES", "ON"};
	static const char *const no[] = {"false", "no",	   "off", "False", "No",
					 "Off",	  "FALSE", "NO",  "OFF"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*out = !strcmp(s, yes[i]);
			return true;
		}
	}
	return false;
}

static bool want_bool(struct parser *p, const yaml_node_t *n, const char *key, bool *out)
{
	const char *s = want_scalar(p, n, key);

	if (!s)
		return false;
	if (!parse_bool_text(s, out)) {
		error_at(p, n, "%s: expected true or false, found '%s'", key, s);
		return false;
	}
	return true;
}

/* The daemon's own settings' ranges; the library's are netprobe_config_range's. */
static const struct netprobe_setting_range daemon_ranges[] = {
	{"list_refresh_s", 0, 7ull * 86400, "s"},
	{"hook_timeout_s", 1, 600, "s"},
	{"ipfix_timeout_s", 1, 86400, "s"},
	{"ipfix_domain", 0, UINT32_MAX, ""},
	{"bgp_widest_v4", 1, 32, ""},
	{"bgp_widest_v6", 1, 128, ""},
	{"bgp_resync_s", 1, 3600, "s"},
	{"bgp_max_routes", 1, 100000, ""},
};

static const struct netprobe_setting_range *range_of(const char *name)
{
	for (size_t i = 0; name && i < sizeof(daemon_ranges) / sizeof(daemon_ranges[0]); i++)
		if (!strcmp(daemon_ranges[i].name, name))
			return &daemon_ranges[i];
	return netprobe_config_range(name);
}

/* A whole decimal number; what is allowed comes from the setting's range. */
static bool want_uint(struct parser *p, const yaml_node_t *n, const char *key, const char *range,
		      unsigned int *out)
{
	const struct netprobe_setting_range *r = range_of(range);
	const char *s = want_scalar(p, n, key);
	unsigned long long v;
	char *end;

	if (!s)
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno) {
		error_at(p, n, "%s: expected a whole number, found '%s'", key, s);
		return false;
	}
	if (r && (v < r->min || v > r->max)) {
		error_at(p, n, "%s: %llu is out of range (%llu..%llu%s%s)", key, v, r->min, r->max,
			 *r->unit ? " " : "", r->unit);
		return false;
	}
	if (v > UINT_MAX) {
		error_at(p, n, "%s: %llu is out of range", key, v);
		return false;
	}
	*out = v;
	return true;
}

static bool want_choice(struct parser *p, const yaml_node_t *n, const char *key,
			const char *const *choices, unsigned int *out)
{
	const char *s = want_scalar(p, n, key);
	char list[256] = "";
	size_t used = 0;

	if (!s)
		return false;
	for (unsigned int i = 0; choices[i]; i++) {
		if (!strcmp(s, choices[i])) {
			*out = i;
			return true;
		}
		used += snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
				 choices[i]);
		if (used >= sizeof(list))
			used = sizeof(list) - 1;
	}
	error_at(p, n, "%s: '%s' is none of %s", key, s, list);
	return false;
}

static bool want_path(struct parser *p, const yaml_node_t *n, const char *key, char *out,
		      size_t len)
{
	const char *s = want_scalar(p, n, key);

	if (!s)
		return false;
	if (s[0] != '/') {
		error_at(p, n, "%s: '%s' is no absolute path", key, s);
		return false;
	}
	if (strlen(s) >= len) {
		error_at(p, n, "%s: longer than %zu bytes", key, len - 1);
		return false;
	}
	strcpy(out, s);
	return true;
}

/* ---- Mappings, against a table of the keys a section takes ---- */

struct key;
typedef void (*key_fn)(struct parser *p, const struct key *k, yaml_node_t *value, void *target);

struct key {
	const char *name;
	key_fn parse;
	const void *arg; /* the range's name, the choices, a sub-table */
};

/* The key of kt called name, or NULL; with the nearest one's name in *near. */
static const struct key *find_key(const struct key *kt, const char *name, const char **near)
{
	unsigned int best = ~0u;

	*near = NULL;
	for (const struct key *k = kt; k->name; k++) {
		unsigned int d;

		if (!strcmp(k->name, name))
			return k;
		d = dc_edit_distance(k->name, name);
		if (d < best) {
			best = d;
			*near = k->name;
		}
	}
	/* A slip of the finger, not another word: at most a third of the name. */
	if (best > 3 || (size_t)best * 3 > strlen(name) + 2)
		*near = NULL;
	return NULL;
}

/* Calls fn for each pair of a mapping: keys scalar, none twice. */
typedef void (*pair_fn)(struct parser *p, yaml_node_t *key, yaml_node_t *value, void *ctx);

static bool walk_mapping(struct parser *p, yaml_node_t *n, const char *what, pair_fn fn, void *ctx)
{
	if (is_null(n))
		return true; /* a section with nothing in it: its defaults */
	if (n->type != YAML_MAPPING_NODE) {
		error_at(p, n, "%s: expected a mapping (key: value lines), found %s", what,
			 node_kind(n));
		return false;
	}
	/* Keys are compared pairwise for duplicates: no section of a real config comes near. */
	if (n->data.mapping.pairs.top - n->data.mapping.pairs.start > DC_MAX_KEYS) {
		error_at(p, n, "%s: more than %u keys", what, DC_MAX_KEYS);
		return false;
	}
	for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top;
	     a++) {
		yaml_node_t *k = yaml_document_get_node(p->doc, a->key);
		yaml_node_t *v = yaml_document_get_node(p->doc, a->value);
		bool twice = false;

		if (!scalar(k)) {
			error_at(p, k, "%s: a key must be a plain name, found %s", what,
				 node_kind(k));
			continue;
		}
		for (yaml_node_pair_t *b = n->data.mapping.pairs.start; b < a; b++) {
			const char *other = scalar(yaml_document_get_node(p->doc, b->key));

			if (other && !strcmp(other, scalar(k))) {
				error_at(p, k, "%s: '%s' is given twice (first on line %zu)", what,
					 scalar(k),
					 yaml_document_get_node(p->doc, b->key)->start_mark.line +
						 1);
				twice = true;
				break;
			}
		}
		if (!twice)
			fn(p, k, v, ctx);
	}
	return true;
}

struct section {
	const struct key *keys;
	const char *what;
	void *target;
};

static void section_pair(struct parser *p, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct section *s = ctx;
	const char *near, *name = scalar(k);
	const struct key *key = find_key(s->keys, name, &near);

	if (!key) {
		if (near)
			error_at(p, k, "%s: unknown key '%s' (did you mean '%s'?)", s->what, name,
				 near);
		else
			error_at(p, k, "%s: unknown key '%s'", s->what, name);
		return;
	}
	key->parse(p, key, v, s->target);
}

static void parse_section(struct parser *p, yaml_node_t *n, const char *what,
			  const struct key *keys, void *target)
{
	struct section s = {keys, what, target};

	walk_mapping(p, n, what, section_pair, &s);
}

/* ---- Field setters: the target is the struct the section fills ---- */

#define FIELD(type, field, ...)                                                                    \
	static void set_##field(struct parser *p, const struct key *k, yaml_node_t *v, void *t)    \
	{                                                                                          \
		type *o = t;                                                                       \
		__VA_ARGS__;                                                                       \
	}
#define UINT_FIELD(type, field) FIELD(type, field, want_uint(p, v, k->name, k->arg, &o->field))

UINT_FIELD(struct netprobe_state_opts, flow_table_size)
UINT_FIELD(struct netprobe_state_opts, ring_buffer_size)
UINT_FIELD(struct netprobe_state_opts, acl_max_rules)
UINT_FIELD(struct netprobe_state_opts, acl_v4_groups)
UINT_FIELD(struct netprobe_state_opts, mitigation_max_blocks)
UINT_FIELD(struct netprobe_state_opts, lb_max_services)
UINT_FIELD(struct netprobe_state_opts, lb_max_backends)
UINT_FIELD(struct netprobe_state_opts, lb_table_size)
UINT_FIELD(struct netprobe_state_opts, lb_conn_table_size)
UINT_FIELD(struct netprobe_state_opts, lock_timeout_ms)
UINT_FIELD(struct netprobe_events_opts, batch_size)
UINT_FIELD(struct netprobe_events_opts, batch_timeout_ms)
UINT_FIELD(struct netprobe_events_opts, event_workers)
UINT_FIELD(struct netprobe_events_opts, event_queue_batches)
UINT_FIELD(struct netprobe_housekeeping_opts, flow_idle_timeout_ms)
UINT_FIELD(struct netprobe_housekeeping_opts, stats_report_interval_ms)
UINT_FIELD(struct netprobe_attach_opts, detailed_events_per_sec)
UINT_FIELD(struct netprobe_attach_opts, security_alerts_per_sec)
UINT_FIELD(struct netprobe_attach_opts, port_scan_hosts)
UINT_FIELD(struct netprobe_attach_opts, rate_anomaly_floor_pps)
UINT_FIELD(struct netprobe_attach_opts, rate_anomaly_learn_windows)
UINT_FIELD(struct netprobe_attach_opts, mitigation_ttl_s)
UINT_FIELD(struct netprobe_attach_opts, ipv6_source_prefix)
UINT_FIELD(struct netprobe_attach_opts, lb_route_cache_ms)
FIELD(struct netprobe_attach_opts, enable_xdp_events,
      want_bool(p, v, k->name, &o->enable_xdp_events))
FIELD(struct netprobe_attach_opts, enable_tc_events, want_bool(p, v, k->name, &o->enable_tc_events))
FIELD(struct netprobe_attach_opts, enable_detailed_events,
      want_bool(p, v, k->name, &o->enable_detailed_events))
FIELD(struct netprobe_attach_opts, enable_security_alerts,
      want_bool(p, v, k->name, &o->enable_security_alerts))

static const char *const modes[] = {"monitor", "filter", "lb", NULL};
static const char *const xdp_modes[] = {"auto", "native", "generic", NULL};
static const char *const tc_modes[] = {"auto", "tcx", "clsact", NULL};
static const char *const mitigations[] = {"off", "proven", "unproven", NULL};
static const char *const log_levels[] = {"error", "warning", "info", "debug", NULL};

static void set_mode(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct netprobe_attach_opts *o = t;
	unsigned int c;

	if (want_choice(p, v, k->name, modes, &c))
		o->xdp_mode = c;
}

static void set_xdp_mode(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct netprobe_attach_opts *o = t;
	unsigned int c;

	if (want_choice(p, v, k->name, xdp_modes, &c))
		o->xdp_attach_mode = c;
}

static void set_tc_mode(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct netprobe_attach_opts *o = t;
	unsigned int c;

	if (want_choice(p, v, k->name, tc_modes, &c))
		o->tc_attach_mode = c;
}

static void set_mitigation(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct netprobe_attach_opts *o = t;
	unsigned int c;

	if (want_choice(p, v, k->name, mitigations, &c)) {
		o->mitigation = c != 0;
		o->mitigation_unproven = c == 2;
	}
}

/* A detection: off, on, THRESHOLD[/WINDOW_MS], or {enabled, threshold, window_ms}. */
struct detection_ctx {
	struct netprobe_detection *d;
	const char *name;
};

static void detection_pair(struct parser *p, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct detection_ctx *c = ctx;
	const char *key = scalar(k) ?: ""; /* walk_mapping hands scalar keys only */
	char what[64];

	snprintf(what, sizeof(what), "%s.%s", c->name, key);
	if (!strcmp(key, "enabled"))
		want_bool(p, v, what, &c->d->enabled);
	else if (!strcmp(key, "threshold"))
		want_uint(p, v, what, "detection_threshold", &c->d->threshold);
	else if (!strcmp(key, "window_ms"))
		want_uint(p, v, what, "detection_window_ms", &c->d->window_ms);
	else
		error_at(p, k, "%s: unknown key '%s' (enabled, threshold, window_ms)", c->name,
			 key);
}

static void parse_detection(struct parser *p, yaml_node_t *v, const char *name,
			    struct netprobe_detection *d)
{
	const struct netprobe_setting_range *th = netprobe_config_range("detection_threshold");
	const struct netprobe_setting_range *win = netprobe_config_range("detection_window_ms");
	unsigned long long threshold, window = d->window_ms;
	const char *s;
	char *end;
	bool on;

	if (v->type == YAML_MAPPING_NODE) {
		struct detection_ctx c = {d, name};

		d->enabled = true; /* written out: on, unless enabled says otherwise */
		walk_mapping(p, v, name, detection_pair, &c);
		return;
	}
	s = want_scalar(p, v, name);
	if (!s)
		return;
	if (parse_bool_text(s, &on)) {
		d->enabled = on;
		return;
	}
	errno = 0;
	threshold = strtoull(s, &end, 10);
	if (*s >= '0' && *s <= '9' && *end == '/') {
		const char *w = end + 1;

		window = strtoull(w, &end, 10);
		if (*w < '0' || *w > '9')
			end = (char *)w; /* " 100", "+100": not a number as written */
	}
	if (*s < '0' || *s > '9' || *end || errno) {
		error_at(p, v, "%s: expected off, on, THRESHOLD or THRESHOLD/WINDOW_MS, found '%s'",
			 name, s);
		return;
	}
	if (threshold < th->min || threshold > th->max) {
		error_at(p, v, "%s: threshold %llu is out of range (%llu..%llu)", name, threshold,
			 th->min, th->max);
		return;
	}
	if (window < win->min || window > win->max) {
		error_at(p, v, "%s: window %llu ms is out of range (%llu..%llu ms)", name, window,
			 win->min, win->max);
		return;
	}
	d->enabled = true;
	d->threshold = threshold;
	d->window_ms = window;
}

static void detect_pair(struct parser *p, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct netprobe_attach_opts *o = ctx;
	const char *name = scalar(k);
	struct netprobe_detection *d = netprobe_attach_opts_detection(o, name, strlen(name));
	const char *near = NULL;
	unsigned int best = ~0u;

	if (d) {
		parse_detection(p, v, name, d);
		return;
	}
	for (unsigned int i = 0; netprobe_config_detection_name(i); i++) {
		unsigned int dist = dc_edit_distance(netprobe_config_detection_name(i), name);

		if (dist < best) {
			best = dist;
			near = netprobe_config_detection_name(i);
		}
	}
	if (best <= 3)
		error_at(p, k, "detect: unknown detection '%s' (did you mean '%s'?)", name, near);
	else
		error_at(p, k, "detect: unknown detection '%s'", name);
}

static void set_detect(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	walk_mapping(p, v, k->name, detect_pair, t);
}

/* ---- Lists of CIDRs ---- */

static int cidrs_add(struct dc_cidrs *l, const char *text, struct dc_pos pos)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct dc_cidr *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n].text, sizeof(l->v[l->n].text), "%s", text);
	l->v[l->n++].pos = pos;
	return 0;
}

int dc_cidrs_add(struct dc_cidrs *l, const char *text)
{
	return cidrs_add(l, text, (struct dc_pos){0, 0});
}

/* The canonical text of a CIDR, or false with the library's reason in why. */
static bool canonical_cidr(const char *s, char *out, size_t len, char *why, size_t why_len)
{
	struct netprobe_cidr c;
	int err;

	dlog_capture_begin(why, why_len);
	err = netprobe_cidr_parse(s, &c);
	dlog_capture_end();
	if (err)
		return false;
	netprobe_cidr_str(&c, out, len);
	return true;
}

static void parse_cidr_seq(struct parser *p, yaml_node_t *n, const char *what, struct dc_cidrs *out,
			   unsigned int max)
{
	if (is_null(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		error_at(p, n, "%s: expected a list of CIDRs, found %s", what, node_kind(n));
		return;
	}
	for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_document_get_node(p->doc, *i);
		const char *s = want_scalar(p, item, what);
		char text[64], why[256];

		if (!s)
			continue;
		if (!canonical_cidr(s, text, sizeof(text), why, sizeof(why))) {
			error_at(p, item, "%s: '%s' is no CIDR (%s)", what, s, why);
			continue;
		}
		if (out->n >= max) {
			error_at(p, item, "%s: more than %u entries", what, max);
			return;
		}
		if (cidrs_add(out, text, pos_of(item)))
			error_at(p, item, "%s: out of memory", what);
	}
}

/* Entries given twice, in one list or in both: the later is the error. */
struct dup_ref {
	const struct dc_cidr *c;
	bool in_b;
};

static int dup_ref_cmp(const void *x, const void *y)
{
	const struct dup_ref *a = x, *b = y;
	int d = strcmp(a->c->text, b->c->text);

	if (d)
		return d;
	if (a->in_b != b->in_b)
		return a->in_b - b->in_b;
	return (a->c->pos.line > b->c->pos.line) - (a->c->pos.line < b->c->pos.line);
}

/*
 * Entries given twice, in one list (a == b) or in both: the later is the
 * error, named with the line of the first. Sorted, not compared pairwise:
 * lists run to hundreds of thousands.
 */
static void check_duplicates(struct parser *p, const struct dc_cidrs *a, const char *aname,
			     const struct dc_cidrs *b, const char *bname)
{
	size_t n = a->n + (a == b ? 0 : b->n), k = 0;
	struct dup_ref *r = calloc(n ? n : 1, sizeof(*r));

	if (!r)
		return;
	for (size_t i = 0; i < a->n; i++)
		r[k++] = (struct dup_ref){&a->v[i], false};
	for (size_t i = 0; a != b && i < b->n; i++)
		r[k++] = (struct dup_ref){&b->v[i], true};
	qsort(r, n, sizeof(*r), dup_ref_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		if (strcmp(r[first].c->text, r[i].c->text)) {
			first = i; /* a new group: its first is the original */
			continue;
		}
		if (a == b)
			dc_error(p->errs, p->file, r[i].c->pos,
				 "%s: %s is listed already (line %u)", bname, r[i].c->text,
				 r[first].c->pos.line);
		else if (r[i].in_b && !r[first].in_b)
			dc_error(p->errs, p->file, r[i].c->pos, "%s: %s is %s already (line %u)",
				 bname, r[i].c->text, aname, r[first].c->pos.line);
	}
	free(r);
}

/* ---- Interfaces ---- */

static void set_decap_from(struct parser *p, const struct key *k, yaml_node_t *v, void *t);
static void set_decap_to(struct parser *p, const struct key *k, yaml_node_t *v, void *t);

static const struct key decap_keys[] = {
	{"from", set_decap_from, NULL},
	{"to", set_decap_to, NULL},
	{NULL, NULL, NULL},
};

static void decap_list(struct parser *p, yaml_node_t *v, const char *what,
		       struct netprobe_cidr *out, unsigned int *count)
{
	struct dc_cidrs l = {};

	parse_cidr_seq(p, v, what, &l, NETPROBE_DECAP_MAX);
	check_duplicates(p, &l, what, &l, what);
	*count = 0;
	for (size_t i = 0; i < l.n; i++)
		if (!netprobe_cidr_parse(l.v[i].text, &out[*count]))
			(*count)++;
	free(l.v);
}

static void set_decap_from(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct netprobe_attach_opts *o = t;

	(void)k;
	decap_list(p, v, "decap.from", o->decap_from, &o->decap_from_count);
	o->decap = o->decap_from_count > 0;
}

static void set_decap_to(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct netprobe_attach_opts *o = t;

	(void)k;
	decap_list(p, v, "decap.to", o->decap_to, &o->decap_to_count);
}

static void set_decap(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	parse_section(p, v, k->name, decap_keys, t);
}

static const struct key iface_keys[] = {
	{"mode", set_mode, NULL},
	{"xdp_mode", set_xdp_mode, NULL},
	{"tc_mode", set_tc_mode, NULL},
	{"xdp_events", set_enable_xdp_events, NULL},
	{"tc_events", set_enable_tc_events, NULL},
	{"detailed_events", set_enable_detailed_events, NULL},
	{"detailed_events_per_sec", set_detailed_events_per_sec, "detailed_events_per_sec"},
	{"security_alerts", set_enable_security_alerts, NULL},
	{"security_alerts_per_sec", set_security_alerts_per_sec, "security_alerts_per_sec"},
	{"detect", set_detect, NULL},
	{"port_scan_hosts", set_port_scan_hosts, "port_scan_hosts"},
	{"rate_anomaly_floor_pps", set_rate_anomaly_floor_pps, "rate_anomaly_floor_pps"},
	{"rate_anomaly_learn_windows", set_rate_anomaly_learn_windows,
	 "rate_anomaly_learn_windows"},
	{"mitigation", set_mitigation, NULL},
	{"mitigation_ttl_s", set_mitigation_ttl_s, "mitigation_ttl_s"},
	{"ipv6_source_prefix", set_ipv6_source_prefix, "ipv6_source_prefix"},
	{"decap", set_decap, NULL},
	{"lb_route_cache_ms", set_lb_route_cache_ms, "lb_route_cache_ms"},
	{NULL, NULL, NULL},
};

static void iface_pair(struct parser *p, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct daemon_config *cfg = ctx;
	const char *name = scalar(k);
	struct dc_iface *it, *grown;
	unsigned int before = p->errs->count;
	char what[64], why[512];
	int err;

	if (!*name || strlen(name) >= NETPROBE_IFNAMSIZ || strchr(name, '/') || strchr(name, ' ')) {
		error_at(p, k, "interfaces: '%s' is no interface name", name);
		return;
	}
	grown = realloc(cfg->ifaces, (cfg->nifaces + 1) * sizeof(*cfg->ifaces));
	if (!grown) {
		error_at(p, k, "interfaces: out of memory");
		return;
	}
	cfg->ifaces = grown;
	it = &cfg->ifaces[cfg->nifaces++];
	memset(it, 0, sizeof(*it));
	strcpy(it->name, name);
	it->pos = pos_of(k);
	netprobe_attach_opts_default(&it->opts, sizeof(it->opts));
	snprintf(what, sizeof(what), "interfaces.%s", name);
	/* "eth1:" alone, "eth1: ~" or "eth1: {}": the defaults (monitor mode). */
	parse_section(p, v, what, iface_keys, &it->opts);
	if (p->errs->count != before)
		return;
	if (!(p->flags & DC_READ_ANY_NETNS) && !if_nametoindex(name)) {
		error_at(p, k, "interfaces: no interface '%s' here (ip link shows those there are)",
			 name);
		return;
	}
	/*
	 * A file is the whole of an interface's settings: the filter's stay in
	 * another mode, and take effect when it is filter (no edits to switch).
	 */
	/* What only the whole says (the library's checks across settings). */
	dlog_capture_begin(why, sizeof(why));
	err = netprobe_attach_opts_validate(&it->opts);
	dlog_capture_end();
	if (err)
		error_at(p, k, "%s: %s", what, why[0] ? why : "settings refused");
}

static void set_interfaces(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	(void)k;
	walk_mapping(p, v, "interfaces", iface_pair, t);
}

/* ---- Lists ---- */

static void set_deny(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	parse_cidr_seq(p, v, "lists.deny", &cfg->deny, ~0u);
	(void)k;
}

static void set_allow(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	parse_cidr_seq(p, v, "lists.allow", &cfg->allow, ~0u);
	(void)k;
}

static void list_files(struct parser *p, yaml_node_t *v, const char *what, bool allow)
{
	struct daemon_config *cfg = p->cfg;

	if (is_null(v))
		return;
	if (v->type != YAML_SEQUENCE_NODE) {
		error_at(p, v, "%s: expected a list of file paths, found %s", what, node_kind(v));
		return;
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_document_get_node(p->doc, *i);
		struct dc_list_file f = {.allow = allow, .pos = pos_of(item)}, *grown;

		if (!want_path(p, item, what, f.path, sizeof(f.path)))
			continue;
		for (size_t j = 0; j < cfg->nfiles; j++) {
			if (!strcmp(cfg->files[j].path, f.path)) {
				error_at(p, item, "%s: %s is named already (line %u)", what, f.path,
					 cfg->files[j].pos.line);
				goto next;
			}
		}
		grown = realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*cfg->files));
		if (!grown) {
			error_at(p, item, "%s: out of memory", what);
			return;
		}
		cfg->files = grown;
		cfg->files[cfg->nfiles++] = f;
next:;
	}
}

static void set_deny_files(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	(void)k;
	(void)t;
	list_files(p, v, "lists.deny_files", false);
}

static void set_allow_files(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	(void)k;
	(void)t;
	list_files(p, v, "lists.allow_files", true);
}

static void set_list_refresh_s(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	want_uint(p, v, k->name, "list_refresh_s", &cfg->list_refresh_s);
}

static const struct key list_keys[] = {
	{"deny", set_deny, NULL},
	{"allow", set_allow, NULL},
	{"deny_files", set_deny_files, NULL},
	{"allow_files", set_allow_files, NULL},
	{"refresh_s", set_list_refresh_s, NULL},
	{NULL, NULL, NULL},
};

static void set_lists(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	(void)k;
	parse_section(p, v, "lists", list_keys, t);
}

/* ---- Services ---- */

static bool is_prime(unsigned int n)
{
	if (n < 2)
		return false;
	for (unsigned int d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

struct backend_ctx {
	struct dc_backend *b;
	const char *what;
};

static void backend_pair(struct parser *p, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct backend_ctx *c = ctx;
	const char *key = scalar(k), *s;
	unsigned int weight;

	if (!strcmp(key, "address")) {
		s = want_scalar(p, v, "address");
		if (s && strlen(s) < sizeof(c->b->addr))
			strcpy(c->b->addr, s);
		else if (s)
			error_at(p, v, "%s: '%s' is no address", c->what, s);
	} else if (!strcmp(key, "weight")) {
		s = want_scalar(p, v, "weight");
		if (s && want_uint(p, v, "weight", NULL, &weight)) {
			if (weight < 1 || weight > NETPROBE_LB_MAX_WEIGHT)
				error_at(p, v, "weight: %u is out of range (1..%u)", weight,
					 NETPROBE_LB_MAX_WEIGHT);
			else
				c->b->opts.weight = weight;
		}
	} else if (!strcmp(key, "forward")) {
		s = want_scalar(p, v, "forward");
		if (s && netprobe_lb_forward_parse(s, &c->b->opts.forward))
			error_at(p, v, "forward: '%s' is none of ipip, l2", s);
	} else {
		error_at(p, k, "%s: unknown key '%s' (address, weight, forward)", c->what, key);
	}
}

/* A backend: an address, or {address, weight, forward}; its family the VIP's. */
static void parse_backend(struct parser *p, yaml_node_t *n, struct dc_service *svc,
			  const struct netprobe_lb_service *vip)
{
	struct dc_backend b = {.pos = pos_of(n)}, *grown;
	unsigned char addr[16];
	int family = vip->family == NETPROBE_FAMILY_IPV6 ? AF_INET6 : AF_INET;

	b.opts.sz = sizeof(b.opts);
	b.opts.weight = 1;
	if (n->type == YAML_MAPPING_NODE) {
		struct backend_ctx c = {&b, "backend"};

		walk_mapping(p, n, "backend", backend_pair, &c);
		if (!b.addr[0]) {
			error_at(p, n, "backend: has no address");
			return;
		}
	} else {
		const char *s = want_scalar(p, n, "backends");

		if (!s)
			return;
		if (strlen(s) >= sizeof(b.addr)) {
			error_at(p, n, "backends: '%s' is no address", s);
			return;
		}
		strcpy(b.addr, s);
	}
	if (inet_pton(family, b.addr, addr) != 1) {
		error_at(p, n, "backends: '%s' is no %s address (the VIP's family)", b.addr,
			 family == AF_INET ? "IPv4" : "IPv6");
		return;
	}
	inet_ntop(family, addr, b.addr, sizeof(b.addr));
	for (size_t i = 0; i < svc->nbackends; i++) {
		if (!strcmp(svc->backends[i].addr, b.addr)) {
			error_at(p, n, "backends: %s is listed already (line %u)", b.addr,
				 svc->backends[i].pos.line);
			return;
		}
	}
	grown = realloc(svc->backends, (svc->nbackends + 1) * sizeof(*grown));
	if (!grown) {
		error_at(p, n, "backends: out of memory");
		return;
	}
	svc->backends = grown;
	svc->backends[svc->nbackends++] = b;
}

struct service_ctx {
	struct dc_service *svc;
	struct netprobe_lb_service vip;
	bool have_vip;
	yaml_node_t *backends;
};

static void service_pair(struct parser *p, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct service_ctx *c = ctx;
	const char *key = scalar(k), *s;
	char why[256];
	int err;

	if (!strcmp(key, "vip")) {
		s = want_scalar(p, v, "vip");
		if (!s)
			return;
		dlog_capture_begin(why, sizeof(why));
		err = netprobe_lb_service_parse(s, &c->vip);
		dlog_capture_end();
		if (err) {
			error_at(p, v, "vip: '%s' is no ADDRESS:PORT[/tcp|udp] (%s)", s, why);
			return;
		}
		netprobe_lb_service_str(&c->vip, c->svc->vip, sizeof(c->svc->vip));
		c->have_vip = true;
	} else if (!strcmp(key, "table_size")) {
		if (want_uint(p, v, "table_size", "lb_table_size", &c->svc->opts.table_size) &&
		    !is_prime(c->svc->opts.table_size))
			error_at(p, v, "table_size: %u is no prime", c->svc->opts.table_size);
	} else if (!strcmp(key, "backends")) {
		c->backends = v;
	} else {
		error_at(p, k, "services: unknown key '%s' (vip, table_size, backends)", key);
	}
}

static void set_services(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	(void)k;
	if (is_null(v))
		return;
	if (v->type != YAML_SEQUENCE_NODE) {
		error_at(p, v, "services: expected a list of services, found %s", node_kind(v));
		return;
	}
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *item = yaml_document_get_node(p->doc, *i);
		struct dc_service *grown, *svc;
		struct service_ctx c = {};

		grown = realloc(cfg->services, (cfg->nservices + 1) * sizeof(*grown));
		if (!grown) {
			error_at(p, item, "services: out of memory");
			return;
		}
		cfg->services = grown;
		svc = &cfg->services[cfg->nservices++];
		memset(svc, 0, sizeof(*svc));
		svc->opts.sz = sizeof(svc->opts);
		svc->pos = pos_of(item);
		c.svc = svc;
		if (!walk_mapping(p, item, "services", service_pair, &c))
			continue;
		if (!c.have_vip) {
			error_at(p, item, "services: a service needs its vip");
			continue;
		}
		for (size_t j = 0; j + 1 < cfg->nservices; j++) {
			if (!strcmp(cfg->services[j].vip, svc->vip)) {
				error_at(p, item, "services: %s is listed already (line %u)",
					 svc->vip, cfg->services[j].pos.line);
				break;
			}
		}
		if (!c.backends)
			continue; /* a service with no backend yet drops its packets: allowed */
		if (c.backends->type != YAML_SEQUENCE_NODE) {
			error_at(p, c.backends, "backends: expected a list, found %s",
				 node_kind(c.backends));
			continue;
		}
		for (yaml_node_item_t *b = c.backends->data.sequence.items.start;
		     b < c.backends->data.sequence.items.top; b++)
			parse_backend(p, yaml_document_get_node(p->doc, *b), svc, &c.vip);
	}
}

/* ---- Hooks ---- */

/* A program the daemon runs: one we can run, that nobody else could have changed. */
static void check_program(struct parser *p, yaml_node_t *v, const char *what, char *out)
{
	struct stat st;

	if (access(out, X_OK) || stat(out, &st)) {
		error_at(p, v, "%s: %s is no program we can run (%s)", what, out, strerror(errno));
		out[0] = '\0';
	} else if (!S_ISREG(st.st_mode)) {
		error_at(p, v, "%s: %s is no regular file", what, out);
		out[0] = '\0';
	} else if (!dc_trusted_uid(st.st_uid) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		/* It runs as the daemon: what another user could change would run as root. */
		error_at(p, v,
			 "%s: %s must belong to root (or us) and be writable by its owner alone",
			 what, out);
		out[0] = '\0';
	}
}

static void set_hook(struct parser *p, yaml_node_t *v, const char *what, char *out, size_t len)
{
	if (want_path(p, v, what, out, len))
		check_program(p, v, what, out);
}

static void set_on_block(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	set_hook(p, v, k->name, cfg->hooks.on_block, sizeof(cfg->hooks.on_block));
}

static void set_on_unblock(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	set_hook(p, v, k->name, cfg->hooks.on_unblock, sizeof(cfg->hooks.on_unblock));
}

static void set_hook_timeout(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	want_uint(p, v, k->name, "hook_timeout_s", &cfg->hooks.timeout_s);
}

static void set_metrics_enabled(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	want_bool(p, v, k->name, &cfg->metrics.enabled);
}

static void set_metrics_listen(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;
	struct sockaddr_storage sa;
	const char *s = want_scalar(p, v, k->name);

	if (!s)
		return;
	if (metrics_listen_parse(s, &sa)) {
		error_at(p, v, "%s: '%s' is no ADDRESS:PORT (127.0.0.1:9479, [::1]:9479)", k->name,
			 s);
		return;
	}
	snprintf(cfg->metrics.listen, sizeof(cfg->metrics.listen), "%s", s);
}

static const struct key metrics_keys[] = {
	{"enabled", set_metrics_enabled, NULL},
	{"listen", set_metrics_listen, NULL},
	{NULL, NULL, NULL},
};

static void set_metrics(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	parse_section(p, v, k->name, metrics_keys, t);
}

static void set_ipfix_enabled(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_ipfix_opts *o = t;

	want_bool(p, v, k->name, &o->enabled);
}

static void set_ipfix_collector(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_ipfix_opts *o = t;
	struct sockaddr_storage sa;
	const char *s = want_scalar(p, v, k->name);

	if (!s)
		return;
	/* The metrics' ADDRESS:PORT rule: an address, not a name to resolve at each start. */
	if (metrics_listen_parse(s, &sa)) {
		error_at(p, v, "%s: '%s' is no ADDRESS:PORT (192.0.2.9:4739, [2001:db8::9]:4739)",
			 k->name, s);
		return;
	}
	snprintf(o->collector, sizeof(o->collector), "%s", s);
}

static void set_ipfix_transport(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	static const char *const transports[] = {"udp", "tcp", NULL};
	unsigned int c;

	if (want_choice(p, v, k->name, transports, &c))
		((struct daemon_ipfix_opts *)t)->tcp = c == 1;
}

#define IPFIX_UINT(field, range)                                                                   \
	static void set_ipfix_##field(struct parser *p, const struct key *k, yaml_node_t *v,       \
				      void *t)                                                     \
	{                                                                                          \
		want_uint(p, v, k->name, range, &((struct daemon_ipfix_opts *)t)->field);          \
	}
IPFIX_UINT(active_timeout_s, "ipfix_timeout_s")
IPFIX_UINT(template_refresh_s, "ipfix_timeout_s")
IPFIX_UINT(observation_domain, "ipfix_domain")

static const struct key ipfix_keys[] = {
	{"enabled", set_ipfix_enabled, NULL},
	{"collector", set_ipfix_collector, NULL},
	{"transport", set_ipfix_transport, NULL},
	{"active_timeout_s", set_ipfix_active_timeout_s, NULL},
	{"template_refresh_s", set_ipfix_template_refresh_s, NULL},
	{"observation_domain", set_ipfix_observation_domain, NULL},
	{NULL, NULL, NULL},
};

/* Whether the mapping v writes key (a default and a value given apart). */
static bool section_has(struct parser *p, const yaml_node_t *v, const char *key)
{
	for (yaml_node_pair_t *a = v->type == YAML_MAPPING_NODE ? v->data.mapping.pairs.start
								: NULL;
	     a && a < v->data.mapping.pairs.top; a++)
		if (!strcmp(scalar(yaml_document_get_node(p->doc, a->key)) ?: "", key))
			return true;
	return false;
}

static void set_ipfix(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	parse_section(p, v, k->name, ipfix_keys, &cfg->ipfix);
	/* A collector named is one exported to, unless enabled says not. */
	if (!section_has(p, v, "enabled"))
		cfg->ipfix.enabled = cfg->ipfix.collector[0] != '\0';
	if (cfg->ipfix.enabled && !cfg->ipfix.collector[0])
		error_at(p, v, "ipfix: enabled, and no collector (ADDRESS:PORT)");
}

/* ---- BGP ---- */

static void set_bgp_enabled(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	want_bool(p, v, k->name, &((struct daemon_bgp_opts *)t)->enabled);
}

static void set_bgp_speaker(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	static const char *const speakers[] = {"gobgp", "exabgp", NULL};
	unsigned int c;

	if (want_choice(p, v, k->name, speakers, &c))
		((struct daemon_bgp_opts *)t)->speaker = c ? DC_BGP_EXABGP : DC_BGP_GOBGP;
}

static void set_bgp_pipe(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_bgp_opts *o = t;
	const char *s = want_scalar(p, v, k->name);

	if (!s)
		return;
	/* A name exabgpcli looks for in /run/exabgp and its other places, not a path. */
	if (!*s || strlen(s) >= sizeof(o->pipe) || s[0] == '.' ||
	    s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")]) {
		error_at(p, v,
			 "%s: '%s' is no pipe name (letters, digits, . _ -: exabgp's "
			 "exabgp.api.pipename)",
			 k->name, s);
		return;
	}
	snprintf(o->pipe, sizeof(o->pipe), "%s", s);
}

static void set_bgp_action(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	static const char *const actions[] = {"rtbh", "flowspec", NULL};
	unsigned int c;

	if (want_choice(p, v, k->name, actions, &c))
		((struct daemon_bgp_opts *)t)->action = c ? DC_BGP_FLOWSPEC : DC_BGP_RTBH;
}

static void set_bgp_api(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_bgp_opts *o = t;
	struct sockaddr_storage sa;
	const char *s = want_scalar(p, v, k->name);

	if (!s)
		return;
	if (metrics_listen_parse(s, &sa)) {
		error_at(p, v, "%s: '%s' is no ADDRESS:PORT (127.0.0.1:50051, [::1]:50051)",
			 k->name, s);
		return;
	}
	snprintf(o->api, sizeof(o->api), "%s", s);
}

static void set_bgp_command(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_bgp_opts *o = t;

	set_hook(p, v, k->name, o->command, sizeof(o->command));
}

static void bgp_next_hop(struct parser *p, const struct key *k, yaml_node_t *v, int family,
			 char *out, size_t len)
{
	const char *s = want_scalar(p, v, k->name);
	unsigned char addr[16];

	if (!s)
		return;
	if (strlen(s) >= len || inet_pton(family, s, addr) != 1) {
		error_at(p, v, "%s: '%s' is no IPv%d address", k->name, s,
			 family == AF_INET ? 4 : 6);
		return;
	}
	snprintf(out, len, "%s", s);
}

static void set_bgp_next_hop_v4(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_bgp_opts *o = t;

	bgp_next_hop(p, k, v, AF_INET, o->next_hop_v4, sizeof(o->next_hop_v4));
}

static void set_bgp_next_hop_v6(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_bgp_opts *o = t;

	bgp_next_hop(p, k, v, AF_INET6, o->next_hop_v6, sizeof(o->next_hop_v6));
}

/* communities: [65535:666, 64512:10]: ASN:VALUE, each 0..65535. */
static void set_bgp_communities(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_bgp_opts *o = t;

	if (v->type != YAML_SEQUENCE_NODE ||
	    v->data.sequence.items.top == v->data.sequence.items.start) {
		error_at(p, v, "%s: expected a list of ASN:VALUE, as [65535:666]", k->name);
		return;
	}
	o->ncommunities = 0;
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top;
	     i++) {
		yaml_node_t *n = yaml_document_get_node(p->doc, *i);
		const char *s = want_scalar(p, n, k->name);
		size_t a, b;
		unsigned long asn = 65536, value = 65536;

		if (!s)
			return;
		/* Digits, a colon, digits: no sign, no blank (sscanf's %u takes "-1" and " 1"). */
		a = strspn(s, "0123456789");
		b = s[a] == ':' ? strspn(s + a + 1, "0123456789") : 0;
		if (a && a <= 5 && b && b <= 5 && !s[a + 1 + b]) {
			asn = strtoul(s, NULL, 10);
			value = strtoul(s + a + 1, NULL, 10);
		}
		if (asn > 65535 || value > 65535) {
			error_at(p, n, "%s: '%s' is no ASN:VALUE community (each 0..65535)",
				 k->name, s);
			return;
		}
		if (o->ncommunities == DC_BGP_MAX_COMMUNITIES) {
			error_at(p, n, "%s: at most %d", k->name, DC_BGP_MAX_COMMUNITIES);
			return;
		}
		o->communities[o->ncommunities++] = asn << 16 | value;
	}
}

static void set_bgp_deny_list(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	want_bool(p, v, k->name, &((struct daemon_bgp_opts *)t)->deny_list);
}

static void set_bgp_allow_unproven(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	want_bool(p, v, k->name, &((struct daemon_bgp_opts *)t)->allow_unproven);
}

#define BGP_UINT(field, range)                                                                     \
	static void set_bgp_##field(struct parser *p, const struct key *k, yaml_node_t *v,         \
				    void *t)                                                       \
	{                                                                                          \
		want_uint(p, v, k->name, range, &((struct daemon_bgp_opts *)t)->field);            \
	}
BGP_UINT(widest_v4, "bgp_widest_v4")
BGP_UINT(widest_v6, "bgp_widest_v6")
BGP_UINT(resync_s, "bgp_resync_s")
BGP_UINT(max_routes, "bgp_max_routes")

static const struct key bgp_keys[] = {
	{"enabled", set_bgp_enabled, NULL},
	{"speaker", set_bgp_speaker, NULL},
	{"action", set_bgp_action, NULL},
	{"api", set_bgp_api, NULL},
	{"pipe", set_bgp_pipe, NULL},
	{"command", set_bgp_command, NULL},
	{"next_hop_v4", set_bgp_next_hop_v4, NULL},
	{"next_hop_v6", set_bgp_next_hop_v6, NULL},
	{"communities", set_bgp_communities, NULL},
	{"widest_prefix_v4", set_bgp_widest_v4, NULL},
	{"widest_prefix_v6", set_bgp_widest_v6, NULL},
	{"deny_list", set_bgp_deny_list, NULL},
	{"allow_unproven", set_bgp_allow_unproven, NULL},
	{"max_routes", set_bgp_max_routes, NULL},
	{"resync_s", set_bgp_resync_s, NULL},
	{NULL, NULL, NULL},
};

static void set_bgp(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;
	bool speaker_given = section_has(p, v, "speaker"),
	     command_given = section_has(p, v, "command");

	parse_section(p, v, k->name, bgp_keys, &cfg->bgp);
	/* A section that names its speaker is one to use, unless enabled says not. */
	if (!section_has(p, v, "enabled"))
		cfg->bgp.enabled = speaker_given;
	if (cfg->bgp.enabled && !speaker_given)
		error_at(p, v, "bgp: enabled, and no speaker (gobgp or exabgp)");
	/* The speaker's own program by default, checked as one given would be. */
	if (!command_given)
		snprintf(cfg->bgp.command, sizeof(cfg->bgp.command), "%s",
			 cfg->bgp.speaker == DC_BGP_EXABGP ? "/usr/sbin/exabgpcli"
							   : "/usr/bin/gobgp");
	if (cfg->bgp.enabled && !command_given)
		check_program(p, v, "bgp.command", cfg->bgp.command);
}

static const struct key hook_keys[] = {
	{"on_block", set_on_block, NULL},
	{"on_unblock", set_on_unblock, NULL},
	{"timeout_s", set_hook_timeout, NULL},
	{NULL, NULL, NULL},
};

/* ---- The top level ---- */

static const struct key table_keys[] = {
	{"flow_table_size", set_flow_table_size, "flow_table_size"},
	{"ring_buffer_size", set_ring_buffer_size, "ring_buffer_size"},
	{"acl_max_rules", set_acl_max_rules, "acl_max_rules"},
	{"acl_v4_groups", set_acl_v4_groups, "acl_v4_groups"},
	{"mitigation_max_blocks", set_mitigation_max_blocks, "mitigation_max_blocks"},
	{"lb_max_services", set_lb_max_services, "lb_max_services"},
	{"lb_max_backends", set_lb_max_backends, "lb_max_backends"},
	{"lb_table_size", set_lb_table_size, "lb_table_size"},
	{"lb_conn_table_size", set_lb_conn_table_size, "lb_conn_table_size"},
	{"lock_timeout_ms", set_lock_timeout_ms, "lock_timeout_ms"},
	{NULL, NULL, NULL},
};

static const struct key event_keys[] = {
	{"batch_size", set_batch_size, "batch_size"},
	{"batch_timeout_ms", set_batch_timeout_ms, "batch_timeout_ms"},
	{"event_workers", set_event_workers, "event_workers"},
	{"event_queue_batches", set_event_queue_batches, "event_queue_batches"},
	{NULL, NULL, NULL},
};

static const struct key housekeeping_keys[] = {
	{"flow_idle_timeout_ms", set_flow_idle_timeout_ms, "flow_idle_timeout_ms"},
	{"stats_report_interval_ms", set_stats_report_interval_ms, "stats_report_interval_ms"},
	{NULL, NULL, NULL},
};

static void set_pin_path(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	cfg->pin_path_given =
		want_path(p, v, k->name, cfg->state.pin_path, sizeof(cfg->state.pin_path));
}

static void set_pid_file(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	want_path(p, v, k->name, cfg->pid_file, sizeof(cfg->pid_file));
}

static void set_log_level(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;
	unsigned int c;

	if (want_choice(p, v, k->name, log_levels, &c))
		cfg->log_level = c;
}

static void set_tables(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	parse_section(p, v, k->name, table_keys, &cfg->state);
}

static void set_events(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	parse_section(p, v, k->name, event_keys, &cfg->events);
}

static void set_housekeeping(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	struct daemon_config *cfg = t;

	parse_section(p, v, k->name, housekeeping_keys, &cfg->housekeeping);
}

static void set_hooks(struct parser *p, const struct key *k, yaml_node_t *v, void *t)
{
	parse_section(p, v, k->name, hook_keys, t);
}

static const struct key top_keys[] = {
	{"pin_path", set_pin_path, NULL},
	{"pid_file", set_pid_file, NULL},
	{"log_level", set_log_level, NULL},
	{"tables", set_tables, NULL},
	{"events", set_events, NULL},
	{"housekeeping", set_housekeeping, NULL},
	{"interfaces", set_interfaces, NULL},
	{"lists", set_lists, NULL},
	{"services", set_services, NULL},
	{"hooks", set_hooks, NULL},
	{"metrics", set_metrics, NULL},
	{"ipfix", set_ipfix, NULL},
	{"bgp", set_bgp, NULL},
	{NULL, NULL, NULL},
};

/* ---- Files ---- */

bool dc_trusted_uid(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

int dc_trusted_dirs(const char *path, enum dc_sticky sticky, char *why, size_t len)
{
	char dir[PATH_MAX];
	bool first = true;

	snprintf(dir, sizeof(dir), "%s", path);
	while (dir[0] == '/' && dir[1]) {
		char *slash = strrchr(dir, '/');
		struct stat st;

		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &st)) {
			snprintf(why, len, "cannot look at %s: %s", dir, strerror(errno));
			return -errno;
		}
		if (!dc_trusted_uid(st.st_uid)) {
			snprintf(why, len,
				 "its directory %s belongs to user %u, neither root nor us", dir,
				 st.st_uid);
			return -EPERM;
		}
		bool sticky_ok = sticky == DC_STICKY_ANY || (sticky == DC_STICKY_ABOVE && !first);

		first = false;
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(sticky_ok && (st.st_mode & S_ISVTX))) {
			snprintf(why, len, "its directory %s is writable by %s", dir,
				 st.st_mode & S_IWOTH ? "every user" : "its group");
			return -EPERM;
		}
	}
	return 0;
}

int dc_trusted_file(int fd, const char *path, char *why, size_t len)
{
	char link[64], real[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st)) {
		snprintf(why, len, "cannot look at %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s is no regular file", path);
		return -EINVAL;
	}
	if (!dc_trusted_uid(st.st_uid)) {
		snprintf(why, len,
			 "%s belongs to user %u, neither root nor us: refused (chown root %s)",
			 path, st.st_uid, path);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "%s is writable by %s: refused (chmod go-w %s)", path,
			 st.st_mode & S_IWOTH ? "every user" : "its group", path);
		return -EPERM;
	}
	/* Where it really is (symlinks followed, as a ConfigMap's are): no one else may swap it. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	if (n <= 0) {
		snprintf(why, len, "cannot tell where %s is", path);
		return -EINVAL;
	}
	real[n] = '\0';
	char inner[PATH_MAX + 128];

	if (dc_trusted_dirs(real, DC_STICKY_ANY, inner, sizeof(inner))) {
		snprintf(why, len, "%s: %s: refused", path, inner);
		return -EPERM;
	}
	return 0;
}

/*
 * Reads a file we will act on: a regular file that only root or we can
 * change (its owner one of them, no write bit for group or others, nor on
 * a directory above it unless sticky), as sshd and sudo insist; else what
 * anyone could write would steer the datapath. Opened without waiting (a
 * FIFO is refused, not waited on). No NUL byte: a file left half-written
 * must not read as a short one. -errno, with the reason in errs.
 */
static int read_trusted(const char *path, const char *file_for_errors, struct dc_pos pos,
			size_t max, char **out, size_t *len, struct dc_errors *errs)
{
	char why[PATH_MAX + 256];
	struct stat st;
	ssize_t got = 0;
	char *buf;
	int err, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		err = errno;
		dc_error(errs, file_for_errors, pos, "cannot read %s: %s", path, strerror(err));
		return -err;
	}
	err = dc_trusted_file(fd, path, why, sizeof(why));
	if (err) {
		dc_error(errs, file_for_errors, pos, "%s", why);
		close(fd);
		return err;
	}
	if (fstat(fd, &st) || (unsigned long long)st.st_size > max) {
		dc_error(errs, file_for_errors, pos, "%s is larger than %zu KiB", path, max >> 10);
		close(fd);
		return -EFBIG;
	}
	buf = malloc(st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	*len = 0;
	while (*len < (size_t)st.st_size && (got = read(fd, buf + *len, st.st_size - *len)) > 0)
		*len += got;
	close(fd);
	if (got < 0) {
		dc_error(errs, file_for_errors, pos, "cannot read %s: %s", path, strerror(errno));
		free(buf);
		return -EIO;
	}
	buf[*len] = '\0';
	if (memchr(buf, '\0', *len)) {
		dc_error(errs, file_for_errors, pos,
			 "%s holds a NUL byte: no text file (half written? replace it whole: write "
			 "another, then rename it over)",
			 path);
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	return 0;
}

struct list_read {
	const struct dc_list_file *f;
	struct dc_cidrs *out;
	struct dc_errors *errs;
};

/* Each line of a list file, as the library reads them (netprobe_list_text_parse). */
static int list_line(unsigned long line, const char *entry, const char *why, void *ctx)
{
	struct list_read *r = ctx;
	char text[64], cidr_why[256];

	if (!entry) {
		dc_error(r->errs, r->f->path, (struct dc_pos){line, 1}, "%s", why);
		return 0;
	}
	if (!canonical_cidr(entry, text, sizeof(text), cidr_why, sizeof(cidr_why))) {
		dc_error(r->errs, r->f->path, (struct dc_pos){line, 1}, "'%s' is no CIDR (%s)",
			 entry, cidr_why);
		return 0;
	}
	return cidrs_add(r->out, text, (struct dc_pos){line, 1}) ? -ENOMEM : 0;
}

int dc_list_file_read(const struct dc_list_file *f, const char *config, struct dc_cidrs *out,
		      struct dc_errors *errs)
{
	struct list_read r = {f, out, errs};
	unsigned int before = errs->count;
	size_t len;
	char *buf;
	int err;

	err = read_trusted(f->path, config, f->pos, NETPROBE_LIST_TEXT_MAX, &buf, &len, errs);
	if (err)
		return err;
	err = netprobe_list_text_parse(buf, len, list_line, &r);
	free(buf);
	if (err == -ENOMEM)
		return err;
	return errs->count == before ? 0 : -EINVAL;
}

/* libyaml's error where it is: a reader error (bad UTF-8, a NUL) has only a byte offset. */
static void parse_error(yaml_parser_t *yp, const char *path, const char *buf,
			struct dc_errors *errs)
{
	struct dc_pos pos = {yp->problem_mark.line + 1, yp->problem_mark.column + 1};

	if (yp->error == YAML_READER_ERROR) {
		pos = (struct dc_pos){1, 1};
		for (size_t i = 0; i < yp->problem_offset && buf[i]; i++) {
			if (buf[i] == '\n')
				pos = (struct dc_pos){pos.line + 1, 1};
			else
				pos.column++;
		}
	}
	dc_error(errs, path, pos, "not YAML: %s%s%s", yp->problem ? yp->problem : "parse error",
		 yp->context ? " " : "", yp->context ? yp->context : "");
}

/*
 * Nesting past DC_MAX_NESTING brackets, counted on the text as it is
 * (brackets in quotes count too: no real config comes near): libyaml's time
 * grows with the square of it.
 */
static bool too_deep(const char *path, const char *buf, struct dc_errors *errs)
{
	unsigned int depth = 0, line = 1, col = 0;
	bool comment = false;

	for (const char *c = buf; *c; c++) {
		col++;
		if (*c == '\n') {
			line++;
			col = 0;
			comment = false;
		} else if (*c == '#') {
			comment = true;
		} else if (!comment && (*c == '[' || *c == '{') && ++depth > DC_MAX_NESTING) {
			dc_error(errs, path, (struct dc_pos){line, col},
				 "nested deeper than %u: no config", DC_MAX_NESTING);
			return true;
		} else if (!comment && (*c == ']' || *c == '}') && depth) {
			depth--;
		}
	}
	return false;
}

void daemon_config_free(struct daemon_config *cfg)
{
	for (size_t i = 0; i < cfg->nservices; i++)
		free(cfg->services[i].backends);
	free(cfg->services);
	free(cfg->ifaces);
	free(cfg->files);
	free(cfg->deny.v);
	free(cfg->allow.v);
	memset(cfg, 0, sizeof(*cfg));
}

static void config_defaults(struct daemon_config *cfg, const char *path,
			    const char *default_pin_path)
{
	memset(cfg, 0, sizeof(*cfg));
	/*
	 * Kept absolute, as given: a reload reads the path again, so that a
	 * symlink switched to a new file (a ConfigMap's ..data) is followed.
	 */
	char cwd[PATH_MAX];

	size_t used = 0;

	if (path[0] != '/' && getcwd(cwd, sizeof(cwd))) {
		used = strcmp(cwd, "/") ? strlen(cwd) : 0;
		memcpy(cfg->path, cwd, used);
		cfg->path[used++] = '/';
	}
	snprintf(cfg->path + used, sizeof(cfg->path) - used, "%s", path);
	snprintf(cfg->pid_file, sizeof(cfg->pid_file), "%s", DAEMON_PID_FILE);
	cfg->log_level = NETPROBE_LOG_INFO;
	netprobe_state_opts_default(&cfg->state, sizeof(cfg->state));
	if (default_pin_path)
		snprintf(cfg->state.pin_path, sizeof(cfg->state.pin_path), "%s", default_pin_path);
	netprobe_events_opts_default(&cfg->events, sizeof(cfg->events));
	netprobe_housekeeping_opts_default(&cfg->housekeeping, sizeof(cfg->housekeeping));
	cfg->list_refresh_s = 300;
	cfg->ipfix.active_timeout_s = 60;
	cfg->ipfix.template_refresh_s = 60;
	cfg->metrics.enabled = true;
	snprintf(cfg->metrics.listen, sizeof(cfg->metrics.listen), "%s", DAEMON_METRICS_LISTEN);
	cfg->hooks.timeout_s = 10;
	snprintf(cfg->bgp.api, sizeof(cfg->bgp.api), "127.0.0.1:50051");
	snprintf(cfg->bgp.pipe, sizeof(cfg->bgp.pipe), "exabgp");
	/* The program, when it is there to be checked: a config without bgp needs none. */
	snprintf(cfg->bgp.command, sizeof(cfg->bgp.command), "/usr/bin/gobgp");
	snprintf(cfg->bgp.next_hop_v4, sizeof(cfg->bgp.next_hop_v4), "192.0.2.1");
	snprintf(cfg->bgp.next_hop_v6, sizeof(cfg->bgp.next_hop_v6), "100::1");
	cfg->bgp.communities[0] = 65535u << 16 | 666; /* BLACKHOLE, RFC 7999 */
	cfg->bgp.ncommunities = 1;
	cfg->bgp.widest_v4 = 32;
	cfg->bgp.widest_v6 = 64;
	cfg->bgp.resync_s = 5;
	cfg->bgp.max_routes = 100;
}

/* Two interfaces that may not share one pinned state, and the lists' own rules. */
static void check_whole(struct parser *p)
{
	struct daemon_config *cfg = p->cfg;
	struct netprobe_manager *m;

	check_duplicates(p, &cfg->deny, "lists.deny", &cfg->deny, "lists.deny");
	check_duplicates(p, &cfg->allow, "lists.allow", &cfg->allow, "lists.allow");
	check_duplicates(p, &cfg->deny, "on lists.deny", &cfg->allow, "lists.allow");
	/* Sources are counted by one IPv6 prefix across the pinned state (filter.h). */
	const struct dc_iface *a = NULL;

	for (size_t i = 0; i < cfg->nifaces; i++) {
		const struct dc_iface *b = &cfg->ifaces[i];

		if (b->opts.xdp_mode != NETPROBE_XDP_FILTER)
			continue;
		if (!a)
			a = b;
		else if (a->opts.ipv6_source_prefix != b->opts.ipv6_source_prefix)
			dc_error(p->errs, p->file, b->pos,
				 "interfaces.%s: ipv6_source_prefix %u, but %s has %u: the "
				 "interfaces of one pin path count IPv6 sources by one prefix",
				 b->name, b->opts.ipv6_source_prefix, a->name,
				 a->opts.ipv6_source_prefix);
	}
	/*
	 * A block on unproven evidence is one a spoofer can get made for any
	 * address; announced upstream, it blackholes that address for every
	 * network behind the routers. Only when the operator says so.
	 */
	for (size_t i = 0; cfg->bgp.enabled && !cfg->bgp.allow_unproven && i < cfg->nifaces; i++)
		if (cfg->ifaces[i].opts.xdp_mode == NETPROBE_XDP_FILTER &&
		    cfg->ifaces[i].opts.mitigation && cfg->ifaces[i].opts.mitigation_unproven)
			dc_error(p->errs, p->file, cfg->ifaces[i].pos,
				 "interfaces.%s: mitigation: unproven blocks sources anyone can "
				 "spoof, and bgp would announce them upstream: use proven, or set "
				 "bgp.allow_unproven: true",
				 cfg->ifaces[i].name);
	/* What the tables can hold, when the pinned state is made with these sizes. */
	size_t backends = 0;

	for (size_t i = 0; i < cfg->nservices; i++)
		backends += cfg->services[i].nbackends;
	if (cfg->nservices > cfg->state.lb_max_services)
		dc_error(p->errs, p->file, cfg->services[cfg->state.lb_max_services].pos,
			 "services: %zu, more than tables.lb_max_services (%u)", cfg->nservices,
			 cfg->state.lb_max_services);
	if (backends > cfg->state.lb_max_backends)
		dc_error(p->errs, p->file, (struct dc_pos){0, 0},
			 "services: %zu backends in all, more than tables.lb_max_backends (%u)",
			 backends, cfg->state.lb_max_backends);
	/*
	 * The pid file's directory, as the daemon will insist: from the nearest
	 * one that exists (the daemon makes the rest, root's and 0755).
	 */
	char dir[PATH_MAX], pid_why[PATH_MAX + 128];
	bool made_here = false; /* its own directory is yet to be made: all that is are above */
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", cfg->pid_file);
	for (char *slash = strrchr(dir, '/'); slash && slash != dir; slash = strrchr(dir, '/')) {
		*slash = '\0';
		if (!stat(dir, &st))
			break;
		made_here = true;
	}
	strncat(dir, "/x", sizeof(dir) - strlen(dir) - 1);
	if (dc_trusted_dirs(dir, made_here ? DC_STICKY_ANY : DC_STICKY_ABOVE, pid_why,
			    sizeof(pid_why)))
		dc_error(p->errs, p->file, (struct dc_pos){0, 0}, "pid_file %s: %s", cfg->pid_file,
			 pid_why);
	/* The sizes as the library takes them (a manager touches nothing until loaded). */
	char why[512];

	dlog_capture_begin(why, sizeof(why));
	m = netprobe_manager_new_opts(&cfg->state);
	dlog_capture_end();
	if (!m)
		dc_error(p->errs, p->file, (struct dc_pos){0, 0}, "tables: %s", why);
	netprobe_manager_free(m);
}

void daemon_config_pin_path(const char *path, const char *default_pin_path, char *out, size_t len)
{
	struct dc_errors errs = {};
	yaml_parser_t yp;
	yaml_document_t doc;
	yaml_node_t *root;
	char *buf;
	size_t n;

	snprintf(out, len, "%s", default_pin_path);
	if (read_trusted(path, path, (struct dc_pos){0, 0}, DC_MAX_CONFIG_SIZE, &buf, &n, &errs)) {
		dc_errors_free(&errs);
		return;
	}
	if (too_deep(path, buf, &errs) || !yaml_parser_initialize(&yp)) {
		dc_errors_free(&errs);
		free(buf);
		return;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, n);
	if (yaml_parser_load(&yp, &doc)) {
		root = yaml_document_get_root_node(&doc);
		for (yaml_node_pair_t *pair = root && root->type == YAML_MAPPING_NODE
						      ? root->data.mapping.pairs.start
						      : NULL;
		     pair && pair < root->data.mapping.pairs.top; pair++) {
			const char *key = scalar(yaml_document_get_node(&doc, pair->key));
			const char *value = scalar(yaml_document_get_node(&doc, pair->value));

			if (key && value && !strcmp(key, "pin_path") && value[0] == '/')
				snprintf(out, len, "%s", value);
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&yp);
	dc_errors_free(&errs);
	free(buf);
}

int daemon_config_read(const char *path, const char *default_pin_path, unsigned int flags,
		       struct daemon_config *cfg, struct dc_errors *errs)
{
	struct parser p = {.file = path, .cfg = cfg, .errs = errs, .flags = flags};
	yaml_parser_t yp;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	char *buf;
	size_t len;
	int err;

	memset(errs, 0, sizeof(*errs));
	config_defaults(cfg, path, default_pin_path);
	err = read_trusted(path, path, (struct dc_pos){0, 0}, DC_MAX_CONFIG_SIZE, &buf, &len, errs);
	if (err)
		return err == -EPERM ? -EPERM : -EINVAL;
	if (too_deep(path, buf, errs) || !yaml_parser_initialize(&yp)) {
		free(buf);
		return -EINVAL;
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&yp, &doc)) {
		parse_error(&yp, path, buf, errs);
		yaml_parser_delete(&yp);
		free(buf);
		return -EINVAL;
	}
	p.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root && !is_null(root))
		parse_section(&p, root, "config", top_keys, cfg);
	/* One document: a second one would be ignored, and silently; one that does not parse too. */
	if (!yaml_parser_load(&yp, &extra)) {
		parse_error(&yp, path, buf, errs);
	} else {
		if (yaml_document_get_root_node(&extra))
			dc_error(errs, path,
				 (struct dc_pos){extra.start_mark.line + 1,
						 extra.start_mark.column + 1},
				 "a second YAML document: the config is one");
		yaml_document_delete(&extra);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&yp);
	free(buf);
	check_whole(&p);
	/* The exporter leaves a flow that idles out to expiry's last record. */
	cfg->ipfix.flow_idle_timeout_ms = cfg->housekeeping.flow_idle_timeout_ms;
	/* The list files are read now too: one that does not parse is a bad config. */
	for (size_t i = 0; i < cfg->nfiles && !errs->count; i++) {
		struct dc_cidrs l = {};

		dc_list_file_read(&cfg->files[i], path, &l, errs);
		free(l.v);
	}
	if (errs->count) {
		daemon_config_free(cfg);
		return -EINVAL;
	}
	return 0;
}
