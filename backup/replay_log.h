/* SPDX-License-Identifier: MIT */
/*
 * The backup's replay log: every client->guest frame the backup captured,
 * in capture order, with its capture time and a 64-bit digest. Each
 * committed epoch carries the ordered digests of the frames the primary's
 * VM was given since the previous epoch; committing it trims exactly those
 * (and the frames the VM's input order has moved past). What is left after
 * the last commit is the replay set for failover. docs/replay-log.md has the
 * model and the trim rules.
 *
 * Pure logic, no I/O, no locking (one thread owns a log). Digests are
 * netstate/frame_digest.h's, the function the primary digests with.
 */
#ifndef RRVM_REPLAY_LOG_H
#define RRVM_REPLAY_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest frame the log takes (the vNIC's frame size). */
#define REPLAY_FRAME_MAX 2048u

/* Defaults for --log-limit; the caller may choose others. */
#define REPLAY_LOG_DEFAULT_BYTES  (32ull << 20)
#define REPLAY_LOG_DEFAULT_FRAMES 65536u
/* Bounds on the configured limits (the data ring uses 32-bit offsets). */
#define REPLAY_LOG_MAX_BYTES  (1ull << 30)
#define REPLAY_LOG_MAX_FRAMES (1u << 24)

/* How many epoch marks and capture gaps the log remembers for reports. */
#define REPLAY_MARKS 64u
#define REPLAY_GAPS  64u

/*
 * With a reorder tolerance (mirror, replay_log_set_reorder), a gap's digest
 * stays pending: a frame whose copy reached the backup after its epoch
 * committed (the mirror path lags under load, the capture thread may be
 * descheduled) is then matched late and removed as delivered instead of
 * being replayed twice. Only a copy captured within REPLAY_LATE_WINDOW_NS
 * of the newest frame logged when the gap was seen qualifies (an equal
 * frame sent later, a repeated ARP request, must not pass for it), so the
 * gap is missed for good once the capture has moved past that window, or
 * after REPLAY_LATE_MAX_TRIMS trims without traffic. Time, not a trim
 * count, decides: commits come in bursts when the backup catches up.
 * Pending digests beyond REPLAY_LATE_MAX are missed at once. A frame
 * passed over (see replay_log_set_reorder) is kept REPLAY_LATE_TRIMS trims.
 */
#define REPLAY_LATE_TRIMS     4u
#define REPLAY_LATE_MAX_TRIMS 64u
#define REPLAY_LATE_MAX	      4096u
#define REPLAY_LATE_WINDOW_NS (200ull * 1000 * 1000)

/* Capture time of a frame. */
struct replay_stamp {
	uint64_t mono_ns; /* CLOCK_MONOTONIC: durations, ordering */
	uint64_t real_ns; /* CLOCK_REALTIME: pcapng timestamps */
};

/* One frame in the log, as seen by iteration. Valid until the log changes. */
struct replay_frame {
	uint64_t seq; /* capture sequence number: 1, 2, ... never reused */
	uint64_t digest;
	struct replay_stamp ts;
	const uint8_t *data;
	uint32_t len;
};

/* What one trim did. */
struct replay_trim_result {
	uint64_t epoch;
	uint32_t matched; /* digests matched to a log frame (removed) */
	uint32_t skipped; /* undelivered frames the VM moved past (removed) */
	uint32_t gaps;	  /* digests with no frame in the log: capture gaps */
	uint32_t late;	  /* earlier gaps whose frame came now (removed) */
	uint32_t missed;  /* earlier gaps given up on: never captured */
	uint32_t first_gap_index; /* position in the digest list, if gaps */
	uint64_t first_gap_digest;
	uint64_t bytes_removed;
	uint64_t frames_left;
};

/* The record of one trim: where the commit of `epoch` cut the log. */
struct replay_mark {
	uint64_t epoch;
	uint64_t head_seq; /* first frame left in the log after the trim */
	uint64_t tail_seq; /* frames from this seq on were captured later */
	struct replay_stamp ts; /* when the trim ran */
	uint32_t matched, skipped, gaps;
};

/* One capture gap: the primary gave the VM a frame the log never held. */
struct replay_gap {
	uint64_t epoch;
	uint64_t digest;
	uint32_t index; /* position in that epoch's digest list */
};

