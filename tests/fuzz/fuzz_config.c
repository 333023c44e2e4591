// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: the daemon's YAML config with its list files (daemon_config_read): accepted with no error, or refused with errors that name a file
/*
 * The daemon's YAML config, read and checked whole as `netprobe daemon
 * --check-config` reads it, with the list files it names (@DIR@ in the
 * input is a private directory holding deny.txt and allow.txt). Accepted
 * or refused, never both: a refusal has errors, each naming a file; an
 * acceptance has none.
 */
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>
#include "daemon.h"
#include "fuzz.h"

static char dir[] = "/tmp/np-fuzz-config-XXXXXX";

static void write_file(const char *name, const void *data, size_t size)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) || chmod(path, 0644))
		abort();
}

static void remove_dir(void)
{
	char path[PATH_MAX];

	for (const char *const *n =
		     (const char *const[]){"netprobe.yaml", "deny.txt", "allow.txt", NULL};
	     *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *n);
		unlink(path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
	write_file("deny.txt", "192.0.2.0/24\n2001:db8::/32 # a comment\n", 39);
	write_file("allow.txt", "192.0.2.1\n", 10);
	return 0;
}

/* The input with each @DIR@ made the directory's name. */
static char *with_dir(const uint8_t *data, size_t size, size_t *len)
{
	static const char mark[] = "@DIR@";
	char *out = malloc(size * (sizeof(dir) / (sizeof(mark) - 1) + 1) + 1), *o = out;

	if (!out)
		abort();
	for (size_t i = 0; i < size;) {
		if (size - i >= sizeof(mark) - 1 && !memcmp(data + i, mark, sizeof(mark) - 1)) {
			memcpy(o, dir, sizeof(dir) - 1);
			o += sizeof(dir) - 1;
			i += sizeof(mark) - 1;
		} else {
			*o++ = data[i++];
		}
	}
	*len = o - out;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon_config *cfg = calloc(1, sizeof(*cfg));
	struct dc_errors errs = {};
	char path[PATH_MAX];
	size_t len;
	char *text = with_dir(data, size, &len);
	int err;

	if (!cfg)
		abort();
	write_file("netprobe.yaml", text, len);
	free(text);
	snprintf(path, sizeof(path), "%s/netprobe.yaml", dir);
	err = daemon_config_read(path, "/sys/fs/bpf/np-fuzz-config", DC_READ_ANY_NETNS, cfg, &errs);
	FUZZ_CHECK((err == 0) == (errs.count == 0), "returned %d with %u errors", err, errs.count);
	for (unsigned int i = 0; i < errs.count && i < DC_MAX_ERRORS; i++)
		FUZZ_CHECK(errs.msg[i] && errs.msg[i][0] == '/', "an error names no file: %s",
			   errs.msg[i] ? errs.msg[i] : "(null)");
	if (!err)
		daemon_config_free(cfg);
	dc_errors_free(&errs);
	free(cfg);
	return 0;
}
