/* SPDX-License-Identifier: MIT */
/* The instance profile: build, validate, encode, decode, check. */
#include "vmm/vm_profile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "vmm/boot_info.h"
#include "vmm/ckpt_codec.h"
#include "vmm/cpu_features.h"
#include "vmm/vm.h"

static int profile_fail(char *err, size_t err_size, int ret, const char *fmt,
			...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return ret;
}

int vm_profile_hash(const void *data, size_t len,
		    uint8_t out[VM_PROFILE_SHA256_SIZE])
{
	if (sodium_init() < 0)
		return -EIO;
	crypto_hash_sha256(out, data, len);
	return 0;
}

int vm_profile_hash_file(const char *path, uint8_t out[VM_PROFILE_SHA256_SIZE])
{
	crypto_hash_sha256_state st;
	uint8_t buf[65536];
	size_t n;
	FILE *f;
	int ret = 0;

	if (sodium_init() < 0)
		return -EIO;
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	if (ferror(f))
		ret = -EIO;
	else
		crypto_hash_sha256_final(&st, out);
	fclose(f);
	return ret;
}

static bool printable(const char *s, bool allow_slash)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || (*s == '/' && !allow_slash))
			return false;
	return true;
}

int vm_profile_validate(const struct vm_profile *p, char *err, size_t err_size)
{
	char names[512];
	uint64_t orphans;

	if (p->version != VM_PROFILE_VERSION)
		return profile_fail(err, err_size, -EINVAL,
				    "profile version %u, this rrvm reads "
				    "version %u",
				    p->version, VM_PROFILE_VERSION);
	if (p->flags & ~VM_PROFILE_IMAGE_HASH)
		return profile_fail(err, err_size, -EINVAL,
				    "profile flags 0x%x unknown", p->flags);
	if (p->mem_size < BOOT_MIN_MEM || p->mem_size > BOOT_MAX_MEM ||
	    p->mem_size % (2u << 20))
		return profile_fail(err, err_size, -EINVAL,
				    "profile memory size %llu is not a "
				    "multiple of 2 MiB in 8 MiB..4 GiB",
				    (unsigned long long)p->mem_size);
	if (p->cpu_features & ~cpu_features_known())
		return profile_fail(
		    err, err_size, -EINVAL,
		    "profile has CPU features this rrvm does "
		    "not know (bits 0x%llx)",
		    (unsigned long long)(p->cpu_features &
					 ~cpu_features_known()));
	orphans = cpu_features_orphans(p->cpu_features);
	if (orphans) {
		cpu_features_format(orphans, names, sizeof(names));
		return profile_fail(err, err_size, -EINVAL,
				    "profile CPU features lack prerequisites "
				    "of: %s",
				    names);
	}
	if (p->mac[0] & 1 || !(p->mac[0] | p->mac[1] | p->mac[2] | p->mac[3] |
			       p->mac[4] | p->mac[5]))
		return profile_fail(err, err_size, -EINVAL,
				    "profile MAC is multicast or zero");
	if (p->prefix < 1 || p->prefix > 32 || p->ip == 0)
		return profile_fail(err, err_size, -EINVAL,
				    "profile IP address or prefix /%u invalid",
				    p->prefix);
	if (strnlen(p->image_name, sizeof(p->image_name)) ==
		sizeof(p->image_name) ||
	    !printable(p->image_name, false))
		return profile_fail(err, err_size, -EINVAL,
				    "profile image name is too long or not "
				    "printable");
	if (strnlen(p->cmdline, sizeof(p->cmdline)) == sizeof(p->cmdline) ||
	    !printable(p->cmdline, true) || !p->cmdline[0])
		return profile_fail(err, err_size, -EINVAL,
				    "profile command line is empty, too long "
				    "or not printable");
	return 0;
}

/* "A.B.C.D[/N]" into network-order address and prefix (32 if absent). */
static int parse_ip(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr a;
	char *end;
	unsigned long n = 32;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	if (slash) {
		n = strtoul(slash + 1, &end, 10);
		if (*end || end == slash + 1 || n < 1 || n > 32)
			return -EINVAL;
	}
	*addr = a.s_addr;
	if (prefix)
		*prefix = (uint8_t)n;
	return 0;
}

