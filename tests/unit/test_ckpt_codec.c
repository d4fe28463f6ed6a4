// SPDX-License-Identifier: MIT
/*
 * The checkpoint codec (vmm/ckpt_codec.h, docs/checkpoint-format.md): CRC32C,
 * page encodings, framing, the streaming decoder and its grammar, and that
 * every kind of corruption is rejected without a complete epoch and without
 * touching memory it should not (ASan/UBSan).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "vmm/ckpt_codec.h"

/* Software CRC path of vmm/ckpt_crc.c (not in the header on purpose). */
uint32_t ckpt_crc32c_soft(uint32_t crc, const void *data, size_t len);

#define PG CKPT_PAGE_SIZE
#define MEM_PAGES 256u
#define MEM_SIZE ((uint64_t)MEM_PAGES * PG)

/* ----------------------------------------------------------------- helpers */

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static void fill_random(uint8_t *p, size_t n, uint64_t *s)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd(s) >> 56);
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Bit-at-a-time CRC32C: an independent reference. */
static uint32_t crc_ref(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

/* Frame a message by hand (independently of the encoder). Returns bytes. */
static size_t mk_msg(uint8_t *out, uint32_t magic, uint16_t type,
		     uint16_t flags, uint64_t epoch, const void *payload,
		     uint32_t len)
{
	uint32_t crc;

	put_le(out, magic, 4);
	put_le(out + 4, type, 2);
	put_le(out + 6, flags, 2);
	put_le(out + 8, len, 4);
	put_le(out + 12, 0, 4);
	put_le(out + 16, epoch, 8);
	if (len)
		memcpy(out + 24, payload, len);
	crc = crc_ref(0, out, 24 + (size_t)len);
	put_le(out + 12, crc, 4);
	return 24 + (size_t)len;
}

/* Recompute the CRC of the message at m after editing it. */
static void reseal(uint8_t *m)
{
	uint32_t len = (uint32_t)get_le(m + 8, 4);

	put_le(m + 12, 0, 4);
	put_le(m + 12, crc_ref(0, m, 24 + (size_t)len), 4);
}

static size_t mk_begin(uint8_t *out, uint64_t epoch, uint32_t version,
		       uint32_t flags, uint64_t mem_size, uint64_t pl_epoch)
{
	uint8_t p[32];

	put_le(p, version, 4);
	put_le(p + 4, flags, 4);
	put_le(p + 8, mem_size, 8);
	put_le(p + 16, pl_epoch, 8);
	put_le(p + 24, 123456789, 8);
	return mk_msg(out, CKPT_MAGIC, CKPT_MSG_BEGIN, 0, epoch, p, 32);
}

static size_t mk_end(uint8_t *out, uint64_t epoch, uint64_t pages,
		     uint32_t msgs, uint32_t reserved)
{
	uint8_t p[16];

	put_le(p, pages, 8);
	put_le(p + 8, msgs, 4);
	put_le(p + 12, reserved, 4);
	return mk_msg(out, CKPT_MAGIC, CKPT_MSG_END, 0, epoch, p, 16);
}

/* Text-like content (log lines): LZ4 territory. */
static void fill_text(uint8_t *p, size_t n, uint64_t *s)
{
	static const char *const words[] = {
		"GET",	 "POST",  "/index.html", "/api/v1/items", "200",
		"404",	 "HTTP/1.1", "user", "session", "key", "value",
		"cache", "hit",	 "miss", "the", "of", "and", "client",
	};
	size_t o = 0;

	while (o < n) {
		char w[32];
		int k;

		if (rnd(s) % 6 == 0)
			k = snprintf(w, sizeof(w), "%u ",
				     (unsigned)(rnd(s) % 100000));
		else
			k = snprintf(w, sizeof(w), "%s%c",
				     words[rnd(s) % (sizeof(words) /
						     sizeof(words[0]))],
				     rnd(s) % 9 ? ' ' : '\n');
		for (int i = 0; i < k && o < n; i++)
			p[o++] = (uint8_t)w[i];
	}
}

/* ------------------------------------------------ a kv-store-like heap */

/* Mimics the kv guest's heap: malloc chunks (16-byte header) holding
 * struct kv_entry (next, hash, expire_ms, key_len, type, string
 * {data, len, cap}, key "key:000000001234") and the value bytes. */
struct kv_item {
	uint32_t entry_off, val_off, val_len;
};

struct kv_heap {
	uint8_t *mem;
	size_t pages;
	struct kv_item *items;
	size_t n;
	size_t *first_item; /* per page: first item whose value starts there */
};

#define KV_HEAP_VA 0x400000ull

static void rand_alnum(uint8_t *p, size_t n, uint64_t *s)
{
	static const char set[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)set[rnd(s) % (sizeof(set) - 1)];
}

static void kv_heap_build(struct kv_heap *h, size_t pages, uint64_t *s)
{
	size_t off = 0, bytes = pages * PG, cap = bytes / 64;
	uint64_t prev_va = 0;

	h->mem = calloc(pages, PG);
	h->items = calloc(cap, sizeof(*h->items));
	h->first_item = calloc(pages + 1, sizeof(size_t));
	assert_non_null(h->mem);
	assert_non_null(h->items);
	assert_non_null(h->first_item);
	h->pages = pages;
	h->n = 0;
	for (;;) {
		uint32_t vlen = 8 + (uint32_t)(rnd(s) % 57);
		size_t esz = 16 + 80, vsz = 16 + ((vlen + 15) & ~15u);
		uint8_t *e, *v;
		char key[32];

		if (off + esz + vsz > bytes || h->n == cap)
			break;
		e = h->mem + off;
		put_le(e, (esz | 1), 8); /* chunk size | in use */
		e += 16;
		put_le(e, rnd(s) % 4 ? 0 : prev_va, 8); /* next */
		put_le(e + 8, rnd(s), 8); /* hash */
		put_le(e + 16, rnd(s) % 8 ? 0 : 1700000000000ull, 8);
		put_le(e + 24, 16, 4); /* key_len */
		e[28] = 1; /* KV_STRING */
		put_le(e + 32, KV_HEAP_VA + off + esz + 16, 8); /* data */
		put_le(e + 40, vlen, 8);
		put_le(e + 48, vlen, 8);
		snprintf(key, sizeof(key), "key:%012zu", h->n);
		memcpy(e + 56, key, 16);
		v = h->mem + off + esz;
		put_le(v, (vsz | 1), 8);
		rand_alnum(v + 16, vlen, s);
		h->items[h->n].entry_off = (uint32_t)(off + 16);
		h->items[h->n].val_off = (uint32_t)(off + esz + 16);
		h->items[h->n].val_len = vlen;
		prev_va = KV_HEAP_VA + off + 16;
		h->n++;
		off += esz + vsz;
	}
	/* Index items by the page their value starts on. */
	for (size_t p = 0, i = 0; p <= pages; p++) {
		while (i < h->n && h->items[i].val_off / PG < p)
			i++;
		h->first_item[p] = i;
	}
}

/* SET on a few existing keys of every page: the value is overwritten in
 * place (same length), sometimes with an expiry. */
static void kv_heap_update(struct kv_heap *h, int per_page, uint64_t *s)
{
	for (size_t p = 0; p < h->pages; p++) {
		size_t a = h->first_item[p], b = h->first_item[p + 1];

		if (a == b)
			continue;
		for (int k = 0; k < per_page; k++) {
			struct kv_item *it = &h->items[a + rnd(s) % (b - a)];

			rand_alnum(h->mem + it->val_off, it->val_len, s);
			if (rnd(s) % 4 == 0)
				put_le(h->mem + it->entry_off + 16,
				       1700000000000ull + rnd(s) % 100000, 8);
		}
	}
}

static void kv_heap_free(struct kv_heap *h)
{
	free(h->mem);
	free(h->items);
	free(h->first_item);
}

/* --------------------------------------------------------------- the CRC */

static void test_crc32c(void **state)
{
	static uint8_t buf[1100];
	uint64_t s = 1;

	assert_int_equal(ckpt_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(ckpt_crc32c_soft(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(ckpt_crc32c(0, "", 0), 0);
	assert_int_equal(ckpt_crc32c(0, NULL, 0), 0);
	/* 32 zero bytes: RFC 3720 B.4 */
	memset(buf, 0, 32);
	assert_int_equal(ckpt_crc32c(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, 32);
	assert_int_equal(ckpt_crc32c(0, buf, 32), 0x62A8AB43u);

	fill_random(buf, sizeof(buf), &s);
	for (int i = 0; i < 400; i++) {
		size_t off = rnd(&s) % 64, n = rnd(&s) % 1000, cut = n ? rnd(&s) % n : 0;
		uint32_t ref = crc_ref(0, buf + off, n);

		assert_int_equal(ckpt_crc32c(0, buf + off, n), ref);
		assert_int_equal(ckpt_crc32c_soft(0, buf + off, n), ref);
		/* Continuation. */
		assert_int_equal(ckpt_crc32c(ckpt_crc32c(0, buf + off, cut),
					     buf + off + cut, n - cut),
				 ref);
		assert_int_equal(ckpt_crc32c_soft(ckpt_crc32c(0, buf + off, cut),
						  buf + off + cut, n - cut),
				 ref);
	}
}

/* ------------------------------------------------------------ the buffer */

static void test_buf(void **state)
{
	struct ckpt_buf b;
	struct ckpt_begin bg = { .version = CKPT_VERSION, .mem_size = MEM_SIZE,
				 .epoch = 1 };

	ckpt_buf_init(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(ckpt_encode_begin(&b, &bg), 0);
	assert_int_equal(b.len, 1000 * 56);
	assert_true(b.cap >= b.len);
	for (int i = 0; i < 1000; i++)
		assert_memory_equal(b.data, b.data + i * 56, 56);
	ckpt_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_non_null(b.data);
	ckpt_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
}

/* -------------------------------------------------------------- the pages */

/* Encode data against base, check encoding (or any if want < 0), decode
 * into a copy of base and compare. Without a base the encoding must be
 * absolute: it is decoded over a page of garbage. Returns the length. */
static uint32_t roundtrip(const uint8_t *data, const uint8_t *base,
			  enum ckpt_compression mode, int want)
{
	uint8_t enc_buf[PG + 64], page[PG];
	uint32_t len = 0xdeadbeef;
	enum ckpt_page_encoding enc;

	memset(enc_buf + PG, 0xa5, 64);
	enc = ckpt_page_encode(data, base, mode, enc_buf, &len);
	for (int i = 0; i < 64; i++)
		assert_int_equal(enc_buf[PG + i], 0xa5); /* stayed in dst */
	if (want >= 0)
		assert_int_equal(enc, want);
	assert_true(enc <= CKPT_PAGE_ENCODING_MAX);
	assert_true(len <= PG);
	if (mode == CKPT_COMPRESS_NONE)
		assert_true(enc == CKPT_PAGE_ZERO || enc == CKPT_PAGE_RAW);
	if (!base)
		assert_true(enc != CKPT_PAGE_XOR_RLE &&
			    enc != CKPT_PAGE_XOR_LZ4);
	if (base)
		memcpy(page, base, PG);
	else
		memset(page, 0x5c, PG);
	assert_int_equal(ckpt_page_decode(enc, enc_buf, len, page), 0);
	assert_memory_equal(page, data, PG);
	return len;
}

static void test_page_zero(void **state)
{
	static uint8_t zero[PG], base[PG], page[PG];
	uint64_t s = 2;

	fill_random(base, PG, &s);
	assert_int_equal(roundtrip(zero, NULL, CKPT_COMPRESS_AUTO,
				   CKPT_PAGE_ZERO), 0);
	assert_int_equal(roundtrip(zero, base, CKPT_COMPRESS_AUTO,
				   CKPT_PAGE_ZERO), 0);
	assert_int_equal(roundtrip(zero, base, CKPT_COMPRESS_NONE,
				   CKPT_PAGE_ZERO), 0);
	memset(page, 0x77, PG);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_ZERO, NULL, 0, page), 0);
	assert_memory_equal(page, zero, PG);
}

static void test_page_random(void **state)
{
	static uint8_t data[PG], base[PG];
	uint64_t s = 3;

	for (int i = 0; i < 20; i++) {
		fill_random(data, PG, &s);
		fill_random(base, PG, &s);
		assert_int_equal(roundtrip(data, base, CKPT_COMPRESS_AUTO,
					   CKPT_PAGE_RAW), PG);
		assert_int_equal(roundtrip(data, NULL, CKPT_COMPRESS_AUTO,
					   CKPT_PAGE_RAW), PG);
		assert_int_equal(roundtrip(data, base, CKPT_COMPRESS_NONE,
					   CKPT_PAGE_RAW), PG);
	}
}

static void test_page_one_byte(void **state)
{
	static uint8_t data[PG], base[PG];
	static const size_t where[] = { 0, 1, 7, 8, 9, 2047, 4088, 4094, 4095 };
	uint64_t s = 4;

	fill_random(base, PG, &s);
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		uint32_t len;

		memcpy(data, base, PG);
		data[where[i]] ^= 0x5a;
		len = roundtrip(data, base, CKPT_COMPRESS_AUTO,
				CKPT_PAGE_XOR_RLE);
		assert_true(len <= 9); /* one literal record + the tail run */
		assert_int_equal(roundtrip(data, base, CKPT_COMPRESS_NONE,
					   CKPT_PAGE_RAW), PG);
	}
	/* Base NULL: a page with one nonzero byte. */
	memset(data, 0, PG);
	data[100] = 1;
	assert_true(roundtrip(data, NULL, CKPT_COMPRESS_AUTO,
			      CKPT_PAGE_RLE) <= 9);
}

static void test_page_unchanged_nonzero(void **state)
{
	static uint8_t data[PG];
	uint64_t s = 5;

	fill_random(data, PG, &s);
	/* The delta is all zero: one record (4096, 0). */
	assert_int_equal(roundtrip(data, data, CKPT_COMPRESS_AUTO,
				   CKPT_PAGE_XOR_RLE), 4);
	memset(data, 0x11, PG);
	assert_int_equal(roundtrip(data, data, CKPT_COMPRESS_AUTO,
				   CKPT_PAGE_XOR_RLE), 4);
}

static void test_page_sparse(void **state)
{
	static uint8_t data[PG], base[PG];
	uint64_t s = 6;

	for (int k = 1; k <= 128; k++) {
		uint32_t len;

		fill_random(base, PG, &s);
		memcpy(data, base, PG);
		for (int j = 0; j < k; j++) {
			size_t at = (rnd(&s) % (PG / 8)) * 8;

			put_le(data + at, rnd(&s), 8);
		}
		len = roundtrip(data, base, CKPT_COMPRESS_AUTO, -1);
		/* At most one 12-byte record per changed word, plus a tail. */
		assert_true(len <= (uint32_t)k * 12 + 4);
		if (k <= 16)
			assert_true(len <= 12u * 16 + 4);
	}
}

static void test_page_text(void **state)
{
	static uint8_t data[PG], base[PG];
	uint64_t s = 7;
	uint32_t len;

	fill_text(data, PG, &s);
	len = roundtrip(data, NULL, CKPT_COMPRESS_AUTO, CKPT_PAGE_LZ4);
	print_message("text page: LZ4 %u bytes\n", len);
	assert_true(len < PG * 3 / 4);
	/* Text against different text: the XOR delta still compresses. */
	fill_text(base, PG, &s);
	roundtrip(data, base, CKPT_COMPRESS_AUTO, -1);
	/* Text with a few bytes edited: RLE beats LZ4. */
	memcpy(base, data, PG);
	memcpy(data + 1000, "HELLO", 5);
	assert_true(roundtrip(data, base, CKPT_COMPRESS_AUTO,
			      CKPT_PAGE_XOR_RLE) < 16);
	assert_int_equal(roundtrip(data, base, CKPT_COMPRESS_NONE,
				   CKPT_PAGE_RAW), PG);
}

/* RLE and LZ4 (no base known to the sender) carry the page itself: the
 * result is the same over any base, whereas the same bytes labelled as a
 * delta would be XORed into the base. A bad stream leaves the page alone. */
static void test_page_absolute(void **state)
{
	static uint8_t data[PG], base[PG], page[PG], enc_buf[PG];
	static const uint8_t bad_rle[] = { 0x00, 0x10, 0x01, 0x00, 0x07 };
	uint64_t s = 12;
	uint32_t len;
	enum ckpt_page_encoding enc;

	for (int kind = 0; kind < 2; kind++) {
		memset(data, 0, PG);
		if (kind == 0)
			memcpy(data + 300, "a few bytes", 11);
		else
			fill_text(data, PG, &s);
		enc = ckpt_page_encode(data, NULL, CKPT_COMPRESS_AUTO, enc_buf,
				       &len);
		assert_int_equal(enc, kind == 0 ? CKPT_PAGE_RLE : CKPT_PAGE_LZ4);
		for (int b = 0; b < 3; b++) {
			fill_random(base, PG, &s);
			memcpy(page, base, PG);
			assert_int_equal(ckpt_page_decode(enc, enc_buf, len, page),
					 0);
			assert_memory_equal(page, data, PG);
			/* Labelled as a delta, the same bytes depend on the base. */
			memcpy(page, base, PG);
			assert_int_equal(
			    ckpt_page_decode(enc == CKPT_PAGE_RLE
						 ? CKPT_PAGE_XOR_RLE
						 : CKPT_PAGE_XOR_LZ4,
					     enc_buf, len, page),
			    0);
			assert_memory_not_equal(page, data, PG);
		}
	}
	/* Records that stop short of the page end: rejected, page intact. */
	fill_random(base, PG, &s);
	memcpy(page, base, PG);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_RLE, bad_rle,
					  sizeof(bad_rle), page),
			 -EINVAL);
	assert_memory_equal(page, base, PG);
	memset(enc_buf, 0xff, 64);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_LZ4, enc_buf, 64, page),
			 -EINVAL);
	assert_memory_equal(page, base, PG);
}

