// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe flows: the flow table, sorted; and the flow helpers monitor shares. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "cli.h"

struct read_ctx {
	struct cli_flows *out;
	int slot; /* -1: every interface */
};

static int add_flow(const struct netprobe_flow_key *key, const struct netprobe_flow_stats *st,
		    void *ctx)
{
	struct read_ctx *r = ctx;
	struct cli_flows *f = r->out;

	/* By slot: an ifindex alone may belong to another namespace's interface. */
	if (r->slot >= 0 && key->slot != r->slot)
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		struct cli_flow *v = realloc(f->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	f->v[f->n++] = (struct cli_flow){.key = *key, .st = *st};
	return 0;
}

int cli_flows_read(struct netprobe_manager *m, int slot, struct cli_flows *out)
{
	struct read_ctx r = {.out = out, .slot = slot};

	out->n = 0;
	cli_ifnames_read(m, &out->names);
	return netprobe_manager_foreach_flow(m, add_flow, &r);
}

void cli_flows_free(struct cli_flows *f)
{
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct cli_flow *)a)->key, &((const struct cli_flow *)b)->key,
		      sizeof(struct netprobe_flow_key));
}

/* Sorts prev by key and finds each current flow in it; new flows count in full. */
void cli_flows_delta(struct cli_flows *cur, const struct cli_flows *prev)
{
	qsort(prev->v, prev->n, sizeof(*prev->v), key_cmp);
	for (size_t i = 0; i < cur->n; i++) {
		struct cli_flow *c = &cur->v[i];
		const struct cli_flow *p =
			prev->n ? bsearch(c, prev->v, prev->n, sizeof(*c), key_cmp) : NULL;

		c->delta_bytes = c->st.bytes - (p ? p->st.bytes : 0);
		c->delta_packets = c->st.packets - (p ? p->st.packets : 0);
	}
}

static bool sort_packets, sort_delta;

static int flow_cmp(const void *a, const void *b)
{
	const struct cli_flow *x = a, *y = b;
	unsigned long long vx, vy;

	if (sort_delta) {
		vx = sort_packets ? x->delta_packets : x->delta_bytes;
		vy = sort_packets ? y->delta_packets : y->delta_bytes;
	} else {
		vx = sort_packets ? x->st.packets : x->st.bytes;
		vy = sort_packets ? y->st.packets : y->st.bytes;
	}
	if (vx != vy)
		return vx < vy ? 1 : -1;
	return key_cmp(a, b); /* a stable order for equal flows */
}

void cli_flows_sort(struct cli_flows *f, bool by_packets, bool by_delta)
{
	sort_packets = by_packets;
	sort_delta = by_delta;
	qsort(f->v, f->n, sizeof(*f->v), flow_cmp);
}

const char *cli_proto_name(unsigned int proto, char *buf, size_t len)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		snprintf(buf, len, "%u", proto);
		return buf;
	}
}

const char *cli_tcp_flags(unsigned int flags, char *buf, size_t len)
{
	static const char letters[] = "FSRPAUEC"; /* bit 0 (FIN) .. bit 7 (CWR) */
	size_t n = 0;

	for (int i = 0; i < 8 && n + 1 < len; i++)
		if (flags & (1u << i))
			buf[n++] = letters[i];
	buf[n] = '\0';
	return n ? buf : "-";
}

static void endpoint(const struct netprobe_flow_key *k, bool src, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned int port = ntohs(src ? k->src_port : k->dst_port);

	netprobe_flow_addr_str(k, src, addr, sizeof(addr));
	if (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP)
		snprintf(buf, len, k->family == NETPROBE_FAMILY_IPV6 ? "[%s]:%u" : "%s:%u", addr,
			 port);
	else if (!src && (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6))
		/* An ICMP flow is keyed by its type and code (the destination port's bytes). */
		snprintf(buf, len, "%s type %u/%u", addr, ntohs(k->dst_port) >> 8,
			 ntohs(k->dst_port) & 0xff);
	else
		snprintf(buf, len, "%s", addr);
}

struct json_object *cli_flow_json(struct netprobe_manager *m, const struct cli_ifnames *names,
				  const struct cli_flow *f)
{
	const struct netprobe_flow_key *k = &f->key;
	struct json_object *o = json_object_new_object();
	char addr[INET6_ADDRSTRLEN], buf[40];

	json_object_object_add(
		o, "src",
		json_object_new_string(netprobe_flow_addr_str(k, true, addr, sizeof(addr))));
	json_object_object_add(
		o, "dst",
		json_object_new_string(netprobe_flow_addr_str(k, false, addr, sizeof(addr))));
	if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
		json_object_object_add(o, "sport", json_object_new_int(0));
		json_object_object_add(o, "dport", json_object_new_int(0));
		json_object_object_add(o, "icmp_type",
				       json_object_new_int(ntohs(k->dst_port) >> 8));
		json_object_object_add(o, "icmp_code",
				       json_object_new_int(ntohs(k->dst_port) & 0xff));
	} else {
		json_object_object_add(o, "sport", json_object_new_int(ntohs(k->src_port)));
		json_object_object_add(o, "dport", json_object_new_int(ntohs(k->dst_port)));
	}
	json_object_object_add(o, "proto",
			       json_object_new_string(cli_proto_name(k->proto, buf, sizeof(buf))));
	json_object_object_add(
		o, "family",
		json_object_new_string(k->family == NETPROBE_FAMILY_IPV4 ? "ipv4" : "ipv6"));
	json_object_object_add(o, "direction",
			       json_object_new_string(k->direction == NETPROBE_DIR_INGRESS
							      ? "ingress"
							      : "egress"));
	cli_ifname_json(o, names, k->slot);
	json_object_object_add(o, "ifindex", json_object_new_int(k->ifindex));
	json_object_object_add(o, "packets", cli_json_u64(f->st.packets));
	json_object_object_add(o, "bytes", cli_json_u64(f->st.bytes));
	json_object_object_add(
		o, "tcp_flags",
		json_object_new_string(cli_tcp_flags(f->st.tcp_flags, buf, sizeof(buf))));
	cli_json_time(o, "first_seen", netprobe_manager_flow_time_ns(m, f->st.first_seen));
	cli_json_time(o, "last_seen", netprobe_manager_flow_time_ns(m, f->st.last_seen));
	return o;
}

