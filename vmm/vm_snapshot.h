/* SPDX-License-Identifier: MIT */
/*
 * A checkpoint in the monitor's memory: the pages collected while the vCPU
 * was stopped, plus vCPU and device state. Collect is the only part that
 * needs the vCPU stopped (the "pause"); encoding and sending run after the
 * guest has resumed. Save files and the replication stream both encode
 * snapshots with the checkpoint codec (vmm/ckpt_codec.h).
 */
#ifndef RRVM_VM_SNAPSHOT_H
#define RRVM_VM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/ckpt_codec.h"
#include "vmm/vm_state.h"

struct vm;

struct vm_snapshot {
	uint64_t epoch;
	bool full; /* every non-zero resident page, relative to zero memory */
	size_t npages; /* pages collected */
	size_t capacity; /* pages the buffers can hold */
	uint64_t *pfns; /* ascending */
	uint8_t *pages; /* npages * 4096 bytes, same order */
	struct vm_vcpu_state vcpu;
	struct vm_device_state device;
	uint64_t *dirty_bitmap; /* scratch for vm_dirty_collect */
	size_t dirty_words;
	/* Timing of the last collect, ns (the pause is all of it). */
	uint64_t pause_ns;
	uint64_t dirty_log_ns;
	uint64_t copy_ns;
	uint64_t state_ns;
};

void vm_snapshot_init(struct vm_snapshot *s);
void vm_snapshot_free(struct vm_snapshot *s);

/*
 * Collect a checkpoint; the vCPU must be stopped (call it through
 * vm_call_paused, or before/after vm_run). Incremental: the pages dirtied
 * since the previous collect. Full: every resident non-zero page (pages the
 * guest never touched are not even read), and the dirty log restarts.
 */
int vm_snapshot_collect(struct vm *vm, struct vm_snapshot *s, bool full);

/*
 * Encode as one checkpoint epoch (BEGIN, PAGES…, VCPU, DEVICE, END).
 * `base` is the receiver's copy of guest memory to delta against (NULL for
 * a full snapshot: the receiver starts from zeros).
 */
int vm_snapshot_encode(const struct vm_snapshot *s, uint64_t mem_size,
		       const uint8_t *base, enum ckpt_compression mode,
		       struct ckpt_buf *out, struct ckpt_encode_stats *stats);

/* Encode a full snapshot and write it to `path` atomically (tmp + rename);
 * the VM may be running (the snapshot is a copy). */
int vm_snapshot_write_file(const struct vm_snapshot *snap, uint64_t mem_size,
			   const char *path, struct ckpt_encode_stats *stats);
/* vm_snapshot_encode with extra whole messages (types >= 64) placed before
 * END, so they commit or vanish with the epoch. */
int vm_snapshot_encode_with(const struct vm_snapshot *s, uint64_t mem_size,
			    const uint8_t *base, enum ckpt_compression mode,
			    const struct ckpt_buf *extra, struct ckpt_buf *out,
			    struct ckpt_encode_stats *stats);

/*
 * vm_restore.c: build a VM from a full checkpoint stream (a save file). The
 * whole stream is validated before the VM is usable; on error everything is
 * torn down and err says what was wrong. The NIC is attached afterwards with
 * vm_restore_attach (so a bad file never touches the network).
 */
int vm_restore_load(struct vm *vm, const uint8_t *data, size_t len,
		    char *err, size_t err_size);
struct vnic_backend;
int vm_restore_attach(struct vm *vm, struct vnic_backend *backend);

/*
 * Build a runnable VM around a committed memory image and state (the
 * backup's failover: the image is already in memory, nothing is copied).
 * The VM owns `image` from this call on, even on failure.
 */
int vm_restore_from_image(struct vm *vm, uint8_t *image, uint64_t mem_size,
			  const struct vm_vcpu_state *vcpu,
			  const struct vm_device_state *device, char *err,
			  size_t err_size);

#endif
