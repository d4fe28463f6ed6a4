/* SPDX-License-Identifier: MIT */
/*
 * AF_XDP capture backend (docs/capture.md).
 *
 * Our XDP program (backup/bpf/capture_xdp.bpf.c) is attached, claimed and
 * detached by backup/capture_prog.c (shared with the ring-buffer backend).
 * One AF_XDP socket per receive queue, each with its own UMEM, in copy mode
 * (veth and most drivers have no zero-copy); the sockets are created with
 * XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD and entered into our program's XSK
 * map by queue id. The program redirects frames for the guest and passes
 * the rest, so matching frames never reach the kernel stack.
 *
 * UMEM of each queue: ring_frames frames that circulate fill -> rx -> (our
 * callback) -> stash -> fill, and on queue 0 tx_frames more for inject, which
 * circulate free list -> tx -> completion -> free list.
 *
 * A process that dies leaves its program attached (the sockets go with
 * it); capture_prog_open replaces it next time.
 */
/* libpcap's bpf.h (via capture.h users) must not meet linux/bpf.h. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include "backup/capture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "backup/capture_prog.h"
#include "backup/capture_shared.h"
#include "common/log.h"

#define CAPTURE_XDP_OBJ_NAME "capture_xdp.bpf.o"
/*
 * UMEM frame sizes: the kernel takes a power of two from 2 KiB up to its
 * page size (4 KiB on x86-64); the small one halves the memory per frame
 * whenever the snaplen fits.
 */
#define XDP_UMEM_FRAME_SMALL 2048u
#define XDP_UMEM_FRAME_LARGE 4096u

struct xdp_queue {
	uint32_t queue_id;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx; /* queue 0 only */
	uint8_t *area;
	size_t area_len;
	int fd;
	/*
	 * Frames read and waiting to go back to the fill ring. The kernel
	 * publishes how far it consumed the fill ring lazily, so the ring
	 * can look full while we already hold frames taken from it.
	 */
	uint64_t *stash;
	uint32_t nstash;
	uint64_t frames; /* read from this queue (the close log shows RSS) */
};

struct capture_xdp {
	struct capture base;
	struct capture_prog prog;
	const char *ifname; /* prog.ifname */
	int xsks_fd;

	struct xdp_queue *q;
	uint32_t nq;
	uint32_t next_q; /* where poll starts: no queue starves */
	int epfd;	 /* when nq > 1: one fd for the caller */

	uint32_t frame_size, ring_frames, tx_frames, snaplen;

	/* Inject through queue 0's TX ring: free UMEM frames. */
	uint64_t *tx_free;
	uint32_t tx_nfree;
	bool tx_kick;	/* the last kick was refused: frames wait in TX */
	int promisc_fd; /* holds promiscuous mode (cfg->promisc) */

	struct capture_stats st;
};

static struct capture_xdp *to_xdp(struct capture *c)
{
	return (struct capture_xdp *)c;
}

/* -------------------------------------------------------- small helpers */

/* Receive queues of ifname (ETHTOOL_GCHANNELS, else sysfs, else 1). */
static uint32_t if_rx_queues(const char *ifname)
{
	struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
	char path[PATH_MAX];
	struct ifreq ifr;
	uint32_t n = 0;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
		ifr.ifr_data = (void *)&ch;
		if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
			n = ch.rx_count + ch.combined_count;
		close(fd);
	}
	if (n)
		return n;
	for (n = 0; n < CAPTURE_XDP_MAX_QUEUES; n++) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%u",
			 ifname, n);
		if (access(path, F_OK) != 0)
			break;
	}
	return n ? n : 1;
}

/* ------------------------------------------------------- open / close */

/* The queue's UMEM: its frames (receive, then inject on queue 0) in one
 * anonymous area, registered with the kernel. */
