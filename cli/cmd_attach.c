// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe attach / detach / status: the lifecycle of the datapath on interfaces. */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <time.h>
#include "cli.h"

static const char *tc_attach_name(enum netprobe_tc_attach t)
{
	switch (t) {
	case NETPROBE_TC_TCX:
		return "tcx";
	case NETPROBE_TC_CLSACT:
		return "clsact";
	case NETPROBE_TC_CLSACT_CREATED:
		return "clsact (created)";
	default:
		return "none";
	}
}

/* --detect NAME=off|on|THRESHOLD[/WINDOW_MS] */
static bool parse_detect(struct netprobe_config *cfg, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct netprobe_detection *d = eq ? netprobe_config_detection(cfg, arg, eq - arg) : NULL;
	unsigned long long threshold, window;
	char spec[64], *slash;

	if (!d || strlen(eq + 1) >= sizeof(spec))
		return false;
	strcpy(spec, eq + 1);
	if (!strcmp(spec, "off") || !strcmp(spec, "on")) {
		d->enabled = spec[1] == 'n';
		return true;
	}
	slash = strchr(spec, '/');
	if (slash)
		*slash = '\0';
	if (!cli_parse_uint(spec, 1000000000, &threshold) || !threshold)
		return false;
	if (slash && (!cli_parse_uint(slash + 1, 3600000, &window) || window < 10))
		return false;
	d->enabled = true;
	d->threshold = threshold;
	if (slash)
		d->window_ms = window;
	return true;
}

