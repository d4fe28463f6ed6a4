/* SPDX-License-Identifier: MIT */
/*
 * Replication protocol messages layered on the checkpoint codec's framing
 * (docs/replication-protocol.md). Checkpoint epochs (types 1-5) flow from
 * primary to backup; these types (64+) carry the session around them.
 */
#ifndef RRVM_REPL_PROTOCOL_H
#define RRVM_REPL_PROTOCOL_H

#include <stdint.h>

#include "vmm/ckpt_codec.h"

#define REPL_VERSION 1u

enum repl_msg_type {
	REPL_MSG_HELLO = 64, /* primary -> backup, first message */
	REPL_MSG_ACK = 65, /* backup -> primary: epoch committed */
	REPL_MSG_HEARTBEAT = 66, /* primary -> backup when idle */
	/*
	 * primary -> backup, inside an epoch (between BEGIN and END): the
	 * ordered digests of the frames the VM was given since the previous
	 * epoch. The backup trims exactly those from its replay log when it
	 * commits the epoch.
	 */
	REPL_MSG_RX_DIGESTS = 67,
};

/* RX_DIGESTS flags */
#define REPL_DIGESTS_INCOMPLETE 0x1u /* the primary dropped some (cap hit) */
#define REPL_DIGESTS_MAX ((CKPT_MAX_PAYLOAD - 8) / 8)

enum repl_mode {
	REPL_MODE_NONE = 0, /* unprotected baseline */
	REPL_MODE_BUFFERED = 1, /* Remus: output held until acked */
	REPL_MODE_REVERSE = 2, /* rRVM: output released, backup replays */
	REPL_MODE_NAIVE = 3, /* reverse without a log (shows the problem) */
};

struct repl_hello {
	uint32_t version;
	uint32_t mode; /* enum repl_mode */
	uint64_t session; /* random per primary run: a new one means resync */
	uint64_t mem_size;
	uint32_t epoch_ms;
	uint32_t reserved;
};

const char *repl_mode_name(enum repl_mode mode);
int repl_mode_parse(const char *s, enum repl_mode *mode);

/* Append a message (CRC-framed) to out. 0 or -errno. */
int repl_encode_hello(struct ckpt_buf *out, const struct repl_hello *h);
int repl_encode_ack(struct ckpt_buf *out, uint64_t epoch);
int repl_encode_heartbeat(struct ckpt_buf *out, uint64_t last_epoch);

int repl_encode_digests(struct ckpt_buf *out, uint64_t epoch,
			const uint64_t *digests, uint32_t count, uint32_t flags);

/* Decode a message's payload (already CRC-checked by the decoder). */
int repl_decode_hello(const struct ckpt_msg *msg, struct repl_hello *h);
/* Points *digests into the payload (unaligned-safe copy-out is the
 * caller's: use repl_digest_at). 0 or -EINVAL. */
int repl_decode_digests(const struct ckpt_msg *msg, uint32_t *count,
			uint32_t *flags);
uint64_t repl_digest_at(const struct ckpt_msg *msg, uint32_t i);

#endif
