/* SPDX-License-Identifier: MIT */
/*
 * Replay log. Frame records live in a ring indexed by sequence number, frame
 * bytes in a byte ring, and a hash index maps each digest to its live
 * frames, oldest first. A trim removes the frame each digest names wherever
 * it sits (the two capture paths of the mirror topology may order frames of
 * different flows differently), leaving a tombstone; the head advances over
 * tombstones, so the space comes back in capture order. Append, lookup and
 * removal are O(1): a trim costs O(digests + frames removed + frames the
 * VM moved past) however long the log is.
 *
 * libc only, plus the frame digest (netstate/frame_digest.c).
 */
/* mmap flags, clock ids, mkstemp: POSIX + BSD bits (the Makefile sets it too).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backup/replay_log.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "netstate/frame_digest.h"

/* ---------------------------------------------------------- structures */

/* Sequence numbers start at 1 so that 0 can mean "none" (zeroed memory). */
#define SEQ_NONE 0

struct replay_rec {
	uint64_t digest;
	uint64_t next_same; /* next live frame with this digest, or SEQ_NONE */
	struct replay_stamp ts;
	uint32_t off; /* in the data ring */
	uint32_t len;
	bool removed;	 /* a tombstone until the head passes it */
	uint16_t passed; /* trims that delivered a later frame, not this one */
};

struct replay_slot {
	uint64_t digest;
	uint64_t first; /* SEQ_NONE: the slot is empty */
	uint64_t last;
};

#define ALIGN8(x) (((x) + 7u) & ~(uint64_t)7u)

