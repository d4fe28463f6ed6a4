/* SPDX-License-Identifier: MIT */
/*
 * Incremental HTTP/1.x request parser. Pure: no I/O, no globals, so the
 * service and the unit tests drive it the same way.
 *
 * Bytes may arrive split anywhere and several requests may arrive in one
 * buffer (pipelining). http_parser_feed() consumes bytes up to the next event
 * and says how many it took; the caller acts on the event and feeds the rest:
 *
 *	while (len) {
 *		r = http_parser_feed(p, data, len, &used);
 *		data += used; len -= used;
 *		if (r == HTTP_PARSE_DONE) {
 *			handle(&p->req);
 *			http_parser_reset(p);
 *		}
 *		...  (HTTP_PARSE_AGAIN: wait for more; ERROR: answer, close)
 *	}
 *
 * The request head (request line + headers) is copied into a fixed buffer of
 * HTTP_MAX_HEAD bytes; a body announced by Content-Length is collected into a
 * malloc'd buffer of exactly that size, which the caller may take over.
 */
#ifndef GUEST_HTTP_PARSER_H
#define GUEST_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEAD 8192	/* request line + headers + blank line */
#define HTTP_MAX_HEADERS 64	/* header lines per request */

enum http_method {
	HTTP_OTHER = 0, /* a syntactically valid method we do not implement */
	HTTP_GET,
	HTTP_HEAD,
	HTTP_PUT,
	HTTP_POST,
	HTTP_DELETE,
};

enum http_parse_result {
	HTTP_PARSE_AGAIN,	/* all input consumed, request not complete */
	HTTP_PARSE_HEAD,	/* head complete, body still to come */
	HTTP_PARSE_DONE,	/* a whole request is in p->req */
	HTTP_PARSE_ERROR,	/* p->error_status says what to answer; close */
};

struct http_request {
	enum http_method method;
	const char *method_str;	/* NUL-terminated, inside the head buffer */
	const char *target;	/* request-target as sent, NUL-terminated */
	const char *path;	/* origin path without query; not terminated */
	size_t path_len;
	unsigned version_minor;	/* HTTP/1.<minor> */
	bool keep_alive;	/* after the version's default and Connection */
	bool expect_continue;	/* Expect: 100-continue */
	bool has_content_length;
	size_t content_length;
	uint8_t *body;		/* content_length bytes once DONE (NULL if 0) */
	size_t body_len;	/* bytes of body received so far */
};

enum http_parser_state {
	HTTP_STATE_HEAD,
	HTTP_STATE_BODY,
	HTTP_STATE_DONE,
	HTTP_STATE_ERROR,
};

struct http_parser {
	enum http_parser_state state;
	size_t max_body;	/* larger Content-Length => 413 */
	int error_status;	/* 400, 413, 501, 503 or 505 once in ERROR */
	const char *error_reason; /* short text for logs and tests */
	size_t head_len;
	size_t line_start;	/* offset in head of the line being read */
	unsigned lines;		/* complete non-blank head lines so far */
	struct http_request req;
	char head[HTTP_MAX_HEAD + 1];
};

void http_parser_init(struct http_parser *p, size_t max_body);

/*
 * Consume bytes from data[0..len) until the next event; *consumed says how
 * many were used (always all of them for HTTP_PARSE_AGAIN, none once the
 * parser is DONE or in ERROR: call http_parser_reset first).
 */
enum http_parse_result http_parser_feed(struct http_parser *p,
					const uint8_t *data, size_t len,
					size_t *consumed);

/* Forget the current request (freeing its body) and expect the next one. */
void http_parser_reset(struct http_parser *p);

/* Release what the parser holds. It may be re-initialised afterwards. */
void http_parser_free(struct http_parser *p);

/*
 * Take ownership of a completed request's body (free() it); NULL when the
 * body is empty. The request keeps its length fields.
 */
uint8_t *http_parser_take_body(struct http_parser *p, size_t *len);

const char *http_method_name(enum http_method m);

#endif
