/* SPDX-License-Identifier: MIT */
/*
 * Gratuitous ARP frames (arp/garp.c): garp_build on "lo" must produce
 * exactly the expected 42 bytes for both forms; garp_parse must round-trip
 * them and reject truncated or foreign frames; bad arguments are -EINVAL.
 * Nothing is sent. The libnet cases skip when libnet cannot open a packet
 * socket on "lo" (no CAP_NET_RAW, or lo down in this namespace).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libnet.h>

#include "arp/garp.h"
#include "common/log.h"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x77, 0x00, 0x02 };

/* 10.77.0.2 is-at 52:54:00:77:00:02, request form (target MAC zero). */
static const uint8_t want_request[GARP_FRAME_LEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	/* eth dst: broadcast */
	0x52, 0x54, 0x00, 0x77, 0x00, 0x02,	/* eth src: the guest */
	0x08, 0x06,				/* ethertype ARP */
	0x00, 0x01,				/* htype Ethernet */
	0x08, 0x00,				/* ptype IPv4 */
	0x06, 0x04,				/* hlen, plen */
	0x00, 0x01,				/* op request */
	0x52, 0x54, 0x00, 0x77, 0x00, 0x02,	/* sender MAC */
	0x0a, 0x4d, 0x00, 0x02,			/* sender IP */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* target MAC: zero */
	0x0a, 0x4d, 0x00, 0x02,			/* target IP = sender IP */
};

/* The same announcement, reply form (target MAC = sender MAC). */
static const uint8_t want_reply[GARP_FRAME_LEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x52, 0x54, 0x00, 0x77, 0x00, 0x02,
	0x08, 0x06,
	0x00, 0x01,
	0x08, 0x00,
	0x06, 0x04,
	0x00, 0x02,				/* op reply */
	0x52, 0x54, 0x00, 0x77, 0x00, 0x02,
	0x0a, 0x4d, 0x00, 0x02,
	0x52, 0x54, 0x00, 0x77, 0x00, 0x02,	/* target MAC = sender MAC */
	0x0a, 0x4d, 0x00, 0x02,
};

static uint32_t guest_ip;
static bool have_libnet;

static int setup(void **state)
{
	char errbuf[LIBNET_ERRBUF_SIZE] = "";
	libnet_t *l;

	(void)state;
	guest_ip = inet_addr("10.77.0.2");
	l = libnet_init(LIBNET_LINK_ADV, "lo", errbuf);
	if (l) {
		have_libnet = true;
		libnet_destroy(l);
	} else {
		errbuf[strcspn(errbuf, "\n")] = '\0';
		fprintf(stderr,
			"test_garp: libnet cannot open \"lo\" (%s): frame-building cases skip\n",
			errbuf[0] ? errbuf : "no reason given");
	}
	return 0;
}

static void need_libnet(void)
{
	if (!have_libnet)
		skip();
}

/* Hex dump of a mismatch: a byte offset alone is hard to read. */
static void assert_frame_equal(const uint8_t *got, const uint8_t *want,
			       size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (got[i] != want[i]) {
			print_message("byte %zu: got 0x%02x, want 0x%02x\n", i,
				      got[i], want[i]);
			fail();
		}
	}
}

/* -------------------------------------------------------- garp_build */

static void test_build_request_exact(void **state)
{
	uint8_t buf[64];

	(void)state;
	need_libnet();
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(garp_build("lo", guest_mac, guest_ip, ARPOP_REQUEST,
				    buf, sizeof(buf)),
			 GARP_FRAME_LEN);
	assert_frame_equal(buf, want_request, GARP_FRAME_LEN);
	/* Nothing written past the frame. */
	for (size_t i = GARP_FRAME_LEN; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xaa);
}

static void test_build_reply_exact(void **state)
{
	uint8_t buf[GARP_FRAME_LEN]; /* cap exactly 42 is enough */

	(void)state;
	need_libnet();
	assert_int_equal(garp_build("lo", guest_mac, guest_ip, ARPOP_REPLY,
				    buf, sizeof(buf)),
			 GARP_FRAME_LEN);
	assert_frame_equal(buf, want_reply, GARP_FRAME_LEN);
}

/* Another address pair: nothing in the frame is a constant by accident. */
static void test_build_other_address(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0xab, 0xcd, 0xef, 0x01, 0x23 };
	uint8_t buf[GARP_FRAME_LEN];
	struct garp_info info;

	(void)state;
	need_libnet();
	assert_int_equal(garp_build("lo", mac, inet_addr("192.168.200.254"),
				    ARPOP_REQUEST, buf, sizeof(buf)),
			 GARP_FRAME_LEN);
	assert_memory_equal(buf + 6, mac, 6);
	assert_memory_equal(buf + 22, mac, 6);
	assert_memory_equal(buf + 28, "\xc0\xa8\xc8\xfe", 4);
	assert_memory_equal(buf + 38, "\xc0\xa8\xc8\xfe", 4);
	assert_int_equal(garp_parse(buf, sizeof(buf), &info), 0);
	assert_true(info.gratuitous);
	assert_int_equal(info.sender_ip_be, inet_addr("192.168.200.254"));
}

