/* SPDX-License-Identifier: MIT */
/*
 * Live migration, the source side (docs/migration.md): move a running VM to
 * `rrvm incoming` on another host while it keeps running here.
 *
 *   connect (HELLO, mode migrate) -> PROFILE -> PROFILE_OK | CANCEL
 *   round 0: every non-zero page           } copied while the guest runs
 *   round k: the pages dirtied in round k-1 } (pages-only epochs)
 *   ... until the planner (migration/precopy_plan.h) says stop-and-copy
 *   pause: the last dirty pages + vCPU/device state, the VM frozen
 *   final epoch, HANDOVER -> READY -> GO -> DONE (the VM runs there)
 *
 * The cutover is the planned handover of a replicated pair (the same
 * messages, the same destination code: backup/backup.c, takeover.c), plus
 * DONE: the source stops its VM only once the destination says its VM
 * runs. Never two VMs: after GO the source never resumes unless the
 * destination's link closed (its process is gone). A silent link after GO
 * leaves the outcome unknown: the VM stays frozen here (MIGRATE_UNKNOWN).
 *
 * Threads: migrate_run blocks its caller (a control connection) for the
 * whole migration; it starts one thread of its own that reads the
 * destination's messages, sends heartbeats and watches for a cancel, a
 * timeout, the caller's client going away or the VM stopping.
 *
 * Channels (--channels N, migration/migrate_channels.h): N links of one
 * session; each pre-copy round is split by pfn among N encoders (the
 * engine's thread for channel 0, one thread per further channel), each
 * sending its part as an epoch of its own on its link. Channel 0 alone
 * carries the profile, the final epoch and the handover.
 */
#ifndef RRVM_MIGRATE_SOURCE_H
#define RRVM_MIGRATE_SOURCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/rate_limit.h"
#include "common/repl_protocol.h"
#include "migration/precopy_plan.h"
#include "primary/delta_cache.h"
#include "vmm/vm_profile.h"
#include "vmm/vm_snapshot.h"

struct vm;
struct transport;

/* One round, as the progress line shows it. */
struct migrate_round_info {
	unsigned round;
	uint64_t pages;
	uint64_t bytes_sent;
	uint64_t duration_ns;
	uint64_t dirty_rate; /* pages/s dirtied during the round */
	uint64_t bandwidth;  /* bytes/s measured (the planner's figure) */
	uint64_t expected_downtime_ns; /* UINT64_MAX: not known yet */
	unsigned throttle;	       /* % after this round's decision */
	bool stop_and_copy; /* the planner's decision after this round */
};

struct migrate_params {
	const char *dest;	       /* ADDR:PORT of rrvm incoming */
	const uint8_t *key;	       /* NULL: --insecure */
	struct precopy_params precopy; /* max downtime, auto-converge */
	uint64_t max_bandwidth;	       /* bytes/s; 0 = unlimited */
	unsigned channels;	       /* 1..REPL_MAX_CHANNELS */
	uint64_t timeout_ns;	       /* to reach the cutover; 0 = none */
	enum ckpt_compression compress;
	uint64_t delta_cache_bytes; /* XOR deltas of resent pages */
	const char *image_name;	    /* for the profile (informational) */
	/* After each round (the engine's thread). */
	void (*on_round)(void *ctx, const struct migrate_round_info *r);
	/* Polled every 50 ms from the watchdog: true = cancel (the client
	 * that asked for the migration went away). */
	bool (*client_gone)(void *ctx);
	void *ctx;
};

enum migrate_result {
	MIGRATE_COMPLETED = 0, /* the VM runs at the destination */
	MIGRATE_REFUSED,       /* the destination refused before any page */
	MIGRATE_CANCELLED,     /* migrate-cancel, the client went away */
	MIGRATE_TIMED_OUT,     /* --timeout before the cutover */
	MIGRATE_FAILED,	       /* link, destination or local failure */
	MIGRATE_UNKNOWN,       /* GO sent, no DONE, link silent: frozen */
};

