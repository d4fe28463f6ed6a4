/* SPDX-License-Identifier: MIT */
#include "common/run_cmd.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"

extern char **environ;

int run_shell_command(const char *cmd, unsigned timeout_s)
{
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	pid_t pid;
	int status = 0;

	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
		return -1;
	for (unsigned i = 0; i < timeout_s * 200; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(5000);
	}
	log_error("'%s' ran longer than %u s: killed", cmd, timeout_s);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}
