/* SPDX-License-Identifier: MIT */
/*
 * The vCPU: 64-bit long mode with the guest at CPL3.
 *
 * Why ring 3: on this host's nested KVM, guest CPL0 code is emulated (~2000x
 * slower) while CPL3 runs natively. So the monitor builds everything a kernel
 * would (page tables, GDT, TSS, IDT) and starts the guest directly in user
 * mode. Port-I/O hypercalls from CPL3 need the TSS I/O permission bitmap
 * (IOPL=3 alone is masked by kvm-pvm). Exceptions go through an IDT to tiny
 * CPL0 stubs that `hlt`, which reaches us as KVM_EXIT_HLT with the exception
 * frame on the fault stack: that is how a guest crash becomes a report.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/log.h"
#include "rrvm/hypercall.h"
#include "vmm/cpu_features.h"
#include "vmm/vm.h"

#define PTE_P  0x001ull
#define PTE_RW 0x002ull
#define PTE_US 0x004ull
#define PTE_A  0x020ull
#define PTE_D  0x040ull
#define PTE_PS 0x080ull
/* Pre-set accessed/dirty so the CPU never writes the tables (no dirty noise).
 */
#define PTE_TABLE  (PTE_P | PTE_RW | PTE_US | PTE_A)
#define PTE_KERNEL (PTE_P | PTE_RW | PTE_A | PTE_D)
#define PTE_USER   (PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D)

#define GDT_KERNEL_CS 0x08
#define GDT_KERNEL_DS 0x10
#define GDT_USER_CS   (0x18 | 3)
#define GDT_USER_DS   (0x20 | 3)
#define GDT_TSS	      0x28
#define GDT_ENTRIES   7

#define GPA_IDT		 (RRVM_GPA_GDT + 0x1000)
#define GPA_FAULT_STUBS	 (RRVM_GPA_GDT + 0x800)
#define FAULT_STUB_SIZE	 8
#define TSS_IOMAP_OFFSET 104
#define TSS_LIMIT	 (TSS_IOMAP_OFFSET + 8192) /* bitmap + 0xff terminator */

#define CR0_PE		0x1ull
#define CR0_MP		0x2ull
#define CR0_ET		0x10ull
#define CR0_NE		0x20ull
#define CR0_WP		0x10000ull
#define CR0_PG		0x80000000ull
#define CR4_PAE		0x20ull
#define CR4_OSFXSR	0x200ull
#define CR4_OSXMMEXCPT	0x400ull
#define EFER_LME	0x100ull
#define EFER_LMA	0x400ull
#define RFLAGS_RESERVED 0x2ull
#define RFLAGS_IOPL3	0x3000ull
/* At RRVM_GPA_PAGE_TABLES: PML4, PDPT, the first 2 MiB's page table, then
 * one page directory per GiB of guest RAM. */
#define PAGE_TABLE_PAGES 16

static uint64_t *pt_page(struct vm *vm, unsigned index)
{
	return (uint64_t *)(vm->mem + RRVM_GPA_PAGE_TABLES +
			    index * RRVM_PAGE_SIZE);
}

/*
 * Identity map: PML4 -> one PDPT -> up to 4 PDs of 2 MiB pages, except the
 * first 2 MiB, which uses 4 KiB pages so page 0 can be absent and the
 * monitor's structures supervisor-only (a wild guest write faults instead of
 * corrupting the GDT).
 */
