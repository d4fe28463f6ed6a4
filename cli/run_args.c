/* SPDX-License-Identifier: MIT */
#include "cli/run_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_parse.h"
#include "common/log.h"
#include "primary/delta_cache.h"
#include "vmm/control.h"
#include "vmm/vm.h"

#define DEFAULT_MEM (64ull << 20)

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

static int parse_replication_option(int c, const char *arg, struct run_args *a,
				    char *err, size_t err_size)
{
	char *end;
	unsigned long v;

	switch (c) {
	case 'b':
		a->backup = arg;
		return 0;
	case 'o':
		if (repl_mode_parse(arg, &a->mode) == 0)
			return 0;
		snprintf(err, err_size,
			 "--mode '%s': use reverse, buffered, naive or none",
			 arg);
		return -EINVAL;
	case 'e':
	case 'H':
		v = strtoul(arg, &end, 10);
		if (*end || end == arg || v > 10000 || (c == 'e' && v < 1)) {
			snprintf(err, err_size,
				 "--%s '%s': milliseconds, %s..10000",
				 c == 'e' ? "epoch" : "heartbeat", arg,
				 c == 'e' ? "1" : "0");
			return -EINVAL;
		}
		if (c == 'e')
			a->epoch_ms = (unsigned)v;
		else
			a->heartbeat_ms = (unsigned)v;
		return 0;
	case 'z':
		if (strcmp(arg, "auto") == 0) {
			a->compress = CKPT_COMPRESS_AUTO;
			return 0;
		}
		if (strcmp(arg, "none") == 0) {
			a->compress = CKPT_COMPRESS_NONE;
			return 0;
		}
		snprintf(err, err_size, "--compress '%s': use auto or none",
			 arg);
		return -EINVAL;
	case 'D':
		if (parse_byte_size(arg, &a->delta_cache) ||
		    a->delta_cache > DELTA_CACHE_MAX_BYTES ||
		    (a->delta_cache && a->delta_cache < CKPT_PAGE_SIZE)) {
			snprintf(err, err_size,
				 "--delta-cache '%s': a size from 4K to 64G "
				 "(e.g. 64M, 1G) or 0",
				 arg);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

int run_args_parse(int argc, char **argv, struct run_args *a, bool primary,
		   void (*usage)(FILE *out))
{
	static const struct option longopts[] = {
	    {"guest", required_argument, NULL, 'g'},
	    {"tap", required_argument, NULL, 't'},
	    {"ip", required_argument, NULL, 'i'},
	    {"mac", required_argument, NULL, 'm'},
	    {"gw", required_argument, NULL, 'w'},
	    {"mem", required_argument, NULL, 'M'},
	    {"control", required_argument, NULL, 'c'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"backup", required_argument, NULL, 'b'},
	    {"mode", required_argument, NULL, 'o'},
	    {"epoch", required_argument, NULL, 'e'},
	    {"heartbeat", required_argument, NULL, 'H'},
	    {"compress", required_argument, NULL, 'z'},
	    {"delta-cache", required_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char err[256];
	uint32_t addr;
	int prefix, c;
	enum log_level level;

	memset(a, 0, sizeof(*a));
	a->mem = DEFAULT_MEM;
	a->mode = REPL_MODE_REVERSE;
	a->epoch_ms = 20;
	a->heartbeat_ms = 5;
	a->compress = CKPT_COMPRESS_AUTO;
	a->delta_cache = DELTA_CACHE_DEFAULT_BYTES;
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
		case 'b':
		case 'o':
		case 'e':
		case 'H':
		case 'z':
		case 'D':
			if (!primary) {
				snprintf(err, sizeof(err),
					 "--backup, --mode, --epoch, "
					 "--heartbeat, --compress and "
					 "--delta-cache belong to 'rrvm "
					 "primary'");
				goto bad;
			}
			if (parse_replication_option(c, optarg, a, err,
						     sizeof(err)))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			fprintf(stderr, "see 'rrvm %s --help'\n", argv[0]);
			return -EINVAL;
		}
	}
	if (!a->guest || !a->tap || !a->ip || !a->mac) {
		snprintf(err, sizeof(err),
			 "--guest, --tap, --ip and --mac are required "
			 "(see 'rrvm %s --help')",
			 argv[0]);
		goto bad;
	}
	if (parse_ipv4_prefix(a->ip, &addr, &prefix, 0, err, sizeof(err)))
		goto bad;
	if (a->gw && parse_ipv4_prefix(a->gw, &addr, NULL, 1, err, sizeof(err)))
		goto bad;
	if (parse_mac(a->mac, a->mac_bytes, err, sizeof(err)))
		goto bad;
	if (primary && a->mode != REPL_MODE_NONE && !a->backup) {
		snprintf(err, sizeof(err),
			 "--backup ADDR:PORT is required unless --mode none");
		goto bad;
	}
	if (build_cmdline(a, argc - optind, argv + optind))
		return -EINVAL;
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

void run_args_control_info(const struct run_args *a, struct control_info *info)
{
	memset(info, 0, sizeof(*info));
	info->guest_path = a->guest;
	info->tap = a->tap;
	info->ip = a->ip;
	info->mac = a->mac;
	info->mem_size = a->mem;
}
