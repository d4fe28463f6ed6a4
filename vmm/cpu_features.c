/* SPDX-License-Identifier: MIT */
/*
 * Named CPU features: the table that maps names to CPUID bits, the list
 * parser and printer, and the CPUID filter (docs/cpu-features.md).
 */
#include "vmm/cpu_features.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

enum cpuid_reg { EAX, EBX, ECX, EDX };

struct feature_def {
	const char *name;
	uint32_t leaf;
	uint32_t subleaf;
	uint8_t reg;
	uint8_t bit;
	uint64_t needs; /* direct prerequisites */
};

#define F(x) CPU_FEATURE_BIT(CPU_FEATURE_##x)

/* Names as Linux's /proc/cpuinfo spells them, except sse3 ("pni"), lzcnt
 * ("abm") and sha ("sha_ni"), which use the instruction set's own name. */
static const struct feature_def features[CPU_FEATURE_COUNT] = {
    [CPU_FEATURE_SSE3] = {"sse3", 1, 0, ECX, 0, 0},
    [CPU_FEATURE_PCLMULQDQ] = {"pclmulqdq", 1, 0, ECX, 1, 0},
    [CPU_FEATURE_SSSE3] = {"ssse3", 1, 0, ECX, 9, 0},
    [CPU_FEATURE_FMA] = {"fma", 1, 0, ECX, 12, F(AVX)},
    [CPU_FEATURE_CX16] = {"cx16", 1, 0, ECX, 13, 0},
    [CPU_FEATURE_SSE4_1] = {"sse4_1", 1, 0, ECX, 19, 0},
    [CPU_FEATURE_SSE4_2] = {"sse4_2", 1, 0, ECX, 20, 0},
    [CPU_FEATURE_MOVBE] = {"movbe", 1, 0, ECX, 22, 0},
    [CPU_FEATURE_POPCNT] = {"popcnt", 1, 0, ECX, 23, 0},
    [CPU_FEATURE_AES] = {"aes", 1, 0, ECX, 25, 0},
    [CPU_FEATURE_XSAVE] = {"xsave", 1, 0, ECX, 26, 0},
    [CPU_FEATURE_AVX] = {"avx", 1, 0, ECX, 28, F(XSAVE)},
    [CPU_FEATURE_F16C] = {"f16c", 1, 0, ECX, 29, F(AVX)},
    [CPU_FEATURE_RDRAND] = {"rdrand", 1, 0, ECX, 30, 0},
    [CPU_FEATURE_FSGSBASE] = {"fsgsbase", 7, 0, EBX, 0, 0},
    [CPU_FEATURE_BMI1] = {"bmi1", 7, 0, EBX, 3, 0},
    [CPU_FEATURE_HLE] = {"hle", 7, 0, EBX, 4, 0},
    [CPU_FEATURE_AVX2] = {"avx2", 7, 0, EBX, 5, F(AVX)},
    [CPU_FEATURE_BMI2] = {"bmi2", 7, 0, EBX, 8, 0},
    [CPU_FEATURE_ERMS] = {"erms", 7, 0, EBX, 9, 0},
    [CPU_FEATURE_RTM] = {"rtm", 7, 0, EBX, 11, 0},
    [CPU_FEATURE_AVX512F] = {"avx512f", 7, 0, EBX, 16, F(AVX)},
    [CPU_FEATURE_AVX512DQ] = {"avx512dq", 7, 0, EBX, 17, F(AVX512F)},
    [CPU_FEATURE_RDSEED] = {"rdseed", 7, 0, EBX, 18, 0},
    [CPU_FEATURE_ADX] = {"adx", 7, 0, EBX, 19, 0},
    [CPU_FEATURE_AVX512IFMA] = {"avx512ifma", 7, 0, EBX, 21, F(AVX512F)},
    [CPU_FEATURE_CLFLUSHOPT] = {"clflushopt", 7, 0, EBX, 23, 0},
    [CPU_FEATURE_CLWB] = {"clwb", 7, 0, EBX, 24, 0},
    [CPU_FEATURE_AVX512CD] = {"avx512cd", 7, 0, EBX, 28, F(AVX512F)},
    [CPU_FEATURE_SHA] = {"sha", 7, 0, EBX, 29, 0},
    [CPU_FEATURE_AVX512BW] = {"avx512bw", 7, 0, EBX, 30, F(AVX512F)},
    [CPU_FEATURE_AVX512VL] = {"avx512vl", 7, 0, EBX, 31, F(AVX512F)},
    [CPU_FEATURE_AVX512VBMI] = {"avx512vbmi", 7, 0, ECX, 1, F(AVX512F)},
    [CPU_FEATURE_AVX512VBMI2] = {"avx512vbmi2", 7, 0, ECX, 6, F(AVX512F)},
    [CPU_FEATURE_GFNI] = {"gfni", 7, 0, ECX, 8, 0},
    [CPU_FEATURE_VAES] = {"vaes", 7, 0, ECX, 9, F(AVX) | F(AES)},
    [CPU_FEATURE_VPCLMULQDQ] = {"vpclmulqdq", 7, 0, ECX, 10,
				F(AVX) | F(PCLMULQDQ)},
    [CPU_FEATURE_AVX512VNNI] = {"avx512vnni", 7, 0, ECX, 11, F(AVX512F)},
    [CPU_FEATURE_AVX512BITALG] = {"avx512bitalg", 7, 0, ECX, 12, F(AVX512F)},
    [CPU_FEATURE_AVX512VPOPCNTDQ] = {"avx512vpopcntdq", 7, 0, ECX, 14,
				     F(AVX512F)},
    [CPU_FEATURE_RDPID] = {"rdpid", 7, 0, ECX, 22, 0},
    [CPU_FEATURE_MOVDIRI] = {"movdiri", 7, 0, ECX, 27, 0},
    [CPU_FEATURE_MOVDIR64B] = {"movdir64b", 7, 0, ECX, 28, 0},
    [CPU_FEATURE_FSRM] = {"fsrm", 7, 0, EDX, 4, 0},
    [CPU_FEATURE_SERIALIZE] = {"serialize", 7, 0, EDX, 14, 0},
    [CPU_FEATURE_AVX512FP16] = {"avx512fp16", 7, 0, EDX, 23, F(AVX512BW)},
    [CPU_FEATURE_AVX_VNNI] = {"avx_vnni", 7, 1, EAX, 4, F(AVX2)},
    [CPU_FEATURE_AVX512BF16] = {"avx512bf16", 7, 1, EAX, 5, F(AVX512F)},
    [CPU_FEATURE_XSAVEOPT] = {"xsaveopt", 0xd, 1, EAX, 0, F(XSAVE)},
    [CPU_FEATURE_XSAVEC] = {"xsavec", 0xd, 1, EAX, 1, F(XSAVE)},
    [CPU_FEATURE_XGETBV1] = {"xgetbv1", 0xd, 1, EAX, 2, F(XSAVE)},
    [CPU_FEATURE_XSAVES] = {"xsaves", 0xd, 1, EAX, 3, F(XSAVE)},
    [CPU_FEATURE_LAHF_LM] = {"lahf_lm", 0x80000001, 0, ECX, 0, 0},
    [CPU_FEATURE_LZCNT] = {"lzcnt", 0x80000001, 0, ECX, 5, 0},
    [CPU_FEATURE_SSE4A] = {"sse4a", 0x80000001, 0, ECX, 6, 0},
    [CPU_FEATURE_PREFETCHW] = {"prefetchw", 0x80000001, 0, ECX, 8, 0},
    [CPU_FEATURE_RDTSCP] = {"rdtscp", 0x80000001, 0, EDX, 27, 0},
    [CPU_FEATURE_PDPE1GB] = {"pdpe1gb", 0x80000001, 0, EDX, 26, 0},
};

