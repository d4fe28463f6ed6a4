/* SPDX-License-Identifier: MIT */
/*
 * The one strict parser of unsigned decimal numbers: digits only (no sign,
 * no spaces, no suffix), no silent wrap-around, a range check. Command-line
 * options and control-socket arguments all go through it, so "4294967297"
 * is an error instead of becoming 1.
 */
#ifndef RRVM_NUMBER_H
#define RRVM_NUMBER_H

#include <stdint.h>

/* 0, -EINVAL (not a decimal number) or -ERANGE (outside min..max). */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* The same for an unsigned int destination (max must fit). */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);

#endif
