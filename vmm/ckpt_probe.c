/* SPDX-License-Identifier: MIT */
#include "vmm/ckpt_probe.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

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

/* The one-phase comparison, as JSON ("null" without one) or text. */
static int render_one_phase(const struct ckpt_probe_result *r, int json,
			    char *buf, size_t size)
{
	const struct ckpt_probe_epoch *o = r->one_phase;
	unsigned n = r->epochs;
	struct summary pause, pages, copy, stopped;

	if (!o)
		return json ? snprintf(buf, size, "null") : 0;
	pause = SUMMARY(o, n, pause_ns);
	pages = SUMMARY(o, n, pages);
	copy = SUMMARY(o, n, copy_ns);
	stopped = SUMMARY(o, n, stopped_ns);
	if (json)
		return snprintf(
		    buf, size,
		    "{\"epochs\":%u,\"pages\":{\"median\":%llu,\"p90\":%llu,"
		    "\"max\":%llu},\"pause_us\":{\"median\":%.1f,"
		    "\"p90\":%.1f,\"max\":%.1f},\"copy_us_median\":%.1f,"
		    "\"stopped_us\":{\"median\":%.1f,\"p90\":%.1f,"
		    "\"max\":%.1f}}",
		    n, (unsigned long long)pages.median,
		    (unsigned long long)pages.p90,
		    (unsigned long long)pages.max, pause.median / 1e3,
		    pause.p90 / 1e3, pause.max / 1e3, copy.median / 1e3,
		    stopped.median / 1e3, stopped.p90 / 1e3, stopped.max / 1e3);
	return snprintf(buf, size,
			"one-phase, same run (%u epochs interleaved):\n"
			"  pause:           median %.1f us, p90 %.1f us, max "
			"%.1f us at median %llu pages (copy %.1f us)\n"
			"  stopped:         median %.1f us, p90 %.1f us, max "
			"%.1f us\n",
			n, pause.median / 1e3, pause.p90 / 1e3, pause.max / 1e3,
			(unsigned long long)pages.median, copy.median / 1e3,
			stopped.median / 1e3, stopped.p90 / 1e3,
			stopped.max / 1e3);
}

