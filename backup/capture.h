/* SPDX-License-Identifier: MIT */
/*
 * Capture of the client->guest frame stream on the backup, behind one small
 * ops table with three backends (docs/capture.md):
 *
 *   "ringbuf" our XDP program (backup/bpf/capture_ringbuf.bpf.c, native
 *           mode) copies matching frames into a BPF ring buffer the backup
 *           maps, then (inline) forwards them itself with XDP_REDIRECT to
 *           cfg->inject_ifname or drops them: FORWARDED IN THE KERNEL.
 *   "xdp"   AF_XDP through libxdp with our own XDP program
 *           (backup/bpf/capture_xdp.bpf.c): matching frames are redirected
 *           to the socket - the kernel never sees them (they are STOLEN).
 *   "pcap"  libpcap, immediate mode, in-kernel filter: matching frames are
 *           COPIED; the kernel delivers them as usual.
 *   "auto"  (capture_open only) the first of ringbuf, xdp, pcap that opens.
 *
 * Matching frames: destination MAC == the guest's, plus broadcasts (all of
 * them, or with guest_ip4 set only ARP whose target is the guest's IPv4).
 * Only received frames are captured, never ones this host sends.
 *
 * Threads: poll and inject run one at a time (they share rings without
 * locks; a caller polling from two threads serialises them, as
 * backup/reverse.c does); inject may be called from inside the poll
 * callback (the inline topology forwards each frame once it is logged).
 * stats and grant may be called from any thread at any time (a control
 * socket, a commit). open/close: nothing else may run on the handle.
 */
#ifndef RRVM_CAPTURE_H
#define RRVM_CAPTURE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"

/* Defaults (capture_config_init). */
#define CAPTURE_SNAPLEN_DEFAULT	    2048u
#define CAPTURE_RING_DEFAULT	    8192u /* xdp: rx and fill ring frames */
#define CAPTURE_TX_RING_DEFAULT	    512u  /* xdp: tx and completion ring */
#define CAPTURE_PCAP_BUFFER_DEFAULT (32u << 20)
/* ringbuf: wake the reader once this much waits; poll at least this often */
#define CAPTURE_WAKE_BYTES_DEFAULT (256u << 10)
#define CAPTURE_WAKE_MS_DEFAULT	   10u

enum capture_xdp_mode {
	CAPTURE_XDP_AUTO = 0, /* native (driver) mode, else SKB (generic) */
	CAPTURE_XDP_SKB,
	CAPTURE_XDP_NATIVE,
};

struct capture_config {
	/*
	 * Longest frame delivered, in bytes. A longer frame is not delivered
	 * (a truncated frame can be neither logged faithfully nor forwarded):
	 * it is counted in drops_user (pcap) or drops_kernel (xdp: the kernel
	 * drops what does not fit a UMEM frame, frame size minus 256 bytes of
	 * XDP headroom; snaplen 2048 gives 1792 on the wire, enough for
	 * a 1500-byte MTU).
	 */
	uint32_t snaplen;
	uint32_t ring_frames; /* xdp: rx/fill ring size, power of two */
	uint32_t tx_frames;   /* xdp: tx/completion ring size, power of 2 */
	/*
	 * Kernel capture buffer. pcap: its ring; ringbuf: the BPF ring
	 * buffer (a power of two, at least 64 KiB; rounded down).
	 */
	uint32_t buffer_bytes;
	/*
	 * ringbuf: a record wakes the reader only when wake_bytes wait (0:
	 * whenever the reader has caught up, a wake-up per burst), so the
	 * reader must poll at least every wake_ms (capture_wake_ms).
	 */
	uint32_t wake_bytes;
	uint32_t wake_ms;
	bool promisc;	/* frames for the guest MAC are not ours */
	bool immediate; /* pcap: deliver each frame at once */
	/*
	 * The inline topology needs matching frames kept from the kernel
	 * (the backup forwards them itself once logged). xdp always steals;
	 * with steal set, a frame it cannot hand to a socket is dropped
	 * rather than passed. pcap cannot steal: with steal set, pcap
	 * refuses a bridge or bridge port (-EOPNOTSUPP), where the kernel
	 * would forward the frame unlogged. ringbuf with steal and an
	 * inject_ifname forwards each logged frame there in the kernel
	 * (capture_forwards); without steal it drops what it logged.
	 */
	bool steal;
	enum capture_xdp_mode xdp_mode;
	uint32_t guest_ip4; /* network order; 0: capture every broadcast */
	/* xdp: receive queues to bind, 0 = all of the device's */
	uint32_t queues;
	/*
	 * xdp: the BPF object. NULL: $RRVM_XDP_OBJ, else bpf/ then ../bpf/
	 * next to the executable (build/rrvm -> build/bpf/capture_xdp.bpf.o).
	 */
	const char *xdp_obj;
	/* ringbuf: its object; NULL: $RRVM_RINGBUF_OBJ, else as xdp_obj. */
	const char *ringbuf_obj;
	/*
	 * Where inject sends: NULL = out of the capture interface (xdp: the
	 * XSK TX ring; pcap: pcap_inject; ringbuf: a packet socket); else a
	 * packet socket on this one (opened and used by capture.c). ringbuf
	 * with steal also forwards there itself, with XDP_REDIRECT.
	 */
	const char *inject_ifname;
};

