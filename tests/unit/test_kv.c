// SPDX-License-Identifier: MIT
/*
 * The kv service end to end through the fake transport: RESP in, exact
 * reply bytes out. Expected replies were checked against redis-server 7.0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_service.h"
#include "kv/kv_commands.h"
#include "kv/kv_store.h"

extern const struct guest_service guest_main_service;

#define PORT 6379

static int setup(void **state)
{
	fake_reset();
	assert_int_equal(guest_main_service.start(), 0);
	return 0;
}

static int teardown(void **state)
{
	fake_reset();
	return 0;
}

static struct svc_conn *conn_open(void)
{
	struct svc_conn *c = fake_connect(PORT);

	assert_non_null(c);
	return c;
}

/* Send argv (NULL-terminated) as one RESP multibulk request. */
static void send_args(struct svc_conn *c, const char **args)
{
	size_t n = 0, len = 0, cap = 64;
	char *buf;

	while (args[n])
		cap += strlen(args[n++]) + 32;
	buf = malloc(cap);
	assert_non_null(buf);
	len += sprintf(buf, "*%zu\r\n", n);
	for (size_t i = 0; i < n; i++)
		len += sprintf(buf + len, "$%zu\r\n%s\r\n", strlen(args[i]),
			       args[i]);
	fake_clear_output(c);
	fake_receive(c, buf, len);
	free(buf);
}

static void expect_out(struct svc_conn *c, const char *want)
{
	/* String compare first: cmocka then prints both sides. */
	assert_string_equal(c->out ? c->out : "", want);
	assert_int_equal(c->out_len, strlen(want));
}

#define CMD(c, ...) send_args(c, (const char *[]){ __VA_ARGS__, NULL })
#define EXPECT(c, want, ...)                \
	do {                                \
		CMD(c, __VA_ARGS__);        \
		expect_out(c, want);        \
	} while (0)

static void raw(struct svc_conn *c, const char *s)
{
	fake_clear_output(c);
	fake_receive(c, s, strlen(s));
}

#define WRONGTYPE \
	"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
#define NOTINT "-ERR value is not an integer or out of range\r\n"

static void set_now_ms(uint64_t ms)
{
	fake_set_now_ns(ms * 1000000);
}

/* ---------------------------------------------------------------- basics */

static void test_ping_echo(void **state)
{
	struct svc_conn *c = conn_open();

	EXPECT(c, "+PONG\r\n", "PING");
	EXPECT(c, "+PONG\r\n", "ping");
	EXPECT(c, "$5\r\nhello\r\n", "PING", "hello");
	EXPECT(c, "-ERR wrong number of arguments for 'ping' command\r\n",
	       "PING", "a", "b");
	EXPECT(c, "$2\r\nhi\r\n", "ECHO", "hi");
	EXPECT(c, "$0\r\n\r\n", "ECHO", "");
	EXPECT(c, "-ERR wrong number of arguments for 'echo' command\r\n",
	       "ECHO");
	raw(c, "PING\r\n");
	expect_out(c, "+PONG\r\n");
	raw(c, "PING\nECHO \"a b\"\r\n");
	expect_out(c, "+PONG\r\n$3\r\na b\r\n");
	fake_disconnect(c);
}

static void test_unknown_and_arity(void **state)
{
	struct svc_conn *c = conn_open();
	char longarg[141], want[300];

	EXPECT(c, "-ERR unknown command 'FOO', with args beginning with: 'a' "
		  "'b' \r\n",
	       "FOO", "a", "b");
	EXPECT(c, "-ERR unknown command 'FOO', with args beginning with: \r\n",
	       "FOO");
	EXPECT(c, "-ERR unknown command 'F  OO', with args beginning with: "
		  "'a b' \r\n",
	       "F\r\nOO", "a\nb");
	memset(longarg, 'x', 140);
	longarg[140] = '\0';
	snprintf(want, sizeof(want),
		 "-ERR unknown command 'FOO', with args beginning with: "
		 "'%.128s' \r\n",
		 longarg);
	EXPECT(c, want, "FOO", longarg, "b");
	EXPECT(c, "-ERR unknown command '', with args beginning with: \r\n",
	       "");
	EXPECT(c, "-ERR wrong number of arguments for 'get' command\r\n",
	       "GET");
	EXPECT(c, "-ERR wrong number of arguments for 'get' command\r\n",
	       "get", "a", "b");
	EXPECT(c, "-ERR wrong number of arguments for 'set' command\r\n",
	       "SET", "a");
	EXPECT(c, "-ERR wrong number of arguments for 'dbsize' command\r\n",
	       "DBSIZE", "x");
	EXPECT(c, "-ERR wrong number of arguments for 'lrange' command\r\n",
	       "LRANGE", "l", "0");
	fake_disconnect(c);
}

static void test_set_get(void **state)
{
	struct svc_conn *c = conn_open();
	static const char bin[] = "*3\r\n$3\r\nSET\r\n$3\r\nk\0y\r\n$4\r\nv\r\n\0\r\n";
	static const char get[] = "*2\r\n$3\r\nGET\r\n$3\r\nk\0y\r\n";

	EXPECT(c, "$-1\r\n", "GET", "a");
	EXPECT(c, "+OK\r\n", "SET", "a", "1");
	EXPECT(c, "$1\r\n1\r\n", "GET", "a");
	EXPECT(c, "+OK\r\n", "SET", "a", "a much longer value than before");
	EXPECT(c, "$31\r\na much longer value than before\r\n", "GET", "a");
	EXPECT(c, "+OK\r\n", "SET", "a", "");
	EXPECT(c, "$0\r\n\r\n", "GET", "a");
	EXPECT(c, "+OK\r\n", "set", "A", "other");
	EXPECT(c, "$0\r\n\r\n", "GET", "a"); /* keys are case-sensitive */

	/* Binary-safe keys and values. */
	fake_clear_output(c);
	fake_receive(c, bin, sizeof(bin) - 1);
	expect_out(c, "+OK\r\n");
	fake_clear_output(c);
	fake_receive(c, get, sizeof(get) - 1);
	assert_int_equal(c->out_len, 10);
	assert_memory_equal(c->out, "$4\r\nv\r\n\0\r\n", 10);
	EXPECT(c, "$-1\r\n", "GET", "k");
	fake_disconnect(c);
}

