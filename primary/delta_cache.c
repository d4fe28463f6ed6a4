/* SPDX-License-Identifier: MIT */
#include "primary/delta_cache.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/ckpt_codec.h"

#define PAGE ((size_t)CKPT_PAGE_SIZE)

/* Anonymous, unbacked until touched, and zero: what reset returns to. */
static void *map_zeroed(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static void zero(void *p, size_t size)
{
	if (p && size)
		madvise(p, size, MADV_DONTNEED);
}

int delta_cache_init(struct delta_cache *c, uint64_t mem_size, uint64_t bytes)
{
	uint64_t pages = bytes / PAGE;

	memset(c, 0, sizeof(*c));
	if (bytes > DELTA_CACHE_MAX_BYTES || mem_size % PAGE)
		return -EINVAL;
	c->mem_pages = mem_size / PAGE;
	if (pages > c->mem_pages)
		pages = c->mem_pages;
	c->capacity = (size_t)pages;
	if (!c->capacity)
		return 0;
	c->pages = map_zeroed(c->capacity * PAGE);
	c->slot_pfn = map_zeroed(c->capacity * sizeof(*c->slot_pfn));
	c->referenced = map_zeroed(c->capacity);
	c->slot_of = map_zeroed(c->mem_pages * sizeof(*c->slot_of));
	if (!c->pages || !c->slot_pfn || !c->referenced || !c->slot_of) {
		delta_cache_free(c);
		return -ENOMEM;
	}
	return 0;
}

void delta_cache_free(struct delta_cache *c)
{
	unmap(c->pages, c->capacity * PAGE);
	unmap(c->slot_pfn, c->capacity * sizeof(*c->slot_pfn));
	unmap(c->referenced, c->capacity);
	unmap(c->slot_of, c->mem_pages * sizeof(*c->slot_of));
	memset(c, 0, sizeof(*c));
}

const uint8_t *delta_cache_lookup(struct delta_cache *c, uint64_t pfn)
{
	uint32_t slot = c->capacity && pfn < c->mem_pages ? c->slot_of[pfn] : 0;

	if (!slot) {
		c->misses++;
		return NULL;
	}
	c->hits++;
	return c->pages + (slot - 1) * PAGE;
}

const uint8_t *delta_cache_peek(const struct delta_cache *c, uint64_t pfn)
{
	uint32_t slot = c->capacity && pfn < c->mem_pages ? c->slot_of[pfn] : 0;

	return slot ? c->pages + (slot - 1) * PAGE : NULL;
}

/* A slot for a page not cached yet: a free one, else CLOCK's victim. */
static size_t take_slot(struct delta_cache *c)
{
	size_t slot;

	if (c->used < c->capacity)
		return c->used++;
	while (c->referenced[c->hand]) {
		c->referenced[c->hand] = 0;
		c->hand = (c->hand + 1) % c->capacity;
	}
	slot = c->hand;
	c->hand = (c->hand + 1) % c->capacity;
	c->slot_of[c->slot_pfn[slot]] = 0;
	c->evictions++;
	return slot;
}

void delta_cache_store(struct delta_cache *c, uint64_t pfn, const uint8_t *page)
{
	size_t slot;

	if (!c->capacity || pfn >= c->mem_pages)
		return;
	c->stores++;
	if (c->slot_of[pfn]) {
		slot = c->slot_of[pfn] - 1;
		c->referenced[slot] = 1;
	} else {
		slot = take_slot(c);
		c->slot_pfn[slot] = pfn;
		c->slot_of[pfn] = (uint32_t)(slot + 1);
		c->referenced[slot] = 0;
	}
	memcpy(c->pages + slot * PAGE, page, PAGE);
}

void delta_cache_store_epoch(struct delta_cache *c, const uint64_t *pfns,
			     const uint8_t *pages, size_t n, bool full)
{
	if (full)
		delta_cache_reset(c);
	for (size_t i = 0; i < n; i++)
		delta_cache_store(c, pfns[i], pages + i * PAGE);
}

void delta_cache_reset(struct delta_cache *c)
{
	if (!c->capacity)
		return;
	zero(c->pages, c->used * PAGE);
	zero(c->slot_pfn, c->capacity * sizeof(*c->slot_pfn));
	zero(c->referenced, c->capacity);
	zero(c->slot_of, c->mem_pages * sizeof(*c->slot_of));
	c->used = 0;
	c->hand = 0;
	c->resets++;
}

uint64_t delta_cache_bytes_used(const struct delta_cache *c)
{
	return (uint64_t)c->used * PAGE;
}

uint64_t delta_cache_bytes_max(const struct delta_cache *c)
{
	return (uint64_t)c->capacity * PAGE;
}
