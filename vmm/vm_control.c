/* SPDX-License-Identifier: MIT */
#include "vmm/vm_control.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/clock.h"
#include "common/control_server.h"
#include "common/number.h"
#include "common/report.h"
#include "vmm/ckpt_probe.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

static double uptime_seconds(const struct vm *vm)
{
	return (double)(clock_mono_ns() - stat_read(vm->stats.start_ns)) / 1e9;
}

static int cmd_status(void *ctx, struct control_request *req)
{
	struct vm_control *vc = ctx;
	struct report r;

	report_init(&r, req->json);
	report_str(&r, "state", "state",
		   vm_state_name(stat_read(vc->vm->stats.state)));
	report_f(&r, "uptime_s", "uptime", 3, uptime_seconds(vc->vm), "s");
	report_str(&r, "guest", "guest", vc->guest_path);
	report_str(&r, "tap", "tap", vc->tap);
	report_str(&r, "ip", "ip", vc->ip);
	report_str(&r, "mac", "mac", vc->mac);
	report_u64(&r, "mem_bytes", "memory (bytes)", vc->mem_size);
	if (vc->status_extra)
		vc->status_extra(vc->extra_ctx, &r);
	control_reply_report(req, &r);
	report_free(&r);
	return 0;
}

#define S(field) stat_read(vm->stats.field)

static int cmd_stats(void *ctx, struct control_request *req)
{
	struct vm_control *vc = ctx;
	const struct vm *vm = vc->vm;
	struct report r;

	report_init(&r, req->json);
	report_str(&r, "state", "state", vm_state_name(S(state)));
	report_f(&r, "uptime_s", "uptime", 3, uptime_seconds(vm), "s");
	report_open(&r, "exits", "exits");
	report_u64(&r, "total", "total", S(exits_total));
	report_u64(&r, "io", "port I/O", S(exits_io));
	report_u64(&r, "wait", "wait", S(exits_wait));
	report_u64(&r, "console", "console", S(exits_console));
	report_u64(&r, "other", "other", S(exits_other));
	report_u64(&r, "interrupted", "interrupted", S(exits_interrupted));
	report_close(&r);
	report_open(&r, "net", "net");
	report_u64(&r, "rx_frames", "rx frames", S(rx_frames));
	report_u64(&r, "rx_bytes", "rx bytes", S(rx_bytes));
	report_u64(&r, "tx_frames", "tx frames", S(tx_frames));
	report_u64(&r, "tx_bytes", "tx bytes", S(tx_bytes));
	report_u64(&r, "rx_dropped", "rx dropped", S(rx_dropped));
	report_u64(&r, "tx_dropped", "tx dropped", S(tx_dropped));
	report_close(&r);
	report_u64(&r, "wait_calls", "wait calls", S(exits_wait));
	report_u64(&r, "wait_blocked", "waits that slept", S(wait_blocked));
	/* The vCPU throttle (a live migration's auto-converge). */
	report_open(&r, "throttle", "throttle");
	report_u64(&r, "percent", "now (%)", vm_throttle_get(vm));
	report_f(&r, "slept_ms", "slept", 1, vm_throttle_slept_ns(vm) / 1e6,
		 "ms");
	report_close(&r);
	if (vc->stats_extra) {
		report_open(&r, vc->stats_extra_name, vc->stats_extra_name);
		vc->stats_extra(vc->extra_ctx, &r);
		report_close(&r);
	}
	control_reply_report(req, &r);
	report_free(&r);
	return 0;
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

	r->result = vm_snapshot_copy(vm, &r->snap);
	if (r->result == 0 && r->stop) {
		r->result = vm_snapshot_write_file(&r->snap, vm->mem_size,
						   r->path, &r->stats);
		if (r->result == 0)
			vm_request_stop(vm);
	}
	r->stopped_ns = clock_mono_ns() - t0;
	return r->result;
}

