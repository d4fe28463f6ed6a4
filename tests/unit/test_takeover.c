/* SPDX-License-Identifier: MIT */
/*
 * The takeover's report: phase durations from the recorded timeline, the
 * total up to the first frame out (or going live when none came), fence
 * wording by reason, and no replay section without a replay. No VM here:
 * the report is rendered from the bookkeeping alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/takeover.h"
#include "common/report.h"
#include "tests/unit/report_check.h"

#define MS 1000000ull

static void fill_report(void *t, struct report *rep)
{
	takeover_report(t, rep);
}

static char *render(struct takeover *t, bool json)
{
	return report_render(json, fill_report, t);
}

/* A failover whose phases took 10, 2, 30, 4 and 5 ms. */
static void failover(struct takeover *t)
{
	memset(t, 0, sizeof(*t));
	t->reason = TAKEOVER_FAILOVER;
	t->detector = "heartbeats";
	t->committed_epoch = 42;
	t->cfg.detect_timeout_ms = 500;
	t->cfg.detect_threshold_ms = 30.5;
	t->cfg.fence_cmd = "true";
	snprintf(t->ip, sizeof(t->ip), "10.0.0.2/24");
	snprintf(t->mac, sizeof(t->mac), "52:54:00:00:00:02");
	snprintf(t->announce_dev, sizeof(t->announce_dev), "br0");
	t->t.last_rx_ns = 1000 * MS;
	t->t.detected_ns = 1010 * MS;
	t->t.fenced_ns = 1012 * MS;
	t->t.restored_ns = 1042 * MS;
	t->t.announced_ns = 1046 * MS;
	t->t.live_ns = 1046 * MS;
	t->t.first_frame_ns = 1051 * MS;
}

static void test_reason_names(void **state)
{
	(void)state;
	assert_string_equal(takeover_reason_name(TAKEOVER_FAILOVER),
			    "failover");
	assert_string_equal(takeover_reason_name(TAKEOVER_HANDOVER),
			    "handover");
	assert_string_equal(takeover_reason_name(TAKEOVER_MIGRATION),
			    "migration");
	assert_string_equal(takeover_reason_name((enum takeover_reason)7),
			    "unknown");
}

static void test_failover_phases(void **state)
{
	struct takeover t;
	char *j;

	(void)state;
	failover(&t);
	j = render(&t, true);
	assert_has(j,
		   "{\"reason\":\"failover\",\"detector\":\"heartbeats\","
		   "\"committed_epoch\":42,\"guest_ip\":\"10.0.0.2/24\","
		   "\"guest_mac\":\"52:54:00:00:00:02\","
		   "\"detect_timeout_ms\":500,\"detect_threshold_ms\":30.5,");
	assert_has(j, "\"phases_ms\":{\"detect\":10.000,\"fence\":2.000,"
		      "\"restore\":30.000,\"announce\":4.000,"
		      "\"first_frame_out\":5.000},\"total_ms\":51.000,");
	assert_has(j, "\"fence_cmd\":\"true\"");
	assert_has(j, "\"first_frame_seen\":true");
	assert_has(j, "\"timeline_mono_ms\":{\"last_rx\":1000.000,"
		      "\"detected\":1010.000,");
	/* No replay: null, not an empty section. */
	assert_has(j, "\"replay\":null}");
	free(j);
}

/* No frame from the guest: the total ends at going live. A timeline out
 * of order (a clock read before its predecessor) gives 0, not a huge
 * unsigned difference. */
static void test_no_first_frame(void **state)
{
	struct takeover t;
	char *j;

	(void)state;
	failover(&t);
	t.t.first_frame_ns = 0;
	t.t.fenced_ns = t.t.detected_ns - 1;
	j = render(&t, true);
	assert_has(j, "\"fence\":0.000,");
	assert_has(j, "\"first_frame_out\":0.000},\"total_ms\":46.000,");
	assert_has(j, "\"first_frame_seen\":false");
	free(j);
}

static void test_fence_wording(void **state)
{
	struct takeover t;
	char *j;

	(void)state;
	failover(&t);
	t.cfg.fence_cmd = NULL;
	j = render(&t, true);
	assert_has(j, "\"fence_cmd\":\"(none configured)\"");
	free(j);
	t.reason = TAKEOVER_HANDOVER;
	t.cfg.fence_cmd = "true"; /* not run for a planned handover */
	j = render(&t, true);
	assert_has(j, "\"reason\":\"handover\"");
	assert_has(j, "\"fence_cmd\":\"(planned: none)\"");
	free(j);
}

/* The log's text form comes from the same fields. */
static void test_text_form(void **state)
{
	struct takeover t;
	char *s;

	(void)state;
	failover(&t);
	s = render(&t, false);
	assert_null(strchr(s, '{'));
	assert_has(s, "phases (ms):\n");
	assert_has(s, "restore:");
	assert_has(s, "30.000\n");
	assert_has(s, "total:");
	assert_has(s, "51.000 ms\n");
	assert_has(s, "replay:");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reason_names),
	    cmocka_unit_test(test_failover_phases),
	    cmocka_unit_test(test_no_first_frame),
	    cmocka_unit_test(test_fence_wording),
	    cmocka_unit_test(test_text_form),
	};

	return cmocka_run_group_tests_name("takeover", tests, NULL, NULL);
}
