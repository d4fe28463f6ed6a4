/* SPDX-License-Identifier: MIT */
#include "common/repl_protocol.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rrvm/boot_info.h"
#include "vmm/ckpt_codec.h"

_Static_assert(REPL_DIGESTS_MAX == (CKPT_MAX_PAYLOAD - 8) / 8,
	       "REPL_DIGESTS_MAX fills exactly one message");

static const char *const mode_names[] = {"none", "buffered", "reverse", "naive",
					 "migrate"};
/* What --mode accepts (migrate is a HELLO, never a protection mode). */
#define PROTECTION_MODES 4

const char *repl_mode_name(enum repl_mode mode)
{
	return (unsigned)mode <= REPL_MODE_MIGRATE ? mode_names[mode]
						   : "unknown";
}

int repl_mode_parse(const char *s, enum repl_mode *mode)
{
	for (unsigned i = 0; i < PROTECTION_MODES; i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*mode = (enum repl_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* x86-64 only, like the rest of the wire format */
}

static void put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

int repl_encode_hello(struct ckpt_buf *out, const struct repl_hello *h)
{
	uint8_t p[32];

	put_u32(p, h->version);
	put_u32(p + 4, h->mode);
	put_u64(p + 8, h->session);
	put_u64(p + 16, h->mem_size);
	put_u32(p + 24, h->epoch_ms);
	memcpy(p + 28, &h->channel, 2);
	memcpy(p + 30, &h->channels, 2);
	return ckpt_encode_blob(out, (enum ckpt_msg_type)REPL_MSG_HELLO, 0, p,
				sizeof(p));
}

int repl_encode_ack(struct ckpt_buf *out, uint64_t epoch)
{
	return ckpt_encode_blob(out, (enum ckpt_msg_type)REPL_MSG_ACK, epoch,
				NULL, 0);
}

int repl_encode_heartbeat(struct ckpt_buf *out, uint64_t last_epoch)
{
	return ckpt_encode_blob(out, (enum ckpt_msg_type)REPL_MSG_HEARTBEAT,
				last_epoch, NULL, 0);
}

int repl_encode_signal(struct ckpt_buf *out, enum repl_msg_type type,
		       uint64_t epoch)
{
	if (type != REPL_MSG_GOODBYE && type != REPL_MSG_HANDOVER_READY &&
	    type != REPL_MSG_HANDOVER_GO && type != REPL_MSG_HANDOVER_ABORT &&
	    type != REPL_MSG_PROFILE_OK)
		return -EINVAL;
	return ckpt_encode_blob(out, (enum ckpt_msg_type)type, epoch, NULL, 0);
}

#define HANDOVER_PAYLOAD (4 + 64)

int repl_encode_handover(struct ckpt_buf *out, uint64_t epoch,
			 const struct repl_handover *h)
{
	uint8_t p[HANDOVER_PAYLOAD] = {0};
	size_t n = strnlen(h->listen, sizeof(h->listen));

	if (n == sizeof(h->listen))
		return -EINVAL;
	put_u32(p, h->flags);
	memcpy(p + 4, h->listen, n);
	return ckpt_encode_blob(out, (enum ckpt_msg_type)REPL_MSG_HANDOVER,
				epoch, p, sizeof(p));
}

int repl_decode_handover(const struct ckpt_msg *msg, struct repl_handover *h)
{
	const uint8_t *p = msg->payload;

	if (msg->header.type != REPL_MSG_HANDOVER ||
	    msg->header.length != HANDOVER_PAYLOAD)
		return -EINVAL;
	memcpy(&h->flags, p, 4);
	memcpy(h->listen, p + 4, sizeof(h->listen));
	/* Must be a terminated string of printable characters. */
	if (h->listen[sizeof(h->listen) - 1] != '\0' ||
	    (h->flags & ~(REPL_HANDOVER_RETURN | REPL_HANDOVER_MIGRATE)))
		return -EINVAL;
	for (const char *c = h->listen; *c; c++)
		if (*c < 0x21 || *c > 0x7e)
			return -EINVAL;
	return 0;
}

int repl_decode_hello(const struct ckpt_msg *msg, struct repl_hello *h)
{
	const uint8_t *p = msg->payload;

	if (msg->header.type != REPL_MSG_HELLO || msg->header.length != 32)
		return -EINVAL;
	memcpy(&h->version, p, 4);
	memcpy(&h->mode, p + 4, 4);
	memcpy(&h->session, p + 8, 8);
	memcpy(&h->mem_size, p + 16, 8);
	memcpy(&h->epoch_ms, p + 24, 4);
	memcpy(&h->channel, p + 28, 2);
	memcpy(&h->channels, p + 30, 2);
	if (h->version != REPL_VERSION || h->mode > REPL_MODE_MIGRATE ||
	    h->mem_size == 0 || h->mem_size % RRVM_PAGE_SIZE)
		return -EINVAL;
	if (h->mode != REPL_MODE_MIGRATE)
		return h->channel || h->channels ? -EINVAL : 0;
	if (!h->channels)
		h->channels = 1;
	if (h->channels > REPL_MAX_CHANNELS || h->channel >= h->channels)
		return -EINVAL;
	return 0;
}

int repl_encode_digests(struct ckpt_buf *out, uint64_t epoch,
			const uint64_t *digests, uint32_t count, uint32_t flags)
{
	size_t len = 8 + (size_t)count * 8;
	uint8_t *p;
	int ret;

	if (count > REPL_DIGESTS_MAX)
		return -EINVAL;
	p = malloc(len);
	if (!p)
		return -ENOMEM;
	put_u32(p, count);
	put_u32(p + 4, flags);
	if (count)
		memcpy(p + 8, digests, (size_t)count * 8);
	ret = ckpt_encode_blob(out, (enum ckpt_msg_type)REPL_MSG_RX_DIGESTS,
			       epoch, p, len);
	free(p);
	return ret;
}

int repl_decode_digests(const struct ckpt_msg *msg, uint32_t *count,
			uint32_t *flags)
{
	uint32_t n;

	if (msg->header.type != REPL_MSG_RX_DIGESTS || msg->header.length < 8)
		return -EINVAL;
	memcpy(&n, msg->payload, 4);
	memcpy(flags, msg->payload + 4, 4);
	if (n > REPL_DIGESTS_MAX || msg->header.length != 8 + (uint64_t)n * 8)
		return -EINVAL;
	*count = n;
	return 0;
}

uint64_t repl_digest_at(const struct ckpt_msg *msg, uint32_t i)
{
	uint64_t d;

	memcpy(&d, msg->payload + 8 + (size_t)i * 8, 8);
	return d;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

int repl_encode_cancel(struct ckpt_buf *out, uint32_t code, const char *reason)
{
	uint8_t p[4 + REPL_CANCEL_REASON_MAX];
	size_t n = strnlen(reason, REPL_CANCEL_REASON_MAX);

	if (!code)
		return -EINVAL;
	put_u32(p, code);
	memcpy(p + 4, reason, n);
	/* Whatever the caller's text holds, the wire gets printable bytes. */
	for (size_t i = 0; i < n; i++)
		if (p[4 + i] < 0x20 || p[4 + i] > 0x7e)
			p[4 + i] = '?';
	return ckpt_encode_blob(out, (enum ckpt_msg_type)REPL_MSG_CANCEL, 0, p,
				4 + n);
}

int repl_decode_cancel(const struct ckpt_msg *msg, struct repl_cancel *c)
{
	uint32_t n;

	if (msg->header.type != REPL_MSG_CANCEL || msg->header.length < 4 ||
	    msg->header.length > 4 + REPL_CANCEL_REASON_MAX)
		return -EINVAL;
	n = msg->header.length - 4;
	memcpy(&c->code, msg->payload, 4);
	memcpy(c->reason, msg->payload + 4, n);
	c->reason[n] = '\0';
	if (!c->code || !printable(c->reason, n))
		return -EINVAL;
	return 0;
}

int repl_encode_done(struct ckpt_buf *out, uint64_t epoch,
		     const struct repl_done *d)
{
	uint8_t p[16];

	put_u64(p, d->downtime_ns);
	put_u64(p + 8, d->restore_ns);
	return ckpt_encode_blob(out, (enum ckpt_msg_type)REPL_MSG_DONE, epoch,
				p, sizeof(p));
}

int repl_decode_done(const struct ckpt_msg *msg, struct repl_done *d)
{
	if (msg->header.type != REPL_MSG_DONE || msg->header.length != 16)
		return -EINVAL;
	memcpy(&d->downtime_ns, msg->payload, 8);
	memcpy(&d->restore_ns, msg->payload + 8, 8);
	return 0;
}

int repl_encode_frames(struct ckpt_buf *out, const uint8_t *const *frames,
		       const uint16_t *lens, uint32_t count)
{
	size_t len = 4, off = 4;
	uint8_t *p;
	int ret;

	for (uint32_t i = 0; i < count; i++) {
		if (!lens[i] || lens[i] > REPL_FRAME_MAX)
			return -EINVAL;
		len += 2 + (size_t)lens[i];
	}
	if (len > CKPT_MAX_PAYLOAD)
		return -EINVAL;
	p = malloc(len);
	if (!p)
		return -ENOMEM;
	put_u32(p, count);
	for (uint32_t i = 0; i < count; i++) {
		memcpy(p + off, &lens[i], 2);
		memcpy(p + off + 2, frames[i], lens[i]);
		off += 2 + (size_t)lens[i];
	}
	ret = ckpt_encode_blob(out, (enum ckpt_msg_type)REPL_MSG_FRAMES, 0, p,
			       len);
	free(p);
	return ret;
}

/* Every length in range and the frames fill the payload exactly. */
static int frames_valid(const struct ckpt_msg *msg, uint32_t *count)
{
	const uint8_t *p = msg->payload;
	size_t off = 4, len = msg->header.length;
	uint32_t n;

	if (msg->header.type != REPL_MSG_FRAMES || len < 4)
		return -EINVAL;
	memcpy(&n, p, 4);
	for (uint32_t i = 0; i < n; i++) {
		uint16_t fl;

		if (len - off < 2)
			return -EINVAL;
		memcpy(&fl, p + off, 2);
		if (!fl || fl > REPL_FRAME_MAX || len - off - 2 < fl)
			return -EINVAL;
		off += 2 + (size_t)fl;
	}
	if (off != len)
		return -EINVAL;
	*count = n;
	return 0;
}

int repl_decode_frames(const struct ckpt_msg *msg,
		       int (*fn)(void *arg, const uint8_t *frame, uint16_t len),
		       void *arg)
{
	size_t off = 4;
	uint32_t n;
	int ret;

	if (frames_valid(msg, &n))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		uint16_t fl;

		memcpy(&fl, msg->payload + off, 2);
		ret = fn(arg, msg->payload + off + 2, fl);
		if (ret)
			return ret;
		off += 2 + (size_t)fl;
	}
	return 0;
}
