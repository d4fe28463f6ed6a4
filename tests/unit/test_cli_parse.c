/* SPDX-License-Identifier: MIT */
/* Command-line value parsers: good values parse, bad ones say why. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_parse.h"
#include "common/number.h"

static char err[256];

static void test_ipv4_prefix(void **state)
{
	uint32_t a;
	int p;

	(void)state;
	assert_int_equal(parse_ipv4_prefix("10.77.0.2/24", &a, &p, 0, err,
					   sizeof(err)),
			 0);
	assert_int_equal(a, inet_addr("10.77.0.2"));
	assert_int_equal(p, 24);
	assert_int_equal(parse_ipv4_prefix("10.0.0.1", &a, &p, 1, err,
					   sizeof(err)),
			 0);
	assert_int_equal(p, 32);
	assert_int_not_equal(parse_ipv4_prefix("10.0.0.1", &a, &p, 0, err,
					       sizeof(err)),
			     0);
	assert_non_null(strstr(err, "prefix"));
	const char *bad[] = { "", "10.0.0", "10.0.0.256/24", "10.0.0.1/33",
			      "10.0.0.1/0", "10.0.0.1/", "10.0.0.1/2x",
			      "a.b.c.d/8", "/24", "10.0.0.1/24/5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (parse_ipv4_prefix(bad[i], &a, &p, 0, err, sizeof(err)) == 0)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(strlen(err) > 0);
	}
}

static void test_mac(void **state)
{
	uint8_t m[6];
	const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xCD, 0xef };

	(void)state;
	assert_int_equal(parse_mac("52:54:00:ab:CD:ef", m, err, sizeof(err)),
			 0);
	assert_memory_equal(m, want, 6);
	const char *bad[] = { "", "52:54:00:ab:cd", "52:54:00:ab:cd:ef:00",
			      "52-54-00-ab-cd-ef", "52:54:00:ab:cd:eg",
			      "01:00:5e:00:00:01", "00:00:00:00:00:00",
			      "52:54:00:ab:cd:e", " 52:54:00:ab:cd:e" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_mac(bad[i], m, err, sizeof(err)) == 0)
			fail_msg("accepted '%s'", bad[i]);
	assert_int_not_equal(parse_mac("01:00:5e:00:00:01", m, err,
				       sizeof(err)),
			     0);
	assert_non_null(strstr(err, "multicast"));
}

static void test_mem_size(void **state)
{
	uint64_t b;

	(void)state;
	assert_int_equal(parse_mem_size("64M", &b, err, sizeof(err)), 0);
	assert_int_equal(b, 64ull << 20);
	assert_int_equal(parse_mem_size("1G", &b, err, sizeof(err)), 0);
	assert_int_equal(b, 1ull << 30);
	assert_int_equal(parse_mem_size("128MiB", &b, err, sizeof(err)), 0);
	assert_int_equal(b, 128ull << 20);
	assert_int_equal(parse_mem_size("67108864", &b, err, sizeof(err)), 0);
	assert_int_equal(b, 64ull << 20);
	assert_int_equal(parse_mem_size("65536k", &b, err, sizeof(err)), 0);
	assert_int_equal(b, 64ull << 20);
	assert_int_not_equal(parse_mem_size("3M", &b, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "2 MiB"));
	const char *bad[] = { "", "M", "-64M", "64X", "64MM", "99999999999G",
			      "1.5G" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_mem_size(bad[i], &b, err, sizeof(err)) == 0)
			fail_msg("accepted '%s'", bad[i]);
}

static void test_guest_option(void **state)
{
	(void)state;
	assert_int_equal(check_guest_option("port=6379", err, sizeof(err)), 0);
	assert_int_equal(check_guest_option("a=", err, sizeof(err)), 0);
	assert_int_not_equal(check_guest_option("port", err, sizeof(err)), 0);
	assert_int_not_equal(check_guest_option("=1", err, sizeof(err)), 0);
	assert_int_not_equal(check_guest_option("a=b c", err, sizeof(err)), 0);
	assert_int_not_equal(check_guest_option("a=b\n", err, sizeof(err)), 0);
}

/* The one numeric parser: digits only, no wrap, range checked. */
static void test_parse_u64(void **state)
{
	uint64_t v = 7;
	unsigned u = 7;

	(void)state;
	assert_int_equal(parse_u64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_u64("18446744073709551615", 0, UINT64_MAX, &v),
			 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse_u64("18446744073709551616", 0, UINT64_MAX, &v),
			 -ERANGE);
	/* The bug it replaces: (unsigned)strtoul("4294967297") == 1. */
	assert_int_equal(parse_uint("4294967297", 1, 60000, &u), -ERANGE);
	assert_int_equal(u, 7);
	assert_int_equal(parse_uint("60001", 1, 60000, &u), -ERANGE);
	assert_int_equal(parse_uint("0", 1, 60000, &u), -ERANGE);
	const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "1.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_u64(bad[i], 0, 100, &v), -EINVAL);
	assert_int_equal(parse_uint("500", 1, 60000, &u), 0);
	assert_int_equal(u, 500);
}

static void test_number_option_messages(void **state)
{
	unsigned u = 0;

	(void)state;
	assert_int_equal(parse_uint_option("--detect-timeout", "4294967297",
					   1, 60000, "milliseconds", &u, err,
					   sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "--detect-timeout '4294967297'"));
	assert_non_null(strstr(err, "out of range"));
	assert_non_null(strstr(err, "1..60000"));
	assert_int_equal(parse_uint_option("--capture-spin", "abc", 0, 10000,
					   "microseconds", &u, err,
					   sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not a number"));
	assert_int_equal(parse_uint_option("--epoch", "20", 1, 10000,
					   "milliseconds", &u, err,
					   sizeof(err)),
			 0);
	assert_int_equal(u, 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_u64),
	    cmocka_unit_test(test_number_option_messages),
		cmocka_unit_test(test_ipv4_prefix),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_mem_size),
		cmocka_unit_test(test_guest_option),
	};

	return cmocka_run_group_tests_name("cli_parse", tests, NULL, NULL);
}
