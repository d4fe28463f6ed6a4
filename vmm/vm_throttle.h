/* SPDX-License-Identifier: MIT */
/*
 * The vCPU throttle (auto-converge): the vCPU thread sleeps P % of every
 * 10 ms slice, so a guest that dirties memory faster than a migration can
 * send it slows down in proportion. Set from any thread at any time; 0
 * ends it at once (docs/migration.md).
 *
 * The share is kept over time, not per slice: each sleep is sized so that
 * the time slept since the throttle (or its percentage) was set is P % of
 * the time elapsed. A late wake-up or a slice that ran long on a busy host
 * is made up by the next sleeps instead of skewing the share.
 *
 * How the vCPU leaves KVM_RUN on time without an exit of its own: a
 * one-shot POSIX timer signals the vCPU thread (SIGEV_THREAD_ID, the kick
 * signal of vm_pause.c) when its running share of the slice is used. The
 * sleep itself waits on the request eventfd, so pause requests are served
 * during it and a change of the throttle wakes it.
 */
#ifndef RRVM_VM_THROTTLE_H
#define RRVM_VM_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct vm;

#define VM_THROTTLE_SLICE_NS 10000000ull /* QEMU's CPU_THROTTLE_TIMESLICE */
#define VM_THROTTLE_MAX	     99u

struct vm_throttle {
	unsigned percent; /* requested share of each slice slept; atomic */
	/* Counters, relaxed atomics (readable from any thread). */
	uint64_t slept_ns;
	uint64_t sleeps;
	uint64_t idle_ns; /* guest idle (WAIT) while throttled: counts too */
	/* vCPU thread only. */
	bool active;
	bool timer_created;
	timer_t timer;
	unsigned active_percent; /* the share the accounting below is for */
	uint64_t since_ns;	 /* CLOCK_MONOTONIC: accounting start */
	uint64_t owed_slept_ns;	 /* slept since since_ns */
	uint64_t run_until_ns;	 /* CLOCK_MONOTONIC: sleep from here */
	uint64_t armed_ns;	 /* what the timer is set for (0: disarmed) */
};

/* Any thread: sleep `percent` % (0..VM_THROTTLE_MAX) of every slice from
 * now on; 0 turns it off and wakes a sleeping vCPU. 0 or -EINVAL. */
int vm_throttle_set(struct vm *vm, unsigned percent);
unsigned vm_throttle_get(const struct vm *vm);
/* Total time the vCPU thread slept for the throttle, and the time the
 * guest idled in WAIT while throttled (which the throttle counts as
 * slept). */
uint64_t vm_throttle_slept_ns(const struct vm *vm);
uint64_t vm_throttle_idle_ns(const struct vm *vm);

/* vCPU thread, before each KVM_RUN (vm_run.c): sleeps if the running share
 * of the slice is used up; serves pause requests while it sleeps. */
void vm_throttle_point(struct vm *vm);
/* vCPU thread: the guest was idle (WAIT hypercall asleep) for ns. That
 * counts as throttled time: an idle guest dirties nothing. */
void vm_throttle_idle(struct vm *vm, uint64_t ns);
/* vCPU thread, when vm_run returns: the timer goes. */
void vm_throttle_exit(struct vm *vm);

#endif
