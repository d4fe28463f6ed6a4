/* SPDX-License-Identifier: MIT */
/*
 * The micro-VM: one KVM VM, one vCPU running in ring 3 of long mode, guest RAM
 * identity-mapped, a virtual NIC and a console. This header is the VMM's
 * internal API; docs/design.md walks through it.
 */
#ifndef RRVM_VM_H
#define RRVM_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rrvm/boot_info.h"
#include "vmm/vm_clock.h"
#include "vmm/vm_stats.h"
#include "vmm/vm_throttle.h"
#include "vmm/vnic.h"

struct kvm_run;
struct vm;

/* Makes the vCPU thread leave KVM_RUN (vm_pause.c, vm_throttle.c). */
#define VM_KICK_SIGNAL SIGUSR1

/* A function the vCPU thread runs for another thread while stopped. */
typedef int (*vm_paused_fn)(struct vm *vm, void *arg);

struct vm_request {
	vm_paused_fn fn;
	void *arg;
	int result;
	bool done;
};

struct vm_config {
	const char *guest_path;
	uint64_t mem_size;
	const char *cmdline; /* full guest command line */
	uint8_t mac[6];
	struct vnic_backend *backend; /* owned by the VM after vm_create */
	/* The guest's CPU features (vmm/cpu_features.h); when not given,
	 * every named feature this host's KVM offers. */
	bool cpu_features_given;
	uint64_t cpu_features;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;

	uint8_t *mem; /* host mapping of guest RAM, gpa 0 .. mem_size */
	uint64_t mem_size;
	/* Pages the monitor itself wrote; KVM's dirty log cannot see them.
	 * vCPU thread only (and whoever holds the vCPU stopped). */
	uint64_t *monitor_dirty;
	/* Who consumes the dirty log (a replicator, a migration): NULL or a
	 * name for messages; __atomic. Others must not take pages from it. */
	const char *dirty_log_owner;
	/* KVM_CLEAR_DIRTY_LOG in use: the log can be taken while the guest
	 * runs (two-phase collect, vm_snapshot_precopy). */
	bool dirty_manual_protect;
	/* Who holds the dirty log for a long operation (vm_dirty_claim);
	 * NULL: nobody. Atomic. */
	const char *dirty_owner;

	uint64_t entry;
	uint64_t image_start, image_end;
	/* SHA-256 of the guest's ELF file (vm_profile.h), carried by
	 * snapshots; unknown for a VM restored from a version-1 snapshot. */
	bool image_hash_known;
	uint8_t image_sha256[32];
	/* Named CPU features the guest sees (vmm/cpu_features.h). */
	uint64_t cpu_features;
	struct rrvm_boot_info *boot_info; /* inside mem */

	struct vm_clock clock;
	struct vnic vnic;
	struct vm_stats stats;

	char console_line[512];
	size_t console_len;

	/* Set from signal handlers and other threads: vm_request_stop();
	 * read with vm_stop_requested(). */
	int stop_requested;
	/* The vCPU stays out of KVM_RUN (it still serves pause requests):
	 * a planned handover holds the VM still between its final epoch and
	 * the backup's answer. vm_set_frozen(). */
	int frozen;
	int exit_status; /* guest's status once it exited */

	/* Requests from other threads (vm_call_paused), see vm_pause.c. */
	pthread_t vcpu_thread;
	bool vcpu_thread_running;
	int request_fd; /* eventfd: wakes a WAIT hypercall's sleep */
	pthread_mutex_t request_lock;
	pthread_cond_t request_cond;
	pthread_mutex_t caller_lock; /* one request at a time */
	struct vm_request *request;

	struct vm_throttle throttle; /* vm_throttle.h */
};

static inline bool vm_stop_requested(const struct vm *vm)
{
	return __atomic_load_n(&vm->stop_requested, __ATOMIC_ACQUIRE);
}

/* Async-signal-safe; vm_run returns soon after (0). */
void vm_request_stop(struct vm *vm);
/* vm_pause.c: freeze (the vCPU thread then waits, serving requests) or
 * thaw. Freezing inside a vm_call_paused function keeps the guest from
 * running a single instruction after it. */
