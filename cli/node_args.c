/* SPDX-License-Identifier: MIT */
#include "cli/node_args.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <string.h>

#include "cli/cli_parse.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/transport.h"
#include "primary/delta_cache.h"
#include "vmm/cpu_features.h"

enum {
	OPT_BACKUP = 256,
	OPT_REPROTECT,
	OPT_LISTEN,
	OPT_MODE,
	OPT_EPOCH,
	OPT_HEARTBEAT,
	OPT_COMPRESS,
	OPT_DELTA_CACHE,
	OPT_KEY_FILE,
	OPT_INSECURE,
	OPT_REWIRE_CMD,
	OPT_ON_STOP,
	OPT_HANDOVER_TIMEOUT,
	OPT_DETECT_TIMEOUT,
	OPT_DETECT_FLOOR,
	OPT_LAN_LISTEN,
	OPT_LAN_PEER,
	OPT_HEARTBEAT_PRIORITY,
	OPT_FENCE_CMD,
	OPT_ANNOUNCE_DEV,
	OPT_REPORT,
	OPT_TOPOLOGY,
	OPT_CAPTURE_IF,
	OPT_FORWARD_IF,
	OPT_CAPTURE,
	OPT_GUEST_MAC,
	OPT_GUEST_IP,
	OPT_LOG_LIMIT,
	OPT_CAPTURE_SPIN,
	OPT_TAP,
	OPT_CONTROL,
	OPT_LOG_LEVEL,
	OPT_CPU_FEATURES,
	OPT_MAX_MEM,
	OPT_REQUIRE_IMAGE,
	OPT_HELP,
};

/* Options both commands take. */
static const struct option node_longopts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"epoch", required_argument, NULL, OPT_EPOCH},
    {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
    {"compress", required_argument, NULL, OPT_COMPRESS},
    {"delta-cache", required_argument, NULL, OPT_DELTA_CACHE},
    {"key-file", required_argument, NULL, OPT_KEY_FILE},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"rewire-cmd", required_argument, NULL, OPT_REWIRE_CMD},
    {"on-stop", required_argument, NULL, OPT_ON_STOP},
    {"handover-timeout", required_argument, NULL, OPT_HANDOVER_TIMEOUT},
    {"detect-timeout", required_argument, NULL, OPT_DETECT_TIMEOUT},
    {"detect-floor", required_argument, NULL, OPT_DETECT_FLOOR},
    {"lan-listen", required_argument, NULL, OPT_LAN_LISTEN},
    {"lan-peer", required_argument, NULL, OPT_LAN_PEER},
    {"heartbeat-priority", required_argument, NULL, OPT_HEARTBEAT_PRIORITY},
    {"fence-cmd", required_argument, NULL, OPT_FENCE_CMD},
    {"announce-dev", required_argument, NULL, OPT_ANNOUNCE_DEV},
    {"report", required_argument, NULL, OPT_REPORT},
    {"topology", required_argument, NULL, OPT_TOPOLOGY},
    {"capture-if", required_argument, NULL, OPT_CAPTURE_IF},
    {"forward-if", required_argument, NULL, OPT_FORWARD_IF},
    {"capture", required_argument, NULL, OPT_CAPTURE},
    {"log-limit", required_argument, NULL, OPT_LOG_LIMIT},
    {"capture-spin", required_argument, NULL, OPT_CAPTURE_SPIN},
    {"help", no_argument, NULL, OPT_HELP},
};

/* rrvm primary only (plus the VM options of cli/run_args.c). */
static const struct option primary_longopts[] = {
    {"backup", required_argument, NULL, OPT_BACKUP},
    {"mode", required_argument, NULL, OPT_MODE},
};

/* rrvm backup only. */
static const struct option backup_longopts[] = {
    {"reprotect", required_argument, NULL, OPT_REPROTECT},
    {"tap", required_argument, NULL, OPT_TAP},
    {"control", required_argument, NULL, OPT_CONTROL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"guest-mac", required_argument, NULL, OPT_GUEST_MAC},
    {"guest-ip", required_argument, NULL, OPT_GUEST_IP},
};

