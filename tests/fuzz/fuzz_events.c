// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: ring buffer records (np_event_record_ok) and `netprobe events`' printer, text and JSON
/*
 * Records from the events ring buffer: the input is a run of records, each
 * a length byte and that many bytes. The library's check
 * (np_event_record_ok) decides which reach handlers; those that do are
 * printed as `netprobe events` prints them, as text and as JSON, each from
 * a heap block of exactly its size (ASan sees a read past it).
 */
#include <unistd.h>
#include "cli.h"
#include "features/features.h"
#include "fuzz.h"

static struct cli_event_view view;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct netprobe_config cfg;

	(void)argc;
	(void)argv;
	/* What events prints goes nowhere; what the sanitizers say goes to stderr. */
	if (!freopen("/dev/null", "w", stdout))
		abort();
	netprobe_config_default(&cfg);
	/* Never loaded: nothing pinned, times read as 0. */
	view.m = netprobe_manager_new(&cfg);
	if (!view.m)
		abort();
	view.names.slot[1].known = true;
	snprintf(view.names.slot[1].name, sizeof(view.names.slot[1].name), "eth1");
	view.names.slot[2].known = true;
	snprintf(view.names.slot[2].name, sizeof(view.names.slot[2].name), "veth0");
	snprintf(view.names.slot[2].netns, sizeof(view.names.slot[2].netns), "lab");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t at = 0; at < size;) {
		size_t len = data[at++];
		uint8_t *rec;

		if (len > size - at)
			len = size - at;
		rec = malloc(len ? len : 1);
		if (!rec)
			abort();
		memcpy(rec, data + at, len);
		at += len;
		if (np_event_record_ok(rec, len)) {
			const struct netprobe_event_hdr *h = (const void *)rec;

			FUZZ_CHECK(h->size <= len && h->size >= sizeof(*h),
				   "a record of %zu bytes says %u", len, h->size);
			view.json = false;
			cli_event_print(&view, h);
			view.json = true;
			cli_event_print(&view, h);
		}
		free(rec);
	}
	return 0;
}
