/* SPDX-License-Identifier: MIT */
/*
 * RESP2 reply parser for the consistency client: the client side of the
 * protocol (the kv guest's resp.c parses requests; this parses what comes
 * back). Pure: it reads a caller's buffer and builds a tree of values, no I/O.
 */
#ifndef CONSISTENCY_RESP_REPLY_H
#define CONSISTENCY_RESP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

enum reply_type {
	REPLY_SIMPLE,    /* +OK */
	REPLY_ERROR,     /* -ERR message */
	REPLY_INTEGER,   /* :42 */
	REPLY_BULK,      /* $3\r\nfoo */
	REPLY_NIL,       /* $-1: GET of a missing key, MGET element */
	REPLY_ARRAY,     /* *N: MGET */
	REPLY_NIL_ARRAY, /* *-1 */
};

struct reply {
	enum reply_type type;
	long long integer;   /* REPLY_INTEGER */
	char *str;           /* SIMPLE, ERROR, BULK: copy, NUL-terminated */
	size_t len;          /* bytes in str (a bulk may itself hold NULs) */
	struct reply *elem;  /* REPLY_ARRAY */
	size_t nelem;
};

/*
 * Bounds on what a reply may claim, so a corrupt length cannot make the
 * client allocate gigabytes: we only ever read back our own small values.
 */
#define REPLY_MAX_BULK (16u << 20)
#define REPLY_MAX_ELEMS (1u << 20)
#define REPLY_MAX_DEPTH 8
#define REPLY_MAX_LINE (64u << 10)

enum {
	REPLY_AGAIN = 0, /* incomplete: call again with more bytes */
	REPLY_DONE = 1,  /* one reply parsed; *consumed bytes used */
	/* Negative errno: -EPROTO malformed (stream unusable), -ENOMEM. */
};

/*
 * Parse one reply from buf[0..len). Stateless: after REPLY_AGAIN call again
 * from the same first byte once more bytes arrived. On REPLY_DONE *out owns
 * memory the caller releases with reply_free(); on any other result *out is
 * left empty (type REPLY_NIL, nothing to free).
 */
int reply_parse(const char *buf, size_t len, struct reply *out,
		size_t *consumed);
void reply_free(struct reply *r);

const char *reply_type_name(enum reply_type type);
/* A short printable rendering of r for diagnostics, truncated to fit. */
void reply_describe(const struct reply *r, char *buf, size_t size);
/* True if r is the simple string "OK". */
bool reply_is_ok(const struct reply *r);

#endif
