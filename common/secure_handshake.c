/* SPDX-License-Identifier: MIT */
#include "common/secure_handshake.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC	    "RRVMPSK1"
#define MAGIC_LEN   8u
#define ROLE_I	    'I'
#define ROLE_R	    'R'
#define PRK_LABEL   "rrvm-psk-v1"
#define KDF_CONTEXT "rrvmpsk1" /* crypto_kdf: exactly 8 bytes */

enum { KDF_PROOF_R = 1, KDF_PROOF_I, KDF_CONFIRM, KDF_I_TO_R, KDF_R_TO_I };

enum hs_state {
	HS_FIRST = 0,  /* I: expect HELLO_R; R: expect HELLO_I */
	HS_SECOND = 1, /* I: expect CONFIRM; R: expect PROOF_I */
	HS_DONE = 2,
	HS_FAILED = 3,
};

static void mac(uint8_t out[SECURE_MAC_BYTES], const uint8_t key[32],
		const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
		const uint8_t *c, size_t c_len)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, 32, SECURE_MAC_BYTES);
	crypto_generichash_update(&st, a, a_len);
	if (b_len)
		crypto_generichash_update(&st, b, b_len);
	if (c_len)
		crypto_generichash_update(&st, c, c_len);
	crypto_generichash_final(&st, out, SECURE_MAC_BYTES);
	sodium_memzero(&st, sizeof(st));
}

static void hello_header(uint8_t *p, char role, uint8_t ciphers)
{
	memcpy(p, MAGIC, MAGIC_LEN);
	p[8] = (uint8_t)role;
	p[9] = ciphers;
	p[10] = p[11] = 0;
}

static int hello_check(struct secure_handshake *hs, const uint8_t *p, char role)
{
	if (memcmp(p, MAGIC, MAGIC_LEN) != 0) {
		snprintf(hs->err, sizeof(hs->err),
			 "peer does not speak the rrvm secure channel (bad "
			 "magic; is it running with --insecure?)");
		return -EPROTO;
	}
	if (p[8] != (uint8_t)role || (p[9] & ~SECURE_CIPHERS_KNOWN) || p[10] ||
	    p[11]) {
		snprintf(hs->err, sizeof(hs->err),
			 "peer has the wrong role or flags (0x%02x, want '%c'): "
			 "two %s talking to each other?",
			 p[8], role,
			 role == ROLE_I ? "responders" : "initiators");
		return -EPROTO;
	}
	return 0;
}

/* th, then every subkey, from both hellos (the responder's minus proof). */
static void derive(struct secure_handshake *hs)
{
	crypto_generichash_state st;
	uint8_t prk[crypto_kdf_KEYBYTES];
	uint8_t k_i_to_r[32], k_r_to_i[32];

	crypto_generichash_init(&st, NULL, 0, sizeof(hs->th));
	crypto_generichash_update(&st, hs->context_hash,
				  sizeof(hs->context_hash));
	crypto_generichash_update(&st, hs->hello_i, SECURE_HELLO_I_BYTES);
	crypto_generichash_update(&st, hs->hello_r,
				  SECURE_HELLO_R_BYTES - SECURE_MAC_BYTES);
	crypto_generichash_final(&st, hs->th, sizeof(hs->th));

	mac(prk, hs->psk, (const uint8_t *)PRK_LABEL, strlen(PRK_LABEL), hs->th,
	    sizeof(hs->th), NULL, 0);
	crypto_kdf_derive_from_key(hs->k_proof_r, 32, KDF_PROOF_R, KDF_CONTEXT,
				   prk);
	crypto_kdf_derive_from_key(hs->k_proof_i, 32, KDF_PROOF_I, KDF_CONTEXT,
				   prk);
	crypto_kdf_derive_from_key(hs->k_confirm, 32, KDF_CONFIRM, KDF_CONTEXT,
				   prk);
	crypto_kdf_derive_from_key(k_i_to_r, 32, KDF_I_TO_R, KDF_CONTEXT, prk);
	crypto_kdf_derive_from_key(k_r_to_i, 32, KDF_R_TO_I, KDF_CONTEXT, prk);
	/* Both hellos are in th, so a changed cipher byte fails the proofs. */
	hs->cipher = (hs->hello_i[9] & hs->hello_r[9] & SECURE_CIPHER_AES_BIT)
			 ? SECURE_CIPHER_AES256_GCM
			 : SECURE_CIPHER_CHACHA20_POLY1305;
	if (hs->role == SECURE_ROLE_INITIATOR) {
		memcpy(hs->key_send, k_i_to_r, 32);
		memcpy(hs->key_recv, k_r_to_i, 32);
	} else {
		memcpy(hs->key_send, k_r_to_i, 32);
		memcpy(hs->key_recv, k_i_to_r, 32);
	}
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(k_i_to_r, sizeof(k_i_to_r));
	sodium_memzero(k_r_to_i, sizeof(k_r_to_i));
	sodium_memzero(&st, sizeof(st));
}

