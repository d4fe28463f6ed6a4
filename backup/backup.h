/* SPDX-License-Identifier: MIT */
/*
 * The backup role: accept the primary's replication link, commit each epoch
 * only when it arrived whole (backup/replica.c), acknowledge it, keep the
 * reverse-mode replay log (backup/reverse.c), and decide when this host must
 * take over: the primary crashed or fell silent (failover), or it handed the
 * VM over on purpose (switchover). Taking over is backup/takeover.c; what
 * runs afterwards is the caller's business (cli/ha_node.c).
 *
 * One primary at a time: while a session is live, a connection from another
 * primary run is refused; the same primary reconnecting resumes.
 */
#ifndef RRVM_BACKUP_H
#define RRVM_BACKUP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backup/incoming_channels.h"
#include "backup/liveness.h"
#include "backup/replica.h"
#include "backup/reverse.h"
#include "common/repl_protocol.h"
#include "vmm/vm_profile.h"

struct transport;
struct control_command;
struct pollfd;
struct repl_acceptor;
struct repl_accepted;

struct backup_config {
	const char *listen_addr; /* ADDR:PORT */
	unsigned detect_timeout_ms; /* the longest silence before a failover */
	/* Failure detection (docs/replication-protocol.md): the heartbeat
	 * period (ours to the primary, and what we expect of it; 0: no
	 * heartbeat path), the detectors' floor, the second path. */
	unsigned heartbeat_ms;
	unsigned detect_floor_ms;
	const char *lan_listen; /* NULL: the replication path only */
	int rt_priority; /* of the heartbeat receiver; 0: normal */
	/* Reverse replication: topology != TOPOLOGY_NONE captures. */
	struct reverse_config reverse;
	/* Pre-shared key (NULL: --insecure, no authentication). */
	const uint8_t *key;
	/*
	 * Non-NULL: this is a live migration's destination (rrvm incoming,
	 * backup/incoming.c), accepting exactly one migration whose profile
	 * this host can honour; any failure ends it (nothing is kept).
	 */
	const struct vm_profile_local *incoming;
};

enum backup_outcome {
	BACKUP_STOPPED = 0, /* asked to stop (signal) */
	BACKUP_PRIMARY_FAILED, /* crashed or silent: fail over (fence!) */
	BACKUP_HANDED_OVER, /* the primary gave us the VM (no fence) */
	/* incoming: the migration is off (why in in.why); everything
	 * received is void */
	BACKUP_MIGRATION_FAILED,
};

/* Why a failover was decided (for the report). */
enum backup_detector {
	DETECT_NONE = 0,
	DETECT_SILENCE, /* the only path silent beyond its threshold */
	DETECT_BOTH_SILENT, /* the replication and the LAN path silent */
	DETECT_LINK_CLOSED, /* the link closed without a goodbye */
	DETECT_HANDOVER_CUT, /* the link closed in the middle of a handover */
};

struct backup_stats {
	uint64_t bytes_rx;
	uint64_t max_silence_ns; /* longest gap between receives */
	uint64_t connections_refused; /* another primary while live */
	uint64_t acks_sent;
};

/* A further channel of a migration coming in (1..N-1; channel 0 is the
 * backup's link). */
struct incoming_link {
	struct transport *link;
	struct ckpt_decoder dec;
	uint64_t last_rx_ns;
};

/* A migration coming in (cfg.incoming); under the backup's lock. */
struct backup_incoming {
	struct incoming_channels channels;
	struct incoming_link chan[REPL_MAX_CHANNELS]; /* [0] unused */
	uint64_t profile_ok_ns; /* further channels join from then on */
	uint8_t poll_channel[REPL_MAX_CHANNELS]; /* incoming_poll_fds' order */
	struct vm_profile profile;
	bool profile_ok; /* checked and accepted: pages may come */
	bool failed;	 /* the migration is off */
	int code;	 /* errno of the failure */
	char why[300];
	uint64_t rounds; /* pre-copy rounds committed */
	uint64_t pages;	 /* pages committed */
	uint64_t first_rx_ns, final_begin_ns, go_ns;
};

/* What one read of a link takes at most (rx_buf's size). */
#define BACKUP_RECV_CHUNK (256 * 1024)

struct backup {
	struct backup_config cfg;
	struct repl_acceptor *acceptor;
	struct transport *link;
	struct ckpt_decoder dec;
	struct replica replica;
	uint64_t last_rx_ns;
	uint64_t last_tx_ns; /* our last message to the primary */
	uint64_t session; /* the primary run we replicate (0: none yet) */
	enum repl_mode mode; /* as the primary said in HELLO */
	unsigned epoch_ms;
	bool stood_down; /* the primary said goodbye: do not take over */
	uint8_t *rx_buf;

