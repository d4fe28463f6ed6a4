// SPDX-License-Identifier: MIT
/*
 * Replication-link throughput with and without the secure channel
 * (common/secure_transport.h), over a loopback TCP connection made with
 * the replication transport itself (common/transport_tcp.c):
 *
 *   bench_secure_transport [MB_PER_ROUND [ROUNDS [PORT]]]
 *
 * One thread sends epoch-sized buffers (4 MiB: page data, as a checkpoint
 * is) as the primary's epoch thread does; the main thread receives them as
 * the backup does (poll, then recv into a 256 KiB buffer; the secure side
 * in polled mode). Plain and secure rounds alternate so both see the same
 * machine load. Prints one CSV row per round, then the median MB/s of each
 * and their ratio. Numbers from a shared machine are only comparable within
 * one run.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secure_transport.h"

#define EPOCH_BYTES (4u << 20)
#define RECV_CHUNK  (256u * 1024)

static const uint8_t key[SECURE_KEY_BYTES] = "bench key, not a secret.........";

struct sender {
	struct transport *t;
	const uint8_t *epoch;
	uint64_t bytes;
	int ret;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	for (uint64_t sent = 0; sent < s->bytes && !s->ret; sent += EPOCH_BYTES)
		s->ret = s->t->ops->send(s->t, s->epoch, EPOCH_BYTES);
	return NULL;
}

static int connect_pair(const char *addr, int listen_fd, bool secure,
			struct transport **tx, struct transport **rx)
{
	struct transport *c, *a;
	struct secure_config ic = {.key = key, .role = SECURE_ROLE_INITIATOR};
	struct secure_config rc = {
	    .key = key, .role = SECURE_ROLE_RESPONDER, .polled = true};
	struct secure_pending *pr;
	char err[256];
	int ret;

	ret = transport_tcp_connect(addr, 1000, &c);
	if (ret)
		return ret;
	ret = transport_tcp_accept(listen_fd, &a);
	if (ret) {
		c->ops->close(c);
		return ret;
	}
	if (!secure) {
		*tx = c;
		*rx = a;
		return 0;
	}
	/* The backup's side without blocking, the primary's blocking. */
	ret = secure_pending_start(a, &rc, &pr);
	if (ret) {
		c->ops->close(c);
		return ret;
	}
	{
		struct secure_pending *pi;
		int ri = -EAGAIN, rr = -EAGAIN;

		ret = secure_pending_start(c, &ic, &pi);
		if (ret) {
			secure_pending_abort(pr);
			return ret;
		}
		while (ri == -EAGAIN || rr == -EAGAIN) {
			if (ri == -EAGAIN)
				ri = secure_pending_step(pi, tx, err,
							 sizeof(err));
			if (rr == -EAGAIN)
				rr = secure_pending_step(pr, rx, err,
							 sizeof(err));
		}
		if (ri || rr) {
			fprintf(stderr, "handshake: %s\n", err);
			return ri ? ri : rr;
		}
	}
	return 0;
}

/* One round: MB megabytes through a fresh connection. Returns MB/s. */
static double round_mbps(const char *addr, int listen_fd, bool secure,
			 const uint8_t *epoch, uint64_t bytes)
{
	struct transport *tx, *rx;
	struct sender s;
	pthread_t th;
	uint8_t *buf = malloc(RECV_CHUNK);
	uint64_t got = 0, t0;
	int ret = connect_pair(addr, listen_fd, secure, &tx, &rx);

	if (ret || !buf) {
		fprintf(stderr, "connect: %s\n", strerror(ret ? -ret : ENOMEM));
		exit(1);
	}
	s = (struct sender){.t = tx, .epoch = epoch, .bytes = bytes};
	t0 = clock_mono_ns();
	if (pthread_create(&th, NULL, sender_main, &s)) {
		perror("pthread_create");
		exit(1);
	}
	while (got < bytes) {
		struct pollfd p = {.fd = rx->ops->fd(rx), .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 5000) != 1) {
			fprintf(stderr, "receive stalled\n");
			exit(1);
		}
		n = rx->ops->recv(rx, buf, RECV_CHUNK);
		if (n == -EAGAIN)
			continue;
		if (n <= 0) {
			fprintf(stderr, "recv: %s\n",
				n ? strerror((int)-n) : "EOF");
			exit(1);
		}
		got += (uint64_t)n;
	}
	pthread_join(th, NULL);
	if (s.ret) {
		fprintf(stderr, "send: %s\n", strerror(-s.ret));
		exit(1);
	}
	t0 = clock_mono_ns() - t0;
	tx->ops->close(tx);
	rx->ops->close(rx);
	free(buf);
	return (double)bytes / (1 << 20) / ((double)t0 / 1e9);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned mb = argc > 1 ? (unsigned)atoi(argv[1]) : 512;
	unsigned rounds = argc > 2 ? (unsigned)atoi(argv[2]) : 5;
	unsigned port = argc > 3 ? (unsigned)atoi(argv[3])
				 : 20000 + (unsigned)getpid() % 20000;
	uint8_t *epoch = malloc(EPOCH_BYTES);
	double plain[64], secure[64];
	char addr[64];
	int listen_fd;

	if (!epoch || mb < 4 || rounds < 1 || rounds > 64 || port > 65535) {
		fprintf(stderr, "usage: bench_secure_transport [MB>=4 "
				"[ROUNDS 1..64 [PORT]]]\n");
		return 2;
	}
	log_set_level(LOG_ERROR);
	for (size_t i = 0; i < EPOCH_BYTES; i++)
		epoch[i] = (uint8_t)(i * 2654435761u >> 11);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	listen_fd = transport_tcp_listen(addr);
	if (listen_fd < 0) {
		fprintf(stderr, "listen %s: %s\n", addr, strerror(-listen_fd));
		return 1;
	}
	printf("transport,round,mb,mb_per_s\n");
	for (unsigned r = 0; r < rounds; r++) {
		plain[r] = round_mbps(addr, listen_fd, false, epoch,
				      (uint64_t)mb << 20);
		printf("tcp,%u,%u,%.1f\n", r, mb, plain[r]);
		secure[r] = round_mbps(addr, listen_fd, true, epoch,
				       (uint64_t)mb << 20);
		printf("tcp+psk,%u,%u,%.1f\n", r, mb, secure[r]);
		fflush(stdout);
	}
	qsort(plain, rounds, sizeof(double), cmp_double);
	qsort(secure, rounds, sizeof(double), cmp_double);
	fprintf(stderr,
		"# median MB/s over %u rounds of %u MB: tcp %.0f (%.0f-%.0f), "
		"tcp+psk %.0f (%.0f-%.0f), ratio %.2f\n",
		rounds, mb, plain[rounds / 2], plain[0], plain[rounds - 1],
		secure[rounds / 2], secure[0], secure[rounds - 1],
		secure[rounds / 2] / plain[rounds / 2]);
	close(listen_fd);
	free(epoch);
	return 0;
}
