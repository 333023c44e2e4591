// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Manager lifecycle: configuration, the pinned maps, and the pin directory lock. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "internal.h"
#include "netprobe.skel.h"
#include "maglev.h"

void netprobe_config_default(struct netprobe_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->sz = sizeof(*cfg);
	cfg->xdp_mode = NETPROBE_XDP_MONITOR;
	cfg->xdp_attach_mode = NETPROBE_XDP_ATTACH_AUTO;
	cfg->tc_attach_mode = NETPROBE_TC_ATTACH_AUTO;
	cfg->enable_xdp_events = true;
	cfg->enable_tc_events = true;
	cfg->enable_security_alerts = true;
	cfg->detailed_events_per_sec = 10000;
	cfg->batch_size = 64;
	cfg->batch_timeout_ms = 100;
	cfg->event_workers = 2;
	cfg->event_queue_batches = 256;
	cfg->ring_buffer_size = 1u << 22;
	cfg->stats_report_interval_ms = 10000;
	cfg->flow_idle_timeout_ms = 60000;
	cfg->flow_table_size = NETPROBE_DEFAULT_FLOW_ENTRIES;
	strcpy(cfg->pin_path, NETPROBE_DEFAULT_PIN_PATH);
	/*
	 * Far above what one ordinary host sends one other: a busy client opens
	 * tens of connections a second, a resolver answers hundreds of queries.
	 */
	cfg->syn_flood = (struct netprobe_detection){true, 2000, 1000};
	cfg->udp_flood = (struct netprobe_detection){true, 20000, 1000};
	cfg->icmp_flood = (struct netprobe_detection){true, 1000, 1000};
	cfg->syn_flood_dst = (struct netprobe_detection){true, 20000, 1000};
	cfg->udp_flood_dst = (struct netprobe_detection){true, 200000, 1000};
	cfg->icmp_flood_dst = (struct netprobe_detection){true, 5000, 1000};
	cfg->port_scan = (struct netprobe_detection){true, 50, 5000};
	cfg->port_scan_hosts = 100; /* (at most 128: see validate_filter) */
	/*
	 * Off by default: against a learned baseline, a backup or a deploy
	 * starting on a quiet link is as anomalous as a flood. Turn it on where
	 * traffic is steady, with a floor above the link's normal peaks.
	 */
	cfg->rate_anomaly = (struct netprobe_detection){false, 1000, 1000};
	cfg->rate_anomaly_floor_pps = 100000;
	cfg->rate_anomaly_learn_windows = 10;
	cfg->mitigation = false;
	cfg->mitigation_ttl_s = 300;
	cfg->mitigation_max_blocks = 4096;
	cfg->security_alerts_per_sec = 1000;
	cfg->acl_max_rules = NETPROBE_DEFAULT_ACL_RULES;
	cfg->acl_v4_groups = 4096;
	cfg->lb_max_services = 32;
	cfg->lb_max_backends = 4096;
	cfg->lb_table_size = NP_MAGLEV_DEFAULT_SIZE;
	cfg->lb_conn_table_size = 131072;
	cfg->lb_route_cache_ms = 1000;
}

static int validate_detection(const char *name, const struct netprobe_detection *d, bool rate)
{
	if (d->enabled && (d->threshold == 0 || d->window_ms < 10 || d->window_ms > 3600000)) {
		np_err("config: %s needs a threshold > 0 and a window of 10 ms to 1 hour", name);
		return -EINVAL;
	}
	/* A rate that comes to one packet a window would make every packet a flood. */
	if (d->enabled && rate && (unsigned long long)d->threshold * d->window_ms < 2000) {
		np_err("config: %s: %u a second over %u ms is under 2 packets a window; "
		       "use a longer window",
		       name, d->threshold, d->window_ms);
		return -EINVAL;
	}
	return 0;
}

