/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets in tests/fuzz/: the invariant check, the
 * pseudo-random stream cutter, and writing text seeds.
 */
#ifndef RRVM_FUZZ_UTIL_H
#define RRVM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken invariant is a finding: abort so libFuzzer keeps the input. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

static inline uint64_t fuzz_xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * Where the piece of a stream starting at pos ends, by the mode byte's low
 * bits: 0 all of it, 1 one byte, 2 up to `small` bytes, 3 up to `large`.
 */
static inline size_t fuzz_next_cut(uint8_t mode, uint64_t *rng, size_t pos,
				   size_t len, size_t small, size_t large)
{
	size_t end = len;

	if ((mode & 3) == 1)
		end = pos + 1;
	else if ((mode & 3) >= 2)
		end = pos + 1 +
		      fuzz_xorshift(rng) % ((mode & 3) == 2 ? small : large);
	return end < len ? end : len;
}

struct fuzz_text_seed {
	const char *name;
	uint8_t mode;	  /* the input's first byte */
	const char *text; /* the rest */
};

/* Write each seed as DIR/name and run it through the target once (so a
 * seed that breaks an invariant fails the build of the corpus). */
static inline int fuzz_write_text_seeds(const char *dir,
					const struct fuzz_text_seed *seeds,
					size_t n,
					int (*target)(const uint8_t *, size_t))
{
	int fails = 0;

	for (size_t i = 0; i < n; i++) {
		char path[4096];
		size_t len = strlen(seeds[i].text);
		uint8_t *buf = malloc(len + 1);
		FILE *f;

		CHECK(buf != NULL);
		buf[0] = seeds[i].mode;
		memcpy(buf + 1, seeds[i].text, len);
		snprintf(path, sizeof(path), "%s/%s", dir, seeds[i].name);
		f = fopen(path, "wb");
		if (!f || fwrite(buf, 1, len + 1, f) != len + 1 || fclose(f)) {
			perror(path);
			fails++;
		} else {
			target(buf, len + 1);
		}
		free(buf);
	}
	return fails;
}

#endif
