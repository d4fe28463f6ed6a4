/* SPDX-License-Identifier: MIT */
/*
 * The dirtier: writes a steady number of distinct guest pages per second so
 * checkpointing can be stressed with a known dirty rate, independently of
 * the service's own traffic. Enabled by `dirty=N` (pages/s) and sized by
 * `dirty_mb=` (see common_options.h).
 */
#ifndef GUEST_LIB_DIRTIER_H
#define GUEST_LIB_DIRTIER_H

#include <stddef.h>
#include <stdint.h>

#include "rrvm/boot_info.h"

#define DIRTIER_PAGE_SIZE	   RRVM_PAGE_SIZE
#define DIRTIER_MAX_RATE	   1000000u /* pages/s: 4 GB/s of dirty memory */
#define DIRTIER_DEFAULT_MB	   16u
#define DIRTIER_MAX_MB		   4096u
#define DIRTIER_MIN_PERIOD_NS	   5000000u   /* tick at most every 5 ms... */
#define DIRTIER_MAX_PERIOD_NS	   100000000u /* ...and at least every 100 ms */
#define DIRTIER_DEFAULT_BYTES	   8u	      /* fresh bytes written per page */
#define DIRTIER_DEFAULT_CATCHUP_MS 1000u      /* missed time a tick makes up */
#define DIRTIER_MAX_CATCHUP_MS	   1000u
/* Longest a tick writes before the main loop gets its turn again (the
 * network is answered between ticks), and how many pages between looks at
 * the clock. */
#define DIRTIER_TICK_BUDGET_NS 2000000u
#define DIRTIER_BUDGET_CHECK   32u

/*
 * The shape of the writes, before dirtier_start (`dirty_bytes=`,
 * `dirty_catchup_ms=`):
 *  - bytes_per_page (8..4096, a multiple of 8): fresh data per page write.
 *    8 is one word (the page compresses to almost nothing); 4096 fills it
 *    with pseudo-random bytes no codec shrinks, as a busy workload's pages.
 *  - catchup_ms (1..1000): the most missed time one tick makes up. 1000
 *    keeps the rate through stops (a paused VM writes its backlog on
 *    resume); a few ms makes the dirtier behave like a CPU-bound workload:
 *    time it did not run is not made up, so a vCPU throttle (live
 *    migration's auto-converge) slows it down, about in proportion when
 *    the ticks (then every catchup_ms at least) are short beside the
 *    throttle's 10 ms slices.
 * 0 or -EINVAL (out of range, or the dirtier is running).
 */
int dirtier_configure(unsigned bytes_per_page, unsigned catchup_ms);

/*
 * Allocate region_mb MiB once and start writing pages_per_sec pages/s from
 * now on. 0, -EINVAL (rate or size out of range), -EBUSY (already running),
 * -ENOMEM, or the ticker registration error.
 */
int dirtier_start(uint64_t pages_per_sec, uint64_t region_mb);

/* Stop writing and free the region (tests; a future control channel). */
void dirtier_stop(void);

/* Page writes since dirtier_start (bytes_per_page bytes each). */
uint64_t dirtier_pages_written(void);

/* The page-aligned region and its size in pages, or NULL when stopped. */
const uint8_t *dirtier_region(size_t *pages);

#endif
