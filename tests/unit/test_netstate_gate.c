/* SPDX-License-Identifier: MIT */
/*
 * Replay gating and suppression (netstate/replay_gate.c), driven with
 * crafted frame sequences: a frame whose ACK is ahead of what the resumed
 * guest sent waits and is released exactly when its output reaches it; committed ACKs (and committed guest
 * frames) let frames through at once; the timeout and idle releases;
 * sequence numbers that wrap; suppression drops only fully acknowledged
 * data (property test against random ack points), and stops on a new
 * sequence space; 4-tuple reuse; the flow limit; the audit's counters
 * (its consistency checks: test_netstate_audit.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netstate/frame_build.h"
#include "netstate/replay_gate.h"

#include "netstate_test_frames.h"

static void test_holds_until_output_reaches_ack(void **state)
{
	struct replay_gate g;
	struct fr req2;
	uint64_t dl;
	struct replay_audit a;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 64), 0);
	committed_prefix(&g, 40000);
	/* The guest sent rep1 (100 bytes, crossing 2^32) after the
	 * checkpoint; req2 acknowledges all of it. */
	req2 = CL(40000, C0 + 11, G0 + 101, AP, 10);
	assert_int_equal(logged(&g, req2), 0);

	assert_int_equal(check(&g, req2, 1000, &dl), REPLAY_WAIT);
	assert_int_equal(dl, 1000 + 50 * MS);
	/* Regenerated rep1 arrives in pieces (all already acknowledged by
	 * the client in req2: suppressed); one byte short still waits, and
	 * the deadline stays that of the first check. */
	assert_int_equal(out(&g, GU(40000, G0 + 1, C0 + 11, AP, 50)),
			 OUTPUT_SUPPRESS);
	assert_int_equal(check(&g, req2, 2 * MS, &dl), REPLAY_WAIT);
	assert_int_equal(dl, 1000 + 50 * MS);
	assert_int_equal(out(&g, GU(40000, G0 + 51, C0 + 11, AP, 49)),
			 OUTPUT_SUPPRESS);
	assert_int_equal(check(&g, req2, 3 * MS, &dl), REPLAY_WAIT);
	/* Its last byte releases req2. */
	assert_int_equal(out(&g, GU(40000, G0 + 100, C0 + 11, AP, 1)),
			 OUTPUT_SUPPRESS);
	assert_int_equal(check(&g, req2, 4 * MS, &dl), REPLAY_DELIVER);
	/* rep2, which the client never acknowledged, goes out. */
	assert_int_equal(out(&g, GU(40000, G0 + 101, C0 + 21, AP, 30)),
			 OUTPUT_FORWARD);

	a = audit(&g);
	assert_int_equal(a.frames_committed, 3);
	assert_int_equal(a.frames_logged, 1);
	assert_int_equal(a.frames_replayed, 1);
	assert_int_equal(a.bytes_replayed, 10);
	assert_int_equal(a.gate_waits, 1);
	assert_int_equal(a.gate_released, 1);
	assert_int_equal(a.gate_timeouts, 0);
	assert_int_equal(a.gate_wait_ns, 4 * MS - 1000);
	assert_int_equal(a.outputs, 4);
	assert_int_equal(a.outputs_suppressed, 3);
	assert_int_equal(a.bytes_suppressed, 100);
	assert_int_equal(a.bytes_forwarded, 30);
	assert_int_equal(a.flows, 1);
	assert_int_equal(a.flows_replayed, 1);
	assert_int_equal(a.flows_ack_ahead, 0);
	replay_gate_free(&g);
}

