/* SPDX-License-Identifier: MIT */
/*
 * The byte-stream half of guest/services/service.h over lwIP's raw TCP API.
 *
 * Services see accept/receive/closed and queue output with svc_conn_send.
 * Output goes straight to tcp_write while lwIP has room and is queued here
 * otherwise; the queue drains from the sent and poll callbacks. When a
 * connection has a lot of output pending we stop opening the receive window
 * (tcp_recved), so a client that pipelines without reading is slowed down
 * rather than exhausting guest memory.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/tcp.h"
#include "service.h"

#define OUT_CHUNK_SIZE (16 * 1024)
#define BACKPRESSURE_BYTES (4u << 20)
#define POLL_INTERVAL 2 /* lwIP coarse ticks (500 ms): retry after ERR_MEM */

struct out_chunk {
	struct out_chunk *next;
	size_t start, end, cap;
	uint8_t data[];
};

struct svc_conn {
	struct tcp_pcb *pcb;
	const struct svc_tcp_ops *ops;
	void *state;
	struct out_chunk *head, *tail;
	size_t pending;
	size_t window_owed; /* received bytes not yet given back to TCP */
	bool in_callback;
	bool close_requested;
	bool abort_requested;
	bool peer_closed;
};

static void conn_flush(struct svc_conn *c);

static void conn_free_queue(struct svc_conn *c)
{
	while (c->head) {
		struct out_chunk *next = c->head->next;

		free(c->head);
		c->head = next;
	}
	c->tail = NULL;
	c->pending = 0;
}

/* The service hears `closed` exactly once, then the conn is gone. */
static void conn_release(struct svc_conn *c)
{
	if (c->ops && c->state)
		c->ops->closed(c, c->state);
	c->state = NULL;
	conn_free_queue(c);
	free(c);
}

static void conn_detach(struct svc_conn *c)
{
	tcp_arg(c->pcb, NULL);
	tcp_recv(c->pcb, NULL);
	tcp_sent(c->pcb, NULL);
	tcp_err(c->pcb, NULL);
	tcp_poll(c->pcb, NULL, 0);
}

/* Returns true if the conn was freed (the pcb must not be touched). */
static bool conn_settle(struct svc_conn *c, bool *aborted)
{
	*aborted = false;
	if (c->abort_requested) {
		conn_detach(c);
		tcp_abort(c->pcb);
		*aborted = true;
		conn_release(c);
		return true;
	}
	if ((c->close_requested || c->peer_closed) && c->pending == 0) {
		conn_detach(c);
		if (tcp_close(c->pcb) != ERR_OK) {
			/* Out of memory for the FIN: abort instead. */
			tcp_abort(c->pcb);
			*aborted = true;
		}
		conn_release(c);
		return true;
	}
	return false;
}

static void conn_give_window(struct svc_conn *c)
{
	if (c->window_owed && c->pending < BACKPRESSURE_BYTES) {
		size_t n = c->window_owed;

		while (n) {
			u16_t step = n > 0xffff ? 0xffff : (u16_t)n;

			tcp_recved(c->pcb, step);
			n -= step;
		}
		c->window_owed = 0;
	}
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct svc_conn *c = arg;
	bool aborted;

	(void)pcb;
	if (!c) {
		if (p)
			pbuf_free(p);
		return ERR_OK;
	}
	if (!p || err != ERR_OK) {
		/* Peer sent FIN: nothing more will arrive; finish our output. */
		c->peer_closed = true;
		if (c->state) {
			c->ops->closed(c, c->state);
			c->state = NULL;
		}
		if (p)
			pbuf_free(p);
	} else {
		c->in_callback = true;
		for (struct pbuf *q = p;
		     q && c->state && !c->abort_requested && !c->close_requested;
		     q = q->next)
			c->ops->receive(c, c->state, q->payload, q->len);
		c->in_callback = false;
		c->window_owed += p->tot_len;
		pbuf_free(p);
		conn_give_window(c);
	}
	conn_flush(c);
	if (conn_settle(c, &aborted))
		return aborted ? ERR_ABRT : ERR_OK;
	return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct svc_conn *c = arg;
	bool aborted;

	(void)pcb;
	(void)len;
	if (!c)
		return ERR_OK;
	conn_flush(c);
	conn_give_window(c);
	if (conn_settle(c, &aborted))
		return aborted ? ERR_ABRT : ERR_OK;
	return ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
	return on_sent(arg, pcb, 0);
}

