/* SPDX-License-Identifier: MIT */
/*
 * The replay log: the digest is XXH64, trims remove exactly what the
 * primary delivered plus what the VM moved past, capture gaps are counted,
 * the limits hold and recover, and all of it stays right at volume against
 * a naive model of the same rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backup/replay_log.h"
#include "netstate/frame_digest.h"

/* A frame made from a key: same key, same bytes (a duplicate). */
static size_t make_frame(uint8_t *buf, uint64_t key)
{
	size_t len = 60 + (size_t)(key * 37 % 1455);

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(key * 7 + i * (key | 1));
	memcpy(buf, &key, sizeof(key));
	return len;
}

static uint64_t key_digest(uint64_t key)
{
	uint8_t buf[REPLAY_FRAME_MAX];

	return frame_digest(buf, make_frame(buf, key));
}

static void append_key(struct replay_log *log, uint64_t key)
{
	uint8_t buf[REPLAY_FRAME_MAX];

	assert_int_equal(
	    replay_log_append(log, buf, make_frame(buf, key), NULL), 0);
}

/* Assert the log holds exactly these keys, in order. */
static void expect_keys(const struct replay_log *log, const uint64_t *keys,
			size_t n)
{
	uint8_t buf[REPLAY_FRAME_MAX];
	struct replay_frame f;
	size_t i = 0;

	assert_int_equal(replay_log_frames(log), n);
	for (bool ok = replay_log_first(log, &f); ok;
	     ok = replay_log_next(log, &f), i++) {
		size_t len;

		assert_true(i < n);
		len = make_frame(buf, keys[i]);
		assert_int_equal(f.len, len);
		assert_memory_equal(f.data, buf, len);
		assert_true(f.digest == frame_digest(buf, len));
	}
	assert_int_equal(i, n);
}

static void test_append_trim_in_order(void **state)
{
	static const uint64_t rest[] = {5, 6, 7, 8, 9, 10};
	struct replay_trim_result res;
	struct replay_log log;
	uint64_t d[10];

	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	for (uint64_t k = 1; k <= 10; k++) {
		append_key(&log, k);
		d[k - 1] = key_digest(k);
	}
	assert_int_equal(replay_log_trim(&log, 1, d, 4, &res), 0);
	assert_int_equal(res.matched, 4);
	assert_int_equal(res.skipped, 0);
	assert_int_equal(res.gaps, 0);
	assert_int_equal(res.frames_left, 6);
	assert_int_equal(res.epoch, 1);
	expect_keys(&log, rest, 6);

	/* The digests cover everything: the log empties. */
	assert_int_equal(replay_log_trim(&log, 2, d + 4, 6, &res), 0);
	assert_int_equal(res.matched, 6);
	assert_int_equal(replay_log_frames(&log), 0);
	assert_int_equal(replay_log_bytes(&log), 0);
	expect_keys(&log, NULL, 0);

	/* And it is usable afterwards; sequence numbers carry on. */
	append_key(&log, 11);
	{
		struct replay_frame f;

		assert_true(replay_log_first(&log, &f));
		assert_int_equal(f.seq, 11);
		assert_false(replay_log_next(&log, &f));
	}
	/* An epoch with no frames trims nothing. */
	assert_int_equal(replay_log_trim(&log, 3, NULL, 0, &res), 0);
	assert_int_equal(res.matched + res.skipped + res.gaps, 0);
	assert_int_equal(replay_log_frames(&log), 1);
	assert_int_equal(replay_log_trim(&log, 4, NULL, 1, &res), -EINVAL);
	replay_log_free(&log);
}

static void test_duplicates_match_one_for_one(void **state)
{
	/* A B A C A: three copies of one frame (say ARP requests). */
	static const uint64_t keys[] = {1, 2, 1, 3, 1};
	static const uint64_t left1[] = {3, 1};
	struct replay_trim_result res;
	struct replay_log log;
	uint64_t d[3] = {key_digest(1), key_digest(2), key_digest(1)};

	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	for (size_t i = 0; i < 5; i++)
		append_key(&log, keys[i]);
	assert_int_equal(replay_log_trim(&log, 1, d, 3, &res), 0);
	assert_int_equal(res.matched, 3);
	assert_int_equal(res.skipped, 0);
	expect_keys(&log, left1, 2);

	/* The VM got the last A but never C: C is skipped. */
	assert_int_equal(replay_log_trim(&log, 2, d, 1, &res), 0);
	assert_int_equal(res.matched, 1);
	assert_int_equal(res.skipped, 1);
	assert_int_equal(replay_log_frames(&log), 0);

	/* One copy delivered of two: the older one is the one removed. */
	append_key(&log, 1);
	append_key(&log, 1);
	assert_int_equal(replay_log_trim(&log, 3, d, 1, &res), 0);
	assert_int_equal(res.matched, 1);
	{
		struct replay_frame f;

		assert_true(replay_log_first(&log, &f));
		assert_int_equal(f.seq, 7);
	}
	replay_log_free(&log);
}

struct seen {
	uint64_t digest[8];
	bool delivered[8];
	int n;
};

