/* SPDX-License-Identifier: MIT */
/*
 * The CPU feature set a guest is given, as a 64-bit mask of named features
 * (docs/cpu-features.md). The named features outside its mask are cleared
 * from the guest's CPUID (a host may force some back: kvm-pvm does, see
 * cpu_features_host_probe), so a VM can move to any host that offers a
 * superset: "missing = required & ~offered" names what a destination lacks.
 *
 * Only instruction-set extensions a ring-3 program may use are named. The
 * x86-64 baseline (fpu, tsc, cx8, cmov, mmx, fxsr, sse, sse2, syscall, nx,
 * lm) is in every mask implicitly: every x86-64 host has it and the guest
 * runtime is compiled for it. CPUID bits rrvm does not name (APIC,
 * speculation controls, kernel-only features) pass through from KVM.
 *
 * Pure except cpu_features_kvm_cpuid/cpu_features_host (KVM ioctls).
 */
#ifndef RRVM_CPU_FEATURES_H
#define RRVM_CPU_FEATURES_H

#include <stddef.h>
#include <stdint.h>

struct kvm_cpuid_entry2;
struct kvm_cpuid2;

/* Bit numbers are part of the snapshot and migration formats: append only. */
enum cpu_feature {
	/* CPUID 1 ECX */
	CPU_FEATURE_SSE3 = 0,
	CPU_FEATURE_PCLMULQDQ,
	CPU_FEATURE_SSSE3,
	CPU_FEATURE_FMA,
	CPU_FEATURE_CX16,
	CPU_FEATURE_SSE4_1,
	CPU_FEATURE_SSE4_2,
	CPU_FEATURE_MOVBE,
	CPU_FEATURE_POPCNT,
	CPU_FEATURE_AES,
	CPU_FEATURE_XSAVE,
	CPU_FEATURE_AVX,
	CPU_FEATURE_F16C,
	CPU_FEATURE_RDRAND,
	/* CPUID 7.0 EBX */
	CPU_FEATURE_FSGSBASE,
	CPU_FEATURE_BMI1,
	CPU_FEATURE_HLE,
	CPU_FEATURE_AVX2,
	CPU_FEATURE_BMI2,
	CPU_FEATURE_ERMS,
	CPU_FEATURE_RTM,
	CPU_FEATURE_AVX512F,
	CPU_FEATURE_AVX512DQ,
	CPU_FEATURE_RDSEED,
	CPU_FEATURE_ADX,
	CPU_FEATURE_AVX512IFMA,
	CPU_FEATURE_CLFLUSHOPT,
	CPU_FEATURE_CLWB,
	CPU_FEATURE_AVX512CD,
	CPU_FEATURE_SHA,
	CPU_FEATURE_AVX512BW,
	CPU_FEATURE_AVX512VL,
	/* CPUID 7.0 ECX */
	CPU_FEATURE_AVX512VBMI,
	CPU_FEATURE_AVX512VBMI2,
	CPU_FEATURE_GFNI,
	CPU_FEATURE_VAES,
	CPU_FEATURE_VPCLMULQDQ,
	CPU_FEATURE_AVX512VNNI,
	CPU_FEATURE_AVX512BITALG,
	CPU_FEATURE_AVX512VPOPCNTDQ,
	CPU_FEATURE_RDPID,
	CPU_FEATURE_MOVDIRI,
	CPU_FEATURE_MOVDIR64B,
	/* CPUID 7.0 EDX */
	CPU_FEATURE_FSRM,
	CPU_FEATURE_SERIALIZE,
	CPU_FEATURE_AVX512FP16,
	/* CPUID 7.1 EAX */
	CPU_FEATURE_AVX_VNNI,
	CPU_FEATURE_AVX512BF16,
	/* CPUID 0xD.1 EAX */
	CPU_FEATURE_XSAVEOPT,
	CPU_FEATURE_XSAVEC,
	CPU_FEATURE_XGETBV1,
	CPU_FEATURE_XSAVES,
	/* CPUID 0x80000001 ECX */
	CPU_FEATURE_LAHF_LM,
	CPU_FEATURE_LZCNT,
	CPU_FEATURE_SSE4A,
	CPU_FEATURE_PREFETCHW,
	/* CPUID 0x80000001 EDX */
	CPU_FEATURE_RDTSCP,
	CPU_FEATURE_PDPE1GB,
	CPU_FEATURE_COUNT
};

