/* SPDX-License-Identifier: MIT */
/*
 * The control socket server of every rrvm daemon: a Unix stream socket,
 * created 0600, served by its own threads. A client (`rrvm ctl`) sends one
 * line — a command, its arguments, optionally --json — and reads the reply
 * until EOF. A reply whose first or last line starts with "error:" (or
 * {"error") is a failure; the client exits non-zero.
 *
 * Who may talk to it: root or the daemon's own uid (SO_PEERCRED). A client
 * that sends nothing is dropped after a timeout; each connection has its
 * own thread (bounded), so a slow or silent client never delays the
 * daemon's other work or other clients.
 *
 * The daemon's role decides the commands: control_server_set() swaps the
 * table (e.g. backup -> live VM after a failover) and waits until no
 * handler of the old table is still running, so the old context can be
 * freed right after.
 */
#ifndef RRVM_CONTROL_SERVER_H
#define RRVM_CONTROL_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define CONTROL_MAX_ARGS    16
#define CONTROL_REQUEST_MAX 4200

struct control_server;

struct control_request {
	int argc; /* argv[0] is the command; --json is removed */
	char *argv[CONTROL_MAX_ARGS];
	bool json; /* --json was given */
	int fd; /* the client: replies go here (control_reply*) */
	bool failed; /* an error reply was written */
};

/* Returns 0; errors are replies (control_error). */
typedef int (*control_handler_fn)(void *ctx, struct control_request *req);

struct control_command {
	const char *name;
	const char *usage; /* e.g. "save FILE [--stop]" (for the help reply) */
	control_handler_fn fn;
	void *ctx; /* passed to fn */
};

/*
 * Bind path (replacing a stale socket file; refusing one a live daemon
 * still serves) and start serving with no commands. 0 or -errno.
 */
int control_server_start(const char *path, struct control_server **out);
/* Serve cmds[0..n) from now on (NULL: none). The table must stay valid
 * until the next set or stop. */
void control_server_set(struct control_server *s,
			const struct control_command *cmds, size_t n);
/* Stop serving, wait for running handlers, unlink the socket. NULL ok. */
void control_server_stop(struct control_server *s);

/* Reply helpers for handlers (write at once: replies may stream). */
void control_reply(struct control_request *req, const char *text, size_t len);
void control_replyf(struct control_request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "error: ..." in text, {"error":"..."} with --json; marks req failed. */
void control_error(struct control_request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct report;
/* Finish the report and send it (an error reply if it failed). */
void control_reply_report(struct control_request *req, struct report *r);

#endif
