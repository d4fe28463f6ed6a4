/* SPDX-License-Identifier: MIT */
/*
 * Buffered policy (Remus): a frame the guest sends during epoch N leaves
 * only once the backup has committed checkpoint N, so no client ever sees
 * output from state the backup could lose. Frames wait in a FIFO tagged with
 * their epoch; acks release prefixes of it. Order is preserved because only
 * releases write to the TAP while protection is on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "primary/output_policy.h"
#include "vmm/vm_stats.h"

struct held_frame {
	struct held_frame *next;
	uint64_t epoch;
	uint64_t held_at_ns;
	size_t len;
	uint8_t data[];
};

struct output_buffer {
	struct output_policy base;
	pthread_mutex_t lock;
	bool protecting;
	uint64_t current_epoch; /* last collected; new frames are +1 */
	struct held_frame *head, *tail;
	uint64_t held_bytes;
};

/* Caller holds the lock. Releases frames of epochs <= up_to. */
static void release_upto(struct output_buffer *b, uint64_t up_to)
{
	struct output_policy *p = &b->base;
	uint64_t now = clock_mono_ns();

	while (b->head && b->head->epoch <= up_to) {
		struct held_frame *f = b->head;
		uint64_t waited = now - f->held_at_ns;

		b->head = f->next;
		if (!b->head)
			b->tail = NULL;
		b->held_bytes -= f->len;
		if (p->inner->ops->send(p->inner, f->data, f->len) == 0)
			stat_inc(p->stats.released);
		stat_add(p->stats.total_hold_ns, waited);
		stat_inc(p->stats.held_total);
		if (waited > stat_read(p->stats.max_hold_ns))
			stat_set(p->stats.max_hold_ns, waited);
		free(f);
	}
	stat_set(p->stats.held_bytes_now, b->held_bytes);
}

static int buffer_frame(struct output_policy *p, const void *frame, size_t len)
{
	struct output_buffer *b = (struct output_buffer *)p;
	struct held_frame *f;
	int ret = 0;

	pthread_mutex_lock(&b->lock);
	if (!b->protecting) {
		pthread_mutex_unlock(&b->lock);
		ret = p->inner->ops->send(p->inner, frame, len);
		if (!ret)
			stat_inc(p->stats.released);
		return ret;
	}
	if (b->held_bytes + len > OUTPUT_HOLD_LIMIT_BYTES) {
		stat_inc(p->stats.dropped);
		ret = -ENOBUFS;
		goto out;
	}
	f = malloc(sizeof(*f) + len);
	if (!f) {
		stat_inc(p->stats.dropped);
		ret = -ENOMEM;
		goto out;
	}
	f->next = NULL;
	f->epoch = b->current_epoch + 1;
	f->held_at_ns = clock_mono_ns();
	f->len = len;
	memcpy(f->data, frame, len);
	if (b->tail)
		b->tail->next = f;
	else
		b->head = f;
	b->tail = f;
	b->held_bytes += len;
	stat_set(p->stats.held_bytes_now, b->held_bytes);
out:
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static void buffer_collected(struct output_policy *p, uint64_t epoch)
{
	struct output_buffer *b = (struct output_buffer *)p;

	pthread_mutex_lock(&b->lock);
	b->current_epoch = epoch;
	pthread_mutex_unlock(&b->lock);
}

static void buffer_acked(struct output_policy *p, uint64_t epoch)
{
	struct output_buffer *b = (struct output_buffer *)p;

	pthread_mutex_lock(&b->lock);
	release_upto(b, epoch);
	pthread_mutex_unlock(&b->lock);
}

static void buffer_protection(struct output_policy *p, bool on)
{
	struct output_buffer *b = (struct output_buffer *)p;

	pthread_mutex_lock(&b->lock);
	if (!on)
		release_upto(b, UINT64_MAX);
	b->protecting = on;
	pthread_mutex_unlock(&b->lock);
}

static void buffer_destroy(struct output_policy *p)
{
	struct output_buffer *b = (struct output_buffer *)p;

	while (b->head) {
		struct held_frame *f = b->head;

		b->head = f->next;
		free(f);
	}
	p->inner->ops->destroy(p->inner);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static const struct output_policy_ops buffer_ops = {
    .name = "buffer",
    .frame = buffer_frame,
    .collected = buffer_collected,
    .acked = buffer_acked,
    .protection = buffer_protection,
    .destroy = buffer_destroy,
};

int output_buffer_create(struct vnic_backend *inner, struct output_policy **out)
{
	struct output_buffer *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->base.backend.ops = &output_policy_backend_ops;
	b->base.ops = &buffer_ops;
	b->base.inner = inner;
	pthread_mutex_init(&b->lock, NULL);
	*out = &b->base;
	return 0;
}