	/* A handover in progress (HANDOVER received, READY sent). */
	bool handover_ready;
	uint64_t handover_epoch;
	char handover_listen[64]; /* where the old primary will listen */

	enum backup_detector detector;
	uint64_t detected_ns;
	uint64_t detect_threshold_ns; /* the replication path's, at detection */

	/* Failure detection over both paths (backup/liveness.h). */
	struct liveness liveness;
	bool liveness_on;
	/* Our checkpoint predates a reconnection or a new primary run: the
	 * primary ran unprotected meanwhile; not ours to run until a full
	 * epoch commits. */
	bool resync_pending;
	/* The link closed while this host had just stalled: confirm with
	 * fresh heartbeats before failing over. */
	bool close_pending;
	uint64_t closed_ns;
	bool rep_silent_noted, lan_silent_noted, released_noted;

	struct reverse *reverse; /* NULL: no capture (buffered mode) */
	struct backup_incoming in; /* cfg.incoming only */

	/*
	 * The receive loop holds lock while it changes the replica and the
	 * fields above; the control thread takes it to read them.
	 */
	pthread_mutex_t lock;
	struct backup_stats stats;
	int state; /* enum backup_state */
};

enum backup_state {
	BACKUP_STATE_WAITING = 0,
	BACKUP_STATE_REPLICATING,
	BACKUP_STATE_STOOD_DOWN,
	BACKUP_STATE_TAKING_OVER,
	/* Holds a checkpoint it must not run: the primary ran unprotected
	 * since (it gave up on the link, or reconnected); a full epoch
	 * follows when the link is back. */
	BACKUP_STATE_STANDING_BY,
};

/* Listen and (reverse mode) start capturing. 0 or -errno. */
int backup_init(struct backup *b, const struct backup_config *cfg);
/*
 * Serve until something happens: *stop set (BACKUP_STOPPED; read with an
 * atomic load, it is set by a signal handler), the primary failed, or it
 * handed over. 0 with *outcome, or -errno.
 */
int backup_serve(struct backup *b, const int *stop,
		 enum backup_outcome *outcome);
/* Free what backup_init made. The reverse state (capture, replay log) is
 * handed to *reverse_keep if given (the takeover replays it), else freed. */
void backup_free(struct backup *b, struct reverse **reverse_keep);

/* Take the link out of the backup (it then is the caller's to close): a
 * migration's destination answers DONE on it after the takeover. */
struct transport *backup_take_link(struct backup *b);

/* incoming.c: the destination side of a live migration, called by the
 * receive loop with b->lock held. */
/* A new link: false if it was refused (and closed). */
bool incoming_admit(struct backup *b, struct repl_accepted *a);
/* Messages that belong to the migration protocol, and the checks a
 * migration needs on epochs: true if the message was consumed. */
bool incoming_message(struct backup *b, const struct ckpt_msg *msg);
/* The link is being dropped (why): in incoming mode the migration is off;
 * the source hears why (CANCEL) if the link still carries it. */
void incoming_link_dropped(struct backup *b, const char *why);
/* The migration is off with a reason (code: errno). */
void incoming_fail(struct backup *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The further channels' links, for the receive loop's poll: fills pfd
 * (room for REPL_MAX_CHANNELS) and returns how many. */
unsigned incoming_poll_fds(struct backup *b, struct pollfd *pfd);
/* After poll: read the channels whose pfd entries (as filled) have
 * events. */
void incoming_poll_done(struct backup *b, const struct pollfd *pfd, unsigned n);
/* When a further channel that joined (or has yet to) has been silent too
 * long; UINT64_MAX: none. */
uint64_t incoming_channels_deadline(struct backup *b);
/* Close the further channels (backup_free). */
void incoming_close_channels(struct backup *b);

/* backup.c, for incoming.c: one message of an epoch from stream (a
 * migration's channel; 0 for the backup's own link) into the replica, and
 * what follows a commit (ACK on the link). b->lock held. */
void backup_epoch_message(struct backup *b, unsigned stream,
			  const struct ckpt_msg *msg);

/* The mode the VM was replicated in, for the next protection. */
static inline enum repl_mode backup_mode(const struct backup *b)
{
	return b->mode;
}

const char *backup_detector_name(enum backup_detector d);
const char *backup_state_name(int state);

/* backup_control.c: `status` and `log-dump` (ctx = b). */
#define BACKUP_CONTROL_COMMANDS 2
size_t backup_control_commands(struct backup *b, struct control_command *out);

#endif
