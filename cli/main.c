// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe: the command. A table of subcommands, each parsing its own options. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define NETPROBE_VERSION "0.1.0"

struct cli_env cli;

static const struct cli_command commands[] = {
	{"check", "[IFACE] [--json]",
	 "Checks each requirement (kernel, BTF, bpf(), privileges, bpffs, map types, TC attach, "
	 "what the filter and lb modes call, and native XDP on IFACE) and says why one is "
	 "missing. Exit 0 when all required ones are met. Attaches nothing.",
	 cmd_check},
	{"attach",
	 "IFACE... [--mode monitor|filter|lb] [--xdp-mode auto|native|generic] "
	 "[--tc-mode auto|tcx|clsact] [--flow-table N] [--lb-conn-table N] "
	 "[--detailed-events [--events-rate N]] [--detect NAME=off|on|THRESHOLD[/WINDOW_MS]]... "
	 "[--scan-hosts N] [--mitigate|--mitigate-unproven [--block-ttl S]] [--ipv6-prefix LEN] "
	 "[--no-alerts] "
	 "[--decap-from CIDR... [--decap-to ADDR...]]",
	 "Attaches the XDP program and the TC ingress/egress programs to each IFACE and leaves "
	 "them running after the command exits (state pinned under --pin-path). Nothing is left "
	 "half-attached when it fails. On an interface already attached, applies the options "
	 "live: the programs are swapped atomically (e.g. --mode monitor to --mode filter), "
	 "counters, flows and lists carry on. --detailed-events emits a flow-start event for "
	 "each new flow, at most --events-rate a second per CPU (default 10000). Filter mode: "
	 "the allow and deny lists (netprobe blacklist, allowlist) and detections, each set or "
	 "switched off with --detect: syn_flood, udp_flood, icmp_flood (packets a second from "
	 "one source; defaults 2000, 20000, 1000 over 1000 ms), tcp_flood (resets, and segments "
	 "of no connection that this host reset, 2000), other_flood (other IP protocols, 10000), "
	 "syn_flood_dst, udp_flood_dst, "
	 "icmp_flood_dst (to one destination; 20000, 200000, 5000), port_scan (distinct ports "
	 "in the window, 50 in 5000 ms, or --scan-hosts distinct hosts, 100), rate_anomaly "
	 "(percent of the learned baseline; off by default, 1000 when on). --mitigate blocks "
	 "the source of a per-source detection for --block-ttl seconds (default 300) if it "
	 "completed a handshake with this host in the last 10 s (it is not spoofed); "
	 "--mitigate-unproven blocks on evidence anyone could spoof too (a network where "
	 "nobody can); neither ever blocks this host's addresses, gateways, resolvers, peers "
	 "it opened a flow to, special addresses or the allow list. IPv6 sources are counted "
	 "and blocked by their --ipv6-prefix (default 64; 128: each address alone), unless the "
	 "prefix holds an address mitigation never blocks. Lb mode: "
	 "packets for the VIPs of netprobe lb go to their backends; the interface must have "
	 "forwarding on (sysctl net.ipv4.conf.IFACE.forwarding, net.ipv6.conf.IFACE.forwarding). "
	 "--flow-table and --lb-conn-table (flows the load balancer remembers, default 131072) "
	 "size the pinned state when it is made; later attaches keep its sizes. "
	 "--decap-from CIDR (any mode, up to 8 times) unwraps IP-in-IP and IPv6-in-IPv6 packets "
	 "whose outer source is in CIDR (the load balancers), and with --decap-to (up to 8) only "
	 "those to these addresses of this host: for the backends of a netprobe load balancer. "
	 "In filter mode the outer packet is filtered first, the inner one again.",
	 cmd_attach},
	{"blacklist", "add|del CIDR... [--file FILE] [--ttl S] | del --all | list [--json]",
	 "The deny list of the filter mode: IPv4 and IPv6 addresses and prefixes, matched "
	 "against the source by longest prefix, dropped in XDP. --ttl S makes an entry expire. "
	 "--file reads a blocklist (one CIDR a line, '#' or ';' starts a comment; - is stdin). "
	 "list shows each entry's hits, time left and origin (manual, or the detection that "
	 "blocked it). del --all empties the list, mitigation blocks included.",
	 cmd_blacklist},
	{"allowlist", "add|del CIDR... [--file FILE] [--ttl S] | del --all | list [--json]",
	 "The allow list of the filter mode: sources on it always pass, even inside a denied "
	 "prefix, and never count towards a detection.",
	 cmd_allowlist},
	{"lb",
	 "vip add VIP:PORT/PROTO... [--table-size P] | vip del VIP:PORT/PROTO... | "
	 "backend add|del|drain VIP:PORT/PROTO BACKEND... "
	 "[--weight W] [--forward ipip|l2] | backend set VIP:PORT/PROTO BACKEND --weight W | "
	 "stats [--json]",
	 "The load balancer of the lb mode. A VIP (192.0.2.1:80/tcp, [2001:db8::1]:53/udp) "
	 "spreads new flows over its backends by Maglev consistent hashing, in proportion to "
	 "their weights (1..1000, default 1); a flow stays on its backend while the backend set "
	 "changes. Packets reach a backend encapsulated (--forward ipip, the default: "
	 "IP-in-IP or IPv6-in-IPv6, unwrapped by the backend, e.g. with netprobe attach IFACE "
	 "--decap) or unchanged to its MAC address (--forward l2: a backend on the same "
	 "segment); backends answer clients directly and must hold the VIP on their loopback. "
	 "--table-size sets a VIP's Maglev table (a prime; default 65537, more needs the library's "
	 "lb_table_size when the state is first made). "
	 "drain stops new flows to a backend (established ones stay); set changes its weight "
	 "(and ends a drain); del removes it. stats shows each VIP's and backend's packets, "
	 "bytes, new connections and share of the Maglev table.",
	 cmd_lb},
	{"detach", "IFACE...|--all",
	 "Removes netprobe from each IFACE (or from every interface), and removes the pinned "
	 "state when nothing uses it any more (nothing attached, no list entry, no VIP).",
	 cmd_detach},
	{"status", "[--json]", "Shows what is attached where, in which mode.", cmd_status},
	{"stats", "[IFACE] [--json]",
	 "Global and per-interface counters: RX (XDP), TX (TC egress), XDP verdicts, per "
	 "family and L4 protocol, malformed packets by reason. With IFACE, every counter of it.",
	 cmd_stats},
	{"flows", "[IFACE] [--top N] [--sort bytes|packets] [--json]",
	 "The flow table: 5-tuple, direction, packets, bytes, TCP flags, first and last seen.",
	 cmd_flows},
	{"monitor", "[IFACE] [--mode M] [--interval S] [--duration S] [--top N] [--json]",
	 "Live view, like top: rates per interface and the busiest flows, every --interval "
	 "seconds. With IFACE not yet attached, attaches it (in --mode) for the duration and "
	 "detaches it at the end. Stops on Ctrl-C, SIGTERM or after --duration.",
	 cmd_monitor},
	{"events", "[--json] [--duration S] [--test N]",
	 "Streams events as they come: flow starts (of interfaces attached with "
	 "--detailed-events), flow ends of idle flows, and with --test N, N test events through "
	 "the kernel's ring buffer to check the path. One JSON object a line with --json. Stops "
	 "on Ctrl-C, SIGTERM or after --duration, and says what was received, delivered, lost.",
	 cmd_events},
	{"demo", "[--duration S]",
	 "Builds a lab of network namespaces and veth pairs, attaches netprobe in filter mode "
	 "with mitigation on a server and in lb mode on a load balancer in front of two "
	 "backends, drives real traffic through them (ping, UDP, TCP, IPv6, a port scan, a SYN "
	 "burst, HTTP requests to the VIP), shows the live view, the alerts, the blocked "
	 "sources and the VIP's backends, and removes everything it made.",
	 cmd_demo},
};

