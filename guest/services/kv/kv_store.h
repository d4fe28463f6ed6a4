/* SPDX-License-Identifier: MIT */
/*
 * The kv keyspace: binary-safe keys mapped to strings or lists, with
 * per-key expiry. One database, single-threaded, no I/O.
 *
 * The hash table resizes incrementally (a few buckets per operation, as
 * Redis does) so that growing past a million keys never stalls a request
 * for the length of a full rehash.
 */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kv_type {
	KV_STRING = 1,
	KV_LIST = 2,
};

/* One list element: length and bytes in one allocation. */
struct kv_blob {
	size_t len;
	uint8_t data[];
};

/* A deque as a ring of element pointers; cap is 0 or a power of two. */
struct kv_list {
	struct kv_blob **items;
	size_t head;
	size_t count;
	size_t cap;
};

struct kv_string {
	uint8_t *data;
	size_t len;
	size_t cap; /* kept so overwriting with a same-size value is free */
};

struct kv_entry {
	struct kv_entry *next;
	uint64_t hash;
	uint64_t expire_ms; /* absolute guest time; 0 = no expiry */
	uint32_t key_len;
	uint8_t type; /* enum kv_type */
	union {
		struct kv_string str;
		struct kv_list list;
	} v;
	uint8_t key[];
};

struct kv_table {
	struct kv_entry **buckets;
	size_t size; /* 0 or a power of two */
	size_t used;
};

struct kv_store {
	/* ht[1] is non-empty only while ht[0] is being moved into it. */
	struct kv_table ht[2];
	size_t rehash_idx; /* next ht[0] bucket to move */
	size_t volatile_keys;
	size_t expire_cursor;
	uint64_t expired_keys;
	uint64_t hits;
	uint64_t misses;
};

/* Keys are limited to what key_len holds; the protocol caps them lower. */
#define KV_MAX_KEY UINT32_MAX

int kv_store_init(struct kv_store *s);
void kv_store_destroy(struct kv_store *s);
/* Drop every key; the store stays usable. */
void kv_store_flush(struct kv_store *s);
/* Keys, including expired ones nobody has touched yet (as Redis counts). */
size_t kv_store_count(const struct kv_store *s);
size_t kv_store_volatile_count(const struct kv_store *s);

/* The live entry for key, or NULL; an expired entry is deleted on sight. */
struct kv_entry *kv_store_find(struct kv_store *s, const void *key,
			       size_t len, uint64_t now_ms);
/*
 * Insert an empty value of `type` for a key that kv_store_find just reported
 * absent. 0 or -ENOMEM / -E2BIG.
 */
int kv_store_add(struct kv_store *s, const void *key, size_t len,
		 enum kv_type type, struct kv_entry **out);
void kv_store_remove(struct kv_store *s, struct kv_entry *e);
/* 1 if a live key was deleted, 0 if there was none. */
int kv_store_delete(struct kv_store *s, const void *key, size_t len,
		    uint64_t now_ms);
/* Set or clear (0) the absolute expiry time. */
void kv_store_set_expire(struct kv_store *s, struct kv_entry *e,
			 uint64_t expire_ms);
/*
 * Reclaim keys whose time has passed without anyone reading them: looks at
 * up to `budget` buckets per call so callers can run it on every command.
 */
void kv_store_expire_step(struct kv_store *s, uint64_t now_ms, size_t budget);

typedef void (*kv_visit_fn)(const struct kv_entry *e, void *arg);
/* Every live key; fn must not modify the store. */
void kv_store_foreach(const struct kv_store *s, uint64_t now_ms,
		      kv_visit_fn fn, void *arg);

/* Replace the value with an empty one of another type. */
void kv_entry_retype(struct kv_entry *e, enum kv_type type);

/*
 * Make e a string holding data, whatever it held before. 0, or -ENOMEM with
 * the old value untouched.
 */
int kv_str_set(struct kv_entry *e, const void *data, size_t len);
/* Append to a string entry. 0, or -ENOMEM with the value untouched. */
int kv_str_append(struct kv_entry *e, const void *data, size_t len);

/* List values. Push: 0 or -ENOMEM. Pop: the element (caller frees) or NULL. */
int kv_list_push(struct kv_entry *e, bool left, const void *data, size_t len);
struct kv_blob *kv_list_pop(struct kv_entry *e, bool left);
/* Element idx (0 = head), or NULL if out of range. */
const struct kv_blob *kv_list_at(const struct kv_entry *e, size_t idx);

static inline size_t kv_list_len(const struct kv_entry *e)
{
	return e->v.list.count;
}

#endif
