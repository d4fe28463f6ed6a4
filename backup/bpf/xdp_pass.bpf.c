/* SPDX-License-Identifier: MIT */
/*
 * An XDP program that passes every frame, for the far end of a veth that
 * the ring-buffer capture (capture_ringbuf.bpf.c) forwards into with
 * XDP_REDIRECT: a veth takes redirected frames only when its peer runs
 * NAPI, which a native XDP program turns on (so does GRO, but GRO would
 * merge the very frames the primary digests one by one, and an attached
 * XDP program keeps GRO off). Real NICs need nothing of the kind. The
 * testbed attaches it to the primary's uplink in the inline topology
 * (experiments/lib/testbed.sh; docs/testbed.md):
 *   ip link set dev eth0 xdpdrv obj build/bpf/xdp_pass.bpf.o sec xdp
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int rrvm_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* "Dual MIT/GPL" is GPL-compatible for the verifier, MIT for the project. */
char _license[] SEC("license") = "Dual MIT/GPL";
