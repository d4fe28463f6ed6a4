// SPDX-License-Identifier: MIT
/*
 * The paced load's schedule (experiments/consistency/pace.c) with made-up
 * clocks: request k is due at start + k/rate exactly, nothing is handed out
 * early, a late loop gets the whole backlog with each request's own due
 * time (so latency counts from the schedule, not from the late send), and
 * connections are picked round robin among those with room.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "experiments/consistency/pace.h"

#define SEC 1000000000ull

static void test_due_times(void **state)
{
	struct pacer p;

	pacer_init(&p, 5000, 1000);
	assert_int_equal(pacer_due_ns(&p, 0), 5000);
	assert_int_equal(pacer_due_ns(&p, 1), 5000 + 1000000);
	assert_int_equal(pacer_due_ns(&p, 1000), 5000 + SEC);
	/* A rate that does not divide a second: floor, no drift. */
	pacer_init(&p, 0, 3);
	assert_int_equal(pacer_due_ns(&p, 1), 333333333);
	assert_int_equal(pacer_due_ns(&p, 2), 666666666);
	assert_int_equal(pacer_due_ns(&p, 3), SEC);
	assert_int_equal(pacer_due_ns(&p, 3000), 1000 * SEC);
	/* No overflow far into a fast run (k * 1e9 > 2^64). */
	pacer_init(&p, 7, PACE_MAX_RATE);
	assert_int_equal(pacer_due_ns(&p, 1000000000000ull), 7 + 1000000 * SEC);
}

/* due_by(now) is the n with due(n - 1) <= now < due(n), everywhere. */
static void test_due_by_matches_due(void **state)
{
	static const uint64_t rates[] = {1,    3,    7,	    999,
					 1000, 4096, 33333, PACE_MAX_RATE};
	struct pacer p;
	uint64_t rng = 88172645463325252ull;

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		pacer_init(&p, 123456789, rates[i]);
		assert_int_equal(pacer_due_by(&p, 123456788), 0);
		assert_int_equal(pacer_due_by(&p, 123456789), 1);
		for (int t = 0; t < 2000; t++) {
			uint64_t now, n;

			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			now = 123456789 + rng % (50 * SEC);
			n = pacer_due_by(&p, now);
			assert_true(n >= 1);
			assert_true(pacer_due_ns(&p, n - 1) <= now);
			assert_true(pacer_due_ns(&p, n) > now);
			/* Exactly at a due time, that request counts. */
			assert_int_equal(pacer_due_by(&p, pacer_due_ns(&p, n)),
					 n + 1);
		}
	}
}

static void test_take_on_time(void **state)
{
	struct pacer p;
	uint64_t k, due;

	pacer_init(&p, 1000, 100); /* one every 10 ms */
	assert_false(pacer_take(&p, 999, &k, &due));
	assert_true(pacer_take(&p, 1000, &k, &due));
	assert_int_equal(k, 0);
	assert_int_equal(due, 1000);
	/* Nothing early: the next is due 10 ms later. */
	assert_false(pacer_take(&p, 1000 + 10000000 - 1, &k, &due));
	assert_int_equal(pacer_next_ns(&p), 1000 + 10000000);
	assert_true(pacer_take(&p, 1000 + 10000000, &k, &due));
	assert_int_equal(k, 1);
	assert_int_equal(p.issued, 2);
	assert_int_equal(p.max_backlog, 1);
}

static void test_take_late_backlog(void **state)
{
	struct pacer p;
	uint64_t k, due, now = 50 * 1000000ull + 5; /* 50 ms late */
	uint64_t n = 0;

	pacer_init(&p, 0, 1000);
	assert_int_equal(pacer_backlog(&p, now), 51);
	while (pacer_take(&p, now, &k, &due)) {
		/* Each keeps its own due time: latency counts from there. */
		assert_int_equal(k, n);
		assert_int_equal(due, n * 1000000ull);
		n++;
	}
	assert_int_equal(n, 51);
	assert_int_equal(p.max_backlog, 51);
	assert_int_equal(pacer_backlog(&p, now), 0);
}

/* Over a whole second the rate is exact, however often the loop wakes. */
static void test_rate_over_a_second(void **state)
{
	struct pacer p;
	uint64_t k, due, taken = 0;

	pacer_init(&p, 42, 7919);
	for (uint64_t now = 42; now < 42 + SEC; now += 333333)
		while (pacer_take(&p, now, &k, &due))
			taken++;
	while (pacer_take(&p, 42 + SEC - 1, &k, &due))
		taken++;
	assert_int_equal(taken, 7919);
}

static void test_pick_round_robin(void **state)
{
	unsigned free[4] = {2, 0, 1, 3};
	unsigned rr = 0;

	assert_int_equal(pace_pick(free, 4, &rr), 0);
	assert_int_equal(rr, 1);
	/* 1 is full (or down): skipped. */
	assert_int_equal(pace_pick(free, 4, &rr), 2);
	assert_int_equal(pace_pick(free, 4, &rr), 3);
	assert_int_equal(rr, 0); /* wrapped */
	free[0] = free[2] = free[3] = 0;
	assert_int_equal(pace_pick(free, 4, &rr), -1);
	assert_int_equal(rr, 0); /* unchanged when nothing has room */
	free[1] = 1;
	assert_int_equal(pace_pick(free, 4, &rr), 1);
	assert_int_equal(rr, 2);
	assert_int_equal(pace_pick(free, 1, &(unsigned){0}), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_due_times),
	    cmocka_unit_test(test_due_by_matches_due),
	    cmocka_unit_test(test_take_on_time),
	    cmocka_unit_test(test_take_late_backlog),
	    cmocka_unit_test(test_rate_over_a_second),
	    cmocka_unit_test(test_pick_round_robin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
