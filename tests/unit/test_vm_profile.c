// SPDX-License-Identifier: MIT
/*
 * The instance profile (vmm/vm_profile.c): SHA-256 of images, the profile
 * of a VM from its boot-info page, the wire layout pinned byte by byte, a
 * round trip through the checkpoint decoder, refusal of every malformed
 * payload (truncations, each field out of range, NULs, bit flips), and the
 * destination's check: CPU features missing (named), memory over the limit
 * or unmappable, a different or unknown image when one is insisted on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/boot_info.h"
#include "vmm/ckpt_codec.h"
#include "vmm/cpu_features.h"
#include "vmm/vm.h"
#include "vmm/vm_profile.h"

#define BIT(f) CPU_FEATURE_BIT(CPU_FEATURE_##f)

static const uint8_t abc_sha256[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};

static void make_profile(struct vm_profile *p)
{
	memset(p, 0, sizeof(*p));
	p->version = VM_PROFILE_VERSION;
	p->flags = VM_PROFILE_IMAGE_HASH;
	p->mem_size = 64ull << 20;
	p->cpu_features = BIT(SSE4_2) | BIT(XSAVE) | BIT(AVX) | BIT(AVX2);
	memcpy(p->image_sha256, abc_sha256, 32);
	memcpy(p->mac, "\x52\x54\x00\x12\x34\x56", 6);
	p->prefix = 24;
	inet_pton(AF_INET, "10.77.0.2", &p->ip);
	inet_pton(AF_INET, "10.77.0.1", &p->gateway);
	snprintf(p->image_name, sizeof(p->image_name), "kv.elf");
	snprintf(
	    p->cmdline, sizeof(p->cmdline),
	    "ip=10.77.0.2/24 mac=52:54:00:12:34:56 gw=10.77.0.1 port=6379");
}

/* The payload of an encoded profile (after the 24-byte header). */
static size_t encode_payload(const struct vm_profile *p, uint8_t *out)
{
	struct ckpt_buf buf;
	size_t len;

	ckpt_buf_init(&buf);
	assert_int_equal(vm_profile_encode(&buf, p), 0);
	len = buf.len - 24;
	memcpy(out, buf.data + 24, len);
	ckpt_buf_free(&buf);
	return len;
}

static void test_hashes(void **state)
{
	char path[] = "/tmp/rrvm-profile-XXXXXX";
	uint8_t h[32], f[32];
	int fd;

	(void)state;
	assert_int_equal(vm_profile_hash("abc", 3, h), 0);
	assert_memory_equal(h, abc_sha256, 32);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	assert_int_equal(vm_profile_hash_file(path, f), 0);
	assert_memory_equal(f, abc_sha256, 32);
	unlink(path);
	assert_int_equal(vm_profile_hash_file(path, f), -ENOENT);
}

static void test_wire_layout(void **state)
{
	struct vm_profile p;
	uint8_t b[VM_PROFILE_MAX_PAYLOAD];
	size_t len;

	(void)state;
	make_profile(&p);
	len = encode_payload(&p, b);
	assert_int_equal(len, 80 + strlen("kv.elf") + strlen(p.cmdline));
	assert_memory_equal(b, "\x01\0\0\0\x01\0\0\0", 8);
	assert_memory_equal(b + 8, "\0\0\0\x04\0\0\0\0", 8); /* 64 MiB LE */
	assert_int_equal(b[16], (uint8_t)p.cpu_features);
	assert_memory_equal(b + 24, abc_sha256, 32);
	assert_memory_equal(b + 56, "\x52\x54\x00\x12\x34\x56", 6);
	assert_int_equal(b[62], 24);
	assert_int_equal(b[63], 0);
	assert_memory_equal(b + 64, "\x0a\x4d\x00\x02", 4); /* network order */
	assert_memory_equal(b + 68, "\x0a\x4d\x00\x01", 4);
	assert_int_equal(b[72], 6);
	assert_int_equal(b[73], 0);
	assert_int_equal(b[74], strlen(p.cmdline));
	assert_memory_equal(b + 76, "\0\0\0\0", 4);
	assert_memory_equal(b + 80, "kv.elf", 6);
	assert_memory_equal(b + 86, p.cmdline, strlen(p.cmdline));
}

