// SPDX-License-Identifier: MIT
/* The kv service's RESP2 parser and reply builders, without any transport. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/resp.h"

static struct resp_request req;

static int setup(void **state)
{
	resp_request_init(&req);
	return 0;
}

static int teardown(void **state)
{
	resp_request_free(&req);
	return 0;
}

/* Parse from a private heap copy, so ASan sees any read past its end. */
static int parse_copy(const void *data, size_t len, size_t *consumed)
{
	uint8_t *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, data, len);
	r = resp_parse(&req, copy, len, consumed);
	/* Arguments point into the buffer: keep only their lengths valid. */
	if (r == RESP_DONE)
		for (size_t i = 0; i < req.argc; i++)
			if (req.argv[i].ptr >= copy &&
			    req.argv[i].ptr < copy + len)
				req.argv[i].ptr = (const uint8_t *)data +
						  (req.argv[i].ptr - copy);
	free(copy);
	return r;
}

static void expect_args(size_t argc, ...)
{
	va_list ap;

	assert_int_equal(req.argc, argc);
	va_start(ap, argc);
	for (size_t i = 0; i < argc; i++) {
		const char *want = va_arg(ap, const char *);

		assert_int_equal(req.argv[i].len, strlen(want));
		assert_memory_equal(req.argv[i].ptr, want, strlen(want));
	}
	va_end(ap);
}

/* One complete request that must use exactly all of s[0..len). */
static void parse_n(const char *s, size_t len)
{
	size_t used = 0;

	assert_int_equal(resp_parse(&req, (const uint8_t *)s, len, &used),
			 RESP_DONE);
	assert_int_equal(used, len);
}

static void parse_all(const char *s)
{
	parse_n(s, strlen(s));
}

static void expect_error(const char *s, const char *msg)
{
	size_t used = 0;
	int r = resp_parse(&req, (const uint8_t *)s, strlen(s), &used);

	assert_int_equal(r, -EINVAL);
	assert_non_null(req.error);
	assert_string_equal(req.error, msg);
}

static void test_multibulk_complete(void **state)
{
	static const char bin[] = "*3\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"
				  "$1\r\n\x00\r\n";

	parse_all("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
	expect_args(3, "SET", "key", "value");
	parse_all("*1\r\n$4\r\nPING\r\n");
	expect_args(1, "PING");
	/* Empty and binary arguments, CRLF inside a bulk. */
	parse_n(bin, sizeof(bin) - 1);
	assert_int_equal(req.argc, 3);
	assert_int_equal(req.argv[0].len, 0);
	assert_memory_equal(req.argv[1].ptr, "a\r\nb", 4);
	assert_int_equal(req.argv[2].len, 1);
	assert_int_equal(req.argv[2].ptr[0], 0);
}

static void test_split_every_byte(void **state)
{
	const char *cmds[] = {
		"*3\r\n$3\r\nSET\r\n$10\r\nkey:000001\r\n$3\r\nxyz\r\n",
		"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
		"SET \"a b\" 'c d'\r\n",
		"PING\n",
	};

	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
		const char *s = cmds[c];
		size_t len = strlen(s), used = 0;

		/* Growing prefixes, each in a fresh buffer, as a receiver
		 * that reallocates between segments would pass them. */
		for (size_t k = 0; k < len; k++)
			assert_int_equal(parse_copy(s, k, &used), RESP_AGAIN);
		assert_int_equal(parse_copy(s, len, &used), RESP_DONE);
		assert_int_equal(used, len);
		assert_true(req.argc >= 1);

		/* And a single split at every position, parser restarted. */
		for (size_t k = 0; k <= len; k++) {
			resp_request_free(&req);
			resp_request_init(&req);
			if (k < len)
				assert_int_equal(parse_copy(s, k, &used),
						 RESP_AGAIN);
			assert_int_equal(parse_copy(s, len, &used), RESP_DONE);
			assert_int_equal(used, len);
		}
	}
	expect_args(1, "PING");
}

static void test_pipelined(void **state)
{
	const char *s = "*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\n"
			"k\r\n*0\r\n\r\n*-1\r\nINCR x\r\n*1\r\n$4\r\nPI";
	const uint8_t *p = (const uint8_t *)s;
	size_t len = strlen(s), off = 0, used;
	size_t argcs[] = { 1, 1, 2, 0, 0, 0, 2 };

	for (size_t i = 0; i < sizeof(argcs) / sizeof(argcs[0]); i++) {
		assert_int_equal(resp_parse(&req, p + off, len - off, &used),
				 RESP_DONE);
		assert_int_equal(req.argc, argcs[i]);
		off += used;
	}
	expect_args(2, "INCR", "x");
	assert_int_equal(resp_parse(&req, p + off, len - off, &used),
			 RESP_AGAIN);
	assert_int_equal(len - off, strlen("*1\r\n$4\r\nPI"));
}

