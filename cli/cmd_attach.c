// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe attach / detach / status: the lifecycle of the datapath on interfaces. */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "../daemon/daemon.h"

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

/* What attach applies: an interface's settings, and the sizes of a state it makes. */
struct attach_args {
	struct netprobe_attach_opts a;
	unsigned int flow_table_size, lb_conn_table_size;
};

static void attach_defaults(void *p)
{
	struct attach_args *args = p;
	struct netprobe_config cfg;

	netprobe_attach_opts_default(&args->a, sizeof(args->a));
	netprobe_config_default(&cfg);
	args->flow_table_size = cfg.flow_table_size;
	args->lb_conn_table_size = cfg.lb_conn_table_size;
}

/* --detect NAME=off|on|THRESHOLD[/WINDOW_MS], in the library's ranges */
static bool parse_detect(void *p, const char *arg, unsigned int nth)
{
	const struct netprobe_setting_range *th = netprobe_config_range("detection_threshold");
	const struct netprobe_setting_range *win = netprobe_config_range("detection_window_ms");
	struct attach_args *args = p;
	const char *eq = strchr(arg, '=');
	struct netprobe_detection *d =
		eq ? netprobe_attach_opts_detection(&args->a, arg, eq - arg) : NULL;
	unsigned long long threshold, window;
	char spec[64], *slash;

	(void)nth;
	if (!d) {
		fprintf(stderr, "netprobe attach: the detections are");
		for (unsigned int i = 0; netprobe_config_detection_name(i); i++)
			fprintf(stderr, "%s %s", i ? "," : "", netprobe_config_detection_name(i));
		fprintf(stderr, "\n");
		return false;
	}
	if (strlen(eq + 1) >= sizeof(spec))
		return false;
	strcpy(spec, eq + 1);
	if (!strcmp(spec, "off") || !strcmp(spec, "on")) {
		d->enabled = spec[1] == 'n';
		return true;
	}
	slash = strchr(spec, '/');
	if (slash)
		*slash = '\0';
	if (!cli_parse_uint(spec, th->max, &threshold) || threshold < th->min)
		return false;
	if (slash && (!cli_parse_uint(slash + 1, win->max, &window) || window < win->min))
		return false;
	d->enabled = true;
	d->threshold = threshold;
	if (slash)
		d->window_ms = window;
	return true;
}

/* " Defaults: syn_flood 2000/1000 ms, ..., rate_anomaly off (1000/1000 ms)", from the library. */
static void detect_defaults(char *buf, size_t len)
{
	struct netprobe_attach_opts a;
	size_t used = snprintf(buf, len, " Defaults:");

	netprobe_attach_opts_default(&a, sizeof(a));
	for (unsigned int i = 0; netprobe_config_detection_name(i) && used < len; i++) {
		const char *name = netprobe_config_detection_name(i);
		const struct netprobe_detection *d =
			netprobe_attach_opts_detection(&a, name, strlen(name));

		used += snprintf(buf + used, len - used, "%s %s %s%u/%u ms%s", i ? "," : "", name,
				 d->enabled ? "" : "off (", d->threshold, d->window_ms,
				 d->enabled ? "" : ")");
	}
}

static bool parse_mitigate(void *p, const char *arg, unsigned int nth)
{
	struct attach_args *args = p;

	(void)arg, (void)nth;
	args->a.mitigation = true;
	args->a.mitigation_unproven = false;
	return true;
}

static bool parse_mitigate_unproven(void *p, const char *arg, unsigned int nth)
{
	struct attach_args *args = p;

	(void)arg, (void)nth;
	args->a.mitigation = true;
	args->a.mitigation_unproven = true;
	return true;
}

static bool parse_no_mitigate(void *p, const char *arg, unsigned int nth)
{
	struct attach_args *args = p;

	(void)arg, (void)nth;
	args->a.mitigation = false;
	args->a.mitigation_unproven = false;
	return true;
}

