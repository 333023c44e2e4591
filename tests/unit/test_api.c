// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libnetprobe's API: bad arguments, attach/detach/re-attach, several
 * interfaces, state that outlives a manager, clsact, a foreign XDP program.
 * The test moves itself into a network namespace of its own first, so the
 * veth pairs it makes are gone when it exits, whatever happens.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include "netns_fixture.h"
#include "programs/programs.h"
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <netprobe/netprobe.h>
#include "bpf_fixture.h"
#include "../lib/pktbuild.h"

static char pin_path[128];

static int group_setup(void **state)
{
	(void)state;
	if (enter_private_netns())
		return -1;
	for (int i = 0; i < 2; i++)
		run("ip link add npa%d type veth peer name npb%d && ip link set npa%d up && "
		    "ip link set npb%d up",
		    i, i, i, i);
	snprintf(pin_path, sizeof(pin_path), "/sys/fs/bpf/np-unit-%d", getpid());
	return 0;
}

/* After each test, whatever it left (a failed assert skips its own cleanup). */
static int detach_everything(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_manager *m;

	(void)state;
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	m = netprobe_manager_new(&cfg);
	if (m && netprobe_manager_load(m) == 0)
		netprobe_manager_detach(m, NULL);
	netprobe_manager_free(m);
	for (int i = 0; i < 2; i++) {
		char ifname[8];

		snprintf(ifname, sizeof(ifname), "npb%d", i);
		bpf_xdp_detach(if_nametoindex(ifname), 0, NULL);
		snprintf(ifname, sizeof(ifname), "npa%d", i);
		bpf_xdp_detach(if_nametoindex(ifname), 0, NULL);
	}
	return system("for i in npa0 npb0 npa1 npb1; do tc qdisc del dev $i clsact 2>/dev/null; "
		      "done; true");
}

/* A manager of cfg, loaded. */
static struct netprobe_manager *loaded(const struct netprobe_config *cfg)
{
	struct netprobe_manager *m = netprobe_manager_new(cfg);

	assert_non_null(m);
	assert_int_equal(netprobe_manager_load(m), 0);
	return m;
}

static struct netprobe_manager *open_manager(enum netprobe_tc_attach_mode tc)
{
	struct netprobe_config cfg;

	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	cfg.tc_attach_mode = tc;
	return loaded(&cfg);
}

static int count_one(const struct netprobe_iface *it, void *ctx)
{
	(void)it;
	(*(int *)ctx)++;
	return 0;
}

static int attached_count(struct netprobe_manager *m)
{
	int n = 0;

	assert_int_equal(netprobe_manager_foreach_iface(m, count_one, &n), 0);
	return n;
}

static __u32 xdp_prog_id(const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(if_nametoindex(ifname), 0, &q))
		return 0;
	return q.prog_id ? q.prog_id : q.skb_prog_id;
}

static bool exists(const char *suffix)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", pin_path, suffix);
	return stat(path, &st) == 0;
}

static void test_config_defaults(void **state)
{
	struct netprobe_config cfg;

	(void)state;
	netprobe_config_default(&cfg);
	assert_int_equal(cfg.sz, sizeof(cfg));
	assert_int_equal(cfg.xdp_mode, NETPROBE_XDP_MONITOR);
	assert_int_equal(cfg.flow_table_size, NETPROBE_DEFAULT_FLOW_ENTRIES);
	assert_string_equal(cfg.pin_path, NETPROBE_DEFAULT_PIN_PATH);
	assert_true(cfg.batch_size > 0 && cfg.batch_timeout_ms > 0);
	assert_int_equal(cfg.lock_timeout_ms, 10000);
}

static void test_config_detection_by_name(void **state)
{
	struct netprobe_config cfg;

	(void)state;
	netprobe_config_default(&cfg);
	assert_ptr_equal(netprobe_config_detection(&cfg, "port_scan", 9), &cfg.port_scan);
	assert_ptr_equal(netprobe_config_detection(&cfg, "syn_flood_dst=5", 13),
			 &cfg.syn_flood_dst);
	/* A prefix of a name is not the name. */
	assert_null(netprobe_config_detection(&cfg, "syn_flood_dst", 9 - 1));
	assert_null(netprobe_config_detection(&cfg, "frob", 4));
	assert_null(netprobe_config_detection(NULL, "port_scan", 9));
	assert_null(netprobe_config_detection(&cfg, NULL, 0));
}

