/* SPDX-License-Identifier: MIT */
/*
 * An authenticated, encrypted channel over an already-connected transport
 * (docs/security.md). It is a `struct transport` itself, so the replication
 * code above it (checkpoint framing, common/repl_protocol.c) is unchanged:
 *
 *   transport_tcp_connect(addr, ms, &tcp);
 *   secure_transport_wrap(tcp, &(struct secure_config){
 *           .key = key, .role = SECURE_ROLE_INITIATOR}, &link, err,
 * sizeof(err));
 *
 * Both sides prove the pre-shared key (common/secure_handshake.h), then
 * every byte travels in AEAD records (common/secure_record.h). A record
 * that does not authenticate as the next one of its direction (altered,
 * replayed, reordered, dropped, truncated) ends the session: recv returns
 * -EBADMSG from then on and the inner transport is shut down in both
 * directions.
 *
 * Threads: one thread may send while another receives (the primary's epoch
 * thread and ack thread); the two directions share no state. Two senders
 * (or two receivers) need the caller's lock, as with TCP. shutdown() may be
 * called from any thread to wake a blocked recv.
 *
 * recv contract:
 *   - Bytes already decrypted are returned first, without touching the fd.
 *   - Blocking mode (.polled = false, e.g. the primary's ack thread): waits
 *     until a whole record has arrived; returns its bytes (up to cap), 0 when
 *     the peer closed between records, -EBADMSG if it closed mid-record or
 *     sent a bad record, another -errno on a socket error. If the fd itself
 *     is non-blocking, -EAGAIN when the record is not complete yet.
 *   - Polled mode (.polled = true, e.g. the backup's poll() loop): never
 *     waits; reads only what the socket already holds and returns -EAGAIN
 *     while the record is incomplete (poll again; partial bytes are kept).
 *     Reads never take more than the current record plus the next header
 *     from the socket, so with cap >= SECURE_RECORD_MAX_PLAINTEXT one recv
 *     per POLLIN is enough: nothing complete is left behind in user space.
 *     With a smaller cap, call recv until it returns -EAGAIN before polling.
 */
#ifndef RRVM_SECURE_TRANSPORT_H
#define RRVM_SECURE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/secure_handshake.h"
#include "common/secure_record.h"
#include "common/transport.h"

#define SECURE_CONTEXT_REPLICATION  "rrvm-replication"
/* Migration links (rrvm incoming): a key shared by a replication pair
 * does not open a migration destination's port, nor the reverse. */
#define SECURE_CONTEXT_MIGRATION    "rrvm-migration"
#define SECURE_HANDSHAKE_TIMEOUT_MS 2000
#define SECURE_TRANSPORT_NAME	    "tcp+psk"

struct secure_config {
	const uint8_t *key;    /* SECURE_KEY_BYTES, e.g. from key_file_load() */
	enum secure_role role; /* INITIATOR connects, RESPONDER accepts */
	const char *context;   /* NULL: SECURE_CONTEXT_REPLICATION */
	int handshake_timeout_ms; /* 0: SECURE_HANDSHAKE_TIMEOUT_MS */
	bool polled; /* recv never waits (see the contract above) */
};

/*
 * Run the handshake over inner (blocking, at most the handshake timeout)
 * and return the secure transport in *out. inner is owned from here on: on
 * failure it is closed, and err says why (wrong key, not our protocol,
 * timeout, peer closed). 0 or -errno (-EACCES: the peer does not hold the
 * key; -EPROTO: not this protocol or role; -ETIMEDOUT; -ECONNRESET).
 */
int secure_transport_wrap(struct transport *inner,
			  const struct secure_config *cfg,
			  struct transport **out, char *err, size_t err_size);

/*
 * The same handshake without blocking, for a poll() loop that must not
 * stall on a silent or slow peer (the backup accepting connections):
 *
 *   secure_pending_start(tcp, &cfg, &p);
 *   loop: poll secure_pending_fd(p) for POLLIN with a timeout of at most
 *         secure_pending_timeout_ms(p); then secure_pending_step(p, ...):
 *         -EAGAIN  not done yet, keep polling
 *         0        done: *out is the secure transport, p is gone
 *         -errno   failed (err says why): inner closed, p is gone
 *   secure_pending_abort(p) drops it (closing inner) at any time.
 */
struct secure_pending;
int secure_pending_start(struct transport *inner,
			 const struct secure_config *cfg,
			 struct secure_pending **out);
int secure_pending_fd(const struct secure_pending *p);
int secure_pending_timeout_ms(const struct secure_pending *p);
const char *secure_pending_peer(const struct secure_pending *p);
int secure_pending_step(struct secure_pending *p, struct transport **out,
			char *err, size_t err_size);
void secure_pending_abort(struct secure_pending *p);

/* Is t a secure transport? For status lines and reports: "unauthenticated"
 * when not (an --insecure link). */
bool transport_is_secure(const struct transport *t);

struct secure_stats {
	uint64_t records_sent;	   /* = the next send nonce counter */
	uint64_t records_received; /* = the next receive nonce counter */
	uint64_t bytes_sent;	   /* plaintext */
	uint64_t bytes_received;
};
/* Safe from any thread. 0, or -EINVAL when t is not a secure transport. */
int secure_transport_stats(const struct transport *t, struct secure_stats *s);

#endif