int cmd_attach(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = cli_find_command("attach");
	static const struct option opts[] = {CLI_COMMON_LONGOPTS,
					     {"mode", required_argument, NULL, 'm'},
					     {"xdp-mode", required_argument, NULL, 'x'},
					     {"tc-mode", required_argument, NULL, 't'},
					     {"flow-table", required_argument, NULL, 'f'},
					     {"lb-conn-table", required_argument, NULL, 'L'},
					     {"detailed-events", no_argument, NULL, 'D'},
					     {"events-rate", required_argument, NULL, 'r'},
					     {"detect", required_argument, NULL, 'd'},
					     {"scan-hosts", required_argument, NULL, 'H'},
					     {"mitigate", no_argument, NULL, 'M'},
					     {"mitigate-unproven", no_argument, NULL, 'U'},
					     {"block-ttl", required_argument, NULL, 'T'},
					     {"ipv6-prefix", required_argument, NULL, 'I'},
					     {"no-alerts", no_argument, NULL, 'N'},
					     {"decap", no_argument, NULL, 'C'},
					     {"decap-from", required_argument, NULL, 'F'},
					     {"decap-to", required_argument, NULL, 'O'},
					     {}};
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	unsigned long long n;
	int opt, err = 0, i;
	bool filter_opts = false;

	(void)env;
	cli_config(&cfg);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "m:x:t:f:L:Dr:d:H:MUT:I:NCF:O:",
				  opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (netprobe_xdp_program_parse(optarg, &cfg.xdp_mode))
				return cli_usage_error(
					cmd, "--mode is monitor, filter or lb, not '%s'", optarg);
			break;
		case 'x':
			if (!strcmp(optarg, "auto"))
				cfg.xdp_attach_mode = NETPROBE_XDP_ATTACH_AUTO;
			else if (!strcmp(optarg, "native"))
				cfg.xdp_attach_mode = NETPROBE_XDP_ATTACH_NATIVE;
			else if (!strcmp(optarg, "generic"))
				cfg.xdp_attach_mode = NETPROBE_XDP_ATTACH_GENERIC;
			else
				return cli_usage_error(cmd,
						       "--xdp-mode is auto, native or generic");
			break;
		case 't':
			if (!strcmp(optarg, "auto"))
				cfg.tc_attach_mode = NETPROBE_TC_ATTACH_AUTO;
			else if (!strcmp(optarg, "tcx"))
				cfg.tc_attach_mode = NETPROBE_TC_ATTACH_TCX;
			else if (!strcmp(optarg, "clsact"))
				cfg.tc_attach_mode = NETPROBE_TC_ATTACH_CLSACT;
			else
				return cli_usage_error(cmd, "--tc-mode is auto, tcx or clsact");
			break;
		case 'f':
			if (!cli_parse_uint(optarg, 1ull << 26, &n) || n < 1024)
				return cli_usage_error(cmd, "--flow-table is 1024..%llu entries",
						       1ull << 26);
			cfg.flow_table_size = n;
			break;
		case 'L':
			if (!cli_parse_uint(optarg, 1ull << 26, &n) || n < 1024)
				return cli_usage_error(cmd, "--lb-conn-table is 1024..%llu flows",
						       1ull << 26);
			cfg.lb_conn_table_size = n;
			break;
		case 'D':
			cfg.enable_detailed_events = true;
			break;
		case 'r':
			if (!cli_parse_uint(optarg, 100000000, &n) || !n)
				return cli_usage_error(cmd,
						       "--events-rate is 1..100000000 a second");
			cfg.detailed_events_per_sec = n;
			break;
		case 'd':
			filter_opts = true;
			if (!parse_detect(&cfg, optarg))
				return cli_usage_error(
					cmd,
					"--detect is NAME=off|on|THRESHOLD[/WINDOW_MS], NAME one "
					"of "
					"syn_flood, udp_flood, icmp_flood, tcp_flood, "
					"other_flood, syn_flood_dst, udp_flood_dst, "
					"icmp_flood_dst, "
					"port_scan, rate_anomaly; "
					"not '%s'",
					optarg);
			break;
		case 'H':
			filter_opts = true;
			if (!cli_parse_uint(optarg, 128, &n) || !n)
				return cli_usage_error(cmd, "--scan-hosts is 1..128");
			cfg.port_scan_hosts = n;
			break;
		case 'M':
			filter_opts = true;
			cfg.mitigation = true;
			break;
		case 'U':
			filter_opts = true;
			cfg.mitigation = true;
			cfg.mitigation_unproven = true;
			break;
		case 'T':
			filter_opts = true;
			if (!cli_parse_uint(optarg, NETPROBE_ACL_MAX_TTL_S, &n) || !n)
				return cli_usage_error(cmd, "--block-ttl is 1..%u seconds",
						       NETPROBE_ACL_MAX_TTL_S);
			cfg.mitigation_ttl_s = n;
			break;
		case 'I':
			filter_opts = true;
			if (!cli_parse_uint(optarg, 128, &n) || n < 32)
				return cli_usage_error(cmd, "--ipv6-prefix is 32..128 bits");
			cfg.ipv6_source_prefix = n;
			break;
		case 'N':
			filter_opts = true;
			cfg.enable_security_alerts = false;
			break;
		case 'C':
			cfg.decap = true;
			break;
		case 'F':
		case 'O': {
			bool from = opt == 'F';
			unsigned int *count = from ? &cfg.decap_from_count : &cfg.decap_to_count;
			struct netprobe_cidr *set = from ? cfg.decap_from : cfg.decap_to;

			cfg.decap = true;
			if (*count == NETPROBE_DECAP_MAX)
				return cli_usage_error(cmd, "--decap-%s is given %d times at most",
						       from ? "from" : "to", NETPROBE_DECAP_MAX);
			if (netprobe_cidr_parse(optarg, &set[*count]))
				return cli_usage_error(cmd, "--decap-%s takes an address or prefix",
						       from ? "from" : "to");
			(*count)++;
			break;
		}
		default:
			if (!cli_common_opt(cmd, opt, optarg))
				return cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "name at least one interface");
	if (filter_opts && cfg.xdp_mode != NETPROBE_XDP_FILTER)
		return cli_usage_error(cmd, "--detect, --scan-hosts, --mitigate, --block-ttl, "
					    "--ipv6-prefix and --no-alerts go with --mode filter");
	/* Every name first: a typo must not leave the interfaces before it switched. */
	for (i = optind; i < argc; i++) {
		if (strlen(argv[i]) >= IF_NAMESIZE || !if_nametoindex(argv[i])) {
			cli_error("no interface named %s in this network namespace", argv[i]);
			return EXIT_FAIL;
		}
	}
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", cli.pin_path);
	m = cli_open(&cfg);
	if (!m)
		return EXIT_FAIL;
	bool held[argc];

	for (i = optind; i < argc; i++) {
		struct netprobe_iface before;

		held[i] = netprobe_manager_iface(m, argv[i], &before) == 0;
		err = netprobe_manager_attach(m, argv[i]);
		if (err)
			break;
		if (held[i] && before.xdp_mode == cfg.xdp_mode)
			printf("%s: %s mode, settings applied live\n", argv[i],
			       netprobe_xdp_program_name(cfg.xdp_mode));
		else if (held[i])
			printf("%s: %s mode (was %s), switched live\n", argv[i],
			       netprobe_xdp_program_name(cfg.xdp_mode),
			       netprobe_xdp_program_name(before.xdp_mode));
		else
			printf("attached to %s (%s)\n", argv[i],
			       netprobe_xdp_program_name(cfg.xdp_mode));
	}
	if (err) {
		/* All or nothing: undo what this command attached before the failure. */
		for (int j = optind; j < i; j++)
			if (!held[j] && netprobe_manager_detach(m, argv[j]) == 0)
				printf("detached %s again\n", argv[j]);
		cli_fail(err, argv[i]);
	}
	netprobe_manager_free(m);
	return err ? EXIT_FAIL : EXIT_OK;
}

