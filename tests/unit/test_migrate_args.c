/* SPDX-License-Identifier: MIT */
/*
 * The options of `rrvm ctl SOCKET migrate` (migration/migrate_args.c):
 * defaults as QEMU's, ranges, the destination's form, the key choice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "migration/migrate_args.h"

static int parse(struct migrate_args *a, char *err, const char *line)
{
	static char buf[512];
	char *argv[32];
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *save = NULL, *t = strtok_r(buf, " ", &save); t;
	     t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	err[0] = '\0';
	return migrate_args_parse(argc, argv, a, err, 256);
}

static void test_defaults(void **state)
{
	struct migrate_args a;
	char err[256];

	(void)state;
	assert_int_equal(
	    parse(&a, err, "migrate 192.168.100.2:7788 --insecure"), 0);
	assert_string_equal(a.dest, "192.168.100.2:7788");
	assert_int_equal(a.max_downtime_ms, 300); /* QEMU's downtime-limit */
	assert_int_equal(a.max_bandwidth_mib, 0);
	assert_false(a.auto_converge);
	assert_int_equal(a.channels, 1);
	assert_int_equal(a.timeout_s, 0);
	assert_true(a.insecure);
	assert_null(a.key_file);
}

static void test_every_option(void **state)
{
	struct migrate_args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, err,
			       "migrate --max-downtime 50 --max-bandwidth 64 "
			       "--auto-converge 10.0.0.2:1 --channels 2 "
			       "--timeout 30 --key-file /k"),
			 0);
	assert_string_equal(a.dest, "10.0.0.2:1");
	assert_int_equal(a.max_downtime_ms, 50);
	assert_int_equal(a.max_bandwidth_mib, 64);
	assert_true(a.auto_converge);
	assert_int_equal(a.channels, 2);
	assert_int_equal(a.timeout_s, 30);
	assert_string_equal(a.key_file, "/k");
	assert_false(a.insecure);
}

static void test_refused(void **state)
{
	static const struct {
		const char *line, *why;
	} cases[] = {
	    {"migrate --insecure", "where to"},
	    {"migrate 1.2.3.4:5", "--key-file"},
	    {"migrate 1.2.3.4:5 --insecure --key-file /k", "exclude"},
	    {"migrate host:5 --insecure", "not ADDR:PORT"},
	    {"migrate 1.2.3.4 --insecure", "not ADDR:PORT"},
	    {"migrate 1.2.3.4:0 --insecure", "not ADDR:PORT"},
	    {"migrate 1.2.3.4:65536 --insecure", "not ADDR:PORT"},
	    {"migrate 1.2.3.256:5 --insecure", "not ADDR:PORT"},
	    {"migrate 1.2.3.4:5 5.6.7.8:9 --insecure", "unexpected"},
	    {"migrate 1.2.3.4:5 --insecure --max-downtime 0", "1..60000"},
	    {"migrate 1.2.3.4:5 --insecure --max-downtime 60001", "1..60000"},
	    {"migrate 1.2.3.4:5 --insecure --max-downtime 5ms", "1..60000"},
	    {"migrate 1.2.3.4:5 --insecure --max-downtime", "needs a value"},
	    {"migrate 1.2.3.4:5 --insecure --max-bandwidth -1", "MiB/s"},
	    {"migrate 1.2.3.4:5 --insecure --channels 0", "1..8"},
	    {"migrate 1.2.3.4:5 --insecure --channels 9", "1..8"},
	    {"migrate 1.2.3.4:5 --insecure --timeout 0", "seconds"},
	    {"migrate 1.2.3.4:5 --insecure --key-file", "needs a value"},
	    {"migrate 1.2.3.4:5 --insecure --downtime 5", "unknown option"},
	};
	struct migrate_args a;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(&a, err, cases[i].line) != -EINVAL)
			fail_msg("accepted: %s", cases[i].line);
		if (!strstr(err, cases[i].why))
			fail_msg("'%s': '%s' does not say '%s'", cases[i].line,
				 err, cases[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_every_option),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests_name("migrate_args", tests, NULL, NULL);
}
