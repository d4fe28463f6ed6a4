/* SPDX-License-Identifier: MIT */
/*
 * The kv service's connection glue: listens on the Redis port, keeps a
 * per-connection input buffer and parser, runs every complete request in
 * order (pipelining), and sends each receive's replies in one go.
 *
 * Options on the guest command line: port=N (default 6379),
 * maxbulk=BYTES, the largest bulk string a client may send (default 64 MiB;
 * the protocol's own cap is 512 MiB), and maxmemory=BYTES, the heap use
 * above which write commands are refused with -OOM (default: the heap less
 * an eighth, at least 512 KiB, kept for connections and replies).
 */
#include "kv_commands.h"

#include "lib/option_parse.h"
#include "service.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* First input buffer; and above what size an idle one is given back. */
#define KV_IN_MIN 4096
#define KV_IN_KEEP (64 * 1024)

struct kv_conn {
	struct svc_conn *conn;
	struct kv_client client;
	struct resp_request req;
	struct resp_out out;
	/* Unparsed input: in[in_off..in_len); a request never moves within
	 * it while the parser holds offsets into it, except to the front. */
	uint8_t *in;
	size_t in_off;
	size_t in_len;
	size_t in_cap;
	bool closing;       /* read nothing more */
	bool close_pending; /* svc_conn_close once replies are queued */
	bool send_failed;   /* the transport aborted: touch conn no more */
	bool in_receive;
	bool gone; /* closed() ran inside our receive: free on the way out */
};

static struct kv_server server;
static bool started;

static int conn_send(void *ctx, const void *data, size_t len)
{
	struct kv_conn *kc = ctx;
	int r;

	if (kc->send_failed || kc->gone)
		return -ECONNRESET;
	r = svc_conn_send(kc->conn, data, len);
	if (r < 0)
		kc->send_failed = true;
	return r;
}

static void *kv_accept(struct svc_conn *conn)
{
	struct kv_conn *kc = calloc(1, sizeof(*kc));

	if (!kc)
		return NULL;
	kc->conn = conn;
	resp_request_init(&kc->req);
	kc->req.max_bulk = server.max_bulk;
	resp_out_init(&kc->out, conn_send, kc);
	kc->client.srv = &server;
	kc->client.out = &kc->out;
	server.clients++;
	server.connections_received++;
	return kc;
}

static void conn_free(struct kv_conn *kc)
{
	server.clients--;
	free(kc->in);
	resp_request_free(&kc->req);
	resp_out_free(&kc->out);
	free(kc);
}

static void kv_closed(struct svc_conn *conn, void *state)
{
	struct kv_conn *kc = state;

	/* The transport may abort from inside a send we made in receive. */
	if (kc->in_receive) {
		kc->gone = true;
		return;
	}
	conn_free(kc);
}

/* Stop reading; say why first if the connection can still hear it. */
static void conn_fail(struct kv_conn *kc, const char *prefix, const char *msg)
{
	kc->closing = true;
	kc->close_pending = true;
	if (msg)
		resp_add_error(&kc->out, "%s %s", prefix, msg);
}

/* Run the complete requests at the start of buf; returns bytes used. */
static size_t process(struct kv_conn *kc, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len && !kc->closing) {
		size_t used = 0;
		int r = resp_parse(&kc->req, buf + off, len - off, &used);

		if (r == RESP_AGAIN)
			break;
		if (r < 0) {
			conn_fail(kc, r == -ENOMEM ? "OOM" : "ERR",
				  kc->req.error);
			return len;
		}
		off += used;
		kv_execute(&kc->client, kc->req.argv, kc->req.argc);
		if (kc->client.quit) {
			kc->closing = true;
			kc->close_pending = true;
		}
		if (kc->out.err) {
			/* A reply could not be built or sent: the stream is
			 * out of step with the client, so end it. */
			kc->closing = true;
			kc->close_pending = !kc->send_failed;
		}
	}
	return off;
}

