// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * netprobe demo: a self-contained lab. Network namespaces joined by veth
 * pairs, netprobe attached in filter mode on a server and in lb mode on a
 * load balancer, real tools driving real traffic through them while the live
 * view runs, and everything it made removed at the end, also on Ctrl-C or an
 * error.
 *
 *   client ns (npdc-PID)  veth npdcPID ===== veth npdsPID  server ns (npds-PID)
 *   198.18.0.1, .66 (the "attacker"),        198.18.0.2, fd00:98::2
 *   fd00:98::1                                netprobe: filter mode, mitigation
 *
 *   client ns  veth npdkPID ===== veth npdlPID  lb ns (npdl-PID)  ==== backend ns npdbK-PID
 *   198.19.0.1                    198.19.0.254  netprobe: lb mode     198.19.K.2 (K = 1, 2),
 *                                 VIP 198.19.99.1:80/tcp               netprobe --decap-from 198.19.K.1,
 *                                                                      an HTTP server
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "cli.h"

#define MAX_CHILDREN 16

#define DEMO_BACKENDS 2
#define DEMO_VIP      "198.19.99.1:80/tcp"

struct lab {
	char client[32], server[32], vclient[16], vserver[16];
	char lb[32], vclient_lb[16], vlb[16];
	char backend[DEMO_BACKENDS][32], vbackend[DEMO_BACKENDS][16],
		vlb_backend[DEMO_BACKENDS][16];
	char pin_path[NETPROBE_PIN_PATH_MAX];
	pid_t children[MAX_CHILDREN];
	int nchildren;
	bool made;
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	/* The lab's own commands (ip, tc), of names and numbers it made: no outside text. */
	ret = system(cmd); // NOLINT(cert-env33-c)
	return ret == 0 ? 0 : -1;
}

static bool have(const char *tool)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0; // NOLINT(cert-env33-c): tool is one of the demo's own names
}

/* Starts `ip netns exec NS sh -c CMD` in the background, quietly. */
static void spawn(struct lab *lab, const char *ns, const char *what, const char *cmd)
{
	pid_t pid;

	if (lab->nchildren == MAX_CHILDREN)
		return;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		setpgid(0, 0); /* its own group, so that stopping it stops its children */
		/* The demo ignores these to clean up; its children must not inherit that. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		execlp("ip", "ip", "netns", "exec", ns, "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid > 0) {
		lab->children[lab->nchildren++] = pid;
		fprintf(stderr, "demo: %s\n", what);
	}
}

static void lab_destroy(struct lab *lab, struct netprobe_manager *m)
{
	for (int i = 0; i < lab->nchildren; i++)
		kill(-lab->children[i], SIGTERM);
	for (int i = 0; i < lab->nchildren; i++)
		waitpid(lab->children[i], NULL, 0);
	lab->nchildren = 0;
	if (m)
		netprobe_manager_detach(m, NULL);
	if (lab->made) {
		sh("ip netns del %s 2>/dev/null", lab->client);
		sh("ip netns del %s 2>/dev/null", lab->server);
		sh("ip netns del %s 2>/dev/null", lab->lb);
		for (int k = 0; k < DEMO_BACKENDS; k++)
			sh("ip netns del %s 2>/dev/null", lab->backend[k]);
		lab->made = false;
	}
	/* What detach removes; only this demo's own pin path, never the default. */
	sh("rm -rf %s", lab->pin_path);
}

