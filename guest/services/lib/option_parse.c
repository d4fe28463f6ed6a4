// SPDX-License-Identifier: MIT
/*
 * Command-line option parsing shared by every guest image.
 *
 * The guest libc's strtoul family is not relied upon here: its errno and
 * overflow behaviour differ between the guest and glibc, and the unit tests
 * run this code against glibc. A dozen lines of our own give the same answer
 * on both sides.
 */
#include "lib/option_parse.h"
#include "service.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>

int option_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL; /* overflow */
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int option_get_u64(const char *key, uint64_t def, uint64_t min, uint64_t max,
		   uint64_t *out)
{
	const char *s = svc_option(key);
	uint64_t v;

	if (!s) {
		*out = def;
		return 0;
	}
	if (option_parse_u64(s, &v) < 0 || v < min || v > max) {
		svc_log("option %s=%s: expected an integer in [%" PRIu64
			", %" PRIu64 "]",
			key, s, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int option_get_port(uint16_t def, uint16_t *out)
{
	uint64_t v;
	int ret;

	ret = option_get_u64("port", def, 1, 65535, &v);
	if (ret < 0)
		return ret;
	*out = (uint16_t)v;
	return 0;
}
