/* SPDX-License-Identifier: MIT */
#include "migration/migrate_source.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/transport.h"
#include "migration/migrate_channels.h"
#include "migration/migrate_link.h"
#include "vmm/vm.h"

#define MS 1000000ull
/* The destination answers the profile, READY and DONE within these. */
#define PROFILE_TIMEOUT_NS (10000 * MS)
#define READY_TIMEOUT_NS   (5000 * MS)
#define DONE_TIMEOUT_NS	   (10000 * MS)
/* With several channels, the destination commits a round within this
 * (every channel's part arrived) before the next one goes out. */
#define ROUND_ACK_TIMEOUT_NS (10000 * MS)
/* How long a broken link's reason may lag behind on channel 0. */
#define REASON_WAIT_NS (200 * MS)
/* Staging a round may keep between rounds (the replicator's figure). */
#define STAGING_KEEP_PAGES 16384u
/*
 * The cutover's fixed cost for the planner: HANDOVER -> READY and GO ->
 * DONE are two round trips (measured: the profile's), plus the pause's
 * state capture and the destination's restore, which measured 1-3 ms here
 * (docs/migration.md).
 */
#define FIXED_COST_LOCAL_NS (3 * MS)

const char *migrate_result_name(enum migrate_result r)
{
	switch (r) {
	case MIGRATE_COMPLETED:
		return "completed";
	case MIGRATE_REFUSED:
		return "refused";
	case MIGRATE_CANCELLED:
		return "cancelled";
	case MIGRATE_TIMED_OUT:
		return "timed-out";
	case MIGRATE_FAILED:
		return "failed";
	case MIGRATE_UNKNOWN:
		return "unknown";
	}
	return "?";
}

void migrate_init(struct migration *m)
{
	memset(m, 0, sizeof(*m));
	mchan_init(m);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	vm_snapshot_init(&m->snap);
	ckpt_buf_init(&m->buf);
	rate_limit_init(&m->rate, 0, 0, NULL);
}