static void observe(void *arg, const struct replay_frame *f, bool delivered)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
	/* The bytes are still there to look at. */
	assert_true(frame_digest(f->data, f->len) == f->digest);
	s->digest[s->n] = f->digest;
	s->delivered[s->n++] = delivered;
}

/*
 * The observer sees each removed frame before it goes: the delivered ones
 * in the VM's order, then the skipped ones.
 */
static void test_skipped_frames(void **state)
{
	/* A X B Y C; the VM got A and B: X goes, Y and C stay. */
	static const uint64_t keys[] = {1, 100, 2, 101, 3};
	static const uint64_t left[] = {101, 3};
	struct replay_trim_result res;
	struct replay_log log;
	uint64_t d[2] = {key_digest(1), key_digest(2)};
	struct replay_log_stats st;
	struct seen seen = {.n = 0};

	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	for (size_t i = 0; i < 5; i++)
		append_key(&log, keys[i]);
	assert_int_equal(
	    replay_log_trim_cb(&log, 7, d, 2, &res, observe, &seen), 0);
	assert_int_equal(res.matched, 2);
	assert_int_equal(res.skipped, 1);
	assert_int_equal(res.gaps, 0);
	expect_keys(&log, left, 2);
	replay_log_stats(&log, &st);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.trimmed, 2);

	assert_int_equal(seen.n, 3);
	assert_true(seen.digest[0] == key_digest(1) && seen.delivered[0]);
	assert_true(seen.digest[1] == key_digest(2) && seen.delivered[1]);
	assert_true(seen.digest[2] == key_digest(100) && !seen.delivered[2]);
	/* Clearing is not a trim: nothing is reported. */
	replay_log_clear(&log);
	assert_int_equal(seen.n, 3);
	replay_log_free(&log);
}

static void test_capture_gaps(void **state)
{
	static const uint64_t left[] = {3};
	struct replay_trim_result res;
	struct replay_gap gaps[4];
	struct replay_log log;
	uint64_t d[3] = {key_digest(1), key_digest(42), key_digest(2)};

	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	append_key(&log, 1);
	append_key(&log, 2);
	append_key(&log, 3);
	/* 42 was delivered but never captured: a gap; 2 still matches. */
	assert_int_equal(replay_log_trim(&log, 5, d, 3, &res), 0);
	assert_int_equal(res.matched, 2);
	assert_int_equal(res.skipped, 0);
	assert_int_equal(res.gaps, 1);
	assert_int_equal(res.first_gap_index, 1);
	assert_true(res.first_gap_digest == key_digest(42));
	expect_keys(&log, left, 1);

	/* An epoch of nothing but gaps leaves the log alone. */
	assert_int_equal(replay_log_trim(&log, 6, d + 1, 1, &res), 0);
	assert_int_equal(res.gaps, 1);
	expect_keys(&log, left, 1);

	assert_int_equal(replay_log_gaps(&log, gaps, 4), 2);
	assert_int_equal(gaps[0].epoch, 5);
	assert_int_equal(gaps[0].index, 1);
	assert_true(gaps[0].digest == key_digest(42));
	assert_int_equal(gaps[1].epoch, 6);
	assert_int_equal(gaps[1].index, 0);
	/* Only the newest when asked for fewer. */
	assert_int_equal(replay_log_gaps(&log, gaps, 1), 1);
	assert_int_equal(gaps[0].epoch, 6);
	replay_log_free(&log);
}

/*
 * A full checkpoint names frames from before the log began (a new backup,
 * a resync): those are not gaps; the named frames the log has go; the
 * unnamed stay for the replay.
 */
static void test_full_epoch_trim(void **state)
{
	static const uint64_t left[] = {3};
	struct replay_trim_result res;
	struct replay_log log;
	uint64_t d[4] = {key_digest(40), key_digest(41), key_digest(1),
			 key_digest(2)};

	(void)state;
	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	append_key(&log, 1);
	append_key(&log, 2);
	append_key(&log, 3);
	assert_int_equal(replay_log_trim_full_cb(&log, 1, d, 4, &res, NULL,
						 NULL),
			 0);
	assert_int_equal(res.matched, 2);
	assert_int_equal(res.gaps, 0);
	assert_int_equal(res.missed, 0);
	expect_keys(&log, left, 1);
	/* The same list as an ordinary epoch: two gaps (the control). */
	append_key(&log, 1);
	append_key(&log, 2);
	assert_int_equal(replay_log_trim(&log, 2, d, 4, &res), 0);
	assert_int_equal(res.gaps, 2);
	replay_log_free(&log);
}