/* rrvm incoming only, plus the node options named below. */
static const struct option incoming_longopts[] = {
    {"tap", required_argument, NULL, OPT_TAP},
    {"control", required_argument, NULL, OPT_CONTROL},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"cpu-features", required_argument, NULL, OPT_CPU_FEATURES},
    {"max-mem", required_argument, NULL, OPT_MAX_MEM},
    {"require-image", required_argument, NULL, OPT_REQUIRE_IMAGE},
};
static const char *const incoming_node_opts[] = {
    "listen",	    "key-file", "insecure", "detect-timeout",
    "announce-dev", "report",	"help",
};

#define N_OPTS(a) (sizeof(a) / sizeof((a)[0]))

static bool incoming_takes(const char *name)
{
	for (size_t i = 0; i < N_OPTS(incoming_node_opts); i++)
		if (strcmp(name, incoming_node_opts[i]) == 0)
			return true;
	return false;
}

static void build_longopts(enum node_start start, struct option *out)
{
	size_t n = 0;

	if (start == NODE_START_INCOMING) {
		memcpy(out, incoming_longopts, sizeof(incoming_longopts));
		n = N_OPTS(incoming_longopts);
		for (size_t i = 0; i < N_OPTS(node_longopts); i++)
			if (incoming_takes(node_longopts[i].name))
				out[n++] = node_longopts[i];
		out[n] = (struct option){NULL, 0, NULL, 0};
		return;
	}
	if (start == NODE_START_PRIMARY) {
		for (const struct option *o = run_args_longopts; o->name; o++)
			out[n++] = *o;
		memcpy(out + n, primary_longopts, sizeof(primary_longopts));
		n += N_OPTS(primary_longopts);
	} else {
		memcpy(out + n, backup_longopts, sizeof(backup_longopts));
		n += N_OPTS(backup_longopts);
	}
	memcpy(out + n, node_longopts, sizeof(node_longopts));
	n += N_OPTS(node_longopts);
	out[n] = (struct option){NULL, 0, NULL, 0};
}

static void set_defaults(struct node_args *n, enum node_start start)
{
	memset(n, 0, sizeof(*n));
	n->start = start;
	run_args_init(&n->vm);
	n->mode = REPL_MODE_REVERSE;
	n->epoch_ms = 20;
	n->heartbeat_ms = 5;
	n->compress = CKPT_COMPRESS_AUTO;
	n->delta_cache = DELTA_CACHE_DEFAULT_BYTES;
	n->detect_timeout_ms = 500;
	n->detect_floor_ms = 0; /* not given: the default, at most the cap */
	n->heartbeat_priority = NODE_DEFAULT_HEARTBEAT_PRIORITY;
	n->handover_timeout_ms = 2000;
	n->takeover.garp_count = 3;
	n->takeover.garp_interval_ms = 20;
	n->reverse.spin_us = REVERSE_DEFAULT_SPIN_US;
	n->reverse.log_bytes = REPLAY_LOG_DEFAULT_BYTES;
	n->reverse.log_frames = REPLAY_LOG_DEFAULT_FRAMES;
	n->reverse.backend = "auto";
	/* A migration source is busy copying, not silent, for seconds at a
	 * time with a large guest: a longer wait before giving up. */
	if (start == NODE_START_INCOMING)
		n->detect_timeout_ms = 5000;
}