static void test_committed_bound_and_passthrough(void **state)
{
	struct replay_gate g;
	struct fr f;
	uint8_t junk[10] = {0};
	uint8_t udp[128];
	struct frame_spec us = {
	    .src_ip = CLIENT_IP,
	    .dst_ip = GUEST_IP,
	    .proto = FRAME_IPPROTO_UDP,
	    .sport = 9,
	    .dport = 7,
	};
	int un;
	struct replay_audit a;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 64), 0);
	committed_prefix(&g, 40000);
	/* Acknowledging no more than the checkpoint had: no wait. */
	f = CL(40000, C0 + 11, G0 + 1, AP, 5);
	assert_int_equal(check(&g, f, 0, NULL), REPLAY_DELIVER);
	f = CL(40000, C0 + 16, G0 - 100, AP, 5); /* an older ACK */
	assert_int_equal(check(&g, f, 0, NULL), REPLAY_DELIVER);
	/* A guest frame known to precede the checkpoint raises it too. */
	assert_int_equal(committed(&g, GU(40000, G0 + 1, C0 + 11, AP, 300)), 0);
	f = CL(40000, C0 + 21, G0 + 301, AP, 5);
	assert_int_equal(check(&g, f, 0, NULL), REPLAY_DELIVER);
	f = CL(40000, C0 + 26, G0 + 302, AP, 5);
	assert_int_equal(check(&g, f, 0, NULL), REPLAY_WAIT);
	/* SYN, no ACK flag, other flows, non-TCP, unparsable: at once. */
	assert_int_equal(check(&g, CL(40001, 5, 0, FRAME_TCP_SYN, 0), 0, NULL),
			 REPLAY_DELIVER);
	assert_int_equal(check(&g, CL(40001, 6, 0, FRAME_TCP_PSH, 3), 0, NULL),
			 REPLAY_DELIVER);
	un = frame_build(udp, sizeof(udp), &us);
	assert_int_equal(replay_gate_check(&g, udp, (size_t)un, 0, NULL),
			 REPLAY_DELIVER);
	assert_int_equal(replay_gate_check(&g, junk, sizeof(junk), 0, NULL),
			 REPLAY_DELIVER);
	/* A frame of the guest's own is not a client frame to gate. */
	assert_int_equal(check(&g, GU(40000, G0 + 400, 1, A_, 0), 0, NULL),
			 REPLAY_DELIVER);
	/* Non-TCP and junk are ignored by the notes. */
	assert_int_equal(replay_gate_note_logged(&g, junk, sizeof(junk)),
			 -EINVAL);
	assert_int_equal(replay_gate_note_logged(&g, udp, (size_t)un), -ENOENT);
	assert_int_equal(replay_gate_note_committed(&g, udp, (size_t)un),
			 -ENOENT);
	a = audit(&g);
	assert_int_equal(a.frames_unparsed, 1);
	assert_int_equal(a.frames_replayed, 8);
	assert_int_equal(a.gate_waits, 1);
	assert_int_equal(a.frames_ignored, 3);
	replay_gate_free(&g);
}

static void test_timeout_and_presumed(void **state)
{
	struct replay_gate g;
	struct fr f1, f2, f3;
	uint64_t dl;
	struct replay_audit a;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 64), 0);
	replay_gate_set_timeout(&g, 10 * MS);
	committed_prefix(&g, 40000);
	/* rep1 went out before the checkpoint: the resumed guest will not
	 * send it again (until its RTO), so only the timeout helps. */
	f1 = CL(40000, C0 + 11, G0 + 101, AP, 10);
	f2 = CL(40000, C0 + 21, G0 + 101, AP, 10);
	f3 = CL(40000, C0 + 31, G0 + 201, AP, 10);
	assert_int_equal(check(&g, f1, 5 * MS, &dl), REPLAY_WAIT);
	assert_int_equal(dl, 15 * MS);
	assert_int_equal(check(&g, f1, 15 * MS - 1, &dl), REPLAY_WAIT);
	assert_int_equal(check(&g, f1, 15 * MS, &dl), REPLAY_DELIVER);
	/* Presumed sent now: the flow's next frame with that ACK passes. */
	assert_int_equal(check(&g, f2, 16 * MS, &dl), REPLAY_DELIVER);
	/* A frame acknowledging more waits on its own deadline. */
	assert_int_equal(check(&g, f3, 20 * MS, &dl), REPLAY_WAIT);
	assert_int_equal(dl, 30 * MS);
	assert_int_equal(check(&g, f3, 31 * MS, &dl), REPLAY_DELIVER);

	a = audit(&g);
	assert_int_equal(a.gate_waits, 2);
	assert_int_equal(a.gate_timeouts, 2);
	assert_int_equal(a.gate_released, 0);
	assert_int_equal(a.gate_wait_ns, 10 * MS + 11 * MS);
	assert_int_equal(a.flows_timed_out, 1);
	assert_int_equal(a.flows_replayed, 1);
	assert_int_equal(a.listed, 1);
	assert_true(a.flow[0].problems & REPLAY_FLOW_TIMED_OUT);

	/* Timeout 0: never waits, and says so. */
	replay_gate_set_timeout(&g, 0);
	assert_int_equal(
	    check(&g, CL(40000, C0 + 41, G0 + 900, AP, 1), 40 * MS, &dl),
	    REPLAY_DELIVER);
	a = audit(&g);
	assert_int_equal(a.gate_timeouts, 3);
	replay_gate_free(&g);
}