void migrate_cancel(struct migration *m, int code, const char *why)
{
	int none = 0;

	pthread_mutex_lock(&m->lock);
	if (!__atomic_load_n(&m->cancel, __ATOMIC_ACQUIRE)) {
		snprintf(m->cancel_why, sizeof(m->cancel_why), "%s", why);
		__atomic_compare_exchange_n(&m->cancel, &none, code, false,
					    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

void migrate_resume(struct vm *vm)
{
	vm_set_frozen(vm, false);
}

/* The first reason is the one reported. */
static int fail(struct migration *m, enum migrate_result result, int ret,
		const char *fmt, ...)
{
	va_list ap;

	if (m->rep->why[0])
		return ret;
	m->rep->result = result;
	va_start(ap, fmt);
	vsnprintf(m->rep->why, sizeof(m->rep->why), fmt, ap);
	va_end(ap);
	return ret;
}

/* A local cancel (or a timeout) as the report says it. */
static int cancelled(struct migration *m)
{
	int code = __atomic_load_n(&m->cancel, __ATOMIC_ACQUIRE);
	char why[sizeof(m->cancel_why)];

	pthread_mutex_lock(&m->lock);
	snprintf(why, sizeof(why), "%s", m->cancel_why);
	pthread_mutex_unlock(&m->lock);
	return fail(m,
		    code == ETIMEDOUT ? MIGRATE_TIMED_OUT : MIGRATE_CANCELLED,
		    -code, "%s", why);
}

/* The link broke or the destination cancelled: say which. */
static int link_failed(struct migration *m, const char *when)
{
	/* With channels, another link may break before channel 0's CANCEL
	 * saying why was read. */
	if (m->p.channels > 1)
		mlink_await_reason(m, REASON_WAIT_NS);
	pthread_mutex_lock(&m->lock);
	if (m->remote_cancelled) {
		m->rep->remote_code = (int)m->remote_cancel.code;
		pthread_mutex_unlock(&m->lock);
		return fail(m, m->profile_ok ? MIGRATE_FAILED : MIGRATE_REFUSED,
			    -(int)m->remote_cancel.code,
			    "the destination %s %s: %s",
			    m->profile_ok ? "stopped the migration" : "refused",
			    when, m->remote_cancel.reason);
	}
	pthread_mutex_unlock(&m->lock);
	return fail(m, MIGRATE_FAILED, -ECONNRESET,
		    "the link to the destination broke %s (%s)", when,
		    m->link_error[0] ? m->link_error : "send failed");
}

/* A send failed: because a cancel broke a stuck link, or on its own. */
static int send_failed(struct migration *m, int ret, const char *when)
{
	if (ret == -ECANCELED || mlink_cancelled(m))
		return cancelled(m);
	return link_failed(m, when);
}

static int profile_while_paused(struct vm *vm, void *arg)
{
	struct migration *m = arg;
	char why[300];
	int ret = vm_profile_from_vm(vm, m->p.image_name, &m->profile, why,
				     sizeof(why));

	if (ret)
		return fail(m, MIGRATE_FAILED, ret,
			    "cannot describe the VM: %s", why);
	/* Round 0 copies all of memory after this: what the monitor wrote
	 * so far (the image at boot, rings...) need not wait for the final
	 * pause. */
	vm_dirty_forget_monitor(vm);
	return 0;
}

static bool profile_answered(const struct migration *m)
{
	return m->profile_ok;
}

/* The further channels, once the destination accepted the profile (it
 * admits them to this session only then). */
static int open_channels(struct migration *m)
{
	int ret = mlink_open_channels(m);

	if (ret == -ECANCELED || mlink_cancelled(m))
		return cancelled(m);
	if (ret)
		return fail(m, MIGRATE_FAILED, ret, "%s", m->link_error);
	ret = mchan_start(m);
	if (ret)
		return fail(m, MIGRATE_FAILED, ret,
			    "cannot start the channel encoders: %s",
			    strerror(-ret));
	return 0;
}

static bool previous_round_acked(const struct migration *m)
{
	return m->acked_epoch >= m->epoch;
}

/*
 * With several channels the parts of a round travel apart: the next epoch
 * (a round or the final one) goes out only once the destination committed
 * the last round, so no channel can start round r + 1 (whose deltas are
 * against round r's pages) while another still carries round r.
 */
static int wait_round_committed(struct migration *m)
{
	int ret;

	if (m->p.channels < 2 || !m->epoch)
		return 0;
	ret = mlink_wait(m, previous_round_acked, ROUND_ACK_TIMEOUT_NS, true);
	if (ret == -ECANCELED)
		return cancelled(m);
	if (ret == -ETIMEDOUT)
		return fail(m, MIGRATE_FAILED, ret,
			    "the destination did not commit round %llu "
			    "within %llu s",
			    (unsigned long long)m->epoch,
			    ROUND_ACK_TIMEOUT_NS / 1000000000ull);
	return ret ? link_failed(m, "during pre-copy") : 0;
}

/* PROFILE, then the destination's verdict before any page moves. */
static int offer_profile(struct migration *m)
{
	uint64_t t0;
	int ret;

	ckpt_buf_reset(&m->buf);
	ret = vm_profile_encode(&m->buf, &m->profile);
	if (ret)
		return fail(m, MIGRATE_FAILED, ret,
			    "cannot encode the profile");
	t0 = clock_mono_ns();
	ret = mlink_send(m, &m->buf, false);
	if (!ret)
		ret = mlink_wait(m, profile_answered, PROFILE_TIMEOUT_NS, true);
	if (ret == -ECANCELED)
		return cancelled(m);
	if (ret == -ETIMEDOUT)
		return fail(m, MIGRATE_FAILED, ret,
			    "the destination did not answer the profile "
			    "within %llu s",
			    PROFILE_TIMEOUT_NS / 1000000000ull);
	if (ret)
		return link_failed(m, "before any page moved");
	m->rep->rtt_ns = clock_mono_ns() - t0;
	precopy_plan_set_fixed_cost(&m->plan,
				    2 * m->rep->rtt_ns + FIXED_COST_LOCAL_NS);
	return open_channels(m);
}

static int collect_full(struct vm *vm, void *arg)
{
	return vm_snapshot_collect(vm, arg, true);
}

static int collect_incremental(struct vm *vm, void *arg)
{
	return vm_snapshot_collect(vm, arg, false);
}

/*
 * The pages of the next round, copied while the guest runs (GET + CLEAR of
 * KVM's log, then the copy: a page written afterwards is logged again).
 * Without manual dirty-log protect the copy needs a short pause. Returns
 * the pages collected or -errno.
 */
static long collect_round(struct migration *m, bool full)
{
	struct vm_snapshot *s = &m->snap;
	int ret;

	if (m->vm->dirty_manual_protect) {
		long n = full ? vm_snapshot_precopy_full(m->vm, s)
			      : vm_snapshot_precopy(m->vm, s);

		return n < 0 ? n : (long)s->npages;
	}
	ret =
	    vm_call_paused(m->vm, full ? collect_full : collect_incremental, s);
	return ret ? ret : (long)s->npages;
}

/* The destination now holds these pages: what later deltas are against. */
static void cache_pages(struct migration *m)
{
	const struct vm_snapshot *s = &m->snap;

	delta_cache_store_epoch(&m->cache, s->pfns, s->pages, s->npages,
				s->full);
}

/* A pre-copy round: the snapshot's pages as one pages-only epoch, split
 * among the channels, each part streamed in batches. */
static int send_round(struct migration *m)
{
	struct vm_snapshot *s = &m->snap;
	struct ckpt_begin begin = {
	    .version = CKPT_VERSION,
	    .mem_size = m->vm->mem_size,
	};
	int ret;

	/* (Without manual protect a paused collect closed it already.) */
	if (m->vm->dirty_manual_protect)
		vm_snapshot_end_round(s);
	ret = wait_round_committed(m);
	if (ret)
		return ret;
	begin.flags = CKPT_BEGIN_PAGES_ONLY | (s->full ? CKPT_BEGIN_FULL : 0);
	s->epoch = begin.epoch = ++m->epoch;
	ret = mchan_send_round(m, &begin);
	if (ret)
		return send_failed(m, ret, "during pre-copy");
	cache_pages(m);
	m->rep->pages_sent += s->npages;
	m->rep->bytes_raw += s->npages * (uint64_t)CKPT_PAGE_SIZE;
	m->rep->rounds++;
	vm_snapshot_trim(s, s->full ? 0 : STAGING_KEEP_PAGES);
	return 0;
}

static void set_throttle(struct migration *m, unsigned percent)
{
	vm_throttle_set(m->vm, percent);
	if (percent > m->rep->throttle_max)
		m->rep->throttle_max = percent;
	log_info("migration: auto-converge: vCPU throttled to %u%%", percent);
}

/*
 * Rounds until the planner says the rest fits in the downtime limit. On
 * return 0 the snapshot holds the last round's pages, copied but not sent
 * (the cutover sends them with the final pause's).
 */
static int pre_copy(struct migration *m)
{
	struct precopy_round round = {0};
	struct precopy_decision d;
	uint64_t t0 = clock_mono_ns(), bytes0 = m->rep->bytes_sent;
	long n;
	int ret;

	n = collect_round(m, true);
	for (unsigned k = 0;; k++) {
		struct migrate_round_info info;

		if (n < 0)
			return fail(m, MIGRATE_FAILED, (int)n,
				    "cannot copy the dirty pages: %s",
				    strerror((int)-n));
		ret = send_round(m);
		if (ret)
			return ret;
		round.bytes_sent = m->rep->bytes_sent - bytes0;
		round.pages_sent = m->snap.npages;
		if (mlink_cancelled(m))
			return cancelled(m);
		/* What the guest dirtied meanwhile: the next round. */
		n = collect_round(m, false);
		round.duration_ns = clock_mono_ns() - t0;
		round.pages_dirtied = n > 0 ? (uint64_t)n : 0;
		t0 = clock_mono_ns();
		bytes0 = m->rep->bytes_sent;
		precopy_plan_round(&m->plan, &round, &d);
		if (d.throttle_changed)
			set_throttle(m, d.throttle);
		m->rep->bandwidth = d.bandwidth;
		m->rep->expected_downtime_ns = d.expected_downtime_ns;
		info = (struct migrate_round_info){
		    .round = k,
		    .pages = round.pages_sent,
		    .bytes_sent = round.bytes_sent,
		    .duration_ns = round.duration_ns,
		    .dirty_rate = d.dirty_rate,
		    .bandwidth = d.bandwidth,
		    .expected_downtime_ns = d.expected_downtime_ns,
		    .throttle = d.throttle,
		    .stop_and_copy =
			n >= 0 && d.action == PRECOPY_STOP_AND_COPY,
		};
		if (m->p.on_round)
			m->p.on_round(m->p.ctx, &info);
		if (info.stop_and_copy) {
			if (m->vm->dirty_manual_protect)
				return 0;
			/* A paused collect closed the epoch: send it too. */
			return send_round(m);
		}
	}
}

/* On the vCPU thread: the last pages and the state; not one guest
 * instruction after this until the destination is known to run. */
static int final_collect(struct vm *vm, void *arg)
{
	struct migration *m = arg;
	int ret = vm_snapshot_collect(vm, &m->snap, false);

	if (ret)
		return ret;
	vm_set_frozen(vm, true);
	m->freeze_ns = clock_mono_ns();
	return 0;
}

static bool ready_or_aborted(const struct migration *m)
{
	return m->ready || m->aborted;
}

static bool done_received(const struct migration *m)
{
	return m->done;
}

/*
 * Frames that reached this host's TAP while the VM was frozen: the clients
 * sent them before the switch learnt the guest's new port (the
 * destination's gratuitous ARP). Forwarded, the destination delivers them
 * and those clients do not wait for a TCP retransmission (200 ms+).
 */
#define FORWARD_WINDOW_NS (30 * MS)
#define FORWARD_POLL_NS	  (2 * MS)
#define FORWARD_BATCH	  64

struct late_frames {
	uint8_t data[FORWARD_BATCH][REPL_FRAME_MAX];
	uint16_t len[FORWARD_BATCH];
	unsigned count;
};

/* vCPU thread, VM frozen: nobody else reads the NIC now. */
static int drain_nic(struct vm *vm, void *arg)
{
	struct late_frames *f = arg;
	struct vnic_backend *nic = vm->vnic.backend;

	f->count = 0;
	while (nic && f->count < FORWARD_BATCH) {
		ssize_t n =
		    nic->ops->receive(nic, f->data[f->count], REPL_FRAME_MAX);

		if (n <= 0)
			break;
		f->len[f->count++] = (uint16_t)n;
	}
	return 0;
}

static void forward_late_frames(struct migration *m)
{
	uint64_t until = clock_mono_ns() + FORWARD_WINDOW_NS;
	struct late_frames *f = malloc(sizeof(*f));
	const uint8_t *frames[FORWARD_BATCH];

	if (!f)
		return;
	for (unsigned i = 0; i < FORWARD_BATCH; i++)
		frames[i] = f->data[i];
	while (clock_mono_ns() < until && mlink_open_now(m)) {
		if (vm_call_paused(m->vm, drain_nic, f) || !f->count) {
			clock_sleep_until(clock_mono_ns() + FORWARD_POLL_NS);
			continue;
		}
		ckpt_buf_reset(&m->buf);
		if (repl_encode_frames(&m->buf, frames, f->len, f->count) ||
		    mlink_send(m, &m->buf, false))
			break;
		m->rep->late_frames += f->count;
	}
	free(f);
}

/* Before GO: the VM runs on here. */
static int abort_cutover(struct migration *m, int ret)
{
	if (mlink_open_now(m))
		mlink_signal(m, REPL_MSG_HANDOVER_ABORT, m->epoch);
	vm_set_frozen(m->vm, false);
	log_warn("migration: cutover aborted (%s); the VM runs on here",
		 m->rep->why);
	return ret;
}

static int send_final(struct migration *m)
{
	struct ckpt_encode_stats st = {0};
	struct repl_handover h = {.flags = REPL_HANDOVER_MIGRATE};
	int ret;

	m->snap.epoch = ++m->epoch;
	ckpt_buf_reset(&m->buf);
	ret =
	    vm_snapshot_encode_with(&m->snap, m->vm->mem_size, mchan_cache_base,
				    m, m->p.compress, NULL, &m->buf, &st);
	if (ret)
		return fail(m, MIGRATE_FAILED, ret,
			    "cannot encode the final epoch: %s",
			    strerror(-ret));
	m->rep->final_pages = m->snap.npages;
	m->rep->final_bytes = m->buf.len;
	m->rep->pages_sent += m->snap.npages;
	m->rep->bytes_raw += m->snap.npages * (uint64_t)CKPT_PAGE_SIZE;
	ret = mlink_send(m, &m->buf, true);
	if (!ret) {
		ckpt_buf_reset(&m->buf);
		ret = repl_encode_handover(&m->buf, m->epoch, &h);
		if (!ret)
			ret = mlink_send(m, &m->buf, false);
	}
	return ret ? send_failed(m, ret, "sending the final epoch") : 0;
}

/*
 * Stop-and-copy and the handover. Before GO any failure thaws the VM here;
 * after GO only a closed link does (the destination's process is gone, so
 * its VM is too); silence leaves the VM frozen (MIGRATE_UNKNOWN).
 */
static int cutover(struct migration *m)
{
	int ret;

	/* (The VM still runs: this wait costs no downtime.) */
	ret = wait_round_committed(m);
	if (ret)
		return ret;
	__atomic_store_n(&m->cutover, 1, __ATOMIC_RELEASE);
	ret = vm_call_paused(m->vm, final_collect, m);
	if (ret)
		return fail(m, MIGRATE_FAILED, ret,
			    "the final collect failed: %s%s", strerror(-ret),
			    ret == -ESHUTDOWN ? " (the VM stopped)" : "");
	ret = send_final(m);
	if (!ret) {
		ret = mlink_wait(m, ready_or_aborted, READY_TIMEOUT_NS, true);
		if (ret == -ECANCELED)
			ret = cancelled(m);
		else if (ret == -ETIMEDOUT)
			ret = fail(m, MIGRATE_FAILED, ret,
				   "the destination did not commit the final "
				   "epoch within %llu s",
				   READY_TIMEOUT_NS / 1000000000ull);
		else if (ret)
			ret = link_failed(m, "in the cutover");
		else if (m->aborted)
			ret = fail(m, MIGRATE_FAILED, -ECONNABORTED,
				   "the destination refused the handover");
	}
	if (!ret && mlink_signal(m, REPL_MSG_HANDOVER_GO, m->epoch))
		ret = link_failed(m, "before GO");
	if (ret)
		return abort_cutover(m, ret);
	__atomic_store_n(&m->cutover, 2, __ATOMIC_RELEASE);
	ret = mlink_wait(m, done_received, DONE_TIMEOUT_NS, false);
	if (ret == -ETIMEDOUT) {
		m->rep->frozen = true;
		return fail(m, MIGRATE_UNKNOWN, ret,
			    "no DONE from the destination within %llu s and "
			    "the link is silent (not closed): it may or may "
			    "not run the VM, so the VM stays FROZEN here "
			    "(never two). Check the destination; if it does "
			    "not run the VM, 'migrate-cancel' resumes it here",
			    DONE_TIMEOUT_NS / 1000000000ull);
	}
	if (ret) {
		link_failed(m, "after GO, before DONE");
		vm_set_frozen(m->vm, false);
		log_warn("migration: the destination failed during the "
			 "cutover; the VM runs on here");
		return ret;
	}
	m->rep->downtime_ns = clock_mono_ns() - m->freeze_ns;
	m->rep->dest_downtime_ns = m->done_msg.downtime_ns;
	m->rep->dest_restore_ns = m->done_msg.restore_ns;
	forward_late_frames(m);
	return 0;
}

static int migrate_setup(struct migration *m)
{
	int ret;

	ret = vm_dirty_claim(m->vm, "a live migration");
	if (ret)
		return fail(m, MIGRATE_FAILED, ret,
			    "the dirty log is in use (%s)",
			    vm_dirty_owner(m->vm));
	m->dirty_claimed = true;
	ret = delta_cache_init(&m->cache, m->vm->mem_size,
			       m->p.delta_cache_bytes);
	if (ret)
		return fail(m, MIGRATE_FAILED, ret, "delta cache: %s",
			    strerror(-ret));
	precopy_plan_init(&m->plan, &m->p.precopy);
	rate_limit_set(&m->rate, m->p.max_bandwidth, 0);
	ret = vm_call_paused(m->vm, profile_while_paused, m);
	if (ret)
		return fail(m, MIGRATE_FAILED, ret, "the VM is not running");
	ret = mlink_open(m);
	if (ret)
		return fail(m, MIGRATE_FAILED, ret, "%s", m->link_error);
	return 0;
}

int migrate_run(struct migration *m, struct vm *vm,
		const struct migrate_params *p, struct migrate_report *rep)
{
	uint64_t t0 = clock_mono_ns();
	int ret;

	memset(rep, 0, sizeof(*rep));
	m->p = *p;
	m->vm = vm;
	m->rep = rep;
	rep->channels = p->channels;
	if (p->timeout_ns)
		m->deadline_ns = t0 + p->timeout_ns;
	if (p->channels < 1 || p->channels > REPL_MAX_CHANNELS)
		ret = fail(m, MIGRATE_FAILED, -EINVAL, "%u channels: 1..%u",
			   p->channels, REPL_MAX_CHANNELS);
	else
		ret = migrate_setup(m);
	if (!ret)
		ret = offer_profile(m);
	if (!ret)
		ret = pre_copy(m);
	if (!ret)
		ret = cutover(m);
	/* The destination discards and exits; tell it why (after GO it is
	 * on its own: gone, or silent). */
	if (ret && rep->result != MIGRATE_REFUSED &&
	    __atomic_load_n(&m->cutover, __ATOMIC_ACQUIRE) < 2 &&
	    mlink_open_now(m))
		mlink_cancel(m, -ret > 0 ? -ret : ECANCELED, rep->why);
	/* The throttle ends with the migration, whatever its outcome. */
	vm_throttle_set(vm, 0);
	mchan_stop(m);
	mlink_close(m);
	for (unsigned i = 0; i < p->channels && i < REPL_MAX_CHANNELS; i++) {
		rep->channel_bytes[i] = m->chan[i].bytes_sent;
		rep->channel_cpu_ns[i] = m->chan[i].cpu_ns;
	}
	rep->total_ns = clock_mono_ns() - t0;
	if (!ret)
		rep->result = MIGRATE_COMPLETED;
	if (m->dirty_claimed)
		vm_dirty_release(vm, "a live migration");
	delta_cache_free(&m->cache);
	vm_snapshot_free(&m->snap);
	ckpt_buf_free(&m->buf);
	rate_limit_destroy(&m->rate);
	return ret;
}
