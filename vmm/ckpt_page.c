/* SPDX-License-Identifier: MIT */
/*
 * Pages in the checkpoint codec (docs/checkpoint-format.md): the page
 * encodings ZERO, RAW, XOR_RLE, XOR_LZ4, RLE and LZ4, and the walk over a
 * PAGES payload. The XOR encodings carry the delta `new XOR base`, where
 * base is what the receiver already holds for the page; RLE and LZ4 are the
 * same codes applied to the page itself, for a sender that does not know
 * the receiver's copy (decoded as a delta against zeros).
 *
 * XOR_RLE is a sequence of records, each
 *     zero_run u16 LE | literal_len u16 LE | literal_len bytes
 * meaning "skip zero_run bytes (delta 0: the base byte stays), then XOR the
 * literal bytes into the page". The records cover exactly 4096 bytes; a
 * record with both fields 0 is invalid. An unchanged page is the single
 * record (4096, 0): 4 bytes.
 *
 * Everything works on 64-bit words (memcpy loads: no unaligned casts) and on
 * the stack: no allocation per page.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <lz4.h>

#include "vmm/ckpt_codec.h"

#define PAGE ((size_t)CKPT_PAGE_SIZE)
/* AUTO takes XOR_RLE without trying LZ4 when it is at most this long. */
#define RLE_GOOD_ENOUGH 512u
/* A zero gap shorter than this stays inside a literal: a new record costs 4
 * bytes of header, so breaking a literal only pays for gaps of 5 or more. */
#define RLE_MIN_BREAK 5u
#define RLE_RECORD_HDR 4u

/* PAGES payload: count u32, reserved u32, then per page pfn u64, encoding
 * u8, 3 zero bytes, len u32 and len bytes. */
#define PAGES_HDR_SIZE 8u
#define PAGE_ENTRY_SIZE 16u

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Words are loaded in little-endian order everywhere so that "lowest set
 * bit" means "first byte in memory" on any host. */
static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void store64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void put_u16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline size_t get_u16(const uint8_t *p)
{
	return (size_t)p[0] | (size_t)p[1] << 8;
}

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static bool page_is_zero(const uint8_t *p)
{
	/* 64 bytes per step: one branch per cache line. */
	for (size_t i = 0; i < PAGE; i += 64) {
		uint64_t acc = 0;

		for (size_t k = 0; k < 64; k += 8)
			acc |= load64(p + i + k);
		if (acc)
			return false;
	}
	return true;
}

static void xor_pages(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
	for (size_t i = 0; i < PAGE; i += 8)
		store64(dst + i, load64(a + i) ^ load64(b + i));
}

/* dst[0..n) ^= src[0..n) */
static void xor_into(uint8_t *dst, const uint8_t *src, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		store64(dst + i, load64(dst + i) ^ load64(src + i));
	for (; i < n; i++)
		dst[i] ^= src[i];
}

/*
 * The RLE encoder reads the delta straight from (a XOR b) without
 * materialising it: for the common nearly-unchanged page that saves writing
 * and re-reading 4 KiB. b is never NULL (a zero page stands in).
 */
static const uint8_t zero_page[CKPT_PAGE_SIZE];

static inline uint64_t delta_le64(const uint8_t *a, const uint8_t *b,
				  size_t p)
{
	return load_le64(a + p) ^ load_le64(b + p);
}

/* Length of the run of zero delta bytes starting at p (to the page end). */
static size_t zero_run(const uint8_t *a, const uint8_t *b, size_t p)
{
	size_t start = p;

	/* Skip 32 unchanged bytes per step, then find the exact byte. */
	while (p + 32 <= PAGE &&
	       (delta_le64(a, b, p) | delta_le64(a, b, p + 8) |
		delta_le64(a, b, p + 16) | delta_le64(a, b, p + 24)) == 0)
		p += 32;
	while (p + 8 <= PAGE) {
		uint64_t w = delta_le64(a, b, p);

		if (w)
			return p + ((size_t)__builtin_ctzll(w) >> 3) - start;
		p += 8;
	}
	while (p < PAGE && a[p] == b[p])
		p++;
	return p - start;
}

