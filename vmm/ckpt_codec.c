/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint codec: message framing, the encoder and the streaming decoder
 * with its epoch grammar. Page encodings and the PAGES walk are in
 * ckpt_page.c, CRC32C in ckpt_crc.c. Format: docs/checkpoint-format.md.
 *
 * Every multi-byte field is little-endian and read/written byte by byte, so
 * nothing here depends on host byte order or alignment.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/ckpt_codec.h"

#define HDR_SIZE 24u
#define BEGIN_SIZE 32u
#define END_SIZE 16u
#define PAGES_HDR_SIZE 8u
#define PAGE_ENTRY_SIZE 16u
#define PAGES_MIN_SIZE (PAGES_HDR_SIZE + PAGE_ENTRY_SIZE)
#define PAGES_MAX_SIZE                                                        \
	(PAGES_HDR_SIZE +                                                     \
	 (size_t)CKPT_MAX_PAGES_PER_MSG * (PAGE_ENTRY_SIZE + CKPT_PAGE_SIZE))
#define MAX_MEM_SIZE (64ull << 30)

/* ------------------------------------------------------------ LE fields */

static inline void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void header_put(uint8_t *p, const struct ckpt_msg_header *h)
{
	put_u32(p, h->magic);
	put_u16(p + 4, h->type);
	put_u16(p + 6, h->flags);
	put_u32(p + 8, h->length);
	put_u32(p + 12, h->crc);
	put_u64(p + 16, h->epoch);
}

static void header_get(const uint8_t *p, struct ckpt_msg_header *h)
{
	h->magic = get_u32(p);
	h->type = get_u16(p + 4);
	h->flags = get_u16(p + 6);
	h->length = get_u32(p + 8);
	h->crc = get_u32(p + 12);
	h->epoch = get_u64(p + 16);
}

/* CRC of a whole message: header with the crc field as zero, then payload. */
static uint32_t message_crc(const uint8_t *hdr, const uint8_t *payload,
			    uint32_t length)
{
	uint8_t h[HDR_SIZE];
	uint32_t crc;

	memcpy(h, hdr, HDR_SIZE);
	memset(h + 12, 0, 4);
	crc = ckpt_crc32c(0, h, HDR_SIZE);
	return ckpt_crc32c(crc, payload, length);
}

static bool mem_size_valid(uint64_t mem_size)
{
	return mem_size && mem_size % CKPT_PAGE_SIZE == 0 &&
	       mem_size <= MAX_MEM_SIZE;
}

/* --------------------------------------------------------------- buffer */

