// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe monitor: the live view. Rates come from differences of two reads. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

struct snapshot {
	struct netprobe_iface ifaces[NETPROBE_MAX_IFACES];
	struct netprobe_global_stats stats[NETPROBE_MAX_IFACES];
	int n;
	unsigned long long stats_ns; /* CLOCK_REALTIME when taken */
};

static int add_iface(const struct netprobe_iface *it, void *ctx)
{
	struct snapshot *s = ctx;

	if (s->n < NETPROBE_MAX_IFACES)
		s->ifaces[s->n++] = *it;
	return 0;
}

static int take_snapshot(struct netprobe_manager *m, const char *only, struct snapshot *s)
{
	int err;

	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	s->stats_ns = ts.tv_sec * 1000000000ull + ts.tv_nsec;
	s->n = 0;
	err = netprobe_manager_foreach_iface(m, add_iface, s);
	if (err)
		return err;
	for (int i = 0; i < s->n; i++) {
		if (only && (!s->ifaces[i].in_current_netns || strcmp(only, s->ifaces[i].name))) {
			s->ifaces[i--] = s->ifaces[--s->n];
			continue;
		}
		err = netprobe_manager_iface_stats_of(m, &s->ifaces[i], &s->stats[i]);
		if (err)
			memset(&s->stats[i], 0, sizeof(s->stats[i]));
	}
	return 0;
}

static const struct netprobe_global_stats *previous(const struct snapshot *prev,
						    const struct netprobe_iface *it)
{
	for (int i = 0; i < prev->n; i++)
		if (prev->ifaces[i].slot == it->slot && prev->ifaces[i].ifindex == it->ifindex)
			return &prev->stats[i];
	return NULL;
}

static double rate(unsigned long long now, unsigned long long before, double secs)
{
	return now >= before ? (now - before) / secs : 0;
}

struct rates {
	double rx_pps, rx_bps, tx_pps, tx_bps, drop_pps;
};

/* Interface i's rates since the previous snapshot (since attach if it is new). */
static struct rates iface_rates(const struct snapshot *cur, const struct snapshot *prev, int i,
				double secs)
{
	const struct netprobe_global_stats *s = &cur->stats[i];
	const struct netprobe_global_stats *p = previous(prev, &cur->ifaces[i]);
	const struct netprobe_global_stats zero = {};

	if (!p)
		p = &zero;
	return (struct rates){
		.rx_pps = rate(s->rx_packets, p->rx_packets, secs),
		.rx_bps = rate(s->rx_bytes, p->rx_bytes, secs) * 8,
		.tx_pps = rate(s->tx_packets, p->tx_packets, secs),
		.tx_bps = rate(s->tx_bytes, p->tx_bytes, secs) * 8,
		.drop_pps = rate(s->xdp_drop, p->xdp_drop, secs),
	};
}

/* Filter mode: what was dropped and why, and what was detected, per interface. */
static void show_security(const struct snapshot *cur, const struct snapshot *prev, double secs)
{
	char a[24], line[256];

	for (int i = 0; i < cur->n; i++) {
		const struct netprobe_counters *c = &cur->stats[i].counters;
		struct rates r = iface_rates(cur, prev, i, secs);
		size_t len = 0;

		if (cur->ifaces[i].xdp_mode != NETPROBE_XDP_FILTER)
			continue;
		for (int d = 0; d < NETPROBE_DETECT_MAX; d++) {
			if (c->detections[d] && len < sizeof(line))
				len += snprintf(line + len, sizeof(line) - len, " %s %llu",
						netprobe_detection_name(d), c->detections[d]);
			if (c->detections_dst[d] && len < sizeof(line))
				len += snprintf(line + len, sizeof(line) - len, " %s_dst %llu",
						netprobe_detection_name(d), c->detections_dst[d]);
		}
		printf("%-16s drops %s/s (total: deny %llu, blocks %llu, malformed %llu); "
		       "detections:%s\n",
		       cur->ifaces[i].name, cli_human(r.drop_pps, "", a, sizeof(a)),
		       c->filter[NETPROBE_FC_DENY_DROPS], c->filter[NETPROBE_FC_BLOCK_DROPS],
		       c->filter[NETPROBE_FC_MALFORMED_DROPS], len ? line : " none");
	}
}

