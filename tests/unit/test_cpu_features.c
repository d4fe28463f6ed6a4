// SPDX-License-Identifier: MIT
/*
 * CPU features (vmm/cpu_features.c): the names table, list parsing and
 * printing, missing-feature arithmetic and the CPUID filter on a synthetic
 * table of a host that has every named feature; then against real KVM: the
 * guest-visible CPUID of a VM with a restricted mask, refusal of a mask the
 * host lacks, and the mask carried through a snapshot (device state v2, and
 * a v1 record still restoring). The KVM cases skip without /dev/kvm or the
 * built guest image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm_test_vm.h"
#include "rrvm/hypercall.h"
#include "vmm/ckpt_codec.h"
#include "vmm/cpu_features.h"
#include "vmm/vm.h"
#include "vmm/vm_profile.h"
#include "vmm/vm_snapshot.h"
#include "vmm/vm_state.h"

#define GUEST  "build/guest/echo.elf"
#define MEM    (64ull << 20)
#define BIT(f) CPU_FEATURE_BIT(CPU_FEATURE_##f)

/* ------------------------------------------------------------ names */

static void test_names_round_trip(void **state)
{
	(void)state;
	assert_int_equal(__builtin_popcountll(cpu_features_known()),
			 CPU_FEATURE_COUNT);
	for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++) {
		const char *name = cpu_feature_name(f);

		assert_non_null(name);
		assert_int_equal(cpu_feature_lookup(name), (int)f);
	}
	assert_null(cpu_feature_name(CPU_FEATURE_COUNT));
	assert_int_equal(cpu_feature_lookup("avx3"), -1);
	assert_int_equal(cpu_feature_lookup("sse2"), -1); /* baseline */
}

/* ------------------------------------------------------------ parse */

static int parse(const char *list, uint64_t host, uint64_t *out, char *err)
{
	return cpu_features_parse(list, host, out, err, 256);
}

static void test_parse_lists(void **state)
{
	char err[256];
	uint64_t m = 123;

	(void)state;
	assert_int_equal(parse("none", 0, &m, err), 0);
	assert_int_equal(m, 0);
	assert_int_equal(parse("sse4_2,popcnt", 0, &m, err), 0);
	assert_int_equal(m, BIT(SSE4_2) | BIT(POPCNT));
	assert_int_equal(parse("xsave,avx,avx2", 0, &m, err), 0);
	assert_int_equal(m, BIT(XSAVE) | BIT(AVX) | BIT(AVX2));
	/* Baseline names are accepted and change nothing. */
	assert_int_equal(parse("sse2,sse3", 0, &m, err), 0);
	assert_int_equal(m, BIT(SSE3));
	/* host, then removals (with everything that needs the removed). */
	assert_int_equal(parse("host", BIT(AES) | BIT(SHA), &m, err), 0);
	assert_int_equal(m, BIT(AES) | BIT(SHA));
	assert_int_equal(parse("host,-avx", cpu_features_known(), &m, err), 0);
	assert_false(m & (BIT(AVX) | BIT(AVX2) | BIT(FMA) | BIT(F16C) |
			  BIT(AVX512F) | BIT(AVX512BW) | BIT(VAES) |
			  BIT(AVX_VNNI) | BIT(AVX512FP16)));
	assert_true(m & BIT(XSAVE) && m & BIT(SSE4_2) && m & BIT(AES));
	assert_int_equal(cpu_features_orphans(m), 0);
	/* Removing what was never there is fine. */
	assert_int_equal(parse("sha,-avx2", 0, &m, err), 0);
	assert_int_equal(m, BIT(SHA));
}