/* Random mixtures of densities, patterns and bases: always a round trip,
 * never longer than RAW. */
static void test_page_mixture(void **state)
{
	static uint8_t data[PG], base[PG];
	uint64_t s = 8;

	for (int i = 0; i < 3000; i++) {
		int kind = (int)(rnd(&s) % 6);
		bool nobase = rnd(&s) % 4 == 0;

		fill_random(base, PG, &s);
		if (rnd(&s) % 3 == 0)
			fill_text(base, PG, &s);
		memcpy(data, base, PG);
		switch (kind) {
		case 0: /* runs of changes of random lengths */
			for (int k = (int)(rnd(&s) % 40); k > 0; k--) {
				size_t at = rnd(&s) % PG;
				size_t n = 1 + rnd(&s) % 64;

				if (n > PG - at)
					n = PG - at;
				fill_random(data + at, n, &s);
			}
			break;
		case 1: /* every Nth byte */ {
			size_t step = 2 + rnd(&s) % 9;

			for (size_t at = rnd(&s) % step; at < PG; at += step)
				data[at] ^= (uint8_t)(1 + rnd(&s) % 255);
			break;
		}
		case 2: /* zero gaps of exactly 4, 5 and 6 bytes */
			memset(data, 0, PG);
			for (size_t at = 0; at < PG;
			     at += 1 + 4 + rnd(&s) % 3)
				data[at] = 0xee;
			break;
		case 3:
			fill_text(data, PG, &s);
			break;
		case 4: /* mostly zero page with a few words */
			memset(data, 0, PG);
			for (int k = 0; k < 5; k++)
				data[rnd(&s) % PG] = (uint8_t)rnd(&s) | 1;
			break;
		default:
			fill_random(data, PG, &s);
			break;
		}
		roundtrip(data, nobase ? NULL : base, CKPT_COMPRESS_AUTO, -1);
		roundtrip(data, nobase ? NULL : base, CKPT_COMPRESS_NONE, -1);
	}
}

