/* SPDX-License-Identifier: MIT */
#include "backup/replica.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rrvm/boot_info.h"

static int reject(struct replica *r, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	replica_abort_epoch(r);
	r->epochs_rejected++;
	return ret;
}

static void *map_zeroed(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void replica_init(struct replica *r)
{
	memset(r, 0, sizeof(*r));
	r->streams = 1;
}

void replica_free(struct replica *r)
{
	if (r->image)
		munmap(r->image, r->mem_size);
	if (r->full_image)
		munmap(r->full_image, r->mem_size);
	free(r->staged_pfns);
	free(r->staged_pages);
	free(r->staged_bitmap);
	replica_init(r);
}

void replica_abort_epoch(struct replica *r)
{
	/* Small (mem/32768 bytes) and exact, whatever failed half-way. */
	if (r->staged_bitmap)
		memset(r->staged_bitmap, 0,
		       (r->mem_size / RRVM_PAGE_SIZE + 63) / 64 * 8);
	/* A full image in progress is garbage now; zero it for reuse. */
	if (r->staging_full && r->full_image)
		madvise(r->full_image, r->mem_size, MADV_DONTNEED);
	r->staging = false;
	r->staging_full = false;
	r->staging_pages_only = false;
	r->staged_count = 0;
	r->staged_have_vcpu = r->staged_have_device = false;
	r->streams_expected = r->streams_begun = r->streams_ended = 0;
}

static int begin_epoch(struct replica *r, const struct ckpt_msg *msg)
{
	const struct ckpt_begin *b = &msg->begin;
	bool full = b->flags & CKPT_BEGIN_FULL;

	if (!full && !r->have_image)
		return reject(r, -EPROTO,
			      "incremental epoch %llu before any full "
			      "checkpoint",
			      (unsigned long long)b->epoch);
	if (!full && b->mem_size != r->mem_size)
		return reject(r, -EPROTO,
			      "epoch %llu is for %llu bytes of memory, the "
			      "image has %llu",
			      (unsigned long long)b->epoch,
			      (unsigned long long)b->mem_size,
			      (unsigned long long)r->mem_size);
	if (full && b->mem_size != r->mem_size) {
		/* A new (or resized) VM: start from nothing. */
		if (r->have_image)
			return reject(r, -EPROTO,
				      "full epoch changes memory size from "
				      "%llu to %llu",
				      (unsigned long long)r->mem_size,
				      (unsigned long long)b->mem_size);
		if (r->image)
			munmap(r->image, r->mem_size);
		if (r->full_image)
			munmap(r->full_image, r->mem_size);
		free(r->staged_bitmap);
		r->image = NULL;
		r->full_image = NULL;
		r->mem_size = b->mem_size;
		r->staged_bitmap =
		    calloc((r->mem_size / RRVM_PAGE_SIZE + 63) / 64, 8);
		if (!r->staged_bitmap)
			return reject(r, -ENOMEM, "out of memory");
	}
	if (full && !r->full_image) {
		r->full_image = map_zeroed(r->mem_size);
		if (!r->full_image)
			return reject(r, -ENOMEM, "cannot map %llu bytes",
				      (unsigned long long)r->mem_size);
	}
	r->staging = true;
	r->staging_full = full;
	r->staging_pages_only = b->flags & CKPT_BEGIN_PAGES_ONLY;
	r->staging_epoch = b->epoch;
	r->staged_count = 0;
	r->staged_have_vcpu = r->staged_have_device = false;
	return 0;
}

static int stage_reserve(struct replica *r)
{
	size_t cap;
	uint64_t *pfns;
	uint8_t *pages;

	if (r->staged_count < r->staged_cap)
		return 0;
	cap = r->staged_cap ? r->staged_cap * 2 : 1024;
	if (cap > r->mem_size / RRVM_PAGE_SIZE)
		cap = r->mem_size / RRVM_PAGE_SIZE;
	if (cap <= r->staged_count)
		return -ENOSPC;
	pfns = realloc(r->staged_pfns, cap * sizeof(*pfns));
	if (!pfns)
		return -ENOMEM;
	r->staged_pfns = pfns;
	pages = realloc(r->staged_pages, cap * (size_t)RRVM_PAGE_SIZE);
	if (!pages)
		return -ENOMEM;
	r->staged_pages = pages;
	r->staged_cap = cap;
	return 0;
}

static int stage_page(void *arg, uint64_t pfn, enum ckpt_page_encoding enc,
		      const uint8_t *data, uint32_t len)
{
	struct replica *r = arg;
	uint8_t *page;
	int ret;

	if (r->staged_bitmap[pfn / 64] & (1ull << (pfn % 64))) {
		snprintf(r->err, sizeof(r->err),
			 "page %llu twice in epoch %llu",
			 (unsigned long long)pfn,
			 (unsigned long long)r->staging_epoch);
		return -EPROTO;
	}
	r->staged_bitmap[pfn / 64] |= 1ull << (pfn % 64);
	if (r->staging_full) {
		/* Fresh zero image: the base of a full checkpoint. */
		page = r->full_image + pfn * RRVM_PAGE_SIZE;
	} else {
		ret = stage_reserve(r);
		if (ret) {
			snprintf(r->err, sizeof(r->err),
				 "cannot stage epoch %llu: %s",
				 (unsigned long long)r->staging_epoch,
				 strerror(-ret));
			return ret;
		}
		page =
		    r->staged_pages + r->staged_count * (size_t)RRVM_PAGE_SIZE;
		/* the delta base */
		memcpy(page, r->image + pfn * RRVM_PAGE_SIZE, RRVM_PAGE_SIZE);
		r->staged_pfns[r->staged_count] = pfn;
	}
	if (ckpt_page_decode(enc, data, len, page)) {
		snprintf(r->err, sizeof(r->err),
			 "page %llu of epoch %llu does not decode",
			 (unsigned long long)pfn,
			 (unsigned long long)r->staging_epoch);
		return -EPROTO;
	}
	if (!r->staging_full)
		r->staged_count++;
	return 0;
}

/* END arrived intact: the epoch becomes the committed state. */
static int commit_epoch(struct replica *r)
{
	uint64_t pages = 0;

	if (r->staging_pages_only &&
	    (r->staged_have_vcpu || r->staged_have_device))
		return reject(r, -EPROTO, "pages-only epoch %llu carries state",
			      (unsigned long long)r->staging_epoch);
	if (!r->staging_pages_only &&
	    (!r->staged_have_vcpu || !r->staged_have_device))
		return reject(r, -EPROTO, "epoch %llu lacks %s state",
			      (unsigned long long)r->staging_epoch,
			      r->staged_have_vcpu ? "device" : "vCPU");
	if (r->staging_full) {
		uint8_t *old = r->image;

		r->image = r->full_image;
		r->full_image = old; /* reused for the next full epoch */
		if (r->full_image)
			madvise(r->full_image, r->mem_size, MADV_DONTNEED);
		for (size_t w = 0; w < (r->mem_size / RRVM_PAGE_SIZE + 63) / 64;
		     w++) {
			pages +=
			    (uint64_t)__builtin_popcountll(r->staged_bitmap[w]);
			r->staged_bitmap[w] = 0;
		}
	} else {
		for (size_t i = 0; i < r->staged_count; i++) {
			uint64_t pfn = r->staged_pfns[i];

			memcpy(r->image + pfn * RRVM_PAGE_SIZE,
			       r->staged_pages + i * (size_t)RRVM_PAGE_SIZE,
			       RRVM_PAGE_SIZE);
			r->staged_bitmap[pfn / 64] = 0;
		}
		pages = r->staged_count;
	}
	if (!r->staging_pages_only) {
		r->vcpu = r->staged_vcpu;
		r->device = r->staged_device;
	}
	r->have_image = true;
	r->committed = !r->staging_pages_only;
	r->committed_full = r->staging_full && !r->staging_pages_only;
	r->committed_epoch = r->staging_epoch;
	r->epochs_committed++;
	r->pages_committed += pages;
	r->staging = false;
	r->staging_full = false;
	r->staging_pages_only = false;
	r->staged_count = 0;
	return 1;
}

/* Another build's state layout stays -EPROTONOSUPPORT (the link drop
 * says "incompatible", not "corrupt"); anything else is -EPROTO. */
static int state_error(int ret)
{
	return ret == -EPROTONOSUPPORT ? ret : -EPROTO;
}

int replica_message(struct replica *r, const struct ckpt_msg *msg)
{
	char why[sizeof(r->err)];
	int ret;

	if (msg->header.type == CKPT_MSG_BEGIN)
		return begin_epoch(r, msg);
	if (!r->staging)
		return reject(r, -EPROTO, "message type %u outside an epoch",
			      msg->header.type);
	switch (msg->header.type) {
	case CKPT_MSG_PAGES:
		why[0] = '\0';
		r->err[0] = '\0'; /* set by stage_page when it refuses */
		ret = ckpt_pages_walk(msg->payload, msg->header.length,
				      r->mem_size / RRVM_PAGE_SIZE, stage_page,
				      r, why, sizeof(why));
		if (ret) {
			/* stage_page's reason says what was wrong with the
			 * page; the walker's only that its callback failed. */
			char reason[sizeof(r->err)];

			snprintf(reason, sizeof(reason), "%s",
				 r->err[0] ? r->err : why);
			return reject(r, ret, "%s", reason);
		}
		return 0;
	case CKPT_MSG_VCPU:
		ret = vm_state_decode_vcpu(msg->payload, msg->header.length,
					   &r->staged_vcpu, why, sizeof(why));
		if (ret)
			return reject(r, state_error(ret), "%s", why);
		r->staged_have_vcpu = true;
		return 0;
	case CKPT_MSG_DEVICE:
		ret =
		    vm_state_decode_device(msg->payload, msg->header.length,
					   &r->staged_device, why, sizeof(why));
		if (ret)
			return reject(r, state_error(ret), "%s", why);
		if (r->staged_device.mem_size != r->mem_size)
			return reject(r, -EPROTO,
				      "device state memory size mismatch");
		r->staged_have_device = true;
		return 0;
	case CKPT_MSG_END:
		return commit_epoch(r);
	}
	return reject(r, -EPROTO, "unexpected message type %u",
		      msg->header.type);
}

int replica_set_streams(struct replica *r, unsigned n)
{
	if (n < 1 || n > REPLICA_MAX_STREAMS)
		return -EINVAL;
	if (r->staging)
		return -EBUSY;
	r->streams = n;
	return 0;
}

/* A BEGIN from a stream while the epoch is in flight: it joins, if it is
 * the same epoch, the same kind, and this stream's first. */
static int join_epoch(struct replica *r, unsigned stream,
		      const struct ckpt_msg *msg)
{
	uint32_t bit = 1u << stream;

	if (msg->begin.epoch != r->staging_epoch)
		return reject(r, -EPROTO,
			      "stream %u began epoch %llu while epoch %llu is "
			      "in flight",
			      stream, (unsigned long long)msg->begin.epoch,
			      (unsigned long long)r->staging_epoch);
	if (!(r->streams_expected & bit))
		return reject(r, -EPROTO,
			      "stream %u has no part in epoch %llu (an epoch "
			      "with state comes on stream 0 alone)",
			      stream, (unsigned long long)r->staging_epoch);
	if (r->streams_begun & bit)
		return reject(r, -EPROTO, "stream %u began epoch %llu twice",
			      stream, (unsigned long long)r->staging_epoch);
	if (msg->begin.flags != r->staging_flags ||
	    msg->begin.mem_size != r->mem_size)
		return reject(r, -EPROTO,
			      "stream %u's BEGIN of epoch %llu differs from "
			      "the first stream's",
			      stream, (unsigned long long)r->staging_epoch);
	r->streams_begun |= bit;
	return 0;
}

int replica_stream_message(struct replica *r, unsigned stream,
			   const struct ckpt_msg *msg)
{
	uint32_t bit = 1u << stream;
	int ret;

	if (stream >= r->streams)
		return reject(r, -EPROTO, "stream %u of %u", stream,
			      r->streams);
	if (msg->header.type == CKPT_MSG_BEGIN && r->staging)
		return join_epoch(r, stream, msg);
	if (msg->header.type == CKPT_MSG_BEGIN) {
		bool pages_only = msg->begin.flags & CKPT_BEGIN_PAGES_ONLY;

		if (stream != 0 && !pages_only)
			return reject(r, -EPROTO,
				      "epoch %llu with state on stream %u: "
				      "only stream 0 carries state",
				      (unsigned long long)msg->begin.epoch,
				      stream);
		ret = replica_message(r, msg);
		if (ret)
			return ret;
		r->streams_expected =
		    pages_only ? (uint32_t)((1ull << r->streams) - 1) : 1u;
		r->streams_begun = bit;
		r->streams_ended = 0;
		r->staging_flags = msg->begin.flags;
		return 0;
	}
	if (r->staging &&
	    (!(r->streams_begun & bit) || (r->streams_ended & bit)))
		return reject(r, -EPROTO,
			      "message type %u on stream %u outside its part "
			      "of epoch %llu",
			      msg->header.type, stream,
			      (unsigned long long)r->staging_epoch);
	if (msg->header.type == CKPT_MSG_END && r->staging) {
		r->streams_ended |= bit;
		if (r->streams_ended != r->streams_expected)
			return 0; /* the others' parts are still coming */
	}
	return replica_message(r, msg);
}

uint8_t *replica_take_image(struct replica *r)
{
	uint8_t *image = r->image;

	r->image = NULL;
	r->committed = false;
	r->have_image = false;
	return image;
}
