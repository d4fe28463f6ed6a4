// SPDX-License-Identifier: MIT
/*
 * The consistency client's judging logic, without sockets: the INCR
 * sequence checker, the RESP reply parser, the acknowledged-key tracker,
 * the latency histogram and the violation log. If these cannot fail, the
 * last-gasp experiment proves nothing, so most tests here are about
 * catching bad sequences and bad bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/consistency/checker.h"
#include "experiments/consistency/resp_reply.h"

/* ------------------------------------------------------ sequence checker */

static void test_seq_clean_run(void **state)
{
	struct seq_checker s;
	long long want;

	seq_init(&s, 41);
	for (long long v = 42; v < 10042; v++) {
		assert_int_equal(seq_check(&s, v, &want), SEQ_OK);
		assert_int_equal(want, v);
	}
	assert_true(s.have_reply);
	assert_int_equal(s.first, 42);
	assert_int_equal(s.last, 10041);
	assert_int_equal(s.checked, 10000);
	assert_int_equal(s.lost, 0);
	assert_int_equal(s.rewound, 0);
}

static void test_seq_gap(void **state)
{
	struct seq_checker s;
	long long want;

	seq_init(&s, 0);
	assert_int_equal(seq_check(&s, 1, NULL), SEQ_OK);
	assert_int_equal(seq_check(&s, 2, NULL), SEQ_OK);
	assert_int_equal(seq_check(&s, 5, &want), SEQ_GAP);
	assert_int_equal(want, 3);
	assert_int_equal(s.lost, 2);
	/* Resynchronised: one loss is reported once, not on every reply. */
	assert_int_equal(seq_check(&s, 6, NULL), SEQ_OK);
	assert_int_equal(seq_check(&s, 7, NULL), SEQ_OK);
	assert_int_equal(s.lost, 2);
}

static void test_seq_gap_on_first_reply(void **state)
{
	struct seq_checker s;

	/* GET said 100, so INCR must say 101: 150 lost 49 increments. */
	seq_init(&s, 100);
	assert_int_equal(seq_check(&s, 150, NULL), SEQ_GAP);
	assert_int_equal(s.lost, 49);
	assert_int_equal(s.first, 150);
}

static void test_seq_repeat(void **state)
{
	struct seq_checker s;
	long long want;

	seq_init(&s, 0);
	assert_int_equal(seq_check(&s, 1, NULL), SEQ_OK);
	assert_int_equal(seq_check(&s, 2, NULL), SEQ_OK);
	assert_int_equal(seq_check(&s, 2, &want), SEQ_REPEAT);
	assert_int_equal(want, 3);
	assert_int_equal(s.rewound, 1);
	assert_int_equal(seq_check(&s, 3, NULL), SEQ_OK);
}

static void test_seq_repeat_of_base(void **state)
{
	struct seq_checker s;

	/* The counter stood at 7 and INCR answered 7: nothing was counted. */
	seq_init(&s, 7);
	assert_int_equal(seq_check(&s, 7, NULL), SEQ_REPEAT);
}

static void test_seq_decrease(void **state)
{
	struct seq_checker s;
	long long want;

	seq_init(&s, 0);
	for (long long v = 1; v <= 5; v++)
		assert_int_equal(seq_check(&s, v, NULL), SEQ_OK);
	/* The store was rolled back to before the run (SET ctr 0, failover). */
	assert_int_equal(seq_check(&s, 1, &want), SEQ_DECREASE);
	assert_int_equal(want, 6);
	assert_int_equal(s.rewound, 5);
	assert_int_equal(seq_check(&s, 2, NULL), SEQ_OK);
	assert_int_equal(seq_check(&s, -3, NULL), SEQ_DECREASE);
	assert_int_equal(s.rewound, 5 + 6);
	assert_int_equal(s.last, -3);
}