static void test_limits(void **state)
{
	uint8_t buf[REPLAY_FRAME_MAX] = {0};
	struct replay_log_stats st;
	struct replay_log log;
	uint64_t d;

	assert_int_equal(replay_log_init(&log, REPLAY_LOG_MAX_BYTES + 1, 4),
			 -EINVAL);
	assert_int_equal(
	    replay_log_init(&log, 1 << 20, REPLAY_LOG_MAX_FRAMES + 1), -EINVAL);

	/* Frame limit. */
	assert_int_equal(replay_log_init(&log, 1 << 20, 4), 0);
	assert_int_equal(replay_log_append(&log, buf, 0, NULL), -EINVAL);
	assert_int_equal(
	    replay_log_append(&log, buf, REPLAY_FRAME_MAX + 1, NULL), -EINVAL);
	assert_false(replay_log_would_fit(&log, 0));
	for (uint64_t k = 1; k <= 4; k++)
		append_key(&log, k);
	assert_false(replay_log_would_fit(&log, 60));
	assert_int_equal(replay_log_append(&log, buf, 60, NULL), -ENOSPC);
	assert_int_equal(replay_log_frames(&log), 4);
	d = key_digest(1);
	assert_int_equal(replay_log_trim(&log, 1, &d, 1, NULL), 0);
	assert_true(replay_log_would_fit(&log, 60));
	assert_int_equal(replay_log_append(&log, buf, 60, NULL), 0);
	replay_log_stats(&log, &st);
	assert_int_equal(st.overflows, 1);
	assert_int_equal(st.frames_hwm, 4);
	replay_log_free(&log);

	/* Byte limit: exactly full is allowed, one byte more is not. */
	assert_int_equal(replay_log_init(&log, 3000, 100), 0);
	assert_int_equal(replay_log_append(&log, buf, 1500, NULL), 0);
	buf[0] = 1;
	assert_int_equal(replay_log_append(&log, buf, 1500, NULL), 0);
	assert_false(replay_log_would_fit(&log, 1));
	assert_int_equal(replay_log_append(&log, buf, 1, NULL), -ENOSPC);
	assert_int_equal(replay_log_append(&log, buf, 1, NULL), -ENOSPC);
	buf[0] = 0;
	d = frame_digest(buf, 1500);
	assert_int_equal(replay_log_trim(&log, 1, &d, 1, NULL), 0);
	assert_int_equal(replay_log_append(&log, buf, 1500, NULL), 0);
	replay_log_stats(&log, &st);
	assert_int_equal(st.overflows, 2);
	assert_int_equal(st.bytes, 3000);
	assert_int_equal(st.bytes_hwm, 3000);
	replay_log_free(&log);
}

/* Whatever the sizes, only the configured limits ever refuse a frame. */
static void test_ring_never_the_limit(void **state)
{
	const uint64_t lim_bytes = 64 << 10;
	const uint32_t lim_frames = 200;
	uint8_t buf[REPLAY_FRAME_MAX];
	uint64_t rng = 0x12345678, d[64];
	struct replay_log log;

	assert_int_equal(replay_log_init(&log, lim_bytes, lim_frames), 0);
	for (int it = 0; it < 50000; it++) {
		size_t len;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		len = 1 + rng % REPLAY_FRAME_MAX;
		memset(buf, (int)it, len);
		memcpy(buf, &it, len < sizeof(it) ? len : sizeof(it));
		if (!replay_log_would_fit(&log, len)) {
			struct replay_frame f;
			size_t n = 0;

			assert_true(replay_log_frames(&log) == lim_frames ||
				    replay_log_bytes(&log) + len > lim_bytes);
			assert_int_equal(
			    replay_log_append(&log, buf, len, NULL), -ENOSPC);
			/* Commit a random prefix. */
			for (bool ok = replay_log_first(&log, &f);
			     ok && n < 1 + (rng >> 20) % 64;
			     ok = replay_log_next(&log, &f))
				d[n++] = f.digest;
			assert_int_equal(
			    replay_log_trim(&log, (uint64_t)it, d, n, NULL), 0);
			continue;
		}
		assert_int_equal(replay_log_append(&log, buf, len, NULL), 0);
	}
	replay_log_free(&log);
}

/*
 * replay_log_room is what a capture that forwards in the kernel may let
 * through before the log has the frames: every set of frames within it
 * must be accepted, whatever the log holds (tombstones, a wrapped ring),
 * and it must be tight (no room left: the next frame is refused).
 */