static void test_build_then_parse(void **state)
{
	static const int ops[] = { ARPOP_REQUEST, ARPOP_REPLY };
	uint8_t buf[GARP_FRAME_LEN];
	struct garp_info info;

	(void)state;
	need_libnet();
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(garp_build("lo", guest_mac, guest_ip, ops[i],
					    buf, sizeof(buf)),
				 GARP_FRAME_LEN);
		memset(&info, 0, sizeof(info));
		assert_int_equal(garp_parse(buf, sizeof(buf), &info), 0);
		assert_int_equal(info.op, ops[i]);
		assert_memory_equal(info.eth_dst, "\xff\xff\xff\xff\xff\xff", 6);
		assert_memory_equal(info.eth_src, guest_mac, 6);
		assert_memory_equal(info.sender_mac, guest_mac, 6);
		assert_int_equal(info.sender_ip_be, guest_ip);
		assert_int_equal(info.target_ip_be, guest_ip);
		if (ops[i] == ARPOP_REQUEST)
			assert_memory_equal(info.target_mac, "\0\0\0\0\0\0", 6);
		else
			assert_memory_equal(info.target_mac, guest_mac, 6);
		assert_true(info.gratuitous);
	}
}

static void test_build_bad_args(void **state)
{
	static const uint8_t zero[6], mcast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 },
				      bcast[6] = { 0xff, 0xff, 0xff,
						   0xff, 0xff, 0xff };
	char longname[IFNAMSIZ + 4];
	uint8_t buf[64];
	uint32_t ip = guest_ip;

	(void)state;
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	/* Argument checks come before libnet: no skip needed. */
	assert_int_equal(garp_build(NULL, guest_mac, ip, ARPOP_REQUEST, buf, 64), -EINVAL);
	assert_int_equal(garp_build("", guest_mac, ip, ARPOP_REQUEST, buf, 64), -EINVAL);
	assert_int_equal(garp_build(longname, guest_mac, ip, ARPOP_REQUEST, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", NULL, ip, ARPOP_REQUEST, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, ip, ARPOP_REQUEST, NULL, 64), -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, ip, ARPOP_REQUEST, buf, 0), -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, ip, ARPOP_REQUEST, buf,
				    GARP_FRAME_LEN - 1),
			 -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, ip, 0, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, ip, 3, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, ip, -1, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", zero, ip, ARPOP_REQUEST, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", mcast, ip, ARPOP_REQUEST, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", bcast, ip, ARPOP_REQUEST, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, 0, ARPOP_REQUEST, buf, 64), -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, 0xffffffffu, ARPOP_REQUEST, buf, 64),
			 -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, inet_addr("224.0.0.1"),
				    ARPOP_REQUEST, buf, 64),
			 -EINVAL);
	assert_int_equal(garp_build("lo", guest_mac, inet_addr("239.255.255.250"),
				    ARPOP_REPLY, buf, 64),
			 -EINVAL);
}

/* Checked with an ioctl before libnet: works without CAP_NET_RAW. */
static void test_build_no_such_interface(void **state)
{
	uint8_t buf[64];

	(void)state;
	assert_int_equal(garp_build("rrvmnosuch0", guest_mac, guest_ip,
				    ARPOP_REQUEST, buf, sizeof(buf)),
			 -ENODEV);
}

/* ----------------------------------------------------- garp_announce */

/* Every rejection happens before a socket is opened: nothing is sent. */
static void test_announce_bad_args(void **state)
{
	static const uint8_t mcast[6] = { 0x33, 0x33, 0, 0, 0, 1 };

	(void)state;
	assert_int_equal(garp_announce(NULL, guest_mac, guest_ip, 3, 20), -EINVAL);
	assert_int_equal(garp_announce("", guest_mac, guest_ip, 3, 20), -EINVAL);
	assert_int_equal(garp_announce("lo", NULL, guest_ip, 3, 20), -EINVAL);
	assert_int_equal(garp_announce("lo", mcast, guest_ip, 3, 20), -EINVAL);
	assert_int_equal(garp_announce("lo", guest_mac, 0, 3, 20), -EINVAL);
	assert_int_equal(garp_announce("lo", guest_mac, guest_ip, 0, 20), -EINVAL);
	assert_int_equal(garp_announce("lo", guest_mac, guest_ip,
				       GARP_MAX_COUNT + 1, 20),
			 -EINVAL);
	assert_int_equal(garp_announce("lo", guest_mac, guest_ip, 3,
				       GARP_MAX_INTERVAL_MS + 1),
			 -EINVAL);
}