static void test_seq_inflight_slack(void **state)
{
	struct seq_checker s;

	seq_init(&s, 0);
	assert_int_equal(seq_check(&s, 1, NULL), SEQ_OK);
	assert_int_equal(seq_check(&s, 2, NULL), SEQ_OK);
	/* Two INCRs were in flight when the connection reset. */
	seq_allow_inflight(&s, 2);
	assert_int_equal(seq_check(&s, 5, NULL), SEQ_OK);
	/* The slack is spent by that reply. */
	assert_int_equal(seq_check(&s, 7, NULL), SEQ_GAP);
	assert_int_equal(s.lost, 1);

	/* Neither applied is fine too. */
	seq_allow_inflight(&s, 1);
	assert_int_equal(seq_check(&s, 8, NULL), SEQ_OK);

	/* But beyond the slack is a gap, counted from its top. */
	seq_allow_inflight(&s, 1);
	assert_int_equal(seq_check(&s, 12, NULL), SEQ_GAP);
	assert_int_equal(s.lost, 1 + 2);

	/* Slack never excuses going backwards. */
	seq_allow_inflight(&s, 3);
	assert_int_equal(seq_check(&s, 12, NULL), SEQ_REPEAT);
}

static void test_seq_extremes(void **state)
{
	struct seq_checker s;

	seq_init(&s, LLONG_MAX - 1);
	assert_int_equal(seq_check(&s, LLONG_MAX, NULL), SEQ_OK);

	/* No overflow of the slack bound (UBSan would say). */
	seq_init(&s, 0);
	seq_allow_inflight(&s, UINT64_MAX / 2);
	assert_int_equal(seq_check(&s, LLONG_MAX, NULL), SEQ_OK);

	seq_init(&s, -5);
	assert_int_equal(seq_check(&s, -4, NULL), SEQ_OK);
	assert_int_equal(seq_check(&s, LLONG_MIN, NULL), SEQ_DECREASE);
	seq_allow_inflight(&s, UINT64_MAX);
	assert_int_equal(seq_check(&s, LLONG_MAX, NULL), SEQ_OK);
}

/* ------------------------------------------------------------ RESP reply */

/* Parse from an exact-size heap copy, so ASan sees any read past the end. */
static int parse_copy(const char *data, size_t len, struct reply *r,
		      size_t *used)
{
	char *copy = malloc(len ? len : 1);
	int ret;

	assert_non_null(copy);
	memcpy(copy, data, len);
	*used = 0;
	ret = reply_parse(copy, len, r, used);
	free(copy);
	return ret;
}

static int parse_str(const char *s, struct reply *r, size_t *used)
{
	return parse_copy(s, strlen(s), r, used);
}

static void test_reply_scalars(void **state)
{
	struct reply r;
	size_t used;

	assert_int_equal(parse_str(":42\r\n", &r, &used), REPLY_DONE);
	assert_int_equal(r.type, REPLY_INTEGER);
	assert_int_equal(r.integer, 42);
	assert_int_equal(used, 5);
	reply_free(&r);

	assert_int_equal(parse_str(":-9223372036854775808\r\n", &r, &used),
			 REPLY_DONE);
	assert_int_equal(r.integer, LLONG_MIN);
	reply_free(&r);

	assert_int_equal(parse_str("+OK\r\n", &r, &used), REPLY_DONE);
	assert_int_equal(r.type, REPLY_SIMPLE);
	assert_true(reply_is_ok(&r));
	reply_free(&r);

	assert_int_equal(parse_str("-ERR value is not an integer\r\n", &r,
				   &used), REPLY_DONE);
	assert_int_equal(r.type, REPLY_ERROR);
	assert_string_equal(r.str, "ERR value is not an integer");
	assert_false(reply_is_ok(&r));
	reply_free(&r);

	assert_int_equal(parse_str("$5\r\nhello\r\n", &r, &used), REPLY_DONE);
	assert_int_equal(r.type, REPLY_BULK);
	assert_int_equal(r.len, 5);
	assert_string_equal(r.str, "hello");
	assert_int_equal(used, 11);
	reply_free(&r);

	/* A bulk may hold CR, LF and NUL: its length rules, not the bytes. */
	assert_int_equal(parse_copy("$4\r\na\r\0b\r\n", 10, &r, &used),
			 REPLY_DONE);
	assert_int_equal(r.len, 4);
	assert_memory_equal(r.str, "a\r\0b", 4);
	reply_free(&r);

	assert_int_equal(parse_str("$0\r\n\r\n", &r, &used), REPLY_DONE);
	assert_int_equal(r.type, REPLY_BULK);
	assert_int_equal(r.len, 0);
	reply_free(&r);

	assert_int_equal(parse_str("$-1\r\n", &r, &used), REPLY_DONE);
	assert_int_equal(r.type, REPLY_NIL);
	reply_free(&r);
}