static void test_parse_errors_name_the_item(void **state)
{
	static const struct {
		const char *list, *says;
	} bad[] = {
	    {"", "empty"},
	    {"sse4_2,avx3", "'avx3'"},
	    {"sse4_2,,aes", "empty item"},
	    {"aes,", "empty item"},
	    {"none,aes", "'none' stands alone"},
	    {"aes,none", "'none' stands alone"},
	    {"-sse2", "sse2 is part of the x86-64 baseline"},
	    {"-host", "'-host'"},
	    {"-", "empty item"},
	    {"sse4_2,avx2", "avx2 needs avx"},
	    {"avx", "avx needs xsave"},
	    {"xsave,avx,avx512bw", "avx512bw needs avx512f"},
	    {"SSE4_2", "'SSE4_2'"},
	    {"aes ,sha", "'aes '"},
	    {"a_very_long_feature_name_that_does_not_fit_the_item_buffer_"
	     "at_all",
	     "unknown CPU feature"},
	};
	char err[256];
	uint64_t m = 77;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
		    parse(bad[i].list, cpu_features_known(), &m, err), -EINVAL);
		if (!strstr(err, bad[i].says))
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].list,
				 err, bad[i].says);
		assert_int_equal(m, 77); /* untouched on error */
	}
	assert_int_equal(cpu_features_parse(NULL, 0, &m, err, sizeof(err)),
			 -EINVAL);
}

/* ----------------------------------------------------------- render */

static void test_format_and_round_trip(void **state)
{
	const uint64_t masks[] = {
	    0,
	    BIT(SSE3),
	    BIT(SSE4_2) | BIT(POPCNT) | BIT(PDPE1GB),
	    cpu_features_known(),
	    cpu_features_known() & ~cpu_features_orphans(0) & ~BIT(SHA),
	};
	char buf[1024], err[256];
	uint64_t back;

	(void)state;
	assert_int_equal(cpu_features_format(0, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "none");
	cpu_features_format(BIT(SSE4_2) | BIT(AVX2) | BIT(AVX) | BIT(XSAVE),
			    buf, sizeof(buf));
	assert_string_equal(buf, "sse4_2,xsave,avx,avx2"); /* table order */
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		size_t n = cpu_features_format(masks[i], buf, sizeof(buf));

		assert_int_equal(n, strlen(buf));
		assert_int_equal(parse(buf, 0, &back, err), 0);
		assert_int_equal(back, masks[i]);
	}
	/* snprintf semantics: the full length, a truncated NUL-ended text. */
	{
		size_t full =
		    cpu_features_format(cpu_features_known(), buf, sizeof(buf));
		char small[8];

		assert_int_equal(cpu_features_format(cpu_features_known(),
						     small, sizeof(small)),
				 full);
		assert_int_equal(strlen(small), sizeof(small) - 1);
		assert_memory_equal(small, buf, sizeof(small) - 1);
		assert_int_equal(cpu_features_format(BIT(AES), NULL, 0), 3);
	}
}

static void test_missing_names_what_lacks(void **state)
{
	uint64_t required = BIT(SSE4_2) | BIT(AVX) | BIT(XSAVE) | BIT(AVX2);
	uint64_t offered = BIT(SSE4_2) | BIT(XSAVE) | BIT(AES);
	char buf[128];

	(void)state;
	assert_int_equal(cpu_features_missing(required, offered),
			 BIT(AVX) | BIT(AVX2));
	cpu_features_format(cpu_features_missing(required, offered), buf,
			    sizeof(buf));
	assert_string_equal(buf, "avx,avx2");
	assert_int_equal(cpu_features_missing(offered & required, offered), 0);
	assert_int_equal(cpu_features_missing(0, 0), 0);
	assert_int_equal(cpu_features_orphans(BIT(AVX2) | BIT(AVX)),
			 BIT(AVX2) | BIT(AVX)); /* avx lacks xsave */
	assert_int_equal(cpu_features_orphans(BIT(AVX512BW) | BIT(XSAVE)),
			 BIT(AVX512BW));
}

/* ---------------------------------------------------- CPUID filter */

#define LEAF(fn, idx, a, b, c, d)                                              \
	{                                                                      \
		.function = (fn), .index = (idx),                              \
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = (a),          \
		.ebx = (b), .ecx = (c), .edx = (d)                             \
	}

/* A host with every named feature, AVX-512 XSAVE state and one
 * supervisor XSAVE component (bit 8), plus unnamed bits that must stay. */