/* The config's detections by name: the one table validation and callers share. */
static const struct {
	const char *name;
	size_t offset;
	bool rate; /* a rate a second (the floods), else a count */
} detection_fields[] = {
	{"syn_flood", offsetof(struct netprobe_config, syn_flood), true},
	{"udp_flood", offsetof(struct netprobe_config, udp_flood), true},
	{"icmp_flood", offsetof(struct netprobe_config, icmp_flood), true},
	{"syn_flood_dst", offsetof(struct netprobe_config, syn_flood_dst), true},
	{"udp_flood_dst", offsetof(struct netprobe_config, udp_flood_dst), true},
	{"icmp_flood_dst", offsetof(struct netprobe_config, icmp_flood_dst), true},
	{"port_scan", offsetof(struct netprobe_config, port_scan), false},
	{"rate_anomaly", offsetof(struct netprobe_config, rate_anomaly), false},
};

struct netprobe_detection *netprobe_config_detection(struct netprobe_config *cfg, const char *name,
						     size_t name_len)
{
	for (size_t i = 0;
	     cfg && name && i < sizeof(detection_fields) / sizeof(detection_fields[0]); i++)
		if (strlen(detection_fields[i].name) == name_len &&
		    !strncmp(detection_fields[i].name, name, name_len))
			return (struct netprobe_detection *)((char *)cfg +
							     detection_fields[i].offset);
	return NULL;
}

static int validate_filter(const struct netprobe_config *cfg)
{
	for (size_t i = 0; i < sizeof(detection_fields) / sizeof(detection_fields[0]); i++)
		if (validate_detection(
			    detection_fields[i].name,
			    (const void *)((const char *)cfg + detection_fields[i].offset),
			    detection_fields[i].rate))
			return -EINVAL;
	/*
	 * Ports and hosts go into 512- and 256-bit sets by hash: past half of
	 * a set, collisions make the count too slow to trust.
	 */
	if (cfg->port_scan.enabled && cfg->port_scan.threshold > 256) {
		np_err("config: port_scan counts at most 256 distinct ports a window");
		return -EINVAL;
	}
	if (cfg->port_scan.enabled && (cfg->port_scan_hosts == 0 || cfg->port_scan_hosts > 128)) {
		np_err("config: port_scan_hosts must be 1..128");
		return -EINVAL;
	}
	if (cfg->rate_anomaly.enabled && cfg->rate_anomaly.threshold <= 100) {
		np_err("config: rate_anomaly threshold is a percentage of the baseline, above 100");
		return -EINVAL;
	}
	if (cfg->mitigation &&
	    (cfg->mitigation_ttl_s == 0 || cfg->mitigation_ttl_s > NETPROBE_ACL_MAX_TTL_S)) {
		np_err("config: mitigation_ttl_s must be 1..%u", NETPROBE_ACL_MAX_TTL_S);
		return -EINVAL;
	}
	if (cfg->acl_max_rules < 64 || cfg->acl_max_rules > (1u << 24) ||
	    cfg->mitigation_max_blocks == 0 ||
	    cfg->mitigation_max_blocks >= cfg->acl_max_rules / 2 || cfg->acl_v4_groups < 16 ||
	    cfg->acl_v4_groups > (1u << 20) || cfg->security_alerts_per_sec == 0) {
		np_err("config: acl_max_rules 64..%u, mitigation_max_blocks 1..acl_max_rules/2, "
		       "acl_v4_groups 16..%u, security_alerts_per_sec > 0",
		       1u << 24, 1u << 20);
		return -EINVAL;
	}
	return 0;
}

