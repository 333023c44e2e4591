/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the netprobe command's subcommands share. */
#ifndef NETPROBE_CLI_H
#define NETPROBE_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stddef.h>
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

/*
 * A subcommand's options, one table (xdp-tools' params are the model):
 * parsing, range checks and --help are made from it. Each option writes
 * its value into the command's own args struct, at offset.
 */
enum cli_opt_type {
	CLI_OPT_SET,	 /* no value: the bool at offset becomes true */
	CLI_OPT_CLEAR,	 /* no value: the bool at offset becomes false */
	CLI_OPT_UINT,	 /* an unsigned int, in the library setting's range or min..max */
	CLI_OPT_SECONDS, /* a double, seconds in min..max */
	CLI_OPT_CHOICE,	 /* one of choices: its index, into an unsigned int (or enum) */
	CLI_OPT_TEXT,	 /* the value itself, a const char * */
	CLI_OPT_FUNC,	 /* parse() takes it; false: the value is not what expects says */
};

struct cli_opt {
	const char *name; /* --name */
	enum cli_opt_type type;
	size_t offset;	  /* of the value in the command's args */
	const char *arg;  /* the value in --help: N, S, FILE */
	const char *help; /* what it does; ranges, choices and defaults are added */
	/* CLI_OPT_UINT: the library setting whose range it takes (netprobe_config_range) */
	const char *setting;
	double min, max;	    /* CLI_OPT_UINT without a setting, CLI_OPT_SECONDS */
	const char *unit;	    /* for messages: "seconds", "events" (a setting has its own) */
	const char *const *choices; /* CLI_OPT_CHOICE, NULL-terminated */
	/* CLI_OPT_FUNC; nth: how many times the option came before in this parse */
	bool (*parse)(void *args, const char *value, unsigned int nth);
	const char *expects; /* CLI_OPT_FUNC: what the value is, for the usage error */
	/* Help the library knows (names, defaults), written into buf, after help. */
	void (*more_help)(char *buf, size_t len);
	bool repeat; /* may be given more than once */
};

#define CLI_MAX_OPTS 60
#define CLI_OPT_END                                                                                \
	{                                                                                          \
	}
/* Options several commands have. */
#define CLI_OPT_JSON(args_type)                                                                    \
	{                                                                                          \
		.name = "json", .type = CLI_OPT_SET, .offset = offsetof(args_type, json),          \
		.help = "one JSON object (a line) instead of text"                                 \
	}
#define CLI_OPT_DURATION(args_type, what)                                                          \
	{                                                                                          \
		.name = "duration", .type = CLI_OPT_SECONDS,                                       \
		.offset = offsetof(args_type, duration), .arg = "S", .help = what, .min = 0.001,   \
		.max = 86400 * 365                                                                 \
	}
/* The --mode names, in enum netprobe_xdp_program's order. */
extern const char *const cli_mode_names[];

struct cli_command {
	const char *name;
	const char *synopsis; /* the argument part of the usage line */
	const char *help;     /* one paragraph, shown by --help before the options */
	int (*run)(struct cli_env *env, int argc, char **argv);
	const struct cli_opt *opts; /* NULL-named entry last; NULL: no options of its own */
	size_t args_size;	    /* the args struct's size: every command with options has one */
	void (*init_args)(void *args);
};

extern struct cli_env cli;

/*
 * Parses argv against cmd's options and the common ones (-h/--help,
 * -v/--verbose, -P/--pin-path), each value into args; operands stay in
 * argv[optind..] (options may follow them). *given (may be NULL) gets bit
 * i for cmd->opts[i] given. Parsing the same argv again into another args
 * applies the same options to it. Returns 0, or EXIT_USAGE once the usage
 * error is printed; --help prints the help and exits.
 */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, void *args,
	      unsigned long long *given);
/* Whether the option called name (without --) was in given. */
bool cli_given(const struct cli_command *cmd, unsigned long long given, const char *name);
/* The options part of --help, from the table. */
void cli_print_options(const struct cli_command *cmd, FILE *out);
/* The same for netprobe(8): roff, each option a tagged paragraph; text escaped for roff. */
void cli_man_options(const struct cli_command *cmd, FILE *out);
void cli_man_text(FILE *out, const char *text);
/* text wrapped at 79 columns, starting at column col, the lines after at indent. */
void cli_print_wrapped(FILE *out, const char *text, int indent, int col);

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints what a library error means for the user and returns EXIT_FAIL. */
int cli_fail(int err, const char *what);
void cli_print_help(const struct cli_command *cmd, FILE *out);

/* Sends the library's messages to stderr, as verbose as -v says. */
void cli_log_setup(void);
/* Opens the manager on the pinned state, creating it if missing (for attach). */
struct netprobe_manager *cli_open(const struct netprobe_config *cfg);
/*
 * Opens the manager on existing pinned state only. Without any, says (unless
 * quiet) "netprobe is not attached anywhere" and returns NULL, errno ENOENT.
 */