static int xdp_umem_create(struct capture_xdp *cx, struct xdp_queue *q,
			   bool with_tx)
{
	struct xsk_umem_config ucfg = {
	    .fill_size = cx->ring_frames,
	    .comp_size = cx->tx_frames,
	    .frame_size = cx->frame_size,
	    .frame_headroom = 0,
	    .flags = 0,
	};
	uint32_t nframes = cx->ring_frames + (with_tx ? cx->tx_frames : 0);
	int err;

	q->area_len = (size_t)nframes * cx->frame_size;
	q->area = mmap(NULL, q->area_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q->area == MAP_FAILED) {
		q->area = NULL;
		return -ENOMEM;
	}
	err = xsk_umem__create(&q->umem, q->area, q->area_len, &q->fill,
			       &q->comp, &ucfg);
	if (err) {
		log_error("capture: xdp: %s queue %u: UMEM of %zu KiB: %s%s",
			  cx->ifname, q->queue_id, q->area_len >> 10,
			  strerror(-err),
			  err == -ENOBUFS || err == -EPERM
			      ? " (RLIMIT_MEMLOCK / CAP_IPC_LOCK?)"
			      : "");
		q->umem = NULL;
		return err;
	}
	return 0;
}

/* Every receive frame starts in the fill ring; queue 0's inject frames
 * start on the free list. */
static int xdp_frames_prime(struct capture_xdp *cx, struct xdp_queue *q,
			    bool with_tx)
{
	uint32_t i, idx;

	if (xsk_ring_prod__reserve(&q->fill, cx->ring_frames, &idx) !=
	    cx->ring_frames)
		return -EIO;
	for (i = 0; i < cx->ring_frames; i++)
		*xsk_ring_prod__fill_addr(&q->fill, idx + i) =
		    (uint64_t)i * cx->frame_size;
	xsk_ring_prod__submit(&q->fill, cx->ring_frames);
	if (with_tx) {
		for (i = 0; i < cx->tx_frames; i++)
			cx->tx_free[cx->tx_nfree++] =
			    (uint64_t)(cx->ring_frames + i) * cx->frame_size;
	}
	return 0;
}

static int xdp_queue_open(struct capture_xdp *cx, struct xdp_queue *q,
			  bool with_tx)
{
	struct xsk_socket_config scfg = {
	    .rx_size = cx->ring_frames,
	    .tx_size = cx->tx_frames,
	    .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
	    .xdp_flags = 0,
	    /*
	     * Copy mode: veth and most drivers have no zero-copy, and
	     * asking for it explicitly keeps behaviour the same on all.
	     */
	    .bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	int err;

	q->stash = calloc(cx->ring_frames, sizeof(*q->stash));
	if (!q->stash)
		return -ENOMEM;
	err = xdp_umem_create(cx, q, with_tx);
	if (err)
		return err;
	err = xsk_socket__create(&q->xsk, cx->ifname, q->queue_id, q->umem,
				 &q->rx, with_tx ? &q->tx : NULL, &scfg);
	if (err) {
		log_error("capture: xdp: %s queue %u: AF_XDP socket: %s",
			  cx->ifname, q->queue_id, strerror(-err));
		q->xsk = NULL;
		return err;
	}
	q->fd = xsk_socket__fd(q->xsk);
	err = xdp_frames_prime(cx, q, with_tx);
	if (err)
		return err;
	/* Last: from here on the program redirects to this socket. */
	err = xsk_socket__update_xskmap(q->xsk, cx->xsks_fd);
	if (err) {
		log_error("capture: xdp: %s queue %u: XSK map: %s", cx->ifname,
			  q->queue_id, strerror(-err));
		return err;
	}
	return 0;
}

static void xdp_close_handle(struct capture *c);

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* Sockets on every queue, and one fd over them all when there are more. */
static int xdp_queues_open(struct capture_xdp *cx, uint32_t want_q)
{
	uint32_t i;
	int err;

	for (i = 0; i < want_q; i++) {
		err = xdp_queue_open(cx, &cx->q[i], i == 0);
		cx->nq = i + 1; /* close() cleans up this one too */
		if (err)
			return err;
	}
	if (cx->nq == 1)
		return 0;
	cx->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cx->epfd < 0)
		return -errno;
	for (i = 0; i < cx->nq; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};

		if (epoll_ctl(cx->epfd, EPOLL_CTL_ADD, cx->q[i].fd, &ev) != 0)
			return -errno;
	}
	return 0;
}

