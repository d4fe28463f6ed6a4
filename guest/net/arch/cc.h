/* SPDX-License-Identifier: MIT */
/* lwIP's compiler/platform glue for the freestanding guest. */
#ifndef GUEST_LWIP_ARCH_CC_H
#define GUEST_LWIP_ARCH_CC_H

#include <stdio.h>
#include <stdlib.h>

#define LWIP_NO_UNISTD_H 1
#define LWIP_NO_CTYPE_H 1
#define BYTE_ORDER LITTLE_ENDIAN

__attribute__((noreturn)) void guest_panic(const char *fmt, ...);

#define LWIP_PLATFORM_DIAG(x) \
	do {                  \
		printf x;     \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) \
	guest_panic("lwIP assertion \"%s\" failed at %s:%d", x, __FILE__, \
		    __LINE__)
#define LWIP_RAND() ((u32_t)rand())

#endif
