// SPDX-License-Identifier: MIT
/*
 * The pre-copy planner (migration/precopy_plan.c): the arithmetic of one
 * round, QEMU's auto-converge trigger and steps, and whole migrations
 * simulated against a guest model (a link of some bandwidth, a guest
 * dirtying D pages/s of a working set, slowed in proportion by the
 * throttle): a converging load stops soon, a load dirtying faster than the
 * link never stops without auto-converge and does with it, and a bandwidth
 * cap turns a converging load into one that does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "migration/precopy_plan.h"

#define MIB	  (1ull << 20)
#define MS	  1000000ull
#define SEC	  1000000000ull
#define WIRE_PAGE (PRECOPY_PAGE_SIZE + 16)

static struct precopy_plan make_plan(bool auto_converge)
{
	struct precopy_params p;
	struct precopy_plan plan;

	precopy_params_default(&p);
	p.auto_converge = auto_converge;
	precopy_plan_init(&plan, &p);
	return plan;
}

static void test_defaults_are_qemus(void **state)
{
	struct precopy_params p;

	(void)state;
	precopy_params_default(&p);
	assert_int_equal(p.max_downtime_ns, 300 * MS);
	assert_false(p.auto_converge);
	assert_int_equal(p.throttle_initial, 20);
	assert_int_equal(p.throttle_increment, 10);
	assert_int_equal(p.throttle_max, 99);
	assert_int_equal(p.trigger_threshold, 50);
	assert_int_equal(p.throttle_period_ns, SEC);
}

static void test_one_round_arithmetic(void **state)
{
	struct precopy_plan plan = make_plan(false);
	struct precopy_decision d;
	/* 10 MiB in 100 ms (100 MiB/s), 2560 pages of 4096 wire bytes. */
	struct precopy_round r = {.bytes_sent = 10 * MIB,
				  .pages_sent = 2560,
				  .duration_ns = 100 * MS,
				  .pages_dirtied = 1000};

	(void)state;
	precopy_plan_set_fixed_cost(&plan, 20 * MS);
	precopy_plan_round(&plan, &r, &d);
	assert_int_equal(d.bandwidth, 100 * MIB);
	assert_int_equal(d.dirty_rate, 10000);
	assert_int_equal(d.remaining_bytes, 1000 * 4096);
	/* 4096000 B / 104857600 B/s = 39.06 ms, + 20 ms fixed. */
	assert_int_equal(d.expected_downtime_ns,
			 4096000ull * SEC / (100 * MIB) + 20 * MS);
	assert_int_equal(d.action, PRECOPY_STOP_AND_COPY);
	assert_int_equal(d.throttle, 0);

	/* The same with a 50 ms limit: another round. */
	plan = make_plan(false);
	plan.params.max_downtime_ns = 50 * MS;
	precopy_plan_set_fixed_cost(&plan, 20 * MS);
	precopy_plan_round(&plan, &r, &d);
	assert_int_equal(d.action, PRECOPY_ITERATE);
}

static void test_small_rounds_keep_the_bandwidth(void **state)
{
	struct precopy_plan plan = make_plan(false);
	struct precopy_decision d;
	struct precopy_round big = {.bytes_sent = 64 * MIB,
				    .pages_sent = 16384,
				    .duration_ns = SEC,
				    .pages_dirtied = 100000};
	/* 10 pages in 5 ms is latency, not 8 MB/s of bandwidth. */
	struct precopy_round tiny = {.bytes_sent = 10 * 4096,
				     .pages_sent = 10,
				     .duration_ns = 5 * MS,
				     .pages_dirtied = 100000};

	(void)state;
	precopy_plan_round(&plan, &big, &d);
	assert_int_equal(d.bandwidth, 64 * MIB);
	assert_int_equal(d.action, PRECOPY_ITERATE);
	precopy_plan_round(&plan, &tiny, &d);
	assert_int_equal(d.bandwidth, 64 * MIB);
}

static void test_unknown_bandwidth_and_nothing_left(void **state)
{
	struct precopy_plan plan = make_plan(false);
	struct precopy_decision d;
	struct precopy_round empty = {.pages_dirtied = 5};
	struct precopy_round done = {
	    .bytes_sent = MIB, .pages_sent = 256, .duration_ns = 10 * MS};

	(void)state;
	/* Nothing measured yet and pages left: no estimate, go on. */
	precopy_plan_round(&plan, &empty, &d);
	assert_int_equal(d.expected_downtime_ns, UINT64_MAX);
	assert_int_equal(d.action, PRECOPY_ITERATE);
	/* Nothing dirtied: the downtime is the fixed cost alone. */
	precopy_plan_set_fixed_cost(&plan, 250 * MS);
	precopy_plan_round(&plan, &done, &d);
	assert_int_equal(d.expected_downtime_ns, 250 * MS);
	assert_int_equal(d.action, PRECOPY_STOP_AND_COPY);
	/* A fixed cost above the limit never allows the stop. */
	precopy_plan_set_fixed_cost(&plan, 301 * MS);
	precopy_plan_round(&plan, &done, &d);
	assert_int_equal(d.action, PRECOPY_ITERATE);
}