struct replay_log_stats {
	uint64_t frames, bytes;		/* in the log now */
	uint64_t frames_hwm, bytes_hwm; /* high-water marks */
	uint64_t limit_frames, limit_bytes;
	uint64_t appended, appended_bytes;
	uint64_t trimmed;    /* frames removed because their digest came */
	uint64_t skipped;    /* frames removed as not delivered */
	uint64_t gaps;	     /* digests with no frame at their commit */
	uint64_t late;	     /* ... whose frame was captured later */
	uint64_t missed;     /* ... never captured (given up on) */
	uint64_t pending;    /* ... still waited for (now) */
	uint64_t overflows;  /* appends refused with -ENOSPC */
	uint64_t cleared;    /* frames dropped by replay_log_clear */
	uint64_t trims;	     /* replay_log_trim calls */
	uint64_t last_epoch; /* epoch of the last trim */
	bool have_epoch;     /* false until the first trim */
};

struct replay_rec;
struct replay_slot;

/*
 * The log. Fields are private to replay_log.c; read them through the
 * functions below. Embeddable: init fills it, free releases it.
 */
struct replay_log {
	uint64_t limit_bytes;
	uint32_t limit_frames;

	/* Frame records, a ring indexed by seq & rec_mask. */
	struct replay_rec *recs;
	uint64_t rec_mask;
	uint64_t head_seq, tail_seq; /* frames in [head, tail), some removed */
	uint64_t live;		     /* ... not removed */
	uint32_t reorder_trims;	     /* replay_log_set_reorder */
	uint64_t stale_ns;	     /* replay_log_set_stale */
	bool late_wall;		     /* replay_log_set_late_wall */

	/* Frame bytes, a ring of 8-byte aligned variable-size entries. */
	uint8_t *data;
	uint64_t data_cap;
	uint64_t data_tail; /* where the next entry goes */

	/* Digest -> oldest and newest live frame with that digest. */
	struct replay_slot *slots;
	uint64_t slot_mask;

	uint64_t bytes;	     /* frame bytes in the log */
	uint64_t held_bytes; /* ... plus tombstones the head has not passed:
				what the byte limit bounds */
	struct replay_log_stats st;

	struct replay_mark marks[REPLAY_MARKS];
	uint64_t
	    nmarks; /* total ever recorded; ring index = n % REPLAY_MARKS */
	struct replay_gap gaps[REPLAY_GAPS];
	uint64_t ngaps;

	/* Gap digests waiting for a late frame, oldest first. */
	struct replay_late {
		uint64_t digest;
		uint64_t until_ns; /* a copy must be captured by then */
		uint32_t age;	   /* trims since it became a gap */
	} late[REPLAY_LATE_MAX];
	uint32_t nlate;
	uint64_t newest_ns; /* capture time of the last frame appended */
};

/*
 * Set up an empty log bounded by `limit_bytes` of frame data and
 * `limit_frames` frames (0 = the defaults). Memory is reserved for the
 * limits up front but only touched as the log fills.
 * 0, -EINVAL (limits out of range) or -ENOMEM.
 */
int replay_log_init(struct replay_log *log, uint64_t limit_bytes,
		    uint32_t limit_frames);
void replay_log_free(struct replay_log *log);

/*
 * Append one captured frame (copied), stamped `ts`: NULL, or a zero field,
 * means now (so a capture backend may pass just its own real_ns).
 * 0; -EINVAL if len is 0 or above REPLAY_FRAME_MAX; -ENOSPC if it would
 * exceed a limit (the log is unchanged and `overflows` counts it). Policy
 * is the caller's: inline holds the frame and stops forwarding until a
 * commit trims room; mirror drops it and reports the overflow.
 */
int replay_log_append(struct replay_log *log, const uint8_t *frame, size_t len,
		      const struct replay_stamp *ts);

/* Whether a frame of `len` bytes would be accepted now (counts nothing). */
bool replay_log_would_fit(const struct replay_log *log, size_t len);

/*
 * Room left: any `frames` more frames (each 1..REPLAY_FRAME_MAX bytes)
 * whose lengths add up to at most `bytes` are accepted, in any order and
 * whatever the log holds. What a capture that forwards in the kernel may
 * let through before the log has taken it (capture_grant).
 */
void replay_log_room(const struct replay_log *log, uint64_t *frames,
		     uint64_t *bytes);

/*
 * Commit of `epoch`: remove the frames whose digests the primary listed
 * (the oldest live copy of each, wherever it sits) and the frames the VM's
 * input moved past (see replay_log_set_reorder); count digests found
 * nowhere in the log as capture gaps, which (mirror) wait for a late copy
 * within REPLAY_LATE_WINDOW_NS. Never fails on content: 0, or -EINVAL for bad
 * arguments. `res` may be NULL.
 */
