/* SPDX-License-Identifier: MIT */
/*
 * Network bring-up and the guest's main loop. One loop iteration = feed RX
 * frames to lwIP, run lwIP timers and service tickers, then one wait
 * hypercall that both flushes our TX frames and sleeps until the next frame
 * or deadline. That is what keeps a request/response at one VM exit.
 */
#include <stdint.h>
#include <string.h>

#include "guest/net/net.h"
#include "guest/runtime/runtime.h"
#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/timeouts.h"

static struct netif guest_netif;

static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int v = 0;

		for (int j = 0; j < 2; j++) {
			char c = *s++;

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return -1;
		}
		mac[i] = (uint8_t)v;
		if (i < 5 && *s++ != ':')
			return -1;
	}
	return *s ? -1 : 0;
}

static int parse_ip_prefix(const char *s, uint32_t *ip, uint32_t *mask)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	int prefix = 32;
	ip4_addr_t a;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!ip4addr_aton(buf, &a))
		return -1;
	if (slash) {
		prefix = 0;
		for (const char *p = slash + 1; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			prefix = prefix * 10 + (*p - '0');
			if (prefix > 32)
				return -1;
		}
	}
	*ip = a.addr;
	*mask = prefix ? lwip_htonl(0xffffffffu << (32 - prefix)) : 0;
	return 0;
}

int net_start(void)
{
	const char *ip_s = guest_option("ip"), *mac_s = guest_option("mac");
	const char *gw_s = guest_option("gw");
	uint32_t ip, mask, gw = 0;
	uint8_t mac[6];
	ip4_addr_t g;

	if (!ip_s || parse_ip_prefix(ip_s, &ip, &mask)) {
		printf("guest: bad or missing ip= option\n");
		return -1;
	}
	if (!mac_s || parse_mac(mac_s, mac)) {
		printf("guest: bad or missing mac= option\n");
		return -1;
	}
	if (gw_s) {
		if (!ip4addr_aton(gw_s, &g)) {
			printf("guest: bad gw= option\n");
			return -1;
		}
		gw = g.addr;
	}
	lwip_init();
	if (vnic_netif_add(&guest_netif, mac, ip, mask, gw)) {
		printf("guest: NIC rings are invalid\n");
		return -1;
	}
	return 0;
}

void net_main_loop(void)
{
	for (;;) {
		uint64_t now, deadline, lwip_deadline;
		u32_t sleep_ms;

		vnic_poll_rx(&guest_netif);
		sys_check_timeouts();
		now = guest_now_ns();
		deadline = svc_run_tickers(now);
		sleep_ms = sys_timeouts_sleeptime();
		if (sleep_ms != SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
			lwip_deadline = now + (uint64_t)sleep_ms * 1000000u;
			if (lwip_deadline < deadline)
				deadline = lwip_deadline;
		}
		/* Never ask to sleep forever: 0 means "do not sleep". */
		if (deadline == UINT64_MAX)
			deadline = now + 1000000000u;
		if (deadline <= now)
			deadline = 0;
		guest_wait(deadline);
	}
}