static const struct kvm_cpuid_entry2 full_host[] = {
    {.function = 1,
     .eax = 0xa0671,
     .ebx = 0x20800,
     .ecx = 0x76f83203u | 1u << 21 | 1u << 31,
     .edx = 0x0f8bfbff},
    LEAF(7, 0, 1, 0xf1bf0b39u | 1u << 7 /* smep */,
	 0x18405f42u | 1u << 2 /* umip */,
	 0x00804010u | 1u << 29 /* arch_capabilities */),
    LEAF(7, 1, 0x30u | 1u << 10, 0, 0, 0),
    LEAF(0xd, 0, 0xe7, 0xa80, 0xa80, 0),
    LEAF(0xd, 1, 0xf, 0xa90, 0x100, 0),
    LEAF(0xd, 2, 0x100, 0x240, 0, 0),
    LEAF(0xd, 5, 0x40, 0x440, 0, 0),
    LEAF(0xd, 6, 0x200, 0x480, 0, 0),
    LEAF(0xd, 7, 0x400, 0x680, 0, 0),
    LEAF(0xd, 8, 0x80, 0, 1, 0),
    {.function = 0x80000001,
     .ecx = 0x161,
     .edx = 1u << 11 | 1u << 20 | 1u << 26 | 1u << 27 | 1u << 29},
};
#define N_LEAVES (sizeof(full_host) / sizeof(full_host[0]))

static void test_from_cpuid_sees_every_feature(void **state)
{
	(void)state;
	assert_int_equal(cpu_features_from_cpuid(full_host, N_LEAVES),
			 cpu_features_known());
	/* Without xsave in leaf 1, avx and all that needs it are gone. */
	{
		struct kvm_cpuid_entry2 t[N_LEAVES];
		uint64_t m;

		memcpy(t, full_host, sizeof(t));
		t[0].ecx &= ~(1u << 26);
		m = cpu_features_from_cpuid(t, N_LEAVES);
		assert_false(m & (BIT(XSAVE) | BIT(AVX) | BIT(AVX512F) |
				  BIT(XSAVEOPT) | BIT(AVX2)));
		assert_true(m & BIT(SSE4_2));
	}
}

static void test_filter_full_mask_changes_nothing(void **state)
{
	struct kvm_cpuid_entry2 t[N_LEAVES];

	(void)state;
	memcpy(t, full_host, sizeof(t));
	cpu_features_filter_cpuid(t, N_LEAVES, cpu_features_known());
	assert_memory_equal(t, full_host, sizeof(t));
}

static void test_filter_without_avx512(void **state)
{
	struct kvm_cpuid_entry2 t[N_LEAVES];
	char err[256];
	uint64_t mask;

	(void)state;
	assert_int_equal(
	    parse("host,-avx512f", cpu_features_known(), &mask, err), 0);
	memcpy(t, full_host, sizeof(t));
	cpu_features_filter_cpuid(t, N_LEAVES, mask);
	assert_int_equal(cpu_features_from_cpuid(t, N_LEAVES), mask);
	assert_int_equal(t[1].ebx & 1u << 16, 0);      /* avx512f */
	assert_int_equal(t[1].ebx & 1u << 5, 1u << 5); /* avx2 stays */
	assert_int_equal(t[3].eax, 0x7);	       /* x87, SSE, AVX */
	assert_int_equal(t[3].ecx, 0x240 + 0x100);     /* ends with YMM */
	assert_int_equal(t[3].ebx, 0x340);
	assert_int_equal(t[5].eax, 0x100); /* YMM subleaf kept */
	for (int i = 6; i <= 8; i++)	   /* opmask, ZMM_Hi256, Hi16_ZMM */
		assert_int_equal(t[i].eax | t[i].ebx | t[i].ecx | t[i].edx, 0);
	assert_int_equal(t[9].eax, 0x80); /* supervisor state: xsaves */
	assert_int_equal(t[4].ecx, 0x100);
	/* Unnamed bits pass through. */
	assert_int_equal(t[0].ecx & (1u << 21 | 1u << 31), 1u << 21 | 1u << 31);
	assert_int_equal(t[1].ebx & 1u << 7, 1u << 7);
	assert_int_equal(t[1].edx & 1u << 29, 1u << 29);
	assert_int_equal(t[2].eax & 1u << 10, 1u << 10);
}

