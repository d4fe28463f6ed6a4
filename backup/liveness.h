/* SPDX-License-Identifier: MIT */
/*
 * The backup's view of whether its primary is alive, over two paths:
 *
 *  - the replication path: the primary's heartbeat datagrams to our
 *    --listen address, and any byte on the replication link itself;
 *  - the LAN path (--lan-listen): the same datagrams over the hosts' LAN.
 *
 * A dedicated thread (real-time when allowed) receives the datagrams of
 * the current session and feeds one adaptive detector per path
 * (backup/detector.h). The backup's loop asks for a verdict: alive; the
 * replication path is silent but the LAN says the primary lives (a link
 * failure: stand by, no failover); or every path is silent (fail over).
 *
 * It also notices when this host itself did not run (the receive thread
 * woke far later than it asked: a frozen VM, heavy steal): silence that
 * spans our own stall proves nothing, so the detectors' clocks restart.
 * And it keeps what the primary says about itself: whether it gave up on
 * us and released output our checkpoint does not cover.
 */
#ifndef RRVM_LIVENESS_H
#define RRVM_LIVENESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backup/detector.h"

enum liveness_path { LIVENESS_REP = 0, LIVENESS_LAN, LIVENESS_PATHS };

struct liveness_config {
	const char *rep_listen; /* UDP beside the replication listener */
	const char *lan_listen; /* NULL: the replication path only */
	unsigned interval_ms;	/* the primary's heartbeat period (expected) */
	struct detector_config detect;
	int rt_priority;    /* 0: normal scheduling */
	const uint8_t *key; /* NULL: --insecure */
};

struct liveness_path_state {
	int fd; /* -1: not configured */
	struct detector det;
	uint64_t received, rejected, other_session, lost, reordered;
	uint64_t last_seq;
};

struct liveness {
	struct liveness_config cfg;
	pthread_mutex_t lock; /* everything below */
	struct liveness_path_state path[LIVENESS_PATHS];
	uint64_t session; /* accept only this primary run (0: none yet) */
	uint64_t released_after; /* from the primary's datagrams */
	uint64_t last_tick_ns;	 /* the receive thread's last wake-up */
	uint64_t local_stalls, local_stall_max_ns, local_stall_at_ns;
	uint64_t rep_relearned; /* datagrams stopped while the link spoke */
	/* The link's last byte as last judged, and since when it has been
	 * speaking without a gap above the threshold. */
	uint64_t link_seen_ns, link_since_ns;
	bool realtime;

	pthread_t thread;
	bool running;
	int stop; /* __atomic */
	int wake_fd;
};

enum liveness_state {
	LIVENESS_ALIVE = 0,
	LIVENESS_REP_SILENT, /* only the LAN path hears the primary */
	LIVENESS_SILENT,     /* no path hears it */
};

struct liveness_verdict {
	enum liveness_state state;
	bool lan;		/* a LAN path is configured */
	bool lan_silent;	/* ... and silent (heard before, or never) */
	uint64_t next_ns;	/* when the verdict can change without news */
	uint64_t last_heard_ns; /* on any path, the link included */
	uint64_t threshold_ns;	/* the replication path's, now */
};

/* Bind the sockets and start the receive thread. 0 or -errno. */
int liveness_start(struct liveness *l, const struct liveness_config *cfg);
void liveness_stop(struct liveness *l);

/* A (new) primary run: forget what was learned about the previous one. */
void liveness_set_session(struct liveness *l, uint64_t session);

/*
 * Read what is queued now, from any thread (the loop before a decision:
 * the receive thread may not have run yet after a stall of this host).
 */
void liveness_drain(struct liveness *l);

/*
 * The verdict at now, given the last byte on the replication link
 * (link_last_ns, 0 if none). Drains first.
 */
void liveness_judge(struct liveness *l, uint64_t link_last_ns, uint64_t now,
		    struct liveness_verdict *v);

/* What the primary told us: 0, or the epoch after which it released
 * output unprotected. */
uint64_t liveness_released_after(struct liveness *l);
/* Any datagram of the session received at or after t (ns)? */
bool liveness_heard_since(struct liveness *l, uint64_t t);
/* Did this host stall at or after t (ns)? */
bool liveness_stalled_since(struct liveness *l, uint64_t t);

struct report;
/* The "liveness" section of `status`. */
void liveness_report(struct liveness *l, uint64_t link_last_ns,
		     struct report *r);

#endif