/* Sizes from the config (defaults for zeros); -EINVAL if unusable. */
static int xdp_sizes(struct capture_xdp *cx, struct capture_config *cfg)
{
	if (!cfg->snaplen)
		cfg->snaplen = CAPTURE_SNAPLEN_DEFAULT;
	if (!cfg->ring_frames)
		cfg->ring_frames = CAPTURE_RING_DEFAULT;
	if (!cfg->tx_frames)
		cfg->tx_frames = CAPTURE_TX_RING_DEFAULT;
	if (!is_pow2(cfg->ring_frames) || !is_pow2(cfg->tx_frames)) {
		log_error("capture: xdp: ring sizes must be powers of two "
			  "(%u, %u)",
			  cfg->ring_frames, cfg->tx_frames);
		return -EINVAL;
	}
	cx->ring_frames = cfg->ring_frames;
	cx->tx_frames = cfg->tx_frames;
	/* In copy mode the kernel puts a frame behind XDP_PACKET_HEADROOM
	 * in its UMEM frame. */
	cx->frame_size =
	    cfg->snaplen + XDP_PACKET_HEADROOM <= XDP_UMEM_FRAME_SMALL
		? XDP_UMEM_FRAME_SMALL
		: XDP_UMEM_FRAME_LARGE;
	cx->snaplen = cfg->snaplen < cx->frame_size - XDP_PACKET_HEADROOM
			  ? cfg->snaplen
			  : cx->frame_size - XDP_PACKET_HEADROOM;
	if (cx->snaplen < cfg->snaplen)
		log_warn("capture: xdp: frames longer than %u bytes cannot be "
			 "captured (snaplen %u)",
			 cx->snaplen, cfg->snaplen);
	return 0;
}

/* Per-queue and per-CPU arrays. */
static int xdp_alloc(struct capture_xdp *cx, const char *ifname,
		     const struct capture_config *cfg, uint32_t *want_q)
{
	uint32_t i;

	*want_q = cfg->queues ? cfg->queues : if_rx_queues(ifname);
	if (*want_q > CAPTURE_XDP_MAX_QUEUES) {
		log_warn("capture: xdp: %s has %u receive queues; binding the "
			 "first %u (frames on the others are %s)",
			 ifname, *want_q, CAPTURE_XDP_MAX_QUEUES,
			 cfg->steal ? "dropped" : "not captured");
		*want_q = CAPTURE_XDP_MAX_QUEUES;
	}
	cx->q = calloc(*want_q, sizeof(*cx->q));
	cx->tx_free = calloc(cfg->tx_frames, sizeof(*cx->tx_free));
	if (!cx->q || !cx->tx_free)
		return -ENOMEM;
	for (i = 0; i < *want_q; i++) {
		cx->q[i].queue_id = i;
		cx->q[i].fd = -1;
	}
	return 0;
}

/* A handle that owns nothing yet (every fd -1): xdp_close_handle-safe. */
static struct capture_xdp *xdp_handle_new(const char *ifname)
{
	struct capture_xdp *cx = calloc(1, sizeof(*cx));

	if (!cx)
		return NULL;
	cx->base.ops = &capture_xdp_ops;
	cx->epfd = -1;
	cx->promisc_fd = -1;
	cx->xsks_fd = -1;
	cx->prog.cfg_fd = cx->prog.cnt_fd = -1;
	cx->ifname = ifname;
	return cx;
}

