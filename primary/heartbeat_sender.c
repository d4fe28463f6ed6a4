/* SPDX-License-Identifier: MIT */
#include "primary/heartbeat_sender.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/heartbeat.h"
#include "common/log.h"
#include "common/transport.h"
#include "vmm/vm_stats.h"

static bool stopping(struct heartbeat_sender *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

/* One datagram to each destination (any thread: sendto is atomic). */
static void send_round(struct heartbeat_sender *s)
{
	struct heartbeat_msg m = {
	    .session = s->cfg.session,
	    .seq = __atomic_add_fetch(&s->seq, 1, __ATOMIC_RELAXED),
	    .released_after =
		__atomic_load_n(&s->released_after, __ATOMIC_ACQUIRE),
	};
	uint8_t buf[HEARTBEAT_MAX_BYTES];
	ssize_t len = heartbeat_build(&m, s->cfg.key, buf, sizeof(buf));

	if (len < 0)
		return;
	for (int i = 0; i < HEARTBEAT_DESTS; i++) {
		if (!s->to_on[i])
			continue;
		if (sendto(s->fd, buf, (size_t)len, MSG_DONTWAIT,
			   (const struct sockaddr *)&s->to[i],
			   sizeof(s->to[i])) == len)
			stat_inc(s->stats.sent);
		else
			stat_inc(s->stats.send_errors);
	}
}

static void *sender_main(void *arg)
{
	struct heartbeat_sender *s = arg;
	uint64_t period = (uint64_t)s->cfg.interval_ms * 1000000u;
	uint64_t next = clock_mono_ns(), last = 0;
	int ret = heartbeat_realtime(s->cfg.rt_priority);

	stat_set(s->stats.realtime, ret == 0);
	if (ret && ret != -ENOTSUP)
		log_debug("heartbeat: no real-time priority (%s): normal "
			  "scheduling",
			  strerror(-ret));
	while (!stopping(s)) {
		uint64_t now = clock_mono_ns();

		if (last && now - last > stat_read(s->stats.max_period_ns))
			stat_set(s->stats.max_period_ns, now - last);
		last = now;
		send_round(s);
		if (s->cfg.tick)
			s->cfg.tick(s->cfg.ctx, now);
		/* After a stall, beat again at once, then on the period. */
		next += period;
		if (next < now)
			next = now + period;
		clock_sleep_until(next);
	}
	return NULL;
}

int heartbeat_sender_start(struct heartbeat_sender *s,
			   const struct heartbeat_sender_config *cfg)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->fd = -1;
	if (!cfg->interval_ms)
		return -EINVAL;
	for (int i = 0; i < HEARTBEAT_DESTS; i++) {
		if (!cfg->dest[i])
			continue;
		ret = transport_parse_addr(cfg->dest[i], &s->to[i]);
		if (ret)
			return ret;
		s->to_on[i] = true;
	}
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	pthread_mutex_init(&s->lock, NULL);
	s->running = s->started = true;
	ret = -pthread_create(&s->thread, NULL, sender_main, s);
	if (ret) {
		s->running = s->started = false;
		close(s->fd);
		s->fd = -1;
		return ret;
	}
	pthread_setname_np(s->thread, "heartbeat-tx");
	return 0;
}

void heartbeat_sender_released(struct heartbeat_sender *s, uint64_t epoch)
{
	uint64_t old;

	if (!s->started)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->running && !stopping(s)) {
		/* Only ever forward: an older give-up is covered by a newer
		 * one. */
		old = __atomic_load_n(&s->released_after, __ATOMIC_ACQUIRE);
		while (epoch > old &&
		       !__atomic_compare_exchange_n(
			   &s->released_after, &old, epoch, false,
			   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			;
		send_round(s);
	}
	pthread_mutex_unlock(&s->lock);
}

void heartbeat_sender_stop(struct heartbeat_sender *s)
{
	bool was;

	if (!s->started)
		return;
	pthread_mutex_lock(&s->lock);
	was = s->running;
	s->running = false;
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->lock);
	if (!was)
		return;
	/* The lock outlives the thread: a late give-up finds it stopped. */
	pthread_join(s->thread, NULL);
	close(s->fd);
	s->fd = -1;
}
