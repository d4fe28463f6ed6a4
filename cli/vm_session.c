/* SPDX-License-Identifier: MIT */
#include "cli/vm_session.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "cli/commands.h"
#include "common/log.h"
#include "vmm/vm.h"

struct vm session_vm;

static void on_stop_signal(int sig)
{
	(void)sig;
	session_vm.stop_requested = 1;
}

static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	/* No SA_RESTART: KVM_RUN and ppoll must return EINTR so we stop. */
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int vm_session_run(const char *control_path, const struct control_info *info)
{
	return vm_session_run_hooked(control_path, info, NULL, NULL);
}

int vm_session_run_hooked(const char *control_path,
			  const struct control_info *info,
			  void (*on_stop)(void *ctx), void *ctx)
{
	struct control_server *control = NULL;
	int ret;

	if (install_signals()) {
		ret = RRVM_EXIT_ERROR;
		goto out;
	}
	if (control_path &&
	    control_start(control_path, &session_vm, info, &control)) {
		ret = RRVM_EXIT_ERROR;
		goto out;
	}
	ret = vm_run(&session_vm);
	if (ret == -EFAULT) {
		ret = RRVM_EXIT_GUEST_FAULT;
	} else if (ret < 0) {
		ret = RRVM_EXIT_ERROR;
	} else if (session_vm.stop_requested) {
		log_info("VM stopped (signal or 'ctl save --stop')");
		ret = RRVM_EXIT_OK;
	} else {
		log_info("guest exited with status %d", ret);
		ret &= 0xff;
	}
out:
	if (on_stop)
		on_stop(ctx);
	control_stop(control);
	vm_destroy(&session_vm);
	return ret;
}
