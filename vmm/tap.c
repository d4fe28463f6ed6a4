/* SPDX-License-Identifier: MIT */
/* The TAP backend of the virtual NIC: one frame per read/write, no headers. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/vnic.h"

struct tap_backend {
	struct vnic_backend base;
	int fd;
	char ifname[IFNAMSIZ];
};

static int tap_send(struct vnic_backend *backend, const void *frame, size_t len)
{
	struct tap_backend *tap = (struct tap_backend *)backend;
	ssize_t n;

	do {
		n = write(tap->fd, frame, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return 0;
}

static ssize_t tap_receive(struct vnic_backend *backend, void *buf, size_t cap)
{
	struct tap_backend *tap = (struct tap_backend *)backend;
	ssize_t n;

	do {
		n = read(tap->fd, buf, cap);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static int tap_poll_fd(struct vnic_backend *backend)
{
	return ((struct tap_backend *)backend)->fd;
}

static void tap_destroy(struct vnic_backend *backend)
{
	struct tap_backend *tap = (struct tap_backend *)backend;

	close(tap->fd);
	free(tap);
}

static const struct vnic_backend_ops tap_ops = {
    .name = "tap",
    .send = tap_send,
    .receive = tap_receive,
    .poll_fd = tap_poll_fd,
    .destroy = tap_destroy,
};

int tap_backend_open(const char *ifname, struct vnic_backend **out)
{
	struct tap_backend *tap = NULL;
	struct ifreq ifr;
	int ret;

	if (strlen(ifname) >= IFNAMSIZ) {
		log_error("tap '%s': name longer than %d characters", ifname,
			  IFNAMSIZ - 1);
		return -EINVAL;
	}
	/* Opening /dev/net/tun would silently create a missing TAP: refuse. */
	if (if_nametoindex(ifname) == 0) {
		log_error("tap '%s' does not exist in this network namespace; "
			  "create it with 'ip tuntap add dev %s mode tap'",
			  ifname, ifname);
		return -ENODEV;
	}
	tap = calloc(1, sizeof(*tap));
	if (!tap)
		return -ENOMEM;
	tap->base.ops = &tap_ops;
	snprintf(tap->ifname, sizeof(tap->ifname), "%s", ifname);
	tap->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tap->fd < 0) {
		ret = -errno;
		log_error("tap '%s': cannot open /dev/net/tun: %s", ifname,
			  strerror(errno));
		goto out;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(tap->fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		log_error("tap '%s': cannot attach (%s); is it a TAP device "
			  "not in use by another process?",
			  ifname, strerror(errno));
		goto out;
	}
	*out = &tap->base;
	return 0;
out:
	if (tap->fd >= 0)
		close(tap->fd);
	free(tap);
	return ret;
}