static void test_announce_no_such_interface(void **state)
{
	(void)state;
	assert_int_equal(garp_announce("rrvmnosuch0", guest_mac, guest_ip, 3, 20),
			 -ENODEV);
}

/* -------------------------------------------------------- garp_parse */

static void test_parse_reference_frames(void **state)
{
	struct garp_info info;

	(void)state;
	assert_int_equal(garp_parse(want_request, sizeof(want_request), &info), 0);
	assert_int_equal(info.op, ARPOP_REQUEST);
	assert_memory_equal(info.eth_src, guest_mac, 6);
	assert_memory_equal(info.sender_mac, guest_mac, 6);
	assert_memory_equal(info.target_mac, "\0\0\0\0\0\0", 6);
	assert_int_equal(info.sender_ip_be, guest_ip);
	assert_int_equal(info.target_ip_be, guest_ip);
	assert_true(info.gratuitous);

	assert_int_equal(garp_parse(want_reply, sizeof(want_reply), &info), 0);
	assert_int_equal(info.op, ARPOP_REPLY);
	assert_memory_equal(info.target_mac, guest_mac, 6);
	assert_true(info.gratuitous);
}

/* An ordinary "who-has" is parsed too, and is not gratuitous. */
static void test_parse_ordinary_request(void **state)
{
	uint8_t f[GARP_FRAME_LEN];
	struct garp_info info;

	(void)state;
	memcpy(f, want_request, sizeof(f));
	memcpy(f + 38, "\x0a\x4d\x00\x01", 4); /* who-has 10.77.0.1 */
	assert_int_equal(garp_parse(f, sizeof(f), &info), 0);
	assert_false(info.gratuitous);
	assert_int_equal(info.target_ip_be, inet_addr("10.77.0.1"));
	assert_int_equal(info.sender_ip_be, guest_ip);
}

/* A wire frame padded to 60 bytes (plus junk): the tail is ignored. */
static void test_parse_padded(void **state)
{
	uint8_t f[64];
	struct garp_info info;

	(void)state;
	memset(f, 0x5a, sizeof(f));
	memcpy(f, want_reply, GARP_FRAME_LEN);
	assert_int_equal(garp_parse(f, 60, &info), 0);
	assert_int_equal(garp_parse(f, sizeof(f), &info), 0);
	assert_int_equal(info.op, ARPOP_REPLY);
}

/* Every truncation is rejected; the frame is read from a heap copy of
 * exactly that length so ASan catches any read past it. */
static void test_parse_truncated_every_length(void **state)
{
	struct garp_info info, before;

	(void)state;
	memset(&before, 0x77, sizeof(before));
	for (size_t len = 0; len < GARP_FRAME_LEN; len++) {
		uint8_t *f = malloc(len ? len : 1);

		assert_non_null(f);
		memcpy(f, want_request, len);
		info = before;
		assert_int_equal(garp_parse(f, len, &info), -EBADMSG);
		/* Failure leaves *out alone. */
		assert_memory_equal(&info, &before, sizeof(info));
		free(f);
	}
	{
		uint8_t *f = malloc(GARP_FRAME_LEN);

		assert_non_null(f);
		memcpy(f, want_request, GARP_FRAME_LEN);
		assert_int_equal(garp_parse(f, GARP_FRAME_LEN, &info), 0);
		free(f);
	}
}

static void test_parse_null_args(void **state)
{
	struct garp_info info;

	(void)state;
	assert_int_equal(garp_parse(NULL, GARP_FRAME_LEN, &info), -EINVAL);
	assert_int_equal(garp_parse(NULL, 0, &info), -EINVAL);
	assert_int_equal(garp_parse(want_request, sizeof(want_request), NULL),
			 -EINVAL);
}

/* Patch one 16-bit field of the reference frame; expect err. */
static void expect_patched16(size_t off, uint16_t v, int err)
{
	uint8_t f[GARP_FRAME_LEN];
	struct garp_info info;

	memcpy(f, want_request, sizeof(f));
	f[off] = (uint8_t)(v >> 8);
	f[off + 1] = (uint8_t)v;
	if (garp_parse(f, sizeof(f), &info) != err) {
		print_message("field at %zu = 0x%04x: want %d\n", off, v, err);
		fail();
	}
}

