/* SPDX-License-Identifier: MIT */
/*
 * What the XDP capture program (backup/bpf/capture_xdp.bpf.c) and its loader
 * (backup/capture_xdp.c) agree on: program and map names, the layout of the
 * config map's one value, and the counter slots. Included by both, so only
 * <linux/types.h> types here (the BPF side has no libc).
 */
#ifndef RRVM_CAPTURE_SHARED_H
#define RRVM_CAPTURE_SHARED_H

#include <linux/types.h>

/*
 * The loader finds a program left behind by a dead process by this name
 * (bpf_prog_info.name keeps 15 characters: keep it short).
 */
#define CAPTURE_XDP_PROG_NAME "rrvm_capture"
#define CAPTURE_XDP_SECTION   "xdp"

/* Map names, as the loader looks them up in the object and in the kernel. */
#define CAPTURE_XDP_MAP_XSKS "rrvm_xsks"
#define CAPTURE_XDP_MAP_CFG  "rrvm_cfg"
#define CAPTURE_XDP_MAP_CNT  "rrvm_cnt"

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
	__u32 pad2; /* owner_start is 8-aligned on both sides anyway */
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

#endif