static void test_set_options(void **state)
{
	struct svc_conn *c = conn_open();

	set_now_ms(1000);
	EXPECT(c, "$-1\r\n", "SET", "a", "1", "GET");
	EXPECT(c, "$1\r\n1\r\n", "SET", "a", "2", "get");
	EXPECT(c, "$1\r\n2\r\n", "GETSET", "a", "3");
	EXPECT(c, "$-1\r\n", "SET", "a", "4", "NX");
	EXPECT(c, "$1\r\n3\r\n", "SET", "a", "4", "NX", "GET");
	EXPECT(c, "$-1\r\n", "SET", "b", "1", "XX");
	EXPECT(c, "$-1\r\n", "SET", "b", "1", "XX", "GET");
	EXPECT(c, "$-1\r\n", "GET", "b");
	EXPECT(c, "+OK\r\n", "SET", "b", "1", "NX");
	EXPECT(c, "+OK\r\n", "SET", "b", "2", "xx");
	EXPECT(c, "$1\r\n2\r\n", "GET", "b");
	EXPECT(c, ":0\r\n", "SETNX", "b", "3");
	EXPECT(c, ":1\r\n", "SETNX", "c", "3");

	EXPECT(c, "-ERR syntax error\r\n", "SET", "a", "1", "NX", "XX");
	EXPECT(c, "-ERR syntax error\r\n", "SET", "a", "1", "EX", "10", "PX",
	       "10");
	EXPECT(c, "-ERR syntax error\r\n", "SET", "a", "1", "KEEPTTL", "EX",
	       "10");
	EXPECT(c, "-ERR syntax error\r\n", "SET", "a", "1", "EX");
	EXPECT(c, "-ERR syntax error\r\n", "SET", "a", "1", "FOO");
	EXPECT(c, "-ERR invalid expire time in 'set' command\r\n", "SET", "a",
	       "1", "EX", "0");
	EXPECT(c, "-ERR invalid expire time in 'set' command\r\n", "SET", "a",
	       "1", "EX", "-5");
	EXPECT(c, "-ERR invalid expire time in 'set' command\r\n", "SET", "a",
	       "1", "EX", "9223372036854775");
	EXPECT(c, "-ERR invalid expire time in 'set' command\r\n", "SET", "a",
	       "1", "PX", "9223372036854775807");
	EXPECT(c, NOTINT, "SET", "a", "1", "EX", "x");
	EXPECT(c, "-ERR invalid expire time in 'setex' command\r\n", "SETEX",
	       "y", "0", "v");
	EXPECT(c, "$1\r\n3\r\n", "GET", "a"); /* unchanged by the errors */

	/* GET on a list is refused before anything is changed. */
	EXPECT(c, ":1\r\n", "RPUSH", "l", "x");
	EXPECT(c, WRONGTYPE, "SET", "l", "v", "GET");
	EXPECT(c, WRONGTYPE, "GETSET", "l", "v");
	EXPECT(c, ":1\r\n", "LLEN", "l");
	/* Plain SET replaces a list. */
	EXPECT(c, "+OK\r\n", "SET", "l", "v");
	EXPECT(c, "+string\r\n", "TYPE", "l");
	EXPECT(c, "$1\r\nv\r\n", "GETDEL", "l");
	EXPECT(c, "$-1\r\n", "GETDEL", "l");
	fake_disconnect(c);
}

static void test_expiry(void **state)
{
	struct svc_conn *c = conn_open();

	set_now_ms(1000);
	EXPECT(c, ":-2\r\n", "TTL", "k");
	EXPECT(c, "+OK\r\n", "SET", "k", "v", "EX", "10");
	EXPECT(c, ":10\r\n", "TTL", "k");
	EXPECT(c, ":10000\r\n", "PTTL", "k");
	set_now_ms(1000 + 9999);
	EXPECT(c, "$1\r\nv\r\n", "GET", "k");
	EXPECT(c, ":0\r\n", "TTL", "k"); /* 1 ms left rounds to 0 */
	EXPECT(c, ":1\r\n", "PTTL", "k");
	set_now_ms(11000);
	EXPECT(c, "$-1\r\n", "GET", "k");
	EXPECT(c, ":0\r\n", "EXISTS", "k");
	EXPECT(c, ":-2\r\n", "TTL", "k");

	EXPECT(c, "+OK\r\n", "SET", "p", "v", "PX", "1500");
	EXPECT(c, ":2\r\n", "TTL", "p");
	EXPECT(c, "+OK\r\n", "SET", "p", "w", "KEEPTTL");
	EXPECT(c, ":1500\r\n", "PTTL", "p");
	EXPECT(c, "+OK\r\n", "SET", "p", "w");
	EXPECT(c, ":-1\r\n", "TTL", "p");
	EXPECT(c, "+OK\r\n", "SETEX", "s", "5", "v");
	EXPECT(c, ":5000\r\n", "PTTL", "s");
	EXPECT(c, "+OK\r\n", "PSETEX", "s", "5", "v");
	EXPECT(c, ":5\r\n", "PTTL", "s");
	/* Absolute times, including one already past. */
	EXPECT(c, "+OK\r\n", "SET", "x", "v", "PXAT", "20000");
	EXPECT(c, ":9000\r\n", "PTTL", "x");
	EXPECT(c, "+OK\r\n", "SET", "x", "v", "EXAT", "30");
	EXPECT(c, ":19000\r\n", "PTTL", "x");
	EXPECT(c, "+OK\r\n", "SET", "x", "v", "EXAT", "5");
	EXPECT(c, ":0\r\n", "EXISTS", "x");

	/* EXPIRE and friends. */
	EXPECT(c, "+OK\r\n", "SET", "e", "v");
	EXPECT(c, ":0\r\n", "EXPIRE", "nokey", "10");
	EXPECT(c, ":0\r\n", "EXPIRE", "e", "10", "XX");
	EXPECT(c, ":0\r\n", "EXPIRE", "e", "10", "GT");
	EXPECT(c, ":1\r\n", "EXPIRE", "e", "100", "NX");
	EXPECT(c, ":0\r\n", "EXPIRE", "e", "10", "NX");
	EXPECT(c, ":0\r\n", "EXPIRE", "e", "10", "GT");
	EXPECT(c, ":1\r\n", "EXPIRE", "e", "10", "LT");
	EXPECT(c, ":10\r\n", "TTL", "e");
	EXPECT(c, ":1\r\n", "PEXPIRE", "e", "20000", "XX", "GT");
	EXPECT(c, ":20\r\n", "TTL", "e");
	EXPECT(c, "-ERR Unsupported option FOO\r\n", "EXPIRE", "e", "1", "FOO");
	EXPECT(c, "-ERR NX and XX, GT or LT options at the same time are not "
		  "compatible\r\n",
	       "EXPIRE", "e", "1", "NX", "XX");
	EXPECT(c, "-ERR GT and LT options at the same time are not "
		  "compatible\r\n",
	       "EXPIRE", "e", "1", "GT", "LT");
	EXPECT(c, NOTINT, "EXPIRE", "e", "x");
	EXPECT(c, "-ERR invalid expire time in 'expire' command\r\n", "EXPIRE",
	       "e", "9223372036854775807");
	EXPECT(c, ":1\r\n", "PERSIST", "e");
	EXPECT(c, ":0\r\n", "PERSIST", "e");
	EXPECT(c, ":-1\r\n", "TTL", "e");
	/* A time in the past deletes the key. */
	EXPECT(c, ":1\r\n", "EXPIRE", "e", "-1");
	EXPECT(c, ":0\r\n", "EXISTS", "e");
	fake_disconnect(c);
}

