/* SPDX-License-Identifier: MIT */
/*
 * Everything about a VM that is not guest memory: vCPU registers and device
 * state, captured while the vCPU is stopped and applied to a fresh VM. The
 * serialized forms are the VCPU and DEVICE messages of the checkpoint codec
 * (docs/checkpoint-format.md).
 */
#ifndef RRVM_VM_STATE_H
#define RRVM_VM_STATE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* MSRs the guest relies on (docs/checkpoint-format.md says why each). */
#define VM_STATE_MAX_MSRS 16

struct vm_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	uint32_t msr_count;
	struct kvm_msr_entry msrs[VM_STATE_MAX_MSRS];
};

/* vm_device_state.flags: which of the version-2 fields are known. */
#define VM_DEVICE_CPU_FEATURES 0x1u
#define VM_DEVICE_IMAGE_HASH   0x2u

struct vm_device_state {
	uint64_t mem_size;
	uint64_t guest_ns; /* guest clock at capture */
	uint64_t realtime_ns; /* host CLOCK_REALTIME at capture */
	uint64_t tsc_hz; /* of the capturing host (informational) */
	uint32_t console_len; /* partial console line held by the monitor */
	char console_line[512];
	/* Version 2; a version-1 record decodes with flags = 0. */
	uint32_t flags; /* VM_DEVICE_* */
	uint64_t cpu_features; /* the guest's CPU features (cpu_features.h) */
	uint8_t image_sha256[32]; /* of the guest's ELF file */
};

/* Capture (vCPU must be stopped, on the vCPU thread). 0 or -errno. */
int vm_state_capture_vcpu(struct vm *vm, struct vm_vcpu_state *out);
void vm_state_capture_device(struct vm *vm, struct vm_device_state *out);

/* Apply to a VM whose memory already holds the checkpoint's pages. */
int vm_state_apply_vcpu(struct vm *vm, const struct vm_vcpu_state *in);
/* Re-bases the guest clock so guest time continues (never backwards). */
int vm_state_apply_device(struct vm *vm, const struct vm_device_state *in);

/*
 * Versioned, fixed-layout serialization (host byte order: x86-64 only).
 * Encoding writes the current version; decoding also reads the previous
 * device version (docs/checkpoint-format.md, "VCPU and DEVICE records").
 */
size_t vm_state_vcpu_size(void);
size_t vm_state_device_size(void);
void vm_state_encode_vcpu(const struct vm_vcpu_state *s, uint8_t *out);
void vm_state_encode_device(const struct vm_device_state *s, uint8_t *out);
/* 0; -EPROTONOSUPPORT with a reason for a record of a version (or layout)
 * this build does not read (another rrvm build wrote it); -EINVAL with a
 * reason for a malformed one (wrong length, out-of-range fields, CPU
 * features this rrvm does not know). */
int vm_state_decode_vcpu(const uint8_t *in, size_t len,
			 struct vm_vcpu_state *s, char *err, size_t err_size);
int vm_state_decode_device(const uint8_t *in, size_t len,
			   struct vm_device_state *s, char *err,
			   size_t err_size);

#endif