static int lab_create(struct lab *lab)
{
	int pid = getpid();

	snprintf(lab->client, sizeof(lab->client), "npdc-%d", pid);
	snprintf(lab->server, sizeof(lab->server), "npds-%d", pid);
	snprintf(lab->vclient, sizeof(lab->vclient), "npdc%d", pid);
	snprintf(lab->vserver, sizeof(lab->vserver), "npds%d", pid);
	snprintf(lab->pin_path, sizeof(lab->pin_path), "/sys/fs/bpf/netprobe-demo-%d", pid);
	snprintf(lab->lb, sizeof(lab->lb), "npdl-%d", pid);
	snprintf(lab->vclient_lb, sizeof(lab->vclient_lb), "npdk%d", pid);
	snprintf(lab->vlb, sizeof(lab->vlb), "npdl%d", pid);
	for (int k = 0; k < DEMO_BACKENDS; k++) {
		snprintf(lab->backend[k], sizeof(lab->backend[k]), "npdb%d-%d", k + 1, pid);
		snprintf(lab->vbackend[k], sizeof(lab->vbackend[k]), "npdb%d%d", k + 1, pid);
		snprintf(lab->vlb_backend[k], sizeof(lab->vlb_backend[k]), "npdm%d%d", k + 1, pid);
	}
	lab->made = true;
	if (sh("ip netns add %s && ip netns add %s && ip netns add %s", lab->client, lab->server,
	       lab->lb))
		return -1;
	if (sh("ip link add %s type veth peer name %s && ip link set %s netns %s && "
	       "ip link set %s netns %s",
	       lab->vclient, lab->vserver, lab->vclient, lab->client, lab->vserver, lab->server))
		return -1;
	if (sh("ip -n %s link set lo up && ip -n %s link set %s up && "
	       "ip -n %s addr add 198.18.0.1/24 dev %s && ip -n %s addr add 198.18.0.66/24 dev %s "
	       "&& ip -n %s addr add 198.18.0.67/24 dev %s && "
	       "ip -n %s addr add fd00:98::1/64 dev %s nodad",
	       lab->client, lab->client, lab->vclient, lab->client, lab->vclient, lab->client,
	       lab->vclient, lab->client, lab->vclient, lab->client, lab->vclient))
		return -1;
	if (sh("ip -n %s link set lo up && ip -n %s link set %s up && "
	       "ip -n %s addr add 198.18.0.2/24 dev %s && ip -n %s addr add fd00:98::2/64 dev %s "
	       "nodad",
	       lab->server, lab->server, lab->vserver, lab->server, lab->vserver, lab->server,
	       lab->vserver))
		return -1;
	/*
	 * The load balancer's side: the client reaches the VIP through the lb
	 * namespace, which forwards; backends hold the VIP on their loopback and
	 * answer the client directly. Backend links have room for the outer
	 * header; the client sends finished checksums, as a NIC would deliver
	 * them (veth would pass offloaded ones on unfinished).
	 */
	if (sh("ip link add %s netns %s type veth peer name %s netns %s && "
	       "ip netns exec %s ethtool -K %s tx off >/dev/null && "
	       "ip -n %s link set %s up && ip -n %s addr add 198.19.0.1/24 dev %s && "
	       "ip -n %s route add 198.19.99.0/24 via 198.19.0.254 && "
	       "ip -n %s link set lo up && ip -n %s link set %s up && "
	       "ip -n %s addr add 198.19.0.254/24 dev %s && "
	       "ip netns exec %s sysctl -qw net.ipv4.ip_forward=1",
	       lab->vclient_lb, lab->client, lab->vlb, lab->lb, lab->client, lab->vclient_lb,
	       lab->client, lab->vclient_lb, lab->client, lab->vclient_lb, lab->client, lab->lb,
	       lab->lb, lab->vlb, lab->lb, lab->vlb, lab->lb))
		return -1;
	for (int k = 0; k < DEMO_BACKENDS; k++) {
		const char *b = lab->backend[k], *vb = lab->vbackend[k], *vl = lab->vlb_backend[k];

		if (sh("ip netns add %s && ip link add %s netns %s mtu 1600 type veth peer name %s "
		       "netns %s mtu 1600 && ip -n %s link set %s up && "
		       "ip -n %s addr add 198.19.%d.1/24 dev %s && ip -n %s link set lo up && "
		       "ip -n %s link set %s up && ip -n %s addr add 198.19.%d.2/24 dev %s && "
		       "ip -n %s addr add 198.19.99.1/32 dev lo && "
		       "ip -n %s route add default via 198.19.%d.1",
		       b, vl, lab->lb, vb, b, lab->lb, vl, lab->lb, k + 1, vl, b, b, vb, b, k + 1,
		       vb, b, b, k + 1))
			return -1;
	}
	return 0;
}

/*
 * Runs fn(m, arg) inside network namespace ns, then comes back: attach and
 * the load balancer's backend routes are a namespace's own.
 */
static int in_netns(const char *ns, int (*fn)(struct netprobe_manager *, const char *),
		    struct netprobe_manager *m, const char *arg)
{
	char path[64];
	int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), target, err;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (home < 0 || target < 0 || setns(target, CLONE_NEWNET)) {
		err = -errno;
		goto out;
	}
	err = fn(m, arg);
	if (setns(home, CLONE_NEWNET) && !err)
		err = -errno;