static void test_expiry_reclaimed_without_access(void **state)
{
	struct svc_conn *c = conn_open();
	char key[16];

	set_now_ms(0);
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		EXPECT(c, "+OK\r\n", "SET", key, "v", "PX", "10");
	}
	EXPECT(c, "+OK\r\n", "SET", "keep", "v");
	EXPECT(c, ":101\r\n", "DBSIZE");
	set_now_ms(20);
	/* Other commands reclaim expired keys a few buckets at a time. */
	for (int i = 0; i < 200; i++)
		EXPECT(c, "+PONG\r\n", "PING");
	EXPECT(c, ":1\r\n", "DBSIZE");
	EXPECT(c, "$1\r\nv\r\n", "GET", "keep");
	fake_disconnect(c);
}

static void test_del_exists_type_keys(void **state)
{
	struct svc_conn *c = conn_open();

	EXPECT(c, "+OK\r\n", "MSET", "a", "1", "b", "2", "hello", "3");
	EXPECT(c, ":2\r\n", "RPUSH", "hallo", "x", "y");
	EXPECT(c, ":3\r\n", "EXISTS", "a", "a", "b", "zz");
	EXPECT(c, "+string\r\n", "TYPE", "a");
	EXPECT(c, "+list\r\n", "TYPE", "hallo");
	EXPECT(c, "+none\r\n", "TYPE", "zz");
	/* Hash order: either way round. */
	CMD(c, "KEYS", "h?llo");
	assert_true(strcmp(c->out, "*2\r\n$5\r\nhallo\r\n$5\r\nhello\r\n") ==
			    0 ||
		    strcmp(c->out, "*2\r\n$5\r\nhello\r\n$5\r\nhallo\r\n") ==
			    0);
	EXPECT(c, "*0\r\n", "KEYS", "nomatch*");
	CMD(c, "KEYS", "*");
	assert_memory_equal(c->out, "*4\r\n", 4);
	EXPECT(c, ":2\r\n", "DEL", "a", "a", "b", "zz");
	EXPECT(c, ":1\r\n", "DEL", "hallo");
	EXPECT(c, ":0\r\n", "EXISTS", "a", "b", "hallo");
	EXPECT(c, ":1\r\n", "DBSIZE");
	fake_disconnect(c);
}

static void test_incr_family(void **state)
{
	struct svc_conn *c = conn_open();

	EXPECT(c, ":1\r\n", "INCR", "n");
	EXPECT(c, ":11\r\n", "INCRBY", "n", "10");
	EXPECT(c, ":10\r\n", "DECR", "n");
	EXPECT(c, ":-5\r\n", "DECRBY", "n", "15");
	EXPECT(c, ":-5\r\n", "INCRBY", "n", "0");
	EXPECT(c, "$2\r\n-5\r\n", "GET", "n");
	EXPECT(c, ":-1\r\n", "DECR", "fresh");

	EXPECT(c, "+OK\r\n", "SET", "max", "9223372036854775807");
	EXPECT(c, "-ERR increment or decrement would overflow\r\n", "INCR",
	       "max");
	EXPECT(c, ":9223372036854775806\r\n", "INCRBY", "max", "-1");
	EXPECT(c, "+OK\r\n", "SET", "min", "-9223372036854775808");
	EXPECT(c, "-ERR increment or decrement would overflow\r\n", "DECR",
	       "min");
	EXPECT(c, "-ERR increment or decrement would overflow\r\n", "INCRBY",
	       "min", "-1");
	EXPECT(c, ":-1\r\n", "INCRBY", "min", "9223372036854775807");
	EXPECT(c, "-ERR decrement would overflow\r\n", "DECRBY", "min",
	       "-9223372036854775808");
	EXPECT(c, NOTINT, "INCRBY", "n", "01");
	EXPECT(c, NOTINT, "INCRBY", "n", "+1");
	EXPECT(c, NOTINT, "INCRBY", "n", "1.5");
	EXPECT(c, NOTINT, "DECRBY", "n", "x");

	EXPECT(c, "+OK\r\n", "SET", "s", "abc");
	EXPECT(c, NOTINT, "INCR", "s");
	EXPECT(c, "+OK\r\n", "SET", "s", "007");
	EXPECT(c, NOTINT, "INCR", "s");
	EXPECT(c, "+OK\r\n", "SET", "s", " 7");
	EXPECT(c, NOTINT, "INCR", "s");
	EXPECT(c, "+OK\r\n", "SET", "s", "");
	EXPECT(c, NOTINT, "INCR", "s");
	EXPECT(c, ":1\r\n", "RPUSH", "l", "a");
	EXPECT(c, WRONGTYPE, "INCR", "l");
	EXPECT(c, WRONGTYPE, "DECRBY", "l", "2");

	/* INCR keeps an expiry, like Redis. */
	set_now_ms(0);
	EXPECT(c, "+OK\r\n", "SET", "t", "5", "EX", "100");
	EXPECT(c, ":6\r\n", "INCR", "t");
	EXPECT(c, ":100\r\n", "TTL", "t");
	fake_disconnect(c);
}

static void test_append_strlen(void **state)
{
	struct svc_conn *c = conn_open();

	EXPECT(c, ":0\r\n", "STRLEN", "a");
	EXPECT(c, ":3\r\n", "APPEND", "a", "abc");
	EXPECT(c, ":5\r\n", "APPEND", "a", "de");
	EXPECT(c, ":5\r\n", "APPEND", "a", "");
	EXPECT(c, "$5\r\nabcde\r\n", "GET", "a");
	EXPECT(c, ":5\r\n", "STRLEN", "a");
	EXPECT(c, ":0\r\n", "APPEND", "e", "");
	EXPECT(c, "$0\r\n\r\n", "GET", "e");
	EXPECT(c, ":1\r\n", "LPUSH", "l", "a");
	EXPECT(c, WRONGTYPE, "APPEND", "l", "x");
	EXPECT(c, WRONGTYPE, "STRLEN", "l");
	EXPECT(c, WRONGTYPE, "GET", "l");
	/* Many appends: geometric growth keeps this cheap. */
	for (int i = 0; i < 2000; i++)
		CMD(c, "APPEND", "g", "0123456789");
	expect_out(c, ":20000\r\n");
	fake_disconnect(c);
}

