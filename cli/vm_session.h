/* SPDX-License-Identifier: MIT */
/* Running a created VM in the foreground: signals, control socket, status. */
#ifndef RRVM_VM_SESSION_H
#define RRVM_VM_SESSION_H

#include "vmm/control.h"

struct vm;

/* The process-wide VM (signal handlers need to reach it). */
extern struct vm session_vm;

/*
 * Run session_vm until the guest exits, faults or a signal/--stop ends it;
 * serve `control_path` (may be NULL) meanwhile; destroy the VM. Returns the
 * process exit status (see `rrvm --help`).
 */
int vm_session_run(const char *control_path, const struct control_info *info);
/* Same, calling on_stop(ctx) after the VM stopped and before it is freed
 * (to join threads that use it). */
int vm_session_run_hooked(const char *control_path,
			  const struct control_info *info,
			  void (*on_stop)(void *ctx), void *ctx);

#endif
