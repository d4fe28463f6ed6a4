/* SPDX-License-Identifier: MIT */
#include "backup/reverse.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/repl_protocol.h"
#include "common/report.h"
#include "vmm/vm_stats.h"

#define CAPTURE_BATCH 64

int reverse_topology_parse(const char *s, enum reverse_topology *t)
{
	if (strcmp(s, "inline") == 0)
		*t = TOPOLOGY_INLINE;
	else if (strcmp(s, "mirror") == 0)
		*t = TOPOLOGY_MIRROR;
	else
		return -EINVAL;
	return 0;
}

const char *reverse_topology_name(enum reverse_topology t)
{
	return t == TOPOLOGY_INLINE ? "inline" :
	       t == TOPOLOGY_MIRROR ? "mirror" :
				      "none";
}

/*
 * Capture thread, one frame: log first, then (inline) forward. The order is
 * the whole point of the inline topology: the primary can never have been
 * given a frame the log lacks.
 */
static void on_frame(void *arg, const struct capture_frame *f)
{
	struct reverse *r = arg;
	struct replay_stamp ts = { 0, f->ts_ns };
	int ret;

	pthread_mutex_lock(&r->lock);
	ret = replay_log_append(&r->log, f->data, f->len, &ts);
	if (ret && __atomic_load_n(&r->stale, __ATOMIC_RELAXED)) {
		replay_log_clear(&r->log);
		stat_inc(r->stats.stale_clears);
		ret = replay_log_append(&r->log, f->data, f->len, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	stat_inc(r->stats.captured);
	if (ret) {
		/* Full: inline holds back (drops) until a commit frees room;
		 * mirror can only count what it will not be able to replay. */
		stat_inc(r->stats.overflow_dropped);
		return;
	}
	if (r->cfg.topology == TOPOLOGY_INLINE) {
		/* Logged already: a full TX queue must not lose it. */
		for (int tries = 0; tries < 100; tries++) {
			ret = capture_inject(r->cap, f->data, f->len);
			if (ret != -EAGAIN && ret != -ENOBUFS)
				break;
			usleep(20);
		}
		if (ret == 0)
			stat_inc(r->stats.forwarded);
		else
			stat_inc(r->stats.forward_errors);
	}
}

/* Tell a commit waiting in drain_capture that the ring was emptied. */
static void drain_answer(struct reverse *r, uint64_t asked)
{
	pthread_mutex_lock(&r->lock);
	if (asked > r->drain_done) {
		r->drain_done = asked;
		pthread_cond_broadcast(&r->drained);
	}
	pthread_mutex_unlock(&r->lock);
}

/*
 * Poll without sleeping until spin_ns pass with no frame. A commit's drain
 * request is answered from here too (each poll empties the ring), or the
 * commit would wait out its bound while traffic keeps the spin going.
 */
static void capture_spin(struct reverse *r, uint64_t spin_ns)
{
	uint64_t until = clock_mono_ns() + spin_ns;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) && clock_mono_ns() < until) {
		uint64_t asked = __atomic_load_n(&r->drain_asked,
						 __ATOMIC_ACQUIRE);
		int n = capture_poll(r->cap, CAPTURE_BATCH, on_frame, r);

		if (n > 0)
			until = clock_mono_ns() + spin_ns;
		else if (n < 0 && n != -EAGAIN && n != -EINTR)
			return;
		if (n < CAPTURE_BATCH && asked > r->drain_done)
			drain_answer(r, asked);
	}
}

static void *capture_thread(void *arg)
{
	struct reverse *r = arg;
	struct pollfd pfd[3] = {
		{ .fd = capture_fd(r->cap), .events = POLLIN },
		{ .fd = r->wake_fd, .events = POLLIN },
		{ .fd = r->drain_fd, .events = POLLIN },
	};

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		uint64_t asked = 0, v;
		int n;

		if (poll(pfd, 3, 100) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[2].revents && read(r->drain_fd, &v, sizeof(v)) > 0) {
			pthread_mutex_lock(&r->lock);
			asked = r->drain_asked;
			pthread_mutex_unlock(&r->lock);
		}
		do {
			n = capture_poll(r->cap, CAPTURE_BATCH, on_frame, r);
		} while (n == CAPTURE_BATCH && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE));
		if (n > 0 && r->cfg.spin_us)
			capture_spin(r, r->cfg.spin_us * 1000ull);
		if (asked)
			drain_answer(r, asked);
		if (n < 0 && n != -EAGAIN && n != -EINTR) {
			log_error("reverse: capture on %s failed: %s",
				  r->cfg.capture_if, strerror(-n));
			break;
		}
	}
	return NULL;
}

