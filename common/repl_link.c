/* SPDX-License-Identifier: MIT */
#include "common/repl_link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/transport.h"

/* A connecting peer must authenticate and say HELLO within this. */
#define REPL_HELLO_TIMEOUT_MS 2000
/* Links accepted but not yet taken by the daemon. */
#define REPL_ACCEPT_QUEUE 4

const char *repl_link_security(const uint8_t *key)
{
	return key ? "authenticated+encrypted (pre-shared key)"
		   : "UNAUTHENTICATED (--insecure)";
}

/* Wrap t in the authenticated channel (key given) or keep it as is. */
static int secure_link(struct transport **t, const uint8_t *key, bool server,
		       int timeout_ms)
{
	(void)server;
	(void)timeout_ms;
	if (!key)
		return 0;
	(*t)->ops->close(*t);
	*t = NULL;
	return -EPROTONOSUPPORT;
}

int repl_link_connect(const char *addr, const uint8_t *key, int timeout_ms,
		      const struct repl_hello *hello, struct transport **out)
{
	struct ckpt_buf buf;
	struct transport *t;
	int ret;

	ret = transport_tcp_connect(addr, timeout_ms, &t);
	if (ret)
		return ret;
	ret = secure_link(&t, key, false, REPL_HELLO_TIMEOUT_MS);
	if (ret)
		return ret;
	ckpt_buf_init(&buf);
	ret = repl_encode_hello(&buf, hello);
	if (!ret)
		ret = t->ops->send(t, buf.data, buf.len);
	ckpt_buf_free(&buf);
	if (ret) {
		t->ops->close(t);
		return ret;
	}
	*out = t;
	return 0;
}

struct repl_acceptor {
	int listen_fd;
	int ready_fd; /* eventfd: links queued */
	int wake_pipe[2];
	pthread_t thread;
	const uint8_t *key;
	pthread_mutex_t lock;
	struct repl_accepted queue[REPL_ACCEPT_QUEUE];
	int queued;
	struct repl_accept_stats stats;
};

