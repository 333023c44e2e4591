// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Maglev table population (src/maglev.c), the load balancer's backend choice:
 * shares follow weights, drained backends get nothing, and changing one
 * backend of N moves little more than 1/N of the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/maglev.h"

#define M NP_MAGLEV_DEFAULT_SIZE

static __u32 table[M], before[M];

static struct np_maglev_backend backend(unsigned int i, __u32 weight)
{
	struct np_maglev_backend b = {.weight = weight};

	/* 10.0.x.y:80, as the identity an IPv4 backend would have. */
	b.id[0] = 10;
	b.id[2] = i >> 8;
	b.id[3] = i & 0xff;
	b.id[17] = 80;
	return b;
}

static void shares(size_t n, unsigned int *count)
{
	memset(count, 0, n * sizeof(*count));
	for (size_t i = 0; i < M; i++) {
		assert_true(table[i] < n);
		count[table[i]]++;
	}
}

static double moved(void)
{
	size_t changed = 0;

	for (size_t i = 0; i < M; i++)
		changed += table[i] != before[i];
	return (double)changed / M;
}

static void test_primes(void **state)
{
	(void)state;
	assert_true(np_is_prime(2) && np_is_prime(65537) && np_is_prime(251));
	assert_false(np_is_prime(0) || np_is_prime(1) || np_is_prime(65536) || np_is_prime(255));
}

static void test_equal_weights_split_evenly(void **state)
{
	struct np_maglev_backend b[3] = {backend(1, 1), backend(2, 1), backend(3, 1)};
	unsigned int count[3];

	(void)state;
	assert_int_equal(np_maglev_build(b, 3, table, M), 0);
	shares(3, count);
	for (int i = 0; i < 3; i++)
		assert_true(count[i] == M / 3 || count[i] == M / 3 + 1);
}

static void test_weights_and_drain(void **state)
{
	struct np_maglev_backend b[4] = {backend(1, 1), backend(2, 2), backend(3, 3),
					 backend(4, 0)};
	unsigned int count[4];

	(void)state;
	assert_int_equal(np_maglev_build(b, 4, table, M), 0);
	shares(4, count);
	for (int i = 0; i < 3; i++) {
		double share = (double)count[i] / M, want = (i + 1) / 6.0;

		print_message("  weight %d: %.4f of the table (want %.4f)\n", i + 1, share, want);
		assert_true(share > want - 0.001 && share < want + 0.001);
	}
	assert_int_equal(count[3], 0); /* drained: no new flows */
}

/* One backend of N goes (or comes): at most 1/N + 2% of the entries move. */
static void test_minimal_disruption(void **state)
{
	struct np_maglev_backend b[11];

	(void)state;
	for (unsigned int i = 0; i < 11; i++)
		b[i] = backend(i + 1, i < 10 ? 1 : 0);
	assert_int_equal(np_maglev_build(b, 11, before, M), 0);
	b[4].weight = 0;
	assert_int_equal(np_maglev_build(b, 11, table, M), 0);
	print_message("  removing 1 of 10 moved %.2f%% of the table\n", moved() * 100);
	assert_true(moved() <= 1.0 / 10 + 0.02);
	/* Entries of the backends that stayed mostly stay where they were. */
	b[4].weight = 1;
	b[10].weight = 1;
	assert_int_equal(np_maglev_build(b, 11, table, M), 0);
	print_message("  adding an 11th moved %.2f%% of the table\n", moved() * 100);
	assert_true(moved() <= 1.0 / 11 + 0.02);
}

static void test_deterministic(void **state)
{
	struct np_maglev_backend b[5];

	(void)state;
	for (unsigned int i = 0; i < 5; i++)
		b[i] = backend(i + 7, 1 + i % 2);
	assert_int_equal(np_maglev_build(b, 5, before, M), 0);
	assert_int_equal(np_maglev_build(b, 5, table, M), 0);
	assert_memory_equal(before, table, sizeof(table));
}

static void test_thousand_backends(void **state)
{
	struct np_maglev_backend *b = calloc(1000, sizeof(*b));
	unsigned int *count = calloc(1000, sizeof(*count));

	(void)state;
	for (unsigned int i = 0; i < 1000; i++)
		b[i] = backend(i, 1);
	assert_int_equal(np_maglev_build(b, 1000, table, M), 0);
	shares(1000, count);
	for (int i = 0; i < 1000; i++)
		assert_true(count[i] == M / 1000 || count[i] == M / 1000 + 1);
	free(b);
	free(count);
}

static void test_bad_input(void **state)
{
	struct np_maglev_backend b[2] = {backend(1, 1), backend(2, NP_MAGLEV_MAX_WEIGHT + 1)};
	struct np_maglev_backend none[2] = {backend(1, 0), backend(2, 0)};

	(void)state;
	assert_int_equal(np_maglev_build(b, 1, table, 65536), -EINVAL); /* not prime */
	assert_int_equal(np_maglev_build(b, 2, table, M), -EINVAL);	/* weight too big */
	assert_int_equal(np_maglev_build(b, 1, NULL, M), -EINVAL);
	assert_int_equal(np_maglev_build(NULL, 1, table, M), -EINVAL);
	assert_int_equal(np_maglev_build(none, 2, table, M), -ENOENT);
	assert_int_equal(table[0], UINT32_MAX);
	struct np_maglev_backend three[3] = {backend(1, 1), backend(2, 1), backend(3, 1)};

	assert_int_equal(np_maglev_build(three, 3, table, 3), -EINVAL); /* no room for each */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_primes),
		cmocka_unit_test(test_equal_weights_split_evenly),
		cmocka_unit_test(test_weights_and_drain),
		cmocka_unit_test(test_minimal_disruption),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_thousand_backends),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests_name("maglev", tests, NULL, NULL);
}
