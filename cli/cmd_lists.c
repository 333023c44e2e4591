// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe blacklist / allowlist: the filter mode's deny and allow lists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "../daemon/daemon.h"

struct list_ops {
	const char *command;
	int (*add)(struct netprobe_manager *m, const char *cidr, unsigned int ttl_s);
	int (*del)(struct netprobe_manager *m, const char *cidr);
	int (*list)(struct netprobe_manager *m, netprobe_acl_fn fn, void *ctx);
	int (*add_many)(struct netprobe_manager *m, const char *const *cidrs, size_t count,
			const struct netprobe_acl_batch_opts *opts,
			struct netprobe_acl_batch_result *result);
	int (*del_many)(struct netprobe_manager *m, const char *const *cidrs, size_t count,
			struct netprobe_acl_batch_result *result);
	const char *name; /* "deny list" */
	int (*other_list)(struct netprobe_manager *m, netprobe_acl_fn fn, void *ctx);
	const char *other_name;
};

static const struct list_ops deny_ops = {
	"blacklist",
	netprobe_blacklist_add,
	netprobe_blacklist_del,
	netprobe_blacklist_list,
	netprobe_blacklist_add_many,
	netprobe_blacklist_del_many,
	"deny list",
	netprobe_allowlist_list,
	"allow list",
};
static const struct list_ops allow_ops = {
	"allowlist",
	netprobe_allowlist_add,
	netprobe_allowlist_del,
	netprobe_allowlist_list,
	netprobe_allowlist_add_many,
	netprobe_allowlist_del_many,
	"allow list",
	netprobe_blacklist_list,
	"deny list",
};

struct list_out {
	bool json;
	struct json_object *entries;
	unsigned int count;
	const struct dc_cidrs *config; /* the running daemon's entries of this list, or NULL */
};

/*
 * The entries of this list that the daemon keeping this pin path owns (its
 * config's): into owned, sorted; false when no daemon runs.
 */
static bool daemon_entries(struct daemon_owned *owned)
{
	struct daemon_status st;
	char record[PATH_MAX];

	if (daemon_status_find(cli.pin_path, &st))
		return false;
	daemon_side_file(st.pid_file, "owned.json", record, sizeof(record));
	if (daemon_owned_load(record, cli.pin_path, owned))
		return false;
	return true;
}

static int print_entry(const struct netprobe_acl_entry *e, void *ctx)
{
	struct list_out *out = ctx;
	char ttl[32] = "-", created[40];

	cli_iso_time(e->created_ns, created, sizeof(created));
	if (out->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "cidr", json_object_new_string(e->text));
		json_object_object_add(o, "ttl",
				       e->ttl_left_ms ? cli_json_u64((e->ttl_left_ms + 999) / 1000)
						      : NULL);
		json_object_object_add(o, "hits", cli_json_u64(e->hits));
		json_object_object_add(o, "origin",
				       json_object_new_string(netprobe_acl_origin_name(e->origin)));
		/* The daemon's config put it there (and puts it back at a reload). */
		json_object_object_add(
			o, "daemon_config",
			json_object_new_boolean(out->config && dc_cidrs_has(out->config, e->text)));
		cli_json_time(o, "created", e->created_ns);
		json_object_object_add(o, "id", cli_json_u64(e->id));
		if (e->origin != NETPROBE_ORIGIN_MANUAL)
			json_object_object_add(o, "evidence", cli_json_u64(e->evidence));
		json_object_array_add(out->entries, o);
	} else {
		if (e->ttl_left_ms)
			snprintf(ttl, sizeof(ttl), "%llus", (e->ttl_left_ms + 999) / 1000);
		if (out->count == 0)
			printf("%-43s %10s %14s %-12s %s\n", "CIDR", "TTL", "HITS", "ORIGIN",
			       "CREATED");
		printf("%-43s %10s %14llu %-12s %s\n", e->text, ttl, e->hits,
		       out->config && dc_cidrs_has(out->config, e->text)
			       ? "config"
			       : netprobe_acl_origin_name(e->origin),
		       created);
	}
	out->count++;
	return 0;
}

