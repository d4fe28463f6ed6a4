/* SPDX-License-Identifier: MIT */
/*
 * Per-flow TCP state (netstate/flow.c): serial arithmetic; in-order,
 * out-of-order, retransmitted and overlapping segments, holes and their
 * filling; sequence and acknowledgment numbers across the 2^32 wrap;
 * SYN/FIN/RST; 4-tuple reuse; and the table's limit policy (LRU closing
 * flow evicted, else refused).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "netstate/flow.h"
#include "netstate/frame_build.h"

#define IP(a, b, c, d)                                                         \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 |            \
	 (uint32_t)(d) << 24)
#define CLIENT_IP  IP(10, 77, 0, 1)
#define GUEST_IP   IP(10, 77, 0, 2)
#define GUEST_PORT 6379

static uint8_t data[2048];

/* One frame on flow client_port<->6379, client->guest when to_guest. */
static struct frame_info seg(bool to_guest, uint16_t client_port, uint32_t seq,
			     uint32_t ack, uint8_t flags, uint32_t len)
{
	static uint8_t buf[2][2048];
	static int which;
	struct frame_spec s = {
	    .src_ip = to_guest ? CLIENT_IP : GUEST_IP,
	    .dst_ip = to_guest ? GUEST_IP : CLIENT_IP,
	    .proto = FRAME_IPPROTO_TCP,
	    .sport = to_guest ? client_port : GUEST_PORT,
	    .dport = to_guest ? GUEST_PORT : client_port,
	    .seq = seq,
	    .ack = ack,
	    .flags = flags,
	    .window = 1000,
	    .payload = data,
	    .payload_len = len,
	};
	struct frame_info fi;
	uint8_t *b = buf[which ^= 1];
	int n = frame_build(b, sizeof(buf[0]), &s);

	assert_true(n > 0);
	assert_int_equal(frame_parse(b, (size_t)n, &fi), 0);
	return fi;
}

static enum flow_seg_class obs(struct flow_table *t, struct frame_info fi,
			       struct flow **f)
{
	enum flow_seg_class c;

	assert_int_equal(flow_table_observe(t, &fi, f, NULL, &c), 0);
	return c;
}

#define C(seq, len) seg(true, 40000, (seq), 0, FRAME_TCP_ACK, (len))

static void test_serial(void **state)
{
	(void)state;
	assert_true(seq_lt(0xffffff00u, 0x10));
	assert_true(seq_gt(0x10, 0xffffff00u));
	assert_true(seq_leq(5, 5) && seq_geq(5, 5));
	assert_false(seq_lt(5, 5));
	assert_int_equal(seq_max(0xfffffff0u, 3), 3);
	assert_int_equal(seq_max(3, 0xfffffff0u), 3);
	assert_true(seq_lt(0, 0x7fffffffu));
	assert_false(seq_lt(0, 0x80000001u)); /* more than half: "behind" */
}

static void test_in_order_and_classes(void **state)
{
	struct flow_table t;
	struct flow *f;

	(void)state;
	assert_int_equal(flow_table_init(&t, GUEST_IP, 16, 0, NULL), 0);
	assert_int_equal(obs(&t, C(1000, 100), &f), FLOW_SEG_FIRST);
	assert_int_equal(obs(&t, C(1100, 100), &f), FLOW_SEG_IN_ORDER);
	assert_int_equal(obs(&t, C(1200, 50), &f), FLOW_SEG_IN_ORDER);
	assert_int_equal(f->client.seq_end_max, 1250);
	/* Retransmission, overlap. */
	assert_int_equal(obs(&t, C(1100, 100), &f), FLOW_SEG_RETRANS);
	assert_int_equal(obs(&t, C(1200, 100), &f), FLOW_SEG_OVERLAP);
	assert_int_equal(f->client.seq_end_max, 1300);
	assert_int_equal(f->client.retrans, 2);
	assert_int_equal(f->client.bytes, 450);
	assert_int_equal(f->client.segs, 5);
	/* Pure ACK: no sequence space. */
	assert_int_equal(obs(&t, C(1300, 0), &f), FLOW_SEG_EMPTY);
	assert_int_equal(f->client.seq_end_max, 1300);
	assert_int_equal(f->client.nholes, 0);
	assert_false(f->guest.seq_known);
	flow_table_free(&t);
}

