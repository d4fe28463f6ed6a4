// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the checkpoint decoder (vmm/ckpt_codec.h) and the
 * replication protocol layered on it (common/repl_protocol.h: HELLO, ACK,
 * HEARTBEAT, RX_DIGESTS), i.e. everything the backup decodes from the link.
 *
 * Input: one mode byte, then the byte stream.
 *   mode & 0x03  how the stream is cut: 0 whole, 1 byte by byte, 2-3 chunks
 *                of pseudo-random sizes (seeded by the mode byte and length)
 *   mode & 0x80  fix up every CRC before feeding, so mutations get past the
 *                CRC and reach the grammar, the page walk and the page
 *                decoders (the codec itself is unchanged for fuzzing)
 *
 * Checked: no crash/overrun (ASan/UBSan); every returned message obeys the
 * framing rules; an accepted PAGES payload walks cleanly again; decoded pages
 * re-encode and decode to the same bytes; an accepted END matches the
 * harness's own count of pages and messages since BEGIN; NEED_MORE consumes
 * everything; errors carry a reason. Replication messages: an accepted
 * HELLO is valid and re-encodes to the same payload; accepted RX_DIGESTS
 * have exactly count digests, all readable, and re-encode identically.
 * Migration messages (types 80+): an accepted HANDOVER, CANCEL, DONE or
 * FRAMES re-encodes to the same payload (CANCEL, FRAMES) or fields
 * (HANDOVER, DONE); FRAMES hands over exactly its frames; a pages-only
 * epoch never carries state.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/repl_protocol.h"
#include "vmm/ckpt_codec.h"
#include "tests/fuzz/fuzz_util.h"


#define PG CKPT_PAGE_SIZE

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* What the receiver would hold for a pfn: a few kinds of content. Not
 * inlined, so that coverage-ignore.txt can name it. */
static __attribute__((noinline)) void base_page(uint64_t pfn, uint8_t *p)
{
	switch (pfn % 4) {
	case 0:
		memset(p, 0, PG);
		break;
	case 1:
		for (size_t i = 0; i < PG; i++)
			p[i] = (uint8_t)(i * 31 + pfn);
		break;
	case 2:
		memset(p, 0, PG);
		for (size_t i = 0; i < PG; i += 64)
			memcpy(p + i, "key:000123=value", 16);
		break;
	default:
		memset(p, 0xa5, PG);
		break;
	}
}

struct harness {
	bool in_epoch, pages_only;
	uint64_t epoch, pages, mem_pages;
	uint32_t messages;
	uint64_t pages_in_walk;
};

static int on_page(void *arg, uint64_t pfn, enum ckpt_page_encoding enc,
		   const uint8_t *data, uint32_t len)
{
	struct harness *h = arg;
	static uint8_t base[PG], page[PG], again[PG], enc_buf[PG];
	uint32_t elen;
	enum ckpt_page_encoding e2;

	CHECK(pfn < h->mem_pages);
	CHECK(enc <= CKPT_PAGE_ENCODING_MAX);
	h->pages_in_walk++;
	base_page(pfn, base);
	memcpy(page, base, PG);
	if (ckpt_page_decode(enc, data, len, page))
		return 0; /* content may be invalid; the walk only checks form */
	/* Whatever decoded must survive a re-encode (AUTO: NONE is only
	 * ZERO/RAW, covered by the unit tests). */
	e2 = ckpt_page_encode(page, base, CKPT_COMPRESS_AUTO, enc_buf, &elen);
	CHECK(elen <= PG);
	memcpy(again, base, PG);
	CHECK(ckpt_page_decode(e2, enc_buf, elen, again) == 0);
	CHECK(memcmp(again, page, PG) == 0);
	return 0;
}

/* Recompute the CRC of every complete frame, following the length fields. */
static void fix_crcs(uint8_t *s, size_t len)
{
	size_t o = 0;

	while (len - o >= 24) {
		uint32_t plen = le32(s + o + 8);
		uint32_t crc;

		if (plen > len - o - 24)
			break;
		memset(s + o + 12, 0, 4);
		crc = ckpt_crc32c(0, s + o, 24 + (size_t)plen);
		for (int i = 0; i < 4; i++)
			s[o + 12 + i] = (uint8_t)(crc >> (8 * i));
		o += 24 + (size_t)plen;
	}
}

