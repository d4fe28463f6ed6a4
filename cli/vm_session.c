/* SPDX-License-Identifier: MIT */
#include "cli/vm_session.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "cli/commands.h"
#include "common/control_server.h"
#include "common/log.h"
#include "migration/migrate_control.h"
#include "vmm/vm.h"

struct vm session_vm;

/* Set by the signal handler: lock-free atomics only (no volatile). */
static int stop_signalled;
_Static_assert(__atomic_always_lock_free(sizeof(int), 0),
	       "the signal handler's flag must be lock-free");
static struct vm *signal_target;

static void on_stop_signal(int sig)
{
	struct vm *vm = __atomic_load_n(&signal_target, __ATOMIC_ACQUIRE);

	(void)sig;
	__atomic_store_n(&stop_signalled, 1, __ATOMIC_RELEASE);
	if (vm)
		vm_request_stop(vm);
}

int vm_session_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	/* No SA_RESTART: KVM_RUN and poll must return EINTR so we stop. */
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

void vm_session_signal_target(struct vm *vm)
{
	__atomic_store_n(&signal_target, vm, __ATOMIC_RELEASE);
	/* A signal that came before the target was set still stops it. */
	if (vm && vm_session_stop_signalled())
		vm_request_stop(vm);
}

int vm_session_stop_signalled(void)
{
	return __atomic_load_n(&stop_signalled, __ATOMIC_ACQUIRE);
}

const int *vm_session_stop_flag(void)
{
	return &stop_signalled;
}

int vm_session_exit_status(struct vm *vm, int run_ret)
{
	if (run_ret == -EFAULT)
		return RRVM_EXIT_GUEST_FAULT;
	if (run_ret < 0)
		return RRVM_EXIT_ERROR;
	if (vm_stop_requested(vm)) {
		log_info("VM stopped (signal, handover, migration or 'ctl "
			 "save --stop')");
		return RRVM_EXIT_OK;
	}
	log_info("guest exited with status %d", run_ret);
	return run_ret & 0xff;
}

/* The guest's image name for a migration's profile: known when the VM
 * booted from an ELF file (not from a snapshot). */
const char *vm_session_image_name(const char *guest_path)
{
	size_t n = guest_path ? strlen(guest_path) : 0;

	return n > 4 && strcmp(guest_path + n - 4, ".elf") == 0 ? guest_path
								: NULL;
}

int vm_session_run(const char *control_path, struct vm_control *vc)
{
	struct control_command
	    cmds[VM_CONTROL_COMMANDS + MIGRATE_CONTROL_COMMANDS];
	struct control_server *control = NULL;
	struct migrate_control mc;
	size_t n;
	int ret;

	migrate_control_init(&mc, &session_vm,
			     vm_session_image_name(vc->guest_path));
	if (vm_session_signals_install()) {
		ret = RRVM_EXIT_ERROR;
		goto out;
	}
	vm_session_signal_target(&session_vm);
	if (control_path) {
		if (control_server_start(control_path, &control)) {
			ret = RRVM_EXIT_ERROR;
			goto out;
		}
		n = vm_control_commands(vc, cmds);
		n += migrate_control_commands(&mc, cmds + n);
		control_server_set(control, cmds, n);
	}
	ret = vm_session_exit_status(&session_vm, vm_run(&session_vm));
out:
	control_server_stop(control);
	vm_session_signal_target(NULL);
	vm_destroy(&session_vm);
	migrate_control_destroy(&mc);
	return ret;
}
