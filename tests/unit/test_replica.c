/* SPDX-License-Identifier: MIT */
/*
 * The backup's replica: epochs commit only whole and intact; a corrupt,
 * truncated or out-of-order epoch leaves the committed image untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/replica.h"
#include "vmm/vm_snapshot.h"

#define MEM (8ull << 20)
#define PAGES (MEM / 4096)

static uint8_t *guest; /* the "primary's" memory */
static uint8_t *base; /* what the primary believes the backup holds */

static void fill_vcpu_device(struct vm_snapshot *s, uint64_t epoch)
{
	memset(&s->vcpu, 0, sizeof(s->vcpu));
	s->vcpu.regs.rip = 0x400000 + epoch;
	memset(&s->device, 0, sizeof(s->device));
	s->device.mem_size = MEM;
	s->device.guest_ns = epoch * 1000;
}

/* The primary's delta cache in miniature: it knows the backup's copy of
 * even pfns only; odd ones go absolute. */
static bool even_only;
static struct ckpt_encode_stats epoch_stats; /* of the last make_epoch */

static const uint8_t *known_base(void *ctx, uint64_t pfn)
{
	return even_only && pfn % 2 ? NULL : vm_snapshot_image_base(ctx, pfn);
}

/* A snapshot of the listed pages of `guest` (free pfns and pages). */
static void snapshot_of(struct vm_snapshot *s, uint64_t epoch, bool full,
			const uint64_t *pfns, size_t n)
{
	vm_snapshot_init(s);
	s->epoch = epoch;
	s->full = full;
	s->pfns = malloc((n ? n : 1) * sizeof(uint64_t));
	s->pages = malloc((n ? n : 1) * 4096);
	for (size_t i = 0; i < n; i++) {
		s->pfns[i] = pfns[i];
		memcpy(s->pages + i * 4096, guest + pfns[i] * 4096, 4096);
	}
	s->npages = n;
}

/* Encode an epoch of the listed pages (full = every nonzero page). */
static void make_epoch(struct ckpt_buf *out, uint64_t epoch, bool full,
		       const uint64_t *pfns, size_t n)
{
	struct vm_snapshot s;

	snapshot_of(&s, epoch, full, pfns, n);
	fill_vcpu_device(&s, epoch);
	ckpt_buf_reset(out);
	memset(&epoch_stats, 0, sizeof(epoch_stats));
	assert_int_equal(vm_snapshot_encode(&s, MEM, full ? NULL : known_base,
					    base, CKPT_COMPRESS_AUTO, out,
					    &epoch_stats),
			 0);
	for (size_t i = 0; i < n; i++)
		memcpy(base + pfns[i] * 4096, guest + pfns[i] * 4096, 4096);
	free(s.pfns);
	free(s.pages);
}

/* A live migration's pre-copy round: the pages only, no state (BEGIN
 * with CKPT_BEGIN_PAGES_ONLY), as migration/migrate_source.c streams it. */
static void make_round(struct ckpt_buf *out, uint64_t epoch, bool full,
		       const uint64_t *pfns, size_t n)
{
	struct ckpt_begin begin = {
	    .version = CKPT_VERSION,
	    .flags = CKPT_BEGIN_PAGES_ONLY | (full ? CKPT_BEGIN_FULL : 0),
	    .mem_size = MEM,
	    .epoch = epoch,
	};
	struct ckpt_end end = {.page_count = n, .message_count = 2};
	struct vm_snapshot s;

	snapshot_of(&s, epoch, full, pfns, n);
	ckpt_buf_reset(out);
	assert_int_equal(ckpt_encode_begin(out, &begin), 0);
	for (size_t i = 0; i < n; i += CKPT_MAX_PAGES_PER_MSG) {
		size_t k = n - i < CKPT_MAX_PAGES_PER_MSG
			       ? n - i
			       : CKPT_MAX_PAGES_PER_MSG;

		assert_int_equal(vm_snapshot_encode_pages(
				     &s, i, k, full ? NULL : known_base, base,
				     CKPT_COMPRESS_AUTO, out, NULL),
				 0);
		end.message_count++;
	}
	assert_int_equal(ckpt_encode_end(out, epoch, &end), 0);
	for (size_t i = 0; i < n; i++)
		memcpy(base + pfns[i] * 4096, guest + pfns[i] * 4096, 4096);
	free(s.pfns);
	free(s.pages);
}