uint8_t secure_handshake_local_ciphers(void)
{
	const char *force = getenv("RRVM_SECURE_CIPHER");

	if (sodium_init() < 0)
		return 0;
	/* Benchmarks compare the two ciphers on one host. */
	if (force && strcmp(force, "chacha20poly1305") == 0)
		return 0;
	return secure_cipher_aes_available() ? SECURE_CIPHER_AES_BIT : 0;
}

int secure_handshake_init(struct secure_handshake *hs, enum secure_role role,
			  const uint8_t psk[SECURE_KEY_BYTES],
			  const char *context)
{
	return secure_handshake_init_ciphers(hs, role, psk, context,
					     secure_handshake_local_ciphers());
}

int secure_handshake_init_ciphers(struct secure_handshake *hs,
				  enum secure_role role,
				  const uint8_t psk[SECURE_KEY_BYTES],
				  const char *context, uint8_t ciphers)
{
	size_t clen = context ? strlen(context) : 0;
	uint8_t len_byte = (uint8_t)clen;
	crypto_generichash_state st;

	memset(hs, 0, sizeof(*hs));
	hs->state = HS_FAILED;
	if (sodium_init() < 0) {
		snprintf(hs->err, sizeof(hs->err), "libsodium failed to start");
		return -ENOSYS;
	}
	if (clen > SECURE_CONTEXT_MAX) {
		snprintf(hs->err, sizeof(hs->err), "context longer than %u",
			 SECURE_CONTEXT_MAX);
		return -EINVAL;
	}
	if (ciphers & ~SECURE_CIPHERS_KNOWN) {
		snprintf(hs->err, sizeof(hs->err), "unknown cipher bits 0x%02x",
			 ciphers);
		return -EINVAL;
	}
	hs->role = role;
	hs->ciphers_local = ciphers;
	memcpy(hs->psk, psk, SECURE_KEY_BYTES);
	crypto_generichash_init(&st, NULL, 0, sizeof(hs->context_hash));
	crypto_generichash_update(&st, &len_byte, 1);
	crypto_generichash_update(&st, (const uint8_t *)context, clen);
	crypto_generichash_final(&st, hs->context_hash,
				 sizeof(hs->context_hash));
	randombytes_buf(hs->nonce_local, SECURE_NONCE_BYTES);
	if (role == SECURE_ROLE_INITIATOR) {
		hello_header(hs->hello_i, ROLE_I, ciphers);
		memcpy(hs->hello_i + 12, hs->nonce_local, SECURE_NONCE_BYTES);
		memcpy(hs->out, hs->hello_i, SECURE_HELLO_I_BYTES);
		hs->out_len = SECURE_HELLO_I_BYTES;
	}
	hs->state = HS_FIRST;
	return 0;
}

size_t secure_handshake_wanted(const struct secure_handshake *hs)
{
	size_t need;

	switch (hs->state) {
	case HS_FIRST:
		need = hs->role == SECURE_ROLE_INITIATOR ? SECURE_HELLO_R_BYTES
							 : SECURE_HELLO_I_BYTES;
		break;
	case HS_SECOND:
		need = SECURE_MAC_BYTES;
		break;
	default:
		return 0;
	}
	return need - hs->in_len;
}

/* Initiator got HELLO_R: check the responder's proof, answer with ours. */
static int on_hello_r(struct secure_handshake *hs)
{
	uint8_t want[SECURE_MAC_BYTES];
	const uint8_t *proof = hs->in + 12 + SECURE_NONCE_BYTES;
	int ret = hello_check(hs, hs->in, ROLE_R);

	if (ret)
		return ret;
	if (sodium_memcmp(hs->in + 12, hs->nonce_local, SECURE_NONCE_BYTES) ==
	    0) {
		snprintf(hs->err, sizeof(hs->err),
			 "peer echoed our own nonce (a reflection)");
		return -EPROTO;
	}
	memcpy(hs->hello_r, hs->in, SECURE_HELLO_R_BYTES);
	derive(hs);
	mac(want, hs->k_proof_r, hs->th, sizeof(hs->th), NULL, 0, NULL, 0);
	if (sodium_memcmp(want, proof, SECURE_MAC_BYTES) != 0) {
		snprintf(hs->err, sizeof(hs->err),
			 "peer failed to prove the key (wrong key file?)");
		return -EACCES;
	}
	mac(hs->proof_i, hs->k_proof_i, hs->th, sizeof(hs->th), proof,
	    SECURE_MAC_BYTES, NULL, 0);
	memcpy(hs->out, hs->proof_i, SECURE_MAC_BYTES);
	hs->out_len = SECURE_MAC_BYTES;
	return 0;
}