static void xdp_log_opened(const struct capture_xdp *cx,
			   const struct capture_config *cfg)
{
	/* Generic XDP runs after GRO; native XDP before it. */
	if (cx->prog.mode == XDP_MODE_SKB)
		capture_warn_coalescing("xdp", cx->ifname);
	log_info("capture: xdp on %s: program id %u, %s mode, %u queue%s, "
		 "copy, %u+%u frames of %u bytes, snaplen %u, %s",
		 cx->ifname, capture_prog_id(&cx->prog),
		 capture_prog_mode_name(cx->prog.mode), cx->nq,
		 cx->nq == 1 ? "" : "s", cx->ring_frames, cx->tx_frames,
		 cx->frame_size, cx->snaplen,
		 cfg->steal ? "steal (no socket: drop)"
			    : "copy requested: matching frames are still "
			      "taken from the kernel (AF_XDP cannot copy)");
}

/* Our program on the interface (passing everything until enabled), and
 * its XSK map for the sockets. */
static int xdp_prog_attach(struct capture_xdp *cx, const char *path,
			   const struct capture_config *cfg,
			   const uint8_t guest_mac[6])
{
	int err = capture_prog_open(&cx->prog, "xdp", cx->ifname, path,
				    cfg->xdp_mode, false, 0, guest_mac);

	if (err)
		return err;
	cx->ifname = cx->prog.ifname;
	cx->xsks_fd = capture_prog_map_fd(&cx->prog, CAPTURE_XDP_MAP_XSKS);
	if (cx->xsks_fd < 0) {
		log_error("capture: xdp: %s lacks the map %s", path,
			  CAPTURE_XDP_MAP_XSKS);
		return -ENOENT;
	}
	return 0;
}

static int xdp_open_handle(struct capture **out, const char *ifname,
			   const uint8_t guest_mac[6],
			   const struct capture_config *ucfg)
{
	struct capture_config cfg;
	struct capture_xdp *cx;
	char path[PATH_MAX];
	uint32_t want_q;
	int err;

	*out = NULL;
	if (ucfg)
		cfg = *ucfg;
	else
		capture_config_init(&cfg);
	cx = xdp_handle_new(ifname);
	if (!cx)
		return -ENOMEM;
	err = xdp_sizes(cx, &cfg);
	if (!err)
		err = capture_prog_find_obj("xdp", cfg.xdp_obj, "RRVM_XDP_OBJ",
					    CAPTURE_XDP_OBJ_NAME, path,
					    sizeof(path));
	if (!err)
		err = xdp_alloc(cx, ifname, &cfg, &want_q);
	/*
	 * A NIC drops unicast for other MACs before XDP runs unless it is
	 * promiscuous (a veth does not filter).
	 */
	if (!err && cfg.promisc) {
		cx->promisc_fd = capture_promisc_hold(ifname);
		if (cx->promisc_fd < 0)
			err = cx->promisc_fd;
	}
	if (!err)
		err = xdp_prog_attach(cx, path, &cfg, guest_mac);
	if (!err)
		err = xdp_queues_open(cx, want_q);
	/*
	 * Enable the filter last: until now the program passed everything,
	 * so frames that arrived while the sockets were being set up went
	 * their usual way instead of being dropped for want of a socket.
	 */
	if (!err)
		err = capture_prog_enable(&cx->prog,
					  cfg.steal ? CAPTURE_XDP_F_STEAL : 0,
					  cfg.guest_ip4, 0);
	if (err)
		goto out_free;
	xdp_log_opened(cx, &cfg);
	*out = &cx->base;
	return 0;

out_free:
	xdp_close_handle(&cx->base);
	return err;
}

