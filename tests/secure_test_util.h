/* SPDX-License-Identifier: MIT */
/*
 * For the secure channel's unit tests and fuzz target: a struct transport
 * over any connected fd (a socketpair end), and a relay step that moves the
 * bytes waiting on one fd to another, keeping a copy (what an attacker on
 * the wire sees).
 */
#ifndef RRVM_SECURE_TEST_UTIL_H
#define RRVM_SECURE_TEST_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/transport.h"

struct fd_transport {
	struct transport base;
	int fd;
};

static inline int fdt_send(struct transport *t, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int fd = ((struct fd_transport *)t)->fd;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static inline ssize_t fdt_recv(struct transport *t, void *buf, size_t cap)
{
	ssize_t n = recv(((struct fd_transport *)t)->fd, buf, cap, 0);

	return n < 0 ? -errno : n;
}

static inline int fdt_fd(struct transport *t)
{
	return ((struct fd_transport *)t)->fd;
}

static inline void fdt_shutdown(struct transport *t)
{
	shutdown(((struct fd_transport *)t)->fd, SHUT_RDWR);
}

static inline void fdt_close(struct transport *t)
{
	close(((struct fd_transport *)t)->fd);
	free(t);
}

static const struct transport_ops fd_transport_ops = {
    .name = "socketpair",
    .send = fdt_send,
    .recv = fdt_recv,
    .fd = fdt_fd,
    .shutdown = fdt_shutdown,
    .close = fdt_close,
};

/* A transport owning fd; NULL if out of memory (fd is then closed). */
static inline struct transport *fd_transport(int fd, const char *name)
{
	struct fd_transport *t = calloc(1, sizeof(*t));

	if (!t) {
		close(fd);
		return NULL;
	}
	t->base.ops = &fd_transport_ops;
	t->fd = fd;
	snprintf(t->base.peer, sizeof(t->base.peer), "%s", name);
	return &t->base;
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
