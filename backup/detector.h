/* SPDX-License-Identifier: MIT */
/*
 * An adaptive silence detector for one heartbeat path: it learns the
 * distribution of the inter-arrival times of heartbeats over a sliding
 * window and suspects the sender once the current silence exceeds
 *
 *	threshold = clamp(max(mean + k * sigma, spread * longest gap in
 *	            the window), floor, cap)
 *
 * mean + k*sigma is the Chen/phi-accrual estimate under a normal model;
 * the longest-gap term covers the heavy tail of a shared host, where one
 * scheduling hiccup among a thousand regular beats barely moves sigma but
 * will happen again. The floor keeps a regular sender on a quiet host from
 * being convicted by one late beat; the cap (--detect-timeout) bounds the
 * wait whatever was learned, and is the threshold until enough samples
 * were seen. Time is passed in (ns), so the logic is tested without
 * clocks or threads (tests/unit/test_detector.c).
 */
#ifndef RRVM_DETECTOR_H
#define RRVM_DETECTOR_H

#include <stdbool.h>
#include <stdint.h>

#define DETECTOR_WINDOW	     1000 /* samples: 5 s of 5 ms heartbeats */
#define DETECTOR_MIN_SAMPLES 20

struct detector_config {
	uint64_t floor_ns; /* the threshold never goes below */
	uint64_t cap_ns;   /* nor above; also the threshold while learning */
	unsigned k_tenths; /* sigmas above the mean, in tenths (80 = 8.0) */
	unsigned spread_tenths; /* times the window's longest gap (15 = 1.5) */
};

/* The defaults of the daemons (docs/replication-protocol.md). */
#define DETECTOR_DEFAULT_K_TENTHS      80u
#define DETECTOR_DEFAULT_SPREAD_TENTHS 15u

struct detector {
	struct detector_config cfg;
	uint32_t gap_us[DETECTOR_WINDOW]; /* ring of inter-arrival times */
	unsigned count, next;
	uint64_t sum_us, sum_sq_us; /* over the ring: exact, no drift */
	uint64_t heard_ns;	    /* last arrival (0: none yet) */
	/* The silence clock: the last arrival, or the end of a stall of this
	 * host after it (silence we did not watch does not count). */
	uint64_t clock_ns;
	bool skip_next; /* the next gap spans a local stall: not learned */
	uint64_t threshold_ns; /* cached, recomputed on each sample */
	uint64_t max_gap_ns;   /* the longest silence seen (all time) */
	uint64_t arrivals;
};

void detector_init(struct detector *d, const struct detector_config *cfg);
/* Forget everything learned (a new sender). */
void detector_reset(struct detector *d);
/* A heartbeat arrived at now_ns. */
void detector_heard(struct detector *d, uint64_t now_ns);
/*
 * This host itself did not run for a while (now_ns is when it noticed):
 * a silence that spans the stall says nothing about the sender. Restart
 * the silence clock at now_ns and do not learn the gap it ends.
 */
void detector_local_stall(struct detector *d, uint64_t now_ns);

/*
 * Another path proves the sender alive while this one is silent: the path
 * is down, not the sender slow. The gap that ends it is not learned (it
 * would raise the threshold for a whole window).
 */
void detector_path_outage(struct detector *d);

/* The current threshold (the cap while learning). */
uint64_t detector_threshold_ns(const struct detector *d);
/*
 * When the sender will be suspected (0 if nothing was heard yet): the
 * silence clock plus the threshold, and never later than the last arrival
 * plus the cap, however often this host stalled.
 */
uint64_t detector_deadline_ns(const struct detector *d);
/* The same, counting other evidence of life at also_ns (0: none), e.g.
 * bytes on the replication link: it delays the deadline, is not learned. */
uint64_t detector_deadline_with(const struct detector *d, uint64_t also_ns);
/* Heard at least once and past the deadline at now_ns. */
bool detector_expired(const struct detector *d, uint64_t now_ns);
/* Has it learned (enough samples for its own threshold)? */
bool detector_learned(const struct detector *d);

/* Mean and standard deviation of the window, ns (0 when empty). */
void detector_stats(const struct detector *d, uint64_t *mean_ns,
		    uint64_t *sigma_ns);

#endif
