/* SPDX-License-Identifier: MIT */
#include "backup/liveness.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/heartbeat.h"
#include "common/log.h"
#include "common/report.h"

/*
 * The receive thread wakes at least every interval; waking later than
 * that plus this means the host (or this process) did not run meanwhile.
 */
#define LOCAL_STALL_SLACK_NS 10000000ull
/* The receive thread's period when no heartbeat interval is configured. */
#define LIVENESS_IDLE_POLL_MS 5
/* A full batch read means a flood (far more than a primary sends): the
 * thread gives the CPU back this long before reading on. */
#define LIVENESS_FLOOD_BACKOFF_US 1000

static const char *const path_name[LIVENESS_PATHS] = {"replication", "lan"};

static uint64_t poll_period_ns(const struct liveness *l)
{
	return (uint64_t)(l->cfg.interval_ms ? l->cfg.interval_ms
					     : LIVENESS_IDLE_POLL_MS) *
	       1000000u;
}

/* Caller holds the lock. */
static void tick(struct liveness *l, uint64_t now)
{
	uint64_t gap = l->last_tick_ns ? now - l->last_tick_ns : 0;

	if (l->last_tick_ns && now > l->last_tick_ns &&
	    gap > poll_period_ns(l) + LOCAL_STALL_SLACK_NS) {
		l->local_stalls++;
		l->local_stall_at_ns = now;
		if (gap > l->local_stall_max_ns)
			l->local_stall_max_ns = gap;
		for (int i = 0; i < LIVENESS_PATHS; i++)
			detector_local_stall(&l->path[i].det, now);
		log_debug("liveness: this host did not run for %.1f ms; "
			  "silence clocks restarted",
			  gap / 1e6);
	}
	if (now > l->last_tick_ns)
		l->last_tick_ns = now;
}

/* Caller holds the lock. */
static void accept_beat(struct liveness *l, struct liveness_path_state *p,
			const struct heartbeat_msg *m, uint64_t now)
{
	if (!l->session || m->session != l->session) {
		p->other_session++;
		return;
	}
	if (p->last_seq && m->seq <= p->last_seq) {
		p->reordered++; /* late or replayed: proves nothing new */
		return;
	}
	if (p->last_seq && m->seq > p->last_seq + 1)
		p->lost += m->seq - p->last_seq - 1;
	p->last_seq = m->seq;
	p->received++;
	detector_heard(&p->det, now);
	if (m->released_after > l->released_after)
		l->released_after = m->released_after;
}

/*
 * Read the queued datagrams of one path, at most a batch: a flood on the
 * port must not keep a real-time thread reading (the rest waits for the
 * next wake-up). Caller holds the lock.
 */
#define READ_BATCH 64

static bool read_path(struct liveness *l, struct liveness_path_state *p)
{
	uint8_t buf[HEARTBEAT_MAX_BYTES];

	for (int i = 0; i < READ_BATCH; i++) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
		struct heartbeat_msg m;

		if (n < 0)
			return false;
		if (heartbeat_check(buf, (size_t)n, l->cfg.key, &m)) {
			p->rejected++;
			continue;
		}
		accept_beat(l, p, &m, clock_mono_ns());
	}
	return true;
}

/* Caller holds the lock. True if a batch was full (more is queued). */
static bool drain_locked(struct liveness *l)
{
	bool full = false;

	tick(l, clock_mono_ns());
	for (int i = 0; i < LIVENESS_PATHS; i++)
		if (l->path[i].fd >= 0 && read_path(l, &l->path[i]))
			full = true;
	return full;
}

static bool drain(struct liveness *l)
{
	bool full;

	pthread_mutex_lock(&l->lock);
	full = drain_locked(l);
	pthread_mutex_unlock(&l->lock);
	return full;
}

void liveness_drain(struct liveness *l)
{
	drain(l);
}

static void *receive_main(void *arg)
{
	struct liveness *l = arg;
	int timeout = (int)(poll_period_ns(l) / 1000000u);
	int ret = heartbeat_realtime(l->cfg.rt_priority);

	pthread_mutex_lock(&l->lock);
	l->realtime = ret == 0;
	pthread_mutex_unlock(&l->lock);
	if (ret && ret != -ENOTSUP)
		log_debug("liveness: no real-time priority (%s): normal "
			  "scheduling",
			  strerror(-ret));
	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd[LIVENESS_PATHS + 1];
		nfds_t n = 0;

		pfd[n++] = (struct pollfd){.fd = l->wake_fd, .events = POLLIN};
		for (int i = 0; i < LIVENESS_PATHS; i++)
			if (l->path[i].fd >= 0)
				pfd[n++] = (struct pollfd){.fd = l->path[i].fd,
							   .events = POLLIN};
		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			break;
		if (drain(l))
			usleep(LIVENESS_FLOOD_BACKOFF_US);
	}
	return NULL;
}