/* The tunnel sources are kept: --decap switches unwrapping on again with them. */
static bool parse_no_decap(void *p, const char *arg, unsigned int nth)
{
	struct attach_args *args = p;

	(void)arg, (void)nth;
	args->a.decap = false;
	return true;
}

/* --decap-from, --decap-to: given in a command, they replace the list (up to 8). */
static bool parse_prefixes(struct netprobe_cidr *set, unsigned int *count, const char *arg,
			   unsigned int nth)
{
	if (nth == 0)
		*count = 0;
	if (*count == NETPROBE_DECAP_MAX || netprobe_cidr_parse(arg, &set[*count]))
		return false;
	(*count)++;
	return true;
}

static bool parse_decap_from(void *p, const char *arg, unsigned int nth)
{
	struct attach_args *args = p;

	args->a.decap = true;
	return parse_prefixes(args->a.decap_from, &args->a.decap_from_count, arg, nth);
}

static bool parse_decap_to(void *p, const char *arg, unsigned int nth)
{
	struct attach_args *args = p;

	args->a.decap = true;
	return parse_prefixes(args->a.decap_to, &args->a.decap_to_count, arg, nth);
}

static const char *const xdp_attach_names[] = {"auto", "native", "generic", NULL};
static const char *const tc_attach_names[] = {"auto", "tcx", "clsact", NULL};