static void test_round_trip_through_the_decoder(void **state)
{
	struct vm_profile p, back;
	struct ckpt_decoder d;
	struct ckpt_buf buf;
	struct ckpt_msg msg;
	size_t used;
	char err[256];

	(void)state;
	make_profile(&p);
	ckpt_buf_init(&buf);
	assert_int_equal(vm_profile_encode(&buf, &p), 0);
	ckpt_decoder_init(&d);
	assert_int_equal(ckpt_decoder_feed(&d, buf.data, buf.len, &used, &msg),
			 CKPT_DECODE_MESSAGE);
	assert_int_equal(used, buf.len);
	assert_int_equal(msg.header.type, VM_PROFILE_MSG_TYPE);
	assert_int_equal(vm_profile_decode(&msg, &back, err, sizeof(err)), 0);
	assert_memory_equal(&back, &p, sizeof(p));
	/* No image hash, no gateway, empty name: still a valid profile. */
	p.flags = 0;
	memset(p.image_sha256, 0, 32);
	p.gateway = 0;
	memset(p.image_name, 0, sizeof(p.image_name));
	ckpt_buf_reset(&buf);
	assert_int_equal(vm_profile_encode(&buf, &p), 0);
	assert_int_equal(ckpt_decoder_feed(&d, buf.data, buf.len, &used, &msg),
			 CKPT_DECODE_MESSAGE);
	assert_int_equal(vm_profile_decode(&msg, &back, err, sizeof(err)), 0);
	assert_memory_equal(&back, &p, sizeof(p));
	/* Another type is not a profile. */
	msg.header.type = 81;
	assert_int_equal(vm_profile_decode(&msg, &back, err, sizeof(err)),
			 -EINVAL);
	ckpt_decoder_free(&d);
	ckpt_buf_free(&buf);
}

static void test_truncations_and_excess(void **state)
{
	struct vm_profile p, back;
	uint8_t b[VM_PROFILE_MAX_PAYLOAD + 1];
	char err[256];
	size_t len;

	(void)state;
	make_profile(&p);
	len = encode_payload(&p, b);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(
		    vm_profile_decode_payload(b, n, &back, err, sizeof(err)),
		    -EINVAL);
	b[len] = 'x';
	assert_int_equal(
	    vm_profile_decode_payload(b, len + 1, &back, err, sizeof(err)),
	    -EINVAL);
	assert_int_equal(
	    vm_profile_decode_payload(b, len, &back, err, sizeof(err)), 0);
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void test_each_bad_field_is_refused(void **state)
{
	static const struct {
		size_t off;
		uint8_t value;
		const char *says;
	} bad[] = {
	    {0, 2, "version 2"},
	    {4, 0x02, "flags"},
	    {8, 0x01, "memory size"},	 /* not a multiple of 2 MiB */
	    {13, 0x10, "memory size"},	 /* 16 GiB + 64 MiB: too large */
	    {11, 0x00, "memory size"},	 /* 0 */
	    {23, 0x80, "does not know"}, /* bit 63: no such feature */
	    {56, 0x53, "MAC"},		 /* multicast */
	    {62, 0, "prefix"},
	    {62, 33, "prefix"},
	    {63, 1, "reserved"},
	    {76, 1, "reserved"},
	    {79, 1, "reserved"},
	    {80, 0, "NUL"},
	    {86, 0, "NUL"},
	    {82, '/', "image name"},
	    {90, '\n', "command line"},
	    {90, 0x80, "command line"},
	};
	struct vm_profile p, back;
	uint8_t good[VM_PROFILE_MAX_PAYLOAD], b[VM_PROFILE_MAX_PAYLOAD];
	char err[256];
	size_t len;

	(void)state;
	make_profile(&p);
	len = encode_payload(&p, good);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(b, good, len);
		if (bad[i].off == 11) /* zero the whole size */
			memset(b + 8, 0, 8);
		else
			b[bad[i].off] = bad[i].value;
		err[0] = '\0';
		assert_int_equal(
		    vm_profile_decode_payload(b, len, &back, err, sizeof(err)),
		    -EINVAL);
		if (!strstr(err, bad[i].says))
			fail_msg("byte %zu = 0x%x: error '%s' lacks '%s'",
				 bad[i].off, bad[i].value, err, bad[i].says);
	}
	/* IP 0; orphan CPU features (avx2 without avx). */
	memcpy(b, good, len);
	memset(b + 64, 0, 4);
	assert_int_equal(
	    vm_profile_decode_payload(b, len, &back, err, sizeof(err)),
	    -EINVAL);
	memcpy(b, good, len);
	memset(b + 16, 0, 8);
	b[16 + CPU_FEATURE_AVX2 / 8] = (uint8_t)(1u << (CPU_FEATURE_AVX2 % 8));
	assert_int_equal(
	    vm_profile_decode_payload(b, len, &back, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "avx2"));
	/* String lengths that do not add up, or exceed the limits. */
	memcpy(b, good, len);
	put16(b + 72, 7);
	assert_int_equal(
	    vm_profile_decode_payload(b, len, &back, err, sizeof(err)),
	    -EINVAL);
	memcpy(b, good, len);
	put16(b + 74, 0);
	assert_int_equal(vm_profile_decode_payload(b, len - strlen(p.cmdline),
						   &back, err, sizeof(err)),
			 -EINVAL); /* empty command line */
	memcpy(b, good, len);
	put16(b + 74, 0xffff);
	assert_int_equal(
	    vm_profile_decode_payload(b, len, &back, err, sizeof(err)),
	    -EINVAL);
}

