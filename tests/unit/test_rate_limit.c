// SPDX-License-Identifier: MIT
/*
 * The token bucket (common/rate_limit.c) on a fake clock: unlimited means
 * no wait; a capped transfer takes at least bytes / rate; idle time earns
 * at most one burst; a message larger than the bucket is allowed and paid
 * off by the next senders; a rate change applies to later reservations.
 * One case with the real clock and four threads checks the lock and that
 * the cap holds in wall time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "common/clock.h"
#include "common/rate_limit.h"

#define MIB (1ull << 20)
#define SEC 1000000000ull

struct fake_clock {
	uint64_t now;
	uint64_t slept;
};

static uint64_t fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

static void fake_sleep_until(void *ctx, uint64_t deadline)
{
	struct fake_clock *c = ctx;

	if (deadline > c->now) {
		c->slept += deadline - c->now;
		c->now = deadline;
	}
}

static void init_fake(struct rate_limit *r, struct fake_clock *c, uint64_t rate,
		      uint64_t burst)
{
	struct rate_clock rc = {fake_now, fake_sleep_until, c};

	c->now = 1000 * SEC;
	c->slept = 0;
	rate_limit_init(r, rate, burst, &rc);
}

static void test_unlimited_never_waits(void **state)
{
	struct fake_clock c;
	struct rate_limit r;

	(void)state;
	init_fake(&r, &c, 0, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(rate_limit_wait(&r, 8 * MIB), 0);
	assert_int_equal(c.slept, 0);
	rate_limit_destroy(&r);
}

static void test_transfer_takes_bytes_over_rate(void **state)
{
	struct fake_clock c;
	struct rate_limit r;
	uint64_t start, total = 0;

	(void)state;
	init_fake(&r, &c, 16 * MIB, 0);
	assert_int_equal(r.burst, 16 * MIB / 100); /* 10 ms worth */
	start = c.now;
	/* Mixed sizes, as a pre-copy round sends them. */
	for (int i = 0; i < 400; i++) {
		uint64_t n = (uint64_t)(i % 7 + 1) * 37000;

		rate_limit_wait(&r, n);
		total += n;
	}
	/* Starting empty: bytes / rate (each wait rounded up to the ns). */
	assert_true(c.now - start >= total * SEC / (16 * MIB));
	assert_true(c.now - start <= total * SEC / (16 * MIB) + 1000);
	rate_limit_destroy(&r);
}

static void test_idle_earns_at_most_one_burst(void **state)
{
	struct fake_clock c;
	struct rate_limit r;

	(void)state;
	init_fake(&r, &c, MIB, 256 << 10);
	c.now += 3600 * SEC; /* an hour idle */
	/* The burst goes out at once, the byte after it waits. */
	assert_int_equal(rate_limit_wait(&r, 256 << 10), 0);
	assert_int_equal(rate_limit_reserve(&r, 1024),
			 (1024 * SEC + MIB - 1) / MIB); /* rounded up */
	rate_limit_destroy(&r);
}

static void test_large_message_is_debt(void **state)
{
	struct fake_clock c;
	struct rate_limit r;

	(void)state;
	init_fake(&r, &c, MIB, 64 << 10);
	/* 8 MiB against a 64 KiB bucket: allowed, 8 s to wait. */
	assert_int_equal(rate_limit_reserve(&r, 8 * MIB), 8 * SEC);
	/* The next sender waits for the debt too, plus its own bytes. */
	assert_int_equal(rate_limit_reserve(&r, MIB), 9 * SEC);
	c.now += 9 * SEC;
	assert_int_equal(rate_limit_reserve(&r, 0), 0);
	rate_limit_destroy(&r);
}

static void test_rate_change_applies_from_now(void **state)
{
	struct fake_clock c;
	struct rate_limit r;

	(void)state;
	init_fake(&r, &c, MIB, 64 << 10);
	assert_int_equal(rate_limit_reserve(&r, MIB), SEC);
	c.now += SEC; /* debt paid */
	rate_limit_set(&r, 4 * MIB, 0);
	assert_int_equal(r.burst, 64 << 10); /* 4 MiB/100 < the minimum */
	assert_int_equal(rate_limit_reserve(&r, 4 * MIB), SEC);
	c.now += SEC;
	rate_limit_set(&r, 0, 0); /* unlimited */
	assert_int_equal(rate_limit_reserve(&r, 100 * MIB), 0);
	rate_limit_destroy(&r);
}

struct sender {
	struct rate_limit *r;
	uint64_t bytes;
};

static void *send_chunks(void *arg)
{
	struct sender *s = arg;

	for (uint64_t sent = 0; sent < s->bytes; sent += 64 << 10)
		rate_limit_wait(s->r, 64 << 10);
	return NULL;
}

static void test_threads_share_the_cap(void **state)
{
	struct rate_limit r;
	struct sender s[4];
	pthread_t t[4];
	uint64_t start, elapsed;

	(void)state;
	rate_limit_init(&r, 16 * MIB, 0, NULL);
	start = clock_mono_ns();
	for (int i = 0; i < 4; i++) {
		s[i] = (struct sender){&r, MIB};
		assert_int_equal(
		    pthread_create(&t[i], NULL, send_chunks, &s[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	elapsed = clock_mono_ns() - start;
	/* 4 MiB at 16 MiB/s: at least 250 ms (the bucket starts empty). */
	print_message("4 threads, 4 MiB at 16 MiB/s: %.0f ms\n",
		      (double)elapsed / 1e6);
	assert_true(elapsed >= 250 * 1000000ull);
	rate_limit_destroy(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unlimited_never_waits),
	    cmocka_unit_test(test_transfer_takes_bytes_over_rate),
	    cmocka_unit_test(test_idle_earns_at_most_one_burst),
	    cmocka_unit_test(test_large_message_is_debt),
	    cmocka_unit_test(test_rate_change_applies_from_now),
	    cmocka_unit_test(test_threads_share_the_cap),
	};

	return cmocka_run_group_tests_name("rate_limit", tests, NULL, NULL);
}
