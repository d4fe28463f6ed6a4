/* SPDX-License-Identifier: MIT */
/*
 * What the XDP capture programs (backup/bpf/capture_xdp.bpf.c for AF_XDP,
 * backup/bpf/capture_ringbuf.bpf.c for the BPF ring buffer) and their
 * loaders (backup/capture_prog.c, capture_xdp.c, capture_ringbuf.c) agree
 * on: program and map names, the layout of the config map's one value, the
 * counter slots, the ring buffer's records. Included by both sides, so only
 * <linux/types.h> types here (the BPF side has no libc).
 */
#ifndef RRVM_CAPTURE_SHARED_H
#define RRVM_CAPTURE_SHARED_H

#include <linux/types.h>

/*
 * The loader finds a program left behind by a dead process by these names
 * (bpf_prog_info.name keeps 15 characters: keep them short).
 */
#define CAPTURE_XDP_PROG_NAME "rrvm_capture"
#define CAPTURE_RB_PROG_NAME  "rrvm_capture_rb"
#define CAPTURE_XDP_SECTION   "xdp"

/* Map names, as the loader looks them up in the object and in the kernel. */
#define CAPTURE_XDP_MAP_XSKS "rrvm_xsks"
#define CAPTURE_XDP_MAP_CFG  "rrvm_cfg"
#define CAPTURE_XDP_MAP_CNT  "rrvm_cnt"
/* The ring-buffer program: the same config map, plus these. */
#define CAPTURE_RB_MAP_RING   "rrvm_ring"
#define CAPTURE_RB_MAP_FWD    "rrvm_fwd"
#define CAPTURE_RB_MAP_BUDGET "rrvm_budget"

/* One XSK per receive queue, indexed by queue id. */
#define CAPTURE_XDP_MAX_QUEUES 64

/* capture_xdp_config.flags */
/* Until the loader has written the config, the program passes everything. */
#define CAPTURE_XDP_F_ENABLED 0x1
/*
 * A matching frame that cannot be redirected (no socket bound on its queue)
 * is dropped instead of passed: in the inline topology a frame the kernel
 * forwarded on its own would reach the primary without being logged.
 */
#define CAPTURE_XDP_F_STEAL 0x2
/* Broadcasts: only ARP whose target protocol address is guest_ip4. */
#define CAPTURE_XDP_F_ARP_IP 0x4
/*
 * Ring buffer, with STEAL: a logged frame is sent on with XDP_REDIRECT
 * through rrvm_fwd (key 0) instead of being dropped.
 */
#define CAPTURE_XDP_F_FORWARD 0x8

struct capture_xdp_config {
	__u8 guest_mac[6];
	__u16 pad;
	__u32 flags;
	__u32 guest_ip4; /* network byte order; used with F_ARP_IP */
	/*
	 * Who attached the program (the program never reads these): a later
	 * open tells a live owner (refuse) from a dead one (replace the stale
	 * program). owner_start is field 22 of /proc/PID/stat, so a recycled
	 * PID does not pass for the owner.
	 */
	__u32 owner_pid;
	/*
	 * Ring buffer: wake the reader only once this many bytes wait (0: the
	 * kernel's default, a wake-up whenever the reader has caught up).
	 */
	__u32 wake_bytes;
	__u64 owner_start;
};

/* Slots of the per-CPU counter array. */
enum capture_xdp_counter {
	CAPTURE_XDP_CNT_REDIRECTED = 0, /* matched, handed to the XSK map */
	CAPTURE_XDP_CNT_MISSED,		/* matched, no socket on the queue */
	CAPTURE_XDP_CNT_PASSED,		/* not for the guest: XDP_PASS */
	CAPTURE_XDP_CNT_RUNT,		/* shorter than an Ethernet header */
	CAPTURE_XDP_CNT_MAX
};

/* ------------------------------------------------ the ring-buffer program */

/* Slots of its per-CPU counter array. */
enum capture_rb_counter {
	CAPTURE_RB_CNT_LOGGED = 0, /* matched, committed to the ring */
	CAPTURE_RB_CNT_FORWARDED,  /* logged, then XDP_REDIRECT accepted */
	CAPTURE_RB_CNT_FWD_FAILED, /* logged, redirect refused: dropped */
	CAPTURE_RB_CNT_RING_FULL,  /* matched, no room in the ring: dropped */
	CAPTURE_RB_CNT_HELD,	   /* matched, budget used up: dropped */
	CAPTURE_RB_CNT_TOO_LONG,   /* matched, longer than a record: dropped */
	CAPTURE_RB_CNT_PASSED,	   /* not for the guest: XDP_PASS */
	CAPTURE_RB_CNT_RUNT,	   /* shorter than an Ethernet header */
	CAPTURE_RB_CNT_MAX
};

/*
 * One frame in the ring. Records come in a few fixed sizes (the verifier
 * wants a constant size at reserve): the smallest that holds the frame.
 */
struct capture_rb_record {
	__u64 mono_ns; /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	__u32 len;     /* frame bytes in data[] */
	__u32 queue;   /* receive queue */
	__u8 data[];
};

#define CAPTURE_RB_RECORD_MAX 2048u
/* The longest frame a record holds (frames at MTU 1500 are <= 1518). */
#define CAPTURE_RB_FRAME_MAX                                                   \
	(CAPTURE_RB_RECORD_MAX - (__u32)sizeof(struct capture_rb_record))

/*
 * Admission control, shared with user space by mmap: the program logs (and
 * forwards) a frame only while its cumulative use stays within what user
 * space granted, so everything in the ring always fits the replay log and
 * no frame is forwarded that the log will not hold. The program adds to
 * used_*; user space raises granted_* (cumulative frames/bytes it has
 * taken from the ring plus the room left in its log).
 */
struct capture_rb_budget {
	__u64 granted_frames;
	__u64 granted_bytes;
	__u64 used_frames;
	__u64 used_bytes;
};

#endif
