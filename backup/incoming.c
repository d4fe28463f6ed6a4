/* SPDX-License-Identifier: MIT */
/*
 * The backup role as a live migration's destination (`rrvm incoming`,
 * docs/migration.md). The receive loop, the all-or-nothing replica and the
 * handover (HANDOVER, READY, GO) are the backup's own (backup/backup.c);
 * this file adds what a migration needs on top:
 *
 *  - exactly one migration: the link must say HELLO mode migrate, and a
 *    second source while one is coming in is refused (CANCEL EBUSY);
 *  - the profile is checked before any page: PROFILE_OK or CANCEL naming
 *    what this host cannot honour; pages before it end the migration;
 *  - pre-copy rounds are pages-only epochs, the final epoch carries the
 *    state; every epoch must be for the profile's memory size;
 *  - any failure (a corrupt or truncated stream, the source gone or
 *    silent, a CANCEL) ends the migration: the loop returns
 *    BACKUP_MIGRATION_FAILED and the caller discards everything.
 *
 * A plain backup (cfg.incoming NULL) refuses migrations here (and
 * pages-only epochs in backup.c), so neither role mistakes the other's
 * peer for its own.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backup/backup.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/repl_link.h"
#include "common/transport.h"
#include "vmm/ckpt_codec.h"

/* Tell the peer of link why it is refused or stopped (best effort). */
static void send_cancel(struct transport *link, int code, const char *why)
{
	struct ckpt_buf buf;

	ckpt_buf_init(&buf);
	if (repl_encode_cancel(&buf, (uint32_t)code, why) == 0 &&
	    link->ops->send(link, buf.data, buf.len))
		log_debug("incoming: CANCEL not delivered to %s", link->peer);
	ckpt_buf_free(&buf);
}

static void refuse(struct repl_accepted *a, int code, const char *why)
{
	log_warn("refused a connection from %s: %s", a->link->peer, why);
	send_cancel(a->link, code, why);
	a->link->ops->close(a->link);
}

static bool check_epoch(struct backup *b, const struct ckpt_msg *msg);

/* A further channel's context for the decoder's callback. */
struct channel_ctx {
	struct backup *b;
	unsigned index;
};

/* A message on a further channel: only its parts of pre-copy rounds (and
 * heartbeats, and the source's CANCEL). Non-zero stops the feed. */
static int channel_message(void *ctx, const struct ckpt_msg *msg)
{
	struct channel_ctx *cc = ctx;
	struct backup *b = cc->b;
	unsigned type = msg->header.type;
	struct repl_cancel c;

	if (type == REPL_MSG_HEARTBEAT)
		return 0;
	if (type == REPL_MSG_CANCEL) {
		if (repl_decode_cancel(msg, &c))
			incoming_fail(b, EPROTO,
				      "an unreadable CANCEL on channel %u",
				      cc->index);
		else
			incoming_fail(b, (int)c.code,
				      "the source cancelled: %s", c.reason);
		return -ECANCELED;
	}
	if (type > CKPT_MSG_TYPE_MAX) {
		incoming_fail(b, EPROTO,
			      "message type %u on channel %u (it carries "
			      "pre-copy pages only)",
			      type, cc->index);
		return -EPROTO;
	}
	if (!check_epoch(b, msg))
		return -EPROTO;
	backup_epoch_message(b, cc->index, msg);
	return b->in.failed ? -EPROTO : 0;
}

/* Read what further channel k holds (bounded, as the backup's own
 * receive_all: an encrypted link may hold decrypted bytes poll() cannot
 * see). Any failure ends the migration. */
static void read_channel(struct backup *b, unsigned k)
{
	struct incoming_link *c = &b->in.chan[k];
	struct channel_ctx cc = {.b = b, .index = k};

	for (int i = 0; i < 64 && c->link && !b->in.failed; i++) {
		ssize_t n =
		    c->link->ops->recv(c->link, b->rx_buf, BACKUP_RECV_CHUNK);
		int ret;

		if (n == -EAGAIN || n == -EINTR)
			return;
		if (n <= 0) {
			incoming_fail(b, EPROTO, "channel %u was dropped: %s",
				      k,
				      n == 0 ? "the source closed it"
					     : strerror((int)-n));
			return;
		}
		c->last_rx_ns = clock_mono_ns();
		ret = ckpt_decoder_feed_all(&c->dec, b->rx_buf, (size_t)n,
					    channel_message, &cc);
		if (ret == -EBADMSG) {
			b->replica.epochs_rejected++;
			incoming_fail(b, EPROTO,
				      "corrupt stream on channel %u: %s", k,
				      c->dec.err);
		}
	}
}

