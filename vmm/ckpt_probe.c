/* SPDX-License-Identifier: MIT */
#include "vmm/ckpt_probe.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/report.h"
#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

static int collect_incremental(struct vm *vm, void *arg)
{
	return vm_snapshot_collect(vm, arg, false);
}

static int collect_full(struct vm *vm, void *arg)
{
	return vm_snapshot_collect(vm, arg, true);
}

/* Apply a snapshot to the receiver-side copy, counting no-op pages. */
static uint64_t apply_to_base(const struct vm_snapshot *s, uint8_t *base)
{
	uint64_t same = 0;

	for (size_t i = 0; i < s->npages; i++) {
		uint8_t *dst = base + s->pfns[i] * RRVM_PAGE_SIZE;
		const uint8_t *src = s->pages + i * (size_t)RRVM_PAGE_SIZE;

		if (memcmp(dst, src, RRVM_PAGE_SIZE) == 0)
			same++;
		else
			memcpy(dst, src, RRVM_PAGE_SIZE);
	}
	return same;
}

/* Encoding runs with the guest already resumed, as in the primary. */
static int probe_encode(struct vm *vm, struct vm_snapshot *snap, uint8_t *base,
			struct ckpt_buf *buf, struct ckpt_probe_result *r)
{
	struct ckpt_encode_stats st;
	uint64_t t1;
	int ret;

	memset(&st, 0, sizeof(st));
	ckpt_buf_reset(buf);
	t1 = clock_mono_ns();
	ret = vm_snapshot_encode(snap, vm->mem_size, vm_snapshot_image_base,
				 base, CKPT_COMPRESS_AUTO, buf, &st);
	r->encode_ns += clock_mono_ns() - t1;
	if (ret)
		return ret;
	r->encoded_bytes += buf->len;
	r->raw_bytes += st.raw_bytes;
	ckpt_buf_reset(buf);
	ret = vm_snapshot_encode(snap, vm->mem_size, NULL, NULL,
				 CKPT_COMPRESS_NONE, buf, NULL);
	if (ret)
		return ret;
	r->uncompressed_bytes += buf->len;
	r->unchanged_pages += apply_to_base(snap, base);
	return 0;
}

static void record(struct ckpt_probe_epoch *e, const struct vm_snapshot *s,
		   uint64_t stopped_ns)
{
	e->stopped_ns = stopped_ns;
	e->pause_ns = s->pause_ns;
	e->pages = s->npages;
	e->dirty_log_ns = s->dirty_log_ns;
	e->copy_ns = s->copy_ns;
	e->state_ns = s->state_ns;
	e->pause_pages = s->pause_pages;
	e->early_ns = s->early_ns;
	e->early_copies = s->early_copies;
	e->early_passes = s->early_passes;
}

/*
 * With a two-phase collect, collects alternate between the two kinds in
 * pairs (T O, O T, T O, ...) so that neither always follows the other.
 */
static bool collect_is_two_phase(const struct ckpt_probe_result *r, unsigned k)
{
	return r->two_phase && (k % 2) == (k / 2) % 2;
}