/* The kv heap: SET traffic rewrites a few values per page. */
static void test_kv_page_set(void **state)
{
	struct kv_heap h;
	struct ckpt_buf b;
	struct ckpt_encode_stats st = { 0 }, st_full = { 0 }, st_abs = { 0 };
	struct ckpt_page_ref *refs;
	uint8_t *base;
	uint64_t s = 9;
	size_t pages = 512;
	double ratio, ratio_full, ratio_abs;

	kv_heap_build(&h, pages, &s);
	assert_true(h.n > 10000);
	base = malloc(pages * PG);
	refs = calloc(pages, sizeof(*refs));
	assert_non_null(base);
	assert_non_null(refs);
	memcpy(base, h.mem, pages * PG);
	ckpt_buf_init(&b);

	/* Full checkpoint of the heap (against zeros). */
	for (size_t p = 0; p < pages; p++)
		refs[p] = (struct ckpt_page_ref){ p, h.mem + p * PG, NULL };
	assert_int_equal(ckpt_encode_pages(&b, 1, refs, pages / 2,
					   CKPT_COMPRESS_AUTO, &st_full), 0);
	assert_int_equal(ckpt_encode_pages(&b, 1, refs + pages / 2,
					   pages - pages / 2,
					   CKPT_COMPRESS_AUTO, &st_full), 0);

	/* Incremental: 1-3 SETs on every page. */
	for (int round = 1; round <= 3; round++) {
		kv_heap_update(&h, round, &s);
		for (size_t p = 0; p < pages; p++) {
			refs[p] = (struct ckpt_page_ref){ p, h.mem + p * PG,
							  base + p * PG };
			roundtrip(h.mem + p * PG, base + p * PG,
				  CKPT_COMPRESS_AUTO, -1);
		}
		ckpt_buf_reset(&b);
		assert_int_equal(ckpt_encode_pages(&b, 2, refs, pages / 2,
						   CKPT_COMPRESS_AUTO, &st), 0);
		assert_int_equal(ckpt_encode_pages(&b, 2, refs + pages / 2,
						   pages - pages / 2,
						   CKPT_COMPRESS_AUTO, &st), 0);
		/* Whole messages, headers included, are still >= 3x smaller. */
		assert_true((double)pages * PG / (double)b.len >= 3.0);
		/* The same pages with no base known (a delta-cache miss). */
		for (size_t p = 0; p < pages; p++)
			refs[p].base = NULL;
		assert_int_equal(ckpt_encode_pages(&b, 2, refs, pages / 2,
						   CKPT_COMPRESS_AUTO, &st_abs),
				 0);
		memcpy(base, h.mem, pages * PG);
	}
	assert_int_equal(st.pages, 3 * pages);
	assert_int_equal(st.raw_bytes, 3 * pages * PG);
	ratio = (double)st.raw_bytes / (double)st.encoded_bytes;
	ratio_full = (double)st_full.raw_bytes / (double)st_full.encoded_bytes;
	ratio_abs = (double)st_abs.raw_bytes / (double)st_abs.encoded_bytes;
	print_message("kv heap (%zu pages, %zu keys): incremental ratio %.1fx "
		      "(zero %llu raw %llu rle %llu lz4 %llu), without a base "
		      "%.2fx, full ratio %.2fx\n",
		      pages, h.n, ratio,
		      (unsigned long long)st.by_encoding[CKPT_PAGE_ZERO],
		      (unsigned long long)st.by_encoding[CKPT_PAGE_RAW],
		      (unsigned long long)st.by_encoding[CKPT_PAGE_XOR_RLE],
		      (unsigned long long)st.by_encoding[CKPT_PAGE_XOR_LZ4],
		      ratio_abs, ratio_full);
	assert_true(ratio >= 3.0);
	assert_true(ratio_full > 1.2);
	/* Only absolute encodings without a base, and the delta pays. */
	assert_int_equal(st_abs.by_encoding[CKPT_PAGE_XOR_RLE] +
			     st_abs.by_encoding[CKPT_PAGE_XOR_LZ4],
			 0);
	assert_true(ratio > 2 * ratio_abs);
	ckpt_buf_free(&b);
	free(refs);
	free(base);
	kv_heap_free(&h);
}

/* -------------------------------------------------- streams and consumer */

/* A consumer as the backup will be: decode each epoch into staging, commit
 * only on END. */
struct consumer {
	struct ckpt_decoder d;
	uint8_t *committed, *staging;
	uint8_t vcpu[512], dev[512], cvcpu[512], cdev[512];
	size_t vcpu_len, dev_len, cvcpu_len, cdev_len;
	int begins, ends, layered, page_errors, zero_copy;
	uint64_t last_epoch, mem_pages;
};

static void consumer_init(struct consumer *c)
{
	memset(c, 0, sizeof(*c));
	ckpt_decoder_init(&c->d);
	c->committed = calloc(MEM_PAGES, PG);
	c->staging = calloc(MEM_PAGES, PG);
	assert_non_null(c->committed);
	assert_non_null(c->staging);
}

static void consumer_free(struct consumer *c)
{
	ckpt_decoder_free(&c->d);
	free(c->committed);
	free(c->staging);
}

static int decode_into_staging(void *arg, uint64_t pfn,
			       enum ckpt_page_encoding enc, const uint8_t *data,
			       uint32_t len)
{
	struct consumer *c = arg;

	if (pfn >= MEM_PAGES)
		return -ERANGE; /* more than this consumer's memory */
	return ckpt_page_decode(enc, data, len, c->staging + pfn * PG);
}

static int consume(struct consumer *c, const struct ckpt_msg *m)
{
	char err[160];
	uint32_t len = m->header.length;

	switch (m->header.type) {
	case CKPT_MSG_BEGIN:
		c->mem_pages = m->begin.mem_size / PG;
		if (m->begin.flags & CKPT_BEGIN_FULL)
			memset(c->staging, 0, MEM_PAGES * PG);
		else
			memcpy(c->staging, c->committed, MEM_PAGES * PG);
		c->vcpu_len = c->dev_len = 0;
		c->begins++;
		return 0;
	case CKPT_MSG_PAGES:
		if (ckpt_pages_walk(m->payload, len, c->mem_pages,
				    decode_into_staging, c, err, sizeof(err))) {
			c->page_errors++;
			return -1;
		}
		return 0;
	case CKPT_MSG_VCPU:
		if (len > sizeof(c->vcpu))
			return -1;
		memcpy(c->vcpu, m->payload, len);
		c->vcpu_len = len;
		return 0;
	case CKPT_MSG_DEVICE:
		if (len > sizeof(c->dev))
			return -1;
		memcpy(c->dev, m->payload, len);
		c->dev_len = len;
		return 0;
	case CKPT_MSG_END:
		memcpy(c->committed, c->staging, MEM_PAGES * PG);
		memcpy(c->cvcpu, c->vcpu, c->vcpu_len);
		c->cvcpu_len = c->vcpu_len;
		memcpy(c->cdev, c->dev, c->dev_len);
		c->cdev_len = c->dev_len;
		c->ends++;
		c->last_epoch = m->header.epoch;
		return 0;
	default:
		assert_true(m->header.type > CKPT_MSG_TYPE_MAX);
		c->layered++;
		return 0;
	}
}

enum chunking { WHOLE, BYTES, RANDOM };

/* Feed a stream; returns the final status (ERROR stops at once). */
static enum ckpt_decode_status feed(struct consumer *c, const uint8_t *s,
				    size_t len, enum chunking how, uint64_t *rng)
{
	size_t off = 0;

	while (off < len) {
		size_t chunk = len - off;

		if (how == BYTES)
			chunk = 1;
		else if (how == RANDOM) {
			static const size_t lim[] = { 3, 30, 300, 5000 };
			size_t r = 1 + rnd(rng) % lim[rnd(rng) % 4];

			chunk = r < chunk ? r : chunk;
		}
		const uint8_t *p = s + off;
		size_t left = chunk;

		while (left) {
			struct ckpt_msg m;
			size_t used = 12345;
			enum ckpt_decode_status st =
				ckpt_decoder_feed(&c->d, p, left, &used, &m);

			assert_true(used <= left);
			if (st == CKPT_DECODE_ERROR) {
				assert_true(c->d.err[0] != '\0');
				return st;
			}
			if (st == CKPT_DECODE_NEED_MORE) {
				assert_int_equal(used, left);
				break;
			}
			assert_int_equal(st, CKPT_DECODE_MESSAGE);
			assert_true(used > 0);
			assert_true(m.payload != NULL || m.header.length == 0);
			if ((uintptr_t)m.payload >= (uintptr_t)p &&
			    (uintptr_t)m.payload < (uintptr_t)(p + left))
				c->zero_copy++;
			if (consume(c, &m))
				return CKPT_DECODE_ERROR;
			p += used;
			left -= used;
		}
		off += chunk;
	}
	return CKPT_DECODE_NEED_MORE;
}

/* Emit one epoch of `mem` for the pfns listed, against base (NULL: full). */
static void emit_epoch(struct ckpt_buf *out, uint64_t epoch,
		       const uint8_t *mem, const uint8_t *base,
		       const uint64_t *pfns, size_t n, size_t per_msg,
		       const void *vcpu, size_t vlen, const void *dev,
		       size_t dlen, int layered_every)
{
	struct ckpt_begin bg = {
		.version = CKPT_VERSION,
		.flags = base ? 0 : CKPT_BEGIN_FULL,
		.mem_size = MEM_SIZE,
		.epoch = epoch,
		.guest_ns = epoch * 20000000ull,
	};
	struct ckpt_page_ref refs[CKPT_MAX_PAGES_PER_MSG];
	struct ckpt_end end = { 0 };
	uint32_t msgs = 1;

	assert_int_equal(ckpt_encode_begin(out, &bg), 0);
	for (size_t i = 0; i < n; i += per_msg) {
		size_t k = n - i < per_msg ? n - i : per_msg;

		for (size_t j = 0; j < k; j++) {
			uint64_t pfn = pfns[i + j];

			refs[j] = (struct ckpt_page_ref){
				pfn, mem + pfn * PG, base ? base + pfn * PG : NULL
			};
		}
		assert_int_equal(ckpt_encode_pages(out, epoch, refs, k,
						   CKPT_COMPRESS_AUTO, NULL), 0);
		msgs++;
		if (layered_every && (msgs % layered_every) == 0)
			assert_int_equal(ckpt_encode_blob(out, 100, 7, "hb", 2), 0);
	}
	assert_int_equal(ckpt_encode_blob(out, CKPT_MSG_VCPU, epoch, vcpu, vlen), 0);
	assert_int_equal(ckpt_encode_blob(out, CKPT_MSG_DEVICE, epoch, dev, dlen), 0);
	msgs += 2;
	end.page_count = n;
	end.message_count = msgs + 1;
	assert_int_equal(ckpt_encode_end(out, epoch, &end), 0);
}

