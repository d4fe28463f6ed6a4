/* SPDX-License-Identifier: MIT */
/*
 * Replication protocol messages layered on the checkpoint codec's framing
 * (docs/replication-protocol.md). Checkpoint epochs (types 1-5) flow from
 * primary to backup; these types (64+) carry the session around them.
 */
#ifndef RRVM_REPL_PROTOCOL_H
#define RRVM_REPL_PROTOCOL_H

#include <stdint.h>

/* The framing is the checkpoint codec's (vmm/ckpt_codec.h); callers that
 * build or read messages include it. */
struct ckpt_buf;
struct ckpt_msg;

#define REPL_VERSION 1u

enum repl_msg_type {
	REPL_MSG_HELLO = 64,	 /* primary -> backup, first message */
	REPL_MSG_ACK = 65,	 /* backup -> primary: epoch committed */
	REPL_MSG_HEARTBEAT = 66, /* primary -> backup when idle */
	/*
	 * primary -> backup, inside an epoch (between BEGIN and END): the
	 * ordered digests of the frames the VM was given since the previous
	 * epoch. The backup trims exactly those from its replay log when it
	 * commits the epoch.
	 */
	REPL_MSG_RX_DIGESTS = 67,
	/*
	 * primary -> backup: an orderly stop. The primary's VM is gone and
	 * the backup must not run it (stand down); see docs.
	 */
	REPL_MSG_GOODBYE = 68,
	/*
	 * Planned handover (switchover; also migration's cutover). The
	 * primary froze its VM, sent the final epoch E, then HANDOVER (epoch
	 * E). The backup commits E and answers READY (epoch E) or ABORT; on
	 * READY the primary answers GO and never runs the VM again; on GO the
	 * backup takes over without fencing. A link cut after READY and
	 * before GO leaves the backup unsure: it fails over, fence included.
	 */
	REPL_MSG_HANDOVER = 69,	      /* P -> B: payload struct repl_handover */
	REPL_MSG_HANDOVER_READY = 70, /* B -> P */
	REPL_MSG_HANDOVER_GO = 71,    /* P -> B */
	REPL_MSG_HANDOVER_ABORT = 72, /* either way: the VM stays where it is */

	/*
	 * Live migration (docs/migration.md), types 80-95. The source says
	 * HELLO (mode MIGRATE), then PROFILE (vmm/vm_profile.h); the
	 * destination answers PROFILE_OK or CANCEL before any page moves.
	 * Pre-copy rounds are epochs whose BEGIN has CKPT_BEGIN_PAGES_ONLY;
	 * the final epoch carries the state, then HANDOVER (with
	 * REPL_HANDOVER_MIGRATE), READY, GO as above, and DONE once the VM
	 * runs at the destination. The source ends only after DONE.
	 */
	REPL_MSG_PROFILE = 80,	  /* S -> D: payload vmm/vm_profile.h */
	REPL_MSG_PROFILE_OK = 81, /* D -> S: no payload */
	REPL_MSG_CANCEL = 82,	  /* either way: struct repl_cancel */
	REPL_MSG_DONE = 83,	  /* D -> S: struct repl_done */
	/* S -> D after DONE: frames that reached the source's TAP while the
	 * VM was frozen, for the destination to deliver (struct below). */
	REPL_MSG_FRAMES = 84,
};

/* RX_DIGESTS flags */
#define REPL_DIGESTS_INCOMPLETE 0x1u /* the primary dropped some (cap hit) */
/* A full epoch's list: frames the VM got before this backup's log began
 * are in it too, so a digest with no logged frame is not a capture gap. */
#define REPL_DIGESTS_FULL 0x2u
/* As many as fit a message's largest payload (CKPT_MAX_PAYLOAD, 8 MiB)
 * after the count and flags; checked against it in repl_protocol.c. */
#define REPL_DIGESTS_MAX (((8u << 20) - 8) / 8)

enum repl_mode {
	REPL_MODE_NONE = 0,	/* unprotected baseline */
	REPL_MODE_BUFFERED = 1, /* Remus: output held until acked */
	REPL_MODE_REVERSE = 2,	/* rRVM: output released, backup replays */
	REPL_MODE_NAIVE = 3,	/* reverse without a log (shows the problem) */
	/* Not replication: a live migration to `rrvm incoming` (HELLO only;
	 * never a --mode). */
	REPL_MODE_MIGRATE = 4,
};

/* A migration's parallel channels (--channels N): N links of one
 * session; channel 0 carries the protocol, 1..N-1 only pre-copy pages. */
#define REPL_MAX_CHANNELS 8u

