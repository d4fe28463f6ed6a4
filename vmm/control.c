/* SPDX-License-Identifier: MIT */
#include "vmm/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vmm/vm.h"
#include "vmm/ckpt_probe.h"
#include "vmm/vm_snapshot.h"

#define CONTROL_REQUEST_MAX 4200
#define CONTROL_REPLY_MAX   4096

struct control_server {
	int listen_fd;
	int wake_pipe[2];
	pthread_t thread;
	struct vm *vm;
	struct control_info info;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static double uptime_seconds(const struct vm *vm)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return (double)(now - stat_read(vm->stats.start_ns)) / 1e9;
}

static int render_status(struct control_server *s, bool json, char *buf,
			 size_t size)
{
	const struct vm *vm = s->vm;
	const char *state = vm_state_name(stat_read(vm->stats.state));

	if (json)
		return snprintf(buf, size,
				"{\"state\":\"%s\",\"uptime_s\":%.3f,"
				"\"guest\":\"%s\",\"tap\":\"%s\","
				"\"ip\":\"%s\",\"mac\":\"%s\","
				"\"mem_bytes\":%llu}\n",
				state, uptime_seconds(vm), s->info.guest_path,
				s->info.tap, s->info.ip, s->info.mac,
				(unsigned long long)s->info.mem_size);
	return snprintf(buf, size,
			"state:   %s\nuptime:  %.3f s\nguest:   %s\n"
			"tap:     %s\nip:      %s\nmac:     %s\n"
			"memory:  %llu MiB\n",
			state, uptime_seconds(vm), s->info.guest_path,
			s->info.tap, s->info.ip, s->info.mac,
			(unsigned long long)(s->info.mem_size >> 20));
}

#define S(field) ((unsigned long long)stat_read(vm->stats.field))

static int render_stats(struct control_server *s, bool json, char *buf,
			size_t size)
{
	const struct vm *vm = s->vm;
	const char *state = vm_state_name(stat_read(vm->stats.state));

	if (json)
		return snprintf(
		    buf, size,
		    "{\"state\":\"%s\",\"uptime_s\":%.3f,"
		    "\"exits\":{\"total\":%llu,\"io\":%llu,\"wait\":%llu,"
		    "\"console\":%llu,\"other\":%llu,"
		    "\"interrupted\":%llu},"
		    "\"net\":{\"rx_frames\":%llu,\"rx_bytes\":%llu,"
		    "\"tx_frames\":%llu,\"tx_bytes\":%llu,"
		    "\"rx_dropped\":%llu,\"tx_dropped\":%llu},"
		    "\"wait_calls\":%llu,\"wait_blocked\":%llu}\n",
		    state, uptime_seconds(vm), S(exits_total), S(exits_io),
		    S(exits_wait), S(exits_console), S(exits_other),
		    S(exits_interrupted), S(rx_frames), S(rx_bytes),
		    S(tx_frames), S(tx_bytes), S(rx_dropped), S(tx_dropped),
		    S(exits_wait), S(wait_blocked));
	return snprintf(
	    buf, size,
	    "state:        %s\nuptime:       %.3f s\n"
	    "exits:        %llu total (%llu port I/O: %llu wait, %llu "
	    "console; %llu other; %llu interrupted)\n"
	    "wait calls:   %llu (%llu slept)\n"
	    "rx:           %llu frames, %llu bytes, %llu dropped\n"
	    "tx:           %llu frames, %llu bytes, %llu dropped\n",
	    state, uptime_seconds(vm), S(exits_total), S(exits_io),
	    S(exits_wait), S(exits_console), S(exits_other),
	    S(exits_interrupted), S(exits_wait), S(wait_blocked), S(rx_frames),
	    S(rx_bytes), S(rx_dropped), S(tx_frames), S(tx_bytes),
	    S(tx_dropped));
}

#undef S

struct save_request {
	const char *path;
	bool stop;
	int result;
	struct ckpt_encode_stats stats;
	struct vm_snapshot snap;
	uint64_t stopped_ns; /* how long the guest did not run */
};

