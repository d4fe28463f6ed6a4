/* SPDX-License-Identifier: MIT */
/* The kv keyspace; see kv_store.h. */
#include "kv_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define KV_TABLE_MIN 16
/* Empty buckets one rehash step may skip before giving up for now. */
#define KV_REHASH_EMPTY_VISITS 10

/*
 * FNV-1a with a final avalanche: the table indexes with the low bits, which
 * plain FNV leaves weak for keys that differ only at the end ("key:1", ...).
 */
static uint64_t kv_hash(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static bool rehashing(const struct kv_store *s)
{
	return s->ht[1].size != 0;
}

static bool expired(const struct kv_entry *e, uint64_t now_ms)
{
	return e->expire_ms && now_ms >= e->expire_ms;
}

static void free_value(struct kv_entry *e)
{
	if (e->type == KV_STRING) {
		free(e->v.str.data);
	} else if (e->type == KV_LIST) {
		struct kv_list *l = &e->v.list;

		for (size_t i = 0; i < l->count; i++)
			free(l->items[(l->head + i) & (l->cap - 1)]);
		free(l->items);
	}
	memset(&e->v, 0, sizeof(e->v));
}

static void free_entry(struct kv_entry *e)
{
	free_value(e);
	free(e);
}

static int alloc_first_table(struct kv_store *s)
{
	s->ht[0].buckets = calloc(KV_TABLE_MIN, sizeof(*s->ht[0].buckets));
	if (!s->ht[0].buckets)
		return -ENOMEM;
	s->ht[0].size = KV_TABLE_MIN;
	s->ht[0].used = 0;
	return 0;
}

int kv_store_init(struct kv_store *s)
{
	memset(s, 0, sizeof(*s));
	return alloc_first_table(s);
}

static void free_table(struct kv_table *t)
{
	for (size_t i = 0; i < t->size; i++) {
		struct kv_entry *e = t->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free_entry(e);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

void kv_store_destroy(struct kv_store *s)
{
	free_table(&s->ht[0]);
	free_table(&s->ht[1]);
	s->rehash_idx = 0;
	s->volatile_keys = 0;
}

void kv_store_flush(struct kv_store *s)
{
	kv_store_destroy(s);
	s->expire_cursor = 0;
	/* If even the small table cannot be had, add() retries later. */
	alloc_first_table(s);
}

size_t kv_store_count(const struct kv_store *s)
{
	return s->ht[0].used + s->ht[1].used;
}

size_t kv_store_volatile_count(const struct kv_store *s)
{
	return s->volatile_keys;
}

/* Start moving ht[0] into a table of `size` buckets; fine if it fails. */
static void start_rehash(struct kv_store *s, size_t size)
{
	struct kv_entry **b;

	if (rehashing(s) || size == s->ht[0].size)
		return;
	b = calloc(size, sizeof(*b));
	if (!b)
		return;
	s->ht[1].buckets = b;
	s->ht[1].size = size;
	s->ht[1].used = 0;
	s->rehash_idx = 0;
}

/* Move up to n buckets of ht[0]; finish the rehash when it is empty. */
static void rehash_step(struct kv_store *s, size_t n)
{
	size_t empty = n * KV_REHASH_EMPTY_VISITS;
	struct kv_table *from = &s->ht[0], *to = &s->ht[1];

	if (!rehashing(s))
		return;
	while (n && s->rehash_idx < from->size) {
		struct kv_entry *e = from->buckets[s->rehash_idx], *next;

		if (!e) {
			s->rehash_idx++;
			if (--empty == 0)
				break;
			continue;
		}
		for (; e; e = next) {
			size_t i = e->hash & (to->size - 1);

			next = e->next;
			e->next = to->buckets[i];
			to->buckets[i] = e;
			from->used--;
			to->used++;
		}
		from->buckets[s->rehash_idx++] = NULL;
		n--;
	}
	if (s->rehash_idx == from->size) {
		free(from->buckets);
		*from = *to;
		memset(to, 0, sizeof(*to));
		s->rehash_idx = 0;
		s->expire_cursor = 0;
	}
}

/* Where key is chained (and in which table), or NULL. */
static struct kv_entry **find_slot(struct kv_store *s, const void *key,
				   size_t len, uint64_t h, int *table)
{
	for (int t = 0; t < 2; t++) {
		struct kv_table *ht = &s->ht[t];
		struct kv_entry **pp;

		if (!ht->size)
			continue;
		pp = &ht->buckets[h & (ht->size - 1)];
		for (; *pp; pp = &(*pp)->next) {
			struct kv_entry *e = *pp;

			if (e->hash == h && e->key_len == len &&
			    memcmp(e->key, key, len) == 0) {
				*table = t;
				return pp;
			}
		}
	}
	return NULL;
}

static void unlink_entry(struct kv_store *s, int table, struct kv_entry **pp)
{
	struct kv_entry *e = *pp;

	*pp = e->next;
	s->ht[table].used--;
	if (e->expire_ms)
		s->volatile_keys--;
	free_entry(e);
}

static void maybe_shrink(struct kv_store *s)
{
	size_t used = kv_store_count(s), size = KV_TABLE_MIN;

	if (rehashing(s) || s->ht[0].size <= KV_TABLE_MIN ||
	    used * 8 >= s->ht[0].size)
		return;
	while (size < used * 2)
		size *= 2;
	start_rehash(s, size);
}

struct kv_entry *kv_store_find(struct kv_store *s, const void *key,
			       size_t len, uint64_t now_ms)
{
	struct kv_entry **pp;
	int t;

	rehash_step(s, 1);
	pp = find_slot(s, key, len, kv_hash(key, len), &t);
	if (!pp) {
		s->misses++;
		return NULL;
	}
	if (expired(*pp, now_ms)) {
		unlink_entry(s, t, pp);
		s->expired_keys++;
		s->misses++;
		maybe_shrink(s);
		return NULL;
	}
	s->hits++;
	return *pp;
}

int kv_store_add(struct kv_store *s, const void *key, size_t len,
		 enum kv_type type, struct kv_entry **out)
{
	struct kv_table *t;
	struct kv_entry *e;
	size_t i;

	if (len > KV_MAX_KEY)
		return -E2BIG;
	if (!s->ht[0].size && alloc_first_table(s) < 0)
		return -ENOMEM;
	rehash_step(s, 1);
	if (!rehashing(s) && s->ht[0].used >= s->ht[0].size)
		start_rehash(s, s->ht[0].size * 2);
	e = malloc(sizeof(*e) + len);
	if (!e)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, len);
	e->key_len = len;
	e->hash = kv_hash(key, len);
	e->type = type;
	/* New keys go to the table being filled, so ht[0] only drains. */
	t = rehashing(s) ? &s->ht[1] : &s->ht[0];
	i = e->hash & (t->size - 1);
	e->next = t->buckets[i];
	t->buckets[i] = e;
	t->used++;
	*out = e;
	return 0;
}

void kv_store_remove(struct kv_store *s, struct kv_entry *e)
{
	struct kv_entry **pp;
	int t;

	pp = find_slot(s, e->key, e->key_len, e->hash, &t);
	if (pp && *pp == e) {
		unlink_entry(s, t, pp);
		maybe_shrink(s);
	}
}

int kv_store_delete(struct kv_store *s, const void *key, size_t len,
		    uint64_t now_ms)
{
	struct kv_entry *e = kv_store_find(s, key, len, now_ms);

	if (!e)
		return 0;
	kv_store_remove(s, e);
	return 1;
}

void kv_store_set_expire(struct kv_store *s, struct kv_entry *e,
			 uint64_t expire_ms)
{
	if (e->expire_ms && !expire_ms)
		s->volatile_keys--;
	else if (!e->expire_ms && expire_ms)
		s->volatile_keys++;
	e->expire_ms = expire_ms;
}

void kv_store_expire_step(struct kv_store *s, uint64_t now_ms, size_t budget)
{
	struct kv_table *t = &s->ht[0];

	/*
	 * While rehashing, buckets move under the cursor: spend the budget on
	 * finishing the move instead, which otherwise only advances when keys
	 * are looked up or added.
	 */
	if (rehashing(s)) {
		rehash_step(s, budget);
		return;
	}
	/* Likewise a table left oversized by deletes shrinks when idle. */
	maybe_shrink(s);
	if (rehashing(s) || !s->volatile_keys || !t->size)
		return;
	while (budget--) {
		struct kv_entry **pp;

		if (s->expire_cursor >= t->size)
			s->expire_cursor = 0;
		pp = &t->buckets[s->expire_cursor++];
		while (*pp) {
			if (expired(*pp, now_ms)) {
				unlink_entry(s, 0, pp);
				s->expired_keys++;
			} else {
				pp = &(*pp)->next;
			}
		}
	}
}

void kv_store_foreach(const struct kv_store *s, uint64_t now_ms,
		      kv_visit_fn fn, void *arg)
{
	for (int t = 0; t < 2; t++) {
		const struct kv_table *ht = &s->ht[t];

		for (size_t i = 0; i < ht->size; i++)
			for (struct kv_entry *e = ht->buckets[i]; e;
			     e = e->next)
				if (!expired(e, now_ms))
					fn(e, arg);
	}
}

void kv_entry_retype(struct kv_entry *e, enum kv_type type)
{
	free_value(e);
	e->type = type;
}

/* ------------------------------------------------------------- strings */

static int str_reserve(struct kv_string *str, size_t cap)
{
	uint8_t *p;

	if (str->cap >= cap)
		return 0;
	p = realloc(str->data, cap);
	if (!p)
		return -ENOMEM;
	str->data = p;
	str->cap = cap;
	return 0;
}

int kv_str_set(struct kv_entry *e, const void *data, size_t len)
{
	struct kv_string *str = &e->v.str;
	size_t cap = len ? len : 1;
	uint8_t *p;

	/*
	 * Reuse the buffer when the value still fits it reasonably (the
	 * benchmark case: same-size overwrites); else allocate first so a
	 * failure leaves the old value, of whatever type, in place.
	 */
	if (e->type == KV_STRING && str->data && str->cap >= len &&
	    (str->cap <= 64 || len >= str->cap / 4)) {
		if (len)
			memcpy(str->data, data, len);
		str->len = len;
		return 0;
	}
	p = malloc(cap);
	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, data, len);
	kv_entry_retype(e, KV_STRING);
	str->data = p;
	str->len = len;
	str->cap = cap;
	return 0;
}

int kv_str_append(struct kv_entry *e, const void *data, size_t len)
{
	struct kv_string *str = &e->v.str;
	size_t need = str->len + len;

	if (need < str->len)
		return -ENOMEM;
	/* Grow geometrically: repeated APPENDs must not copy quadratically. */
	if (need > str->cap &&
	    str_reserve(str, need < str->cap * 2 ? str->cap * 2 : need) < 0 &&
	    str_reserve(str, need) < 0)
		return -ENOMEM;
	if (len)
		memcpy(str->data + str->len, data, len);
	str->len = need;
	return 0;
}

/* --------------------------------------------------------------- lists */

static int list_resize(struct kv_list *l, size_t cap)
{
	struct kv_blob **items = malloc(cap * sizeof(*items));

	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < l->count; i++)
		items[i] = l->items[(l->head + i) & (l->cap - 1)];
	free(l->items);
	l->items = items;
	l->cap = cap;
	l->head = 0;
	return 0;
}

