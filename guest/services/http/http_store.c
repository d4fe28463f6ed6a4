// SPDX-License-Identifier: MIT
/*
 * Chained hash table for the http service's /kv/ resources.
 *
 * Values are adopted, not copied: the parser already holds a PUT body in a
 * buffer of exactly the right size, and a 1 MiB memcpy per PUT would be
 * wasted work (and a wasted megabyte of dirty pages for the checkpointer).
 */
#include "http/http_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STORE_MIN_BUCKETS 64

struct http_store_entry {
	struct http_store_entry *next;
	uint64_t hash;
	uint8_t *value;
	size_t len;
	size_t key_len;
	char key[];
};

/* FNV-1a: short keys, no adversary worth a keyed hash in a test guest. */
static uint64_t hash_key(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void http_store_init(struct http_store *s, size_t max_bytes)
{
	memset(s, 0, sizeof(*s));
	s->max_bytes = max_bytes;
}

void http_store_free(struct http_store *s)
{
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct http_store_entry *e = s->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e->value);
			free(e);
		}
	}
	free(s->buckets);
	http_store_init(s, s->max_bytes);
}

static struct http_store_entry **find_slot(const struct http_store *s,
					   const char *key, size_t key_len,
					   uint64_t h)
{
	struct http_store_entry **pe;

	if (!s->nbuckets)
		return NULL;
	for (pe = &s->buckets[h & (s->nbuckets - 1)]; *pe; pe = &(*pe)->next) {
		struct http_store_entry *e = *pe;

		if (e->hash == h && e->key_len == key_len &&
		    memcmp(e->key, key, key_len) == 0)
			return pe;
	}
	return NULL;
}

/* Double the table when the load factor passes 3/4; failure is harmless. */
static void maybe_grow(struct http_store *s)
{
	struct http_store_entry **nb;
	size_t n;

	if (s->nbuckets && s->count < s->nbuckets / 4 * 3)
		return;
	n = s->nbuckets ? s->nbuckets * 2 : STORE_MIN_BUCKETS;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct http_store_entry *e = s->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->nbuckets = n;
}

int http_store_put(struct http_store *s, const char *key, size_t key_len,
		   uint8_t *value, size_t len, bool *created)
{
	uint64_t h = hash_key(key, key_len);
	struct http_store_entry **pe, *e;

	pe = find_slot(s, key, key_len, h);
	if (pe) {
		e = *pe;
		if (s->bytes - e->len + len > s->max_bytes)
			return -ENOSPC;
		s->bytes = s->bytes - e->len + len;
		free(e->value);
		e->value = value;
		e->len = len;
		*created = false;
		return 0;
	}

	if (key_len + len > s->max_bytes - s->bytes)
		return -ENOSPC;
	maybe_grow(s);
	if (!s->nbuckets)
		return -ENOMEM;
	e = malloc(sizeof(*e) + key_len);
	if (!e)
		return -ENOMEM;
	e->hash = h;
	e->value = value;
	e->len = len;
	e->key_len = key_len;
	memcpy(e->key, key, key_len);
	e->next = s->buckets[h & (s->nbuckets - 1)];
	s->buckets[h & (s->nbuckets - 1)] = e;
	s->count++;
	s->bytes += key_len + len;
	*created = true;
	return 0;
}

int http_store_get(const struct http_store *s, const char *key,
		   size_t key_len, const uint8_t **value, size_t *len)
{
	struct http_store_entry **pe;

	pe = find_slot(s, key, key_len, hash_key(key, key_len));
	if (!pe)
		return -ENOENT;
	*value = (*pe)->value;
	*len = (*pe)->len;
	return 0;
}
