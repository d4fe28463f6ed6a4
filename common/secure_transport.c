/* SPDX-License-Identifier: MIT */
#include "common/secure_transport.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"

/* Records sealed per inner send: fewer syscalls for large epochs. */
#define SEND_BATCH_RECORDS 4u
#define TX_BUF_BYTES	   (SEND_BATCH_RECORDS * SECURE_RECORD_MAX_BYTES)
/* One record plus the next record's header (read ahead, never more). */
#define RX_BUF_BYTES (SECURE_RECORD_MAX_BYTES + SECURE_RECORD_HEADER)

struct secure_transport {
	struct transport base;
	struct transport *inner;
	bool polled;
	/* Send side: touched only by the (one) sending thread. */
	struct secure_direction tx;
	uint8_t *tx_buf;
	int tx_error;
	/* Receive side: touched only by the (one) receiving thread. */
	struct secure_direction rx;
	uint8_t *rx_buf; /* ciphertext of the current record */
	size_t rx_len;
	uint8_t *plain; /* a decrypted record that did not fit the caller */
	size_t plain_off, plain_len;
	int rx_error;
	bool rx_eof;
	/* Read by secure_transport_stats() from any thread. */
	_Atomic uint64_t records_sent, records_received;
	_Atomic uint64_t bytes_sent, bytes_received;
};

struct secure_pending {
	struct transport *inner;
	struct secure_handshake hs;
	bool polled;
	int timeout_ms;
	uint64_t deadline_ns;
};

static const struct transport_ops secure_ops;

static struct secure_transport *to_secure(struct transport *t)
{
	return (struct secure_transport *)t;
}

static bool readable_now(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	/* POLLHUP/POLLERR count: the read that follows reports them. */
	return poll(&pfd, 1, 0) > 0;
}

static int tx_fail(struct secure_transport *s, int err)
{
	s->tx_error = err;
	return err;
}

static int sec_send(struct transport *t, const void *buf, size_t len)
{
	struct secure_transport *s = to_secure(t);
	const uint8_t *p = buf;

	if (s->tx_error)
		return s->tx_error;
	while (len) {
		size_t fill = 0, sent = 0;
		uint64_t records = 0;
		int ret;

		while (len && fill + SECURE_RECORD_MAX_BYTES <= TX_BUF_BYTES) {
			size_t chunk = len < SECURE_RECORD_MAX_PLAINTEXT
					   ? len
					   : SECURE_RECORD_MAX_PLAINTEXT;
			ssize_t n = secure_record_seal(&s->tx, p, chunk,
						       s->tx_buf + fill);

			if (n < 0)
				return tx_fail(s, (int)n);
			fill += (size_t)n;
			p += chunk;
			len -= chunk;
			sent += chunk;
			records++;
		}
		/* A partial send leaves the peer mid-record: the stream is
		 * over either way. */
		ret = s->inner->ops->send(s->inner, s->tx_buf, fill);
		if (ret)
			return tx_fail(s, ret);
		atomic_fetch_add_explicit(&s->records_sent, records,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&s->bytes_sent, sent,
					  memory_order_relaxed);
	}
	return 0;
}

/* The session is over: say why once, stop both directions. */
static ssize_t rx_fail(struct secure_transport *s, int err, const char *why)
{
	s->rx_error = err;
	log_warn("secure link %s: %s (record %llu); ending the session",
		 s->base.peer, why, (unsigned long long)s->rx.counter);
	s->inner->ops->shutdown(s->inner);
	return err;
}

static size_t take_plain(struct secure_transport *s, void *buf, size_t cap)
{
	size_t n = s->plain_len - s->plain_off;

	if (n > cap)
		n = cap;
	memcpy(buf, s->plain + s->plain_off, n);
	s->plain_off += n;
	if (s->plain_off == s->plain_len)
		s->plain_off = s->plain_len = 0;
	return n;
}

/* rx_buf holds a whole record of record_len bytes (and maybe the next
 * header): open it into buf, or into plain when it does not fit. */
static ssize_t deliver(struct secure_transport *s, void *buf, size_t cap,
		       size_t record_len)
{
	size_t plain_len =
	    record_len - SECURE_RECORD_HEADER - SECURE_RECORD_TAG;
	uint8_t *dst = plain_len <= cap ? buf : s->plain;
	ssize_t n = secure_record_open(&s->rx, s->rx_buf, record_len, dst);

	if (n < 0)
		return rx_fail(s, -EBADMSG,
			       "a record does not authenticate (altered, "
			       "replayed, reordered or dropped)");
	s->rx_len -= record_len;
	memmove(s->rx_buf, s->rx_buf + record_len, s->rx_len);
	atomic_fetch_add_explicit(&s->records_received, 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&s->bytes_received, (uint64_t)n,
				  memory_order_relaxed);
	if (dst == buf)
		return n;
	s->plain_off = 0;
	s->plain_len = (size_t)n;
	return (ssize_t)take_plain(s, buf, cap);
}

