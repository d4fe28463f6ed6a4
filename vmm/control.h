/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket served by its own thread. A
 * client sends one line ("status", "stats", optionally "--json") and reads
 * the reply until EOF. `rrvm ctl` is the client.
 */
#ifndef RRVM_CONTROL_H
#define RRVM_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct control_server;

struct control_info {
	const char *guest_path;
	const char *tap;
	const char *ip;
	const char *mac;
	uint64_t mem_size;
	/*
	 * Optional: more stats from the VM's owner (e.g. replication), as a
	 * JSON object (json) or text lines. Appended to `stats` under `name`.
	 */
	const char *extra_name;
	int (*extra_stats)(void *ctx, int json, char *buf, size_t size);
	void *extra_ctx;
};

int control_start(const char *path, struct vm *vm,
		  const struct control_info *info,
		  struct control_server **out);
void control_stop(struct control_server *server);

#endif