int liveness_start(struct liveness *l, const struct liveness_config *cfg)
{
	const char *addr[LIVENESS_PATHS] = {cfg->rep_listen, cfg->lan_listen};
	int ret = 0;

	memset(l, 0, sizeof(*l));
	l->cfg = *cfg;
	l->wake_fd = -1;
	pthread_mutex_init(&l->lock, NULL);
	for (int i = 0; i < LIVENESS_PATHS; i++) {
		l->path[i].fd = -1;
		detector_init(&l->path[i].det, &cfg->detect);
	}
	for (int i = 0; i < LIVENESS_PATHS; i++) {
		if (!addr[i])
			continue;
		l->path[i].fd = heartbeat_socket_bind(addr[i]);
		if (l->path[i].fd < 0) {
			ret = l->path[i].fd;
			log_error(
			    "liveness: cannot listen for heartbeats on %s "
			    "(%s path): %s",
			    addr[i], path_name[i], strerror(-ret));
			goto out;
		}
	}
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake_fd < 0) {
		ret = -errno;
		goto out;
	}
	l->last_tick_ns = clock_mono_ns();
	ret = -pthread_create(&l->thread, NULL, receive_main, l);
	if (ret)
		goto out;
	pthread_setname_np(l->thread, "heartbeat-rx");
	l->running = true;
	return 0;
out:
	liveness_stop(l);
	return ret;
}

void liveness_stop(struct liveness *l)
{
	uint64_t one = 1;

	__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
	if (l->running) {
		if (write(l->wake_fd, &one, sizeof(one)) < 0)
			log_debug("liveness: wake: %s", strerror(errno));
		pthread_join(l->thread, NULL);
	}
	l->running = false;
	for (int i = 0; i < LIVENESS_PATHS; i++) {
		if (l->path[i].fd >= 0)
			close(l->path[i].fd);
		l->path[i].fd = -1;
	}
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	l->wake_fd = -1;
	pthread_mutex_destroy(&l->lock);
}

