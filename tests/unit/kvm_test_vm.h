/* SPDX-License-Identifier: MIT */
/*
 * Helpers for unit tests that boot a real guest under KVM: a network
 * backend that never delivers a frame, and a vCPU thread to start and
 * stop. Tests skip when kvm_test_available() is false.
 */
#ifndef RRVM_TEST_KVM_TEST_VM_H
#define RRVM_TEST_KVM_TEST_VM_H

#include <pthread.h>
#include <stdbool.h>

#include "vmm/vm.h"

/* /dev/kvm opens and the guest image exists. */
bool kvm_test_available(const char *guest);
/* A backend with nothing to receive; sends are counted and dropped. */
struct vnic_backend *kvm_test_null_backend(void);
/* Start vm_run on a new thread / stop it (stop_requested + kick + join). */
int kvm_test_start(struct vm *vm, pthread_t *thread);
void kvm_test_stop(struct vm *vm, pthread_t thread);

#endif
