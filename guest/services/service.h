/* SPDX-License-Identifier: MIT */
/*
 * What a guest service sees of the network and the guest: byte streams and
 * datagrams, a clock, and the command line. Implemented over lwIP by
 * guest/net/ and by a fake in tests/unit/ so services are unit-testable on the
 * host. Services use only this header plus string.h/stdlib.h/stdio.h.
 */
#ifndef GUEST_SERVICE_H
#define GUEST_SERVICE_H

#include <stddef.h>
#include <stdint.h>

struct svc_conn;

struct svc_tcp_ops {
	/* A connection was accepted; return its state (NULL = refuse, close). */
	void *(*accept)(struct svc_conn *conn);
	/*
	 * Bytes arrived, in order. The service keeps whatever it cannot use yet.
	 * Data is only valid during the call.
	 */
	void (*receive)(struct svc_conn *conn, void *state, const uint8_t *data,
			size_t len);
	/*
	 * The connection is gone (peer closed, reset, or svc_conn_close finished).
	 * Free the state. No further calls for this conn.
	 */
	void (*closed)(struct svc_conn *conn, void *state);
};

/* Listen on a TCP port. 0 or negative errno. */
int svc_tcp_listen(uint16_t port, const struct svc_tcp_ops *ops);

/*
 * Queue bytes for sending; the transport copies them and sends as the window
 * allows. 0, or -ENOMEM (the connection is then aborted).
 */
int svc_conn_send(struct svc_conn *conn, const void *data, size_t len);

/* Bytes queued on this connection and not yet handed to TCP. */
size_t svc_conn_pending(const struct svc_conn *conn);

/* Close gracefully once queued output is sent. `closed` follows. */
void svc_conn_close(struct svc_conn *conn);

struct svc_udp_peer {
	uint32_t addr; /* IPv4, network byte order */
	uint16_t port; /* host byte order */
};

typedef void (*svc_udp_handler)(const struct svc_udp_peer *from,
				uint16_t local_port, const uint8_t *data,
				size_t len);

/* Bind a UDP port. 0 or negative errno. */
int svc_udp_bind(uint16_t port, svc_udp_handler handler);

/* Send a datagram from local_port. 0 or negative errno. */
int svc_udp_send(uint16_t local_port, const struct svc_udp_peer *to,
		 const void *data, size_t len);

/*
 * The guest heap: bytes in use (headers included) and under management, for
 * memory policies such as the kv service's maxmemory.
 */
void svc_mem_usage(size_t *used, size_t *total);

/* Monotonic guest time; no exit. */
uint64_t svc_now_ns(void);
static inline uint64_t svc_now_ms(void)
{
	return svc_now_ns() / 1000000u;
}

/*
 * Periodic work (e.g. the dirtier). The main loop calls `tick` when now >=
 * the deadline it last returned; tick returns the next deadline (ns, guest
 * clock). The main loop never sleeps past the earliest deadline.
 */
typedef uint64_t (*svc_tick_fn)(uint64_t now_ns);
int svc_register_ticker(svc_tick_fn tick);

/* Value of `key=value` on the guest command line, or NULL. */
const char *svc_option(const char *key);

/* Console output (goes to the monitor's stderr/log). */
void svc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A service: started once by the guest main after the network is up. */
struct guest_service {
	const char *name;
	int (*start)(void); /* 0 or negative errno */
};

#endif
