// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * IPFIX messages to a collector, over UDP or TCP, without ever blocking the
 * daemon's loop (libfixbuf's own sockets block: its messages are encoded
 * into memory by ipfix.c and handed here). Messages wait in a bounded queue:
 * when it is full, new ones are dropped and their records counted as lost.
 *
 * UDP: each message is one datagram, sent 64 at a time, or at the loop's
 * tick. A collector whose port is closed answers with ICMP unreachable: the
 * socket reports it (on a send, or as POLLERR), and the collector counts as
 * down until 10 s pass without one. UDP cannot say which datagrams were
 * refused: they count as sent.
 *
 * TCP: one connection at a time. A connection that fails or breaks is tried
 * again after 1 s, then 2, 4 ... up to 30 s; the queue waits for it. Every
 * new connection is a new IPFIX transport session, so it starts with the
 * templates: the last templates message ipfix.c handed over, its export
 * time and sequence number made those of the moment (RFC 7011 wants them
 * once per session over TCP, so that is the only time they go). A message
 * cut by a broken connection goes again whole on the next one (a collector
 * drops a message it did not get whole). The retry wait starts again from
 * 1 s only after a connection that lasted 10 s: a collector that accepts
 * and closes at once is tried every 30 s, not every second. A collector
 * sends nothing back over IPFIX: one that does is cut off.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "daemon.h"

#define RETRY_FIRST_S	1.0
#define RETRY_MAX_S	30.0
#define CONNECT_WAIT_S	5.0   /* a connect not done by then is given up */
#define USER_TIMEOUT_MS 30000 /* sent data unacknowledged this long: the connection is dead */
#define UDP_BATCH	64    /* datagrams a sendmmsg(): a scan's thousands cost tens of calls */
#define UP_AGAIN_S	10.0  /* UDP: refusals quiet this long; TCP: a connection this old */

struct msg {
	struct msg *next;
	size_t len, sent;
	unsigned int records;
	bool templates;
	unsigned char data[];
};

enum conn_state {
	CONN_IDLE,	 /* TCP: no connection; the next try at retry_at */
	CONN_CONNECTING, /* TCP: connect() under way */
	CONN_UP,
};

struct ipfix_conn {
	struct sockaddr_storage to;
	char name[80];
	bool tcp;
	int fd;
	enum conn_state state;
	double retry_at, retry_wait, connect_until;
	double up_since; /* TCP: when this connection was made */
	double err_at;	 /* UDP: the last refusal or send error */
	bool blocked;	 /* the socket took no more: wait for POLLOUT */
	bool failing;	 /* TCP: failing, and said; UDP: down, and said */
	struct msg *head, *tail;
	size_t queued, queue_max;
	unsigned int nqueued;  /* messages */
	struct msg *templates; /* TCP: what each connection starts with */
	uint32_t next_seq;     /* the sequence number after the last data record handed over */
	struct ipfix_conn_stats stats;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static socklen_t addr_len(const struct sockaddr_storage *sa)
{
	return sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void drop_head(struct ipfix_conn *c)
{
	struct msg *m = c->head;

	c->head = m->next;
	if (!c->head)
		c->tail = NULL;
	c->queued -= m->len;
	c->nqueued--;
	free(m);
}

/* A message that cannot go: its records are lost, counted. */
static void lose_head(struct ipfix_conn *c)
{
	c->stats.lost += c->head->records;
	drop_head(c);
}

/* The connection is gone (why: errno, or 0 for the collector's close). */
static void disconnect(struct ipfix_conn *c, const char *what, int err)
{
	struct msg **p = &c->head;

	double now = now_s();

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	/* A connection that lasted: the next tries start over at 1 s. */
	if (c->state == CONN_UP && now - c->up_since >= UP_AGAIN_S)
		c->retry_wait = RETRY_FIRST_S;
	if (!c->failing)
		dlog(NETPROBE_LOG_WARN,
		     "ipfix: %s: %s%s%s; %zu bytes wait, tried again from %.0f s on", c->name, what,
		     err ? ": " : "", err ? strerror(err) : "", c->queued, c->retry_wait);
	c->failing = true;
	c->state = CONN_IDLE;
	c->blocked = false;
	c->retry_at = now + c->retry_wait;
	c->retry_wait = c->retry_wait * 2 > RETRY_MAX_S ? RETRY_MAX_S : c->retry_wait * 2;
	if (c->head)
		c->head->sent = 0;
	/* Templates were for that session: the next one gets its own first. */
	while (*p) {
		struct msg *m = *p;

		if (m->templates) {
			*p = m->next;
			c->queued -= m->len;
			c->nqueued--;
			free(m);
		} else {
			c->tail = m;
			p = &m->next;
		}
	}
	if (!c->head)
		c->tail = NULL;
}

/* The IPFIX message header's fields (RFC 7011 3.1), big-endian. */
static uint32_t header_u32(const struct msg *m, size_t off)
{
	uint32_t v;

	memcpy(&v, m->data + off, 4);
	return ntohl(v);
}

static void header_set_u32(struct msg *m, size_t off, uint32_t v)
{
	v = htonl(v);
	memcpy(m->data + off, &v, 4);
}

#define HDR_EXPORT_TIME 4
#define HDR_SEQUENCE	8

static struct msg *msg_new(const void *data, size_t len, unsigned int records, bool templates)
{
	struct msg *m = malloc(sizeof(*m) + len);

