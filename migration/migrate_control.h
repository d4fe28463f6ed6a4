/* SPDX-License-Identifier: MIT */
/*
 * `rrvm ctl SOCKET migrate ...` and `migrate-cancel` on any daemon that runs
 * a VM (rrvm run, restore, and the VM role of primary/backup/incoming): the
 * command glue around the engine (migration/migrate_source.h). The handler
 * streams one progress line per round and ends with the report; on success
 * it stops the VM here (the process then exits 0: its VM moved).
 */
#ifndef RRVM_MIGRATE_CONTROL_H
#define RRVM_MIGRATE_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct vm;
struct migration;
struct control_command;

struct migrate_control {
	struct vm *vm;
	const char *image_name; /* for the profile; NULL: unknown */
	/*
	 * Optional, from the VM's owner: may the VM migrate now? 0, or
	 * -errno with why (e.g. it is protected by replication). On 0 the
	 * owner counts a migration as running until end() is called.
	 */
	int (*begin)(void *ctx, char *why, size_t size);
	/* After it, whatever the outcome (completed: the VM left). */
	void (*end)(void *ctx, bool completed);
	void *ctx;

	pthread_mutex_t lock;
	struct migration *running;
	bool frozen_unknown; /* a cutover with an unknown outcome */
};

#define MIGRATE_CONTROL_COMMANDS 2

void migrate_control_init(struct migrate_control *mc, struct vm *vm,
			  const char *image_name);
void migrate_control_destroy(struct migrate_control *mc);
/* migrate, migrate-cancel (ctx = mc). */
size_t migrate_control_commands(struct migrate_control *mc,
				struct control_command *out);

#endif