/* Feed a byte stream of stream (a migration's channel; -1: plain
 * replica_message); returns the number of commits or -1 on reject. */
static int feed_stream(struct replica *r, struct ckpt_decoder *d, int stream,
		       const uint8_t *p, size_t len);

static int feed(struct replica *r, struct ckpt_decoder *d, const uint8_t *p,
		size_t len)
{
	return feed_stream(r, d, -1, p, len);
}

static int feed_stream(struct replica *r, struct ckpt_decoder *d, int stream,
		       const uint8_t *p, size_t len)
{
	int commits = 0;
	size_t off = 0;

	while (off < len) {
		struct ckpt_msg msg;
		size_t used = 0;
		enum ckpt_decode_status st =
			ckpt_decoder_feed(d, p + off, len - off, &used, &msg);
		int ret;

		off += used;
		if (st == CKPT_DECODE_ERROR)
			return -1;
		if (st == CKPT_DECODE_NEED_MORE)
			break;
		ret = stream < 0
			  ? replica_message(r, &msg)
			  : replica_stream_message(r, (unsigned)stream, &msg);
		if (ret < 0)
			return -1;
		commits += ret;
	}
	return commits;
}

static void scribble(uint64_t pfn, uint32_t seed)
{
	for (int i = 0; i < 4096; i += 64)
		guest[pfn * 4096 + (size_t)i] = (uint8_t)(seed + (uint32_t)i);
}

static int setup(void **state)
{
	(void)state;
	guest = calloc(1, MEM);
	base = calloc(1, MEM);
	return guest && base ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(guest);
	free(base);
	return 0;
}

static void start(struct replica *r, struct ckpt_decoder *d,
		  struct ckpt_buf *b)
{
	uint64_t pfns[64];

	memset(guest, 0, MEM);
	memset(base, 0, MEM);
	replica_init(r);
	ckpt_decoder_init(d);
	ckpt_buf_init(b);
	for (int i = 0; i < 64; i++) {
		pfns[i] = (uint64_t)i * 7 + 3;
		scribble(pfns[i], (uint32_t)i);
	}
	make_epoch(b, 1, true, pfns, 64);
	assert_int_equal(feed(r, d, b->data, b->len), 1);
	assert_true(r->committed);
	assert_int_equal(r->committed_epoch, 1);
	assert_memory_equal(r->image, guest, MEM);
}

static void finish(struct replica *r, struct ckpt_decoder *d,
		   struct ckpt_buf *b)
{
	replica_free(r);
	ckpt_decoder_free(d);
	ckpt_buf_free(b);
}

static void test_full_then_incremental(void **state)
{
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint64_t pfns[3] = { 3, 10, PAGES - 1 };

	(void)state;
	start(&r, &d, &b);
	for (uint64_t e = 2; e < 20; e++) {
		for (int i = 0; i < 3; i++)
			scribble(pfns[i], (uint32_t)(e * 31 + (uint64_t)i));
		make_epoch(&b, e, false, pfns, 3);
		assert_int_equal(feed(&r, &d, b.data, b.len), 1);
		assert_int_equal(r.committed_epoch, e);
		assert_int_equal(r.vcpu.regs.rip, 0x400000 + e);
		assert_memory_equal(r.image, guest, MEM);
	}
	/* A page that became zero again must be sent and applied. */
	memset(guest + 10 * 4096, 0, 4096);
	make_epoch(&b, 20, false, &pfns[1], 1);
	assert_int_equal(feed(&r, &d, b.data, b.len), 1);
	assert_memory_equal(r.image, guest, MEM);
	finish(&r, &d, &b);
}