/* Room for `extra` more input bytes. 0 or -ENOMEM. */
static int in_reserve(struct kv_conn *kc, size_t extra)
{
	size_t live = kc->in_len - kc->in_off, want = live + extra, cap;
	size_t need = resp_request_need(&kc->req);
	uint8_t *p;

	if (kc->in_cap - kc->in_len >= extra)
		return 0;
	/* Move the unfinished request to the front; the parser's offsets
	 * are relative to its first byte, so they stay valid. */
	if (kc->in_off) {
		memmove(kc->in, kc->in + kc->in_off, live);
		kc->in_off = 0;
		kc->in_len = live;
		if (kc->in_cap - kc->in_len >= extra)
			return 0;
	}
	/* A large bulk announces its size: allocate for it once. */
	if (need > want)
		want = need;
	cap = kc->in_cap ? kc->in_cap * 2 : KV_IN_MIN;
	if (cap < want)
		cap = want;
	p = realloc(kc->in, cap);
	if (!p && cap > want)
		p = realloc(kc->in, cap = want);
	if (!p)
		return -ENOMEM;
	kc->in = p;
	kc->in_cap = cap;
	return 0;
}

static void in_append(struct kv_conn *kc, const uint8_t *data, size_t len)
{
	if (in_reserve(kc, len) < 0) {
		conn_fail(kc, "OOM", "out of memory buffering request");
		return;
	}
	memcpy(kc->in + kc->in_len, data, len);
	kc->in_len += len;
}

static void kv_receive(struct svc_conn *conn, void *state,
		       const uint8_t *data, size_t len)
{
	struct kv_conn *kc = state;

	if (kc->closing || kc->gone)
		return;
	kc->in_receive = true;
	if (kc->in_off == kc->in_len) {
		/* Nothing buffered: parse in place, keep only the tail. */
		size_t used = process(kc, data, len);

		kc->in_off = kc->in_len = 0;
		if (!kc->closing && used < len)
			in_append(kc, data + used, len - used);
	} else {
		in_append(kc, data, len);
		if (!kc->closing)
			kc->in_off += process(kc, kc->in + kc->in_off,
					      kc->in_len - kc->in_off);
	}
	if (kc->in_off == kc->in_len) {
		kc->in_off = kc->in_len = 0;
		if (kc->in_cap > KV_IN_KEEP) {
			free(kc->in);
			kc->in = NULL;
			kc->in_cap = 0;
		}
	}
	if (!kc->gone) {
		resp_out_flush(&kc->out);
		resp_out_trim(&kc->out);
		if (kc->close_pending && !kc->send_failed && !kc->gone)
			svc_conn_close(conn);
		kc->close_pending = false;
	}
	kc->in_receive = false;
	if (kc->gone)
		conn_free(kc);
}

static const struct svc_tcp_ops kv_ops = {
	.accept = kv_accept,
	.receive = kv_receive,
	.closed = kv_closed,
};

static int kv_start(void)
{
	const char *bad = NULL;
	uint64_t max_bulk, maxmemory;
	size_t used, total;
	uint16_t port;
	int r;

	if (kv_commands_check(&bad) < 0) {
		svc_log("kv: command table out of order at '%s'", bad);
		return -EINVAL;
	}
	r = option_get_port(KV_DEFAULT_PORT, &port);
	if (r < 0)
		return r;
	r = option_get_u64("maxbulk", RESP_DEFAULT_MAX_BULK, 1,
			   RESP_PROTO_MAX_BULK, &max_bulk);
	if (r < 0)
		return r;
	svc_mem_usage(&used, &total);
	r = option_get_u64("maxmemory", 0, 0, total, &maxmemory);
	if (r < 0)
		return r;
	/* Started again (unit tests): drop the previous keyspace. */
	if (started)
		kv_store_destroy(&server.store);
	started = false;
	memset(&server, 0, sizeof(server));
	r = kv_store_init(&server.store);
	if (r < 0)
		return r;
	started = true;
	server.port = port;
	server.max_bulk = (size_t)max_bulk;
	server.maxmemory =
		maxmemory ? (size_t)maxmemory : kv_default_maxmemory(total);
	server.start_ms = svc_now_ms();
	r = svc_tcp_listen(server.port, &kv_ops);
	if (r < 0) {
		svc_log("kv: cannot listen on port %u: %d", server.port, r);
		return r;
	}
	svc_log("kv: listening on port %u (maxmemory %zu KiB of a %zu KiB "
		"heap, noeviction)",
		server.port, server.maxmemory >> 10, total >> 10);
	return 0;
}

const struct guest_service guest_main_service = { "kv", kv_start };
