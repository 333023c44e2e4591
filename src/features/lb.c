// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The load balancer's control plane: services (np_lb_vips), their backends
 * (np_lb_backends, one slot per backend of a service) and each service's
 * Maglev table (np_lb_ring), which is rebuilt from the backends whenever
 * they change, and its previous table beside it, which remembers where the
 * draining backends were (abi.h). The pinned maps are the only state: every
 * netprobe command and manager sees the same services, under the pin lock.
 *
 * A backend slot is published in two steps, fields first and
 * NETPROBE_LB_BE_IN_USE last, and retired in the reverse order (out of the
 * table, then not in use, then a new gen), so XDP never sends a packet to a
 * half-written backend, and flows bound to a removed one choose again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "features/features.h"
#include "netprobe.skel.h"
#include "base/maglev.h"

struct np_lb {
	pthread_mutex_t lock;
	struct netprobe_lb_ring_chunk *ring;
	size_t ring_len;
	struct netprobe_lb_backend *backends;
	size_t backends_len;
	__u32 max_backends;
	__u32 max_services;
	__u32 chunks; /* per table: a service has NP_LB_TABLES */
	int vips_fd;
};

static const char *const forward_names[] = {
	[NETPROBE_LB_FORWARD_IPIP] = "ipip",
	[NETPROBE_LB_FORWARD_L2] = "l2",
};

const char *netprobe_lb_forward_name(enum netprobe_lb_forward f)
{
	return (unsigned int)f <= NETPROBE_LB_FORWARD_L2 ? forward_names[f] : NULL;
}

int netprobe_lb_forward_parse(const char *s, enum netprobe_lb_forward *out)
{
	for (unsigned int f = 0; s && out && f <= NETPROBE_LB_FORWARD_L2; f++) {
		if (strcmp(s, forward_names[f]) == 0) {
			*out = f;
			return 0;
		}
	}
	return -EINVAL;
}

void np_lb_close(struct netprobe_manager *m)
{
	struct np_lb *lb = m->lb;

	if (!lb)
		return;
	if (lb->ring)
		munmap(lb->ring, lb->ring_len);
	if (lb->backends)
		munmap(lb->backends, lb->backends_len);
	pthread_mutex_destroy(&lb->lock);
	free(lb);
	m->lb = NULL;
}

int np_lb_open(struct netprobe_manager *m)
{
	struct np_lb *lb = calloc(1, sizeof(*lb));

	if (!lb)
		return -ENOMEM;
	m->lb = lb;
	pthread_mutex_init(&lb->lock, NULL);
	lb->vips_fd = bpf_map__fd(m->maps->maps.np_lb_vips);
	lb->ring = np_map_mmap(m->maps->maps.np_lb_ring, &lb->ring_len);
	lb->backends = np_map_mmap(m->maps->maps.np_lb_backends, &lb->backends_len);
	if (!lb->ring || !lb->backends) {
		int err = -errno;

		np_err("cannot map the load balancer's tables into memory: %s", strerror(errno));
		np_lb_close(m);
		return err;
	}
	lb->max_backends = lb->backends_len / sizeof(*lb->backends);
	lb->max_services = m->opts.state.lb_max_services;
	lb->chunks = lb->ring_len / sizeof(*lb->ring) / lb->max_services / NP_LB_TABLES;
	return 0;
}

/* Takes this manager's lock and the state lock (np_state_lock); returns the latter's fd. */
static int lb_lock(struct netprobe_manager *m, bool pin)
{
	int lock;

	pthread_mutex_lock(&m->lb->lock);
	lock = np_state_lock(m, pin);
	if (lock < 0)
		pthread_mutex_unlock(&m->lb->lock);
	return lock;
}

static void lb_unlock(struct netprobe_manager *m, int lock)
{
	np_unlock(m, lock);
	pthread_mutex_unlock(&m->lb->lock);
}

bool np_lb_has_services(const struct netprobe_manager *m)
{
	struct netprobe_lb_vip_key key;

	return m->lb && bpf_map_get_next_key(m->lb->vips_fd, NULL, &key) == 0;
}

