/* SPDX-License-Identifier: MIT */
/* Gratuitous ARP with libnet 1.1.6: build, announce, parse (arp/garp.h). */
#include "arp/garp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnet.h>

#include "common/log.h"

/* Offsets in an untagged Ethernet + ARP(Ethernet, IPv4) frame. */
#define ETH_OFF_DST 0
#define ETH_OFF_SRC 6
#define ETH_OFF_TYPE 12
#define ARP_OFF 14
#define ARP_OFF_HTYPE (ARP_OFF + 0)
#define ARP_OFF_PTYPE (ARP_OFF + 2)
#define ARP_OFF_HLEN (ARP_OFF + 4)
#define ARP_OFF_PLEN (ARP_OFF + 5)
#define ARP_OFF_OP (ARP_OFF + 6)
#define ARP_OFF_SHA (ARP_OFF + 8)
#define ARP_OFF_SPA (ARP_OFF + 14)
#define ARP_OFF_THA (ARP_OFF + 18)
#define ARP_OFF_TPA (ARP_OFF + 24)

#define GARP_ETHERTYPE_ARP 0x0806
#define GARP_ETHERTYPE_IPV4 0x0800
#define GARP_HTYPE_ETHER 1

#define GARP_STR_(x) #x
#define GARP_STR(x) GARP_STR_(x)

static const uint8_t mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mac_zero[6];

/* ------------------------------------------------------------ helpers */

/* Zero or group bit set: not a station address. A Linux bridge drops
 * frames with such a source, so announcing one would silently do nothing. */
static bool mac_is_unicast(const uint8_t mac[6])
{
	return !(mac[0] & 1) && memcmp(mac, mac_zero, 6) != 0;
}

/* 0.0.0.0, multicast and limited broadcast are never a guest's address;
 * announcing them would poison neighbour tables for no purpose. */
static bool ip_is_announceable(uint32_t ip_be)
{
	uint32_t ip = ntohl(ip_be);

	return ip != 0 && ip != 0xffffffffu && (ip >> 28) != 0xe;
}

static bool ifname_valid(const char *ifname)
{
	return ifname && ifname[0] && strnlen(ifname, IFNAMSIZ) < IFNAMSIZ;
}

static bool op_valid(int op)
{
	return op == ARPOP_REQUEST || op == ARPOP_REPLY;
}

static void mac_fmt(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

static void ip_fmt(uint32_t ip_be, char out[INET_ADDRSTRLEN])
{
	struct in_addr a = { .s_addr = ip_be };

	if (!inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN))
		snprintf(out, INET_ADDRSTRLEN, "?");
}

/* libnet's messages end in a newline; our log lines must not. */
static const char *one_line(const char *msg, char *buf, size_t cap)
{
	size_t n;

	snprintf(buf, cap, "%s", msg && msg[0] ? msg : "unknown libnet error");
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return buf;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_ip_be(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);	/* already network order; frame may be unaligned */
	return v;
}

/* -------------------------------------------------------------- libnet */

/*
 * Does ifname have carrier? ETHTOOL_GLINK reads it directly (bridges,
 * veths, taps, NICs); IFF_RUNNING is the fallback, but it follows the
 * operstate, which linkwatch updates up to a second late: a bridge just
 * created or just unplugged would be misreported.
 */
static bool link_has_carrier(int fd, struct ifreq *ifr)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GLINK };
	short flags = ifr->ifr_flags;

	ifr->ifr_data = (void *)&ev;
	if (ioctl(fd, SIOCETHTOOL, ifr) == 0)
		return ev.data != 0;
	return flags & IFF_RUNNING;
}

/*
 * A link-layer libnet context on ifname; *carrier (if not NULL) says
 * whether it has carrier. The interface is checked first because libnet
 * reports failures only as text (its cleanup clobbers errno), while the
 * failover path wants to say precisely "no such interface" or "down".
 * Logs one line on failure.
 */
static int link_open(const char *ifname, libnet_t **out, bool *carrier)
{
	char errbuf[LIBNET_ERRBUF_SIZE];
	char msg[LIBNET_ERRBUF_SIZE];
	struct ifreq ifr;
	libnet_t *l;
	int fd, ret = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		log_error("garp: %s: socket: %s", ifname, strerror(-ret));
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname)); /* < IFNAMSIZ: checked */
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		ret = -errno;
		if (ret == -ENODEV)
			log_error("garp: %s: no such interface in this network namespace",
				  ifname);
		else
			log_error("garp: %s: cannot read interface flags: %s",
				  ifname, strerror(-ret));
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ret = -ENETDOWN;
		log_error("garp: %s: interface is down", ifname);
	} else if (carrier) {
		*carrier = link_has_carrier(fd, &ifr);
	}
	close(fd);
	if (ret)
		return ret;

	errbuf[0] = '\0';
	l = libnet_init(LIBNET_LINK_ADV, ifname, errbuf);
	if (!l) {
		one_line(errbuf, msg, sizeof(msg));
		if (strstr(msg, "CAP_NET_RAW")) {
			log_error("garp: %s: cannot open a packet socket: needs root or CAP_NET_RAW (%s)",
				  ifname, msg);
			return -EPERM;
		}
		/* Raced with the interface vanishing or going down? */
		if (strstr(msg, "No such device"))
			ret = -ENODEV;
		else if (strstr(msg, "is down"))
			ret = -ENETDOWN;
		else
			ret = -EIO;
		log_error("garp: %s: libnet_init: %s", ifname, msg);
		return ret;
	}
	*out = l;
	return 0;
}

