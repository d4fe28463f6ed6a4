// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the secure replication channel
 * (common/secure_handshake.h, common/secure_record.h,
 * common/secure_transport.h): what a backup or primary parses from a peer
 * that may be an attacker.
 *
 * Input: one mode byte, then:
 *   mode % 3 == 0  bytes fed to a responder's handshake (the backup side),
 *   mode % 3 == 1  bytes fed to an initiator's handshake (the primary side),
 *                  in chunks whose sizes come from the mode byte;
 *   mode % 3 == 2  a real session over socketpairs with the harness as the
 *                  wire in between: the rest of the input is [kind][pos lo]
 *                  [pos hi][xor] then plaintext, sent in pieces; the wire
 *                  bytes are left alone (kind 0), have a byte flipped (1),
 *                  are cut short (2) or get the plaintext's first bytes
 *                  inserted as garbage (3) before the receiver reads them
 *                  with receive buffers of varying sizes.
 *
 * Checked: no crash or overrun (ASan/UBSan); the handshake never consumes
 * more than it asked for, never produces more than a message, and never
 * completes for bytes that do not hold the key (the fuzzer does not);
 * the receiver delivers only a prefix of what was sent, all of it when the
 * wire was untouched, and once it reports an error it stays in error.
 *
 * Built with -DFUZZ_GEN_SEEDS (no libFuzzer) it writes seed inputs into the
 * directory given and runs each through the harness once.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secure_transport.h"
#include "tests/secure_test_util.h"
#include "tests/fuzz/fuzz_util.h"

#define PLAIN_MAX (1u << 17)
/* Worst case: a one-byte record per byte sent, plus inserted garbage. */
#define WIRE_MAX                                                               \
	(PLAIN_MAX * (1 + SECURE_RECORD_HEADER + SECURE_RECORD_TAG) + 64)

static const uint8_t psk[SECURE_KEY_BYTES] = "rrvm fuzz key: not a secret...";

static void fuzz_handshake(enum secure_role role, uint8_t mode,
			   const uint8_t *d, size_t n)
{
	struct secure_handshake hs;
	size_t pos = 0, step = 1 + (mode >> 2) % 48;

	CHECK(secure_handshake_init(&hs, role, psk, NULL) == 0);
	CHECK(hs.out_len ==
	      (role == SECURE_ROLE_INITIATOR ? SECURE_HELLO_I_BYTES : 0));
	hs.out_len = 0;
	while (pos < n) {
		size_t want = secure_handshake_wanted(&hs), used = 0;
		size_t chunk = n - pos < step ? n - pos : step;
		enum secure_hs_status st =
		    secure_handshake_feed(&hs, d + pos, chunk, &used);

		CHECK(used <= chunk && used <= want);
		CHECK(hs.out_len <= SECURE_HS_MSG_MAX);
		hs.out_len = 0;
		/* The fuzzer cannot prove a key it does not hold. */
		CHECK(st != SECURE_HS_DONE);
		if (st == SECURE_HS_ERROR) {
			CHECK(hs.err[0] != '\0');
			CHECK(hs.error == -EACCES || hs.error == -EPROTO);
			CHECK(secure_handshake_wanted(&hs) == 0);
			break;
		}
		CHECK(used == chunk || used == want);
		pos += used;
	}
	secure_handshake_wipe(&hs);
}

struct session {
	struct transport *init, *resp;
	int wire_i, wire_r; /* the harness's ends: from init, to resp */
};