/* Pages whose backup copy the primary does not know arrive as absolute
 * content and replace whatever the image held. */
static void test_absolute_pages_replace_image(void **state)
{
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint64_t pfns[4] = {3, 10, 17, 24};

	(void)state;
	start(&r, &d, &b);
	even_only = true;
	for (uint64_t e = 2; e < 6; e++) {
		for (int i = 0; i < 4; i++)
			scribble(pfns[i], (uint32_t)(e * 17 + (uint64_t)i));
		make_epoch(&b, e, false, pfns, 4);
		assert_int_equal(feed(&r, &d, b.data, b.len), 1);
		assert_memory_equal(r.image, guest, MEM);
	}
	even_only = false;
	/* Two deltas (10, 24), two absolute pages (3, 17). */
	assert_int_equal(epoch_stats.by_encoding[CKPT_PAGE_XOR_RLE], 2);
	assert_int_equal(epoch_stats.by_encoding[CKPT_PAGE_RLE], 2);
	finish(&r, &d, &b);
}

/* Every truncation point: the epoch never commits, the image is kept. */
static void test_truncated_epoch_keeps_committed(void **state)
{
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint64_t pfns[2] = { 3, 17 };
	uint8_t *before = malloc(MEM);

	(void)state;
	start(&r, &d, &b);
	memcpy(before, r.image, MEM);
	scribble(3, 999);
	scribble(17, 998);
	make_epoch(&b, 2, false, pfns, 2);
	for (size_t cut = 0; cut < b.len; cut += 1 + cut / 16) {
		ckpt_decoder_reset(&d);
		replica_abort_epoch(&r);
		assert_true(feed(&r, &d, b.data, cut) <= 0);
		assert_int_equal(r.committed_epoch, 1);
		assert_memory_equal(r.image, before, MEM);
	}
	/* After the link drops, the whole epoch still applies cleanly. */
	ckpt_decoder_reset(&d);
	replica_abort_epoch(&r);
	assert_int_equal(feed(&r, &d, b.data, b.len), 1);
	assert_memory_equal(r.image, guest, MEM);
	free(before);
	finish(&r, &d, &b);
}

/* Flipped bits anywhere: rejected or (if only in padding) harmless. */
static void test_corrupt_epoch_rejected(void **state)
{
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint64_t pfns[2] = { 3, 17 };
	uint8_t *before = malloc(MEM);
	uint8_t *copy;

	(void)state;
	start(&r, &d, &b);
	memcpy(before, r.image, MEM);
	scribble(3, 777);
	scribble(17, 776);
	make_epoch(&b, 2, false, pfns, 2);
	copy = malloc(b.len);
	srand(42);
	for (int trial = 0; trial < 400; trial++) {
		size_t pos = (size_t)rand() % b.len;

		memcpy(copy, b.data, b.len);
		copy[pos] ^= (uint8_t)(1u << (rand() % 8));
		ckpt_decoder_reset(&d);
		replica_abort_epoch(&r);
		/* CRCs cover every byte: any flip must be rejected. */
		assert_int_equal(feed(&r, &d, copy, b.len), -1);
		assert_int_equal(r.committed_epoch, 1);
		assert_memory_equal(r.image, before, MEM);
	}
	/* The decoder (CRC) rejects these before the replica sees them. */
	assert_int_equal(r.epochs_committed, 1);
	free(copy);
	free(before);
	finish(&r, &d, &b);
}

