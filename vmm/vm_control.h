/* SPDX-License-Identifier: MIT */
/*
 * The control commands of a running VM (served by common/control_server):
 * status, stats, save, checkpoint-probe. The VM's owner may add sections to
 * `stats` and `status` (replication, role) through hooks.
 */
#ifndef RRVM_VM_CONTROL_H
#define RRVM_VM_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct report;
struct control_command;

struct vm_control {
	struct vm *vm;
	const char *guest_path;
	const char *tap;
	const char *ip;
	const char *mac;
	uint64_t mem_size;
	/*
	 * Optional: more fields from the VM's owner, appended to `status`
	 * (status_extra) and to `stats` (stats_extra, as a section named
	 * stats_extra_name, e.g. "replication").
	 */
	void (*status_extra)(void *ctx, struct report *r);
	const char *stats_extra_name;
	void (*stats_extra)(void *ctx, struct report *r);
	void *extra_ctx;
};

#define VM_CONTROL_COMMANDS 4

/* Fill out[0..VM_CONTROL_COMMANDS) with the VM's commands (ctx = vc). */
size_t vm_control_commands(struct vm_control *vc, struct control_command *out);

#endif