/* A del of the daemon's own entries: done, and said that it does not last. */
static void warn_config_entries(const struct list_ops *ops, char **cidrs, int n)
{
	struct daemon_owned owned = {};
	const struct dc_cidrs *set;
	struct netprobe_cidr c;
	char text[64];

	if (!daemon_entries(&owned))
		return;
	set = ops == &deny_ops ? &owned.deny : &owned.allow;
	for (int i = 0; i < n; i++)
		if (!netprobe_cidr_parse(cidrs[i], &c) &&
		    dc_cidrs_has(set, netprobe_cidr_str(&c, text, sizeof(text))))
			fprintf(stderr,
				"netprobe: note: %s is the daemon's config's: it comes back at its "
				"next reload (take it out of the config to remove it for good)\n",
				text);
	daemon_owned_free(&owned);
}

/* Collects every entry's CIDR, for del --all (the list changes while it is walked). */
struct cidr_set {
	char (*v)[64];
	size_t n, cap;
};

static int collect_entry(const struct netprobe_acl_entry *e, void *ctx)
{
	struct cidr_set *set = ctx;

	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 256;
		void *v = realloc(set->v, cap * sizeof(*set->v));

		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	snprintf(set->v[set->n++], sizeof(set->v[0]), "%s", e->text);
	return 0;
}

/*
 * A blocklist file's entries, one after another in one buffer, and the
 * line each came from. At most the lists' largest capacity: reading stops,
 * with an error, at the first entry past what any list can hold.
 */
#define NP_FILE_ENTRIES_MAX (1u << 24)

struct file_entries {
	char *text; /* the entries, each with its NUL */
	size_t used, room;
	size_t *at; /* where each starts in text */
	unsigned long *line;
	size_t n, cap;
	const char **v; /* made from at once text stops moving */
};

static void file_entries_free(struct file_entries *fe)
{
	free(fe->text);
	free(fe->at);
	free(fe->line);
	free(fe->v);
}

static int file_entries_push(struct file_entries *fe, const char *entry, unsigned long line)
{
	size_t len = strlen(entry) + 1;

	if (fe->n == NP_FILE_ENTRIES_MAX)
		return -E2BIG;
	if (fe->n == fe->cap) {
		size_t cap = fe->cap ? fe->cap * 2 : 1024;
		size_t *at = realloc(fe->at, cap * sizeof(*at));
		unsigned long *l = at ? realloc(fe->line, cap * sizeof(*l)) : NULL;

		if (at)
			fe->at = at;
		if (!l)
			return -ENOMEM;
		fe->line = l;
		fe->cap = cap;
	}
	if (fe->used + len > fe->room) {
		size_t room = fe->room ? fe->room * 2 : 65536;
		char *text = realloc(fe->text, room);

		if (!text)
			return -ENOMEM;
		fe->text = text;
		fe->room = room;
	}
	memcpy(fe->text + fe->used, entry, len);
	fe->at[fe->n] = fe->used;
	fe->used += len;
	fe->line[fe->n++] = line;
	return 0;
}

/*
 * Reads a blocklist file whole, as netprobe_list_text_parse takes it (one
 * address or CIDR a line, comments after '#' or ';', as in Spamhaus DROP
 * and FireHOL lists): the daemon's list files read the same way. A line
 * that is not one entry is an error naming it, before anything is applied.
 */
struct file_read {
	const char *path;
	struct file_entries *fe;
};

static int file_line(unsigned long line, const char *entry, const char *why, void *ctx)
{
	struct file_read *r = ctx;
	int err;

	if (!entry) {
		cli_error("%s:%lu: %s", r->path, line, why);
		return -EINVAL;
	}
	err = file_entries_push(r->fe, entry, line);
	if (err == -E2BIG)
		cli_error("%s:%lu: more than %u entries: more than any list holds", r->path, line,
			  NP_FILE_ENTRIES_MAX);
	else if (err)
		cli_error("%s:%lu: %s", r->path, line, strerror(-err));
	return err;
}

