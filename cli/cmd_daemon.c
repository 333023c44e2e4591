// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe daemon: the command line of the long-running agent (daemon/). */
#include <stddef.h>
#include <string.h>
#include "cli.h"
#include "../daemon/daemon.h"

struct daemon_cli_args {
	const char *config;
	const char *metrics;
	const char *pid_file;
	bool check, reload, detach_on_exit, reload_on_change;
	unsigned int log_level;
};

static const char *const log_level_names[] = {"error", "warning", "info", "debug", NULL};

static void daemon_defaults(void *p)
{
	struct daemon_cli_args *a = p;

	a->config = DAEMON_CONFIG_PATH;
	a->log_level = NETPROBE_LOG_INFO;
}

static const struct cli_opt daemon_opts[] = {
	{.name = "config",
	 .type = CLI_OPT_TEXT,
	 .offset = offsetof(struct daemon_cli_args, config),
	 .arg = "FILE",
	 .help = "the YAML config (docs/DAEMON.md; deploy/netprobe.yaml is a commented example)"},
	{.name = "metrics",
	 .type = CLI_OPT_TEXT,
	 .offset = offsetof(struct daemon_cli_args, metrics),
	 .arg = "ADDR:PORT",
	 .help = "serve Prometheus metrics there (127.0.0.1:9479, [::1]:9479) instead of the "
		 "config's metrics.listen (default 127.0.0.1:9479)"},
	{.name = "check-config",
	 .type = CLI_OPT_SET,
	 .offset = offsetof(struct daemon_cli_args, check),
	 .help = "check the config whole, list files included, and say what is wrong with "
		 "FILE:LINE:COLUMN; touches nothing"},
	{.name = "reload",
	 .type = CLI_OPT_SET,
	 .offset = offsetof(struct daemon_cli_args, reload),
	 .help = "check the config, then have the running daemon (its pid file) reload it, and "
		 "say how that went"},
	{.name = "pid-file",
	 .type = CLI_OPT_TEXT,
	 .offset = offsetof(struct daemon_cli_args, pid_file),
	 .arg = "FILE",
	 .help = "with --reload: the running daemon's pid file (default: the config's pid_file)"},
	{.name = "detach-on-exit",
	 .type = CLI_OPT_SET,
	 .offset = offsetof(struct daemon_cli_args, detach_on_exit),
	 .help = "on SIGTERM or SIGINT, detach the config's interfaces and remove its list "
		 "entries and services (default: they stay, and a restart goes on from them)"},
	{.name = "reload-on-change",
	 .type = CLI_OPT_SET,
	 .offset = offsetof(struct daemon_cli_args, reload_on_change),
	 .help = "look at the config file each second and reload it when it changed (a "
		 "Kubernetes ConfigMap's update, an edit): as SIGHUP would"},
	{.name = "log-level",
	 .type = CLI_OPT_CHOICE,
	 .offset = offsetof(struct daemon_cli_args, log_level),
	 .arg = "L",
	 .help = "the most detail logged (default: the config's log_level, else info)",
	 .choices = log_level_names},
	CLI_OPT_END,
};

const struct cli_command cli_cmd_daemon = {
	.name = "daemon",
	.synopsis = "[--config FILE] [OPTIONS]",
	.help = "Runs the agent in the foreground (systemd: Type=notify): applies the config (the "
		"interfaces and their modes, lists and list files, services), then keeps them: "
		"SIGHUP or --reload reads the config again and applies only what changed, live; "
		"housekeeping, list file refreshes and the periodic report run on their own; "
		"security alerts and the report are log lines (the journal under systemd). "
		"SIGTERM and SIGINT stop it and leave the datapath running. One daemon a pid "
		"file and a pin path.",
	.run = cmd_daemon,
	.opts = daemon_opts,
	.args_size = sizeof(struct daemon_cli_args),
	.init_args = daemon_defaults,
};

int cmd_daemon(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_daemon;
	struct daemon_cli_args a;
	unsigned long long given = 0;
	struct daemon_args args = {};

	(void)env;
	daemon_defaults(&a);
	a.pid_file = NULL;
	a.metrics = NULL;
	a.check = a.reload = a.detach_on_exit = a.reload_on_change = false;
	if (cli_parse(cmd, argc, argv, &a, &given))
		return EXIT_USAGE;
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (a.check + a.reload > 1)
		return cli_usage_error(cmd, "--check-config or --reload, not both");
	if (a.pid_file && !a.reload)
		return cli_usage_error(cmd, "--pid-file goes with --reload (the daemon takes its "
					    "own from the config)");
	struct sockaddr_storage sa;

	if (a.metrics && metrics_listen_parse(a.metrics, &sa))
		return cli_usage_error(cmd,
				       "--metrics is ADDRESS:PORT (127.0.0.1:9479, [::1]:9479), "
				       "not '%s'",
				       a.metrics);
	if (a.metrics && (a.check || a.reload))
		return cli_usage_error(cmd, "--metrics is for the running daemon");
	if (a.detach_on_exit && (a.check || a.reload))
		return cli_usage_error(cmd, "--detach-on-exit is for the running daemon");
	if (a.reload_on_change && (a.check || a.reload))
		return cli_usage_error(cmd, "--reload-on-change is for the running daemon");
	if (a.check) {
		dlog_setup(NETPROBE_LOG_INFO);
		return daemon_check(a.config, cli.pin_path);
	}
	if (a.reload)
		return daemon_signal_reload(a.config, a.pid_file, cli.pin_path);
	args.config = a.config;
	args.metrics = a.metrics;
	args.default_pin_path = cli.pin_path;
	args.detach_on_exit = a.detach_on_exit;
	args.reload_on_change = a.reload_on_change;
	args.log_level = a.log_level;
	args.log_level_given = cli_given(cmd, given, "log-level");
	return daemon_run(&args);
}
