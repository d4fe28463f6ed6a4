/* SPDX-License-Identifier: MIT */
/*
 * The migration source's link to the destination (internal to
 * migration/): connect, rate-limited sends, and the watchdog thread that
 * reads the destination's answers, sends heartbeats while the engine is
 * busy copying, and turns a timeout, a vanished client or a stopping VM
 * into a cancel.
 */
#ifndef RRVM_MIGRATE_LINK_H
#define RRVM_MIGRATE_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "migration/migrate_source.h"

/* Connect channel 0 (HELLO mode migrate, channel 0 of N) and start the
 * watchdog. 0 or -errno (why in m->link_error). */
int mlink_open(struct migration *m);
/* Connect channels 1..N-1 (once the destination accepted the profile). */
int mlink_open_channels(struct migration *m);
/* Stop the watchdog, close every link. */
void mlink_close(struct migration *m);
/* Channel 0 is connected and not known to be closed. */
bool mlink_open_now(struct migration *m);

/* Send whole messages on a channel; limited: through the --max-bandwidth
 * bucket (one for all channels). -ECANCELED if a cancel came first
 * (nothing sent). Safe from each channel's own thread. */
int mlink_send_on(struct migrate_channel *c, const struct ckpt_buf *buf,
		  bool limited);
/* ... on channel 0. */
int mlink_send(struct migration *m, const struct ckpt_buf *buf, bool limited);
/* A message without payload (HANDOVER_GO, HANDOVER_ABORT...). */
int mlink_signal(struct migration *m, enum repl_msg_type type, uint64_t epoch);
int mlink_cancel(struct migration *m, int code, const char *why);

/*
 * Wait until done(m) holds (checked under m->lock), at most timeout_ns.
 * 0 when it holds; -ECONNRESET when the link closed or the destination
 * cancelled first; -ECANCELED when a local cancel came first (if
 * cancellable); -ETIMEDOUT.
 */
int mlink_wait(struct migration *m, bool (*done)(const struct migration *m),
	       uint64_t timeout_ns, bool cancellable);

bool mlink_cancelled(struct migration *m);
/* A link that just broke may have carried the destination's reason
 * (CANCEL, on channel 0) before: wait for it at most timeout_ns. */
void mlink_await_reason(struct migration *m, uint64_t timeout_ns);

#endif
