// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: every subcommand's options (cli_parse over each command's table): values within their ranges
/*
 * Every command line value: the input's first byte picks a subcommand, the
 * rest (split at NUL and newline) is its argv, parsed against that
 * command's option table as `netprobe COMMAND ...` would. What is accepted
 * lies in the option's range. --help is left out: it prints and exits.
 */
#include <netprobe/netprobe.h>
#include "cli.h"
#include "fuzz.h"

static const char *const commands[] = {
	"check", "attach", "detach",	"status",    "stats", "flows",	"monitor",
	"demo",	 "events", "blacklist", "allowlist", "lb",    "daemon",
};

#define MAX_ARGS 32

/* Whether getopt would take arg for --help (or -h in a cluster of letters). */
static bool asks_help(const char *arg)
{
	if (arg[0] != '-' || !arg[1])
		return false;
	if (arg[1] != '-')
		return strchr(arg, 'h') != NULL;
	if (!arg[2])
		return false; /* "--": the end of options */
	size_t name = strcspn(arg + 2, "=");

	return name <= 4 && !strncmp(arg + 2, "help", name);
}

/* What was accepted is what the table allows. */
static void check_ranges(const struct cli_command *cmd, const void *args, unsigned long long given)
{
	for (size_t i = 0; cmd->opts && cmd->opts[i].name; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		const char *field = (const char *)args + o->offset;

		if (!(given & (1ull << i)))
			continue;
		if (o->type == CLI_OPT_SECONDS) {
			double v = *(const double *)field;

			FUZZ_CHECK(v >= o->min && v <= o->max, "%s --%s took %g", cmd->name,
				   o->name, v);
		} else if (o->type == CLI_OPT_UINT) {
			const struct netprobe_setting_range *r =
				o->setting ? netprobe_config_range(o->setting) : NULL;
			unsigned long long v = *(const unsigned int *)field;
			unsigned long long min = r ? r->min : (unsigned long long)o->min;
			unsigned long long max = r ? r->max : (unsigned long long)o->max;

			FUZZ_CHECK(v >= min && v <= max, "%s --%s took %llu", cmd->name, o->name,
				   v);
		} else if (o->type == CLI_OPT_CHOICE) {
			unsigned int v = *(const unsigned int *)field, n = 0;

			while (o->choices[n])
				n++;
			FUZZ_CHECK(v < n, "%s --%s took choice %u of %u", cmd->name, o->name, v, n);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cli_command *cmd;
	char *argv[MAX_ARGS + 1], *text, *cursor, *arg;
	unsigned long long given;
	void *args;
	int argc = 1;

	if (size < 1)
		return 0;
	cmd = cli_find_command(commands[data[0] % (sizeof(commands) / sizeof(commands[0]))]);
	FUZZ_CHECK(cmd, "a command of the table is missing");
	FUZZ_CHECK(!cmd->opts || cmd->args_size, "%s has options and no args_size", cmd->name);
	text = fuzz_cstr(data + 1, size - 1);
	cursor = text;
	argv[0] = (char *)cmd->name;
	while (argc < MAX_ARGS && (arg = fuzz_field(&cursor, text + size - 1))) {
		if (asks_help(arg))
			goto out;
		argv[argc++] = arg;
	}
	argv[argc] = NULL;
	args = calloc(1, cmd->args_size ? cmd->args_size : 1);
	if (cmd->init_args)
		cmd->init_args(args);
	if (cli_parse(cmd, argc, argv, args, &given) == 0)
		check_ranges(cmd, args, given);
	free(args);
out:
	free(text);
	return 0;
}
