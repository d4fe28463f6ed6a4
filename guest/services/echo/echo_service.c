// SPDX-License-Identifier: MIT
/*
 * TCP and UDP echo. The data path is one svc_conn_send/svc_udp_send per
 * receive: no buffering of our own, so a request costs exactly what the
 * transport costs, which is the point of a latency microbenchmark.
 */
#include "echo/echo_service.h"
#include "lib/option_parse.h"
#include "service.h"

#include <errno.h>
#include <string.h>

static struct echo_stats stats;

/*
 * A connection needs no state of its own, but accept() must return non-NULL
 * to keep it: every connection shares this token.
 */
static char conn_token;

static void *echo_accept(struct svc_conn *conn)
{
	stats.connections++;
	return &conn_token;
}

static void echo_receive(struct svc_conn *conn, void *state,
			 const uint8_t *data, size_t len)
{
	/* On failure the transport aborts the connection; nothing to undo. */
	if (svc_conn_send(conn, data, len) == 0)
		stats.tcp_bytes += len;
}

static void echo_closed(struct svc_conn *conn, void *state)
{
}

static const struct svc_tcp_ops echo_ops = {
	.accept = echo_accept,
	.receive = echo_receive,
	.closed = echo_closed,
};

static void echo_datagram(const struct svc_udp_peer *from, uint16_t local_port,
			  const uint8_t *data, size_t len)
{
	/* Reply from the port the datagram came to, as clients expect. */
	if (svc_udp_send(local_port, from, data, len) == 0)
		stats.datagrams++;
	else
		stats.udp_errors++;
}

const struct echo_stats *echo_get_stats(void)
{
	return &stats;
}

int echo_start(void)
{
	uint16_t echo_port;
	int ret;

	memset(&stats, 0, sizeof(stats));
	ret = option_get_port(ECHO_DEFAULT_PORT, &echo_port);
	if (ret < 0)
		goto out;
	ret = svc_tcp_listen(echo_port, &echo_ops);
	if (ret < 0) {
		svc_log("echo: cannot listen on tcp port %u: %d", echo_port,
			ret);
		goto out;
	}
	ret = svc_udp_bind(echo_port, echo_datagram);
	if (ret < 0) {
		svc_log("echo: cannot bind udp port %u: %d", echo_port, ret);
		goto out;
	}
	svc_log("echo: tcp and udp port %u", echo_port);
out:
	return ret;
}

const struct guest_service guest_main_service = { "echo", echo_start };
