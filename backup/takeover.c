/* SPDX-License-Identifier: MIT */
#include "backup/takeover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arp/garp.h"
#include "backup/replay_backend.h"
#include "backup/replica.h"
#include "backup/reverse.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/run_cmd.h"
#include "common/report.h"
#include "vmm/boot_info.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

#define FENCE_TIMEOUT_S 10
/* The reporter gives up waiting for the resumed guest's first frame. */
#define FIRST_FRAME_WAIT_MS 5000
/* Regenerated output settles this long before the replay is audited. */
#define REPLAY_SETTLE_MS 100

const char *takeover_reason_name(enum takeover_reason reason)
{
	switch (reason) {
	case TAKEOVER_FAILOVER:
		return "failover";
	case TAKEOVER_HANDOVER:
		return "handover";
	case TAKEOVER_MIGRATION:
		return "migration";
	}
	return "unknown";
}

static double ms(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e6 : 0.0;
}

/* The bridge the TAP is enslaved to: where announcements must go out. */
static int tap_master(const char *tap, char *out, size_t size)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/class/net/%s/master", tap);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	snprintf(out, size, "%s", basename(target));
	return 0;
}

/* Where and what to announce (the guest's IP/MAC, the TAP's bridge). */
static int announce_target(struct takeover *t)
{
	const struct rrvm_boot_info *bi = t->vm->boot_info;
	char ipbuf[32];
	struct in_addr ip;
	char *slash;

	boot_info_cmdline_value(bi->cmdline, "ip", ipbuf, sizeof(ipbuf));
	snprintf(t->ip, sizeof(t->ip), "%s", ipbuf);
	slash = strchr(ipbuf, '/');
	if (slash)
		*slash = '\0';
	memcpy(t->announce_mac, bi->mac, 6);
	snprintf(t->mac, sizeof(t->mac), "%02x:%02x:%02x:%02x:%02x:%02x",
		 bi->mac[0], bi->mac[1], bi->mac[2], bi->mac[3], bi->mac[4],
		 bi->mac[5]);
	if (inet_pton(AF_INET, ipbuf, &ip) != 1) {
		log_error("takeover: guest IP '%s' unreadable; not announcing",
			  ipbuf);
		return -EINVAL;
	}
	if (t->cfg.announce_dev)
		snprintf(t->announce_dev, sizeof(t->announce_dev), "%s",
			 t->cfg.announce_dev);
	else if (tap_master(t->cfg.tap, t->announce_dev,
			    sizeof(t->announce_dev))) {
		log_warn("takeover: TAP %s is not in a bridge and no "
			 "--announce-dev given: no gratuitous ARP",
			 t->cfg.tap);
		return -ENODEV;
	}
	t->announce_ip = ip.s_addr;
	return 0;
}

/* One gratuitous ARP now; the rest from a thread once the guest is live. */
static int announce(struct takeover *t)
{
	int ret = announce_target(t);

	return ret ? ret
		   : garp_announce(t->announce_dev, t->announce_mac,
				   t->announce_ip, 1, 0);
}

/* Sleep up to ms; false if asked to stop meanwhile. */
static bool wait_or_stop(struct takeover *t, unsigned ms)
{
	uint64_t until = clock_real_ns() + ms * 1000000ull;
	struct timespec ts = {(time_t)(until / 1000000000u),
			      (long)(until % 1000000000u)};
	bool stop;

	pthread_mutex_lock(&t->lock);
	while (!t->stop &&
	       pthread_cond_timedwait(&t->wake, &t->lock, &ts) == 0)
		;
	stop = t->stop;
	pthread_mutex_unlock(&t->lock);
	return !stop;
}

static void *announcer_main(void *arg)
{
	struct takeover *t = arg;

	/* A migration's first one goes from here too (see go_live). */
	for (unsigned i = t->announce_async ? 0 : 1; i < t->cfg.garp_count;
	     i++) {
		if (i && !wait_or_stop(t, t->cfg.garp_interval_ms))
			break;
		garp_announce(t->announce_dev, t->announce_mac, t->announce_ip,
			      1, 0);
	}
	return NULL;
}

