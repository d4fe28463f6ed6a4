/* SPDX-License-Identifier: MIT */
/*
 * Unit-test helpers for reports (common/report.h): render one in either
 * form and look for expected parts. Include after <cmocka.h>.
 */
#ifndef RRVM_TESTS_REPORT_CHECK_H
#define RRVM_TESTS_REPORT_CHECK_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/report.h"

/* fill(arg, rep) rendered as text or JSON; the caller frees the result. */
static inline char *
report_render(bool json, void (*fill)(void *arg, struct report *rep), void *arg)
{
	struct report rep;
	char *s;

	report_init(&rep, json);
	fill(arg, &rep);
	assert_true(report_finish(&rep) > 0);
	s = strdup(rep.buf);
	report_free(&rep);
	assert_non_null(s);
	return s;
}

/* Fails the test, showing s, unless part occurs in it. */
static inline void assert_has(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("missing %s in %s", part, s);
}

#endif
