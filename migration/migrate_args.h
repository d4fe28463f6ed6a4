/* SPDX-License-Identifier: MIT */
/*
 * The options of `rrvm ctl SOCKET migrate` (parsed by the daemon that runs
 * the VM, from the control request's words), named as QEMU/libvirt users
 * know them (docs/migration.md):
 *
 *   migrate ADDR:PORT [--max-downtime MS] [--max-bandwidth MIB_S]
 *           [--auto-converge] [--channels N] [--timeout S]
 *           (--key-file FILE | --insecure)
 */
#ifndef RRVM_MIGRATE_ARGS_H
#define RRVM_MIGRATE_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIGRATE_DOWNTIME_DEFAULT_MS 300u /* QEMU's downtime-limit */
#define MIGRATE_DOWNTIME_MAX_MS	    60000u
#define MIGRATE_BANDWIDTH_MAX_MIB   100000u
#define MIGRATE_CHANNELS_MAX	    8u
#define MIGRATE_TIMEOUT_MAX_S	    86400u

struct migrate_args {
	const char *dest;
	unsigned max_downtime_ms;
	unsigned max_bandwidth_mib; /* 0 = unlimited */
	bool auto_converge;
	unsigned channels;
	unsigned timeout_s; /* 0 = none */
	const char *key_file;
	bool insecure;
};

#define MIGRATE_USAGE                                                          \
	"migrate ADDR:PORT [--max-downtime MS] [--max-bandwidth MIB_S] "       \
	"[--auto-converge] [--channels N] [--timeout S] (--key-file FILE | "   \
	"--insecure)"

/* argv[0] is "migrate". 0, or -EINVAL with a one-line reason in err. */
int migrate_args_parse(int argc, char *const *argv, struct migrate_args *a,
		       char *err, size_t err_size);

#endif
