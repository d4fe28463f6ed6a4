// SPDX-License-Identifier: MIT
/*
 * Checkpoint codec throughput and compression (vmm/ckpt_codec.h).
 *
 *   bench_ckpt_codec [PAGES [REPS [CASE]]]   (defaults: 4096 pages, 5 reps,
 *                                            every case)
 *
 * For each case and mode, encodes PAGES dirty pages against their base into
 * PAGES messages (ckpt_encode_pages, 1024 pages per message) and decodes the
 * stream as the backup will (streaming decoder, page walk, ckpt_page_decode
 * into a staging copy of the base; the decoded memory is verified). Each
 * measurement is repeated REPS times; the median is printed as CSV:
 *
 *   case,mode,pages,raw_bytes,encoded_bytes,ratio,encode_MBps,decode_MBps
 *
 * encoded_bytes counts whole messages (headers, CRCs, per-page headers);
 * MB/s are raw page bytes (10^6) per second of one core.
 *
 * Cases:
 *   sparse   random pages with 1-8 random 8-byte words changed each
 *   random   random pages against unrelated random bases (incompressible)
 *   kv       a kv-store-like heap after 1-3 SETs per page (same-size values
 *            overwritten in place, sometimes an expiry)
 *   kv-full  the same heap against zeros (a full checkpoint)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm/ckpt_codec.h"

#define PG CKPT_PAGE_SIZE

static uint64_t rng = 0x1234567887654321ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static void fill_random(uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v = rnd();

		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)rnd();
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void rand_alnum(uint8_t *p, size_t n)
{
	static const char set[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)set[rnd() % (sizeof(set) - 1)];
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n);

	if (!p) {
		fprintf(stderr, "bench_ckpt_codec: out of memory\n");
		exit(1);
	}
	return p;
}

/* A heap like the kv guest's: malloc chunks with struct kv_entry (next, hash,
 * expire, key_len, type, {data, len, cap}, key "key:000000001234") followed
 * by the value chunk. Returns value offsets/lengths for updates. */
struct kv_item {
	uint32_t entry_off, val_off, val_len;
};

static size_t kv_build(uint8_t *mem, size_t pages, struct kv_item *items,
		       size_t cap)
{
	size_t off = 0, n = 0, bytes = pages * PG;
	uint64_t prev_va = 0, va = 0x400000;

	for (;;) {
		uint32_t vlen = 8 + (uint32_t)(rnd() % 57);
		size_t esz = 16 + 80, vsz = 16 + ((vlen + 15) & ~15u);
		uint8_t *e = mem + off;
		char key[32];

		if (off + esz + vsz > bytes || n == cap)
			break;
		put_le(e, esz | 1, 8);
		e += 16;
		put_le(e, rnd() % 4 ? 0 : prev_va, 8);
		put_le(e + 8, rnd(), 8);
		put_le(e + 16, rnd() % 8 ? 0 : 1700000000000ull, 8);
		put_le(e + 24, 16, 4);
		e[28] = 1;
		put_le(e + 32, va + off + esz + 16, 8);
		put_le(e + 40, vlen, 8);
		put_le(e + 48, vlen, 8);
		snprintf(key, sizeof(key), "key:%012zu", n);
		memcpy(e + 56, key, 16);
		put_le(mem + off + esz, vsz | 1, 8);
		rand_alnum(mem + off + esz + 16, vlen);
		items[n].entry_off = (uint32_t)(off + 16);
		items[n].val_off = (uint32_t)(off + esz + 16);
		items[n].val_len = vlen;
		prev_va = va + off + 16;
		n++;
		off += esz + vsz;
	}
	return n;
}

struct dataset {
	const char *name;
	size_t pages;
	uint8_t *data, *base; /* base NULL: full checkpoint */
};

static void make_sparse(struct dataset *d)
{
	fill_random(d->base, d->pages * PG);
	memcpy(d->data, d->base, d->pages * PG);
	for (size_t p = 0; p < d->pages; p++) {
		int k = 1 + (int)(rnd() % 8);

		for (int j = 0; j < k; j++)
			put_le(d->data + p * PG + (rnd() % (PG / 8)) * 8, rnd(), 8);
	}
}

static void make_random(struct dataset *d)
{
	fill_random(d->base, d->pages * PG);
	fill_random(d->data, d->pages * PG);
}

static void make_kv(struct dataset *d, bool full)
{
	size_t cap = d->pages * PG / 64, n;
	struct kv_item *items = xmalloc(cap * sizeof(*items));

	memset(d->data, 0, d->pages * PG);
	n = kv_build(d->data, d->pages, items, cap);
	if (full) {
		free(d->base);
		d->base = NULL;
		free(items);
		return;
	}
	memcpy(d->base, d->data, d->pages * PG);
	/* 1-3 SETs per page on keys whose value starts on that page. */
	for (size_t i = 0, p = 0; p < d->pages; p++) {
		size_t a = i, b;
		int sets = 1 + (int)(rnd() % 3);

		while (i < n && items[i].val_off / PG == p)
			i++;
		b = i;
		if (a == b)
			continue;
		for (int k = 0; k < sets; k++) {
			struct kv_item *it = &items[a + rnd() % (b - a)];

			rand_alnum(d->data + it->val_off, it->val_len);
			if (rnd() % 4 == 0)
				put_le(d->data + it->entry_off + 16,
				       1700000000000ull + rnd() % 100000, 8);
		}
	}
	free(items);
}