void vm_set_frozen(struct vm *vm, bool frozen);

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
/* vm_cpu.c: give the vCPU KVM's supported CPUID restricted to
 * vm->cpu_features (also needed on restore). -ENOTSUP if this host lacks
 * some of them. */
int vm_cpu_setup_cpuid(struct vm *vm);
/* vm_cpu.c: 0 if this host's KVM offers every feature of mask, else
 * -ENOTSUP with the missing names in err (kvm_fd < 0: opens /dev/kvm). */
int vm_cpu_check_features(int kvm_fd, uint64_t mask, char *err,
			  size_t err_size);

/* vm.c: KVM VM + memory + vCPU, nothing loaded (used by create and restore). */
int vm_create_empty(struct vm *vm, uint64_t mem_size);
/* Same, but guest memory is `image` (an anonymous mapping of mem_size
 * bytes that the VM now owns and will munmap), e.g. a backup's replica. */
int vm_create_empty_adopt(struct vm *vm, uint64_t mem_size, uint8_t *image);

/*
 * vm_pause.c: run fn(vm, arg) on the vCPU thread while the vCPU is stopped
 * and no I/O is half-done; blocks until it ran. If the VM is not running
 * (no vCPU thread), fn runs on the caller's thread. Returns fn's result, or
 * -ESHUTDOWN if the VM stopped first.
 */
int vm_call_paused(struct vm *vm, vm_paused_fn fn, void *arg);
/* vm_pause.c: vCPU-thread side; called between KVM_RUN calls. */
void vm_serve_requests(struct vm *vm);
/* vm_pause.c: make the vCPU thread leave KVM_RUN / a WAIT sleep soon. */
void vm_kick(struct vm *vm);
/* vm_pause.c: the calling thread runs vm's vCPU (NULL: no longer); a kick
 * signal it receives then also sets vm's immediate_exit, so a signal that
 * lands just before KVM_RUN is not lost (the throttle timer's case). */
void vm_pause_bind_thread(struct vm *vm);
int vm_pause_init(struct vm *vm);
void vm_pause_destroy(struct vm *vm);

/* vm_dirty.c: before the memory slot exists, enable KVM's manual
 * dirty-log protect when offered (RRVM_DIRTY_LOG=legacy in the environment
 * keeps the old GET-clears mode, for comparisons). Never fails: without it
 * the collect simply stays whole in the pause. */
int vm_dirty_setup(struct vm *vm);
/* "manual-protect" or "get-clears". */
const char *vm_dirty_log_mode(const struct vm *vm);
/* vm_dirty.c: pages written since the last collect (guest via KVM's dirty
 * log, and the monitor's own writes), as a bitmap of mem_size / RRVM_PAGE_SIZE
 * bits; both sources are cleared. vCPU stopped. 0 or -errno. */
int vm_dirty_collect(struct vm *vm, uint64_t *bitmap);
/* vm_dirty.c: KVM's log only (guest writes), taken and re-protected while
 * the guest may run, from any thread but never concurrently with another
 * collect of the same VM. The monitor's writes stay recorded for
 * vm_dirty_collect. -EOPNOTSUPP without manual protect. */
int vm_dirty_collect_guest(struct vm *vm, uint64_t *bitmap);
size_t vm_dirty_bitmap_words(const struct vm *vm);
/* vm_dirty.c: forget the monitor's recorded writes (vCPU stopped): for a
 * full copy of memory that starts after this call and so covers them (a
 * live migration's round 0); later writes are recorded again. */
void vm_dirty_forget_monitor(struct vm *vm);
/*
 * vm_dirty.c: a live migration holds the dirty log from its first round to
 * its end: a collect by anything else in between (checkpoint-probe) would
 * take dirty pages away from it. Such users claim the log first and
 * are refused while someone else holds it. 0 or -EBUSY (vm_dirty_owner
 * names the holder); release with the same owner string.
 */
int vm_dirty_claim(struct vm *vm, const char *owner);
void vm_dirty_release(struct vm *vm, const char *owner);
const char *vm_dirty_owner(const struct vm *vm);
/* vm_cpu.c: print a fault report (exit reason, RIP, registers) to stderr. */
void vm_cpu_report_fault(struct vm *vm, const char *reason);

#endif
