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

int mlink_send_on(struct migrate_channel *c, const struct ckpt_buf *buf,
		  bool limited)
{
	struct migration *m = c->m;
	int ret;

	if (mlink_cancelled(m) && limited)
		return -ECANCELED;
	__atomic_store_n(&c->send_started_ns, clock_mono_ns(),
			 __ATOMIC_RELEASE);
	if (limited)
		__atomic_add_fetch(&m->rep->rate_waited_ns,
				   rate_limit_wait(&m->rate, buf->len),
				   __ATOMIC_RELAXED);
	pthread_mutex_lock(&c->send_lock);
	ret = c->link->ops->send(c->link, buf->data, buf->len);
	pthread_mutex_unlock(&c->send_lock);
	__atomic_store_n(&c->send_started_ns, 0, __ATOMIC_RELEASE);
	if (ret)
		return ret;
	__atomic_store_n(&c->last_send_ns, clock_mono_ns(), __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->bytes_sent, buf->len, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->rep->bytes_sent, buf->len, __ATOMIC_RELAXED);
	return 0;
}

int mlink_send(struct migration *m, const struct ckpt_buf *buf, bool limited)
{
	return mlink_send_on(&m->chan[0], buf, limited);
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

/* Watchdog thread, m->lock held: what a channel other than 0 may say (a
 * refusal of that link). */
static int on_channel_message(void *ctx, const struct ckpt_msg *msg)
{
	struct migrate_channel *c = ctx;
	struct migration *m = c->m;
	struct repl_cancel cancel;

	if (msg->header.type != REPL_MSG_CANCEL || m->remote_cancelled)
		return 0;
	if (repl_decode_cancel(msg, &cancel))
		snprintf(cancel.reason, sizeof(cancel.reason),
			 "an unreadable CANCEL");
	m->remote_cancel.code = cancel.code ? cancel.code : EPROTO;
	snprintf(m->remote_cancel.reason, sizeof(m->remote_cancel.reason),
		 "channel %u: %.200s", c->index, cancel.reason);
	m->remote_cancelled = true;
	pthread_cond_broadcast(&m->cond);
	return 0;
}

/* Watchdog thread, m->lock held. */
static int on_message(void *ctx, const struct ckpt_msg *msg)
{
	struct migrate_channel *c = ctx;
	struct migration *m = c->m;

	if (c->index)
		return on_channel_message(ctx, msg);
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

/*
 * A channel's link closed or broke. Channel 0's always counts; another's
 * only during pre-copy: from the cutover on it carries nothing, and after
 * GO the destination closes it as it takes over (which must not look like
 * a failure: the source would resume a VM that runs there).
 */
static void channel_closed(struct migrate_channel *c, const char *why)
{
	char what[160];

	if (!c->index) {
		link_closed(c->m, why);
		return;
	}
	if (__atomic_load_n(&c->m->cutover, __ATOMIC_ACQUIRE))
		return;
	snprintf(what, sizeof(what), "channel %u: %s", c->index, why);
	link_closed(c->m, what);
}

/* Read what is there; false once the link is gone. */
static bool receive(struct migrate_channel *c, struct ckpt_decoder *dec,
		    uint8_t *buf)
{
	struct migration *m = c->m;
	ssize_t n = c->link->ops->recv(c->link, buf, RECV_CAP);
	int ret;

	if (n == -EINTR || n == -EAGAIN)
		return true;
	if (n <= 0) {
		channel_closed(c, n == 0 ? "the destination closed the link"
					 : strerror((int)-n));
		return false;
	}
	pthread_mutex_lock(&m->lock);
	ret = ckpt_decoder_feed_all(dec, buf, (size_t)n, on_message, c);
	pthread_mutex_unlock(&m->lock);
	if (ret)
		channel_closed(c, "garbage from the destination");
	return ret == 0;
}

/* A heartbeat on a channel nothing went out on for a while (the
 * destination gives up on a silent channel). */
static void heartbeat(struct migrate_channel *c, uint64_t now)
{
	struct ckpt_buf buf;

	if (now - __atomic_load_n(&c->last_send_ns, __ATOMIC_RELAXED) <=
	    HEARTBEAT_NS)
		return;
	ckpt_buf_init(&buf);
	if (repl_encode_heartbeat(&buf, 0) == 0 &&
	    pthread_mutex_trylock(&c->send_lock) == 0) {
		if (c->link->ops->send(c->link, buf.data, buf.len) == 0)
			__atomic_store_n(&c->last_send_ns, now,
					 __ATOMIC_RELAXED);
		pthread_mutex_unlock(&c->send_lock);
	}
	ckpt_buf_free(&buf);
}

/* Reasons to stop that nobody else notices. */
static void watch(struct migration *m, uint64_t now)
{
	unsigned open = __atomic_load_n(&m->channels_open, __ATOMIC_ACQUIRE);

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
	for (unsigned i = 0; i < open; i++) {
		struct migrate_channel *c = &m->chan[i];
		uint64_t sending =
		    __atomic_load_n(&c->send_started_ns, __ATOMIC_ACQUIRE);

		if (mlink_cancelled(m) && sending &&
		    now - sending > STUCK_SEND_NS &&
		    __atomic_load_n(&m->cutover, __ATOMIC_ACQUIRE) < 2) {
			log_warn("migration: a send to the destination is "
				 "stuck (channel %u); breaking the link to "
				 "cancel",
				 i);
			c->link->ops->shutdown(c->link);
		}
		heartbeat(c, now);
	}
}

static void *watchdog_main(void *arg)
{
	struct migration *m = arg;
	uint8_t *buf = malloc(RECV_CAP);
	struct ckpt_decoder dec[REPL_MAX_CHANNELS];
	bool open[REPL_MAX_CHANNELS];

	if (!buf)
		link_closed(m, "out of memory");
	for (unsigned i = 0; i < REPL_MAX_CHANNELS; i++) {
		ckpt_decoder_init(&dec[i]);
		open[i] = buf != NULL;
	}
	while (!__atomic_load_n(&m->stop_watchdog, __ATOMIC_ACQUIRE)) {
		unsigned n =
		    __atomic_load_n(&m->channels_open, __ATOMIC_ACQUIRE);
		struct pollfd pfd[REPL_MAX_CHANNELS];
		unsigned polled = 0, chan_of[REPL_MAX_CHANNELS];

		for (unsigned i = 0; i < n; i++) {
			if (!open[i])
				continue;
			chan_of[polled] = i;
			pfd[polled++] = (struct pollfd){
			    .fd = m->chan[i].link->ops->fd(m->chan[i].link),
			    .events = POLLIN};
		}
		if (polled && poll(pfd, polled, WATCH_MS) > 0) {
			for (unsigned k = 0; k < polled; k++) {
				unsigned i = chan_of[k];

				if (pfd[k].revents)
					open[i] =
					    receive(&m->chan[i], &dec[i], buf);
			}
		} else if (!polled) {
			clock_sleep_until(clock_mono_ns() +
					  WATCH_MS * 1000000ull);
		}
		watch(m, clock_mono_ns());
	}
	for (unsigned i = 0; i < REPL_MAX_CHANNELS; i++)
		ckpt_decoder_free(&dec[i]);
	free(buf);
	return NULL;
}

/* Connect channel i (TCP, authentication, HELLO). */
static int connect_channel(struct migration *m, unsigned i)
{
	struct migrate_channel *c = &m->chan[i];
	struct repl_hello hello = {
	    .version = REPL_VERSION,
	    .mode = REPL_MODE_MIGRATE,
	    .session = m->session,
	    .mem_size = m->vm->mem_size,
	    .channel = (uint16_t)i,
	    .channels = (uint16_t)m->p.channels,
	};
	int ret;

	ret =
	    repl_link_connect_as(m->p.dest, m->p.key, SECURE_CONTEXT_MIGRATION,
				 CONNECT_TIMEOUT_MS, &hello, &c->link);
	if (ret) {
		pthread_mutex_lock(&m->lock);
		snprintf(m->link_error, sizeof(m->link_error),
			 "cannot reach rrvm incoming at %s%s: %s%s", m->p.dest,
			 i ? " for a further channel" : "", strerror(-ret),
			 ret == -EACCES || ret == -EPROTO
			     ? " (not the same key, or not a migration "
			       "destination)"
			     : "");
		pthread_mutex_unlock(&m->lock);
		return ret;
	}
	__atomic_store_n(&c->last_send_ns, clock_mono_ns(), __ATOMIC_RELAXED);
	/* The watchdog reads it from now on. */
	__atomic_store_n(&m->channels_open, i + 1, __ATOMIC_RELEASE);
	return 0;
}

int mlink_open(struct migration *m)
{
	int ret;

	m->session = clock_real_ns() ^ ((uint64_t)(uintptr_t)m << 12);
	ret = connect_channel(m, 0);
	if (ret)
		return ret;
	ret = -pthread_create(&m->watchdog, NULL, watchdog_main, m);
	if (ret) {
		snprintf(m->link_error, sizeof(m->link_error),
			 "cannot start the watchdog: %s", strerror(-ret));
		return ret;
	}
	pthread_setname_np(m->watchdog, "migrate-watch");
	m->watchdog_running = true;
	log_info("migration: connected to %s (%s)", m->chan[0].link->peer,
		 repl_link_security(m->p.key));
	return 0;
}

int mlink_open_channels(struct migration *m)
{
	for (unsigned i = 1; i < m->p.channels; i++) {
		int ret = connect_channel(m, i);

		if (ret)
			return ret;
	}
	if (m->p.channels > 1)
		log_info("migration: %u channels to %s", m->p.channels,
			 m->p.dest);
	return 0;
}

bool mlink_open_now(struct migration *m)
{
	bool open;

	pthread_mutex_lock(&m->lock);
	open = m->chan[0].link && !m->closed;
	pthread_mutex_unlock(&m->lock);
	return open;
}

void mlink_close(struct migration *m)
{
	__atomic_store_n(&m->stop_watchdog, 1, __ATOMIC_RELEASE);
	if (m->watchdog_running)
		pthread_join(m->watchdog, NULL);
	m->watchdog_running = false;
	for (unsigned i = 0; i < REPL_MAX_CHANNELS; i++) {
		struct migrate_channel *c = &m->chan[i];

		if (c->link)
			c->link->ops->close(c->link);
		c->link = NULL;
	}
	__atomic_store_n(&m->channels_open, 0, __ATOMIC_RELEASE);
}

void mlink_await_reason(struct migration *m, uint64_t timeout_ns)
{
	uint64_t until = clock_real_ns() + timeout_ns;
	struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u),
			      .tv_nsec = (long)(until % 1000000000u)};

	pthread_mutex_lock(&m->lock);
	while (!m->remote_cancelled &&
	       pthread_cond_timedwait(&m->cond, &m->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&m->lock);
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
