// SPDX-License-Identifier: MIT
/*
 * HTTP/1.1 service: connections, routing and response framing over the
 * svc_* transport. Parsing lives in http_parser.c, the /kv/ table in
 * http_store.c.
 *
 * Transport rules this file is careful about (see service.h):
 *  - svc_conn_send() may abort the connection on -ENOMEM, and svc_conn_close()
 *    may run `closed` (which frees our state) before returning. So after
 *    either call fails or is made, this code returns without touching the
 *    connection state again; the `closing` flag is set before closing.
 *  - There is no "sent" callback, so output cannot be paced: responses are
 *    queued as soon as a request completes, in request order, which is what
 *    pipelining needs anyway.
 */
#include "http/http_service.h"
#include "http/http_parser.h"
#include "http/http_store.h"
#include "lib/option_parse.h"
#include "service.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct http_conn {
	bool closing; /* close requested: ignore anything that still arrives */
	struct http_parser parser;
};

static struct http_store store;
static uint64_t counter;

static const char index_html[] =
	"<!DOCTYPE html>\n"
	"<html><head><title>rrvm</title></head>\n"
	"<body><h1>rrvm guest</h1>\n"
	"<p>This page is served by the http service of an rrvm micro-VM.</p>\n"
	"<ul><li><a href=\"/counter\">/counter</a></li>"
	"<li>/kv/KEY (GET, HEAD, PUT)</li></ul>\n"
	"</body></html>\n";

/* ----------------------------------------------------------- responses */

struct response {
	int status;
	const char *content_type;	/* NULL: no body, no Content-Type */
	const void *body;
	size_t body_len;		/* the Content-Length, even for HEAD */
	bool omit_body;			/* HEAD: headers only */
	const char *allow;		/* Allow: for 405 */
};

static const char *reason_phrase(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Internal Server Error";
	}
}

/*
 * A response is assembled in one stack buffer when it fits, so a typical
 * reply is a single svc_conn_send (one copy, one segment); only big /kv/
 * values go out as a second send.
 */
#define RESP_BUF 1024

struct outbuf {
	char data[RESP_BUF];
	size_t len;
};

static void put_mem(struct outbuf *o, const void *p, size_t n)
{
	/* Headers are bounded by construction; never overflow regardless. */
	if (n > sizeof(o->data) - o->len)
		n = sizeof(o->data) - o->len;
	memcpy(o->data + o->len, p, n);
	o->len += n;
}

static void put_str(struct outbuf *o, const char *s)
{
	put_mem(o, s, strlen(s));
}