static void test_new_rejects_bad_config(void **state)
{
	struct netprobe_config good, bad;

	(void)state;
	netprobe_config_default(&good);
#define EXPECT_REJECTED(mutation, err)                                                             \
	do {                                                                                       \
		bad = good;                                                                        \
		mutation;                                                                          \
		errno = 0;                                                                         \
		assert_null(netprobe_manager_new(&bad));                                           \
		assert_int_equal(errno, err);                                                      \
	} while (0)
	EXPECT_REJECTED(bad.sz = 8, EINVAL);
	EXPECT_REJECTED(bad.flow_table_size = 10, EINVAL);
	EXPECT_REJECTED(bad.flow_table_size = 1u << 30, EINVAL);
	EXPECT_REJECTED(strcpy(bad.pin_path, "relative/path"), EINVAL);
	EXPECT_REJECTED(strcpy(bad.pin_path, "/sys/fs/bpf/np/"), EINVAL);
	EXPECT_REJECTED(strcpy(bad.pin_path, "/"), EINVAL);
	EXPECT_REJECTED(memset(bad.pin_path, 'a', sizeof(bad.pin_path)), EINVAL);
	EXPECT_REJECTED(bad.lock_timeout_ms = 3600001, EINVAL);
	EXPECT_REJECTED(bad.batch_size = 0, EINVAL);
	EXPECT_REJECTED(bad.xdp_attach_mode = 7, EINVAL);
	EXPECT_REJECTED(bad.tc_attach_mode = 9, EINVAL);
	/* Unknown modes are refused, not silently run as monitor. */
	EXPECT_REJECTED(bad.xdp_mode = 7, EINVAL);
	/* Load balancer sizes: the Maglev table must be a prime. */
	EXPECT_REJECTED(bad.lb_table_size = 65536, EINVAL);
	EXPECT_REJECTED(bad.lb_table_size = 97, EINVAL);
	EXPECT_REJECTED(bad.lb_table_size = 1048583, EINVAL);
	EXPECT_REJECTED(bad.lb_max_services = 0, EINVAL);
	/* 1 GiB for every service's two tables (current, previous) of 4097 chunks of 64 bytes. */
	EXPECT_REJECTED(bad.lb_max_services = 2048, EINVAL);
	EXPECT_REJECTED(bad.lb_max_backends = 0, EINVAL);
	EXPECT_REJECTED(bad.lb_conn_table_size = 10, EINVAL);
	EXPECT_REJECTED(bad.lb_route_cache_ms = 60001, EINVAL);
	/* Filter settings. */
	EXPECT_REJECTED(bad.syn_flood.threshold = 0, EINVAL);
	/* 100 a second over 10 ms is one packet a window: every packet would be a flood. */
	EXPECT_REJECTED((bad.syn_flood.threshold = 100, bad.syn_flood.window_ms = 10), EINVAL);
	EXPECT_REJECTED(bad.udp_flood_dst.window_ms = 5, EINVAL);
	EXPECT_REJECTED(bad.port_scan.threshold = 257, EINVAL);
	EXPECT_REJECTED(bad.port_scan_hosts = 129, EINVAL);
	EXPECT_REJECTED(bad.port_scan_hosts = 0, EINVAL);
	EXPECT_REJECTED((bad.rate_anomaly.enabled = true, bad.rate_anomaly.threshold = 100),
			EINVAL);
	EXPECT_REJECTED((bad.mitigation = true, bad.mitigation_ttl_s = 0), EINVAL);
	EXPECT_REJECTED(bad.ipv6_source_prefix = 31, EINVAL);
	EXPECT_REJECTED(bad.ipv6_source_prefix = 129, EINVAL);
	EXPECT_REJECTED(bad.acl_max_rules = 10, EINVAL);
	EXPECT_REJECTED(bad.mitigation_max_blocks = bad.acl_max_rules, EINVAL);
	EXPECT_REJECTED(bad.acl_v4_groups = 1, EINVAL);
	EXPECT_REJECTED(bad.ring_buffer_size = 3u << 12, EINVAL);
	EXPECT_REJECTED((bad.enable_detailed_events = true, bad.detailed_events_per_sec = 0),
			EINVAL);
	EXPECT_REJECTED(bad.syn_flood.threshold = 1000000001, EINVAL);
	/* The ranges validation uses are the ones callers read. */
	const struct netprobe_setting_range *r = netprobe_config_range("flow_table_size");

	assert_non_null(r);
	assert_int_equal(r->min, 1024);
	assert_int_equal(r->max, 1u << 26);
	EXPECT_REJECTED(bad.flow_table_size = r->min - 1, EINVAL);
	bad = good;
	bad.flow_table_size = r->max;
	struct netprobe_manager *largest = netprobe_manager_new(&bad);

	assert_non_null(largest);
	netprobe_manager_free(largest);
	assert_non_null(netprobe_config_range("detection_window_ms"));
	assert_null(netprobe_config_range("flow_table"));
	assert_null(netprobe_config_range(NULL));
	/* The most services that fit, with the default table. */
	bad = good;
	bad.lb_max_services = 2047;
	struct netprobe_manager *most = netprobe_manager_new(&bad);

	assert_non_null(most);
	netprobe_manager_free(most);
	/* A switched-off detection needs no valid numbers. */
	bad = good;
	bad.syn_flood = (struct netprobe_detection){false, 0, 0};
	struct netprobe_manager *ok = netprobe_manager_new(&bad);

	assert_non_null(ok);
	netprobe_manager_free(ok);
#undef EXPECT_REJECTED
}

static void test_null_and_unloaded_arguments(void **state)
{
	struct netprobe_manager *m = netprobe_manager_new(NULL);
	struct netprobe_global_stats st;
	struct netprobe_config cfg;
	struct netprobe_iface it;
	unsigned long long v;
	struct netprobe_tc_dev_key key = {.direction = 5};

	(void)state;
	assert_non_null(m);
	netprobe_manager_free(NULL);
	assert_int_equal(netprobe_manager_load(NULL), -EINVAL);
	assert_int_equal(netprobe_manager_attach(NULL, "lo"), -EINVAL);
	assert_int_equal(netprobe_manager_detach(NULL, NULL), -EINVAL);
	assert_int_equal(netprobe_manager_get_config(NULL, &cfg), -EINVAL);
	assert_int_equal(netprobe_manager_get_config(m, NULL), -EINVAL);
	/* Not loaded yet: every call that needs the maps says so. */
	assert_int_equal(netprobe_manager_attach(m, "npb0"), -EINVAL);
	assert_int_equal(netprobe_manager_global_stats(m, &st), -EINVAL);
	assert_int_equal(netprobe_manager_iface_stats(m, "npb0", &st), -EINVAL);
	assert_int_equal(netprobe_manager_iface(m, "npb0", &it), -EINVAL);
	assert_int_equal(netprobe_manager_foreach_flow(m, NULL, NULL), -EINVAL);
	assert_int_equal(netprobe_manager_foreach_counter(m, NULL, NULL), -EINVAL);
	assert_int_equal(netprobe_manager_tc_dev_stat(m, &key, &v), -EINVAL);
	assert_int_equal(netprobe_probe(NULL, NULL), -EINVAL);
	assert_int_equal(netprobe_global_stats_format(NULL, NULL, 0), -EINVAL);
	netprobe_manager_free(m);
}

static void test_attach_bad_interface(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);

	(void)state;
	assert_int_equal(netprobe_manager_attach(m, "nosuch0"), -ENODEV);
	assert_int_equal(netprobe_manager_attach(m, ""), -EINVAL);
	assert_int_equal(netprobe_manager_attach(m, NULL), -EINVAL);
	assert_int_equal(netprobe_manager_attach(m, "a-name-longer-than-ifnamsiz"), -EINVAL);
	assert_int_equal(netprobe_manager_detach(m, "npb0"), -ENOENT);
	assert_int_equal(netprobe_manager_detach(m, "nosuch0"), -ENODEV);
	assert_int_equal(attached_count(m), 0);
	netprobe_manager_free(m);
	/* Nothing attached: nothing left pinned. */
	assert_false(exists(""));
}

static void test_attach_detach_reattach(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);
	struct netprobe_iface it;

	(void)state;
	for (int round = 0; round < 2; round++) {
		assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
		assert_int_not_equal(xdp_prog_id("npb0"), 0);
		assert_true(exists("/links/slot0_xdp"));
		/* tcx links from 6.6, a clsact qdisc netprobe makes before. */
		assert_int_equal(exists("/links/slot0_tcx_ingress"), kernel_at_least(6, 6));
		assert_int_equal(exists("/links/slot0_tcx_egress"), kernel_at_least(6, 6));
		assert_int_equal(netprobe_manager_iface(m, "npb0", &it), 0);
		assert_string_equal(it.name, "npb0");
		assert_int_equal(it.ifindex, if_nametoindex("npb0"));
		assert_int_equal(it.tc_attach, kernel_at_least(6, 6) ? NETPROBE_TC_TCX
								     : NETPROBE_TC_CLSACT_CREATED);
		assert_int_not_equal(attached_tc_prog_id(m, pin_path, "npb0", false), 0);
		assert_int_not_equal(attached_tc_prog_id(m, pin_path, "npb0", true), 0);
		assert_false(it.xdp_generic);
		assert_true(it.in_current_netns);
		/* Again: the programs are replaced through the same links, not added twice. */
		__u32 before = xdp_prog_id("npb0");

		assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
		assert_int_not_equal(xdp_prog_id("npb0"), 0);
		assert_int_not_equal(xdp_prog_id("npb0"), before);
		assert_int_equal(attached_count(m), 1);
		if (!kernel_at_least(6, 6)) {
			/* clsact: the filters replaced in place, one on each side. */
			assert_int_equal(np_tc_filter_count(it.ifindex, NP_TC_PARENT_INGRESS), 1);
			assert_int_equal(np_tc_filter_count(it.ifindex, NP_TC_PARENT_EGRESS), 1);
		}

		assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
		assert_int_equal(xdp_prog_id("npb0"), 0);
		/* No filter left, nor the qdisc netprobe made (a dump then finds none). */
		assert_true(np_tc_filter_count(it.ifindex, NP_TC_PARENT_INGRESS) <= 0);
		assert_true(np_tc_filter_count(it.ifindex, NP_TC_PARENT_EGRESS) <= 0);
		assert_int_equal(netprobe_manager_iface(m, "npb0", &it), -ENOENT);
		assert_false(exists("")); /* the last detach removes the pinned state */
	}
	netprobe_manager_free(m);
}

