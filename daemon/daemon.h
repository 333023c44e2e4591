/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * netprobe daemon: the long-running agent (docs/DAEMON.md). A layer above
 * the library and below the command: config.c reads and checks the YAML
 * file into a struct daemon_config, apply.c makes the pinned state match
 * one (only the differences), run.c is the service around them (signals,
 * pid file, housekeeping, systemd, the log), hooks.c runs the operator's
 * commands on blocks.
 */
#ifndef NETPROBE_DAEMON_H
#define NETPROBE_DAEMON_H

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netprobe/netprobe.h>

/* Where something was written in the config file (1-based; 0: nowhere). */
struct dc_pos {
	unsigned int line, column;
};

struct dc_iface {
	char name[NETPROBE_IFNAMSIZ];
	struct netprobe_attach_opts opts;
	struct dc_pos pos;
};

/* A list entry, from the config itself or from a list file. */
struct dc_cidr {
	char text[64]; /* canonical: netprobe_cidr_str */
	struct dc_pos pos;
};

struct dc_cidrs {
	struct dc_cidr *v;
	size_t n, cap;
};

/* Appends text (a name or a CIDR's text) to a list. 0 or -ENOMEM. */
int dc_cidrs_add(struct dc_cidrs *l, const char *text);
/* Whether a sorted list (a daemon_owned's) holds text. */
bool dc_cidrs_has(const struct dc_cidrs *sorted, const char *text);

/* A file of CIDRs, one a line, # comments: refreshed while the daemon runs. */
struct dc_list_file {
	char path[PATH_MAX];
	bool allow; /* false: the deny list */
	struct dc_pos pos;
};

struct dc_backend {
	char addr[64]; /* canonical text */
	struct netprobe_lb_backend_opts opts;
	struct dc_pos pos;
};

struct dc_service {
	char vip[64]; /* canonical: netprobe_lb_service_str */
	struct netprobe_lb_service_opts opts;
	struct dc_backend *backends;
	size_t nbackends;
	struct dc_pos pos;
};

/* What the IPFIX transport did (ipfix_conn.c). */
struct ipfix_conn_stats {
	unsigned long long sent;     /* records handed to the kernel's socket */
	unsigned long long lost;     /* records dropped: the queue full, a send error, the stop */
	unsigned long long messages; /* messages sent whole */
	unsigned long long connects; /* TCP connections made */
	unsigned long long overflows;
	size_t queued_bytes; /* waiting to be sent */
	bool up;	     /* TCP: connected; UDP: no refusal or send error for 10 s */
};

/* What the IPFIX exporter did (ipfix.c). */
struct ipfix_stats {
	unsigned long long records; /* encoded */
	unsigned long long failed;  /* records that could not be encoded */
	unsigned long long evicted; /* flows gone without a final record (the table full) */
	struct ipfix_conn_stats conn;
};

/* IPFIX export (ipfix.c): where to, how, how often. */
struct daemon_ipfix_opts {
	bool enabled;
	char collector[80]; /* ADDRESS:PORT */
	bool tcp;	    /* else UDP */
	unsigned int active_timeout_s;
	unsigned int template_refresh_s; /* templates sent again (UDP loses them) */
	unsigned int observation_domain;
	/* housekeeping's: a flow idle this long gets its last record from expiry, not a timer */
	unsigned int flow_idle_timeout_ms;
};

/* Blocks announced upstream through a BGP speaker (bgp.c). */
enum dc_bgp_speaker { DC_BGP_GOBGP, DC_BGP_EXABGP };
enum dc_bgp_action { DC_BGP_RTBH, DC_BGP_FLOWSPEC };
#define DC_BGP_MAX_COMMUNITIES 8

