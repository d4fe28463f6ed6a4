/* SPDX-License-Identifier: MIT */
/*
 * A migration's channel encoders (internal to migration/,
 * docs/migration.md "Channels"). A pre-copy round's pages (the snapshot's,
 * in pfn order) are split into N contiguous parts, one per channel; each
 * part goes out on its own link as an epoch of its own ("BEGIN r, PAGES...,
 * END r"), encoded and sent by its own thread: the engine's thread for
 * channel 0, one thread per further channel. The destination commits round
 * r once every channel's END r arrived.
 *
 * The parts read the snapshot and the delta cache at the same time, so
 * neither may change while a round is out (mchan_send_round returns only
 * when every part is sent, or failed).
 */
#ifndef RRVM_MIGRATE_CHANNELS_H
#define RRVM_MIGRATE_CHANNELS_H

#include <stddef.h>

#include "migration/migrate_source.h"

/* Before mlink_open (the channels' locks and buffers). */
void mchan_init(struct migration *m);
/* Start the encoder threads of channels 1..N-1. 0 or -errno. */
int mchan_start(struct migration *m);
/* Stop them, free the buffers (any time after mchan_init). */
void mchan_stop(struct migration *m);

/*
 * Part i of n over count pages: indexes [*first, *first + return value).
 * Contiguous and in order, so each channel's pages are a pfn range and
 * the parts together are every page exactly once.
 */
size_t mchan_part(size_t count, unsigned n, unsigned i, size_t *first);

/* The delta base of pfn: what the destination holds, from the delta
 * cache (ctx: the migration). Several encoders read it at once, so it
 * counts nothing; nothing is stored while a round is out. */
const uint8_t *mchan_cache_base(void *ctx, uint64_t pfn);

/* The snapshot's pages as one pages-only epoch (begin), split among the
 * channels. 0 when every part was sent, else the first failure. */
int mchan_send_round(struct migration *m, const struct ckpt_begin *begin);

#endif
