/* SPDX-License-Identifier: MIT */
/*
 * RESP2 request parser; see resp.h. Reply builders are in resp_reply.c.
 *
 * Error messages copy Redis 7.0's wording so clients and scripts that match
 * on them behave the same against us as against redis-server.
 */
#include "resp.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "*<count>\r\n" and "$<len>\r\n": any valid count fits in 20 digits. */
#define RESP_MAX_HEADER 32
/* Buffers above these sizes are released once idle rather than kept. */
#define RESP_ARGV_KEEP 1024
#define RESP_SCRATCH_KEEP 4096

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
		if (v > (ULLONG_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (unsigned long long)LLONG_MAX + 1)
			return false;
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN
							       : -(long long)v;
	} else {
		if (v > (unsigned long long)LLONG_MAX)
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

	/* Negate in unsigned arithmetic so LLONG_MIN does not overflow. */
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

static int hex_value(uint8_t c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* The escape at p (a backslash) inside double quotes; returns its length. */
static size_t dq_escape(const uint8_t *p, const uint8_t *end, uint8_t *out)
{
	if (end - p >= 4 && p[1] == 'x' && isxdigit(p[2]) && isxdigit(p[3])) {
		*out = (uint8_t)(hex_value(p[2]) * 16 + hex_value(p[3]));
		return 4;
	}
	switch (p[1]) {
	case 'n': *out = '\n'; break;
	case 'r': *out = '\r'; break;
	case 't': *out = '\t'; break;
	case 'b': *out = '\b'; break;
	case 'a': *out = '\a'; break;
	default: *out = p[1]; break;
	}
	return 2;
}

/*
 * One inline argument from *pp (not at whitespace) unquoted into out, as
 * Redis' sdssplitargs reads it: quoted sections may follow unquoted text,
 * "double quotes" take \n \r \t \b \a \xHH and \c escapes, 'single
 * quotes' only \', and a closing quote must end the argument. Returns the
 * argument's length, or -EINVAL.
 */
static long inline_arg(const uint8_t **pp, const uint8_t *end, uint8_t *out)
{
	const uint8_t *p = *pp;
	uint8_t *o = out, quote = 0;

	for (;;) {
		if (!quote) {
			if (p == end || isspace(*p))
				break;
			if (*p == '"' || *p == '\'')
				quote = *p++;
			else
				*o++ = *p++;
			continue;
		}
		if (p == end)
			return -EINVAL;
		if (*p == quote) {
			if (end - p > 1 && !isspace(p[1]))
				return -EINVAL;
			p++;
			break;
		}
		if (*p == '\\' && end - p >= 2 && quote == '"') {
			p += dq_escape(p, end, o++);
		} else if (*p == '\\' && end - p >= 2 && p[1] == '\'') {
			*o++ = '\'';
			p += 2;
		} else {
			*o++ = *p++;
		}
	}
	*pp = p;
	return o - out;
}

/* Split a line into req->scratch, which is at least as long as the line. */
static int split_inline(struct resp_request *req, const uint8_t *p,
			size_t len)
{
	const uint8_t *end = p + len;
	size_t used = 0;

	for (;;) {
		long n;

		while (p < end && isspace(*p))
			p++;
		if (p == end)
			return 0;
		n = inline_arg(&p, end, req->scratch + used);
		if (n < 0)
			return n;
		if (push_arg(req, used, n) < 0)
			return -ENOMEM;
		used += n;
	}
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
