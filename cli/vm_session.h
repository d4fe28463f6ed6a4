/* SPDX-License-Identifier: MIT */
/*
 * Running a VM in the foreground of this process: the process's signals
 * (SIGINT/SIGTERM stop the VM, or whatever the daemon is waiting for), the
 * control socket, and the exit status (see `rrvm --help`).
 */
#ifndef RRVM_VM_SESSION_H
#define RRVM_VM_SESSION_H

#include "vmm/vm_control.h"

struct vm;

/* The VM of `rrvm run` and `rrvm restore`. */
extern struct vm session_vm;

/* SIGINT/SIGTERM: set the stop flag and stop the target VM (if any);
 * SIGPIPE ignored. 0 or -errno. */
int vm_session_signals_install(void);
void vm_session_signal_target(struct vm *vm);
/* Was SIGINT/SIGTERM received? */
int vm_session_stop_signalled(void);
/* The stop flag itself, for loops that poll it (backup_serve): read it
 * with __atomic_load_n. */
const int *vm_session_stop_flag(void);

/* vm_run's result as the process exit status; logs why it stopped. */
int vm_session_exit_status(struct vm *vm, int run_ret);

/* guest_path if it names an ELF image (a migration's profile carries the
 * name), else NULL. */
const char *vm_session_image_name(const char *guest_path);

/*
 * Run session_vm until the guest exits, faults or a signal/--stop ends it;
 * serve vc's commands on control_path (may be NULL) meanwhile; destroy the
 * VM. Returns the process exit status.
 */
int vm_session_run(const char *control_path, struct vm_control *vc);

#endif
