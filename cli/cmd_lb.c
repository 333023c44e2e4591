// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe lb: the load balancer's services (VIPs), their backends, and statistics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "cli.h"

static void add_counters(struct json_object *o, const struct netprobe_lb_counters *c)
{
	json_object_object_add(o, "packets", cli_json_u64(c->packets));
	json_object_object_add(o, "bytes", cli_json_u64(c->bytes));
	json_object_object_add(o, "new_conns", cli_json_u64(c->new_conns));
	json_object_object_add(o, "drops", cli_json_u64(c->drops));
}

static const char *proto_name(unsigned char proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static int vip_to_json(const struct netprobe_lb_service_info *s, void *ctx)
{
	struct json_object *o = json_object_new_object(), *list = json_object_new_array();
	char addr[INET6_ADDRSTRLEN];

	inet_ntop(s->service.family == NETPROBE_FAMILY_IPV6 ? AF_INET6 : AF_INET, s->service.addr,
		  addr, sizeof(addr));
	json_object_object_add(o, "vip", json_object_new_string(s->text));
	json_object_object_add(o, "address", json_object_new_string(addr));
	json_object_object_add(o, "port", json_object_new_int(s->service.port));
	json_object_object_add(o, "proto", json_object_new_string(proto_name(s->service.proto)));
	json_object_object_add(o, "table_size", json_object_new_int64(s->table_size));
	add_counters(o, &s->counters);
	for (size_t i = 0; i < s->nbackends; i++) {
		const struct netprobe_lb_backend_info *b = &s->backends[i];
		struct json_object *bo = json_object_new_object();

		json_object_object_add(bo, "address", json_object_new_string(b->text));
		json_object_object_add(bo, "weight", json_object_new_int64(b->weight));
		json_object_object_add(bo, "state",
				       json_object_new_string(b->draining ? "draining" : "active"));
		json_object_object_add(
			bo, "forward",
			json_object_new_string(netprobe_lb_forward_name(b->forward)));
		json_object_object_add(bo, "table_entries",
				       json_object_new_int64(b->table_entries));
		add_counters(bo, &b->counters);
		json_object_array_add(list, bo);
	}
	json_object_object_add(o, "backends", list);
	json_object_array_add(ctx, o);
	return 0;
}

struct json_object *cli_lb_json(struct netprobe_manager *m)
{
	struct json_object *o = json_object_new_object(), *vips = json_object_new_array();

	json_object_object_add(o, "vips", vips);
	if (netprobe_manager_lb_stats(m, vip_to_json, vips)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int print_vip(const struct netprobe_lb_service_info *s, void *ctx)
{
	(void)ctx;
	printf("%-44s %12s %14s %10s %8s\n", "VIP", "PACKETS", "BYTES", "NEW_CONNS", "DROPS");
	printf("%-44s %12llu %14llu %10llu %8llu\n", s->text, s->counters.packets,
	       s->counters.bytes, s->counters.new_conns, s->counters.drops);
	if (!s->nbackends) {
		printf("  no backends: its packets are dropped (netprobe lb backend add)\n\n");
		return 0;
	}
	printf("  %-40s %6s %6s %-8s %-4s %12s %14s %10s %8s\n", "BACKEND", "WEIGHT", "SHARE",
	       "STATE", "FWD", "PACKETS", "BYTES", "NEW_CONNS", "DROPS");
	for (size_t i = 0; i < s->nbackends; i++) {
		const struct netprobe_lb_backend_info *b = &s->backends[i];

		printf("  %-40s %6u %5.1f%% %-8s %-4s %12llu %14llu %10llu %8llu\n", b->text,
		       b->weight, 100.0 * b->table_entries / s->table_size,
		       b->draining ? "draining" : "active", netprobe_lb_forward_name(b->forward),
		       b->counters.packets, b->counters.bytes, b->counters.new_conns,
		       b->counters.drops);
	}
	printf("\n");
	return 0;
}

int cli_lb_print(struct netprobe_manager *m)
{
	return netprobe_manager_lb_stats(m, print_vip, NULL);
}

static int lb_stats(const struct cli_command *cmd, bool json, int argc)
{
	struct netprobe_manager *m;
	int err;

	if (optind < argc)
		return cli_usage_error(cmd, "stats takes no arguments");
	m = cli_open_existing(true);
	if (!m && errno == ENOENT) {
		if (json)
			printf("{\"vips\":[]}\n");
		else
			printf("no load-balanced services (netprobe lb vip add)\n");
		return EXIT_OK;
	}
	if (!m)
		return EXIT_FAIL;
	if (json) {
		struct json_object *o = cli_lb_json(m);

		err = o ? 0 : -EIO;
		if (o) {
			cli_json_print(o);
			json_object_put(o);
		}
	} else {
		err = cli_lb_print(m);
	}
	netprobe_manager_free(m);
	return err ? cli_fail(err, "lb stats") : EXIT_OK;
}

struct lb_args {
	bool json;
	unsigned int weight;
	unsigned int forward; /* enum netprobe_lb_forward */
	unsigned int table_size;
};

static void lb_defaults(void *args)
{
	*(struct lb_args *)args = (struct lb_args){.weight = 1};
}

static const char *const forward_names[] = {
	[NETPROBE_LB_FORWARD_IPIP] = "ipip", [NETPROBE_LB_FORWARD_L2] = "l2", NULL};

static const struct cli_opt lb_opts[] = {
	CLI_OPT_JSON(struct lb_args),
	{.name = "weight",
	 .type = CLI_OPT_UINT,
	 .offset = offsetof(struct lb_args, weight),
	 .arg = "W",
	 .help = "backend add, set: its share of new flows (to stop new flows to a backend, drain "
		 "it)",
	 .min = 1,
	 .max = NETPROBE_LB_MAX_WEIGHT},
	{.name = "forward",
	 .type = CLI_OPT_CHOICE,
	 .offset = offsetof(struct lb_args, forward),
	 .arg = "HOW",
	 .help = "backend add: encapsulated (ipip) or as it is to the backend's MAC (l2)",
	 .choices = forward_names},
	{.name = "table-size",
	 .type = CLI_OPT_UINT,
	 .offset = offsetof(struct lb_args, table_size),
	 .arg = "P",
	 .help = "vip add: its Maglev table, a prime (default 65537; more needs the library's "
		 "lb_table_size when the state is first made)",
	 .setting = "lb_table_size"},
	CLI_OPT_END,
};

const struct cli_command cli_cmd_lb = {
	.name = "lb",
	.synopsis = "vip add VIP:PORT/PROTO... [--table-size P] | vip del VIP:PORT/PROTO... | "
		    "backend add|del|drain VIP:PORT/PROTO BACKEND... "
		    "[--weight W] [--forward ipip|l2] | backend set VIP:PORT/PROTO BACKEND "
		    "--weight W | stats [--json]",
	.help = "The load balancer of the lb mode. A VIP (192.0.2.1:80/tcp, "
		"[2001:db8::1]:53/udp) spreads new flows over its backends by Maglev consistent "
		"hashing, in proportion to their weights; a flow stays on its backend while the "
		"backend set changes. Packets reach a backend encapsulated (--forward ipip, the "
		"default: IP-in-IP or IPv6-in-IPv6, unwrapped by the backend, e.g. with netprobe "
		"attach IFACE --decap-from LB) or unchanged to its MAC address (--forward l2: a "
		"backend on the same segment); backends answer clients directly and must hold "
		"the VIP on their loopback. drain stops new flows to a backend (established ones "
		"stay); set changes its weight (and ends a drain); del removes it. stats shows "
		"each VIP's and backend's packets, bytes, new connections and share of the "
		"Maglev table.",
	.run = cmd_lb,
	.opts = lb_opts,
	.args_size = sizeof(struct lb_args),
	.init_args = lb_defaults,
};

/* "added 192.0.2.1:80/tcp": the service as the library took it, its protocol said. */
static void say_service(const char *what, const char *text)
{
	struct netprobe_lb_service s;
	char buf[96];

	if (netprobe_lb_service_parse(text, &s) == 0)
		text = netprobe_lb_service_str(&s, buf, sizeof(buf));
	printf("%s %s\n", what, text);
}

struct present_ctx {
	const char *service; /* canonical text; NULL: the VIPs are looked for */
	char **want;
	int n;
	bool *found;
	bool service_found;
};

static int mark_present(const struct netprobe_lb_service_info *s, void *ctx)
{
	struct present_ctx *p = ctx;
	struct netprobe_lb_service svc;
	char text[96];

	for (int i = 0; i < p->n; i++) {
		if (!p->service) {
			if (!netprobe_lb_service_parse(p->want[i], &svc) &&
			    !strcmp(netprobe_lb_service_str(&svc, text, sizeof(text)), s->text))
				p->found[i] = true;
			continue;
		}
		if (strcmp(p->service, s->text))
			continue;
		p->service_found = true;
		/* An address as the library reads one (a mapped IPv6 one is its IPv4). */
		struct netprobe_cidr a;

		if (netprobe_cidr_parse(p->want[i], &a))
			continue;
		for (size_t b = 0; b < s->nbackends; b++)
			if (s->backends[b].family == a.family &&
			    !memcmp(a.addr, s->backends[b].addr,
				    a.family == NETPROBE_FAMILY_IPV4 ? 4 : 16))
				p->found[i] = true;
	}
	return 0;
}

/* Whether each VIP (service NULL), or each backend of service, is there: 0, or said why not. */
static int check_present(struct netprobe_manager *m, const char *service, char **want, int n)
{
	bool found[n > 0 ? n : 1];
	struct netprobe_lb_service svc;
	char text[96];
	struct present_ctx p = {NULL, want, n, found, false};
	int err;

	memset(found, 0, sizeof(found));
	if (service) {
		if (netprobe_lb_service_parse(service, &svc))
			return -EINVAL; /* the library said why */
		p.service = netprobe_lb_service_str(&svc, text, sizeof(text));
	}
	err = netprobe_manager_lb_stats(m, mark_present, &p);
	for (int i = 0; !err && i < n; i++) {
		if (found[i])
			continue;
		if (service && !p.service_found)
			cli_error("no service %s: nothing changed", p.service);
		else if (service)
			cli_error("%s is not a backend of %s: nothing changed", want[i], p.service);
		else
			cli_error("no service %s: nothing removed", want[i]);
		err = -ENOENT;
	}
	return err;
}

int cmd_lb(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_lb;
	struct lb_args args;
	struct netprobe_lb_backend_opts bo = {.sz = sizeof(bo)};
	unsigned long long given;
	const char *object, *verb;
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	int err = 0;

	lb_defaults(&args);
	if (cli_parse(cmd, argc, argv, &args, &given))
		return EXIT_USAGE;
	env->json = args.json;
	bo.weight = args.weight;
	bo.forward = args.forward;
	bool weight_given = cli_given(cmd, given, "weight");
	bool forward_given = cli_given(cmd, given, "forward");
	unsigned int table_size = args.table_size;

	if (optind >= argc)
		return cli_usage_error(cmd, "say vip, backend or stats");
	object = argv[optind++];
	if (!strcmp(object, "stats"))
		return lb_stats(cmd, env->json, argc);
	if (strcmp(object, "vip") && strcmp(object, "backend"))
		return cli_usage_error(cmd, "say vip, backend or stats, not '%s'", object);
	if (optind >= argc)
		return cli_usage_error(cmd, "say %s add or del", object);
	verb = argv[optind++];
	bool vip = !strcmp(object, "vip"), add = !strcmp(verb, "add"), del = !strcmp(verb, "del");
	bool drain = !strcmp(verb, "drain"), set = !strcmp(verb, "set");

	if (vip && !add && !del)
		return cli_usage_error(cmd, "say vip add or vip del, not '%s'", verb);
	if (!vip && !add && !del && !drain && !set)
		return cli_usage_error(cmd, "say backend add, del, drain or set, not '%s'", verb);
	if (vip && optind >= argc)
		return cli_usage_error(cmd, "vip %s needs VIP:PORT/PROTO...", verb);
	if (!vip && argc - optind < 2)
		return cli_usage_error(cmd, "backend %s needs VIP:PORT/PROTO and a backend address",
				       verb);
	if ((weight_given && !(!vip && (add || set))) || (forward_given && !(!vip && add)))
		return cli_usage_error(cmd, "--weight goes with backend add or set, --forward "
					    "with backend add");
	if (set && !weight_given)
		return cli_usage_error(cmd, "backend set needs --weight");
	if (cli_given(cmd, given, "table-size") && !(vip && add))
		return cli_usage_error(cmd, "--table-size goes with vip add");

	cli_config(&cfg);
	/* Room for a table larger than the default's is made when the state is: ask for it. */
	if (table_size > cfg.lb_table_size)
		cfg.lb_table_size = table_size;
	m = add ? cli_open(&cfg) : cli_open_existing(true);
	if (!m && !add && errno == ENOENT) {
		cli_error("no service %s (there are none)", argv[optind]);
		return EXIT_FAIL;
	}
	if (!m)
		return EXIT_FAIL;
	/*
	 * All or none, as the lists: what a command removes, drains or sets is
	 * checked to be there first (nothing is changed to find out); what it
	 * adds goes back out if a later one fails.
	 */
	const char *service = vip ? NULL : argv[optind++];
	int i = optind;

	if (!add)
		err = check_present(m, service, argv + optind, argc - optind);
	for (; !err && i < argc; i++) {
		struct netprobe_lb_service_opts so = {.sz = sizeof(so), .table_size = table_size};

		if (vip)
			err = add ? netprobe_lb_service_add_opts(m, argv[i], &so)
				  : netprobe_lb_service_del(m, argv[i]);
		else if (add)
			err = netprobe_lb_backend_add(m, service, argv[i], &bo);
		else if (del)
			err = netprobe_lb_backend_del(m, service, argv[i]);
		else if (drain)
			err = netprobe_lb_backend_drain(m, service, argv[i]);
		else
			err = netprobe_lb_backend_set_weight(m, service, argv[i], bo.weight);
	}
	if (err && add) {
		for (int j = i - 2; j >= optind; j--) /* i - 1 failed */
			if (vip ? netprobe_lb_service_del(m, argv[j])
				: netprobe_lb_backend_del(m, service, argv[j]))
				cli_error("%s could not be taken back out", argv[j]);
		cli_error("nothing added: the command's %s go all or none",
			  vip ? "VIPs" : "backends");
	}
	for (int j = optind; !err && j < argc; j++) {
		if (vip)
			say_service(add ? "added" : "removed", argv[j]);
		else
			printf("%s: backend %s %s\n", service, argv[j],
			       add     ? "added"
			       : del   ? "removed"
			       : drain ? "draining"
				       : "weight set");
	}
	if (!err && add && !cli_ifaces_in_mode(m, NETPROBE_XDP_LB))
		fprintf(stderr, "netprobe: no interface is in lb mode yet; services apply once "
				"one is (netprobe attach IFACE --mode lb)\n");
	netprobe_manager_free(m);
	return err ? EXIT_FAIL : EXIT_OK;
}
