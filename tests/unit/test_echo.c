// SPDX-License-Identifier: MIT
/* The echo service: TCP and UDP give back exactly the bytes they got. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "fake_service.h"
#include "echo/echo_service.h"

static int setup(void **state)
{
	fake_reset();
	assert_int_equal(echo_start(), 0);
	return 0;
}

static int teardown(void **state)
{
	fake_reset();
	return 0;
}

static void test_tcp_echo_exact_bytes(void **state)
{
	uint8_t all[256 * 3];
	struct svc_conn *c = fake_connect(ECHO_DEFAULT_PORT);

	assert_non_null(c);
	/* Every byte value, NULs included, over several receives. */
	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)(i * 31 + 5);
	fake_receive(c, all, 1);
	fake_receive(c, all + 1, 300);
	fake_receive(c, all + 301, 0);
	fake_receive(c, all + 301, sizeof(all) - 301);
	assert_int_equal(c->out_len, sizeof(all));
	assert_memory_equal(c->out, all, sizeof(all));
	assert_false(c->close_requested);
	assert_int_equal(echo_get_stats()->tcp_bytes, sizeof(all));

	fake_clear_output(c);
	fake_receive(c, "ping\r\n", 6);
	assert_int_equal(c->out_len, 6);
	assert_memory_equal(c->out, "ping\r\n", 6);
	fake_disconnect(c);
}

static void test_tcp_connections_independent(void **state)
{
	struct svc_conn *a = fake_connect(ECHO_DEFAULT_PORT);
	struct svc_conn *b = fake_connect(ECHO_DEFAULT_PORT);

	assert_non_null(a);
	assert_non_null(b);
	fake_receive(a, "aaa", 3);
	fake_receive(b, "bb", 2);
	fake_receive(a, "A", 1);
	assert_string_equal(a->out, "aaaA");
	assert_string_equal(b->out, "bb");
	assert_int_equal(echo_get_stats()->connections, 2);
	fake_disconnect(a);
	fake_disconnect(b);
}

static void test_udp_echo_to_sender(void **state)
{
	svc_udp_handler h = fake_udp_handler(ECHO_DEFAULT_PORT);
	struct svc_udp_peer from = { .addr = 0x0100000a, .port = 40000 };
	struct svc_udp_peer other = { .addr = 0x0200000a, .port = 5 };
	uint8_t big[1472];
	const struct fake_datagram *d;

	assert_non_null(h);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(255 - i);
	h(&from, ECHO_DEFAULT_PORT, (const uint8_t *)"hello\0x", 7);
	h(&other, ECHO_DEFAULT_PORT, big, sizeof(big));
	h(&from, ECHO_DEFAULT_PORT, (const uint8_t *)"", 0);
	assert_int_equal(fake_datagram_count(), 3);

	d = fake_datagram(0);
	assert_int_equal(d->local_port, 7);
	assert_int_equal(d->to.addr, 0x0100000a);
	assert_int_equal(d->to.port, 40000);
	assert_int_equal(d->len, 7);
	assert_memory_equal(d->data, "hello\0x", 7);

	d = fake_datagram(1);
	assert_int_equal(d->local_port, 7);
	assert_int_equal(d->to.addr, 0x0200000a);
	assert_int_equal(d->to.port, 5);
	assert_int_equal(d->len, sizeof(big));
	assert_memory_equal(d->data, big, sizeof(big));

	d = fake_datagram(2);
	assert_int_equal(d->len, 0);
	assert_int_equal(d->to.port, 40000);
	assert_int_equal(echo_get_stats()->datagrams, 3);
}

static void test_udp_send_failure_counted(void **state)
{
	svc_udp_handler h = fake_udp_handler(ECHO_DEFAULT_PORT);
	struct svc_udp_peer from = { .addr = 1, .port = 2 };
	static uint8_t huge[4096]; /* more than the fake's datagram size */

	h(&from, ECHO_DEFAULT_PORT, huge, sizeof(huge));
	assert_int_equal(fake_datagram_count(), 0);
	assert_int_equal(echo_get_stats()->udp_errors, 1);
	assert_int_equal(echo_get_stats()->datagrams, 0);
}

static void test_port_option(void **state)
{
	struct svc_udp_peer from = { .addr = 9, .port = 1234 };
	struct svc_conn *c;

	fake_reset();
	fake_set_option("port", "7007");
	assert_int_equal(echo_start(), 0);
	assert_null(fake_listener(7));
	assert_null(fake_udp_handler(7));
	c = fake_connect(7007);
	assert_non_null(c);
	fake_receive(c, "x", 1);
	assert_string_equal(c->out, "x");
	fake_disconnect(c);
	fake_udp_handler(7007)(&from, 7007, (const uint8_t *)"y", 1);
	assert_int_equal(fake_datagram(0)->local_port, 7007);

	fake_reset();
	fake_set_option("port", "0");
	assert_int_equal(echo_start(), -EINVAL);
	fake_reset();
	fake_set_option("port", "7 ");
	assert_int_equal(echo_start(), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tcp_echo_exact_bytes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_tcp_connections_independent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_echo_to_sender,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_send_failure_counted,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_option, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
