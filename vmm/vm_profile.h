/* SPDX-License-Identifier: MIT */
/*
 * The instance profile: what a destination host needs to know to build a
 * VM for a running guest before any page moves (docs/migration.md) — its
 * image identity, memory size, network identity, command line and CPU
 * features. Only host-local things (the TAP) stay on the destination's
 * command line.
 *
 * On the wire it is one message of the checkpoint codec's framing (type
 * VM_PROFILE_MSG_TYPE, outside any epoch) with an explicit little-endian
 * payload. vm_profile_check is the destination's refusal: what it cannot
 * honour is named in err.
 */
#ifndef RRVM_VM_PROFILE_H
#define RRVM_VM_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rrvm/boot_info.h"

struct ckpt_buf;
struct ckpt_msg;
struct vm;

#define VM_PROFILE_VERSION 1u
/* First of the migration protocol's types (docs/migration.md). */
#define VM_PROFILE_MSG_TYPE    80u
#define VM_PROFILE_HEADER_SIZE 80u
#define VM_PROFILE_NAME_MAX    128u /* image name, NUL included */
#define VM_PROFILE_SHA256_SIZE 32u
#define VM_PROFILE_MAX_PAYLOAD                                                 \
	(VM_PROFILE_HEADER_SIZE + VM_PROFILE_NAME_MAX - 1 + RRVM_CMDLINE_MAX - \
	 1)

/* vm_profile.flags */
#define VM_PROFILE_IMAGE_HASH 0x1u /* image_sha256 is known */

struct vm_profile {
	uint32_t version;
	uint32_t flags;	       /* VM_PROFILE_* */
	uint64_t mem_size;     /* bytes: a multiple of 2 MiB, 8 MiB..4 GiB */
	uint64_t cpu_features; /* vmm/cpu_features.h */
	uint8_t image_sha256[VM_PROFILE_SHA256_SIZE];
	uint8_t mac[6];
	uint8_t prefix;	  /* of ip: 1..32 */
	uint32_t ip;	  /* network byte order, nonzero */
	uint32_t gateway; /* network byte order, 0 = none */
	/* Informational (reports, `ctl status`): the image's file name. */
	char image_name[VM_PROFILE_NAME_MAX];
	/* The guest command line as booted (ip=, mac=, options). */
	char cmdline[RRVM_CMDLINE_MAX];
};

/* What the destination can honour. */
struct vm_profile_local {
	uint64_t cpu_features; /* offered: KVM's set, narrowed by the user */
	uint64_t max_mem;      /* bytes; 0 = only the mmap probe */
	bool require_image;    /* refuse any image but image_sha256 */
	uint8_t image_sha256[VM_PROFILE_SHA256_SIZE];
};

/* SHA-256 of an image's bytes (libsodium). 0 or -errno. */
int vm_profile_hash(const void *data, size_t len,
		    uint8_t out[VM_PROFILE_SHA256_SIZE]);
/* SHA-256 of a file. 0 or -errno. */
int vm_profile_hash_file(const char *path, uint8_t out[VM_PROFILE_SHA256_SIZE]);

/*
 * The profile of a VM (source side): memory, CPU features and image hash
 * from the monitor, MAC, IP, gateway and command line from the boot-info
 * page as the guest booted with it. The page is guest-writable, so it is
 * validated like a received profile. Call with the vCPU stopped. 0, or
 * -EINVAL with a reason.
 */
int vm_profile_from_vm(const struct vm *vm, const char *image_name,
		       struct vm_profile *p, char *err, size_t err_size);

/* Field rules shared by encoder and decoder. 0 or -EINVAL with a reason. */
int vm_profile_validate(const struct vm_profile *p, char *err, size_t err_size);

/* Append one PROFILE message (epoch 0). 0, -EINVAL (invalid profile), or
 * -ENOMEM. */
int vm_profile_encode(struct ckpt_buf *out, const struct vm_profile *p);
/* Decode a PROFILE message / payload. 0 or -EINVAL with a reason. */
int vm_profile_decode(const struct ckpt_msg *msg, struct vm_profile *p,
		      char *err, size_t err_size);
int vm_profile_decode_payload(const uint8_t *payload, size_t len,
			      struct vm_profile *p, char *err, size_t err_size);

/*
 * Can this host run the profile's guest? Refuses, naming what is wrong:
 * -ENOTSUP for CPU features it does not offer (their names), -ENOMEM for
 * memory above local->max_mem or that cannot be mapped, -EINVAL for a
 * different image when local->require_image.
 */
int vm_profile_check(const struct vm_profile *p,
		     const struct vm_profile_local *local, char *err,
		     size_t err_size);

#endif