/*
 * What an interface was attached with is kept in the pinned state: another
 * manager, with the defaults, reads it back, live changes included.
 */
static void test_iface_config_in_pinned_state(void **state)
{
	struct netprobe_manager *m, *other = open_manager(NETPROBE_TC_ATTACH_AUTO);
	struct netprobe_config cfg, got;
	struct netprobe_iface it;
	char buf[64];

	(void)state;
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	cfg.xdp_mode = NETPROBE_XDP_FILTER;
	cfg.syn_flood = (struct netprobe_detection){true, 777, 2000};
	cfg.port_scan.enabled = false;
	cfg.mitigation = true;
	cfg.mitigation_ttl_s = 99;
	cfg.ipv6_source_prefix = 56;
	cfg.enable_detailed_events = true;
	cfg.detailed_events_per_sec = 321;
	cfg.decap = true;
	cfg.decap_from_count = 1;
	assert_int_equal(netprobe_cidr_parse("10.9.0.0/16", &cfg.decap_from[0]), 0);
	cfg.tc_attach_mode = NETPROBE_TC_ATTACH_CLSACT;
	m = loaded(&cfg);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);

	assert_int_equal(netprobe_manager_iface(other, "npb0", &it), 0);
	assert_int_equal(netprobe_manager_iface_config(other, &it, &got), 0);
	assert_int_equal(got.xdp_mode, NETPROBE_XDP_FILTER);
	assert_true(got.syn_flood.enabled);
	assert_int_equal(got.syn_flood.threshold, 777);
	assert_int_equal(got.syn_flood.window_ms, 2000);
	assert_false(got.port_scan.enabled);
	assert_true(got.udp_flood.enabled);
	assert_true(got.mitigation);
	assert_false(got.mitigation_unproven);
	assert_int_equal(got.mitigation_ttl_s, 99);
	assert_int_equal(got.ipv6_source_prefix, 56);
	assert_true(got.enable_detailed_events);
	assert_int_equal(got.detailed_events_per_sec, 321);
	assert_true(got.decap);
	assert_int_equal(got.decap_from_count, 1);
	assert_string_equal(netprobe_cidr_str(&got.decap_from[0], buf, sizeof(buf)), "10.9.0.0/16");
	assert_int_equal(got.tc_attach_mode, NETPROBE_TC_ATTACH_CLSACT);

	/* A live change shows too; names of the detections in their settings' order. */
	cfg.syn_flood.threshold = 888;
	cfg.mitigation = false;
	assert_int_equal(netprobe_manager_update_config(m, &cfg), 0);
	assert_int_equal(netprobe_manager_iface_config(other, &it, &got), 0);
	assert_int_equal(got.syn_flood.threshold, 888);
	assert_false(got.mitigation);
	assert_string_equal(netprobe_config_detection_name(0), "syn_flood");
	assert_null(netprobe_config_detection_name(NETPROBE_CONFIG_DETECTIONS));

	/* Gone once detached; bad arguments. */
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_iface_config(other, &it, &got), -ENOENT);
	assert_int_equal(netprobe_manager_iface_config(other, NULL, &got), -EINVAL);
	assert_int_equal(netprobe_manager_iface_config(NULL, &it, &got), -EINVAL);
	netprobe_manager_free(m);
	netprobe_manager_free(other);
}

/*
 * Opts by lifetime, libbpf's way: an older caller's smaller struct gets the
 * defaults past its sz (whatever its memory holds there), a newer caller's
 * larger one is accepted only with a zero tail, and _default() writes no
 * byte past the sz it is given.
 */
static void test_opts_older_and_newer_callers(void **state)
{
	struct {
		struct netprobe_attach_opts o;
		unsigned char tail[32];
	} newer;
	union {
		struct netprobe_attach_opts o;
		unsigned char b[sizeof(struct netprobe_attach_opts)];
	} older;
	size_t older_sz = offsetof(struct netprobe_attach_opts, enable_xdp_events);
	struct netprobe_state_opts so;
	struct netprobe_attach_opts got;
	struct netprobe_manager *m;
	struct netprobe_iface it;

	(void)state;
	/* Only the first older_sz bytes written; the rest is left as it was. */
	memset(&older, 0x5a, sizeof(older));
	netprobe_attach_opts_default(&older.o, older_sz);
	assert_int_equal(older.o.sz, older_sz);
	assert_int_equal(older.o.xdp_mode, NETPROBE_XDP_MONITOR);
	for (size_t i = older_sz; i < sizeof(older); i++)
		assert_int_equal(older.b[i], 0x5a);
	/* Past sz the garbage is not read: the defaults are. */
	older.o.xdp_mode = NETPROBE_XDP_FILTER;
	assert_int_equal(netprobe_attach_opts_validate(&older.o), 0);

	netprobe_state_opts_default(&so, sizeof(so));
	snprintf(so.pin_path, sizeof(so.pin_path), "%s", pin_path);
	m = netprobe_manager_new_opts(&so);
	assert_non_null(m);
	assert_int_equal(netprobe_manager_load(m), 0);
	assert_int_equal(netprobe_manager_attach_opts(m, "npb0", &older.o), 0);
	assert_int_equal(netprobe_manager_iface(m, "npb0", &it), 0);
	netprobe_attach_opts_default(&got, sizeof(got));
	assert_int_equal(netprobe_manager_iface_opts(m, &it, &got), 0);
	assert_int_equal(got.xdp_mode, NETPROBE_XDP_FILTER);
	assert_true(got.enable_security_alerts);
	assert_int_equal(got.syn_flood.threshold, 2000);
	assert_int_equal(got.mitigation_ttl_s, 300);

	/* Read back into an older struct: nothing written past its sz. */
	memset(&older, 0x5a, sizeof(older));
	older.o.sz = older_sz;
	assert_int_equal(netprobe_manager_iface_opts(m, &it, &older.o), 0);
	assert_int_equal(older.o.xdp_mode, NETPROBE_XDP_FILTER);
	for (size_t i = older_sz; i < sizeof(older); i++)
		assert_int_equal(older.b[i], 0x5a);
	older.o.sz = 0;
	assert_int_equal(netprobe_manager_iface_opts(m, &it, &older.o), -EINVAL);

	/* A newer caller: a zero tail is fine, a set field this library does not know is not. */
	memset(&newer, 0, sizeof(newer));
	netprobe_attach_opts_default(&newer.o, sizeof(newer));
	assert_int_equal(newer.o.sz, sizeof(newer));
	newer.o.xdp_mode = NETPROBE_XDP_FILTER;
	newer.o.syn_flood.threshold = 4321;
	assert_int_equal(netprobe_attach_opts_validate(&newer.o), 0);
	assert_int_equal(netprobe_manager_attach_opts(m, "npb0", &newer.o), 0);
	assert_int_equal(netprobe_manager_iface_opts(m, &it, &got), 0);
	assert_int_equal(got.syn_flood.threshold, 4321);
	newer.tail[7] = 1;
	assert_int_equal(netprobe_attach_opts_validate(&newer.o), -EINVAL);
	assert_int_equal(netprobe_manager_attach_opts(m, "npb0", &newer.o), -EINVAL);
	newer.tail[7] = 0;
	newer.o.sz = 4; /* smaller than any version */
	assert_int_equal(netprobe_manager_attach_opts(m, "npb0", &newer.o), -EINVAL);
	assert_int_equal(netprobe_manager_iface_opts(m, &it, &got), 0);
	assert_int_equal(got.syn_flood.threshold, 4321);

	/* A detection by name only where the caller's struct has room for it. */
	assert_non_null(netprobe_attach_opts_detection(&got, "port_scan", 9));
	older.o.sz = older_sz;
	assert_null(netprobe_attach_opts_detection(&older.o, "port_scan", 9));
	assert_null(netprobe_attach_opts_detection(&got, "port_scanner", 12));

	/* State opts are checked as the config's are. */
	so.acl_max_rules = 10;
	errno = 0;
	assert_null(netprobe_manager_new_opts(&so));
	assert_int_equal(errno, EINVAL);
	netprobe_manager_free(m);
}