#define A(field) offsetof(struct attach_args, a.field)
static const struct cli_opt attach_opts[] = {
	{.name = "mode",
	 .type = CLI_OPT_CHOICE,
	 .offset = A(xdp_mode),
	 .arg = "MODE",
	 .help = "monitor counts; filter adds the lists and detections; lb balances the VIPs of "
		 "netprobe lb",
	 .choices = cli_mode_names},
	{.name = "xdp-mode",
	 .type = CLI_OPT_CHOICE,
	 .offset = A(xdp_attach_mode),
	 .arg = "M",
	 .help = "native XDP, generic (skb) XDP, or native where the driver has it",
	 .choices = xdp_attach_names},
	{.name = "tc-mode",
	 .type = CLI_OPT_CHOICE,
	 .offset = A(tc_attach_mode),
	 .arg = "M",
	 .help = "tcx links, a clsact qdisc's filters, or tcx where the kernel has it",
	 .choices = tc_attach_names},
	{.name = "flow-table",
	 .type = CLI_OPT_UINT,
	 .offset = offsetof(struct attach_args, flow_table_size),
	 .arg = "N",
	 .help = "flows remembered, when the pinned state is made (later attaches keep its size)",
	 .setting = "flow_table_size"},
	{.name = "lb-conn-table",
	 .type = CLI_OPT_UINT,
	 .offset = offsetof(struct attach_args, lb_conn_table_size),
	 .arg = "N",
	 .help = "flows the load balancer remembers, when the pinned state is made",
	 .setting = "lb_conn_table_size"},
	{.name = "detailed-events",
	 .type = CLI_OPT_SET,
	 .offset = A(enable_detailed_events),
	 .arg = NULL,
	 .help = "a flow-start event for each new flow (netprobe events)"},
	{.name = "no-detailed-events",
	 .type = CLI_OPT_CLEAR,
	 .offset = A(enable_detailed_events),
	 .help = "no more flow-start events"},
	{.name = "events-rate",
	 .type = CLI_OPT_UINT,
	 .offset = A(detailed_events_per_sec),
	 .arg = "N",
	 .help = "flow-start events a second per CPU, at most",
	 .setting = "detailed_events_per_sec"},
	{.name = "detect",
	 .type = CLI_OPT_FUNC,
	 .offset = 0,
	 .arg = "NAME=SPEC",
	 .help = "filter: a detection off, on, or on with a THRESHOLD[/WINDOW_MS]. The floods "
		 "count packets a second: syn_flood, udp_flood, icmp_flood from one source, "
		 "tcp_flood (resets, and segments of no connection that this host reset), "
		 "other_flood (other IP protocols), syn_flood_dst, udp_flood_dst, icmp_flood_dst "
		 "to one destination; port_scan counts distinct ports refused in the window "
		 "(or --scan-hosts hosts); rate_anomaly, the percent of the learned baseline.",
	 .more_help = detect_defaults,
	 .parse = parse_detect,
	 .expects = "NAME=off|on|THRESHOLD[/WINDOW_MS]",
	 .repeat = true},
	{.name = "scan-hosts",
	 .type = CLI_OPT_UINT,
	 .offset = A(port_scan_hosts),
	 .arg = "N",
	 .help = "filter: distinct hosts probed in the window, also a port scan",
	 .setting = "port_scan_hosts"},
	{.name = "mitigate",
	 .type = CLI_OPT_FUNC,
	 .offset = 0,
	 .arg = NULL,
	 .help = "filter: block the source of a per-source detection for --block-ttl seconds if it "
		 "completed a handshake with this host in the last 10 s (it is not spoofed); never "
		 "this host's addresses, gateways, resolvers, peers it opened a flow to, special "
		 "addresses or the allow list",
	 .parse = parse_mitigate},
	{.name = "mitigate-unproven",
	 .type = CLI_OPT_FUNC,
	 .offset = 0,
	 .arg = NULL,
	 .help = "filter: as --mitigate, and on evidence anyone could spoof too (for a network "
		 "where nobody can)",
	 .parse = parse_mitigate_unproven},
	{.name = "no-mitigate",
	 .type = CLI_OPT_FUNC,
	 .help = "block no more sources (blocks made stay until their TTL or netprobe "
		 "blacklist del)",
	 .parse = parse_no_mitigate},
	{.name = "block-ttl",
	 .type = CLI_OPT_UINT,
	 .offset = A(mitigation_ttl_s),
	 .arg = "S",
	 .help = "filter: how long a block lasts",
	 .setting = "mitigation_ttl_s"},
	{.name = "ipv6-prefix",
	 .type = CLI_OPT_UINT,
	 .offset = A(ipv6_source_prefix),
	 .arg = "LEN",
	 .help = "filter: IPv6 sources are counted and blocked by this prefix (128: each "
		 "address alone), unless it holds an address mitigation never blocks",
	 .setting = "ipv6_source_prefix"},
	{.name = "no-alerts",
	 .type = CLI_OPT_CLEAR,
	 .offset = A(enable_security_alerts),
	 .arg = NULL,
	 .help = "filter: detections count but send no security events"},
	{.name = "alerts",
	 .type = CLI_OPT_SET,
	 .offset = A(enable_security_alerts),
	 .help = "filter: security events again"},
	{.name = "decap",
	 .type = CLI_OPT_SET,
	 .offset = A(decap),
	 .help = "unwrap again, from the --decap-from sources the interface has"},
	{.name = "no-decap",
	 .type = CLI_OPT_FUNC,
	 .help = "unwrap no tunnels (the --decap-from and --decap-to lists are kept for "
		 "--decap)",
	 .parse = parse_no_decap},
	{.name = "decap-from",
	 .type = CLI_OPT_FUNC,
	 .offset = 0,
	 .arg = "CIDR",
	 .help = "unwrap IP-in-IP and IPv6-in-IPv6 whose outer source is in CIDR (the load "
		 "balancers; up to 8; given again, the list is replaced): for the backends of a "
		 "netprobe load balancer. In filter mode the outer packet is filtered first, the "
		 "inner one again",
	 .parse = parse_decap_from,
	 .expects = "an address or prefix (8 at most)",
	 .repeat = true},
	{.name = "decap-to",
	 .type = CLI_OPT_FUNC,
	 .offset = 0,
	 .arg = "ADDR",
	 .help = "unwrap only tunnels to these addresses of this host (up to 8; default: any)",
	 .parse = parse_decap_to,
	 .expects = "an address or prefix (8 at most)",
	 .repeat = true},
	CLI_OPT_END,
};
#undef A

