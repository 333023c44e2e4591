// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The daemon's config file (daemon/config.c): the shipped example is what
 * the daemon reads, every kind of mistake is refused with FILE:LINE:COLUMN
 * and what is wrong, list files parse or are refused with their own lines,
 * and a file others could change is refused. Touches no kernel state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../../daemon/daemon.h"

static char dir[] = "/tmp/np-dconf-XXXXXX";
static char path[PATH_MAX];

/* Writes text to dir/name with mode; returns the path (static). */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

static int read_text(const char *text, struct daemon_config *cfg, struct dc_errors *errs)
{
	snprintf(path, sizeof(path), "%s", write_file("netprobe.yaml", text, 0644));
	return daemon_config_read(path, "/sys/fs/bpf/np-dconf-test", 0, cfg, errs);
}

/* Whether one of errs is "path:LINE:COL: ...what...". */
static bool has_error(const struct dc_errors *errs, unsigned int line, unsigned int col,
		      const char *what)
{
	char where[PATH_MAX + 32];

	snprintf(where, sizeof(where), "%s:%u:%u: ", path, line, col);
	for (unsigned int i = 0; i < errs->count && i < DC_MAX_ERRORS; i++)
		if (!strncmp(errs->msg[i], where, strlen(where)) && strstr(errs->msg[i], what))
			return true;
	return false;
}

static void print_errors(const struct dc_errors *errs)
{
	for (unsigned int i = 0; i < errs->count && i < DC_MAX_ERRORS; i++)
		print_message("  %s\n", errs->msg[i]);
}

/* The example in deploy/, with an interface this machine has. */
static void test_shipped_example(void **state)
{
	char *text, *at;
	struct daemon_config cfg;
	struct dc_errors errs;
	FILE *f = fopen("deploy/netprobe.yaml", "r");
	long len;

	(void)state;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, len + 1);
	assert_int_equal(fread(text, 1, len, f), len);
	fclose(f);
	at = strstr(text, "  eth1:");
	assert_non_null(at);
	memcpy(at, "  lo:  ", 7);
	if (read_text(text, &cfg, &errs))
		print_errors(&errs);
	assert_int_equal(errs.count, 0);
	assert_int_equal(cfg.nifaces, 1);
	assert_string_equal(cfg.ifaces[0].name, "lo");
	assert_int_equal(cfg.ifaces[0].opts.xdp_mode, NETPROBE_XDP_FILTER);
	assert_true(cfg.ifaces[0].opts.mitigation);
	assert_false(cfg.ifaces[0].opts.mitigation_unproven);
	assert_int_equal(cfg.ifaces[0].opts.syn_flood.threshold, 2000);
	assert_int_equal(cfg.ifaces[0].opts.port_scan.window_ms, 5000);
	assert_false(cfg.ifaces[0].opts.rate_anomaly.enabled);
	assert_int_equal(cfg.deny.n, 1);
	assert_string_equal(cfg.deny.v[0].text, "203.0.113.0/24");
	assert_string_equal(cfg.allow.v[0].text, "192.0.2.0/24");
	assert_string_equal(cfg.pid_file, "/run/netprobe/netprobe.pid");
	/* No pin_path in the file: the caller's default. */
	assert_string_equal(cfg.state.pin_path, "/sys/fs/bpf/np-dconf-test");
	assert_int_equal(cfg.housekeeping.stats_report_interval_ms, 10000);
	daemon_config_free(&cfg);
	free(text);
}

