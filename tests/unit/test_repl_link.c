/* SPDX-License-Identifier: MIT */
/*
 * The receiving end of the replication link (loopback, no key): a HELLO
 * is handed over, a HELLO of another protocol version is refused with a
 * reason that names both versions, anything else first is refused too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/repl_link.h"
#include "common/repl_protocol.h"
#include "common/transport.h"
#include "vmm/ckpt_codec.h"

static char addr[32];
static struct repl_acceptor *acceptor;

/* A loopback port free a moment ago. */
static int setup(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)state;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		return -1;
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	return repl_accept_start(addr, NULL, &acceptor);
}

static int teardown(void **state)
{
	(void)state;
	repl_accept_stop(acceptor);
	return 0;
}

/* Connect and send one message (HELLO of version, or a heartbeat). */
static struct transport *say(uint32_t version, bool hello)
{
	struct repl_hello h = {.version = version,
			       .mode = REPL_MODE_REVERSE,
			       .session = 0x1234,
			       .mem_size = 64 << 20,
			       .epoch_ms = 20};
	struct transport *t = NULL;
	struct ckpt_buf buf;

	ckpt_buf_init(&buf);
	assert_int_equal(transport_tcp_connect(addr, 2000, &t), 0);
	assert_int_equal(hello ? repl_encode_hello(&buf, &h)
			       : repl_encode_heartbeat(&buf, 1),
			 0);
	assert_int_equal(t->ops->send(t, buf.data, buf.len), 0);
	ckpt_buf_free(&buf);
	return t;
}

static void wait_refused(uint64_t n)
{
	struct repl_accept_stats st;

	for (int i = 0; i < 3000; i++) {
		repl_accept_stats(acceptor, &st);
		if (st.refused >= n)
			return;
		usleep(1000);
	}
	fail_msg("%llu refusals, expected %llu", (unsigned long long)st.refused,
		 (unsigned long long)n);
}

/* stderr into a file while fn runs; its text returned. */
static char *stderr_of(void (*fn)(void))
{
	char path[] = "/tmp/rrvm-test-repl-link.XXXXXX", *text;
	int fd = mkstemp(path), saved;
	long len;
	FILE *f;

	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

static void other_version(void)
{
	struct transport *t = say(REPL_VERSION + 1, true);

	wait_refused(1);
	t->ops->close(t);
}

static void no_hello(void)
{
	struct transport *t = say(REPL_VERSION, false);

	wait_refused(2);
	t->ops->close(t);
}

static void test_hello_accepted(void **state)
{
	struct repl_accepted acc;
	struct transport *t;
	struct pollfd pfd = {.fd = repl_accept_fd(acceptor), .events = POLLIN};

	(void)state;
	t = say(REPL_VERSION, true);
	assert_int_equal(poll(&pfd, 1, 3000), 1);
	assert_int_equal(repl_accept_take(acceptor, &acc), 0);
	assert_int_equal(acc.hello.version, REPL_VERSION);
	assert_int_equal(acc.hello.mode, REPL_MODE_REVERSE);
	assert_int_equal(acc.hello.session, 0x1234);
	assert_false(acc.authenticated);
	acc.link->ops->close(acc.link);
	assert_int_equal(repl_accept_take(acceptor, &acc), -EAGAIN);
	t->ops->close(t);
}

static void test_other_version_refused(void **state)
{
	char *log, want[128];

	(void)state;
	log = stderr_of(other_version);
	snprintf(want, sizeof(want),
		 "HELLO of replication protocol version %u from an "
		 "incompatible rrvm build; this one speaks version %u",
		 REPL_VERSION + 1, REPL_VERSION);
	if (!strstr(log, want))
		fail_msg("no '%s' in: %s", want, log);
	free(log);
}

static void test_no_hello_refused(void **state)
{
	struct repl_accept_stats st;
	char *log;

	(void)state;
	log = stderr_of(no_hello);
	assert_non_null(strstr(log, "no valid HELLO"));
	assert_null(strstr(log, "incompatible"));
	free(log);
	repl_accept_stats(acceptor, &st);
	assert_int_equal(st.accepted, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_accepted),
	    cmocka_unit_test(test_other_version_refused),
	    cmocka_unit_test(test_no_hello_refused),
	};

	return cmocka_run_group_tests_name("repl_link", tests, setup, teardown);
}