/* save PATH [--stop] */
static int cmd_save(void *ctx, struct control_request *req)
{
	struct vm_control *vc = ctx;
	struct save_request s = {0};
	struct report r;
	uint64_t pause_ns;
	int ret;

	for (int i = 2; i < req->argc; i++) {
		if (strcmp(req->argv[i], "--stop") != 0) {
			control_error(req, "save: unknown option '%s'",
				      req->argv[i]);
			return 0;
		}
		s.stop = true;
	}
	if (req->argc < 2 || req->argv[1][0] != '/') {
		control_error(req, "save needs an absolute path (got '%s')",
			      req->argc < 2 ? "" : req->argv[1]);
		return 0;
	}
	s.path = req->argv[1];
	vm_snapshot_init(&s.snap);
	ret = vm_call_paused(vc->vm, save_while_paused, &s);
	if (!ret && !s.stop)
		ret = vm_snapshot_write_file(&s.snap, vc->vm->mem_size, s.path,
					     &s.stats);
	pause_ns = s.snap.pause_ns;
	vm_snapshot_free(&s.snap);
	if (ret) {
		control_error(req, "save to '%s' failed: %s", s.path,
			      strerror(-ret));
		return 0;
	}
	if (s.stop)
		vm_kick(vc->vm);
	report_init(&r, req->json);
	report_str(&r, "saved", "saved", s.path);
	report_u64(&r, "pages", "pages", s.stats.pages);
	report_u64(&r, "raw_bytes", "raw bytes", s.stats.raw_bytes);
	report_u64(&r, "encoded_bytes", "encoded bytes", s.stats.encoded_bytes);
	report_f(&r, "pause_us", "collect pause", 1, pause_ns / 1e3, "us");
	report_f(&r, "stopped_us", "vCPU stopped", 1, s.stopped_ns / 1e3,
		 "us");
	report_bool(&r, "stopped", "VM stopped after", s.stop);
	control_reply_report(req, &r);
	report_free(&r);
	return 0;
}

/* checkpoint-probe EPOCHS INTERVAL_MS */
static int cmd_checkpoint_probe(void *ctx, struct control_request *req)
{
	struct vm_control *vc = ctx;
	struct ckpt_probe_result res;
	unsigned epochs, interval;
	struct report rep;
	int ret;

	/* The probe takes dirty pages out of the log: a replicator (or a
	 * migration) would miss them. */
	if (__atomic_load_n(&vc->vm->dirty_log_owner, __ATOMIC_ACQUIRE)) {
		control_error(req,
			      "checkpoint-probe: the dirty log is in use by "
			      "%s (the probe would take pages from it); "
			      "stop that first",
			      __atomic_load_n(&vc->vm->dirty_log_owner,
					      __ATOMIC_ACQUIRE));
		return 0;
	}
	if (req->argc != 3 ||
	    parse_uint(req->argv[1], 1, CKPT_PROBE_MAX_EPOCHS, &epochs) ||
	    parse_uint(req->argv[2], 1, 10000, &interval)) {
		control_error(req, "usage: checkpoint-probe EPOCHS INTERVAL_MS "
				   "(EPOCHS 1..%d, INTERVAL_MS 1..10000)",
			      CKPT_PROBE_MAX_EPOCHS);
		return 0;
	}
	if (vm_dirty_claim(vc->vm, "checkpoint-probe")) {
		control_error(req,
			      "checkpoint-probe refused: the dirty log is "
			      "in use (%s)",
			      vm_dirty_owner(vc->vm));
		return 0;
	}
	ret = ckpt_probe_run(vc->vm, epochs, interval, &res);
	vm_dirty_release(vc->vm, "checkpoint-probe");
	if (ret) {
		control_error(req, "checkpoint-probe %u %u: %s", epochs,
			      interval, strerror(-ret));
		return 0;
	}
	report_init(&rep, req->json);
	ckpt_probe_report(&res, &rep);
	ckpt_probe_free(&res);
	control_reply_report(req, &rep);
	report_free(&rep);
	return 0;
}

size_t vm_control_commands(struct vm_control *vc, struct control_command *out)
{
	const struct control_command cmds[VM_CONTROL_COMMANDS] = {
	    {"status", "status", cmd_status, vc},
	    {"stats", "stats", cmd_stats, vc},
	    {"save", "save FILE [--stop]", cmd_save, vc},
	    {"checkpoint-probe", "checkpoint-probe EPOCHS INTERVAL_MS",
	     cmd_checkpoint_probe, vc},
	};

	memcpy(out, cmds, sizeof(cmds));
	return VM_CONTROL_COMMANDS;
}
