// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the http guest's request parser
 * (guest/services/http/http_parser.c) and, behind it, the http service
 * (routes, the /kv/ store, responses), built for the host against the fake
 * service transport of the unit tests (tests/unit/fake_service.c).
 *
 * Input: one mode byte, then the client's byte stream.
 *   mode & 0x03  how the stream is cut: 0 whole, 1 byte by byte, 2-3 chunks
 *                of pseudo-random sizes
 *   mode & 0x80  drive the http service (the stream on one connection, a
 *                GET / on another between chunks) instead of the parser
 *
 * Checked: no crash, overrun or leak (ASan/UBSan/LSan). Parser: the events
 * (head, request, error) and every field of each request are the same
 * whether the stream arrives whole or in pieces; consumed never exceeds
 * what was fed; pointers into the head stay inside it; bodies have their
 * announced length. Service: the other connection always gets a 200 for
 * GET / and stays open.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_parser.h"
#include "tests/fuzz/fuzz_service.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_BODY   4096u
#define MAX_EVENTS 64
#define HTTP_PORT  80

extern const struct guest_service guest_main_service;

/* One event, flattened to bytes for comparison. */
struct event {
	uint8_t *b;
	size_t n;
};

struct outcome {
	struct event ev[MAX_EVENTS];
	size_t n;
};

static void put(uint8_t *b, size_t *n, const void *p, size_t len)
{
	memcpy(b + *n, p, len);
	*n += len;
}

static struct event flatten(const struct http_parser *p,
			    enum http_parse_result r)
{
	const struct http_request *q = &p->req;
	struct event e;
	size_t tl = 0, ml = 0;
	int status = r == HTTP_PARSE_ERROR ? p->error_status : 0;

	if (r != HTTP_PARSE_ERROR) {
		ml = strlen(q->method_str);
		tl = strlen(q->target);
		CHECK(q->method_str >= p->head &&
		      q->method_str + ml <= p->head + HTTP_MAX_HEAD);
		CHECK(q->target >= p->head &&
		      q->target + tl <= p->head + HTTP_MAX_HEAD);
		/* An absolute-form target without a path has the path "/"
		 * (a constant, not in the head). */
		CHECK((q->path >= p->head &&
		       q->path + q->path_len <= p->head + HTTP_MAX_HEAD) ||
		      (q->path_len == 1 && q->path[0] == '/'));
		CHECK(!q->has_content_length || q->content_length <= MAX_BODY);
	}
	if (r == HTTP_PARSE_DONE)
		CHECK(q->body_len == q->content_length &&
		      (q->content_length == 0 || q->body != NULL));
	else if (r == HTTP_PARSE_ERROR)
		CHECK(status >= 400 && status <= 505 && p->error_reason);
	e.b = malloc(64 + ml + tl + q->path_len + q->body_len);
	CHECK(e.b != NULL);
	e.n = 0;
	put(e.b, &e.n, &r, sizeof(r));
	put(e.b, &e.n, &status, sizeof(status));
	if (r != HTTP_PARSE_ERROR) {
		uint8_t flags =
		    (uint8_t)(q->keep_alive | q->expect_continue << 1 |
			      q->has_content_length << 2);

		put(e.b, &e.n, &q->method, sizeof(q->method));
		put(e.b, &e.n, q->method_str, ml + 1);
		put(e.b, &e.n, q->target, tl + 1);
		put(e.b, &e.n, q->path, q->path_len);
		put(e.b, &e.n, &q->version_minor, sizeof(q->version_minor));
		put(e.b, &e.n, &flags, 1);
		put(e.b, &e.n, &q->content_length, sizeof(q->content_length));
	}
	if (r == HTTP_PARSE_DONE && q->body_len)
		put(e.b, &e.n, q->body, q->body_len);
	return e;
}

