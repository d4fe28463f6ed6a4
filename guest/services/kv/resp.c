/* SPDX-License-Identifier: MIT */
/*
 * RESP2 request parser and reply builders; see resp.h.
 *
 * Error messages copy Redis 7.0's wording so clients and scripts that match
 * on them behave the same against us as against redis-server.
 */
#include "resp.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "*<count>\r\n" and "$<len>\r\n": any valid count fits in 20 digits. */
#define RESP_MAX_HEADER 32
/* Buffers above these sizes are released once idle rather than kept. */
#define RESP_ARGV_KEEP 1024
#define RESP_SCRATCH_KEEP 4096
/* Replies: send once this much is buffered; large bulks bypass the buffer. */
#define RESP_OUT_CHUNK (64 * 1024)
#define RESP_OUT_DIRECT (16 * 1024)

void resp_request_init(struct resp_request *req)
{
	memset(req, 0, sizeof(*req));
	req->max_bulk = RESP_DEFAULT_MAX_BULK;
	req->max_args = RESP_MAX_ARGS;
	req->nargs = -1;
	req->bulk = -1;
}

void resp_request_free(struct resp_request *req)
{
	free(req->argv);
	free(req->scratch);
	req->argv = NULL;
	req->scratch = NULL;
	req->argv_cap = 0;
	req->scratch_cap = 0;
	req->argc = 0;
}

/* Forget the request in progress (not the buffers). */
static void reset_progress(struct resp_request *req)
{
	req->pos = 0;
	req->nargs = -1;
	req->bulk = -1;
	req->is_inline = false;
}

static int fail(struct resp_request *req, int err, const char *msg)
{
	req->error = msg;
	req->argc = 0;
	reset_progress(req);
	return err;
}

