/* SPDX-License-Identifier: MIT */
/*
 * Frames between the guest rings and the backend. Everything here runs on the
 * vCPU thread while the guest is stopped in a wait hypercall.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "vmm/vm.h"
#include "vmm/vnic.h"

int vnic_init(struct vm *vm, struct vnic_backend *backend, uint64_t rx_gpa,
	      uint64_t tx_gpa, uint64_t ring_bytes, bool init_rings)
{
	struct vnic *nic = &vm->vnic;

	nic->rx = vm_gpa_to_host(vm, rx_gpa, ring_bytes);
	nic->tx = vm_gpa_to_host(vm, tx_gpa, ring_bytes);
	if (!nic->rx || !nic->tx)
		return -ENOMEM;
	nic->rx_gpa = rx_gpa;
	nic->tx_gpa = tx_gpa;
	nic->ring_bytes = ring_bytes;
	nic->backend = backend;
	if (!init_rings)
		return 0;
	vnic_ring_init(nic->rx, RRVM_VNIC_SLOTS, RRVM_VNIC_SLOT_SIZE,
		       RRVM_VNIC_RING_DATA_OFFSET);
	vnic_ring_init(nic->tx, RRVM_VNIC_SLOTS, RRVM_VNIC_SLOT_SIZE,
		       RRVM_VNIC_RING_DATA_OFFSET);
	vm_mark_dirty(vm, rx_gpa, RRVM_VNIC_RING_DATA_OFFSET);
	vm_mark_dirty(vm, tx_gpa, RRVM_VNIC_RING_DATA_OFFSET);
	return 0;
}

void vnic_destroy(struct vm *vm)
{
	struct vnic *nic = &vm->vnic;

	if (nic->backend)
		nic->backend->ops->destroy(nic->backend);
	nic->backend = NULL;
}

/*
 * The guest owns the ring headers too, so a buggy guest could have scribbled
 * over them; validate before trusting any index.
 */
static int vnic_check_ring(struct vnic *nic, struct rrvm_vnic_ring *ring,
			   const char *which)
{
	if (!vnic_ring_valid(ring, nic->ring_bytes)) {
		log_error("vnic: %s ring header corrupted by the guest "
			  "(slots=%u slot_size=%u data_offset=%u)",
			  which, ring->slots, ring->slot_size,
			  ring->data_offset);
		return -EINVAL;
	}
	return 0;
}

int vnic_flush_tx(struct vm *vm)
{
	struct vnic *nic = &vm->vnic;
	struct rrvm_vnic_ring *tx = nic->tx;
	uint32_t len;
	uint8_t *frame;
	int sent = 0;
	int ret;

	ret = vnic_check_ring(nic, tx, "TX");
	if (ret)
		return ret;
	if (vnic_ring_used(tx) > tx->slots) {
		log_error("vnic: TX ring indexes corrupted (head=%u tail=%u)",
			  tx->head, tx->tail);
		return -EINVAL;
	}
	while ((frame = vnic_ring_peek(tx, &len)) != NULL) {
		if (len < 14 || len > RRVM_VNIC_MAX_FRAME) {
			stat_inc(vm->stats.tx_dropped);
		} else if (nic->backend->ops->send(nic->backend, frame, len)) {
			stat_inc(vm->stats.tx_dropped);
		} else {
			stat_inc(vm->stats.tx_frames);
			stat_add(vm->stats.tx_bytes, len);
			sent++;
		}
		vnic_ring_pop(tx);
	}
	/* The tail index lives in guest memory: the checkpoint must see it. */
	if (sent)
		vm_mark_dirty(vm, nic->tx_gpa, sizeof(*tx));
	return sent;
}

static void vnic_mark_rx_slot(struct vm *vm, uint32_t index, uint32_t len)
{
	struct vnic *nic = &vm->vnic;
	uint64_t offset =
	    (uint64_t)(index & (nic->rx->slots - 1)) * nic->rx->slot_size;

	vm_mark_dirty(vm, nic->rx_gpa + nic->rx->data_offset + offset, len);
}

int vnic_fill_rx(struct vm *vm)
{
	struct vnic *nic = &vm->vnic;
	struct rrvm_vnic_ring *rx = nic->rx;
	int moved = 0;
	ssize_t n;
	int ret;

	ret = vnic_check_ring(nic, rx, "RX");
	if (ret)
		return ret;
	while (!vnic_ring_full(rx)) {
		uint32_t head = rx->head;

		/*
		 * Receive straight into the free slot (no bounce copy); a
		 * frame is only taken from the backend when a slot is free,
		 * so the kernel queue holds the rest.
		 */
		n = nic->backend->ops->receive(
		    nic->backend, vnic_ring_slot(rx, head), rx->slot_size);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			log_warn("vnic: receive failed: %s", strerror((int)-n));
			break;
		}
		if (n > RRVM_VNIC_MAX_FRAME || n < 14) {
			stat_inc(vm->stats.rx_dropped);
			continue;
		}
		vnic_ring_desc(rx, head)->len = (uint32_t)n;
		vnic_ring_desc(rx, head)->flags = 0;
		vnic_barrier();
		rx->head = head + 1;
		if (nic->rx_observer)
			nic->rx_observer(nic->rx_observer_ctx,
					 vnic_ring_slot(rx, head), (uint32_t)n);
		vnic_mark_rx_slot(vm, head, (uint32_t)n);
		stat_inc(vm->stats.rx_frames);
		stat_add(vm->stats.rx_bytes, (uint64_t)n);
		moved++;
	}
	if (moved)
		vm_mark_dirty(vm, nic->rx_gpa, RRVM_VNIC_RING_DATA_OFFSET);
	return moved;
}
