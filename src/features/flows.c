// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The flow table, read in batches: one syscall per FLOW_BATCH flows, not one per flow. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "features/features.h"
#include "netprobe.skel.h"

#define FLOW_BATCH 4096

int netprobe_manager_foreach_flow(struct netprobe_manager *m, netprobe_flow_fn fn, void *ctx)
{
	struct netprobe_flow_key *keys;
	struct netprobe_flow_stats *vals;
	/* The batch cursor is opaque; a key's size is enough for every hash map. */
	struct netprobe_flow_key cursor_in, cursor_out;
	bool first = true, done = false;
	int fd, ret = 0;

	if (!m || !m->maps || !fn)
		return -EINVAL;
	fd = bpf_map__fd(m->maps->maps.np_flows);
	keys = calloc(FLOW_BATCH, sizeof(*keys));
	vals = calloc(FLOW_BATCH, sizeof(*vals));
	if (!keys || !vals) {
		ret = -ENOMEM;
		goto out;
	}
	while (!done) {
		__u32 count = FLOW_BATCH;
		int err = bpf_map_lookup_batch(fd, first ? NULL : &cursor_in, &cursor_out, keys,
					       vals, &count, NULL);

		if (err) {
			if (errno != ENOENT) {
				ret = -errno;
				break;
			}
			done = true; /* the last batch; count says how much of it is there */
		}
		for (__u32 i = 0; i < count && !ret; i++)
			ret = fn(&keys[i], &vals[i], ctx);
		if (ret)
			break;
		cursor_in = cursor_out;
		first = false;
	}
out:
	free(keys);
	free(vals);
	return ret;
}

const char *netprobe_flow_addr_str(const struct netprobe_flow_key *key, bool src, char *buf,
				   size_t len)
{
	const void *addr = src ? key->src_addr : key->dst_addr;
	int af = key->family == NETPROBE_FAMILY_IPV4 ? AF_INET : AF_INET6;

	if (!inet_ntop(af, addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}
