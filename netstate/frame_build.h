/* SPDX-License-Identifier: MIT */
/*
 * Building Ethernet + IPv4 + TCP/UDP frames with valid checksums, for the
 * unit tests, the fuzz target's seeds and diagnostics. The inverse of
 * frame_parse for the frames netstate cares about; it does not send
 * anything.
 */
#ifndef RRVM_NETSTATE_FRAME_BUILD_H
#define RRVM_NETSTATE_FRAME_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct frame_spec {
	uint8_t dst_mac[6], src_mac[6];
	bool vlan; /* one 802.1Q tag with vlan_tci */
	uint16_t vlan_tci;
	uint32_t src_ip, dst_ip; /* network byte order */
	uint8_t proto;		 /* FRAME_IPPROTO_TCP or FRAME_IPPROTO_UDP */
	uint8_t ttl;		 /* 0 means 64 */
	uint16_t ip_id;
	uint16_t sport, dport;
	/* TCP only */
	uint32_t seq, ack;
	uint8_t flags; /* FRAME_TCP_* */
	uint16_t window;
	const uint8_t *tcp_opts; /* raw option bytes, padded to 4 */
	size_t tcp_opts_len;	 /* multiple of 4, at most 40 */
	const void *payload;
	size_t payload_len;
};

/* The frame's length for spec (no Ethernet padding is added). */
size_t frame_build_len(const struct frame_spec *s);

/*
 * Write the frame into buf (capacity cap). Returns its length, -EINVAL
 * for an unsupported protocol, bad option length or a payload that does
 * not fit an IPv4 packet, -ENOSPC when cap is too small.
 */
int frame_build(uint8_t *buf, size_t cap, const struct frame_spec *s);

/* The Internet checksum (RFC 1071) of len bytes, folded into `sum`
 * (start with 0); returns the complemented 16-bit result. */
uint16_t frame_inet_checksum(const void *data, size_t len, uint32_t sum);

#endif
