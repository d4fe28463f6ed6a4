/* SPDX-License-Identifier: MIT */
#include "migration/migrate_control.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/control_server.h"
#include "common/key_file.h"
#include "common/log.h"
#include "common/repl_link.h"
#include "common/report.h"
#include "migration/migrate_args.h"
#include "migration/migrate_source.h"
#include "vmm/vm.h"

void migrate_control_init(struct migrate_control *mc, struct vm *vm,
			  const char *image_name)
{
	memset(mc, 0, sizeof(*mc));
	mc->vm = vm;
	mc->image_name = image_name;
	pthread_mutex_init(&mc->lock, NULL);
}

void migrate_control_destroy(struct migrate_control *mc)
{
	pthread_mutex_destroy(&mc->lock);
}

struct run_ctx {
	struct control_request *req;
};

static double mib(uint64_t bytes)
{
	return (double)bytes / (1u << 20);
}

/* One progress line per round (text replies only). */
static void on_round(void *ctx, const struct migrate_round_info *r)
{
	struct control_request *req = ((struct run_ctx *)ctx)->req;
	char expected[32];

	if (req->json)
		return;
	if (r->expected_downtime_ns == UINT64_MAX)
		snprintf(expected, sizeof(expected), "unknown");
	else
		snprintf(expected, sizeof(expected), "%.1f ms",
			 (double)r->expected_downtime_ns / 1e6);
	control_replyf(req,
		       "round %u: %llu pages, %.1f MiB in %.0f ms; dirty rate "
		       "%llu pages/s; bandwidth %.1f MiB/s; expected downtime "
		       "%s; throttle %u%%%s\n",
		       r->round, (unsigned long long)r->pages,
		       mib(r->bytes_sent), (double)r->duration_ns / 1e6,
		       (unsigned long long)r->dirty_rate, mib(r->bandwidth),
		       expected, r->throttle,
		       r->stop_and_copy ? "; stop-and-copy" : "");
}

/*
 * Ctrl-C on `rrvm ctl ... migrate` closes the control connection: both
 * directions (POLLHUP). A client that only shut down its sending side
 * after the request (POLLRDHUP) still reads the reply: not gone.
 */
static bool client_gone(void *ctx)
{
	struct control_request *req = ((struct run_ctx *)ctx)->req;
	struct pollfd pfd = {.fd = req->fd, .events = 0};

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR));
}