const struct cli_command cli_cmd_attach = {
	.name = "attach",
	.synopsis = "IFACE... [OPTIONS]",
	.help = "Attaches the XDP program and the TC ingress/egress programs to each IFACE and "
		"leaves them running after the command exits (state pinned under --pin-path). "
		"Nothing is left half-attached when it fails. On an interface already attached, "
		"changes only what the options given say, live, and keeps every other setting "
		"it has (netprobe status shows them): the programs are swapped atomically "
		"(--mode monitor is how one leaves filter mode), counters, flows and lists carry "
		"on. Options that mean nothing with what the interface would run (--block-ttl "
		"without mitigation, --detect outside filter mode) are refused. Lb mode: the "
		"interface must have forwarding on (sysctl net.ipv4.conf.IFACE.forwarding, "
		"net.ipv6.conf.IFACE.forwarding).",
	.run = cmd_attach,
	.opts = attach_opts,
	.args_size = sizeof(struct attach_args),
	.init_args = attach_defaults,
};

/* The options only the filter mode has. */
static const char *const filter_only[] = {
	"detect",    "scan-hosts", "mitigate",	  "mitigate-unproven",
	"block-ttl", "alerts",	   "ipv6-prefix", "no-alerts"};

/* Switches that undo one another. */
static const char *const opposites[][2] = {
	{"detailed-events", "no-detailed-events"},
	{"mitigate", "no-mitigate"},
	{"mitigate-unproven", "no-mitigate"},
	{"mitigate", "mitigate-unproven"},
	{"alerts", "no-alerts"},
	{"decap", "no-decap"},
	{"decap-from", "no-decap"},
	{"decap-to", "no-decap"},
};

/* An interface of the command: what it runs now, and what it is to run. */
struct attach_plan {
	const char *name;
	bool held;			  /* attached already */
	bool kept;			  /* its settings in force were read (prev) */
	struct netprobe_iface now;	  /* when held */
	struct netprobe_attach_opts prev; /* when kept */
	struct attach_args want;
};

/*
 * What name is to run: on an interface netprobe holds, the settings in
 * force with only the options given changed (the command line parsed again
 * over them); on a new one, the defaults with the options. 0, or an exit code.
 */
/* What p is to run: the command's options over in_force (parsed again over it). */
static int options_over(struct attach_plan *p, const struct netprobe_attach_opts *in_force,
			int argc, char **argv)
{
	attach_defaults(&p->want);
	p->want.a = *in_force;
	return cli_parse(&cli_cmd_attach, argc, argv, &p->want, NULL);
}

static int plan_iface(struct netprobe_manager *m, int argc, char **argv, const char *name,
		      const struct attach_args *fresh, struct attach_plan *p)
{
	int err;

	p->name = name;
	p->want = *fresh;
	p->held = m && netprobe_manager_iface(m, name, &p->now) == 0;
	if (!p->held)
		return 0;
	netprobe_attach_opts_default(&p->prev, sizeof(p->prev));
	err = netprobe_manager_iface_opts(m, &p->now, &p->prev);
	if (err == -ENODATA) {
		fprintf(stderr,
			"netprobe: warning: %s was attached by an older netprobe that kept "
			"no settings: what this command does not set is the default\n",
			name);
		p->prev.xdp_mode = p->now.xdp_mode;
	} else if (err) {
		return cli_fail(err, name);
	}
	p->kept = !err;
	return options_over(p, &p->prev, argc, argv);
}

