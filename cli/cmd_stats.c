// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe stats [IFACE]: counters per interface and in total. */
#include <errno.h>
#include <string.h>
#include "cli.h"

static void add_summary(struct json_object *o, const struct netprobe_global_stats *st)
{
	json_object_object_add(o, "rx_packets", cli_json_u64(st->rx_packets));
	json_object_object_add(o, "rx_bytes", cli_json_u64(st->rx_bytes));
	json_object_object_add(o, "tx_packets", cli_json_u64(st->tx_packets));
	json_object_object_add(o, "tx_bytes", cli_json_u64(st->tx_bytes));
	json_object_object_add(o, "xdp_drop", cli_json_u64(st->xdp_drop));
	json_object_object_add(o, "xdp_pass", cli_json_u64(st->xdp_pass));
	json_object_object_add(o, "xdp_tx", cli_json_u64(st->xdp_tx));
	json_object_object_add(o, "xdp_redirect", cli_json_u64(st->xdp_redirect));
	json_object_object_add(o, "xdp_aborted", cli_json_u64(st->xdp_aborted));
	json_object_object_add(o, "malformed", cli_json_u64(st->malformed));
}

struct json_object *cli_iface_stats_json(const struct netprobe_iface *iface,
					 const struct netprobe_global_stats *st)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(iface->name));
	json_object_object_add(o, "ifindex", json_object_new_int(iface->ifindex));
	json_object_object_add(o, "mode",
			       json_object_new_string(netprobe_xdp_program_name(iface->xdp_mode)));
	/* A deleted interface's counters stay until its slot is freed (detach NAME). */
	json_object_object_add(o, "gone", json_object_new_boolean(iface->gone));
	json_object_object_add(o, "in_current_netns",
			       json_object_new_boolean(iface->in_current_netns));
	add_summary(o, st);
	return o;
}

struct stats_ctx {
	struct netprobe_manager *m;
	const char *only; /* IFACE given on the command line */
	int only_slot;	  /* the slot it names */
	struct cli_ifnames names;
	struct json_object *ifaces; /* --json: the "interfaces" array */
	int shown;
};

/* Every named counter of stats already read: into a JSON object, or printed. */
static int counter_to_json(const char *iface, const char *name, unsigned long long value, void *ctx)
{
	(void)iface;
	json_object_object_add(ctx, name, cli_json_u64(value));
	return 0;
}

static int print_counter(const char *iface, const char *name, unsigned long long value, void *ctx)
{
	(void)iface;
	(void)ctx;
	printf("  %-40s %llu\n", name, value);
	return 0;
}

static struct json_object *counters_json(const struct netprobe_global_stats *st)
{
	struct json_object *counters = json_object_new_object();

	netprobe_global_stats_foreach_counter(st, counter_to_json, counters);
	return counters;
}

/*
 * One line of the table (NULL: the header). Every XDP verdict has its
 * column: an lb interface's RX is pass + drop + tx + redirect (+ aborted).
 */
static void print_row(const char *name, const char *mode, const struct netprobe_global_stats *st)
{
	if (!st) {
		printf("%-16s %-7s %11s %13s %11s %13s %10s %10s %10s %9s %7s %9s\n", "INTERFACE",
		       "MODE", "RX_PACKETS", "RX_BYTES", "TX_PACKETS", "TX_BYTES", "XDP_PASS",
		       "XDP_DROP", "XDP_TX", "XDP_REDIR", "ABORTED", "MALFORMED");
		return;
	}
	printf("%-16s %-7s %11llu %13llu %11llu %13llu %10llu %10llu %10llu %9llu %7llu %9llu\n",
	       name, mode, st->rx_packets, st->rx_bytes, st->tx_packets, st->tx_bytes, st->xdp_pass,
	       st->xdp_drop, st->xdp_tx, st->xdp_redirect, st->xdp_aborted, st->malformed);
}

