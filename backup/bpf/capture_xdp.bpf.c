/* SPDX-License-Identifier: MIT */
/*
 * The backup's XDP capture program (loaded by backup/capture_xdp.c).
 *
 * Frames for the protected guest - destination MAC == the guest's, plus
 * broadcasts (all of them, or only ARP asking for the guest's IPv4) - are
 * redirected to the AF_XDP socket bound on the receive queue they arrived
 * on. Everything else is passed to the kernel untouched. A redirected
 * frame never reaches the kernel stack: that is what lets the inline
 * topology log a frame before it is forwarded, and why the mirror topology
 * uses a dedicated mirror port.
 *
 * Built apart from the host code (it is not matched by backup/ *.c):
 *   clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu \
 *       -c backup/bpf/capture_xdp.bpf.c -o build/bpf/capture_xdp.bpf.o
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../capture_shared.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, CAPTURE_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} rrvm_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_xdp_config);
} rrvm_cfg SEC(".maps");

/* Per CPU so counting costs no atomic; the loader sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CAPTURE_XDP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rrvm_cnt SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&rrvm_cnt, &slot);

	if (v)
		*v += 1;
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

SEC("xdp")
int rrvm_capture(struct xdp_md *ctx)
{
	const void *data = (const void *)(long)ctx->data;
	const void *end = (const void *)(long)ctx->data_end;
	const struct ethhdr *eth = data;
	const struct capture_xdp_config *cfg;
	__u32 key = 0;
	int ret;

	cfg = bpf_map_lookup_elem(&rrvm_cfg, &key);
	if (!cfg || !(cfg->flags & CAPTURE_XDP_F_ENABLED))
		return XDP_PASS;
	if ((const void *)(eth + 1) > end) {
		count(CAPTURE_XDP_CNT_RUNT);
		return XDP_PASS;
	}
	if (!mac_eq(eth->h_dest, cfg->guest_mac) &&
	    !(mac_is_bcast(eth->h_dest) && bcast_wanted(cfg, eth, end))) {
		count(CAPTURE_XDP_CNT_PASSED);
		return XDP_PASS;
	}
	/* flags 0: a missing socket gives XDP_ABORTED, which we count. */
	ret = bpf_redirect_map(&rrvm_xsks, ctx->rx_queue_index, 0);
	if (ret == XDP_REDIRECT) {
		count(CAPTURE_XDP_CNT_REDIRECTED);
		return ret;
	}
	count(CAPTURE_XDP_CNT_MISSED);
	return (cfg->flags & CAPTURE_XDP_F_STEAL) ? XDP_DROP : XDP_PASS;
}

/* "Dual MIT/GPL" is GPL-compatible for the verifier, MIT for the project. */
char _license[] SEC("license") = "Dual MIT/GPL";