struct migrate_report {
	enum migrate_result result;
	char why[400];	 /* for anything but COMPLETED */
	int remote_code; /* the destination's CANCEL code (0: none) */
	unsigned rounds; /* pre-copy rounds, the final epoch not counted */
	uint64_t pages_sent, bytes_raw, bytes_sent;
	uint64_t final_pages, final_bytes;
	uint64_t total_ns;
	uint64_t downtime_ns;	   /* frozen -> DONE, as the source saw it */
	uint64_t dest_downtime_ns; /* the destination's (DONE) */
	uint64_t dest_restore_ns;
	uint64_t rtt_ns;	       /* PROFILE -> PROFILE_OK */
	uint64_t bandwidth;	       /* last measured, bytes/s */
	uint64_t expected_downtime_ns; /* the last estimate */
	uint64_t rate_waited_ns;       /* held back by --max-bandwidth */
	unsigned throttle_max;
	unsigned channels;
	/* Per channel: bytes sent, and CPU time its encoder/sender thread
	 * spent on pre-copy rounds. */
	uint64_t channel_bytes[REPL_MAX_CHANNELS];
	uint64_t channel_cpu_ns[REPL_MAX_CHANNELS];
	uint64_t late_frames; /* forwarded after DONE */
	bool frozen;	      /* the VM is still frozen here (UNKNOWN) */
};

struct migration;

/* One link of the migration (migrate_link.c) and its encoder
 * (migrate_channels.c). */
struct migrate_channel {
	struct migration *m;
	unsigned index;
	struct transport *link;
	pthread_mutex_t send_lock;
	uint64_t last_send_ns;	  /* __atomic */
	uint64_t send_started_ns; /* __atomic: a send in progress since */
	uint64_t bytes_sent;	  /* __atomic */
	uint64_t cpu_ns;	  /* its thread's CPU on rounds */
	struct ckpt_buf buf;	  /* its encoder's */
	/* Channels 1..N-1: the encoder thread and its part of the round
	 * (snapshot indexes first .. first + count - 1). */
	pthread_t thread;
	bool thread_running;
	size_t first, count;
	int result;
};

/* Everything a migration holds; opaque to callers but for the fields
 * named in the functions below. */
struct migration {
	struct migrate_params p;
	struct vm *vm;
	struct migrate_report *rep;

	int cancel; /* __atomic: 0 or the errno of a cancel */
	char cancel_why[160];
	int cutover; /* __atomic: 1 frozen, 2 GO sent */

	/* The links (migrate_link.c): chan[0] first, the others after the
	 * profile was accepted; the watchdog reads chan[0 .. open - 1]. */
	struct migrate_channel chan[REPL_MAX_CHANNELS];
	unsigned channels_open; /* __atomic */
	uint64_t session;
	struct rate_limit rate; /* one bucket for all channels */

	/* The channel encoders' round (migrate_channels.c). */
	pthread_mutex_t work_lock;
	pthread_cond_t work_cond;
	uint64_t work_generation;
	unsigned work_pending;
	bool work_stop;
	struct ckpt_begin work_begin;

	pthread_t watchdog;
	bool watchdog_running;
	int stop_watchdog;    /* __atomic */
	uint64_t deadline_ns; /* pre-copy must be done by then (0: none) */

	/* What the destination said, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool profile_ok, ready, aborted, done, closed;
	bool remote_cancelled;
	struct repl_cancel remote_cancel;
	struct repl_done done_msg;
	uint64_t acked_epoch;
	char link_error[160];

	/* The engine (migrate_source.c). */
	struct vm_profile profile;
	struct vm_snapshot snap;
	struct delta_cache cache;
	struct precopy_plan plan;
	struct ckpt_buf buf;
	uint64_t epoch;
	uint64_t freeze_ns;
	bool dirty_claimed;
};

void migrate_init(struct migration *m);
/*
 * Migrate vm (running, not replicated) per p; the report is filled in any
 * case. 0 when the VM runs at the destination (stop it here now), else
 * -errno with rep->result and rep->why. With MIGRATE_UNKNOWN the VM stays
 * frozen (rep->frozen): the caller decides (migrate_resume).
 */
int migrate_run(struct migration *m, struct vm *vm,
		const struct migrate_params *p, struct migrate_report *rep);
/* Any thread: stop the migration (before the cutover's GO), why as given.
 * code: ECANCELED or ETIMEDOUT. */
void migrate_cancel(struct migration *m, int code, const char *why);
/* After MIGRATE_UNKNOWN, when the operator knows the destination does not
 * run the VM: thaw it here. */
void migrate_resume(struct vm *vm);

const char *migrate_result_name(enum migrate_result r);

#endif
