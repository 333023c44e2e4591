// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The IPFIX transport (daemon/ipfix_conn.c) against collectors on loopback
 * that misbehave: one that never reads (the daemon's loop must not block,
 * the queue must stay bounded and count what it drops), one that cuts a
 * connection mid-message (the next connection starts with the templates,
 * then the cut message whole, nothing twice), one that talks back or
 * closes at once, and a UDP port nobody listens on (the collector down). A
 * hang is a failure: alarm() ends it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../../daemon/daemon.h"

#define SET_TEMPLATES 2
#define SET_DATA      256

/* An IPFIX message: header, one set of `set_id`, `body` bytes; its sequence number `seq`. */
static size_t make_msg(unsigned char *buf, size_t body, uint16_t set_id, uint32_t seq)
{
	uint16_t len = htons(16 + 4 + body), set = htons(set_id), set_len = htons(4 + body);
	uint16_t version = htons(10);
	uint32_t s = htonl(seq), zero = 0;

	memcpy(buf, &version, 2);
	memcpy(buf + 2, &len, 2);
	memcpy(buf + 4, &zero, 4);
	memcpy(buf + 8, &s, 4);
	memcpy(buf + 12, &zero, 4);
	memcpy(buf + 16, &set, 2);
	memcpy(buf + 18, &set_len, 2);
	memset(buf + 20, (int)(seq & 0xff), body);
	return 20 + body;
}

/* A TCP listener on 127.0.0.1, a free port; *name is its ADDRESS:PORT. */
static int listener(char *name, size_t len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(name, len, "127.0.0.1:%u", ntohs(a.sin_port));
	return fd;
}

/* Ticks c as the daemon's loop does, until done(c) or a few seconds pass. */
static void run_until(struct ipfix_conn *c, bool (*done)(struct ipfix_conn *))
{
	for (int i = 0; i < 500 && !done(c); i++) {
		struct pollfd p;
		double wait = ipfix_conn_tick(c, &p);

		/* As the daemon's loop: at least a millisecond, at most 20 here. */
		poll(&p, p.fd >= 0, wait < 0.02 ? (int)(wait * 1000) + 1 : 20);
	}
	assert_true(done(c));
}

static bool is_up(struct ipfix_conn *c)
{
	struct ipfix_conn_stats st;

	ipfix_conn_stats(c, &st);
	return st.up;
}

static bool is_empty(struct ipfix_conn *c)
{
	struct ipfix_conn_stats st;

	ipfix_conn_stats(c, &st);
	ipfix_conn_tick(c, &(struct pollfd){0});
	return st.queued_bytes == 0;
}

/* Walks a stream of messages: their set IDs and sequence numbers, in order. */
static size_t walk(const unsigned char *s, size_t len, uint16_t *sets, uint32_t *seqs, size_t max)
{
	size_t n = 0;

	for (size_t off = 0; off + 20 <= len && n < max; n++) {
		uint16_t v, l, set;
		uint32_t seq;

		memcpy(&v, s + off, 2);
		memcpy(&l, s + off + 2, 2);
		memcpy(&seq, s + off + 8, 4);
		memcpy(&set, s + off + 16, 2);
		assert_int_equal(ntohs(v), 10);
		assert_true(off + ntohs(l) <= len); /* whole messages only */
		sets[n] = ntohs(set);
		seqs[n] = ntohl(seq);
		off += ntohs(l);
	}
	return n;
}

