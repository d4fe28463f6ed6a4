/* SPDX-License-Identifier: MIT */
/*
 * One protected-VM daemon (`rrvm primary`, `rrvm backup`): a node that
 * holds one of two roles at a time and changes between them.
 *
 *   backup  --failover (fence) / handover (planned)-->  VM here
 *   VM here --protect (reprotect, or at start)-->  VM here, protected
 *   VM here, protected --switchover (handover sent)-->  backup (with
 *                                                       --listen)
 *
 * Each change is a library call on its own context (backup_serve,
 * takeover_prepare/go_live, replicator_start/handover/stop); this file only
 * sequences them, owns the VM, the control socket and the exit status.
 */
#ifndef RRVM_HA_NODE_H
#define RRVM_HA_NODE_H

struct node_args;

/* Run until stopped (signal), the guest ends, or a fatal error. Returns
 * the process exit status. */
int ha_node_run(struct node_args *args);

#endif
