/* SPDX-License-Identifier: MIT */
/*
 * Options shared by the commands that boot a guest (run, primary): the VM
 * (--guest, --tap, --ip, --mac, --gw, --mem, guest options after --), the
 * control socket and logging, plus replication options for the primary.
 */
#ifndef RRVM_RUN_ARGS_H
#define RRVM_RUN_ARGS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "common/repl_protocol.h"
#include "rrvm/boot_info.h"
#include "vmm/ckpt_codec.h"

struct run_args {
	const char *guest, *tap, *ip, *mac, *gw, *control;
	uint64_t mem;
	uint8_t mac_bytes[6];
	char cmdline[RRVM_CMDLINE_MAX];
	/* rrvm primary only */
	const char *backup;
	enum repl_mode mode;
	unsigned epoch_ms;
	unsigned heartbeat_ms;
	enum ckpt_compression compress; /* page encoding of epochs */
	uint64_t delta_cache; /* bytes for the delta cache; 0 = no deltas */
};

/*
 * Parse argv (argv[0] is the subcommand). primary: accept replication
 * options. Returns 0, 1 if --help was printed (exit 0), or -EINVAL after a
 * one-line error (exit 2). usage prints the command's help.
 */
int run_args_parse(int argc, char **argv, struct run_args *a, bool primary,
		   void (*usage)(FILE *out));

struct vm_config;
struct vnic_backend;
struct control_info;

/* The VM configuration and control-socket description these args imply. */
void run_args_vm_config(const struct run_args *a, struct vnic_backend *backend,
			struct vm_config *config);
void run_args_control_info(const struct run_args *a, struct control_info *info);

#endif
