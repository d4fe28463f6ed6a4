/* SPDX-License-Identifier: MIT */
#include "backup/failover.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arp/garp.h"
#include "backup/replay_backend.h"
#include "backup/replica.h"
#include "backup/reverse.h"
#include "cli/commands.h"
#include "cli/vm_session.h"
#include "common/clock.h"
#include "common/log.h"
#include "vmm/boot_info.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

#define FENCE_TIMEOUT_S	    10
#define FIRST_FRAME_WAIT_MS 5000

extern char **environ;

struct failover_report {
	uint64_t last_rx_ns, detected_ns, fenced_ns, restored_ns;
	uint64_t announced_ns, live_ns, first_frame_ns;
	uint64_t committed_epoch;
	int fence_status;
	int announce_status;
	char announce_dev[64];
	char ip[32], mac[32];
};

static struct failover_report report;
static struct vnic_backend *replay_nic; /* reverse mode only */
static uint64_t replay_log_frames_at_start;
static struct replay_trim_result replay_settled; /* late frames, gaps */
static struct failover_config config;
static uint8_t announce_mac[6];
static uint32_t announce_ip;

static double ms(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e6 : 0.0;
}

/* CLOCK_MONOTONIC in ms for the report's timeline (0 = never reached):
 * clients in other namespaces share the clock, so a driver can place the
 * failover phases on its own time axis. */
static double mono_ms(uint64_t t_ns)
{
	return (double)t_ns / 1e6;
}

