/* SPDX-License-Identifier: MIT */
#include "primary/replicator.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/repl_link.h"
#include "common/report.h"
#include "common/run_cmd.h"
#include "common/transport.h"
#include "netstate/frame_digest.h"
#include "vmm/vm.h"

#define RECONNECT_MS	   200
#define CONNECT_TIMEOUT_MS 200
#define REWIRE_TIMEOUT_S   10
/* A pause longer than an epoch of the default 20 ms is worth a warning:
 * the guest stood still for a whole interval. */
#define PAUSE_WARN_NS 20000000ull

static void epoch_sleep(struct replicator *r, uint64_t deadline_ns);

static bool stopping(struct replicator *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE);
}

static bool link_broken(struct replicator *r)
{
	return __atomic_load_n(&r->link_broken, __ATOMIC_ACQUIRE);
}

static void set_link_broken(struct replicator *r)
{
	__atomic_store_n(&r->link_broken, 1, __ATOMIC_RELEASE);
}

static bool reverse_mode(const struct replicator *r)
{
	return r->cfg.mode == REPL_MODE_REVERSE || r->cfg.mode == REPL_MODE_NAIVE;
}

/* Send one buffer of whole messages; the lock keeps messages intact. */
static int link_send(struct replicator *r, const struct ckpt_buf *buf)
{
	int ret;

	pthread_mutex_lock(&r->send_lock);
	/* Once given up, nothing more enters the link: the backup must not
	 * receive an epoch newer than the give-up we announced. */
	ret = !r->link ? -ENOTCONN
	      : link_broken(r)
		  ? -EPIPE
		  : r->link->ops->send(r->link, buf->data, buf->len);
	if (!ret) {
		__atomic_store_n(&r->last_send_ns, clock_mono_ns(),
				 __ATOMIC_RELAXED);
		stat_add(r->stats.bytes_sent, buf->len);
	}
	pthread_mutex_unlock(&r->send_lock);
	return ret;
}

static int link_send_signal(struct replicator *r, enum repl_msg_type type,
			    uint64_t epoch)
{
	struct ckpt_buf buf;
	int ret;

	ckpt_buf_init(&buf);
	ret = repl_encode_signal(&buf, type, epoch);
	if (!ret)
		ret = link_send(r, &buf);
	ckpt_buf_free(&buf);
	return ret;
}

static void handover_set(struct replicator *r, enum handover_state st)
{
	pthread_mutex_lock(&r->handover_lock);
	r->handover = st;
	pthread_cond_broadcast(&r->handover_cond);
	pthread_mutex_unlock(&r->handover_lock);
}

/* One message from the backup (ack thread). */
static void on_backup_message(struct replicator *r, const struct ckpt_msg *msg)
{
	uint64_t epoch = msg->header.epoch;

	switch (msg->header.type) {
	case REPL_MSG_ACK:
		/* Never release output for an epoch not yet sent: a forged or
		 * confused ack must not make buffered mode leak. */
		if (epoch > __atomic_load_n(&r->sent_epoch, __ATOMIC_ACQUIRE)) {
			uint64_t n = stat_add(r->stats.acks_bogus, 1) + 1;

			/* 1st, 2nd, 4th, 8th...: loud but not a flood. */
			if (!(n & (n - 1)))
				log_warn("replication: dropped an ack for epoch "
					 "%llu, which was never sent (%llu so "
					 "far)",
					 (unsigned long long)epoch,
					 (unsigned long long)n);
			return;
		}
		stat_set(r->stats.acked_epoch, epoch);
		r->policy->ops->acked(r->policy, epoch);
		return;
	case REPL_MSG_HANDOVER_READY:
	case REPL_MSG_HANDOVER_ABORT:
		pthread_mutex_lock(&r->handover_lock);
		if (r->handover == HANDOVER_SENT && epoch == r->handover_epoch) {
			r->handover = msg->header.type == REPL_MSG_HANDOVER_READY
					  ? HANDOVER_READY
					  : HANDOVER_FAILED;
			pthread_cond_broadcast(&r->handover_cond);
		}
		pthread_mutex_unlock(&r->handover_lock);
		return;
	}
}

/* Acks from the backup release held output. */
static void *ack_thread_main(void *arg)
{
	struct replicator *r = arg;
	struct ckpt_decoder dec;
	uint8_t buf[4096];

	ckpt_decoder_init(&dec);
	while (!stopping(r) && !link_broken(r)) {
		ssize_t n = r->link->ops->recv(r->link, buf, sizeof(buf));
		size_t off = 0;

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n > 0)
			__atomic_store_n(&r->last_backup_rx_ns, clock_mono_ns(),
					 __ATOMIC_RELAXED);
		if (n <= 0) {
			if (!stopping(r) && !link_broken(r))
				log_error("replication: backup %s closed the "
					  "link (%s)",
					  r->link->peer,
					  n == 0 ? "EOF" : strerror((int)-n));
			break;
		}
		while (off < (size_t)n) {
			struct ckpt_msg msg;
			size_t used = 0;
			enum ckpt_decode_status st = ckpt_decoder_feed(
			    &dec, buf + off, (size_t)n - off, &used, &msg);

			off += used;
			if (st == CKPT_DECODE_ERROR) {
				log_error("replication: garbage from backup: "
					  "%s",
					  dec.err);
				goto out;
			}
			if (st == CKPT_DECODE_NEED_MORE)
				break;
			on_backup_message(r, &msg);
		}
	}
