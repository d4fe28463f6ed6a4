/* SPDX-License-Identifier: MIT */
/* List commands: LPUSH, RPUSH, LPOP, RPOP, LLEN, LRANGE, LINDEX. */
#include "kv_commands.h"

#include <stdlib.h>

/* The list entry for key, NULL if absent; *wrong set on a type clash. */
static struct kv_entry *get_list(struct kv_client *c,
				 const struct resp_arg *key, bool *wrong)
{
	struct kv_entry *e = kv_lookup(c, key);

	*wrong = e && e->type != KV_LIST;
	if (*wrong)
		kv_reply_err(c, KV_ERR_WRONGTYPE);
	return *wrong ? NULL : e;
}

static void push_generic(struct kv_client *c, const struct resp_arg *argv,
			 size_t argc, bool left)
{
	struct kv_store *st = &c->srv->store;
	struct kv_entry *e;
	bool wrong;

	e = get_list(c, &argv[1], &wrong);
	if (wrong)
		return;
	if (!e && kv_store_add(st, argv[1].ptr, argv[1].len, KV_LIST, &e) < 0)
		goto oom;
	for (size_t i = 2; i < argc; i++) {
		if (kv_list_push(e, left, argv[i].ptr, argv[i].len) < 0) {
			/* Keep what was pushed, but never an empty list. */
			if (!kv_list_len(e))
				kv_store_remove(st, e);
			goto oom;
		}
	}
	resp_add_integer(c->out, (long long)kv_list_len(e));
	return;
oom:
	kv_reply_err(c, KV_ERR_OOM);
}

void cmd_lpush(struct kv_client *c, const struct resp_arg *argv,
	       size_t argc)
{
	push_generic(c, argv, argc, true);
}

void cmd_rpush(struct kv_client *c, const struct resp_arg *argv,
	       size_t argc)
{
	push_generic(c, argv, argc, false);
}

static void pop_generic(struct kv_client *c, const struct resp_arg *argv,
			size_t argc, bool left, const char *name)
{
	struct kv_entry *e;
	long long count = 1;
	bool wrong;
	size_t n;

	if (argc > 3) {
		kv_reply_arity(c, name);
		return;
	}
	if (argc == 3 && (!kv_arg_ll(&argv[2], &count) || count < 0)) {
		kv_reply_err(c, "ERR value is out of range, must be positive");
		return;
	}
	e = get_list(c, &argv[1], &wrong);
	if (wrong)
		return;
	if (!e) {
		/* With a count the reply is an array, so "no key" is a null
		 * array; without one it is a null bulk. */
		if (argc == 3)
			resp_add_null_array(c->out);
		else
			resp_add_null(c->out);
		return;
	}
	n = kv_list_len(e);
	if ((unsigned long long)count < n)
		n = count;
	if (argc == 3)
		resp_add_array(c->out, n);
	while (n--) {
		struct kv_blob *b = kv_list_pop(e, left);

		resp_add_bulk(c->out, b->data, b->len);
		free(b);
	}
	if (!kv_list_len(e))
		kv_store_remove(&c->srv->store, e);
}

void cmd_lpop(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	pop_generic(c, argv, argc, true, "lpop");
}

void cmd_rpop(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	pop_generic(c, argv, argc, false, "rpop");
}

void cmd_llen(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	struct kv_entry *e;
	bool wrong;

	e = get_list(c, &argv[1], &wrong);
	if (!wrong)
		resp_add_integer(c->out, e ? (long long)kv_list_len(e) : 0);
}

void cmd_lrange(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	long long start, end, len;
	struct kv_entry *e;
	bool wrong;

	if (!kv_arg_ll(&argv[2], &start) || !kv_arg_ll(&argv[3], &end)) {
		kv_reply_err(c, KV_ERR_NOT_INT);
		return;
	}
	e = get_list(c, &argv[1], &wrong);
	if (wrong)
		return;
	if (!e) {
		resp_add_array(c->out, 0);
		return;
	}
	/* Negative indexes count from the tail; then clamp, as Redis does. */
	len = (long long)kv_list_len(e);
	if (start < 0)
		start = start < -len ? 0 : len + start;
	if (end < 0)
		end = end < -len ? -1 : len + end;
	if (start > end || start >= len) {
		resp_add_array(c->out, 0);
		return;
	}
	if (end >= len)
		end = len - 1;
	resp_add_array(c->out, (size_t)(end - start + 1));
	for (long long i = start; i <= end; i++) {
		const struct kv_blob *b = kv_list_at(e, (size_t)i);

		resp_add_bulk(c->out, b->data, b->len);
	}
}

void cmd_lindex(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	const struct kv_blob *b;
	struct kv_entry *e;
	long long idx, len;
	bool wrong;

	e = get_list(c, &argv[1], &wrong);
	if (wrong)
		return;
	if (!e) {
		resp_add_null(c->out);
		return;
	}
	if (!kv_arg_ll(&argv[2], &idx)) {
		kv_reply_err(c, KV_ERR_NOT_INT);
		return;
	}
	len = (long long)kv_list_len(e);
	if (idx < 0)
		idx += len;
	b = idx >= 0 && idx < len ? kv_list_at(e, (size_t)idx) : NULL;
	if (b)
		resp_add_bulk(c->out, b->data, b->len);
	else
		resp_add_null(c->out);
}
