/* SPDX-License-Identifier: MIT */
#include "common/repl_protocol.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const mode_names[] = {"none", "buffered", "reverse",
					 "naive"};

const char *repl_mode_name(enum repl_mode mode)
{
	return (unsigned)mode < 4 ? mode_names[mode] : "unknown";
}

int repl_mode_parse(const char *s, enum repl_mode *mode)
{
	for (unsigned i = 0; i < 4; i++) {
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
	put_u32(p + 28, 0);
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
	    type != REPL_MSG_HANDOVER_GO && type != REPL_MSG_HANDOVER_ABORT)
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
	    (h->flags & ~REPL_HANDOVER_RETURN))
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
	h->reserved = 0;
	if (h->version != REPL_VERSION || h->mode > REPL_MODE_NAIVE ||
	    h->mem_size == 0 || h->mem_size % 4096)
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
