/* SPDX-License-Identifier: MIT */
/*
 * Deliberate guest faults, for testing the monitor's fault reporting (and
 * that a faulting guest is reported, not hung). Enabled by the test-only
 * options `crash=null|ud|gp|div` and `crash_after_ms=` (default 0).
 */
#ifndef GUEST_LIB_CRASH_H
#define GUEST_LIB_CRASH_H

#include <stdint.h>

enum crash_kind {
	CRASH_NONE = 0,
	CRASH_NULL, /* write to address 0: #PF, page 0 is unmapped */
	CRASH_UD,   /* ud2: #UD */
	CRASH_GP,   /* load from a non-canonical address: #GP */
	CRASH_DIV,  /* integer divide by zero: #DE */
};

#define CRASH_MAX_AFTER_MS 1000000000ull /* about 11 days */

/* "null", "ud", "gp", "div" -> kind. 0 or -EINVAL. */
int crash_parse_kind(const char *s, enum crash_kind *out);

/* The option spelling of a kind ("none" for CRASH_NONE). */
const char *crash_kind_name(enum crash_kind kind);

/*
 * Fault `after_ms` from now, from a ticker (so the service and the network
 * are up first). 0, -EINVAL, -EBUSY (already armed) or the registration
 * error.
 */
int crash_arm(enum crash_kind kind, uint64_t after_ms);

/* Forget an armed crash (tests). */
void crash_disarm(void);

/* The guest time at which the armed crash fires; UINT64_MAX if none. */
uint64_t crash_deadline_ns(void);

/* Fault now. Returns only if the fault did not happen (then: a bug). */
void crash_now(enum crash_kind kind);

#endif