static int stats_one(const struct netprobe_iface *it, void *ctx)
{
	struct stats_ctx *s = ctx;
	struct netprobe_global_stats st;
	char name[96];
	int err;

	if (s->only && (int)it->slot != s->only_slot)
		return 0;
	err = netprobe_manager_iface_stats_of(s->m, it, &st);
	if (err == -ENOENT)
		return 0; /* detached while we were reading */
	if (err)
		return err;
	s->shown++;
	if (s->ifaces) {
		struct json_object *o = cli_iface_stats_json(it, &st);

		if (!it->in_current_netns && it->slot < NETPROBE_MAX_IFACES)
			json_object_object_add(
				o, "netns", json_object_new_string(s->names.slot[it->slot].netns));

		json_object_object_add(
			o, "xdp_attach",
			json_object_new_string(it->xdp_generic ? "generic" : "native"));
		json_object_object_add(o, "counters", counters_json(&st));
		json_object_array_add(s->ifaces, o);
		return 0;
	}
	if (s->only) {
		printf("%s (ifindex %u, %s)\n", it->name, it->ifindex,
		       netprobe_xdp_program_name(it->xdp_mode));
		return netprobe_global_stats_foreach_counter(&st, print_counter, NULL);
	}
	if (s->shown == 1)
		print_row(NULL, NULL, NULL);
	print_row(cli_ifname(&s->names, it->slot, name, sizeof(name)),
		  netprobe_xdp_program_name(it->xdp_mode), &st);
	return 0;
}

/* The seed's SecurityStats: detections by type, drops by reason, list sizes. */
static struct json_object *security_json(const struct netprobe_security_stats *sec)
{
	struct json_object *o = json_object_new_object(), *d = json_object_new_object();
	struct json_object *lists = json_object_new_object();

	for (int i = 0; i < NETPROBE_DETECT_MAX; i++)
		json_object_object_add(d, netprobe_detection_name(i),
				       cli_json_u64(sec->detections[i]));
	json_object_object_add(o, "detections", d);
	d = json_object_new_object();
	for (int i = 0; i < NETPROBE_DETECT_MAX; i++)
		json_object_object_add(d, netprobe_detection_name(i),
				       cli_json_u64(sec->detections_dst[i]));
	json_object_object_add(o, "detections_dst", d);
	for (int i = 0; i < NETPROBE_FC_MAX; i++)
		json_object_object_add(o, netprobe_filter_counter_name(i),
				       cli_json_u64(sec->filter[i]));
	json_object_object_add(lists, "deny", cli_json_u64(sec->deny_entries));
	json_object_object_add(lists, "blocks", cli_json_u64(sec->block_entries));
	json_object_object_add(lists, "allow", cli_json_u64(sec->allow_entries));
	json_object_object_add(lists, "capacity", cli_json_u64(sec->capacity));
	json_object_object_add(o, "lists", lists);
	return o;
}

static void print_security(const struct netprobe_security_stats *sec)
{
	unsigned long long detections = 0;

	for (int i = 0; i < NETPROBE_DETECT_MAX; i++)
		detections += sec->detections[i] + sec->detections_dst[i];
	printf("security: %llu dropped by the deny list, %llu by blocks, %llu passed by the allow "
	       "list; lists: %llu deny, %llu blocks, %llu allow\n",
	       sec->filter[NETPROBE_FC_DENY_DROPS], sec->filter[NETPROBE_FC_BLOCK_DROPS],
	       sec->filter[NETPROBE_FC_ALLOW_PASSES], sec->deny_entries, sec->block_entries,
	       sec->allow_entries);
	if (!detections)
		return;
	printf("detections:");
	/* Per source and per destination apart: syn_flood 3, syn_flood_dst 1. */
	for (int i = 0; i < NETPROBE_DETECT_MAX; i++) {
		if (sec->detections[i])
			printf(" %s %llu", netprobe_detection_name(i), sec->detections[i]);
		if (sec->detections_dst[i])
			printf(" %s_dst %llu", netprobe_detection_name(i), sec->detections_dst[i]);
	}
	printf("\n");
}