out:
	set_link_broken(r);
	/* A handover waiting for an answer will not get one. */
	pthread_mutex_lock(&r->handover_lock);
	if (r->handover == HANDOVER_SENT) {
		r->handover = HANDOVER_FAILED;
		pthread_cond_broadcast(&r->handover_cond);
	}
	pthread_mutex_unlock(&r->handover_lock);
	ckpt_decoder_free(&dec);
	return NULL;
}

static void link_drop(struct replicator *r, bool quiet)
{
	struct transport *t;

	if (!r->link)
		return;
	pthread_mutex_lock(&r->watch_lock);
	r->watch_link = NULL;
	pthread_mutex_unlock(&r->watch_lock);
	/*
	 * Before the link's end reaches the backup and before any held
	 * output goes out: tell the backup (heartbeat path) that what it
	 * holds no longer covers us. It then stands by instead of taking
	 * over from it. Not on a stop: the beats have ended, and a stop
	 * without goodbye must look like a crash.
	 */
	heartbeat_sender_released(&r->beats,
				  __atomic_load_n(&r->epoch, __ATOMIC_ACQUIRE));
	r->link->ops->shutdown(r->link);
	if (r->ack_thread_running) {
		pthread_join(r->ack_thread, NULL);
		r->ack_thread_running = false;
	}
	pthread_mutex_lock(&r->send_lock);
	t = r->link;
	r->link = NULL;
	pthread_mutex_unlock(&r->send_lock);
	t->ops->close(t);
	/* Nobody will ack what is held: let it out, run unprotected. */
	r->policy->ops->protection(r->policy, false);
	stat_set(r->stats.protected_now, 0);
	stat_inc(r->stats.disconnects);
	if (!quiet)
		log_error("replication: BACKUP LOST - the VM keeps running "
			  "UNPROTECTED; reconnecting to %s every %d ms",
			  r->cfg.backup_addr, RECONNECT_MS);
}

/* Reverse mode: put the new backup's capture in front of us, once. */
static int rewire(struct replicator *r)
{
	int status;

	if (!reverse_mode(r) || !r->cfg.rewire_cmd || r->rewired)
		return 0;
	log_info("replication: moving the capture point: %s",
		 r->cfg.rewire_cmd);
	status = run_shell_command(r->cfg.rewire_cmd, REWIRE_TIMEOUT_S);
	if (status != 0) {
		stat_inc(r->stats.rewire_failures);
		log_error("replication: --rewire-cmd failed (status %d): the "
			  "backup would not see the client stream; not "
			  "protecting yet",
			  status);
		return -EIO;
	}
	stat_inc(r->stats.rewires);
	r->rewired = true;
	return 0;
}

static int link_connect(struct replicator *r)
{
	struct repl_hello hello = {
	    .version = REPL_VERSION,
	    .mode = r->cfg.mode,
	    .session = r->session,
	    .mem_size = r->vm->mem_size,
	    .epoch_ms = r->cfg.epoch_ms,
	};
	struct transport *t;
	int ret;

	ret = repl_link_connect(r->cfg.backup_addr, r->cfg.key,
				CONNECT_TIMEOUT_MS, &hello, &t);
	if (ret)
		return ret;
	ret = rewire(r);
	if (ret) {
		t->ops->close(t);
		return ret;
	}
	pthread_mutex_lock(&r->send_lock);
	r->link = t;
	pthread_mutex_unlock(&r->send_lock);
	__atomic_store_n(&r->last_send_ns, clock_mono_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&r->last_backup_rx_ns, clock_mono_ns(),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&r->link_broken, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&r->watch_lock);
	r->watch_link = t;
	pthread_mutex_unlock(&r->watch_lock);
	r->need_full = true;
	if (pthread_create(&r->ack_thread, NULL, ack_thread_main, r) == 0) {
		pthread_setname_np(r->ack_thread, "repl-ack");
		r->ack_thread_running = true;
	}
	stat_inc(r->stats.connects);
	log_info("replication: connected to backup %s (%s mode, epoch %u "
		 "ms, link %s); sending a full checkpoint",
		 t->peer, repl_mode_name(r->cfg.mode), r->cfg.epoch_ms,
		 repl_link_security(r->cfg.key));
	return 0;
}

/* Digests kept between two collects; more means the backup must resync. */
#define RX_DIGESTS_CAP (1u << 20)

/* The VM's vnic rx_observer (reverse and naive modes; vCPU thread). */
static void rx_observer(void *ctx, const uint8_t *frame, uint32_t len)
{
	struct replicator *r = ctx;

	/* What no capture takes must not be expected of the backup's log. */
	if (r->cfg.rx_filter_on &&
	    !guest_filter_wants(&r->cfg.rx_filter, frame, len))
		return;
	if (r->rx_count == r->rx_cap) {
		size_t cap = r->rx_cap ? r->rx_cap * 2 : 4096;
		uint64_t *p;

		if (cap > RX_DIGESTS_CAP ||
		    !(p = realloc(r->rx_digests, cap * sizeof(*p)))) {
			r->rx_incomplete = true;
			return;
		}
		r->rx_digests = p;
		r->rx_cap = cap;
	}
	r->rx_digests[r->rx_count++] = frame_digest(frame, len);
}

