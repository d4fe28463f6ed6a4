/* SPDX-License-Identifier: MIT */
#include "cli/cli_parse.h"
#include "common/number.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int parse_ipv4_prefix(const char *s, uint32_t *addr_be, int *prefix,
		      int allow_no_prefix, char *err, size_t err_size)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	size_t addr_len = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr in;
	char *end;
	long n = 32;

	if (addr_len == 0 || addr_len >= sizeof(buf))
		return parse_fail(err, err_size,
				  "'%s' is not an IPv4 address (A.B.C.D%s)", s,
				  allow_no_prefix ? "" : "/N");
	memcpy(buf, s, addr_len);
	buf[addr_len] = '\0';
	if (inet_pton(AF_INET, buf, &in) != 1)
		return parse_fail(err, err_size,
				  "'%s' is not an IPv4 address (A.B.C.D%s)", s,
				  allow_no_prefix ? "" : "/N");
	if (slash) {
		errno = 0;
		n = strtol(slash + 1, &end, 10);
		if (errno || *end || end == slash + 1 || n < 1 || n > 32)
			return parse_fail(err, err_size,
					  "'%s': prefix length must be 1..32",
					  s);
	} else if (!allow_no_prefix) {
		return parse_fail(err, err_size,
				  "'%s' needs a prefix length (e.g. %s/24)", s,
				  s);
	}
	*addr_be = in.s_addr;
	if (prefix)
		*prefix = (int)n;
	return 0;
}

int parse_mac(const char *s, uint8_t mac[6], char *err, size_t err_size)
{
	unsigned v[6];
	int consumed = 0;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &consumed) != 6 ||
	    consumed != 17)
		return parse_fail(err, err_size,
				  "'%s' is not a MAC address "
				  "(xx:xx:xx:xx:xx:xx, hex)",
				  s);
	for (int i = 0; i < 17; i++)
		if ((i % 3 == 2) ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return parse_fail(err, err_size,
					  "'%s' is not a MAC address "
					  "(xx:xx:xx:xx:xx:xx, hex)",
					  s);
	if (v[0] & 1)
		return parse_fail(
		    err, err_size,
		    "'%s' is a multicast MAC; the first byte must "
		    "be even (e.g. 52:54:00:...)",
		    s);
	if ((v[0] | v[1] | v[2] | v[3] | v[4] | v[5]) == 0)
		return parse_fail(err, err_size, "'%s' is the all-zero MAC", s);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

int parse_byte_size(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long n;
	uint64_t mult = 1;

	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	n = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K':
			mult = 1ull << 10;
			break;
		case 'M':
			mult = 1ull << 20;
			break;
		case 'G':
			mult = 1ull << 30;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (n > UINT64_MAX / mult)
		return -EINVAL;
	*bytes = n * mult;
	return 0;
}

int parse_mem_size(const char *s, uint64_t *bytes, char *err, size_t err_size)
{
	uint64_t n;

	if (parse_byte_size(s, &n))
		return parse_fail(err, err_size,
				  "'%s' is not a size (e.g. 64M, 1G, 67108864)",
				  s);
	if (n % (2ull << 20))
		return parse_fail(err, err_size,
				  "memory size '%s' must be a multiple of 2 MiB",
				  s);
	*bytes = n;
	return 0;
}

int parse_number_option(const char *option, const char *s, uint64_t min,
			uint64_t max, const char *unit, uint64_t *out, char *err,
			size_t err_size)
{
	int ret = parse_u64(s, min, max, out);

	if (ret == -EINVAL)
		return parse_fail(err, err_size,
				  "%s '%s': not a number (%s, %llu..%llu)",
				  option, s, unit, (unsigned long long)min,
				  (unsigned long long)max);
	if (ret)
		return parse_fail(err, err_size,
				  "%s '%s': out of range (%s, %llu..%llu)",
				  option, s, unit, (unsigned long long)min,
				  (unsigned long long)max);
	return 0;
}

int parse_uint_option(const char *option, const char *s, unsigned min,
		      unsigned max, const char *unit, unsigned *out, char *err,
		      size_t err_size)
{
	uint64_t v;
	int ret = parse_number_option(option, s, min, max, unit, &v, err,
				      err_size);

	if (!ret)
		*out = (unsigned)v;
	return ret;
}

int check_guest_option(const char *s, char *err, size_t err_size)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s)
		return parse_fail(err, err_size,
				  "guest option '%s' must be key=value", s);
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p) || !isprint((unsigned char)*p))
			return parse_fail(err, err_size,
					  "guest option '%s' contains "
					  "whitespace or control characters",
					  s);
	return 0;
}