/* Tunnels are unwrapped only from the sources named, to the addresses named. */
static int validate_decap(const struct netprobe_config *cfg)
{
	const struct netprobe_cidr *sets[2] = {cfg->decap_from, cfg->decap_to};
	unsigned int counts[2] = {cfg->decap_from_count, cfg->decap_to_count};

	if (counts[0] > NETPROBE_DECAP_MAX || counts[1] > NETPROBE_DECAP_MAX) {
		np_err("config: decap_from and decap_to hold %d prefixes each at most",
		       NETPROBE_DECAP_MAX);
		return -EINVAL;
	}
	if (cfg->decap && !counts[0]) {
		np_err("config: decap needs the tunnel sources it may unwrap from (decap_from, "
		       "--decap-from CIDR: the load balancers' addresses); unwrapping any "
		       "sender's tunnel would let anyone pick the source the filter sees");
		return -EINVAL;
	}
	for (int s = 0; s < 2; s++) {
		for (unsigned int i = 0; i < counts[s]; i++) {
			const struct netprobe_cidr *c = &sets[s][i];

			if ((c->family != NETPROBE_FAMILY_IPV4 || c->prefix_len > 32) &&
			    (c->family != NETPROBE_FAMILY_IPV6 || c->prefix_len > 128)) {
				np_err("config: %s[%u] is not an IPv4 or IPv6 prefix",
				       s ? "decap_to" : "decap_from", i);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int np_validate_config(const struct netprobe_config *cfg)
{
	if (cfg->sz != sizeof(*cfg)) {
		np_err("config: sz is %zu, expected %zu (start from netprobe_config_default())",
		       cfg->sz, sizeof(*cfg));
		return -EINVAL;
	}
	if (cfg->xdp_mode > NETPROBE_XDP_LB) {
		np_err("config: unknown xdp_mode %d", cfg->xdp_mode);
		return -EINVAL;
	}
	if (cfg->xdp_attach_mode > NETPROBE_XDP_ATTACH_GENERIC ||
	    cfg->tc_attach_mode > NETPROBE_TC_ATTACH_CLSACT) {
		np_err("config: unknown xdp_attach_mode or tc_attach_mode");
		return -EINVAL;
	}
	if (cfg->flow_table_size < 1024 || cfg->flow_table_size > (1u << 26)) {
		np_err("config: flow_table_size %u is outside 1024..%u", cfg->flow_table_size,
		       1u << 26);
		return -EINVAL;
	}
	if (cfg->batch_size == 0 || cfg->batch_size > 65536 || cfg->batch_timeout_ms == 0 ||
	    cfg->event_workers == 0 || cfg->event_workers > 64 || cfg->event_queue_batches < 2 ||
	    cfg->event_queue_batches > 65536) {
		np_err("config: batch_size 1..65536, batch_timeout_ms > 0, event_workers 1..64, "
		       "event_queue_batches 2..65536");
		return -EINVAL;
	}
	if (cfg->ring_buffer_size < 4096 || (cfg->ring_buffer_size & (cfg->ring_buffer_size - 1))) {
		np_err("config: ring_buffer_size %u is not a power of two >= 4096",
		       cfg->ring_buffer_size);
		return -EINVAL;
	}
	if (validate_filter(cfg) || validate_decap(cfg))
		return -EINVAL;
	if (cfg->lb_max_services == 0 || cfg->lb_max_services > 4096 || cfg->lb_max_backends == 0 ||
	    cfg->lb_max_backends > (1u << 20) || !np_is_prime(cfg->lb_table_size) ||
	    cfg->lb_table_size < 101 || cfg->lb_table_size > NP_LB_MAX_TABLE_SIZE ||
	    cfg->lb_conn_table_size < 1024 || cfg->lb_conn_table_size > (1u << 26) ||
	    cfg->lb_route_cache_ms > 60000 ||
	    (unsigned long long)cfg->lb_max_services * NP_LB_TABLES *
			    np_lb_ring_chunks(cfg->lb_table_size) *
			    sizeof(struct netprobe_lb_ring_chunk) >
		    NP_LB_MAX_TABLE_BYTES) {
		np_err("config: lb_max_services 1..4096, lb_max_backends 1..%u, lb_table_size a "
		       "prime in 101..%u, lb_conn_table_size 1024..%u, lb_route_cache_ms 0..60000; "
		       "the Maglev tables (lb_max_services x %d x lb_table_size x 4 bytes: each "
		       "service's current and previous table) %u MiB at most",
		       1u << 20, NP_LB_MAX_TABLE_SIZE, 1u << 26, NP_LB_TABLES,
		       NP_LB_MAX_TABLE_BYTES >> 20);
		return -EINVAL;
	}
	size_t len = strnlen(cfg->pin_path, sizeof(cfg->pin_path));

	if (cfg->pin_path[0] != '/' || len == sizeof(cfg->pin_path) || len < 2 ||
	    cfg->pin_path[len - 1] == '/') {
		np_err("config: pin_path must be an absolute path of a directory below /, "
		       "without a trailing '/', shorter than %d bytes",
		       NETPROBE_PIN_PATH_MAX);
		return -EINVAL;
	}
	return 0;
}

struct netprobe_manager *netprobe_manager_new(const struct netprobe_config *cfg)
{
	struct netprobe_manager *m;
	int err;

	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	if (cfg)
		m->cfg = *cfg;
	else
		netprobe_config_default(&m->cfg);
	err = np_validate_config(&m->cfg);
	if (err) {
		free(m);
		errno = -err;
		return NULL;
	}
	pthread_mutex_init(&m->clock_lock, NULL);
	np_log_install_libbpf();
	return m;
}

int netprobe_manager_get_config(const struct netprobe_manager *m, struct netprobe_config *out)
{
	if (!m || !out)
		return -EINVAL;
	*out = m->cfg;
	return 0;
}

void netprobe_manager_free(struct netprobe_manager *m)
{
	if (!m)
		return;
	netprobe_manager_events_stop(m);
	if (m->maps) {
		/* State that nothing uses (load without attach, a failed attach) goes too. */
		int lock = np_lock(m);

		if (lock >= 0 && np_state_unused(m))
			np_unpin_state(m);
		np_unlock(lock);
	}
	np_lb_close(m);
	np_acl_close(m);
	netprobe_bpf__destroy(m->test_emitter);
	netprobe_bpf__destroy(m->maps);
	pthread_mutex_destroy(&m->clock_lock);
	free(m);
}

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/* The directory a pin path lives in ("/" for "/x"). */
static void parent_dir(const char *path, char *out, size_t len)
{
	char *slash;

	snprintf(out, len, "%s", path);
	slash = strrchr(out, '/');
	slash[slash == out] = '\0';
}

/* The pin path must live on bpffs; mount the standard one if nobody has. */
static int ensure_bpffs(const char *pin_path)
{
	char parent[NETPROBE_PIN_PATH_MAX];

	parent_dir(pin_path, parent, sizeof(parent));
	if (is_bpffs(parent))
		return 0;
	if (strcmp(parent, "/sys/fs/bpf") == 0) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
			return 0;
		np_err("bpffs is not mounted at /sys/fs/bpf and mounting it failed: %s "
		       "(run: mount -t bpf bpf /sys/fs/bpf)",
		       strerror(errno));
		return -errno;
	}
	np_err("pin path %s: %s is not on a bpf filesystem", pin_path, parent);
	return -ENOTDIR;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST) {
		np_err("cannot create %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int pin_dirs(const struct netprobe_manager *m)
{
	char links[NETPROBE_PIN_PATH_MAX + 8];
	int err;

	err = make_dir(m->cfg.pin_path);
	if (err)
		return err;
	snprintf(links, sizeof(links), "%s/links", m->cfg.pin_path);
	return make_dir(links);
}

static void remove_empty_dirs(const struct netprobe_manager *m)
{
	char links[NETPROBE_PIN_PATH_MAX + 8];

	snprintf(links, sizeof(links), "%s/links", m->cfg.pin_path);
	rmdir(links);
	rmdir(m->cfg.pin_path);
}

/* A map pinned by an earlier netprobe keeps its size; ours must match it to reuse it. */
/* max_entries of the pinned map name, or 0 when there is none. */
static __u32 pinned_size(const struct netprobe_manager *m, const char *name)
{
	char path[NETPROBE_PIN_PATH_MAX + 16];
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", m->cfg.pin_path, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

static void adopt_pinned_size(const struct netprobe_manager *m, const char *name,
			      unsigned int *size)
{
	__u32 pinned = pinned_size(m, name);

	if (pinned && pinned != *size) {
		np_info("%s is pinned with size %u (config asks %u); keeping %u until "
			"everything is detached",
			name, pinned, *size, pinned);
		*size = pinned;
	}
}

int netprobe_manager_load(struct netprobe_manager *m)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = m ? m->cfg.pin_path : NULL);
	struct netprobe_bpf *skel;
	struct bpf_program *prog;
	int err;

	if (!m)
		return -EINVAL;
	if (m->maps)
		return 0;
	err = ensure_bpffs(m->cfg.pin_path);
	if (err)
		return err;
	err = pin_dirs(m);
	if (err)
		return err;
	adopt_pinned_size(m, "np_flows", &m->cfg.flow_table_size);
	adopt_pinned_size(m, "np_events", &m->cfg.ring_buffer_size);
	adopt_pinned_size(m, "np_acl_rules", &m->cfg.acl_max_rules);
	adopt_pinned_size(m, "np_acl_v4_tbl8", &m->cfg.acl_v4_groups);
	adopt_pinned_size(m, "np_lb_vip_stats", &m->cfg.lb_max_services);
	adopt_pinned_size(m, "np_lb_backends", &m->cfg.lb_max_backends);
	adopt_pinned_size(m, "np_lb_conns", &m->cfg.lb_conn_table_size);

	skel = netprobe_bpf__open_opts(&opts);
	if (!skel) {
		err = -errno;
		np_err("cannot open the BPF object: %s", strerror(-err));
		goto fail;
	}
	/* This copy creates (or finds) the maps; the datapath loads per interface. */
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, prog == skel->progs.netprobe_clock);
	bpf_map__set_max_entries(skel->maps.np_flows, m->cfg.flow_table_size);
	bpf_map__set_max_entries(skel->maps.np_events, m->cfg.ring_buffer_size);
	bpf_map__set_max_entries(skel->maps.np_acl_v4_tbl8, m->cfg.acl_v4_groups);
	bpf_map__set_max_entries(skel->maps.np_acl_rules, m->cfg.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_acl_hits, m->cfg.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_acl_v4_exact, m->cfg.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_acl_v6_exact, m->cfg.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_acl_v6_trie, m->cfg.acl_max_rules);
	bpf_map__set_max_entries(skel->maps.np_lb_vips, m->cfg.lb_max_services);
	bpf_map__set_max_entries(skel->maps.np_lb_vip_stats, m->cfg.lb_max_services);
	/* Pinned Maglev tables keep their room; a service too big for it is refused at add. */
	bpf_map__set_max_entries(skel->maps.np_lb_ring,
				 pinned_size(m, "np_lb_ring")
					 ?: m->cfg.lb_max_services * NP_LB_TABLES *
						    np_lb_ring_chunks(m->cfg.lb_table_size));
	bpf_map__set_max_entries(skel->maps.np_lb_backends, m->cfg.lb_max_backends);
	bpf_map__set_max_entries(skel->maps.np_lb_backend_stats, m->cfg.lb_max_backends);
	bpf_map__set_max_entries(skel->maps.np_lb_routes, m->cfg.lb_max_backends);
	bpf_map__set_max_entries(skel->maps.np_lb_conns, m->cfg.lb_conn_table_size);

	err = netprobe_bpf__load(skel);
	if (err) {
		if (err == -EPERM)
			np_err("loading BPF maps was refused: run as root (CAP_BPF and "
			       "CAP_NET_ADMIN are needed)");
		else if (err == -EINVAL)
			np_err("the maps pinned at %s do not match this netprobe (left by "
			       "another version?); detach everything and remove that directory",
			       m->cfg.pin_path);
		else
			np_err("cannot create the BPF maps: %s", strerror(-err));
		goto fail;
	}
	m->ncpus = libbpf_num_possible_cpus();
	if (m->ncpus < 0) {
		err = m->ncpus;
		goto fail;
	}
	m->maps = skel;
	err = np_acl_open(m);
	if (!err) {
		err = np_lb_open(m);
		if (err)
			np_acl_close(m);
	}
	if (err) {
		m->maps = NULL;
		goto fail;
	}
	return 0;
fail:
	/* libbpf unpins what it pinned; the directories go too, if they are empty. */
	netprobe_bpf__destroy(skel);
	remove_empty_dirs(m);
	return err;
}

int np_map_fd(const struct netprobe_manager *m, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(m->maps->obj, name);

	return map ? bpf_map__fd(map) : -ENOENT;
}

void *np_map_mmap(const struct netprobe_manager *m, const char *name, size_t *len)
{
	int fd = np_map_fd(m, name);
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	void *p;

	*len = 0;
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return NULL;
	*len = (size_t)info.max_entries * info.value_size;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Pins the maps again after the last detach (here or in another process) removed them. */
int np_pin_state(struct netprobe_manager *m)
{
	struct bpf_map *map;
	int err;

	err = pin_dirs(m);
	if (err)
		return err;
	bpf_object__for_each_map(map, m->maps->obj)
	{
		const char *path = bpf_map__pin_path(map);

		if (!path || access(path, F_OK) == 0)
			continue;
		if (bpf_obj_pin(bpf_map__fd(map), path)) {
			np_err("cannot pin map %s at %s: %s", bpf_map__name(map), path,
			       strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static __u32 obj_id(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* Whether the object pinned at path is the map behind fd. */
static bool pinned_is(const char *path, int fd)
{
	int pinned = bpf_obj_get(path);
	bool same;

	if (pinned < 0)
		return false;
	same = obj_id(pinned) == obj_id(fd);
	close(pinned);
	return same;
}

/* Nothing attached, no list entries, no event consumer: the pinned state can go. */
bool np_state_unused(const struct netprobe_manager *m)
{
	return !np_anything_attached(m) && !np_acl_has_rules(m) && !np_lb_has_services(m) &&
	       !np_events_consumer_elsewhere(m);
}

int np_state_lock(struct netprobe_manager *m, bool pin)
{
	int lock = np_lock(m), err;

	if (lock < 0)
		return lock;
	if (!np_pinned_here(m, "np_counters")) {
		np_err("the state under %s changed since this manager loaded it; open a new "
		       "manager (run the command again)",
		       m->cfg.pin_path);
		np_unlock(lock);
		return -ESTALE;
	}
	err = pin ? np_pin_state(m) : 0;
	if (err) {
		np_unlock(lock);
		return err;
	}
	return lock;
}

bool np_pinned_here(const struct netprobe_manager *m, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(m->maps->obj, name);
	const char *path = map ? bpf_map__pin_path(map) : NULL;

	return !path || access(path, F_OK) || pinned_is(path, bpf_map__fd(map));
}

/* Removes the pinned maps and directories; the manager's own fds stay valid. */
void np_unpin_state(struct netprobe_manager *m)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, m->maps->obj)
	{
		/* Only our own map: the pin may have been replaced by another netprobe since. */
		if (bpf_map__pin_path(map) && pinned_is(bpf_map__pin_path(map), bpf_map__fd(map)))
			unlink(bpf_map__pin_path(map));
	}
	remove_empty_dirs(m);
}

/*
 * Attach and detach are serialised across processes with a lock on the pin
 * path's parent directory, which exists before and after our own state does.
 */
int np_lock(const struct netprobe_manager *m)
{
	char parent[NETPROBE_PIN_PATH_MAX];
	int fd;

	parent_dir(m->cfg.pin_path, parent, sizeof(parent));
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		np_err("cannot open %s to lock it: %s", parent, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void np_unlock(int lock_fd)
{
	if (lock_fd >= 0)
		close(lock_fd);
}

/*
 * The ring buffer's consumer holds an flock on the pin directory: a ring
 * buffer has one consumer position. Returns the locked fd, or -EBUSY while
 * another manager consumes.
 */
int np_consumer_lock(const struct netprobe_manager *m)
{
	int fd = open(m->cfg.pin_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	err = errno == EWOULDBLOCK ? -EBUSY : -errno;
	close(fd);
	return err;
}

bool np_events_consumer_elsewhere(const struct netprobe_manager *m)
{
	int fd = np_consumer_lock(m);

	if (fd >= 0)
		close(fd);
	return fd == -EBUSY;
}

unsigned long long np_current_netns(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}