static void test_incremental_before_full_rejected(void **state)
{
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint64_t pfn = 5;

	(void)state;
	memset(guest, 0, MEM);
	memset(base, 0, MEM);
	replica_init(&r);
	ckpt_decoder_init(&d);
	ckpt_buf_init(&b);
	scribble(pfn, 1);
	make_epoch(&b, 1, true, &pfn, 1);
	/* Pretend the full one was lost: send only an incremental. */
	scribble(pfn, 2);
	make_epoch(&b, 2, false, &pfn, 1);
	assert_int_equal(feed(&r, &d, b.data, b.len), -1);
	assert_false(r.committed);
	assert_non_null(strstr(r.err, "before any full"));
	finish(&r, &d, &b);
}

/* A new full checkpoint (a resync) replaces everything. */
static void test_full_resync_replaces_image(void **state)
{
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint64_t pfn = 9;

	(void)state;
	start(&r, &d, &b);
	memset(guest, 0, MEM);
	memset(base, 0, MEM);
	scribble(pfn, 5);
	make_epoch(&b, 1, true, &pfn, 1);
	ckpt_decoder_reset(&d);
	assert_int_equal(feed(&r, &d, b.data, b.len), 1);
	assert_memory_equal(r.image, guest, MEM); /* old pages gone */
	finish(&r, &d, &b);
}

/*
 * A migration coming in: pre-copy rounds commit their pages but no state
 * (the image is ahead of any state: not a checkpoint to run), the final
 * epoch brings the state and makes it one. Truncated rounds are
 * all-or-nothing like epochs.
 */
static void test_pages_only_rounds(void **state)
{
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint64_t pfns[64], hot[3] = {3, 10, PAGES - 1};
	uint8_t *before = malloc(MEM);

	(void)state;
	memset(guest, 0, MEM);
	memset(base, 0, MEM);
	replica_init(&r);
	ckpt_decoder_init(&d);
	ckpt_buf_init(&b);
	for (int i = 0; i < 64; i++) {
		pfns[i] = (uint64_t)i * 5 + 1;
		scribble(pfns[i], (uint32_t)i + 100);
	}
	make_round(&b, 1, true, pfns, 64);
	assert_int_equal(feed(&r, &d, b.data, b.len), 1);
	assert_true(r.have_image);
	assert_false(r.committed); /* pages, but no state to run */
	assert_false(r.committed_full);
	assert_memory_equal(r.image, guest, MEM);
	for (uint64_t e = 2; e < 6; e++) {
		for (int i = 0; i < 3; i++)
			scribble(hot[i], (uint32_t)(e * 13 + (uint64_t)i));
		make_round(&b, e, false, hot, 3);
		assert_int_equal(feed(&r, &d, b.data, b.len), 1);
		assert_false(r.committed);
		assert_memory_equal(r.image, guest, MEM);
	}
	/* A round cut anywhere commits nothing. */
	memcpy(before, r.image, MEM);
	scribble(hot[0], 4242);
	make_round(&b, 6, false, hot, 1);
	for (size_t cut = 0; cut < b.len; cut += 1 + cut / 8) {
		ckpt_decoder_reset(&d);
		replica_abort_epoch(&r);
		assert_true(feed(&r, &d, b.data, cut) <= 0);
		assert_memory_equal(r.image, before, MEM);
		assert_int_equal(r.committed_epoch, 5);
	}
	/* Sent whole, it commits (the sender's idea of the image, `base`,
	 * already counted on it). */
	ckpt_decoder_reset(&d);
	replica_abort_epoch(&r);
	assert_int_equal(feed(&r, &d, b.data, b.len), 1);
	assert_false(r.committed);
	/* The final epoch: the rest and the state. */
	scribble(hot[1], 4343);
	make_epoch(&b, 7, false, hot, 2);
	assert_int_equal(feed(&r, &d, b.data, b.len), 1);
	assert_true(r.committed);
	assert_int_equal(r.committed_epoch, 7);
	assert_int_equal(r.vcpu.regs.rip, 0x400000 + 7);
	assert_memory_equal(r.image, guest, MEM);
	free(before);
	finish(&r, &d, &b);
}

