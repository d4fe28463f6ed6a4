/* SPDX-License-Identifier: MIT */
#include "backup/replay_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/vm_stats.h"

struct replay_item {
	uint32_t len;
	uint8_t data[REPLAY_FRAME_MAX];
};

struct replay_backend {
	struct vnic_backend base;
	struct vnic_backend *tap;
	struct replay_gate *gate;
	struct replay_item *items;
	size_t count, next;
	int epoll_fd, timer_fd, kick_fd;
	/* Idle detection: outputs seen when a frame last had to wait. */
	uint64_t outputs, outputs_at_wait;
	bool waiting;
	struct replay_backend_result res;
};

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

static void arm_timer(struct replay_backend *rb, uint64_t deadline_ns)
{
	struct itimerspec its = { { 0, 0 },
				  { (time_t)(deadline_ns / 1000000000u),
				    (long)(deadline_ns % 1000000000u) } };

	timerfd_settime(rb->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void kick(struct replay_backend *rb)
{
	uint64_t one = 1;

	if (write(rb->kick_fd, &one, sizeof(one)) < 0)
		log_debug("replay: kick: %s", strerror(errno));
}

static ssize_t rb_receive(struct vnic_backend *b, void *buf, size_t cap)
{
	struct replay_backend *rb = (struct replay_backend *)b;
	const struct replay_item *it;
	uint64_t deadline = 0;
	enum replay_decision d;

	if (rb->next >= rb->count)
		return rb->tap->ops->receive(rb->tap, buf, cap);
	drain(rb->kick_fd);
	drain(rb->timer_fd);
	it = &rb->items[rb->next];
	d = replay_gate_check(rb->gate, it->data, it->len, clock_mono_ns(),
			      &deadline);
	if (d == REPLAY_WAIT && rb->waiting &&
	    rb->outputs == rb->outputs_at_wait) {
		/*
		 * The guest ran a whole loop (flushed TX, asked for input)
		 * and sent nothing more: it has nothing left to send, so
		 * what this frame acknowledges was sent before the
		 * checkpoint.
		 */
		replay_gate_note_guest_idle(rb->gate);
		d = replay_gate_check(rb->gate, it->data, it->len, clock_mono_ns(),
				      &deadline);
	}
	if (d == REPLAY_WAIT) {
		rb->waiting = true;
		rb->outputs_at_wait = rb->outputs;
		arm_timer(rb, deadline);
		/* Come straight back after the guest's next loop. */
		kick(rb);
		return -EAGAIN;
	}
	rb->waiting = false;
	if (it->len > cap)
		return -EMSGSIZE;
	memcpy(buf, it->data, it->len);
	rb->next++;
	stat_inc(rb->res.frames);
	stat_add(rb->res.bytes, it->len);
	if (rb->next == rb->count) {
		stat_set(rb->res.finished_ns, clock_mono_ns());
		log_info("replay: %zu logged frames replayed in %.2f ms", 
			 rb->count,
			 (rb->res.finished_ns - rb->res.started_ns) / 1e6);
		kick(rb); /* live frames may be waiting on the TAP */
	}
	return (ssize_t)it->len;
}

static int rb_send(struct vnic_backend *b, const void *frame, size_t len)
{
	struct replay_backend *rb = (struct replay_backend *)b;

	rb->outputs++;
	if (replay_gate_guest_output(rb->gate, frame, len) == OUTPUT_SUPPRESS) {
		stat_inc(rb->res.suppressed);
		return 0;
	}
	return rb->tap->ops->send(rb->tap, frame, len);
}

static int rb_poll_fd(struct vnic_backend *b)
{
	return ((struct replay_backend *)b)->epoll_fd;
}

static void rb_destroy(struct vnic_backend *b)
{
	struct replay_backend *rb = (struct replay_backend *)b;

	rb->tap->ops->destroy(rb->tap);
	close(rb->epoll_fd);
	close(rb->timer_fd);
	close(rb->kick_fd);
	free(rb->items);
	free(rb);
}

static const struct vnic_backend_ops replay_ops = {
	.name = "replay",
	.send = rb_send,
	.receive = rb_receive,
	.poll_fd = rb_poll_fd,
	.destroy = rb_destroy,
};

int replay_backend_create(struct vnic_backend *tap, struct replay_log *log,
			  struct replay_gate *gate, struct vnic_backend **out)
{
	struct replay_backend *rb = calloc(1, sizeof(*rb));
	struct epoll_event ev = { .events = EPOLLIN };
	struct replay_frame f;
	size_t n = replay_log_frames(log), i = 0;

	if (!rb)
		return -ENOMEM;
	rb->items = calloc(n ? n : 1, sizeof(*rb->items));
	rb->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	rb->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				      TFD_NONBLOCK | TFD_CLOEXEC);
	rb->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!rb->items || rb->epoll_fd < 0 || rb->timer_fd < 0 ||
	    rb->kick_fd < 0)
		goto fail;
	/* Everything that can make the guest's WAIT return. */
	ev.data.fd = tap->ops->poll_fd(tap);
	epoll_ctl(rb->epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev);
	ev.data.fd = rb->timer_fd;
	epoll_ctl(rb->epoll_fd, EPOLL_CTL_ADD, rb->timer_fd, &ev);
	ev.data.fd = rb->kick_fd;
	epoll_ctl(rb->epoll_fd, EPOLL_CTL_ADD, rb->kick_fd, &ev);
	for (bool ok = replay_log_first(log, &f); ok && i < n;
	     ok = replay_log_next(log, &f)) {
		replay_gate_note_logged(gate, f.data, f.len);
		rb->items[i].len = f.len;
		memcpy(rb->items[i].data, f.data, f.len);
		i++;
	}
	rb->count = i;
	rb->base.ops = &replay_ops;
	rb->tap = tap;
	rb->gate = gate;
	rb->res.started_ns = clock_mono_ns();
	if (rb->count == 0)
		rb->res.finished_ns = rb->res.started_ns;
	else
		kick(rb); /* start delivering at the guest's first WAIT */
	*out = &rb->base;
	return 0;
fail:
	if (rb->epoll_fd >= 0)
		close(rb->epoll_fd);
	if (rb->timer_fd >= 0)
		close(rb->timer_fd);
	if (rb->kick_fd >= 0)
		close(rb->kick_fd);
	free(rb->items);
	free(rb);
	return -ENOMEM;
}

void replay_backend_result(struct vnic_backend *b,
			   struct replay_backend_result *out)
{
	struct replay_backend *rb = (struct replay_backend *)b;

	out->started_ns = rb->res.started_ns;
	out->finished_ns = stat_read(rb->res.finished_ns);
	out->frames = stat_read(rb->res.frames);
	out->bytes = stat_read(rb->res.bytes);
	out->suppressed = stat_read(rb->res.suppressed);
}