/* One received frame; data is valid only during the callback. */
struct capture_frame {
	const uint8_t *data;
	size_t len;
	uint64_t ts_ns;	  /* CLOCK_REALTIME; xdp: when poll read the batch */
	uint64_t mono_ns; /* CLOCK_MONOTONIC at capture, 0 if unknown */
};

/*
 * Cumulative since open. After the rings are drained, for every backend:
 *   matched == frames + drops_kernel + drops_user + held
 * (pcap: matched is ps_recv, which libpcap counts as it likes; see
 * docs/capture.md).
 */
struct capture_stats {
	uint64_t frames;       /* delivered to the callback */
	uint64_t bytes;	       /* their lengths */
	uint64_t matched;      /* accepted by the in-kernel filter */
	uint64_t drops_kernel; /* matched, lost before user space */
	uint64_t drops_user;   /* received, not delivered (too long) */
	uint64_t drops_iface;  /* pcap: ps_ifdrop (whole interface); xdp: 0 */
	uint64_t filtered;     /* seen, not for the guest (xdp; pcap: 0) */
	uint64_t injected;     /* frames inject handed to the kernel */
	/* ringbuf only (0 elsewhere): */
	uint64_t forwarded;	 /* logged, then redirected by the kernel */
	uint64_t forward_errors; /* logged, redirect refused (dropped) */
	uint64_t held;		 /* refused: the consumer's room (grant) */
	uint64_t pending;	 /* logged in the kernel, not delivered yet */
};

struct capture;

typedef void (*capture_cb)(void *arg, const struct capture_frame *f);

struct capture_ops {
	const char *name; /* "xdp" | "pcap" */
	/* 0 or -errno (logged with the reason). cfg NULL: defaults. */
	int (*open)(struct capture **out, const char *ifname,
		    const uint8_t guest_mac[6],
		    const struct capture_config *cfg);
	/* Readable when frames wait. Owned by the handle: do not close. */
	int (*fd)(struct capture *c);
	/*
	 * Deliver up to max (> 0) frames to cb without blocking. Returns
	 * the number delivered, 0 if none, or -errno.
	 */
	int (*poll)(struct capture *c, int max, capture_cb cb, void *arg);
	/*
	 * Send one whole Ethernet frame (no FCS): 0 once the kernel has it,
	 * -EAGAIN when its queue is full (try again after a poll), -EMSGSIZE,
	 * or another -errno.
	 */
	int (*inject)(struct capture *c, const void *frame, size_t len);
	void (*stats)(struct capture *c, struct capture_stats *out);
	/*
	 * Optional. Stop taking frames off the kernel's path, at once: every
	 * frame then goes where it would without capture. For failover,
	 * where close() (an XDP detach and socket teardown: tens of ms of
	 * RCU grace periods here) would sit on the critical path; close()
	 * still runs later.
	 */
	void (*quiesce)(struct capture *c);
	/*
	 * Optional (backends that forward in the kernel): the consumer has
	 * room for `frames` more frames of `bytes` in total beyond those
	 * delivered so far; matching frames beyond that are held back
	 * (dropped, counted in held) rather than forwarded unlogged.
	 */
	void (*grant)(struct capture *c, uint64_t frames, uint64_t bytes);
	/* Detaches the XDP program too. NULL is fine. */
	void (*close)(struct capture *c);
};

/*
 * Every backend's handle starts with this. The backend sets ops; the rest
 * is the shared layer's (backup/capture.c), set by capture_open.
 */
