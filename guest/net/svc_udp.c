/* SPDX-License-Identifier: MIT */
/* The datagram half of guest/services/service.h over lwIP's raw UDP API. */
#include <errno.h>
#include <string.h>

#include "lwip/pbuf.h"
#include "lwip/udp.h"
#include "service.h"

#define MAX_UDP_BINDS 8

static struct {
	struct udp_pcb *pcb;
	uint16_t port;
	svc_udp_handler handler;
} binds[MAX_UDP_BINDS];
static int bind_count;

static void on_udp_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p,
			const ip_addr_t *addr, u16_t port)
{
	int i = (int)(uintptr_t)arg;
	struct svc_udp_peer from;
	static uint8_t buf[65536];
	u16_t len;

	(void)pcb;
	from.addr = ip4_addr_get_u32(ip_2_ip4(addr));
	from.port = port;
	/* Services get one contiguous buffer, whatever the pbuf chain. */
	len = pbuf_copy_partial(p, buf, p->tot_len, 0);
	binds[i].handler(&from, binds[i].port, buf, len);
	pbuf_free(p);
}

int svc_udp_bind(uint16_t port, svc_udp_handler handler)
{
	struct udp_pcb *pcb;

	if (bind_count == MAX_UDP_BINDS)
		return -ENOMEM;
	pcb = udp_new();
	if (!pcb)
		return -ENOMEM;
	if (udp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		udp_remove(pcb);
		return -EADDRINUSE;
	}
	binds[bind_count].pcb = pcb;
	binds[bind_count].port = port;
	binds[bind_count].handler = handler;
	udp_recv(pcb, on_udp_recv, (void *)(uintptr_t)bind_count);
	bind_count++;
	return 0;
}

int svc_udp_send(uint16_t local_port, const struct svc_udp_peer *to,
		 const void *data, size_t len)
{
	struct pbuf *p;
	ip_addr_t dst;
	err_t err;

	if (len > 65507)
		return -EMSGSIZE;
	for (int i = 0; i < bind_count; i++) {
		if (binds[i].port != local_port)
			continue;
		p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
		if (!p)
			return -ENOMEM;
		pbuf_take(p, data, (u16_t)len);
		ip_addr_set_ip4_u32(&dst, to->addr);
		err = udp_sendto(binds[i].pcb, p, &dst, to->port);
		pbuf_free(p);
		return err == ERR_OK ? 0 : -EIO;
	}
	return -ENOTCONN;
}