static void test_room_is_exact(void **state)
{
	const uint64_t lim_bytes = 48 << 10;
	const uint32_t lim_frames = 120;
	uint8_t buf[REPLAY_FRAME_MAX];
	uint64_t rng = 0x9e3779b9, d[64], frames, bytes, key = 1;
	struct replay_log log;

	assert_int_equal(replay_log_init(&log, lim_bytes, lim_frames), 0);
	replay_log_room(&log, &frames, &bytes);
	assert_int_equal(frames, lim_frames);
	assert_int_equal(bytes, lim_bytes);
	for (int round = 0; round < 2000; round++) {
		struct replay_frame f;
		size_t n = 0, i = 0;

		/* Fill exactly the room, with random lengths. */
		replay_log_room(&log, &frames, &bytes);
		while (frames && bytes) {
			size_t len;

			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			len = 1 + rng % REPLAY_FRAME_MAX;
			if (len > bytes || (frames == 1 && rng & 1))
				len = bytes < REPLAY_FRAME_MAX
					  ? bytes
					  : REPLAY_FRAME_MAX;
			memset(buf, (int)key, len);
			memcpy(buf, &key,
			       len < sizeof(key) ? len : sizeof(key));
			key++;
			assert_int_equal(
			    replay_log_append(&log, buf, len, NULL), 0);
			frames--;
			bytes -= len;
		}
		/* Tight: whichever limit ran out now refuses. */
		if (!frames)
			assert_false(replay_log_would_fit(&log, 1));
		else
			assert_false(replay_log_would_fit(&log, bytes + 1));
		/* Commit every other frame of a random prefix: tombstones. */
		for (bool ok = replay_log_first(&log, &f);
		     ok && n < 1 + (rng >> 24) % 64;
		     ok = replay_log_next(&log, &f))
			if (i++ % 2 == 0 || (rng >> 40) & 1)
				d[n++] = f.digest;
		replay_log_set_reorder(&log, 64);
		assert_int_equal(
		    replay_log_trim(&log, (uint64_t)round, d, n, NULL), 0);
	}
	replay_log_free(&log);
}

/*
 * replay_log_set_stale: frames lost on the way to the primary (never
 * delivered) leave the log once they are older than the limit, even when
 * no later frame is delivered to move past them; young ones stay.
 */
static void test_stale_frames_go(void **state)
{
	uint8_t buf[REPLAY_FRAME_MAX];
	struct replay_trim_result res;
	struct replay_log_stats st;
	struct replay_log log;
	struct timespec ts;
	uint64_t now, frames, bytes;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	assert_int_equal(replay_log_init(&log, 600, 0), 0);
	/* Full of old frames nobody delivers: 5 x 100 bytes, 2 s old. */
	for (uint64_t k = 1; k <= 5; k++) {
		struct replay_stamp old = {.mono_ns = now - 2000000000ull + k};

		memset(buf, (int)k, 100);
		assert_int_equal(replay_log_append(&log, buf, 100, &old), 0);
	}
	/* And one young frame. */
	memset(buf, 9, 100);
	assert_int_equal(replay_log_append(&log, buf, 100, NULL), 0);
	replay_log_room(&log, &frames, &bytes);
	assert_int_equal(bytes, 0);

	/* Without a stale limit an empty commit changes nothing. */
	assert_int_equal(replay_log_trim(&log, 1, NULL, 0, &res), 0);
	assert_int_equal(replay_log_frames(&log), 6);

	replay_log_set_stale(&log, REPLAY_STALE_NS);
	/* Not while there is room to wait: 5 old frames in a roomy log. */
	{
		struct replay_log roomy;
		struct replay_stamp old = {.mono_ns = now - 2000000000ull};
		uint8_t other[100];

		assert_int_equal(replay_log_init(&roomy, 0, 0), 0);
		replay_log_set_stale(&roomy, REPLAY_STALE_NS);
		for (int k = 0; k < 5; k++) {
			memset(other, k + 1, sizeof(other));
			assert_int_equal(replay_log_append(&roomy, other,
							   sizeof(other), &old),
					 0);
		}
		assert_int_equal(replay_log_trim(&roomy, 1, NULL, 0, &res), 0);
		assert_int_equal(replay_log_frames(&roomy), 5);
		replay_log_free(&roomy);
	}
	assert_int_equal(replay_log_trim(&log, 2, NULL, 0, &res), 0);
	assert_int_equal(res.skipped, 5);
	assert_int_equal(replay_log_frames(&log), 1);
	replay_log_room(&log, &frames, &bytes);
	assert_int_equal(bytes, 500);
	replay_log_stats(&log, &st);
	assert_int_equal(st.skipped, 5);
	/* The young one is still matched by its digest. */
	assert_int_equal(replay_log_trim(&log, 3,
					 (uint64_t[]){frame_digest(buf, 100)},
					 1, &res),
			 0);
	assert_int_equal(res.matched, 1);
	assert_int_equal(replay_log_frames(&log), 0);
	replay_log_free(&log);
}

/*
 * replay_log_set_late_wall: a second capture path that was starved (its
 * newest capture is old) delivers a copy stamped late; counted from the
 * trim's own time, the copy still fills its gap. Without it, missed.
 */
static void test_late_wall(void **state)
{
	struct replay_trim_result res;
	struct replay_log_stats st;
	struct timespec ts;
	uint64_t now, d;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (int wall = 0; wall <= 1; wall++) {
		struct replay_log log;
		uint8_t buf[REPLAY_FRAME_MAX];
		struct replay_stamp old = {.mono_ns = now - 1000000000ull};
		struct replay_stamp late = {.mono_ns = now + 1000000ull};

		assert_int_equal(replay_log_init(&log, 0, 0), 0);
		replay_log_set_reorder(&log, REPLAY_LATE_TRIMS);
		replay_log_set_late_wall(&log, wall);
		/* The mirror path's last copy, a second ago. */
		memset(buf, 1, 80);
		assert_int_equal(replay_log_append(&log, buf, 80, &old), 0);
		/* The primary got frame 2; its copy is stuck on the way. */
		memset(buf, 2, 80);
		d = frame_digest(buf, 80);
		assert_int_equal(replay_log_trim(&log, 1, &d, 1, &res), 0);
		assert_int_equal(res.gaps, 1);
		/* It arrives now, stamped now. */
		assert_int_equal(replay_log_append(&log, buf, 80, &late), 0);
		assert_int_equal(replay_log_trim(&log, 2, NULL, 0, &res), 0);
		replay_log_stats(&log, &st);
		assert_int_equal(st.late, wall ? 1 : 0);
		assert_int_equal(st.missed, wall ? 0 : 1);
		replay_log_free(&log);
	}
}