/* init <-> wire_i (harness) wire_r <-> resp; handshake relayed as is. */
static bool session_open(struct session *s)
{
	struct secure_config ic = {.key = psk, .role = SECURE_ROLE_INITIATOR};
	struct secure_config rc = {
	    .key = psk, .role = SECURE_ROLE_RESPONDER, .polled = true};
	struct secure_pending *pi, *pr;
	int a[2], b[2], ri = -EAGAIN, rr = -EAGAIN;
	char err[256];

	memset(s, 0, sizeof(*s));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, a))
		return false;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, b)) {
		close(a[0]);
		close(a[1]);
		return false;
	}
	s->wire_i = a[1];
	s->wire_r = b[1];
	CHECK(secure_pending_start(fd_transport(a[0], "r"), &ic, &pi) == 0);
	CHECK(secure_pending_start(fd_transport(b[0], "i"), &rc, &pr) == 0);
	while (ri == -EAGAIN || rr == -EAGAIN) {
		if (ri == -EAGAIN)
			ri =
			    secure_pending_step(pi, &s->init, err, sizeof(err));
		CHECK(fd_pump(s->wire_i, s->wire_r, NULL, NULL, 0) == 0);
		if (rr == -EAGAIN)
			rr =
			    secure_pending_step(pr, &s->resp, err, sizeof(err));
		CHECK(fd_pump(s->wire_r, s->wire_i, NULL, NULL, 0) == 0);
	}
	CHECK(ri == 0 && rr == 0);
	return true;
}

static void session_close(struct session *s)
{
	s->init->ops->close(s->init);
	s->resp->ops->close(s->resp);
	close(s->wire_i);
	close(s->wire_r);
}