static void report_fields(struct report *r, const struct migrate_args *a,
			  const struct migrate_report *m)
{
	report_str(r, "result", "result", migrate_result_name(m->result));
	report_str(r, "destination", "destination", a->dest);
	report_str(r, "link_security", "link",
		   a->insecure ? repl_link_security(NULL)
			       : "authenticated+encrypted (pre-shared key)");
	report_u64(r, "rounds", "pre-copy rounds", m->rounds);
	report_u64(r, "pages_sent", "pages sent", m->pages_sent);
	report_u64(r, "bytes_raw", "bytes raw", m->bytes_raw);
	report_u64(r, "bytes_sent", "bytes sent", m->bytes_sent);
	report_u64(r, "final_pages", "final epoch pages", m->final_pages);
	report_u64(r, "final_bytes", "final epoch bytes", m->final_bytes);
	report_f(r, "total_ms", "total time", 1, (double)m->total_ns / 1e6,
		 "ms");
	report_f(r, "downtime_ms", "downtime (source: frozen -> DONE)", 2,
		 (double)m->downtime_ns / 1e6, "ms");
	report_f(r, "dest_downtime_ms",
		 "downtime (destination: final epoch -> running)", 2,
		 (double)m->dest_downtime_ns / 1e6, "ms");
	report_f(r, "dest_restore_ms", "destination restore", 2,
		 (double)m->dest_restore_ns / 1e6, "ms");
	report_f(r, "expected_downtime_ms", "expected downtime (last)", 2,
		 m->expected_downtime_ns == UINT64_MAX
		     ? -1
		     : (double)m->expected_downtime_ns / 1e6,
		 "ms");
	report_f(r, "bandwidth_mib_s", "bandwidth (last measured)", 1,
		 mib(m->bandwidth), "MiB/s");
	report_f(r, "rtt_ms", "link round trip", 3, (double)m->rtt_ns / 1e6,
		 "ms");
	report_u64(r, "throttle_max", "throttle reached (%)", m->throttle_max);
	report_f(r, "bandwidth_wait_ms", "held back by --max-bandwidth", 1,
		 (double)m->rate_waited_ns / 1e6, "ms");
	report_u64(r, "channels", "channels", m->channels);
	report_list_open(r, "channel_bytes", "bytes sent per channel");
	for (unsigned i = 0; i < m->channels && i < REPL_MAX_CHANNELS; i++) {
		char label[24];

		snprintf(label, sizeof(label), "channel %u", i);
		report_u64(r, NULL, label, m->channel_bytes[i]);
	}
	report_close(r);
	report_list_open(r, "channel_cpu_ms",
			 "pre-copy CPU of each channel's thread");
	for (unsigned i = 0; i < m->channels && i < REPL_MAX_CHANNELS; i++) {
		char label[24];

		snprintf(label, sizeof(label), "channel %u", i);
		report_f(r, NULL, label, 1, (double)m->channel_cpu_ns[i] / 1e6,
			 "ms");
	}
	report_close(r);
	report_u64(r, "late_frames", "frames forwarded after DONE",
		   m->late_frames);
	report_u64(r, "max_downtime_ms", "--max-downtime", a->max_downtime_ms);
	report_u64(r, "max_bandwidth_mib_s", "--max-bandwidth (0: none)",
		   a->max_bandwidth_mib);
	report_bool(r, "auto_converge", "--auto-converge", a->auto_converge);
	report_bool(r, "vm_frozen_here", "VM frozen here", m->frozen);
}

static void reply_outcome(struct control_request *req,
			  const struct migrate_args *a,
			  const struct migrate_report *m, bool ok)
{
	struct report r;
	char why[512];

	snprintf(why, sizeof(why), "migration %s: %s%s",
		 migrate_result_name(m->result), m->why,
		 m->frozen ? "" : "; the VM runs on here");
	/* A refusal moved nothing: its reason is the whole story. */
	if (!ok && !req->json && m->result == MIGRATE_REFUSED) {
		control_error(req, "%s", why);
		return;
	}
	report_init(&r, req->json);
	if (!ok && req->json)
		report_str(&r, "error", "error", why);
	report_fields(&r, a, m);
	control_reply_report(req, &r);
	report_free(&r);
	if (!ok && !req->json)
		control_error(req, "%s", why);
}

static void params_from_args(const struct migrate_args *a,
			     struct migrate_params *p)
{
	memset(p, 0, sizeof(*p));
	p->dest = a->dest;
	precopy_params_default(&p->precopy);
	p->precopy.max_downtime_ns = a->max_downtime_ms * 1000000ull;
	p->precopy.auto_converge = a->auto_converge;
	p->max_bandwidth = rate_limit_mib_s(a->max_bandwidth_mib);
	p->channels = a->channels;
	p->timeout_ns = a->timeout_s * 1000000000ull;
	p->compress = CKPT_COMPRESS_AUTO;
	p->delta_cache_bytes = DELTA_CACHE_DEFAULT_BYTES;
}

/* The checks before anything moves: one at a time, the owner agrees. */
static int claim(struct migrate_control *mc, struct migration *m, char *why,
		 size_t size)
{
	int ret = 0;

	pthread_mutex_lock(&mc->lock);
	if (mc->running) {
		snprintf(why, size, "a migration is already running");
		ret = -EBUSY;
	} else if (mc->frozen_unknown) {
		snprintf(why, size,
			 "the last migration's outcome is unknown and the VM "
			 "is frozen: check the destination, then "
			 "'migrate-cancel' to resume it here");
		ret = -EBUSY;
	} else if (mc->begin) {
		ret = mc->begin(mc->ctx, why, size);
	}
	if (!ret)
		mc->running = m;
	pthread_mutex_unlock(&mc->lock);
	return ret;
}

