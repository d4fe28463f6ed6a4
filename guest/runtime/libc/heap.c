/*
 * The guest heap: boundary tags + segregated power-of-two free lists.
 *
 * Layout.  The region is one run of blocks ended by a zero-size sentinel
 * header.  Sizes are counted in 16-byte units and every block starts on a
 * 16-byte boundary with a 16-byte header, so every payload is 16-aligned:
 *
 *	+------------+-------+-------+-----+---------------------------+
 *	| prev_units | units | flags | tag | payload (units*16 - 16)   |
 *	+------------+-------+-------+-----+---------------------------+
 *
 * prev_units is the boundary tag of the *previous* block, meaningful only
 * while that block is free (BLK_PREV_FREE set here): freeing a block can
 * then find and merge its left neighbour in O(1), and a used block pays no
 * footer.  tag is a state magic xor'ed with units: one compare tells used
 * from free and catches double frees, stray pointers and most overwritten
 * headers.  A free block keeps its list links in its payload, so the
 * smallest block is 32 bytes (16 usable).
 *
 * Free lists.  Bin i holds free blocks of [2^i, 2^(i+1)) units, with a
 * bitmap of non-empty bins.  A request below 64 KiB looks at a few blocks
 * of its own bin (first fit), then takes the head of the smallest
 * non-empty larger bin -- any block there fits, so that is one bit scan --
 * and only if there is none finishes the scan of its own bin: O(1) apart
 * from that bounded scan.  Free merges both neighbours at once, so no two
 * free blocks are ever adjacent.
 *
 * Large blocks (64 KiB and up: the kv store's 1 MiB values) get three
 * anti-fragmentation rules, all tuned on a kv-like load of many small
 * keys and ~40 values of 1 MiB in a 48 MiB heap (tests/unit/test_heap.c):
 *  - they are cut in whole 4 KiB pages, so values of nearly equal size
 *    need equal blocks and reuse each other's holes exactly;
 *  - they take the best fit (large bins are short), from the high end of
 *    the free block, while small blocks are cut from the low end: the two
 *    kinds drift to opposite ends of the heap;
 *  - a request under 1 KiB that must split a block of 1 KiB or more
 *    splits one of the biggest (the head of the highest non-empty bin,
 *    normally the untouched middle of the heap), so small objects do not
 *    settle between large ones and keep their holes from merging.
 *
 * Not thread-safe, no locking: the guest has one thread and no interrupts.
 */
#include <stdint.h>
#include <string.h>

#include "heap.h"
#include "rrvm/boot_info.h"

#ifdef RRVM_UNIT_TEST
#include <stdio.h>
#include <stdlib.h>
#else
#include "libc_internal.h"
#endif

struct block {
	uint32_t prev_units; /* previous block's size, if BLK_PREV_FREE */
	uint32_t units;      /* this block's size incl. header, 16-byte units */
	uint32_t flags;
	uint32_t tag;        /* MAGIC_USED or MAGIC_FREE, xor units */
};

/* Lives in the payload of a free block. */
struct links {
	struct block *next, *prev;
};

#define UNIT 16u
#define MIN_UNITS 2u /* header + links */
#define NBINS 32
#define SCAN_LIMIT 8 /* own-bin candidates tried before a bigger bin */
/* Blocks of 64 KiB and more are sized in whole pages (see units_for). */
#define LARGE_UNITS ((64u << 10) / UNIT)
#define LARGE_ROUND (RRVM_PAGE_SIZE / UNIT)
/* Requests below 1 KiB do not split holes of LARGE_UNITS or more, except
 * the biggest free block (see find_fit). */
#define SMALL_UNITS (1024u / UNIT)
#define BLK_PREV_FREE 1u
#define MAGIC_USED 0xa110c8edu
#define MAGIC_FREE 0xf4eeb10cu