int replay_log_trim(struct replay_log *log, uint64_t epoch,
		    const uint64_t *digests, size_t n,
		    struct replay_trim_result *res);

/*
 * Called for each frame a trim removes (delivered ones in the VM's input
 * order, then skipped ones in capture order), just before it goes
 * (f->data is valid during the call only): delivered is true for a frame
 * whose digest matched (the committed guest state has seen it: feed it to
 * replay_gate_note_committed), false for a skipped one. It must not touch
 * the log.
 */
typedef void (*replay_trim_fn)(void *arg, const struct replay_frame *f,
			       bool delivered);

/* replay_log_trim, reporting each removed frame to fn (may be NULL). */
int replay_log_trim_cb(struct replay_log *log, uint64_t epoch,
		       const uint64_t *digests, size_t n,
		       struct replay_trim_result *res, replay_trim_fn fn,
		       void *arg);

/*
 * The same for a full checkpoint's list (REPL_DIGESTS_FULL): it names every
 * frame the VM got since its previous collect, some from before this log
 * began (a new backup, a resync), so a digest found nowhere is not a gap.
 */
int replay_log_trim_full_cb(struct replay_log *log, uint64_t epoch,
			    const uint64_t *digests, size_t n,
			    struct replay_trim_result *res, replay_trim_fn fn,
			    void *arg);

/*
 * Failover: the capture has stopped, so no pending gap can be filled any
 * more: match what can be matched now (fn as for a trim), count the rest
 * as missed. res (may be NULL) gets late and missed.
 */
void replay_log_settle_cb(struct replay_log *log,
			  struct replay_trim_result *res, replay_trim_fn fn,
			  void *arg);

/* Drop every frame (e.g. after the replay consumed them). */
void replay_log_clear(struct replay_log *log);

/* Iterate over the log in capture order: false when there is no frame. */
bool replay_log_first(const struct replay_log *log, struct replay_frame *f);
bool replay_log_next(const struct replay_log *log, struct replay_frame *f);
bool replay_log_get(const struct replay_log *log, uint64_t seq,
		    struct replay_frame *f);
bool replay_log_last(const struct replay_log *log, struct replay_frame *f);

/*
 * How many trims a frame may be passed over (a later frame delivered, not
 * it) before it counts as never delivered and goes. 0 (the default): at
 * once, right for one capture point in front of the primary (inline). The
 * mirror topology captures on a second path that may order frames of
 * different flows differently: REPLAY_LATE_TRIMS there.
 */
void replay_log_set_reorder(struct replay_log *log, uint32_t trims);

/*
 * When a trim finds the log full (no room for a full-size frame), frames
 * never delivered this long after their capture (CLOCK_MONOTONIC) are
 * skipped, as if a later frame had passed them (0, the default: never).
 * Without it a log filled with frames that got lost on the way to the
 * primary would stay full - a capture that holds frames back for want of
 * room would then hold back everything, and the VM's input could never
 * move past them. A frame that was only delayed longer than this and
 * delivered after all shows as a capture gap.
 */
void replay_log_set_stale(struct replay_log *log, uint64_t ns);

/*
 * With a reorder tolerance: start a new gap's late window at the trim's
 * own time (CLOCK_MONOTONIC) when that is later than the newest capture.
 * For a second capture path (mirror) whose softirq can be starved of CPU
 * for longer than the window while the primary's path is not: its copies
 * then arrive, and are stamped, late - after the newest capture the log
 * had when the gap was found - without being lost. Captures must be
 * stamped with CLOCK_MONOTONIC for this.
 */
void replay_log_set_late_wall(struct replay_log *log, bool on);
#define REPLAY_STALE_NS (1000ull * 1000 * 1000)

size_t replay_log_frames(const struct replay_log *log);
uint64_t replay_log_bytes(const struct replay_log *log);
void replay_log_stats(const struct replay_log *log,
		      struct replay_log_stats *st);

/*
 * Copy out the last (up to `max`) epoch marks / capture gaps, oldest
 * first. Returns how many were copied.
 */
size_t replay_log_marks(const struct replay_log *log, struct replay_mark *out,
			size_t max);
size_t replay_log_gaps(const struct replay_log *log, struct replay_gap *out,
		       size_t max);

#endif
