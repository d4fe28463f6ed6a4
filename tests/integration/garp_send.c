/* SPDX-License-Identifier: MIT */
/*
 * Test driver for tests/integration/test_garp.sh: one garp_announce() call
 * from the command line, so the namespace test exercises the same code the
 * backup runs at failover.
 *
 *   garp_send [-c COUNT] [-i INTERVAL_MS] [-v] DEV IP MAC
 *
 * Exit status: 0 sent, 1 garp_announce failed (its one log line says why),
 * 2 usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arp/garp.h"
#include "common/log.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: garp_send [-c COUNT] [-i INTERVAL_MS] [-v] DEV IP MAC\n");
	return 2;
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > 1000000)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Exactly xx:xx:xx:xx:xx:xx. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	int n = 0;

	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &n) != 6 ||
	    n != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

int main(int argc, char **argv)
{
	unsigned count = GARP_DEFAULT_COUNT, interval = GARP_DEFAULT_INTERVAL_MS;
	struct in_addr ip;
	uint8_t mac[6];
	int opt;

	log_set_component("garp_send");
	while ((opt = getopt(argc, argv, "c:i:v")) != -1) {
		switch (opt) {
		case 'c':
			if (parse_uint(optarg, &count))
				return usage();
			break;
		case 'i':
			if (parse_uint(optarg, &interval))
				return usage();
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 3)
		return usage();
	if (inet_pton(AF_INET, argv[optind + 1], &ip) != 1) {
		fprintf(stderr, "garp_send: bad IPv4 address '%s'\n",
			argv[optind + 1]);
		return 2;
	}
	if (parse_mac(argv[optind + 2], mac)) {
		fprintf(stderr, "garp_send: bad MAC address '%s'\n",
			argv[optind + 2]);
		return 2;
	}
	return garp_announce(argv[optind], mac, ip.s_addr, count, interval) ?
		       1 : 0;
}