int ckpt_probe_render(const struct ckpt_probe_result *r, int json, char *buf,
		      size_t size)
{
	const struct ckpt_probe_epoch *e = r->epoch;
	unsigned n = r->epochs;
	struct summary pause = SUMMARY(e, n, pause_ns);
	struct summary stopped = SUMMARY(e, n, stopped_ns);
	struct summary pages = SUMMARY(e, n, pages);
	struct summary dlog = SUMMARY(e, n, dirty_log_ns);
	struct summary copy = SUMMARY(e, n, copy_ns);
	struct summary state = SUMMARY(e, n, state_ns);
	struct summary in_pause = SUMMARY(e, n, pause_pages);
	struct summary early = SUMMARY(e, n, early_ns);
	struct summary early_copies = SUMMARY(e, n, early_copies);
	struct summary passes = SUMMARY(e, n, early_passes);
	const char *collect = r->two_phase ? "two-phase" : "one-phase";
	char cmp[512];
	double ratio = r->encoded_bytes
			   ? (double)r->raw_bytes / (double)r->encoded_bytes
			   : 0;
	double enc_mbps =
	    r->encode_ns ? (double)r->raw_bytes * 1e3 / (double)r->encode_ns
			 : 0;

	/* The achieved collect-to-collect period, to compare with the
	 * requested interval. */
	double period_ms = r->collects > 1 ? (double)r->period_ns_total / 1e6 /
						 (double)(r->collects - 1)
					   : 0;

	render_one_phase(r, json, cmp, sizeof(cmp));
	if (json)
		return snprintf(
		    buf, size,
		    "{\"epochs\":%u,\"interval_ms\":%u,"
		    "\"collect\":\"%s\",\"dirty_log\":\"%s\","
		    "\"pages\":{\"median\":%llu,\"p90\":%llu,"
		    "\"max\":%llu},"
		    "\"pause_us\":{\"median\":%.1f,\"p90\":%.1f,"
		    "\"max\":%.1f},"
		    "\"pause_breakdown_us\":{\"dirty_log\":%.1f,"
		    "\"copy\":%.1f,\"vcpu_state\":%.1f},"
		    "\"pages_in_pause\":{\"median\":%llu,\"p90\":%llu,"
		    "\"max\":%llu},"
		    "\"early\":{\"us_median\":%.1f,\"us_max\":%.1f,"
		    "\"copies_median\":%llu,\"passes_median\":%llu},"
		    "\"stopped_us\":{\"median\":%.1f,\"p90\":%.1f,"
		    "\"max\":%.1f},"
		    "\"one_phase\":%s,"
		    "\"raw_bytes\":%llu,\"encoded_bytes\":%llu,"
		    "\"uncompressed_bytes\":%llu,\"ratio\":%.2f,"
		    "\"unchanged_pages\":%llu,\"encode_MBps\":%.1f,"
		    "\"period_ms\":%.2f}\n",
		    n, r->interval_ms, collect, r->dirty_log,
		    (unsigned long long)pages.median,
		    (unsigned long long)pages.p90,
		    (unsigned long long)pages.max, pause.median / 1e3,
		    pause.p90 / 1e3, pause.max / 1e3, dlog.median / 1e3,
		    copy.median / 1e3, state.median / 1e3,
		    (unsigned long long)in_pause.median,
		    (unsigned long long)in_pause.p90,
		    (unsigned long long)in_pause.max, early.median / 1e3,
		    early.max / 1e3, (unsigned long long)early_copies.median,
		    (unsigned long long)passes.median, stopped.median / 1e3,
		    stopped.p90 / 1e3, stopped.max / 1e3, cmp,
		    (unsigned long long)r->raw_bytes,
		    (unsigned long long)r->encoded_bytes,
		    (unsigned long long)r->uncompressed_bytes, ratio,
		    (unsigned long long)r->unchanged_pages, enc_mbps,
		    period_ms);
	return snprintf(
	    buf, size,
	    "%u epochs every %u ms (achieved %.2f ms), %s collect (dirty log "
	    "%s)\n"
	    "dirty pages/epoch: median %llu, p90 %llu, max %llu\n"
	    "pause (collect):   median %.1f us, p90 %.1f us, max %.1f us\n"
	    "  median split:    dirty log %.1f us, copy %.1f us, vCPU "
	    "state %.1f us\n"
	    "  pages in pause:  median %llu, p90 %llu, max %llu\n"
	    "early passes:      median %.1f us (max %.1f), %llu page copies "
	    "in %llu passes, guest running\n"
	    "stopped (w/ kick): median %.1f us, p90 %.1f us, max %.1f us\n"
	    "%s"
	    "bytes: raw %llu, encoded %llu (%.2fx smaller), without "
	    "compression %llu\n"
	    "reported dirty but unchanged: %llu pages\n"
	    "encode speed: %.0f MB/s\n",
	    n, r->interval_ms, period_ms, collect, r->dirty_log,
	    (unsigned long long)pages.median, (unsigned long long)pages.p90,
	    (unsigned long long)pages.max, pause.median / 1e3, pause.p90 / 1e3,
	    pause.max / 1e3, dlog.median / 1e3, copy.median / 1e3,
	    state.median / 1e3, (unsigned long long)in_pause.median,
	    (unsigned long long)in_pause.p90, (unsigned long long)in_pause.max,
	    early.median / 1e3, early.max / 1e3,
	    (unsigned long long)early_copies.median,
	    (unsigned long long)passes.median, stopped.median / 1e3,
	    stopped.p90 / 1e3, stopped.max / 1e3, cmp,
	    (unsigned long long)r->raw_bytes,
	    (unsigned long long)r->encoded_bytes, ratio,
	    (unsigned long long)r->uncompressed_bytes,
	    (unsigned long long)r->unchanged_pages, enc_mbps);
}
