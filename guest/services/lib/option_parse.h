/* SPDX-License-Identifier: MIT */
/*
 * Typed access to the guest command line (svc_option) for services and the
 * common features. Strict decimal only: a typo on the command line should
 * stop the guest with a clear log line, not silently become 0.
 */
#ifndef GUEST_LIB_OPTION_PARSE_H
#define GUEST_LIB_OPTION_PARSE_H

#include <stdint.h>

/* Parse an unsigned decimal ("0".."18446744073709551615"). 0 or -EINVAL. */
int option_parse_u64(const char *s, uint64_t *out);

/*
 * Option `key` as an integer in [min, max]; `def` when absent. Returns 0, or
 * -EINVAL after logging which option was wrong and why.
 */
int option_get_u64(const char *key, uint64_t def, uint64_t min, uint64_t max,
		   uint64_t *out);

/* The `port=` option (1..65535), `def` when absent. 0 or -EINVAL. */
int option_get_port(uint16_t def, uint16_t *out);

#endif
