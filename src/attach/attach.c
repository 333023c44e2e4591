// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Attach and detach: one specialised copy of the programs per interface, XDP
 * through a pinned bpf_link, TC through tcx links or clsact filters, and the
 * interface registry that lets every later netprobe command find them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "attach/attach.h"
#include "netprobe.skel.h"

/* Debian 12's uapi headers predate tcx (kernel 6.6); the values are ABI. */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#define BPF_TCX_EGRESS	47
#endif

enum link_kind { LINK_XDP, LINK_TCX_INGRESS, LINK_TCX_EGRESS };
static const char *const link_names[] = {"xdp", "tcx_ingress", "tcx_egress"};

static void link_pin(const struct netprobe_manager *m, unsigned int slot, enum link_kind kind,
		     char *buf, size_t len)
{
	snprintf(buf, len, "%s/links/slot%u_%s", m->opts.state.pin_path, slot, link_names[kind]);
}

static int zero_rate_state(const struct netprobe_manager *m, unsigned int slot)
{
	struct netprobe_rate_state zero = {};

	return bpf_map_update_elem(bpf_map__fd(m->maps->maps.np_rate_state), &slot, &zero, BPF_ANY)
		       ? -errno
		       : 0;
}

static bool xdp_link_gone(const struct netprobe_manager *m, unsigned int slot);

static int pin_link_fd(const struct netprobe_manager *m, unsigned int slot, enum link_kind kind,
		       int link_fd)
{
	char path[NETPROBE_PIN_PATH_MAX + 32];

	/*
	 * A live XDP link pinned in a slot our registry calls free means the
	 * pinned state was replaced after this manager loaded it (another
	 * netprobe detached everything and attached anew): do not touch it.
	 */
	if (kind == LINK_XDP && !xdp_link_gone(m, slot)) {
		np_err("the state under %s changed since this manager loaded it; open a new "
		       "manager (run the command again)",
		       m->opts.state.pin_path);
		return -ESTALE;
	}
	link_pin(m, slot, kind, path, sizeof(path));
	unlink(path); /* a stale pin of a link whose interface vanished */
	if (bpf_obj_pin(link_fd, path)) {
		np_err("cannot pin %s link at %s: %s", link_names[kind], path, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Detaches and unpins a pinned link; a link already gone is not an error. */
static void destroy_link(const struct netprobe_manager *m, unsigned int slot, enum link_kind kind)
{
	char path[NETPROBE_PIN_PATH_MAX + 32];
	int fd;

	link_pin(m, slot, kind, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		/* Detach now, even if someone else holds a reference to the link. */
		bpf_link_detach(fd);
		close(fd);
	}
	unlink(path);
}

static int attach_xdp(const struct netprobe_manager *m, struct netprobe_bpf *skel,
		      unsigned int slot, const char *ifname, struct netprobe_iface_info *info,
		      enum netprobe_xdp_attach_mode mode)
{
	int prog_fd = bpf_program__fd(skel->progs.netprobe_xdp);
	__u32 flags = mode == NETPROBE_XDP_ATTACH_GENERIC ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	int fd, err;

	for (;;) {
		LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);

		fd = bpf_link_create(prog_fd, info->ifindex, BPF_XDP, &opts);
		if (fd >= 0)
			break;
		err = -errno;
		if (err == -EOPNOTSUPP && flags == XDP_FLAGS_DRV_MODE &&
		    mode == NETPROBE_XDP_ATTACH_AUTO) {
			np_info("%s: driver has no native XDP; attaching in generic mode", ifname);
			flags = XDP_FLAGS_SKB_MODE;
			continue;
		}
		if (err == -EBUSY || err == -EEXIST)
			np_err("%s already has an XDP program that netprobe did not attach; "
			       "netprobe does not replace it (see: ip link show %s)",
			       ifname, ifname);
		else if (err == -EOPNOTSUPP)
			np_err("%s: the driver has no native XDP; use --xdp-mode generic", ifname);
		else if (err == -EPERM)
			np_err("%s: attaching XDP was refused: run as root, or with CAP_NET_ADMIN",
			       ifname);
		else
			np_err("%s: cannot attach XDP: %s", ifname, strerror(-err));
		return err;
	}
	err = pin_link_fd(m, slot, LINK_XDP, fd);
	close(fd); /* the pin keeps the link, and so the program, alive */
	if (err)
		return err;
	info->xdp_attach_flags = flags;
	return 0;
}

static int attach_tcx(const struct netprobe_manager *m, struct netprobe_bpf *skel,
		      unsigned int slot, unsigned int ifindex)
{
	const struct {
		enum link_kind kind;
		int attach_type;
		struct bpf_program *prog;
	} hooks[] = {
		{LINK_TCX_INGRESS, BPF_TCX_INGRESS, skel->progs.netprobe_tc_ingress},
		{LINK_TCX_EGRESS, BPF_TCX_EGRESS, skel->progs.netprobe_tc_egress},
	};
	int err = 0;

	for (size_t i = 0; i < 2; i++) {
		int fd = bpf_link_create(bpf_program__fd(hooks[i].prog), ifindex,
					 hooks[i].attach_type, NULL);
		if (fd < 0) {
			err = -errno;
			break;
		}
		err = pin_link_fd(m, slot, hooks[i].kind, fd);
		close(fd);
		if (err)
			break;
	}
	if (err) {
		destroy_link(m, slot, LINK_TCX_INGRESS);
		destroy_link(m, slot, LINK_TCX_EGRESS);
	}
	return err;
}

static void detach_clsact(const struct netprobe_iface_info *info)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = info->ifindex);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = info->tc_handle);

	if (info->tc_ingress_prio) {
		hook.attach_point = BPF_TC_INGRESS;
		opts.priority = info->tc_ingress_prio;
		bpf_tc_detach(&hook, &opts);
	}
	if (info->tc_egress_prio) {
		hook.attach_point = BPF_TC_EGRESS;
		opts.priority = info->tc_egress_prio;
		opts.prog_fd = opts.prog_id = opts.flags = 0;
		bpf_tc_detach(&hook, &opts);
	}
	/* The qdisc we made goes too, unless another tool has put filters on it since. */
	if (info->tc_attach == NETPROBE_TC_CLSACT_CREATED &&
	    np_tc_filter_count(info->ifindex, NP_TC_PARENT_INGRESS) == 0 &&
	    np_tc_filter_count(info->ifindex, NP_TC_PARENT_EGRESS) == 0) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
}

