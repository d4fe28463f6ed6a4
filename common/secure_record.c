/* SPDX-License-Identifier: MIT */
#include "common/secure_record.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define NONCE_BYTES 12u

_Static_assert(crypto_aead_chacha20poly1305_IETF_NPUBBYTES == NONCE_BYTES &&
		       crypto_aead_aes256gcm_NPUBBYTES == NONCE_BYTES,
	       "both ciphers take the record counter as a 12-byte nonce");
_Static_assert(crypto_aead_chacha20poly1305_IETF_ABYTES == SECURE_RECORD_TAG &&
		       crypto_aead_aes256gcm_ABYTES == SECURE_RECORD_TAG,
	       "both ciphers make a SECURE_RECORD_TAG-byte tag");

const char *secure_cipher_name(enum secure_cipher c)
{
	return c == SECURE_CIPHER_AES256_GCM ? "aes256gcm" : "chacha20poly1305";
}

int secure_cipher_aes_available(void)
{
	return crypto_aead_aes256gcm_is_available();
}

static void record_nonce(uint8_t nonce[NONCE_BYTES], uint64_t counter)
{
	memset(nonce, 0, NONCE_BYTES);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

ssize_t secure_record_seal(struct secure_direction *d, const uint8_t *plain,
			   size_t len, uint8_t *out)
{
	uint8_t nonce[NONCE_BYTES];
	uint32_t body = (uint32_t)(len + SECURE_RECORD_TAG);
	unsigned long long clen;

	if (len == 0 || len > SECURE_RECORD_MAX_PLAINTEXT)
		return -EINVAL;
	if (d->counter == UINT64_MAX)
		return -EOVERFLOW;
	for (int i = 0; i < 4; i++)
		out[i] = (uint8_t)(body >> (8 * i));
	record_nonce(nonce, d->counter);
	if (d->cipher == SECURE_CIPHER_AES256_GCM)
		crypto_aead_aes256gcm_encrypt(out + SECURE_RECORD_HEADER, &clen,
					      plain, len, out,
					      SECURE_RECORD_HEADER, NULL, nonce,
					      d->key);
	else
		crypto_aead_chacha20poly1305_ietf_encrypt(
		    out + SECURE_RECORD_HEADER, &clen, plain, len, out,
		    SECURE_RECORD_HEADER, NULL, nonce, d->key);
	d->counter++;
	return (ssize_t)(SECURE_RECORD_HEADER + clen);
}

ssize_t secure_record_body_len(const uint8_t header[SECURE_RECORD_HEADER])
{
	uint32_t body = (uint32_t)header[0] | (uint32_t)header[1] << 8 |
			(uint32_t)header[2] << 16 | (uint32_t)header[3] << 24;

	if (body <= SECURE_RECORD_TAG ||
	    body > SECURE_RECORD_MAX_PLAINTEXT + SECURE_RECORD_TAG)
		return -EBADMSG;
	return body;
}

ssize_t secure_record_open(struct secure_direction *d, const uint8_t *record,
			   size_t record_len, uint8_t *plain)
{
	uint8_t nonce[NONCE_BYTES];
	unsigned long long plen;
	ssize_t body;
	int ret;

	if (record_len < SECURE_RECORD_HEADER)
		return -EBADMSG;
	body = secure_record_body_len(record);
	if (body < 0 || (size_t)body != record_len - SECURE_RECORD_HEADER)
		return -EBADMSG;
	if (d->counter == UINT64_MAX)
		return -EOVERFLOW;
	record_nonce(nonce, d->counter);
	if (d->cipher == SECURE_CIPHER_AES256_GCM)
		ret = crypto_aead_aes256gcm_decrypt(
		    plain, &plen, NULL, record + SECURE_RECORD_HEADER,
		    (unsigned long long)body, record, SECURE_RECORD_HEADER,
		    nonce, d->key);
	else
		ret = crypto_aead_chacha20poly1305_ietf_decrypt(
		    plain, &plen, NULL, record + SECURE_RECORD_HEADER,
		    (unsigned long long)body, record, SECURE_RECORD_HEADER,
		    nonce, d->key);
	if (ret != 0)
		return -EBADMSG;
	d->counter++;
	return (ssize_t)plen;
}