static void test_out_of_order_holes(void **state)
{
	struct flow_table t;
	struct flow *f;

	(void)state;
	assert_int_equal(flow_table_init(&t, GUEST_IP, 16, 0, NULL), 0);
	obs(&t, C(1000, 100), &f);
	/* 1100..1200 missing, then 1300..1400 missing. */
	assert_int_equal(obs(&t, C(1200, 100), &f), FLOW_SEG_AHEAD);
	assert_int_equal(obs(&t, C(1400, 100), &f), FLOW_SEG_AHEAD);
	assert_int_equal(f->client.nholes, 2);
	assert_int_equal(f->client.holes[0].lo, 1100);
	assert_int_equal(f->client.holes[0].hi, 1200);
	assert_int_equal(f->client.holes[1].lo, 1300);
	assert_int_equal(f->client.holes[1].hi, 1400);
	/* Fill the middle of the first hole: split in two. */
	assert_int_equal(obs(&t, C(1140, 20), &f), FLOW_SEG_FILL);
	assert_int_equal(f->client.nholes, 3);
	/* Fill the rest of it with one segment overlapping its edges. */
	assert_int_equal(obs(&t, C(1090, 120), &f), FLOW_SEG_FILL);
	assert_int_equal(f->client.nholes, 1);
	/* A retransmission of bytes already seen is not a fill. */
	assert_int_equal(obs(&t, C(1000, 100), &f), FLOW_SEG_RETRANS);
	/* The last hole, by a segment that also extends the stream. */
	assert_int_equal(obs(&t, C(1300, 300), &f), FLOW_SEG_FILL);
	assert_int_equal(f->client.nholes, 0);
	assert_int_equal(f->client.seq_end_max, 1600);
	assert_int_equal(f->client.fills, 3);
	assert_int_equal(f->client.ahead, 2);
	assert_false(f->client.holes_lost);

	/* More holes than fit: remembered as lost. */
	for (uint32_t i = 0; i < FLOW_MAX_HOLES + 1; i++)
		obs(&t, C(1700 + 200 * i, 100), &f);
	assert_int_equal(f->client.nholes, FLOW_MAX_HOLES);
	assert_true(f->client.holes_lost);

	/* A pure ACK whose seq is ahead reveals bytes never seen. */
	obs(&t, seg(true, 40001, 5000, 0, FRAME_TCP_ACK, 10), &f);
	obs(&t, seg(true, 40001, 5100, 0, FRAME_TCP_ACK, 0), &f);
	assert_int_equal(f->client.nholes, 1);
	assert_int_equal(f->client.holes[0].lo, 5010);
	assert_int_equal(f->client.holes[0].hi, 5100);
	flow_table_free(&t);
}

