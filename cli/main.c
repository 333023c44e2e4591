// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe: the command. A table of subcommands, each parsing its own options. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "../daemon/daemon.h"

struct cli_env cli;

/* Each command's definition, its options and help, lives in its own file. */
static const struct cli_command *const commands[] = {
	&cli_cmd_check,	 &cli_cmd_attach, &cli_cmd_blacklist, &cli_cmd_allowlist, &cli_cmd_lb,
	&cli_cmd_detach, &cli_cmd_status, &cli_cmd_stats,     &cli_cmd_flows,	  &cli_cmd_monitor,
	&cli_cmd_events, &cli_cmd_daemon, &cli_cmd_demo,
};

const char *const cli_mode_names[] = {"monitor", "filter", "lb", NULL};

const struct cli_command *cli_find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: netprobe [-v] [--pin-path DIR] COMMAND [ARGS]\n\n"
		"eBPF network monitoring, filtering and load balancing for Linux.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i]->name, commands[i]->synopsis);
	fprintf(out,
		"\nEvery command takes --help. Options for all: -v (more detail, -vv "
		"adds libbpf's), --pin-path DIR (default %s, or $NETPROBE_PIN_PATH).\n"
		"$NETPROBE_LOCK_TIMEOUT_MS: how long a change waits for another one "
		"(default 10000).\n",
		NETPROBE_DEFAULT_PIN_PATH);
}

/*
 * netprobe(8), made from the same command table and option tables as
 * --help, so the manual never tells another story than the command.
 */
static void print_man(FILE *out)
{
	fprintf(out,
		".TH NETPROBE 8 \"\" \"netprobe %s\" \"System Administration\"\n"
		/* options and addresses must not be hyphenated or stretched */
		".nh\n.ad l\n"
		".SH NAME\nnetprobe \\- eBPF network monitoring, filtering and L4 load "
		"balancing\n"
		".SH SYNOPSIS\n.B netprobe\n[\\fB\\-v\\fR] [\\fB\\-\\-pin\\-path\\fR "
		"\\fIDIR\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n"
		".SH DESCRIPTION\nnetprobe attaches XDP and TC programs to interfaces and leaves "
		"them running, its state pinned under a bpffs directory: counters by interface, "
		"family and protocol, a flow table, events, a filter with allow and deny lists, "
		"detections and mitigation, and a Maglev load balancer. Every command below "
		"reads or changes that state.\n"
		".SH COMMON OPTIONS\n.TP\n.B \\-h, \\-\\-help\nthe command's help.\n"
		".TP\n.B \\-v, \\-\\-verbose\nmore detail; twice, libbpf's messages and the "
		"verifier's log too.\n.TP\n.B \\-P, \\-\\-pin\\-path \\fIDIR\\fR\nthe bpffs "
		"directory of the state (default %s); an absolute path.\n",
		NETPROBE_VERSION, NETPROBE_DEFAULT_PIN_PATH);
	fprintf(out, ".SH COMMANDS\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct cli_command *c = commands[i];

		fprintf(out, ".SS %s\n.B netprobe %s\n", c->name, c->name);
		cli_man_text(out, c->synopsis);
		fputs("\n.PP\n", out);
		cli_man_text(out, c->help);
		fputc('\n', out);
		cli_man_options(c, out);
	}
	fprintf(out,
		".SH ENVIRONMENT\n.TP\n.B NETPROBE_PIN_PATH\nthe pin path, as "
		"\\fB\\-\\-pin\\-path\\fR.\n.TP\n.B NETPROBE_LOCK_TIMEOUT_MS\nhow long a "
		"change waits for another process's change of the same state (default 10000).\n"
		".SH EXIT STATUS\n0 done, 1 failed, 2 the command line was wrong.\n"
		".SH PRIVILEGES\nroot, or %s.\n"
		".SH SEE ALSO\n.BR bpftool (8),\n.BR ip (8),\n.BR tc (8)\n",
		NETPROBE_CAPS);
}