/* What the text view's security line says, for --json: totals so far. */
static struct json_object *security_json(const struct netprobe_counters *c)
{
	struct json_object *o = json_object_new_object(), *d = json_object_new_object();

	json_object_object_add(o, "deny_drops", cli_json_u64(c->filter[NETPROBE_FC_DENY_DROPS]));
	json_object_object_add(o, "block_drops", cli_json_u64(c->filter[NETPROBE_FC_BLOCK_DROPS]));
	json_object_object_add(o, "malformed_drops",
			       cli_json_u64(c->filter[NETPROBE_FC_MALFORMED_DROPS]));
	for (int i = 0; i < NETPROBE_DETECT_MAX; i++)
		json_object_object_add(d, netprobe_detection_name(i),
				       cli_json_u64(c->detections[i]));
	json_object_object_add(o, "detections", d);
	d = json_object_new_object();
	for (int i = 0; i < NETPROBE_DETECT_MAX; i++)
		json_object_object_add(d, netprobe_detection_name(i),
				       cli_json_u64(c->detections_dst[i]));
	json_object_object_add(o, "detections_dst", d);
	return o;
}

static void show_text(const struct snapshot *cur, const struct snapshot *prev,
		      struct cli_flows *flows, unsigned int top, double secs, bool tty)
{
	char a[24], b[24], c[24], d[24], when[40];

	cli_iso_time(cur->stats_ns, when, sizeof(when));
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("netprobe monitor  %s  every %.1fs  (Ctrl-C stops)\n\n", when, secs);
	printf("%-16s %-8s %10s %10s %10s %10s %12s %12s %9s\n", "INTERFACE", "MODE", "RX_PPS",
	       "RX_BPS", "TX_PPS", "TX_BPS", "RX_PACKETS", "TX_PACKETS", "MALFORMED");
	for (int i = 0; i < cur->n; i++) {
		const struct netprobe_global_stats *s = &cur->stats[i];
		struct rates r = iface_rates(cur, prev, i, secs);

		printf("%-16s %-8s %10s %10s %10s %10s %12llu %12llu %9llu\n", cur->ifaces[i].name,
		       netprobe_xdp_program_name(cur->ifaces[i].xdp_mode),
		       cli_human(r.rx_pps, "", a, sizeof(a)),
		       cli_human(r.rx_bps, "b", b, sizeof(b)),
		       cli_human(r.tx_pps, "", c, sizeof(c)),
		       cli_human(r.tx_bps, "b", d, sizeof(d)), s->rx_packets, s->tx_packets,
		       s->malformed);
	}
	if (!cur->n)
		printf("(nothing attached)\n");
	show_security(cur, prev, secs);
	printf("\nbusiest flows in the last %.1fs (of %zu):\n", secs, flows->n);
	cli_flow_print_header(stdout, &flows->names, true);
	for (size_t i = 0; i < flows->n && i < top && flows->v[i].delta_bytes; i++)
		cli_flow_print(stdout, &flows->names, &flows->v[i], true, secs);
	if (!tty)
		putchar('\n');
	fflush(stdout);
}

