/* SPDX-License-Identifier: MIT */
#include "fake_service.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTENERS 8
#define MAX_OPTIONS 16
#define MAX_TICKERS 4
#define MAX_DATAGRAMS 64

static struct {
	uint16_t port;
	const struct svc_tcp_ops *ops;
} listeners[MAX_LISTENERS];
static size_t listener_count;

static struct {
	uint16_t port;
	svc_udp_handler handler;
} udp_binds[MAX_LISTENERS];
static size_t udp_count;

static struct {
	char key[64];
	char value[256];
} options[MAX_OPTIONS];
static size_t option_count;

static svc_tick_fn tickers[MAX_TICKERS];
static size_t ticker_count;

static struct fake_datagram datagrams[MAX_DATAGRAMS];
static size_t datagram_count;

static uint64_t now_ns;
static uint64_t now_step_ns; /* added at every read: work takes time */

int svc_tcp_listen(uint16_t port, const struct svc_tcp_ops *ops)
{
	if (listener_count == MAX_LISTENERS)
		return -ENOMEM;
	listeners[listener_count].port = port;
	listeners[listener_count].ops = ops;
	listener_count++;
	return 0;
}

const struct svc_tcp_ops *fake_listener(uint16_t port)
{
	for (size_t i = 0; i < listener_count; i++)
		if (listeners[i].port == port)
			return listeners[i].ops;
	return NULL;
}

struct svc_conn *fake_connect(uint16_t port)
{
	const struct svc_tcp_ops *ops = fake_listener(port);
	struct svc_conn *c;

	if (!ops)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->ops = ops;
	c->state = ops->accept(c);
	if (!c->state) {
		free(c);
		return NULL;
	}
	return c;
}

void fake_receive(struct svc_conn *conn, const void *data, size_t len)
{
	conn->ops->receive(conn, conn->state, data, len);
}

void fake_clear_output(struct svc_conn *conn)
{
	conn->out_len = 0;
	if (conn->out)
		conn->out[0] = '\0';
}

void fake_disconnect(struct svc_conn *conn)
{
	conn->ops->closed(conn, conn->state);
	free(conn->out);
	free(conn);
}

int svc_conn_send(struct svc_conn *conn, const void *data, size_t len)
{
	if (conn->out_len + len + 1 > conn->out_cap) {
		size_t cap = conn->out_cap ? conn->out_cap : 256;
		char *p;

		while (cap < conn->out_len + len + 1)
			cap *= 2;
		p = realloc(conn->out, cap);
		if (!p)
			return -ENOMEM;
		conn->out = p;
		conn->out_cap = cap;
	}
	memcpy(conn->out + conn->out_len, data, len);
	conn->out_len += len;
	conn->out[conn->out_len] = '\0';
	return 0;
}

size_t svc_conn_pending(const struct svc_conn *conn)
{
	(void)conn;
	return 0;
}

void svc_conn_close(struct svc_conn *conn)
{
	conn->close_requested = true;
}

int svc_udp_bind(uint16_t port, svc_udp_handler handler)
{
	if (udp_count == MAX_LISTENERS)
		return -ENOMEM;
	udp_binds[udp_count].port = port;
	udp_binds[udp_count].handler = handler;
	udp_count++;
	return 0;
}

svc_udp_handler fake_udp_handler(uint16_t port)
{
	for (size_t i = 0; i < udp_count; i++)
		if (udp_binds[i].port == port)
			return udp_binds[i].handler;
	return NULL;
}

int svc_udp_send(uint16_t local_port, const struct svc_udp_peer *to,
		 const void *data, size_t len)
{
	struct fake_datagram *d;

	if (datagram_count == MAX_DATAGRAMS || len > sizeof(d->data))
		return -ENOMEM;
	d = &datagrams[datagram_count++];
	d->local_port = local_port;
	d->to = *to;
	memcpy(d->data, data, len);
	d->len = len;
	return 0;
}

size_t fake_datagram_count(void)
{
	return datagram_count;
}

const struct fake_datagram *fake_datagram(size_t i)
{
	return i < datagram_count ? &datagrams[i] : NULL;
}

uint64_t svc_now_ns(void)
{
	now_ns += now_step_ns;
	return now_ns;
}

void fake_set_now_step_ns(uint64_t step)
{
	now_step_ns = step;
}

void fake_set_now_ns(uint64_t now)
{
	now_ns = now;
}

static size_t mem_used, mem_total = (size_t)1 << 30;

void fake_set_mem(size_t used, size_t total)
{
	mem_used = used;
	mem_total = total;
}

void svc_mem_usage(size_t *used, size_t *total)
{
	*used = mem_used;
	*total = mem_total;
}

int svc_register_ticker(svc_tick_fn tick)
{
	if (ticker_count == MAX_TICKERS)
		return -ENOMEM;
	tickers[ticker_count++] = tick;
	return 0;
}

svc_tick_fn fake_ticker(size_t i)
{
	return i < ticker_count ? tickers[i] : NULL;
}

const char *svc_option(const char *key)
{
	for (size_t i = 0; i < option_count; i++)
		if (strcmp(options[i].key, key) == 0)
			return options[i].value;
	return NULL;
}

void fake_set_option(const char *key, const char *value)
{
	for (size_t i = 0; i < option_count; i++) {
		if (strcmp(options[i].key, key) == 0) {
			if (value) {
				snprintf(options[i].value,
					 sizeof(options[i].value), "%s", value);
			} else {
				options[i] = options[--option_count];
			}
			return;
		}
	}
	if (value && option_count < MAX_OPTIONS) {
		snprintf(options[option_count].key,
			 sizeof(options[option_count].key), "%s", key);
		snprintf(options[option_count].value,
			 sizeof(options[option_count].value), "%s", value);
		option_count++;
	}
}

void fake_reset(void)
{
	listener_count = 0;
	udp_count = 0;
	option_count = 0;
	ticker_count = 0;
	datagram_count = 0;
	now_ns = 0;
	now_step_ns = 0;
	mem_used = 0;
	mem_total = (size_t)1 << 30;
}

void svc_log(const char *fmt, ...)
{
	va_list ap;

	if (!getenv("FAKE_SERVICE_VERBOSE"))
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
