/* SPDX-License-Identifier: MIT */
/*
 * The secure channel over socketpairs: the handshake (good key, wrong key,
 * replayed and reflected handshakes, garbage, silence, wrong context) and
 * the records (tampered, replayed, reordered, dropped, truncated; large
 * buffers; counters per direction; no plaintext on the wire; recv's polled
 * and blocking contracts). A relay between the two ends plays the attacker:
 * it sees, keeps, changes, repeats or drops the bytes on the wire.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/repl_protocol.h"
#include "common/secure_transport.h"
#include "vmm/ckpt_codec.h"
#include "tests/secure_test_util.h"

/* ---------------------------------------------------------- fixtures */

static const uint8_t key_a[SECURE_KEY_BYTES] = {
    1,	2,  3,	4,  5,	6,  7,	8,  9,	10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key_b[SECURE_KEY_BYTES] = {
    1,	2,  3,	4,  5,	6,  7,	8,  9,	10, 11, 12, 13, 14, 15, 16,
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 33};

/*
 * initiator <-> wire_i ... relay ... wire_r <-> responder. With the relay
 * passing everything, it is a plain connection; tests take the relay's fds
 * over to play the attacker.
 */
struct link {
	int init_fd, wire_i;	 /* socketpair: initiator's end, relay's end */
	int resp_fd, wire_r;	 /* socketpair: responder's end, relay's end */
	uint8_t from_i[1 << 16]; /* what the initiator sent during the
				    handshake */
	size_t from_i_len;
};

static void link_open(struct link *l)
{
	int a[2], b[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	l->init_fd = a[0];
	l->wire_i = a[1];
	l->resp_fd = b[0];
	l->wire_r = b[1];
	l->from_i_len = 0;
}

static void pump(int from, int to, uint8_t *keep, size_t *keep_len,
		 size_t keep_cap)
{
	assert_int_equal(fd_pump(from, to, keep, keep_len, keep_cap), 0);
}

struct ends {
	struct transport *init, *resp;
	int init_ret, resp_ret;
	char init_err[256], resp_err[256];
};

/* Run both handshakes to the end in this thread, relaying between. */
static void handshake(struct link *l, const uint8_t *ikey, const uint8_t *rkey,
		      const char *ictx, const char *rctx, struct ends *e)
{
	struct secure_config ic = {.key = ikey,
				   .role = SECURE_ROLE_INITIATOR,
				   .context = ictx,
				   .handshake_timeout_ms = 1000};
	struct secure_config rc = {.key = rkey,
				   .role = SECURE_ROLE_RESPONDER,
				   .context = rctx,
				   .handshake_timeout_ms = 1000,
				   .polled = true};
	struct secure_pending *pi, *pr;
	bool i_busy = true, r_busy = true;

	memset(e, 0, sizeof(*e));
	assert_int_equal(
	    secure_pending_start(fd_transport(l->init_fd, "resp"), &ic, &pi),
	    0);
	assert_int_equal(
	    secure_pending_start(fd_transport(l->resp_fd, "init"), &rc, &pr),
	    0);
	while (i_busy || r_busy) {
		if (i_busy) {
			e->init_ret = secure_pending_step(
			    pi, &e->init, e->init_err, sizeof(e->init_err));
			i_busy = e->init_ret == -EAGAIN;
		}
		pump(l->wire_i, l->wire_r, l->from_i, &l->from_i_len,
		     sizeof(l->from_i));
		if (r_busy) {
			e->resp_ret = secure_pending_step(
			    pr, &e->resp, e->resp_err, sizeof(e->resp_err));
			r_busy = e->resp_ret == -EAGAIN;
		}
		pump(l->wire_r, l->wire_i, NULL, NULL, 0);
		/* A failed end closed its socket: tell the relay's other
		 * side, as a real TCP relay would. */
		if (!i_busy && e->init_ret)
			shutdown(l->wire_r, SHUT_WR);
		if (!r_busy && e->resp_ret)
			shutdown(l->wire_i, SHUT_WR);
		usleep(100);
	}
}

static void ends_close(struct ends *e, struct link *l)
{
	if (e->init)
		e->init->ops->close(e->init);
	if (e->resp)
		e->resp->ops->close(e->resp);
	close(l->wire_i);
	close(l->wire_r);
}

/* A connected pair through the relay; records are then relayed by the
 * test itself (relay_record) or all at once (pump). */
static void connected(struct link *l, struct ends *e)
{
	link_open(l);
	handshake(l, key_a, key_a, NULL, NULL, e);
	assert_int_equal(e->init_ret, 0);
	assert_int_equal(e->resp_ret, 0);
}

/* A pair over one socketpair, both ends blocking-mode; the relay fds are
 * an idle socketpair so that ends_close works the same. */
static void direct(struct link *l, struct ends *e)
{
	struct secure_config ic = {.key = key_a, .role = SECURE_ROLE_INITIATOR};
	struct secure_config rc = {.key = key_a, .role = SECURE_ROLE_RESPONDER};
	struct secure_pending *pi, *pr;
	int a[2], b[2], ri = -EAGAIN, rr = -EAGAIN;
	char err[256];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	l->init_fd = a[0];
	l->resp_fd = a[1];
	l->wire_i = b[0];
	l->wire_r = b[1];
	memset(e, 0, sizeof(*e));
	assert_int_equal(
	    secure_pending_start(fd_transport(l->init_fd, "r"), &ic, &pi), 0);
	assert_int_equal(
	    secure_pending_start(fd_transport(l->resp_fd, "i"), &rc, &pr), 0);
	while (ri == -EAGAIN || rr == -EAGAIN) {
		if (ri == -EAGAIN)
			ri =
			    secure_pending_step(pi, &e->init, err, sizeof(err));
		if (rr == -EAGAIN)
			rr =
			    secure_pending_step(pr, &e->resp, err, sizeof(err));
	}
	assert_int_equal(ri, 0);
	assert_int_equal(rr, 0);
}

/* Read one whole record from a relay fd (blocking). */
static size_t read_record(int fd, uint8_t *buf)
{
	size_t got = 0, need = SECURE_RECORD_HEADER;

	while (got < need) {
		ssize_t n = recv(fd, buf + got, need - got, 0);

		assert_true(n > 0);
		got += (size_t)n;
		if (got == SECURE_RECORD_HEADER) {
			ssize_t body = secure_record_body_len(buf);

			assert_true(body > 0);
			need += (size_t)body;
		}
	}
	return got;
}

static void send_str(struct transport *t, const char *s)
{
	assert_int_equal(t->ops->send(t, s, strlen(s)), 0);
}

static void expect_str(struct transport *t, const char *s)
{
	char buf[256];
	ssize_t n = t->ops->recv(t, buf, sizeof(buf));

	assert_int_equal(n, (ssize_t)strlen(s));
	assert_memory_equal(buf, s, strlen(s));
}

/* ------------------------------------------------------------ handshake */

static void test_handshake_ok(void **state)
{
	struct link l;
	struct ends e;
	struct secure_stats st;

	connected(&l, &e);
	assert_true(transport_is_secure(e.init));
	assert_true(transport_is_secure(e.resp));
	assert_string_equal(e.init->ops->name, "tcp+psk");
	pump(l.wire_i, l.wire_r, NULL, NULL, 0);
	send_str(e.init, "HELLO from the primary");
	pump(l.wire_i, l.wire_r, NULL, NULL, 0);
	expect_str(e.resp, "HELLO from the primary");
	send_str(e.resp, "ACK");
	pump(l.wire_r, l.wire_i, NULL, NULL, 0);
	expect_str(e.init, "ACK");
	assert_int_equal(secure_transport_stats(e.init, &st), 0);
	assert_int_equal(st.records_sent, 1);
	assert_int_equal(st.records_received, 1);
	assert_int_equal(st.bytes_sent, 22);
	ends_close(&e, &l);
}

static void test_plain_tcp_is_not_secure(void **state)
{
	int sp[2];
	struct transport *t;
	struct secure_stats st;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	t = fd_transport(sp[0], "x");
	assert_false(transport_is_secure(t));
	assert_false(transport_is_secure(NULL));
	assert_int_equal(secure_transport_stats(t, &st), -EINVAL);
	t->ops->close(t);
	close(sp[1]);
}

static void test_wrong_key_fails_both_sides(void **state)
{
	struct link l;
	struct ends e;

	link_open(&l);
	handshake(&l, key_a, key_b, NULL, NULL, &e);
	assert_int_equal(e.init_ret, -EACCES);
	assert_non_null(strstr(e.init_err, "wrong key"));
	assert_true(e.resp_ret < 0);
	assert_null(e.init);
	assert_null(e.resp);
	ends_close(&e, &l);
}

static void test_context_mismatch_fails(void **state)
{
	struct link l;
	struct ends e;

	link_open(&l);
	handshake(&l, key_a, key_a, "rrvm-migration", NULL, &e);
	assert_int_equal(e.init_ret, -EACCES);
	assert_true(e.resp_ret < 0);
	ends_close(&e, &l);
}

/* A recorded initiator (HELLO_I then PROOF_I) replayed to a new responder
 * that holds the key: its fresh nonce makes the old proof worthless. */
static void test_replayed_handshake_fails(void **state)
{
	struct link l;
	struct ends e;
	uint8_t rec[1 << 16];
	size_t rec_len;
	int sp[2];
	struct secure_pending *pr;
	struct transport *t = NULL;
	struct secure_config rc = {.key = key_a,
				   .role = SECURE_ROLE_RESPONDER,
				   .handshake_timeout_ms = 1000,
				   .polled = true};
	char err[256];
	int ret;

	connected(&l, &e);
	send_str(e.init, "first session data");
	pump(l.wire_i, l.wire_r, l.from_i, &l.from_i_len, sizeof(l.from_i));
	rec_len = l.from_i_len;
	memcpy(rec, l.from_i, rec_len);
	assert_int_equal(rec_len, SECURE_HELLO_I_BYTES + SECURE_MAC_BYTES +
				      SECURE_RECORD_HEADER + 18 +
				      SECURE_RECORD_TAG);
	ends_close(&e, &l);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(
	    secure_pending_start(fd_transport(sp[0], "replayer"), &rc, &pr), 0);
	assert_int_equal(send(sp[1], rec, rec_len, MSG_NOSIGNAL),
			 (ssize_t)rec_len);
	do {
		ret = secure_pending_step(pr, &t, err, sizeof(err));
		usleep(100);
	} while (ret == -EAGAIN);
	assert_int_equal(ret, -EACCES);
	assert_null(t);
	assert_non_null(strstr(err, "replayed"));
	close(sp[1]);
}

/* The responder's own proof sent back as the initiator's proof. */
static void test_reflected_proof_fails(void **state)
{
	struct secure_handshake hs;
	uint8_t hello_r[SECURE_HELLO_R_BYTES];
	int sp[2];
	struct secure_pending *pr;
	struct transport *t = NULL;
	struct secure_config rc = {.key = key_a,
				   .role = SECURE_ROLE_RESPONDER,
				   .handshake_timeout_ms = 1000,
				   .polled = true};
	char err[256];
	size_t got = 0;
	int ret;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(
	    secure_pending_start(fd_transport(sp[0], "reflector"), &rc, &pr),
	    0);
	/* A genuine-looking HELLO_I, from an engine without the key. */
	assert_int_equal(
	    secure_handshake_init(&hs, SECURE_ROLE_INITIATOR, key_b, NULL), 0);
	assert_int_equal(send(sp[1], hs.out, hs.out_len, 0),
			 (ssize_t)hs.out_len);
	while (got < sizeof(hello_r)) {
		ret = secure_pending_step(pr, &t, err, sizeof(err));
		assert_int_equal(ret, -EAGAIN);
		ssize_t n = recv(sp[1], hello_r + got, sizeof(hello_r) - got,
				 MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
	}
	assert_int_equal(
	    send(sp[1], hello_r + 12 + SECURE_NONCE_BYTES, SECURE_MAC_BYTES, 0),
	    SECURE_MAC_BYTES);
	do {
		ret = secure_pending_step(pr, &t, err, sizeof(err));
	} while (ret == -EAGAIN);
	assert_int_equal(ret, -EACCES);
	assert_null(t);
	close(sp[1]);
}

/* An initiator whose HELLO_I comes back as if from a responder. */
static void test_echoed_hello_fails(void **state)
{
	struct secure_handshake hs;
	uint8_t echo[SECURE_HELLO_R_BYTES] = {0};
	size_t used;

	assert_int_equal(
	    secure_handshake_init(&hs, SECURE_ROLE_INITIATOR, key_a, NULL), 0);
	memcpy(echo, hs.out, hs.out_len);
	echo[8] = 'R';
	assert_int_equal(secure_handshake_feed(&hs, echo, sizeof(echo), &used),
			 SECURE_HS_ERROR);
	assert_non_null(strstr(hs.err, "reflection"));
	/* The same bytes with role 'I' are refused before any crypto. */
	assert_int_equal(
	    secure_handshake_init(&hs, SECURE_ROLE_INITIATOR, key_a, NULL), 0);
	memcpy(echo, hs.out, hs.out_len);
	assert_int_equal(secure_handshake_feed(&hs, echo, sizeof(echo), &used),
			 SECURE_HS_ERROR);
	assert_int_equal(hs.error, -EPROTO);
	secure_handshake_wipe(&hs);
}

/* Not our protocol at all: refused at once, not at the timeout. */
static void test_garbage_handshake_fails_fast(void **state)
{
	int sp[2];
	struct transport *t = NULL;
	const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
			    "0123456789012345678901234567890123456789";
	struct secure_config rc = {.key = key_a,
				   .role = SECURE_ROLE_RESPONDER,
				   .handshake_timeout_ms = 5000};
	char err[256];
	uint64_t t0 = clock_mono_ns();

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(send(sp[1], junk, sizeof(junk), 0),
			 (ssize_t)sizeof(junk));
	assert_int_equal(secure_transport_wrap(fd_transport(sp[0], "junk"), &rc,
					       &t, err, sizeof(err)),
			 -EPROTO);
	assert_null(t);
	assert_non_null(strstr(err, "magic"));
	assert_true(clock_mono_ns() - t0 < 1000000000ull);
	close(sp[1]);
}

/* A peer that says nothing (or stops half-way) fails at the timeout. */
static void test_silent_peer_times_out(void **state)
{
	int sp[2];
	struct transport *t = NULL;
	struct secure_config rc = {.key = key_a,
				   .role = SECURE_ROLE_RESPONDER,
				   .handshake_timeout_ms = 200};
	char err[256];
	uint64_t t0 = clock_mono_ns(), ms;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	/* Half a HELLO_I. */
	assert_int_equal(send(sp[1], "RRVMPSK1I", 9, 0), 9);
	assert_int_equal(secure_transport_wrap(fd_transport(sp[0], "mute"), &rc,
					       &t, err, sizeof(err)),
			 -ETIMEDOUT);
	ms = (clock_mono_ns() - t0) / 1000000;
	assert_true(ms >= 190 && ms < 2000);
	assert_non_null(strstr(err, "200 ms"));
	close(sp[1]);
}

/* -------------------------------------------------------------- records */

/* A record as it crossed the wire, taken off it by the relay. */
struct wire_record {
	uint8_t b[SECURE_RECORD_MAX_BYTES];
	size_t len;
};

static struct wire_record rec1, rec2;

static void take(int fd, struct wire_record *r)
{
	r->len = read_record(fd, r->b);
}

/* Put bytes [from, to) of r (to 0: the end) on the wire to fd's peer. */
static void put(int fd, const struct wire_record *r, size_t from, size_t to)
{
	to = to ? to : r->len;
	assert_int_equal(send(fd, r->b + from, to - from, 0),
			 (ssize_t)(to - from));
}

/* The session is over for t, and stays over. */
static void expect_ended(struct transport *t)
{
	char buf[64];

	assert_int_equal(t->ops->recv(t, buf, sizeof(buf)), -EBADMSG);
	assert_int_equal(t->ops->recv(t, buf, sizeof(buf)), -EBADMSG);
}

static void test_tampered_record_ends_session(void **state)
{
	struct link l;
	struct ends e;
	char buf[64];

	connected(&l, &e);
	send_str(e.init, "SET balance 100");
	take(l.wire_i, &rec1);
	rec1.b[rec1.len - 20] ^= 0x01; /* one ciphertext bit */
	put(l.wire_r, &rec1, 0, 0);
	expect_ended(e.resp);
	/* The inner socket was shut down: the sender hears of it too. */
	assert_int_equal(recv(l.wire_r, buf, sizeof(buf), MSG_DONTWAIT), 0);
	ends_close(&e, &l);
}

static void test_tampered_length_ends_session(void **state)
{
	struct link l;
	struct ends e;

	connected(&l, &e);
	send_str(e.init, "abcdef");
	take(l.wire_i, &rec1);
	/* A shorter length that is still in bounds: the AEAD covers it. */
	rec1.b[0] = (uint8_t)(rec1.b[0] - 1);
	put(l.wire_r, &rec1, 0, 0);
	expect_ended(e.resp);
	ends_close(&e, &l);

	/* An out-of-bounds length is refused before waiting for the body. */
	connected(&l, &e);
	memcpy(rec1.b, "\xff\xff\xff\x7f", 4);
	put(l.wire_r, &rec1, 0, 4);
	expect_ended(e.resp);
	ends_close(&e, &l);
}

static void test_replayed_record_ends_session(void **state)
{
	struct link l;
	struct ends e;

	connected(&l, &e);
	send_str(e.init, "INCR counter");
	take(l.wire_i, &rec1);
	put(l.wire_r, &rec1, 0, 0);
	expect_str(e.resp, "INCR counter");
	put(l.wire_r, &rec1, 0, 0);
	expect_ended(e.resp);
	ends_close(&e, &l);
}

/* A record of one direction sent back to its sender does not open: each
 * direction has its own key. */
static void test_reflected_record_ends_session(void **state)
{
	struct link l;
	struct ends e;

	connected(&l, &e);
	send_str(e.init, "ACK 7");
	take(l.wire_i, &rec1);
	put(l.wire_i, &rec1, 0, 0);
	expect_ended(e.init);
	ends_close(&e, &l);
}

static void test_reordered_records_end_session(void **state)
{
	struct link l;
	struct ends e;

	connected(&l, &e);
	send_str(e.init, "first");
	send_str(e.init, "second");
	take(l.wire_i, &rec1);
	take(l.wire_i, &rec2);
	put(l.wire_r, &rec2, 0, 0);
	put(l.wire_r, &rec1, 0, 0);
	expect_ended(e.resp);
	ends_close(&e, &l);
}

static void test_dropped_record_ends_session(void **state)
{
	struct link l;
	struct ends e;

	connected(&l, &e);
	send_str(e.init, "epoch 1");
	send_str(e.init, "epoch 2");
	take(l.wire_i, &rec1); /* dropped */
	take(l.wire_i, &rec2);
	put(l.wire_r, &rec2, 0, 0);
	expect_ended(e.resp);
	ends_close(&e, &l);
}

static void test_truncated_stream_ends_session(void **state)
{
	struct link l;
	struct ends e;
	char buf[64];

	connected(&l, &e);
	send_str(e.init, "a whole record");
	take(l.wire_i, &rec1);
	put(l.wire_r, &rec1, 0, rec1.len - 5);
	shutdown(l.wire_r, SHUT_WR);
	expect_ended(e.resp);
	ends_close(&e, &l);

	/* A close between records is an ordinary end of stream. */
	connected(&l, &e);
	shutdown(l.wire_r, SHUT_WR);
	assert_int_equal(e.resp->ops->recv(e.resp, buf, sizeof(buf)), 0);
	assert_int_equal(e.resp->ops->recv(e.resp, buf, sizeof(buf)), 0);
	ends_close(&e, &l);
}

/* --------------------------------------------- large buffers, threads */

#define BIG (5u * 1024 * 1024 + 12345)

struct sender {
	struct transport *t;
	const uint8_t *data;
	size_t len;
	int ret;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	s->ret = s->t->ops->send(s->t, s->data, s->len);
	return NULL;
}

/* Both directions at once (the primary's epoch and ack threads), big
 * buffers split into records and put back together, with small and large
 * receive buffers. */
static void test_large_send_both_directions(void **state)
{
	struct link l;
	struct ends e;
	uint8_t *data = malloc(BIG), *got = malloc(BIG);
	struct sender s1, s2;
	pthread_t th1, th2;
	struct secure_stats si, sr;
	size_t off = 0;

	assert_non_null(data);
	assert_non_null(got);
	for (size_t i = 0; i < BIG; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	/* Direct connection (no relay): the socket buffers fill up. */
	direct(&l, &e);
	s1 = (struct sender){.t = e.init, .data = data, .len = BIG};
	s2 = (struct sender){.t = e.resp, .data = data, .len = BIG / 5};
	assert_int_equal(pthread_create(&th1, NULL, sender_main, &s1), 0);
	assert_int_equal(pthread_create(&th2, NULL, sender_main, &s2), 0);
	/* Receive initiator->responder with a small cap (leftovers kept in
	 * the transport), the other way with a big one. */
	while (off < BIG) {
		ssize_t n =
		    e.resp->ops->recv(e.resp, got + off, off % 3 ? 4096 : 1000);

		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_memory_equal(got, data, BIG);
	off = 0;
	while (off < BIG / 5) {
		ssize_t n = e.init->ops->recv(e.init, got + off, BIG / 5 - off);

		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_memory_equal(got, data, BIG / 5);
	pthread_join(th1, NULL);
	pthread_join(th2, NULL);
	assert_int_equal(s1.ret, 0);
	assert_int_equal(s2.ret, 0);
	/* The nonce counters: one per record, per direction. */
	assert_int_equal(secure_transport_stats(e.init, &si), 0);
	assert_int_equal(secure_transport_stats(e.resp, &sr), 0);
	assert_int_equal(si.records_sent,
			 (BIG + SECURE_RECORD_MAX_PLAINTEXT - 1) /
			     SECURE_RECORD_MAX_PLAINTEXT);
	assert_int_equal(sr.records_received, si.records_sent);
	assert_int_equal(sr.records_sent,
			 (BIG / 5 + SECURE_RECORD_MAX_PLAINTEXT - 1) /
			     SECURE_RECORD_MAX_PLAINTEXT);
	assert_int_equal(si.records_received, sr.records_sent);
	assert_int_equal(si.bytes_sent, BIG);
	assert_int_equal(sr.bytes_received, BIG);
	ends_close(&e, &l);
	free(data);
	free(got);
}

/* What crosses the wire shows nothing of what was sent. */
static void test_plaintext_not_on_wire(void **state)
{
	static const char secret[] = "SET card 4111-1111-1111-1111 ";
	struct link l;
	struct ends e;
	uint8_t *wire = malloc(1 << 20);
	char buf[4096];
	size_t wire_len = 0, sent = 0, got = 0;

	assert_non_null(wire);
	connected(&l, &e);
	for (int i = 0; i < 100; i++) {
		send_str(e.init, secret);
		sent += strlen(secret);
	}
	pump(l.wire_i, l.wire_r, wire, &wire_len, 1 << 20);
	assert_true(wire_len > sent);
	assert_null(memmem(wire, wire_len, "4111-1111", 9));
	assert_null(memmem(wire, wire_len, "SET card", 8));
	while (got < sent) {
		ssize_t n = e.resp->ops->recv(e.resp, buf, sizeof(buf));

		assert_true(n > 0);
		assert_memory_equal(buf, secret, 8);
		got += (size_t)n;
	}
	ends_close(&e, &l);
	free(wire);
}

/* Polled mode: half a record is -EAGAIN (kept), the rest completes it;
 * nothing past the record plus the next header is taken off the socket. */
static void test_polled_recv_half_record(void **state)
{
	struct link l;
	struct ends e;
	char buf[SECURE_RECORD_MAX_PLAINTEXT];
	struct pollfd pfd;

	connected(&l, &e);
	send_str(e.init, "record one");
	send_str(e.init, "record two!");
	take(l.wire_i, &rec1);
	take(l.wire_i, &rec2);
	assert_int_equal(e.resp->ops->recv(e.resp, buf, sizeof(buf)), -EAGAIN);
	put(l.wire_r, &rec1, 0, 7);
	assert_int_equal(e.resp->ops->recv(e.resp, buf, sizeof(buf)), -EAGAIN);
	/* Rest of record one, all of record two: one recv returns record
	 * one; record two still makes the fd readable for the next poll. */
	put(l.wire_r, &rec1, 7, 0);
	put(l.wire_r, &rec2, 0, 0);
	expect_str(e.resp, "record one");
	pfd = (struct pollfd){.fd = e.resp->ops->fd(e.resp), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 0), 1);
	expect_str(e.resp, "record two!");
	assert_int_equal(e.resp->ops->recv(e.resp, buf, sizeof(buf)), -EAGAIN);
	ends_close(&e, &l);
}

/* Blocking mode on a non-blocking fd: -EAGAIN too, and no data lost. */
static void test_blocking_mode_nonblocking_fd(void **state)
{
	struct link l;
	struct ends e;
	char buf[64];
	int fd;

	connected(&l, &e);
	fd = e.init->ops->fd(e.init);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	send_str(e.resp, "ACK 42");
	take(l.wire_r, &rec1);
	put(l.wire_i, &rec1, 0, 3);
	assert_int_equal(e.init->ops->recv(e.init, buf, sizeof(buf)), -EAGAIN);
	put(l.wire_i, &rec1, 3, 0);
	expect_str(e.init, "ACK 42");
	ends_close(&e, &l);
}

struct blocked {
	struct transport *t;
	ssize_t ret;
};

static void *blocked_recv(void *arg)
{
	struct blocked *b = arg;
	char buf[64];

	b->ret = b->t->ops->recv(b->t, buf, sizeof(buf));
	return NULL;
}

/* The ack thread blocked in recv wakes when the link is shut down. */
static void test_shutdown_wakes_blocked_recv(void **state)
{
	struct link l;
	struct ends e;
	struct blocked b;
	pthread_t th;

	connected(&l, &e);
	b.t = e.init;
	b.ret = 1;
	assert_int_equal(pthread_create(&th, NULL, blocked_recv, &b), 0);
	usleep(20000);
	e.init->ops->shutdown(e.init);
	pthread_join(th, NULL);
	assert_int_equal(b.ret, 0);
	ends_close(&e, &l);
}

/* ------------------------------------- the replication protocol on top */

#define RECV_CAP (256u * 1024) /* the backup's receive buffer */

/* A TCP listener on 127.0.0.1 at some free port; fills addr. */
static int listen_loopback(char *addr, size_t size)
{
	for (unsigned i = 0; i < 50; i++) {
		unsigned port =
		    20000 + (unsigned)(getpid() * 7 + i * 131) % 40000;
		int fd;

		snprintf(addr, size, "127.0.0.1:%u", port);
		fd = transport_tcp_listen(addr);
		if (fd >= 0)
			return fd;
	}
	fail_msg("no free loopback port");
	return -1;
}

/* What a receiver holds: bytes [off, len) of buf not yet decoded. */
struct rx_state {
	uint8_t buf[RECV_CAP];
	size_t off, len;
};

/* Read from t until the decoder yields one message (waiting with poll on
 * -EAGAIN, as the backup's loop does). The message points into rx->buf,
 * valid until the next call. */
static void next_message(struct transport *t, struct ckpt_decoder *d,
			 struct rx_state *rx, struct ckpt_msg *m)
{
	for (;;) {
		size_t used = 0;
		ssize_t n;

		if (rx->off < rx->len) {
			enum ckpt_decode_status st = ckpt_decoder_feed(
			    d, rx->buf + rx->off, rx->len - rx->off, &used, m);

			assert_int_not_equal(st, CKPT_DECODE_ERROR);
			rx->off += used;
			if (st == CKPT_DECODE_MESSAGE)
				return;
		}
		rx->off = rx->len = 0; /* the decoder kept any partial one */
		n = t->ops->recv(t, rx->buf, sizeof(rx->buf));
		if (n == -EAGAIN) {
			struct pollfd p = {.fd = t->ops->fd(t),
					   .events = POLLIN};

			assert_int_equal(poll(&p, 1, 5000), 1);
			continue;
		}
		assert_true(n > 0);
		rx->len = (size_t)n;
	}
}

/*
 * What the primary and backup exchange, unchanged, over a real loopback
 * TCP connection wrapped on both sides: HELLO, a full epoch of pages,
 * RX_DIGESTS, a heartbeat; the backup's ACK back to a blocking receiver.
 */
static void test_replication_stream_over_secure_tcp(void **state)
{
	static uint8_t pages[4][CKPT_PAGE_SIZE];
	static struct rx_state rx;
	struct secure_config ic = {.key = key_a, .role = SECURE_ROLE_INITIATOR};
	struct secure_config rc = {
	    .key = key_a, .role = SECURE_ROLE_RESPONDER, .polled = true};
	struct repl_hello hello = {.version = REPL_VERSION,
				   .mode = REPL_MODE_REVERSE,
				   .session = 42,
				   .mem_size = 64 * CKPT_PAGE_SIZE,
				   .epoch_ms = 20};
	struct ckpt_begin begin = {.version = CKPT_VERSION,
				   .flags = CKPT_BEGIN_FULL,
				   .mem_size = hello.mem_size,
				   .epoch = 1};
	struct ckpt_end end = {.page_count = 4, .message_count = 3};
	struct ckpt_page_ref refs[4];
	uint64_t digests[3] = {7, 8, 9};
	static const uint16_t want[] = {REPL_MSG_HELLO, CKPT_MSG_BEGIN,
					CKPT_MSG_PAGES, REPL_MSG_RX_DIGESTS,
					CKPT_MSG_END,	REPL_MSG_HEARTBEAT};
	struct transport *tcp_i, *tcp_r, *pri, *bak;
	struct secure_pending *pr;
	struct ckpt_decoder dec;
	struct ckpt_buf out;
	struct ckpt_msg m;
	struct repl_hello got;
	char addr[64], err[256];
	int lfd = listen_loopback(addr, sizeof(addr)), ret = -EAGAIN;

	assert_int_equal(transport_tcp_connect(addr, 1000, &tcp_i), 0);
	assert_int_equal(transport_tcp_accept(lfd, &tcp_r), 0);
	close(lfd);
	/* The backup's side is stepped from its loop; the primary's blocks
	 * (in a real pair they are two processes: here, step the backup
	 * until the primary's blocking wrap can finish). */
	assert_int_equal(secure_pending_start(tcp_r, &rc, &pr), 0);
	{
		struct secure_pending *pi;
		int ri = -EAGAIN;

		assert_int_equal(secure_pending_start(tcp_i, &ic, &pi), 0);
		while (ri == -EAGAIN || ret == -EAGAIN) {
			if (ri == -EAGAIN)
				ri = secure_pending_step(pi, &pri, err,
							 sizeof(err));
			if (ret == -EAGAIN)
				ret = secure_pending_step(pr, &bak, err,
							  sizeof(err));
		}
		assert_int_equal(ri, 0);
		assert_int_equal(ret, 0);
	}
	/* The peer name of the TCP link carries over, for the logs. */
	assert_memory_equal(bak->peer, "127.0.0.1:", 10);
	assert_true(transport_is_secure(pri) && transport_is_secure(bak));

	for (int i = 0; i < 4; i++) {
		memset(pages[i], 0x11 * (i + 1), CKPT_PAGE_SIZE);
		refs[i] =
		    (struct ckpt_page_ref){(uint64_t)i * 3, pages[i], NULL};
	}
	ckpt_buf_init(&out);
	assert_int_equal(repl_encode_hello(&out, &hello), 0);
	assert_int_equal(ckpt_encode_begin(&out, &begin), 0);
	assert_int_equal(
	    ckpt_encode_pages(&out, 1, refs, 4, CKPT_COMPRESS_AUTO, NULL), 0);
	assert_int_equal(repl_encode_digests(&out, 1, digests, 3, 0), 0);
	assert_int_equal(ckpt_encode_end(&out, 1, &end), 0);
	assert_int_equal(repl_encode_heartbeat(&out, 1), 0);
	assert_int_equal(pri->ops->send(pri, out.data, out.len), 0);

	ckpt_decoder_init(&dec);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		next_message(bak, &dec, &rx, &m);
		assert_int_equal(m.header.type, want[i]);
		if (m.header.type == REPL_MSG_HELLO) {
			assert_int_equal(repl_decode_hello(&m, &got), 0);
			assert_int_equal(got.session, 42);
		}
	}
	ckpt_decoder_free(&dec);

	/* ACK back; the primary's ack thread reads in blocking mode. */
	ckpt_buf_reset(&out);
	assert_int_equal(repl_encode_ack(&out, 1), 0);
	assert_int_equal(bak->ops->send(bak, out.data, out.len), 0);
	ckpt_decoder_init(&dec);
	rx.off = rx.len = 0;
	next_message(pri, &dec, &rx, &m);
	assert_int_equal(m.header.type, REPL_MSG_ACK);
	assert_int_equal(m.header.epoch, 1);
	ckpt_decoder_free(&dec);
	ckpt_buf_free(&out);
	pri->ops->close(pri);
	bak->ops->close(bak);
}

/* The record layer alone, for one cipher: counters are the nonces, bounds
 * are checked. */
static void record_layer(enum secure_cipher cipher)
{
	struct secure_direction tx = {.counter = 0, .cipher = cipher};
	struct secure_direction rx = {.counter = 0, .cipher = cipher};
	struct secure_direction other = {.counter = 0};
	uint8_t rec[64], plain[64];

	memset(tx.key, 7, sizeof(tx.key));
	memcpy(rx.key, tx.key, sizeof(rx.key));
	memcpy(other.key, tx.key, sizeof(other.key));
	other.cipher = cipher == SECURE_CIPHER_AES256_GCM
			   ? SECURE_CIPHER_CHACHA20_POLY1305
			   : SECURE_CIPHER_AES256_GCM;
	assert_int_equal(secure_record_seal(&tx, (const uint8_t *)"x", 0, rec),
			 -EINVAL);
	assert_int_equal(
	    secure_record_seal(&tx, (const uint8_t *)"abc", 3, rec),
	    3 + SECURE_RECORD_HEADER + SECURE_RECORD_TAG);
	assert_int_equal(tx.counter, 1);
	/* Opened under the wrong counter: refused, counter unchanged. */
	rx.counter = 1;
	assert_int_equal(secure_record_open(&rx, rec, 23, plain), -EBADMSG);
	assert_int_equal(rx.counter, 1);
	/* Same key and counter, the other cipher: refused. */
	assert_int_equal(secure_record_open(&other, rec, 23, plain), -EBADMSG);
	rx.counter = 0;
	assert_int_equal(secure_record_open(&rx, rec, 23, plain), 3);
	assert_memory_equal(plain, "abc", 3);
	assert_int_equal(rx.counter, 1);
	assert_int_equal(secure_record_open(&rx, rec, 22, plain), -EBADMSG);
	/* No wrap: the session ends first. */
	tx.counter = UINT64_MAX;
	assert_int_equal(
	    secure_record_seal(&tx, (const uint8_t *)"abc", 3, rec),
	    -EOVERFLOW);
	assert_int_equal(secure_record_body_len((const uint8_t *)"\x10\0\0\0"),
			 -EBADMSG);
	assert_int_equal(secure_record_body_len((const uint8_t *)"\x11\0\0\0"),
			 17);
}

static void test_record_layer(void **state)
{
	(void)state;
	record_layer(SECURE_CIPHER_CHACHA20_POLY1305);
	if (!secure_cipher_aes_available())
		skip(); /* no AES-NI here: ChaCha20 only */
	record_layer(SECURE_CIPHER_AES256_GCM);
}

/*
 * Two handshakes run against each other in memory, advertising the given
 * cipher bits; flip_bit9 flips the cipher byte of HELLO_I on the way (an
 * attacker forcing a downgrade). Returns the initiator's final status; the
 * ciphers each side chose are left in *ci, *cr.
 */
static enum secure_hs_status run_handshakes(uint8_t bits_i, uint8_t bits_r,
					    bool flip_bit9,
					    enum secure_cipher *ci,
					    enum secure_cipher *cr)
{
	struct secure_handshake hi, hr;
	enum secure_hs_status si = SECURE_HS_NEED_MORE, sr = SECURE_HS_NEED_MORE;
	size_t used;

	assert_int_equal(secure_handshake_init_ciphers(&hi, SECURE_ROLE_INITIATOR,
						       key_a, "t", bits_i),
			 0);
	assert_int_equal(secure_handshake_init_ciphers(&hr, SECURE_ROLE_RESPONDER,
						       key_a, "t", bits_r),
			 0);
	if (flip_bit9)
		hi.out[9] ^= SECURE_CIPHER_AES_BIT;
	/* HELLO_I, HELLO_R, PROOF_I, CONFIRM: each side answers in turn. */
	for (int turn = 0; turn < 4; turn++) {
		struct secure_handshake *from = turn % 2 ? &hr : &hi;
		struct secure_handshake *to = turn % 2 ? &hi : &hr;
		enum secure_hs_status *st = turn % 2 ? &si : &sr;
		size_t n = from->out_len;
		uint8_t msg[SECURE_HS_MSG_MAX];

		if (n == 0)
			break;
		memcpy(msg, from->out, n);
		from->out_len = 0;
		*st = secure_handshake_feed(to, msg, n, &used);
		if (*st == SECURE_HS_ERROR)
			break;
	}
	*ci = hi.cipher;
	*cr = hr.cipher;
	secure_handshake_wipe(&hi);
	secure_handshake_wipe(&hr);
	return sr == SECURE_HS_ERROR ? SECURE_HS_ERROR : si;
}

/* AES-256-GCM only when both sides offer it; both always agree; the cipher
 * byte is authenticated (a flipped one fails the handshake); unknown bits
 * are refused. */
static void test_cipher_negotiation(void **state)
{
	enum secure_cipher ci, cr;
	struct secure_handshake hs;

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		for (unsigned r = 0; r < 2; r++) {
			assert_int_equal(run_handshakes((uint8_t)i, (uint8_t)r,
							false, &ci, &cr),
					 SECURE_HS_DONE);
			assert_int_equal(ci, cr);
			assert_int_equal(ci, i && r
						 ? SECURE_CIPHER_AES256_GCM
						 : SECURE_CIPHER_CHACHA20_POLY1305);
		}
	}
	assert_int_equal(run_handshakes(1, 1, true, &ci, &cr),
			 SECURE_HS_ERROR);
	assert_int_equal(run_handshakes(0, 1, true, &ci, &cr),
			 SECURE_HS_ERROR);
	assert_int_equal(secure_handshake_init_ciphers(
			     &hs, SECURE_ROLE_INITIATOR, key_a, "t", 0x80),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_ok),
	    cmocka_unit_test(test_plain_tcp_is_not_secure),
	    cmocka_unit_test(test_wrong_key_fails_both_sides),
	    cmocka_unit_test(test_context_mismatch_fails),
	    cmocka_unit_test(test_replayed_handshake_fails),
	    cmocka_unit_test(test_reflected_proof_fails),
	    cmocka_unit_test(test_echoed_hello_fails),
	    cmocka_unit_test(test_garbage_handshake_fails_fast),
	    cmocka_unit_test(test_silent_peer_times_out),
	    cmocka_unit_test(test_tampered_record_ends_session),
	    cmocka_unit_test(test_tampered_length_ends_session),
	    cmocka_unit_test(test_replayed_record_ends_session),
	    cmocka_unit_test(test_reflected_record_ends_session),
	    cmocka_unit_test(test_reordered_records_end_session),
	    cmocka_unit_test(test_dropped_record_ends_session),
	    cmocka_unit_test(test_truncated_stream_ends_session),
	    cmocka_unit_test(test_large_send_both_directions),
	    cmocka_unit_test(test_plaintext_not_on_wire),
	    cmocka_unit_test(test_polled_recv_half_record),
	    cmocka_unit_test(test_blocking_mode_nonblocking_fd),
	    cmocka_unit_test(test_shutdown_wakes_blocked_recv),
	    cmocka_unit_test(test_replication_stream_over_secure_tcp),
	    cmocka_unit_test(test_record_layer),
	    cmocka_unit_test(test_cipher_negotiation),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
