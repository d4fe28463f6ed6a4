/* SPDX-License-Identifier: MIT */
#include "migration/migrate_link.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/repl_link.h"
#include "common/secure_transport.h"
#include "common/transport.h"
#include "vmm/vm.h"

#define CONNECT_TIMEOUT_MS 2000
/* The watchdog's tick; a heartbeat goes out when nothing else did for
 * HEARTBEAT_NS (the destination gives up on a silent source). */
#define WATCH_MS     50
#define HEARTBEAT_NS 100000000ull
/* A cancel that cannot get through a blocked send breaks the link. */
#define STUCK_SEND_NS 1000000000ull
#define RECV_CAP      (64 * 1024)

bool mlink_cancelled(struct migration *m)
{
	return __atomic_load_n(&m->cancel, __ATOMIC_ACQUIRE) != 0;
}

int mlink_send(struct migration *m, const struct ckpt_buf *buf, bool limited)
{
	int ret;

	if (mlink_cancelled(m) && limited)
		return -ECANCELED;
	__atomic_store_n(&m->send_started_ns, clock_mono_ns(),
			 __ATOMIC_RELEASE);
	if (limited)
		m->rep->rate_waited_ns += rate_limit_wait(&m->rate, buf->len);
	pthread_mutex_lock(&m->send_lock);
	ret = m->link->ops->send(m->link, buf->data, buf->len);
	pthread_mutex_unlock(&m->send_lock);
	__atomic_store_n(&m->send_started_ns, 0, __ATOMIC_RELEASE);
	if (ret)
		return ret;
	__atomic_store_n(&m->last_send_ns, clock_mono_ns(), __ATOMIC_RELAXED);
	m->rep->bytes_sent += buf->len;
	return 0;
}

int mlink_signal(struct migration *m, enum repl_msg_type type, uint64_t epoch)
{
	struct ckpt_buf buf;
	int ret;

	ckpt_buf_init(&buf);
	ret = repl_encode_signal(&buf, type, epoch);
	if (!ret)
		ret = mlink_send(m, &buf, false);
	ckpt_buf_free(&buf);
	return ret;
}

int mlink_cancel(struct migration *m, int code, const char *why)
{
	struct ckpt_buf buf;
	int ret;

	ckpt_buf_init(&buf);
	ret = repl_encode_cancel(&buf, (uint32_t)code, why);
	if (!ret)
		ret = mlink_send(m, &buf, false);
	ckpt_buf_free(&buf);
	return ret;
}

/* Watchdog thread, m->lock held. */
static int on_message(void *ctx, const struct ckpt_msg *msg)
{
	struct migration *m = ctx;

	switch (msg->header.type) {
	case REPL_MSG_PROFILE_OK:
		m->profile_ok = true;
		break;
	case REPL_MSG_ACK:
		m->acked_epoch = msg->header.epoch;
		break;
	case REPL_MSG_CANCEL:
		if (repl_decode_cancel(msg, &m->remote_cancel)) {
			m->remote_cancel.code = EPROTO;
			snprintf(m->remote_cancel.reason,
				 sizeof(m->remote_cancel.reason),
				 "an unreadable CANCEL");
		}
		m->remote_cancelled = true;
		break;
	case REPL_MSG_HANDOVER_READY:
		if (msg->header.epoch == m->epoch)
			m->ready = true;
		break;
	case REPL_MSG_HANDOVER_ABORT:
		m->aborted = true;
		break;
	case REPL_MSG_DONE:
		if (repl_decode_done(msg, &m->done_msg) == 0)
			m->done = true;
		break;
	default:
		return 0; /* unknown: ignore (a newer destination) */
	}
	pthread_cond_broadcast(&m->cond);
	return 0;
}