static void test_iteration_and_stamps(void **state)
{
	uint8_t buf[REPLAY_FRAME_MAX];
	struct replay_frame f;
	struct replay_log log;
	uint64_t seq = 0;

	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	assert_false(replay_log_first(&log, &f));
	for (uint64_t k = 1; k <= 20; k++) {
		struct replay_stamp ts = {
		    .mono_ns = k * 1000, .real_ns = 1700000000000000000ull + k};

		assert_int_equal(
		    replay_log_append(&log, buf, make_frame(buf, k), &ts), 0);
	}
	for (bool ok = replay_log_first(&log, &f); ok;
	     ok = replay_log_next(&log, &f)) {
		uint64_t k = f.seq;

		assert_true(f.seq > seq);
		seq = f.seq;
		assert_int_equal(f.ts.mono_ns, k * 1000);
		assert_true(f.ts.real_ns == 1700000000000000000ull + k);
		assert_int_equal(f.len, make_frame(buf, k));
		assert_memory_equal(f.data, buf, f.len);
	}
	assert_int_equal(seq, 20);
	assert_true(replay_log_get(&log, 7, &f));
	assert_false(replay_log_get(&log, 21, &f));
	assert_false(replay_log_get(&log, 0, &f));

	/* Unstamped frames get the current clocks; so do zero fields. */
	append_key(&log, 99);
	assert_true(replay_log_get(&log, 21, &f));
	assert_true(f.ts.mono_ns > 0 && f.ts.real_ns > 1600000000000000000ull);
	{
		struct replay_stamp ts = {.real_ns = 5};

		assert_int_equal(replay_log_append(&log, buf, 60, &ts), 0);
		assert_true(replay_log_get(&log, 22, &f));
		assert_true(f.ts.real_ns == 5 && f.ts.mono_ns > 0);
	}
	replay_log_free(&log);
}

static void append_key_at(struct replay_log *log, uint64_t key,
			  uint64_t mono_ns)
{
	uint8_t buf[REPLAY_FRAME_MAX];
	struct replay_stamp ts = {.mono_ns = mono_ns, .real_ns = mono_ns};

	assert_int_equal(replay_log_append(log, buf, make_frame(buf, key), &ts),
			 0);
}

#define MS 1000000ull

/*
 * Mirror (a reorder tolerance): a copy that reaches the backup after its
 * epoch committed is matched late and removed as delivered, unless it was
 * captured too long after (an equal frame sent later); one that never
 * comes is missed once the capture has moved past its window (or after
 * REPLAY_LATE_MAX_TRIMS trims without traffic), or at once when settled;
 * a frame passed over goes only after the tolerance.
 */