/* The fence must finish before the VM goes live (no split brain). */
static int run_fence(const char *cmd)
{
	char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
	pid_t pid;
	int status = 0;

	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0)
		return -1;
	for (int i = 0; i < FENCE_TIMEOUT_S * 100; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
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

static int announce(const struct rrvm_boot_info *bi)
{
	uint8_t mac[6];
	char ipbuf[32];
	struct in_addr ip;
	char *slash;

	boot_info_cmdline_value(bi->cmdline, "ip", ipbuf, sizeof(ipbuf));
	snprintf(report.ip, sizeof(report.ip), "%s", ipbuf);
	slash = strchr(ipbuf, '/');
	if (slash)
		*slash = '\0';
	memcpy(mac, bi->mac, 6);
	snprintf(report.mac, sizeof(report.mac),
		 "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
	if (inet_pton(AF_INET, ipbuf, &ip) != 1) {
		log_error("failover: guest IP '%s' unreadable; not announcing",
			  ipbuf);
		return -EINVAL;
	}
	if (config.announce_dev)
		snprintf(report.announce_dev, sizeof(report.announce_dev), "%s",
			 config.announce_dev);
	else if (tap_master(config.tap, report.announce_dev,
			    sizeof(report.announce_dev))) {
		log_warn("failover: TAP %s is not in a bridge and no "
			 "--announce-dev given: no gratuitous ARP",
			 config.tap);
		return -ENODEV;
	}
	memcpy(announce_mac, mac, 6);
	announce_ip = ip.s_addr;
	/* One now; the rest from a thread once the guest is live. */
	return garp_announce(report.announce_dev, mac, ip.s_addr, 1, 0);
}

static void *announcer_main(void *arg)
{
	(void)arg;
	if (config.garp_count > 1) {
		usleep(config.garp_interval_ms * 1000u);
		garp_announce(report.announce_dev, announce_mac, announce_ip,
			      config.garp_count - 1, config.garp_interval_ms);
	}
	return NULL;
}

static char replay_json[4096];
static char replay_audit_text[4096];

/* On the vCPU thread (the gate is its), with the guest stopped. */
static int audit_while_paused(struct vm *vm, void *arg)
{
	struct failover_config *c = arg;
	struct replay_backend_result res;
	struct replay_audit audit;
	struct replay_log_stats log_stats;
	uint64_t gaps_total;
	char audit_json[3072];
	int n;

	(void)vm;
	replay_backend_result(replay_nic, &res);
	replay_log_stats(&c->reverse->log, &log_stats);
	gaps_total = log_stats.missed;
	if (replay_gate_audit(&c->reverse->gate, &audit))
		return -EIO;
	if (replay_audit_format_json(&audit, audit_json, sizeof(audit_json)) <
	    0)
		snprintf(audit_json, sizeof(audit_json), "null");
	replay_audit_format_text(&audit, replay_audit_text,
				 sizeof(replay_audit_text));
	n = snprintf(replay_json, sizeof(replay_json),
		     "{\"logged_frames\":%llu,\"frames\":%llu,"
		     "\"bytes\":%llu,\"replay_ms\":%.3f,"
		     "\"suppressed\":%llu,\"finished\":%s,"
		     "\"late_matched\":%u,\"capture_gaps\":%llu,"
		     "\"capture\":\"%s\",\"protection\":\"%s\","
		     "\"started_mono_ms\":%.3f,\"finished_mono_ms\":%.3f,"
		     "\"audit\":%s}",
		     (unsigned long long)replay_log_frames_at_start,
		     (unsigned long long)res.frames,
		     (unsigned long long)res.bytes,
		     res.finished_ns ? ms(res.started_ns, res.finished_ns) : 0.0,
		     (unsigned long long)res.suppressed,
		     res.finished_ns ? "true" : "false", replay_settled.late,
		     (unsigned long long)gaps_total,
		     reverse_capture_name(c->reverse),
		     gaps_total ? "FAILED" : "ok", mono_ms(res.started_ns),
		     mono_ms(res.finished_ns), audit_json);
	return n < 0 ? -EIO : 0;
}

static void report_replay(void)
{
	struct replay_backend_result res;
	uint64_t give_up = clock_mono_ns() + FIRST_FRAME_WAIT_MS * 1000000ull;

	do {
		replay_backend_result(replay_nic, &res);
		if (res.finished_ns)
			break;
		usleep(500);
	} while (clock_mono_ns() < give_up);
	/* Let regenerated output settle before auditing it. */
	usleep(100000);
	if (vm_call_paused(&session_vm, audit_while_paused, &config)) {
		log_warn("  replay audit unavailable");
		return;
	}
	log_info("  replay   %8.2f ms  (%llu of %llu logged frames, %llu "
		 "regenerated outputs suppressed)",
		 res.finished_ns ? ms(res.started_ns, res.finished_ns) : -1.0,
		 (unsigned long long)res.frames,
		 (unsigned long long)replay_log_frames_at_start,
		 (unsigned long long)res.suppressed);
	for (char *line = strtok(replay_audit_text, "\n"); line;
	     line = strtok(NULL, "\n"))
		log_info("    %s", line);
}

static void write_report_json(void)
{
	FILE *f;

	if (!config.report_path)
		return;
	f = fopen(config.report_path, "w");
	if (!f) {
		log_error("failover: cannot write report '%s': %s",
			  config.report_path, strerror(errno));
		return;
	}
	fprintf(
	    f,
	    "{\"committed_epoch\":%llu,\"guest_ip\":\"%s\","
	    "\"guest_mac\":\"%s\",\"detect_timeout_ms\":%u,"
	    "\"phases_ms\":{\"detect\":%.3f,\"fence\":%.3f,"
	    "\"restore\":%.3f,\"announce\":%.3f,\"first_frame_out\":%.3f},"
	    "\"total_ms\":%.3f,\"fence_status\":%d,"
	    "\"announce_dev\":\"%s\",\"announce_status\":%d,"
	    "\"first_frame_seen\":%s,"
	    "\"timeline_mono_ms\":{\"last_rx\":%.3f,\"detected\":%.3f,"
	    "\"fenced\":%.3f,\"restored\":%.3f,\"announced\":%.3f,"
	    "\"first_frame_out\":%.3f},\"replay\":%s}\n",
	    (unsigned long long)report.committed_epoch, report.ip, report.mac,
	    config.detect_timeout_ms, ms(report.last_rx_ns, report.detected_ns),
	    ms(report.detected_ns, report.fenced_ns),
	    ms(report.fenced_ns, report.restored_ns),
	    ms(report.restored_ns, report.announced_ns),
	    ms(report.live_ns, report.first_frame_ns),
	    ms(report.last_rx_ns,
	       report.first_frame_ns ? report.first_frame_ns : report.live_ns),
	    report.fence_status, report.announce_dev, report.announce_status,
	    report.first_frame_ns ? "true" : "false",
	    mono_ms(report.last_rx_ns), mono_ms(report.detected_ns),
	    mono_ms(report.fenced_ns), mono_ms(report.restored_ns),
	    mono_ms(report.announced_ns), mono_ms(report.first_frame_ns),
	    replay_json[0] ? replay_json : "null");
	fclose(f);
}

/* Waits for the resumed guest's first frame, then reports. */
static void *reporter_main(void *arg)
{
	uint64_t give_up = clock_mono_ns() + FIRST_FRAME_WAIT_MS * 1000000ull;

	(void)arg;
	while (clock_mono_ns() < give_up) {
		if (stat_read(session_vm.stats.tx_frames) > 0) {
			report.first_frame_ns = clock_mono_ns();
			break;
		}
		usleep(200);
	}
	log_info("failover report (epoch %llu, guest %s %s):",
		 (unsigned long long)report.committed_epoch, report.ip,
		 report.mac);
	log_info("  detect   %8.2f ms  (no bytes from the primary for the "
		 "%u ms timeout)",
		 ms(report.last_rx_ns, report.detected_ns),
		 config.detect_timeout_ms);
	log_info("  fence    %8.2f ms  (%s)",
		 ms(report.detected_ns, report.fenced_ns),
		 config.fence_cmd ? config.fence_cmd : "no fence command");
	log_info("  restore  %8.2f ms",
		 ms(report.fenced_ns, report.restored_ns));
	log_info("  announce %8.2f ms  (gratuitous ARP on %s: %s)",
		 ms(report.restored_ns, report.announced_ns),
		 report.announce_dev[0] ? report.announce_dev : "-",
		 report.announce_status == 0 ? "sent" : "FAILED");
	if (report.first_frame_ns)
		log_info("  first frame out %8.2f ms after going live; %.2f "
			 "ms after the last word from the primary",
			 ms(report.live_ns, report.first_frame_ns),
			 ms(report.last_rx_ns, report.first_frame_ns));
	else
		log_warn("  no frame from the resumed guest within %d ms",
			 FIRST_FRAME_WAIT_MS);
	if (replay_nic)
		report_replay();
	write_report_json();
	return NULL;
}

int failover_run(struct replica *replica, const struct failover_config *c,
		 uint64_t last_rx_ns)
{
	struct vnic_backend *tap;
	struct control_info info;
	pthread_t reporter;
	char err[256], ip[64], mac[32];
	int ret;

	config = *c;
	replay_nic = NULL;
	replay_json[0] = '\0';
	memset(&report, 0, sizeof(report));
	report.last_rx_ns = last_rx_ns;
	report.detected_ns = clock_mono_ns();
	report.committed_epoch = replica->committed_epoch;
	log_warn("failover: primary silent for %.1f ms; taking over from "
		 "epoch %llu",
		 ms(last_rx_ns, report.detected_ns),
		 (unsigned long long)replica->committed_epoch);
	report.fence_status = c->fence_cmd ? run_fence(c->fence_cmd) : 0;
	report.fenced_ns = clock_mono_ns();
	if (report.fence_status != 0) {
		log_error("failover: fence command failed (status %d); not "
			  "going live (split brain risk)",
			  report.fence_status);
		return RRVM_EXIT_ERROR;
	}
	ret = vm_restore_from_image(&session_vm, replica_take_image(replica),
				    replica->mem_size, &replica->vcpu,
				    &replica->device, err, sizeof(err));
	if (ret) {
		log_error("failover: cannot build the VM: %s", err);
		return RRVM_EXIT_ERROR;
	}
	if (tap_backend_open(c->tap, &tap)) {
		vm_destroy(&session_vm);
		return RRVM_EXIT_ERROR;
	}
	if (c->reverse) {
		/*
		 * The primary is fenced: nothing more to capture. Quiesce only;
		 * the XDP detach waits for the backup's exit (reverse_free).
		 */
		reverse_stop_capture(c->reverse);
		reverse_settle(c->reverse, &replay_settled);
		replay_log_frames_at_start = replay_log_frames(&c->reverse->log);
		if (replay_backend_create(tap, &c->reverse->log,
					  &c->reverse->gate, &replay_nic)) {
			log_error("failover: cannot set up the replay");
			tap->ops->destroy(tap);
			vm_destroy(&session_vm);
			return RRVM_EXIT_ERROR;
		}
		log_info("failover: replaying %llu logged frame(s) into the "
			 "resumed guest",
			 (unsigned long long)replay_log_frames_at_start);
		tap = replay_nic;
	}
	if (vm_restore_attach(&session_vm, tap)) {
		tap->ops->destroy(tap);
		vm_destroy(&session_vm);
		return RRVM_EXIT_ERROR;
	}
	report.restored_ns = clock_mono_ns();
	report.announce_status = announce(session_vm.boot_info);
	report.announced_ns = clock_mono_ns();
	report.live_ns = report.announced_ns;
	if (!boot_info_cmdline_value(session_vm.boot_info->cmdline, "ip", ip,
				     sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	if (!boot_info_cmdline_value(session_vm.boot_info->cmdline, "mac", mac,
				     sizeof(mac)))
		snprintf(mac, sizeof(mac), "?");
	info = (struct control_info){
	    .guest_path = "(failover)",
	    .tap = c->tap,
	    .ip = ip,
	    .mac = mac,
	    .mem_size = session_vm.mem_size,
	};
	if (pthread_create(&reporter, NULL, reporter_main, NULL) == 0)
		pthread_detach(reporter);
	if (report.announce_status == 0 &&
	    pthread_create(&reporter, NULL, announcer_main, NULL) == 0)
		pthread_detach(reporter);
	log_info("failover: guest live on %s", c->tap);
	return vm_session_run(c->control, &info);
}