static void test_filter_baseline_only(void **state)
{
	struct kvm_cpuid_entry2 t[N_LEAVES];

	(void)state;
	memcpy(t, full_host, sizeof(t));
	cpu_features_filter_cpuid(t, N_LEAVES, 0);
	assert_int_equal(cpu_features_from_cpuid(t, N_LEAVES), 0);
	assert_int_equal(t[0].edx, full_host[0].edx); /* baseline: sse2... */
	assert_int_equal(t[0].ecx, 1u << 21 | 1u << 31);
	assert_int_equal(t[3].eax, 0x3);
	assert_int_equal(t[3].ecx, 576);
	assert_int_equal(t[4].eax, 0); /* no xsaveopt/xsavec/xsaves */
	assert_int_equal(t[4].ecx, 0); /* no supervisor state */
	for (int i = 5; i <= 9; i++)
		assert_int_equal(t[i].eax | t[i].ebx | t[i].ecx | t[i].edx, 0);
	assert_int_equal(t[10].ecx, 0);
	assert_int_equal(t[10].edx, 1u << 11 | 1u << 20 | 1u << 29);
}

/* --------------------------------------------------- device state */

struct device_v1 {
	uint64_t mem_size, guest_ns, realtime_ns, tsc_hz;
	uint32_t console_len;
	char console_line[512];
};

static void encode_device_v1(const struct vm_device_state *d, uint8_t *out)
{
	struct device_v1 v1;
	uint32_t version = 1, size = sizeof(v1);

	memset(&v1, 0, sizeof(v1));
	v1.mem_size = d->mem_size;
	v1.guest_ns = d->guest_ns;
	v1.realtime_ns = d->realtime_ns;
	v1.tsc_hz = d->tsc_hz;
	v1.console_len = d->console_len;
	memcpy(v1.console_line, d->console_line, sizeof(v1.console_line));
	memcpy(out, &version, 4);
	memcpy(out + 4, &size, 4);
	memcpy(out + 8, &v1, sizeof(v1));
}

static void test_device_state_versions(void **state)
{
	struct vm_device_state d, back;
	uint8_t blob[1024];
	char err[160];

	(void)state;
	memset(&d, 0, sizeof(d));
	d.mem_size = MEM;
	d.guest_ns = 123456789;
	d.console_len = 3;
	memcpy(d.console_line, "abc", 3);
	d.flags = VM_DEVICE_CPU_FEATURES | VM_DEVICE_IMAGE_HASH;
	d.cpu_features = BIT(SSE4_2) | BIT(AES);
	memset(d.image_sha256, 0xab, sizeof(d.image_sha256));
	/* Version 2 round trip. */
	vm_state_encode_device(&d, blob);
	assert_int_equal(vm_state_decode_device(blob, vm_state_device_size(),
						&back, err, sizeof(err)),
			 0);
	assert_memory_equal(&back, &d, sizeof(d));
	/* Version 1 still reads, the new fields unknown. */
	encode_device_v1(&d, blob);
	assert_int_equal(vm_state_decode_device(blob,
						8 + sizeof(struct device_v1),
						&back, err, sizeof(err)),
			 0);
	assert_int_equal(back.flags, 0);
	assert_int_equal(back.cpu_features, 0);
	assert_int_equal(back.guest_ns, d.guest_ns);
	assert_int_equal(back.console_len, 3);
	assert_memory_equal(back.console_line, "abc", 3);
	/* A v1 header on a v2-sized record, unknown versions, unknown CPU
	 * bits and flags are refused. */
	assert_int_equal(vm_state_decode_device(blob, vm_state_device_size(),
						&back, err, sizeof(err)),
			 -EINVAL);
	vm_state_encode_device(&d, blob);
	blob[0] = 3; /* another build's layout: refused as incompatible */
	assert_int_equal(vm_state_decode_device(blob, vm_state_device_size(),
						&back, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "version 3 was written by an "
				    "incompatible rrvm build"));
	blob[0] = 2;
	blob[4]++; /* version 2, other size: a layout changed, no bump */
	assert_int_equal(vm_state_decode_device(blob, vm_state_device_size(),
						&back, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "incompatible rrvm build"));
	d.cpu_features = BIT(AVX2); /* without avx */
	vm_state_encode_device(&d, blob);
	assert_int_equal(vm_state_decode_device(blob, vm_state_device_size(),
						&back, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "CPU features"));
	d.cpu_features = 0;
	d.flags = 0x80;
	vm_state_encode_device(&d, blob);
	assert_int_equal(vm_state_decode_device(blob, vm_state_device_size(),
						&back, err, sizeof(err)),
			 -EINVAL);
}