static void *map_zeroed(size_t size)
{
	/* Reserved, not committed: only what the log touches becomes RSS. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline struct replay_rec *rec_at(const struct replay_log *log,
					uint64_t seq)
{
	return &log->recs[seq & log->rec_mask];
}

static size_t rec_bytes(const struct replay_log *log)
{
	return (log->rec_mask + 1) * sizeof(struct replay_rec);
}

static size_t slot_bytes(const struct replay_log *log)
{
	return (log->slot_mask + 1) * sizeof(struct replay_slot);
}

/* ---------------------------------------------------------- hash index */

static inline uint64_t slot_home(const struct replay_log *log, uint64_t d)
{
	/* Digests are already uniform; the multiply guards against a weak
	 * low half should the digest function ever change. */
	return ((d * 0x9E3779B97F4A7C15ull) >> 32) & log->slot_mask;
}

/* The slot holding `d`, or the empty slot where it would go. */
static struct replay_slot *slot_probe(const struct replay_log *log, uint64_t d)
{
	uint64_t i = slot_home(log, d);

	/* Never full: the table has twice as many slots as frames allowed. */
	for (;;) {
		struct replay_slot *s = &log->slots[i];

		if (s->first == SEQ_NONE || s->digest == d)
			return s;
		i = (i + 1) & log->slot_mask;
	}
}

/*
 * Empty slot i by shifting later members of its probe run back, so lookups
 * need no tombstones and the table never degrades with churn.
 */
static void slot_delete(struct replay_log *log, uint64_t i)
{
	uint64_t j = i;

	for (;;) {
		uint64_t k;

		j = (j + 1) & log->slot_mask;
		if (log->slots[j].first == SEQ_NONE)
			break;
		k = slot_home(log, log->slots[j].digest);
		/* Leave j alone if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		log->slots[i] = log->slots[j];
		i = j;
	}
	memset(&log->slots[i], 0, sizeof(log->slots[i]));
}

/* ------------------------------------------------------------ the ring */

/*
 * Where an entry of `need` bytes would go in the data ring, or -1. Entries
 * never straddle the end (a frame is handed out as one pointer); the live
 * region is [head entry, data_tail), possibly wrapped. A non-empty log
 * whose tail is not past its head is wrapped: the tail may reach the head
 * exactly (full), never pass it.
 */
static int64_t data_place(const struct replay_log *log, uint64_t need)
{
	uint64_t head_off;

	if (log->head_seq == log->tail_seq)
		return 0;
	head_off = rec_at(log, log->head_seq)->off;
	if (log->data_tail > head_off) {
		if (log->data_tail + need <= log->data_cap)
			return (int64_t)log->data_tail;
		return need <= head_off ? 0 : -1;
	}
	return log->data_tail + need <= head_off ? (int64_t)log->data_tail : -1;
}

int replay_log_init(struct replay_log *log, uint64_t limit_bytes,
		    uint32_t limit_frames)
{
	memset(log, 0, sizeof(*log));
	if (!limit_bytes)
		limit_bytes = REPLAY_LOG_DEFAULT_BYTES;
	if (!limit_frames)
		limit_frames = REPLAY_LOG_DEFAULT_FRAMES;
	if (limit_bytes > REPLAY_LOG_MAX_BYTES ||
	    limit_frames > REPLAY_LOG_MAX_FRAMES)
		return -EINVAL;
	log->limit_bytes = limit_bytes;
	log->limit_frames = limit_frames;
	log->rec_mask = pow2_at_least(limit_frames) - 1;
	log->slot_mask = pow2_at_least(2ull * limit_frames) - 1;
	/*
	 * Any set of frames within the limits fits: per-entry padding, at
	 * most one wasted tail at the wrap point, and slack for the frame
	 * that does not fit before the end nor before the head.
	 */
	log->data_cap =
	    limit_bytes + 8ull * limit_frames + 3ull * ALIGN8(REPLAY_FRAME_MAX);
	log->data_cap = (log->data_cap + 4095) & ~4095ull;
	log->recs = map_zeroed(rec_bytes(log));
	log->slots = map_zeroed(slot_bytes(log));
	log->data = map_zeroed(log->data_cap);
	if (!log->recs || !log->slots || !log->data) {
		replay_log_free(log);
		return -ENOMEM;
	}
	log->head_seq = log->tail_seq = 1;
	log->st.limit_bytes = limit_bytes;
	log->st.limit_frames = limit_frames;
	return 0;
}

void replay_log_free(struct replay_log *log)
{
	if (log->recs)
		munmap(log->recs, rec_bytes(log));
	if (log->slots)
		munmap(log->slots, slot_bytes(log));
	if (log->data)
		munmap(log->data, log->data_cap);
	memset(log, 0, sizeof(*log));
}

static bool is_live(const struct replay_log *log, uint64_t seq)
{
	return seq >= log->head_seq && seq < log->tail_seq &&
	       !rec_at(log, seq)->removed;
}

static bool fits(const struct replay_log *log, size_t len)
{
	return log->tail_seq - log->head_seq < log->limit_frames &&
	       log->held_bytes + len <= log->limit_bytes &&
	       data_place(log, ALIGN8(len)) >= 0;
}

bool replay_log_would_fit(const struct replay_log *log, size_t len)
{
	return len && len <= REPLAY_FRAME_MAX && log->data && fits(log, len);
}

void replay_log_room(const struct replay_log *log, uint64_t *frames,
		     uint64_t *bytes)
{
	uint64_t held = log->tail_seq - log->head_seq; /* tombstones too */

	/* data_cap has the slack for padding and the wrap (replay_log_init). */
	*frames = held < log->limit_frames ? log->limit_frames - held : 0;
	*bytes = log->held_bytes < log->limit_bytes
		     ? log->limit_bytes - log->held_bytes
		     : 0;
}

int replay_log_append(struct replay_log *log, const uint8_t *frame, size_t len,
		      const struct replay_stamp *ts)
{
	uint64_t seq = log->tail_seq;
	struct replay_slot *s;
	struct replay_rec *r;
	int64_t off;

	if (!len || len > REPLAY_FRAME_MAX || !frame || !log->data)
		return -EINVAL;
	if (!fits(log, len)) {
		log->st.overflows++;
		return -ENOSPC;
	}
	off = data_place(log, ALIGN8(len));
	memcpy(log->data + off, frame, len);
	log->data_tail = (uint64_t)off + ALIGN8(len);

	r = rec_at(log, seq);
	r->digest = frame_digest(frame, len);
	r->next_same = SEQ_NONE;
	r->off = (uint32_t)off;
	r->len = (uint32_t)len;
	r->removed = false;
	r->passed = 0;
	r->ts.mono_ns =
	    ts && ts->mono_ns ? ts->mono_ns : now_ns(CLOCK_MONOTONIC);
	r->ts.real_ns =
	    ts && ts->real_ns ? ts->real_ns : now_ns(CLOCK_REALTIME);
	log->newest_ns = r->ts.mono_ns;

	s = slot_probe(log, r->digest);
	if (s->first == SEQ_NONE) {
		s->digest = r->digest;
		s->first = seq;
	} else {
		rec_at(log, s->last)->next_same = seq;
	}
	s->last = seq;

	log->tail_seq++;
	log->live++;
	log->bytes += len;
	log->held_bytes += len;
	log->st.appended++;
	log->st.appended_bytes += len;
	if (log->live > log->st.frames_hwm)
		log->st.frames_hwm = log->live;
	if (log->bytes > log->st.bytes_hwm)
		log->st.bytes_hwm = log->bytes;
	return 0;
}

/* A trim's observer: see replay_trim_fn. */
struct trim_obs {
	replay_trim_fn fn;
	void *arg;
};

/*
 * Remove live frame seq (the observer sees it first), leaving a tombstone;
 * returns its length. Usually the oldest live frame with its digest, but
 * not always (a late copy may follow an equal frame): the chain is walked
 * then.
 */
static uint32_t rec_remove(struct replay_log *log, uint64_t seq,
			   const struct trim_obs *obs, bool delivered)
{
	struct replay_rec *r = rec_at(log, seq);
	struct replay_slot *s = slot_probe(log, r->digest);

	if (obs && obs->fn) {
		struct replay_frame f;

		replay_log_get(log, seq, &f);
		obs->fn(obs->arg, &f, delivered);
	}
	if (s->first == seq) {
		s->first = r->next_same;
	} else {
		uint64_t p = s->first;

		while (rec_at(log, p)->next_same != seq)
			p = rec_at(log, p)->next_same;
		rec_at(log, p)->next_same = r->next_same;
		if (s->last == seq)
			s->last = p;
	}
	if (s->first == SEQ_NONE)
		slot_delete(log, (uint64_t)(s - log->slots));
	r->removed = true;
	log->bytes -= r->len;
	log->live--;
	return r->len;
}

/* Advance the head over tombstones: their space is free again. */
static void compact_head(struct replay_log *log)
{
	while (log->head_seq != log->tail_seq &&
	       rec_at(log, log->head_seq)->removed)
		log->held_bytes -= rec_at(log, log->head_seq++)->len;
	/* Empty: restart at offset 0 so the ring stays compact in memory. */
	if (log->head_seq == log->tail_seq)
		log->data_tail = 0;
}

static void note_gap(struct replay_log *log, uint64_t epoch, uint64_t d,
		     size_t index, struct replay_trim_result *res)
{
	struct replay_gap *g = &log->gaps[log->ngaps++ % REPLAY_GAPS];

	g->epoch = epoch;
	g->digest = d;
	g->index = (uint32_t)index;
	if (!res->gaps) {
		res->first_gap_index = g->index;
		res->first_gap_digest = d;
	}
	res->gaps++;
	log->st.gaps++;
}

/*
 * The VM had the frame `digest` names: remove its oldest live copy if it
 * was captured by until_ns.
 */
static bool take(struct replay_log *log, uint64_t digest, uint64_t until_ns,
		 const struct trim_obs *obs, struct replay_trim_result *res,
		 uint64_t *newest)
{
	struct replay_slot *s = slot_probe(log, digest);
	uint64_t seq = s->first;

	if (seq == SEQ_NONE || rec_at(log, seq)->ts.mono_ns > until_ns)
		return false;
	res->bytes_removed += rec_remove(log, seq, obs, true);
	if (seq > *newest)
		*newest = seq;
	return true;
}

/*
 * Earlier gaps whose frame has been captured since: the committed guest
 * had it, so it is removed as delivered. One still absent ages, and after
 * once the capture has moved past its window (or REPLAY_LATE_MAX_TRIMS
 * trims, or at once when give_up) it is missed for good.
 */
static void match_late(struct replay_log *log, const struct trim_obs *obs,
		       struct replay_trim_result *res, bool give_up,
		       uint64_t *newest)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < log->nlate; i++) {
		struct replay_late *p = &log->late[i];

		if (take(log, p->digest, p->until_ns, obs, res, newest)) {
			res->late++;
			log->st.late++;
			log->st.trimmed++;
		} else if (give_up || log->newest_ns > p->until_ns ||
			   ++p->age >= REPLAY_LATE_MAX_TRIMS) {
			res->missed++;
			log->st.missed++;
		} else {
			log->late[kept++] = *p;
		}
	}
	log->nlate = kept;
}

/*
 * Live frames older than the newest delivered one were passed over by the
 * VM's input. In capture order (tolerance 0: inline, one capture point)
 * the VM never had them: they go (skipped), since replaying them later
 * would reorder its input. With a tolerance (mirror) they may merely have
 * been captured out of order against another flow, so they stay until
 * passed over that many trims.
 */
static void skip_passed(struct replay_log *log, uint64_t newest,
			const struct trim_obs *obs,
			struct replay_trim_result *res)
{
	for (uint64_t seq = log->head_seq; seq < newest; seq++) {
		struct replay_rec *r = rec_at(log, seq);

		if (r->removed)
			continue;
		if (r->passed < UINT16_MAX)
			r->passed++;
		if (r->passed <= log->reorder_trims)
			continue;
		res->bytes_removed += rec_remove(log, seq, obs, false);
		res->skipped++;
	}
	compact_head(log);
}

/*
 * Where a new gap's late window starts: the newest capture, or (late_wall)
 * now if that is later - a second capture path starved of CPU delivers
 * its copies late and stamps them late.
 */
static uint64_t late_from(const struct replay_log *log)
{
	uint64_t now;

	if (!log->late_wall)
		return log->newest_ns;
	now = now_ns(CLOCK_MONOTONIC);
	return now > log->newest_ns ? now : log->newest_ns;
}

/*
 * A full log: frames captured more than stale_ns ago and still undelivered
 * go. Only then: a frame merely slow to reach the VM (a starved primary)
 * must not be dropped while there is room to wait for it.
 */
static void skip_stale(struct replay_log *log, const struct trim_obs *obs,
		       struct replay_trim_result *res)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC), frames, bytes;

	if (!log->stale_ns)
		return;
	replay_log_room(log, &frames, &bytes);
	if (frames && bytes >= REPLAY_FRAME_MAX)
		return;
	/* Capture order is time order: stop at the first young frame. */
	for (uint64_t seq = log->head_seq; seq < log->tail_seq; seq++) {
		struct replay_rec *r = rec_at(log, seq);

		if (r->ts.mono_ns + log->stale_ns > now)
			break;
		if (r->removed)
			continue;
		res->bytes_removed += rec_remove(log, seq, obs, false);
		res->skipped++;
	}
	compact_head(log);
}