out:
	if (home >= 0)
		close(home);
	if (target >= 0)
		close(target);
	return err;
}

static int add_backend(struct netprobe_manager *m, const char *backend)
{
	return netprobe_lb_backend_add(m, DEMO_VIP, backend, NULL);
}

/*
 * The load balancer: netprobe in lb mode in the lb namespace, with decap on
 * each backend (one manager each: a mode is a manager's config), all on the
 * demo's pin path, so the live view shows every interface.
 */
static int setup_lb(struct lab *lab, struct netprobe_manager *lbm[DEMO_BACKENDS + 1])
{
	struct netprobe_config cfg;
	char addr[32];
	int err;

	for (int i = 0; i <= DEMO_BACKENDS; i++) {
		cli_config(&cfg);
		snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", lab->pin_path);
		cfg.xdp_mode = i == 0 ? NETPROBE_XDP_LB : NETPROBE_XDP_MONITOR;
		if (i > 0) {
			/* Tunnels from the load balancer's side of the backend's link only. */
			char from[32];

			snprintf(from, sizeof(from), "198.19.%d.1", i);
			cfg.decap = true;
			cfg.decap_from_count = 1;
			if (netprobe_cidr_parse(from, &cfg.decap_from[0]))
				return -EINVAL;
		}
		cfg.stats_report_interval_ms = 0;
		lbm[i] = cli_open(&cfg);
		if (!lbm[i])
			return -1;
		err = in_netns(i == 0 ? lab->lb : lab->backend[i - 1], netprobe_manager_attach,
			       lbm[i], i == 0 ? lab->vlb : lab->vbackend[i - 1]);
		if (err)
			return err;
	}
	err = netprobe_lb_service_add(lbm[0], DEMO_VIP);
	for (int k = 0; k < DEMO_BACKENDS && !err; k++) {
		snprintf(addr, sizeof(addr), "198.19.%d.2", k + 1);
		err = in_netns(lab->lb, add_backend, lbm[0], addr);
	}
	return err;
}

static void drive_traffic(struct lab *lab, double duration)
{
	char cmd[256];
	int secs = (int)duration;

	if (secs < 1)
		secs = 1;
	/* Normal traffic: pings (v4 and v6), a TCP bulk transfer, small UDP exchanges. */
	snprintf(cmd, sizeof(cmd), "ping -q -i 0.2 -w %d 198.18.0.2", secs);
	spawn(lab, lab->client, "normal traffic: ping 198.18.0.2 every 200 ms", cmd);
	snprintf(cmd, sizeof(cmd), "ping -6 -q -i 0.5 -w %d fd00:98::2", secs);
	spawn(lab, lab->client, "normal traffic: ping -6 fd00:98::2", cmd);
	if (have("iperf3")) {
		spawn(lab, lab->server, "a TCP server (iperf3 -s)", "iperf3 -s -p 5201");
		snprintf(cmd, sizeof(cmd), "sleep 1; iperf3 -c 198.18.0.2 -p 5201 -b 20M -t %d",
			 secs > 2 ? secs - 2 : 1);
		spawn(lab, lab->client, "a TCP transfer at 20 Mbit/s (iperf3)", cmd);
	}
	if (have("hping3")) {
		snprintf(cmd, sizeof(cmd),
			 "hping3 --udp -q -p 53 -s 5353 -k -d 40 -i u100000 -c %d 198.18.0.2",
			 secs * 10);
		spawn(lab, lab->client, "UDP queries to port 53, 10 a second (hping3)", cmd);
		/*
		 * A short SYN burst from the "attacker" address, a third of the way in,
		 * as fast as hping3 goes: a fixed interval would stay under the
		 * threshold on a slow machine (an emulated one sleeps long).
		 */
		snprintf(cmd, sizeof(cmd),
			 "sleep %d; timeout -s INT 2 hping3 -S -p 80 -a 198.18.0.66 --flood -q "
			 "198.18.0.2",
			 secs / 3);
		spawn(lab, lab->client, "a SYN flood from 198.18.0.66 (hping3 -S --flood, 2 s)",
		      cmd);
	} else {
		fprintf(stderr, "demo: hping3 not installed: no UDP queries, no SYN flood\n");
	}
	if (have("nmap")) {
		snprintf(cmd, sizeof(cmd),
			 "sleep %d; nmap -sS -T4 -n -Pn -S 198.18.0.67 -e %s -p 1-1000 198.18.0.2",
			 secs / 4, lab->vclient);
		spawn(lab, lab->client, "a port scan of ports 1-1000 from 198.18.0.67 (nmap -sS)",
		      cmd);
	} else {
		fprintf(stderr, "demo: nmap not installed: no port scan\n");
	}
	fprintf(stderr, "demo: netprobe runs in filter mode with mitigation (--mitigate-unproven: "
			"the lab has no spoofers): the SYN flood and the scan should be caught "
			"and blocked, the normal traffic never\n");
	for (int k = 0; k < DEMO_BACKENDS; k++) {
		snprintf(cmd, sizeof(cmd),
			 "cd \"$(mktemp -d)\" && echo backend%d > index.html && "
			 "exec python3 -m http.server 80",
			 k + 1);
		spawn(lab, lab->backend[k], "an HTTP server behind the load balancer", cmd);
	}
	/* Ten requests a second to the VIP, each on a new connection. */
	snprintf(cmd, sizeof(cmd),
		 "sleep 1; exec python3 -c 'import time,urllib.request as u\n"
		 "end = time.time() + %d\n"
		 "while time.time() < end:\n"
		 "    try: u.urlopen(\"http://198.19.99.1/\", timeout=1).read()\n"
		 "    except OSError: pass\n"
		 "    time.sleep(0.1)'",
		 secs > 2 ? secs - 2 : 1);
	spawn(lab, lab->client, "HTTP requests to the VIP " DEMO_VIP ", 10 a second", cmd);
	fprintf(stderr,
		"demo: netprobe runs in lb mode in %s: the requests to the VIP are spread "
		"over %d backends (IP-in-IP, direct server return)\n",
		lab->lb, DEMO_BACKENDS);
}