static int cmd_migrate(void *ctx, struct control_request *req)
{
	struct migrate_control *mc = ctx;
	struct run_ctx rc = {.req = req};
	uint8_t key[SECURE_KEY_BYTES];
	struct migrate_params p;
	struct migrate_report rep;
	struct migrate_args a;
	struct migration *m;
	char why[400];
	int ret;

	if (migrate_args_parse(req->argc, req->argv, &a, why, sizeof(why))) {
		control_error(req, "migrate: %s", why);
		return 0;
	}
	if (a.key_file && key_file_load(a.key_file, key, why, sizeof(why))) {
		control_error(req, "migrate: --key-file '%s': %s", a.key_file,
			      why);
		return 0;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		control_error(req, "migrate: out of memory");
		return 0;
	}
	migrate_init(m);
	if (claim(mc, m, why, sizeof(why))) {
		control_error(req, "migrate refused: %s", why);
		free(m);
		return 0;
	}
	params_from_args(&a, &p);
	p.key = a.key_file ? key : NULL;
	p.image_name = mc->image_name;
	p.on_round = on_round;
	p.client_gone = client_gone;
	p.ctx = &rc;
	if (!req->json)
		control_replyf(
		    req,
		    "migrating to %s (max downtime %u ms%s%s, %u channel%s)\n",
		    a.dest, a.max_downtime_ms,
		    a.auto_converge ? ", auto-converge" : "",
		    a.max_bandwidth_mib ? ", bandwidth capped" : "", a.channels,
		    a.channels == 1 ? "" : "s");
	log_info("migration to %s started", a.dest);
	ret = migrate_run(m, mc->vm, &p, &rep);
	pthread_mutex_lock(&mc->lock);
	mc->running = NULL;
	mc->frozen_unknown = rep.frozen;
	pthread_mutex_unlock(&mc->lock);
	if (ret)
		log_warn("migration to %s %s: %s", a.dest,
			 migrate_result_name(rep.result), rep.why);
	else
		log_info("migration to %s completed: %u rounds, downtime %.1f "
			 "ms; the VM runs there now, stopping here",
			 a.dest, rep.rounds, (double)rep.downtime_ns / 1e6);
	reply_outcome(req, &a, &rep, ret == 0);
	if (mc->end)
		mc->end(mc->ctx, ret == 0);
	if (!ret)
		vm_request_stop(mc->vm);
	free(m);
	memset(key, 0, sizeof(key));
	return 0;
}

static int cmd_migrate_cancel(void *ctx, struct control_request *req)
{
	struct migrate_control *mc = ctx;

	if (req->argc != 1) {
		control_error(req, "usage: migrate-cancel");
		return 0;
	}
	pthread_mutex_lock(&mc->lock);
	if (mc->running) {
		migrate_cancel(mc->running, ECANCELED,
			       "cancelled by 'migrate-cancel'");
		pthread_mutex_unlock(&mc->lock);
		control_replyf(req, "cancelling the migration; the VM keeps "
				    "running here\n");
		return 0;
	}
	if (mc->frozen_unknown) {
		mc->frozen_unknown = false;
		migrate_resume(mc->vm);
		pthread_mutex_unlock(&mc->lock);
		log_warn("migration: resuming the frozen VM here on the "
			 "operator's word (migrate-cancel)");
		control_replyf(req, "resumed the VM here (it was frozen after "
				    "a cutover whose outcome was unknown)\n");
		return 0;
	}
	pthread_mutex_unlock(&mc->lock);
	control_error(req, "no migration is running");
	return 0;
}

size_t migrate_control_commands(struct migrate_control *mc,
				struct control_command *out)
{
	out[0] =
	    (struct control_command){"migrate", MIGRATE_USAGE, cmd_migrate, mc};
	out[1] = (struct control_command){"migrate-cancel", "migrate-cancel",
					  cmd_migrate_cancel, mc};
	return MIGRATE_CONTROL_COMMANDS;
}
