/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the netprobe command's subcommands share. */
#ifndef NETPROBE_CLI_H
#define NETPROBE_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>
#include <netprobe/netprobe.h>

/* Exit codes: 0 done, 1 failed, 2 the command line was wrong. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct cli_env {
	int verbose;
	bool json;
	char pin_path[NETPROBE_PIN_PATH_MAX];
	int lock_timeout_ms; /* $NETPROBE_LOCK_TIMEOUT_MS; -1: the library's default */
};

struct cli_command {
	const char *name;
	const char *synopsis; /* the argument part of the usage line */
	const char *help;     /* one paragraph, shown by --help */
	int (*run)(struct cli_env *env, int argc, char **argv);
};

extern struct cli_env cli;

/* Options every subcommand takes; subcommands append their own. */
#define CLI_COMMON_LONGOPTS                                                                        \
	{"help", no_argument, NULL, 'h'}, {"verbose", no_argument, NULL, 'v'},                     \
	{                                                                                          \
		"pin-path", required_argument, NULL, 'P'                                           \
	}
#define CLI_COMMON_SHORTOPTS "hvP:"

/*
 * Handles a common option; returns 1 when handled, 0 when not ours, or
 * exits for --help and bad usage.
 */
int cli_common_opt(const struct cli_command *cmd, int opt, const char *arg);
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints what a library error means for the user and returns EXIT_FAIL. */
int cli_fail(int err, const char *what);
void cli_print_help(const struct cli_command *cmd, FILE *out);

/* Opens the manager on the pinned state, creating it if missing (for attach). */
struct netprobe_manager *cli_open(const struct netprobe_config *cfg);
/*
 * Opens the manager on existing pinned state only. Without any, says (unless
 * quiet) "netprobe is not attached anywhere" and returns NULL, errno ENOENT.
 */
struct netprobe_manager *cli_open_existing(bool quiet);
void cli_config(struct netprobe_config *cfg);
/* How many attached interfaces run in mode. */
int cli_ifaces_in_mode(struct netprobe_manager *m, enum netprobe_xdp_program mode);

bool cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
bool cli_parse_seconds(const char *s, double *out);
const char *cli_human(double v, const char *unit, char *buf, size_t len);

void cli_json_print(struct json_object *o);
struct json_object *cli_json_u64(unsigned long long v);

/* Subcommands */
int cmd_check(struct cli_env *env, int argc, char **argv);
int cmd_attach(struct cli_env *env, int argc, char **argv);
int cmd_detach(struct cli_env *env, int argc, char **argv);
int cmd_status(struct cli_env *env, int argc, char **argv);
int cmd_stats(struct cli_env *env, int argc, char **argv);
int cmd_flows(struct cli_env *env, int argc, char **argv);
int cmd_monitor(struct cli_env *env, int argc, char **argv);
int cmd_demo(struct cli_env *env, int argc, char **argv);
int cmd_events(struct cli_env *env, int argc, char **argv);
int cmd_blacklist(struct cli_env *env, int argc, char **argv);
int cmd_allowlist(struct cli_env *env, int argc, char **argv);
int cmd_lb(struct cli_env *env, int argc, char **argv);
/* lb stats as JSON ({"vips": [...]}), also part of stats --json; NULL on error. */
struct json_object *cli_lb_json(struct netprobe_manager *m);
/* lb stats as text: each VIP and its backends. */
int cli_lb_print(struct netprobe_manager *m);

const struct cli_command *cli_find_command(const char *name);

/* flows.c: the flow table as an array, for flows and monitor. */
struct cli_flow {
	struct netprobe_flow_key key;
	struct netprobe_flow_stats st;
	unsigned long long delta_bytes, delta_packets; /* since the previous snapshot */
};

struct cli_flows {
	struct cli_flow *v;
	size_t n, cap;
};

int cli_flows_read(struct netprobe_manager *m, int slot, struct cli_flows *out);
void cli_flows_free(struct cli_flows *f);
void cli_flows_delta(struct cli_flows *cur, const struct cli_flows *prev);
void cli_flows_sort(struct cli_flows *f, bool by_packets, bool by_delta);
const char *cli_proto_name(unsigned int proto, char *buf, size_t len);
const char *cli_tcp_flags(unsigned int flags, char *buf, size_t len);
struct json_object *cli_flow_json(struct netprobe_manager *m, const struct cli_flow *f);
void cli_flow_print_header(FILE *out, bool with_rate);
void cli_flow_print(FILE *out, const struct cli_flow *f, bool with_rate, double interval_s);

/* monitor.c: the live view's loop, shared with demo. */
int cli_monitor_run(struct netprobe_manager *m, const char *only, int slot, double interval,
		    double duration, unsigned int top, bool json);

/* stats.c: one interface's counters as JSON, for stats and monitor. */
struct json_object *cli_iface_stats_json(const struct netprobe_iface *iface,
					 const struct netprobe_global_stats *st);

#endif /* NETPROBE_CLI_H */