static void test_mset_mget(void **state)
{
	struct svc_conn *c = conn_open();

	EXPECT(c, "-ERR wrong number of arguments for 'mset' command\r\n",
	       "MSET", "a");
	EXPECT(c, "-ERR wrong number of arguments for 'mset' command\r\n",
	       "MSET", "a", "1", "b");
	set_now_ms(0);
	EXPECT(c, "+OK\r\n", "SET", "a", "old", "EX", "10");
	EXPECT(c, "+OK\r\n", "MSET", "a", "1", "b", "2");
	EXPECT(c, ":-1\r\n", "TTL", "a"); /* MSET drops the expiry */
	EXPECT(c, ":1\r\n", "RPUSH", "l", "x");
	EXPECT(c, "*4\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$-1\r\n", "MGET", "a",
	       "b", "l", "zz");
	EXPECT(c, "-ERR wrong number of arguments for 'mget' command\r\n",
	       "MGET");
	fake_disconnect(c);
}

static void test_dbsize_flush_select(void **state)
{
	struct svc_conn *c = conn_open();

	EXPECT(c, ":0\r\n", "DBSIZE");
	EXPECT(c, "+OK\r\n", "MSET", "a", "1", "b", "2");
	EXPECT(c, ":1\r\n", "LPUSH", "l", "x");
	EXPECT(c, ":3\r\n", "DBSIZE");
	EXPECT(c, "+OK\r\n", "FLUSHALL");
	EXPECT(c, ":0\r\n", "DBSIZE");
	EXPECT(c, "+OK\r\n", "SET", "a", "1");
	EXPECT(c, "+OK\r\n", "FLUSHDB", "ASYNC");
	EXPECT(c, ":0\r\n", "DBSIZE");
	EXPECT(c, "+OK\r\n", "FLUSHALL", "sync");
	EXPECT(c, "-ERR syntax error\r\n", "FLUSHALL", "foo");
	EXPECT(c, "-ERR syntax error\r\n", "FLUSHDB", "ASYNC", "x");
	EXPECT(c, "$-1\r\n", "GET", "a");

	EXPECT(c, "+OK\r\n", "SELECT", "0");
	EXPECT(c, "-ERR DB index is out of range\r\n", "SELECT", "1");
	EXPECT(c, "-ERR DB index is out of range\r\n", "SELECT", "-1");
	EXPECT(c, NOTINT, "SELECT", "x");
	fake_disconnect(c);
}

/* ---------------------------------------------------------------- lists */