const struct cli_command *cli_find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: netprobe [-v] [--pin-path DIR] COMMAND [ARGS]\n\n"
		"eBPF network monitoring, filtering and load balancing for Linux.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].synopsis);
	fprintf(out,
		"\nEvery command takes --help. Options for all: -v (more detail, -vv "
		"adds libbpf's), --pin-path DIR (default %s, or $NETPROBE_PIN_PATH).\n"
		"$NETPROBE_LOCK_TIMEOUT_MS: how long a change waits for another one "
		"(default 10000).\n",
		NETPROBE_DEFAULT_PIN_PATH);
}

void cli_print_help(const struct cli_command *cmd, FILE *out)
{
	fprintf(out, "usage: netprobe %s %s\n\n%s\n\n", cmd->name, cmd->synopsis, cmd->help);
	fprintf(out,
		"common options:\n  -h, --help          this text\n"
		"  -v, --verbose       more detail (twice: libbpf's messages too)\n"
		"  -P, --pin-path DIR  bpffs directory of the state (default %s)\n",
		NETPROBE_DEFAULT_PIN_PATH);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("netprobe: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "netprobe %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: netprobe %s %s\n", cmd->name, cmd->synopsis);
	return EXIT_USAGE;
}

int cli_common_opt(const struct cli_command *cmd, int opt, const char *arg)
{
	switch (opt) {
	case 'h':
		cli_print_help(cmd, stdout);
		exit(EXIT_OK);
	case 'v':
		cli.verbose++;
		return 1;
	case 'P':
		if (strlen(arg) >= sizeof(cli.pin_path) || arg[0] != '/')
			exit(cli_usage_error(cmd, "--pin-path needs an absolute path"));
		snprintf(cli.pin_path, sizeof(cli.pin_path), "%s", arg);
		return 1;
	case '?':
		exit(cli_usage_error(cmd, "unknown or incomplete option"));
	}
	return 0;
}

static void log_to_stderr(enum netprobe_log_level level, const char *msg, void *ctx)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};

	(void)ctx;
	fprintf(stderr, "netprobe: %s%s\n", prefix[level], msg);
}

struct mode_count {
	enum netprobe_xdp_program mode;
	int n;
};