static int attach_clsact(struct netprobe_bpf *skel, struct netprobe_iface_info *info)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = info->ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	info->tc_attach = err ? NETPROBE_TC_CLSACT : NETPROBE_TC_CLSACT_CREATED;
	info->tc_handle = NP_TC_HANDLE;

	for (int egress = 0; egress < 2; egress++) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = NP_TC_HANDLE);

		hook.attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS;
		opts.prog_fd = bpf_program__fd(egress ? skel->progs.netprobe_tc_egress
						      : skel->progs.netprobe_tc_ingress);
		err = bpf_tc_attach(&hook, &opts);
		if (err) {
			detach_clsact(info);
			return err;
		}
		if (egress)
			info->tc_egress_prio = opts.priority;
		else
			info->tc_ingress_prio = opts.priority;
	}
	return 0;
}

static int attach_tc(const struct netprobe_manager *m, struct netprobe_bpf *skel, unsigned int slot,
		     const char *ifname, struct netprobe_iface_info *info,
		     enum netprobe_tc_attach_mode mode)
{
	int err;

	if (mode != NETPROBE_TC_ATTACH_CLSACT) {
		err = attach_tcx(m, skel, slot, info->ifindex);
		if (!err) {
			info->tc_attach = NETPROBE_TC_TCX;
			return 0;
		}
		/* An old kernel does not know the tcx attach types: EINVAL. */
		if (err != -EINVAL || mode == NETPROBE_TC_ATTACH_TCX) {
			np_err("%s: cannot attach TC programs with tcx: %s", ifname,
			       strerror(-err));
			return err;
		}
		np_info("%s: kernel has no tcx; using a clsact qdisc", ifname);
	}
	err = attach_clsact(skel, info);
	if (err)
		np_err("%s: cannot attach TC programs to clsact: %s", ifname, strerror(-err));
	return err;
}