void replay_log_set_late_wall(struct replay_log *log, bool on)
{
	log->late_wall = on;
}

void replay_log_set_stale(struct replay_log *log, uint64_t ns)
{
	log->stale_ns = ns;
}

void replay_log_set_reorder(struct replay_log *log, uint32_t trims)
{
	log->reorder_trims = trims < UINT16_MAX ? trims : UINT16_MAX - 1;
}

void replay_log_settle_cb(struct replay_log *log,
			  struct replay_trim_result *res, replay_trim_fn fn,
			  void *arg)
{
	const struct trim_obs obs = {.fn = fn, .arg = arg};
	struct replay_trim_result local;
	uint64_t newest = 0;

	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (!log->data)
		return;
	match_late(log, &obs, res, true, &newest);
	skip_passed(log, newest, &obs, res);
	log->st.skipped += res->skipped;
	res->frames_left = log->live;
}

int replay_log_trim(struct replay_log *log, uint64_t epoch,
		    const uint64_t *digests, size_t n,
		    struct replay_trim_result *res)
{
	return replay_log_trim_cb(log, epoch, digests, n, res, NULL, NULL);
}

static int trim(struct replay_log *log, uint64_t epoch,
		const uint64_t *digests, size_t n, bool full,
		struct replay_trim_result *res, replay_trim_fn fn, void *arg)
{
	const struct trim_obs obs = {.fn = fn, .arg = arg};
	struct replay_trim_result local;
	struct replay_mark *m;
	uint64_t tail_at_start = log->tail_seq, newest = 0;

	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	res->epoch = epoch;
	if ((n && !digests) || !log->data)
		return -EINVAL;

