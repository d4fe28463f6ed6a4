/* SPDX-License-Identifier: MIT */
/* rrvm primary: run the protected VM and replicate it to a backup. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_parse.h"
#include "cli/commands.h"
#include "cli/run_args.h"
#include "cli/vm_session.h"
#include "common/log.h"
#include "primary/output_policy.h"
#include "primary/replicator.h"
#include "vmm/vm.h"

static struct replicator replicator;

static void primary_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: rrvm primary --guest IMAGE.elf --tap NAME --ip "
	    "A.B.C.D/N --mac MAC\n"
	    "                    --backup ADDR:PORT "
	    "[--mode reverse|buffered|naive|none]\n"
	    "                    [--epoch MS] [--heartbeat MS] "
	    "[--compress auto|none]\n"
	    "                    [--delta-cache SIZE]\n"
	    "                    [--gw A.B.C.D] [--mem SIZE]\n"
	    "                    [--control SOCKET] [--log-level LEVEL] "
	    "[-- GUEST-OPTION ...]\n"
	    "\n"
	    "Run a guest like 'rrvm run' and protect it: every --epoch ms "
	    "(default 20)\n"
	    "the vCPU is paused just long enough to collect the pages it "
	    "dirtied and\n"
	    "its state, then resumed while the epoch streams to the backup "
	    "('rrvm\n"
	    "backup') over TCP; the first epoch is a full copy.\n"
	    "\n"
	    "  --backup ADDR:PORT  the backup's replication address\n"
	    "  --mode MODE         reverse (default), buffered, naive or "
	    "none.\n"
	    "                      buffered: Remus - every frame "
	    "the guest\n"
	    "                      sends in epoch N is held until the "
	    "backup acks N;\n"
	    "                      reverse: every frame is released at "
	    "once; each\n"
	    "                      epoch carries the digests of the frames "
	    "the guest\n"
	    "                      was given, so the backup can trim its "
	    "replay log;\n"
	    "                      naive: reverse without a replay log "
	    "(shows the\n"
	    "                      last-gasp inconsistency);\n"
	    "                      none: no replication (baseline)\n"
	    "  --epoch MS          checkpoint interval, 1..10000 (default "
	    "20)\n"
	    "  --heartbeat MS      heartbeat when no epoch was sent for MS "
	    "(default 5;\n"
	    "                      0 = epochs only)\n"
	    "  --compress MODE     page encoding of epochs: auto (default; "
	    "XOR delta\n"
	    "                      against the backup's copy, RLE or LZ4, "
	    "raw fallback)\n"
	    "                      or none (raw pages, zero pages elided; "
	    "a baseline)\n"
	    "  --delta-cache SIZE  memory for the backup's copy of recently "
	    "sent pages,\n"
	    "                      the bases of XOR deltas (e.g. 64M, 1G; "
	    "default 64M;\n"
	    "                      0 = no deltas; at most 64G, capped at "
	    "--mem). A page\n"
	    "                      not in it goes as RLE, LZ4 or raw; "
	    "--delta-cache equal\n"
	    "                      to --mem never misses\n"
	    "\n"
	    "If the backup goes away the VM keeps running, releases what "
	    "it held, logs\n"
	    "loudly, and reconnects every 200 ms; a returning backup gets a "
	    "full resync.\n"
	    "'rrvm ctl SOCKET stats' adds replication figures. Other "
	    "options and exit\n"
	    "status as for 'rrvm run'.\n");
}

static const char *compress_name(enum ckpt_compression c)
{
	return c == CKPT_COMPRESS_NONE ? "none" : "auto";
}

static int replication_stats(void *ctx, int json, char *buf, size_t size)
{
	struct replicator *r = ctx;
	const struct replicator_stats *st = &r->stats;
	struct output_policy_stats *ps = &r->policy->stats;
	uint64_t epochs = stat_read(st->epochs);
	double avg_pause =
	    epochs ? stat_read(st->pause_ns_total) / 1e3 / (double)epochs : 0;
	double avg_interval = epochs > 1 ? stat_read(st->interval_ns_total) /
					       1e6 / (double)(epochs - 1)
					 : 0;
	uint64_t held = stat_read(ps->held_total);
	double avg_hold =
	    held ? stat_read(ps->total_hold_ns) / 1e6 / (double)held : 0;

	if (json)
		return snprintf(
		    buf, size,
		    "{\"mode\":\"%s\",\"protected\":%s,"
		    "\"epoch_ms\":%u,\"compress\":\"%s\",\"epochs\":%llu,"
		    "\"full_epochs\":%llu,\"acked_epoch\":%llu,"
		    "\"achieved_interval_ms\":%.2f,\"late_epochs\":%llu,"
		    "\"pause_us_avg\":%.1f,\"pause_us_max\":%.1f,"
		    "\"pages\":%llu,\"raw_bytes\":%llu,"
		    "\"bytes_sent\":%llu,\"heartbeats\":%llu,"
		    "\"connects\":%llu,\"disconnects\":%llu,"
		    "\"output\":{\"released\":%llu,\"held_now_bytes\":%llu,"
		    "\"dropped\":%llu,\"hold_ms_avg\":%.2f,"
		    "\"hold_ms_max\":%.2f}}",
		    repl_mode_name(r->mode),
		    stat_read(st->protected_now) ? "true" : "false",
		    r->epoch_ms, compress_name(r->compress),
		    (unsigned long long)epochs,
		    (unsigned long long)stat_read(st->full_epochs),
		    (unsigned long long)stat_read(st->acked_epoch),
		    avg_interval,
		    (unsigned long long)stat_read(st->late_epochs), avg_pause,
		    stat_read(st->pause_ns_max) / 1e3,
		    (unsigned long long)stat_read(st->pages),
		    (unsigned long long)stat_read(st->raw_bytes),
		    (unsigned long long)stat_read(st->bytes_sent),
		    (unsigned long long)stat_read(st->heartbeats),
		    (unsigned long long)stat_read(st->connects),
		    (unsigned long long)stat_read(st->disconnects),
		    (unsigned long long)stat_read(ps->released),
		    (unsigned long long)stat_read(ps->held_bytes_now),
		    (unsigned long long)stat_read(ps->dropped), avg_hold,
		    stat_read(ps->max_hold_ns) / 1e6);
	return snprintf(
	    buf, size,
	    "  mode %s, %s; epoch %u ms requested, %.2f ms achieved "
	    "(%llu late)\n"
	    "  epochs %llu (%llu full), acked %llu; pause avg %.1f us, max "
	    "%.1f us\n"
	    "  sent %llu bytes for %llu raw (compress %s); %llu "
	    "heartbeats; %llu connects, %llu disconnects\n"
	    "  output: %llu released, %llu dropped, held avg %.2f ms, max "
	    "%.2f ms\n",
	    repl_mode_name(r->mode),
	    stat_read(st->protected_now) ? "PROTECTED" : "UNPROTECTED",
	    r->epoch_ms, avg_interval,
	    (unsigned long long)stat_read(st->late_epochs),
	    (unsigned long long)epochs,
	    (unsigned long long)stat_read(st->full_epochs),
	    (unsigned long long)stat_read(st->acked_epoch), avg_pause,
	    stat_read(st->pause_ns_max) / 1e3,
	    (unsigned long long)stat_read(st->bytes_sent),
	    (unsigned long long)stat_read(st->raw_bytes),
	    compress_name(r->compress),
	    (unsigned long long)stat_read(st->heartbeats),
	    (unsigned long long)stat_read(st->connects),
	    (unsigned long long)stat_read(st->disconnects),
	    (unsigned long long)stat_read(ps->released),
	    (unsigned long long)stat_read(ps->dropped), avg_hold,
	    stat_read(ps->max_hold_ns) / 1e6);
}

/* The replication figures, then the collect's and the delta cache's. */
static int replication_stats_all(void *ctx, int json, char *buf, size_t size)
{
	int n = replication_stats(ctx, json, buf, size);

	if (n < 1 || (size_t)n >= size)
		return n;
	if (json) {
		/* Splice `,"collect":...` in before the closing brace. */
		n--;
		n += snprintf(buf + n, size - (size_t)n, ",");
		if ((size_t)n >= size)
			return n;
		n += replicator_render_collect(ctx, 1, buf + n,
					       size - (size_t)n);
		if ((size_t)n >= size)
			return n;
		return n + snprintf(buf + n, size - (size_t)n, "}");
	}
	return n + replicator_render_collect(ctx, 0, buf + n, size - (size_t)n);
}

