/* SPDX-License-Identifier: MIT */
/*
 * lwIP configuration for the guest: NO_SYS (one thread, no interrupts), raw
 * API, IPv4 only. Sized for ~100s of connections and 1 MiB values on a 64 MiB
 * guest; every timer we turn off is one fewer wake-up (VM exit) when idle.
 */
#ifndef GUEST_LWIPOPTS_H
#define GUEST_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_TIMERS 1

#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_RAW 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
/* No fragments: fewer timers; TAP MTU is 1500 and clients use MSS. */
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define LWIP_STATS 0
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_NETIF_API 0
#define LWIP_SINGLE_NETIF 1

#define MEM_ALIGNMENT 8
#define MEM_SIZE (8 * 1024 * 1024)
#define MEMP_NUM_PBUF 512
#define MEMP_NUM_RAW_PCB 0
#define MEMP_NUM_UDP_PCB 8
#define MEMP_NUM_TCP_PCB 512
#define MEMP_NUM_TCP_PCB_LISTEN 8
#define MEMP_NUM_TCP_SEG 2048
#define MEMP_NUM_REASSDATA 0
#define MEMP_NUM_FRAG_PBUF 0
#define MEMP_NUM_ARP_QUEUE 32
#define PBUF_POOL_SIZE 1024
#define ARP_TABLE_SIZE 32
#define ARP_QUEUEING 1

#define TCP_MSS 1460
/* Below 64 KiB so no window scaling is needed; large enough for bulk. */
#define TCP_WND (44 * TCP_MSS)
#define TCP_SND_BUF (44 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDLOWAT (TCP_SND_BUF / 2)
#define TCP_QUEUE_OOSEQ 1
#define TCP_OVERSIZE TCP_MSS
#define LWIP_TCP_KEEPALIVE 0
#define TCP_LISTEN_BACKLOG 0
#define LWIP_TCP_TIMESTAMPS 0
/* lwIP counts the retransmission timeout in slow-timer ticks (two of these
 * intervals), and its RTT estimator never brings it below three ticks. With
 * the default 250 ms that floor is 1.5 s: one reply lost while the testbed
 * rewires a path (re-protection, switchover) stalled its client for over a
 * second. 25 ms puts the floor at 150 ms, near Linux's 200 ms minimum; the
 * cost is one guest wake-up every 25 ms. Backoff is exponential (up to
 * 128x), so connections are still given up only after minutes. */
#define TCP_TMR_INTERVAL 25
#define LWIP_CALLBACK_API 1
#define LWIP_CHECKSUM_ON_COPY 1
#define LWIP_NETIF_TX_SINGLE_PBUF 1

/* Deterministic ISNs so a replayed SYN regenerates the same connection
 * (guest/net/tcp_isn.c). */
#define LWIP_HOOK_FILENAME "guest/net/lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN guest_tcp_isn


#endif
