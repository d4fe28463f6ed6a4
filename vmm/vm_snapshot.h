/* SPDX-License-Identifier: MIT */
/*
 * A checkpoint in the monitor's memory: the pages collected for an epoch,
 * plus vCPU and device state. Collect is the only part that needs the vCPU
 * stopped (the "pause"); encoding and sending run after the guest has
 * resumed. With KVM's manual dirty-log protect the collect can be split in
 * two phases: early passes (vm_snapshot_precopy) copy the pages dirtied so
 * far while the guest runs, and the pause copies only what was dirtied
 * since (vm_precopy.c schedules the passes). Save files and the replication
 * stream both encode snapshots with the checkpoint codec
 * (vmm/ckpt_codec.h).
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
	size_t npages;	/* pages collected, each pfn once */
	uint64_t *pfns; /* in collection order (not sorted) */
	uint8_t *pages; /* npages * RRVM_PAGE_SIZE bytes, same order */
	struct vm_vcpu_state vcpu;
	struct vm_device_state device;

	/*
	 * Buffers sized for every page of guest RAM, mapped without backing:
	 * only the slots epochs have used are resident (vm_snapshot_trim
	 * gives them back).
	 */
	uint64_t mem_pages;
	size_t resident_pages;	/* slots touched since the last trim */
	uint64_t *dirty_bitmap; /* scratch for the dirty log */
	size_t dirty_words;
	uint64_t *in_epoch; /* bitmap: the pfn has a slot in this epoch */
	uint32_t *slot_of;  /* pfn -> index in pfns/pages, where in_epoch */
	bool open;	/* early passes have started filling the next epoch */
	bool open_full; /* ... a full one (vm_snapshot_precopy_full) */

	/* The last collect, ns: the pause is all of it. */
	uint64_t pause_ns;
	uint64_t dirty_log_ns;
	uint64_t copy_ns;
	uint64_t state_ns;
	size_t pause_pages; /* pages copied inside the pause */
	/* Early passes of the last epoch (two-phase collect). */
	unsigned early_passes;
	size_t early_copies; /* page copies (a page recopied counts again) */
	uint64_t early_ns;   /* in early passes, guest running */
};

void vm_snapshot_init(struct vm_snapshot *s);
void vm_snapshot_free(struct vm_snapshot *s);

/*
 * Collect a checkpoint; the vCPU must be stopped (call it through
 * vm_call_paused, or before/after vm_run). Incremental: the pages dirtied
 * since the previous collect; pages copied by early passes since then are
 * kept and only the pages dirtied after them (KVM's log and the monitor's
 * own writes) are copied now, over their earlier copies. Full: every
 * resident non-zero page (pages the guest never touched are not even read;
 * early copies are dropped), and the dirty log restarts.
 */
int vm_snapshot_collect(struct vm *vm, struct vm_snapshot *s, bool full);

/*
 * A full snapshot that leaves the dirty log alone (`ctl save`): a VM being
 * replicated keeps every dirty page for its replicator's next epoch. Same
 * rules as vm_snapshot_collect otherwise (vCPU stopped).
 */
int vm_snapshot_copy(struct vm *vm, struct vm_snapshot *s);

/*
 * One early pass of a two-phase collect, with the guest running: take the
 * pages the guest dirtied since the last pass or collect out of KVM's log
 * (re-protecting them) and copy them into s, opening the next epoch if
 * needed. A page written again afterwards is logged again and copied again
 * by the next pass or the pause. Call from any thread but the vCPU's, never
 * concurrently with a collect or another pass on the same VM. Returns the
 * pages copied (>= 0), -EOPNOTSUPP without manual dirty-log protect (s is
 * untouched), or -errno (nothing is lost: the log keeps what was not
 * cleared).
 */
long vm_snapshot_precopy(struct vm *vm, struct vm_snapshot *s);

/*
 * The early pass of a full checkpoint, with the guest running: restart
 * KVM's log, then copy every resident non-zero page. Later passes and the
 * pause copy what was written since, and the collect that ends this epoch
 * is full whatever it is asked. Same rules and returns as
 * vm_snapshot_precopy; after an error the next collect must be full.
 */
long vm_snapshot_precopy_full(struct vm *vm, struct vm_snapshot *s);

/*
 * End an epoch made only of early passes, without a pause: a live
 * migration's pre-copy round. s then holds the pages those passes copied
 * (s->full if they began with vm_snapshot_precopy_full) and no vCPU or
 * device state: encode it with vm_snapshot_encode_pages under a BEGIN with
 * CKPT_BEGIN_PAGES_ONLY. The next pass opens a new epoch; the monitor's
 * own writes stay recorded for the collect that ends the migration.
 */
