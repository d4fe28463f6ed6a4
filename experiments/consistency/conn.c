/* SPDX-License-Identifier: MIT */
/*
 * One non-blocking TCP connection to the server: connect with a deadline,
 * buffered sends that survive partial writes, buffered receives parsed into
 * replies, and the FIFO of requests awaiting replies (RESP answers in order,
 * so the oldest outstanding request owns the next reply).
 */
#include "client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Beyond this much unparsed input something is wrong with the stream. */
#define IN_MAX (REPLY_MAX_BULK + (1u << 20))
#define IN_CHUNK (64u << 10)

void pending_free(struct pending *p)
{
	free(p->keys);
	p->keys = NULL;
	p->nkeys = 0;
}

int conn_init(struct conn *c, const char *name, size_t depth)
{
	memset(c, 0, sizeof(*c));
	c->name = name;
	c->fd = -1;
	c->state = CONN_DOWN;
	c->q_cap = depth;
	c->q = calloc(depth, sizeof(*c->q));
	return c->q ? 0 : -ENOMEM;
}

void conn_close(struct conn *c)
{
	struct pending p;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CONN_DOWN;
	c->in_off = c->in_len = 0;
	c->out_off = c->out_len = 0;
	/* Whatever the caller did not claim with conn_pop_lost goes. */
	while (conn_pop_lost(c, &p))
		pending_free(&p);
}

void conn_free(struct conn *c)
{
	conn_close(c);
	free(c->q);
	free(c->in);
	free(c->out);
	c->q = NULL;
	c->in = c->out = NULL;
}

int conn_start(struct conn *c, const struct sockaddr *sa, socklen_t len,
	       uint64_t now, uint64_t timeout_ns)
{
	int one = 1;
	int fd, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	/* One small request at a time: Nagle would only add delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	if (connect(fd, sa, len) == 0) {
		c->state = CONN_UP;
		c->connects++;
		return 0;
	}
	if (errno != EINPROGRESS) {
		err = -errno;
		conn_close(c);
		return err;
	}
	c->state = CONN_CONNECTING;
	c->deadline_ns = now + timeout_ns;
	return 0;
}

int conn_finish_connect(struct conn *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		conn_close(c);
		return -soerr;
	}
	c->state = CONN_UP;
	c->connects++;
	return 0;
}

short conn_poll_events(const struct conn *c)
{
	switch (c->state) {
	case CONN_CONNECTING:
		return POLLOUT;
	case CONN_UP:
		return POLLIN | (c->out_len > c->out_off ? POLLOUT : 0);
	default:
		return 0;
	}
}

static int out_reserve(struct conn *c, size_t n)
{
	size_t cap;
	char *buf;

	/* Sent bytes at the front are dead: reclaim them before growing. */
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_cap - c->out_len >= n)
		return 0;
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap - c->out_len < n)
		cap *= 2;
	buf = realloc(c->out, cap);
	if (!buf)
		return -ENOMEM;
	c->out = buf;
	c->out_cap = cap;
	return 0;
}

static int out_printf_len(struct conn *c, char type, size_t n)
{
	int err = out_reserve(c, 32);

	if (err)
		return err;
	c->out_len += (size_t)snprintf(c->out + c->out_len, 32, "%c%zu\r\n",
				       type, n);
	return 0;
}

int conn_send_cmd(struct conn *c, const struct pending *p, int argc,
		  const char *const *argv, const size_t *argl, uint64_t now)
{
	size_t tail;
	int err;

	if (c->state != CONN_UP)
		return -ENOTCONN;
	if (c->q_len == c->q_cap)
		return -ENOBUFS;
	err = out_printf_len(c, '*', (size_t)argc);
	for (int i = 0; !err && i < argc; i++) {
		err = out_printf_len(c, '$', argl[i]);
		if (!err)
			err = out_reserve(c, argl[i] + 2);
		if (!err) {
			memcpy(c->out + c->out_len, argv[i], argl[i]);
			memcpy(c->out + c->out_len + argl[i], "\r\n", 2);
			c->out_len += argl[i] + 2;
		}
	}
	if (err)
		return err;
	tail = (c->q_head + c->q_len) % c->q_cap;
	c->q[tail] = *p;
	c->q[tail].sent_ns = now;
	c->q[tail].hung = false;
	c->q_len++;
	/* The outage clock starts with the first request ever sent. */
	if (!c->last_reply_ns)
		c->last_reply_ns = now;
	return 0;
}

int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

/*
 * Read everything the socket has. Returns the bytes read, or a negative
 * errno (-ESHUTDOWN for an orderly close by the peer) after which the
 * bytes already buffered are still worth parsing: a server may send its
 * last replies and close in one go.
 */
int conn_fill(struct conn *c)
{
	int total = 0;

	for (;;) {
		ssize_t n;

		if (c->in_off == c->in_len)
			c->in_off = c->in_len = 0;
		if (c->in_cap - c->in_len < IN_CHUNK / 2) {
			size_t live = c->in_len - c->in_off;
			size_t cap = c->in_cap ? c->in_cap : IN_CHUNK;
			char *buf;

			/* Slide the unparsed tail down before growing. */
			if (c->in_off) {
				memmove(c->in, c->in + c->in_off, live);
				c->in_off = 0;
				c->in_len = live;
			}
			while (cap - c->in_len < IN_CHUNK / 2)
				cap *= 2;
			if (cap > IN_MAX)
				return -EMSGSIZE;
			if (cap != c->in_cap) {
				buf = realloc(c->in, cap);
				if (!buf)
					return -ENOMEM;
				c->in = buf;
				c->in_cap = cap;
			}
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
			 MSG_DONTWAIT);
		if (n == 0)
			return -ESHUTDOWN;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return total;
			return -errno;
		}
		c->in_len += (size_t)n;
		total += (int)n;
	}
}

struct pending *conn_oldest(struct conn *c)
{
	return c->q_len ? &c->q[c->q_head] : NULL;
}

bool conn_pop_lost(struct conn *c, struct pending *p)
{
	if (!c->q_len)
		return false;
	*p = c->q[c->q_head];
	memset(&c->q[c->q_head], 0, sizeof(c->q[c->q_head]));
	c->q_head = (c->q_head + 1) % c->q_cap;
	c->q_len--;
	return true;
}

/*
 * Parse the next reply and hand back the request it answers (the caller
 * owns p's memory then). REPLY_AGAIN when incomplete, -EPROTO for a
 * malformed stream or a reply nobody asked for.
 */
int conn_next_reply(struct conn *c, struct reply *rep, struct pending *p,
		    uint64_t now)
{
	size_t used = 0;
	int ret;

	if (c->in_off == c->in_len)
		return REPLY_AGAIN;
	if (!c->q_len)
		return -EPROTO;
	ret = reply_parse(c->in + c->in_off, c->in_len - c->in_off, rep, &used);
	if (ret != REPLY_DONE)
		return ret;
	c->in_off += used;
	conn_pop_lost(c, p);
	if (now - c->last_reply_ns > c->longest_stall_ns)
		c->longest_stall_ns = now - c->last_reply_ns;
	c->last_reply_ns = now;
	return REPLY_DONE;
}
