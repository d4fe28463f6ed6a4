/* SPDX-License-Identifier: MIT */
/*
 * The 64-bit digest of one Ethernet frame, as reverse replication uses it:
 * the primary digests every frame it gives the guest (primary/replicator.c)
 * and each epoch carries the list; the backup digests every frame it
 * captured (backup/replay_log.c) and trims its log by that list. Both sides
 * must compute the same function, so it lives here, below both.
 */
#ifndef RRVM_NETSTATE_FRAME_DIGEST_H
#define RRVM_NETSTATE_FRAME_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/*
 * XXH3_64bits (seed 0) of the whole frame, from libxxhash. Not
 * cryptographic: a 64-bit hash makes accidental matches negligible (about
 * 1e-8 for a million frames in the log). Changing the function changes the
 * replication protocol (docs/replication-protocol.md, RX_DIGESTS).
 */
uint64_t frame_digest(const uint8_t *frame, size_t len);

#endif
