/* SPDX-License-Identifier: MIT */
#include "primary/replicator.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/transport.h"
#include "netstate/frame_digest.h"
#include "vmm/vm.h"

#define RECONNECT_MS	   200
#define CONNECT_TIMEOUT_MS 200

/* Send one buffer of whole messages; the lock keeps messages intact. */
static int link_send(struct replicator *r, const struct ckpt_buf *buf)
{
	int ret;

	pthread_mutex_lock(&r->send_lock);
	ret = r->link ? r->link->ops->send(r->link, buf->data, buf->len)
		      : -ENOTCONN;
	if (!ret) {
		r->last_send_ns = clock_mono_ns();
		stat_add(r->stats.bytes_sent, buf->len);
	}
	pthread_mutex_unlock(&r->send_lock);
	return ret;
}

/* Acks from the backup release held output. */
static void *ack_thread_main(void *arg)
{
	struct replicator *r = arg;
	struct ckpt_decoder dec;
	uint8_t buf[4096];

	ckpt_decoder_init(&dec);
	while (!r->stop && !r->link_broken) {
		ssize_t n = r->link->ops->recv(r->link, buf, sizeof(buf));
		size_t off = 0;

		if (n <= 0) {
			if (!r->stop && !r->link_broken)
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
			if (msg.header.type == REPL_MSG_ACK) {
				stat_set(r->stats.acked_epoch,
					 msg.header.epoch);
				r->policy->ops->acked(r->policy,
						      msg.header.epoch);
			}
		}
	}
out:
	r->link_broken = 1;
	ckpt_decoder_free(&dec);
	return NULL;
}

static void link_drop(struct replicator *r)
{
	if (!r->link)
		return;
	r->link->ops->shutdown(r->link);
	if (r->ack_thread_running) {
		pthread_join(r->ack_thread, NULL);
		r->ack_thread_running = false;
	}
	pthread_mutex_lock(&r->send_lock);
	r->link->ops->close(r->link);
	r->link = NULL;
	pthread_mutex_unlock(&r->send_lock);
	/* Nobody will ack what is held: let it out, run unprotected. */
	r->policy->ops->protection(r->policy, false);
	stat_set(r->stats.protected_now, 0);
	stat_inc(r->stats.disconnects);
	log_error("replication: BACKUP LOST - the VM keeps running "
		  "UNPROTECTED; reconnecting to %s every %d ms",
		  r->backup_addr, RECONNECT_MS);
}

static int link_connect(struct replicator *r)
{
	struct repl_hello hello = {
	    .version = REPL_VERSION,
	    .mode = r->mode,
	    .session = r->session,
	    .mem_size = r->vm->mem_size,
	    .epoch_ms = r->epoch_ms,
	};
	struct ckpt_buf buf;
	struct transport *t;
	int ret;

	ret = transport_tcp_connect(r->backup_addr, CONNECT_TIMEOUT_MS, &t);
	if (ret)
		return ret;
	ckpt_buf_init(&buf);
	ret = repl_encode_hello(&buf, &hello);
	if (!ret)
		ret = t->ops->send(t, buf.data, buf.len);
	ckpt_buf_free(&buf);
	if (ret) {
		t->ops->close(t);
		return ret;
	}
	pthread_mutex_lock(&r->send_lock);
	r->link = t;
	r->last_send_ns = clock_mono_ns();
	pthread_mutex_unlock(&r->send_lock);
	r->link_broken = 0;
	r->need_full = true;
	if (pthread_create(&r->ack_thread, NULL, ack_thread_main, r) == 0)
		r->ack_thread_running = true;
	stat_inc(r->stats.connects);
	log_info("replication: connected to backup %s (%s mode, epoch %u "
		 "ms); sending a full checkpoint",
		 t->peer, repl_mode_name(r->mode), r->epoch_ms);
	return 0;
}

/* Digests kept between two collects; more means the backup must resync. */
#define RX_DIGESTS_CAP (1u << 20)

