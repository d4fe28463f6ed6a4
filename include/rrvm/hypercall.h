/* SPDX-License-Identifier: MIT */
/*
 * The guest -> monitor hypercall ABI (see docs/hypercall-abi.md).
 *
 * The guest runs at CPL3 and issues `outl %eax, %dx` with DX = RRVM_HC_PORT +
 * the call number and EAX = the call's argument: a 32-bit value or the guest
 * physical address of an argument block. Results are written back into the
 * argument block by the monitor. Shared by guest/ and vmm/: keep it
 * freestanding (no libc).
 */
#ifndef RRVM_HYPERCALL_H
#define RRVM_HYPERCALL_H

#include <stdint.h>

#define RRVM_HC_PORT 0x0500
#define RRVM_HC_COUNT 8 /* ports RRVM_HC_PORT .. +7 are open in the I/O bitmap */

enum rrvm_hypercall {
	RRVM_HC_EXIT = 0, /* EAX = exit status; never returns */
	RRVM_HC_CONSOLE = 1, /* EAX = gpa of struct rrvm_hc_console */
	RRVM_HC_WAIT = 2, /* EAX = gpa of struct rrvm_hc_wait */
	RRVM_HC_PANIC = 3, /* EAX = gpa of struct rrvm_hc_console (the message) */
};

struct rrvm_hc_console {
	uint64_t buf_gpa;
	uint32_t len;
	uint32_t reserved;
};

/*
 * One wait call = flush TX ring, fill RX ring, and block only if nothing is
 * pending until the deadline (guest clock, ns; 0 = never block).
 */
struct rrvm_hc_wait {
	uint64_t deadline_ns; /* in */
	uint32_t rx_delivered; /* out: frames put in the RX ring by this call */
	uint32_t tx_sent; /* out: frames taken from the TX ring by this call */
};

#endif
