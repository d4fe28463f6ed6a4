/* SPDX-License-Identifier: MIT */
/* rrvm run: boot one guest on a TAP, unprotected, until it exits. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "cli/cli_parse.h"
#include "cli/commands.h"
#include "common/log.h"
#include "cli/vm_session.h"
#include "vmm/control.h"
#include "vmm/vm.h"

#define DEFAULT_MEM (64ull << 20)

static void run_usage(FILE *out)
{
	fprintf(out,
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

struct run_args {
	const char *guest, *tap, *ip, *mac, *gw, *control;
	uint64_t mem;
	uint8_t mac_bytes[6];
	char cmdline[RRVM_CMDLINE_MAX];
};

static int build_cmdline(struct run_args *a, int nopts, char **opts)
{
	char err[256];
	size_t len;
	int n;

	n = snprintf(a->cmdline, sizeof(a->cmdline), "ip=%s mac=%s", a->ip,
		     a->mac);
	if (a->gw)
		n += snprintf(a->cmdline + n, sizeof(a->cmdline) - (size_t)n,
			      " gw=%s", a->gw);
	for (int i = 0; i < nopts; i++) {
		if (check_guest_option(opts[i], err, sizeof(err))) {
			log_error("%s", err);
			return -EINVAL;
		}
		len = strlen(a->cmdline);
		if (len + 1 + strlen(opts[i]) + 1 > sizeof(a->cmdline)) {
			log_error("guest options too long (limit %d bytes)",
				  RRVM_CMDLINE_MAX - 1);
			return -E2BIG;
		}
		snprintf(a->cmdline + len, sizeof(a->cmdline) - len, " %s",
			 opts[i]);
	}
	return 0;
}

static int parse_run_args(int argc, char **argv, struct run_args *a)
{
	static const struct option longopts[] = {
		{ "guest", required_argument, NULL, 'g' },
		{ "tap", required_argument, NULL, 't' },
		{ "ip", required_argument, NULL, 'i' },
		{ "mac", required_argument, NULL, 'm' },
		{ "gw", required_argument, NULL, 'w' },
		{ "mem", required_argument, NULL, 'M' },
		{ "control", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	uint32_t addr;
	int prefix, c;
	enum log_level level;

	memset(a, 0, sizeof(*a));
	a->mem = DEFAULT_MEM;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			a->guest = optarg;
			break;
		case 't':
			a->tap = optarg;
			break;
		case 'i':
			a->ip = optarg;
			break;
		case 'm':
			a->mac = optarg;
			break;
		case 'w':
			a->gw = optarg;
			break;
		case 'c':
			a->control = optarg;
			break;
		case 'M':
			if (parse_mem_size(optarg, &a->mem, err, sizeof(err)))
				goto bad;
			break;
		case 'l':
			if (log_parse_level(optarg, &level)) {
				snprintf(err, sizeof(err),
					 "--log-level '%s': use error, warn, "
					 "info or debug",
					 optarg);
				goto bad;
			}
			log_set_level(level);
			break;
		case 'h':
			run_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "see 'rrvm run --help'\n");
			return -EINVAL;
		}
	}
	if (!a->guest || !a->tap || !a->ip || !a->mac) {
		snprintf(err, sizeof(err),
			 "--guest, --tap, --ip and --mac are required "
			 "(see 'rrvm run --help')");
		goto bad;
	}
	if (parse_ipv4_prefix(a->ip, &addr, &prefix, 0, err, sizeof(err)))
		goto bad;
	if (a->gw && parse_ipv4_prefix(a->gw, &addr, NULL, 1, err, sizeof(err)))
		goto bad;
	if (parse_mac(a->mac, a->mac_bytes, err, sizeof(err)))
		goto bad;
	if (build_cmdline(a, argc - optind, argv + optind))
		return -EINVAL;
	return 0;
bad:
	log_error("%s", err);
	return -EINVAL;
}

int cmd_run(int argc, char **argv)
{
	struct vnic_backend *backend;
	struct vm_config config;
	struct run_args args;
	struct control_info info;
	int ret;

	log_set_component("rrvm run");
	ret = parse_run_args(argc, argv, &args);
	if (ret)
		return ret > 0 ? RRVM_EXIT_OK : RRVM_EXIT_USAGE;
	if (tap_backend_open(args.tap, &backend))
		return RRVM_EXIT_ERROR;
	memset(&config, 0, sizeof(config));
	config.guest_path = args.guest;
	config.mem_size = args.mem;
	config.cmdline = args.cmdline;
	memcpy(config.mac, args.mac_bytes, 6);
	config.backend = backend;
	if (vm_create(&session_vm, &config))
		return RRVM_EXIT_ERROR;
	info = (struct control_info){
		.guest_path = args.guest, .tap = args.tap, .ip = args.ip,
		.mac = args.mac, .mem_size = args.mem,
	};
	log_info("booting %s: %llu MiB, tap %s, %s", args.guest,
		 (unsigned long long)(args.mem >> 20), args.tap, args.cmdline);
	return vm_session_run(args.control, &info);
}