/* Offset of the first zero delta byte at or after p, or PAGE. */
static size_t next_zero(const uint8_t *a, const uint8_t *b, size_t p)
{
	while (p + 8 <= PAGE) {
		uint64_t w = delta_le64(a, b, p);
		/* Exact for the lowest zero byte (borrows only go upwards). */
		uint64_t z = (w - ONES) & ~w & HIGHS;

		if (z)
			return p + ((size_t)__builtin_ctzll(z) >> 3);
		p += 8;
	}
	while (p < PAGE && a[p] != b[p])
		p++;
	return p;
}

/* Literal bytes: dst = a ^ b. Literals are mostly a few bytes: an inline
 * word loop (a bare memcpy became `rep movsq`, ~150 cycles a time here). */
static inline void copy_delta(uint8_t *dst, const uint8_t *a,
			      const uint8_t *b, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		store64(dst + i, load64(a + i) ^ load64(b + i));
	for (; i < n; i++)
		dst[i] = a[i] ^ b[i];
}

struct rle_result {
	size_t len; /* bytes written; 0 when it did not fit in cap */
	size_t estimate; /* when it did not fit: projected full length */
};

/* Zero-run-length encode the delta a ^ b into out (at most cap bytes). */
static struct rle_result rle_encode(const uint8_t *a, const uint8_t *b,
				    uint8_t *out, size_t cap)
{
	size_t p = 0, o = 0;

	while (p < PAGE) {
		size_t q = p + zero_run(a, b, p);
		size_t e = q, lit;

		if (q < PAGE) {
			for (;;) {
				size_t r;

				e = next_zero(a, b, e);
				if (e >= PAGE)
					break;
				r = zero_run(a, b, e);
				if (r >= RLE_MIN_BREAK || e + r >= PAGE)
					break;
				e += r;
			}
		}
		lit = e - q;
		if (RLE_RECORD_HDR + lit > cap - o) {
			/* Extrapolate from the part of the page covered. */
			size_t done = o + RLE_RECORD_HDR + lit;

			return (struct rle_result){ 0, done * PAGE / e };
		}
		put_u16(out + o, q - p);
		put_u16(out + o + 2, lit);
		copy_delta(out + o + RLE_RECORD_HDR, a + q, b + q, lit);
		o += RLE_RECORD_HDR + lit;
		p = e;
	}
	return (struct rle_result){ o, o };
}

/* Full validation of an XOR_RLE stream (nothing written). */
static int rle_check(const uint8_t *s, size_t len)
{
	size_t o = 0, p = 0;

	while (o < len) {
		size_t z, lit;

		if (p == PAGE)
			return -EINVAL; /* bytes after the page is covered */
		if (len - o < RLE_RECORD_HDR)
			return -EINVAL; /* truncated record header */
		z = get_u16(s + o);
		lit = get_u16(s + o + 2);
		o += RLE_RECORD_HDR;
		if (z == 0 && lit == 0)
			return -EINVAL; /* empty record */
		if (z > PAGE - p)
			return -EINVAL; /* zero run past the page */
		p += z;
		if (lit > PAGE - p)
			return -EINVAL; /* literal past the page */
		if (lit > len - o)
			return -EINVAL; /* literal past the data */
		o += lit;
		p += lit;
	}
	return p == PAGE ? 0 : -EINVAL; /* must cover exactly the page */
}

static void rle_apply(const uint8_t *s, size_t len, uint8_t *page)
{
	size_t o = 0, p = 0;

	while (o < len) {
		size_t z = get_u16(s + o), lit = get_u16(s + o + 2);

		o += RLE_RECORD_HDR;
		p += z;
		xor_into(page + p, s + o, lit);
		o += lit;
		p += lit;
	}
}