static size_t format_u64(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

static void put_u64(struct outbuf *o, uint64_t v)
{
	char buf[20];

	put_mem(o, buf, format_u64(buf, v));
}

/* 0, or -1 when the transport has dropped the connection. */
static int respond(struct svc_conn *conn, const struct response *r,
		   bool keep_alive, unsigned version_minor)
{
	struct outbuf o;
	bool send_body = !r->omit_body && r->body_len;

	o.len = 0;
	put_str(&o, "HTTP/1.1 ");
	put_u64(&o, (uint64_t)r->status);
	put_str(&o, " ");
	put_str(&o, reason_phrase(r->status));
	put_str(&o, "\r\nServer: rrvm\r\n");
	if (r->content_type) {
		put_str(&o, "Content-Type: ");
		put_str(&o, r->content_type);
		put_str(&o, "\r\n");
	}
	/* RFC 9110 8.6: never a Content-Length on 204. */
	if (r->status != 204) {
		put_str(&o, "Content-Length: ");
		put_u64(&o, r->body_len);
		put_str(&o, "\r\n");
	}
	if (r->allow) {
		put_str(&o, "Allow: ");
		put_str(&o, r->allow);
		put_str(&o, "\r\n");
	}
	if (!keep_alive)
		put_str(&o, "Connection: close\r\n");
	else if (version_minor == 0)
		put_str(&o, "Connection: keep-alive\r\n");
	put_str(&o, "\r\n");

	if (send_body && r->body_len <= sizeof(o.data) - o.len) {
		put_mem(&o, r->body, r->body_len);
		send_body = false;
	}
	if (svc_conn_send(conn, o.data, o.len) < 0)
		return -1;
	if (send_body && svc_conn_send(conn, r->body, r->body_len) < 0)
		return -1;
	return 0;
}

/* A short text/plain body naming the status, for errors. */
static int respond_status(struct svc_conn *conn, int status, bool head_only,
			  const char *allow, bool keep_alive,
			  unsigned version_minor)
{
	char body[64];
	size_t n = strlen(reason_phrase(status));
	struct response r = {
		.status = status,
		.content_type = "text/plain",
		.body = body,
		.body_len = n + 1,
		.omit_body = head_only,
		.allow = allow,
	};

	memcpy(body, reason_phrase(status), n);
	body[n] = '\n';
	return respond(conn, &r, keep_alive, version_minor);
}

/* -------------------------------------------------------------- routes */

static bool path_is(const struct http_request *req, const char *lit)
{
	size_t n = strlen(lit);

	return req->path_len == n && memcmp(req->path, lit, n) == 0;
}

/*
 * Route handlers fill *r and return 0, or return an error status that the
 * caller answers with a short text body.
 */
static int route_index(struct response *r)
{
	r->status = 200;
	r->content_type = "text/html";
	r->body = index_html;
	r->body_len = sizeof(index_html) - 1;
	return 0;
}

static int route_counter(const struct http_request *req, struct response *r,
			 char *buf)
{
	/* HEAD must not change state but must announce GET's length. */
	uint64_t v = req->method == HTTP_HEAD ? counter + 1 : ++counter;
	size_t n = format_u64(buf, v);

	buf[n++] = '\n';
	r->status = 200;
	r->content_type = "text/plain";
	r->body = buf;
	r->body_len = n;
	return 0;
}

static int route_kv(struct http_parser *p, struct response *r)
{
	const struct http_request *req = &p->req;
	const char *key = req->path + 4; /* after "/kv/" */
	size_t key_len = req->path_len - 4;
	const uint8_t *value;
	uint8_t *body;
	size_t len;
	bool created;
	int ret;

	if (req->method == HTTP_GET || req->method == HTTP_HEAD) {
		if (http_store_get(&store, key, key_len, &value, &len) < 0)
			return 404;
		r->status = 200;
		r->content_type = "application/octet-stream";
		r->body = value;
		r->body_len = len;
		return 0;
	}

	/* PUT (the caller filtered methods). Bodies need an explicit length. */
	if (!req->has_content_length)
		return 411;
	body = http_parser_take_body(p, &len);
	ret = http_store_put(&store, key, key_len, body, len, &created);
	if (ret < 0) {
		free(body);
		return 507;
	}
	r->status = created ? 201 : 204;
	return 0;
}

/*
 * Answer the request in hc->parser. Returns 1 to keep the connection, 0 to
 * close it, -1 when the transport has already dropped it.
 */
static int handle_request(struct svc_conn *conn, struct http_conn *hc)
{
	struct http_parser *p = &hc->parser;
	const struct http_request *req = &p->req;
	bool head_only = req->method == HTTP_HEAD;
	bool keep = req->keep_alive;
	struct response r = { .omit_body = head_only };
	const char *allow;
	char numbuf[24];
	int status;

	if (path_is(req, "/") || path_is(req, "/counter")) {
		allow = "GET, HEAD";
		if (req->method != HTTP_GET && req->method != HTTP_HEAD)
			goto not_allowed;
		status = path_is(req, "/") ? route_index(&r) :
			route_counter(req, &r, numbuf);
	} else if (req->path_len > 4 && memcmp(req->path, "/kv/", 4) == 0) {
		allow = "GET, HEAD, PUT";
		if (req->method != HTTP_GET && req->method != HTTP_HEAD &&
		    req->method != HTTP_PUT)
			goto not_allowed;
		status = route_kv(p, &r);
	} else {
		status = 404;
	}

	if (status) {
		if (respond_status(conn, status, head_only, NULL, keep,
				   req->version_minor) < 0)
			return -1;
		return keep;
	}
	if (respond(conn, &r, keep, req->version_minor) < 0)
		return -1;
	return keep;

not_allowed:
	if (respond_status(conn, 405, head_only, allow, keep,
			   req->version_minor) < 0)
		return -1;
	return keep;
}

/* --------------------------------------------------------- connections */

static void *http_accept(struct svc_conn *conn)
{
	struct http_conn *hc = malloc(sizeof(*hc));

	if (!hc)
		return NULL;
	hc->closing = false;
	http_parser_init(&hc->parser, HTTP_MAX_BODY);
	return hc;
}

static void close_conn(struct svc_conn *conn, struct http_conn *hc)
{
	hc->closing = true;
	svc_conn_close(conn); /* may free hc: nothing after this */
}

static void http_receive(struct svc_conn *conn, void *state,
			 const uint8_t *data, size_t len)
{
	struct http_conn *hc = state;
	struct http_parser *p = &hc->parser;
	enum http_parse_result r;
	size_t used;
	int keep;

	if (hc->closing)
		return;
	for (;;) {
		r = http_parser_feed(p, data, len, &used);
		data += used;
		len -= used;
		switch (r) {
		case HTTP_PARSE_AGAIN:
			return;
		case HTTP_PARSE_HEAD:
			/*
			 * curl waits (up to a second) for this before sending
			 * a large PUT body; HTTP/1.0 clients do not know it.
			 */
			if (p->req.expect_continue &&
			    p->req.version_minor >= 1 &&
			    svc_conn_send(conn, "HTTP/1.1 100 Continue\r\n\r\n",
					  25) < 0)
				return;
			break;
		case HTTP_PARSE_DONE:
			keep = handle_request(conn, hc);
			if (keep < 0)
				return;
			if (!keep) {
				close_conn(conn, hc);
				return;
			}
			http_parser_reset(p);
			break;
		case HTTP_PARSE_ERROR:
			/* Framing is lost: answer, then close. */
			svc_log("http: %d (%s), closing connection",
				p->error_status, p->error_reason);
			if (respond_status(conn, p->error_status, false, NULL,
					   false, 1) < 0)
				return;
			close_conn(conn, hc);
			return;
		}
	}
}

static void http_closed(struct svc_conn *conn, void *state)
{
	struct http_conn *hc = state;

	http_parser_free(&hc->parser);
	free(hc);
}

static const struct svc_tcp_ops http_ops = {
	.accept = http_accept,
	.receive = http_receive,
	.closed = http_closed,
};

/* ----------------------------------------------------------- lifecycle */

void http_service_reset(void)
{
	http_store_free(&store);
	counter = 0;
}

uint64_t http_counter_value(void)
{
	return counter;
}

int http_start(void)
{
	uint64_t store_mb;
	uint16_t port;
	int ret;

	ret = option_get_port(HTTP_DEFAULT_PORT, &port);
	if (ret < 0)
		goto out;
	ret = option_get_u64("store_mb", HTTP_DEFAULT_STORE_MB, 1, 4096,
			     &store_mb);
	if (ret < 0)
		goto out;

	http_service_reset();
	http_store_init(&store, (size_t)store_mb << 20);
	ret = svc_tcp_listen(port, &http_ops);
	if (ret < 0) {
		svc_log("http: cannot listen on port %u: %d", port, ret);
		goto out;
	}
	svc_log("http: listening on port %u (kv budget %" PRIu64 " MiB)",
		port, store_mb);
out:
	return ret;
}

const struct guest_service guest_main_service = { "http", http_start };