static void test_reply_arrays(void **state)
{
	const char *mget = "*4\r\n$2\r\nv1\r\n$-1\r\n:7\r\n*2\r\n+a\r\n$-1\r\n";
	struct reply r;
	size_t used;

	assert_int_equal(parse_str(mget, &r, &used), REPLY_DONE);
	assert_int_equal(used, strlen(mget));
	assert_int_equal(r.type, REPLY_ARRAY);
	assert_int_equal(r.nelem, 4);
	assert_int_equal(r.elem[0].type, REPLY_BULK);
	assert_string_equal(r.elem[0].str, "v1");
	assert_int_equal(r.elem[1].type, REPLY_NIL);
	assert_int_equal(r.elem[2].integer, 7);
	assert_int_equal(r.elem[3].type, REPLY_ARRAY);
	assert_int_equal(r.elem[3].nelem, 2);
	assert_int_equal(r.elem[3].elem[1].type, REPLY_NIL);
	reply_free(&r);

	assert_int_equal(parse_str("*0\r\n", &r, &used), REPLY_DONE);
	assert_int_equal(r.type, REPLY_ARRAY);
	assert_int_equal(r.nelem, 0);
	reply_free(&r);

	assert_int_equal(parse_str("*-1\r\n", &r, &used), REPLY_DONE);
	assert_int_equal(r.type, REPLY_NIL_ARRAY);
	reply_free(&r);
}

/* Every proper prefix is incomplete, the whole is one reply. */
static void check_split(const char *first, const char *rest)
{
	size_t flen = strlen(first);
	char buf[512];
	size_t total, used;
	struct reply r;

	snprintf(buf, sizeof(buf), "%s%s", first, rest);
	total = strlen(buf);
	for (size_t cut = 0; cut < flen; cut++) {
		assert_int_equal(parse_copy(buf, cut, &r, &used), REPLY_AGAIN);
		assert_int_equal(r.type, REPLY_NIL); /* nothing left to free */
	}
	for (size_t cut = flen; cut <= total; cut++) {
		assert_int_equal(parse_copy(buf, cut, &r, &used), REPLY_DONE);
		assert_int_equal(used, flen);
		reply_free(&r);
	}
}

static void test_reply_split(void **state)
{
	check_split(":12345\r\n", ":12346\r\n");
	check_split("+OK\r\n", "+OK\r\n");
	check_split("-ERR wrong\r\n", ":1\r\n");
	check_split("$12\r\nhello\r\nworld\r\n", "$-1\r\n");
	check_split("$-1\r\n", ":3\r\n");
	check_split("*3\r\n$3\r\nabc\r\n$-1\r\n*1\r\n:5\r\n", "+OK\r\n");
}

static void test_reply_pipeline(void **state)
{
	const char *stream = ":1\r\n:2\r\n+OK\r\n$1\r\nx\r\n:3";
	size_t off = 0, len = strlen(stream), used;
	long long ints = 0;
	int replies = 0;
	struct reply r;

	while (parse_copy(stream + off, len - off, &r, &used) == REPLY_DONE) {
		if (r.type == REPLY_INTEGER)
			ints += r.integer;
		replies++;
		off += used;
		reply_free(&r);
	}
	assert_int_equal(replies, 4);
	assert_int_equal(ints, 3);
	assert_string_equal(stream + off, ":3"); /* waits for its CRLF */
}

