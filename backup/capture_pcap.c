/* SPDX-License-Identifier: MIT */
/*
 * libpcap capture backend (docs/capture.md): immediate mode, a kernel
 * buffer sized for bursts, the guest filter compiled into the kernel, and
 * non-blocking reads driven by the caller's poll loop. pcap only ever
 * copies: the kernel still delivers every frame it captures.
 */
/* libpcap's own bpf.h clashes with linux/bpf.h, which xsk.h pulls in. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include "backup/capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pcap/bpf.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

struct capture_pcap {
	struct capture base;
	pcap_t *p;
	int fd; /* pcap_get_selectable_fd */
	char ifname[IF_NAMESIZE];
	uint32_t snaplen;
	bool nano; /* time stamps in ns (else us) */
	/* Delivery state for the pcap_dispatch callback. */
	capture_cb cb;
	void *cb_arg;
	int delivered;
	/* frames, bytes, drops_user, injected (capture_count) */
	struct capture_stats st;
	/*
	 * libpcap is not thread-safe per handle: stats (any thread) and
	 * dispatch (the polling thread) take turns. Under it: pcap_stats's
	 * 32-bit counters, accumulated as deltas.
	 */
	pthread_mutex_t lock;
	struct pcap_stat last;
	uint64_t matched, drops_kernel, drops_iface;
};

/* ------------------------------------------------------------- backend */

static struct capture_pcap *to_pcap(struct capture *c)
{
	return (struct capture_pcap *)c;
}

/* pcap_activate and friends return PCAP_ERROR_*: map them to errno. */
static int pcap_errno(int rc)
{
	switch (rc) {
	case PCAP_ERROR_NO_SUCH_DEVICE:
		return -ENODEV;
	case PCAP_ERROR_PERM_DENIED:
	case PCAP_ERROR_PROMISC_PERM_DENIED:
		return -EPERM;
	case PCAP_ERROR_IFACE_NOT_UP:
		return -ENETDOWN;
	default:
		return -EIO;
	}
}

static int pcap_build_filter(char *buf, size_t size, const uint8_t mac[6],
			     uint32_t guest_ip4)
{
	char macs[18];
	int n;

	snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
		 mac[1], mac[2], mac[3], mac[4], mac[5]);
	if (guest_ip4 == 0)
		n = snprintf(buf, size, "ether dst %s or ether broadcast",
			     macs);
	else
		/*
		 * The same test as the XDP program: Ethernet/IPv4 ARP
		 * (ptype 0x0800, plen 4) whose target address (offset 24)
		 * is the guest's.
		 */
		n = snprintf(buf, size,
			     "ether dst %s or (ether broadcast and arp and "
			     "arp[2:2] = 0x0800 and arp[5] = 4 and "
			     "arp[24:4] = 0x%08x)",
			     macs, ntohl(guest_ip4));
	return (n > 0 && (size_t)n < size) ? 0 : -ENAMETOOLONG;
}

static void pcap_close_handle(struct capture *c);

/*
 * Steal on a bridged interface would log frames the bridge has already
 * forwarded: pcap copies, it cannot take a frame away from the kernel.
 */
static int pcap_check_steal(const char *ifname)
{
	int rc = capture_if_bridged(ifname);

	if (rc == 1) {
		log_error("capture: pcap: %s is a bridge or bridge port: pcap "
			  "copies frames, so the bridge would forward them "
			  "unlogged; use xdp, or capture on an interface that "
			  "is not bridged",
			  ifname);
		return -EOPNOTSUPP;
	}
	if (rc < 0)
		log_warn("capture: pcap: cannot tell whether %s is bridged "
			 "(%s): a bridge would forward frames before they are "
			 "logged",
			 ifname, strerror(-rc));
	return 0;
}

/* pcap_create and the options that must precede pcap_activate. */
static int pcap_create_configured(struct capture_pcap *cp,
				  const struct capture_config *cfg)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";

	cp->p = pcap_create(cp->ifname, errbuf);
	if (!cp->p) {
		log_error("capture: pcap_create %s: %s", cp->ifname, errbuf);
		return -ENODEV;
	}
	/*
	 * Immediate mode: a frame is readable as soon as it arrives (no
	 * block timeout), which the inline topology's forwarding needs.
	 */
	if (pcap_set_immediate_mode(cp->p, cfg->immediate) != 0 ||
	    pcap_set_snaplen(cp->p, (int)cfg->snaplen) != 0 ||
	    pcap_set_buffer_size(cp->p, (int)cfg->buffer_bytes) != 0 ||
	    pcap_set_promisc(cp->p, cfg->promisc) != 0) {
		log_error("capture: pcap: configuring %s: %s", cp->ifname,
			  pcap_geterr(cp->p));
		return -EINVAL;
	}
	cp->nano =
	    pcap_set_tstamp_precision(cp->p, PCAP_TSTAMP_PRECISION_NANO) == 0;
	return 0;
}