static int observer_install(struct vm *vm, void *arg)
{
	vm->vnic.rx_observer_ctx = arg;
	vm->vnic.rx_observer = arg ? rx_observer : NULL;
	return 0;
}

/* At the collect: the frames given so far belong to this epoch. */
static void cut_digests(struct replicator *r)
{
	uint64_t *p = r->epoch_digests;
	size_t cap = r->epoch_cap;

	r->epoch_digests = r->rx_digests;
	r->epoch_cap = r->rx_cap;
	r->epoch_count = r->rx_count;
	r->epoch_incomplete = r->rx_incomplete;
	r->rx_digests = p;
	r->rx_cap = cap;
	r->rx_count = 0;
	r->rx_incomplete = false;
}

static bool handover_requested(struct replicator *r)
{
	bool yes;

	pthread_mutex_lock(&r->handover_lock);
	yes = r->handover == HANDOVER_REQUESTED;
	pthread_mutex_unlock(&r->handover_lock);
	return yes;
}

/*
 * Two-phase collect: copy what the guest dirtied so far while it runs, so
 * the pause only copies what it wrote in the last moments. A failed pass
 * loses nothing (the pages stay in KVM's log, or the collect of a full
 * checkpoint copies everything): the pause takes them.
 */
static void early_copy_failed(int ret)
{
	if (ret && ret != -EOPNOTSUPP)
		log_debug("replication: early copy pass failed (%s); the "
			  "pause copies those pages",
			  strerror(-ret));
}

/* Incremental epochs: passes ending at the deadline (a handover waits for
 * none: it wants the final epoch at once). */
static void early_copy(struct replicator *r, uint64_t deadline,
		       uint64_t interval)
{
	if (!r->vm->dirty_manual_protect || handover_requested(r))
		return;
	epoch_sleep(r, vm_precopy_start(&r->precopy, deadline));
	if (stopping(r) || handover_requested(r))
		return;
	early_copy_failed(
	    vm_precopy_run(r->vm, &r->snap, &r->precopy, deadline, interval));
}

/* A full checkpoint: copied when due, the pause follows at once. */
static void early_copy_full(struct replicator *r)
{
	if (r->vm->dirty_manual_protect)
		early_copy_failed(vm_precopy_full(r->vm, &r->snap));
}

/* Runs on the vCPU thread, vCPU stopped: the only part that pauses it. */
static int collect_while_paused(struct vm *vm, void *arg)
{
	struct replicator *r = arg;
	int ret = vm_snapshot_collect(vm, &r->snap, r->need_full);

	if (ret)
		return ret;
	__atomic_store_n(&r->epoch, r->epoch + 1, __ATOMIC_RELEASE);
	r->snap.epoch = r->epoch;
	r->epoch_full = r->need_full;
	cut_digests(r);
	/* Frames from now on belong to the next epoch. */
	r->policy->ops->collected(r->policy, r->epoch);
	if (r->need_full && r->cfg.mode == REPL_MODE_BUFFERED)
		r->policy->ops->protection(r->policy, true);
	/* The final epoch of a handover: not one more guest instruction. */
	if (handover_requested(r))
		vm_set_frozen(vm, true);
	return 0;
}

/* The encoder's base for an incremental page: the backup's copy, if
 * cached. */
static const uint8_t *cache_base(void *ctx, uint64_t pfn)
{
	struct replicator *r = ctx;

	return delta_cache_lookup(&r->cache, pfn);
}

/* The epoch went out whole: the backup will hold exactly these pages. */
static void cache_apply(struct replicator *r)
{
	const struct vm_snapshot *s = &r->snap;

	delta_cache_store_epoch(&r->cache, s->pfns, s->pages, s->npages,
				s->full);
	stat_set(r->stats.delta_hits, r->cache.hits);
	stat_set(r->stats.delta_misses, r->cache.misses);
	stat_set(r->stats.delta_evictions, r->cache.evictions);
	stat_set(r->stats.delta_bytes_used, delta_cache_bytes_used(&r->cache));
}

/*
 * Staging memory an epoch may keep between epochs: a full checkpoint (or a
 * huge incremental) must not leave a copy of guest memory resident.
 */
static size_t staging_keep_pages(const struct replicator *r)
{
	size_t pages = (size_t)(r->vm->mem_size / CKPT_PAGE_SIZE / 16);

	return pages > 16384 ? pages : 16384;
}

static void release_staging(struct replicator *r, struct ckpt_buf *buf)
{
	/* A full epoch is a one-off: the next ones are incremental. */
	size_t keep = r->snap.full ? 0 : staging_keep_pages(r);

	vm_snapshot_trim(&r->snap, keep);
	if (buf->cap > keep * (size_t)CKPT_PAGE_SIZE) {
		ckpt_buf_free(buf);
		ckpt_buf_init(buf);
	}
}