static const struct cli_opt stats_opts[] = {CLI_OPT_JSON(struct cli_env), CLI_OPT_END};

const struct cli_command cli_cmd_stats = {
	.name = "stats",
	.synopsis = "[IFACE] [OPTIONS]",
	.help = "Global and per-interface counters: RX (XDP), TX (TC egress), XDP verdicts, per "
		"family and L4 protocol, malformed packets by reason. With IFACE, every counter "
		"of it.",
	.run = cmd_stats,
	.opts = stats_opts,
	.args_size = sizeof(struct cli_env),
};

int cmd_stats(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_stats;
	struct stats_ctx s = {};
	struct netprobe_global_stats total;
	int err;

	if (cli_parse(cmd, argc, argv, env, NULL))
		return EXIT_USAGE;
	if (argc - optind > 1)
		return cli_usage_error(cmd, "at most one interface");
	s.only = optind < argc ? argv[optind] : NULL;
	s.m = cli_open_existing(false);
	if (!s.m)
		return EXIT_FAIL;
	cli_ifnames_read(s.m, &s.names);
	if (s.only) {
		/* Any interface stats lists, from any namespace: by NAME, or NAME@NETNS. */
		s.only_slot = cli_ifnames_find(&s.names, s.only);
		if (s.only_slot < 0) {
			if (s.only_slot == -EEXIST)
				cli_error("%s is attached in several namespaces: say which, as "
					  "netprobe stats lists them (NAME@NETNS)",
					  s.only);
			else
				cli_error("netprobe is not attached to %s", s.only);
			netprobe_manager_free(s.m);
			return EXIT_FAIL;
		}
	}
	if (env->json)
		s.ifaces = json_object_new_array();
	err = netprobe_manager_foreach_iface(s.m, stats_one, &s);
	if (!err)
		err = netprobe_manager_global_stats(s.m, &total);
	if (err) {
		json_object_put(s.ifaces);
		netprobe_manager_free(s.m);
		return cli_fail(err, "stats");
	}
	/* The kernel's side of the event path; the consumer's counts live in its process. */
	struct netprobe_event_stats ev;
	bool have_events = netprobe_manager_event_stats(s.m, &ev) == 0;
	struct netprobe_security_stats sec;
	bool have_security = netprobe_manager_security_stats(s.m, &sec) == 0;

	if (env->json) {
		struct json_object *root = json_object_new_object(), *t = json_object_new_object();

		add_summary(t, &total);
		json_object_object_add(t, "counters", counters_json(&total));
		json_object_object_add(root, "interfaces", s.ifaces);
		if (!s.only)
			json_object_object_add(root, "total", t);
		else
			json_object_put(t);
		cli_json_time(root, "time", total.timestamp_ns);
		if (have_events) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "produced", cli_json_u64(ev.kernel_produced));
			json_object_object_add(e, "lost", cli_json_u64(ev.kernel_lost));
			json_object_object_add(e, "sampled_out", cli_json_u64(ev.sampled_out));
			json_object_object_add(root, "events", e);
		}
		if (have_security && !s.only)
			json_object_object_add(root, "security", security_json(&sec));
		if (!s.only)
			json_object_object_add(root, "lb", cli_lb_json(s.m));
		cli_json_print(root);
		json_object_put(root);
	} else if (!s.only) {
		if (!s.shown)
			printf("netprobe is not attached anywhere\n");
		else
			print_row("total", "", &total);
		if (have_events)
			printf("events: %llu produced, %llu lost (ring buffer full), %llu sampled "
			       "out\n",
			       ev.kernel_produced, ev.kernel_lost, ev.sampled_out);
		if (have_security)
			print_security(&sec);
	}
	netprobe_manager_free(s.m);
	return EXIT_OK;
}
