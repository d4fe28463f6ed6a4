/* SPDX-License-Identifier: MIT */
#include "common/heartbeat.h"

#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sodium.h>
#include <unistd.h>

#include "common/transport.h"

/*
 * Wire format (little-endian), 32 bytes, then with a key a 16-byte tag:
 *   0  magic u32 "RRHB"   4  version u8   5  flags u8   6  reserved u16
 *   8  session u64       16  seq u64     24  released_after u64
 *  32  tag[16]: keyed BLAKE2b (libsodium crypto_generichash) over bytes
 *      0..31, keyed with BLAKE2b(key = the pre-shared key,
 *      "rrvm-heartbeat-v1"): a key of its own, so a tag is never a value
 *      the replication channel's derivations produce.
 * flags: 1 = tagged. Replays are refused by the receiver: a sequence
 * number not above the last one seen of that session proves nothing.
 */
#define HEARTBEAT_TAGGED  0x1u
#define HEARTBEAT_TAG_LEN 16u
#define HEARTBEAT_LABEL	  "rrvm-heartbeat-v1"

static void heartbeat_tag(const uint8_t *psk, const uint8_t *msg,
			  uint8_t tag[HEARTBEAT_TAG_LEN])
{
	uint8_t k[crypto_generichash_KEYBYTES];

	crypto_generichash(k, sizeof(k), (const uint8_t *)HEARTBEAT_LABEL,
			   sizeof(HEARTBEAT_LABEL) - 1, psk,
			   crypto_generichash_KEYBYTES);
	crypto_generichash(tag, HEARTBEAT_TAG_LEN, msg, HEARTBEAT_BYTES, k,
			   sizeof(k));
	sodium_memzero(k, sizeof(k));
}
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
	size_t len = HEARTBEAT_BYTES + (key ? HEARTBEAT_TAG_LEN : 0);

	if (cap < len)
		return -ENOSPC;
	memset(buf, 0, HEARTBEAT_BYTES);
	put_le32(buf, HEARTBEAT_MAGIC);
	buf[4] = HEARTBEAT_VERSION;
	buf[5] = key ? HEARTBEAT_TAGGED : 0;
	put_le64(buf + 8, m->session);
	put_le64(buf + 16, m->seq);
	put_le64(buf + 24, m->released_after);
	if (key)
		heartbeat_tag(key, buf, buf + HEARTBEAT_BYTES);
	return (ssize_t)len;
}

int heartbeat_check(const uint8_t *buf, size_t len, const uint8_t *key,
		    struct heartbeat_msg *m)
{
	uint8_t tag[HEARTBEAT_TAG_LEN];

	/* With a key only tagged beats count, without one only untagged. */
	if (len != HEARTBEAT_BYTES + (key ? HEARTBEAT_TAG_LEN : 0) ||
	    get_le32(buf) != HEARTBEAT_MAGIC || buf[4] != HEARTBEAT_VERSION ||
	    buf[5] != (key ? HEARTBEAT_TAGGED : 0))
		return -EBADMSG;
	if (key) {
		heartbeat_tag(key, buf, tag);
		if (sodium_memcmp(tag, buf + HEARTBEAT_BYTES, sizeof(tag)))
			return -EBADMSG;
	}
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