static void test_wraparound(void **state)
{
	struct flow_table t;
	struct flow *f;
	uint32_t isn = 0xffffff00u, gisn = 0xfffffff0u, s;

	(void)state;
	assert_int_equal(flow_table_init(&t, GUEST_IP, 16, 0, NULL), 0);
	obs(&t, seg(true, 40000, isn, 0, FRAME_TCP_SYN, 0), &f);
	obs(&t,
	    seg(false, 40000, gisn, isn + 1, FRAME_TCP_SYN | FRAME_TCP_ACK, 0),
	    &f);
	assert_true(f->client.syn && f->guest.syn);
	assert_int_equal(f->client.isn, isn);
	assert_int_equal(f->guest.seq_end_max, gisn + 1);
	s = isn + 1;
	/* 10 client segments of 100 bytes cross 2^32; the guest's replies
	 * (and so the client's ACKs) cross it too. */
	for (int i = 0; i < 10; i++) {
		uint32_t g = gisn + 1 + 40 * (uint32_t)i;

		assert_int_equal(
		    obs(&t, seg(true, 40000, s, g, FRAME_TCP_ACK, 100), &f),
		    FLOW_SEG_IN_ORDER); /* SYN set the start */
		s += 100;
		obs(&t, seg(false, 40000, g, s, FRAME_TCP_ACK, 40), &f);
	}
	assert_int_equal(f->client.seq_end_max, isn + 1 + 1000);
	assert_true(f->client.seq_end_max < 0x1000); /* wrapped */
	assert_int_equal(f->guest.seq_end_max, gisn + 1 + 400);
	assert_int_equal(f->client.ack_max, gisn + 1 + 360);
	assert_int_equal(f->client.ack_min, gisn + 1);
	assert_int_equal(f->guest.ack_max, s);
	/* Retransmission of the segment that straddled the wrap. */
	assert_int_equal(
	    obs(&t, seg(true, 40000, isn + 201, 0, FRAME_TCP_ACK, 100), &f),
	    FLOW_SEG_RETRANS);
	/* A hole past the wrap, then filled. */
	assert_int_equal(
	    obs(&t, seg(true, 40000, s + 50, 0, FRAME_TCP_ACK, 10), &f),
	    FLOW_SEG_AHEAD);
	assert_int_equal(f->client.holes[0].lo, s);
	assert_int_equal(obs(&t, seg(true, 40000, s, 0, FRAME_TCP_ACK, 50), &f),
			 FLOW_SEG_FILL);
	assert_int_equal(f->client.nholes, 0);
	/* An older ACK does not lower ack_max. */
	obs(&t, seg(true, 40000, s + 60, gisn + 1 + 10, FRAME_TCP_ACK, 0), &f);
	assert_int_equal(f->client.ack_max, gisn + 1 + 360);
	flow_table_free(&t);
}

static void test_flags_and_acks(void **state)
{
	struct flow_table t;
	struct flow *f;

	(void)state;
	assert_int_equal(flow_table_init(&t, GUEST_IP, 16, 0, NULL), 0);
	obs(&t, seg(true, 40000, 100, 0, FRAME_TCP_SYN, 0), &f);
	assert_int_equal(f->client.seq_end_max, 101);
	assert_false(f->client.ack_known);
	obs(&t, seg(true, 40000, 101, 501, FRAME_TCP_ACK, 0), &f);
	assert_int_equal(f->client.first_ack, 501);
	/* Two identical pure ACKs: one duplicate. */
	obs(&t, seg(true, 40000, 101, 501, FRAME_TCP_ACK, 0), &f);
	assert_int_equal(f->client.dup_acks, 1);
	/* Data with FIN: FIN takes one sequence number. */
	assert_false(flow_is_closing(f));
	obs(&t, seg(true, 40000, 101, 501, FRAME_TCP_ACK | FRAME_TCP_FIN, 9),
	    &f);
	assert_true(f->client.fin);
	assert_int_equal(f->client.fin_seq, 110);
	assert_int_equal(f->client.seq_end_max, 111);
	assert_true(flow_is_closing(f));
	/* RST: flagged, no sequence space, no hole from its seq. */
	assert_int_equal(obs(&t, seg(true, 40001, 7, 0, FRAME_TCP_ACK, 5), &f),
			 FLOW_SEG_FIRST);
	assert_int_equal(
	    obs(&t, seg(true, 40001, 9000, 0, FRAME_TCP_RST, 0), &f),
	    FLOW_SEG_EMPTY);
	assert_true(f->client.rst);
	assert_int_equal(f->client.seq_end_max, 12);
	assert_int_equal(f->client.nholes, 0);
	flow_table_free(&t);
}

static int releases;

static void count_release(void *user)
{
	uint32_t *u = user;

	if (*u)
		releases++;
}