/* A pages-only round cannot carry state: the decoder refuses it. */
static void test_pages_only_round_with_state_refused(void **state)
{
	struct ckpt_begin begin = {.version = CKPT_VERSION,
				   .flags =
				       CKPT_BEGIN_PAGES_ONLY | CKPT_BEGIN_FULL,
				   .mem_size = MEM,
				   .epoch = 1};
	struct ckpt_decoder d;
	struct ckpt_buf b;
	struct ckpt_msg msg;
	uint8_t blob[16] = {0};
	size_t used = 0, off;

	(void)state;
	ckpt_decoder_init(&d);
	ckpt_buf_init(&b);
	assert_int_equal(ckpt_encode_begin(&b, &begin), 0);
	off = b.len;
	assert_int_equal(
	    ckpt_encode_blob(&b, CKPT_MSG_VCPU, 1, blob, sizeof(blob)), 0);
	assert_int_equal(ckpt_decoder_feed(&d, b.data, off, &used, &msg),
			 CKPT_DECODE_MESSAGE);
	assert_int_equal(
	    ckpt_decoder_feed(&d, b.data + off, b.len - off, &used, &msg),
	    CKPT_DECODE_ERROR);
	assert_non_null(strstr(d.err, "pages-only"));
	/* An unknown BEGIN flag is refused by the encoder and the decoder. */
	begin.flags = 0x4;
	assert_int_equal(ckpt_encode_begin(&b, &begin), -EINVAL);
	ckpt_decoder_free(&d);
	ckpt_buf_free(&b);
}

/* A round split among channels: streams[i] carries pfns[from[i] ..
 * from[i + 1] - 1] as its own BEGIN ... END. */
static void make_parts(struct ckpt_buf *parts, unsigned n, uint64_t epoch,
		       bool full, const uint64_t *pfns, const size_t *from)
{
	for (unsigned i = 0; i < n; i++)
		make_round(&parts[i], epoch, full, pfns + from[i],
			   from[i + 1] - from[i]);
}

/* Channels: a round commits only when every stream's END arrived, in
 * whatever order the streams come; an epoch with state comes on stream 0
 * alone. */
static void test_channel_rounds(void **state)
{
	struct replica r;
	struct ckpt_decoder d[3];
	struct ckpt_buf parts[3];
	uint64_t pfns[90], hot[4] = {3, 10, 500, PAGES - 1};
	size_t thirds[4] = {0, 30, 60, 90}, hot_parts[4] = {0, 2, 4, 4};

	(void)state;
	memset(guest, 0, MEM);
	memset(base, 0, MEM);
	replica_init(&r);
	assert_int_equal(replica_set_streams(&r, 3), 0);
	for (int i = 0; i < 3; i++) {
		ckpt_decoder_init(&d[i]);
		ckpt_buf_init(&parts[i]);
	}
	for (int i = 0; i < 90; i++) {
		pfns[i] = (uint64_t)i * 11 + 2;
		scribble(pfns[i], (uint32_t)i + 7);
	}
	make_parts(parts, 3, 1, true, pfns, thirds);
	assert_int_equal(feed_stream(&r, &d[0], 0, parts[0].data, parts[0].len),
			 0);
	assert_int_equal(feed_stream(&r, &d[2], 2, parts[2].data, parts[2].len),
			 0);
	/* Two of three ENDs: nothing applied yet. */
	assert_false(r.have_image);
	assert_int_equal(r.epochs_committed, 0);
	assert_int_equal(feed_stream(&r, &d[1], 1, parts[1].data, parts[1].len),
			 1);
	assert_true(r.have_image);
	assert_false(r.committed);
	assert_memory_equal(r.image, guest, MEM);

	/* An incremental round; stream 2's part is empty (BEGIN, END). */
	for (int i = 0; i < 4; i++)
		scribble(hot[i], (uint32_t)(900 + i));
	make_parts(parts, 3, 2, false, hot, hot_parts);
	assert_int_equal(feed_stream(&r, &d[1], 1, parts[1].data, parts[1].len),
			 0);
	assert_int_equal(feed_stream(&r, &d[2], 2, parts[2].data, parts[2].len),
			 0);
	assert_int_equal(feed_stream(&r, &d[0], 0, parts[0].data, parts[0].len),
			 1);
	assert_int_equal(r.committed_epoch, 2);
	assert_memory_equal(r.image, guest, MEM);

	/* The final epoch, with state, on stream 0 alone. */
	scribble(hot[0], 4444);
	make_epoch(&parts[0], 3, false, hot, 1);
	assert_int_equal(feed_stream(&r, &d[0], 0, parts[0].data, parts[0].len),
			 1);
	assert_true(r.committed);
	assert_int_equal(r.committed_epoch, 3);
	assert_memory_equal(r.image, guest, MEM);
	for (int i = 0; i < 3; i++) {
		ckpt_decoder_free(&d[i]);
		ckpt_buf_free(&parts[i]);
	}
	replica_free(&r);
}

