/* SPDX-License-Identifier: MIT */
/* Parsers for command-line values; each reports what was wrong. */
#ifndef RRVM_CLI_PARSE_H
#define RRVM_CLI_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* "A.B.C.D/N" (N 1..32; /N optional when allow_no_prefix). 0 or -EINVAL. */
int parse_ipv4_prefix(const char *s, uint32_t *addr_be, int *prefix,
		      int allow_no_prefix, char *err, size_t err_size);
/* "52:54:00:12:34:56"; rejects multicast and all-zero. */
int parse_mac(const char *s, uint8_t mac[6], char *err, size_t err_size);
/* "64M", "1G", "65536K", "67108864"; must be a multiple of 2 MiB. */
/* "32M", "1G", "4096": a byte count with an optional K/M/G suffix. */
int parse_byte_size(const char *s, uint64_t *bytes);
int parse_mem_size(const char *s, uint64_t *bytes, char *err, size_t err_size);
/*
 * A numeric option (common/number.h: digits only, no wrap-around) within
 * min..max; the error names the option, the value, the unit and the range.
 * 0 or -EINVAL.
 */
int parse_number_option(const char *option, const char *s, uint64_t min,
			uint64_t max, const char *unit, uint64_t *out, char *err,
			size_t err_size);
int parse_uint_option(const char *option, const char *s, unsigned min,
		      unsigned max, const char *unit, unsigned *out, char *err,
		      size_t err_size);
/* A guest option must be key=value with no whitespace. */
int check_guest_option(const char *s, char *err, size_t err_size);

#endif