static void test_lists(void **state)
{
	struct svc_conn *c = conn_open();

	EXPECT(c, ":2\r\n", "RPUSH", "l", "b", "c");
	EXPECT(c, ":4\r\n", "LPUSH", "l", "a", "0"); /* 0 a b c */
	EXPECT(c, ":4\r\n", "LLEN", "l");
	EXPECT(c, "*4\r\n$1\r\n0\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
	       "LRANGE", "l", "0", "-1");
	EXPECT(c, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "LRANGE", "l", "1", "2");
	EXPECT(c, "*1\r\n$1\r\nc\r\n", "LRANGE", "l", "-1", "-1");
	EXPECT(c, "*4\r\n$1\r\n0\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
	       "LRANGE", "l", "-100", "100");
	EXPECT(c, "*0\r\n", "LRANGE", "l", "2", "1");
	EXPECT(c, "*0\r\n", "LRANGE", "l", "4", "10");
	EXPECT(c, "*0\r\n", "LRANGE", "l", "0", "-100");
	EXPECT(c, "*2\r\n$1\r\nb\r\n$1\r\nc\r\n", "LRANGE", "l", "-2",
	       "9223372036854775807");
	EXPECT(c, "*1\r\n$1\r\n0\r\n", "LRANGE", "l", "-9223372036854775808",
	       "0");
	EXPECT(c, NOTINT, "LRANGE", "l", "a", "1");
	EXPECT(c, "*0\r\n", "LRANGE", "nolist", "0", "-1");
	EXPECT(c, "$1\r\nc\r\n", "LINDEX", "l", "-1");
	EXPECT(c, "$1\r\n0\r\n", "LINDEX", "l", "0");
	EXPECT(c, "$-1\r\n", "LINDEX", "l", "4");
	EXPECT(c, "$-1\r\n", "LINDEX", "l", "-5");
	EXPECT(c, NOTINT, "LINDEX", "l", "x");
	EXPECT(c, "$-1\r\n", "LINDEX", "nolist", "x");

	EXPECT(c, "$1\r\n0\r\n", "LPOP", "l");
	EXPECT(c, "$1\r\nc\r\n", "RPOP", "l");
	EXPECT(c, "*0\r\n", "LPOP", "l", "0");
	EXPECT(c, "-ERR value is out of range, must be positive\r\n", "LPOP",
	       "l", "-1");
	EXPECT(c, "-ERR value is out of range, must be positive\r\n", "RPOP",
	       "l", "x");
	EXPECT(c, "-ERR wrong number of arguments for 'lpop' command\r\n",
	       "LPOP", "l", "1", "2");
	EXPECT(c, "*2\r\n$1\r\nb\r\n$1\r\na\r\n", "RPOP", "l", "10");
	/* The emptied list is gone. */
	EXPECT(c, ":0\r\n", "EXISTS", "l");
	EXPECT(c, "$-1\r\n", "LPOP", "l");
	EXPECT(c, "*-1\r\n", "LPOP", "l", "2");
	EXPECT(c, "*-1\r\n", "RPOP", "l", "0");
	EXPECT(c, ":0\r\n", "LLEN", "l");

	EXPECT(c, ":5\r\n", "RPUSH", "m", "1", "2", "3", "4", "5");
	EXPECT(c, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n", "LPOP", "m", "2");
	EXPECT(c, ":3\r\n", "LLEN", "m");

	EXPECT(c, "+OK\r\n", "SET", "s", "v");
	EXPECT(c, WRONGTYPE, "LPUSH", "s", "x");
	EXPECT(c, WRONGTYPE, "RPUSH", "s", "x");
	EXPECT(c, WRONGTYPE, "LPOP", "s");
	EXPECT(c, WRONGTYPE, "RPOP", "s", "0");
	EXPECT(c, WRONGTYPE, "LLEN", "s");
	EXPECT(c, WRONGTYPE, "LRANGE", "s", "0", "1");
	EXPECT(c, WRONGTYPE, "LINDEX", "s", "0");
	EXPECT(c, "$1\r\nv\r\n", "GET", "s");
	fake_disconnect(c);
}

static void test_big_list(void **state)
{
	struct svc_conn *c = conn_open();
	const char *args[103];
	char vals[100][16], want[64];
	size_t n = 10000;

	/* RPUSH big e0 .. e9999, a hundred at a time. */
	args[0] = "RPUSH";
	args[1] = "big";
	for (size_t i = 0; i < n; i += 100) {
		for (size_t j = 0; j < 100; j++) {
			snprintf(vals[j], sizeof(vals[j]), "e%zu", i + j);
			args[2 + j] = vals[j];
		}
		args[102] = NULL;
		send_args(c, args);
	}
	expect_out(c, ":10000\r\n");
	CMD(c, "LRANGE", "big", "0", "-1");
	assert_memory_equal(c->out, "*10000\r\n$2\r\ne0\r\n$2\r\ne1\r\n", 24);
	assert_memory_equal(c->out + c->out_len - 11, "$5\r\ne9999\r\n", 11);
	EXPECT(c, "*3\r\n$5\r\ne5000\r\n$5\r\ne5001\r\n$5\r\ne5002\r\n",
	       "LRANGE", "big", "5000", "5002");
	EXPECT(c, "*2\r\n$5\r\ne9998\r\n$5\r\ne9999\r\n", "LRANGE", "big",
	       "-2", "-1");

	/* Push on one end, pop from the other: the ring wraps many times. */
	for (int i = 0; i < 30000; i++) {
		snprintf(vals[0], sizeof(vals[0]), "w%d", i);
		CMD(c, (i & 1) ? "LPUSH" : "RPUSH", "w", vals[0]);
		if (i >= 5)
			CMD(c, (i & 1) ? "RPOP" : "LPOP", "w");
	}
	EXPECT(c, ":5\r\n", "LLEN", "w");
	/* Drain most of the big list; what is left is still in order. */
	CMD(c, "LPOP", "big", "9990");
	snprintf(want, sizeof(want), "*9990\r\n$2\r\ne0\r\n");
	assert_memory_equal(c->out, want, strlen(want));
	EXPECT(c, "*2\r\n$5\r\ne9990\r\n$5\r\ne9991\r\n", "LRANGE", "big", "0",
	       "1");
	fake_disconnect(c);
}

/* ------------------------------------------------------ server commands */

static void test_info(void **state)
{
	struct svc_conn *c = conn_open();
	size_t hdr, body;

	EXPECT(c, "$12\r\n# Keyspace\r\n\r\n", "INFO", "keyspace");
	set_now_ms(0);
	EXPECT(c, "+OK\r\n", "SET", "a", "1", "EX", "100");
	EXPECT(c, ":1\r\n", "RPUSH", "l", "x");
	CMD(c, "INFO");
	assert_int_equal(sscanf(c->out, "$%zu\r\n", &body), 1);
	hdr = strchr(c->out, '\n') - c->out + 1;
	assert_int_equal(c->out_len, hdr + body + 2);
	assert_non_null(strstr(c->out, "\r\n# Server\r\nredis_version:7.0.0-"
				       "rrvm\r\n"));
	assert_non_null(strstr(c->out, "\r\ntcp_port:6379\r\n"));
	assert_non_null(strstr(c->out, "\r\n# Clients\r\nconnected_clients:1"
				       "\r\n"));
	assert_non_null(strstr(c->out, "\r\n\r\n# Keyspace\r\ndb0:keys=2,"
				       "expires=1,avg_ttl=0\r\n\r\n"));
	EXPECT(c, "$44\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n"
		  "\r\n",
	       "INFO", "KEYSPACE");
	EXPECT(c, "$0\r\n\r\n", "INFO", "nosuchsection");
	CMD(c, "INFO", "server", "clients");
	assert_non_null(strstr(c->out, "# Clients"));
	assert_null(strstr(c->out, "# Keyspace"));
	fake_disconnect(c);
}

static void test_config_command(void **state)
{
	struct svc_conn *c = conn_open();
	char want[32];

	/* What redis-benchmark asks before it starts. */
	EXPECT(c, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n", "CONFIG", "GET", "save");
	EXPECT(c, "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n", "CONFIG", "GET",
	       "appendonly");
	EXPECT(c, "*2\r\n$4\r\nport\r\n$4\r\n6379\r\n", "config", "get",
	       "PORT");
	EXPECT(c, "*0\r\n", "CONFIG", "GET", "nosuch");
	CMD(c, "CONFIG", "GET", "*");
	assert_memory_equal(c->out, "*14\r\n", 5);
	EXPECT(c, "*4\r\n$10\r\nappendonly\r\n$2\r\nno\r\n$4\r\nsave\r\n"
		  "$0\r\n\r\n",
	       "CONFIG", "GET", "save", "append*", "sav?");
	EXPECT(c, "-ERR wrong number of arguments for 'config|get' "
		  "command\r\n",
	       "CONFIG", "GET");
	EXPECT(c, "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n",
	       "CONFIG", "foo");
	EXPECT(c, "+OK\r\n", "CONFIG", "RESETSTAT");
	EXPECT(c, "-ERR Unknown option or number of arguments for CONFIG SET "
		  "- 'save'\r\n",
	       "CONFIG", "SET", "save", "");

	/* redis-cli's start-up probe, and friends. */
	EXPECT(c, "*0\r\n", "COMMAND", "DOCS");
	EXPECT(c, "*0\r\n", "COMMAND");
	snprintf(want, sizeof(want), ":%zu\r\n", kv_command_count());
	EXPECT(c, want, "COMMAND", "COUNT");
	CMD(c, "COMMAND", "LIST");
	snprintf(want, sizeof(want), "*%zu\r\n$6\r\nappend\r\n",
		 kv_command_count());
	assert_memory_equal(c->out, want, strlen(want));
	EXPECT(c, "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n",
	       "COMMAND", "FOO");
	fake_disconnect(c);
}

static void test_quit(void **state)
{
	struct svc_conn *c = conn_open();

	raw(c, "PING\r\nQUIT\r\nPING\r\n");
	expect_out(c, "+PONG\r\n+OK\r\n");
	assert_true(c->close_requested);
	raw(c, "PING\r\n");
	expect_out(c, "");
	fake_disconnect(c);
}

/* ------------------------------------------------------------ transport */

static const char pipeline[] =
	"*1\r\n$8\r\nFLUSHALL\r\n"
	"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
	"GET key\r\n"
	"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
	"INCR n\n"
	"*4\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\na\r\n$0\r\n\r\n"
	"*0\r\n"
	"\r\n"
	"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n"
	"NOSUCH 'x y'\r\n"
	"*2\r\n$4\r\nECHO\r\n$7\r\nbin\r\n\0\x01\r\n";

static const char pipeline_out[] =
	"+OK\r\n+OK\r\n$5\r\nvalue\r\n:1\r\n:2\r\n:2\r\n"
	"*2\r\n$1\r\na\r\n$0\r\n\r\n"
	"-ERR unknown command 'NOSUCH', with args beginning with: 'x y' \r\n"
	"$7\r\nbin\r\n\0\x01\r\n";

static void expect_pipeline_out(struct svc_conn *c)
{
	assert_int_equal(c->out_len, sizeof(pipeline_out) - 1);
	assert_memory_equal(c->out, pipeline_out, sizeof(pipeline_out) - 1);
}

static void test_pipeline_whole_and_split(void **state)
{
	size_t len = sizeof(pipeline) - 1;
	struct svc_conn *c = conn_open();

	fake_receive(c, pipeline, len);
	expect_pipeline_out(c);
	fake_disconnect(c);

	/* Split once at every byte boundary. */
	for (size_t k = 0; k <= len; k++) {
		c = conn_open();
		fake_receive(c, pipeline, k);
		fake_receive(c, pipeline + k, len - k);
		expect_pipeline_out(c);
		assert_false(c->close_requested);
		fake_disconnect(c);
	}

	/* One byte at a time. */
	c = conn_open();
	for (size_t i = 0; i < len; i++)
		fake_receive(c, pipeline + i, 1);
	expect_pipeline_out(c);
	fake_disconnect(c);
}

static void test_many_pipelined(void **state)
{
	struct svc_conn *c = conn_open();
	size_t n = 1000, len = 0;
	char *buf = malloc(n * 64), *want = malloc(n * 16);
	size_t wlen = 0;

	assert_non_null(buf);
	assert_non_null(want);
	for (size_t i = 0; i < n; i++) {
		len += sprintf(buf + len,
			       "*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n");
		wlen += sprintf(want + wlen, ":%zu\r\n", i + 1);
	}
	fake_receive(c, buf, len);
	assert_int_equal(c->out_len, wlen);
	assert_memory_equal(c->out, want, wlen);
	free(buf);
	free(want);
	fake_disconnect(c);
}

static void test_large_value(void **state)
{
	struct svc_conn *c = conn_open();
	size_t vlen = 1 << 20, len = 0;
	const char *hdr = "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048576\r\n";
	char *req = malloc(strlen(hdr) + vlen + 2);
	const char *get = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";

	assert_non_null(req);
	len = strlen(hdr);
	memcpy(req, hdr, len);
	for (size_t i = 0; i < vlen; i++)
		req[len + i] = (char)(i * 13 + (i >> 8));
	len += vlen;
	memcpy(req + len, "\r\n", 2);
	len += 2;

	/* As TCP segments, with the GET riding on the last one. */
	fake_clear_output(c);
	for (size_t off = 0; off < len; off += 1460) {
		size_t n = len - off < 1460 ? len - off : 1460;

		fake_receive(c, req + off, n);
		if (off + n < len)
			assert_int_equal(c->out_len, 0);
	}
	fake_receive(c, get, strlen(get));
	assert_int_equal(c->out_len, 5 + 10 + vlen + 2);
	assert_memory_equal(c->out, "+OK\r\n$1048576\r\n", 15);
	assert_memory_equal(c->out + 15, req + strlen(hdr), vlen);
	assert_memory_equal(c->out + 15 + vlen, "\r\n", 2);
	EXPECT(c, ":1048576\r\n", "STRLEN", "big");

	/* Same value split unevenly and in one piece on another conn. */
	fake_disconnect(c);
	c = conn_open();
	fake_receive(c, req, 7);
	fake_receive(c, req + 7, len - 7 - 1);
	fake_receive(c, req + len - 1, 1);
	expect_out(c, "+OK\r\n");
	fake_clear_output(c);
	fake_receive(c, req, len);
	expect_out(c, "+OK\r\n");
	free(req);
	fake_disconnect(c);
}

static void test_max_bulk_option(void **state)
{
	struct svc_conn *c;

	fake_reset();
	fake_set_option("maxbulk", "1024");
	assert_int_equal(guest_main_service.start(), 0);
	c = conn_open();
	raw(c, "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1024\r\n");
	expect_out(c, "");
	fake_disconnect(c);
	c = conn_open();
	raw(c, "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1025\r\n");
	expect_out(c, "-ERR Protocol error: invalid bulk length\r\n");
	assert_true(c->close_requested);
	fake_disconnect(c);

	fake_reset();
	fake_set_option("maxbulk", "0");
	assert_int_equal(guest_main_service.start(), -EINVAL);
	fake_reset();
	fake_set_option("port", "7000");
	assert_int_equal(guest_main_service.start(), 0);
	assert_null(fake_listener(PORT));
	c = fake_connect(7000);
	assert_non_null(c);
	raw(c, "CONFIG GET port\r\n");
	expect_out(c, "*2\r\n$4\r\nport\r\n$4\r\n7000\r\n");
	fake_disconnect(c);
	fake_reset();
	fake_set_option("port", "70000");
	assert_int_equal(guest_main_service.start(), -EINVAL);
}

#define OOM_REPLY \
	"-OOM command not allowed when used memory > 'maxmemory'.\r\n"

/* Redis's noeviction: above maxmemory, commands that may need memory get
 * -OOM; reads, deletes, pops, PING and INFO keep working, and no
 * connection is closed, old or new. */
static void test_maxmemory_noeviction(void **state)
{
	struct svc_conn *a, *b;

	fake_reset();
	fake_set_mem(100000, 2u << 20);
	fake_set_option("maxmemory", "1000000");
	assert_int_equal(guest_main_service.start(), 0);
	a = conn_open();
	EXPECT(a, "+OK\r\n", "SET", "k1", "v1");
	EXPECT(a, "+OK\r\n", "SET", "k2", "v2");
	EXPECT(a, ":1\r\n", "RPUSH", "l", "x");
	EXPECT(a, "*2\r\n$9\r\nmaxmemory\r\n$7\r\n1000000\r\n", "CONFIG",
	       "GET", "maxmemory");

	fake_set_mem(1000001, 2u << 20); /* the heap is past maxmemory */
	EXPECT(a, OOM_REPLY, "SET", "k3", "v3");
	EXPECT(a, OOM_REPLY, "SETNX", "k3", "v3");
	EXPECT(a, OOM_REPLY, "SETEX", "k3", "10", "v3");
	EXPECT(a, OOM_REPLY, "APPEND", "k1", "more");
	EXPECT(a, OOM_REPLY, "INCR", "n");
	EXPECT(a, OOM_REPLY, "MSET", "a", "1", "b", "2");
	EXPECT(a, OOM_REPLY, "LPUSH", "l", "y");
	EXPECT(a, OOM_REPLY, "GETSET", "k1", "z");
	EXPECT(a, "$2\r\nv1\r\n", "GET", "k1");
	EXPECT(a, "*2\r\n$2\r\nv1\r\n$2\r\nv2\r\n", "MGET", "k1", "k2");
	EXPECT(a, ":1\r\n", "DEL", "k1");
	EXPECT(a, "$2\r\nv2\r\n", "GETDEL", "k2");
	EXPECT(a, "$1\r\nx\r\n", "LPOP", "l");
	EXPECT(a, "+PONG\r\n", "PING");
	assert_false(a->close_requested);
	/* A pipeline of refused writes and reads: one reply each, in order. */
	raw(a, "SET x 1\r\nPING\r\nSET y 2\r\nEXISTS x\r\n");
	expect_out(a, OOM_REPLY "+PONG\r\n" OOM_REPLY ":0\r\n");
	assert_false(a->close_requested);
	/* A new connection is accepted and served too. */
	b = conn_open();
	EXPECT(b, "+PONG\r\n", "PING");
	EXPECT(b, OOM_REPLY, "SET", "k4", "v4");
	CMD(b, "INFO", "memory");
	assert_non_null(strstr(b->out, "used_memory:1000001\r\n"));
	assert_non_null(strstr(b->out, "maxmemory:1000000\r\n"));
	assert_non_null(strstr(b->out, "maxmemory_policy:noeviction\r\n"));
	CMD(b, "INFO", "stats");
	assert_non_null(strstr(b->out, "rejected_oom_commands:11\r\n"));

	/* Memory freed: writes work again. */
	fake_set_mem(999999, 2u << 20);
	EXPECT(a, "+OK\r\n", "SET", "k3", "v3");
	EXPECT(b, "$2\r\nv3\r\n", "GET", "k3");
	assert_false(a->close_requested);
	assert_false(b->close_requested);
	fake_disconnect(a);
	fake_disconnect(b);
}

/* The default maxmemory keeps an eighth of the heap (512 KiB to half of
 * it) for connections; maxmemory= is range-checked against the heap. */
static void test_maxmemory_default_and_option(void **state)
{
	struct svc_conn *c;

	assert_int_equal(kv_default_maxmemory(64u << 20), 56u << 20);
	assert_int_equal(kv_default_maxmemory(2u << 20), (2u << 20) - (512u << 10));
	assert_int_equal(kv_default_maxmemory(512u << 10), 256u << 10);
	fake_reset();
	fake_set_mem(0, 8u << 20);
	assert_int_equal(guest_main_service.start(), 0);
	c = conn_open();
	EXPECT(c, "*2\r\n$9\r\nmaxmemory\r\n$7\r\n7340032\r\n", "CONFIG",
	       "GET", "maxmemory");
	fake_disconnect(c);
	fake_reset();
	fake_set_mem(0, 8u << 20);
	fake_set_option("maxmemory", "9000000");
	assert_int_equal(guest_main_service.start(), -EINVAL);
	fake_reset();
	fake_set_option("maxmemory", "lots");
	assert_int_equal(guest_main_service.start(), -EINVAL);
}

static void test_malformed_closes_only_that_conn(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n" },
		{ "*2000000\r\n",
		  "-ERR Protocol error: invalid multibulk length\r\n" },
		{ "*1\r\n+PING\r\n",
		  "-ERR Protocol error: expected '$', got '+'\r\n" },
		{ "*1\r\n$-1\r\n", "-ERR Protocol error: invalid bulk length\r\n" },
		{ "*1\r\n$536870913\r\n",
		  "-ERR Protocol error: invalid bulk length\r\n" },
		{ "*1\r\n$4\r\nPINGxx",
		  "-ERR Protocol error: expected CRLF after bulk data\r\n" },
		{ "SET a \"b\r\n",
		  "-ERR Protocol error: unbalanced quotes in request\r\n" },
		{ "PING\r\n*1\r\n$x\r\nPING\r\n",
		  "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n" },
	};
	struct svc_conn *good = conn_open();

	EXPECT(good, "+OK\r\n", "SET", "k", "v");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct svc_conn *bad = conn_open();

		raw(bad, cases[i].in);
		expect_out(bad, cases[i].out);
		assert_true(bad->close_requested);
		/* Anything after the error is ignored. */
		raw(bad, "PING\r\n");
		expect_out(bad, "");
		fake_disconnect(bad);

		EXPECT(good, "$1\r\nv\r\n", "GET", "k");
		assert_false(good->close_requested);
	}
	fake_disconnect(good);
}