/* On the vCPU thread (the gate is its), with the guest stopped. */
static int audit_while_paused(struct vm *vm, void *arg)
{
	struct takeover *t = arg;

	(void)vm;
	return replay_gate_audit(&t->reverse->gate, &t->audit) ? -EIO : 0;
}

static void replay_finish_and_audit(struct takeover *t)
{
	struct replay_backend_result res;
	uint64_t give_up = clock_mono_ns() + FIRST_FRAME_WAIT_MS * 1000000ull;

	do {
		replay_backend_result(t->replay_nic, &res);
		if (res.finished_ns)
			break;
	} while (wait_or_stop(t, 1) && clock_mono_ns() < give_up);
	if (!wait_or_stop(t, REPLAY_SETTLE_MS))
		return;
	if (vm_call_paused(t->vm, audit_while_paused, t) == 0)
		t->replay_audited = true;
	else
		log_warn("  replay audit unavailable");
}

static void write_report(struct takeover *t)
{
	struct report text, json;
	FILE *f;

	report_init(&text, false);
	takeover_report(t, &text);
	if (report_finish(&text) > 0) {
		log_info("%s report (epoch %llu, guest %s %s):",
			 takeover_reason_name(t->reason),
			 (unsigned long long)t->committed_epoch, t->ip, t->mac);
		for (char *save = NULL, *line = strtok_r(text.buf, "\n", &save);
		     line; line = strtok_r(NULL, "\n", &save))
			log_info("  %s", line);
	}
	report_free(&text);
	if (!t->cfg.report_path)
		return;
	report_init(&json, true);
	takeover_report(t, &json);
	f = report_finish(&json) > 0 ? fopen(t->cfg.report_path, "w") : NULL;
	if (!f || fputs(json.buf, f) < 0)
		log_error("takeover: cannot write report '%s': %s",
			  t->cfg.report_path, strerror(errno));
	if (f)
		fclose(f);
	report_free(&json);
}

/* Waits for the resumed guest's first frame (and the replay), reports. */
static void *reporter_main(void *arg)
{
	struct takeover *t = arg;
	uint64_t give_up = clock_mono_ns() + FIRST_FRAME_WAIT_MS * 1000000ull;

	while (clock_mono_ns() < give_up) {
		if (stat_read(t->vm->stats.tx_frames) > 0) {
			t->t.first_frame_ns = clock_mono_ns();
			break;
		}
		if (!wait_or_stop(t, 1))
			break;
	}
	if (!t->t.first_frame_ns)
		log_warn("takeover: no frame from the resumed guest within %d "
			 "ms",
			 FIRST_FRAME_WAIT_MS);
	if (t->replay_nic)
		replay_finish_and_audit(t);
	write_report(t);
	return NULL;
}

