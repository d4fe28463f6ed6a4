/* SPDX-License-Identifier: MIT */
/* Internals shared by replay_gate.c and replay_audit.c; not an API. */
#ifndef RRVM_NETSTATE_REPLAY_PRIV_H
#define RRVM_NETSTATE_REPLAY_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "netstate/replay_gate.h"

/* The last `cap` bytes of the original guest->client stream of one flow,
 * as a ring: sequence numbers [lo, lo + len) at buf[head ...]. */
struct gate_orig {
	uint8_t *buf;
	uint32_t cap, head, len, lo;
};

/* Per-flow gate state: the flow table's user area. */
struct gate_flow {
	bool committed_known; /* guest bytes known sent by the checkpoint */
	uint32_t committed;
	bool committed_rcv_known; /* client bytes the checkpoint had */
	uint32_t committed_rcv;
	bool presumed_known; /* released by timeout/idle: taken as sent */
	uint32_t presumed;
	bool isn_mismatch;
	bool no_suppress; /* the client's ACKs are of another sequence space */
	bool diff_seen;
	uint32_t first_diff_seq;
	uint64_t logged, replayed, timeouts;
	uint64_t cmp_bytes, diff_bytes;
	struct gate_orig orig;
};

/* Keep payload [seq, seq + n) of an original output segment. */
int gate_orig_add(struct gate_orig *o, uint32_t cap, uint32_t seq,
		  const uint8_t *p, uint32_t n);
/* Compare a regenerated segment with the kept original bytes. */
void gate_orig_compare(struct gate_flow *gf, uint32_t seq, const uint8_t *p,
		       uint32_t n);
void gate_flow_release(void *user);

/* Whether a is known to have been sent on the flow (presumed or not). */
bool gate_sent_covers(const struct flow *f, const struct gate_flow *gf,
		      uint32_t a, bool with_presumed);

#endif