/* ---- Text ---------------------------------------------------------------- */

/* An address, bare or in brackets; returns the family, or 0. */
static int parse_addr(const char *text, size_t len, unsigned char addr[16])
{
	char buf[INET6_ADDRSTRLEN + 2];

	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1)
		return NETPROBE_FAMILY_IPV4;
	if (inet_pton(AF_INET6, buf, addr) == 1)
		return NETPROBE_FAMILY_IPV6;
	return 0;
}

int netprobe_lb_service_parse(const char *text, struct netprobe_lb_service *out)
{
	const char *colon, *slash, *port_end;
	unsigned long port;
	char *end;

	if (!text || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->proto = IPPROTO_TCP;
	slash = strchr(text, '/');
	port_end = slash ? slash : text + strlen(text);
	colon = port_end;
	while (colon > text && colon[-1] != ':' && colon[-1] != ']')
		colon--;
	if (colon == text || colon[-1] != ':')
		goto bad;
	out->family = parse_addr(text, colon - 1 - text, out->addr);
	/* IPv6 addresses, and only they, take brackets before the port. */
	if (!out->family || (out->family == NETPROBE_FAMILY_IPV6) != (text[0] == '['))
		goto bad;
	errno = 0;
	port = strtoul(colon, &end, 10);
	if (colon[0] < '0' || colon[0] > '9' || end != port_end || errno || port == 0 ||
	    port > 65535)
		goto bad;
	out->port = port;
	if (slash) {
		if (strcmp(slash + 1, "tcp") == 0)
			out->proto = IPPROTO_TCP;
		else if (strcmp(slash + 1, "udp") == 0)
			out->proto = IPPROTO_UDP;
		else
			goto bad;
	}
	return 0;
bad:
	np_err("'%s' is not a service: ADDRESS:PORT/tcp|udp, e.g. 192.0.2.1:80/tcp or "
	       "[2001:db8::1]:53/udp (port 1..65535)",
	       text);
	return -EINVAL;
}

const char *netprobe_lb_service_str(const struct netprobe_lb_service *s, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	bool v6 = s->family == NETPROBE_FAMILY_IPV6;

	inet_ntop(v6 ? AF_INET6 : AF_INET, s->addr, addr, sizeof(addr));
	snprintf(buf, len, "%s%s%s:%u/%s", v6 ? "[" : "", addr, v6 ? "]" : "", s->port,
		 s->proto == IPPROTO_UDP ? "udp" : "tcp");
	return buf;
}

static void addr_str(unsigned char family, const unsigned char *addr, char *buf, size_t len)
{
	inet_ntop(family == NETPROBE_FAMILY_IPV6 ? AF_INET6 : AF_INET, addr, buf, len);
}

static struct netprobe_lb_vip_key vip_key(const struct netprobe_lb_service *s)
{
	struct netprobe_lb_vip_key key = {};

	memcpy(key.addr, s->addr, 16);
	key.port = htons(s->port);
	key.proto = s->proto;
	key.family = s->family;
	return key;
}

/* Parses service and finds it: 0 with *vip filled, or -EINVAL / -ENOENT (logged). */
static int find_service(struct netprobe_manager *m, const char *service,
			struct netprobe_lb_service *s, struct netprobe_lb_vip *vip)
{
	struct netprobe_lb_vip_key key;
	int err = netprobe_lb_service_parse(service, s);

	if (err)
		return err;
	key = vip_key(s);
	if (bpf_map_lookup_elem(m->lb->vips_fd, &key, vip)) {
		np_err("no service %s: add it first (netprobe lb vip add)", service);
		return -ENOENT;
	}
	return 0;
}

/* ---- Backends and their Maglev table ---------------------------------- */

static bool slot_in_use(const struct netprobe_lb_backend *be)
{
	return __atomic_load_n(&be->flags, __ATOMIC_ACQUIRE) & NETPROBE_LB_BE_IN_USE;
}

/* The slot of backend addr of service vip_id, or -1. */
static long find_backend(const struct np_lb *lb, __u32 vip_id, unsigned char family,
			 const unsigned char *addr)
{
	for (__u32 i = 0; i < lb->max_backends; i++) {
		const struct netprobe_lb_backend *be = &lb->backends[i];

		if (slot_in_use(be) && be->vip_id == vip_id && be->family == family &&
		    memcmp(be->addr, addr, 16) == 0)
			return i;
	}
	return -1;
}

/* The slots of service vip_id's backends, sorted by address (a stable Maglev input). */
static size_t service_backends(const struct np_lb *lb, __u32 vip_id, __u32 *slots)
{
	size_t n = 0;

	for (__u32 i = 0; i < lb->max_backends; i++) {
		if (slot_in_use(&lb->backends[i]) && lb->backends[i].vip_id == vip_id)
			slots[n++] = i;
	}
	/* Few backends a service: an insertion sort is plenty. */
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && memcmp(lb->backends[slots[j - 1]].addr,
						   lb->backends[slots[j]].addr, 16) > 0;
		     j--) {
			__u32 t = slots[j];

			slots[j] = slots[j - 1];
			slots[j - 1] = t;
		}
	}
	return n;
}

