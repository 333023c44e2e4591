// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe check [IFACE]: the seed's IsSupported, one line per requirement. */
#include "cli.h"

static const struct cli_opt check_opts[] = {CLI_OPT_JSON(struct cli_env), CLI_OPT_END};

const struct cli_command cli_cmd_check = {
	.name = "check",
	.synopsis = "[IFACE] [OPTIONS]",
	.help = "Checks each requirement (BTF, bpf(), privileges, bpffs, map types, the atomics "
		"every mode uses, TC attach, what the filter and lb modes and events --test call, "
		"and native XDP on IFACE) and says why one is missing, with the Linux version "
		"that has it. Exit 0 when all required ones are met. Attaches nothing.",
	.run = cmd_check,
	.opts = check_opts,
	.args_size = sizeof(struct cli_env),
};

int cmd_check(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_check;
	struct netprobe_probe_report r;
	const char *ifname = NULL;

	if (cli_parse(cmd, argc, argv, env, NULL))
		return EXIT_USAGE;
	if (argc - optind > 1)
		return cli_usage_error(cmd, "at most one interface");
	if (optind < argc)
		ifname = argv[optind];

	netprobe_probe(ifname, &r);
	if (env->json) {
		struct json_object *root = json_object_new_object(),
				   *items = json_object_new_array();

		for (int i = 0; i < r.count; i++) {
			struct json_object *it = json_object_new_object();

			json_object_object_add(it, "name", json_object_new_string(r.items[i].name));
			json_object_object_add(it, "ok", json_object_new_boolean(r.items[i].ok));
			json_object_object_add(it, "required",
					       json_object_new_boolean(r.items[i].required));
			json_object_object_add(it, "detail",
					       json_object_new_string(r.items[i].detail));
			json_object_array_add(items, it);
		}
		json_object_object_add(root, "supported", json_object_new_boolean(r.supported));
		json_object_object_add(root, "checks", items);
		cli_json_print(root);
		json_object_put(root);
	} else {
		for (int i = 0; i < r.count; i++) {
			const struct netprobe_probe_item *it = &r.items[i];

			printf("%-5s %-13s %s\n",
			       it->ok	      ? "ok"
			       : it->required ? "FAIL"
					      : "warn",
			       it->name, it->detail);
		}
		printf("%s\n", r.supported ? "netprobe can run here."
					   : "netprobe cannot run here: see FAIL above.");
	}
	return r.supported ? EXIT_OK : EXIT_FAIL;
}