struct netprobe_manager *cli_open_existing(bool quiet);
void cli_config(struct netprobe_config *cfg);
/*
 * Sets the pin path; a relative or too long one is refused, named by what
 * (the option, the variable), and false returned.
 */
bool cli_set_pin_path(const char *path, const char *what);
/* How many attached interfaces run in mode. */
int cli_ifaces_in_mode(struct netprobe_manager *m, enum netprobe_xdp_program mode);

/*
 * Every signal that would end the process sets cli_stop instead: Ctrl-C,
 * SIGTERM, a closed terminal (SIGHUP), a reader gone (SIGPIPE: `| head`),
 * the other terminating ones; only SIGKILL (and a crash) end it short of
 * its cleanup (detach what it attached, say what it counted).
 */
extern volatile sig_atomic_t cli_stop;
void cli_catch_stop_signals(void);

bool cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out);
bool cli_parse_seconds(const char *s, double *out);
const char *cli_human(double v, const char *unit, char *buf, size_t len);

/*
 * Times, one convention everywhere: for people UTC ISO 8601 with
 * milliseconds and Z (2026-12-06T07:55:01.123Z); for programs, in JSON,
 * the same instant as nanoseconds since the epoch in NAME_ns beside NAME.
 */
const char *cli_iso_time(unsigned long long ns, char *buf, size_t len);
void cli_json_time(struct json_object *o, const char *name, unsigned long long ns);

void cli_json_print(struct json_object *o);
struct json_object *cli_json_u64(unsigned long long v);

/* Subcommands: each one's definition (options, help) and what runs it */
extern const struct cli_command cli_cmd_check, cli_cmd_attach, cli_cmd_blacklist, cli_cmd_allowlist,
	cli_cmd_lb, cli_cmd_detach, cli_cmd_status, cli_cmd_stats, cli_cmd_flows, cli_cmd_monitor,
	cli_cmd_events, cli_cmd_daemon, cli_cmd_demo;
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
int cmd_daemon(struct cli_env *env, int argc, char **argv);
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

/* ifnames.c: interfaces by slot, to name flows and events (ifindexes repeat across namespaces) */
struct cli_ifnames {
	struct {
		bool known;
		char name[NETPROBE_IFNAMSIZ];
		/* "": the caller's; else its name under /run/netns, or net:[INODE] */
		char netns[64];
	} slot[NETPROBE_MAX_IFACES];
	int width; /* of the widest name as cli_ifname shows it: the text views' column */
};

int cli_ifnames_read(struct netprobe_manager *m, struct cli_ifnames *n);
/* "eth0", "veth1@ns2" for another namespace's, "slotN" for one detached since. */
const char *cli_ifname(const struct cli_ifnames *n, unsigned int slot, char *buf, size_t len);
/*
 * The slot of the interface spec names: "NAME" (the caller's namespace's,
 * else the one of that name in another namespace) or "NAME@NETNS" (as
 * cli_ifname shows it). -ENOENT none, -EEXIST several (say NAME@NETNS).
 */
int cli_ifnames_find(const struct cli_ifnames *n, const char *spec);
/* Adds "interface" (and "netns" when not the caller's) to o. */
void cli_ifname_json(struct json_object *o, const struct cli_ifnames *n, unsigned int slot);

struct cli_flows {
	struct cli_flow *v;
	size_t n, cap;
	struct cli_ifnames names; /* the interfaces when the flows were read */
};

int cli_flows_read(struct netprobe_manager *m, int slot, struct cli_flows *out);
void cli_flows_free(struct cli_flows *f);
void cli_flows_delta(struct cli_flows *cur, const struct cli_flows *prev);
void cli_flows_sort(struct cli_flows *f, bool by_packets, bool by_delta);
const char *cli_proto_name(unsigned int proto, char *buf, size_t len);
const char *cli_tcp_flags(unsigned int flags, char *buf, size_t len);
struct json_object *cli_flow_json(struct netprobe_manager *m, const struct cli_ifnames *names,
				  const struct cli_flow *f);
void cli_flow_print_header(FILE *out, const struct cli_ifnames *names, bool with_rate);
void cli_flow_print(FILE *out, const struct cli_ifnames *names, const struct cli_flow *f,
		    bool with_rate, double interval_s);

/* monitor.c: the live view's loop, shared with demo. */
int cli_monitor_run(struct netprobe_manager *m, const char *only, int slot, double interval,
		    double duration, unsigned int top, bool json);

/* events.c: one event as events prints it, a line of text or a JSON object. */
struct cli_event_view {
	struct netprobe_manager *m;
	bool json;
	struct cli_ifnames names; /* events reads them again each second */
};
void cli_event_print(const struct cli_event_view *v, const struct netprobe_event_hdr *h);

/* stats.c: one interface's counters as JSON, for stats and monitor. */
struct json_object *cli_iface_stats_json(const struct netprobe_iface *iface,
					 const struct netprobe_global_stats *st);

#endif /* NETPROBE_CLI_H */
