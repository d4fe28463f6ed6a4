/* SPDX-License-Identifier: MIT */
/*
 * The backup's ring-buffer capture program (loaded by
 * backup/capture_ringbuf.c; docs/capture.md).
 *
 * Frames for the protected guest - the same rule as capture_xdp.bpf.c and
 * netstate/guest_filter.c: destination MAC == the guest's, plus broadcasts
 * (all, or only ARP asking for the guest's IPv4) - are copied into one BPF
 * ring buffer shared by every CPU (one global order), and then:
 *   F_STEAL|F_FORWARD (inline): sent on with XDP_REDIRECT to the forward
 *       interface. The record is committed before the redirect is even
 *       asked for, so no frame reaches the primary unlogged;
 *   F_STEAL (inline, the caller forwards): dropped;
 *   neither (mirror port): dropped - nobody else needs the copies.
 * A matching frame that cannot be logged (ring full, budget used up, too
 * long for a record) is dropped and counted, never forwarded.
 * Everything else is passed to the kernel untouched.
 *
 * Wake-ups, not copies, are the cost of a ring buffer here: by default a
 * record wakes the reader only when wake_bytes or more are waiting; the
 * reader polls with a short timeout and drains on demand.
 *
 * Built apart from the host code:
 *   clang -O2 -g -mcpu=v3 -target bpf -I/usr/include/x86_64-linux-gnu \
 *       -c backup/bpf/capture_ringbuf.bpf.c -o build/bpf/capture_ringbuf.bpf.o
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../capture_shared.h"
#include "capture_filter.bpf.h"

/* The size is set by the loader (bpf_map__set_max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} rrvm_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct capture_xdp_config);
} rrvm_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct capture_rb_budget);
} rrvm_budget SEC(".maps");

/* Key 0: the forward interface (F_FORWARD). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rrvm_fwd SEC(".maps");

CAPTURE_BPF_COUNTERS(CAPTURE_RB_CNT_MAX);

/*
 * Take one frame of `bytes` from the budget, or refuse. Concurrent CPUs
 * may both be refused where one would fit; none is ever admitted beyond
 * what user space granted.
 */
static __always_inline int budget_take(struct capture_rb_budget *b, __u64 bytes)
{
	__u64 f, y;

	f = __sync_fetch_and_add(&b->used_frames, 1);
	if (f + 1 > *(volatile __u64 *)&b->granted_frames)
		goto undo_frame;
	y = __sync_fetch_and_add(&b->used_bytes, bytes);
	if (y + bytes > *(volatile __u64 *)&b->granted_bytes)
		goto undo_bytes;
	return 0;
undo_bytes:
	__sync_fetch_and_sub(&b->used_bytes, bytes);
undo_frame:
	__sync_fetch_and_sub(&b->used_frames, 1);
	return -1;
}

static __always_inline void budget_return(struct capture_rb_budget *b,
					  __u64 bytes)
{
	__sync_fetch_and_sub(&b->used_bytes, bytes);
	__sync_fetch_and_sub(&b->used_frames, 1);
}

