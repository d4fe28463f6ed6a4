/* SPDX-License-Identifier: MIT */
/*
 * Options of the commands that boot a guest (run, primary): the VM
 * (--guest, --tap, --ip, --mac, --gw, --mem, guest options after --), the
 * control socket and logging. `rrvm primary` adds its own options on top
 * (cli/node_args.c) and hands the VM ones to run_args_handle().
 */
#ifndef RRVM_RUN_ARGS_H
#define RRVM_RUN_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "rrvm/boot_info.h"

struct run_args {
	const char *guest, *tap, *ip, *mac, *gw, *control;
	uint64_t mem;
	uint8_t mac_bytes[6];
	uint32_t ip_be; /* the guest's address, network order */
	char cmdline[RRVM_CMDLINE_MAX];
};

/* The VM options as getopt_long entries (NULL-terminated), values < 256. */
extern const struct option run_args_longopts[];

void run_args_init(struct run_args *a);
/* 1 if c was a VM option (handled), 0 if not, -EINVAL (err set). */
int run_args_handle(int c, const char *arg, struct run_args *a, char *err,
		    size_t err_size);
/* Required options, addresses, guest options -> cmdline. 0 or -EINVAL. */
int run_args_finish(struct run_args *a, const char *command, int nopts,
		    char **opts, char *err, size_t err_size);

/*
 * `rrvm run`: parse argv (argv[0] is the subcommand). Returns 0, 1 if
 * --help was printed (exit 0), or -EINVAL after a one-line error (exit 2).
 */
int run_args_parse(int argc, char **argv, struct run_args *a,
		   void (*usage)(FILE *out));

struct vm;
struct vm_config;
struct vnic_backend;
struct vm_control;

/* The VM configuration and control description these args imply. */
void run_args_vm_config(const struct run_args *a, struct vnic_backend *backend,
			struct vm_config *config);
void run_args_vm_control(const struct run_args *a, struct vm *vm,
			 struct vm_control *vc);

#endif
