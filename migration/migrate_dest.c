/* SPDX-License-Identifier: MIT */
#include "migration/migrate_dest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/repl_protocol.h"
#include "common/transport.h"
#include "vmm/ckpt_codec.h"

/* The source forwards for a short while after DONE, then closes; a source
 * that never closes is not waited for longer than this. */
#define FORWARD_WINDOW_NS 3000000000ull
#define RECV_CAP	  (256 * 1024)

/* A packet socket on the TAP: what it sends goes to the TAP's reader, the
 * guest (as the host's own traffic to it does). */
static int packet_open(const char *tap)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET};
	int fd;

	sll.sll_ifindex = (int)if_nametoindex(tap);
	if (!sll.sll_ifindex)
		return -errno;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static int deliver(void *arg, const uint8_t *frame, uint16_t len)
{
	struct migrate_dest *d = arg;

	if (d->packet_fd >= 0 && send(d->packet_fd, frame, len, 0) == len)
		__atomic_add_fetch(&d->frames, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&d->frames_dropped, 1, __ATOMIC_RELAXED);
	return 0;
}

/* FRAMES: deliver them; anything else (heartbeats) is not ours. */
static int on_message(void *ctx, const struct ckpt_msg *msg)
{
	if (msg->header.type != REPL_MSG_FRAMES)
		return 0;
	return repl_decode_frames(msg, deliver, ctx);
}

/* Feed what the link holds to the decoder. false: the link is done. */
static bool receive(struct migrate_dest *d, struct ckpt_decoder *dec,
		    uint8_t *buf)
{
	for (;;) {
		ssize_t n = d->link->ops->recv(d->link, buf, RECV_CAP);

		if (n == -EAGAIN || n == -EINTR)
			return true;
		if (n <= 0 ||
		    ckpt_decoder_feed_all(dec, buf, (size_t)n, on_message, d))
			return false;
	}
}

static void *forward_main(void *arg)
{
	struct migrate_dest *d = arg;
	uint64_t until = clock_mono_ns() + FORWARD_WINDOW_NS;
	uint8_t *buf = malloc(RECV_CAP);
	struct ckpt_decoder dec;

	ckpt_decoder_init(&dec);
	while (buf && !__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE) &&
	       clock_mono_ns() < until) {
		struct pollfd pfd = {.fd = d->link->ops->fd(d->link),
				     .events = POLLIN};

		if (poll(&pfd, 1, 50) > 0 && !receive(d, &dec, buf))
			break;
	}
	ckpt_decoder_free(&dec);
	free(buf);
	/* The source closed first (or took too long): no reset can cut
	 * DONE off now. */
	d->link->ops->close(d->link);
	d->link = NULL;
	if (d->frames || d->frames_dropped)
		log_info("migration: delivered %llu frame(s) forwarded by the "
			 "source (%llu dropped)",
			 (unsigned long long)d->frames,
			 (unsigned long long)d->frames_dropped);
	return NULL;
}

int migrate_dest_done(struct migrate_dest *d, struct transport *link,
		      const char *tap, uint64_t downtime_ns,
		      uint64_t restore_ns)
{
	struct repl_done done = {.downtime_ns = downtime_ns,
				 .restore_ns = restore_ns};
	struct ckpt_buf buf;
	int ret;

	memset(d, 0, sizeof(*d));
	d->link = link;
	d->packet_fd = packet_open(tap);
	if (d->packet_fd < 0)
		log_warn("migration: no packet socket on %s (%s): frames the "
			 "source forwards are dropped (TCP resends them)",
			 tap, strerror(-d->packet_fd));
	ckpt_buf_init(&buf);
	ret = repl_encode_done(&buf, 0, &done);
	if (!ret)
		ret = link->ops->send(link, buf.data, buf.len);
	ckpt_buf_free(&buf);
	if (ret) {
		log_error("migration: cannot tell the source the VM runs here "
			  "(%s): it resumes its own",
			  strerror(-ret));
		migrate_dest_finish(d);
		return ret;
	}
	log_info("migration: done (here: final epoch received -> running "
		 "%.1f ms, restore %.1f ms)",
		 (double)downtime_ns / 1e6, (double)restore_ns / 1e6);
	if (pthread_create(&d->thread, NULL, forward_main, d) == 0) {
		pthread_setname_np(d->thread, "migrate-fwd");
		d->running = true;
	}
	return 0;
}

void migrate_dest_finish(struct migrate_dest *d)
{
	__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
	if (d->running)
		pthread_join(d->thread, NULL);
	d->running = false;
	if (d->link)
		d->link->ops->close(d->link);
	d->link = NULL;
	if (d->packet_fd >= 0)
		close(d->packet_fd);
	d->packet_fd = -1;
}

void migrate_dest_test_fault(void)
{
	const char *f = getenv("RRVM_TEST_INCOMING_FAULT");

	if (!f)
		return;
	log_warn("migration: test fault '%s' after GO", f);
	if (strcmp(f, "die-after-go") == 0)
		raise(SIGKILL);
	else if (strcmp(f, "hang-after-go") == 0)
		raise(SIGSTOP);
}

void migrate_dest_abandon(struct transport *link, int code, const char *why)
{
	struct ckpt_buf buf;

	ckpt_buf_init(&buf);
	if (repl_encode_cancel(&buf, (uint32_t)code, why) == 0 &&
	    link->ops->send(link, buf.data, buf.len))
		log_debug("migration: CANCEL not delivered");
	ckpt_buf_free(&buf);
	link->ops->close(link);
}