/* Every x86-64 host has these; the guest is compiled for them. */
static const char *const baseline_names[] = {
    "fpu", "tsc",  "cx8",     "cmov", "mmx", "fxsr",
    "sse", "sse2", "syscall", "nx",   "lm",
};

/* XSAVE state components (bits of XCR0) and the feature that uses them. */
#define XSTATE_LEGACY	 0x3ull	 /* x87, SSE: always there */
#define XSTATE_AVX	 0x4ull	 /* YMM upper halves */
#define XSTATE_AVX512	 0xe0ull /* opmask, ZMM_Hi256, Hi16_ZMM */
#define XSAVE_LEGACY_END 576u	 /* legacy area + header */

uint64_t cpu_features_known(void)
{
	return CPU_FEATURE_COUNT == 64 ? ~0ull
				       : (1ull << CPU_FEATURE_COUNT) - 1;
}

const char *cpu_feature_name(unsigned feature)
{
	return feature < CPU_FEATURE_COUNT ? features[feature].name : NULL;
}

int cpu_feature_lookup(const char *name)
{
	for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++)
		if (strcmp(name, features[f].name) == 0)
			return (int)f;
	return -1;
}

static int baseline_lookup(const char *name)
{
	for (unsigned i = 0;
	     i < sizeof(baseline_names) / sizeof(*baseline_names); i++)
		if (strcmp(name, baseline_names[i]) == 0)
			return (int)i;
	return -1;
}

