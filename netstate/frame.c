/* SPDX-License-Identifier: MIT */
/*
 * Defensive frame parser (netstate/frame.h). Every read goes through a
 * length that was checked against what the layer above said was there:
 * the captured length bounds the IPv4 header and total length, the IPv4
 * total length bounds L4. Fields are read byte by byte (no unaligned
 * loads, no casts of the buffer to header structs).
 */
#include "netstate/frame.h"

#include <errno.h>
#include <string.h>

#define ARP_HTYPE_ETHER 1

/* TCP option kinds we decode; the rest are only walked over. */
#define TCPOPT_EOL     0
#define TCPOPT_NOP     1
#define TCPOPT_MSS     2
#define TCPOPT_WSCALE  3
#define TCPOPT_SACK_OK 4
#define TCPOPT_TS      8
#define TCP_MAX_WSCALE 14 /* RFC 7323 2.3: larger values mean 14 */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Addresses stay in network byte order: copy the bytes as they are. */
static uint32_t ip_raw(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/*
 * Walk an IPv4 or TCP option list (same TLV shape): EOL ends it, NOP is a
 * single byte, everything else is kind, length (>= 2, within the list).
 * A length that runs past the header is what a malicious or corrupted
 * frame looks like, and stacks differ on how they recover, so reject it.
 * `fi` is NULL for IPv4 (nothing decoded there).
 */
static int walk_options(const uint8_t *o, size_t n, struct frame_info *fi)
{
	size_t i = 0;

	while (i < n) {
		uint8_t kind = o[i], olen;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			i++;
			continue;
		}
		if (n - i < 2)
			return -EINVAL;
		olen = o[i + 1];
		if (olen < 2 || olen > n - i)
			return -EINVAL;
		/* A known kind with the wrong length is ignored, as Linux
		 * does: the TLV structure itself is sound. */
		if (fi) {
			if (kind == TCPOPT_MSS && olen == 4) {
				fi->tcp.mss = be16(o + i + 2);
			} else if (kind == TCPOPT_WSCALE && olen == 3) {
				uint8_t s = o[i + 2];

				fi->tcp.wscale =
				    (int8_t)(s > TCP_MAX_WSCALE ? TCP_MAX_WSCALE
								: s);
			} else if (kind == TCPOPT_SACK_OK && olen == 2) {
				fi->tcp.sack_ok = true;
			} else if (kind == TCPOPT_TS && olen == 10) {
				fi->tcp.has_ts = true;
				fi->tcp.ts_val = be32(o + i + 2);
				fi->tcp.ts_ecr = be32(o + i + 6);
			}
		}
		i += olen;
	}
	return 0;
}

static int parse_arp(struct frame_info *fi, size_t off)
{
	const uint8_t *p = fi->data + off;
	size_t avail = fi->len - off;

	/* The fixed part says what the rest should look like. */
	if (avail < 8)
		return -EINVAL;
	if (be16(p) != ARP_HTYPE_ETHER || be16(p + 2) != FRAME_ETHERTYPE_IPV4 ||
	    p[4] != 6 || p[5] != 4)
		return 0; /* another hardware/protocol pair: not ours */
	if (avail < FRAME_ARP_ETH_IPV4_LEN)
		return -EINVAL;
	fi->arp.op = be16(p + 6);
	memcpy(fi->arp.sha, p + 8, 6);
	fi->arp.spa = ip_raw(p + 14);
	memcpy(fi->arp.tha, p + 18, 6);
	fi->arp.tpa = ip_raw(p + 24);
	fi->l3 = FRAME_L3_ARP;
	return 0;
}

static int parse_tcp(struct frame_info *fi)
{
	const uint8_t *p = fi->data + fi->l4_off;
	size_t n = fi->l4_len, hlen;
	int err;

	if (n < FRAME_TCP_MIN_HLEN)
		return -EINVAL;
	hlen = (size_t)(p[12] >> 4) * 4;
	if (hlen < FRAME_TCP_MIN_HLEN || hlen > n)
		return -EINVAL;
	err =
	    walk_options(p + FRAME_TCP_MIN_HLEN, hlen - FRAME_TCP_MIN_HLEN, fi);
	if (err)
		return err;
	fi->tcp.sport = be16(p);
	fi->tcp.dport = be16(p + 2);
	fi->tcp.seq = be32(p + 4);
	fi->tcp.ack = be32(p + 8);
	fi->tcp.hdr_len = (uint8_t)hlen;
	fi->tcp.flags = p[13];
	fi->tcp.window = be16(p + 14);
	fi->tcp.payload_len = (uint32_t)(n - hlen);
	fi->tcp.payload = fi->tcp.payload_len ? p + hlen : NULL;
	fi->l4 = FRAME_L4_TCP;
	return 0;
}

static int parse_udp(struct frame_info *fi)
{
	const uint8_t *p = fi->data + fi->l4_off;
	uint16_t ulen;

	if (fi->l4_len < FRAME_UDP_HLEN)
		return -EINVAL;
	ulen = be16(p + 4);
	/* Shorter than the IPv4 payload is legal (the rest is ignored, as
	 * Linux trims it); longer is a lie about what was sent. */
	if (ulen < FRAME_UDP_HLEN || ulen > fi->l4_len)
		return -EINVAL;
	fi->udp.sport = be16(p);
	fi->udp.dport = be16(p + 2);
	fi->udp.len = ulen;
	fi->udp.payload_len = ulen - FRAME_UDP_HLEN;
	fi->udp.payload = fi->udp.payload_len ? p + FRAME_UDP_HLEN : NULL;
	fi->l4 = FRAME_L4_UDP;
	return 0;
}

