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
			       20, 0},
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
	    {REPL_VERSION + 1, 1, 1, 4096, 20, 0},
	    {REPL_VERSION, 9, 1, 4096, 20, 0},
	    {REPL_VERSION, 1, 1, 4095, 20, 0},
	    {REPL_VERSION, 1, 1, 0, 20, 0},
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
	const enum repl_msg_type ok[] = {REPL_MSG_GOODBYE, REPL_MSG_HANDOVER_READY,
					 REPL_MSG_HANDOVER_GO,
					 REPL_MSG_HANDOVER_ABORT};
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello),
	    cmocka_unit_test(test_digests),
	    cmocka_unit_test(test_handover),
	    cmocka_unit_test(test_signals),
	};

	return cmocka_run_group_tests_name("repl_protocol", tests, NULL, NULL);
}