void liveness_set_session(struct liveness *l, uint64_t session)
{
	pthread_mutex_lock(&l->lock);
	if (session != l->session) {
		l->session = session;
		l->released_after = 0;
		l->link_seen_ns = l->link_since_ns = 0;
		for (int i = 0; i < LIVENESS_PATHS; i++) {
			detector_reset(&l->path[i].det);
			l->path[i].last_seq = 0;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

void liveness_judge(struct liveness *l, uint64_t link_last_ns, uint64_t now,
		    struct liveness_verdict *v)
{
	struct detector *rep = &l->path[LIVENESS_REP].det;
	struct detector *lan = &l->path[LIVENESS_LAN].det;
	uint64_t rep_deadline, lan_deadline;

	pthread_mutex_lock(&l->lock);
	drain_locked(l);
	if (link_last_ns != l->link_seen_ns) {
		if (link_last_ns > l->link_seen_ns + detector_threshold_ns(rep))
			l->link_since_ns = link_last_ns;
		l->link_seen_ns = link_last_ns;
	}
	/*
	 * The link kept speaking, without a break, past the moment the
	 * datagrams stopped: their path is broken, not the primary. Its
	 * learned threshold says nothing about the link's own gaps: back to
	 * the cap until the datagrams return. (A link and datagrams coming
	 * back together after an outage are not that.)
	 */
	if (rep->heard_ns && l->link_since_ns &&
	    link_last_ns > rep->clock_ns + detector_threshold_ns(rep) &&
	    l->link_since_ns <= rep->clock_ns + detector_threshold_ns(rep)) {
		detector_reset(rep);
		l->rep_relearned++;
		log_warn("liveness: heartbeats on the replication path stopped "
			 "while the link carries data; the link alone decides "
			 "(--detect-timeout) until they return");
	}
	rep_deadline = detector_deadline_with(rep, link_last_ns);
	lan_deadline = detector_deadline_ns(lan);
	memset(v, 0, sizeof(*v));
	v->lan = l->path[LIVENESS_LAN].fd >= 0;
	v->lan_silent = v->lan && !(lan_deadline && now <= lan_deadline);
	v->threshold_ns = detector_threshold_ns(rep);
	v->last_heard_ns = link_last_ns;
	for (int i = 0; i < LIVENESS_PATHS; i++)
		if (l->path[i].det.heard_ns > v->last_heard_ns)
			v->last_heard_ns = l->path[i].det.heard_ns;
	if (rep_deadline && now <= rep_deadline) {
		v->state = LIVENESS_ALIVE;
		v->next_ns = rep_deadline;
		if (v->lan && detector_expired(lan, now))
			detector_path_outage(lan);
	} else if (v->lan && lan_deadline && now <= lan_deadline) {
		v->state = LIVENESS_REP_SILENT;
		v->next_ns = lan_deadline;
		detector_path_outage(rep);
	} else {
		v->state = LIVENESS_SILENT;
		v->next_ns = now;
	}
	pthread_mutex_unlock(&l->lock);
}

uint64_t liveness_released_after(struct liveness *l)
{
	uint64_t r;

	pthread_mutex_lock(&l->lock);
	r = l->released_after;
	pthread_mutex_unlock(&l->lock);
	return r;
}

bool liveness_heard_since(struct liveness *l, uint64_t t)
{
	bool yes = false;

	pthread_mutex_lock(&l->lock);
	drain_locked(l);
	for (int i = 0; i < LIVENESS_PATHS; i++)
		if (l->path[i].det.heard_ns >= t)
			yes = true;
	pthread_mutex_unlock(&l->lock);
	return yes;
}

bool liveness_stalled_since(struct liveness *l, uint64_t t)
{
	bool yes;

	pthread_mutex_lock(&l->lock);
	drain_locked(l);
	yes = l->local_stall_at_ns && l->local_stall_at_ns >= t;
	pthread_mutex_unlock(&l->lock);
	return yes;
}

static double ms_since(uint64_t t, uint64_t now)
{
	return t && now > t ? (double)(now - t) / 1e6 : -1;
}

static void report_path(struct liveness_path_state *p, uint64_t now,
			struct report *r)
{
	uint64_t mean, sigma;

	detector_stats(&p->det, &mean, &sigma);
	report_bool(r, "learned", "learned", detector_learned(&p->det));
	report_f(r, "threshold_ms", "threshold", 1,
		 detector_threshold_ns(&p->det) / 1e6, "ms");
	report_f(r, "mean_ms", "inter-arrival mean", 2, mean / 1e6, "ms");
	report_f(r, "sigma_ms", "inter-arrival sigma", 2, sigma / 1e6, "ms");
	report_f(r, "last_heard_ms", "last heard", 1,
		 ms_since(p->det.heard_ns, now), "ms ago");
	report_f(r, "max_silence_ms", "longest silence", 1,
		 p->det.max_gap_ns / 1e6, "ms");
	report_u64(r, "received", "received", p->received);
	report_u64(r, "lost", "lost", p->lost);
	report_u64(r, "rejected", "rejected", p->rejected);
	report_u64(r, "other_session", "other session", p->other_session);
}

void liveness_report(struct liveness *l, uint64_t link_last_ns,
		     struct report *r)
{
	uint64_t now = clock_mono_ns();
	struct liveness_verdict v;
	const char *state;

	liveness_judge(l, link_last_ns, now, &v);
	state = v.state == LIVENESS_ALIVE	 ? "alive"
		: v.state == LIVENESS_REP_SILENT ? "replication-path-silent"
						 : "silent";
	pthread_mutex_lock(&l->lock);
	report_str(r, "primary", "primary", state);
	report_u64(r, "heartbeat_ms", "heartbeat expected", l->cfg.interval_ms);
	report_bool(r, "realtime", "real-time receiver", l->realtime);
	report_f(r, "floor_ms", "threshold floor", 1,
		 l->cfg.detect.floor_ns / 1e6, "ms");
	report_u64(r, "local_stalls", "local stalls", l->local_stalls);
	report_f(r, "local_stall_max_ms", "longest local stall", 1,
		 l->local_stall_max_ns / 1e6, "ms");
	report_u64(r, "released_after", "primary unprotected after epoch",
		   l->released_after);
	report_u64(r, "rep_relearned", "replication heartbeats lost",
		   l->rep_relearned);
	for (int i = 0; i < LIVENESS_PATHS; i++) {
		report_open(r, path_name[i], path_name[i]);
		report_bool(r, "configured", "configured", l->path[i].fd >= 0);
		if (l->path[i].fd >= 0)
			report_path(&l->path[i], now, r);
		report_close(r);
	}
	pthread_mutex_unlock(&l->lock);
}