static void test_late_frames(void **state)
{
	struct replay_trim_result res;
	struct replay_log_stats st;
	struct replay_log log;
	struct seen seen = {.n = 0};
	uint64_t d[4] = {key_digest(1), key_digest(2), key_digest(3),
			 key_digest(4)};
	uint64_t d9 = key_digest(9), d21 = key_digest(21);

	(void)state;
	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	replay_log_set_reorder(&log, REPLAY_LATE_TRIMS);
	append_key_at(&log, 1, 1 * MS);
	append_key_at(&log, 2, 2 * MS);
	assert_int_equal(replay_log_trim(&log, 1, d, 3, &res), 0);
	assert_int_equal(res.matched, 2);
	assert_int_equal(res.gaps, 1);
	replay_log_stats(&log, &st);
	assert_int_equal(st.pending, 1);

	/* 3 arrives late, then 4 of the next epoch. */
	append_key_at(&log, 3, 3 * MS);
	append_key_at(&log, 4, 4 * MS);
	assert_int_equal(
	    replay_log_trim_cb(&log, 2, d + 3, 1, &res, observe, &seen), 0);
	assert_int_equal(res.late, 1);
	assert_int_equal(res.matched, 1);
	assert_int_equal(res.missed, 0);
	assert_int_equal(replay_log_frames(&log), 0);
	assert_int_equal(seen.n, 2);
	assert_true(seen.digest[0] == key_digest(3) && seen.delivered[0]);

	/* An equal frame captured after the window is not the late copy. */
	assert_int_equal(replay_log_trim(&log, 3, &d9, 1, &res), 0);
	append_key_at(&log, 9, 4 * MS + REPLAY_LATE_WINDOW_NS + 1);
	assert_int_equal(replay_log_trim(&log, 4, NULL, 0, &res), 0);
	assert_int_equal(res.late, 0);
	assert_int_equal(res.missed, 1); /* the capture is past the window */
	assert_int_equal(replay_log_frames(&log), 1);

	/* No traffic, no clock: given up after REPLAY_LATE_MAX_TRIMS. */
	d9 = key_digest(77);
	assert_int_equal(replay_log_trim(&log, 5, &d9, 1, &res), 0);
	assert_int_equal(res.gaps, 1);
	for (uint32_t i = 1; i <= REPLAY_LATE_MAX_TRIMS; i++) {
		assert_int_equal(replay_log_trim(&log, 5 + i, NULL, 0, &res),
				 0);
		assert_int_equal(res.missed, i == REPLAY_LATE_MAX_TRIMS);
	}

	/* Passed over: 9 stays for REPLAY_LATE_TRIMS trims, then goes. */
	for (uint32_t i = 1; i <= REPLAY_LATE_TRIMS + 1; i++) {
		append_key_at(&log, 20 + i, 100 * MS + i);
		d21 = key_digest(20 + i);
		assert_int_equal(replay_log_trim(&log, 10 + i, &d21, 1, &res),
				 0);
		assert_int_equal(res.matched, 1);
		assert_int_equal(res.skipped, i == REPLAY_LATE_TRIMS + 1);
	}
	assert_int_equal(replay_log_frames(&log), 0);

	/* Settling: what came is matched, the rest missed at once. */
	assert_int_equal(replay_log_trim(&log, 20, d, 2, &res), 0);
	assert_int_equal(res.gaps, 2);
	append_key_at(&log, 2, 100 * MS + 10);
	replay_log_settle_cb(&log, &res, NULL, NULL);
	assert_int_equal(res.late, 1);
	assert_int_equal(res.missed, 1);
	assert_int_equal(replay_log_frames(&log), 0);

	replay_log_stats(&log, &st);
	assert_int_equal(st.late, 2);
	assert_int_equal(st.missed, 3);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.gaps, 5);
	assert_int_equal(st.trimmed + st.skipped + st.frames, st.appended);
	replay_log_free(&log);
}

/* Inline (no tolerance): a gap is missed at once, nothing waits. */
static void test_gaps_missed_inline(void **state)
{
	struct replay_trim_result res;
	struct replay_log log;
	uint64_t d = key_digest(5);

	(void)state;
	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	assert_int_equal(replay_log_trim(&log, 1, &d, 1, &res), 0);
	assert_int_equal(res.gaps, 1);
	assert_int_equal(res.missed, 1);
	append_key(&log, 5);
	assert_int_equal(replay_log_trim(&log, 2, NULL, 0, &res), 0);
	assert_int_equal(res.late, 0);
	assert_int_equal(replay_log_frames(&log), 1);
	replay_log_free(&log);
}

static void test_clear_stats_marks(void **state)
{
	struct replay_trim_result res;
	struct replay_mark marks[REPLAY_MARKS + 8];
	struct replay_log_stats st;
	struct replay_log log;
	uint64_t d[3] = {key_digest(1), key_digest(2), key_digest(3)};

	assert_int_equal(replay_log_init(&log, 0, 0), 0);
	replay_log_stats(&log, &st);
	assert_false(st.have_epoch);
	append_key(&log, 1);
	append_key(&log, 2);
	append_key(&log, 3);
	replay_log_clear(&log);
	assert_int_equal(replay_log_frames(&log), 0);
	/* The index went with the frames: their digests are gaps now. */
	assert_int_equal(replay_log_trim(&log, 10, d, 3, &res), 0);
	assert_int_equal(res.gaps, 3);
	assert_int_equal(res.missed, 3); /* inline: at once */

	append_key(&log, 1);
	append_key(&log, 2);
	assert_int_equal(replay_log_trim(&log, 11, d, 1, &res), 0);
	append_key(&log, 3);
	replay_log_stats(&log, &st);
	assert_int_equal(st.frames, 2);
	assert_int_equal(st.appended, 6);
	assert_int_equal(st.cleared, 3);
	assert_int_equal(st.trimmed, 1);
	assert_int_equal(st.gaps, 3);
	assert_int_equal(st.missed, 3);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.trims, 2);
	assert_int_equal(st.frames_hwm, 3);
	assert_int_equal(st.last_epoch, 11);
	assert_true(st.have_epoch);
	assert_true(st.appended_bytes > st.bytes);

	assert_int_equal(replay_log_marks(&log, marks, 8), 2);
	assert_int_equal(marks[0].epoch, 10);
	assert_int_equal(marks[0].gaps, 3);
	assert_int_equal(marks[1].epoch, 11);
	assert_int_equal(marks[1].matched, 1);
	assert_int_equal(marks[1].head_seq, 5); /* frame 2 of the second pair */
	assert_int_equal(marks[1].tail_seq, 6); /* frame 3 came after */

	/* Only the newest REPLAY_MARKS are kept, oldest first. */
	for (uint64_t e = 12; e < 12 + 2 * REPLAY_MARKS; e++)
		assert_int_equal(replay_log_trim(&log, e, NULL, 0, NULL), 0);
	assert_int_equal(replay_log_marks(&log, marks, REPLAY_MARKS + 8),
			 REPLAY_MARKS);
	assert_int_equal(marks[0].epoch, 12 + REPLAY_MARKS);
	assert_int_equal(marks[REPLAY_MARKS - 1].epoch, 11 + 2 * REPLAY_MARKS);
	replay_log_free(&log);
}