/*
 * libnet's packet socket is bound to ETH_P_ALL: while it is open, the
 * kernel queues a copy of every frame of every interface on it, and we
 * never read it. Drop all of them at the socket filter. Only an
 * optimisation: failure is harmless.
 */
static void link_mute(libnet_t *l)
{
	struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &drop };

	if (setsockopt(libnet_getfd(l), SOL_SOCKET, SO_ATTACH_FILTER, &prog,
		       sizeof(prog)) < 0)
		log_debug("garp: cannot attach the drop-all filter: %s",
			  strerror(errno));
}

/*
 * Build one frame in l (highest layer first: libnet prepends each header
 * to the previous one) and copy it out. libnet_build_ethernet, not
 * libnet_autobuild_ethernet: the latter forces the interface's own MAC as
 * the source, and the switch must learn the guest's MAC instead.
 */
static int frame_build(libnet_t *l, const uint8_t mac[6], uint32_t ip_be,
		       int op, uint8_t *buf, size_t cap)
{
	/* Request: target MAC zero (RFC 5227 announcement, as the kernel's own
	 * arp_notify sends). Reply: target MAC = sender MAC (arping -A), the
	 * only reply form Linux's arp_is_garp() counts as gratuitous; with a
	 * broadcast target, Linux ignores it within locktime (1 s) of the
	 * entry's last update (measured: docs/arp.md). */
	const uint8_t *tha = op == ARPOP_REQUEST ? mac_zero : mac;
	const uint8_t *ip = (const uint8_t *)&ip_be;
	char msg[LIBNET_ERRBUF_SIZE];
	uint8_t *pkt = NULL;
	uint32_t len = 0;
	int ret;

	libnet_clear_packet(l);
	if (libnet_build_arp(ARPHRD_ETHER, ETHERTYPE_IP, 6, 4, (uint16_t)op,
			     mac, ip, tha, ip, NULL, 0, l, 0) == -1 ||
	    libnet_build_ethernet(mac_bcast, mac, ETHERTYPE_ARP, NULL, 0, l,
				  0) == -1 ||
	    libnet_adv_cull_packet(l, &pkt, &len) == -1) {
		log_error("garp: %s: building the frame: %s", libnet_getdevice(l),
			  one_line(libnet_geterror(l), msg, sizeof(msg)));
		pkt = NULL; /* a failed cull frees it or never allocated it */
		ret = -EIO;
		goto out;
	}
	if (len != GARP_FRAME_LEN || len > cap) {
		log_error("garp: %s: libnet built a %u-byte frame, expected %d",
			  libnet_getdevice(l), len, GARP_FRAME_LEN);
		ret = -EIO;
		goto out;
	}
	memcpy(buf, pkt, len);
	ret = (int)len;
out:
	if (pkt)
		libnet_adv_free_packet(l, pkt);
	libnet_clear_packet(l);
	return ret;
}

/* Absolute deadlines: no drift across frames, and EINTR resumes the wait. */
static void sleep_until(const struct timespec *due)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, due, NULL) ==
	       EINTR)
		;
}