static void test_inline(void **state)
{
	parse_all("SET a b\r\n");
	expect_args(3, "SET", "a", "b");
	parse_all("  get\t  key   \n");
	expect_args(2, "get", "key");
	parse_all("ECHO \"a\\x41\\n\\\"q\\\"\" 'it\\'s' \"\"\r\n");
	expect_args(4, "ECHO", "aA\n\"q\"", "it's", "");
	parse_all("ECHO \"\\t\\r\\b\\a\\\\\" x\r\n");
	expect_args(3, "ECHO", "\t\r\b\a\\", "x");
	/* An empty line is a request with nothing to run. */
	parse_all("\r\n");
	assert_int_equal(req.argc, 0);
	parse_all("   \n");
	assert_int_equal(req.argc, 0);
	/* Not '*' means inline, whatever the first byte is. */
	parse_all("$3\r\n");
	expect_args(1, "$3");
}

static void test_inline_errors(void **state)
{
	char *big;
	size_t used;

	expect_error("SET a \"b\r\n",
		     "Protocol error: unbalanced quotes in request");
	expect_error("SET a 'b'c\r\n",
		     "Protocol error: unbalanced quotes in request");
	expect_error("SET a \"b\"c\r\n",
		     "Protocol error: unbalanced quotes in request");
	expect_error("SET a 'b\n",
		     "Protocol error: unbalanced quotes in request");

	/* No newline in 64 KiB: refuse rather than buffer forever. */
	big = malloc(RESP_MAX_INLINE + 2);
	assert_non_null(big);
	memset(big, 'a', RESP_MAX_INLINE + 1);
	big[RESP_MAX_INLINE + 1] = '\0';
	assert_int_equal(resp_parse(&req, (uint8_t *)big, RESP_MAX_INLINE,
				    &used),
			 RESP_AGAIN);
	assert_int_equal(resp_parse(&req, (uint8_t *)big, RESP_MAX_INLINE + 1,
				    &used),
			 -EINVAL);
	assert_string_equal(req.error, "Protocol error: too big inline request");
	free(big);
}

static void test_zero_args(void **state)
{
	parse_all("*0\r\n");
	assert_int_equal(req.argc, 0);
	parse_all("*-1\r\n");
	assert_int_equal(req.argc, 0);
}

static void test_malformed(void **state)
{
	expect_error("*x\r\n", "Protocol error: invalid multibulk length");
	expect_error("*01\r\n", "Protocol error: invalid multibulk length");
	expect_error("*-2\r\n", "Protocol error: invalid multibulk length");
	expect_error("*\r\n", "Protocol error: invalid multibulk length");
	expect_error("*1 \r\n", "Protocol error: invalid multibulk length");
	expect_error("*1048577\r\n", "Protocol error: invalid multibulk length");
	expect_error("*99999999999999999999\r\n",
		     "Protocol error: invalid multibulk length");
	expect_error("*1\rx", "Protocol error: invalid multibulk length");
	expect_error("*111111111111111111111111111111111111",
		     "Protocol error: too big mbulk count string");
	expect_error("*1\r\n+PING\r\n",
		     "Protocol error: expected '$', got '+'");
	expect_error("*1\r\n\x01", "Protocol error: expected '$', got '\\x01'");
	expect_error("*2\r\n$3\r\nGET\r\n:1\r\n",
		     "Protocol error: expected '$', got ':'");
	expect_error("*1\r\n$-1\r\n", "Protocol error: invalid bulk length");
	expect_error("*1\r\n$x\r\n", "Protocol error: invalid bulk length");
	expect_error("*1\r\n$01\r\n", "Protocol error: invalid bulk length");
	expect_error("*1\r\n$\r\n", "Protocol error: invalid bulk length");
	expect_error("*1\r\n$4\r\r", "Protocol error: invalid bulk length");
	expect_error("*1\r\n$4444444444444444444444444444444444",
		     "Protocol error: too big bulk count string");
	expect_error("*1\r\n$4\r\nPINGxx",
		     "Protocol error: expected CRLF after bulk data");
	expect_error("*1\r\n$4\r\nPING\rx",
		     "Protocol error: expected CRLF after bulk data");
	expect_error("*1\r\n$4\r\nPIN\r\n\r\n",
		     "Protocol error: expected CRLF after bulk data");
	/* After an error the parser starts clean for a new stream. */
	parse_all("*1\r\n$4\r\nPING\r\n");
	expect_args(1, "PING");
}

