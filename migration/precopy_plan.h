/* SPDX-License-Identifier: MIT */
/*
 * The pre-copy planner of a live migration (docs/migration.md): pure
 * arithmetic on what each round measured, no I/O, no clock. After every
 * round the source asks it two questions: stop the vCPU and copy the rest
 * now? and how hard to throttle the vCPU (auto-converge)?
 *
 *  - bandwidth = bytes the round sent / the round's duration (a round
 *    under PRECOPY_MIN_MEASURE_BYTES keeps the previous figure: latency,
 *    not bandwidth, dominates it);
 *  - expected downtime = pages dirtied during the round * wire bytes per
 *    page (as the round encoded them) / bandwidth + the fixed cost of the
 *    cutover (vCPU/device state, restore, announce), measured by the
 *    caller; stop and copy when it is <= max_downtime;
 *  - auto-converge, QEMU's rule: over periods of at least throttle_period
 *    (QEMU: 1 s), if the bytes dirtied (pages * PRECOPY_PAGE_SIZE) exceed
 *    trigger_threshold % of the bytes sent, count it; on the second such
 *    period (the counter is reset after each step, not by a calm period)
 *    throttle the vCPU to throttle_initial %, then each further step adds
 *    throttle_increment %, up to throttle_max %.
 */
#ifndef RRVM_PRECOPY_PLAN_H
#define RRVM_PRECOPY_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "rrvm/boot_info.h"

#define PRECOPY_PAGE_SIZE	  RRVM_PAGE_SIZE
#define PRECOPY_MIN_MEASURE_BYTES (64u << 10)

/* QEMU's names: downtime-limit, auto-converge, cpu-throttle-initial,
 * cpu-throttle-increment, max-cpu-throttle, throttle-trigger-threshold. */
struct precopy_params {
	uint64_t max_downtime_ns;    /* 300 ms */
	bool auto_converge;	     /* off */
	unsigned throttle_initial;   /* 20 % */
	unsigned throttle_increment; /* 10 % */
	unsigned throttle_max;	     /* 99 % */
	unsigned trigger_threshold;  /* 50 % */
	uint64_t throttle_period_ns; /* 1 s */
};

/* What one round measured. */
struct precopy_round {
	uint64_t bytes_sent; /* on the wire, all messages of the round */
	uint64_t pages_sent;
	uint64_t duration_ns;	/* from the round's collect to its last byte */
	uint64_t pages_dirtied; /* during the round: the next round's pages */
};

struct precopy_plan {
	struct precopy_params params;
	unsigned rounds;
	uint64_t bandwidth;	 /* bytes/s; 0 = not measured yet */
	uint64_t bytes_per_page; /* wire bytes per page of the last round */
	uint64_t fixed_cost_ns;
	unsigned throttle;	     /* % the vCPU should sleep now */
	unsigned high_dirty_periods; /* QEMU's dirty_rate_high_cnt */
	/* The current auto-converge period. */
	uint64_t period_ns, period_bytes_sent, period_pages_dirtied;
};

enum precopy_action {
	PRECOPY_ITERATE = 0,	   /* send the dirtied pages in another round */
	PRECOPY_STOP_AND_COPY = 1, /* stop the vCPU, send the rest + state */
};

struct precopy_decision {
	enum precopy_action action;
	unsigned throttle; /* % to apply now (vm_throttle_set) */
	bool throttle_changed;
	uint64_t bandwidth;  /* bytes/s used for the estimate */
	uint64_t dirty_rate; /* pages/s during the round */
	uint64_t
	    remaining_bytes; /* estimated wire bytes of the dirtied pages */
	uint64_t expected_downtime_ns; /* UINT64_MAX: bandwidth unknown */
};

/* QEMU's defaults (see struct precopy_params). */
void precopy_params_default(struct precopy_params *p);
void precopy_plan_init(struct precopy_plan *plan,
		       const struct precopy_params *params);
/* The cutover's fixed cost as last measured (0 until then). */
void precopy_plan_set_fixed_cost(struct precopy_plan *plan, uint64_t ns);
/* Account one round and decide. */
void precopy_plan_round(struct precopy_plan *plan,
			const struct precopy_round *round,
			struct precopy_decision *d);

#endif