static void xdp_close_handle(struct capture *c)
{
	struct capture_xdp *cx = to_xdp(c);
	uint32_t i;

	if (!cx)
		return;
	if (cx->nq && cx->st.frames + cx->st.drops_user) {
		char per_q[256] = "";
		size_t off = 0;

		for (i = 0; i < cx->nq && off < sizeof(per_q) - 24; i++)
			off += (size_t)snprintf(
			    per_q + off, sizeof(per_q) - off, " %llu",
			    (unsigned long long)cx->q[i].frames);
		log_info("capture: xdp on %s closed: %llu frames; per queue:%s",
			 cx->ifname, (unsigned long long)cx->st.frames, per_q);
	}
	/* Program first: no frame is redirected to a closing socket. */
	capture_prog_close(&cx->prog);
	for (i = 0; i < cx->nq; i++) {
		struct xdp_queue *q = &cx->q[i];

		if (q->xsk)
			xsk_socket__delete(q->xsk);
		if (q->umem)
			xsk_umem__delete(q->umem);
		if (q->area)
			munmap(q->area, q->area_len);
		free(q->stash);
	}
	if (cx->epfd >= 0)
		close(cx->epfd);
	if (cx->promisc_fd >= 0)
		close(cx->promisc_fd);
	free(cx->q);
	free(cx->tx_free);
	free(cx);
}

static void xdp_quiesce(struct capture *c)
{
	capture_prog_quiesce(&to_xdp(c)->prog);
}

/* ------------------------------------------------------------ datapath */

static int xdp_fd(struct capture *c)
{
	struct capture_xdp *cx = to_xdp(c);

	return cx->nq > 1 ? cx->epfd : cx->q[0].fd;
}

/* Completed TX frames back to the free list. */
static void xdp_tx_reclaim(struct capture_xdp *cx)
{
	struct xdp_queue *q = &cx->q[0];
	uint32_t n, i, idx;

	n = xsk_ring_cons__peek(&q->comp, cx->tx_frames, &idx);
	for (i = 0; i < n; i++)
		cx->tx_free[cx->tx_nfree++] =
		    *xsk_ring_cons__comp_addr(&q->comp, idx + i);
	if (n)
		xsk_ring_cons__release(&q->comp, n);
}

/*
 * In copy mode the kernel transmits from the TX ring only inside sendto.
 * Busy/no-buffer answers leave the frames queued for the next kick.
 */
static int xdp_tx_kick(struct capture_xdp *cx)
{
	if (sendto(cx->q[0].fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
		cx->tx_kick = false;
		return 0;
	}
	if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS ||
	    errno == EINTR) {
		cx->tx_kick = true;
		return 0;
	}
	cx->tx_kick = true;
	return -errno;
}