bool resp_parse_ll(const uint8_t *s, size_t len, long long *out)
{
	unsigned long long v = 0;
	bool neg = false;
	size_t i = 0;

	if (len == 0 || len > 20)
		return false;
	if (len == 1 && s[0] == '0') {
		*out = 0;
		return true;
	}
	if (s[0] == '-') {
		neg = true;
		i = 1;
		if (len == 1)
			return false;
	}
	/* Redis rejects leading zeros, so "01" and "-0" are not integers. */
	if (s[i] < '1' || s[i] > '9')
		return false;
	for (; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = s[i] - '0';
		if (v > (~0ull - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (unsigned long long)KV_LLONG_MAX + 1)
			return false;
		*out = v == (unsigned long long)KV_LLONG_MAX + 1 ? KV_LLONG_MIN
							       : -(long long)v;
	} else {
		if (v > (unsigned long long)KV_LLONG_MAX)
			return false;
		*out = (long long)v;
	}
	return true;
}

size_t resp_format_ll(char *buf, long long v)
{
	char tmp[24];
	unsigned long long u;
	size_t n = 0, len = 0;

	/* Negate in unsigned arithmetic so KV_LLONG_MIN does not overflow. */
	u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
	do {
		tmp[n++] = '0' + u % 10;
		u /= 10;
	} while (u);
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	buf[len] = '\0';
	return len;
}

/*
 * Find the CRLF ending a header line that starts at `start`. Returns 1 with
 * *end at the '\r', 0 if more bytes are needed, -E2BIG if the line is longer
 * than any count can be, -EINVAL if the CR is not followed by LF.
 */
static int header_line(const uint8_t *buf, size_t len, size_t start,
		       size_t *end)
{
	size_t limit = len;
	const uint8_t *cr;

	if (limit - start > RESP_MAX_HEADER)
		limit = start + RESP_MAX_HEADER;
	cr = memchr(buf + start, '\r', limit - start);
	if (!cr)
		return len - start > RESP_MAX_HEADER ? -E2BIG : 0;
	if ((size_t)(cr - buf) + 1 >= len)
		return 0;
	if (cr[1] != '\n')
		return -EINVAL;
	*end = cr - buf;
	return 1;
}

static int push_arg(struct resp_request *req, size_t off, size_t len)
{
	if (req->argc == req->argv_cap) {
		size_t cap = req->argv_cap ? req->argv_cap * 2 : 16;
		struct resp_arg *argv;

		/* Grow with what arrives, not with what the header claims. */
		if (req->nargs > 0 && cap > (size_t)req->nargs &&
		    (size_t)req->nargs > req->argc)
			cap = req->nargs;
		argv = realloc(req->argv, cap * sizeof(*argv));
		if (!argv)
			return -ENOMEM;
		req->argv = argv;
		req->argv_cap = cap;
	}
	req->argv[req->argc].off = off;
	req->argv[req->argc].len = len;
	req->argv[req->argc].ptr = NULL;
	req->argc++;
	return 0;
}

static int parse_multibulk(struct resp_request *req, const uint8_t *buf,
			   size_t len, size_t *consumed)
{
	long long ll;
	size_t end = 0;
	int r;

	if (req->nargs < 0) {
		r = header_line(buf, len, 1, &end);
		if (r == -E2BIG)
			return fail(req, -EINVAL,
				    "Protocol error: too big mbulk count string");
		if (r == 0)
			return RESP_AGAIN;
		if (r < 0 || !resp_parse_ll(buf + 1, end - 1, &ll) ||
		    ll > (long long)req->max_args || ll < -1)
			return fail(req, -EINVAL,
				    "Protocol error: invalid multibulk length");
		req->pos = end + 2;
		if (ll <= 0) {
			/* "*0" and "*-1" are empty requests, as in Redis. */
			*consumed = req->pos;
			req->argc = 0;
			reset_progress(req);
			return RESP_DONE;
		}
		req->nargs = ll;
		req->argc = 0;
	}

	while (req->argc < (size_t)req->nargs) {
		size_t need;

		if (req->bulk < 0) {
			if (req->pos >= len)
				return RESP_AGAIN;
			if (buf[req->pos] != '$') {
				uint8_t c = buf[req->pos];

				if (isprint(c))
					snprintf(req->errbuf,
						 sizeof(req->errbuf),
						 "Protocol error: expected "
						 "'$', got '%c'",
						 c);
				else
					snprintf(req->errbuf,
						 sizeof(req->errbuf),
						 "Protocol error: expected "
						 "'$', got '\\x%02x'",
						 c);
				return fail(req, -EINVAL, req->errbuf);
			}
			r = header_line(buf, len, req->pos + 1, &end);
			if (r == -E2BIG)
				return fail(req, -EINVAL, "Protocol error: too "
							  "big bulk count string");
			if (r == 0)
				return RESP_AGAIN;
			if (r < 0 || !resp_parse_ll(buf + req->pos + 1,
					   end - req->pos - 1, &ll) ||
			    ll < 0 || (unsigned long long)ll > req->max_bulk)
				return fail(req, -EINVAL,
					    "Protocol error: invalid bulk length");
			req->bulk = ll;
			req->pos = end + 2;
		}
		need = (size_t)req->bulk + 2;
		if (len - req->pos < need)
			return RESP_AGAIN;
		if (buf[req->pos + req->bulk] != '\r' ||
		    buf[req->pos + req->bulk + 1] != '\n')
			return fail(req, -EINVAL,
				    "Protocol error: expected CRLF after bulk "
				    "data");
		if (push_arg(req, req->pos, req->bulk) < 0)
			return fail(req, -ENOMEM, "out of memory parsing request");
		req->pos += need;
		req->bulk = -1;
	}

	for (size_t i = 0; i < req->argc; i++)
		req->argv[i].ptr = buf + req->argv[i].off;
	*consumed = req->pos;
	reset_progress(req);
	return RESP_DONE;
}

/*
 * Split an inline command line like Redis' sdssplitargs: whitespace
 * separates arguments; "double quotes" take \n \r \t \b \a \xHH and \c
 * escapes, 'single quotes' only \'. A closing quote must end the argument.
 */
static int split_inline(struct resp_request *req, const uint8_t *p,
			size_t len)
{
	const uint8_t *end = p + len;
	uint8_t *out = req->scratch;

	while (p < end) {
		bool dq = false, sq = false, done = false;
		uint8_t *start;

		while (p < end && isspace(*p))
			p++;
		if (p == end)
			break;
		start = out;
		while (!done) {
			if (dq) {
				if (p == end)
					return -EINVAL;
				if (*p == '\\' && end - p >= 4 && p[1] == 'x' &&
				    isxdigit(p[2]) && isxdigit(p[3])) {
					int hi = isdigit(p[2]) ? p[2] - '0'
							       : tolower(p[2]) - 'a' + 10;
					int lo = isdigit(p[3]) ? p[3] - '0'
							       : tolower(p[3]) - 'a' + 10;

					*out++ = (uint8_t)(hi * 16 + lo);
					p += 4;
				} else if (*p == '\\' && end - p >= 2) {
					switch (p[1]) {
					case 'n': *out++ = '\n'; break;
					case 'r': *out++ = '\r'; break;
					case 't': *out++ = '\t'; break;
					case 'b': *out++ = '\b'; break;
					case 'a': *out++ = '\a'; break;
					default: *out++ = p[1]; break;
					}
					p += 2;
				} else if (*p == '"') {
					if (end - p > 1 && !isspace(p[1]))
						return -EINVAL;
					done = true;
					p++;
				} else {
					*out++ = *p++;
				}
			} else if (sq) {
				if (p == end)
					return -EINVAL;
				if (*p == '\\' && end - p >= 2 && p[1] == '\'') {
					*out++ = '\'';
					p += 2;
				} else if (*p == '\'') {
					if (end - p > 1 && !isspace(p[1]))
						return -EINVAL;
					done = true;
					p++;
				} else {
					*out++ = *p++;
				}
			} else if (p == end || isspace(*p)) {
				done = true;
			} else if (*p == '"') {
				dq = true;
				p++;
			} else if (*p == '\'') {
				sq = true;
				p++;
			} else {
				*out++ = *p++;
			}
		}
		if (push_arg(req, start - req->scratch, out - start) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_inline(struct resp_request *req, const uint8_t *buf,
			size_t len, size_t *consumed)
{
	const uint8_t *nl;
	size_t line;
	int r;

	/* req->pos is how far we have already looked for the newline. */
	nl = memchr(buf + req->pos, '\n', len - req->pos);
	if (!nl) {
		if (len > RESP_MAX_INLINE)
			return fail(req, -EINVAL,
				    "Protocol error: too big inline request");
		req->pos = len;
		return RESP_AGAIN;
	}
	line = nl - buf;
	*consumed = line + 1;
	if (line && buf[line - 1] == '\r')
		line--;
	/* Unquoting never lengthens, so the line's size is enough. */
	if (req->scratch_cap < line + 1) {
		uint8_t *s = realloc(req->scratch, line + 1);

		if (!s)
			return fail(req, -ENOMEM, "out of memory parsing request");
		req->scratch = s;
		req->scratch_cap = line + 1;
	}
	req->argc = 0;
	r = split_inline(req, buf, line);
	if (r == -ENOMEM)
		return fail(req, r, "out of memory parsing request");
	if (r < 0)
		return fail(req, r,
			    "Protocol error: unbalanced quotes in request");
	for (size_t i = 0; i < req->argc; i++)
		req->argv[i].ptr = req->scratch + req->argv[i].off;
	reset_progress(req);
	return RESP_DONE;
}

int resp_parse(struct resp_request *req, const uint8_t *buf, size_t len,
	       size_t *consumed)
{
	req->error = NULL;
	if (req->nargs < 0 && !req->is_inline && req->pos == 0) {
		/* A new request: drop buffers a huge previous one left big. */
		req->argc = 0;
		if (req->argv_cap > RESP_ARGV_KEEP) {
			free(req->argv);
			req->argv = NULL;
			req->argv_cap = 0;
		}
		if (req->scratch_cap > RESP_SCRATCH_KEEP) {
			free(req->scratch);
			req->scratch = NULL;
			req->scratch_cap = 0;
		}
		if (len == 0)
			return RESP_AGAIN;
		req->is_inline = buf[0] != '*';
	}
	if (req->is_inline)
		return parse_inline(req, buf, len, consumed);
	return parse_multibulk(req, buf, len, consumed);
}

size_t resp_request_need(const struct resp_request *req)
{
	if (req->is_inline || req->nargs < 0 || req->bulk < 0)
		return 0;
	return req->pos + (size_t)req->bulk + 2;
}

/* ------------------------------------------------------------- replies */

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
