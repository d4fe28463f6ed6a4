/* SPDX-License-Identifier: MIT */
/*
 * The adaptive failure detector (backup/detector.c): it uses the cap until
 * it has learned, learns a threshold from inter-arrival samples, respects
 * its floor and cap, fires after a gap above the threshold and not on
 * jitter within what it learned, adapts when the load changes (both ways),
 * ignores silence that spans a stall of this host (but never waits past
 * the cap) or an outage of its path, and counts other evidence of life
 * without learning it. Also
 * the heartbeat datagram's build/check (common/heartbeat.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "backup/detector.h"
#include "common/heartbeat.h"

#define MS 1000000ull

static struct detector det;

static void setup(uint64_t floor_ms, uint64_t cap_ms)
{
	struct detector_config cfg = {
	    .floor_ns = floor_ms * MS,
	    .cap_ns = cap_ms * MS,
	    .k_tenths = DETECTOR_DEFAULT_K_TENTHS,
	    .spread_tenths = DETECTOR_DEFAULT_SPREAD_TENTHS,
	};

	detector_init(&det, &cfg);
}

/* A deterministic jitter in [-j, +j] ns. */
static int64_t jitter(unsigned i, int64_t j)
{
	uint32_t x = i * 2654435761u;

	x ^= x >> 15;
	return (int64_t)(x % (uint32_t)(2 * j + 1)) - j;
}

/* n beats every period_ns +- jitter_ns from *t (advanced). */
static void beats(uint64_t *t, unsigned n, uint64_t period_ns,
		  int64_t jitter_ns)
{
	for (unsigned i = 0; i < n; i++) {
		*t += (uint64_t)((int64_t)period_ns + jitter(i, jitter_ns));
		detector_heard(&det, *t);
	}
}

static void test_cap_until_learned(void **state)
{
	uint64_t t = 1000 * MS;

	(void)state;
	setup(1, 500);
	assert_false(detector_expired(&det, t));
	assert_int_equal(detector_deadline_ns(&det), 0); /* never heard */
	beats(&t, DETECTOR_MIN_SAMPLES - 1, 5 * MS, 0);
	assert_false(detector_learned(&det));
	assert_int_equal(detector_threshold_ns(&det), 500 * MS);
	beats(&t, 2, 5 * MS, 0);
	assert_true(detector_learned(&det));
	assert_true(detector_threshold_ns(&det) < 500 * MS);
}

static void test_learns_threshold(void **state)
{
	uint64_t t = 1000 * MS, mean, sigma, thr;

	(void)state;
	setup(1, 500);
	beats(&t, 500, 5 * MS, MS / 2); /* 5 ms +- 0.5 */
	detector_stats(&det, &mean, &sigma);
	assert_in_range(mean, 4900000, 5100000);
	/* uniform +-0.5 ms: sigma ~ 0.29 ms */
	assert_in_range(sigma, 200000, 380000);
	thr = detector_threshold_ns(&det);
	/* max(mean + 8 sigma ~ 7.3, 1.5 x longest ~ 8.25) */
	assert_in_range(thr, 7 * MS, 9 * MS);
}

static void test_floor_and_cap(void **state)
{
	uint64_t t = 1000 * MS;

	(void)state;
	setup(30, 100);
	beats(&t, 200, 5 * MS, MS / 2);
	assert_int_equal(detector_threshold_ns(&det), 30 * MS);
	/* Gaps far beyond the cap: the threshold stays at the cap. */
	beats(&t, 50, 400 * MS, 0);
	assert_int_equal(detector_threshold_ns(&det), 100 * MS);
	/* A floor above the cap is brought down to it. */
	setup(900, 100);
	beats(&t, 50, 5 * MS, 0);
	assert_int_equal(detector_threshold_ns(&det), 100 * MS);
}

