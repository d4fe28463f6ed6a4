/* SPDX-License-Identifier: MIT */
#include "common/key_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEX_LEN (2 * SECURE_KEY_BYTES)

int key_file_parse(const char *text, size_t len, uint8_t key[SECURE_KEY_BYTES],
		   char *err, size_t err_size)
{
	size_t hlen = strlen(KEY_FILE_HEADER);
	const char *hex = text + hlen + 1;
	size_t bin_len = 0;
	const char *end;

	if (len < hlen + 1 || memcmp(text, KEY_FILE_HEADER, hlen) != 0 ||
	    text[hlen] != '\n') {
		snprintf(err, err_size,
			 "not an rrvm key file (the first line must be '%s'; "
			 "make one with 'rrvm keygen FILE')",
			 KEY_FILE_HEADER);
		return -EINVAL;
	}
	len -= hlen + 1;
	/* One optional newline after the hex, nothing else. */
	if (len == HEX_LEN + 1 && hex[HEX_LEN] == '\n')
		len--;
	if (len != HEX_LEN ||
	    sodium_hex2bin(key, SECURE_KEY_BYTES, hex, HEX_LEN, NULL, &bin_len,
			   &end) != 0 ||
	    bin_len != SECURE_KEY_BYTES || end != hex + HEX_LEN) {
		snprintf(err, err_size,
			 "the second line must be exactly %u hex digits (a "
			 "%u-byte key)",
			 HEX_LEN, SECURE_KEY_BYTES);
		sodium_memzero(key, SECURE_KEY_BYTES);
		return -EINVAL;
	}
	return 0;
}

static int check_file(const char *path, int fd, char *err, size_t err_size)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		snprintf(err, err_size,
			 "%s: group or others may access the key (mode %04o); "
			 "run 'chmod 600 %s'",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, err_size,
			 "%s: owned by uid %u, not by you (uid %u) or root",
			 path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if (st.st_size > KEY_FILE_MAX) {
		snprintf(err, err_size, "%s: too large for a key file", path);
		return -EINVAL;
	}
	return 0;
}

int key_file_load(const char *path, uint8_t key[SECURE_KEY_BYTES], char *err,
		  size_t err_size)
{
	char text[KEY_FILE_MAX + 1];
	char why[160];
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, err_size, "cannot open key file %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	ret = check_file(path, fd, err, err_size);
	if (ret)
		goto out;
	do {
		n = read(fd, text, sizeof(text));
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		ret = -errno;
		snprintf(err, err_size, "reading %s: %s", path,
			 strerror(errno));
		goto out;
	}
	ret = key_file_parse(text, (size_t)n, key, why, sizeof(why));
	if (ret)
		snprintf(err, err_size, "%s: %s", path, why);
out:
	sodium_memzero(text, sizeof(text));
	close(fd);
	return ret;
}

int key_file_create(const char *path, char *err, size_t err_size)
{
	uint8_t key[SECURE_KEY_BYTES];
	char text[sizeof(KEY_FILE_HEADER) + HEX_LEN + 2];
	size_t len, off = 0;
	int fd, ret = 0;

	if (sodium_init() < 0) {
		snprintf(err, err_size, "libsodium failed to start");
		return -ENOSYS;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		ret = -errno;
		if (errno == EEXIST)
			snprintf(err, err_size,
				 "%s already exists; refusing to overwrite a "
				 "key (remove it first to replace it)",
				 path);
		else
			snprintf(err, err_size, "cannot create %s: %s", path,
				 strerror(errno));
		return ret;
	}
	/* The umask may only have narrowed 0600; make it exact. */
	if (fchmod(fd, 0600) < 0) {
		ret = -errno;
		snprintf(err, err_size, "chmod %s: %s", path, strerror(errno));
		goto out;
	}
	randombytes_buf(key, sizeof(key));
	len = (size_t)snprintf(text, sizeof(text), "%s\n", KEY_FILE_HEADER);
	sodium_bin2hex(text + len, HEX_LEN + 1, key, sizeof(key));
	len += HEX_LEN;
	text[len++] = '\n';
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			snprintf(err, err_size, "writing %s: %s", path,
				 strerror(-ret));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		ret = -errno;
		snprintf(err, err_size, "fsync %s: %s", path, strerror(errno));
	}
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(text, sizeof(text));
	if (close(fd) < 0 && !ret) {
		ret = -errno;
		snprintf(err, err_size, "closing %s: %s", path,
			 strerror(errno));
	}
	if (ret)
		unlink(path);
	return ret;
}
