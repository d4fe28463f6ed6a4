/* SPDX-License-Identifier: MIT */
/*
 * Deterministic TCP initial sequence numbers. lwIP's default adds its tick
 * counter, so a connection whose SYN is replayed after a failover would get
 * a different ISN than the one the client already saw, and the client's
 * replayed ACKs would not match. Here the ISN depends only on guest state
 * that a checkpoint carries (a per-boot secret and a connection counter) and
 * on the 4-tuple, so the same input in the same order yields the same ISN.
 * The counter still separates reuses of a 4-tuple.
 */
#include "guest/net/lwip_hooks.h"

static u32_t isn_secret;
static u32_t isn_count;

static u32_t mix32(u32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

u32_t guest_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
		    const ip_addr_t *remote_ip, u16_t remote_port)
{
	u32_t h;

	if (!isn_secret) {
		u32_t lo, hi;

		__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
		isn_secret = mix32(lo ^ hi) | 1;
	}
	h = mix32(isn_secret ^ ip_addr_get_ip4_u32(local_ip));
	h = mix32(h ^ ip_addr_get_ip4_u32(remote_ip));
	h = mix32(h ^ ((u32_t)local_port << 16 | remote_port));
	/* 64 KiB apart per connection, as RFC 6528's clock would space them. */
	return h + (isn_count++ << 16);
}