int reverse_start(struct reverse *r, const struct reverse_config *cfg)
{
	struct capture_config cc;
	int ret;

	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->drain_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->drained, NULL);
	ret = replay_log_init(&r->log, cfg->log_bytes, cfg->log_frames);
	if (ret) {
		log_error("reverse: replay log limits %llu bytes / %u frames "
			  "rejected",
			  (unsigned long long)cfg->log_bytes, cfg->log_frames);
		return ret;
	}
	/* Mirror copies travel their own path: see replay_log_set_reorder. */
	if (cfg->topology == TOPOLOGY_MIRROR)
		replay_log_set_reorder(&r->log, REPLAY_LATE_TRIMS);
	ret = replay_gate_init(&r->gate, cfg->guest_ip,
			       REPLAY_GATE_DEFAULT_MAX_FLOWS);
	if (ret)
		return ret;
	capture_config_init(&cc);
	cc.promisc = true;
	cc.immediate = true;
	cc.guest_ip4 = cfg->guest_ip;
	cc.steal = cfg->topology == TOPOLOGY_INLINE;
	cc.inject_ifname = cfg->topology == TOPOLOGY_INLINE ? cfg->forward_if :
							      NULL;
	ret = capture_open(&r->cap, cfg->backend, cfg->capture_if,
			   cfg->guest_mac, &cc);
	if (ret)
		return ret;
	if (pthread_create(&r->thread, NULL, capture_thread, r)) {
		capture_close(r->cap);
		r->cap = NULL;
		return -EAGAIN;
	}
	r->running = true;
	log_info("reverse: %s topology, capturing on %s with %s%s%s", 
		 reverse_topology_name(cfg->topology), cfg->capture_if,
		 capture_name(r->cap),
		 cfg->topology == TOPOLOGY_INLINE ? ", forwarding to " : "",
		 cfg->topology == TOPOLOGY_INLINE ? cfg->forward_if : "");
	return 0;
}

void reverse_stop_capture(struct reverse *r)
{
	uint64_t one = 1;

	if (r->running) {
		__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
		if (write(r->wake_fd, &one, sizeof(one)) < 0)
			log_debug("reverse: wake: %s", strerror(errno));
		pthread_join(r->thread, NULL);
		r->running = false;
	}
	capture_quiesce(r->cap);
}

void reverse_close_capture(struct reverse *r)
{
	reverse_stop_capture(r);
	capture_close(r->cap);
	r->cap = NULL;
}

void reverse_free(struct reverse *r)
{
	reverse_close_capture(r);
	replay_log_free(&r->log);
	replay_gate_free(&r->gate);
	free(r->digests);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	if (r->drain_fd >= 0)
		close(r->drain_fd);
	r->digests = NULL;
}

