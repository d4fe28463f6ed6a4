/* SPDX-License-Identifier: MIT */
/*
 * Virtual NIC ring, shared between guest and monitor (docs/hypercall-abi.md).
 *
 * A single-producer/single-consumer ring of fixed-size frame slots placed in
 * guest memory. Indexes are free-running 32-bit counters; the slot is
 * index & (slots - 1). RX: monitor produces, guest consumes. TX: the reverse.
 * All addresses inside the ring are offsets from the ring header, so the same
 * code works from the guest (identity map) and the monitor (its own mapping).
 * Freestanding: used by guest/, vmm/ and unit tests.
 */
#ifndef RRVM_VNIC_RING_H
#define RRVM_VNIC_RING_H

#include <stdbool.h>
#include <stdint.h>

#define RRVM_VNIC_SLOTS 256 /* per ring, power of two */
#define RRVM_VNIC_SLOT_SIZE 2048 /* bytes per slot; frames up to 1514 + slack */
#define RRVM_VNIC_MAX_FRAME 1518

struct rrvm_vnic_desc {
	uint32_t len;
	uint32_t flags;
};

struct rrvm_vnic_ring {
	/* Producer and consumer on separate cache lines. */
	volatile uint32_t head; /* next slot the producer fills */
	uint32_t pad0[15];
	volatile uint32_t tail; /* next slot the consumer reads */
	uint32_t pad1[15];
	uint32_t slots;
	uint32_t slot_size;
	uint32_t data_offset; /* from the ring header to slot 0's data */
	uint32_t dropped; /* producer-side drops (ring full, oversize) */
	struct rrvm_vnic_desc desc[];
};

/* Bytes one ring occupies in guest memory, header + descriptors + data. */
#define RRVM_VNIC_RING_DATA_OFFSET 4096u
#define RRVM_VNIC_RING_BYTES \
	(RRVM_VNIC_RING_DATA_OFFSET + RRVM_VNIC_SLOTS * RRVM_VNIC_SLOT_SIZE)

#define vnic_barrier() __asm__ __volatile__("" ::: "memory")

static inline void vnic_ring_init(struct rrvm_vnic_ring *r, uint32_t slots,
				  uint32_t slot_size, uint32_t data_offset)
{
	r->head = 0;
	r->tail = 0;
	r->slots = slots;
	r->slot_size = slot_size;
	r->data_offset = data_offset;
	r->dropped = 0;
}

/* A ring header is trusted by neither side: check it before use. */
static inline bool vnic_ring_valid(const struct rrvm_vnic_ring *r,
				   uint64_t ring_bytes)
{
	uint64_t need;

	if (r->slots == 0 || (r->slots & (r->slots - 1)) != 0)
		return false;
	if (r->slot_size < RRVM_VNIC_MAX_FRAME)
		return false;
	if ((uint64_t)sizeof(*r) + (uint64_t)r->slots * sizeof(r->desc[0]) >
	    r->data_offset)
		return false;
	need = (uint64_t)r->data_offset + (uint64_t)r->slots * r->slot_size;
	return need <= ring_bytes;
}

static inline uint32_t vnic_ring_used(const struct rrvm_vnic_ring *r)
{
	return r->head - r->tail;
}

static inline bool vnic_ring_empty(const struct rrvm_vnic_ring *r)
{
	return r->head == r->tail;
}

static inline bool vnic_ring_full(const struct rrvm_vnic_ring *r)
{
	/* A corrupted pair (used > slots) also counts as full: never overwrite. */
	return vnic_ring_used(r) >= r->slots;
}

static inline uint8_t *vnic_ring_slot(struct rrvm_vnic_ring *r, uint32_t index)
{
	return (uint8_t *)r + r->data_offset +
	       (uint64_t)(index & (r->slots - 1)) * r->slot_size;
}

static inline struct rrvm_vnic_desc *vnic_ring_desc(struct rrvm_vnic_ring *r,
						    uint32_t index)
{
	return &r->desc[index & (r->slots - 1)];
}

/*
 * Producer: copy one frame in. Returns false (and counts a drop) if the ring
 * is full or the frame does not fit a slot.
 */
static inline bool vnic_ring_push(struct rrvm_vnic_ring *r, const void *frame,
				  uint32_t len)
{
	uint32_t head = r->head;
	uint8_t *dst;
	const uint8_t *src = (const uint8_t *)frame;
	uint32_t i;

	if (len > r->slot_size || vnic_ring_full(r)) {
		r->dropped++;
		return false;
	}
	dst = vnic_ring_slot(r, head);
	for (i = 0; i < len; i++)
		dst[i] = src[i];
	vnic_ring_desc(r, head)->len = len;
	vnic_ring_desc(r, head)->flags = 0;
	vnic_barrier();
	r->head = head + 1;
	return true;
}

/*
 * Consumer: the frame at the tail, or NULL if empty. *len is clamped to the
 * slot size so a corrupted descriptor cannot make the reader overrun.
 */
static inline uint8_t *vnic_ring_peek(struct rrvm_vnic_ring *r, uint32_t *len)
{
	uint32_t tail = r->tail;
	uint32_t l;

	if (vnic_ring_empty(r))
		return 0;
	vnic_barrier();
	l = vnic_ring_desc(r, tail)->len;
	*len = l > r->slot_size ? r->slot_size : l;
	return vnic_ring_slot(r, tail);
}

static inline void vnic_ring_pop(struct rrvm_vnic_ring *r)
{
	vnic_barrier();
	r->tail = r->tail + 1;
}

#endif