/* ------------------------------------------------------- real KVM */

static uint64_t host_mask, forced_mask;
static bool have_kvm;

static int group_setup(void **state)
{
	(void)state;
	have_kvm = kvm_test_available(GUEST) &&
		   cpu_features_host_probe(-1, &host_mask, &forced_mask) == 0;
	if (have_kvm) {
		char names[1024];

		cpu_features_format(host_mask, names, sizeof(names));
		print_message("host KVM offers: %s\n", names);
		cpu_features_format(forced_mask, names, sizeof(names));
		print_message("and forces: %s\n", names);
	}
	return 0;
}

static int create_vm(struct vm *vm, bool given, uint64_t mask)
{
	struct vm_config config = {
	    .guest_path = GUEST,
	    .mem_size = MEM,
	    .cmdline = "ip=10.0.0.2/24 mac=52:54:00:00:00:02",
	    .mac = {0x52, 0x54, 0, 0, 0, 2},
	    .cpu_features_given = given,
	    .cpu_features = mask,
	};

	config.backend = kvm_test_null_backend();
	assert_non_null(config.backend);
	return vm_create(vm, &config);
}

/* The named features of the vCPU's CPUID as KVM holds it. */
static uint64_t vcpu_features(struct vm *vm)
{
	uint64_t m;

	assert_int_equal(cpu_features_vcpu(vm->vcpu_fd, &m), 0);
	return m;
}

/*
 * What the guest itself sees: run a stub at CPL3 that executes CPUID and
 * reports with a hypercall port write (EBX, ECX in place, EDX moved to
 * ESI), once per leaf, and turn the answers into named features.
 */
static uint64_t guest_cpuid_features(struct vm *vm, uint32_t *leaf1_edx)
{
	static const struct {
		uint32_t leaf, subleaf;
	} leaves[] = {{1, 0}, {7, 0}, {7, 1}, {0xd, 1}, {0x80000001, 0}};
	struct kvm_cpuid_entry2 seen[5];
	uint64_t stub = vm->mem_size - 8192; /* user page, never used here */
	const uint8_t code[] = {
	    0x0f,
	    0xa2, /* cpuid */
	    0x89,
	    0xd6, /* mov %edx, %esi */
	    0x66,
	    0xba,
	    RRVM_HC_PORT & 0xff,
	    RRVM_HC_PORT >> 8, /* mov $p, %dx */
	    0xef,	       /* out %eax, (%dx) */
	    0xeb,
	    0xfe, /* jmp . */
	};

	memcpy(vm->mem + stub, code, sizeof(code));
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < 5; i++) {
		struct kvm_regs r;

		assert_int_equal(ioctl(vm->vcpu_fd, KVM_GET_REGS, &r), 0);
		r.rip = stub;
		r.rax = leaves[i].leaf;
		r.rcx = leaves[i].subleaf;
		assert_int_equal(ioctl(vm->vcpu_fd, KVM_SET_REGS, &r), 0);
		assert_int_equal(ioctl(vm->vcpu_fd, KVM_RUN, 0), 0);
		assert_int_equal(vm->run->exit_reason, KVM_EXIT_IO);
		assert_int_equal(ioctl(vm->vcpu_fd, KVM_GET_REGS, &r), 0);
		seen[i].function = leaves[i].leaf;
		seen[i].index = leaves[i].subleaf;
		seen[i].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		seen[i].eax = (uint32_t)r.rax;
		seen[i].ebx = (uint32_t)r.rbx;
		seen[i].ecx = (uint32_t)r.rcx;
		seen[i].edx = (uint32_t)r.rsi;
	}
	*leaf1_edx = seen[0].edx;
	return cpu_features_from_cpuid(seen, 5);
}

/* The host's features minus up to two it does not force on every guest
 * (and their dependents); *removed: what went. */
