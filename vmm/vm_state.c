/* SPDX-License-Identifier: MIT */
#include "vmm/vm_state.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/cpu_features.h"
#include "vmm/vm.h"

#define VM_STATE_VCPU_VERSION	1u
#define VM_STATE_DEVICE_VERSION 2u

/*
 * The device record as version 1 wrote it (before the CPU features and the
 * image hash). Version 2 appends fields, so a version-1 record converts by
 * copying the common prefix and marking the new fields unknown.
 */
struct vm_device_state_v1 {
	uint64_t mem_size;
	uint64_t guest_ns;
	uint64_t realtime_ns;
	uint64_t tsc_hz;
	uint32_t console_len;
	char console_line[512];
};

_Static_assert(sizeof(struct vm_device_state_v1) == 552,
	       "device state version 1 layout changed");
_Static_assert(sizeof(struct vm_device_state) == 592,
	       "device state version 2 layout changed: bump the version");
_Static_assert(offsetof(struct vm_device_state, flags) ==
		   offsetof(struct vm_device_state_v1, console_line) + 512,
	       "version 2 must extend version 1");

/*
 * The guest uses no SYSCALL and no TLS MSRs today, but a ring-3 runtime with
 * musl would (FS base lives in sregs; KERNEL_GS_BASE does not), and PAT and
 * TSC_AUX change what the guest observes. The TSC itself is deliberately not
 * restored: the clock parameters are re-based instead (vm_state_apply_device).
 */
static const uint32_t saved_msrs[] = {
    0x00000277, /* IA32_PAT */
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
    0xc0000083, /* CSTAR */
    0xc0000084, /* SFMASK */
    0xc0000102, /* KERNEL_GS_BASE */
    0xc0000103, /* TSC_AUX */
};

#define N_SAVED_MSRS (sizeof(saved_msrs) / sizeof(saved_msrs[0]))

static int state_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int vcpu_ioctl(struct vm *vm, unsigned long req, void *arg,
		      const char *name)
{
	if (ioctl(vm->vcpu_fd, req, arg) < 0) {
		int e = errno;

		log_error("%s: %s", name, strerror(e));
		return -e;
	}
	return 0;
}

int vm_state_capture_vcpu(struct vm *vm, struct vm_vcpu_state *out)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[VM_STATE_MAX_MSRS];
	} msrs;
	int ret, n;

	memset(out, 0, sizeof(*out));
	ret = vcpu_ioctl(vm, KVM_GET_REGS, &out->regs, "KVM_GET_REGS");
	if (!ret)
		ret =
		    vcpu_ioctl(vm, KVM_GET_SREGS, &out->sregs, "KVM_GET_SREGS");
	if (!ret)
		ret =
		    vcpu_ioctl(vm, KVM_GET_XSAVE, &out->xsave, "KVM_GET_XSAVE");
	if (!ret)
		ret = vcpu_ioctl(vm, KVM_GET_XCRS, &out->xcrs, "KVM_GET_XCRS");
	if (!ret)
		ret = vcpu_ioctl(vm, KVM_GET_VCPU_EVENTS, &out->events,
				 "KVM_GET_VCPU_EVENTS");
	if (ret)
		return ret;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = N_SAVED_MSRS;
	for (unsigned i = 0; i < N_SAVED_MSRS; i++)
		msrs.entries[i].index = saved_msrs[i];
	n = ioctl(vm->vcpu_fd, KVM_GET_MSRS, &msrs);
	if (n < 0) {
		log_error("KVM_GET_MSRS: %s", strerror(errno));
		return -errno;
	}
	/* KVM stops at the first MSR it does not know; keep what it read. */
	out->msr_count = (uint32_t)n;
	memcpy(out->msrs, msrs.entries, (size_t)n * sizeof(msrs.entries[0]));
	return 0;
}