/* One round of a second: high = dirtied more than half of what was sent. */
static unsigned period(struct precopy_plan *plan, bool high)
{
	struct precopy_decision d;
	struct precopy_round r = {.bytes_sent = 100 * MIB,
				  .pages_sent = 25600,
				  .duration_ns = SEC,
				  .pages_dirtied = high ? 12801 : 12800};

	precopy_plan_round(plan, &r, &d);
	return d.throttle;
}

static void test_trigger_is_qemus(void **state)
{
	struct precopy_plan plan = make_plan(true);

	(void)state;
	/* Exactly 50 % is not above the threshold. */
	assert_int_equal(period(&plan, false), 0);
	assert_int_equal(period(&plan, true), 0);  /* first high period */
	assert_int_equal(period(&plan, false), 0); /* calm: count kept */
	assert_int_equal(period(&plan, true), 20); /* second: throttle */
	assert_int_equal(period(&plan, true), 20); /* count restarted */
	assert_int_equal(period(&plan, true), 30);
	assert_int_equal(period(&plan, true), 30);
	assert_int_equal(period(&plan, true), 40);
	/* Saturates at throttle_max. */
	for (int i = 0; i < 40; i++)
		period(&plan, true);
	assert_int_equal(plan.throttle, 99);
	/* Without auto-converge nothing is ever throttled. */
	plan = make_plan(false);
	for (int i = 0; i < 10; i++)
		assert_int_equal(period(&plan, true), 0);
}

static void test_trigger_waits_for_a_full_period(void **state)
{
	struct precopy_plan plan = make_plan(true);
	struct precopy_decision d;
	/* 100 ms rounds, all high: a period closes every 10 rounds, the
	 * throttle comes with the second (round 20), not at round 2. */
	struct precopy_round r = {.bytes_sent = 10 * MIB,
				  .pages_sent = 2560,
				  .duration_ns = 100 * MS,
				  .pages_dirtied = 2560};

	(void)state;
	for (int i = 1; i <= 19; i++) {
		precopy_plan_round(&plan, &r, &d);
		assert_int_equal(d.throttle, 0);
	}
	precopy_plan_round(&plan, &r, &d);
	assert_int_equal(d.throttle, 20);
	assert_true(d.throttle_changed);
}

/* ------------------------------------------------------- simulation */

struct guest_model {
	uint64_t link;	      /* bytes/s the link carries */
	uint64_t cap;	      /* --max-bandwidth, 0 = none */
	uint64_t dirty_rate;  /* pages/s at throttle 0 */
	uint64_t working_set; /* distinct pages it dirties */
	uint64_t resident;    /* non-zero pages sent in round 0 */
	uint64_t fixed_cost_ns;
};

struct outcome {
	bool stopped;
	unsigned rounds;
	uint64_t total_ns;
	uint64_t downtime_ns; /* expected, at the stop */
	unsigned max_throttle;
	bool throttle_steps_ok; /* 20, then +10, never above 99 */
};