/* Points the pinned link of kind at prog_fd, atomically: the hook is never empty. */
static int update_link(const struct netprobe_manager *m, unsigned int slot, enum link_kind kind,
		       int prog_fd)
{
	char path[NETPROBE_PIN_PATH_MAX + 32];
	int fd, err = 0;

	link_pin(m, slot, kind, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_link_update(fd, prog_fd, NULL))
		err = -errno;
	close(fd);
	return err;
}

/* What runs on an interface's three hooks, by fd. */
struct hook_progs {
	int xdp, ingress, egress;
};

static void hook_progs_of_skel(struct netprobe_bpf *skel, struct hook_progs *p)
{
	p->xdp = bpf_program__fd(skel->progs.netprobe_xdp);
	p->ingress = bpf_program__fd(skel->progs.netprobe_tc_ingress);
	p->egress = bpf_program__fd(skel->progs.netprobe_tc_egress);
}

/* Replaces our clsact filter's program on one hook, in place. */
static int replace_clsact(const struct netprobe_iface_info *info, bool egress, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = info->ifindex,
		    .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = info->tc_handle,
		    .priority = egress ? info->tc_egress_prio : info->tc_ingress_prio,
		    .flags = BPF_TC_F_REPLACE, .prog_fd = prog_fd);

	return bpf_tc_attach(&hook, &opts);
}

/* Points hook i (0 XDP, 1 TC ingress, 2 TC egress) of the interface at prog_fd. */
static int set_hook(const struct netprobe_manager *m, unsigned int slot,
		    const struct netprobe_iface_info *info, int i, int prog_fd)
{
	static const enum link_kind links[] = {LINK_XDP, LINK_TCX_INGRESS, LINK_TCX_EGRESS};

	if (prog_fd < 0)
		return -ENOENT;
	if (i > 0 && info->tc_attach != NETPROBE_TC_TCX)
		return replace_clsact(info, i == 2, prog_fd);
	return update_link(m, slot, links[i], prog_fd);
}

/*
 * Points the interface's hooks at p, XDP first. Stops at the first that
 * fails; *done says how many were switched.
 */
static int switch_hooks(const struct netprobe_manager *m, unsigned int slot,
			const struct netprobe_iface_info *info, const struct hook_progs *p,
			int *done)
{
	const int fds[] = {p->xdp, p->ingress, p->egress};
	int err = 0;

	for (*done = 0; *done < 3; (*done)++) {
		err = set_hook(m, slot, info, *done, fds[*done]);
		if (err)
			break;
	}
	return err;
}

int np_opts_in_force(const struct netprobe_iface_info *info,
		     const struct netprobe_iface_settings *settings,
		     const struct netprobe_attach_opts *base, struct netprobe_attach_opts *a)
{
	struct netprobe_attach_opts c;

	if (settings->version != NETPROBE_SETTINGS_VERSION)
		return -ENODATA;
	if (base)
		c = *base;
	else
		netprobe_attach_opts_default(&c, sizeof(c));
	np_settings_apply(&c, settings);
	c.xdp_mode = info->xdp_program;
	/* Read back from a map: whatever wrote it, only what attach would take is used. */
	if (np_validate_attach(&c)) {
		np_err("the pinned settings of %.*s are not valid ones: detach it and attach again",
		       (int)sizeof(info->name), info->name);
		return -EUCLEAN;
	}
	*a = c;
	return 0;
}

/*
 * Puts back what the first done hooks ran, the programs of the settings
 * the registry still records (info, settings), loaded anew: reading the
 * running ones back by id would need CAP_SYS_ADMIN. Every hook is tried;
 * 0, or the first error.
 */
static int put_back(struct netprobe_manager *m, unsigned int slot,
		    const struct netprobe_iface_info *info,
		    const struct netprobe_iface_settings *settings, int done)
{
	struct netprobe_attach_opts was;
	struct netprobe_bpf *skel;
	struct hook_progs p;
	int err = 0;

	if (!done)
		return 0;
	err = np_opts_in_force(info, settings, NULL, &was);
	if (err)
		return err;
	skel = np_load_programs(m, slot, info->ifindex, &was);
	if (!skel)
		return -errno;
	hook_progs_of_skel(skel, &p);
	const int fds[] = {p.xdp, p.ingress, p.egress};

	for (int i = 0; i < done; i++) {
		int e = set_hook(m, slot, info, i, fds[i]);

		err = err ?: e;
	}
	netprobe_bpf__destroy(skel);
	return err;
}

