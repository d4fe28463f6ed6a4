/* SPDX-License-Identifier: MIT */
/*
 * Dirty pages = KVM's dirty log (guest writes) ∪ the monitor's own writes
 * into guest memory, which KVM cannot see (RX frames, ring indexes, clock,
 * hypercall results): vm_mark_dirty() records those in vm->monitor_dirty.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/log.h"
#include "vmm/vm.h"

size_t vm_dirty_bitmap_words(const struct vm *vm)
{
	return (size_t)((vm->mem_size / 4096 + 63) / 64);
}

int vm_dirty_collect(struct vm *vm, uint64_t *bitmap)
{
	struct kvm_dirty_log log;
	size_t words = vm_dirty_bitmap_words(vm);

	memset(&log, 0, sizeof(log));
	log.slot = 0;
	log.dirty_bitmap = bitmap;
	/* Fetches and re-protects in one step (no manual-protect mode). */
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		log_error("KVM_GET_DIRTY_LOG: %s", strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < words; i++) {
		bitmap[i] |= vm->monitor_dirty[i];
		vm->monitor_dirty[i] = 0;
	}
	return 0;
}