#define CPU_FEATURE_BIT(f) (1ull << (f))

/* Every named feature. */
uint64_t cpu_features_known(void);
/* "avx2" for CPU_FEATURE_AVX2; NULL for an unknown bit. */
const char *cpu_feature_name(unsigned feature);
/* The feature of a name, or -1. */
int cpu_feature_lookup(const char *name);

/*
 * Parse a feature list: comma-separated items, evaluated left to right from
 * the empty set. NAME adds a feature, -NAME removes it and every feature
 * that needs it, "host" adds everything in `host`; "none" (alone) is the
 * empty set, i.e. the x86-64 baseline only. Baseline names (sse2...) are
 * accepted and change nothing; removing one is an error. A feature whose
 * prerequisite is missing (avx2 without avx) is an error. 0, or -EINVAL with
 * a reason naming the offending item in err.
 */
int cpu_features_parse(const char *list, uint64_t host, uint64_t *out,
		       char *err, size_t err_size);

/*
 * The names of the features in mask, comma-separated in table order, "none"
 * for an empty mask. Like snprintf: returns the length the full text needs
 * and always NUL-terminates when size > 0.
 */
size_t cpu_features_format(uint64_t mask, char *buf, size_t size);

/* What `offered` lacks of `required`. */
static inline uint64_t cpu_features_missing(uint64_t required, uint64_t offered)
{
	return required & ~offered;
}

/* The features of mask whose prerequisites (avx for avx2...) are missing. */
uint64_t cpu_features_orphans(uint64_t mask);

/*
 * The named features a CPUID table offers (e.g. KVM_GET_SUPPORTED_CPUID),
 * without orphans (a feature is offered only with its prerequisites).
 */
uint64_t cpu_features_from_cpuid(const struct kvm_cpuid_entry2 *entries,
				 unsigned count);

/*
 * Restrict a CPUID table (as KVM supports it) to mask: clear the bit of
 * every named feature outside mask, and keep leaf 0xD consistent (XSAVE
 * state components of removed features, and the XSAVE area size, go too).
 * Bits of features in mask are left as the table has them: pass a mask the
 * table offers (check with cpu_features_missing first).
 */
void cpu_features_filter_cpuid(struct kvm_cpuid_entry2 *entries, unsigned count,
			       uint64_t mask);

/* KVM_GET_SUPPORTED_CPUID into a new table (free() it). 0 or -errno. */
int cpu_features_kvm_cpuid(int kvm_fd, struct kvm_cpuid2 **out);
/* The named features a vCPU's CPUID shows (KVM_GET_CPUID2): what its
 * guest sees. 0 or -errno. */
int cpu_features_vcpu(int vcpu_fd, uint64_t *mask);

/*
 * What this host's KVM can give a guest (`offered`) and what it gives any
 * guest whatever its mask (`forced`, may be NULL). Measured once per
 * process on a scratch vCPU: KVM_GET_SUPPORTED_CPUID is not the whole
 * truth, as kvm-pvm adds the host CPU's user-mode ISA (sse3 ... avx512)
 * to every guest's CPUID (docs/cpu-features.md). A guest given mask M sees
 * M | forced. kvm_fd < 0: open /dev/kvm for the question. 0 or -errno.
 */
int cpu_features_host_probe(int kvm_fd, uint64_t *offered, uint64_t *forced);
int cpu_features_host(int kvm_fd, uint64_t *offered);

#endif