/* Whether slot is a backend of service vip_id that drains. */
static bool slot_drains(const struct np_lb *lb, __u32 slot, __u32 vip_id)
{
	const struct netprobe_lb_backend *be;

	if (slot >= lb->max_backends) /* NETPROBE_LB_NO_BACKEND */
		return false;
	be = &lb->backends[slot];
	return slot_in_use(be) && be->vip_id == vip_id && (be->flags & NETPROBE_LB_BE_DRAINING);
}

/*
 * Rebuilds the Maglev table of a service from its backends that take new
 * flows, after its previous table: each position keeps the backend it
 * kept while that one still drains, else takes the one the current table
 * gave it if that one drains now (this change drained it), else none. So
 * the previous table names, where it names anything, the backend that held
 * the position before the drains still in force: draining A then B keeps
 * every flow that started before both, on A's positions and B's. A flow
 * that started on B after A drained, on a position that was A's, is not
 * kept (one entry a position; the oldest flows are the ones to keep). An
 * undrained or removed backend leaves the table (a removed one's slot can
 * only come back to this service by backend_add, whose rebuild finds it
 * not draining and clears it).
 *
 * Every entry is a 4-byte aligned store: XDP reads either the old backend
 * or the new one, never a torn one. The previous table is written first: a
 * flow without an entry finds its draining backend in one table or the
 * other throughout.
 */
static int rebuild_table(struct netprobe_manager *m, const struct netprobe_lb_vip *vip)
{
	struct np_lb *lb = m->lb;
	__u32 *slots = calloc(lb->max_backends, sizeof(*slots));
	__u32 *table = calloc(vip->ring_size, sizeof(*table));
	struct np_maglev_backend *mb = NULL;
	__u32 *ring = lb->ring[vip->ring_base].backend;
	__u32 *prev = lb->ring[vip->prev_base].backend;
	size_t n, live = 0;
	int err = -ENOMEM;

	if (!slots || !table)
		goto out;
	n = service_backends(lb, vip->id, slots);
	mb = calloc(n ? n : 1, sizeof(*mb));
	if (!mb)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct netprobe_lb_backend *be = &lb->backends[slots[i]];

		if (be->flags & NETPROBE_LB_BE_DRAINING)
			continue;
		memcpy(mb[live].id, be->addr, 16);
		mb[live].id[16] = be->family;
		mb[live].weight = be->weight;
		slots[live++] = slots[i];
	}
	err = np_maglev_build(mb, live, table, vip->ring_size);
	if (err && err != -ENOENT)
		goto out;
	for (__u32 i = 0; i < vip->ring_size; i++) {
		__u32 cur = __atomic_load_n(&ring[i], __ATOMIC_RELAXED);
		__u32 kept = __atomic_load_n(&prev[i], __ATOMIC_RELAXED);

		if (!slot_drains(lb, kept, vip->id))
			kept = slot_drains(lb, cur, vip->id) ? cur : NETPROBE_LB_NO_BACKEND;
		__atomic_store_n(&prev[i], kept, __ATOMIC_RELAXED);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (__u32 i = 0; i < vip->ring_size; i++)
		__atomic_store_n(&ring[i],
				 table[i] == UINT32_MAX ? NETPROBE_LB_NO_BACKEND : slots[table[i]],
				 __ATOMIC_RELAXED);
	err = 0;
out:
	free(slots);
	free(table);
	free(mb);
	return err;
}

