/* SPDX-License-Identifier: MIT */
/*
 * Gratuitous ARP at failover: after the backup restores the guest, it
 * announces the guest's IP/MAC so the LAN switch moves the guest MAC to the
 * backup's port and clients refresh the ARP entries they already hold.
 * Frames are built with libnet 1.1.6 (link layer, advanced mode) and sent
 * on a packet socket; docs/arp.md explains what is sent and who reacts.
 */
#ifndef RRVM_ARP_GARP_H
#define RRVM_ARP_GARP_H

#include <net/if_arp.h>	/* ARPOP_REQUEST, ARPOP_REPLY */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ethernet header (14) + ARP for Ethernet/IPv4 (28); no padding is added:
 * the NIC pads to the 60-byte minimum on real wires, veths carry 42. */
#define GARP_FRAME_LEN 42

/* What the failover path sends: 3 frames, 20 ms apart (~40 ms in all). */
#define GARP_DEFAULT_COUNT 3
#define GARP_DEFAULT_INTERVAL_MS 20
/* Guards against a configuration mistake stalling failover for minutes. */
#define GARP_MAX_COUNT 64
#define GARP_MAX_INTERVAL_MS 10000

/*
 * Build one gratuitous ARP frame announcing ip_be/mac into buf: Ethernet
 * destination broadcast, source mac, ethertype ARP; ARP sender = mac/ip,
 * target IP = ip. op is ARPOP_REQUEST (target MAC zero: the RFC 5227
 * announcement, what the Linux kernel itself sends) or ARPOP_REPLY (target
 * MAC = mac, as `arping -A` sends: the only reply form Linux treats as
 * gratuitous; docs/arp.md has the measurements).
 *
 * libnet needs an initialised link-layer context even just to build, so
 * ifname must name an existing interface that is up ("lo" is fine when only
 * building) and the caller needs CAP_NET_RAW (libnet opens a packet socket).
 * Nothing is sent.
 *
 * Returns the frame length (GARP_FRAME_LEN) or a negative errno:
 *  -EINVAL  NULL/empty/too long ifname, NULL mac or buf, cap < 42, op not
 *           request/reply, mac not a unicast address (zero, multicast or
 *           broadcast: bridges drop such sources), ip 0.0.0.0, multicast or
 *           255.255.255.255 (never a guest's address). Not logged.
 *  -ENODEV  no such interface; -ENETDOWN interface down; -EPERM no
 *           CAP_NET_RAW; -EIO other libnet failure. Logged (one line).
 */
int garp_build(const char *ifname, const uint8_t mac[6], uint32_t ip_be,
	       int op, uint8_t *buf, size_t cap);

/*
 * Send `count` announcements of ip_be/mac on ifname, `interval_ms` apart on
 * a monotonic schedule (the first at once, the k-th at k * interval_ms), in
 * alternating request/reply form starting with the request, so listeners
 * that only honour one of the two forms all update. Blocks for about
 * (count - 1) * interval_ms.
 *
 * ifname is where the frames leave: on failover the bridge the guest's TAP
 * is enslaved to (a broadcast sent on a bridge device is flooded out of all
 * its ports, the uplink included). count is 1..GARP_MAX_COUNT, interval_ms
 * at most GARP_MAX_INTERVAL_MS.
 *
 * Returns 0 when every frame was handed to the kernel, else the first
 * failure as a negative errno (the errors of garp_build, or the send's
 * errno: -ENETDOWN, -ENOBUFS, ...). A send failure does not stop the
 * remaining frames: on failover, a late frame beats none. Every failure is
 * reported by exactly one log_error line naming the interface and cause;
 * success by one log_info line. An interface without carrier gets a
 * log_warn (the frames are sent but reach nobody).
 */
int garp_announce(const char *ifname, const uint8_t mac[6], uint32_t ip_be,
		  unsigned count, unsigned interval_ms);

/* An Ethernet/ARP(Ethernet, IPv4) frame, decoded. IPs in network order. */
struct garp_info {
	uint8_t eth_dst[6];
	uint8_t eth_src[6];
	uint16_t op;		/* ARPOP_REQUEST or ARPOP_REPLY */
	uint8_t sender_mac[6];
	uint32_t sender_ip_be;
	uint8_t target_mac[6];
	uint32_t target_ip_be;
	bool gratuitous;	/* sender IP == target IP */
};

/*
 * Decode and validate an untagged Ethernet frame carrying an ARP request
 * or reply for Ethernet/IPv4 (trailing bytes, e.g. padding to 60, are
 * ignored). Pure: no libnet, no I/O; for tests and diagnostics.
 *
 * Returns 0 and fills *out, or a negative errno and leaves *out untouched:
 *  -EINVAL           frame or out NULL
 *  -EBADMSG          shorter than 42 bytes, or hardware/protocol address
 *                    lengths other than 6/4
 *  -EPROTONOSUPPORT  not ARP (ethertype, incl. 802.1Q-tagged), hardware
 *                    type not Ethernet, protocol type not IPv4, or an op
 *                    other than request/reply
 */
int garp_parse(const uint8_t *frame, size_t len, struct garp_info *out);

#endif