static void test_fires_after_gap(void **state)
{
	uint64_t t = 1000 * MS, thr;

	(void)state;
	setup(20, 500);
	beats(&t, 100, 5 * MS, MS / 4);
	thr = detector_threshold_ns(&det);
	assert_int_equal(thr, 20 * MS);
	assert_int_equal(detector_deadline_ns(&det), t + thr);
	assert_false(detector_expired(&det, t + thr));
	assert_true(detector_expired(&det, t + thr + 1));
	/* A beat in time resets the clock. */
	detector_heard(&det, t + thr - MS);
	assert_false(detector_expired(&det, t + thr + 1));
}

static void test_no_fire_on_learned_jitter(void **state)
{
	uint64_t t = 1000 * MS, longest;

	(void)state;
	setup(1, 500);
	/* 5 ms beats, every 50th one late by up to 12 ms (a busy host). */
	for (unsigned i = 0; i < 1000; i++) {
		t += 5 * MS + (i % 50 == 49 ? (uint64_t)(i % 12 + 1) * MS : 0);
		detector_heard(&det, t);
	}
	longest = det.max_gap_ns;
	assert_in_range(longest, 15 * MS, 17 * MS);
	/* A gap as long as the longest learned one is no failure. */
	assert_false(detector_expired(&det, t + longest));
	assert_true(detector_threshold_ns(&det) >= longest);
	/* Far beyond what it learned, it is. */
	assert_true(detector_expired(&det, t + 3 * longest));
}

static void test_adapts_to_load(void **state)
{
	uint64_t t = 1000 * MS, quiet, busy, again;

	(void)state;
	setup(1, 1000);
	beats(&t, DETECTOR_WINDOW, 5 * MS, MS / 10);
	quiet = detector_threshold_ns(&det);
	/* Load: beats every 20 ms +- 10. */
	beats(&t, DETECTOR_WINDOW / 4, 20 * MS, 10 * MS);
	busy = detector_threshold_ns(&det);
	assert_true(busy > 3 * quiet);
	assert_true(busy >= 30 * MS); /* above what it saw */
	/* Quiet again for a whole window: back down. */
	beats(&t, DETECTOR_WINDOW, 5 * MS, MS / 10);
	again = detector_threshold_ns(&det);
	assert_true(again < busy / 3);
	assert_in_range(again, quiet - MS, quiet + MS);
}

static void test_local_stall(void **state)
{
	uint64_t t = 1000 * MS, thr, mean0, mean1, sigma;

	(void)state;
	setup(20, 200);
	beats(&t, 100, 5 * MS, 0);
	thr = detector_threshold_ns(&det);
	detector_stats(&det, &mean0, &sigma);
	/* This host stalled 150 ms: at its end the silence clock restarts. */
	detector_local_stall(&det, t + 150 * MS);
	assert_false(detector_expired(&det, t + 150 * MS + thr));
	assert_true(detector_expired(&det, t + 150 * MS + thr + 1));
	/* The next beat ends a gap that is not learned. */
	detector_heard(&det, t + 151 * MS);
	detector_stats(&det, &mean1, &sigma);
	assert_int_equal(mean1, mean0);
	assert_int_equal(det.max_gap_ns, 5 * MS);
	/* Stalls do not postpone a failure past the cap. */
	t += 151 * MS;
	for (uint64_t s = 10; s <= 300; s += 10)
		detector_local_stall(&det, t + s * MS);
	assert_true(detector_expired(&det, t + 200 * MS + 1));
}

static void test_path_outage_not_learned(void **state)
{
	uint64_t t = 1000 * MS, thr;

	(void)state;
	setup(20, 500);
	beats(&t, 100, 5 * MS, 0);
	thr = detector_threshold_ns(&det);
	/* Silent 3 s while another path heard the sender: not learned. */
	detector_path_outage(&det);
	t += 3000 * MS;
	detector_heard(&det, t);
	assert_int_equal(detector_threshold_ns(&det), thr);
	assert_int_equal(det.max_gap_ns, 5 * MS);
	/* The same gap without the outage mark raises it to the cap. */
	t += 3000 * MS;
	detector_heard(&det, t);
	assert_int_equal(detector_threshold_ns(&det), 500 * MS);
}