void ckpt_buf_init(struct ckpt_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void ckpt_buf_free(struct ckpt_buf *b)
{
	free(b->data);
	ckpt_buf_init(b);
}

void ckpt_buf_reset(struct ckpt_buf *b)
{
	b->len = 0;
}

/* Make room for `extra` more bytes; on failure nothing changes. */
static int buf_reserve(struct ckpt_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		return -ENOMEM;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int ckpt_buf_append(struct ckpt_buf *b, const void *data, size_t len)
{
	int rc = buf_reserve(b, len);

	if (rc)
		return rc;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* ---------------------------------------------------------------- encoder */

/* Fill in the header of the message at `m` (payload follows it) and seal it
 * with its CRC. */
static void seal(uint8_t *m, uint16_t type, uint64_t epoch, uint32_t length)
{
	struct ckpt_msg_header h = {
		.magic = CKPT_MAGIC,
		.type = type,
		.flags = 0,
		.length = length,
		.crc = 0,
		.epoch = epoch,
	};

	header_put(m, &h);
	put_u32(m + 12, ckpt_crc32c(0, m, HDR_SIZE + (size_t)length));
}

static int put_message(struct ckpt_buf *out, uint16_t type, uint64_t epoch,
		       const void *payload, size_t length)
{
	uint8_t *m;
	int rc;

	if (length > CKPT_MAX_PAYLOAD || (length && !payload))
		return -EINVAL;
	rc = buf_reserve(out, HDR_SIZE + length);
	if (rc)
		return rc;
	m = out->data + out->len;
	if (length)
		memcpy(m + HDR_SIZE, payload, length);
	seal(m, type, epoch, (uint32_t)length);
	out->len += HDR_SIZE + length;
	return 0;
}

int ckpt_encode_begin(struct ckpt_buf *out, const struct ckpt_begin *begin)
{
	uint8_t p[BEGIN_SIZE];

	if (!out || !begin || begin->version != CKPT_VERSION ||
	    (begin->flags & ~CKPT_BEGIN_FLAGS) ||
	    !mem_size_valid(begin->mem_size))
		return -EINVAL;
	put_u32(p, begin->version);
	put_u32(p + 4, begin->flags);
	put_u64(p + 8, begin->mem_size);
	put_u64(p + 16, begin->epoch);
	put_u64(p + 24, begin->guest_ns);
	return put_message(out, CKPT_MSG_BEGIN, begin->epoch, p, sizeof(p));
}

int ckpt_encode_pages(struct ckpt_buf *out, uint64_t epoch,
		      const struct ckpt_page_ref *pages, size_t n,
		      enum ckpt_compression mode,
		      struct ckpt_encode_stats *stats)
{
	uint64_t by_enc[CKPT_PAGE_ENCODING_MAX + 1] = { 0 };
	uint64_t encoded = 0;
	size_t off;
	uint8_t *m;
	int rc;

	if (!out || !pages || n == 0 || n > CKPT_MAX_PAGES_PER_MSG)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!pages[i].data)
			return -EINVAL;
	/* Worst case: every page RAW. Encode in place, then seal. */
	rc = buf_reserve(out, HDR_SIZE + PAGES_HDR_SIZE +
				      n * (PAGE_ENTRY_SIZE + CKPT_PAGE_SIZE));
	if (rc)
		return rc;
	m = out->data + out->len;
	put_u32(m + HDR_SIZE, (uint32_t)n);
	put_u32(m + HDR_SIZE + 4, 0);
	off = HDR_SIZE + PAGES_HDR_SIZE;
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = m + off;
		uint32_t len = 0;
		enum ckpt_page_encoding enc = ckpt_page_encode(
			pages[i].data, pages[i].base, mode,
			e + PAGE_ENTRY_SIZE, &len);

		put_u64(e, pages[i].pfn);
		e[8] = (uint8_t)enc;
		e[9] = e[10] = e[11] = 0;
		put_u32(e + 12, len);
		off += PAGE_ENTRY_SIZE + len;
		encoded += PAGE_ENTRY_SIZE + len;
		by_enc[enc]++;
	}
	seal(m, CKPT_MSG_PAGES, epoch, (uint32_t)(off - HDR_SIZE));
	out->len += off;
	if (stats) {
		stats->pages += n;
		stats->raw_bytes += (uint64_t)n * CKPT_PAGE_SIZE;
		stats->encoded_bytes += encoded;
		for (int i = 0; i <= CKPT_PAGE_ENCODING_MAX; i++)
			stats->by_encoding[i] += by_enc[i];
	}
	return 0;
}

int ckpt_encode_blob(struct ckpt_buf *out, enum ckpt_msg_type type,
		     uint64_t epoch, const void *data, size_t len)
{
	unsigned int t = (unsigned int)type;

	/* Opaque payloads: VCPU, DEVICE, or a layered protocol's types. */
	if (!out || (t != CKPT_MSG_VCPU && t != CKPT_MSG_DEVICE &&
		     (t <= CKPT_MSG_TYPE_MAX || t > UINT16_MAX)))
		return -EINVAL;
	return put_message(out, (uint16_t)t, epoch, data, len);
}

int ckpt_encode_end(struct ckpt_buf *out, uint64_t epoch,
		    const struct ckpt_end *end)
{
	uint8_t p[END_SIZE];

	if (!out || !end)
		return -EINVAL;
	put_u64(p, end->page_count);
	put_u32(p + 8, end->message_count);
	put_u32(p + 12, 0);
	return put_message(out, CKPT_MSG_END, epoch, p, sizeof(p));
}

/* ---------------------------------------------------------------- decoder */

void ckpt_decoder_init(struct ckpt_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void ckpt_decoder_free(struct ckpt_decoder *d)
{
	free(d->buf);
	ckpt_decoder_init(d);
}

void ckpt_decoder_reset(struct ckpt_decoder *d)
{
	d->buf_len = 0;
	d->in_epoch = false;
	d->epoch = 0;
	d->mem_pages = 0;
	d->pages_seen = 0;
	d->messages_seen = 0;
	d->pages_only = false;
	d->last_type = 0;
	d->err[0] = '\0';
}

static enum ckpt_decode_status fail(struct ckpt_decoder *d, const char *fmt,
				    ...) __attribute__((format(printf, 2, 3)));

static enum ckpt_decode_status fail(struct ckpt_decoder *d, const char *fmt,
				    ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	if (!d->err[0])
		snprintf(d->err, sizeof(d->err), "corrupt stream");
	return CKPT_DECODE_ERROR;
}

static const char *type_name(unsigned int t)
{
	static const char *const names[] = { "?",   "BEGIN",  "PAGES",
					     "VCPU", "DEVICE", "END" };

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* Everything that can be judged from the 24 header bytes alone, so garbage
 * is rejected before waiting for (up to 8 MiB of) payload. Returns ERROR,
 * or NEED_MORE for "acceptable so far". Changes no state. */
static enum ckpt_decode_status check_header(struct ckpt_decoder *d,
					    const struct ckpt_msg_header *h)
{
	unsigned int t = h->type;

	if (h->magic != CKPT_MAGIC)
		return fail(d, "bad magic 0x%08" PRIx32, h->magic);
	if (h->flags != 0)
		return fail(d, "type %u: header flags 0x%04x are not 0", t,
			    h->flags);
	if (t == 0 || (t > CKPT_MSG_END && t <= CKPT_MSG_TYPE_MAX))
		return fail(d, "unknown message type %u", t);
	if (h->length > CKPT_MAX_PAYLOAD)
		return fail(d, "type %u: length %" PRIu32 " > %u", t,
			    h->length, CKPT_MAX_PAYLOAD);
	if (t > CKPT_MSG_TYPE_MAX)
		return CKPT_DECODE_NEED_MORE; /* layered protocol: no grammar */
	if ((t == CKPT_MSG_BEGIN && h->length != BEGIN_SIZE) ||
	    (t == CKPT_MSG_END && h->length != END_SIZE) ||
	    (t == CKPT_MSG_PAGES &&
	     (h->length < PAGES_MIN_SIZE || h->length > PAGES_MAX_SIZE)))
		return fail(d, "%s: bad length %" PRIu32, type_name(t),
			    h->length);
	if (t == CKPT_MSG_BEGIN) {
		if (d->in_epoch)
			return fail(d, "BEGIN of epoch %" PRIu64 " inside "
				    "epoch %" PRIu64 " (no END)",
				    h->epoch, d->epoch);
		return CKPT_DECODE_NEED_MORE;
	}
	if (!d->in_epoch)
		return fail(d, "%s of epoch %" PRIu64 " outside an epoch "
			    "(no BEGIN)", type_name(t), h->epoch);
	if (h->epoch != d->epoch)
		return fail(d, "%s says epoch %" PRIu64 ", BEGIN said %" PRIu64,
			    type_name(t), h->epoch, d->epoch);
	return CKPT_DECODE_NEED_MORE;
}

/* A complete message whose header passed check_header: verify the CRC and
 * the payload, then (only then) advance the grammar state. */
static enum ckpt_decode_status finish(struct ckpt_decoder *d,
				      const struct ckpt_msg_header *h,
				      const uint8_t *m, struct ckpt_msg *msg)
{
	const uint8_t *p = m + HDR_SIZE;
	uint32_t crc = message_crc(m, p, h->length);
	unsigned int t = h->type;

	if (crc != h->crc)
		return fail(d, "type %u epoch %" PRIu64 ": CRC mismatch "
			    "(header 0x%08" PRIx32 ", data 0x%08" PRIx32 ")",
			    t, h->epoch, h->crc, crc);
	if (t > CKPT_MSG_TYPE_MAX)
		goto out;
	if (t != CKPT_MSG_BEGIN && d->messages_seen == UINT32_MAX)
		return fail(d, "epoch %" PRIu64 ": too many messages", d->epoch);

	switch (t) {
	case CKPT_MSG_BEGIN: {
		struct ckpt_begin b = {
			.version = get_u32(p),
			.flags = get_u32(p + 4),
			.mem_size = get_u64(p + 8),
			.epoch = get_u64(p + 16),
			.guest_ns = get_u64(p + 24),
		};

		if (b.version != CKPT_VERSION)
			return fail(d, "BEGIN: version %" PRIu32 ", expected %u",
				    b.version, CKPT_VERSION);
		if (b.flags & ~CKPT_BEGIN_FLAGS)
			return fail(d, "BEGIN: unknown flags 0x%" PRIx32,
				    b.flags);
		if (!mem_size_valid(b.mem_size))
			return fail(d, "BEGIN: bad mem_size %" PRIu64,
				    b.mem_size);
		if (b.epoch != h->epoch)
			return fail(d, "BEGIN: payload epoch %" PRIu64
				    " != header epoch %" PRIu64,
				    b.epoch, h->epoch);
		d->in_epoch = true;
		d->epoch = b.epoch;
		d->mem_pages = b.mem_size / CKPT_PAGE_SIZE;
		d->pages_seen = 0;
		d->messages_seen = 1;
		d->pages_only = b.flags & CKPT_BEGIN_PAGES_ONLY;
		msg->begin = b;
		break;
	}
	case CKPT_MSG_PAGES: {
		char why[128];

		if (ckpt_pages_walk(p, h->length, d->mem_pages, NULL, NULL, why,
				    sizeof(why)))
			return fail(d, "PAGES epoch %" PRIu64 ": %s", h->epoch,
				    why);
		d->pages_seen += get_u32(p);
		d->messages_seen++;
		break;
	}
	case CKPT_MSG_VCPU:
	case CKPT_MSG_DEVICE:
		if (d->pages_only)
			return fail(d,
				    "epoch %" PRIu64 ": %s in a pages-only "
				    "epoch",
				    d->epoch,
				    t == CKPT_MSG_VCPU ? "VCPU" : "DEVICE");
		d->messages_seen++;
		break;
	case CKPT_MSG_END: {
		struct ckpt_end e = {
			.page_count = get_u64(p),
			.message_count = get_u32(p + 8),
			.reserved = get_u32(p + 12),
		};

		if (e.reserved != 0)
			return fail(d, "END: reserved field not 0");
		if (e.page_count != d->pages_seen)
			return fail(d, "END of epoch %" PRIu64 ": %" PRIu64
				    " pages announced, %" PRIu64 " received",
				    d->epoch, e.page_count, d->pages_seen);
		if (e.message_count != d->messages_seen + 1)
			return fail(d, "END of epoch %" PRIu64 ": %" PRIu32
				    " messages announced, %" PRIu32
				    " received", d->epoch, e.message_count,
				    d->messages_seen + 1);
		d->in_epoch = false;
		d->messages_seen++;
		msg->end = e;
		break;
	}
	}
	d->last_type = t;
out:
	msg->header = *h;
	msg->payload = p;
	return CKPT_DECODE_MESSAGE;
}

static int buf_grow(struct ckpt_decoder *d, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (need <= d->buf_cap)
		return 0;
	cap = d->buf_cap ? d->buf_cap : 4096;
	while (cap < need)
		cap *= 2;
	p = realloc(d->buf, cap);
	if (!p)
		return -ENOMEM;
	d->buf = p;
	d->buf_cap = cap;
	return 0;
}

enum ckpt_decode_status ckpt_decoder_feed(struct ckpt_decoder *d,
					  const uint8_t *data, size_t len,
					  size_t *consumed,
					  struct ckpt_msg *msg)
{
	struct ckpt_msg_header h;
	size_t used = 0, total, n;

	memset(msg, 0, sizeof(*msg));
	*consumed = 0;
	if (d->err[0])
		return CKPT_DECODE_ERROR; /* sticky until reset */
	if (len == 0)
		return CKPT_DECODE_NEED_MORE;
	if (!data)
		return fail(d, "no data");

	/* Zero-copy: a whole message at the start of `data`. */
	if (d->buf_len == 0 && len >= HDR_SIZE) {
		header_get(data, &h);
		if (check_header(d, &h) == CKPT_DECODE_ERROR)
			return CKPT_DECODE_ERROR;
		if (h.length <= len - HDR_SIZE) {
			*consumed = HDR_SIZE + (size_t)h.length;
			return finish(d, &h, data, msg);
		}
	}

	/* Reassembly in d->buf: the header first, checked as soon as it is
	 * complete, then the payload. */
	if (d->buf_len < HDR_SIZE) {
		if (buf_grow(d, HDR_SIZE))
			return fail(d, "out of memory");
		n = HDR_SIZE - d->buf_len;
		if (n > len)
			n = len;
		memcpy(d->buf + d->buf_len, data, n);
		d->buf_len += n;
		used = n;
		*consumed = used;
		if (d->buf_len < HDR_SIZE)
			return CKPT_DECODE_NEED_MORE;
		header_get(d->buf, &h);
		if (check_header(d, &h) == CKPT_DECODE_ERROR)
			return CKPT_DECODE_ERROR;
		if (buf_grow(d, HDR_SIZE + (size_t)h.length))
			return fail(d, "out of memory for a %" PRIu32
				    "-byte message", h.length);
	} else {
		header_get(d->buf, &h);
	}
	total = HDR_SIZE + (size_t)h.length;
	n = total - d->buf_len;
	if (n > len - used)
		n = len - used;
	if (n) {
		memcpy(d->buf + d->buf_len, data + used, n);
		d->buf_len += n;
		used += n;
	}
	*consumed = used;
	if (d->buf_len < total)
		return CKPT_DECODE_NEED_MORE;
	d->buf_len = 0; /* d->buf keeps the message until the next call */
	return finish(d, &h, d->buf, msg);
}

int ckpt_decoder_feed_all(struct ckpt_decoder *d, const uint8_t *data,
			  size_t len,
			  int (*fn)(void *ctx, const struct ckpt_msg *msg),
			  void *ctx)
{
	size_t off = 0;

	while (off < len) {
		struct ckpt_msg msg;
		size_t used = 0;
		enum ckpt_decode_status st =
		    ckpt_decoder_feed(d, data + off, len - off, &used, &msg);
		int ret;

		off += used;
		if (st == CKPT_DECODE_ERROR)
			return -EBADMSG;
		if (st == CKPT_DECODE_NEED_MORE)
			break;
		ret = fn(ctx, &msg);
		if (ret)
			return ret;
	}
	return 0;
}