static ssize_t sec_recv(struct transport *t, void *buf, size_t cap)
{
	struct secure_transport *s = to_secure(t);
	int fd = s->inner->ops->fd(s->inner);

	if (cap == 0)
		return -EINVAL;
	if (s->plain_len)
		return (ssize_t)take_plain(s, buf, cap);
	if (s->rx_error)
		return s->rx_error;
	if (s->rx_eof)
		return 0;
	for (;;) {
		size_t want;
		ssize_t n;

		if (s->rx_len >= SECURE_RECORD_HEADER) {
			ssize_t body = secure_record_body_len(s->rx_buf);
			size_t need;

			if (body < 0)
				return rx_fail(s, -EBADMSG,
					       "a record length is out of "
					       "bounds");
			need = SECURE_RECORD_HEADER + (size_t)body;
			if (s->rx_len >= need)
				return deliver(s, buf, cap, need);
			want = need + SECURE_RECORD_HEADER - s->rx_len;
		} else {
			want = SECURE_RECORD_HEADER - s->rx_len;
		}
		if (s->polled && !readable_now(fd))
			return -EAGAIN;
		n = s->inner->ops->recv(s->inner, s->rx_buf + s->rx_len, want);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return -EAGAIN;
		if (n < 0) {
			s->rx_error = (int)n;
			return n;
		}
		if (n == 0) {
			if (s->rx_len == 0) {
				s->rx_eof = true;
				return 0;
			}
			return rx_fail(s, -EBADMSG,
				       "the peer closed mid-record (stream "
				       "truncated)");
		}
		s->rx_len += (size_t)n;
	}
}

static int sec_fd(struct transport *t)
{
	struct secure_transport *s = to_secure(t);

	return s->inner->ops->fd(s->inner);
}

static void sec_shutdown(struct transport *t)
{
	struct secure_transport *s = to_secure(t);

	s->inner->ops->shutdown(s->inner);
}

static void sec_close(struct transport *t)
{
	struct secure_transport *s = to_secure(t);

	s->inner->ops->close(s->inner);
	sodium_memzero(&s->tx, sizeof(s->tx));
	sodium_memzero(&s->rx, sizeof(s->rx));
	if (s->plain)
		sodium_memzero(s->plain, SECURE_RECORD_MAX_PLAINTEXT);
	free(s->tx_buf);
	free(s->rx_buf);
	free(s->plain);
	free(s);
}

static const struct transport_ops secure_ops = {
    .name = SECURE_TRANSPORT_NAME,
    .send = sec_send,
    .recv = sec_recv,
    .fd = sec_fd,
    .shutdown = sec_shutdown,
    .close = sec_close,
};

bool transport_is_secure(const struct transport *t)
{
	return t && t->ops == &secure_ops;
}

int secure_transport_stats(const struct transport *t, struct secure_stats *st)
{
	struct secure_transport *s = (struct secure_transport *)t;

	if (!transport_is_secure(t))
		return -EINVAL;
	st->records_sent =
	    atomic_load_explicit(&s->records_sent, memory_order_relaxed);
	st->records_received =
	    atomic_load_explicit(&s->records_received, memory_order_relaxed);
	st->bytes_sent =
	    atomic_load_explicit(&s->bytes_sent, memory_order_relaxed);
	st->bytes_received =
	    atomic_load_explicit(&s->bytes_received, memory_order_relaxed);
	return 0;
}

/* ------------------------------------------------------------ handshake */

int secure_pending_start(struct transport *inner,
			 const struct secure_config *cfg,
			 struct secure_pending **out)
{
	struct secure_pending *p = calloc(1, sizeof(*p));
	int ret;

	if (!p) {
		inner->ops->close(inner);
		return -ENOMEM;
	}
	ret = secure_handshake_init(&p->hs, cfg->role, cfg->key,
				    cfg->context ? cfg->context
						 : SECURE_CONTEXT_REPLICATION);
	if (ret) {
		log_error("secure link: %s", p->hs.err);
		secure_pending_abort(p);
		inner->ops->close(inner);
		return ret;
	}
	p->inner = inner;
	p->polled = cfg->polled;
	p->timeout_ms = cfg->handshake_timeout_ms > 0
			    ? cfg->handshake_timeout_ms
			    : SECURE_HANDSHAKE_TIMEOUT_MS;
	p->deadline_ns = clock_mono_ns() + (uint64_t)p->timeout_ms * 1000000u;
	*out = p;
	return 0;
}

int secure_pending_fd(const struct secure_pending *p)
{
	return p->inner->ops->fd(p->inner);
}

