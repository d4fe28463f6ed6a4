/* SPDX-License-Identifier: MIT */
#include "common/repl_link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secure_transport.h"
#include "common/transport.h"
#include "vmm/ckpt_codec.h"

/* A connecting peer must authenticate and say HELLO within this. */
#define REPL_HELLO_TIMEOUT_MS 2000
/* The primary gives a backup this long to answer its handshake. */
#define REPL_CONNECT_HANDSHAKE_MS 1000
/* Links accepted but not yet taken by the daemon. */
#define REPL_ACCEPT_QUEUE 4
/* Connections authenticating or saying HELLO at once; more wait in the
 * listen backlog (the oldest pending one times out first). */
#define REPL_PENDING_MAX 8

const char *repl_link_security(const uint8_t *key)
{
	return key ? "authenticated+encrypted (pre-shared key)"
		   : "UNAUTHENTICATED (--insecure)";
}

/* Primary side: wrap t in the authenticated channel (key given). */
static int secure_connect(struct transport **t, const uint8_t *key,
			  const char *context)
{
	struct secure_config cfg = {
	    .key = key,
	    .role = SECURE_ROLE_INITIATOR,
	    .context = context,
	    .handshake_timeout_ms = REPL_CONNECT_HANDSHAKE_MS,
	};
	char err[200];
	int ret;

	if (!key)
		return 0;
	ret = secure_transport_wrap(*t, &cfg, t, err, sizeof(err));
	if (ret) {
		*t = NULL;
		log_debug("replication: handshake failed: %s", err);
	}
	return ret;
}

int repl_link_connect(const char *addr, const uint8_t *key, int timeout_ms,
		      const struct repl_hello *hello, struct transport **out)
{
	return repl_link_connect_as(addr, key, NULL, timeout_ms, hello, out);
}

