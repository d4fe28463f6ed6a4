/* SPDX-License-Identifier: MIT */
#include "backup/backup.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/repl_link.h"
#include "common/secure_transport.h"
#include "common/transport.h"
#include "vmm/vm_stats.h"

/* Messages read per turn of the receive loop: a flood on the link cannot
 * starve the detector's clock. */
#define RECEIVE_BATCH_MAX 64
/* The confirm window's floor (see confirm_window_ns): a stall of a few
 * scheduler ticks is common on a loaded host. */
#define CONFIRM_WINDOW_MIN_NS 20000000ull

const char *backup_detector_name(enum backup_detector d)
{
	switch (d) {
	case DETECT_SILENCE:
		return "silence";
	case DETECT_BOTH_SILENT:
		return "both-paths-silent";
	case DETECT_LINK_CLOSED:
		return "link-closed";
	case DETECT_HANDOVER_CUT:
		return "handover-cut";
	case DETECT_NONE:
		break;
	}
	return "none";
}

const char *backup_state_name(int state)
{
	switch (state) {
	case BACKUP_STATE_WAITING:
		return "waiting";
	case BACKUP_STATE_REPLICATING:
		return "replicating";
	case BACKUP_STATE_STOOD_DOWN:
		return "stood-down";
	case BACKUP_STATE_TAKING_OVER:
		return "taking-over";
	case BACKUP_STATE_STANDING_BY:
		return "standing-by";
	}
	return "unknown";
}

static void set_state(struct backup *b, enum backup_state st)
{
	stat_set(b->state, (int)st);
}

/*
 * Our checkpoint no longer covers what the primary's clients saw: it
 * reconnected (a new run, or the same one after dropping the link), or
 * it told us over a heartbeat path that it gave up on us and released
 * output after an epoch we hold.
 */
static bool stale(struct backup *b)
{
	uint64_t released =
	    b->liveness_on ? liveness_released_after(&b->liveness) : 0;

	if (released && released >= b->replica.committed_epoch &&
	    !b->released_noted) {
		b->released_noted = true;
		log_warn("the primary gave up on the replication link after "
			 "epoch %llu and runs UNPROTECTED: standing by (no "
			 "failover from epoch %llu) until it resynchronises",
			 (unsigned long long)released,
			 (unsigned long long)b->replica.committed_epoch);
	}
	return b->resync_pending ||
	       (released && released >= b->replica.committed_epoch);
}

static bool can_take_over(struct backup *b)
{
	return b->replica.committed && !b->stood_down && !stale(b);
}

/* The state `status` shows, from the facts above. */
static void update_state(struct backup *b)
{
	int st = stat_read(b->state);

	if (st == BACKUP_STATE_TAKING_OVER)
		return;
	set_state(b, b->stood_down	     ? BACKUP_STATE_STOOD_DOWN
		     : !b->replica.committed ? BACKUP_STATE_WAITING
		     : stale(b)		     ? BACKUP_STATE_STANDING_BY
					     : BACKUP_STATE_REPLICATING);
	if (b->reverse)
		reverse_set_standing_by(b->reverse,
					stat_read(b->state) ==
					    BACKUP_STATE_STANDING_BY);
}

/* Caller holds b->lock. */
static void drop_link(struct backup *b, const char *why)
{
	if (!b->link)
		return;
	log_warn("replication link from %s dropped: %s", b->link->peer, why);
	if (b->cfg.incoming)
		incoming_link_dropped(b, why);
	if (b->replica.staging) {
		/* An epoch cut off mid-way is rejected like a corrupt one. */
		b->replica.epochs_rejected++;
		log_warn("discarded incomplete epoch %llu; keeping committed "
			 "epoch %llu",
			 (unsigned long long)b->replica.staging_epoch,
			 (unsigned long long)b->replica.committed_epoch);
	}
	b->link->ops->close(b->link);
	b->link = NULL;
	replica_abort_epoch(&b->replica);
	if (b->reverse)
		reverse_aborted(b->reverse);
	ckpt_decoder_reset(&b->dec);
	b->handover_ready = false;
}

