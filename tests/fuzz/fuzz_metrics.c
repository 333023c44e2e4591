// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// FUZZ: Prometheus label values (metrics_label_value): valid UTF-8, escaped, read back as themselves
/*
 * Label values in the Prometheus exposition (interface names, services,
 * backends): whatever the bytes, what is written is valid UTF-8 (glibc's
 * iconv is the judge), holds no raw newline or unescaped quote, and reads
 * back, unescaped, as the value itself when that was UTF-8.
 */
#include <errno.h>
#include <iconv.h>
#include "daemon.h"
#include "fuzz.h"

static bool utf8_valid(const char *s, size_t len)
{
	iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
	char out[4096], *in = (char *)s;
	size_t left = len;
	bool ok = true;

	if (cd == (iconv_t)-1)
		abort();
	while (left && ok) {
		char *o = out;
		size_t room = sizeof(out);

		if (iconv(cd, &in, &left, &o, &room) == (size_t)-1 && errno != E2BIG)
			ok = false;
	}
	iconv_close(cd);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_cstr(data, size), *out = NULL, *back;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		abort();
	metrics_label_value(f, value);
	fclose(f);
	FUZZ_CHECK(utf8_valid(out, len), "'%s' was written as no UTF-8", value);
	back = malloc(len + 1);
	if (!back)
		abort();
	for (size_t i = 0; i < len; i++) {
		FUZZ_CHECK(out[i] != '\n' && out[i] != '"', "a raw newline or quote at %zu", i);
		if (out[i] != '\\') {
			back[n++] = out[i];
			continue;
		}
		FUZZ_CHECK(i + 1 < len && strchr("\\\"n", out[i + 1]), "a bad escape at %zu", i);
		i++;
		back[n++] = out[i] == 'n' ? '\n' : out[i];
	}
	back[n] = '\0';
	if (utf8_valid(value, strlen(value)))
		FUZZ_CHECK(!strcmp(back, value), "'%s' read back as '%s'", value, back);
	free(back);
	free(out);
	free(value);
	return 0;
}
