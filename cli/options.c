// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The command's options, from one table per subcommand (xdp-tools' params
 * table is the model): each option's name, type, range and help are written
 * once, and parsing, range checks and --help are made from them. Ranges of
 * the library's settings come from the library (netprobe_config_range).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* getopt values: the common options have their letters, table entry i OPT_BASE + i. */
#define OPT_BASE 0x100

static size_t count_opts(const struct cli_opt *opts)
{
	size_t n = 0;

	while (opts && opts[n].name)
		n++;
	return n;
}

/* The range an unsigned option takes: the library setting's, or the table's. */
static void uint_range(const struct cli_opt *o, unsigned long long *min, unsigned long long *max,
		       const char **unit)
{
	const struct netprobe_setting_range *r =
		o->setting ? netprobe_config_range(o->setting) : NULL;

	*min = r ? r->min : (unsigned long long)o->min;
	*max = r ? r->max : (unsigned long long)o->max;
	*unit = o->unit ? o->unit : r ? r->unit : "";
}

/* "a, b or c" */
static void choices_text(const char *const *choices, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; choices[i] && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%s",
				 i == 0		  ? ""
				 : choices[i + 1] ? ", "
						  : " or ",
				 choices[i]);
}

static int apply(const struct cli_command *cmd, const struct cli_opt *o, void *args,
		 const char *arg, unsigned int nth)
{
	char *field = (char *)args + o->offset;
	unsigned long long v, min, max;
	const char *unit;
	char buf[160];
	double secs;

	switch (o->type) {
	case CLI_OPT_SET:
	case CLI_OPT_CLEAR:
		*(bool *)field = o->type == CLI_OPT_SET;
		return 0;
	case CLI_OPT_UINT:
		uint_range(o, &min, &max, &unit);
		if (!cli_parse_uint(arg, max, &v) || v < min)
			return cli_usage_error(cmd, "--%s is %llu..%llu%s%s, not '%s'", o->name,
					       min, max, *unit ? " " : "", unit, arg);
		*(unsigned int *)field = (unsigned int)v;
		return 0;
	case CLI_OPT_SECONDS:
		if (!cli_parse_seconds(arg, &secs) || secs < o->min || secs > o->max)
			return cli_usage_error(cmd, "--%s is %.10g..%.10g seconds, not '%s'",
					       o->name, o->min, o->max, arg);
		*(double *)field = secs;
		return 0;
	case CLI_OPT_CHOICE:
		for (unsigned int i = 0; o->choices[i]; i++) {
			if (!strcmp(arg, o->choices[i])) {
				*(unsigned int *)field = i;
				return 0;
			}
		}
		choices_text(o->choices, buf, sizeof(buf));
		return cli_usage_error(cmd, "--%s is %s, not '%s'", o->name, buf, arg);
	case CLI_OPT_TEXT:
		*(const char **)field = arg;
		return 0;
	case CLI_OPT_FUNC:
		if (!o->parse(args, arg, nth))
			return cli_usage_error(cmd, "--%s is %s, not '%s'", o->name, o->expects,
					       arg);
		return 0;
	}
	return cli_usage_error(cmd, "--%s: unknown option type", o->name);
}

/* What getopt could not take: a value missing or not wanted, an option unknown or ambiguous. */
static int getopt_error(const struct cli_command *cmd, int opt, char **argv)
{
	bool ours = optopt >= OPT_BASE && optopt < OPT_BASE + CLI_MAX_OPTS;
	const char *name = ours ? cmd->opts[optopt - OPT_BASE].name : "pin-path";

	if (opt == ':')
		return cli_usage_error(cmd, "--%s needs a value", name);
	if (ours)
		return cli_usage_error(cmd, "--%s takes no value", name);
	if (optopt == 0) /* a long option unknown, or the start of several */
		return cli_usage_error(cmd, "unknown or ambiguous option '%s'", argv[optind - 1]);
	return cli_usage_error(cmd, "unknown option '-%c'", optopt);
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, void *args,
	      unsigned long long *given)
{
	size_t n = count_opts(cmd->opts);
	struct option longopts[CLI_MAX_OPTS + 4];
	unsigned int seen[CLI_MAX_OPTS] = {};
	int opt, err;

	if (n > CLI_MAX_OPTS)
		return cli_usage_error(cmd, "too many options in the table");
	for (size_t i = 0; i < n; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		/* A function option without a value's name is a switch, as SET and CLEAR are. */
		bool takes_arg = o->type != CLI_OPT_SET && o->type != CLI_OPT_CLEAR &&
				 (o->type != CLI_OPT_FUNC || o->arg);

		longopts[i] = (struct option){o->name, takes_arg ? required_argument : no_argument,
					      NULL, OPT_BASE + (int)i};
	}
	longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n + 1] = (struct option){"verbose", no_argument, NULL, 'v'};
	longopts[n + 2] = (struct option){"pin-path", required_argument, NULL, 'P'};
	longopts[n + 3] = (struct option){};
	if (given)
		*given = 0;
	/* 0, not 1: a full restart, so that a command may parse the same argv again. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hvP:", longopts, NULL)) != -1) {
		if (opt >= OPT_BASE && (size_t)(opt - OPT_BASE) < n) {
			size_t i = opt - OPT_BASE;
			const struct cli_opt *o = &cmd->opts[i];

			if (seen[i] && !o->repeat)
				return cli_usage_error(cmd, "--%s is given twice", o->name);
			err = apply(cmd, o, args, optarg, seen[i]++);
			if (err)
				return err;
			if (given)
				*given |= 1ull << i;
			continue;
		}
		switch (opt) {
		case 'h':
			cli_print_help(cmd, stdout);
			exit(EXIT_OK);
		case 'v':
			cli.verbose++;
			break;
		case 'P':
			if (!cli_set_pin_path(optarg, "--pin-path"))
				return EXIT_USAGE;
			break;
		default:
			return getopt_error(cmd, opt, argv);
		}
	}
	cli_log_setup(); /* -v may have come after the command */
	return 0;
}