unsigned incoming_poll_fds(struct backup *b, struct pollfd *pfd)
{
	unsigned n = 0;

	for (unsigned k = 1; k < REPL_MAX_CHANNELS; k++) {
		struct incoming_link *c = &b->in.chan[k];

		if (!c->link)
			continue;
		b->in.poll_channel[n] = (uint8_t)k;
		pfd[n++] = (struct pollfd){.fd = c->link->ops->fd(c->link),
					   .events = POLLIN};
	}
	return n;
}

void incoming_poll_done(struct backup *b, const struct pollfd *pfd, unsigned n)
{
	for (unsigned i = 0; i < n && !b->in.failed; i++)
		if (pfd[i].revents)
			read_channel(b, b->in.poll_channel[i]);
}

uint64_t incoming_channels_deadline(struct backup *b)
{
	uint64_t timeout = (uint64_t)b->cfg.detect_timeout_ms * 1000000u;
	uint64_t deadline = UINT64_MAX;

	if (!b->cfg.incoming || !b->in.channels.open || b->in.failed)
		return UINT64_MAX;
	for (unsigned k = 1; k < b->in.channels.count; k++) {
		const struct incoming_link *c = &b->in.chan[k];
		/* One that has yet to join has had since the profile. */
		uint64_t last = c->link ? c->last_rx_ns : b->in.profile_ok_ns;

		if (last + timeout < deadline)
			deadline = last + timeout;
	}
	return deadline;
}

void incoming_close_channels(struct backup *b)
{
	for (unsigned k = 1; k < REPL_MAX_CHANNELS; k++) {
		struct incoming_link *c = &b->in.chan[k];

		if (!c->link)
			continue;
		c->link->ops->close(c->link);
		c->link = NULL;
		ckpt_decoder_free(&c->dec);
	}
}

/* A further channel's link was admitted: it carries its part of each
 * pre-copy round from now on. */
static void join_channel(struct backup *b, struct repl_accepted *a)
{
	struct incoming_link *c = &b->in.chan[a->hello.channel];

	c->link = a->link;
	ckpt_decoder_init(&c->dec);
	c->last_rx_ns = clock_mono_ns();
	log_info("incoming: channel %u of %u from %s", a->hello.channel,
		 b->in.channels.count, a->link->peer);
	if (incoming_channels_complete(&b->in.channels))
		log_info("incoming: all %u channels joined",
			 b->in.channels.count);
	/* Bytes may already wait decrypted past the HELLO. */
	read_channel(b, a->hello.channel);
}

bool incoming_admit(struct backup *b, struct repl_accepted *a)
{
	bool migration = a->hello.mode == REPL_MODE_MIGRATE;
	char why[200];
	int ret;

	if (!b->cfg.incoming) {
		if (migration)
			refuse(a, EPROTO,
			       "this is a replication backup, not a migration "
			       "destination (start 'rrvm incoming' there)");
		return !migration;
	}
	if (!migration) {
		refuse(a, EPROTO,
		       "this is a migration destination (rrvm incoming), "
		       "not a replication backup");
		return false;
	}
	ret = b->in.failed ? -EBUSY
			   : incoming_channels_admit(&b->in.channels, &a->hello,
						     why, sizeof(why));
	if (ret) {
		refuse(a, -ret,
		       b->in.failed ? "the destination is giving up on a "
				      "failed migration"
				    : why);
		return false;
	}
	if (a->hello.channel) {
		join_channel(b, a);
		return false; /* not the session's link: that is channel 0 */
	}
	ret = replica_set_streams(&b->replica, a->hello.channels);
	if (ret) {
		refuse(a, EPROTO, "cannot take that many channels");
		b->in.channels = (struct incoming_channels){0};
		return false;
	}
	b->in.first_rx_ns = clock_mono_ns();
	log_info("incoming: migration from %s (%llu MiB, %u channel%s)",
		 a->link->peer, (unsigned long long)(a->hello.mem_size >> 20),
		 a->hello.channels, a->hello.channels == 1 ? "" : "s");
	return true;
}