/* Options that mean nothing with what the interface will run: refused, with the reason. */
static int check_plan(unsigned long long given, const struct attach_plan *p)
{
	const struct cli_command *cmd = &cli_cmd_attach;
	const struct netprobe_attach_opts *a = &p->want.a;
	const char *was = p->held ? " (it keeps what it has: say --mode filter)" : "";
	bool filter_opts = false;

	char names[256];
	size_t len = 0;

	for (size_t f = 0; f < sizeof(filter_only) / sizeof(filter_only[0]); f++) {
		filter_opts |= cli_given(cmd, given, filter_only[f]);
		len += snprintf(names + len, sizeof(names) - len, "%s--%s",
				!f						       ? ""
				: f + 1 < sizeof(filter_only) / sizeof(filter_only[0]) ? ", "
										       : " and ",
				filter_only[f]);
	}
	if (filter_opts && a->xdp_mode != NETPROBE_XDP_FILTER)
		return cli_usage_error(cmd, "%s: %s go with --mode filter%s", p->name, names,
				       p->held ? was : "");
	/* Switches that undo each other in one command: which is meant? */
	for (size_t i = 0; i < sizeof(opposites) / sizeof(opposites[0]); i++)
		if (cli_given(cmd, given, opposites[i][0]) &&
		    cli_given(cmd, given, opposites[i][1]))
			return cli_usage_error(cmd, "--%s and --%s: one or the other",
					       opposites[i][0], opposites[i][1]);
	/* What the library would refuse (decap with no tunnel source...): said before anything. */
	if (netprobe_attach_opts_validate(a))
		return cli_usage_error(cmd, "%s: these settings are refused (the reason above)",
				       p->name);
	if (cli_given(cmd, given, "block-ttl") && !a->mitigation)
		return cli_usage_error(
			cmd, "%s: --block-ttl goes with --mitigate (mitigation is off)", p->name);
	if (cli_given(cmd, given, "events-rate") && !a->enable_detailed_events)
		return cli_usage_error(
			cmd, "%s: --events-rate goes with --detailed-events (they are off)",
			p->name);
	return 0;
}

/* --flow-table and --lb-conn-table size the state when it is made: not one made already. */
static int check_sizes(struct netprobe_manager *m, unsigned long long given,
		       const struct attach_args *args)
{
	const struct cli_command *cmd = &cli_cmd_attach;
	struct netprobe_config cfg;

	if (netprobe_manager_get_config(m, &cfg))
		return EXIT_FAIL;
	if (cli_given(cmd, given, "flow-table") && cfg.flow_table_size != args->flow_table_size) {
		cli_error("--flow-table: the state under %s has a flow table of %u entries, fixed "
			  "when it was made (detach every interface and empty the lists to make it "
			  "anew)",
			  cli.pin_path, cfg.flow_table_size);
		return EXIT_FAIL;
	}
	if (cli_given(cmd, given, "lb-conn-table") &&
	    cfg.lb_conn_table_size != args->lb_conn_table_size) {
		cli_error(
			"--lb-conn-table: the state under %s remembers %u flows, fixed when it was "
			"made",
			cli.pin_path, cfg.lb_conn_table_size);
		return EXIT_FAIL;
	}
	return 0;
}

struct edit_ctx {
	int argc;
	char **argv;
	unsigned long long given;
	struct attach_plan *p;
	int usage; /* the options do not fit what is in force: an exit code */
};

/* Under the lock: the options over the settings in force, checked again. */
static int edit_iface(struct netprobe_attach_opts *opts, void *ctx)
{
	struct edit_ctx *e = ctx;
	struct attach_plan *p = e->p;

	p->prev = *opts;
	e->usage = options_over(p, opts, e->argc, e->argv) ?: check_plan(e->given, p);
	if (e->usage)
		return -EINVAL;
	*opts = p->want.a;
	return 0;
}

