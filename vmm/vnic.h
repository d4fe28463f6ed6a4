/* SPDX-License-Identifier: MIT */
/*
 * Host side of the virtual NIC: moves frames between the guest's RX/TX rings
 * and a backend (a TAP device today; later issues add others). Rings are only
 * touched while the vCPU is stopped in a wait hypercall, so there is no
 * concurrency with the guest.
 */
#ifndef RRVM_VNIC_H
#define RRVM_VNIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rrvm/vnic_ring.h"

struct vnic_backend;

struct vnic_backend_ops {
	const char *name;
	/* Send one frame. 0, or -errno (the frame is dropped and counted). */
	int (*send)(struct vnic_backend *backend, const void *frame, size_t len);
	/* Receive one frame: its length, -EAGAIN if none is pending, or -errno. */
	ssize_t (*receive)(struct vnic_backend *backend, void *buf, size_t cap);
	/* A file descriptor that polls readable when a frame is pending. */
	int (*poll_fd)(struct vnic_backend *backend);
	void (*destroy)(struct vnic_backend *backend);
};

struct vnic_backend {
	const struct vnic_backend_ops *ops;
};

struct vm;

struct vnic {
	struct vnic_backend *backend;
	struct rrvm_vnic_ring *rx; /* host pointers into guest memory */
	struct rrvm_vnic_ring *tx;
	uint64_t rx_gpa, tx_gpa;
	uint64_t ring_bytes;
	/*
	 * Optional: told about every frame as it enters the guest's RX ring
	 * (vCPU thread). The primary digests them: in reverse mode each
	 * checkpoint says which client frames the guest had been given.
	 */
	void (*rx_observer)(void *ctx, const uint8_t *frame, uint32_t len);
	void *rx_observer_ctx;
};

/*
 * Attach the rings in guest memory and take ownership of the backend.
 * init_rings: lay the rings out fresh (boot) or keep them as they are in
 * guest memory (restore: indexes and queued frames are part of the state).
 */
int vnic_init(struct vm *vm, struct vnic_backend *backend, uint64_t rx_gpa,
	      uint64_t tx_gpa, uint64_t ring_bytes, bool init_rings);
void vnic_destroy(struct vm *vm);

/* Send every frame the guest queued on TX. Returns frames sent or -errno. */
int vnic_flush_tx(struct vm *vm);
/* Move pending backend frames into RX until it is full. Frames moved. */
int vnic_fill_rx(struct vm *vm);

/* tap.c: open an existing TAP interface in this network namespace. */
int tap_backend_open(const char *ifname, struct vnic_backend **out);

#endif