/*
 * Interfaces attached with their own opts keep their own: one in filter
 * mode with mitigation, one in monitor mode, and changing one (or a bad
 * change, refused whole) leaves the other as it was. The manager's config
 * is what attach without opts applies.
 */
static void test_attach_opts_each_its_own(void **state)
{
	struct netprobe_attach_opts filter, bad, got;
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	struct netprobe_iface it0, it1;

	(void)state;
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	m = loaded(&cfg);
	netprobe_attach_opts_default(&filter, sizeof(filter));
	filter.xdp_mode = NETPROBE_XDP_FILTER;
	filter.mitigation = true;
	filter.mitigation_ttl_s = 77;
	filter.syn_flood.threshold = 777;
	assert_int_equal(netprobe_manager_attach_opts(m, "npb0", &filter), 0);
	assert_int_equal(netprobe_manager_attach(m, "npb1"), 0);
	assert_int_equal(netprobe_manager_iface(m, "npb0", &it0), 0);
	assert_int_equal(netprobe_manager_iface(m, "npb1", &it1), 0);
	assert_int_equal(it0.xdp_mode, NETPROBE_XDP_FILTER);
	assert_int_equal(it1.xdp_mode, NETPROBE_XDP_MONITOR);
	netprobe_attach_opts_default(&got, sizeof(got));
	assert_int_equal(netprobe_manager_iface_opts(m, &it1, &got), 0);
	assert_false(got.mitigation);
	assert_int_equal(got.syn_flood.threshold, 2000);

	/* npb1 changes; npb0 keeps its own. */
	filter.mitigation = false;
	filter.syn_flood.threshold = 999;
	assert_int_equal(netprobe_manager_attach_opts(m, "npb1", &filter), 0);
	assert_int_equal(netprobe_manager_iface_opts(m, &it0, &got), 0);
	assert_true(got.mitigation);
	assert_int_equal(got.mitigation_ttl_s, 77);
	assert_int_equal(got.syn_flood.threshold, 777);
	assert_int_equal(netprobe_manager_iface_opts(m, &it1, &got), 0);
	assert_false(got.mitigation);
	assert_int_equal(got.syn_flood.threshold, 999);

	/* Refused whole before anything changes: decap with no tunnel source. */
	bad = filter;
	bad.decap = true;
	assert_int_equal(netprobe_manager_attach_opts(m, "npb0", &bad), -EINVAL);
	assert_int_equal(netprobe_manager_iface_opts(m, &it0, &got), 0);
	assert_false(got.decap);
	assert_int_equal(got.syn_flood.threshold, 777);

	/* The manager's config is untouched by either. */
	assert_int_equal(netprobe_manager_get_config(m, &cfg), 0);
	assert_int_equal(cfg.xdp_mode, NETPROBE_XDP_MONITOR);
	assert_int_equal(cfg.syn_flood.threshold, 2000);
	assert_int_equal(netprobe_manager_detach(m, NULL), 0);
	netprobe_manager_free(m);
}

/* The verdict the XDP program on ifname gives a UDP packet from src (BPF_PROG_RUN). */
static int xdp_verdict_from(const char *ifname, const char *src)
{
	struct pkt_spec s = {.family = 4,
			     .src = src,
			     .dst = "192.0.2.2",
			     .proto = IPPROTO_UDP,
			     .sport = 4242,
			     .dport = 53,
			     .payload = 20};
	uint8_t frame[256];
	size_t len = pkt_build(&s, frame, sizeof(frame));
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = len);
	int fd = bpf_prog_get_fd_by_id(xdp_prog_id(ifname));

	assert_true(fd >= 0);
	assert_int_equal(bpf_prog_test_run_opts(fd, &run), 0);
	close(fd);
	return (int)run.retval;
}

/*
 * A live switch is whole or nothing: when a TC hook cannot take the new
 * programs (here someone deleted the clsact qdisc), XDP goes back to what
 * the interface ran (monitor mode: a denied source passes), and the
 * settings recorded stay the ones in force.
 */
static void test_failed_switch_keeps_the_old(void **state)
{
	struct netprobe_attach_opts a, got;
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_CLSACT);
	struct netprobe_iface it;

	(void)state;
	assert_int_equal(netprobe_blacklist_add(m, "198.51.100.7", 0), 0);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	assert_int_equal(xdp_verdict_from("npb0", "198.51.100.7"), XDP_PASS);
	run("tc qdisc del dev npb0 clsact");
	netprobe_attach_opts_default(&a, sizeof(a));
	a.xdp_mode = NETPROBE_XDP_FILTER;
	a.tc_attach_mode = NETPROBE_TC_ATTACH_CLSACT;
	assert_int_not_equal(netprobe_manager_attach_opts(m, "npb0", &a), 0);
	assert_int_equal(xdp_verdict_from("npb0", "198.51.100.7"), XDP_PASS);
	assert_int_equal(netprobe_manager_iface(m, "npb0", &it), 0);
	assert_int_equal(it.xdp_mode, NETPROBE_XDP_MONITOR);
	netprobe_attach_opts_default(&got, sizeof(got));
	assert_int_equal(netprobe_manager_iface_opts(m, &it, &got), 0);
	assert_int_equal(got.xdp_mode, NETPROBE_XDP_MONITOR);
	/* The same switch where the hooks take it: the denied source is dropped. */
	run("tc qdisc add dev npb0 clsact");
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_attach_opts(m, "npb0", &a), 0);
	assert_int_equal(xdp_verdict_from("npb0", "198.51.100.7"), XDP_DROP);
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
	assert_int_equal(netprobe_blacklist_del(m, "198.51.100.7"), 0);
	netprobe_manager_free(m);
}