static void test_values_land(void **state)
{
	struct daemon_config cfg;
	struct dc_errors errs;
	int err;

	(void)state;
	err = read_text("pin_path: /sys/fs/bpf/elsewhere\n"
			"log_level: debug\n"
			"tables: {flow_table_size: 4096, lb_conn_table_size: 2048}\n"
			"events: {batch_size: 8, event_workers: 2}\n"
			"housekeeping: {flow_idle_timeout_ms: 0, stats_report_interval_ms: 500}\n"
			"interfaces:\n"
			"  lo:\n"
			"    mode: filter\n"
			"    tc_mode: clsact\n"
			"    detect:\n"
			"      syn_flood: 100\n"
			"      udp_flood: {threshold: 300, window_ms: 2000}\n"
			"      port_scan: off\n"
			"      rate_anomaly: on\n"
			"    mitigation: unproven\n"
			"    ipv6_source_prefix: 56\n"
			"    decap: {from: [192.0.2.10, 10.0.0.0/8], to: [198.51.100.1]}\n"
			"lists:\n"
			"  deny: ['2001:db8::/32', '::ffff:192.0.2.128/121']\n"
			"  refresh_s: 0\n"
			"services:\n"
			"  - vip: '[2001:db8::1]:53/udp'\n"
			"    table_size: 251\n"
			"    backends: ['2001:db8::10', {address: '2001:db8:0::11', weight: 3, "
			"forward: l2}]\n",
			&cfg, &errs);
	if (err)
		print_errors(&errs);
	assert_int_equal(err, 0);
	assert_string_equal(cfg.state.pin_path, "/sys/fs/bpf/elsewhere");
	assert_true(cfg.pin_path_given);
	assert_int_equal(cfg.log_level, NETPROBE_LOG_DEBUG);
	assert_int_equal(cfg.state.flow_table_size, 4096);
	assert_int_equal(cfg.events.batch_size, 8);
	assert_int_equal(cfg.events.event_workers, 2);
	assert_int_equal(cfg.housekeeping.flow_idle_timeout_ms, 0);
	assert_int_equal(cfg.ifaces[0].opts.tc_attach_mode, NETPROBE_TC_ATTACH_CLSACT);
	assert_int_equal(cfg.ifaces[0].opts.syn_flood.threshold, 100);
	assert_int_equal(cfg.ifaces[0].opts.syn_flood.window_ms, 1000); /* kept */
	assert_int_equal(cfg.ifaces[0].opts.udp_flood.threshold, 300);
	assert_int_equal(cfg.ifaces[0].opts.udp_flood.window_ms, 2000);
	assert_false(cfg.ifaces[0].opts.port_scan.enabled);
	assert_true(cfg.ifaces[0].opts.rate_anomaly.enabled);
	assert_true(cfg.ifaces[0].opts.mitigation_unproven);
	assert_int_equal(cfg.ifaces[0].opts.ipv6_source_prefix, 56);
	assert_true(cfg.ifaces[0].opts.decap);
	assert_int_equal(cfg.ifaces[0].opts.decap_from_count, 2);
	assert_int_equal(cfg.ifaces[0].opts.decap_to_count, 1);
	/* Canonical texts: the mapped prefix folds into its IPv4 one. */
	assert_string_equal(cfg.deny.v[1].text, "192.0.2.128/25");
	assert_int_equal(cfg.list_refresh_s, 0);
	assert_string_equal(cfg.services[0].vip, "[2001:db8::1]:53/udp");
	assert_int_equal(cfg.services[0].opts.table_size, 251);
	assert_int_equal(cfg.services[0].nbackends, 2);
	assert_string_equal(cfg.services[0].backends[1].addr, "2001:db8::11");
	assert_int_equal(cfg.services[0].backends[1].opts.weight, 3);
	assert_int_equal(cfg.services[0].backends[1].opts.forward, NETPROBE_LB_FORWARD_L2);
	daemon_config_free(&cfg);
	/* The exporters: on when named, off when told. */
	err = read_text("metrics: {listen: '[::1]:9100'}\n"
			"ipfix: {collector: '[2001:db8::9]:4739', transport: udp}\n",
			&cfg, &errs);
	assert_int_equal(err, 0);
	assert_string_equal(cfg.metrics.listen, "[::1]:9100");
	assert_true(cfg.ipfix.enabled);
	assert_false(cfg.ipfix.tcp);
	assert_int_equal(cfg.ipfix.active_timeout_s, 60);
	daemon_config_free(&cfg);
	err = read_text("ipfix: {collector: 192.0.2.9:4739, transport: tcp}\n", &cfg, &errs);
	assert_int_equal(err, 0);
	assert_true(cfg.ipfix.tcp);
	daemon_config_free(&cfg);
	err = read_text("metrics: {enabled: false}\nipfix: {collector: 192.0.2.9:4739, enabled: "
			"no}\n",
			&cfg, &errs);
	assert_int_equal(err, 0);
	assert_false(cfg.metrics.enabled);
	assert_false(cfg.ipfix.enabled);
	daemon_config_free(&cfg);
}

