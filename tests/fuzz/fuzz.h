/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the libFuzzer targets share. Each target is one parser of outside
 * input, run under ASan and UBSan: a crash, a leak or undefined behaviour
 * is a finding, and so is a broken property (FUZZ_CHECK): what parses must
 * print back to text that parses to the same value, what is encoded must
 * decode to what went in.
 */
#ifndef NETPROBE_FUZZ_H
#define NETPROBE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold for every input: a failure aborts, and libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__,        \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * The input as a string of exactly its own length, in a heap block of that
 * size: ASan sees a read past its end. The caller frees it.
 */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Takes the next NUL- or newline-ended field of the input; NULL when none is left. */
static inline char *fuzz_field(char **cursor, char *end)
{
	char *s = *cursor, *p = s;

	if (s >= end)
		return NULL;
	while (p < end && *p != '\0' && *p != '\n')
		p++;
	*p = '\0';
	*cursor = p + 1;
	return s;
}

#endif /* NETPROBE_FUZZ_H */