/*
 * What attached for a while (monitor) and goes detaches only what it saw:
 * a switch by another process in between is never undone.
 */
static void test_detach_unchanged(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);
	struct netprobe_attach_opts seen, filter;
	struct netprobe_iface it;

	(void)state;
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_iface(m, "npb0", &it), 0);
	netprobe_attach_opts_default(&seen, sizeof(seen));
	assert_int_equal(netprobe_manager_iface_opts(m, &it, &seen), 0);
	/* Another command switches it to filter mode: it stays, in filter mode. */
	filter = seen;
	filter.xdp_mode = NETPROBE_XDP_FILTER;
	assert_int_equal(netprobe_manager_attach_opts(m, "npb0", &filter), 0);
	assert_int_equal(netprobe_manager_detach_unchanged(m, &it, &seen), -ECANCELED);
	assert_int_equal(attached_count(m), 1);
	/* Detached and attached again (a new attach time, the same settings): it stays too. */
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_detach_unchanged(m, &it, &seen), -ECANCELED);
	/* As seen: detached. Then gone: -ENOENT. Bad arguments: -EINVAL. */
	assert_int_equal(netprobe_manager_iface(m, "npb0", &it), 0);
	assert_int_equal(netprobe_manager_detach_unchanged(m, &it, &seen), 0);
	assert_int_equal(attached_count(m), 0);
	assert_int_equal(netprobe_manager_detach_unchanged(m, &it, &seen), -ENOENT);
	assert_int_equal(netprobe_manager_detach_unchanged(m, NULL, &seen), -EINVAL);
	assert_int_equal(netprobe_manager_detach_unchanged(m, &it, NULL), -EINVAL);
	netprobe_manager_free(m);
}

/*
 * A live config update that fails on one interface puts the others back to
 * what each had, not to the updating manager's config; and the TC attach
 * kind, like the XDP mode, is kept: asking for the other one is refused.
 */
static void test_update_rollback_keeps_each_own(void **state)
{
	struct netprobe_manager *filter, *generic, *updater;
	struct netprobe_config cfg, got;
	struct netprobe_iface it;

	(void)state;
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	cfg.xdp_mode = NETPROBE_XDP_FILTER;
	cfg.mitigation = true;
	cfg.tc_attach_mode = NETPROBE_TC_ATTACH_CLSACT;
	filter = loaded(&cfg);
	assert_int_equal(netprobe_manager_attach(filter, "npb0"), 0);
	cfg.xdp_mode = NETPROBE_XDP_MONITOR;
	cfg.mitigation = false;
	cfg.tc_attach_mode = NETPROBE_TC_ATTACH_AUTO;
	cfg.xdp_attach_mode = NETPROBE_XDP_ATTACH_GENERIC;
	generic = loaded(&cfg);
	assert_int_equal(netprobe_manager_attach(generic, "npb1"), 0);

	cfg.xdp_attach_mode = NETPROBE_XDP_ATTACH_NATIVE;
	cfg.tc_attach_mode = NETPROBE_TC_ATTACH_CLSACT;
	updater = loaded(&cfg);
	assert_int_equal(netprobe_manager_update_config(updater, &cfg), -EBUSY);
	assert_int_equal(netprobe_manager_iface(updater, "npb0", &it), 0);
	assert_int_equal(netprobe_manager_iface_config(updater, &it, &got), 0);
	assert_int_equal(got.xdp_mode, NETPROBE_XDP_FILTER);
	assert_true(got.mitigation);
	assert_int_equal(it.xdp_mode, NETPROBE_XDP_FILTER);

	/* npb0 holds clsact: tcx asked for live is refused, the interface unchanged. */
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	cfg.tc_attach_mode = NETPROBE_TC_ATTACH_TCX;
	assert_int_equal(netprobe_manager_update_config(filter, &cfg), -EBUSY);
	assert_int_equal(netprobe_manager_iface(filter, "npb0", &it), 0);
	assert_int_equal(it.xdp_mode, NETPROBE_XDP_FILTER);
	assert_int_equal(netprobe_manager_detach(filter, NULL), 0);
	netprobe_manager_free(updater);
	netprobe_manager_free(generic);
	netprobe_manager_free(filter);
}

static void test_several_interfaces(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);

	(void)state;
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_attach(m, "npb1"), 0);
	assert_int_equal(netprobe_manager_attach(m, "npa1"), 0);
	assert_int_equal(attached_count(m), 3);
	assert_int_equal(netprobe_manager_detach(m, "npb1"), 0);
	assert_int_equal(attached_count(m), 2);
	assert_true(exists("/np_counters"));
	assert_int_equal(netprobe_manager_detach(m, NULL), 0);
	assert_int_equal(attached_count(m), 0);
	assert_int_equal(xdp_prog_id("npb0"), 0);
	assert_int_equal(xdp_prog_id("npa1"), 0);
	assert_false(exists(""));
	netprobe_manager_free(m);
}

/* What one manager attached, a later one (a later process) finds and controls. */
static void test_state_outlives_manager(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);
	struct netprobe_global_stats st;

	(void)state;
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	netprobe_manager_free(m);
	assert_int_not_equal(xdp_prog_id("npb0"), 0);
	assert_true(exists("/np_flows"));

	m = open_manager(NETPROBE_TC_ATTACH_AUTO);
	assert_int_equal(attached_count(m), 1);
	assert_int_equal(netprobe_manager_iface_stats(m, "npb0", &st), 0);
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
	netprobe_manager_free(m);
	assert_int_equal(xdp_prog_id("npb0"), 0);
}

/* Asks tc itself, an oracle independent of libbpf, whether our filter is there. */
static int clsact_filters(const char *ifname, const char *dir)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "tc filter show dev %s %s | grep -q 'handle 0x4e50'", ifname,
		 dir);
	return system(cmd) == 0;
}

static bool has_clsact(const char *ifname)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "tc qdisc show dev %s | grep -q clsact", ifname);
	return system(cmd) == 0;
}

static void test_clsact_created_and_removed(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_CLSACT);
	struct netprobe_iface it;

	(void)state;
	assert_false(has_clsact("npb0"));
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_iface(m, "npb0", &it), 0);
	assert_int_equal(it.tc_attach, NETPROBE_TC_CLSACT_CREATED);
	assert_true(has_clsact("npb0"));
	assert_int_equal(clsact_filters("npb0", "ingress"), 1);
	assert_int_equal(clsact_filters("npb0", "egress"), 1);
	assert_false(exists("/links/slot0_tcx_ingress"));
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
	/* We made the qdisc, so we remove it. */
	assert_false(has_clsact("npb0"));
	netprobe_manager_free(m);
}

