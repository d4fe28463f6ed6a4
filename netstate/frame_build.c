/* SPDX-License-Identifier: MIT */
/* Frame builder (netstate/frame_build.h): byte-exact, checksums filled. */
#include "netstate/frame_build.h"

#include <errno.h>
#include <string.h>

#include "netstate/frame.h"

#define IPV4_MAX_TOTAL 65535u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Sum of 16-bit big-endian words, not yet folded or complemented: the
 * pseudo-header and the segment are summed separately and then joined. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t frame_inet_checksum(const void *data, size_t len, uint32_t sum)
{
	return fold(sum16(data, len, sum));
}

static size_t l4_hlen(const struct frame_spec *s)
{
	if (s->proto == FRAME_IPPROTO_TCP)
		return FRAME_TCP_MIN_HLEN + s->tcp_opts_len;
	return FRAME_UDP_HLEN;
}

size_t frame_build_len(const struct frame_spec *s)
{
	return FRAME_ETH_HLEN + (s->vlan ? FRAME_VLAN_HLEN : 0) +
	       FRAME_IPV4_MIN_HLEN + l4_hlen(s) + s->payload_len;
}

int frame_build(uint8_t *buf, size_t cap, const struct frame_spec *s)
{
	size_t need, off = FRAME_ETH_HLEN, l4len, total;
	uint8_t *ip, *l4;
	uint32_t sum;

	if (!buf || !s || (s->payload_len && !s->payload))
		return -EINVAL;
	if (s->proto != FRAME_IPPROTO_TCP && s->proto != FRAME_IPPROTO_UDP)
		return -EINVAL;
	if (s->proto == FRAME_IPPROTO_TCP &&
	    (s->tcp_opts_len % 4 || s->tcp_opts_len > 40 ||
	     (s->tcp_opts_len && !s->tcp_opts)))
		return -EINVAL;
	l4len = l4_hlen(s) + s->payload_len;
	total = FRAME_IPV4_MIN_HLEN + l4len;
	if (total > IPV4_MAX_TOTAL)
		return -EINVAL;
	need = frame_build_len(s);
	if (need > cap)
		return -ENOSPC;

	memcpy(buf, s->dst_mac, 6);
	memcpy(buf + 6, s->src_mac, 6);
	if (s->vlan) {
		put16(buf + 12, FRAME_ETHERTYPE_VLAN);
		put16(buf + 14, s->vlan_tci);
		off += FRAME_VLAN_HLEN;
	}
	put16(buf + off - 2, FRAME_ETHERTYPE_IPV4);

	ip = buf + off;
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)total);
	put16(ip + 4, s->ip_id);
	put16(ip + 6, 0x4000); /* DF, as Linux and lwIP send TCP */
	ip[8] = s->ttl ? s->ttl : 64;
	ip[9] = s->proto;
	put16(ip + 10, 0);
	memcpy(ip + 12, &s->src_ip, 4);
	memcpy(ip + 16, &s->dst_ip, 4);
	put16(ip + 10, frame_inet_checksum(ip, FRAME_IPV4_MIN_HLEN, 0));

	l4 = ip + FRAME_IPV4_MIN_HLEN;
	put16(l4, s->sport);
	put16(l4 + 2, s->dport);
	if (s->proto == FRAME_IPPROTO_TCP) {
		put32(l4 + 4, s->seq);
		put32(l4 + 8, s->ack);
		l4[12] = (uint8_t)((l4_hlen(s) / 4) << 4);
		l4[13] = s->flags;
		put16(l4 + 14, s->window);
		put16(l4 + 16, 0);
		put16(l4 + 18, 0);
		if (s->tcp_opts_len)
			memcpy(l4 + FRAME_TCP_MIN_HLEN, s->tcp_opts,
			       s->tcp_opts_len);
	} else {
		put16(l4 + 4, (uint16_t)l4len);
		put16(l4 + 6, 0);
	}
	if (s->payload_len)
		memcpy(l4 + l4_hlen(s), s->payload, s->payload_len);

	/* Pseudo-header: addresses, protocol, L4 length. */
	sum = sum16(ip + 12, 8, 0) + s->proto + (uint32_t)l4len;
	sum = sum16(l4, l4len, sum);
	put16(l4 + (s->proto == FRAME_IPPROTO_TCP ? 16 : 6), fold(sum));
	if (s->proto == FRAME_IPPROTO_UDP && !(l4[6] | l4[7]))
		put16(l4 + 6, 0xffff); /* 0 means "no checksum" in UDP */
	return (int)need;
}
