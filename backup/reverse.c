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
/*
 * Inline forwarding of a frame already logged: a full TX queue drains in
 * microseconds, so retry briefly rather than lose the frame; 100 x 20 us
 * bounds the capture thread's stall at 2 ms (TCP would retransmit later).
 */
#define INJECT_RETRIES	100
#define INJECT_RETRY_US 20
/* Without a backend wake-up interval: how often the capture thread looks
 * at the stop flag while no frame comes (the wake fd ends it sooner). */
#define CAPTURE_IDLE_POLL_MS 100
/* At the stop, the pause between looks at records still being written. */
#define FINAL_DRAIN_POLL_US 100

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
	return t == TOPOLOGY_INLINE   ? "inline"
	       : t == TOPOLOGY_MIRROR ? "mirror"
				      : "none";
}

/*
 * Capture thread, one frame: log first, then (inline) forward. The order is
 * the whole point of the inline topology: the primary can never have been
 * given a frame the log lacks.
 */
static void grant_room(struct reverse *r);

static void on_frame(void *arg, const struct capture_frame *f)
{
	struct reverse *r = arg;
	struct replay_stamp ts = {f->mono_ns, f->ts_ns};
	int ret;

	pthread_mutex_lock(&r->lock);
	ret = replay_log_append(&r->log, f->data, f->len, &ts);
	if (ret && __atomic_load_n(&r->standing_by, __ATOMIC_RELAXED)) {
		replay_log_clear(&r->log);
		stat_inc(r->stats.standby_clears);
		grant_room(r);
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
	/* ringbuf: the kernel forwarded it, right after logging it. */
	if (r->cfg.topology == TOPOLOGY_INLINE && !capture_forwards(r->cap)) {
		/* Logged already: a full TX queue must not lose it. */
		for (int tries = 0; tries < INJECT_RETRIES; tries++) {
			ret = capture_inject(r->cap, f->data, f->len);
			if (ret != -EAGAIN && ret != -ENOBUFS)
				break;
			usleep(INJECT_RETRY_US);
		}
		if (ret == 0)
			stat_inc(r->stats.forwarded);
		else
			stat_inc(r->stats.forward_errors);
	}
}

/*
 * One batch, by whichever thread: the capture thread, or a commit draining
 * the capture itself. poll_lock makes them take turns (the backends' rings
 * have one reader at a time); r->lock is taken inside, per frame.
 */
static int poll_batch(struct reverse *r)
{
	int n;

	pthread_mutex_lock(&r->poll_lock);
	n = capture_poll(r->cap, CAPTURE_BATCH, on_frame, r);
	pthread_mutex_unlock(&r->poll_lock);
	return n;
}

/* Poll without sleeping until spin_ns pass with no frame. */
static void capture_spin(struct reverse *r, uint64_t spin_ns)
{
	uint64_t until = clock_mono_ns() + spin_ns;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) && clock_mono_ns() < until) {
		int n = poll_batch(r);

		if (n > 0)
			until = clock_mono_ns() + spin_ns;
		else if (n < 0 && n != -EAGAIN && n != -EINTR)
			return;
	}
}

/*
 * Sleeps in poll() until frames wake it or the backend's wake_ms passes
 * (ringbuf wakes us only per 256 KiB: its frames are collected by that
 * timeout and by the commits' drains).
 */
static void *capture_thread(void *arg)
{
	struct reverse *r = arg;
	struct pollfd pfd[2] = {
	    {.fd = capture_fd(r->cap), .events = POLLIN},
	    {.fd = r->wake_fd, .events = POLLIN},
	};
	uint32_t wake_ms = capture_wake_ms(r->cap);
	int timeout = wake_ms ? (int)wake_ms : CAPTURE_IDLE_POLL_MS;
	/* Spinning saves a wake-up per frame; a batched ring has none. */
	uint32_t spin_us = wake_ms ? 0 : r->cfg.spin_us;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		int n;

		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		do {
			n = poll_batch(r);
		} while (n == CAPTURE_BATCH && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE));
		if (n > 0 && spin_us)
			capture_spin(r, spin_us * 1000ull);
		if (n < 0 && n != -EAGAIN && n != -EINTR) {
			log_error("reverse: capture on %s failed: %s",
				  r->cfg.capture_if, strerror(-n));
			break;
		}
	}
	return NULL;
}

/*
 * Under r->lock, after anything that changes the log's room (start, trim,
 * clear): a capture that forwards in the kernel lets through only what
 * the log can still take.
 */
static void grant_room(struct reverse *r)
{
	uint64_t frames, bytes;

	replay_log_room(&r->log, &frames, &bytes);
	capture_grant(r->cap, frames, bytes);
}

static bool capturing(const struct reverse *r)
{
	return __atomic_load_n(&r->running, __ATOMIC_ACQUIRE);
}