static int send_signal(struct backup *b, enum repl_msg_type type,
		       uint64_t epoch)
{
	struct ckpt_buf buf;
	int ret;

	ckpt_buf_init(&buf);
	ret = type == REPL_MSG_ACK ? repl_encode_ack(&buf, epoch)
	      : type == REPL_MSG_HEARTBEAT
		  ? repl_encode_heartbeat(&buf, epoch)
		  : repl_encode_signal(&buf, type, epoch);
	if (!ret)
		ret = b->link->ops->send(b->link, buf.data, buf.len);
	if (!ret)
		b->last_tx_ns = clock_mono_ns();
	ckpt_buf_free(&buf);
	return ret;
}

/*
 * HANDOVER: the primary froze its VM after the epoch it names. Ready only
 * if exactly that epoch is committed and nothing is half-received.
 */
static void handle_handover(struct backup *b, const struct ckpt_msg *msg)
{
	struct repl_handover h;
	bool ok;

	ok = repl_decode_handover(msg, &h) == 0 && b->replica.committed &&
	     !b->replica.staging &&
	     b->replica.committed_epoch == msg->header.epoch &&
	     !(h.flags & REPL_HANDOVER_MIGRATE) == !b->cfg.incoming;
	if (!ok) {
		log_warn("handover at epoch %llu refused: committed epoch "
			 "%llu%s",
			 (unsigned long long)msg->header.epoch,
			 (unsigned long long)b->replica.committed_epoch,
			 b->replica.staging ? ", one in flight" : "");
		if (send_signal(b, REPL_MSG_HANDOVER_ABORT, msg->header.epoch))
			drop_link(b, "cannot refuse the handover");
		return;
	}
	snprintf(b->handover_listen, sizeof(b->handover_listen), "%s",
		 (h.flags & REPL_HANDOVER_RETURN) ? h.listen : "");
	b->handover_epoch = msg->header.epoch;
	b->handover_ready = true;
	log_info("handover: epoch %llu committed; ready to take over%s%s",
		 (unsigned long long)msg->header.epoch,
		 b->handover_listen[0] ? " (the old primary will listen on " : "",
		 b->handover_listen[0] ? b->handover_listen : "");
	if (b->handover_listen[0])
		log_info("handover: ... %s)", b->handover_listen);
	if (send_signal(b, REPL_MSG_HANDOVER_READY, msg->header.epoch))
		drop_link(b, "cannot answer the handover");
}

/* Returns true when the loop must end with *outcome. Holds b->lock. */
static bool handle_message(struct backup *b, const struct ckpt_msg *msg,
			   enum backup_outcome *outcome)
{
	if (incoming_message(b, msg))
		return false;
	switch (msg->header.type) {
	case REPL_MSG_HEARTBEAT:
		return false;
	case REPL_MSG_RX_DIGESTS:
		if (b->reverse && reverse_digests(b->reverse, msg)) {
			log_error("malformed frame digests in epoch %llu",
				  (unsigned long long)msg->header.epoch);
			drop_link(b, "bad digests");
		}
		return false;
	case REPL_MSG_GOODBYE:
		log_warn("the primary stopped in order and said goodbye: "
			 "standing down (no failover for session %llx)",
			 (unsigned long long)b->session);
		b->stood_down = true;
		update_state(b);
		drop_link(b, "goodbye");
		return false;
	case REPL_MSG_HANDOVER:
		handle_handover(b, msg);
		return false;
	case REPL_MSG_HANDOVER_GO:
		if (!b->handover_ready ||
		    msg->header.epoch != b->handover_epoch) {
			drop_link(b, "GO without a handover");
			return false;
		}
		b->in.go_ns = clock_mono_ns();
		*outcome = BACKUP_HANDED_OVER;
		return true;
	case REPL_MSG_HANDOVER_ABORT:
		log_info("handover at epoch %llu cancelled by the primary",
			 (unsigned long long)msg->header.epoch);
		b->handover_ready = false;
		return false;
	case REPL_MSG_HELLO:
		drop_link(b, "HELLO in the middle of a session");
		return false;
	}
	if (msg->header.type > CKPT_MSG_TYPE_MAX)
		return false; /* unknown protocol message: ignore */
	backup_epoch_message(b, 0, msg);
	return false;
}

