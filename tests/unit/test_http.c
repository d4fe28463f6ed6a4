// SPDX-License-Identifier: MIT
/*
 * The http service: the incremental parser on its own (splits, pipelining,
 * keep-alive rules, malformed input) and the routes through the fake
 * transport, asserting the exact bytes a client would receive.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_service.h"
#include "http/http_parser.h"
#include "http/http_service.h"

/* ------------------------------------------------------------ helpers */

struct strbuf {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

struct parse_run {
	struct http_parser p;
	struct strbuf log;
	int stopped;
};

/* Feed one piece; log every event in a split-independent form. */
static void feed_piece(struct parse_run *run, const char *d, size_t n)
{
	struct http_request *req = &run->p.req;
	enum http_parse_result r;
	size_t used;

	while (!run->stopped) {
		r = http_parser_feed(&run->p, (const uint8_t *)d, n, &used);
		assert_true(used <= n);
		d += used;
		n -= used;
		switch (r) {
		case HTTP_PARSE_AGAIN:
			assert_int_equal(n, 0);
			return;
		case HTTP_PARSE_HEAD:
			sb_printf(&run->log, "head expect=%d\n",
				  req->expect_continue);
			break;
		case HTTP_PARSE_DONE:
			sb_printf(&run->log,
				  "%s %s path=%.*s v=1.%u ka=%d cl=%d:%zu "
				  "body=%.*s\n",
				  req->method_str, req->target,
				  (int)req->path_len, req->path,
				  req->version_minor, req->keep_alive,
				  req->has_content_length, req->content_length,
				  (int)req->body_len,
				  req->body ? (const char *)req->body : "");
			http_parser_reset(&run->p);
			if (n == 0)
				return;
			break;
		case HTTP_PARSE_ERROR:
			sb_printf(&run->log, "error %d\n", run->p.error_status);
			run->stopped = 1;
			return;
		}
	}
}

/*
 * Parse `in` delivered as [0, split) then the rest in pieces of `step` bytes
 * (0: in one piece). Returns the event log (caller frees).
 */
static char *parse_split(const char *in, size_t len, size_t split, size_t step)
{
	struct parse_run *run = calloc(1, sizeof(*run));
	char *log;

	assert_non_null(run);
	http_parser_init(&run->p, HTTP_MAX_BODY);
	sb_printf(&run->log, "%s", "");
	if (split)
		feed_piece(run, in, split);
	for (size_t off = split; off < len;) {
		size_t n = step && step < len - off ? step : len - off;

		feed_piece(run, in + off, n);
		off += n;
	}
	http_parser_free(&run->p);
	log = run->log.s;
	free(run);
	return log;
}

static char *parse_str(const char *in)
{
	return parse_split(in, strlen(in), 0, 0);
}

static void assert_parse(const char *in, const char *expected_log)
{
	char *log = parse_str(in);

	assert_string_equal(log, expected_log);
	free(log);
}

/* ------------------------------------------------------- parser cases */

static const char pipelined[] =
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	"PUT /kv/a?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	"Expect: 100-continue\r\n\r\nhello"
	"\r\n" /* stray CRLF after a body: must be skipped */
	"GET /counter HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	"HEAD http://h:80/kv/b HTTP/1.1\nConnection: close\n\n"
	"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";

static const char pipelined_log[] =
	"GET / path=/ v=1.1 ka=1 cl=0:0 body=\n"
	"head expect=1\n"
	"PUT /kv/a?x=1 path=/kv/a v=1.1 ka=1 cl=1:5 body=hello\n"
	"GET /counter path=/counter v=1.0 ka=1 cl=0:0 body=\n"
	"HEAD http://h:80/kv/b path=/kv/b v=1.1 ka=0 cl=0:0 body=\n"
	"head expect=0\n"
	"POST /x path=/x v=1.1 ka=1 cl=1:3 body=abc\n";

static void test_parser_pipelined(void **state)
{
	assert_parse(pipelined, pipelined_log);
}

static void test_parser_split_every_byte(void **state)
{
	size_t len = strlen(pipelined);
	char *log;

	for (size_t split = 0; split <= len; split++) {
		log = parse_split(pipelined, len, split, 0);
		if (strcmp(log, pipelined_log) != 0)
			fail_msg("split at %zu:\n%s", split, log);
		free(log);
	}
	for (size_t step = 1; step < 8; step++) {
		log = parse_split(pipelined, len, 0, step);
		if (strcmp(log, pipelined_log) != 0)
			fail_msg("pieces of %zu:\n%s", step, log);
		free(log);
	}
}

static void test_parser_keep_alive_rules(void **state)
{
	static const struct {
		const char *in;
		int keep_alive;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nConnection: Keep-Alive,Close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nConnection: upgrade,CLOSE \r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nconnection:Keep-Alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive,close\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: x\r\nConnection: keep-alive"
		  "\r\n\r\n", 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_parser p;
		size_t used;

		http_parser_init(&p, HTTP_MAX_BODY);
		assert_int_equal(http_parser_feed(&p,
						  (const uint8_t *)cases[i].in,
						  strlen(cases[i].in), &used),
				 HTTP_PARSE_DONE);
		assert_int_equal(used, strlen(cases[i].in));
		if (p.req.keep_alive != cases[i].keep_alive)
			fail_msg("case %zu: keep_alive %d", i,
				 p.req.keep_alive);
		http_parser_free(&p);
	}
}

static void test_parser_malformed(void **state)
{
	static const struct {
		const char *in;
		const char *log;
	} cases[] = {
		{ "GET /\r\n\r\n", "error 400\n" },
		{ "GET  / HTTP/1.1\r\n\r\n", "error 400\n" },
		{ "GET / HTTP/1.1 \r\n\r\n", "error 400\n" },
		{ " GET / HTTP/1.1\r\n\r\n", "error 400\n" },
		{ "G(T / HTTP/1.1\r\n\r\n", "error 400\n" },
		{ "GET / HTTX/1.1\r\n\r\n", "error 400\n" },
		{ "GET / HTTP/11\r\n\r\n", "error 400\n" },
		{ "GET /a\x01 HTTP/1.1\r\n\r\n", "error 400\n" },
		{ "GET / HTTP/2.0\r\n\r\n", "error 505\n" },
		{ "GET / HTTP/1.1\r\nNoColon\r\n\r\n", "error 400\n" },
		{ "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "error 400\n" },
		{ "GET / HTTP/1.1\r\n: x\r\n\r\n", "error 400\n" },
		{ "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "error 400\n" },
		{ "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "error 400\n" },
		{ "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", "error 400\n" },
#define CL(v) "PUT / HTTP/1.1\r\nContent-Length:" v "\r\n\r\n"
		{ CL(" abc"), "error 400\n" },
		{ CL(" -1"), "error 400\n" },
		{ CL(" +5"), "error 400\n" },
		{ CL(" 1 2"), "error 400\n" },
		{ CL(" 5, 5"), "error 400\n" },
		{ CL(""), "error 400\n" },
		{ CL(" 0x10"), "error 400\n" },
		{ CL(" 99999999999999999999"), "error 400\n" },
#undef CL
		{ "PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
		  "\r\n", "error 400\n" },
		{ "PUT / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n",
		  "error 413\n" },
		{ "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		  "error 501\n" },
		{ "PUT / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: "
		  "chunked\r\n\r\n", "error 501\n" },
		/* Errors stop the parser: the GET after the bad one is lost. */
		{ "GET / HTTP/1.1\r\n\r\nBAD\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		  "GET / path=/ v=1.1 ka=1 cl=0:0 body=\nerror 400\n" },
		/* Accepted oddities, for contrast. */
		{ "PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
		  "\r\nok", "head expect=0\n"
			    "PUT / path=/ v=1.1 ka=1 cl=1:2 body=ok\n" },
		{ "PUT / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n",
		  "head expect=0\n" },
		{ "get / HTTP/1.1\r\nX:\r\n\r\n",
		  "get / path=/ v=1.1 ka=1 cl=0:0 body=\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *log = parse_str(cases[i].in);

		if (strcmp(log, cases[i].log) != 0)
			fail_msg("case %zu (%s): got %s", i, cases[i].in, log);
		free(log);
	}
}

/* A request whose head is exactly `head_len` bytes long. */
static char *head_of_size(size_t head_len)
{
	static const char pre[] = "GET / HTTP/1.1\r\nX: ";
	static const char post[] = "\r\n\r\n";
	char *s = malloc(head_len + 1);

	assert_non_null(s);
	memcpy(s, pre, sizeof(pre) - 1);
	memset(s + sizeof(pre) - 1, 'a',
	       head_len - (sizeof(pre) - 1) - (sizeof(post) - 1));
	memcpy(s + head_len - (sizeof(post) - 1), post, sizeof(post));
	assert_int_equal(strlen(s), head_len);
	return s;
}

static void test_parser_head_limit(void **state)
{
	char *ok = head_of_size(HTTP_MAX_HEAD);
	char *big = head_of_size(HTTP_MAX_HEAD + 1);
	char *log;

	log = parse_split(ok, strlen(ok), 0, 100);
	assert_string_equal(log, "GET / path=/ v=1.1 ka=1 cl=0:0 body=\n");
	free(log);
	log = parse_split(big, strlen(big), 0, 100);
	assert_string_equal(log, "error 400\n");
	free(log);
	free(ok);
	free(big);
}

static void test_parser_header_count(void **state)
{
	struct strbuf b = { 0 };
	char *log;

	sb_printf(&b, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		sb_printf(&b, "H%d: v\r\n", i);
	sb_printf(&b, "\r\n");
	log = parse_str(b.s);
	assert_string_equal(log, "GET / path=/ v=1.1 ka=1 cl=0:0 body=\n");
	free(log);

	b.len -= 2;
	sb_printf(&b, "One-Too-Many: v\r\n\r\n");
	log = parse_str(b.s);
	assert_string_equal(log, "error 400\n");
	free(log);
	free(b.s);
}

static void test_parser_take_body(void **state)
{
	static const char in[] = "PUT /kv/k HTTP/1.1\r\n"
				 "Content-Length: 4\r\n\r\nabcd";
	struct http_parser p;
	uint8_t *body;
	size_t used, len;

	http_parser_init(&p, 16);
	assert_int_equal(http_parser_feed(&p, (const uint8_t *)in,
					  sizeof(in) - 1, &used),
			 HTTP_PARSE_HEAD);
	assert_int_equal(http_parser_feed(&p, (const uint8_t *)in + used,
					  sizeof(in) - 1 - used, &used),
			 HTTP_PARSE_DONE);
	assert_int_equal(used, 4);
	/* Done parsers consume nothing until reset. */
	assert_int_equal(http_parser_feed(&p, (const uint8_t *)"x", 1, &used),
			 HTTP_PARSE_DONE);
	assert_int_equal(used, 0);
	body = http_parser_take_body(&p, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(body, "abcd", 4);
	assert_null(p.req.body);
	free(body);
	http_parser_reset(&p);
	http_parser_free(&p);
}

/* ------------------------------------------------------ service cases */

static int svc_setup(void **state)
{
	fake_reset();
	assert_int_equal(http_start(), 0);
	return 0;
}

static int svc_teardown(void **state)
{
	http_service_reset();
	fake_reset();
	return 0;
}

static struct svc_conn *open_conn(void)
{
	struct svc_conn *c = fake_connect(HTTP_DEFAULT_PORT);

	assert_non_null(c);
	return c;
}

static void send_str(struct svc_conn *c, const char *s)
{
	fake_receive(c, s, strlen(s));
}

/* Output so far must be exactly `expected`; then forget it. */
static void expect_out(struct svc_conn *c, const char *expected)
{
	assert_int_equal(c->out_len, strlen(expected));
	assert_string_equal(c->out ? c->out : "", expected);
	fake_clear_output(c);
}

static const char index_page[] =
	"<!DOCTYPE html>\n"
	"<html><head><title>rrvm</title></head>\n"
	"<body><h1>rrvm guest</h1>\n"
	"<p>This page is served by the http service of an rrvm micro-VM.</p>\n"
	"<ul><li><a href=\"/counter\">/counter</a></li>"
	"<li>/kv/KEY (GET, HEAD, PUT)</li></ul>\n"
	"</body></html>\n";

#define INDEX_HDR(extra)                                                     \
	"HTTP/1.1 200 OK\r\nServer: rrvm\r\nContent-Type: text/html\r\n"     \
	"Content-Length: 247\r\n" extra "\r\n"

#define COUNTER_RESP(n, len)                                                 \
	"HTTP/1.1 200 OK\r\nServer: rrvm\r\nContent-Type: text/plain\r\n"    \
	"Content-Length: " #len "\r\n\r\n" #n "\n"

#define STATUS_RESP(code, reason, len, extra)                                \
	"HTTP/1.1 " #code " " reason "\r\nServer: rrvm\r\n"                  \
	"Content-Type: text/plain\r\nContent-Length: " #len "\r\n" extra     \
	"\r\n"

static void test_index(void **state)
{
	struct svc_conn *c = open_conn();

	assert_int_equal(sizeof(index_page) - 1, 247);
	send_str(c, "GET / HTTP/1.1\r\nHost: guest\r\nUser-Agent: t\r\n\r\n");
	expect_out(c, INDEX_HDR("") "<!DOCTYPE html>\n"
		      "<html><head><title>rrvm</title></head>\n"
		      "<body><h1>rrvm guest</h1>\n"
		      "<p>This page is served by the http service of an rrvm "
		      "micro-VM.</p>\n"
		      "<ul><li><a href=\"/counter\">/counter</a></li>"
		      "<li>/kv/KEY (GET, HEAD, PUT)</li></ul>\n"
		      "</body></html>\n");
	send_str(c, "HEAD /?q=1 HTTP/1.1\r\nHost: guest\r\n\r\n");
	expect_out(c, INDEX_HDR(""));
	assert_false(c->close_requested);
	fake_disconnect(c);
}

static void test_counter(void **state)
{
	struct svc_conn *c = open_conn();

	/* Three pipelined GETs in one segment: three answers, in order. */
	send_str(c, "GET /counter HTTP/1.1\r\n\r\n"
		    "GET /counter HTTP/1.1\r\n\r\n"
		    "GET /counter?x HTTP/1.1\r\n\r\n");
	expect_out(c, COUNTER_RESP(1, 2) COUNTER_RESP(2, 2) COUNTER_RESP(3, 2));
	/* HEAD announces GET's length and changes nothing. */
	send_str(c, "HEAD /counter HTTP/1.1\r\n\r\n");
	expect_out(c, "HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
		      "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n");
	assert_int_equal(http_counter_value(), 3);
	for (int i = 4; i <= 10; i++)
		send_str(c, "GET /counter HTTP/1.1\r\n\r\n");
	fake_clear_output(c);
	send_str(c, "GET /counter HTTP/1.1\r\n\r\n");
	expect_out(c, COUNTER_RESP(11, 3));
	assert_false(c->close_requested);
	fake_disconnect(c);
}

static void test_kv_routes(void **state)
{
	struct svc_conn *c = open_conn();

	send_str(c, "GET /kv/foo HTTP/1.1\r\n\r\n");
	expect_out(c, STATUS_RESP(404, "Not Found", 10, "") "Not Found\n");
	send_str(c, "PUT /kv/foo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
	expect_out(c, "HTTP/1.1 201 Created\r\nServer: rrvm\r\n"
		      "Content-Length: 0\r\n\r\n");
	send_str(c, "PUT /kv/foo HTTP/1.1\r\nContent-Length: 6\r\n\r\nworld!");
	expect_out(c, "HTTP/1.1 204 No Content\r\nServer: rrvm\r\n\r\n");
	send_str(c, "GET /kv/foo HTTP/1.1\r\n\r\n");
	expect_out(c, "HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
		      "Content-Type: application/octet-stream\r\n"
		      "Content-Length: 6\r\n\r\nworld!");
	send_str(c, "HEAD /kv/foo HTTP/1.1\r\n\r\n");
	expect_out(c, "HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
		      "Content-Type: application/octet-stream\r\n"
		      "Content-Length: 6\r\n\r\n");
	send_str(c, "HEAD /kv/bar HTTP/1.1\r\n\r\n");
	expect_out(c, STATUS_RESP(404, "Not Found", 10, ""));
	/* Empty values are values. */
	send_str(c, "PUT /kv/empty HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
		    "GET /kv/empty HTTP/1.1\r\n\r\n");
	expect_out(c, "HTTP/1.1 201 Created\r\nServer: rrvm\r\n"
		      "Content-Length: 0\r\n\r\n"
		      "HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
		      "Content-Type: application/octet-stream\r\n"
		      "Content-Length: 0\r\n\r\n");
	assert_false(c->close_requested);
	fake_disconnect(c);
}

static void test_errors_keep_connection(void **state)
{
	struct svc_conn *c = open_conn();

	send_str(c, "GET /nope HTTP/1.1\r\n\r\n");
	expect_out(c, STATUS_RESP(404, "Not Found", 10, "") "Not Found\n");
	send_str(c, "GET /kv/ HTTP/1.1\r\n\r\n");
	expect_out(c, STATUS_RESP(404, "Not Found", 10, "") "Not Found\n");
	send_str(c, "DELETE /kv/x HTTP/1.1\r\n\r\n");
	expect_out(c, STATUS_RESP(405, "Method Not Allowed", 19,
				  "Allow: GET, HEAD, PUT\r\n")
		      "Method Not Allowed\n");
	send_str(c, "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab");
	expect_out(c, STATUS_RESP(405, "Method Not Allowed", 19,
				  "Allow: GET, HEAD\r\n")
		      "Method Not Allowed\n");
	send_str(c, "BREW /counter HTTP/1.1\r\n\r\n");
	expect_out(c, STATUS_RESP(405, "Method Not Allowed", 19,
				  "Allow: GET, HEAD\r\n")
		      "Method Not Allowed\n");
	send_str(c, "PUT /kv/x HTTP/1.1\r\n\r\n");
	expect_out(c, STATUS_RESP(411, "Length Required", 16, "")
		      "Length Required\n");
	assert_false(c->close_requested);
	assert_int_equal(http_counter_value(), 0);
	fake_disconnect(c);
}

static void test_malformed_closes_only_that_connection(void **state)
{
	struct svc_conn *bad = open_conn();
	struct svc_conn *good = open_conn();

	send_str(good, "GET /counter HTTP/1.1\r\n");
	send_str(bad, "GET / HTTP/1.1\r\nHost : x\r\n\r\n");
	expect_out(bad, STATUS_RESP(400, "Bad Request", 12,
				    "Connection: close\r\n") "Bad Request\n");
	assert_true(bad->close_requested);
	/* Whatever still arrives on it is ignored. */
	send_str(bad, "GET / HTTP/1.1\r\n\r\n");
	assert_int_equal(bad->out_len, 0);

	send_str(good, "\r\n");
	expect_out(good, COUNTER_RESP(1, 2));
	assert_false(good->close_requested);
	fake_disconnect(bad);
	fake_disconnect(good);
}

static void test_malformed_variants_close(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "GET /\r\n\r\n",
		  STATUS_RESP(400, "Bad Request", 12, "Connection: close\r\n")
		  "Bad Request\n" },
		{ "PUT /kv/a HTTP/1.1\r\nContent-Length: x\r\n\r\n",
		  STATUS_RESP(400, "Bad Request", 12, "Connection: close\r\n")
		  "Bad Request\n" },
		{ "PUT /kv/a HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n",
		  STATUS_RESP(413, "Content Too Large", 18,
			      "Connection: close\r\n") "Content Too Large\n" },
		{ "PUT /kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "5\r\nhello\r\n0\r\n\r\n",
		  STATUS_RESP(501, "Not Implemented", 16,
			      "Connection: close\r\n") "Not Implemented\n" },
		{ "GET / HTTP/3.0\r\n\r\n",
		  STATUS_RESP(505, "HTTP Version Not Supported", 27,
			      "Connection: close\r\n")
		  "HTTP Version Not Supported\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct svc_conn *c = open_conn();

		send_str(c, cases[i].in);
		expect_out(c, cases[i].out);
		assert_true(c->close_requested);
		fake_disconnect(c);
	}
}

static void test_head_too_large_closes(void **state)
{
	struct svc_conn *c = open_conn();
	char *big = head_of_size(HTTP_MAX_HEAD + 1);

	fake_receive(c, big, strlen(big));
	expect_out(c, STATUS_RESP(400, "Bad Request", 12,
				  "Connection: close\r\n") "Bad Request\n");
	assert_true(c->close_requested);
	free(big);
	fake_disconnect(c);
}

static void test_connection_close(void **state)
{
	struct svc_conn *c = open_conn();

	/* The request after "close" is never answered. */
	send_str(c, "GET /counter HTTP/1.1\r\nConnection: close\r\n\r\n"
		    "GET /counter HTTP/1.1\r\n\r\n");
	expect_out(c, "HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
		      "Content-Type: text/plain\r\nContent-Length: 2\r\n"
		      "Connection: close\r\n\r\n1\n");
	assert_true(c->close_requested);
	assert_int_equal(http_counter_value(), 1);
	fake_disconnect(c);
}

static void test_http10(void **state)
{
	struct svc_conn *c = open_conn();

	send_str(c, "GET /counter HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	expect_out(c, "HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
		      "Content-Type: text/plain\r\nContent-Length: 2\r\n"
		      "Connection: keep-alive\r\n\r\n1\n");
	assert_false(c->close_requested);
	send_str(c, "GET /counter HTTP/1.0\r\n\r\n");
	expect_out(c, "HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
		      "Content-Type: text/plain\r\nContent-Length: 2\r\n"
		      "Connection: close\r\n\r\n2\n");
	assert_true(c->close_requested);
	fake_disconnect(c);
}

static uint8_t *pattern(size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 9) + (i >> 17));
	return b;
}

static void test_put_get_1mib(void **state)
{
	static const char head[] = "PUT /kv/big HTTP/1.1\r\nHost: g\r\n"
				   "Content-Length: 1048576\r\n"
				   "Expect: 100-continue\r\n\r\n";
	static const char get_hdr[] = "HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
				      "Content-Type: application/octet-stream"
				      "\r\nContent-Length: 1048576\r\n\r\n";
	struct svc_conn *c = open_conn();
	size_t len = HTTP_MAX_BODY;
	uint8_t *body = pattern(len);

	send_str(c, head);
	expect_out(c, "HTTP/1.1 100 Continue\r\n\r\n");
	/* Body in MSS-sized segments, the last one short. */
	for (size_t off = 0; off < len; off += 1460)
		fake_receive(c, body + off,
			     len - off < 1460 ? len - off : 1460);
	expect_out(c, "HTTP/1.1 201 Created\r\nServer: rrvm\r\n"
		      "Content-Length: 0\r\n\r\n");

	send_str(c, "GET /kv/big HTTP/1.1\r\n\r\n");
	assert_int_equal(c->out_len, sizeof(get_hdr) - 1 + len);
	assert_memory_equal(c->out, get_hdr, sizeof(get_hdr) - 1);
	assert_memory_equal(c->out + sizeof(get_hdr) - 1, body, len);
	assert_false(c->close_requested);
	free(body);
	fake_disconnect(c);
}

static void test_store_budget(void **state)
{
	static const char head[] = "PUT /kv/k HTTP/1.1\r\n"
				   "Content-Length: 1048576\r\n\r\n";
	struct svc_conn *c;
	uint8_t *body = pattern(HTTP_MAX_BODY);

	http_service_reset();
	fake_reset();
	fake_set_option("store_mb", "1");
	assert_int_equal(http_start(), 0);
	c = open_conn();
	/* Key + value are 1 MiB + 1 byte: over the budget. */
	send_str(c, head);
	fake_receive(c, body, HTTP_MAX_BODY);
	expect_out(c, STATUS_RESP(507, "Insufficient Storage", 21, "")
		      "Insufficient Storage\n");
	send_str(c, "PUT /kv/k HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
	expect_out(c, "HTTP/1.1 201 Created\r\nServer: rrvm\r\n"
		      "Content-Length: 0\r\n\r\n");
	assert_false(c->close_requested);
	free(body);
	fake_disconnect(c);
}

/* The whole service, fed split at every byte, answers byte-identically. */
static const char session[] =
	"PUT /kv/s HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
	"GET /kv/s HTTP/1.1\r\n\r\n"
	"GET /counter HTTP/1.1\r\n\r\n"
	"HEAD / HTTP/1.1\r\n\r\n"
	"GET /counter HTTP/1.1\r\nConnection: close\r\n\r\n";

static const char session_out[] =
	"HTTP/1.1 201 Created\r\nServer: rrvm\r\nContent-Length: 0\r\n\r\n"
	"HTTP/1.1 200 OK\r\nServer: rrvm\r\n"
	"Content-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\nxyz"
	COUNTER_RESP(1, 2)
	INDEX_HDR("")
	"HTTP/1.1 200 OK\r\nServer: rrvm\r\nContent-Type: text/plain\r\n"
	"Content-Length: 2\r\nConnection: close\r\n\r\n2\n";

static void test_service_split_every_byte(void **state)
{
	size_t len = strlen(session);

	for (size_t split = 0; split <= len; split++) {
		struct svc_conn *c;

		http_service_reset();
		fake_reset();
		assert_int_equal(http_start(), 0);
		c = open_conn();
		fake_receive(c, session, split);
		fake_receive(c, session + split, len - split);
		if (!c->out || strcmp(c->out, session_out) != 0)
			fail_msg("split at %zu:\n%s", split, c->out);
		assert_true(c->close_requested);
		fake_disconnect(c);
	}
	/* And one byte at a time. */
	{
		struct svc_conn *c;

		http_service_reset();
		fake_reset();
		assert_int_equal(http_start(), 0);
		c = open_conn();
		for (size_t i = 0; i < len; i++)
			fake_receive(c, session + i, 1);
		assert_string_equal(c->out, session_out);
		fake_disconnect(c);
	}
}

static void test_port_option(void **state)
{
	static const char *const bad[] = { "0", "65536", "abc", "", "-1",
					   "80x" };

	http_service_reset();
	fake_reset();
	fake_set_option("port", "8080");
	assert_int_equal(http_start(), 0);
	assert_non_null(fake_listener(8080));
	assert_null(fake_listener(80));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_reset();
		fake_set_option("port", bad[i]);
		assert_int_equal(http_start(), -EINVAL);
		assert_null(fake_listener(80));
	}
	fake_reset();
	fake_set_option("store_mb", "0");
	assert_int_equal(http_start(), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser_pipelined),
		cmocka_unit_test(test_parser_split_every_byte),
		cmocka_unit_test(test_parser_keep_alive_rules),
		cmocka_unit_test(test_parser_malformed),
		cmocka_unit_test(test_parser_head_limit),
		cmocka_unit_test(test_parser_header_count),
		cmocka_unit_test(test_parser_take_body),
		cmocka_unit_test_setup_teardown(test_index, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_counter, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_kv_routes, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_errors_keep_connection,
						svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(
			test_malformed_closes_only_that_connection, svc_setup,
			svc_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_variants_close,
						svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_head_too_large_closes,
						svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_connection_close,
						svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_http10, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_put_get_1mib, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_store_budget, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_service_split_every_byte,
						svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_port_option, svc_setup,
						svc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