/* Dirty `k` random pages of mem in assorted ways; list them in pfns. */
static size_t dirty_pages(uint8_t *mem, uint64_t *pfns, size_t k,
			  uint64_t *s)
{
	bool seen[MEM_PAGES] = { false };
	size_t n = 0;

	while (n < k) {
		uint64_t pfn = rnd(s) % MEM_PAGES;
		uint8_t *p = mem + pfn * PG;

		if (seen[pfn])
			continue;
		seen[pfn] = true;
		pfns[n++] = pfn;
		switch (rnd(s) % 6) {
		case 0:
			memset(p, 0, PG);
			break;
		case 1:
			fill_random(p, PG, s);
			break;
		case 2:
			fill_text(p, PG, s);
			break;
		case 3: /* untouched content, still reported dirty */
			break;
		default:
			for (int j = 0; j < 4; j++)
				put_le(p + (rnd(s) % (PG / 8)) * 8, rnd(s), 8);
			break;
		}
	}
	return n;
}

/* A full epoch then incremental ones, fed whole, byte by byte and in
 * random chunks: after every END the consumer holds exactly the primary's
 * memory and state. */
static void test_epoch_stream_roundtrip(void **state)
{
	uint8_t *mem = calloc(MEM_PAGES, PG), *prev = calloc(MEM_PAGES, PG);
	uint8_t **snaps = calloc(6, sizeof(uint8_t *));
	uint64_t pfns[MEM_PAGES], s = 10;
	struct ckpt_buf out;
	size_t epoch_end[6];
	char vcpu[6][64], dev[6][64];

	assert_non_null(mem);
	assert_non_null(prev);
	ckpt_buf_init(&out);
	for (uint64_t e = 1; e <= 5; e++) {
		size_t n;

		if (e == 1) {
			/* Full: every page, mostly zero, some content. */
			for (size_t p = 0; p < MEM_PAGES; p += 7)
				fill_text(mem + p * PG, PG, &s);
			for (size_t p = 3; p < MEM_PAGES; p += 11)
				fill_random(mem + p * PG, PG, &s);
			for (size_t p = 0; p < MEM_PAGES; p++)
				pfns[p] = p;
			n = MEM_PAGES;
		} else {
			n = dirty_pages(mem, pfns, 10 + rnd(&s) % 120, &s);
		}
		snprintf(vcpu[e], sizeof(vcpu[e]), "vcpu regs of epoch %llu",
			 (unsigned long long)e);
		snprintf(dev[e], sizeof(dev[e]), "device state %llu",
			 (unsigned long long)e * 31);
		emit_epoch(&out, e, mem, e == 1 ? NULL : prev, pfns, n,
			   e == 3 ? CKPT_MAX_PAGES_PER_MSG : 1 + e * 7,
			   vcpu[e], strlen(vcpu[e]), dev[e], strlen(dev[e]), 3);
		epoch_end[e] = out.len;
		snaps[e] = malloc(MEM_PAGES * PG);
		assert_non_null(snaps[e]);
		memcpy(snaps[e], mem, MEM_PAGES * PG);
		memcpy(prev, mem, MEM_PAGES * PG);
	}

	for (int how = WHOLE; how <= RANDOM; how++) {
		struct consumer c;
		size_t off = 0;

		consumer_init(&c);
		for (uint64_t e = 1; e <= 5; e++) {
			assert_int_equal(feed(&c, out.data + off,
					      epoch_end[e] - off, how, &s),
					 CKPT_DECODE_NEED_MORE);
			off = epoch_end[e];
			assert_int_equal(c.ends, (int)e);
			assert_int_equal(c.last_epoch, e);
			assert_memory_equal(c.committed, snaps[e],
					    MEM_PAGES * PG);
			assert_int_equal(c.cvcpu_len, strlen(vcpu[e]));
			assert_memory_equal(c.cvcpu, vcpu[e], c.cvcpu_len);
			assert_int_equal(c.cdev_len, strlen(dev[e]));
			assert_memory_equal(c.cdev, dev[e], c.cdev_len);
			assert_false(c.d.in_epoch);
		}
		assert_true(c.layered > 0);
		if (how == WHOLE)
			assert_true(c.zero_copy > 0);
		if (how == BYTES)
			assert_int_equal(c.zero_copy, 0);
		consumer_free(&c);
	}
	/* The whole multi-epoch stream in a single call sequence, too. */
	{
		struct consumer c;

		consumer_init(&c);
		assert_int_equal(feed(&c, out.data, out.len, RANDOM, &s),
				 CKPT_DECODE_NEED_MORE);
		assert_int_equal(c.ends, 5);
		assert_memory_equal(c.committed, snaps[5], MEM_PAGES * PG);
		consumer_free(&c);
	}
	for (int e = 1; e <= 5; e++)
		free(snaps[e]);
	free(snaps);
	ckpt_buf_free(&out);
	free(mem);
	free(prev);
}

/* One small, valid incremental epoch (about 2 KiB) for corruption tests;
 * the consumer is expected to start from `base`. */
static void small_epoch(struct ckpt_buf *out, uint8_t *base, uint8_t *mem)
{
	uint64_t s = 11, pfns[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };

	memset(base, 0, MEM_PAGES * PG);
	for (int p = 0; p < 8; p++)
		fill_random(base + p * PG, PG, &s);
	memcpy(mem, base, MEM_PAGES * PG);
	memset(mem, 0, PG); /* ZERO */
	for (int p = 1; p < 6; p++) /* XOR_RLE */
		put_le(mem + p * PG + 8 * (size_t)p * 17, rnd(&s), 8);
	memset(mem + 6 * PG, 0, PG); /* XOR_LZ4 against random: delta = base */
	fill_text(mem + 6 * PG, 1500, &s);
	memcpy(base + 6 * PG, mem + 6 * PG, PG);
	fill_text(mem + 6 * PG + 1500, 300, &s);
	/* page 7 unchanged: (4096, 0) */
	emit_epoch(out, 42, mem, base, pfns, 8, 5, "cpu", 3, "dev", 3, 0);
}

static void consumer_set_base(struct consumer *c, const uint8_t *base)
{
	memcpy(c->committed, base, MEM_PAGES * PG);
}