static int parse_icmp(struct frame_info *fi)
{
	const uint8_t *p = fi->data + fi->l4_off;

	if (fi->l4_len < FRAME_ICMP_MIN_LEN)
		return -EINVAL;
	fi->icmp.type = p[0];
	fi->icmp.code = p[1];
	if (p[0] == 0 || p[0] == 8) { /* echo reply / request */
		fi->icmp.id = be16(p + 4);
		fi->icmp.seq = be16(p + 6);
	}
	fi->l4 = FRAME_L4_ICMP;
	return 0;
}

static int parse_ipv4(struct frame_info *fi, size_t off)
{
	const uint8_t *p = fi->data + off;
	size_t avail = fi->len - off, hlen, total;
	uint16_t frag;
	int err;

	if (avail < FRAME_IPV4_MIN_HLEN)
		return -EINVAL;
	hlen = (size_t)(p[0] & 0x0f) * 4;
	total = be16(p + 2);
	if (p[0] >> 4 != 4 || hlen < FRAME_IPV4_MIN_HLEN || hlen > avail)
		return -EINVAL;
	/* A total length beyond the capture means we did not get the whole
	 * packet (snap length, truncation): its L4 would be a guess. */
	if (total < hlen || total > avail)
		return -EINVAL;
	err = walk_options(p + FRAME_IPV4_MIN_HLEN, hlen - FRAME_IPV4_MIN_HLEN,
			   NULL);
	if (err)
		return err;

	fi->ip.off = off;
	fi->ip.tos = p[1];
	fi->ip.hdr_len = (uint16_t)hlen;
	fi->ip.total_len = (uint16_t)total;
	fi->ip.id = be16(p + 4);
	frag = be16(p + 6);
	fi->ip.dont_frag = frag & 0x4000;
	fi->ip.more_frags = frag & 0x2000;
	fi->ip.frag_off = frag & 0x1fff;
	fi->ip.ttl = p[8];
	fi->ip.proto = p[9];
	fi->ip.src = ip_raw(p + 12);
	fi->ip.dst = ip_raw(p + 16);
	fi->l3 = FRAME_L3_IPV4;

	/* Even a first fragment (offset 0, MF) carries only part of the
	 * segment: treating it as a TCP segment would invent its length. */
	if (fi->ip.more_frags || fi->ip.frag_off) {
		fi->ip.fragment = true;
		return 0;
	}
	fi->l4_off = off + hlen;
	fi->l4_len = total - hlen;
	switch (fi->ip.proto) {
	case FRAME_IPPROTO_TCP:
		return parse_tcp(fi);
	case FRAME_IPPROTO_UDP:
		return parse_udp(fi);
	case FRAME_IPPROTO_ICMP:
		return parse_icmp(fi);
	default:
		fi->l4 = FRAME_L4_OTHER;
		return 0;
	}
}

int frame_parse(const uint8_t *data, size_t len, struct frame_info *fi)
{
	size_t off = FRAME_ETH_HLEN;
	uint16_t type;

	if (!fi)
		return -EINVAL;
	memset(fi, 0, sizeof(*fi));
	fi->tcp.wscale = -1;
	fi->data = data;
	fi->len = data ? len : 0;
	if (!data || len < FRAME_ETH_HLEN)
		return -EINVAL;
	memcpy(fi->eth_dst, data, 6);
	memcpy(fi->eth_src, data + 6, 6);
	type = be16(data + 12);
	if (type == FRAME_ETHERTYPE_VLAN || type == FRAME_ETHERTYPE_QINQ) {
		if (len < FRAME_ETH_HLEN + FRAME_VLAN_HLEN)
			return -EINVAL;
		fi->vlan = true;
		fi->vlan_tci = be16(data + 14);
		type = be16(data + 16);
		off += FRAME_VLAN_HLEN;
	}
	/* A second tag is reported as its ethertype and not parsed. */
	fi->ethertype = type;
	switch (type) {
	case FRAME_ETHERTYPE_ARP:
		return parse_arp(fi, off);
	case FRAME_ETHERTYPE_IPV4:
		return parse_ipv4(fi, off);
	default:
		return 0;
	}
}

bool frame_ipv4_checksum_ok(const struct frame_info *fi)
{
	const uint8_t *p;
	uint32_t sum = 0;

	if (!fi || fi->l3 != FRAME_L3_IPV4)
		return false;
	p = fi->data + fi->ip.off;
	for (size_t i = 0; i + 1 < fi->ip.hdr_len; i += 2)
		sum += be16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

int frame_flow_key(const struct frame_info *fi, uint32_t guest_ip,
		   struct flow_key *key, enum frame_dir *dir)
{
	enum frame_dir d;
	uint16_t sport, dport;

	if (!fi || !key || fi->l3 != FRAME_L3_IPV4)
		return -ENOENT;
	if (fi->l4 == FRAME_L4_TCP) {
		sport = fi->tcp.sport;
		dport = fi->tcp.dport;
	} else if (fi->l4 == FRAME_L4_UDP) {
		sport = fi->udp.sport;
		dport = fi->udp.dport;
	} else {
		return -ENOENT;
	}
	if (fi->ip.dst == guest_ip)
		d = FRAME_DIR_TO_GUEST;
	else if (fi->ip.src == guest_ip)
		d = FRAME_DIR_FROM_GUEST;
	else
		return -ENOENT;

	memset(key, 0, sizeof(*key));
	key->proto = fi->ip.proto;
	key->guest_ip = guest_ip;
	if (d == FRAME_DIR_TO_GUEST) {
		key->client_ip = fi->ip.src;
		key->client_port = sport;
		key->guest_port = dport;
	} else {
		key->client_ip = fi->ip.dst;
		key->client_port = dport;
		key->guest_port = sport;
	}
	if (dir)
		*dir = d;
	return 0;
}
