/* SPDX-License-Identifier: MIT */
/*
 * Guest boot: check the boot-info page, set up the heap from the memory map,
 * parse the command line, bring up the network, start this image's service
 * and the common options, then run the main loop forever.
 */
#include <stdio.h>
#include <string.h>

#include "guest/net/net.h"
#include "guest/runtime/libc/heap.h"
#include "guest/services/lib/common_options.h"
#include "runtime.h"
#include "service.h"

struct rrvm_boot_info *guest_boot_info;

/* Each image links exactly one service directory that defines this. */
extern const struct guest_service guest_main_service;

__attribute__((noreturn)) void guest_start(struct rrvm_boot_info *bi);

void guest_start(struct rrvm_boot_info *bi)
{
	const struct rrvm_mem_region *heap = NULL;
	int ret;

	guest_boot_info = bi;
	if (bi->magic != RRVM_BOOT_MAGIC || bi->version != RRVM_BOOT_VERSION)
		guest_panic("boot info: bad magic/version");
	for (uint32_t i = 0; i < bi->memmap_count && i < RRVM_MEMMAP_MAX; i++)
		if (bi->memmap[i].type == RRVM_MEM_FREE)
			heap = &bi->memmap[i];
	if (!heap)
		guest_panic("boot info: no free memory region for the heap");
	heap_init((void *)(uintptr_t)heap->start, heap->size);
	guest_cmdline_parse(bi->cmdline);

	if (net_start())
		guest_exit(1);
	ret = guest_main_service.start();
	if (ret) {
		printf("guest: service %s failed to start (%d)\n",
		       guest_main_service.name, ret);
		guest_exit(1);
	}
	ret = guest_common_start();
	if (ret) {
		printf("guest: bad guest options (%d)\n", ret);
		guest_exit(1);
	}
	printf("guest: %s ready on %s (%llu MiB heap)\n",
	       guest_main_service.name, guest_option("ip"),
	       (unsigned long long)(heap->size >> 20));
	net_main_loop();
}
