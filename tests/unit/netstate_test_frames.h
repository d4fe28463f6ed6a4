/* SPDX-License-Identifier: MIT */
/*
 * Frame builders and gate shorthands shared by the netstate unit tests:
 * client and guest TCP segments of one flow, with ISNs just below 2^32 so
 * every test crosses the wrap-around.
 */
#ifndef NETSTATE_TEST_FRAMES_H
#define NETSTATE_TEST_FRAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "netstate/frame_build.h"
#include "netstate/replay_gate.h"

#define IP(a, b, c, d)                                                         \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 |            \
	 (uint32_t)(d) << 24)
#define CLIENT_IP  IP(10, 77, 0, 1)
#define GUEST_IP   IP(10, 77, 0, 2)
#define GUEST_PORT 6379
#define MS	   1000000ull

/* Near the wrap on both sides, so every scenario crosses 2^32. */
#define C0 0xffffff00u /* client ISN */
#define G0 0xffffffc0u /* guest ISN */

#define A_ (FRAME_TCP_ACK)
#define AP (FRAME_TCP_ACK | FRAME_TCP_PSH)

struct fr {
	uint8_t b[2048];
	size_t n;
};

/* The byte the original stream has at sequence number seq; `salt`
 * changes it (a regenerated stream that diverged). */
static inline uint8_t pat(uint32_t seq, uint8_t salt)
{
	return (uint8_t)(seq * 31u + 7u + salt);
}

static inline struct fr mk_salted(bool to_guest, uint16_t cport, uint32_t seq,
			   uint32_t ack, uint8_t flags, uint32_t len,
			   uint8_t salt)
{
	uint8_t payload[1500];
	struct fr f;
	uint32_t first = seq + !!(flags & FRAME_TCP_SYN);
	struct frame_spec s = {
	    .src_ip = to_guest ? CLIENT_IP : GUEST_IP,
	    .dst_ip = to_guest ? GUEST_IP : CLIENT_IP,
	    .proto = FRAME_IPPROTO_TCP,
	    .sport = to_guest ? cport : GUEST_PORT,
	    .dport = to_guest ? GUEST_PORT : cport,
	    .seq = seq,
	    .ack = ack,
	    .flags = flags,
	    .window = 29200,
	    .payload = payload,
	    .payload_len = len,
	};
	int n;

	assert_true(len <= sizeof(payload));
	for (uint32_t i = 0; i < len; i++)
		payload[i] = pat(first + i, salt);
	n = frame_build(f.b, sizeof(f.b), &s);
	assert_true(n > 0);
	f.n = (size_t)n;
	return f;
}

static inline struct fr mk(bool to_guest, uint16_t cport, uint32_t seq, uint32_t ack,
		    uint8_t flags, uint32_t len)
{
	return mk_salted(to_guest, cport, seq, ack, flags, len, 0);
}

#define CL(port, seq, ack, flags, len) mk(true, port, seq, ack, flags, len)
#define GU(port, seq, ack, flags, len) mk(false, port, seq, ack, flags, len)

static inline int committed(struct replay_gate *g, struct fr f)
{
	return replay_gate_note_committed(g, f.b, f.n);
}

static inline int logged(struct replay_gate *g, struct fr f)
{
	return replay_gate_note_logged(g, f.b, f.n);
}

static inline enum replay_decision check(struct replay_gate *g, struct fr f,
				  uint64_t now, uint64_t *deadline)
{
	return replay_gate_check(g, f.b, f.n, now, deadline);
}

static inline enum output_decision out(struct replay_gate *g, struct fr f)
{
	return replay_gate_guest_output(g, f.b, f.n);
}

static inline struct replay_audit audit(struct replay_gate *g)
{
	struct replay_audit a;

	assert_int_equal(replay_gate_audit(g, &a), 0);
	return a;
}

/* Handshake and req1/rep1 inside the checkpoint: the checkpoint's bound
 * is G0 + 1 (the client's ACK in req1). */
static inline void committed_prefix(struct replay_gate *g, uint16_t port)
{
	assert_int_equal(committed(g, CL(port, C0, 0, FRAME_TCP_SYN, 0)), 0);
	assert_int_equal(committed(g, CL(port, C0 + 1, G0 + 1, A_, 0)), 0);
	assert_int_equal(committed(g, CL(port, C0 + 1, G0 + 1, AP, 10)), 0);
}

#endif