void backup_epoch_message(struct backup *b, unsigned stream,
			  const struct ckpt_msg *msg)
{
	int ret;

	if (b->handover_ready) {
		drop_link(b, "an epoch after the handover");
		return;
	}
	if (!b->cfg.incoming && msg->header.type == CKPT_MSG_BEGIN &&
	    (msg->begin.flags & CKPT_BEGIN_PAGES_ONLY)) {
		b->replica.epochs_rejected++;
		drop_link(b, "a pages-only epoch (a migration's pre-copy "
			     "round) on a replication link");
		return;
	}
	/* A migration's channels each carry part of a round. */
	ret = b->cfg.incoming ? replica_stream_message(&b->replica, stream, msg)
			      : replica_message(&b->replica, msg);
	if (ret < 0) {
		/* Another build's state layout is refused, not corrupt: the
		 * peer must run a compatible rrvm (docs/checkpoint-format.md,
		 * "Compatibility rule"). */
		const char *kind =
		    ret == -EPROTONOSUPPORT ? "incompatible" : "corrupt";
		char why[sizeof(b->replica.err) + 32];

		log_error("rejected epoch %llu (%s): %s; keeping committed "
			  "epoch %llu",
			  (unsigned long long)msg->header.epoch, kind,
			  b->replica.err,
			  (unsigned long long)b->replica.committed_epoch);
		snprintf(why, sizeof(why), "%s epoch: %s", kind,
			 b->replica.err);
		drop_link(b, why);
		return;
	}
	if (ret != 1 || !b->link)
		return;
	if (b->reverse)
		reverse_committed(b->reverse, msg->header.epoch);
	if (b->cfg.incoming && !b->replica.committed) {
		b->in.rounds++;
	} else if (b->replica.committed_full) {
		log_info("committed full checkpoint (epoch %llu); ready to "
			 "take over",
			 (unsigned long long)msg->header.epoch);
		b->resync_pending = false;
		b->released_noted = false;
		update_state(b);
	}
	if (send_signal(b, REPL_MSG_ACK, msg->header.epoch))
		drop_link(b, "cannot send ack");
	else
		stat_inc(b->stats.acks_sent);
}

static void note_rx(struct backup *b)
{
	uint64_t now = clock_mono_ns();

	if (b->replica.committed && b->last_rx_ns &&
	    now - b->last_rx_ns > stat_read(b->stats.max_silence_ns))
		stat_set(b->stats.max_silence_ns, now - b->last_rx_ns);
	b->last_rx_ns = now;
}

/*
 * After a stall of this host, the link's end may be old news next to
 * heartbeats not read yet: this long for fresh ones before believing it.
 */
static uint64_t confirm_window_ns(const struct backup *b)
{
	uint64_t w = 4ull * b->cfg.heartbeat_ms * 1000000u;

	return w > CONFIRM_WINDOW_MIN_NS ? w : CONFIRM_WINDOW_MIN_NS;
}

/* The link closed or broke. Returns true if that is a failover. */
static bool link_lost(struct backup *b, ssize_t n)
{
	uint64_t now = clock_mono_ns();
	bool can;

	if (b->cfg.incoming) {
		/* Whatever the moment: the source keeps (or resumes) its VM
		 * unless it sent GO, which ends the loop before this. */
		drop_link(b,
			  n == 0 ? "the source closed it" : strerror((int)-n));
		return false;
	}
	/* What the primary said last (it may have given up on us). */
	if (b->liveness_on)
		liveness_drain(&b->liveness);
	can = can_take_over(b);
	if (b->handover_ready && can) {
		/* We said READY; the primary may have frozen for good. */
		b->detector = DETECT_HANDOVER_CUT;
		drop_link(b, "cut during the handover");
		return true;
	}
	drop_link(b, n == 0 ? "primary closed it" : strerror((int)-n));
	update_state(b);
	if (!can)
		return false;
	if (b->liveness_on &&
	    liveness_stalled_since(&b->liveness, now - confirm_window_ns(b))) {
		b->close_pending = true;
		b->closed_ns = now;
		log_warn("the link closed right after this host stalled: "
			 "waiting %.0f ms for the primary's heartbeats before "
			 "failing over",
			 confirm_window_ns(b) / 1e6);
		return false;
	}
	/* No goodbye: the primary's process died (its kernel closed the
	 * socket). Waiting out the silence timeout would only add outage. */
	b->detector = DETECT_LINK_CLOSED;
	return true;
}