/* Whether sysctl net.FAMILY.conf.IFNAME.forwarding is 0 (false when it cannot be read). */
static bool forwarding_off(const char *family, const char *ifname)
{
	char path[96], value[4] = "";
	bool off;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/forwarding", family, ifname);
	f = fopen(path, "r");
	if (!f)
		return false;
	off = fgets(value, sizeof(value), f) && value[0] == '0';
	fclose(f);
	return off;
}

/* Whether a service of family is pinned (the load balancer's VIP table). */
static bool lb_has_family(const struct netprobe_manager *m, unsigned char family)
{
	struct netprobe_lb_vip_key key, next, *prev = NULL;
	int fd = bpf_map__fd(m->maps->maps.np_lb_vips);

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (next.family == family)
			return true;
		key = next;
		prev = &key;
	}
	return false;
}

/* The load balancer routes to its backends: the kernel's route lookup needs forwarding on. */
static void warn_no_forwarding(const struct netprobe_manager *m, const char *ifname,
			       enum netprobe_xdp_program mode)
{
	if (mode != NETPROBE_XDP_LB)
		return;
	if (forwarding_off("ipv4", ifname))
		np_warn("%s: IPv4 forwarding is off, so the load balancer finds no route to its "
			"IPv4 backends (sysctl -w net.ipv4.conf.%s.forwarding=1)",
			ifname, ifname);
	if (lb_has_family(m, NETPROBE_FAMILY_IPV6) && forwarding_off("ipv6", ifname))
		np_warn("%s: IPv6 forwarding is off, so the load balancer finds no route to its "
			"IPv6 backends (sysctl -w net.ipv6.conf.%s.forwarding=1)",
			ifname, ifname);
}

/*
 * Attach on an interface netprobe already holds: load the programs for its
 * new settings a and swap them in through the existing links (the seed's
 * UpdateConfig, and the live mode switch). Maps are shared, so counters,
 * flows and lists carry on; no packet meets an empty hook.
 */
static int respecialise(struct netprobe_manager *m, unsigned int slot, const char *ifname,
			struct netprobe_iface_info *info, const struct netprobe_attach_opts *a)
{
	bool generic = info->xdp_attach_flags == XDP_FLAGS_SKB_MODE;
	bool tcx = info->tc_attach == NETPROBE_TC_TCX;
	enum netprobe_xdp_program before = info->xdp_program;
	struct netprobe_iface_settings settings, was_settings;
	struct netprobe_iface_info was;
	struct hook_progs want;
	struct netprobe_bpf *skel;
	int err, done;

