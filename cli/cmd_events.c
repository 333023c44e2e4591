// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netprobe events: streams events as they come, one line (or JSON object) each. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const scope_names[] = {"source", "destination", "interface"};

static const char *event_addr(const struct netprobe_security_event *s, const __u8 *addr, char *buf,
			      size_t len)
{
	return inet_ntop(s->family == NETPROBE_FAMILY_IPV4 ? AF_INET : AF_INET6, addr, buf, len);
}

/* A detection: its name is the event's type, as SPEC.md's events --json has it. */
static struct json_object *security_event(const struct cli_event_view *e,
					  const struct netprobe_security_event *s,
					  const char **type)
{
	const char *scope = s->scope <= NETPROBE_SCOPE_INTERFACE ? scope_names[s->scope] : "?";
	const char *unit = s->detection == NETPROBE_DETECT_PORT_SCAN
				   ? (s->scan_hosts ? "hosts" : "ports")
				   : "pps";
	char src[INET6_ADDRSTRLEN + 4] = "", dst[INET6_ADDRSTRLEN] = "";
	struct json_object *o;

	*type = netprobe_detection_name(s->detection);
	if (!*type)
		*type = "security";
	/* An IPv6 source is counted (and blocked) by its prefix: 2001:db8:1:2::/64. */
	if (s->scope == NETPROBE_SCOPE_SOURCE && event_addr(s, s->src, src, sizeof(src)) &&
	    s->src_prefix_len)
		snprintf(src + strlen(src), sizeof(src) - strlen(src), "/%u", s->src_prefix_len);
	if (s->scope != NETPROBE_SCOPE_INTERFACE)
		event_addr(s, s->dst, dst, sizeof(dst));
	if (!e->json) {
		char ifname[96];

		printf("%-12s %-12s %-11s src %s dst %s: %llu %s over %llu (window %u ms)%s%s\n",
		       cli_ifname(&e->names, s->slot, ifname, sizeof(ifname)), *type, scope,
		       *src ? src : "-", *dst ? dst : "-", (unsigned long long)s->rate, unit,
		       (unsigned long long)s->threshold, s->window_ms,
		       s->blocked	? ", source blocked"
		       : s->not_blocked ? ", not blocked: "
					: "",
		       s->not_blocked ? netprobe_unblocked_name(s->not_blocked) ?: "unknown" : "");
		return NULL;
	}
	o = json_object_new_object();
	json_object_object_add(o, "src", *src ? json_object_new_string(src) : NULL);
	cli_ifname_json(o, &e->names, s->slot);
	if (s->src_prefix_len)
		json_object_object_add(o, "src_prefix_len", cli_json_u64(s->src_prefix_len));
	json_object_object_add(o, "dst", *dst ? json_object_new_string(dst) : NULL);
	json_object_object_add(o, "scope", json_object_new_string(scope));
	json_object_object_add(o, "rate", cli_json_u64(s->rate));
	json_object_object_add(o, "threshold", cli_json_u64(s->threshold));
	json_object_object_add(o, "unit", json_object_new_string(unit));
	json_object_object_add(o, "window_ms", cli_json_u64(s->window_ms));
	json_object_object_add(o, "blocked", json_object_new_boolean(s->blocked));
	if (s->not_blocked)
		json_object_object_add(
			o, "not_blocked",
			json_object_new_string(netprobe_unblocked_name(s->not_blocked)
						       ?: "unknown"));
	return o;
}

void cli_event_print(const struct cli_event_view *e, const struct netprobe_event_hdr *h)
{
	const char *type = netprobe_event_type_name(h->type);
	unsigned long long when = netprobe_manager_flow_time_ns(e->m, h->time);
	struct json_object *o;

	if (h->type == NETPROBE_EVENT_FLOW_START || h->type == NETPROBE_EVENT_FLOW_END) {
		const struct netprobe_flow_event *f = (const void *)h;
		struct cli_flow flow = {.key = f->key, .st = f->stats};

		if (!e->json) {
			char t[40];

			printf("%s %-10s ", cli_iso_time(when, t, sizeof(t)), type);
			cli_flow_print(stdout, &e->names, &flow, false, 0);
			return;
		}
		o = cli_flow_json(e->m, &e->names, &flow);
	} else if (h->type == NETPROBE_EVENT_SECURITY) {
		if (!e->json) {
			char t[40];

			printf("%s ", cli_iso_time(when, t, sizeof(t)));
		}
		o = security_event(e, (const void *)h, &type);
		if (!o)
			return;
	} else {
		const struct netprobe_test_event *t = (const void *)h;

		if (!e->json) {
			printf("%-10s seq %llu cpu %llu\n", type ? type : "?",
			       (unsigned long long)t->seq, (unsigned long long)t->cpu);
			return;
		}
		o = json_object_new_object();
		json_object_object_add(o, "seq", cli_json_u64(t->seq));
	}
	/* "type", "src" and "time" lead, as SPEC.md asks of every event. */
	json_object_object_add(o, "type", json_object_new_string(type ? type : "unknown"));
	cli_json_time(o, "time", when);
	json_object_object_add(o, "ifindex", json_object_new_int(h->ifindex));
	cli_json_print(o);
	json_object_put(o);
}