static struct {
	struct block *first; /* lowest block */
	struct block *end;   /* the sentinel */
	struct block *bins[NBINS];
	uint64_t nonempty;   /* bit i: bins[i] != NULL */
	size_t total_units, used_units, peak_units, nfree;
} heap;

static heap_fail_fn fail_hook;

_Static_assert(sizeof(struct block) == UNIT, "header must be one unit");
_Static_assert(sizeof(struct links) <= UNIT, "links must fit one unit");

/* ------------------------------------------------------------ helpers */

static inline struct block *next_blk(struct block *b)
{
	return (struct block *)((char *)b + (size_t)b->units * UNIT);
}

static inline struct block *prev_blk(struct block *b)
{
	return (struct block *)((char *)b - (size_t)b->prev_units * UNIT);
}

static inline struct links *links(struct block *b)
{
	return (struct links *)(b + 1);
}

static inline int is_free(const struct block *b)
{
	return (b->tag ^ b->units) == MAGIC_FREE;
}

static inline int is_used(const struct block *b)
{
	return (b->tag ^ b->units) == MAGIC_USED;
}

static inline unsigned bin_of(uint32_t units)
{
	return 31u - (unsigned)__builtin_clz(units);
}

static void default_fail(const char *what, const void *ptr)
{
#ifdef RRVM_UNIT_TEST
	fprintf(stderr, "heap: %s (%p)\n", what, ptr);
	abort();
#else
	static char msg[128]; /* static: we may be short of stack, too */

	LIBC_NAME(snprintf)(msg, sizeof(msg), "heap: %s (%p)", what, ptr);
	guest_assert_fail(msg, __FILE__, __LINE__);
#endif
}

static void fail(const char *what, const void *ptr)
{
	(fail_hook ? fail_hook : default_fail)(what, ptr);
}

heap_fail_fn heap_set_fail_hook(heap_fail_fn fn)
{
	heap_fail_fn old = fail_hook;

	fail_hook = fn;
	return old;
}

/* ---------------------------------------------------------- free lists */

static void bin_insert(struct block *b)
{
	unsigned i = bin_of(b->units);
	struct links *l = links(b);

	l->prev = NULL;
	l->next = heap.bins[i];
	if (l->next)
		links(l->next)->prev = b;
	heap.bins[i] = b;
	heap.nonempty |= 1ull << i;
	heap.nfree++;
}

static void bin_remove(struct block *b)
{
	unsigned i = bin_of(b->units);
	struct links *l = links(b);

	if (l->prev)
		links(l->prev)->next = l->next;
	else
		heap.bins[i] = l->next;
	if (l->next)
		links(l->next)->prev = l->prev;
	if (!heap.bins[i])
		heap.nonempty &= ~(1ull << i);
	heap.nfree--;
}

/* --------------------------------------------------------- block state */

static void mark_used(struct block *b, uint32_t units)
{
	b->units = units;
	b->tag = MAGIC_USED ^ units;
	next_blk(b)->flags &= ~BLK_PREV_FREE;
}

/* Write the free state and the boundary tag, and list the block. */
static void mark_free(struct block *b, uint32_t units)
{
	struct block *n;

	b->units = units;
	b->tag = MAGIC_FREE ^ units;
	n = next_blk(b);
	n->prev_units = units;
	n->flags |= BLK_PREV_FREE;
	bin_insert(b);
}

/*
 * Make [b, b + units) a free block, merged with whichever neighbours are
 * free.  b->flags must be valid (it says whether the left one is).
 */
static void release(struct block *b, uint32_t units)
{
	struct block *n = (struct block *)((char *)b + (size_t)units * UNIT);

	if (is_free(n)) {
		bin_remove(n);
		units += n->units;
	}
	if (b->flags & BLK_PREV_FREE) {
		struct block *p = prev_blk(b);

		bin_remove(p);
		units += p->units;
		b = p;
	}
	mark_free(b, units);
}