/*
 * 100k frames through a small log: captures missed (gaps), frames the
 * primary never delivered (skipped), duplicates, commits lagging the
 * captures and (mirror) pairs of frames captured in swapped order, checked
 * against a naive model of the same rules.
 */
struct model {
	uint64_t *keys;
	uint8_t *removed;
	uint32_t *passed;
	size_t head, tail, newest; /* newest: index + 1 of the newest taken */
	uint32_t tolerance;
	uint64_t late[REPLAY_LATE_MAX];	 /* gaps waiting for a late frame */
	uint64_t until[REPLAY_LATE_MAX]; /* ... captured by (index + 1) */
	uint32_t age[REPLAY_LATE_MAX];
	size_t nlate;
};

/* Capture times in the volume test: frame index j at (j + 1) ms. */
#define MODEL_TS(j) (((uint64_t)(j) + 1) * MS)

/* Remove the oldest live frame with key if captured by until_ns. */
static bool model_take(struct model *m, uint64_t key, uint64_t until_ns)
{
	for (size_t j = m->head; j < m->tail; j++) {
		if (m->removed[j] || m->keys[j] != key)
			continue;
		if (MODEL_TS(j) > until_ns)
			return false;
		m->removed[j] = 1;
		if (j + 1 > m->newest)
			m->newest = j + 1;
		return true;
	}
	return false;
}

static void model_trim(struct model *m, const uint64_t *keys, size_t n,
		       uint32_t *matched, uint32_t *skipped, uint32_t *gaps,
		       uint32_t *late, uint32_t *missed)
{
	size_t kept = 0;

	*matched = *skipped = *gaps = *late = *missed = 0;
	m->newest = 0;
	for (size_t i = 0; i < m->nlate; i++) {
		if (model_take(m, m->late[i], m->until[i])) {
			(*late)++;
		} else if ((m->tail && MODEL_TS(m->tail - 1) > m->until[i]) ||
			   ++m->age[i] >= REPLAY_LATE_MAX_TRIMS) {
			(*missed)++;
		} else {
			m->late[kept] = m->late[i];
			m->until[kept] = m->until[i];
			m->age[kept++] = m->age[i];
		}
	}
	m->nlate = kept;
	for (size_t i = 0; i < n; i++) {
		/* Same key, same bytes: keys stand for digests here. */
		if (model_take(m, keys[i], UINT64_MAX)) {
			(*matched)++;
			continue;
		}
		(*gaps)++;
		if (!m->tolerance || m->nlate == REPLAY_LATE_MAX) {
			(*missed)++;
			continue;
		}
		m->late[m->nlate] = keys[i];
		m->until[m->nlate] = (m->tail ? MODEL_TS(m->tail - 1) : 0) +
				     REPLAY_LATE_WINDOW_NS;
		m->age[m->nlate++] = 0;
	}
	for (size_t j = m->head; j < m->newest; j++) {
		if (m->removed[j] || ++m->passed[j] <= m->tolerance)
			continue;
		m->removed[j] = 1;
		(*skipped)++;
	}
	while (m->head < m->tail && m->removed[m->head])
		m->head++;
}

/* The model's live keys, in capture order, into out; returns how many. */
static size_t model_live(const struct model *m, uint64_t *out)
{
	size_t n = 0;

	for (size_t j = m->head; j < m->tail; j++)
		if (!m->removed[j])
			out[n++] = m->keys[j];
	return n;
}

