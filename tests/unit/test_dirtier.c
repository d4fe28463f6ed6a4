// SPDX-License-Identifier: MIT
/*
 * The features every guest image has (guest/services/lib/): the dirtier's
 * rate and page coverage against the fake clock, the crash option, and the
 * option checking of guest_common_start.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_service.h"
#include "lib/common_options.h"
#include "lib/crash.h"
#include "lib/dirtier.h"
#include "lib/option_parse.h"

#define MS 1000000ull
#define SEC 1000000000ull

static int setup(void **state)
{
	fake_reset();
	return 0;
}

static int teardown(void **state)
{
	dirtier_stop();
	crash_disarm();
	fake_reset();
	return 0;
}

/* Pages of the region whose word differs from the calloc'd zero. */
static size_t pages_touched(void)
{
	size_t pages, n = 0;
	const uint8_t *r = dirtier_region(&pages);

	assert_non_null(r);
	for (size_t i = 0; i < pages; i++) {
		uint64_t w;

		memcpy(&w, r + i * DIRTIER_PAGE_SIZE, sizeof(w));
		n += w != 0;
	}
	return n;
}

static void test_rate_1000_over_one_second(void **state)
{
	svc_tick_fn tick;
	uint64_t now = 0, next;
	size_t pages;
	unsigned ticks = 0;

	fake_set_option("dirty", "1000");
	assert_int_equal(guest_common_start(), 0);
	tick = fake_ticker(0);
	assert_non_null(tick);
	assert_null(fake_ticker(1)); /* no crash ticker */
	assert_non_null(dirtier_region(&pages));
	assert_int_equal(pages, 16 * 256); /* dirty_mb default 16 */

	while (now < SEC) {
		next = tick(now);
		assert_int_equal(next, now + 5 * MS);
		now = next;
		ticks++;
	}
	tick(now);
	assert_int_equal(ticks, 200);
	assert_int_equal(dirtier_pages_written(), 1000);
	assert_int_equal(pages_touched(), 1000);

	/* Half a second more: 500 more, still all distinct pages. */
	for (; now < 3 * SEC / 2; now += 5 * MS)
		tick(now);
	tick(now);
	assert_int_equal(dirtier_pages_written(), 1500);
	assert_int_equal(pages_touched(), 1500);
}

/* Irregular tick spacing must not change the count: remainders carry. */
static void test_rate_exact_with_jitter(void **state)
{
	static const uint64_t steps_ms[] = { 3, 7, 1, 13, 0, 2, 11, 5, 8 };
	svc_tick_fn tick;
	uint64_t now = 0;
	size_t i = 0;

	assert_int_equal(dirtier_start(333, 1), 0);
	tick = fake_ticker(0);
	while (now + steps_ms[i % 9] * MS <= SEC) {
		now += steps_ms[i++ % 9] * MS;
		tick(now);
	}
	now = SEC;
	tick(now);
	assert_int_equal(dirtier_pages_written(), 333);
	/* 0.5 s later: floor(333 * 1.5) = 499. */
	tick(now + SEC / 2);
	assert_int_equal(dirtier_pages_written(), 499);
}

static void test_high_rate_cycles_region(void **state)
{
	svc_tick_fn tick;
	uint64_t now;

	fake_set_option("dirty", "100000");
	fake_set_option("dirty_mb", "1");
	assert_int_equal(guest_common_start(), 0);
	tick = fake_ticker(0);
	for (now = 0; now <= SEC; now += 5 * MS)
		assert_int_equal(tick(now), now + 5 * MS);
	assert_int_equal(dirtier_pages_written(), 100000);
	assert_int_equal(pages_touched(), 256);
	/* Round robin: page i last got the largest seq s <= 100000 with
	 * (s - 1) % 256 == i. */
	{
		size_t pages;
		const uint8_t *r = dirtier_region(&pages);

		for (size_t i = 0; i < pages; i++) {
			uint64_t w;
			uint64_t want = i + 1 + 256 * ((100000 - 1 - i) / 256);

			memcpy(&w, r + i * DIRTIER_PAGE_SIZE, sizeof(w));
			assert_int_equal(w, want);
		}
	}
}

