/* SPDX-License-Identifier: MIT */
#include "migration/precopy_plan.h"

#include <string.h>

#define NS_PER_SEC 1000000000ull

void precopy_params_default(struct precopy_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_downtime_ns = 300000000ull;
	p->auto_converge = false;
	p->throttle_initial = 20;
	p->throttle_increment = 10;
	p->throttle_max = 99;
	p->trigger_threshold = 50;
	p->throttle_period_ns = NS_PER_SEC;
}

void precopy_plan_init(struct precopy_plan *plan,
		       const struct precopy_params *params)
{
	memset(plan, 0, sizeof(*plan));
	plan->params = *params;
	/* Until a round says otherwise: a raw page and its entry header. */
	plan->bytes_per_page = PRECOPY_PAGE_SIZE + 16;
}

void precopy_plan_set_fixed_cost(struct precopy_plan *plan, uint64_t ns)
{
	plan->fixed_cost_ns = ns;
}

/* a * b / c without overflow for the magnitudes here (c > 0). */
static uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c)
{
	unsigned __int128 r = (unsigned __int128)a * b / c;

	return r > UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

static void measure(struct precopy_plan *plan, const struct precopy_round *r)
{
	if (r->bytes_sent >= PRECOPY_MIN_MEASURE_BYTES && r->duration_ns)
		plan->bandwidth =
		    mul_div(r->bytes_sent, NS_PER_SEC, r->duration_ns);
	else if (!plan->bandwidth && r->bytes_sent && r->duration_ns)
		plan->bandwidth =
		    mul_div(r->bytes_sent, NS_PER_SEC, r->duration_ns);
	if (r->pages_sent)
		plan->bytes_per_page = r->bytes_sent / r->pages_sent;
}

/* QEMU's migration_trigger_throttle + mig_throttle_guest_down. */
static void auto_converge(struct precopy_plan *plan,
			  const struct precopy_round *r)
{
	const struct precopy_params *pp = &plan->params;
	uint64_t dirty_bytes, threshold;

	plan->period_ns += r->duration_ns;
	plan->period_bytes_sent += r->bytes_sent;
	plan->period_pages_dirtied += r->pages_dirtied;
	if (plan->period_ns < pp->throttle_period_ns)
		return;
	dirty_bytes = plan->period_pages_dirtied * PRECOPY_PAGE_SIZE;
	threshold =
	    mul_div(plan->period_bytes_sent, pp->trigger_threshold, 100);
	plan->period_ns = plan->period_bytes_sent = 0;
	plan->period_pages_dirtied = 0;
	if (!pp->auto_converge || dirty_bytes <= threshold ||
	    ++plan->high_dirty_periods < 2)
		return;
	plan->high_dirty_periods = 0;
	if (!plan->throttle)
		plan->throttle = pp->throttle_initial;
	else
		plan->throttle += pp->throttle_increment;
	if (plan->throttle > pp->throttle_max)
		plan->throttle = pp->throttle_max;
}

void precopy_plan_round(struct precopy_plan *plan,
			const struct precopy_round *r,
			struct precopy_decision *d)
{
	unsigned before = plan->throttle;

	memset(d, 0, sizeof(*d));
	plan->rounds++;
	measure(plan, r);
	auto_converge(plan, r);
	d->bandwidth = plan->bandwidth;
	d->dirty_rate = r->duration_ns ? mul_div(r->pages_dirtied, NS_PER_SEC,
						 r->duration_ns)
				       : 0;
	d->remaining_bytes = r->pages_dirtied * plan->bytes_per_page;
	if (!d->remaining_bytes)
		d->expected_downtime_ns = plan->fixed_cost_ns;
	else if (!plan->bandwidth)
		d->expected_downtime_ns = UINT64_MAX;
	else
		d->expected_downtime_ns =
		    mul_div(d->remaining_bytes, NS_PER_SEC, plan->bandwidth) +
		    plan->fixed_cost_ns;
	d->action = d->expected_downtime_ns <= plan->params.max_downtime_ns
			? PRECOPY_STOP_AND_COPY
			: PRECOPY_ITERATE;
	d->throttle = plan->throttle;
	d->throttle_changed = plan->throttle != before;
}
