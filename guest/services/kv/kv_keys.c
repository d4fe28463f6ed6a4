/* SPDX-License-Identifier: MIT */
/* Keyspace commands: DEL, EXISTS, TYPE, KEYS and expiry (EXPIRE, TTL, ...). */
#include "kv_commands.h"

#include <ctype.h>
#include <string.h>

static uint8_t fold(uint8_t ch, bool nocase)
{
	return nocase ? (uint8_t)tolower(ch) : ch;
}

/*
 * One bracket class starting after '['; *pi ends past the closing ']' (or
 * at the end of an unterminated class, which Redis also accepts).
 */
static bool class_match(const uint8_t *pat, size_t plen, size_t *pi,
			uint8_t ch, bool nocase)
{
	size_t i = *pi;
	bool neg = false, hit = false;

	if (i < plen && pat[i] == '^') {
		neg = true;
		i++;
	}
	ch = fold(ch, nocase);
	while (i < plen && pat[i] != ']') {
		if (pat[i] == '\\' && i + 1 < plen) {
			hit |= fold(pat[i + 1], nocase) == ch;
			i += 2;
		} else if (i + 2 < plen && pat[i + 1] == '-') {
			uint8_t lo = fold(pat[i], nocase);
			uint8_t hi = fold(pat[i + 2], nocase);

			if (lo > hi) {
				uint8_t t = lo;

				lo = hi;
				hi = t;
			}
			hit |= ch >= lo && ch <= hi;
			i += 3;
		} else {
			hit |= fold(pat[i], nocase) == ch;
			i++;
		}
	}
	if (i < plen)
		i++; /* the ']' */
	*pi = i;
	return hit != neg;
}

/*
 * Iterative matcher that backtracks only to the last '*', so patterns like
 * "*a*a*a*b" cost O(plen * slen) rather than exponential time.
 */
bool kv_glob_match(const uint8_t *pat, size_t plen, const uint8_t *s,
		   size_t slen, bool nocase)
{
	size_t pi = 0, si = 0, star_p = 0, star_s = 0;
	bool star = false;

	while (si < slen) {
		if (pi < plen) {
			size_t next = pi + 1;
			bool ok;

			switch (pat[pi]) {
			case '*':
				while (pi < plen && pat[pi] == '*')
					pi++;
				if (pi == plen)
					return true;
				star = true;
				star_p = pi;
				star_s = si;
				continue;
			case '?':
				ok = true;
				break;
			case '[':
				ok = class_match(pat, plen, &next, s[si],
						 nocase);
				break;
			case '\\':
				if (pi + 1 < plen)
					next = pi + 2;
				ok = fold(pat[next - 1], nocase) ==
				     fold(s[si], nocase);
				break;
			default:
				ok = fold(pat[pi], nocase) == fold(s[si], nocase);
				break;
			}
			if (ok) {
				pi = next;
				si++;
				continue;
			}
		}
		if (!star)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < plen && pat[pi] == '*')
		pi++;
	return pi == plen;
}

void cmd_del(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	long long n = 0;

	for (size_t i = 1; i < argc; i++)
		n += kv_store_delete(&c->srv->store, argv[i].ptr, argv[i].len,
				     c->now_ms);
	resp_add_integer(c->out, n);
}

void cmd_exists(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	long long n = 0;

	/* Repeated keys count again, as in Redis. */
	for (size_t i = 1; i < argc; i++)
		n += kv_lookup(c, &argv[i]) != NULL;
	resp_add_integer(c->out, n);
}

void cmd_type(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	struct kv_entry *e = kv_lookup(c, &argv[1]);

	if (!e)
		resp_add_simple(c->out, "none");
	else if (e->type == KV_LIST)
		resp_add_simple(c->out, "list");
	else
		resp_add_simple(c->out, "string");
}

struct keys_walk {
	const struct resp_arg *pattern;
	struct resp_out *out; /* NULL: only count */
	size_t n;
};

static void keys_visit(const struct kv_entry *e, void *arg)
{
	struct keys_walk *w = arg;

	if (!kv_glob_match(w->pattern->ptr, w->pattern->len, e->key,
			   e->key_len, false))
		return;
	w->n++;
	if (w->out)
		resp_add_bulk(w->out, e->key, e->key_len);
}

