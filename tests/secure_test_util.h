/* SPDX-License-Identifier: MIT */
/*
 * For the secure channel's unit tests and fuzz target: a struct transport
 * over a socketpair end, and a relay step that moves the bytes waiting on
 * one fd to another, keeping a copy (what an attacker on the wire sees).
 */
#ifndef RRVM_SECURE_TEST_UTIL_H
#define RRVM_SECURE_TEST_UTIL_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "common/transport.h"

/* A transport owning fd (common/transport_tcp.c's ops); NULL if out of
 * memory. */
static inline struct transport *fd_transport(int fd, const char *name)
{
	struct transport *t;

	return transport_fd_wrap(fd, name, &t) ? NULL : t;
}

/* Move what is waiting on `from` to `to` without blocking; append a copy
 * to keep (if not NULL). 0, or -1 if a send fell short or keep is full. */
static inline int fd_pump(int from, int to, uint8_t *keep, size_t *keep_len,
			  size_t keep_cap)
{
	uint8_t buf[4096];
	ssize_t n;

	while ((n = recv(from, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (send(to, buf, (size_t)n, MSG_NOSIGNAL) != n)
			return -1;
		if (keep) {
			if (*keep_len + (size_t)n > keep_cap)
				return -1;
			memcpy(keep + *keep_len, buf, (size_t)n);
			*keep_len += (size_t)n;
		}
	}
	return 0;
}

#endif