int cmd_detach(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = cli_find_command("detach");
	static const struct option opts[] = {
		CLI_COMMON_LONGOPTS, {"all", no_argument, NULL, 'a'}, {}};
	struct netprobe_manager *m;
	bool all = false;
	int opt, failed = 0;

	(void)env;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "a", opts, NULL)) != -1) {
		if (opt == 'a')
			all = true;
		else if (!cli_common_opt(cmd, opt, optarg))
			return cli_usage_error(cmd, "unknown option");
	}
	if (all == (optind < argc))
		return cli_usage_error(cmd, "name interfaces or give --all, not both");
	m = cli_open_existing(false);
	if (!m)
		return EXIT_FAIL;
	if (all) {
		failed = netprobe_manager_detach(m, NULL) != 0;
		if (!failed)
			printf("detached from every interface\n");
	}
	for (int i = optind; i < argc; i++) {
		int err = netprobe_manager_detach(m, argv[i]);

		if (err) {
			failed = 1;
			continue;
		}
		printf("detached from %s\n", argv[i]);
	}
	netprobe_manager_free(m);
	return failed ? EXIT_FAIL : EXIT_OK;
}

struct status_ctx {
	struct netprobe_manager *m;
	struct json_object *list;
	int count;
};

static const char *const xdp_attach_names[] = {"auto", "native", "generic"};
static const char *const tc_attach_names[] = {"auto", "tcx", "clsact"};

static const char *name_of(const char *const *names, size_t n, unsigned int v)
{
	return v < n ? names[v] : "unknown";
}

static struct json_object *prefixes_json(const struct netprobe_cidr *v, unsigned int n)
{
	struct json_object *a = json_object_new_array();
	char buf[64];

	for (unsigned int i = 0; i < n; i++)
		json_object_array_add(
			a, json_object_new_string(netprobe_cidr_str(&v[i], buf, sizeof(buf))));
	return a;
}

/* The settings in force on an interface (netprobe_manager_iface_config), for status --json. */
static struct json_object *settings_json(const struct netprobe_config *c)
{
	struct json_object *o = json_object_new_object(), *ev = json_object_new_object();
	struct json_object *det = json_object_new_object(), *mit = json_object_new_object();
	struct json_object *dec = json_object_new_object();
	struct netprobe_config copy = *c;
	const char *name;

	json_object_object_add(
		o, "xdp_attach_mode",
		json_object_new_string(name_of(xdp_attach_names, 3, c->xdp_attach_mode)));
	json_object_object_add(
		o, "tc_attach_mode",
		json_object_new_string(name_of(tc_attach_names, 3, c->tc_attach_mode)));
	json_object_object_add(ev, "xdp", json_object_new_boolean(c->enable_xdp_events));
	json_object_object_add(ev, "tc", json_object_new_boolean(c->enable_tc_events));
	json_object_object_add(ev, "detailed", json_object_new_boolean(c->enable_detailed_events));
	json_object_object_add(ev, "detailed_per_sec", cli_json_u64(c->detailed_events_per_sec));
	json_object_object_add(ev, "security_alerts",
			       json_object_new_boolean(c->enable_security_alerts));
	json_object_object_add(ev, "security_alerts_per_sec",
			       cli_json_u64(c->security_alerts_per_sec));
	json_object_object_add(o, "events", ev);
	for (unsigned int i = 0; (name = netprobe_config_detection_name(i)); i++) {
		const struct netprobe_detection *d =
			netprobe_config_detection(&copy, name, strlen(name));
		struct json_object *one = json_object_new_object();

		json_object_object_add(one, "enabled", json_object_new_boolean(d->enabled));
		json_object_object_add(one, "threshold", cli_json_u64(d->threshold));
		json_object_object_add(one, "window_ms", cli_json_u64(d->window_ms));
		json_object_object_add(det, name, one);
	}
	json_object_object_add(o, "detections", det);
	json_object_object_add(o, "port_scan_hosts", cli_json_u64(c->port_scan_hosts));
	json_object_object_add(o, "rate_anomaly_floor_pps",
			       cli_json_u64(c->rate_anomaly_floor_pps));
	json_object_object_add(mit, "enabled", json_object_new_boolean(c->mitigation));
	json_object_object_add(mit, "unproven", json_object_new_boolean(c->mitigation_unproven));
	json_object_object_add(mit, "block_ttl_s", cli_json_u64(c->mitigation_ttl_s));
	json_object_object_add(mit, "ipv6_prefix", cli_json_u64(c->ipv6_source_prefix));
	json_object_object_add(o, "mitigation", mit);
	json_object_object_add(dec, "enabled", json_object_new_boolean(c->decap));
	json_object_object_add(dec, "from", prefixes_json(c->decap_from, c->decap_from_count));
	json_object_object_add(dec, "to", prefixes_json(c->decap_to, c->decap_to_count));
	json_object_object_add(o, "decap", dec);
	json_object_object_add(o, "lb_route_cache_ms", cli_json_u64(c->lb_route_cache_ms));
	return o;
}