static void test_clsact_of_someone_else_stays(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_CLSACT);
	struct netprobe_iface it;

	(void)state;
	run("tc qdisc add dev npb1 clsact");
	assert_int_equal(netprobe_manager_attach(m, "npb1"), 0);
	assert_int_equal(netprobe_manager_iface(m, "npb1", &it), 0);
	assert_int_equal(it.tc_attach, NETPROBE_TC_CLSACT);
	assert_int_equal(netprobe_manager_detach(m, "npb1"), 0);
	/* Our filters are gone, the qdisc that was there before stays. */
	assert_true(has_clsact("npb1"));
	assert_int_equal(clsact_filters("npb1", "ingress"), 0);
	assert_int_equal(clsact_filters("npb1", "egress"), 0);
	run("tc qdisc del dev npb1 clsact");
	netprobe_manager_free(m);
}

/* A qdisc netprobe made stays if another tool has put a filter on it since. */
static void test_clsact_with_foreign_filter_stays(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_CLSACT);
	struct bpf_fixture *fx = fx_load();
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = if_nametoindex("npb0"),
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 0x77, .priority = 7);

	(void)state;
	assert_non_null(fx);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	opts.prog_fd = bpf_program__fd(fx->skel->progs.netprobe_tc_ingress);
	assert_int_equal(bpf_tc_attach(&hook, &opts), 0);
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
	assert_true(has_clsact("npb0"));
	assert_false(clsact_filters("npb0", "egress"));
	run("tc filter show dev npb0 ingress | grep -q 'handle 0x77'");
	run("tc qdisc del dev npb0 clsact");
	netprobe_manager_free(m);
	fx_free(fx);
}

/* Another tool's XDP program is not replaced, and a failed attach leaves nothing. */
static void test_foreign_xdp_program(void **state)
{
	struct bpf_fixture *fx = fx_load();
	struct netprobe_manager *m;
	int ifindex = if_nametoindex("npb0");

	(void)state;
	assert_non_null(fx);
	assert_int_equal(bpf_xdp_attach(ifindex, bpf_program__fd(fx->skel->progs.netprobe_xdp),
					XDP_FLAGS_DRV_MODE, NULL),
			 0);
	m = open_manager(NETPROBE_TC_ATTACH_AUTO);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), -EBUSY);
	assert_int_equal(attached_count(m), 0);
	assert_false(exists("/links/slot0_xdp"));
	assert_false(exists("/links/slot0_tcx_ingress"));
	netprobe_manager_free(m);
	assert_false(exists(""));
	/* The foreign program is still the one attached. */
	assert_int_not_equal(xdp_prog_id("npb0"), 0);
	bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	fx_free(fx);
}

static int send_frames(const char *ifname, const uint8_t *frame, size_t len, int count)
{
	struct sockaddr_ll addr = {
		.sll_family = AF_PACKET, .sll_ifindex = if_nametoindex(ifname), .sll_halen = 6};
	int fd = socket(AF_PACKET, SOCK_RAW, 0), sent = 0;

	if (fd < 0)
		return -errno;
	for (int i = 0; i < count; i++)
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&addr, sizeof(addr)) ==
		    (ssize_t)len)
			sent++;
	close(fd);
	return sent;
}

static int find_flow(const struct netprobe_flow_key *k, const struct netprobe_flow_stats *st,
		     void *ctx)
{
	struct netprobe_flow_stats *out = ctx;

	if (ntohs(k->src_port) == 4242 && ntohs(k->dst_port) == 4343 &&
	    k->direction == NETPROBE_DIR_INGRESS) {
		*out = *st;
		return 1;
	}
	return 0;
}

struct named {
	const char *iface, *name;
	unsigned long long value;
	int seen;
};

static int find_counter(const char *iface, const char *name, unsigned long long value, void *ctx)
{
	struct named *n = ctx;

	if ((iface == NULL) == (n->iface == NULL) && (!iface || !strcmp(iface, n->iface)) &&
	    !strcmp(name, n->name)) {
		n->value = value;
		n->seen++;
	}
	return 0;
}

/* Frames sent over the veth show up in every view the API has of them. */
static void test_counts_reach_every_view(void **state)
{
	struct pkt_spec s = {.family = 4,
			     .src = "192.0.2.1",
			     .dst = "192.0.2.2",
			     .proto = IPPROTO_UDP,
			     .sport = 4242,
			     .dport = 4343,
			     .payload = 300};
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);
	struct netprobe_global_stats st, total;
	struct netprobe_flow_stats flow = {};
	struct netprobe_tc_dev_key key = {.ifindex = if_nametoindex("npa0"),
					  .direction = NETPROBE_DIR_EGRESS,
					  .stat_type = NETPROBE_STAT_PACKETS};
	unsigned long long tx;
	uint8_t frame[PKT_MAX];
	size_t len = pkt_build(&s, frame, sizeof(frame));
	char line[256];

	(void)state;
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_attach(m, "npa0"), 0);
	assert_int_equal(send_frames("npa0", frame, len, 25), 25);
	usleep(100000);

	assert_int_equal(netprobe_manager_iface_stats(m, "npb0", &st), 0);
	assert_int_equal(st.rx_packets, 25);
	assert_int_equal(st.rx_bytes, 25 * len);
	assert_int_equal(st.xdp_pass, 25);
	assert_int_equal(st.counters.hook[NETPROBE_HOOK_XDP].v[NETPROBE_HC_UDP_PACKETS], 25);
	/* TC ingress sees what XDP passed. */
	assert_int_equal(st.counters.hook[NETPROBE_HOOK_TC_INGRESS].v[NETPROBE_HC_PACKETS], 25);

	/* AF_PACKET frames leave through the qdisc layer, so TC egress on npa0 sees them. */
	assert_int_equal(netprobe_manager_tc_dev_stat(m, &key, &tx), 0);
	assert_int_equal(tx, 25);
	key.stat_type = NETPROBE_STAT_BYTES;
	assert_int_equal(netprobe_manager_tc_dev_stat(m, &key, &tx), 0);
	assert_int_equal(tx, 25 * len);
	key.ifindex = 999999;
	assert_int_equal(netprobe_manager_tc_dev_stat(m, &key, &tx), -ENOENT);

	assert_int_equal(netprobe_manager_global_stats(m, &total), 0);
	assert_int_equal(total.rx_packets, 25);
	assert_int_equal(total.tx_packets, 25);

	assert_int_equal(netprobe_manager_foreach_flow(m, find_flow, &flow), 1);
	assert_int_equal(flow.packets, 25);
	assert_int_equal(flow.bytes, 25 * len);

	struct named n = {.iface = "npb0", .name = "rx_packets"};

	assert_int_equal(netprobe_manager_foreach_counter(m, find_counter, &n), 0);
	assert_int_equal(n.seen, 1);
	assert_int_equal(n.value, 25);
	n = (struct named){.iface = NULL, .name = "xdp_udp_bytes"};
	assert_int_equal(netprobe_manager_foreach_counter(m, find_counter, &n), 0);
	assert_int_equal(n.seen, 1);
	assert_int_equal(n.value, 25 * len);

	/* The same names for stats already in hand. */
	n = (struct named){.iface = NULL, .name = "xdp_udp_packets"};
	assert_int_equal(netprobe_global_stats_foreach_counter(&st, find_counter, &n), 0);
	assert_int_equal(n.seen, 1);
	assert_int_equal(n.value, 25);
	assert_int_equal(netprobe_global_stats_foreach_counter(NULL, find_counter, &n), -EINVAL);

	assert_true(netprobe_global_stats_format(&st, line, sizeof(line)) > 0);
	assert_non_null(strstr(line, "rx 25 pkts"));

	assert_int_equal(netprobe_manager_detach(m, NULL), 0);
	netprobe_manager_free(m);
}