enum rx_result { RX_AGAIN, RX_DATA, RX_DONE };

/* One read. RX_DONE: the loop must end with *outcome. */
static enum rx_result receive(struct backup *b, enum backup_outcome *outcome)
{
	ssize_t n = b->link->ops->recv(b->link, b->rx_buf, BACKUP_RECV_CHUNK);
	size_t off = 0;
	bool done = false;

	if (n == -EAGAIN || n == -EINTR)
		return RX_AGAIN;
	pthread_mutex_lock(&b->lock);
	if (n <= 0) {
		if (link_lost(b, n)) {
			*outcome = BACKUP_PRIMARY_FAILED;
			done = true;
		}
		goto out;
	}
	note_rx(b);
	stat_add(b->stats.bytes_rx, (uint64_t)n);
	while (off < (size_t)n && b->link && !done) {
		struct ckpt_msg msg;
		size_t used = 0;
		enum ckpt_decode_status st = ckpt_decoder_feed(
		    &b->dec, b->rx_buf + off, (size_t)n - off, &used, &msg);

		off += used;
		if (st == CKPT_DECODE_ERROR) {
			char why[sizeof(b->dec.err) + 32];

			log_error(
			    "rejected replication stream: %s; keeping "
			    "committed epoch %llu",
			    b->dec.err,
			    (unsigned long long)b->replica.committed_epoch);
			b->replica.epochs_rejected++;
			snprintf(why, sizeof(why), "corrupt stream: %s",
				 b->dec.err);
			drop_link(b, why);
			break;
		}
		if (st == CKPT_DECODE_NEED_MORE)
			break;
		done = handle_message(b, &msg, outcome);
	}
out:
	if (b->in.failed) {
		*outcome = BACKUP_MIGRATION_FAILED;
		done = true;
	}
	pthread_mutex_unlock(&b->lock);
	return done ? RX_DONE : b->link ? RX_DATA : RX_AGAIN;
}

/*
 * Read until the link has nothing more (it is non-blocking): an encrypted
 * link may hold decrypted bytes that poll() cannot see. Bounded, so a
 * flood cannot starve the detector's clock.
 */
static bool receive_all(struct backup *b, enum backup_outcome *outcome)
{
	for (int i = 0; i < RECEIVE_BATCH_MAX && b->link; i++) {
		enum rx_result r = receive(b, outcome);

		if (r == RX_DONE)
			return true;
		if (r == RX_AGAIN)
			break;
	}
	return false;
}

/* A connection that passed authentication and said HELLO. */
static void adopt(struct backup *b, struct repl_accepted *a)
{
	const struct repl_hello *h = &a->hello;

	pthread_mutex_lock(&b->lock);
	if (!incoming_admit(b, a)) {
		pthread_mutex_unlock(&b->lock);
		return;
	}
	if (b->link && h->session != b->session) {
		stat_inc(b->stats.connections_refused);
		log_warn("refused a second primary from %s (session %llx) "
			 "while session %llx from %s is live",
			 a->link->peer, (unsigned long long)h->session,
			 (unsigned long long)b->session, b->link->peer);
		a->link->ops->close(a->link);
		pthread_mutex_unlock(&b->lock);
		return;
	}
	if (b->link)
		drop_link(b, "the same primary reconnected");
	if (b->session && h->session != b->session)
		log_warn("a new primary run (session %llx) replaces %llx; "
			 "waiting for its full checkpoint",
			 (unsigned long long)h->session,
			 (unsigned long long)b->session);
	if (h->session != b->session)
		b->stood_down = false;
	/*
	 * A new run, or the same one back after dropping its link (it ran
	 * unprotected meanwhile): what we hold is not its state any more.
	 */
	if (b->replica.committed)
		b->resync_pending = true;
	b->close_pending = false;
	b->session = h->session;
	b->mode = (enum repl_mode)h->mode;
	b->epoch_ms = h->epoch_ms;
	b->link = a->link;
	if (b->liveness_on)
		liveness_set_session(&b->liveness, h->session);
	update_state(b);
	/* The detect clock ran across the gap too. */
	note_rx(b);
	log_info("primary %s connected: %s mode, %llu MiB, epoch %u ms%s",
		 b->link->peer, repl_mode_name(b->mode),
		 (unsigned long long)(h->mem_size >> 20), h->epoch_ms,
		 a->authenticated ? "" : " (UNAUTHENTICATED link)");
	pthread_mutex_unlock(&b->lock);
}

