/* SPDX-License-Identifier: MIT */
/*
 * Defensive parsing of one captured Ethernet frame (docs/netstate.md).
 *
 * The backup parses frames it did not produce: whatever a client, a switch
 * or a capture backend hands it. frame_parse() never reads outside
 * [data, data + len), never allocates, and describes what it understood:
 * Ethernet (at most one 802.1Q / 802.1ad tag), ARP (Ethernet/IPv4), IPv4
 * (options walked, total length checked against what was captured,
 * fragments flagged), and in an unfragmented IPv4 packet ICMP, TCP
 * (options walked, the common ones decoded) or UDP.
 *
 * Conventions: IPv4 addresses are in network byte order (as in struct
 * in_addr's s_addr, which is what the rest of rrvm passes around); ports,
 * sequence numbers and every other field are in host byte order.
 */
#ifndef RRVM_NETSTATE_FRAME_H
#define RRVM_NETSTATE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_ETH_HLEN	       14
#define FRAME_VLAN_HLEN	       4
#define FRAME_IPV4_MIN_HLEN    20
#define FRAME_TCP_MIN_HLEN     20
#define FRAME_UDP_HLEN	       8
#define FRAME_ICMP_MIN_LEN     8
#define FRAME_ARP_ETH_IPV4_LEN 28

#define FRAME_ETHERTYPE_IPV4 0x0800
#define FRAME_ETHERTYPE_ARP  0x0806
#define FRAME_ETHERTYPE_VLAN 0x8100 /* 802.1Q */
#define FRAME_ETHERTYPE_QINQ 0x88a8 /* 802.1ad outer tag */

#define FRAME_IPPROTO_ICMP 1
#define FRAME_IPPROTO_TCP  6
#define FRAME_IPPROTO_UDP  17

#define FRAME_TCP_FIN 0x01
#define FRAME_TCP_SYN 0x02
#define FRAME_TCP_RST 0x04
#define FRAME_TCP_PSH 0x08
#define FRAME_TCP_ACK 0x10
#define FRAME_TCP_URG 0x20
#define FRAME_TCP_ECE 0x40
#define FRAME_TCP_CWR 0x80

/* How far a frame was understood. NONE at L3 means "not ARP/IPv4, or an
 * ARP that is not Ethernet/IPv4": not an error. */
enum frame_l3 { FRAME_L3_NONE = 0, FRAME_L3_ARP, FRAME_L3_IPV4 };
enum frame_l4 {
	FRAME_L4_NONE = 0, /* no IPv4, or a fragment */
	FRAME_L4_ICMP,
	FRAME_L4_TCP,
	FRAME_L4_UDP,
	FRAME_L4_OTHER, /* another IP protocol: ip.proto says which */
};

struct frame_info {
	const uint8_t *data; /* the frame given to frame_parse */
	size_t len;

	uint8_t eth_dst[6], eth_src[6];
	uint16_t ethertype; /* the inner one when tagged */
	bool vlan;
	uint16_t vlan_tci;
	enum frame_l3 l3;
	enum frame_l4 l4;

	struct {
		uint16_t op;
		uint8_t sha[6], tha[6];
		uint32_t spa, tpa; /* network byte order */
	} arp;

	struct {
		uint32_t src, dst; /* network byte order */
		uint8_t proto, ttl, tos;
		uint16_t id;
		uint16_t hdr_len; /* IHL * 4, options included */
		uint16_t total_len;
		uint16_t frag_off; /* in 8-byte units */
		bool more_frags, dont_frag;
		bool fragment; /* MF or an offset: L4 is not parsed */
		size_t off;    /* of the IPv4 header in data */
	} ip;

	/* ICMP, TCP or UDP header and payload (l4 says which is valid). */
	size_t l4_off, l4_len; /* l4_len: up to the IPv4 total length */

	struct {
		uint8_t type, code;
		uint16_t id, seq; /* echo request/reply only */
	} icmp;

	struct {
		uint16_t sport, dport;
		uint32_t seq,
		    ack; /* ack is meaningful only with FRAME_TCP_ACK */
		uint8_t flags;
		uint16_t window; /* as sent: not scaled */
		uint8_t hdr_len; /* data offset * 4 */
		uint16_t mss;	 /* 0: no MSS option */
		int8_t wscale;	 /* -1: no window-scale option; else 0..14 */
		bool sack_ok, has_ts;
		uint32_t ts_val, ts_ecr;
		const uint8_t *payload; /* NULL when payload_len is 0 */
		uint32_t payload_len;
	} tcp;

	struct {
		uint16_t sport, dport, len; /* len: the UDP length field */
		const uint8_t *payload;
		uint32_t payload_len;
	} udp;
};

/*
 * Parse `len` bytes at `data` into *out (always fully written).
 * Returns 0 with whatever was understood (an unknown ethertype or IP
 * protocol is not an error), or -EINVAL when a layer that was recognised
 * is malformed or truncated: short Ethernet/VLAN header, ARP shorter than
 * its Ethernet/IPv4 form, IPv4 version != 4, IHL < 5, header or total
 * length beyond the captured bytes, total length < header length, bad
 * IPv4 or TCP option lengths, ICMP < 8 bytes, TCP data offset < 5 or beyond
 * the IPv4 payload, UDP length < 8 or beyond the IPv4 payload. On error
 * l3/l4 name only the layers that parsed cleanly; nothing in *out points
 * outside the frame. Bytes after the IPv4 total length (Ethernet padding)
 * are ignored.
 */
int frame_parse(const uint8_t *data, size_t len, struct frame_info *out);

/* The IPv4 header checksum verifies (l3 must be IPV4; false otherwise).
 * frame_parse does not check it: a capture on the sending host sees
 * frames before checksum offload fills them in. */
bool frame_ipv4_checksum_ok(const struct frame_info *fi);

/* Sequence space a TCP segment occupies: payload plus one for SYN and
 * one for FIN (RFC 793). */
static inline uint32_t frame_tcp_seg_len(const struct frame_info *fi)
{
	return fi->tcp.payload_len + !!(fi->tcp.flags & FRAME_TCP_SYN) +
	       !!(fi->tcp.flags & FRAME_TCP_FIN);
}

/* Which way a guest flow's frame travels. */
enum frame_dir {
	FRAME_DIR_NONE = 0,
	FRAME_DIR_TO_GUEST,   /* client -> guest */
	FRAME_DIR_FROM_GUEST, /* guest -> client */
};

/* A TCP or UDP flow with the guest at one end, the same key for both
 * directions. The guest's address is part of it so that a key alone names
 * the 4-tuple. */
struct flow_key {
	uint32_t client_ip, guest_ip; /* network byte order */
	uint16_t client_port, guest_port;
	uint8_t proto; /* FRAME_IPPROTO_TCP or FRAME_IPPROTO_UDP */
};

/*
 * The direction-independent key of a parsed frame, given the guest's IPv4
 * address (network byte order). Returns 0 and sets *key (and *dir when
 * dir is not NULL), or -ENOENT when the frame is not an unfragmented IPv4
 * TCP/UDP frame to or from guest_ip. A frame from the guest to itself
 * counts as TO_GUEST.
 */
int frame_flow_key(const struct frame_info *fi, uint32_t guest_ip,
		   struct flow_key *key, enum frame_dir *dir);

static inline bool flow_key_equal(const struct flow_key *a,
				  const struct flow_key *b)
{
	return a->client_ip == b->client_ip && a->guest_ip == b->guest_ip &&
	       a->client_port == b->client_port &&
	       a->guest_port == b->guest_port && a->proto == b->proto;
}

#endif
