// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: the daemon's record of what it applied and its status file: a record saves and loads as the same sets
/*
 * What the daemon reads back from its own state files, as whoever could
 * write them left them: the record of what it applied (daemon_owned_load,
 * which says what a stop may remove) and the status file (`netprobe status`
 * reads it). A record that loads saves and loads again as the same sets.
 */
#include <sys/stat.h>
#include <unistd.h>
#include "daemon.h"
#include "fuzz.h"

#define PIN "/sys/fs/bpf/np-fuzz-pins"

static char dir[] = "/tmp/np-fuzz-pins-XXXXXX";
static char record[PATH_MAX], again[PATH_MAX];

static void remove_dir(void)
{
	unlink(record);
	unlink(again);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		abort();
	snprintf(record, sizeof(record), "%s/state.json", dir);
	snprintf(again, sizeof(again), "%s/again.json", dir);
	atexit(remove_dir);
	return 0;
}

static void same_set(const struct dc_cidrs *a, const struct dc_cidrs *b, const char *what)
{
	FUZZ_CHECK(a->n == b->n, "%s: %zu entries saved and loaded as %zu", what, a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		FUZZ_CHECK(!strcmp(a->v[i].text, b->v[i].text), "%s: '%s' came back as '%s'", what,
			   a->v[i].text, b->v[i].text);
	for (size_t i = 1; i < a->n; i++)
		FUZZ_CHECK(strcmp(a->v[i - 1].text, a->v[i].text) < 0, "%s: not sorted, or twice",
			   what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon_owned o, o2;
	struct daemon_status *st = malloc(sizeof(*st));
	FILE *f = fopen(record, "w");

	if (!f || !st || fwrite(data, 1, size, f) != size || fclose(f) || chmod(record, 0644))
		abort();
	if (daemon_owned_load(record, PIN, &o) == 0) {
		FUZZ_CHECK(daemon_owned_save(again, PIN, &o) == 0,
			   "a loaded record cannot be saved");
		FUZZ_CHECK(daemon_owned_load(again, PIN, &o2) == 0,
			   "a saved record cannot be loaded");
		same_set(&o.ifaces, &o2.ifaces, "interfaces");
		same_set(&o.deny, &o2.deny, "deny");
		same_set(&o.allow, &o2.allow, "allow");
		same_set(&o.services, &o2.services, "services");
		daemon_owned_free(&o);
		daemon_owned_free(&o2);
	}
	if (daemon_status_read(record, st) == 0)
		FUZZ_CHECK(memchr(st->pin_path, '\0', sizeof(st->pin_path)) &&
				   memchr(st->last_error, '\0', sizeof(st->last_error)),
			   "a string of the status read is not ended");
	free(st);
	return 0;
}