/* Is there unread data on the link right now? */
static bool link_readable(struct backup *b)
{
	struct pollfd p = {.fd = b->link->ops->fd(b->link), .events = POLLIN};

	return poll(&p, 1, 0) > 0 && p.revents;
}

static void note_detector(struct backup *b, enum backup_detector d,
			  uint64_t last_heard_ns)
{
	pthread_mutex_lock(&b->lock);
	b->detector = d;
	b->last_rx_ns = last_heard_ns;
	drop_link(b, backup_detector_name(d));
	pthread_mutex_unlock(&b->lock);
}

/*
 * Should we fail over now (every path silent, or a closed link
 * confirmed)? Returns the detector (*last_heard_ns: when the primary was
 * last heard on any path), or DETECT_NONE with *next_ns = when to look
 * again. Only asked while we could take over.
 */
static enum backup_detector judge(struct backup *b, uint64_t now,
				  uint64_t *next_ns, uint64_t *last_heard_ns)
{
	uint64_t timeout_ns = (uint64_t)b->cfg.detect_timeout_ms * 1000000u;
	struct liveness_verdict v;

	if (b->close_pending) {
		if (liveness_heard_since(&b->liveness, b->closed_ns)) {
			b->close_pending = false;
			log_warn("the link closed but the primary's heartbeats "
				 "go on: no failover; waiting for it to "
				 "reconnect");
		} else if (now >= b->closed_ns + confirm_window_ns(b)) {
			b->close_pending = false;
			return DETECT_LINK_CLOSED;
		} else {
			*next_ns = b->closed_ns + confirm_window_ns(b);
			return DETECT_NONE;
		}
	}
	if (!b->liveness_on) {
		/* No heartbeat path: the link's silence alone decides. */
		b->detect_threshold_ns = timeout_ns;
		*next_ns = b->last_rx_ns + timeout_ns;
		return now >= *next_ns ? DETECT_SILENCE : DETECT_NONE;
	}
	liveness_judge(&b->liveness, b->last_rx_ns, now, &v);
	*next_ns = v.next_ns;
	b->detect_threshold_ns = v.threshold_ns;
	if (v.lan_silent != b->lan_silent_noted && v.state == LIVENESS_ALIVE) {
		if (v.lan_silent)
			log_warn(
			    "the LAN path is silent while the replication "
			    "link speaks: no failover; if the link fails "
			    "now, it alone decides (check --lan-peer on the "
			    "primary and the LAN ports)");
		else
			log_info("the LAN path hears the primary again");
		b->lan_silent_noted = v.lan_silent;
	}
	if (v.state == LIVENESS_ALIVE) {
		if (b->rep_silent_noted)
			log_info("the replication path is back");
		b->rep_silent_noted = false;
		return DETECT_NONE;
	}
	if (v.state == LIVENESS_REP_SILENT) {
		if (!b->rep_silent_noted)
			log_warn("the replication link is silent (%.0f ms) but "
				 "the primary beats on the LAN: a link "
				 "failure, not a dead primary; no failover",
				 (now - b->last_rx_ns) / 1e6);
		b->rep_silent_noted = true;
		return DETECT_NONE;
	}
	*last_heard_ns = v.last_heard_ns;
	return v.lan ? DETECT_BOTH_SILENT : DETECT_SILENCE;
}

/*
 * Our heartbeat to the primary: it gives up on a backup silent for its
 * --detect-timeout, so we speak at least every 50 ms even with our own
 * heartbeat path off (epochs, hence acks, may be seconds apart).
 */
#define BACKUP_HEARTBEAT_MAX_MS 50u

