/* SPDX-License-Identifier: MIT */
#include "netstate/guest_filter.h"

#include <string.h>

#include "netstate/frame.h"

static bool is_broadcast(const uint8_t *mac)
{
	return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}

/* Same rule, same offsets as bcast_wanted() in bpf/capture_filter.bpf.h. */
static bool arp_for(const uint8_t *frame, size_t len, uint32_t ip)
{
	const uint8_t *arp = frame + FRAME_ETH_HLEN;

	if (len < FRAME_ETH_HLEN + FRAME_ARP_ETH_IPV4_LEN)
		return false;
	if (frame[12] != (FRAME_ETHERTYPE_ARP >> 8) ||
	    frame[13] != (FRAME_ETHERTYPE_ARP & 0xff))
		return false;
	/* ptype IPv4, plen 4 */
	if (arp[2] != 0x08 || arp[3] != 0x00 || arp[5] != 4)
		return false;
	return memcmp(arp + 24, &ip, 4) == 0;
}

bool guest_filter_wants(const struct guest_filter *g, const uint8_t *frame,
			size_t len)
{
	if (len < FRAME_ETH_HLEN)
		return false;
	if (memcmp(frame, g->mac, 6) == 0)
		return true;
	if (!is_broadcast(frame))
		return false;
	return !g->ip || arp_for(frame, len, g->ip);
}