static uint64_t restricted_mask(uint64_t *removed)
{
	char list[128], err[256];
	uint64_t m;
	int n = 0;

	snprintf(list, sizeof(list), "host");
	for (unsigned f = 0; f < CPU_FEATURE_COUNT && n < 2; f++) {
		if (!(host_mask & ~forced_mask & CPU_FEATURE_BIT(f)))
			continue;
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 ",-%s", cpu_feature_name(f));
		n++;
	}
	assert_int_equal(parse(list, host_mask, &m, err), 0);
	*removed = host_mask & ~m;
	print_message("restricted: %s\n", list);
	return m;
}

static void test_kvm_guest_sees_restricted_mask(void **state)
{
	struct vm vm;
	uint64_t removed, mask;
	uint32_t edx;

	(void)state;
	if (!have_kvm)
		skip();
	if (!(host_mask & ~forced_mask))
		skip(); /* this host forces everything it offers */
	mask = restricted_mask(&removed);
	assert_true(removed != 0);
	assert_int_equal(create_vm(&vm, true, mask), 0);
	/* What the guest has: the mask plus what the host forces. */
	assert_int_equal(vm.cpu_features, mask | forced_mask);
	assert_int_equal(vm.cpu_features & removed, 0);
	assert_int_equal(vcpu_features(&vm), vm.cpu_features);
	assert_int_equal(guest_cpuid_features(&vm, &edx), vm.cpu_features);
	assert_true(edx & 1u << 26); /* the baseline stays: SSE2 */
	vm_destroy(&vm);

	/* Default: everything the host offers. */
	assert_int_equal(create_vm(&vm, false, 0), 0);
	assert_int_equal(vm.cpu_features, host_mask);
	assert_int_equal(guest_cpuid_features(&vm, &edx), host_mask);
	vm_destroy(&vm);

	/* Baseline only: what the host forces and nothing else. */
	assert_int_equal(create_vm(&vm, true, 0), 0);
	assert_int_equal(vm.cpu_features, forced_mask);
	assert_int_equal(guest_cpuid_features(&vm, &edx), forced_mask);
	assert_true(edx & 1u << 26);
	vm_destroy(&vm);
}

/* A feature the host lacks whose prerequisites it has, or -1. */
static int lacking_feature(void)
{
	for (unsigned f = 0; f < CPU_FEATURE_COUNT; f++) {
		uint64_t m = host_mask | CPU_FEATURE_BIT(f);

		if (!(host_mask & CPU_FEATURE_BIT(f)) &&
		    !cpu_features_orphans(m))
			return (int)f;
	}
	return -1;
}

static void test_kvm_refuses_features_the_host_lacks(void **state)
{
	struct vm vm;
	char err[600];
	int f;

	(void)state;
	if (!have_kvm)
		skip();
	f = lacking_feature();
	if (f < 0)
		skip(); /* this host offers every named feature */
	assert_int_equal(vm_cpu_check_features(-1, host_mask, err, sizeof(err)),
			 0);
	assert_int_equal(vm_cpu_check_features(-1,
					       host_mask | CPU_FEATURE_BIT(f),
					       err, sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, cpu_feature_name((unsigned)f)));
	assert_int_equal(create_vm(&vm, true, host_mask | CPU_FEATURE_BIT(f)),
			 -ENOTSUP);
}

/* Re-emit a stream with its DEVICE record in version-1 form. */
static void downgrade_device(const struct ckpt_buf *in, struct ckpt_buf *out)
{
	size_t off = 0;

	while (off + 24 <= in->len) {
		uint32_t len;
		uint16_t type;
		uint64_t epoch;

		memcpy(&type, in->data + off + 4, 2);
		memcpy(&len, in->data + off + 8, 4);
		memcpy(&epoch, in->data + off + 16, 8);
		if (type == CKPT_MSG_DEVICE) {
			struct vm_device_state d;
			uint8_t v1[8 + sizeof(struct device_v1)];
			char err[160];

			assert_int_equal(
			    vm_state_decode_device(in->data + off + 24, len, &d,
						   err, sizeof(err)),
			    0);
			encode_device_v1(&d, v1);
			assert_int_equal(ckpt_encode_blob(out, CKPT_MSG_DEVICE,
							  epoch, v1,
							  sizeof(v1)),
					 0);
		} else {
			assert_int_equal(ckpt_buf_append(out, in->data + off,
							 24 + (size_t)len),
					 0);
		}
		off += 24 + (size_t)len;
	}
	assert_int_equal(off, in->len);
}

