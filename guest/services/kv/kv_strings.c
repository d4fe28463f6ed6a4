/* SPDX-License-Identifier: MIT */
/* String commands: SET and its variants, GET, INCR family, APPEND, MSET... */
#include "kv_commands.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define SET_NX (1u << 0)
#define SET_XX (1u << 1)
#define SET_GET (1u << 2)
#define SET_KEEPTTL (1u << 3)

/*
 * Turn an EX/PX/EXAT/PXAT argument into an absolute time in ms, or reply
 * the error Redis gives and return false.
 */
static bool expire_arg(struct kv_client *c, const struct resp_arg *a,
		       long long unit, bool absolute, const char *name,
		       uint64_t *at)
{
	long long v, now = (long long)c->now_ms;

	if (!kv_arg_ll(a, &v)) {
		kv_reply_err(c, KV_ERR_NOT_INT);
		return false;
	}
	if (v <= 0 || v > LLONG_MAX / unit ||
	    (!absolute && v * unit > LLONG_MAX - now)) {
		resp_add_error(c->out, "ERR invalid expire time in '%s' command",
			       name);
		return false;
	}
	*at = (uint64_t)(v * unit + (absolute ? 0 : now));
	return true;
}

/*
 * The common part of SET, SETNX, SETEX, GETSET and MSET. Returns 1 if the
 * value was stored, 0 if NX/XX said no, -1 after replying an error. With
 * SET_GET it also replies the old value (or null) itself.
 */
static int set_generic(struct kv_client *c, const struct resp_arg *key,
		       const struct resp_arg *val, unsigned flags,
		       uint64_t expire_at)
{
	struct kv_store *st = &c->srv->store;
	struct kv_entry *e = kv_lookup(c, key);
	struct kv_string old = { NULL, 0, 0 };
	bool had = e != NULL;

	if ((flags & SET_GET) && e && e->type != KV_STRING) {
		kv_reply_err(c, KV_ERR_WRONGTYPE);
		return -1;
	}
	if (((flags & SET_NX) && e) || ((flags & SET_XX) && !e)) {
		if (!(flags & SET_GET))
			return 0;
		if (e)
			resp_add_bulk(c->out, e->v.str.data, e->v.str.len);
		else
			resp_add_null(c->out);
		return 0;
	}
	if (!e) {
		if (kv_store_add(st, key->ptr, key->len, KV_STRING, &e) < 0)
			goto oom;
		if (kv_str_set(e, val->ptr, val->len) < 0) {
			kv_store_remove(st, e);
			goto oom;
		}
	} else {
		if (flags & SET_GET) {
			/* Keep the old bytes for the reply; the set may reuse
			 * their buffer otherwise. */
			old = e->v.str;
			memset(&e->v.str, 0, sizeof(e->v.str));
		}
		if (kv_str_set(e, val->ptr, val->len) < 0) {
			if (flags & SET_GET)
				e->v.str = old;
			goto oom;
		}
	}
	if (flags & SET_GET) {
		if (had)
			resp_add_bulk(c->out, old.data, old.len);
		else
			resp_add_null(c->out);
		free(old.data);
	}
	if (!(flags & SET_KEEPTTL))
		kv_store_set_expire(st, e, expire_at);
	if (expire_at && expire_at <= c->now_ms)
		kv_store_remove(st, e); /* EXAT/PXAT in the past */
	return 1;

oom:
	kv_reply_err(c, KV_ERR_OOM);
	return -1;
}

void cmd_set(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	const struct resp_arg *exp = NULL;
	long long unit = 1;
	bool absolute = false;
	unsigned flags = 0;
	uint64_t at = 0;
	int r;

	for (size_t i = 3; i < argc; i++) {
		const struct resp_arg *a = &argv[i];
		bool more = i + 1 < argc;

		if (kv_arg_is(a, "nx") && !(flags & SET_XX)) {
			flags |= SET_NX;
		} else if (kv_arg_is(a, "xx") && !(flags & SET_NX)) {
			flags |= SET_XX;
		} else if (kv_arg_is(a, "get")) {
			flags |= SET_GET;
		} else if (kv_arg_is(a, "keepttl") && !exp) {
			flags |= SET_KEEPTTL;
		} else if (more && !exp && !(flags & SET_KEEPTTL) &&
			   (kv_arg_is(a, "ex") || kv_arg_is(a, "px") ||
			    kv_arg_is(a, "exat") || kv_arg_is(a, "pxat"))) {
			unit = tolower(a->ptr[0]) == 'e' ? 1000 : 1;
			absolute = a->len == 4;
			exp = &argv[++i];
		} else {
			kv_reply_err(c, KV_ERR_SYNTAX);
			return;
		}
	}
	if (exp && !expire_arg(c, exp, unit, absolute, "set", &at))
		return;
	r = set_generic(c, &argv[1], &argv[2], flags, at);
	if (r < 0 || (flags & SET_GET))
		return;
	if (r)
		resp_add_simple(c->out, "OK");
	else
		resp_add_null(c->out);
}

void cmd_setnx(struct kv_client *c, const struct resp_arg *argv,
	       size_t argc)
{
	int r = set_generic(c, &argv[1], &argv[2], SET_NX, 0);

	if (r >= 0)
		resp_add_integer(c->out, r);
}

