/* SPDX-License-Identifier: MIT */
/*
 * What happens to a frame the guest transmits: released at once (reverse,
 * naive, none) or held until the backup has committed the checkpoint that
 * produced it (buffered, i.e. Remus). The policy wraps the real NIC backend
 * (a TAP), so the VM just sees a vnic_backend; the primary's epoch loop calls
 * the hooks, in the style of Remus's per-device checkpoint callbacks.
 */
#ifndef RRVM_OUTPUT_POLICY_H
#define RRVM_OUTPUT_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/vnic.h"

struct output_policy;

struct output_policy_ops {
	const char *name;
	/* A guest frame to send (vCPU thread). 0 or -errno (dropped). */
	int (*frame)(struct output_policy *p, const void *frame, size_t len);
	/* Checkpoint `epoch` was collected; later frames belong to epoch+1.
	 * Called with the vCPU stopped. */
	void (*collected)(struct output_policy *p, uint64_t epoch);
	/* The backup committed `epoch` (ack thread). */
	void (*acked)(struct output_policy *p, uint64_t epoch);
	/* The backup is gone (or came back): stop/start protecting. Losing
	 * the backup releases everything held: nobody will ever ack it. */
	void (*protection)(struct output_policy *p, bool on);
	void (*destroy)(struct output_policy *p);
};

struct output_policy_stats {
	uint64_t released; /* frames sent */
	uint64_t held_now; /* frames waiting for an ack */
	uint64_t held_bytes_now;
	uint64_t dropped; /* over the hold limit */
	uint64_t max_hold_ns; /* longest a frame waited */
	uint64_t total_hold_ns;
	uint64_t held_total; /* frames that waited */
};

struct output_policy {
	struct vnic_backend backend; /* what the VM sees; must be first */
	const struct output_policy_ops *ops;
	struct vnic_backend *inner; /* the TAP */
	struct output_policy_stats stats;
};

/* Frames held at most (buffered); beyond it new frames are dropped and
 * counted, TCP retransmits them. */
#define OUTPUT_HOLD_LIMIT_BYTES (64u << 20)

/* The vnic_backend face of every policy (output_release.c). */
extern const struct vnic_backend_ops output_policy_backend_ops;

int output_release_create(struct vnic_backend *inner,
			  struct output_policy **out);
int output_buffer_create(struct vnic_backend *inner,
			 struct output_policy **out);

#endif
