/* SPDX-License-Identifier: MIT */
/*
 * The pre-shared key file of the secure replication link (docs/security.md).
 *
 * Format: two text lines,
 *
 *   rrvm-psk-v1
 *   <64 hex digits: the 32 key bytes>
 *
 * written by `rrvm keygen FILE` with mode 0600. Loading refuses a file that
 * group or others may read or write, one owned by someone other than the
 * caller (or root), anything but a regular file, and any other layout.
 */
#ifndef RRVM_KEY_FILE_H
#define RRVM_KEY_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/secure_handshake.h"

#define KEY_FILE_HEADER "rrvm-psk-v1"
#define KEY_FILE_MAX	256 /* anything longer is not a key file */

/* Write a fresh random key to path (O_CREAT|O_EXCL, mode 0600: never
 * overwrites). 0 or -errno with err filled (-EEXIST if path exists). */
int key_file_create(const char *path, char *err, size_t err_size);
/* Read and check a key file. 0 or -errno with err filled (-EPERM for bad
 * permissions or owner, -EINVAL for a bad format). */
int key_file_load(const char *path, uint8_t key[SECURE_KEY_BYTES], char *err,
		  size_t err_size);
/* The format check alone (exposed for tests). 0 or -EINVAL. */
int key_file_parse(const char *text, size_t len, uint8_t key[SECURE_KEY_BYTES],
		   char *err, size_t err_size);

#endif