void takeover_report(struct takeover *t, struct report *r)
{
	const struct takeover_times *tt = &t->t;
	uint64_t end = tt->first_frame_ns ? tt->first_frame_ns : tt->live_ns;

	report_str(r, "reason", "reason", takeover_reason_name(t->reason));
	report_str(r, "detector", "decided by", t->detector);
	report_u64(r, "committed_epoch", "committed epoch", t->committed_epoch);
	report_str(r, "guest_ip", "guest ip", t->ip);
	report_str(r, "guest_mac", "guest mac", t->mac);
	report_u64(r, "detect_timeout_ms", "detect timeout",
		   t->cfg.detect_timeout_ms);
	report_f(r, "detect_threshold_ms", "detect threshold", 1,
		 t->cfg.detect_threshold_ms, "ms");
	report_str(r, "link_security", "replication link",
		   t->cfg.link_security ? t->cfg.link_security : "");
	report_open(r, "phases_ms", "phases (ms)");
	report_f(r, "detect", "detect", 3, ms(tt->last_rx_ns, tt->detected_ns),
		 NULL);
	report_f(r, "fence", "fence", 3, ms(tt->detected_ns, tt->fenced_ns),
		 NULL);
	report_f(r, "restore", "restore", 3, ms(tt->fenced_ns, tt->restored_ns),
		 NULL);
	report_f(r, "announce", "announce", 3,
		 ms(tt->restored_ns, tt->announced_ns), NULL);
	report_f(r, "first_frame_out", "first frame out", 3,
		 ms(tt->live_ns, tt->first_frame_ns), NULL);
	report_close(r);
	report_f(r, "total_ms", "total", 3, ms(tt->last_rx_ns, end), "ms");
	report_i64(r, "fence_status", "fence status", t->fence_status);
	report_str(r, "fence_cmd", "fence command",
		   t->reason != TAKEOVER_FAILOVER ? "(planned: none)"
		   : t->cfg.fence_cmd		  ? t->cfg.fence_cmd
						  : "(none configured)");
	report_str(r, "announce_dev", "announced on", t->announce_dev);
	report_i64(r, "announce_status", "announce status", t->announce_status);
	report_bool(r, "first_frame_seen", "first frame seen",
		    tt->first_frame_ns != 0);
	/* CLOCK_MONOTONIC, shared by every namespace: a driver places the
	 * phases on its own clients' time axis. 0 = not reached. */
	report_open(r, "timeline_mono_ms", "timeline (CLOCK_MONOTONIC ms)");
	report_f(r, "last_rx", "last rx", 3, tt->last_rx_ns / 1e6, NULL);
	report_f(r, "detected", "detected", 3, tt->detected_ns / 1e6, NULL);
	report_f(r, "fenced", "fenced", 3, tt->fenced_ns / 1e6, NULL);
	report_f(r, "restored", "restored", 3, tt->restored_ns / 1e6, NULL);
	report_f(r, "announced", "announced", 3, tt->announced_ns / 1e6, NULL);
	report_f(r, "first_frame_out", "first frame out", 3,
		 tt->first_frame_ns / 1e6, NULL);
	report_close(r);
	if (!t->replay_nic) {
		report_str_or_null(r, "replay", "replay", NULL);
		return;
	}
	{
		struct replay_backend_result res;
		struct replay_log_stats ls;

		replay_backend_result(t->replay_nic, &res);
		replay_log_stats(&t->reverse->log, &ls);
		report_open(r, "replay", "replay");
		report_u64(r, "logged_frames", "logged frames",
			   t->log_frames_at_start);
		report_u64(r, "frames", "replayed frames", res.frames);
		report_u64(r, "bytes", "replayed bytes", res.bytes);
		report_f(r, "replay_ms", "replay", 3,
			 res.finished_ns ? ms(res.started_ns, res.finished_ns)
					 : 0.0,
			 "ms");
		report_u64(r, "suppressed", "outputs suppressed",
			   res.suppressed);
		report_bool(r, "finished", "finished", res.finished_ns != 0);
		report_u64(r, "late_matched", "late frames matched",
			   t->settled.late);
		report_u64(r, "capture_gaps", "capture gaps", ls.missed);
		report_str(r, "capture", "capture",
			   reverse_capture_name(t->reverse));
		report_str(r, "protection", "protection",
			   ls.missed ? "FAILED" : "ok");
		report_f(r, "started_mono_ms", "started (mono ms)", 3,
			 res.started_ns / 1e6, NULL);
		report_f(r, "finished_mono_ms", "finished (mono ms)", 3,
			 res.finished_ns / 1e6, NULL);
		if (t->replay_audited) {
			report_open(r, "audit", "audit");
			replay_audit_report(&t->audit, r);
			report_close(r);
		} else {
			report_str_or_null(r, "audit", "audit", NULL);
		}
		report_close(r);
	}
}

int takeover_prepare(struct takeover *t, const struct takeover_config *cfg,
		     enum takeover_reason reason, const char *detector,
		     struct replica *replica, struct reverse *reverse,
		     uint64_t last_rx_ns, uint64_t detected_ns, struct vm *vm,
		     struct vnic_backend **nic)
{
	struct vnic_backend *tap = NULL;
	char err[256];
	int ret;