static void test_reincarnation(void **state)
{
	struct flow_table t;
	struct flow *f, *f2;

	(void)state;
	releases = 0;
	assert_int_equal(flow_table_init(&t, GUEST_IP, 16, 4, count_release),
			 0);
	obs(&t, seg(true, 40000, 100, 0, FRAME_TCP_SYN, 0), &f);
	*(uint32_t *)f->user = 1;
	obs(&t, seg(true, 40000, 101, 0, FRAME_TCP_ACK, 50), &f);
	/* SYN retransmission: same ISN, same incarnation. */
	obs(&t, seg(true, 40000, 100, 0, FRAME_TCP_SYN, 0), &f2);
	assert_ptr_equal(f, f2);
	assert_int_equal(f->incarnations, 0);
	assert_int_equal(f->client.seq_end_max, 151);
	/* A new SYN with another ISN reuses the 4-tuple. */
	obs(&t, seg(true, 40000, 90000, 0, FRAME_TCP_SYN, 0), &f2);
	assert_ptr_equal(f, f2);
	assert_int_equal(f->incarnations, 1);
	assert_int_equal(t.reincarnated, 1);
	assert_int_equal(releases, 1);
	assert_int_equal(*(uint32_t *)f->user, 0);
	assert_int_equal(f->client.isn, 90000);
	assert_int_equal(f->client.seq_end_max, 90001);
	assert_int_equal(f->frames, 1);
	/* A SYN-ACK with another ISN only restarts that side. */
	obs(&t, seg(false, 40000, 5, 90001, FRAME_TCP_SYN | FRAME_TCP_ACK, 0),
	    &f);
	obs(&t, seg(false, 40000, 777, 90001, FRAME_TCP_SYN | FRAME_TCP_ACK, 0),
	    &f);
	assert_int_equal(f->guest.isn_changes, 1);
	assert_int_equal(f->guest.seq_end_max, 778);
	assert_int_equal(f->incarnations, 1);
	assert_int_equal(f->client.isn, 90000);
	flow_table_free(&t);
}

static void test_limit_policy(void **state)
{
	struct flow_table t;
	struct flow *f;
	struct frame_info fi;

	(void)state;
	releases = 0;
	assert_int_equal(flow_table_init(&t, GUEST_IP, 4, 4, count_release), 0);
	for (uint16_t p = 1; p <= 4; p++) {
		obs(&t, seg(true, p, 1, 0, FRAME_TCP_ACK, 1), &f);
		*(uint32_t *)f->user = p;
	}
	assert_int_equal(t.count, 4);
	/* Full of live flows: the new one is refused, all are kept. */
	fi = seg(true, 5, 1, 0, FRAME_TCP_ACK, 1);
	assert_int_equal(flow_table_observe(&t, &fi, &f, NULL, NULL), -ENOSPC);
	assert_int_equal(t.refused, 1);
	assert_int_equal(t.count, 4);
	/* Flows 2 and 3 close (FIN, RST); 2 is then used again, so 3 is the
	 * least recently used closing flow and is the one evicted. */
	obs(&t, seg(true, 2, 2, 0, FRAME_TCP_ACK | FRAME_TCP_FIN, 0), &f);
	obs(&t, seg(false, 3, 9, 0, FRAME_TCP_RST, 0), &f);
	obs(&t, seg(true, 2, 3, 0, FRAME_TCP_ACK, 0), &f);
	assert_int_equal(obs(&t, fi, &f), FLOW_SEG_FIRST);
	assert_int_equal(t.evicted, 1);
	assert_int_equal(releases, 1);
	assert_int_equal(*(uint32_t *)f->user, 0); /* fresh user area */
	for (uint16_t p = 1; p <= 5; p++) {
		struct flow_key k = {CLIENT_IP, GUEST_IP, p, GUEST_PORT,
				     FRAME_IPPROTO_TCP};

		if (p == 3)
			assert_null(flow_table_find(&t, &k));
		else
			assert_non_null(flow_table_find(&t, &k));
	}
	/* Then flow 2, the remaining closing one. */
	obs(&t, seg(true, 6, 1, 0, FRAME_TCP_ACK, 1), &f);
	assert_int_equal(t.evicted, 2);
	fi = seg(true, 7, 1, 0, FRAME_TCP_ACK, 1);
	assert_int_equal(flow_table_observe(&t, &fi, NULL, NULL, NULL),
			 -ENOSPC);
	assert_int_equal(t.refused, 2);
	/* Not a guest flow at all. */
	fi = seg(true, 8, 1, 0, FRAME_TCP_ACK, 1);
	t.guest_ip = IP(1, 2, 3, 4);
	assert_int_equal(flow_table_observe(&t, &fi, NULL, NULL, NULL),
			 -ENOENT);
	t.guest_ip = GUEST_IP;
	flow_table_free(&t);
	assert_int_equal(releases, 4); /* 2 evicted + flows 1 and 4 */
	assert_int_equal(flow_table_init(&t, GUEST_IP, 0, 0, NULL), -EINVAL);
	assert_int_equal(
	    flow_table_init(&t, GUEST_IP, FLOW_TABLE_MAX_FLOWS + 1, 0, NULL),
	    -EINVAL);
}

