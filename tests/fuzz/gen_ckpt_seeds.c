// SPDX-License-Identifier: MIT
/*
 * Writes a small seed corpus for fuzz_ckpt_decoder into DIR (each file is
 * the harness's mode byte followed by a checkpoint stream):
 *
 *   gen_ckpt_seeds DIR
 *
 * The seeds cover every message type and page encoding, multiple epochs,
 * a layered-protocol message, and the ways of cutting the stream. Total
 * size stays well under 20 KB.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/repl_protocol.h"
#include "vmm/ckpt_codec.h"

#define PG CKPT_PAGE_SIZE
#define MEM_PAGES 64u

static const char *dir;
static int failures;

static void write_seed(const char *name, uint8_t mode, const struct ckpt_buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 ||
	    (b->len && fwrite(b->data, 1, b->len, f) != b->len) || fclose(f)) {
		fprintf(stderr, "gen_ckpt_seeds: %s: %s\n", path, strerror(errno));
		failures++;
	}
}

/* Same as the harness's base_page(), so incremental seeds decode to
 * something sensible. */
static void base_page(uint64_t pfn, uint8_t *p)
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

static void must(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "gen_ckpt_seeds: %s: %d\n", what, rc);
		exit(1);
	}
}

/* One epoch of `n` pages (pfns[i], content[i]), relative to base_page()
 * unless full. */
static void epoch(struct ckpt_buf *b, uint64_t e, int full,
		  const uint64_t *pfns, uint8_t (*content)[PG], size_t n,
		  int layered)
{
	static uint8_t bases[8][PG];
	struct ckpt_begin bg = { .version = CKPT_VERSION,
				 .flags = full ? CKPT_BEGIN_FULL : 0,
				 .mem_size = (uint64_t)MEM_PAGES * PG,
				 .epoch = e,
				 .guest_ns = e * 20000000ull };
	struct ckpt_page_ref refs[8];
	struct ckpt_end end = { .page_count = n, .message_count = 5 };

	must(ckpt_encode_begin(b, &bg), "begin");
	for (size_t i = 0; i < n; i++) {
		base_page(pfns[i], bases[i]);
		refs[i] = (struct ckpt_page_ref){ pfns[i], content[i],
						  full ? NULL : bases[i] };
	}
	must(ckpt_encode_pages(b, e, refs, n, CKPT_COMPRESS_AUTO, NULL),
	     "pages");
	if (layered)
		must(ckpt_encode_blob(b, 64, 0, "ack", 3), "layered");
	must(ckpt_encode_blob(b, CKPT_MSG_VCPU, e, "rip=0x401000", 12), "vcpu");
	must(ckpt_encode_blob(b, CKPT_MSG_DEVICE, e, "rx=3 tx=5", 9), "device");
	must(ckpt_encode_end(b, e, &end), "end");
}

