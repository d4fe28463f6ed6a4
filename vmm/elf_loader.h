/* SPDX-License-Identifier: MIT */
/* Static ELF64 loader for guest images: validate everything, then copy. */
#ifndef RRVM_ELF_LOADER_H
#define RRVM_ELF_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct elf_image {
	uint64_t entry;
	uint64_t start; /* lowest loaded address */
	uint64_t end; /* one past the highest loaded byte (incl. bss) */
};

/*
 * Load a static x86-64 ELF executable from `file` into guest memory `mem`
 * (guest physical 0 .. mem_size). Every PT_LOAD segment must lie within
 * [min_addr, max_addr) and segments may not overlap. Nothing is written to
 * `mem` unless the whole file validates. Returns 0 or -errno with a one-line
 * reason in `err`.
 */
int elf_load(const uint8_t *file, size_t file_size, uint8_t *mem,
	     uint64_t mem_size, uint64_t min_addr, uint64_t max_addr,
	     struct elf_image *out, char *err, size_t err_size);

/* Read a whole file into a malloc'd buffer. 0 or -errno. */
int elf_read_file(const char *path, uint8_t **data, size_t *size);

#endif