static int read_file(const char *path, struct file_entries *fe)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	struct file_read r = {path, fe};
	char *text = NULL;
	size_t len = 0, room = 0, got;
	int err = 0;

	if (!f) {
		cli_error("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	do {
		if (len > NETPROBE_LIST_TEXT_MAX) {
			cli_error("%s is larger than %u MiB: more than any list holds", path,
				  NETPROBE_LIST_TEXT_MAX >> 20);
			err = -EFBIG;
			break;
		}
		if (len == room) {
			char *grown = realloc(text, room = room ? room * 2 : 65536);

			if (!grown) {
				err = -ENOMEM;
				cli_error("cannot read %s: %s", path, strerror(ENOMEM));
				break;
			}
			text = grown;
		}
		got = fread(text + len, 1, room - len, f);
		len += got;
	} while (got);
	if (!err && ferror(f)) {
		err = -errno ?: -EIO;
		cli_error("cannot read %s: %s", path, strerror(-err));
	}
	if (f != stdin)
		fclose(f);
	if (!err)
		err = netprobe_list_text_parse(text ?: "", len, file_line, &r);
	free(text);
	if (!err && fe->n) {
		fe->v = calloc(fe->n, sizeof(*fe->v));
		for (size_t i = 0; fe->v && i < fe->n; i++)
			fe->v[i] = fe->text + fe->at[i];
		err = fe->v ? 0 : -ENOMEM;
	}
	return err;
}

/*
 * A file the batch refused as malformed: every bad entry named with its
 * line (up to 20), one pass to mend the file, not one a line. The batch
 * said why of the first.
 */
static void check_entries(const char *path, const struct file_entries *fe)
{
	struct netprobe_cidr c;
	size_t bad = 0;

	netprobe_set_log(NULL, NETPROBE_LOG_ERROR, NULL); /* each is named here, with its line */
	for (size_t i = 0; i < fe->n; i++) {
		if (netprobe_cidr_parse(fe->v[i], &c) == 0)
			continue;
		if (++bad <= 20)
			cli_error("%s:%lu: '%s' is no address or CIDR", path, fe->line[i],
				  fe->v[i]);
	}
	cli_log_setup();
	if (bad > 20)
		cli_error("%s: %zu more bad lines", path, bad - 20);
	cli_error("%s: %zu bad line%s; nothing applied", path, bad, bad == 1 ? "" : "s");
}

/*
 * Applies add or del to every entry of a blocklist file in one batch, all or
 * none: entries listed already (or, for del, on no list) are skipped, and
 * with a TTL, listed entries with a TTL renewed.
 */
static int apply_file(struct netprobe_manager *m, const struct list_ops *ops, bool add,
		      const char *path, unsigned int ttl, bool update)
{
	struct netprobe_acl_batch_opts opts = {.sz = sizeof(opts),
					       .ttl_s = ttl,
					       .listed = update ? NETPROBE_ACL_LISTED_UPDATE
								: NETPROBE_ACL_LISTED_SKIP};
	struct netprobe_acl_batch_result res = {};
	struct file_entries fe = {};
	int err = read_file(path, &fe);

	if (err) {
		file_entries_free(&fe);
		return err; /* read_file named the line */
	}
	/* Parsed once, by the batch; only a file it refuses is read again for every bad line. */
	err = add ? ops->add_many(m, fe.v, fe.n, &opts, &res) : ops->del_many(m, fe.v, fe.n, &res);
	if (err == -EINVAL && res.failed < fe.n)
		check_entries(path, &fe);
	else if (err && res.failed < fe.n)
		cli_error("%s:%lu: %s: %s; nothing %s", path, fe.line[res.failed], fe.v[res.failed],
			  netprobe_strerror(err), add ? "added" : "removed");
	else if (err && fe.n)
		cli_error("%s: %s; nothing %s", path, netprobe_strerror(err),
			  add ? "added" : "removed");
	else if (!err)
		printf("%s %zu entr%s from %s (%zu %s, %zu %s)\n", add ? "added" : "removed",
		       res.done, res.done == 1 ? "y" : "ies", path, res.renewed,
		       update ? "updated" : "renewed", res.skipped,
		       add ? "already listed" : "not listed");
	/* A blocklist download that failed into an empty file must not pass unseen. */
	if (!err && !fe.n)
		fprintf(stderr, "netprobe: warning: %s holds no entries\n", path);
	file_entries_free(&fe);
	return err;
}