static void setex_generic(struct kv_client *c, const struct resp_arg *argv,
			  long long unit, const char *name)
{
	uint64_t at;

	if (!expire_arg(c, &argv[2], unit, false, name, &at))
		return;
	if (set_generic(c, &argv[1], &argv[3], 0, at) > 0)
		resp_add_simple(c->out, "OK");
}

void cmd_setex(struct kv_client *c, const struct resp_arg *argv,
	       size_t argc)
{
	setex_generic(c, argv, 1000, "setex");
}

void cmd_psetex(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	setex_generic(c, argv, 1, "psetex");
}

void cmd_getset(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	set_generic(c, &argv[1], &argv[2], SET_GET, 0);
}

/* The string entry for key; NULL after replying null or WRONGTYPE. */
static struct kv_entry *get_string(struct kv_client *c,
				   const struct resp_arg *key)
{
	struct kv_entry *e = kv_lookup(c, key);

	if (!e) {
		resp_add_null(c->out);
		return NULL;
	}
	if (e->type != KV_STRING) {
		kv_reply_err(c, KV_ERR_WRONGTYPE);
		return NULL;
	}
	return e;
}

void cmd_get(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	struct kv_entry *e = get_string(c, &argv[1]);

	if (e)
		resp_add_bulk(c->out, e->v.str.data, e->v.str.len);
}

void cmd_getdel(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	struct kv_entry *e = get_string(c, &argv[1]);

	if (!e)
		return;
	resp_add_bulk(c->out, e->v.str.data, e->v.str.len);
	kv_store_remove(&c->srv->store, e);
}

static void incr_generic(struct kv_client *c, const struct resp_arg *key,
			 long long delta)
{
	struct kv_entry *e = kv_lookup(c, key);
	char num[24];
	long long v = 0;
	size_t n;

	if (e && e->type != KV_STRING) {
		kv_reply_err(c, KV_ERR_WRONGTYPE);
		return;
	}
	if (e && !resp_parse_ll(e->v.str.data, e->v.str.len, &v)) {
		kv_reply_err(c, KV_ERR_NOT_INT);
		return;
	}
	if ((delta < 0 && v < 0 && delta < LLONG_MIN - v) ||
	    (delta > 0 && v > 0 && delta > LLONG_MAX - v)) {
		kv_reply_err(c, "ERR increment or decrement would overflow");
		return;
	}
	v += delta;
	n = resp_format_ll(num, v);
	if (!e) {
		if (kv_store_add(&c->srv->store, key->ptr, key->len, KV_STRING,
				 &e) < 0)
			goto oom;
		if (kv_str_set(e, num, n) < 0) {
			kv_store_remove(&c->srv->store, e);
			goto oom;
		}
	} else if (kv_str_set(e, num, n) < 0) {
		goto oom;
	}
	resp_add_integer(c->out, v);
	return;
oom:
	kv_reply_err(c, KV_ERR_OOM);
}

void cmd_incr(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	incr_generic(c, &argv[1], 1);
}

void cmd_decr(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	incr_generic(c, &argv[1], -1);
}

void cmd_incrby(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	long long d;

	if (!kv_arg_ll(&argv[2], &d))
		kv_reply_err(c, KV_ERR_NOT_INT);
	else
		incr_generic(c, &argv[1], d);
}

void cmd_decrby(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	long long d;

	if (!kv_arg_ll(&argv[2], &d))
		kv_reply_err(c, KV_ERR_NOT_INT);
	else if (d == LLONG_MIN)
		kv_reply_err(c, "ERR decrement would overflow");
	else
		incr_generic(c, &argv[1], -d);
}

void cmd_append(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	struct kv_entry *e = kv_lookup(c, &argv[1]);
	const struct resp_arg *val = &argv[2];

	if (e && e->type != KV_STRING) {
		kv_reply_err(c, KV_ERR_WRONGTYPE);
		return;
	}
	if (!e) {
		if (set_generic(c, &argv[1], val, 0, 0) > 0)
			resp_add_integer(c->out, (long long)val->len);
		return;
	}
	if (e->v.str.len + val->len > c->srv->max_bulk) {
		kv_reply_err(c, "ERR string exceeds maximum allowed size "
				"(proto-max-bulk-len)");
		return;
	}
	if (kv_str_append(e, val->ptr, val->len) < 0) {
		kv_reply_err(c, KV_ERR_OOM);
		return;
	}
	resp_add_integer(c->out, (long long)e->v.str.len);
}

void cmd_strlen(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	struct kv_entry *e = kv_lookup(c, &argv[1]);

	if (e && e->type != KV_STRING)
		kv_reply_err(c, KV_ERR_WRONGTYPE);
	else
		resp_add_integer(c->out, e ? (long long)e->v.str.len : 0);
}

void cmd_mset(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	if (argc % 2 == 0) {
		kv_reply_arity(c, "mset");
		return;
	}
	/* Out of memory part-way leaves the earlier pairs set. */
	for (size_t i = 1; i < argc; i += 2)
		if (set_generic(c, &argv[i], &argv[i + 1], 0, 0) < 0)
			return;
	resp_add_simple(c->out, "OK");
}

void cmd_mget(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	resp_add_array(c->out, argc - 1);
	for (size_t i = 1; i < argc; i++) {
		struct kv_entry *e = kv_lookup(c, &argv[i]);

		if (e && e->type == KV_STRING)
			resp_add_bulk(c->out, e->v.str.data, e->v.str.len);
		else
			resp_add_null(c->out);
	}
}