/* Start a 2-stream replica on a committed round 1 of pfns 0..9. */
static void start_streams(struct replica *r, struct ckpt_decoder *d,
			  struct ckpt_buf *parts)
{
	uint64_t pfns[10];
	size_t halves[3] = {0, 5, 10};

	memset(guest, 0, MEM);
	memset(base, 0, MEM);
	replica_init(r);
	assert_int_equal(replica_set_streams(r, 2), 0);
	for (int i = 0; i < 2; i++) {
		ckpt_decoder_init(&d[i]);
		ckpt_buf_init(&parts[i]);
	}
	for (int i = 0; i < 10; i++) {
		pfns[i] = (uint64_t)i;
		scribble(pfns[i], (uint32_t)i + 1);
	}
	make_parts(parts, 2, 1, true, pfns, halves);
	assert_int_equal(feed_stream(r, &d[0], 0, parts[0].data, parts[0].len),
			 0);
	assert_int_equal(feed_stream(r, &d[1], 1, parts[1].data, parts[1].len),
			 1);
	assert_memory_equal(r->image, guest, MEM);
}

static void stop_streams(struct replica *r, struct ckpt_decoder *d,
			 struct ckpt_buf *parts)
{
	for (int i = 0; i < 2; i++) {
		ckpt_decoder_free(&d[i]);
		ckpt_buf_free(&parts[i]);
	}
	replica_free(r);
}

/* What a channel must not do; each is rejected like a corrupt epoch and
 * leaves the committed image as it was. */