static void test_corrupt_bit_flips(void **state)
{
	uint8_t *base = calloc(MEM_PAGES, PG), *mem = calloc(MEM_PAGES, PG);
	struct ckpt_buf out;
	struct consumer c;
	uint64_t s = 12;
	uint8_t *copy;
	size_t errors = 0, incomplete = 0;

	ckpt_buf_init(&out);
	small_epoch(&out, base, mem);
	assert_true(out.len < 4096);
	copy = malloc(out.len);
	assert_non_null(copy);

	/* The intact stream commits. */
	consumer_init(&c);
	consumer_set_base(&c, base);
	assert_int_equal(feed(&c, out.data, out.len, WHOLE, &s),
			 CKPT_DECODE_NEED_MORE);
	assert_int_equal(c.ends, 1);
	assert_memory_equal(c.committed, mem, MEM_PAGES * PG);

	for (size_t bit = 0; bit < out.len * 8; bit++) {
		enum ckpt_decode_status st;

		memcpy(copy, out.data, out.len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ckpt_decoder_reset(&c.d);
		c.ends = 0;
		st = feed(&c, copy, out.len, bit % 13 == 0 ? BYTES :
			  bit % 5 == 0 ? RANDOM : WHOLE, &s);
		assert_int_equal(c.ends, 0);
		assert_int_equal(c.page_errors, 0); /* caught before pages */
		if (st == CKPT_DECODE_ERROR)
			errors++;
		else
			incomplete++; /* e.g. a length made larger */
	}
	print_message("bit flips: %zu bits, %zu rejected, %zu incomplete\n",
		      out.len * 8, errors, incomplete);
	assert_true(errors > out.len * 8 * 9 / 10);

	/* Multi-bit garbage bursts and random byte overwrites. */
	for (int i = 0; i < 3000; i++) {
		size_t at = rnd(&s) % out.len, n = 1 + rnd(&s) % 16;

		memcpy(copy, out.data, out.len);
		for (size_t k = 0; k < n && at + k < out.len; k++)
			copy[at + k] = (uint8_t)rnd(&s);
		if (!memcmp(copy, out.data, out.len))
			continue;
		ckpt_decoder_reset(&c.d);
		c.ends = 0;
		feed(&c, copy, out.len, RANDOM, &s);
		assert_int_equal(c.ends, 0);
	}
	consumer_free(&c);
	free(copy);
	ckpt_buf_free(&out);
	free(base);
	free(mem);
}

/* A stream cut anywhere is incomplete, never wrong: NEED_MORE and no END;
 * feeding the rest then completes it. */
static void test_corrupt_truncation(void **state)
{
	uint8_t *base = calloc(MEM_PAGES, PG), *mem = calloc(MEM_PAGES, PG);
	struct ckpt_buf out;
	struct consumer c;
	uint64_t s = 13;

	ckpt_buf_init(&out);
	small_epoch(&out, base, mem);
	consumer_init(&c);
	for (size_t cut = 0; cut < out.len; cut++) {
		ckpt_decoder_reset(&c.d);
		consumer_set_base(&c, base);
		c.ends = 0;
		assert_int_equal(feed(&c, out.data, cut, cut % 7 ? RANDOM : BYTES,
				      &s),
				 CKPT_DECODE_NEED_MORE);
		assert_int_equal(c.ends, 0);
		if (cut % 17 == 0) {
			assert_int_equal(feed(&c, out.data + cut, out.len - cut,
					      RANDOM, &s),
					 CKPT_DECODE_NEED_MORE);
			assert_int_equal(c.ends, 1);
			assert_memory_equal(c.committed, mem, MEM_PAGES * PG);
		}
	}
	consumer_free(&c);
	ckpt_buf_free(&out);
	free(base);
	free(mem);
}

/* Offsets of each message of a stream. */
static size_t split(const uint8_t *s, size_t len, size_t *offs, size_t max)
{
	size_t n = 0, o = 0;

	while (o + 24 <= len && n < max) {
		offs[n++] = o;
		o += 24 + get_le(s + o + 8, 4);
	}
	assert_int_equal(o, len);
	return n;
}

/* Feed s whole to a fresh decoder: the number of ENDs, *last = last status */
static int run_stream(const uint8_t *s, size_t len,
		      enum ckpt_decode_status *last, char *why, size_t why_len)
{
	struct consumer c;
	uint64_t rng = 99;
	enum ckpt_decode_status st;
	int ends;

	consumer_init(&c);
	st = feed(&c, s, len, RANDOM, &rng);
	ends = c.ends;
	if (last)
		*last = st;
	if (why)
		snprintf(why, why_len, "%s", c.d.err);
	consumer_free(&c);
	return ends;
}

static void test_corrupt_length_and_type(void **state)
{
	uint8_t *base = calloc(MEM_PAGES, PG), *mem = calloc(MEM_PAGES, PG);
	struct ckpt_buf out;
	uint8_t *copy;
	size_t offs[16], n;
	enum ckpt_decode_status st;
	char why[160];

	ckpt_buf_init(&out);
	small_epoch(&out, base, mem);
	n = split(out.data, out.len, offs, 16);
	assert_int_equal(n, 6); /* BEGIN, 2 PAGES, VCPU, DEVICE, END */
	copy = malloc(out.len + 64);
	assert_non_null(copy);

	/* Intact: one END. */
	assert_int_equal(run_stream(out.data, out.len, &st, NULL, 0), 1);

	for (size_t i = 0; i < n; i++) {
		uint8_t *m = copy + offs[i];
		uint32_t len = (uint32_t)get_le(out.data + offs[i] + 8, 4);
		static const int64_t deltas[] = { -1, 1, -16, 16, 4096 };
		static const unsigned types[] = { 0, 6, 7, 63 };

		/* Wrong length, CRC left alone or fixed up. */
		for (size_t k = 0; k < 5; k++) {
			for (int fix = 0; fix < 2; fix++) {
				memcpy(copy, out.data, out.len);
				if ((int64_t)len + deltas[k] < 0)
					continue;
				put_le(m + 8, (uint64_t)((int64_t)len + deltas[k]), 4);
				if (fix && offs[i] + 24 + len + deltas[k] <= out.len)
					reseal(m);
				assert_int_equal(run_stream(copy, out.len, NULL,
							    NULL, 0), 0);
			}
		}
		/* Reserved/unknown types. */
		for (size_t k = 0; k < 4; k++) {
			memcpy(copy, out.data, out.len);
			put_le(m + 4, types[k], 2);
			reseal(m);
			assert_int_equal(run_stream(copy, out.len, &st, why,
						    sizeof(why)), 0);
			assert_int_equal(st, CKPT_DECODE_ERROR);
			assert_non_null(strstr(why, "type"));
		}
		/* Any other valid type, CRC fixed: grammar or counts catch it. */
		for (unsigned t = 1; t <= 5; t++) {
			unsigned cur = (unsigned)get_le(out.data + offs[i] + 4, 2);

			if (t == cur)
				continue;
			/* VCPU and DEVICE are both opaque to the codec: telling
			 * them apart is vm_state's job. */
			if ((t == CKPT_MSG_VCPU || t == CKPT_MSG_DEVICE) &&
			    (cur == CKPT_MSG_VCPU || cur == CKPT_MSG_DEVICE))
				continue;
			memcpy(copy, out.data, out.len);
			put_le(m + 4, t, 2);
			reseal(m);
			assert_int_equal(run_stream(copy, out.len, NULL, NULL, 0),
					 0);
		}
		/* Turned into a layered-protocol message: END counts differ. */
		memcpy(copy, out.data, out.len);
		put_le(m + 4, 64, 2);
		reseal(m);
		assert_int_equal(run_stream(copy, out.len, &st, why, sizeof(why)),
				 0);
		/* Header flags set. */
		memcpy(copy, out.data, out.len);
		put_le(m + 6, 1, 2);
		reseal(m);
		assert_int_equal(run_stream(copy, out.len, &st, why, sizeof(why)),
				 0);
		assert_non_null(strstr(why, "flags"));
		/* Another epoch number. */
		memcpy(copy, out.data, out.len);
		put_le(m + 16, 43, 8);
		reseal(m);
		assert_int_equal(run_stream(copy, out.len, &st, why, sizeof(why)),
				 0);
		assert_int_equal(st, CKPT_DECODE_ERROR);
		/* Dropped message. */
		{
			size_t mlen = 24 + len;

			memcpy(copy, out.data, offs[i]);
			memcpy(copy + offs[i], out.data + offs[i] + mlen,
			       out.len - offs[i] - mlen);
			assert_int_equal(run_stream(copy, out.len - mlen, NULL,
						    NULL, 0), 0);
		}
		/* Duplicated message. */
		if (i + 1 < n) {
			size_t mlen = 24 + len;
			uint8_t *dup = malloc(out.len + mlen);

			assert_non_null(dup);
			memcpy(dup, out.data, offs[i] + mlen);
			memcpy(dup + offs[i] + mlen, out.data + offs[i],
			       out.len - offs[i]);
			assert_int_equal(run_stream(dup, out.len + mlen, NULL,
						    NULL, 0), 0);
			free(dup);
		}
	}
	/* BEGIN or END swapped with its neighbour (PAGES, VCPU and DEVICE may
	 * legitimately come in any order). */
	for (size_t i = 0; i + 1 < n; i += n - 2) {
		size_t a = offs[i], b = offs[i + 1];
		size_t c = i + 2 < n ? offs[i + 2] : out.len;

		memcpy(copy, out.data, out.len);
		memcpy(copy + a, out.data + b, c - b);
		memcpy(copy + a + (c - b), out.data + a, b - a);
		assert_int_equal(run_stream(copy, out.len, NULL, NULL, 0), 0);
	}
	free(copy);
	ckpt_buf_free(&out);
	free(base);
	free(mem);
}

/* Hand-built streams that break the grammar or the BEGIN/END rules. */
static void test_wrong_order_and_fields(void **state)
{
	uint8_t s[4096], pages[64];
	size_t o;
	enum ckpt_decode_status st;
	char why[160];
	const char *vcpu = "regs";

	/* A PAGES payload with one ZERO page. */
	memset(pages, 0, sizeof(pages));
	put_le(pages, 1, 4);
	put_le(pages + 8, 5, 8);
	const uint32_t pages_len = 24;

/* Rejected (with `sub` in the reason) after `ends` complete epochs. */
#define EXPECT_REJECT_AFTER(ends, sub)                                        \
	do {                                                                  \
		assert_int_equal(run_stream(s, o, &st, why, sizeof(why)),     \
				 ends);                                       \
		assert_int_equal(st, CKPT_DECODE_ERROR);                      \
		if (!strstr(why, sub))                                        \
			fail_msg("reason '%s' lacks '%s'", why, sub);         \
	} while (0)
#define EXPECT_REJECT(sub) EXPECT_REJECT_AFTER(0, sub)

	/* Baseline: valid. */
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, pages, pages_len);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_VCPU, 0, 1, vcpu, 4);
	o += mk_end(s + o, 1, 1, 4, 0);
	assert_int_equal(run_stream(s, o, &st, NULL, 0), 1);
	assert_int_equal(st, CKPT_DECODE_NEED_MORE);

	/* PAGES before BEGIN. */
	o = mk_msg(s, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, pages, pages_len);
	EXPECT_REJECT("outside an epoch");
	/* VCPU, DEVICE or END before BEGIN. */
	o = mk_msg(s, CKPT_MAGIC, CKPT_MSG_VCPU, 0, 1, vcpu, 4);
	EXPECT_REJECT("outside an epoch");
	o = mk_msg(s, CKPT_MAGIC, CKPT_MSG_DEVICE, 0, 1, vcpu, 4);
	EXPECT_REJECT("outside an epoch");
	o = mk_end(s, 1, 0, 2, 0);
	EXPECT_REJECT("outside an epoch");
	/* Two BEGINs. */
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_begin(s + o, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	EXPECT_REJECT("inside epoch");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_begin(s + o, 2, CKPT_VERSION, 0, MEM_SIZE, 2);
	EXPECT_REJECT("inside epoch");
	/* Messages after END of the epoch. */
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_end(s + o, 1, 0, 2, 0);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, pages, pages_len);
	EXPECT_REJECT_AFTER(1, "outside an epoch");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_end(s + o, 1, 0, 2, 0);
	o += mk_end(s + o, 1, 0, 2, 0);
	EXPECT_REJECT_AFTER(1, "outside an epoch");
	/* END counts. */
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, pages, pages_len);
	o += mk_end(s + o, 1, 2, 3, 0);
	EXPECT_REJECT("pages announced");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, pages, pages_len);
	o += mk_end(s + o, 1, 0, 3, 0);
	EXPECT_REJECT("pages announced");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, pages, pages_len);
	o += mk_end(s + o, 1, 1, 2, 0);
	EXPECT_REJECT("messages announced");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_end(s + o, 1, 0, 3, 0);
	EXPECT_REJECT("messages announced");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_end(s + o, 1, 0, 2, 1);
	EXPECT_REJECT("reserved");
	/* Epoch mismatch. */
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 2, pages, pages_len);
	EXPECT_REJECT("epoch");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_end(s + o, 0, 0, 2, 0);
	EXPECT_REJECT("epoch");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 2);
	EXPECT_REJECT("payload epoch");
	/* BEGIN fields. */
	o = mk_begin(s, 1, 2, 0, MEM_SIZE, 1);
	EXPECT_REJECT("version");
	o = mk_begin(s, 1, 0, 0, MEM_SIZE, 1);
	EXPECT_REJECT("version");
	o = mk_begin(s, 1, CKPT_VERSION, 4, MEM_SIZE, 1);
	EXPECT_REJECT("flags");
	o = mk_begin(s, 1, CKPT_VERSION, 0x80000000u, MEM_SIZE, 1);
	EXPECT_REJECT("flags");
	o = mk_begin(s, 1, CKPT_VERSION, 0, 0, 1);
	EXPECT_REJECT("mem_size");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE + 1, 1);
	EXPECT_REJECT("mem_size");
	o = mk_begin(s, 1, CKPT_VERSION, 0, (64ull << 30) + PG, 1);
	EXPECT_REJECT("mem_size");
	o = mk_begin(s, 1, CKPT_VERSION, 0, 64ull << 30, 1);
	assert_int_equal(run_stream(s, o, &st, NULL, 0), 0);
	assert_int_equal(st, CKPT_DECODE_NEED_MORE); /* 64 GiB is allowed */
	/* pfn beyond BEGIN's mem_size. */
	o = mk_begin(s, 1, CKPT_VERSION, 0, 5 * PG, 1);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, pages, pages_len);
	EXPECT_REJECT("pfn 5");
	/* Framing: magic, length bound, header-only rejection. */
	o = mk_msg(s, 0x4b435253u, CKPT_MSG_BEGIN, 0, 1, NULL, 0);
	EXPECT_REJECT("magic");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	put_le(s + 8, CKPT_MAX_PAYLOAD + 1, 4);
	o = 24; /* only the header: rejected without waiting for the payload */
	EXPECT_REJECT("length");
	o = mk_msg(s, CKPT_MAGIC, 200, 0, 1, NULL, 0);
	put_le(s + 8, CKPT_MAX_PAYLOAD + 1, 4);
	EXPECT_REJECT("length");
	o = mk_msg(s, CKPT_MAGIC, CKPT_MSG_BEGIN, 0, 1, pages, 24);
	EXPECT_REJECT("BEGIN: bad length");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, pages, 8);
	EXPECT_REJECT("PAGES: bad length");
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_END, 0, 1, pages, 15);
	EXPECT_REJECT("END: bad length");
	/* CRC. */
	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	s[12] ^= 1;
	EXPECT_REJECT("CRC");
	/* Layered-protocol messages pass anywhere, uncounted. */
	o = mk_msg(s, CKPT_MAGIC, 64, 0, 9, "x", 1);
	o += mk_begin(s + o, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_msg(s + o, CKPT_MAGIC, 65535, 0, 0, NULL, 0);
	o += mk_end(s + o, 1, 0, 2, 0);
	o += mk_msg(s + o, CKPT_MAGIC, 77, 0, 3, "yz", 2);
	assert_int_equal(run_stream(s, o, &st, NULL, 0), 1);
	assert_int_equal(st, CKPT_DECODE_NEED_MORE);
#undef EXPECT_REJECT
#undef EXPECT_REJECT_AFTER
}

