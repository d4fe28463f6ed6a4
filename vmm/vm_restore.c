/* SPDX-License-Identifier: MIT */
/*
 * Build a VM from a full checkpoint stream. The fresh VM's memory is the
 * staging area: pages decode straight into it (it starts as zeros, which is
 * the base of a full checkpoint), and nothing else is created — no TAP, no
 * running vCPU — until END has validated the whole stream.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "vmm/boot_info.h"
#include "vmm/cpu_features.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

struct restore_ctx {
	struct vm *vm;
	bool vm_created;
	uint64_t *seen; /* pfns already restored: a full stream has each once */
	struct vm_vcpu_state vcpu;
	struct vm_device_state device;
	bool have_vcpu, have_device, have_end;
	char *err;
	size_t err_size;
};

static int restore_fail(struct restore_ctx *c, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->err_size, fmt, ap);
	va_end(ap);
	return ret;
}

static int restore_page(void *arg, uint64_t pfn, enum ckpt_page_encoding enc,
			const uint8_t *data, uint32_t len)
{
	struct restore_ctx *c = arg;
	uint8_t *page = c->vm->mem + pfn * RRVM_PAGE_SIZE;

	if (c->seen[pfn / 64] & (1ull << (pfn % 64)))
		return restore_fail(c, -EINVAL,
				    "page %llu appears twice in a full "
				    "checkpoint",
				    (unsigned long long)pfn);
	c->seen[pfn / 64] |= 1ull << (pfn % 64);
	if (ckpt_page_decode(enc, data, len, page))
		return restore_fail(c, -EINVAL,
				    "page %llu does not decode (encoding %d)",
				    (unsigned long long)pfn, (int)enc);
	return 0;
}

static int restore_begin(struct restore_ctx *c, const struct ckpt_msg *msg)
{
	const struct ckpt_begin *b = &msg->begin;
	int ret;

	if (!(b->flags & CKPT_BEGIN_FULL))
		return restore_fail(c, -EINVAL,
				    "not a full checkpoint (an incremental "
				    "epoch cannot be restored on its own)");
	if (b->mem_size < BOOT_MIN_MEM || b->mem_size > BOOT_MAX_MEM ||
	    b->mem_size % (2u << 20))
		return restore_fail(c, -EINVAL,
				    "guest memory size %llu is not supported",
				    (unsigned long long)b->mem_size);
	ret = vm_create_empty(c->vm, b->mem_size);
	if (ret)
		return restore_fail(c, ret, "cannot create the VM: %s",
				    strerror(-ret));
	c->vm_created = true;
	c->seen = calloc(vm_dirty_bitmap_words(c->vm), sizeof(uint64_t));
	if (!c->seen)
		return restore_fail(c, -ENOMEM, "out of memory");
	return 0;
}

static int restore_message(struct restore_ctx *c, const struct ckpt_msg *msg)
{
	char why[160];
	int ret;

	if (c->have_end)
		return restore_fail(c, -EINVAL,
				    "data after the end of the checkpoint");
	switch (msg->header.type) {
	case CKPT_MSG_BEGIN:
		return restore_begin(c, msg);
	case CKPT_MSG_PAGES:
		ret = ckpt_pages_walk(msg->payload, msg->header.length,
				      c->vm->mem_size / RRVM_PAGE_SIZE,
				      restore_page, c, why, sizeof(why));
		if (ret && ret != -EINVAL)
			return ret;
		if (ret)
			return restore_fail(c, ret, "%s", why);
		return 0;
	case CKPT_MSG_VCPU:
		ret = vm_state_decode_vcpu(msg->payload, msg->header.length,
					   &c->vcpu, why, sizeof(why));
		if (ret)
			return restore_fail(c, ret, "%s", why);
		c->have_vcpu = true;
		return 0;
	case CKPT_MSG_DEVICE:
		ret = vm_state_decode_device(msg->payload, msg->header.length,
					     &c->device, why, sizeof(why));
		if (ret)
			return restore_fail(c, ret, "%s", why);
		c->have_device = true;
		return 0;
	case CKPT_MSG_END:
		c->have_end = true;
		return 0;
	}
	return restore_fail(c, -EINVAL, "unexpected message type %u",
			    msg->header.type);
}

/*
 * The guest keeps the CPU features it had (refused, naming them, if this
 * host lacks some) and its image identity. A version-1 device record does
 * not say: such a guest saw the whole host CPUID, so it gets this host's.
 */