	/* Earlier epochs' frames first, in the VM's input order. */
	match_late(log, &obs, res, false, &newest);
	for (size_t i = 0; i < n; i++) {
		/*
		 * Greedy: the oldest live frame with this digest. Equal
		 * frames match one for one because each match removes the
		 * oldest copy.
		 */
		if (take(log, digests[i], UINT64_MAX, &obs, res, &newest)) {
			res->matched++;
			continue;
		}
		/* A full epoch also names frames from before this log. */
		if (full)
			continue;
		/*
		 * Not in the log (yet): the primary's VM got a frame the
		 * backup has not captured. The hole is reported (and, with a
		 * second capture path, waits for a late copy); later digests
		 * still match what follows.
		 */
		note_gap(log, epoch, digests[i], i, res);
		if (log->reorder_trims && log->nlate < REPLAY_LATE_MAX) {
			log->late[log->nlate++] = (struct replay_late){
			    .digest = digests[i],
			    .until_ns = late_from(log) + REPLAY_LATE_WINDOW_NS};
		} else {
			res->missed++;
			log->st.missed++;
		}
	}
	skip_passed(log, newest, &obs, res);
	skip_stale(log, &obs, res);

	log->st.trimmed += res->matched;
	log->st.skipped += res->skipped;
	log->st.trims++;
	log->st.last_epoch = epoch;
	log->st.have_epoch = true;
	res->frames_left = log->live;

