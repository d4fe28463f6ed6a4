/* SPDX-License-Identifier: MIT */
/*
 * Options of the two daemon commands, `rrvm primary` and `rrvm backup`.
 * They run the same node (cli/ha_node.c) starting in different roles, and
 * either may later hold the other role (failover, switchover), so most
 * options exist on both: where the peer listens, where we listen when we
 * are the backup, the fence and rewire hooks, the capture set-up.
 */
#ifndef RRVM_NODE_ARGS_H
#define RRVM_NODE_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backup/reverse.h"
#include "backup/takeover.h"
#include "cli/run_args.h"
#include "common/repl_protocol.h"
#include "common/secure_handshake.h"
#include "vmm/ckpt_codec.h"
#include "vmm/vm_profile.h"

#define NODE_KEY_BYTES SECURE_KEY_BYTES
/* Failure detection defaults (docs/replication-protocol.md). */
#define NODE_DEFAULT_DETECT_FLOOR_MS	30u
#define NODE_DEFAULT_HEARTBEAT_PRIORITY 10u

/* rrvm primary, rrvm backup, rrvm incoming (a live migration's
 * destination: a backup role that accepts one migration). */
enum node_start { NODE_START_PRIMARY, NODE_START_BACKUP, NODE_START_INCOMING };

/* What SIGTERM/SIGINT of a protecting primary does. */
enum node_on_stop {
	ON_STOP_STAND_DOWN = 0, /* say goodbye: the backup does not take over */
	ON_STOP_SWITCHOVER, /* hand the VM to the backup, then exit */
};

struct node_args {
	enum node_start start;
	struct run_args vm; /* primary: the VM to boot */
	const char *tap;
	const char *control;

	/* Replication. */
	const char *peer; /* primary: --backup; backup: --reprotect */
	const char *listen; /* backup: --listen; primary: after switchover */
	enum repl_mode mode; /* primary: --mode (a backup learns it) */
	unsigned epoch_ms, heartbeat_ms;
	enum ckpt_compression compress;
	uint64_t delta_cache; /* --delta-cache bytes */
	const char *key_file;
	bool insecure;
	uint8_t key[NODE_KEY_BYTES];
	const char *rewire_cmd;
	enum node_on_stop on_stop;
	unsigned handover_timeout_ms;

	/* Failure detection (both roles: the primary sends, the backup
	 * listens). */
	const char *lan_listen; /* backup: LAN heartbeats arrive here */
	const char *lan_peer;	/* primary: LAN heartbeats go there */
	unsigned detect_floor_ms;
	unsigned heartbeat_priority; /* SCHED_FIFO; 0: normal scheduling */

	/* Backup role. */
	unsigned detect_timeout_ms;
	struct reverse_config reverse;
	struct takeover_config takeover;

	/* rrvm incoming: what this host offers a guest coming in. */
	struct vm_profile_local incoming;
};

/*
 * Parse argv (argv[0] is the subcommand). Returns 0, 1 if --help was
 * printed (exit 0), or -EINVAL after a one-line error (exit 2).
 */
int node_args_parse(int argc, char **argv, enum node_start start,
		    struct node_args *n, void (*usage)(FILE *out));

/* The key, or NULL with --insecure. */
static inline const uint8_t *node_args_key(const struct node_args *n)
{
	return n->insecure ? NULL : n->key;
}

#endif