static void test_many_connections(void **state)
{
	enum { N = 300 };
	struct svc_conn *conns[N];
	char key[16], want[64];

	for (int i = 0; i < N; i++)
		conns[i] = conn_open();
	CMD(conns[0], "INFO", "clients");
	assert_non_null(strstr(conns[0]->out, "connected_clients:300\r\n"));
	/* Each sends half a command, then all finish in reverse order. */
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "conn%d", i);
		CMD(conns[i], "SET", key, key);
		expect_out(conns[i], "+OK\r\n");
		fake_clear_output(conns[i]);
		fake_receive(conns[i], "*2\r\n$3\r\nGET\r\n$", 14);
	}
	for (int i = N - 1; i >= 0; i--) {
		int n = snprintf(key, sizeof(key), "conn%d", i);

		snprintf(want, sizeof(want), "%d\r\n%s\r\n", n, key);
		fake_receive(conns[i], want, strlen(want));
		snprintf(want, sizeof(want), "$%d\r\n%s\r\n", n, key);
		expect_out(conns[i], want);
	}
	for (int i = 0; i < N; i++)
		fake_disconnect(conns[i]);
	conns[0] = conn_open();
	CMD(conns[0], "INFO", "clients");
	assert_non_null(strstr(conns[0]->out, "connected_clients:1\r\n"));
	EXPECT(conns[0], ":300\r\n", "DBSIZE");
	fake_disconnect(conns[0]);
}

