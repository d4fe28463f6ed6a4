/* SPDX-License-Identifier: MIT */
/*
 * Which links belong to the migration coming in (`rrvm incoming`,
 * docs/migration.md "Channels"): a source with --channels N opens N links
 * of one session, each saying in its HELLO which channel it is of how
 * many. Channel 0 opens the session (any other link is then refused as
 * busy); channels 1..N-1 join it once its profile was accepted, each
 * once, with the same session and the same count. Pure bookkeeping, no
 * I/O (backup/incoming.c does that), so it is unit-tested on its own.
 */
#ifndef RRVM_INCOMING_CHANNELS_H
#define RRVM_INCOMING_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/repl_protocol.h"

struct incoming_channels {
	uint64_t session; /* 0: no migration coming in */
	unsigned count;	  /* announced by channel 0 */
	uint32_t joined;  /* bit per channel that joined (never cleared) */
	bool open;	  /* the profile was accepted: channels may join */
};

/*
 * May this link (its HELLO, mode MIGRATE) join? 0: yes, and it is
 * recorded (channel 0: a new session). -EBUSY: another migration is
 * coming in; -EPROTO: not a channel of this session as announced (a
 * channel before its session or before the profile was accepted, a count
 * that differs from channel 0's, a channel twice). why says which.
 */
int incoming_channels_admit(struct incoming_channels *c,
			    const struct repl_hello *h, char *why,
			    size_t why_size);
/* Every announced channel joined. */
bool incoming_channels_complete(const struct incoming_channels *c);

#endif
