/*
 * malloc/calloc/realloc/free for the guest: thin wrappers over heap.c.
 * The runtime calls heap_init() on the region the boot-info page gives it
 * before any of these run.
 *
 * Guest-only: host unit tests link heap.c directly and must not replace
 * glibc's malloc, so the whole file is empty unless RRVM_GUEST is set.
 *
 * Semantics worth knowing (see heap.h): malloc(0) returns a unique 16-byte
 * block, not NULL; realloc(p, 0) shrinks p to that minimum and returns it;
 * misuse (double free, stray pointer, overwritten header) exits the guest
 * with status 134 and a message on the console.
 */
#ifdef RRVM_GUEST
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "heap.h"

void *malloc(size_t size)
{
	void *p = heap_alloc(size);

	if (!p)
		errno = ENOMEM;
	return p;
}

/* heap_calloc checks n * size for overflow and returns NULL on it. */
void *calloc(size_t n, size_t size)
{
	void *p = heap_calloc(n, size);

	if (!p)
		errno = ENOMEM;
	return p;
}

void *realloc(void *p, size_t size)
{
	void *q = heap_realloc(p, size);

	if (!q)
		errno = ENOMEM;
	return q;
}

void free(void *p)
{
	heap_free(p);
}
#endif