/* Each mistake: its text, and where and what the error says. */
static const struct {
	const char *yaml;
	unsigned int line, col;
	const char *what;
} mistakes[] = {
	{"pin_pth: /x\n", 1, 1, "unknown key 'pin_pth' (did you mean 'pin_path'?)"},
	{"colour: blue\n", 1, 1, "unknown key 'colour'"},
	{"log_level: loud\n", 1, 12, "'loud' is none of error, warning, info, debug"},
	{"tables:\n  flow_table_size: 12\n", 2, 20, "12 is out of range (1024..67108864 entries)"},
	{"tables:\n  flow_table_size: 4k\n", 2, 20, "expected a whole number, found '4k'"},
	{"tables: [1, 2]\n", 1, 9, "expected a mapping"},
	{"tables:\n  acl_max_rule: 100\n", 2, 3, "did you mean 'acl_max_rules'?"},
	{"events:\n  event_workers: 0\n", 2, 18, "0 is out of range (1..64 threads)"},
	{"interfaces:\n  lo:\n    mode: filtr\n", 3, 11, "'filtr' is none of monitor, filter, lb"},
	{"interfaces:\n  lo:\n    mitigation: yes\n", 3, 17, "none of off, proven, unproven"},
	{"interfaces:\n  lo:\n    detect:\n      syn_flod: 100\n", 4, 7,
	 "unknown detection 'syn_flod' (did you mean 'syn_flood'?)"},
	{"interfaces:\n  lo:\n    detect:\n      udp_flood: 0\n", 4, 18,
	 "threshold 0 is out of range"},
	{"interfaces:\n  lo:\n    detect:\n      udp_flood: 10/5\n", 4, 18,
	 "window 5 ms is out of range (10..3600000 ms)"},
	{"interfaces:\n  lo:\n    detect:\n      udp_flood: lots\n", 4, 18,
	 "expected off, on, THRESHOLD or THRESHOLD/WINDOW_MS"},
	{"interfaces:\n  lo:\n    detect:\n      udp_flood: {treshold: 5}\n", 4, 19,
	 "unknown key 'treshold'"},
	{"interfaces:\n  lo:\n    mitigation_ttl_s: -5\n", 3, 23, "expected a whole number"},
	{"interfaces:\n  lo:\n    ipv6_source_prefix: 129\n", 3, 25, "out of range (32..128 bits)"},
	{"interfaces:\n  lo:\n    security_alerts: maybe\n", 3, 22, "expected true or false"},
	{"interfaces:\n  lo:\n    decap: {from: [10.0.0.0/33]}\n", 3, 20, "is no CIDR"},
	{"interfaces:\n  lo:\n    decap: {from: [10.0.0.1, 10.0.0.1/32]}\n", 3, 30,
	 "10.0.0.1/32 is listed already"},
	{"interfaces:\n  npnosuch0:\n    mode: filter\n", 2, 3, "no interface 'npnosuch0' here"},
	{"interfaces:\n  lo:\n  lo:\n", 3, 3, "'lo' is given twice (first on line 2)"},
	{"interfaces:\n  this/is/no/name:\n", 2, 3, "is no interface name"},
	{"lists:\n  deny: [10.0.0.1/8]\n", 2, 10, "has host bits set"},
	{"lists:\n  deny: [hello]\n", 2, 10, "'hello' is no CIDR"},
	{"lists:\n  deny: [1.2.3.4, 1.2.3.4/32]\n", 2, 19, "1.2.3.4/32 is listed already"},
	{"lists:\n  deny: [1.2.3.4]\n  allow: [1.2.3.4/32]\n", 3, 11,
	 "1.2.3.4/32 is on lists.deny already"},
	{"lists:\n  deny: 1.2.3.4\n", 2, 9, "expected a list of CIDRs"},
	{"lists:\n  deny_files: [relative.txt]\n", 2, 16, "is no absolute path"},
	{"lists:\n  deny_files: [/nonexistent/np-list]\n", 2, 16, "cannot read /nonexistent"},
	{"services:\n  - vip: 1.2.3.4:99999/tcp\n", 2, 10, "is no ADDRESS:PORT"},
	{"services:\n  - vip: 1.2.3.4:80\n    backends: ['::1']\n", 3, 16,
	 "'::1' is no IPv4 address (the VIP's family)"},
	{"services:\n  - vip: 1.2.3.4:80\n    backends: [10.0.0.1, 10.0.0.1]\n", 3, 26,
	 "10.0.0.1 is listed already"},
	{"services:\n  - vip: 1.2.3.4:80/tcp\n  - vip: 1.2.3.4:80\n", 3, 5,
	 "1.2.3.4:80/tcp is listed already (line 2)"},
	{"services:\n  - backends: []\n", 2, 5, "a service needs its vip"},
	{"services:\n  - vip: 1.2.3.4:80\n    table_size: 1000\n", 3, 17, "1000 is no prime"},
	{"services:\n  - vip: 1.2.3.4:80\n    backends: [{address: 10.0.0.1, weight: 0}]\n", 3, 44,
	 "weight: 0 is out of range (1..1000)"},
	{"services:\n  - vip: 1.2.3.4:80\n    backends: [{weight: 2}]\n", 3, 16, "has no address"},
	{"hooks:\n  on_block: /nonexistent/hook\n", 2, 13, "is no program we can run"},
	{"hooks:\n  timeout_s: 0\n", 2, 14, "0 is out of range (1..600 s)"},
	{"pin_path:\n", 1, 10, "needs a value"},
	{"interfaces: {lo: {mode: [filter]}}\n", 1, 25, "expected a value, found a list"},
	{"a: [unclosed\n", 2, 1, "not YAML"},
	{"pid_file: /run/a.pid\n---\npid_file: /run/b.pid\n", 2, 1, "a second YAML document"},
	{"metrics: {listen: localhost:9479}\n", 1, 19, "is no ADDRESS:PORT"},
	{"metrics: {listen: '127.0.0.1:99999'}\n", 1, 19, "is no ADDRESS:PORT"},
	{"metrics: {listen: '[::1]9479'}\n", 1, 19, "is no ADDRESS:PORT"},
	{"ipfix: {collector: 192.0.2.9}\n", 1, 20, "is no ADDRESS:PORT"},
	{"ipfix: {collector: 192.0.2.9:4739, transport: sctp}\n", 1, 47,
	 "'sctp' is none of udp, tcp"},
	{"ipfix: {enabled: true}\n", 1, 8, "ipfix: enabled, and no collector"},
	{"ipfix: {collector: 192.0.2.9:4739, transport: TCP}\n", 1, 47,
	 "'TCP' is none of udp, tcp"},
	{"ipfix: {collector: 192.0.2.9:4739, active_timeout_s: 0}\n", 1, 54, "0 is out of range"},
	{"pid_file: /run/a.pid\n---\n: : [\n", 3, 1, "not YAML"},
	{"log_level: info\n# caf\xe9\n", 2, 6, "not YAML: incomplete UTF-8 octet sequence"},
	{"interfaces:\n  lo:\n    detect: {udp_flood: 1000/ 100}\n", 3, 25, "expected off, on"},
	{"interfaces:\n  lo:\n    detect: {udp_flood: 1000/+100}\n", 3, 25, "expected off, on"},
	{"a: "
	 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]"
	 "]]]]]]]]]"
	 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
	 1, 68, "nested deeper than 64"},
	{"tables: {lb_max_services: 1}\nservices:\n  - vip: 192.0.2.1:80\n  - vip: 192.0.2.2:80\n",
	 4, 5, "services: 2, more than tables.lb_max_services (1)"},
};

