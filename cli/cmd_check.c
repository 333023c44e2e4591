// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe check [IFACE]: the seed's IsSupported, one line per requirement. */
#include "cli.h"

int cmd_check(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = cli_find_command("check");
	static const struct option opts[] = {
		CLI_COMMON_LONGOPTS, {"json", no_argument, NULL, 'j'}, {}};
	struct netprobe_probe_report r;
	const char *ifname = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS "j", opts, NULL)) != -1) {
		if (opt == 'j')
			env->json = true;
		else if (!cli_common_opt(cmd, opt, optarg))
			return cli_usage_error(cmd, "unknown option");
	}
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
