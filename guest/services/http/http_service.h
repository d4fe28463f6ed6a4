/* SPDX-License-Identifier: MIT */
/*
 * The http guest service: HTTP/1.1 with keep-alive and pipelining, enough for
 * curl and wrk.
 *
 *	GET|HEAD /          a small HTML page
 *	GET|HEAD /counter   GET increments a counter and returns it ("N\n")
 *	GET|HEAD /kv/KEY    the bytes stored under KEY, or 404
 *	PUT /kv/KEY         store the body (Content-Length, <= 1 MiB): 201 / 204
 *
 * Options: port= (default 80), store_mb= (byte budget of /kv/, default 16).
 */
#ifndef GUEST_HTTP_SERVICE_H
#define GUEST_HTTP_SERVICE_H

#include <stdint.h>

#define HTTP_DEFAULT_PORT 80
#define HTTP_MAX_BODY (1u << 20)
#define HTTP_DEFAULT_STORE_MB 16

/*
 * Parse options, (re)initialise the counter and the store, listen. 0 or
 * negative errno. The guest calls it once; unit tests once per case.
 */
int http_start(void);

/* Drop the store and the counter (unit tests, to end with no leaks). */
void http_service_reset(void);

/* Current value of /counter. */
uint64_t http_counter_value(void);

#endif