static void test_idle_and_pure_ack_release(void **state)
{
	struct replay_gate g;
	struct fr f1, f2;
	struct replay_audit a;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 64), 0);
	committed_prefix(&g, 40000);
	f1 = CL(40000, C0 + 11, G0 + 101, AP, 10);
	f2 = CL(40000, C0 + 21, G0 + 201, AP, 10);
	assert_int_equal(check(&g, f1, 0, NULL), REPLAY_WAIT);
	replay_gate_note_guest_idle(&g);
	assert_int_equal(check(&g, f1, 1, NULL), REPLAY_DELIVER);
	/* The delivery ended "idle": the next one waits again. */
	assert_int_equal(check(&g, f2, 2, NULL), REPLAY_WAIT);
	/* A pure ACK from the resumed guest carries its snd_nxt, which
	 * covers what it sent before the checkpoint. */
	assert_int_equal(out(&g, GU(40000, G0 + 201, C0 + 21, A_, 0)),
			 OUTPUT_FORWARD);
	assert_int_equal(check(&g, f2, 3, NULL), REPLAY_DELIVER);
	a = audit(&g);
	assert_int_equal(a.gate_idle_releases, 1);
	assert_int_equal(a.gate_released, 1);
	assert_int_equal(a.gate_timeouts, 0);
	replay_gate_free(&g);
}

static void test_retransmitted_and_out_of_order_replay(void **state)
{
	struct replay_gate g;
	struct fr set[5];
	struct replay_audit a;
	int i;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 64), 0);
	committed_prefix(&g, 40000);
	/* The replay set as captured: in order, a client retransmission,
	 * a segment ahead of a missing one, the missing one, an overlap. */
	set[0] = CL(40000, C0 + 11, G0 + 1, AP, 10);
	set[1] = CL(40000, C0 + 11, G0 + 1, AP, 10);
	set[2] = CL(40000, C0 + 31, G0 + 1, AP, 10);
	set[3] = CL(40000, C0 + 21, G0 + 1, AP, 10);
	set[4] = CL(40000, C0 + 36, G0 + 1, AP, 20);
	for (i = 0; i < 5; i++)
		assert_int_equal(logged(&g, set[i]), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(check(&g, set[i], 0, NULL), REPLAY_DELIVER);
	a = audit(&g);
	assert_int_equal(a.client_retrans, 2);
	assert_int_equal(a.flows_client_gap, 0); /* the hole was filled */
	assert_int_equal(a.frames_replayed, 5);

	/* A hole that stays: a capture gap in the replayed stream. */
	assert_int_equal(logged(&g, CL(40000, C0 + 100, G0 + 1, AP, 10)), 0);
	a = audit(&g);
	assert_int_equal(a.flows_client_gap, 1);
	assert_true(a.flow[0].problems & REPLAY_FLOW_CLIENT_GAP);
	replay_gate_free(&g);
}

