/* SPDX-License-Identifier: MIT */
/*
 * The Remus release rule (primary/output_buffer.c): a frame the guest sends
 * during epoch N leaves only once the backup acknowledged N; order is kept;
 * without protection frames pass at once; losing protection releases what
 * was held; the hold limit drops (TCP retransmits) instead of growing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "primary/output_policy.h"

/* A fake TAP: records what was sent, in order. */
struct fake_tap {
	struct vnic_backend base;
	int sent[64];
	int nsent;
	int destroyed;
};

static int fake_send(struct vnic_backend *b, const void *frame, size_t len)
{
	struct fake_tap *t = (struct fake_tap *)b;

	(void)len;
	t->sent[t->nsent++] = ((const unsigned char *)frame)[0];
	return 0;
}

static ssize_t fake_receive(struct vnic_backend *b, void *buf, size_t cap)
{
	(void)b;
	(void)buf;
	(void)cap;
	return -EAGAIN;
}

static int fake_poll_fd(struct vnic_backend *b)
{
	(void)b;
	return -1;
}

static void fake_destroy(struct vnic_backend *b)
{
	((struct fake_tap *)b)->destroyed++;
}

static const struct vnic_backend_ops fake_ops = {
    "fake", fake_send, fake_receive, fake_poll_fd, fake_destroy};

static struct fake_tap tap;

static struct output_policy *make(void)
{
	struct output_policy *p;

	memset(&tap, 0, sizeof(tap));
	tap.base.ops = &fake_ops;
	assert_int_equal(output_buffer_create(&tap.base, &p), 0);
	return p;
}

static void send_frame(struct output_policy *p, unsigned char id)
{
	unsigned char f[64] = {id};

	assert_int_equal(p->backend.ops->send(&p->backend, f, sizeof(f)), 0);
}

static void test_unprotected_passes(void **state)
{
	struct output_policy *p = make();

	(void)state;
	send_frame(p, 1);
	send_frame(p, 2);
	assert_int_equal(tap.nsent, 2);
	assert_int_equal(tap.sent[1], 2);
	p->backend.ops->destroy(&p->backend);
	assert_int_equal(tap.destroyed, 1);
}

static void test_release_on_ack(void **state)
{
	struct output_policy *p = make();

	(void)state;
	p->ops->protection(p, true);
	p->ops->collected(p, 4);  /* epoch 4 collected: now in epoch 5 */
	send_frame(p, 10);	  /* epoch 5 */
	send_frame(p, 11);	  /* epoch 5 */
	p->ops->collected(p, 5);  /* now in epoch 6 */
	send_frame(p, 12);	  /* epoch 6 */
	assert_int_equal(tap.nsent, 0);
	p->ops->acked(p, 4);	  /* nothing of epoch 4 was held */
	assert_int_equal(tap.nsent, 0);
	p->ops->acked(p, 5);
	assert_int_equal(tap.nsent, 2);
	assert_int_equal(tap.sent[0], 10);
	assert_int_equal(tap.sent[1], 11);
	assert_true(p->stats.held_bytes_now == 64);
	/* An ack beyond what was collected releases all, in order. */
	p->ops->acked(p, 9);
	assert_int_equal(tap.nsent, 3);
	assert_int_equal(tap.sent[2], 12);
	assert_true(p->stats.held_bytes_now == 0);
	assert_true(p->stats.held_total == 3);
	p->backend.ops->destroy(&p->backend);
}

static void test_protection_lost_releases(void **state)
{
	struct output_policy *p = make();

	(void)state;
	p->ops->protection(p, true);
	p->ops->collected(p, 1);
	send_frame(p, 20);
	send_frame(p, 21);
	assert_int_equal(tap.nsent, 0);
	p->ops->protection(p, false); /* nobody will ack: let it out */
	assert_int_equal(tap.nsent, 2);
	send_frame(p, 22); /* unprotected now: at once */
	assert_int_equal(tap.nsent, 3);
	p->backend.ops->destroy(&p->backend);
}

/* Frames held at destroy are freed, not sent (the VM is gone). */
static void test_destroy_with_held(void **state)
{
	struct output_policy *p = make();

	(void)state;
	p->ops->protection(p, true);
	send_frame(p, 30);
	p->backend.ops->destroy(&p->backend);
	assert_int_equal(tap.nsent, 0);
	assert_int_equal(tap.destroyed, 1);
}

static void test_hold_limit(void **state)
{
	struct output_policy *p = make();
	static unsigned char big[65536];
	size_t n = 0;
	int ret;

	(void)state;
	p->ops->protection(p, true);
	while ((ret = p->backend.ops->send(&p->backend, big, sizeof(big))) == 0)
		n++;
	assert_int_equal(ret, -ENOBUFS);
	assert_true(n * sizeof(big) <= OUTPUT_HOLD_LIMIT_BYTES);
	assert_true((n + 1) * sizeof(big) > OUTPUT_HOLD_LIMIT_BYTES);
	assert_true(p->stats.dropped == 1);
	p->backend.ops->destroy(&p->backend);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unprotected_passes),
	    cmocka_unit_test(test_release_on_ack),
	    cmocka_unit_test(test_protection_lost_releases),
	    cmocka_unit_test(test_destroy_with_held),
	    cmocka_unit_test(test_hold_limit),
	};

	return cmocka_run_group_tests_name("output_buffer", tests, NULL, NULL);
}
