/* SPDX-License-Identifier: MIT */
/*
 * The guest clock: nanoseconds since boot, derived from the guest's TSC with
 * parameters the monitor writes into the boot-info page (struct rrvm_clock).
 * The guest reads it without an exit; the monitor evaluates the same formula
 * to turn a guest deadline into a host timeout.
 */
#ifndef RRVM_VM_CLOCK_H
#define RRVM_VM_CLOCK_H

#include <stdint.h>

#include "rrvm/boot_info.h"

struct vm_clock {
	uint64_t tsc_hz;
	/* guest TSC = host TSC + tsc_offset (two's complement) */
	uint64_t tsc_offset;
	struct rrvm_clock params; /* what the guest sees */
};

/* mul/shift such that ns = (ticks * mul) >> shift, for a TSC of tsc_hz. */
void vm_clock_compute_scale(uint64_t tsc_hz, uint64_t *mul, uint32_t *shift);
/* Guest ns for a guest TSC value under params. */
uint64_t vm_clock_ns(const struct rrvm_clock *params, uint64_t guest_tsc);
/* Host rdtsc. */
uint64_t vm_clock_host_tsc(void);

struct vm;
/* Measure the TSC rate and offset; start guest time at `guest_ns`. */
int vm_clock_init(struct vm *vm, uint64_t guest_ns);
/* Publish params into the boot-info page (seqlock-style). */
void vm_clock_publish(struct vm *vm);
/* The guest's current time as the monitor computes it. */
uint64_t vm_clock_guest_now(const struct vm *vm);

#endif
