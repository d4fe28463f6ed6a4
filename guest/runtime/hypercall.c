/* SPDX-License-Identifier: MIT */
/*
 * Hypercall wrappers: `outl %eax, %dx` to the monitor's port range with a
 * pointer to an argument block (docs/hypercall-abi.md). Each one is a VM exit
 * (~30-40 us on this host), so callers batch: one wait per loop iteration,
 * console output only at boot and on errors.
 */
#include <stdarg.h>
#include <stdio.h>

#include "rrvm/hypercall.h"
#include "runtime.h"

static inline void hypercall(unsigned nr, uint32_t arg)
{
	__asm__ __volatile__("outl %0, %w1"
			     :
			     : "a"(arg), "Nd"((uint16_t)(RRVM_HC_PORT + nr))
			     : "memory");
}

/* The guest is identity-mapped below 4 GiB, so pointers fit the 32-bit arg. */
static inline uint32_t gpa32(const void *p)
{
	return (uint32_t)(uintptr_t)p;
}

void guest_exit(int status)
{
	for (;;)
		hypercall(RRVM_HC_EXIT, (uint32_t)status);
}

void guest_console_write(const char *buf, size_t len)
{
	struct rrvm_hc_console c = { .buf_gpa = (uintptr_t)buf,
				     .len = (uint32_t)len };

	hypercall(RRVM_HC_CONSOLE, gpa32(&c));
}

void guest_panic(const char *fmt, ...)
{
	char msg[256];
	struct rrvm_hc_console c;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n >= (int)sizeof(msg))
		n = sizeof(msg) - 1;
	c.buf_gpa = (uintptr_t)msg;
	c.len = (uint32_t)n;
	c.reserved = 0;
	for (;;)
		hypercall(RRVM_HC_PANIC, gpa32(&c));
}

uint32_t guest_wait(uint64_t deadline_ns)
{
	struct rrvm_hc_wait w = { .deadline_ns = deadline_ns };

	hypercall(RRVM_HC_WAIT, gpa32(&w));
	return w.rx_delivered;
}
