/* SPDX-License-Identifier: MIT */
/*
 * The echo guest service (RFC 862): TCP and UDP on the same port (7, or
 * `port=`), every byte sent back unchanged. Used for latency
 * microbenchmarks, so it does nothing but echo.
 */
#ifndef GUEST_ECHO_SERVICE_H
#define GUEST_ECHO_SERVICE_H

#include <stdint.h>

#define ECHO_DEFAULT_PORT 7

struct echo_stats {
	uint64_t connections;	/* TCP connections accepted */
	uint64_t tcp_bytes;	/* bytes echoed over TCP */
	uint64_t datagrams;	/* UDP datagrams echoed */
	uint64_t udp_errors;	/* datagrams that could not be sent back */
};

/* Parse `port=`, listen and bind. 0 or negative errno. */
int echo_start(void);

/* Counters since echo_start (for logs and tests). */
const struct echo_stats *echo_get_stats(void);

#endif