static void test_reply_malformed(void **state)
{
	static const char *const bad[] = {
		":abc\r\n", ":\r\n", ":-\r\n", ":12x\r\n", ": 1\r\n",
		":99999999999999999999\r\n", ":9223372036854775808\r\n",
		"\r\n", "?what\r\n", "+OK\rX", "$2\r\nabc\r\n", "$3\r\nabc\r\r",
		"$-2\r\n", "$x\r\n", "$99999999\r\n", "*-2\r\n", "*x\r\n",
		"*2\r\n:1\r\n?\r\n", "*2000000\r\n",
	};
	struct reply r;
	size_t used;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse_str(bad[i], &r, &used);

		if (ret != -EPROTO)
			fail_msg("'%s' gave %d, not -EPROTO", bad[i], ret);
		assert_int_equal(r.type, REPLY_NIL);
	}
}

static void test_reply_limits(void **state)
{
	char deep[64] = "";
	char *line;
	struct reply r;
	size_t used;

	/* Nesting past REPLY_MAX_DEPTH is refused, not recursed into. */
	for (int i = 0; i <= REPLY_MAX_DEPTH; i++)
		strcat(deep, "*1\r\n");
	strcat(deep, ":1\r\n");
	assert_int_equal(parse_str(deep, &r, &used), -EPROTO);

	/* A line that never ends is refused once it is too long. */
	line = malloc(REPLY_MAX_LINE + 16);
	assert_non_null(line);
	line[0] = '+';
	memset(line + 1, 'a', REPLY_MAX_LINE + 8);
	assert_int_equal(parse_copy(line, REPLY_MAX_LINE + 9, &r, &used),
			 -EPROTO);
	/* ... but a shorter unfinished one is just incomplete. */
	assert_int_equal(parse_copy(line, 1000, &r, &used), REPLY_AGAIN);
	free(line);
}

static void test_reply_describe(void **state)
{
	char buf[64];
	struct reply r;
	size_t used;

	assert_int_equal(parse_str("$6\r\nab\"c\x01z\r\n", &r, &used),
			 REPLY_DONE);
	reply_describe(&r, buf, sizeof(buf));
	/* Quotes and control bytes are masked: the text goes into JSON. */
	assert_string_equal(buf, "bulk string 'ab.c.z'");
	reply_free(&r);

	assert_int_equal(parse_str(":-7\r\n", &r, &used), REPLY_DONE);
	reply_describe(&r, buf, sizeof(buf));
	assert_string_equal(buf, "integer -7");
	reply_free(&r);

	assert_int_equal(parse_str("$-1\r\n", &r, &used), REPLY_DONE);
	reply_describe(&r, buf, sizeof(buf));
	assert_string_equal(buf, "nil");
}

/*
 * Mutated valid replies, parsed at every length: whatever the result, no
 * crash, no read past the end (ASan), nothing leaked, and a DONE never
 * claims more bytes than it was given.
 */
static void test_reply_mutations(void **state)
{
	const char *seed = "*3\r\n$5\r\nv:a:1\r\n$-1\r\n*2\r\n:17\r\n+OK\r\n";
	size_t len = strlen(seed), used;
	uint64_t rng = 0x12345678;
	char buf[64];
	struct reply r;

	for (int round = 0; round < 3000; round++) {
		memcpy(buf, seed, len);
		for (int k = 0; k < 1 + round % 3; k++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			buf[rng % len] = (char)(rng >> 32);
		}
		for (size_t cut = 0; cut <= len; cut++) {
			int ret = parse_copy(buf, cut, &r, &used);

			assert_true(ret == REPLY_AGAIN || ret == REPLY_DONE ||
				    ret == -EPROTO);
			if (ret == REPLY_DONE)
				assert_true(used <= cut);
			reply_free(&r);
		}
	}
}

/* --------------------------------------------------- acknowledged keys */

static void bulk(struct reply *r, const char *s)
{
	memset(r, 0, sizeof(*r));
	r->type = REPLY_BULK;
	r->str = (char *)s;
	r->len = strlen(s);
}

