/* SPDX-License-Identifier: MIT */
/*
 * Checkpoint cost on a running VM, without a backup: collect an incremental
 * checkpoint every interval (exactly as the primary's epoch loop will),
 * encode it against a receiver-side copy kept here, and measure pause time,
 * pages and bytes with and without delta compression. Used by
 * `rrvm ctl SOCKET checkpoint-probe` and the benchmarks.
 */
#ifndef RRVM_CKPT_PROBE_H
#define RRVM_CKPT_PROBE_H

#include <stddef.h>
#include <stdint.h>

struct vm;

#define CKPT_PROBE_MAX_EPOCHS 10000

struct ckpt_probe_result {
	unsigned epochs;
	unsigned interval_ms;
	uint64_t *pause_ns; /* per epoch: vCPU stopped for collect */
	uint64_t *stopped_ns; /* per epoch: request to resume, incl. kick */
	uint64_t *pages; /* per epoch */
	uint64_t *dirty_log_ns, *copy_ns, *state_ns; /* pause breakdown */
	uint64_t raw_bytes; /* pages * 4096, all epochs */
	uint64_t encoded_bytes; /* AUTO (XOR + RLE/LZ4) */
	uint64_t uncompressed_bytes; /* NONE (raw/zero pages + framing) */
	uint64_t unchanged_pages; /* reported dirty, content identical */
	uint64_t encode_ns; /* AUTO encoding time, all epochs */
	uint64_t period_ns_total; /* achieved collect-to-collect periods */
};

int ckpt_probe_run(struct vm *vm, unsigned epochs, unsigned interval_ms,
		   struct ckpt_probe_result *r);
void ckpt_probe_free(struct ckpt_probe_result *r);

/* Render a summary (medians, p90, max; ratio) as text or one JSON object. */
int ckpt_probe_render(const struct ckpt_probe_result *r, int json, char *buf,
		      size_t size);

#endif
