/* SPDX-License-Identifier: MIT */
/*
 * The backup -> live role change: build the VM from the committed checkpoint
 * (its image is already in our memory: adopted, not copied), give it a NIC
 * (the TAP, behind the replay of the logged client frames in reverse mode),
 * announce its IP/MAC with gratuitous ARP, and report every phase.
 *
 * Used by every path that makes a VM live from replicated state: failover
 * (the primary failed: the fence must succeed first, or no VM runs here),
 * and planned handovers (switchover, migration cutover: no fence, the old
 * side froze its VM and handed over).
 *
 *	takeover_prepare()   fence, restore, NIC (not yet attached)
 *	(the caller wraps the NIC, e.g. in an output policy)
 *	takeover_go_live()   attach, announce, start the reporter
 *	... the VM runs (vm_run) ...
 *	takeover_finish()    after the VM stopped: join our threads
 *	vm_destroy()
 *	takeover_free()      the replay state (after the NIC is gone)
 */
#ifndef RRVM_TAKEOVER_H
#define RRVM_TAKEOVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backup/replay_log.h"
#include "netstate/replay_gate.h"

struct replica;
struct reverse;
struct vm;
struct vnic_backend;
struct report;

enum takeover_reason {
	TAKEOVER_FAILOVER = 0, /* fence first */
	TAKEOVER_HANDOVER,     /* planned: switchover */
	TAKEOVER_MIGRATION,    /* planned: a live migration's cutover */
};

/* "failover", "handover", "migration" (reports, logs). */
const char *takeover_reason_name(enum takeover_reason reason);

struct takeover_config {
	const char *tap;
	const char *fence_cmd; /* /bin/sh -c; NULL = none (failover refuses
				  nothing: the operator chose no fence) */
	const char *announce_dev; /* NULL = the TAP's bridge */
	const char *report_path; /* JSON; NULL = log only */
	unsigned garp_count;
	unsigned garp_interval_ms;
	unsigned detect_timeout_ms; /* for the report */
	double detect_threshold_ms; /* the adaptive threshold at detection */
	const char *link_security; /* for the report */
};

struct takeover_times {
	uint64_t last_rx_ns, detected_ns, fenced_ns, restored_ns;
	uint64_t announced_ns, live_ns, first_frame_ns;
};

struct takeover {
	struct takeover_config cfg;
	enum takeover_reason reason;
	const char *detector; /* what decided it (backup_detector_name) */
	struct vm *vm;
	struct reverse *reverse; /* owned; NULL: nothing to replay */
	struct vnic_backend *replay_nic; /* the NIC while replaying */
	uint64_t committed_epoch;
	uint64_t log_frames_at_start;
	struct replay_trim_result settled; /* late frames, gaps at the end */

	struct takeover_times t;
	int fence_status;
	int announce_status;
	bool announce_async; /* every announcement from the thread */
	char announce_dev[64];
	char ip[32], mac[32];
	uint8_t announce_mac[6];
	uint32_t announce_ip;

	/* The reporter waits for the first frame (and the replay), then
	 * writes the report; stop ends its waits early. */
	pthread_t reporter, announcer;
	bool reporter_running, announcer_running;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool replay_audited;
	struct replay_audit audit; /* taken on the vCPU thread */
};

/*
 * Fence (failover only; a failing fence means no VM here: -EPERM), then
 * build `vm` from the committed state in replica (its image moves into the
 * VM). In reverse mode `reverse` (owned from now on, even on failure) holds
 * the log to replay: its capture is stopped and *nic is the replay NIC
 * around the TAP; else *nic is the TAP. The VM is not attached yet.
 * 0 or -errno (the VM is not built).
 */
int takeover_prepare(struct takeover *t, const struct takeover_config *cfg,
		     enum takeover_reason reason, const char *detector,
		     struct replica *replica, struct reverse *reverse,
		     uint64_t last_rx_ns, uint64_t detected_ns, struct vm *vm,
		     struct vnic_backend **nic);
/* Attach nic (owned by the VM from now on), announce, start reporting. */
int takeover_go_live(struct takeover *t, struct vnic_backend *nic);
/* The VM stopped (or is about to be destroyed): join our threads. */
void takeover_finish(struct takeover *t);
/* After vm_destroy: free the replay state. */
void takeover_free(struct takeover *t);

/* The report's fields (the log's text and the JSON file). */
void takeover_report(struct takeover *t, struct report *r);

#endif