static int restore_cpu_features(struct restore_ctx *c)
{
	struct vm *vm = c->vm;
	char why[600];
	int ret;

	if (c->device.flags & VM_DEVICE_IMAGE_HASH) {
		memcpy(vm->image_sha256, c->device.image_sha256,
		       sizeof(vm->image_sha256));
		vm->image_hash_known = true;
	}
	if (!(c->device.flags & VM_DEVICE_CPU_FEATURES)) {
		ret = cpu_features_host(vm->kvm_fd, &vm->cpu_features);
		if (ret)
			return restore_fail(c, ret,
					    "cannot read KVM's CPUID: %s",
					    strerror(-ret));
		return 0;
	}
	ret = vm_cpu_check_features(vm->kvm_fd, c->device.cpu_features, why,
				    sizeof(why));
	if (ret)
		return restore_fail(c, ret, "%s", why);
	vm->cpu_features = c->device.cpu_features;
	return 0;
}

/* The stream is valid: make the VM runnable from it. */
static int restore_finish(struct restore_ctx *c)
{
	struct vm *vm = c->vm;
	char why[160];
	int ret;

	if (!c->have_vcpu || !c->have_device)
		return restore_fail(c, -EINVAL, "checkpoint lacks %s state",
				    c->have_vcpu ? "device" : "vCPU");
	if (c->device.mem_size != vm->mem_size)
		return restore_fail(c, -EINVAL,
				    "device state says %llu bytes of memory, "
				    "the checkpoint has %llu",
				    (unsigned long long)c->device.mem_size,
				    (unsigned long long)vm->mem_size);
	vm->boot_info = (struct rrvm_boot_info *)(vm->mem + RRVM_GPA_BOOT_INFO);
	if (boot_info_validate(vm->boot_info, why, sizeof(why)))
		return restore_fail(c, -EINVAL,
				    "boot info in the checkpoint: %s", why);
	ret = restore_cpu_features(c);
	if (ret)
		return ret;
	ret = vm_cpu_setup_cpuid(vm);
	if (!ret)
		ret = vm_state_apply_vcpu(vm, &c->vcpu);
	if (!ret)
		ret = vm_state_apply_device(vm, &c->device);
	if (ret)
		return restore_fail(c, ret, "cannot load the vCPU state: %s",
				    strerror(-ret));
	return 0;
}

int vm_restore_load(struct vm *vm, const uint8_t *data, size_t len, char *err,
		    size_t err_size)
{
	struct restore_ctx c = {.vm = vm, .err = err, .err_size = err_size};
	struct ckpt_decoder dec;
	size_t off = 0;
	int ret = 0;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->request_fd = -1;
	ckpt_decoder_init(&dec);
	while (off < len && ret == 0) {
		struct ckpt_msg msg;
		size_t used = 0;
		enum ckpt_decode_status st;

		size_t msg_start = off;

		st =
		    ckpt_decoder_feed(&dec, data + off, len - off, &used, &msg);
		off += used;
		if (st == CKPT_DECODE_ERROR) {
			ret = restore_fail(&c, -EINVAL,
					   "corrupt message at byte %zu: %s",
					   msg_start, dec.err);
			break;
		}
		if (st == CKPT_DECODE_NEED_MORE)
			break;
		if (!c.vm_created && msg.header.type != CKPT_MSG_BEGIN) {
			ret = restore_fail(&c, -EINVAL,
					   "does not start with a checkpoint "
					   "header");
			break;
		}
		ret = restore_message(&c, &msg);
	}
	if (!ret && !c.have_end)
		ret = restore_fail(&c, -EINVAL,
				   "truncated: the checkpoint ends after %zu "
				   "byte%s without its end marker",
				   len, len == 1 ? "" : "s");
	if (!ret)
		ret = restore_finish(&c);
	ckpt_decoder_free(&dec);
	free(c.seen);
	if (ret && c.vm_created)
		vm_destroy(vm);
	return ret;
}

int vm_restore_attach(struct vm *vm, struct vnic_backend *backend)
{
	const struct rrvm_boot_info *bi = vm->boot_info;

	return vnic_init(vm, backend, bi->rx_ring_gpa, bi->tx_ring_gpa,
			 bi->ring_bytes, false);
}

int vm_restore_from_image(struct vm *vm, uint8_t *image, uint64_t mem_size,
			  const struct vm_vcpu_state *vcpu,
			  const struct vm_device_state *device, char *err,
			  size_t err_size)
{
	struct restore_ctx c = {.vm = vm, .err = err, .err_size = err_size};
	int ret;

	ret = vm_create_empty_adopt(vm, mem_size, image);
	if (ret) {
		if (!vm->mem) /* not adopted yet */
			munmap(image, mem_size);
		vm_destroy(vm);
		return restore_fail(&c, ret, "cannot create the VM: %s",
				    strerror(-ret));
	}
	c.vcpu = *vcpu;
	c.device = *device;
	c.have_vcpu = c.have_device = true;
	ret = restore_finish(&c);
	if (ret)
		vm_destroy(vm);
	return ret;
}
