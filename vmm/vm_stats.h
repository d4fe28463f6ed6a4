/* SPDX-License-Identifier: MIT */
/*
 * Counters of one VM. Written by the vCPU thread, read by the control thread:
 * every field is updated with relaxed atomics and read the same way.
 */
#ifndef RRVM_VM_STATS_H
#define RRVM_VM_STATS_H

#include <stdint.h>

struct vm_stats {
	uint64_t start_ns; /* CLOCK_MONOTONIC at boot */
	uint64_t exits_total;
	uint64_t exits_io; /* all port-I/O exits (hypercalls) */
	uint64_t exits_wait; /* RRVM_HC_WAIT */
	uint64_t exits_console;
	uint64_t exits_other;
	uint64_t exits_interrupted; /* KVM_RUN returned EINTR (signal/kick) */
	uint64_t wait_blocked; /* waits that had to sleep */
	uint64_t rx_frames, rx_bytes, rx_dropped;
	uint64_t tx_frames, tx_bytes, tx_dropped;
	int state; /* enum vm_state */
};

enum vm_state { VM_STATE_BOOTING = 0, VM_STATE_RUNNING, VM_STATE_EXITED,
		VM_STATE_FAULTED };

#define stat_add(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define stat_inc(field) stat_add(field, 1)
#define stat_read(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define stat_set(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

static inline const char *vm_state_name(int state)
{
	switch (state) {
	case VM_STATE_BOOTING:
		return "booting";
	case VM_STATE_RUNNING:
		return "running";
	case VM_STATE_EXITED:
		return "exited";
	case VM_STATE_FAULTED:
		return "faulted";
	}
	return "unknown";
}

#endif
