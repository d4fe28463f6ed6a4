/* SPDX-License-Identifier: MIT */
/*
 * Dirty pages = KVM's dirty log (guest writes) ∪ the monitor's own writes
 * into guest memory, which KVM cannot see (RX frames, ring indexes, clock,
 * hypercall results): vm_mark_dirty() records those in vm->monitor_dirty.
 *
 * Two ways to read KVM's log. Without manual protect, KVM_GET_DIRTY_LOG
 * fetches and re-protects every page in one step, so all of it has to
 * happen while the vCPU is stopped. With KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE
 * (enabled before the memory slot exists) GET only reads, and
 * KVM_CLEAR_DIRTY_LOG re-protects exactly the pages given: another thread
 * can take the pages dirtied so far while the guest runs and copy them
 * (vm_snapshot_precopy), because any write after the CLEAR is logged again.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/log.h"
#include "vmm/vm.h"

size_t vm_dirty_bitmap_words(const struct vm *vm)
{
	return (size_t)((vm->mem_size / RRVM_PAGE_SIZE + 63) / 64);
}

int vm_dirty_setup(struct vm *vm)
{
	struct kvm_enable_cap cap;
	const char *env = getenv("RRVM_DIRTY_LOG");
	int offered;

	vm->dirty_manual_protect = false;
	if (env && strcmp(env, "legacy") == 0)
		return 0;
	if (env && strcmp(env, "manual") != 0)
		log_warn("RRVM_DIRTY_LOG='%s' ignored (use manual or legacy)",
			 env);
	offered = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
			KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (offered <= 0 || !(offered & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		return 0;
	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
	/* Not INITIALLY_SET: the slot starts write-protected and clean, as
	 * without manual protect. */
	cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		log_warn("KVM offers manual dirty-log protect but enabling it "
			 "failed (%s): the whole collect stays in the pause",
			 strerror(errno));
		return 0;
	}
	vm->dirty_manual_protect = true;
	return 0;
}

const char *vm_dirty_log_mode(const struct vm *vm)
{
	return vm->dirty_manual_protect ? "manual-protect" : "get-clears";
}

static int dirty_log_get(struct vm *vm, uint64_t *bitmap)
{
	struct kvm_dirty_log log;

	memset(&log, 0, sizeof(log));
	log.slot = 0;
	log.dirty_bitmap = bitmap;
	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
		log_error("KVM_GET_DIRTY_LOG: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * Re-protect the pages set in bitmap. KVM wants first_page and num_pages
 * multiples of 64, or num_pages reaching the end of the slot: one call over
 * the whole words from the first to the last nonzero one.
 */
static int dirty_log_clear(struct vm *vm, uint64_t *bitmap)
{
	struct kvm_clear_dirty_log clear;
	size_t words = vm_dirty_bitmap_words(vm), first = 0, last = words;
	uint64_t pages = vm->mem_size / RRVM_PAGE_SIZE, end;

	while (first < words && !bitmap[first])
		first++;
	if (first == words)
		return 0;
	while (!bitmap[last - 1])
		last--;
	end = (uint64_t)last * 64;
	if (end > pages)
		end = pages;
	memset(&clear, 0, sizeof(clear));
	clear.slot = 0;
	clear.first_page = (uint64_t)first * 64;
	clear.num_pages = (uint32_t)(end - clear.first_page);
	clear.dirty_bitmap = bitmap + first;
	if (ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0) {
		log_error("KVM_CLEAR_DIRTY_LOG: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int vm_dirty_collect_guest(struct vm *vm, uint64_t *bitmap)
{
	int ret;

	if (!vm->dirty_manual_protect)
		return -EOPNOTSUPP;
	ret = dirty_log_get(vm, bitmap);
	if (ret)
		return ret;
	return dirty_log_clear(vm, bitmap);
}

int vm_dirty_collect(struct vm *vm, uint64_t *bitmap)
{
	size_t words = vm_dirty_bitmap_words(vm);
	int ret;

	/* Without manual protect the GET itself re-protects. */
	ret = vm->dirty_manual_protect ? vm_dirty_collect_guest(vm, bitmap)
				       : dirty_log_get(vm, bitmap);
	if (ret)
		return ret;
	for (size_t i = 0; i < words; i++) {
		bitmap[i] |= vm->monitor_dirty[i];
		vm->monitor_dirty[i] = 0;
	}
	return 0;
}

void vm_dirty_forget_monitor(struct vm *vm)
{
	memset(vm->monitor_dirty, 0,
	       vm_dirty_bitmap_words(vm) * sizeof(uint64_t));
}

int vm_dirty_claim(struct vm *vm, const char *owner)
{
	const char *none = NULL;

	return __atomic_compare_exchange_n(&vm->dirty_owner, &none, owner,
					   false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE)
		   ? 0
		   : -EBUSY;
}

void vm_dirty_release(struct vm *vm, const char *owner)
{
	const char *expected = owner;

	__atomic_compare_exchange_n(&vm->dirty_owner, &expected, NULL, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

const char *vm_dirty_owner(const struct vm *vm)
{
	return __atomic_load_n(&vm->dirty_owner, __ATOMIC_ACQUIRE);
}