static void on_batch(const struct netprobe_event_batch *b, void *ctx)
{
	struct cli_event_view *e = ctx;

	/* Workers run in parallel: one batch prints as a block. */
	pthread_mutex_lock(&out_lock);
	for (size_t i = 0; i < b->count; i++)
		cli_event_print(e, b->events[i]);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static void on_report(const struct netprobe_global_stats *now,
		      const struct netprobe_global_stats *before, double secs, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "netprobe: report: rx %.0f pps, tx %.0f pps, %llu malformed\n",
		(now->rx_packets - before->rx_packets) / secs,
		(now->tx_packets - before->tx_packets) / secs, now->malformed - before->malformed);
}

struct events_args {
	bool json, summary;
	double duration;
	unsigned int test;
};

static const struct cli_opt events_opts[] = {
	CLI_OPT_JSON(struct events_args),
	CLI_OPT_DURATION(struct events_args, "stop after S seconds (default: at Ctrl-C, SIGTERM)"),
	{.name = "test",
	 .type = CLI_OPT_UINT,
	 .offset = offsetof(struct events_args, test),
	 .arg = "N",
	 .help = "N test events through the kernel's ring buffer, to check the path",
	 .min = 1,
	 .max = 1u << 30,
	 .unit = "events"},
	{.name = "summary",
	 .type = CLI_OPT_SET,
	 .offset = offsetof(struct events_args, summary),
	 .help = "with --json, a last JSON object with the run's accounting: {\"summary\": "
		 "{received, delivered, queue_lost, malformed, kernel_lost, sampled_out, "
		 "flows_expired}}"},
	CLI_OPT_END,
};

const struct cli_command cli_cmd_events = {
	.name = "events",
	.synopsis = "[OPTIONS]",
	.help = "Streams events as they come: flow starts (of interfaces attached with "
		"--detailed-events), flow ends of idle flows, and with --test N, N test events "
		"through the kernel's ring buffer to check the path. One JSON object a line with "
		"--json. Stops on Ctrl-C, SIGTERM or after --duration, and says what was "
		"received, delivered, lost.",
	.run = cmd_events,
	.opts = events_opts,
	.args_size = sizeof(struct events_args),
};

static void print_summary(const struct netprobe_event_stats *st)
{
	struct json_object *root = json_object_new_object(), *o = json_object_new_object();

	json_object_object_add(o, "received", cli_json_u64(st->received));
	json_object_object_add(o, "delivered", cli_json_u64(st->delivered));
	json_object_object_add(o, "queue_lost", cli_json_u64(st->queue_lost));
	json_object_object_add(o, "malformed", cli_json_u64(st->malformed));
	json_object_object_add(o, "kernel_lost", cli_json_u64(st->kernel_lost));
	json_object_object_add(o, "sampled_out", cli_json_u64(st->sampled_out));
	json_object_object_add(o, "flows_expired", cli_json_u64(st->flows_expired));
	json_object_object_add(root, "summary", o);
	pthread_mutex_lock(&out_lock);
	cli_json_print(root);
	pthread_mutex_unlock(&out_lock);
	json_object_put(root);
}

int cmd_events(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command *cmd = &cli_cmd_events;
	struct netprobe_event_stats st;
	struct cli_event_view e = {};
	struct events_args args = {};
	int err;

	if (cli_parse(cmd, argc, argv, &args, NULL))
		return EXIT_USAGE;
	env->json = args.json;
	if (args.summary && !args.json)
		return cli_usage_error(cmd, "--summary goes with --json (the text run ends with "
					    "its accounting on stderr anyway)");
	unsigned int test = args.test;
	double duration = args.duration;

	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	e.json = env->json;
	e.m = cli_open_existing(false);
	if (!e.m)
		return EXIT_FAIL;
	cli_ifnames_read(e.m, &e.names);
	/* Whatever ends the run, its accounting is said (SIGPIPE included: | head). */
	cli_catch_stop_signals();
	netprobe_manager_on_event(e.m, NETPROBE_EVENT_ALL, on_batch, &e);
	/* The periodic report (stats_report_interval_ms) goes to stderr as a log line. */
	netprobe_manager_on_report(e.m, on_report, NULL);
	err = netprobe_manager_events_start(e.m);
	if (err) {
		netprobe_manager_free(e.m);
		return cli_fail(err, "events");
	}
	if (test && netprobe_manager_emit_test_events(e.m, test) < 0)
		cli_error("events: --test: cannot produce test events");

	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned int tick = 0; !cli_stop; tick++) {
		/* Expiry (flow ends), sweeps and the report are ours to run while we run. */
		netprobe_manager_housekeeping(e.m, NULL);
		/* Interfaces attached since get their names: read here, swapped in for the workers. */
		if (tick % 20 == 19) {
			static struct cli_ifnames fresh;

			cli_ifnames_read(e.m, &fresh);
			pthread_mutex_lock(&out_lock);
			e.names = fresh;
			pthread_mutex_unlock(&out_lock);
		}
		usleep(50000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (duration &&
		    now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 >= duration)
			break;
	}
	netprobe_manager_events_stop(e.m);
	/* What the run received and lost, always: to stderr, and as JSON when asked. */
	if (netprobe_manager_event_stats(e.m, &st) == 0) {
		fprintf(stderr,
			"netprobe: events: %llu received, %llu delivered, %llu lost in the queue, "
			"%llu malformed, %llu lost in the kernel, %llu sampled out, %llu idle "
			"flows expired\n",
			st.received, st.delivered, st.queue_lost, st.malformed, st.kernel_lost,
			st.sampled_out, st.flows_expired);
		if (args.summary && e.json)
			print_summary(&st);
	}
	netprobe_manager_free(e.m);
	return EXIT_OK;
}
