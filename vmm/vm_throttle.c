/* SPDX-License-Identifier: MIT */
/*
 * The vCPU throttle: run (100 - P) % of each slice, sleep P %. See
 * vm_throttle.h for how the vCPU is made to leave KVM_RUN on time.
 */
#include "vmm/vm_throttle.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/vm.h"

int vm_throttle_set(struct vm *vm, unsigned percent)
{
	if (percent > VM_THROTTLE_MAX)
		return -EINVAL;
	__atomic_store_n(&vm->throttle.percent, percent, __ATOMIC_RELEASE);
	/* A sleeping vCPU re-reads the share; a running one picks it up at
	 * its next exit, which this forces. */
	vm_kick(vm);
	return 0;
}

unsigned vm_throttle_get(const struct vm *vm)
{
	return __atomic_load_n(&vm->throttle.percent, __ATOMIC_ACQUIRE);
}

uint64_t vm_throttle_slept_ns(const struct vm *vm)
{
	return stat_read(vm->throttle.slept_ns);
}

uint64_t vm_throttle_idle_ns(const struct vm *vm)
{
	return stat_read(vm->throttle.idle_ns);
}

static uint64_t run_share_ns(unsigned percent)
{
	return VM_THROTTLE_SLICE_NS * (100 - percent) / 100;
}

/*
 * How long to sleep now so that, with it, the time slept since since_ns is
 * percent % of the time elapsed: s = (P * elapsed - 100 * slept) / (100 - P).
 * At most ten slices at once (a host stall is not repaid all in one go).
 */
static uint64_t sleep_due_ns(const struct vm_throttle *t, unsigned percent,
			     uint64_t now)
{
	unsigned __int128 want =
	    (unsigned __int128)(now - t->since_ns) * percent;
	unsigned __int128 had = (unsigned __int128)t->owed_slept_ns * 100;
	uint64_t s;

	if (want <= had)
		return 0;
	s = (uint64_t)((want - had) / (100 - percent));
	return s > 10 * VM_THROTTLE_SLICE_NS ? 10 * VM_THROTTLE_SLICE_NS : s;
}

static int throttle_arm(struct vm_throttle *t, uint64_t deadline_ns)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (!t->timer_created) {
		struct sigevent sev;

		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_THREAD_ID;
		sev.sigev_signo = VM_KICK_SIGNAL;
		sev._sigev_un._tid = gettid();
		if (timer_create(CLOCK_MONOTONIC, &sev, &t->timer) < 0)
			return -errno;
		t->timer_created = true;
	}
	its.it_value.tv_sec = (time_t)(deadline_ns / 1000000000u);
	its.it_value.tv_nsec = (long)(deadline_ns % 1000000000u);
	if (timer_settime(t->timer, TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	t->armed_ns = deadline_ns;
	return 0;
}

static void throttle_disarm(struct vm_throttle *t)
{
	struct itimerspec off;

	memset(&off, 0, sizeof(off));
	if (t->timer_created && t->armed_ns)
		timer_settime(t->timer, 0, &off, NULL);
	t->armed_ns = 0;
	t->active = false;
}

static void start_running(struct vm *vm, unsigned percent)
{
	struct vm_throttle *t = &vm->throttle;
	int ret;

	t->run_until_ns = clock_mono_ns() + run_share_ns(percent);
	ret = throttle_arm(t, t->run_until_ns);
	if (ret)
		/* Without the timer the throttle only acts at guest exits. */
		log_warn("vCPU throttle timer: %s", strerror(-ret));
}

/*
 * Sleep until `until` on the request eventfd: pause requests are served
 * meanwhile, and a stop or a change of the throttle ends the sleep early.
 */
static void throttle_sleep(struct vm *vm, uint64_t until)
{
	struct vm_throttle *t = &vm->throttle;
	uint64_t start = clock_mono_ns(), now = start;

	while (!vm_stop_requested(vm) &&
	       vm_throttle_get(vm) == t->active_percent && now < until) {
		struct pollfd pfd = {.fd = vm->request_fd, .events = POLLIN};
		struct timespec ts = {(time_t)((until - now) / 1000000000u),
				      (long)((until - now) % 1000000000u)};

		if (ppoll(&pfd, 1, &ts, NULL) > 0)
			vm_serve_requests(vm);
		now = clock_mono_ns();
	}
	t->owed_slept_ns += now - start;
	stat_add(t->slept_ns, now - start);
	stat_inc(t->sleeps);
}

/* Start (or restart, for a new percentage) the accounting. */
static void throttle_start(struct vm *vm, unsigned percent)
{
	struct vm_throttle *t = &vm->throttle;

	t->active = true;
	t->active_percent = percent;
	t->since_ns = clock_mono_ns();
	t->owed_slept_ns = 0;
	start_running(vm, percent);
}

void vm_throttle_point(struct vm *vm)
{
	struct vm_throttle *t = &vm->throttle;
	unsigned percent = vm_throttle_get(vm);
	uint64_t now;

	if (!percent) {
		if (t->active)
			throttle_disarm(t);
		return;
	}
	if (!t->active || percent != t->active_percent) {
		throttle_start(vm, percent);
		return;
	}
	now = clock_mono_ns();
	if (now < t->run_until_ns)
		return;
	throttle_sleep(vm, now + sleep_due_ns(t, percent, now));
	percent = vm_throttle_get(vm);
	if (!percent || vm_stop_requested(vm)) {
		throttle_disarm(t);
		return;
	}
	if (percent != t->active_percent)
		throttle_start(vm, percent);
	else
		start_running(vm, percent);
}

void vm_throttle_idle(struct vm *vm, uint64_t ns)
{
	if (!vm->throttle.active)
		return;
	vm->throttle.owed_slept_ns += ns;
	stat_add(vm->throttle.idle_ns, ns);
}

void vm_throttle_exit(struct vm *vm)
{
	struct vm_throttle *t = &vm->throttle;

	throttle_disarm(t);
	if (t->timer_created)
		timer_delete(t->timer);
	t->timer_created = false;
}
