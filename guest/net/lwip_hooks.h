/* SPDX-License-Identifier: MIT */
/* lwIP hooks (LWIP_HOOK_FILENAME): included by lwIP's own sources. */
#ifndef GUEST_LWIP_HOOKS_H
#define GUEST_LWIP_HOOKS_H

#include "lwip/ip_addr.h"

u32_t guest_tcp_isn(const ip_addr_t *local_ip, u16_t local_port,
		    const ip_addr_t *remote_ip, u16_t remote_port);

#endif