static void account_epoch(struct replicator *r, size_t bytes, uint64_t hits,
			  uint64_t misses)
{
	const struct vm_snapshot *s = &r->snap;

	stat_inc(r->stats.epochs);
	if (s->full)
		stat_inc(r->stats.full_epochs);
	stat_add(r->stats.pages, s->npages);
	stat_add(r->stats.raw_bytes, s->npages * CKPT_PAGE_SIZE);
	stat_add(r->stats.pause_ns_total, s->pause_ns);
	stat_set(r->stats.pause_ns_last, s->pause_ns);
	if (s->pause_ns > stat_read(r->stats.pause_ns_max))
		stat_set(r->stats.pause_ns_max, s->pause_ns);
	stat_add(r->stats.pause_pages, s->pause_pages);
	stat_add(r->stats.early_copies, s->early_copies);
	stat_add(r->stats.early_passes, s->early_passes);
	stat_add(r->stats.early_ns_total, s->early_ns);
	/* One line per epoch (--log-level debug): per-epoch distributions.
	 * Scripts parse the part up to "raw"; new fields go after it. */
	log_debug("replication: epoch %llu: %zu pages, pause %llu us, %zu "
		  "bytes for %zu raw; %zu copied in the pause, %zu early in "
		  "%u passes (%llu us); delta cache %llu hits, %llu misses",
		  (unsigned long long)s->epoch, s->npages,
		  (unsigned long long)(s->pause_ns / 1000u), bytes,
		  (size_t)(s->npages * CKPT_PAGE_SIZE), s->pause_pages,
		  s->early_copies, s->early_passes,
		  (unsigned long long)(s->early_ns / 1000u),
		  (unsigned long long)hits, (unsigned long long)misses);
	if (s->pause_ns > PAUSE_WARN_NS)
		log_warn("replication: epoch %llu paused the VM %.1f ms (%zu "
			 "pages: dirty log %.1f ms, copy %.1f ms, state %.1f "
			 "ms)",
			 (unsigned long long)s->epoch, s->pause_ns / 1e6,
			 s->npages, s->dirty_log_ns / 1e6, s->copy_ns / 1e6,
			 s->state_ns / 1e6);
}

static int send_epoch(struct replicator *r, struct ckpt_buf *buf,
		      struct ckpt_buf *extra)
{
	const struct vm_snapshot *s = &r->snap;
	uint64_t hits = r->cache.hits, misses = r->cache.misses;
	int ret;

	ckpt_buf_reset(buf);
	ckpt_buf_reset(extra);
	if (reverse_mode(r)) {
		uint32_t flags = (r->epoch_incomplete ? REPL_DIGESTS_INCOMPLETE
						      : 0) |
				 (r->epoch_full ? REPL_DIGESTS_FULL : 0);

		ret = repl_encode_digests(extra, s->epoch, r->epoch_digests,
					  (uint32_t)r->epoch_count, flags);
		if (ret)
			return ret;
	}
	ret = vm_snapshot_encode_with(s, r->vm->mem_size, cache_base, r,
				      r->cfg.compress, extra, buf, NULL);
	if (ret) {
		log_error("replication: cannot encode epoch %llu: %s",
			  (unsigned long long)s->epoch, strerror(-ret));
		return ret;
	}
	/* Before the send: the backup's ack can beat link_send's return. */
	__atomic_store_n(&r->sent_epoch, s->epoch, __ATOMIC_RELEASE);
	ret = link_send(r, buf);
	if (ret)
		return ret;
	/* The backup will hold exactly this once it commits. */
	cache_apply(r);
	account_epoch(r, buf->len, r->cache.hits - hits,
		      r->cache.misses - misses);
	if (s->full) {
		r->need_full = false;
		stat_set(r->stats.protected_now, 1);
		log_info("replication: full checkpoint sent (%zu pages, %zu "
			 "bytes); VM protected",
			 s->npages, buf->len);
	}
	release_staging(r, buf);
	return 0;
}

/*
 * Heartbeats have their own thread: a collect can be held up (the vCPU
 * thread descheduled, a big epoch on the wire), and the backup must still
 * know we are alive. Only sent when nothing else went out for a while.
 */
static void *heartbeat_thread_main(void *arg)
{
	struct replicator *r = arg;
	uint64_t hb = (uint64_t)r->cfg.heartbeat_ms * 1000000u;
	struct ckpt_buf buf;

	ckpt_buf_init(&buf);
	while (!stopping(r)) {
		uint64_t now = clock_mono_ns();
		uint64_t last =
		    __atomic_load_n(&r->last_send_ns, __ATOMIC_RELAXED);

		if (now < last + hb) {
			clock_sleep_until(last + hb);
			continue;
		}
		if (!link_broken(r)) {
			ckpt_buf_reset(&buf);
			if (repl_encode_heartbeat(
				&buf, __atomic_load_n(&r->sent_epoch,
						      __ATOMIC_RELAXED)) == 0 &&
			    link_send(r, &buf) == 0)
				stat_inc(r->stats.heartbeats);
		}
		clock_sleep_until(clock_mono_ns() + hb);
	}
	ckpt_buf_free(&buf);
	return NULL;
}

/*
 * On the heartbeat sender's thread, every beat: a backup that has said
 * nothing (no ack, no heartbeat) for backup_timeout_ms is gone or cut off.
 * Give the link up: nothing more may enter it, the backup learns over the
 * heartbeat path that we run unprotected after this epoch, then the link
 * is shut (which also frees an epoch send stuck on a dead link); the
 * epoch thread drops it, releases held output and reconnects.
 */