static void test_channel_rounds_refused(void **state)
{
	struct replica r;
	struct ckpt_decoder d[2];
	struct ckpt_buf parts[2];
	uint64_t same[2] = {4, 4}, two[2] = {1, 8};
	size_t each[3] = {0, 1, 2};
	uint8_t *before = malloc(MEM);

	(void)state;
	/* Counts out of range; not while an epoch is in flight. */
	replica_init(&r);
	assert_int_equal(replica_set_streams(&r, 0), -EINVAL);
	assert_int_equal(replica_set_streams(&r, REPLICA_MAX_STREAMS + 1),
			 -EINVAL);
	replica_free(&r);

	/* The same page on two streams. */
	start_streams(&r, d, parts);
	memcpy(before, r.image, MEM);
	scribble(4, 77);
	make_parts(parts, 2, 2, false, same, each);
	assert_int_equal(feed_stream(&r, &d[0], 0, parts[0].data, parts[0].len),
			 0);
	assert_int_equal(replica_set_streams(&r, 3), -EBUSY);
	assert_int_equal(feed_stream(&r, &d[1], 1, parts[1].data, parts[1].len),
			 -1);
	assert_non_null(strstr(r.err, "twice"));
	assert_memory_equal(r.image, before, MEM);
	assert_int_equal(r.committed_epoch, 1);
	stop_streams(&r, d, parts);

	/* A stream that sends its part twice. */
	start_streams(&r, d, parts);
	memcpy(before, r.image, MEM);
	scribble(1, 78);
	scribble(8, 79);
	make_parts(parts, 2, 2, false, two, each);
	assert_int_equal(feed_stream(&r, &d[1], 1, parts[1].data, parts[1].len),
			 0);
	ckpt_decoder_reset(&d[1]);
	assert_int_equal(feed_stream(&r, &d[1], 1, parts[1].data, parts[1].len),
			 -1);
	assert_non_null(strstr(r.err, "twice"));
	assert_memory_equal(r.image, before, MEM);
	stop_streams(&r, d, parts);

	/* A stream that starts the next round before this one committed. */
	start_streams(&r, d, parts);
	memcpy(before, r.image, MEM);
	make_parts(parts, 2, 2, false, two, each);
	assert_int_equal(feed_stream(&r, &d[0], 0, parts[0].data, parts[0].len),
			 0);
	make_parts(parts, 2, 3, false, two, each);
	assert_int_equal(feed_stream(&r, &d[1], 1, parts[1].data, parts[1].len),
			 -1);
	assert_non_null(strstr(r.err, "in flight"));
	assert_memory_equal(r.image, before, MEM);
	stop_streams(&r, d, parts);

	/* State on a stream other than 0; a stream beyond the count. */
	start_streams(&r, d, parts);
	memcpy(before, r.image, MEM);
	make_epoch(&parts[1], 2, false, two, 2);
	assert_int_equal(feed_stream(&r, &d[1], 1, parts[1].data, parts[1].len),
			 -1);
	assert_non_null(strstr(r.err, "only stream 0"));
	make_parts(parts, 2, 2, false, two, each);
	assert_int_equal(feed_stream(&r, &d[0], 2, parts[0].data, parts[0].len),
			 -1);
	assert_memory_equal(r.image, before, MEM);
	assert_false(r.committed);
	stop_streams(&r, d, parts);
	free(before);
}

/* A PAGES payload entry, little-endian as on the wire. */
static size_t put_page_entry(uint8_t *p, uint64_t pfn,
			     enum ckpt_page_encoding enc, const void *data,
			     uint32_t len)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(pfn >> (8 * i));
	p[8] = (uint8_t)enc;
	p[9] = p[10] = p[11] = 0;
	for (int i = 0; i < 4; i++)
		p[12 + i] = (uint8_t)(len >> (8 * i));
	if (len)
		memcpy(p + 16, data, len);
	return 16 + len;
}

/* One message straight to the replica, as the decoder would hand it
 * over (a BEGIN is incremental, for MEM). */
static int send_msg(struct replica *r, enum ckpt_msg_type type, uint64_t epoch,
		    const uint8_t *payload, size_t len)
{
	struct ckpt_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.header.type = (uint16_t)type;
	msg.header.epoch = epoch;
	msg.header.length = (uint32_t)len;
	msg.payload = payload;
	if (type == CKPT_MSG_BEGIN) {
		msg.begin.version = CKPT_VERSION;
		msg.begin.mem_size = MEM;
		msg.begin.epoch = epoch;
	}
	return replica_message(r, &msg);
}

/* BEGIN of incremental epoch `epoch`, then one PAGES message holding
 * `entries`: what replica_message says about the PAGES. */
static int stage_pages(struct replica *r, uint64_t epoch, uint32_t count,
		       const uint8_t *entries, size_t len)
{
	uint8_t payload[256] = {(uint8_t)count};

	assert_int_equal(send_msg(r, CKPT_MSG_BEGIN, epoch, NULL, 0), 0);
	assert_true(8 + len <= sizeof(payload));
	memcpy(payload + 8, entries, len);
	return send_msg(r, CKPT_MSG_PAGES, epoch, payload, 8 + len);
}

