/* SPDX-License-Identifier: MIT */
/*
 * The backup's half of reverse replication while the primary lives:
 * capture every client->guest frame (inline: we are the first recipient and
 * forward it to the primary only once logged; mirror: the switch sends us
 * copies), keep them in the replay log, and trim the log by the digests each
 * committed epoch carries. What is left at failover is the replay set.
 */
#ifndef RRVM_REVERSE_H
#define RRVM_REVERSE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backup/capture.h"
#include "backup/replay_log.h"
#include "netstate/replay_gate.h"
#include "vmm/ckpt_codec.h"

enum reverse_topology { TOPOLOGY_NONE = 0, TOPOLOGY_INLINE, TOPOLOGY_MIRROR };

struct reverse_config {
	enum reverse_topology topology;
	const char *capture_if; /* inline: LAN side; mirror: mirror port */
	const char *forward_if; /* inline: towards the primary */
	const char *backend;	/* ringbuf | xdp | pcap | auto */
	uint64_t log_bytes;
	uint32_t log_frames;
	uint8_t guest_mac[6];
	uint32_t guest_ip; /* network order */
	/*
	 * After a frame, poll on for this long before sleeping: a thread
	 * wake-up per frame (tens of µs in nested KVM) is most of what the
	 * inline hop costs a request with xdp or pcap. 0: sleep at once.
	 * Not used with ringbuf (capture_wake_ms: batched, forwarded by the
	 * kernel).
	 */
	uint32_t spin_us;
};

#define REVERSE_DEFAULT_SPIN_US 100u
/* At the stop, how long to wait for records still being written. */
#define REVERSE_FINAL_DRAIN_MS 20u

/* Written by the capture and receive threads, read by the control thread:
 * stat_* (relaxed atomics) only. */
struct reverse_stats {
	uint64_t captured, forwarded, forward_errors;
	uint64_t overflow_dropped; /* log full: not logged (and, inline,
				      not forwarded: TCP retransmits) */
	uint64_t epochs_trimmed, epochs_without_digests;
	uint64_t digests_incomplete;
	uint64_t standby_clears; /* log full while no failover was possible */
};

struct reverse {
	struct reverse_config cfg;
	struct capture *cap;
	const char *capture_name; /* the backend auto chose (static) */
	pthread_t thread;
	bool running; /* __atomic: the capture thread runs */
	int stop;     /* __atomic: set by the stopping thread */
	int wake_fd;
	/*
	 * Drain barrier: a commit first empties the capture into the log
	 * itself, so a frame the primary already had is logged before the
	 * trim looks for it. poll_lock: one capture reader at a time.
	 */
	pthread_mutex_t poll_lock;

	pthread_mutex_t lock; /* log and gate: capture vs commit */
	struct replay_log log;
	struct replay_gate gate; /* learns what committed state has sent */

	/* Digests of the epoch being received (committed with it). */
	uint64_t *digests;
	size_t ndigests, digests_cap;
	uint64_t digests_epoch;
	bool have_digests, digests_incomplete, digests_full;

	struct reverse_stats stats;
	/* __atomic: the backup cannot take over (the primary runs
	 * unprotected until a resync): a full log is cleared, not held. */
	int standing_by;
};

int reverse_topology_parse(const char *s, enum reverse_topology *t);
const char *reverse_topology_name(enum reverse_topology t);

/* Open the capture and start the capture thread. 0 or -errno. */
int reverse_start(struct reverse *r, const struct reverse_config *cfg);
/* The same on a capture already open (owned from now on, even on
 * failure): cfg's backend and interfaces are not used. For tests. */
int reverse_start_with(struct reverse *r, const struct reverse_config *cfg,
		       struct capture *cap);
/*
 * Stop capturing, fast: the thread ends and the capture stops taking
 * frames (capture_quiesce), so they reach the local bridge; the log stays
 * for the replay. The slow teardown (XDP detach) is reverse_close_capture,
 * off the failover's critical path.
 */
void reverse_stop_capture(struct reverse *r);
/* Stop (if not yet) and close the capture; reverse_free does it too. */
void reverse_close_capture(struct reverse *r);
void reverse_free(struct reverse *r);

/*
 * Failover, after reverse_stop_capture: settle the gaps still waiting for
 * a late frame (replay_log_settle_cb); res gets late and missed.
 */
void reverse_settle(struct reverse *r, struct replay_trim_result *res);

/* An RX_DIGESTS message of the epoch in flight. 0 or -EPROTO. */
int reverse_digests(struct reverse *r, const struct ckpt_msg *msg);
/* The epoch committed: trim the log by its digests. */
void reverse_committed(struct reverse *r, uint64_t epoch);
/* The epoch in flight was discarded. */
void reverse_aborted(struct reverse *r);
/*
 * The backup holds a checkpoint it may not run (the primary gave up on it
 * and runs unprotected until it resynchronises): nothing logged now can
 * be replayed into it, so a full log is cleared instead of holding the
 * client's frames back (inline) until a commit that will not come. The
 * resync's full epoch flags its digests FULL, so frames cleared meanwhile
 * are not taken for capture gaps.
 */
void reverse_set_standing_by(struct reverse *r, bool standing_by);

struct report;
/* The capture and replay log's fields (status, failover report). */
void reverse_report(struct reverse *r, struct report *rep);

/* The capture backend in use ("ringbuf", "xdp", "pcap"; "none"). */
const char *reverse_capture_name(const struct reverse *r);
/*
 * Whether protection holds: false once any capture gap was confirmed (the
 * primary's VM got a frame the log never held); *gaps says how many.
 */
bool reverse_protected(struct reverse *r, uint64_t *gaps);

#endif