static void watchdog_tick(void *ctx, uint64_t now)
{
	struct replicator *r = ctx;
	uint64_t limit = (uint64_t)r->cfg.backup_timeout_ms * 1000000u;
	uint64_t last =
	    __atomic_load_n(&r->last_backup_rx_ns, __ATOMIC_RELAXED);

	if (!limit || now <= last + limit)
		return;
	pthread_mutex_lock(&r->watch_lock);
	if (r->watch_link && !link_broken(r)) {
		set_link_broken(r);
		heartbeat_sender_released(
		    &r->beats, __atomic_load_n(&r->epoch, __ATOMIC_ACQUIRE));
		stat_inc(r->stats.backup_silent);
		log_error("replication: the backup %s said nothing for %.0f "
			  "ms: giving the link up",
			  r->watch_link->peer, (now - last) / 1e6);
		r->watch_link->ops->shutdown(r->watch_link);
	}
	pthread_mutex_unlock(&r->watch_lock);
}

static void beats_start(struct replicator *r)
{
	struct heartbeat_sender_config hc = {
	    .dest = {r->cfg.backup_addr, r->cfg.lan_peer},
	    .interval_ms = r->cfg.heartbeat_ms,
	    .rt_priority = r->cfg.rt_priority,
	    .session = r->session,
	    .key = r->cfg.key,
	    .tick = watchdog_tick,
	    .ctx = r,
	};
	int ret;

	if (!r->cfg.heartbeat_ms)
		return;
	ret = heartbeat_sender_start(&r->beats, &hc);
	if (ret)
		log_error("replication: no heartbeat path (%s): the backup "
			  "will rely on the link alone",
			  strerror(-ret));
}

/* Sleep until deadline, or until a handover is requested or we stop. */
static void epoch_sleep(struct replicator *r, uint64_t deadline_ns)
{
	uint64_t now = clock_mono_ns();
	uint64_t until = clock_real_ns() + (deadline_ns > now ? deadline_ns - now : 0);
	struct timespec ts = {(time_t)(until / 1000000000u),
			      (long)(until % 1000000000u)};

	pthread_mutex_lock(&r->handover_lock);
	while (r->handover != HANDOVER_REQUESTED && !stopping(r) &&
	       pthread_cond_timedwait(&r->handover_cond, &r->handover_lock,
				      &ts) == 0)
		;
	pthread_mutex_unlock(&r->handover_lock);
}

/* After the final epoch: nothing to do until the handover is settled. */
static void wait_handover_settled(struct replicator *r)
{
	pthread_mutex_lock(&r->handover_lock);
	while ((r->handover == HANDOVER_SENT ||
		r->handover == HANDOVER_READY) &&
	       !stopping(r))
		pthread_cond_wait(&r->handover_cond, &r->handover_lock);
	pthread_mutex_unlock(&r->handover_lock);
}

/* The final epoch and HANDOVER (epoch thread, VM frozen by the collect). */
static void send_handover(struct replicator *r, struct ckpt_buf *buf,
			  struct ckpt_buf *extra)
{
	int ret = send_epoch(r, buf, extra);

	if (!ret) {
		ckpt_buf_reset(buf);
		ret = repl_encode_handover(buf, r->epoch, &r->handover_msg);
		if (!ret) {
			pthread_mutex_lock(&r->handover_lock);
			r->handover_epoch = r->epoch;
			r->handover = HANDOVER_SENT;
			pthread_cond_broadcast(&r->handover_cond);
			pthread_mutex_unlock(&r->handover_lock);
			ret = link_send(r, buf);
		}
	}
	if (ret) {
		set_link_broken(r);
		handover_set(r, HANDOVER_FAILED);
		return;
	}
	log_info("replication: handover: VM frozen after epoch %llu; waiting "
		 "for the backup",
		 (unsigned long long)r->epoch);
	wait_handover_settled(r);
}

/* Loud on the first failure, then every minute or so: still trying. */
static void connect_failed(struct replicator *r, int err)
{
	uint64_t n = stat_add(r->stats.connect_failures, 1) + 1;

	if (n == 1 || n % (60000 / RECONNECT_MS) == 0)
		log_error("replication: cannot reach the backup at %s (%s): "
			  "the VM runs UNPROTECTED; trying every %d ms (%llu "
			  "attempts so far)",
			  r->cfg.backup_addr, strerror(-err), RECONNECT_MS,
			  (unsigned long long)n);
}