int repl_link_connect_as(const char *addr, const uint8_t *key,
			 const char *context, int timeout_ms,
			 const struct repl_hello *hello, struct transport **out)
{
	struct ckpt_buf buf;
	struct transport *t;
	int ret;

	ret = transport_tcp_connect(addr, timeout_ms, &t);
	if (ret)
		return ret;
	ret = secure_connect(&t, key, context);
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

/* A connection on its way in: authenticating, then saying HELLO. */
struct pending_link {
	struct secure_pending *handshake; /* NULL once done (or insecure) */
	struct transport *link; /* set once authenticated */
	char peer[64];
	uint64_t deadline_ns;
	uint8_t hello[sizeof(struct ckpt_msg_header) + 64];
	size_t got, want;
};

struct repl_acceptor {
	int listen_fd;
	int ready_fd; /* eventfd: links queued */
	int wake_pipe[2];
	pthread_t thread;
	const uint8_t *key;
	const char *context; /* secure channel's; NULL: replication */
	struct pending_link pending[REPL_PENDING_MAX];
	int npending;
	pthread_mutex_t lock;
	struct repl_accepted queue[REPL_ACCEPT_QUEUE];
	int queued;
	struct repl_accept_stats stats;
};

static void pending_drop(struct repl_acceptor *a, int i, const char *why)
{
	struct pending_link *p = &a->pending[i];

	log_warn("replication: refused a connection from %s: %s", p->peer, why);
	if (p->handshake)
		secure_pending_abort(p->handshake);
	if (p->link)
		p->link->ops->close(p->link);
	a->pending[i] = a->pending[--a->npending];
	pthread_mutex_lock(&a->lock);
	a->stats.refused++;
	pthread_mutex_unlock(&a->lock);
}

/* The version a HELLO claims (its first payload word), 0 if too short. */
static uint32_t hello_version(const struct ckpt_msg *msg)
{
	const uint8_t *p = msg->payload;

	if (msg->header.type != REPL_MSG_HELLO || msg->header.length < 4)
		return 0;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Authenticated and said HELLO: queue it for the daemon. */
static void pending_ready(struct repl_acceptor *a, int i)
{
	struct pending_link *p = &a->pending[i];
	struct repl_accepted acc = {.link = p->link,
				    .authenticated = a->key != NULL};
	struct ckpt_decoder dec;
	struct ckpt_msg msg;
	uint64_t one = 1;
	size_t used = 0;
	int ret = 0;

	ckpt_decoder_init(&dec);
	if (ckpt_decoder_feed(&dec, p->hello, p->got, &used, &msg) !=
	    CKPT_DECODE_MESSAGE)
		ret = -EPROTO;
	else if (repl_decode_hello(&msg, &acc.hello))
		ret = hello_version(&msg) && hello_version(&msg) != REPL_VERSION
			  ? -EPROTONOSUPPORT
			  : -EPROTO;
	if (ret == -EPROTONOSUPPORT) {
		char why[128];

		snprintf(why, sizeof(why),
			 "HELLO of replication protocol version %u from an "
			 "incompatible rrvm build; this one speaks version %u",
			 hello_version(&msg), REPL_VERSION);
		ckpt_decoder_free(&dec);
		pending_drop(a, i, why);
		return;
	}
	ckpt_decoder_free(&dec);
	if (ret) {
		pending_drop(a, i, "no valid HELLO");
		return;
	}
	pthread_mutex_lock(&a->lock);
	if (a->queued == REPL_ACCEPT_QUEUE) {
		pthread_mutex_unlock(&a->lock);
		pending_drop(a, i, "too many links waiting");
		return;
	}
	a->queue[a->queued++] = acc;
	a->stats.accepted++;
	pthread_mutex_unlock(&a->lock);
	a->pending[i] = a->pending[--a->npending];
	if (write(a->ready_fd, &one, sizeof(one)) < 0)
		log_debug("replication: accept wake: %s", strerror(errno));
}

/*
 * Make progress on pending link i (its fd polled readable, or time
 * passed). The first message must be HELLO; it is read byte-exactly
 * (header, then its payload) so nothing after it is consumed here: the
 * epochs that follow belong to the daemon's decoder.
 */
static void pending_step(struct repl_acceptor *a, int i)
{
	struct pending_link *p = &a->pending[i];
	char err[200];
	int ret;

	if (clock_mono_ns() >= p->deadline_ns) {
		pending_drop(a, i, p->handshake ? "did not authenticate in time"
						: "said no HELLO in time");
		return;
	}
	if (p->handshake) {
		ret = secure_pending_step(p->handshake, &p->link, err,
					  sizeof(err));
		if (ret == -EAGAIN)
			return;
		p->handshake = NULL; /* freed by step, done or failed */
		if (ret) {
			pending_drop(a, i, err);
			return;
		}
	}
	for (;;) {
		ssize_t n = p->link->ops->recv(p->link, p->hello + p->got,
					       p->want - p->got);

		if (n == -EAGAIN || n == -EINTR)
			return;
		if (n <= 0) {
			pending_drop(a, i, n == 0 ? "closed before HELLO"
					   : n == -EBADMSG
					       ? "a record failed authentication"
					       : strerror((int)-n));
			return;
		}
		p->got += (size_t)n;
		if (p->got < p->want)
			continue;
		if (p->want == sizeof(struct ckpt_msg_header)) {
			struct ckpt_msg_header hdr;

			memcpy(&hdr, p->hello, sizeof(hdr));
			if (hdr.type != REPL_MSG_HELLO ||
			    hdr.length > sizeof(p->hello) - sizeof(hdr)) {
				pending_drop(a, i, "no valid HELLO");
				return;
			}
			p->want += hdr.length;
			if (p->got < p->want)
				continue;
		}
		pending_ready(a, i);
		return;
	}
}

static void accept_one(struct repl_acceptor *a)
{
	struct pending_link *p;
	struct transport *t;
	struct secure_config cfg = {
	    .key = a->key,
	    .role = SECURE_ROLE_RESPONDER,
	    .context = a->context,
	    .handshake_timeout_ms = REPL_HELLO_TIMEOUT_MS,
	    .polled = true,
	};
	int fd;

	if (transport_tcp_accept(a->listen_fd, &t))
		return;
	fd = t->ops->fd(t);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (a->npending == REPL_PENDING_MAX)
		pending_drop(a, 0, "too many connections authenticating");
	p = &a->pending[a->npending];
	memset(p, 0, sizeof(*p));
	snprintf(p->peer, sizeof(p->peer), "%s", t->peer);
	p->deadline_ns = clock_mono_ns() + REPL_HELLO_TIMEOUT_MS * 1000000ull;
	p->want = sizeof(struct ckpt_msg_header);
	if (a->key) {
		if (secure_pending_start(t, &cfg, &p->handshake)) {
			pthread_mutex_lock(&a->lock);
			a->stats.refused++;
			pthread_mutex_unlock(&a->lock);
			return; /* t was closed */
		}
	} else {
		p->link = t;
	}
	a->npending++;
	pending_step(a, a->npending - 1);
}

static void *acceptor_thread(void *arg)
{
	struct repl_acceptor *a = arg;
	struct pollfd pfd[2 + REPL_PENDING_MAX];

	for (;;) {
		uint64_t now = clock_mono_ns(), next = UINT64_MAX;
		int n = 2, timeout;

		pfd[0] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = a->wake_pipe[0], .events = POLLIN};
		for (int i = 0; i < a->npending; i++) {
			struct pending_link *p = &a->pending[i];

			pfd[n++] = (struct pollfd){
			    .fd = p->handshake ? secure_pending_fd(p->handshake)
					       : p->link->ops->fd(p->link),
			    .events = POLLIN};
			if (p->deadline_ns < next)
				next = p->deadline_ns;
		}
		timeout = next == UINT64_MAX ? -1
			  : next <= now	     ? 0
					     : (int)((next - now) / 1000000 + 1);
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		/* Pending links first (indexes shift as they leave). */
		for (int i = n - 3; i >= 0; i--)
			if (pfd[2 + i].revents || clock_mono_ns() >=
						      a->pending[i].deadline_ns)
				pending_step(a, i);
		if (pfd[0].revents & POLLIN)
			accept_one(a);
	}
	while (a->npending)
		pending_drop(a, a->npending - 1, "shutting down");
	return NULL;
}

int repl_accept_start(const char *addr, const uint8_t *key,
		      struct repl_acceptor **out)
{
	return repl_accept_start_as(addr, key, NULL, out);
}

int repl_accept_start_as(const char *addr, const uint8_t *key,
			 const char *context, struct repl_acceptor **out)
{
	struct repl_acceptor *a = calloc(1, sizeof(*a));
	sigset_t all, old;
	int ret;

	if (!a)
		return -ENOMEM;
	a->key = key;
	a->context = context;
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