void vm_state_capture_device(struct vm *vm, struct vm_device_state *out)
{
	memset(out, 0, sizeof(*out));
	out->mem_size = vm->mem_size;
	out->guest_ns = vm_clock_guest_now(vm);
	out->realtime_ns = clock_real_ns();
	out->tsc_hz = vm->clock.tsc_hz;
	out->console_len = (uint32_t)vm->console_len;
	memcpy(out->console_line, vm->console_line, vm->console_len);
	out->flags = VM_DEVICE_CPU_FEATURES;
	out->cpu_features = vm->cpu_features;
	if (vm->image_hash_known) {
		out->flags |= VM_DEVICE_IMAGE_HASH;
		memcpy(out->image_sha256, vm->image_sha256,
		       sizeof(out->image_sha256));
	}
}

int vm_state_apply_vcpu(struct vm *vm, const struct vm_vcpu_state *in)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[VM_STATE_MAX_MSRS];
	} msrs;
	struct vm_vcpu_state s = *in; /* the ioctls want non-const */
	int ret, n;

	/* Order matters: sregs (mode) before regs, XCRs before XSAVE. */
	ret = vcpu_ioctl(vm, KVM_SET_SREGS, &s.sregs, "KVM_SET_SREGS");
	if (!ret)
		ret = vcpu_ioctl(vm, KVM_SET_REGS, &s.regs, "KVM_SET_REGS");
	if (!ret)
		ret = vcpu_ioctl(vm, KVM_SET_XCRS, &s.xcrs, "KVM_SET_XCRS");
	if (!ret)
		ret = vcpu_ioctl(vm, KVM_SET_XSAVE, &s.xsave, "KVM_SET_XSAVE");
	if (!ret) {
		s.events.flags = 0; /* no NMI/SIPI/SMM fields to restore */
		ret = vcpu_ioctl(vm, KVM_SET_VCPU_EVENTS, &s.events,
				 "KVM_SET_VCPU_EVENTS");
	}
	if (ret)
		return ret;
	if (s.msr_count > VM_STATE_MAX_MSRS)
		return -EINVAL;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = s.msr_count;
	memcpy(msrs.entries, s.msrs, s.msr_count * sizeof(s.msrs[0]));
	n = ioctl(vm->vcpu_fd, KVM_SET_MSRS, &msrs);
	if (n != (int)s.msr_count) {
		log_error("KVM_SET_MSRS: set %d of %u MSRs", n, s.msr_count);
		return -EIO;
	}
	return 0;
}

int vm_state_apply_device(struct vm *vm, const struct vm_device_state *in)
{
	uint64_t now = clock_real_ns();
	uint64_t elapsed = now > in->realtime_ns ? now - in->realtime_ns : 0;
	size_t len = in->console_len < sizeof(vm->console_line)
			 ? in->console_len
			 : sizeof(vm->console_line);
	int ret;

	if (in->mem_size != vm->mem_size)
		return -EINVAL;
	/*
	 * Guest time resumes where it was plus the wall-clock time that
	 * passed (hosts are assumed NTP-synchronised; a clock behind ours
	 * counts as zero elapsed, so time never goes backwards). Real elapsed
	 * time lets the guest's TCP timers see the outage and retransmit.
	 */
	ret = vm_clock_init(vm, in->guest_ns + elapsed);
	if (ret)
		return ret;
	memcpy(vm->console_line, in->console_line, len);
	vm->console_len = len;
	return 0;
}

/* Blob layout: u32 version, u32 size of the C struct, then the struct. */
size_t vm_state_vcpu_size(void)
{
	return 8 + sizeof(struct vm_vcpu_state);
}

size_t vm_state_device_size(void)
{
	return 8 + sizeof(struct vm_device_state);
}

static void encode_blob(uint32_t version, const void *s, size_t size,
			uint8_t *out)
{
	uint32_t sz = (uint32_t)size;

	memcpy(out, &version, 4);
	memcpy(out + 4, &sz, 4);
	memcpy(out + 8, s, size);
}