static void *epoch_thread_main(void *arg)
{
	struct replicator *r = arg;
	uint64_t interval = (uint64_t)r->cfg.epoch_ms * 1000000u;
	uint64_t next = clock_mono_ns() + interval, last_start = 0, last_try = 0;
	struct ckpt_buf buf, extra;

	ckpt_buf_init(&buf);
	ckpt_buf_init(&extra);
	while (!stopping(r)) {
		uint64_t now = clock_mono_ns();
		bool handover;
		int ret;

		if (r->link && link_broken(r))
			link_drop(r, false);
		if (!r->link) {
			if (handover_requested(r))
				handover_set(r, HANDOVER_FAILED);
			if (now - last_try >= RECONNECT_MS * 1000000ull) {
				last_try = now;
				ret = link_connect(r);
				if (ret == 0)
					next = now; /* resync at once */
				else
					connect_failed(r, ret);
			}
			if (!r->link) {
				clock_sleep_until(now +
						  RECONNECT_MS * 1000000ull / 4);
				continue;
			}
		}
		if (!r->need_full && now < next)
			early_copy(r, next, interval);
		if (clock_mono_ns() < next)
			epoch_sleep(r, next);
		if (stopping(r))
			break;
		if (r->need_full && !handover_requested(r))
			early_copy_full(r);
		now = clock_mono_ns();
		if (last_start) {
			stat_add(r->stats.interval_ns_total, now - last_start);
			if (now - last_start >= 2 * interval)
				stat_inc(r->stats.late_epochs);
		}
		last_start = now;
		next =
		    (now - next > interval) ? now + interval : next + interval;
		handover = handover_requested(r);
		ret = vm_call_paused(r->vm, collect_while_paused, r);
		if (ret == -ESHUTDOWN && !handover)
			break;
		if (ret) {
			/* Dirty pages may have been taken from the log:
			 * only a full checkpoint is sure to cover them. */
			log_error("replication: collect failed: %s; the next "
				  "epoch is a full checkpoint",
				  strerror(-ret));
			r->need_full = true;
			if (handover)
				handover_set(r, HANDOVER_FAILED);
			continue;
		}
		if (handover)
			send_handover(r, &buf, &extra);
		else if (send_epoch(r, &buf, &extra))
			set_link_broken(r);
	}
	ckpt_buf_free(&buf);
	ckpt_buf_free(&extra);
	return NULL;
}

int replicator_start(struct replicator *r, struct vm *vm,
		     struct output_policy *policy,
		     const struct replicator_config *cfg)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->vm = vm;
	r->policy = policy;
	r->session = clock_real_ns() ^ ((uint64_t)getpid() << 16) ^
		     (uint64_t)(uintptr_t)r;
	pthread_mutex_init(&r->send_lock, NULL);
	pthread_mutex_init(&r->watch_lock, NULL);
	pthread_mutex_init(&r->handover_lock, NULL);
	pthread_cond_init(&r->handover_cond, NULL);
	vm_snapshot_init(&r->snap);
	vm_precopy_plan_init(&r->precopy, (uint64_t)cfg->epoch_ms * 1000000u);
	ret = delta_cache_init(&r->cache, vm->mem_size, cfg->delta_cache_bytes);
	if (ret)
		return ret;
	log_info("replication: %s collect (KVM dirty log: %s); delta cache "
		 "%llu MiB",
		 vm->dirty_manual_protect ? "two-phase" : "one-phase",
		 vm_dirty_log_mode(vm),
		 (unsigned long long)(delta_cache_bytes_max(&r->cache) >> 20));
	r->need_full = true;
	if (reverse_mode(r)) {
		ret = vm_call_paused(vm, observer_install, r);
		if (ret)
			goto out;
	}
	beats_start(r);
	__atomic_store_n(&vm->dirty_log_owner, "the replicator",
			 __ATOMIC_RELEASE);
	ret = -pthread_create(&r->epoch_thread, NULL, epoch_thread_main, r);
	if (ret) {
		__atomic_store_n(&vm->dirty_log_owner, NULL, __ATOMIC_RELEASE);
		goto out;
	}
	pthread_setname_np(r->epoch_thread, "repl-epoch");
	r->epoch_running = true;
	if (cfg->heartbeat_ms && pthread_create(&r->heartbeat_thread, NULL,
						heartbeat_thread_main, r) == 0) {
		pthread_setname_np(r->heartbeat_thread, "repl-heartbeat");
		r->heartbeat_running = true;
	}
	log_info("replication: protecting the VM in %s mode (epoch %u ms) to "
		 "%s",
		 repl_mode_name(cfg->mode), cfg->epoch_ms, cfg->backup_addr);
	return 0;
out:
	heartbeat_sender_stop(&r->beats);
	if (reverse_mode(r))
		vm_call_paused(vm, observer_install, NULL);
	delta_cache_free(&r->cache);
	vm_snapshot_free(&r->snap);
	return ret;
}

void replicator_stop(struct replicator *r, bool goodbye)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&r->handover_lock);
	pthread_cond_broadcast(&r->handover_cond);
	pthread_mutex_unlock(&r->handover_lock);
	/* First: a stop without goodbye must look like a crash (beats and
	 * link end together), and no give-up may be announced now. */
	heartbeat_sender_stop(&r->beats);
	if (r->epoch_running)
		pthread_join(r->epoch_thread, NULL);
	if (r->heartbeat_running)
		pthread_join(r->heartbeat_thread, NULL);
	r->epoch_running = r->heartbeat_running = false;
	if (r->link && goodbye && !link_broken(r)) {
		if (link_send_signal(r, REPL_MSG_GOODBYE, r->epoch) == 0)
			log_info("replication: told the backup we stop in order "
				 "(it stands down)");
	}
	link_drop(r, true);
	__atomic_store_n(&r->vm->dirty_log_owner, NULL, __ATOMIC_RELEASE);
	if (reverse_mode(r))
		vm_call_paused(r->vm, observer_install, NULL);
	vm_snapshot_free(&r->snap);
	free(r->rx_digests);
	free(r->epoch_digests);
	r->rx_digests = r->epoch_digests = NULL;
	delta_cache_free(&r->cache);
	pthread_mutex_destroy(&r->send_lock);
	pthread_mutex_destroy(&r->watch_lock);
	pthread_mutex_destroy(&r->handover_lock);
	pthread_cond_destroy(&r->handover_cond);
}