static void fuzz_records(uint8_t mode, const uint8_t *d, size_t n)
{
	static uint8_t wire[WIRE_MAX], got[PLAIN_MAX];
	struct session s;
	uint8_t kind, x;
	size_t pos, plain_len, wire_len = 0, got_len = 0, sent = 0;
	const uint8_t *plain;
	uint64_t rng = 0x9E3779B97F4A7C15ull ^ mode ^ ((uint64_t)n << 20);
	bool failed = false, shut = false;

	if (n < 4)
		return;
	kind = d[0] & 3;
	pos = (size_t)d[1] | (size_t)d[2] << 8;
	x = d[3] ? d[3] : 1;
	plain = d + 4;
	plain_len = n - 4;
	if (plain_len == 0 || plain_len > PLAIN_MAX || !session_open(&s))
		return;
	/* Send in pieces of pseudo-random size (several records each time
	 * when large). */
	while (sent < plain_len) {
		size_t piece;

		piece = 1 + fuzz_xorshift(&rng) % (mode & 0x80 ? 70000 : 300);
		if (piece > plain_len - sent)
			piece = plain_len - sent;
		CHECK(s.init->ops->send(s.init, plain + sent, piece) == 0);
		sent += piece;
		for (;;) {
			ssize_t r = recv(s.wire_i, wire + wire_len,
					 WIRE_MAX - wire_len, MSG_DONTWAIT);

			if (r <= 0)
				break;
			wire_len += (size_t)r;
		}
	}
	if (wire_len) {
		pos %= wire_len;
		if (kind == 1) {
			wire[pos] ^= x;
		} else if (kind == 2) {
			wire_len = pos;
		} else if (kind == 3) {
			size_t ins = plain_len < 64 ? plain_len : 64;

			memmove(wire + pos + ins, wire + pos, wire_len - pos);
			memcpy(wire + pos, plain, ins);
			wire_len += ins;
		}
	}
	/* Feed the receiver as fast as it reads (socket buffers are small). */
	for (size_t off = 0;;) {
		size_t cap;
		ssize_t r;

		if (off < wire_len) {
			r = send(s.wire_r, wire + off, wire_len - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0)
				off += (size_t)r;
		}
		if (off == wire_len && !shut) {
			shutdown(s.wire_r, SHUT_WR);
			shut = true;
		}
		cap = 1 + fuzz_xorshift(&rng) % (mode & 0x40 ? 100 : 70000);
		if (cap > sizeof(got) - got_len)
			cap = sizeof(got) - got_len;
		if (cap == 0)
			cap = 1; /* more than was sent: must fail or end */
		r = s.resp->ops->recv(
		    s.resp, got_len < sizeof(got) ? got + got_len : wire, cap);
		if (r == -EAGAIN) {
			struct pollfd p[2] = {
			    {.fd = s.resp->ops->fd(s.resp), .events = POLLIN},
			    {.fd = s.wire_r,
			     .events = off < wire_len ? POLLOUT : 0}};

			CHECK(poll(p, 2, 1000) > 0);
			continue;
		}
		if (r < 0) {
			failed = true;
			/* Over for good. */
			CHECK(s.resp->ops->recv(s.resp, got, 1) == r);
			break;
		}
		if (r == 0)
			break;
		CHECK((size_t)r <= cap);
		CHECK(got_len + (size_t)r <= plain_len);
		got_len += (size_t)r;
	}
	/* Only what was sent, in order; all of it if the wire was clean. */
	CHECK(got_len <= plain_len);
	CHECK(memcmp(got, plain, got_len) == 0);
	if (kind == 0)
		CHECK(!failed && got_len == plain_len);
	else if (kind == 1)
		CHECK(failed);
	session_close(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;

	if (!quiet) {
		log_set_level(LOG_ERROR);
		quiet = true;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_handshake(SECURE_ROLE_RESPONDER, data[0], data + 1,
			       size - 1);
		break;
	case 1:
		fuzz_handshake(SECURE_ROLE_INITIATOR, data[0], data + 1,
			       size - 1);
		break;
	default:
		fuzz_records(data[0], data + 1, size - 1);
		break;
	}
	return 0;
}

#ifdef FUZZ_GEN_SEEDS
/* ------------------------------------------------------ seed generator */

static int write_seed(const char *dir, const char *name, const uint8_t *b,
		      size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f)) {
		perror(path);
		return 1;
	}
	LLVMFuzzerTestOneInput(b, n);
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t b[8192];
	struct secure_handshake hs;
	int fails = 0;
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_secure_channel DIR\n");
		return 2;
	}
	log_set_level(LOG_ERROR);
	/* Responder: a genuine HELLO_I, then a proof (that cannot verify). */
	CHECK(secure_handshake_init(&hs, SECURE_ROLE_INITIATOR, psk, NULL) ==
	      0);
	b[0] = 0x00;
	memcpy(b + 1, hs.out, hs.out_len);
	memset(b + 1 + hs.out_len, 0x5a, SECURE_MAC_BYTES);
	fails += write_seed(argv[1], "responder-hello", b,
			    1 + hs.out_len + SECURE_MAC_BYTES);
	b[0] = 0x0c; /* chunks of 4 */
	fails += write_seed(argv[1], "responder-hello-chunks", b,
			    1 + hs.out_len + SECURE_MAC_BYTES);
	/* Initiator: a well-formed HELLO_R with a wrong proof. */
	b[0] = 0x01;
	memcpy(b + 1, hs.out, 12);
	b[1 + 8] = 'R';
	memset(b + 13, 0x11, SECURE_NONCE_BYTES + SECURE_MAC_BYTES);
	fails += write_seed(argv[1], "initiator-hello-r", b,
			    1 + SECURE_HELLO_R_BYTES + SECURE_MAC_BYTES);
	secure_handshake_wipe(&hs);
	/* Records: clean, flipped, cut, garbage; small and large pieces. */
	for (unsigned kind = 0; kind < 4; kind++) {
		char name[64];

		b[0] = 0x02;
		b[1] = (uint8_t)kind;
		b[2] = 0x34;
		b[3] = 0x01;
		b[4] = 0x80;
		n = 5;
		for (; n < 2000; n++)
			b[n] =
			    (uint8_t)("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"[n % 22]);
		snprintf(name, sizeof(name), "records-kind%u", kind);
		fails += write_seed(argv[1], name, b, n);
	}
	b[0] = 0x02 | 0x80 | 0x40; /* big sends, tiny receive buffers */
	b[1] = 0;
	n = sizeof(b);
	for (size_t i = 5; i < n; i++)
		b[i] = (uint8_t)(i * 7);
	fails += write_seed(argv[1], "records-big-send", b, n);
	return fails ? 1 : 0;
}
#endif
