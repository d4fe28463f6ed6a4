/* SPDX-License-Identifier: MIT */
/*
 * A token bucket for a bandwidth cap (`--max-bandwidth`): senders call
 * rate_limit_wait(bytes) before sending and are held back so that over any
 * interval of T seconds at most burst + rate * T bytes go out. Shared by
 * several sending threads (one bucket for all channels); the clock is
 * injectable for tests.
 *
 * The bucket starts empty, so a transfer of B bytes takes at least
 * B / rate seconds; a sender idle for a while may then send up to `burst`
 * bytes at once. A reservation larger than the bucket is allowed (messages
 * are up to 8 MiB): the bucket goes into debt and the next senders wait it
 * off.
 */
#ifndef RRVM_RATE_LIMIT_H
#define RRVM_RATE_LIMIT_H

#include <pthread.h>
#include <stdint.h>

struct rate_clock {
	uint64_t (*now_ns)(void *ctx); /* monotonic */
	void (*sleep_until_ns)(void *ctx, uint64_t deadline_ns);
	void *ctx;
};

struct rate_limit {
	pthread_mutex_t lock;
	uint64_t rate;	    /* bytes per second; 0 = unlimited */
	uint64_t burst;	    /* bytes the bucket holds at most */
	int64_t tokens;	    /* bytes; negative = debt */
	uint64_t last_ns;   /* when tokens were last refilled */
	uint64_t waited_ns; /* total time callers were held back */
	struct rate_clock clock;
};

#define RATE_LIMIT_MIN_BURST (64u << 10)

/*
 * bytes_per_sec 0 = unlimited. burst 0 = the default: 10 ms worth of the
 * rate, at least RATE_LIMIT_MIN_BURST. clock NULL = CLOCK_MONOTONIC and
 * clock_nanosleep.
 */
void rate_limit_init(struct rate_limit *r, uint64_t bytes_per_sec,
		     uint64_t burst, const struct rate_clock *clock);
void rate_limit_destroy(struct rate_limit *r);
/* Change the rate (e.g. `migrate-set-speed`) for bytes not yet reserved. */
void rate_limit_set(struct rate_limit *r, uint64_t bytes_per_sec,
		    uint64_t burst);

/* Reserve `bytes` and return how long the caller must wait first (ns). */
uint64_t rate_limit_reserve(struct rate_limit *r, uint64_t bytes);
/* Reserve and wait (blocks). Returns the ns waited. */
uint64_t rate_limit_wait(struct rate_limit *r, uint64_t bytes);

/* "128" MiB/s as the option gives it, into bytes per second. */
static inline uint64_t rate_limit_mib_s(uint64_t mib_per_sec)
{
	return mib_per_sec << 20;
}

#endif
