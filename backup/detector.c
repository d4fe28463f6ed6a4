/* SPDX-License-Identifier: MIT */
#include "backup/detector.h"

#include <string.h>

void detector_init(struct detector *d, const struct detector_config *cfg)
{
	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	if (d->cfg.floor_ns > d->cfg.cap_ns)
		d->cfg.floor_ns = d->cfg.cap_ns;
	d->threshold_ns = d->cfg.cap_ns;
}

void detector_reset(struct detector *d)
{
	struct detector_config cfg = d->cfg;

	detector_init(d, &cfg);
}

bool detector_learned(const struct detector *d)
{
	return d->count >= DETECTOR_MIN_SAMPLES;
}

/* floor(sqrt(v)), without libm. */
static uint64_t isqrt(uint64_t v)
{
	uint64_t x = v, y;

	if (v < 2)
		return v;
	y = (x + 1) / 2;
	while (y < x) {
		x = y;
		y = (x + v / x) / 2;
	}
	return x;
}

void detector_stats(const struct detector *d, uint64_t *mean_ns,
		    uint64_t *sigma_ns)
{
	double mean, var;

	*mean_ns = *sigma_ns = 0;
	if (!d->count)
		return;
	mean = (double)d->sum_us / d->count;
	var = (double)d->sum_sq_us / d->count - mean * mean;
	*mean_ns = (uint64_t)(mean * 1e3);
	/* In ns^2 for precision (sigma of a few us matters at 5 ms beats),
	 * in us^2 where ns^2 would not fit. */
	if (var <= 0)
		*sigma_ns = 0;
	else if (var * 1e6 < 1.8e19)
		*sigma_ns = isqrt((uint64_t)(var * 1e6));
	else
		*sigma_ns = isqrt((uint64_t)var) * 1000u;
}

static uint64_t window_max_ns(const struct detector *d)
{
	uint32_t m = 0;

	for (unsigned i = 0; i < d->count; i++)
		if (d->gap_us[i] > m)
			m = d->gap_us[i];
	return (uint64_t)m * 1000u;
}

static void recompute(struct detector *d)
{
	uint64_t mean, sigma, t, spread;

	if (!detector_learned(d)) {
		d->threshold_ns = d->cfg.cap_ns;
		return;
	}
	detector_stats(d, &mean, &sigma);
	t = mean + sigma * d->cfg.k_tenths / 10u;
	spread = window_max_ns(d) * d->cfg.spread_tenths / 10u;
	if (spread > t)
		t = spread;
	if (t < d->cfg.floor_ns)
		t = d->cfg.floor_ns;
	if (t > d->cfg.cap_ns)
		t = d->cfg.cap_ns;
	d->threshold_ns = t;
}

static void learn(struct detector *d, uint64_t gap_ns)
{
	uint64_t us;

	/* Beyond the cap it would have been a failure anyway; clamping keeps
	 * one huge gap from dominating sigma for a whole window. */
	if (gap_ns > d->cfg.cap_ns)
		gap_ns = d->cfg.cap_ns;
	us = gap_ns / 1000u;
	if (us > UINT32_MAX)
		us = UINT32_MAX;
	if (d->count == DETECTOR_WINDOW) {
		uint64_t old = d->gap_us[d->next];

		d->sum_us -= old;
		d->sum_sq_us -= old * old;
	} else {
		d->count++;
	}
	d->gap_us[d->next] = (uint32_t)us;
	d->next = (d->next + 1) % DETECTOR_WINDOW;
	d->sum_us += us;
	d->sum_sq_us += us * us;
	recompute(d);
}

void detector_heard(struct detector *d, uint64_t now_ns)
{
	d->arrivals++;
	if (d->heard_ns && now_ns > d->heard_ns) {
		uint64_t gap = now_ns - d->heard_ns;

		if (!d->skip_next) {
			if (gap > d->max_gap_ns)
				d->max_gap_ns = gap;
			learn(d, gap);
		}
	}
	d->skip_next = false;
	if (now_ns > d->heard_ns)
		d->heard_ns = now_ns;
	if (now_ns > d->clock_ns)
		d->clock_ns = now_ns;
}

void detector_local_stall(struct detector *d, uint64_t now_ns)
{
	if (!d->heard_ns)
		return;
	if (now_ns > d->clock_ns)
		d->clock_ns = now_ns;
	d->skip_next = true;
}

void detector_path_outage(struct detector *d)
{
	if (d->heard_ns)
		d->skip_next = true;
}

uint64_t detector_threshold_ns(const struct detector *d)
{
	return d->threshold_ns;
}

uint64_t detector_deadline_with(const struct detector *d, uint64_t also_ns)
{
	uint64_t heard = d->heard_ns > also_ns ? d->heard_ns : also_ns;
	uint64_t clock = d->clock_ns > also_ns ? d->clock_ns : also_ns;
	uint64_t t, cap;

	if (!heard)
		return 0;
	t = clock + d->threshold_ns;
	cap = heard + d->cfg.cap_ns;
	return t < cap ? t : cap;
}

uint64_t detector_deadline_ns(const struct detector *d)
{
	return detector_deadline_with(d, 0);
}

bool detector_expired(const struct detector *d, uint64_t now_ns)
{
	return d->heard_ns && now_ns > detector_deadline_ns(d);
}
