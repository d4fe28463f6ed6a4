/* SPDX-License-Identifier: MIT */
/*
 * The vCPU loop. Anything the guest does that is not a well-formed hypercall
 * ends the VM with a report (exit reason, RIP, registers): never a hang.
 */
#include <errno.h>
#include <poll.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "rrvm/hypercall.h"
#include "vmm/hypercall.h"
#include "vmm/vm.h"

static const char *exit_reason_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN:
		return "unknown exit";
	case KVM_EXIT_EXCEPTION:
		return "exception exit";
	case KVM_EXIT_IO:
		return "port I/O";
	case KVM_EXIT_HLT:
		return "halt";
	case KVM_EXIT_MMIO:
		return "access to unbacked physical memory (MMIO)";
	case KVM_EXIT_SHUTDOWN:
		return "shutdown (triple fault)";
	case KVM_EXIT_FAIL_ENTRY:
		return "VM entry failed";
	case KVM_EXIT_INTERNAL_ERROR:
		return "KVM internal error";
	}
	return "unexpected exit";
}

static int vm_fault(struct vm *vm, const char *what)
{
	char reason[160];

	hypercall_console_flush(vm);
	if (vm->run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		snprintf(reason, sizeof(reason), "%s (suberror %u)", what,
			 vm->run->internal.suberror);
	else if (vm->run->exit_reason == KVM_EXIT_FAIL_ENTRY)
		snprintf(reason, sizeof(reason), "%s (hardware reason 0x%llx)",
			 what,
			 (unsigned long long)
			     vm->run->fail_entry.hardware_entry_failure_reason);
	else
		snprintf(reason, sizeof(reason), "%s", what);
	vm_cpu_report_fault(vm, reason);
	stat_set(vm->stats.state, VM_STATE_FAULTED);
	return -EFAULT;
}

static int vm_handle_io(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	uint32_t arg;
	char what[96];

	stat_inc(vm->stats.exits_io);
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 ||
	    run->io.count != 1 || run->io.port < RRVM_HC_PORT ||
	    run->io.port >= RRVM_HC_PORT + RRVM_HC_COUNT) {
		snprintf(what, sizeof(what),
			 "unexpected port I/O (%s port 0x%x, size %u)",
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			 run->io.port, run->io.size);
		return vm_fault(vm, what);
	}
	memcpy(&arg, (uint8_t *)run + run->io.data_offset, sizeof(arg));
	switch (hypercall_dispatch(vm, run->io.port, arg)) {
	case HC_CONTINUE:
		return 0;
	case HC_GUEST_EXIT:
		stat_set(vm->stats.state, VM_STATE_EXITED);
		return 1;
	case HC_GUEST_PANIC:
		return vm_fault(vm, "guest panic");
	case HC_BAD_CALL:
		break;
	}
	snprintf(what, sizeof(what),
		 "malformed hypercall %u (argument 0x%x outside guest memory "
		 "or corrupted rings)",
		 run->io.port - RRVM_HC_PORT, arg);
	return vm_fault(vm, what);
}

/* Frozen: no KVM_RUN; wake for requests, a thaw or a stop. */
static void vm_wait_frozen(struct vm *vm)
{
	struct pollfd pfd = {.fd = vm->request_fd, .events = POLLIN};

	if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
		usleep(1000);
}

static int vm_run_loop(struct vm *vm)
{
	int ret;

	stat_set(vm->stats.state, VM_STATE_RUNNING);
	while (!vm_stop_requested(vm)) {
		vm_serve_requests(vm);
		if (vm_stop_requested(vm))
			break;
		/* The throttle may sleep here, serving requests (one may
		 * freeze the VM or stop it): check both after it. */
		vm_throttle_point(vm);
		if (vm_stop_requested(vm))
			break;
		if (__atomic_load_n(&vm->frozen, __ATOMIC_ACQUIRE)) {
			vm_wait_frozen(vm);
			continue;
		}
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				stat_inc(vm->stats.exits_interrupted);
				continue;
			}
			log_error("KVM_RUN: %s", strerror(errno));
			return vm_fault(vm, "KVM_RUN failed");
		}
		stat_inc(vm->stats.exits_total);
		switch (vm->run->exit_reason) {
		case KVM_EXIT_IO:
			ret = vm_handle_io(vm);
			if (ret < 0)
				return ret;
			if (ret > 0)
				return vm->exit_status;
			break;
		case KVM_EXIT_HLT:
			/* The guest cannot hlt at CPL3: this is a fault stub.
			 */
			stat_inc(vm->stats.exits_other);
			return vm_fault(vm, "exception");
		default:
			stat_inc(vm->stats.exits_other);
			return vm_fault(vm,
					exit_reason_name(vm->run->exit_reason));
		}
	}
	hypercall_console_flush(vm);
	return 0;
}

int vm_run(struct vm *vm)
{
	int ret;

	pthread_mutex_lock(&vm->request_lock);
	vm->vcpu_thread = pthread_self();
	__atomic_store_n(&vm->vcpu_thread_running, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->request_lock);
	vm_pause_bind_thread(vm);
	ret = vm_run_loop(vm);
	vm_throttle_exit(vm);
	vm_pause_bind_thread(NULL);
	/* Callers waiting on a request must not wait forever. */
	pthread_mutex_lock(&vm->request_lock);
	__atomic_store_n(&vm->vcpu_thread_running, false, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vm->request_cond);
	pthread_mutex_unlock(&vm->request_lock);
	return ret;
}