static void test_disconnect_mid_request(void **state)
{
	struct svc_conn *c = conn_open();

	/* State for a half-received big value is freed with the conn. */
	raw(c, "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$100000\r\nxxxx");
	fake_disconnect(c);
	c = conn_open();
	EXPECT(c, ":0\r\n", "EXISTS", "a");
	fake_disconnect(c);
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/*
 * Garbage mixed with valid requests, in random pieces: whatever happens on
 * that connection (replies, a protocol error), the sanitizers must stay
 * quiet and other connections must not notice.
 */
static void test_fuzz_does_not_disturb_others(void **state)
{
	static const char *pieces[] = {
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n", "SET a b\r\n", "INCR n\r\n",
		"LPUSH l x y z\r\n", "LRANGE l 0 -1\r\n", "RPOP l 2\r\n",
		"APPEND a zz\r\n", "MGET a n l\r\n", "DEL a\r\n", "\r\n",
		"*0\r\n", "*1\r\n", "*3\r\n", "$3\r\n", "$0\r\n", "SET \"a",
		"'", "\"\\x4", "\r", "\n", "*", "$", "PING\r\n", "QUIT\r\n",
	};
	static const long long nums[] = { -5, -1, 0, 1, 3, 10, 1000, 70000,
					  67108865, 99999999999LL };
	struct svc_conn *good = conn_open();
	char *buf = malloc(8192);

	assert_non_null(buf);
	EXPECT(good, "+OK\r\n", "SET", "good", "1");
	for (int iter = 0; iter < 2000; iter++) {
		struct svc_conn *c = conn_open();
		size_t len = 0, off = 0;
		int n = 1 + rng() % 30;

		for (int i = 0; i < n && len < 7000; i++) {
			uint32_t kind = rng() % 4;

			if (kind == 0) {
				const char *p = pieces[rng() % (sizeof(pieces) /
								sizeof(pieces[0]))];

				len += sprintf(buf + len, "%s", p);
			} else if (kind == 1) {
				len += sprintf(buf + len, "%c%lld\r\n",
					       rng() % 2 ? '*' : '$',
					       nums[rng() % 10]);
			} else if (kind == 2) {
				for (int j = rng() % 16; j > 0; j--)
					buf[len++] = (char)rng();
			} else {
				len += sprintf(buf + len, "$%u\r\n",
					       rng() % 8);
				for (int j = rng() % 8; j > 0; j--)
					buf[len++] = (char)('a' + rng() % 4);
				len += sprintf(buf + len, "\r\n");
			}
		}
		while (off < len) {
			size_t chunk = 1 + rng() % 64;

			if (chunk > len - off)
				chunk = len - off;
			fake_receive(c, buf + off, chunk);
			off += chunk;
		}
		fake_disconnect(c);
		if (iter % 100 == 0) {
			EXPECT(good, "$1\r\n1\r\n", "GET", "good");
			assert_false(good->close_requested);
		}
	}
	free(buf);
	fake_disconnect(good);
}

/* --------------------------------------------------- store and helpers */

static void test_store_rehash(void **state)
{
	struct kv_store s;
	struct kv_entry *e;
	char key[32];
	size_t n = 200000;

	assert_int_equal(kv_store_init(&s), 0);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(key, sizeof(key), "key:%zu", i);

		assert_null(kv_store_find(&s, key, len, 0));
		assert_int_equal(kv_store_add(&s, key, len, KV_STRING, &e), 0);
		assert_int_equal(kv_str_set(e, key, len), 0);
		/* Everything stays findable while tables are being moved. */
		if (i % 9973 == 0)
			for (size_t j = 0; j <= i; j += 97) {
				int l = snprintf(key, sizeof(key), "key:%zu", j);

				e = kv_store_find(&s, key, l, 0);
				assert_non_null(e);
				assert_memory_equal(e->v.str.data, key, l);
			}
	}
	assert_int_equal(kv_store_count(&s), n);
	assert_true(s.ht[0].size >= n / 2);
	for (size_t i = 0; i < n; i += 2) {
		int len = snprintf(key, sizeof(key), "key:%zu", i);

		assert_int_equal(kv_store_delete(&s, key, len, 0), 1);
	}
	assert_int_equal(kv_store_count(&s), n / 2);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(key, sizeof(key), "key:%zu", i);

		e = kv_store_find(&s, key, len, 0);
		if (i % 2)
			assert_non_null(e);
		else
			assert_null(e);
	}
	/* Deleting nearly all shrinks the table again. */
	for (size_t i = 1; i < n - 100; i += 2) {
		int len = snprintf(key, sizeof(key), "key:%zu", i);

		assert_int_equal(kv_store_delete(&s, key, len, 0), 1);
	}
	for (int i = 0; i < 100000; i++)
		kv_store_expire_step(&s, 0, 2);
	assert_int_equal(kv_store_count(&s), 50);
	assert_true(s.ht[0].size <= 1024);
	assert_int_equal(s.ht[1].size, 0);
	kv_store_flush(&s);
	assert_int_equal(kv_store_count(&s), 0);
	kv_store_destroy(&s);
}

