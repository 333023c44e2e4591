// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The facade, the top of the library: a manager's life (new, load, free)
 * and the questions only the top can answer, as they ask every layer
 * (is the pinned state used by anything?).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "features/features.h"
#include "netprobe.skel.h"

/* Nothing attached, no list entries, no event consumer: the pinned state can go. */
static bool np_state_unused(const struct netprobe_manager *m)
{
	return !np_anything_attached(m) && !np_acl_has_rules(m) && !np_lb_has_services(m) &&
	       !np_events_consumer_elsewhere(m);
}

/*
 * Pinned state that nothing uses goes, without waiting: whoever holds the
 * lock is changing the state and checks, when done, whether it is still
 * used (and a command that timed out on the lock would wait twice).
 */
static void unpin_if_unused(struct netprobe_manager *m)
{
	int lock = np_lock_within(m, 0, true);

	if (lock >= 0 && np_state_unused(m))
		np_unpin_state(m);
	np_unlock(m, lock);
}

static struct netprobe_manager *manager_new(const struct np_config_parts *opts)
{
	struct netprobe_manager *m = calloc(1, sizeof(*m));

	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->opts = *opts;
	pthread_mutex_init(&m->clock_lock, NULL);
	np_log_install_libbpf();
	return m;
}

struct netprobe_manager *netprobe_manager_new(const struct netprobe_config *cfg)
{
	struct np_config_parts opts;
	int err;

	if (!cfg) {
		np_config_defaults(&opts);
		return manager_new(&opts);
	}
	err = np_validate_config(cfg, &opts);
	if (err) {
		errno = -err;
		return NULL;
	}
	return manager_new(&opts);
}

struct netprobe_manager *netprobe_manager_new_opts(const struct netprobe_state_opts *state)
{
	struct np_config_parts opts;
	int err;

	np_config_defaults(&opts);
	err = np_take_state(&opts.state, state);
	if (err) {
		errno = -err;
		return NULL;
	}
	return manager_new(&opts);
}

int netprobe_manager_get_config(const struct netprobe_manager *m, struct netprobe_config *out)
{
	if (!m || !out)
		return -EINVAL;
	np_config_join(out, &m->opts);
	return 0;
}

void netprobe_manager_free(struct netprobe_manager *m)
{
	if (!m)
		return;
	netprobe_manager_events_stop(m);
	/* State that nothing uses (load without attach, a failed attach) goes too. */
	if (m->maps)
		unpin_if_unused(m);
	np_lb_close(m);
	np_acl_close(m);
	netprobe_bpf__destroy(m->flow_end_emitter);
	netprobe_bpf__destroy(m->test_emitter);
	np_state_close(m);
	pthread_mutex_destroy(&m->clock_lock);
	free(m);
}

int netprobe_manager_load(struct netprobe_manager *m)
{
	int err;

	if (!m)
		return -EINVAL;
	if (m->maps)
		return 0;
	err = np_state_open(m);
	if (err)
		return err;
	err = np_acl_open(m);
	if (!err) {
		err = np_lb_open(m);
		if (err)
			np_acl_close(m);
	}
	if (err) {
		/* What this load pinned and nothing uses goes again. */
		unpin_if_unused(m);
		np_state_abandon(m);
	}
	return err;
}

int netprobe_manager_detach_unchanged(struct netprobe_manager *m, const struct netprobe_iface *was,
				      const struct netprobe_attach_opts *settings)
{
	struct netprobe_attach_opts now_set;
	struct netprobe_iface now;
	int lock, err;

	if (!m || !m->maps || !was || !settings || settings->sz < sizeof(size_t) ||
	    settings->sz > sizeof(now_set))
		return -EINVAL;
	lock = np_lock(m);
	if (lock < 0)
		return lock;
	/* Looked at and detached under one lock: no attach falls in between. */
	err = netprobe_manager_iface(m, was->name, &now);
	if (!err) {
		netprobe_attach_opts_default(&now_set, settings->sz);
		err = netprobe_manager_iface_opts(m, &now, &now_set);
	}
	if (!err &&
	    (now.attached_at_ns != was->attached_at_ns || memcmp(&now_set, settings, settings->sz)))
		err = -ECANCELED;
	if (!err)
		err = np_detach_locked(m, was->name);
	if (np_state_unused(m))
		np_unpin_state(m);
	np_unlock(m, lock);
	return err;
}

int netprobe_manager_detach(struct netprobe_manager *m, const char *ifname)
{
	int lock, err;

	if (!m || !m->maps)
		return -EINVAL;
	lock = np_lock(m);
	if (lock < 0)
		return lock;
	err = np_detach_locked(m, ifname);
	if (np_state_unused(m))
		np_unpin_state(m);
	np_unlock(m, lock);
	return err;
}
