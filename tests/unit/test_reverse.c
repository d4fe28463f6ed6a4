/* SPDX-License-Identifier: MIT */
/*
 * The backup's reverse-replication core without a NIC: a fake capture
 * backend feeds frames to the real capture thread. Inline logs each frame
 * before forwarding it and forwards nothing it could not log; a full log
 * holds frames back (or is cleared while standing by); commits trim the
 * log by the epoch's digests; the report shows every counter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "backup/reverse.h"
#include "common/repl_protocol.h"
#include "common/report.h"
#include "netstate/frame_build.h"
#include "netstate/frame_digest.h"
#include "vmm/ckpt_codec.h"
#include "vmm/vm_stats.h"
#include "tests/unit/report_check.h"

#define MAX_FRAMES 16
#define FRAME_LEN  80

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* ------------------------------------------------------ the fake capture */

struct fake_capture {
	struct capture base;
	int fd; /* eventfd: frames are queued */
	pthread_mutex_t lock;
	uint8_t frames[MAX_FRAMES][FRAME_LEN];
	int queued, next, delivered;
	/* Inject: the first eagain_left calls say -EAGAIN; then err. */
	int eagain_left;
	int inject_err;
	int injected, inject_calls;
	uint8_t sent[MAX_FRAMES][FRAME_LEN];
	/* Frames the log held when each inject was called. */
	size_t logged_at_inject[MAX_FRAMES];
	struct reverse *r;
	bool closed;
};

static struct fake_capture *to_fake(struct capture *c)
{
	return (struct fake_capture *)c;
}

static int fake_fd(struct capture *c)
{
	return to_fake(c)->fd;
}

