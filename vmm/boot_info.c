/* SPDX-License-Identifier: MIT */
#include "vmm/boot_info.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rrvm/vnic_ring.h"

#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((a)-1))

static int boot_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static void add_region(struct rrvm_boot_info *bi, uint64_t start, uint64_t end,
		       uint32_t type)
{
	struct rrvm_mem_region *r = &bi->memmap[bi->memmap_count++];

	r->start = start;
	r->size = end - start;
	r->type = type;
	r->reserved = 0;
}

int boot_info_build(struct rrvm_boot_info *bi, uint64_t mem_size,
		    const struct elf_image *img, const char *cmdline,
		    const uint8_t mac[6], char *err, size_t err_size)
{
	uint64_t ring_bytes = RRVM_VNIC_RING_BYTES;
	uint64_t vnic_end = RRVM_GPA_VNIC + 2 * ring_bytes;
	uint64_t image_end = ALIGN_UP(img->end, RRVM_PAGE_SIZE);
	uint64_t stack_bottom = mem_size - BOOT_STACK_SIZE;
	size_t cmdline_len = strlen(cmdline);

	if (mem_size < BOOT_MIN_MEM || mem_size > BOOT_MAX_MEM)
		return boot_fail(err, err_size,
				 "guest memory %llu MiB outside %llu MiB..%llu "
				 "GiB",
				 (unsigned long long)(mem_size >> 20),
				 (unsigned long long)(BOOT_MIN_MEM >> 20),
				 (unsigned long long)(BOOT_MAX_MEM >> 30));
	if (vnic_end > RRVM_GPA_IMAGE_MIN || img->start < RRVM_GPA_IMAGE_MIN)
		return boot_fail(err, err_size,
				 "guest image at 0x%llx overlaps the monitor "
				 "area (images load at 0x%llx or above)",
				 (unsigned long long)img->start,
				 (unsigned long long)RRVM_GPA_IMAGE_MIN);
	if (image_end + RRVM_PAGE_SIZE > stack_bottom)
		return boot_fail(err, err_size,
				 "guest image (ends at 0x%llx) leaves no room "
				 "for heap and stack in %llu MiB",
				 (unsigned long long)img->end,
				 (unsigned long long)(mem_size >> 20));
	if (cmdline_len >= RRVM_CMDLINE_MAX)
		return boot_fail(err, err_size,
				 "guest command line is %zu bytes; the limit "
				 "is %d",
				 cmdline_len, RRVM_CMDLINE_MAX - 1);

	memset(bi, 0, sizeof(*bi));
	bi->magic = RRVM_BOOT_MAGIC;
	bi->version = RRVM_BOOT_VERSION;
	bi->mem_size = mem_size;
	add_region(bi, RRVM_GPA_GDT, RRVM_GPA_VNIC, RRVM_MEM_MONITOR);
	add_region(bi, RRVM_GPA_VNIC, vnic_end, RRVM_MEM_VNIC);
	add_region(bi, img->start, image_end, RRVM_MEM_IMAGE);
	add_region(bi, image_end, stack_bottom, RRVM_MEM_FREE);
	add_region(bi, stack_bottom, mem_size, RRVM_MEM_STACK);
	bi->rx_ring_gpa = RRVM_GPA_VNIC;
	bi->tx_ring_gpa = RRVM_GPA_VNIC + ring_bytes;
	bi->ring_bytes = ring_bytes;
	memcpy(bi->mac, mac, 6);
	memcpy(bi->cmdline, cmdline, cmdline_len + 1);
	return 0;
}

int boot_info_validate(const struct rrvm_boot_info *bi, char *err,
		       size_t err_size)
{
	uint64_t prev_end = 0;

	if (bi->magic != RRVM_BOOT_MAGIC)
		return boot_fail(err, err_size, "bad magic 0x%08x", bi->magic);
	if (bi->version != RRVM_BOOT_VERSION)
		return boot_fail(err, err_size, "unsupported version %u",
				 bi->version);
	if (bi->memmap_count == 0 || bi->memmap_count > RRVM_MEMMAP_MAX)
		return boot_fail(err, err_size, "bad memory map count %u",
				 bi->memmap_count);
	for (uint32_t i = 0; i < bi->memmap_count; i++) {
		const struct rrvm_mem_region *r = &bi->memmap[i];

		if (r->start < prev_end || r->start + r->size < r->start ||
		    r->start + r->size > bi->mem_size)
			return boot_fail(err, err_size,
					 "memory region %u (0x%llx+0x%llx) "
					 "overlaps or exceeds memory",
					 i, (unsigned long long)r->start,
					 (unsigned long long)r->size);
		prev_end = r->start + r->size;
	}
	if (memchr(bi->cmdline, '\0', sizeof(bi->cmdline)) == NULL)
		return boot_fail(err, err_size,
				 "command line is not NUL-terminated");
	if (bi->rx_ring_gpa + bi->ring_bytes > bi->tx_ring_gpa &&
	    bi->tx_ring_gpa + bi->ring_bytes > bi->rx_ring_gpa)
		return boot_fail(err, err_size, "RX and TX rings overlap");
	return 0;
}

const struct rrvm_mem_region *boot_info_region(const struct rrvm_boot_info *bi,
					       uint32_t type)
{
	for (uint32_t i = 0; i < bi->memmap_count && i < RRVM_MEMMAP_MAX; i++)
		if (bi->memmap[i].type == type)
			return &bi->memmap[i];
	return NULL;
}

const char *boot_info_cmdline_value(const char *cmdline, const char *key,
				    char *buf, size_t size)
{
	size_t klen = strlen(key);
	const char *found = NULL;

	buf[0] = '\0';
	for (const char *p = cmdline; p && *p;) {
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > klen && strncmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			snprintf(buf, size, "%.*s", (int)(len - klen - 1),
				 p + klen + 1);
			found = buf;
		}
		p = end ? end + 1 : NULL;
	}
	return found;
}
