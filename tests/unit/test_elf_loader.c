/* SPDX-License-Identifier: MIT */
/* The guest ELF loader: accepts our images, rejects everything malformed. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "rrvm/boot_info.h"
#include "vmm/elf_loader.h"

#define MEM_SIZE (16u << 20)
#define LOAD_ADDR 0x400000u

struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	uint8_t code[64];
	uint8_t data[64];
};

static uint8_t *mem;
static char err[256];

static int setup(void **state)
{
	(void)state;
	/* mmap, not calloc: the corruption test makes it read-only. */
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return mem == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(mem, MEM_SIZE);
	return 0;
}

/* A minimal valid static image: text segment + data/bss segment. */
static void make_image(struct image *im)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
	im->eh.e_ident[EI_CLASS] = ELFCLASS64;
	im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->eh.e_type = ET_EXEC;
	im->eh.e_machine = EM_X86_64;
	im->eh.e_version = EV_CURRENT;
	im->eh.e_entry = LOAD_ADDR;
	im->eh.e_phoff = offsetof(struct image, ph);
	im->eh.e_ehsize = sizeof(Elf64_Ehdr);
	im->eh.e_phentsize = sizeof(Elf64_Phdr);
	im->eh.e_phnum = 2;
	im->ph[0].p_type = PT_LOAD;
	im->ph[0].p_flags = PF_R | PF_X;
	im->ph[0].p_offset = offsetof(struct image, code);
	im->ph[0].p_vaddr = im->ph[0].p_paddr = LOAD_ADDR;
	im->ph[0].p_filesz = im->ph[0].p_memsz = sizeof(im->code);
	im->ph[1].p_type = PT_LOAD;
	im->ph[1].p_flags = PF_R | PF_W;
	im->ph[1].p_offset = offsetof(struct image, data);
	im->ph[1].p_vaddr = im->ph[1].p_paddr = LOAD_ADDR + 0x1000;
	im->ph[1].p_filesz = sizeof(im->data);
	im->ph[1].p_memsz = 0x2000; /* bss after the data */
	memset(im->code, 0xcc, sizeof(im->code));
	memset(im->data, 0xab, sizeof(im->data));
}

static int load(const void *file, size_t size, struct elf_image *out)
{
	return elf_load(file, size, mem, MEM_SIZE, RRVM_GPA_IMAGE_MIN,
			MEM_SIZE - (1u << 20), out, err, sizeof(err));
}

static void test_accepts_valid_image(void **state)
{
	struct image im;
	struct elf_image out;

	(void)state;
	make_image(&im);
	memset(mem + LOAD_ADDR + 0x1000, 0x55, 0x2000); /* bss must be zeroed */
	assert_int_equal(load(&im, sizeof(im), &out), 0);
	assert_int_equal(out.entry, LOAD_ADDR);
	assert_int_equal(out.start, LOAD_ADDR);
	assert_int_equal(out.end, LOAD_ADDR + 0x1000 + 0x2000);
	assert_int_equal(mem[LOAD_ADDR], 0xcc);
	assert_int_equal(mem[LOAD_ADDR + 0x1000], 0xab);
	assert_int_equal(mem[LOAD_ADDR + 0x1000 + 64], 0);
	assert_int_equal(mem[LOAD_ADDR + 0x2fff], 0);
}

/* Our own guest images, if built, must load. */
static void test_accepts_built_guest(void **state)
{
	const char *paths[] = { "build/guest/kv.elf", "build/guest/http.elf",
				"build/guest/echo.elf" };
	int loaded = 0;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct elf_image out;
		uint8_t *file;
		size_t size;

		if (elf_read_file(paths[i], &file, &size))
			continue;
		assert_int_equal(load(file, size, &out), 0);
		assert_true(out.entry >= out.start && out.entry < out.end);
		assert_true(out.start >= RRVM_GPA_IMAGE_MIN);
		free(file);
		loaded++;
	}
	if (!loaded)
		skip();
}

static void expect_reject(const struct image *im, size_t size,
			  const char *reason)
{
	struct elf_image out;

	memset(mem + LOAD_ADDR, 0x11, 16);
	assert_int_equal(load(im, size, &out), -ENOEXEC);
	if (!strstr(err, reason))
		fail_msg("error '%s' does not mention '%s'", err, reason);
	/* Nothing written on rejection. */
	assert_int_equal(mem[LOAD_ADDR], 0x11);
}

static void test_rejects_truncated(void **state)
{
	struct image im;

	(void)state;
	make_image(&im);
	expect_reject(&im, 10, "truncated");
	expect_reject(&im, sizeof(Elf64_Ehdr) + 10, "truncated");
	/* Header and program headers fine, segment data cut off. */
	expect_reject(&im, offsetof(struct image, code) + 5, "truncated");
}

static void test_rejects_foreign(void **state)
{
	struct image im;

	(void)state;
	make_image(&im);
	im.eh.e_ident[0] = 0x7e;
	expect_reject(&im, sizeof(im), "not an ELF");
	make_image(&im);
	im.eh.e_ident[EI_CLASS] = ELFCLASS32;
	expect_reject(&im, sizeof(im), "64-bit");
	make_image(&im);
	im.eh.e_machine = EM_AARCH64;
	expect_reject(&im, sizeof(im), "x86-64");
	make_image(&im);
	im.eh.e_type = ET_DYN;
	expect_reject(&im, sizeof(im), "static");
	make_image(&im);
	im.ph[1].p_type = PT_INTERP;
	expect_reject(&im, sizeof(im), "dynamically linked");
	make_image(&im);
	im.eh.e_ident[EI_DATA] = ELFDATA2MSB;
	expect_reject(&im, sizeof(im), "little-endian");
}

