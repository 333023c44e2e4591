/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Events into the ring buffer: rate-limited, reserve/commit, losses counted. */
#ifndef NETPROBE_BPF_EVENTS_H
#define NETPROBE_BPF_EVENTS_H

#include "maps.h"

enum np_event_bucket {
	NP_BUCKET_FLOWS = 0,
	NP_BUCKET_ALERTS = 1,
};

static __always_inline struct netprobe_event_counters *event_counters(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&np_evstats, &key);
}

/*
 * A token bucket per CPU, refilled at per_sec with a burst of one second's
 * worth: a flood of new flows (or of spoofed sources) cannot swamp the ring
 * buffer. Only rare paths call it, so its clock read is not paid per packet.
 */
static __always_inline bool event_allowed(struct netprobe_event_counters *ec, __u32 bucket,
					  __u32 per_sec)
{
	struct netprobe_event_rate *r = bpf_map_lookup_elem(&np_evrate, &bucket);
	__u64 now = bpf_ktime_get_ns(), cap = (__u64)per_sec * 1000;

	if (!r)
		return false;
	__u64 elapsed_us = (now - r->last_ns) / 1000;

	r->tokens_milli += elapsed_us * per_sec / 1000;
	if (r->tokens_milli > cap || r->last_ns == 0) {
		r->tokens_milli = cap;
		r->last_ns = now;
	} else {
		/* Credit whole microseconds only, so gaps under 1 us still add up. */
		r->last_ns += elapsed_us * 1000;
	}
	if (r->tokens_milli < 1000) {
		__sync_fetch_and_add(&ec->sampled_out, 1);
		return false;
	}
	r->tokens_milli -= 1000;
	return true;
}

/* Reserves an event of size bytes, or counts the loss; the caller fills and commits it. */
static __always_inline void *event_reserve(struct netprobe_event_counters *ec, __u32 size)
{
	void *ev = bpf_ringbuf_reserve(&np_events, size, 0);

	if (!ev)
		__sync_fetch_and_add(&ec->lost, 1);
	return ev;
}

static __always_inline void event_commit(struct netprobe_event_counters *ec, void *ev)
{
	bpf_ringbuf_submit(ev, 0);
	__sync_fetch_and_add(&ec->produced, 1);
}

static __always_inline void emit_flow_start(const struct netprobe_flow_key *key,
					    const struct netprobe_flow_stats *first)
{
	struct netprobe_event_counters *ec = event_counters();
	struct netprobe_flow_event *ev;

	if (!ec || !event_allowed(ec, NP_BUCKET_FLOWS, np_events_per_sec))
		return;
	ev = event_reserve(ec, sizeof(*ev));
	if (!ev)
		return;
	ev->hdr.type = NETPROBE_EVENT_FLOW_START;
	ev->hdr.size = sizeof(*ev);
	ev->hdr.ifindex = np_ifindex;
	ev->hdr.time = first->first_seen;
	ev->key = *key;
	ev->pad = 0;
	ev->stats = *first;
	event_commit(ec, ev);
}

#endif /* NETPROBE_BPF_EVENTS_H */
