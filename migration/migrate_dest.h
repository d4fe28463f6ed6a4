/* SPDX-License-Identifier: MIT */
/*
 * Live migration, the destination's last steps (`rrvm incoming`; receiving
 * the migration is the backup role's job, backup/incoming.c). Once the VM
 * built from it is attached here:
 *
 *  - DONE on the migration link: the source stops its frozen VM;
 *  - then, on a thread of its own while the VM runs, the frames the source
 *    forwards (FRAMES: client frames that reached the source's TAP while
 *    the VM was frozen, before the switch learnt the new port) are put on
 *    this host's TAP towards the guest, so those clients do not wait for a
 *    TCP retransmission; the link is closed when the source closes it.
 *
 * If the VM could not be built, migrate_dest_abandon tells the source why
 * (CANCEL): it resumes its VM.
 */
#ifndef RRVM_MIGRATE_DEST_H
#define RRVM_MIGRATE_DEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct transport;

struct migrate_dest {
	struct transport *link;
	int packet_fd; /* AF_PACKET on the TAP: frames towards the guest */
	pthread_t thread;
	bool running;
	int stop;			 /* __atomic */
	uint64_t frames, frames_dropped; /* __atomic */
};

/*
 * Send DONE (what this side measured), then deliver forwarded frames on
 * tap until the source closes the link. 0, or -errno when DONE could not
 * be sent: the source will resume its VM, so this one must not run (the
 * link is closed then).
 */
int migrate_dest_done(struct migrate_dest *d, struct transport *link,
		      const char *tap, uint64_t downtime_ns,
		      uint64_t restore_ns);
/* Stop delivering, close the link (after the VM stopped, or at once). */
void migrate_dest_finish(struct migrate_dest *d);
/*
 * Fault injection for tests (tests/integration/test_migration.sh): with
 * RRVM_TEST_INCOMING_FAULT=die-after-go the destination kills itself
 * right after GO (the source must resume), with hang-after-go it stops
 * itself (SIGSTOP: a silent link; the source must stay frozen). Called
 * between GO and the takeover; does nothing without the variable.
 */
void migrate_dest_test_fault(void);

/* The VM could not be started here: CANCEL (best effort), close. */
void migrate_dest_abandon(struct transport *link, int code, const char *why);

#endif