struct daemon_bgp_opts {
	bool enabled;
	enum dc_bgp_speaker speaker;
	enum dc_bgp_action action;
	char api[80];			       /* gobgp: gobgpd's API, ADDRESS:PORT */
	char pipe[64];			       /* exabgp: its pipes' name (exabgp_api_pipename) */
	char command[PATH_MAX];		       /* gobgp's or exabgpcli's program */
	char next_hop_v4[64], next_hop_v6[64]; /* RTBH: the discard next hops */
	unsigned int communities[DC_BGP_MAX_COMMUNITIES]; /* RTBH: ASN << 16 | value */
	unsigned int ncommunities;
	unsigned int widest_v4, widest_v6; /* nothing shorter than these prefix lengths goes out */
	bool deny_list;			   /* the deny list's own entries too, not only blocks */
	bool allow_unproven;		   /* blocks of interfaces with mitigation: unproven too */
	unsigned int max_routes;	   /* at most this many routes out */
	unsigned int resync_s;		   /* the speaker's routes compared with ours this often */
};

/* What the BGP module did (bgp.c). */
struct bgp_stats {
	unsigned long long announcements,
		withdrawals;	     /* routes added to and removed from the speaker */
	unsigned long long failures; /* speaker commands that failed */
	size_t announced;	     /* ours at the speaker, at the last look */
	size_t refused;		     /* prefixes not announced: too wide, or on the allow list */
	bool up;		     /* the last look at the speaker's routes worked */
};

struct daemon_config {
	char path[PATH_MAX]; /* the file it was read from */
	char pid_file[PATH_MAX];
	bool pin_path_given; /* else the caller's default (daemon_config_read's) */
	enum netprobe_log_level log_level;
	struct netprobe_state_opts state; /* pin path and table sizes */
	struct netprobe_events_opts events;
	struct netprobe_housekeeping_opts housekeeping;
	unsigned int list_refresh_s; /* list files read again this often; 0: at reload only */
	struct dc_iface *ifaces;
	size_t nifaces;
	struct dc_cidrs deny, allow; /* the config's own entries */
	struct dc_list_file *files;
	size_t nfiles;
	struct dc_service *services;
	size_t nservices;
	struct {
		bool enabled;
		char listen[80]; /* ADDRESS:PORT */
	} metrics;
	struct daemon_ipfix_opts ipfix;
	struct daemon_bgp_opts bgp;
	struct {
		char on_block[PATH_MAX]; /* "": none */
		char on_unblock[PATH_MAX];
		unsigned int timeout_s;
	} hooks;
};

/* Where the daemon looks by default, and keeps its pid (netprobe status looks in the dir). */
#define DAEMON_CONFIG_PATH    "/etc/netprobe/netprobe.yaml"
#define DAEMON_RUN_DIR	      "/run/netprobe"
#define DAEMON_PID_FILE	      DAEMON_RUN_DIR "/netprobe.pid"
#define DAEMON_METRICS_LISTEN "127.0.0.1:9479"

/*
 * What a config check found wrong: each message "FILE:LINE:COLUMN: what",
 * in the order found (at most DC_MAX_ERRORS kept, the count goes on).
 */
