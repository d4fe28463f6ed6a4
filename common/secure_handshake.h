/* SPDX-License-Identifier: MIT */
/*
 * The secure channel's mutual authentication (docs/security.md), as a state
 * machine that does no I/O: feed it the bytes the peer sent, send what it
 * leaves in `out`. common/secure_transport.c drives it over a socket; the
 * fuzz target drives it with arbitrary bytes.
 *
 * Both sides hold the same 32-byte pre-shared key (PSK). Four fixed-size
 * messages:
 *
 *   1. initiator -> responder  HELLO_I  magic "RRVMPSK1", role 'I', ciphers,
 *                                       2 zero bytes, nonce_i (32 random
 *                                       bytes)
 *   2. responder -> initiator  HELLO_R  magic, role 'R', ciphers, 2 zero
 *                                       bytes, nonce_r, proof_r
 *   3. initiator -> responder  PROOF_I  proof_i
 *   4. responder -> initiator  CONFIRM  confirm
 *
 * th  = BLAKE2b-256(len(context) | context | HELLO_I | HELLO_R minus proof)
 * prk = BLAKE2b-256 keyed with the PSK over ("rrvm-psk-v1" | th)
 * five subkeys from prk (crypto_kdf, context "rrvmpsk1"): responder proof,
 * initiator proof, confirm, initiator->responder records, responder->
 * initiator records;
 * proof_r = MAC(k_proof_r, th), proof_i = MAC(k_proof_i, th | proof_r),
 * confirm = MAC(k_confirm, th | proof_r | proof_i), MAC = keyed BLAKE2b-256.
 *
 * ciphers is a bit set of the record ciphers the sender can run besides
 * ChaCha20-Poly1305 (bit 0: AES-256-GCM); the session uses AES-256-GCM when
 * both set bit 0. Both hellos are in th, so a cipher byte changed on the way
 * fails the proofs (no silent downgrade).
 *
 * Fresh nonces from both sides make every th, and so every proof and
 * session key, new: a recorded PROOF_I does not match a new responder's
 * nonce. Each role proves with its own subkey, so a proof reflected back to
 * its sender never verifies. Comparisons are constant-time (sodium_memcmp).
 */
#ifndef RRVM_SECURE_HANDSHAKE_H
#define RRVM_SECURE_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "common/secure_record.h"

#define SECURE_KEY_BYTES     32u
#define SECURE_NONCE_BYTES   32u
#define SECURE_MAC_BYTES     32u
#define SECURE_CONTEXT_MAX   64u
#define SECURE_HELLO_I_BYTES (12u + SECURE_NONCE_BYTES)
#define SECURE_HELLO_R_BYTES (12u + SECURE_NONCE_BYTES + SECURE_MAC_BYTES)
#define SECURE_HS_MSG_MAX    SECURE_HELLO_R_BYTES
#define SECURE_CIPHER_AES_BIT 0x01u
#define SECURE_CIPHERS_KNOWN  SECURE_CIPHER_AES_BIT

enum secure_role {
	SECURE_ROLE_INITIATOR = 0, /* connects: the primary */
	SECURE_ROLE_RESPONDER = 1, /* accepts: the backup */
};

enum secure_hs_status {
	SECURE_HS_NEED_MORE = 0, /* send `out` (if any), then feed more */
	SECURE_HS_DONE = 1,	 /* send `out` (if any); keys are ready */
	SECURE_HS_ERROR = -1,	 /* err says why; the connection must close */
};

struct secure_handshake {
	enum secure_role role;
	int state; /* which message is expected next */
	uint8_t ciphers_local; /* what we advertise (SECURE_CIPHER_*_BIT) */
	uint8_t psk[SECURE_KEY_BYTES];
	uint8_t context_hash[32]; /* BLAKE2b of len | context */
	uint8_t nonce_local[SECURE_NONCE_BYTES];
	uint8_t hello_i[SECURE_HELLO_I_BYTES];
	uint8_t hello_r[SECURE_HELLO_R_BYTES];
	uint8_t th[32];
	uint8_t proof_i[SECURE_MAC_BYTES];
	uint8_t k_proof_r[32], k_proof_i[32], k_confirm[32];
	/* Reassembly of the expected message. */
	uint8_t in[SECURE_HS_MSG_MAX];
	size_t in_len;
	/* Bytes for the peer, produced by init/feed; the driver sends them
	 * and sets out_len = 0. */
	uint8_t out[SECURE_HS_MSG_MAX];
	size_t out_len;
	/* When DONE: the record keys for each direction. */
	uint8_t key_send[SECURE_KEY_BYTES];
	uint8_t key_recv[SECURE_KEY_BYTES];
	enum secure_cipher cipher; /* for both directions */
	int error; /* -EACCES: the peer lacks the key; -EPROTO: not ours */
	char err[128];
};

/*
 * Start a handshake. context names what the channel is for (e.g.
 * "rrvm-replication"); both sides must use the same one (at most
 * SECURE_CONTEXT_MAX bytes). The initiator's HELLO_I is left in `out`.
 * 0 or -EINVAL (context too long) / -ENOSYS (libsodium failed to init).
 */
int secure_handshake_init(struct secure_handshake *hs, enum secure_role role,
			  const uint8_t psk[SECURE_KEY_BYTES],
			  const char *context);
/* The same, advertising the given cipher bits instead of this host's (for
 * tests). -EINVAL for unknown bits. */
int secure_handshake_init_ciphers(struct secure_handshake *hs,
				  enum secure_role role,
				  const uint8_t psk[SECURE_KEY_BYTES],
				  const char *context, uint8_t ciphers);
/* What this host advertises: SECURE_CIPHER_AES_BIT when libsodium can run
 * AES-256-GCM here, unless RRVM_SECURE_CIPHER=chacha20poly1305 (benchmarks). */
uint8_t secure_handshake_local_ciphers(void);
/* Bytes the next expected message still needs (0 once DONE or failed).
 * Drivers read at most this many, so nothing after the handshake is eaten. */
size_t secure_handshake_wanted(const struct secure_handshake *hs);
/* Feed received bytes; *consumed says how many were used (never more than
 * secure_handshake_wanted()). */
enum secure_hs_status secure_handshake_feed(struct secure_handshake *hs,
					    const uint8_t *data, size_t len,
					    size_t *consumed);
/* Wipe every secret (call after taking key_send/key_recv). */
void secure_handshake_wipe(struct secure_handshake *hs);

#endif