static void test_pause_is_not_a_debt(void **state)
{
	svc_tick_fn tick;

	assert_int_equal(dirtier_start(1000, 1), 0);
	tick = fake_ticker(0);
	tick(0);
	/* The guest was stopped for 10 s: at most one second's worth. */
	tick(10 * SEC);
	assert_int_equal(dirtier_pages_written(), 1000);
	tick(10 * SEC + 5 * MS);
	assert_int_equal(dirtier_pages_written(), 1005);
}

static void test_low_rate_ticks_less_often(void **state)
{
	assert_int_equal(dirtier_start(10, 1), 0);
	assert_int_equal(fake_ticker(0)(0), 100 * MS);
	dirtier_stop();
	assert_int_equal(dirtier_start(50, 1), 0);
	assert_int_equal(fake_ticker(1)(7), 7 + 20 * MS);
	dirtier_stop();
	/* Stopped: the ticker asks never to be called again. */
	assert_int_equal(fake_ticker(1)(8), UINT64_MAX);
	assert_null(dirtier_region(&(size_t){ 0 }));
}

/* dirty_bytes=4096: every word of a written page changes, differently in
 * every page (no codec can shrink it to a few bytes). */
static void test_whole_page_fill(void **state)
{
	svc_tick_fn tick;
	size_t pages;
	const uint8_t *r;
	uint64_t w0[512], w1[512];

	fake_set_option("dirty", "1000");
	fake_set_option("dirty_bytes", "4096");
	assert_int_equal(guest_common_start(), 0);
	tick = fake_ticker(0);
	tick(0);
	tick(10 * MS); /* 10 pages */
	assert_int_equal(dirtier_pages_written(), 10);
	r = dirtier_region(&pages);
	memcpy(w0, r, sizeof(w0));
	memcpy(w1, r + DIRTIER_PAGE_SIZE, sizeof(w1));
	for (size_t i = 0; i < 512; i++) {
		assert_true(w0[i] != 0);
		assert_true(w0[i] != w1[i]);
	}
	/* The last word differs from the first: not one value repeated. */
	assert_true(w0[511] != w0[0]);
	/* Page 10 was not written. */
	memcpy(w0, r + 10 * DIRTIER_PAGE_SIZE, sizeof(w0));
	assert_true(w0[0] == 0 && w0[511] == 0);
}

/* dirty_catchup_ms=5: a stop is not made up at all beyond 5 ms, the way
 * a CPU-bound workload loses the time its vCPU was throttled. */
static void test_catchup_capped(void **state)
{
	svc_tick_fn tick;

	fake_set_option("dirty", "1000");
	fake_set_option("dirty_catchup_ms", "5");
	assert_int_equal(guest_common_start(), 0);
	tick = fake_ticker(0);
	assert_int_equal(tick(0), 5 * MS);
	tick(5 * MS);
	assert_int_equal(dirtier_pages_written(), 5);
	tick(100 * MS); /* 95 ms stopped: only 5 ms of it count */
	assert_int_equal(dirtier_pages_written(), 10);
	assert_int_equal(dirtier_configure(8, 5), -EINVAL); /* running */
	dirtier_stop();
	assert_int_equal(dirtier_configure(0, 5), -EINVAL);
	assert_int_equal(dirtier_configure(12, 5), -EINVAL);
	assert_int_equal(dirtier_configure(4104, 5), -EINVAL);
	assert_int_equal(dirtier_configure(8, 0), -EINVAL);
	assert_int_equal(dirtier_configure(8, 1001), -EINVAL);
	assert_int_equal(dirtier_configure(8, 1), 0);
	/* 10 pages/s would tick every 100 ms: ticks follow the catch-up. */
	assert_int_equal(dirtier_start(10, 1), 0);
	assert_int_equal(fake_ticker(0)(0), 1 * MS);
}