uint64_t cpu_features_orphans(uint64_t mask)
{
	uint64_t kept = mask & cpu_features_known(), orphans;

	do {
		orphans = 0;
		for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++)
			if (kept & CPU_FEATURE_BIT(f) &&
			    features[f].needs & ~kept)
				orphans |= CPU_FEATURE_BIT(f);
		kept &= ~orphans;
	} while (orphans);
	return mask & ~kept;
}

/* `bits` and every feature that needs one of them, directly or not. */
static uint64_t with_dependents(uint64_t bits)
{
	uint64_t prev;

	do {
		prev = bits;
		for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++)
			if (features[f].needs & bits)
				bits |= CPU_FEATURE_BIT(f);
	} while (bits != prev);
	return bits;
}

static int parse_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_item(const char *item, uint64_t host, uint64_t *mask,
		      char *err, size_t err_size)
{
	bool remove = item[0] == '-';
	const char *name = item + remove;
	int f;

	if (*name == '\0')
		return parse_fail(err, err_size,
				  "empty item in the CPU feature list");
	if (strcmp(name, "none") == 0)
		return parse_fail(err, err_size,
				  "'none' stands alone (it means the x86-64 "
				  "baseline only)");
	if (strcmp(name, "host") == 0) {
		if (remove)
			return parse_fail(err, err_size,
					  "'-host' is not allowed: remove "
					  "features by name");
		*mask |= host & cpu_features_known();
		return 0;
	}
	f = cpu_feature_lookup(name);
	if (f < 0) {
		if (baseline_lookup(name) < 0)
			return parse_fail(err, err_size,
					  "unknown CPU feature '%s' (the names "
					  "are listed in docs/cpu-features.md)",
					  name);
		if (remove)
			return parse_fail(err, err_size,
					  "%s is part of the x86-64 baseline "
					  "every guest has; it cannot be "
					  "removed",
					  name);
		return 0;
	}
	if (remove)
		*mask &= ~with_dependents(CPU_FEATURE_BIT(f));
	else
		*mask |= CPU_FEATURE_BIT(f);
	return 0;
}

/* Name the first feature of mask that lacks a prerequisite, and which. */
static int orphan_fail(uint64_t mask, char *err, size_t err_size)
{
	for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++) {
		uint64_t lack = features[f].needs & ~mask;

		if (!(mask & CPU_FEATURE_BIT(f)) || !lack)
			continue;
		return parse_fail(
		    err, err_size,
		    "CPU feature %s needs %s: add %s or remove "
		    "%s",
		    features[f].name, features[__builtin_ctzll(lack)].name,
		    features[__builtin_ctzll(lack)].name, features[f].name);
	}
	return 0;
}