static void build_page_tables(struct vm *vm)
{
	uint64_t *pml4 = pt_page(vm, 0), *pdpt = pt_page(vm, 1);
	uint64_t *pt = pt_page(vm, 2);
	uint64_t pds = (vm->mem_size + (1ull << 30) - 1) >> 30;
	uint64_t base = RRVM_GPA_PAGE_TABLES;

	memset(pml4, 0, PAGE_TABLE_PAGES * RRVM_PAGE_SIZE);
	pml4[0] = (base + 1 * RRVM_PAGE_SIZE) | PTE_TABLE;
	for (uint64_t d = 0; d < pds; d++) {
		uint64_t *pd = pt_page(vm, 3 + (unsigned)d);

		pdpt[d] = (base + (3 + d) * RRVM_PAGE_SIZE) | PTE_TABLE;
		for (uint64_t i = 0; i < 512; i++) {
			uint64_t addr = (d << 30) | (i << 21);

			if (addr >= vm->mem_size)
				break;
			pd[i] = addr | PTE_USER | PTE_PS;
		}
	}
	/* The first 2 MiB in 4 KiB pages. */
	pt_page(vm, 3)[0] = (base + 2 * RRVM_PAGE_SIZE) | PTE_TABLE;
	for (uint64_t i = 1; i < 512; i++) {
		uint64_t addr = i << RRVM_PAGE_SHIFT;
		bool user = addr == RRVM_GPA_BOOT_INFO || addr >= RRVM_GPA_VNIC;

		pt[i] = addr | (user ? PTE_USER : PTE_KERNEL);
	}
	vm_mark_dirty(vm, RRVM_GPA_PAGE_TABLES,
		      PAGE_TABLE_PAGES * RRVM_PAGE_SIZE);
}

static uint64_t gdt_segment(uint64_t access, uint64_t flags)
{
	return (access << 40) | (flags << 52) | 0xffffull | (0xfull << 48);
}

static void build_gdt_tss(struct vm *vm)
{
	uint64_t *gdt = (uint64_t *)(vm->mem + RRVM_GPA_GDT);
	uint8_t *tss = vm->mem + RRVM_GPA_TSS;
	uint64_t tss_base = RRVM_GPA_TSS;

	memset(gdt, 0, RRVM_PAGE_SIZE);
	gdt[GDT_KERNEL_CS >> 3] = gdt_segment(0x9a, 0xa); /* L=1, G=1 */
	gdt[GDT_KERNEL_DS >> 3] = gdt_segment(0x92, 0xc);
	gdt[GDT_USER_CS >> 3] = gdt_segment(0xfa, 0xa);
	gdt[GDT_USER_DS >> 3] = gdt_segment(0xf2, 0xc);
	/* 16-byte TSS descriptor: type 0xb (busy 64-bit TSS), present. */
	gdt[GDT_TSS >> 3] = (TSS_LIMIT & 0xffffull) |
			    ((tss_base & 0xffffffull) << 16) | (0x8bull << 40) |
			    (((uint64_t)TSS_LIMIT >> 16 & 0xf) << 48) |
			    ((tss_base >> 24 & 0xff) << 56);
	gdt[(GDT_TSS >> 3) + 1] = tss_base >> 32;

	uint64_t rsp0 = RRVM_GPA_FAULT_STACK + RRVM_PAGE_SIZE;
	uint16_t iomap = TSS_IOMAP_OFFSET;

	memset(tss, 0, 3 * RRVM_PAGE_SIZE);
	/* RSP0 (at +4, misaligned by the architecture): the fault stack. */
	memcpy(tss + 4, &rsp0, sizeof(rsp0));
	memcpy(tss + 0x66, &iomap, sizeof(iomap));
	/* Deny every port except the hypercall range; 0xff terminates. */
	memset(tss + TSS_IOMAP_OFFSET, 0xff, 8192 + 1);
	for (unsigned p = RRVM_HC_PORT; p < RRVM_HC_PORT + RRVM_HC_COUNT; p++)
		tss[TSS_IOMAP_OFFSET + p / 8] &= (uint8_t) ~(1u << (p % 8));
	vm_mark_dirty(vm, RRVM_GPA_GDT, 2 * RRVM_PAGE_SIZE);
	vm_mark_dirty(vm, RRVM_GPA_TSS, 3 * RRVM_PAGE_SIZE);
}

/* Exceptions whose frame carries an error code pushed by the CPU. */
static bool vector_has_error_code(unsigned v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 ||
	       v == 29 || v == 30;
}

/*
 * One 8-byte stub per vector: [push $0] push $vector; hlt; jmp .-1.
 * The frame is then uniform: vector, error code, RIP, CS, RFLAGS, RSP, SS.
 */
