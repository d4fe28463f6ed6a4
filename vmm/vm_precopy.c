/* SPDX-License-Identifier: MIT */
/*
 * When the early passes of a two-phase collect run (docs/design.md,
 * "Checkpoint pause").
 *
 * The pause copies what the guest wrote after the last early pass, so that
 * pass should end just before the deadline; but a pass over thousands of
 * pages takes milliseconds, during which the guest dirties more. So: bulk
 * passes starting `lead` before the deadline, repeated while they shrink
 * (each copies what was dirtied during the previous one), then a short
 * sleep and one last pass right before the deadline. The lead follows the
 * bulk's duration: long enough that the bulk ends early, short enough that
 * little is written twice.
 */
#include <errno.h>

#include "common/clock.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

/* Bulk passes at most, and the pass size below which another is pointless. */
#define BULK_PASSES_MAX	 3
#define BULK_SMALL_PAGES 64
/* The last pass starts this long before the deadline (a GET, a CLEAR and a
 * few copies fit), and only if at least FINAL_MIN_GAP_NS is left. */
#define FINAL_LEAD_NS	 100000u
#define FINAL_MIN_GAP_NS 300000u
/* Lead = twice the bulk's duration plus this margin, within the bounds. */
#define LEAD_MARGIN_NS 500000u
#define LEAD_MIN_NS    500000u

static uint64_t lead_max(uint64_t interval_ns)
{
	return interval_ns / 2;
}

void vm_precopy_plan_init(struct vm_precopy_plan *p, uint64_t interval_ns)
{
	p->lead_ns = interval_ns / 4;
	if (p->lead_ns < LEAD_MIN_NS)
		p->lead_ns = LEAD_MIN_NS;
	if (p->lead_ns > lead_max(interval_ns))
		p->lead_ns = lead_max(interval_ns);
}

uint64_t vm_precopy_start(const struct vm_precopy_plan *p, uint64_t deadline_ns)
{
	return deadline_ns > p->lead_ns ? deadline_ns - p->lead_ns : 0;
}

/* Grow at once when the bulk got longer, shrink slowly. */
static void plan_update(struct vm_precopy_plan *p, uint64_t bulk_ns,
			uint64_t interval_ns)
{
	uint64_t target = 2 * bulk_ns + LEAD_MARGIN_NS;

	if (target > p->lead_ns)
		p->lead_ns = target;
	else
		p->lead_ns = (3 * p->lead_ns + target) / 4;
	if (p->lead_ns < LEAD_MIN_NS)
		p->lead_ns = LEAD_MIN_NS;
	if (p->lead_ns > lead_max(interval_ns))
		p->lead_ns = lead_max(interval_ns);
}

/* Passes while they shrink (each copies what the previous one left). */
static int bulk_passes(struct vm *vm, struct vm_snapshot *s, long prev)
{
	for (int pass = 0; pass < BULK_PASSES_MAX; pass++) {
		long n = vm_snapshot_precopy(vm, s);

		if (n < 0)
			return (int)n;
		if (n < BULK_SMALL_PAGES || (prev >= 0 && n >= prev))
			break;
		prev = n;
	}
	return 0;
}

int vm_precopy_full(struct vm *vm, struct vm_snapshot *s)
{
	long n = vm_snapshot_precopy_full(vm, s);

	return n < 0 ? (int)n : bulk_passes(vm, s, n);
}

int vm_precopy_run(struct vm *vm, struct vm_snapshot *s,
		   struct vm_precopy_plan *p, uint64_t deadline_ns,
		   uint64_t interval_ns)
{
	uint64_t t0 = clock_mono_ns(), now;
	long n;
	int ret;

	ret = bulk_passes(vm, s, -1);
	if (ret)
		return ret;
	now = clock_mono_ns();
	plan_update(p, now - t0, interval_ns);
	if (now + FINAL_MIN_GAP_NS > deadline_ns)
		return 0;
	clock_sleep_until(deadline_ns - FINAL_LEAD_NS);
	n = vm_snapshot_precopy(vm, s);
	return n < 0 ? (int)n : 0;
}