struct frames_seen {
	uint32_t count;
	size_t bytes;
};

static int count_frame(void *arg, const uint8_t *frame, uint16_t len)
{
	struct frames_seen *f = arg;

	CHECK(frame != NULL && len >= 1 && len <= REPL_FRAME_MAX);
	f->count++;
	f->bytes += 2 + (size_t)len;
	return 0;
}

/* The migration's messages, as rrvm incoming and the source read them. */
static void on_migration_message(const struct ckpt_msg *m, struct ckpt_buf *b)
{
	const struct ckpt_msg_header *hd = &m->header;
	struct repl_handover ho;
	struct repl_cancel c;
	struct repl_done done;
	struct frames_seen f = {0};

	switch (hd->type) {
	case REPL_MSG_HANDOVER:
		if (repl_decode_handover(m, &ho))
			break;
		CHECK(!(ho.flags &
			~(REPL_HANDOVER_RETURN | REPL_HANDOVER_MIGRATE)));
		CHECK(repl_encode_handover(b, hd->epoch, &ho) == 0);
		break;
	case REPL_MSG_CANCEL:
		if (repl_decode_cancel(m, &c))
			break;
		CHECK(c.code != 0 && strlen(c.reason) == hd->length - 4);
		CHECK(repl_encode_cancel(b, c.code, c.reason) == 0);
		CHECK(b->len == 24 + (size_t)hd->length);
		CHECK(memcmp(b->data + 24, m->payload, hd->length) == 0);
		break;
	case REPL_MSG_DONE:
		if (repl_decode_done(m, &done))
			break;
		CHECK(repl_encode_done(b, hd->epoch, &done) == 0);
		CHECK(memcmp(b->data + 24, m->payload, 16) == 0);
		break;
	case REPL_MSG_FRAMES:
		if (repl_decode_frames(m, count_frame, &f))
			break;
		CHECK(4 + f.bytes == hd->length);
		CHECK(f.count == le32(m->payload));
		break;
	}
}

/* Decode a replication message as the backup and primary do; whatever is
 * accepted must be well-formed and survive a re-encode. */
static void on_repl_message(const struct ckpt_msg *m)
{
	const struct ckpt_msg_header *hd = &m->header;
	struct ckpt_buf b;
	struct repl_hello hello;
	uint32_t count, flags;

	ckpt_buf_init(&b);
	switch (hd->type) {
	case REPL_MSG_HELLO:
		if (repl_decode_hello(m, &hello))
			break;
		CHECK(hd->length == 32);
		CHECK(hello.version == REPL_VERSION);
		CHECK(hello.mode <= REPL_MODE_MIGRATE);
		CHECK(hello.mem_size && hello.mem_size % PG == 0);
		CHECK(repl_mode_name((enum repl_mode)hello.mode)[0] != 'u');
		CHECK(repl_encode_hello(&b, &hello) == 0);
		CHECK(b.len == 24 + 32);
		/* Channel fields: a migration's only, the number below the
		 * count (a count of 0 reads as 1, so compare up to it). */
		CHECK(hello.mode == REPL_MODE_MIGRATE
			  ? hello.channel < hello.channels &&
				hello.channels <= REPL_MAX_CHANNELS
			  : !hello.channel && !hello.channels);
		CHECK(memcmp(b.data + 24, m->payload, 30) == 0);
		break;
	case REPL_MSG_RX_DIGESTS: {
		uint64_t *d;

		if (repl_decode_digests(m, &count, &flags))
			break;
		CHECK(count <= REPL_DIGESTS_MAX);
		CHECK(hd->length == 8 + (uint64_t)count * 8);
		d = malloc(count ? count * 8 : 1);
		CHECK(d != NULL);
		for (uint32_t i = 0; i < count; i++)
			d[i] = repl_digest_at(m, i);
		CHECK(repl_encode_digests(&b, hd->epoch, d, count, flags) == 0);
		CHECK(b.len == 24 + (size_t)hd->length);
		CHECK(memcmp(b.data + 24, m->payload, hd->length) == 0);
		free(d);
		break;
	}
	case REPL_MSG_ACK:
	case REPL_MSG_HEARTBEAT:
		/* No payload is read: only the epoch counts. */
		CHECK(repl_encode_ack(&b, hd->epoch) == 0);
		break;
	case REPL_MSG_HANDOVER:
	case REPL_MSG_CANCEL:
	case REPL_MSG_DONE:
	case REPL_MSG_FRAMES:
		on_migration_message(m, &b);
		break;
	default:
		CHECK(repl_decode_hello(m, &hello) == -EINVAL);
		CHECK(repl_decode_digests(m, &count, &flags) == -EINVAL);
		break;
	}
	ckpt_buf_free(&b);
}