	/* The TC attach kind is fixed at attach as the XDP mode is: a live swap keeps its links. */
	if ((a->tc_attach_mode == NETPROBE_TC_ATTACH_TCX && !tcx) ||
	    (a->tc_attach_mode == NETPROBE_TC_ATTACH_CLSACT && tcx)) {
		np_err("%s is attached with TC %s; detach it to change that", ifname,
		       tcx ? "tcx" : "clsact");
		return -EBUSY;
	}
	if ((a->xdp_attach_mode == NETPROBE_XDP_ATTACH_NATIVE && generic) ||
	    (a->xdp_attach_mode == NETPROBE_XDP_ATTACH_GENERIC && !generic)) {
		np_err("%s is attached in %s XDP mode; detach it to change that", ifname,
		       generic ? "generic" : "native");
		return -EBUSY;
	}
	if (info->netns_ino != np_current_netns()) {
		np_err("%s is attached in another network namespace", ifname);
		return -EXDEV;
	}
	skel = np_load_programs(m, slot, info->ifindex, a);
	if (!skel)
		return -errno;
	/*
	 * Whole or not at all: when a hook refuses the new programs, or the
	 * registry cannot record them, the hooks already switched go back, so
	 * the interface never runs two settings at once and the recorded
	 * settings stay the ones in force.
	 */
	was = *info;
	err = np_read_iface_settings(m, slot, &was_settings);
	if (err)
		goto out;
	hook_progs_of_skel(skel, &want);
	err = switch_hooks(m, slot, info, &want, &done);
	if (!err) {
		info->xdp_program = a->xdp_mode;
		info->decap = a->decap;
		np_settings_of(a, &settings);
		err = np_write_iface_settings(m, slot, &settings);
		if (!err)
			err = np_write_iface(m, slot, info);
		if (err) {
			*info = was;
			np_write_iface_settings(m, slot, &was_settings);
			np_write_iface(m, slot, &was);
		}
	}
	if (err) {
		bool back = put_back(m, slot, &was, &was_settings, done) == 0;

		np_err("%s: cannot switch to the new programs (%s); %s", ifname, strerror(-err),
		       back ? "it keeps its previous settings"
			    : "it may run a mix of old and new settings: detach and attach it "
			      "again");
		goto out;
	}
	if (info->xdp_program != before)
		np_info("%s: now in %s mode (was %s)", ifname,
			netprobe_xdp_program_name(info->xdp_program),
			netprobe_xdp_program_name(before));
	else
		np_info("%s: settings changed live (%s mode)", ifname,
			netprobe_xdp_program_name(before));
	warn_no_forwarding(m, ifname, a->xdp_mode);
out:
	netprobe_bpf__destroy(skel);
	return err;
}

/* Attaches ifname with settings a (validated), or applies them where it is attached. */
static int attach_with(struct netprobe_manager *m, const char *ifname,
		       const struct netprobe_attach_opts *a)
{
	struct netprobe_iface_info info = {}, existing;
	struct netprobe_iface_settings settings;
	struct netprobe_bpf *skel = NULL;
	unsigned int slot, ifindex;
	struct timespec now;
	int lock, err;

	if (!m || !m->maps)
		return -EINVAL;
	err = np_resolve_ifindex(ifname, &ifindex);
	if (err)
		return err;
	lock = np_lock(m);
	if (lock < 0)
		return lock;

	err = np_pin_state(m);
	if (err)
		goto out;
	if (np_find_iface(m, ifname, &slot, &existing) == 0) {
		err = respecialise(m, slot, ifname, &existing, a);
		goto out;
	}
	err = np_free_slot(m, &slot);
	if (err)
		goto out;

	snprintf(info.name, sizeof(info.name), "%s", ifname);
	info.ifindex = ifindex;
	info.netns_ino = np_current_netns();
	info.xdp_program = a->xdp_mode;
	info.decap = a->decap;
	np_settings_of(a, &settings);

	skel = np_load_programs(m, slot, ifindex, a);
	if (!skel) {
		err = -errno;
		goto out;
	}
	/* Zero before attaching, so that no packet of this attachment is lost. */
	err = np_zero_slot_counters(m, slot);
	if (!err)
		err = zero_rate_state(m, slot);
	if (err)
		goto out;
	err = attach_xdp(m, skel, slot, ifname, &info, a->xdp_attach_mode);
	if (err)
		goto out;
	err = attach_tc(m, skel, slot, ifname, &info, a->tc_attach_mode);
	if (err)
		goto undo_xdp;

	clock_gettime(CLOCK_REALTIME, &now);
	info.attached_at_ns = now.tv_sec * 1000000000ull + now.tv_nsec;
	info.in_use = 1;
	err = np_write_iface_settings(m, slot, &settings);
	if (!err)
		err = np_write_iface(m, slot, &info);
	if (err)
		goto undo_tc;
	np_info("%s: attached (%s, XDP %s, TC %s)", ifname,
		netprobe_xdp_program_name(info.xdp_program),
		info.xdp_attach_flags == XDP_FLAGS_SKB_MODE ? "generic" : "native",
		info.tc_attach == NETPROBE_TC_TCX ? "tcx" : "clsact");
	warn_no_forwarding(m, ifname, a->xdp_mode);
	goto out;

undo_tc:
	if (info.tc_attach == NETPROBE_TC_TCX) {
		destroy_link(m, slot, LINK_TCX_INGRESS);
		destroy_link(m, slot, LINK_TCX_EGRESS);
	} else {
		detach_clsact(&info);
	}
undo_xdp:
	destroy_link(m, slot, LINK_XDP);
out:
	netprobe_bpf__destroy(skel);
	np_unlock(m, lock);
	return err;
}

