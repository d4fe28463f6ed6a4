/* SPDX-License-Identifier: MIT */
/*
 * Hypercalls. Every argument block lives in guest memory and is checked
 * against guest RAM bounds before use: the guest is not trusted to pass sane
 * pointers.
 */
#include "vmm/hypercall.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "rrvm/hypercall.h"
#include "vmm/vm.h"

#define CONSOLE_MAX_WRITE 4096

void hypercall_console_flush(struct vm *vm)
{
	if (vm->console_len == 0)
		return;
	log_info("guest: %.*s", (int)vm->console_len, vm->console_line);
	vm->console_len = 0;
}

/* Guest text is line-buffered so each line is one log record. */
static void console_append(struct vm *vm, const char *text, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		char c = text[i];

		if (c == '\n') {
			hypercall_console_flush(vm);
			continue;
		}
		if (c != '\t' && (c < 0x20 || c > 0x7e))
			c = '?';
		vm->console_line[vm->console_len++] = c;
		if (vm->console_len == sizeof(vm->console_line))
			hypercall_console_flush(vm);
	}
}

static enum hypercall_result hc_console(struct vm *vm, uint32_t arg, bool panic)
{
	struct rrvm_hc_console *c = vm_gpa_to_host(vm, arg, sizeof(*c));
	const char *text;
	uint32_t len;

	if (!c)
		return HC_BAD_CALL;
	len = c->len > CONSOLE_MAX_WRITE ? CONSOLE_MAX_WRITE : c->len;
	text = vm_gpa_to_host(vm, c->buf_gpa, len);
	if (!text)
		return HC_BAD_CALL;
	if (panic) {
		hypercall_console_flush(vm);
		log_error("guest panic: %.*s", (int)len, text);
		return HC_GUEST_PANIC;
	}
	stat_inc(vm->stats.exits_console);
	console_append(vm, text, len);
	return HC_CONTINUE;
}

/* Sleep until the backend has a frame or the guest deadline passes. */
static void wait_for_input(struct vm *vm, uint64_t deadline_ns)
{
	struct pollfd pfd[2];
	struct timespec timeout;
	uint64_t now = vm_clock_guest_now(vm);
	uint64_t delta, asleep_ns;
	sigset_t mask;

	if (deadline_ns <= now)
		return;
	delta = deadline_ns - now;
	/* A guest asking for hours is still woken every second: stop checks. */
	if (delta > 1000000000u)
		delta = 1000000000u;
	timeout.tv_sec = (time_t)(delta / 1000000000u);
	timeout.tv_nsec = (long)(delta % 1000000000u);
	pfd[0].fd = vm->vnic.backend->ops->poll_fd(vm->vnic.backend);
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
	/* A pause request ends the sleep; the guest just sees an early return.
	 */
	pfd[1].fd = vm->request_fd;
	pfd[1].events = POLLIN;
	pfd[1].revents = 0;
	/*
	 * The kick signal stays blocked while asleep: kicks that matter
	 * also write the request eventfd, and the throttle's timer (same
	 * signal) must not wake an idle guest early. A pending kick is
	 * delivered when ppoll returns and makes the next KVM_RUN exit.
	 */
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	sigaddset(&mask, VM_KICK_SIGNAL);
	stat_inc(vm->stats.wait_blocked);
	asleep_ns = clock_mono_ns();
	ppoll(pfd, 2, &timeout, &mask);
	vm_throttle_idle(vm, clock_mono_ns() - asleep_ns);
}

static enum hypercall_result hc_wait(struct vm *vm, uint32_t arg)
{
	struct rrvm_hc_wait *w = vm_gpa_to_host(vm, arg, sizeof(*w));
	int sent, received;

	if (!w)
		return HC_BAD_CALL;
	stat_inc(vm->stats.exits_wait);
	sent = vnic_flush_tx(vm);
	received = vnic_fill_rx(vm);
	if (sent < 0 || received < 0)
		return HC_BAD_CALL;
	if (received == 0 && w->deadline_ns != 0 && !vm_stop_requested(vm)) {
		wait_for_input(vm, w->deadline_ns);
		received = vnic_fill_rx(vm);
		if (received < 0)
			return HC_BAD_CALL;
	}
	w->rx_delivered = (uint32_t)received;
	w->tx_sent = (uint32_t)sent;
	vm_mark_dirty(vm, arg, sizeof(*w));
	return HC_CONTINUE;
}

enum hypercall_result hypercall_dispatch(struct vm *vm, uint16_t port,
					 uint32_t arg)
{
	switch (port - RRVM_HC_PORT) {
	case RRVM_HC_EXIT:
		hypercall_console_flush(vm);
		vm->exit_status = (int)arg;
		return HC_GUEST_EXIT;
	case RRVM_HC_CONSOLE:
		return hc_console(vm, arg, false);
	case RRVM_HC_WAIT:
		return hc_wait(vm, arg);
	case RRVM_HC_PANIC:
		return hc_console(vm, arg, true);
	}
	return HC_BAD_CALL;
}
