/* SPDX-License-Identifier: MIT */
/* Builds and checks the boot-info page the guest reads at entry. */
#ifndef RRVM_VMM_BOOT_INFO_H
#define RRVM_VMM_BOOT_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "rrvm/boot_info.h"
#include "vmm/elf_loader.h"

#define BOOT_STACK_SIZE (1ull << 20)
#define BOOT_MIN_MEM (8ull << 20)
#define BOOT_MAX_MEM (4ull << 30) /* the page tables map up to 4 GiB */

/*
 * Fill `bi` for a guest of mem_size bytes whose image occupies img, with the
 * given command line and MAC. Rings go at RRVM_GPA_VNIC. 0 or -errno with a
 * reason in err.
 */
int boot_info_build(struct rrvm_boot_info *bi, uint64_t mem_size,
		    const struct elf_image *img, const char *cmdline,
		    const uint8_t mac[6], char *err, size_t err_size);

/* Check a boot-info page (as the guest would): 0 or -EINVAL with a reason. */
int boot_info_validate(const struct rrvm_boot_info *bi, char *err,
		       size_t err_size);

/* The region of a type (first match) or NULL. */
const struct rrvm_mem_region *boot_info_region(const struct rrvm_boot_info *bi,
					       uint32_t type);

/*
 * The value of `key=value` on a guest command line, copied into buf; NULL
 * (and buf = "") if absent. Later words win, as in the guest.
 */
const char *boot_info_cmdline_value(const char *cmdline, const char *key,
				    char *buf, size_t size);

#endif
