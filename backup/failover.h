/* SPDX-License-Identifier: MIT */
/*
 * Taking over: fence the old primary, build the VM from the committed
 * checkpoint (its image is already in our memory), attach it to our LAN,
 * announce its IP/MAC with gratuitous ARP, and run it. Every phase is timed
 * and reported (text on the log, JSON to a file).
 */
#ifndef RRVM_FAILOVER_H
#define RRVM_FAILOVER_H

#include <stdint.h>

struct replica;
struct reverse;

struct failover_config {
	const char *tap;
	const char *fence_cmd; /* run with /bin/sh -c; NULL = none */
	const char *announce_dev; /* NULL = the TAP's bridge */
	const char *report_path; /* JSON; NULL = log only */
	const char *control; /* control socket for the resumed VM */
	unsigned garp_count;
	unsigned garp_interval_ms;
	unsigned detect_timeout_ms;
	/* Reverse mode: replay this log into the resumed guest. */
	struct reverse *reverse;
};

/*
 * Fail over from `replica` and run the VM until it stops. last_rx_ns is when
 * the primary was last heard from (CLOCK_MONOTONIC). Returns the process
 * exit status.
 */
int failover_run(struct replica *replica, const struct failover_config *c,
		 uint64_t last_rx_ns);

#endif
