/* SPDX-License-Identifier: MIT */
#include "netstate/frame_digest.h"

#include <xxhash.h>

uint64_t frame_digest(const uint8_t *frame, size_t len)
{
	return XXH3_64bits(frame, len);
}
