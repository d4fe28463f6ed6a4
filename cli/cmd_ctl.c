/* SPDX-License-Identifier: MIT */
/*
 * rrvm ctl: send one request to a daemon's control socket and print the
 * reply as it streams in. The daemon decides what its role understands;
 * an error reply makes the exit status 1.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/control_server.h"

static void ctl_usage(FILE *out)
{
	fputs(
	    "usage: rrvm ctl SOCKET COMMAND [ARGS] [--json]\n"
	    "\n"
	    "Talk to a running rrvm daemon (run, restore, primary, backup) "
	    "through its\n"
	    "--control socket. What a daemon understands depends on its role "
	    "now.\n"
	    "\n"
	    "A running VM (run, restore, primary, incoming, a backup that took "
	    "over):\n"
	    "  status             state, uptime, guest image, TAP, IP, MAC, "
	    "memory;\n"
	    "                     for primary/backup also role and "
	    "protection\n"
	    "  stats              exits by kind, wait calls, frames and bytes "
	    "in/out,\n"
	    "                     drops; replication figures when protected\n"
	    "  save FILE [--stop] write a full snapshot to FILE; --stop ends "
	    "the VM right\n"
	    "                     after. Resume it with 'rrvm restore'.\n"
	    "  checkpoint-probe EPOCHS INTERVAL_MS\n"
	    "                     collect EPOCHS incremental checkpoints every "
	    "INTERVAL_MS\n"
	    "                     and report pause times, dirty pages and "
	    "bytes\n"
	    "  migrate ADDR:PORT [--max-downtime MS] [--max-bandwidth MIB_S]\n"
	    "          [--auto-converge] [--channels N] [--timeout S]\n"
	    "          (--key-file FILE | --insecure)\n"
	    "                     live-migrate the VM to 'rrvm incoming' "
	    "listening there;\n"
	    "                     one progress line per round, then the "
	    "report; exit 0\n"
	    "                     only when the VM runs there (this daemon "
	    "then exits).\n"
	    "                     --max-downtime: stop-and-copy once the rest "
	    "fits (default\n"
	    "                     300); --max-bandwidth: cap, 0 = none; "
	    "--auto-converge:\n"
	    "                     throttle a guest that dirties faster than "
	    "the link;\n"
	    "                     --channels N: N links, each round split "
	    "among N encoder\n"
	    "                     threads (1..8, default 1; the cap is for "
	    "their sum);\n"
	    "                     --timeout: give up if not converged by "
	    "then; Ctrl-C or\n"
	    "                     migrate-cancel stop it (the VM runs on "
	    "here). Refused\n"
	    "                     while the VM is protected (unprotect, or "
	    "switchover)\n"
	    "  migrate-cancel     stop a running migration (or resume a VM "
	    "left frozen by\n"
	    "                     a cutover whose outcome was unknown)\n"
	    "A VM under rrvm primary/backup (role changes, docs/design.md):\n"
	    "  protect ADDR:PORT [--mode reverse|buffered|naive]\n"
	    "                     protect the VM to a backup listening there "
	    "(after a\n"
	    "                     failover: re-protection)\n"
	    "  unprotect          stop replicating; the backup stands down\n"
	    "  switchover [--timeout MS]\n"
	    "                     hand the VM to the backup (final epoch, "
	    "handover, no\n"
	    "                     fence); refused unless the backup is in "
	    "sync\n"
	    "A backup waiting to take over:\n"
	    "  status             replica, primary, longest silence, capture\n"
	    "  log-dump FILE.pcapng  the replay log (reverse mode)\n"
	    "\n"
	    "--json prints one JSON object instead of text. Exit status: 0 "
	    "ok, 1 the\n"
	    "daemon answered with an error (or is not there), 2 usage.\n",
	    out);
}

/* Commands whose FILE argument the daemon (maybe elsewhere) must get whole. */
static bool takes_file(const char *command)
{
	return strcmp(command, "save") == 0 || strcmp(command, "log-dump") == 0;
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

/* argv[2..] as one request line. 0 or -1 (message printed). */
static int build_request(int argc, char **argv, char *req, size_t size,
			 bool *json)
{
	size_t len = 0;

	for (int i = 2; i < argc; i++) {
		char path[PATH_MAX + 2];
		const char *word = argv[i];

		if (strchr(word, ' ') || strchr(word, '\n') || !*word) {
			fprintf(stderr,
				"rrvm ctl: arguments cannot be empty or hold "
				"spaces ('%s')\n",
				word);
			return -1;
		}
		if (strcmp(word, "--json") == 0)
			*json = true;
		if (((i == 3 && takes_file(argv[2])) ||
		     strcmp(argv[i - 1], "--key-file") == 0) &&
		    word[0] != '-') {
			if (absolute_path(word, path, sizeof(path))) {
				fprintf(stderr, "rrvm ctl: bad path '%s'\n",
					word);
				return -1;
			}
			word = path;
		}
		if (len + strlen(word) + 2 > size) {
			fprintf(stderr, "rrvm ctl: request too long\n");
			return -1;
		}
		len += (size_t)snprintf(req + len, size - len, "%s%s",
					len ? " " : "", word);
	}
	req[len++] = '\n';
	req[len] = '\0';
	return 0;
}

static bool is_error_line(const char *line)
{
	return strncmp(line, "error:", 6) == 0 ||
	       strncmp(line, "{\"error\"", 8) == 0;
}

/*
 * Print the reply as it arrives (progress of long commands streams);
 * remember whether its first or last line is an error.
 */
static int relay_reply(int fd, bool json)
{
	char buf[4096], first[16] = "", last[256] = "";
	size_t first_len = 0, last_len = 0;
	bool at_line_start = true, any = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];

			if (at_line_start)
				last_len = 0;
			at_line_start = c == '\n';
			if (first_len < sizeof(first) - 1 && !any)
				first[first_len++] = c;
			if (c == '\n') {
				any = true;
				continue;
			}
			if (last_len < sizeof(last) - 1)
				last[last_len++] = c;
			last[last_len] = '\0';
		}
		first[first_len] = '\0';
		if (is_error_line(first) || is_error_line(last)) {
			/* Errors go to stderr unless JSON was asked for. */
			fwrite(buf, 1, (size_t)n, json ? stdout : stderr);
		} else {
			fwrite(buf, 1, (size_t)n, stdout);
		}
		fflush(stdout);
	}
	if (n < 0) {
		fprintf(stderr, "rrvm ctl: read: %s\n", strerror(errno));
		return RRVM_EXIT_ERROR;
	}
	if (!first_len) {
		fprintf(stderr, "rrvm ctl: no reply from the daemon\n");
		return RRVM_EXIT_ERROR;
	}
	return is_error_line(first) || is_error_line(last) ? RRVM_EXIT_ERROR
							   : RRVM_EXIT_OK;
}