static void build_idt(struct vm *vm)
{
	uint8_t *stubs = vm->mem + GPA_FAULT_STUBS;
	uint64_t *idt = (uint64_t *)(vm->mem + GPA_IDT);

	memset(idt, 0, RRVM_PAGE_SIZE);
	for (unsigned v = 0; v < 32; v++) {
		uint8_t *s = stubs + v * FAULT_STUB_SIZE;
		uint64_t handler = GPA_FAULT_STUBS + v * FAULT_STUB_SIZE;
		unsigned n = 0;

		memset(s, 0x90, FAULT_STUB_SIZE);
		if (!vector_has_error_code(v)) {
			s[n++] = 0x6a; /* push imm8 */
			s[n++] = 0x00;
		}
		s[n++] = 0x6a;
		s[n++] = (uint8_t)v;
		s[n++] = 0xf4; /* hlt */
		s[n++] = 0xeb; /* jmp back to the hlt */
		s[n++] = 0xfd;
		/* 64-bit interrupt gate, DPL0, present. */
		idt[v * 2] = (handler & 0xffff) |
			     ((uint64_t)GDT_KERNEL_CS << 16) | (0x8eull << 40) |
			     ((handler >> 16 & 0xffff) << 48);
		idt[v * 2 + 1] = handler >> 32;
	}
}

static void set_segment(struct kvm_segment *seg, uint16_t selector,
			uint8_t type, uint8_t dpl, bool code)
{
	memset(seg, 0, sizeof(*seg));
	seg->base = 0;
	seg->limit = 0xffffffff;
	seg->selector = selector;
	seg->type = type;
	seg->present = 1;
	seg->dpl = dpl;
	seg->s = 1;
	seg->g = 1;
	seg->l = code ? 1 : 0;
	seg->db = code ? 0 : 1;
}

int vm_cpu_check_features(int kvm_fd, uint64_t mask, char *err, size_t err_size)
{
	uint64_t host, missing;
	char names[512];
	int ret;

	ret = cpu_features_host(kvm_fd, &host);
	if (ret) {
		snprintf(err, err_size, "cannot read KVM's CPUID: %s",
			 strerror(-ret));
		return ret;
	}
	missing = cpu_features_missing(mask, host);
	if (!missing)
		return 0;
	cpu_features_format(missing, names, sizeof(names));
	snprintf(err, err_size,
		 "this host does not offer CPU features the guest has: %s",
		 names);
	return -ENOTSUP;
}

/*
 * The guest gets KVM's supported CPUID minus the named features outside
 * vm->cpu_features, so what it sees is the same on every host that offers
 * them (docs/cpu-features.md). Afterwards vm->cpu_features is what the
 * vCPU really shows: a host may force more (kvm-pvm does), never less.
 */
int vm_cpu_setup_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *cpuid;
	uint64_t seen;
	char err[600];
	int ret;

	ret = vm_cpu_check_features(vm->kvm_fd, vm->cpu_features, err,
				    sizeof(err));
	if (ret) {
		log_error("%s", err);
		return ret;
	}
	ret = cpu_features_kvm_cpuid(vm->kvm_fd, &cpuid);
	if (ret) {
		log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
		return ret;
	}
	cpu_features_filter_cpuid(cpuid->entries, cpuid->nent,
				  vm->cpu_features);
	if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid) < 0) {
		ret = -errno;
		log_error("KVM_SET_CPUID2: %s", strerror(errno));
		goto out;
	}
	ret = cpu_features_vcpu(vm->vcpu_fd, &seen);
	if (ret) {
		log_error("KVM_GET_CPUID2: %s", strerror(-ret));
		goto out;
	}
	if (cpu_features_missing(vm->cpu_features, seen)) {
		log_error("KVM did not give the vCPU the CPU features asked "
			  "for");
		ret = -EIO;
		goto out;
	}
	vm->cpu_features = seen;
out:
	free(cpuid);
	return ret;
}