static void test_mistakes(void **state)
{
	bool all = true;

	(void)state;
	for (size_t i = 0; i < sizeof(mistakes) / sizeof(mistakes[0]); i++) {
		struct daemon_config cfg;
		struct dc_errors errs;
		int err = read_text(mistakes[i].yaml, &cfg, &errs);

		if (err != -EINVAL ||
		    !has_error(&errs, mistakes[i].line, mistakes[i].col, mistakes[i].what)) {
			print_message("mistake %zu (%s) gave %d:\n", i, mistakes[i].what, err);
			print_errors(&errs);
			all = false;
		}
		dc_errors_free(&errs);
	}
	assert_true(all);
}

/* Every error of a file, not the first alone. */
static void test_all_errors_reported(void **state)
{
	struct daemon_config cfg;
	struct dc_errors errs;

	(void)state;
	assert_int_equal(read_text("pin_pth: /x\nlog_level: loud\ntables: {flow_table_size: 1}\n",
				   &cfg, &errs),
			 -EINVAL);
	assert_int_equal(errs.count, 3);
	dc_errors_free(&errs);
}

static void test_empty_file_is_defaults(void **state)
{
	struct daemon_config cfg;
	struct dc_errors errs;

	(void)state;
	assert_int_equal(read_text("", &cfg, &errs), 0);
	assert_int_equal(cfg.nifaces, 0);
	assert_int_equal(cfg.list_refresh_s, 300);
	daemon_config_free(&cfg);
	assert_int_equal(read_text("# only a comment\n", &cfg, &errs), 0);
	daemon_config_free(&cfg);
	/* Sections with all below them commented out, an interface with nothing: defaults. */
	if (read_text("interfaces:\n  lo: ~\n#  eth1:\nlists:\n  deny:\n  # - 192.0.2.1\n"
		      "services:\nhooks: null\n",
		      &cfg, &errs))
		print_errors(&errs);
	assert_int_equal(errs.count, 0);
	assert_int_equal(cfg.nifaces, 1);
	assert_int_equal(cfg.ifaces[0].opts.xdp_mode, NETPROBE_XDP_MONITOR);
	assert_int_equal(cfg.deny.n, 0);
	daemon_config_free(&cfg);
	/* The filter's settings in another mode: kept, for when it is filter. */
	assert_int_equal(read_text("interfaces:\n  lo:\n    mode: monitor\n    mitigation: proven\n"
				   "    mitigation_ttl_s: 60\n    detect: {syn_flood: 5}\n",
				   &cfg, &errs),
			 0);
	assert_true(cfg.ifaces[0].opts.mitigation);
	assert_int_equal(cfg.ifaces[0].opts.syn_flood.threshold, 5);
	daemon_config_free(&cfg);
	/* YAML 1.1's booleans in their three cases. */
	assert_int_equal(
		read_text("interfaces:\n  lo: {xdp_events: NO, tc_events: Off}\n", &cfg, &errs), 0);
	assert_false(cfg.ifaces[0].opts.enable_xdp_events);
	assert_false(cfg.ifaces[0].opts.enable_tc_events);
	daemon_config_free(&cfg);
}

