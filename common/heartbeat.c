/* SPDX-License-Identifier: MIT */
#include "common/heartbeat.h"

#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/transport.h"

/*
 * Wire format (little-endian), 32 bytes:
 *   0  magic u32 "RRHB"   4  version u8   5  flags u8 (0)   6  reserved u16
 *   8  session u64       16  seq u64     24  released_after u64
 */
static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

ssize_t heartbeat_build(const struct heartbeat_msg *m, const uint8_t *key,
			uint8_t *buf, size_t cap)
{
	(void)key; /* authentication hook: append a tag over buf here */
	if (cap < HEARTBEAT_BYTES)
		return -ENOSPC;
	memset(buf, 0, HEARTBEAT_BYTES);
	put_le32(buf, HEARTBEAT_MAGIC);
	buf[4] = HEARTBEAT_VERSION;
	put_le64(buf + 8, m->session);
	put_le64(buf + 16, m->seq);
	put_le64(buf + 24, m->released_after);
	return HEARTBEAT_BYTES;
}

int heartbeat_check(const uint8_t *buf, size_t len, const uint8_t *key,
		    struct heartbeat_msg *m)
{
	(void)key; /* authentication hook: verify the tag here */
	if (len != HEARTBEAT_BYTES || get_le32(buf) != HEARTBEAT_MAGIC ||
	    buf[4] != HEARTBEAT_VERSION)
		return -EBADMSG;
	m->session = get_le64(buf + 8);
	m->seq = get_le64(buf + 16);
	m->released_after = get_le64(buf + 24);
	return 0;
}

int heartbeat_socket_bind(const char *addr)
{
	struct sockaddr_in sa;
	/* Beats queued while this host stalls must not push out the newest
	 * ones: about 1000 datagrams (5 s at 5 ms). */
	int fd, ret, buf = 1 << 20, one = 1;

	ret = transport_parse_addr(addr, &sa);
	if (ret)
		return ret;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Past net.core.rmem_max when we may (root), else what it allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int heartbeat_realtime(int priority)
{
	struct sched_param sp = {.sched_priority = priority};

	if (priority <= 0)
		return -ENOTSUP;
	return -pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
}
