/* SPDX-License-Identifier: MIT */
/*
 * RESP2 reply builders; see resp.h. A connection's replies collect in one
 * buffer and leave in chunks, so a pipeline of small replies costs one send
 * and a large value is never copied into the buffer at all.
 */
#include "resp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Send once this much is buffered; bulks this large bypass the buffer. */
#define RESP_OUT_CHUNK (64 * 1024)
#define RESP_OUT_DIRECT (16 * 1024)

void resp_out_init(struct resp_out *out, resp_flush_fn flush, void *ctx)
{
	memset(out, 0, sizeof(*out));
	out->flush = flush;
	out->ctx = ctx;
}

void resp_out_free(struct resp_out *out)
{
	free(out->buf);
	out->buf = NULL;
	out->len = 0;
	out->cap = 0;
}

int resp_out_flush(struct resp_out *out)
{
	int r;

	if (out->err || !out->flush || out->len == 0)
		return out->err;
	r = out->flush(out->ctx, out->buf, out->len);
	out->len = 0;
	if (r < 0)
		out->err = r;
	return out->err;
}

void resp_out_trim(struct resp_out *out)
{
	if (out->len == 0 && out->cap > 2 * RESP_OUT_CHUNK)
		resp_out_free(out);
}

/* Room for n more bytes, or NULL with out->err set. */
static uint8_t *reserve(struct resp_out *out, size_t n)
{
	size_t cap;
	uint8_t *buf;

	if (out->err)
		return NULL;
	if (out->cap - out->len >= n)
		return out->buf + out->len;
	if (out->flush && out->len && resp_out_flush(out) < 0)
		return NULL;
	if (out->cap - out->len >= n)
		return out->buf + out->len;
	cap = out->cap ? out->cap : 512;
	while (cap - out->len < n) {
		if (cap > SIZE_MAX / 2) {
			out->err = -ENOMEM;
			return NULL;
		}
		cap *= 2;
	}
	buf = realloc(out->buf, cap);
	if (!buf) {
		out->err = -ENOMEM;
		return NULL;
	}
	out->buf = buf;
	out->cap = cap;
	return buf + out->len;
}

static void commit(struct resp_out *out, size_t n)
{
	out->len += n;
	if (out->flush && out->len >= RESP_OUT_CHUNK)
		resp_out_flush(out);
}

void resp_add_raw(struct resp_out *out, const void *data, size_t len)
{
	uint8_t *p = reserve(out, len);

	if (!p)
		return;
	memcpy(p, data, len);
	commit(out, len);
}

void resp_add_simple(struct resp_out *out, const char *s)
{
	size_t n = strlen(s);
	uint8_t *p = reserve(out, n + 3);

	if (!p)
		return;
	p[0] = '+';
	memcpy(p + 1, s, n);
	p[n + 1] = '\r';
	p[n + 2] = '\n';
	commit(out, n + 3);
}

void resp_add_error(struct resp_out *out, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	/* A CR or LF inside would end the reply early and desync the client. */
	for (int i = 0; i < n; i++)
		if (msg[i] == '\r' || msg[i] == '\n')
			msg[i] = ' ';
	resp_add_raw(out, "-", 1);
	resp_add_raw(out, msg, n);
	resp_add_raw(out, "\r\n", 2);
}

static void add_prefixed_ll(struct resp_out *out, char prefix, long long v)
{
	uint8_t *p = reserve(out, 24);
	size_t n;

	if (!p)
		return;
	p[0] = prefix;
	n = resp_format_ll((char *)p + 1, v);
	p[n + 1] = '\r';
	p[n + 2] = '\n';
	commit(out, n + 3);
}

void resp_add_integer(struct resp_out *out, long long v)
{
	add_prefixed_ll(out, ':', v);
}

void resp_add_array(struct resp_out *out, size_t n)
{
	add_prefixed_ll(out, '*', (long long)n);
}

void resp_add_bulk(struct resp_out *out, const void *data, size_t len)
{
	uint8_t *p;

	if (out->flush && len >= RESP_OUT_DIRECT) {
		/* Send big values straight from the store: no extra copy. */
		add_prefixed_ll(out, '$', (long long)len);
		if (resp_out_flush(out) < 0)
			return;
		int r = out->flush(out->ctx, data, len);

		if (r < 0) {
			out->err = r;
			return;
		}
		resp_add_raw(out, "\r\n", 2);
		return;
	}
	p = reserve(out, len + 24);
	if (!p)
		return;
	p[0] = '$';
	p += 1 + resp_format_ll((char *)p + 1, (long long)len);
	*p++ = '\r';
	*p++ = '\n';
	memcpy(p, data, len);
	p[len] = '\r';
	p[len + 1] = '\n';
	commit(out, (size_t)(p - (out->buf + out->len)) + len + 2);
}

void resp_add_bulk_str(struct resp_out *out, const char *s)
{
	resp_add_bulk(out, s, strlen(s));
}

void resp_add_null(struct resp_out *out)
{
	resp_add_raw(out, "$-1\r\n", 5);
}

void resp_add_null_array(struct resp_out *out)
{
	resp_add_raw(out, "*-1\r\n", 5);
}
