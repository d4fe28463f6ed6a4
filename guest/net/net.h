/* SPDX-License-Identifier: MIT */
/* The guest network stack: lwIP over the virtual NIC rings. */
#ifndef GUEST_NET_H
#define GUEST_NET_H

#include <stdint.h>

struct netif;

/* Bring up lwIP and the NIC from the command line (ip=, mac=, gw=). */
int net_start(void);

/* netif_vnic.c */
int vnic_netif_add(struct netif *netif, const uint8_t mac[6], uint32_t ip,
		   uint32_t netmask, uint32_t gw);
/* Feed every frame waiting in the RX ring to lwIP. Returns frames taken. */
unsigned vnic_poll_rx(struct netif *netif);
/* Frames queued on TX since the last wait (the wait flushes them). */
uint32_t vnic_tx_pending(void);

/* svc_ticker.c: run due tickers; returns the earliest next deadline (ns). */
uint64_t svc_run_tickers(uint64_t now_ns);

/* Run forever: poll RX, lwIP timers, tickers, then one wait hypercall. */
__attribute__((noreturn)) void net_main_loop(void);

#endif