/* Flip bits at random: never a crash; what decodes is valid and
 * re-encodes to the same bytes. */
static void test_bit_flips(void **state)
{
	struct vm_profile p, back;
	uint8_t good[VM_PROFILE_MAX_PAYLOAD], b[VM_PROFILE_MAX_PAYLOAD],
	    again[VM_PROFILE_MAX_PAYLOAD];
	char err[256];
	size_t len;
	unsigned accepted = 0;

	(void)state;
	make_profile(&p);
	len = encode_payload(&p, good);
	srand(12345);
	for (int i = 0; i < 4000; i++) {
		memcpy(b, good, len);
		for (int k = 0; k <= i % 3; k++) {
			size_t bit = (size_t)rand() % (len * 8);

			b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		if (vm_profile_decode_payload(b, len, &back, err, sizeof(err)))
			continue;
		accepted++;
		assert_int_equal(vm_profile_validate(&back, err, sizeof(err)),
				 0);
		assert_int_equal(encode_payload(&back, again), len);
		assert_memory_equal(again, b, len);
	}
	/* Flips in the hash, the features, the command line text... pass. */
	assert_true(accepted > 0);
}

static void test_encode_refuses_invalid(void **state)
{
	struct vm_profile p;
	struct ckpt_buf buf;

	(void)state;
	ckpt_buf_init(&buf);
	make_profile(&p);
	p.prefix = 0;
	assert_int_equal(vm_profile_encode(&buf, &p), -EINVAL);
	make_profile(&p);
	memset(p.cmdline, 'a', sizeof(p.cmdline)); /* no NUL */
	assert_int_equal(vm_profile_encode(&buf, &p), -EINVAL);
	assert_int_equal(buf.len, 0);
	ckpt_buf_free(&buf);
}

static void local_for(const struct vm_profile *p, struct vm_profile_local *l)
{
	memset(l, 0, sizeof(*l));
	l->cpu_features = cpu_features_known();
	memcpy(l->image_sha256, p->image_sha256, 32);
}

static void test_check_refuses_what_it_cannot_honour(void **state)
{
	struct vm_profile p;
	struct vm_profile_local l;
	char err[600];

	(void)state;
	make_profile(&p);
	local_for(&p, &l);
	assert_int_equal(vm_profile_check(&p, &l, err, sizeof(err)), 0);
	/* An older host: no avx2, no sse4_2. */
	l.cpu_features &= ~(BIT(AVX2) | BIT(SSE4_2));
	assert_int_equal(vm_profile_check(&p, &l, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "sse4_2,avx2"));
	/* Memory above the configured limit. */
	local_for(&p, &l);
	l.max_mem = 32ull << 20;
	assert_int_equal(vm_profile_check(&p, &l, err, sizeof(err)), -ENOMEM);
	assert_non_null(strstr(err, "64 MiB"));
	l.max_mem = 64ull << 20;
	assert_int_equal(vm_profile_check(&p, &l, err, sizeof(err)), 0);
	/* The image it insists on. */
	l.require_image = true;
	assert_int_equal(vm_profile_check(&p, &l, err, sizeof(err)), 0);
	l.image_sha256[0] ^= 1;
	assert_int_equal(vm_profile_check(&p, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ba7816bf"));
	p.flags = 0;
	assert_int_equal(vm_profile_check(&p, &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown"));
	/* An invalid profile is refused as such. */
	make_profile(&p);
	local_for(&p, &l);
	p.mem_size = 3;
	assert_int_equal(vm_profile_check(&p, &l, err, sizeof(err)), -EINVAL);
}

/* Memory the process cannot map (address-space limit), in a child. */
static void test_check_probes_the_mapping(void **state)
{
	struct vm_profile p;
	struct vm_profile_local l;
	int status;
	pid_t pid;

	(void)state;
	make_profile(&p);
	p.mem_size = 4ull << 30;
	local_for(&p, &l);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[600];
		struct rlimit rl;
		int ret;

		/* Below what the process already uses: any new mapping of
		 * 4 GiB fails (ASan's reservations are already in place). */
		getrlimit(RLIMIT_AS, &rl);
		rl.rlim_cur = 1ull << 30;
		setrlimit(RLIMIT_AS, &rl);
		ret = vm_profile_check(&p, &l, err, sizeof(err));
		_exit(ret == -ENOMEM && strstr(err, "cannot map") ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Unrestricted, 4 GiB maps (MAP_NORESERVE). */
	assert_int_equal(vm_profile_check(&p, &l, NULL, 0) == -ENOMEM, 0);
}

static void test_profile_of_a_vm(void **state)
{
	static struct rrvm_boot_info bi;
	struct elf_image img = {
	    .entry = 0x400000, .start = 0x400000, .end = 0x480000};
	const uint8_t mac[6] = {0x52, 0x54, 0, 0x77, 0, 2};
	struct vm_profile p;
	struct vm vm;
	char err[256];

	(void)state;
	memset(&vm, 0, sizeof(vm));
	vm.mem_size = 64ull << 20;
	vm.cpu_features = BIT(SSE4_2);
	vm.image_hash_known = true;
	memcpy(vm.image_sha256, abc_sha256, 32);
	vm.boot_info = &bi;
	assert_int_equal(
	    boot_info_build(&bi, vm.mem_size, &img,
			    "ip=10.77.0.2/24 mac=52:54:00:77:00:02 "
			    "gw=10.77.0.1 dirty=1000",
			    mac, err, sizeof(err)),
	    0);
	assert_int_equal(
	    vm_profile_from_vm(&vm, "build/guest/kv.elf", &p, err, sizeof(err)),
	    0);
	assert_int_equal(p.mem_size, vm.mem_size);
	assert_int_equal(p.cpu_features, BIT(SSE4_2));
	assert_int_equal(p.flags, VM_PROFILE_IMAGE_HASH);
	assert_memory_equal(p.image_sha256, abc_sha256, 32);
	assert_memory_equal(p.mac, mac, 6);
	assert_int_equal(p.prefix, 24);
	assert_int_equal(p.ip, inet_addr("10.77.0.2"));
	assert_int_equal(p.gateway, inet_addr("10.77.0.1"));
	assert_string_equal(p.image_name, "kv.elf");
	assert_string_equal(p.cmdline, bi.cmdline);
	/* Unknown image (restored from an old snapshot): no hash flag. */
	vm.image_hash_known = false;
	assert_int_equal(vm_profile_from_vm(&vm, NULL, &p, err, sizeof(err)),
			 0);
	assert_int_equal(p.flags, 0);
	assert_string_equal(p.image_name, "");
	/* No usable ip= (the page is guest-writable: anything can be). */
	snprintf(bi.cmdline, sizeof(bi.cmdline), "mac=52:54:00:77:00:02");
	assert_int_equal(vm_profile_from_vm(&vm, NULL, &p, err, sizeof(err)),
			 -EINVAL);
	snprintf(bi.cmdline, sizeof(bi.cmdline), "ip=10.77.0.300/24");
	assert_int_equal(vm_profile_from_vm(&vm, NULL, &p, err, sizeof(err)),
			 -EINVAL);
	snprintf(bi.cmdline, sizeof(bi.cmdline), "ip=10.77.0.2/24 gw=x");
	assert_int_equal(vm_profile_from_vm(&vm, NULL, &p, err, sizeof(err)),
			 -EINVAL);
	bi.magic = 0;
	assert_int_equal(vm_profile_from_vm(&vm, NULL, &p, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "boot info"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hashes),
	    cmocka_unit_test(test_wire_layout),
	    cmocka_unit_test(test_round_trip_through_the_decoder),
	    cmocka_unit_test(test_truncations_and_excess),
	    cmocka_unit_test(test_each_bad_field_is_refused),
	    cmocka_unit_test(test_bit_flips),
	    cmocka_unit_test(test_encode_refuses_invalid),
	    cmocka_unit_test(test_check_refuses_what_it_cannot_honour),
	    cmocka_unit_test(test_check_probes_the_mapping),
	    cmocka_unit_test(test_profile_of_a_vm),
	};

	return cmocka_run_group_tests_name("vm_profile", tests, NULL, NULL);
}