static void test_sticky_error_and_reset(void **state)
{
	uint8_t s[256], bad[24];
	size_t o, used;
	struct ckpt_decoder d;
	struct ckpt_msg m;

	o = mk_begin(s, 1, CKPT_VERSION, 0, MEM_SIZE, 1);
	o += mk_end(s + o, 1, 0, 2, 0);
	memset(bad, 0xff, sizeof(bad));
	ckpt_decoder_init(&d);
	assert_int_equal(ckpt_decoder_feed(&d, bad, sizeof(bad), &used, &m),
			 CKPT_DECODE_ERROR);
	assert_non_null(strstr(d.err, "magic"));
	/* Stays failed until reset. */
	assert_int_equal(ckpt_decoder_feed(&d, s, o, &used, &m),
			 CKPT_DECODE_ERROR);
	assert_int_equal(used, 0);
	ckpt_decoder_reset(&d);
	assert_string_equal(d.err, "");
	assert_int_equal(ckpt_decoder_feed(&d, s, o, &used, &m),
			 CKPT_DECODE_MESSAGE);
	assert_int_equal(m.header.type, CKPT_MSG_BEGIN);
	assert_int_equal(m.begin.mem_size, MEM_SIZE);
	assert_int_equal(m.begin.guest_ns, 123456789);
	assert_int_equal(used, 56);
	/* Zero-copy: the payload points into our buffer. */
	assert_ptr_equal(m.payload, s + 24);
	assert_int_equal(ckpt_decoder_feed(&d, s + used, o - used, &used, &m),
			 CKPT_DECODE_MESSAGE);
	assert_int_equal(m.header.type, CKPT_MSG_END);
	assert_int_equal(m.end.message_count, 2);
	assert_int_equal(ckpt_decoder_feed(&d, s, 0, &used, &m),
			 CKPT_DECODE_NEED_MORE);
	/* Reset in the middle of a message forgets it. */
	assert_int_equal(ckpt_decoder_feed(&d, s, 30, &used, &m),
			 CKPT_DECODE_NEED_MORE);
	assert_int_equal(used, 30);
	ckpt_decoder_reset(&d);
	assert_int_equal(ckpt_decoder_feed(&d, s, o, &used, &m),
			 CKPT_DECODE_MESSAGE);
	assert_int_equal(m.header.type, CKPT_MSG_BEGIN);
	ckpt_decoder_free(&d);
}

/* The bytes on the wire are pinned: docs/checkpoint-format.md. */
static void test_wire_layout(void **state)
{
	struct ckpt_buf b;
	struct ckpt_begin bg = { .version = CKPT_VERSION,
				 .flags = CKPT_BEGIN_FULL,
				 .mem_size = MEM_SIZE,
				 .epoch = 0x0102030405060708ull,
				 .guest_ns = 99 };
	static uint8_t page[PG];
	struct ckpt_page_ref ref = { 7, page, NULL };
	struct ckpt_end end = { .page_count = 1, .message_count = 3 };
	uint8_t ref_msg[64];

	ckpt_buf_init(&b);
	assert_int_equal(ckpt_encode_begin(&b, &bg), 0);
	assert_int_equal(b.len, 56);
	assert_memory_equal(b.data, "RRCK", 4);
	assert_int_equal(get_le(b.data + 4, 2), CKPT_MSG_BEGIN);
	assert_int_equal(get_le(b.data + 6, 2), 0);
	assert_int_equal(get_le(b.data + 8, 4), 32);
	assert_int_equal(get_le(b.data + 16, 8), bg.epoch);
	assert_int_equal(get_le(b.data + 24, 4), CKPT_VERSION);
	assert_int_equal(get_le(b.data + 28, 4), CKPT_BEGIN_FULL);
	assert_int_equal(get_le(b.data + 32, 8), bg.mem_size);
	assert_int_equal(get_le(b.data + 40, 8), bg.epoch);
	assert_int_equal(get_le(b.data + 48, 8), 99);
	/* The hand-framed message is byte-identical (same CRC). */
	{
		uint8_t p[32];

		memcpy(p, b.data + 24, 32);
		mk_msg(ref_msg, CKPT_MAGIC, CKPT_MSG_BEGIN, 0, bg.epoch, p, 32);
		assert_memory_equal(ref_msg, b.data, 56);
	}
	page[5] = 9;
	assert_int_equal(ckpt_encode_pages(&b, bg.epoch, &ref, 1,
					   CKPT_COMPRESS_AUTO, NULL), 0);
	{
		const uint8_t *m = b.data + 56;

		assert_int_equal(get_le(m + 4, 2), CKPT_MSG_PAGES);
		assert_int_equal(get_le(m + 24, 4), 1); /* count */
		assert_int_equal(get_le(m + 28, 4), 0);
		assert_int_equal(get_le(m + 32, 8), 7); /* pfn */
		assert_int_equal(m[40], CKPT_PAGE_RLE);
		assert_int_equal(m[41] | m[42] | m[43], 0);
		assert_int_equal(get_le(m + 44, 4), 9);
		/* (5, 1, 0x09), (4090, 0) */
		assert_int_equal(get_le(m + 48, 2), 5);
		assert_int_equal(get_le(m + 50, 2), 1);
		assert_int_equal(m[52], 9);
		assert_int_equal(get_le(m + 53, 2), 4090);
		assert_int_equal(get_le(m + 55, 2), 0);
		assert_int_equal(get_le(m + 8, 4), 8 + 16 + 9);
	}
	assert_int_equal(ckpt_encode_end(&b, bg.epoch, &end), 0);
	assert_int_equal(run_stream(b.data, b.len, NULL, NULL, 0), 1);
	ckpt_buf_free(&b);
}

/* ----------------------------------------------- malicious page entries */