/* Alerts as they come, on the pipeline's worker threads; kept for the summary too. */
static pthread_mutex_t alerts_lock = PTHREAD_MUTEX_INITIALIZER;
static char alerts[16][160];
static unsigned int alerts_seen;

static void on_alerts(const struct netprobe_event_batch *b, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < b->count; i++) {
		const struct netprobe_security_event *s = (const void *)b->events[i];
		char src[INET6_ADDRSTRLEN] = "-";

		if (s->scope == NETPROBE_SCOPE_SOURCE)
			inet_ntop(s->family == NETPROBE_FAMILY_IPV4 ? AF_INET : AF_INET6, s->src,
				  src, sizeof(src));
		pthread_mutex_lock(&alerts_lock);
		if (alerts_seen < 16)
			snprintf(alerts[alerts_seen], sizeof(alerts[0]),
				 "%s from %s: %llu %s over a threshold of %llu%s",
				 netprobe_detection_name(s->detection), src,
				 (unsigned long long)s->rate,
				 s->detection != NETPROBE_DETECT_PORT_SCAN ? "packets/s"
				 : s->scan_hosts			   ? "hosts"
									   : "ports",
				 (unsigned long long)s->threshold,
				 s->blocked ? ", source blocked in XDP" : "");
		alerts_seen++;
		pthread_mutex_unlock(&alerts_lock);
	}
}

static int print_block(const struct netprobe_acl_entry *e, void *ctx)
{
	(void)ctx;
	printf("  %-20s %-12s %llu packets dropped\n", e->text, netprobe_acl_origin_name(e->origin),
	       e->hits);
	return 0;
}

static void summary(struct netprobe_manager *m)
{
	struct netprobe_global_stats st;
	struct cli_flows flows = {};
	char line[256];

	if (netprobe_manager_global_stats(m, &st) == 0) {
		netprobe_global_stats_format(&st, line, sizeof(line));
		printf("\ndemo summary: %s\n", line);
	}
	if (cli_flows_read(m, -1, &flows) == 0) {
		cli_flows_sort(&flows, false, false);
		printf("\ntop flows of %zu:\n", flows.n);
		cli_flow_print_header(stdout, &flows.names, false);
		for (size_t i = 0; i < flows.n && i < 10; i++)
			cli_flow_print(stdout, &flows.names, &flows.v[i], false, 0);
	}
	cli_flows_free(&flows);

	pthread_mutex_lock(&alerts_lock);
	printf("\nsecurity alerts: %u\n", alerts_seen);
	for (unsigned int i = 0; i < alerts_seen && i < 16; i++)
		printf("  %s\n", alerts[i]);
	pthread_mutex_unlock(&alerts_lock);
	printf("\ndeny list (made by mitigation):\n");
	netprobe_blacklist_list(m, print_block, NULL);
	printf("\nload balancer:\n");
	cli_lb_print(m);
}