/* Read exactly len bytes before the deadline (the link is non-blocking). */
static int read_exact(struct transport *t, uint8_t *buf, size_t len,
		      uint64_t deadline_ns)
{
	struct pollfd pfd = {.fd = t->ops->fd(t), .events = POLLIN};

	while (len) {
		uint64_t now = clock_mono_ns();
		ssize_t n;

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		n = t->ops->recv(t, buf, len);
		if (n == -EAGAIN || n == -EINTR) {
			if (poll(&pfd, 1,
				 (int)((deadline_ns - now) / 1000000 + 1)) < 0 &&
			    errno != EINTR)
				return -errno;
			continue;
		}
		if (n <= 0)
			return n == 0 ? -ECONNRESET : (int)n;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The first message must be HELLO. Read it byte-exactly (header, then its
 * payload) so nothing after it is consumed here: the epochs that follow
 * belong to the daemon's decoder.
 */
static int read_hello(struct transport *t, struct repl_hello *hello)
{
	uint64_t deadline = clock_mono_ns() + REPL_HELLO_TIMEOUT_MS * 1000000ull;
	uint8_t frame[sizeof(struct ckpt_msg_header) + 64];
	struct ckpt_msg_header hdr;
	struct ckpt_decoder dec;
	struct ckpt_msg msg;
	size_t used = 0;
	int ret;

	ret = read_exact(t, frame, sizeof(hdr), deadline);
	if (ret)
		return ret;
	memcpy(&hdr, frame, sizeof(hdr));
	if (hdr.type != REPL_MSG_HELLO ||
	    hdr.length > sizeof(frame) - sizeof(hdr))
		return -EPROTO;
	ret = read_exact(t, frame + sizeof(hdr), hdr.length, deadline);
	if (ret)
		return ret;
	ckpt_decoder_init(&dec);
	if (ckpt_decoder_feed(&dec, frame, sizeof(hdr) + hdr.length, &used,
			      &msg) != CKPT_DECODE_MESSAGE ||
	    repl_decode_hello(&msg, hello))
		ret = -EPROTO;
	ckpt_decoder_free(&dec);
	return ret;
}

static void accept_one(struct repl_acceptor *a)
{
	struct repl_accepted acc = {.authenticated = a->key != NULL};
	uint64_t one = 1;
	int ret;

	ret = transport_tcp_accept(a->listen_fd, &acc.link);
	if (ret)
		return;
	fcntl(acc.link->ops->fd(acc.link), F_SETFL,
	      fcntl(acc.link->ops->fd(acc.link), F_GETFL) | O_NONBLOCK);
	{
		char peer[sizeof(acc.link->peer)];

		memcpy(peer, acc.link->peer, sizeof(peer));
		ret = secure_link(&acc.link, a->key, true,
				  REPL_HELLO_TIMEOUT_MS);
		if (!ret)
			ret = read_hello(acc.link, &acc.hello);
		if (ret) {
			log_warn("replication: refused a connection from %s: "
				 "%s",
				 peer,
				 ret == -ETIMEDOUT ? "said nothing in time"
				 : ret == -EPROTO  ? "no valid HELLO"
						   : strerror(-ret));
			if (acc.link)
				acc.link->ops->close(acc.link);
			pthread_mutex_lock(&a->lock);
			a->stats.refused++;
			pthread_mutex_unlock(&a->lock);
			return;
		}
	}
	pthread_mutex_lock(&a->lock);
	if (a->queued == REPL_ACCEPT_QUEUE) {
		a->stats.refused++;
		pthread_mutex_unlock(&a->lock);
		log_warn("replication: refused %s: too many pending links",
			 acc.link->peer);
		acc.link->ops->close(acc.link);
		return;
	}
	a->queue[a->queued++] = acc;
	a->stats.accepted++;
	pthread_mutex_unlock(&a->lock);
	if (write(a->ready_fd, &one, sizeof(one)) < 0)
		log_debug("replication: accept wake: %s", strerror(errno));
}

static void *acceptor_thread(void *arg)
{
	struct repl_acceptor *a = arg;
	struct pollfd pfd[2] = {
	    {.fd = a->listen_fd, .events = POLLIN},
	    {.fd = a->wake_pipe[0], .events = POLLIN},
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN)
			accept_one(a);
	}
	return NULL;
}

int repl_accept_start(const char *addr, const uint8_t *key,
		      struct repl_acceptor **out)
{
	struct repl_acceptor *a = calloc(1, sizeof(*a));
	sigset_t all, old;
	int ret;

	if (!a)
		return -ENOMEM;
	a->key = key;
	a->wake_pipe[0] = a->wake_pipe[1] = -1;
	a->ready_fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	a->listen_fd = transport_tcp_listen(addr);
	if (a->listen_fd < 0) {
		ret = a->listen_fd;
		goto out;
	}
	a->ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->ready_fd < 0 || pipe2(a->wake_pipe, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&a->thread, NULL, acceptor_thread, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto out;
	pthread_setname_np(a->thread, "repl-accept");
	*out = a;
	return 0;
out:
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	if (a->ready_fd >= 0)
		close(a->ready_fd);
	if (a->wake_pipe[0] >= 0) {
		close(a->wake_pipe[0]);
		close(a->wake_pipe[1]);
	}
	free(a);
	return ret;
}

int repl_accept_fd(struct repl_acceptor *a)
{
	return a->ready_fd;
}

int repl_accept_take(struct repl_acceptor *a, struct repl_accepted *out)
{
	uint64_t n;
	int ret = -EAGAIN;

	pthread_mutex_lock(&a->lock);
	if (a->queued) {
		*out = a->queue[0];
		memmove(a->queue, a->queue + 1,
			(size_t)(a->queued - 1) * sizeof(a->queue[0]));
		a->queued--;
		ret = 0;
	}
	/* Re-arm the eventfd only while links remain. */
	if (!a->queued && read(a->ready_fd, &n, sizeof(n)) < 0 &&
	    errno != EAGAIN)
		log_debug("replication: accept drain: %s", strerror(errno));
	pthread_mutex_unlock(&a->lock);
	return ret;
}

void repl_accept_stats(struct repl_acceptor *a, struct repl_accept_stats *st)
{
	pthread_mutex_lock(&a->lock);
	*st = a->stats;
	pthread_mutex_unlock(&a->lock);
}

void repl_accept_stop(struct repl_acceptor *a)
{
	if (!a)
		return;
	if (write(a->wake_pipe[1], "x", 1) < 0)
		log_debug("replication: accept stop: %s", strerror(errno));
	pthread_join(a->thread, NULL);
	for (int i = 0; i < a->queued; i++)
		a->queue[i].link->ops->close(a->queue[i].link);
	close(a->listen_fd);
	close(a->ready_fd);
	close(a->wake_pipe[0]);
	close(a->wake_pipe[1]);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
