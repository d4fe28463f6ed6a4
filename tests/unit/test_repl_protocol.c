/* SPDX-License-Identifier: MIT */
/*
 * The replication protocol's messages (common/repl_protocol.c) through the
 * real framing: what is encoded decodes to the same, and malformed
 * payloads are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "common/repl_protocol.h"
#include "vmm/ckpt_codec.h"

/* Decode the one message in buf (CRC and framing checked). */
static void decode_one(const struct ckpt_buf *buf, struct ckpt_decoder *dec,
		       struct ckpt_msg *msg)
{
	size_t used = 0;

	ckpt_decoder_init(dec);
	assert_int_equal(
	    ckpt_decoder_feed(dec, buf->data, buf->len, &used, msg),
	    CKPT_DECODE_MESSAGE);
	assert_int_equal(used, buf->len);
}

static void test_hello(void **state)
{
	struct repl_hello h = {REPL_VERSION, REPL_MODE_REVERSE, 0x1234, 64 << 20,
			       20, 0, 0},
			  out;
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;

	(void)state;
	ckpt_buf_init(&buf);
	assert_int_equal(repl_encode_hello(&buf, &h), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_hello(&msg, &out), 0);
	assert_int_equal(out.mode, REPL_MODE_REVERSE);
	assert_true(out.session == 0x1234);
	assert_true(out.mem_size == 64 << 20);
	assert_int_equal(out.epoch_ms, 20);
	ckpt_decoder_free(&dec);

	/* Unknown version, mode or a memory size that is not whole pages. */
	struct repl_hello bad[] = {
	    {REPL_VERSION + 1, 1, 1, 4096, 20, 0, 0},
	    {REPL_VERSION, 9, 1, 4096, 20, 0, 0},
	    {REPL_VERSION, 1, 1, 4095, 20, 0, 0},
	    {REPL_VERSION, 1, 1, 0, 20, 0, 0},
	    /* Channel fields belong to migrations only. */
	    {REPL_VERSION, REPL_MODE_REVERSE, 1, 4096, 20, 0, 2},
	    {REPL_VERSION, REPL_MODE_REVERSE, 1, 4096, 20, 1, 0},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ckpt_buf_reset(&buf);
		assert_int_equal(repl_encode_hello(&buf, &bad[i]), 0);
		decode_one(&buf, &dec, &msg);
		assert_int_equal(repl_decode_hello(&msg, &out), -EINVAL);
		ckpt_decoder_free(&dec);
	}
	ckpt_buf_free(&buf);
}

static void test_digests(void **state)
{
	uint64_t d[3] = {1, 0xdeadbeefcafef00dull, 3};
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;
	uint32_t count, flags;

	(void)state;
	ckpt_buf_init(&buf);
	assert_int_equal(repl_encode_digests(&buf, 7, d, 3,
					     REPL_DIGESTS_FULL),
			 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_digests(&msg, &count, &flags), 0);
	assert_int_equal(count, 3);
	assert_int_equal(flags, REPL_DIGESTS_FULL);
	assert_true(msg.header.epoch == 7);
	for (uint32_t i = 0; i < 3; i++)
		assert_true(repl_digest_at(&msg, i) == d[i]);
	/* A count that does not match the payload is refused. */
	msg.header.length -= 8;
	assert_int_equal(repl_decode_digests(&msg, &count, &flags), -EINVAL);
	ckpt_decoder_free(&dec);
	assert_int_equal(repl_encode_digests(&buf, 7, d, REPL_DIGESTS_MAX + 1,
					     0),
			 -EINVAL);
	ckpt_buf_free(&buf);
}