	if (m) {
		*m = (struct msg){.len = len, .records = records, .templates = templates};
		memcpy(m->data, data, len);
	}
	return m;
}

static void connected(struct ipfix_conn *c)
{
	struct msg *t;

	dlog(NETPROBE_LOG_INFO, "ipfix: connected to %s over TCP", c->name);
	c->state = CONN_UP;
	c->up_since = now_s();
	c->failing = false; /* its end is said, and the failures after it once */
	c->stats.connects++;
	if (!c->templates || !(t = msg_new(c->templates->data, c->templates->len, 0, true)))
		return;
	/* Of this moment, and numbered as the data that follows it. */
	header_set_u32(t, HDR_EXPORT_TIME, (uint32_t)time(NULL));
	header_set_u32(t, HDR_SEQUENCE, c->head ? header_u32(c->head, HDR_SEQUENCE) : c->next_seq);
	t->next = c->head;
	c->head = t;
	if (!c->tail)
		c->tail = t;
	c->queued += t->len;
	c->nqueued++;
}

static void tcp_connect(struct ipfix_conn *c)
{
	int one = 1, timeout = USER_TIMEOUT_MS;

	c->fd = socket(c->to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		disconnect(c, "socket", errno);
		return;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(c->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof(timeout));
	if (connect(c->fd, (struct sockaddr *)&c->to, addr_len(&c->to)) == 0) {
		connected(c);
	} else if (errno == EINPROGRESS) {
		c->state = CONN_CONNECTING;
		c->connect_until = now_s() + CONNECT_WAIT_S;
	} else {
		disconnect(c, "connect", errno);
	}
}

/* A connect under way: done, failed, or still waiting. */
static void tcp_connecting(struct ipfix_conn *c)
{
	struct pollfd p = {c->fd, POLLOUT, 0};
	int err = 0;
	socklen_t len = sizeof(err);

	if (poll(&p, 1, 0) <= 0) {
		if (now_s() >= c->connect_until)
			disconnect(c, "connect", ETIMEDOUT);
		return;
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
		disconnect(c, "connect", err ?: errno);
	else
		connected(c);
}

/* Whether the connection holds: closed, reset, or the collector talking back (it must not). */
static bool tcp_alive(struct ipfix_conn *c)
{
	char junk[64];
	ssize_t n = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);

	if (n > 0) {
		disconnect(c, "the collector sent data (IPFIX over TCP carries none back)", 0);
		return false;
	}
	if (n == 0) {
		disconnect(c, "the collector closed the connection", 0);
		return false;
	}
	if (errno == EAGAIN || errno == EINTR)
		return true;
	disconnect(c, "connection lost", errno);
	return false;
}

/* UDP: the collector refused (ICMP unreachable) or a send failed: down, said once. */
static void udp_error(struct ipfix_conn *c, int err)
{
	c->err_at = now_s();
	if (!c->failing)
		dlog(NETPROBE_LOG_WARN, "ipfix: %s: %s%s", c->name, strerror(err),
		     err == ECONNREFUSED ? " (its port is closed: what is sent is not received)"
					 : "");
	c->failing = true;
}

/* A message the socket took whole. */
static void sent_whole(struct ipfix_conn *c)
{
	c->stats.sent += c->head->records;
	c->stats.messages++;
	drop_head(c);
}

/* UDP: up to UDP_BATCH datagrams from the head in one call; how many went (-1: none, errno). */
static int send_batch(struct ipfix_conn *c)
{
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct msg *m = c->head;
	int n = 0, sent;

	for (; m && n < UDP_BATCH; m = m->next, n++) {
		iov[n] = (struct iovec){m->data, m->len};
		mm[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[n], .msg_iovlen = 1}};
	}
	sent = sendmmsg(c->fd, mm, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (int i = 0; i < sent; i++)
		sent_whole(c);
	return sent;
}

/* Sends what the socket takes, from the head of the queue. */
static void pump(struct ipfix_conn *c)
{
	c->blocked = false;
	while (c->head) {
		struct msg *m = c->head;
		ssize_t n;

		/* The usual case in one call; an error is the single send's to sort out. */
		if (!c->tcp && c->nqueued > 1) {
			if (send_batch(c) > 0)
				continue;
			if (errno == ECONNREFUSED) {
				udp_error(c, errno);
				continue; /* that was an earlier datagram's: these go again */
			}
		}
		n = send(c->fd, m->data + m->sent, m->len - m->sent, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			c->blocked = true;
			return;
		}
		if (n < 0 && c->tcp) {
			disconnect(c, "sending", errno);
			return;
		}
		if (n < 0) {
			int err = errno;

			/* UDP: a refusal is an earlier datagram's, this one goes again. */
			udp_error(c, err);
			if (err != ECONNREFUSED)
				lose_head(c); /* no route, a firewall: counted lost */
			continue;
		}
		m->sent += n;
		if (m->sent == m->len)
			sent_whole(c);
	}
}

bool ipfix_conn_send(struct ipfix_conn *c, const void *data, size_t len, unsigned int records,
		     bool templates)
{
	struct msg *m;

	if (len < 16)
		return false; /* no IPFIX message */
	if (c->tcp && templates) {
		/* Kept for the next connection: over TCP, templates go once, first. */
		free(c->templates);
		c->templates = msg_new(data, len, 0, true);
		return c->templates != NULL;
	}
	if (c->queued + len > c->queue_max || !(m = msg_new(data, len, records, templates))) {
		c->stats.lost += records;
		if (!c->stats.overflows++)
			dlog(NETPROBE_LOG_WARN,
			     "ipfix: %s: a message could not wait (%zu bytes wait, at most %zu): "
			     "its records are lost, and later ones counted in "
			     "netprobe_ipfix_records_lost_total",
			     c->name, c->queued, c->queue_max);
		return false;
	}
	c->next_seq = header_u32(m, HDR_SEQUENCE) + records;
	c->queued += len;
	c->nqueued++;
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
	/* UDP waits for a batch (or the loop's tick); TCP's messages are large already. */
	if (c->state == CONN_UP && !c->blocked && (c->tcp || c->nqueued >= UDP_BATCH))
		pump(c);
	return true;
}

/* It calls itself once at most: a connection found dead is no longer up. */
double ipfix_conn_tick(struct ipfix_conn *c, struct pollfd *pfd) // NOLINT(misc-no-recursion)
{
	double now = now_s(), wait = 3600;

	if (c->state == CONN_IDLE && now >= c->retry_at)
		tcp_connect(c);
	if (c->state == CONN_CONNECTING)
		tcp_connecting(c);
	if (c->state == CONN_UP && !c->tcp) {
		int err = 0;
		socklen_t len = sizeof(err);

		/* A refusal that came back between sends (the poll saw POLLERR). */
		if (!getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) && err)
			udp_error(c, err);
		if (c->failing && now - c->err_at >= UP_AGAIN_S) {
			dlog(NETPROBE_LOG_INFO, "ipfix: %s: no refusal for %.0f s", c->name,
			     UP_AGAIN_S);
			c->failing = false;
		}
	}
	if (c->state == CONN_UP) {
		if (c->tcp && !tcp_alive(c))
			return ipfix_conn_tick(c, pfd);
		pump(c);
	}
	pfd->fd = c->fd;
	pfd->events = 0;
	pfd->revents = 0;
	switch (c->state) {
	case CONN_IDLE:
		wait = c->retry_at - now;
		break;
	case CONN_CONNECTING:
		pfd->events = POLLOUT;
		wait = c->connect_until - now;
		break;
	case CONN_UP:
		pfd->events = (c->tcp ? POLLIN : 0) | (c->blocked ? POLLOUT : 0);
		if (!c->tcp && c->failing)
			wait = c->err_at + UP_AGAIN_S - now;
		break;
	}
	/* UDP stays polled for nothing but POLLERR: a refusal between sends. */
	if (!pfd->events && (c->tcp || c->state != CONN_UP))
		pfd->fd = -1; /* poll() skips it */
	return wait;
}

void ipfix_conn_stats(const struct ipfix_conn *c, struct ipfix_conn_stats *out)
{
	*out = c->stats;
	out->queued_bytes = c->queued;
	out->up = c->tcp ? c->state == CONN_UP : !c->failing;
}

struct ipfix_conn *ipfix_conn_new(const char *collector, bool tcp, size_t queue_max)
{
	struct ipfix_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (metrics_listen_parse(collector, &c->to)) {
		dlog(NETPROBE_LOG_ERROR, "ipfix: '%s' is no ADDRESS:PORT", collector);
		free(c);
		return NULL;
	}
	snprintf(c->name, sizeof(c->name), "%s", collector);
	c->tcp = tcp;
	c->queue_max = queue_max;
	c->retry_wait = RETRY_FIRST_S;
	c->fd = -1;
	if (tcp) {
		c->state = CONN_IDLE; /* connects at its first tick */
		return c;
	}
	c->fd = socket(c->to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Connected: the kernel says when the collector's port is closed. */
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&c->to, addr_len(&c->to))) {
		dlog(NETPROBE_LOG_ERROR, "ipfix: %s: %s", collector, strerror(errno));
		ipfix_conn_free(c, 0, NULL);
		return NULL;
	}
	c->state = CONN_UP;
	return c;
}

void ipfix_conn_free(struct ipfix_conn *c, double flush_s, struct ipfix_conn_stats *final)
{
	double until = now_s() + flush_s;
	struct pollfd p;

	if (!c)
		return;
	/* At a stop: what waits goes, if the collector takes it in time. */
	while (c->head && now_s() < until) {
		double wait = ipfix_conn_tick(c, &p);

		if (!c->head)
			break;
		if (wait > until - now_s())
			wait = until - now_s();
		if (!p.events && c->state == CONN_UP)
			break; /* UDP with nothing it can do */
		if (c->state == CONN_IDLE && c->retry_at >= until)
			break; /* no connection to try before the time is up */
		poll(&p, p.fd >= 0, wait > 0 ? (int)(wait * 1000) + 1 : 0);
	}
	if (c->head) {
		unsigned long long lost = c->stats.lost;

		while (c->head)
			lose_head(c);
		dlog(NETPROBE_LOG_WARN, "ipfix: %s: %llu records not sent at the stop", c->name,
		     c->stats.lost - lost);
	}
	if (final)
		ipfix_conn_stats(c, final);
	if (c->fd >= 0) {
		if (c->tcp)
			shutdown(c->fd, SHUT_WR);
		close(c->fd);
	}
	free(c->templates);
	free(c);
}