int main(int argc, char **argv)
{
	static uint8_t pages[8][PG];
	uint64_t pfns[8] = { 0, 1, 2, 3, 5, 6, 7, 9 };
	struct ckpt_buf b;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_ckpt_seeds DIR\n");
		return 2;
	}
	dir = argv[1];
	ckpt_buf_init(&b);

	/* Page contents: zero, sparse edits of the base, text, unchanged. */
	memset(pages[0], 0, PG);
	for (int i = 1; i < 8; i++)
		base_page(pfns[i], pages[i]);
	pages[1][100] ^= 0x42; /* one byte */
	memcpy(pages[2] + 2000, "key:999999=VALUE", 16);
	for (size_t i = 0; i < PG; i++) /* compressible, not sparse */
		pages[4][i] = (uint8_t)("abcdefgh"[i % 8] + (i / 512));
	pages[6][7] = 1;
	pages[6][4095] = 2;

	/* Full checkpoint (no base): ZERO, RLE, LZ4. */
	epoch(&b, 1, 1, pfns, pages, 3, 0);
	write_seed("full-whole", 0x00, &b);
	write_seed("full-bytes", 0x01, &b);
	write_seed("full-fixcrc-chunks", 0x82, &b);

	/* Two incremental epochs, a layered message, ZERO and the XOR ones. */
	ckpt_buf_reset(&b);
	epoch(&b, 2, 0, pfns, pages, 8, 1);
	epoch(&b, 3, 0, pfns + 1, pages + 1, 4, 0);
	write_seed("incr-two-epochs", 0x03, &b);
	write_seed("incr-two-epochs-fixcrc", 0x80, &b);

	/* A RAW page (random content). */
	ckpt_buf_reset(&b);
	{
		uint64_t x = 88172645463325252ull;

		for (size_t i = 0; i < PG; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			pages[7][i] = (uint8_t)x;
		}
	}
	epoch(&b, 4, 1, pfns + 7, pages + 7, 1, 0);
	write_seed("raw-page", 0x02, &b);

	/* A replication session: HELLO, an epoch carrying RX_DIGESTS,
	 * HEARTBEAT, ACK, and digests cut short. */
	ckpt_buf_reset(&b);
	{
		struct repl_hello hello = { .version = REPL_VERSION,
					    .mode = REPL_MODE_REVERSE,
					    .session = 0x1234567890abcdefull,
					    .mem_size = MEM_PAGES * PG,
					    .epoch_ms = 20 };
		uint64_t digests[5] = { 1, 2, 3, 0xffffffffffffffffull, 5 };

		must(repl_encode_hello(&b, &hello), "hello");
		epoch(&b, 5, 1, pfns, pages, 2, 0);
		must(repl_encode_digests(&b, 5, digests, 5,
					 REPL_DIGESTS_INCOMPLETE),
		     "digests");
		must(repl_encode_heartbeat(&b, 5), "heartbeat");
		must(repl_encode_ack(&b, 5), "ack");
		write_seed("repl-session", 0x00, &b);
		write_seed("repl-session-fixcrc-chunks", 0x83, &b);
		ckpt_buf_reset(&b);
		must(repl_encode_digests(&b, 6, digests, 2, 0), "digests");
		b.data[24] = 9; /* count says more than there are */
		write_seed("repl-digests-short-fixcrc", 0x80, &b);
	}

	/* A live migration: HELLO mode migrate, a PROFILE (opaque here), a
	 * pages-only round, the final epoch, HANDOVER (migrate), CANCEL,
	 * DONE, FRAMES, and a round that wrongly carries state. */
	ckpt_buf_reset(&b);
	{
		struct repl_hello hello = {.version = REPL_VERSION,
					   .mode = REPL_MODE_MIGRATE,
					   .session = 0x5eed,
					   .mem_size = MEM_PAGES * PG};
		struct ckpt_begin bg = {.version = CKPT_VERSION,
					.flags = CKPT_BEGIN_FULL |
						 CKPT_BEGIN_PAGES_ONLY,
					.mem_size = (uint64_t)MEM_PAGES * PG,
					.epoch = 1};
		struct ckpt_page_ref ref = {pfns[0], pages[0], NULL};
		struct ckpt_end end = {.page_count = 1, .message_count = 3};
		struct repl_handover ho = {.flags = REPL_HANDOVER_MIGRATE};
		struct repl_done done = {20000000, 2000000};
		const uint8_t *fr[2] = {pages[1], pages[2]};
		uint16_t fl[2] = {60, 1514};

		must(repl_encode_hello(&b, &hello), "hello");
		must(ckpt_encode_blob(&b, 80, 0, "profile", 7), "profile");
		must(ckpt_encode_begin(&b, &bg), "begin");
		must(
		    ckpt_encode_pages(&b, 1, &ref, 1, CKPT_COMPRESS_AUTO, NULL),
		    "pages");
		must(ckpt_encode_end(&b, 1, &end), "end");
		epoch(&b, 2, 0, pfns + 1, pages + 1, 2, 0);
		must(repl_encode_handover(&b, 2, &ho), "handover");
		must(repl_encode_cancel(&b, 16, "busy: try later"), "cancel");
		must(repl_encode_done(&b, 2, &done), "done");
		must(repl_encode_frames(&b, fr, fl, 2), "frames");
		write_seed("migration-session", 0x00, &b);
		write_seed("migration-session-fixcrc-chunks", 0x82, &b);
		ckpt_buf_reset(&b);
		must(ckpt_encode_begin(&b, &bg), "begin");
		must(ckpt_encode_blob(&b, CKPT_MSG_VCPU, 1, "rip", 3), "vcpu");
		write_seed("pages-only-with-state", 0x00, &b);
	}

	/* Garbage and a bare header. */
	ckpt_buf_reset(&b);
	must(ckpt_encode_blob(&b, 200, 1, NULL, 0), "blob");
	write_seed("layered-only", 0x00, &b);
	b.data[0] ^= 0xff;
	write_seed("bad-magic", 0x00, &b);

	ckpt_buf_free(&b);
	return failures ? 1 : 0;
}
