/* SPDX-License-Identifier: MIT */
#include "vmm/ckpt_probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

#include "vmm/vm.h"
#include "vmm/vm_snapshot.h"

#define PAGE 4096u

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
		uint8_t *dst = base + s->pfns[i] * PAGE;
		const uint8_t *src = s->pages + i * (size_t)PAGE;

		if (memcmp(dst, src, PAGE) == 0)
			same++;
		else
			memcpy(dst, src, PAGE);
	}
	return same;
}

int ckpt_probe_run(struct vm *vm, unsigned epochs, unsigned interval_ms,
		   struct ckpt_probe_result *r)
{
	struct vm_snapshot snap;
	struct ckpt_buf buf;
	struct ckpt_encode_stats st;
	uint8_t *base = NULL;
	uint64_t next, last_start = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	if (epochs == 0 || epochs > CKPT_PROBE_MAX_EPOCHS || interval_ms == 0 ||
	    interval_ms > 10000)
		return -EINVAL;
	r->epochs = epochs;
	r->interval_ms = interval_ms;
	r->pause_ns = calloc(epochs, sizeof(uint64_t));
	r->stopped_ns = calloc(epochs, sizeof(uint64_t));
	r->pages = calloc(epochs, sizeof(uint64_t));
	r->dirty_log_ns = calloc(epochs, sizeof(uint64_t));
	r->copy_ns = calloc(epochs, sizeof(uint64_t));
	r->state_ns = calloc(epochs, sizeof(uint64_t));
	base = calloc(1, vm->mem_size);
	vm_snapshot_init(&snap);
	ckpt_buf_init(&buf);
	if (!r->pause_ns || !r->stopped_ns || !r->pages || !r->dirty_log_ns ||
	    !r->copy_ns || !r->state_ns || !base) {
		ret = -ENOMEM;
		goto out;
	}
	/* Epoch 0: the full copy a new backup would get; not measured. */
	ret = vm_call_paused(vm, collect_full, &snap);
	if (ret)
		goto out;
	apply_to_base(&snap, base);
	next = clock_mono_ns();
	for (unsigned e = 0; e < epochs; e++) {
		uint64_t t0, t1;

		next += (uint64_t)interval_ms * 1000000u;
		if (next < clock_mono_ns()) /* late: do not try to catch up */
			next = clock_mono_ns();
		clock_sleep_until(next);
		t0 = clock_mono_ns();
		if (e > 0)
			r->period_ns_total += t0 - last_start;
		last_start = t0;
		ret = vm_call_paused(vm, collect_incremental, &snap);
		if (ret)
			goto out;
		r->stopped_ns[e] = clock_mono_ns() - t0;
		r->pause_ns[e] = snap.pause_ns;
		r->pages[e] = snap.npages;
		r->dirty_log_ns[e] = snap.dirty_log_ns;
		r->copy_ns[e] = snap.copy_ns;
		r->state_ns[e] = snap.state_ns;
		snap.epoch = e + 1;
		/* Encoding runs with the guest already resumed. */
		memset(&st, 0, sizeof(st));
		ckpt_buf_reset(&buf);
		t1 = clock_mono_ns();
		ret = vm_snapshot_encode(&snap, vm->mem_size, base,
					 CKPT_COMPRESS_AUTO, &buf, &st);
		r->encode_ns += clock_mono_ns() - t1;
		if (ret)
			goto out;
		r->encoded_bytes += buf.len;
		r->raw_bytes += st.raw_bytes;
		ckpt_buf_reset(&buf);
		ret = vm_snapshot_encode(&snap, vm->mem_size, base,
					 CKPT_COMPRESS_NONE, &buf, NULL);
		if (ret)
			goto out;
		r->uncompressed_bytes += buf.len;
		r->unchanged_pages += apply_to_base(&snap, base);
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
	free(r->pause_ns);
	free(r->stopped_ns);
	free(r->pages);
	free(r->dirty_log_ns);
	free(r->copy_ns);
	free(r->state_ns);
	r->pause_ns = r->stopped_ns = r->pages = NULL;
	r->dirty_log_ns = r->copy_ns = r->state_ns = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct summary {
	uint64_t median, p90, max;
};

static struct summary summarize(const uint64_t *v, unsigned n)
{
	struct summary s = {0, 0, 0};
	uint64_t *sorted = malloc(n * sizeof(*v));

	if (!sorted || n == 0) {
		free(sorted);
		return s;
	}
	memcpy(sorted, v, n * sizeof(*v));
	qsort(sorted, n, sizeof(*v), cmp_u64);
	s.median = sorted[n / 2];
	s.p90 = sorted[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1];
	s.max = sorted[n - 1];
	free(sorted);
	return s;
}

int ckpt_probe_render(const struct ckpt_probe_result *r, int json, char *buf,
		      size_t size)
{
	struct summary pause = summarize(r->pause_ns, r->epochs);
	struct summary stopped = summarize(r->stopped_ns, r->epochs);
	struct summary pages = summarize(r->pages, r->epochs);
	struct summary dlog = summarize(r->dirty_log_ns, r->epochs);
	struct summary copy = summarize(r->copy_ns, r->epochs);
	struct summary state = summarize(r->state_ns, r->epochs);
	double ratio = r->encoded_bytes
			   ? (double)r->raw_bytes / (double)r->encoded_bytes
			   : 0;
	double enc_mbps =
	    r->encode_ns ? (double)r->raw_bytes * 1e3 / (double)r->encode_ns
			 : 0;

	/* The achieved collect-to-collect period, to compare with the
	 * requested interval. */
	double period_ms = r->epochs > 1 ? (double)r->period_ns_total / 1e6 /
					       (double)(r->epochs - 1)
					 : 0;

	if (json)
		return snprintf(
		    buf, size,
		    "{\"epochs\":%u,\"interval_ms\":%u,"
		    "\"pages\":{\"median\":%llu,\"p90\":%llu,"
		    "\"max\":%llu},"
		    "\"pause_us\":{\"median\":%.1f,\"p90\":%.1f,"
		    "\"max\":%.1f},"
		    "\"pause_breakdown_us\":{\"dirty_log\":%.1f,"
		    "\"copy\":%.1f,\"vcpu_state\":%.1f},"
		    "\"stopped_us\":{\"median\":%.1f,\"p90\":%.1f,"
		    "\"max\":%.1f},"
		    "\"raw_bytes\":%llu,\"encoded_bytes\":%llu,"
		    "\"uncompressed_bytes\":%llu,\"ratio\":%.2f,"
		    "\"unchanged_pages\":%llu,\"encode_MBps\":%.1f,"
		    "\"period_ms\":%.2f}\n",
		    r->epochs, r->interval_ms, (unsigned long long)pages.median,
		    (unsigned long long)pages.p90,
		    (unsigned long long)pages.max, pause.median / 1e3,
		    pause.p90 / 1e3, pause.max / 1e3, dlog.median / 1e3,
		    copy.median / 1e3, state.median / 1e3, stopped.median / 1e3,
		    stopped.p90 / 1e3, stopped.max / 1e3,
		    (unsigned long long)r->raw_bytes,
		    (unsigned long long)r->encoded_bytes,
		    (unsigned long long)r->uncompressed_bytes, ratio,
		    (unsigned long long)r->unchanged_pages, enc_mbps,
		    period_ms);
	return snprintf(
	    buf, size,
	    "%u epochs every %u ms (achieved %.2f ms)\n"
	    "dirty pages/epoch: median %llu, p90 %llu, max %llu\n"
	    "pause (collect):   median %.1f us, p90 %.1f us, max %.1f us\n"
	    "  median split:    dirty log %.1f us, copy %.1f us, vCPU "
	    "state %.1f us\n"
	    "stopped (w/ kick): median %.1f us, p90 %.1f us, max %.1f us\n"
	    "bytes: raw %llu, encoded %llu (%.2fx smaller), without "
	    "compression %llu\n"
	    "reported dirty but unchanged: %llu pages\n"
	    "encode speed: %.0f MB/s\n",
	    r->epochs, r->interval_ms, period_ms,
	    (unsigned long long)pages.median, (unsigned long long)pages.p90,
	    (unsigned long long)pages.max, pause.median / 1e3, pause.p90 / 1e3,
	    pause.max / 1e3, dlog.median / 1e3, copy.median / 1e3,
	    state.median / 1e3, stopped.median / 1e3, stopped.p90 / 1e3,
	    stopped.max / 1e3, (unsigned long long)r->raw_bytes,
	    (unsigned long long)r->encoded_bytes, ratio,
	    (unsigned long long)r->uncompressed_bytes,
	    (unsigned long long)r->unchanged_pages, enc_mbps);
}
