// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Flow timestamps are jiffies, the one clock the datapath reads for free
 * (the ktime helpers cost 20-35 ns a packet on a VM). Here they become
 * wall-clock time: sample jiffies and CLOCK_MONOTONIC together in the kernel
 * across two tick edges, which gives the tick length and a reference point.
 */
#include <errno.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "state/state.h"
#include "netprobe.skel.h"

static int sample(struct netprobe_manager *m, struct netprobe_clock_sample *out)
{
	char frame[64] = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 1);

	if (bpf_prog_test_run_opts(bpf_program__fd(m->maps->progs.netprobe_clock), &opts))
		return -errno;
	*out = m->maps->bss->np_clock;
	return 0;
}

/* Waits for jiffies to move on from `from`; returns the first sample after the edge. */
static int next_edge(struct netprobe_manager *m, __u64 from, struct netprobe_clock_sample *edge)
{
	for (int i = 0; i < 200000; i++) {
		int err = sample(m, edge);

		if (err)
			return err;
		if (edge->jiffies != from)
			return 0;
	}
	return -ETIMEDOUT;
}

static int calibrate(struct netprobe_manager *m)
{
	static const double hz_values[] = {100, 250, 300, 1000};
	struct netprobe_clock_sample s0, e1, e2;
	double hz;
	int err;

	err = sample(m, &s0);
	if (!err)
		err = next_edge(m, s0.jiffies, &e1);
	if (!err)
		err = next_edge(m, e1.jiffies, &e2);
	if (err) {
		np_warn("cannot calibrate flow timestamps: %s", strerror(-err));
		return err;
	}
	hz = 1e9 * (e2.jiffies - e1.jiffies) / (double)(e2.mono_ns - e1.mono_ns);
	/* One tick measured is within a few percent; CONFIG_HZ is one of a few values. */
	for (size_t i = 0; i < sizeof(hz_values) / sizeof(hz_values[0]); i++)
		if (fabs(hz - hz_values[i]) < hz_values[i] * 0.1)
			hz = hz_values[i];
	m->ns_per_jiffy = 1e9 / hz;
	m->ref_jiffies = e2.jiffies;
	m->ref_mono_ns = e2.mono_ns;
	m->clock_ready = true;
	return 0;
}

unsigned long long netprobe_manager_flow_time_ns(struct netprobe_manager *m,
						 unsigned long long jiffies)
{
	struct timespec coarse, mono, real;
	long long since_ref, offset;
	double ns_per_jiffy;
	__u64 now;

	if (!m || !m->maps)
		return 0;
	/*
	 * One lock, and a coarse clock to see whether a second has passed: an
	 * exporter converts two or three times a flow, hundreds of thousands of
	 * flows a walk.
	 */
	pthread_mutex_lock(&m->clock_lock);
	if (!m->clock_ready && calibrate(m)) {
		pthread_mutex_unlock(&m->clock_lock);
		return 0;
	}
	ns_per_jiffy = m->ns_per_jiffy;
	/*
	 * CLOCK_REALTIME - CLOCK_MONOTONIC is read once a second, so that two
	 * times of one tick (a flow's first and last packet) come out equal,
	 * not apart by the jitter of two clock reads.
	 */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &coarse);
	now = coarse.tv_sec * 1000000000ull + coarse.tv_nsec;
	if (!m->real_offset_at || now - m->real_offset_at > 1000000000ull) {
		clock_gettime(CLOCK_MONOTONIC, &mono);
		clock_gettime(CLOCK_REALTIME, &real);
		m->real_offset = (long long)(real.tv_sec * 1000000000ull + real.tv_nsec) -
				 (long long)(mono.tv_sec * 1000000000ull + mono.tv_nsec);
		m->real_offset_at = now;
	}
	offset = m->real_offset;
	pthread_mutex_unlock(&m->clock_lock);
	/*
	 * In integers but the tick's length: a double holds 1.8e18 ns only to
	 * 256 ns. A time from a record (a pin, a ring buffer) may be anything:
	 * past a century either way it is a century, not a signed overflow.
	 */
	double ns = (double)(long long)(jiffies - m->ref_jiffies) * ns_per_jiffy;
	const double century = 100 * 365.25 * 86400 * 1e9;

	since_ref = ns > century    ? (long long)century
		    : ns < -century ? -(long long)century
				    : (long long)ns;
	if (__builtin_add_overflow(since_ref, (long long)m->ref_mono_ns + offset, &since_ref))
		return since_ref < 0 ? ~0ull : 0; /* wrapped: it went past the end */
	return since_ref > 0 ? (unsigned long long)since_ref : 0;
}

int np_now_jiffies(struct netprobe_manager *m, __u64 *jiffies)
{
	struct netprobe_clock_sample s;
	int err;

	pthread_mutex_lock(&m->clock_lock);
	err = sample(m, &s);
	pthread_mutex_unlock(&m->clock_lock);

	if (!err)
		*jiffies = s.jiffies;
	return err;
}

/* 0 when the clock cannot be calibrated. */
double np_ns_per_jiffy(struct netprobe_manager *m)
{
	double ns;

	pthread_mutex_lock(&m->clock_lock);
	ns = m->clock_ready || calibrate(m) == 0 ? m->ns_per_jiffy : 0;
	pthread_mutex_unlock(&m->clock_lock);
	return ns;
}
