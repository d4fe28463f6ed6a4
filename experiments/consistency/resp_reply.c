/* SPDX-License-Identifier: MIT */
/*
 * RESP2 reply parser; see resp_reply.h.
 *
 * Stateless on purpose: an incomplete reply is simply parsed again from its
 * first byte when more data arrives. Our replies are small (an integer, +OK,
 * an MGET of at most a few hundred short values), so re-parsing costs less
 * than keeping resumable state would cost in code, and a stateless parser
 * cannot get out of step with the byte stream.
 */
#include "resp_reply.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
	const char *buf;
	size_t len;
	size_t pos;
};

/*
 * Find the CRLF ending the line that starts at c->pos. Returns the line's
 * length (without CRLF), REPLY_AGAIN-style -EAGAIN if the line is not all
 * here yet, or -EPROTO for a bare CR or an over-long line.
 */
static long find_line(const struct cursor *c)
{
	const char *start = c->buf + c->pos;
	size_t avail = c->len - c->pos;
	size_t scan = avail < REPLY_MAX_LINE + 2 ? avail : REPLY_MAX_LINE + 2;
	const char *cr = memchr(start, '\r', scan);

	if (!cr)
		return avail >= REPLY_MAX_LINE + 2 ? -EPROTO : -EAGAIN;
	if ((size_t)(cr - start) + 1 >= avail)
		return -EAGAIN;
	if (cr[1] != '\n')
		return -EPROTO;
	return cr - start;
}

/* Strict decimal: optional '-', 1..19 digits, no overflow, nothing more. */
static int parse_ll(const char *s, size_t n, long long *out)
{
	bool neg = false;
	unsigned long long v = 0;
	unsigned long long limit = (unsigned long long)LLONG_MAX;
	size_t i = 0;

	if (n > 0 && s[0] == '-') {
		neg = true;
		limit += 1; /* -LLONG_MIN does not fit; its magnitude does */
		i = 1;
	}
	if (i == n)
		return -EPROTO;
	for (; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EPROTO;
		d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return -EPROTO;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == limit ? LLONG_MIN : -(long long)v;
	else
		*out = (long long)v;
	return 0;
}

static int copy_str(struct reply *r, const char *s, size_t n)
{
	r->str = malloc(n + 1);
	if (!r->str)
		return -ENOMEM;
	memcpy(r->str, s, n);
	r->str[n] = '\0';
	r->len = n;
	return 0;
}

static int parse_value(struct cursor *c, struct reply *r, int depth);

static int parse_array(struct cursor *c, struct reply *r, long long n,
		       int depth)
{
	int err;

	if (n == -1) {
		r->type = REPLY_NIL_ARRAY;
		return 0;
	}
	if (n < 0 || n > REPLY_MAX_ELEMS || depth >= REPLY_MAX_DEPTH)
		return -EPROTO;
	r->type = REPLY_ARRAY;
	if (n == 0)
		return 0;
	/*
	 * Each element takes at least 3 bytes (":0\r\n" is 4): if the buffer
	 * cannot possibly hold them, wait before allocating for a count that
	 * may be a lie.
	 */
	if ((size_t)n > (c->len - c->pos) / 3)
		return -EAGAIN;
	r->elem = calloc((size_t)n, sizeof(*r->elem));
	if (!r->elem)
		return -ENOMEM;
	for (long long i = 0; i < n; i++) {
		err = parse_value(c, &r->elem[i], depth + 1);
		/*
		 * Count the element even if it failed: it is consistent
		 * (zeroed, or an array holding what it built), so
		 * reply_free releases exactly what was allocated.
		 */
		r->nelem = (size_t)i + 1;
		if (err)
			return err;
	}
	return 0;
}

static int parse_value(struct cursor *c, struct reply *r, int depth)
{
	long line;
	const char *p;
	long long n;
	int err;

	memset(r, 0, sizeof(*r));
	r->type = REPLY_NIL;
	if (c->pos >= c->len)
		return -EAGAIN;
	line = find_line(c);
	if (line < 0)
		return (int)line;
	p = c->buf + c->pos;
	c->pos += (size_t)line + 2;

	switch (p[0]) {
	case '+':
	case '-':
		err = copy_str(r, p + 1, (size_t)line - 1);
		if (err)
			return err;
		r->type = p[0] == '+' ? REPLY_SIMPLE : REPLY_ERROR;
		return 0;
	case ':':
		err = parse_ll(p + 1, (size_t)line - 1, &r->integer);
		if (err)
			return err;
		r->type = REPLY_INTEGER;
		return 0;
	case '$':
		err = parse_ll(p + 1, (size_t)line - 1, &n);
		if (err)
			return err;
		if (n == -1)
			return 0; /* REPLY_NIL */
		if (n < 0 || n > REPLY_MAX_BULK)
			return -EPROTO;
		if (c->len - c->pos < (size_t)n + 2)
			return -EAGAIN;
		if (c->buf[c->pos + n] != '\r' ||
		    c->buf[c->pos + n + 1] != '\n')
			return -EPROTO;
		err = copy_str(r, c->buf + c->pos, (size_t)n);
		if (err)
			return err;
		r->type = REPLY_BULK;
		c->pos += (size_t)n + 2;
		return 0;
	case '*':
		err = parse_ll(p + 1, (size_t)line - 1, &n);
		if (err)
			return err;
		return parse_array(c, r, n, depth);
	default:
		/* Includes an empty line: line >= 0 but p[0] is '\r'. */
		return -EPROTO;
	}
}

int reply_parse(const char *buf, size_t len, struct reply *out,
		size_t *consumed)
{
	struct cursor c = { .buf = buf, .len = len, .pos = 0 };
	int err;

	err = parse_value(&c, out, 0);
	if (err) {
		reply_free(out);
		return err == -EAGAIN ? REPLY_AGAIN : err;
	}
	*consumed = c.pos;
	return REPLY_DONE;
}

void reply_free(struct reply *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nelem; i++)
		reply_free(&r->elem[i]);
	free(r->elem);
	free(r->str);
	memset(r, 0, sizeof(*r));
	r->type = REPLY_NIL;
}

const char *reply_type_name(enum reply_type type)
{
	switch (type) {
	case REPLY_SIMPLE: return "simple string";
	case REPLY_ERROR: return "error";
	case REPLY_INTEGER: return "integer";
	case REPLY_BULK: return "bulk string";
	case REPLY_NIL: return "nil";
	case REPLY_ARRAY: return "array";
	case REPLY_NIL_ARRAY: return "nil array";
	}
	return "?";
}

/* Printable prefix of a string: keeps example texts on one JSON-safe line. */
static void printable(const char *s, size_t n, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[o++] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ?
			   (char)ch : '.';
	}
	if (size)
		buf[o] = '\0';
}

void reply_describe(const struct reply *r, char *buf, size_t size)
{
	char text[64];

	switch (r->type) {
	case REPLY_INTEGER:
		snprintf(buf, size, "integer %lld", r->integer);
		break;
	case REPLY_SIMPLE:
	case REPLY_ERROR:
	case REPLY_BULK:
		printable(r->str, r->len, text, sizeof(text));
		snprintf(buf, size, "%s '%s'", reply_type_name(r->type), text);
		break;
	case REPLY_ARRAY:
		snprintf(buf, size, "array of %zu", r->nelem);
		break;
	default:
		snprintf(buf, size, "%s", reply_type_name(r->type));
		break;
	}
}

bool reply_is_ok(const struct reply *r)
{
	return r->type == REPLY_SIMPLE && r->len == 2 &&
	       memcmp(r->str, "OK", 2) == 0;
}
