// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe demo: placeholder until the lab is written. */
#include "cli.h"

int cmd_demo(struct cli_env *env, int argc, char **argv)
{
	(void)env;
	(void)argc;
	(void)argv;
	cli_error("demo: not written yet");
	return EXIT_FAIL;
}
