/* SPDX-License-Identifier: MIT */
#include "backup/incoming_channels.h"

#include <errno.h>
#include <stdio.h>

int incoming_channels_admit(struct incoming_channels *c,
			    const struct repl_hello *h, char *why,
			    size_t why_size)
{
	unsigned count = h->channels ? h->channels : 1;
	uint32_t bit = 1u << h->channel;

	if (h->channel >= count || count > REPL_MAX_CHANNELS) {
		snprintf(why, why_size, "channel %u of %u: no such channel",
			 h->channel, count);
		return -EPROTO;
	}
	if (h->channel == 0) {
		if (c->session) {
			snprintf(why, why_size,
				 "the destination is busy: another migration "
				 "is coming in");
			return -EBUSY;
		}
		*c = (struct incoming_channels){
		    .session = h->session, .count = count, .joined = 1};
		return 0;
	}
	if (!c->session) {
		snprintf(why, why_size,
			 "channel %u before its migration's channel 0",
			 h->channel);
		return -EPROTO;
	}
	if (h->session != c->session) {
		snprintf(why, why_size,
			 "the destination is busy: channel %u of another "
			 "migration (session %llx, not %llx)",
			 h->channel, (unsigned long long)h->session,
			 (unsigned long long)c->session);
		return -EBUSY;
	}
	if (count != c->count) {
		snprintf(why, why_size,
			 "channel %u says %u channels, channel 0 said %u",
			 h->channel, count, c->count);
		return -EPROTO;
	}
	if (!c->open) {
		snprintf(why, why_size,
			 "channel %u before the profile was accepted",
			 h->channel);
		return -EPROTO;
	}
	if (c->joined & bit) {
		snprintf(why, why_size, "channel %u joined twice", h->channel);
		return -EPROTO;
	}
	c->joined |= bit;
	return 0;
}

bool incoming_channels_complete(const struct incoming_channels *c)
{
	return c->session && c->joined == (uint32_t)((1ull << c->count) - 1);
}