/*
 * AUTO: ZERO if the page is zero. Else XOR_RLE if it takes at most 512
 * bytes (the usual nearly-unchanged page: LZ4 is not even tried). Else LZ4
 * of the delta, compared with the RLE length (computed, or extrapolated
 * from the first 512 bytes when that is clearly no better); RAW when
 * neither beats 4096 bytes. Without a base the delta is against zeros and
 * the result is labelled absolute (RLE, LZ4): the bytes are the same.
 */
static enum ckpt_page_encoding page_encode(const uint8_t *data,
					   const uint8_t *base,
					   enum ckpt_compression mode,
					   uint8_t *dst, uint32_t *len)
{
	uint8_t delta_buf[CKPT_PAGE_SIZE] __attribute__((aligned(64)));
	uint8_t scratch[CKPT_PAGE_SIZE];
	const uint8_t *b = base ? base : zero_page, *delta = data;
	struct rle_result rle;
	int lz_len;

	if (page_is_zero(data)) {
		*len = 0;
		return CKPT_PAGE_ZERO;
	}
	if (mode == CKPT_COMPRESS_NONE)
		goto raw;
	rle = rle_encode(data, b, dst, RLE_GOOD_ENOUGH);
	if (rle.len) {
		*len = (uint32_t)rle.len;
		return CKPT_PAGE_XOR_RLE;
	}
	if (base) {
		xor_pages(delta_buf, data, base);
		delta = delta_buf;
	}
	/* Only an encoding strictly shorter than RAW is worth it; LZ4 gives up
	 * (returns 0) when it cannot fit its capacity. */
	lz_len = LZ4_compress_default((const char *)delta, (char *)dst,
				      (int)PAGE, (int)PAGE - 1);
	if (lz_len > 0) {
		if (rle.estimate >= (size_t)lz_len)
			goto lz4;
		rle = rle_encode(data, b, scratch, (size_t)lz_len - 1);
		if (!rle.len)
			goto lz4;
		memcpy(dst, scratch, rle.len);
		*len = (uint32_t)rle.len;
		return CKPT_PAGE_XOR_RLE;
	}
	if (rle.estimate < PAGE) {
		rle = rle_encode(data, b, dst, PAGE - 1);
		if (rle.len) {
			*len = (uint32_t)rle.len;
			return CKPT_PAGE_XOR_RLE;
		}
	}
raw:
	memcpy(dst, data, PAGE);
	*len = CKPT_PAGE_SIZE;
	return CKPT_PAGE_RAW;
lz4:
	*len = (uint32_t)lz_len;
	return CKPT_PAGE_XOR_LZ4;
}

enum ckpt_page_encoding ckpt_page_encode(const uint8_t *data,
					 const uint8_t *base,
					 enum ckpt_compression mode,
					 uint8_t *dst, uint32_t *len)
{
	enum ckpt_page_encoding enc = page_encode(data, base, mode, dst, len);

	if (base)
		return enc;
	if (enc == CKPT_PAGE_XOR_RLE)
		return CKPT_PAGE_RLE;
	if (enc == CKPT_PAGE_XOR_LZ4)
		return CKPT_PAGE_LZ4;
	return enc;
}