int cpu_features_parse(const char *list, uint64_t host, uint64_t *out,
		       char *err, size_t err_size)
{
	char item[64];
	uint64_t mask = 0;
	const char *p = list;
	int ret;

	if (!list || !*list)
		return parse_fail(err, err_size,
				  "empty CPU feature list (use 'none' for the "
				  "x86-64 baseline only)");
	if (strcmp(list, "none") == 0) {
		*out = 0;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(p, ",");

		if (len >= sizeof(item))
			return parse_fail(err, err_size,
					  "unknown CPU feature '%.*s' (the "
					  "names are listed in "
					  "docs/cpu-features.md)",
					  (int)len, p);
		memcpy(item, p, len);
		item[len] = '\0';
		ret = parse_item(item, host, &mask, err, err_size);
		if (ret)
			return ret;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	ret = orphan_fail(mask, err, err_size);
	if (ret)
		return ret;
	*out = mask;
	return 0;
}

size_t cpu_features_format(uint64_t mask, char *buf, size_t size)
{
	size_t len = 0;

	if (size)
		buf[0] = '\0';
	mask &= cpu_features_known();
	if (!mask) {
		if (size)
			snprintf(buf, size, "none");
		return 4;
	}
	for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++) {
		int n;

		if (!(mask & CPU_FEATURE_BIT(f)))
			continue;
		n = snprintf(len < size ? buf + len : NULL,
			     len < size ? size - len : 0, "%s%s",
			     len ? "," : "", features[f].name);
		len += (size_t)n;
	}
	return len;
}

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid_entry2 *entries,
					  unsigned count, uint32_t leaf,
					  uint32_t subleaf)
{
	for (unsigned i = 0; i < count; i++) {
		struct kvm_cpuid_entry2 *e = &entries[i];
		bool indexed = e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX;

		if (e->function == leaf && (!indexed || e->index == subleaf))
			return e;
	}
	return NULL;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, uint8_t reg)
{
	switch (reg) {
	case EAX:
		return &e->eax;
	case EBX:
		return &e->ebx;
	case ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

uint64_t cpu_features_from_cpuid(const struct kvm_cpuid_entry2 *entries,
				 unsigned count)
{
	/* find_leaf does not write; the cast only shares its code. */
	struct kvm_cpuid_entry2 *table = (struct kvm_cpuid_entry2 *)entries;
	uint64_t mask = 0;

	for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++) {
		const struct feature_def *d = &features[f];
		struct kvm_cpuid_entry2 *e =
		    find_leaf(table, count, d->leaf, d->subleaf);

		if (e && *reg_of(e, d->reg) >> d->bit & 1)
			mask |= CPU_FEATURE_BIT(f);
	}
	return mask & ~cpu_features_orphans(mask);
}

static void zero_regs(struct kvm_cpuid_entry2 *e)
{
	e->eax = e->ebx = e->ecx = e->edx = 0;
}

/*
 * Leaf 0xD: the XSAVE components the guest may enable (subleaf 0 EAX/EDX
 * for XCR0, subleaf 1 ECX/EDX for IA32_XSS) follow the mask, the subleaves
 * of dropped components are zeroed and the largest XSAVE area (subleaf 0
 * ECX) is recomputed from what is left. KVM derives the XCR0 values the
 * guest may set from this leaf and recomputes subleaf 0/1 EBX itself.
 */
static void filter_xsave_leaf(struct kvm_cpuid_entry2 *entries, unsigned count,
			      uint64_t mask)
{
	struct kvm_cpuid_entry2 *d0 = find_leaf(entries, count, 0xd, 0);
	struct kvm_cpuid_entry2 *d1 = find_leaf(entries, count, 0xd, 1);
	uint64_t user, keep_user, sup = 0, keep_sup = 0;
	uint32_t size = XSAVE_LEGACY_END;

	if (!d0)
		return;
	user = d0->eax | (uint64_t)d0->edx << 32;
	keep_user = user & XSTATE_LEGACY;
	if (mask & F(XSAVE)) {
		keep_user = user;
		if (!(mask & F(AVX)))
			keep_user &= ~XSTATE_AVX;
		if (!(mask & F(AVX512F)))
			keep_user &= ~XSTATE_AVX512;
	}
	if (d1) {
		sup = d1->ecx | (uint64_t)d1->edx << 32;
		keep_sup = mask & F(XSAVES) ? sup : 0;
		d1->ecx = (uint32_t)keep_sup;
		d1->edx = (uint32_t)(keep_sup >> 32);
	}
	for (unsigned c = 2; c < 64; c++) {
		uint64_t bit = 1ull << c;
		struct kvm_cpuid_entry2 *e;

		if (!((user | sup) & bit))
			continue;
		e = find_leaf(entries, count, 0xd, c);
		if (!e)
			continue;
		if (!((keep_user | keep_sup) & bit)) {
			zero_regs(e);
			continue;
		}
		if (keep_user & bit && e->ebx + e->eax > size)
			size = e->ebx + e->eax;
	}
	d0->eax = (uint32_t)keep_user;
	d0->edx = (uint32_t)(keep_user >> 32);
	d0->ecx = size;
	if (d0->ebx > size)
		d0->ebx = size;
}

void cpu_features_filter_cpuid(struct kvm_cpuid_entry2 *entries, unsigned count,
			       uint64_t mask)
{
	for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++) {
		const struct feature_def *d = &features[f];
		struct kvm_cpuid_entry2 *e;

		if (mask & CPU_FEATURE_BIT(f))
			continue;
		e = find_leaf(entries, count, d->leaf, d->subleaf);
		if (e)
			*reg_of(e, d->reg) &= ~(1u << d->bit);
	}
	filter_xsave_leaf(entries, count, mask);
}