static struct outcome simulate(const struct guest_model *g, bool auto_converge,
			       uint64_t time_limit_ns)
{
	struct precopy_plan plan = make_plan(auto_converge);
	struct outcome o = {.throttle_steps_ok = true};
	uint64_t bw = g->cap && g->cap < g->link ? g->cap : g->link;
	uint64_t pages = g->resident;
	unsigned last = 0;

	precopy_plan_set_fixed_cost(&plan, g->fixed_cost_ns);
	while (o.total_ns < time_limit_ns) {
		struct precopy_decision d;
		struct precopy_round r = {.pages_sent = pages,
					  .bytes_sent = pages * WIRE_PAGE};
		uint64_t dirtied;

		r.duration_ns = r.bytes_sent * SEC / bw + MS; /* + latency */
		dirtied = g->dirty_rate * (100 - plan.throttle) / 100 *
			  r.duration_ns / SEC;
		r.pages_dirtied =
		    dirtied < g->working_set ? dirtied : g->working_set;
		o.total_ns += r.duration_ns;
		o.rounds++;
		precopy_plan_round(&plan, &r, &d);
		if (d.throttle != last) {
			if (!(last == 0 && d.throttle == 20) &&
			    !(d.throttle == last + 10 ||
			      (d.throttle == 99 && last > 89)))
				o.throttle_steps_ok = false;
			last = d.throttle;
		}
		if (d.throttle > o.max_throttle)
			o.max_throttle = d.throttle;
		if (d.action == PRECOPY_STOP_AND_COPY) {
			o.stopped = true;
			o.downtime_ns = d.expected_downtime_ns;
			break;
		}
		pages = r.pages_dirtied;
	}
	print_message("  dirty %6llu pages/s, bandwidth %4llu MiB/s, auto-"
		      "converge %-3s: %s after %u rounds, %.1f s, expected "
		      "downtime %.0f ms, throttle %u%%\n",
		      (unsigned long long)g->dirty_rate,
		      (unsigned long long)(bw / MIB),
		      auto_converge ? "on" : "off",
		      o.stopped ? "stop-and-copy" : "still iterating", o.rounds,
		      (double)o.total_ns / 1e9, (double)o.downtime_ns / 1e6,
		      o.max_throttle);
	return o;
}

static void test_converging_load_stops_soon(void **state)
{
	/* 64 MiB kv guest, lightly loaded, 100 MiB/s link. */
	struct guest_model g = {.link = 100 * MIB,
				.dirty_rate = 1000,
				.working_set = 4000,
				.resident = 8000,
				.fixed_cost_ns = 20 * MS};
	struct outcome o;

	(void)state;
	o = simulate(&g, false, 60 * SEC);
	assert_true(o.stopped);
	assert_true(o.rounds <= 4);
	assert_true(o.downtime_ns <= 300 * MS);
	assert_int_equal(o.max_throttle, 0);
	/* Auto-converge changes nothing for a load that converges. */
	o = simulate(&g, true, 60 * SEC);
	assert_true(o.stopped);
	assert_int_equal(o.max_throttle, 0);
}

static void test_heavy_load_needs_auto_converge(void **state)
{
	/* Dirties 50k pages/s (~200 MB/s) of a 60k-page working set over a
	 * 100 MiB/s link: each round leaves more than the link can send in
	 * 300 ms. */
	struct guest_model g = {.link = 100 * MIB,
				.dirty_rate = 50000,
				.working_set = 60000,
				.resident = 100000,
				.fixed_cost_ns = 20 * MS};
	struct outcome o;

	(void)state;
	o = simulate(&g, false, 120 * SEC);
	assert_false(o.stopped);
	assert_int_equal(o.max_throttle, 0);
	o = simulate(&g, true, 120 * SEC);
	assert_true(o.stopped);
	assert_true(o.downtime_ns <= 300 * MS);
	assert_true(o.max_throttle >= 20 && o.max_throttle <= 99);
	assert_true(o.throttle_steps_ok);
}

static void test_bandwidth_cap_slows_convergence(void **state)
{
	/* 10k pages/s converges on 100 MiB/s but not under a 16 MiB/s cap
	 * (the guest dirties ~40 MB/s); auto-converge rescues it. */
	struct guest_model g = {.link = 100 * MIB,
				.dirty_rate = 10000,
				.working_set = 30000,
				.resident = 16000,
				.fixed_cost_ns = 20 * MS};
	struct outcome free_link, capped, rescued;

	(void)state;
	free_link = simulate(&g, false, 120 * SEC);
	g.cap = 16 * MIB;
	capped = simulate(&g, false, 120 * SEC);
	rescued = simulate(&g, true, 120 * SEC);
	assert_true(free_link.stopped);
	assert_false(capped.stopped);
	assert_true(rescued.stopped);
	assert_true(rescued.max_throttle > 0);
	/* The first round alone takes at least its bytes over the cap. */
	assert_true(rescued.total_ns >= g.resident * WIRE_PAGE * SEC / g.cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_are_qemus),
	    cmocka_unit_test(test_one_round_arithmetic),
	    cmocka_unit_test(test_small_rounds_keep_the_bandwidth),
	    cmocka_unit_test(test_unknown_bandwidth_and_nothing_left),
	    cmocka_unit_test(test_trigger_is_qemus),
	    cmocka_unit_test(test_trigger_waits_for_a_full_period),
	    cmocka_unit_test(test_converging_load_stops_soon),
	    cmocka_unit_test(test_heavy_load_needs_auto_converge),
	    cmocka_unit_test(test_bandwidth_cap_slows_convergence),
	};

	return cmocka_run_group_tests_name("precopy_plan", tests, NULL, NULL);
}
