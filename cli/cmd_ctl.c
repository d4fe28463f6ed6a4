/* SPDX-License-Identifier: MIT */
/* rrvm ctl: send one request to a control socket and print the reply. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/commands.h"

static void ctl_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: rrvm ctl SOCKET COMMAND [ARGS] [--json]\n"
	    "\n"
	    "Ask a running 'rrvm run|restore --control SOCKET' about its "
	    "VM.\n"
	    "\n"
	    "commands:\n"
	    "  status             state, uptime, guest image, TAP, IP, MAC,"
	    " memory\n"
	    "  stats              exits by kind, wait calls, frames and "
	    "bytes in/out,\n"
	    "                     drops\n"
	    "  save FILE [--stop] write a full snapshot (memory, vCPU, "
	    "devices) to FILE;\n"
	    "                     --stop ends the VM right after, so the "
	    "guest never\n"
	    "                     runs past the saved state. Resume it with "
	    "'rrvm restore'.\n"
	    "  checkpoint-probe EPOCHS INTERVAL_MS\n"
	    "                     collect EPOCHS incremental checkpoints "
	    "every\n"
	    "                     INTERVAL_MS (as a primary would) and "
	    "report pause\n"
	    "                     times, dirty pages and bytes with and "
	    "without\n"
	    "                     delta compression; the VM keeps running. "
	    "With a\n"
	    "                     two-phase collect (most pages copied "
	    "before the\n"
	    "                     pause), EPOCHS one-phase collects are "
	    "interleaved\n"
	    "                     and reported too, for comparison\n"
	    "\n"
	    "--json prints one JSON object instead of text.\n");
}

static int absolute_path(const char *in, char *out, size_t size)
{
	char cwd[PATH_MAX];
	int n;

	if (strchr(in, ' ') || strchr(in, '\n') || in[0] == '\0')
		return -1;
	if (in[0] == '/') {
		n = snprintf(out, size, "%s", in);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -1;
		n = snprintf(out, size, "%s/%s", cwd, in);
	}
	return n < 0 || (size_t)n >= size || n > PATH_MAX ? -1 : 0;
}

int cmd_ctl(int argc, char **argv)
{
	struct sockaddr_un addr;
	char request[PATH_MAX + 64], reply[4096];
	const char *path, *command;
	int json = 0, fd, ret = RRVM_EXIT_ERROR;
	ssize_t n = 0;
	size_t len, got;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			ctl_usage(stdout);
			return RRVM_EXIT_OK;
		}
	}
	if (argc < 3) {
		ctl_usage(stderr);
		return RRVM_EXIT_USAGE;
	}
	path = argv[1];
	command = argv[2];
	if (strcmp(command, "status") == 0 || strcmp(command, "stats") == 0) {
		if (argc > 4 || (argc == 4 && strcmp(argv[3], "--json") != 0)) {
			ctl_usage(stderr);
			return RRVM_EXIT_USAGE;
		}
		json = argc == 4;
		len = (size_t)snprintf(request, sizeof(request), "%s%s\n",
				       command, json ? " --json" : "");
	} else if (strcmp(command, "log-dump") == 0) {
		char file[PATH_MAX + 2];

		if (argc != 4 || absolute_path(argv[3], file, sizeof(file))) {
			fprintf(stderr, "rrvm ctl: usage: log-dump FILE.pcapng "
					"(no spaces in FILE)\n");
			return RRVM_EXIT_USAGE;
		}
		len = (size_t)snprintf(request, sizeof(request),
				       "log-dump %s\n", file);
	} else if (strcmp(command, "save") == 0) {
		int stop = 0;
		char file[PATH_MAX + 2];

		if (argc < 4) {
			fprintf(stderr, "rrvm ctl: save needs a FILE\n");
			return RRVM_EXIT_USAGE;
		}
		for (int i = 4; i < argc; i++) {
			if (strcmp(argv[i], "--stop") == 0) {
				stop = 1;
			} else if (strcmp(argv[i], "--json") == 0) {
				json = 1;
			} else {
				fprintf(stderr,
					"rrvm ctl: save: unknown option '%s'\n",
					argv[i]);
				return RRVM_EXIT_USAGE;
			}
		}
		/* The monitor may run in another directory: send a full path.
		 */
		if (absolute_path(argv[3], file, sizeof(file))) {
			fprintf(stderr,
				"rrvm ctl: save: bad path '%s' (no spaces, "
				"at most %d bytes)\n",
				argv[3], PATH_MAX);
			return RRVM_EXIT_USAGE;
		}
		len = (size_t)snprintf(
		    request, sizeof(request), "save %s%s%s\n", file,
		    stop ? " --stop" : "", json ? " --json" : "");
	} else if (strcmp(command, "checkpoint-probe") == 0) {
		char *end1, *end2;
		unsigned long epochs, interval;

		if (argc < 5 || argc > 6 ||
		    (argc == 6 && strcmp(argv[5], "--json") != 0)) {
			fprintf(stderr, "rrvm ctl: usage: checkpoint-probe "
					"EPOCHS INTERVAL_MS [--json]\n");
			return RRVM_EXIT_USAGE;
		}
		epochs = strtoul(argv[3], &end1, 10);
		interval = strtoul(argv[4], &end2, 10);
		if (*end1 || *end2 || epochs < 1 || epochs > 10000 ||
		    interval < 1 || interval > 10000) {
			fprintf(stderr, "rrvm ctl: checkpoint-probe: EPOCHS "
					"and INTERVAL_MS must be 1..10000\n");
			return RRVM_EXIT_USAGE;
		}
		json = argc == 6;
		len = (size_t)snprintf(request, sizeof(request),
				       "checkpoint-probe %lu %lu%s\n", epochs,
				       interval, json ? " --json" : "");
	} else {
		fprintf(stderr,
			"rrvm ctl: unknown command '%s' (known: status, "
			"stats, save, checkpoint-probe, log-dump)\n",
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
	if (write(fd, request, len) != (ssize_t)len) {
		fprintf(stderr, "rrvm ctl: write: %s\n", strerror(errno));
		goto out;
	}
	/* Replies are small; an error reply makes the exit status 1. */
	got = 0;
	while (got < sizeof(reply) - 1 &&
	       (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
		got += (size_t)n;
	if (n < 0) {
		fprintf(stderr, "rrvm ctl: read: %s\n", strerror(errno));
		goto out;
	}
	reply[got] = '\0';
	if (strncmp(reply, "error:", 6) == 0 ||
	    strncmp(reply, "{\"error\"", 9) == 0) {
		fputs(reply, json ? stdout : stderr);
		goto out;
	}
	fputs(reply, stdout);
	ret = RRVM_EXIT_OK;
out:
	close(fd);
	return ret;
}