struct capture {
	const struct capture_ops *ops;
	/*
	 * Set by the backend's open. forwards: with steal, matching frames
	 * are forwarded by the kernel once logged (do not inject them).
	 * wake_ms: frames may wait this long in the kernel without the fd
	 * waking (poll at least this often); 0: it wakes for each burst.
	 */
	bool forwards;
	uint32_t wake_ms;
	int inject_fd;	     /* packet socket on cfg->inject_ifname, or -1 */
	uint32_t inject_max; /* cfg->snaplen */
	uint64_t injected;   /* frames sent on inject_fd (capture_count) */
};

extern const struct capture_ops capture_ringbuf_ops;
extern const struct capture_ops capture_xdp_ops;
extern const struct capture_ops capture_pcap_ops;

/*
 * For the backends (defined in capture.c): a send-only packet socket on
 * ifname, and interface checks.
 */
int capture_psock_open(const char *ifname);
int capture_psock_send(int fd, const void *frame, size_t len);
/*
 * Promiscuous mode for as long as the returned fd is open (the kernel
 * counts holders and drops ours when the fd closes, even on a crash).
 */
int capture_promisc_hold(const char *ifname);
/* 1 if ifname is a bridge or a bridge port, 0 if not, -errno. */
int capture_if_bridged(const char *ifname);
/* 1 if GRO or LRO is on for ifname, 0 if not, -errno if unknown. */
int capture_if_coalesces(const char *ifname);
/* Warn when capture_if_coalesces says 1. */
void capture_warn_coalescing(const char *backend, const char *ifname);

/*
 * Counters are written by the thread that polls and read by capture_stats
 * from any thread: relaxed atomics (plain moves on x86-64) so neither side
 * tears or caches them.
 */
static inline void capture_count(uint64_t *c, uint64_t v)
{
	__atomic_store_n(c, *c + v, __ATOMIC_RELAXED);
}

static inline uint64_t capture_count_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static inline void capture_config_init(struct capture_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->snaplen = CAPTURE_SNAPLEN_DEFAULT;
	cfg->ring_frames = CAPTURE_RING_DEFAULT;
	cfg->tx_frames = CAPTURE_TX_RING_DEFAULT;
	cfg->buffer_bytes = CAPTURE_PCAP_BUFFER_DEFAULT;
	cfg->wake_bytes = CAPTURE_WAKE_BYTES_DEFAULT;
	cfg->wake_ms = CAPTURE_WAKE_MS_DEFAULT;
	cfg->promisc = true;
	cfg->immediate = true;
}

/* "ringbuf", "xdp" or "pcap"; NULL for anything else ("auto" has none). */
static inline const struct capture_ops *capture_backend(const char *name)
{
	if (strcmp(name, "ringbuf") == 0)
		return &capture_ringbuf_ops;
	if (strcmp(name, "xdp") == 0)
		return &capture_xdp_ops;
	if (strcmp(name, "pcap") == 0)
		return &capture_pcap_ops;
	return NULL;
}

/*
 * Open with backend "ringbuf", "xdp", "pcap" or "auto" (the first of those
 * three that opens: each refusal is logged). -EINVAL for an unknown name.
 * With cfg->inject_ifname, capture_inject sends through a packet socket on
 * that interface whatever the backend.
 */
int capture_open(struct capture **out, const char *backend, const char *ifname,
		 const uint8_t guest_mac[6], const struct capture_config *cfg);
int capture_inject(struct capture *c, const void *frame, size_t len);
void capture_stats(struct capture *c, struct capture_stats *out);
void capture_close(struct capture *c);

static inline const char *capture_name(const struct capture *c)
{
	return c->ops->name;
}

static inline int capture_fd(struct capture *c)
{
	return c->ops->fd(c);
}

static inline int capture_poll(struct capture *c, int max, capture_cb cb,
			       void *arg)
{
	return c->ops->poll(c, max, cb, arg);
}

static inline void capture_quiesce(struct capture *c)
{
	if (c && c->ops->quiesce)
		c->ops->quiesce(c);
}

/*
 * Call under the lock the poll callback appends under, with the room left
 * where it appends (frames, bytes): a backend that forwards in the kernel
 * then never forwards a frame the consumer could not keep. No-op for the
 * others.
 */
static inline void capture_grant(struct capture *c, uint64_t frames,
				 uint64_t bytes)
{
	if (c && c->ops->grant)
		c->ops->grant(c, frames, bytes);
}

/* Whether the kernel forwards logged frames itself (do not inject). */
static inline bool capture_forwards(const struct capture *c)
{
	return c->forwards;
}

/* Poll at least this often (ms); 0: the fd wakes for every burst. */
static inline uint32_t capture_wake_ms(const struct capture *c)
{
	return c->wake_ms;
}

#endif