static void test_keys_track_and_verify(void **state)
{
	struct key_tracker kt;
	struct reply r;
	char buf[96];

	assert_int_equal(keytrack_init(&kt, "abc"), 0);
	for (uint64_t n = 0; n < 10; n++)
		if (n != 3)
			assert_int_equal(keytrack_ack(&kt, n), 0);
	assert_int_equal(keytrack_ack(&kt, 5), 0); /* twice is still one */
	assert_int_equal(kt.nacked, 9);
	assert_int_equal(kt.hi, 10);
	assert_true(keytrack_is_acked(&kt, 2));
	assert_false(keytrack_is_acked(&kt, 3));
	assert_false(keytrack_is_acked(&kt, 10));
	assert_false(keytrack_is_acked(&kt, 1u << 30));
	assert_int_equal(keytrack_next_acked(&kt, 3), 4);
	assert_int_equal(keytrack_next_acked(&kt, 10), UINT64_MAX);

	keytrack_key(&kt, 7, buf, sizeof(buf));
	assert_string_equal(buf, "run:abc:7");
	keytrack_value(&kt, 7, buf, sizeof(buf));
	assert_string_equal(buf, "v:abc:7");

	bulk(&r, "v:abc:7");
	assert_int_equal(keytrack_verify(&kt, 7, &r), KEY_OK);
	/* Another key's value, or another run's, is wrong. */
	bulk(&r, "v:abc:8");
	assert_int_equal(keytrack_verify(&kt, 7, &r), KEY_WRONG);
	bulk(&r, "v:abd:7");
	assert_int_equal(keytrack_verify(&kt, 7, &r), KEY_WRONG);
	bulk(&r, "v:abc:7x");
	assert_int_equal(keytrack_verify(&kt, 7, &r), KEY_WRONG);
	memset(&r, 0, sizeof(r));
	r.type = REPLY_NIL;
	assert_int_equal(keytrack_verify(&kt, 7, &r), KEY_MISSING);
	r.type = REPLY_INTEGER;
	assert_int_equal(keytrack_verify(&kt, 7, &r), KEY_WRONG);
	assert_int_equal(kt.verified, 6);
	assert_int_equal(kt.lost, 5);
	keytrack_free(&kt);

	assert_int_equal(keytrack_init(&kt, ""), -EINVAL);
	/* 40 characters: one too many for the key buffer. */
	assert_int_equal(keytrack_init(&kt, "0123456789012345678901234567890"
					    "123456789"), -EINVAL);
}

static void test_keys_sparse_and_large(void **state)
{
	struct key_tracker kt;
	uint64_t n, count = 0;

	assert_int_equal(keytrack_init(&kt, "big"), 0);
	assert_int_equal(keytrack_ack(&kt, 3000000), 0);
	assert_int_equal(keytrack_ack(&kt, 17), 0);
	assert_int_equal(keytrack_ack(&kt, 4095), 0);
	assert_int_equal(keytrack_ack(&kt, 4096), 0);
	for (n = keytrack_next_acked(&kt, 0); n != UINT64_MAX;
	     n = keytrack_next_acked(&kt, n + 1))
		count++;
	assert_int_equal(count, 4);
	assert_int_equal(keytrack_next_acked(&kt, 18), 4095);
	assert_int_equal(keytrack_next_acked(&kt, 4097), 3000000);
	keytrack_free(&kt);
}

static void test_keys_sample(void **state)
{
	struct key_tracker kt;
	uint64_t out[64], rng = 1;
	size_t got;

	assert_int_equal(keytrack_init(&kt, "s"), 0);
	assert_int_equal(keytrack_sample(&kt, out, 64, &rng), 0);
	for (uint64_t n = 0; n < 1000; n++)
		if (n % 10 != 9) /* some writes were never acknowledged */
			assert_int_equal(keytrack_ack(&kt, n), 0);
	got = keytrack_sample(&kt, out, 64, &rng);
	assert_true(got > 32 && got <= 64);
	/* The newest half first, newest first: the ones a failover loses. */
	assert_int_equal(out[0], 998);
	assert_int_equal(out[1], 997);
	for (size_t i = 0; i < got; i++)
		assert_true(keytrack_is_acked(&kt, out[i]));
	/* The rest reach back into older keys. */
	assert_true(out[got - 1] < out[31]);

	/* Fewer keys than asked for: each at most in the recent part. */
	keytrack_free(&kt);
	assert_int_equal(keytrack_init(&kt, "t"), 0);
	assert_int_equal(keytrack_ack(&kt, 0), 0);
	assert_int_equal(keytrack_ack(&kt, 1), 0);
	assert_int_equal(keytrack_sample(&kt, out, 64, &rng), 2);
	keytrack_free(&kt);
}

