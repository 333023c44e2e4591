// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * netprobe_probe, the seed's IsSupported: each requirement checked on its own,
 * with what was found and what to do. It reads and probes; it attaches nothing.
 */
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <sys/capability.h>
#include <linux/genetlink.h>
#include <linux/magic.h>
#include <libmnl/libmnl.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "programs/programs.h"
#include "state/state.h"

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* From linux/netdev.h (kernel 6.3), which Debian 12's uapi headers predate. */
#define NP_NETDEV_CMD_DEV_GET	     1
#define NP_NETDEV_A_DEV_IFINDEX	     1
#define NP_NETDEV_A_DEV_XDP_FEATURES 3
#define NP_NETDEV_XDP_ACT_BASIC	     1

static void add(struct netprobe_probe_report *r, const char *name, bool ok, bool required,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void add(struct netprobe_probe_report *r, const char *name, bool ok, bool required,
		const char *fmt, ...)
{
	struct netprobe_probe_item *it;
	va_list ap;

	/*
	 * Never a check dropped unseen: the last item says the report is full,
	 * and a required check that failed still makes it unsupported.
	 */
	if (required && !ok)
		r->supported = false;
	if (r->count >= NETPROBE_PROBE_MAX - 1) {
		it = &r->items[NETPROBE_PROBE_MAX - 1];
		r->count = NETPROBE_PROBE_MAX;
		snprintf(it->name, sizeof(it->name), "report");
		snprintf(it->detail, sizeof(it->detail),
			 "more checks than a report holds (NETPROBE_PROBE_MAX %d)",
			 NETPROBE_PROBE_MAX);
		it->ok = false;
		it->required = false;
		return;
	}
	it = &r->items[r->count++];
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->ok = ok;
	it->required = required;
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
}

/* Which kernel, for the record: what it can run, the feature probes say. */
static void probe_kernel(struct netprobe_probe_report *r)
{
	struct utsname u;

	uname(&u);
	add(r, "kernel", true, false, "Linux %s", u.release);
}

static void probe_btf(struct netprobe_probe_report *r)
{
	bool ok = access("/sys/kernel/btf/vmlinux", R_OK) == 0;

	add(r, "btf", ok, false,
	    ok ? "/sys/kernel/btf/vmlinux present"
	       : "no kernel BTF (CONFIG_DEBUG_INFO_BTF=n); "
		 "netprobe works, bpftool shows less");
}

static void probe_bpf_syscall(struct netprobe_probe_report *r)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "np_probe", 4, 4, 1, NULL);

	if (fd >= 0) {
		close(fd);
		add(r, "bpf_syscall", true, true, "bpf() creates maps");
	} else if (errno == EPERM) {
		add(r, "bpf_syscall", false, true,
		    "bpf() refused (EPERM): run as root, or with " NETPROBE_CAPS);
	} else {
		add(r, "bpf_syscall", false, true, "bpf() failed: %s (kernel built without BPF?)",
		    strerror(errno));
	}
}

/* Whether cap is in this process's effective set. */
static bool has_cap(cap_value_t cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	if (caps) {
		cap_get_flag(caps, cap, CAP_EFFECTIVE, &v);
		cap_free(caps);
	}
	return v == CAP_SET;
}

int netprobe_check_privileges(void)
{
	/*
	 * The verifier accepts netprobe's programs only from a process that may
	 * do what CAP_PERFMON allows (pointer arithmetic on packet data beyond
	 * what unprivileged BPF may); CAP_SYS_ADMIN holds both, as it did before
	 * CAP_BPF (5.8).
	 */
	if (!has_cap(CAP_NET_ADMIN))
		return -EPERM;
	return has_cap(CAP_SYS_ADMIN) || (has_cap(CAP_BPF) && has_cap(CAP_PERFMON)) ? 0 : -EPERM;
}

