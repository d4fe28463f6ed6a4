/* SPDX-License-Identifier: MIT */
/*
 * The TCP transport: address parsing refuses what is not "A.B.C.D:PORT"
 * (IPv4 only), a connect to a closed loopback port fails with the errno,
 * and a connected pair carries bytes both ways and reports the peer's end.
 * Loopback only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/transport.h"

static void test_parse_good(void **state)
{
	struct sockaddr_in sa;

	(void)state;
	assert_int_equal(transport_parse_addr("127.0.0.1:7777", &sa), 0);
	assert_int_equal(sa.sin_family, AF_INET);
	assert_int_equal(ntohs(sa.sin_port), 7777);
	assert_int_equal(ntohl(sa.sin_addr.s_addr), 0x7f000001);
	assert_int_equal(transport_parse_addr("10.1.2.3:1", &sa), 0);
	assert_int_equal(ntohs(sa.sin_port), 1);
	assert_int_equal(transport_parse_addr("10.1.2.3:65535", &sa), 0);
	assert_int_equal(ntohs(sa.sin_port), 65535);
	/* No host: any address (listening). */
	assert_int_equal(transport_parse_addr(":9000", &sa), 0);
	assert_int_equal(sa.sin_addr.s_addr, htonl(INADDR_ANY));
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "",		   /* nothing */
	    "127.0.0.1",   /* missing port */
	    "127.0.0.1:",  /* empty port */
	    ":",	   /* neither */
	    "127.0.0.1:0", /* port out of range */
	    "127.0.0.1:65536",
	    "127.0.0.1:-1",
	    "127.0.0.1:99999999999999999999",
	    "127.0.0.1:80x", /* junk after the port */
	    "127.0.0.1: 80", /* space before it */
	    "127.0.0.1:+80",
	    "127.0.0.1:0x50",
	    "localhost:80", /* names are not resolved */
	    "256.0.0.1:80",
	    "1.2.3:80",
	    "1.2.3.4.5:80",
	    "[::1]:80", /* IPv6 is not supported */
	    "::1:80",
	    "fe80::1%eth0:80",
	    /* a host longer than any IPv4 address text */
	    "111111111111111111111111111111111111111111111111111111111111111"
	    "1111111:80",
	};
	struct sockaddr_in sa;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (transport_parse_addr(bad[i], &sa) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
}

/* A loopback port nobody listens on: bound (so no one else takes it)
 * but not listening, a connect is refused at once. */
static int closed_port(int *fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*fd >= 0);
	assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

static void test_connect_refused(void **state)
{
	struct transport *t = NULL;
	char addr[32];
	int fd;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", closed_port(&fd));
	assert_int_equal(transport_tcp_connect(addr, 2000, &t), -ECONNREFUSED);
	assert_null(t);
	/* A bad address fails before any socket. */
	assert_int_equal(transport_tcp_connect("127.0.0.1", 2000, &t), -EINVAL);
	assert_int_equal(transport_tcp_listen("127.0.0.1:0"), -EINVAL);
	close(fd);
}

/* Listen where the closed port was, connect, talk both ways, close. */
static void test_connect_accept_roundtrip(void **state)
{
	struct transport *c = NULL, *s = NULL;
	char addr[32], buf[16];
	int fd, port, lfd;

	(void)state;
	port = closed_port(&fd);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	lfd = transport_tcp_listen(addr);
	if (lfd == -EADDRINUSE)
		skip(); /* someone took the port meanwhile */
	assert_true(lfd >= 0);
	assert_int_equal(transport_tcp_connect(addr, 2000, &c), 0);
	assert_int_equal(transport_tcp_accept(lfd, &s), 0);
	assert_string_equal(c->peer, addr);
	assert_non_null(strstr(s->peer, "127.0.0.1:"));
	assert_int_equal(c->ops->send(c, "hello", 5), 0);
	assert_int_equal(s->ops->recv(s, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(s->ops->send(s, "ok", 2), 0);
	assert_int_equal(c->ops->recv(c, buf, sizeof(buf)), 2);
	/* The peer's end: recv says 0, then sends fail (no SIGPIPE). */
	c->ops->close(c);
	assert_int_equal(s->ops->recv(s, buf, sizeof(buf)), 0);
	for (int i = 0; i < 100; i++) {
		int ret = s->ops->send(s, buf, sizeof(buf));

		if (ret) {
			assert_true(ret == -EPIPE || ret == -ECONNRESET);
			break;
		}
		if (i == 99)
			fail_msg("send to a closed peer kept succeeding");
		usleep(1000);
	}
	s->ops->close(s);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test(test_connect_accept_roundtrip),
	};

	return cmocka_run_group_tests_name("transport_tcp", tests, NULL, NULL);
}