/* What others could change is refused, the config and its list files alike. */
static void test_untrusted_files(void **state)
{
	struct daemon_config cfg;
	struct dc_errors errs;
	char list[PATH_MAX], text[PATH_MAX + 64];

	(void)state;
	snprintf(path, sizeof(path), "%s", write_file("netprobe.yaml", "log_level: info\n", 0666));
	assert_int_equal(daemon_config_read(path, NULL, 0, &cfg, &errs), -EPERM);
	assert_non_null(strstr(errs.msg[0], "writable by every user: refused (chmod go-w"));
	dc_errors_free(&errs);
	assert_int_equal(chmod(path, 0664), 0);
	assert_int_equal(daemon_config_read(path, NULL, 0, &cfg, &errs), -EPERM);
	assert_non_null(strstr(errs.msg[0], "writable by its group"));
	dc_errors_free(&errs);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(daemon_config_read(path, NULL, 0, &cfg, &errs), -EPERM);
	assert_non_null(strstr(errs.msg[0], "belongs to user 65534, neither root nor us"));
	dc_errors_free(&errs);

	/* A list file anyone can write would let anyone deny anything. */
	snprintf(list, sizeof(list), "%s", write_file("deny.txt", "192.0.2.0/24\n", 0646));
	snprintf(text, sizeof(text), "lists:\n  deny_files: [%s]\n", list);
	assert_int_equal(read_text(text, &cfg, &errs), -EINVAL);
	assert_true(has_error(&errs, 2, 16, "writable by every user"));
	dc_errors_free(&errs);
	/* Not a regular file either. */
	snprintf(text, sizeof(text), "lists:\n  deny_files: [%s]\n", dir);
	assert_int_equal(read_text(text, &cfg, &errs), -EINVAL);
	assert_true(has_error(&errs, 2, 16, "is no regular file"));
	dc_errors_free(&errs);
	/* A FIFO is refused at once, not waited on (a refresh would hang the daemon). */
	snprintf(list, sizeof(list), "%s/fifo", dir);
	assert_int_equal(mkfifo(list, 0644), 0);
	snprintf(text, sizeof(text), "lists:\n  deny_files: [%s]\n", list);
	assert_int_equal(read_text(text, &cfg, &errs), -EINVAL);
	assert_true(has_error(&errs, 2, 16, "is no regular file"));
	dc_errors_free(&errs);
	/* A NUL byte: a file half written is no shorter list. */
	snprintf(list, sizeof(list), "%s/nul.txt", dir);
	{
		FILE *f = fopen(list, "w");

		fwrite("198.51.100.0/24\n\0garbage\n", 1, 26, f);
		fclose(f);
	}
	snprintf(text, sizeof(text), "lists:\n  deny_files: [%s]\n", list);
	assert_int_equal(read_text(text, &cfg, &errs), -EINVAL);
	assert_true(has_error(&errs, 2, 16, "holds a NUL byte"));
	dc_errors_free(&errs);
	/* Root's file in a directory others can write (not sticky): they could swap it. */
	char open_dir[PATH_MAX - 32];

	snprintf(open_dir, sizeof(open_dir), "%s/open", dir);
	assert_int_equal(mkdir(open_dir, 0777), 0);
	assert_int_equal(chmod(open_dir, 0777), 0);
	snprintf(list, sizeof(list), "%s/deny.txt", open_dir);
	{
		FILE *f = fopen(list, "w");

		fputs("198.51.100.0/24\n", f);
		fclose(f);
	}
	snprintf(text, sizeof(text), "lists:\n  deny_files: [%s]\n", list);
	assert_int_equal(read_text(text, &cfg, &errs), -EINVAL);
	assert_true(has_error(&errs, 2, 16, "is writable by every user"));
	dc_errors_free(&errs);
	/* Sticky, as /tmp: no one else can swap root's file there. */
	assert_int_equal(chmod(open_dir, 01777), 0);
	assert_int_equal(read_text(text, &cfg, &errs), 0);
	daemon_config_free(&cfg);
	/*
	 * A pid file's own directory must be ours alone; one above it may be
	 * sticky (a guest's /run), also when the daemon is yet to make its own.
	 */
	snprintf(text, sizeof(text), "pid_file: %s/np/x.pid\n", open_dir);
	assert_int_equal(read_text(text, &cfg, &errs), 0);
	daemon_config_free(&cfg);
	snprintf(text, sizeof(text), "pid_file: %s/x.pid\n", open_dir);
	assert_int_equal(read_text(text, &cfg, &errs), -EINVAL);
	assert_non_null(strstr(errs.msg[0], "is writable by every user"));
	dc_errors_free(&errs);
}

