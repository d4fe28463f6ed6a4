/* SPDX-License-Identifier: MIT */
/*
 * Boot-info page and guest physical memory layout (docs/hypercall-abi.md).
 *
 * The monitor fills this page before the first instruction; the guest reads it
 * (and re-reads the clock parameters, which the monitor may rewrite whenever
 * the guest is stopped, e.g. after a restore on another host).
 * Freestanding: shared by guest/ and vmm/.
 */
#ifndef RRVM_BOOT_INFO_H
#define RRVM_BOOT_INFO_H

#include <stdint.h>

/*
 * The guest page: the unit of the page tables the monitor builds, of KVM's
 * dirty log and of every checkpoint. Unsigned long long so that products
 * with page numbers never wrap at 32 bits.
 */
#define RRVM_PAGE_SHIFT 12
#define RRVM_PAGE_SIZE	(1ull << RRVM_PAGE_SHIFT)

/*
 * Fixed guest-physical layout. Virtual == physical (identity map).
 * Page 0 is never mapped so NULL dereferences fault.
 */
#define RRVM_GPA_GDT 0x1000ull /* GDT, IDT and fault stubs (supervisor) */
#define RRVM_GPA_TSS 0x3000ull /* TSS + I/O bitmap, 3 pages (supervisor) */
#define RRVM_GPA_FAULT_STACK 0x7000ull /* one page, CPL0 stack for faults */
#define RRVM_GPA_BOOT_INFO 0x8000ull /* this page, user read/write */
#define RRVM_GPA_PAGE_TABLES 0x10000ull /* 16 pages (supervisor) */
#define RRVM_GPA_VNIC 0x100000ull /* RX ring then TX ring (user) */
#define RRVM_GPA_IMAGE_MIN 0x400000ull /* lowest address an ELF may load at */

#define RRVM_BOOT_MAGIC 0x7272766dU /* "rrvm" */
#define RRVM_BOOT_VERSION 1
#define RRVM_CMDLINE_MAX 1024
#define RRVM_MEMMAP_MAX 8

/*
 * pvclock-style: guest ns = ns_base + ((rdtsc - tsc_base) * mul) >> shift.
 * `sequence` is odd while the monitor rewrites the block (the guest retries).
 */
struct rrvm_clock {
	volatile uint32_t sequence;
	uint32_t shift;
	uint64_t mul;
	uint64_t tsc_base;
	uint64_t ns_base;
};

enum rrvm_mem_type {
	RRVM_MEM_FREE = 1, /* guest may use (heap) */
	RRVM_MEM_MONITOR = 2, /* GDT, TSS, page tables, boot info */
	RRVM_MEM_VNIC = 3, /* network rings */
	RRVM_MEM_IMAGE = 4, /* the loaded ELF */
	RRVM_MEM_STACK = 5, /* initial stack */
};

struct rrvm_mem_region {
	uint64_t start;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

struct rrvm_boot_info {
	uint32_t magic;
	uint32_t version;
	uint64_t mem_size;
	uint32_t memmap_count;
	uint32_t reserved0;
	struct rrvm_mem_region memmap[RRVM_MEMMAP_MAX];
	uint64_t rx_ring_gpa;
	uint64_t tx_ring_gpa;
	uint64_t ring_bytes; /* size of each ring area */
	uint8_t mac[6]; /* also on the command line; here for convenience */
	uint16_t reserved1;
	uint32_t reserved2;
	struct rrvm_clock clock;
	char cmdline[RRVM_CMDLINE_MAX]; /* NUL-terminated, key=value words */
};

#endif
