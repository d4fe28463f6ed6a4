/* SPDX-License-Identifier: MIT */
/*
 * The micro-VM: one KVM VM, one vCPU running in ring 3 of long mode, guest RAM
 * identity-mapped, a virtual NIC and a console. This header is the VMM's
 * internal API; docs/design.md walks through it.
 */
#ifndef RRVM_VM_H
#define RRVM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rrvm/boot_info.h"
#include "vmm/vm_clock.h"
#include "vmm/vm_stats.h"
#include "vmm/vnic.h"

struct kvm_run;

struct vm_config {
	const char *guest_path;
	uint64_t mem_size;
	const char *cmdline; /* full guest command line */
	uint8_t mac[6];
	struct vnic_backend *backend; /* owned by the VM after vm_create */
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;

	uint8_t *mem; /* host mapping of guest RAM, gpa 0 .. mem_size */
	uint64_t mem_size;
	/* Pages the monitor itself wrote; KVM's dirty log cannot see them. */
	uint64_t *monitor_dirty;

	uint64_t entry;
	uint64_t image_start, image_end;
	struct rrvm_boot_info *boot_info; /* inside mem */

	struct vm_clock clock;
	struct vnic vnic;
	struct vm_stats stats;

	char console_line[512];
	size_t console_len;

	volatile int stop_requested; /* set from a signal handler */
	int exit_status; /* guest's status once it exited */
};

/* Create the VM, load the guest and prepare the vCPU. 0 or -errno. */
int vm_create(struct vm *vm, const struct vm_config *config);
void vm_destroy(struct vm *vm);

/*
 * Run until the guest exits (returns its status, >= 0), faults (returns
 * -EFAULT after printing a report), or a stop is requested (returns 0).
 */
int vm_run(struct vm *vm);

/* Host pointer for [gpa, gpa+len) or NULL if any of it is outside RAM. */
void *vm_gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len);
/* Record that the monitor wrote guest memory [gpa, gpa+len). */
void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len);

/* vm_cpu.c: build page tables, GDT/IDT/TSS in guest memory; set vCPU regs. */
int vm_cpu_setup(struct vm *vm, uint64_t stack_top);
/* vm_cpu.c: print a fault report (exit reason, RIP, registers) to stderr. */
void vm_cpu_report_fault(struct vm *vm, const char *reason);

#endif