/* Log, gate and locks: everything but the capture. */
static int reverse_init(struct reverse *r, const struct reverse_config *cfg)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->poll_lock, NULL);
	ret = replay_log_init(&r->log, cfg->log_bytes, cfg->log_frames);
	if (ret) {
		log_error("reverse: replay log limits %llu bytes / %u frames "
			  "rejected",
			  (unsigned long long)cfg->log_bytes, cfg->log_frames);
		return ret;
	}
	/* Mirror copies travel their own path: see replay_log_set_reorder. */
	if (cfg->topology == TOPOLOGY_MIRROR) {
		replay_log_set_reorder(&r->log, REPLAY_LATE_TRIMS);
		replay_log_set_late_wall(&r->log, true);
	}
	/* Frames lost on the way to the primary must not fill the log. */
	replay_log_set_stale(&r->log, REPLAY_STALE_NS);
	return replay_gate_init(&r->gate, cfg->guest_ip,
				REPLAY_GATE_DEFAULT_MAX_FLOWS);
}

/* Take cap (closed here on failure) and start the capture thread. */
static int reverse_run(struct reverse *r, struct capture *cap)
{
	r->cap = cap;
	r->capture_name = capture_name(r->cap);
	/*
	 * Frames the kernel forwards on several CPUs can reach the primary
	 * in another order than the ring's: tolerate it as mirror does.
	 */
	if (capture_forwards(r->cap))
		replay_log_set_reorder(&r->log, REPLAY_LATE_TRIMS);
	pthread_mutex_lock(&r->lock);
	grant_room(r);
	pthread_mutex_unlock(&r->lock);
	if (pthread_create(&r->thread, NULL, capture_thread, r)) {
		capture_close(r->cap);
		r->cap = NULL;
		return -EAGAIN;
	}
	/* Named: benchmarks read its CPU time from /proc/PID/task/TID. */
	pthread_setname_np(r->thread, "capture");
	__atomic_store_n(&r->running, true, __ATOMIC_RELEASE);
	return 0;
}

int reverse_start(struct reverse *r, const struct reverse_config *cfg)
{
	struct capture_config cc;
	struct capture *cap;
	int ret;

	ret = reverse_init(r, cfg);
	if (ret)
		return ret;
	capture_config_init(&cc);
	cc.promisc = true;
	cc.immediate = true;
	cc.guest_ip4 = cfg->guest_ip;
	cc.steal = cfg->topology == TOPOLOGY_INLINE;
	cc.inject_ifname =
	    cfg->topology == TOPOLOGY_INLINE ? cfg->forward_if : NULL;
	ret = capture_open(&cap, cfg->backend, cfg->capture_if, cfg->guest_mac,
			   &cc);
	if (ret)
		return ret;
	ret = reverse_run(r, cap);
	if (ret)
		return ret;
	log_info("reverse: %s topology, capturing on %s with %s%s%s%s",
		 reverse_topology_name(cfg->topology), cfg->capture_if,
		 capture_name(r->cap),
		 cfg->topology == TOPOLOGY_INLINE ? ", forwarding to " : "",
		 cfg->topology == TOPOLOGY_INLINE ? cfg->forward_if : "",
		 capture_forwards(r->cap) ? " in the kernel" : "");
	return 0;
}

int reverse_start_with(struct reverse *r, const struct reverse_config *cfg,
		       struct capture *cap)
{
	int ret = reverse_init(r, cfg);

	if (ret) {
		capture_close(cap);
		return ret;
	}
	return reverse_run(r, cap);
}

/*
 * After the quiesce: log what the kernel still holds. With ringbuf those
 * frames were forwarded already - the primary may have acted on them, so
 * the replay must have them. Records still being written when we look
 * (pending) are waited for, briefly.
 */
static void drain_final(struct reverse *r)
{
	uint64_t until = clock_mono_ns() + REVERSE_FINAL_DRAIN_MS * 1000000ull;
	struct capture_stats cs;
	int n, total = 0;

	do {
		n = poll_batch(r);
		if (n < 0)
			break;
		total += n;
		if (n == CAPTURE_BATCH)
			continue;
		capture_stats(r->cap, &cs);
		if (!cs.pending)
			break;
		usleep(FINAL_DRAIN_POLL_US);
	} while (clock_mono_ns() < until);
	if (total)
		log_info("reverse: %d frame(s) still in the capture logged at "
			 "the stop",
			 total);
}

void reverse_stop_capture(struct reverse *r)
{
	uint64_t one = 1;
	bool was_running = capturing(r);

	if (was_running) {
		__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
		if (write(r->wake_fd, &one, sizeof(one)) < 0)
			log_debug("reverse: wake: %s", strerror(errno));
		pthread_join(r->thread, NULL);
		__atomic_store_n(&r->running, false, __ATOMIC_RELEASE);
	}
	capture_quiesce(r->cap);
	if (was_running && r->cap)
		drain_final(r);
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
	r->digests_full = flags & REPL_DIGESTS_FULL;
	return 0;
}