struct list_args {
	bool json, all, update, keep_going;
	unsigned int ttl;
	const char *file;
};

static const struct cli_opt list_opts[] = {
	{.name = "ttl",
	 .type = CLI_OPT_UINT,
	 .offset = offsetof(struct list_args, ttl),
	 .arg = "S",
	 .help = "add: the entries expire after S seconds (0: never)",
	 .min = 0,
	 .max = NETPROBE_ACL_MAX_TTL_S,
	 .unit = "seconds"},
	CLI_OPT_JSON(struct list_args),
	{.name = "file",
	 .type = CLI_OPT_TEXT,
	 .offset = offsetof(struct list_args, file),
	 .arg = "FILE",
	 .help = "add or del every entry of a blocklist file (one CIDR a line, '#' or ';' starts a "
		 "comment; - is stdin), all or none"},
	{.name = "update",
	 .type = CLI_OPT_SET,
	 .offset = offsetof(struct list_args, update),
	 .help = "add: entries listed already take --ttl from now (0 or none: they become "
		 "permanent) instead of failing the command (CIDRs) or staying as they are "
		 "(--file, where listed entries with a TTL are renewed, never shortened)"},
	{.name = "continue",
	 .type = CLI_OPT_SET,
	 .offset = offsetof(struct list_args, keep_going),
	 .help = "add, del CIDRs: each on its own, the failures reported and the rest "
		 "applied (exit 1 if any failed), instead of all or none"},
	{.name = "all",
	 .type = CLI_OPT_SET,
	 .offset = offsetof(struct list_args, all),
	 .arg = NULL,
	 .help = "del: every entry, mitigation blocks included"},
	CLI_OPT_END,
};

const struct cli_command cli_cmd_blacklist = {
	.name = "blacklist",
	.synopsis = "add CIDR...|--file FILE [--ttl S] [--update|--continue] | "
		    "del CIDR...|--file FILE|--all [--continue] | list [--json]",
	.help = "The deny list of the filter mode: IPv4 and IPv6 addresses and prefixes, matched "
		"against the source by longest prefix, dropped in XDP. list shows each entry's "
		"hits, time left and origin (manual, or the detection that blocked it).",
	.run = cmd_blacklist,
	.opts = list_opts,
	.args_size = sizeof(struct list_args),
};

const struct cli_command cli_cmd_allowlist = {
	.name = "allowlist",
	.synopsis = "add CIDR...|--file FILE [--ttl S] [--update|--continue] | "
		    "del CIDR...|--file FILE|--all [--continue] | list [--json]",
	.help = "The allow list of the filter mode: sources on it always pass, even inside a "
		"denied prefix, and never count towards a detection.",
	.run = cmd_allowlist,
	.opts = list_opts,
	.args_size = sizeof(struct list_args),
};

/* Whether cidrs[i] is the same prefix as one before it (printed once). */
static bool said_before(const char *const *cidrs, int i)
{
	struct netprobe_cidr a, b;

	if (netprobe_cidr_parse(cidrs[i], &a))
		return false;
	for (int j = 0; j < i; j++)
		if (!netprobe_cidr_parse(cidrs[j], &b) && a.family == b.family &&
		    a.prefix_len == b.prefix_len && !memcmp(a.addr, b.addr, sizeof(a.addr)))
			return true;
	return false;
}

/* Whether cidr is on this list (its canonical text among the entries'). */
static bool listed_here(const struct cidr_set *set, const char *cidr)
{
	struct netprobe_cidr c;
	char text[64];

	if (netprobe_cidr_parse(cidr, &c))
		return false;
	netprobe_cidr_str(&c, text, sizeof(text));
	for (size_t i = 0; i < set->n; i++)
		if (!strcmp(set->v[i], text))
			return true;
	return false;
}