static void test_suppression_rules(void **state)
{
	struct replay_gate g;
	struct replay_audit a;
	uint32_t amin = G0 + 1, amax = G0 + 0x61; /* crosses 2^32 */

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 64), 0);
	assert_int_equal(logged(&g, CL(40000, C0 + 1, amin, AP, 10)), 0);
	assert_int_equal(logged(&g, CL(40000, C0 + 11, amax, AP, 10)), 0);

	/* Fully acknowledged data, the wrap inside it: dropped. */
	assert_int_equal(out(&g, GU(40000, G0 + 1, C0 + 11, AP, 0x60)),
			 OUTPUT_SUPPRESS);
	assert_int_equal(out(&g, GU(40000, G0 + 0x41, C0 + 11, AP, 0x20)),
			 OUTPUT_SUPPRESS);
	/* One unacknowledged byte: forwarded, whole. */
	assert_int_equal(out(&g, GU(40000, G0 + 0x41, C0 + 11, AP, 0x21)),
			 OUTPUT_FORWARD);
	assert_int_equal(out(&g, GU(40000, amax, C0 + 21, AP, 5)),
			 OUTPUT_FORWARD);
	/* Before anything the client acknowledged in the log: not dropped
	 * (cannot tell it from another sequence space). */
	assert_int_equal(out(&g, GU(40000, G0 - 20, C0 + 11, AP, 10)),
			 OUTPUT_FORWARD);
	/* Control flags and pure ACKs always go out. */
	assert_int_equal(
	    out(&g, GU(40000, G0 + 1, C0 + 11, A_ | FRAME_TCP_FIN, 8)),
	    OUTPUT_FORWARD);
	assert_int_equal(out(&g, GU(40000, G0, C0 + 1, A_ | FRAME_TCP_SYN, 0)),
			 OUTPUT_FORWARD);
	assert_int_equal(out(&g, GU(40000, G0 + 1, 0, FRAME_TCP_RST, 0)),
			 OUTPUT_FORWARD);
	assert_int_equal(out(&g, GU(40000, G0 + 1, C0 + 21, A_, 0)),
			 OUTPUT_FORWARD);
	/* A flow whose client never acknowledged anything. */
	assert_int_equal(out(&g, GU(40009, 5, 0, AP, 10)), OUTPUT_FORWARD);
	a = audit(&g);
	assert_int_equal(a.outputs_suppressed, 2);
	assert_int_equal(a.bytes_suppressed, 0x80);
	assert_int_equal(a.outputs_forwarded, 8);
	assert_int_equal(a.outputs, 10);
	replay_gate_free(&g);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/*
 * Property: for random ack points (anywhere in the 32-bit space) and
 * random segments around them, a segment is suppressed iff it carries
 * data, no SYN/FIN/RST, and lies within [ack_min, ack_max]: in particular
 * nothing with a byte beyond the client's highest ACK is ever dropped.
 */
static void test_suppression_property(void **state)
{
	static const uint8_t flag_mix[] = {A_,
					   AP,
					   AP,
					   AP,
					   A_ | FRAME_TCP_FIN,
					   FRAME_TCP_RST,
					   A_ | FRAME_TCP_SYN};
	struct replay_gate g;
	uint64_t seed = 0xfeedface;
	unsigned suppressed = 0, forwarded_unacked = 0;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 4096), 0);
	for (uint16_t port = 1; port <= 2000; port++) {
		uint32_t amax = (uint32_t)rnd(&seed);
		uint32_t amin = amax - (uint32_t)(rnd(&seed) % 100000);

		/* Several ACKs between amin and amax, in random order. */
		assert_int_equal(logged(&g, CL(port, 1, amax, AP, 1)), 0);
		assert_int_equal(logged(&g, CL(port, 2, amin, AP, 1)), 0);
		assert_int_equal(
		    logged(&g, CL(port, 3, amin + (amax - amin) / 2, AP, 1)),
		    0);
		bool syn_seen = false;

		for (int k = 0; k < 20; k++) {
			int32_t off = (int32_t)(rnd(&seed) % 240000) - 120000;
			uint32_t len = (uint32_t)(rnd(&seed) % 1460);
			uint8_t fl = flag_mix[rnd(&seed) % sizeof(flag_mix)];
			uint32_t s = amax + (uint32_t)off, first, end;
			bool want;
			enum output_decision d;

			if (rnd(&seed) % 4 == 0) /* hug the edges */
				s = (rnd(&seed) & 1 ? amax : amin) -
				    (uint32_t)(rnd(&seed) % 3) * len / 2;
			first = s + !!(fl & FRAME_TCP_SYN);
			end = first + len;
			d = out(&g, GU(port, s, 7, fl, len));
			/* No client SYN was logged: a guest SYN leaves the
			 * client's ACKs vouching for nothing. */
			syn_seen |= !!(fl & FRAME_TCP_SYN);
			want = len && !syn_seen &&
			       !(fl & (FRAME_TCP_SYN | FRAME_TCP_FIN |
				       FRAME_TCP_RST)) &&
			       seq_leq(end, amax) && seq_geq(first, amin);
			if (seq_gt(end, amax) && len) {
				assert_int_equal(d, OUTPUT_FORWARD);
				forwarded_unacked++;
			}
			assert_int_equal(d, want ? OUTPUT_SUPPRESS
						 : OUTPUT_FORWARD);
			suppressed += d == OUTPUT_SUPPRESS;
		}
	}
	/* Both branches were exercised. */
	assert_true(suppressed > 500);
	assert_true(forwarded_unacked > 1000);
	replay_gate_free(&g);
}

