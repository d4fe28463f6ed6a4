// SPDX-License-Identifier: MIT
/*
 * Incremental HTTP/1.x request parser (RFC 9112 subset).
 *
 * The head is accumulated line by line (memchr for '\n', so a request that
 * arrives whole costs one copy, not a per-byte state machine) and parsed in
 * one pass once the blank line has arrived: at that point all of it is in
 * one contiguous buffer, which keeps the syntax checks simple and makes a
 * split at any byte behave exactly like an unsplit request.
 *
 * Strictness is deliberate where framing is at stake (Content-Length,
 * Transfer-Encoding, bare CR, obs-fold): an ambiguity there would make the
 * server and the client disagree about where the next request starts, which
 * is the kind of inconsistency this project exists to study, not to cause.
 * Elsewhere it is lenient (bare LF line ends, missing Host) so that nc and
 * hand-written test clients work.
 */
#include "http/http_parser.h"

#include <stdlib.h>
#include <string.h>

static void set_error(struct http_parser *p, int status, const char *reason)
{
	p->state = HTTP_STATE_ERROR;
	p->error_status = status;
	p->error_reason = reason;
}

void http_parser_init(struct http_parser *p, size_t max_body)
{
	memset(p, 0, offsetof(struct http_parser, head));
	p->head[0] = '\0';
	p->max_body = max_body;
	p->state = HTTP_STATE_HEAD;
}

void http_parser_reset(struct http_parser *p)
{
	free(p->req.body);
	http_parser_init(p, p->max_body);
}

void http_parser_free(struct http_parser *p)
{
	free(p->req.body);
	p->req.body = NULL;
}

uint8_t *http_parser_take_body(struct http_parser *p, size_t *len)
{
	uint8_t *body = p->req.body;

	*len = p->req.body_len;
	p->req.body = NULL;
	return body;
}

const char *http_method_name(enum http_method m)
{
	switch (m) {
	case HTTP_GET:
		return "GET";
	case HTTP_HEAD:
		return "HEAD";
	case HTTP_PUT:
		return "PUT";
	case HTTP_POST:
		return "POST";
	case HTTP_DELETE:
		return "DELETE";
	default:
		return "OTHER";
	}
}

/* RFC 9110 tchar: the characters allowed in methods and header names. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive comparison of s[0..len) with a lowercase literal. */
static bool token_eq(const char *s, size_t len, const char *lit)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!lit[i] ||
		    lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return lit[i] == '\0';
}

static enum http_method method_from(const char *s)
{
	static const struct {
		const char *name;
		enum http_method m;
	} methods[] = {
		{ "GET", HTTP_GET },	 { "HEAD", HTTP_HEAD },
		{ "PUT", HTTP_PUT },	 { "POST", HTTP_POST },
		{ "DELETE", HTTP_DELETE },
	};

	/* Methods are case-sensitive (RFC 9110 9.1). */
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(s, methods[i].name) == 0)
			return methods[i].m;
	return HTTP_OTHER;
}

/* Origin path of a target: absolute-form loses scheme and authority. */
static void set_path(struct http_request *req)
{
	const char *t = req->target;
	size_t n;

	if (t[0] != '/') {
		const char *auth = NULL;

		if (strncmp(t, "http://", 7) == 0 ||
		    strncmp(t, "HTTP://", 7) == 0)
			auth = t + 7;
		else if (strncmp(t, "https://", 8) == 0 ||
			 strncmp(t, "HTTPS://", 8) == 0)
			auth = t + 8;
		if (auth) {
			t = strchr(auth, '/');
			if (!t)
				t = "/";
		}
	}
	for (n = 0; t[n] && t[n] != '?' && t[n] != '#'; n++)
		;
	req->path = t;
	req->path_len = n;
}