static void test_oversized_lengths(void **state)
{
	size_t used;

	/* Above the protocol's 512 MiB and above our configured default. */
	expect_error("*1\r\n$536870913\r\n", "Protocol error: invalid bulk length");
	expect_error("*1\r\n$67108865\r\n", "Protocol error: invalid bulk length");
	expect_error("*1\r\n$9223372036854775808\r\n",
		     "Protocol error: invalid bulk length");
	/* Exactly the limit is fine, and announces what it needs. */
	assert_int_equal(resp_parse(&req, (const uint8_t *)"*1\r\n$67108864\r\n",
				    15, &used),
			 RESP_AGAIN);
	assert_int_equal(resp_request_need(&req), 15 + 67108864 + 2);
	resp_request_free(&req);
	resp_request_init(&req);

	req.max_bulk = 10;
	expect_error("*1\r\n$11\r\n", "Protocol error: invalid bulk length");
	parse_all("*1\r\n$10\r\n0123456789\r\n");
	req.max_args = 2;
	expect_error("*3\r\n", "Protocol error: invalid multibulk length");
	parse_all("*2\r\n$1\r\na\r\n$1\r\nb\r\n");
	/* A huge count alone must not allocate for a million arguments. */
	req.max_args = RESP_MAX_ARGS;
	assert_int_equal(resp_parse(&req, (const uint8_t *)"*1048576\r\n$1\r\na\r\n",
				    17, &used),
			 RESP_AGAIN);
	assert_true(req.argv_cap <= 16);
	assert_int_equal(resp_request_need(&req), 0);
}

static void test_many_args(void **state)
{
	size_t n = 5000, len = 0, used;
	char *buf = malloc(n * 16 + 32);

	assert_non_null(buf);
	len += sprintf(buf, "*%zu\r\n", n);
	for (size_t i = 0; i < n; i++)
		len += sprintf(buf + len, "$%zu\r\n%zu\r\n",
			       (size_t)snprintf(NULL, 0, "%zu", i), i);
	/* Arriving in pieces, progress is kept rather than rescanned. */
	for (size_t k = 1; k < len; k += 997)
		assert_int_equal(resp_parse(&req, (uint8_t *)buf, k, &used),
				 RESP_AGAIN);
	assert_int_equal(resp_parse(&req, (uint8_t *)buf, len, &used),
			 RESP_DONE);
	assert_int_equal(used, len);
	assert_int_equal(req.argc, n);
	assert_memory_equal(req.argv[4321].ptr, "4321", 4);
	/* The next request gives the big argv back. */
	parse_all("PING\r\n");
	assert_true(req.argv_cap <= 1024);
	free(buf);
}

static void test_parse_ll(void **state)
{
	long long v;

	assert_true(resp_parse_ll((const uint8_t *)"0", 1, &v));
	assert_int_equal(v, 0);
	assert_true(resp_parse_ll((const uint8_t *)"-12", 3, &v));
	assert_int_equal(v, -12);
	assert_true(resp_parse_ll((const uint8_t *)"9223372036854775807", 19, &v));
	assert_true(v == LLONG_MAX);
	assert_true(resp_parse_ll((const uint8_t *)"-9223372036854775808", 20,
				  &v));
	assert_true(v == LLONG_MIN);
	assert_false(resp_parse_ll((const uint8_t *)"9223372036854775808", 19, &v));
	assert_false(resp_parse_ll((const uint8_t *)"-9223372036854775809", 20,
				   &v));
	assert_false(resp_parse_ll((const uint8_t *)"", 0, &v));
	assert_false(resp_parse_ll((const uint8_t *)"-", 1, &v));
	assert_false(resp_parse_ll((const uint8_t *)"-0", 2, &v));
	assert_false(resp_parse_ll((const uint8_t *)"01", 2, &v));
	assert_false(resp_parse_ll((const uint8_t *)"+1", 2, &v));
	assert_false(resp_parse_ll((const uint8_t *)" 1", 2, &v));
	assert_false(resp_parse_ll((const uint8_t *)"1a", 2, &v));
	assert_false(resp_parse_ll((const uint8_t *)"99999999999999999999", 20,
				   &v));
}

static void test_format_ll(void **state)
{
	char buf[24];

	assert_int_equal(resp_format_ll(buf, 0), 1);
	assert_string_equal(buf, "0");
	resp_format_ll(buf, -42);
	assert_string_equal(buf, "-42");
	assert_int_equal(resp_format_ll(buf, LLONG_MIN), 20);
	assert_string_equal(buf, "-9223372036854775808");
	resp_format_ll(buf, LLONG_MAX);
	assert_string_equal(buf, "9223372036854775807");
}