bool cli_given(const struct cli_command *cmd, unsigned long long given, const char *name)
{
	for (size_t i = 0; cmd->opts && cmd->opts[i].name; i++)
		if (!strcmp(cmd->opts[i].name, name))
			return given & (1ull << i);
	return false;
}

/* An option's default, as the command's own defaults have it ("" when none is worth saying). */
static void default_text(const struct cli_opt *o, const void *defaults, char *buf, size_t len)
{
	const char *field = (const char *)defaults + o->offset;

	buf[0] = '\0';
	if (!defaults)
		return;
	if (o->type == CLI_OPT_UINT) {
		unsigned long long min, max;
		unsigned int v = *(const unsigned int *)field;
		const char *unit;

		/* Outside the range: "not given", the option's help says what applies then. */
		uint_range(o, &min, &max, &unit);
		if (v >= min && v <= max)
			snprintf(buf, len, "%u", v);
	} else if (o->type == CLI_OPT_CHOICE) {
		unsigned int v = *(const unsigned int *)field, n = 0;

		while (o->choices[n])
			n++;
		if (v < n)
			snprintf(buf, len, "%s", o->choices[v]);
	} else if (o->type == CLI_OPT_SECONDS && *(const double *)field > 0) {
		snprintf(buf, len, "%.10g", *(const double *)field);
	}
}

void cli_print_wrapped(FILE *out, const char *text, int indent, int col)
{
	const int width = 79;

	while (*text) {
		int room = width - col, fit = (int)strlen(text);

		/* Whole words up to the margin; a word longer than a line goes out whole. */
		if (fit > room) {
			fit = room;
			while (fit > 0 && text[fit] != ' ')
				fit--;
			if (fit == 0)
				fit = (int)strcspn(text, " ");
		}
		fprintf(out, "%.*s\n", fit, text);
		text += fit;
		while (*text == ' ')
			text++;
		if (*text)
			fprintf(out, "%*s", indent, "");
		col = indent;
	}
}

/* The command's defaults, as --help shows them; NULL when it has none (free it). */
static char *defaults_of(const struct cli_command *cmd)
{
	char *defaults = cmd->args_size ? calloc(1, cmd->args_size) : NULL;

	if (defaults && cmd->init_args)
		cmd->init_args(defaults);
	return defaults;
}

/* What an option says of itself: its help, then what the library knows, range and default. */
static void option_text(const struct cli_opt *o, const char *defaults, char *line, size_t len)
{
	char extra[200] = "", def[64], more[512] = "";
	unsigned long long min, max;
	const char *unit;

	default_text(o, defaults, def, sizeof(def));
	if (o->type == CLI_OPT_UINT) {
		uint_range(o, &min, &max, &unit);
		snprintf(extra, sizeof(extra), " (%llu..%llu%s%s%s%s)", min, max, *unit ? " " : "",
			 unit, *def ? ", default " : "", def);
	} else if (o->type == CLI_OPT_SECONDS) {
		snprintf(extra, sizeof(extra), " (%.10g..%.10g s%s%s)", o->min, o->max,
			 *def ? ", default " : "", def);
	} else if (o->type == CLI_OPT_CHOICE) {
		char list[120];

		choices_text(o->choices, list, sizeof(list));
		snprintf(extra, sizeof(extra), " (%s%s%s)", list, *def ? "; default " : "", def);
	}
	if (o->more_help)
		o->more_help(more, sizeof(more));
	snprintf(line, len, "%s%s%s", o->help, more, extra);
}

void cli_print_options(const struct cli_command *cmd, FILE *out)
{
	char *defaults, what[64], line[1536];

	if (!cmd->opts || !cmd->opts[0].name)
		return;
	defaults = defaults_of(cmd);
	fprintf(out, "options:\n");
	for (const struct cli_opt *o = cmd->opts; o->name; o++) {
		snprintf(what, sizeof(what), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		option_text(o, defaults, line, sizeof(line));
		if (strlen(what) > 22)
			fprintf(out, "  %s\n%*s", what, 26, "");
		else
			fprintf(out, "  %-22s  ", what);
		cli_print_wrapped(out, line, 26, 26);
	}
	fputc('\n', out);
	free(defaults);
}

void cli_man_text(FILE *out, const char *text)
{
	/* roff: a backslash is \e, a hyphen in an option \-, a line must not start with . or ' */
	if (*text == '.' || *text == '\'')
		fputs("\\&", out);
	for (; *text; text++) {
		if (*text == '\\')
			fputs("\\e", out);
		else if (*text == '-')
			fputs("\\-", out);
		else
			fputc(*text, out);
	}
}

void cli_man_options(const struct cli_command *cmd, FILE *out)
{
	char *defaults = defaults_of(cmd), line[1536];

	for (const struct cli_opt *o = cmd ? cmd->opts : NULL; o && o->name; o++) {
		fputs(".TP\n.B \\-\\-", out);
		cli_man_text(out, o->name);
		if (o->arg) {
			fputs(" \\fI", out);
			cli_man_text(out, o->arg);
			fputs("\\fR", out);
		}
		fputc('\n', out);
		option_text(o, defaults, line, sizeof(line));
		cli_man_text(out, line);
		fputc('\n', out);
	}
	free(defaults);
}
