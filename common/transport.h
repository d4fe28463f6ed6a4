/* SPDX-License-Identifier: MIT */
/*
 * The replication link's transport, behind a small ops table so other
 * transports (RDMA, shared memory for same-host experiments) can slot in.
 * TCP is the only one today (common/transport_tcp.c).
 */
#ifndef RRVM_TRANSPORT_H
#define RRVM_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

struct transport;

struct transport_ops {
	const char *name;
	/* Send all of buf (blocking). 0 or -errno. */
	int (*send)(struct transport *t, const void *buf, size_t len);
	/* Receive up to cap bytes (blocking unless the fd is polled first):
	 * bytes read, 0 when the peer closed, or -errno. */
	ssize_t (*recv)(struct transport *t, void *buf, size_t cap);
	/* Pollable descriptor. */
	int (*fd)(struct transport *t);
	/* Stop both directions now (wakes a thread blocked in recv). */
	void (*shutdown)(struct transport *t);
	void (*close)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	char peer[64]; /* "A.B.C.D:port", for logs */
};

struct sockaddr_in;

/* "A.B.C.D:PORT" (or ":PORT": any address) -> sa. 0 or -EINVAL. Shared
 * with the UDP heartbeat path (common/heartbeat.c). */
int transport_parse_addr(const char *addr, struct sockaddr_in *sa);

/* "A.B.C.D:PORT" -> connect within timeout_ms. 0 or -errno. */
int transport_tcp_connect(const char *addr, int timeout_ms,
			  struct transport **out);
/* Listen on "A.B.C.D:PORT" (or ":PORT" for any address). fd or -errno. */
int transport_tcp_listen(const char *addr);
/* Accept one connection from a listening fd. 0 or -errno. */
int transport_tcp_accept(int listen_fd, struct transport **out);
/* The TCP transport's ops over any connected stream socket (a socketpair
 * end in tests); owns fd (closed on failure). 0 or -ENOMEM. */
int transport_fd_wrap(int fd, const char *peer, struct transport **out);

#endif
