/* SPDX-License-Identifier: MIT */
/*
 * Not cryptographic: frames are not adversarial here and a collision only
 * makes a trim match the wrong copy of two identical frames, which are
 * interchangeable anyway. 8-byte words with a multiply-xorshift mix (the
 * murmur3 finaliser constants), the length folded in so prefixes differ.
 */
#include "common/frame_digest.h"

#include <string.h>

static inline uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

uint64_t frame_digest(const uint8_t *frame, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)len;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, frame + i, 8);
		h = mix(h ^ w) + 0x9e3779b97f4a7c15ull;
	}
	if (i < len) {
		uint64_t w = 0;

		memcpy(&w, frame + i, len - i);
		h = mix(h ^ w ^ 0xa5a5a5a5a5a5a5a5ull);
	}
	return mix(h);
}