static void on_message(struct harness *h, const struct ckpt_msg *m)
{
	const struct ckpt_msg_header *hd = &m->header;
	char err[160];

	CHECK(hd->magic == CKPT_MAGIC);
	CHECK(hd->flags == 0);
	CHECK(hd->length <= CKPT_MAX_PAYLOAD);
	CHECK(hd->type != 0 &&
	      (hd->type <= CKPT_MSG_END || hd->type > CKPT_MSG_TYPE_MAX));
	CHECK(hd->length == 0 || m->payload != NULL);
	if (hd->type > CKPT_MSG_TYPE_MAX) {
		on_repl_message(m);
		return;
	}
	if (hd->type == CKPT_MSG_BEGIN) {
		CHECK(!h->in_epoch);
		CHECK(m->begin.version == CKPT_VERSION);
		CHECK(m->begin.epoch == hd->epoch);
		CHECK(m->begin.mem_size && m->begin.mem_size % PG == 0);
		CHECK((m->begin.flags & ~CKPT_BEGIN_FLAGS) == 0);
		h->in_epoch = true;
		h->pages_only = m->begin.flags & CKPT_BEGIN_PAGES_ONLY;
		h->epoch = hd->epoch;
		h->mem_pages = m->begin.mem_size / PG;
		h->pages = 0;
		h->messages = 1;
		return;
	}
	CHECK(h->in_epoch);
	CHECK(hd->epoch == h->epoch);
	h->messages++;
	switch (hd->type) {
	case CKPT_MSG_PAGES:
		h->pages_in_walk = 0;
		CHECK(ckpt_pages_walk(m->payload, hd->length, h->mem_pages,
				      on_page, h, err, sizeof(err)) == 0);
		CHECK(h->pages_in_walk == le32(m->payload));
		h->pages += h->pages_in_walk;
		break;
	case CKPT_MSG_VCPU:
	case CKPT_MSG_DEVICE:
		CHECK(!h->pages_only);
		break;
	case CKPT_MSG_END:
		/* Never a complete epoch whose counts do not match. */
		CHECK(m->end.page_count == h->pages);
		CHECK(m->end.message_count == h->messages);
		CHECK(m->end.reserved == 0);
		h->in_epoch = false;
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ckpt_decoder d;
	struct harness h = { 0 };
	uint8_t mode, *s;
	size_t len, pos = 0;
	uint64_t rng;
	static const uint8_t magic[4] = { 'R', 'R', 'C', 'K' };

	if (size < 1)
		return 0;
	mode = data[0];
	len = size - 1;
	s = malloc(len ? len : 1);
	if (!s)
		return 0;
	memcpy(s, data + 1, len);
	if (mode & 0x80)
		fix_crcs(s, len);
	rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)mode << 32) ^ len;

	ckpt_decoder_init(&d);
	while (pos < len) {
		size_t end = fuzz_next_cut(mode, &rng, pos, len, 64, 4096);

		while (pos < end) {
			struct ckpt_msg m;
			size_t used = (size_t)-1;
			enum ckpt_decode_status st = ckpt_decoder_feed(
				&d, s + pos, end - pos, &used, &m);

			CHECK(used <= end - pos);
			if (st == CKPT_DECODE_ERROR) {
				const uint8_t *next;

				CHECK(d.err[0] != '\0');
				/* Resynchronise as a receiver would: reset and
				 * look for the next magic. */
				ckpt_decoder_reset(&d);
				h.in_epoch = false;
				pos += used ? used : 1;
				next = memmem(s + pos, len - pos, magic, 4);
				pos = next ? (size_t)(next - s) : len;
				break;
			}
			if (st == CKPT_DECODE_NEED_MORE) {
				CHECK(used == end - pos);
				pos = end;
				break;
			}
			CHECK(st == CKPT_DECODE_MESSAGE);
			CHECK(used > 0);
			on_message(&h, &m);
			pos += used;
		}
	}
	ckpt_decoder_free(&d);
	free(s);
	return 0;
}