int netprobe_manager_attach(struct netprobe_manager *m, const char *ifname)
{
	return m ? attach_with(m, ifname, &m->opts.attach) : -EINVAL;
}

int netprobe_manager_attach_opts(struct netprobe_manager *m, const char *ifname,
				 const struct netprobe_attach_opts *opts)
{
	struct netprobe_attach_opts a;
	int err;

	if (!m || !opts)
		return netprobe_manager_attach(m, ifname);
	/* What the caller's struct does not reach: the library's defaults, as for any opts. */
	err = np_take_attach(&a, opts);
	return err ?: attach_with(m, ifname, &a);
}

int netprobe_manager_attach_edit(struct netprobe_manager *m, const char *ifname,
				 netprobe_attach_edit_fn fn, void *ctx)
{
	struct netprobe_iface_settings settings;
	struct netprobe_iface_info info;
	struct netprobe_attach_opts a;
	unsigned int slot;
	int lock, err;

	if (!m || !m->maps || !fn)
		return -EINVAL;
	lock = np_lock(m);
	if (lock < 0)
		return lock;
	/* Read, changed and written under one lock: no other change falls in between. */
	err = np_find_iface(m, ifname, &slot, &info);
	if (!err)
		err = np_read_iface_settings(m, slot, &settings);
	if (!err)
		err = np_opts_in_force(&info, &settings, NULL, &a);
	if (!err)
		err = fn(&a, ctx);
	if (!err) {
		a.sz = sizeof(a); /* whatever fn did to it */
		err = np_validate_attach(&a);
	}
	if (!err)
		err = respecialise(m, slot, ifname, &info, &a);
	np_unlock(m, lock);
	return err;
}

/* Drops the flows of a detached interface, so a later one with its ifindex starts clean. */
/* One flow of a detached interface goes, handed to the flow-end callback with its last count. */
static void forget_flow(const struct netprobe_manager *m, int fd,
			const struct netprobe_flow_key *key)
{
	struct netprobe_flow_stats st;
	bool had = m->flow_end_fn && !bpf_map_lookup_elem(fd, key, &st);

	if (!bpf_map_delete_elem(fd, key) && had)
		m->flow_end_fn(key, &st, m->flow_end_ctx);
}

static void forget_flows(const struct netprobe_manager *m, unsigned int slot)
{
	int fd = bpf_map__fd(m->maps->maps.np_flows);
	struct netprobe_flow_key key, next;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (prev && key.slot == slot)
			forget_flow(m, fd, &key);
		key = next;
		prev = &key;
	}
	if (prev && key.slot == slot)
		forget_flow(m, fd, &key);
}

static int detach_slot(struct netprobe_manager *m, unsigned int slot,
		       const struct netprobe_iface_info *info)
{
	struct netprobe_iface_info empty = {};
	bool same_netns = info->netns_ino == np_current_netns();

	/* A deleted interface took its clsact filters with it: only the links and pins are left. */
	if (info->tc_attach != NETPROBE_TC_TCX && info->tc_attach != NETPROBE_TC_NONE &&
	    !xdp_link_gone(m, slot)) {
		/* clsact filters are reached by ifindex, which only means something in its netns. */
		if (!same_netns) {
			char ns[256];
			bool named = netprobe_netns_name(info->netns_ino, ns, sizeof(ns)) == 0;

			np_err("%s is in another network namespace and uses clsact; detach it "
			       "from there (nsenter --net=%s%s netprobe detach %s)",
			       info->name, named ? "/run/netns/" : "/proc/PID/ns/net",
			       named ? ns : "", info->name);
			return -EXDEV;
		}
		detach_clsact(info);
	}
	destroy_link(m, slot, LINK_TCX_INGRESS);
	destroy_link(m, slot, LINK_TCX_EGRESS);
	destroy_link(m, slot, LINK_XDP);
	forget_flows(m, slot);
	np_info("%s: detached", info->name);
	np_write_iface_settings(m, slot, &(struct netprobe_iface_settings){});
	return np_write_iface(m, slot, &empty);
}