static int count_in_mode(const struct netprobe_iface *it, void *ctx)
{
	struct mode_count *c = ctx;

	c->n += it->xdp_mode == c->mode;
	return 0;
}

int cli_ifaces_in_mode(struct netprobe_manager *m, enum netprobe_xdp_program mode)
{
	struct mode_count c = {mode, 0};

	netprobe_manager_foreach_iface(m, count_in_mode, &c);
	return c.n;
}

void cli_config(struct netprobe_config *cfg)
{
	netprobe_config_default(cfg);
	snprintf(cfg->pin_path, sizeof(cfg->pin_path), "%s", cli.pin_path);
	if (cli.lock_timeout_ms >= 0)
		cfg->lock_timeout_ms = cli.lock_timeout_ms;
}

struct netprobe_manager *cli_open(const struct netprobe_config *cfg)
{
	struct netprobe_config defaults;
	struct netprobe_manager *m;
	int err;

	/* Errors always, progress with -v, libbpf's own words with -vv. */
	netprobe_set_log(log_to_stderr,
			 cli.verbose >= 2 ? NETPROBE_LOG_DEBUG
			 : cli.verbose	  ? NETPROBE_LOG_INFO
					  : NETPROBE_LOG_WARN,
			 NULL);
	if (!cfg) {
		cli_config(&defaults);
		cfg = &defaults;
	}
	if (geteuid() != 0) {
		cli_error("permission denied: netprobe needs root (CAP_BPF and CAP_NET_ADMIN)");
		return NULL;
	}
	m = netprobe_manager_new(cfg);
	if (!m) {
		cli_error("invalid configuration: %s", strerror(errno));
		return NULL;
	}
	err = netprobe_manager_load(m);
	if (err) {
		cli_fail(err, cfg->pin_path);
		netprobe_manager_free(m);
		return NULL;
	}
	return m;
}

struct netprobe_manager *cli_open_existing(bool quiet)
{
	char ifaces[NETPROBE_PIN_PATH_MAX + 16];

	snprintf(ifaces, sizeof(ifaces), "%s/np_ifaces", cli.pin_path);
	/* Reading must not create state: no pinned registry means nothing is attached. */
	if (geteuid() == 0 && access(ifaces, F_OK) != 0) {
		if (!quiet)
			cli_error("netprobe is not attached anywhere (no state under %s)",
				  cli.pin_path);
		errno = ENOENT;
		return NULL;
	}
	errno = EPERM;
	return cli_open(NULL);
}

int cli_fail(int err, const char *what)
{
	if (err == -EPERM)
		cli_error("%s: permission denied: run as root", what);
	else
		cli_error("%s: %s", what, netprobe_strerror(err));
	return EXIT_FAIL;
}

bool cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end && *out <= max;
}

bool cli_parse_seconds(const char *s, double *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !errno && !*end && isfinite(*out) && *out > 0 && *out <= 86400 * 365;
}

const char *cli_human(double v, const char *unit, char *buf, size_t len)
{
	static const char *const prefix[] = {"", "K", "M", "G", "T"};
	int i = 0;

	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(buf, len, i ? "%.1f%s%s" : "%.0f%s%s", v, prefix[i], unit);
	return buf;
}

void cli_json_print(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

struct json_object *cli_json_u64(unsigned long long v)
{
	/* json-c's int64 is signed; counters never reach 2^63. */
	return json_object_new_int64((int64_t)v);
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;
	const char *env_pin = getenv("NETPROBE_PIN_PATH");
	const char *env_wait = getenv("NETPROBE_LOCK_TIMEOUT_MS");
	unsigned long long wait_ms;
	int i = 1;

	snprintf(cli.pin_path, sizeof(cli.pin_path), "%s",
		 env_pin && env_pin[0] == '/' ? env_pin : NETPROBE_DEFAULT_PIN_PATH);
	cli.lock_timeout_ms = -1;
	if (env_wait && *env_wait) {
		if (!cli_parse_uint(env_wait, 3600000, &wait_ms)) {
			cli_error("NETPROBE_LOCK_TIMEOUT_MS is milliseconds, 0..3600000");
			return EXIT_USAGE;
		}
		cli.lock_timeout_ms = (int)wait_ms;
	}

	/* Common options may also come before the command. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			printf("netprobe %s\n", NETPROBE_VERSION);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli.verbose++;
		} else if (!strcmp(argv[i], "-vv")) {
			cli.verbose += 2;
		} else if ((!strcmp(argv[i], "-P") || !strcmp(argv[i], "--pin-path")) &&
			   i + 1 < argc && argv[i + 1][0] == '/') {
			snprintf(cli.pin_path, sizeof(cli.pin_path), "%s", argv[++i]);
		} else {
			cli_error("unknown option %s", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = cli_find_command(argv[i]);
	if (!cmd) {
		cli_error("unknown command '%s'", argv[i]);
		usage(stderr);
		return EXIT_USAGE;
	}
	/* The subcommand sees itself as argv[0]. */
	return cmd->run(&cli, argc - i, argv + i);
}
