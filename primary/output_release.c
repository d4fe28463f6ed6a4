/* SPDX-License-Identifier: MIT */
/* Release policy: every guest frame goes out at once (reverse/naive/none). */
#include <errno.h>
#include <stdlib.h>

#include "primary/output_policy.h"
#include "vmm/vm_stats.h"

static int release_frame(struct output_policy *p, const void *frame, size_t len)
{
	int ret = p->inner->ops->send(p->inner, frame, len);

	if (!ret)
		stat_inc(p->stats.released);
	return ret;
}

static void release_collected(struct output_policy *p, uint64_t epoch)
{
	(void)p;
	(void)epoch;
}

static void release_acked(struct output_policy *p, uint64_t epoch)
{
	(void)p;
	(void)epoch;
}

static void release_protection(struct output_policy *p, bool on)
{
	(void)p;
	(void)on;
}

static void release_destroy(struct output_policy *p)
{
	p->inner->ops->destroy(p->inner);
	free(p);
}

static const struct output_policy_ops release_ops = {
    .name = "release",
    .frame = release_frame,
    .collected = release_collected,
    .acked = release_acked,
    .protection = release_protection,
    .destroy = release_destroy,
};

/* The vnic_backend face shared by every policy. */
static int policy_send(struct vnic_backend *b, const void *frame, size_t len)
{
	struct output_policy *p = (struct output_policy *)b;

	return p->ops->frame(p, frame, len);
}

static ssize_t policy_receive(struct vnic_backend *b, void *buf, size_t cap)
{
	struct output_policy *p = (struct output_policy *)b;

	return p->inner->ops->receive(p->inner, buf, cap);
}

static int policy_poll_fd(struct vnic_backend *b)
{
	struct output_policy *p = (struct output_policy *)b;

	return p->inner->ops->poll_fd(p->inner);
}

static void policy_destroy(struct vnic_backend *b)
{
	struct output_policy *p = (struct output_policy *)b;

	p->ops->destroy(p);
}

const struct vnic_backend_ops output_policy_backend_ops = {
    .name = "output-policy",
    .send = policy_send,
    .receive = policy_receive,
    .poll_fd = policy_poll_fd,
    .destroy = policy_destroy,
};

int output_release_create(struct vnic_backend *inner,
			  struct output_policy **out)
{
	struct output_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->backend.ops = &output_policy_backend_ops;
	p->ops = &release_ops;
	p->inner = inner;
	*out = p;
	return 0;
}