/* Prints word after column *col, on a new indented line when it would pass 96 columns. */
static void wrap_word(int *col, const char *word)
{
	if (*col + (int)strlen(word) > 96)
		*col = printf("\n         ") - 1;
	*col += printf("%s", word);
}

/* The same in words, under the interface's line: only what its mode uses. */
static void settings_text(const struct netprobe_config *c)
{
	struct netprobe_config copy = *c;
	const char *name;
	char buf[64];
	int n = 0;

	bool alerts = c->xdp_mode == NETPROBE_XDP_FILTER && c->enable_security_alerts;

	printf("  events:%s%s", c->enable_xdp_events ? " xdp" : "",
	       c->enable_tc_events ? " tc" : "");
	if (c->enable_detailed_events)
		printf(" flows (%u/s a CPU)", c->detailed_events_per_sec);
	if (alerts)
		printf(" alerts (%u/s a CPU)", c->security_alerts_per_sec);
	if (!c->enable_xdp_events && !c->enable_tc_events && !c->enable_detailed_events && !alerts)
		printf(" none");
	printf("\n  attach modes asked: XDP %s, TC %s\n",
	       name_of(xdp_attach_names, 3, c->xdp_attach_mode),
	       name_of(tc_attach_names, 3, c->tc_attach_mode));
	if (c->xdp_mode == NETPROBE_XDP_FILTER) {
		int col = printf("  detect:");

		for (unsigned int i = 0; (name = netprobe_config_detection_name(i)); i++) {
			const struct netprobe_detection *d =
				netprobe_config_detection(&copy, name, strlen(name));
			char one[96];

			if (!d->enabled)
				continue;
			/* Floods are a rate, port_scan a count, rate_anomaly a percentage. */
			snprintf(one, sizeof(one), " %s %u%s %s %u ms%s", name, d->threshold,
				 strstr(name, "flood")		? "/s"
				 : strcmp(name, "rate_anomaly") ? ""
								: "%",
				 strstr(name, "flood") ? "over" : "in", d->window_ms,
				 strcmp(name, "port_scan") ? "" : " (ports)");
			if (col + strlen(one) + 1 > 96)
				col = printf(",\n         ") - 2;
			else if (n)
				col += printf(",");
			col += printf("%s", one);
			n++;
		}
		printf("%s\n", n ? "" : " nothing");
		if (c->mitigation)
			printf("  mitigate: %s sources, block TTL %u s, IPv6 by /%u\n",
			       c->mitigation_unproven ? "all" : "proven", c->mitigation_ttl_s,
			       c->ipv6_source_prefix);
		else
			printf("  mitigate: off\n");
	}
	if (c->decap) {
		int col = printf("  decap: from");
		char word[72];

		for (unsigned int i = 0; i < c->decap_from_count; i++) {
			snprintf(word, sizeof(word), " %s",
				 netprobe_cidr_str(&c->decap_from[i], buf, sizeof(buf)));
			wrap_word(&col, word);
		}
		wrap_word(&col, ", to");
		for (unsigned int i = 0; i < c->decap_to_count; i++) {
			snprintf(word, sizeof(word), " %s",
				 netprobe_cidr_str(&c->decap_to[i], buf, sizeof(buf)));
			wrap_word(&col, word);
		}
		printf("%s\n", c->decap_to_count ? "" : " any");
	}
	if (c->xdp_mode == NETPROBE_XDP_LB)
		printf("  lb: route cache %u ms\n", c->lb_route_cache_ms);
}

