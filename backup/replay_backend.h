/* SPDX-License-Identifier: MIT */
/*
 * The resumed guest's NIC during failover replay: a vnic backend wrapping
 * the TAP. receive() hands the guest the logged client frames first, in
 * order, each only when the replay gate says the guest has (re)sent what it
 * acknowledges; live frames from the TAP follow once the log is drained.
 * send() drops regenerated output the client had already acknowledged and
 * forwards everything else. One more ops table in the style of the output
 * policies.
 */
#ifndef RRVM_REPLAY_BACKEND_H
#define RRVM_REPLAY_BACKEND_H

#include <stdint.h>

#include "backup/replay_log.h"
#include "netstate/replay_gate.h"
#include "vmm/vnic.h"

struct replay_backend_result {
	uint64_t started_ns, finished_ns; /* CLOCK_MONOTONIC; 0 = not yet */
	uint64_t frames, bytes; /* replayed */
	uint64_t suppressed; /* regenerated outputs dropped */
};

/*
 * Take the TAP (owned from now on), the log (its frames are copied in
 * now) and the gate (used until destroy; the caller keeps ownership).
 */
int replay_backend_create(struct vnic_backend *tap, struct replay_log *log,
			  struct replay_gate *gate,
			  struct vnic_backend **out);
/* Progress; safe to call from another thread (relaxed reads). */
void replay_backend_result(struct vnic_backend *b,
			   struct replay_backend_result *out);

#endif