/* ---------------------------------------------------- latency histogram */

static void test_latency_percentiles(void **state)
{
	struct lat_hist *h = malloc(sizeof(*h));
	uint64_t p50, p99;

	assert_non_null(h);
	lat_init(h);
	assert_int_equal(lat_percentile(h, 50), 0);

	/* Small values are exact. */
	for (uint64_t v = 1; v <= 50; v++)
		lat_record(h, v);
	assert_int_equal(lat_percentile(h, 50), 25);
	assert_int_equal(lat_percentile(h, 0), 1);
	assert_int_equal(lat_percentile(h, 100), 50);

	/* 1..10000 us uniformly: p50 and p99 within the 1.6% buckets. */
	lat_init(h);
	for (uint64_t us = 1; us <= 10000; us++)
		lat_record(h, us * 1000);
	p50 = lat_percentile(h, 50);
	p99 = lat_percentile(h, 99);
	assert_true(p50 > 5000000 * 0.98 && p50 < 5000000 * 1.02);
	assert_true(p99 > 9900000 * 0.98 && p99 < 9900000 * 1.02);
	assert_int_equal(lat_percentile(h, 100), 10000000);
	assert_int_equal(h->count, 10000);

	/* One outlier among many: the tail shows it, the median does not. */
	lat_init(h);
	for (int i = 0; i < 999; i++)
		lat_record(h, 20000);
	lat_record(h, 3000000000ull);
	assert_true(lat_percentile(h, 50) < 21000);
	assert_true(lat_percentile(h, 99) < 21000);
	assert_true(lat_percentile(h, 99.95) > 3000000000ull * 0.98);
	assert_int_equal(h->max, 3000000000ull);

	/* The largest values fit. */
	lat_record(h, UINT64_MAX);
	assert_int_equal(lat_percentile(h, 100), UINT64_MAX);
	free(h);
}

/* ------------------------------------------------------------ violations */

static void test_violation_log(void **state)
{
	struct violation_log log;

	memset(&log, 0, sizeof(log));
	for (int i = 0; i < 10; i++)
		assert_int_equal(vlog_add(&log, VIOL_GAP, (uint64_t)i, "incr",
					  "gap %d", i),
				 i < VIOL_EXAMPLES_PER_KIND);
	assert_true(vlog_add(&log, VIOL_RESET, 99, "keys", "reset"));
	assert_int_equal(log.count[VIOL_GAP], 10);
	assert_int_equal(log.count[VIOL_RESET], 1);
	assert_int_equal(vlog_total(&log), 11);
	assert_int_equal(log.nex, VIOL_EXAMPLES_PER_KIND + 1);
	assert_string_equal(log.ex[0].detail, "gap 0");
	assert_string_equal(log.ex[VIOL_EXAMPLES_PER_KIND].conn, "keys");
	assert_string_equal(viol_kind_name(VIOL_LOST_WRITE), "lost_write");
	assert_string_equal(viol_kind_name(VIOL_HUNG), "hung");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seq_clean_run),
		cmocka_unit_test(test_seq_gap),
		cmocka_unit_test(test_seq_gap_on_first_reply),
		cmocka_unit_test(test_seq_repeat),
		cmocka_unit_test(test_seq_repeat_of_base),
		cmocka_unit_test(test_seq_decrease),
		cmocka_unit_test(test_seq_inflight_slack),
		cmocka_unit_test(test_seq_extremes),
		cmocka_unit_test(test_reply_scalars),
		cmocka_unit_test(test_reply_arrays),
		cmocka_unit_test(test_reply_split),
		cmocka_unit_test(test_reply_pipeline),
		cmocka_unit_test(test_reply_malformed),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_reply_describe),
		cmocka_unit_test(test_reply_mutations),
		cmocka_unit_test(test_keys_track_and_verify),
		cmocka_unit_test(test_keys_sparse_and_large),
		cmocka_unit_test(test_keys_sample),
		cmocka_unit_test(test_latency_percentiles),
		cmocka_unit_test(test_violation_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