static int decode_blob(const uint8_t *in, size_t len, uint32_t want_version,
		       void *s, size_t size, const char *what, char *err,
		       size_t err_size)
{
	uint32_t version, sz;

	if (len != 8 + size)
		return state_fail(err, err_size,
				  "%s state is %zu bytes, expected %zu", what,
				  len, 8 + size);
	memcpy(&version, in, 4);
	memcpy(&sz, in + 4, 4);
	if (version != want_version || sz != size) {
		/* Intact, but another build's layout: refused, not corrupt
		 * (docs/checkpoint-format.md, "Compatibility rule"). */
		state_fail(err, err_size,
			   "%s state record version %u (%u bytes) was written "
			   "by an incompatible rrvm build; this one reads "
			   "version %u (%zu bytes)",
			   what, version, sz, want_version, size);
		return -EPROTONOSUPPORT;
	}
	memcpy(s, in + 8, size);
	return 0;
}

void vm_state_encode_vcpu(const struct vm_vcpu_state *s, uint8_t *out)
{
	encode_blob(VM_STATE_VCPU_VERSION, s, sizeof(*s), out);
}

void vm_state_encode_device(const struct vm_device_state *s, uint8_t *out)
{
	encode_blob(VM_STATE_DEVICE_VERSION, s, sizeof(*s), out);
}

int vm_state_decode_vcpu(const uint8_t *in, size_t len, struct vm_vcpu_state *s,
			 char *err, size_t err_size)
{
	int ret = decode_blob(in, len, VM_STATE_VCPU_VERSION, s, sizeof(*s),
			      "vCPU", err, err_size);

	if (!ret && s->msr_count > VM_STATE_MAX_MSRS)
		return state_fail(err, err_size, "vCPU state has %u MSRs",
				  s->msr_count);
	return ret;
}

/* A version-1 device record, converted: the version-2 fields unknown. */
static int decode_device_v1(const uint8_t *in, size_t len,
			    struct vm_device_state *s, char *err,
			    size_t err_size)
{
	struct vm_device_state_v1 v1;
	int ret =
	    decode_blob(in, len, 1, &v1, sizeof(v1), "device", err, err_size);

	if (ret)
		return ret;
	memset(s, 0, sizeof(*s));
	memcpy(s, &v1, sizeof(v1));
	return 0;
}

int vm_state_decode_device(const uint8_t *in, size_t len,
			   struct vm_device_state *s, char *err,
			   size_t err_size)
{
	uint32_t version = 0;
	int ret;

	if (len >= 4)
		memcpy(&version, in, 4);
	if (version == 1)
		ret = decode_device_v1(in, len, s, err, err_size);
	else if (version == VM_STATE_DEVICE_VERSION)
		ret = decode_blob(in, len, VM_STATE_DEVICE_VERSION, s,
				  sizeof(*s), "device", err, err_size);
	else {
		state_fail(err, err_size,
			   "device state record version %u was written by an "
			   "incompatible rrvm build; this one reads versions 1 "
			   "and %u",
			   version, VM_STATE_DEVICE_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (!ret && s->console_len > sizeof(s->console_line))
		return state_fail(err, err_size,
				  "device state console length %u",
				  s->console_len);
	if (!ret && (s->mem_size == 0 || s->mem_size % (2u << 20)))
		return state_fail(err, err_size,
				  "device state memory size %llu",
				  (unsigned long long)s->mem_size);
	if (!ret && s->flags & ~(VM_DEVICE_CPU_FEATURES | VM_DEVICE_IMAGE_HASH))
		return state_fail(err, err_size, "device state flags 0x%x",
				  s->flags);
	if (!ret && (s->cpu_features & ~cpu_features_known() ||
		     cpu_features_orphans(s->cpu_features)))
		return state_fail(err, err_size,
				  "device state CPU features 0x%llx: unknown "
				  "to this rrvm or inconsistent",
				  (unsigned long long)s->cpu_features);
	return ret;
}
