/* SPDX-License-Identifier: MIT */
/*
 * The frame digest both daemons compute (netstate/frame_digest.c): pinned
 * to XXH3_64bits reference values, so a change of function (which would
 * break a primary and a backup of different builds) cannot pass unnoticed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include "netstate/frame_digest.h"

static void test_reference_values(void **state)
{
	/* XXH3_64bits, seed 0: every length class of the algorithm. */
	static const struct {
		size_t len;
		uint64_t h;
	} v[] = {
	    {0, 0x2d06800538d394c2ull},	   {1, 0x4c5cca45d0f4811full},
	    {3, 0x6e3e2670e61106acull},	   {4, 0x5c4c63133443d03full},
	    {7, 0x46a5c724d51fe43full},	   {8, 0xf9fd4dd0b04d78f5ull},
	    {14, 0xb67890b9c5261bbfull},   {16, 0x86abf6baccea0858ull},
	    {17, 0xb58bf5dc5022d071ull},   {31, 0x48442fcd5518b086ull},
	    {32, 0xe3712ed84c04a66eull},   {33, 0xa4dee99b093e1f73ull},
	    {60, 0x6bdaf3c09478cb16ull},   {64, 0x1291d2d4042330ddull},
	    {100, 0x5da67eac6d4093d5ull},  {128, 0x10d17f72c0ccba41ull},
	    {129, 0x1648bdc3db49d1a2ull},  {240, 0xb6cfaf343fab81e6ull},
	    {241, 0x956cae592c67279eull},  {1514, 0xb22f168182ec94f8ull},
	    {2048, 0x8b46caa67dab3a30ull},
	};
	uint8_t buf[2048];

	(void)state;
	for (int i = 0; i < 2048; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_true(frame_digest(buf, v[i].len) == v[i].h);
	assert_true(frame_digest((const uint8_t *)"abc", 3) ==
		    0x78af5f94892f3950ull);
}

static void test_every_bit_counts(void **state)
{
	uint8_t buf[1514];

	(void)state;
	for (int i = 0; i < 1514; i++)
		buf[i] = (uint8_t)(i * 31 + 1);
	for (size_t i = 0; i < sizeof(buf); i += 37) {
		uint64_t before = frame_digest(buf, sizeof(buf));

		buf[i] ^= 0x10;
		assert_true(frame_digest(buf, sizeof(buf)) != before);
		buf[i] ^= 0x10;
	}
	/* The length is part of it: a trailing zero byte is not nothing. */
	buf[100] = 0;
	assert_true(frame_digest(buf, 100) != frame_digest(buf, 101));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reference_values),
	    cmocka_unit_test(test_every_bit_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