int reverse_digests(struct reverse *r, const struct ckpt_msg *msg)
{
	uint32_t count, flags;

	if (repl_decode_digests(msg, &count, &flags))
		return -EPROTO;
	if (count > r->digests_cap) {
		uint64_t *p = realloc(r->digests, count * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->digests = p;
		r->digests_cap = count;
	}
	for (uint32_t i = 0; i < count; i++)
		r->digests[i] = repl_digest_at(msg, i);
	r->ndigests = count;
	r->digests_epoch = msg->header.epoch;
	r->have_digests = true;
	r->digests_incomplete = flags & REPL_DIGESTS_INCOMPLETE;
	return 0;
}

/* Frames the committed guest has seen teach the gate what it had sent. */
static void on_trimmed(void *arg, const struct replay_frame *f,
		       bool delivered)
{
	struct reverse *r = arg;

	if (delivered)
		replay_gate_note_committed(&r->gate, f->data, f->len);
}

/* Wait (briefly) until the capture thread has emptied its ring once. */
static void drain_capture(struct reverse *r)
{
	struct timespec until;
	uint64_t one = 1, ticket;

	if (!r->running)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 5 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	ticket = __atomic_add_fetch(&r->drain_asked, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&r->lock);
	if (write(r->drain_fd, &one, sizeof(one)) < 0)
		return;
	pthread_mutex_lock(&r->lock);
	while (r->drain_done < ticket &&
	       pthread_cond_timedwait(&r->drained, &r->lock, &until) == 0)
		;
	pthread_mutex_unlock(&r->lock);
}

void reverse_set_stale(struct reverse *r, bool stale)
{
	__atomic_store_n(&r->stale, stale, __ATOMIC_RELAXED);
}

void reverse_committed(struct reverse *r, uint64_t epoch)
{
	struct replay_trim_result res;

	if (!r->have_digests || r->digests_epoch != epoch) {
		stat_inc(r->stats.epochs_without_digests);
		log_warn("reverse: epoch %llu committed without frame "
			 "digests: is the primary in reverse mode?",
			 (unsigned long long)epoch);
		return;
	}
	drain_capture(r);
	pthread_mutex_lock(&r->lock);
	replay_log_trim_cb(&r->log, epoch, r->digests, r->ndigests, &res,
			   on_trimmed, r);
	if (r->digests_incomplete) {
		/* The primary lost count: nothing older can be trusted. */
		stat_inc(r->stats.digests_incomplete);
		replay_log_clear(&r->log);
	}
	pthread_mutex_unlock(&r->lock);
	stat_inc(r->stats.epochs_trimmed);
	if (res.missed) {
		struct capture_stats cs = {0};

		if (r->cap)
			capture_stats(r->cap, &cs);
		/* Drops tell a lost burst from one captured too late. */
		log_warn("reverse: epoch %llu: %u frame(s) the primary's VM "
			 "got were never captured (capture gap; %llu kernel "
			 "drops so far)",
			 (unsigned long long)epoch, res.missed,
			 (unsigned long long)cs.drops_kernel);
	}
	r->have_digests = false;
}

void reverse_settle(struct reverse *r, struct replay_trim_result *res)
{
	pthread_mutex_lock(&r->lock);
	replay_log_settle_cb(&r->log, res, on_trimmed, r);
	pthread_mutex_unlock(&r->lock);
	if (res->late || res->missed)
		log_info("reverse: at failover %u late frame(s) matched their "
			 "commit, %u never captured (capture gaps)",
			 res->late, res->missed);
}

void reverse_aborted(struct reverse *r)
{
	r->have_digests = false;
}

void reverse_report(struct reverse *r, struct report *rep)
{
	struct replay_log_stats ls;
	struct capture_stats cs = {0};

	pthread_mutex_lock(&r->lock);
	replay_log_stats(&r->log, &ls);
	pthread_mutex_unlock(&r->lock);
	if (r->cap)
		capture_stats(r->cap, &cs);
	report_str(rep, "topology", "topology",
		   reverse_topology_name(r->cfg.topology));
	report_str(rep, "capture", "capture",
		   r->cap ? capture_name(r->cap) : "stopped");
	report_u64(rep, "captured", "frames captured",
		   stat_read(r->stats.captured));
	report_u64(rep, "forwarded", "forwarded", stat_read(r->stats.forwarded));
	report_u64(rep, "forward_errors", "forward errors",
		   stat_read(r->stats.forward_errors));
	report_u64(rep, "overflow_dropped", "dropped: log full",
		   stat_read(r->stats.overflow_dropped));
	report_u64(rep, "stale_clears", "cleared: full while standing by",
		   stat_read(r->stats.stale_clears));
	report_u64(rep, "kernel_drops", "kernel drops", cs.drops_kernel);
	report_u64(rep, "log_frames", "log frames", ls.frames);
	report_u64(rep, "log_bytes", "log bytes", ls.bytes);
	report_u64(rep, "trimmed", "trimmed", ls.trimmed);
	report_u64(rep, "skipped", "skipped", ls.skipped);
	report_u64(rep, "gaps", "capture gaps", ls.missed);
	report_u64(rep, "late", "captured late", ls.late);
	report_u64(rep, "pending", "gaps awaited", ls.pending);
	report_u64(rep, "epochs_trimmed", "epochs trimmed",
		   stat_read(r->stats.epochs_trimmed));
	report_u64(rep, "epochs_without_digests", "epochs w/o digests",
		   stat_read(r->stats.epochs_without_digests));
	report_u64(rep, "digests_incomplete", "digest lists cut",
		   stat_read(r->stats.digests_incomplete));
}