static void heartbeat_primary(struct backup *b, uint64_t now, uint64_t *next_ns)
{
	unsigned ms =
	    b->cfg.heartbeat_ms && b->cfg.heartbeat_ms < BACKUP_HEARTBEAT_MAX_MS
		? b->cfg.heartbeat_ms
		: BACKUP_HEARTBEAT_MAX_MS;
	uint64_t hb = (uint64_t)ms * 1000000u;

	if (!b->link)
		return;
	if (now >= b->last_tx_ns + hb) {
		pthread_mutex_lock(&b->lock);
		if (send_signal(b, REPL_MSG_HEARTBEAT,
				b->replica.committed_epoch))
			drop_link(b, "cannot send a heartbeat");
		pthread_mutex_unlock(&b->lock);
	}
	if (b->link && b->last_tx_ns + hb < *next_ns)
		*next_ns = b->last_tx_ns + hb;
}

int backup_serve(struct backup *b, const int *stop,
		 enum backup_outcome *outcome)
{
	*outcome = BACKUP_STOPPED;
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd[2 + REPL_MAX_CHANNELS];
		int nfds = 0, wait_ms = -1, link_i = -1, chan_i = 0;
		unsigned chans = 0;
		struct repl_accepted acc;
		uint64_t now = clock_mono_ns(), next = UINT64_MAX;

		pfd[nfds++] = (struct pollfd){.fd = repl_accept_fd(b->acceptor),
					      .events = POLLIN};
		if (b->link) {
			link_i = nfds;
			pfd[nfds++] = (struct pollfd){
			    .fd = b->link->ops->fd(b->link), .events = POLLIN};
		}
		if (b->cfg.incoming) {
			chan_i = nfds;
			chans = incoming_poll_fds(b, pfd + nfds);
			nfds += (int)chans;
		}
		heartbeat_primary(b, now, &next);
		update_state(b);
		if (b->cfg.incoming) {
			/* A migration coming in never fails over: it gives up
			 * on a silent source. */
			uint64_t deadline =
			    b->last_rx_ns +
			    (uint64_t)b->cfg.detect_timeout_ms * 1000000u;
			uint64_t chan_deadline = incoming_channels_deadline(b);

			if (chan_deadline < deadline)
				deadline = chan_deadline;
			if (b->link && now >= deadline) {
				pthread_mutex_lock(&b->lock);
				drop_link(b,
					  chan_deadline <= now
					      ? "silence on a further channel"
					      : "silence");
				pthread_mutex_unlock(&b->lock);
				*outcome = BACKUP_MIGRATION_FAILED;
				break;
			}
			if (b->link && deadline < next)
				next = deadline;
		} else if (can_take_over(b)) {
			uint64_t heard = b->last_rx_ns;
			enum backup_detector d = judge(b, now, &next, &heard);

			/* Silence only if nothing waits unread: this loop
			 * may have been busy, not the primary quiet. */
			if (d != DETECT_NONE && b->link &&
			    d != DETECT_LINK_CLOSED && link_readable(b)) {
				d = DETECT_NONE;
				next = now;
			}
			if (d != DETECT_NONE) {
				note_detector(b, d, heard);
				*outcome = BACKUP_PRIMARY_FAILED;
				break;
			}
		} else {
			b->close_pending = false;
		}
		if (next != UINT64_MAX)
			wait_ms = next <= now
				      ? 0
				      : (int)((next - now + 999999) / 1000000);
		if (poll(pfd, (nfds_t)nfds, wait_ms) < 0 && errno != EINTR)
			return -errno;
		if ((pfd[0].revents & POLLIN) &&
		    repl_accept_take(b->acceptor, &acc) == 0) {
			adopt(b, &acc);
			/* Bytes may already wait decrypted past the HELLO. */
			if (b->link && receive_all(b, outcome))
				break;
			if (b->in.failed) {
				*outcome = BACKUP_MIGRATION_FAILED;
				break;
			}
		}
		if (link_i >= 0 && b->link && pfd[link_i].revents &&
		    receive_all(b, outcome))
			break;
		if (chans) {
			pthread_mutex_lock(&b->lock);
			incoming_poll_done(b, pfd + chan_i, chans);
			pthread_mutex_unlock(&b->lock);
			if (b->in.failed) {
				*outcome = BACKUP_MIGRATION_FAILED;
				break;
			}
		}
	}
	if (*outcome == BACKUP_HANDED_OVER ||
	    *outcome == BACKUP_PRIMARY_FAILED) {
		b->detected_ns = clock_mono_ns();
		set_state(b, BACKUP_STATE_TAKING_OVER);
	}
	return 0;
}

