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

#define RECV_CHUNK (256 * 1024)

const char *backup_detector_name(enum backup_detector d)
{
	switch (d) {
	case DETECT_SILENCE:
		return "silence";
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
	}
	return "unknown";
}

static void set_state(struct backup *b, enum backup_state st)
{
	stat_set(b->state, (int)st);
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
				   : repl_encode_signal(&buf, type, epoch);
	if (!ret)
		ret = b->link->ops->send(b->link, buf.data, buf.len);
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
	int ret;

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
		set_state(b, BACKUP_STATE_STOOD_DOWN);
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
	if (b->handover_ready) {
		drop_link(b, "an epoch after the handover");
		return false;
	}
	if (!b->cfg.incoming && msg->header.type == CKPT_MSG_BEGIN &&
	    (msg->begin.flags & CKPT_BEGIN_PAGES_ONLY)) {
		b->replica.epochs_rejected++;
		drop_link(b, "a pages-only epoch (a migration's pre-copy "
			     "round) on a replication link");
		return false;
	}
	ret = replica_message(&b->replica, msg);
	if (ret < 0) {
		char why[sizeof(b->replica.err) + 32];

		log_error("rejected epoch %llu: %s; keeping committed epoch "
			  "%llu",
			  (unsigned long long)msg->header.epoch, b->replica.err,
			  (unsigned long long)b->replica.committed_epoch);
		snprintf(why, sizeof(why), "corrupt epoch: %s", b->replica.err);
		drop_link(b, why);
		return false;
	}
	if (ret != 1)
		return false;
	if (b->reverse)
		reverse_committed(b->reverse, msg->header.epoch);
	if (b->cfg.incoming && !b->replica.committed) {
		b->in.rounds++;
	} else if (b->replica.committed_full) {
		log_info("committed full checkpoint (epoch %llu); ready to "
			 "take over",
			 (unsigned long long)msg->header.epoch);
		set_state(b, BACKUP_STATE_REPLICATING);
	}
	if (send_signal(b, REPL_MSG_ACK, msg->header.epoch))
		drop_link(b, "cannot send ack");
	else
		stat_inc(b->stats.acks_sent);
	return false;
}

static void note_rx(struct backup *b)
{
	uint64_t now = clock_mono_ns();

	if (b->replica.committed && b->last_rx_ns &&
	    now - b->last_rx_ns > stat_read(b->stats.max_silence_ns))
		stat_set(b->stats.max_silence_ns, now - b->last_rx_ns);
	b->last_rx_ns = now;
}

/* The link closed or broke. Returns true if that is a failover. */
static bool link_lost(struct backup *b, ssize_t n)
{
	bool can_take_over = b->replica.committed && !b->stood_down;

	if (b->cfg.incoming) {
		/* Whatever the moment: the source keeps (or resumes) its VM
		 * unless it sent GO, which ends the loop before this. */
		drop_link(b,
			  n == 0 ? "the source closed it" : strerror((int)-n));
		return false;
	}
	if (b->handover_ready && can_take_over) {
		/* We said READY; the primary may have frozen for good. */
		b->detector = DETECT_HANDOVER_CUT;
		drop_link(b, "cut during the handover");
		return true;
	}
	drop_link(b, n == 0 ? "primary closed it" : strerror((int)-n));
	if (!can_take_over)
		return false;
	/* No goodbye: the primary's process died (its kernel closed the
	 * socket). Waiting out the silence timeout would only add outage. */
	b->detector = DETECT_LINK_CLOSED;
	return true;
}

enum rx_result { RX_AGAIN, RX_DATA, RX_DONE };

/* One read. RX_DONE: the loop must end with *outcome. */
static enum rx_result receive(struct backup *b, enum backup_outcome *outcome)
{
	ssize_t n = b->link->ops->recv(b->link, b->rx_buf, RECV_CHUNK);
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
	for (int i = 0; i < 64 && b->link; i++) {
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
	if (h->session != b->session) {
		b->stood_down = false;
		set_state(b, b->replica.committed ? BACKUP_STATE_REPLICATING
						  : BACKUP_STATE_WAITING);
	}
	b->session = h->session;
	b->mode = (enum repl_mode)h->mode;
	b->epoch_ms = h->epoch_ms;
	b->link = a->link;
	/* The detect clock ran across the gap too. */
	note_rx(b);
	log_info("primary %s connected: %s mode, %llu MiB, epoch %u ms%s",
		 b->link->peer, repl_mode_name(b->mode),
		 (unsigned long long)(h->mem_size >> 20), h->epoch_ms,
		 a->authenticated ? "" : " (UNAUTHENTICATED link)");
	pthread_mutex_unlock(&b->lock);
}

int backup_serve(struct backup *b, volatile int *stop,
		 enum backup_outcome *outcome)
{
	uint64_t timeout_ns = (uint64_t)b->cfg.detect_timeout_ms * 1000000u;

	*outcome = BACKUP_STOPPED;
	while (!*stop) {
		struct pollfd pfd[2];
		int nfds = 0, wait_ms = -1, link_i = -1;
		struct repl_accepted acc;

		pfd[nfds++] = (struct pollfd){.fd = repl_accept_fd(b->acceptor),
					      .events = POLLIN};
		if (b->link) {
			link_i = nfds;
			pfd[nfds++] = (struct pollfd){
			    .fd = b->link->ops->fd(b->link), .events = POLLIN};
		}
		/* Only a backup holding a checkpoint can fail over; a
		 * migration coming in gives up on a silent source. */
		if (b->cfg.incoming ? b->link != NULL
				    : b->replica.committed && !b->stood_down) {
			uint64_t now = clock_mono_ns();
			uint64_t deadline = b->last_rx_ns + timeout_ns;

			if (now >= deadline) {
				pthread_mutex_lock(&b->lock);
				b->detector = DETECT_SILENCE;
				drop_link(b, "silence");
				pthread_mutex_unlock(&b->lock);
				*outcome = b->cfg.incoming
					       ? BACKUP_MIGRATION_FAILED
					       : BACKUP_PRIMARY_FAILED;
				break;
			}
			wait_ms = (int)((deadline - now + 999999) / 1000000);
		}
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
	b->rx_buf = malloc(RECV_CHUNK);
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
	log_info("waiting for a %s on %s (%s timeout %u ms%s)",
		 cfg->incoming ? "migration" : "primary", cfg->listen_addr,
		 cfg->incoming ? "silence" : "detect", cfg->detect_timeout_ms,
		 cfg->key ? "" : ", UNAUTHENTICATED: --insecure");
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
	repl_accept_stop(b->acceptor);
	b->acceptor = NULL;
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