static void expect_out(struct resp_out *out, const char *want)
{
	assert_int_equal(out->err, 0);
	assert_int_equal(out->len, strlen(want));
	assert_memory_equal(out->buf, want, strlen(want));
	out->len = 0;
}

static void test_reply_builders(void **state)
{
	struct resp_out out;

	resp_out_init(&out, NULL, NULL);
	resp_add_simple(&out, "OK");
	expect_out(&out, "+OK\r\n");
	resp_add_error(&out, "ERR bad %s %d", "thing", 7);
	expect_out(&out, "-ERR bad thing 7\r\n");
	resp_add_error(&out, "ERR a\r\nb\nc");
	expect_out(&out, "-ERR a  b c\r\n");
	resp_add_integer(&out, -9);
	resp_add_integer(&out, LLONG_MIN);
	expect_out(&out, ":-9\r\n:-9223372036854775808\r\n");
	resp_add_bulk(&out, "a\r\nb", 4);
	resp_add_bulk(&out, "", 0);
	resp_add_bulk_str(&out, "xyz");
	expect_out(&out, "$4\r\na\r\nb\r\n$0\r\n\r\n$3\r\nxyz\r\n");
	resp_add_null(&out);
	resp_add_null_array(&out);
	resp_add_array(&out, 0);
	resp_add_array(&out, 12);
	expect_out(&out, "$-1\r\n*-1\r\n*0\r\n*12\r\n");
	resp_add_raw(&out, "raw", 3);
	expect_out(&out, "raw");
	resp_out_free(&out);
}

struct sink {
	uint8_t *data;
	size_t len;
	size_t calls;
	int fail_at; /* fail this call number (1-based), 0 = never */
};

static int sink_flush(void *ctx, const void *data, size_t len)
{
	struct sink *s = ctx;
	uint8_t *p;

	s->calls++;
	if (s->fail_at && (int)s->calls == s->fail_at)
		return -ENOMEM;
	p = realloc(s->data, s->len + len);
	assert_non_null(p);
	s->data = p;
	memcpy(s->data + s->len, data, len);
	s->len += len;
	return 0;
}

static void test_reply_flush(void **state)
{
	struct sink sink = { 0 };
	struct resp_out out;
	size_t big = 1 << 20;
	uint8_t *val = malloc(big);
	size_t hdr = strlen("$1048576\r\n");

	assert_non_null(val);
	for (size_t i = 0; i < big; i++)
		val[i] = (uint8_t)(i * 7);
	resp_out_init(&out, sink_flush, &sink);
	resp_add_simple(&out, "OK");
	assert_int_equal(sink.calls, 0); /* small replies wait for flush */
	resp_add_bulk(&out, val, big);
	/* The big value went straight through, not through the buffer. */
	assert_true(out.cap < big);
	assert_int_equal(resp_out_flush(&out), 0);
	assert_int_equal(sink.len, 5 + hdr + big + 2);
	assert_memory_equal(sink.data, "+OK\r\n$1048576\r\n", 5 + hdr);
	assert_memory_equal(sink.data + 5 + hdr, val, big);
	assert_memory_equal(sink.data + 5 + hdr + big, "\r\n", 2);

	/* Many small replies go out in bounded chunks. */
	sink.len = 0;
	for (int i = 0; i < 100000; i++)
		resp_add_integer(&out, i);
	assert_true(out.cap <= 256 * 1024);
	assert_int_equal(resp_out_flush(&out), 0);
	assert_memory_equal(sink.data, ":0\r\n:1\r\n", 8);
	assert_memory_equal(sink.data + sink.len - 8, ":99999\r\n", 8);
	resp_out_trim(&out);
	resp_out_free(&out);

	/* A failed flush is sticky; nothing after it is sent. */
	free(sink.data);
	memset(&sink, 0, sizeof(sink));
	sink.fail_at = 1;
	resp_out_init(&out, sink_flush, &sink);
	resp_add_simple(&out, "OK");
	assert_int_equal(resp_out_flush(&out), -ENOMEM);
	resp_add_bulk(&out, val, big);
	resp_add_simple(&out, "OK");
	assert_int_equal(resp_out_flush(&out), -ENOMEM);
	assert_int_equal(sink.len, 0);
	assert_int_equal(sink.calls, 1);
	resp_out_free(&out);
	free(sink.data);
	free(val);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_multibulk_complete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_split_every_byte, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inline_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_zero_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_lengths, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_args, setup, teardown),
		cmocka_unit_test(test_parse_ll),
		cmocka_unit_test(test_format_ll),
		cmocka_unit_test(test_reply_builders),
		cmocka_unit_test(test_reply_flush),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