int cmd_attach(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_attach;
	struct netprobe_manager *m = NULL;
	struct attach_plan *plan = NULL;
	struct netprobe_config cfg;
	unsigned long long given;
	struct attach_args args;
	int err = 0, i, n, first, ret = EXIT_FAIL;

	(void)env;
	attach_defaults(&args);
	if (cli_parse(cmd, argc, argv, &args, &given))
		return EXIT_USAGE;
	first = optind;
	n = argc - first;
	if (n <= 0)
		return cli_usage_error(cmd, "name at least one interface");
	/* Every name first: a typo must not leave the interfaces before it switched. */
	for (i = first; i < argc; i++) {
		for (int j = first; j < i; j++)
			if (!strcmp(argv[i], argv[j]))
				return cli_usage_error(cmd, "%s is named twice", argv[i]);
		if (strlen(argv[i]) >= IF_NAMESIZE || !if_nametoindex(argv[i])) {
			cli_error("no interface named %s in this network namespace", argv[i]);
			return EXIT_FAIL;
		}
	}
	/* The state as it is, if there is one: what the interfaces run now. Nothing made yet. */
	m = cli_open_existing(true);
	if (!m && errno != ENOENT)
		return EXIT_FAIL;
	plan = calloc(n, sizeof(*plan));
	if (!plan) {
		cli_error("out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		ret = plan_iface(m, argc, argv, argv[first + i], &args, &plan[i]);
		if (!ret)
			ret = check_plan(given, &plan[i]);
		if (ret)
			goto out;
	}
	ret = EXIT_FAIL;
	if (m && check_sizes(m, given, &args))
		goto out;
	if (!m) {
		cli_config(&cfg);
		cfg.flow_table_size = args.flow_table_size;
		cfg.lb_conn_table_size = args.lb_conn_table_size;
		m = cli_open(&cfg);
		if (!m)
			goto out;
	}
	for (i = 0; i < n; i++) {
		struct attach_plan *p = &plan[i];
		struct edit_ctx e = {argc, argv, given, p, 0};

		/*
		 * On an interface held with its settings kept, the options go over
		 * what is in force under the state's lock, so that a change another
		 * command makes at the same time is not lost.
		 */
		err = p->kept ? netprobe_manager_attach_edit(m, p->name, edit_iface, &e)
			      : netprobe_manager_attach_opts(m, p->name, &p->want.a);
		if (e.usage) {
			ret = e.usage;
			err = -EINVAL;
			break;
		}
		if (err)
			break;

		enum netprobe_xdp_program mode = p->want.a.xdp_mode;
		enum netprobe_xdp_program was = p->kept ? p->prev.xdp_mode : p->now.xdp_mode;

		if (p->held && was == mode)
			printf("%s: %s mode, settings applied live\n", p->name,
			       netprobe_xdp_program_name(mode));
		else if (p->held)
			printf("%s: %s mode (was %s), switched live\n", p->name,
			       netprobe_xdp_program_name(mode), netprobe_xdp_program_name(was));
		else
			printf("attached to %s (%s)\n", p->name, netprobe_xdp_program_name(mode));
	}
	if (err) {
		if (ret != EXIT_USAGE)
			cli_fail(err, plan[i].name);
		/* All or nothing: what this command changed before the failure goes back. */
		for (int j = 0; j < i; j++) {
			if (!plan[j].held && netprobe_manager_detach(m, plan[j].name) == 0)
				printf("detached %s again\n", plan[j].name);
			else if (plan[j].kept &&
				 netprobe_manager_attach_opts(m, plan[j].name, &plan[j].prev) == 0)
				printf("%s: back to its previous settings\n", plan[j].name);
		}
		goto out;
	}
	ret = EXIT_OK;
out:
	free(plan);
	netprobe_manager_free(m);
	return ret;
}

static const struct cli_opt detach_opts[] = {
	{.name = "all",
	 .type = CLI_OPT_SET,
	 .offset = 0,
	 .arg = NULL,
	 .help = "every interface of the pin path, in any namespace"},
	CLI_OPT_END,
};

const struct cli_command cli_cmd_detach = {
	.name = "detach",
	.synopsis = "IFACE...|--all",
	.help = "Removes netprobe from each IFACE (or from every interface), and removes the "
		"pinned state when nothing uses it any more (nothing attached, no list entry, no "
		"VIP).",
	.run = cmd_detach,
	.opts = detach_opts,
	.args_size = sizeof(bool),
};

int cmd_detach(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_detach;
	struct netprobe_manager *m;
	bool all = false;
	int failed = 0;

	(void)env;
	if (cli_parse(cmd, argc, argv, &all, NULL))
		return EXIT_USAGE;
	if (all && optind < argc)
		return cli_usage_error(cmd, "name interfaces or give --all, not both");
	if (!all && optind >= argc)
		return cli_usage_error(cmd, "name the interfaces to detach, or give --all");
	m = cli_open_existing(false);
	if (!m)
		return EXIT_FAIL;
	if (all) {
		/* Each one said: one that cannot go (clsact in another namespace) says why. */
		struct cli_ifnames before, after;
		char name[96];

		cli_ifnames_read(m, &before);
		failed = netprobe_manager_detach(m, NULL) != 0;
		cli_ifnames_read(m, &after);
		for (int s = 0; s < NETPROBE_MAX_IFACES; s++)
			if (before.slot[s].known && !after.slot[s].known)
				printf("detached from %s\n",
				       cli_ifname(&before, s, name, sizeof(name)));
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
	struct cli_ifnames names; /* for the namespaces' names */
};

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
	struct netprobe_config cfg;
	int kept = netprobe_manager_iface_config(s->m, it, &cfg);
	bool have = kept == 0;
	char when[40];

	cli_iso_time(it->attached_at_ns, when, sizeof(when));
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
		/* For machines, one word; whether netprobe made the qdisc apart. */
		json_object_object_add(
			o, "tc",
			json_object_new_string(it->tc_attach == NETPROBE_TC_CLSACT_CREATED
						       ? "clsact"
						       : tc_attach_name(it->tc_attach)));
		json_object_object_add(
			o, "clsact_created",
			json_object_new_boolean(it->tc_attach == NETPROBE_TC_CLSACT_CREATED));
		json_object_object_add(o, "decap", json_object_new_boolean(it->decap));
		cli_json_time(o, "attached_at", it->attached_at_ns);
		json_object_object_add(o, "gone", json_object_new_boolean(it->gone));
		json_object_object_add(o, "in_current_netns",
				       json_object_new_boolean(it->in_current_netns));
		if (!it->in_current_netns && it->slot < NETPROBE_MAX_IFACES)
			json_object_object_add(
				o, "netns", json_object_new_string(s->names.slot[it->slot].netns));
		json_object_object_add(o, "settings", have ? settings_json(&cfg) : NULL);
		json_object_array_add(s->list, o);
		return 0;
	}
	if (s->count == 1)
		printf("%-16s %7s %-8s %-8s %-17s %s\n", "INTERFACE", "IFINDEX", "MODE", "XDP",
		       "TC", "ATTACHED");
	printf("%-16s %7u %-8s %-8s %-17s %s%s", it->name, it->ifindex,
	       netprobe_xdp_program_name(it->xdp_mode), it->xdp_generic ? "generic" : "native",
	       tc_attach_name(it->tc_attach), when, it->decap ? "  decap" : "");
	if (it->gone)
		printf("  (interface deleted: netprobe detach %s frees its slot)\n", it->name);
	else
		printf("%s%s%s\n", it->in_current_netns ? "" : "  (netns ",
		       it->in_current_netns || it->slot >= NETPROBE_MAX_IFACES
			       ? ""
			       : s->names.slot[it->slot].netns,
		       it->in_current_netns ? "" : ")");
	if (have)
		settings_text(&cfg);
	else if (kept == -ENODATA)
		printf("  settings: not kept (attached by an older netprobe; attach it again)\n");
	return 0;
}