void cli_flow_print_header(FILE *out, const struct cli_ifnames *names, bool with_rate)
{
	fprintf(out, "%-*s %-3s %-6s %-22s %-22s %10s %12s", names ? names->width : 9, "INTERFACE",
		"DIR", "PROTO", "SOURCE", "DESTINATION", "PACKETS", "BYTES");
	if (with_rate)
		fprintf(out, " %9s", "RATE");
	fprintf(out, " %s\n", "FLAGS");
}

void cli_flow_print(FILE *out, const struct cli_ifnames *names, const struct cli_flow *f,
		    bool with_rate, double interval_s)
{
	char src[64], dst[64], proto[16], flags[16], rate[24], ifname[96];

	endpoint(&f->key, true, src, sizeof(src));
	endpoint(&f->key, false, dst, sizeof(dst));
	/* In a live view (with a rate) the counts are the interval's, as its title says. */
	fprintf(out, "%-*s %-3s %-6s %-22s %-22s %10llu %12llu", names ? names->width : 9,
		cli_ifname(names, f->key.slot, ifname, sizeof(ifname)),
		f->key.direction == NETPROBE_DIR_INGRESS ? "in" : "out",
		cli_proto_name(f->key.proto, proto, sizeof(proto)), src, dst,
		with_rate ? f->delta_packets : f->st.packets,
		with_rate ? f->delta_bytes : f->st.bytes);
	if (with_rate)
		fprintf(out, " %9s",
			cli_human(f->delta_bytes * 8 / interval_s, "b/s", rate, sizeof(rate)));
	fprintf(out, " %s\n", cli_tcp_flags(f->st.tcp_flags, flags, sizeof(flags)));
}

struct flows_args {
	bool json;
	unsigned int top;
	unsigned int sort; /* sort_names */
};

static const char *const sort_names[] = {"bytes", "packets", NULL};

static const struct cli_opt flows_opts[] = {
	CLI_OPT_JSON(struct flows_args),
	{.name = "top",
	 .type = CLI_OPT_UINT,
	 .offset = offsetof(struct flows_args, top),
	 .arg = "N",
	 .help = "only the N busiest flows (default: all)",
	 .min = 1,
	 .max = 1u << 30,
	 .unit = "flows"},
	{.name = "sort",
	 .type = CLI_OPT_CHOICE,
	 .offset = offsetof(struct flows_args, sort),
	 .arg = "KEY",
	 .help = "busiest by bytes or by packets",
	 .choices = sort_names},
	CLI_OPT_END,
};

const struct cli_command cli_cmd_flows = {
	.name = "flows",
	.synopsis = "[IFACE] [OPTIONS]",
	.help = "The flow table: 5-tuple, direction, packets, bytes, TCP flags, first and last "
		"seen.",
	.run = cmd_flows,
	.opts = flows_opts,
	.args_size = sizeof(struct flows_args),
};

int cmd_flows(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_flows;
	struct flows_args args = {};
	struct cli_flows flows = {};
	struct netprobe_manager *m;
	int slot = -1, err;

	if (cli_parse(cmd, argc, argv, &args, NULL))
		return EXIT_USAGE;
	env->json = args.json;
	unsigned int top = args.top;
	bool by_packets = args.sort == 1;

	if (argc - optind > 1)
		return cli_usage_error(cmd, "at most one interface");
	m = cli_open_existing(false);
	if (!m)
		return EXIT_FAIL;
	if (optind < argc) {
		/* As stats: NAME (the caller's namespace's first) or NAME@NETNS. */
		struct cli_ifnames names;

		cli_ifnames_read(m, &names);
		slot = cli_ifnames_find(&names, argv[optind]);
		if (slot < 0) {
			cli_error(slot == -EEXIST
					  ? "%s is attached in several namespaces: say which "
					    "(NAME@NETNS)"
					  : "netprobe is not attached to %s",
				  argv[optind]);
			netprobe_manager_free(m);
			return EXIT_FAIL;
		}
	}
	err = cli_flows_read(m, slot, &flows);
	if (err) {
		netprobe_manager_free(m);
		cli_flows_free(&flows);
		return cli_fail(err, "reading flows");
	}
	cli_flows_sort(&flows, by_packets, false);
	size_t shown = top && top < flows.n ? top : flows.n;

	if (env->json) {
		struct json_object *root = json_object_new_object(),
				   *list = json_object_new_array();

		for (size_t i = 0; i < shown; i++)
			json_object_array_add(list, cli_flow_json(m, &flows.names, &flows.v[i]));
		json_object_object_add(root, "flows", list);
		json_object_object_add(root, "total_flows", cli_json_u64(flows.n));
		cli_json_print(root);
		json_object_put(root);
	} else {
		cli_flow_print_header(stdout, &flows.names, false);
		for (size_t i = 0; i < shown; i++)
			cli_flow_print(stdout, &flows.names, &flows.v[i], false, 0);
		printf("%zu of %zu flows\n", shown, flows.n);
	}
	cli_flows_free(&flows);
	netprobe_manager_free(m);
	return EXIT_OK;
}