/* The slot of an attached interface called name that was deleted since; err as given if none. */
static int find_gone_or(const struct netprobe_manager *m, const char *name, unsigned int *slot,
			struct netprobe_iface_info *info, int err)
{
	for (unsigned int s = 0; s < NETPROBE_MAX_IFACES; s++) {
		if (np_read_iface(m, s, info) || !info->in_use ||
		    strncmp(info->name, name, sizeof(info->name)) || !xdp_link_gone(m, s))
			continue;
		*slot = s;
		return 0;
	}
	return err;
}

/* Detaches ifname (NULL: every interface), the pin path's lock held; the facade decides the rest. */
int np_detach_locked(struct netprobe_manager *m, const char *ifname)
{
	struct netprobe_iface_info info;
	unsigned int slot;
	int err = 0;

	if (ifname) {
		/*
		 * An interface that was deleted is found by the name it had, in
		 * any namespace (its ifindex means nothing any more): a live one
		 * of that name, attached, comes first.
		 */
		int live =
			if_nametoindex(ifname) ? np_find_iface(m, ifname, &slot, &info) : -ENODEV;

		err = live ? find_gone_or(m, ifname, &slot, &info, live) : 0;
		if (err == -ENOENT)
			np_err("netprobe is not attached to %s", ifname);
		else if (err == -ENODEV)
			np_err("no interface named %s in this network namespace, and none that "
			       "netprobe held was deleted",
			       ifname);
		if (!err)
			err = detach_slot(m, slot, &info);
	} else {
		for (slot = 0; slot < NETPROBE_MAX_IFACES; slot++) {
			if (np_read_iface(m, slot, &info) || !info.in_use)
				continue;
			int e = detach_slot(m, slot, &info);

			if (e && !err)
				err = e;
		}
	}
	return err;
}

/* An XDP link whose device was deleted stays, defunct, with ifindex 0. */
static bool xdp_link_gone(const struct netprobe_manager *m, unsigned int slot)
{
	char path[NETPROBE_PIN_PATH_MAX + 32];
	struct bpf_link_info link = {};
	__u32 len = sizeof(link);
	bool gone = false;
	int fd;

	link_pin(m, slot, LINK_XDP, path, sizeof(path));
	fd = bpf_obj_get(path);
	if (fd < 0)
		return true;
	if (bpf_obj_get_info_by_fd(fd, &link, &len) == 0)
		gone = link.xdp.ifindex == 0;
	close(fd);
	return gone;
}

static void iface_from_info(const struct netprobe_manager *m,
			    const struct netprobe_iface_info *info, unsigned int slot,
			    struct netprobe_iface *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->name, info->name, sizeof(out->name));
	out->name[sizeof(out->name) - 1] = '\0';
	out->ifindex = info->ifindex;
	out->slot = slot;
	out->xdp_mode = info->xdp_program;
	out->xdp_generic = info->xdp_attach_flags == XDP_FLAGS_SKB_MODE;
	out->decap = info->decap;
	out->tc_attach = info->tc_attach;
	out->attached_at_ns = info->attached_at_ns;
	out->in_current_netns = info->netns_ino == np_current_netns();
	out->netns_ino = info->netns_ino;
	out->gone = xdp_link_gone(m, slot);
}

int netprobe_manager_foreach_iface(struct netprobe_manager *m, netprobe_iface_fn fn, void *ctx)
{
	struct netprobe_iface_info info;
	struct netprobe_iface iface;

	if (!m || !m->maps || !fn)
		return -EINVAL;
	for (unsigned int s = 0; s < NETPROBE_MAX_IFACES; s++) {
		if (np_read_iface(m, s, &info) || !info.in_use)
			continue;
		iface_from_info(m, &info, s, &iface);
		int ret = fn(&iface, ctx);

		if (ret)
			return ret;
	}
	return 0;
}

int netprobe_manager_iface(struct netprobe_manager *m, const char *ifname,
			   struct netprobe_iface *out)
{
	struct netprobe_iface_info info;
	unsigned int slot;
	int err;

	if (!m || !m->maps || !out)
		return -EINVAL;
	err = np_find_iface(m, ifname, &slot, &info);
	if (err)
		return err;
	iface_from_info(m, &info, slot, out);
	return 0;
}