/* Responder got HELLO_I: pick our nonce, prove the key. */
static int on_hello_i(struct secure_handshake *hs)
{
	int ret = hello_check(hs, hs->in, ROLE_I);

	if (ret)
		return ret;
	memcpy(hs->hello_i, hs->in, SECURE_HELLO_I_BYTES);
	hello_header(hs->hello_r, ROLE_R, hs->ciphers_local);
	memcpy(hs->hello_r + 12, hs->nonce_local, SECURE_NONCE_BYTES);
	derive(hs);
	mac(hs->hello_r + 12 + SECURE_NONCE_BYTES, hs->k_proof_r, hs->th,
	    sizeof(hs->th), NULL, 0, NULL, 0);
	memcpy(hs->out, hs->hello_r, SECURE_HELLO_R_BYTES);
	hs->out_len = SECURE_HELLO_R_BYTES;
	return 0;
}

/* Responder got PROOF_I: check it, confirm. */
static int on_proof_i(struct secure_handshake *hs)
{
	const uint8_t *proof_r = hs->hello_r + 12 + SECURE_NONCE_BYTES;
	uint8_t want[SECURE_MAC_BYTES];

	mac(want, hs->k_proof_i, hs->th, sizeof(hs->th), proof_r,
	    SECURE_MAC_BYTES, NULL, 0);
	if (sodium_memcmp(want, hs->in, SECURE_MAC_BYTES) != 0) {
		snprintf(hs->err, sizeof(hs->err),
			 "peer failed to prove the key (wrong key file, or a "
			 "replayed handshake)");
		return -EACCES;
	}
	memcpy(hs->proof_i, hs->in, SECURE_MAC_BYTES);
	mac(hs->out, hs->k_confirm, hs->th, sizeof(hs->th), proof_r,
	    SECURE_MAC_BYTES, hs->proof_i, SECURE_MAC_BYTES);
	hs->out_len = SECURE_MAC_BYTES;
	return 0;
}

/* Initiator got CONFIRM: the responder accepted our proof. */
static int on_confirm(struct secure_handshake *hs)
{
	uint8_t want[SECURE_MAC_BYTES];

	mac(want, hs->k_confirm, hs->th, sizeof(hs->th),
	    hs->hello_r + 12 + SECURE_NONCE_BYTES, SECURE_MAC_BYTES,
	    hs->proof_i, SECURE_MAC_BYTES);
	if (sodium_memcmp(want, hs->in, SECURE_MAC_BYTES) != 0) {
		snprintf(hs->err, sizeof(hs->err),
			 "peer's confirmation does not verify");
		return -EACCES;
	}
	return 0;
}

enum secure_hs_status secure_handshake_feed(struct secure_handshake *hs,
					    const uint8_t *data, size_t len,
					    size_t *consumed)
{
	size_t want = secure_handshake_wanted(hs);
	size_t take = len < want ? len : want;
	int ret;

	*consumed = 0;
	if (hs->state == HS_DONE)
		return SECURE_HS_DONE;
	if (hs->state == HS_FAILED)
		return SECURE_HS_ERROR;
	memcpy(hs->in + hs->in_len, data, take);
	hs->in_len += take;
	*consumed = take;
	if (take < want)
		return SECURE_HS_NEED_MORE;
	if (hs->role == SECURE_ROLE_INITIATOR)
		ret = hs->state == HS_FIRST ? on_hello_r(hs) : on_confirm(hs);
	else
		ret = hs->state == HS_FIRST ? on_hello_i(hs) : on_proof_i(hs);
	hs->in_len = 0;
	if (ret) {
		hs->error = ret;
		hs->state = HS_FAILED;
		hs->out_len = 0;
		return SECURE_HS_ERROR;
	}
	hs->state++;
	return hs->state == HS_DONE ? SECURE_HS_DONE : SECURE_HS_NEED_MORE;
}

void secure_handshake_wipe(struct secure_handshake *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}