/* A rate the guest cannot keep up with: each tick stops after its time
 * budget and is due again at once; the pages still owed are written by the
 * following ticks, and no more than one catch-up's worth is ever owed. */
static void test_tick_budget_keeps_the_loop_turning(void **state)
{
	svc_tick_fn tick;
	uint64_t next, before;

	assert_int_equal(dirtier_start(1000000, 64), 0);
	tick = fake_ticker(0);
	tick(0);
	/* Every look at the clock costs 1 ms of "writing": the budget (2 ms)
	 * runs out after a couple of checks, long before 10k pages. */
	fake_set_now_ns(10 * MS);
	fake_set_now_step_ns(1 * MS);
	next = tick(10 * MS);
	assert_int_equal(next, 10 * MS); /* behind: due again now */
	assert_true(dirtier_pages_written() < 10000);
	assert_true(dirtier_pages_written() >= DIRTIER_BUDGET_CHECK);
	/* Without the slowness the debt is paid off on the next tick. */
	fake_set_now_step_ns(0);
	fake_set_now_ns(10 * MS);
	before = dirtier_pages_written();
	next = tick(10 * MS);
	assert_int_equal(dirtier_pages_written(), 10000);
	assert_true(before < 10000);
	assert_int_equal(next, 10 * MS + 5 * MS);
	/* A long stall owes at most one catch-up (1 s = 1e6 pages). */
	fake_set_now_ns(5 * SEC);
	fake_set_now_step_ns(1 * MS);
	tick(5 * SEC);
	fake_set_now_step_ns(0);
	fake_set_now_ns(5 * SEC);
	before = dirtier_pages_written();
	tick(5 * SEC);
	assert_true(dirtier_pages_written() - 10000 <= 1000000);
	assert_true(dirtier_pages_written() > before);
}

static void test_start_twice_busy(void **state)
{
	assert_int_equal(dirtier_start(10, 1), 0);
	assert_int_equal(dirtier_start(10, 1), -EBUSY);
	assert_int_equal(dirtier_start(0, 1), -EBUSY);
	dirtier_stop();
	assert_int_equal(dirtier_start(0, 1), -EINVAL);
	assert_int_equal(dirtier_start(DIRTIER_MAX_RATE + 1, 1), -EINVAL);
	assert_int_equal(dirtier_start(1, 0), -EINVAL);
}

static void test_off_by_default(void **state)
{
	assert_int_equal(guest_common_start(), 0);
	assert_null(fake_ticker(0));
	fake_set_option("dirty", "0");
	assert_int_equal(guest_common_start(), 0);
	assert_null(fake_ticker(0));
	assert_int_equal(dirtier_pages_written(), 0);
}

