/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint cost on a running VM, without a backup: collect an incremental
 * checkpoint every interval (exactly as the primary's epoch loop does,
 * two-phase when KVM offers manual dirty-log protect), encode it against a
 * receiver-side copy kept here, and measure pause time, pages and bytes with
 * and without delta compression. With a two-phase collect, as many
 * one-phase epochs (the whole copy in the pause) are interleaved with the
 * two-phase ones, so both are measured in the same run under the same
 * load. Used by `rrvm ctl SOCKET checkpoint-probe` and the benchmarks.
 */
#ifndef RRVM_CKPT_PROBE_H
#define RRVM_CKPT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct report;
struct vm;

#define CKPT_PROBE_MAX_EPOCHS 10000

/* One collect. */
struct ckpt_probe_epoch {
	uint64_t pause_ns;   /* vCPU stopped for the collect */
	uint64_t stopped_ns; /* request to resume, incl. the kick */
	uint64_t pages;	     /* in the epoch */
	uint64_t dirty_log_ns, copy_ns, state_ns; /* pause breakdown */
	uint64_t pause_pages;			  /* copied inside the pause */
	uint64_t early_ns;     /* early passes, guest running */
	uint64_t early_copies; /* page copies made by early passes */
	uint64_t early_passes;
};

struct ckpt_probe_result {
	unsigned epochs; /* of each collect measured */
	unsigned interval_ms;
	bool two_phase;			/* the primary's collect is two-phase */
	const char *dirty_log;		/* vm_dirty_log_mode() */
	struct ckpt_probe_epoch *epoch; /* epochs: the primary's collect */
	struct ckpt_probe_epoch *one_phase; /* epochs, when two_phase */
	/* Over every epoch collected (both kinds). */
	uint64_t raw_bytes;	/* pages * RRVM_PAGE_SIZE */
	uint64_t encoded_bytes; /* AUTO (XOR + RLE/LZ4) */
	uint64_t uncompressed_bytes; /* NONE (raw/zero pages + framing) */
	uint64_t unchanged_pages; /* reported dirty, content identical */
	uint64_t encode_ns;	  /* AUTO encoding time */
	uint64_t period_ns_total; /* achieved collect-to-collect periods */
	unsigned collects;
};

int ckpt_probe_run(struct vm *vm, unsigned epochs, unsigned interval_ms,
		   struct ckpt_probe_result *r);
void ckpt_probe_free(struct ckpt_probe_result *r);

/* The summary (medians, p90, max; ratio) as fields of rep: text or JSON
 * from the same calls (common/report.h). */
void ckpt_probe_report(const struct ckpt_probe_result *res, struct report *rep);

#endif
