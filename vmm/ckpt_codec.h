/* SPDX-License-Identifier: MIT */
/*
 * The checkpoint codec: framed messages shared by save files and the
 * replication stream (docs/checkpoint-format.md).
 *
 * A checkpoint (epoch) is BEGIN, then any number of PAGES, VCPU and DEVICE
 * messages, then END. Every message is a 24-byte header + payload; the header
 * carries a CRC32C over header (crc field zero) and payload. Pages are
 * delta-encoded against the copy the receiver already has (XOR, then
 * zero-run-length or LZ4) when the sender knows that copy exactly, else
 * sent as absolute content (zero-run-length or LZ4 of the page itself),
 * with a raw fallback when encoding does not pay.
 *
 * Nothing here does I/O or touches a VM: the encoder appends to a buffer, the
 * decoder validates bytes and hands back messages. All-or-nothing commit is
 * the caller's job (decode into staging, apply after a valid END).
 */
#ifndef RRVM_CKPT_CODEC_H
#define RRVM_CKPT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rrvm/boot_info.h"

/* The stream carries whole guest pages. */
#define CKPT_PAGE_SIZE	       RRVM_PAGE_SIZE
#define CKPT_MAGIC 0x4b435252u /* "RRCK" little-endian */
#define CKPT_VERSION 1u
#define CKPT_MAX_PAYLOAD (8u << 20) /* any message larger is corrupt */
#define CKPT_MAX_PAGES_PER_MSG 1024u

enum ckpt_msg_type {
	CKPT_MSG_BEGIN = 1,
	CKPT_MSG_PAGES = 2,
	CKPT_MSG_VCPU = 3, /* opaque to the codec: vmm/vm_state.c */
	CKPT_MSG_DEVICE = 4, /* opaque to the codec: vmm/vm_state.c */
	CKPT_MSG_END = 5,
	CKPT_MSG_TYPE_MAX = 63, /* types above belong to other protocols */
};

struct ckpt_msg_header {
	uint32_t magic;
	uint16_t type;
	uint16_t flags; /* 0 for now */
	uint32_t length; /* payload bytes */
	uint32_t crc; /* CRC32C of header (crc = 0) then payload */
	uint64_t epoch;
};

#define CKPT_BEGIN_FULL 0x1u /* pages are relative to zero, not a base */
/* Pages only, no VCPU/DEVICE: a live migration's pre-copy round, copied
 * while the guest ran. The receiver's image afterwards is not a consistent
 * checkpoint until an epoch with state follows. */
#define CKPT_BEGIN_PAGES_ONLY 0x2u
#define CKPT_BEGIN_FLAGS      (CKPT_BEGIN_FULL | CKPT_BEGIN_PAGES_ONLY)

struct ckpt_begin {
	uint32_t version; /* CKPT_VERSION */
	uint32_t flags; /* CKPT_BEGIN_* */
	uint64_t mem_size; /* guest RAM bytes; pfns must be below / 4096 */
	uint64_t epoch;
	uint64_t guest_ns; /* guest clock when collected (informational) */
};

struct ckpt_end {
	uint64_t page_count; /* pages in all PAGES messages of this epoch */
	uint32_t message_count; /* messages BEGIN..END inclusive */
	uint32_t reserved;
};

enum ckpt_page_encoding {
	CKPT_PAGE_ZERO = 0,    /* result is all zeros; no data */
	CKPT_PAGE_RAW = 1,     /* data = the 4096 new bytes */
	CKPT_PAGE_XOR_RLE = 2, /* data = zero-run-length of (new XOR base) */
	CKPT_PAGE_XOR_LZ4 = 3, /* data = LZ4 block of (new XOR base) */
	CKPT_PAGE_RLE = 4, /* data = zero-run-length of new (base ignored) */
	CKPT_PAGE_LZ4 = 5, /* data = LZ4 block of new (base ignored) */
	CKPT_PAGE_ENCODING_MAX = 5,
};

enum ckpt_compression {
	CKPT_COMPRESS_NONE = 0, /* RAW or ZERO only (baseline for benches) */
	/* Smallest of ZERO, XOR_RLE, XOR_LZ4, RAW against a known base; of
	 * ZERO, RLE, LZ4, RAW without one. */
	CKPT_COMPRESS_AUTO = 1,
};

/* A growable output buffer. */
struct ckpt_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};
void ckpt_buf_init(struct ckpt_buf *b);
void ckpt_buf_free(struct ckpt_buf *b);
void ckpt_buf_reset(struct ckpt_buf *b); /* len = 0, keeps memory */
/* Append raw bytes (e.g. already-encoded messages). 0 or -ENOMEM. */
int ckpt_buf_append(struct ckpt_buf *b, const void *data, size_t len);

/* One page to encode: `data` is the new content; `base` is exactly what the
 * receiver holds for that pfn, or NULL when the sender does not know it
 * (or for a full checkpoint): the page is then encoded as absolute content
 * (ZERO, RAW, RLE, LZ4), correct whatever the receiver holds. */
struct ckpt_page_ref {
	uint64_t pfn;
	const uint8_t *data;
	const uint8_t *base;
};