/*
 * The command line's CIDRs, all or none: add in one batch that fails whole
 * on an entry listed already (or, with update, gives listed entries the
 * TTL); del after checking each is on this list (a single del of one that
 * is not says why, and removes nothing).
 */
static int apply_cidrs(struct netprobe_manager *m, const struct list_ops *ops, bool add,
		       const char *const *cidrs, int n, unsigned int ttl, bool update)
{
	struct netprobe_acl_batch_opts opts = {.sz = sizeof(opts),
					       .ttl_s = ttl,
					       .listed = update ? NETPROBE_ACL_LISTED_UPDATE
								: NETPROBE_ACL_LISTED_FAIL};
	struct netprobe_acl_batch_result res = {};
	struct cidr_set set = {}, other = {};
	struct netprobe_cidr c;
	int err = 0;

	if (!add) {
		/* Each on this list, checked from the listings: nothing is removed to find out. */
		err = ops->list(m, collect_entry, &set)
			      ?: ops->other_list(m, collect_entry, &other);
		for (int i = 0; !err && i < n; i++) {
			if (listed_here(&set, cidrs[i]))
				continue;
			if (netprobe_cidr_parse(cidrs[i], &c))
				err = -EINVAL; /* the library said why */
			else if (listed_here(&other, cidrs[i]))
				err = -NETPROBE_ERR_OTHER_LIST;
			else
				err = -ENOENT;
			if (err == -ENOENT)
				cli_error("%s is not on the %s", cidrs[i], ops->name);
			else if (err == -NETPROBE_ERR_OTHER_LIST)
				cli_error("%s is not on the %s (it is on the %s)", cidrs[i],
					  ops->name, ops->other_name);
		}
		free(set.v);
		free(other.v);
	}
	if (!err)
		err = add ? ops->add_many(m, cidrs, n, &opts, &res)
			  : ops->del_many(m, cidrs, n, &res);
	if (err) {
		/* The library said which entry and why. */
		cli_error("nothing %s: the command's CIDRs go all or none (--continue applies the "
			  "others)",
			  add ? "added" : "removed");
		return err;
	}
	if (update) {
		printf("added %zu, updated %zu (TTL %s)\n", res.done, res.renewed,
		       ttl ? "set" : "none: permanent");
		return 0;
	}
	for (int i = 0; i < n; i++)
		if (!said_before(cidrs, i))
			printf("%s %s\n", add ? "added" : "removed", cidrs[i]);
	return 0;
}

/* --continue: each CIDR on its own, each failure reported, the rest applied. */
static int apply_each(struct netprobe_manager *m, const struct list_ops *ops, bool add,
		      char **cidrs, int n, unsigned int ttl)
{
	int failed = 0;

	for (int i = 0; i < n; i++) {
		int err = add ? ops->add(m, cidrs[i], ttl) : ops->del(m, cidrs[i]);

		if (err)
			failed++; /* the library said why */
		else
			printf("%s %s\n", add ? "added" : "removed", cidrs[i]);
	}
	if (failed)
		cli_error("%d of %d not %s", failed, n, add ? "added" : "removed");
	return failed ? -EINVAL : 0;
}