static const struct cli_opt status_opts[] = {CLI_OPT_JSON(struct cli_env), CLI_OPT_END};

const struct cli_command cli_cmd_status = {
	.name = "status",
	.synopsis = "[OPTIONS]",
	.help = "Shows what is attached where, and the settings in force on each interface: "
		"mode, detections with thresholds and windows, mitigation, events, decap, XDP "
		"and TC attach modes.",
	.run = cmd_status,
	.opts = status_opts,
	.args_size = sizeof(struct cli_env),
};

/* The daemon that keeps this pin path, and how its last reload went. */
static struct json_object *daemon_json(const struct daemon_status *d)
{
	struct json_object *o = json_object_new_object(), *r = json_object_new_object();

	json_object_object_add(o, "pid", json_object_new_int(d->pid));
	json_object_object_add(o, "config", json_object_new_string(d->config));
	cli_json_time(o, "started", d->started_ns);
	json_object_object_add(r, "count", json_object_new_int(d->reloads));
	if (d->reloads) {
		json_object_object_add(r, "ok", json_object_new_boolean(d->last_ok));
		cli_json_time(r, "time", d->last_reload_ns);
		json_object_object_add(r, "changes", json_object_new_int(d->last_changes));
		if (!d->last_ok)
			json_object_object_add(r, "error", json_object_new_string(d->last_error));
	}
	json_object_object_add(o, "last_reload", r);
	json_object_object_add(o, "in_sync", json_object_new_boolean(d->in_sync));
	json_object_object_add(o, "list_files_error",
			       d->list_files_error[0] ? json_object_new_string(d->list_files_error)
						      : NULL);
	return o;
}

