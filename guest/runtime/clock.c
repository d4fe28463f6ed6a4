/* SPDX-License-Identifier: MIT */
/*
 * Guest time without exits: rdtsc (native at CPL3 here) scaled by parameters
 * the monitor keeps in the boot-info page. The monitor may rewrite them while
 * we are stopped (restore on another host); the sequence counter makes a read
 * that raced such a rewrite retry.
 */
#include "runtime.h"

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

uint64_t guest_now_ns(void)
{
	const struct rrvm_clock *c = &guest_boot_info->clock;
	uint32_t seq;
	uint64_t ns, delta;
	static uint64_t last;

	do {
		seq = c->sequence;
		__asm__ __volatile__("" ::: "memory");
		delta = rdtsc() - c->tsc_base;
		if ((int64_t)delta < 0)
			delta = 0;
		ns = c->ns_base +
		     (uint64_t)(((unsigned __int128)delta * c->mul) >> c->shift);
		__asm__ __volatile__("" ::: "memory");
	} while ((seq & 1) || seq != c->sequence);
	/* lwIP's timers assume time never goes backwards. */
	if (ns < last)
		ns = last;
	last = ns;
	return ns;
}
