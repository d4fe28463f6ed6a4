/* SPDX-License-Identifier: MIT */
#include "cli/run_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_parse.h"
#include "common/log.h"
#include "vmm/vm.h"
#include "vmm/vm_control.h"

#define DEFAULT_MEM (64ull << 20)

const struct option run_args_longopts[] = {
    {"guest", required_argument, NULL, 'g'},
    {"tap", required_argument, NULL, 't'},
    {"ip", required_argument, NULL, 'i'},
    {"mac", required_argument, NULL, 'm'},
    {"gw", required_argument, NULL, 'w'},
    {"mem", required_argument, NULL, 'M'},
    {"control", required_argument, NULL, 'c'},
    {"log-level", required_argument, NULL, 'l'},
    {NULL, 0, NULL, 0},
};

static int build_cmdline(struct run_args *a, int nopts, char **opts, char *err,
			 size_t err_size)
{
	size_t len;
	int n;

	n = snprintf(a->cmdline, sizeof(a->cmdline), "ip=%s mac=%s", a->ip,
		     a->mac);
	if (a->gw)
		n += snprintf(a->cmdline + n, sizeof(a->cmdline) - (size_t)n,
			      " gw=%s", a->gw);
	for (int i = 0; i < nopts; i++) {
		if (check_guest_option(opts[i], err, err_size))
			return -EINVAL;
		len = strlen(a->cmdline);
		if (len + 1 + strlen(opts[i]) + 1 > sizeof(a->cmdline)) {
			snprintf(err, err_size,
				 "guest options too long (limit %d bytes)",
				 RRVM_CMDLINE_MAX - 1);
			return -E2BIG;
		}
		snprintf(a->cmdline + len, sizeof(a->cmdline) - len, " %s",
			 opts[i]);
	}
	return 0;
}

void run_args_init(struct run_args *a)
{
	memset(a, 0, sizeof(*a));
	a->mem = DEFAULT_MEM;
}

int run_args_handle(int c, const char *arg, struct run_args *a, char *err,
		    size_t err_size)
{
	enum log_level level;

	switch (c) {
	case 'g':
		a->guest = arg;
		return 1;
	case 't':
		a->tap = arg;
		return 1;
	case 'i':
		a->ip = arg;
		return 1;
	case 'm':
		a->mac = arg;
		return 1;
	case 'w':
		a->gw = arg;
		return 1;
	case 'c':
		a->control = arg;
		return 1;
	case 'M':
		return parse_mem_size(arg, &a->mem, err, err_size) ? -EINVAL
								   : 1;
	case 'l':
		if (log_parse_level(arg, &level)) {
			snprintf(err, err_size,
				 "--log-level '%s': use error, warn, info or "
				 "debug",
				 arg);
			return -EINVAL;
		}
		log_set_level(level);
		return 1;
	}
	return 0;
}

int run_args_finish(struct run_args *a, const char *command, int nopts,
		    char **opts, char *err, size_t err_size)
{
	uint32_t addr;
	int prefix;

	if (!a->guest || !a->tap || !a->ip || !a->mac) {
		snprintf(err, err_size,
			 "--guest, --tap, --ip and --mac are required "
			 "(see 'rrvm %s --help')",
			 command);
		return -EINVAL;
	}
	if (parse_ipv4_prefix(a->ip, &a->ip_be, &prefix, 0, err, err_size))
		return -EINVAL;
	if (a->gw && parse_ipv4_prefix(a->gw, &addr, NULL, 1, err, err_size))
		return -EINVAL;
	if (parse_mac(a->mac, a->mac_bytes, err, err_size))
		return -EINVAL;
	return build_cmdline(a, nopts, opts, err, err_size) ? -EINVAL : 0;
}

/* Options of `rrvm primary` that people try on `rrvm run`. */
static const char *const primary_only[] = {
    "backup", "mode", "epoch", "heartbeat", "compress", "delta-cache",
    "key-file", "listen",
};

int run_args_parse(int argc, char **argv, struct run_args *a,
		   void (*usage)(FILE *out))
{
	static struct option longopts[24];
	char err[256];
	int c, n = 0, ret, idx;

	for (const struct option *o = run_args_longopts; o->name; o++)
		longopts[n++] = *o;
	for (size_t i = 0; i < sizeof(primary_only) / sizeof(*primary_only);
	     i++)
		longopts[n++] = (struct option){primary_only[i],
						required_argument, NULL, 'P'};
	longopts[n++] = (struct option){"insecure", no_argument, NULL, 'P'};
	longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	run_args_init(a);
	while ((c = getopt_long(argc, argv, "+h", longopts, &idx)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == 'P') {
			snprintf(err, sizeof(err),
				 "--%s belongs to 'rrvm primary' (replication); "
				 "'rrvm run' runs a VM unprotected",
				 longopts[idx].name);
			goto bad;
		}
		ret = run_args_handle(c, optarg, a, err, sizeof(err));
		if (ret < 0)
			goto bad;
		if (ret == 0) {
			fprintf(stderr, "see 'rrvm %s --help'\n", argv[0]);
			return -EINVAL;
		}
	}
	if (run_args_finish(a, argv[0], argc - optind, argv + optind, err,
			    sizeof(err)))
		goto bad;
	return 0;
bad:
	log_error("%s", err);
	return -EINVAL;
}

void run_args_vm_config(const struct run_args *a, struct vnic_backend *backend,
			struct vm_config *config)
{
	memset(config, 0, sizeof(*config));
	config->guest_path = a->guest;
	config->mem_size = a->mem;
	config->cmdline = a->cmdline;
	memcpy(config->mac, a->mac_bytes, 6);
	config->backend = backend;
}

void run_args_vm_control(const struct run_args *a, struct vm *vm,
			 struct vm_control *vc)
{
	memset(vc, 0, sizeof(*vc));
	vc->vm = vm;
	vc->guest_path = a->guest;
	vc->tap = a->tap;
	vc->ip = a->ip;
	vc->mac = a->mac;
	vc->mem_size = a->mem;
}
