/* SPDX-License-Identifier: MIT */
/*
 * The secure channel's records (docs/security.md), without I/O:
 *
 *   u32 little-endian length of what follows | ciphertext | 16-byte tag
 *
 * sealed with the session's AEAD (AES-256-GCM when both hosts have AES-NI
 * and CLMUL, else ChaCha20-Poly1305 IETF; the handshake picks it) under the
 * direction's session key;
 * the nonce is the direction's record counter (4 zero bytes, then the
 * counter little-endian), never sent, so a replayed, reordered or dropped
 * record fails to open at the receiver. The length header is the AEAD's
 * associated data. Each direction has its own key from the handshake, so a
 * record reflected back to its sender does not open either.
 */
#ifndef RRVM_SECURE_RECORD_H
#define RRVM_SECURE_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SECURE_RECORD_HEADER 4u
#define SECURE_RECORD_TAG    16u
/* Largest plaintext in one record: big enough that the per-record cost
 * (two syscalls at most, one AEAD call) is small next to the bytes. */
#define SECURE_RECORD_MAX_PLAINTEXT (64u * 1024u)
#define SECURE_RECORD_MAX_BYTES                                                \
	(SECURE_RECORD_HEADER + SECURE_RECORD_MAX_PLAINTEXT + SECURE_RECORD_TAG)

/* The record ciphers. Both take a 32-byte key and a 12-byte nonce and
 * make a 16-byte tag, so the record format does not depend on the choice. */
enum secure_cipher {
	SECURE_CIPHER_CHACHA20_POLY1305 = 0, /* everywhere; the default */
	SECURE_CIPHER_AES256_GCM = 1,	     /* with AES-NI: ~1.5x faster here */
};

/* One direction of a session. counter is the next record's number; the
 * session ends (-EOVERFLOW) before it could wrap. */
struct secure_direction {
	uint8_t key[32];
	uint64_t counter;
	enum secure_cipher cipher;
};

/* "aes256gcm" / "chacha20poly1305". */
const char *secure_cipher_name(enum secure_cipher c);
/* Whether this host can run AES-256-GCM (libsodium needs AES-NI and CLMUL).
 * Call after sodium_init(). */
int secure_cipher_aes_available(void);

/* Seal len (1..SECURE_RECORD_MAX_PLAINTEXT) bytes into out, which must hold
 * len + SECURE_RECORD_HEADER + SECURE_RECORD_TAG. Returns the record's size
 * or -EINVAL / -EOVERFLOW. */
ssize_t secure_record_seal(struct secure_direction *d, const uint8_t *plain,
			   size_t len, uint8_t *out);
/* From a record's 4-byte header: how many bytes follow it. -EBADMSG when
 * the length is out of bounds (the stream is not ours, or was altered). */
ssize_t secure_record_body_len(const uint8_t header[SECURE_RECORD_HEADER]);
/* Open one whole record (header included) into plain (room for
 * body_len - SECURE_RECORD_TAG bytes; may not overlap record). Returns the
 * plaintext length, or -EBADMSG when it does not authenticate as the next
 * record of this direction (counter unchanged then: the caller ends the
 * session). */
ssize_t secure_record_open(struct secure_direction *d, const uint8_t *record,
			   size_t record_len, uint8_t *plain);

#endif