/*
 * A manager that loaded state which was since replaced (everything detached,
 * then attached anew by another manager) must not disturb the new state.
 */
static void test_stale_manager_leaves_new_state_alone(void **state)
{
	struct netprobe_manager *old = open_manager(NETPROBE_TC_ATTACH_AUTO);
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);

	(void)state;
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0); /* the last: unpins */
	netprobe_manager_free(m);
	m = open_manager(NETPROBE_TC_ATTACH_AUTO);
	assert_int_equal(netprobe_manager_attach(m, "npb1"), 0);
	/* old's registry is the old map: it thinks slot 0 is free, but it is npb1's now. */
	assert_int_equal(netprobe_manager_attach(old, "npb0"), -ESTALE);
	assert_int_equal(xdp_prog_id("npb0"), 0);
	netprobe_manager_free(old);
	assert_true(exists("/np_counters"));
	assert_int_not_equal(xdp_prog_id("npb1"), 0);
	assert_int_equal(attached_count(m), 1);
	netprobe_manager_free(m);
}

/* Pinned state from another version: refused, and the load leaves nothing of its own. */
static void test_incompatible_pinned_state(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	char path[256];
	int fd;

	(void)state;
	assert_int_equal(mkdir(pin_path, 0700), 0);
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "np_flows", 8, 8, 65536, NULL);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/np_flows", pin_path);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	m = netprobe_manager_new(&cfg);
	assert_non_null(m);
	assert_int_equal(netprobe_manager_load(m), -EINVAL);
	assert_false(exists("/np_counters"));
	assert_false(exists("/links"));
	assert_true(exists("/np_flows")); /* not ours to remove */
	netprobe_manager_free(m);
	unlink(path);
	rmdir(pin_path);
}

static int load_at(const char *path)
{
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	int err;

	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", path);
	m = netprobe_manager_new(&cfg);
	assert_non_null(m);
	err = netprobe_manager_load(m);
	netprobe_manager_free(m);
	return err;
}

/*
 * A pin directory that others could write to or that another user owns, or
 * a symlink in its place, is refused with -NETPROBE_ERR_PIN_UNTRUSTED, and nothing is pinned
 * there (or where the symlink points).
 */
static void test_untrusted_pin_path(void **state)
{
	char target[160];

	(void)state;
	assert_int_equal(mkdir(pin_path, 0700), 0);
	assert_int_equal(chmod(pin_path, 0770), 0);
	assert_int_equal(load_at(pin_path), -NETPROBE_ERR_PIN_UNTRUSTED);
	assert_false(exists("/np_counters"));
	assert_false(exists("/links"));
	assert_int_equal(chmod(pin_path, 0700), 0);
	assert_int_equal(chown(pin_path, 65534, 65534), 0);
	assert_int_equal(load_at(pin_path), -NETPROBE_ERR_PIN_UNTRUSTED);
	assert_false(exists("/np_counters"));
	assert_int_equal(chown(pin_path, 0, 0), 0);
	assert_int_equal(load_at(pin_path), 0); /* and, unused, it is removed again */
	assert_false(exists(""));

	snprintf(target, sizeof(target), "%s-target", pin_path);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, pin_path), 0);
	assert_int_equal(load_at(pin_path), -NETPROBE_ERR_PIN_UNTRUSTED);
	assert_int_equal(unlink(pin_path), 0);
	assert_int_equal(rmdir(target), 0); /* empty: nothing went through the link */
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Changes lock PIN/lock (0700, in the 0700 pin directory): while another
 * open file holds it, a change waits lock_timeout_ms and fails with
 * -EWOULDBLOCK, changing nothing; released, the change goes through.
 */
static void test_lock_wait_is_bounded(void **state)
{
	struct netprobe_config cfg;
	struct netprobe_manager *m;
	char lock_path[160];
	struct stat st;
	long long t0, took;
	int fd;

	(void)state;
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	cfg.lock_timeout_ms = 300;
	m = netprobe_manager_new(&cfg);
	assert_non_null(m);
	assert_int_equal(netprobe_manager_load(m), 0);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	snprintf(lock_path, sizeof(lock_path), "%s/lock", pin_path);
	assert_int_equal(lstat(lock_path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);

	fd = open(lock_path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	t0 = mono_ms();
	assert_int_equal(netprobe_manager_detach(m, "npb0"), -EWOULDBLOCK);
	took = mono_ms() - t0;
	assert_true(took >= 300 && took < 2000);
	assert_int_not_equal(xdp_prog_id("npb0"), 0);
	close(fd);
	assert_int_equal(netprobe_manager_detach(m, "npb0"), 0);
	assert_int_equal(xdp_prog_id("npb0"), 0);
	netprobe_manager_free(m);
	assert_false(exists("")); /* the lock went with the unused state */
}

/*
 * The pinned state removed under a manager whose own view still holds
 * something (here a list entry; the demo's rm -rf after its blocks): the
 * lock that the manager's free takes leaves no pin directory behind.
 */
static void test_free_after_state_removed_leaves_nothing(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);

	(void)state;
	assert_int_equal(netprobe_blacklist_add(m, "192.0.2.1", 0), 0);
	run("rm -rf %s", pin_path);
	netprobe_manager_free(m);
	assert_false(exists(""));
}

static void test_probe(void **state)
{
	struct netprobe_probe_report r;
	bool saw_native = false;
	int filter_items = 0;

	(void)state;
	assert_int_equal(netprobe_probe("npb0", &r), 0);
	for (int i = 0; i < r.count; i++) {
		if (r.items[i].required && !r.items[i].ok)
			print_message("required, missing: %s: %s\n", r.items[i].name,
				      r.items[i].detail);
		assert_true(r.items[i].detail[0] != '\0');
		if (!strcmp(r.items[i].name, "xdp_native")) {
			saw_native = true;
			/* veth runs XDP natively; the kernel says so from 6.3 (netdev netlink) */
			assert_int_equal(r.items[i].ok, kernel_at_least(6, 3));
		}
		/* The coarse clock came in 5.11, reading other CPUs' values in 5.19. */
		if (!strcmp(r.items[i].name, "filter")) {
			assert_int_equal(r.items[i].ok, kernel_at_least(5, 11));
			filter_items++;
		}
		if (!strcmp(r.items[i].name, "mitigation")) {
			assert_int_equal(r.items[i].ok, kernel_at_least(5, 19));
			filter_items++;
		}
	}
	assert_true(r.supported);
	assert_true(saw_native);
	assert_int_equal(filter_items, 2);
	assert_int_equal(netprobe_probe("nosuch0", &r), 0);
	assert_false(r.supported);
}

/*
 * A kernel without what the settings need (here: made to look like one
 * before 5.19) is refused by name and version before anything loads, and
 * nothing is attached; settings that do without it attach.
 */
static void test_missing_kernel_feature_refused(void **state)
{
	struct netprobe_manager *m = open_manager(NETPROBE_TC_ATTACH_AUTO);
	struct netprobe_probe_report r;
	struct netprobe_config cfg;
	struct netprobe_iface it;
	bool listed = false;

	(void)state;
	np_kernel_assume(NP_KF_PERCPU_LOOKUP, 0);
	netprobe_config_default(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", pin_path);
	cfg.xdp_mode = NETPROBE_XDP_FILTER;
	cfg.mitigation = true;
	assert_int_equal(netprobe_manager_update_config(m, &cfg), 0);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), -EOPNOTSUPP);
	assert_int_equal(xdp_prog_id("npb0"), 0);
	assert_int_equal(netprobe_manager_iface(m, "npb0", &it), -ENOENT);
	cfg.mitigation = false;
	cfg.rate_anomaly.enabled = true;
	assert_int_equal(netprobe_manager_update_config(m, &cfg), 0);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), -EOPNOTSUPP);
	cfg.rate_anomaly.enabled = false;
	assert_int_equal(netprobe_manager_update_config(m, &cfg), 0);
	assert_int_equal(netprobe_manager_attach(m, "npb0"), 0);
	assert_int_not_equal(xdp_prog_id("npb0"), 0);

	assert_int_equal(netprobe_probe(NULL, &r), 0);
	for (int i = 0; i < r.count; i++) {
		if (strcmp(r.items[i].name, "mitigation"))
			continue;
		listed = true;
		assert_false(r.items[i].ok);
		assert_non_null(
			strstr(r.items[i].detail, "bpf_map_lookup_percpu_elem (Linux 5.19+)"));
	}
	assert_true(listed);
	assert_true(r.supported); /* the mitigation is no requirement */

	np_kernel_assume(NP_KF_ATOMIC_FETCH, 0);
	assert_int_equal(netprobe_probe(NULL, &r), 0);
	assert_false(r.supported);
	np_kernel_assume(NP_KF_ATOMIC_FETCH, -1);
	np_kernel_assume(NP_KF_PERCPU_LOOKUP, -1);
	assert_int_equal(netprobe_manager_detach(m, NULL), 0);
	netprobe_manager_free(m);
}

