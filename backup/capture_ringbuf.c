/* SPDX-License-Identifier: MIT */
/*
 * BPF ring-buffer capture backend (docs/capture.md).
 *
 * Our XDP program (backup/bpf/capture_ringbuf.bpf.c), in native mode,
 * copies each frame for the guest into one BPF ring buffer (every CPU
 * writes the same ring: one global order) and then, in the inline
 * topology, forwards it itself with XDP_REDIRECT through a one-entry
 * DEVMAP to the forward interface; the record is committed before the
 * redirect, so nothing reaches the primary unlogged. Elsewhere it drops
 * what it logged. We map the ring and read records in place
 * (ring_buffer__consume): the frame is copied once in the kernel and once
 * into the replay log.
 *
 * The cost of a ring buffer here is wake-ups, not copies: records wake
 * us only when wake_bytes are waiting, and the caller polls every wake_ms
 * (capture_wake_ms) and drains on demand (a commit's drain barrier: a
 * consume reads every record committed so far).
 *
 * Admission: the program logs a frame only while its cumulative use stays
 * within what capture_grant allowed (a budget map we mmap), so the ring
 * never holds more than the caller's log can take - a frame the log
 * refused after the kernel had forwarded it would break the inline
 * guarantee.
 */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include "backup/capture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "backup/capture_prog.h"
#include "backup/capture_shared.h"
#include "common/log.h"

#define RB_OBJ_NAME  "capture_ringbuf.bpf.o"
#define RB_MIN_BYTES (64u << 10)
/* ring_buffer__consume stops when a sample callback returns this. */
#define RB_STOP (-ECANCELED)
/* Ethernet header plus one VLAN tag on top of the MTU. */
#define RB_L2_OVERHEAD 18u

struct capture_ringbuf {
	struct capture base;
	struct capture_prog prog;
	const char *ifname; /* prog.ifname */
	int fwd_fd, budget_fd, ring_fd;
	struct ring_buffer *rb;
	struct capture_rb_budget *budget; /* mmap of budget_fd */
	size_t budget_len;
	uint32_t ring_bytes;
	int promisc_fd;
	int inject_fd; /* packet socket on the capture interface, lazily */

	/* Delivery state for the sample callback (the polling thread). */
	capture_cb cb;
	void *cb_arg;
	int max, delivered;
	int64_t real_minus_mono;

	/*
	 * Taken from the ring: counted after the callback returns, so that a
	 * grant computed meanwhile under the caller's lock can only err low.
	 */
	uint64_t taken_frames, taken_bytes;

	struct capture_stats st; /* frames, bytes, drops_user, injected */
};

static struct capture_ringbuf *to_rb(struct capture *c)
{
	return (struct capture_ringbuf *)c;
}

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The largest power of two <= v (v > 0). */
static uint32_t pow2_floor(uint32_t v)
{
	uint32_t p = 1;

	while (p <= v / 2)
		p <<= 1;
	return p;
}

/* The interface's MTU from sysfs, or 0 if unknown. */
static uint32_t if_mtu(const char *ifname)
{
	char path[PATH_MAX];
	unsigned int mtu = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/mtu", ifname);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%u", &mtu) != 1)
		mtu = 0;
	fclose(f);
	return mtu;
}

/* ------------------------------------------------------------ datapath */