/* A collector that accepts and never reads: sends never block, the queue stays bounded. */
static void test_stalled_collector(void **state)
{
	static unsigned char msg[60020];
	char name[64];
	int lfd = listener(name, sizeof(name));
	struct ipfix_conn *c = ipfix_conn_new(name, true, 1 << 20);
	struct ipfix_conn_stats st;
	unsigned long long records = 0;
	size_t len;

	(void)state;
	assert_non_null(c);
	len = make_msg(msg, 100, SET_TEMPLATES, 0);
	assert_true(ipfix_conn_send(c, msg, len, 0, true));
	run_until(c, is_up);
	/* 30 MB into a socket nobody reads: would block forever, were anything blocking. */
	alarm(20);
	for (unsigned int i = 0; i < 500; i++) {
		len = make_msg(msg, 60000, SET_DATA, i * 10);
		ipfix_conn_send(c, msg, len, 10, false);
		records += 10;
		ipfix_conn_tick(c, &(struct pollfd){0});
	}
	alarm(0);
	ipfix_conn_stats(c, &st);
	assert_true(st.lost > 0);
	assert_true(st.overflows > 0);
	assert_true(st.queued_bytes <= 1 << 20);
	/* Every record is sent, lost or waiting: nothing vanishes uncounted. */
	assert_int_equal(st.sent + st.lost + st.queued_bytes / 60020 * 10, records);
	assert_true(st.up);
	ipfix_conn_free(c, 0, NULL);
	close(lfd);
}

static bool no_longer_up(struct ipfix_conn *c)
{
	return !is_up(c);
}

/*
 * A collector that goes while messages wait, one of them half sent: the
 * next connection starts with the templates, numbered as the data after
 * them, then every message not sent whole, whole and in order.
 */
static void test_cut_connection(void **state)
{
	static unsigned char msg[60020], got[16 << 20];
	uint16_t sets[256] = {0};
	uint32_t seqs[256] = {0};
	char name[64];
	int lfd = listener(name, sizeof(name)), afd;
	struct ipfix_conn *c = ipfix_conn_new(name, true, 16 << 20);
	struct ipfix_conn_stats before, st;
	size_t len, n;

	(void)state;
	alarm(30);
	len = make_msg(msg, 60, SET_TEMPLATES, 0);
	assert_true(ipfix_conn_send(c, msg, len, 0, true));
	run_until(c, is_up);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	/* 100 messages of 5 records, 6 MB: more than the sockets hold, the collector reading none. */
	for (uint32_t i = 0; i < 100; i++) {
		len = make_msg(msg, 60000, SET_DATA, i * 5);
		assert_true(ipfix_conn_send(c, msg, len, 5, false));
	}
	ipfix_conn_stats(c, &before);
	assert_true(before.queued_bytes > 0);
	/* It closes with data unread: a reset. */
	close(afd);
	run_until(c, no_longer_up);
	/* Back after the retry wait (1 s). */
	run_until(c, is_up);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	/* Read as it comes, so the conn can send on. */
	len = 0;
	for (int i = 0; i < 1000; i++) {
		struct pollfd p = {afd, POLLIN, 0};
		ssize_t r;

		ipfix_conn_tick(c, &(struct pollfd){0});
		if (poll(&p, 1, 20) > 0 && (r = read(afd, got + len, sizeof(got) - len)) > 0)
			len += r;
		else if (is_empty(c))
			break;
	}
	assert_true(is_empty(c));
	n = walk(got, len, sets, seqs, 256);
	assert_true(n >= 2);
	/* Templates first, numbered as the data after them. */
	assert_int_equal(sets[0], SET_TEMPLATES);
	assert_int_equal(seqs[0], seqs[1]);
	/*
	 * Every message not sent whole before the cut (the first connection
	 * took its templates and data messages 0 .. messages - 2), whole, in
	 * order, once.
	 */
	assert_int_equal(n - 1, 100 - (before.messages - 1));
	for (size_t i = 1; i < n; i++) {
		assert_int_equal(sets[i], SET_DATA);
		assert_int_equal(seqs[i], (before.messages - 1 + i - 1) * 5);
	}
	ipfix_conn_stats(c, &st);
	assert_int_equal(st.connects, 2);
	assert_int_equal(st.lost, 0);
	ipfix_conn_free(c, 1, NULL);
	close(afd);
	close(lfd);
	alarm(0);
}

