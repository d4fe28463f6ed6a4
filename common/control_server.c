/* SPDX-License-Identifier: MIT */
#include "common/control_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/report.h"

/* A client must send its request line within this. */
#define CONTROL_READ_TIMEOUT_MS 1000
/* Connections served at once; more are told to retry. */
#define CONTROL_MAX_CLIENTS 8

struct control_server {
	int listen_fd;
	int wake_pipe[2];
	pthread_t thread;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];

	/* The command table; handlers hold it read-locked while running. */
	pthread_rwlock_t table_lock;
	const struct control_command *cmds;
	size_t ncmds;

	pthread_mutex_t clients_lock;
	pthread_cond_t clients_done;
	int clients; /* connection threads alive */
};

struct control_conn {
	struct control_server *server;
	int fd;
};

void control_reply(struct control_request *req, const char *text, size_t len)
{
	while (len) {
		ssize_t n = write(req->fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_debug("control: reply not delivered: %s",
				  n < 0 ? strerror(errno) : "short write");
			return;
		}
		text += n;
		len -= (size_t)n;
	}
}

static void control_vreplyf(struct control_request *req, const char *fmt,
			    va_list ap)
{
	char buf[4096];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		return;
	control_reply(req, buf,
		      (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void control_replyf(struct control_request *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	control_vreplyf(req, fmt, ap);
	va_end(ap);
}

void control_error(struct control_request *req, const char *fmt, ...)
{
	char msg[1024];
	struct report r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	req->failed = true;
	if (!req->json) {
		control_replyf(req, "error: %s\n", msg);
		return;
	}
	report_init(&r, true);
	report_str(&r, "error", NULL, msg);
	if (report_finish(&r) > 0)
		control_reply(req, r.buf, r.len);
	report_free(&r);
}

void control_reply_report(struct control_request *req, struct report *r)
{
	if (report_finish(r) < 0) {
		control_error(req, "out of memory rendering the reply");
		return;
	}
	control_reply(req, r->buf, r->len);
}

/* Root, or whoever runs this daemon. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

/* One line within the timeout. Returns its length or -1. */
static int read_request(int fd, char *req, size_t size)
{
	uint64_t deadline = clock_mono_ns() + CONTROL_READ_TIMEOUT_MS * 1000000ull;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t got = 0;

	while (got < size - 1 && !memchr(req, '\n', got)) {
		uint64_t now = clock_mono_ns();
		ssize_t n;

		if (now >= deadline ||
		    poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			break;
		n = read(fd, req + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	req[got] = '\0';
	return memchr(req, '\n', got) || got ? (int)got : -1;
}

static void split_request(char *line, struct control_request *req)
{
	char *save = NULL;

	for (char *tok = strtok_r(line, " \t\r\n", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (strcmp(tok, "--json") == 0) {
			req->json = true;
			continue;
		}
		if (req->argc < CONTROL_MAX_ARGS)
			req->argv[req->argc++] = tok;
	}
}

static void reply_unknown(struct control_server *s, struct control_request *req)
{
	char known[512] = "";
	size_t len = 0;

	for (size_t i = 0; i < s->ncmds && len < sizeof(known); i++)
		len += (size_t)snprintf(known + len, sizeof(known) - len,
					"%s%s", i ? ", " : "", s->cmds[i].name);
	if (!req->argc)
		control_error(req, "empty request (known commands: %s)",
			      known[0] ? known : "none");
	else
		control_error(req, "unknown command '%s' (known: %s)",
			      req->argv[0], known[0] ? known : "none");
}

static void serve(struct control_server *s, int fd)
{
	char line[CONTROL_REQUEST_MAX];
	struct control_request req = {.fd = fd};
	const struct control_command *cmd = NULL;
	bool allowed;

	/*
	 * The request is read even from a client about to be refused: closing
	 * with its bytes unread would reset the connection (or raise SIGPIPE
	 * in the client) before it reads why it was refused.
	 */
	allowed = peer_allowed(fd);
	if (read_request(fd, line, sizeof(line)) < 0 && allowed)
		return; /* said nothing in time */
	if (!allowed) {
		control_error(&req, "permission denied (root or the daemon's "
				    "own user only)");
		log_warn("control: refused a client of another user");
		return;
	}
	split_request(line, &req);
	pthread_rwlock_rdlock(&s->table_lock);
	for (size_t i = 0; req.argc && i < s->ncmds; i++)
		if (strcmp(s->cmds[i].name, req.argv[0]) == 0)
			cmd = &s->cmds[i];
	if (cmd)
		cmd->fn(cmd->ctx, &req);
	else
		reply_unknown(s, &req);
	pthread_rwlock_unlock(&s->table_lock);
}

static void *conn_thread(void *arg)
{
	struct control_conn *c = arg;
	struct control_server *s = c->server;

	serve(s, c->fd);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&s->clients_lock);
	s->clients--;
	pthread_cond_broadcast(&s->clients_done);
	pthread_mutex_unlock(&s->clients_lock);
	return NULL;
}

static void start_conn(struct control_server *s, int fd)
{
	struct control_conn *c;
	pthread_t t;
	bool busy;

	pthread_mutex_lock(&s->clients_lock);
	busy = s->clients >= CONTROL_MAX_CLIENTS;
	if (!busy)
		s->clients++;
	pthread_mutex_unlock(&s->clients_lock);
	c = busy ? NULL : malloc(sizeof(*c));
	if (c) {
		c->server = s;
		c->fd = fd;
		if (pthread_create(&t, NULL, conn_thread, c) == 0) {
			pthread_setname_np(t, "control-conn");
			pthread_detach(t);
			return;
		}
		free(c);
	}
	if (!busy) {
		pthread_mutex_lock(&s->clients_lock);
		s->clients--;
		pthread_mutex_unlock(&s->clients_lock);
	}
	if (write(fd, "error: busy, try again\n", 23) < 0)
		log_debug("control: busy reply: %s", strerror(errno));
	close(fd);
}

static void *accept_thread(void *arg)
{
	struct control_server *s = arg;
	struct pollfd pfds[2] = {
	    {.fd = s->listen_fd, .events = POLLIN},
	    {.fd = s->wake_pipe[0], .events = POLLIN},
	};

	for (;;) {
		int fd;

		if (poll(pfds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfds[1].revents)
			break;
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			start_conn(s, fd);
	}
	return NULL;
}

/* A socket file nobody answers on is stale; a live one is someone's. */
static int claim_path(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, ret = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("control socket '%s': exists and is not a socket; "
			  "not replacing it",
			  path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0) {
		log_error("control socket '%s': another daemon is serving it",
			  path);
		ret = -EADDRINUSE;
	} else if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
	} else {
		log_debug("control socket '%s': replaced a stale one", path);
	}
	close(fd);
	return ret;
}

int control_server_start(const char *path, struct control_server **out)
{
	struct control_server *s;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	sigset_t all, old;
	mode_t mask;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("control socket path '%s' is too long (max %zu)",
			  path, sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, path, strlen(path));
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->wake_pipe[0] = s->wake_pipe[1] = -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	pthread_rwlock_init(&s->table_lock, NULL);
	pthread_mutex_init(&s->clients_lock, NULL);
	pthread_cond_init(&s->clients_done, NULL);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = claim_path(path, &addr);
	if (ret)
		goto out;
	/* Created 0600 from the start: no window with a wider mode. */
	mask = umask(0177);
	ret = bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(mask);
	if (ret < 0 || listen(s->listen_fd, 8) < 0) {
		ret = -errno;
		log_error("control socket '%s': %s", path, strerror(errno));
		goto out;
	}
	if (pipe2(s->wake_pipe, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	/* Signals (SIGINT, SIGTERM) are for the main thread, not ours. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&s->thread, NULL, accept_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto out_unlink;
	pthread_setname_np(s->thread, "control");
	*out = s;
	return 0;
out_unlink:
	unlink(path);
out:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->wake_pipe[0] >= 0) {
		close(s->wake_pipe[0]);
		close(s->wake_pipe[1]);
	}
	free(s);
	return ret;
}

void control_server_set(struct control_server *s,
			const struct control_command *cmds, size_t n)
{
	if (!s)
		return;
	pthread_rwlock_wrlock(&s->table_lock);
	s->cmds = cmds;
	s->ncmds = cmds ? n : 0;
	pthread_rwlock_unlock(&s->table_lock);
}

void control_server_stop(struct control_server *s)
{
	if (!s)
		return;
	if (write(s->wake_pipe[1], "x", 1) < 0)
		log_debug("control: wake failed: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	unlink(s->path);
	/* Clients still connected finish their request first. */
	control_server_set(s, NULL, 0);
	pthread_mutex_lock(&s->clients_lock);
	while (s->clients > 0)
		pthread_cond_wait(&s->clients_done, &s->clients_lock);
	pthread_mutex_unlock(&s->clients_lock);
	close(s->wake_pipe[0]);
	close(s->wake_pipe[1]);
	pthread_rwlock_destroy(&s->table_lock);
	free(s);
}
