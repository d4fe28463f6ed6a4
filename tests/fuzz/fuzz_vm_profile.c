// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the instance profile decoder (vmm/vm_profile.h):
 * the PROFILE payload a migration destination reads from the network.
 *
 * Input: the payload bytes. Checked: no crash/overrun (ASan/UBSan); every
 * rejection carries a reason; an accepted profile passes
 * vm_profile_validate, re-encodes to exactly the input bytes (the format
 * has one encoding per profile), goes through the checkpoint decoder as a
 * framed message unchanged, and vm_profile_check answers with one of its
 * documented results.
 *
 * Built with -DFUZZ_GEN_SEEDS (no libFuzzer) it writes seed inputs into
 * the directory given.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/ckpt_codec.h"
#include "vmm/cpu_features.h"
#include "vmm/vm_profile.h"
#include "tests/fuzz/fuzz_util.h"

static void check_accepted(const struct vm_profile *p, const uint8_t *data,
			   size_t size)
{
	struct vm_profile_local local;
	struct vm_profile again;
	struct ckpt_decoder d;
	struct ckpt_buf buf;
	struct ckpt_msg msg;
	char err[600];
	size_t used;
	int ret;

	CHECK(vm_profile_validate(p, err, sizeof(err)) == 0);
	ckpt_buf_init(&buf);
	CHECK(vm_profile_encode(&buf, p) == 0);
	CHECK(buf.len == 24 + size);
	CHECK(memcmp(buf.data + 24, data, size) == 0);
	ckpt_decoder_init(&d);
	CHECK(ckpt_decoder_feed(&d, buf.data, buf.len, &used, &msg) ==
	      CKPT_DECODE_MESSAGE);
	CHECK(vm_profile_decode(&msg, &again, err, sizeof(err)) == 0);
	CHECK(memcmp(&again, p, sizeof(*p)) == 0);
	ckpt_decoder_free(&d);
	ckpt_buf_free(&buf);

	/* A destination with half the features and a fixed image. */
	memset(&local, 0, sizeof(local));
	local.cpu_features = cpu_features_known() & 0x5555555555555555ull;
	local.max_mem = 1ull << 30;
	local.require_image = size % 2;
	err[0] = '\0';
	ret = vm_profile_check(p, &local, err, sizeof(err));
	CHECK(ret == 0 || ret == -ENOTSUP || ret == -ENOMEM || ret == -EINVAL);
	CHECK(ret == 0 || err[0] != '\0');
	CHECK(ret != -ENOTSUP ||
	      cpu_features_missing(p->cpu_features, local.cpu_features));
}

#ifndef FUZZ_GEN_SEEDS
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_profile p;
	char err[256];

	err[0] = '\0';
	if (vm_profile_decode_payload(data, size, &p, err, sizeof(err))) {
		CHECK(err[0] != '\0');
		return 0;
	}
	check_accepted(&p, data, size);
	return 0;
}
#else
/* ------------------------------------------------------ seed generator */

static void write_seed(const char *dir, const char *name,
		       const struct vm_profile *p)
{
	struct ckpt_buf buf;
	char path[4096];
	FILE *f;

	ckpt_buf_init(&buf);
	CHECK(vm_profile_encode(&buf, p) == 0);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f);
	CHECK(fwrite(buf.data + 24, 1, buf.len - 24, f) == buf.len - 24);
	fclose(f);
	check_accepted(p, buf.data + 24, buf.len - 24);
	ckpt_buf_free(&buf);
}

int main(int argc, char **argv)
{
	struct vm_profile p;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	memset(&p, 0, sizeof(p));
	p.version = VM_PROFILE_VERSION;
	p.flags = VM_PROFILE_IMAGE_HASH;
	p.mem_size = 64ull << 20;
	p.cpu_features = cpu_features_known() & ~cpu_features_orphans(0);
	memset(p.image_sha256, 0x5a, sizeof(p.image_sha256));
	memcpy(p.mac, "\x52\x54\x00\x77\x00\x02", 6);
	p.prefix = 24;
	inet_pton(AF_INET, "10.77.0.2", &p.ip);
	inet_pton(AF_INET, "10.77.0.1", &p.gateway);
	snprintf(p.image_name, sizeof(p.image_name), "kv.elf");
	snprintf(p.cmdline, sizeof(p.cmdline),
		 "ip=10.77.0.2/24 mac=52:54:00:77:00:02 gw=10.77.0.1");
	write_seed(argv[1], "kv-all-features", &p);
	p.flags = 0;
	memset(p.image_sha256, 0, sizeof(p.image_sha256));
	p.cpu_features = 0;
	p.gateway = 0;
	p.mem_size = 1ull << 30;
	memset(p.image_name, 0, sizeof(p.image_name));
	snprintf(p.cmdline, sizeof(p.cmdline),
		 "ip=10.0.0.2/8 mac=52:54:00:77:00:02 dirty=200000 "
		 "dirty_mb=512");
	write_seed(argv[1], "dirtier-1g-baseline", &p);
	return 0;
}
#endif