static void probe_caps(struct netprobe_probe_report *r)
{
	bool ok = netprobe_check_privileges() == 0;

	add(r, "capabilities", ok, true,
	    "CAP_BPF %s, CAP_PERFMON %s, CAP_NET_ADMIN %s, CAP_SYS_ADMIN %s%s",
	    has_cap(CAP_BPF) ? "yes" : "no", has_cap(CAP_PERFMON) ? "yes" : "no",
	    has_cap(CAP_NET_ADMIN) ? "yes" : "no", has_cap(CAP_SYS_ADMIN) ? "yes" : "no",
	    ok ? "" : ": run as root, or with " NETPROBE_CAPS);
}

static void probe_bpffs(struct netprobe_probe_report *r)
{
	struct statfs st;
	bool mounted = statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC;

	if (np_bpffs_private("/sys/fs/bpf")) {
		/* What attach would refuse, said here first: check must not promise more. */
		add(r, "bpffs", false, true,
		    "a mount namespace of its own (ip netns exec): pins would go with it; use "
		    "nsenter --net=/run/netns/NS, or a --pin-path on the host's bpffs");
		return;
	}
	add(r, "bpffs", true, true,
	    mounted ? "mounted at /sys/fs/bpf"
		    : "not mounted at /sys/fs/bpf; netprobe mounts it on first attach");
}

static void probe_map_types(struct netprobe_probe_report *r)
{
	bool ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	bool lru = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LRU_HASH, NULL) == 1;
	bool xdp = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL) == 1;

	add(r, "xdp", xdp, true, xdp ? "XDP programs load" : "the kernel refuses XDP programs");
	add(r, "lru_hash", lru, true,
	    lru ? "LRU hash maps (flow table)" : "no LRU hash maps (kernel 4.10+)");
	add(r, "ring_buffer", ringbuf, false,
	    ringbuf ? "BPF ring buffer (events)" : "no BPF ring buffer (kernel 5.8+): no events");
}

/* One line of what a feature gives, or what lacks and from which version. */
static void add_feature(struct netprobe_probe_report *r, const char *name, bool required,
			const char *gives, enum np_kernel_feature f)
{
	const struct np_kernel_feature_info *info = np_kernel_feature(f);

	if (np_kernel_has(f))
		add(r, name, true, required, "%s", gives);
	else
		add(r, name, false, required, "no %s (Linux %s+); needed by %s", info->what,
		    info->since, info->needed_by);
}

/* What the programs need beyond loading: each mode's own, then the optional. */
static void probe_programs(struct netprobe_probe_report *r)
{
	add_feature(r, "atomics", true, "atomic instructions that return the old value",
		    NP_KF_ATOMIC_FETCH);
	add_feature(r, "filter", false, "filter mode: lists with TTLs (coarse clock helper)",
		    NP_KF_COARSE_CLOCK);
	add_feature(r, "mitigation", false,
		    "mitigation and rate anomaly (reading other CPUs' counters)",
		    NP_KF_PERCPU_LOOKUP);
	if (!np_kernel_has(NP_KF_FIB_LOOKUP))
		add_feature(r, "lb", false, "", NP_KF_FIB_LOOKUP);
	else
		add_feature(r, "lb", false,
			    "lb mode: route lookups in XDP, next hops resolved by TC",
			    NP_KF_REDIRECT_NEIGH);
	add_feature(r, "events_test", false, "events --test: bpf_loop", NP_KF_LOOP);
	add_feature(r, "xdp_meta", false, "lb hands frames to TC in their XDP metadata",
		    NP_KF_XDP_META);
}