static void test_rejects_overlapping(void **state)
{
	struct image im;

	(void)state;
	make_image(&im);
	im.ph[1].p_vaddr = im.ph[1].p_paddr = LOAD_ADDR + 32;
	expect_reject(&im, sizeof(im), "overlap");
}

static void test_rejects_out_of_range(void **state)
{
	struct image im;

	(void)state;
	make_image(&im);
	/* Over the monitor's structures below 4 MiB. */
	im.ph[0].p_vaddr = im.ph[0].p_paddr = 0x1000;
	im.eh.e_entry = 0x1000;
	expect_reject(&im, sizeof(im), "outside");
	make_image(&im);
	im.ph[1].p_memsz = (uint64_t)MEM_SIZE; /* past the end of RAM */
	expect_reject(&im, sizeof(im), "outside");
	make_image(&im);
	im.ph[1].p_memsz = UINT64_MAX - 0x100; /* address wrap */
	expect_reject(&im, sizeof(im), "outside");
	make_image(&im);
	im.ph[1].p_paddr = 0x800000;
	expect_reject(&im, sizeof(im), "identity");
}

static void test_rejects_bad_segments(void **state)
{
	struct image im;

	(void)state;
	make_image(&im);
	im.ph[1].p_filesz = im.ph[1].p_memsz + 1;
	expect_reject(&im, sizeof(im), "file size > memory size");
	make_image(&im);
	im.ph[0].p_offset = UINT64_MAX - 4; /* offset + size overflow */
	expect_reject(&im, sizeof(im), "truncated");
	make_image(&im);
	im.eh.e_entry = LOAD_ADDR + 0x1000; /* data segment, not executable */
	expect_reject(&im, sizeof(im), "entry point");
	make_image(&im);
	im.eh.e_phnum = 0;
	expect_reject(&im, sizeof(im), "program header count");
	make_image(&im);
	im.eh.e_phentsize = 32;
	expect_reject(&im, sizeof(im), "program header size");
	make_image(&im);
	im.eh.e_phoff = sizeof(im) - 8; /* table runs off the end */
	expect_reject(&im, sizeof(im), "truncated");
	make_image(&im);
	im.ph[0].p_type = PT_NOTE;
	im.ph[1].p_type = PT_NOTE;
	expect_reject(&im, sizeof(im), "no loadable segment");
}

/* A write to guest memory while it is read-only lands here. */
static sigjmp_buf write_trap;

static void on_write_fault(int sig)
{
	(void)sig;
	siglongjmp(write_trap, 1);
}

/*
 * Load with guest memory read-only: 1 if the loader tried to write it, 0 if
 * it returned without writing (its status in *rc).
 */
static int load_read_only(const void *file, size_t size, int *rc)
{
	struct elf_image out;
	volatile int wrote = 0;

	assert_int_equal(mprotect(mem, MEM_SIZE, PROT_READ), 0);
	if (sigsetjmp(write_trap, 1) == 0)
		*rc = load(file, size, &out);
	else
		wrote = 1;
	assert_int_equal(mprotect(mem, MEM_SIZE, PROT_READ | PROT_WRITE), 0);
	return wrote;
}

/*
 * Random corruption of a valid image: never crash, and never write guest
 * memory on failure. Guest memory is read-only during each load, so any
 * write faults; a load that faulted must be one that succeeds when allowed
 * to write (validation before copying), and one that returned an error must
 * not have faulted.
 */
static void test_random_corruption(void **state)
{
	struct sigaction sa = {.sa_handler = on_write_fault}, old_segv;
	struct image im;
	int rejected = 0, accepted = 0;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &sa, &old_segv), 0);
	srand(1234);
	for (int i = 0; i < 20000; i++) {
		uint8_t *bytes = (uint8_t *)&im;
		int flips = 1 + rand() % 4;
		size_t size = sizeof(im) - (size_t)(rand() % 3) * 40;
		struct elf_image out;
		int rc = 0;

		make_image(&im);
		for (int f = 0; f < flips; f++)
			bytes[rand() % offsetof(struct image, code)] ^=
				(uint8_t)(1u << (rand() % 8));
		if (load_read_only(&im, size, &rc)) {
			/* It wrote: only a valid image may be written. */
			if (load(&im, size, &out) != 0)
				fail_msg("image %d: memory written, then rejected: %s",
					 i, err);
			accepted++;
		} else if (rc != 0) {
			rejected++;
		} else {
			accepted++; /* nothing to copy (e.g. empty segments) */
		}
	}
	assert_int_equal(sigaction(SIGSEGV, &old_segv, NULL), 0);
	/* The corruption must exercise both paths, or the test proves nothing. */
	assert_true(rejected > 1000);
	assert_true(accepted > 100);
}

/* The write trap itself: a valid image does fault on read-only memory. */
static void test_write_trap_catches_writes(void **state)
{
	struct sigaction sa = {.sa_handler = on_write_fault}, old_segv;
	struct image im;
	int rc = 0;

	(void)state;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &sa, &old_segv), 0);
	make_image(&im);
	assert_int_equal(load_read_only(&im, sizeof(im), &rc), 1);
	assert_int_equal(sigaction(SIGSEGV, &old_segv, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_valid_image),
		cmocka_unit_test(test_accepts_built_guest),
		cmocka_unit_test(test_rejects_truncated),
		cmocka_unit_test(test_rejects_foreign),
		cmocka_unit_test(test_rejects_overlapping),
		cmocka_unit_test(test_rejects_out_of_range),
		cmocka_unit_test(test_rejects_bad_segments),
		cmocka_unit_test(test_write_trap_catches_writes),
		cmocka_unit_test(test_random_corruption),
	};

	return cmocka_run_group_tests_name("elf_loader", tests, setup,
					   teardown);
}