/* Trim a used block to `need` units, returning any big-enough tail. */
static void carve(struct block *b, uint32_t need)
{
	uint32_t rest = b->units - need;
	struct block *r;

	if (rest < MIN_UNITS)
		return;
	mark_used(b, need);
	r = next_blk(b);
	r->flags = 0; /* its left neighbour, b, is in use */
	r->tag = 0;
	release(r, rest);
}

/* Header of a pointer handed to free/realloc, or NULL (after reporting)
 * if it is not a live allocation. */
static struct block *checked_block(const void *p)
{
	struct block *b, *n;

	if (!heap.first || ((uintptr_t)p & (UNIT - 1)) ||
	    (const char *)p < (const char *)(heap.first + 1) ||
	    (const char *)p >= (const char *)heap.end) {
		fail("pointer not from this heap", p);
		return NULL;
	}
	b = (struct block *)p - 1;
	if (is_free(b)) {
		fail("double free", p);
		return NULL;
	}
	if (!is_used(b) || b->units < MIN_UNITS ||
	    b->units > (size_t)(heap.end - b)) {
		fail("bad pointer or corrupted block header", p);
		return NULL;
	}
	/* Cheap overflow check: whoever wrote past this block's end hit the
	 * next header first. */
	n = next_blk(b);
	if (!is_used(n) && !is_free(n)) {
		fail("block overrun: next header corrupted", p);
		return NULL;
	}
	return b;
}

/* 16-byte units for a payload of `size` bytes; 0 if it cannot fit. */
static uint32_t units_for(size_t size)
{
	size_t u;

	if (size > heap.total_units * UNIT)
		return 0;
	u = (size + UNIT + UNIT - 1) / UNIT;
	if (u > UINT32_MAX)
		return 0;
	return u < MIN_UNITS ? MIN_UNITS : (uint32_t)u;
}

/*
 * How much of a free block of `avail` units to take for `need`: large
 * blocks are cut in whole 4 KiB pages, so a value of 1 MiB + a few bytes
 * and one of 1 MiB + a few more get the same block size and the hole one
 * leaves fits the next (waste: under 4 KiB, < 6%).  The block is searched
 * for with the exact need, so rounding never turns a fit into a failure.
 */
static uint32_t round_large(uint32_t need, uint32_t avail)
{
	size_t r;

	if (need < LARGE_UNITS)
		return need;
	r = ((size_t)need + LARGE_ROUND - 1) & ~(size_t)(LARGE_ROUND - 1);
	return r < avail ? (uint32_t)r : avail;
}

/* The smallest block of a list that holds `need` units, or NULL. */
static struct block *best_fit(struct block *b, uint32_t need)
{
	struct block *best = NULL;

	for (; b; b = links(b)->next) {
		if (b->units >= need && (!best || b->units < best->units)) {
			best = b;
			if (b->units == need)
				break;
		}
	}
	return best;
}

static struct block *find_fit(uint32_t need)
{
	unsigned i = bin_of(need);
	struct block *b = heap.bins[i];
	uint64_t larger = heap.nonempty & ~((2ull << i) - 1);
	int scanned;

	/*
	 * Large requests take the best fit: it leaves the fewest unusable
	 * remainders among big blocks, and large bins are short (a 50 MiB
	 * heap holds at most ~800 blocks of 64 KiB), while the request
	 * itself costs a copy of 64 KiB or more anyway.
	 */
	if (need >= LARGE_UNITS) {
		b = best_fit(b, need);
		if (!b && larger)
			b = best_fit(heap.bins[__builtin_ctzll(larger)], need);
		return b;
	}