/* A CPUID ioctl into a new table, grown while KVM says E2BIG. */
static int cpuid_ioctl(int fd, unsigned long request, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *cpuid = NULL;

	for (unsigned nent = 128; nent <= 4096; nent *= 2) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) +
				      nent * sizeof(cpuid->entries[0]));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = nent;
		if (ioctl(fd, request, cpuid) == 0) {
			*out = cpuid;
			return 0;
		}
		if (errno != E2BIG)
			break;
	}
	free(cpuid);
	return errno == E2BIG ? -E2BIG : -errno;
}

int cpu_features_kvm_cpuid(int kvm_fd, struct kvm_cpuid2 **out)
{
	return cpuid_ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, out);
}

int cpu_features_vcpu(int vcpu_fd, uint64_t *mask)
{
	struct kvm_cpuid2 *cpuid;
	int ret = cpuid_ioctl(vcpu_fd, KVM_GET_CPUID2, &cpuid);

	if (ret)
		return ret;
	*mask = cpu_features_from_cpuid(cpuid->entries, cpuid->nent);
	free(cpuid);
	return 0;
}

/* Give a scratch vCPU the supported table narrowed to mask; what it sees. */
static int probe_view(int vcpu_fd, const struct kvm_cpuid2 *supported,
		      struct kvm_cpuid2 *scratch, uint64_t mask, uint64_t *view)
{
	memcpy(scratch, supported,
	       sizeof(*supported) +
		   supported->nent * sizeof(supported->entries[0]));
	cpu_features_filter_cpuid(scratch->entries, scratch->nent, mask);
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, scratch) < 0)
		return -errno;
	return cpu_features_vcpu(vcpu_fd, view);
}

static int probe_host(int kvm_fd, uint64_t *offered, uint64_t *forced)
{
	struct kvm_cpuid2 *supported = NULL, *scratch = NULL;
	int vm_fd = -1, vcpu_fd = -1, ret;

	ret = cpu_features_kvm_cpuid(kvm_fd, &supported);
	if (ret)
		return ret;
	scratch = malloc(sizeof(*supported) +
			 supported->nent * sizeof(supported->entries[0]));
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm_fd >= 0)
		vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (!scratch)
		ret = -ENOMEM;
	else if (vm_fd < 0 || vcpu_fd < 0)
		ret = -errno;
	if (!ret)
		ret = probe_view(vcpu_fd, supported, scratch,
				 cpu_features_from_cpuid(supported->entries,
							 supported->nent),
				 offered);
	if (!ret)
		ret = probe_view(vcpu_fd, supported, scratch, 0, forced);
	if (vcpu_fd >= 0)
		close(vcpu_fd);
	if (vm_fd >= 0)
		close(vm_fd);
	free(scratch);
	free(supported);
	return ret;
}

int cpu_features_host_probe(int kvm_fd, uint64_t *offered, uint64_t *forced)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static bool probed;
	static uint64_t cached_offered, cached_forced;
	int fd = kvm_fd, ret = 0;

	pthread_mutex_lock(&lock);
	if (probed)
		goto out;
	if (fd < 0) {
		fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			goto out;
		}
	}
	ret = probe_host(fd, &cached_offered, &cached_forced);
	if (kvm_fd < 0)
		close(fd);
	probed = ret == 0;
out:
	if (probed) {
		*offered = cached_offered;
		if (forced)
			*forced = cached_forced;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

int cpu_features_host(int kvm_fd, uint64_t *offered)
{
	return cpu_features_host_probe(kvm_fd, offered, NULL);
}
