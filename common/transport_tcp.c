/* SPDX-License-Identifier: MIT */
#include "common/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tcp_transport {
	struct transport base;
	int fd;
};

static int tcp_send(struct transport *t, const void *buf, size_t len)
{
	const char *p = buf;
	int fd = ((struct tcp_transport *)t)->fd;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t tcp_recv(struct transport *t, void *buf, size_t cap)
{
	ssize_t n;

	do {
		n = recv(((struct tcp_transport *)t)->fd, buf, cap, 0);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int tcp_fd(struct transport *t)
{
	return ((struct tcp_transport *)t)->fd;
}

static void tcp_shutdown(struct transport *t)
{
	shutdown(((struct tcp_transport *)t)->fd, SHUT_RDWR);
}

static void tcp_close(struct transport *t)
{
	close(((struct tcp_transport *)t)->fd);
	free(t);
}

static const struct transport_ops tcp_ops = {
    .name = "tcp",
    .send = tcp_send,
    .recv = tcp_recv,
    .fd = tcp_fd,
    .shutdown = tcp_shutdown,
    .close = tcp_close,
};

int transport_parse_addr(const char *addr, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	/* Digits only: strtol alone would take " 80" and "+80". */
	if (colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (host[0] == '\0')
		sa->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static void tune(int fd)
{
	int one = 1, buf = 4 << 20;

	/* Acks and heartbeats are tiny and latency-critical. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

int transport_fd_wrap(int fd, const char *peer, struct transport **out)
{
	struct tcp_transport *t = calloc(1, sizeof(*t));

	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	t->base.ops = &tcp_ops;
	t->fd = fd;
	snprintf(t->base.peer, sizeof(t->base.peer), "%s", peer);
	tune(fd);
	*out = &t->base;
	return 0;
}

static int wrap(int fd, const struct sockaddr_in *peer, struct transport **out)
{
	char ip[INET_ADDRSTRLEN], name[64];

	inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof(ip));
	snprintf(name, sizeof(name), "%s:%u", ip, ntohs(peer->sin_port));
	return transport_fd_wrap(fd, name, out);
}

int transport_tcp_connect(const char *addr, int timeout_ms,
			  struct transport **out)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	int fd, ret, err = 0;
	socklen_t len = sizeof(err);

	ret = transport_parse_addr(addr, &sa);
	if (ret)
		return ret;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		ret = -errno;
		goto out;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	ret = poll(&pfd, 1, timeout_ms);
	if (ret <= 0) {
		ret = ret == 0 ? -ETIMEDOUT : -errno;
		goto out;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		ret = -err;
		goto out;
	}
	/* Back to blocking: each link direction has its own thread. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return wrap(fd, &sa, out);
out:
	close(fd);
	return ret;
}

int transport_tcp_listen(const char *addr)
{
	struct sockaddr_in sa;
	int fd, one = 1, ret;

	ret = transport_parse_addr(addr, &sa);
	if (ret)
		return ret;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int transport_tcp_accept(int listen_fd, struct transport **out)
{
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	int fd =
	    accept4(listen_fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);

	if (fd < 0)
		return -errno;
	return wrap(fd, &peer, out);
}