/* Wake the reader only when the record just added crossed wake_bytes. */
static __always_inline __u64 wake_flags(__u32 wake_bytes, __u32 size)
{
	__u64 avail;

	if (!wake_bytes)
		return 0;
	avail = bpf_ringbuf_query(&rrvm_ring, BPF_RB_AVAIL_DATA);
	/*
	 * Records of several CPUs may cross together: a window of 1/16
	 * instead of one record, so one of them wakes; past it, the
	 * reader is awake or its poll timeout comes.
	 */
	if (avail >= wake_bytes &&
	    avail < wake_bytes + (wake_bytes >> 4) + size)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/*
 * Copy the frame into a record of SIZE bytes (a constant after inlining:
 * the verifier wants one at reserve). 0, or -1 if the ring is full.
 */
#define LOG_FRAME(ctx, len, wake, SIZE)                                        \
	({                                                                     \
		struct capture_rb_record *rec;                                 \
		__u32 n = (len);                                               \
		int ret = -1;                                                  \
		rec = bpf_ringbuf_reserve(&rrvm_ring, (SIZE), 0);              \
		if (rec) {                                                     \
			barrier_var(n);                                        \
			if (n >= ETH_HLEN && n <= (SIZE) - sizeof(*rec) &&     \
			    bpf_xdp_load_bytes((ctx), 0, rec->data, n) == 0) { \
				rec->mono_ns = bpf_ktime_get_ns();             \
				rec->len = n;                                  \
				rec->queue = (ctx)->rx_queue_index;            \
				count(CAPTURE_RB_CNT_LOGGED);                  \
				bpf_ringbuf_submit(rec,                        \
						   wake_flags(wake, SIZE));    \
				ret = 0;                                       \
			} else {                                               \
				bpf_ringbuf_discard(rec, BPF_RB_NO_WAKEUP);    \
				ret = -2;                                      \
			}                                                      \
		}                                                              \
		ret;                                                           \
	})

static __always_inline int log_frame(struct xdp_md *ctx, __u32 len, __u32 wake)
{
	if (len <= 128 - sizeof(struct capture_rb_record))
		return LOG_FRAME(ctx, len, wake, 128);
	if (len <= 512 - sizeof(struct capture_rb_record))
		return LOG_FRAME(ctx, len, wake, 512);
	return LOG_FRAME(ctx, len, wake, CAPTURE_RB_RECORD_MAX);
}

SEC("xdp")
int rrvm_capture_rb(struct xdp_md *ctx)
{
	const void *data = (const void *)(long)ctx->data;
	const void *end = (const void *)(long)ctx->data_end;
	const struct ethhdr *eth = data;
	const struct capture_xdp_config *cfg;
	struct capture_rb_budget *budget;
	__u32 key = 0, len;
	int ret;

	cfg = bpf_map_lookup_elem(&rrvm_cfg, &key);
	budget = bpf_map_lookup_elem(&rrvm_budget, &key);
	if (!cfg || !budget || !(cfg->flags & CAPTURE_XDP_F_ENABLED))
		return XDP_PASS;
	if ((const void *)(eth + 1) > end) {
		count(CAPTURE_RB_CNT_RUNT);
		return XDP_PASS;
	}
	if (!guest_wanted(cfg, eth, end)) {
		count(CAPTURE_RB_CNT_PASSED);
		return XDP_PASS;
	}
	len = bpf_xdp_get_buff_len(ctx);
	if (len > CAPTURE_RB_FRAME_MAX) {
		count(CAPTURE_RB_CNT_TOO_LONG);
		return XDP_DROP;
	}
	if (budget_take(budget, len)) {
		count(CAPTURE_RB_CNT_HELD);
		return XDP_DROP;
	}
	ret = log_frame(ctx, len, cfg->wake_bytes);
	if (ret) {
		budget_return(budget, len);
		count(ret == -1 ? CAPTURE_RB_CNT_RING_FULL
				: CAPTURE_RB_CNT_TOO_LONG);
		return XDP_DROP;
	}
	if ((cfg->flags & (CAPTURE_XDP_F_STEAL | CAPTURE_XDP_F_FORWARD)) ==
	    (CAPTURE_XDP_F_STEAL | CAPTURE_XDP_F_FORWARD)) {
		ret = bpf_redirect_map(&rrvm_fwd, 0, XDP_DROP);
		count(ret == XDP_REDIRECT ? CAPTURE_RB_CNT_FORWARDED
					  : CAPTURE_RB_CNT_FWD_FAILED);
		return ret;
	}
	return XDP_DROP;
}

/* "Dual MIT/GPL" is GPL-compatible for the verifier, MIT for the project. */
char _license[] SEC("license") = "Dual MIT/GPL";