static void volume_against_model(uint32_t tolerance)
{
	const uint64_t total = 100000;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	uint64_t *delivered = calloc(total, sizeof(uint64_t));
	uint64_t *digests = calloc(total, sizeof(uint64_t));
	uint64_t *batch = calloc(total, sizeof(uint64_t));
	uint64_t *live = calloc(total, sizeof(uint64_t));
	static struct model m;
	uint64_t next = 1, cut = 1, epoch = 0, sum_skipped = 0, sum_gaps = 0;
	uint64_t sum_late = 0, sum_missed = 0, held[64], nheld = 0;
	struct replay_log_stats st;
	struct replay_log log;
	/* Per frame: 0 normal, 1 never captured, 2 never delivered. */
	uint8_t *fate = calloc(total + 1, 1);

	memset(&m, 0, sizeof(m));
	m.tolerance = tolerance;
	m.keys = calloc(total, sizeof(uint64_t));
	m.removed = calloc(total, 1);
	m.passed = calloc(total, sizeof(uint32_t));
	assert_non_null(delivered);
	assert_non_null(digests);
	assert_non_null(batch);
	assert_non_null(live);
	assert_non_null(m.keys);
	assert_non_null(m.removed);
	assert_non_null(m.passed);
	assert_non_null(fate);
	assert_int_equal(replay_log_init(&log, 2 << 20, 2048), 0);
	replay_log_set_reorder(&log, tolerance);
	while (cut <= total) {
		uint64_t upto, n = 0, first;
		uint32_t mm, ms, mg, ml, mx;
		struct replay_trim_result res;

		/* Capture up to 300 more frames. */
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		upto = next + rng % 300;
		if (upto > total + 1)
			upto = total + 1;
		first = m.tail;
		/* Mirror: copies held back last round arrive now, late. */
		for (uint64_t j = 0; j < nheld; j++)
			m.keys[m.tail++] = held[j];
		nheld = 0;
		for (; next < upto; next++) {
			/* Every 7th frame is one of 3 recurring frames. */
			uint64_t key = next % 7 ? next : total + 1 + next % 3;

			fate[next] = next % 97 == 0   ? 1
				     : next % 53 == 0 ? 2
						      : 0;
			delivered[next - 1] = key;
			if (fate[next] == 1)
				continue;
			if (tolerance && next % 13 == 0 && nheld < 64) {
				held[nheld++] = key;
				continue;
			}
			m.keys[m.tail++] = key;
		}
		/* Mirror: every 11th pair of captures arrives swapped. */
		for (uint64_t j = first; tolerance && j + 1 < m.tail; j += 11) {
			uint64_t k = m.keys[j];

			m.keys[j] = m.keys[j + 1];
			m.keys[j + 1] = k;
		}
		for (uint64_t j = first; j < m.tail; j++)
			append_key_at(&log, m.keys[j], MODEL_TS(j));
		/* The primary's epoch ends somewhere behind the capture. */
		upto = cut + (next > cut ? (rng >> 32) % (next - cut + 1) : 0);
		if (next > total)
			upto = next;
		for (; cut < upto; cut++)
			if (fate[cut] != 2)
				batch[n++] = delivered[cut - 1];
		for (uint64_t i = 0; i < n; i++)
			digests[i] = key_digest(batch[i]);
		model_trim(&m, batch, n, &mm, &ms, &mg, &ml, &mx);
		assert_int_equal(
		    replay_log_trim(&log, ++epoch, digests, n, &res), 0);
		assert_int_equal(res.matched, mm);
		assert_int_equal(res.skipped, ms);
		assert_int_equal(res.gaps, mg);
		assert_int_equal(res.late, ml);
		assert_int_equal(res.missed, mx);
		sum_skipped += ms;
		sum_gaps += mg;
		sum_late += ml;
		sum_missed += mx;
		if (epoch % 16 == 0 || cut > total)
			expect_keys(&log, live, model_live(&m, live));
		else
			assert_int_equal(replay_log_frames(&log),
					 model_live(&m, live));
		if (next > total && cut > total)
			break;
	}
	replay_log_stats(&log, &st);
	assert_int_equal(st.appended, m.tail);
	assert_int_equal(st.skipped, sum_skipped);
	assert_int_equal(st.gaps, sum_gaps);
	assert_int_equal(st.late, sum_late);
	assert_int_equal(st.missed, sum_missed);
	assert_int_equal(st.gaps, st.late + st.missed + st.pending);
	assert_int_equal(st.trimmed + st.skipped + st.frames, st.appended);
	assert_true(sum_gaps > 0 && sum_skipped > 0);
	/* Recurring frames fill some gaps late; unique ones are missed. */
	if (tolerance)
		assert_true(sum_late > 0 && sum_missed > 0);
	else
		assert_true(sum_late == 0 && sum_missed == sum_gaps);
	assert_int_equal(st.overflows, 0);
	free(live);
	free(m.removed);
	free(m.passed);
	replay_log_free(&log);
	free(delivered);
	free(digests);
	free(batch);
	free(m.keys);
	free(fate);
}

static void test_volume_against_model(void **state)
{
	(void)state;
	volume_against_model(0);
}

/* Mirror: swapped captures are matched, not skipped and missed. */
static void test_volume_reordered(void **state)
{
	(void)state;
	volume_against_model(REPLAY_LATE_TRIMS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_trim_in_order),
	    cmocka_unit_test(test_duplicates_match_one_for_one),
	    cmocka_unit_test(test_skipped_frames),
	    cmocka_unit_test(test_capture_gaps),
	    cmocka_unit_test(test_full_epoch_trim),
	    cmocka_unit_test(test_late_frames),
	    cmocka_unit_test(test_gaps_missed_inline),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_ring_never_the_limit),
	    cmocka_unit_test(test_room_is_exact),
	    cmocka_unit_test(test_stale_frames_go),
	    cmocka_unit_test(test_late_wall),
	    cmocka_unit_test(test_iteration_and_stamps),
	    cmocka_unit_test(test_clear_stats_marks),
	    cmocka_unit_test(test_volume_against_model),
	    cmocka_unit_test(test_volume_reordered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