struct repl_hello {
	uint32_t version;
	uint32_t mode; /* enum repl_mode */
	uint64_t session; /* random per primary run: a new one means resync */
	uint64_t mem_size;
	uint32_t epoch_ms;
	/*
	 * Mode MIGRATE only (0 otherwise): which of the session's channels
	 * this link is, of how many (0 is read as 1: a single-link source).
	 */
	uint16_t channel;
	uint16_t channels;
};

/* HANDOVER flags */
#define REPL_HANDOVER_RETURN 0x1u /* the old primary becomes our backup at
				     listen (protect it from there) */
#define REPL_HANDOVER_MIGRATE                                                  \
	0x2u /* a migration's cutover (no backup                               \
		role continues on either side) */

struct repl_handover {
	uint32_t flags;
	char listen[64]; /* "A.B.C.D:PORT" or "" (NUL-terminated) */
};

/* CANCEL: why a migration stops. code is a positive errno value (EBUSY:
 * the destination is busy; ENOTSUP: CPU features; ENOMEM: memory; EINVAL:
 * image or profile; EPROTO: a corrupt stream; ECANCELED: cancelled;
 * ETIMEDOUT: timed out), reason printable ASCII. */
#define REPL_CANCEL_REASON_MAX 240
struct repl_cancel {
	uint32_t code;
	char reason[REPL_CANCEL_REASON_MAX + 1];
};

/* DONE: the destination's VM runs; what the destination measured. */
struct repl_done {
	uint64_t downtime_ns; /* final epoch's first byte -> guest running */
	uint64_t restore_ns;  /* GO -> VM built and attached */
};

/* FRAMES: count u32, then count x (length u16, frame). */
#define REPL_FRAME_MAX 9018u /* a jumbo Ethernet frame */

const char *repl_mode_name(enum repl_mode mode);
int repl_mode_parse(const char *s, enum repl_mode *mode);

/* Append a message (CRC-framed) to out. 0 or -errno. */
int repl_encode_hello(struct ckpt_buf *out, const struct repl_hello *h);
int repl_encode_ack(struct ckpt_buf *out, uint64_t epoch);
int repl_encode_heartbeat(struct ckpt_buf *out, uint64_t last_epoch);

/* GOODBYE, HANDOVER_READY, HANDOVER_GO, HANDOVER_ABORT, PROFILE_OK: no
 * payload. */
int repl_encode_signal(struct ckpt_buf *out, enum repl_msg_type type,
		       uint64_t epoch);
int repl_encode_handover(struct ckpt_buf *out, uint64_t epoch,
			 const struct repl_handover *h);
int repl_decode_handover(const struct ckpt_msg *msg, struct repl_handover *h);

int repl_encode_cancel(struct ckpt_buf *out, uint32_t code, const char *reason);
/* 0 or -EINVAL (bad length, code 0, unprintable reason). */
int repl_decode_cancel(const struct ckpt_msg *msg, struct repl_cancel *c);
int repl_encode_done(struct ckpt_buf *out, uint64_t epoch,
		     const struct repl_done *d);
int repl_decode_done(const struct ckpt_msg *msg, struct repl_done *d);
/* FRAMES: frames[i] of lens[i] bytes (1..REPL_FRAME_MAX each); the caller
 * keeps the payload under CKPT_MAX_PAYLOAD. */
int repl_encode_frames(struct ckpt_buf *out, const uint8_t *const *frames,
		       const uint16_t *lens, uint32_t count);
/* Walk a FRAMES payload: fn(arg, frame, len) per frame, in order. 0,
 * -EINVAL for a malformed payload (nothing was passed to fn then), or fn's
 * first non-zero return. */
int repl_decode_frames(const struct ckpt_msg *msg,
		       int (*fn)(void *arg, const uint8_t *frame, uint16_t len),
		       void *arg);

int repl_encode_digests(struct ckpt_buf *out, uint64_t epoch,
			const uint64_t *digests, uint32_t count, uint32_t flags);

/* Decode a message's payload (already CRC-checked by the decoder).
 * HELLO: -EINVAL also for channel fields outside a migration, more than
 * REPL_MAX_CHANNELS channels, or a channel number not below the count;
 * channels comes back as at least 1 in mode MIGRATE. */
int repl_decode_hello(const struct ckpt_msg *msg, struct repl_hello *h);
/* Points *digests into the payload (unaligned-safe copy-out is the
 * caller's: use repl_digest_at). 0 or -EINVAL. */
int repl_decode_digests(const struct ckpt_msg *msg, uint32_t *count,
			uint32_t *flags);
uint64_t repl_digest_at(const struct ckpt_msg *msg, uint32_t i);

#endif
