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
#include "capture_filter.bpf.h"

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

CAPTURE_BPF_COUNTERS(CAPTURE_XDP_CNT_MAX);

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
	if (!guest_wanted(cfg, eth, end)) {
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