int vm_cpu_setup(struct vm *vm, uint64_t stack_top)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int ret;

	build_page_tables(vm);
	build_gdt_tss(vm);
	build_idt(vm);
	ret = vm_cpu_setup_cpuid(vm);
	if (ret)
		return ret;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		log_error("KVM_GET_SREGS: %s", strerror(errno));
		return -errno;
	}
	sregs.cr3 = RRVM_GPA_PAGE_TABLES;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.efer = EFER_LME | EFER_LMA;
	set_segment(&sregs.cs, GDT_USER_CS, 0xb, 3, true);
	set_segment(&sregs.ds, GDT_USER_DS, 0x3, 3, false);
	sregs.es = sregs.ds;
	sregs.fs = sregs.ds;
	sregs.gs = sregs.ds;
	sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.base = RRVM_GPA_TSS;
	sregs.tr.limit = TSS_LIMIT;
	sregs.tr.selector = GDT_TSS;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.unusable = 1;
	sregs.gdt.base = RRVM_GPA_GDT;
	sregs.gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs.idt.base = GPA_IDT;
	sregs.idt.limit = 32 * 16 - 1;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		log_error("KVM_SET_SREGS: %s", strerror(errno));
		return -errno;
	}

	memset(&regs, 0, sizeof(regs));
	regs.rip = vm->entry;
	regs.rsp = stack_top;
	regs.rdi = RRVM_GPA_BOOT_INFO; /* first argument of _start's callee */
	/* IOPL=3 is what makes `out` legal at CPL3 on real VMX hosts. */
	regs.rflags = RFLAGS_RESERVED | RFLAGS_IOPL3;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		log_error("KVM_SET_REGS: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static const char *exception_name(uint64_t v)
{
	static const char *const names[] = {
	    "divide error (#DE)",
	    "debug (#DB)",
	    "NMI",
	    "breakpoint (#BP)",
	    "overflow (#OF)",
	    "bound range (#BR)",
	    "invalid opcode (#UD)",
	    "device not available (#NM)",
	    "double fault (#DF)",
	    "coprocessor overrun",
	    "invalid TSS (#TS)",
	    "segment not present (#NP)",
	    "stack fault (#SS)",
	    "general protection (#GP)",
	    "page fault (#PF)",
	    "reserved",
	    "x87 FP error (#MF)",
	    "alignment check (#AC)",
	    "machine check (#MC)",
	    "SIMD FP error (#XM)",
	};

	return v < sizeof(names) / sizeof(names[0]) ? names[v] : "exception";
}

void vm_cpu_report_fault(struct vm *vm, const char *reason)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t *frame;
	bool have_regs = ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) == 0;
	bool have_sregs = ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) == 0;

	if (!have_regs) {
		log_error("guest fault: %s (registers unavailable: %s)", reason,
			  strerror(errno));
		return;
	}
	/*
	 * A HLT exit at CPL0 means an exception stub ran: the frame it built
	 * on the fault stack has the guest's own RIP/RSP.
	 */
	frame = have_sregs && (sregs.cs.selector & 3) == 0
		    ? vm_gpa_to_host(vm, regs.rsp, 7 * sizeof(uint64_t))
		    : NULL;
	if (frame && frame[0] < 32) {
		log_error("guest fault: %s: %s at RIP=0x%llx RSP=0x%llx "
			  "error=0x%llx",
			  reason, exception_name(frame[0]),
			  (unsigned long long)frame[2],
			  (unsigned long long)frame[5],
			  (unsigned long long)frame[1]);
		if (frame[0] == 14)
			log_error("  page fault address CR2=0x%llx",
				  (unsigned long long)sregs.cr2);
	} else {
		log_error("guest fault: %s at RIP=0x%llx RSP=0x%llx", reason,
			  (unsigned long long)regs.rip,
			  (unsigned long long)regs.rsp);
	}
	log_error("  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx", regs.rax,
		  regs.rbx, regs.rcx, regs.rdx);
	log_error("  RSI=%016llx RDI=%016llx RBP=%016llx R8 =%016llx", regs.rsi,
		  regs.rdi, regs.rbp, regs.r8);
	log_error("  R9 =%016llx R10=%016llx R11=%016llx R12=%016llx", regs.r9,
		  regs.r10, regs.r11, regs.r12);
	/* With an exception frame, RFLAGS and CS are the guest's, not the
	 * stub's. */
	log_error("  R13=%016llx R14=%016llx R15=%016llx RFLAGS=%llx", regs.r13,
		  regs.r14, regs.r15,
		  frame ? (unsigned long long)frame[4] : regs.rflags);
	if (have_sregs)
		log_error("  CS=%04llx CR0=%llx CR2=%llx CR3=%llx CR4=%llx "
			  "EFER=%llx",
			  frame ? (unsigned long long)frame[3]
				: (unsigned long long)sregs.cs.selector,
			  sregs.cr0, sregs.cr2, sregs.cr3, sregs.cr4,
			  sregs.efer);
}