static void expect_patched8(size_t off, uint8_t v, int err)
{
	uint8_t f[GARP_FRAME_LEN];
	struct garp_info info;

	memcpy(f, want_request, sizeof(f));
	f[off] = v;
	if (garp_parse(f, sizeof(f), &info) != err) {
		print_message("byte at %zu = 0x%02x: want %d\n", off, v, err);
		fail();
	}
}

static void test_parse_wrong_ethertype(void **state)
{
	(void)state;
	expect_patched16(12, 0x0800, -EPROTONOSUPPORT); /* IPv4 */
	expect_patched16(12, 0x8035, -EPROTONOSUPPORT); /* RARP */
	expect_patched16(12, 0x8100, -EPROTONOSUPPORT); /* 802.1Q tag */
	expect_patched16(12, 0x86dd, -EPROTONOSUPPORT); /* IPv6 */
	expect_patched16(12, 0x0000, -EPROTONOSUPPORT);
	expect_patched16(12, 0x0608, -EPROTONOSUPPORT); /* byte-swapped ARP */
}

static void test_parse_wrong_types(void **state)
{
	(void)state;
	expect_patched16(14, 0x0006, -EPROTONOSUPPORT); /* IEEE 802 */
	expect_patched16(14, 0x0000, -EPROTONOSUPPORT);
	expect_patched16(14, 0x0100, -EPROTONOSUPPORT); /* byte-swapped */
	expect_patched16(16, 0x86dd, -EPROTONOSUPPORT); /* IPv6 */
	expect_patched16(16, 0x0806, -EPROTONOSUPPORT);
	expect_patched16(16, 0x0008, -EPROTONOSUPPORT);
}

static void test_parse_wrong_lengths(void **state)
{
	(void)state;
	expect_patched8(18, 0, -EBADMSG);
	expect_patched8(18, 5, -EBADMSG);
	expect_patched8(18, 8, -EBADMSG);
	expect_patched8(18, 0xff, -EBADMSG);
	expect_patched8(19, 0, -EBADMSG);
	expect_patched8(19, 6, -EBADMSG);
	expect_patched8(19, 16, -EBADMSG);
}

static void test_parse_wrong_op(void **state)
{
	(void)state;
	expect_patched16(20, 0, -EPROTONOSUPPORT);
	expect_patched16(20, 3, -EPROTONOSUPPORT); /* RARP request */
	expect_patched16(20, 8, -EPROTONOSUPPORT); /* InARP */
	expect_patched16(20, 0x0100, -EPROTONOSUPPORT); /* byte-swapped */
	expect_patched16(20, 0xffff, -EPROTONOSUPPORT);
}

/* Random frames, some with a valid header: parse must never read out of
 * bounds (ASan), must accept only what a consistent frame looks like. */
static void test_parse_random(void **state)
{
	struct garp_info info;
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % 70);
		uint8_t *f = malloc(len ? len : 1);
		int ret;

		assert_non_null(f);
		for (size_t j = 0; j < len; j++)
			f[j] = (uint8_t)rand_r(&seed);
		/* Half the time, start from a valid header. */
		if (rand_r(&seed) & 1)
			memcpy(f, want_request, len < 22 ? len : 22);
		ret = garp_parse(f, len, &info);
		if (ret == 0) {
			assert_true(len >= GARP_FRAME_LEN);
			assert_memory_equal(f + 12, "\x08\x06\x00\x01\x08\x00\x06\x04", 8);
			assert_true(info.op == ARPOP_REQUEST || info.op == ARPOP_REPLY);
		} else {
			assert_true(ret == -EBADMSG || ret == -EPROTONOSUPPORT);
		}
		free(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_request_exact),
		cmocka_unit_test(test_build_reply_exact),
		cmocka_unit_test(test_build_other_address),
		cmocka_unit_test(test_build_then_parse),
		cmocka_unit_test(test_build_bad_args),
		cmocka_unit_test(test_build_no_such_interface),
		cmocka_unit_test(test_announce_bad_args),
		cmocka_unit_test(test_announce_no_such_interface),
		cmocka_unit_test(test_parse_reference_frames),
		cmocka_unit_test(test_parse_ordinary_request),
		cmocka_unit_test(test_parse_padded),
		cmocka_unit_test(test_parse_truncated_every_length),
		cmocka_unit_test(test_parse_null_args),
		cmocka_unit_test(test_parse_wrong_ethertype),
		cmocka_unit_test(test_parse_wrong_types),
		cmocka_unit_test(test_parse_wrong_lengths),
		cmocka_unit_test(test_parse_wrong_op),
		cmocka_unit_test(test_parse_random),
	};

	/* The failure cases log one line each by design; keep the rest quiet. */
	log_set_level(LOG_ERROR);
	log_set_component("test_garp");
	return cmocka_run_group_tests_name("garp", tests, setup, NULL);
}