void incoming_fail(struct backup *b, int code, const char *fmt, ...)
{
	va_list ap;

	if (b->in.failed)
		return; /* the first reason is the one that counts */
	va_start(ap, fmt);
	vsnprintf(b->in.why, sizeof(b->in.why), fmt, ap);
	va_end(ap);
	b->in.failed = true;
	b->in.code = code;
	/* (The further channels close with the backup: one may be feeding
	 * its decoder right now.) */
	log_error("incoming: migration failed: %s", b->in.why);
	if (b->link) {
		send_cancel(b->link, code, b->in.why);
		/* drop_link closes it; its hook sees in.failed and adds
		 * nothing. */
	}
}

void incoming_link_dropped(struct backup *b, const char *why)
{
	if (!b->cfg.incoming || b->in.failed)
		return;
	incoming_fail(b, EPROTO, "the migration link was dropped: %s", why);
}

/* PROFILE: can this host run the guest? Answered before any page. */
static void on_profile(struct backup *b, const struct ckpt_msg *msg)
{
	char why[600];
	int ret;

	if (b->in.profile_ok) {
		incoming_fail(b, EPROTO, "a second PROFILE");
		return;
	}
	ret = vm_profile_decode(msg, &b->in.profile, why, sizeof(why));
	if (ret) {
		incoming_fail(b, EPROTO, "unreadable profile: %s", why);
		return;
	}
	ret =
	    vm_profile_check(&b->in.profile, b->cfg.incoming, why, sizeof(why));
	if (ret) {
		incoming_fail(b, -ret, "%s", why);
		return;
	}
	b->in.profile_ok = true;
	/* The further channels may join now. */
	b->in.channels.open = true;
	b->in.profile_ok_ns = clock_mono_ns();
	log_info("incoming: profile accepted: %s, %llu MiB, %s",
		 b->in.profile.image_name[0] ? b->in.profile.image_name
					     : "(image name unknown)",
		 (unsigned long long)(b->in.profile.mem_size >> 20),
		 b->in.profile.cmdline);
	{
		struct ckpt_buf buf;

		ckpt_buf_init(&buf);
		ret = repl_encode_signal(&buf, REPL_MSG_PROFILE_OK, 0);
		if (!ret)
			ret = b->link->ops->send(b->link, buf.data, buf.len);
		ckpt_buf_free(&buf);
	}
	if (ret)
		incoming_fail(b, -ret, "cannot answer the profile: %s",
			      strerror(-ret));
}

/* Epochs of a migration: after the profile, for its memory size. */
static bool check_epoch(struct backup *b, const struct ckpt_msg *msg)
{
	if (!b->in.profile_ok) {
		incoming_fail(b, EPROTO,
			      "pages before the profile was "
			      "accepted");
		return false;
	}
	if (msg->header.type != CKPT_MSG_BEGIN)
		return true;
	if (msg->begin.mem_size != b->in.profile.mem_size) {
		incoming_fail(b, EPROTO,
			      "epoch %llu is for %llu bytes of memory, the "
			      "profile said %llu",
			      (unsigned long long)msg->begin.epoch,
			      (unsigned long long)msg->begin.mem_size,
			      (unsigned long long)b->in.profile.mem_size);
		return false;
	}
	if (!(msg->begin.flags & CKPT_BEGIN_PAGES_ONLY))
		b->in.final_begin_ns = clock_mono_ns();
	return true;
}

bool incoming_message(struct backup *b, const struct ckpt_msg *msg)
{
	struct repl_cancel c;
	unsigned type = msg->header.type;

	if (!b->cfg.incoming)
		return false;
	switch (type) {
	case REPL_MSG_PROFILE:
		on_profile(b, msg);
		return true;
	case REPL_MSG_CANCEL:
		if (repl_decode_cancel(msg, &c))
			incoming_fail(b, EPROTO, "an unreadable CANCEL");
		else
			incoming_fail(b, (int)c.code,
				      "the source cancelled: %s", c.reason);
		return true;
	case REPL_MSG_RX_DIGESTS:
	case REPL_MSG_GOODBYE:
		incoming_fail(b, EPROTO,
			      "a replication message (type %u) in "
			      "a migration",
			      type);
		return true;
	}
	if (type <= CKPT_MSG_TYPE_MAX && !check_epoch(b, msg))
		return true;
	return false;
}
