/* SPDX-License-Identifier: MIT */
/*
 * Which frames the XDP capture programs take (capture_xdp.bpf.c,
 * capture_ringbuf.bpf.c): the same rule as netstate/guest_filter.c, so the
 * primary digests exactly what a capture takes. BPF side only.
 */
#ifndef RRVM_CAPTURE_FILTER_BPF_H
#define RRVM_CAPTURE_FILTER_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>

#include "../capture_shared.h"

/*
 * CAPTURE_BPF_COUNTERS(N): the program's per-CPU counter array rrvm_cnt of
 * N slots (per CPU so counting costs no atomic; the loader sums the CPUs)
 * and count(slot). Needs <bpf/bpf_helpers.h>.
 */
#define CAPTURE_BPF_COUNTERS(nslots)                                      \
	struct {                                                           \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                   \
		__uint(max_entries, nslots);                               \
		__type(key, __u32);                                        \
		__type(value, __u64);                                      \
	} rrvm_cnt SEC(".maps");                                           \
	static __always_inline void count(__u32 slot)                     \
	{                                                                  \
		__u64 *v = bpf_map_lookup_elem(&rrvm_cnt, &slot);          \
		if (v)                                                     \
			*v += 1;                                           \
	}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] &&
	       a[4] == b[4] && a[5] == b[5];
}

static __always_inline int mac_is_bcast(const __u8 *a)
{
	return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}

/* Ethernet/IPv4 ARP as it appears after the Ethernet header. */
struct arp_ipv4 {
	__be16 htype, ptype;
	__u8 hlen, plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

/* Is this broadcast one the guest must see? */
static __always_inline int bcast_wanted(const struct capture_xdp_config *cfg,
					const struct ethhdr *eth,
					const void *end)
{
	const struct arp_ipv4 *arp = (const void *)(eth + 1);
	__u32 tpa;

	if (!(cfg->flags & CAPTURE_XDP_F_ARP_IP))
		return 1;
	if (eth->h_proto != bpf_htons(ETH_P_ARP))
		return 0;
	if ((const void *)(arp + 1) > end)
		return 0;
	if (arp->ptype != bpf_htons(ETH_P_IP) || arp->plen != 4)
		return 0;
	__builtin_memcpy(&tpa, arp->tpa, 4);
	return tpa == cfg->guest_ip4;
}

/* A frame for the guest: its MAC, or a broadcast it must see. */
static __always_inline int guest_wanted(const struct capture_xdp_config *cfg,
					const struct ethhdr *eth,
					const void *end)
{
	return mac_eq(eth->h_dest, cfg->guest_mac) ||
	       (mac_is_bcast(eth->h_dest) && bcast_wanted(cfg, eth, end));
}

#endif