static void count_flow(struct flow *f, void *arg)
{
	(void)f;
	(*(unsigned *)arg)++;
}

static void test_many_flows(void **state)
{
	struct flow_table t;
	struct flow *f;
	unsigned n = 0;

	(void)state;
	assert_int_equal(flow_table_init(&t, GUEST_IP, 3000, 0, NULL), 0);
	for (uint32_t p = 0; p < 3000; p++) {
		obs(&t, seg(true, (uint16_t)(1024 + p), p, 0, FRAME_TCP_ACK, 1),
		    &f);
		assert_int_equal(f->key.client_port, 1024 + p);
	}
	for (uint32_t p = 0; p < 3000; p++) {
		struct flow_key k = {CLIENT_IP, GUEST_IP, (uint16_t)(1024 + p),
				     GUEST_PORT, FRAME_IPPROTO_TCP};

		f = flow_table_find(&t, &k);
		assert_non_null(f);
		assert_int_equal(f->client.seq_end_max, p + 1);
	}
	flow_table_foreach(&t, count_flow, &n);
	assert_int_equal(n, 3000);
	flow_table_free(&t);
}

static void test_ack_span_and_udp(void **state)
{
	struct flow_table t;
	struct flow *f;
	struct frame_spec s = {
	    .src_ip = CLIENT_IP,
	    .dst_ip = GUEST_IP,
	    .proto = FRAME_IPPROTO_UDP,
	    .sport = 5000,
	    .dport = 53,
	};
	uint8_t b[128];
	struct frame_info fi;
	int n;

	(void)state;
	assert_int_equal(flow_table_init(&t, GUEST_IP, 2, 0, NULL), 0);
	obs(&t, seg(true, 40000, 1, 10, FRAME_TCP_ACK, 0), &f);
	for (uint32_t a = 10; a < 0xc0000000u; a += 0x10000000u)
		obs(&t, seg(true, 40000, 1, a, FRAME_TCP_ACK, 0), &f);
	assert_true(f->client.ack_max - f->client.ack_min <= FLOW_ACK_SPAN_MAX);
	assert_true(seq_lt(f->client.ack_min, f->client.ack_max));
	/* UDP: tracked, evictable, never refused for want of a FIN. */
	n = frame_build(b, sizeof(b), &s);
	assert_int_equal(frame_parse(b, (size_t)n, &fi), 0);
	assert_int_equal(obs(&t, fi, &f), FLOW_SEG_EMPTY);
	assert_int_equal(f->client.segs, 1);
	s.sport = 5001;
	n = frame_build(b, sizeof(b), &s);
	assert_int_equal(frame_parse(b, (size_t)n, &fi), 0);
	obs(&t, fi, &f);
	assert_int_equal(t.evicted, 1);
	assert_int_equal(t.refused, 0);
	flow_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_serial),
	    cmocka_unit_test(test_in_order_and_classes),
	    cmocka_unit_test(test_out_of_order_holes),
	    cmocka_unit_test(test_wraparound),
	    cmocka_unit_test(test_flags_and_acks),
	    cmocka_unit_test(test_reincarnation),
	    cmocka_unit_test(test_limit_policy),
	    cmocka_unit_test(test_many_flows),
	    cmocka_unit_test(test_ack_span_and_udp),
	};

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