	m = &log->marks[log->nmarks++ % REPLAY_MARKS];
	m->epoch = epoch;
	m->head_seq = log->head_seq;
	m->tail_seq = tail_at_start;
	m->ts.mono_ns = now_ns(CLOCK_MONOTONIC);
	m->ts.real_ns = now_ns(CLOCK_REALTIME);
	m->matched = res->matched;
	m->skipped = res->skipped;
	m->gaps = res->gaps;
	return 0;
}

int replay_log_trim_cb(struct replay_log *log, uint64_t epoch,
		       const uint64_t *digests, size_t n,
		       struct replay_trim_result *res, replay_trim_fn fn,
		       void *arg)
{
	return trim(log, epoch, digests, n, false, res, fn, arg);
}

int replay_log_trim_full_cb(struct replay_log *log, uint64_t epoch,
			    const uint64_t *digests, size_t n,
			    struct replay_trim_result *res, replay_trim_fn fn,
			    void *arg)
{
	return trim(log, epoch, digests, n, true, res, fn, arg);
}

void replay_log_clear(struct replay_log *log)
{
	/* One by one: touches only the live slots, not the whole table. */
	for (uint64_t seq = log->head_seq; seq != log->tail_seq; seq++) {
		if (rec_at(log, seq)->removed)
			continue;
		rec_remove(log, seq, NULL, false);
		log->st.cleared++;
	}
	compact_head(log);
	/* What those gaps waited for is gone too. */
	log->st.missed += log->nlate;
	log->nlate = 0;
}

/* ---------------------------------------------------------- read side */

bool replay_log_get(const struct replay_log *log, uint64_t seq,
		    struct replay_frame *f)
{
	const struct replay_rec *r;

	if (!is_live(log, seq))
		return false;
	r = rec_at(log, seq);
	f->seq = seq;
	f->digest = r->digest;
	f->ts = r->ts;
	f->data = log->data + r->off;
	f->len = r->len;
	return true;
}

/* The first live frame at or after seq. */
static bool live_from(const struct replay_log *log, uint64_t seq,
		      struct replay_frame *f)
{
	for (; seq < log->tail_seq; seq++)
		if (replay_log_get(log, seq, f))
			return true;
	return false;
}

bool replay_log_first(const struct replay_log *log, struct replay_frame *f)
{
	return live_from(log, log->head_seq, f);
}

bool replay_log_next(const struct replay_log *log, struct replay_frame *f)
{
	return live_from(log, f->seq + 1, f);
}

bool replay_log_last(const struct replay_log *log, struct replay_frame *f)
{
	for (uint64_t seq = log->tail_seq; seq-- > log->head_seq;)
		if (replay_log_get(log, seq, f))
			return true;
	return false;
}

size_t replay_log_frames(const struct replay_log *log)
{
	return (size_t)log->live;
}

uint64_t replay_log_bytes(const struct replay_log *log)
{
	return log->bytes;
}

void replay_log_stats(const struct replay_log *log, struct replay_log_stats *st)
{
	*st = log->st;
	st->pending = log->nlate;
	st->frames = log->live;
	st->bytes = log->bytes;
}

size_t replay_log_marks(const struct replay_log *log, struct replay_mark *out,
			size_t max)
{
	uint64_t n = log->nmarks < REPLAY_MARKS ? log->nmarks : REPLAY_MARKS;

	if (n > max)
		n = max;
	for (uint64_t i = 0; i < n; i++)
		out[i] = log->marks[(log->nmarks - n + i) % REPLAY_MARKS];
	return (size_t)n;
}

size_t replay_log_gaps(const struct replay_log *log, struct replay_gap *out,
		       size_t max)
{
	uint64_t n = log->ngaps < REPLAY_GAPS ? log->ngaps : REPLAY_GAPS;

	if (n > max)
		n = max;
	for (uint64_t i = 0; i < n; i++)
		out[i] = log->gaps[(log->ngaps - n + i) % REPLAY_GAPS];
	return (size_t)n;
}
