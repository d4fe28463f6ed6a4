/* SPDX-License-Identifier: MIT */
/*
 * The heartbeat path: small UDP datagrams from the primary to the backup,
 * sent every --heartbeat ms by a dedicated thread on both the replication
 * network (to the backup's --listen address) and the LAN (--lan-peer), and
 * received by a dedicated thread (backup/liveness.c). They are what the
 * backup's adaptive detectors learn from (backup/detector.c), and the
 * second path tells a dead replication link from a dead primary
 * (docs/replication-protocol.md, "Failure detection").
 *
 * A datagram says: this primary run (session) is alive, its sequence
 * number, and whether it has released output the backup's checkpoint does
 * not cover (it gave up on its backup and runs unprotected).
 */
#ifndef RRVM_HEARTBEAT_H
#define RRVM_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HEARTBEAT_MAGIC	    0x42485252u /* "RRHB" */
#define HEARTBEAT_VERSION   1u
#define HEARTBEAT_BYTES	    32u	 /* on the wire today */
#define HEARTBEAT_MAX_BYTES 128u /* room for an authentication tag */

struct heartbeat_msg {
	uint64_t session; /* the primary run (its HELLO's session) */
	uint64_t seq;	  /* +1 per datagram of this sender */
	/*
	 * 0: the primary never ran unprotected towards this backup since the
	 * session began. Else the last epoch it collected before it gave up
	 * on the replication link and released output: a backup whose
	 * committed epoch is not newer must not take over from it.
	 */
	uint64_t released_after;
};

/*
 * Build and check one datagram. These two are the only places that know
 * the format. With the pair's pre-shared key (NULL: --insecure) build
 * appends an authentication tag and check verifies it, so nobody without
 * the key can make the backup believe the primary lives (replays are the
 * receiver's to refuse, by sequence number: backup/liveness.c).
 * build: bytes written or -ENOSPC; check: 0, or -EBADMSG (not ours,
 * wrong size, version or tag).
 */
ssize_t heartbeat_build(const struct heartbeat_msg *m, const uint8_t *key,
			uint8_t *buf, size_t cap);
int heartbeat_check(const uint8_t *buf, size_t len, const uint8_t *key,
		    struct heartbeat_msg *m);

/* A non-blocking UDP socket bound to "A.B.C.D:PORT" (receive side, with a
 * receive buffer for seconds of beats). fd or -errno. */
int heartbeat_socket_bind(const char *addr);

/*
 * Run the calling thread at SCHED_FIFO priority (1..99): a heartbeat
 * thread must not wait behind busy work on a 2-core host. 0, or -errno
 * (e.g. -EPERM without CAP_SYS_NICE: the thread stays as it was). A
 * priority of 0 does nothing and returns -ENOTSUP.
 */
int heartbeat_realtime(int priority);

#endif