/* tcx exists when the kernel's own BTF knows the attach type. */
static void probe_tc(struct netprobe_probe_report *r)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool tcx = false;

	if (vmlinux) {
		__s32 id = btf__find_by_name_kind(vmlinux, "bpf_attach_type", BTF_KIND_ENUM);
		const struct btf_type *t = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;

		for (int i = 0; t && i < btf_vlen(t); i++) {
			const char *n = btf__name_by_offset(vmlinux, btf_enum(t)[i].name_off);

			if (n && strcmp(n, "BPF_TCX_INGRESS") == 0)
				tcx = true;
		}
		btf__free(vmlinux);
	}
	bool cls = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL) == 1;

	add(r, "tc", tcx || cls, true,
	    tcx	  ? "tcx links (TC programs attach as bpf_links)"
	    : cls ? "no tcx; TC programs go on a clsact qdisc netprobe manages"
		  : "the kernel refuses TC (sched_cls) programs");
}

struct genl_reply {
	__u16 family_id;
	__u64 xdp_features;
	bool have_features;
};

static int genl_attr_cb(const struct nlattr *attr, void *data)
{
	struct genl_reply *rep = data;

	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
		rep->family_id = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int netdev_attr_cb(const struct nlattr *attr, void *data)
{
	struct genl_reply *rep = data;

	if (mnl_attr_get_type(attr) == NP_NETDEV_A_DEV_XDP_FEATURES &&
	    mnl_attr_validate(attr, MNL_TYPE_U64) == 0) {
		rep->xdp_features = mnl_attr_get_u64(attr);
		rep->have_features = true;
	}
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), genl_attr_cb, data);
}

static int netdev_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), netdev_attr_cb, data);
}

static int genl_request(struct mnl_socket *nl, __u16 type, __u8 cmd, __u16 attr, const void *val,
			size_t val_len, mnl_cb_t cb, struct genl_reply *rep)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	unsigned int seq = time(NULL), portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int ret;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = 1;
	mnl_attr_put(nlh, attr, val_len, val);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	ret = mnl_cb_run(buf, n, seq, portid, cb, rep);
	return ret < 0 ? -errno : 0;
}

/* Asks the netdev generic-netlink family (kernel 6.3+) what XDP the driver supports. */
static int query_xdp_features(unsigned int ifindex, struct genl_reply *rep)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_GENERIC);
	int err;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	err = genl_request(nl, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_NAME, "netdev",
			   sizeof("netdev"), family_cb, rep);
	if (err || !rep->family_id) {
		err = err ? err : -ENOENT;
		goto out;
	}
	err = genl_request(nl, rep->family_id, NP_NETDEV_CMD_DEV_GET, NP_NETDEV_A_DEV_IFINDEX,
			   &ifindex, sizeof(ifindex), netdev_cb, rep);
out:
	mnl_socket_close(nl);
	return err;
}

static void probe_iface(struct netprobe_probe_report *r, const char *ifname)
{
	struct genl_reply rep = {};
	unsigned int ifindex = if_nametoindex(ifname);

	if (!ifindex) {
		add(r, "interface", false, true, "no interface named %s in this network namespace",
		    ifname);
		return;
	}
	add(r, "interface", true, true, "%s is ifindex %u", ifname, ifindex);
	if (query_xdp_features(ifindex, &rep) || !rep.have_features) {
		add(r, "xdp_native", false, false,
		    "cannot ask the kernel (netdev netlink, 6.3+) about %s's driver; "
		    "netprobe tries native XDP and falls back to generic",
		    ifname);
		return;
	}
	bool native = rep.xdp_features & NP_NETDEV_XDP_ACT_BASIC;

	add(r, "xdp_native", native, false,
	    native ? "%s's driver runs XDP natively"
		   : "%s's driver has no native XDP; netprobe uses generic (skb) mode, slower",
	    ifname);
}

int netprobe_probe(const char *ifname, struct netprobe_probe_report *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->supported = true;
	np_log_install_libbpf();
	probe_kernel(out);
	probe_btf(out);
	probe_bpf_syscall(out);
	probe_caps(out);
	probe_bpffs(out);
	probe_map_types(out);
	probe_programs(out);
	probe_tc(out);
	if (ifname)
		probe_iface(out, ifname);
	return 0;
}
