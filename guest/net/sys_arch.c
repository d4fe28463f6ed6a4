/* SPDX-License-Identifier: MIT */
/* lwIP's only OS hook under NO_SYS: a millisecond clock, read without exits. */
#include "lwip/sys.h"
#include "guest/runtime/runtime.h"

u32_t sys_now(void)
{
	return (u32_t)(guest_now_ns() / 1000000u);
}
