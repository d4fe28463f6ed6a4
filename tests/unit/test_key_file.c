/* SPDX-License-Identifier: MIT */
/*
 * The pre-shared key file: keygen writes a fresh 0600 key and never
 * overwrites; loading refuses loose permissions, other layouts and
 * non-files, each with a message that says what to do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/key_file.h"

static char dir[64];

static int make_dir(void **state)
{
	strcpy(dir, "/tmp/rrvm-keytest-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, const char *name)
{
	snprintf(out, 128, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_create_then_load(void **state)
{
	char path[128], path2[128], err[256];
	uint8_t k1[SECURE_KEY_BYTES], k2[SECURE_KEY_BYTES];
	static const uint8_t zero[SECURE_KEY_BYTES];
	struct stat st;

	path_of(path, "a.key");
	path_of(path2, "b.key");
	umask(022);
	assert_int_equal(key_file_create(path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(key_file_load(path, k1, err, sizeof(err)), 0);
	assert_memory_not_equal(k1, zero, sizeof(k1));
	/* Fresh each time. */
	assert_int_equal(key_file_create(path2, err, sizeof(err)), 0);
	assert_int_equal(key_file_load(path2, k2, err, sizeof(err)), 0);
	assert_memory_not_equal(k1, k2, sizeof(k1));
}

static void test_create_refuses_overwrite(void **state)
{
	char path[128], link_path[128], err[256];
	uint8_t before[SECURE_KEY_BYTES], after[SECURE_KEY_BYTES];

	path_of(path, "keep.key");
	assert_int_equal(key_file_create(path, err, sizeof(err)), 0);
	assert_int_equal(key_file_load(path, before, err, sizeof(err)), 0);
	assert_int_equal(key_file_create(path, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "refusing to overwrite"));
	assert_int_equal(key_file_load(path, after, err, sizeof(err)), 0);
	assert_memory_equal(before, after, sizeof(before));
	/* Nor through a dangling symlink planted where the key goes. */
	path_of(link_path, "planted.key");
	assert_int_equal(symlink("/tmp/rrvm-keytest-nowhere", link_path), 0);
	assert_true(key_file_create(link_path, err, sizeof(err)) < 0);
	assert_int_equal(access("/tmp/rrvm-keytest-nowhere", F_OK), -1);
}

static void test_create_in_missing_dir(void **state)
{
	char err[256];

	assert_int_equal(
	    key_file_create("/nonexistent-dir/x.key", err, sizeof(err)),
	    -ENOENT);
	assert_non_null(strstr(err, "cannot create"));
}

static void test_load_refuses_loose_mode(void **state)
{
	char path[128], err[256];
	uint8_t key[SECURE_KEY_BYTES];

	path_of(path, "loose.key");
	write_file(path,
		   "rrvm-psk-v1\n"
		   "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c"
		   "1d1e1f\n",
		   0644);
	assert_int_equal(key_file_load(path, key, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_non_null(strstr(err, "0644"));
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(key_file_load(path, key, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(key_file_load(path, key, err, sizeof(err)), 0);
	assert_int_equal(key[0], 0);
	assert_int_equal(key[31], 0x1f);
}

static void test_load_refuses_bad_format(void **state)
{
	static const char *const bad[] = {
	    "",
	    "rrvm-psk-v1\n",
	    "rrvm-psk-"
	    "v2\n000102030405060708090a0b0c0d0e0f101112131415161718191a"
	    "1b1c1d1e1f\n",
	    /* 31 bytes */
	    "rrvm-psk-"
	    "v1\n000102030405060708090a0b0c0d0e0f101112131415161718191a"
	    "1b1c1d1e\n",
	    /* not hex */
	    "rrvm-psk-"
	    "v1\n000102030405060708090a0b0c0d0e0f101112131415161718191a"
	    "1b1c1d1e1g\n",
	    /* trailing line */
	    "rrvm-psk-"
	    "v1\n000102030405060708090a0b0c0d0e0f101112131415161718191a"
	    "1b1c1d1e1f\nextra\n",
	    /* raw bytes instead of the text form */
	    "0123456789abcdef0123456789abcdef",
	};
	char path[128], err[256];
	uint8_t key[SECURE_KEY_BYTES];

	path_of(path, "bad.key");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unlink(path);
		write_file(path, bad[i], 0600);
		assert_int_equal(key_file_load(path, key, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, path));
	}
	/* Without the final newline is fine. */
	unlink(path);
	write_file(
	    path,
	    "rrvm-psk-v1\n000102030405060708090A0B0C0D0E0F1011121314151617"
	    "18191a1b1c1d1e1f",
	    0600);
	assert_int_equal(key_file_load(path, key, err, sizeof(err)), 0);
	assert_int_equal(key[10], 0x0a);
}

static void test_load_refuses_non_files(void **state)
{
	char err[256];
	uint8_t key[SECURE_KEY_BYTES];

	assert_int_equal(key_file_load(dir, key, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(key_file_load("/dev/null", key, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(
	    key_file_load("/nonexistent.key", key, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open key file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_then_load),
	    cmocka_unit_test(test_create_refuses_overwrite),
	    cmocka_unit_test(test_create_in_missing_dir),
	    cmocka_unit_test(test_load_refuses_loose_mode),
	    cmocka_unit_test(test_load_refuses_bad_format),
	    cmocka_unit_test(test_load_refuses_non_files),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
