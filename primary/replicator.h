/* SPDX-License-Identifier: MIT */
/*
 * The primary role's replication engine: every epoch, pause the vCPU just
 * long enough to collect dirty pages and state, resume it, then encode the
 * epoch against the backup's copy and stream it; acks come back on the same
 * link and release held output. Losing the backup never stops the VM: it
 * runs unprotected (loudly) until a backup is back and fully resynchronised.
 *
 * It attaches to a VM that is already running (a fresh boot, or a VM that
 * just came up by failover: that is re-protection) and detaches again; the
 * VM's NIC must be an output policy (primary/output_policy.h) so buffered
 * mode can hold frames. replicator_handover() is the planned hand-off of
 * the VM to the backup (switchover; migration's cutover uses the same
 * messages).
 */
#ifndef RRVM_REPLICATOR_H
#define RRVM_REPLICATOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/repl_protocol.h"
#include "netstate/guest_filter.h"
#include "primary/delta_cache.h"
#include "primary/heartbeat_sender.h"
#include "primary/output_policy.h"
#include "vmm/vm_snapshot.h"

struct vm;
struct transport;
struct report;

struct replicator_config {
	const char *backup_addr; /* ADDR:PORT */
	const uint8_t *key; /* NULL: --insecure */
	enum repl_mode mode;
	unsigned epoch_ms;
	unsigned heartbeat_ms; /* 0: epochs only, no heartbeat path */
	/* The heartbeat path's LAN leg (ADDR:PORT of the backup's
	 * --lan-listen; NULL: the replication network only). */
	const char *lan_peer;
	int rt_priority; /* of the heartbeat sender; 0: normal scheduling */
	/* Give up on a backup that said nothing for this long: release
	 * held output, run unprotected, reconnect (0: never). */
	unsigned backup_timeout_ms;
	enum ckpt_compression compress;
	uint64_t delta_cache_bytes; /* --delta-cache: bound of the cache */
	/*
	 * Reverse mode: run before the first full checkpoint to a backup, to
	 * put the backup's capture in front of this host (/bin/sh -c). NULL:
	 * the network is already wired so.
	 */
	const char *rewire_cmd;
	/* Reverse mode: digest only the frames the backup's capture takes. */
	struct guest_filter rx_filter;
	bool rx_filter_on;
};

/* Written by the replication threads, read by the control thread: every
 * field through stat_* (relaxed atomics). */
struct replicator_stats {
	uint64_t epochs; /* sent */
	uint64_t full_epochs;
	uint64_t acked_epoch;
	uint64_t acks_bogus; /* for epochs we never sent: dropped */
	uint64_t bytes_sent;
	uint64_t raw_bytes; /* pages * RRVM_PAGE_SIZE */
	uint64_t pages;
	uint64_t pause_ns_total, pause_ns_max, pause_ns_last;
	/* Two-phase collect: pages copied inside pauses, and the early
	 * passes' copies (a page recopied counts again), passes and time. */
	uint64_t pause_pages;
	uint64_t early_copies, early_passes, early_ns_total;
	/* Delta cache, mirrored after each epoch (the cache itself belongs
	 * to the epoch thread). */
	uint64_t delta_hits, delta_misses, delta_evictions, delta_bytes_used;
	uint64_t interval_ns_total; /* achieved epoch intervals */
	uint64_t late_epochs; /* started later than a whole interval */
	uint64_t connects, disconnects, connect_failures;
	uint64_t heartbeats;
	uint64_t rewires, rewire_failures;
	uint64_t handovers, handovers_failed;
	uint64_t backup_silent; /* links given up: the backup said nothing */
	int protected_now;
};

enum handover_state {
	HANDOVER_NONE = 0,
	HANDOVER_REQUESTED, /* the epoch thread will freeze and send */
	HANDOVER_SENT, /* final epoch + HANDOVER sent, waiting for READY */
	HANDOVER_READY, /* the backup committed and is ready */
	HANDOVER_FAILED, /* refused, timed out or link lost */
};

struct replicator {
	struct replicator_config cfg;
	struct vm *vm;
	struct output_policy *policy;
	uint64_t session;

	pthread_t epoch_thread;
	pthread_t ack_thread;
	pthread_t heartbeat_thread;
	bool epoch_running, heartbeat_running, ack_thread_running;
	int stop; /* __atomic */

	pthread_mutex_t send_lock; /* one message at a time on the link */
	struct transport *link; /* NULL while unprotected (send_lock) */
	int link_broken; /* __atomic: set by any thread on error */
	uint64_t last_send_ns; /* __atomic */
	uint64_t last_backup_rx_ns; /* __atomic: anything from the backup */

	/* The heartbeat path; its thread also watches the backup's silence
	 * and may shut watch_link down (under watch_lock). */
	struct heartbeat_sender beats;
	pthread_mutex_t watch_lock;
	struct transport *watch_link;
	bool rewired; /* the rewire command ran for this protection */

	uint64_t epoch; /* last collected (vCPU thread; __atomic) */
	uint64_t sent_epoch; /* __atomic: last epoch fully sent */
	bool need_full;
	/* What the backup holds, for the pages that fit: XOR deltas. */
	struct delta_cache cache;
	struct vm_snapshot snap;
	struct vm_precopy_plan precopy; /* early passes (two-phase) */
	struct replicator_stats stats;

	/* Planned handover (switchover), under handover_lock. */
	pthread_mutex_t handover_lock;
	pthread_cond_t handover_cond;
	enum handover_state handover;
	uint64_t handover_epoch;
	struct repl_handover handover_msg;

	/*
	 * Reverse/naive modes: digests of the frames given to the guest since
	 * the last collect (vCPU thread only), and those of the epoch being
	 * sent (cut at the collect, also on the vCPU thread).
	 */
	uint64_t *rx_digests, *epoch_digests;
	size_t rx_count, rx_cap, epoch_count, epoch_cap;
	bool rx_incomplete, epoch_incomplete, epoch_full;
};

/*
 * Start protecting vm (running or not yet started) whose NIC is policy.
 * The first epoch to each backup is a full one. 0 or -errno.
 */
int replicator_start(struct replicator *r, struct vm *vm,
		     struct output_policy *policy,
		     const struct replicator_config *cfg);
/*
 * Stop replicating; with goodbye, tell the backup this primary stops in
 * order (it stands down instead of failing over). Joins every thread.
 */
void replicator_stop(struct replicator *r, bool goodbye);

/*
 * Hand the VM to the backup: refuse (-EAGAIN, with why in err) unless the
 * backup is in sync; freeze the VM after a final epoch; send HANDOVER
 * (with `ret` = where this host will listen as the new backup, or NULL);
 * wait up to timeout_ms for READY; then send GO and return 0 — the VM must
 * never run here again (the caller stops it). On any failure the VM is
 * thawed and runs on here; the return is -errno and err says why.
 */
int replicator_handover(struct replicator *r, const char *ret_listen,
			int timeout_ms, char *err, size_t err_size);

/* Is it protected right now (a backup holds a full checkpoint)? */
bool replicator_protected(struct replicator *r);

/* The replication figures (ctl stats: "replication"). */
void replicator_report(struct replicator *r, struct report *rep);

#endif