int cmd_ctl(int argc, char **argv)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char request[CONTROL_REQUEST_MAX];
	const char *path;
	bool json = false;
	int fd, ret;

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
	if (takes_file(argv[2]) && (argc < 4 || argv[3][0] == '-')) {
		fprintf(stderr, "rrvm ctl: %s needs a FILE\n", argv[2]);
		return RRVM_EXIT_USAGE;
	}
	if (build_request(argc, argv, request, sizeof(request), &json))
		return RRVM_EXIT_USAGE;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "rrvm ctl: socket path too long\n");
		return RRVM_EXIT_USAGE;
	}
	memcpy(addr.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("rrvm ctl: socket");
		return RRVM_EXIT_ERROR;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr,
			"rrvm ctl: cannot connect to '%s': %s (is a daemon "
			"running with --control %s?)\n",
			path, strerror(errno), path);
		close(fd);
		return RRVM_EXIT_ERROR;
	}
	/*
	 * A daemon that refuses this client may answer and close before the
	 * request is written: its reply is still there to read.
	 */
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) !=
		    (ssize_t)strlen(request) &&
	    errno != EPIPE && errno != ECONNRESET) {
		fprintf(stderr, "rrvm ctl: write: %s\n", strerror(errno));
		close(fd);
		return RRVM_EXIT_ERROR;
	}
	ret = relay_reply(fd, json);
	close(fd);
	return ret;
}
