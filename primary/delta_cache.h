/* SPDX-License-Identifier: MIT */
/*
 * The primary's delta cache: for a bounded number of pages, the exact
 * content the backup holds, so that those pages can be sent as XOR deltas
 * against it; any other page goes as absolute content (RLE, LZ4 or raw).
 * It replaces a full shadow of the backup's image, which doubled the
 * primary's memory (QEMU's XBZRLE cache plays the same role in migration).
 *
 * Exactness is the caller's duty: store a page only once the backup is
 * bound to hold it (the epoch carrying it has been sent whole; a failed
 * send means a full resync), and reset on a full resync.
 *
 * Eviction is CLOCK (second chance): a page stored again while cached, i.e.
 * dirtied in two epochs it stayed cached across, gets its reference bit
 * set and survives one sweep of the hand; a page stored once is evicted in
 * the order it came in. Rewritten pages (kv values, counters, stacks) stay;
 * one-off writes pass through.
 *
 * Not thread-safe: one thread (the replicator's epoch thread) uses it.
 */
#ifndef RRVM_DELTA_CACHE_H
#define RRVM_DELTA_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DELTA_CACHE_DEFAULT_BYTES (64ull << 20)
/* Largest --delta-cache accepted (a VM's memory caps it anyway). */
#define DELTA_CACHE_MAX_BYTES (64ull << 30)

struct delta_cache {
	uint64_t mem_pages; /* pfns are below this */
	size_t capacity;    /* pages; 0 = no deltas at all */
	size_t used;
	size_t hand;	    /* CLOCK hand: next slot to consider for eviction */
	uint8_t *pages;	    /* capacity pages, mapped without backing */
	uint64_t *slot_pfn; /* slot -> pfn */
	uint32_t *slot_of;  /* pfn -> slot + 1; 0 = not cached */
	uint8_t *referenced; /* per slot */
	/* Counters since init (reset keeps them). */
	uint64_t hits, misses, stores, evictions, resets;
};

/*
 * Room for min(bytes, mem_size) / CKPT_PAGE_SIZE pages (bytes is rounded down
 * to whole pages; 0 disables deltas). 0, -EINVAL (bytes > DELTA_CACHE_MAX_BYTES
 * or mem_size not whole pages) or -ENOMEM.
 */
int delta_cache_init(struct delta_cache *c, uint64_t mem_size, uint64_t bytes);
void delta_cache_free(struct delta_cache *c);

/* The backup's content of pfn, or NULL if not cached; counts a hit or a
 * miss. The pointer stays valid until the next store or reset. */
const uint8_t *delta_cache_lookup(struct delta_cache *c, uint64_t pfn);
/* The same without counting: safe from several threads at once while
 * nothing is stored (a migration's channel encoders). */
const uint8_t *delta_cache_peek(const struct delta_cache *c, uint64_t pfn);

/* The backup now holds `page` at pfn: cache it, evicting if full. */
void delta_cache_store(struct delta_cache *c, uint64_t pfn,
		       const uint8_t *page);

/* The receiver now holds the n pages (pfns[i], CKPT_PAGE_SIZE bytes each at
 * pages + i * CKPT_PAGE_SIZE) of an epoch sent whole; a full epoch (full)
 * replaces everything it held. */
void delta_cache_store_epoch(struct delta_cache *c, const uint64_t *pfns,
			     const uint8_t *pages, size_t n, bool full);

/* Forget every page (a full resync is coming) and give the memory back. */
void delta_cache_reset(struct delta_cache *c);

/* Bytes of page data the cache holds now / at most. */
uint64_t delta_cache_bytes_used(const struct delta_cache *c);
uint64_t delta_cache_bytes_max(const struct delta_cache *c);

#endif
