/* SPDX-License-Identifier: MIT */
#include "common/rate_limit.h"

#include <string.h>

#include "common/clock.h"

static uint64_t real_now(void *ctx)
{
	(void)ctx;
	return clock_mono_ns();
}

static void real_sleep_until(void *ctx, uint64_t deadline_ns)
{
	(void)ctx;
	clock_sleep_until(deadline_ns);
}

static uint64_t default_burst(uint64_t rate)
{
	uint64_t b = rate / 100;

	return b < RATE_LIMIT_MIN_BURST ? RATE_LIMIT_MIN_BURST : b;
}

static void set_locked(struct rate_limit *r, uint64_t rate, uint64_t burst)
{
	r->rate = rate;
	r->burst = burst ? burst : default_burst(rate);
	if (r->tokens > (int64_t)r->burst)
		r->tokens = (int64_t)r->burst;
}

void rate_limit_init(struct rate_limit *r, uint64_t bytes_per_sec,
		     uint64_t burst, const struct rate_clock *clock)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	if (clock)
		r->clock = *clock;
	else
		r->clock =
		    (struct rate_clock){real_now, real_sleep_until, NULL};
	set_locked(r, bytes_per_sec, burst);
	r->last_ns = r->clock.now_ns(r->clock.ctx);
}

void rate_limit_destroy(struct rate_limit *r)
{
	pthread_mutex_destroy(&r->lock);
}

/* Tokens earned since last_ns, capped at the burst. */
static void refill(struct rate_limit *r, uint64_t now)
{
	uint64_t dt = now > r->last_ns ? now - r->last_ns : 0;
	/* 128-bit: rate up to 2^64 B/s times dt up to hours. */
	unsigned __int128 earned =
	    (unsigned __int128)r->rate * dt / 1000000000u;
	__int128 tokens = (__int128)r->tokens + (__int128)earned;

	if (tokens > (__int128)r->burst)
		tokens = (__int128)r->burst;
	r->tokens = (int64_t)tokens;
	r->last_ns = now;
}

void rate_limit_set(struct rate_limit *r, uint64_t bytes_per_sec,
		    uint64_t burst)
{
	pthread_mutex_lock(&r->lock);
	refill(r, r->clock.now_ns(r->clock.ctx));
	set_locked(r, bytes_per_sec, burst);
	pthread_mutex_unlock(&r->lock);
}

/* Reserve; *now is when (the wait counts from there). */
static uint64_t reserve(struct rate_limit *r, uint64_t bytes, uint64_t *now)
{
	uint64_t wait = 0;

	pthread_mutex_lock(&r->lock);
	*now = r->clock.now_ns(r->clock.ctx);
	if (r->rate) {
		refill(r, *now);
		if (bytes > INT64_MAX / 2)
			bytes = INT64_MAX / 2;
		r->tokens -= (int64_t)bytes;
		/* The debt is paid off at `rate`: wait until it would be
		 * (rounded up, so a transfer never beats bytes / rate). */
		if (r->tokens < 0)
			wait = (uint64_t)(((unsigned __int128)(uint64_t)-r
						   ->tokens *
					       1000000000u +
					   r->rate - 1) /
					  r->rate);
		r->waited_ns += wait;
	}
	pthread_mutex_unlock(&r->lock);
	return wait;
}

uint64_t rate_limit_reserve(struct rate_limit *r, uint64_t bytes)
{
	uint64_t now;

	return reserve(r, bytes, &now);
}

uint64_t rate_limit_wait(struct rate_limit *r, uint64_t bytes)
{
	uint64_t now, wait = reserve(r, bytes, &now);

	if (wait)
		r->clock.sleep_until_ns(r->clock.ctx, now + wait);
	return wait;
}