	for (scanned = 0; b && scanned < SCAN_LIMIT; scanned++) {
		if (b->units >= need)
			return b;
		b = links(b)->next;
	}
	if (larger) {
		unsigned j = (unsigned)__builtin_ctzll(larger);

		/* A small request whose nearest fit is a block of 1 KiB or
		 * more (typically a hole a large object left) splits the
		 * biggest free block instead -- normally the untouched
		 * middle of the heap -- so the hole stays whole for the next
		 * large object and small objects cluster together. */
		if (need < SMALL_UNITS && j >= bin_of(SMALL_UNITS))
			j = 63u - (unsigned)__builtin_clzll(larger);
		return heap.bins[j];
	}
	for (; b; b = links(b)->next)
		if (b->units >= need)
			return b;
	return NULL;
}

static void account(size_t old_units, size_t new_units)
{
	heap.used_units = heap.used_units - old_units + new_units;
	if (heap.used_units > heap.peak_units)
		heap.peak_units = heap.used_units;
}

/* ---------------------------------------------------------------- API */

void heap_init(void *base, size_t size)
{
	uintptr_t lo = ((uintptr_t)base + UNIT - 1) & ~(uintptr_t)(UNIT - 1);
	uintptr_t hi = (uintptr_t)base + size;
	size_t units;

	memset(&heap, 0, sizeof(heap));
	if (hi < (uintptr_t)base) /* wrapped: clamp to the address space */
		hi = UINTPTR_MAX;
	hi &= ~(uintptr_t)(UNIT - 1);
	if (hi <= lo || (hi - lo) / UNIT < MIN_UNITS + 1)
		return; /* too small: an empty heap, every alloc fails */

	units = (hi - lo) / UNIT - 1; /* one unit for the sentinel */
	if (units > UINT32_MAX)
		units = UINT32_MAX;
	heap.first = (struct block *)lo;
	heap.end = (struct block *)(lo + units * UNIT);
	heap.end->units = 0;
	heap.end->tag = MAGIC_USED; /* ^ 0: looks like a used block */
	heap.end->flags = 0;
	heap.first->flags = 0;
	heap.total_units = units;
	mark_free(heap.first, (uint32_t)units);
}

void *heap_alloc(size_t size)
{
	uint32_t need = units_for(size);
	struct block *b;

	if (!need || !(b = find_fit(need)))
		return NULL;
	bin_remove(b);
	need = round_large(need, b->units);
	if (need >= LARGE_UNITS && b->units - need >= MIN_UNITS) {
		/* Large blocks come from the high end of the free block,
		 * small ones (carve) from the low end: the two kinds drift to
		 * opposite ends of the heap, and small objects rarely end up
		 * between large ones, where they would keep the holes of
		 * freed large objects from merging. */
		uint32_t rest = b->units - need;
		struct block *a = (struct block *)((char *)b + (size_t)rest * UNIT);

		a->flags = 0;
		mark_free(b, rest);
		mark_used(a, need);
		account(0, need);
		return a + 1;
	}
	mark_used(b, b->units);
	carve(b, need);
	account(0, b->units);
	return b + 1;
}