/* Parse "METHOD SP target SP HTTP/d.d" in place (NUL-terminates parts). */
static int parse_request_line(struct http_parser *p, char *line, size_t len)
{
	struct http_request *req = &p->req;
	char *sp1, *sp2, *ver;
	size_t i;

	sp1 = memchr(line, ' ', len);
	if (!sp1 || sp1 == line)
		goto bad;
	for (i = 0; line + i < sp1; i++)
		if (!is_tchar((unsigned char)line[i]))
			goto bad;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
	if (!sp2 || sp2 == sp1 + 1)
		goto bad;
	for (char *c = sp1 + 1; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			goto bad;
	ver = sp2 + 1;
	if ((size_t)(line + len - ver) != 8 || memcmp(ver, "HTTP/", 5) != 0 ||
	    ver[5] < '0' || ver[5] > '9' || ver[6] != '.' || ver[7] < '0' ||
	    ver[7] > '9')
		goto bad;
	if (ver[5] != '1') {
		set_error(p, 505, "unsupported HTTP version");
		return -1;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	req->method_str = line;
	req->method = method_from(line);
	req->target = sp1 + 1;
	req->version_minor = (unsigned)(ver[7] - '0');
	set_path(req);
	return 0;
bad:
	set_error(p, 400, "malformed request line");
	return -1;
}

/* Strict Content-Length: 1*DIGIT, no sign, no list, no overflow. */
static int parse_content_length(const char *v, size_t len, size_t *out)
{
	size_t n = 0;

	if (len == 0 || len > 18) /* 18 digits cannot overflow 64 bits */
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (size_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

struct head_flags {
	bool conn_close;
	bool conn_keep_alive;
	bool transfer_encoding;
};

/* Connection: a comma-separated token list; only two tokens matter to us. */
static void parse_connection(struct head_flags *f, const char *v, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start, end;

		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (token_eq(v + start, end - start, "close"))
			f->conn_close = true;
		else if (token_eq(v + start, end - start, "keep-alive"))
			f->conn_keep_alive = true;
	}
}

static int parse_header(struct http_parser *p, struct head_flags *f,
			char *line, size_t len)
{
	struct http_request *req = &p->req;
	char *colon, *v;
	size_t name_len, vlen;

	if (line[0] == ' ' || line[0] == '\t') {
		set_error(p, 400, "obsolete header line folding");
		return -1;
	}
	colon = memchr(line, ':', len);
	if (!colon || colon == line) {
		set_error(p, 400, "malformed header line");
		return -1;
	}
	name_len = (size_t)(colon - line);
	for (size_t i = 0; i < name_len; i++) {
		if (!is_tchar((unsigned char)line[i])) {
			set_error(p, 400, "malformed header name");
			return -1;
		}
	}
	v = colon + 1;
	vlen = len - name_len - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			set_error(p, 400, "control character in header value");
			return -1;
		}
	}

	if (token_eq(line, name_len, "content-length")) {
		size_t cl;

		if (parse_content_length(v, vlen, &cl) < 0 ||
		    (req->has_content_length && cl != req->content_length)) {
			set_error(p, 400, "bad Content-Length");
			return -1;
		}
		req->has_content_length = true;
		req->content_length = cl;
	} else if (token_eq(line, name_len, "transfer-encoding")) {
		f->transfer_encoding = true;
	} else if (token_eq(line, name_len, "connection")) {
		parse_connection(f, v, vlen);
	} else if (token_eq(line, name_len, "expect")) {
		if (token_eq(v, vlen, "100-continue"))
			req->expect_continue = true;
	}
	return 0;
}

/* The whole head is in p->head (p->head_len bytes); parse it in place. */
static int parse_head(struct http_parser *p)
{
	struct http_request *req = &p->req;
	struct head_flags f = { 0 };
	char *pos = p->head, *end = p->head + p->head_len;
	bool first = true;

	while (pos < end) {
		char *nl = memchr(pos, '\n', (size_t)(end - pos));
		size_t len = (size_t)(nl - pos);

		/* feed_head only completes a head that ends in "\n". */
		if (len && pos[len - 1] == '\r')
			len--;
		pos[len] = '\0';
		if (len == 0)
			break; /* the blank line */
		if (memchr(pos, '\r', len)) {
			set_error(p, 400, "bare CR in head");
			return -1;
		}
		if (first) {
			if (parse_request_line(p, pos, len) < 0)
				return -1;
			first = false;
		} else if (parse_header(p, &f, pos, len) < 0) {
			return -1;
		}
		pos = nl + 1;
	}

	if (f.transfer_encoding) {
		/* No chunked decoding: we cannot find the body's end. */
		set_error(p, 501, "Transfer-Encoding not supported");
		return -1;
	}
	if (req->content_length > p->max_body) {
		set_error(p, 413, "body too large");
		return -1;
	}
	if (req->version_minor >= 1)
		req->keep_alive = !f.conn_close;
	else
		req->keep_alive = f.conn_keep_alive && !f.conn_close;
	return 0;
}

/*
 * Copy head bytes until the blank line. Returns HTTP_PARSE_AGAIN (consumed
 * everything), HTTP_PARSE_HEAD (head complete; *used bytes taken) or
 * HTTP_PARSE_ERROR.
 */
static enum http_parse_result feed_head(struct http_parser *p,
					const uint8_t *data, size_t len,
					size_t *used)
{
	size_t i = 0;

	/* RFC 9112 2.2: ignore empty lines before the request line. */
	while (p->head_len == 0 && i < len &&
	       (data[i] == '\r' || data[i] == '\n'))
		i++;

	while (i < len) {
		const uint8_t *nl = memchr(data + i, '\n', len - i);
		size_t chunk = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
		size_t line_len;

		if (p->head_len + chunk > HTTP_MAX_HEAD) {
			*used = i;
			set_error(p, 400, "request head too large");
			return HTTP_PARSE_ERROR;
		}
		memcpy(p->head + p->head_len, data + i, chunk);
		p->head_len += chunk;
		i += chunk;
		if (!nl)
			break;

		line_len = p->head_len - p->line_start - 1;
		if (line_len && p->head[p->head_len - 2] == '\r')
			line_len--;
		if (line_len == 0) {
			*used = i;
			p->head[p->head_len] = '\0';
			return HTTP_PARSE_HEAD;
		}
		p->line_start = p->head_len;
		/* The request line plus at most HTTP_MAX_HEADERS headers. */
		if (++p->lines > HTTP_MAX_HEADERS + 1) {
			*used = i;
			set_error(p, 400, "too many header lines");
			return HTTP_PARSE_ERROR;
		}
	}
	*used = i;
	return HTTP_PARSE_AGAIN;
}

enum http_parse_result http_parser_feed(struct http_parser *p,
					const uint8_t *data, size_t len,
					size_t *consumed)
{
	struct http_request *req = &p->req;
	enum http_parse_result r;
	size_t used = 0, n;

	*consumed = 0;
	switch (p->state) {
	case HTTP_STATE_HEAD:
		r = feed_head(p, data, len, &used);
		*consumed = used;
		if (r != HTTP_PARSE_HEAD)
			return r;
		if (parse_head(p) < 0)
			return HTTP_PARSE_ERROR;
		if (req->content_length == 0) {
			p->state = HTTP_STATE_DONE;
			return HTTP_PARSE_DONE;
		}
		req->body = malloc(req->content_length);
		if (!req->body) {
			set_error(p, 503, "out of memory for body");
			return HTTP_PARSE_ERROR;
		}
		p->state = HTTP_STATE_BODY;
		return HTTP_PARSE_HEAD;
	case HTTP_STATE_BODY:
		n = req->content_length - req->body_len;
		if (n > len)
			n = len;
		memcpy(req->body + req->body_len, data, n);
		req->body_len += n;
		*consumed = n;
		if (req->body_len < req->content_length)
			return HTTP_PARSE_AGAIN;
		p->state = HTTP_STATE_DONE;
		return HTTP_PARSE_DONE;
	case HTTP_STATE_DONE:
		return HTTP_PARSE_DONE;
	case HTTP_STATE_ERROR:
	default:
		return HTTP_PARSE_ERROR;
	}
}
