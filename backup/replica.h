/* SPDX-License-Identifier: MIT */
/*
 * The backup's copy of the protected VM: the last committed checkpoint
 * (guest memory image + vCPU and device state) and the epoch being received.
 * An epoch is staged as it arrives and applied only when its END arrives
 * intact: a corrupt or truncated epoch is discarded and the committed image
 * is untouched. No KVM here, so it is unit-tested on its own.
 */
#ifndef RRVM_REPLICA_H
#define RRVM_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/ckpt_codec.h"
#include "vmm/vm_state.h"

struct replica {
	uint64_t mem_size;
	uint8_t *image; /* committed guest memory (mmap) */
	/* image holds a full base (a full epoch was committed), so
	 * incremental epochs can follow; after a pages-only epoch (live
	 * migration's pre-copy) it may be ahead of vcpu/device. */
	bool have_image;
	bool committed; /* image/vcpu/device hold one consistent checkpoint */
	uint64_t committed_epoch;
	bool committed_full; /* the last committed epoch was a full one */
	struct vm_vcpu_state vcpu;
	struct vm_device_state device;

	/* The epoch in flight. */
	bool staging;
	bool staging_full;
	bool staging_pages_only; /* CKPT_BEGIN_PAGES_ONLY: no state */
	uint64_t staging_epoch;
	uint8_t *full_image; /* a full epoch decodes into a fresh image */
	uint64_t *staged_pfns;
	uint8_t *staged_pages;
	size_t staged_count, staged_cap;
	uint64_t *staged_bitmap; /* duplicate pfn detection */
	struct vm_vcpu_state staged_vcpu;
	struct vm_device_state staged_device;
	bool staged_have_vcpu, staged_have_device;

	/*
	 * Several streams into one epoch (a migration's channels,
	 * replica_stream_message): which streams the epoch in flight has,
	 * which began and which ended their part (bit per stream).
	 */
	unsigned streams; /* 1 unless replica_set_streams said more */
	uint32_t streams_expected, streams_begun, streams_ended;
	uint32_t staging_flags; /* the first BEGIN's, the others must match */

	/* Counters. */
	uint64_t epochs_committed;
	uint64_t epochs_rejected;
	uint64_t pages_committed;
	char err[200]; /* after a rejection: why (the precise reason) */
};

void replica_init(struct replica *r);
void replica_free(struct replica *r);

/*
 * Feed one decoded checkpoint message (types 1-5). Returns 1 when an epoch
 * was committed (END), 0 to go on, or -errno when the epoch is rejected
 * (err says why; staging is discarded; the committed image is unchanged):
 * -EPROTONOSUPPORT when a VCPU or DEVICE record comes from an incompatible
 * rrvm build, else -EPROTO, -ENOMEM, -ENOSPC.
 * A pages-only epoch (CKPT_BEGIN_PAGES_ONLY, a migration's pre-copy round)
 * commits its pages into the image but leaves `committed` false: the image
 * is ahead of the state until an epoch with state commits.
 */
int replica_message(struct replica *r, const struct ckpt_msg *msg);

/*
 * A live migration's channels: streams 0..n-1 (n 1..REPLICA_MAX_STREAMS)
 * each carry their own part of a pre-copy round ("BEGIN r, PAGES..., END
 * r", each stream a grammar of its own); the round commits when every
 * stream's END r arrived, and not before. An epoch with state (the final
 * one) comes on stream 0 alone. A stream that begins an epoch while
 * another is in flight, twice, or has no part in it is rejected like a
 * corrupt epoch; so is a page that two streams both carry. 0 or -EINVAL
 * (n out of range), -EBUSY (an epoch in flight).
 */
#define REPLICA_MAX_STREAMS 32u
int replica_set_streams(struct replica *r, unsigned n);
/* replica_message for stream (< the count set; replica_message is stream
 * 0 of 1): 1 when the epoch committed, 0 to go on, -errno rejected. */
int replica_stream_message(struct replica *r, unsigned stream,
			   const struct ckpt_msg *msg);

/* Drop a partially received epoch (link lost mid-epoch). */
void replica_abort_epoch(struct replica *r);

/*
 * Hand the committed image over (to become the restored VM's memory).
 * The replica no longer owns it afterwards.
 */
uint8_t *replica_take_image(struct replica *r);

#endif