static void link_closed(struct migration *m, const char *why)
{
	pthread_mutex_lock(&m->lock);
	if (!m->closed) {
		m->closed = true;
		snprintf(m->link_error, sizeof(m->link_error), "%s", why);
	}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/* Read what is there; false once the link is gone. */
static bool receive(struct migration *m, struct ckpt_decoder *dec, uint8_t *buf)
{
	ssize_t n = m->link->ops->recv(m->link, buf, RECV_CAP);
	int ret;

	if (n == -EINTR || n == -EAGAIN)
		return true;
	if (n <= 0) {
		link_closed(m, n == 0 ? "the destination closed the link"
				      : strerror((int)-n));
		return false;
	}
	pthread_mutex_lock(&m->lock);
	ret = ckpt_decoder_feed_all(dec, buf, (size_t)n, on_message, m);
	pthread_mutex_unlock(&m->lock);
	if (ret)
		link_closed(m, "garbage from the destination");
	return ret == 0;
}

/* Reasons to stop that nobody else notices. */
static void watch(struct migration *m, uint64_t now)
{
	uint64_t sending;

	if (__atomic_load_n(&m->cutover, __ATOMIC_ACQUIRE) == 0) {
		if (m->deadline_ns && now >= m->deadline_ns)
			migrate_cancel(m, ETIMEDOUT,
				       "--timeout: the migration did not "
				       "reach its cutover in time");
		if (m->p.client_gone && m->p.client_gone(m->p.ctx))
			migrate_cancel(m, ECANCELED,
				       "the client that asked for the "
				       "migration went away (Ctrl-C?)");
	}
	if (vm_stop_requested(m->vm))
		migrate_cancel(m, ECANCELED, "the VM is stopping here");
	sending = __atomic_load_n(&m->send_started_ns, __ATOMIC_ACQUIRE);
	if (mlink_cancelled(m) && sending && now - sending > STUCK_SEND_NS &&
	    __atomic_load_n(&m->cutover, __ATOMIC_ACQUIRE) < 2) {
		log_warn("migration: a send to the destination is stuck; "
			 "breaking the link to cancel");
		m->link->ops->shutdown(m->link);
	}
	if (now - __atomic_load_n(&m->last_send_ns, __ATOMIC_RELAXED) >
	    HEARTBEAT_NS) {
		struct ckpt_buf buf;

		ckpt_buf_init(&buf);
		if (repl_encode_heartbeat(&buf, 0) == 0 &&
		    pthread_mutex_trylock(&m->send_lock) == 0) {
			if (m->link->ops->send(m->link, buf.data, buf.len) == 0)
				__atomic_store_n(&m->last_send_ns, now,
						 __ATOMIC_RELAXED);
			pthread_mutex_unlock(&m->send_lock);
		}
		ckpt_buf_free(&buf);
	}
}

static void *watchdog_main(void *arg)
{
	struct migration *m = arg;
	uint8_t *buf = malloc(RECV_CAP);
	struct ckpt_decoder dec;
	bool open = buf != NULL;

	if (!buf)
		link_closed(m, "out of memory");
	ckpt_decoder_init(&dec);
	while (!__atomic_load_n(&m->stop_watchdog, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = {.fd = m->link->ops->fd(m->link),
				     .events = POLLIN};

		if (open && poll(&pfd, 1, WATCH_MS) > 0 && pfd.revents)
			open = receive(m, &dec, buf);
		else if (!open)
			clock_sleep_until(clock_mono_ns() +
					  WATCH_MS * 1000000ull);
		watch(m, clock_mono_ns());
	}
	ckpt_decoder_free(&dec);
	free(buf);
	return NULL;
}

int mlink_open(struct migration *m)
{
	struct repl_hello hello = {
	    .version = REPL_VERSION,
	    .mode = REPL_MODE_MIGRATE,
	    .session = clock_real_ns() ^ ((uint64_t)(uintptr_t)m << 12),
	    .mem_size = m->vm->mem_size,
	};
	int ret;

	ret =
	    repl_link_connect_as(m->p.dest, m->p.key, SECURE_CONTEXT_MIGRATION,
				 CONNECT_TIMEOUT_MS, &hello, &m->link);
	if (ret) {
		snprintf(m->link_error, sizeof(m->link_error),
			 "cannot reach rrvm incoming at %s: %s%s", m->p.dest,
			 strerror(-ret),
			 ret == -EACCES || ret == -EPROTO
			     ? " (not the same key, or not a migration "
			       "destination)"
			     : "");
		return ret;
	}
	__atomic_store_n(&m->last_send_ns, clock_mono_ns(), __ATOMIC_RELAXED);
	ret = -pthread_create(&m->watchdog, NULL, watchdog_main, m);
	if (ret) {
		m->link->ops->close(m->link);
		m->link = NULL;
		snprintf(m->link_error, sizeof(m->link_error),
			 "cannot start the watchdog: %s", strerror(-ret));
		return ret;
	}
	pthread_setname_np(m->watchdog, "migrate-watch");
	m->watchdog_running = true;
	log_info("migration: connected to %s (%s)", m->link->peer,
		 repl_link_security(m->p.key));
	return 0;
}

void mlink_close(struct migration *m)
{
	__atomic_store_n(&m->stop_watchdog, 1, __ATOMIC_RELEASE);
	if (m->watchdog_running)
		pthread_join(m->watchdog, NULL);
	m->watchdog_running = false;
	if (m->link)
		m->link->ops->close(m->link);
	m->link = NULL;
}

int mlink_wait(struct migration *m, bool (*done)(const struct migration *m),
	       uint64_t timeout_ns, bool cancellable)
{
	uint64_t until = clock_mono_ns() + timeout_ns;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		uint64_t now = clock_mono_ns(), wake;
		struct timespec ts;

		if (done(m))
			break;
		/* A local cancel first: it may be what broke the link. */
		if (cancellable && mlink_cancelled(m)) {
			ret = -ECANCELED;
			break;
		}
		if (m->closed || m->remote_cancelled) {
			ret = -ECONNRESET;
			break;
		}
		if (now >= until) {
			ret = -ETIMEDOUT;
			break;
		}
		/* Wake at least every tick: a local cancel does not
		 * signal the condition. */
		wake = clock_real_ns() + (until - now < WATCH_MS * 1000000ull
					      ? until - now
					      : WATCH_MS * 1000000ull);
		ts.tv_sec = (time_t)(wake / 1000000000u);
		ts.tv_nsec = (long)(wake % 1000000000u);
		pthread_cond_timedwait(&m->cond, &m->lock, &ts);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}