/* Feed the stream as the service does; record every event. */
static void run(uint8_t mode, const uint8_t *s, size_t len, struct outcome *o)
{
	struct http_parser p;
	uint64_t rng = 0x9E3779B97F4A7C15ull ^ mode ^ len;
	size_t pos = 0;
	bool stop = false;

	http_parser_init(&p, MAX_BODY);
	while (pos < len && !stop) {
		size_t end = fuzz_next_cut(mode, &rng, pos, len, 16, 700);

		while (pos < end && o->n < MAX_EVENTS) {
			size_t used = (size_t)-1;
			enum http_parse_result r =
			    http_parser_feed(&p, s + pos, end - pos, &used);

			CHECK(used <= end - pos);
			pos += used;
			if (r == HTTP_PARSE_AGAIN) {
				CHECK(pos == end);
				break;
			}
			o->ev[o->n++] = flatten(&p, r);
			if (r == HTTP_PARSE_ERROR) {
				stop = true;
				break;
			}
			if (r == HTTP_PARSE_DONE)
				http_parser_reset(&p);
		}
		if (o->n == MAX_EVENTS)
			stop = true;
	}
	http_parser_free(&p);
}

static bool is_200(const char *out)
{
	return strncmp(out, "HTTP/1.1 200", 12) == 0;
}

static void drive_service(uint8_t mode, const uint8_t *s, size_t len)
{
	fake_reset();
	fake_set_option("store_mb", "1");
	CHECK(guest_main_service.start() == 0);
	fuzz_drive_service(HTTP_PORT, mode, s, len, 16, 700,
			   "GET / HTTP/1.1\r\nHost: x\r\n\r\n", is_200);
	fake_reset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome whole, cut;

	if (size < 1)
		return 0;
	if (data[0] & 0x80) {
		drive_service(data[0], data + 1, size - 1);
		return 0;
	}
	whole.n = cut.n = 0;
	run(0, data + 1, size - 1, &whole);
	run(data[0], data + 1, size - 1, &cut);
	CHECK(whole.n == cut.n);
	for (size_t i = 0; i < whole.n; i++) {
		CHECK(whole.ev[i].n == cut.ev[i].n &&
		      memcmp(whole.ev[i].b, cut.ev[i].b, whole.ev[i].n) == 0);
		free(whole.ev[i].b);
		free(cut.ev[i].b);
	}
	return 0;
}

#ifdef FUZZ_GEN_SEEDS
/* ------------------------------------------------------ seed generator */

int main(int argc, char **argv)
{
	static const struct fuzz_text_seed seeds[] = {
	    {"get", 0x00, "GET /counter HTTP/1.1\r\nHost: a\r\n\r\n"},
	    {"pipeline", 0x01,
	     "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	     "HEAD /kv/x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	     "DELETE /kv/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"},
	    {"put-body", 0x02,
	     "PUT /kv/key HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
	     "Expect: 100-continue\r\n\r\nhello world"
	     "POST /kv/k HTTP/1.1\r\nContent-Length: 0\r\n\r\n"},
	    {"bad-version", 0x03, "GET / HTTP/2.0\r\n\r\n"},
	    {"bad-length", 0x00,
	     "PUT /kv/a HTTP/1.1\r\nContent-Length: "
	     "99999999999999999999\r\n\r\n"},
	    {"service", 0x82,
	     "PUT /kv/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
	     "GET /kv/a HTTP/1.1\r\n\r\nGET /counter HTTP/1.1\r\n\r\n"
	     "DELETE /kv/a HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
	     "BREW / HTTP/1.1\r\n\r\n"},
	    {"service-garbage", 0x81, "\x01\x02 / HTTP/1.1\r\n\r\n"},
	};

	if (argc != 2) {
		fprintf(stderr, "usage: gen_http DIR\n");
		return 2;
	}
	return fuzz_write_text_seeds(argv[1], seeds,
				     sizeof(seeds) / sizeof(seeds[0]),
				     LLVMFuzzerTestOneInput)
		   ? 1
		   : 0;
}
#endif