static void test_handover(void **state)
{
	struct repl_handover h = {REPL_HANDOVER_RETURN, "192.168.100.1:7777"},
			     out;
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;
	uint8_t copy[128];

	(void)state;
	ckpt_buf_init(&buf);
	assert_int_equal(repl_encode_handover(&buf, 42, &h), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_handover(&msg, &out), 0);
	assert_int_equal(out.flags, REPL_HANDOVER_RETURN);
	assert_string_equal(out.listen, "192.168.100.1:7777");
	assert_true(msg.header.epoch == 42);

	/* Unterminated address, control characters, unknown flags. */
	memcpy(copy, msg.payload, msg.header.length);
	msg.payload = copy;
	memset(copy + 4, 'a', 64);
	assert_int_equal(repl_decode_handover(&msg, &out), -EINVAL);
	memset(copy + 4, 0, 64);
	copy[4] = '\n';
	assert_int_equal(repl_decode_handover(&msg, &out), -EINVAL);
	copy[4] = 'x';
	copy[0] = 0x80;
	assert_int_equal(repl_decode_handover(&msg, &out), -EINVAL);
	msg.header.length--;
	assert_int_equal(repl_decode_handover(&msg, &out), -EINVAL);
	ckpt_decoder_free(&dec);
	ckpt_buf_free(&buf);
}

static void test_signals(void **state)
{
	const enum repl_msg_type ok[] = {
	    REPL_MSG_GOODBYE, REPL_MSG_HANDOVER_READY, REPL_MSG_HANDOVER_GO,
	    REPL_MSG_HANDOVER_ABORT, REPL_MSG_PROFILE_OK};
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;

	(void)state;
	ckpt_buf_init(&buf);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ckpt_buf_reset(&buf);
		assert_int_equal(repl_encode_signal(&buf, ok[i], 9), 0);
		decode_one(&buf, &dec, &msg);
		assert_int_equal(msg.header.type, ok[i]);
		assert_true(msg.header.epoch == 9);
		assert_int_equal(msg.header.length, 0);
		ckpt_decoder_free(&dec);
	}
	/* Not a payload-less signal. */
	assert_int_equal(repl_encode_signal(&buf, REPL_MSG_HELLO, 1), -EINVAL);
	assert_int_equal(repl_encode_signal(&buf, REPL_MSG_HANDOVER, 1),
			 -EINVAL);
	ckpt_buf_free(&buf);
}

/* Migration: HELLO mode migrate (never a --mode), HANDOVER's MIGRATE
 * flag. */
static void test_migration_hello_and_handover(void **state)
{
	struct repl_hello h = {REPL_VERSION,
			       REPL_MODE_MIGRATE,
			       7,
			       64 << 20,
			       0,
			       0,
			       0},
			  out;
	struct repl_handover ho = {REPL_HANDOVER_MIGRATE, ""}, hout;
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;
	enum repl_mode mode;

	(void)state;
	ckpt_buf_init(&buf);
	assert_int_equal(repl_encode_hello(&buf, &h), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_hello(&msg, &out), 0);
	assert_int_equal(out.mode, REPL_MODE_MIGRATE);
	assert_string_equal(repl_mode_name(REPL_MODE_MIGRATE), "migrate");
	assert_int_equal(repl_mode_parse("migrate", &mode), -EINVAL);
	/* A single-link source says no channel count: read as 1. */
	assert_int_equal(out.channel, 0);
	assert_int_equal(out.channels, 1);
	ckpt_decoder_free(&dec);

	/* Channels: the number and count come back; a number not below the
	 * count, or more than REPL_MAX_CHANNELS, is refused. */
	{
		static const struct {
			uint16_t channel, channels;
			int ret;
		} cases[] = {
		    {3, 4, 0},
		    {7, REPL_MAX_CHANNELS, 0},
		    {4, 4, -EINVAL},
		    {1, 0, -EINVAL},
		    {0, REPL_MAX_CHANNELS + 1, -EINVAL},
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			h.channel = cases[i].channel;
			h.channels = cases[i].channels;
			ckpt_buf_reset(&buf);
			assert_int_equal(repl_encode_hello(&buf, &h), 0);
			decode_one(&buf, &dec, &msg);
			assert_int_equal(repl_decode_hello(&msg, &out),
					 cases[i].ret);
			if (!cases[i].ret) {
				assert_int_equal(out.channel, cases[i].channel);
				assert_int_equal(out.channels,
						 cases[i].channels);
			}
			ckpt_decoder_free(&dec);
		}
		h.channel = h.channels = 0;
	}
	h.mode = REPL_MODE_MIGRATE + 1;
	ckpt_buf_reset(&buf);
	assert_int_equal(repl_encode_hello(&buf, &h), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_hello(&msg, &out), -EINVAL);
	ckpt_decoder_free(&dec);

	ckpt_buf_reset(&buf);
	assert_int_equal(repl_encode_handover(&buf, 5, &ho), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_handover(&msg, &hout), 0);
	assert_int_equal(hout.flags, REPL_HANDOVER_MIGRATE);
	assert_string_equal(hout.listen, "");
	ckpt_decoder_free(&dec);
	ckpt_buf_free(&buf);
}

