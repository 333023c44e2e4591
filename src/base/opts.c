// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Opts structs with sz, as libbpf's: older callers' smaller ones, newer callers' larger ones. */
#include <errno.h>
#include <string.h>
#include "base/base.h"

bool np_opts_valid_sz(const void *opts, size_t user_sz, size_t known_sz, const char *type)
{
	if (user_sz < sizeof(size_t)) {
		np_err("%s: sz is %zu, too small for any version of it", type, user_sz);
		return false;
	}
	for (size_t i = known_sz; i < user_sz; i++) {
		if (((const char *)opts)[i]) {
			np_err("%s: a field past the %zu bytes this library knows is set (sz %zu): "
			       "built against a newer libnetprobe",
			       type, known_sz, user_sz);
			return false;
		}
	}
	return true;
}

int np_opts_take(void *full, size_t full_sz, size_t known_end, const void *user, const char *type)
{
	size_t user_sz;

	if (!user)
		return 0;
	user_sz = *(const size_t *)user;
	/* Past the last field this library knows, even inside its own tail padding, must be 0. */
	if (!np_opts_valid_sz(user, user_sz, known_end, type))
		return -EINVAL;
	/* The caller's fields over the defaults; sz stays the full struct's. */
	memcpy((char *)full + sizeof(size_t), (const char *)user + sizeof(size_t),
	       (user_sz < full_sz ? user_sz : full_sz) - sizeof(size_t));
	return 0;
}

void np_opts_give(void *user, const void *full, size_t full_sz)
{
	size_t user_sz = *(size_t *)user;

	if (user_sz < sizeof(size_t))
		return;
	memcpy((char *)user + sizeof(size_t), (const char *)full + sizeof(size_t),
	       (user_sz < full_sz ? user_sz : full_sz) - sizeof(size_t));
	if (user_sz > full_sz)
		memset((char *)user + full_sz, 0, user_sz - full_sz);
}