static int run_list(const struct cli_command *cmd, const struct list_ops *ops, int argc,
		    char **argv)
{
	struct list_args args = {};
	struct list_out out = {};
	struct netprobe_manager *m;
	const char *verb;
	int err = 0;

	if (cli_parse(cmd, argc, argv, &args, NULL))
		return EXIT_USAGE;
	out.json = args.json;
	const char *file = args.file;
	bool all = args.all;
	unsigned int ttl = args.ttl;
	int ncidrs;

	if (optind >= argc)
		return cli_usage_error(cmd, "say add, del or list");
	verb = argv[optind++];
	if (strcmp(verb, "add") && strcmp(verb, "del") && strcmp(verb, "list"))
		return cli_usage_error(cmd, "say add, del or list, not '%s'", verb);
	if (strcmp(verb, "list") && optind >= argc && !file && !all)
		return cli_usage_error(cmd, "%s needs CIDRs, --file FILE%s", verb,
				       strcmp(verb, "del") ? "" : " or --all");
	if (!strcmp(verb, "list") && (optind < argc || file))
		return cli_usage_error(cmd, "list takes no CIDR");
	if (ttl && strcmp(verb, "add"))
		return cli_usage_error(cmd, "--ttl goes with add");
	if (all && (strcmp(verb, "del") || optind < argc || file))
		return cli_usage_error(cmd, "--all goes with del alone");
	ncidrs = argc - optind;
	if (ncidrs && file)
		return cli_usage_error(cmd, "give CIDRs or --file, not both");
	if (args.update && strcmp(verb, "add"))
		return cli_usage_error(cmd, "--update goes with add");
	if (args.keep_going && (!ncidrs || !strcmp(verb, "list")))
		return cli_usage_error(cmd, "--continue goes with add or del and CIDRs");
	if (args.keep_going && args.update)
		return cli_usage_error(cmd, "--continue and --update: one or the other");

	if (!strcmp(verb, "add")) {
		struct netprobe_config cfg;

		cli_config(&cfg);
		m = cli_open(&cfg); /* lists may be filled before anything is attached */
	} else {
		m = cli_open_existing(true);
		if (!m && errno == ENOENT) {
			if (!strcmp(verb, "del") && !all) {
				cli_error("%s is not on the list (the lists are empty)",
					  optind < argc ? argv[optind] : file);
				return EXIT_FAIL;
			}
			if (all)
				return EXIT_OK;
			printf(out.json ? "{\"entries\":[]}\n" : "no entries\n");
			return EXIT_OK;
		}
	}
	if (!m)
		return EXIT_FAIL;

	if (!strcmp(verb, "list")) {
		struct daemon_owned owned = {};

		if (daemon_entries(&owned))
			out.config = ops == &deny_ops ? &owned.deny : &owned.allow;
		out.entries = json_object_new_array();
		err = ops->list(m, print_entry, &out);
		daemon_owned_free(&owned);
		if (!err && !out.json && !out.count)
			printf("no entries\n");
		if (!err && out.json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "entries", out.entries);
			cli_json_print(o);
			json_object_put(o);
		} else {
			json_object_put(out.entries);
		}
		if (err)
			cli_fail(err, "list");
	} else if (all) {
		struct cidr_set set = {};
		const char **v;

		err = ops->list(m, collect_entry, &set);
		v = calloc(set.n ? set.n : 1, sizeof(*v));
		for (size_t i = 0; v && i < set.n; i++)
			v[i] = set.v[i];
		if (!err)
			err = v ? ops->del_many(m, v, set.n, NULL) : -ENOMEM;
		if (!err)
			printf("removed %zu entr%s\n", set.n, set.n == 1 ? "y" : "ies");
		else
			cli_fail(err, "del --all");
		free(v);
		free(set.v);
	} else {
		bool add = !strcmp(verb, "add");

		if (args.keep_going)
			err = apply_each(m, ops, add, argv + optind, ncidrs, ttl);
		else if (ncidrs)
			err = apply_cidrs(m, ops, add, (const char *const *)argv + optind, ncidrs,
					  ttl, args.update);
		else
			err = apply_file(m, ops, add, file, ttl, args.update);
		if (!err && !strcmp(verb, "add") && !cli_ifaces_in_mode(m, NETPROBE_XDP_FILTER))
			fprintf(stderr,
				"netprobe: no interface is in filter mode yet; the lists "
				"apply once one is (netprobe attach IFACE --mode filter)\n");
		if (!add && ncidrs)
			warn_config_entries(ops, argv + optind, ncidrs);
	}
	netprobe_manager_free(m);
	return err ? EXIT_FAIL : EXIT_OK;
}

int cmd_blacklist(struct cli_env *env, int argc, char **argv)
{
	(void)env;
	return run_list(&cli_cmd_blacklist, &deny_ops, argc, argv);
}

int cmd_allowlist(struct cli_env *env, int argc, char **argv)
{
	(void)env;
	return run_list(&cli_cmd_allowlist, &allow_ops, argc, argv);
}
