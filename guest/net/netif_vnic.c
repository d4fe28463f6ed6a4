/* SPDX-License-Identifier: MIT */
/*
 * lwIP netif over the virtual NIC rings (include/rrvm/vnic_ring.h). Sending
 * a frame only writes the TX ring; the monitor drains it at our next wait
 * hypercall, so a burst of replies costs one exit, not one per frame.
 */
#include <string.h>

#include "guest/net/net.h"
#include "guest/runtime/runtime.h"
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "netif/ethernet.h"
#include "rrvm/vnic_ring.h"

static struct rrvm_vnic_ring *rx_ring;
static struct rrvm_vnic_ring *tx_ring;

uint32_t vnic_tx_pending(void)
{
	return tx_ring ? vnic_ring_used(tx_ring) : 0;
}

static err_t vnic_linkoutput(struct netif *netif, struct pbuf *p)
{
	uint32_t head;
	uint8_t *slot;

	(void)netif;
	if (p->tot_len > RRVM_VNIC_MAX_FRAME)
		return ERR_BUF;
	/* Full ring: one wait(0) lets the monitor drain it, then go on. */
	if (vnic_ring_full(tx_ring))
		guest_wait(0);
	if (vnic_ring_full(tx_ring)) {
		tx_ring->dropped++;
		return ERR_MEM;
	}
	head = tx_ring->head;
	slot = vnic_ring_slot(tx_ring, head);
	pbuf_copy_partial(p, slot, p->tot_len, 0);
	vnic_ring_desc(tx_ring, head)->len = p->tot_len;
	vnic_ring_desc(tx_ring, head)->flags = 0;
	vnic_barrier();
	tx_ring->head = head + 1;
	return ERR_OK;
}

unsigned vnic_poll_rx(struct netif *netif)
{
	unsigned taken = 0;
	uint32_t len;
	uint8_t *frame;

	while ((frame = vnic_ring_peek(rx_ring, &len)) != NULL) {
		struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);

		/* Out of pbufs: drop, TCP will retransmit. */
		if (p) {
			pbuf_take(p, frame, (u16_t)len);
			if (netif->input(p, netif) != ERR_OK)
				pbuf_free(p);
		}
		vnic_ring_pop(rx_ring);
		taken++;
	}
	return taken;
}

static err_t vnic_netif_init(struct netif *netif)
{
	netif->name[0] = 'v';
	netif->name[1] = 'n';
	netif->mtu = 1500;
	netif->hwaddr_len = ETH_HWADDR_LEN;
	netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
		       NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	netif->output = etharp_output;
	netif->linkoutput = vnic_linkoutput;
	return ERR_OK;
}

int vnic_netif_add(struct netif *netif, const uint8_t mac[6], uint32_t ip,
		   uint32_t netmask, uint32_t gw)
{
	ip4_addr_t a, m, g;
	const struct rrvm_boot_info *bi = guest_boot_info;

	rx_ring = (struct rrvm_vnic_ring *)(uintptr_t)bi->rx_ring_gpa;
	tx_ring = (struct rrvm_vnic_ring *)(uintptr_t)bi->tx_ring_gpa;
	if (!vnic_ring_valid(rx_ring, bi->ring_bytes) ||
	    !vnic_ring_valid(tx_ring, bi->ring_bytes))
		return -1;
	a.addr = ip;
	m.addr = netmask;
	g.addr = gw;
	memcpy(netif->hwaddr, mac, 6);
	if (!netif_add(netif, &a, &m, &g, NULL, vnic_netif_init,
		       ethernet_input))
		return -1;
	memcpy(netif->hwaddr, mac, 6);
	netif->hwaddr_len = 6;
	netif_set_default(netif);
	netif_set_up(netif);
	netif_set_link_up(netif);
	return 0;
}