static void test_rle_malicious(void **state)
{
	static uint8_t page[PG], orig[PG];
	uint8_t r[PG + 16];
	uint64_t s = 14;
	struct {
		const char *what;
		size_t len;
		int ok;
	} cases[16];
	size_t nc = 0;
	uint8_t streams[16][32] = { { 0 } };

#define REC(buf, off, z, l) (put_le((buf) + (off), (z), 2), put_le((buf) + (off) + 2, (l), 2))
	/* 0: valid (10, 2, ab) (4084, 0) */
	REC(streams[nc], 0, 10, 2);
	streams[nc][4] = 0xab;
	streams[nc][5] = 0xcd;
	REC(streams[nc], 6, 4084, 0);
	cases[nc++] = (typeof(cases[0])){ "valid", 10, 1 };
	REC(streams[nc], 0, 4097, 0);
	cases[nc++] = (typeof(cases[0])){ "zero run past page", 4, 0 };
	REC(streams[nc], 0, 4000, 0);
	REC(streams[nc], 4, 97, 0);
	cases[nc++] = (typeof(cases[0])){ "runs sum past page", 8, 0 };
	REC(streams[nc], 0, 4095, 0);
	cases[nc++] = (typeof(cases[0])){ "short by one", 4, 0 };
	REC(streams[nc], 0, 4096, 0);
	REC(streams[nc], 4, 1, 0);
	cases[nc++] = (typeof(cases[0])){ "record after the page", 8, 0 };
	REC(streams[nc], 0, 4096, 0);
	cases[nc++] = (typeof(cases[0])){ "stray byte after", 5, 0 };
	REC(streams[nc], 0, 0, 0);
	REC(streams[nc], 4, 4096, 0);
	cases[nc++] = (typeof(cases[0])){ "empty record", 8, 0 };
	REC(streams[nc], 0, 4095, 2);
	cases[nc++] = (typeof(cases[0])){ "literal past page", 6, 0 };
	REC(streams[nc], 0, 0, 10);
	cases[nc++] = (typeof(cases[0])){ "literal past data", 9, 0 };
	REC(streams[nc], 0, 4096, 0);
	cases[nc++] = (typeof(cases[0])){ "truncated header", 3, 0 };
	REC(streams[nc], 0, 0xffff, 0xffff);
	cases[nc++] = (typeof(cases[0])){ "huge fields", 4, 0 };
	REC(streams[nc], 0, 4092, 4);
	cases[nc++] = (typeof(cases[0])){ "literal data missing", 4, 0 };
#undef REC
	fill_random(orig, PG, &s);
	for (size_t i = 0; i < nc; i++) {
		int rc;

		memcpy(page, orig, PG);
		rc = ckpt_page_decode(CKPT_PAGE_XOR_RLE, streams[i],
				      (uint32_t)cases[i].len, page);
		if (cases[i].ok) {
			assert_int_equal(rc, 0);
		} else {
			if (rc != -EINVAL)
				fail_msg("%s: accepted", cases[i].what);
			/* validated before writing: page untouched */
			assert_memory_equal(page, orig, PG);
		}
	}
	memcpy(page, orig, PG);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_RLE, streams[0], 10,
					  page), 0);
	assert_int_equal(page[10], orig[10] ^ 0xab);
	assert_int_equal(page[11], orig[11] ^ 0xcd);
	assert_memory_equal(page, orig, 10);
	assert_memory_equal(page + 12, orig + 12, PG - 12);
	/* Lengths outside 1..4096. */
	memset(r, 0, sizeof(r));
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_RLE, r, 0, page),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_RLE, r, PG + 1, page),
			 -EINVAL);
	/* Random garbage never crashes; failures leave the page alone. */
	for (int i = 0; i < 20000; i++) {
		uint32_t len = 1 + (uint32_t)(rnd(&s) % 64);

		fill_random(r, len, &s);
		if (i & 1) /* make the runs plausible */
			for (uint32_t k = 1; k < len; k += 4)
				r[k] &= 0x0f;
		memcpy(page, orig, PG);
		if (ckpt_page_decode(CKPT_PAGE_XOR_RLE, r, len, page))
			assert_memory_equal(page, orig, PG);
	}
}

static void test_lz4_malicious(void **state)
{
	static uint8_t page[PG], orig[PG], src[PG + 16];
	uint8_t z[LZ4_COMPRESSBOUND(PG + 16)];
	uint64_t s = 15;
	int n;

	fill_random(orig, PG, &s);
	fill_text(src, sizeof(src), &s);
	/* Decodes to 4095 or 4097 bytes: rejected. */
	n = LZ4_compress_default((const char *)src, (char *)z, PG - 1,
				 sizeof(z));
	assert_true(n > 0 && n <= (int)PG);
	memcpy(page, orig, PG);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_LZ4, z, (uint32_t)n,
					  page), -EINVAL);
	assert_memory_equal(page, orig, PG);
	n = LZ4_compress_default((const char *)src, (char *)z, PG + 1,
				 sizeof(z));
	assert_true(n > 0 && n <= (int)PG);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_LZ4, z, (uint32_t)n,
					  page), -EINVAL);
	assert_memory_equal(page, orig, PG);
	/* Exactly 4096: accepted, XORed into the page. */
	n = LZ4_compress_default((const char *)src, (char *)z, PG, sizeof(z));
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_LZ4, z, (uint32_t)n,
					  page), 0);
	for (size_t i = 0; i < PG; i++)
		assert_int_equal(page[i], orig[i] ^ src[i]);
	/* Every truncation of a valid block is rejected. */
	for (int cut = 1; cut < n; cut++) {
		memcpy(page, orig, PG);
		assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_LZ4, z,
						  (uint32_t)cut, page), -EINVAL);
		assert_memory_equal(page, orig, PG);
	}
	/* Garbage and mutated blocks: no crash; failures change nothing. */
	for (int i = 0; i < 20000; i++) {
		uint8_t g[PG];
		uint32_t len = 1 + (uint32_t)(rnd(&s) % (uint32_t)n);

		if (i & 1) {
			memcpy(g, z, (size_t)n);
			g[rnd(&s) % (uint32_t)n] = (uint8_t)rnd(&s);
		} else {
			fill_random(g, len, &s);
		}
		memcpy(page, orig, PG);
		if (ckpt_page_decode(CKPT_PAGE_XOR_LZ4, g, len, page))
			assert_memory_equal(page, orig, PG);
	}
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_LZ4, z, 0, page),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_XOR_LZ4, z, PG + 1, page),
			 -EINVAL);
}

static void test_page_decode_bad_args(void **state)
{
	static uint8_t page[PG], data[PG];

	assert_int_equal(ckpt_page_decode(CKPT_PAGE_ZERO, data, 1, page),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_RAW, data, PG - 1, page),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_RAW, data, PG + 1, page),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode((enum ckpt_page_encoding)6, data, 0,
					  page), -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_RLE, data, 0, page),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_LZ4, data, PG + 1, page),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode((enum ckpt_page_encoding)255, data,
					  PG, page), -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_RAW, NULL, PG, page),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_RAW, data, PG, NULL),
			 -EINVAL);
	assert_int_equal(ckpt_page_decode(CKPT_PAGE_RAW, data, PG, page), 0);
}

/* Build a PAGES payload of `n` entries (pfn, enc, len, data byte). */
struct entry {
	uint64_t pfn;
	unsigned enc;
	uint32_t len;
	uint32_t data_len; /* bytes actually present */
	uint8_t reserved;
};

static size_t mk_pages(uint8_t *out, uint32_t count, const struct entry *e,
		       size_t n, uint32_t reserved)
{
	size_t o = 8;

	put_le(out, count, 4);
	put_le(out + 4, reserved, 4);
	for (size_t i = 0; i < n; i++) {
		put_le(out + o, e[i].pfn, 8);
		out[o + 8] = (uint8_t)e[i].enc;
		out[o + 9] = e[i].reserved;
		out[o + 10] = out[o + 11] = 0;
		put_le(out + o + 12, e[i].len, 4);
		memset(out + o + 16, 0, e[i].data_len);
		if (e[i].enc == CKPT_PAGE_XOR_RLE && e[i].data_len >= 4)
			put_le(out + o + 16, PG, 2); /* (4096, 0) */
		o += 16 + e[i].data_len;
	}
	return o;
}

static int count_cb(void *arg, uint64_t pfn, enum ckpt_page_encoding enc,
		    const uint8_t *data, uint32_t len)
{
	(*(int *)arg)++;
	return 0;
}

static int stop_cb(void *arg, uint64_t pfn, enum ckpt_page_encoding enc,
		   const uint8_t *data, uint32_t len)
{
	return -ECANCELED;
}

