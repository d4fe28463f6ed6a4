/* A host-side stand-in for guest/net's service transport, for unit tests. */
#ifndef FAKE_SERVICE_H
#define FAKE_SERVICE_H

#include "service.h"

#include <stdbool.h>

struct svc_conn {
	char *out; /* everything the service sent, NUL-terminated */
	size_t out_len;
	size_t out_cap;
	bool close_requested;
	void *state;
	const struct svc_tcp_ops *ops;
};

/* The ops the service registered with svc_tcp_listen(port), or NULL. */
const struct svc_tcp_ops *fake_listener(uint16_t port);
/* Accept a connection on a listener; NULL if the service refused it. */
struct svc_conn *fake_connect(uint16_t port);
/* Deliver bytes to the service. */
void fake_receive(struct svc_conn *conn, const void *data, size_t len);
/* Forget what the service has sent so far. */
void fake_clear_output(struct svc_conn *conn);
/* Peer closes: the service's closed() runs and the conn is freed. */
void fake_disconnect(struct svc_conn *conn);

void fake_set_now_ns(uint64_t now);
/* Each svc_now_ns() call advances the clock by step first (0: frozen). */
void fake_set_now_step_ns(uint64_t step);
/* What svc_mem_usage reports (default: 0 used of 1 GiB). */
void fake_set_mem(size_t used, size_t total);
void fake_set_option(const char *key, const char *value); /* NULL value unsets */
void fake_reset(void); /* drop listeners, options, tickers, datagrams */

/* Datagrams sent with svc_udp_send, oldest first. */
struct fake_datagram {
	uint16_t local_port;
	struct svc_udp_peer to;
	uint8_t data[2048];
	size_t len;
};
size_t fake_datagram_count(void);
const struct fake_datagram *fake_datagram(size_t i);
svc_udp_handler fake_udp_handler(uint16_t port);
svc_tick_fn fake_ticker(size_t i);

#endif
