/* SPDX-License-Identifier: MIT */
/*
 * netstate/guest_filter.c: the primary digests exactly the frames the
 * backup's capture takes (same rule as backup/bpf/capture_xdp.bpf.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "netstate/guest_filter.h"

static const uint8_t GUEST_MAC[6] = {0x52, 0x54, 0x00, 0x77, 0x00, 0x02};
static const uint8_t OTHER_MAC[6] = {0x02, 0x77, 0x00, 0x00, 0x00, 0x01};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t IPV6_MCAST[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
static const uint8_t GUEST_IP[4] = {10, 77, 0, 2};
static const uint8_t OTHER_IP[4] = {10, 77, 0, 11};

/* An Ethernet frame to dst with ethertype; ARP request for tpa if ARP. */
static size_t frame(uint8_t *f, const uint8_t *dst, uint16_t type,
		    const uint8_t *tpa)
{
	memset(f, 0, 64);
	memcpy(f, dst, 6);
	memcpy(f + 6, OTHER_MAC, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	if (type == 0x0806) {
		uint8_t *a = f + 14;

		a[1] = 1;		/* htype Ethernet */
		a[2] = 0x08, a[3] = 0; /* ptype IPv4 */
		a[4] = 6, a[5] = 4;
		a[7] = 1; /* request */
		memcpy(a + 8, OTHER_MAC, 6);
		memcpy(a + 14, OTHER_IP, 4);
		memcpy(a + 24, tpa, 4);
	}
	return 60;
}

static struct guest_filter guest(void)
{
	struct guest_filter g;

	memcpy(g.mac, GUEST_MAC, 6);
	memcpy(&g.ip, GUEST_IP, 4);
	return g;
}

static void test_unicast(void **state)
{
	struct guest_filter g = guest();
	uint8_t f[64];

	(void)state;
	assert_true(guest_filter_wants(&g, f, frame(f, GUEST_MAC, 0x0800, NULL)));
	assert_false(guest_filter_wants(&g, f, frame(f, OTHER_MAC, 0x0800, NULL)));
	assert_false(guest_filter_wants(&g, f, frame(f, IPV6_MCAST, 0x86dd, NULL)));
}

static void test_broadcast_arp(void **state)
{
	struct guest_filter g = guest();
	uint8_t f[64];
	size_t n;

	(void)state;
	assert_true(guest_filter_wants(&g, f, frame(f, BCAST, 0x0806, GUEST_IP)));
	/* Another host's ARP request and any other broadcast: not ours. */
	assert_false(guest_filter_wants(&g, f, frame(f, BCAST, 0x0806, OTHER_IP)));
	assert_false(guest_filter_wants(&g, f, frame(f, BCAST, 0x0800, NULL)));
	/* Not IPv4-over-Ethernet ARP. */
	n = frame(f, BCAST, 0x0806, GUEST_IP);
	f[14 + 5] = 16;
	assert_false(guest_filter_wants(&g, f, n));
	/* Without a guest IP every broadcast counts (the capture's rule). */
	g.ip = 0;
	assert_true(guest_filter_wants(&g, f, frame(f, BCAST, 0x0800, NULL)));
}

static void test_truncated(void **state)
{
	struct guest_filter g = guest();
	uint8_t f[64];

	(void)state;
	frame(f, BCAST, 0x0806, GUEST_IP);
	/* The target address cut off, then the Ethernet header itself. */
	assert_false(guest_filter_wants(&g, f, 14 + 27));
	assert_true(guest_filter_wants(&g, f, 14 + 28));
	frame(f, GUEST_MAC, 0x0800, NULL);
	assert_false(guest_filter_wants(&g, f, 13));
	assert_true(guest_filter_wants(&g, f, 14));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unicast),
	    cmocka_unit_test(test_broadcast_arp),
	    cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