/*
 * Runs on the vCPU thread with the vCPU stopped. With --stop the whole save
 * happens while stopped: the guest never runs past the state that was
 * written, and does not stop if the write failed. Without --stop only the
 * collect does; encoding and writing follow with the guest running.
 */
static int save_while_paused(struct vm *vm, void *arg)
{
	struct save_request *r = arg;
	uint64_t t0 = clock_mono_ns();

	r->result = vm_snapshot_collect(vm, &r->snap, true);
	if (r->result == 0 && r->stop) {
		r->result = vm_snapshot_write_file(&r->snap, vm->mem_size,
						   r->path, &r->stats);
		if (r->result == 0)
			vm->stop_requested = 1;
	}
	r->stopped_ns = clock_mono_ns() - t0;
	return r->result;
}

static int render_save(struct control_server *s, const char *path, bool stop,
		       bool json, char *buf, size_t size)
{
	struct save_request r = {.path = path, .stop = stop};
	uint64_t pause_ns;
	int ret;

	vm_snapshot_init(&r.snap);

	/* Errors start with "error:" (text) or {"error": (JSON): the
	 * client turns them into a non-zero exit status. */
	if (path[0] != '/')
		return snprintf(buf, size,
				json ? "{\"error\":\"save needs an absolute "
				       "path (got '%s')\"}\n"
				     : "error: save needs an absolute path "
				       "(got '%s')\n",
				path);
	ret = vm_call_paused(s->vm, save_while_paused, &r);
	if (!ret && !stop)
		ret = vm_snapshot_write_file(&r.snap, s->vm->mem_size, path,
					     &r.stats);
	pause_ns = r.snap.pause_ns;
	vm_snapshot_free(&r.snap);
	if (ret)
		return snprintf(buf, size,
				json ? "{\"error\":\"save to '%s' failed: "
				       "%s\"}\n"
				     : "error: save to '%s' failed: %s\n",
				path, strerror(-ret));
	if (stop)
		vm_kick(s->vm);
	if (json)
		return snprintf(buf, size,
				"{\"saved\":\"%s\",\"pages\":%llu,"
				"\"raw_bytes\":%llu,\"encoded_bytes\":%llu,"
				"\"pause_us\":%.1f,\"stopped_us\":%.1f,"
				"\"stopped\":%s}\n",
				path, (unsigned long long)r.stats.pages,
				(unsigned long long)r.stats.raw_bytes,
				(unsigned long long)r.stats.encoded_bytes,
				pause_ns / 1e3, r.stopped_ns / 1e3,
				stop ? "true" : "false");
	return snprintf(buf, size,
			"saved %s: %llu pages, %.1f MiB raw -> %.1f MiB "
			"encoded, vCPU paused %.1f ms to collect%s\n",
			path, (unsigned long long)r.stats.pages,
			r.stats.raw_bytes / 1048576.0,
			r.stats.encoded_bytes / 1048576.0, pause_ns / 1e6,
			stop ? "; VM stopped" : "");
}

static int render_stats_all(struct control_server *s, bool json, char *buf,
			    size_t size)
{
	int n = render_stats(s, json, buf, size);
	int m;

	if (!s->info.extra_stats || n < 2 || (size_t)n >= size)
		return n;
	if (json) {
		/* Splice `,"name":{...}` in before the closing brace. */
		n -= 2;
		m = snprintf(buf + n, size - (size_t)n,
			     ",\"%s\":", s->info.extra_name);
		n += m;
		m = s->info.extra_stats(s->info.extra_ctx, 1, buf + n,
					size - (size_t)n);
		n += m;
		m = snprintf(buf + n, size - (size_t)n, "}\n");
		return n + m;
	}
	m = snprintf(buf + n, size - (size_t)n, "%s:\n", s->info.extra_name);
	n += m;
	m = s->info.extra_stats(s->info.extra_ctx, 0, buf + n,
				size - (size_t)n);
	return n + m;
}