/*
 * UDP to a port nobody listens on, 200 messages in batches: the collector
 * counts as down, nothing waits, every record counted as sent (UDP cannot
 * say which datagrams were refused).
 */
static void test_udp_refused(void **state)
{
	static unsigned char msg[1400];
	char name[64];
	int lfd = listener(name, sizeof(name)); /* a TCP port: its UDP twin is surely free */
	struct ipfix_conn *c = ipfix_conn_new(name, false, 1 << 20);
	struct ipfix_conn_stats st;

	(void)state;
	assert_non_null(c);
	ipfix_conn_stats(c, &st);
	assert_true(st.up);
	for (uint32_t i = 0; i < 200; i++) {
		size_t len = make_msg(msg, 1000, SET_DATA, i);

		ipfix_conn_send(c, msg, len, 3, false);
		if (i % 10 == 9) {
			ipfix_conn_tick(c,
					&(struct pollfd){0}); /* UDP waits for a batch, or a tick */
			usleep(2000);			      /* the ICMP errors come back */
		}
	}
	ipfix_conn_tick(c, &(struct pollfd){0});
	ipfix_conn_stats(c, &st);
	assert_false(st.up);
	assert_int_equal(st.sent, 600);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.queued_bytes, 0);
	ipfix_conn_free(c, 0, NULL);
	close(lfd);
}

/* A collector that talks back over TCP is cut off (IPFIX carries nothing that way). */
static void test_talking_collector(void **state)
{
	static unsigned char msg[200];
	char name[64];
	int lfd = listener(name, sizeof(name)), afd;
	struct ipfix_conn *c = ipfix_conn_new(name, true, 1 << 20);
	size_t len = make_msg(msg, 60, SET_TEMPLATES, 0);

	(void)state;
	alarm(20);
	assert_true(ipfix_conn_send(c, msg, len, 0, true));
	run_until(c, is_up);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(write(afd, "hello", 5), 5);
	run_until(c, no_longer_up);
	ipfix_conn_free(c, 0, NULL);
	close(afd);
	close(lfd);
	alarm(0);
}

/*
 * A collector that accepts and closes at once: the retry wait still grows
 * (1, 2, 4 s ...), it does not start over at each connect.
 */
static void test_flapping_collector(void **state)
{
	static unsigned char msg[200];
	char name[64];
	int lfd = listener(name, sizeof(name));
	struct ipfix_conn *c = ipfix_conn_new(name, true, 1 << 20);
	struct ipfix_conn_stats st;
	size_t len = make_msg(msg, 60, SET_TEMPLATES, 0);
	struct timespec t0, t;

	(void)state;
	alarm(20);
	assert_true(ipfix_conn_send(c, msg, len, 0, true));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}};
		double wait = ipfix_conn_tick(c, &p[1]);

		poll(p, 2, wait < 0.02 ? (int)(wait * 1000) + 1 : 20);
		if (p[0].revents & POLLIN)
			close(accept(lfd, NULL, NULL));
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 < 3.5);
	/* At 0, 1 and 3 s; the next at 7 s. Starting over at 1 s each time: 4 by now. */
	ipfix_conn_stats(c, &st);
	assert_true(st.connects >= 2);
	assert_true(st.connects <= 3);
	ipfix_conn_free(c, 0, NULL);
	close(lfd);
	alarm(0);
}

/* A collector that is no address is refused at the start. */
static void test_bad_collector(void **state)
{
	(void)state;
	assert_null(ipfix_conn_new("localhost:4739", true, 1 << 20));
	assert_null(ipfix_conn_new("127.0.0.1", false, 1 << 20));
	assert_null(ipfix_conn_new("[::1]:0", false, 1 << 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stalled_collector),  cmocka_unit_test(test_cut_connection),
		cmocka_unit_test(test_udp_refused),	   cmocka_unit_test(test_talking_collector),
		cmocka_unit_test(test_flapping_collector), cmocka_unit_test(test_bad_collector),
	};

	dlog_setup(NETPROBE_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