void cmd_keys(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	struct keys_walk w = { &argv[1], NULL, 0 };

	/* Count, then emit: the store does not change in between. */
	kv_store_foreach(&c->srv->store, c->now_ms, keys_visit, &w);
	resp_add_array(c->out, w.n);
	w.out = c->out;
	kv_store_foreach(&c->srv->store, c->now_ms, keys_visit, &w);
}

/* -------------------------------------------------------------- expiry */

static void expire_generic(struct kv_client *c, const struct resp_arg *argv,
			   size_t argc, long long unit, const char *name)
{
	bool nx = false, xx = false, gt = false, lt = false;
	long long when, now = (long long)c->now_ms;
	struct kv_entry *e;
	uint64_t cur;

	for (size_t i = 3; i < argc; i++) {
		if (kv_arg_is(&argv[i], "nx")) {
			nx = true;
		} else if (kv_arg_is(&argv[i], "xx")) {
			xx = true;
		} else if (kv_arg_is(&argv[i], "gt")) {
			gt = true;
		} else if (kv_arg_is(&argv[i], "lt")) {
			lt = true;
		} else {
			resp_add_error(c->out, "ERR Unsupported option %.*s",
				       (int)(argv[i].len > 128 ? 128
							       : argv[i].len),
				       (const char *)argv[i].ptr);
			return;
		}
	}
	if (nx && (xx || gt || lt)) {
		kv_reply_err(c, "ERR NX and XX, GT or LT options at the same "
				"time are not compatible");
		return;
	}
	if (gt && lt) {
		kv_reply_err(c, "ERR GT and LT options at the same time are "
				"not compatible");
		return;
	}
	if (!kv_arg_ll(&argv[2], &when)) {
		kv_reply_err(c, KV_ERR_NOT_INT);
		return;
	}
	if (when > LLONG_MAX / unit || when < LLONG_MIN / unit ||
	    when * unit > LLONG_MAX - now) {
		resp_add_error(c->out, "ERR invalid expire time in '%s' command",
			       name);
		return;
	}
	when = when * unit + now;

	e = kv_lookup(c, &argv[1]);
	if (!e) {
		resp_add_integer(c->out, 0);
		return;
	}
	cur = e->expire_ms;
	/* No expiry counts as an infinite one for GT and LT. */
	if ((nx && cur) || (xx && !cur) ||
	    (gt && (!cur || (uint64_t)when <= cur)) ||
	    (lt && cur && (uint64_t)when >= cur)) {
		resp_add_integer(c->out, 0);
		return;
	}
	if (when <= now)
		kv_store_remove(&c->srv->store, e);
	else
		kv_store_set_expire(&c->srv->store, e, (uint64_t)when);
	resp_add_integer(c->out, 1);
}

void cmd_expire(struct kv_client *c, const struct resp_arg *argv,
		size_t argc)
{
	expire_generic(c, argv, argc, 1000, "expire");
}

void cmd_pexpire(struct kv_client *c, const struct resp_arg *argv,
		 size_t argc)
{
	expire_generic(c, argv, argc, 1, "pexpire");
}

static void ttl_generic(struct kv_client *c, const struct resp_arg *key,
			bool ms)
{
	struct kv_entry *e = kv_lookup(c, key);
	uint64_t left;

	if (!e) {
		resp_add_integer(c->out, -2);
		return;
	}
	if (!e->expire_ms) {
		resp_add_integer(c->out, -1);
		return;
	}
	/* kv_lookup drops expired keys, so expire_ms > now here. */
	left = e->expire_ms - c->now_ms;
	resp_add_integer(c->out, (long long)(ms ? left : (left + 500) / 1000));
}

void cmd_ttl(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	ttl_generic(c, &argv[1], false);
}

void cmd_pttl(struct kv_client *c, const struct resp_arg *argv, size_t argc)
{
	ttl_generic(c, &argv[1], true);
}

void cmd_persist(struct kv_client *c, const struct resp_arg *argv,
		 size_t argc)
{
	struct kv_entry *e = kv_lookup(c, &argv[1]);

	if (!e || !e->expire_ms) {
		resp_add_integer(c->out, 0);
		return;
	}
	kv_store_set_expire(&c->srv->store, e, 0);
	resp_add_integer(c->out, 1);
}