/*
 * A page the replica refuses (the decoder's structural checks pass) is
 * reported for what it is, not as the walker's "callback failed": the
 * reason reaches the log and the dropped link's message as it is here.
 */
static void test_page_rejection_reasons(void **state)
{
	/* XOR_RLE record (100 zeros, 0 literals): covers 100 of 4096 bytes. */
	static const uint8_t short_rle[4] = {100, 0, 0, 0};
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint8_t entries[64], *before = malloc(MEM);
	size_t len;

	(void)state;
	start(&r, &d, &b);
	memcpy(before, r.image, MEM);

	len = put_page_entry(entries, 5, CKPT_PAGE_ZERO, NULL, 0);
	len += put_page_entry(entries + len, 5, CKPT_PAGE_ZERO, NULL, 0);
	assert_int_equal(stage_pages(&r, 2, 2, entries, len), -EPROTO);
	assert_string_equal(r.err, "page 5 twice in epoch 2");

	len = put_page_entry(entries, 3, CKPT_PAGE_ZERO, NULL, 0);
	len += put_page_entry(entries + len, 10, CKPT_PAGE_XOR_RLE, short_rle,
			      sizeof(short_rle));
	assert_int_equal(stage_pages(&r, 3, 2, entries, len), -EPROTO);
	assert_string_equal(r.err, "page 10 of epoch 3 does not decode");

	/* A malformed entry keeps the walker's reason. */
	len = put_page_entry(entries, PAGES, CKPT_PAGE_ZERO, NULL, 0);
	assert_int_equal(stage_pages(&r, 4, 1, entries, len), -EINVAL);
	assert_non_null(strstr(r.err, "guest pages"));

	assert_int_equal(r.epochs_rejected, 3);
	assert_int_equal(r.committed_epoch, 1);
	assert_memory_equal(r.image, before, MEM);
	free(before);
	finish(&r, &d, &b);
}

/*
 * A VCPU record of another state version (a peer running an incompatible
 * rrvm build) is refused as such, not as corruption, and keeps the image.
 */
static void test_incompatible_state_refused(void **state)
{
	uint8_t blob[8 + sizeof(struct vm_vcpu_state)];
	struct vm_vcpu_state vcpu;
	struct replica r;
	struct ckpt_decoder d;
	struct ckpt_buf b;
	uint32_t version = 99;

	(void)state;
	start(&r, &d, &b);
	memset(&vcpu, 0, sizeof(vcpu));
	vm_state_encode_vcpu(&vcpu, blob);
	memcpy(blob, &version, 4);
	assert_int_equal(send_msg(&r, CKPT_MSG_BEGIN, 3, NULL, 0), 0);
	assert_int_equal(send_msg(&r, CKPT_MSG_VCPU, 3, blob, sizeof(blob)),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(r.err, "vCPU state record version 99"));
	assert_non_null(strstr(r.err, "incompatible rrvm build"));
	assert_int_equal(r.committed_epoch, 1);
	assert_memory_equal(r.image, guest, MEM);
	finish(&r, &d, &b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_then_incremental),
	    cmocka_unit_test(test_absolute_pages_replace_image),
	    cmocka_unit_test(test_truncated_epoch_keeps_committed),
	    cmocka_unit_test(test_corrupt_epoch_rejected),
	    cmocka_unit_test(test_incremental_before_full_rejected),
	    cmocka_unit_test(test_full_resync_replaces_image),
	    cmocka_unit_test(test_pages_only_rounds),
	    cmocka_unit_test(test_pages_only_round_with_state_refused),
	    cmocka_unit_test(test_channel_rounds),
	    cmocka_unit_test(test_channel_rounds_refused),
	    cmocka_unit_test(test_page_rejection_reasons),
	    cmocka_unit_test(test_incompatible_state_refused),
	};

	return cmocka_run_group_tests_name("replica", tests, setup, teardown);
}