/*
 * This host's address towards the backend (the kernel's choice of source
 * for a packet to it), for the outer header. A connected UDP socket sends
 * nothing.
 */
static int route_source(unsigned char family, const unsigned char *addr, unsigned char *src)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	int fd, err = 0;

	if (family == NETPROBE_FAMILY_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(9);
		memcpy(&sin->sin_addr, addr, 4);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(9);
		memcpy(&sin6->sin6_addr, addr, 16);
		len = sizeof(*sin6);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len))
		err = -errno;
	close(fd);
	if (err)
		return err;
	memset(src, 0, 16);
	if (family == NETPROBE_FAMILY_IPV4)
		memcpy(src, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(src, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	return 0;
}

/*
 * One ICMP echo request to the backend, so that the kernel resolves the
 * next hop's MAC address before the first flow needs it (XDP only looks
 * neighbours up). Best effort: the reply does not matter.
 */
static void ping_backend(unsigned char family, const unsigned char *addr)
{
	struct sockaddr_storage ss = {};
	struct icmphdr echo = {.type = ICMP_ECHO};
	socklen_t len;
	int fd;

	if (family == NETPROBE_FAMILY_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		__u32 sum = 0;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
		len = sizeof(*sin);
		echo.un.echo.id = htons(getpid());
		for (size_t i = 0; i < sizeof(echo) / 2; i++)
			sum += ((__u16 *)&echo)[i];
		sum = (sum & 0xffff) + (sum >> 16);
		echo.checksum = ~(sum + (sum >> 16));
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
		len = sizeof(*sin6);
		echo.type = ICMP6_ECHO_REQUEST; /* the kernel fills in ICMPv6 checksums */
		fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	}
	if (fd < 0)
		return;
	if (sendto(fd, &echo, sizeof(echo), MSG_DONTWAIT, (struct sockaddr *)&ss, len) < 0)
		np_debug("could not ping the backend: %s", strerror(errno));
	close(fd);
}

/* Addresses no packet can be sent to: unspecified, loopback, multicast, broadcast. */
static bool unusable_backend(int family, const unsigned char *a)
{
	static const unsigned char zero[16];

	if (family == NETPROBE_FAMILY_IPV4)
		return a[0] == 0 || a[0] == 127 || a[0] >= 224;
	return !memcmp(a, zero, 16) || (!memcmp(a, zero, 15) && a[15] == 1) || a[0] == 0xff;
}

static int parse_backend(const char *backend, const struct netprobe_lb_service *s,
			 unsigned char addr[16])
{
	int family = backend ? parse_addr(backend, strlen(backend), addr) : 0;

	if (!family || (family == NETPROBE_FAMILY_IPV4 && backend[0] == '[')) {
		np_err("'%s' is not an IPv4 or IPv6 address", backend ? backend : "(null)");
		return -EINVAL;
	}
	if (unusable_backend(family, addr)) {
		np_err("%s cannot be a backend (unspecified, loopback, multicast or broadcast)",
		       backend);
		return -EINVAL;
	}
	if (family != s->family) {
		np_err("backend %s and service address are of different families (IPv%d, IPv%d)",
		       backend, family, s->family);
		return -EINVAL;
	}
	return 0;
}

static int check_weight(unsigned int weight)
{
	if (weight == 0 || weight > NETPROBE_LB_MAX_WEIGHT) {
		np_err("a weight is 1..%u (to stop new flows to a backend, drain it)",
		       NETPROBE_LB_MAX_WEIGHT);
		return -EINVAL;
	}
	return 0;
}

/* ---- The API ------------------------------------------------------------ */

int netprobe_lb_service_add(struct netprobe_manager *m, const char *service)
{
	return netprobe_lb_service_add_opts(m, service, NULL);
}

int netprobe_lb_service_add_opts(struct netprobe_manager *m, const char *service,
				 const struct netprobe_lb_service_opts *opts)
{
	struct netprobe_lb_vip_key key, next, *prev = NULL;
	struct netprobe_lb_service s;
	struct netprobe_lb_vip vip = {};
	unsigned int table_size;
	bool *used;
	int lock, err;

	if (!m || !m->lb ||
	    !np_opts_valid(opts, NP_OFFSETOFEND(struct netprobe_lb_service_opts, table_size)))
		return -EINVAL;
	err = netprobe_lb_service_parse(service, &s);
	if (err)
		return err;
	table_size = NP_OPTS_GET(opts, table_size, 0) ?: m->opts.state.lb_table_size;
	if (!np_in_range("lb_table_size", "a service's table_size", table_size))
		return -EINVAL;
	if (!np_is_prime(table_size)) {
		np_err("service %s: the Maglev table size must be a prime, not %u", service,
		       table_size);
		return -EINVAL;
	}
	key = vip_key(&s);
	used = calloc(m->lb->max_services, sizeof(*used));
	if (!used)
		return -ENOMEM;
	lock = lb_lock(m, true);
	if (lock < 0) {
		free(used);
		return lock;
	}
	if (bpf_map_lookup_elem(m->lb->vips_fd, &key, &vip) == 0) {
		np_err("service %s exists already", service);
		err = -EEXIST;
		goto out;
	}
	while (bpf_map_get_next_key(m->lb->vips_fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(m->lb->vips_fd, &next, &vip) == 0 &&
		    vip.id < m->lb->max_services)
			used[vip.id] = true;
		key = next;
		prev = &key;
	}
	key = vip_key(&s);
	vip = (struct netprobe_lb_vip){.ring_size = table_size};
	while (vip.id < m->lb->max_services && used[vip.id])
		vip.id++;
	if (vip.id == m->lb->max_services) {
		np_err("the service table is full (%u services; config lb_max_services)",
		       m->lb->max_services);
		err = -ENOSPC;
		goto out;
	}
	if (np_lb_table_chunks(vip.ring_size) > m->lb->chunks) {
		np_err("a Maglev table of %u entries does not fit: the pinned state has room for "
		       "%u "
		       "a service (lb_table_size when it was made)",
		       vip.ring_size, m->lb->chunks * NETPROBE_LB_RING_WORDS);
		err = -ENOSPC;
		goto out;
	}
	vip.ring_base = vip.id * NP_LB_TABLES * m->lb->chunks;
	vip.prev_base = vip.ring_base + m->lb->chunks;
	err = np_zero_percpu(m, m->maps->maps.np_lb_vip_stats, vip.id,
			     sizeof(struct netprobe_lb_stats));
	if (!err)
		err = rebuild_table(m, &vip); /* no backends yet: every entry is NO_BACKEND */
	if (!err && bpf_map_update_elem(m->lb->vips_fd, &key, &vip, BPF_NOEXIST))
		err = -errno;
	if (err)
		np_err("cannot add service %s: %s", service, strerror(-err));
out:
	lb_unlock(m, lock);
	free(used);
	return err;
}

/* Takes a backend out of its service's table: it gets no new flows. */
static int drain_backend(struct netprobe_manager *m, const struct netprobe_lb_vip *vip, __u32 slot)
{
	struct netprobe_lb_backend *be = &m->lb->backends[slot];
	__u8 flags = be->flags;
	int err;

	__atomic_store_n(&be->flags, flags | NETPROBE_LB_BE_DRAINING, __ATOMIC_RELEASE);
	err = vip ? rebuild_table(m, vip) : 0;
	if (err)
		__atomic_store_n(&be->flags, flags, __ATOMIC_RELEASE);
	return err;
}

/*
 * Takes a backend out of service: out of the table first (vip NULL: the
 * service is gone already), then its slot freed, then a new generation, so
 * that flows bound to it choose again.
 */
static int retire_backend(struct netprobe_manager *m, const struct netprobe_lb_vip *vip, __u32 slot)
{
	struct netprobe_lb_backend *be = &m->lb->backends[slot];
	int err = drain_backend(m, vip, slot);

	if (err)
		return err;
	__atomic_store_n(&be->flags, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&be->gen, be->gen + 1, __ATOMIC_RELEASE);
	return 0;
}

int netprobe_lb_service_del(struct netprobe_manager *m, const char *service)
{
	struct netprobe_lb_vip_key key;
	struct netprobe_lb_service s;
	struct netprobe_lb_vip vip;
	int lock, err;

	if (!m || !m->lb)
		return -EINVAL;
	lock = lb_lock(m, false);
	if (lock < 0)
		return lock;
	err = find_service(m, service, &s, &vip);
	if (err)
		goto out;
	/* Gone from the datapath first: its packets pass to the kernel from now on. */
	key = vip_key(&s);
	if (bpf_map_delete_elem(m->lb->vips_fd, &key)) {
		err = -errno;
		goto out;
	}
	for (__u32 i = 0; i < m->lb->max_backends; i++) {
		if (slot_in_use(&m->lb->backends[i]) && m->lb->backends[i].vip_id == vip.id)
			retire_backend(m, NULL, i);
	}
	rebuild_table(m, &vip);
out:
	lb_unlock(m, lock);
	return err;
}

int netprobe_lb_backend_add(struct netprobe_manager *m, const char *service, const char *backend,
			    const struct netprobe_lb_backend_opts *opts)
{
	struct netprobe_lb_backend_opts o = {.weight = 1, .forward = NETPROBE_LB_FORWARD_IPIP};
	struct netprobe_lb_backend *be = NULL;
	struct netprobe_lb_service s;
	struct netprobe_lb_vip vip;
	unsigned char addr[16], src[16];
	size_t count = 0;
	int lock, err;

	if (!m || !m->lb)
		return -EINVAL;
	if (opts) {
		if (opts->sz != sizeof(*opts)) {
			np_err("netprobe_lb_backend_opts: sz is %zu, expected %zu", opts->sz,
			       sizeof(*opts));
			return -EINVAL;
		}
		o = *opts;
	}
	if (check_weight(o.weight))
		return -EINVAL;
	if (!netprobe_lb_forward_name(o.forward)) {
		np_err("unknown forwarding method %d", o.forward);
		return -EINVAL;
	}
	lock = lb_lock(m, false);
	if (lock < 0)
		return lock;
	err = find_service(m, service, &s, &vip);
	if (!err)
		err = parse_backend(backend, &s, addr);
	if (err)
		goto out;
	if (find_backend(m->lb, vip.id, s.family, addr) >= 0) {
		np_err("%s is a backend of %s already", backend, service);
		err = -EEXIST;
		goto out;
	}
	err = route_source(s.family, addr, src);
	if (err == -EACCES) {
		np_err("%s is a broadcast address: it cannot be a backend", backend);
		err = -EINVAL;
		goto out;
	}
	if (err) {
		np_err("no route to backend %s from this network namespace: %s", backend,
		       strerror(-err));
		err = -ENETUNREACH;
		goto out;
	}
	if (memcmp(src, addr, 16) == 0) {
		np_err("%s is an address of this host: a backend must be another one", backend);
		err = -EINVAL;
		goto out;
	}
	for (__u32 i = 0; i < m->lb->max_backends; i++) {
		if (!slot_in_use(&m->lb->backends[i])) {
			if (!be)
				be = &m->lb->backends[i];
		} else {
			count += m->lb->backends[i].vip_id == vip.id;
		}
	}
	if (!be || count + 1 >= vip.ring_size) {
		np_err("the backend table is full (%u backends; config lb_max_backends)",
		       m->lb->max_backends);
		err = -ENOSPC;
		goto out;
	}
	err = np_zero_percpu(m, m->maps->maps.np_lb_backend_stats, be - m->lb->backends,
			     sizeof(struct netprobe_lb_stats));
	if (err)
		goto out;
	memcpy(be->addr, addr, 16);
	memcpy(be->encap_src, src, 16);
	be->vip_id = vip.id;
	be->weight = o.weight;
	be->family = s.family;
	be->forward = o.forward;
	__atomic_store_n(&be->flags, NETPROBE_LB_BE_IN_USE, __ATOMIC_RELEASE);
	err = rebuild_table(m, &vip);
	if (err) {
		/* No table holds the slot (a rebuild writes only when it succeeds): free it. */
		__atomic_store_n(&be->flags, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&be->gen, be->gen + 1, __ATOMIC_RELEASE);
		goto out;
	}
	ping_backend(s.family, addr);
out:
	lb_unlock(m, lock);
	return err;
}

/* Finds service and backend under the lock; 0 with *vip and *slot set. */
static int find_service_backend(struct netprobe_manager *m, const char *service,
				const char *backend, struct netprobe_lb_vip *vip, __u32 *slot)
{
	struct netprobe_lb_service s;
	unsigned char addr[16];
	long found;
	int err;

	err = find_service(m, service, &s, vip);
	if (!err)
		err = parse_backend(backend, &s, addr);
	if (err)
		return err;
	found = find_backend(m->lb, vip->id, s.family, addr);
	if (found < 0) {
		np_err("%s is not a backend of %s", backend, service);
		return -ENOENT;
	}
	*slot = found;
	return 0;
}

enum backend_change { BACKEND_DEL, BACKEND_DRAIN, BACKEND_WEIGHT };

static int change_backend(struct netprobe_manager *m, const char *service, const char *backend,
			  enum backend_change change, unsigned int weight)
{
	struct netprobe_lb_backend *be;
	struct netprobe_lb_vip vip;
	__u32 slot;
	int lock, err;

	if (!m || !m->lb)
		return -EINVAL;
	if (change == BACKEND_WEIGHT && check_weight(weight))
		return -EINVAL;
	lock = lb_lock(m, false);
	if (lock < 0)
		return lock;
	err = find_service_backend(m, service, backend, &vip, &slot);
	if (err)
		goto out;
	be = &m->lb->backends[slot];
	switch (change) {
	case BACKEND_DEL:
		err = retire_backend(m, &vip, slot);
		break;
	case BACKEND_DRAIN:
		err = drain_backend(m, &vip, slot);
		break;
	case BACKEND_WEIGHT:
		be->weight = weight;
		__atomic_store_n(&be->flags, be->flags & ~NETPROBE_LB_BE_DRAINING,
				 __ATOMIC_RELEASE);
		err = rebuild_table(m, &vip);
		break;
	}
out:
	lb_unlock(m, lock);
	return err;
}

int netprobe_lb_backend_del(struct netprobe_manager *m, const char *service, const char *backend)
{
	return change_backend(m, service, backend, BACKEND_DEL, 0);
}

int netprobe_lb_backend_drain(struct netprobe_manager *m, const char *service, const char *backend)
{
	return change_backend(m, service, backend, BACKEND_DRAIN, 0);
}

int netprobe_lb_backend_set_weight(struct netprobe_manager *m, const char *service,
				   const char *backend, unsigned int weight)
{
	return change_backend(m, service, backend, BACKEND_WEIGHT, weight);
}

/* ---- Statistics ------------------------------------------------------- */

static int read_lb_stats(const struct netprobe_manager *m, const struct bpf_map *map, __u32 index,
			 struct netprobe_lb_counters *out)
{
	struct netprobe_lb_stats sum;
	int err = np_read_percpu_sum(m, map, index, &sum, sizeof(sum));

	if (err)
		return err;
	out->packets = sum.packets;
	out->bytes = sum.bytes;
	out->new_conns = sum.new_conns;
	out->drops = sum.drops;
	return 0;
}

/* One service's info and backends; the caller frees info->backends. */
static int service_info(struct netprobe_manager *m, const struct netprobe_lb_vip_key *key,
			const struct netprobe_lb_vip *vip, struct netprobe_lb_service_info *info,
			__u32 *entries)
{
	struct np_lb *lb = m->lb;
	struct netprobe_lb_backend_info *backends;
	const __u32 *ring = lb->ring[vip->ring_base].backend;
	__u32 *slots = calloc(lb->max_backends, sizeof(*slots));
	size_t n;
	int err;

	if (!slots)
		return -ENOMEM;
	memset(info, 0, sizeof(*info));
	info->service.family = key->family;
	info->service.proto = key->proto;
	info->service.port = ntohs(key->port);
	memcpy(info->service.addr, key->addr, 16);
	netprobe_lb_service_str(&info->service, info->text, sizeof(info->text));
	info->table_size = vip->ring_size;
	err = read_lb_stats(m, m->maps->maps.np_lb_vip_stats, vip->id, &info->counters);
	n = service_backends(lb, vip->id, slots);
	backends = calloc(n ? n : 1, sizeof(*backends));
	if (!backends) {
		free(slots);
		return -ENOMEM;
	}
	memset(entries, 0, lb->max_backends * sizeof(*entries));
	for (__u32 i = 0; i < vip->ring_size; i++) {
		__u32 slot = __atomic_load_n(&ring[i], __ATOMIC_RELAXED);

		if (slot < lb->max_backends)
			entries[slot]++;
	}
	for (size_t i = 0; i < n && !err; i++) {
		const struct netprobe_lb_backend *be = &lb->backends[slots[i]];
		struct netprobe_lb_backend_info *b = &backends[i];

		b->family = be->family;
		memcpy(b->addr, be->addr, 16);
		addr_str(be->family, be->addr, b->text, sizeof(b->text));
		b->weight = be->weight;
		b->draining = be->flags & NETPROBE_LB_BE_DRAINING;
		b->forward = be->forward;
		b->table_entries = entries[slots[i]];
		err = read_lb_stats(m, m->maps->maps.np_lb_backend_stats, slots[i], &b->counters);
	}
	free(slots);
	info->backends = backends;
	info->nbackends = n;
	if (err) {
		free(backends);
		info->backends = NULL;
	}
	return err;
}

static int by_id(const void *a, const void *b)
{
	const struct netprobe_lb_vip *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

int netprobe_manager_lb_stats(struct netprobe_manager *m, netprobe_lb_fn fn, void *ctx)
{
	struct {
		struct netprobe_lb_vip vip; /* first: by_id sorts on it */
		struct netprobe_lb_vip_key key;
	} *list = NULL;
	struct netprobe_lb_vip_key key, next, *prev = NULL;
	size_t n = 0;
	__u32 *entries = NULL;
	int err = 0;

	if (!m || !m->lb || !fn)
		return -EINVAL;
	pthread_mutex_lock(&m->lb->lock);
	list = calloc(m->lb->max_services, sizeof(*list));
	entries = calloc(m->lb->max_backends, sizeof(*entries));
	if (!list || !entries) {
		err = -ENOMEM;
		goto out;
	}
	while (n < m->lb->max_services && bpf_map_get_next_key(m->lb->vips_fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(m->lb->vips_fd, &next, &list[n].vip) == 0)
			list[n++].key = next;
		key = next;
		prev = &key;
	}
	qsort(list, n, sizeof(*list), by_id);
	for (size_t i = 0; i < n && !err; i++) {
		struct netprobe_lb_service_info info;

		err = service_info(m, &list[i].key, &list[i].vip, &info, entries);
		if (err)
			break;
		err = fn(&info, ctx);
		free((void *)info.backends);
	}
out:
	pthread_mutex_unlock(&m->lb->lock);
	free(list);
	free(entries);
	return err;
}