void *heap_calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = heap_alloc(n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void heap_free(void *p)
{
	struct block *b;

	if (!p || !(b = checked_block(p)))
		return;
	account(b->units, 0);
	/* Mark the header free before merging: if it ends up inside a
	 * left neighbour, a second free of p still reads "double free". */
	b->tag = MAGIC_FREE ^ b->units;
	release(b, b->units);
}

void *heap_realloc(void *p, size_t size)
{
	struct block *b, *n, *pr;
	uint32_t need, cur, next_free;
	void *q;

	if (!p)
		return heap_alloc(size);
	if (!(b = checked_block(p)))
		return NULL;
	need = units_for(size);
	if (!need)
		return NULL;
	cur = b->units;

	if (need <= cur) { /* shrink (or same): give the tail back */
		carve(b, round_large(need, cur));
		account(cur, b->units);
		return p;
	}

	n = next_blk(b);
	next_free = is_free(n) ? n->units : 0;
	if ((size_t)cur + next_free >= need) { /* grow into the next block */
		bin_remove(n);
		mark_used(b, cur + next_free);
		carve(b, round_large(need, cur + next_free));
		account(cur, b->units);
		return p;
	}

	pr = (b->flags & BLK_PREV_FREE) ? prev_blk(b) : NULL;
	if (pr && (size_t)pr->units + cur + next_free >= need) {
		/* Grow leftwards (plus rightwards if free) and slide the data
		 * down: cheaper than a fresh block plus a full copy, and it
		 * keeps the heap compact under growing buffers. */
		uint32_t total = pr->units + cur + next_free;

		bin_remove(pr);
		if (next_free)
			bin_remove(n);
		b->tag = MAGIC_FREE ^ cur; /* stale header: frees of p fail */
		memmove(pr + 1, p, (size_t)cur * UNIT - UNIT);
		mark_used(pr, total);
		carve(pr, round_large(need, total));
		account(cur, pr->units);
		return pr + 1;
	}

	q = heap_alloc(size);
	if (!q)
		return NULL; /* p is untouched, as C requires */
	memcpy(q, p, (size_t)cur * UNIT - UNIT);
	heap_free(p);
	return q;
}

size_t heap_usable_size(const void *p)
{
	struct block *b;

	if (!p || !(b = checked_block(p)))
		return 0;
	return (size_t)b->units * UNIT - UNIT;
}

void heap_get_stats(struct heap_stats *st)
{
	st->total = heap.total_units * UNIT;
	st->in_use = heap.used_units * UNIT;
	st->peak = heap.peak_units * UNIT;
	st->free_blocks = heap.nfree;
}

/* Is b a plausible block address?  (Before dereferencing list links.) */
static int in_heap(const struct block *b)
{
	return b >= heap.first && b < heap.end &&
	       !((uintptr_t)b & (UNIT - 1));
}

const char *heap_check(void)
{
	struct block *b, *prev = NULL;
	size_t used = 0, nfree = 0, listed = 0, units = 0;
	unsigned i;

	if (!heap.first)
		return heap.nfree || heap.used_units ? "empty heap has state"
						     : NULL;
	for (b = heap.first; b != heap.end; prev = b, b = next_blk(b)) {
		if (!in_heap(b))
			return "block chain runs off the heap";
		if (!is_used(b) && !is_free(b))
			return "corrupted block header";
		if (b->units < MIN_UNITS || b->units > (size_t)(heap.end - b))
			return "block size out of range";
		if (!!(b->flags & BLK_PREV_FREE) != (prev && is_free(prev)))
			return "PREV_FREE flag disagrees with neighbour";
		if ((b->flags & BLK_PREV_FREE) && b->prev_units != prev->units)
			return "boundary tag disagrees with neighbour";
		if (is_free(b) && prev && is_free(prev))
			return "two adjacent free blocks";
		if (is_free(b))
			nfree++;
		else
			used += b->units;
		units += b->units;
	}
	if (!!(b->flags & BLK_PREV_FREE) != (prev && is_free(prev)))
		return "sentinel PREV_FREE flag wrong";
	if (units != heap.total_units)
		return "blocks do not cover the heap";
	if (used != heap.used_units)
		return "in-use accounting is off";
	if (nfree != heap.nfree)
		return "free block count is off";

	for (i = 0; i < NBINS; i++) {
		struct block *f, *back = NULL;

		if (!!heap.bins[i] != !!(heap.nonempty & (1ull << i)))
			return "bin bitmap disagrees with lists";
		for (f = heap.bins[i]; f; back = f, f = links(f)->next) {
			if (!in_heap(f) || !is_free(f))
				return "free list holds a non-free block";
			if (bin_of(f->units) != i)
				return "free block in the wrong bin";
			if (links(f)->prev != back)
				return "free list back link broken";
			if (++listed > nfree)
				return "free lists hold more than the free blocks";
		}
	}
	if (listed != nfree)
		return "free block missing from the lists";
	return NULL;
}