static void show_json(struct netprobe_manager *m, const struct snapshot *cur,
		      const struct snapshot *prev, struct cli_flows *flows, unsigned int top,
		      double secs)
{
	struct json_object *root = json_object_new_object(), *list = json_object_new_array();
	struct json_object *fl = json_object_new_array();

	for (int i = 0; i < cur->n; i++) {
		struct json_object *o = cli_iface_stats_json(&cur->ifaces[i], &cur->stats[i]);
		struct rates r = iface_rates(cur, prev, i, secs);

		json_object_object_add(o, "rx_pps", json_object_new_double(r.rx_pps));
		json_object_object_add(o, "rx_bps", json_object_new_double(r.rx_bps));
		json_object_object_add(o, "tx_pps", json_object_new_double(r.tx_pps));
		json_object_object_add(o, "tx_bps", json_object_new_double(r.tx_bps));
		json_object_object_add(o, "drop_pps", json_object_new_double(r.drop_pps));
		if (cur->ifaces[i].xdp_mode == NETPROBE_XDP_FILTER)
			json_object_object_add(o, "security",
					       security_json(&cur->stats[i].counters));
		json_object_array_add(list, o);
	}
	for (size_t i = 0; i < flows->n && i < top && flows->v[i].delta_bytes; i++) {
		struct json_object *o = cli_flow_json(m, &flows->names, &flows->v[i]);

		json_object_object_add(o, "interval_bytes", cli_json_u64(flows->v[i].delta_bytes));
		json_object_object_add(o, "interval_packets",
				       cli_json_u64(flows->v[i].delta_packets));
		json_object_array_add(fl, o);
	}
	cli_json_time(root, "time", cur->stats_ns);
	json_object_object_add(root, "interval_s", json_object_new_double(secs));
	json_object_object_add(root, "interfaces", list);
	json_object_object_add(root, "top_flows", fl);
	cli_json_print(root);
	json_object_put(root);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps up to secs, waking early for a signal; housekeeping is ours to run meanwhile. */
static void nap(struct netprobe_manager *m, double secs)
{
	double until = now_s() + secs;

	while (!cli_stop && now_s() < until) {
		double left = until - now_s();

		netprobe_manager_housekeeping(m, NULL);
		usleep(left > 0.1 ? 100000 : (useconds_t)(left * 1e6) + 1);
	}
}

/*
 * The live view's loop, until a signal or duration (0: no end) is over. only
 * and slot narrow it to one interface (NULL, -1: all of the pin path).
 */
int cli_monitor_run(struct netprobe_manager *m, const char *only, int slot, double interval,
		    double duration, unsigned int top, bool json)
{
	static struct snapshot cur, prev;
	struct cli_flows flows = {}, prev_flows = {};
	bool tty = isatty(STDOUT_FILENO);
	double start, last;
	int err = 0;

	cli_catch_stop_signals();
	take_snapshot(m, only, &prev);
	cli_flows_read(m, slot, &prev_flows);
	start = last = now_s();
	while (!cli_stop) {
		double wait = interval;

		if (duration && last + wait > start + duration)
			wait = start + duration - last;
		nap(m, wait);
		double t = now_s();

		err = take_snapshot(m, only, &cur);
		if (!err)
			err = cli_flows_read(m, slot, &flows);
		if (err)
			break;
		cli_flows_delta(&flows, &prev_flows);
		cli_flows_sort(&flows, false, true);
		if (t - last > 0.01) {
			if (json)
				show_json(m, &cur, &prev, &flows, top, t - last);
			else
				show_text(&cur, &prev, &flows, top, t - last, tty);
		}
		prev = cur;
		struct cli_flows swap = prev_flows;

		prev_flows = flows;
		flows = swap;
		last = t;
		if (duration && t - start >= duration - 1e-3)
			break;
	}
	cli_flows_free(&flows);
	cli_flows_free(&prev_flows);
	return err;
}

struct monitor_args {
	bool json;
	unsigned int mode; /* enum netprobe_xdp_program */
	double interval, duration;
	unsigned int top;
};

static void monitor_defaults(void *p)
{
	*(struct monitor_args *)p = (struct monitor_args){.interval = 1, .top = 10};
}

static const struct cli_opt monitor_opts[] = {
	CLI_OPT_JSON(struct monitor_args),
	{.name = "mode",
	 .type = CLI_OPT_CHOICE,
	 .offset = offsetof(struct monitor_args, mode),
	 .arg = "MODE",
	 .help = "the mode IFACE is attached in for the duration, if it is not yet",
	 .choices = cli_mode_names},
	{.name = "interval",
	 .type = CLI_OPT_SECONDS,
	 .offset = offsetof(struct monitor_args, interval),
	 .arg = "S",
	 .help = "seconds between two views",
	 .min = 0.1,
	 .max = 3600},
	CLI_OPT_DURATION(struct monitor_args, "stop after S seconds (default: at Ctrl-C, SIGTERM)"),
	{.name = "top",
	 .type = CLI_OPT_UINT,
	 .offset = offsetof(struct monitor_args, top),
	 .arg = "N",
	 .help = "the N busiest flows",
	 .min = 1,
	 .max = 10000,
	 .unit = "flows"},
	CLI_OPT_END,
};

const struct cli_command cli_cmd_monitor = {
	.name = "monitor",
	.synopsis = "[IFACE] [OPTIONS]",
	.help = "Live view, like top: rates per interface and the busiest flows, every "
		"--interval seconds. With IFACE not yet attached, attaches it (in --mode) for the "
		"duration and detaches it at the end, however the command ends (Ctrl-C, "
		"SIGTERM, SIGHUP, its reader gone: anything but SIGKILL). Stops on those or "
		"after --duration.",
	.run = cmd_monitor,
	.opts = monitor_opts,
	.args_size = sizeof(struct monitor_args),
	.init_args = monitor_defaults,
};

int cmd_monitor(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_monitor;
	struct monitor_args args;
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	const char *only = NULL;
	/* (monitor attaches in --mode, once; the interface's own settings otherwise) */
	bool attached_here = false;
	int err = 0, slot = -1;

	monitor_defaults(&args);
	if (cli_parse(cmd, argc, argv, &args, NULL))
		return EXIT_USAGE;
	/* Before anything is attached: from then on, a signal must reach the detach. */
	cli_catch_stop_signals();
	env->json = args.json;
	cli_config(&cfg);
	cfg.xdp_mode = args.mode;
	double interval = args.interval, duration = args.duration;
	unsigned int top = args.top;

	if (argc - optind > 1)
		return cli_usage_error(cmd, "at most one interface");
	only = optind < argc ? argv[optind] : NULL;
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", env->pin_path);
	m = only ? cli_open(&cfg) : cli_open_existing(false);
	if (!m)
		return EXIT_FAIL;
	struct netprobe_iface it = {};
	struct netprobe_attach_opts set;

	if (only) {
		err = netprobe_manager_iface(m, only, &it);
		if (err == -ENOENT) {
			err = netprobe_manager_attach(m, only);
			if (!err)
				err = netprobe_manager_iface(m, only, &it);
			netprobe_attach_opts_default(&set, sizeof(set));
			if (!err)
				netprobe_manager_iface_opts(m, &it, &set);
			attached_here = !err;
		}
		if (err) {
			/* No such interface here, or the attach failed: the library said which. */
			netprobe_manager_free(m);
			return EXIT_FAIL;
		}
		slot = it.slot;
	}

	err = cli_monitor_run(m, only, slot, interval, duration, top, env->json);
	if (attached_here) {
		/*
		 * Only what monitor attached goes: if another command attached the
		 * interface for real meanwhile (a new attach, or a switch to another
		 * mode), it stays. The library looks and detaches under one lock.
		 */
		int gone = netprobe_manager_detach_unchanged(m, &it, &set);

		if (gone == -ECANCELED) {
			fprintf(stderr,
				"netprobe: %s was attached or switched by another command while "
				"monitor ran: left attached\n",
				only);
		} else if (gone == 0) {
			if (!env->json)
				printf("detached from %s\n", only);
		} else if (gone != -ENOENT && !err) { /* -ENOENT: another command detached it */
			err = gone;
		}
	}
	netprobe_manager_free(m);
	return err ? cli_fail(err, "monitor") : EXIT_OK;
}
