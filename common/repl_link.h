/* SPDX-License-Identifier: MIT */
/*
 * Opening the replication link, both ends: TCP, then (with a pre-shared key)
 * mutual authentication and an encrypted channel (common/secure_transport),
 * then the primary's HELLO. The receiving end does all of that on its own
 * thread, so a peer that connects and says nothing, or fails to
 * authenticate, never holds up the daemon's receive loop; only links that
 * authenticated and said HELLO are handed over.
 */
#ifndef RRVM_REPL_LINK_H
#define RRVM_REPL_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/repl_protocol.h"

struct transport;

/* What a link is, for status lines and reports. */
const char *repl_link_security(const uint8_t *key);

/*
 * Primary side: connect to addr, authenticate with key (NULL: insecure),
 * send hello. The link is blocking. 0 or -errno.
 */
int repl_link_connect(const char *addr, const uint8_t *key, int timeout_ms,
		      const struct repl_hello *hello, struct transport **out);
/* The same under another secure-channel context (NULL: replication's),
 * e.g. SECURE_CONTEXT_MIGRATION. */
int repl_link_connect_as(const char *addr, const uint8_t *key,
			 const char *context, int timeout_ms,
			 const struct repl_hello *hello,
			 struct transport **out);

struct repl_acceptor;

struct repl_accepted {
	struct transport *link; /* non-blocking; recv may return -EAGAIN */
	struct repl_hello hello;
	bool authenticated;
};

struct repl_accept_stats {
	uint64_t accepted; /* handed over */
	uint64_t refused; /* failed authentication, no or bad HELLO */
};

/* Listen on addr ("A.B.C.D:PORT") with key (NULL: insecure). */
int repl_accept_start(const char *addr, const uint8_t *key,
		      struct repl_acceptor **out);
/* ... under another secure-channel context (NULL: replication's). */
int repl_accept_start_as(const char *addr, const uint8_t *key,
			 const char *context, struct repl_acceptor **out);
/* Readable when a link is ready to take. */
int repl_accept_fd(struct repl_acceptor *a);
/* 0 with a ready link, or -EAGAIN. */
int repl_accept_take(struct repl_acceptor *a, struct repl_accepted *out);
void repl_accept_stats(struct repl_acceptor *a, struct repl_accept_stats *st);
/* Stop; links not taken are closed. NULL ok. */
void repl_accept_stop(struct repl_acceptor *a);

#endif