static void test_new_sequence_space_disables_suppression(void **state)
{
	struct replay_gate g;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 64), 0);
	/* Flow 1 seen mid-stream: client ACKs up to 1000. */
	logged(&g, CL(1, 5, 500, AP, 10));
	logged(&g, CL(1, 15, 1000, AP, 10));
	assert_int_equal(out(&g, GU(1, 600, 25, AP, 100)), OUTPUT_SUPPRESS);
	/* A guest SYN-ACK nobody vouches for (a new connection on the
	 * 4-tuple): its bytes may land in [500, 1000] by chance. */
	assert_int_equal(out(&g, GU(1, 599, 7, A_ | FRAME_TCP_SYN, 0)),
			 OUTPUT_FORWARD);
	assert_int_equal(out(&g, GU(1, 600, 8, AP, 100)), OUTPUT_FORWARD);
	/* Flow 2: client SYN and handshake ACK logged; a regenerated
	 * SYN-ACK with the ISN the client saw keeps suppression... */
	logged(&g, CL(2, 100, 0, FRAME_TCP_SYN, 0));
	logged(&g, CL(2, 101, 5001, A_, 0));
	logged(&g, CL(2, 101, 5101, AP, 5));
	assert_int_equal(out(&g, GU(2, 5000, 101, A_ | FRAME_TCP_SYN, 0)),
			 OUTPUT_FORWARD);
	assert_int_equal(out(&g, GU(2, 5001, 106, AP, 100)), OUTPUT_SUPPRESS);
	/* ... one with another ISN ends it. */
	assert_int_equal(out(&g, GU(2, 9000, 101, A_ | FRAME_TCP_SYN, 0)),
			 OUTPUT_FORWARD);
	assert_int_equal(out(&g, GU(2, 5001, 106, AP, 100)), OUTPUT_FORWARD);
	replay_gate_free(&g);
}

static void test_reincarnation_resets_bound(void **state)
{
	struct replay_gate g;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 64), 0);
	committed_prefix(&g, 40000);
	committed(&g, CL(40000, C0 + 11, G0 + 5000, A_, 0));
	/* The same 4-tuple, a new connection: the old bound is void. */
	logged(&g, CL(40000, 7, 0, FRAME_TCP_SYN, 0));
	assert_int_equal(check(&g, CL(40000, 7, 0, FRAME_TCP_SYN, 0), 0, NULL),
			 REPLAY_DELIVER);
	assert_int_equal(check(&g, CL(40000, 8, G0 + 1, A_, 0), 0, NULL),
			 REPLAY_WAIT);
	out(&g, GU(40000, G0, 8, A_ | FRAME_TCP_SYN, 0));
	assert_int_equal(check(&g, CL(40000, 8, G0 + 1, A_, 0), 1, NULL),
			 REPLAY_DELIVER);
	replay_gate_free(&g);
}

static void test_flow_limit_ungated(void **state)
{
	struct replay_gate g;
	struct replay_audit a;

	(void)state;
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 1), 0);
	logged(&g, CL(1, 1, 100, AP, 1));
	/* Flow 2 does not fit (flow 1 is live): delivered ungated, its
	 * output forwarded. */
	assert_int_equal(logged(&g, CL(2, 1, 100, AP, 1)), -ENOSPC);
	assert_int_equal(check(&g, CL(2, 1, 100, AP, 1), 0, NULL),
			 REPLAY_DELIVER);
	assert_int_equal(out(&g, GU(2, 50, 2, AP, 10)), OUTPUT_FORWARD);
	/* Flow 1 is still gated. */
	assert_int_equal(check(&g, CL(1, 1, 100, AP, 1), 0, NULL), REPLAY_WAIT);
	a = audit(&g);
	assert_int_equal(a.frames_ungated, 1);
	assert_int_equal(a.flows_refused, 3);
	assert_int_equal(a.flows, 1);
	replay_gate_free(&g);
	assert_int_equal(replay_gate_init(&g, GUEST_IP, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_holds_until_output_reaches_ack),
	    cmocka_unit_test(test_committed_bound_and_passthrough),
	    cmocka_unit_test(test_timeout_and_presumed),
	    cmocka_unit_test(test_idle_and_pure_ack_release),
	    cmocka_unit_test(test_retransmitted_and_out_of_order_replay),
	    cmocka_unit_test(test_suppression_rules),
	    cmocka_unit_test(test_suppression_property),
	    cmocka_unit_test(test_new_sequence_space_disables_suppression),
	    cmocka_unit_test(test_reincarnation_resets_bound),
	    cmocka_unit_test(test_flow_limit_ungated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