/* The pre-shared key (common/key_file.h says what a key file is). */
static int load_key(struct node_args *n, char *err, size_t size)
{
	char why[200];

	if (key_file_load(n->key_file, n->key, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, size, "--key-file '%s': %s", n->key_file, why);
	return -EINVAL;
}

/* What this host offers a guest coming in: KVM's features narrowed by
 * --cpu-features (plus what KVM forces on every guest), the memory cap,
 * the image insisted on. */
static int incoming_local(struct node_args *n, const char *cpu_list,
			  const char *image, char *err, size_t size)
{
	struct vm_profile_local *l = &n->incoming;
	uint64_t offered, forced, mask;
	char why[300];
	int ret;

	ret = cpu_features_host_probe(-1, &offered, &forced);
	if (ret) {
		snprintf(err, size, "cannot read KVM's CPU features: %s",
			 strerror(-ret));
		return ret;
	}
	l->cpu_features = offered;
	if (cpu_list) {
		if (cpu_features_parse(cpu_list, offered, &mask, why,
				       sizeof(why))) {
			snprintf(err, size, "--cpu-features '%s': %s", cpu_list,
				 why);
			return -EINVAL;
		}
		l->cpu_features = (mask & offered) | forced;
	}
	if (image) {
		ret = vm_profile_hash_file(image, l->image_sha256);
		if (ret) {
			snprintf(err, size, "--require-image '%s': %s", image,
				 strerror(-ret));
			return ret;
		}
		l->require_image = true;
	}
	return 0;
}

static int handle(struct node_args *n, int c, const char *arg,
		  const char **guest_mac, const char **guest_ip, char *err,
		  size_t size)
{
	enum log_level level;
	struct sockaddr_in sa;
	uint64_t bytes;

	switch (c) {
	case OPT_BACKUP:
	case OPT_REPROTECT:
		n->peer = arg;
		return 0;
	case OPT_LISTEN:
		n->listen = arg;
		return 0;
	case OPT_MODE:
		if (repl_mode_parse(arg, &n->mode) == 0)
			return 0;
		snprintf(err, size,
			 "--mode '%s': use reverse, buffered, naive or none",
			 arg);
		return -EINVAL;
	case OPT_EPOCH:
		return parse_uint_option("--epoch", arg, 1, 10000,
					 "milliseconds", &n->epoch_ms, err, size);
	case OPT_HEARTBEAT:
		return parse_uint_option("--heartbeat", arg, 0, 10000,
					 "milliseconds", &n->heartbeat_ms, err,
					 size);
	case OPT_COMPRESS:
		if (strcmp(arg, "auto") == 0 || strcmp(arg, "none") == 0) {
			n->compress = arg[0] == 'a' ? CKPT_COMPRESS_AUTO
						    : CKPT_COMPRESS_NONE;
			return 0;
		}
		snprintf(err, size, "--compress '%s': use auto or none", arg);
		return -EINVAL;
	case OPT_DELTA_CACHE:
		if (parse_byte_size(arg, &bytes) == 0 &&
		    bytes <= DELTA_CACHE_MAX_BYTES &&
		    (bytes == 0 || bytes >= CKPT_PAGE_SIZE)) {
			n->delta_cache = bytes;
			return 0;
		}
		snprintf(err, size,
			 "--delta-cache '%s': a size from 4K to 64G (e.g. 64M, "
			 "1G) or 0",
			 arg);
		return -EINVAL;
	case OPT_KEY_FILE:
		n->key_file = arg;
		return 0;
	case OPT_INSECURE:
		n->insecure = true;
		return 0;
	case OPT_REWIRE_CMD:
		n->rewire_cmd = arg;
		return 0;
	case OPT_ON_STOP:
		if (strcmp(arg, "stand-down") == 0)
			n->on_stop = ON_STOP_STAND_DOWN;
		else if (strcmp(arg, "switchover") == 0)
			n->on_stop = ON_STOP_SWITCHOVER;
		else {
			snprintf(err, size,
				 "--on-stop '%s': use stand-down or switchover",
				 arg);
			return -EINVAL;
		}
		return 0;
	case OPT_HANDOVER_TIMEOUT:
		return parse_uint_option("--handover-timeout", arg, 10, 60000,
					 "milliseconds", &n->handover_timeout_ms,
					 err, size);
	case OPT_DETECT_TIMEOUT:
		return parse_uint_option("--detect-timeout", arg, 1, 60000,
					 "milliseconds", &n->detect_timeout_ms,
					 err, size);
	case OPT_DETECT_FLOOR:
		return parse_uint_option("--detect-floor", arg, 1, 60000,
					 "milliseconds", &n->detect_floor_ms,
					 err, size);
	case OPT_LAN_LISTEN:
	case OPT_LAN_PEER:
		if (transport_parse_addr(arg, &sa) || !strchr(arg, ':')) {
			snprintf(err, size,
				 "--%s '%s': an IPv4 address and port, "
				 "A.B.C.D:PORT",
				 c == OPT_LAN_LISTEN ? "lan-listen"
						     : "lan-peer",
				 arg);
			return -EINVAL;
		}
		*(c == OPT_LAN_LISTEN ? &n->lan_listen : &n->lan_peer) = arg;
		return 0;
	case OPT_HEARTBEAT_PRIORITY:
		return parse_uint_option("--heartbeat-priority", arg, 0, 99,
					 "SCHED_FIFO priority (0: off)",
					 &n->heartbeat_priority, err, size);
	case OPT_FENCE_CMD:
		n->takeover.fence_cmd = arg;
		return 0;
	case OPT_ANNOUNCE_DEV:
		n->takeover.announce_dev = arg;
		return 0;
	case OPT_REPORT:
		n->takeover.report_path = arg;
		return 0;
	case OPT_TOPOLOGY:
		if (reverse_topology_parse(arg, &n->reverse.topology) == 0)
			return 0;
		snprintf(err, size, "--topology '%s': inline or mirror", arg);
		return -EINVAL;
	case OPT_CAPTURE_IF:
		n->reverse.capture_if = arg;
		return 0;
	case OPT_FORWARD_IF:
		n->reverse.forward_if = arg;
		return 0;
	case OPT_CAPTURE:
		n->reverse.backend = arg;
		return 0;
	case OPT_GUEST_MAC:
		*guest_mac = arg;
		return 0;
	case OPT_GUEST_IP:
		*guest_ip = arg;
		return 0;
	case OPT_LOG_LIMIT:
		if (parse_byte_size(arg, &bytes) == 0 && bytes > 0) {
			n->reverse.log_bytes = bytes;
			return 0;
		}
		snprintf(err, size, "--log-limit '%s': bytes, e.g. 32M", arg);
		return -EINVAL;
	case OPT_CAPTURE_SPIN:
		return parse_uint_option("--capture-spin", arg, 0, 10000,
					 "microseconds", &n->reverse.spin_us,
					 err, size);
	case OPT_TAP:
		n->tap = arg;
		return 0;
	case OPT_CONTROL:
		n->control = arg;
		return 0;
	case OPT_MAX_MEM:
		if (parse_byte_size(arg, &bytes) == 0 && bytes >= (8u << 20)) {
			n->incoming.max_mem = bytes;
			return 0;
		}
		snprintf(err, size,
			 "--max-mem '%s': a size of at least 8M "
			 "(e.g. 512M, 2G)",
			 arg);
		return -EINVAL;
	case OPT_LOG_LEVEL:
		if (log_parse_level(arg, &level) == 0) {
			log_set_level(level);
			return 0;
		}
		snprintf(err, size,
			 "--log-level '%s': use error, warn, info or debug",
			 arg);
		return -EINVAL;
	}
	snprintf(err, size, "unknown option");
	return -EINVAL;
}

/* The capture needs the guest's addresses; a primary knows its own. */
static int check_reverse(struct node_args *n, const char *guest_mac,
			 const char *guest_ip, char *err, size_t size)
{
	struct reverse_config *rc = &n->reverse;

	if (rc->topology == TOPOLOGY_NONE)
		return 0;
	if (n->start == NODE_START_PRIMARY) {
		memcpy(rc->guest_mac, n->vm.mac_bytes, 6);
		rc->guest_ip = n->vm.ip_be;
	} else if (!guest_mac || !guest_ip ||
		   parse_mac(guest_mac, rc->guest_mac, err, size) ||
		   parse_ipv4_prefix(guest_ip, &rc->guest_ip, NULL, 1, err,
				     size)) {
		if (!guest_mac || !guest_ip)
			snprintf(err, size,
				 "--topology needs --guest-mac and --guest-ip");
		return -EINVAL;
	}
	if (!rc->capture_if ||
	    (rc->topology == TOPOLOGY_INLINE && !rc->forward_if)) {
		snprintf(err, size, "--topology %s needs --capture-if%s",
			 reverse_topology_name(rc->topology),
			 rc->topology == TOPOLOGY_INLINE ? " and --forward-if"
							 : "");
		return -EINVAL;
	}
	return 0;
}

static int finish(struct node_args *n, const char *cmd, int nopts,
		  char **opts, const char *guest_mac, const char *guest_ip,
		  char *err, size_t size)
{
	if (n->start == NODE_START_PRIMARY) {
		if (run_args_finish(&n->vm, cmd, nopts, opts, err, size))
			return -EINVAL;
		n->tap = n->vm.tap;
		n->control = n->vm.control;
		if (n->mode != REPL_MODE_NONE && !n->peer) {
			snprintf(err, size, "--backup ADDR:PORT is required "
					    "unless --mode none");
			return -EINVAL;
		}
	} else {
		if (nopts) {
			snprintf(err, size, "unexpected argument '%s'", opts[0]);
			return -EINVAL;
		}
		if (!n->listen || !n->tap) {
			snprintf(err, size, "--listen and --tap are required");
			return -EINVAL;
		}
	}
	if (check_reverse(n, guest_mac, guest_ip, err, size))
		return -EINVAL;
	if (!n->detect_floor_ms)
		n->detect_floor_ms =
		    n->detect_timeout_ms < NODE_DEFAULT_DETECT_FLOOR_MS
			? n->detect_timeout_ms
			: NODE_DEFAULT_DETECT_FLOOR_MS;
	if (n->detect_floor_ms > n->detect_timeout_ms) {
		snprintf(err, size,
			 "--detect-floor %u ms is above --detect-timeout %u ms",
			 n->detect_floor_ms, n->detect_timeout_ms);
		return -EINVAL;
	}
	if (n->key_file && n->insecure) {
		snprintf(err, size, "--key-file and --insecure exclude each "
				    "other");
		return -EINVAL;
	}
	if (n->start == NODE_START_PRIMARY && n->mode == REPL_MODE_NONE)
		return 0; /* nothing to protect, no link to secure */
	if (!n->key_file && !n->insecure) {
		snprintf(err, size,
			 "the %s link needs --key-file FILE (make one with "
			 "'rrvm keygen FILE', the same on both hosts), or "
			 "--insecure for a lab without attackers",
			 n->start == NODE_START_INCOMING ? "migration"
							 : "replication");
		return -EINVAL;
	}
	if (n->key_file)
		return load_key(n, err, size);
	return 0;
}

int node_args_parse(int argc, char **argv, enum node_start start,
		    struct node_args *n, void (*usage)(FILE *out))
{
	struct option longopts[64];
	const char *guest_mac = NULL, *guest_ip = NULL;
	const char *cpu_list = NULL, *image = NULL;
	char err[320];
	int c, ret;

	set_defaults(n, start);
	build_longopts(start, longopts);
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (c == '?') {
			fprintf(stderr, "see 'rrvm %s --help'\n", argv[0]);
			return -EINVAL;
		}
		if (c == OPT_CPU_FEATURES || c == OPT_REQUIRE_IMAGE) {
			/* Read once every option is known (the probe needs
			 * KVM, so --help never does it). */
			*(c == OPT_CPU_FEATURES ? &cpu_list : &image) = optarg;
			continue;
		}
		ret = start == NODE_START_PRIMARY
			  ? run_args_handle(c, optarg, &n->vm, err, sizeof(err))
			  : 0;
		if (ret == 0)
			ret = handle(n, c, optarg, &guest_mac, &guest_ip, err,
				     sizeof(err));
		if (ret < 0)
			goto bad;
	}
	if (finish(n, argv[0], argc - optind, argv + optind, guest_mac,
		   guest_ip, err, sizeof(err)))
		goto bad;
	if (start == NODE_START_INCOMING &&
	    incoming_local(n, cpu_list, image, err, sizeof(err)))
		goto bad;
	n->takeover.tap = n->tap;
	n->takeover.detect_timeout_ms = n->detect_timeout_ms;
	return 0;
bad:
	log_error("%s", err);
	return -EINVAL;
}
