/* SPDX-License-Identifier: MIT */
/*
 * Which client->guest frames reverse replication keeps track of: those
 * addressed to the guest's MAC, and broadcast ARP asking for its IPv4
 * address. The backup's capture takes exactly these (the XDP programs'
 * rule in backup/bpf/capture_filter.bpf.h, the pcap filter, the mirror
 * topology's tc rule), so the primary digests exactly these too: a frame the guest was
 * handed but no capture would take (another host's ARP request, IPv6
 * multicast the IPv4-only guest drops) must not count as a capture gap.
 */
#ifndef RRVM_NETSTATE_GUEST_FILTER_H
#define RRVM_NETSTATE_GUEST_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_filter {
	uint8_t mac[6];
	uint32_t ip; /* network byte order; 0: every broadcast */
};

bool guest_filter_wants(const struct guest_filter *g, const uint8_t *frame,
			size_t len);

#endif
