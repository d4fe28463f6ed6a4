/* SPDX-License-Identifier: MIT */
/*
 * RESP2 (Redis serialization protocol) for the kv service: an incremental
 * request parser (resp.c) and reply builders (resp_reply.c). No I/O here:
 * the parser reads a caller's buffer, the builders write into a growable
 * buffer that hands full chunks to a flush callback. Both run unchanged in
 * the guest and in host unit tests.
 */
#ifndef KV_RESP_H
#define KV_RESP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Redis' own caps: 1M arguments per command, 512 MiB per bulk string. */
#define RESP_MAX_ARGS (1024 * 1024)
#define RESP_PROTO_MAX_BULK (512u * 1024 * 1024)
/* What we accept by default; the guest has about 60 MiB of RAM. */
#define RESP_DEFAULT_MAX_BULK (64u * 1024 * 1024)
/* Longest inline command line, as in Redis (PROTO_INLINE_MAX_SIZE). */
#define RESP_MAX_INLINE (64 * 1024)

enum resp_status {
	RESP_AGAIN = 0, /* need more bytes; call again with the longer buffer */
	RESP_DONE = 1,  /* one request parsed (argc may be 0: nothing to run) */
	/* Negative errno: -EINVAL protocol error, -ENOMEM allocation failed. */
};

struct resp_arg {
	const uint8_t *ptr; /* valid after RESP_DONE while the buffer is */
	size_t len;
	size_t off; /* from the request's first byte; private to the parser */
};

/*
 * Parser state for one connection. Progress survives RESP_AGAIN as offsets
 * from the first byte of the unfinished request, so the caller may move or
 * reallocate its buffer between calls as long as that request still starts
 * at the buffer it passes next time.
 */
struct resp_request {
	/* Results, valid after RESP_DONE until the next resp_parse call. */
	struct resp_arg *argv;
	size_t argc;
	const char *error; /* after a negative return: Redis-style message */

	/* Limits; set by resp_request_init, adjustable afterwards. */
	size_t max_bulk;
	size_t max_args;

	/* Private progress. */
	size_t argv_cap;
	size_t pos;       /* bytes of the request already consumed */
	long long nargs;  /* multibulk count, -1 while unknown */
	long long bulk;   /* length of the bulk being read, -1 while unknown */
	bool is_inline;
	uint8_t *scratch; /* inline arguments after unquoting */
	size_t scratch_cap;
	char errbuf[64];
};

void resp_request_init(struct resp_request *req);
void resp_request_free(struct resp_request *req);

/*
 * Parse one request from buf[0..len), which must start where the previous
 * RESP_DONE (or error) left off. Returns RESP_DONE and sets *consumed,
 * RESP_AGAIN, or a negative errno with req->error set; after an error the
 * stream cannot be resynchronised and the connection should be closed.
 */
int resp_parse(struct resp_request *req, const uint8_t *buf, size_t len,
	       size_t *consumed);

/*
 * Bytes the unfinished request needs in total, from its first byte, to make
 * progress: lets a receiver size its buffer once for a large bulk string
 * instead of growing it a segment at a time. 0 if unknown.
 */
size_t resp_request_need(const struct resp_request *req);

/* Strict decimal integer as Redis reads it (no '+', no leading zeros). */
bool resp_parse_ll(const uint8_t *s, size_t len, long long *out);
/* Decimal digits of v into buf (at least 21 bytes); returns the length. */
size_t resp_format_ll(char *buf, long long v);

/* ------------------------------------------------------------- replies */

typedef int (*resp_flush_fn)(void *ctx, const void *data, size_t len);

/*
 * Replies accumulate here and go out through `flush` in chunks, so that a
 * pipeline of small replies becomes one send, and big ones do not need a
 * buffer as large as themselves. Errors are sticky: after a failed
 * allocation or flush every builder is a no-op and `err` says why.
 */
struct resp_out {
	uint8_t *buf;
	size_t len;
	size_t cap;
	resp_flush_fn flush; /* NULL: just accumulate (tests) */
	void *ctx;
	int err;
};

void resp_out_init(struct resp_out *out, resp_flush_fn flush, void *ctx);
void resp_out_free(struct resp_out *out);
/* Hand everything buffered to flush. 0 or the sticky negative errno. */
int resp_out_flush(struct resp_out *out);
/* Release the buffer if it grew past what small replies need. */
void resp_out_trim(struct resp_out *out);

void resp_add_raw(struct resp_out *out, const void *data, size_t len);
void resp_add_simple(struct resp_out *out, const char *s);
void resp_add_error(struct resp_out *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void resp_add_integer(struct resp_out *out, long long v);
void resp_add_bulk(struct resp_out *out, const void *data, size_t len);
void resp_add_bulk_str(struct resp_out *out, const char *s);
void resp_add_null(struct resp_out *out);
void resp_add_null_array(struct resp_out *out);
void resp_add_array(struct resp_out *out, size_t n);

#endif
