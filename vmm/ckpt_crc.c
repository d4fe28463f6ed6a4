/* SPDX-License-Identifier: MIT */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) for the checkpoint
 * codec. ckpt_crc32c(0, "123456789", 9) == 0xE3069283; passing a previous
 * result as `crc` continues it: crc(crc(0, a), b) == crc(0, a || b).
 *
 * Two implementations with identical results: the SSE4.2 `crc32` instruction
 * when the CPU has it (several GB/s) and table-driven slicing-by-8 otherwise
 * (about 1-2 GB/s). The choice and the tables are made once, on first use.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "vmm/ckpt_codec.h"

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint32_t (*crc_impl)(uint32_t, const uint8_t *, size_t);

/* Exposed (without a header prototype) so the unit test can compare both
 * implementations; not part of the codec API. */
uint32_t ckpt_crc32c_soft(uint32_t crc, const void *data, size_t len);

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static void crc_tables_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int s = 1; s < 8; s++) {
			uint32_t prev = crc_table[s - 1][i];

			crc_table[s][i] = (prev >> 8) ^ crc_table[0][prev & 0xff];
		}
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	while (len >= 8) {
		uint64_t w = load_le64(p) ^ crc;

		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^
		      crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^
		      crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t
crc_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = (uint32_t)~crc;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#define HAVE_CRC_SSE42 1
#endif

static void crc_init(void)
{
	crc_tables_init();
	crc_impl = crc_soft;
#ifdef HAVE_CRC_SSE42
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc_impl = crc_sse42;
#endif
}

uint32_t ckpt_crc32c_soft(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return len ? crc_soft(crc, data, len) : crc;
}

uint32_t ckpt_crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return len ? crc_impl(crc, data, len) : crc;
}
