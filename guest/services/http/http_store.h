/* SPDX-License-Identifier: MIT */
/*
 * The http service's KEY -> bytes store: a chained hash table with a byte
 * budget, so PUTs cannot starve the rest of the guest (lwIP's buffers, other
 * connections' bodies) of memory.
 */
#ifndef GUEST_HTTP_STORE_H
#define GUEST_HTTP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_store_entry;

struct http_store {
	struct http_store_entry **buckets;
	size_t nbuckets;	/* power of two, or 0 before the first put */
	size_t count;
	size_t bytes;		/* keys + values currently stored */
	size_t max_bytes;
};

void http_store_init(struct http_store *s, size_t max_bytes);
void http_store_free(struct http_store *s);

/*
 * Store `value` (malloc'd, len bytes; NULL when len is 0) under key. On
 * success the store owns value and *created says whether the key was new.
 * -ENOSPC when the budget would be exceeded, -ENOMEM; value is then still
 * the caller's.
 */
int http_store_put(struct http_store *s, const char *key, size_t key_len,
		   uint8_t *value, size_t len, bool *created);

/* 0 and the value (valid until the next put of that key), or -ENOENT. */
int http_store_get(const struct http_store *s, const char *key,
		   size_t key_len, const uint8_t **value, size_t *len);

#endif