static void test_kvm_snapshot_carries_mask(void **state)
{
	struct vm vm, restored;
	struct vm_snapshot snap;
	struct ckpt_buf buf, old;
	uint64_t removed, mask;
	uint8_t sha[32];
	char err[600];
	int f;

	(void)state;
	if (!have_kvm || !host_mask)
		skip();
	if (!(host_mask & ~forced_mask))
		skip();
	mask = restricted_mask(&removed) | forced_mask;
	assert_int_equal(create_vm(&vm, true, mask), 0);
	assert_int_equal(vm.cpu_features, mask);
	assert_true(vm.image_hash_known);
	assert_int_equal(vm_profile_hash_file(GUEST, sha), 0);
	assert_memory_equal(vm.image_sha256, sha, 32);
	vm_snapshot_init(&snap);
	assert_int_equal(vm_snapshot_collect(&vm, &snap, true), 0);
	assert_int_equal(snap.device.flags,
			 VM_DEVICE_CPU_FEATURES | VM_DEVICE_IMAGE_HASH);
	assert_int_equal(snap.device.cpu_features, mask);
	ckpt_buf_init(&buf);
	assert_int_equal(vm_snapshot_encode(&snap, vm.mem_size, NULL, NULL,
					    CKPT_COMPRESS_AUTO, &buf, NULL),
			 0);

	/* Restored: same mask, same guest-visible CPUID, same image. */
	assert_int_equal(
	    vm_restore_load(&restored, buf.data, buf.len, err, sizeof(err)), 0);
	assert_int_equal(restored.cpu_features, mask);
	assert_int_equal(vcpu_features(&restored), mask);
	assert_true(restored.image_hash_known);
	assert_memory_equal(restored.image_sha256, sha, 32);
	vm_destroy(&restored);

	/* A version-1 device record: the guest gets this host's set. */
	ckpt_buf_init(&old);
	downgrade_device(&buf, &old);
	assert_int_equal(
	    vm_restore_load(&restored, old.data, old.len, err, sizeof(err)), 0);
	assert_int_equal(restored.cpu_features, host_mask);
	assert_false(restored.image_hash_known);
	vm_destroy(&restored);
	ckpt_buf_free(&old);

	/* A recorded feature this host lacks: refused, named. */
	f = lacking_feature();
	if (f >= 0) {
		snap.device.cpu_features = mask | CPU_FEATURE_BIT(f);
		ckpt_buf_reset(&buf);
		assert_int_equal(vm_snapshot_encode(&snap, vm.mem_size, NULL, NULL,
						    CKPT_COMPRESS_AUTO, &buf,
						    NULL),
				 0);
		assert_int_equal(vm_restore_load(&restored, buf.data, buf.len,
						 err, sizeof(err)),
				 -ENOTSUP);
		assert_non_null(strstr(err, cpu_feature_name((unsigned)f)));
	}
	ckpt_buf_free(&buf);
	vm_snapshot_free(&snap);
	vm_destroy(&vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_round_trip),
	    cmocka_unit_test(test_parse_lists),
	    cmocka_unit_test(test_parse_errors_name_the_item),
	    cmocka_unit_test(test_format_and_round_trip),
	    cmocka_unit_test(test_missing_names_what_lacks),
	    cmocka_unit_test(test_from_cpuid_sees_every_feature),
	    cmocka_unit_test(test_filter_full_mask_changes_nothing),
	    cmocka_unit_test(test_filter_without_avx512),
	    cmocka_unit_test(test_filter_baseline_only),
	    cmocka_unit_test(test_device_state_versions),
	    cmocka_unit_test(test_kvm_guest_sees_restricted_mask),
	    cmocka_unit_test(test_kvm_refuses_features_the_host_lacks),
	    cmocka_unit_test(test_kvm_snapshot_carries_mask),
	};

	return cmocka_run_group_tests_name("cpu_features", tests, group_setup,
					   NULL);
}