int secure_pending_timeout_ms(const struct secure_pending *p)
{
	uint64_t now = clock_mono_ns();

	if (now >= p->deadline_ns)
		return 0;
	return (int)((p->deadline_ns - now + 999999) / 1000000);
}

const char *secure_pending_peer(const struct secure_pending *p)
{
	return p->inner->peer;
}

void secure_pending_abort(struct secure_pending *p)
{
	if (p->inner)
		p->inner->ops->close(p->inner);
	secure_handshake_wipe(&p->hs);
	free(p);
}

static int pending_fail(struct secure_pending *p, int ret, char *err,
			size_t err_size, const char *why)
{
	snprintf(err, err_size, "handshake with %s failed: %s", p->inner->peer,
		 why);
	secure_pending_abort(p);
	return ret;
}

static int pending_done(struct secure_pending *p, struct transport **out,
			char *err, size_t err_size)
{
	struct secure_transport *s = calloc(1, sizeof(*s));

	if (s) {
		s->tx_buf = malloc(TX_BUF_BYTES);
		s->rx_buf = malloc(RX_BUF_BYTES);
		s->plain = malloc(SECURE_RECORD_MAX_PLAINTEXT);
	}
	if (!s || !s->tx_buf || !s->rx_buf || !s->plain) {
		if (s) {
			free(s->tx_buf);
			free(s->rx_buf);
			free(s->plain);
			free(s);
		}
		return pending_fail(p, -ENOMEM, err, err_size, "out of memory");
	}
	s->base.ops = &secure_ops;
	memcpy(s->base.peer, p->inner->peer, sizeof(s->base.peer));
	s->inner = p->inner;
	s->polled = p->polled;
	memcpy(s->tx.key, p->hs.key_send, sizeof(s->tx.key));
	memcpy(s->rx.key, p->hs.key_recv, sizeof(s->rx.key));
	s->tx.cipher = s->rx.cipher = p->hs.cipher;
	log_debug("secure channel with %s: %s", s->base.peer,
		  secure_cipher_name(p->hs.cipher));
	p->inner = NULL;
	secure_pending_abort(p);
	*out = &s->base;
	return 0;
}

int secure_pending_step(struct secure_pending *p, struct transport **out,
			char *err, size_t err_size)
{
	struct secure_handshake *hs = &p->hs;
	enum secure_hs_status st = SECURE_HS_NEED_MORE;

	for (;;) {
		uint8_t in[SECURE_HS_MSG_MAX];
		size_t want = secure_handshake_wanted(hs), used;
		ssize_t n;

		if (hs->out_len) {
			/* Under 100 bytes: the socket buffer takes them. */
			int ret =
			    p->inner->ops->send(p->inner, hs->out, hs->out_len);

			hs->out_len = 0;
			if (ret)
				return pending_fail(p, ret, err, err_size,
						    strerror(-ret));
		}
		if (st == SECURE_HS_DONE)
			return pending_done(p, out, err, err_size);
		if (clock_mono_ns() >= p->deadline_ns) {
			char why[64];

			snprintf(why, sizeof(why),
				 "no complete answer within %d ms",
				 p->timeout_ms);
			return pending_fail(p, -ETIMEDOUT, err, err_size, why);
		}
		if (!readable_now(secure_pending_fd(p)))
			return -EAGAIN;
		n = p->inner->ops->recv(p->inner, in, want);
		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return -EAGAIN;
		if (n < 0)
			return pending_fail(p, (int)n, err, err_size,
					    strerror((int)-n));
		if (n == 0)
			return pending_fail(p, -ECONNRESET, err, err_size,
					    "the peer closed the connection "
					    "(it does not accept our key?)");
		st = secure_handshake_feed(hs, in, (size_t)n, &used);
		if (st == SECURE_HS_ERROR)
			return pending_fail(p, hs->error, err, err_size,
					    hs->err);
	}
}

int secure_transport_wrap(struct transport *inner,
			  const struct secure_config *cfg,
			  struct transport **out, char *err, size_t err_size)
{
	struct secure_pending *p;
	int ret = secure_pending_start(inner, cfg, &p);

	if (ret) {
		snprintf(err, err_size, "cannot start the handshake: %s",
			 strerror(-ret));
		return ret;
	}
	for (;;) {
		struct pollfd pfd = {.fd = secure_pending_fd(p),
				     .events = POLLIN};

		ret = secure_pending_step(p, out, err, err_size);
		if (ret != -EAGAIN)
			return ret;
		if (poll(&pfd, 1, secure_pending_timeout_ms(p)) < 0 &&
		    errno != EINTR) {
			ret = -errno;
			secure_pending_abort(p);
			snprintf(err, err_size, "poll: %s", strerror(-ret));
			return ret;
		}
	}
}