/* Frames the committed guest has seen teach the gate what it had sent. */
static void on_trimmed(void *arg, const struct replay_frame *f, bool delivered)
{
	struct reverse *r = arg;

	if (delivered)
		replay_gate_note_committed(&r->gate, f->data, f->len);
}

/*
 * The drain barrier: before a trim looks for the epoch's frames, everything
 * the capture holds goes into the log - read here, by the committing
 * thread itself, so a capture thread kept off the CPU (steal, contention)
 * cannot make the trim miss frames the primary already had (mirror: the
 * copy races the epoch; ringbuf: frames wait for a batch).
 */
static void drain_capture(struct reverse *r)
{
	int n;

	if (!capturing(r))
		return;
	do {
		n = poll_batch(r);
	} while (n == CAPTURE_BATCH);
}

void reverse_set_standing_by(struct reverse *r, bool standing_by)
{
	uint64_t frames, bytes;

	__atomic_store_n(&r->standing_by, standing_by, __ATOMIC_RELAXED);
	if (!standing_by)
		return;
	/* A capture that forwards in the kernel stops at the room granted:
	 * clear a log three quarters full before it holds frames back. */
	pthread_mutex_lock(&r->lock);
	replay_log_room(&r->log, &frames, &bytes);
	if (frames < r->cfg.log_frames / 4 || bytes < r->cfg.log_bytes / 4) {
		replay_log_clear(&r->log);
		stat_inc(r->stats.standby_clears);
		grant_room(r);
	}
	pthread_mutex_unlock(&r->lock);
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
	if (r->digests_full)
		replay_log_trim_full_cb(&r->log, epoch, r->digests, r->ndigests,
					&res, on_trimmed, r);
	else
		replay_log_trim_cb(&r->log, epoch, r->digests, r->ndigests,
				   &res, on_trimmed, r);
	if (r->digests_incomplete) {
		/* The primary lost count: nothing older can be trusted. */
		stat_inc(r->stats.digests_incomplete);
		replay_log_clear(&r->log);
	}
	grant_room(r);
	pthread_mutex_unlock(&r->lock);
	stat_inc(r->stats.epochs_trimmed);
	if (res.missed) {
		struct replay_log_stats ls;
		struct capture_stats cs = {0};

		pthread_mutex_lock(&r->lock);
		replay_log_stats(&r->log, &ls);
		pthread_mutex_unlock(&r->lock);
		if (r->cap)
			capture_stats(r->cap, &cs);
		/* Drops tell a lost burst from one captured too late. */
		log_error(
		    "reverse: PROTECTION FAILED in epoch %llu: %u "
		    "frame(s) the primary's VM got were never captured "
		    "(a failover now may lose their effect; %llu capture "
		    "gaps so far, %llu kernel drops, %llu held back)",
		    (unsigned long long)epoch, res.missed,
		    (unsigned long long)ls.missed,
		    (unsigned long long)cs.drops_kernel,
		    (unsigned long long)(cs.held +
					 stat_read(r->stats.overflow_dropped)));
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

const char *reverse_capture_name(const struct reverse *r)
{
	return r->capture_name ? r->capture_name : "none";
}

bool reverse_protected(struct reverse *r, uint64_t *gaps)
{
	struct replay_log_stats ls;

	pthread_mutex_lock(&r->lock);
	replay_log_stats(&r->log, &ls);
	pthread_mutex_unlock(&r->lock);
	*gaps = ls.missed;
	return ls.missed == 0;
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
	report_str(rep, "capture", "capture", reverse_capture_name(r));
	report_bool(rep, "capturing", "capturing", capturing(r));
	/* A gap: the VM got a frame the log never held (docs/capture.md). */
	report_str(rep, "protection", "protection",
		   ls.missed ? "FAILED: the primary's VM got frames the backup "
			       "never captured (capture gaps); a failover may "
			       "lose their effect"
			     : "ok");
	report_u64(rep, "captured", "frames captured",
		   stat_read(r->stats.captured));
	report_u64(rep, "forwarded", "forwarded",
		   stat_read(r->stats.forwarded) + cs.forwarded);
	report_bool(rep, "kernel_forwards", "forwarded by the kernel",
		    r->cap && capture_forwards(r->cap));
	report_u64(rep, "forward_errors", "forward errors",
		   stat_read(r->stats.forward_errors) + cs.forward_errors);
	report_u64(rep, "overflow_dropped", "held back: log full",
		   stat_read(r->stats.overflow_dropped) + cs.held);
	report_u64(rep, "standby_clears", "cleared: full while standing by",
		   stat_read(r->stats.standby_clears));
	report_u64(rep, "kernel_drops", "kernel drops", cs.drops_kernel);
	report_u64(rep, "too_long", "too long", cs.drops_user);
	report_u64(rep, "capture_pending", "pending in the capture",
		   cs.pending);
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