/* Hand stashed frames back to the kernel, as many as the fill ring takes. */
static void xdp_refill(struct xdp_queue *q)
{
	uint32_t n = q->nstash, idx, i;

	if (!n)
		return;
	n = xsk_prod_nb_free(&q->fill, n) < n ? xsk_prod_nb_free(&q->fill, n)
					      : n;
	if (!n || xsk_ring_prod__reserve(&q->fill, n, &idx) != n)
		return;
	for (i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&q->fill, idx + i) =
		    q->stash[--q->nstash];
	xsk_ring_prod__submit(&q->fill, n);
	/* Zero-copy drivers sleep until told the fill ring has frames. */
	if (xsk_ring_prod__needs_wakeup(&q->fill))
		recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static int xdp_poll(struct capture *c, int max, capture_cb cb, void *arg)
{
	struct capture_xdp *cx = to_xdp(c);
	struct capture_frame f;
	struct timespec ts;
	uint32_t k, n, i, idx;
	int delivered = 0;

	if (max <= 0 || !cb)
		return -EINVAL;
	if (cx->tx_kick)
		xdp_tx_kick(cx);
	for (k = 0; k < cx->nq && delivered < max; k++) {
		struct xdp_queue *q = &cx->q[(cx->next_q + k) % cx->nq];

		xdp_refill(q);
		n = xsk_ring_cons__peek(&q->rx, (uint32_t)(max - delivered),
					&idx);
		if (!n)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		f.ts_ns =
		    (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		for (i = 0; i < n; i++) {
			const struct xdp_desc *d =
			    xsk_ring_cons__rx_desc(&q->rx, idx + i);

			/*
			 * The frame goes back whole (its start is frame
			 * aligned), after the callbacks: the stash holds at
			 * most every frame of the queue.
			 */
			q->stash[q->nstash++] =
			    d->addr & ~(uint64_t)(cx->frame_size - 1);
			q->frames++;
			if (d->len > cx->snaplen) {
				capture_count(&cx->st.drops_user, 1);
				continue;
			}
			f.data = xsk_umem__get_data(q->area, d->addr);
			f.len = d->len;
			capture_count(&cx->st.frames, 1);
			capture_count(&cx->st.bytes, d->len);
			delivered++;
			cb(arg, &f);
		}
		xsk_ring_cons__release(&q->rx, n);
		xdp_refill(q);
	}
	cx->next_q = (cx->next_q + 1) % cx->nq;
	return delivered;
}

static int xdp_inject(struct capture *c, const void *frame, size_t len)
{
	struct capture_xdp *cx = to_xdp(c);
	struct xdp_queue *q = &cx->q[0];
	struct xdp_desc *d;
	uint64_t addr;
	uint32_t idx;
	int err;

	if (len < ETH_HLEN)
		return -EINVAL;
	if (len > cx->snaplen)
		return -EMSGSIZE;
	xdp_tx_reclaim(cx);
	if (!cx->tx_nfree) {
		err = xdp_tx_kick(cx);
		if (err)
			return err;
		xdp_tx_reclaim(cx);
		if (!cx->tx_nfree)
			return -EAGAIN;
	}
	/* TX ring size == TX frames: a free frame means a free slot. */
	if (xsk_ring_prod__reserve(&q->tx, 1, &idx) != 1)
		return -EAGAIN;
	addr = cx->tx_free[--cx->tx_nfree];
	memcpy(xsk_umem__get_data(q->area, addr), frame, len);
	d = xsk_ring_prod__tx_desc(&q->tx, idx);
	d->addr = addr;
	d->len = (uint32_t)len;
	xsk_ring_prod__submit(&q->tx, 1);
	/* Queued: a refused kick is retried by the next inject or poll. */
	err = xdp_tx_kick(cx);
	if (err) {
		log_debug("capture: xdp: TX kick on %s: %s", cx->ifname,
			  strerror(-err));
		return err;
	}
	capture_count(&cx->st.injected, 1);
	return 0;
}

static void xdp_stats(struct capture *c, struct capture_stats *out)
{
	struct capture_xdp *cx = to_xdp(c);
	uint64_t cnt[CAPTURE_XDP_CNT_MAX];
	struct xdp_statistics xs;
	uint64_t sock_drops = 0;
	socklen_t len;
	uint32_t i;

	capture_prog_counters(&cx->prog, cnt, CAPTURE_XDP_CNT_MAX);
	for (i = 0; i < cx->nq; i++) {
		len = sizeof(xs);
		if (getsockopt(cx->q[i].fd, SOL_XDP, XDP_STATISTICS, &xs,
			       &len) == 0)
			/*
			 * rx_dropped: no fill frame, or too long for one;
			 * rx_ring_full: we did not read fast enough.
			 */
			sock_drops += xs.rx_dropped + xs.rx_ring_full;
	}
	memset(out, 0, sizeof(*out));
	out->frames = capture_count_read(&cx->st.frames);
	out->bytes = capture_count_read(&cx->st.bytes);
	out->drops_user = capture_count_read(&cx->st.drops_user);
	out->injected = capture_count_read(&cx->st.injected);
	out->matched =
	    cnt[CAPTURE_XDP_CNT_REDIRECTED] + cnt[CAPTURE_XDP_CNT_MISSED];
	out->drops_kernel = cnt[CAPTURE_XDP_CNT_MISSED] + sock_drops;
	out->filtered = cnt[CAPTURE_XDP_CNT_PASSED] + cnt[CAPTURE_XDP_CNT_RUNT];
}

const struct capture_ops capture_xdp_ops = {
    .name = "xdp",
    .open = xdp_open_handle,
    .fd = xdp_fd,
    .poll = xdp_poll,
    .inject = xdp_inject,
    .stats = xdp_stats,
    .quiesce = xdp_quiesce,
    .close = xdp_close_handle,
};
