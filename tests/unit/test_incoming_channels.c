/* SPDX-License-Identifier: MIT */
/*
 * Which links join the migration coming in (backup/incoming_channels.c):
 * channel 0 opens the session; channels 1..N-1 of the same session and
 * count join once each, after the profile; everything else is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "backup/incoming_channels.h"

static struct repl_hello hello(uint64_t session, uint16_t channel,
			       uint16_t channels)
{
	return (struct repl_hello){.version = REPL_VERSION,
				   .mode = REPL_MODE_MIGRATE,
				   .session = session,
				   .mem_size = 64 << 20,
				   .channel = channel,
				   .channels = channels};
}

static int admit(struct incoming_channels *c, uint64_t session,
		 uint16_t channel, uint16_t channels, const char *want)
{
	struct repl_hello h = hello(session, channel, channels);
	char why[200] = "";
	int ret = incoming_channels_admit(c, &h, why, sizeof(why));

	if (want) {
		if (!strstr(why, want))
			fail_msg("'%s' does not say '%s'", why, want);
	}
	return ret;
}

static void test_channels_join_once(void **state)
{
	struct incoming_channels c = {0};

	(void)state;
	/* A channel before its session. */
	assert_int_equal(admit(&c, 7, 1, 3, "before"), -EPROTO);
	assert_int_equal(admit(&c, 7, 0, 3, NULL), 0);
	assert_false(incoming_channels_complete(&c));
	/* Before the profile was accepted. */
	assert_int_equal(admit(&c, 7, 1, 3, "profile"), -EPROTO);
	c.open = true;
	assert_int_equal(admit(&c, 7, 2, 3, NULL), 0);
	assert_false(incoming_channels_complete(&c));
	/* Refused: another session (its channel 0 or a further one), a
	 * different count, a channel twice, one beyond the count. */
	assert_int_equal(admit(&c, 8, 0, 3, "busy"), -EBUSY);
	assert_int_equal(admit(&c, 8, 1, 3, "another migration"), -EBUSY);
	assert_int_equal(admit(&c, 7, 1, 4, "channel 0 said 3"), -EPROTO);
	assert_int_equal(admit(&c, 7, 2, 3, "twice"), -EPROTO);
	assert_int_equal(admit(&c, 7, 0, 3, "busy"), -EBUSY);
	assert_int_equal(admit(&c, 7, 3, 3, "no such"), -EPROTO);
	assert_int_equal(admit(&c, 7, 5, REPL_MAX_CHANNELS, "said 3"), -EPROTO);
	assert_false(incoming_channels_complete(&c));
	assert_int_equal(admit(&c, 7, 1, 3, NULL), 0);
	assert_true(incoming_channels_complete(&c));
	assert_int_equal(admit(&c, 7, 1, 3, "twice"), -EPROTO);
}

static void test_single_channel(void **state)
{
	struct incoming_channels c = {0};

	(void)state;
	/* A source without channel fields (count 0) is one channel. */
	assert_int_equal(admit(&c, 9, 0, 0, NULL), 0);
	assert_int_equal(c.count, 1);
	assert_true(incoming_channels_complete(&c));
	c.open = true;
	assert_int_equal(admit(&c, 9, 1, 2, "said 1"), -EPROTO);
	assert_int_equal(admit(&c, 10, 0, 1, "busy"), -EBUSY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_channels_join_once),
	    cmocka_unit_test(test_single_channel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
