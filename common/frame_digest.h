/* SPDX-License-Identifier: MIT */
/*
 * The 64-bit digest that names a frame on both sides of reverse
 * replication: the primary digests each frame it gives the guest, the backup
 * digests each frame it logs, and a committed epoch's digests trim the log.
 * Both sides must call this one function.
 */
#ifndef RRVM_FRAME_DIGEST_H
#define RRVM_FRAME_DIGEST_H

#include <stddef.h>
#include <stdint.h>

uint64_t frame_digest(const uint8_t *frame, size_t len);

#endif
