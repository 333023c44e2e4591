// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: an interface's record and settings as read back from the pinned maps (np_opts_in_force): taken only when valid, and then they save and read back as the same
/*
 * What every netprobe process reads back from the pinned registry maps
 * (np_ifaces, np_iface_settings) about an attached interface, as whatever
 * wrote them left them: the attach opts in force. They are taken only if
 * attach would take them; taken, they make the same settings again.
 */
#include "attach/attach.h"
#include "config/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netprobe_iface_info info = {};
	struct netprobe_iface_settings settings = {}, again;
	struct netprobe_attach_opts a, b;
	size_t n = size < sizeof(info) ? size : sizeof(info);

	memcpy(&info, data, n);
	if (size > n)
		memcpy(&settings, data + n,
		       size - n < sizeof(settings) ? size - n : sizeof(settings));
	memset(&a, 0xa5, sizeof(a));
	b = a;
	if (np_opts_in_force(&info, &settings, NULL, &a)) {
		FUZZ_CHECK(!memcmp(&a, &b, sizeof(a)), "refused settings changed the opts");
		return 0;
	}
	FUZZ_CHECK(np_validate_attach(&a) == 0, "settings taken that attach would refuse");
	FUZZ_CHECK(a.decap_from_count <= NETPROBE_DECAP_MAX &&
			   a.decap_to_count <= NETPROBE_DECAP_MAX,
		   "%u and %u decap prefixes taken", a.decap_from_count, a.decap_to_count);
	/* Saved again (as attach would pin them) and read back: the same opts. */
	np_settings_of(&a, &again);
	FUZZ_CHECK(np_opts_in_force(&info, &again, NULL, &b) == 0, "saved settings refused");
	b.sz = a.sz;
	FUZZ_CHECK(!memcmp(&a, &b, sizeof(a)), "settings read back differ from those saved");
	return 0;
}