static void test_bad_values_rejected(void **state)
{
	static const struct {
		const char *key, *value;
	} cases[] = {
	    {"dirty", "abc"},
	    {"dirty", "-5"},
	    {"dirty", "1000001"},
	    {"dirty", " 5"},
	    {"dirty", "5k"},
	    {"dirty", ""},
	    {"dirty", "18446744073709551616"},
	    {"dirty_mb", "0"},
	    {"dirty_mb", "4097"},
	    {"dirty_mb", "x"},
	    {"crash", "NULL"},
	    {"dirty_bytes", "4"},
	    {"dirty_bytes", "4097"},
	    {"dirty_bytes", "100"},
	    {"dirty_catchup_ms", "0"},
	    {"dirty_catchup_ms", "1001"},
	    {"crash", "segv"},
	    {"crash", ""},
	    {"crash_after_ms", "soon"},
	    {"crash_after_ms", "1000000001"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_reset();
		/* A valid dirty= beside the bad one: nothing may start. */
		if (strcmp(cases[i].key, "dirty") != 0)
			fake_set_option("dirty", "1000");
		fake_set_option(cases[i].key, cases[i].value);
		if (guest_common_start() != -EINVAL)
			fail_msg("%s=%s accepted", cases[i].key,
				 cases[i].value);
		assert_null(fake_ticker(0));
		assert_null(dirtier_region(&(size_t){ 0 }));
	}
}

static void test_option_parse(void **state)
{
	uint64_t v = 7;

	assert_int_equal(option_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(option_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(option_parse_u64("18446744073709551616", &v), -EINVAL);
	assert_int_equal(option_parse_u64("0x10", &v), -EINVAL);
	assert_int_equal(option_parse_u64(NULL, &v), -EINVAL);
	assert_true(v == UINT64_MAX);
}

static void test_crash_kinds(void **state)
{
	static const char *const names[] = { "null", "ud", "gp", "div" };
	static const enum crash_kind kinds[] = { CRASH_NULL, CRASH_UD,
						 CRASH_GP, CRASH_DIV };
	enum crash_kind k = CRASH_NONE;

	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(crash_parse_kind(names[i], &k), 0);
		assert_int_equal(k, kinds[i]);
		assert_string_equal(crash_kind_name(k), names[i]);
	}
	assert_int_equal(crash_parse_kind("none", &k), -EINVAL);
	assert_int_equal(crash_parse_kind("Div", &k), -EINVAL);
	assert_int_equal(crash_parse_kind(NULL, &k), -EINVAL);
	assert_int_equal(crash_arm(CRASH_NONE, 0), -EINVAL);
}

static void test_crash_armed_waits(void **state)
{
	svc_tick_fn tick;

	fake_set_now_ns(40 * MS);
	fake_set_option("crash", "gp");
	fake_set_option("crash_after_ms", "250");
	assert_int_equal(guest_common_start(), 0);
	assert_int_equal(crash_deadline_ns(), 290 * MS);
	tick = fake_ticker(0);
	assert_non_null(tick);
	/* Before the deadline the ticker only reports the deadline. */
	assert_int_equal(tick(40 * MS), 290 * MS);
	assert_int_equal(tick(290 * MS - 1), 290 * MS);
	assert_int_equal(crash_arm(CRASH_UD, 0), -EBUSY);
	crash_disarm();
	assert_int_equal(tick(300 * MS), UINT64_MAX);
	assert_int_equal(crash_deadline_ns(), UINT64_MAX);
}

/*
 * Let the armed ticker fire in a child process and check the signal the
 * host kernel turned the fault into (#PF and #GP -> SIGSEGV, #UD ->
 * SIGILL, #DE -> SIGFPE). The sanitizer's handlers are replaced by the
 * defaults in the child so the signal itself is what the parent sees.
 */
static int crash_in_child(const char *kind)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGILL, &sa, NULL);
		sigaction(SIGFPE, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		fake_reset();
		fake_set_option("crash", kind);
		if (guest_common_start() != 0)
			_exit(3);
		fake_ticker(0)(0);
		_exit(4); /* did not fault */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("crash=%s: child exited with %d", kind,
			 WEXITSTATUS(status));
	return WTERMSIG(status);
}

static void test_crash_faults(void **state)
{
	assert_int_equal(crash_in_child("null"), SIGSEGV);
	assert_int_equal(crash_in_child("ud"), SIGILL);
	assert_int_equal(crash_in_child("gp"), SIGSEGV);
	assert_int_equal(crash_in_child("div"), SIGFPE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rate_1000_over_one_second,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_exact_with_jitter, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_high_rate_cycles_region, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pause_is_not_a_debt, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_low_rate_ticks_less_often,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_whole_page_fill, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_catchup_capped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_tick_budget_keeps_the_loop_turning, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_twice_busy, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_off_by_default, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_values_rejected, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_option_parse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_kinds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_armed_waits, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_crash_faults, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