int kv_list_push(struct kv_entry *e, bool left, const void *data, size_t len)
{
	struct kv_list *l = &e->v.list;
	struct kv_blob *b;

	if (l->count == l->cap &&
	    list_resize(l, l->cap ? l->cap * 2 : 8) < 0)
		return -ENOMEM;
	b = malloc(sizeof(*b) + len);
	if (!b)
		return -ENOMEM;
	b->len = len;
	if (len)
		memcpy(b->data, data, len);
	if (left) {
		l->head = (l->head - 1) & (l->cap - 1);
		l->items[l->head] = b;
	} else {
		l->items[(l->head + l->count) & (l->cap - 1)] = b;
	}
	l->count++;
	return 0;
}

struct kv_blob *kv_list_pop(struct kv_entry *e, bool left)
{
	struct kv_list *l = &e->v.list;
	struct kv_blob *b;

	if (!l->count)
		return NULL;
	if (left) {
		b = l->items[l->head];
		l->head = (l->head + 1) & (l->cap - 1);
	} else {
		b = l->items[(l->head + l->count - 1) & (l->cap - 1)];
	}
	l->count--;
	/* Give memory back after a big list drains; failure just keeps it. */
	if (l->cap > 64 && l->count < l->cap / 8)
		list_resize(l, l->cap / 4);
	return b;
}

const struct kv_blob *kv_list_at(const struct kv_entry *e, size_t idx)
{
	const struct kv_list *l = &e->v.list;

	if (idx >= l->count)
		return NULL;
	return l->items[(l->head + idx) & (l->cap - 1)];
}