static void control_serve(struct control_server *s, int fd)
{
	char req[CONTROL_REQUEST_MAX], reply[CONTROL_REPLY_MAX];
	char command[32] = "", flag[32] = "", arg[CONTROL_REQUEST_MAX] = "";
	char flag2[32] = "";
	size_t got = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	bool json;
	int n;

	/* One line, with a short timeout so a stuck client cannot block us. */
	while (got < sizeof(req) - 1 && !memchr(req, '\n', got)) {
		ssize_t r;

		if (poll(&pfd, 1, 1000) <= 0)
			break;
		r = read(fd, req + got, sizeof(req) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	req[got] = '\0';
	sscanf(req, "%31s %31s", command, flag);
	json = strcmp(flag, "--json") == 0;
	if (strcmp(command, "save") == 0) {
		/* save PATH [--stop] [--json]; PATH has no spaces. */
		sscanf(req, "%*s %4095s %31s %31s", arg, flag, flag2);
		json =
		    strcmp(flag, "--json") == 0 || strcmp(flag2, "--json") == 0;
		n = render_save(s, arg,
				strcmp(flag, "--stop") == 0 ||
				    strcmp(flag2, "--stop") == 0,
				json, reply, sizeof(reply));
	} else if (strcmp(command, "checkpoint-probe") == 0) {
		/* checkpoint-probe EPOCHS INTERVAL_MS [--json] */
		struct ckpt_probe_result r;
		unsigned epochs = 0, interval = 0;
		int ret;

		sscanf(req, "%*s %u %u %31s", &epochs, &interval, flag);
		json = strcmp(flag, "--json") == 0;
		ret = ckpt_probe_run(s->vm, epochs, interval, &r);
		if (ret) {
			n = snprintf(reply, sizeof(reply),
				     json ? "{\"error\":\"checkpoint-probe %u "
					    "%u: %s\"}\n"
					  : "error: checkpoint-probe %u %u: "
					    "%s\n",
				     epochs, interval, strerror(-ret));
		} else {
			n = ckpt_probe_render(&r, json, reply, sizeof(reply));
			ckpt_probe_free(&r);
		}
	} else if (strcmp(command, "status") == 0)
		n = render_status(s, json, reply, sizeof(reply));
	else if (strcmp(command, "stats") == 0)
		n = render_stats_all(s, json, reply, sizeof(reply));
	else
		n = snprintf(reply, sizeof(reply),
			     "error: unknown command '%s' (known: status, "
			     "stats, save, checkpoint-probe)\n",
			     command);
	if (n > (int)sizeof(reply) - 1)
		n = (int)sizeof(reply) - 1;
	if (n > 0 && write(fd, reply, (size_t)n) < 0)
		log_debug("control: reply not delivered: %s", strerror(errno));
}

static void *control_thread(void *arg)
{
	struct control_server *s = arg;
	struct pollfd pfds[2] = {
	    {.fd = s->listen_fd, .events = POLLIN},
	    {.fd = s->wake_pipe[0], .events = POLLIN},
	};

	pthread_setname_np(pthread_self(), "control");
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
		if (fd < 0)
			continue;
		control_serve(s, fd);
		close(fd);
	}
	return NULL;
}

int control_start(const char *path, struct vm *vm,
		  const struct control_info *info, struct control_server **out)
{
	struct control_server *s;
	struct sockaddr_un addr;
	sigset_t all, old;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("control socket path '%s' is too long (max %zu)",
			  path, sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->info = *info;
	s->wake_pipe[0] = s->wake_pipe[1] = -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		ret = -errno;
		goto out;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path));
	unlink(path); /* a stale socket from a killed run */
	if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(s->listen_fd, 8) < 0) {
		ret = -errno;
		log_error("control socket '%s': %s", path, strerror(errno));
		goto out;
	}
	if (pipe2(s->wake_pipe, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out;
	}
	/* Signals (SIGINT, SIGTERM) must reach the vCPU thread, not this one.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&s->thread, NULL, control_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto out;
	*out = s;
	return 0;
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

void control_stop(struct control_server *s)
{
	if (!s)
		return;
	if (write(s->wake_pipe[1], "x", 1) < 0)
		log_debug("control: wake failed: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	close(s->wake_pipe[0]);
	close(s->wake_pipe[1]);
	unlink(s->path);
	free(s);
}
