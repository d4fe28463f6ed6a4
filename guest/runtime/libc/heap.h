/*
 * The guest's general-purpose allocator (heap.c; design in
 * docs/guest-libc.md).  One heap, over one contiguous region handed over
 * at boot; malloc/calloc/realloc/free (malloc.c) are thin wrappers.
 * Not thread-safe: the guest is single-threaded.
 */
#ifndef RRVM_GUEST_HEAP_H
#define RRVM_GUEST_HEAP_H

#include <stddef.h>

/* Every pointer returned is aligned to this. */
#define HEAP_ALIGN 16

struct heap_stats {
	size_t total;       /* bytes under management (block headers incl.) */
	size_t in_use;      /* bytes in allocated blocks, headers included */
	size_t peak;        /* high-water mark of in_use since heap_init */
	size_t free_blocks; /* number of free blocks (fragmentation gauge) */
};

/*
 * Take over [base, base + size).  The ends are trimmed to 16-byte
 * alignment; a region too small to hold one block leaves an empty heap on
 * which every allocation fails.  Calling it again forgets the old heap.
 * Largest supported region: 64 GiB (sizes are kept in 16-byte units in
 * 32 bits).
 */
void heap_init(void *base, size_t size);

/* NULL when out of memory (never crashes).  heap_alloc(0) returns a unique
 * minimum-size block (16 usable bytes), not NULL. */
void *heap_alloc(size_t size);
/* n * size bytes, zeroed; NULL if the product overflows. */
void *heap_calloc(size_t n, size_t size);
/* Grows in place into a free neighbour when it can (the next block, or
 * the previous one with a memmove); shrinks in place.  NULL p = alloc.
 * size 0 shrinks to the minimum block and returns p (not NULL, so a NULL
 * return always means "failed, p untouched"). */
void *heap_realloc(void *p, size_t size);
/* NULL is ignored.  A pointer that is not a live allocation (double free,
 * stray pointer, header overwritten by an overflow) is reported through
 * the failure hook. */
void heap_free(void *p);
/* Bytes usable at p (>= the size asked for). */
size_t heap_usable_size(const void *p);

void heap_get_stats(struct heap_stats *st);

/*
 * Walk every block and check the invariants (headers intact, boundary tags
 * agree, no two free neighbours, free lists match the blocks).  O(heap):
 * for tests and debugging.  Returns NULL if consistent, else a description
 * of the first problem.
 */
const char *heap_check(void);

/*
 * Called when the heap detects misuse or corruption, with a description
 * and the offending pointer.  The default prints a message and exits the
 * guest with status 134 (as a failed assertion does).  A hook is not
 * expected to return (tests longjmp out); if it does, the operation is
 * abandoned: free does nothing, realloc and usable_size return NULL / 0.
 * Returns the previous hook; NULL restores the default.
 */
typedef void (*heap_fail_fn)(const char *what, const void *ptr);
heap_fail_fn heap_set_fail_hook(heap_fail_fn fn);

#endif