void replicator_rx_observer(void *ctx, const uint8_t *frame, uint32_t len)
{
	struct replicator *r = ctx;

	/* What no capture takes must not be expected of the backup's log. */
	if (r->rx_filter_on && !guest_filter_wants(&r->rx_filter, frame, len))
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

/* Runs on the vCPU thread, vCPU stopped: the only part that pauses it. */
static int collect_while_paused(struct vm *vm, void *arg)
{
	struct replicator *r = arg;
	int ret = vm_snapshot_collect(vm, &r->snap, r->need_full);

	if (ret)
		return ret;
	r->epoch++;
	r->snap.epoch = r->epoch;
	cut_digests(r);
	/* Frames from now on belong to the next epoch. */
	r->policy->ops->collected(r->policy, r->epoch);
	if (r->need_full)
		r->policy->ops->protection(r->policy, true);
	return 0;
}

static void base_apply(struct replicator *r)
{
	const struct vm_snapshot *s = &r->snap;

	if (s->full)
		madvise(r->base, r->vm->mem_size, MADV_DONTNEED); /* zeros */
	for (size_t i = 0; i < s->npages; i++)
		memcpy(r->base + s->pfns[i] * 4096u, s->pages + i * 4096u,
		       4096u);
}

static int send_epoch(struct replicator *r, struct ckpt_buf *buf,
		      struct ckpt_buf *extra)
{
	const struct vm_snapshot *s = &r->snap;
	int ret;

	ckpt_buf_reset(buf);
	ckpt_buf_reset(extra);
	if (r->mode == REPL_MODE_REVERSE || r->mode == REPL_MODE_NAIVE) {
		ret = repl_encode_digests(
			extra, s->epoch, r->epoch_digests,
			(uint32_t)r->epoch_count,
			r->epoch_incomplete ? REPL_DIGESTS_INCOMPLETE : 0);
		if (ret)
			return ret;
	}
	ret = vm_snapshot_encode_with(s, r->vm->mem_size,
				      s->full ? NULL : r->base, r->compress,
				      extra, buf, NULL);
	if (ret) {
		log_error("replication: cannot encode epoch %llu: %s",
			  (unsigned long long)s->epoch, strerror(-ret));
		return ret;
	}
	ret = link_send(r, buf);
	if (ret)
		return ret;
	/* The backup will hold exactly this once it commits. */
	base_apply(r);
	stat_inc(r->stats.epochs);
	if (s->full)
		stat_inc(r->stats.full_epochs);
	stat_add(r->stats.pages, s->npages);
	stat_add(r->stats.raw_bytes, s->npages * 4096u);
	stat_add(r->stats.pause_ns_total, s->pause_ns);
	stat_set(r->stats.pause_ns_last, s->pause_ns);
	if (s->pause_ns > stat_read(r->stats.pause_ns_max))
		stat_set(r->stats.pause_ns_max, s->pause_ns);
	/* One line per epoch (--log-level debug): per-epoch distributions. */
	log_debug("replication: epoch %llu: %zu pages, pause %llu us, %zu "
		  "bytes for %zu raw",
		  (unsigned long long)s->epoch, s->npages,
		  (unsigned long long)(s->pause_ns / 1000u), buf->len,
		  s->npages * 4096u);
	if (s->pause_ns > 20000000u)
		log_warn("replication: epoch %llu paused the VM %.1f ms (%zu "
			 "pages: dirty log %.1f ms, copy %.1f ms, state %.1f "
			 "ms)",
			 (unsigned long long)s->epoch, s->pause_ns / 1e6,
			 s->npages, s->dirty_log_ns / 1e6, s->copy_ns / 1e6,
			 s->state_ns / 1e6);
	if (s->full) {
		r->need_full = false;
		stat_set(r->stats.protected_now, 1);
		log_info("replication: full checkpoint sent (%zu pages, %zu "
			 "bytes); VM protected",
			 s->npages, buf->len);
	}
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
	uint64_t hb = (uint64_t)r->heartbeat_ms * 1000000u;
	struct ckpt_buf buf;

	ckpt_buf_init(&buf);
	while (!r->stop) {
		uint64_t now = clock_mono_ns(), last = r->last_send_ns;

		if (now < last + hb) {
			clock_sleep_until(last + hb);
			continue;
		}
		if (r->link && !r->link_broken) {
			ckpt_buf_reset(&buf);
			if (repl_encode_heartbeat(&buf, r->epoch) == 0 &&
			    link_send(r, &buf) == 0)
				stat_inc(r->stats.heartbeats);
		}
		clock_sleep_until(clock_mono_ns() + hb);
	}
	ckpt_buf_free(&buf);
	return NULL;
}

static void *epoch_thread_main(void *arg)
{
	struct replicator *r = arg;
	uint64_t interval = (uint64_t)r->epoch_ms * 1000000u;
	uint64_t next = clock_mono_ns() + interval, last_start = 0, last_try = 0;
	struct ckpt_buf buf, extra;

	ckpt_buf_init(&buf);
	ckpt_buf_init(&extra);
	while (!r->stop) {
		uint64_t now = clock_mono_ns();
		int ret;

		if (r->link && r->link_broken)
			link_drop(r);
		if (!r->link) {
			if (now - last_try >= RECONNECT_MS * 1000000ull) {
				last_try = now;
				if (link_connect(r) == 0)
					next = now; /* resync at once */
			}
			if (!r->link) {
				clock_sleep_until(now +
					    RECONNECT_MS * 1000000ull / 4);
				continue;
			}
		}
		if (now < next)
			clock_sleep_until(next);
		now = clock_mono_ns();
		if (last_start) {
			stat_add(r->stats.interval_ns_total, now - last_start);
			if (now - last_start >= 2 * interval)
				stat_inc(r->stats.late_epochs);
		}
		last_start = now;
		next =
		    (now - next > interval) ? now + interval : next + interval;
		ret = vm_call_paused(r->vm, collect_while_paused, r);
		if (ret == -ESHUTDOWN)
			break;
		if (ret) {
			log_error("replication: collect failed: %s",
				  strerror(-ret));
			continue;
		}
		if (send_epoch(r, &buf, &extra))
			r->link_broken = 1;
	}
	ckpt_buf_free(&buf);
	ckpt_buf_free(&extra);
	return NULL;
}

int replicator_start(struct replicator *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	r->session = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
		     ((uint64_t)getpid() << 16);
	pthread_mutex_init(&r->send_lock, NULL);
	vm_snapshot_init(&r->snap);
	r->base = mmap(NULL, r->vm->mem_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		return -ENOMEM;
	}
	r->need_full = true;
	if (pthread_create(&r->epoch_thread, NULL, epoch_thread_main, r)) {
		munmap(r->base, r->vm->mem_size);
		r->base = NULL;
		return -EAGAIN;
	}
	if (r->heartbeat_ms && pthread_create(&r->heartbeat_thread, NULL,
					      heartbeat_thread_main, r) == 0)
		r->heartbeat_running = true;
	return 0;
}

void replicator_stop(struct replicator *r)
{
	r->stop = 1;
	pthread_join(r->epoch_thread, NULL);
	if (r->heartbeat_running)
		pthread_join(r->heartbeat_thread, NULL);
	if (r->link) {
		r->link->ops->shutdown(r->link);
		if (r->ack_thread_running)
			pthread_join(r->ack_thread, NULL);
		r->link->ops->close(r->link);
		r->link = NULL;
	}
	vm_snapshot_free(&r->snap);
	free(r->rx_digests);
	free(r->epoch_digests);
	r->rx_digests = r->epoch_digests = NULL;
	if (r->base)
		munmap(r->base, r->vm->mem_size);
	r->base = NULL;
}
