/* SPDX-License-Identifier: MIT */
/* Command-line value parsers: good values parse, bad ones say why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli_parse.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_prefix),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_mem_size),
		cmocka_unit_test(test_guest_option),
	};

	return cmocka_run_group_tests_name("cli_parse", tests, NULL, NULL);
}