bool replicator_protected(struct replicator *r)
{
	return stat_read(r->stats.protected_now);
}

/* The backup holds a full checkpoint and keeps up. */
static int check_in_sync(struct replicator *r, char *err, size_t size)
{
	uint64_t sent = __atomic_load_n(&r->sent_epoch, __ATOMIC_ACQUIRE);
	uint64_t acked = stat_read(r->stats.acked_epoch);

	if (!stat_read(r->stats.protected_now) || link_broken(r)) {
		snprintf(err, size,
			 "the backup is not in sync: the VM is unprotected "
			 "(no backup holds a full checkpoint)");
		return -EAGAIN;
	}
	if (acked + 3 < sent) {
		snprintf(err, size,
			 "the backup is not in sync: acked epoch %llu, sent "
			 "%llu",
			 (unsigned long long)acked, (unsigned long long)sent);
		return -EAGAIN;
	}
	return 0;
}

int replicator_handover(struct replicator *r, const char *ret_listen,
			int timeout_ms, char *err, size_t err_size)
{
	uint64_t until = clock_real_ns() + (uint64_t)timeout_ms * 1000000u;
	struct timespec ts = {(time_t)(until / 1000000000u),
			      (long)(until % 1000000000u)};
	enum handover_state st;
	int ret;

	pthread_mutex_lock(&r->handover_lock);
	if (r->handover != HANDOVER_NONE) {
		pthread_mutex_unlock(&r->handover_lock);
		snprintf(err, err_size, "a handover is already in progress");
		return -EBUSY;
	}
	ret = check_in_sync(r, err, err_size);
	if (ret) {
		pthread_mutex_unlock(&r->handover_lock);
		return ret;
	}
	memset(&r->handover_msg, 0, sizeof(r->handover_msg));
	if (ret_listen) {
		r->handover_msg.flags = REPL_HANDOVER_RETURN;
		snprintf(r->handover_msg.listen, sizeof(r->handover_msg.listen),
			 "%s", ret_listen);
	}
	r->handover = HANDOVER_REQUESTED;
	pthread_cond_broadcast(&r->handover_cond);
	while ((r->handover == HANDOVER_REQUESTED ||
		r->handover == HANDOVER_SENT) &&
	       pthread_cond_timedwait(&r->handover_cond, &r->handover_lock,
				      &ts) == 0)
		;
	st = r->handover;
	pthread_mutex_unlock(&r->handover_lock);
	if (st == HANDOVER_READY &&
	    link_send_signal(r, REPL_MSG_HANDOVER_GO, r->handover_epoch) == 0) {
		stat_inc(r->stats.handovers);
		log_info("replication: handover complete at epoch %llu: the "
			 "backup runs the VM now",
			 (unsigned long long)r->handover_epoch);
		return 0;
	}
	/* Not handed over: the VM stays and runs on here. */
	snprintf(err, err_size, "%s",
		 st == HANDOVER_FAILED ? "the backup refused or the link broke"
		 : st == HANDOVER_READY ? "could not send GO to the backup"
					: "no answer from the backup in time");
	if (r->link && !link_broken(r))
		link_send_signal(r, REPL_MSG_HANDOVER_ABORT, r->handover_epoch);
	stat_inc(r->stats.handovers_failed);
	handover_set(r, HANDOVER_NONE);
	vm_set_frozen(r->vm, false);
	log_warn("replication: handover failed (%s); the VM runs on here",
		 err);
	return st == HANDOVER_FAILED ? -ECONNABORTED : -ETIMEDOUT;
}

static const char *compress_name(enum ckpt_compression c)
{
	return c == CKPT_COMPRESS_NONE ? "none" : "auto";
}

