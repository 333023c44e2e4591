/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layer 0, base: what every layer uses and nothing of netprobe's own:
 * logging (the library never prints), opts validation. Nothing here is
 * public. The layers, bottom up, each including only the ones below:
 * base, config, state, iface, programs, attach, features, housekeeping,
 * and the facade (manager.c); docs/ARCHITECTURE.md draws them.
 */
#ifndef NP_BASE_H
#define NP_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <netprobe/netprobe.h>

/*
 * Opts structs with sz, as libbpf's OPTS_VALID: NULL, an older caller's
 * smaller struct, or a newer caller's larger one whose unknown tail is
 * zero. A field past the caller's sz reads as its default.
 */
bool np_opts_valid_sz(const void *opts, size_t user_sz, size_t known_sz, const char *type);
#define np_opts_valid(opts, known_sz)                                                              \
	(!(opts) || np_opts_valid_sz((opts), (opts)->sz, (known_sz), #opts))
/* Where field ends: an opts struct's known size, its tail padding excluded. */
#define NP_OFFSETOFEND(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define NP_OPTS_HAS(opts, field)                                                                   \
	((opts) && (opts)->sz >= offsetof(typeof(*(opts)), field) + sizeof((opts)->field))
#define NP_OPTS_GET(opts, field, fallback) (NP_OPTS_HAS(opts, field) ? (opts)->field : (fallback))
/*
 * For opts whose defaults are not all zero: the caller's opts user (NULL:
 * none) copied over full, which holds the defaults, as far as the caller's
 * sz reaches; full keeps its own sz. known_end: where its last field ends
 * (NP_OFFSETOFEND), past which the caller's bytes must be zero. As
 * libbpf's, the caller's sz is trusted to be the size of some version of
 * the struct. 0, or -EINVAL when user is not valid.
 */
int np_opts_take(void *full, size_t full_sz, size_t known_end, const void *user, const char *type);
/* Back: as much of full as the caller's sz (user->sz, kept) has room for; a longer tail zeroed. */
void np_opts_give(void *user, const void *full, size_t full_sz);

void np_log(enum netprobe_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define np_err(...)   np_log(NETPROBE_LOG_ERROR, __VA_ARGS__)
#define np_warn(...)  np_log(NETPROBE_LOG_WARN, __VA_ARGS__)
#define np_info(...)  np_log(NETPROBE_LOG_INFO, __VA_ARGS__)
#define np_debug(...) np_log(NETPROBE_LOG_DEBUG, __VA_ARGS__)
void np_log_install_libbpf(void);
/*
 * A point where a process could die in the middle of a change to the pinned
 * state (between two stores of a journalled list change). Does nothing;
 * a test links it wrapped (-Wl,--wrap) to kill itself there.
 */
void np_fault_point(void);

#endif /* NP_BASE_H */