static void print_daemon(const struct daemon_status *d)
{
	char started[40], at[40];

	printf("daemon: pid %d, config %s, running since %s\n", d->pid, d->config,
	       cli_iso_time(d->started_ns, started, sizeof(started)));
	if (!d->reloads)
		printf("  no reload since the start\n");
	else if (d->last_ok)
		printf("  last reload %s: ok, %u changes\n",
		       cli_iso_time(d->last_reload_ns, at, sizeof(at)), d->last_changes);
	else
		printf("  last reload %s: FAILED: %s\n",
		       cli_iso_time(d->last_reload_ns, at, sizeof(at)), d->last_error);
	if (d->list_files_error[0])
		printf("  LIST FILES REFUSED (the lists stay as they were): %s\n",
		       d->list_files_error);
	if (!d->in_sync)
		printf("  NOT IN SYNC: the config is applied in part, tried again every 10 s (the "
		       "log says what fails)\n");
}

int cmd_status(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_status;
	struct daemon_status daemon;
	bool have_daemon;
	struct status_ctx s = {};
	struct netprobe_security_stats sec;
	unsigned long long waiting = 0;
	struct netprobe_manager *m;
	int err;

	if (cli_parse(cmd, argc, argv, env, NULL))
		return EXIT_USAGE;
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	m = cli_open_existing(true);
	if (!m && errno != ENOENT)
		return EXIT_FAIL;
	if (env->json)
		s.list = json_object_new_array();
	s.m = m;
	if (m)
		cli_ifnames_read(m, &s.names);
	err = m ? netprobe_manager_foreach_iface(m, status_one, &s) : 0;
	/*
	 * Nothing sweeps expired list entries on its own (the daemon will): say
	 * where that matters, an IPv4 deny prefix inside an allow prefix that expires.
	 */
	if (m && netprobe_manager_security_stats(m, &sec) == 0)
		waiting = sec.sweep_dependent;
	have_daemon = daemon_status_find(env->pin_path, &daemon) == 0;
	if (env->json) {
		struct json_object *root = json_object_new_object();

		json_object_object_add(root, "pin_path", json_object_new_string(env->pin_path));
		json_object_object_add(root, "interfaces", s.list);
		json_object_object_add(root, "sweep_dependent", cli_json_u64(waiting));
		json_object_object_add(root, "daemon", have_daemon ? daemon_json(&daemon) : NULL);
		cli_json_print(root);
		json_object_put(root);
	} else if (!s.count) {
		printf("netprobe is not attached anywhere (pin path %s)\n", env->pin_path);
	}
	if (!env->json && have_daemon)
		print_daemon(&daemon);
	/* A running daemon sweeps every second: then the note has nothing to say. */
	if (!env->json && waiting && !have_daemon)
		printf("note: %llu IPv4 deny prefix%s inside an allow prefix with a TTL: once that "
		       "expires, the deny applies only after a sweep (netprobe daemon does one "
		       "every second, as do a running `netprobe events` or `monitor`, and any "
		       "`netprobe blacklist list`); none runs now\n",
		       waiting, waiting == 1 ? " lies" : "es lie");
	netprobe_manager_free(m);
	return err ? cli_fail(err, "status") : EXIT_OK;
}
