/* SPDX-License-Identifier: MIT */
/*
 * The capture layer the backends sit under (backup/capture.h): opening by
 * name, and injecting through a packet socket on another interface when
 * the config names one (the inline topology forwards to the primary that
 * way, whichever backend captures), plus the interface helpers the
 * backends share.
 */
#include "backup/capture.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

/* ------------------------------------------------------------ the layer */

/* How long a busy queue is waited for (see open_one). */
#define CAPTURE_BUSY_WAIT_MS 2000
/* ... and how often it is tried again meanwhile. */
#define CAPTURE_BUSY_RETRY_MS 20

/*
 * A capture that just closed on this interface (the same daemon changing
 * roles: backup -> VM -> backup) leaves its AF_XDP queue bound until the
 * kernel's deferred release: -EBUSY for a moment. Wait it out.
 */
static int open_one(const struct capture_ops *ops, struct capture **out,
		    const char *ifname, const uint8_t guest_mac[6],
		    const struct capture_config *cfg)
{
	int err;

	for (int waited = 0;; waited += CAPTURE_BUSY_RETRY_MS) {
		err = ops->open(out, ifname, guest_mac, cfg);
		if (err != -EBUSY || waited >= CAPTURE_BUSY_WAIT_MS)
			return err;
		if (waited == 0)
			log_info("capture: %s busy (a capture just closed?); "
				 "waiting up to %d ms",
				 ifname, CAPTURE_BUSY_WAIT_MS);
		usleep(CAPTURE_BUSY_RETRY_MS * 1000);
	}
}

static int open_backend(struct capture **out, const char *backend,
			const char *ifname, const uint8_t guest_mac[6],
			const struct capture_config *cfg)
{
	/* auto: fastest first (docs/capture.md, "How auto chooses"). */
	static const struct capture_ops *const order[] = {
	    &capture_ringbuf_ops, &capture_xdp_ops, &capture_pcap_ops};
	const struct capture_ops *ops;
	size_t i;
	int err = -ENODEV;

	if (strcmp(backend, "auto") == 0) {
		for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
			if (i)
				log_warn("capture: %s: %s backend unavailable "
					 "(%s); trying %s",
					 ifname, order[i - 1]->name,
					 strerror(-err), order[i]->name);
			err = open_one(order[i], out, ifname, guest_mac, cfg);
			if (err == 0)
				return 0;
		}
		return err;
	}
	ops = capture_backend(backend);
	if (!ops) {
		log_error("capture: unknown backend '%s' (ringbuf, xdp, pcap, "
			  "auto)",
			  backend);
		return -EINVAL;
	}
	return open_one(ops, out, ifname, guest_mac, cfg);
}

int capture_open(struct capture **out, const char *backend, const char *ifname,
		 const uint8_t guest_mac[6], const struct capture_config *cfg)
{
	struct capture *c = NULL;
	int err;

	*out = NULL;
	err = open_backend(&c, backend, ifname, guest_mac, cfg);
	if (err)
		return err;
	c->inject_fd = -1;
	c->inject_max = cfg ? cfg->snaplen : CAPTURE_SNAPLEN_DEFAULT;
	c->injected = 0;
	if (cfg && cfg->inject_ifname) {
		c->inject_fd = capture_psock_open(cfg->inject_ifname);
		if (c->inject_fd < 0) {
			err = c->inject_fd;
			c->ops->close(c);
			return err;
		}
	}
	*out = c;
	return 0;
}

int capture_inject(struct capture *c, const void *frame, size_t len)
{
	int err;

	if (c->inject_fd < 0)
		return c->ops->inject(c, frame, len);
	if (len > c->inject_max)
		return -EMSGSIZE;
	err = capture_psock_send(c->inject_fd, frame, len);
	if (err == 0)
		capture_count(&c->injected, 1);
	return err;
}

void capture_stats(struct capture *c, struct capture_stats *out)
{
	c->ops->stats(c, out);
	out->injected += capture_count_read(&c->injected);
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	if (c->inject_fd >= 0)
		close(c->inject_fd);
	c->ops->close(c);
}

/* ------------------------------------------------------------- helpers */

int capture_psock_open(const char *ifname)
{
	struct sockaddr_ll sll;
	unsigned int ifindex;
	int fd, err;

	ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		err = -errno;
		log_error("capture: packet socket on %s: %s", ifname,
			  strerror(errno));
		return err;
	}
	/* Protocol 0: the socket receives nothing, it only sends. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		log_error("capture: packet socket for %s: %s%s", ifname,
			  strerror(errno),
			  errno == EPERM ? " (needs CAP_NET_RAW)" : "");
		return err;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		err = -errno;
		log_error("capture: bind packet socket to %s: %s", ifname,
			  strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

int capture_psock_send(int fd, const void *frame, size_t len)
{
	ssize_t n;

	if (len < ETH_HLEN)
		return -EINVAL;
	n = send(fd, frame, len, MSG_DONTWAIT);
	if (n < 0) {
		/* A full device queue is what EAGAIN means to our callers. */
		if (errno == ENOBUFS || errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
	return (size_t)n == len ? 0 : -EIO;
}

int capture_promisc_hold(const char *ifname)
{
	struct packet_mreq mr;
	int fd, err;

	fd = capture_psock_open(ifname);
	if (fd < 0)
		return fd;
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = (int)if_nametoindex(ifname);
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) <
	    0) {
		err = -errno;
		log_error("capture: promiscuous mode on %s: %s", ifname,
			  strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

int capture_if_bridged(const char *ifname)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/class/net/%s", ifname);
	if (access(path, F_OK) != 0)
		return -errno;
	/* brport/: a bridge port; bridge/: the bridge itself. */
	snprintf(path, sizeof(path), "/sys/class/net/%s/brport", ifname);
	if (access(path, F_OK) == 0)
		return 1;
	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", ifname);
	if (access(path, F_OK) == 0)
		return 1;
	return 0;
}

int capture_if_coalesces(const char *ifname)
{
	struct ethtool_value ev;
	struct ifreq ifr;
	int fd, on = 0, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	ev.cmd = ETHTOOL_GGRO;
	ev.data = 0;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
		on |= ev.data != 0;
	else
		err = -errno;
	ev.cmd = ETHTOOL_GFLAGS;
	ev.data = 0;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
		on |= (ev.data & ETH_FLAG_LRO) != 0;
	close(fd);
	return on ? 1 : err;
}

void capture_warn_coalescing(const char *backend, const char *ifname)
{
	if (capture_if_coalesces(ifname) == 1)
		log_warn("capture: %s: GRO or LRO is on for %s: coalesced TCP "
			 "frames are longer than snaplen and will be lost "
			 "(ethtool -K %s gro off lro off)",
			 backend, ifname, ifname);
}
