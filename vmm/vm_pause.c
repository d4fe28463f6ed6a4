/* SPDX-License-Identifier: MIT */
/*
 * Stopping the vCPU for another thread (the control socket, the epoch loop).
 *
 * The caller posts a request, sets kvm_run.immediate_exit and signals the
 * vCPU thread: KVM_RUN then returns EINTR whether the signal arrived before
 * or during the ioctl, and a WAIT hypercall asleep in ppoll wakes on the
 * request eventfd. The vCPU thread serves the request between KVM_RUN calls.
 * Before running it, one more KVM_RUN with immediate_exit completes any
 * half-done I/O exit so the captured state is consistent on any host (see
 * environment.md: on kvm-pvm RIP is already past the `out`, on VMX it may
 * not be).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/log.h"
#include "vmm/vm.h"

/* The kvm_run of the VM whose vCPU this thread runs, for on_kick. */
static __thread struct kvm_run *kick_run;

static void on_kick(int sig)
{
	struct kvm_run *run = kick_run;

	(void)sig; /* there to interrupt KVM_RUN (and ppoll) */
	if (run)
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELAXED);
}

void vm_pause_bind_thread(struct vm *vm)
{
	kick_run = vm ? vm->run : NULL;
}

int vm_pause_init(struct vm *vm)
{
	struct sigaction sa;

	vm->request_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vm->request_fd < 0)
		return -errno;
	pthread_mutex_init(&vm->request_lock, NULL);
	pthread_mutex_init(&vm->caller_lock, NULL);
	pthread_cond_init(&vm->request_cond, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick;
	/* No SA_RESTART: the point is to make KVM_RUN return. */
	if (sigaction(VM_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

void vm_pause_destroy(struct vm *vm)
{
	if (vm->request_fd >= 0)
		close(vm->request_fd);
	vm->request_fd = -1;
}

void vm_kick(struct vm *vm)
{
	uint64_t one = 1;

	if (vm->run)
		__atomic_store_n(&vm->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (write(vm->request_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("vm_kick: eventfd: %s", strerror(errno));
	/* Read without request_lock (vm_kick may run in a signal handler's
	 * path); vm_run publishes vcpu_thread before the flag. */
	if (__atomic_load_n(&vm->vcpu_thread_running, __ATOMIC_ACQUIRE))
		pthread_kill(vm->vcpu_thread, VM_KICK_SIGNAL);
}

void vm_request_stop(struct vm *vm)
{
	uint64_t one = 1;

	__atomic_store_n(&vm->stop_requested, 1, __ATOMIC_RELEASE);
	if (!vm->run)
		return; /* not created yet: nothing to wake */
	__atomic_store_n(&vm->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	/* Wake a WAIT sleep or a frozen vCPU; write() is signal-safe. */
	if (write(vm->request_fd, &one, sizeof(one)) < 0)
		return;
}

void vm_set_frozen(struct vm *vm, bool frozen)
{
	__atomic_store_n(&vm->frozen, frozen ? 1 : 0, __ATOMIC_RELEASE);
	if (!frozen)
		vm_kick(vm);
}

/* Complete a half-done I/O exit without running guest code. */
static void vm_settle_io(struct vm *vm)
{
	__atomic_store_n(&vm->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(vm->vcpu_fd, KVM_RUN, 0) == 0)
		log_warn("KVM_RUN with immediate_exit ran the guest");
	__atomic_store_n(&vm->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

void vm_serve_requests(struct vm *vm)
{
	struct vm_request *req;
	uint64_t count;

	/*
	 * Clear the kick state before looking: a kick after this point is
	 * never lost (at worst it causes one spurious early return).
	 */
	__atomic_store_n(&vm->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	if (read(vm->request_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_debug("vm_serve_requests: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&vm->request_lock);
	req = vm->request;
	pthread_mutex_unlock(&vm->request_lock);
	if (!req)
		return;
	vm_settle_io(vm);
	req->result = req->fn(vm, req->arg);
	pthread_mutex_lock(&vm->request_lock);
	req->done = true;
	vm->request = NULL;
	pthread_cond_broadcast(&vm->request_cond);
	pthread_mutex_unlock(&vm->request_lock);
}

int vm_call_paused(struct vm *vm, vm_paused_fn fn, void *arg)
{
	struct vm_request req = {.fn = fn, .arg = arg};
	int ret;

	pthread_mutex_lock(&vm->caller_lock);
	pthread_mutex_lock(&vm->request_lock);
	if (!vm->vcpu_thread_running) {
		/*
		 * No vCPU thread: run fn here, keeping request_lock so that a
		 * vm_run starting meanwhile cannot run the guest under it.
		 */
		ret = fn(vm, arg);
		pthread_mutex_unlock(&vm->request_lock);
		goto out;
	}
	vm->request = &req;
	pthread_mutex_unlock(&vm->request_lock);
	vm_kick(vm);
	pthread_mutex_lock(&vm->request_lock);
	while (!req.done && vm->vcpu_thread_running)
		pthread_cond_wait(&vm->request_cond, &vm->request_lock);
	if (!req.done)
		vm->request = NULL;
	pthread_mutex_unlock(&vm->request_lock);
	ret = req.done ? req.result : -ESHUTDOWN;
out:
	pthread_mutex_unlock(&vm->caller_lock);
	return ret;
}
