/* SPDX-License-Identifier: MIT */
/* rrvm ctl: send one request to a control socket and print the reply. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/commands.h"

static void ctl_usage(FILE *out)
{
	fprintf(out,
		"usage: rrvm ctl SOCKET COMMAND [--json]\n"
		"\n"
		"Ask a running 'rrvm run --control SOCKET' about its VM.\n"
		"\n"
		"commands:\n"
		"  status   state, uptime, guest image, TAP, IP, MAC, memory\n"
		"  stats    exits by kind, wait calls, frames and bytes in/out,"
		"\n"
		"           drops\n"
		"\n"
		"--json prints one JSON object instead of text.\n");
}

int cmd_ctl(int argc, char **argv)
{
	struct sockaddr_un addr;
	char request[128], reply[4096];
	const char *path, *command;
	int json = 0, fd, ret = RRVM_EXIT_ERROR;
	ssize_t n;
	size_t len;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			ctl_usage(stdout);
			return RRVM_EXIT_OK;
		}
	}
	if (argc < 3 || argc > 4 ||
	    (argc == 4 && strcmp(argv[3], "--json") != 0)) {
		ctl_usage(stderr);
		return RRVM_EXIT_USAGE;
	}
	path = argv[1];
	command = argv[2];
	json = argc == 4;
	if (strcmp(command, "status") != 0 && strcmp(command, "stats") != 0) {
		fprintf(stderr,
			"rrvm ctl: unknown command '%s' (known: status, "
			"stats)\n",
			command);
		return RRVM_EXIT_USAGE;
	}
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "rrvm ctl: socket path too long\n");
		return RRVM_EXIT_USAGE;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("rrvm ctl: socket");
		return RRVM_EXIT_ERROR;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr,
			"rrvm ctl: cannot connect to '%s': %s (is 'rrvm run "
			"--control %s' running?)\n",
			path, strerror(errno), path);
		goto out;
	}
	len = (size_t)snprintf(request, sizeof(request), "%s%s\n", command,
			       json ? " --json" : "");
	if (write(fd, request, len) != (ssize_t)len) {
		fprintf(stderr, "rrvm ctl: write: %s\n", strerror(errno));
		goto out;
	}
	while ((n = read(fd, reply, sizeof(reply))) > 0)
		fwrite(reply, 1, (size_t)n, stdout);
	if (n < 0) {
		fprintf(stderr, "rrvm ctl: read: %s\n", strerror(errno));
		goto out;
	}
	ret = RRVM_EXIT_OK;
out:
	close(fd);
	return ret;
}
