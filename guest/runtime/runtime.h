/* SPDX-License-Identifier: MIT */
/* The guest runtime: hypercalls, clock, command line, boot. */
#ifndef GUEST_RUNTIME_H
#define GUEST_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "rrvm/boot_info.h"

extern struct rrvm_boot_info *guest_boot_info;

__attribute__((noreturn)) void guest_exit(int status);
__attribute__((noreturn)) void guest_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void guest_console_write(const char *buf, size_t len);

/*
 * Flush TX, fill RX; sleep until a frame arrives or deadline_ns (guest
 * clock; 0 = do not sleep). Returns frames delivered to RX.
 */
uint32_t guest_wait(uint64_t deadline_ns);

uint64_t guest_now_ns(void);

/* Command line: parsed once at boot into key=value pairs. */
void guest_cmdline_parse(const char *cmdline);
const char *guest_option(const char *key);

#endif