struct decode_ctx {
	uint8_t *staging;
	int errors;
};

static int decode_page(void *arg, uint64_t pfn, enum ckpt_page_encoding enc,
		       const uint8_t *data, uint32_t len)
{
	struct decode_ctx *c = arg;

	if (ckpt_page_decode(enc, data, len, c->staging + pfn * PG)) {
		c->errors++;
		return -1;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void run(const struct dataset *d, enum ckpt_compression mode,
		int reps)
{
	struct ckpt_page_ref *refs = xmalloc(d->pages * sizeof(*refs));
	uint8_t *staging = xmalloc(d->pages * PG);
	double *enc_t = xmalloc((size_t)reps * sizeof(double));
	double *dec_t = xmalloc((size_t)reps * sizeof(double));
	struct ckpt_begin bg = { .version = CKPT_VERSION,
				 .flags = d->base ? 0 : CKPT_BEGIN_FULL,
				 .mem_size = (uint64_t)d->pages * PG,
				 .epoch = 1 };
	struct ckpt_buf out;
	struct ckpt_decoder dec;
	size_t encoded = 0;

	for (size_t p = 0; p < d->pages; p++)
		refs[p] = (struct ckpt_page_ref){
			p, d->data + p * PG, d->base ? d->base + p * PG : NULL
		};
	ckpt_buf_init(&out);
	ckpt_decoder_init(&dec);
	for (int r = 0; r < reps; r++) {
		struct decode_ctx ctx = { staging, 0 };
		struct ckpt_end end = { d->pages, 0, 0 };
		uint32_t msgs = 1;
		size_t off = 0;
		double t0;
		int ends = 0;

		ckpt_buf_reset(&out);
		t0 = now();
		if (ckpt_encode_begin(&out, &bg))
			abort();
		for (size_t p = 0; p < d->pages; p += CKPT_MAX_PAGES_PER_MSG) {
			size_t k = d->pages - p < CKPT_MAX_PAGES_PER_MSG ?
					   d->pages - p :
					   CKPT_MAX_PAGES_PER_MSG;

			if (ckpt_encode_pages(&out, 1, refs + p, k, mode, NULL))
				abort();
			msgs++;
		}
		end.message_count = msgs + 1;
		if (ckpt_encode_end(&out, 1, &end))
			abort();
		enc_t[r] = now() - t0;
		encoded = out.len;

		if (d->base)
			memcpy(staging, d->base, d->pages * PG);
		else
			memset(staging, 0, d->pages * PG);
		ckpt_decoder_reset(&dec);
		t0 = now();
		while (off < out.len) {
			struct ckpt_msg m;
			size_t used;
			enum ckpt_decode_status st = ckpt_decoder_feed(
				&dec, out.data + off, out.len - off, &used, &m);

			if (st != CKPT_DECODE_MESSAGE) {
				fprintf(stderr, "decode: %s\n", dec.err);
				exit(1);
			}
			off += used;
			if (m.header.type == CKPT_MSG_PAGES &&
			    ckpt_pages_walk(m.payload, m.header.length,
					    d->pages, decode_page, &ctx, NULL, 0))
				abort();
			if (m.header.type == CKPT_MSG_END)
				ends++;
		}
		dec_t[r] = now() - t0;
		if (ends != 1 || ctx.errors ||
		    memcmp(staging, d->data, d->pages * PG)) {
			fprintf(stderr, "bench_ckpt_codec: %s: decoded memory "
				"differs\n", d->name);
			exit(1);
		}
	}
	qsort(enc_t, (size_t)reps, sizeof(double), cmp_double);
	qsort(dec_t, (size_t)reps, sizeof(double), cmp_double);
	{
		double raw = (double)d->pages * PG;
		double te = enc_t[reps / 2], td = dec_t[reps / 2];

		printf("%s,%s,%zu,%.0f,%zu,%.2f,%.0f,%.0f\n", d->name,
		       mode == CKPT_COMPRESS_AUTO ? "auto" : "none", d->pages,
		       raw, encoded, raw / (double)encoded, raw / te / 1e6,
		       raw / td / 1e6);
		fflush(stdout);
	}
	ckpt_decoder_free(&dec);
	ckpt_buf_free(&out);
	free(refs);
	free(staging);
	free(enc_t);
	free(dec_t);
}

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 4096;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	const char *only = argc > 3 ? argv[3] : NULL;
	static const char *const names[] = { "sparse", "random", "kv",
					     "kv-full" };

	if (pages == 0 || pages > (1u << 20) || reps < 1) {
		fprintf(stderr, "usage: bench_ckpt_codec [PAGES [REPS [CASE]]]\n");
		return 2;
	}
	printf("case,mode,pages,raw_bytes,encoded_bytes,ratio,encode_MBps,"
	       "decode_MBps\n");
	for (size_t c = 0; c < sizeof(names) / sizeof(names[0]); c++) {
		struct dataset d;

		if (only && strcmp(only, names[c]))
			continue;
		d = (struct dataset){ names[c], pages, xmalloc(pages * PG),
				      xmalloc(pages * PG) };

		switch (c) {
		case 0:
			make_sparse(&d);
			break;
		case 1:
			make_random(&d);
			break;
		case 2:
			make_kv(&d, false);
			break;
		default:
			make_kv(&d, true);
			break;
		}
		run(&d, CKPT_COMPRESS_AUTO, reps);
		run(&d, CKPT_COMPRESS_NONE, reps);
		free(d.data);
		free(d.base);
	}
	return 0;
}