static void test_cancel(void **state)
{
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;
	struct repl_cancel c;
	char long_reason[400];
	uint8_t copy[300];

	(void)state;
	ckpt_buf_init(&buf);
	assert_int_equal(repl_encode_cancel(&buf, EBUSY, "busy: try later"), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(msg.header.type, REPL_MSG_CANCEL);
	assert_int_equal(repl_decode_cancel(&msg, &c), 0);
	assert_int_equal(c.code, EBUSY);
	assert_string_equal(c.reason, "busy: try later");

	/* Control characters never reach the wire; a decoder refuses them. */
	memcpy(copy, msg.payload, msg.header.length);
	msg.payload = copy;
	copy[6] = '\n';
	assert_int_equal(repl_decode_cancel(&msg, &c), -EINVAL);
	copy[6] = 's';
	memset(copy, 0, 4); /* code 0 */
	assert_int_equal(repl_decode_cancel(&msg, &c), -EINVAL);
	msg.header.length = 3;
	assert_int_equal(repl_decode_cancel(&msg, &c), -EINVAL);
	ckpt_decoder_free(&dec);

	ckpt_buf_reset(&buf);
	assert_int_equal(repl_encode_cancel(&buf, EPROTO, "bad\tbyte"), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_cancel(&msg, &c), 0);
	assert_string_equal(c.reason, "bad?byte");
	ckpt_decoder_free(&dec);

	/* A long reason is cut to the maximum; an empty one is fine. */
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	ckpt_buf_reset(&buf);
	assert_int_equal(repl_encode_cancel(&buf, ECANCELED, long_reason), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_cancel(&msg, &c), 0);
	assert_int_equal(strlen(c.reason), REPL_CANCEL_REASON_MAX);
	ckpt_decoder_free(&dec);
	ckpt_buf_reset(&buf);
	assert_int_equal(repl_encode_cancel(&buf, ECANCELED, ""), 0);
	assert_int_equal(repl_encode_cancel(&buf, 0, "x"), -EINVAL);
	ckpt_buf_free(&buf);
}

static void test_done(void **state)
{
	struct repl_done d = {12345678, 2000000}, out;
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;

	(void)state;
	ckpt_buf_init(&buf);
	assert_int_equal(repl_encode_done(&buf, 3, &d), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_done(&msg, &out), 0);
	assert_true(out.downtime_ns == 12345678 && out.restore_ns == 2000000);
	msg.header.length = 15;
	assert_int_equal(repl_decode_done(&msg, &out), -EINVAL);
	msg.header.type = REPL_MSG_CANCEL;
	msg.header.length = 16;
	assert_int_equal(repl_decode_done(&msg, &out), -EINVAL);
	ckpt_decoder_free(&dec);
	ckpt_buf_free(&buf);
}

struct seen_frames {
	unsigned count;
	size_t bytes;
	uint8_t first;
};

static int count_frame(void *arg, const uint8_t *frame, uint16_t len)
{
	struct seen_frames *s = arg;

	if (!s->count)
		s->first = frame[0];
	s->count++;
	s->bytes += len;
	return 0;
}

static int stop_at_second(void *arg, const uint8_t *frame, uint16_t len)
{
	(void)frame;
	(void)len;
	return ++((struct seen_frames *)arg)->count == 2 ? -EINTR : 0;
}

static void test_frames(void **state)
{
	static uint8_t a[60], b[1514], big[REPL_FRAME_MAX + 1];
	const uint8_t *frames[3] = {a, b, a};
	uint16_t lens[3] = {60, 1514, 42};
	struct seen_frames seen = {0};
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;
	uint8_t copy[2000];

	(void)state;
	a[0] = 0xaa;
	ckpt_buf_init(&buf);
	assert_int_equal(repl_encode_frames(&buf, frames, lens, 3), 0);
	decode_one(&buf, &dec, &msg);
	assert_int_equal(repl_decode_frames(&msg, count_frame, &seen), 0);
	assert_int_equal(seen.count, 3);
	assert_int_equal(seen.bytes, 60 + 1514 + 42);
	assert_int_equal(seen.first, 0xaa);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(repl_decode_frames(&msg, stop_at_second, &seen),
			 -EINTR);

	/* A length past the payload, a zero length, a count too high: the
	 * callback sees nothing. */
	memcpy(copy, msg.payload, msg.header.length);
	msg.payload = copy;
	copy[4] = 0xff;
	copy[5] = 0x7f;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(repl_decode_frames(&msg, count_frame, &seen), -EINVAL);
	assert_int_equal(seen.count, 0);
	copy[4] = copy[5] = 0;
	assert_int_equal(repl_decode_frames(&msg, count_frame, &seen), -EINVAL);
	memcpy(copy, buf.data + 24, msg.header.length); /* intact again */
	copy[0] = 4; /* one frame more than there is */
	assert_int_equal(repl_decode_frames(&msg, count_frame, &seen), -EINVAL);
	assert_int_equal(seen.count, 0);
	ckpt_decoder_free(&dec);

	frames[0] = big;
	lens[0] = 0;
	assert_int_equal(repl_encode_frames(&buf, frames, lens, 1), -EINVAL);
	lens[0] = REPL_FRAME_MAX + 1;
	assert_int_equal(repl_encode_frames(&buf, frames, lens, 1), -EINVAL);
	ckpt_buf_free(&buf);
}

static int count_msg(void *ctx, const struct ckpt_msg *msg)
{
	(*(int *)ctx)++;
	return msg->header.type == REPL_MSG_DONE ? -EINTR : 0;
}

/* ckpt_decoder_feed_all: messages split across feeds, corrupt bytes, a
 * callback that stops. */
static void test_feed_all(void **state)
{
	struct repl_done d = {1, 2};
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	int n = 0;

	(void)state;
	ckpt_buf_init(&buf);
	assert_int_equal(repl_encode_heartbeat(&buf, 1), 0);
	assert_int_equal(repl_encode_ack(&buf, 2), 0);
	assert_int_equal(repl_encode_cancel(&buf, EBUSY, "busy"), 0);
	ckpt_decoder_init(&dec);
	/* Cut in the middle of the second message: it completes later. */
	assert_int_equal(
	    ckpt_decoder_feed_all(&dec, buf.data, 30, count_msg, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ckpt_decoder_feed_all(&dec, buf.data + 30,
					       buf.len - 30, count_msg, &n),
			 0);
	assert_int_equal(n, 3);
	/* The callback's non-zero return stops the feed. */
	ckpt_buf_reset(&buf);
	assert_int_equal(repl_encode_done(&buf, 0, &d), 0);
	assert_int_equal(repl_encode_ack(&buf, 3), 0);
	assert_int_equal(
	    ckpt_decoder_feed_all(&dec, buf.data, buf.len, count_msg, &n),
	    -EINTR);
	assert_int_equal(n, 4);
	/* A flipped byte: -EBADMSG with a reason. */
	ckpt_decoder_reset(&dec);
	buf.data[30] ^= 1;
	assert_int_equal(
	    ckpt_decoder_feed_all(&dec, buf.data, buf.len, count_msg, &n),
	    -EBADMSG);
	assert_true(dec.err[0] != '\0');
	ckpt_decoder_free(&dec);
	ckpt_buf_free(&buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello),
	    cmocka_unit_test(test_digests),
	    cmocka_unit_test(test_handover),
	    cmocka_unit_test(test_signals),
	    cmocka_unit_test(test_migration_hello_and_handover),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_done),
	    cmocka_unit_test(test_frames),
	    cmocka_unit_test(test_feed_all),
	};

	return cmocka_run_group_tests_name("repl_protocol", tests, NULL, NULL);
}