static void stop_replicator(void *ctx)
{
	replicator_stop(ctx);
}

int cmd_primary(int argc, char **argv)
{
	struct vnic_backend *tap;
	struct output_policy *policy;
	struct vm_config config;
	struct run_args args;
	struct control_info info;
	int ret;

	log_set_component("rrvm primary");
	ret = run_args_parse(argc, argv, &args, true, primary_usage);
	if (ret)
		return ret > 0 ? RRVM_EXIT_OK : RRVM_EXIT_USAGE;
	if (tap_backend_open(args.tap, &tap))
		return RRVM_EXIT_ERROR;
	ret = args.mode == REPL_MODE_BUFFERED
		  ? output_buffer_create(tap, &policy)
		  : output_release_create(tap, &policy);
	if (ret) {
		tap->ops->destroy(tap);
		return RRVM_EXIT_ERROR;
	}
	run_args_vm_config(&args, &policy->backend, &config);
	if (vm_create(&session_vm, &config))
		return RRVM_EXIT_ERROR;
	memset(&replicator, 0, sizeof(replicator));
	replicator.vm = &session_vm;
	replicator.policy = policy;
	replicator.mode = args.mode;
	replicator.epoch_ms = args.epoch_ms;
	replicator.heartbeat_ms = args.heartbeat_ms;
	replicator.compress = args.compress;
	replicator.delta_cache_bytes = args.delta_cache;
	replicator.backup_addr = args.backup;
	run_args_control_info(&args, &info);
	info.extra_name = "replication";
	info.extra_stats = replication_stats_all;
	info.extra_ctx = &replicator;
	log_info("booting %s (%s mode, epoch %u ms, compress %s, backup %s): "
		 "%s",
		 args.guest, repl_mode_name(args.mode), args.epoch_ms,
		 compress_name(args.compress), args.backup ? args.backup : "-",
		 args.cmdline);
	if (args.mode == REPL_MODE_NONE)
		return vm_session_run(args.control, &info);
	if (args.mode == REPL_MODE_REVERSE || args.mode == REPL_MODE_NAIVE) {
		memcpy(replicator.rx_filter.mac, args.mac_bytes, 6);
		replicator.rx_filter_on =
		    parse_ipv4_prefix(args.ip, &replicator.rx_filter.ip, NULL,
				      0, NULL, 0) == 0;
		session_vm.vnic.rx_observer = replicator_rx_observer;
		session_vm.vnic.rx_observer_ctx = &replicator;
	}
	if (replicator_start(&replicator)) {
		log_error("cannot start replication");
		vm_destroy(&session_vm);
		return RRVM_EXIT_ERROR;
	}
	return vm_session_run_hooked(args.control, &info, stop_replicator,
				     &replicator);
}
