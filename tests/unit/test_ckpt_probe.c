/* SPDX-License-Identifier: MIT */
/*
 * checkpoint-probe's summary: the JSON keeps the field names its consumers
 * read (experiments/bench-checkpoint.sh, tests/integration/test_ctl.sh),
 * and text and JSON come from the same fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/report.h"
#include "vmm/ckpt_probe.h"
#include "tests/unit/report_check.h"

#define EPOCHS 10

static struct ckpt_probe_epoch two[EPOCHS], one[EPOCHS];

/* Epoch i (0-based) of the primary's collect: pause (i + 1) us, 10 * (i + 1)
 * pages; one-phase epochs pause twice as long. */
static void fill(struct ckpt_probe_result *res, bool two_phase)
{
	memset(res, 0, sizeof(*res));
	for (unsigned i = 0; i < EPOCHS; i++) {
		two[i] = (struct ckpt_probe_epoch){
		    .pause_ns = (i + 1) * 1000ull,
		    .stopped_ns = (i + 1) * 1500ull,
		    .pages = 10ull * (i + 1),
		    .dirty_log_ns = 100,
		    .copy_ns = 200,
		    .state_ns = 300,
		    .pause_pages = i,
		    .early_ns = 4000,
		    .early_copies = 7,
		    .early_passes = 2,
		};
		one[i] = two[i];
		one[i].pause_ns *= 2;
	}
	res->epochs = EPOCHS;
	res->interval_ms = 20;
	res->two_phase = two_phase;
	res->dirty_log = two_phase ? "manual-protect" : "get";
	res->epoch = two;
	res->one_phase = two_phase ? one : NULL;
	res->raw_bytes = 4096 * 100;
	res->encoded_bytes = 4096 * 25;
	res->uncompressed_bytes = 4096 * 90;
	res->unchanged_pages = 3;
	res->encode_ns = 1000000;
	res->period_ns_total = 2 * 20500000ull;
	res->collects = 3;
}

static void fill_report(void *res, struct report *rep)
{
	ckpt_probe_report(res, rep);
}

static char *render(struct ckpt_probe_result *res, bool json)
{
	return report_render(json, fill_report, res);
}

static void test_json_fields(void **state)
{
	struct ckpt_probe_result res;
	char *j;

	(void)state;
	fill(&res, true);
	j = render(&res, true);
	/* Medians are element n/2 of the sorted values, p90 element 9n/10. */
	assert_has(j,
		   "{\"epochs\":10,\"interval_ms\":20,\"period_ms\":20.50,"
		   "\"collect\":\"two-phase\",\"dirty_log\":\"manual-protect\","
		   "\"pages\":{\"median\":60,\"p90\":100,\"max\":100},"
		   "\"pause_us\":{\"median\":6.0,\"p90\":10.0,\"max\":10.0},"
		   "\"pause_breakdown_us\":{\"dirty_log\":0.1,\"copy\":0.2,"
		   "\"vcpu_state\":0.3},"
		   "\"pages_in_pause\":{\"median\":5,\"p90\":9,\"max\":9},"
		   "\"early\":{\"us_median\":4.0,\"us_max\":4.0,"
		   "\"copies_median\":7,\"passes_median\":2},"
		   "\"stopped_us\":{\"median\":9.0,\"p90\":15.0,\"max\":15.0},"
		   "\"one_phase\":{\"epochs\":10,"
		   "\"pages\":{\"median\":60,\"p90\":100,\"max\":100},"
		   "\"pause_us\":{\"median\":12.0,\"p90\":20.0,\"max\":20.0},"
		   "\"copy_us_median\":0.2,"
		   "\"stopped_us\":{\"median\":9.0,\"p90\":15.0,\"max\":15.0}},"
		   "\"raw_bytes\":409600,\"encoded_bytes\":102400,"
		   "\"uncompressed_bytes\":368640,\"ratio\":4.00,"
		   "\"unchanged_pages\":3,\"encode_MBps\":409.6}\n");
	free(j);
}

static void test_json_without_one_phase(void **state)
{
	struct ckpt_probe_result res;
	char *j;

	(void)state;
	fill(&res, false);
	j = render(&res, true);
	assert_has(j, "\"collect\":\"one-phase\"");
	assert_has(j, "\"one_phase\":null,");
	free(j);
}

/* The text form: labelled lines from the same fields, no JSON. */
static void test_text(void **state)
{
	struct ckpt_probe_result res;
	char *t;

	(void)state;
	fill(&res, true);
	t = render(&res, false);
	assert_null(strchr(t, '{'));
	assert_has(t, "achieved period:");
	assert_has(t, "20.50 ms\n");
	assert_has(t, "pause (collect):\n");
	assert_has(t, "one-phase, same run (interleaved):\n");
	assert_has(t, "12.0 us\n");
	assert_has(t, "4.00 x\n");
	free(t);
	fill(&res, false);
	t = render(&res, false);
	assert_has(t, "one-phase comparison:");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_fields),
	    cmocka_unit_test(test_json_without_one_phase),
	    cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests_name("ckpt_probe", tests, NULL, NULL);
}
