/* SPDX-License-Identifier: MIT */
#include "vmm/vm_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/vm.h"

#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)

void vm_snapshot_init(struct vm_snapshot *s)
{
	memset(s, 0, sizeof(*s));
}

static void unmap(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static void *map_lazy(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void vm_snapshot_free(struct vm_snapshot *s)
{
	uint64_t n = s->mem_pages;

	unmap(s->pfns, n * sizeof(*s->pfns));
	unmap(s->pages, n * (size_t)RRVM_PAGE_SIZE);
	unmap(s->slot_of, n * sizeof(*s->slot_of));
	free(s->dirty_bitmap);
	free(s->in_epoch);
	memset(s, 0, sizeof(*s));
}

/*
 * Room for every page of guest RAM, reserved once: an epoch never waits
 * for a reallocation (least of all inside the pause), and untouched slots
 * cost no memory.
 */
static int snapshot_prepare(struct vm *vm, struct vm_snapshot *s)
{
	uint64_t pages = vm->mem_size / RRVM_PAGE_SIZE;
	size_t words = vm_dirty_bitmap_words(vm);

	if (s->mem_pages == pages)
		return 0;
	vm_snapshot_free(s);
	s->mem_pages = pages;
	s->dirty_words = words;
	s->pfns = map_lazy(pages * sizeof(*s->pfns));
	s->pages = map_lazy(pages * (size_t)RRVM_PAGE_SIZE);
	s->slot_of = map_lazy(pages * sizeof(*s->slot_of));
	s->dirty_bitmap = calloc(words, sizeof(uint64_t));
	s->in_epoch = calloc(words, sizeof(uint64_t));
	if (!s->pfns || !s->pages || !s->slot_of || !s->dirty_bitmap ||
	    !s->in_epoch) {
		vm_snapshot_free(s);
		return -ENOMEM;
	}
	return 0;
}

/* Start filling the next epoch: forget the pages of the previous one. */
static void snapshot_open(struct vm_snapshot *s)
{
	memset(s->in_epoch, 0, s->dirty_words * sizeof(uint64_t));
	s->npages = 0;
	s->early_passes = 0;
	s->early_copies = 0;
	s->early_ns = 0;
	s->open = true;
	s->open_full = false;
}

void vm_snapshot_trim(struct vm_snapshot *s, size_t keep_pages)
{
	if (s->resident_pages <= keep_pages)
		return;
	madvise(s->pages + keep_pages * (size_t)RRVM_PAGE_SIZE,
		(s->resident_pages - keep_pages) * (size_t)RRVM_PAGE_SIZE,
		MADV_DONTNEED);
	s->resident_pages = keep_pages;
}

/*
 * Reads of guest RAM. The early passes read it while the guest and the
 * monitor's vCPU thread write it: by design, a page written after its copy
 * is dirty again and copied again inside the pause (docs/design.md,
 * "Checkpoint pause"). ThreadSanitizer builds read it uninstrumented so
 * that this one intended race is not reported and every other one is.
 */
#if defined(__SANITIZE_THREAD__)
#define GUEST_READ __attribute__((no_sanitize_thread, noinline))
static GUEST_READ void copy_guest_page(uint8_t *dst, const uint8_t *src)
{
	const volatile uint64_t *s = (const volatile uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;

	for (unsigned i = 0; i < RRVM_PAGE_SIZE / 8; i++)
		d[i] = s[i];
}
#else
#define GUEST_READ
static void copy_guest_page(uint8_t *dst, const uint8_t *src)
{
	memcpy(dst, src, RRVM_PAGE_SIZE);
}
#endif

static GUEST_READ bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned i = 0; i < RRVM_PAGE_SIZE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Which pages of guest RAM have ever been touched: reading an untouched
 * page of our anonymous mapping would fault it in (~270 ms for 64 MiB here)
 * only to find zeros. Swapped-out pages count as touched. The pagemap has
 * one 8-byte entry per host page; x86-64 host pages are 4 KiB like the
 * guest's, so entry i is guest page i.
 */
static int resident_bitmap(struct vm *vm, uint64_t *bitmap)
{
	uint64_t pages = vm->mem_size / RRVM_PAGE_SIZE;
	uint64_t chunk[512];
	off_t off = (off_t)((uintptr_t)vm->mem / RRVM_PAGE_SIZE * 8);
	int fd, ret = 0;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* No pagemap: treat every page as touched (slow, correct). */
		memset(bitmap, 0xff, (pages + 63) / 64 * 8);
		return 0;
	}
	for (uint64_t p = 0; p < pages; p += 512) {
		size_t n = pages - p < 512 ? (size_t)(pages - p) : 512;
		ssize_t got = pread(fd, chunk, n * 8, off + (off_t)(p * 8));

		if (got != (ssize_t)(n * 8)) {
			ret = got < 0 ? -errno : -EIO;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (chunk[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED))
				bitmap[(p + i) / 64] |= 1ull << ((p + i) % 64);
	}
	close(fd);
	return ret;
}

/*
 * Copy the pages set in s->dirty_bitmap into their slots: a page already
 * in this epoch (copied by an early pass) is copied over, a new one gets
 * the next slot. skip_zero (full snapshots) leaves out all-zero pages.
 * Returns the pages copied.
 */
static size_t copy_dirty(struct vm *vm, struct vm_snapshot *s, bool skip_zero)
{
	size_t copied = 0;

	for (size_t i = 0; i < s->dirty_words; i++) {
		uint64_t bits = s->dirty_bitmap[i];

		while (bits) {
			uint64_t pfn = i * 64 + (uint64_t)__builtin_ctzll(bits);
			const uint8_t *src = vm->mem + pfn * RRVM_PAGE_SIZE;
			size_t slot;

			bits &= bits - 1;
			if (s->in_epoch[i] & (1ull << (pfn % 64))) {
				slot = s->slot_of[pfn];
			} else {
				/* A full snapshot is relative to zeros. */
				if (skip_zero && page_is_zero(src))
					continue;
				slot = s->npages++;
				s->pfns[slot] = pfn;
				s->slot_of[pfn] = (uint32_t)slot;
				s->in_epoch[i] |= 1ull << (pfn % 64);
			}
			copy_guest_page(
			    s->pages + slot * (size_t)RRVM_PAGE_SIZE, src);
			copied++;
		}
	}
	if (s->npages > s->resident_pages)
		s->resident_pages = s->npages;
	return copied;
}

/*
 * One early pass; a full one first restarts the log (every write after
 * this is logged again, so a page copied below and written later is copied
 * again) and then takes every resident page instead of the logged ones.
 */
static long precopy(struct vm *vm, struct vm_snapshot *s, bool full)
{
	uint64_t t0 = clock_mono_ns();
	size_t copied;
	int ret;

	if (!vm->dirty_manual_protect)
		return -EOPNOTSUPP;
	ret = snapshot_prepare(vm, s);
	if (ret)
		return ret;
	if (full) {
		snapshot_open(s);
		s->open = false; /* until the copy below is whole */
	} else if (!s->open) {
		snapshot_open(s);
	}
	ret = vm_dirty_collect_guest(vm, s->dirty_bitmap);
	if (ret)
		return ret;
	if (full) {
		memset(s->dirty_bitmap, 0, s->dirty_words * sizeof(uint64_t));
		ret = resident_bitmap(vm, s->dirty_bitmap);
		if (ret)
			return ret;
		s->open = true;
		s->open_full = true;
	}
	/* In a full epoch a page new to it and still zero needs no slot. */
	copied = copy_dirty(vm, s, s->open_full);
	s->early_passes++;
	s->early_copies += copied;
	s->early_ns += clock_mono_ns() - t0;
	return (long)copied;
}

long vm_snapshot_precopy(struct vm *vm, struct vm_snapshot *s)
{
	return precopy(vm, s, false);
}

long vm_snapshot_precopy_full(struct vm *vm, struct vm_snapshot *s)
{
	return precopy(vm, s, true);
}

int vm_snapshot_collect(struct vm *vm, struct vm_snapshot *s, bool full)
{
	uint64_t t0 = clock_mono_ns(), t1, t2;
	int ret;

	bool scan;

	ret = snapshot_prepare(vm, s);
	if (ret)
		return ret;
	/*
	 * Early copies of a full epoch make this one full, and then only the
	 * pages dirtied since need copying. Otherwise a full snapshot takes
	 * every page anyway: early incremental copies are moot.
	 */
	if (s->open && s->open_full)
		full = true;
	scan = full && !(s->open && s->open_full);
	if (!s->open || scan)
		snapshot_open(s);
	/* Always fetch the dirty log: a full snapshot restarts it. */
	ret = vm_dirty_collect(vm, s->dirty_bitmap);
	if (ret)
		return ret;
	if (scan) {
		memset(s->dirty_bitmap, 0, s->dirty_words * sizeof(uint64_t));
		ret = resident_bitmap(vm, s->dirty_bitmap);
		if (ret)
			return ret;
	}
	t1 = clock_mono_ns();
	s->pause_pages = copy_dirty(vm, s, full);
	s->full = full;
	s->open = false;
	s->open_full = false;
	t2 = clock_mono_ns();
	ret = vm_state_capture_vcpu(vm, &s->vcpu);
	if (ret)
		return ret;
	vm_state_capture_device(vm, &s->device);
	s->dirty_log_ns = t1 - t0;
	s->copy_ns = t2 - t1;
	s->state_ns = clock_mono_ns() - t2;
	s->pause_ns = clock_mono_ns() - t0;
	return 0;
}

void vm_snapshot_end_round(struct vm_snapshot *s)
{
	s->full = s->open && s->open_full;
	s->open = false;
	s->open_full = false;
	s->pause_pages = 0;
	s->pause_ns = 0;
}

int vm_snapshot_copy(struct vm *vm, struct vm_snapshot *s)
{
	uint64_t t0 = clock_mono_ns(), t1, t2;
	int ret;

	ret = snapshot_prepare(vm, s);
	if (ret)
		return ret;
	/* A copy of its own: whatever an early pass staged is not ours. */
	snapshot_open(s);
	memset(s->dirty_bitmap, 0, s->dirty_words * sizeof(uint64_t));
	ret = resident_bitmap(vm, s->dirty_bitmap);
	if (ret)
		return ret;
	t1 = clock_mono_ns();
	s->pause_pages = copy_dirty(vm, s, true);
	s->full = true;
	s->open = false;
	s->open_full = false;
	t2 = clock_mono_ns();
	ret = vm_state_capture_vcpu(vm, &s->vcpu);
	if (ret)
		return ret;
	vm_state_capture_device(vm, &s->device);
	s->dirty_log_ns = 0;
	s->copy_ns = t2 - t1;
	s->state_ns = clock_mono_ns() - t2;
	s->pause_ns = clock_mono_ns() - t0;
	return 0;
}

const uint8_t *vm_snapshot_image_base(void *image, uint64_t pfn)
{
	return (const uint8_t *)image + pfn * RRVM_PAGE_SIZE;
}

int vm_snapshot_encode_pages(const struct vm_snapshot *s, size_t first,
			     size_t n, vm_snapshot_base_fn base_fn,
			     void *base_ctx, enum ckpt_compression mode,
			     struct ckpt_buf *out,
			     struct ckpt_encode_stats *stats)
{
	struct ckpt_page_ref refs[CKPT_MAX_PAGES_PER_MSG];

	if (n > CKPT_MAX_PAGES_PER_MSG || first + n > s->npages)
		return -EINVAL;
	for (size_t k = 0; k < n; k++) {
		refs[k].pfn = s->pfns[first + k];
		refs[k].data = s->pages + (first + k) * (size_t)RRVM_PAGE_SIZE;
		refs[k].base =
		    base_fn && !s->full ? base_fn(base_ctx, refs[k].pfn) : NULL;
	}
	return ckpt_encode_pages(out, s->epoch, refs, n, mode, stats);
}

int vm_snapshot_encode_with(const struct vm_snapshot *s, uint64_t mem_size,
			    vm_snapshot_base_fn base_fn, void *base_ctx,
			    enum ckpt_compression mode,
			    const struct ckpt_buf *extra, struct ckpt_buf *out,
			    struct ckpt_encode_stats *stats)
{
	struct ckpt_begin begin = {
	    .version = CKPT_VERSION,
	    .flags = s->full ? CKPT_BEGIN_FULL : 0,
	    .mem_size = mem_size,
	    .epoch = s->epoch,
	    .guest_ns = s->device.guest_ns,
	};
	struct ckpt_end end = {0};
	uint8_t *blob = NULL;
	size_t blob_size;
	int ret;

	ret = ckpt_encode_begin(out, &begin);
	if (ret)
		goto out;
	end.message_count = 1;
	for (size_t i = 0; i < s->npages;) {
		size_t n = s->npages - i;

		if (n > CKPT_MAX_PAGES_PER_MSG)
			n = CKPT_MAX_PAGES_PER_MSG;
		ret = vm_snapshot_encode_pages(s, i, n, base_fn, base_ctx, mode,
					       out, stats);
		if (ret)
			goto out;
		end.message_count++;
		end.page_count += n;
		i += n;
	}
	blob_size = vm_state_vcpu_size();
	if (vm_state_device_size() > blob_size)
		blob_size = vm_state_device_size();
	blob = malloc(blob_size);
	if (!blob) {
		ret = -ENOMEM;
		goto out;
	}
	vm_state_encode_vcpu(&s->vcpu, blob);
	ret = ckpt_encode_blob(out, CKPT_MSG_VCPU, s->epoch, blob,
			       vm_state_vcpu_size());
	if (ret)
		goto out;
	vm_state_encode_device(&s->device, blob);
	ret = ckpt_encode_blob(out, CKPT_MSG_DEVICE, s->epoch, blob,
			       vm_state_device_size());
	if (ret)
		goto out;
	/* Protocol messages (types >= 64) ride inside the epoch, before END,
	 * so they commit or vanish with it; END does not count them. */
	if (extra && extra->len) {
		ret = ckpt_buf_append(out, extra->data, extra->len);
		if (ret)
			goto out;
	}
	end.message_count += 3; /* VCPU, DEVICE, END */
	ret = ckpt_encode_end(out, s->epoch, &end);
out:
	free(blob);
	return ret;
}

int vm_snapshot_encode(const struct vm_snapshot *s, uint64_t mem_size,
		       vm_snapshot_base_fn base_fn, void *base_ctx,
		       enum ckpt_compression mode, struct ckpt_buf *out,
		       struct ckpt_encode_stats *stats)
{
	return vm_snapshot_encode_with(s, mem_size, base_fn, base_ctx, mode,
				       NULL, out, stats);
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The temporary is made by mkstemp in the target's own directory (same file
 * system, so rename is atomic; an unpredictable name that cannot be a
 * pre-planted symlink, since mkstemp uses O_EXCL), then renamed over the
 * target: rename replaces a symlink at the target path instead of writing
 * through it.
 */
int vm_snapshot_write_file(const struct vm_snapshot *snap, uint64_t mem_size,
			   const char *path, struct ckpt_encode_stats *stats)
{
	struct ckpt_buf buf;
	char tmp[4096];
	int fd = -1, ret;

	ckpt_buf_init(&buf);
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	ret = vm_snapshot_encode(snap, mem_size, NULL, NULL, CKPT_COMPRESS_AUTO,
				 &buf, stats);
	if (!ret) {
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0)
			ret = -errno;
	}
	if (ret) {
		tmp[0] = '\0'; /* nothing of ours to remove */
		goto out;
	}
	ret = write_all(fd, buf.data, buf.len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	fd = -1;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
out:
	if (ret && fd >= 0)
		close(fd);
	if (ret && tmp[0])
		unlink(tmp);
	ckpt_buf_free(&buf);
	return ret;
}
