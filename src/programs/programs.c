// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Program loading and specialisation: copies of the BPF object that share
 * the manager's maps, one specialised per interface (slot, mode, the
 * filter's thresholds and switches as const volatile rodata, so that what
 * a mode does not use is removed at load), and copies that load a single
 * program to run with BPF_PROG_RUN.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "programs/programs.h"
#include "netprobe.skel.h"

/*
 * Opens another copy of the object whose maps are the manager's own, with
 * every program's autoload off: callers turn on what they load.
 */
struct netprobe_bpf *np_open_sharing_maps(const struct netprobe_manager *m)
{
	struct netprobe_bpf *skel;
	struct bpf_program *prog;
	struct bpf_map *map;
	int err;

	skel = netprobe_bpf__open();
	if (!skel) {
		np_err("cannot open the BPF object: %s", strerror(errno));
		return NULL;
	}
	bpf_object__for_each_map(map, skel->obj)
	{
		if (!bpf_map__pin_path(map))
			continue; /* .rodata and friends are this copy's own */
		bpf_map__set_pin_path(map, NULL);
		/* Pairs with the manager's own copy of the map: the same definition. */
		err = bpf_map__reuse_fd(map, bpf_map__fd(bpf_object__find_map_by_name(
						     m->maps->obj, bpf_map__name(map))));
		if (err) {
			netprobe_bpf__destroy(skel);
			errno = -err;
			return NULL;
		}
	}
	bpf_object__for_each_program(prog, skel->obj) bpf_program__set_autoload(prog, false);
	return skel;
}

struct netprobe_bpf *np_load_runner(const struct netprobe_manager *m, const char *prog_name)
{
	struct netprobe_bpf *skel = np_open_sharing_maps(m);
	int err;

	if (!skel)
		return NULL;
	bpf_program__set_autoload(bpf_object__find_program_by_name(skel->obj, prog_name), true);
	err = netprobe_bpf__load(skel);
	if (err) {
		netprobe_bpf__destroy(skel);
		errno = -err;
		return NULL;
	}
	return skel;
}

/*
 * A window in whole ticks, rounded up, and the threshold as a count over
 * that rounded window: a 15 ms window at 100 Hz is 2 ticks, and a rate
 * counts over the 20 ms the datapath really uses.
 */
static void detect_param(struct netprobe_detect_param *p, const struct netprobe_detection *d,
			 unsigned int hz, bool per_second)
{
	unsigned long long ticks = ((unsigned long long)d->window_ms * hz + 999) / 1000;
	unsigned long long count;

	ticks = ticks ?: 1;
	count = ((unsigned long long)d->threshold * ticks + hz - 1) / hz;
	p->enabled = d->enabled;
	p->threshold = d->threshold;
	p->window_ms = d->window_ms;
	p->window_jiffies = ticks > UINT32_MAX ? UINT32_MAX : ticks;
	p->count = per_second ? (count > UINT32_MAX ? UINT32_MAX : count ?: 1) : d->threshold;
}

/*
 * The bits of a set of size bits that n distinct members set, expected
 * (linear counting): m (1 - (1 - 1/m)^n), rounded; at least 1.
 */
static __u32 set_bits(unsigned int n, unsigned int m)
{
	double expected = m * (1.0 - pow(1.0 - 1.0 / m, n));
	__u32 bits = (__u32)(expected + 0.5);

	return bits ? bits : 1;
}

/* The filter mode's settings as the datapath wants them: counts a window, in jiffies. */
static int filter_params(struct netprobe_manager *m, const struct netprobe_attach_opts *c,
			 struct netprobe_filter_params *f)
{
	double ns_per_jiffy = np_ns_per_jiffy(m);
	unsigned int hz;

	if (ns_per_jiffy <= 0) {
		np_err("cannot measure the kernel's tick, which the detections count in");
		return -EIO;
	}
	hz = (unsigned int)(1e9 / ns_per_jiffy + 0.5);
	memset(f, 0, sizeof(*f));
	detect_param(&f->src_flood[0], &c->syn_flood, hz, true);
	detect_param(&f->src_flood[1], &c->udp_flood, hz, true);
	detect_param(&f->src_flood[2], &c->icmp_flood, hz, true);
	detect_param(&f->src_flood[NETPROBE_SW_TCP], &c->tcp_flood, hz, true);
	detect_param(&f->src_flood[NETPROBE_SW_OTHER], &c->other_flood, hz, true);
	detect_param(&f->dst_flood[0], &c->syn_flood_dst, hz, true);
	detect_param(&f->dst_flood[1], &c->udp_flood_dst, hz, true);
	detect_param(&f->dst_flood[2], &c->icmp_flood_dst, hz, true);
	detect_param(&f->port_scan, &c->port_scan, hz, false);
	detect_param(&f->rate_anomaly, &c->rate_anomaly, hz, false);
	f->scan_hosts = c->port_scan_hosts;
	/* The hashed sets of failed ports (512 bits) and hosts (256) count bits, not members. */
	f->port_scan.count = set_bits(c->port_scan.threshold, 512);
	f->scan_hosts_bits = set_bits(c->port_scan_hosts, 256);
	f->rate_floor_pps = c->rate_anomaly_floor_pps;
	f->rate_learn_windows = c->rate_anomaly_learn_windows;
	f->mitigate = c->mitigation;
	f->block_unproven = c->mitigation_unproven;
	f->block_ttl_s = c->mitigation_ttl_s;
	f->alerts = c->enable_security_alerts;
	f->alerts_per_sec = c->security_alerts_per_sec;
	f->hz = hz;
	f->ncpus = m->ncpus;
	f->hash_seed = np_state_hash_seed(m);
	f->v6_prefix = np_state_v6_prefix(m, c->ipv6_source_prefix);
	if (f->v6_prefix != c->ipv6_source_prefix) {
		np_err("the state at %s counts IPv6 sources by /%u, which its interfaces share: "
		       "attach with --ipv6-prefix %u, or detach every interface and empty the "
		       "lists to change it",
		       m->opts.state.pin_path, f->v6_prefix, f->v6_prefix);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < 4; i++) {
		unsigned int bits = f->v6_prefix > 32 * i ? f->v6_prefix - 32 * i : 0;

		f->v6_mask[i] = htonl(bits >= 32 ? ~0u : bits ? ~0u << (32 - bits) : 0);
	}
	return 0;
}

