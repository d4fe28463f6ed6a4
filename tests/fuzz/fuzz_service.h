/* SPDX-License-Identifier: MIT */
/*
 * For the fuzz targets that drive a whole guest service on the host
 * (tests/unit/fake_service.c): the fuzzed stream goes to one connection in
 * pieces, and between pieces a second connection must still get a good
 * answer to a fixed request and stay open (one client cannot disturb
 * another).
 */
#ifndef RRVM_FUZZ_SERVICE_H
#define RRVM_FUZZ_SERVICE_H

#include <stdbool.h>
#include <string.h>

#include "fake_service.h"
#include "tests/fuzz/fuzz_util.h"

/* The service must already be started (listening on port). */
static inline void fuzz_drive_service(uint16_t port, uint8_t mode,
				      const uint8_t *s, size_t len,
				      size_t small, size_t large,
				      const char *probe,
				      bool (*probe_ok)(const char *out))
{
	uint64_t rng = 0x2545F4914F6CDD1Dull ^ mode ^ len;
	struct svc_conn *a = fake_connect(port), *b = fake_connect(port);
	size_t pos = 0;

	CHECK(a && b);
	while (pos < len) {
		size_t end = fuzz_next_cut(mode, &rng, pos, len, small, large);

		if (a->close_requested) {
			/* The service ended it (protocol error, QUIT): the
			 * client reconnects. */
			fake_disconnect(a);
			a = fake_connect(port);
			CHECK(a != NULL);
		}
		fake_clear_output(a);
		fake_receive(a, s + pos, end - pos);
		pos = end;
		fake_clear_output(b);
		fake_receive(b, probe, strlen(probe));
		CHECK(probe_ok(b->out ? b->out : ""));
		CHECK(!b->close_requested);
	}
	fake_disconnect(a);
	fake_disconnect(b);
}

#endif