static int status_one(const struct netprobe_iface *it, void *ctx)
{
	struct status_ctx *s = ctx;
	time_t since = it->attached_at_ns / 1000000000ull;
	struct netprobe_config cfg;
	int kept = netprobe_manager_iface_config(s->m, it, &cfg);
	bool have = kept == 0;
	char when[32];

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&since));
	s->count++;
	if (s->list) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(it->name));
		json_object_object_add(o, "ifindex", json_object_new_int(it->ifindex));
		json_object_object_add(
			o, "mode", json_object_new_string(netprobe_xdp_program_name(it->xdp_mode)));
		json_object_object_add(
			o, "xdp_mode",
			json_object_new_string(it->xdp_generic ? "generic" : "native"));
		json_object_object_add(o, "tc",
				       json_object_new_string(tc_attach_name(it->tc_attach)));
		json_object_object_add(o, "decap", json_object_new_boolean(it->decap));
		json_object_object_add(o, "attached_at", json_object_new_string(when));
		json_object_object_add(o, "gone", json_object_new_boolean(it->gone));
		json_object_object_add(o, "in_current_netns",
				       json_object_new_boolean(it->in_current_netns));
		json_object_object_add(o, "settings", have ? settings_json(&cfg) : NULL);
		json_object_array_add(s->list, o);
		return 0;
	}
	if (s->count == 1)
		printf("%-16s %7s %-8s %-8s %-17s %s\n", "INTERFACE", "IFINDEX", "MODE", "XDP",
		       "TC", "ATTACHED");
	printf("%-16s %7u %-8s %-8s %-17s %s%s%s\n", it->name, it->ifindex,
	       netprobe_xdp_program_name(it->xdp_mode), it->xdp_generic ? "generic" : "native",
	       tc_attach_name(it->tc_attach), when, it->decap ? "  decap" : "",
	       it->gone		      ? "  (interface deleted: detach --all frees it)"
	       : it->in_current_netns ? ""
				      : "  (other netns)");
	if (have)
		settings_text(&cfg);
	else if (kept == -ENODATA)
		printf("  settings: not kept (attached by an older netprobe; attach it again)\n");
	return 0;
}

int cmd_status(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = cli_find_command("status");
	static const struct option opts[] = {
		CLI_COMMON_LONGOPTS, {"json", no_argument, NULL, 'j'}, {}};
	struct status_ctx s = {};
	struct netprobe_security_stats sec;
	unsigned long long waiting = 0;
	struct netprobe_manager *m;
	int opt, err;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "j", opts, NULL)) != -1) {
		if (opt == 'j')
			env->json = true;
		else if (!cli_common_opt(cmd, opt, optarg))
			return cli_usage_error(cmd, "unknown option");
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	m = cli_open_existing(true);
	if (!m && errno != ENOENT)
		return EXIT_FAIL;
	if (env->json)
		s.list = json_object_new_array();
	s.m = m;
	err = m ? netprobe_manager_foreach_iface(m, status_one, &s) : 0;
	/*
	 * Nothing sweeps expired list entries on its own (the daemon will): say
	 * where that matters, an IPv4 deny prefix inside an allow prefix that expires.
	 */
	if (m && netprobe_manager_security_stats(m, &sec) == 0)
		waiting = sec.sweep_dependent;
	if (env->json) {
		struct json_object *root = json_object_new_object();

		json_object_object_add(root, "pin_path", json_object_new_string(env->pin_path));
		json_object_object_add(root, "interfaces", s.list);
		json_object_object_add(root, "sweep_dependent", cli_json_u64(waiting));
		cli_json_print(root);
		json_object_put(root);
	} else if (!s.count) {
		printf("netprobe is not attached anywhere (pin path %s)\n", env->pin_path);
	}
	if (!env->json && waiting)
		printf("note: %llu IPv4 deny prefix%s inside an allow prefix with a TTL: once that "
		       "expires, the deny applies only after a sweep (any `netprobe blacklist "
		       "list`, a running `netprobe events` or `monitor`); nothing sweeps on its "
		       "own yet\n",
		       waiting, waiting == 1 ? " lies" : "es lie");
	netprobe_manager_free(m);
	return err ? cli_fail(err, "status") : EXIT_OK;
}