int vm_profile_from_vm(const struct vm *vm, const char *image_name,
		       struct vm_profile *p, char *err, size_t err_size)
{
	const struct rrvm_boot_info *bi = vm->boot_info;
	const char *base = image_name ? strrchr(image_name, '/') : NULL;
	char value[64], why[160];

	memset(p, 0, sizeof(*p));
	if (!bi || boot_info_validate(bi, why, sizeof(why)))
		return profile_fail(err, err_size, -EINVAL,
				    "the guest's boot info is unusable: %s",
				    bi ? why : "none");
	p->version = VM_PROFILE_VERSION;
	p->mem_size = vm->mem_size;
	p->cpu_features = vm->cpu_features;
	if (vm->image_hash_known) {
		p->flags |= VM_PROFILE_IMAGE_HASH;
		memcpy(p->image_sha256, vm->image_sha256,
		       sizeof(p->image_sha256));
	}
	memcpy(p->mac, bi->mac, sizeof(p->mac));
	memcpy(p->cmdline, bi->cmdline, sizeof(p->cmdline) - 1);
	if (!boot_info_cmdline_value(p->cmdline, "ip", value, sizeof(value)) ||
	    parse_ip(value, &p->ip, &p->prefix))
		return profile_fail(err, err_size, -EINVAL,
				    "the guest command line has no usable "
				    "ip=ADDR/PREFIX");
	if (boot_info_cmdline_value(p->cmdline, "gw", value, sizeof(value)) &&
	    parse_ip(value, &p->gateway, NULL))
		return profile_fail(err, err_size, -EINVAL,
				    "the guest command line's gw= is not an "
				    "IPv4 address");
	base = base ? base + 1 : image_name;
	if (base)
		snprintf(p->image_name, sizeof(p->image_name), "%s", base);
	return vm_profile_validate(p, err, err_size);
}

static void put_le16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t get_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static uint64_t get_le64(const uint8_t *b)
{
	return get_le32(b) | (uint64_t)get_le32(b + 4) << 32;
}

int vm_profile_encode(struct ckpt_buf *out, const struct vm_profile *p)
{
	uint8_t payload[VM_PROFILE_MAX_PAYLOAD];
	size_t name_len = strnlen(p->image_name, sizeof(p->image_name));
	size_t cmd_len = strnlen(p->cmdline, sizeof(p->cmdline));
	char why[160];

	if (vm_profile_validate(p, why, sizeof(why)))
		return -EINVAL;
	memset(payload, 0, VM_PROFILE_HEADER_SIZE);
	put_le32(payload, p->version);
	put_le32(payload + 4, p->flags);
	put_le64(payload + 8, p->mem_size);
	put_le64(payload + 16, p->cpu_features);
	memcpy(payload + 24, p->image_sha256, VM_PROFILE_SHA256_SIZE);
	memcpy(payload + 56, p->mac, 6);
	payload[62] = p->prefix;
	/* Addresses keep network byte order: copy the bytes as they are. */
	memcpy(payload + 64, &p->ip, 4);
	memcpy(payload + 68, &p->gateway, 4);
	put_le16(payload + 72, (uint16_t)name_len);
	put_le16(payload + 74, (uint16_t)cmd_len);
	memcpy(payload + VM_PROFILE_HEADER_SIZE, p->image_name, name_len);
	memcpy(payload + VM_PROFILE_HEADER_SIZE + name_len, p->cmdline,
	       cmd_len);
	return ckpt_encode_blob(out, (enum ckpt_msg_type)VM_PROFILE_MSG_TYPE, 0,
				payload,
				VM_PROFILE_HEADER_SIZE + name_len + cmd_len);
}

int vm_profile_decode_payload(const uint8_t *b, size_t len,
			      struct vm_profile *p, char *err, size_t err_size)
{
	size_t name_len, cmd_len;