static void test_names(void **state)
{
	enum netprobe_xdp_program p;

	(void)state;
	assert_string_equal(netprobe_hook_counter_name(NETPROBE_HC_TCP_BYTES), "tcp_bytes");
	assert_null(netprobe_hook_counter_name(NETPROBE_HC_MAX));
	assert_string_equal(netprobe_malformed_name(NETPROBE_MALFORMED_L4_TRUNCATED),
			    "l4_truncated");
	assert_int_equal(netprobe_xdp_program_parse("lb", &p), 0);
	assert_int_equal(p, NETPROBE_XDP_LB);
	assert_int_equal(netprobe_xdp_program_parse("router", &p), -EINVAL);
	assert_int_equal(netprobe_xdp_program_parse(NULL, &p), -EINVAL);
	assert_string_equal(netprobe_xdp_program_name(NETPROBE_XDP_FILTER), "filter");
}

/* Every error has words, netprobe's own and errno's, negated or not; nothing is NULL. */
static void test_strerror(void **state)
{
	(void)state;
	for (int e = NETPROBE_ERR_BASE; e < NETPROBE_ERR_END; e++) {
		assert_non_null(netprobe_strerror(-e));
		assert_true(strlen(netprobe_strerror(-e)) > 5);
		assert_string_equal(netprobe_strerror(e), netprobe_strerror(-e));
		for (int other = NETPROBE_ERR_BASE; other < e; other++)
			assert_string_not_equal(netprobe_strerror(e), netprobe_strerror(other));
	}
	assert_string_equal(netprobe_strerror(-ENOENT), "No such file or directory");
	assert_string_equal(netprobe_strerror(-NETPROBE_ERR_PIN_UNTRUSTED),
			    "the pin path could be changed by another user");
	assert_string_equal(netprobe_strerror(-NETPROBE_ERR_END), "unknown error");
	assert_string_equal(netprobe_strerror(-99999), "unknown error");
	assert_non_null(netprobe_strerror(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_config_defaults, detach_everything),
		cmocka_unit_test_teardown(test_config_detection_by_name, detach_everything),
		cmocka_unit_test_teardown(test_new_rejects_bad_config, detach_everything),
		cmocka_unit_test_teardown(test_null_and_unloaded_arguments, detach_everything),
		cmocka_unit_test_teardown(test_attach_bad_interface, detach_everything),
		cmocka_unit_test_teardown(test_attach_detach_reattach, detach_everything),
		cmocka_unit_test_teardown(test_iface_config_in_pinned_state, detach_everything),
		cmocka_unit_test_teardown(test_opts_older_and_newer_callers, detach_everything),
		cmocka_unit_test_teardown(test_attach_opts_each_its_own, detach_everything),
		cmocka_unit_test_teardown(test_failed_switch_keeps_the_old, detach_everything),
		cmocka_unit_test_teardown(test_detach_unchanged, detach_everything),
		cmocka_unit_test_teardown(test_update_rollback_keeps_each_own, detach_everything),
		cmocka_unit_test_teardown(test_several_interfaces, detach_everything),
		cmocka_unit_test_teardown(test_state_outlives_manager, detach_everything),
		cmocka_unit_test_teardown(test_clsact_created_and_removed, detach_everything),
		cmocka_unit_test_teardown(test_clsact_of_someone_else_stays, detach_everything),
		cmocka_unit_test_teardown(test_clsact_with_foreign_filter_stays, detach_everything),
		cmocka_unit_test_teardown(test_foreign_xdp_program, detach_everything),
		cmocka_unit_test_teardown(test_counts_reach_every_view, detach_everything),
		cmocka_unit_test_teardown(test_incompatible_pinned_state, detach_everything),
		cmocka_unit_test_teardown(test_untrusted_pin_path, detach_everything),
		cmocka_unit_test_teardown(test_lock_wait_is_bounded, detach_everything),
		cmocka_unit_test_teardown(test_free_after_state_removed_leaves_nothing,
					  detach_everything),
		cmocka_unit_test_teardown(test_stale_manager_leaves_new_state_alone,
					  detach_everything),
		cmocka_unit_test_teardown(test_probe, detach_everything),
		cmocka_unit_test_teardown(test_missing_kernel_feature_refused, detach_everything),
		cmocka_unit_test_teardown(test_names, detach_everything),
		cmocka_unit_test_teardown(test_strerror, detach_everything),
	};

	return cmocka_run_group_tests_name("api", tests, group_setup, NULL);
}