void cli_print_help(const struct cli_command *cmd, FILE *out)
{
	fprintf(out, "usage: netprobe %s ", cmd->name);
	cli_print_wrapped(out, cmd->synopsis, 8, (int)strlen(cmd->name) + 16);
	fputc('\n', out);
	cli_print_wrapped(out, cmd->help, 0, 0);
	fputc('\n', out);
	cli_print_options(cmd, out);
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

/* Errors the library said, and how many of them cli_fail has let stand for its own line. */
static unsigned int errors_logged, errors_answered;

static void log_to_stderr(enum netprobe_log_level level, const char *msg, void *ctx)
{
	static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};

	(void)ctx;
	if (level == NETPROBE_LOG_ERROR) /* event workers may log too */
		__atomic_fetch_add(&errors_logged, 1, __ATOMIC_RELAXED);
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

void cli_log_setup(void)
{
	/* Errors always, progress with -v, libbpf's own words with -vv. */
	netprobe_set_log(log_to_stderr,
			 cli.verbose >= 2 ? NETPROBE_LOG_DEBUG
			 : cli.verbose	  ? NETPROBE_LOG_INFO
					  : NETPROBE_LOG_WARN,
			 NULL);
}

struct netprobe_manager *cli_open(const struct netprobe_config *cfg)
{
	struct netprobe_config defaults;
	struct netprobe_manager *m;
	uid_t owner;
	int err;

	if (!cfg) {
		cli_config(&defaults);
		cfg = &defaults;
	}
	if (netprobe_check_privileges() != 0) {
		cli_error("permission denied: netprobe needs root, or the "
			  "capabilities " NETPROBE_CAPS);
		return NULL;
	}
	/* root on the daemon's state, which a service user owns: as that user. */
	err = daemon_act_as_state_owner(cfg->pin_path, &owner);
	if (err) {
		cli_error("%s: cannot act as its owner: %s", cfg->pin_path, strerror(-err));
		return NULL;
	}
	if (owner && cli.verbose)
		fprintf(stderr, "netprobe: %s belongs to uid %u: working as that user\n",
			cfg->pin_path, (unsigned int)owner);
	m = netprobe_manager_new(cfg);
	if (!m) {
		/* The library said which setting and why (logged above). */
		if (errno != EINVAL)
			cli_error("cannot make a manager: %s", strerror(errno));
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
	/* Reading must not make state: no pinned registry means nothing is attached. */
	if (netprobe_check_privileges() == 0 && access(ifaces, F_OK) != 0) {
		int err = errno;

		if (err != ENOENT)
			cli_error("cannot reach the state under %s: %s (a directory on the way, "
				  "or the state, is another user's)",
				  cli.pin_path, strerror(err));
		else if (!quiet)
			cli_error("netprobe is not attached anywhere (no state under %s)",
				  cli.pin_path);
		errno = err;
		return NULL;
	}
	errno = EPERM;
	return cli_open(NULL);
}

int cli_fail(int err, const char *what)
{
	/* The library said what went wrong, in its own words: once is enough. */
	unsigned int logged = __atomic_load_n(&errors_logged, __ATOMIC_RELAXED);

	if (logged != errors_answered) {
		errors_answered = logged;
		return EXIT_FAIL;
	}
	if (err == -EPERM)
		cli_error("%s: permission denied: run as root, or with " NETPROBE_CAPS, what);
	else
		cli_error("%s: %s", what, netprobe_strerror(err));
	return EXIT_FAIL;
}

volatile sig_atomic_t cli_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	cli_stop = 1;
}

void cli_catch_stop_signals(void)
{
	static const int sigs[] = {SIGINT,  SIGTERM, SIGHUP,  SIGPIPE, SIGQUIT,
				   SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU, SIGXFSZ};
	struct sigaction sa = {.sa_handler = on_stop_signal};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
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

const char *cli_iso_time(unsigned long long ns, char *buf, size_t len)
{
	time_t secs = ns / 1000000000ull;
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03lluZ", (ns / 1000000ull) % 1000);
	return buf;
}

void cli_json_time(struct json_object *o, const char *name, unsigned long long ns)
{
	char iso[40], key[64];

	json_object_object_add(o, name, json_object_new_string(cli_iso_time(ns, iso, sizeof(iso))));
	snprintf(key, sizeof(key), "%s_ns", name);
	json_object_object_add(o, key, cli_json_u64(ns));
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

bool cli_set_pin_path(const char *path, const char *what)
{
	/* A relative path would name another state from another directory: never guess. */
	size_t len = path ? strlen(path) : 0;

	if (!path || path[0] != '/' || len >= sizeof(cli.pin_path) || len < 2 ||
	    path[len - 1] == '/') {
		cli_error("%s must be the absolute path of a directory below /, without a "
			  "trailing /, shorter than %zu bytes; not '%s'",
			  what, sizeof(cli.pin_path), path ? path : "");
		return false;
	}
	snprintf(cli.pin_path, sizeof(cli.pin_path), "%s", path);
	return true;
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;
	const char *env_pin = getenv("NETPROBE_PIN_PATH");
	const char *env_wait = getenv("NETPROBE_LOCK_TIMEOUT_MS");
	unsigned long long wait_ms;
	int i = 1;

	snprintf(cli.pin_path, sizeof(cli.pin_path), "%s", NETPROBE_DEFAULT_PIN_PATH);
	if (env_pin && *env_pin && !cli_set_pin_path(env_pin, "NETPROBE_PIN_PATH"))
		return EXIT_USAGE;
	cli.lock_timeout_ms = -1;
	if (env_wait && *env_wait) {
		const struct netprobe_setting_range *r = netprobe_config_range("lock_timeout_ms");

		if (!cli_parse_uint(env_wait, r->max, &wait_ms) || wait_ms < r->min) {
			cli_error("NETPROBE_LOCK_TIMEOUT_MS is %llu..%llu %s, not '%s'", r->min,
				  r->max, r->unit, env_wait);
			return EXIT_USAGE;
		}
		cli.lock_timeout_ms = (int)wait_ms;
	}

	/* Common options may also come before the command. */
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--man")) {
			print_man(stdout); /* what make installs as netprobe(8) */
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			printf("netprobe %s\n", NETPROBE_VERSION);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli.verbose++;
		} else if (!strcmp(argv[i], "-vv")) {
			cli.verbose += 2;
		} else if (!strcmp(argv[i], "-P") || !strcmp(argv[i], "--pin-path")) {
			if (!cli_set_pin_path(i + 1 < argc ? argv[++i] : NULL, "--pin-path"))
				return EXIT_USAGE;
		} else if (!strncmp(argv[i], "--pin-path=", 11)) {
			if (!cli_set_pin_path(argv[i] + 11, "--pin-path"))
				return EXIT_USAGE;
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
	cli_log_setup(); /* the library's reasons reach stderr from the first call */
	/* The subcommand sees itself as argv[0]. */
	return cmd->run(&cli, argc - i, argv + i);
}
