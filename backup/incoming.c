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

bool incoming_admit(struct backup *b, struct repl_accepted *a)
{
	bool migration = a->hello.mode == REPL_MODE_MIGRATE;

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
	if (b->session) {
		refuse(a, EBUSY,
		       "the destination is busy: another migration is "
		       "coming in");
		return false;
	}
	b->in.first_rx_ns = clock_mono_ns();
	log_info("incoming: migration from %s (%llu MiB)", a->link->peer,
		 (unsigned long long)(a->hello.mem_size >> 20));
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
