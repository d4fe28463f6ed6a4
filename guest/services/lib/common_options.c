// SPDX-License-Identifier: MIT
/*
 * guest_common_start: read the command-line options of the features shared
 * by all images and start them. All options are checked before anything is
 * started, so a bad value leaves the guest with no half-enabled feature.
 */
#include "lib/common_options.h"
#include "lib/crash.h"
#include "lib/dirtier.h"
#include "lib/option_parse.h"
#include "service.h"

#include <errno.h>
#include <stddef.h>

struct common_config {
	uint64_t dirty_rate; /* 0: dirtier off */
	uint64_t dirty_mb;
	uint64_t dirty_bytes, dirty_catchup_ms;
	enum crash_kind crash; /* CRASH_NONE: off */
	uint64_t crash_after_ms;
};

static int parse_config(struct common_config *c)
{
	const char *s;
	int ret;

	ret = option_get_u64("dirty", 0, 0, DIRTIER_MAX_RATE, &c->dirty_rate);
	if (ret < 0)
		return ret;
	ret = option_get_u64("dirty_mb", DIRTIER_DEFAULT_MB, 1, DIRTIER_MAX_MB,
			     &c->dirty_mb);
	if (ret < 0)
		return ret;
	ret = option_get_u64("dirty_bytes", DIRTIER_DEFAULT_BYTES, 8,
			     DIRTIER_PAGE_SIZE, &c->dirty_bytes);
	if (ret < 0)
		return ret;
	if (c->dirty_bytes % 8) {
		svc_log("option dirty_bytes=%u: a multiple of 8",
			(unsigned)c->dirty_bytes);
		return -EINVAL;
	}
	ret = option_get_u64("dirty_catchup_ms", DIRTIER_DEFAULT_CATCHUP_MS, 1,
			     DIRTIER_MAX_CATCHUP_MS, &c->dirty_catchup_ms);
	if (ret < 0)
		return ret;

	c->crash = CRASH_NONE;
	s = svc_option("crash");
	if (s && crash_parse_kind(s, &c->crash) < 0) {
		svc_log("option crash=%s: expected null, ud, gp or div", s);
		return -EINVAL;
	}
	return option_get_u64("crash_after_ms", 0, 0, CRASH_MAX_AFTER_MS,
			      &c->crash_after_ms);
}

int guest_common_start(void)
{
	struct common_config c;
	int ret;

	ret = parse_config(&c);
	if (ret < 0)
		goto out;
	if (c.dirty_rate) {
		ret = dirtier_configure((unsigned)c.dirty_bytes,
					(unsigned)c.dirty_catchup_ms);
		if (!ret)
			ret = dirtier_start(c.dirty_rate, c.dirty_mb);
		if (ret < 0) {
			svc_log("dirtier: cannot start: %d", ret);
			goto out;
		}
	}
	if (c.crash != CRASH_NONE) {
		ret = crash_arm(c.crash, c.crash_after_ms);
		if (ret < 0) {
			svc_log("crash: cannot arm: %d", ret);
			goto out;
		}
	}
out:
	return ret;
}