static struct timespec ts_add_ms(struct timespec t, unsigned long long ms)
{
	t.tv_sec += (time_t)(ms / 1000);
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Why an announcement cannot be made, for the one log line, or NULL. */
static const char *announce_args_invalid(const char *ifname,
					 const uint8_t *mac, uint32_t ip_be,
					 unsigned count, unsigned interval_ms)
{
	if (!ifname_valid(ifname))
		return "interface name empty or longer than 15 characters";
	if (!mac)
		return "no MAC address";
	if (!mac_is_unicast(mac))
		return "MAC address is zero, multicast or broadcast";
	if (!ip_is_announceable(ip_be))
		return "IP address is 0.0.0.0, multicast or broadcast";
	if (count == 0 || count > GARP_MAX_COUNT)
		return "count must be 1.." GARP_STR(GARP_MAX_COUNT);
	if (interval_ms > GARP_MAX_INTERVAL_MS)
		return "interval must be at most " GARP_STR(GARP_MAX_INTERVAL_MS) " ms";
	return NULL;
}

/* ----------------------------------------------------------------- API */

int garp_build(const char *ifname, const uint8_t mac[6], uint32_t ip_be,
	       int op, uint8_t *buf, size_t cap)
{
	libnet_t *l = NULL;
	int ret;

	if (!ifname_valid(ifname) || !mac || !buf || cap < GARP_FRAME_LEN ||
	    !op_valid(op) || !mac_is_unicast(mac) || !ip_is_announceable(ip_be))
		return -EINVAL;
	ret = link_open(ifname, &l, NULL);
	if (ret)
		return ret;
	ret = frame_build(l, mac, ip_be, op, buf, cap);
	libnet_destroy(l);
	return ret;
}

int garp_announce(const char *ifname, const uint8_t mac[6], uint32_t ip_be,
		  unsigned count, unsigned interval_ms)
{
	uint8_t frames[2][GARP_FRAME_LEN];
	char mac_s[18] = "?", ip_s[INET_ADDRSTRLEN] = "?";
	unsigned i, failed = 0;
	struct timespec t0, due;
	libnet_t *l = NULL;
	int ret, first_err = 0;
	bool carrier = true;
	const char *why;
	int n;

	if (mac)
		mac_fmt(mac, mac_s);
	ip_fmt(ip_be, ip_s);
	why = announce_args_invalid(ifname, mac, ip_be, count, interval_ms);
	if (why) {
		log_error("garp: not announcing %s at %s on '%s': %s", ip_s,
			  mac_s, ifname ? ifname : "(null)", why);
		return -EINVAL;
	}

	ret = link_open(ifname, &l, &carrier);
	if (ret)
		return ret;
	/* No carrier: a bridge with no forwarding port, an unplugged uplink.
	 * Sending still succeeds locally, so say it: the LAN hears nothing. */
	if (!carrier)
		log_warn("garp: %s has no carrier: announcing %s at %s anyway, but nobody will hear it",
			 ifname, ip_s, mac_s);
	link_mute(l);

	/* Both forms up front: the send loop only writes. */
	ret = frame_build(l, mac, ip_be, ARPOP_REQUEST, frames[0],
			  sizeof(frames[0]));
	if (ret < 0)
		goto out;
	ret = frame_build(l, mac, ip_be, ARPOP_REPLY, frames[1],
			  sizeof(frames[1]));
	if (ret < 0)
		goto out;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < count; i++) {
		if (i) {
			due = ts_add_ms(t0, (unsigned long long)i * interval_ms);
			sleep_until(&due);
		}
		errno = 0;
		n = libnet_adv_write_link(l, frames[i & 1], GARP_FRAME_LEN);
		if (n == GARP_FRAME_LEN) {
			log_debug("garp: %s: sent %s %u/%u", ifname,
				  i & 1 ? "reply" : "request", i + 1, count);
			continue;
		}
		/* Keep going: a transient ENOBUFS should not cost the rest. */
		if (!first_err)
			first_err = n < 0 && errno ? -errno : -EIO;
		failed++;
	}
	if (failed) {
		log_error("garp: %s: %u of %u announcements of %s at %s not sent: %s",
			  ifname, failed, count, ip_s, mac_s,
			  strerror(-first_err));
		ret = first_err;
		goto out;
	}
	if (count == 1)
		log_info("garp: announced %s at %s on %s (1 frame)", ip_s, mac_s,
			 ifname);
	else
		log_info("garp: announced %s at %s on %s (%u frames, %u ms apart)",
			 ip_s, mac_s, ifname, count, interval_ms);
	ret = 0;
out:
	libnet_destroy(l);
	return ret;
}

int garp_parse(const uint8_t *frame, size_t len, struct garp_info *out)
{
	struct garp_info info;
	uint16_t op;

	if (!frame || !out)
		return -EINVAL;
	if (len < GARP_FRAME_LEN)
		return -EBADMSG;
	/* 802.1Q tags land here too: Linux strips them before packet sockets
	 * see the frame, so a tagged ARP is not something we produce. */
	if (get16(frame + ETH_OFF_TYPE) != GARP_ETHERTYPE_ARP ||
	    get16(frame + ARP_OFF_HTYPE) != GARP_HTYPE_ETHER ||
	    get16(frame + ARP_OFF_PTYPE) != GARP_ETHERTYPE_IPV4)
		return -EPROTONOSUPPORT;
	/* The lengths are implied by the types: anything else is corrupt, and
	 * the fixed offsets below would read the wrong bytes. */
	if (frame[ARP_OFF_HLEN] != 6 || frame[ARP_OFF_PLEN] != 4)
		return -EBADMSG;
	op = get16(frame + ARP_OFF_OP);
	if (op != ARPOP_REQUEST && op != ARPOP_REPLY)
		return -EPROTONOSUPPORT;

	memcpy(info.eth_dst, frame + ETH_OFF_DST, 6);
	memcpy(info.eth_src, frame + ETH_OFF_SRC, 6);
	info.op = op;
	memcpy(info.sender_mac, frame + ARP_OFF_SHA, 6);
	info.sender_ip_be = get_ip_be(frame + ARP_OFF_SPA);
	memcpy(info.target_mac, frame + ARP_OFF_THA, 6);
	info.target_ip_be = get_ip_be(frame + ARP_OFF_TPA);
	info.gratuitous = info.sender_ip_be == info.target_ip_be;
	*out = info;
	return 0;
}
