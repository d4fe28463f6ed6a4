/* SPDX-License-Identifier: MIT */
/* The backup role's control commands: status and log-dump. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup.h"
#include "backup/pcapng.h"
#include "common/clock.h"
#include "common/control_server.h"
#include "common/repl_link.h"
#include "common/report.h"
#include "common/transport.h"
#include "vmm/vm_stats.h"

static int cmd_status(void *ctx, struct control_request *req)
{
	struct backup *b = ctx;
	struct repl_accept_stats as = {0};
	struct report r;
	double age;

	if (b->acceptor)
		repl_accept_stats(b->acceptor, &as);
	report_init(&r, req->json);
	pthread_mutex_lock(&b->lock);
	age = b->last_rx_ns ? (double)(clock_mono_ns() - b->last_rx_ns) / 1e6
			    : -1;
	report_str(&r, "role", "role", "backup");
	report_str(&r, "state", "state", backup_state_name(stat_read(b->state)));
	report_str(&r, "primary", "primary", b->link ? b->link->peer : "");
	report_str(&r, "link_security", "link",
		   repl_link_security(b->cfg.key));
	report_str(&r, "mode", "mode", repl_mode_name(b->mode));
	report_u64(&r, "committed_epoch", "committed epoch",
		   b->replica.committed_epoch);
	report_u64(&r, "epochs_committed", "epochs committed",
		   b->replica.epochs_committed);
	report_u64(&r, "epochs_rejected", "epochs rejected",
		   b->replica.epochs_rejected);
	report_u64(&r, "pages_committed", "pages committed",
		   b->replica.pages_committed);
	report_u64(&r, "bytes_rx", "bytes received",
		   stat_read(b->stats.bytes_rx));
	report_f(&r, "last_heard_ms", "last heard", 1, age, "ms ago");
	report_f(&r, "max_silence_ms", "longest link silence", 1,
		 (double)stat_read(b->stats.max_silence_ns) / 1e6, "ms");
	report_u64(&r, "detect_timeout_ms", "detect timeout",
		   b->cfg.detect_timeout_ms);
	if (b->liveness_on) {
		struct liveness_verdict v;

		liveness_judge(&b->liveness, b->last_rx_ns, clock_mono_ns(),
			       &v);
		report_f(&r, "detect_threshold_ms", "detect threshold now", 1,
			 v.threshold_ns / 1e6, "ms");
	} else {
		report_f(&r, "detect_threshold_ms", "detect threshold now", 1,
			 (double)b->cfg.detect_timeout_ms, "ms");
	}
	report_u64(&r, "connections_refused", "connections refused",
		   stat_read(b->stats.connections_refused) + as.refused);
	if (b->liveness_on) {
		report_open(&r, "liveness", "failure detection");
		liveness_report(&b->liveness, b->last_rx_ns, &r);
		report_close(&r);
	}
	if (b->reverse) {
		report_open(&r, "reverse", "reverse replication");
		reverse_report(b->reverse, &r);
		report_close(&r);
	}
	pthread_mutex_unlock(&b->lock);
	control_reply_report(req, &r);
	report_free(&r);
	return 0;
}

/*
 * log-dump FILE.pcapng: the replay log, rendered in memory under the log's
 * lock (the capture thread waits only that long) and written without it.
 */
static int cmd_log_dump(void *ctx, struct control_request *req)
{
	struct backup *b = ctx;
	uint64_t epoch;
	size_t frames = 0, len = 0;
	char *data = NULL;
	int ret;

	if (!b->reverse) {
		control_error(req, "no replay log (start the backup with "
				   "--topology inline|mirror)");
		return 0;
	}
	if (req->argc != 2 || req->argv[1][0] != '/') {
		control_error(req, "log-dump needs one absolute path");
		return 0;
	}
	pthread_mutex_lock(&b->reverse->lock);
	ret = replay_log_render_pcapng(&b->reverse->log,
				       "rrvm backup replay log", &data, &len,
				       &frames);
	pthread_mutex_unlock(&b->reverse->lock);
	if (!ret)
		ret = pcapng_write_file(req->argv[1], data, len);
	free(data);
	if (ret) {
		control_error(req, "log-dump to '%s': %s", req->argv[1],
			      strerror(-ret));
		return 0;
	}
	pthread_mutex_lock(&b->lock);
	epoch = b->replica.committed_epoch;
	pthread_mutex_unlock(&b->lock);
	control_replyf(req,
		       "wrote %zu frame(s) of the replay log to %s (committed "
		       "epoch %llu)\n",
		       frames, req->argv[1], (unsigned long long)epoch);
	return 0;
}

size_t backup_control_commands(struct backup *b, struct control_command *out)
{
	const struct control_command cmds[BACKUP_CONTROL_COMMANDS] = {
	    {"status", "status", cmd_status, b},
	    {"log-dump", "log-dump FILE.pcapng", cmd_log_dump, b},
	};

	memcpy(out, cmds, sizeof(cmds));
	return BACKUP_CONTROL_COMMANDS;
}