static int fake_poll(struct capture *c, int max, capture_cb cb, void *arg)
{
	struct fake_capture *fc = to_fake(c);
	uint64_t v;
	int n = 0;

	if (read(fc->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	for (;;) {
		struct capture_frame f = {.len = FRAME_LEN};

		pthread_mutex_lock(&fc->lock);
		if (n == max || fc->next == fc->queued) {
			pthread_mutex_unlock(&fc->lock);
			break;
		}
		f.data = fc->frames[fc->next++];
		pthread_mutex_unlock(&fc->lock);
		cb(arg, &f);
		pthread_mutex_lock(&fc->lock);
		fc->delivered++;
		pthread_mutex_unlock(&fc->lock);
		n++;
	}
	return n;
}

static int fake_inject(struct capture *c, const void *frame, size_t len)
{
	struct fake_capture *fc = to_fake(c);
	int ret;

	pthread_mutex_lock(&fc->r->lock);
	fc->logged_at_inject[fc->injected % MAX_FRAMES] =
	    replay_log_frames(&fc->r->log);
	pthread_mutex_unlock(&fc->r->lock);
	fc->inject_calls++;
	if (fc->eagain_left > 0) {
		fc->eagain_left--;
		return -EAGAIN;
	}
	ret = fc->inject_err;
	if (ret == 0 && len == FRAME_LEN)
		memcpy(fc->sent[fc->injected++ % MAX_FRAMES], frame, len);
	return ret;
}

static void fake_stats(struct capture *c, struct capture_stats *out)
{
	(void)c;
	memset(out, 0, sizeof(*out));
}

static void fake_close(struct capture *c)
{
	to_fake(c)->closed = true;
}

static const struct capture_ops fake_ops = {
    .name = "fake",
    .fd = fake_fd,
    .poll = fake_poll,
    .inject = fake_inject,
    .stats = fake_stats,
    .close = fake_close,
};

/* ------------------------------------------------------------- helpers */

struct rig {
	struct reverse r;
	struct fake_capture fc;
};

static void rig_start(struct rig *g, enum reverse_topology topology,
		      uint32_t log_frames)
{
	struct reverse_config cfg = {
	    .topology = topology,
	    .log_bytes = 1 << 20,
	    .log_frames = log_frames,
	    .guest_ip = htonl(0x0a000002),
	};

	memset(g, 0, sizeof(*g));
	memcpy(cfg.guest_mac, guest_mac, 6);
	g->fc.base.ops = &fake_ops;
	g->fc.base.inject_fd = -1;
	g->fc.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(g->fc.fd >= 0);
	pthread_mutex_init(&g->fc.lock, NULL);
	g->fc.r = &g->r;
	assert_int_equal(reverse_start_with(&g->r, &cfg, &g->fc.base), 0);
	assert_string_equal(reverse_capture_name(&g->r), "fake");
}

static void rig_stop(struct rig *g)
{
	reverse_free(&g->r);
	assert_true(g->fc.closed);
	close(g->fc.fd);
	pthread_mutex_destroy(&g->fc.lock);
}

/* Frame i: UDP from a client to the guest, payload byte i. */
static void make_frame(uint8_t *buf, int i)
{
	uint8_t payload[FRAME_LEN - 42];
	struct frame_spec s = {
	    .src_ip = htonl(0x0a000001),
	    .dst_ip = htonl(0x0a000002),
	    .proto = FRAME_IPPROTO_UDP,
	    .sport = 40000,
	    .dport = 7,
	    .payload = payload,
	    .payload_len = sizeof(payload),
	};

	memcpy(s.dst_mac, guest_mac, 6);
	memcpy(s.src_mac, "\x02\x00\x00\x00\x00\x01", 6);
	memset(payload, i, sizeof(payload));
	assert_int_equal(frame_build(buf, FRAME_LEN, &s), FRAME_LEN);
}

/* Queue frames first..first+n-1 and wait until the capture took them. */
static void capture_frames(struct rig *g, int first, int n)
{
	uint64_t one = 1;
	int want;

	pthread_mutex_lock(&g->fc.lock);
	for (int i = 0; i < n; i++)
		make_frame(g->fc.frames[g->fc.queued++], first + i);
	want = g->fc.queued;
	pthread_mutex_unlock(&g->fc.lock);
	assert_int_equal(write(g->fc.fd, &one, sizeof(one)), sizeof(one));
	for (int waited_ms = 0;; waited_ms++) {
		int got;

		pthread_mutex_lock(&g->fc.lock);
		got = g->fc.delivered;
		pthread_mutex_unlock(&g->fc.lock);
		if (got == want)
			return;
		if (waited_ms > 5000)
			fail_msg("the capture thread took %d of %d frames", got,
				 want);
		usleep(1000);
	}
}

static uint64_t digest_of(int i)
{
	uint8_t f[FRAME_LEN];

	make_frame(f, i);
	return frame_digest(f, FRAME_LEN);
}

/* RX_DIGESTS of epoch for frames idx[0..n), through the real framing. */
static void send_digests(struct reverse *r, uint64_t epoch, const int *idx,
			 uint32_t n, uint32_t flags)
{
	uint64_t d[MAX_FRAMES];
	struct ckpt_decoder dec;
	struct ckpt_buf buf;
	struct ckpt_msg msg;
	size_t used = 0;

	for (uint32_t i = 0; i < n; i++)
		d[i] = digest_of(idx[i]);
	ckpt_buf_init(&buf);
	ckpt_decoder_init(&dec);
	assert_int_equal(repl_encode_digests(&buf, epoch, d, n, flags), 0);
	assert_int_equal(
	    ckpt_decoder_feed(&dec, buf.data, buf.len, &used, &msg),
	    CKPT_DECODE_MESSAGE);
	assert_int_equal(reverse_digests(r, &msg), 0);
	ckpt_decoder_free(&dec);
	ckpt_buf_free(&buf);
}

static size_t log_frames(struct reverse *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = replay_log_frames(&r->log);
	pthread_mutex_unlock(&r->lock);
	return n;
}

static void fill_report(void *r, struct report *rep)
{
	reverse_report(r, rep);
}

static char *report_json(struct reverse *r)
{
	return report_render(true, fill_report, r);
}

/* --------------------------------------------------------------- tests */

static void test_topology_names(void **state)
{
	enum reverse_topology t;

	(void)state;
	assert_int_equal(reverse_topology_parse("inline", &t), 0);
	assert_int_equal(t, TOPOLOGY_INLINE);
	assert_int_equal(reverse_topology_parse("mirror", &t), 0);
	assert_int_equal(t, TOPOLOGY_MIRROR);
	assert_int_equal(reverse_topology_parse("Inline", &t), -EINVAL);
	assert_int_equal(reverse_topology_parse("", &t), -EINVAL);
	assert_string_equal(reverse_topology_name(TOPOLOGY_MIRROR), "mirror");
	assert_string_equal(reverse_topology_name(TOPOLOGY_NONE), "none");
}

/* Inline: every frame is in the log before it is forwarded, in order. */
static void test_inline_logs_then_forwards(void **state)
{
	struct rig g;
	uint8_t f[FRAME_LEN];

	(void)state;
	rig_start(&g, TOPOLOGY_INLINE, 64);
	capture_frames(&g, 0, 5);
	assert_int_equal(g.fc.injected, 5);
	for (int i = 0; i < 5; i++) {
		make_frame(f, i);
		assert_memory_equal(g.fc.sent[i], f, FRAME_LEN);
		assert_int_equal(g.fc.logged_at_inject[i], (size_t)i + 1);
	}
	assert_int_equal(stat_read(g.r.stats.captured), 5);
	assert_int_equal(stat_read(g.r.stats.forwarded), 5);
	assert_int_equal(log_frames(&g.r), 5);
	rig_stop(&g);
}

/* A full TX queue is retried (the frame is logged already); a refusal
 * that lasts, or another error, counts a forward error. */
static void test_inline_inject_retries(void **state)
{
	struct rig g;
	char *j;

	(void)state;
	rig_start(&g, TOPOLOGY_INLINE, 64);
	g.fc.eagain_left = 3;
	capture_frames(&g, 0, 1);
	assert_int_equal(g.fc.inject_calls, 4);
	assert_int_equal(stat_read(g.r.stats.forwarded), 1);
	assert_int_equal(stat_read(g.r.stats.forward_errors), 0);

	g.fc.eagain_left = 1000; /* beyond any retry budget */
	capture_frames(&g, 1, 1);
	/* Retried, but bounded: the capture thread does not stall. */
	assert_in_range(1000 - g.fc.eagain_left, 2, 999);
	assert_int_equal(stat_read(g.r.stats.forward_errors), 1);

	g.fc.eagain_left = 0;
	g.fc.inject_err = -ENETDOWN; /* not a full queue: no retry */
	capture_frames(&g, 2, 1);
	assert_int_equal(stat_read(g.r.stats.forward_errors), 2);
	assert_int_equal(stat_read(g.r.stats.forwarded), 1);
	/* Logged all the same: a failover replays them. */
	assert_int_equal(log_frames(&g.r), 3);
	j = report_json(&g.r);
	assert_has(j, "\"forward_errors\":2,");
	assert_has(j, "\"captured\":3,");
	free(j);
	rig_stop(&g);
}

/* A full log holds frames back: not logged, so never forwarded. */
static void test_inline_full_log_holds_back(void **state)
{
	struct rig g;

	(void)state;
	rig_start(&g, TOPOLOGY_INLINE, 4);
	capture_frames(&g, 0, 6);
	assert_int_equal(log_frames(&g.r), 4);
	assert_int_equal(g.fc.injected, 4);
	assert_int_equal(stat_read(g.r.stats.overflow_dropped), 2);
	/* Standing by (no failover possible): a full log is cleared, the
	 * frame goes through. */
	reverse_set_standing_by(&g.r, true);
	assert_int_equal(stat_read(g.r.stats.standby_clears), 1);
	assert_int_equal(log_frames(&g.r), 0);
	capture_frames(&g, 6, 5);
	assert_int_equal(stat_read(g.r.stats.standby_clears), 2);
	assert_int_equal(stat_read(g.r.stats.overflow_dropped), 2);
	assert_int_equal(g.fc.injected, 9);
	rig_stop(&g);
}

/* Mirror: the switch delivered the frames; the backup only logs. */
static void test_mirror_never_forwards(void **state)
{
	struct rig g;

	(void)state;
	rig_start(&g, TOPOLOGY_MIRROR, 64);
	capture_frames(&g, 0, 3);
	assert_int_equal(g.fc.inject_calls, 0);
	assert_int_equal(stat_read(g.r.stats.forwarded), 0);
	assert_int_equal(log_frames(&g.r), 3);
	rig_stop(&g);
}

/* A commit trims exactly the frames its digests name. */
static void test_commit_trims_by_digests(void **state)
{
	static const int first_two[] = {0, 1}, unknown[] = {9};
	uint64_t gaps;
	struct rig g;
	char *j;

	(void)state;
	rig_start(&g, TOPOLOGY_INLINE, 64);
	capture_frames(&g, 0, 4);
	send_digests(&g.r, 7, first_two, 2, 0);
	reverse_committed(&g.r, 7);
	assert_int_equal(log_frames(&g.r), 2);
	assert_int_equal(stat_read(g.r.stats.epochs_trimmed), 1);
	assert_true(reverse_protected(&g.r, &gaps));
	assert_int_equal(gaps, 0);

	/* An epoch without its digests trims nothing. */
	reverse_committed(&g.r, 8);
	assert_int_equal(stat_read(g.r.stats.epochs_without_digests), 1);
	assert_int_equal(log_frames(&g.r), 2);
	/* Digests of an aborted epoch do not apply to the next one. */
	send_digests(&g.r, 9, first_two, 2, 0);
	reverse_aborted(&g.r);
	reverse_committed(&g.r, 9);
	assert_int_equal(stat_read(g.r.stats.epochs_without_digests), 2);

	/* The primary's VM got a frame never captured: protection failed. */
	send_digests(&g.r, 10, unknown, 1, 0);
	reverse_committed(&g.r, 10);
	assert_false(reverse_protected(&g.r, &gaps));
	assert_int_equal(gaps, 1);
	j = report_json(&g.r);
	assert_has(j, "\"protection\":\"FAILED");
	assert_has(j, "\"gaps\":1,");
	assert_has(j, "\"epochs_trimmed\":2,");
	assert_has(j, "\"epochs_without_digests\":2,");
	free(j);

	/* A cut list (the primary lost count) clears the log. */
	send_digests(&g.r, 11, first_two, 0, REPL_DIGESTS_INCOMPLETE);
	reverse_committed(&g.r, 11);
	assert_int_equal(log_frames(&g.r), 0);
	j = report_json(&g.r);
	assert_has(j, "\"digests_incomplete\":1}");
	free(j);
	rig_stop(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_topology_names),
	    cmocka_unit_test(test_inline_logs_then_forwards),
	    cmocka_unit_test(test_inline_inject_retries),
	    cmocka_unit_test(test_inline_full_log_holds_back),
	    cmocka_unit_test(test_mirror_never_forwards),
	    cmocka_unit_test(test_commit_trims_by_digests),
	};

	return cmocka_run_group_tests_name("reverse", tests, NULL, NULL);
}
