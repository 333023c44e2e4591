// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The interface registry: a pinned array of NETPROBE_MAX_IFACES slots, one
 * per attached interface (its name, namespace, mode and attach modes),
 * through which every later netprobe process finds what is attached.
 */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "iface/iface.h"
#include "netprobe.skel.h"

int np_read_iface(const struct netprobe_manager *m, unsigned int slot,
		  struct netprobe_iface_info *info)
{
	int err = bpf_map_lookup_elem(bpf_map__fd(m->maps->maps.np_ifaces), &slot, info);

	return err ? -errno : 0;
}

int np_write_iface(const struct netprobe_manager *m, unsigned int slot,
		   const struct netprobe_iface_info *info)
{
	int err = bpf_map_update_elem(bpf_map__fd(m->maps->maps.np_ifaces), &slot, info, BPF_ANY);

	return err ? -errno : 0;
}

int np_read_iface_settings(const struct netprobe_manager *m, unsigned int slot,
			   struct netprobe_iface_settings *s)
{
	int fd = bpf_map__fd(m->maps->maps.np_iface_settings);

	return bpf_map_lookup_elem(fd, &slot, s) ? -errno : 0;
}

int np_write_iface_settings(const struct netprobe_manager *m, unsigned int slot,
			    const struct netprobe_iface_settings *s)
{
	int fd = bpf_map__fd(m->maps->maps.np_iface_settings);

	return bpf_map_update_elem(fd, &slot, s, BPF_ANY) ? -errno : 0;
}

int np_resolve_ifindex(const char *ifname, unsigned int *ifindex)
{
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		np_err("invalid interface name '%s'", ifname ? ifname : "(null)");
		return -EINVAL;
	}
	*ifindex = if_nametoindex(ifname);
	if (!*ifindex) {
		np_err("no interface named %s in this network namespace", ifname);
		return -ENODEV;
	}
	return 0;
}

int np_find_iface(const struct netprobe_manager *m, const char *ifname, unsigned int *slot,
		  struct netprobe_iface_info *info)
{
	unsigned long long netns = np_current_netns();
	unsigned int ifindex;
	int err;

	err = np_resolve_ifindex(ifname, &ifindex);
	if (err)
		return err;
	for (unsigned int s = 0; s < NETPROBE_MAX_IFACES; s++) {
		if (np_read_iface(m, s, info))
			continue;
		if (info->in_use && info->ifindex == ifindex && info->netns_ino == netns) {
			*slot = s;
			return 0;
		}
	}
	return -ENOENT;
}

int np_free_slot(const struct netprobe_manager *m, unsigned int *slot)
{
	struct netprobe_iface_info info;

	for (unsigned int s = 0; s < NETPROBE_MAX_IFACES; s++) {
		if (np_read_iface(m, s, &info) == 0 && !info.in_use) {
			*slot = s;
			return 0;
		}
	}
	np_err("all %d interface slots are in use; detach one first", NETPROBE_MAX_IFACES);
	return -ENOSPC;
}

int np_iface_info_of(const struct netprobe_manager *m, const struct netprobe_iface *iface,
		     struct netprobe_iface_info *info)
{
	int err;

	if (!iface || iface->slot >= NETPROBE_MAX_IFACES)
		return -EINVAL;
	err = np_read_iface(m, iface->slot, info);
	if (err)
		return err;
	/* Detached, or the slot taken by another interface, since the caller listed it. */
	if (!info->in_use || info->ifindex != iface->ifindex || strcmp(info->name, iface->name))
		return -ENOENT;
	return 0;
}

int netprobe_netns_name(unsigned long long netns_ino, char *buf, size_t len)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;
	struct stat st;
	int err = -ENOENT;

	if (!buf || !len)
		return -EINVAL;
	snprintf(buf, len, "net:[%llu]", netns_ino);
	while (d && err && (e = readdir(d))) {
		char path[300];

		snprintf(path, sizeof(path), "/run/netns/%s", e->d_name);
		if (e->d_name[0] == '.' || stat(path, &st) || st.st_ino != netns_ino)
			continue;
		snprintf(buf, len, "%.*s", (int)(len - 1), e->d_name);
		err = 0;
	}
	if (d)
		closedir(d);
	return err;
}

bool np_anything_attached(const struct netprobe_manager *m)
{
	struct netprobe_iface_info info;

	for (unsigned int s = 0; s < NETPROBE_MAX_IFACES; s++)
		if (np_read_iface(m, s, &info) == 0 && info.in_use)
			return true;
	return false;
}
