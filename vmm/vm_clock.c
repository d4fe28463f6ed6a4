/* SPDX-License-Identifier: MIT */
#include "vmm/vm_clock.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/vm.h"

#define MSR_IA32_TSC 0x10

uint64_t vm_clock_host_tsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

void vm_clock_compute_scale(uint64_t tsc_hz, uint64_t *mul, uint32_t *shift)
{
	/* 2^32 * 1e9 / hz fits 64 bits for any TSC above ~0.25 Hz. */
	*shift = 32;
	*mul = (uint64_t)(((unsigned __int128)1000000000u << 32) / tsc_hz);
}

uint64_t vm_clock_ns(const struct rrvm_clock *params, uint64_t guest_tsc)
{
	uint64_t delta = guest_tsc - params->tsc_base;

	/* A TSC behind the base (another host, not yet rebased) reads as 0. */
	if ((int64_t)delta < 0)
		delta = 0;
	return params->ns_base +
	       (uint64_t)(((unsigned __int128)delta * params->mul) >>
			  params->shift);
}

/* KVM reports the guest TSC rate; fall back to measuring the host's. */
static uint64_t measure_tsc_hz(struct vm *vm)
{
	int khz = ioctl(vm->vcpu_fd, KVM_GET_TSC_KHZ);
	uint64_t t0, c0, t1, c1;
	struct timespec pause = {0, 20 * 1000 * 1000};

	if (khz > 0)
		return (uint64_t)khz * 1000u;
	t0 = clock_mono_ns();
	c0 = vm_clock_host_tsc();
	nanosleep(&pause, NULL);
	t1 = clock_mono_ns();
	c1 = vm_clock_host_tsc();
	return (uint64_t)((unsigned __int128)(c1 - c0) * 1000000000u /
			  (t1 - t0));
}

/* The guest's TSC relative to ours, so we can evaluate guest deadlines. */
static uint64_t measure_tsc_offset(struct vm *vm)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs;
	uint64_t before, after;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 1;
	msrs.entry.index = MSR_IA32_TSC;
	before = vm_clock_host_tsc();
	if (ioctl(vm->vcpu_fd, KVM_GET_MSRS, &msrs) != 1)
		return 0;
	after = vm_clock_host_tsc();
	return msrs.entry.data - (before + (after - before) / 2);
}

int vm_clock_init(struct vm *vm, uint64_t guest_ns)
{
	struct vm_clock *clock = &vm->clock;

	clock->tsc_hz = measure_tsc_hz(vm);
	if (clock->tsc_hz == 0)
		return -EIO;
	clock->tsc_offset = measure_tsc_offset(vm);
	vm_clock_compute_scale(clock->tsc_hz, &clock->params.mul,
			       &clock->params.shift);
	clock->params.tsc_base = vm_clock_host_tsc() + clock->tsc_offset;
	clock->params.ns_base = guest_ns;
	log_debug("clock: TSC %llu Hz, guest offset %lld",
		  (unsigned long long)clock->tsc_hz,
		  (long long)clock->tsc_offset);
	vm_clock_publish(vm);
	return 0;
}

void vm_clock_publish(struct vm *vm)
{
	struct rrvm_clock *dst = &vm->boot_info->clock;
	const struct rrvm_clock *src = &vm->clock.params;

	/* Only written while the vCPU is stopped; the sequence is for restore.
	 */
	dst->sequence = dst->sequence | 1;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	dst->shift = src->shift;
	dst->mul = src->mul;
	dst->tsc_base = src->tsc_base;
	dst->ns_base = src->ns_base;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	dst->sequence = dst->sequence + 1;
	vm_mark_dirty(vm, RRVM_GPA_BOOT_INFO, sizeof(struct rrvm_boot_info));
}

uint64_t vm_clock_guest_now(const struct vm *vm)
{
	return vm_clock_ns(&vm->clock.params,
			   vm_clock_host_tsc() + vm->clock.tsc_offset);
}
