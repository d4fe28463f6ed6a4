/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a Unix stream socket served by its own thread. A
 * client sends one line ("status", "stats", optionally "--json") and reads
 * the reply until EOF. `rrvm ctl` is the client.
 */
#ifndef RRVM_CONTROL_H
#define RRVM_CONTROL_H

#include <stdint.h>

struct vm;
struct control_server;

struct control_info {
	const char *guest_path;
	const char *tap;
	const char *ip;
	const char *mac;
	uint64_t mem_size;
};

int control_start(const char *path, struct vm *vm,
		  const struct control_info *info,
		  struct control_server **out);
void control_stop(struct control_server *server);

#endif
