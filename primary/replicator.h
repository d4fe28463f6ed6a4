/* SPDX-License-Identifier: MIT */
/*
 * The primary's replication engine: every epoch, pause the vCPU just long
 * enough to collect dirty pages and state, resume it, then encode the epoch
 * against the backup's copy and stream it; acks come back on the same link
 * and release held output. Losing the backup never stops the VM: it runs
 * unprotected (loudly) until a backup is back and fully resynchronised.
 */
#ifndef RRVM_REPLICATOR_H
#define RRVM_REPLICATOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/repl_protocol.h"
#include "netstate/guest_filter.h"
#include "primary/delta_cache.h"
#include "primary/output_policy.h"
#include "vmm/vm_snapshot.h"

struct vm;
struct transport;

struct replicator_stats {
	uint64_t epochs; /* sent */
	uint64_t full_epochs;
	uint64_t acked_epoch;
	uint64_t bytes_sent;
	uint64_t raw_bytes; /* pages * 4096 */
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
	uint64_t connects, disconnects;
	uint64_t heartbeats;
	int protected_now;
};

struct replicator {
	struct vm *vm;
	struct output_policy *policy;
	enum repl_mode mode;
	unsigned epoch_ms;
	unsigned heartbeat_ms;
	enum ckpt_compression compress; /* page encoding of every epoch */
	uint64_t delta_cache_bytes;	/* --delta-cache: bound of the cache */
	const char *backup_addr;
	uint64_t session;

	pthread_t epoch_thread;
	pthread_t ack_thread;
	pthread_t heartbeat_thread;
	bool heartbeat_running;
	bool ack_thread_running;
	volatile int stop;

	pthread_mutex_t send_lock; /* one message at a time on the link */
	struct transport *link; /* NULL while unprotected */
	volatile int link_broken; /* set by either thread on error */
	uint64_t last_send_ns;

	uint64_t epoch; /* last collected */
	bool need_full;
	/* What the backup holds, for the pages that fit: XOR deltas. */
	struct delta_cache cache;
	struct vm_snapshot snap;
	struct vm_precopy_plan precopy; /* early passes (two-phase) */
	struct replicator_stats stats;

	/*
	 * Reverse/naive modes: digests of the frames given to the guest since
	 * the last collect (vCPU thread only), and those of the epoch being
	 * sent (cut at the collect, also on the vCPU thread).
	 */
	uint64_t *rx_digests, *epoch_digests;
	size_t rx_count, rx_cap, epoch_count, epoch_cap;
	bool rx_incomplete, epoch_incomplete;
	/* Only frames the backup's capture would take are digested. */
	struct guest_filter rx_filter;
	bool rx_filter_on;
};

/* Install as the VM's vnic rx_observer (reverse and naive modes). */
void replicator_rx_observer(void *ctx, const uint8_t *frame, uint32_t len);

int replicator_start(struct replicator *r);
void replicator_stop(struct replicator *r);

/* replicator_stats.c: the collect (two-phase or not, pause vs early
 * copies) and delta-cache figures, as JSON members `"collect":{...},
 * "delta_cache":{...}` (no braces around them) or indented text lines. */
int replicator_render_collect(struct replicator *r, int json, char *buf,
			      size_t size);

#endif