void replicator_report(struct replicator *r, struct report *rep)
{
	const struct replicator_stats *st = &r->stats;
	struct output_policy_stats *ps = &r->policy->stats;
	uint64_t epochs = stat_read(st->epochs);
	uint64_t held = stat_read(ps->held_total);

	report_str(rep, "mode", "mode", repl_mode_name(r->cfg.mode));
	report_bool(rep, "protected", "protected",
		    stat_read(st->protected_now));
	report_str(rep, "backup", "backup", r->cfg.backup_addr);
	report_str(rep, "link_security", "link",
		   repl_link_security(r->cfg.key));
	report_u64(rep, "epoch_ms", "epoch requested", r->cfg.epoch_ms);
	report_f(rep, "achieved_interval_ms", "epoch achieved", 2,
		 epochs > 1 ? stat_read(st->interval_ns_total) / 1e6 /
				  (double)(epochs - 1)
			    : 0,
		 "ms");
	report_str(rep, "compress", "compress", compress_name(r->cfg.compress));
	report_u64(rep, "epochs", "epochs", epochs);
	report_u64(rep, "full_epochs", "full epochs",
		   stat_read(st->full_epochs));
	report_u64(rep, "acked_epoch", "acked epoch", stat_read(st->acked_epoch));
	report_u64(rep, "acks_bogus", "bogus acks dropped",
		   stat_read(st->acks_bogus));
	report_u64(rep, "late_epochs", "late epochs", stat_read(st->late_epochs));
	report_f(rep, "pause_us_avg", "pause avg", 1,
		 epochs ? stat_read(st->pause_ns_total) / 1e3 / (double)epochs
			: 0,
		 "us");
	report_f(rep, "pause_us_max", "pause max", 1,
		 stat_read(st->pause_ns_max) / 1e3, "us");
	report_u64(rep, "pages", "pages", stat_read(st->pages));
	report_u64(rep, "raw_bytes", "raw bytes", stat_read(st->raw_bytes));
	report_u64(rep, "bytes_sent", "bytes sent", stat_read(st->bytes_sent));
	report_u64(rep, "heartbeats", "heartbeats", stat_read(st->heartbeats));
	report_u64(rep, "connects", "connects", stat_read(st->connects));
	report_u64(rep, "connect_failures", "connect failures",
		   stat_read(st->connect_failures));
	report_u64(rep, "disconnects", "disconnects", stat_read(st->disconnects));
	report_u64(rep, "rewires", "rewires", stat_read(st->rewires));
	report_u64(rep, "rewire_failures", "rewire failures",
		   stat_read(st->rewire_failures));
	report_u64(rep, "backup_silent", "backup went silent",
		   stat_read(st->backup_silent));
	report_u64(rep, "backup_timeout_ms", "backup timeout",
		   r->cfg.backup_timeout_ms);
	report_open(rep, "heartbeat_path", "heartbeat path");
	report_str_or_null(rep, "lan_peer", "LAN peer", r->cfg.lan_peer);
	report_bool(rep, "realtime", "real-time sender",
		    stat_read(r->beats.stats.realtime));
	report_u64(rep, "sent", "datagrams sent",
		   stat_read(r->beats.stats.sent));
	report_u64(rep, "send_errors", "send errors",
		   stat_read(r->beats.stats.send_errors));
	report_f(rep, "max_period_ms", "longest period", 1,
		 stat_read(r->beats.stats.max_period_ns) / 1e6, "ms");
	report_u64(rep, "released_after", "unprotected after epoch",
		   __atomic_load_n(&r->beats.released_after, __ATOMIC_RELAXED));
	report_close(rep);
	report_u64(rep, "handovers", "handovers", stat_read(st->handovers));
	report_u64(rep, "handovers_failed", "handovers failed",
		   stat_read(st->handovers_failed));
	{
		double per = epochs ? 1.0 / (double)epochs : 0;
		uint64_t hits = stat_read(st->delta_hits);
		uint64_t misses = stat_read(st->delta_misses);

		report_open(rep, "collect", "collect");
		report_str(rep, "kind", "kind",
			   r->vm->dirty_manual_protect ? "two-phase" : "one-phase");
		report_str(rep, "dirty_log", "KVM dirty log",
			   vm_dirty_log_mode(r->vm));
		report_f(rep, "pause_pages_avg", "pages in the pause", 1,
			 (double)stat_read(st->pause_pages) * per, "/epoch");
		report_f(rep, "early_copies_avg", "pages copied early", 1,
			 (double)stat_read(st->early_copies) * per, "/epoch");
		report_f(rep, "early_passes_avg", "early passes", 2,
			 (double)stat_read(st->early_passes) * per, "/epoch");
		report_f(rep, "early_us_avg", "early copying", 1,
			 (double)stat_read(st->early_ns_total) / 1e3 * per,
			 "us/epoch");
		report_close(rep);
		report_open(rep, "delta_cache", "delta cache");
		report_u64(rep, "bytes_max", "bytes max",
			   delta_cache_bytes_max(&r->cache));
		report_u64(rep, "bytes_used", "bytes used",
			   stat_read(st->delta_bytes_used));
		report_u64(rep, "hits", "hits", hits);
		report_u64(rep, "misses", "misses", misses);
		report_f(rep, "hit_pct", "pages sent as deltas", 1,
			 hits + misses ? 100.0 * (double)hits /
					     (double)(hits + misses)
				       : 0,
			 "%");
		report_u64(rep, "evictions", "evictions",
			   stat_read(st->delta_evictions));
		report_close(rep);
	}
	report_open(rep, "output", "output");
	report_u64(rep, "released", "released", stat_read(ps->released));
	report_u64(rep, "held_now_bytes", "held now (bytes)",
		   stat_read(ps->held_bytes_now));
	report_u64(rep, "dropped", "dropped", stat_read(ps->dropped));
	report_f(rep, "hold_ms_avg", "held avg", 2,
		 held ? stat_read(ps->total_hold_ns) / 1e6 / (double)held : 0,
		 "ms");
	report_f(rep, "hold_ms_max", "held max", 2,
		 stat_read(ps->max_hold_ns) / 1e6, "ms");
	report_close(rep);
}
