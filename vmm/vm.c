/* SPDX-License-Identifier: MIT */
/* VM lifecycle and guest memory: create, load the image, destroy. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/boot_info.h"
#include "vmm/cpu_features.h"
#include "vmm/elf_loader.h"
#include "vmm/vm_profile.h"

void *vm_gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa >= vm->mem_size || len > vm->mem_size - gpa)
		return NULL;
	return vm->mem + gpa;
}

void vm_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint64_t first, last;

	if (len == 0 || gpa >= vm->mem_size)
		return;
	if (len > vm->mem_size - gpa)
		len = vm->mem_size - gpa;
	first = gpa >> RRVM_PAGE_SHIFT;
	last = (gpa + len - 1) >> RRVM_PAGE_SHIFT;
	for (uint64_t p = first; p <= last; p++)
		vm->monitor_dirty[p / 64] |= 1ull << (p % 64);
}

static int kvm_open_vm(struct vm *vm)
{
	int version;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		log_error("cannot open /dev/kvm: %s (is KVM available and are "
			  "you allowed to use it?)",
			  strerror(errno));
		return -errno;
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_error("KVM API version %d, need %d", version,
			  KVM_API_VERSION);
		return -ENOTSUP;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		log_error("KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int vm_setup_memory(struct vm *vm, uint64_t mem_size, uint8_t *adopt)
{
	struct kvm_userspace_memory_region region;
	uint64_t pages = mem_size >> RRVM_PAGE_SHIFT;
	int ret;

	vm->mem =
	    adopt ? adopt
		  : mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED) {
		vm->mem = NULL;
		log_error("cannot map %llu MiB of guest memory: %s",
			  (unsigned long long)(mem_size >> 20),
			  strerror(errno));
		return -ENOMEM;
	}
	vm->mem_size = mem_size;
	vm->monitor_dirty = calloc((pages + 63) / 64, sizeof(uint64_t));
	if (!vm->monitor_dirty)
		return -ENOMEM;
	ret = vm_dirty_setup(vm);
	if (ret)
		return ret;
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.flags = KVM_MEM_LOG_DIRTY_PAGES;
	region.guest_phys_addr = 0;
	region.memory_size = mem_size;
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		log_error("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int vm_create_vcpu(struct vm *vm)
{
	int size;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0) {
		log_error("KVM_CREATE_VCPU: %s", strerror(errno));
		return -errno;
	}
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0) {
		log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		return -EIO;
	}
	vm->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		log_error("mmap kvm_run: %s", strerror(errno));
		return -errno;
	}
	vm->run_size = (size_t)size;
	return 0;
}

static int vm_load_guest(struct vm *vm, const struct vm_config *config)
{
	struct elf_image img;
	uint8_t *file = NULL;
	size_t file_size = 0;
	char err[256];
	int ret;

	ret = elf_read_file(config->guest_path, &file, &file_size);
	if (ret) {
		log_error("guest image '%s': %s", config->guest_path,
			  strerror(-ret));
		return ret;
	}
	ret = vm_profile_hash(file, file_size, vm->image_sha256);
	if (ret) {
		log_error("guest image '%s': cannot hash it: %s",
			  config->guest_path, strerror(-ret));
		goto out;
	}
	vm->image_hash_known = true;
	ret =
	    elf_load(file, file_size, vm->mem, vm->mem_size, RRVM_GPA_IMAGE_MIN,
		     vm->mem_size - BOOT_STACK_SIZE, &img, err, sizeof(err));
	if (ret) {
		log_error("guest image '%s': %s", config->guest_path, err);
		goto out;
	}
	vm->entry = img.entry;
	vm->image_start = img.start;
	vm->image_end = img.end;
	vm_mark_dirty(vm, img.start, img.end - img.start);

	vm->boot_info = (struct rrvm_boot_info *)(vm->mem + RRVM_GPA_BOOT_INFO);
	ret = boot_info_build(vm->boot_info, vm->mem_size, &img,
			      config->cmdline, config->mac, err, sizeof(err));
	if (ret) {
		log_error("guest '%s': %s", config->guest_path, err);
		goto out;
	}
	vm_mark_dirty(vm, RRVM_GPA_BOOT_INFO, sizeof(*vm->boot_info));
out:
	free(file);
	return ret;
}

int vm_create_empty(struct vm *vm, uint64_t mem_size)
{
	return vm_create_empty_adopt(vm, mem_size, NULL);
}

int vm_create_empty_adopt(struct vm *vm, uint64_t mem_size, uint8_t *image)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->request_fd = -1;
	stat_set(vm->stats.start_ns, clock_mono_ns());
	ret = vm_pause_init(vm);
	if (ret)
		return ret;
	ret = kvm_open_vm(vm);
	if (ret)
		return ret;
	ret = vm_setup_memory(vm, mem_size, image);
	if (ret)
		return ret;
	return vm_create_vcpu(vm);
}

/* What vm_cpu_setup_cpuid will ask KVM for (it checks the host has it). */
static int vm_choose_cpu_features(struct vm *vm, const struct vm_config *config)
{
	uint64_t mask = config->cpu_features;
	int ret;

	if (!config->cpu_features_given) {
		ret = cpu_features_host(vm->kvm_fd, &vm->cpu_features);
		if (ret)
			log_error("cannot read KVM's CPUID: %s",
				  strerror(-ret));
		return ret;
	}
	if (mask & ~cpu_features_known() || cpu_features_orphans(mask)) {
		log_error("invalid CPU feature mask 0x%llx",
			  (unsigned long long)mask);
		return -EINVAL;
	}
	vm->cpu_features = mask;
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *config)
{
	int ret;

	ret = vm_create_empty(vm, config->mem_size);
	if (ret)
		goto out;
	ret = vm_choose_cpu_features(vm, config);
	if (ret)
		goto out;
	ret = vm_load_guest(vm, config);
	if (ret)
		goto out;
	ret = vm_cpu_setup(vm, vm->mem_size);
	if (ret)
		goto out;
	ret = vm_clock_init(vm, 0);
	if (ret)
		goto out;
	ret = vnic_init(vm, config->backend, vm->boot_info->rx_ring_gpa,
			vm->boot_info->tx_ring_gpa, vm->boot_info->ring_bytes,
			true);
	if (ret)
		goto out;
	return 0;
out:
	/* The caller still owns the backend if we failed before taking it. */
	if (!vm->vnic.backend)
		config->backend->ops->destroy(config->backend);
	vm_destroy(vm);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	vnic_destroy(vm);
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->mem)
		munmap(vm->mem, vm->mem_size);
	free(vm->monitor_dirty);
	vm_pause_destroy(vm);
	vm->run = NULL;
	vm->mem = NULL;
	vm->monitor_dirty = NULL;
	vm->vcpu_fd = vm->vm_fd = vm->kvm_fd = -1;
}
