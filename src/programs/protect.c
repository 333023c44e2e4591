// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The addresses mitigation must never block, besides the special ones the
 * datapath knows by itself: this host's own addresses (and the broadcasts
 * of its IPv4 networks), the next hops of its default routes and its name
 * servers. A spoofed flood names whatever source the attacker likes; these
 * are the ones whose loss would cut the host off. Read in the calling
 * thread's network (and mount) namespace and added to np_protected, which
 * only ever grows while the state is pinned: an address that stops being
 * one of these stays protected, the safe way to be wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "programs/programs.h"
#include "netprobe.skel.h"

struct protect_ctx {
	int fd;
	unsigned int v6_prefix; /* IPv6 sources are blocked by this prefix */
	unsigned int added;
	int err;
};

static void protect_key(struct protect_ctx *c, const struct netprobe_addr_key *key, __u32 why)
{
	__u32 have = 0;

	bpf_map_lookup_elem(c->fd, key, &have);
	if ((have & why) == why)
		return;
	have |= why;
	if (bpf_map_update_elem(c->fd, key, &have, BPF_ANY)) {
		if (!c->err)
			c->err = -errno;
		return;
	}
	c->added++;
}

/*
 * The address, and the prefix mitigation may block it in (prefix_len set):
 * for IPv6 the prefix sources are counted by, for IPv4 its /24 (an
 * aggregate). A prefix that holds it is never blocked whole.
 */
static void protect(struct protect_ctx *c, int af, const void *addr, __u32 why)
{
	struct netprobe_addr_key key = {.family = af == AF_INET ? NETPROBE_FAMILY_IPV4
								: NETPROBE_FAMILY_IPV6};
	unsigned int prefix = af == AF_INET ? 24 : c->v6_prefix, bits = af == AF_INET ? 32 : 128;

	memcpy(key.addr, addr, af == AF_INET ? 4 : 16);
	protect_key(c, &key, why);
	if (prefix >= bits)
		return;
	for (unsigned int bit = prefix; bit < bits; bit++)
		key.addr[bit / 8] &= ~(0x80 >> (bit % 8));
	key.prefix_len = prefix;
	protect_key(c, &key, why);
}

static void local_addresses(struct protect_ctx *c)
{
	struct ifaddrs *ifs, *i;

	if (getifaddrs(&ifs))
		return;
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr, bcast;

			protect(c, AF_INET, &a, NETPROBE_PROTECT_LOCAL);
			/* The directed broadcast, whether or not the address was given one. */
			if (i->ifa_netmask && i->ifa_netmask->sa_family == AF_INET) {
				__u32 mask =
					((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr;

				bcast.s_addr = a.s_addr | ~mask;
				if (ntohl(mask) < 0xfffffffeu)
					protect(c, AF_INET, &bcast, NETPROBE_PROTECT_LOCAL);
			}
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			protect(c, AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
				NETPROBE_PROTECT_LOCAL);
		}
	}
	freeifaddrs(ifs);
}

/* Next hops of default routes: /proc/net/route (IPv4) and /proc/net/ipv6_route. */
static void gateways(struct protect_ctx *c)
{
	char line[512], dst[64], gw[64];
	unsigned int flags, plen;
	FILE *f = fopen("/proc/net/route", "r");

	while (f && fgets(line, sizeof(line), f)) {
		unsigned int d, g;

		/* Iface Destination Gateway Flags ...; hex in host byte order of the kernel */
		if (sscanf(line, "%*s %x %x %x", &d, &g, &flags) == 3 && d == 0 && g != 0)
			protect(c, AF_INET, &g, NETPROBE_PROTECT_GATEWAY);
	}
	if (f)
		fclose(f);
	f = fopen("/proc/net/ipv6_route", "r");
	while (f && fgets(line, sizeof(line), f)) {
		struct in6_addr a;

		/* dst dst_len src src_len next_hop metric refcnt use flags iface */
		if (sscanf(line, "%32s %x %*s %*s %32s", dst, &plen, gw) != 3 || plen != 0 ||
		    strspn(gw, "0") == strlen(gw))
			continue;
		for (int i = 0; i < 16; i++) {
			unsigned int byte;

			sscanf(gw + (size_t)2 * i, "%2x", &byte);
			a.s6_addr[i] = byte;
		}
		protect(c, AF_INET6, &a, NETPROBE_PROTECT_GATEWAY);
	}
	if (f)
		fclose(f);
}

/* Name servers: resolv.conf, and systemd-resolved's upstream list behind 127.0.0.53. */
static void resolvers(struct protect_ctx *c, const char *path)
{
	char line[512], addr[INET6_ADDRSTRLEN + 1];
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f)) {
		unsigned char a[16];
		char *pct;

		if (sscanf(line, " nameserver %46s", addr) != 1)
			continue;
		pct = strchr(addr, '%'); /* fe80::1%eth0 */
		if (pct)
			*pct = '\0';
		if (inet_pton(AF_INET, addr, a) == 1)
			protect(c, AF_INET, a, NETPROBE_PROTECT_RESOLVER);
		else if (inet_pton(AF_INET6, addr, a) == 1)
			protect(c, AF_INET6, a, NETPROBE_PROTECT_RESOLVER);
	}
	if (f)
		fclose(f);
}

int np_protect_refresh(struct netprobe_manager *m, unsigned int v6_prefix)
{
	struct protect_ctx c = {.fd = bpf_map__fd(m->maps->maps.np_protected),
				.v6_prefix = v6_prefix};

	if (c.fd < 0)
		return c.fd;
	local_addresses(&c);
	gateways(&c);
	resolvers(&c, "/etc/resolv.conf");
	resolvers(&c, "/run/systemd/resolve/resolv.conf");
	if (c.err) {
		np_warn("cannot add every address mitigation must spare (%s): some gateways, "
			"resolvers or addresses of this host could be blocked",
			strerror(-c.err));
		return c.err;
	}
	np_debug("mitigation spares %u more addresses of this host, gateways and resolvers",
		 c.added);
	return 0;
}
