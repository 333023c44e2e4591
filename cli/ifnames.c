// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Interfaces named by slot, for flows and events: an ifindex alone repeats
 * across network namespaces (2 is the first veth of every namespace), so
 * what netprobe shows carries the interface's name, and its namespace when
 * it is not the caller's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

static int add_name(const struct netprobe_iface *it, void *ctx)
{
	struct cli_ifnames *n = ctx;

	if (it->slot >= NETPROBE_MAX_IFACES)
		return 0;
	n->slot[it->slot].known = true;
	snprintf(n->slot[it->slot].name, sizeof(n->slot[it->slot].name), "%s", it->name);
	if (!it->in_current_netns)
		netprobe_netns_name(it->netns_ino, n->slot[it->slot].netns,
				    sizeof(n->slot[it->slot].netns));
	return 0;
}

int cli_ifnames_read(struct netprobe_manager *m, struct cli_ifnames *n)
{
	char buf[96];
	int err;

	memset(n, 0, sizeof(*n));
	err = netprobe_manager_foreach_iface(m, add_name, n);
	n->width = 9; /* "INTERFACE" */
	for (int s = 0; s < NETPROBE_MAX_IFACES; s++)
		if (n->slot[s].known && (int)strlen(cli_ifname(n, s, buf, sizeof(buf))) > n->width)
			n->width = (int)strlen(buf);
	return err;
}

const char *cli_ifname(const struct cli_ifnames *n, unsigned int slot, char *buf, size_t len)
{
	if (!n || slot >= NETPROBE_MAX_IFACES || !n->slot[slot].known)
		snprintf(buf, len, "slot%u", slot); /* detached since */
	else if (n->slot[slot].netns[0])
		snprintf(buf, len, "%s@%s", n->slot[slot].name, n->slot[slot].netns);
	else
		snprintf(buf, len, "%s", n->slot[slot].name);
	return buf;
}

void cli_ifname_json(struct json_object *o, const struct cli_ifnames *n, unsigned int slot)
{
	bool known = n && slot < NETPROBE_MAX_IFACES && n->slot[slot].known;

	json_object_object_add(o, "interface",
			       known ? json_object_new_string(n->slot[slot].name) : NULL);
	if (known && n->slot[slot].netns[0])
		json_object_object_add(o, "netns", json_object_new_string(n->slot[slot].netns));
}

int cli_ifnames_find(const struct cli_ifnames *n, const char *spec)
{
	const char *at = strchr(spec, '@');
	size_t len = at ? (size_t)(at - spec) : strlen(spec);
	int found = -ENOENT, others = 0;

	for (int s = 0; s < NETPROBE_MAX_IFACES; s++) {
		if (!n->slot[s].known || strlen(n->slot[s].name) != len ||
		    strncmp(n->slot[s].name, spec, len))
			continue;
		if (at ? !strcmp(n->slot[s].netns, at + 1) : !n->slot[s].netns[0])
			return s; /* named exactly, or in the caller's namespace */
		if (!at) {
			found = s;
			others++;
		}
	}
	return others > 1 ? -EEXIST : found;
}
