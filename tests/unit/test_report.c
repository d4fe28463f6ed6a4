/* SPDX-License-Identifier: MIT */
/* One field table, two renderings: the text and the JSON agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/report.h"

static void fill(struct report *r)
{
	report_str(r, "state", "state", "running \"quoted\"\n");
	report_u64(r, "epochs", "epochs", 18446744073709551615ull);
	report_i64(r, "status", "status", -3);
	report_f(r, "pause_us", "pause", 1, 54.25, "us");
	report_f(r, "nan", "nan", 1, NAN, NULL);
	report_bool(r, "protected", "protected", true);
	report_str_or_null(r, "backup", "backup", NULL);
	report_open(r, "output", "output");
	report_u64(r, "released", "released", 5);
	report_list_open(r, "flows", "flows");
	report_item_open(r, "flow");
	report_str(r, "client", "client", "10.0.0.1:1");
	report_list_open(r, "problems", "problems");
	report_list_str(r, "timed_out");
	report_list_str(r, "diverged");
	report_close(r);
	report_close(r);
	report_close(r);
	report_close(r);
	report_u64(r, "after", "after", 1);
}

static void test_json(void **state)
{
	struct report r;

	(void)state;
	report_init(&r, true);
	fill(&r);
	assert_true(report_finish(&r) > 0);
	assert_string_equal(
	    r.buf,
	    "{\"state\":\"running \\\"quoted\\\"\\n\","
	    "\"epochs\":18446744073709551615,\"status\":-3,"
	    "\"pause_us\":54.2,\"nan\":null,\"protected\":true,"
	    "\"backup\":null,\"output\":{\"released\":5,\"flows\":[{"
	    "\"client\":\"10.0.0.1:1\",\"problems\":[\"timed_out\","
	    "\"diverged\"]}]},\"after\":1}\n");
	report_free(&r);
}

static void test_text(void **state)
{
	struct report r;

	(void)state;
	report_init(&r, false);
	fill(&r);
	assert_true(report_finish(&r) > 0);
	assert_non_null(strstr(r.buf, "epochs:             18446744073709551615\n"));
	assert_non_null(strstr(r.buf, "pause:              54.2 us\n"));
	assert_non_null(strstr(r.buf, "protected:          yes\n"));
	assert_non_null(strstr(r.buf, "backup:             -\n"));
	assert_non_null(strstr(r.buf, "output:\n  released:         5\n"));
	assert_non_null(strstr(r.buf, "      - timed_out\n"));
	assert_non_null(strstr(r.buf, "after:              1\n"));
	report_free(&r);
}

/* Closing more than was opened, or finishing twice, is harmless; an
 * unclosed section is closed by finish. */
static void test_unbalanced(void **state)
{
	struct report r;
	int n;

	(void)state;
	report_init(&r, true);
	report_close(&r);
	report_open(&r, "a", "a");
	report_u64(&r, "x", "x", 1);
	n = report_finish(&r);
	assert_int_equal(n, report_finish(&r));
	report_u64(&r, "late", "late", 2); /* ignored after finish */
	assert_string_equal(r.buf, "{\"a\":{\"x\":1}}\n");
	report_free(&r);
}

/* A large report grows its buffer; copy truncates safely. */
static void test_growth_and_copy(void **state)
{
	struct report r;
	char small[8];
	char key[16];

	(void)state;
	report_init(&r, true);
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		report_u64(&r, key, key, (uint64_t)i);
	}
	assert_true(report_finish(&r) > 20000);
	assert_non_null(strstr(r.buf, "\"k1999\":1999}"));
	assert_int_equal(report_copy(&r, small, sizeof(small)), 7);
	assert_string_equal(small, "{\"k0\":0");
	report_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_unbalanced),
	    cmocka_unit_test(test_growth_and_copy),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