	memset(p, 0, sizeof(*p));
	if (len < VM_PROFILE_HEADER_SIZE)
		return profile_fail(err, err_size, -EINVAL,
				    "profile of %zu bytes is truncated (the "
				    "fixed part is %u)",
				    len, VM_PROFILE_HEADER_SIZE);
	p->version = get_le32(b);
	if (p->version != VM_PROFILE_VERSION)
		return profile_fail(err, err_size, -EINVAL,
				    "profile version %u, this rrvm reads "
				    "version %u",
				    p->version, VM_PROFILE_VERSION);
	name_len = get_le16(b + 72);
	cmd_len = get_le16(b + 74);
	if (b[63] || get_le32(b + 76))
		return profile_fail(err, err_size, -EINVAL,
				    "profile reserved bytes are not zero");
	if (name_len >= VM_PROFILE_NAME_MAX || cmd_len >= RRVM_CMDLINE_MAX ||
	    len != VM_PROFILE_HEADER_SIZE + name_len + cmd_len)
		return profile_fail(err, err_size, -EINVAL,
				    "profile string lengths %zu+%zu do not "
				    "fit its %zu bytes",
				    name_len, cmd_len, len);
	p->flags = get_le32(b + 4);
	p->mem_size = get_le64(b + 8);
	p->cpu_features = get_le64(b + 16);
	memcpy(p->image_sha256, b + 24, VM_PROFILE_SHA256_SIZE);
	memcpy(p->mac, b + 56, 6);
	p->prefix = b[62];
	memcpy(&p->ip, b + 64, 4);
	memcpy(&p->gateway, b + 68, 4);
	memcpy(p->image_name, b + VM_PROFILE_HEADER_SIZE, name_len);
	memcpy(p->cmdline, b + VM_PROFILE_HEADER_SIZE + name_len, cmd_len);
	/* A NUL inside a string would hide the rest from every check. */
	if (strlen(p->image_name) != name_len || strlen(p->cmdline) != cmd_len)
		return profile_fail(err, err_size, -EINVAL,
				    "profile strings contain NUL bytes");
	return vm_profile_validate(p, err, err_size);
}

int vm_profile_decode(const struct ckpt_msg *msg, struct vm_profile *p,
		      char *err, size_t err_size)
{
	if (msg->header.type != VM_PROFILE_MSG_TYPE)
		return profile_fail(err, err_size, -EINVAL,
				    "message type %u is not a profile",
				    msg->header.type);
	return vm_profile_decode_payload(msg->payload, msg->header.length, p,
					 err, err_size);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/*
 * Map the guest memory as vm_create would (MAP_NORESERVE), then let it go:
 * catches address-space limits and strict overcommit, not a lack of RAM
 * (that is what max_mem is for).
 */
static int probe_mapping(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	munmap(p, size);
	return 0;
}

int vm_profile_check(const struct vm_profile *p,
		     const struct vm_profile_local *local, char *err,
		     size_t err_size)
{
	char names[512], want[2 * VM_PROFILE_SHA256_SIZE + 1],
	    have[2 * VM_PROFILE_SHA256_SIZE + 1];
	uint64_t missing;
	int ret;

	ret = vm_profile_validate(p, err, err_size);
	if (ret)
		return ret;
	missing = cpu_features_missing(p->cpu_features, local->cpu_features);
	if (missing) {
		cpu_features_format(missing, names, sizeof(names));
		return profile_fail(err, err_size, -ENOTSUP,
				    "this host does not offer CPU features "
				    "the guest has: %s",
				    names);
	}
	if (local->max_mem && p->mem_size > local->max_mem)
		return profile_fail(err, err_size, -ENOMEM,
				    "the guest has %llu MiB of memory, this "
				    "host allows %llu MiB",
				    (unsigned long long)(p->mem_size >> 20),
				    (unsigned long long)(local->max_mem >> 20));
	ret = probe_mapping(p->mem_size);
	if (ret)
		return profile_fail(err, err_size, -ENOMEM,
				    "cannot map %llu MiB of guest memory: %s",
				    (unsigned long long)(p->mem_size >> 20),
				    strerror(-ret));
	if (!local->require_image)
		return 0;
	hex(local->image_sha256, VM_PROFILE_SHA256_SIZE, want);
	if (!(p->flags & VM_PROFILE_IMAGE_HASH))
		return profile_fail(err, err_size, -EINVAL,
				    "the guest's image is unknown (restored "
				    "from an old snapshot); this host insists "
				    "on image %s",
				    want);
	if (memcmp(p->image_sha256, local->image_sha256,
		   VM_PROFILE_SHA256_SIZE)) {
		hex(p->image_sha256, VM_PROFILE_SHA256_SIZE, have);
		return profile_fail(err, err_size, -EINVAL,
				    "the guest runs image %s, this host "
				    "insists on %s",
				    have, want);
	}
	return 0;
}