int ckpt_probe_run(struct vm *vm, unsigned epochs, unsigned interval_ms,
		   struct ckpt_probe_result *r)
{
	uint64_t interval = (uint64_t)interval_ms * 1000000u;
	struct vm_precopy_plan plan;
	struct vm_snapshot snap;
	struct ckpt_buf buf;
	uint8_t *base = NULL;
	uint64_t next, last_start = 0;
	unsigned done_two = 0, done_one = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	if (epochs == 0 || epochs > CKPT_PROBE_MAX_EPOCHS || interval_ms == 0 ||
	    interval_ms > 10000)
		return -EINVAL;
	r->epochs = epochs;
	r->interval_ms = interval_ms;
	r->two_phase = vm->dirty_manual_protect;
	r->dirty_log = vm_dirty_log_mode(vm);
	r->epoch = calloc(epochs, sizeof(*r->epoch));
	r->one_phase =
	    r->two_phase ? calloc(epochs, sizeof(*r->one_phase)) : NULL;
	base = calloc(1, vm->mem_size);
	vm_snapshot_init(&snap);
	vm_precopy_plan_init(&plan, interval);
	ckpt_buf_init(&buf);
	if (!r->epoch || (r->two_phase && !r->one_phase) || !base) {
		ret = -ENOMEM;
		goto out;
	}
	/* Epoch 0: the full copy a new backup would get; not measured. */
	ret = vm_call_paused(vm, collect_full, &snap);
	if (ret)
		goto out;
	apply_to_base(&snap, base);
	next = clock_mono_ns();
	for (unsigned k = 0; k < (r->two_phase ? 2 * epochs : epochs); k++) {
		bool two = collect_is_two_phase(r, k);
		struct ckpt_probe_epoch *e = two || !r->two_phase
						 ? &r->epoch[done_two++]
						 : &r->one_phase[done_one++];
		uint64_t t0;

		next += interval;
		if (next < clock_mono_ns()) /* late: do not try to catch up */
			next = clock_mono_ns();
		if (two) {
			clock_sleep_until(vm_precopy_start(&plan, next));
			ret = vm_precopy_run(vm, &snap, &plan, next, interval);
			if (ret)
				goto out;
		}
		clock_sleep_until(next);
		t0 = clock_mono_ns();
		if (k > 0)
			r->period_ns_total += t0 - last_start;
		last_start = t0;
		ret = vm_call_paused(vm, collect_incremental, &snap);
		if (ret)
			goto out;
		record(e, &snap, clock_mono_ns() - t0);
		snap.epoch = k + 1;
		r->collects++;
		ret = probe_encode(vm, &snap, base, &buf, r);
		if (ret)
			goto out;
	}
out:
	free(base);
	ckpt_buf_free(&buf);
	vm_snapshot_free(&snap);
	if (ret)
		ckpt_probe_free(r);
	return ret;
}