static int rb_sample(void *ctx, void *data, size_t size)
{
	struct capture_ringbuf *cr = ctx;
	const struct capture_rb_record *rec = data;
	struct capture_frame f;

	if (size < sizeof(*rec) || rec->len > size - sizeof(*rec) ||
	    rec->len > CAPTURE_RB_FRAME_MAX) {
		/* Cannot happen with our program; never deliver garbage. */
		capture_count(&cr->st.drops_user, 1);
	} else {
		f.data = rec->data;
		f.len = rec->len;
		f.mono_ns = rec->mono_ns;
		f.ts_ns =
		    (uint64_t)((int64_t)rec->mono_ns + cr->real_minus_mono);
		capture_count(&cr->st.frames, 1);
		capture_count(&cr->st.bytes, rec->len);
		cr->cb(cr->cb_arg, &f);
	}
	__atomic_store_n(&cr->taken_bytes,
			 cr->taken_bytes +
			     (size >= sizeof(*rec) ? rec->len : 0),
			 __ATOMIC_RELEASE);
	__atomic_store_n(&cr->taken_frames, cr->taken_frames + 1,
			 __ATOMIC_RELEASE);
	return ++cr->delivered >= cr->max ? RB_STOP : 0;
}

static int rb_poll(struct capture *c, int max, capture_cb cb, void *arg)
{
	struct capture_ringbuf *cr = to_rb(c);
	int n;

	if (max <= 0 || !cb)
		return -EINVAL;
	cr->cb = cb;
	cr->cb_arg = arg;
	cr->max = max;
	cr->delivered = 0;
	cr->real_minus_mono =
	    (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
	n = ring_buffer__consume(cr->rb);
	if (n < 0 && n != RB_STOP)
		return n;
	return cr->delivered;
}

static int rb_fd(struct capture *c)
{
	return ring_buffer__epoll_fd(to_rb(c)->rb);
}

static int rb_inject(struct capture *c, const void *frame, size_t len)
{
	struct capture_ringbuf *cr = to_rb(c);
	int err;

	if (len > CAPTURE_RB_FRAME_MAX)
		return -EMSGSIZE;
	if (cr->inject_fd < 0) {
		cr->inject_fd = capture_psock_open(cr->ifname);
		if (cr->inject_fd < 0) {
			err = cr->inject_fd;
			cr->inject_fd = -1;
			return err;
		}
	}
	err = capture_psock_send(cr->inject_fd, frame, len);
	if (!err)
		capture_count(&cr->st.injected, 1);
	return err;
}

static void rb_grant(struct capture *c, uint64_t frames, uint64_t bytes)
{
	struct capture_ringbuf *cr = to_rb(c);

	__atomic_store_n(&cr->budget->granted_frames,
			 __atomic_load_n(&cr->taken_frames, __ATOMIC_ACQUIRE) +
			     frames,
			 __ATOMIC_RELEASE);
	__atomic_store_n(&cr->budget->granted_bytes,
			 __atomic_load_n(&cr->taken_bytes, __ATOMIC_ACQUIRE) +
			     bytes,
			 __ATOMIC_RELEASE);
}

static void rb_stats(struct capture *c, struct capture_stats *out)
{
	struct capture_ringbuf *cr = to_rb(c);
	uint64_t cnt[CAPTURE_RB_CNT_MAX];
	uint64_t taken;

	capture_prog_counters(&cr->prog, cnt, CAPTURE_RB_CNT_MAX);
	taken = __atomic_load_n(&cr->taken_frames, __ATOMIC_ACQUIRE);
	memset(out, 0, sizeof(*out));
	out->frames = capture_count_read(&cr->st.frames);
	out->bytes = capture_count_read(&cr->st.bytes);
	out->injected = capture_count_read(&cr->st.injected);
	out->drops_user = capture_count_read(&cr->st.drops_user) +
			  cnt[CAPTURE_RB_CNT_TOO_LONG];
	out->drops_kernel = cnt[CAPTURE_RB_CNT_RING_FULL];
	out->held = cnt[CAPTURE_RB_CNT_HELD];
	out->matched = cnt[CAPTURE_RB_CNT_LOGGED] + out->drops_kernel +
		       cnt[CAPTURE_RB_CNT_TOO_LONG] + out->held;
	out->filtered = cnt[CAPTURE_RB_CNT_PASSED] + cnt[CAPTURE_RB_CNT_RUNT];
	out->forwarded = cnt[CAPTURE_RB_CNT_FORWARDED];
	out->forward_errors = cnt[CAPTURE_RB_CNT_FWD_FAILED];
	out->pending = cnt[CAPTURE_RB_CNT_LOGGED] > taken
			   ? cnt[CAPTURE_RB_CNT_LOGGED] - taken
			   : 0;
}

static void rb_quiesce(struct capture *c)
{
	capture_prog_quiesce(&to_rb(c)->prog);
}

/* ------------------------------------------------------- open / close */

static void rb_close(struct capture *c);

/* The ring, the budget (unlimited until capture_grant) and the devmap. */
static int rb_maps(struct capture_ringbuf *cr, const char *obj,
		   const struct capture_config *cfg)
{
	__u32 key = 0, ifindex;

	cr->fwd_fd = capture_prog_map_fd(&cr->prog, CAPTURE_RB_MAP_FWD);
	cr->budget_fd = capture_prog_map_fd(&cr->prog, CAPTURE_RB_MAP_BUDGET);
	cr->ring_fd = capture_prog_map_fd(&cr->prog, CAPTURE_RB_MAP_RING);
	if (cr->fwd_fd < 0 || cr->budget_fd < 0 || cr->ring_fd < 0) {
		log_error("capture: ringbuf: %s lacks one of the maps %s, %s, "
			  "%s",
			  obj, CAPTURE_RB_MAP_FWD, CAPTURE_RB_MAP_BUDGET,
			  CAPTURE_RB_MAP_RING);
		return -ENOENT;
	}
	cr->budget_len = (size_t)sysconf(_SC_PAGESIZE);
	cr->budget = mmap(NULL, cr->budget_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED, cr->budget_fd, 0);
	if (cr->budget == MAP_FAILED) {
		cr->budget = NULL;
		log_error("capture: ringbuf: mapping the budget: %s",
			  strerror(errno));
		return -errno;
	}
	cr->budget->granted_frames = UINT64_MAX;
	cr->budget->granted_bytes = UINT64_MAX;
	if (cfg->steal && cfg->inject_ifname) {
		ifindex = if_nametoindex(cfg->inject_ifname);
		if (!ifindex ||
		    bpf_map_update_elem(cr->fwd_fd, &key, &ifindex, BPF_ANY)) {
			log_error("capture: ringbuf: cannot forward to %s: %s",
				  cfg->inject_ifname, strerror(errno));
			return -errno;
		}
		cr->base.forwards = true;
	}
	cr->rb = ring_buffer__new(cr->ring_fd, rb_sample, cr, NULL);
	if (!cr->rb) {
		log_error("capture: ringbuf: mapping the ring: %s",
			  strerror(errno));
		return -errno;
	}
	return 0;
}

/* Refuse what this backend cannot capture whole; auto falls back. */
static int rb_check(const char *ifname, const struct capture_config *cfg)
{
	uint32_t mtu = if_mtu(ifname);

	if (mtu + RB_L2_OVERHEAD > CAPTURE_RB_FRAME_MAX) {
		log_warn("capture: ringbuf: %s has MTU %u: frames up to %u "
			 "bytes do not fit a %u-byte record",
			 ifname, mtu, mtu + RB_L2_OVERHEAD,
			 CAPTURE_RB_FRAME_MAX);
		return -EMSGSIZE;
	}
	if (cfg->buffer_bytes < RB_MIN_BYTES) {
		log_error("capture: ringbuf: a ring of %u bytes is too small "
			  "(at least %u)",
			  cfg->buffer_bytes, RB_MIN_BYTES);
		return -EINVAL;
	}
	return 0;
}

static int rb_open(struct capture **out, const char *ifname,
		   const uint8_t guest_mac[6],
		   const struct capture_config *ucfg)
{
	struct capture_config cfg;
	struct capture_ringbuf *cr;
	char path[PATH_MAX];
	uint32_t flags = 0;
	int err;

	*out = NULL;
	if (ucfg)
		cfg = *ucfg;
	else
		capture_config_init(&cfg);
	err = rb_check(ifname, &cfg);
	if (err)
		return err;
	cr = calloc(1, sizeof(*cr));
	if (!cr)
		return -ENOMEM;
	cr->base.ops = &capture_ringbuf_ops;
	cr->base.wake_ms = cfg.wake_ms ? cfg.wake_ms : CAPTURE_WAKE_MS_DEFAULT;
	cr->promisc_fd = cr->inject_fd = -1;
	cr->prog.cfg_fd = cr->prog.cnt_fd = -1;
	cr->ifname = ifname;
	cr->ring_bytes = pow2_floor(cfg.buffer_bytes);
	err = capture_prog_find_obj("ringbuf", cfg.ringbuf_obj,
				    "RRVM_RINGBUF_OBJ", RB_OBJ_NAME, path,
				    sizeof(path));
	/* A NIC drops unicast for other MACs before XDP unless promiscuous. */
	if (!err && cfg.promisc) {
		cr->promisc_fd = capture_promisc_hold(ifname);
		if (cr->promisc_fd < 0)
			err = cr->promisc_fd;
	}
	/*
	 * Native mode only, unless SKB is asked for: generic XDP sees GRO's
	 * merged frames (too long for a record) and cannot redirect them.
	 */
	if (!err)
		err = capture_prog_open(&cr->prog, "ringbuf", ifname, path,
					cfg.xdp_mode, true, cr->ring_bytes,
					guest_mac);
	if (!err) {
		cr->ifname = cr->prog.ifname;
		err = rb_maps(cr, path, &cfg);
	}
	if (cfg.steal)
		flags |= CAPTURE_XDP_F_STEAL;
	if (cr->base.forwards)
		flags |= CAPTURE_XDP_F_FORWARD;
	if (!err)
		err = capture_prog_enable(&cr->prog, flags, cfg.guest_ip4,
					  cfg.wake_bytes);
	if (err) {
		rb_close(&cr->base);
		return err;
	}
	if (cr->prog.mode == XDP_MODE_SKB)
		capture_warn_coalescing("ringbuf", ifname);
	log_info("capture: ringbuf on %s: program id %u, %s mode, ring %u KiB, "
		 "wake-up at %u KiB or every %u ms, logged frames %s%s",
		 ifname, capture_prog_id(&cr->prog),
		 capture_prog_mode_name(cr->prog.mode), cr->ring_bytes >> 10,
		 cfg.wake_bytes >> 10, cr->base.wake_ms,
		 cr->base.forwards ? "forwarded with XDP_REDIRECT to "
		 : cfg.steal	   ? "dropped (the caller forwards)"
				   : "dropped (mirror)",
		 cr->base.forwards ? cfg.inject_ifname : "");
	*out = &cr->base;
	return 0;
}

static void rb_close(struct capture *c)
{
	struct capture_ringbuf *cr = to_rb(c);

	if (!cr)
		return;
	if (cr->st.frames)
		log_info("capture: ringbuf on %s closed: %llu frames",
			 cr->ifname, (unsigned long long)cr->st.frames);
	/* Program first: nothing is written into a ring going away. */
	capture_prog_close(&cr->prog);
	ring_buffer__free(cr->rb);
	if (cr->budget)
		munmap(cr->budget, cr->budget_len);
	if (cr->promisc_fd >= 0)
		close(cr->promisc_fd);
	if (cr->inject_fd >= 0)
		close(cr->inject_fd);
	free(cr);
}

const struct capture_ops capture_ringbuf_ops = {
    .name = "ringbuf",
    .open = rb_open,
    .fd = rb_fd,
    .poll = rb_poll,
    .inject = rb_inject,
    .stats = rb_stats,
    .quiesce = rb_quiesce,
    .grant = rb_grant,
    .close = rb_close,
};