static void test_pages_walk_malicious(void **state)
{
	static uint8_t p[3 * (16 + PG) + 64], s[sizeof(p) + 256];
	char err[128];
	int calls = 0;
	size_t len;
	const struct entry ok[] = {
		{ 0, CKPT_PAGE_ZERO, 0, 0, 0 },
		{ 9, CKPT_PAGE_XOR_RLE, 4, 4, 0 },
		{ 3, CKPT_PAGE_RAW, PG, PG, 0 },
	};
	struct {
		const char *what, *expect;
		uint32_t count;
		struct entry e[3];
		size_t n;
		uint32_t reserved;
		int extra;
	} bad[] = {
		{ "count 0", "count", 0, { { 0 } }, 0, 0, 0 },
		{ "count > max", "count", CKPT_MAX_PAGES_PER_MSG + 1,
		  { { 0, CKPT_PAGE_ZERO, 0, 0, 0 } }, 1, 0, 0 },
		{ "count > entries", "past the payload", 2,
		  { { 0, CKPT_PAGE_ZERO, 0, 0, 0 } }, 1, 0, 0 },
		{ "count < entries", "after the last", 1,
		  { { 0, CKPT_PAGE_ZERO, 0, 0, 0 }, { 1, CKPT_PAGE_ZERO, 0, 0, 0 } },
		  2, 0, 0 },
		{ "trailing byte", "after the last", 1,
		  { { 0, CKPT_PAGE_ZERO, 0, 0, 0 } }, 1, 0, 1 },
		{ "data past payload", "past the payload", 1,
		  { { 0, CKPT_PAGE_XOR_RLE, 100, 50, 0 } }, 1, 0, 0 },
		{ "RAW past payload", "past the payload", 1,
		  { { 0, CKPT_PAGE_RAW, PG, 100, 0 } }, 1, 0, 0 },
		{ "pfn = mem_pages", "pfn", 1,
		  { { 16, CKPT_PAGE_ZERO, 0, 0, 0 } }, 1, 0, 0 },
		{ "pfn huge", "pfn", 1,
		  { { UINT64_MAX, CKPT_PAGE_ZERO, 0, 0, 0 } }, 1, 0, 0 },
		{ "encoding 6", "encoding", 1, { { 0, 6, 0, 0, 0 } }, 1, 0, 0 },
		{ "encoding 255", "encoding", 1, { { 0, 255, 0, 0, 0 } }, 1, 0, 0 },
		{ "ZERO with data", "length", 1,
		  { { 0, CKPT_PAGE_ZERO, 1, 1, 0 } }, 1, 0, 0 },
		{ "RAW short", "length", 1,
		  { { 0, CKPT_PAGE_RAW, 100, 100, 0 } }, 1, 0, 0 },
		{ "RLE empty", "length", 1,
		  { { 0, CKPT_PAGE_XOR_RLE, 0, 0, 0 } }, 1, 0, 0 },
		{ "absolute RLE empty", "length", 1,
		  { { 0, CKPT_PAGE_RLE, 0, 0, 0 } }, 1, 0, 0 },
		{ "absolute LZ4 too long", "length", 1,
		  { { 0, CKPT_PAGE_LZ4, PG + 1, PG + 1, 0 } }, 1, 0, 0 },
		{ "LZ4 too long", "length", 1,
		  { { 0, CKPT_PAGE_XOR_LZ4, PG + 1, PG + 1, 0 } }, 1, 0, 0 },
		{ "len 2^32-1", "length", 1,
		  { { 0, CKPT_PAGE_XOR_LZ4, UINT32_MAX, 4, 0 } }, 1, 0, 0 },
		{ "entry reserved", "reserved", 1,
		  { { 0, CKPT_PAGE_ZERO, 0, 0, 1 } }, 1, 0, 0 },
		{ "payload reserved", "reserved", 1,
		  { { 0, CKPT_PAGE_ZERO, 0, 0, 0 } }, 1, 1, 0 },
	};

	len = mk_pages(p, 3, ok, 3, 0);
	assert_int_equal(ckpt_pages_walk(p, (uint32_t)len, 16, count_cb, &calls,
					 err, sizeof(err)), 0);
	assert_int_equal(calls, 3);
	assert_int_equal(ckpt_pages_walk(p, (uint32_t)len, 16, NULL, NULL, NULL,
					 0), 0);
	assert_int_equal(ckpt_pages_walk(p, (uint32_t)len, 16, stop_cb, NULL,
					 err, sizeof(err)), -ECANCELED);
	assert_int_equal(ckpt_pages_walk(p, 7, 16, NULL, NULL, err,
					 sizeof(err)), -EINVAL);
	for (uint32_t cut = 0; cut < len; cut++)
		assert_int_equal(ckpt_pages_walk(p, cut, 16, NULL, NULL, err,
						 sizeof(err)), -EINVAL);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t o;
		enum ckpt_decode_status st;
		char why[160];

		len = mk_pages(p, bad[i].count, bad[i].e, bad[i].n,
			       bad[i].reserved) + (size_t)bad[i].extra;
		err[0] = 0;
		calls = 0;
		assert_int_equal(ckpt_pages_walk(p, (uint32_t)len, 16, count_cb,
						 &calls, err, sizeof(err)),
				 -EINVAL);
		if (!strstr(err, bad[i].expect))
			fail_msg("%s: '%s' lacks '%s'", bad[i].what, err,
				 bad[i].expect);
		/* Through the decoder, with a valid CRC: rejected before END. */
		o = mk_begin(s, 1, CKPT_VERSION, 0, 16 * PG, 1);
		o += mk_msg(s + o, CKPT_MAGIC, CKPT_MSG_PAGES, 0, 1, p,
			    (uint32_t)len);
		o += mk_end(s + o, 1, bad[i].count, 3, 0);
		assert_int_equal(run_stream(s, o, &st, why, sizeof(why)), 0);
		assert_int_equal(st, CKPT_DECODE_ERROR);
	}
}

/* ---------------------------------------------------------- the encoder */

static void test_encoder_args(void **state)
{
	static uint8_t page[PG];
	struct ckpt_page_ref refs[CKPT_MAX_PAGES_PER_MSG + 1];
	struct ckpt_buf b;
	struct ckpt_begin bg = { .version = CKPT_VERSION, .mem_size = MEM_SIZE };
	struct ckpt_encode_stats st = { 0 };
	static uint8_t big[CKPT_MAX_PAYLOAD + 1];

	for (size_t i = 0; i <= CKPT_MAX_PAGES_PER_MSG; i++)
		refs[i] = (struct ckpt_page_ref){ i, page, NULL };
	ckpt_buf_init(&b);
	assert_int_equal(ckpt_encode_pages(&b, 1, refs, 0, CKPT_COMPRESS_AUTO,
					   NULL), -EINVAL);
	assert_int_equal(ckpt_encode_pages(&b, 1, refs,
					   CKPT_MAX_PAGES_PER_MSG + 1,
					   CKPT_COMPRESS_AUTO, NULL), -EINVAL);
	refs[1].data = NULL;
	assert_int_equal(ckpt_encode_pages(&b, 1, refs, 2, CKPT_COMPRESS_AUTO,
					   NULL), -EINVAL);
	refs[1].data = page;
	assert_int_equal(ckpt_encode_blob(&b, CKPT_MSG_BEGIN, 1, "x", 1), -EINVAL);
	assert_int_equal(ckpt_encode_blob(&b, CKPT_MSG_PAGES, 1, "x", 1), -EINVAL);
	assert_int_equal(ckpt_encode_blob(&b, CKPT_MSG_END, 1, "x", 1), -EINVAL);
	assert_int_equal(ckpt_encode_blob(&b, 0, 1, "x", 1), -EINVAL);
	assert_int_equal(ckpt_encode_blob(&b, 6, 1, "x", 1), -EINVAL);
	assert_int_equal(ckpt_encode_blob(&b, 63, 1, "x", 1), -EINVAL);
	assert_int_equal(ckpt_encode_blob(&b, 65536, 1, "x", 1), -EINVAL);
	assert_int_equal(ckpt_encode_blob(&b, CKPT_MSG_VCPU, 1, NULL, 1), -EINVAL);
	assert_int_equal(ckpt_encode_blob(&b, CKPT_MSG_VCPU, 1, big,
					  sizeof(big)), -EINVAL);
	bg.version = 2;
	assert_int_equal(ckpt_encode_begin(&b, &bg), -EINVAL);
	bg.version = CKPT_VERSION;
	bg.flags = 4; /* neither FULL nor PAGES_ONLY */
	assert_int_equal(ckpt_encode_begin(&b, &bg), -EINVAL);
	bg.flags = 0;
	bg.mem_size = 100;
	assert_int_equal(ckpt_encode_begin(&b, &bg), -EINVAL);
	bg.mem_size = 0;
	assert_int_equal(ckpt_encode_begin(&b, &bg), -EINVAL);
	assert_int_equal(b.len, 0); /* failures append nothing */

	/* Allowed: empty blobs, a max-size blob, layered types, 1024 pages. */
	assert_int_equal(ckpt_encode_blob(&b, CKPT_MSG_DEVICE, 1, NULL, 0), 0);
	assert_int_equal(ckpt_encode_blob(&b, 64, 1, "x", 1), 0);
	assert_int_equal(ckpt_encode_blob(&b, CKPT_MSG_VCPU, 1, big,
					  CKPT_MAX_PAYLOAD), 0);
	ckpt_buf_reset(&b);
	/* 1024 random (RAW) pages: the largest PAGES message. */
	{
		uint64_t s = 16;
		uint8_t *mem = malloc((size_t)CKPT_MAX_PAGES_PER_MSG * PG);
		struct consumer c;
		struct ckpt_end end = { CKPT_MAX_PAGES_PER_MSG, 3, 0 };

		assert_non_null(mem);
		fill_random(mem, (size_t)CKPT_MAX_PAGES_PER_MSG * PG, &s);
		for (size_t i = 0; i < CKPT_MAX_PAGES_PER_MSG; i++)
			refs[i] = (struct ckpt_page_ref){ i % MEM_PAGES,
							  mem + i * PG, NULL };
		bg.mem_size = MEM_SIZE;
		bg.flags = CKPT_BEGIN_FULL;
		assert_int_equal(ckpt_encode_begin(&b, &bg), 0);
		assert_int_equal(ckpt_encode_pages(&b, 0, refs,
						   CKPT_MAX_PAGES_PER_MSG,
						   CKPT_COMPRESS_AUTO, &st), 0);
		assert_int_equal(st.by_encoding[CKPT_PAGE_RAW],
				 CKPT_MAX_PAGES_PER_MSG);
		assert_int_equal(st.encoded_bytes,
				 (uint64_t)CKPT_MAX_PAGES_PER_MSG * (16 + PG));
		assert_int_equal(ckpt_encode_end(&b, 0, &end), 0);
		consumer_init(&c);
		assert_int_equal(feed(&c, b.data, b.len, RANDOM, &s),
				 CKPT_DECODE_NEED_MORE);
		assert_int_equal(c.ends, 1);
		/* later duplicates of a pfn win */
		assert_memory_equal(c.committed,
				    mem + (size_t)(CKPT_MAX_PAGES_PER_MSG -
						   MEM_PAGES) * PG,
				    MEM_PAGES * PG);
		consumer_free(&c);
		free(mem);
	}
	ckpt_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_page_zero),
		cmocka_unit_test(test_page_random),
		cmocka_unit_test(test_page_one_byte),
		cmocka_unit_test(test_page_unchanged_nonzero),
		cmocka_unit_test(test_page_sparse),
		cmocka_unit_test(test_page_text),
		cmocka_unit_test(test_page_absolute),
		cmocka_unit_test(test_page_mixture),
		cmocka_unit_test(test_kv_page_set),
		cmocka_unit_test(test_epoch_stream_roundtrip),
		cmocka_unit_test(test_corrupt_bit_flips),
		cmocka_unit_test(test_corrupt_truncation),
		cmocka_unit_test(test_corrupt_length_and_type),
		cmocka_unit_test(test_wrong_order_and_fields),
		cmocka_unit_test(test_sticky_error_and_reset),
		cmocka_unit_test(test_wire_layout),
		cmocka_unit_test(test_rle_malicious),
		cmocka_unit_test(test_lz4_malicious),
		cmocka_unit_test(test_page_decode_bad_args),
		cmocka_unit_test(test_pages_walk_malicious),
		cmocka_unit_test(test_encoder_args),
	};

	return cmocka_run_group_tests_name("ckpt_codec", tests, NULL, NULL);
}