static void demo_defaults(void *duration)
{
	*(double *)duration = 20;
}

static const struct cli_opt demo_opts[] = {
	{.name = "duration",
	 .type = CLI_OPT_SECONDS,
	 .offset = 0,
	 .arg = "S",
	 .help = "how long the traffic runs",
	 .min = 3,
	 .max = 3600},
	CLI_OPT_END,
};

const struct cli_command cli_cmd_demo = {
	.name = "demo",
	.synopsis = "[OPTIONS]",
	.help = "Builds a lab of network namespaces and veth pairs, attaches netprobe in filter "
		"mode with mitigation on a server and in lb mode on a load balancer in front of "
		"two backends, drives real traffic through them (ping, UDP, TCP, IPv6, a port "
		"scan, a SYN flood, HTTP requests to the VIP), shows the live view, the alerts, "
		"the blocked sources and the VIP's backends, and removes everything it made.",
	.run = cmd_demo,
	.opts = demo_opts,
	.args_size = sizeof(double),
	.init_args = demo_defaults,
};

int cmd_demo(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_demo;
	struct lab lab = {};
	struct netprobe_config cfg;
	struct netprobe_manager *m = NULL, *lbm[DEMO_BACKENDS + 1] = {};
	double duration;
	int err = 0;

	demo_defaults(&duration);
	if (cli_parse(cmd, argc, argv, &duration, NULL))
		return EXIT_USAGE;
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (geteuid() != 0) {
		cli_error("permission denied: the demo needs root (namespaces, BPF)");
		return EXIT_FAIL;
	}
	/* Stopping early (Ctrl-C) still reaches the cleanup below. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN); /* demo | head: the cleanup still runs */

	if (lab_create(&lab)) {
		cli_error("demo: cannot build the lab (ip netns, veth)");
		err = 1;
		goto out;
	}
	cli_config(&cfg);
	snprintf(cfg.pin_path, sizeof(cfg.pin_path), "%s", lab.pin_path);
	cfg.xdp_mode = NETPROBE_XDP_FILTER;
	/*
	 * The lab's attackers never complete a handshake, so --mitigate alone
	 * would only alert on them (their evidence could be spoofed); nobody
	 * here can spoof, which is what --mitigate-unproven vouches for.
	 */
	cfg.mitigation = true;
	cfg.mitigation_unproven = true;
	cfg.mitigation_ttl_s = 120;
	cfg.stats_report_interval_ms = 0;
	snprintf(env->pin_path, sizeof(env->pin_path), "%s", lab.pin_path);
	m = cli_open(&cfg);
	if (!m || in_netns(lab.server, netprobe_manager_attach, m, lab.vserver)) {
		cli_error("demo: cannot attach netprobe to %s", lab.vserver);
		err = 1;
		goto out;
	}
	if (setup_lb(&lab, lbm)) {
		cli_error("demo: cannot set up the load balancer");
		err = 1;
		goto out;
	}
	fprintf(stderr, "demo: lab %s <-> %s, netprobe attached to %s (state in %s)\n", lab.client,
		lab.server, lab.vserver, lab.pin_path);
	if (netprobe_manager_on_event(m, NETPROBE_EVENT_MASK(NETPROBE_EVENT_SECURITY), on_alerts,
				      NULL) ||
	    netprobe_manager_events_start(m))
		fprintf(stderr, "demo: cannot start the event pipeline: no alerts shown\n");
	drive_traffic(&lab, duration);
	/* On a terminal the view redraws in place; into a file or pipe, a few frames will do. */
	double every = isatty(STDOUT_FILENO) || duration <= 4 ? 1.0 : duration / 4;

	err = cli_monitor_run(m, NULL, -1, every, duration, 8, env->json);
	netprobe_manager_events_stop(m);
	summary(m);
out:
	lab_destroy(&lab, m);
	for (int i = 0; i <= DEMO_BACKENDS; i++)
		netprobe_manager_free(lbm[i]);
	netprobe_manager_free(m);
	fprintf(stderr, "demo: removed the namespaces, links and pins it made\n");
	return err ? EXIT_FAIL : EXIT_OK;
}