static void test_other_evidence(void **state)
{
	uint64_t t = 1000 * MS;

	(void)state;
	setup(20, 500);
	beats(&t, 100, 5 * MS, 0);
	/* Bytes on the link 50 ms later keep it alive 50 ms longer. */
	assert_int_equal(detector_deadline_with(&det, t + 50 * MS),
			 t + 70 * MS);
	assert_int_equal(detector_deadline_with(&det, 0), t + 20 * MS);
	/* Never heard: the other evidence alone, at the cap. */
	detector_reset(&det);
	assert_int_equal(detector_deadline_with(&det, t), t + 500 * MS);
	assert_int_equal(detector_deadline_with(&det, 0), 0);
}

static void test_heartbeat_datagram(void **state)
{
	struct heartbeat_msg m = {.session = 0x1122334455667788ull,
				  .seq = 42,
				  .released_after = 7},
			     out;
	uint8_t buf[HEARTBEAT_MAX_BYTES];
	ssize_t n;

	(void)state;
	n = heartbeat_build(&m, NULL, buf, sizeof(buf));
	assert_int_equal(n, HEARTBEAT_BYTES);
	assert_int_equal(heartbeat_check(buf, (size_t)n, NULL, &out), 0);
	assert_memory_equal(&m, &out, sizeof(m));
	/* Wrong size, magic or version: not a heartbeat. */
	assert_int_equal(heartbeat_check(buf, (size_t)n - 1, NULL, &out),
			 -EBADMSG);
	buf[0] ^= 1;
	assert_int_equal(heartbeat_check(buf, (size_t)n, NULL, &out), -EBADMSG);
	buf[0] ^= 1;
	buf[4] = 9;
	assert_int_equal(heartbeat_check(buf, (size_t)n, NULL, &out), -EBADMSG);
	assert_int_equal(heartbeat_build(&m, NULL, buf, 8), -ENOSPC);
}

/* With the pair's key: tagged; no key, another key, any bit changed, or
 * an untagged beat: refused. */
static void test_heartbeat_authenticated(void **state)
{
	struct heartbeat_msg m = {.session = 9, .seq = 1000, .released_after = 0},
			     out;
	uint8_t key[32], other[32], buf[HEARTBEAT_MAX_BYTES];
	ssize_t n;

	(void)state;
	memset(key, 0x5a, sizeof(key));
	memset(other, 0x5b, sizeof(other));
	n = heartbeat_build(&m, key, buf, sizeof(buf));
	assert_int_equal(n, HEARTBEAT_BYTES + 16);
	assert_int_equal(heartbeat_check(buf, (size_t)n, key, &out), 0);
	assert_true(out.seq == 1000 && out.session == 9);
	assert_int_equal(heartbeat_check(buf, (size_t)n, other, &out), -EBADMSG);
	assert_int_equal(heartbeat_check(buf, (size_t)n, NULL, &out), -EBADMSG);
	for (ssize_t i = 0; i < n; i++) {
		buf[i] ^= 0x01;
		assert_int_equal(heartbeat_check(buf, (size_t)n, key, &out),
				 -EBADMSG);
		buf[i] ^= 0x01;
	}
	/* A forger without the key sends an untagged beat. */
	n = heartbeat_build(&m, NULL, buf, sizeof(buf));
	assert_int_equal(heartbeat_check(buf, (size_t)n, key, &out), -EBADMSG);
	assert_int_equal(heartbeat_build(&m, key, buf, HEARTBEAT_BYTES),
			 -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_heartbeat_authenticated),
	    cmocka_unit_test(test_cap_until_learned),
	    cmocka_unit_test(test_learns_threshold),
	    cmocka_unit_test(test_floor_and_cap),
	    cmocka_unit_test(test_fires_after_gap),
	    cmocka_unit_test(test_no_fire_on_learned_jitter),
	    cmocka_unit_test(test_adapts_to_load),
	    cmocka_unit_test(test_local_stall),
	    cmocka_unit_test(test_path_outage_not_learned),
	    cmocka_unit_test(test_other_evidence),
	    cmocka_unit_test(test_heartbeat_datagram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