void vm_snapshot_end_round(struct vm_snapshot *s);

/*
 * Give back the memory of staging slots beyond the first keep_pages (after
 * a big epoch, e.g. a full one, has been sent). The data is gone: call it
 * only when the snapshot's pages are no longer needed.
 */
void vm_snapshot_trim(struct vm_snapshot *s, size_t keep_pages);

/*
 * What the receiver holds for pfn, to encode an XOR delta against; NULL
 * when the sender does not know it exactly (the page then goes absolute:
 * ZERO, RAW, RLE or LZ4). Called for every page of an incremental epoch, in
 * order; never for a full one.
 */
typedef const uint8_t *(*vm_snapshot_base_fn)(void *ctx, uint64_t pfn);
/* A base_fn for a receiver image kept whole in memory: ctx is the image. */
const uint8_t *vm_snapshot_image_base(void *image, uint64_t pfn);

/*
 * Encode as one checkpoint epoch (BEGIN, PAGES…, VCPU, DEVICE, END). For
 * an incremental snapshot, base_fn(base_ctx, pfn) gives each page's base
 * (base_fn NULL: every page absolute); a full snapshot has none (the
 * receiver starts from zeros).
 */
int vm_snapshot_encode(const struct vm_snapshot *s, uint64_t mem_size,
		       vm_snapshot_base_fn base_fn, void *base_ctx,
		       enum ckpt_compression mode, struct ckpt_buf *out,
		       struct ckpt_encode_stats *stats);

/*
 * One PAGES message of s's pages [first, first + n), n at most
 * CKPT_MAX_PAGES_PER_MSG, each page against base_fn's base as in
 * vm_snapshot_encode (none for a full snapshot): for senders that stream
 * an epoch in pieces (a migration's pre-copy rounds).
 */
int vm_snapshot_encode_pages(const struct vm_snapshot *s, size_t first,
			     size_t n, vm_snapshot_base_fn base_fn,
			     void *base_ctx, enum ckpt_compression mode,
			     struct ckpt_buf *out,
			     struct ckpt_encode_stats *stats);

/* Encode a full snapshot and write it to `path` atomically (tmp + rename);
 * the VM may be running (the snapshot is a copy). */
int vm_snapshot_write_file(const struct vm_snapshot *snap, uint64_t mem_size,
			   const char *path, struct ckpt_encode_stats *stats);
/* vm_snapshot_encode with extra whole messages (types >= 64) placed before
 * END, so they commit or vanish with the epoch. */
int vm_snapshot_encode_with(const struct vm_snapshot *s, uint64_t mem_size,
			    vm_snapshot_base_fn base_fn, void *base_ctx,
			    enum ckpt_compression mode,
			    const struct ckpt_buf *extra, struct ckpt_buf *out,
			    struct ckpt_encode_stats *stats);

/*
 * vm_precopy.c: when the early passes of an epoch run. The passes start
 * `lead_ns` before the epoch's deadline (the pause); lead adapts to how
 * long the passes took, so they end shortly before the deadline and the
 * pause only copies what the guest wrote in the last moments.
 */
struct vm_precopy_plan {
	uint64_t lead_ns;
};

void vm_precopy_plan_init(struct vm_precopy_plan *p, uint64_t interval_ns);
/* When to start the early passes of the epoch ending at deadline_ns. */
uint64_t vm_precopy_start(const struct vm_precopy_plan *p,
			  uint64_t deadline_ns);
/*
 * Run the early passes of the epoch ending at deadline_ns (call at
 * vm_precopy_start): bulk passes while they shrink, then, if time is left,
 * one last pass just before the deadline; returns at about the deadline,
 * and the caller then pauses (vm_snapshot_collect). 0, -EOPNOTSUPP without
 * manual dirty-log protect (nothing done: collect all in the pause) or
 * -errno from a pass (nothing lost either).
 */
int vm_precopy_run(struct vm *vm, struct vm_snapshot *s,
		   struct vm_precopy_plan *p, uint64_t deadline_ns,
		   uint64_t interval_ns);
/*
 * The early passes of a full checkpoint, now: the full copy, then bulk
 * passes while they shrink; the caller pauses right after
 * (vm_snapshot_collect, full). Returns as vm_precopy_run; after an error
 * the collect must be full (it then copies everything in the pause).
 */
int vm_precopy_full(struct vm *vm, struct vm_snapshot *s);

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