	memset(t, 0, sizeof(*t));
	t->cfg = *cfg;
	t->reason = reason;
	t->detector = detector;
	t->vm = vm;
	t->reverse = reverse;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	t->t.last_rx_ns = last_rx_ns;
	t->t.detected_ns = detected_ns;
	t->committed_epoch = replica->committed_epoch;
	if (reason == TAKEOVER_FAILOVER) {
		log_warn("failover (%s): primary last heard %.1f ms ago; "
			 "taking over from epoch %llu",
			 detector, ms(last_rx_ns, detected_ns),
			 (unsigned long long)replica->committed_epoch);
		t->fence_status = cfg->fence_cmd ? run_shell_command(cfg->fence_cmd, FENCE_TIMEOUT_S) : 0;
		if (t->fence_status != 0) {
			log_error("failover: fence command failed (status %d); "
				  "not going live (split brain risk)",
				  t->fence_status);
			return -EPERM;
		}
	} else {
		log_info("%s: taking over from epoch %llu",
			 takeover_reason_name(reason),
			 (unsigned long long)replica->committed_epoch);
	}
	t->t.fenced_ns = clock_mono_ns();
	ret = vm_restore_from_image(vm, replica_take_image(replica),
				    replica->mem_size, &replica->vcpu,
				    &replica->device, err, sizeof(err));
	if (ret) {
		log_error("takeover: cannot build the VM: %s", err);
		return ret;
	}
	ret = tap_backend_open(cfg->tap, &tap);
	if (ret)
		goto out_vm;
	if (reverse) {
		/* Nothing more to capture. Quiesce only: the XDP detach waits
		 * until takeover_free, off the critical path. */
		reverse_stop_capture(reverse);
		reverse_settle(reverse, &t->settled);
		t->log_frames_at_start = replay_log_frames(&reverse->log);
		ret = replay_backend_create(tap, &reverse->log, &reverse->gate,
					    &t->replay_nic);
		if (ret) {
			log_error("takeover: cannot set up the replay");
			tap->ops->destroy(tap);
			goto out_vm;
		}
		log_info("takeover: replaying %llu logged frame(s) into the "
			 "resumed guest",
			 (unsigned long long)t->log_frames_at_start);
		tap = t->replay_nic;
	}
	*nic = tap;
	return 0;
out_vm:
	vm_destroy(vm);
	return ret;
}

int takeover_go_live(struct takeover *t, struct vnic_backend *nic)
{
	int ret = vm_restore_attach(t->vm, nic);

	if (ret) {
		nic->ops->destroy(nic);
		return ret;
	}
	t->t.restored_ns = clock_mono_ns();
	/*
	 * A migration's guest starts without waiting for the first
	 * announcement (sending one costs ~10 ms here, mostly closing the
	 * packet socket): frames that still reach the old host meanwhile are
	 * forwarded by the source (docs/migration.md).
	 */
	t->announce_async = t->reason == TAKEOVER_MIGRATION;
	t->announce_status =
	    t->announce_async ? announce_target(t) : announce(t);
	t->t.announced_ns = clock_mono_ns();
	t->t.live_ns = t->t.announced_ns;
	if (pthread_create(&t->reporter, NULL, reporter_main, t) == 0) {
		pthread_setname_np(t->reporter, "report");
		t->reporter_running = true;
	}
	if (t->announce_status == 0 &&
	    (t->cfg.garp_count > 1 || t->announce_async) &&
	    pthread_create(&t->announcer, NULL, announcer_main, t) == 0) {
		pthread_setname_np(t->announcer, "garp");
		t->announcer_running = true;
	}
	log_info("takeover: guest live on %s", t->cfg.tap);
	return 0;
}

void takeover_finish(struct takeover *t)
{
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);
	if (t->reporter_running)
		pthread_join(t->reporter, NULL);
	if (t->announcer_running)
		pthread_join(t->announcer, NULL);
	t->reporter_running = t->announcer_running = false;
}

void takeover_free(struct takeover *t)
{
	takeover_finish(t);
	if (t->reverse) {
		reverse_free(t->reverse);
		free(t->reverse);
		t->reverse = NULL;
	}
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->wake);
}