static void test_list_files(void **state)
{
	struct daemon_config cfg;
	struct daemon_lists lists;
	struct dc_errors errs;
	char deny[PATH_MAX], allow[PATH_MAX], text[2 * PATH_MAX + 128];

	(void)state;
	snprintf(deny, sizeof(deny), "%s",
		 write_file(
			 "deny.netset",
			 "# FireHOL-style: comments, blank lines, one CIDR a line\n\n"
			 "203.0.113.0/24\n  198.51.100.7   # trailing comment\n"
			 "2001:db8:bad::/48\r\n203.0.113.0/24\n"
			 "198.18.0.0/15 ; SBL123 (Spamhaus DROP's comments, as blacklist --file)\n",
			 0644));
	snprintf(allow, sizeof(allow), "%s", write_file("allow.txt", "192.0.2.1\n", 0600));
	snprintf(text, sizeof(text),
		 "lists:\n  deny: [203.0.113.0/24]\n  deny_files: [%s]\n  allow_files: [%s]\n",
		 deny, allow);
	assert_int_equal(read_text(text, &cfg, &errs), 0);
	assert_int_equal(daemon_lists_read(&cfg, &lists, &errs), 0);
	/* The config's entry and the file's, and the file's twice: one each, sorted. */
	assert_int_equal(lists.deny.n, 4);
	assert_string_equal(lists.deny.v[0].text, "198.18.0.0/15");
	assert_string_equal(lists.deny.v[1].text, "198.51.100.7/32");
	assert_string_equal(lists.deny.v[2].text, "2001:db8:bad::/48");
	assert_string_equal(lists.deny.v[3].text, "203.0.113.0/24");
	assert_int_equal(lists.allow.n, 1);
	daemon_lists_free(&lists);
	daemon_config_free(&cfg);

	/* A bad line: the file's own name and line. */
	write_file("deny.netset", "203.0.113.0/24\n203.0.113.1/24\n10.0.0.1 10.0.0.2\n", 0644);
	assert_int_equal(read_text(text, &cfg, &errs), -EINVAL);
	assert_int_equal(errs.count, 2);
	assert_non_null(strstr(errs.msg[0], "deny.netset:2:1: '203.0.113.1/24' is no CIDR"));
	assert_non_null(strstr(errs.msg[1], "deny.netset:3:1: '10.0.0.2' follows the entry "
					    "10.0.0.1; one address or CIDR a line"));
	dc_errors_free(&errs);

	/* The same prefix on both lists through the files: refused. */
	write_file("deny.netset", "192.0.2.1/32\n", 0644);
	assert_int_equal(read_text(text, &cfg, &errs), 0);
	assert_int_equal(daemon_lists_read(&cfg, &lists, &errs), -EINVAL);
	assert_non_null(strstr(errs.msg[0], "192.0.2.1/32 is on both lists"));
	dc_errors_free(&errs);
	daemon_config_free(&cfg);
}