struct ckpt_encode_stats {
	uint64_t pages;
	uint64_t raw_bytes; /* pages * 4096 */
	uint64_t encoded_bytes; /* page payload bytes incl. per-page headers */
	uint64_t by_encoding[CKPT_PAGE_ENCODING_MAX + 1];
};

/*
 * Encoder: appends whole messages to `out`. Each returns 0 or -errno
 * (-ENOMEM, -EINVAL for n > CKPT_MAX_PAGES_PER_MSG or bad sizes). `stats`
 * may be NULL.
 */
int ckpt_encode_begin(struct ckpt_buf *out, const struct ckpt_begin *begin);
int ckpt_encode_pages(struct ckpt_buf *out, uint64_t epoch,
		      const struct ckpt_page_ref *pages, size_t n,
		      enum ckpt_compression mode,
		      struct ckpt_encode_stats *stats);
int ckpt_encode_blob(struct ckpt_buf *out, enum ckpt_msg_type type,
		     uint64_t epoch, const void *data, size_t len);
int ckpt_encode_end(struct ckpt_buf *out, uint64_t epoch,
		    const struct ckpt_end *end);

/* Encode one page (exposed for tests and benches). Writes at most
 * CKPT_PAGE_SIZE bytes to `dst`; returns the encoding, sets *len. With
 * base NULL only absolute encodings come out. */
enum ckpt_page_encoding ckpt_page_encode(const uint8_t *data,
					 const uint8_t *base,
					 enum ckpt_compression mode,
					 uint8_t *dst, uint32_t *len);
/* Reconstruct a page in place: `page` holds the base on entry and the new
 * content on success. Validates fully; on error `page` may be partly
 * written only if it is scratch (callers decode into staging). */
int ckpt_page_decode(enum ckpt_page_encoding enc, const uint8_t *data,
		     uint32_t len, uint8_t *page);

/*
 * Streaming decoder. Feed bytes as they arrive; each call returns at most one
 * complete, CRC-checked message. It also checks the epoch grammar: BEGIN
 * first (valid version, mem_size), then PAGES/VCPU/DEVICE with the same
 * epoch (PAGES only after a CKPT_BEGIN_PAGES_ONLY BEGIN), then END whose
 * counts match what was seen. After END the next
 * message must be a new BEGIN.
 */
enum ckpt_decode_status {
	CKPT_DECODE_NEED_MORE = 0, /* consumed everything; no message yet */
	CKPT_DECODE_MESSAGE = 1, /* *msg is valid until the next call */
	CKPT_DECODE_ERROR = -1, /* corrupt; err says why; reset to resync */
};

struct ckpt_msg {
	struct ckpt_msg_header header;
	const uint8_t *payload; /* header.length bytes */
	/* Filled for BEGIN and END. */
	struct ckpt_begin begin;
	struct ckpt_end end;
};

struct ckpt_decoder {
	/* Reassembly of a message split across feeds. */
	uint8_t *buf;
	size_t buf_len, buf_cap;
	/* Grammar state. */
	bool in_epoch;
	uint64_t epoch;
	uint64_t mem_pages;
	uint64_t pages_seen;
	uint32_t messages_seen;
	bool pages_only;    /* the epoch's BEGIN said CKPT_BEGIN_PAGES_ONLY */
	uint32_t last_type; /* for "wrong order" */
	char err[160];
};

void ckpt_decoder_init(struct ckpt_decoder *d);
void ckpt_decoder_free(struct ckpt_decoder *d);
/* Forget any partial message and epoch (after an error or a reconnect). */
void ckpt_decoder_reset(struct ckpt_decoder *d);
/* `*consumed` is how many of `len` bytes were used; call again with the
 * rest. Messages of a type above CKPT_MSG_TYPE_MAX are returned as-is
 * (CRC-checked) without grammar checks, for protocols layered on top. */
enum ckpt_decode_status ckpt_decoder_feed(struct ckpt_decoder *d,
					  const uint8_t *data, size_t len,
					  size_t *consumed,
					  struct ckpt_msg *msg);

/*
 * Every complete message in data, in order, through fn (a message cut at
 * the end is kept for the next call, as with ckpt_decoder_feed). 0 when
 * all of data was used, -EBADMSG on a corrupt stream (err says why), or
 * fn's first non-zero return (the rest of data is not fed).
 */
int ckpt_decoder_feed_all(struct ckpt_decoder *d, const uint8_t *data,
			  size_t len,
			  int (*fn)(void *ctx, const struct ckpt_msg *msg),
			  void *ctx);

/*
 * Walk a PAGES payload (already CRC-checked by the decoder). For each page
 * the callback gets pfn, encoding and encoded bytes; it returns 0 to go on
 * or -errno to stop. Returns 0, a callback error, or -EINVAL on any malformed
 * entry (bad count, pfn >= mem_pages, unknown encoding, lengths past the
 * payload or not matching the encoding), with a reason in err.
 */
typedef int (*ckpt_page_fn)(void *arg, uint64_t pfn,
			    enum ckpt_page_encoding enc, const uint8_t *data,
			    uint32_t len);
int ckpt_pages_walk(const uint8_t *payload, uint32_t length,
		    uint64_t mem_pages, ckpt_page_fn fn, void *arg, char *err,
		    size_t err_size);

uint32_t ckpt_crc32c(uint32_t crc, const void *data, size_t len);

#endif
