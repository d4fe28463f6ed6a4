/* SPDX-License-Identifier: MIT */
/* rrvm run: boot one guest on a TAP, unprotected, until it exits. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/run_args.h"
#include "cli/vm_session.h"
#include "common/log.h"
#include "vmm/vm.h"

static void run_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: rrvm run --guest IMAGE.elf --tap NAME --ip A.B.C.D/N "
	    "--mac MAC\n"
	    "                [--gw A.B.C.D] [--mem SIZE] [--control SOCKET]\n"
	    "                [--log-level LEVEL] [-- GUEST-OPTION ...]\n"
	    "\n"
	    "Boot a guest image (build/guest/{kv,http,echo}.elf) on an "
	    "existing TAP\n"
	    "device in the current network namespace. Runs until the guest "
	    "exits,\n"
	    "faults, or rrvm gets SIGINT/SIGTERM.\n"
	    "\n"
	    "  --guest IMAGE     static ELF guest image\n"
	    "  --tap NAME        TAP interface (create: ip tuntap add dev "
	    "NAME mode tap)\n"
	    "  --ip A.B.C.D/N    guest address and prefix length\n"
	    "  --mac MAC         guest MAC, e.g. 52:54:00:12:34:56\n"
	    "  --gw A.B.C.D      default gateway (optional)\n"
	    "  --mem SIZE        guest RAM, multiple of 2M (default 64M)\n"
	    "  --control SOCKET  serve 'rrvm ctl' on this Unix socket\n"
	    "  --log-level L     error|warn|info|debug (default info)\n"
	    "\n"
	    "Guest options (key=value, after --): port=N, dirty=PAGES_PER_S,"
	    "\n"
	    "dirty_mb=N, crash=null|ud|gp|div with crash_after_ms=N "
	    "(tests).\n"
	    "\n"
	    "exit status: the guest's exit status; 0 when stopped by a "
	    "signal;\n"
	    "1 setup error; 2 usage; 3 guest fault (report on stderr).\n");
}

int cmd_run(int argc, char **argv)
{
	struct vnic_backend *backend;
	struct vm_config config;
	struct run_args args;
	struct vm_control vc;
	int ret;

	log_set_component("rrvm run");
	ret = run_args_parse(argc, argv, &args, run_usage);
	if (ret)
		return ret > 0 ? RRVM_EXIT_OK : RRVM_EXIT_USAGE;
	if (tap_backend_open(args.tap, &backend))
		return RRVM_EXIT_ERROR;
	run_args_vm_config(&args, backend, &config);
	if (vm_create(&session_vm, &config))
		return RRVM_EXIT_ERROR;
	run_args_vm_control(&args, &session_vm, &vc);
	log_info("booting %s: %llu MiB, tap %s, %s", args.guest,
		 (unsigned long long)(args.mem >> 20), args.tap, args.cmdline);
	return vm_session_run(args.control, &vc);
}