/* The tunnels decap may unwrap, as the datapath matches them: masked words and masks. */
static void decap_params(const struct netprobe_attach_opts *c, struct netprobe_decap_params *d)
{
	const struct netprobe_cidr *sets[2] = {c->decap_from, c->decap_to};
	struct netprobe_decap_prefix *out[2] = {d->from, d->to};
	unsigned int counts[2] = {c->decap_from_count, c->decap_to_count};

	memset(d, 0, sizeof(*d));
	d->from_count = counts[0];
	d->to_count = counts[1];
	for (int s = 0; s < 2; s++) {
		for (unsigned int i = 0; i < counts[s] && i < NETPROBE_DECAP_MAX; i++) {
			struct netprobe_decap_prefix *p = &out[s][i];
			unsigned int len = sets[s][i].prefix_len;

			p->family = sets[s][i].family;
			for (int w = 0; w < 4; w++) {
				unsigned int bits = len > 32u * w ? len - 32u * w : 0;

				p->mask[w] = htonl(bits >= 32 ? 0xffffffffu
						   : bits     ? ~0u << (32 - bits)
							      : 0);
				memcpy(&p->addr[w], sets[s][i].addr + (size_t)4 * w, 4);
				p->addr[w] &= p->mask[w];
			}
		}
	}
}

/* Loads the datapath for one interface, specialised for its slot and the config. */
struct netprobe_bpf *np_load_programs(struct netprobe_manager *m, unsigned int slot,
				      unsigned int ifindex, const struct netprobe_attach_opts *a)
{
	struct netprobe_bpf *skel;
	int err, missing = np_kernel_missing_for(a);

	/* What the kernel lacks, named, rather than the verifier's log. */
	if (missing >= 0) {
		const struct np_kernel_feature_info *f = np_kernel_feature(missing);

		np_err("this kernel lacks %s (Linux %s+), needed by %s", f->what, f->since,
		       f->needed_by);
		errno = EOPNOTSUPP;
		return NULL;
	}
	skel = np_open_sharing_maps(m);
	if (!skel)
		return NULL;
	if (a->xdp_mode == NETPROBE_XDP_FILTER) {
		err = filter_params(m, a,
				    (struct netprobe_filter_params *)&skel->rodata->np_filter);
		if (err) {
			netprobe_bpf__destroy(skel);
			errno = -err;
			return NULL;
		}
		/*
		 * Read where the interface lives: this host's addresses (UDP probes
		 * count only towards them), gateways and resolvers (never blocked).
		 * A warning at worst.
		 */
		np_protect_refresh(m, a->ipv6_source_prefix);
	}
	skel->rodata->np_mode = a->xdp_mode;
	skel->rodata->np_decap = a->decap;
	if (a->decap)
		decap_params(a, (struct netprobe_decap_params *)&skel->rodata->np_decap_tunnels);
	if (a->xdp_mode == NETPROBE_XDP_LB && a->lb_route_cache_ms && np_ns_per_jiffy(m) > 0)
		skel->rodata->np_lb_route_ttl =
			(__u32)(a->lb_route_cache_ms * 1e6 / np_ns_per_jiffy(m) + 1);
	bpf_program__set_autoload(skel->progs.netprobe_xdp, true);
	bpf_program__set_autoload(skel->progs.netprobe_tc_ingress, true);
	bpf_program__set_autoload(skel->progs.netprobe_tc_egress, true);
	skel->rodata->np_xdp_meta = np_kernel_has(NP_KF_XDP_META);
	skel->rodata->np_slot = slot;
	skel->rodata->np_ifindex = ifindex;
	skel->rodata->np_detailed_events = a->enable_detailed_events;
	skel->rodata->np_xdp_events = a->enable_xdp_events;
	skel->rodata->np_tc_events = a->enable_tc_events;
	skel->rodata->np_events_per_sec = a->detailed_events_per_sec;
	err = netprobe_bpf__load(skel);
	if (err) {
		np_err("the kernel refused the netprobe programs: %s (run with -v for the "
		       "verifier's log)",
		       strerror(-err));
		netprobe_bpf__destroy(skel);
		/* Not privileged, no memory: what they say; anything else is the verifier's no. */
		errno = err == -EPERM || err == -ENOMEM ? -err : NETPROBE_ERR_PROG_REFUSED;
		return NULL;
	}
	return skel;
}

/* A new attachment learns its own rate baseline. */
