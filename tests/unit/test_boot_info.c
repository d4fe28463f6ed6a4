/* SPDX-License-Identifier: MIT */
/* Boot-info encoding: layout, memory map, command line, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "rrvm/vnic_ring.h"
#include "vmm/boot_info.h"

static const uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
static char err[256];

static struct elf_image image(void)
{
	struct elf_image img = { .entry = 0x400000, .start = 0x400000,
				 .end = 0x4a1234 };
	return img;
}

static void test_layout(void **state)
{
	struct rrvm_boot_info bi;
	struct elf_image img = image();
	const struct rrvm_mem_region *free_r, *stack, *im, *vnic;

	(void)state;
	assert_int_equal(boot_info_build(&bi, 64ull << 20, &img,
					 "ip=10.0.0.2/24 service=kv", mac, err,
					 sizeof(err)),
			 0);
	assert_int_equal(boot_info_validate(&bi, err, sizeof(err)), 0);
	assert_int_equal(bi.magic, RRVM_BOOT_MAGIC);
	assert_int_equal(bi.version, RRVM_BOOT_VERSION);
	assert_int_equal(bi.mem_size, 64ull << 20);
	assert_string_equal(bi.cmdline, "ip=10.0.0.2/24 service=kv");
	assert_memory_equal(bi.mac, mac, 6);

	im = boot_info_region(&bi, RRVM_MEM_IMAGE);
	free_r = boot_info_region(&bi, RRVM_MEM_FREE);
	stack = boot_info_region(&bi, RRVM_MEM_STACK);
	vnic = boot_info_region(&bi, RRVM_MEM_VNIC);
	assert_non_null(im);
	assert_non_null(free_r);
	assert_non_null(stack);
	assert_non_null(vnic);
	/* The image region is page-rounded; the heap starts right after. */
	assert_int_equal(im->start, 0x400000);
	assert_int_equal(im->start + im->size, 0x4a2000);
	assert_int_equal(free_r->start, 0x4a2000);
	assert_int_equal(free_r->start + free_r->size, stack->start);
	assert_int_equal(stack->start + stack->size, 64ull << 20);
	assert_int_equal(stack->size, BOOT_STACK_SIZE);
	/* Both rings inside the vNIC region, not overlapping. */
	assert_int_equal(bi.rx_ring_gpa, vnic->start);
	assert_int_equal(bi.tx_ring_gpa, bi.rx_ring_gpa + bi.ring_bytes);
	assert_true(bi.tx_ring_gpa + bi.ring_bytes <= vnic->start + vnic->size);
	assert_int_equal(bi.ring_bytes, RRVM_VNIC_RING_BYTES);
	/* Regions are sorted and disjoint. */
	for (uint32_t i = 1; i < bi.memmap_count; i++)
		assert_true(bi.memmap[i].start >=
			    bi.memmap[i - 1].start + bi.memmap[i - 1].size);
}

static void test_rejects_bad_inputs(void **state)
{
	struct rrvm_boot_info bi;
	struct elf_image img = image();
	char long_cmdline[RRVM_CMDLINE_MAX + 10];

	(void)state;
	assert_int_equal(boot_info_build(&bi, 4ull << 20, &img, "", mac, err,
					 sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "memory"));
	memset(long_cmdline, 'a', sizeof(long_cmdline) - 1);
	long_cmdline[sizeof(long_cmdline) - 1] = '\0';
	assert_int_equal(boot_info_build(&bi, 64ull << 20, &img, long_cmdline,
					 mac, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "command line"));
	/* Exactly the limit minus the NUL is fine. */
	long_cmdline[RRVM_CMDLINE_MAX - 1] = '\0';
	assert_int_equal(boot_info_build(&bi, 64ull << 20, &img, long_cmdline,
					 mac, err, sizeof(err)),
			 0);
	img.start = 0x200000; /* over the rings */
	assert_int_equal(boot_info_build(&bi, 64ull << 20, &img, "", mac, err,
					 sizeof(err)),
			 -EINVAL);
	img = image();
	img.end = (63ull << 20) + 100; /* into the stack */
	assert_int_equal(boot_info_build(&bi, 64ull << 20, &img, "", mac, err,
					 sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "no room"));
}

static void test_validate_catches_corruption(void **state)
{
	struct rrvm_boot_info bi, bad;
	struct elf_image img = image();

	(void)state;
	assert_int_equal(boot_info_build(&bi, 64ull << 20, &img, "x=1", mac,
					 err, sizeof(err)),
			 0);
	bad = bi;
	bad.magic ^= 1;
	assert_int_equal(boot_info_validate(&bad, err, sizeof(err)), -EINVAL);
	bad = bi;
	bad.version = 99;
	assert_int_equal(boot_info_validate(&bad, err, sizeof(err)), -EINVAL);
	bad = bi;
	bad.memmap_count = RRVM_MEMMAP_MAX + 1;
	assert_int_equal(boot_info_validate(&bad, err, sizeof(err)), -EINVAL);
	bad = bi;
	bad.memmap[1].start = bad.memmap[0].start; /* overlap */
	assert_int_equal(boot_info_validate(&bad, err, sizeof(err)), -EINVAL);
	bad = bi;
	bad.memmap[bad.memmap_count - 1].size += 4096; /* past RAM */
	assert_int_equal(boot_info_validate(&bad, err, sizeof(err)), -EINVAL);
	bad = bi;
	memset(bad.cmdline, 'x', sizeof(bad.cmdline)); /* no NUL */
	assert_int_equal(boot_info_validate(&bad, err, sizeof(err)), -EINVAL);
	bad = bi;
	bad.tx_ring_gpa = bad.rx_ring_gpa + 100;
	assert_int_equal(boot_info_validate(&bad, err, sizeof(err)), -EINVAL);
}

/* The struct is an ABI between two separately built programs. */
static void test_abi_layout_is_stable(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct rrvm_boot_info, memmap), 24);
	assert_int_equal(sizeof(struct rrvm_mem_region), 24);
	assert_int_equal(offsetof(struct rrvm_boot_info, clock) % 8, 0);
	assert_true(sizeof(struct rrvm_boot_info) <= 4096);
	assert_int_equal(sizeof(struct rrvm_clock), 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_rejects_bad_inputs),
		cmocka_unit_test(test_validate_catches_corruption),
		cmocka_unit_test(test_abi_layout_is_stable),
	};

	return cmocka_run_group_tests_name("boot_info", tests, NULL, NULL);
}