void ckpt_probe_free(struct ckpt_probe_result *r)
{
	free(r->epoch);
	free(r->one_phase);
	r->epoch = r->one_phase = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct summary {
	uint64_t median, p90, max;
};

/* Median, p90 and max of one field over n epochs. */
static struct summary summarize(const struct ckpt_probe_epoch *e, unsigned n,
				size_t field)
{
	struct summary s = {0, 0, 0};
	uint64_t *sorted = n ? malloc(n * sizeof(uint64_t)) : NULL;

	if (!sorted)
		return s;
	for (unsigned i = 0; i < n; i++)
		memcpy(&sorted[i], (const uint8_t *)&e[i] + field,
		       sizeof(uint64_t));
	qsort(sorted, n, sizeof(uint64_t), cmp_u64);
	s.median = sorted[n / 2];
	s.p90 = sorted[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1];
	s.max = sorted[n - 1];
	free(sorted);
	return s;
}

#define SUMMARY(e, n, f) summarize(e, n, offsetof(struct ckpt_probe_epoch, f))

/* A summary as a section {median, p90, max}: counts, or ns shown in us. */
static void report_summary(struct report *rep, const char *key,
			   const char *title, struct summary s)
{
	report_open(rep, key, title);
	report_u64(rep, "median", NULL, s.median);
	report_u64(rep, "p90", NULL, s.p90);
	report_u64(rep, "max", NULL, s.max);
	report_close(rep);
}

static void report_summary_us(struct report *rep, const char *key,
			      const char *title, struct summary s)
{
	report_open(rep, key, title);
	report_f(rep, "median", NULL, 1, (double)s.median / 1e3, "us");
	report_f(rep, "p90", NULL, 1, (double)s.p90 / 1e3, "us");
	report_f(rep, "max", NULL, 1, (double)s.max / 1e3, "us");
	report_close(rep);
}

/* The one-phase comparison (null without one). */
static void report_one_phase(const struct ckpt_probe_result *res,
			     struct report *rep)
{
	const struct ckpt_probe_epoch *o = res->one_phase;
	unsigned n = res->epochs;

	if (!o) {
		report_str_or_null(rep, "one_phase", "one-phase comparison",
				   NULL);
		return;
	}
	report_open(rep, "one_phase", "one-phase, same run (interleaved)");
	report_u64(rep, "epochs", NULL, n);
	report_summary(rep, "pages", "dirty pages/epoch", SUMMARY(o, n, pages));
	report_summary_us(rep, "pause_us", "pause", SUMMARY(o, n, pause_ns));
	report_f(rep, "copy_us_median", "copy (median)", 1,
		 (double)SUMMARY(o, n, copy_ns).median / 1e3, "us");
	report_summary_us(rep, "stopped_us", "stopped (with kick)",
			  SUMMARY(o, n, stopped_ns));
	report_close(rep);
}

void ckpt_probe_report(const struct ckpt_probe_result *res, struct report *rep)
{
	const struct ckpt_probe_epoch *e = res->epoch;
	unsigned n = res->epochs;
	struct summary early = SUMMARY(e, n, early_ns);
	double ratio = res->encoded_bytes
			   ? (double)res->raw_bytes / (double)res->encoded_bytes
			   : 0;
	double enc_mbps = res->encode_ns ? (double)res->raw_bytes * 1e3 /
					       (double)res->encode_ns
					 : 0;
	/* The achieved collect-to-collect period, to compare with the
	 * requested interval. */
	double period_ms = res->collects > 1
			       ? (double)res->period_ns_total / 1e6 /
				     (double)(res->collects - 1)
			       : 0;

	report_u64(rep, "epochs", NULL, n);
	report_u64(rep, "interval_ms", "interval (ms)", res->interval_ms);
	report_f(rep, "period_ms", "achieved period", 2, period_ms, "ms");
	report_str(rep, "collect", NULL,
		   res->two_phase ? "two-phase" : "one-phase");
	report_str(rep, "dirty_log", "dirty log", res->dirty_log);
	report_summary(rep, "pages", "dirty pages/epoch", SUMMARY(e, n, pages));
	report_summary_us(rep, "pause_us", "pause (collect)",
			  SUMMARY(e, n, pause_ns));
	report_open(rep, "pause_breakdown_us", "pause split (medians)");
	report_f(rep, "dirty_log", "dirty log", 1,
		 (double)SUMMARY(e, n, dirty_log_ns).median / 1e3, "us");
	report_f(rep, "copy", NULL, 1,
		 (double)SUMMARY(e, n, copy_ns).median / 1e3, "us");
	report_f(rep, "vcpu_state", "vCPU state", 1,
		 (double)SUMMARY(e, n, state_ns).median / 1e3, "us");
	report_close(rep);
	report_summary(rep, "pages_in_pause", "pages copied in the pause",
		       SUMMARY(e, n, pause_pages));
	report_open(rep, "early", "early passes (guest running)");
	report_f(rep, "us_median", "median", 1, (double)early.median / 1e3,
		 "us");
	report_f(rep, "us_max", "max", 1, (double)early.max / 1e3, "us");
	report_u64(rep, "copies_median", "copies (median)",
		   SUMMARY(e, n, early_copies).median);
	report_u64(rep, "passes_median", "passes (median)",
		   SUMMARY(e, n, early_passes).median);
	report_close(rep);
	report_summary_us(rep, "stopped_us", "stopped (with kick)",
			  SUMMARY(e, n, stopped_ns));
	report_one_phase(res, rep);
	report_u64(rep, "raw_bytes", "bytes raw", res->raw_bytes);
	report_u64(rep, "encoded_bytes", "bytes encoded", res->encoded_bytes);
	report_u64(rep, "uncompressed_bytes", "bytes uncompressed",
		   res->uncompressed_bytes);
	report_f(rep, "ratio", "raw / encoded", 2, ratio, "x");
	report_u64(rep, "unchanged_pages", "unchanged pages",
		   res->unchanged_pages);
	report_f(rep, "encode_MBps", "encode speed", 1, enc_mbps, "MB/s");
}
