// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: blocklist files (netprobe_list_text_parse): entries are single words, read back as themselves
/*
 * Blocklist files (blacklist --file, the daemon's deny_files and
 * allow_files), through netprobe_list_text_parse. Every entry is one word
 * free of blanks and comment marks, lines come in order, a NUL byte yields
 * no entry at all, and the entries written out one a line read back the
 * same.
 */
#include <errno.h>
#include <netprobe/netprobe.h>
#include "fuzz.h"

struct seen {
	char **entry;
	size_t n, cap;
	unsigned long last_line, bad;
	const char *text;
	size_t len;
};

static int collect(unsigned long line, const char *entry, const char *why, void *ctx)
{
	struct seen *s = ctx;
	unsigned long lines = 1;

	for (size_t i = 0; i < s->len; i++)
		lines += s->text[i] == '\n';
	FUZZ_CHECK(line >= s->last_line && line <= lines, "line %lu after %lu, of %lu", line,
		   s->last_line, lines);
	s->last_line = line;
	if (!entry) {
		FUZZ_CHECK(why && *why, "a bad line %lu without a reason", line);
		s->bad++;
		return 0;
	}
	FUZZ_CHECK(!why, "entry '%s' with a reason", entry);
	FUZZ_CHECK(*entry && !entry[strcspn(entry, " \t\r\n#;")],
		   "entry '%s' (line %lu) is empty or holds a blank or a comment mark", entry,
		   line);
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->entry = realloc(s->entry, s->cap * sizeof(*s->entry));
		if (!s->entry)
			abort();
	}
	s->entry[s->n++] = strdup(entry);
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->entry[i]);
	free(s->entry);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly the input's size: a read past it is ASan's to see. */
	char *text = malloc(size ? size : 1), *again;
	struct seen first = {.text = text, .len = size}, second = {};
	size_t len = 0;
	int err;

	if (!text)
		abort();
	memcpy(text, data, size);
	err = netprobe_list_text_parse(text, size, collect, &first);
	FUZZ_CHECK((err == 0) == (first.bad == 0), "returned %d with %lu bad lines", err,
		   first.bad);
	if (memchr(text, '\0', size))
		FUZZ_CHECK(err == -EINVAL && first.n == 0, "a NUL byte, and %zu entries (%d)",
			   first.n, err);
	/* The entries, one a line, read back as themselves. */
	for (size_t i = 0; i < first.n; i++)
		len += strlen(first.entry[i]) + 1;
	again = malloc(len + 1);
	if (!again)
		abort();
	len = 0;
	for (size_t i = 0; i < first.n; i++)
		len += sprintf(again + len, "%s\n", first.entry[i]);
	second.text = again;
	second.len = len;
	FUZZ_CHECK(netprobe_list_text_parse(again, len, collect, &second) == 0 &&
			   second.n == first.n,
		   "%zu entries written out read back as %zu", first.n, second.n);
	for (size_t i = 0; i < first.n; i++)
		FUZZ_CHECK(!strcmp(first.entry[i], second.entry[i]), "'%s' read back as '%s'",
			   first.entry[i], second.entry[i]);
	seen_free(&first);
	seen_free(&second);
	free(again);
	free(text);
	return 0;
}