int ckpt_page_decode(enum ckpt_page_encoding enc, const uint8_t *data,
		     uint32_t len, uint8_t *page)
{
	uint8_t tmp[CKPT_PAGE_SIZE] __attribute__((aligned(64)));

	if (!page || (len && !data))
		return -EINVAL;
	switch (enc) {
	case CKPT_PAGE_ZERO:
		if (len != 0)
			return -EINVAL;
		memset(page, 0, PAGE);
		return 0;
	case CKPT_PAGE_RAW:
		if (len != CKPT_PAGE_SIZE)
			return -EINVAL;
		memcpy(page, data, PAGE);
		return 0;
	case CKPT_PAGE_XOR_RLE:
	case CKPT_PAGE_RLE:
		if (len == 0 || len > CKPT_PAGE_SIZE || rle_check(data, len))
			return -EINVAL;
		if (enc == CKPT_PAGE_RLE)
			memset(page, 0, PAGE);
		rle_apply(data, len, page);
		return 0;
	case CKPT_PAGE_XOR_LZ4:
	case CKPT_PAGE_LZ4:
		if (len == 0 || len > CKPT_PAGE_SIZE)
			return -EINVAL;
		if (LZ4_decompress_safe((const char *)data, (char *)tmp,
					(int)len, (int)PAGE) != (int)PAGE)
			return -EINVAL;
		if (enc == CKPT_PAGE_LZ4)
			memcpy(page, tmp, PAGE);
		else
			xor_into(page, tmp, PAGE);
		return 0;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------- page walk */

static int walk_fail(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int walk_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err && err_size) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int ckpt_pages_walk(const uint8_t *payload, uint32_t length,
		    uint64_t mem_pages, ckpt_page_fn fn, void *arg, char *err,
		    size_t err_size)
{
	uint32_t count, off = PAGES_HDR_SIZE;

	if (!payload || length < PAGES_HDR_SIZE)
		return walk_fail(err, err_size, "pages: payload of %" PRIu32
				 " bytes is shorter than its header", length);
	count = get_u32(payload);
	if (count == 0 || count > CKPT_MAX_PAGES_PER_MSG)
		return walk_fail(err, err_size,
				 "pages: count %" PRIu32 " not in 1..%u",
				 count, CKPT_MAX_PAGES_PER_MSG);
	if (get_u32(payload + 4) != 0)
		return walk_fail(err, err_size, "pages: reserved field not 0");
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = payload + off;
		uint64_t pfn;
		uint32_t len;
		unsigned int enc;
		bool len_ok;

		if (length - off < PAGE_ENTRY_SIZE)
			return walk_fail(err, err_size,
					 "page %" PRIu32 ": entry header past "
					 "the payload", i);
		pfn = get_u64(e);
		enc = e[8];
		len = get_u32(e + 12);
		if (e[9] | e[10] | e[11])
			return walk_fail(err, err_size,
					 "page %" PRIu32 ": reserved bytes not 0",
					 i);
		if (pfn >= mem_pages)
			return walk_fail(err, err_size,
					 "page %" PRIu32 ": pfn %" PRIu64
					 " >= %" PRIu64 " guest pages",
					 i, pfn, mem_pages);
		switch (enc) {
		case CKPT_PAGE_ZERO:
			len_ok = len == 0;
			break;
		case CKPT_PAGE_RAW:
			len_ok = len == CKPT_PAGE_SIZE;
			break;
		case CKPT_PAGE_XOR_RLE:
		case CKPT_PAGE_XOR_LZ4:
		case CKPT_PAGE_RLE:
		case CKPT_PAGE_LZ4:
			len_ok = len >= 1 && len <= CKPT_PAGE_SIZE;
			break;
		default:
			return walk_fail(err, err_size,
					 "page %" PRIu32 ": unknown encoding %u",
					 i, enc);
		}
		if (!len_ok)
			return walk_fail(err, err_size,
					 "page %" PRIu32 ": length %" PRIu32
					 " invalid for encoding %u",
					 i, len, enc);
		if (len > length - off - PAGE_ENTRY_SIZE)
			return walk_fail(err, err_size,
					 "page %" PRIu32 ": %" PRIu32
					 " data bytes past the payload", i, len);
		if (fn) {
			int rc = fn(arg, pfn, (enum ckpt_page_encoding)enc,
				    e + PAGE_ENTRY_SIZE, len);

			if (rc) {
				walk_fail(err, err_size,
					  "page %" PRIu32 " (pfn %" PRIu64
					  "): callback failed (%d)",
					  i, pfn, rc);
				return rc;
			}
		}
		off += PAGE_ENTRY_SIZE + len;
	}
	if (off != length)
		return walk_fail(err, err_size,
				 "pages: %" PRIu32 " bytes after the last of "
				 "%" PRIu32 " entries", length - off, count);
	return 0;
}