#define DC_MAX_ERRORS 50
struct dc_errors {
	char *msg[DC_MAX_ERRORS];
	unsigned int count;
};
void dc_errors_free(struct dc_errors *e);
/* Adds "FILE:LINE:COLUMN: what" (pos 0: "FILE: what"). */
void dc_error(struct dc_errors *e, const char *file, struct dc_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Reads path into cfg and checks all of it, the list files it names
 * included; touches nothing. default_pin_path (NULL: the library's) is
 * the pin path when the file names none. 0, or -EINVAL with errs filled (also for a
 * file that cannot be read, or that users other than its owner, root or
 * us, could change: -EPERM). cfg is then freed already.
 */
#define DC_READ_ANY_NETNS (1u << 0) /* interfaces need not exist here (--reload's check) */
int daemon_config_read(const char *path, const char *default_pin_path, unsigned int flags,
		       struct daemon_config *cfg, struct dc_errors *errs);
void daemon_config_free(struct daemon_config *cfg);

/*
 * Reads a list file: CIDRs one a line, '#' starts a comment. Appends to
 * out; errors name the file's own lines (or config's, where it names the
 * file, for one that cannot be read or trusted). Checked as the config is.
 */
int dc_list_file_read(const struct dc_list_file *f, const char *config, struct dc_cidrs *out,
		      struct dc_errors *errs);

/*
 * Whether path's directories, each up to /, are root's or ours and writable
 * by nobody else, but for sticky ones (as /tmp: no one else can swap what we
 * own there) as sticky says: any of them, or those above path's own (a pid
 * file's directory must be ours alone: others could make files in it).
 * 0, or -errno with why filled.
 */
enum dc_sticky { DC_STICKY_NONE, DC_STICKY_ABOVE, DC_STICKY_ANY };
/* Whose files and directories are trusted: root's and ours. */
bool dc_trusted_uid(uid_t uid);
int dc_trusted_dirs(const char *path, enum dc_sticky sticky, char *why, size_t len);
/* Whether the open fd (path, for messages) is a regular file only root or we can change. */
int dc_trusted_file(int fd, const char *path, char *why, size_t len);

/* Edit distance, for "did you mean" (exposed for the unit tests). */
unsigned int dc_edit_distance(const char *a, const char *b);

/* ---- Applying a config (apply.c) ---- */

/* The entries a config wants on each list, its files' included: sorted, each once. */
struct daemon_lists {
	struct dc_cidrs deny, allow;
};
int daemon_lists_read(const struct daemon_config *cfg, struct daemon_lists *out,
		      struct dc_errors *errs);
void daemon_lists_free(struct daemon_lists *l);
bool daemon_lists_equal(const struct daemon_lists *a, const struct daemon_lists *b);

/*
 * What the daemon made and so may remove: interfaces it attached, list
 * entries and services it added (as text, sorted). Kept in a record file
 * (daemon_owned_save) so that a restart knows it too.
 */
struct daemon_owned {
	struct dc_cidrs ifaces, deny, allow, services;
};
void daemon_owned_free(struct daemon_owned *o);
/* out = what a holds and b does not (set by set): what an apply added, to take back. */
int daemon_owned_minus(const struct daemon_owned *a, const struct daemon_owned *b,
		       struct daemon_owned *out);
/* -ENOENT: no record, or one of another pin path. */
int daemon_owned_load(const char *record, const char *pin_path, struct daemon_owned *out);
int daemon_owned_save(const char *record, const char *pin_path, const struct daemon_owned *o);

struct daemon_apply_result {
	unsigned int changes; /* interfaces, entries, services and backends changed */
	unsigned int skipped; /* entries on the other list by hand: left there */
};

/*
 * Makes the pinned state what cfg and lists say, changing only what
 * differs, and removing what owned holds and they no longer name; owned
 * is updated to what the daemon holds after. Each change and each failure
 * is logged; the first error is returned, the rest is still applied.
 */
int daemon_apply(struct netprobe_manager *m, const struct daemon_config *cfg,
		 const struct daemon_lists *lists, struct daemon_owned *owned,
		 struct daemon_apply_result *res);
/* The lists alone (a list file changed). */
int daemon_apply_lists(struct netprobe_manager *m, const struct daemon_lists *want,
		       struct daemon_owned *owned, struct daemon_apply_result *res);
/* Removes all the daemon owns (--detach-on-exit). */
int daemon_unapply(struct netprobe_manager *m, struct daemon_owned *owned);

/* ---- The service (run.c) ---- */

struct daemon_args {
	const char *config;
	const char *metrics; /* --metrics ADDR:PORT: instead of the config's (NULL: the config's) */
	const char *default_pin_path; /* when the config names none: the other commands' */
	bool detach_on_exit;
	bool reload_on_change; /* the config file is looked at each second, reloaded when it changed */
	enum netprobe_log_level log_level;
	bool log_level_given; /* else the config's */
};

/* Each returns the exit code: 0 done, 1 failed (said in the log). */
int daemon_run(const struct daemon_args *args);
/* --check-config: the errors, or "FILE: ok" with what it holds. */
int daemon_check(const char *config, const char *default_pin_path);
/* --reload: checks config, signals the daemon its pid file names, waits for the outcome. */
int daemon_signal_reload(const char *config, const char *pid_file, const char *default_pin_path);
/* FILE.pid -> FILE.SUFFIX: the status and ownership records beside the pid file. */
void daemon_side_file(const char *pid_file, const char *suffix, char *out, size_t len);

/* ---- Blocks and their hooks (hooks.c); the daemon's loop thread only, but note_alert ---- */

/* An alert that blocked src (as its event says it): its rate, for the hook. Thread-safe. */
void hooks_note_alert(const char *src, unsigned long long rate, unsigned long long threshold);
/* Compares mitigation's blocks with the last look: log lines, hooks queued; whether they changed. */
bool hooks_check_blocks(struct netprobe_manager *m, const struct daemon_config *cfg);
/* Reaps, times out and starts hook commands; never waits. */
void hooks_tick(const struct daemon_config *cfg);
bool hooks_busy(void);
/* Waits for the running ones (each up to its timeout), drops the queued. */
void hooks_finish(const struct daemon_config *cfg);

/* ---- IPFIX encoding (ipfix_encode.c): flow records into messages ---- */

#define IPFIX_TID_V4 256
#define IPFIX_TID_V6 257

/* Records as the templates lay them out: largest fields first, padded to 8. */
struct ipfix_rec_tail {
	uint32_t ingress, egress;
	uint16_t sport, dport, icmp_type_code, tcp_flags;
	uint8_t proto, direction, end_reason, pad[5];
};

struct ipfix_rec4 {
	uint64_t start_ms, end_ms, octets, packets;
	uint32_t src, dst; /* host order, as fixbuf wants IPv4 addresses */
	struct ipfix_rec_tail t;
};

struct ipfix_rec6 {
	uint64_t start_ms, end_ms, octets, packets;
	uint8_t src[16], dst[16];
	struct ipfix_rec_tail t;
};

/* What one record says of its flow: its counts from start_ms to end_ms (its last packet). */
struct ipfix_flow_record {
	struct netprobe_flow_key key;
	unsigned int tcp_flags;
	unsigned long long packets, bytes, start_ms, end_ms;
	unsigned int end_reason; /* 1 idle, 2 active timeout, 4 forced (a stop) */
};

/* Takes each message made: templates (alone in theirs) or records. */
typedef void (*ipfix_sink_fn)(void *ctx, const void *msg, size_t len, unsigned int records,
			      bool templates);
struct ipfix_enc;
/* Messages of at most a UDP datagram's 1420 bytes, or 65000 over TCP; NULL on failure (logged). */
struct ipfix_enc *ipfix_enc_new(uint32_t domain, bool tcp, ipfix_sink_fn sink, void *ctx);
/* The templates, in a message of their own (records waiting go first); false if they failed. */
bool ipfix_enc_templates(struct ipfix_enc *e);
/* One record; a full message goes to the sink and the record starts the next. */
bool ipfix_enc_record(struct ipfix_enc *e, const struct ipfix_flow_record *f);
/* The message being built, if it holds any record, goes to the sink. */
void ipfix_enc_flush(struct ipfix_enc *e);
void ipfix_enc_counts(const struct ipfix_enc *e, unsigned long long *records,
		      unsigned long long *failed);
void ipfix_enc_free(struct ipfix_enc *e);

/* ---- IPFIX flow export (ipfix.c) ---- */

struct ipfix;
/* Starts exporting the flows of m's table; NULL on failure (logged). */
struct ipfix *ipfix_start(const struct daemon_ipfix_opts *opts, struct netprobe_manager *m);
/* The periodic work (on the loop's thread); returns the seconds until more is due. */
double ipfix_tick(struct ipfix *x);
void ipfix_stats(const struct ipfix *x, struct ipfix_stats *out);
/* Adds from's counters to to's (the gauges stay to's). */
void ipfix_stats_add(struct ipfix_stats *to, const struct ipfix_stats *from);
/* New timers (active timeout, template refresh, the idle timeout it defers to), in place. */
void ipfix_retime(struct ipfix *x, const struct daemon_ipfix_opts *opts);
/* flush: what is new of every flow goes as a forced end first; its last counts in *final. */
void ipfix_stop(struct ipfix *x, bool flush, struct ipfix_stats *final);
/* A poll() entry for the exporter's socket (fd -1: none to watch now). */
void ipfix_pollfd(const struct ipfix *x, struct pollfd *pfd);

/* ---- IPFIX transport (ipfix_conn.c): messages to a collector, never blocking ---- */

/* Queued messages wait up to this many bytes; beyond, new ones are lost (counted). */
#define IPFIX_QUEUE_MAX (16u << 20)

struct ipfix_conn;
/* UDP: the socket now; TCP: connects at its first tick. NULL on failure (logged). */
struct ipfix_conn *ipfix_conn_new(const char *collector, bool tcp, size_t queue_max);
/*
 * Queues one whole IPFIX message of `records` data records and sends what
 * the socket takes. templates: the session's templates (over TCP kept and
 * sent first on each connection, not queued). False: dropped, counted lost.
 */
bool ipfix_conn_send(struct ipfix_conn *c, const void *msg, size_t len, unsigned int records,
		     bool templates);
/* Connects, sends; fills *pfd for the loop's poll(); the seconds until it wants a tick. */
double ipfix_conn_tick(struct ipfix_conn *c, struct pollfd *pfd);
void ipfix_conn_stats(const struct ipfix_conn *c, struct ipfix_conn_stats *out);
/*
 * Sends what waits for up to flush_s seconds (lost, counted, past that; no
 * wait for a TCP connection not due to be tried by then) and closes; the
 * final counts in *final (may be NULL).
 */
void ipfix_conn_free(struct ipfix_conn *c, double flush_s, struct ipfix_conn_stats *final);

/* ---- Prometheus /metrics (metrics.c) ---- */

struct metrics;
/* What the daemon's loop knows and a scrape shows. */
struct metrics_snapshot {
	unsigned int reloads;
	bool last_ok, in_sync;
	unsigned long long last_success_ns; /* CLOCK_REALTIME of the last whole apply */
	bool ipfix;			    /* flows exported: the counts below mean something */
	struct ipfix_stats ipfix_stats;
	bool bgp; /* blocks announced upstream: the counts below mean something */
	struct bgp_stats bgp_stats;
};
/* "127.0.0.1:9479", "[::1]:9479", "0.0.0.0:9479". 0 or -EINVAL. */
int metrics_listen_parse(const char *text, struct sockaddr_storage *out);
/* A label's value as the exposition writes it (escaped, UTF-8); exposed for the fuzz target. */
void metrics_label_value(FILE *f, const char *v);
/* Serves /metrics and /-/healthy on listen, on a thread of its own; NULL on failure (logged). */
struct metrics *metrics_start(const char *listen, const struct netprobe_state_opts *state,
			      struct netprobe_manager *events_m);
void metrics_snapshot_set(struct metrics *x, const struct metrics_snapshot *s);
const char *metrics_listening(const struct metrics *x);
void metrics_stop(struct metrics *x);

/* ---- Its status file (status.c) ---- */

struct daemon_status {
	char file[PATH_MAX];
	int pid;
	char config[PATH_MAX];
	char pin_path[NETPROBE_PIN_PATH_MAX];
	unsigned long long started_ns; /* CLOCK_REALTIME */
	unsigned int reloads;	       /* reloads asked since the start */
	bool last_ok;
	unsigned long long last_reload_ns; /* 0: none yet */
	unsigned int last_changes;
	char last_error[512];
	bool in_sync; /* the last apply went through whole (else it is tried again) */
	char pid_file[PATH_MAX];
	char list_files_error[512]; /* a list file refused at the last refresh ("": none) */
};
/* The pid holding fd's (a pid file's) POSIX lock, in the caller's pid namespace; 0: none. */
pid_t daemon_lock_holder(int fd);
int daemon_status_read(const char *file, struct daemon_status *out);
/* The running daemon of pin_path whose status file is in DAEMON_RUN_DIR; -ENOENT: none. */
int daemon_status_find(const char *pin_path, struct daemon_status *out);

/* ---- Upstream mitigation through BGP (bgp.c) ---- */

struct bgp;
/* Starts the speaker's worker thread (nothing is announced until bgp_update). NULL: errno. */
struct bgp *bgp_start(const struct daemon_bgp_opts *o);
/*
 * The prefixes to announce, from the lists as they are now: mitigation's
 * blocks (and the deny list's own entries with deny_list), none wider than
 * the widest allowed, none that overlaps the allow list. The worker makes
 * the speaker's routes match, at once. The loop's thread.
 */
int bgp_update(struct bgp *b, struct netprobe_manager *m);
/* Whether the worker wants the lists looked at again (its resync is due). */
bool bgp_due(struct bgp *b);
void bgp_stats(struct bgp *b, struct bgp_stats *out);
/*
 * Stops the worker. withdraw: our routes are taken back first (at most
 * 10 s): what stops announcing must not leave blackholes nobody ends.
 */
void bgp_stop(struct bgp *b, bool withdraw);

/* ---- Privileges (privileges.c) ---- */

/*
 * The pin path a config names (default_pin_path when it names none, or
 * cannot be read: daemon_config_read says why), read before the whole
 * config is, to act as its owner first.
 */
void daemon_config_pin_path(const char *path, const char *default_pin_path, char *out, size_t len);

/*
 * Keeps only the capabilities a running daemon uses (CAP_NET_ADMIN, CAP_BPF,
 * CAP_PERFMON; CAP_SYS_ADMIN where CAP_BPF is missing), of those it has;
 * cuts the bounding set too when it may; passes none on to what it runs.
 * kept: their names, space-separated. 0 or -errno.
 */
int daemon_drop_privileges(char *kept, size_t len);
/*
 * 1 with the user and group pin_path belongs to when that is not root and
 * only root could have put it there (every directory above it root's and
 * writable by nobody else, no symlink): state given to a service user.
 * 0 otherwise.
 */
int daemon_state_owner(const char *pin_path, uid_t *uid, gid_t *gid);
/*
 * root, on state given to a service user (daemon_state_owner): becomes
 * that user for good, keeping only CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON and
 * CAP_DAC_READ_SEARCH (to pass /sys/fs/bpf). *owner: that user, 0 when
 * nothing changed. 0 or -errno. Before any thread.
 */
int daemon_act_as_state_owner(const char *pin_path, uid_t *owner);

/* ---- The log (log.c) ---- */

/* Installs the daemon's log for itself and the library; to the journal under systemd. */
void dlog_setup(enum netprobe_log_level level);
void dlog_set_level(enum netprobe_log_level level);
bool dlog_to_journal(void);
void dlog(enum netprobe_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Errors and warnings logged on this thread go into buf (joined by "; ") until _end. */
void dlog_capture_begin(char *buf, size_t len);
void dlog_capture_end(void);
const char *dlog_level_name(enum netprobe_log_level level);
int dlog_level_parse(const char *s, enum netprobe_log_level *out);

#endif /* NETPROBE_DAEMON_H */