static void on_err(void *arg, err_t err)
{
	struct svc_conn *c = arg;

	(void)err;
	/* lwIP already freed the pcb. */
	if (c)
		conn_release(c);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	const struct svc_tcp_ops *ops = arg;
	struct svc_conn *c;

	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	c->pcb = pcb;
	c->ops = ops;
	tcp_nagle_disable(pcb); /* request/response: never hold a reply */
	tcp_arg(pcb, c);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_poll(pcb, on_poll, POLL_INTERVAL);
	c->state = ops->accept(c);
	if (!c->state) {
		conn_detach(c);
		tcp_abort(pcb);
		free(c);
		return ERR_ABRT;
	}
	return ERR_OK;
}

/* Hand lwIP as much queued output as it will take. */
static void conn_flush(struct svc_conn *c)
{
	bool wrote = false;

	while (c->head) {
		struct out_chunk *k = c->head;
		size_t avail = k->end - k->start;
		size_t room = tcp_sndbuf(c->pcb);
		size_t n = avail < room ? avail : room;
		u8_t flags = TCP_WRITE_FLAG_COPY;

		if (n == 0 || tcp_sndqueuelen(c->pcb) >= TCP_SND_QUEUELEN - 4)
			break;
		if (n > 0xffff)
			n = 0xffff;
		if (n < avail || k->next)
			flags |= TCP_WRITE_FLAG_MORE;
		if (tcp_write(c->pcb, k->data + k->start, (u16_t)n, flags) !=
		    ERR_OK)
			break;
		wrote = true;
		k->start += n;
		c->pending -= n;
		if (k->start == k->end) {
			c->head = k->next;
			if (!c->head)
				c->tail = NULL;
			free(k);
		}
	}
	if (wrote && !c->in_callback)
		tcp_output(c->pcb);
}

static int conn_enqueue(struct svc_conn *c, const uint8_t *data, size_t len)
{
	while (len) {
		struct out_chunk *k = c->tail;
		size_t n;

		if (!k || k->end == k->cap) {
			size_t cap = len > OUT_CHUNK_SIZE ? len : OUT_CHUNK_SIZE;

			k = malloc(sizeof(*k) + cap);
			/* A nearly full heap may still hold just this reply:
			 * better than resetting the connection. */
			if (!k && cap > len)
				k = malloc(sizeof(*k) + (cap = len));
			if (!k)
				return -ENOMEM;
			k->next = NULL;
			k->start = k->end = 0;
			k->cap = cap;
			if (c->tail)
				c->tail->next = k;
			else
				c->head = k;
			c->tail = k;
		}
		n = k->cap - k->end;
		if (n > len)
			n = len;
		memcpy(k->data + k->end, data, n);
		k->end += n;
		c->pending += n;
		data += n;
		len -= n;
	}
	return 0;
}

int svc_conn_send(struct svc_conn *c, const void *data, size_t len)
{
	const uint8_t *bytes = data;

	if (c->abort_requested || len == 0)
		return c->abort_requested ? -ENOMEM : 0;
	/* Fast path: nothing queued, lwIP has room: no extra copy. */
	if (!c->head && len <= tcp_sndbuf(c->pcb) && len <= 0xffff &&
	    tcp_sndqueuelen(c->pcb) < TCP_SND_QUEUELEN - 4 &&
	    tcp_write(c->pcb, bytes, (u16_t)len, TCP_WRITE_FLAG_COPY) ==
		    ERR_OK) {
		if (!c->in_callback)
			tcp_output(c->pcb);
		return 0;
	}
	if (conn_enqueue(c, bytes, len)) {
		c->abort_requested = true;
		if (!c->in_callback) {
			bool aborted;

			conn_settle(c, &aborted);
		}
		return -ENOMEM;
	}
	conn_flush(c);
	return 0;
}

size_t svc_conn_pending(const struct svc_conn *c)
{
	return c->pending;
}

void svc_conn_close(struct svc_conn *c)
{
	bool aborted;

	c->close_requested = true;
	/* Inside a callback the settle happens when the callback returns. */
	if (!c->in_callback)
		conn_settle(c, &aborted);
}

int svc_tcp_listen(uint16_t port, const struct svc_tcp_ops *ops)
{
	struct tcp_pcb *pcb = tcp_new();
	struct tcp_pcb *listener;

	if (!pcb)
		return -ENOMEM;
	if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		tcp_close(pcb);
		return -EADDRINUSE;
	}
	listener = tcp_listen(pcb);
	if (!listener) {
		tcp_close(pcb);
		return -ENOMEM;
	}
	tcp_arg(listener, (void *)ops);
	tcp_accept(listener, on_accept);
	return 0;
}