int backup_init(struct backup *b, const struct backup_config *cfg)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->cfg = *cfg;
	pthread_mutex_init(&b->lock, NULL);
	ckpt_decoder_init(&b->dec);
	replica_init(&b->replica);
	b->rx_buf = malloc(BACKUP_RECV_CHUNK);
	if (!b->rx_buf) {
		ret = -ENOMEM;
		goto out;
	}
	ret = repl_accept_start_as(
	    cfg->listen_addr, cfg->key,
	    cfg->incoming ? SECURE_CONTEXT_MIGRATION : NULL, &b->acceptor);
	if (ret) {
		log_error("cannot listen on %s: %s", cfg->listen_addr,
			  strerror(-ret));
		goto out;
	}
	if (cfg->heartbeat_ms) {
		struct liveness_config lc = {
		    .rep_listen = cfg->listen_addr,
		    .lan_listen = cfg->lan_listen,
		    .interval_ms = cfg->heartbeat_ms,
		    .detect =
			{
			    .floor_ns =
				(uint64_t)cfg->detect_floor_ms * 1000000u,
			    .cap_ns =
				(uint64_t)cfg->detect_timeout_ms * 1000000u,
			    .k_tenths = DETECTOR_DEFAULT_K_TENTHS,
			    .spread_tenths = DETECTOR_DEFAULT_SPREAD_TENTHS,
			},
		    .rt_priority = cfg->rt_priority,
		    .key = cfg->key,
		};

		ret = liveness_start(&b->liveness, &lc);
		if (ret)
			goto out;
		b->liveness_on = true;
	}
	if (cfg->reverse.topology != TOPOLOGY_NONE) {
		b->reverse = calloc(1, sizeof(*b->reverse));
		ret = b->reverse ? reverse_start(b->reverse, &cfg->reverse)
				 : -ENOMEM;
		if (ret) {
			log_error("cannot start capturing on %s: %s",
				  cfg->reverse.capture_if, strerror(-ret));
			goto out;
		}
	}
	if (cfg->incoming)
		log_info("waiting for a migration on %s (silence timeout %u "
			 "ms%s)",
			 cfg->listen_addr, cfg->detect_timeout_ms,
			 cfg->key ? "" : ", UNAUTHENTICATED: --insecure");
	else
		log_info(
		    "waiting for a primary on %s (detect: adaptive, floor %u "
		    "ms, "
		    "cap %u ms; heartbeats %s%s%s%s)",
		    cfg->listen_addr, cfg->detect_floor_ms,
		    cfg->detect_timeout_ms,
		    cfg->heartbeat_ms ? "on the replication path" : "off",
		    cfg->heartbeat_ms && cfg->lan_listen ? " and on the LAN at "
							 : "",
		    cfg->heartbeat_ms && cfg->lan_listen ? cfg->lan_listen : "",
		    cfg->key ? "" : "; link UNAUTHENTICATED: --insecure");
	return 0;
out:
	backup_free(b, NULL);
	return ret;
}

struct transport *backup_take_link(struct backup *b)
{
	struct transport *t;

	pthread_mutex_lock(&b->lock);
	t = b->link;
	b->link = NULL;
	pthread_mutex_unlock(&b->lock);
	return t;
}

void backup_free(struct backup *b, struct reverse **reverse_keep)
{
	if (b->liveness_on)
		liveness_stop(&b->liveness);
	b->liveness_on = false;
	repl_accept_stop(b->acceptor);
	b->acceptor = NULL;
	incoming_close_channels(b);
	if (b->link)
		b->link->ops->close(b->link);
	b->link = NULL;
	if (b->reverse && reverse_keep) {
		*reverse_keep = b->reverse;
	} else if (b->reverse) {
		reverse_free(b->reverse);
		free(b->reverse);
	}
	b->reverse = NULL;
	ckpt_decoder_free(&b->dec);
	replica_free(&b->replica);
	free(b->rx_buf);
	b->rx_buf = NULL;
	pthread_mutex_destroy(&b->lock);
}