/* Activate; only Ethernet, only frames received. */
static int pcap_activate_inbound(struct capture_pcap *cp)
{
	int rc = pcap_activate(cp->p);

	if (rc < 0) {
		/* PCAP_ERROR has no text of its own; the others may not
		 * have more than their status. */
		log_error("capture: pcap: activating %s: %s", cp->ifname,
			  rc == PCAP_ERROR || *pcap_geterr(cp->p)
			      ? pcap_geterr(cp->p)
			      : pcap_statustostr(rc));
		return pcap_errno(rc);
	}
	if (rc > 0)
		log_warn("capture: pcap: %s: %s (%s)", cp->ifname,
			 pcap_statustostr(rc), pcap_geterr(cp->p));
	if (pcap_datalink(cp->p) != DLT_EN10MB) {
		log_error("capture: pcap: %s is not Ethernet (link type %s)",
			  cp->ifname,
			  pcap_datalink_val_to_name(pcap_datalink(cp->p)));
		return -EPROTONOSUPPORT;
	}
	/*
	 * Received frames only: without this, frames this host sends to
	 * the guest MAC - our own injected ones included - would be
	 * captured too.
	 */
	if (pcap_setdirection(cp->p, PCAP_D_IN) != 0) {
		log_error("capture: pcap: %s: cannot capture inbound only: %s",
			  cp->ifname, pcap_geterr(cp->p));
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The guest filter (pcap_build_filter), compiled into the kernel; its
 * text is left in filter for the log. */
static int pcap_install_filter(struct capture_pcap *cp,
			       const uint8_t guest_mac[6], uint32_t guest_ip4,
			       char *filter, size_t filter_size)
{
	struct bpf_program prog;
	int rc;

	rc = pcap_build_filter(filter, filter_size, guest_mac, guest_ip4);
	if (rc)
		return rc;
	if (pcap_compile(cp->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		log_error("capture: pcap: filter '%s': %s", filter,
			  pcap_geterr(cp->p));
		return -EINVAL;
	}
	rc = pcap_setfilter(cp->p, &prog);
	pcap_freecode(&prog);
	if (rc != 0) {
		log_error("capture: pcap: setting filter on %s: %s", cp->ifname,
			  pcap_geterr(cp->p));
		return -EIO;
	}
	return 0;
}

/* Non-blocking reads from the caller's poll loop; stats start now. */
static int pcap_make_pollable(struct capture_pcap *cp)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";

	if (pcap_setnonblock(cp->p, 1, errbuf) != 0) {
		log_error("capture: pcap: non-blocking %s: %s", cp->ifname,
			  errbuf);
		return -EIO;
	}
	cp->fd = pcap_get_selectable_fd(cp->p);
	if (cp->fd < 0) {
		log_error("capture: pcap: %s has no selectable fd", cp->ifname);
		return -EOPNOTSUPP;
	}
	/*
	 * Frames that arrived between activate and setfilter passed no
	 * filter (libpcap drains the ring at setfilter, but counters
	 * started at activate): take the stats baseline now.
	 */
	if (pcap_stats(cp->p, &cp->last) != 0)
		memset(&cp->last, 0, sizeof(cp->last));
	return 0;
}

static int pcap_open_handle(struct capture **out, const char *ifname,
			    const uint8_t guest_mac[6],
			    const struct capture_config *ucfg)
{
	struct capture_config cfg;
	struct capture_pcap *cp;
	char filter[256];
	int err;

	*out = NULL;
	if (ucfg)
		cfg = *ucfg;
	else
		capture_config_init(&cfg);
	if (!cfg.snaplen)
		cfg.snaplen = CAPTURE_SNAPLEN_DEFAULT;
	if (!cfg.buffer_bytes)
		cfg.buffer_bytes = CAPTURE_PCAP_BUFFER_DEFAULT;
	if (strlen(ifname) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	if (cfg.steal) {
		err = pcap_check_steal(ifname);
		if (err)
			return err;
	}

	cp = calloc(1, sizeof(*cp));
	if (!cp)
		return -ENOMEM;
	cp->base.ops = &capture_pcap_ops;
	pthread_mutex_init(&cp->lock, NULL);
	cp->fd = -1;
	cp->snaplen = cfg.snaplen;
	snprintf(cp->ifname, sizeof(cp->ifname), "%s", ifname);

	err = pcap_create_configured(cp, &cfg);
	if (!err)
		err = pcap_activate_inbound(cp);
	if (!err)
		err = pcap_install_filter(cp, guest_mac, cfg.guest_ip4, filter,
					  sizeof(filter));
	if (!err)
		err = pcap_make_pollable(cp);
	if (err) {
		pcap_close_handle(&cp->base);
		return err;
	}
	/* Packet sockets see frames after GRO. */
	capture_warn_coalescing("pcap", ifname);
	log_info("capture: pcap on %s: filter '%s', buffer %u KiB, snaplen "
		 "%u, %s time stamps%s",
		 ifname, filter, cfg.buffer_bytes >> 10, cfg.snaplen,
		 cp->nano ? "ns" : "us",
		 cfg.steal ? ", steal requested: frames are copied (the "
			     "interface is not bridged)"
			   : "");
	*out = &cp->base;
	return 0;
}

static int pcap_fd(struct capture *c)
{
	return to_pcap(c)->fd;
}

static void pcap_handler_cb(u_char *user, const struct pcap_pkthdr *h,
			    const u_char *bytes)
{
	struct capture_pcap *cp = (struct capture_pcap *)(void *)user;
	struct capture_frame f;

	/* A cut frame can be neither logged nor forwarded faithfully. */
	if (h->caplen < h->len) {
		capture_count(&cp->st.drops_user, 1);
		return;
	}
	f.data = bytes;
	f.len = h->caplen;
	f.ts_ns = (uint64_t)h->ts.tv_sec * 1000000000ull +
		  (uint64_t)h->ts.tv_usec * (cp->nano ? 1u : 1000u);
	capture_count(&cp->st.frames, 1);
	capture_count(&cp->st.bytes, f.len);
	cp->delivered++;
	cp->cb(cp->cb_arg, &f);
}

static int pcap_poll(struct capture *c, int max, capture_cb cb, void *arg)
{
	struct capture_pcap *cp = to_pcap(c);
	int rc;

	if (max <= 0 || !cb)
		return -EINVAL;
	cp->cb = cb;
	cp->cb_arg = arg;
	cp->delivered = 0;
	pthread_mutex_lock(&cp->lock);
	rc = pcap_dispatch(cp->p, max, pcap_handler_cb, (u_char *)(void *)cp);
	pthread_mutex_unlock(&cp->lock);
	if (rc == PCAP_ERROR) {
		log_error("capture: pcap: reading %s: %s", cp->ifname,
			  pcap_geterr(cp->p));
		return -EIO;
	}
	/* PCAP_ERROR_BREAK cannot happen (nobody calls breakloop). */
	return cp->delivered;
}

static int pcap_inject_frame(struct capture *c, const void *frame, size_t len)
{
	struct capture_pcap *cp = to_pcap(c);
	int rc;

	if (len < ETH_HLEN)
		return -EINVAL;
	if (len > cp->snaplen)
		return -EMSGSIZE;
	errno = 0;
	rc = pcap_inject(cp->p, frame, len);
	if (rc < 0) {
		/* libpcap keeps errno from send(); its text says more. */
		int e = errno ? errno : EIO;

		if (e == ENOBUFS || e == EAGAIN)
			return -EAGAIN;
		log_debug("capture: pcap_inject on %s: %s", cp->ifname,
			  pcap_geterr(cp->p));
		return -e;
	}
	if ((size_t)rc != len)
		return -EIO;
	capture_count(&cp->st.injected, 1);
	return 0;
}

static void pcap_stats_get(struct capture *c, struct capture_stats *out)
{
	struct capture_pcap *cp = to_pcap(c);
	struct pcap_stat ps;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cp->lock);
	if (pcap_stats(cp->p, &ps) == 0) {
		/* Unsigned 32-bit differences survive one wrap. */
		cp->matched += (uint32_t)(ps.ps_recv - cp->last.ps_recv);
		cp->drops_kernel += (uint32_t)(ps.ps_drop - cp->last.ps_drop);
		cp->drops_iface +=
		    (uint32_t)(ps.ps_ifdrop - cp->last.ps_ifdrop);
		cp->last = ps;
	}
	out->matched = cp->matched;
	out->drops_kernel = cp->drops_kernel;
	out->drops_iface = cp->drops_iface;
	pthread_mutex_unlock(&cp->lock);
	out->frames = capture_count_read(&cp->st.frames);
	out->bytes = capture_count_read(&cp->st.bytes);
	out->drops_user = capture_count_read(&cp->st.drops_user);
	out->injected = capture_count_read(&cp->st.injected);
}

static void pcap_close_handle(struct capture *c)
{
	struct capture_pcap *cp = to_pcap(c);

	if (!cp)
		return;
	if (cp->p)
		pcap_close(cp->p); /* closes cp->fd */
	pthread_mutex_destroy(&cp->lock);
	free(cp);
}

const struct capture_ops capture_pcap_ops = {
    .name = "pcap",
    .open = pcap_open_handle,
    .fd = pcap_fd,
    .poll = pcap_poll,
    .inject = pcap_inject_frame,
    .stats = pcap_stats_get,
    .close = pcap_close_handle,
};
