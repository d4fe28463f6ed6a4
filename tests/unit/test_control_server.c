/* SPDX-License-Identifier: MIT */
/*
 * The daemons' control socket server (common/control_server.c) over a real
 * Unix socket: replies, errors, --json, the socket's mode, a silent client
 * that must not hold up others, stale and live socket files, and a table
 * swap that waits for running handlers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/control_server.h"
#include "common/report.h"

static char path[90];

static int hello(void *ctx, struct control_request *req)
{
	struct report r;

	report_init(&r, req->json);
	report_str(&r, "greeting", "greeting", ctx);
	report_u64(&r, "argc", "argc", (uint64_t)req->argc);
	control_reply_report(req, &r);
	report_free(&r);
	return 0;
}

static int cmd_fail(void *ctx, struct control_request *req)
{
	(void)ctx;
	control_error(req, "no %s", req->argc > 1 ? req->argv[1] : "thing");
	return 0;
}

static int slow_running, slow_done; /* __atomic */

static int slow(void *ctx, struct control_request *req)
{
	(void)ctx;
	__atomic_store_n(&slow_running, 1, __ATOMIC_RELEASE);
	usleep(300 * 1000);
	control_replyf(req, "slow done\n");
	__atomic_store_n(&slow_done, 1, __ATOMIC_RELEASE);
	return 0;
}

static int connect_to(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memcpy(a.sun_path, path, strlen(path));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Send a line, read the whole reply. */
static char *ask(const char *line)
{
	static char buf[8192];
	size_t got = 0;
	ssize_t n;
	int fd = connect_to();

	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return buf;
}

static struct control_command table[] = {
    {"hello", "hello", hello, "hi"},
    {"fail", "fail [WHAT]", cmd_fail, NULL},
    {"slow", "slow", slow, NULL},
};

static int setup(void **state)
{
	struct control_server *s;

	snprintf(path, sizeof(path), "/tmp/rrvm-ctl-test.%d.sock", getpid());
	unlink(path);
	assert_int_equal(control_server_start(path, &s), 0);
	control_server_set(s, table, 3);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	control_server_stop(*state);
	assert_int_equal(access(path, F_OK), -1); /* unlinked */
	return 0;
}

static void test_replies(void **state)
{
	struct stat st;

	(void)state;
	assert_string_equal(ask("hello a b --json\n"),
			    "{\"greeting\":\"hi\",\"argc\":3}\n");
	assert_non_null(strstr(ask("hello\n"), "greeting:"));
	assert_string_equal(ask("fail cheese\n"), "error: no cheese\n");
	assert_string_equal(ask("fail --json\n"), "{\"error\":\"no thing\"}\n");
	assert_string_equal(ask("nope\n"),
			    "error: unknown command 'nope' (known: hello, fail, "
			    "slow)\n");
	assert_non_null(strstr(ask("\n"), "error: empty request"));
	/* Only the owner (and root) may connect. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* A client that connects and says nothing does not delay the next one. */
static void test_silent_client(void **state)
{
	uint64_t t0;
	int silent;

	(void)state;
	silent = connect_to();
	t0 = clock_mono_ns();
	assert_non_null(strstr(ask("hello\n"), "hi"));
	assert_true(clock_mono_ns() - t0 < 500000000ull);
	close(silent);
}

/* A live socket is not stolen; a stale one is replaced. */
static void test_socket_files(void **state)
{
	struct control_server *other;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char stale[108];
	int fd;

	(void)state;
	assert_int_equal(control_server_start(path, &other), -EADDRINUSE);
	snprintf(stale, sizeof(stale), "%s.stale", path);
	memcpy(a.sun_path, stale, strlen(stale));
	unlink(stale);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd); /* the file stays, nobody listens: stale */
	assert_int_equal(control_server_start(stale, &other), 0);
	control_server_stop(other);
	/* A regular file is not replaced. */
	fd = open(stale, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(control_server_start(stale, &other), -EEXIST);
	unlink(stale);
}

static void *ask_slow(void *arg)
{
	(void)arg;
	return strdup(ask("slow\n"));
}

/* Swapping the table waits for a handler of the old one to finish. */
static void test_swap_waits(void **state)
{
	pthread_t t;
	char *reply;

	__atomic_store_n(&slow_running, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&slow_done, 0, __ATOMIC_RELEASE);
	pthread_create(&t, NULL, ask_slow, NULL);
	while (!__atomic_load_n(&slow_running, __ATOMIC_ACQUIRE))
		usleep(1000);
	control_server_set(*state, NULL, 0);
	assert_true(__atomic_load_n(&slow_done, __ATOMIC_ACQUIRE));
	pthread_join(t, (void **)&reply);
	assert_string_equal(reply, "slow done\n");
	free(reply);
	assert_non_null(strstr(ask("hello\n"), "unknown command"));
	control_server_set(*state, table, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_replies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_silent_client, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_socket_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swap_waits, setup, teardown),
	};

	return cmocka_run_group_tests_name("control_server", tests, NULL, NULL);
}
