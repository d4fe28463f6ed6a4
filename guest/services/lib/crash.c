// SPDX-License-Identifier: MIT
/*
 * Deliberate faults. Each one is inline assembly rather than C: a NULL store
 * or a division by zero in C is undefined behaviour that the compiler may
 * turn into something else (a ud2, nothing at all) and that UBSan would
 * intercept in unit tests; the monitor's tests need the exact exception.
 * The fault functions are noinline so the faulting RIP falls inside a
 * function whose name says what happened.
 */
#include "lib/crash.h"
#include "service.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

static const char *const kind_names[] = {
    [CRASH_NONE] = "none", [CRASH_NULL] = "null", [CRASH_UD] = "ud",
    [CRASH_GP] = "gp",	   [CRASH_DIV] = "div",
};

static struct {
	enum crash_kind kind;
	uint64_t after_ms;
	uint64_t deadline_ns;
} armed;

int crash_parse_kind(const char *s, enum crash_kind *out)
{
	if (!s)
		return -EINVAL;
	for (int k = CRASH_NULL; k <= CRASH_DIV; k++) {
		if (strcmp(s, kind_names[k]) == 0) {
			*out = (enum crash_kind)k;
			return 0;
		}
	}
	return -EINVAL;
}

const char *crash_kind_name(enum crash_kind kind)
{
	if ((unsigned)kind > CRASH_DIV)
		return "?";
	return kind_names[kind];
}

#if defined(__x86_64__)
__attribute__((noinline)) static void crash_null_write(void)
{
	/* A recognisable value, in case the monitor dumps registers. */
	asm volatile("movq %1, (%0)"
		     :
		     : "r"((uintptr_t)0), "r"((uint64_t)0xdead0000dead0000ull)
		     : "memory");
}

__attribute__((noinline)) static void crash_invalid_opcode(void)
{
	asm volatile("ud2" ::: "memory");
}

__attribute__((noinline)) static void crash_general_protection(void)
{
	uint64_t v;

	/* Bit 63 set, bit 47 clear: non-canonical, so #GP rather than #PF. */
	asm volatile("movq (%1), %0"
		     : "=r"(v)
		     : "r"((uintptr_t)0x8000000000000000ull)
		     : "memory");
	(void)v;
}

__attribute__((noinline)) static void crash_divide_error(void)
{
	uint64_t lo = 1, hi = 0, zero = 0;

	asm volatile("divq %2" : "+a"(lo), "+d"(hi) : "r"(zero));
}
#else
static void crash_null_write(void)
{
	__builtin_trap();
}
static void crash_invalid_opcode(void)
{
	__builtin_trap();
}
static void crash_general_protection(void)
{
	__builtin_trap();
}
static void crash_divide_error(void)
{
	__builtin_trap();
}
#endif

void crash_now(enum crash_kind kind)
{
	switch (kind) {
	case CRASH_NULL:
		crash_null_write();
		break;
	case CRASH_UD:
		crash_invalid_opcode();
		break;
	case CRASH_GP:
		crash_general_protection();
		break;
	case CRASH_DIV:
		crash_divide_error();
		break;
	case CRASH_NONE:
	default:
		break;
	}
}

static uint64_t crash_tick(uint64_t now_ns)
{
	enum crash_kind kind = armed.kind;

	if (kind == CRASH_NONE)
		return UINT64_MAX;
	if (now_ns < armed.deadline_ns)
		return armed.deadline_ns;
	/* Logged first: the line before the monitor's fault report. */
	svc_log("crash: %s fault now (crash_after_ms=%" PRIu64 ")",
		crash_kind_name(kind), armed.after_ms);
	armed.kind = CRASH_NONE;
	crash_now(kind);
	svc_log("crash: %s did not fault; carrying on", crash_kind_name(kind));
	return UINT64_MAX;
}

int crash_arm(enum crash_kind kind, uint64_t after_ms)
{
	int ret;

	if (kind <= CRASH_NONE || kind > CRASH_DIV ||
	    after_ms > CRASH_MAX_AFTER_MS)
		return -EINVAL;
	if (armed.kind != CRASH_NONE)
		return -EBUSY;
	ret = svc_register_ticker(crash_tick);
	if (ret < 0) {
		svc_log("crash: cannot register ticker: %d", ret);
		return ret;
	}
	armed.kind = kind;
	armed.after_ms = after_ms;
	armed.deadline_ns = svc_now_ns() + after_ms * 1000000ull;
	svc_log("crash: armed, %s fault in %" PRIu64 " ms",
		crash_kind_name(kind), after_ms);
	return 0;
}

void crash_disarm(void)
{
	armed.kind = CRASH_NONE;
}

uint64_t crash_deadline_ns(void)
{
	return armed.kind == CRASH_NONE ? UINT64_MAX : armed.deadline_ns;
}
