/* SPDX-License-Identifier: MIT */
/* Dispatch of guest hypercalls (port-I/O exits); ABI in rrvm/hypercall.h. */
#ifndef RRVM_VMM_HYPERCALL_H
#define RRVM_VMM_HYPERCALL_H

#include <stdint.h>

struct vm;

enum hypercall_result {
	HC_CONTINUE = 0, /* resume the guest */
	HC_GUEST_EXIT, /* guest asked to exit; vm->exit_status is set */
	HC_GUEST_PANIC, /* guest reported a fatal error */
	HC_BAD_CALL, /* malformed call: treated as a guest fault */
};

enum hypercall_result hypercall_dispatch(struct vm *vm, uint16_t port,
					 uint32_t arg);

/* Print any console text still buffered (no newline yet). */
void hypercall_console_flush(struct vm *vm);

#endif