/* The attach settings in force on iface, from the pinned state. */
static int iface_attach_opts(struct netprobe_manager *m, const struct netprobe_iface *iface,
			     struct netprobe_attach_opts *a)
{
	struct netprobe_iface_settings settings;
	struct netprobe_iface_info info;
	int err;

	err = np_iface_info_of(m, iface, &info);
	if (!err)
		err = np_read_iface_settings(m, iface->slot, &settings);
	return err ?: np_opts_in_force(&info, &settings, NULL, a);
}

int netprobe_manager_iface_config(struct netprobe_manager *m, const struct netprobe_iface *iface,
				  struct netprobe_config *out)
{
	struct np_config_parts parts;
	int err;

	if (!m || !m->maps || !iface || !out)
		return -EINVAL;
	parts = m->opts;
	err = iface_attach_opts(m, iface, &parts.attach);
	if (!err)
		np_config_join(out, &parts);
	return err;
}

int netprobe_manager_iface_opts(struct netprobe_manager *m, const struct netprobe_iface *iface,
				struct netprobe_attach_opts *out)
{
	struct netprobe_attach_opts a;
	int err;

	if (!m || !m->maps || !iface || !out || out->sz < sizeof(size_t))
		return -EINVAL;
	err = iface_attach_opts(m, iface, &a);
	if (!err)
		np_opts_give(out, &a, sizeof(a));
	return err;
}

int netprobe_manager_update_config(struct netprobe_manager *m, const struct netprobe_config *cfg)
{
	struct {
		struct netprobe_iface_info info;
		struct netprobe_iface_settings settings;
	} was[NETPROBE_MAX_IFACES] = {};
	const struct netprobe_state_opts *fixed = m ? &m->opts.state : NULL;
	struct np_config_parts want, old;
	struct netprobe_iface_info info;
	int lock, err;

	if (!m || !cfg)
		return -EINVAL;
	err = np_validate_config(cfg, &want);
	if (err)
		return err;
	if (m->maps && (strcmp(want.state.pin_path, fixed->pin_path) ||
			want.state.flow_table_size != fixed->flow_table_size ||
			want.state.ring_buffer_size != fixed->ring_buffer_size ||
			want.state.acl_max_rules != fixed->acl_max_rules ||
			want.state.acl_v4_groups != fixed->acl_v4_groups ||
			want.state.lb_max_services != fixed->lb_max_services ||
			want.state.lb_max_backends != fixed->lb_max_backends ||
			want.state.lb_table_size != fixed->lb_table_size ||
			want.state.lb_conn_table_size != fixed->lb_conn_table_size)) {
		np_err("config: pin_path and table sizes are fixed once loaded");
		return -EINVAL;
	}
	old = m->opts;
	m->opts = want;
	if (!m->maps)
		return 0;
	lock = np_lock(m);
	if (lock < 0) {
		m->opts = old;
		return lock;
	}
	for (unsigned int slot = 0; slot < NETPROBE_MAX_IFACES && !err; slot++) {
		if (np_read_iface(m, slot, &info) || !info.in_use ||
		    info.netns_ino != np_current_netns() || xdp_link_gone(m, slot))
			continue;
		was[slot].info = info;
		np_read_iface_settings(m, slot, &was[slot].settings);
		err = respecialise(m, slot, info.name, &info, &want.attach);
		/*
		 * Back to what each had: interfaces switched before this one go
		 * back to their own settings, not to this manager's config.
		 */
		for (unsigned int back = 0; err && back < slot; back++) {
			struct netprobe_attach_opts had = old.attach;

			if (np_read_iface(m, back, &info) || !info.in_use ||
			    info.netns_ino != np_current_netns() || xdp_link_gone(m, back))
				continue;
			/* An older netprobe's interface, with no record: the old config's. */
			if (np_opts_in_force(&was[back].info, &was[back].settings, &old.attach,
					     &had))
				had.xdp_mode = was[back].info.xdp_program;
			respecialise(m, back, info.name, &info, &had);
		}
	}
	if (err)
		m->opts = old;
	np_unlock(m, lock);
	return err;
}