/*
 * The ownership record says what the daemon may remove: one another user
 * could write (or one of another pin path) would make it remove what the
 * operator made. Only root's (or ours), writable by us alone, counts.
 */
static void test_owned_record_trusted(void **state)
{
	struct daemon_owned got, want = {};
	const char *record;

	(void)state;
	record = write_file("np.owned.json", "", 0644);
	assert_int_equal(dc_cidrs_add(&want.deny, "192.0.2.0/24"), 0);
	assert_int_equal(daemon_owned_save(record, "/sys/fs/bpf/np-x", &want), 0);
	assert_int_equal(daemon_owned_load(record, "/sys/fs/bpf/np-x", &got), 0);
	assert_int_equal(got.deny.n, 1);
	assert_true(dc_cidrs_has(&got.deny, "192.0.2.0/24"));
	daemon_owned_free(&got);
	/* Another pin path's record says nothing here. */
	assert_int_equal(daemon_owned_load(record, "/sys/fs/bpf/np-y", &got), -ENOENT);
	/* Forged: writable by others, or another user's. */
	assert_int_equal(chmod(record, 0666), 0);
	assert_int_equal(daemon_owned_load(record, "/sys/fs/bpf/np-x", &got), -EPERM);
	assert_int_equal(chmod(record, 0644), 0);
	assert_int_equal(chown(record, 65534, 65534), 0);
	assert_int_equal(daemon_owned_load(record, "/sys/fs/bpf/np-x", &got), -EPERM);
	/* A symlink in its place (to a record of the attacker's choosing) is not followed. */
	char link[PATH_MAX];

	assert_int_equal(chown(record, 0, 0), 0);
	snprintf(link, sizeof(link), "%s/link.owned.json", dir);
	assert_int_equal(symlink(record, link), 0);
	assert_int_equal(daemon_owned_load(link, "/sys/fs/bpf/np-x", &got), -ELOOP);
	daemon_owned_free(&want);
}

static void test_edit_distance(void **state)
{
	(void)state;
	assert_int_equal(dc_edit_distance("pin_path", "pin_path"), 0);
	assert_int_equal(dc_edit_distance("pin_path", "pin_pth"), 1);
	assert_int_equal(dc_edit_distance("syn_flood", "syn_flod"), 1);
	assert_int_equal(dc_edit_distance("", "abc"), 3);
	assert_int_equal(dc_edit_distance("kitten", "sitting"), 3);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	dlog_setup(NETPROBE_LOG_ERROR);
	return 0;
}

static int teardown(void **state)
{
	char cmd[64 + sizeof(dir)];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_example),
		cmocka_unit_test(test_values_land),
		cmocka_unit_test(test_mistakes),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_empty_file_is_defaults),
		cmocka_unit_test(test_untrusted_files),
		cmocka_unit_test(test_list_files),
		cmocka_unit_test(test_owned_record_trusted),
		cmocka_unit_test(test_edit_distance),
	};

	return cmocka_run_group_tests_name("daemon_config", tests, setup, teardown);
}
