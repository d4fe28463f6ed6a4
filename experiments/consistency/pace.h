/* SPDX-License-Identifier: MIT */
/*
 * The paced (open-loop) load's bookkeeping, free of I/O so unit tests can
 * drive it with made-up clocks: request k is due at start + k / rate,
 * whether or not earlier requests were answered, and its latency counts
 * from then (a late send is the client's queueing, not hidden from the
 * figures); which connection gets a request is a round robin over those
 * with room in their window.
 */
#ifndef CONSISTENCY_PACE_H
#define CONSISTENCY_PACE_H

#include <stdbool.h>
#include <stdint.h>

#define PACE_MAX_RATE 1000000u

struct pacer {
	uint64_t start_ns;    /* request 0 is due then */
	uint64_t rate;	      /* requests per second, 1..PACE_MAX_RATE */
	uint64_t issued;      /* requests handed out so far */
	uint64_t max_backlog; /* most requests due and not yet handed out */
};

void pacer_init(struct pacer *p, uint64_t start_ns, uint64_t rate);
/* When request k is due (start + k * 1e9 / rate, rounded down). */
uint64_t pacer_due_ns(const struct pacer *p, uint64_t k);
/* How many requests are due by `now` (those with due time <= now). */
uint64_t pacer_due_by(const struct pacer *p, uint64_t now);
/* Requests due by `now` and not handed out yet. */
uint64_t pacer_backlog(const struct pacer *p, uint64_t now);
/*
 * Hand out the next request if it is due by `now`: *k its number, *due
 * its due time. false when the next one is still in the future.
 */
bool pacer_take(struct pacer *p, uint64_t now, uint64_t *k, uint64_t *due);
/* Due time of the next request to hand out (when to wake up). */
uint64_t pacer_next_ns(const struct pacer *p);

/*
 * Pick a connection for the next request: the first at or after *rr (in
 * ring order) with free[i] > 0 (free[i] = window - outstanding, 0 when the
 * connection is down). Returns its index and moves *rr past it, or -1 if
 * every window is full (the request waits: backlog).
 */
int pace_pick(const unsigned *free, unsigned n, unsigned *rr);

#endif