static void test_glob(void **state)
{
#define G(p, s) kv_glob_match((const uint8_t *)(p), strlen(p), \
			      (const uint8_t *)(s), strlen(s), false)
	assert_true(G("*", ""));
	assert_true(G("*", "anything"));
	assert_true(G("h?llo", "hello"));
	assert_false(G("h?llo", "hllo"));
	assert_true(G("h*llo", "hllo"));
	assert_true(G("h*llo", "heeeello"));
	assert_true(G("h[ae]llo", "hallo"));
	assert_false(G("h[ae]llo", "hillo"));
	assert_true(G("h[^e]llo", "hallo"));
	assert_false(G("h[^e]llo", "hello"));
	assert_true(G("h[a-c]llo", "hbllo"));
	assert_true(G("h[c-a]llo", "hbllo"));
	assert_false(G("h[a-c]llo", "hdllo"));
	assert_true(G("h\\*llo", "h*llo"));
	assert_false(G("h\\*llo", "hello"));
	assert_true(G("a*b*c", "axxbyyc"));
	assert_false(G("a*b*c", "axxbyy"));
	assert_false(G("abc", "abcd"));
	assert_false(G("", "a"));
	assert_true(G("", ""));
	assert_false(G("HELLO", "hello"));
	assert_true(kv_glob_match((const uint8_t *)"HE*", 3,
				  (const uint8_t *)"hello", 5, true));
	/* Would take exponential time with naive recursion. */
	assert_false(G("*a*a*a*a*a*a*a*a*a*a*a*a*b",
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
#undef G
}

static void test_command_table_sorted(void **state)
{
	const char *bad = NULL;

	assert_int_equal(kv_commands_check(&bad), 0);
	assert_null(bad);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ping_echo),
		T(test_unknown_and_arity),
		T(test_set_get),
		T(test_set_options),
		T(test_expiry),
		T(test_expiry_reclaimed_without_access),
		T(test_del_exists_type_keys),
		T(test_incr_family),
		T(test_append_strlen),
		T(test_mset_mget),
		T(test_dbsize_flush_select),
		T(test_lists),
		T(test_big_list),
		T(test_info),
		T(test_config_command),
		T(test_quit),
		T(test_pipeline_whole_and_split),
		T(test_many_pipelined),
		T(test_large_value),
		T(test_max_bulk_option),
		T(test_maxmemory_noeviction),
		T(test_maxmemory_default_and_option),
		T(test_malformed_closes_only_that_conn),
		T(test_many_connections),
		T(test_disconnect_mid_request),
		T(test_fuzz_does_not_disturb_others),
		cmocka_unit_test(test_store_rehash),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_command_table_sorted),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
